/*
 * test_userauth.c: client user authentication (src/kex/userauth.c) against
 * a scripted server over a socketpair. The server is a sshbpp_session in
 * the server role driven by hand in a thread: it parses every
 * USERAUTH_REQUEST itself, re-encodes the data RFC 4252 section 7 says is
 * signed from the parsed fields and checks the signature with
 * sshbpp__hostkey_verify(), then answers as the test case scripts it
 * (banners, FAILURE, SUCCESS, or something malformed).
 *
 * Covered: the service request (name echoed, no name, wrong name, wrong
 * message), "none" (methods, banners skipped, the banner bound, a short
 * methods buffer), "publickey" with ed25519, ECDSA P-256/384/521 and RSA
 * keys made by `openssl genpkey` (and the RSA algorithm choice following
 * server-sig-algs), a key the server does not accept, keys we must refuse
 * to load, malformed answers, and delayed compression (zlib@openssh.com
 * starts on both sides after USERAUTH_SUCCESS, survives a rekey, and is off
 * before it).
 *
 * openssl (the command) is required: a missing tool fails the test.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_session.h"

#define TIMEOUT 20000 /* ms */

#define MSG_UNIMPLEMENTED 3
#define MSG_SERVICE_REQUEST 5
#define MSG_SERVICE_ACCEPT 6
#define MSG_EXT_INFO 7
#define MSG_USERAUTH_REQUEST 50
#define MSG_USERAUTH_FAILURE 51
#define MSG_USERAUTH_SUCCESS 52
#define MSG_USERAUTH_BANNER 53
#define MSG_USERAUTH_PK_OK 60
#define MSG_ECHO 200 /* local-use range: the server sends it straight back */

#define ECHO_LEN (10u * 1024u)

/* ---- keys ------------------------------------------------------------------ */

enum { K_ED, K_P256, K_P384, K_P521, K_RSA, K_RSA1024, K_GARBAGE, NKEYS };

static const char *const key_file[NKEYS] = {"ed.pem",  "p256.pem",    "p384.pem",   "p521.pem",
                                            "rsa.pem", "rsa1024.pem", "garbage.pem"};
static const char *const key_cmd[NKEYS] = {
    "openssl genpkey -algorithm ed25519",
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384",
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521",
    /* traditional "RSA PRIVATE KEY" PEM, as ssh-keygen -m PEM writes */
    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl pkey -traditional",
    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024",
    "echo 'not a key'",
};

static char tmpdir[] = "/tmp/sshbpp_userauth_XXXXXX";
static char key_path[NKEYS][256];

static int
group_setup(void **state)
{
    char cmd[4096]; /* key_cmd + key_path, both bounded above */
    int i;

    (void)state;
    if (system("command -v openssl >/dev/null") != 0) {
        fprintf(stderr, "openssl (the command) is required\n");
        return -1;
    }
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    for (i = 0; i < NKEYS; i++) {
        snprintf(key_path[i], sizeof(key_path[i]), "%s/%s", tmpdir, key_file[i]);
        snprintf(cmd, sizeof(cmd), "%s > %s 2>/dev/null", key_cmd[i], key_path[i]);
        if (system(cmd) != 0) {
            fprintf(stderr, "failed: %s\n", cmd);
            return -1;
        }
    }
    return 0;
}

static int
group_teardown(void **state)
{
    char cmd[600];

    (void)state;
    /* tmpdir is the mkdtemp name we made: nothing else is removed. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The public key blob of a key file, as the server's "authorized key". */
static void
key_blob(int which, sshbpp__wbuf *out)
{
    sshbpp__hostkey hk;

    memset(&hk, 0, sizeof(hk));
    sshbpp__wb_init(out);
    assert_int_equal(sshbpp__hostkey_load_file(&hk, key_path[which]), 0);
    assert_int_equal(sshbpp__hostkey_put_blob(&hk, out), 0);
    assert_int_equal(out->err, 0);
    sshbpp__hostkey_free(&hk);
}

/* ---- the scripted server ----------------------------------------------------- */

/* How the server answers a userauth request. */
enum {
    ANS_NORMAL = 0,   /* SUCCESS or FAILURE "publickey,password" */
    ANS_TRUNCATED,    /* FAILURE without its boolean */
    ANS_TRAILING,     /* FAILURE with a byte too many */
    ANS_NUL,          /* FAILURE whose name-list holds a NUL */
    ANS_UNIMPLEMENTED,
    ANS_PK_OK,        /* an answer to a query we never made */
    ANS_SUCCESS_LONG  /* SUCCESS with a byte too many */
};

/* How the server answers the service request. */
enum { SVC_ECHO = 0, SVC_NO_NAME, SVC_OTHER_NAME, SVC_WRONG_MSG };

#define METHODS "publickey,password"

typedef struct srv {
    int fd;
    sshbpp_packetizer *p;
    sshbpp_session *s;
    pthread_t th;
    /* script */
    const uint8_t *auth_blob; /* the one key that is accepted */
    size_t auth_blob_len;
    int accept_none;
    int banners; /* sent before each userauth answer */
    int answer;  /* ANS_* */
    int svc;     /* SVC_* */
    const char *sig_algs; /* if set: our own EXT_INFO, before SERVICE_ACCEPT */
    /* results; read after join */
    int hs_rc, rc;
    const char *why; /* first problem the server saw, or NULL */
    int requests, verified, authed, echoes;
    char alg[64], user[64], method[32];
} srv;

typedef struct cli {
    int fd;
    sshbpp_packetizer *p;
    sshbpp_session *s;
} cli;

/* A small independent SSH encoder for the server's messages and for the
 * re-encoding of the signed data (not sshbpp__wb_*, which is under test
 * on the client side). */
typedef struct enc {
    uint8_t b[16384];
    size_t n;
} enc;

static void
e_u8(enc *e, uint8_t v)
{
    if (e->n < sizeof(e->b))
        e->b[e->n++] = v;
}

static void
e_u32(enc *e, uint32_t v)
{
    e_u8(e, (uint8_t)(v >> 24));
    e_u8(e, (uint8_t)(v >> 16));
    e_u8(e, (uint8_t)(v >> 8));
    e_u8(e, (uint8_t)v);
}

static void
e_str(enc *e, const void *p, size_t n)
{
    size_t i;

    e_u32(e, (uint32_t)n);
    for (i = 0; i < n; i++)
        e_u8(e, ((const uint8_t *)p)[i]);
}

static void
e_cstr(enc *e, const char *s)
{
    e_str(e, s, strlen(s));
}

static void
srv_problem(srv *v, const char *why)
{
    if (v->why == NULL)
        v->why = why;
}

static void
srv_send(srv *v, const enc *e)
{
    if (sshbpp_session_send(v->s, e->b, e->n) != 0)
        srv_problem(v, "server send failed");
}

static int
str_is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

static void
copy_str(char *out, size_t cap, const uint8_t *p, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void
srv_service(srv *v, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *name;
    size_t n;
    uint8_t type;
    enc e = {.n = 0};

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &name, &n) != 0 ||
        !sshbpp__rb_done(&rb) || !str_is(name, n, "ssh-userauth"))
        srv_problem(v, "bad SERVICE_REQUEST");
    if (v->sig_algs != NULL) {
        /* A later EXT_INFO replaces the first one's server-sig-algs. */
        e_u8(&e, MSG_EXT_INFO);
        e_u32(&e, 1);
        e_cstr(&e, "server-sig-algs");
        e_cstr(&e, v->sig_algs);
        srv_send(v, &e);
        e.n = 0;
    }
    switch (v->svc) {
    case SVC_ECHO:
        e_u8(&e, MSG_SERVICE_ACCEPT);
        e_str(&e, name, n);
        break;
    case SVC_NO_NAME:
        e_u8(&e, MSG_SERVICE_ACCEPT);
        break;
    case SVC_OTHER_NAME:
        e_u8(&e, MSG_SERVICE_ACCEPT);
        e_cstr(&e, "ssh-connection");
        break;
    default:
        e_u8(&e, MSG_USERAUTH_FAILURE);
        e_cstr(&e, METHODS);
        e_u8(&e, 0);
        break;
    }
    srv_send(v, &e);
}

/* Parses a "publickey" request from after the method name; returns 1 if
 * the signature verifies over the re-encoded data and the key is the
 * accepted one. */
static int
srv_publickey(srv *v, sshbpp__rbuf *rb, const uint8_t *user, size_t ulen, const uint8_t *svc,
              size_t slen)
{
    const uint8_t *alg, *blob, *sig, *sid;
    size_t alen, blen, siglen, sidlen;
    int has_sig;
    enc *data;
    int ok;

    if (sshbpp__rb_bool(rb, &has_sig) != 0 || sshbpp__rb_string(rb, &alg, &alen) != 0 ||
        sshbpp__rb_string(rb, &blob, &blen) != 0 || sshbpp__rb_string(rb, &sig, &siglen) != 0 ||
        !sshbpp__rb_done(rb) || !has_sig) {
        srv_problem(v, "malformed publickey request");
        return 0;
    }
    copy_str(v->alg, sizeof(v->alg), alg, alen);
    sid = sshbpp_kex_session_id(sshbpp_session_kex(v->s), &sidlen);
    if ((data = calloc(1, sizeof(*data))) == NULL)
        return 0;
    /* RFC 4252 section 7: string session identifier, byte
     * SSH_MSG_USERAUTH_REQUEST, string user, string service, string
     * "publickey", boolean TRUE, string algorithm, string key blob. */
    e_str(data, sid, sidlen);
    e_u8(data, MSG_USERAUTH_REQUEST);
    e_str(data, user, ulen);
    e_str(data, svc, slen);
    e_cstr(data, "publickey");
    e_u8(data, 1);
    e_str(data, alg, alen);
    e_str(data, blob, blen);
    ok = sshbpp__hostkey_verify(v->alg, blob, blen, data->b, data->n, sig, siglen) == 0;
    free(data);
    if (ok)
        v->verified++;
    else
        srv_problem(v, "signature did not verify");
    return ok && v->auth_blob != NULL && blen == v->auth_blob_len &&
           memcmp(blob, v->auth_blob, blen) == 0;
}

static void
srv_userauth(srv *v, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *user, *svc, *method;
    size_t ulen, slen, mlen;
    uint8_t type;
    int ok = 0, i;
    enc e = {.n = 0};

    v->requests++;
    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &user, &ulen) != 0 ||
        sshbpp__rb_string(&rb, &svc, &slen) != 0 || sshbpp__rb_string(&rb, &method, &mlen) != 0 ||
        !str_is(svc, slen, "ssh-connection")) {
        srv_problem(v, "malformed USERAUTH_REQUEST");
        return;
    }
    copy_str(v->user, sizeof(v->user), user, ulen);
    copy_str(v->method, sizeof(v->method), method, mlen);
    if (str_is(method, mlen, "none")) {
        if (!sshbpp__rb_done(&rb))
            srv_problem(v, "trailing bytes after \"none\"");
        ok = v->accept_none;
    } else if (str_is(method, mlen, "publickey")) {
        ok = srv_publickey(v, &rb, user, ulen, svc, slen);
    } else {
        srv_problem(v, "unknown method");
    }
    for (i = 0; i < v->banners; i++) {
        e.n = 0;
        e_u8(&e, MSG_USERAUTH_BANNER);
        e_cstr(&e, "Authorized use only.\r\n");
        e_cstr(&e, "");
        srv_send(v, &e);
    }
    e.n = 0;
    switch (v->answer) {
    case ANS_TRUNCATED:
        e_u8(&e, MSG_USERAUTH_FAILURE);
        e_cstr(&e, METHODS);
        break;
    case ANS_TRAILING:
        e_u8(&e, MSG_USERAUTH_FAILURE);
        e_cstr(&e, METHODS);
        e_u8(&e, 0);
        e_u8(&e, 0);
        break;
    case ANS_NUL:
        e_u8(&e, MSG_USERAUTH_FAILURE);
        e_str(&e, "publickey\0password", 18);
        e_u8(&e, 0);
        break;
    case ANS_UNIMPLEMENTED:
        e_u8(&e, MSG_UNIMPLEMENTED);
        e_u32(&e, 3);
        break;
    case ANS_PK_OK:
        e_u8(&e, MSG_USERAUTH_PK_OK);
        e_cstr(&e, "ssh-ed25519");
        e_cstr(&e, "");
        break;
    case ANS_SUCCESS_LONG:
        e_u8(&e, MSG_USERAUTH_SUCCESS);
        e_u8(&e, 0);
        break;
    default:
        if (ok) {
            e_u8(&e, MSG_USERAUTH_SUCCESS);
        } else {
            e_u8(&e, MSG_USERAUTH_FAILURE);
            e_cstr(&e, METHODS);
            e_u8(&e, 0);
        }
        break;
    }
    srv_send(v, &e);
    if (v->answer == ANS_NORMAL && ok) {
        /* The server side of delayed compression: right after SUCCESS. */
        if (sshbpp_kex_auth_done(sshbpp_session_kex(v->s)) != 0)
            srv_problem(v, "sshbpp_kex_auth_done failed");
        v->authed = 1;
    }
}

static void *
srv_main(void *arg)
{
    srv *v = arg;
    sshbpp_packet pkt;
    enc *e;
    int r;

    v->hs_rc = sshbpp_session_handshake(v->s, TIMEOUT);
    if (v->hs_rc != 0) {
        (void)shutdown(v->fd, SHUT_RDWR);
        return NULL;
    }
    for (;;) {
        if ((r = sshbpp_session_recv(v->s, &pkt)) != 0) {
            v->rc = r; /* SSHBPP_EDISCONNECT at a clean end */
            /* On a failure the client must not wait for an answer forever:
             * end the stream (the Packetizer still owns the fd). */
            (void)shutdown(v->fd, SHUT_RDWR);
            return NULL;
        }
        switch (pkt.type) {
        case MSG_SERVICE_REQUEST:
            srv_service(v, &pkt);
            break;
        case MSG_USERAUTH_REQUEST:
            srv_userauth(v, &pkt);
            break;
        case MSG_ECHO:
            if ((e = malloc(sizeof(*e))) == NULL || pkt.len > sizeof(e->b)) {
                free(e);
                srv_problem(v, "echo too long");
                break;
            }
            memcpy(e->b, pkt.payload, pkt.len);
            e->n = pkt.len;
            srv_send(v, e);
            free(e);
            v->echoes++;
            break;
        default:
            srv_problem(v, "unexpected message at the server");
            break;
        }
    }
}

static void
pair_open(cli *c, srv *v, const char *compression)
{
    sshbpp_kex_config cfg;
    int sv[2];

    memset(&cfg, 0, sizeof(cfg));
    cfg.compression = compression;
    memset(c, 0, sizeof(*c));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c->fd = sv[0];
    v->fd = sv[1];
    c->p = sshbpp_packetizer_new_fd(c->fd, 1);
    v->p = sshbpp_packetizer_new_fd(v->fd, 1);
    assert_non_null(c->p);
    assert_non_null(v->p);
    c->s = sshbpp_session_new(c->p, SSHBPP_ROLE_CLIENT, &cfg, NULL);
    v->s = sshbpp_session_new(v->p, SSHBPP_ROLE_SERVER, &cfg, "srv_1.0");
    assert_non_null(c->s);
    assert_non_null(v->s);
    assert_int_equal(sshbpp_kex_generate_hostkey(sshbpp_session_kex(v->s), "ssh-ed25519"), 0);
    assert_int_equal(pthread_create(&v->th, NULL, srv_main, v), 0);
    assert_int_equal(sshbpp_session_handshake(c->s, TIMEOUT), 0);
}

/* Ends the connection (the server's loop sees DISCONNECT) and checks that
 * the server saw nothing wrong. */
static void
pair_close(cli *c, srv *v)
{
    (void)sshbpp_session_disconnect(c->s, 11, "done");
    pthread_join(v->th, NULL);
    sshbpp_packetizer_close(c->p);
    sshbpp_packetizer_close(v->p);
    sshbpp_session_free(c->s);
    sshbpp_session_free(v->s);
    sshbpp_packetizer_free(c->p);
    sshbpp_packetizer_free(v->p);
    if (v->why != NULL)
        fail_msg("server: %s", v->why);
    assert_int_equal(v->hs_rc, 0);
    assert_true(v->rc == SSHBPP_EDISCONNECT || v->rc == SSHBPP_EEOF);
}

static void
new_srv(srv *v)
{
    memset(v, 0, sizeof(*v));
}

/* ---- service request --------------------------------------------------------- */

static void
service_case(int mode, int want)
{
    cli c;
    srv v;

    new_srv(&v);
    v.svc = mode;
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), want);
    pair_close(&c, &v);
}

static void
test_service_request(void **state)
{
    cli c;
    srv v;

    (void)state;
    service_case(SVC_ECHO, 0);
    service_case(SVC_NO_NAME, 0);
    service_case(SVC_OTHER_NAME, SSHBPP_EAUTH);
    service_case(SVC_WRONG_MSG, SSHBPP_EAUTH);

    /* bad arguments, and no request before the handshake */
    assert_int_equal(sshbpp_session_service_request(NULL, "ssh-userauth"), SSHBPP_EINVAL);
    new_srv(&v);
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_session_service_request(c.s, ""), SSHBPP_EINVAL);
    pair_close(&c, &v);
    {
        int sv[2];
        sshbpp_packetizer *p;
        sshbpp_session *s;
        char m[8];
        int ok = 7;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        p = sshbpp_packetizer_new_fd(sv[0], 1);
        s = sshbpp_session_new(p, SSHBPP_ROLE_CLIENT, NULL, NULL);
        assert_int_equal(sshbpp_session_service_request(s, "ssh-userauth"), SSHBPP_EINVAL);
        assert_int_equal(sshbpp_session_auth_none(s, "u", m, sizeof(m), &ok), SSHBPP_EINVAL);
        assert_int_equal(sshbpp_session_auth_publickey(s, "u", key_path[K_ED], m, sizeof(m), &ok),
                         SSHBPP_EINVAL);
        assert_int_equal(sshbpp_kex_auth_done(sshbpp_session_kex(s)), SSHBPP_EINVAL);
        assert_int_equal(sshbpp_kex_auth_done(NULL), SSHBPP_EINVAL);
        sshbpp_packetizer_close(p);
        sshbpp_session_free(s);
        sshbpp_packetizer_free(p);
        close(sv[1]);
    }
}

/* ---- none ------------------------------------------------------------------ */

static void
test_none(void **state)
{
    char m[64];
    int ok = 7;
    cli c;
    srv v;

    (void)state;
    /* FAILURE: the methods come back; a banner before it is skipped */
    new_srv(&v);
    v.banners = 1;
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), 0);
    assert_int_equal(sshbpp_session_auth_none(c.s, "alice", m, sizeof(m), &ok), 0);
    assert_int_equal(ok, 0);
    assert_string_equal(m, METHODS);

    /* a short buffer: whole names only, EBUFSMALL, and still in step */
    memset(m, 'x', sizeof(m));
    assert_int_equal(sshbpp_session_auth_none(c.s, "alice", m, 12, &ok), SSHBPP_EBUFSMALL);
    assert_int_equal(ok, 0);
    assert_string_equal(m, "publickey");
    assert_int_equal(sshbpp_session_auth_none(c.s, "alice", m, 9, &ok), SSHBPP_EBUFSMALL);
    assert_string_equal(m, "");
    assert_int_equal(sshbpp_session_auth_none(c.s, "alice", m, sizeof(METHODS), &ok), 0);
    assert_string_equal(m, METHODS);
    assert_int_equal(sshbpp_session_auth_none(c.s, "alice", NULL, 0, &ok), 0);
    assert_int_equal(ok, 0);

    /* bad arguments */
    assert_int_equal(sshbpp_session_auth_none(c.s, NULL, m, sizeof(m), &ok), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_session_auth_none(c.s, "a", NULL, 4, &ok), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_session_auth_none(c.s, "a", m, sizeof(m), NULL), SSHBPP_EINVAL);
    pair_close(&c, &v);
    assert_int_equal(v.requests, 5);
    assert_string_equal(v.user, "alice");
    assert_string_equal(v.method, "none");

    /* SUCCESS */
    new_srv(&v);
    v.accept_none = 1;
    v.banners = 16; /* the most we take */
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), 0);
    memset(m, 'x', sizeof(m));
    assert_int_equal(sshbpp_session_auth_none(c.s, "bob", m, sizeof(m), &ok), 0);
    assert_int_equal(ok, 1);
    assert_string_equal(m, "");
    pair_close(&c, &v);
    assert_int_equal(v.authed, 1);
}

/* ---- publickey --------------------------------------------------------------- */

/* Authenticates with key `use` against a server that accepts key `accept`;
 * checks the outcome and the algorithm the server saw. */
static void
publickey_case(int use, int accept, const char *sig_algs, const char *want_alg, int want_ok)
{
    sshbpp__wbuf blob;
    char m[64];
    int ok = 7;
    cli c;
    srv v;

    key_blob(accept, &blob);
    new_srv(&v);
    v.auth_blob = blob.p;
    v.auth_blob_len = blob.len;
    v.sig_algs = sig_algs;
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), 0);
    assert_int_equal(sshbpp_session_auth_publickey(c.s, "carol", key_path[use], m, sizeof(m), &ok),
                     0);
    assert_int_equal(ok, want_ok);
    assert_string_equal(m, want_ok ? "" : METHODS);
    pair_close(&c, &v);
    assert_int_equal(v.verified, 1);
    assert_string_equal(v.alg, want_alg);
    assert_string_equal(v.user, "carol");
    assert_int_equal(v.authed, want_ok);
    sshbpp__wb_free(&blob);
}

static void
test_publickey_each_type(void **state)
{
    (void)state;
    publickey_case(K_ED, K_ED, NULL, "ssh-ed25519", 1);
    publickey_case(K_P256, K_P256, NULL, "ecdsa-sha2-nistp256", 1);
    publickey_case(K_P384, K_P384, NULL, "ecdsa-sha2-nistp384", 1);
    publickey_case(K_P521, K_P521, NULL, "ecdsa-sha2-nistp521", 1);
    /* our server's server-sig-algs lists rsa-sha2-512 */
    publickey_case(K_RSA, K_RSA, NULL, "rsa-sha2-512", 1);
}

static void
test_publickey_rsa_alg_choice(void **state)
{
    (void)state;
    /* without rsa-sha2-512 in server-sig-algs: rsa-sha2-256, never ssh-rsa */
    publickey_case(K_RSA, K_RSA, "ssh-ed25519,rsa-sha2-256,ssh-rsa", "rsa-sha2-256", 1);
    publickey_case(K_RSA, K_RSA, "ssh-rsa", "rsa-sha2-256", 1);
    publickey_case(K_RSA, K_RSA, "rsa-sha2-256,rsa-sha2-512", "rsa-sha2-512", 1);
}

static void
test_publickey_wrong_key(void **state)
{
    (void)state;
    /* a good signature by a key the server does not take: FAILURE */
    publickey_case(K_P256, K_ED, NULL, "ecdsa-sha2-nistp256", 0);
    publickey_case(K_ED, K_RSA, NULL, "ssh-ed25519", 0);
}

static void
test_publickey_bad_keyfile(void **state)
{
    char m[64], missing[300];
    sshbpp__wbuf blob;
    int ok = 7;
    cli c;
    srv v;

    (void)state;
    snprintf(missing, sizeof(missing), "%s/no-such-key.pem", tmpdir);
    key_blob(K_ED, &blob);
    new_srv(&v);
    v.auth_blob = blob.p;
    v.auth_blob_len = blob.len;
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), 0);
    /* refused before anything is sent: the connection stays usable */
    assert_int_equal(sshbpp_session_auth_publickey(c.s, "d", missing, m, sizeof(m), &ok), SSHBPP_EIO);
    assert_int_equal(
        sshbpp_session_auth_publickey(c.s, "d", key_path[K_RSA1024], m, sizeof(m), &ok),
        SSHBPP_EKEYTYPE);
    assert_int_equal(
        sshbpp_session_auth_publickey(c.s, "d", key_path[K_GARBAGE], m, sizeof(m), &ok),
        SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp_session_auth_publickey(c.s, "d", NULL, m, sizeof(m), &ok),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_session_auth_publickey(c.s, "d", key_path[K_ED], m, sizeof(m), &ok), 0);
    assert_int_equal(ok, 1);
    pair_close(&c, &v);
    assert_int_equal(v.requests, 1);
    sshbpp__wb_free(&blob);
}

/* ---- malformed answers --------------------------------------------------------- */

static void
bad_answer_case(int answer, int banners)
{
    char m[64];
    int ok = 7;
    cli c;
    srv v;

    new_srv(&v);
    v.answer = answer;
    v.banners = banners;
    pair_open(&c, &v, NULL);
    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), 0);
    assert_int_equal(sshbpp_session_auth_none(c.s, "eve", m, sizeof(m), &ok), SSHBPP_EAUTH);
    pair_close(&c, &v);
}

static void
test_malformed_answers(void **state)
{
    (void)state;
    bad_answer_case(ANS_TRUNCATED, 0);
    bad_answer_case(ANS_TRAILING, 0);
    bad_answer_case(ANS_NUL, 0);
    bad_answer_case(ANS_UNIMPLEMENTED, 0);
    bad_answer_case(ANS_PK_OK, 0);
    bad_answer_case(ANS_SUCCESS_LONG, 0);
    bad_answer_case(ANS_NORMAL, 17); /* one banner too many */
}

/* ---- delayed compression --------------------------------------------------------- */

typedef struct counts {
    uint64_t wire, payload;
} counts;

static counts
dir_counts(sshbpp_packetizer *p, int dir)
{
    sshbpp_stats st;
    counts n;

    sshbpp_engine_get_stats(sshbpp_packetizer_engine(p), dir, &st);
    n.wire = st.total_bytes;
    n.payload = st.total_payload;
    return n;
}

/* Sends a compressible ECHO_LEN message and reads it back; returns the
 * client's wire bytes for it, out and in. */
static void
echo_round(cli *c, uint64_t *out_wire, uint64_t *in_wire)
{
    static uint8_t msg[ECHO_LEN];
    counts o0 = dir_counts(c->p, SSHBPP_DIR_OUT), i0 = dir_counts(c->p, SSHBPP_DIR_IN);
    sshbpp_packet pkt;
    size_t i;

    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)"compressible "[i % 13];
    msg[0] = MSG_ECHO;
    assert_int_equal(sshbpp_session_send(c->s, msg, sizeof(msg)), 0);
    assert_int_equal(sshbpp_session_recv(c->s, &pkt), 0);
    assert_int_equal(pkt.type, MSG_ECHO);
    assert_int_equal(pkt.len, sizeof(msg));
    assert_memory_equal(pkt.payload, msg, sizeof(msg));
    *out_wire = dir_counts(c->p, SSHBPP_DIR_OUT).wire - o0.wire;
    *in_wire = dir_counts(c->p, SSHBPP_DIR_IN).wire - i0.wire;
}

static void
compression_case(int via_none)
{
    sshbpp_kex_info ci;
    sshbpp__wbuf blob;
    uint64_t out_w, in_w;
    char m[64];
    int ok = 7;
    cli c;
    srv v;

    key_blob(K_ED, &blob);
    new_srv(&v);
    v.auth_blob = blob.p;
    v.auth_blob_len = blob.len;
    v.accept_none = via_none;
    pair_open(&c, &v, "zlib@openssh.com");
    assert_int_equal(sshbpp_kex_get_info(sshbpp_session_kex(c.s), &ci), 0);
    assert_string_equal(ci.comp_c2s, "zlib@openssh.com");
    assert_string_equal(ci.comp_s2c, "zlib@openssh.com");

    /* before authentication: negotiated but not running */
    echo_round(&c, &out_w, &in_w);
    assert_true(out_w > ECHO_LEN);
    assert_true(in_w > ECHO_LEN);

    assert_int_equal(sshbpp_session_service_request(c.s, "ssh-userauth"), 0);
    if (via_none)
        assert_int_equal(sshbpp_session_auth_none(c.s, "frank", m, sizeof(m), &ok), 0);
    else
        assert_int_equal(
            sshbpp_session_auth_publickey(c.s, "frank", key_path[K_ED], m, sizeof(m), &ok), 0);
    assert_int_equal(ok, 1);

    /* after SUCCESS: both directions compress (10 KiB of a repeated
     * pattern is a few dozen bytes of deflate) */
    echo_round(&c, &out_w, &in_w);
    assert_true(out_w < 512);
    assert_true(in_w < 512);
    assert_int_equal(sshbpp_kex_auth_done(sshbpp_session_kex(c.s)), 0); /* again: no-op */

    /* and keep compressing across a rekey (the server's thread answers) */
    assert_int_equal(sshbpp_session_rekey(c.s), 0);
    echo_round(&c, &out_w, &in_w);
    assert_true(out_w < 512);
    assert_true(in_w < 512);
    assert_int_equal(sshbpp_kex_get_info(sshbpp_session_kex(c.s), &ci), 0);
    assert_int_equal(ci.rekeys, 1);
    pair_close(&c, &v);
    assert_int_equal(v.echoes, 3);
    assert_int_equal(v.authed, 1);
    sshbpp__wb_free(&blob);
}

static void
test_delayed_compression(void **state)
{
    (void)state;
    compression_case(0);
    compression_case(1);
}

/* Plain "zlib" is unaffected: on from NEWKEYS, before any authentication. */
static void
test_plain_zlib_unchanged(void **state)
{
    uint64_t out_w, in_w;
    cli c;
    srv v;

    (void)state;
    new_srv(&v);
    pair_open(&c, &v, "zlib");
    echo_round(&c, &out_w, &in_w);
    assert_true(out_w < 512);
    assert_true(in_w < 512);
    pair_close(&c, &v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_request),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_publickey_each_type),
        cmocka_unit_test(test_publickey_rsa_alg_choice),
        cmocka_unit_test(test_publickey_wrong_key),
        cmocka_unit_test(test_publickey_bad_keyfile),
        cmocka_unit_test(test_malformed_answers),
        cmocka_unit_test(test_delayed_compression),
        cmocka_unit_test(test_plain_zlib_unchanged),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
