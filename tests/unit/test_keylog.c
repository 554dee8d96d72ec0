/*
 * test_keylog.c: the key log callback (sshbpp_kex_set_keylog). A client
 * and a server sshbpp_kex, each on its own in-memory engine, are pumped
 * against each other; for every key exchange method the callback must fire
 * once on each side with the cookie of the KEXINIT that side sent, the same
 * K on both sides, and a private key that really is the one behind the
 * public value that side sent (recomputed here with libcrypto); a rekey
 * fires it again with the new cookies; nothing fires when it is unset or
 * removed; the conn passes sshbpp_conn_config.keylog through.
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

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_conn.h"
#include "pq.h"
#include "testutil.h"

#define V_C "SSH-2.0-keylogclient"
#define V_S "SSH-2.0-keylogserver"
#define MAX_EV 4

static char key_ed[64];

/* One recorded event, copied (the library wipes its buffers after). */
typedef struct rec {
    enum sshbpp_role role;
    char kex[64];
    unsigned exchange;
    uint8_t cookie[16];
    uint8_t priv[SSHBPP__EPH_PRIV_MAX];
    size_t priv_len;
    int priv_null;
    uint8_t k[1100];
    size_t k_len;
    enum sshbpp_keylog_secret_form form;
} rec;

typedef struct side {
    sshbpp_engine *e;
    sshbpp_kex *k;
    int err;
    uint8_t kexinit[4096]; /* the KEXINIT we sent last */
    size_t kexinit_len;
    uint8_t kexmsg[4][2200]; /* our sent messages 30..33, by type - 30 */
    size_t kexmsg_len[4];
    rec ev[MAX_EV];
    unsigned nev;
} side;

typedef struct pair {
    side c, s;
} pair;

static void
on_keylog(void *ctx, const sshbpp_keylog_event *ev)
{
    side *s = ctx;
    rec *r;

    assert_true(s->nev < MAX_EV);
    r = &s->ev[s->nev++];
    memset(r, 0, sizeof(*r));
    r->role = ev->role;
    assert_non_null(ev->kex);
    assert_true(strlen(ev->kex) < sizeof(r->kex));
    strcpy(r->kex, ev->kex);
    r->exchange = ev->exchange;
    assert_non_null(ev->cookie);
    memcpy(r->cookie, ev->cookie, 16);
    r->priv_null = ev->priv == NULL;
    assert_true(ev->priv_len <= sizeof(r->priv));
    assert_true((ev->priv == NULL) == (ev->priv_len == 0));
    if (ev->priv != NULL)
        memcpy(r->priv, ev->priv, ev->priv_len);
    r->priv_len = ev->priv_len;
    assert_non_null(ev->shared_secret);
    assert_true(ev->shared_secret_len > 0 && ev->shared_secret_len <= sizeof(r->k));
    memcpy(r->k, ev->shared_secret, ev->shared_secret_len);
    r->k_len = ev->shared_secret_len;
    r->form = ev->shared_secret_form;
}

static int
t_send(void *ctx, const uint8_t *p, size_t n)
{
    side *s = ctx;

    if (p[0] == 20 && n <= sizeof(s->kexinit)) {
        memcpy(s->kexinit, p, n);
        s->kexinit_len = n;
    }
    if (p[0] >= 30 && p[0] <= 33 && n <= sizeof(s->kexmsg[0])) {
        memcpy(s->kexmsg[p[0] - 30], p, n);
        s->kexmsg_len[p[0] - 30] = n;
    }
    return sshbpp_engine_send(s->e, p, n);
}

static int
t_set_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    side *s = ctx;
    return sshbpp_engine_set_keys(s->e, dir, k);
}

static int
t_set_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    side *s = ctx;
    return sshbpp_engine_set_compression(s->e, dir, name);
}

static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    side *s = ctx;
    sshbpp_engine_reset_seqno(s->e, dir);
}

static const sshbpp_kex_transport transport = {t_send, t_set_keys, t_set_comp, t_reset};

static void
side_init(side *x, int role, const char *kexname, int with_log)
{
    sshbpp_kex_config cfg;

    memset(x, 0, sizeof(*x));
    memset(&cfg, 0, sizeof(cfg));
    cfg.kex = kexname;
    x->e = tu_engine_new();
    assert_non_null(x->e);
    x->k = sshbpp_kex_new(role, &cfg, &transport, x);
    assert_non_null(x->k);
    assert_int_equal(sshbpp_kex_set_versions(x->k, V_C, V_S), 0);
    if (with_log)
        assert_int_equal(sshbpp_kex_set_keylog(x->k, on_keylog, x), 0);
}

static void
pair_init(pair *p, const char *kexname, int with_log)
{
    side_init(&p->c, SSHBPP_ROLE_CLIENT, kexname, with_log);
    side_init(&p->s, SSHBPP_ROLE_SERVER, kexname, with_log);
    assert_int_equal(sshbpp_kex_add_hostkey_file(p->s.k, key_ed), 0);
}

static void
pair_free(pair *p)
{
    sshbpp_kex_free(p->c.k);
    sshbpp_kex_free(p->s.k);
    sshbpp_engine_free(p->c.e);
    sshbpp_engine_free(p->s.e);
}

static int
deliver(side *from, side *to)
{
    size_t n;
    const uint8_t *d = sshbpp_engine_tx_data(from->e, &n);
    sshbpp_packet pkt;
    int r;

    if (n == 0)
        return 0;
    assert_int_equal(sshbpp_engine_feed(to->e, d, n), 0);
    sshbpp_engine_tx_consume(from->e, n);
    while (to->err == 0) {
        r = sshbpp_engine_rx_next(to->e, &pkt);
        if (r == SSHBPP_EAGAIN)
            break;
        if (r < 0 || (r = sshbpp_kex_input(to->k, &pkt)) < 0)
            to->err = r;
    }
    return 1;
}

static void
pump(pair *p)
{
    int i;

    for (i = 0; i < 100; i++)
        if (!deliver(&p->c, &p->s) && !deliver(&p->s, &p->c))
            return;
    fail_msg("pump did not settle");
}

static void
handshake(pair *p)
{
    assert_int_equal(sshbpp_kex_start(p->c.k), 0);
    assert_int_equal(sshbpp_kex_start(p->s.k), 0);
    pump(p);
    assert_int_equal(p->c.err, 0);
    assert_int_equal(p->s.err, 0);
}

/* ---- checks ----------------------------------------------------------------- */

/* Reads an SSH string/mpint at *off of msg (uint32 length + bytes). */
static const uint8_t *
get_field(const uint8_t *msg, size_t len, size_t *off, size_t *flen)
{
    uint32_t n;

    assert_true(*off + 4 <= len);
    n = (uint32_t)msg[*off] << 24 | (uint32_t)msg[*off + 1] << 16 |
        (uint32_t)msg[*off + 2] << 8 | msg[*off + 3];
    assert_true(*off + 4 + n <= len);
    *flen = n;
    *off += 4 + n;
    return msg + *off - n;
}

/* The public value x sent in its exchange message: client Q_C / e in 30 or
 * 32, server Q_S / f in 31 or 33 (after the host key blob); for the group
 * exchange also p and g from the server's GROUP (31). */
static const uint8_t *
sent_public(const pair *p, const side *x, int gex, size_t *n)
{
    size_t off = 1, skip;
    int idx = x == &p->c ? (gex ? 2 : 0) : (gex ? 3 : 1);
    const uint8_t *m = x->kexmsg[idx];
    size_t len = x->kexmsg_len[idx];

    assert_true(len > 1);
    if (x == &p->s)
        (void)get_field(m, len, &off, &skip); /* K_S */
    return get_field(m, len, &off, n);
}

static void
check_x25519(const uint8_t *priv, size_t plen, const uint8_t *pub, size_t publen)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, plen);
    uint8_t q[32];
    size_t qlen = sizeof(q);

    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, q, &qlen), 1);
    assert_int_equal(qlen, 32);
    assert_int_equal(publen, 32);
    assert_memory_equal(q, pub, 32);
    EVP_PKEY_free(k);
}

static void
check_ecdh(const char *name, const uint8_t *priv, size_t plen, const uint8_t *pub, size_t publen)
{
    int nid = strstr(name, "256") ? NID_X9_62_prime256v1
              : strstr(name, "384") ? NID_secp384r1 : NID_secp521r1;
    size_t field = nid == NID_X9_62_prime256v1 ? 32 : nid == NID_secp384r1 ? 48 : 66;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    EC_POINT *q = EC_POINT_new(g);
    BIGNUM *d = BN_bin2bn(priv, (int)plen, NULL);
    uint8_t out[1 + 2 * 66];
    size_t olen;

    assert_int_equal(plen, field); /* padded to the field size */
    assert_int_equal(EC_POINT_mul(g, q, d, NULL, NULL, NULL), 1);
    olen = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, out, sizeof(out), NULL);
    assert_int_equal(olen, publen);
    assert_memory_equal(out, pub, olen);
    BN_clear_free(d);
    EC_POINT_free(q);
    EC_GROUP_free(g);
}

/* pub == g^x mod p, for the RFC 3526 groups (g = 2) or the exchanged group. */
static void
check_dh(const pair *pr, const char *name, int gex, const uint8_t *priv, size_t plen,
         const uint8_t *pub, size_t publen)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = NULL, *g = BN_new(), *x = BN_bin2bn(priv, (int)plen, NULL);
    BIGNUM *y = BN_new(), *want = BN_bin2bn(pub, (int)publen, NULL);

    assert_true(plen > 0 && priv[0] != 0); /* no leading zero bytes */
    if (gex) {
        size_t off = 1, n;
        const uint8_t *f;

        assert_true(pr->s.kexmsg_len[1] > 1); /* the server's GROUP */
        f = get_field(pr->s.kexmsg[1], pr->s.kexmsg_len[1], &off, &n);
        p = BN_bin2bn(f, (int)n, NULL);
        f = get_field(pr->s.kexmsg[1], pr->s.kexmsg_len[1], &off, &n);
        assert_non_null(BN_bin2bn(f, (int)n, g));
    } else {
        if (strstr(name, "group14"))
            p = BN_get_rfc3526_prime_2048(NULL);
        else if (strstr(name, "group16"))
            p = BN_get_rfc3526_prime_4096(NULL);
        else if (strstr(name, "group18"))
            p = BN_get_rfc3526_prime_8192(NULL);
        else
            p = BN_get_rfc2409_prime_1024(NULL); /* group1 */
        assert_int_equal(BN_set_word(g, 2), 1);
    }
    assert_non_null(p);
    assert_int_equal(BN_mod_exp(y, g, x, p, ctx), 1);
    assert_int_equal(BN_cmp(y, want), 0);
    BN_free(p);
    BN_free(g);
    BN_clear_free(x);
    BN_free(y);
    BN_free(want);
    BN_CTX_free(ctx);
}

/* ev is the event of side x for the exchange; checks everything. */
static void
check_event(const pair *p, const side *x, const rec *ev, const char *name, unsigned exchange)
{
    const sshbpp__kex_method *m = sshbpp__kex_method_find(name);
    const uint8_t *pub;
    size_t publen;

    assert_non_null(m);
    assert_int_equal(ev->role, x == &p->c ? SSHBPP_ROLE_CLIENT : SSHBPP_ROLE_SERVER);
    assert_string_equal(ev->kex, name);
    assert_int_equal(ev->exchange, exchange);
    assert_true(x->kexinit_len > 17);
    assert_memory_equal(ev->cookie, x->kexinit + 1, 16);
    if (m->type == SSHBPP__KEX_MLKEM768X25519) {
        assert_int_equal(ev->form, SSHBPP_KEYLOG_K_STRING);
        assert_int_equal(ev->k_len, 32);
        assert_true(ev->priv_null);
        return;
    }
    assert_int_equal(ev->form, SSHBPP_KEYLOG_K_MPINT);
    /* an mpint body: minimal, non-negative */
    assert_true(ev->k_len > 0);
    if (ev->k[0] == 0)
        assert_true(ev->k_len > 1 && (ev->k[1] & 0x80) != 0);
    else
        assert_true((ev->k[0] & 0x80) == 0);
    assert_false(ev->priv_null);
    pub = sent_public(p, x, m->type == SSHBPP__KEX_DH_GEX, &publen);
    switch (m->type) {
    case SSHBPP__KEX_X25519:
        check_x25519(ev->priv, ev->priv_len, pub, publen);
        break;
    case SSHBPP__KEX_ECDH:
        check_ecdh(name, ev->priv, ev->priv_len, pub, publen);
        break;
    default:
        check_dh(p, name, m->type == SSHBPP__KEX_DH_GEX, ev->priv, ev->priv_len, pub, publen);
        break;
    }
}

/* ---- tests -------------------------------------------------------------------- */

static int
keys_setup(void **state)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f;
    int fd;

    (void)state;
    strcpy(key_ed, "/tmp/sshbpp_keylogkey_XXXXXX");
    fd = mkstemp(key_ed);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(pk);
    return 0;
}

static int
keys_teardown(void **state)
{
    (void)state;
    unlink(key_ed);
    return 0;
}

/* Every method this build runs, legacy ones included: one event per side,
 * checked, then a rekey started by the client gives one more each. */
static void
test_every_method(void **state)
{
    const char *const *names = sshbpp__kex_supported();
    size_t i, n = 0;

    (void)state;
    for (i = 0; names[i] != NULL; i++) {
        pair p;

        pair_init(&p, names[i], 1);
        handshake(&p);
        assert_int_equal(p.c.nev, 1);
        assert_int_equal(p.s.nev, 1);
        check_event(&p, &p.c, &p.c.ev[0], names[i], 0);
        check_event(&p, &p.s, &p.s.ev[0], names[i], 0);
        assert_int_equal(p.c.ev[0].k_len, p.s.ev[0].k_len);
        assert_memory_equal(p.c.ev[0].k, p.s.ev[0].k, p.c.ev[0].k_len);
        assert_memory_not_equal(p.c.ev[0].cookie, p.s.ev[0].cookie, 16);

        /* rekey */
        memset(p.c.kexmsg_len, 0, sizeof(p.c.kexmsg_len));
        memset(p.s.kexmsg_len, 0, sizeof(p.s.kexmsg_len));
        assert_int_equal(sshbpp_kex_start(p.c.k), 0);
        pump(&p);
        assert_int_equal(p.c.err, 0);
        assert_int_equal(p.s.err, 0);
        assert_int_equal(sshbpp_kex_completed(p.c.k), 2);
        assert_int_equal(p.c.nev, 2);
        assert_int_equal(p.s.nev, 2);
        check_event(&p, &p.c, &p.c.ev[1], names[i], 1);
        check_event(&p, &p.s, &p.s.ev[1], names[i], 1);
        assert_memory_equal(p.c.ev[1].k, p.s.ev[1].k, p.c.ev[1].k_len);
        assert_memory_not_equal(p.c.ev[0].cookie, p.c.ev[1].cookie, 16);
        assert_memory_not_equal(p.s.ev[0].cookie, p.s.ev[1].cookie, 16);
        pair_free(&p);
        n++;
    }
    assert_true(n >= 9); /* curve25519 x2, ecdh x3, dh x4+, gex */
    /* The hybrid was among them exactly when libcrypto has ML-KEM (and
     * under SSHBPP_EXPECT_MLKEM=1 it must have). */
    assert_int_equal(sshbpp__kex_method_find("mlkem768x25519-sha256") != NULL,
                     tu_mlkem_present());
}

/* Not installed: nothing fires. Installed and then removed: nothing. */
static void
test_off_by_default(void **state)
{
    pair p;

    (void)state;
    pair_init(&p, "curve25519-sha256", 0);
    handshake(&p);
    assert_int_equal(sshbpp_kex_completed(p.c.k), 1);
    assert_int_equal(p.c.nev + p.s.nev, 0);
    pair_free(&p);

    pair_init(&p, "diffie-hellman-group14-sha256", 1);
    assert_int_equal(sshbpp_kex_set_keylog(p.c.k, NULL, &p.c), 0);
    assert_int_equal(sshbpp_kex_set_keylog(p.s.k, NULL, NULL), 0);
    handshake(&p);
    assert_int_equal(sshbpp_kex_completed(p.s.k), 1);
    assert_int_equal(p.c.nev + p.s.nev, 0);
    /* installed later: the rekey fires */
    assert_int_equal(sshbpp_kex_set_keylog(p.s.k, on_keylog, &p.s), 0);
    assert_int_equal(sshbpp_kex_start(p.s.k), 0);
    pump(&p);
    assert_int_equal(p.s.err, 0);
    assert_int_equal(p.c.nev, 0);
    assert_int_equal(p.s.nev, 1);
    assert_int_equal(p.s.ev[0].exchange, 1);
    pair_free(&p);

    assert_int_equal(sshbpp_kex_set_keylog(NULL, on_keylog, NULL), SSHBPP_EINVAL);
}

/* The conn hands sshbpp_conn_config.keylog to its kex: two conns pumped
 * through their engines' wire bytes until both finish the first exchange. */
typedef struct conn_log {
    unsigned n;
    uint8_t k[1100];
    size_t klen;
    enum sshbpp_role role;
} conn_log;

static void
on_conn_keylog(void *ctx, const sshbpp_keylog_event *ev)
{
    conn_log *l = ctx;

    l->n++;
    l->role = ev->role;
    assert_true(ev->shared_secret_len <= sizeof(l->k));
    memcpy(l->k, ev->shared_secret, ev->shared_secret_len);
    l->klen = ev->shared_secret_len;
}

static void
conn_move(sshbpp_conn *from, sshbpp_conn *to)
{
    size_t n = 0;
    const uint8_t *d = sshbpp_conn_tx_data(from, &n);

    if (n > 0) {
        assert_int_equal(sshbpp_conn_feed(to, d, n, 0), 0);
        sshbpp_conn_tx_consume(from, n);
    }
}

/* Drains events; accepts the host key on the client. */
static void
conn_events(sshbpp_conn *c)
{
    sshbpp_conn_event ev;
    int i;

    for (i = 0; i < 64 && sshbpp_conn_next_event(c, &ev) == 0; i++) {
        assert_int_not_equal(ev.type, SSHBPP_CONN_EV_ERROR);
        if (ev.type == SSHBPP_CONN_EV_HOSTKEY)
            assert_int_equal(sshbpp_conn_hostkey_verdict(c, 1), 0);
    }
}

static void
test_conn_passes_through(void **state)
{
    sshbpp_conn_config cc, sc;
    sshbpp_conn *c, *s;
    conn_log lc, ls;
    int i;

    (void)state;
    memset(&lc, 0, sizeof(lc));
    memset(&ls, 0, sizeof(ls));
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    assert_null(cc.keylog); /* off by default */
    cc.keylog = on_conn_keylog;
    cc.keylog_ctx = &lc;
    sc.keylog = on_conn_keylog;
    sc.keylog_ctx = &ls;
    c = sshbpp_conn_new(&cc);
    s = sshbpp_conn_new(&sc);
    assert_non_null(c);
    assert_non_null(s);
    assert_int_equal(sshbpp_conn_add_hostkey_file(s, key_ed), 0);
    assert_int_equal(sshbpp_conn_start(c, 0), 0);
    assert_int_equal(sshbpp_conn_start(s, 0), 0);
    for (i = 0; i < 200 && (sshbpp_conn_kex_count(c) < 1 || sshbpp_conn_kex_count(s) < 1);
         i++) {
        conn_move(c, s);
        conn_move(s, c);
        conn_events(c);
        conn_events(s);
    }
    assert_int_equal(sshbpp_conn_error(c), 0);
    assert_int_equal(sshbpp_conn_error(s), 0);
    assert_int_equal(lc.n, 1);
    assert_int_equal(ls.n, 1);
    assert_int_equal(lc.role, SSHBPP_ROLE_CLIENT);
    assert_int_equal(ls.role, SSHBPP_ROLE_SERVER);
    assert_int_equal(lc.klen, ls.klen);
    assert_memory_equal(lc.k, ls.k, lc.klen);
    sshbpp_conn_free(c);
    sshbpp_conn_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_method),
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_conn_passes_through),
    };

    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
