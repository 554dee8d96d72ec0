/*
 * key.c: the sshbpp_key object: a public key, optionally with its private
 * half, and what is printed of it: the blob, the OpenSSH public line
 * (ssh-keygen -y), the SHA256 / MD5 fingerprints and the line of
 * ssh-keygen -l. Signing and verifying go through hostkey.c, the one place
 * that turns OpenSSL signatures into SSH ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "keys_int.h"

/* see keys_int.h */
int
sshbpp__key_from_pkey(EVP_PKEY *pkey, int priv, int format, sshbpp_key **out)
{
    sshbpp_key *k;
    int r;

    *out = NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return SSHBPP_ENOMEM;
    if ((r = sshbpp__hostkey_classify(&k->hk, pkey)) != 0) {
        free(k);
        return r;
    }
    k->hk.pkey = pkey;
    k->priv = priv;
    k->format = format;
    *out = k;
    return 0;
}

/* see keys_int.h */
int
sshbpp__key_type_known(const uint8_t *name, size_t n)
{
    static const char *const names[] = {"ssh-ed25519", "ecdsa-sha2-nistp256",
                                        "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (n == strlen(names[i]) && memcmp(name, names[i], n) == 0)
            return 1;
    return 0;
}

/* see sshbpp_keys.h */
int
sshbpp_key_from_blob(const uint8_t *blob, size_t len, sshbpp_key **out)
{
    sshbpp_key *k;
    int r;

    if (out == NULL || (blob == NULL && len > 0))
        return SSHBPP_EINVAL;
    *out = NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return SSHBPP_ENOMEM;
    if ((r = sshbpp__hostkey_from_blob(&k->hk, blob, len)) != 0) {
        free(k);
        return r;
    }
    k->format = SSHBPP_KEYFMT_PUBLIC;
    *out = k;
    return 0;
}

/* see sshbpp_keys.h */
void
sshbpp_key_free(sshbpp_key *k)
{
    if (k == NULL)
        return;
    sshbpp__hostkey_free(&k->hk);
    free(k->comment);
    free(k);
}

/* see sshbpp_keys.h */
int
sshbpp_key_has_private(const sshbpp_key *k)
{
    return k != NULL && k->priv;
}

/* see sshbpp_keys.h */
enum sshbpp_key_type
sshbpp_key_type(const sshbpp_key *k)
{
    return k == NULL ? 0 : (enum sshbpp_key_type)k->hk.type;
}

/* see sshbpp_keys.h */
enum sshbpp_key_format
sshbpp_key_format(const sshbpp_key *k)
{
    return k == NULL ? 0 : (enum sshbpp_key_format)k->format;
}

/* see sshbpp_keys.h */
const char *
sshbpp_key_type_name(const sshbpp_key *k)
{
    if (k == NULL)
        return NULL;
    switch (k->hk.type) {
    case SSHBPP__HK_ED25519:
        return "ssh-ed25519";
    case SSHBPP__HK_ECDSA:
        return k->hk.curve_bits == 256   ? "ecdsa-sha2-nistp256"
               : k->hk.curve_bits == 384 ? "ecdsa-sha2-nistp384"
                                         : "ecdsa-sha2-nistp521";
    case SSHBPP__HK_RSA:
        return "ssh-rsa";
    default:
        return NULL;
    }
}

/* see sshbpp_keys.h */
int
sshbpp_key_bits(const sshbpp_key *k)
{
    if (k == NULL)
        return 0;
    switch (k->hk.type) {
    case SSHBPP__HK_ED25519:
        return 256;
    case SSHBPP__HK_ECDSA:
        return k->hk.curve_bits;
    case SSHBPP__HK_RSA:
        return EVP_PKEY_get_bits(k->hk.pkey);
    default:
        return 0;
    }
}

/* see sshbpp_keys.h */
const char *
sshbpp_key_comment(const sshbpp_key *k)
{
    return k == NULL ? NULL : k->comment;
}

/* see sshbpp_keys.h */
int
sshbpp_key_set_comment(sshbpp_key *k, const char *comment)
{
    char *c = NULL;

    if (k == NULL)
        return SSHBPP_EINVAL;
    if (comment != NULL && (c = strdup(comment)) == NULL)
        return SSHBPP_ENOMEM;
    free(k->comment);
    k->comment = c;
    return 0;
}

/* see keys_int.h */
int
sshbpp__key_blob(const sshbpp_key *k, sshbpp__wbuf *out)
{
    int r;

    if ((r = sshbpp__hostkey_put_blob(&k->hk, out)) != 0)
        return r;
    return out->err;
}

/* see sshbpp_keys.h */
int
sshbpp_key_equal(const sshbpp_key *a, const sshbpp_key *b)
{
    sshbpp__wbuf x, y;
    int eq;

    if (a == NULL || b == NULL)
        return 0;
    sshbpp__wb_init(&x);
    sshbpp__wb_init(&y);
    eq = sshbpp__key_blob(a, &x) == 0 && sshbpp__key_blob(b, &y) == 0 && x.len == y.len &&
         memcmp(x.p, y.p, x.len) == 0;
    sshbpp__wb_free(&x);
    sshbpp__wb_free(&y);
    return eq;
}

/* see sshbpp_keys.h */
int
sshbpp_key_public_blob(const sshbpp_key *k, uint8_t *out, size_t cap, size_t *len)
{
    sshbpp__wbuf b;
    int r;

    if (k == NULL || len == NULL || (out == NULL && cap > 0))
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__key_blob(k, &b)) == 0) {
        *len = b.len;
        if (out != NULL || cap > 0) {
            if (b.len > cap)
                r = SSHBPP_EBUFSMALL;
            else
                memcpy(out, b.p, b.len);
        }
    }
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_key_public_line(const sshbpp_key *k, char *out, size_t cap)
{
    sshbpp__wbuf b;
    const char *type;
    size_t tlen, clen = 0, need;
    long n;
    int r;

    if (k == NULL || out == NULL || (type = sshbpp_key_type_name(k)) == NULL)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__key_blob(k, &b)) != 0)
        goto out;
    tlen = strlen(type);
    if (k->comment != NULL && k->comment[0] != '\0')
        clen = 1 + strlen(k->comment);
    need = tlen + 1 + (b.len + 2) / 3 * 4 + clen + 1;
    if (need > cap || need > 0x7fffffff) {
        r = SSHBPP_EBUFSMALL;
        goto out;
    }
    memcpy(out, type, tlen);
    out[tlen] = ' ';
    if ((n = sshbpp__b64_encode(b.p, b.len, out + tlen + 1, cap - tlen - 1)) < 0) {
        r = (int)n;
        goto out;
    }
    if (clen > 0) {
        out[tlen + 1 + (size_t)n] = ' ';
        memcpy(out + tlen + 2 + (size_t)n, k->comment, clen);  /* with its NUL */
    }
    r = (int)(need - 1);
out:
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_blob_fingerprint(const uint8_t *blob, size_t len, enum sshbpp_fp_hash h, char *out,
                        size_t cap)
{
    uint8_t md[32];
    unsigned mdlen = 0, i;
    size_t o;
    int r;

    if ((blob == NULL && len > 0) || out == NULL)
        return SSHBPP_EINVAL;
    if (h == SSHBPP_FP_SHA256) {
        if ((r = sshbpp__hostkey_fingerprint(blob, len, out, cap)) != 0)
            return r;
        return (int)strlen(out);
    }
    if (h != SSHBPP_FP_MD5)
        return SSHBPP_EINVAL;
    /* ssh-keygen -E md5: "MD5:" then the 16 bytes as lower-case hex,
     * colon-separated. MD5 is only a label here, never a check. */
    if (EVP_Digest(blob, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
        return SSHBPP_ECRYPTO;
    if (cap < 4 + 16 * 3)
        return SSHBPP_EBUFSMALL;
    memcpy(out, "MD5:", 4);
    o = 4;
    for (i = 0; i < mdlen; i++) {
        snprintf(out + o, cap - o, i == 0 ? "%02x" : ":%02x", md[i]);
        o += i == 0 ? 2 : 3;
    }
    return (int)o;
}

/* see sshbpp_keys.h */
int
sshbpp_key_fingerprint(const sshbpp_key *k, enum sshbpp_fp_hash h, char *out, size_t cap)
{
    sshbpp__wbuf b;
    int r;

    if (k == NULL || out == NULL)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__key_blob(k, &b)) == 0)
        r = sshbpp_blob_fingerprint(b.p, b.len, h, out, cap);
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_key_fingerprint_line(const sshbpp_key *k, enum sshbpp_fp_hash h, const char *comment,
                            char *out, size_t cap)
{
    char fp[80];
    const char *label;
    int r, n;

    if (k == NULL || out == NULL)
        return SSHBPP_EINVAL;
    if ((r = sshbpp_key_fingerprint(k, h, fp, sizeof(fp))) < 0)
        return r;
    label = k->hk.type == SSHBPP__HK_ED25519 ? "ED25519"
            : k->hk.type == SSHBPP__HK_ECDSA ? "ECDSA"
                                             : "RSA";
    n = snprintf(out, cap, "%d %s %s (%s)", sshbpp_key_bits(k), fp,
                 comment != NULL ? comment : "no comment", label);
    if (n < 0 || (size_t)n >= cap)
        return SSHBPP_EBUFSMALL;
    return n;
}

/* see sshbpp_keys.h */
const char *
sshbpp_key_sig_alg(const sshbpp_key *k, const char *server_sig_algs)
{
    if (k == NULL)
        return NULL;
    if (k->hk.type == SSHBPP__HK_RSA) {
        /* Without server-sig-algs nothing says the server knows SHA-512;
         * rsa-sha2-256 is the one RFC 8332 servers all take. */
        if (server_sig_algs != NULL &&
            sshbpp__namelist_has(server_sig_algs, strlen(server_sig_algs), "rsa-sha2-512"))
            return "rsa-sha2-512";
        return "rsa-sha2-256";
    }
    return sshbpp_key_type_name(k);
}

/* see sshbpp_keys.h */
int
sshbpp_key_can_sign(const sshbpp_key *k, const char *sig_alg)
{
    if (k == NULL || sig_alg == NULL)
        return 0;
    if (k->hk.type == SSHBPP__HK_RSA)
        return strcmp(sig_alg, "rsa-sha2-256") == 0 || strcmp(sig_alg, "rsa-sha2-512") == 0;
    return strcmp(sig_alg, sshbpp_key_type_name(k)) == 0;
}

/* see sshbpp_keys.h */
int
sshbpp_key_sign(const sshbpp_key *k, const char *sig_alg, const uint8_t *data, size_t len,
                uint8_t *sig, size_t cap, size_t *sig_len)
{
    sshbpp__wbuf b;
    int r;

    if (k == NULL || sig_alg == NULL || sig == NULL || sig_len == NULL ||
        (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if (!k->priv || !sshbpp_key_can_sign(k, sig_alg))
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__hostkey_sign(&k->hk, sig_alg, data, len, &b)) == 0 && (r = b.err) == 0) {
        if (b.len > cap) {
            r = SSHBPP_EBUFSMALL;
        } else {
            memcpy(sig, b.p, b.len);
            *sig_len = b.len;
        }
    }
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_key_sign_cb(void *key, const char *sig_alg, const uint8_t *data, size_t len, uint8_t *sig,
                   size_t cap, size_t *sig_len)
{
    return sshbpp_key_sign((const sshbpp_key *)key, sig_alg, data, len, sig, cap, sig_len);
}

/* see sshbpp_keys.h */
int
sshbpp_key_verify(const sshbpp_key *k, const uint8_t *data, size_t len, const uint8_t *sig,
                  size_t sig_len)
{
    sshbpp__rbuf rb;
    sshbpp__wbuf b;
    const uint8_t *name;
    size_t nlen;
    char alg[32];
    int r;

    if (k == NULL || (sig == NULL && sig_len > 0) || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    sshbpp__rb_init(&rb, sig, sig_len);
    if (sshbpp__rb_string(&rb, &name, &nlen) != 0 || nlen >= sizeof(alg))
        return SSHBPP_ESIGNATURE;
    memcpy(alg, name, nlen);
    alg[nlen] = '\0';
    if (!sshbpp_key_can_sign(k, alg))
        return SSHBPP_ESIGNATURE;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__key_blob(k, &b)) == 0)
        r = sshbpp__hostkey_verify(alg, b.p, b.len, data, len, sig, sig_len);
    sshbpp__wb_free(&b);
    return r == SSHBPP_EHOSTKEY ? SSHBPP_ESIGNATURE : r;
}
