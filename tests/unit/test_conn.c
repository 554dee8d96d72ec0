/*
 * test_conn.c: the sans-I/O connection object (sshbpp_conn.h), two conns
 * pumped against each other in memory: handshake (whole and one byte at a
 * time), host key verdict before NEWKEYS, strict KEX, user authentication
 * both sides, the bounded queue during a rekey, automatic rekeys,
 * DISCONNECT reason and text, deadlines and keepalives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_conn.h"
#include "conn_rig.h"
#include "testutil.h"

void sshbpp__kex_test_no_strict(sshbpp_kex *k);
void sshbpp__kex_test_swap_hostkeys(sshbpp_kex *k);
sshbpp_kex *sshbpp__conn_kex(sshbpp_conn *c);

static char tmpdir[] = "/tmp/sshbpp_conn_XXXXXX";
static char ed_path[64], rsa_path[64], other_path[64];
static sshbpp__wbuf ed_blob, rsa_blob;

/* ---- server auth policy ------------------------------------------------- */

/* The last publickey attempt the server's callback was asked about. */
static int seen_pk_calls, seen_pk_sig_ok;
static char seen_pk_alg[64];

static enum sshbpp_auth_decision
auth_cb(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    if (strcmp(a->method, "publickey") == 0) {
        seen_pk_calls++;
        seen_pk_sig_ok = a->signature_ok;
        snprintf(seen_pk_alg, sizeof(seen_pk_alg), "%s", a->pubkey_alg);
    }
    if (strcmp(a->method, "password") == 0) {
        if (strcmp(a->user, "partial") == 0 && strcmp(a->password, "first") == 0) {
            *methods = "publickey";
            return SSHBPP_AUTH_PARTIAL;
        }
        return strcmp(a->user, "alice") == 0 && strcmp(a->password, "secret") == 0
                   ? SSHBPP_AUTH_ACCEPT
                   : SSHBPP_AUTH_REJECT;
    }
    if (strcmp(a->method, "publickey") == 0) {
        int known =
            (a->pubkey_len == ed_blob.len && memcmp(a->pubkey_blob, ed_blob.p, ed_blob.len) == 0) ||
            (a->pubkey_len == rsa_blob.len &&
             memcmp(a->pubkey_blob, rsa_blob.p, rsa_blob.len) == 0);
        return known ? SSHBPP_AUTH_ACCEPT : SSHBPP_AUTH_REJECT;
    }
    return SSHBPP_AUTH_REJECT;
}


static void
login(cr_rig *r)
{
    assert_int_equal(sshbpp_conn_auth_password(r->c.c, "alice", "secret"), 0);
    cr_rig_pump(r);
    assert_true(sshbpp_conn_authenticated(r->c.c));
    assert_true(sshbpp_conn_authenticated(r->s.c));
}

/* ---- setup ----------------------------------------------------------------- */

static void
blob_of(const char *path, sshbpp__wbuf *out)
{
    sshbpp__hostkey hk;

    memset(&hk, 0, sizeof(hk));
    sshbpp__wb_init(out);
    if (sshbpp__hostkey_load_file(&hk, path) != 0 || sshbpp__hostkey_put_blob(&hk, out) != 0)
        abort();
    sshbpp__hostkey_free(&hk);
}

static int
group_setup(void **state)
{
    char cmd[1024];

    (void)state;
    if (system("command -v openssl >/dev/null") != 0) {
        fprintf(stderr, "openssl (the command) is required\n");
        return -1;
    }
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(ed_path, sizeof(ed_path), "%s/ed.pem", tmpdir);
    snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.pem", tmpdir);
    snprintf(other_path, sizeof(other_path), "%s/other.pem", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm ed25519 > %s 2>/dev/null && "
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 > %s 2>/dev/null && "
             "openssl genpkey -algorithm ed25519 > %s 2>/dev/null",
             ed_path, rsa_path, other_path);
    if (system(cmd) != 0)
        return -1;
    blob_of(ed_path, &ed_blob);
    blob_of(rsa_path, &rsa_blob);
    return 0;
}

static int
group_teardown(void **state)
{
    char cmd[600];

    (void)state;
    sshbpp__wb_free(&ed_blob);
    sshbpp__wb_free(&rsa_blob);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_handshake_basic(void **state)
{
    cr_rig r;
    sshbpp_kex_info ci, si;
    size_t l1 = 0, l2 = 0;
    const uint8_t *id1, *id2;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_VERSION], 1);
    assert_int_equal(r.s.n[SSHBPP_CONN_EV_VERSION], 1);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HOSTKEY], 1);
    assert_int_equal(r.s.n[SSHBPP_CONN_EV_HOSTKEY], 0);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HANDSHAKE_DONE], 1);
    assert_int_equal(r.s.n[SSHBPP_CONN_EV_HANDSHAKE_DONE], 1);
    assert_string_equal(r.c.version, sshbpp_conn_peer_version(r.c.c));
    assert_true(strncmp(r.c.version, "SSH-2.0-sshbpp_", 15) == 0);
    assert_int_equal(sshbpp_conn_get_info(r.c.c, &ci), 0);
    assert_int_equal(sshbpp_conn_get_info(r.s.c, &si), 0);
    assert_string_equal(ci.kex, si.kex);
    assert_string_equal(ci.hostkey_fingerprint, r.c.fingerprint);
    assert_int_equal(ci.strict_kex, 1);
    {
        /* strict KEX: sequence numbers restart at NEWKEYS; the client has
         * sent nothing since its NEWKEYS, the server only EXT_INFO */
        sshbpp_stats cst, sst;

        sshbpp_engine_get_stats(sshbpp_conn_engine(r.c.c), SSHBPP_DIR_OUT, &cst);
        sshbpp_engine_get_stats(sshbpp_conn_engine(r.s.c), SSHBPP_DIR_OUT, &sst);
        assert_int_equal(cst.seqno, 0);
        assert_int_equal(sst.seqno, 1);
    }
    id1 = sshbpp_conn_session_id(r.c.c, &l1);
    id2 = sshbpp_conn_session_id(r.s.c, &l2);
    assert_non_null(id1);
    assert_int_equal(l1, l2);
    assert_memory_equal(id1, id2, l1);
    /* EXT_INFO came right after the server's NEWKEYS: known now. */
    assert_non_null(sshbpp_conn_server_sig_algs(r.c.c));
    assert_non_null(strstr(sshbpp_conn_server_sig_algs(r.c.c), "rsa-sha2-512"));
    cr_rig_free(&r);
}

static void
test_handshake_byte_at_a_time(void **state)
{
    cr_rig r;
    uint8_t msg[300];

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    r.chunk = 1;
    cr_rig_handshake(&r);
    login(&r);
    memset(msg, 0xab, sizeof(msg));
    msg[0] = 200;
    assert_int_equal(sshbpp_conn_send(r.c.c, msg, sizeof(msg)), 0);
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    assert_int_equal(sshbpp_conn_send(r.c.c, msg, sizeof(msg)), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.s.nmsgs, 2);
    assert_int_equal(sshbpp_conn_kex_count(r.c.c), 2);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_REKEY_DONE], 1);
    assert_int_equal(r.s.n[SSHBPP_CONN_EV_REKEY_DONE], 1);
    cr_rig_free(&r);
}

static void
test_every_kex_method(void **state)
{
    const char *const *m;
    sshbpp_kex_info info;

    (void)state;
    /* The default methods: the legacy ones are not in the server's list. */
    for (m = sshbpp__kex_defaults(); *m != NULL; m++) {
        sshbpp_conn_config cfg;
        cr_rig r;

        sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
        cfg.kex.kex = *m;
        cr_rig_init(&r, &cfg, NULL, auth_cb, NULL);
        cr_rig_handshake(&r);
        assert_int_equal(sshbpp_conn_get_info(r.c.c, &info), 0);
        assert_string_equal(info.kex, *m);
        cr_rig_free(&r);
    }
}

static void
test_hostkey_refused_before_newkeys(void **state)
{
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    r.c.hostkey_policy = 0;
    cr_rig_start(&r);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HOSTKEY], 1);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EHOSTKEYREJECTED);
    assert_int_equal(r.c.error, SSHBPP_EHOSTKEYREJECTED);
    /* No NEWKEYS left the client; a DISCONNECT did. */
    assert_int_equal(r.c.sent_types[21], 0);
    assert_int_equal(r.c.sent_types[1], 1);
    assert_int_equal(r.s.disc_code, SSHBPP_DISCONNECT_HOST_KEY_NOT_VERIFIABLE);
    assert_int_equal(sshbpp_conn_error(r.s.c), SSHBPP_EDISCONNECT);
    assert_false(sshbpp_conn_handshake_done(r.c.c));
    cr_rig_free(&r);
}

static void
test_hostkey_pending_pauses(void **state)
{
    cr_rig r;
    size_t len;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    r.c.hostkey_policy = -1;
    cr_rig_start(&r);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HOSTKEY], 1);
    assert_int_equal(r.c.sent_types[21], 0);
    assert_false(sshbpp_conn_handshake_done(r.c.c));
    assert_null(sshbpp_conn_tx_data(r.c.c, &len));
    /* Messages the caller sends meanwhile wait. */
    {
        uint8_t m[4] = {200, 1, 2, 3};
        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
        assert_int_equal(sshbpp_conn_queued(r.c.c), 1);
    }
    assert_int_equal(sshbpp_conn_hostkey_verdict(r.c.c, 1), 0);
    assert_int_equal(sshbpp_conn_hostkey_verdict(r.c.c, 1), SSHBPP_ESTATE);
    cr_rig_pump(&r);
    assert_true(sshbpp_conn_handshake_done(r.c.c));
    assert_int_equal(r.c.sent_types[21], 1);
    cr_rig_free(&r);
}

static void
test_strict_kex_off_when_one_side_lacks_it(void **state)
{
    cr_rig r;
    sshbpp_kex_info info;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    sshbpp__kex_test_no_strict(sshbpp__conn_kex(r.s.c));
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_get_info(r.c.c, &info), 0);
    assert_int_equal(info.strict_kex, 0);
    {
        /* without it the numbers run on: KEXINIT, ECDH_INIT, NEWKEYS */
        sshbpp_stats cst;

        sshbpp_engine_get_stats(sshbpp_conn_engine(r.c.c), SSHBPP_DIR_OUT, &cst);
        assert_int_equal(cst.seqno, 3);
    }
    cr_rig_free(&r);
}

static void
test_strict_kex_violation(void **state)
{
    static const uint8_t ignore[5] = {2, 0, 0, 0, 0};
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_start(&r);
    /* The server's first packet is an IGNORE, so its KEXINIT is number 1. */
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(r.s.c), ignore, sizeof(ignore)), 0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_ESTRICTKEX);
    assert_int_equal(r.c.error, SSHBPP_ESTRICTKEX);
    cr_rig_free(&r);
}

static void
test_nonstrict_ignore_tolerated(void **state)
{
    static const uint8_t ignore[5] = {2, 0, 0, 0, 0};
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    sshbpp__kex_test_no_strict(sshbpp__conn_kex(r.s.c));
    cr_rig_start(&r);
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(r.s.c), ignore, sizeof(ignore)), 0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_true(sshbpp_conn_handshake_done(r.c.c));
    cr_rig_free(&r);
}

static void
test_auth_password(void **state)
{
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "alice"), 0);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "alice"), SSHBPP_ESTATE);
    cr_rig_pump(&r);
    assert_int_equal(r.c.last_success, 0);
    assert_string_equal(r.c.last_methods, "publickey,password");
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "alice", "wrong"), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.last_success, 0);
    assert_false(sshbpp_conn_authenticated(r.c.c));
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "alice", "secret"), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.last_success, 1);
    assert_true(sshbpp_conn_authenticated(r.c.c));
    assert_int_equal(r.s.last_success, 1);
    assert_string_equal(r.s.last_user, "alice");
    assert_string_equal(r.s.last_alg, "password");
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "alice"), SSHBPP_ESTATE);
    cr_rig_free(&r);
}

static void
test_auth_before_handshake_done(void **state)
{
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_start(&r);
    assert_int_equal(sshbpp_conn_auth_none(r.c.c, "alice"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_conn_auth_none(r.s.c, "alice"), SSHBPP_ESTATE);
    cr_rig_free(&r);
}

static void
test_auth_partial_then_publickey(void **state)
{
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_auth_password(r.c.c, "partial", "first"), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.last_success, 0);
    assert_int_equal(r.c.last_partial, 1);
    assert_string_equal(r.c.last_methods, "publickey");
    assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "partial", ed_path), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.last_success, 1);
    assert_string_equal(r.s.last_alg, "publickey");
    cr_rig_free(&r);
}

static void
test_auth_publickey_file(void **state)
{
    const char *paths[2] = {ed_path, rsa_path};
    int i;

    (void)state;
    for (i = 0; i < 2; i++) {
        cr_rig r;

        cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
        cr_rig_handshake(&r);
        /* An unknown key is refused, the connection goes on. */
        assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", other_path), 0);
        cr_rig_pump(&r);
        assert_int_equal(r.c.last_success, 0);
        assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", "/nonexistent"), SSHBPP_EIO);
        assert_int_equal(sshbpp_conn_auth_publickey_file(r.c.c, "bob", paths[i]), 0);
        cr_rig_pump(&r);
        assert_int_equal(r.c.last_success, 1);
        assert_true(sshbpp_conn_authenticated(r.s.c));
        cr_rig_free(&r);
    }
}

/* A signer that counts calls and reports the algorithm it was asked for. */
struct signer {
    int calls;
    char alg[64];
};

static int
file_signer(void *ctx, const char *alg, const uint8_t *data, size_t len, uint8_t *sig, size_t cap,
            size_t *sig_len)
{
    struct signer *s = ctx;
    sshbpp__hostkey hk;
    sshbpp__wbuf out;
    int r;

    s->calls++;
    snprintf(s->alg, sizeof(s->alg), "%s", alg);
    memset(&hk, 0, sizeof(hk));
    if ((r = sshbpp__hostkey_load_file(&hk, rsa_path)) != 0)
        return r;
    sshbpp__wb_init(&out);
    r = sshbpp__hostkey_sign(&hk, alg, data, len, &out);
    if (r == 0 && out.len <= cap) {
        memcpy(sig, out.p, out.len);
        *sig_len = out.len;
    } else if (r == 0) {
        r = SSHBPP_EBUFSMALL;
    }
    sshbpp__wb_free(&out);
    sshbpp__hostkey_free(&hk);
    return r;
}

static void
test_auth_publickey_signer_rsa_sha512(void **state)
{
    cr_rig r;
    struct signer s = {0, ""};

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(
        sshbpp_conn_auth_publickey(r.c.c, "carol", rsa_blob.p, rsa_blob.len, file_signer, &s), 0);
    cr_rig_pump(&r);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.alg, "rsa-sha2-512");
    assert_int_equal(r.c.last_success, 1);
    cr_rig_free(&r);
}

/* ---- legacy "ssh-rsa" (SHA-1) user authentication, on request only ------- */

/* Client and server configured with pubkey_algs; the client signs with the
 * RSA key through file_signer. Leaves the rig handshaken and the attempt
 * done; the caller checks and frees. */
static void
rsa_attempt(cr_rig *r, const char *client_algs, const char *server_algs, struct signer *s)
{
    sshbpp_conn_config cc, sc;

    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    cc.pubkey_algs = client_algs;
    sc.pubkey_algs = server_algs;
    cr_rig_init(r, &cc, &sc, auth_cb, NULL);
    cr_rig_handshake(r);
    seen_pk_calls = seen_pk_sig_ok = 0;
    seen_pk_alg[0] = '\0';
    memset(s, 0, sizeof(*s));
    assert_int_equal(
        sshbpp_conn_auth_publickey(r->c.c, "carol", rsa_blob.p, rsa_blob.len, file_signer, s), 0);
    cr_rig_pump(r);
    assert_int_equal(sshbpp_conn_error(r->c.c), 0);
    assert_int_equal(sshbpp_conn_error(r->s.c), 0);
    assert_int_equal(s->calls, 1);
}

static void
test_auth_ssh_rsa_when_both_allow(void **state)
{
    cr_rig r;
    struct signer s;

    (void)state;
    /* The server lists what it accepts in server-sig-algs. */
    rsa_attempt(&r, "^ssh-rsa", "+ssh-rsa", &s);
    assert_non_null(strstr(sshbpp_conn_server_sig_algs(r.c.c), "ssh-rsa"));
    assert_string_equal(s.alg, "ssh-rsa");
    assert_int_equal(seen_pk_calls, 1);
    assert_string_equal(seen_pk_alg, "ssh-rsa");
    assert_int_equal(seen_pk_sig_ok, 1);
    assert_int_equal(r.c.last_success, 1);
    assert_true(sshbpp_conn_authenticated(r.s.c));
    cr_rig_free(&r);

    /* "+ssh-rsa" appends: SHA-2 still wins when the server has it. */
    rsa_attempt(&r, "+ssh-rsa", "+ssh-rsa", &s);
    assert_string_equal(s.alg, "rsa-sha2-512");
    assert_string_equal(seen_pk_alg, "rsa-sha2-512");
    assert_int_equal(r.c.last_success, 1);
    cr_rig_free(&r);

    /* A server that names only ssh-rsa gets it from a "+ssh-rsa" client. */
    rsa_attempt(&r, "+ssh-rsa", "ssh-rsa", &s);
    assert_string_equal(sshbpp_conn_server_sig_algs(r.c.c), "ssh-rsa");
    assert_string_equal(s.alg, "ssh-rsa");
    assert_int_equal(seen_pk_sig_ok, 1);
    assert_int_equal(r.c.last_success, 1);
    cr_rig_free(&r);
}

static void
test_auth_default_client_never_ssh_rsa(void **state)
{
    cr_rig r;
    struct signer s;

    (void)state;
    /* Even with ssh-rsa first in server-sig-algs. */
    rsa_attempt(&r, NULL, "ssh-rsa,rsa-sha2-256", &s);
    assert_string_equal(sshbpp_conn_server_sig_algs(r.c.c), "ssh-rsa,rsa-sha2-256");
    assert_string_equal(s.alg, "rsa-sha2-256");
    assert_int_equal(seen_pk_calls, 1);
    assert_string_equal(seen_pk_alg, "rsa-sha2-256");
    assert_int_equal(r.c.last_success, 1);
    cr_rig_free(&r);

    /* And when ssh-rsa is all the server names: SHA-2 regardless (and the
     * server, which does not accept that, refuses it unasked). */
    rsa_attempt(&r, NULL, "ssh-rsa", &s);
    assert_string_equal(s.alg, "rsa-sha2-256");
    assert_int_equal(seen_pk_calls, 0);
    assert_int_equal(r.c.last_success, 0);
    cr_rig_free(&r);

    /* The default list itself. */
    rsa_attempt(&r, NULL, NULL, &s);
    assert_null(strstr(sshbpp_conn_server_sig_algs(r.c.c), "ssh-rsa"));
    assert_string_equal(s.alg, "rsa-sha2-512");
    assert_int_equal(r.c.last_success, 1);
    cr_rig_free(&r);
}

static void
test_auth_server_refuses_ssh_rsa_by_default(void **state)
{
    cr_rig r;
    struct signer s;

    (void)state;
    /* A client that insists on SHA-1 against a default server: the
     * signature is valid, but the server refuses it without asking its
     * callback, and the connection goes on. */
    rsa_attempt(&r, "ssh-rsa", NULL, &s);
    assert_string_equal(s.alg, "ssh-rsa");
    assert_int_equal(seen_pk_calls, 0);
    assert_int_equal(r.c.last_success, 0);
    assert_false(sshbpp_conn_authenticated(r.s.c));
    assert_string_equal(r.c.last_methods, "publickey,password");
    /* That client has no algorithm left for an Ed25519 key. */
    assert_int_equal(sshbpp_conn_auth_publickey(r.c.c, "carol", ed_blob.p, ed_blob.len,
                                                file_signer, &s),
                     SSHBPP_EUNSUPPORTED);
    cr_rig_free(&r);

    /* Removing rsa-sha2-512 on the server: the client (default) sees it
     * gone from server-sig-algs and uses rsa-sha2-256. */
    rsa_attempt(&r, NULL, "-rsa-sha2-512", &s);
    assert_string_equal(s.alg, "rsa-sha2-256");
    assert_int_equal(r.c.last_success, 1);
    cr_rig_free(&r);
}

static void
test_pubkey_algs_bad_lists(void **state)
{
    static const char *const bad[] = {"+ssh-dss", "ssh-rsa,foo", "", "-*", "^nope", ",", NULL};
    sshbpp_conn_config cfg;
    sshbpp_conn *c;
    size_t i;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        sshbpp_conn_config_init(&cfg, i % 2 ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT);
        cfg.pubkey_algs = bad[i];
        c = sshbpp_conn_new(&cfg);
        if (c != NULL)
            fail_msg("pubkey_algs \"%s\" accepted", bad[i]);
    }
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.pubkey_algs = "ssh-ed25519,ssh-rsa";
    assert_non_null(c = sshbpp_conn_new(&cfg));
    sshbpp_conn_free(c);
}

static int
kbd_responder(void *ctx, const char *name, const char *instruction, unsigned n,
              const char *const *prompts, const int *echo, char (*answers)[256])
{
    unsigned i;

    (void)name;
    (void)instruction;
    (void)prompts;
    (void)echo;
    for (i = 0; i < n; i++)
        snprintf(answers[i], 256, "%s", (const char *)ctx);
    return 0;
}

static void
test_auth_kbdint_refused_by_our_server(void **state)
{
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    /* Our server does not offer keyboard-interactive: a plain failure. */
    assert_int_equal(sshbpp_conn_auth_kbdint(r.c.c, "alice", kbd_responder, (void *)"x"), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.last_success, 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    cr_rig_free(&r);
}

static void
test_server_max_auth_tries(void **state)
{
    sshbpp_conn_config scfg;
    cr_rig r;
    int i;

    (void)state;
    sshbpp_conn_config_init(&scfg, SSHBPP_ROLE_SERVER);
    scfg.max_auth_tries = 2;
    cr_rig_init(&r, NULL, &scfg, auth_cb, NULL);
    cr_rig_handshake(&r);
    for (i = 0; i < 2; i++) {
        assert_int_equal(sshbpp_conn_auth_password(r.c.c, "alice", "wrong"), 0);
        cr_rig_pump(&r);
    }
    assert_int_equal(sshbpp_conn_error(r.s.c), SSHBPP_EAUTH);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EDISCONNECT);
    assert_int_equal(r.c.disc_code, SSHBPP_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
    assert_string_equal(r.c.disc_text, "Too many authentication failures");
    cr_rig_free(&r);
}

static void
test_disconnect_reason_text(void **state)
{
    cr_rig r;
    uint32_t reason = 0;
    const char *text;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_null(sshbpp_conn_disconnect_reason(r.c.c, &reason));
    assert_int_equal(sshbpp_conn_disconnect(r.s.c, 11, "bye\033[2J now"), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), SSHBPP_ECLOSED);
    cr_rig_pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_DISCONNECT], 1);
    assert_int_equal(r.c.disc_code, 11);
    assert_string_equal(r.c.disc_text, "bye?[2J now"); /* ESC replaced */
    assert_int_equal(r.c.error, SSHBPP_EDISCONNECT);
    text = sshbpp_conn_disconnect_reason(r.c.c, &reason);
    assert_non_null(text);
    assert_int_equal(reason, 11);
    assert_string_equal(text, "bye?[2J now");
    cr_rig_free(&r);
}

static void
test_queue_full_eagain_no_loss(void **state)
{
    sshbpp_conn_config ccfg;
    cr_rig r;
    uint8_t m[64];
    uint32_t next = 0, i;
    int refused = 0, round, e;

    (void)state;
    sshbpp_conn_config_init(&ccfg, SSHBPP_ROLE_CLIENT);
    ccfg.queue_max_msgs = 5;
    ccfg.queue_max_bytes = 64 * 4;
    cr_rig_init(&r, &ccfg, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    login(&r);
    memset(m, 0, sizeof(m));
    m[0] = 200;
    for (round = 0; round < 3; round++) {
        assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
        assert_true(sshbpp_conn_kex_running(r.c.c));
        for (;;) {
            tu_put_be32(m + 1, next);
            e = sshbpp_conn_send(r.c.c, m, sizeof(m));
            if (e == SSHBPP_EAGAIN) {
                refused++;
                break;
            }
            assert_int_equal(e, 0);
            next++;
        }
        /* the byte bound (4 x 64) binds before the count (5) */
        assert_int_equal(sshbpp_conn_queued(r.c.c), 4);
        cr_rig_pump(&r);
        assert_int_equal(sshbpp_conn_queued(r.c.c), 0);
        /* and now they go straight out */
        tu_put_be32(m + 1, next++);
        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
        cr_rig_pump(&r);
    }
    assert_int_equal(refused, 3);
    assert_int_equal(r.s.nmsgs, next);
    for (i = 0; i < next; i++) {
        assert_int_equal(r.s.lens[i], sizeof(m));
        assert_int_equal(tu_be32(r.s.msgs[i] + 1), i);
    }
    cr_rig_free(&r);
}

static void
test_auto_rekey_from_limits(void **state)
{
    cr_rig r;
    sshbpp_rekey_limits lim;
    uint8_t m[4096];
    int i;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    sshbpp_rekey_limits_default(&lim);
    lim.bytes = 64 * 1024;
    assert_int_equal(sshbpp_engine_set_rekey_limits(sshbpp_conn_engine(r.c.c), &lim), 0);
    cr_rig_handshake(&r);
    login(&r);
    memset(m, 0x5a, sizeof(m));
    m[0] = 201;
    for (i = 0; i < 256; i++) {
        int e = sshbpp_conn_send(r.c.c, m, sizeof(m));
        if (e == SSHBPP_EAGAIN) {
            cr_rig_pump(&r);
            i--;
            continue;
        }
        assert_int_equal(e, 0);
        if (i % 8 == 0)
            cr_rig_pump(&r);
    }
    cr_rig_pump(&r);
    assert_int_equal(r.s.nmsgs, 256);
    assert_true(sshbpp_conn_kex_count(r.c.c) >= 10);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    cr_rig_free(&r);
}

static void
test_handshake_deadline(void **state)
{
    sshbpp_conn_config cfg;
    sshbpp_conn *c;
    sshbpp_conn_event ev;

    (void)state;
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.handshake_timeout_ms = 500;
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    assert_int_equal(sshbpp_conn_next_deadline(c), -1);
    assert_int_equal(sshbpp_conn_start(c, 10000), 0);
    assert_int_equal(sshbpp_conn_next_deadline(c), 10500);
    assert_int_equal(sshbpp_conn_tick(c, 10499), 0);
    assert_int_equal(sshbpp_conn_feed(c, "SSH-2.0-x\r\n", 11, 10499), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_VERSION);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_tick(c, 10500), SSHBPP_EHANDSHAKE);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_ERROR);
    assert_int_equal(ev.error, SSHBPP_EHANDSHAKE);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), SSHBPP_EHANDSHAKE);
    assert_int_equal(sshbpp_conn_send(c, "\xc8", 1), SSHBPP_EHANDSHAKE);
    assert_int_equal(sshbpp_conn_next_deadline(c), -1);
    sshbpp_conn_free(c);
}

static void
test_login_deadline(void **state)
{
    sshbpp_conn_config cfg;
    cr_rig r;

    (void)state;
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_SERVER);
    cfg.login_timeout_ms = 2000;
    cr_rig_init(&r, NULL, &cfg, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_next_deadline(r.s.c), r.now + 2000);
    assert_int_equal(sshbpp_conn_tick(r.s.c, r.now + 1999), 0);
    assert_int_equal(sshbpp_conn_tick(r.s.c, r.now + 2000), SSHBPP_ELOGINTIME);
    cr_rig_free(&r);
}

static void
test_keepalive_not_during_exchange(void **state)
{
    sshbpp_conn_config cfg;
    cr_rig r;
    size_t len;
    int64_t t0;

    (void)state;
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.keepalive_ms = 300;
    cfg.keepalive_max = 2;
    cr_rig_init(&r, &cfg, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    login(&r);
    t0 = r.now;
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), t0 + 300);
    /* During an exchange: no keepalive deadline and none sent. */
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    sshbpp_conn_tx_consume(r.c.c, (size_t)-1); /* our KEXINIT is "lost" */
    assert_int_equal(sshbpp_conn_next_deadline(r.c.c), -1);
    assert_int_equal(sshbpp_conn_tick(r.c.c, t0 + 10000), 0);
    assert_null(sshbpp_conn_tx_data(r.c.c, &len));
    assert_int_equal(r.c.sent_types[80], 0);
    cr_rig_free(&r);

    /* Outside one: sent at the deadline, answered (REQUEST_FAILURE from
     * the server's caller), absorbed; unanswered ones end the connection. */
    cr_rig_init(&r, &cfg, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    login(&r);
    t0 = r.now;
    assert_int_equal(sshbpp_conn_tick(r.c.c, t0 + 299), 0);
    assert_int_equal(r.c.sent_types[80], 0);
    r.now = t0 + 300;
    assert_int_equal(sshbpp_conn_tick(r.c.c, r.now), 0);
    assert_int_equal(r.c.sent_types[80], 1);
    cr_rig_pump(&r);
    assert_int_equal(r.s.nmsgs, 1); /* our server's caller sees the request */
    assert_int_equal(sshbpp_conn_send(r.s.c, "\x52", 1), 0); /* and refuses it */
    cr_rig_pump(&r);
    assert_int_equal(r.c.nmsgs, 0); /* the reply went to the conn, not us */
    /* now the server stops answering */
    assert_int_equal(sshbpp_conn_tick(r.c.c, r.now + 300), 0);
    assert_int_equal(sshbpp_conn_tick(r.c.c, r.now + 600), 0);
    assert_int_equal(r.c.sent_types[80], 3);
    assert_int_equal(sshbpp_conn_tick(r.c.c, r.now + 900), SSHBPP_EKEEPALIVE);
    cr_rig_free(&r);
}

static void
test_global_request_reply_in_order(void **state)
{
    cr_rig r;
    static const uint8_t fail[1] = {82};

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    login(&r);
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "x@example.com", 1, NULL, 0), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.s.nmsgs, 1);
    assert_int_equal(r.s.msgs[0][0], 80);
    assert_int_equal(sshbpp_conn_send(r.s.c, fail, 1), 0);
    cr_rig_pump(&r);
    assert_int_equal(r.c.nmsgs, 1);
    assert_int_equal(r.c.msgs[0][0], 82);
    /* transport and auth types are not application messages */
    assert_int_equal(sshbpp_conn_send(r.c.c, "\x05", 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_send(r.c.c, "\x32", 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_conn_send(r.c.c, "\x01", 1), SSHBPP_EINVAL);
    cr_rig_free(&r);
}

static void
test_banner_lines_and_bad_version(void **state)
{
    sshbpp_conn_config cfg;
    sshbpp_conn *c;
    sshbpp_conn_event ev;
    char big[200];
    int i;

    (void)state;
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    c = sshbpp_conn_new(&cfg);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, "hello\r\nworld\r\nSSH-2.0-ok\r\n", 26, 0), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_VERSION);
    assert_string_equal(ev.text, "SSH-2.0-ok");
    sshbpp_conn_free(c);

    c = sshbpp_conn_new(&cfg);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 2] = '\r';
    big[sizeof(big) - 1] = '\n';
    for (i = 0; i < 60; i++)
        assert_int_equal(sshbpp_conn_feed(c, big, sizeof(big), 0), 0);
    while (sshbpp_conn_next_event(c, &ev) == 0 && ev.type != SSHBPP_CONN_EV_ERROR)
        ;
    assert_int_equal(sshbpp_conn_error(c), SSHBPP_EBANNER);
    sshbpp_conn_free(c);

    c = sshbpp_conn_new(&cfg);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, "SSH-1.5-old\r\n", 13, 0), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_ERROR);
    assert_int_equal(ev.error, SSHBPP_EVERSION);
    sshbpp_conn_free(c);

    /* EOF before the version */
    c = sshbpp_conn_new(&cfg);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_feed(c, "SSH-2.0", 7, 0), 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), SSHBPP_EAGAIN);
    (void)sshbpp_conn_rx_eof(c, 0);
    assert_int_equal(sshbpp_conn_next_event(c, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CONN_EV_ERROR);
    assert_int_equal(ev.error, SSHBPP_EEOFPKT);
    sshbpp_conn_free(c);
}

static void
test_corrupted_byte_closes_whole_conn(void **state)
{
    cr_rig r;
    uint8_t m[100];
    size_t len;
    const uint8_t *p;
    uint8_t *copy;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    login(&r);
    memset(m, 1, sizeof(m));
    m[0] = 200;
    assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
    p = sshbpp_conn_tx_data(r.c.c, &len);
    copy = malloc(len);
    memcpy(copy, p, len);
    copy[len / 2] ^= 1;
    sshbpp_conn_tx_consume(r.c.c, len);
    assert_int_equal(sshbpp_conn_feed(r.s.c, copy, len, r.now), 0);
    free(copy);
    cr_drain_events(&r.s);
    assert_true(sshbpp_conn_error(r.s.c) == SSHBPP_EMAC || sshbpp_conn_error(r.s.c) == SSHBPP_ETAG);
    assert_int_equal(r.s.error, sshbpp_conn_error(r.s.c));
    assert_int_equal(sshbpp_engine_error(sshbpp_conn_engine(r.s.c)), sshbpp_conn_error(r.s.c));
    assert_int_equal(sshbpp_conn_send(r.s.c, m, sizeof(m)), sshbpp_conn_error(r.s.c));
    cr_rig_free(&r);
}

static void
test_every_cipher_and_mac_with_rekey(void **state)
{
    const char *const *ci, *const *mi;
    uint8_t m[1000];
    int pairs = 0;

    (void)state;
    memset(m, 0x33, sizeof(m));
    m[0] = 200;
    for (ci = sshbpp_alg_list(SSHBPP_ALG_CIPHER); *ci != NULL; ci++) {
        for (mi = sshbpp_alg_list(SSHBPP_ALG_MAC); *mi != NULL; mi++) {
            sshbpp_conn_config cfg;
            sshbpp_cipher_info info;
            sshbpp_kex_info k;
            cr_rig r;

            if (strcmp(*ci, "none") == 0 || strcmp(*mi, "none") == 0)
                continue;
            assert_int_equal(sshbpp_cipher_get_info(*ci, &info), 0);
            if (info.aead && mi != sshbpp_alg_list(SSHBPP_ALG_MAC))
                continue; /* the MAC does not matter: once per AEAD cipher */
            sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
            cfg.kex.ciphers = *ci;
            cfg.kex.macs = *mi;
            cr_rig_init(&r, &cfg, &cfg, auth_cb, NULL); /* the role is set per cr_side */
            cr_rig_handshake(&r);
            assert_int_equal(sshbpp_conn_get_info(r.c.c, &k), 0);
            assert_string_equal(k.cipher_c2s, *ci);
            login(&r);
            assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
            assert_int_equal(sshbpp_conn_rekey(r.s.c), 0);
            assert_int_equal(sshbpp_conn_send(r.s.c, m, sizeof(m)), 0);
            cr_rig_pump(&r);
            assert_int_equal(r.s.nmsgs, 1);
            assert_int_equal(r.c.nmsgs, 1);
            assert_int_equal(sshbpp_conn_kex_count(r.c.c), 2);
            cr_rig_free(&r);
            pairs++;
        }
    }
    assert_true(pairs >= 30);
}

static void
test_compression_delayed_and_plain(void **state)
{
    static const char *const comp[2] = {"zlib@openssh.com", "zlib"};
    uint8_t m[20000];
    int i;

    (void)state;
    memset(m, 'a', sizeof(m));
    m[0] = 200;
    for (i = 0; i < 2; i++) {
        sshbpp_conn_config cc, sc;
        sshbpp_kex_info k;
        sshbpp_stats st;
        cr_rig r;

        sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
        sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
        cc.kex.compression = sc.kex.compression = comp[i];
        cr_rig_init(&r, &cc, &sc, auth_cb, NULL);
        cr_rig_handshake(&r);
        assert_int_equal(sshbpp_conn_get_info(r.c.c, &k), 0);
        assert_string_equal(k.comp_c2s, comp[i]);
        login(&r);
        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
        assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
        cr_rig_pump(&r);
        assert_int_equal(r.s.nmsgs, 2);
        assert_int_equal(r.s.lens[1], sizeof(m));
        assert_memory_equal(r.s.msgs[1], m, sizeof(m));
        sshbpp_engine_get_stats(sshbpp_conn_engine(r.c.c), SSHBPP_DIR_OUT, &st);
        assert_true(st.total_bytes < st.total_payload); /* it did compress */
        cr_rig_free(&r);
    }
}

static void
test_hostkey_pinned_across_rekey(void **state)
{
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    assert_int_equal(sshbpp_conn_generate_hostkey(r.s.c, "ssh-ed25519"), 0);
    cr_rig_handshake(&r);
    login(&r);
    sshbpp__kex_test_swap_hostkeys(sshbpp__conn_kex(r.s.c));
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_EHOSTKEY);
    assert_int_equal(r.c.n[SSHBPP_CONN_EV_HOSTKEY], 1); /* asked once, at the handshake */
    cr_rig_free(&r);
}

static void
test_odd_splits(void **state)
{
    static const size_t chunks[3] = {7, 999, 4097};
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        cr_rig r;
        uint8_t m[5000];

        cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
        r.chunk = chunks[i];
        cr_rig_handshake(&r);
        login(&r);
        memset(m, i, sizeof(m));
        m[0] = 201;
        assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
        assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
        assert_int_equal(sshbpp_conn_send(r.s.c, m, sizeof(m)), 0);
        cr_rig_pump(&r);
        assert_int_equal(r.s.nmsgs, 1);
        assert_int_equal(r.c.nmsgs, 1);
        cr_rig_free(&r);
    }
}

static void
test_eof_mid_packet(void **state)
{
    cr_rig r;
    uint8_t m[100];
    const uint8_t *p;
    size_t len;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    memset(m, 0, sizeof(m));
    m[0] = 200;
    assert_int_equal(sshbpp_conn_send(r.c.c, m, sizeof(m)), 0);
    p = sshbpp_conn_tx_data(r.c.c, &len);
    assert_int_equal(sshbpp_conn_feed(r.s.c, p, len / 2, r.now), 0);
    assert_int_equal(sshbpp_conn_rx_eof(r.s.c, r.now), 0);
    cr_drain_events(&r.s);
    assert_int_equal(r.s.error, SSHBPP_EEOFPKT);
    cr_rig_free(&r);

    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    assert_int_equal(sshbpp_conn_rx_eof(r.s.c, r.now), 0);
    cr_drain_events(&r.s);
    assert_int_equal(r.s.error, SSHBPP_EEOF);
    cr_rig_free(&r);
}

static void
test_unknown_transport_message_unimplemented(void **state)
{
    static const uint8_t odd[3] = {15, 1, 2};
    cr_rig r;

    (void)state;
    cr_rig_init(&r, NULL, NULL, auth_cb, NULL);
    cr_rig_handshake(&r);
    login(&r);
    /* straight into the server's engine: a type no one defines */
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(r.s.c), odd, sizeof(odd)), 0);
    cr_rig_pump(&r);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.sent_types[3], 1);
    assert_int_equal(r.s.nmsgs, 1); /* UNIMPLEMENTED reaches the server's caller */
    assert_int_equal(r.s.msgs[0][0], 3);
    cr_rig_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_basic),
        cmocka_unit_test(test_handshake_byte_at_a_time),
        cmocka_unit_test(test_every_kex_method),
        cmocka_unit_test(test_hostkey_refused_before_newkeys),
        cmocka_unit_test(test_hostkey_pending_pauses),
        cmocka_unit_test(test_strict_kex_off_when_one_side_lacks_it),
        cmocka_unit_test(test_strict_kex_violation),
        cmocka_unit_test(test_nonstrict_ignore_tolerated),
        cmocka_unit_test(test_auth_password),
        cmocka_unit_test(test_auth_before_handshake_done),
        cmocka_unit_test(test_auth_partial_then_publickey),
        cmocka_unit_test(test_auth_publickey_file),
        cmocka_unit_test(test_auth_publickey_signer_rsa_sha512),
        cmocka_unit_test(test_auth_ssh_rsa_when_both_allow),
        cmocka_unit_test(test_auth_default_client_never_ssh_rsa),
        cmocka_unit_test(test_auth_server_refuses_ssh_rsa_by_default),
        cmocka_unit_test(test_pubkey_algs_bad_lists),
        cmocka_unit_test(test_auth_kbdint_refused_by_our_server),
        cmocka_unit_test(test_server_max_auth_tries),
        cmocka_unit_test(test_disconnect_reason_text),
        cmocka_unit_test(test_queue_full_eagain_no_loss),
        cmocka_unit_test(test_auto_rekey_from_limits),
        cmocka_unit_test(test_handshake_deadline),
        cmocka_unit_test(test_login_deadline),
        cmocka_unit_test(test_keepalive_not_during_exchange),
        cmocka_unit_test(test_global_request_reply_in_order),
        cmocka_unit_test(test_banner_lines_and_bad_version),
        cmocka_unit_test(test_corrupted_byte_closes_whole_conn),
        cmocka_unit_test(test_every_cipher_and_mac_with_rekey),
        cmocka_unit_test(test_compression_delayed_and_plain),
        cmocka_unit_test(test_hostkey_pinned_across_rekey),
        cmocka_unit_test(test_odd_splits),
        cmocka_unit_test(test_eof_mid_packet),
        cmocka_unit_test(test_unknown_transport_message_unimplemented),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
