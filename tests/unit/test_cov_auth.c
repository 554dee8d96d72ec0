/*
 * test_cov_auth.c: user authentication of the connection object against a
 * hostile peer (RFC 4252, RFC 4256). One side is a real sshbpp_conn after a
 * real handshake; the other side's messages are built by hand and sent
 * straight through its engine, past its conn's checks:
 *
 *  - client: SERVICE_ACCEPT, SUCCESS, FAILURE, BANNER, PK_OK /
 *    PASSWD_CHANGEREQ / INFO_REQUEST (type 60) malformed, out of order or
 *    over their bounds; partial success; the password change request;
 *    keyboard-interactive prompts (callback, events, answers); signer and
 *    signature algorithm choices; the API contract of the auth calls;
 *  - server: SERVICE_REQUEST and USERAUTH_REQUEST malformed, in the wrong
 *    order, for unknown methods and services; queries (PK_OK), bad
 *    signatures, refused algorithms, what counts towards max_auth_tries.
 *
 * Each refusal asserts the precise sticky error of the side that refused,
 * and what was (not) sent, from the engine's trace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_conn.h"
#include "conn_rig.h"

/* ---- helpers --------------------------------------------------------------- */

/* Sends b (freed) from `from`'s engine and moves from's output into `to`,
 * draining to's events into its record. */
static void
inject(cr_rig *r, cr_side *from, cr_side *to, sshbpp__wbuf *b)
{
    assert_int_equal(b->err, 0);
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(from->c), b->p, b->len), 0);
    sshbpp__wb_free(b);
    (void)cr_rig_move(r, from, to);
}

/* The same without draining: the test reads the events itself. */
static void
inject_raw(cr_rig *r, cr_side *from, cr_side *to, sshbpp__wbuf *b)
{
    const uint8_t *p;
    size_t len;

    assert_int_equal(b->err, 0);
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(from->c), b->p, b->len), 0);
    sshbpp__wb_free(b);
    while ((p = sshbpp_conn_tx_data(from->c, &len)) != NULL && len > 0) {
        assert_int_equal(sshbpp_conn_feed(to->c, p, len, r->now), 0);
        sshbpp_conn_tx_consume(from->c, len);
    }
}

/* Throws away what sd has to send (the peer is played by hand). */
static void
discard(cr_side *sd)
{
    size_t len;

    while (sshbpp_conn_tx_data(sd->c, &len) != NULL && len > 0)
        sshbpp_conn_tx_consume(sd->c, len);
}

static void
msg_accept(sshbpp__wbuf *b)
{
    sshbpp__wb_init(b);
    sshbpp__wb_u8(b, 6);
    sshbpp__wb_cstring(b, "ssh-userauth");
}

static void
msg_failure(sshbpp__wbuf *b, const char *methods, int partial)
{
    sshbpp__wb_init(b);
    sshbpp__wb_u8(b, 51);
    sshbpp__wb_cstring(b, methods);
    sshbpp__wb_bool(b, partial);
}

/* A client after the handshake (server: real, auth_cb cb); nothing of the
 * client's is moved to the server from here on. */
static void
client_ready(cr_rig *r, const sshbpp_conn_config *ccfg, const sshbpp_conn_config *scfg)
{
    cr_rig_init(r, ccfg, scfg, NULL, NULL);
    cr_rig_handshake(r);
}

/* The client with a password request waiting for its result: the
 * SERVICE_ACCEPT came by hand, the request went out (and was dropped). */
static void
client_waiting_password(cr_rig *r)
{
    sshbpp__wbuf b;

    client_ready(r, NULL, NULL);
    assert_int_equal(sshbpp_conn_auth_password(r->c.c, "alice", "secret"), 0);
    discard(&r->c);
    msg_accept(&b);
    inject(r, &r->s, &r->c, &b);
    assert_int_equal(sshbpp_conn_error(r->c.c), 0);
    assert_int_equal(r->c.sent_types[50], 1);
    discard(&r->c);
}

static void
expect_client_error(cr_rig *r, int err)
{
    assert_int_equal(sshbpp_conn_error(r->c.c), err);
    assert_int_equal(r->c.error, err);
    /* sticky: the next call says the same */
    assert_int_equal(sshbpp_conn_auth_none(r->c.c, "bob"), err);
}

/* ---- client: SERVICE_ACCEPT ---------------------------------------------------- */

static void
test_client_accept_unasked(void **state)
{
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    client_ready(&r, NULL, NULL);
    msg_accept(&b);
    inject(&r, &r.s, &r.c, &b);
    expect_client_error(&r, SSHBPP_EAUTH);
    assert_int_equal(r.c.sent_types[50], 0);
    cr_rig_free(&r);
}

static void
test_client_accept_malformed(void **state)
{
    static const char *const names[] = {"ssh-connection", "ssh-userauth!", "ssh-userautx"};
    unsigned i;

    (void)state;
    for (i = 0; i < 5; i++) {
        sshbpp__wbuf b;
        cr_rig r;

        client_ready(&r, NULL, NULL);
        assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), 0);
        assert_int_equal(r.c.sent_types[5], 1); /* SERVICE_REQUEST */
        discard(&r.c);
        sshbpp__wb_init(&b);
        sshbpp__wb_u8(&b, 6);
        if (i < 3) {
            sshbpp__wb_cstring(&b, names[i]);
        } else if (i == 3) { /* trailing byte */
            sshbpp__wb_cstring(&b, "ssh-userauth");
            sshbpp__wb_u8(&b, 0);
        } else { /* length past the end */
            sshbpp__wb_u32(&b, 12);
            sshbpp__wb_raw(&b, "ssh", 3);
        }
        inject(&r, &r.s, &r.c, &b);
        expect_client_error(&r, SSHBPP_EAUTH);
        assert_int_equal(r.c.sent_types[50], 0); /* no request went out */
        cr_rig_free(&r);
    }
}

static void
test_client_accept_without_name_then_success(void **state)
{
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    client_ready(&r, NULL, NULL);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), 0);
    /* a second request while one is underway */
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), SSHBPP_ESTATE);
    discard(&r.c);
    /* an old server's accept without the service name is taken */
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 6);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.sent_types[50], 1);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 52);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_true(sshbpp_conn_authenticated(r.c.c));
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_int_equal(r.c.last_success, 1);
    assert_string_equal(r.c.last_user, "bob");
    /* authenticated: every auth call is out of state now */
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "bob", "x"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_kbdint(r.c.c, "bob", NULL, NULL), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", "/nonexistent"),
                     SSHBPP_ESTATE);
    /* a second SUCCESS is out of order */
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 52);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    cr_rig_free(&r);
}

/* ---- client: SUCCESS / FAILURE / type 60 ---------------------------------------------- */

static void
test_client_result_malformed(void **state)
{
    unsigned i;

    (void)state;
    for (i = 0; i < 7; i++) {
        sshbpp__wbuf b;
        cr_rig r;

        client_waiting_password(&r);
        sshbpp__wb_init(&b);
        switch (i) {
        case 0: /* SUCCESS with a trailing byte */
            sshbpp__wb_u8(&b, 52);
            sshbpp__wb_u8(&b, 0);
            break;
        case 1: /* FAILURE without its boolean */
            sshbpp__wb_u8(&b, 51);
            sshbpp__wb_cstring(&b, "password");
            break;
        case 2: /* FAILURE with a trailing byte */
            sshbpp__wb_u8(&b, 51);
            sshbpp__wb_cstring(&b, "password");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_u8(&b, 7);
            break;
        case 3: /* a NUL inside the name-list */
            sshbpp__wb_u8(&b, 51);
            sshbpp__wb_string(&b, "pass\0word", 9);
            sshbpp__wb_bool(&b, 0);
            break;
        case 4: /* a user authentication type nobody defines */
            sshbpp__wb_u8(&b, 55);
            break;
        case 5: /* FAILURE with its name-list cut short */
            sshbpp__wb_u8(&b, 51);
            sshbpp__wb_u32(&b, 40);
            sshbpp__wb_raw(&b, "pass", 4);
            break;
        default: /* the server side's INFO_RESPONSE, sent to a client */
            sshbpp__wb_u8(&b, 61);
            sshbpp__wb_u32(&b, 0);
            break;
        }
        inject(&r, &r.s, &r.c, &b);
        expect_client_error(&r, SSHBPP_EAUTH);
        assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 0);
        assert_false(sshbpp_conn_authenticated(r.c.c));
        cr_rig_free(&r);
    }
}

static void
test_client_partial_then_change_request(void **state)
{
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    client_waiting_password(&r);
    msg_failure(&b, "publickey,keyboard-interactive", 1);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_int_equal(r.c.last_success, 0);
    assert_int_equal(r.c.last_partial, 1);
    assert_string_equal(r.c.last_methods, "publickey,keyboard-interactive");
    assert_false(sshbpp_conn_authenticated(r.c.c));
    /* idle again: the next request goes out at once (service accepted) */
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "alice", "again"), 0);
    assert_int_equal(r.c.sent_types[50], 2);
    assert_int_equal(r.c.sent_types[5], 1);
    /* SSH_MSG_USERAUTH_PASSWD_CHANGEREQ: taken as a failure, nothing sent */
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 60);
    sshbpp__wb_cstring(&b, "password expired");
    sshbpp__wb_cstring(&b, "");
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 2);
    assert_int_equal(r.c.last_success, 0);
    assert_int_equal(r.c.last_partial, 0);
    assert_string_equal(r.c.last_methods, "");
    assert_int_equal(r.c.sent_types[50], 2);
    /* an empty list is a list: taken */
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "alice"), 0);
    msg_failure(&b, "", 0);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 3);
    assert_string_equal(r.c.last_methods, "");
    /* with nothing underway, a FAILURE is out of order */
    msg_failure(&b, "password", 0);
    inject(&r, &r.s, &r.c, &b);
    expect_client_error(&r, SSHBPP_EAUTH);
    cr_rig_free(&r);
}

static void
test_client_type60_out_of_order(void **state)
{
    unsigned i;

    (void)state;
    for (i = 0; i < 2; i++) {
        sshbpp__wbuf b;
        cr_rig r;

        if (i == 0) {
            client_ready(&r, NULL, NULL); /* no request at all */
        } else {
            client_waiting_password(&r);
            msg_failure(&b, "password", 0);
            inject(&r, &r.s, &r.c, &b);
            assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
        }
        sshbpp__wb_init(&b);
        sshbpp__wb_u8(&b, 60);
        sshbpp__wb_cstring(&b, "ssh-ed25519");
        sshbpp__wb_string(&b, "blob", 4);
        inject(&r, &r.s, &r.c, &b);
        expect_client_error(&r, SSHBPP_EAUTH);
        cr_rig_free(&r);
    }
}

/* ---- client: BANNER -------------------------------------------------------------------- */

static void
msg_banner(sshbpp__wbuf *b, const void *text, size_t n)
{
    sshbpp__wb_init(b);
    sshbpp__wb_u8(b, 53);
    sshbpp__wb_string(b, text, n);
    sshbpp__wb_cstring(b, "en");
}

static void
test_client_banners(void **state)
{
    static const char first[] = "Welcome\x1b[2J\x07\ttab\r\nnext\x7f";
    sshbpp__wbuf b;
    cr_rig r;
    unsigned i;

    (void)state;
    client_ready(&r, NULL, NULL);
    assert_null(sshbpp_conn_auth_banner(r.c.c));
    msg_banner(&b, first, sizeof(first) - 1);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    /* control characters but tab, CR, LF replaced */
    assert_string_equal(sshbpp_conn_auth_banner(r.c.c), "Welcome?[2J?\ttab\r\nnext?");
    /* later banners do not replace the first; 16 in all are taken */
    for (i = 1; i < 16; i++) {
        msg_banner(&b, "later", 5);
        inject(&r, &r.s, &r.c, &b);
    }
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_string_equal(sshbpp_conn_auth_banner(r.c.c), "Welcome?[2J?\ttab\r\nnext?");
    /* the 17th is a flood */
    msg_banner(&b, "more", 4);
    inject(&r, &r.s, &r.c, &b);
    expect_client_error(&r, SSHBPP_EAUTH);
    cr_rig_free(&r);
}

static void
test_client_banner_cut_malformed_late(void **state)
{
    static char big[SSHBPP_CONN_BANNER_MAX + 100];
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    /* longer than the bound: cut */
    memset(big, 'B', sizeof(big));
    client_ready(&r, NULL, NULL);
    msg_banner(&b, big, sizeof(big));
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(strlen(sshbpp_conn_auth_banner(r.c.c)), SSHBPP_CONN_BANNER_MAX - 1);
    cr_rig_free(&r);

    /* no message string */
    client_ready(&r, NULL, NULL);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 53);
    sshbpp__wb_u32(&b, 100);
    inject(&r, &r.s, &r.c, &b);
    expect_client_error(&r, SSHBPP_EAUTH);
    assert_null(sshbpp_conn_auth_banner(r.c.c));
    cr_rig_free(&r);

    /* after authentication (RFC 4252 5.4: only before) */
    client_waiting_password(&r);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 52);
    inject(&r, &r.s, &r.c, &b);
    assert_true(sshbpp_conn_authenticated(r.c.c));
    msg_banner(&b, "late", 4);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    assert_int_equal(r.c.error, SSHBPP_EAUTH);
    cr_rig_free(&r);
}

/* ---- client: publickey ------------------------------------------------------------------ */

struct signer {
    int ret;         /* what to return */
    size_t siglen;   /* the length to report */
    int calls;
    char alg[64];
    uint8_t sid[64];
    size_t sidlen;
    int data_ok;     /* data began with string session id, then REQUEST */
};

static int
fake_sign(void *ctx, const char *alg, const uint8_t *data, size_t len, uint8_t *sig, size_t cap,
          size_t *sig_len)
{
    struct signer *s = ctx;

    s->calls++;
    snprintf(s->alg, sizeof(s->alg), "%s", alg);
    s->data_ok = len > 4 + s->sidlen && data[0] == 0 && data[1] == 0 && data[2] == 0 &&
                 data[3] == s->sidlen && memcmp(data + 4, s->sid, s->sidlen) == 0 &&
                 data[4 + s->sidlen] == 50;
    if (s->ret != 0)
        return s->ret;
    memset(sig, 0x5a, cap < 64 ? cap : 64);
    *sig_len = s->siglen;
    return 0;
}

static void
blob_named(sshbpp__wbuf *b, const char *name)
{
    static const uint8_t pub[32] = {1, 2, 3};

    sshbpp__wb_init(b);
    sshbpp__wb_cstring(b, name);
    sshbpp__wb_string(b, pub, sizeof(pub));
}

static void
test_client_publickey_contract(void **state)
{
    static uint8_t huge[16385];
    sshbpp_conn_config ccfg;
    struct signer s = {0};
    sshbpp__wbuf blob, b;
    cr_rig r;
    char longname[80];

    (void)state;
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    ccfg.pubkey_algs = "ssh-ed25519";
    client_ready(&r, &ccfg, NULL);
    blob_named(&blob, "ssh-ed25519");
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", NULL, 10, fake_sign, &s),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", blob.p, 0, fake_sign, &s),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", huge, sizeof(huge), fake_sign, &s),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", blob.p, blob.len, NULL, &s),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_publickey(NULL, "u", blob.p, blob.len, fake_sign, &s),
                     SSHBPP_EINVAL);
    /* not a key blob: a short one, an empty name, a name over the bound */
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", (const uint8_t *)"\0\0", 2,
                                                fake_sign, &s),
                     SSHBPP_EHOSTKEY);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", (const uint8_t *)"\0\0\0\0", 4,
                                                fake_sign, &s),
                     SSHBPP_EHOSTKEY);
    memset(longname, 'k', sizeof(longname));
    longname[sizeof(longname) - 1] = '\0';
    blob_named(&b, longname);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", b.p, b.len, fake_sign, &s),
                     SSHBPP_EHOSTKEY);
    sshbpp__wb_free(&b);
    /* key types pubkey_algs leaves no algorithm for */
    blob_named(&b, "ecdsa-sha2-nistp256");
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", b.p, b.len, fake_sign, &s),
                     SSHBPP_EUNSUPPORTED);
    sshbpp__wb_free(&b);
    blob_named(&b, "ssh-rsa");
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", b.p, b.len, fake_sign, &s),
                     SSHBPP_EUNSUPPORTED);
    sshbpp__wb_free(&b);
    blob_named(&b, "ssh-rsb"); /* as long as "ssh-rsa", not RSA */
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", b.p, b.len, fake_sign, &s),
                     SSHBPP_EUNSUPPORTED);
    sshbpp__wb_free(&b);
    /* none of that touched the connection, nor sent anything */
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.sent_types[5], 0);
    assert_int_equal(s.calls, 0);
    /* a key file that is not there: the loader's error, nothing kept */
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "u", NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "u", "/nonexistent/key"), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.sent_types[5], 0);
    /* and a request still goes: the service request first */
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", blob.p, blob.len, fake_sign, &s), 0);
    assert_int_equal(r.c.sent_types[5], 1);
    assert_int_equal(s.calls, 0); /* signed when the accept comes */
    /* one request at a time */
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", blob.p, blob.len, fake_sign, &s),
                     SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_kbdint(r.c.c, "u", NULL, NULL), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "u", "p"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "u", "/x"), SSHBPP_ESTATE);
    assert_int_equal(r.c.sent_types[5], 1);
    sshbpp__wb_free(&blob);
    cr_rig_free(&r);
}

static void
test_client_signer_failures(void **state)
{
    static const struct {
        int ret;
        size_t siglen;
        int want;
    } cases[] = {
        {SSHBPP_ECRYPTO, 0, SSHBPP_ECRYPTO},
        {SSHBPP_EAGENT, 0, SSHBPP_EAGENT},
        {SSHBPP_EINVAL, 0, SSHBPP_EPROTO}, /* a soft code still fails it */
        {0, 0, SSHBPP_ECRYPTO},            /* an empty signature */
        {0, 8193, SSHBPP_ECRYPTO},         /* longer than the buffer given */
    };
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct signer s = {0};
        sshbpp__wbuf blob, b;
        const uint8_t *sid;
        cr_rig r;

        client_ready(&r, NULL, NULL);
        sid = sshbpp_conn_session_id(r.c.c, &s.sidlen);
        assert_non_null(sid);
        assert_true(s.sidlen <= sizeof(s.sid));
        memcpy(s.sid, sid, s.sidlen);
        s.ret = cases[i].ret;
        s.siglen = cases[i].siglen;
        blob_named(&blob, "ssh-ed25519");
        assert_int_equal(
            sshbpp_conn_auth_publickey(r.c.c, "carol", blob.p, blob.len, fake_sign, &s), 0);
        sshbpp__wb_free(&blob);
        discard(&r.c);
        msg_accept(&b);
        inject(&r, &r.s, &r.c, &b);
        assert_int_equal(s.calls, 1);
        assert_true(s.data_ok);
        assert_string_equal(s.alg, "ssh-ed25519");
        expect_client_error(&r, cases[i].want);
        assert_int_equal(r.c.sent_types[50], 0); /* the request never went out */
        cr_rig_free(&r);
    }
}

/* An RSA key: the algorithm comes from our list and server-sig-algs. */
static void
rsa_pick(const char *client_algs, const char *server_algs, const char *want)
{
    sshbpp_conn_config ccfg, scfg;
    struct signer s = {0};
    sshbpp__wbuf blob;
    cr_rig r;

    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    ccfg.pubkey_algs = client_algs;
    scfg.pubkey_algs = server_algs;
    client_ready(&r, &ccfg, &scfg);
    assert_string_equal(sshbpp_conn_server_sig_algs(r.c.c), server_algs);
    s.siglen = 64;
    blob_named(&blob, "ssh-rsa");
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "dave", blob.p, blob.len, fake_sign, &s),
                     0);
    sshbpp__wb_free(&blob);
    cr_rig_pump(&r); /* the real server this time */
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.alg, want);
    /* the server refuses: its list lacks it, or the signature is fake */
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_int_equal(r.c.last_success, 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    cr_rig_free(&r);
}

static void
test_client_rsa_algorithm_choice(void **state)
{
    (void)state;
    /* the server names none of ours: rsa-sha2-256 if we allow it */
    rsa_pick(NULL, "ssh-ed25519", "rsa-sha2-256");
    /* ... else the first RSA algorithm of our list */
    rsa_pick("ssh-ed25519,rsa-sha2-512", "ssh-ed25519,rsa-sha2-256", "rsa-sha2-512");
    /* our order first among those the server names */
    rsa_pick("rsa-sha2-256,rsa-sha2-512", "rsa-sha2-512,rsa-sha2-256", "rsa-sha2-256");
}

/* ---- client: keyboard-interactive ----------------------------------------------------------- */

struct kbd {
    int ret, calls;
    unsigned n;
    char name[64], instr[64], p0[64], p1[64];
    int e0, e1;
};

static int
kbd_cb(void *ctx, const char *name, const char *instr, unsigned n, const char *const *prompts,
       const int *echo, char (*answers)[256])
{
    struct kbd *k = ctx;
    unsigned i;

    k->calls++;
    k->n = n;
    snprintf(k->name, sizeof(k->name), "%s", name);
    snprintf(k->instr, sizeof(k->instr), "%s", instr);
    if (n >= 2) {
        snprintf(k->p0, sizeof(k->p0), "%s", prompts[0]);
        snprintf(k->p1, sizeof(k->p1), "%s", prompts[1]);
        k->e0 = echo[0];
        k->e1 = echo[1];
    }
    for (i = 0; i < n; i++)
        memset(answers[i], 'a', 256); /* unterminated: the conn cuts it */
    return k->ret;
}

static void
msg_info_request(sshbpp__wbuf *b, unsigned n)
{
    unsigned i;

    sshbpp__wb_init(b);
    sshbpp__wb_u8(b, 60);
    sshbpp__wb_cstring(b, "Name\x01");
    sshbpp__wb_cstring(b, "Instr\x1b");
    sshbpp__wb_cstring(b, "");
    sshbpp__wb_u32(b, n);
    for (i = 0; i < n; i++) {
        sshbpp__wb_cstring(b, i == 0 ? "Password: " : "Code\n: ");
        sshbpp__wb_bool(b, i == 1);
    }
}

/* A client with a keyboard-interactive request waiting for its result. */
static void
client_waiting_kbdint(cr_rig *r, sshbpp_kbdint_fn cb, void *ctx)
{
    sshbpp__wbuf b;

    client_ready(r, NULL, NULL);
    assert_int_equal(sshbpp_conn_auth_kbdint(r->c.c, "erin", cb, ctx), 0);
    discard(&r->c);
    msg_accept(&b);
    inject(r, &r->s, &r->c, &b);
    assert_int_equal(r->c.sent_types[50], 1);
    discard(&r->c);
}

static void
test_client_kbdint_callback(void **state)
{
    struct kbd k = {0};
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    client_waiting_kbdint(&r, kbd_cb, &k);
    msg_info_request(&b, 2);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(k.calls, 1);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.name, "Name?");
    assert_string_equal(k.instr, "Instr?");
    assert_string_equal(k.p0, "Password: ");
    assert_string_equal(k.p1, "Code?: ");
    assert_int_equal(k.e0, 0);
    assert_int_equal(k.e1, 1);
    assert_int_equal(r.c.sent_types[61], 1); /* INFO_RESPONSE */
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_PROMPT], 0);
    /* a second round, then the result */
    msg_info_request(&b, 0);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(k.calls, 2);
    assert_int_equal(r.c.sent_types[61], 2);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 52);
    inject(&r, &r.s, &r.c, &b);
    assert_true(sshbpp_conn_authenticated(r.c.c));
    cr_rig_free(&r);

    /* the responder's error fails the connection, nothing is sent */
    memset(&k, 0, sizeof(k));
    k.ret = SSHBPP_EAUTH;
    client_waiting_kbdint(&r, kbd_cb, &k);
    msg_info_request(&b, 2);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(k.calls, 1);
    expect_client_error(&r, SSHBPP_EAUTH);
    assert_int_equal(r.c.sent_types[61], 0);
    cr_rig_free(&r);
}

static void
test_client_kbdint_prompt_events(void **state)
{
    static char long_answer[4098];
    const char *ans[2] = {"pw", "123"};
    const char *bad[2] = {"pw", NULL};
    sshbpp_conn_event ev;
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    memset(long_answer, 'x', sizeof(long_answer) - 1);
    client_waiting_kbdint(&r, NULL, NULL);
    /* nothing to answer yet */
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 0, NULL), SSHBPP_ESTATE);
    msg_info_request(&b, 2);
    inject_raw(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_next_event(r.c.c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_AUTH_PROMPT);
    assert_int_equal(ev.nprompts, 2);
    assert_string_equal(ev.prompts[0], "Password: ");
    assert_string_equal(ev.prompts[1], "Code?: ");
    assert_int_equal(ev.echo[0], 0);
    assert_int_equal(ev.echo[1], 1);
    assert_string_equal(ev.text, "Instr?");
    assert_string_equal(ev.alg, "Name?");
    assert_int_equal(sshbpp_conn_next_event(r.c.c, &ev), SSHBPP_EAGAIN);
    /* wrong answers are refused softly */
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(NULL, 2, ans), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 2, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 1, ans), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 2, bad), SSHBPP_EINVAL);
    bad[1] = long_answer;
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 2, bad), SSHBPP_EINVAL);
    assert_int_equal(r.c.sent_types[61], 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 2, ans), 0);
    assert_int_equal(r.c.sent_types[61], 1);
    /* answered: no second answer */
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 2, ans), SSHBPP_ESTATE);
    /* another prompt; a FAILURE instead of an answer ends it */
    msg_info_request(&b, 1);
    inject_raw(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_next_event(r.c.c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_AUTH_PROMPT);
    assert_int_equal(ev.nprompts, 1);
    msg_failure(&b, "password", 0);
    inject_raw(&r, &r.s, &r.c, &b);
    assert_int_equal(sshbpp_conn_next_event(r.c.c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_AUTH_RESULT);
    assert_int_equal(ev.success, 0);
    assert_string_equal(ev.text, "password");
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 1, ans), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    cr_rig_free(&r);
}

static void
test_client_info_request_malformed(void **state)
{
    static char longp[1100];
    unsigned i;

    (void)state;
    memset(longp, 'p', sizeof(longp) - 1);
    for (i = 0; i < 8; i++) {
        struct kbd k = {0};
        sshbpp__wbuf b;
        cr_rig r;

        client_waiting_kbdint(&r, kbd_cb, &k);
        if (i == 0) { /* more prompts than the bound */
            msg_info_request(&b, SSHBPP_CONN_MAX_PROMPTS + 1);
        } else if (i == 1) { /* a prompt without its echo flag */
            msg_info_request(&b, 1);
            b.len--;
        } else if (i == 2) { /* a trailing byte */
            msg_info_request(&b, 1);
            sshbpp__wb_u8(&b, 1);
        } else if (i == 3) { /* the header cut short */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 60);
            sshbpp__wb_cstring(&b, "name");
        } else if (i == 6 || i == 7) { /* cut in the instruction / language */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 60);
            sshbpp__wb_cstring(&b, "name");
            if (i == 7)
                sshbpp__wb_cstring(&b, "instr");
            sshbpp__wb_u32(&b, 9);
        } else if (i == 4) { /* a prompt longer than the bound */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 60);
            sshbpp__wb_cstring(&b, "");
            sshbpp__wb_cstring(&b, "");
            sshbpp__wb_cstring(&b, "");
            sshbpp__wb_u32(&b, 1);
            sshbpp__wb_cstring(&b, longp);
            sshbpp__wb_bool(&b, 0);
        } else { /* fewer prompts than announced */
            msg_info_request(&b, 2);
            b.len -= 12; /* the second prompt and flag: string "Code\n: " + bool */
        }
        inject(&r, &r.s, &r.c, &b);
        assert_int_equal(k.calls, 0);
        expect_client_error(&r, SSHBPP_EAUTH);
        assert_int_equal(r.c.sent_types[61], 0);
        cr_rig_free(&r);
    }
}

static void
test_client_info_request_during_publickey(void **state)
{
    struct signer s = {0};
    sshbpp__wbuf b, blob;
    cr_rig r;

    (void)state;
    client_ready(&r, NULL, NULL);
    s.siglen = 64;
    blob_named(&blob, "ssh-ed25519");
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "f", blob.p, blob.len, fake_sign, &s), 0);
    sshbpp__wb_free(&blob);
    discard(&r.c);
    msg_accept(&b);
    inject(&r, &r.s, &r.c, &b);
    assert_int_equal(r.c.sent_types[50], 1);
    /* we never send a query, so PK_OK (and anything else of type 60) is
     * unasked for */
    msg_info_request(&b, 1);
    inject(&r, &r.s, &r.c, &b);
    expect_client_error(&r, SSHBPP_EAUTH);
    cr_rig_free(&r);
}

/* A fresh private key of type (OpenSSL's name) written as PKCS#8 PEM. */
static void
write_key(const char *path, const char *type, const char *param)
{
    EVP_PKEY *k = param != NULL ? EVP_PKEY_Q_keygen(NULL, NULL, type, param)
                                : EVP_PKEY_Q_keygen(NULL, NULL, type);
    FILE *f = fopen(path, "w");

    assert_non_null(k);
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    EVP_PKEY_free(k);
}

static void
test_client_publickey_file_kept_and_dropped(void **state)
{
    char ed[64], ec[64];
    sshbpp_conn_config ccfg;
    cr_rig r;

    (void)state;
    snprintf(ed, sizeof(ed), "/tmp/sshbpp_cov_auth_%ld_ed.pem", (long)getpid());
    snprintf(ec, sizeof(ec), "/tmp/sshbpp_cov_auth_%ld_ec.pem", (long)getpid());
    write_key(ed, "ED25519", NULL);
    write_key(ec, "EC", "P-256");
    /* a key pubkey_algs allows no algorithm for: refused, not kept */
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    ccfg.pubkey_algs = "ssh-ed25519";
    client_ready(&r, &ccfg, NULL);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "k", ec), SSHBPP_EUNSUPPORTED);
    assert_int_equal(r.c.sent_types[5], 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    /* an allowed one is loaded and waits for the service accept; the
     * connection fails first: the key is dropped with the rest (valgrind
     * sees no leak) */
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "k", ed), 0);
    assert_int_equal(r.c.sent_types[5], 1);
    assert_int_equal(sshbpp_conn_fail(r.c.c, SSHBPP_EIO), SSHBPP_EIO);
    assert_int_equal(r.c.sent_types[50], 0);
    cr_rig_free(&r);
    /* loaded, then the conn freed while it waits */
    client_ready(&r, NULL, NULL);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "k", ec), 0);
    cr_rig_free(&r);
    assert_int_equal(unlink(ed), 0);
    assert_int_equal(unlink(ec), 0);
}

static void
test_client_auth_contract(void **state)
{
    static char long_user[300], long_pw[4100];
    sshbpp_conn_config cfg;
    sshbpp_conn *c;
    cr_rig r;

    (void)state;
    memset(long_user, 'u', sizeof(long_user) - 1);
    memset(long_pw, 'p', sizeof(long_pw) - 1);
    /* before the handshake */
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    assert_int_equal(sshbpp_conn_auth_none(c, "u"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_password(c, "u", "p"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_kbdint(c, "u", NULL, NULL), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_publickey(c, "u", (const uint8_t *)"x", 1, fake_sign, NULL),
                     SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_publickey_file(c, "u", "/nonexistent"), SSHBPP_ESTATE);
    sshbpp_conn_free(c);

    client_ready(&r, NULL, NULL);
    assert_int_equal(sshbpp_conn_auth_none(NULL, "u"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, long_user), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "u", NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "u", long_pw), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, long_user, "p"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_kbdint(r.c.c, long_user, NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, long_user, "/x"), SSHBPP_EINVAL);
    /* the server role has no client calls */
    assert_int_equal(sshbpp_conn_auth_none(r.s.c, "u"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_password(r.s.c, "u", "p"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_kbdint(r.s.c, "u", NULL, NULL), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_publickey(r.s.c, "u", (const uint8_t *)"x", 1, fake_sign,
                                                NULL),
                     SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.s.c, "u", "/x"), SSHBPP_ESTATE);
    assert_int_equal(r.c.sent_types[5], 0);
    assert_int_equal(r.s.sent_types[5], 0);
    /* a failed connection: the sticky error */
    assert_int_equal(sshbpp_conn_fail(r.c.c, SSHBPP_EIO), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "u", "p"), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_auth_kbdint(r.c.c, "u", NULL, NULL), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "u", (const uint8_t *)"x", 1, fake_sign,
                                                NULL),
                     SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "u", "/x"), SSHBPP_EIO);
    assert_int_equal(sshbpp_conn_auth_kbdint_answer(r.c.c, 0, NULL), SSHBPP_EIO);
    cr_rig_free(&r);
}

/* ---- server --------------------------------------------------------------------------------- */

struct policy {
    int calls, last_sig_ok;
    enum sshbpp_auth_decision d;
    const char *methods; /* what to point *methods to (NULL: leave) */
    int null_methods;    /* point *methods to NULL */
    char method[64], user[256];
};

static enum sshbpp_auth_decision
policy_cb(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    struct policy *p = ctx;

    p->calls++;
    p->last_sig_ok = a->signature_ok;
    snprintf(p->method, sizeof(p->method), "%s", a->method);
    snprintf(p->user, sizeof(p->user), "%s", a->user);
    if (p->methods != NULL)
        *methods = p->methods;
    if (p->null_methods)
        *methods = NULL;
    return p->d;
}

/* A server whose client (driven by hand from here) went through the
 * service request and one "none" attempt for real. */
static void
server_ready(cr_rig *r, const sshbpp_conn_config *scfg, struct policy *p)
{
    enum sshbpp_auth_decision d = p != NULL ? p->d : SSHBPP_AUTH_REJECT;

    cr_rig_init(r, NULL, scfg, p != NULL ? policy_cb : NULL, p);
    cr_rig_handshake(r);
    if (p != NULL)
        p->d = SSHBPP_AUTH_REJECT; /* the "none" below fails */
    assert_int_equal(sshbpp_conn_auth_none(r->c.c, "zed"), 0);
    cr_rig_pump(r);
    assert_int_equal(r->c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_string_equal(r->c.last_methods, "publickey,password");
    assert_int_equal(r->s.sent_types[51], 1);
    if (p != NULL) {
        assert_int_equal(p->calls, 1);
        assert_string_equal(p->method, "none");
        p->calls = 0;
        p->d = d;
    }
}

static void
req_head(sshbpp__wbuf *b, const char *user, const char *service, const char *method)
{
    sshbpp__wb_init(b);
    sshbpp__wb_u8(b, 50);
    sshbpp__wb_cstring(b, user);
    sshbpp__wb_cstring(b, service);
    sshbpp__wb_cstring(b, method);
}

static void
expect_server_error(cr_rig *r, int err)
{
    assert_int_equal(sshbpp_conn_error(r->s.c), err);
    assert_int_equal(r->s.error, err);
}

static void
test_server_service_request(void **state)
{
    unsigned i;

    (void)state;
    for (i = 0; i < 6; i++) {
        struct policy p = {0};
        sshbpp__wbuf b;
        cr_rig r;

        cr_rig_init(&r, NULL, NULL, policy_cb, &p);
        cr_rig_handshake(&r);
        if (i == 0) { /* a request before the service was asked for */
            req_head(&b, "u", "ssh-connection", "none");
            inject(&r, &r.c, &r.s, &b);
            expect_server_error(&r, SSHBPP_EPROTO);
        } else if (i == 1) { /* a trailing byte */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 5);
            sshbpp__wb_cstring(&b, "ssh-userauth");
            sshbpp__wb_u8(&b, 0);
            inject(&r, &r.c, &r.s, &b);
            expect_server_error(&r, SSHBPP_EAUTH);
        } else if (i == 4) { /* no service name */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 5);
            sshbpp__wb_u32(&b, 12);
            inject(&r, &r.c, &r.s, &b);
            expect_server_error(&r, SSHBPP_EAUTH);
        } else if (i == 5) { /* as long as ours, another name */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 5);
            sshbpp__wb_cstring(&b, "ssh-userautX");
            inject(&r, &r.c, &r.s, &b);
            expect_server_error(&r, SSHBPP_EPROTO);
            assert_int_equal(r.s.sent_types[1], 1);
        } else if (i == 2) { /* a service we do not have */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 5);
            sshbpp__wb_cstring(&b, "ssh-connection");
            inject(&r, &r.c, &r.s, &b);
            expect_server_error(&r, SSHBPP_EPROTO);
            assert_int_equal(r.s.sent_types[1], 1); /* DISCONNECT */
            cr_rig_move(&r, &r.s, &r.c);
            assert_int_equal(r.c.disc_code, SSHBPP_DISCONNECT_SERVICE_NOT_AVAILABLE);
            assert_int_equal(r.c.error, SSHBPP_EDISCONNECT);
        } else { /* asked twice */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 5);
            sshbpp__wb_cstring(&b, "ssh-userauth");
            inject(&r, &r.c, &r.s, &b);
            assert_int_equal(sshbpp_conn_error(r.s.c), 0);
            assert_int_equal(r.s.sent_types[6], 1); /* SERVICE_ACCEPT */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 5);
            sshbpp__wb_cstring(&b, "ssh-userauth");
            inject(&r, &r.c, &r.s, &b);
            expect_server_error(&r, SSHBPP_EPROTO);
            assert_int_equal(r.s.sent_types[6], 1);
            assert_int_equal(r.s.sent_types[1], 1);
        }
        assert_int_equal(p.calls, 0);
        assert_false(sshbpp_conn_authenticated(r.s.c));
        cr_rig_free(&r);
    }
}

static void
test_server_request_malformed(void **state)
{
    static char user256[257], name64[65], pw[1026];
    unsigned i;

    (void)state;
    memset(user256, 'u', 256);
    memset(name64, 'n', 64);
    memset(pw, 'p', 1025);
    for (i = 0; i < 18; i++) {
        struct policy p = {0};
        sshbpp__wbuf b;
        cr_rig r;

        p.d = SSHBPP_AUTH_ACCEPT;
        server_ready(&r, NULL, &p);
        switch (i) {
        case 0: /* cut after the user name */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 50);
            sshbpp__wb_cstring(&b, "u");
            break;
        case 1: /* a NUL in the user name */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 50);
            sshbpp__wb_string(&b, "u\0x", 3);
            sshbpp__wb_cstring(&b, "ssh-connection");
            sshbpp__wb_cstring(&b, "none");
            break;
        case 2: /* a user name over 255 bytes */
            req_head(&b, user256, "ssh-connection", "none");
            break;
        case 3: /* a service name over the bound */
            req_head(&b, "u", name64, "none");
            break;
        case 4: /* a method name over the bound */
            req_head(&b, "u", "ssh-connection", name64);
            break;
        case 5: /* password: no boolean */
            req_head(&b, "u", "ssh-connection", "password");
            break;
        case 6: /* password: over 1024 bytes */
            req_head(&b, "u", "ssh-connection", "password");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_cstring(&b, pw);
            break;
        case 7: /* password: a NUL inside */
            req_head(&b, "u", "ssh-connection", "password");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_string(&b, "se\0cret", 7);
            break;
        case 8: /* password: the string cut short */
            req_head(&b, "u", "ssh-connection", "password");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_u32(&b, 6);
            break;
        case 9: /* publickey: no boolean */
            req_head(&b, "u", "ssh-connection", "publickey");
            break;
        case 10: /* publickey: an algorithm name over the bound */
            req_head(&b, "u", "ssh-connection", "publickey");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_cstring(&b, name64);
            sshbpp__wb_string(&b, "blob", 4);
            break;
        case 11: /* publickey: no blob */
            req_head(&b, "u", "ssh-connection", "publickey");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_cstring(&b, "ssh-ed25519");
            break;
        case 15: /* cut after the user name's string */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 50);
            sshbpp__wb_cstring(&b, "u");
            sshbpp__wb_u32(&b, 30);
            break;
        case 16: /* cut in the method name */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 50);
            sshbpp__wb_cstring(&b, "u");
            sshbpp__wb_cstring(&b, "ssh-connection");
            sshbpp__wb_u32(&b, 30);
            break;
        case 17: /* publickey: cut in the algorithm name */
            req_head(&b, "u", "ssh-connection", "publickey");
            sshbpp__wb_bool(&b, 0);
            sshbpp__wb_u32(&b, 11);
            break;
        case 12: /* publickey: signature announced, not there */
            req_head(&b, "u", "ssh-connection", "publickey");
            sshbpp__wb_bool(&b, 1);
            sshbpp__wb_cstring(&b, "ssh-ed25519");
            sshbpp__wb_string(&b, "blob", 4);
            break;
        case 13:
        default: /* 13, 14: INFO_RESPONSE (not offered), then a type 60 */
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, i == 13 ? 61 : 60);
            sshbpp__wb_u32(&b, 0);
            break;
        }
        inject(&r, &r.c, &r.s, &b);
        expect_server_error(&r, SSHBPP_EAUTH);
        assert_int_equal(p.calls, 0);
        assert_int_equal(r.s.sent_types[51], 1); /* no second FAILURE */
        assert_int_equal(r.s.sent_types[52], 0);
        assert_false(sshbpp_conn_authenticated(r.s.c));
        cr_rig_free(&r);
    }
}

static void
test_server_refusals_unasked(void **state)
{
    static const uint8_t pub[32] = {9};
    static const uint8_t sig[64] = {7};
    struct policy p = {0};
    sshbpp_conn_config scfg;
    sshbpp__wbuf b, blob;
    cr_rig r;

    (void)state;
    p.d = SSHBPP_AUTH_ACCEPT; /* would accept anything it is asked */
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.max_auth_tries = 6;
    server_ready(&r, &scfg, &p);
    sshbpp__wb_init(&blob);
    sshbpp__wb_cstring(&blob, "ssh-ed25519");
    sshbpp__wb_string(&blob, pub, sizeof(pub));
    /* 1: a password change (not offered) */
    req_head(&b, "alice", "ssh-connection", "password");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_cstring(&b, "old");
    sshbpp__wb_cstring(&b, "new");
    inject(&r, &r.c, &r.s, &b);
    /* 2: keyboard-interactive (not offered by the server side) */
    req_head(&b, "alice", "ssh-connection", "keyboard-interactive");
    sshbpp__wb_cstring(&b, "");
    sshbpp__wb_cstring(&b, "");
    inject(&r, &r.c, &r.s, &b);
    /* 3: another service */
    req_head(&b, "alice", "ssh-other", "password");
    sshbpp__wb_bool(&b, 0);
    sshbpp__wb_cstring(&b, "secret");
    inject(&r, &r.c, &r.s, &b);
    /* 4: a signature that does not verify */
    req_head(&b, "alice", "ssh-connection", "publickey");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_cstring(&b, "ssh-ed25519");
    sshbpp__wb_string(&b, blob.p, blob.len);
    sshbpp__wb_string(&b, sig, sizeof(sig));
    inject(&r, &r.c, &r.s, &b);
    /* 5: an algorithm outside pubkey_algs (ssh-rsa, SHA-1) */
    req_head(&b, "alice", "ssh-connection", "publickey");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_cstring(&b, "ssh-rsa");
    sshbpp__wb_string(&b, blob.p, blob.len);
    sshbpp__wb_string(&b, sig, sizeof(sig));
    inject(&r, &r.c, &r.s, &b);
    /* none reached the callback; each was a FAILURE with the default list */
    assert_int_equal(p.calls, 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(r.s.sent_types[51], 1 + 5);
    assert_int_equal(r.s.sent_types[52], 0);
    assert_int_equal(r.s.n[SSHBPP_CONN_EV_AUTH_RESULT], 1 + 5);
    assert_string_equal(r.s.last_methods, "publickey,password");
    assert_string_equal(r.s.last_alg, "publickey");
    assert_string_equal(r.s.last_user, "alice");
    /* each counted: the sixth failure is the end */
    req_head(&b, "alice", "ssh-connection", "hostbased");
    inject(&r, &r.c, &r.s, &b);
    expect_server_error(&r, SSHBPP_EAUTH);
    assert_int_equal(r.s.sent_types[1], 1);
    assert_int_equal(p.calls, 0);
    sshbpp__wb_free(&blob);
    cr_rig_free(&r);
}

static void
pk_query(sshbpp__wbuf *b)
{
    static const uint8_t pub[32] = {4};
    sshbpp__wbuf blob;

    sshbpp__wb_init(&blob);
    sshbpp__wb_cstring(&blob, "ssh-ed25519");
    sshbpp__wb_string(&blob, pub, sizeof(pub));
    req_head(b, "gus", "ssh-connection", "publickey");
    sshbpp__wb_bool(b, 0);
    sshbpp__wb_cstring(b, "ssh-ed25519");
    sshbpp__wb_string(b, blob.p, blob.len);
    sshbpp__wb_free(&blob);
}

static void
test_server_query_pk_ok_and_counting(void **state)
{
    struct policy p = {0};
    sshbpp_conn_config scfg;
    sshbpp__wbuf b;
    cr_rig r;
    unsigned i;

    (void)state;
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.max_auth_tries = 1;
    p.d = SSHBPP_AUTH_ACCEPT;
    server_ready(&r, &scfg, &p);
    /* the refused "none" of server_ready did not count (max 1), nor do
     * accepted queries (PK_OK) */
    for (i = 0; i < 3; i++) {
        pk_query(&b);
        inject(&r, &r.c, &r.s, &b);
    }
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(r.s.sent_types[60], 3); /* PK_OK */
    assert_int_equal(r.s.sent_types[51], 1);
    assert_int_equal(p.calls, 3);
    assert_int_equal(p.last_sig_ok, 0);
    assert_string_equal(p.method, "publickey");
    assert_false(sshbpp_conn_authenticated(r.s.c));
    /* partial success does not count either; its list is the callback's */
    p.d = SSHBPP_AUTH_PARTIAL;
    p.methods = "password";
    pk_query(&b);
    inject(&r, &r.c, &r.s, &b);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_string_equal(r.s.last_methods, "password");
    /* a callback that clears the list: the configured one is sent */
    p.d = SSHBPP_AUTH_PARTIAL;
    p.methods = NULL;
    p.null_methods = 1;
    pk_query(&b);
    inject(&r, &r.c, &r.s, &b);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_string_equal(r.s.last_methods, "publickey,password");
    assert_int_equal(r.s.last_partial, 1);
    /* a refused query counts (no probing of keys without limit) */
    p.d = SSHBPP_AUTH_REJECT;
    p.null_methods = 0;
    pk_query(&b);
    inject(&r, &r.c, &r.s, &b);
    expect_server_error(&r, SSHBPP_EAUTH);
    assert_int_equal(r.s.sent_types[1], 1);
    cr_rig_free(&r);
}

static void
test_server_no_callback_and_after_success(void **state)
{
    struct policy p = {0};
    sshbpp__wbuf b;
    cr_rig r;
    int failures;

    (void)state;
    /* no callback: everything is refused */
    server_ready(&r, NULL, NULL);
    req_head(&b, "alice", "ssh-connection", "password");
    sshbpp__wb_bool(&b, 0);
    sshbpp__wb_cstring(&b, "secret");
    inject(&r, &r.c, &r.s, &b);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(r.s.sent_types[51], 2);
    assert_false(sshbpp_conn_authenticated(r.s.c));
    cr_rig_free(&r);

    /* after success, further requests are ignored (RFC 4252 5.1) */
    p.d = SSHBPP_AUTH_ACCEPT;
    server_ready(&r, NULL, &p);
    req_head(&b, "alice", "ssh-connection", "password");
    sshbpp__wb_bool(&b, 0);
    sshbpp__wb_cstring(&b, "secret");
    inject(&r, &r.c, &r.s, &b);
    assert_true(sshbpp_conn_authenticated(r.s.c));
    assert_int_equal(r.s.sent_types[52], 1);
    assert_int_equal(r.s.last_success, 1);
    assert_string_equal(r.s.last_alg, "password");
    failures = r.s.sent_types[51];
    req_head(&b, "mallory", "ssh-connection", "password");
    sshbpp__wb_bool(&b, 0);
    sshbpp__wb_cstring(&b, "x");
    inject(&r, &r.c, &r.s, &b);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(p.calls, 1);
    assert_int_equal(r.s.sent_types[52], 1);
    assert_int_equal(r.s.sent_types[51], failures);
    assert_int_equal(r.s.n[SSHBPP_CONN_EV_AUTH_RESULT], 2); /* "none", then success */
    cr_rig_free(&r);
}

static void
test_server_application_message_before_auth(void **state)
{
    static const uint8_t msg[] = {90, 0, 0, 0, 1, 'x'};
    sshbpp__wbuf b;
    cr_rig r;

    (void)state;
    server_ready(&r, NULL, NULL);
    sshbpp__wb_init(&b);
    sshbpp__wb_raw(&b, msg, sizeof(msg));
    inject(&r, &r.c, &r.s, &b);
    expect_server_error(&r, SSHBPP_EPROTO);
    assert_int_equal(r.s.nmsgs, 0); /* never reached the caller */
    cr_rig_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_accept_unasked),
        cmocka_unit_test(test_client_accept_malformed),
        cmocka_unit_test(test_client_accept_without_name_then_success),
        cmocka_unit_test(test_client_result_malformed),
        cmocka_unit_test(test_client_partial_then_change_request),
        cmocka_unit_test(test_client_type60_out_of_order),
        cmocka_unit_test(test_client_banners),
        cmocka_unit_test(test_client_banner_cut_malformed_late),
        cmocka_unit_test(test_client_publickey_contract),
        cmocka_unit_test(test_client_signer_failures),
        cmocka_unit_test(test_client_rsa_algorithm_choice),
        cmocka_unit_test(test_client_kbdint_callback),
        cmocka_unit_test(test_client_kbdint_prompt_events),
        cmocka_unit_test(test_client_info_request_malformed),
        cmocka_unit_test(test_client_info_request_during_publickey),
        cmocka_unit_test(test_client_publickey_file_kept_and_dropped),
        cmocka_unit_test(test_client_auth_contract),
        cmocka_unit_test(test_server_service_request),
        cmocka_unit_test(test_server_request_malformed),
        cmocka_unit_test(test_server_refusals_unasked),
        cmocka_unit_test(test_server_query_pk_ok_and_counting),
        cmocka_unit_test(test_server_no_callback_and_after_success),
        cmocka_unit_test(test_server_application_message_before_auth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
