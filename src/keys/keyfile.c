/*
 * keyfile.c: loading a key from a file or memory, whatever its format:
 * OpenSSH's openssh-key-v1 (openssh_key.c), an OpenSSH public line, or
 * anything OpenSSL's decoder reads (traditional PEM "RSA/EC PRIVATE KEY",
 * PKCS#8 "PRIVATE KEY" / "ENCRYPTED PRIVATE KEY", DER), where OpenSSL also
 * decrypts with a passphrase. OpenSSL is never left to prompt on a
 * terminal: without a passphrase an encrypted file is SSHBPP_EKEYPASSPHRASE.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "keys_int.h"

#define OSSH_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define OSSH_END "-----END OPENSSH PRIVATE KEY-----"

/* Like memmem (not in POSIX). */
static const char *
find(const char *p, size_t n, const char *s)
{
    size_t sl = strlen(s), i;

    if (sl == 0 || sl > n)
        return NULL;
    for (i = 0; i + sl <= n; i++)
        if (p[i] == s[0] && memcmp(p + i, s, sl) == 0)
            return p + i;
    return NULL;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The base64 body between the OpenSSH armor lines, decoded. */
static int
openssh_armor(const char *text, size_t n, int want_private, sshbpp_key **out,
              sshbpp_key_diag *diag)
{
    const char *b, *e;
    uint8_t *raw;
    size_t cap;
    long got;
    int r;

    b = find(text, n, OSSH_BEGIN);
    b += strlen(OSSH_BEGIN);
    e = find(b, (size_t)(text + n - b), OSSH_END);
    if (e == NULL)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "no \"%s\" line", OSSH_END);
    cap = (size_t)(e - b) / 4 * 3 + 3;
    if ((raw = malloc(cap)) == NULL)
        return SSHBPP_ENOMEM;
    got = sshbpp__b64_decode_ws(b, (size_t)(e - b), raw, cap);
    if (got < 0) {
        r = got == SSHBPP_ENOMEM ? SSHBPP_ENOMEM
                                 : sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                                                "bad base64 inside the OpenSSH armor");
    } else {
        r = sshbpp__openssh_key_parse(raw, (size_t)got, want_private, out, diag);
    }
    OPENSSL_cleanse(raw, cap);
    free(raw);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_key_parse_public_line(const char *line, size_t len, sshbpp_key **out,
                             sshbpp_key_diag *diag)
{
    const char *p = line, *end, *type, *b64, *com;
    size_t tlen, blen, clen, cap;
    const uint8_t *bt;
    size_t btlen;
    uint8_t *blob = NULL;
    sshbpp__rbuf rb;
    sshbpp_key *k = NULL;
    long got;
    int r;

    if (out == NULL || (line == NULL && len > 0))
        return SSHBPP_EINVAL;
    *out = NULL;
    if (len > SSHBPP_KEYS_MAX_LINE)
        return sshbpp__diag(diag, 1, SSHBPP_EKEYLINELONG, "line of %zu bytes", len);
    end = line + len;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r' || is_space(end[-1])))
        end--;
    while (p < end && is_space(*p))
        p++;
    type = p;
    while (p < end && !is_space(*p))
        p++;
    tlen = (size_t)(p - type);
    while (p < end && is_space(*p))
        p++;
    b64 = p;
    while (p < end && !is_space(*p))
        p++;
    blen = (size_t)(p - b64);
    while (p < end && is_space(*p))
        p++;
    com = p;
    clen = (size_t)(end - p);
    if (tlen == 0 || blen == 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "not \"keytype base64 [comment]\"");
    if (!sshbpp__key_type_known((const uint8_t *)type, tlen))
        return sshbpp__diag(diag, 0, SSHBPP_EKEYTYPE, "key type \"%.*s\" is not supported",
                            (int)(tlen < 40 ? tlen : 40), type);
    cap = blen / 4 * 3 + 3;
    if ((blob = malloc(cap)) == NULL)
        return SSHBPP_ENOMEM;
    if ((got = sshbpp__b64_decode(b64, blen, blob, cap)) < 0) {
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "bad base64 in the key field");
        goto out;
    }
    sshbpp__rb_init(&rb, blob, (size_t)got);
    if (sshbpp__rb_string(&rb, &bt, &btlen) != 0 || btlen != tlen || memcmp(bt, type, tlen) != 0) {
        r = sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "key blob type differs from \"%.*s\"",
                         (int)(tlen < 40 ? tlen : 40), type);
        goto out;
    }
    if ((r = sshbpp_key_from_blob(blob, (size_t)got, &k)) != 0) {
        r = sshbpp__diag(diag, 0, r, r == SSHBPP_EKEYTYPE ? "key size not supported"
                                                          : "key blob lengths are wrong");
        goto out;
    }
    if (clen > 0) {
        if ((k->comment = malloc(clen + 1)) == NULL) {
            r = SSHBPP_ENOMEM;
            goto out;
        }
        memcpy(k->comment, com, clen);
        k->comment[clen] = '\0';
    }
    *out = k;
    k = NULL;
    r = 0;
out:
    sshbpp_key_free(k);
    free(blob);
    return r;
}

/* The first line that is not blank or a # comment, as a public line. */
static int
public_text(const char *text, size_t n, sshbpp_key **out, sshbpp_key_diag *diag)
{
    sshbpp__lines l;
    const char *line;
    size_t len, i;
    int r;

    sshbpp__lines_init(&l, text, n);
    while ((r = sshbpp__lines_next(&l, &line, &len, diag)) == 1) {
        for (i = 0; i < len && is_space(line[i]); i++)
            ;
        if (i == len || line[i] == '#')
            continue;
        r = sshbpp_key_parse_public_line(line, len, out, diag);
        if (r != 0 && diag != NULL)
            diag->line = l.lineno;
        return r;
    }
    return r == 0 ? sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "no key in the file") : r;
}

/* 1 if the text starts (after blank space and '#' comment lines, which
 * public_text() skips too) with a supported key type name followed by a
 * blank: a public line, not PEM. */
static int
looks_public(const char *text, size_t n)
{
    size_t i = 0, s;

    for (;;) {
        while (i < n && (is_space(text[i]) || text[i] == '\n' || text[i] == '\r'))
            i++;
        if (i == n || text[i] != '#')
            break;
        while (i < n && text[i] != '\n')
            i++;
    }
    s = i;
    while (i < n && !is_space(text[i]) && text[i] != '\n')
        i++;
    return i < n && is_space(text[i]) && sshbpp__key_type_known((const uint8_t *)text + s, i - s);
}

/* The passphrase as OpenSSL asks for it. That it asked at all says the
 * key is encrypted, which for DER (no "ENCRYPTED" text to find) nothing
 * else tells. */
struct pass_ask {
    const char *pass; /* NULL: none given */
    int asked;
};

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
    struct pass_ask *pa = u;
    size_t n;

    (void)rwflag;
    pa->asked = 1;
    if (pa->pass == NULL || size <= 0 || (n = strlen(pa->pass)) > (size_t)size)
        return -1;
    memcpy(buf, pa->pass, n);
    return (int)n;
}

/* Anything OpenSSL decodes as a private key. */
static int
openssl_private(const uint8_t *data, size_t n, const char *pass, sshbpp_key **out,
                sshbpp_key_diag *diag)
{
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *pkey = NULL;
    const unsigned char *cur = data;
    size_t left = n;
    const char *text = (const char *)data;
    struct pass_ask pa;
    int encrypted, format, r;

    encrypted = find(text, n, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
                find(text, n, "Proc-Type: 4,ENCRYPTED") != NULL;
    format = find(text, n, "-----BEGIN RSA PRIVATE KEY-----") != NULL ||
                     find(text, n, "-----BEGIN EC PRIVATE KEY-----") != NULL
                 ? SSHBPP_KEYFMT_PEM
                 : SSHBPP_KEYFMT_PKCS8;
    if (encrypted && pass == NULL)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYPASSPHRASE,
                            "the key is encrypted: a passphrase is needed");
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
    if (dctx == NULL)
        return SSHBPP_ECRYPTO;
    pa.pass = pass;
    pa.asked = 0;
    if (OSSL_DECODER_CTX_set_pem_password_cb(dctx, pass_cb, &pa) != 1) {
        OSSL_DECODER_CTX_free(dctx);
        return SSHBPP_ECRYPTO;
    }
    if (OSSL_DECODER_from_data(dctx, &cur, &left) != 1 || pkey == NULL) {
        OSSL_DECODER_CTX_free(dctx);
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        if (pa.asked && pass == NULL)
            return sshbpp__diag(diag, 0, SSHBPP_EKEYPASSPHRASE,
                                "the key is encrypted: a passphrase is needed");
        if (encrypted || pa.asked)
            return sshbpp__diag(diag, 0, SSHBPP_EKEYBADPASS,
                                "the passphrase does not decrypt the key");
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE,
                            "not an OpenSSH, PEM or PKCS#8 private key or a public key line");
    }
    OSSL_DECODER_CTX_free(dctx);
    if ((r = sshbpp__key_from_pkey(pkey, 1, format, out)) != 0) {
        EVP_PKEY_free(pkey);
        return sshbpp__diag(diag, 0, r,
                            "not ed25519, ECDSA P-256/384/521 or RSA of 2048..16384 bits");
    }
    return 0;
}

static int
load_mem(const uint8_t *data, size_t len, const char *pass, int want_private, sshbpp_key **out,
         sshbpp_key_diag *diag)
{
    const char *text = (const char *)data;

    if (out == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    *out = NULL;
    if (diag != NULL) {
        diag->line = 0;
        diag->msg[0] = '\0';
    }
    if (len == 0)
        return sshbpp__diag(diag, 0, SSHBPP_EKEYFILE, "empty file");
    if (find(text, len, OSSH_BEGIN) != NULL)
        return openssh_armor(text, len, want_private, out, diag);
    if (looks_public(text, len))
        return public_text(text, len, out, diag);
    return openssl_private(data, len, pass, out, diag);
}

/* see sshbpp_keys.h */
int
sshbpp_key_load_mem(const uint8_t *data, size_t len, const char *passphrase, sshbpp_key **out,
                    sshbpp_key_diag *diag)
{
    return load_mem(data, len, passphrase, 1, out, diag);
}

/* see sshbpp_keys.h */
int
sshbpp_key_load_public_mem(const uint8_t *data, size_t len, sshbpp_key **out,
                           sshbpp_key_diag *diag)
{
    return load_mem(data, len, NULL, 0, out, diag);
}

static int
load_file(const char *path, const char *pass, int want_private, sshbpp_key **out,
          sshbpp_key_diag *diag)
{
    char *data;
    size_t len;
    int r;

    if (path == NULL || out == NULL)
        return SSHBPP_EINVAL;
    *out = NULL;
    if ((r = sshbpp__read_file(path, SSHBPP_KEYS_MAX_FILE, &data, &len, NULL)) != 0)
        return r == SSHBPP_EKEYFILE ? sshbpp__diag(diag, 0, r, "file larger than %u bytes",
                                                   SSHBPP_KEYS_MAX_FILE)
                                    : r;
    r = load_mem((const uint8_t *)data, len, pass, want_private, out, diag);
    sshbpp__free_file(data, len);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_key_load_file(const char *path, const char *passphrase, sshbpp_key **out,
                     sshbpp_key_diag *diag)
{
    return load_file(path, passphrase, 1, out, diag);
}

/* see sshbpp_keys.h */
int
sshbpp_key_load_public_file(const char *path, sshbpp_key **out, sshbpp_key_diag *diag)
{
    return load_file(path, NULL, 0, out, diag);
}
