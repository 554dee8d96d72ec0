/*
 * kexalg.c: the key-exchange methods (RFC 8731 X25519, RFC 5656 ECDH over
 * the NIST curves, RFC 8268 finite-field DH over the RFC 3526 groups), the
 * exchange-hash digest and the RFC 4253 section 7.2 key derivation.
 *
 * All arithmetic is OpenSSL 3's (EVP_PKEY with provider key types); this
 * file only frames the public values and validates the peer's before any
 * secret is computed from it, because an unvalidated value can leak bits of
 * our ephemeral key (small-subgroup and invalid-curve attacks) or force a
 * known shared secret.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "kex_int.h"

/* Preference order: X25519 first (fast, constant-time, no validation
 * pitfalls), then the NIST curves, then the big finite-field groups. */
static const sshbpp__kex_method methods[] = {
    {"curve25519-sha256", SSHBPP__KEX_X25519, "SHA256", 32, NULL},
    {"curve25519-sha256@libssh.org", SSHBPP__KEX_X25519, "SHA256", 32, NULL},
    {"ecdh-sha2-nistp256", SSHBPP__KEX_ECDH, "SHA256", 32, "P-256"},
    {"ecdh-sha2-nistp384", SSHBPP__KEX_ECDH, "SHA384", 48, "P-384"},
    {"ecdh-sha2-nistp521", SSHBPP__KEX_ECDH, "SHA512", 64, "P-521"},
    {"diffie-hellman-group16-sha512", SSHBPP__KEX_DH, "SHA512", 64, "modp_4096"},
    {"diffie-hellman-group14-sha256", SSHBPP__KEX_DH, "SHA256", 32, "modp_2048"},
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

const char *const sshbpp__kex_names[] = {
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group14-sha256",
    NULL,
};

#define X25519_LEN 32

const sshbpp__kex_method *
sshbpp__kex_method_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < NMETHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
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
    switch (m->type) {
    case SSHBPP__KEX_X25519:
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
        break;
    case SSHBPP__KEX_ECDH:
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        break;
    case SSHBPP__KEX_DH:
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
        break;
    default:
        return SSHBPP_EINVAL;
    }
    if (ctx == NULL)
        return SSHBPP_ECRYPTO;
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
    e->key = NULL;
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

/* Builds the peer's DH public key in our group after checking
 * 1 < f < p-1 (RFC 4253 section 8: "Values of 'e' or 'f' that are not in
 * the range [1, p-1] MUST NOT be sent or accepted"; 1 and p-1 are excluded
 * too because they force a shared secret of 1 or +-1). OpenSSL's public
 * check then also confirms that f lies in the order-q subgroup. */
static int
dh_peer(const EVP_PKEY *ours, const char *group, const uint8_t *mag, size_t n, EVP_PKEY **peer)
{
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *p = NULL, *f = NULL;
    int r = SSHBPP_ECRYPTO;

    *peer = NULL;
    if (EVP_PKEY_get_bn_param(ours, OSSL_PKEY_PARAM_FFC_P, &p) <= 0 || p == NULL)
        goto out;
    if (n > (size_t)BN_num_bytes(p)) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    if ((f = BN_bin2bn(mag, (int)n, NULL)) == NULL)
        goto out;
    /* Our own check, before OpenSSL's public check (which would refuse
     * these too, but is not ours to rely on). */
    if ((r = sshbpp__dh_check_range(f, p)) != 0)
        goto out;
    r = SSHBPP_ECRYPTO;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, f) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0)
        goto out;
    if (EVP_PKEY_fromdata(ctx, peer, EVP_PKEY_PUBLIC_KEY, params) <= 0 || *peer == NULL) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, *peer, NULL)) == NULL)
        goto out;
    if (EVP_PKEY_public_check(chk) != 1) {
        r = SSHBPP_EKEXVALUE;
        goto out;
    }
    r = 0;
out:
    if (r != 0) {
        EVP_PKEY_free(*peer);
        *peer = NULL;
    }
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(f);
    BN_free(p);
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
