/*
 * test_cov_conn.c: the connection object's contract and its transport
 * policy against a hostile peer (sshbpp_conn.h): configuration checks,
 * every call with NULL and in the wrong state, the version exchange's
 * bounds, DISCONNECT in every shape, messages before NEWKEYS, unknown
 * transport types, the bounded queue during an exchange, global request
 * reply tracking with keepalives, the deadlines, and input through
 * rx_space()/rx_commit(). Messages of the peer are built by hand and sent
 * straight through its engine; each refusal asserts the precise code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_conn.h"
#include "conn_rig.h"

void sshbpp__kex_test_no_strict(sshbpp_kex *k);
sshbpp_kex *sshbpp__conn_kex(sshbpp_conn *c);

/* ---- helpers --------------------------------------------------------------- */

static enum sshbpp_auth_decision
accept_all(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    (void)methods;
    return strcmp(a->method, "password") == 0 ? SSHBPP_AUTH_ACCEPT : SSHBPP_AUTH_REJECT;
}

/* Sends len bytes from `from`'s engine (past its conn) and moves them into
 * `to`, draining to's events. */
static void
inject(cr_rig *r, cr_side *from, cr_side *to, const void *p, size_t len)
{
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(from->c), p, len), 0);
    (void)cr_rig_move(r, from, to);
}

static void
login(cr_rig *r)
{
    assert_int_equal(sshbpp_conn_auth_password(r->c.c, "alice", "pw"), 0);
    cr_rig_pump(r);
    assert_true(sshbpp_conn_authenticated(r->c.c));
    assert_true(sshbpp_conn_authenticated(r->s.c));
}

static sshbpp_conn *
new_conn(enum sshbpp_role role)
{
    sshbpp_conn_config cfg;
    sshbpp_conn *c;

    sshbpp_conn_config_init(&cfg, role);
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    return c;
}

/* The next event must be ERROR with err, and the call after it err. */
static void
expect_error_event(sshbpp_conn *c, int err)
{
    sshbpp_conn_event ev;

    for (;;) {
        assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
        if (ev.type == SSHBPP_CONN_EV_ERROR)
            break;
        assert_true(ev.type == SSHBPP_CONN_EV_VERSION); /* the only one before */
    }
    assert_int_equal(ev.error, err);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), err);
    assert_int_equal(sshbpp_conn_error(c), err);
}

/* ---- configuration and lifecycle -------------------------------------------- */

static void
test_config_validation(void **state)
{
    char longsw[300];
    sshbpp_conn_config cfg;
    sshbpp_conn *c;

    (void)state;
    sshbpp_conn_config_init(NULL, SSHBPP_ROLE_CLIENT); /* a no-op */
    assert_null(sshbpp_conn_new(NULL));
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.role = (enum sshbpp_role)7;
    assert_null(sshbpp_conn_new(&cfg));
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.software_version = "";
    assert_null(sshbpp_conn_new(&cfg));
    cfg.software_version = "bad\x01name";
    assert_null(sshbpp_conn_new(&cfg));
    cfg.software_version = "caf\xc3\xa9"; /* not ASCII */
    assert_null(sshbpp_conn_new(&cfg));
    cfg.software_version = " lead";
    assert_null(sshbpp_conn_new(&cfg));
    memset(longsw, 'v', sizeof(longsw) - 1);
    longsw[sizeof(longsw) - 1] = '\0';
    cfg.software_version = longsw;
    assert_null(sshbpp_conn_new(&cfg));
    longsw[245] = '\0'; /* "SSH-2.0-" + 245 + CR LF = 255: the bound */
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    sshbpp_conn_free(c);
    longsw[245] = 'v';
    longsw[246] = '\0';
    assert_null(sshbpp_conn_new(&cfg));
    cfg.software_version = "mine 1.0 (comment)";
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    sshbpp_conn_free(c);
    cfg.software_version = NULL;
    cfg.pubkey_algs = "ssh-ed25519,no-such-alg";
    assert_null(sshbpp_conn_new(&cfg));
    cfg.pubkey_algs = "-ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                      "rsa-sha2-512,rsa-sha2-256"; /* nothing left */
    assert_null(sshbpp_conn_new(&cfg));
    sshbpp_conn_free(NULL);
}

static void
test_setup_calls_and_start(void **state)
{
    sshbpp_conn *c = new_conn(SSHBPP_ROLE_SERVER);
    size_t len;

    (void)state;
    assert_int_equal(sshbpp_conn_add_hostkey_file(NULL, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_set_moduli(NULL, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_generate_hostkey(NULL, "ssh-ed25519"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_generate_hostkey(c, "ssh-ed25519"), 0);
    /* files that are not there: the kex's loader's error, nothing kept */
    assert_int_equal(sshbpp_conn_add_hostkey_file(c, "/nonexistent/key"), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_set_moduli(c, "/nonexistent/moduli"), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_error(c), 0);
    assert_int_equal(sshbpp_conn_start(NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_tick(c, 5), 0); /* not started: nothing due */
    assert_int_equal(sshbpp_conn_start(c, 10), 0);
    assert_non_null(sshbpp_conn_tx_data(c, &len));
    assert_true(len > 8);
    assert_int_equal(sshbpp_conn_start(c, 10), SSHBPP_ESTATE);
    /* the host keys and groups are fixed once started */
    assert_int_equal(sshbpp_conn_add_hostkey_file(c, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_set_moduli(c, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_generate_hostkey(c, "ssh-ed25519"), SSHBPP_EINVAL);
    sshbpp_conn_free(c);

    /* a start after a failure: the sticky error */
    c = new_conn(SSHBPP_ROLE_CLIENT);
    assert_int_equal(sshbpp_conn_fail(c, SSHBPP_EIO), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_start(c, 0), SSHBPP_EIO);
    assert_null(sshbpp_conn_tx_data(c, &len));
    assert_int_equal(len, 0);
    sshbpp_conn_free(c);
}

static void
test_null_and_getters(void **state)
{
    sshbpp_conn_event ev;
    sshbpp_kex_info info;
    size_t len = 99, room = 99;
    uint32_t reason = 0;
    sshbpp_conn *c;

    (void)state;
    assert_null(sshbpp_conn_rx_space(NULL, &room));
    assert_int_equal(room, 0);
    assert_int_equal(sshbpp_conn_rx_commit(NULL, 1, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_feed(NULL, "x", 1, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_rx_eof(NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_fail(NULL, SSHBPP_EIO), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_tick(NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_next_deadline(NULL), -1);
    assert_null(sshbpp_conn_tx_data(NULL, &len));
    assert_int_equal(len, 0);
    assert_null(sshbpp_conn_tx_data(NULL, NULL));
    sshbpp_conn_tx_consume(NULL, 5);
    assert_int_equal(sshbpp_conn_next_event(NULL, &ev), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_hostkey_verdict(NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_error(NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_handshake_done(NULL), 0);
    assert_int_equal(sshbpp_conn_authenticated(NULL), 0);
    assert_int_equal(sshbpp_conn_kex_running(NULL), 0);
    assert_int_equal(sshbpp_conn_kex_count(NULL), 0);
    assert_int_equal(sshbpp_conn_queued(NULL), 0);
    assert_null(sshbpp_conn_peer_version(NULL));
    assert_int_equal(sshbpp_conn_get_info(NULL, &info), SSHBPP_EINVAL);
    assert_null(sshbpp_conn_server_sig_algs(NULL));
    assert_null(sshbpp_conn_peer_kexinit_list(NULL, SSHBPP_KEXINIT_KEX));
    assert_null(sshbpp_conn_auth_banner(NULL));
    len = 99;
    assert_null(sshbpp_conn_session_id(NULL, &len));
    assert_int_equal(len, 0);
    assert_null(sshbpp_conn_session_id(NULL, NULL));
    assert_null(sshbpp_conn_disconnect_reason(NULL, &reason));
    assert_null(sshbpp_conn_engine(NULL));
    assert_int_equal(sshbpp_conn_send(NULL, "\x80", 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_global_request(NULL, "x", 0, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_rekey(NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_disconnect(NULL, 11, "x"), SSHBPP_EINVAL);

    c = new_conn(SSHBPP_ROLE_CLIENT);
    assert_int_equal(sshbpp_conn_next_event(c, NULL), SSHBPP_EINVAL);
    assert_null(sshbpp_conn_rx_space(c, NULL));
    assert_null(sshbpp_conn_peer_kexinit_list(c, (enum sshbpp_kexinit_list)-1));
    assert_null(sshbpp_conn_peer_kexinit_list(c, SSHBPP_KEXINIT_NLISTS));
    assert_null(sshbpp_conn_peer_version(c));
    assert_int_equal(sshbpp_conn_hostkey_verdict(c, 1), SSHBPP_ESTATE); /* none waiting */
    assert_int_equal(sshbpp_conn_feed(c, NULL, 1, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_feed(c, NULL, 0, 0), 0);
    /* not started: nothing happens, nothing is due */
    assert_int_equal(sshbpp_conn_next_event(c, &ev), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_next_deadline(c), -1);
    /* a soft code given to fail() is recorded as a protocol violation */
    assert_int_equal(sshbpp_conn_fail(c, SSHBPP_EAGAIN), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_conn_fail(c, SSHBPP_EIO), SSHBPP_EPROTO); /* the first stays */
    assert_int_equal(sshbpp_conn_hostkey_verdict(c, 1), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_conn_tick(c, 1), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_conn_rx_commit(c, 0, 1), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_conn_feed(c, "x", 1, 1), SSHBPP_EPROTO);
    assert_null(sshbpp_conn_rx_space(c, &room));
    assert_int_equal(room, 0);
    assert_int_equal(sshbpp_conn_rx_eof(c, 2), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_conn_disconnect(c, 11, "x"), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_conn_rekey(c), SSHBPP_EPROTO);
    expect_error_event(c, SSHBPP_EPROTO);
    sshbpp_conn_free(c);
}

/* Moves a's output into b through b's rx_space()/rx_commit() in pieces of
 * at most `piece` bytes, draining b after each. */
static size_t
move_rx(cr_rig *r, cr_side *a, cr_side *b, size_t piece)
{
    const uint8_t *p;
    size_t len, moved = 0;

    while ((p = sshbpp_conn_tx_data(a->c, &len)) != NULL && len > 0) {
        size_t room = 0, n;
        uint8_t *dst = sshbpp_conn_rx_space(b->c, &room);

        assert_non_null(dst);
        assert_true(room > 0);
        n = len < room ? len : room;
        if (n > piece)
            n = piece;
        memcpy(dst, p, n);
        assert_int_equal(sshbpp_conn_rx_commit(b->c, n, r->now), 0);
        sshbpp_conn_tx_consume(a->c, n);
        moved += n;
        cr_drain_events(b);
    }
    return moved;
}

static void
test_rx_space_commit_handshake(void **state)
{
    cr_rig r;
    size_t room;
    unsigned rounds = 0;

    (void)state;
    cr_rig_init(&r, NULL, NULL, accept_all, NULL);
    cr_rig_start(&r);
    while (move_rx(&r, &r.c, &r.s, 700) + move_rx(&r, &r.s, &r.c, 333) > 0)
        assert_true(++rounds < 1000);
    assert_true(sshbpp_conn_handshake_done(r.c.c));
    assert_true(sshbpp_conn_handshake_done(r.s.c));
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HANDSHAKE_DONE], 1);
    assert_int_equal(sshbpp_conn_rx_commit(r.c.c, 0, r.now + 1), 0);
    /* after the peer's EOF, no more room */
    assert_int_equal(sshbpp_conn_rx_eof(r.c.c, r.now + 2), 0);
    assert_null(sshbpp_conn_rx_space(r.c.c, &room));
    assert_int_equal(room, 0);
    expect_error_event(r.c.c, SSHBPP_EEOF);
    cr_rig_free(&r);
}

/* ---- the version exchange ---------------------------------------------------- */

static void
version_case(enum sshbpp_role role, const char *input, size_t len, int err)
{
    sshbpp_conn *c = new_conn(role);

    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, input, len, 1), 0);
    expect_error_event(c, err);
    assert_null(sshbpp_conn_peer_version(c));
    sshbpp_conn_free(c);
}

static void
test_version_bounds(void **state)
{
    static char buf[16384];
    sshbpp_conn_event ev;
    sshbpp_conn *c;
    size_t i, n;

    (void)state;
    /* a client must not send lines before its version */
    version_case(SSHBPP_ROLE_SERVER, "hello\r\nSSH-2.0-x\r\n", 18, SSHBPP_EBANNER);
    /* a server may, within bounds: 1024 lines */
    for (n = 0, i = 0; i < 1025; i++) {
        memcpy(buf + n, "l\r\n", 3);
        n += 3;
    }
    version_case(SSHBPP_ROLE_CLIENT, buf, n, SSHBPP_EBANNER);
    /* ... and 8192 bytes */
    memset(buf, 'm', 100 * 90);
    for (i = 0; i < 90; i++)
        memcpy(buf + i * 100 + 98, "\r\n", 2);
    version_case(SSHBPP_ROLE_CLIENT, buf, 100 * 90, SSHBPP_EBANNER);
    /* one line longer than the line buffer */
    memset(buf, 'q', 9000);
    memcpy(buf + 9000, "\r\n", 2);
    version_case(SSHBPP_ROLE_CLIENT, buf, 9002, SSHBPP_EBANNER);
    /* version lines */
    version_case(SSHBPP_ROLE_CLIENT, "SSH-1.5-old\r\n", 13, SSHBPP_EVERSION);
    version_case(SSHBPP_ROLE_CLIENT, "SSH-2.0-\r\n", 10, SSHBPP_EBANNER);
    version_case(SSHBPP_ROLE_CLIENT, "SSH-2.0- sp\r\n", 13, SSHBPP_EBANNER);
    version_case(SSHBPP_ROLE_CLIENT, "SSH-2.0-a\x01z\r\n", 13, SSHBPP_EBANNER);
    version_case(SSHBPP_ROLE_CLIENT, "SSH-2.0-a\xffz\r\n", 13, SSHBPP_EBANNER);
    memcpy(buf, "SSH-2.0-", 8);
    memset(buf + 8, 'w', 246); /* 254 + CR LF: one over */
    memcpy(buf + 254, "\r\n", 2);
    version_case(SSHBPP_ROLE_CLIENT, buf, 256, SSHBPP_EBANNER);
    /* the peer closes before its version: in the middle of the line, or
     * with nothing buffered */
    c = new_conn(SSHBPP_ROLE_CLIENT);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, "SSH-2.0", 7, 1), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_rx_eof(c, 2), 0);
    expect_error_event(c, SSHBPP_EEOFPKT);
    sshbpp_conn_free(c);
    c = new_conn(SSHBPP_ROLE_CLIENT);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, "x\r\n", 3, 1), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_rx_eof(c, 2), 0);
    expect_error_event(c, SSHBPP_EEOF);
    sshbpp_conn_free(c);
    /* 1.99 is 2.0 (RFC 4253 5.1), after the lines a server may send */
    c = new_conn(SSHBPP_ROLE_CLIENT);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, "hi\r\nSSH-1.99-Old_9\r\n", 20, 1), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_VERSION);
    assert_string_equal(ev.text, "SSH-1.99-Old_9");
    assert_string_equal(sshbpp_conn_peer_version(c), "SSH-1.99-Old_9");
    assert_int_equal(sshbpp_conn_error(c), 0);
    sshbpp_conn_free(c);
}

/* ---- DISCONNECT --------------------------------------------------------------------- */

static void
disconnect_case(const uint8_t *msg, size_t len, uint32_t want_reason, const char *want_text)
{
    uint32_t reason = 99;
    const char *text;
    cr_rig r;

    cr_rig_init(&r, NULL, NULL, accept_all, NULL);
    cr_rig_handshake(&r);
    assert_null(sshbpp_conn_disconnect_reason(r.c.c, &reason));
    inject(&r, &r.s, &r.c, msg, len);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_DISCONNECT], 1);
    assert_int_equal(r.c.disc_code, want_reason);
    /* the rig's record keeps 255 bytes of it */
    assert_int_equal(strncmp(r.c.disc_text, want_text, sizeof(r.c.disc_text) - 1), 0);
    assert_int_equal(r.c.error, SSHBPP_EDISCONNECT);
    text = sshbpp_conn_disconnect_reason(r.c.c, &reason);
    assert_non_null(text);
    assert_int_equal(reason, want_reason);
    assert_string_equal(text, want_text);
    assert_non_null(sshbpp_conn_disconnect_reason(r.c.c, NULL));
    cr_rig_free(&r);
}

static void
test_disconnect_shapes(void **state)
{
    static const uint8_t bare[] = {1};
    static const uint8_t short_reason[] = {1, 0, 0};
    static const uint8_t cut_text[] = {1, 0, 0, 0, 7, 0, 0, 0, 9, 'a', 'b'};
    static const uint8_t no_lang[] = {1, 0, 0, 0, 2, 0, 0, 0, 5, 'b', '\t', 'e', 0x1b, 0x7f};
    static uint8_t big[5 + 4 + 2000];
    char want[1024];

    (void)state;
    /* what is there is taken, however little */
    disconnect_case(bare, sizeof(bare), 0, "");
    disconnect_case(short_reason, sizeof(short_reason), 0, "");
    disconnect_case(cut_text, sizeof(cut_text), 7, "");
    disconnect_case(no_lang, sizeof(no_lang), 2, "b\te??"); /* tab kept, ESC, DEL not */
    /* a long text is cut to the bound */
    big[0] = 1;
    big[4] = 3;
    big[5] = 0;
    big[6] = 0;
    big[7] = 2000 >> 8;
    big[8] = 2000 & 0xff;
    memset(big + 9, 't', 2000);
    memset(want, 't', sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    disconnect_case(big, sizeof(big), 3, want);
}

/* ---- transport message policy ---------------------------------------------------------- */

static void
test_unknown_and_dropped_transport_types(void **state)
{
    static const uint8_t ext_info[] = {7, 0, 0, 0, 0};
    static const uint8_t t8[] = {8, 1};
    static const uint8_t t25[] = {25};
    static const uint8_t dbg[] = {4, 1, 0, 0, 0, 1, 'd', 0, 0, 0, 0};
    static const uint8_t ign[] = {2, 0, 0, 0, 0};
    static const uint8_t unasked_reply[] = {81};
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, accept_all, NULL);
    cr_rig_handshake(&r);
    login(&r);
    /* EXT_INFO to a server (it offered no ext-info-s): dropped */
    inject(&r, &r.c, &r.s, ext_info, sizeof(ext_info));
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(r.s.nmsgs, 0);
    /* unknown transport types in both holes: UNIMPLEMENTED, not the caller's */
    inject(&r, &r.s, &r.c, t8, sizeof(t8));
    inject(&r, &r.s, &r.c, t25, sizeof(t25));
    assert_int_equal(r.c.sent_types[3], 2);
    assert_int_equal(r.c.nmsgs, 0);
    /* DEBUG and IGNORE: dropped */
    inject(&r, &r.s, &r.c, dbg, sizeof(dbg));
    inject(&r, &r.s, &r.c, ign, sizeof(ign));
    assert_int_equal(r.c.nmsgs, 0);
    /* a REQUEST_SUCCESS nobody asked for: the caller's business */
    inject(&r, &r.s, &r.c, unasked_reply, sizeof(unasked_reply));
    assert_int_equal(r.c.nmsgs, 1);
    assert_int_equal(r.c.msgs[0][0], 81);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    /* the UNIMPLEMENTEDs reached the server's caller with the seqnos */
    cr_rig_pump(&r);
    assert_int_equal(r.s.nmsgs, 2);
    assert_int_equal(r.s.msgs[0][0], 3);
    assert_int_equal(r.s.msgs[1][0], 3);
    cr_rig_free(&r);
}

/* Messages of the auth and connection ranges before the first NEWKEYS. */
static void
early_case(int from_server, uint8_t type, int err)
{
    uint8_t msg[5] = {type, 0, 0, 0, 0};
    cr_rig r;
    cr_side *from, *to;

    cr_rig_init(&r, NULL, NULL, accept_all, NULL);
    /* without strict KEX such a packet reaches the dispatch */
    sshbpp__kex_test_no_strict(sshbpp__conn_kex(r.s.c));
    from = from_server ? &r.s : &r.c;
    to = from_server ? &r.c : &r.s;
    cr_rig_start(&r);
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(from->c), msg, sizeof(msg)), 0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(to->c), err);
    assert_int_equal(to->error, err);
    assert_false(sshbpp_conn_handshake_done(to->c));
    assert_int_equal(to->nmsgs, 0);
    cr_rig_free(&r);
}

static void
test_messages_before_newkeys(void **state)
{
    (void)state;
    early_case(1, 53, SSHBPP_EKEXORDER); /* a BANNER to the client */
    early_case(0, 50, SSHBPP_EKEXORDER); /* a USERAUTH_REQUEST to the server */
    early_case(0, 5, SSHBPP_EKEXORDER);  /* a SERVICE_REQUEST */
    early_case(1, 94, SSHBPP_EKEXORDER); /* channel data */
}

/* ---- sending ---------------------------------------------------------------------------- */

static void
test_send_contract(void **state)
{
    static const uint8_t types[] = {1, 5, 6, 7, 20, 21, 30, 49, 50, 60, 79};
    static const uint8_t bad_greq[] = {80, 0, 0, 0, 1, 'x'}; /* no want-reply */
    static const uint8_t bare_greq[] = {80, 0, 0};             /* no name */
    static const uint8_t dbg[] = {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t *big;
    size_t max, i;
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, accept_all, NULL);
    assert_int_equal(sshbpp_conn_rekey(r.c.c), SSHBPP_ESTATE); /* before the handshake */
    cr_rig_handshake(&r);
    login(&r);
    assert_int_equal(sshbpp_conn_send(r.c.c, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_send(r.c.c, "\x80", 0), SSHBPP_EINVAL);
    for (i = 0; i < sizeof(types); i++) {
        uint8_t m[2] = {types[i], 0};

        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), SSHBPP_EINVAL);
    }
    assert_int_equal(sshbpp_conn_send(r.c.c, bad_greq, sizeof(bad_greq)), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_send(r.c.c, bare_greq, sizeof(bare_greq)), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_global_request(r.c.c, NULL, 0, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "x", 0, NULL, 3), SSHBPP_EINVAL);
    max = sshbpp_engine_max_packet(sshbpp_conn_engine(r.c.c));
    big = calloc(1, max + 1);
    assert_non_null(big);
    big[0] = 200;
    assert_int_equal(sshbpp_conn_send(r.c.c, big, max + 1), SSHBPP_EPAYLOADLEN);
    /* a length the engine takes now, but too close to the limit to queue */
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    assert_true(sshbpp_conn_kex_running(r.c.c));
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0); /* one runs: a no-op */
    assert_int_equal(sshbpp_conn_send(r.c.c, big, max - 100), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "bulk@x", 0, big, max), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_conn_queued(r.c.c), 0);
    /* nothing of that went anywhere; the DEBUG and data below do */
    assert_int_equal(sshbpp_conn_send(r.c.c, dbg, sizeof(dbg)), 0);
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "hello@x", 0, "data", 4), 0);
    assert_int_equal(sshbpp_conn_queued(r.c.c), 2);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_kex_count(r.c.c), 2);
    assert_false(sshbpp_conn_kex_running(r.c.c));
    assert_int_equal(sshbpp_conn_queued(r.c.c), 0);
    assert_int_equal(r.s.nmsgs, 1); /* the DEBUG was dropped by the server */
    assert_int_equal(r.s.lens[0], 1 + 4 + 7 + 1 + 4);
    assert_memory_equal(r.s.msgs[0] + 13, "data", 4);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    /* after the caller's own DISCONNECT: closed, no ERROR event */
    assert_int_equal(sshbpp_conn_disconnect(r.c.c, 11, NULL), 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_conn_send(r.c.c, "\xc8", 1), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_conn_disconnect(r.c.c, 11, NULL), SSHBPP_ECLOSED);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_ERROR], 0);
    assert_int_equal(r.s.disc_code, 11);
    assert_string_equal(r.s.disc_text, "");
    free(big);
    cr_rig_free(&r);
}

static void
test_queue_bounds_during_exchange(void **state)
{
    sshbpp_conn_config scfg;
    uint8_t m[40];
    cr_rig r;
    unsigned i;

    (void)state;
    /* by count */
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.queue_max_msgs = 3;
    cr_rig_init(&r, NULL, &scfg, accept_all, NULL);
    cr_rig_start(&r);
    /* before the handshake: queued (the server sends before its client
     * authenticated; a client takes that) */
    memset(m, 0, sizeof(m));
    m[0] = 200;
    m[1] = 1;
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 2), 0);
    assert_int_equal(sshbpp_conn_queued(r.s.c), 1);
    cr_rig_pump(&r);
    assert_true(sshbpp_conn_handshake_done(r.c.c));
    assert_int_equal(r.c.nmsgs, 1);
    assert_int_equal(r.c.msgs[0][1], 1);
    assert_int_equal(sshbpp_conn_rekey(r.s.c), 0);
    for (i = 2; i <= 4; i++) {
        m[1] = (uint8_t)i;
        assert_int_equal(sshbpp_conn_send(r.s.c, m, 2), 0);
    }
    m[1] = 5;
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 2), SSHBPP_EAGAIN); /* nothing taken */
    assert_int_equal(sshbpp_conn_queued(r.s.c), 3);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_queued(r.s.c), 0);
    assert_int_equal(r.c.nmsgs, 4);
    for (i = 1; i < 4; i++)
        assert_int_equal(r.c.msgs[i][1], i + 1); /* in order, the refused one absent */
    /* free with messages still queued: no leak (valgrind) */
    assert_int_equal(sshbpp_conn_rekey(r.s.c), 0);
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 2), 0);
    assert_int_equal(sshbpp_conn_queued(r.s.c), 1);
    cr_rig_free(&r);

    /* by bytes */
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.queue_max_bytes = 100;
    cr_rig_init(&r, NULL, &scfg, accept_all, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_rekey(r.s.c), 0);
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 40), 0);
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 40), 0);
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 40), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 20), 0); /* exactly the bound */
    assert_int_equal(sshbpp_conn_send(r.s.c, m, 1), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_queued(r.s.c), 3);
    cr_rig_pump(&r);
    assert_int_equal(r.c.nmsgs, 3);
    assert_int_equal(r.c.lens[0] + r.c.lens[1] + r.c.lens[2], 100);
    cr_rig_free(&r);
}

static void
test_greq_ring_and_keepalives(void **state)
{
    static const uint8_t failure[] = {82};
    static const uint8_t success[] = {81};
    sshbpp_conn_config ccfg;
    cr_rig r;
    int64_t t;
    unsigned i;

    (void)state;
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    ccfg.keepalive_ms = 1000;
    ccfg.keepalive_max = 2;
    cr_rig_init(&r, &ccfg, NULL, accept_all, NULL);
    cr_rig_handshake(&r);
    login(&r);
    /* 64 of the caller's want-reply requests in flight: the 65th waits */
    for (i = 0; i < 64; i++)
        assert_int_equal(sshbpp_conn_global_request(r.c.c, "q@x", 1, NULL, 0), 0);
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "q@x", 1, NULL, 0), SSHBPP_EAGAIN);
    /* one without want-reply is not tracked */
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "q@x", 0, NULL, 0), 0);
    assert_int_equal(r.c.sent_types[80], 65);
    /* a keepalive is due, but no reply could be told apart: none sent,
     * tried again an interval later */
    t = r.now + 1000;
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), t);
    assert_int_equal(sshbpp_conn_tick(r.c.c, t), 0);
    assert_int_equal(r.c.sent_types[80], 65);
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), t + 1000);
    /* the server (played by hand from here) answers all 64: the caller
     * gets them; the client's requests are dropped */
    {
        size_t len;

        while (sshbpp_conn_tx_data(r.c.c, &len) != NULL && len > 0)
            sshbpp_conn_tx_consume(r.c.c, len);
    }
    r.now = t;
    for (i = 0; i < 64; i++)
        inject(&r, &r.s, &r.c, failure, sizeof(failure));
    assert_int_equal(r.c.nmsgs, 64);
    /* now a keepalive goes; its answer is absorbed */
    t = r.now + 1000;
    assert_int_equal(sshbpp_conn_tick(r.c.c, t), 0);
    assert_int_equal(r.c.sent_types[80], 66);
    r.now = t;
    inject(&r, &r.s, &r.c, success, sizeof(success));
    assert_int_equal(r.c.nmsgs, 64);
    /* two unanswered keepalives, then the end */
    assert_int_equal(sshbpp_conn_tick(r.c.c, t + 1000), 0);
    assert_int_equal(sshbpp_conn_tick(r.c.c, t + 2000), 0);
    assert_int_equal(r.c.sent_types[80], 68);
    assert_int_equal(sshbpp_conn_tick(r.c.c, t + 3000), SSHBPP_EKEEPALIVE);
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), -1);
    cr_rig_free(&r);
}

/* ---- deadlines -------------------------------------------------------------------------- */

static void
test_deadlines(void **state)
{
    sshbpp_conn_config ccfg;
    cr_rig r;

    (void)state;
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    ccfg.handshake_timeout_ms = 5000;
    ccfg.login_timeout_ms = 3000;
    ccfg.keepalive_ms = 700;
    cr_rig_init(&r, &ccfg, NULL, accept_all, NULL);
    cr_rig_start(&r);
    /* the earlier of the two, whichever it is */
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), r.now + 3000);
    cr_rig_pump(&r);
    assert_true(sshbpp_conn_handshake_done(r.c.c));
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), r.now + 3000);
    login(&r);
    /* authenticated: only the keepalive, from the last input */
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), r.now + 700);
    /* not while an exchange runs */
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), -1);
    assert_int_equal(sshbpp_conn_tick(r.c.c, r.now + 5000), 0);
    assert_int_equal(r.c.sent_types[80], 0);
    cr_rig_free(&r);

    ccfg.handshake_timeout_ms = 2000;
    ccfg.login_timeout_ms = 3000;
    ccfg.keepalive_ms = 0;
    cr_rig_init(&r, &ccfg, NULL, accept_all, NULL);
    cr_rig_start(&r);
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), r.now + 2000);
    cr_rig_pump(&r);
    login(&r);
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), -1);
    /* the deadlines passed are no longer armed */
    assert_int_equal(sshbpp_conn_tick(r.c.c, r.now + 10000), 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    cr_rig_free(&r);
}

static void
test_login_deadline_on_feed(void **state)
{
    sshbpp_conn_config scfg;
    cr_rig r;

    (void)state;
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.login_timeout_ms = 100;
    cr_rig_init(&r, NULL, &scfg, accept_all, NULL);
    cr_rig_handshake(&r);
    /* input that arrives late runs the timer first thing */
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "alice", "pw"), 0);
    r.now += 100;
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.s.c), SSHBPP_ELOGINTIME);
    assert_int_equal(r.s.error, SSHBPP_ELOGINTIME);
    assert_false(sshbpp_conn_authenticated(r.s.c));
    assert_int_equal(r.s.sent_types[52], 0);
    cr_rig_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_setup_calls_and_start),
        cmocka_unit_test(test_null_and_getters),
        cmocka_unit_test(test_rx_space_commit_handshake),
        cmocka_unit_test(test_version_bounds),
        cmocka_unit_test(test_disconnect_shapes),
        cmocka_unit_test(test_unknown_and_dropped_transport_types),
        cmocka_unit_test(test_messages_before_newkeys),
        cmocka_unit_test(test_send_contract),
        cmocka_unit_test(test_queue_bounds_during_exchange),
        cmocka_unit_test(test_greq_ring_and_keepalives),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_login_deadline_on_feed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
