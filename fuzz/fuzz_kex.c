/*
 * fuzz_kex.c: the key exchange state machine, in either role, fed a peer's
 * messages after a valid version exchange (sans-I/O: sshbpp_kex_input).
 *
 * Input: byte 0: bit 0 role (0 client, 1 server), bit 1 start our exchange
 * first, bits 2-4 the server's host key type; then messages as [u16
 * big-endian length][payload] with sequence numbers 0, 1, ... Covers the
 * peer's KEXINIT (name-list bounds, negotiation, first_kex_packet_follows),
 * every KEX init/reply form, NEWKEYS ordering, strict KEX, DISCONNECT,
 * UNIMPLEMENTED and what may arrive when. Errors are expected; crashes,
 * sanitizer reports, leaks and hangs are findings.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sshbpp/sshbpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
t_send(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}
static int
t_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    (void)ctx;
    (void)dir;
    (void)k;
    return 0;
}
static int
t_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    (void)ctx;
    (void)dir;
    (void)name;
    return 0;
}
static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    (void)ctx;
    (void)dir;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sshbpp_kex_transport t = {t_send, t_keys, t_comp, t_reset};
    static const char *const hk[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                     "ecdsa-sha2-nistp521"};
    sshbpp_kex *k;
    sshbpp_packet pkt;
    size_t off = 1, n;
    uint32_t seq = 0;
    int role, r = 0;

    if (size < 1)
        return 0;
    role = (data[0] & 1) ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT;
    if ((k = sshbpp_kex_new(role, &(sshbpp_kex_config){0}, &t, NULL)) == NULL)
        return 0;
    if (sshbpp_kex_set_versions(k, "SSH-2.0-OpenSSH_9.2p1", "SSH-2.0-sshbpp_fuzz") != 0)
        goto out;
    if (role == SSHBPP_ROLE_SERVER &&
        sshbpp_kex_generate_hostkey(k, hk[(data[0] >> 2) % 4]) != 0)
        goto out;
    if ((data[0] & 2) && sshbpp_kex_start(k) != 0)
        goto out;
    while (off + 2 <= size && r >= 0) {
        n = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        if (n == 0)
            break;
        pkt.payload = data + off;
        pkt.len = n;
        pkt.type = data[off];
        pkt.seqno = seq++;
        r = sshbpp_kex_input(k, &pkt);
        off += n;
    }
out:
    sshbpp_kex_free(k);
    return 0;
}
