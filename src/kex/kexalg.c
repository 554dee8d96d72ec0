/*
 * kexalg.c: the key-exchange methods (RFC 8731 X25519, RFC 5656 ECDH over
 * the NIST curves, RFC 8268 finite-field DH over the RFC 3526 groups, the
 * legacy RFC 4253 SHA-1 groups, explicit groups for RFC 4419 group
 * exchange, and mlkem768x25519-sha256: ML-KEM-768 through OpenSSL's EVP
 * KEM interface, fetched by name at run time, so that the same source runs
 * on OpenSSL 3.0, without it, and 3.5, with it), the exchange-hash digest
 * and the RFC 4253 section 7.2 key derivation.
 *
 * All arithmetic is OpenSSL 3's (EVP_PKEY with provider key types); this
 * file only frames the public values and validates the peer's before any
 * secret is computed from it, because an unvalidated value can leak bits of
 * our ephemeral key (small-subgroup and invalid-curve attacks) or force a
 * known shared secret.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "kex_int.h"

#define GROUP_RFC2409_1024 "sshbpp-rfc2409-1024"

/* Preference order: the post-quantum hybrid first (when libcrypto has
 * ML-KEM), X25519 next (fast, constant-time, no validation pitfalls), then
 * the NIST curves, then the big finite-field groups; the SHA-1 methods last
 * and only on request (SSHBPP__KEXF_LEGACY: never in the default list). */
static const sshbpp__kex_method methods[] = {
    {"mlkem768x25519-sha256", SSHBPP__KEX_MLKEM768X25519, "SHA256", 32, NULL, 0},
    {"curve25519-sha256", SSHBPP__KEX_X25519, "SHA256", 32, NULL, 0},
    {"curve25519-sha256@libssh.org", SSHBPP__KEX_X25519, "SHA256", 32, NULL, 0},
    {"ecdh-sha2-nistp256", SSHBPP__KEX_ECDH, "SHA256", 32, "P-256", 0},
    {"ecdh-sha2-nistp384", SSHBPP__KEX_ECDH, "SHA384", 48, "P-384", 0},
    {"ecdh-sha2-nistp521", SSHBPP__KEX_ECDH, "SHA512", 64, "P-521", 0},
    {"diffie-hellman-group-exchange-sha256", SSHBPP__KEX_DH_GEX, "SHA256", 32, NULL, 0},
    {"diffie-hellman-group16-sha512", SSHBPP__KEX_DH, "SHA512", 64, "modp_4096", 0},
    {"diffie-hellman-group18-sha512", SSHBPP__KEX_DH, "SHA512", 64, "modp_8192", 0},
    {"diffie-hellman-group14-sha256", SSHBPP__KEX_DH, "SHA256", 32, "modp_2048", 0},
    {"diffie-hellman-group14-sha1", SSHBPP__KEX_DH, "SHA1", 20, "modp_2048",
     SSHBPP__KEXF_LEGACY},
    /* RFC 2409 group 2 (1024 bits): not an OpenSSL named group, so its
     * prime comes from BN_get_rfc2409_prime_1024() (see explicit_group). */
    {"diffie-hellman-group1-sha1", SSHBPP__KEX_DH, "SHA1", 20, GROUP_RFC2409_1024,
     SSHBPP__KEXF_LEGACY},
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* 1 if group is one of ours with explicit parameters rather than an
 * OpenSSL group name. */
static int
explicit_group(const char *group)
{
    return group != NULL && strcmp(group, GROUP_RFC2409_1024) == 0;
}

/* ML-KEM-768 sizes (FIPS 203 table 3): encapsulation key, ciphertext,
 * shared secret. */
#define MLKEM768_EK_LEN 1184
#define MLKEM768_CT_LEN 1088
#define MLKEM768_SS_LEN 32
#define MLKEM_ALG "ML-KEM-768"

/* 1 if libcrypto can fetch ML-KEM-768 (OpenSSL 3.5 and later), probed once.
 * A race only repeats the probe, which gives the same answer. */
static atomic_int mlkem_state; /* 0 unknown, 1 present, -1 absent */

static int
mlkem_available(void)
{
    int st = atomic_load_explicit(&mlkem_state, memory_order_acquire);
    EVP_KEM *kem;
    EVP_KEYMGMT *km;

    if (st == 0) {
        kem = EVP_KEM_fetch(NULL, MLKEM_ALG, NULL);
        km = EVP_KEYMGMT_fetch(NULL, MLKEM_ALG, NULL);
        st = kem != NULL && km != NULL ? 1 : -1;
        EVP_KEM_free(kem);
        EVP_KEYMGMT_free(km);
        /* The fetch failure leaves errors on the thread's queue. */
        if (st < 0)
            ERR_clear_error();
        atomic_store_explicit(&mlkem_state, st, memory_order_release);
    }
    return st > 0;
}

static int
method_available(const sshbpp__kex_method *m)
{
    return m->type != SSHBPP__KEX_MLKEM768X25519 || mlkem_available();
}

/* The two name tables, built once from methods[]: every method this
 * libcrypto can run, and those of them that are on by default. */
static const char *supported_names[NMETHODS + 1], *default_names[NMETHODS + 1];
static atomic_int names_state; /* 0 unbuilt, 1 building, 2 built */

static void
build_names(void)
{
    int expect = 0;
    size_t i, ns = 0, nd = 0;

    if (atomic_load_explicit(&names_state, memory_order_acquire) == 2)
        return;
    if (atomic_compare_exchange_strong(&names_state, &expect, 1)) {
        for (i = 0; i < NMETHODS; i++) {
            if (!method_available(&methods[i]))
                continue;
            supported_names[ns++] = methods[i].name;
            if (!(methods[i].flags & SSHBPP__KEXF_LEGACY))
                default_names[nd++] = methods[i].name;
        }
        supported_names[ns] = NULL;
        default_names[nd] = NULL;
        atomic_store_explicit(&names_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&names_state, memory_order_acquire) != 2)
        ;
}

const char *const *
sshbpp__kex_supported(void)
{
    build_names();
    return supported_names;
}

const char *const *
sshbpp__kex_defaults(void)
{
    build_names();
    return default_names;
}

#define X25519_LEN 32

const sshbpp__kex_method *
sshbpp__kex_method_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < NMETHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return method_available(&methods[i]) ? &methods[i] : NULL;
    return NULL;
}

/* Private exponent length for explicit groups, in bits: twice the 256-bit
 * security the strongest cipher we derive keys for needs, as OpenSSH sizes
 * it (and far less work than a full-size exponent on an 8192-bit prime). */
#define DH_PRIV_BITS 512

/* see kex_int.h */
int
sshbpp__dh_keygen(const struct bignum_st *p, const struct bignum_st *g, struct evp_pkey_st **key)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL, *kctx = NULL;
    EVP_PKEY *dom = NULL;
    OSSL_PARAM gp[2];
    int r = SSHBPP_ECRYPTO;
    int plen = DH_PRIV_BITS;

    *key = NULL;
    if (BN_num_bits(p) - 1 < plen)
        plen = BN_num_bits(p) - 1;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g) ||
        !OSSL_PARAM_BLD_push_int(bld, OSSL_PKEY_PARAM_DH_PRIV_LEN, plen) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((pctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(pctx) <= 0 ||
        EVP_PKEY_fromdata(pctx, &dom, EVP_PKEY_KEY_PARAMETERS, params) <= 0 || dom == NULL)
        goto out;
    /* priv_len as a key-generation parameter: OpenSSL 3.0 ignores it in
     * the domain parameters of the template. */
    gp[0] = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_DH_PRIV_LEN, &plen);
    gp[1] = OSSL_PARAM_construct_end();
    if ((kctx = EVP_PKEY_CTX_new_from_pkey(NULL, dom, NULL)) == NULL ||
        EVP_PKEY_keygen_init(kctx) <= 0 || EVP_PKEY_CTX_set_params(kctx, gp) <= 0 ||
        EVP_PKEY_keygen(kctx, key) <= 0 || *key == NULL)
        goto out;
    r = 0;
out:
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(dom);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return r;
}

/* see kex_int.h */
int
sshbpp__eph_generate_group(sshbpp__kex_eph *e, const sshbpp__kex_method *m, const BIGNUM *p,
                           const BIGNUM *g)
{
    EVP_PKEY *key = NULL;
    int r;

    if (e == NULL || m == NULL || p == NULL || g == NULL || m->type != SSHBPP__KEX_DH_GEX)
        return SSHBPP_EINVAL;
    e->m = NULL;
    e->key = NULL;
    e->kem = NULL;
    if ((r = sshbpp__dh_keygen(p, g, &key)) != 0)
        return r;
    e->m = m;
    e->key = key;
    return 0;
}

int
sshbpp__eph_generate(sshbpp__kex_eph *e, const sshbpp__kex_method *m)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    int r = SSHBPP_ECRYPTO;

    if (e == NULL || m == NULL)
        return SSHBPP_EINVAL;
    e->m = NULL;
    e->key = NULL;
    e->kem = NULL;
    switch (m->type) {
    case SSHBPP__KEX_MLKEM768X25519:
        if (!mlkem_available())
            return SSHBPP_EUNSUPPORTED;
        if ((e->kem = EVP_PKEY_Q_keygen(NULL, NULL, MLKEM_ALG)) == NULL)
            return SSHBPP_ECRYPTO;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
        break;
    case SSHBPP__KEX_X25519:
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
        break;
    case SSHBPP__KEX_ECDH:
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        break;
    case SSHBPP__KEX_DH_GEX:
        return SSHBPP_EINVAL; /* the group comes with the exchange */
    case SSHBPP__KEX_DH:
        if (explicit_group(m->group)) {
            BIGNUM *p = BN_get_rfc2409_prime_1024(NULL), *g = BN_new();

            r = p == NULL || g == NULL || !BN_set_word(g, 2) ? SSHBPP_ENOMEM
                                                             : sshbpp__dh_keygen(p, g, &key);
            BN_free(p);
            BN_free(g);
            if (r != 0)
                return r;
            e->m = m;
            e->key = key;
            return 0;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
        break;
    default:
        return SSHBPP_EINVAL;
    }
    if (ctx == NULL)
        goto out;
    if (EVP_PKEY_keygen_init(ctx) <= 0)
        goto out;
    /* The named group (P-256, modp_2048, ...) fixes the domain parameters;
     * nothing about them comes from the peer. */
    if (m->group != NULL && EVP_PKEY_CTX_set_group_name(ctx, m->group) <= 0)
        goto out;
    if (EVP_PKEY_keygen(ctx, &key) <= 0 || key == NULL)
        goto out;
    e->m = m;
    e->key = key;
    r = 0;
out:
    if (r != 0) {
        EVP_PKEY_free(e->kem);
        e->kem = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return r;
}

void
sshbpp__eph_free(sshbpp__kex_eph *e)
{
    if (e == NULL)
        return;
    /* EVP_PKEY_free wipes the private key material. */
    EVP_PKEY_free(e->key);
    EVP_PKEY_free(e->kem);
    e->key = NULL;
    e->kem = NULL;
    e->m = NULL;
}

/* Field size in bytes of an EC key's curve (32, 48, 66). */
static size_t
ec_field_len(const EVP_PKEY *key)
{
    int bits = EVP_PKEY_get_bits(key);

    return bits > 0 ? ((size_t)bits + 7) / 8 : 0;
}

int
sshbpp__eph_put_public(const sshbpp__kex_eph *e, sshbpp__wbuf *out)
{
    uint8_t buf[1 + 2 * 66];
    size_t len = 0;
    BIGNUM *pub = NULL;
    uint8_t *mag = NULL;
    int n, r = SSHBPP_ECRYPTO;

    if (e == NULL || e->m == NULL || e->key == NULL || out == NULL)
        return SSHBPP_EINVAL;
    switch (e->m->type) {
    case SSHBPP__KEX_MLKEM768X25519: {
        uint8_t ek[MLKEM768_EK_LEN + X25519_LEN];

        /* C_INIT = ML-KEM-768 encapsulation key || X25519 public key
         * (draft-ietf-sshm-mlkem-hybrid-kex / OpenSSH PROTOCOL). */
        if (e->kem == NULL)
            return SSHBPP_EINVAL; /* the server's value comes from eph_reply */
        if (EVP_PKEY_get_octet_string_param(e->kem, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ek,
                                            sizeof(ek), &len) <= 0 ||
            len != MLKEM768_EK_LEN)
            return SSHBPP_ECRYPTO;
        len = X25519_LEN;
        if (EVP_PKEY_get_raw_public_key(e->key, ek + MLKEM768_EK_LEN, &len) <= 0 ||
            len != X25519_LEN)
            return SSHBPP_ECRYPTO;
        sshbpp__wb_string(out, ek, sizeof(ek));
        break;
    }
    case SSHBPP__KEX_X25519:
        len = X25519_LEN;
        if (EVP_PKEY_get_raw_public_key(e->key, buf, &len) <= 0 || len != X25519_LEN)
            return SSHBPP_ECRYPTO;
        sshbpp__wb_string(out, buf, len);
        break;
    case SSHBPP__KEX_ECDH:
        /* RFC 5656 section 4: Q_C / Q_S as the SEC1 octet string; OpenSSL's
         * default point format is uncompressed, which every peer accepts. */
        if (EVP_PKEY_get_octet_string_param(e->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
                                            sizeof(buf), &len) <= 0 ||
            len != 1 + 2 * ec_field_len(e->key) || buf[0] != 0x04)
            return SSHBPP_ECRYPTO;
        sshbpp__wb_string(out, buf, len);
        break;
    case SSHBPP__KEX_DH:
    case SSHBPP__KEX_DH_GEX:
        if (EVP_PKEY_get_bn_param(e->key, OSSL_PKEY_PARAM_PUB_KEY, &pub) <= 0 || pub == NULL)
            return SSHBPP_ECRYPTO;
        n = BN_num_bytes(pub);
        if (n <= 0 || (mag = malloc((size_t)n)) == NULL) {
            r = n <= 0 ? SSHBPP_ECRYPTO : SSHBPP_ENOMEM;
            goto out;
        }
        if (BN_bn2bin(pub, mag) != n)
            goto out;
        sshbpp__wb_mpint(out, mag, (size_t)n);
        break;
    default:
        return SSHBPP_EINVAL;
    }
    r = out->err;
out:
    free(mag);
    BN_free(pub);
    return r;
}

/* see kex_int.h */
int
sshbpp__eph_private(const sshbpp__kex_eph *e, uint8_t *out, size_t cap, size_t *len)
{
    BIGNUM *priv = NULL;
    size_t n = 0;
    int nb, r = SSHBPP_ECRYPTO;

    if (e == NULL || e->m == NULL || out == NULL || len == NULL)
        return SSHBPP_EINVAL;
    *len = 0;
    if (e->key == NULL)
        return SSHBPP_EINVAL;
    switch (e->m->type) {
    case SSHBPP__KEX_X25519:
        n = cap;
        if (cap < X25519_LEN || EVP_PKEY_get_raw_private_key(e->key, out, &n) <= 0 ||
            n != X25519_LEN)
            goto out;
        break;
    case SSHBPP__KEX_ECDH:
    case SSHBPP__KEX_DH:
    case SSHBPP__KEX_DH_GEX:
        if (EVP_PKEY_get_bn_param(e->key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) <= 0 || priv == NULL)
            goto out;
        nb = BN_num_bytes(priv);
        if (e->m->type == SSHBPP__KEX_ECDH) {
            /* the scalar at the field's width, as SEC1 writes it */
            n = ec_field_len(e->key);
            if (n == 0 || n > cap || nb > (int)n || BN_bn2binpad(priv, out, (int)n) != (int)n)
                goto out;
        } else {
            if (nb <= 0 || (size_t)nb > cap || BN_bn2bin(priv, out) != nb)
                goto out;
            n = (size_t)nb;
        }
        break;
    default:
        /* the hybrid: no single private key determines K */
        r = SSHBPP_EUNSUPPORTED;
        goto out;
    }
    *len = n;
    r = 0;
out:
    if (r != 0)
        OPENSSL_cleanse(out, cap);
    BN_clear_free(priv);
    return r;
}

/* Builds the peer's EC public key on our curve. The caller has checked the
 * length and the 0x04 prefix; OpenSSL rejects an off-curve point while
 * decoding it and the public check repeats that (and the infinity check)
 * explicitly, so an invalid-curve point never reaches the derive. */
static int
ec_peer(const char *group, const uint8_t *q, size_t n, EVP_PKEY **peer)
{
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    OSSL_PARAM params[3];
    int r = SSHBPP_EKEXVALUE;

    *peer = NULL;
    /* OSSL_PARAM takes non-const pointers but fromdata only reads them. */
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)group, 0);
    params[1] =
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)q, n);
    params[2] = OSSL_PARAM_construct_end();
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    if (EVP_PKEY_fromdata_init(ctx) <= 0) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    if (EVP_PKEY_fromdata(ctx, peer, EVP_PKEY_PUBLIC_KEY, params) <= 0 || *peer == NULL)
        goto out;
    if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, *peer, NULL)) == NULL) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    if (EVP_PKEY_public_check(chk) != 1)
        goto out;
    r = 0;
out:
    if (r != 0) {
        EVP_PKEY_free(*peer);
        *peer = NULL;
    }
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* see kex_int.h */
int
sshbpp__dh_check_range(const BIGNUM *f, const BIGNUM *p)
{
    BIGNUM *pm1;
    int r;

    if (f == NULL || p == NULL || (pm1 = BN_dup(p)) == NULL)
        return SSHBPP_ECRYPTO;
    if (!BN_sub_word(pm1, 1)) {
        BN_free(pm1);
        return SSHBPP_ECRYPTO;
    }
    r = BN_is_negative(f) || BN_cmp(f, BN_value_one()) <= 0 || BN_cmp(f, pm1) >= 0
            ? SSHBPP_EKEXVALUE
            : 0;
    BN_free(pm1);
    return r;
}

/* see kex_int.h: the rule of RFC 4253 section 8 ("Values of 'e' or 'f'
 * that are not in the range [1, p-1] MUST NOT be sent or accepted"), with 1
 * and p-1 excluded as OpenSSH's dh_pub_is_valid() does (they force a
 * shared secret of 1 or +-1), and the subgroup test: for a safe prime
 * p = 2q + 1, f must have order q, else (p-2 for instance, a non-residue)
 * the shared secret leaks a bit of our exponent. f is public, so the
 * (variable-time) Legendre symbol computation leaks nothing. */
static int dh_pub_check_ex(const uint8_t *pb, size_t plen, const uint8_t *fb, size_t flen,
                           const BIGNUM *g);

int
sshbpp__dh_pub_check(const uint8_t *pb, size_t plen, const uint8_t *fb, size_t flen)
{
    return dh_pub_check_ex(pb, plen, fb, flen, NULL);
}

/* With g: the subgroup test only if g itself lies in the order-q subgroup.
 * A group-exchange server may use a generator of the whole group (moduli
 * files use 5 for some primes, a non-residue), and then half of the honest
 * public values are outside the subgroup: only the range can be checked. */
static int
dh_pub_check_ex(const uint8_t *pb, size_t plen, const uint8_t *fb, size_t flen, const BIGNUM *g)
{
    BN_CTX *bc = NULL;
    BIGNUM *p = NULL, *f = NULL;
    int r = SSHBPP_ENOMEM;

    if (pb == NULL || (fb == NULL && flen > 0) || plen == 0 || plen > 2048)
        return SSHBPP_EINVAL;
    if (flen > plen)
        return SSHBPP_EKEXVALUE;
    if ((bc = BN_CTX_new()) == NULL || (p = BN_bin2bn(pb, (int)plen, NULL)) == NULL ||
        (f = BN_bin2bn(fb, (int)flen, NULL)) == NULL)
        goto out;
    if ((r = sshbpp__dh_check_range(f, p)) != 0)
        goto out;
    r = SSHBPP_ECRYPTO;
    /* For a safe prime p = 2q + 1 the order-q subgroup is the set of
     * quadratic residues, so membership is the Legendre symbol (f|p) = 1
     * (Euler: f^q = (f|p) mod p), computed without an exponentiation. */
    if (g != NULL) {
        int kg = BN_kronecker(g, p, bc);

        if (kg == -2)
            goto out;
        if (kg != 1) {
            r = 0; /* a non-residue generator: the range is all we can check */
            goto out;
        }
    }
    switch (BN_kronecker(f, p, bc)) {
    case 1:
        r = 0;
        break;
    case -2:
        goto out;
    default:
        r = SSHBPP_EKEXVALUE;
        break;
    }
out:
    BN_free(f);
    BN_free(p);
    BN_CTX_free(bc);
    return r;
}

/* Builds the peer's DH public key in our group after our own check of f
 * (sshbpp__dh_pub_check), which is what decides: OpenSSL's own public-key
 * check differs between versions (3.0 tests the subgroup, 3.5 does not). */
static int
dh_peer(const EVP_PKEY *ours, const char *group, const uint8_t *mag, size_t n, EVP_PKEY **peer)
{
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *p = NULL, *g = NULL, *f = NULL;
    uint8_t *pb = NULL;
    int plen, r = SSHBPP_ECRYPTO;

    *peer = NULL;
    if (EVP_PKEY_get_bn_param(ours, OSSL_PKEY_PARAM_FFC_P, &p) <= 0 || p == NULL ||
        EVP_PKEY_get_bn_param(ours, OSSL_PKEY_PARAM_FFC_G, &g) <= 0 || g == NULL)
        goto out;
    plen = BN_num_bytes(p);
    if (plen <= 0 || (pb = malloc((size_t)plen)) == NULL) {
        r = plen <= 0 ? SSHBPP_ECRYPTO : SSHBPP_ENOMEM;
        goto out;
    }
    if (BN_bn2bin(p, pb) != plen)
        goto out;
    /* Named and built-in groups use g = 2, a residue for their safe
     * primes: the full check. A group-exchange group: see above. */
    if ((r = dh_pub_check_ex(pb, (size_t)plen, mag, n, group == NULL ? g : NULL)) != 0)
        goto out;
    r = SSHBPP_ECRYPTO;
    if ((f = BN_bin2bn(mag, (int)n, NULL)) == NULL)
        goto out;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL)
        goto out;
    /* A named group by its name (so that OpenSSL matches it to ours);
     * explicit parameters as they are in our key. */
    if (group != NULL && !explicit_group(group)) {
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0))
            goto out;
    } else if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p) ||
               !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g)) {
        goto out;
    }
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, f) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0)
        goto out;
    if (EVP_PKEY_fromdata(ctx, peer, EVP_PKEY_PUBLIC_KEY, params) <= 0 || *peer == NULL) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    r = 0;
out:
    if (r != 0) {
        EVP_PKEY_free(*peer);
        *peer = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    free(pb);
    BN_free(f);
    BN_free(g);
    BN_free(p);
    return r;
}

/* X25519 with our key and the peer's 32 bytes into out[32]; an all-zero
 * result (a low-order peer point, RFC 7748 section 6.1) is the peer's
 * fault. Used by the hybrid, which takes the raw 32 bytes. */
static int
x25519_raw(EVP_PKEY *ours, const uint8_t *peer, uint8_t out[X25519_LEN])
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    size_t slen = X25519_LEN, i;
    uint8_t acc = 0;
    int r = SSHBPP_ECRYPTO;

    if ((pk = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, X25519_LEN)) == NULL)
        return SSHBPP_EKEXVALUE;
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL)) == NULL ||
        EVP_PKEY_derive_init(ctx) <= 0)
        goto out;
    if (EVP_PKEY_derive_set_peer(ctx, pk) <= 0) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    if (EVP_PKEY_derive(ctx, out, &slen) <= 0) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    if (slen != X25519_LEN)
        goto out;
    for (i = 0; i < slen; i++)
        acc |= out[i];
    r = acc == 0 ? SSHBPP_EKEXVALUE : 0;
out:
    if (r != 0)
        OPENSSL_cleanse(out, X25519_LEN);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return r;
}

/* K = string(SHA-256(ss_kem || ss_x)) for the hybrid. */
static int
hybrid_k(const uint8_t ss_kem[MLKEM768_SS_LEN], const uint8_t ss_x[X25519_LEN],
         sshbpp__wbuf *K_out)
{
    uint8_t both[MLKEM768_SS_LEN + X25519_LEN], h[32];
    unsigned int hlen = 0;
    int ok;

    memcpy(both, ss_kem, MLKEM768_SS_LEN);
    memcpy(both + MLKEM768_SS_LEN, ss_x, X25519_LEN);
    ok = EVP_Digest(both, sizeof(both), h, &hlen, EVP_sha256(), NULL) == 1 && hlen == 32;
    OPENSSL_cleanse(both, sizeof(both));
    if (ok)
        sshbpp__wb_string(K_out, h, sizeof(h));
    OPENSSL_cleanse(h, sizeof(h));
    return !ok ? SSHBPP_ECRYPTO : K_out->err;
}

/* Client: S_REPLY = ciphertext (1088) || X25519 public (32). */
static int
hybrid_client(const sshbpp__kex_eph *e, const uint8_t *peer, size_t n, sshbpp__wbuf *K_out)
{
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t ss_kem[MLKEM768_SS_LEN], ss_x[X25519_LEN];
    size_t sslen = sizeof(ss_kem);
    int r;

    if (e->kem == NULL)
        return SSHBPP_EINVAL;
    if (n != MLKEM768_CT_LEN + X25519_LEN)
        return SSHBPP_EKEXVALUE;
    if ((r = x25519_raw(e->key, peer + MLKEM768_CT_LEN, ss_x)) != 0)
        return r;
    r = SSHBPP_ECRYPTO;
    /* ML-KEM decapsulation never fails on a well-sized ciphertext: a
     * forged one yields the implicit-rejection secret, so the exchange
     * then fails at the signature or at the first MAC. */
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, e->kem, NULL)) == NULL ||
        EVP_PKEY_decapsulate_init(ctx, NULL) <= 0 ||
        EVP_PKEY_decapsulate(ctx, ss_kem, &sslen, peer, MLKEM768_CT_LEN) <= 0 ||
        sslen != MLKEM768_SS_LEN)
        goto out;
    r = hybrid_k(ss_kem, ss_x, K_out);
out:
    OPENSSL_cleanse(ss_kem, sizeof(ss_kem));
    OPENSSL_cleanse(ss_x, sizeof(ss_x));
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* Server: C_INIT = encapsulation key (1184) || X25519 public (32). The
 * encapsulation key is imported with OpenSSL's FIPS 203 input check (every
 * coefficient below q), so a malformed key is refused, not used. */
static int
hybrid_server(sshbpp__kex_eph *e, const sshbpp__kex_method *m, const uint8_t *peer, size_t n,
              sshbpp__wbuf *qs_out, sshbpp__wbuf *K_out)
{
    EVP_PKEY_CTX *ictx = NULL, *ctx = NULL;
    EVP_PKEY *ek = NULL;
    OSSL_PARAM params[2];
    uint8_t reply[MLKEM768_CT_LEN + X25519_LEN], ss_kem[MLKEM768_SS_LEN], ss_x[X25519_LEN];
    size_t ctlen = MLKEM768_CT_LEN, sslen = sizeof(ss_kem), xlen = X25519_LEN;
    int r;

    if (n != MLKEM768_EK_LEN + X25519_LEN)
        return SSHBPP_EKEXVALUE;
    if ((r = sshbpp__eph_generate(e, m)) != 0)
        return r;
    /* The server needs no ML-KEM key pair of its own. */
    EVP_PKEY_free(e->kem);
    e->kem = NULL;
    if ((r = x25519_raw(e->key, peer + MLKEM768_EK_LEN, ss_x)) != 0)
        goto out;
    r = SSHBPP_ECRYPTO;
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)(uintptr_t)peer, MLKEM768_EK_LEN);
    params[1] = OSSL_PARAM_construct_end();
    if ((ictx = EVP_PKEY_CTX_new_from_name(NULL, MLKEM_ALG, NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ictx) <= 0)
        goto out;
    if (EVP_PKEY_fromdata(ictx, &ek, EVP_PKEY_PUBLIC_KEY, params) <= 0 || ek == NULL) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL)) == NULL ||
        EVP_PKEY_encapsulate_init(ctx, NULL) <= 0 ||
        EVP_PKEY_encapsulate(ctx, reply, &ctlen, ss_kem, &sslen) <= 0 ||
        ctlen != MLKEM768_CT_LEN || sslen != MLKEM768_SS_LEN)
        goto out;
    if (EVP_PKEY_get_raw_public_key(e->key, reply + MLKEM768_CT_LEN, &xlen) <= 0 ||
        xlen != X25519_LEN)
        goto out;
    if ((r = hybrid_k(ss_kem, ss_x, K_out)) != 0)
        goto out;
    sshbpp__wb_string(qs_out, reply, sizeof(reply));
    r = qs_out->err;
out:
    OPENSSL_cleanse(ss_kem, sizeof(ss_kem));
    OPENSSL_cleanse(ss_x, sizeof(ss_x));
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_CTX_free(ictx);
    EVP_PKEY_free(ek);
    if (r != 0) {
        sshbpp__wb_reset(K_out);
        sshbpp__eph_free(e);
    }
    return r;
}

int
sshbpp__eph_reply(sshbpp__kex_eph *e, const sshbpp__kex_method *m, const uint8_t *peer,
                  size_t n, sshbpp__wbuf *qs_out, sshbpp__wbuf *K_out)
{
    int r;

    if (e == NULL || m == NULL || qs_out == NULL || K_out == NULL || (peer == NULL && n > 0))
        return SSHBPP_EINVAL;
    e->m = NULL;
    e->key = NULL;
    e->kem = NULL;
    if (m->type == SSHBPP__KEX_MLKEM768X25519)
        return hybrid_server(e, m, peer, n, qs_out, K_out);
    if ((r = sshbpp__eph_generate(e, m)) != 0)
        return r;
    if ((r = sshbpp__eph_put_public(e, qs_out)) != 0 ||
        (r = sshbpp__eph_derive(e, peer, n, K_out)) != 0) {
        sshbpp__wb_reset(K_out);
        sshbpp__eph_free(e);
    }
    return r;
}

int
sshbpp__eph_derive(const sshbpp__kex_eph *e, const uint8_t *peer, size_t n, sshbpp__wbuf *K_out)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *sec = NULL;
    size_t slen = 0, i;
    uint8_t acc;
    int r = SSHBPP_ECRYPTO, is_x = 0;

    if (e == NULL || e->m == NULL || e->key == NULL || K_out == NULL || (peer == NULL && n > 0))
        return SSHBPP_EINVAL;
    switch (e->m->type) {
    case SSHBPP__KEX_MLKEM768X25519:
        return hybrid_client(e, peer, n, K_out);
    case SSHBPP__KEX_X25519:
        /* RFC 8731 section 3.1: Q_C/Q_S are exactly 32 bytes. */
        if (n != X25519_LEN)
            return SSHBPP_EKEXVALUE;
        pk = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, n);
        if (pk == NULL)
            return SSHBPP_EKEXVALUE;
        is_x = 1;
        break;
    case SSHBPP__KEX_ECDH: {
        size_t fl = ec_field_len(e->key);

        /* RFC 5656 allows compressed points only when negotiated, which SSH
         * never does; the uncompressed form is 0x04 || X || Y. */
        if (fl == 0)
            return SSHBPP_ECRYPTO;
        if (n != 1 + 2 * fl || peer[0] != 0x04)
            return SSHBPP_EKEXVALUE;
        if ((r = ec_peer(e->m->group, peer, n, &pk)) != 0)
            return r;
        break;
    }
    case SSHBPP__KEX_DH:
    case SSHBPP__KEX_DH_GEX:
        if ((r = dh_peer(e->key, e->m->group, peer, n, &pk)) != 0)
            return r;
        break;
    default:
        return SSHBPP_EINVAL;
    }
    r = SSHBPP_ECRYPTO;
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, e->key, NULL)) == NULL ||
        EVP_PKEY_derive_init(ctx) <= 0)
        goto out;
    if (EVP_PKEY_derive_set_peer(ctx, pk) <= 0) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    if (EVP_PKEY_derive(ctx, NULL, &slen) <= 0 || slen == 0)
        goto out;
    if ((sec = malloc(slen)) == NULL) {
        r = SSHBPP_ENOMEM;
        goto out;
    }
    if (EVP_PKEY_derive(ctx, sec, &slen) <= 0) {
        /* OpenSSL's X25519 itself refuses an all-zero result (a low-order
         * peer point); report it as the peer's fault, not ours. */
        r = is_x ? SSHBPP_EKEXVALUE : SSHBPP_ECRYPTO;
        goto out;
    }
    if (is_x) {
        /* RFC 8731 section 3: the all-zero value MUST be rejected (RFC 7748
         * section 6.1); checked here too so the rule does not rest on a
         * library detail. Constant time: the secret is not yet public. */
        if (slen != X25519_LEN) {
            r = SSHBPP_ECRYPTO;
            goto out;
        }
        for (acc = 0, i = 0; i < slen; i++)
            acc |= sec[i];
        if (acc == 0) {
            r = SSHBPP_EKEXVALUE;
            goto out;
        }
    }
    /* X25519: RFC 8731 reads the 32 bytes as a big-endian integer as they
     * are; ECDH: the x coordinate, big-endian; DH: big-endian g^xy mod p.
     * mpint strips any leading zero bytes, so padding does not matter. */
    sshbpp__wb_mpint(K_out, sec, slen);
    r = K_out->err;
out:
    if (sec != NULL) {
        OPENSSL_cleanse(sec, slen);
        free(sec);
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return r;
}

/* Fetches the method's digest; the caller frees it. */
static EVP_MD *
method_md(const sshbpp__kex_method *m)
{
    EVP_MD *md = EVP_MD_fetch(NULL, m->hash, NULL);

    if (md != NULL && (size_t)EVP_MD_get_size(md) != m->hash_len) {
        EVP_MD_free(md);
        return NULL;
    }
    return md;
}

int
sshbpp__kex_hash(const sshbpp__kex_method *m, const uint8_t *data, size_t n, uint8_t *out)
{
    EVP_MD *md;
    unsigned int olen = 0;
    int ok;

    if (m == NULL || out == NULL || (data == NULL && n > 0))
        return SSHBPP_EINVAL;
    if ((md = method_md(m)) == NULL)
        return SSHBPP_ECRYPTO;
    ok = EVP_Digest(data, n, out, &olen, md, NULL) == 1 && olen == m->hash_len;
    EVP_MD_free(md);
    return ok ? 0 : SSHBPP_ECRYPTO;
}

int
sshbpp__kex_derive(const sshbpp__kex_method *m, const uint8_t *K, size_t klen, const uint8_t *H,
                   size_t hlen, char letter, const uint8_t *sid, size_t sidlen, uint8_t *out,
                   size_t need)
{
    EVP_MD *md = NULL;
    EVP_MD_CTX *ctx = NULL;
    uint8_t blk[EVP_MAX_MD_SIZE];
    unsigned int blen;
    size_t have = 0, take;
    int r = SSHBPP_ECRYPTO;
    uint8_t l = (uint8_t)letter;

    if (m == NULL || K == NULL || H == NULL || sid == NULL || (out == NULL && need > 0))
        return SSHBPP_EINVAL;
    if ((md = method_md(m)) == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
        goto out;
    while (have < need) {
        /*
         * RFC 4253 section 7.2:
         *   K1 = HASH(K || H || X || session_id)
         *   K2 = HASH(K || H || K1)
         *   K3 = HASH(K || H || K1 || K2)
         * out[0..have) holds exactly K1..K(i-1) whole blocks here, since
         * only the last block is ever truncated.
         */
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, K, klen) != 1 ||
            EVP_DigestUpdate(ctx, H, hlen) != 1)
            goto out;
        if (have == 0) {
            if (EVP_DigestUpdate(ctx, &l, 1) != 1 || EVP_DigestUpdate(ctx, sid, sidlen) != 1)
                goto out;
        } else if (EVP_DigestUpdate(ctx, out, have) != 1) {
            goto out;
        }
        blen = 0;
        if (EVP_DigestFinal_ex(ctx, blk, &blen) != 1 || blen != m->hash_len)
            goto out;
        take = need - have < blen ? need - have : blen;
        memcpy(out + have, blk, take);
        have += take;
    }
    r = 0;
out:
    OPENSSL_cleanse(blk, sizeof(blk));
    if (r != 0 && out != NULL)
        OPENSSL_cleanse(out, need);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return r;
}
