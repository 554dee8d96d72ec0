/*
 * test_conn_ported.c: what the blocking session's tests (test_session.c,
 * test_userauth.c, removed with src/kex/session.c) covered and test_conn.c
 * / test_conn_driver.c did not, on the connection object: a rekey refused
 * with SSH_MSG_UNIMPLEMENTED, the version exchange's edge cases, bad
 * arguments, the "none" method, publickey with every key type through the
 * keys layer's signer, RSA's signature algorithm from server-sig-algs, a
 * wrong key, bad key files, a failing signer, malformed and
 * unexpected answers of a server, and the getters probe uses
 * (sshbpp_conn_peer_kexinit_list, sshbpp_conn_auth_banner).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_conn.h"
#include "sshbpp/sshbpp_driver.h"
#include "sshbpp/sshbpp_keys.h"
#include "conn_rig.h"
#include "testutil.h"

/* The public key blob the server accepts (signed), or none. */
typedef struct accept_key {
    uint8_t blob[2048];
    size_t len;
    int queries, signed_ok;
    char alg[64]; /* the signature algorithm of the last signed attempt */
} accept_key;

static accept_key accepted;

static enum sshbpp_auth_decision
auth_cb(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    accept_key *k = ctx;

    (void)methods;
    if (strcmp(a->method, "publickey") != 0 || a->pubkey_len != k->len ||
        memcmp(a->pubkey_blob, k->blob, k->len) != 0)
        return SSHBPP_AUTH_REJECT;
    if (!a->signature_ok) {
        k->queries++;
        return SSHBPP_AUTH_ACCEPT; /* PK_OK */
    }
    k->signed_ok++;
    snprintf(k->alg, sizeof(k->alg), "%s", a->pubkey_alg);
    return SSHBPP_AUTH_ACCEPT;
}



/* ---- helpers ---------------------------------------------------------------- */

static char tmpdir[] = "/tmp/sshbpp_conn_ported_XXXXXX";

static void
key_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Sends payload straight from the server's engine: a hand-made server. */
static void
inject(cr_rig *r, const void *p, size_t n)
{
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(r->s.c), p, n), 0);
}

static void
inject_wb(cr_rig *r, sshbpp__wbuf *b)
{
    assert_int_equal(b->err, 0);
    inject(r, b->p, b->len);
    sshbpp__wb_free(b);
}

/* What the client sent is not delivered (the server's part is played by
 * inject()). */
static void
drop_client_output(cr_rig *r)
{
    size_t len;

    while (sshbpp_conn_tx_data(r->c.c, &len) != NULL && len > 0)
        sshbpp_conn_tx_consume(r->c.c, len);
}

static void
to_client(cr_rig *r)
{
    while (cr_rig_move(r, &r->s, &r->c) > 0)
        ;
    cr_drain_events(&r->c);
}

static void
service_accept(cr_rig *r, const char *name)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 6);
    if (name != NULL)
        sshbpp__wb_cstring(&b, name);
    inject_wb(r, &b);
}

static void
userauth_failure(cr_rig *r, const char *methods, int with_bool)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 51);
    sshbpp__wb_cstring(&b, methods);
    if (with_bool)
        sshbpp__wb_bool(&b, 0);
    inject_wb(r, &b);
}

static void
userauth_banner(cr_rig *r, const char *text)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 53);
    sshbpp__wb_cstring(&b, text);
    sshbpp__wb_cstring(&b, "");
    inject_wb(r, &b);
}

/* A rig after the handshake whose client has a "none" request underway
 * that the real server will not see. */
static void
fake_server_rig(cr_rig *r)
{
    cr_rig_init(r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(r);
    assert_int_equal(sshbpp_conn_auth_none(r->c.c, "bob"), 0);
    drop_client_output(r);
}

/* ---- rekey refused ------------------------------------------------------------ */

/* The server answers our KEXINIT with SSH_MSG_UNIMPLEMENTED naming it (as
 * sshd does before authentication): the conn fails with the sticky
 * SSHBPP_EREKEYREFUSED at once instead of waiting for a KEXINIT that never
 * comes; an UNIMPLEMENTED naming another packet first reaches the caller. */
static void
test_rekey_refused(void **state)
{
    uint8_t u[5] = {3, 0, 0, 0, 0};
    uint32_t seq;
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    assert_int_equal(r.c.sent_types[20], 1);
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    assert_int_equal(r.c.sent_types[20], 2);
    assert_true(sshbpp_conn_kex_running(r.c.c));
    seq = r.c.sent_seqno[20];
    drop_client_output(&r);
    tu_put_be32(u + 1, seq + 1000u);
    inject(&r, u, sizeof(u));
    tu_put_be32(u + 1, seq);
    inject(&r, u, sizeof(u));
    to_client(&r);
    assert_int_equal(r.c.nmsgs, 1);
    assert_int_equal(r.c.lens[0], 5);
    assert_int_equal(r.c.msgs[0][0], 3);
    assert_int_equal(tu_be32(r.c.msgs[0] + 1), seq + 1000u);
    assert_int_equal(r.c.error, SSHBPP_EREKEYREFUSED);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EREKEYREFUSED);
    assert_int_equal(sshbpp_conn_rekey(r.c.c), SSHBPP_EREKEYREFUSED);
    assert_int_equal(sshbpp_conn_send(r.c.c, "\x02\0\0\0\0", 5), SSHBPP_EREKEYREFUSED);
    cr_rig_free(&r);
}

/* ---- version exchange edge cases ---------------------------------------------- */

/* Feeds script to a new conn of role; returns its error (0 if none) and
 * the peer version it saw in ver. */
static int
version_of(enum sshbpp_role role, const char *script, size_t len, char *ver, size_t cap)
{
    sshbpp_conn_config cfg;
    sshbpp_conn_event ev;
    sshbpp_conn *c;
    int rc = 0, e;

    sshbpp_conn_config_init(&cfg, role);
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    if (role == SSHBPP_ROLE_SERVER)
        assert_int_equal(sshbpp_conn_generate_hostkey(c, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    if (ver != NULL)
        ver[0] = '\0';
    if (sshbpp_conn_feed(c, script, len, 0) != 0) {
        /* the error shows as an event */
    }
    while ((e = sshbpp_conn_next_event(c, &ev)) == 0) {
        if (ev.type == SSHBPP_CONN_EV_VERSION && ver != NULL)
            snprintf(ver, cap, "%s", ev.text);
        if (ev.type == SSHBPP_CONN_EV_ERROR)
            rc = ev.error;
    }
    assert_true(e == SSHBPP_EAGAIN || e == rc);
    if (ver != NULL && sshbpp_conn_peer_version(c) != NULL)
        assert_string_equal(ver, sshbpp_conn_peer_version(c));
    sshbpp_conn_free(c);
    return rc;
}

static void
test_version_edge_cases(void **state)
{
    char ver[300], *big;
    size_t i, n;

    (void)state;
    {
        static const char s[] = "Welcome\r\nto the server\nSSH-2.0-peer_1 comment\r\n";
        assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, s, strlen(s), ver, sizeof(ver)), 0);
        assert_string_equal(ver, "SSH-2.0-peer_1 comment");
    }
    {
        static const char s[] = "SSH-1.99-old\r\n"; /* "2.0 too" */
        assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, s, strlen(s), ver, sizeof(ver)), 0);
        assert_string_equal(ver, "SSH-1.99-old");
    }
    {
        static const char s[] = "hello\r\nSSH-2.0-x\r\n"; /* a server takes no lines before */
        assert_int_equal(version_of(SSHBPP_ROLE_SERVER, s, strlen(s), NULL, 0), SSHBPP_EBANNER);
    }
    {
        static const char s[] = "SSH-1.5-ancient\r\n";
        assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, s, strlen(s), NULL, 0), SSHBPP_EVERSION);
        assert_int_equal(version_of(SSHBPP_ROLE_SERVER, s, strlen(s), NULL, 0), SSHBPP_EVERSION);
    }
    {
        static const char s[] = "SSH-2.0-\r\n"; /* softwareversion is mandatory */
        assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, s, strlen(s), NULL, 0), SSHBPP_EBANNER);
    }
    big = malloc(20000);
    assert_non_null(big);
    /* exactly 255 bytes with CR LF is fine, 256 is not */
    for (n = 253; n <= 254; n++) {
        memcpy(big, "SSH-2.0-", 8);
        memset(big + 8, 'v', n - 8);
        memcpy(big + n, "\r\n", 2);
        assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, big, n + 2, ver, sizeof(ver)),
                         n == 253 ? 0 : SSHBPP_EBANNER);
        if (n == 253)
            assert_int_equal(strlen(ver), 253);
    }
    /* far too long, no newline in sight */
    memcpy(big, "SSH-2.0-", 8);
    memset(big + 8, 'v', 9000);
    assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, big, 9008, NULL, 0), SSHBPP_EBANNER);
    /* 1025 lines before the version are too many, 1024 are tolerated */
    for (i = 0, n = 0; i < 1025; i++, n += 3)
        memcpy(big + n, "x\r\n", 3);
    memcpy(big + n, "SSH-2.0-late\r\n", 14);
    assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, big, n + 14, NULL, 0), SSHBPP_EBANNER);
    assert_int_equal(version_of(SSHBPP_ROLE_CLIENT, big + 3, n - 3 + 14, ver, sizeof(ver)), 0);
    assert_string_equal(ver, "SSH-2.0-late");
    free(big);
}

/* ---- bad arguments, getters before anything arrived -------------------------- */

static void
test_bad_arguments(void **state)
{
    sshbpp_conn_config cfg;
    sshbpp_conn *c;

    (void)state;
    assert_null(sshbpp_conn_new(NULL));
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.role = (enum sshbpp_role)5;
    assert_null(sshbpp_conn_new(&cfg));
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.software_version = "bad\r\nname";
    assert_null(sshbpp_conn_new(&cfg));
    cfg.software_version = "";
    assert_null(sshbpp_conn_new(&cfg));
    cfg.software_version = NULL;
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    /* before the handshake nothing else works */
    assert_int_equal(sshbpp_conn_rekey(c), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_none(c, "x"), SSHBPP_ESTATE);
    assert_null(sshbpp_conn_peer_version(c));
    assert_null(sshbpp_conn_peer_kexinit_list(c, SSHBPP_KEXINIT_KEX));
    assert_null(sshbpp_conn_peer_kexinit_list(c, SSHBPP_KEXINIT_NLISTS));
    assert_null(sshbpp_conn_auth_banner(c));
    assert_null(sshbpp_conn_server_sig_algs(c));
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_start(c, 0), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_feed(c, NULL, 1, 0), SSHBPP_EINVAL);
    sshbpp_conn_free(c);
    assert_null(sshbpp_conn_peer_kexinit_list(NULL, SSHBPP_KEXINIT_KEX));
    assert_null(sshbpp_conn_auth_banner(NULL));
    sshbpp_conn_free(NULL);
}

/* ---- the server's KEXINIT lists (probe's JSON) --------------------------------- */

static void
test_peer_kexinit_lists(void **state)
{
    sshbpp_conn_config scfg;
    const char *l;
    cr_rig r;
    int i;

    (void)state;
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.kex.ciphers = "aes256-ctr,aes128-ctr";
    cr_rig_init(&r, NULL, &scfg, auth_cb, &accepted);
    r.c.hostkey_policy = -1; /* the lists are there at the host key event */
    cr_rig_start(&r);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HOSTKEY], 1);
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++)
        assert_non_null(sshbpp_conn_peer_kexinit_list(r.c.c, (enum sshbpp_kexinit_list)i));
    assert_string_equal(sshbpp_conn_peer_kexinit_list(r.c.c, SSHBPP_KEXINIT_CIPHER_C2S),
                        "aes256-ctr,aes128-ctr");
    assert_string_equal(sshbpp_conn_peer_kexinit_list(r.c.c, SSHBPP_KEXINIT_CIPHER_S2C),
                        "aes256-ctr,aes128-ctr");
    l = sshbpp_conn_peer_kexinit_list(r.c.c, SSHBPP_KEXINIT_HOSTKEY);
    assert_string_equal(l, "ssh-ed25519");
    assert_string_equal(sshbpp_conn_peer_kexinit_list(r.c.c, SSHBPP_KEXINIT_LANG_C2S), "");
    assert_int_equal(sshbpp_conn_hostkey_verdict(r.c.c, 1), 0);
    cr_rig_pump(&r);
    assert_true(sshbpp_conn_handshake_done(r.c.c));
    cr_rig_free(&r);
}

/* ---- "none", banners, malformed and unexpected answers ------------------------- */

static void
test_none_refused_methods(void **state)
{
    cr_rig r;

    (void)state;
    memset(&accepted, 0, sizeof(accepted));
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), 0);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), SSHBPP_ESTATE); /* one at a time */
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_false(r.c.last_success);
    assert_string_equal(r.c.last_methods, "publickey,password");
    assert_false(sshbpp_conn_authenticated(r.c.c));
    assert_null(sshbpp_conn_auth_banner(r.c.c));
    /* a second "none" is answered the same (probe's final check) */
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 2);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    cr_rig_free(&r);
}

static void
test_banner_kept_sanitised(void **state)
{
    char want[SSHBPP_CONN_BANNER_MAX];
    char *longb;
    cr_rig r;
    int i;

    (void)state;
    fake_server_rig(&r);
    service_accept(&r, "ssh-userauth");
    userauth_banner(&r, "Welcome\r\n\x1b[31mred\tline\n");
    userauth_banner(&r, "second banner");
    userauth_failure(&r, "publickey", 1);
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_string_equal(r.c.last_methods, "publickey");
    assert_string_equal(sshbpp_conn_auth_banner(r.c.c), "Welcome\r\n?[31mred\tline\n");
    cr_rig_free(&r);

    /* a long one is cut to the bound */
    fake_server_rig(&r);
    longb = malloc(3 * SSHBPP_CONN_BANNER_MAX);
    assert_non_null(longb);
    memset(longb, 'b', 3 * SSHBPP_CONN_BANNER_MAX - 1);
    longb[3 * SSHBPP_CONN_BANNER_MAX - 1] = '\0';
    service_accept(&r, "ssh-userauth");
    userauth_banner(&r, longb);
    to_client(&r);
    memset(want, 'b', sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    assert_string_equal(sshbpp_conn_auth_banner(r.c.c), want);
    free(longb);
    cr_rig_free(&r);

    /* more banners than any server needs: EAUTH */
    fake_server_rig(&r);
    service_accept(&r, "ssh-userauth");
    for (i = 0; i < 17; i++)
        userauth_banner(&r, "again");
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    cr_rig_free(&r);
}

static void
test_malformed_answers(void **state)
{
    static const uint8_t success_extra[2] = {52, 0};
    static const uint8_t success[1] = {52};
    static const uint8_t odd70[1] = {70};
    cr_rig r;

    (void)state;
    /* SERVICE_ACCEPT for another service */
    fake_server_rig(&r);
    service_accept(&r, "ssh-connection");
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    assert_int_equal(r.c.error, SSHBPP_EAUTH);
    cr_rig_free(&r);

    /* an accept without a name is taken (old servers), and the answer
     * then decides: SUCCESS with trailing bytes is malformed */
    fake_server_rig(&r);
    service_accept(&r, NULL);
    inject(&r, success_extra, sizeof(success_extra));
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    cr_rig_free(&r);

    /* FAILURE without its boolean */
    fake_server_rig(&r);
    service_accept(&r, "ssh-userauth");
    userauth_failure(&r, "password", 0);
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    cr_rig_free(&r);

    /* FAILURE with a byte too many, FAILURE whose name-list holds a NUL,
     * PK_OK in answer to "none" (a query we never made) */
    {
        static const uint8_t trailing[] = {51, 0, 0, 0, 8, 'p', 'a', 's', 's', 'w', 'o', 'r', 'd',
                                           0, 0};
        static const uint8_t nul[] = {51, 0, 0, 0, 8, 'p', 'a', 's', 's', 0, 'o', 'r', 'd', 0};
        static const uint8_t pk_ok[] = {60, 0, 0, 0, 0, 0, 0, 0, 0};
        const uint8_t *bad[3] = {trailing, nul, pk_ok};
        const size_t badlen[3] = {sizeof(trailing), sizeof(nul), sizeof(pk_ok)};
        int i;

        for (i = 0; i < 3; i++) {
            fake_server_rig(&r);
            service_accept(&r, "ssh-userauth");
            inject(&r, bad[i], badlen[i]);
            to_client(&r);
            assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
            assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 0);
            cr_rig_free(&r);
        }
    }

    /* SUCCESS before the service was accepted */
    fake_server_rig(&r);
    inject(&r, success, sizeof(success));
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    assert_false(sshbpp_conn_authenticated(r.c.c));
    cr_rig_free(&r);

    /* a userauth message type nobody asked for */
    fake_server_rig(&r);
    service_accept(&r, "ssh-userauth");
    inject(&r, odd70, sizeof(odd70));
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    cr_rig_free(&r);

    /* a well-formed exchange for comparison: SUCCESS ends it */
    fake_server_rig(&r);
    service_accept(&r, "ssh-userauth");
    inject(&r, success, sizeof(success));
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_true(sshbpp_conn_authenticated(r.c.c));
    /* and a banner after success is out of place */
    userauth_banner(&r, "late");
    to_client(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAUTH);
    cr_rig_free(&r);
}

/* ---- publickey through the keys layer's signer --------------------------------- */

static void
publickey_with(const char *file, int accept, const char *want_alg)
{
    char path[256];
    sshbpp_key *k = NULL;
    uint8_t blob[2048];
    size_t blen = 0;
    cr_rig r;

    key_path(path, sizeof(path), file);
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, NULL), 0);
    assert_int_equal(sshbpp_key_public_blob(k, blob, sizeof(blob), &blen), 0);
    memset(&accepted, 0, sizeof(accepted));
    if (accept) {
        memcpy(accepted.blob, blob, blen);
        accepted.len = blen;
    }
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "bob", blob, blen, sshbpp_key_sign_cb, k),
                     0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    assert_int_equal(r.c.last_success, accept);
    assert_int_equal(sshbpp_conn_authenticated(r.c.c), accept);
    assert_int_equal(sshbpp_conn_authenticated(r.s.c), accept);
    if (accept) {
        assert_int_equal(accepted.signed_ok, 1);
        assert_string_equal(r.s.last_alg, "publickey");
        assert_string_equal(r.s.last_user, "bob");
    } else {
        assert_string_equal(r.c.last_methods, "publickey,password");
    }
    if (want_alg != NULL) {
        const char *ssa = sshbpp_conn_server_sig_algs(r.c.c);
        assert_non_null(ssa);
        assert_non_null(strstr(ssa, want_alg));
    }
    sshbpp_key_free(k);
    cr_rig_free(&r);
}

static void
test_publickey_each_type(void **state)
{
    (void)state;
    publickey_with("ed25519.pem", 1, NULL);
    publickey_with("p256.pem", 1, NULL);
    publickey_with("p384.pem", 1, NULL);
    publickey_with("p521.pem", 1, NULL);
    publickey_with("rsa.pem", 1, "rsa-sha2-512");
}

/* RSA's signature algorithm follows the server-sig-algs of the server's
 * latest EXT_INFO: rsa-sha2-512 if listed, else rsa-sha2-256, never
 * ssh-rsa. The server's own EXT_INFO is replaced by one sent here. */
static void
rsa_alg_case(const char *ssa, const char *want)
{
    char path[256];
    sshbpp_key *k = NULL;
    uint8_t blob[2048];
    size_t blen = 0;
    sshbpp__wbuf b;
    cr_rig r;

    key_path(path, sizeof(path), "rsa.pem");
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, NULL), 0);
    assert_int_equal(sshbpp_key_public_blob(k, blob, sizeof(blob), &blen), 0);
    memset(&accepted, 0, sizeof(accepted));
    memcpy(accepted.blob, blob, blen);
    accepted.len = blen;
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 7);
    sshbpp__wb_u32(&b, 1);
    sshbpp__wb_cstring(&b, "server-sig-algs");
    sshbpp__wb_cstring(&b, ssa);
    inject_wb(&r, &b);
    to_client(&r);
    assert_string_equal(sshbpp_conn_server_sig_algs(r.c.c), ssa);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "bob", blob, blen, sshbpp_key_sign_cb, k),
                     0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_true(sshbpp_conn_authenticated(r.c.c));
    assert_int_equal(accepted.signed_ok, 1);
    assert_string_equal(accepted.alg, want);
    sshbpp_key_free(k);
    cr_rig_free(&r);
}

static void
test_publickey_rsa_alg_choice(void **state)
{
    (void)state;
    rsa_alg_case("ssh-ed25519,rsa-sha2-256,ssh-rsa", "rsa-sha2-256");
    rsa_alg_case("ssh-rsa", "rsa-sha2-256");
    rsa_alg_case("rsa-sha2-256,rsa-sha2-512", "rsa-sha2-512");
}

static void
test_publickey_wrong_key(void **state)
{
    (void)state;
    publickey_with("ed25519.pem", 0, NULL);
    publickey_with("rsa.pem", 0, NULL);
}

static void
test_publickey_bad_keyfile(void **state)
{
    char path[256];
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    key_path(path, sizeof(path), "missing.pem");
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", path), SSHBPP_EIO);
    key_path(path, sizeof(path), "garbage.pem");
    /* the keys layer's code for a file it cannot parse */
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", path), SSHBPP_EKEYFILE);
    key_path(path, sizeof(path), "rsa1024.pem");
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", path), SSHBPP_EKEYTYPE);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "bob", NULL, 0, sshbpp_key_sign_cb, NULL),
                     SSHBPP_EINVAL);
    /* nothing went out, and the conn is still usable */
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "bob"), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_AUTH_RESULT], 1);
    cr_rig_free(&r);
}

/* A signer that fails fails the connection: the request cannot go out. */
static int
failing_signer(void *ctx, const char *alg, const uint8_t *data, size_t len, uint8_t *sig,
               size_t cap, size_t *sig_len)
{
    (void)ctx;
    (void)alg;
    (void)data;
    (void)len;
    (void)sig;
    (void)cap;
    (void)sig_len;
    return SSHBPP_EAGENTREFUSED;
}

static void
test_publickey_signer_fails(void **state)
{
    char path[256];
    sshbpp_key *k = NULL;
    uint8_t blob[2048];
    size_t blen = 0;
    cr_rig r;

    (void)state;
    key_path(path, sizeof(path), "ed25519.pem");
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, NULL), 0);
    assert_int_equal(sshbpp_key_public_blob(k, blob, sizeof(blob), &blen), 0);
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "bob", blob, blen, failing_signer, NULL),
                     0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EAGENTREFUSED);
    assert_false(sshbpp_conn_authenticated(r.s.c));
    sshbpp_key_free(k);
    cr_rig_free(&r);
}

/* ---- rekeys crossing, and rekeys without a reading thread -------------------- */

/* Logs the rig's client in with the ed25519 key. */
static void
login_pk(cr_rig *r)
{
    char path[256];
    sshbpp_key *k = NULL;
    uint8_t blob[2048];
    size_t blen = 0;

    key_path(path, sizeof(path), "ed25519.pem");
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, NULL), 0);
    assert_int_equal(sshbpp_key_public_blob(k, blob, sizeof(blob), &blen), 0);
    memset(&accepted, 0, sizeof(accepted));
    memcpy(accepted.blob, blob, blen);
    accepted.len = blen;
    assert_int_equal(sshbpp_conn_auth_publickey(r->c.c, "bob", blob, blen, sshbpp_key_sign_cb, k),
                     0);
    cr_rig_pump(r);
    sshbpp_key_free(k);
    assert_true(sshbpp_conn_authenticated(r->c.c));
    assert_true(sshbpp_conn_authenticated(r->s.c));
}

/* Both sides start a rekey at once with messages queued on both: the
 * KEXINITs cross, one exchange runs, the messages arrive in order after it. */
static void
test_rekey_crossing_queued(void **state)
{
    uint8_t m[2] = {200, 0};
    cr_rig r;
    int i;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, &accepted);
    cr_rig_handshake(&r);
    login_pk(&r);
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    assert_int_equal(sshbpp_conn_rekey(r.s.c), 0);
    for (i = 0; i < 10; i++) {
        m[1] = (uint8_t)i;
        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
        assert_int_equal(sshbpp_conn_send(r.s.c, m, sizeof(m)), 0);
    }
    assert_int_equal(sshbpp_conn_queued(r.c.c), 10);
    assert_int_equal(sshbpp_conn_queued(r.s.c), 10);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(sshbpp_conn_kex_count(r.c.c), 2);
    assert_int_equal(sshbpp_conn_kex_count(r.s.c), 2);
    assert_int_equal(r.c.sent_types[20], 2);
    assert_int_equal(r.s.sent_types[20], 2);
    assert_int_equal(r.c.nmsgs, 10);
    assert_int_equal(r.s.nmsgs, 10);
    for (i = 0; i < 10; i++) {
        assert_int_equal(r.c.msgs[i][1], i);
        assert_int_equal(r.s.msgs[i][1], i);
    }
    cr_rig_free(&r);
}

struct srv_thread {
    sshbpp_driver *d;
    pthread_t th;
    int rc, got;
};

static enum sshbpp_auth_decision
accept_none(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    (void)methods;
    return strcmp(a->method, "none") == 0 ? SSHBPP_AUTH_ACCEPT : SSHBPP_AUTH_REJECT;
}

static int
any_key(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)alg;
    (void)blob;
    (void)len;
    return strncmp(fp, "SHA256:", 7) == 0;
}

/* The server: handshake, wait for the login, take one message, then start
 * a rekey itself (no other server thread reads) and answer. */
static void *
srv_main(void *arg)
{
    struct srv_thread *t = arg;
    uint8_t buf[64];
    size_t len = 0;

    if ((t->rc = sshbpp_driver_handshake(t->d, 10000)) != 0 ||
        (t->rc = sshbpp_driver_wait_auth(t->d, 10000)) != 0 ||
        (t->rc = sshbpp_driver_recv(t->d, buf, sizeof(buf), &len, 10000)) != 0)
        return NULL;
    t->got = (int)len;
    if ((t->rc = sshbpp_driver_rekey(t->d, 10000)) != 0)
        return NULL;
    t->rc = sshbpp_driver_send(t->d, buf, len, 10000);
    return NULL;
}

static void
test_driver_rekey_without_reader(void **state)
{
    static const uint8_t msg[4] = {200, 1, 2, 3};
    sshbpp_conn_config ccfg, scfg;
    struct srv_thread t;
    sshbpp_driver *c;
    sshbpp_kex_info info;
    uint8_t buf[64];
    size_t len = 0;
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.auth_cb = accept_none;
    memset(&t, 0, sizeof(t));
    c = sshbpp_driver_new(sv[0], &ccfg);
    t.d = sshbpp_driver_new(sv[1], &scfg);
    assert_non_null(c);
    assert_non_null(t.d);
    assert_int_equal(sshbpp_conn_generate_hostkey(sshbpp_driver_conn(t.d), "ssh-ed25519"), 0);
    sshbpp_driver_set_hostkey_cb(c, any_key, NULL);
    assert_int_equal(pthread_create(&t.th, NULL, srv_main, &t), 0);
    assert_int_equal(sshbpp_driver_handshake(c, 10000), 0);
    assert_int_equal(sshbpp_driver_auth_none(c, "bob", 10000), 0);
    /* our rekey, with no thread of ours in recv: the call reads itself */
    assert_int_equal(sshbpp_driver_rekey(c, 10000), 0);
    assert_int_equal(sshbpp_driver_get_info(c, &info), 0);
    assert_int_equal(info.rekeys, 1);
    assert_int_equal(sshbpp_driver_send(c, msg, sizeof(msg), 10000), 0);
    /* the server's rekey completes while we wait in recv for its answer */
    assert_int_equal(sshbpp_driver_recv(c, buf, sizeof(buf), &len, 10000), 0);
    assert_int_equal(len, sizeof(msg));
    assert_memory_equal(buf, msg, sizeof(msg));
    pthread_join(t.th, NULL);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.got, (int)sizeof(msg));
    assert_int_equal(sshbpp_driver_get_info(c, &info), 0);
    assert_int_equal(info.rekeys, 2);
    sshbpp_driver_free(c);
    sshbpp_driver_free(t.d);
}

/* ---- setup ---------------------------------------------------------------------- */

static int
group_setup(void **state)
{
    char cmd[2048];
    FILE *f;

    (void)state;
    if (system("command -v openssl >/dev/null") != 0) {
        fprintf(stderr, "openssl (the command) is required\n");
        return -1;
    }
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl genpkey -algorithm ed25519 > ed25519.pem 2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 > p256.pem "
             "2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 > p384.pem "
             "2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 > p521.pem "
             "2>/dev/null && "
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 > rsa.pem 2>/dev/null && "
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 > rsa1024.pem "
             "2>/dev/null",
             tmpdir);
    if (system(cmd) != 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "%s/garbage.pem", tmpdir);
    if ((f = fopen(cmd, "w")) == NULL)
        return -1;
    fputs("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    return 0;
}

static int
group_teardown(void **state)
{
    char cmd[600];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rekey_refused),
        cmocka_unit_test(test_version_edge_cases),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_peer_kexinit_lists),
        cmocka_unit_test(test_none_refused_methods),
        cmocka_unit_test(test_banner_kept_sanitised),
        cmocka_unit_test(test_malformed_answers),
        cmocka_unit_test(test_publickey_each_type),
        cmocka_unit_test(test_publickey_rsa_alg_choice),
        cmocka_unit_test(test_publickey_wrong_key),
        cmocka_unit_test(test_publickey_bad_keyfile),
        cmocka_unit_test(test_publickey_signer_fails),
        cmocka_unit_test(test_rekey_crossing_queued),
        cmocka_unit_test(test_driver_rekey_without_reader),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
