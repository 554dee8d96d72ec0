/*
 * fuzz_banner.c: the version exchange and the plaintext handshake as the
 * blocking session reads them from the wire: lines before the version line
 * (client role), the version line itself, then the peer's first packets
 * (KEXINIT and the KEX messages) through the Packetizer.
 *
 * Input: byte 0: bit 0 role (0 client, 1 server), bits 1-7 seed the read
 * sizes; the rest is what the peer sends, then end of file. Our own output
 * is discarded. Errors are expected; crashes, sanitizer reports, leaks and
 * hangs are findings.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sshbpp/sshbpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct feed {
    const uint8_t *p;
    size_t len, off;
    uint32_t lcg;
};

static long
f_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    struct feed *f = ctx;
    size_t n;

    (void)timeout_ms;
    if (f->off == f->len)
        return 0;
    f->lcg = f->lcg * 1103515245u + 12345u;
    n = 1 + (f->lcg >> 16) % 300;
    if (n > len)
        n = len;
    if (n > f->len - f->off)
        n = f->len - f->off;
    memcpy(buf, f->p + f->off, n);
    f->off += n;
    return (long)n;
}

static long
f_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (long)len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sshbpp_io_callbacks cb = {f_read, f_write, NULL};
    struct feed f;
    sshbpp_packetizer *p;
    sshbpp_session *s;
    int role;

    if (size < 1)
        return 0;
    role = (data[0] & 1) ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT;
    f.p = data + 1;
    f.len = size - 1;
    f.off = 0;
    f.lcg = data[0] >> 1;
    if ((p = sshbpp_packetizer_new_cb(&cb, &f)) == NULL)
        return 0;
    if ((s = sshbpp_session_new(p, role, NULL, "fuzz")) == NULL) {
        sshbpp_packetizer_free(p);
        return 0;
    }
    if (role == SSHBPP_ROLE_SERVER &&
        sshbpp_kex_generate_hostkey(sshbpp_session_kex(s), "ssh-ed25519") != 0)
        goto out;
    /* A server can finish (the client's NEWKEYS needs no secret); then
     * one more read meets the end of the input. */
    if (sshbpp_session_handshake(s, 10000) == 0) {
        sshbpp_packet pkt;
        if (sshbpp_session_recv(s, &pkt) == 0 && pkt.len == 0)
            abort();
    }
out:
    sshbpp_session_free(s);
    sshbpp_packetizer_free(p);
    return 0;
}
