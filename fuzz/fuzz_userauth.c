/*
 * fuzz_userauth.c: what a client parses after the key exchange: the
 * server's EXT_INFO (RFC 8308), SERVICE_ACCEPT, and the USERAUTH replies
 * (BANNER, FAILURE with its name-list, SUCCESS, anything unexpected).
 *
 * A real in-process server (engine + sshbpp_kex, sans-I/O) completes the
 * handshake with the client session over Packetizer callbacks, so the
 * fuzzed messages arrive encrypted and authenticated under the session's
 * keys, as from a hostile but authenticated-by-host-key server.
 *
 * Input: byte 0: bit 0 send SERVICE_REQUEST first, bit 1 read on with
 * sshbpp_session_recv after the auth answer; then the server's messages as
 * [u16 big-endian length][payload], sent after the handshake.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sshbpp/sshbpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct srv {
    sshbpp_engine *e;
    sshbpp_kex *k;
    int have_version, failed;
    const uint8_t *fz;
    size_t fzlen, fzoff;
};

static int
s_send(void *ctx, const uint8_t *p, size_t n)
{
    struct srv *s = ctx;
    return sshbpp_engine_send(s->e, p, n);
}
static int
s_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    struct srv *s = ctx;
    return sshbpp_engine_set_keys(s->e, dir, k);
}
static int
s_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    struct srv *s = ctx;
    return sshbpp_engine_set_compression(s->e, dir, name);
}
static void
s_reset(void *ctx, enum sshbpp_dir dir)
{
    struct srv *s = ctx;
    sshbpp_engine_reset_seqno(s->e, dir);
}

/* The client wrote: the server reads and runs its side of the exchange. */
static long
c_write(void *ctx, const void *buf, size_t len)
{
    struct srv *s = ctx;
    sshbpp_packet pkt;
    char line[256];
    size_t n;
    int r;

    if (s->failed)
        return (long)len; /* a server that gave up just reads and drops */
    if (sshbpp_engine_feed(s->e, buf, len) != 0) {
        s->failed = 1;
        return (long)len;
    }
    if (!s->have_version) {
        r = sshbpp_engine_rx_line(s->e, line, sizeof(line), &n);
        if (r == SSHBPP_EAGAIN)
            return (long)len;
        if (r != 0 || sshbpp_kex_set_versions(s->k, line, "SSH-2.0-fuzzsrv") != 0) {
            s->failed = 1;
            return (long)len;
        }
        s->have_version = 1;
    }
    while ((r = sshbpp_engine_rx_next(s->e, &pkt)) == 0)
        if (sshbpp_kex_input(s->k, &pkt) < 0) {
            s->failed = 1;
            break;
        }
    return (long)len;
}

/* The client reads: the server's output, then (once the exchange is done)
 * the fuzzed messages one by one, then end of file. */
static long
c_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    struct srv *s = ctx;
    const uint8_t *d;
    size_t n;

    (void)timeout_ms;
    d = sshbpp_engine_tx_data(s->e, &n);
    if (n == 0 && !s->failed && sshbpp_kex_completed(s->k) >= 1 && s->fzoff + 2 <= s->fzlen) {
        size_t m = (size_t)s->fz[s->fzoff] << 8 | s->fz[s->fzoff + 1];
        s->fzoff += 2;
        if (m > s->fzlen - s->fzoff)
            m = s->fzlen - s->fzoff;
        if (m > 0 && sshbpp_engine_send(s->e, s->fz + s->fzoff, m) != 0)
            s->failed = 1;
        s->fzoff += m;
        d = sshbpp_engine_tx_data(s->e, &n);
    }
    if (n == 0)
        return 0;
    if (n > len)
        n = len;
    memcpy(buf, d, n);
    sshbpp_engine_tx_consume(s->e, n);
    return (long)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sshbpp_kex_transport st = {s_send, s_keys, s_comp, s_reset};
    static const sshbpp_io_callbacks cb = {c_read, c_write, NULL};
    struct srv s;
    sshbpp_packetizer *p = NULL;
    sshbpp_session *c = NULL;
    sshbpp_packet pkt;
    char methods[128];
    int success = 0, i;

    if (size < 1)
        return 0;
    memset(&s, 0, sizeof(s));
    s.fz = data + 1;
    s.fzlen = size - 1;
    if ((s.e = sshbpp_engine_new()) == NULL ||
        (s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0}, &st, &s)) == NULL ||
        sshbpp_kex_generate_hostkey(s.k, "ssh-ed25519") != 0 ||
        sshbpp_engine_tx_raw(s.e, "SSH-2.0-fuzzsrv\r\n", 17) != 0)
        goto out;
    if ((p = sshbpp_packetizer_new_cb(&cb, &s)) == NULL ||
        (c = sshbpp_session_new(p, SSHBPP_ROLE_CLIENT, NULL, "fuzz")) == NULL)
        goto out;
    if (sshbpp_session_handshake(c, 10000) != 0)
        goto out;
    if ((data[0] & 1) && sshbpp_session_service_request(c, "ssh-userauth") != 0)
        goto out;
    if (sshbpp_session_auth_none(c, "fuzz", methods, (data[0] & 4) ? 8 : sizeof(methods),
                                 &success) < 0)
        goto out;
    if (data[0] & 2)
        for (i = 0; i < 8 && sshbpp_session_recv(c, &pkt) == 0; i++)
            ;
out:
    sshbpp_session_free(c);
    sshbpp_packetizer_free(p);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(s.e);
    return 0;
}
