/*
 * test_cov_kexalg.c: what test_kexalg leaves of src/kex/kexalg.c.
 *
 * mlkem768x25519-sha256 (ML-KEM-768 + X25519, K = string(SHA-256(ss_kem ||
 * ss_x))): each of our two roles against an independent peer made here of
 * plain EVP calls (the test encapsulates to our client's key, decapsulates
 * our server's ciphertext, does its own X25519 and hashes K itself), a full
 * exchange of our two ends through tests/support/kex_ends (first exchange,
 * then a rekey from each side, application data after each), and hostile
 * values at the message level: C_INIT and S_REPLY of every wrong length,
 * low-order X25519 halves, a malformed encapsulation key, trailing bytes, a
 * forged ciphertext. With Debian 12's OpenSSL 3.0 these tests skip (and
 * test_mlkem_absent checks the absence instead); ctest
 * interop.trixie.hostlib runs this same binary against OpenSSL 3.5 with
 * SSHBPP_EXPECT_MLKEM=1, under which a missing ML-KEM fails them.
 *
 * Besides: the internal-API contracts (bad arguments, methods that are not
 * in the table, output too small) with their precise codes, the group
 * exchange's generator rule (subgroup test only for a residue generator),
 * DH peer values 0, 1, p-1, p in a group-exchange group, and a DH group
 * below the 512-bit private-exponent size. libcrypto failures are
 * test_evpfail's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kex/kex_int.h"
#include "kex_ends.h"
#include "pq.h"
#include "testutil.h"

#define HYBRID "mlkem768x25519-sha256"
#define EK_LEN 1184
#define CT_LEN 1088
#define XLEN 32
#define INIT_LEN (EK_LEN + XLEN)
#define REPLY_LEN (CT_LEN + XLEN)

/* ---- helpers ---------------------------------------------------------- */

static const sshbpp__kex_method *
find(const char *name)
{
    const sshbpp__kex_method *m = sshbpp__kex_method_find(name);

    assert_non_null(m);
    return m;
}

/* The hybrid's method, or a skip where libcrypto has no ML-KEM (a failure
 * under SSHBPP_EXPECT_MLKEM=1: see pq.h). */
static const sshbpp__kex_method *
hybrid_or_skip(void)
{
    if (!tu_mlkem_present())
        skip();
    return find(HYBRID);
}

/* The string field at the start of w's bytes, which must be all of them. */
static size_t
only_string(const sshbpp__wbuf *w, uint8_t *out, size_t cap)
{
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;

    sshbpp__rb_init(&r, w->p, w->len);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_true(sshbpp__rb_done(&r));
    assert_true(n <= cap);
    memcpy(out, p, n);
    return n;
}

static EVP_PKEY *
x25519_new(uint8_t pub[XLEN])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    size_t n = XLEN;

    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &n), 1);
    assert_int_equal(n, XLEN);
    return k;
}

static void
x25519_shared(EVP_PKEY *ours, const uint8_t peer[XLEN], uint8_t out[XLEN])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, XLEN);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
    size_t n = XLEN;

    assert_non_null(pk);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(ctx, pk), 1);
    assert_int_equal(EVP_PKEY_derive(ctx, out, &n), 1);
    assert_int_equal(n, XLEN);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
}

/* The encoding of K the hybrid must produce: uint32 32 || SHA-256(ss_kem ||
 * ss_x), a string whatever its top bit (an mpint would add a 0x00 when it
 * is set and strip leading zeros). */
static void
want_k(const uint8_t ss_kem[32], const uint8_t ss_x[XLEN], uint8_t out[36])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;

    assert_non_null(md);
    assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(md, ss_kem, 32), 1);
    assert_int_equal(EVP_DigestUpdate(md, ss_x, XLEN), 1);
    out[0] = out[1] = out[2] = 0;
    out[3] = 32;
    assert_int_equal(EVP_DigestFinal_ex(md, out + 4, &n), 1);
    assert_int_equal(n, 32);
    EVP_MD_CTX_free(md);
}

/* ---- ML-KEM: absent (OpenSSL 3.0) or present --------------------------------- */

/* A method of the hybrid's type that is not the table's entry: what
 * eph_generate decides from is the type and libcrypto's ML-KEM. */
static const sshbpp__kex_method fake_hybrid = {"fake-hybrid", SSHBPP__KEX_MLKEM768X25519,
                                               "SHA256", 32, NULL, 0};

static void
test_mlkem_absent(void **state)
{
    sshbpp__kex_eph e = {0};
    int have = tu_mlkem_present();

    (void)state;
    assert_int_equal(sshbpp__kex_method_find(HYBRID) != NULL, have);
    if (have) {
        assert_int_equal(sshbpp__eph_generate(&e, &fake_hybrid), 0);
        assert_non_null(e.kem);
        assert_non_null(e.key);
        sshbpp__eph_free(&e);
        return;
    }
    /* Asked for anyway (a caller holding a method pointer): unsupported,
     * nothing allocated. */
    assert_int_equal(sshbpp__eph_generate(&e, &fake_hybrid), SSHBPP_EUNSUPPORTED);
    assert_null(e.key);
    assert_null(e.kem);
    assert_null(e.m);
    {
        sshbpp_kex *k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT,
                                       &(sshbpp_kex_config){HYBRID, NULL, NULL, NULL, NULL},
                                       &ke_transport, NULL);

        assert_non_null(k);
        assert_int_equal(sshbpp_kex_start(k), SSHBPP_EUNSUPPORTED);
        sshbpp_kex_free(k);
    }
}

/* ---- ML-KEM against an independent peer ----------------------------------- */

/* Our server against the test's client: the test makes an ML-KEM-768 key
 * pair and an X25519 key, sends ek || x, and from our reply's ciphertext
 * and X25519 half computes K itself. Several rounds, so that hashes with
 * the top bit set (an mpint would grow a sign byte) and clear both occur. */
static void
test_mlkem_server_vs_evp(void **state)
{
    const sshbpp__kex_method *m = hybrid_or_skip();
    int round, top_set = 0;

    (void)state;
    for (round = 0; round < 12; round++) {
        EVP_PKEY *kem = EVP_PKEY_Q_keygen(NULL, NULL, "ML-KEM-768"), *x;
        EVP_PKEY_CTX *dctx;
        uint8_t init[INIT_LEN], rep[REPLY_LEN + 8], ss_kem[32], ss_x[XLEN], want[36];
        size_t n = EK_LEN, sslen = sizeof(ss_kem);
        sshbpp__kex_eph s = {0};
        sshbpp__wbuf qs, K;

        assert_non_null(kem);
        assert_int_equal(EVP_PKEY_get_octet_string_param(kem, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                         init, EK_LEN, &n),
                         1);
        assert_int_equal(n, EK_LEN);
        x = x25519_new(init + EK_LEN);
        sshbpp__wb_init(&qs);
        sshbpp__wb_init(&K);
        assert_int_equal(sshbpp__eph_reply(&s, m, init, sizeof(init), &qs, &K), 0);
        /* The server keeps only its X25519 key (for the key log's sake the
         * hybrid has no private value: EUNSUPPORTED). */
        assert_non_null(s.key);
        assert_null(s.kem);
        {
            uint8_t priv[64];
            size_t plen = 7;

            assert_int_equal(sshbpp__eph_private(&s, priv, sizeof(priv), &plen),
                             SSHBPP_EUNSUPPORTED);
            assert_int_equal(plen, 0);
        }
        assert_int_equal(only_string(&qs, rep, sizeof(rep)), REPLY_LEN);

        dctx = EVP_PKEY_CTX_new_from_pkey(NULL, kem, NULL);
        assert_non_null(dctx);
        assert_int_equal(EVP_PKEY_decapsulate_init(dctx, NULL), 1);
        assert_int_equal(EVP_PKEY_decapsulate(dctx, ss_kem, &sslen, rep, CT_LEN), 1);
        assert_int_equal(sslen, 32);
        x25519_shared(x, rep + CT_LEN, ss_x);
        want_k(ss_kem, ss_x, want);
        assert_int_equal(K.len, sizeof(want));
        assert_memory_equal(K.p, want, sizeof(want));
        top_set |= want[4] & 0x80 ? 1 : 2;

        sshbpp__wb_free(&qs);
        sshbpp__wb_free(&K);
        sshbpp__eph_free(&s);
        EVP_PKEY_CTX_free(dctx);
        EVP_PKEY_free(kem);
        EVP_PKEY_free(x);
    }
    /* 12 rounds miss one of the two top-bit cases with chance 2^-11. */
    assert_int_equal(top_set, 3);
}

/* Our client against the test's server: the test imports our C_INIT's
 * encapsulation key, encapsulates, makes its X25519 key and hands our
 * client ct || x; both sides' K must be the test's. */
static void
test_mlkem_client_vs_evp(void **state)
{
    const sshbpp__kex_method *m = hybrid_or_skip();
    int round;

    (void)state;
    for (round = 0; round < 6; round++) {
        sshbpp__kex_eph c = {0};
        sshbpp__wbuf w, K;
        uint8_t init[INIT_LEN + 8], rep[REPLY_LEN], ss_kem[32], ss_x[XLEN], want[36];
        size_t ctlen = CT_LEN, sslen = sizeof(ss_kem);
        EVP_PKEY *ek, *x;
        EVP_PKEY_CTX *ectx;

        assert_int_equal(sshbpp__eph_generate(&c, m), 0);
        sshbpp__wb_init(&w);
        sshbpp__wb_init(&K);
        assert_int_equal(sshbpp__eph_put_public(&c, &w), 0);
        assert_int_equal(only_string(&w, init, sizeof(init)), INIT_LEN);

        ek = EVP_PKEY_new_raw_public_key_ex(NULL, "ML-KEM-768", NULL, init, EK_LEN);
        assert_non_null(ek);
        ectx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
        assert_non_null(ectx);
        assert_int_equal(EVP_PKEY_encapsulate_init(ectx, NULL), 1);
        assert_int_equal(EVP_PKEY_encapsulate(ectx, rep, &ctlen, ss_kem, &sslen), 1);
        assert_int_equal(ctlen, CT_LEN);
        assert_int_equal(sslen, 32);
        x = x25519_new(rep + CT_LEN);
        x25519_shared(x, init + EK_LEN, ss_x);
        want_k(ss_kem, ss_x, want);

        assert_int_equal(sshbpp__eph_derive(&c, rep, sizeof(rep), &K), 0);
        assert_int_equal(K.len, sizeof(want));
        assert_memory_equal(K.p, want, sizeof(want));
        /* A K from the X25519 half alone, or from the KEM half alone, would
         * not be this: swap the halves' order in the hash and it differs. */
        {
            uint8_t swapped[36];

            want_k(ss_x, ss_kem, swapped);
            assert_memory_not_equal(K.p, swapped, sizeof(swapped));
        }

        /* The same client, now given a reply with the X25519 half of
         * another key: a different K, no error (nothing to detect). */
        {
            EVP_PKEY *y;
            sshbpp__wbuf K2;

            y = x25519_new(rep + CT_LEN);
            sshbpp__wb_init(&K2);
            assert_int_equal(sshbpp__eph_derive(&c, rep, sizeof(rep), &K2), 0);
            assert_int_equal(K2.len, K.len);
            assert_memory_not_equal(K2.p, K.p, K.len);
            sshbpp__wb_free(&K2);
            EVP_PKEY_free(y);
        }

        sshbpp__wb_free(&w);
        sshbpp__wb_free(&K);
        sshbpp__eph_free(&c);
        assert_null(c.kem);
        EVP_PKEY_CTX_free(ectx);
        EVP_PKEY_free(ek);
        EVP_PKEY_free(x);
    }
}

/* The internal entry points' own checks for the hybrid: a server-side
 * value (no ML-KEM key) cannot derive as a client, nor put a C_INIT; a
 * NULL peer with a length is refused. */
static void
test_mlkem_contracts(void **state)
{
    const sshbpp__kex_method *m = hybrid_or_skip();
    sshbpp__kex_eph c = {0}, s = {0};
    sshbpp__wbuf qs, K;
    uint8_t init[INIT_LEN + 8];

    (void)state;
    sshbpp__wb_init(&qs);
    sshbpp__wb_init(&K);
    assert_int_equal(sshbpp__eph_generate(&c, m), 0);
    assert_int_equal(sshbpp__eph_put_public(&c, &qs), 0);
    assert_int_equal(only_string(&qs, init, sizeof(init)), INIT_LEN);
    sshbpp__wb_reset(&qs);
    assert_int_equal(sshbpp__eph_reply(&s, m, NULL, INIT_LEN, &qs, &K), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_reply(&s, m, init, INIT_LEN, &qs, &K), 0);
    /* s: an X25519 key and no ML-KEM key. */
    sshbpp__wb_reset(&K);
    {
        uint8_t rep[REPLY_LEN];

        memset(rep, 0x11, sizeof(rep));
        assert_int_equal(sshbpp__eph_derive(&s, rep, sizeof(rep), &K), SSHBPP_EINVAL);
        assert_int_equal(K.len, 0);
    }
    assert_int_equal(sshbpp__eph_derive(&c, NULL, REPLY_LEN, &K), SSHBPP_EINVAL);
    sshbpp__wb_free(&qs);
    sshbpp__wb_free(&K);
    sshbpp__eph_free(&c);
    sshbpp__eph_free(&s);
}

/* ---- ML-KEM through two kex ends --------------------------------------------- */

/* How the hostile end rewrites the value field (the string right after
 * the type byte in KEX_ECDH_INIT, after K_S in KEX_ECDH_REPLY). */
enum vmode {
    V_NONE,
    V_LEN,       /* value cut or padded to v.len bytes */
    V_XZERO,     /* the X25519 half all zero */
    V_XONE,      /* the X25519 half u = 1 (low order: a zero secret) */
    V_XORDER8,   /* the X25519 half a point of order 8 */
    V_EKBAD,     /* encapsulation key coefficients 0xfff (>= q) */
    V_FLIP,      /* one ciphertext bit flipped */
    V_TRAIL,     /* the message with one byte more at its end */
    V_SET,       /* the field's content replaced by v.set (any method) */
    V_FLIPLAST,  /* the last byte of the value flipped (any method) */
};

static struct {
    int at;        /* the role that receives the rewritten message */
    uint8_t type;  /* 30 (INIT, at the server) or 31 (REPLY, at the client) */
    enum vmode mode;
    size_t len;    /* V_LEN */
    const uint8_t *set; /* V_SET: the new content (an mpint body for DH) */
    size_t setlen;
    int hybrid;    /* the hybrid's fixed lengths are checked */
    int done;
} v;
static uint8_t vbuf[8192];

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, size_t x)
{
    p[0] = (uint8_t)(x >> 24);
    p[1] = (uint8_t)(x >> 16);
    p[2] = (uint8_t)(x >> 8);
    p[3] = (uint8_t)x;
}

static void
rewrite_value(ke_end *to, sshbpp_packet *p)
{
    size_t off = 1, vlen, xoff, rest, o = 0;
    uint8_t val[4096];
    /* RFC 7748's order-8 u-coordinate (test_kexalg lists it too) */
    static const char order8[] =
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";

    if (v.done || to->role != v.at || p->type != v.type || v.mode == V_NONE)
        return;
    v.done = 1;
    if (v.type == 31) { /* skip K_S */
        assert_true(p->len >= 5);
        off = 5 + be32(p->payload + 1);
    }
    assert_true(p->len >= off + 4);
    vlen = be32(p->payload + off);
    if (v.hybrid)
        assert_int_equal(vlen, v.type == 30 ? INIT_LEN : REPLY_LEN);
    assert_true(off + 4 + vlen <= p->len);
    memcpy(val, p->payload + off + 4, vlen);
    xoff = v.type == 30 ? EK_LEN : CT_LEN;
    rest = p->len - (off + 4 + vlen);
    switch (v.mode) {
    case V_LEN:
        assert_true(v.len <= sizeof(val));
        if (v.len > vlen)
            memset(val + vlen, 0x5c, v.len - vlen);
        vlen = v.len;
        break;
    case V_XZERO:
        memset(val + xoff, 0, XLEN);
        break;
    case V_XONE:
        memset(val + xoff, 0, XLEN);
        val[xoff] = 1;
        break;
    case V_XORDER8:
        tu_hex_decode(order8, val + xoff, XLEN);
        break;
    case V_EKBAD:
        memset(val, 0xff, EK_LEN);
        break;
    case V_FLIP:
        val[CT_LEN / 2] ^= 0x20;
        break;
    case V_SET:
        assert_true(v.setlen <= sizeof(val));
        memcpy(val, v.set, v.setlen);
        vlen = v.setlen;
        break;
    case V_FLIPLAST:
        assert_true(vlen > 0);
        val[vlen - 1] ^= 0x01;
        break;
    default:
        break;
    }
    assert_true(off + 4 + vlen + rest + 1 <= sizeof(vbuf));
    memcpy(vbuf, p->payload, off);
    o = off;
    put_be32(vbuf + o, vlen);
    o += 4;
    memcpy(vbuf + o, val, vlen);
    o += vlen;
    memcpy(vbuf + o, p->payload + p->len - rest, rest);
    o += rest;
    if (v.mode == V_TRAIL)
        vbuf[o++] = 0;
    p->payload = vbuf;
    p->len = o;
}

static void
close_ends(ke_end *c, ke_end *s)
{
    sshbpp_kex_free(c->k);
    sshbpp_kex_free(s->k);
    sshbpp_engine_free(c->e);
    sshbpp_engine_free(s->e);
}

/* Pumps until quiet or an error; returns it (0: quiet), *who the role
 * that failed. */
static int
run(ke_end *c, ke_end *s, int *who)
{
    int a, b, rounds;

    *who = -1;
    for (rounds = 0; rounds < 20; rounds++) {
        if ((a = ke_pump(c, s)) < 0) {
            *who = SSHBPP_ROLE_SERVER;
            return a;
        }
        if ((b = ke_pump(s, c)) < 0) {
            *who = SSHBPP_ROLE_CLIENT;
            return b;
        }
        if (a == 0 && b == 0)
            return 0;
    }
    fail_msg("the exchange did not settle");
    return 0;
}

/* One application message each way under the current keys. */
static void
app_both_ways(ke_end *c, ke_end *s)
{
    static const uint8_t msg[] = {94, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'};
    unsigned ca = c->app, sa = s->app;
    int who;

    assert_int_equal(sshbpp_engine_send(c->e, msg, sizeof(msg)), 0);
    assert_int_equal(sshbpp_engine_send(s->e, msg, sizeof(msg)), 0);
    assert_int_equal(run(c, s, &who), 0);
    assert_int_equal(s->app, sa + 1);
    assert_int_equal(c->app, ca + 1);
}

static void
test_mlkem_full_exchange(void **state)
{
    sshbpp_kex_config cfg = {HYBRID, "ssh-ed25519", "aes256-gcm@openssh.com", NULL, NULL};
    ke_end c = {0}, s = {0};
    sshbpp_kex_info ci, si;
    const uint8_t *sid_c, *sid_s;
    size_t lc = 0, ls = 0;
    int who;

    (void)hybrid_or_skip();
    (void)state;
    c.role = SSHBPP_ROLE_CLIENT;
    s.role = SSHBPP_ROLE_SERVER;
    ke_start(&c, &s, &cfg);
    assert_int_equal(run(&c, &s, &who), 0);
    assert_int_equal(sshbpp_kex_completed(c.k), 1);
    assert_int_equal(sshbpp_kex_completed(s.k), 1);
    assert_int_equal(sshbpp_kex_get_info(c.k, &ci), 0);
    assert_int_equal(sshbpp_kex_get_info(s.k, &si), 0);
    assert_string_equal(ci.kex, HYBRID);
    assert_string_equal(si.kex, HYBRID);
    assert_string_equal(ci.hostkey_fingerprint, si.hostkey_fingerprint);
    /* H is SHA-256 output: the session id has 32 bytes, the same on both. */
    sid_c = sshbpp_kex_session_id(c.k, &lc);
    sid_s = sshbpp_kex_session_id(s.k, &ls);
    assert_non_null(sid_c);
    assert_non_null(sid_s);
    assert_int_equal(lc, 32);
    assert_int_equal(ls, 32);
    assert_memory_equal(sid_c, sid_s, 32);
    app_both_ways(&c, &s);

    /* A rekey from the server, then one from the client: the hybrid again,
     * the session id kept, data flowing under each new set of keys. */
    assert_int_equal(sshbpp_kex_start(s.k), 0);
    assert_int_equal(run(&c, &s, &who), 0);
    assert_int_equal(sshbpp_kex_completed(c.k), 2);
    assert_int_equal(sshbpp_kex_completed(s.k), 2);
    app_both_ways(&c, &s);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    assert_int_equal(run(&c, &s, &who), 0);
    assert_int_equal(sshbpp_kex_completed(c.k), 3);
    assert_int_equal(sshbpp_kex_completed(s.k), 3);
    assert_int_equal(sshbpp_kex_get_info(c.k, &ci), 0);
    assert_string_equal(ci.kex, HYBRID);
    assert_int_equal(ci.rekeys, 2);
    assert_memory_equal(sshbpp_kex_session_id(c.k, &lc), sid_s, 32);
    app_both_ways(&c, &s);
    close_ends(&c, &s);
}

/* The rewrite at `at` must end the exchange there with `want`, sticky,
 * with nothing sent after it and no session. */
static void
expect_rewrite_kex(const char *kex, int at, uint8_t type, enum vmode mode, size_t len,
                   const uint8_t *set, int want)
{
    sshbpp_kex_config cfg = {kex, "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", NULL};
    ke_end c = {0}, s = {0}, *bad;
    static const uint8_t ign[5] = {2, 0, 0, 0, 0};
    sshbpp_packet pk = {ign, sizeof(ign), 2, 9};
    size_t pending;
    int who, r;

    memset(&v, 0, sizeof(v));
    v.at = at;
    v.type = type;
    v.mode = mode;
    v.len = len;
    v.set = set;
    v.setlen = len;
    v.hybrid = strcmp(kex, HYBRID) == 0;
    c.role = SSHBPP_ROLE_CLIENT;
    s.role = SSHBPP_ROLE_SERVER;
    c.rewrite = s.rewrite = rewrite_value;
    ke_start(&c, &s, &cfg);
    r = run(&c, &s, &who);
    assert_int_equal(v.done, 1);
    if (r != want || (want != 0 && who != at))
        fail_msg("%s type %u mode %d len %zu at %s: got %s at %d, want %s", kex, type, (int)mode, len,
                 at == SSHBPP_ROLE_CLIENT ? "client" : "server", sshbpp_err_name(r), who,
                 sshbpp_err_name(want));
    bad = at == SSHBPP_ROLE_CLIENT ? &c : &s;
    (void)sshbpp_engine_tx_data(bad->e, &pending);
    assert_int_equal(pending, 0);
    if (want == 0) { /* the baseline: the rewrite changed nothing */
        assert_int_equal(sshbpp_kex_completed(c.k), 1);
        assert_int_equal(sshbpp_kex_completed(s.k), 1);
        close_ends(&c, &s);
        return;
    }
    assert_int_equal(sshbpp_kex_input(bad->k, &pk), want);
    assert_int_equal(sshbpp_kex_completed(bad->k), 0);
    assert_null(sshbpp_kex_session_id(bad->k, NULL));
    close_ends(&c, &s);
}

static void
expect_rewrite(int at, uint8_t type, enum vmode mode, size_t len, int want)
{
    expect_rewrite_kex(HYBRID, at, type, mode, len, NULL, want);
}

static void
test_mlkem_hostile_init(void **state)
{
    static const size_t lens[] = {0, 1, 32, EK_LEN, INIT_LEN - 1, INIT_LEN + 1, REPLY_LEN,
                                  2 * INIT_LEN};
    size_t i;

    (void)hybrid_or_skip();
    (void)state;
    /* baseline: the rewrite hook with nothing to do lets it through */
    expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_LEN, INIT_LEN, 0);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_LEN, lens[i], SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_XZERO, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_XONE, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_XORDER8, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_EKBAD, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_SERVER, 30, V_TRAIL, 0, SSHBPP_EKEXMSG);
}

static void
test_mlkem_hostile_reply(void **state)
{
    static const size_t lens[] = {0, 1, 32, CT_LEN, REPLY_LEN - 1, REPLY_LEN + 1, INIT_LEN,
                                  2 * REPLY_LEN};
    size_t i;

    (void)hybrid_or_skip();
    (void)state;
    expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_LEN, REPLY_LEN, 0);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_LEN, lens[i], SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_XZERO, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_XONE, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_XORDER8, 0, SSHBPP_EKEXVALUE);
    expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_TRAIL, 0, SSHBPP_EKEXMSG);
    /* A forged ciphertext decapsulates (implicit rejection) to another
     * secret: the exchange hash differs and the server's signature over
     * its own H does not verify. */
    expect_rewrite(SSHBPP_ROLE_CLIENT, 31, V_FLIP, 0, SSHBPP_ESIGNATURE);
}

/* ---- the other methods: hostile values through the kex ----------------------- */

/* e (at the server) or f (at the client) of 0, 1, p-1, p, p+1 and an
 * off-by-one: the exchange ends with EKEXVALUE there; then ECDH points off
 * the curve or of the wrong length and X25519's low-order points, each way. */
static void
test_classic_hostile_values(void **state)
{
    static const char *const dh = "diffie-hellman-group14-sha256";
    BIGNUM *p = BN_get_rfc3526_prime_2048(NULL);
    uint8_t body[300], pt[133];
    int side;

    (void)state;
    assert_non_null(p);
    for (side = 0; side < 2; side++) {
        int at = side == 0 ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT;
        uint8_t type = side == 0 ? 30 : 31;
        static const long dp[] = {-1, 0, 1};
        size_t i, n;

        /* The hook's re-encoding is right: a legitimate f = 2 (= g) passes
         * every value check, and only the signature over the server's own
         * H then fails. */
        if (at == SSHBPP_ROLE_CLIENT) {
            body[0] = 2;
            expect_rewrite_kex(dh, at, type, V_SET, 1, body, SSHBPP_ESIGNATURE);
        }
        expect_rewrite_kex(dh, at, type, V_SET, 0, body, SSHBPP_EKEXVALUE); /* 0 */
        body[0] = 1;
        expect_rewrite_kex(dh, at, type, V_SET, 1, body, SSHBPP_EKEXVALUE); /* 1 */
        for (i = 0; i < 3; i++) { /* p-1, p, p+1 as mpint bodies (sign byte: top bit set) */
            BIGNUM *f = BN_dup(p);

            assert_non_null(f);
            if (dp[i] < 0)
                assert_true(BN_sub_word(f, 1));
            else
                assert_true(BN_add_word(f, (BN_ULONG)dp[i]));
            body[0] = 0;
            n = (size_t)BN_bn2bin(f, body + 1) + 1;
            BN_free(f);
            expect_rewrite_kex(dh, at, type, V_SET, n, body, SSHBPP_EKEXVALUE);
        }
        /* ECDH P-256: off the curve (y changed), the compressed length,
         * the P-384 length */
        expect_rewrite_kex("ecdh-sha2-nistp256", at, type, V_FLIPLAST, 0, NULL, SSHBPP_EKEXVALUE);
        memset(pt, 0x04, sizeof(pt));
        expect_rewrite_kex("ecdh-sha2-nistp256", at, type, V_SET, 33, pt, SSHBPP_EKEXVALUE);
        expect_rewrite_kex("ecdh-sha2-nistp256", at, type, V_SET, 97, pt, SSHBPP_EKEXVALUE);
        expect_rewrite_kex("ecdh-sha2-nistp521", at, type, V_SET, 133, pt, SSHBPP_EKEXVALUE);
        /* X25519: u = 0 and u = 1 (all-zero secrets), 31 bytes */
        memset(pt, 0, 32);
        expect_rewrite_kex("curve25519-sha256", at, type, V_SET, 32, pt, SSHBPP_EKEXVALUE);
        pt[0] = 1;
        expect_rewrite_kex("curve25519-sha256", at, type, V_SET, 32, pt, SSHBPP_EKEXVALUE);
        expect_rewrite_kex("curve25519-sha256", at, type, V_SET, 31, pt, SSHBPP_EKEXVALUE);
    }
    BN_free(p);
}

/* ---- the other methods: contracts ------------------------------------------- */

static const sshbpp__kex_method bogus_type = {"bogus", 99, "SHA256", 32, NULL, 0};
static const sshbpp__kex_method bad_hash_len = {"bad-len", SSHBPP__KEX_X25519, "SHA256", 20,
                                                NULL, 0};
static const sshbpp__kex_method bad_hash_name = {"bad-name", SSHBPP__KEX_X25519, "NO-SUCH-MD",
                                                 32, NULL, 0};

static void
test_generate_contracts(void **state)
{
    const sshbpp__kex_method *gex = find("diffie-hellman-group-exchange-sha256");
    sshbpp__kex_eph e = {0};
    BIGNUM *p = BN_get_rfc3526_prime_2048(NULL), *g = BN_new();
    sshbpp__wbuf qs, K;
    uint8_t x[32] = {9};

    (void)state;
    assert_non_null(p);
    assert_non_null(g);
    assert_true(BN_set_word(g, 2));
    sshbpp__wb_init(&qs);
    sshbpp__wb_init(&K);
    /* The group exchange's key comes only with its group... */
    assert_int_equal(sshbpp__eph_generate(&e, gex), SSHBPP_EINVAL);
    assert_null(e.key);
    assert_int_equal(sshbpp__eph_reply(&e, gex, x, 32, &qs, &K), SSHBPP_EINVAL);
    assert_int_equal(qs.len + K.len, 0);
    /* ...and a group only for the group exchange. */
    assert_int_equal(sshbpp__eph_generate_group(&e, find("diffie-hellman-group14-sha256"), p, g),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_generate_group(NULL, gex, p, g), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_generate_group(&e, NULL, p, g), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_generate_group(&e, gex, NULL, g), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_generate_group(&e, gex, p, NULL), SSHBPP_EINVAL);
    assert_null(e.key);
    /* A method type that is not in the table. */
    assert_int_equal(sshbpp__eph_generate(&e, &bogus_type), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_reply(&e, &bogus_type, x, 32, &qs, &K), SSHBPP_EINVAL);
    assert_null(e.key);
    /* eph_reply's own argument checks */
    assert_int_equal(sshbpp__eph_reply(NULL, find("curve25519-sha256"), x, 32, &qs, &K),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_reply(&e, NULL, x, 32, &qs, &K), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_reply(&e, find("curve25519-sha256"), x, 32, NULL, &K),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_reply(&e, find("curve25519-sha256"), x, 32, &qs, NULL),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_reply(&e, find("curve25519-sha256"), NULL, 32, &qs, &K),
                     SSHBPP_EINVAL);
    assert_int_equal(qs.len + K.len, 0);
    sshbpp__wb_free(&qs);
    sshbpp__wb_free(&K);
    BN_free(p);
    BN_free(g);
}

/* A server given a bad client value: the error, and nothing of the key
 * or of K kept (the key it generated is freed again). */
static void
test_reply_bad_peer(void **state)
{
    static const struct {
        const char *name;
        size_t len;
        uint8_t fill;
    } cases[] = {
        {"curve25519-sha256", 31, 0x42},
        {"curve25519-sha256", 33, 0x42},
        {"curve25519-sha256", 32, 0x00}, /* u = 0: all-zero secret */
        {"ecdh-sha2-nistp256", 65, 0x04}, /* 0x04 then 0x04...: off the curve */
        {"ecdh-sha2-nistp384", 65, 0x04}, /* the P-256 length */
        {"diffie-hellman-group14-sha256", 0, 0}, /* f = 0 */
        {"diffie-hellman-group14-sha256", 256, 0xff}, /* f > p */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sshbpp__kex_eph e = {0};
        sshbpp__wbuf qs, K;
        uint8_t val[300];

        memset(val, cases[i].fill, sizeof(val));
        sshbpp__wb_init(&qs);
        sshbpp__wb_init(&K);
        if (sshbpp__eph_reply(&e, find(cases[i].name), val, cases[i].len, &qs, &K) !=
            SSHBPP_EKEXVALUE)
            fail_msg("case %zu (%s, %zu bytes): not refused", i, cases[i].name, cases[i].len);
        assert_int_equal(K.len, 0);
        assert_null(e.key);
        assert_null(e.m);
        sshbpp__wb_free(&qs);
        sshbpp__wb_free(&K);
    }
}

/* A plain X25519 key behind a method pointer of another type. */
static void
eph_with(sshbpp__kex_eph *e, const sshbpp__kex_method *m)
{
    uint8_t pub[XLEN];

    e->m = m;
    e->key = x25519_new(pub);
    e->kem = NULL;
}

static void
test_put_derive_contracts(void **state)
{
    sshbpp__kex_eph e = {0};
    sshbpp__wbuf w;
    uint8_t x[32] = {9};

    (void)state;
    sshbpp__wb_init(&w);
    /* No eph, no method, no key, no output; a NULL peer is refused only
     * with a length (an empty value is a value, of the wrong length). */
    assert_int_equal(sshbpp__eph_put_public(NULL, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(NULL, x, 32, &w), SSHBPP_EINVAL);
    eph_with(&e, find("curve25519-sha256"));
    e.m = NULL;
    assert_int_equal(sshbpp__eph_put_public(&e, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, x, 32, &w), SSHBPP_EINVAL);
    e.m = find("curve25519-sha256");
    assert_int_equal(sshbpp__eph_put_public(&e, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, x, 32, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, NULL, 0, &w), SSHBPP_EKEXVALUE);
    assert_int_equal(w.len, 0);
    sshbpp__eph_free(&e);
    e.m = find("curve25519-sha256"); /* a method, the key gone */
    assert_int_equal(sshbpp__eph_put_public(&e, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, x, 32, &w), SSHBPP_EINVAL);
    {
        sshbpp__wbuf K;

        sshbpp__wb_init(&K);
        assert_int_equal(sshbpp__eph_reply(&e, find("curve25519-sha256"), NULL, 0, &w, &K),
                         SSHBPP_EKEXVALUE);
        /* nothing secret kept (our public value may be in w: the
         * caller drops it with the failed message) */
        assert_int_equal(K.len, 0);
        assert_null(e.key);
        sshbpp__wb_free(&K);
        sshbpp__wb_reset(&w);
    }
    eph_with(&e, &bogus_type);
    assert_int_equal(sshbpp__eph_put_public(&e, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, x, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(w.len, 0);
    sshbpp__eph_free(&e);
    /* A hybrid eph without its ML-KEM key (as the server's is) is no
     * client: whatever libcrypto has, nothing is derived. */
    eph_with(&e, &fake_hybrid);
    assert_int_equal(sshbpp__eph_derive(&e, x, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_put_public(&e, &w), SSHBPP_EINVAL);
    assert_int_equal(w.len, 0);
    sshbpp__eph_free(&e);
    sshbpp__wb_free(&w);
}

static void
test_private_contracts(void **state)
{
    sshbpp__kex_eph e = {0};
    uint8_t out[SSHBPP__EPH_PRIV_MAX], zero[SSHBPP__EPH_PRIV_MAX];
    size_t len = 99;
    static const char *const names[] = {"curve25519-sha256", "ecdh-sha2-nistp521",
                                        "diffie-hellman-group14-sha256"};
    size_t i;

    (void)state;
    memset(zero, 0, sizeof(zero));
    assert_int_equal(sshbpp__eph_private(NULL, out, sizeof(out), &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_private(&e, out, sizeof(out), &len), SSHBPP_EINVAL);
    e.m = find("curve25519-sha256");
    assert_int_equal(sshbpp__eph_private(&e, NULL, sizeof(out), &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_private(&e, out, sizeof(out), NULL), SSHBPP_EINVAL);
    /* a method but no key yet */
    len = 99;
    assert_int_equal(sshbpp__eph_private(&e, out, sizeof(out), &len), SSHBPP_EINVAL);
    assert_int_equal(len, 0);
    /* Too small an output for each kind: ECRYPTO, out wiped, len 0. */
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t full = 0, cap;

        assert_int_equal(sshbpp__eph_generate(&e, find(names[i])), 0);
        assert_int_equal(sshbpp__eph_private(&e, out, sizeof(out), &full), 0);
        assert_true(full >= 16); /* a named DH group: a 225-bit exponent */
        cap = full - 1;
        memset(out, 0xa5, sizeof(out));
        len = 99;
        assert_int_equal(sshbpp__eph_private(&e, out, cap, &len), SSHBPP_ECRYPTO);
        assert_int_equal(len, 0);
        assert_memory_equal(out, zero, cap);
        assert_int_equal(out[cap], 0xa5); /* nothing past cap touched */
        sshbpp__eph_free(&e);
    }
    /* The hybrid has no single private value, whatever its keys. */
    eph_with(&e, &fake_hybrid);
    memset(out, 0xa5, 64);
    assert_int_equal(sshbpp__eph_private(&e, out, 64, &len), SSHBPP_EUNSUPPORTED);
    assert_int_equal(len, 0);
    assert_memory_equal(out, zero, 64);
    sshbpp__eph_free(&e);
}

static void
test_hash_derive_contracts(void **state)
{
    uint8_t out[64], zero[64], K[8] = {0, 0, 0, 1, 5}, H[32] = {1}, sid[32] = {2};

    (void)state;
    memset(zero, 0, sizeof(zero));
    /* A digest whose size is not the method's, and one libcrypto lacks. */
    assert_int_equal(sshbpp__kex_hash(&bad_hash_len, (const uint8_t *)"abc", 3, out),
                     SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp__kex_hash(&bad_hash_name, (const uint8_t *)"abc", 3, out),
                     SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp__kex_hash(find("curve25519-sha256"), NULL, 3, out), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__kex_hash(find("curve25519-sha256"), out, 3, NULL), SSHBPP_EINVAL);
    /* The empty message is fine: SHA-256("") */
    {
        uint8_t want[32];

        tu_hex_decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want,
                      sizeof(want));
        assert_int_equal(sshbpp__kex_hash(find("curve25519-sha256"), NULL, 0, out), 0);
        assert_memory_equal(out, want, 32);
    }
    /* Derivation that cannot run leaves no partial key behind. */
    memset(out, 0xa5, sizeof(out));
    assert_int_equal(sshbpp__kex_derive(&bad_hash_len, K, 5, H, 32, 'A', sid, 32, out, 40),
                     SSHBPP_ECRYPTO);
    assert_memory_equal(out, zero, 40);
    memset(out, 0xa5, sizeof(out));
    assert_int_equal(sshbpp__kex_derive(&bad_hash_name, K, 5, H, 32, 'A', sid, 32, out, 40),
                     SSHBPP_ECRYPTO);
    assert_memory_equal(out, zero, 40);
    assert_int_equal(out[40], 0xa5);
    assert_int_equal(sshbpp__kex_derive(find("curve25519-sha256"), NULL, 5, H, 32, 'A', sid, 32,
                                        out, 40),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__kex_derive(find("curve25519-sha256"), K, 5, NULL, 32, 'A', sid, 32,
                                        out, 40),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__kex_derive(find("curve25519-sha256"), K, 5, H, 32, 'A', NULL, 32,
                                        out, 40),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__kex_derive(find("curve25519-sha256"), K, 5, H, 32, 'A', sid, 32,
                                        NULL, 40),
                     SSHBPP_EINVAL);
    /* need 0: nothing to write, out may be NULL */
    assert_int_equal(sshbpp__kex_derive(find("curve25519-sha256"), K, 5, H, 32, 'A', sid, 32,
                                        NULL, 0),
                     0);
}

static void
test_dh_pub_check_contracts(void **state)
{
    static uint8_t p[2049], f[4] = {2};

    (void)state;
    memset(p, 0xff, sizeof(p));
    assert_int_equal(sshbpp__dh_pub_check(p, 0, f, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__dh_pub_check(p, 2049, f, 1), SSHBPP_EINVAL); /* > 16384 bits */
    assert_int_equal(sshbpp__dh_pub_check(NULL, 256, f, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__dh_pub_check(p, 256, NULL, 1), SSHBPP_EINVAL);
    /* f empty (0) is a value, refused as such */
    assert_int_equal(sshbpp__dh_pub_check(p, 256, NULL, 0), SSHBPP_EKEXVALUE);
}

/* ---- group exchange groups ------------------------------------------------------ */

/* f = base + delta as a big-endian magnitude in out; returns its length. */
static size_t
bn_value(const BIGNUM *p, int from_p, long delta, uint8_t *out)
{
    BIGNUM *f = from_p ? BN_dup(p) : BN_new();
    int n;

    assert_non_null(f);
    if (!from_p)
        BN_zero(f);
    if (delta >= 0)
        assert_true(BN_add_word(f, (BN_ULONG)delta));
    else
        assert_true(BN_sub_word(f, (BN_ULONG)-delta));
    n = BN_bn2bin(f, out);
    BN_free(f);
    return (size_t)n;
}

static int
gex_derive_rc(const sshbpp__kex_eph *e, const uint8_t *f, size_t n)
{
    sshbpp__wbuf K;
    int r;

    sshbpp__wb_init(&K);
    r = sshbpp__eph_derive(e, f, n, &K);
    if (r != 0)
        assert_int_equal(K.len, 0);
    sshbpp__wb_free(&K);
    return r;
}

/*
 * A group-exchange group (RFC 3526 group 14's prime as a server might send
 * it) with generator 2, a quadratic residue: the full check, so p-2 (a
 * non-residue) is refused like 0, 1, p-1, p. With generator p-2, a
 * non-residue (moduli files have such generators), half of the honest
 * values lie outside the subgroup: then only the range is checked, and p-2
 * passes while 0, 1, p-1, p still do not.
 */
static void
test_gex_generator_rule(void **state)
{
    const sshbpp__kex_method *gex = find("diffie-hellman-group-exchange-sha256");
    BIGNUM *p = BN_get_rfc3526_prime_2048(NULL), *g = BN_new();
    uint8_t f[260];
    int gi;

    (void)state;
    assert_non_null(p);
    assert_non_null(g);
    for (gi = 0; gi < 2; gi++) {
        sshbpp__kex_eph e = {0};
        int residue_g = gi == 0;
        size_t n;

        if (residue_g) {
            assert_true(BN_set_word(g, 2));
        } else {
            assert_non_null(BN_copy(g, p));
            assert_true(BN_sub_word(g, 2));
        }
        assert_int_equal(sshbpp__eph_generate_group(&e, gex, p, g), 0);
        assert_ptr_equal(e.m, gex);
        assert_non_null(e.key);
        assert_int_equal(gex_derive_rc(&e, f, 0), SSHBPP_EKEXVALUE); /* 0 */
        n = bn_value(p, 0, 1, f);
        assert_int_equal(gex_derive_rc(&e, f, n), SSHBPP_EKEXVALUE); /* 1 */
        n = bn_value(p, 1, -1, f);
        assert_int_equal(gex_derive_rc(&e, f, n), SSHBPP_EKEXVALUE); /* p-1 */
        n = bn_value(p, 1, 0, f);
        assert_int_equal(gex_derive_rc(&e, f, n), SSHBPP_EKEXVALUE); /* p */
        n = bn_value(p, 1, 1, f);
        assert_int_equal(gex_derive_rc(&e, f, n), SSHBPP_EKEXVALUE); /* p+1 */
        n = bn_value(p, 1, -2, f);
        assert_int_equal(gex_derive_rc(&e, f, n), residue_g ? SSHBPP_EKEXVALUE : 0); /* p-2 */
        n = bn_value(p, 0, 4, f);
        assert_int_equal(gex_derive_rc(&e, f, n), 0); /* 4, a residue */
        sshbpp__eph_free(&e);
    }
    BN_free(p);
    BN_free(g);
}

/* A group below 513 bits gets a private exponent of bits-1 bits, not the
 * usual 512 (which would not be below p): here a 512-bit safe prime,
 * made with `openssl prime -generate -bits 512 -safe`. */
static void
test_dh_keygen_small_group(void **state)
{
    static const char hexp[] = "C1AE2395298ECC842E0862CCFA18342B6F206A4A07295236D9E319A9769D9E32"
                               "6C20C9582A55355C92A285C164D3764BA1CE6F0AFD64ADA8E2F50C803612AFBF";
    BIGNUM *p = NULL, *g = BN_new(), *x = NULL;
    EVP_PKEY *key = NULL;
    int round, maxbits = 0;

    (void)state;
    assert_non_null(g);
    assert_true(BN_hex2bn(&p, hexp) > 0);
    assert_int_equal(BN_num_bits(p), 512);
    assert_true(BN_set_word(g, 2));
    for (round = 0; round < 4; round++) {
        assert_int_equal(sshbpp__dh_keygen(p, g, &key), 0);
        assert_non_null(key);
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &x), 1);
        assert_true(BN_num_bits(x) <= 511);
        if (BN_num_bits(x) > maxbits)
            maxbits = BN_num_bits(x);
        BN_clear_free(x);
        x = NULL;
        EVP_PKEY_free(key);
        key = NULL;
    }
    /* a full-length exponent, not a short one: 4 draws of 511 bits all
     * below 500 has chance 2^-44 */
    assert_true(maxbits >= 500);
    BN_free(p);
    BN_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlkem_absent),
        cmocka_unit_test(test_mlkem_server_vs_evp),
        cmocka_unit_test(test_mlkem_client_vs_evp),
        cmocka_unit_test(test_mlkem_contracts),
        cmocka_unit_test(test_mlkem_full_exchange),
        cmocka_unit_test(test_mlkem_hostile_init),
        cmocka_unit_test(test_mlkem_hostile_reply),
        cmocka_unit_test(test_classic_hostile_values),
        cmocka_unit_test(test_generate_contracts),
        cmocka_unit_test(test_reply_bad_peer),
        cmocka_unit_test(test_put_derive_contracts),
        cmocka_unit_test(test_private_contracts),
        cmocka_unit_test(test_hash_derive_contracts),
        cmocka_unit_test(test_dh_pub_check_contracts),
        cmocka_unit_test(test_gex_generator_rule),
        cmocka_unit_test(test_dh_keygen_small_group),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
