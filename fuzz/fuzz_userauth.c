/*
 * fuzz_userauth.c: what a client parses after the key exchange: the
 * server's EXT_INFO (RFC 8308), SERVICE_ACCEPT, and the USERAUTH replies
 * (BANNER, FAILURE with its name-list, SUCCESS, INFO_REQUEST, anything
 * unexpected), on the connection object (sshbpp_conn.h).
 *
 * A real in-process server conn completes the handshake with the client
 * conn in memory, so the fuzzed messages arrive encrypted and
 * authenticated under the connection's keys, as from a hostile but
 * authenticated-by-host-key server. After the handshake the client's
 * output is dropped and the fuzzed messages go out of the server's engine
 * directly: the server's own conn never answers.
 *
 * Input: byte 0: bits 0 and 2 pick the client's request (0: "none",
 * 1: "password", 4 or 5: keyboard-interactive, prompts answered empty),
 * bit 1 sends the request only after the first fuzzed message; then the
 * server's messages as [u16 big-endian length][payload], sent after the
 * handshake.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sshbpp/sshbpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUNDS 10000

/* Runs the client's events: accept the host key, answer prompts empty. */
static void
client_events(sshbpp_conn *c)
{
    static const char *const empty[SSHBPP_CONN_MAX_PROMPTS] = {
        "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""};
    sshbpp_conn_event ev;
    unsigned n = 0;

    while (n++ < MAX_ROUNDS && sshbpp_conn_next_event(c, &ev) == 0) {
        if (ev.type == SSHBPP_CONN_EV_HOSTKEY && sshbpp_conn_hostkey_verdict(c, 1) != 0)
            return;
        if (ev.type == SSHBPP_CONN_EV_AUTH_PROMPT &&
            sshbpp_conn_auth_kbdint_answer(c, ev.nprompts, empty) != 0)
            return;
    }
}

static void
server_events(sshbpp_conn *s)
{
    sshbpp_conn_event ev;
    unsigned n = 0;

    while (n++ < MAX_ROUNDS && sshbpp_conn_next_event(s, &ev) == 0)
        ;
}

/* Moves everything a has to send into b (or drops it if b is NULL). */
static size_t
move(sshbpp_conn *a, sshbpp_conn *b)
{
    const uint8_t *p;
    size_t len, moved = 0;

    while ((p = sshbpp_conn_tx_data(a, &len)) != NULL && len > 0) {
        if (b != NULL && sshbpp_conn_feed(b, p, len, 0) != 0) {
            /* b failed: its error is sticky, nothing more to do */
        }
        sshbpp_conn_tx_consume(a, len);
        moved += len;
    }
    return moved;
}

static int
start_auth(sshbpp_conn *c, uint8_t flags)
{
    if (flags & 4)
        return sshbpp_conn_auth_kbdint(c, "fuzz", NULL, NULL);
    if (flags & 1)
        return sshbpp_conn_auth_password(c, "fuzz", "pw");
    return sshbpp_conn_auth_none(c, "fuzz");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_conn_config ccfg, scfg;
    sshbpp_conn *c = NULL, *s = NULL;
    size_t off = 1, m;
    unsigned rounds = 0, sent = 0;
    int started = 0;

    if (size < 1)
        return 0;
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    ccfg.software_version = "fuzz";
    scfg.software_version = "fuzzsrv";
    if ((c = sshbpp_conn_new(&ccfg)) == NULL || (s = sshbpp_conn_new(&scfg)) == NULL ||
        sshbpp_conn_generate_hostkey(s, "ssh-ed25519") != 0 || sshbpp_conn_start(c, 0) != 0 ||
        sshbpp_conn_start(s, 0) != 0)
        goto out;
    /* the handshake */
    while (!sshbpp_conn_handshake_done(c) && rounds++ < MAX_ROUNDS) {
        size_t moved = move(c, s);

        server_events(s);
        moved += move(s, c);
        client_events(c);
        if (moved == 0 || sshbpp_conn_error(c) != 0 || sshbpp_conn_error(s) != 0)
            break;
    }
    if (!sshbpp_conn_handshake_done(c) || sshbpp_conn_error(c) != 0)
        goto out;
    move(s, c); /* the server's EXT_INFO, if any */
    client_events(c);
    if (!(data[0] & 2)) {
        if (start_auth(c, data[0]) != 0)
            goto out;
        started = 1;
    }
    while (off + 2 <= size && sshbpp_conn_error(c) == 0) {
        m = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (m > size - off)
            m = size - off;
        if (m > 0 && sshbpp_engine_send(sshbpp_conn_engine(s), data + off, m) != 0)
            break;
        off += m;
        move(c, NULL); /* the server's conn never answers: the input does */
        move(s, c);
        client_events(c);
        if (!started && ++sent == 1) {
            if (start_auth(c, data[0]) != 0 && sshbpp_conn_error(c) == 0) {
                /* refused in this state (already authenticated, ...): read on */
            }
            started = 1;
        }
    }
out:
    sshbpp_conn_free(c);
    sshbpp_conn_free(s);
    return 0;
}
