/*
 * test_kexalg.c: src/kex/kexalg.c on its own: the method table, ephemeral
 * keys agreeing pairwise for every method, every class of invalid peer value
 * rejected with SSHBPP_EKEXVALUE before a secret is computed from it, the
 * RFC 7748 X25519 vector through our mpint framing, and RFC 4253 section 7.2
 * key derivation against answers computed outside this code (Python
 * hashlib) and against an independent in-test rendering of the formula.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pq.h"
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include "kex/kex_int.h"

/* ---- helpers ------------------------------------------------------------ */


static const sshbpp__kex_method *
find(const char *name)
{
    const sshbpp__kex_method *m = sshbpp__kex_method_find(name);

    assert_non_null(m);
    return m;
}

/* Our public value as the message field's content: the string bytes
 * (X25519, ECDH) or the mpint magnitude (DH), copied to out. */
static size_t
public_field(const sshbpp__kex_eph *e, uint8_t *out, size_t cap)
{
    sshbpp__wbuf w;
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;

    sshbpp__wb_init(&w);
    assert_int_equal(sshbpp__eph_put_public(e, &w), 0);
    sshbpp__rb_init(&r, w.p, w.len);
    if (e->m->type == SSHBPP__KEX_DH)
        assert_int_equal(sshbpp__rb_mpint(&r, &p, &n), 0);
    else
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_true(sshbpp__rb_done(&r));
    assert_true(n <= cap);
    memcpy(out, p, n);
    sshbpp__wb_free(&w);
    return n;
}

static int
derive_rc(const sshbpp__kex_eph *e, const uint8_t *peer, size_t n)
{
    sshbpp__wbuf K;
    int rc;

    sshbpp__wb_init(&K);
    rc = sshbpp__eph_derive(e, peer, n, &K);
    /* A failed derive must not leave a partial secret behind. */
    if (rc != 0)
        assert_int_equal(K.len, 0);
    sshbpp__wb_free(&K);
    return rc;
}

/* ---- table -------------------------------------------------------------- */

static void
test_table(void **state)
{
    size_t i;
    const sshbpp__kex_method *m;
    static const char *const want[] = {
        "mlkem768x25519-sha256",
        "curve25519-sha256",      "curve25519-sha256@libssh.org",  "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",     "ecdh-sha2-nistp521",
        "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256",
        "diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1",
    };
    const char *const *sup = sshbpp__kex_supported(), *const *def = sshbpp__kex_defaults();
    /* ML-KEM comes with OpenSSL 3.5: the hybrid is there exactly then.
     * The run-time libcrypto decides, not the headers: the Debian 12 build
     * also runs against OpenSSL 3.5 (interop.trixie.hostlib). */
    size_t first = tu_mlkem_present() ? 0 : 1, j = 0;

    (void)state;
    for (i = first; i < sizeof(want) / sizeof(want[0]); i++, j++) {
        assert_non_null(sup[j]);
        assert_string_equal(sup[j], want[i]);
        m = find(want[i]);
        assert_string_equal(m->name, want[i]);
    }
    assert_null(sup[j]);
    /* The default list is the same minus the SHA-1 method. */
    for (j = 0; sup[j] != NULL && strcmp(sup[j], "diffie-hellman-group14-sha1") != 0; j++)
        assert_string_equal(def[j], sup[j]);
    assert_null(def[j]);
    if (first == 1)
        assert_null(sshbpp__kex_method_find("mlkem768x25519-sha256"));
    m = find("diffie-hellman-group14-sha1");
    assert_string_equal(m->hash, "SHA1");
    assert_int_equal(m->hash_len, 20);
    assert_true(m->flags & SSHBPP__KEXF_LEGACY);
    m = find("diffie-hellman-group1-sha1");
    assert_true(m->flags & SSHBPP__KEXF_LEGACY);
    assert_int_equal(m->hash_len, 20);
    m = find("diffie-hellman-group18-sha512");
    assert_string_equal(m->group, "modp_8192");
    assert_false(m->flags & SSHBPP__KEXF_LEGACY);

    m = find("curve25519-sha256");
    assert_int_equal(m->type, SSHBPP__KEX_X25519);
    assert_int_equal(m->hash_len, 32);
    m = find("ecdh-sha2-nistp384");
    assert_int_equal(m->type, SSHBPP__KEX_ECDH);
    assert_string_equal(m->hash, "SHA384");
    assert_string_equal(m->group, "P-384");
    m = find("ecdh-sha2-nistp521");
    assert_string_equal(m->hash, "SHA512");
    assert_int_equal(m->hash_len, 64);
    m = find("diffie-hellman-group14-sha256");
    assert_int_equal(m->type, SSHBPP__KEX_DH);
    assert_string_equal(m->group, "modp_2048");
    assert_string_equal(m->hash, "SHA256");
    m = find("diffie-hellman-group16-sha512");
    assert_string_equal(m->group, "modp_4096");
    assert_int_equal(m->hash_len, 64);

    assert_null(sshbpp__kex_method_find("diffie-hellman-group14-sha1 "));
    assert_null(sshbpp__kex_method_find("curve25519-sha256 "));
    assert_null(sshbpp__kex_method_find(""));
    assert_null(sshbpp__kex_method_find(NULL));
}

/* ---- agreement ---------------------------------------------------------- */

static void
agree_once(const sshbpp__kex_method *m)
{
    sshbpp__kex_eph a = {0}, b = {0};
    uint8_t pa[1400], pb[1400];
    size_t na, nb;
    sshbpp__wbuf Ka, Kb, qs;
    sshbpp__rbuf r;
    const uint8_t *mag, *p;
    size_t mlen;

    /* a is the client, b the server (sshbpp__eph_reply). */
    assert_int_equal(sshbpp__eph_generate(&a, m), 0);
    na = public_field(&a, pa, sizeof(pa));
    sshbpp__wb_init(&Ka);
    sshbpp__wb_init(&Kb);
    sshbpp__wb_init(&qs);
    assert_int_equal(sshbpp__eph_reply(&b, m, pa, na, &qs, &Kb), 0);
    sshbpp__rb_init(&r, qs.p, qs.len);
    if (m->type == SSHBPP__KEX_DH)
        assert_int_equal(sshbpp__rb_mpint(&r, &p, &nb), 0);
    else
        assert_int_equal(sshbpp__rb_string(&r, &p, &nb), 0);
    assert_true(sshbpp__rb_done(&r));
    assert_true(nb <= sizeof(pb));
    memcpy(pb, p, nb);
    switch (m->type) {
    case SSHBPP__KEX_MLKEM768X25519:
        assert_int_equal(na, 1184 + 32);
        assert_int_equal(nb, 1088 + 32);
        break;
    case SSHBPP__KEX_X25519:
        assert_int_equal(na, 32);
        break;
    case SSHBPP__KEX_ECDH:
        assert_int_equal(pa[0], 0x04);
        if (strcmp(m->group, "P-256") == 0)
            assert_int_equal(na, 65);
        else if (strcmp(m->group, "P-384") == 0)
            assert_int_equal(na, 97);
        else
            assert_int_equal(na, 133);
        break;
    default:
        assert_true(na > 100 && na <= (size_t)EVP_PKEY_get_size(a.key));
        break;
    }
    if (m->type != SSHBPP__KEX_DH && m->type != SSHBPP__KEX_MLKEM768X25519)
        assert_int_equal(na, nb);
    assert_memory_not_equal(pa, pb, na < nb ? na : nb);

    assert_int_equal(sshbpp__eph_derive(&a, pb, nb, &Ka), 0);
    assert_int_equal(Ka.len, Kb.len);
    assert_memory_equal(Ka.p, Kb.p, Ka.len);
    sshbpp__rb_init(&r, Ka.p, Ka.len);
    if (m->type == SSHBPP__KEX_MLKEM768X25519) {
        /* K is a string: SHA-256 output, 32 bytes whatever their value. */
        assert_int_equal(sshbpp__rb_string(&r, &mag, &mlen), 0);
        assert_int_equal(mlen, 32);
    } else {
        /* K must be a well-formed (minimal, non-negative) mpint. */
        assert_int_equal(sshbpp__rb_mpint(&r, &mag, &mlen), 0);
        assert_true(mlen > 16);
    }
    assert_true(sshbpp__rb_done(&r));

    sshbpp__wb_free(&Ka);
    sshbpp__wb_free(&Kb);
    sshbpp__wb_free(&qs);
    sshbpp__eph_free(&a);
    sshbpp__eph_free(&b);
    assert_null(a.key);
    assert_null(a.kem);
}

static void
test_agree_all(void **state)
{
    size_t i;
    int round;

    (void)state;
    for (i = 0; sshbpp__kex_supported()[i] != NULL; i++) {
        const sshbpp__kex_method *m = find(sshbpp__kex_supported()[i]);

        /* The group exchange has no fixed group: see test_gex_*. */
        if (m->type == SSHBPP__KEX_DH_GEX)
            continue;
        /* Several rounds for the fast methods so that secrets with leading
         * zero bytes (1 in 256) get a fair chance to show up. */
        int rounds = m->type == SSHBPP__KEX_DH ? 2 : m->type == SSHBPP__KEX_MLKEM768X25519 ? 10 : 40;

        for (round = 0; round < rounds; round++)
            agree_once(m);
    }
}

static void
test_bad_args(void **state)
{
    sshbpp__kex_eph e;
    sshbpp__wbuf w;
    uint8_t x[32] = {9};

    (void)state;
    sshbpp__wb_init(&w);
    assert_int_equal(sshbpp__eph_generate(&e, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_generate(NULL, find("curve25519-sha256")), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_generate(&e, find("curve25519-sha256")), 0);
    assert_int_equal(sshbpp__eph_put_public(&e, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, NULL, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(&e, x, 32, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__eph_derive(NULL, x, 32, &w), SSHBPP_EINVAL);
    sshbpp__eph_free(&e);
    sshbpp__eph_free(&e); /* idempotent */
    sshbpp__eph_free(NULL);
    assert_int_equal(sshbpp__eph_put_public(&e, &w), SSHBPP_EINVAL);
    sshbpp__wb_free(&w);
}

/* ---- X25519 --------------------------------------------------------------- */

/* RFC 7748 section 6.1, through our framing: K is the 32-byte secret read
 * as a big-endian integer (RFC 8731 section 3.1), i.e. an mpint whose
 * magnitude is the secret verbatim (its top bit is clear: no 0x00 pad). */
static void
test_x25519_rfc7748(void **state)
{
    static const char *const a_priv =
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    static const char *const a_pub =
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    static const char *const b_priv =
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    static const char *const b_pub =
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    static const char *const shared =
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    uint8_t k[32], p[32], want[36], got[64];
    sshbpp__kex_eph a = {0}, b = {0};
    sshbpp__wbuf K;
    size_t n;

    (void)state;
    /* The eph struct is plain data: build one from a fixed private key
     * instead of adding a test-only constructor to the library. */
    a.m = find("curve25519-sha256");
    tu_hex_decode(a_priv, k, sizeof(k));
    a.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, k, sizeof(k));
    assert_non_null(a.key);
    b.m = find("curve25519-sha256@libssh.org");
    tu_hex_decode(b_priv, k, sizeof(k));
    b.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, k, sizeof(k));
    assert_non_null(b.key);

    n = public_field(&a, got, sizeof(got));
    assert_int_equal(n, 32);
    tu_hex_decode(a_pub, p, sizeof(p));
    assert_memory_equal(got, p, 32);
    n = public_field(&b, got, sizeof(got));
    assert_int_equal(n, 32);
    tu_hex_decode(b_pub, p, sizeof(p));
    assert_memory_equal(got, p, 32);

    want[0] = 0;
    want[1] = 0;
    want[2] = 0;
    want[3] = 32;
    tu_hex_decode(shared, want + 4, 32);

    sshbpp__wb_init(&K);
    tu_hex_decode(b_pub, p, sizeof(p));
    assert_int_equal(sshbpp__eph_derive(&a, p, 32, &K), 0);
    assert_int_equal(K.len, 36);
    assert_memory_equal(K.p, want, 36);
    sshbpp__wb_reset(&K);
    tu_hex_decode(a_pub, p, sizeof(p));
    assert_int_equal(sshbpp__eph_derive(&b, p, 32, &K), 0);
    assert_int_equal(K.len, 36);
    assert_memory_equal(K.p, want, 36);
    sshbpp__wb_free(&K);
    sshbpp__eph_free(&a);
    sshbpp__eph_free(&b);
}

static void
test_x25519_invalid(void **state)
{
    /* u-coordinates whose multiple is zero for every scalar (small order,
     * or congruent to one modulo p): 0, 1, the order-8 points, p-1, p,
     * p+1, and 2^255 - 1 style non-canonical encodings of them. */
    static const char *const bad[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000080",
    };
    sshbpp__kex_eph e, peer;
    uint8_t p[64];
    size_t i, n;

    (void)state;
    assert_int_equal(sshbpp__eph_generate(&e, find("curve25519-sha256")), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tu_hex_decode(bad[i], p, sizeof(p));
        assert_int_equal(derive_rc(&e, p, 32), SSHBPP_EKEXVALUE);
    }
    /* Lengths other than 32, around a valid key. */
    assert_int_equal(sshbpp__eph_generate(&peer, find("curve25519-sha256")), 0);
    n = public_field(&peer, p, sizeof(p));
    assert_int_equal(n, 32);
    assert_int_equal(derive_rc(&e, p, 32), 0);
    assert_int_equal(derive_rc(&e, p, 0), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, 1), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, 31), SSHBPP_EKEXVALUE);
    p[32] = 0;
    assert_int_equal(derive_rc(&e, p, 33), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, 64), SSHBPP_EKEXVALUE);
    sshbpp__eph_free(&peer);
    sshbpp__eph_free(&e);
}

/* ---- ECDH ------------------------------------------------------------------ */

static void
ec_invalid(const char *name, size_t plen)
{
    sshbpp__kex_eph e, peer;
    uint8_t good[133], p[160];
    size_t n, fl = (plen - 1) / 2;

    assert_int_equal(sshbpp__eph_generate(&e, find(name)), 0);
    assert_int_equal(sshbpp__eph_generate(&peer, find(name)), 0);
    n = public_field(&peer, good, sizeof(good));
    assert_int_equal(n, plen);
    assert_int_equal(derive_rc(&e, good, n), 0);

    /* Wrong lengths: short, long, empty, the compressed length. */
    memcpy(p, good, n);
    p[n] = 0;
    assert_int_equal(derive_rc(&e, p, 0), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, 1), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, n - 1), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, n + 1), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, 1 + fl), SSHBPP_EKEXVALUE);

    /* Compressed encodings of the same point (right x, 0x02/0x03 prefix),
     * at both the compressed and the uncompressed length. */
    p[0] = 0x02;
    assert_int_equal(derive_rc(&e, p, 1 + fl), SSHBPP_EKEXVALUE);
    p[0] = 0x03;
    assert_int_equal(derive_rc(&e, p, 1 + fl), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    /* Hybrid form (0x06/0x07) and a 0x00 prefix. */
    p[0] = 0x06;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    p[0] = 0x07;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    p[0] = 0x00;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    assert_int_equal(derive_rc(&e, p, 1), SSHBPP_EKEXVALUE); /* infinity */

    /* Off the curve: one bit of y flipped, then of x. */
    memcpy(p, good, n);
    p[n - 1] ^= 0x01;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    memcpy(p, good, n);
    p[1 + fl / 2] ^= 0x10;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    /* (0, 0) and coordinates of all ones (>= the field prime). */
    memset(p, 0, n);
    p[0] = 0x04;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);
    memset(p, 0xff, n);
    p[0] = 0x04;
    assert_int_equal(derive_rc(&e, p, n), SSHBPP_EKEXVALUE);

    sshbpp__eph_free(&peer);
    sshbpp__eph_free(&e);
}

static void
test_ecdh_invalid(void **state)
{
    (void)state;
    ec_invalid("ecdh-sha2-nistp256", 65);
    ec_invalid("ecdh-sha2-nistp384", 97);
    ec_invalid("ecdh-sha2-nistp521", 133);
}

/* A point of another curve is on no curve of ours at that length. */
static void
test_ecdh_cross_curve(void **state)
{
    sshbpp__kex_eph e256, e384;
    uint8_t p[160];
    size_t n;

    (void)state;
    assert_int_equal(sshbpp__eph_generate(&e256, find("ecdh-sha2-nistp256")), 0);
    assert_int_equal(sshbpp__eph_generate(&e384, find("ecdh-sha2-nistp384")), 0);
    n = public_field(&e384, p, sizeof(p));
    assert_int_equal(derive_rc(&e256, p, n), SSHBPP_EKEXVALUE);
    n = public_field(&e256, p, sizeof(p));
    assert_int_equal(derive_rc(&e384, p, n), SSHBPP_EKEXVALUE);
    sshbpp__eph_free(&e256);
    sshbpp__eph_free(&e384);
}

/* ---- finite-field DH ------------------------------------------------------- */

static void
dh_invalid(const char *name)
{
    sshbpp__kex_eph e;
    BIGNUM *p = NULL, *v = NULL;
    uint8_t buf[1100], pb[1024];
    int plen, n;

    assert_int_equal(sshbpp__eph_generate(&e, find(name)), 0);
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_FFC_P, &p), 1);
    plen = BN_num_bytes(p);
    assert_true(plen == 128 || plen == 256 || plen == 512 || plen == 1024);
    assert_int_equal(BN_bn2bin(p, pb), plen);
    v = BN_new();
    assert_non_null(v);

    /* f = 0 (empty mpint magnitude) and f = 1. */
    assert_int_equal(derive_rc(&e, buf, 0), SSHBPP_EKEXVALUE);
    buf[0] = 1;
    assert_int_equal(derive_rc(&e, buf, 1), SSHBPP_EKEXVALUE);
    /* f = p - 1, p, p + 1 */
    assert_non_null(BN_copy(v, p));
    assert_true(BN_sub_word(v, 1));
    n = BN_bn2bin(v, buf);
    assert_int_equal(derive_rc(&e, buf, (size_t)n), SSHBPP_EKEXVALUE);
    n = BN_bn2bin(p, buf);
    assert_int_equal(derive_rc(&e, buf, (size_t)n), SSHBPP_EKEXVALUE);
    assert_non_null(BN_copy(v, p));
    assert_true(BN_add_word(v, 1));
    n = BN_bn2bin(v, buf);
    assert_int_equal(derive_rc(&e, buf, (size_t)n), SSHBPP_EKEXVALUE);
    /* Longer than p: 2^(8*plen) + 5 and an all-ones value of plen+1 bytes. */
    memset(buf, 0, sizeof(buf));
    buf[0] = 1;
    buf[plen] = 5;
    assert_int_equal(derive_rc(&e, buf, (size_t)plen + 1), SSHBPP_EKEXVALUE);
    memset(buf, 0xff, (size_t)plen);
    assert_int_equal(derive_rc(&e, buf, (size_t)plen), SSHBPP_EKEXVALUE);
    /* p - 2 is in range but outside the order-q subgroup (-2 is a
     * non-residue for these safe primes), so it would leak one bit. Our
     * own check refuses it, whatever OpenSSL's public-key check does (3.0
     * refuses it too, 3.5 does not). */
    assert_non_null(BN_copy(v, p));
    assert_true(BN_sub_word(v, 2));
    n = BN_bn2bin(v, buf);
    assert_int_equal(derive_rc(&e, buf, (size_t)n), SSHBPP_EKEXVALUE);
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, (size_t)n), SSHBPP_EKEXVALUE);
    /* The same values straight against our check: 0, 1, p-1, p. */
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, 0), SSHBPP_EKEXVALUE);
    buf[0] = 1;
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, 1), SSHBPP_EKEXVALUE);
    assert_non_null(BN_copy(v, p));
    assert_true(BN_sub_word(v, 1));
    n = BN_bn2bin(v, buf);
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, (size_t)n), SSHBPP_EKEXVALUE);
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, pb, (size_t)plen), SSHBPP_EKEXVALUE);
    /* One byte longer than p, even with a leading zero: too long. */
    buf[0] = 0;
    buf[1] = 2;
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, (size_t)plen + 1),
                     SSHBPP_EKEXVALUE);
    assert_int_equal(sshbpp__dh_pub_check(NULL, 0, buf, 1), SSHBPP_EINVAL);
    /* f = 2 = g (a quadratic residue: it generates the order-q subgroup)
     * and f = 4 are legitimate (if silly) public values; 2 and 4 pass our
     * check directly too. */
    buf[0] = 2;
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, 1), 0);
    assert_int_equal(derive_rc(&e, buf, 1), 0);
    buf[0] = 4;
    assert_int_equal(sshbpp__dh_pub_check(pb, (size_t)plen, buf, 1), 0);

    BN_free(v);
    BN_free(p);
    sshbpp__eph_free(&e);
}

static void
test_dh_invalid(void **state)
{
    (void)state;
    dh_invalid("diffie-hellman-group14-sha256");
    dh_invalid("diffie-hellman-group16-sha512");
    dh_invalid("diffie-hellman-group18-sha512");
    dh_invalid("diffie-hellman-group14-sha1");
    dh_invalid("diffie-hellman-group1-sha1");
}

/* ---- mlkem768x25519-sha256 -------------------------------------------------- */

/* Present exactly when libcrypto is OpenSSL 3.5 or later; asking for it
 * otherwise finds nothing (the kex tests check the EUNSUPPORTED). */
static void
test_mlkem_presence(void **state)
{
    int have = sshbpp__kex_method_find("mlkem768x25519-sha256") != NULL;

    (void)state;
    assert_int_equal(have, OpenSSL_version_num() >= 0x30500000UL);
    assert_int_equal(have, tu_mlkem_present());
    assert_int_equal(strcmp(sshbpp__kex_defaults()[0], "mlkem768x25519-sha256") == 0, have);
}

/* A peer value of any length but the exact one is refused before anything
 * is computed from it, in both roles; so are a malformed encapsulation key
 * and a low-order X25519 half. A flipped ciphertext bit is not detectable
 * (ML-KEM's implicit rejection) but must give a different K. */
static void
test_mlkem_invalid(void **state)
{
    const sshbpp__kex_method *m = sshbpp__kex_method_find("mlkem768x25519-sha256");
    static const size_t bad_init[] = {0, 32, 1184, 1215, 1217, 1120, 2400};
    static const size_t bad_reply[] = {0, 32, 1088, 1119, 1121, 1216};
    sshbpp__kex_eph c = {0}, s = {0};
    sshbpp__wbuf K, K2, qs;
    uint8_t ci[1216], big[2400], rep[1120];
    size_t n, i;
    sshbpp__rbuf r;
    const uint8_t *p;

    (void)state;
    if (m == NULL) {
        /* OpenSSL before 3.5: only the absence can be checked (and under
         * SSHBPP_EXPECT_MLKEM=1 tu_mlkem_present() fails the test). */
        assert_false(tu_mlkem_present());
        assert_true(OpenSSL_version_num() < 0x30500000UL);
        return;
    }
    assert_int_equal(sshbpp__eph_generate(&c, m), 0);
    n = public_field(&c, ci, sizeof(ci));
    assert_int_equal(n, sizeof(ci));
    memset(big, 0x42, sizeof(big));
    memcpy(big, ci, sizeof(ci));
    sshbpp__wb_init(&K);
    sshbpp__wb_init(&K2);
    sshbpp__wb_init(&qs);
    for (i = 0; i < sizeof(bad_init) / sizeof(bad_init[0]); i++) {
        assert_int_equal(sshbpp__eph_reply(&s, m, big, bad_init[i], &qs, &K), SSHBPP_EKEXVALUE);
        assert_int_equal(K.len, 0);
        assert_int_equal(qs.len, 0);
        assert_null(s.key);
    }
    /* Encapsulation key with every coefficient 0xfff > q = 3329. */
    memcpy(big, ci, sizeof(ci));
    memset(big, 0xff, 1184);
    assert_int_equal(sshbpp__eph_reply(&s, m, big, 1216, &qs, &K), SSHBPP_EKEXVALUE);
    assert_int_equal(K.len, 0);
    /* X25519 half of the low-order point 0 (all-zero shared secret). */
    memcpy(big, ci, sizeof(ci));
    memset(big + 1184, 0, 32);
    assert_int_equal(sshbpp__eph_reply(&s, m, big, 1216, &qs, &K), SSHBPP_EKEXVALUE);
    assert_int_equal(K.len, 0);

    /* A good reply, then the client's checks on it. */
    assert_int_equal(sshbpp__eph_reply(&s, m, ci, sizeof(ci), &qs, &K), 0);
    sshbpp__rb_init(&r, qs.p, qs.len);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_int_equal(n, sizeof(rep));
    memcpy(rep, p, n);
    memset(big, 0x42, sizeof(big));
    memcpy(big, rep, sizeof(rep));
    for (i = 0; i < sizeof(bad_reply) / sizeof(bad_reply[0]); i++)
        assert_int_equal(derive_rc(&c, big, bad_reply[i]), SSHBPP_EKEXVALUE);
    memset(big + 1088, 0, 32);
    assert_int_equal(derive_rc(&c, big, sizeof(rep)), SSHBPP_EKEXVALUE);
    memcpy(big, rep, sizeof(rep));
    big[10] ^= 1;
    assert_int_equal(sshbpp__eph_derive(&c, big, sizeof(rep), &K2), 0);
    assert_int_equal(K2.len, K.len);
    assert_memory_not_equal(K2.p, K.p, K.len);
    sshbpp__wb_reset(&K2);
    assert_int_equal(sshbpp__eph_derive(&c, rep, sizeof(rep), &K2), 0);
    assert_int_equal(K2.len, 4 + 32);
    assert_memory_equal(K2.p, K.p, K.len);
    /* The hybrid server has no put_public of its own. */
    sshbpp__wb_reset(&qs);
    assert_int_equal(sshbpp__eph_put_public(&s, &qs), SSHBPP_EINVAL);

    sshbpp__wb_free(&K);
    sshbpp__wb_free(&K2);
    sshbpp__wb_free(&qs);
    sshbpp__eph_free(&c);
    sshbpp__eph_free(&s);
}

/* The group is RFC 3526 group 14 (checked against the prime's definition
 * p = 2^2048 - 2^1984 - 1 + 2^64 * (floor(2^1918 pi) + 124476) by its
 * well-known leading and trailing bytes) with generator 2. */
static void
test_dh_group_params(void **state)
{
    sshbpp__kex_eph e;
    BIGNUM *p = NULL, *g = NULL;
    uint8_t buf[512];
    int n;

    (void)state;
    assert_int_equal(sshbpp__eph_generate(&e, find("diffie-hellman-group14-sha256")), 0);
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_FFC_P, &p), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_FFC_G, &g), 1);
    assert_true(BN_is_word(g, 2));
    n = BN_bn2bin(p, buf);
    assert_int_equal(n, 256);
    /* FFFFFFFF FFFFFFFF C90FDAA2 2168C234 ... 15728E5A 8AACAA68 FFFFFFFF FFFFFFFF */
    {
        static const uint8_t head[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68, 0xc2, 0x34};
        static const uint8_t tail[] = {0x15, 0x72, 0x8e, 0x5a, 0x8a, 0xac, 0xaa, 0x68,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        assert_memory_equal(buf, head, sizeof(head));
        assert_memory_equal(buf + 256 - sizeof(tail), tail, sizeof(tail));
    }
    BN_free(p);
    BN_free(g);
    p = NULL; /* get_bn_param reuses a non-NULL *bn */
    sshbpp__eph_free(&e);

    assert_int_equal(sshbpp__eph_generate(&e, find("diffie-hellman-group16-sha512")), 0);
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_FFC_P, &p), 1);
    n = BN_bn2bin(p, buf);
    assert_int_equal(n, 512);
    {
        /* RFC 3526 section 5 ends "... 4DF435C9 34063199 FFFFFFFF FFFFFFFF" */
        static const uint8_t tail[] = {0x4d, 0xf4, 0x35, 0xc9, 0x34, 0x06, 0x31, 0x99,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        assert_memory_equal(buf + 512 - sizeof(tail), tail, sizeof(tail));
    }
    BN_free(p);
    sshbpp__eph_free(&e);

    /* RFC 2409 section 6.2, group 2: "FFFFFFFF FFFFFFFF C90FDAA2 2168C234
     * ... 49286651 ECE65381 FFFFFFFF FFFFFFFF", generator 2, and our
     * private exponent of at most 512 bits. */
    p = NULL;
    g = NULL;
    assert_int_equal(sshbpp__eph_generate(&e, find("diffie-hellman-group1-sha1")), 0);
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_FFC_P, &p), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_FFC_G, &g), 1);
    assert_true(BN_is_word(g, 2));
    n = BN_bn2bin(p, buf);
    assert_int_equal(n, 128);
    {
        static const uint8_t head[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68, 0xc2, 0x34};
        static const uint8_t tail[] = {0x49, 0x28, 0x66, 0x51, 0xec, 0xe6, 0x53, 0x81,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        assert_memory_equal(buf, head, sizeof(head));
        assert_memory_equal(buf + 128 - sizeof(tail), tail, sizeof(tail));
    }
    BN_free(g);
    g = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(e.key, OSSL_PKEY_PARAM_PRIV_KEY, &g), 1);
    assert_true(BN_num_bits(g) <= 512 && BN_num_bits(g) > 400);
    BN_free(g);
    BN_free(p);
    sshbpp__eph_free(&e);
}

/* ---- exchange hash and key derivation -------------------------------------- */

static void
test_hash(void **state)
{
    uint8_t out[64], want[64];

    (void)state;
    /* FIPS 180-2 "abc" vectors. */
    assert_int_equal(sshbpp__kex_hash(find("curve25519-sha256"), (const uint8_t *)"abc", 3, out),
                     0);
    tu_hex_decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 64);
    assert_memory_equal(out, want, 32);
    assert_int_equal(sshbpp__kex_hash(find("ecdh-sha2-nistp384"), (const uint8_t *)"abc", 3, out),
                     0);
    tu_hex_decode("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
          "8086072ba1e7cc2358baeca134c825a7",
          want, 64);
    assert_memory_equal(out, want, 48);
    assert_int_equal(
        sshbpp__kex_hash(find("diffie-hellman-group16-sha512"), (const uint8_t *)"abc", 3, out), 0);
    tu_hex_decode("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
          want, 64);
    assert_memory_equal(out, want, 64);
    assert_int_equal(sshbpp__kex_hash(NULL, out, 1, out), SSHBPP_EINVAL);
}

/* Fixed inputs of the Python-computed vectors below:
 *   K   = mpint(0xf0123456789abcdef0 ... ) (33-byte magnitude, top bit set
 *         so the encoding carries the 0x00 sign byte)
 *   H   = bytes 0x00..0x1f,  session_id = bytes 0x40..0x5f
 * computed with
 *   def derive(h,K,H,X,sid,need):
 *       out=h(K+H+X+sid).digest()
 *       while len(out)<need: out+=h(K+H+out).digest()
 *       return out[:need]
 */
static const char kat_K[] =
    "0000002200f0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0";

static void
kat_inputs(uint8_t *K, size_t *klen, uint8_t *H, uint8_t *sid)
{
    int i;

    *klen = tu_hex_decode(kat_K, K, 64);
    for (i = 0; i < 32; i++) {
        H[i] = (uint8_t)i;
        sid[i] = (uint8_t)(0x40 + i);
    }
}

static void
test_derive_kat(void **state)
{
    uint8_t K[64], H[32], sid[32], out[160], want[160];
    size_t klen;

    (void)state;
    kat_inputs(K, &klen, H, sid);

    tu_hex_decode("94da193838210ba852c2cfea03091588172d7836245add1575e09adfa941509f"
          "2a59d11645d5cc823422e9449d3420020e7cd3c9ffb3d6b96c39b46cb88c74f4"
          "32d9e970e72c488c79111e1807104623a5bde169ec04232da2ebee0ac176fb44"
          "f687b597",
          want, sizeof(want));
    assert_int_equal(sshbpp__kex_derive(find("curve25519-sha256"), K, klen, H, 32, 'A', sid, 32,
                                        out, 100),
                     0);
    assert_memory_equal(out, want, 100);

    tu_hex_decode("5920115824b52d1bb963a8c762a04c5b22e32d405bddb4705d3dad62dda2fec3"
          "c309d10229a1f58958555498c540ef6e6df3d9b4c96f7424b7a529b6173b3b79"
          "deab8e8dcb6e53f53953f114c4b301b950be84b5dc15a01658f5f853b5fd9b00"
          "8854048410815a2d184d332735a98da17cc09c487925755cd9d5f52fad067a25"
          "0ef5209c7f48f95ed256fb32ddb78cc1dc5f09489318",
          want, sizeof(want));
    assert_int_equal(sshbpp__kex_derive(find("diffie-hellman-group16-sha512"), K, klen, H, 32, 'C',
                                        sid, 32, out, 150),
                     0);
    assert_memory_equal(out, want, 150);

    /* SHA-384 with the session id equal to H (the first exchange). */
    tu_hex_decode("f341b333da95bfb717679d29fe7059d3658cb0e1ba26b0eb88833eec23155f6d"
          "d778532f2bfe294d47fa14411827efa12bae792054a0b29133fb7cb877bb0f55"
          "f561af2161a8a0adcc12596548868ff9efaa6613d40b471205335519195947ef"
          "b5106427",
          want, sizeof(want));
    assert_int_equal(sshbpp__kex_derive(find("ecdh-sha2-nistp384"), K, klen, H, 32, 'F', H, 32,
                                        out, 100),
                     0);
    assert_memory_equal(out, want, 100);
}

/* The formula rendered a second way: concatenate, then one-shot digest. */
static void
ref_derive(const char *md_name, const uint8_t *K, size_t klen, const uint8_t *H, size_t hlen,
           char letter, const uint8_t *sid, size_t sidlen, uint8_t *out, size_t need)
{
    uint8_t *acc, *big;
    size_t have = 0, bl;
    unsigned int dl;
    const EVP_MD *md = EVP_get_digestbyname(md_name);

    assert_non_null(md);
    acc = malloc(need + 64);
    big = malloc(klen + hlen + 1 + sidlen + need + 64);
    assert_non_null(acc);
    assert_non_null(big);
    memcpy(big, K, klen);
    memcpy(big + klen, H, hlen);
    big[klen + hlen] = (uint8_t)letter;
    memcpy(big + klen + hlen + 1, sid, sidlen);
    assert_int_equal(EVP_Digest(big, klen + hlen + 1 + sidlen, acc, &dl, md, NULL), 1);
    have = dl;
    while (have < need) {
        bl = klen + hlen;
        memcpy(big + bl, acc, have);
        assert_int_equal(EVP_Digest(big, bl + have, acc + have, &dl, md, NULL), 1);
        have += dl;
    }
    memcpy(out, acc, need);
    free(acc);
    free(big);
}

static void
test_derive_reference(void **state)
{
    uint8_t K[64], H[64], sid[32], out[300], ref[300];
    size_t klen, need, i;
    static const char *const names[] = {"curve25519-sha256", "ecdh-sha2-nistp384",
                                        "ecdh-sha2-nistp521"};

    (void)state;
    kat_inputs(K, &klen, H, sid);
    for (i = 0; i < 3; i++) {
        const sshbpp__kex_method *m = find(names[i]);

        memset(H, 0x5a, m->hash_len);
        for (need = 1; need <= 300; need++) {
            memset(out, 0xee, sizeof(out));
            assert_int_equal(
                sshbpp__kex_derive(m, K, klen, H, m->hash_len, 'E', sid, 32, out, need), 0);
            ref_derive(m->hash, K, klen, H, m->hash_len, 'E', sid, 32, ref, need);
            assert_memory_equal(out, ref, need);
            /* Nothing written past need. */
            if (need < sizeof(out))
                assert_int_equal(out[need], 0xee);
        }
    }
    /* The letter and the session id are both bound in. */
    {
        const sshbpp__kex_method *m = find("curve25519-sha256");
        uint8_t a[32], b[32];

        assert_int_equal(sshbpp__kex_derive(m, K, klen, H, 32, 'A', sid, 32, a, 32), 0);
        assert_int_equal(sshbpp__kex_derive(m, K, klen, H, 32, 'B', sid, 32, b, 32), 0);
        assert_memory_not_equal(a, b, 32);
        sid[0] ^= 1;
        assert_int_equal(sshbpp__kex_derive(m, K, klen, H, 32, 'A', sid, 32, b, 32), 0);
        assert_memory_not_equal(a, b, 32);
        assert_int_equal(sshbpp__kex_derive(NULL, K, klen, H, 32, 'A', sid, 32, b, 32),
                         SSHBPP_EINVAL);
    }
}

/* ---- DH range check, ours alone ---------------------------------------------- */

/* The boundary values straight against sshbpp__dh_check_range(), with the
 * primes taken from OpenSSL's RFC 3526 tables (groups 14 and 16 are those
 * primes), so that OpenSSL's own public check cannot answer for ours. */
static void
test_dh_range_boundaries(void **state)
{
    static const struct {
        int base;  /* 0: the constant itself, 1: p plus delta */
        long delta;
        int ok;
    } cases[] = {
        {0, 0, 0}, {0, 1, 0}, {0, 2, 1}, {0, 3, 1},
        {1, -3, 1}, {1, -2, 1}, {1, -1, 0}, {1, 0, 0}, {1, 1, 0}, {0, -1, 0},
    };
    BIGNUM *(*const primes[])(BIGNUM *) = {BN_get_rfc3526_prime_2048, BN_get_rfc3526_prime_4096};
    size_t i, j;

    (void)state;
    for (j = 0; j < 2; j++) {
        BIGNUM *p = primes[j](NULL);
        assert_non_null(p);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            BIGNUM *f = cases[i].base ? BN_dup(p) : BN_new();
            assert_non_null(f);
            if (!cases[i].base)
                BN_zero(f);
            if (cases[i].delta >= 0)
                assert_true(BN_add_word(f, (BN_ULONG)cases[i].delta));
            else if (cases[i].base)
                assert_true(BN_sub_word(f, (BN_ULONG)-cases[i].delta));
            else
                assert_true(BN_sub(f, f, BN_value_one())); /* -1 */
            if (sshbpp__dh_check_range(f, p) != (cases[i].ok ? 0 : SSHBPP_EKEXVALUE))
                fail_msg("group %zu case %zu (%s%+ld): want %s", j, i, cases[i].base ? "p" : "",
                         cases[i].delta, cases[i].ok ? "accepted" : "refused");
            BN_free(f);
        }
        BN_free(p);
    }
    assert_int_equal(sshbpp__dh_check_range(NULL, NULL), SSHBPP_ECRYPTO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_agree_all),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_x25519_rfc7748),
        cmocka_unit_test(test_x25519_invalid),
        cmocka_unit_test(test_ecdh_invalid),
        cmocka_unit_test(test_dh_range_boundaries),
        cmocka_unit_test(test_ecdh_cross_curve),
        cmocka_unit_test(test_dh_invalid),
        cmocka_unit_test(test_mlkem_presence),
        cmocka_unit_test(test_mlkem_invalid),
        cmocka_unit_test(test_dh_group_params),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_derive_kat),
        cmocka_unit_test(test_derive_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
