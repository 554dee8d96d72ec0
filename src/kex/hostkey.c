/*
 * hostkey.c: server host keys and the client's check of them: loading or
 * generating a private key, the public key blob K_S (RFC 4253 section 6.6,
 * RFC 5656 section 3.1, RFC 8709 section 4), signing the exchange hash, and
 * verifying a peer's key blob and signature (RFC 8332 for RSA with SHA-2,
 * RFC 5656 section 3.1.2 for ECDSA, RFC 8709 section 6 for Ed25519).
 *
 * Everything the peer sends is parsed with the bounds-checked reader and
 * must be consumed exactly: a blob that parses with bytes left over, or a
 * signature whose name differs from the negotiated algorithm, is rejected
 * rather than tolerated, so that one key or signature has one encoding.
 *
 * SHA-1 signatures ("ssh-rsa" as a signature algorithm, RFC 4253 section
 * 6.6) are supported for old peers but legacy: last in the table, never in
 * the default list (kex.c), used only when the caller names it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "kex_int.h"
#include "keys/keys_int.h"

const char *const sshbpp__hostkey_names[] = {
    "ssh-ed25519",  "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "rsa-sha2-512", "rsa-sha2-256",        "ssh-rsa",             NULL,
};

/* RSA moduli below 2048 bits are refused both for our keys and for the
 * peer's: 1024-bit RSA (about 80-bit strength) is far weaker than every
 * other algorithm here, and OpenSSH has generated >= 3072-bit host keys by
 * default for years, so only long-neglected servers are affected. Above
 * 16384 bits a single verification becomes a cheap way to burn our CPU
 * (OpenSSH uses the same ceiling). */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define RSA_GEN_BITS 3072

#define ED25519_PK_LEN 32
#define ED25519_SIG_LEN 64


typedef struct ecdsa_curve {
    int bits;             /* hostkey curve_bits */
    int nid;              /* OpenSSL curve NID */
    const char *alg;      /* signature algorithm and key type name */
    const char *ssh_name; /* RFC 5656 curve identifier inside the blob */
    const char *group;    /* OpenSSL group name */
    const char *md;       /* RFC 5656 section 6.2.1 hash by curve size */
    size_t flen;          /* field element bytes */
} ecdsa_curve;

static const ecdsa_curve curves[] = {
    {256, NID_X9_62_prime256v1, "ecdsa-sha2-nistp256", "nistp256", "P-256", "SHA256", 32},
    {384, NID_secp384r1, "ecdsa-sha2-nistp384", "nistp384", "P-384", "SHA384", 48},
    {521, NID_secp521r1, "ecdsa-sha2-nistp521", "nistp521", "P-521", "SHA512", 66},
};

#define NCURVES (sizeof(curves) / sizeof(curves[0]))

static const ecdsa_curve *
curve_by_bits(int bits)
{
    size_t i;

    for (i = 0; i < NCURVES; i++)
        if (curves[i].bits == bits)
            return &curves[i];
    return NULL;
}

static const ecdsa_curve *
curve_by_alg(const char *alg)
{
    size_t i;

    for (i = 0; i < NCURVES; i++)
        if (strcmp(curves[i].alg, alg) == 0)
            return &curves[i];
    return NULL;
}

/* RSA signature algorithm -> digest; NULL if alg is not one of ours. */
static const char *
rsa_md(const char *alg)
{
    if (strcmp(alg, "rsa-sha2-256") == 0)
        return "SHA256";
    if (strcmp(alg, "rsa-sha2-512") == 0)
        return "SHA512";
    if (strcmp(alg, "ssh-rsa") == 0)
        return "SHA1"; /* legacy, on request only */
    return NULL;
}

/* Fills hk's type fields from a key OpenSSL produced, refusing key types,
 * curves and sizes SSH (or this library) does not sign with. */
int
sshbpp__hostkey_classify(sshbpp__hostkey *hk, EVP_PKEY *pkey)
{
    char gname[64];
    size_t glen = 0, i;
    int nid, bits;

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        hk->type = SSHBPP__HK_ED25519;
        hk->curve_bits = 0;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        /* Only the three named NIST curves: not secp256k1, not brainpool,
         * not explicit parameters (which have no group name at all). */
        if (EVP_PKEY_get_group_name(pkey, gname, sizeof(gname), &glen) != 1)
            return SSHBPP_EKEYTYPE;
        nid = OBJ_sn2nid(gname);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(gname);
        for (i = 0; i < NCURVES; i++) {
            if (curves[i].nid == nid) {
                hk->type = SSHBPP__HK_ECDSA;
                hk->curve_bits = curves[i].bits;
                return 0;
            }
        }
        return SSHBPP_EKEYTYPE;
    }
    /* "RSA" only: an RSA-PSS-restricted key cannot make PKCS#1 v1.5
     * signatures, which is what rsa-sha2-* are. */
    if (EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "RSA-PSS")) {
        bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
            return SSHBPP_EKEYTYPE;
        hk->type = SSHBPP__HK_RSA;
        hk->curve_bits = 0;
        return 0;
    }
    return SSHBPP_EKEYTYPE;
}

/* Host keys and client keys come from files through the keys layer
 * (src/keys/keyfile.c): OpenSSH's openssh-key-v1, PEM and PKCS#8, all
 * unencrypted here (a server has nobody to ask for a passphrase). */
int
sshbpp__hostkey_load_file(sshbpp__hostkey *hk, const char *path)
{
    sshbpp_key *k = NULL;
    int r;

    if (hk == NULL || path == NULL)
        return SSHBPP_EINVAL;
    hk->pkey = NULL;
    hk->type = 0;
    hk->curve_bits = 0;
    if ((r = sshbpp_key_load_file(path, NULL, &k, NULL)) != 0)
        return r;
    if (!sshbpp_key_has_private(k)) {
        sshbpp_key_free(k);
        return SSHBPP_EKEYFILE; /* a public key where a private one is needed */
    }
    *hk = k->hk;
    k->hk.pkey = NULL;
    sshbpp_key_free(k);
    return 0;
}

int
sshbpp__hostkey_generate(sshbpp__hostkey *hk, const char *alg)
{
    const ecdsa_curve *c;
    EVP_PKEY *pkey = NULL;
    int r;

    if (hk == NULL || alg == NULL)
        return SSHBPP_EINVAL;
    hk->pkey = NULL;
    hk->type = 0;
    hk->curve_bits = 0;
    if (strcmp(alg, "ssh-ed25519") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if ((c = curve_by_alg(alg)) != NULL)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->group);
    else if (strcmp(alg, "rsa") == 0 || rsa_md(alg) != NULL)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_GEN_BITS);
    else
        return SSHBPP_EINVAL; /* the documented code of sshbpp_kex_generate_hostkey */
    if (pkey == NULL)
        return SSHBPP_ECRYPTO;
    if ((r = sshbpp__hostkey_classify(hk, pkey)) != 0) {
        EVP_PKEY_free(pkey);
        return r;
    }
    hk->pkey = pkey;
    return 0;
}

int
sshbpp__hostkey_can_sign(const sshbpp__hostkey *hk, const char *alg)
{
    const ecdsa_curve *c;

    if (hk == NULL || hk->pkey == NULL || alg == NULL)
        return 0;
    switch (hk->type) {
    case SSHBPP__HK_ED25519:
        return strcmp(alg, "ssh-ed25519") == 0;
    case SSHBPP__HK_ECDSA:
        c = curve_by_alg(alg);
        return c != NULL && c->bits == hk->curve_bits;
    case SSHBPP__HK_RSA:
        return rsa_md(alg) != NULL;
    default:
        return 0;
    }
}

/* Appends a BIGNUM parameter of pkey as an mpint. */
static int
put_bn_param(sshbpp__wbuf *out, const EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    uint8_t *mag = NULL;
    int n, r = SSHBPP_ECRYPTO;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1 || bn == NULL)
        goto out;
    n = BN_num_bytes(bn);
    if ((mag = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
        r = SSHBPP_ENOMEM;
        goto out;
    }
    if (BN_bn2bin(bn, mag) != n)
        goto out;
    sshbpp__wb_mpint(out, mag, (size_t)n);
    r = 0;
out:
    free(mag);
    BN_free(bn);
    return r;
}

/* The uncompressed point 0x04 || X || Y, built from the coordinates
 * rather than OpenSSL's encoded form: a key loaded from a file keeps the
 * file's point format, which may be compressed, and SSH wants uncompressed. */
static int
ec_point(const EVP_PKEY *pkey, const ecdsa_curve *c, uint8_t *q)
{
    BIGNUM *x = NULL, *y = NULL;
    int r = SSHBPP_ECRYPTO;

    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1)
        goto out;
    q[0] = 0x04;
    if (BN_bn2binpad(x, q + 1, (int)c->flen) != (int)c->flen ||
        BN_bn2binpad(y, q + 1 + c->flen, (int)c->flen) != (int)c->flen)
        goto out;
    r = 0;
out:
    BN_free(x);
    BN_free(y);
    return r;
}

int
sshbpp__hostkey_put_blob(const sshbpp__hostkey *hk, sshbpp__wbuf *out)
{
    uint8_t buf[1 + 2 * 66];
    size_t len;
    const ecdsa_curve *c;
    int r;

    if (hk == NULL || hk->pkey == NULL || out == NULL)
        return SSHBPP_EINVAL;
    switch (hk->type) {
    case SSHBPP__HK_ED25519:
        /* RFC 8709 section 4: string "ssh-ed25519", string key (32). */
        len = sizeof(buf);
        if (EVP_PKEY_get_raw_public_key(hk->pkey, buf, &len) != 1 || len != ED25519_PK_LEN)
            return SSHBPP_ECRYPTO;
        sshbpp__wb_cstring(out, "ssh-ed25519");
        sshbpp__wb_string(out, buf, len);
        break;
    case SSHBPP__HK_ECDSA:
        /* RFC 5656 section 3.1: string "ecdsa-sha2-[id]", string [id],
         * string Q. */
        if ((c = curve_by_bits(hk->curve_bits)) == NULL)
            return SSHBPP_EINVAL;
        if ((r = ec_point(hk->pkey, c, buf)) != 0)
            return r;
        sshbpp__wb_cstring(out, c->alg);
        sshbpp__wb_cstring(out, c->ssh_name);
        sshbpp__wb_string(out, buf, 1 + 2 * c->flen);
        break;
    case SSHBPP__HK_RSA:
        /* RFC 4253 section 6.6: string "ssh-rsa", mpint e, mpint n. */
        sshbpp__wb_cstring(out, "ssh-rsa");
        if ((r = put_bn_param(out, hk->pkey, OSSL_PKEY_PARAM_RSA_E)) != 0 ||
            (r = put_bn_param(out, hk->pkey, OSSL_PKEY_PARAM_RSA_N)) != 0)
            return r;
        break;
    default:
        return SSHBPP_EINVAL;
    }
    return out->err;
}

/* One-shot EVP_DigestSign into a malloc'd buffer. md NULL for Ed25519,
 * which hashes internally (PureEdDSA). */
static int
digest_sign(EVP_PKEY *pkey, const char *md, int rsa, const uint8_t *data, size_t n, uint8_t **sig,
            size_t *slen)
{
    EVP_MD_CTX *mctx;
    EVP_PKEY_CTX *pctx = NULL;
    int r = SSHBPP_ECRYPTO;

    *sig = NULL;
    *slen = 0;
    if ((mctx = EVP_MD_CTX_new()) == NULL)
        return SSHBPP_ENOMEM;
    if (EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, pkey, NULL) != 1)
        goto out;
    if (rsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    if (EVP_DigestSign(mctx, NULL, slen, data, n) != 1 || *slen == 0)
        goto out;
    if ((*sig = malloc(*slen)) == NULL) {
        r = SSHBPP_ENOMEM;
        goto out;
    }
    if (EVP_DigestSign(mctx, *sig, slen, data, n) != 1)
        goto out;
    r = 0;
out:
    if (r != 0) {
        free(*sig);
        *sig = NULL;
        *slen = 0;
    }
    EVP_MD_CTX_free(mctx);
    return r;
}

/* Appends mpint of a BIGNUM. */
static void
put_bn(sshbpp__wbuf *out, const BIGNUM *bn, uint8_t *tmp)
{
    int n = BN_bn2bin(bn, tmp);

    sshbpp__wb_mpint(out, tmp, n > 0 ? (size_t)n : 0);
}

int
sshbpp__hostkey_sign(const sshbpp__hostkey *hk, const char *alg, const uint8_t *data, size_t n,
                     sshbpp__wbuf *out)
{
    const ecdsa_curve *c = NULL;
    const char *md = NULL;
    uint8_t *sig = NULL, tmp[66];
    size_t slen = 0, mlen;
    ECDSA_SIG *esig = NULL;
    const unsigned char *cur;
    const BIGNUM *er, *es;
    sshbpp__wbuf inner;
    int r;

    if (hk == NULL || alg == NULL || out == NULL || (data == NULL && n > 0))
        return SSHBPP_EINVAL;
    if (!sshbpp__hostkey_can_sign(hk, alg))
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&inner);
    switch (hk->type) {
    case SSHBPP__HK_ED25519:
        if ((r = digest_sign(hk->pkey, NULL, 0, data, n, &sig, &slen)) != 0)
            goto out;
        if (slen != ED25519_SIG_LEN) {
            r = SSHBPP_ECRYPTO;
            goto out;
        }
        /* RFC 8709 section 6: string "ssh-ed25519", string signature. */
        sshbpp__wb_cstring(out, alg);
        sshbpp__wb_string(out, sig, slen);
        break;
    case SSHBPP__HK_ECDSA:
        c = curve_by_bits(hk->curve_bits);
        if ((r = digest_sign(hk->pkey, c->md, 0, data, n, &sig, &slen)) != 0)
            goto out;
        /* OpenSSL gives DER; RFC 5656 section 3.1.2 wants
         * string (mpint r, mpint s). */
        cur = sig;
        if ((esig = d2i_ECDSA_SIG(NULL, &cur, (long)slen)) == NULL) {
            r = SSHBPP_ECRYPTO;
            goto out;
        }
        ECDSA_SIG_get0(esig, &er, &es);
        if (BN_num_bytes(er) > (int)c->flen || BN_num_bytes(es) > (int)c->flen) {
            r = SSHBPP_ECRYPTO;
            goto out;
        }
        put_bn(&inner, er, tmp);
        put_bn(&inner, es, tmp);
        if ((r = inner.err) != 0)
            goto out;
        sshbpp__wb_cstring(out, alg);
        sshbpp__wb_string(out, inner.p, inner.len);
        break;
    case SSHBPP__HK_RSA:
        md = rsa_md(alg);
        if ((r = digest_sign(hk->pkey, md, 1, data, n, &sig, &slen)) != 0)
            goto out;
        /* RFC 8332 section 3: the signature is exactly as long as the
         * modulus; left-pad should OpenSSL ever return it shorter. */
        mlen = ((size_t)EVP_PKEY_get_bits(hk->pkey) + 7) / 8;
        if (slen > mlen) {
            r = SSHBPP_ECRYPTO;
            goto out;
        }
        sshbpp__wb_cstring(out, alg);
        sshbpp__wb_u32(out, (uint32_t)mlen);
        for (; mlen > slen; mlen--)
            sshbpp__wb_u8(out, 0);
        sshbpp__wb_raw(out, sig, slen);
        break;
    default:
        r = SSHBPP_EINVAL;
        goto out;
    }
    r = out->err;
out:
    ECDSA_SIG_free(esig);
    free(sig);
    sshbpp__wb_free(&inner);
    return r;
}

/* 1 if the n bytes at p spell the C string s. */
static int
name_is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* see kex_int.h */
EVP_PKEY *
sshbpp__pkey_fromdata(const char *type, int selection, OSSL_PARAM *params,
                      enum sshbpp__pkey_check check)
{
    EVP_PKEY_CTX *ctx, *chk = NULL;
    EVP_PKEY *pkey = NULL;
    int ok = 1;

    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
        return NULL;
    if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1)
        goto fail;
    if (check != SSHBPP__PKEY_CHECK_NONE) {
        if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
            goto fail;
        ok = check == SSHBPP__PKEY_CHECK_PUBLIC ? EVP_PKEY_public_check(chk)
                                                : EVP_PKEY_pairwise_check(chk);
        if (ok != 1)
            goto fail;
        EVP_PKEY_CTX_free(chk);
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
fail:
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return NULL;
}

static EVP_PKEY *
ec_pub(const ecdsa_curve *c, const uint8_t *q, size_t qlen)
{
    OSSL_PARAM params[3];

    /* OSSL_PARAM holds non-const pointers; fromdata only reads them. */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)(uintptr_t)c->group, 0);
    params[1] =
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)q, qlen);
    params[2] = OSSL_PARAM_construct_end();
    return sshbpp__pkey_fromdata("EC", EVP_PKEY_PUBLIC_KEY, params, SSHBPP__PKEY_CHECK_PUBLIC);
}

static EVP_PKEY *
rsa_pub(const uint8_t *e, size_t elen, const uint8_t *n, size_t nlen)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    EVP_PKEY *pkey = NULL;

    if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
        (be = BN_bin2bn(e, (int)elen, NULL)) == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    pkey = sshbpp__pkey_fromdata("RSA", EVP_PKEY_PUBLIC_KEY, params, SSHBPP__PKEY_CHECK_NONE);
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(be);
    BN_free(bn);
    return pkey;
}

/* Parses K_S for algorithm alg and builds the public key. Every failure is
 * SSHBPP_EHOSTKEY: wrong type for alg, wrong curve, bad lengths, trailing
 * bytes, an off-curve point, an RSA key of the wrong size. */
static int
parse_blob(const char *alg, const uint8_t *blob, size_t blen, EVP_PKEY **out, size_t *rsa_len,
           const ecdsa_curve **curve)
{
    sshbpp__rbuf rb;
    const uint8_t *type, *p, *q, *e, *n;
    size_t tlen, plen, qlen, elen, nlen, bits;
    uint8_t top;
    const ecdsa_curve *c = NULL;
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    sshbpp__rb_init(&rb, blob, blen);
    if (sshbpp__rb_string(&rb, &type, &tlen) != 0)
        return SSHBPP_EHOSTKEY;
    if (strcmp(alg, "ssh-ed25519") == 0) {
        if (!name_is(type, tlen, "ssh-ed25519") || sshbpp__rb_string(&rb, &p, &plen) != 0 ||
            !sshbpp__rb_done(&rb) || plen != ED25519_PK_LEN)
            return SSHBPP_EHOSTKEY;
        /* An undecodable point makes the verify fail; OpenSSL does not
         * decode at construction time. */
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, p, plen);
    } else if ((c = curve_by_alg(alg)) != NULL) {
        if (!name_is(type, tlen, c->alg) || sshbpp__rb_string(&rb, &p, &plen) != 0 ||
            !name_is(p, plen, c->ssh_name) || sshbpp__rb_string(&rb, &q, &qlen) != 0 ||
            !sshbpp__rb_done(&rb))
            return SSHBPP_EHOSTKEY;
        /* Uncompressed only: RFC 5656 section 3.1 lets a key use point
         * compression only if negotiated, which SSH has no way to do. */
        if (qlen != 1 + 2 * c->flen || q[0] != 0x04)
            return SSHBPP_EHOSTKEY;
        pkey = ec_pub(c, q, qlen);
    } else if (rsa_md(alg) != NULL) {
        if (!name_is(type, tlen, "ssh-rsa") || sshbpp__rb_mpint(&rb, &e, &elen) != 0 ||
            sshbpp__rb_mpint(&rb, &n, &nlen) != 0 || !sshbpp__rb_done(&rb))
            return SSHBPP_EHOSTKEY;
        /* The magnitude is minimal (rb_mpint), so its bit length is exact. */
        if (nlen == 0 || elen == 0 || !(n[nlen - 1] & 1) || !(e[elen - 1] & 1) || elen > nlen)
            return SSHBPP_EHOSTKEY;
        if (nlen > RSA_MAX_BITS / 8)
            return SSHBPP_EHOSTKEY;
        bits = nlen * 8;
        for (top = n[0]; !(top & 0x80); top = (uint8_t)(top << 1))
            bits--;
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || (elen == 1 && e[0] < 3))
            return SSHBPP_EHOSTKEY;
        *rsa_len = nlen;
        pkey = rsa_pub(e, elen, n, nlen);
    } else {
        return SSHBPP_EHOSTKEY;
    }
    if (pkey == NULL)
        return SSHBPP_EHOSTKEY;
    *curve = c;
    *out = pkey;
    return 0;
}

/* see kex_int.h */
int
sshbpp__hostkey_from_blob(sshbpp__hostkey *hk, const uint8_t *blob, size_t blen)
{
    sshbpp__rbuf rb;
    const uint8_t *type;
    size_t tlen, rsa_len = 0;
    const ecdsa_curve *c = NULL;
    char alg[32];
    EVP_PKEY *pkey = NULL;
    int r;

    if (hk == NULL || (blob == NULL && blen > 0))
        return SSHBPP_EINVAL;
    memset(hk, 0, sizeof(*hk));
    sshbpp__rb_init(&rb, blob, blen);
    if (sshbpp__rb_string(&rb, &type, &tlen) != 0 || tlen >= sizeof(alg))
        return SSHBPP_EKEYFILE;
    memcpy(alg, type, tlen);
    alg[tlen] = '\0';
    /* The blob of an RSA key says "ssh-rsa"; parse_blob wants a signature
     * algorithm, and either SHA-2 one reads the same blob. */
    if (strcmp(alg, "ssh-rsa") == 0)
        strcpy(alg, "rsa-sha2-256");
    else if (strcmp(alg, "ssh-ed25519") != 0 && curve_by_alg(alg) == NULL)
        return SSHBPP_EKEYTYPE;
    if (parse_blob(alg, blob, blen, &pkey, &rsa_len, &c) != 0) {
        const uint8_t *e, *n;
        size_t elen, nlen;

        /* A well-formed RSA blob that parse_blob refused has a size we do
         * not use (below 2048 or above 16384 bits). */
        if (strcmp(alg, "rsa-sha2-256") == 0 && sshbpp__rb_mpint(&rb, &e, &elen) == 0 &&
            sshbpp__rb_mpint(&rb, &n, &nlen) == 0 && sshbpp__rb_done(&rb) && nlen > 0 &&
            elen > 0)
            return SSHBPP_EKEYTYPE;
        return SSHBPP_EKEYFILE;
    }
    if ((r = sshbpp__hostkey_classify(hk, pkey)) != 0) {
        EVP_PKEY_free(pkey);
        return r;
    }
    hk->pkey = pkey;
    return 0;
}

/* ECDSA signature body: string (mpint r, mpint s) -> DER for OpenSSL. */
static int
ecdsa_der(const ecdsa_curve *c, const uint8_t *blob, size_t len, uint8_t **der, size_t *dlen)
{
    sshbpp__rbuf rb;
    const uint8_t *rp, *sp;
    size_t rl, sl;
    BIGNUM *br = NULL, *bs = NULL;
    ECDSA_SIG *esig = NULL;
    unsigned char *p = NULL;
    int n, r = SSHBPP_ESIGNATURE;

    *der = NULL;
    sshbpp__rb_init(&rb, blob, len);
    if (sshbpp__rb_mpint(&rb, &rp, &rl) != 0 || sshbpp__rb_mpint(&rb, &sp, &sl) != 0 ||
        !sshbpp__rb_done(&rb))
        return SSHBPP_ESIGNATURE;
    /* r and s lie in [1, order-1], and the order has as many bytes as the
     * field for these curves; OpenSSL checks the exact range. */
    if (rl == 0 || sl == 0 || rl > c->flen || sl > c->flen)
        return SSHBPP_ESIGNATURE;
    if ((br = BN_bin2bn(rp, (int)rl, NULL)) == NULL ||
        (bs = BN_bin2bn(sp, (int)sl, NULL)) == NULL || (esig = ECDSA_SIG_new()) == NULL) {
        r = SSHBPP_ENOMEM;
        goto out;
    }
    if (ECDSA_SIG_set0(esig, br, bs) != 1) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    br = bs = NULL; /* owned by esig now */
    if ((n = i2d_ECDSA_SIG(esig, &p)) <= 0) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    *der = p;
    *dlen = (size_t)n;
    r = 0;
out:
    ECDSA_SIG_free(esig);
    BN_free(br);
    BN_free(bs);
    return r;
}

static int
digest_verify(EVP_PKEY *pkey, const char *md, int rsa, const uint8_t *data, size_t n,
              const uint8_t *sig, size_t slen)
{
    EVP_MD_CTX *mctx;
    EVP_PKEY_CTX *pctx = NULL;
    int r = SSHBPP_ESIGNATURE;

    if ((mctx = EVP_MD_CTX_new()) == NULL)
        return SSHBPP_ENOMEM;
    if (EVP_DigestVerifyInit_ex(mctx, &pctx, md, NULL, NULL, pkey, NULL) != 1) {
        r = SSHBPP_EHOSTKEY;
        goto out;
    }
    if (rsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    /* Exactly 1: OpenSSL returns 0 for a bad signature and a negative
     * value for other failures; neither may read as success. */
    if (EVP_DigestVerify(mctx, sig, slen, data, n) == 1)
        r = 0;
out:
    EVP_MD_CTX_free(mctx);
    return r;
}

int
sshbpp__hostkey_verify(const char *alg, const uint8_t *blob, size_t blen, const uint8_t *data,
                       size_t n, const uint8_t *sig, size_t slen)
{
    EVP_PKEY *pkey = NULL;
    const ecdsa_curve *c = NULL;
    size_t rsa_len = 0, name_len, body_len, dlen = 0;
    const uint8_t *name, *body;
    uint8_t *der = NULL, *padded = NULL;
    sshbpp__rbuf rb;
    int r;

    if (alg == NULL || (blob == NULL && blen > 0) || (data == NULL && n > 0) ||
        (sig == NULL && slen > 0))
        return SSHBPP_EINVAL;
    if ((r = parse_blob(alg, blob, blen, &pkey, &rsa_len, &c)) != 0)
        return r;

    /* RFC 4253 section 6.6 signature blob: string name, string body. The
     * name must be the negotiated algorithm itself; in particular an
     * "ssh-rsa" (SHA-1) signature does not pass for rsa-sha2-256. */
    r = SSHBPP_ESIGNATURE;
    sshbpp__rb_init(&rb, sig, slen);
    if (sshbpp__rb_string(&rb, &name, &name_len) != 0 || !name_is(name, name_len, alg) ||
        sshbpp__rb_string(&rb, &body, &body_len) != 0 || !sshbpp__rb_done(&rb))
        goto out;

    if (c != NULL) {
        if ((r = ecdsa_der(c, body, body_len, &der, &dlen)) != 0)
            goto out;
        r = digest_verify(pkey, c->md, 0, data, n, der, dlen);
    } else if (rsa_len != 0) {
        /* RFC 8332 section 3 wants the modulus length; like OpenSSH we
         * take a shorter one (some signers drop leading zeros) by putting
         * the zeros back, and refuse a longer one. */
        if (body_len == 0 || body_len > rsa_len)
            goto out;
        if (body_len < rsa_len) {
            if ((padded = calloc(1, rsa_len)) == NULL) {
                r = SSHBPP_ENOMEM;
                goto out;
            }
            memcpy(padded + (rsa_len - body_len), body, body_len);
            body = padded;
        }
        r = digest_verify(pkey, rsa_md(alg), 1, data, n, body, rsa_len);
    } else {
        if (body_len != ED25519_SIG_LEN)
            goto out;
        r = digest_verify(pkey, NULL, 0, data, n, body, body_len);
    }
out:
    free(padded);
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    return r;
}

int
sshbpp__hostkey_fingerprint(const uint8_t *blob, size_t blen, char *out, size_t cap)
{
    static const char prefix[] = "SHA256:";
    uint8_t md[32];
    char enc[48];
    unsigned int mdlen = 0;
    size_t len;

    if ((blob == NULL && blen > 0) || out == NULL)
        return SSHBPP_EINVAL;
    if (EVP_Digest(blob, blen, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md))
        return SSHBPP_ECRYPTO;
    /* Encoded apart first: the encoder wants room for padding it then
     * strips, which out need not have. */
    if ((len = sshbpp__base64_nopad(md, sizeof(md), enc, sizeof(enc))) == 0)
        return SSHBPP_ECRYPTO;
    if (cap < sizeof(prefix) + len)
        return SSHBPP_EBUFSMALL;
    memcpy(out, prefix, sizeof(prefix) - 1);
    memcpy(out + sizeof(prefix) - 1, enc, len + 1);
    return 0;
}

void
sshbpp__hostkey_free(sshbpp__hostkey *hk)
{
    if (hk == NULL)
        return;
    /* EVP_PKEY_free wipes the private key. */
    EVP_PKEY_free(hk->pkey);
    hk->pkey = NULL;
    hk->type = 0;
    hk->curve_bits = 0;
}
