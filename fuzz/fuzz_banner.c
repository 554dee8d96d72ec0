/*
 * fuzz_banner.c: the version exchange and the plaintext handshake as the
 * connection object (sshbpp_conn.h) reads them from the wire: lines before
 * the version line (client role), the version line itself, then the peer's
 * first packets (KEXINIT and the KEX messages).
 *
 * Input: byte 0: bit 0 role (0 client, 1 server), bits 1-7 seed the input
 * chunk sizes; the rest is what the peer sends, then end of file. Our own
 * output is discarded; a client accepts any host key. Errors are
 * expected; crashes, sanitizer reports, leaks and hangs are findings.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sshbpp/sshbpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes what was fed; our output is dropped. Returns 0 while open. */
static int
run_events(sshbpp_conn *c)
{
    sshbpp_conn_event ev;
    size_t len;
    unsigned n = 0;

    while (n++ < 100000 && sshbpp_conn_next_event(c, &ev) == 0) {
        if (ev.type == SSHBPP_CONN_EV_HOSTKEY && sshbpp_conn_hostkey_verdict(c, 1) != 0)
            break;
        /* A decoded message can never be empty: the type byte is there. */
        if (ev.type == SSHBPP_CONN_EV_MESSAGE && ev.len == 0)
            abort();
    }
    while (sshbpp_conn_tx_data(c, &len) != NULL && len > 0)
        sshbpp_conn_tx_consume(c, len);
    return sshbpp_conn_error(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_conn_config cfg;
    sshbpp_conn *c;
    enum sshbpp_role role;
    size_t off = 1, n;
    uint32_t lcg;
    int64_t now = 0;

    if (size < 1)
        return 0;
    role = (data[0] & 1) ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT;
    lcg = data[0] >> 1;
    sshbpp_conn_config_init(&cfg, role);
    cfg.software_version = "fuzz";
    if ((c = sshbpp_conn_new(&cfg)) == NULL)
        return 0;
    if ((role == SSHBPP_ROLE_SERVER && sshbpp_conn_generate_hostkey(c, "ssh-ed25519") != 0) ||
        sshbpp_conn_start(c, now) != 0)
        goto out;
    while (off < size) {
        lcg = lcg * 1103515245u + 12345u;
        n = 1 + (lcg >> 16) % 300;
        if (n > size - off)
            n = size - off;
        if (sshbpp_conn_feed(c, data + off, n, ++now) != 0)
            break;
        off += n;
        if (run_events(c) != 0)
            break;
    }
    (void)sshbpp_conn_rx_eof(c, ++now);
    (void)run_events(c);
out:
    sshbpp_conn_free(c);
    return 0;
}
