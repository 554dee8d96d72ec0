/*
 * openssh_key.c: OpenSSH's private key format "openssh-key-v1" (OpenSSH's
 * PROTOCOL.key): magic "openssh-key-v1\0", string ciphername, string
 * kdfname, string kdfoptions, uint32 number of keys, that many public key
 * blobs, then one string holding (encrypted, padded) uint32 checkint,
 * uint32 checkint, the private keys with their comments, and padding bytes
 * 1, 2, 3, ... up to the cipher's block size (8 for "none").
 *
 * Every length is checked by the bounds-checked reader before it is used,
 * the structure must be consumed exactly, and the private key must be
 * consistent with itself and with the public blob of the header (OpenSSL's
 * pairwise check for ECDSA and RSA, the derived public key for ed25519).
 * Encrypted files use bcrypt_pbkdf, which OpenSSL does not provide: they
 * are SSHBPP_EKEYBCRYPT (their public key can still be read for an agent).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "keys_int.h"

#define MAGIC "openssh-key-v1"
#define BLOCK_NONE 8

static int
is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* A key pair from OSSL params, checked pairwise by OpenSSL: a file whose
 * public half does not match its private half is refused. */
static EVP_PKEY *
keypair_fromdata(const char *type, OSSL_PARAM *params)
{
    return sshbpp__pkey_fromdata(type, EVP_PKEY_KEYPAIR, params, SSHBPP__PKEY_CHECK_PAIR);
}

static int
parse_ed25519(sshbpp__rbuf *rb, EVP_PKEY **out, sshbpp_key_diag *diag)
{
    const uint8_t *pk, *sk;
    size_t pklen, sklen, publen = 32;
    uint8_t pub[32];
    EVP_PKEY *pkey;

    if (sshbpp__rb_string(rb, &pk, &pklen) != 0 || sshbpp__rb_string(rb, &sk, &sklen) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "ed25519 private key truncated");
    if (pklen != 32 || sklen != 64)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                            "ed25519 key lengths %zu/%zu, not 32/64", pklen, sklen);
    /* sk is seed || public key. */
    if (memcmp(sk + 32, pk, 32) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "ed25519 public key copies differ");
    if ((pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, sk, 32)) == NULL)
        return SSHBPP_ECRYPTO;
    if (EVP_PKEY_get_raw_public_key(pkey, pub, &publen) != 1 || publen != 32 ||
        memcmp(pub, pk, 32) != 0) {
        EVP_PKEY_free(pkey);
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                            "ed25519 public key does not belong to the private key");
    }
    *out = pkey;
    return 0;
}

static int
parse_ecdsa(sshbpp__rbuf *rb, const uint8_t *type, size_t tlen, EVP_PKEY **out,
            sshbpp_key_diag *diag)
{
    static const struct {
        const char *type, *id, *group;
        size_t flen;
    } curves[] = {
        {"ecdsa-sha2-nistp256", "nistp256", "P-256", 32},
        {"ecdsa-sha2-nistp384", "nistp384", "P-384", 48},
        {"ecdsa-sha2-nistp521", "nistp521", "P-521", 66},
    };
    const uint8_t *id, *q, *d;
    size_t idlen, qlen, dlen, i;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bd = NULL;
    EVP_PKEY *pkey = NULL;
    int r = SSHBPP_ENOMEM;

    for (i = 0; i < 3; i++)
        if (is(type, tlen, curves[i].type))
            break;
    if (i == 3)
        return SSHBPP_EKEYTYPE;
    if (sshbpp__rb_string(rb, &id, &idlen) != 0 || sshbpp__rb_string(rb, &q, &qlen) != 0 ||
        sshbpp__rb_mpint(rb, &d, &dlen) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "ECDSA private key truncated or malformed");
    if (!is(id, idlen, curves[i].id))
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "ECDSA curve name does not match key type");
    if (qlen != 1 + 2 * curves[i].flen || q[0] != 0x04)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "ECDSA public point has length %zu", qlen);
    if (dlen == 0 || dlen > curves[i].flen)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "ECDSA private scalar has length %zu", dlen);
    if ((bd = BN_secure_new()) == NULL || BN_bin2bn(d, (int)dlen, bd) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[i].group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, qlen) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((pkey = keypair_fromdata("EC", params)) == NULL) {
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                         "ECDSA public point does not belong to the private scalar");
        goto out;
    }
    *out = pkey;
    r = 0;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bd);
    return r;
}

static int
parse_rsa(sshbpp__rbuf *rb, EVP_PKEY **out, sshbpp_key_diag *diag)
{
    const uint8_t *v[6];
    size_t l[6];
    BIGNUM *bn[6] = {0}, *dmp1 = NULL, *dmq1 = NULL, *t = NULL;
    BN_CTX *bctx = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;
    int i, r = SSHBPP_ENOMEM;

    /* mpint n, e, d, iqmp, p, q */
    for (i = 0; i < 6; i++)
        if (sshbpp__rb_mpint(rb, &v[i], &l[i]) != 0)
            return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "RSA private key truncated or malformed");
    if (l[0] == 0 || l[0] > 16384 / 8 || l[1] == 0 || l[1] > l[0] || l[2] == 0 || l[2] > l[0] ||
        l[3] == 0 || l[3] > l[0] || l[4] == 0 || l[4] > l[0] || l[5] == 0 || l[5] > l[0])
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "RSA key component of bad length");
    if (l[0] < 2048 / 8)
        return SSHBPP_EKEYTYPE;
    for (i = 0; i < 6; i++)
        if ((bn[i] = BN_secure_new()) == NULL || BN_bin2bn(v[i], (int)l[i], bn[i]) == NULL)
            goto out;
    /* OpenSSH keeps iqmp but not d mod (p-1) and d mod (q-1); OpenSSL's
     * CRT wants them. */
    if ((bctx = BN_CTX_secure_new()) == NULL || (dmp1 = BN_secure_new()) == NULL ||
        (dmq1 = BN_secure_new()) == NULL || (t = BN_secure_new()) == NULL)
        goto out;
    if (!BN_sub(t, bn[4], BN_value_one()) || !BN_mod(dmp1, bn[2], t, bctx) ||
        !BN_sub(t, bn[5], BN_value_one()) || !BN_mod(dmq1, bn[2], t, bctx)) {
        r = SSHBPP_ECRYPTO;
        goto out;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn[0]) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn[1]) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bn[2]) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bn[4]) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bn[5]) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bn[3]) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((pkey = keypair_fromdata("RSA", params)) == NULL) {
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "RSA key components are inconsistent");
        goto out;
    }
    *out = pkey;
    r = 0;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_CTX_free(bctx);
    BN_clear_free(dmp1);
    BN_clear_free(dmq1);
    BN_clear_free(t);
    for (i = 0; i < 6; i++)
        BN_clear_free(bn[i]);
    return r;
}

/* see keys_int.h */
int
sshbpp__openssh_key_parse(const uint8_t *p, size_t n, int want_private, sshbpp_key **out,
                          sshbpp_key_diag *diag)
{
    sshbpp__rbuf rb, pr;
    const uint8_t *cipher, *kdf, *kdfopt, *pub, *priv, *type, *comment;
    size_t clen, klen, olen, publen, privlen, tlen, comlen, pad, i;
    uint32_t nkeys, check1, check2;
    sshbpp__wbuf derived;
    sshbpp_key *k = NULL;
    EVP_PKEY *pkey = NULL;
    int r;

    *out = NULL;
    if (n < sizeof(MAGIC) || memcmp(p, MAGIC, sizeof(MAGIC)) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "no openssh-key-v1 magic");
    sshbpp__rb_init(&rb, p + sizeof(MAGIC), n - sizeof(MAGIC));
    if (sshbpp__rb_string(&rb, &cipher, &clen) != 0 || sshbpp__rb_string(&rb, &kdf, &klen) != 0 ||
        sshbpp__rb_string(&rb, &kdfopt, &olen) != 0 || sshbpp__rb_u32(&rb, &nkeys) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "openssh-key-v1 header truncated");
    if (nkeys != 1)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "%lu keys in the file, not exactly one",
                            (unsigned long)nkeys);
    if (sshbpp__rb_string(&rb, &pub, &publen) != 0 || sshbpp__rb_string(&rb, &priv, &privlen) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "openssh-key-v1 key sections truncated");
    if (!sshbpp__rb_done(&rb))
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "%zu bytes after the private section",
                            rb.len - rb.off);
    if (!want_private) {
        /* The header's public key is in clear whatever the cipher. */
        if ((r = sshbpp_key_from_blob(pub, publen, &k)) != 0)
            return sshbpp__diag(diag, 0, r, "public key blob in the header does not parse");
        k->format = SSHBPP_KEYFMT_OPENSSH;
        *out = k;
        return 0;
    }
    if (!is(cipher, clen, "none") || !is(kdf, klen, "none")) {
        if (is(kdf, klen, "bcrypt"))
            return sshbpp__diag(diag, 0, SSHBPP_EKEYBCRYPT,
                                "encrypted with %.*s and bcrypt: use ssh-agent (ssh-add), or "
                                "`ssh-keygen -p -m PEM -f FILE` to re-encrypt it as PEM",
                                (int)(clen < 40 ? clen : 40), (const char *)cipher);
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "unknown cipher or KDF");
    }
    if (olen != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "KDF options present without a KDF");
    if (privlen % BLOCK_NONE != 0 || privlen < 8)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                            "private section of %zu bytes is not a multiple of %d", privlen,
                            BLOCK_NONE);
    sshbpp__rb_init(&pr, priv, privlen);
    (void)sshbpp__rb_u32(&pr, &check1);
    (void)sshbpp__rb_u32(&pr, &check2);
    if (check1 != check2)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "check-int mismatch (%08lx != %08lx)",
                            (unsigned long)check1, (unsigned long)check2);
    if (sshbpp__rb_string(&pr, &type, &tlen) != 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "private key type truncated");
    if (is(type, tlen, "ssh-ed25519"))
        r = parse_ed25519(&pr, &pkey, diag);
    else if (tlen > 6 && memcmp(type, "ecdsa-", 6) == 0)
        r = parse_ecdsa(&pr, type, tlen, &pkey, diag);
    else if (is(type, tlen, "ssh-rsa"))
        r = parse_rsa(&pr, &pkey, diag);
    else
        r = SSHBPP_EKEYTYPE;
    if (r == SSHBPP_EKEYTYPE)
        return sshbpp__diag(diag, 0, r, "key type \"%.*s\" is not supported",
                            (int)(tlen < 40 ? tlen : 40), (const char *)type);
    if (r != 0)
        return r;
    if (sshbpp__rb_string(&pr, &comment, &comlen) != 0) {
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "comment truncated");
        goto fail;
    }
    /* Padding 1, 2, 3, ... to the block size: fewer than a block. */
    pad = pr.len - pr.off;
    if (pad >= BLOCK_NONE) {
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "%zu bytes after the key, more than padding",
                         pad);
        goto fail;
    }
    for (i = 0; i < pad; i++) {
        if (pr.p[pr.off + i] != (uint8_t)(i + 1)) {
            r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "padding byte %zu is %u, not %zu", i + 1,
                             pr.p[pr.off + i], i + 1);
            goto fail;
        }
    }
    if ((r = sshbpp__key_from_pkey(pkey, 1, SSHBPP_KEYFMT_OPENSSH, &k)) != 0) {
        r = sshbpp__diag(diag, 0, r, "key type or size not supported");
        goto fail;
    }
    pkey = NULL;
    /* The header's public key must be this key's. */
    sshbpp__wb_init(&derived);
    r = sshbpp__key_blob(k, &derived);
    if (r == 0 && (derived.len != publen || memcmp(derived.p, pub, publen) != 0))
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                         "public key in the header does not match the private key");
    sshbpp__wb_free(&derived);
    if (r != 0)
        goto fail;
    /* Kept even when empty: ssh-keygen -l prints an empty comment as
     * such, and "no comment" only for formats without one. */
    {
        if ((k->comment = malloc(comlen + 1)) == NULL) {
            r = SSHBPP_ENOMEM;
            goto fail;
        }
        memcpy(k->comment, comment, comlen);
        k->comment[comlen] = '\0';
    }
    *out = k;
    return 0;
fail:
    EVP_PKEY_free(pkey);
    sshbpp_key_free(k);
    return r;
}
