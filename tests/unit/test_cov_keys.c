/*
 * test_cov_keys.c: the key object and key files at their edges (src/keys/
 * key.c, keyfile.c, openssh_key.c, agent_codec.c). Keys of every type and
 * size we take (ed25519, ECDSA P-256/384/521, RSA 2048) and one we refuse
 * (RSA 1024) come from ssh-keygen at test time; openssh-key-v1 files are
 * then rebuilt from their parts with one field wrong at a time (header
 * cipher/KDF, KDF options, section sizes, each RSA component, ECDSA curve
 * name, point and scalar, ed25519 halves, comment, padding), and each must
 * be refused with its precise code. Also: every public call of the key
 * object with NULL or bad arguments, fingerprint lines against
 * ssh-keygen -l's, signatures of each type and algorithm, and the agent
 * codec's bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "keys/keys_int.h"
#include "sshbpp/sshbpp_keys.h"

static char tmpdir[64];

enum { K_ED, K_E256, K_E384, K_E521, K_RSA, K_RSA1024, K_RSA2047, K_COUNT };
static const char *const kname[K_COUNT] = {"ed",  "e256",    "e384",   "e521",
                                           "rsa", "rsa1024", "rsa2047"};
static const char *const kgen[K_COUNT] = {"-t ed25519",      "-t ecdsa -b 256", "-t ecdsa -b 384",
                                          "-t ecdsa -b 521", "-t rsa -b 2048",  "-t rsa -b 1024",
                                          "-t rsa -b 2047"};
/* The decoded openssh-key-v1 bytes of each, and the loaded key (NULL for
 * the refused RSA 1024 and 2047). */
static uint8_t *raw[K_COUNT];
static size_t raw_len[K_COUNT];
static sshbpp_key *key[K_COUNT];

static void
path_of(int i, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s%s", tmpdir, kname[i], suffix);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int
setup(void **state)
{
    char cmd[512], path[128], *text, *b, *e;
    size_t n;
    long got;
    int i;

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sshbpp-cov-keys-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    for (i = 0; i < K_COUNT; i++) {
        path_of(i, "", path, sizeof(path));
        snprintf(cmd, sizeof(cmd), "ssh-keygen -q %s -N '' -C k%d -f %s", kgen[i], i, path);
        if (system(cmd) != 0)
            return -1;
        text = slurp(path, &n);
        b = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----");
        e = strstr(text, "-----END OPENSSH PRIVATE KEY-----");
        if (b == NULL || e == NULL)
            return -1;
        b += strlen("-----BEGIN OPENSSH PRIVATE KEY-----");
        raw[i] = malloc((size_t)(e - b));
        got = sshbpp__b64_decode_ws(b, (size_t)(e - b), raw[i], (size_t)(e - b));
        if (got <= 0)
            return -1;
        raw_len[i] = (size_t)got;
        free(text);
        /* RSA: the public half only. Loading an RSA private key runs
         * OpenSSL's pairwise check with its prime tests, over 10 s under
         * valgrind; RSA signing is test_keys' and test_hostkey's. */
        if (i == K_RSA) {
            path_of(i, ".pub", path, sizeof(path));
            if (sshbpp_key_load_public_file(path, &key[i], NULL) != 0)
                return -1;
        } else if (i != K_RSA1024 && i != K_RSA2047 &&
                   sshbpp_key_load_file(path, NULL, &key[i], NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];
    int i;

    (void)state;
    for (i = 0; i < K_COUNT; i++) {
        free(raw[i]);
        sshbpp_key_free(key[i]);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- openssh-key-v1 by parts ---------------------------------------------- */

#define MAXF 8

/* One key file's parts: header fields, then the private section's. */
typedef struct parts {
    const uint8_t *cipher, *kdf, *kdfopt, *pub, *type, *f[MAXF], *com;
    size_t clen, klen, olen, publen, tlen, fl[MAXF], comlen;
    uint32_t nkeys, check1, check2;
    int nf;
    int pad;     /* 1: correct padding; 0: none; 9: 9 correct-looking bytes */
    int nocomment;
} parts;

static void
split(int which, parts *p)
{
    sshbpp__rbuf rb, pr;
    const uint8_t *priv;
    size_t privlen;
    int nf = which == K_ED ? 2 : which >= K_RSA ? 6 : 3, i;

    memset(p, 0, sizeof(*p));
    sshbpp__rb_init(&rb, raw[which] + 15, raw_len[which] - 15);
    assert_int_equal(sshbpp__rb_string(&rb, &p->cipher, &p->clen), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &p->kdf, &p->klen), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &p->kdfopt, &p->olen), 0);
    assert_int_equal(sshbpp__rb_u32(&rb, &p->nkeys), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &p->pub, &p->publen), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &priv, &privlen), 0);
    sshbpp__rb_init(&pr, priv, privlen);
    assert_int_equal(sshbpp__rb_u32(&pr, &p->check1), 0);
    assert_int_equal(sshbpp__rb_u32(&pr, &p->check2), 0);
    assert_int_equal(sshbpp__rb_string(&pr, &p->type, &p->tlen), 0);
    for (i = 0; i < nf; i++)
        assert_int_equal(sshbpp__rb_string(&pr, &p->f[i], &p->fl[i]), 0);
    assert_int_equal(sshbpp__rb_string(&pr, &p->com, &p->comlen), 0);
    p->nf = nf;
    p->pad = 1;
}

/* The file's bytes from its parts, armored. */
static char *
join(const parts *p, size_t *len)
{
    sshbpp__wbuf w, s;
    size_t cap;
    char *out;
    int i;

    sshbpp__wb_init(&s);
    sshbpp__wb_u32(&s, p->check1);
    sshbpp__wb_u32(&s, p->check2);
    if (p->type != NULL)
        sshbpp__wb_string(&s, p->type, p->tlen);
    for (i = 0; i < p->nf; i++)
        sshbpp__wb_string(&s, p->f[i], p->fl[i]);
    if (!p->nocomment)
        sshbpp__wb_string(&s, p->com, p->comlen);
    if (p->pad == 1) {
        for (i = 1; s.len % 8 != 0; i++)
            sshbpp__wb_u8(&s, (uint8_t)i);
    } else if (p->pad == 9) {
        for (i = 1; i <= 9 || s.len % 8 != 0; i++)
            sshbpp__wb_u8(&s, (uint8_t)i);
    }
    sshbpp__wb_init(&w);
    sshbpp__wb_raw(&w, "openssh-key-v1", 15);
    sshbpp__wb_string(&w, p->cipher, p->clen);
    sshbpp__wb_string(&w, p->kdf, p->klen);
    sshbpp__wb_string(&w, p->kdfopt, p->olen);
    sshbpp__wb_u32(&w, p->nkeys);
    sshbpp__wb_string(&w, p->pub, p->publen);
    sshbpp__wb_string(&w, s.p, s.len);
    assert_int_equal(w.err, 0);
    assert_int_equal(s.err, 0);
    cap = w.len / 3 * 4 + 200;
    out = malloc(cap);
    assert_non_null(out);
    strcpy(out, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    assert_true(sshbpp__b64_encode(w.p, w.len, out + strlen(out), cap - strlen(out)) > 0);
    strcat(out, "\n-----END OPENSSH PRIVATE KEY-----\n");
    *len = strlen(out);
    sshbpp__wb_free(&w);
    sshbpp__wb_free(&s);
    return out;
}

/* Loads the parts as a private key; the code, and the reason in *why. */
static int
load_parts(const parts *p, sshbpp_key_diag *why)
{
    sshbpp_key *k = NULL;
    size_t len;
    char *text = join(p, &len);
    int r;

    memset(why, 0, sizeof(*why));
    r = sshbpp_key_load_mem((const uint8_t *)text, len, NULL, &k, why);
    if (r == 0) {
        assert_non_null(k);
        assert_true(sshbpp_key_has_private(k));
    } else {
        assert_null(k);
    }
    sshbpp_key_free(k);
    free(text);
    return r;
}

#define EXPECT(p, code, reason)                                                                    \
    do {                                                                                           \
        sshbpp_key_diag d_;                                                                        \
        assert_int_equal(load_parts((p), &d_), (code));                                            \
        if (strstr(d_.msg, (reason)) == NULL)                                                      \
            fail_msg("reason \"%s\" lacks \"%s\"", d_.msg, (reason));                              \
    } while (0)

static void
test_openssh_header(void **state)
{
    static const uint8_t opt[] = "\0\0\0\x10saltsaltsaltsalt\0\0\0\x10";
    parts p;
    sshbpp_key_diag d;

    (void)state;
    split(K_ED, &p);
    EXPECT(&p, 0, "");

    /* KDF options without a KDF. */
    p.kdfopt = opt;
    p.olen = sizeof(opt) - 1;
    EXPECT(&p, SSHBPP_EKEYFILE, "KDF options present without a KDF");
    split(K_ED, &p);
    /* bcrypt with cipher "none" is still bcrypt; another KDF or a cipher
     * without a KDF is unknown. */
    p.kdf = (const uint8_t *)"bcrypt";
    p.klen = 6;
    EXPECT(&p, SSHBPP_EKEYBCRYPT, "bcrypt");
    p.kdf = (const uint8_t *)"scrypt";
    EXPECT(&p, SSHBPP_EKEYFILE, "unknown cipher or KDF");
    /* A long cipher name is cut in the reason. */
    p.kdf = (const uint8_t *)"bcrypt";
    p.cipher = (const uint8_t *)"aes256-ctr-with-a-name-much-longer-than-forty-bytes";
    p.clen = strlen((const char *)p.cipher);
    EXPECT(&p, SSHBPP_EKEYBCRYPT, "encrypted with aes256-ctr-with-a-name-much-longer-than- and bcrypt");
    split(K_ED, &p);
    p.cipher = (const uint8_t *)"aes256-ctr";
    p.clen = 10;
    EXPECT(&p, SSHBPP_EKEYFILE, "unknown cipher or KDF");
    /* The public half of such a file still loads: only the header counts. */
    {
        sshbpp_key *k = NULL;
        size_t len;
        char *text = join(&p, &len);

        assert_int_equal(sshbpp_key_load_public_mem((const uint8_t *)text, len, &k, &d), 0);
        assert_true(sshbpp_key_equal(k, key[K_ED]));
        assert_false(sshbpp_key_has_private(k));
        assert_int_equal(sshbpp_key_format(k), SSHBPP_KEYFMT_OPENSSH);
        sshbpp_key_free(k);
        free(text);
    }

    /* A private section of only the check-ints, and an empty one. */
    split(K_ED, &p);
    p.type = NULL;
    p.nf = 0;
    p.nocomment = 1;
    p.pad = 0;
    EXPECT(&p, SSHBPP_EKEYFILE, "private key type truncated");
    p.check1 = 1;
    p.check2 = 2;
    EXPECT(&p, SSHBPP_EKEYFILE, "check-int mismatch (00000001 != 00000002)");
    /* A key type we do not load. */
    split(K_ED, &p);
    p.type = (const uint8_t *)"ssh-dss";
    p.tlen = 7;
    EXPECT(&p, SSHBPP_EKEYTYPE, "key type \"ssh-dss\" is not supported");
    p.type = (const uint8_t *)"ecdsa-";
    p.tlen = 6;
    EXPECT(&p, SSHBPP_EKEYTYPE, "key type \"ecdsa-\" is not supported");
    p.type = (const uint8_t *)"sk-ssh-ed25519@openssh.com-and-more-than-forty";
    p.tlen = strlen((const char *)p.type);
    EXPECT(&p, SSHBPP_EKEYTYPE, "key type \"sk-ssh-ed25519@openssh.com-and-more-than\" is");
    /* The header's public key is of another type (another length) than
     * the private one. */
    split(K_ED, &p);
    {
        parts e;

        split(K_E256, &e);
        p.pub = e.pub;
        p.publen = e.publen;
        EXPECT(&p, SSHBPP_EKEYFILE, "public key in the header does not match the private key");
    }
    /* A header public key that does not parse: the public-only load says
     * so; the private load does not get that far for a clear key either. */
    split(K_ED, &p);
    p.publen = 10;
    {
        sshbpp_key *k = NULL;
        size_t len;
        char *text = join(&p, &len);

        assert_int_equal(sshbpp_key_load_public_mem((const uint8_t *)text, len, &k, &d),
                         SSHBPP_EKEYFILE);
        assert_string_equal(d.msg, "public key blob in the header does not parse");
        assert_null(k);
        free(text);
    }
    EXPECT(&p, SSHBPP_EKEYFILE, "public key in the header does not match the private key");
    /* No comment, and padding of a block or more. */
    split(K_ED, &p);
    p.nocomment = 1;
    EXPECT(&p, SSHBPP_EKEYFILE, "comment truncated");
    split(K_ED, &p);
    p.pad = 9;
    EXPECT(&p, SSHBPP_EKEYFILE, "more than padding");
}

static void
test_openssh_empty_section(void **state)
{
    parts p;
    sshbpp_key_diag d;
    sshbpp__wbuf w;
    size_t cap;
    char *out;
    sshbpp_key *k = NULL;

    (void)state;
    /* A private section of 0 bytes: built by hand, the parts builder
     * always writes the check-ints. */
    split(K_ED, &p);
    sshbpp__wb_init(&w);
    sshbpp__wb_raw(&w, "openssh-key-v1", 15);
    sshbpp__wb_cstring(&w, "none");
    sshbpp__wb_cstring(&w, "none");
    sshbpp__wb_string(&w, "", 0);
    sshbpp__wb_u32(&w, 1);
    sshbpp__wb_string(&w, p.pub, p.publen);
    sshbpp__wb_string(&w, "", 0);
    cap = w.len / 3 * 4 + 200;
    out = malloc(cap);
    assert_non_null(out);
    strcpy(out, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    assert_true(sshbpp__b64_encode(w.p, w.len, out + strlen(out), cap - strlen(out)) > 0);
    strcat(out, "\n-----END OPENSSH PRIVATE KEY-----\n");
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)out, strlen(out), NULL, &k, &d),
                     SSHBPP_EKEYFILE);
    assert_non_null(strstr(d.msg, "private section of 0 bytes"));
    assert_null(k);
    free(out);
    sshbpp__wb_free(&w);
}

static void
test_openssh_ed25519_fields(void **state)
{
    uint8_t sk[64], pk[32];
    parts p, q;

    (void)state;
    split(K_ED, &p);
    assert_int_equal(p.fl[0], 32);
    assert_int_equal(p.fl[1], 64);
    p.fl[0] = 31;
    EXPECT(&p, SSHBPP_EKEYFILE, "ed25519 key lengths 31/64, not 32/64");
    p.fl[0] = 32;
    p.fl[1] = 63;
    EXPECT(&p, SSHBPP_EKEYFILE, "ed25519 key lengths 32/63");
    /* The two copies of the public key differ. */
    split(K_ED, &p);
    memcpy(sk, p.f[1], 64);
    sk[63] ^= 1;
    p.f[1] = sk;
    EXPECT(&p, SSHBPP_EKEYFILE, "ed25519 public key copies differ");
    /* Both copies agree, with another key's public half (the header is
     * that key's too): the seed does not give it. */
    split(K_ED, &p);
    memset(pk, 0, sizeof(pk));
    memcpy(pk, p.f[0], 32);
    pk[0] ^= 0x40;
    memcpy(sk, p.f[1], 32);
    memcpy(sk + 32, pk, 32);
    p.f[0] = pk;
    p.f[1] = sk;
    EXPECT(&p, SSHBPP_EKEYFILE, "does not belong to the private key");
    /* Truncated: only the public key. */
    split(K_ED, &q);
    q.nf = 1;
    q.nocomment = 1;
    EXPECT(&q, SSHBPP_EKEYFILE, "ed25519 private key truncated");
}

static void
test_openssh_ecdsa_fields(void **state)
{
    uint8_t q[200], d[100];
    parts p, other;

    (void)state;
    /* (Each curve's file loads: setup.) Rebuilt from its parts, P-256
     * still loads: the parts builder is faithful. */
    split(K_E256, &p);
    EXPECT(&p, 0, "");
    /* The type says a curve we do not have. */
    p.type = (const uint8_t *)"ecdsa-sha2-nistp999";
    EXPECT(&p, SSHBPP_EKEYTYPE, "key type \"ecdsa-sha2-nistp999\" is not supported");
    /* The curve name disagrees with the type. */
    split(K_E256, &p);
    p.f[0] = (const uint8_t *)"nistp384";
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA curve name does not match key type");
    /* The point: not uncompressed, or of the wrong length. */
    split(K_E256, &p);
    assert_int_equal(p.fl[1], 65);
    memcpy(q, p.f[1], 65);
    q[0] = 0x02;
    p.f[1] = q;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA public point has length 65");
    q[0] = 0x04;
    p.fl[1] = 64;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA public point has length 64");
    /* The scalar: zero, or longer than the field. */
    split(K_E256, &p);
    p.fl[2] = 0;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA private scalar has length 0");
    memset(d, 0x55, sizeof(d));
    d[0] = 0x01;
    p.f[2] = d;
    p.fl[2] = 33;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA private scalar has length 33");
    /* A negative scalar (high bit set, no sign byte) is malformed. */
    d[0] = 0x81;
    p.fl[2] = 32;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA private key truncated or malformed");
    /* Truncated before and after the curve name. */
    split(K_E256, &p);
    p.nf = 0;
    p.nocomment = 1;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA private key truncated or malformed");
    split(K_E256, &p);
    p.nf = 1;
    p.nocomment = 1;
    EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA private key truncated or malformed");
    /* A valid point of another key of the curve with this scalar. */
    {
        char path[128], cmd[256];
        size_t n;
        char *text, *b, *e;
        uint8_t *oraw;
        long got;

        snprintf(path, sizeof(path), "%s/other256", tmpdir);
        snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ecdsa -b 256 -N '' -f %s", path);
        assert_int_equal(system(cmd), 0);
        text = slurp(path, &n);
        b = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----") + 35;
        e = strstr(text, "-----END OPENSSH PRIVATE KEY-----");
        oraw = malloc((size_t)(e - b));
        got = sshbpp__b64_decode_ws(b, (size_t)(e - b), oraw, (size_t)(e - b));
        assert_true(got > 0);
        {
            uint8_t *save = raw[K_E256];
            size_t save_len = raw_len[K_E256];

            raw[K_E256] = oraw;
            raw_len[K_E256] = (size_t)got;
            split(K_E256, &other);
            raw[K_E256] = save;
            raw_len[K_E256] = save_len;
        }
        split(K_E256, &p);
        memcpy(q, other.f[1], 65);
        p.f[1] = q;
        EXPECT(&p, SSHBPP_EKEYFILE, "ECDSA public point does not belong to the private scalar");
        free(oraw);
        free(text);
    }
}

static void
test_openssh_rsa_fields(void **state)
{
    static uint8_t big[2049], longer[300];
    parts p;
    int i;

    (void)state;
    /* A load that gets as far as OpenSSL costs its pairwise check of the
     * primes, over 10 s under valgrind: only the 2047-bit case below goes
     * that far (inconsistent components are test_hardening's). Each
     * component zero (an empty mpint). */
    for (i = 0; i < 6; i++) {
        split(K_RSA, &p);
        p.fl[i] = 0;
        EXPECT(&p, SSHBPP_EKEYFILE, "RSA key component of bad length");
    }
    /* Each of e, d, iqmp, p, q longer than n. */
    split(K_RSA, &p);
    assert_int_equal(p.fl[0], 257); /* sign byte + 2048 bits */
    memset(longer, 0x33, sizeof(longer));
    longer[0] = 0x01;
    for (i = 1; i < 6; i++) {
        split(K_RSA, &p);
        p.f[i] = longer;
        p.fl[i] = 257;
        EXPECT(&p, SSHBPP_EKEYFILE, "RSA key component of bad length");
    }
    /* n above 16384 bits. */
    split(K_RSA, &p);
    memset(big, 0x77, sizeof(big));
    big[0] = 0x01;
    p.f[0] = big;
    p.fl[0] = sizeof(big);
    EXPECT(&p, SSHBPP_EKEYFILE, "RSA key component of bad length");
    /* Truncated after three components. */
    split(K_RSA, &p);
    p.nf = 3;
    p.nocomment = 1;
    EXPECT(&p, SSHBPP_EKEYFILE, "RSA private key truncated or malformed");
    /* 2047 bits: 256 bytes of modulus, so it parses, but the key is below
     * the 2048 bits we take. */
    split(K_RSA2047, &p);
    assert_int_equal(p.fl[0], 256);
    EXPECT(&p, SSHBPP_EKEYTYPE, "key type or size not supported");
    /* 1024 bits: well-formed, but a size we do not use. */
    split(K_RSA1024, &p);
    EXPECT(&p, SSHBPP_EKEYTYPE, "key type \"ssh-rsa\" is not supported");
    {
        char path[128];
        sshbpp_key *k = NULL;
        sshbpp_key_diag d;

        path_of(K_RSA1024, "", path, sizeof(path));
        assert_int_equal(sshbpp_key_load_file(path, NULL, &k, &d), SSHBPP_EKEYTYPE);
        assert_null(k);
        path_of(K_RSA1024, ".pub", path, sizeof(path));
        assert_int_equal(sshbpp_key_load_public_file(path, &k, &d), SSHBPP_EKEYTYPE);
        assert_non_null(strstr(d.msg, "key size not supported"));
        assert_null(k);
    }
}

/* ---- the key object's API --------------------------------------------------- */

static void
test_key_api_contract(void **state)
{
    uint8_t blob[2048], sig[1200];
    char line[2048], fp[128];
    size_t len = 0, slen = 0;
    sshbpp_key *k = NULL, *pub = NULL;

    (void)state;
    memset(blob, 0, sizeof(blob));
    assert_int_equal(sshbpp_key_from_blob(blob, 1, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_from_blob(NULL, 1, &k), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_from_blob(NULL, 0, &k), SSHBPP_EKEYFILE);
    assert_null(k);
    assert_int_equal(sshbpp_key_has_private(NULL), 0);
    assert_int_equal((int)sshbpp_key_type(NULL), 0);
    assert_int_equal((int)sshbpp_key_format(NULL), 0);
    assert_null(sshbpp_key_type_name(NULL));
    assert_int_equal(sshbpp_key_bits(NULL), 0);
    assert_null(sshbpp_key_comment(NULL));
    assert_int_equal(sshbpp_key_set_comment(NULL, "x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_equal(NULL, key[K_ED]), 0);
    assert_int_equal(sshbpp_key_equal(key[K_ED], NULL), 0);
    assert_int_equal(sshbpp_key_equal(key[K_ED], key[K_E256]), 0);
    assert_null(sshbpp_key_sig_alg(NULL, NULL));
    assert_int_equal(sshbpp_key_can_sign(NULL, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp_key_can_sign(key[K_ED], NULL), 0);

    /* public_blob: arguments, a size query, too small a buffer. */
    assert_int_equal(sshbpp_key_public_blob(NULL, blob, sizeof(blob), &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_public_blob(key[K_ED], blob, sizeof(blob), NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_public_blob(key[K_ED], NULL, 10, &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_public_blob(key[K_E384], NULL, 0, &len), 0);
    assert_int_equal(len, 4 + 19 + 4 + 8 + 4 + 97);
    assert_int_equal(sshbpp_key_public_blob(key[K_E384], blob, len - 1, &len), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_key_public_blob(key[K_E384], blob, len, &len), 0);
    assert_int_equal(sshbpp_key_from_blob(blob, len, &pub), 0);
    assert_true(sshbpp_key_equal(pub, key[K_E384]));
    assert_false(sshbpp_key_has_private(pub));
    assert_int_equal(sshbpp_key_format(pub), SSHBPP_KEYFMT_PUBLIC);
    assert_null(sshbpp_key_comment(pub));

    /* public_line: arguments, sizes, comments set and cleared. */
    assert_int_equal(sshbpp_key_public_line(NULL, line, sizeof(line)), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_public_line(pub, NULL, sizeof(line)), SSHBPP_EINVAL);
    {
        int n = sshbpp_key_public_line(pub, line, sizeof(line));

        assert_true(n > 0);
        assert_int_equal(strlen(line), (size_t)n);
        assert_int_equal(strncmp(line, "ecdsa-sha2-nistp384 AAAA", 24), 0);
        assert_int_equal(sshbpp_key_public_line(pub, line, (size_t)n), SSHBPP_EBUFSMALL);
        assert_int_equal(sshbpp_key_public_line(pub, line, (size_t)n + 1), n);
        assert_int_equal(sshbpp_key_set_comment(pub, "a comment"), 0);
        assert_string_equal(sshbpp_key_comment(pub), "a comment");
        assert_int_equal(sshbpp_key_public_line(pub, line, sizeof(line)), n + 10);
        assert_string_equal(line + n, " a comment");
        assert_int_equal(sshbpp_key_public_line(pub, line, (size_t)n + 10), SSHBPP_EBUFSMALL);
        assert_int_equal(sshbpp_key_set_comment(pub, ""), 0);
        assert_int_equal(sshbpp_key_public_line(pub, line, sizeof(line)), n);
        assert_int_equal(sshbpp_key_set_comment(pub, NULL), 0);
        assert_null(sshbpp_key_comment(pub));
        assert_int_equal(sshbpp_key_public_line(pub, line, sizeof(line)), n);
    }

    /* Fingerprints: arguments, a hash we do not have, sizes. */
    assert_int_equal(sshbpp_blob_fingerprint(NULL, 3, SSHBPP_FP_SHA256, fp, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_blob_fingerprint(blob, len, SSHBPP_FP_SHA256, NULL, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_blob_fingerprint(blob, len, (enum sshbpp_fp_hash)7, fp, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_blob_fingerprint(blob, len, SSHBPP_FP_SHA256, fp, 50),
                     SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_blob_fingerprint(blob, len, SSHBPP_FP_SHA256, fp, 51), 50);
    assert_int_equal(sshbpp_blob_fingerprint(blob, len, SSHBPP_FP_MD5, fp, 51), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_blob_fingerprint(blob, len, SSHBPP_FP_MD5, fp, 52), 51);
    {
        /* The MD5 form against a digest computed here. */
        uint8_t md[16];
        unsigned mdlen = 0, i;
        char want[64];

        assert_int_equal(EVP_Digest(blob, len, md, &mdlen, EVP_md5(), NULL), 1);
        strcpy(want, "MD5:");
        for (i = 0; i < 16; i++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), i ? ":%02x" : "%02x",
                     md[i]);
        assert_string_equal(fp, want);
    }
    assert_int_equal(sshbpp_key_fingerprint(NULL, SSHBPP_FP_SHA256, fp, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_fingerprint(pub, SSHBPP_FP_SHA256, NULL, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_fingerprint_line(NULL, SSHBPP_FP_SHA256, NULL, fp, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_fingerprint_line(pub, SSHBPP_FP_SHA256, NULL, NULL, sizeof(fp)),
                     SSHBPP_EINVAL);
    assert_int_equal(
        sshbpp_key_fingerprint_line(pub, (enum sshbpp_fp_hash)9, NULL, fp, sizeof(fp)),
        SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_fingerprint_line(pub, SSHBPP_FP_SHA256, NULL, fp, 20),
                     SSHBPP_EBUFSMALL);
    {
        int n = sshbpp_key_fingerprint_line(pub, SSHBPP_FP_SHA256, NULL, fp, sizeof(fp));

        assert_true(n > 0);
        assert_int_equal(strncmp(fp, "384 SHA256:", 11), 0);
        assert_string_equal(fp + n - 19, " no comment (ECDSA)");
        assert_int_equal(sshbpp_key_fingerprint_line(pub, SSHBPP_FP_SHA256, NULL, fp, (size_t)n),
                         SSHBPP_EBUFSMALL);
    }

    /* Signing: arguments, a public-only key, an algorithm of another
     * type, too small a buffer. */
    k = key[K_E384];
    assert_int_equal(sshbpp_key_sign(NULL, "ecdsa-sha2-nistp384", blob, 4, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(k, NULL, blob, 4, sig, sizeof(sig), &slen), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(k, "ecdsa-sha2-nistp384", NULL, 4, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(k, "ecdsa-sha2-nistp384", blob, 4, NULL, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(k, "ecdsa-sha2-nistp384", blob, 4, sig, sizeof(sig), NULL),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(pub, "ecdsa-sha2-nistp384", blob, 4, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(k, "ecdsa-sha2-nistp256", blob, 4, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_sign(k, "ecdsa-sha2-nistp384", blob, 4, sig, 20, &slen),
                     SSHBPP_EBUFSMALL);
    /* No data is fine: an empty message. */
    assert_int_equal(sshbpp_key_sign(k, "ecdsa-sha2-nistp384", NULL, 0, sig, sizeof(sig), &slen),
                     0);
    assert_int_equal(sshbpp_key_verify(pub, NULL, 0, sig, slen), 0);

    /* verify: arguments, and signature blobs that are not ours. */
    assert_int_equal(sshbpp_key_verify(NULL, blob, 4, sig, slen), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_verify(pub, blob, 4, NULL, 3), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_verify(pub, NULL, 4, sig, slen), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_verify(pub, blob, 4, sig, 3), SSHBPP_ESIGNATURE);
    assert_int_equal(sshbpp_key_verify(pub, blob, 4, NULL, 0), SSHBPP_ESIGNATURE);
    {
        sshbpp__wbuf w;

        /* An algorithm name of 32 bytes or more, and one of another type. */
        sshbpp__wb_init(&w);
        sshbpp__wb_cstring(&w, "ecdsa-sha2-nistp384-but-much-longer");
        sshbpp__wb_string(&w, "x", 1);
        assert_int_equal(sshbpp_key_verify(pub, blob, 4, w.p, w.len), SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-ed25519");
        sshbpp__wb_string(&w, sig, 64);
        assert_int_equal(sshbpp_key_verify(pub, blob, 4, w.p, w.len), SSHBPP_ESIGNATURE);
        sshbpp__wb_free(&w);
    }
    sshbpp_key_free(pub);
}

/* Each key type's fingerprint line is ssh-keygen -l's, and each signature
 * algorithm signs and verifies (and fails on other data). */
static void
test_key_types(void **state)
{
    static const struct {
        int k;
        const char *alg, *name;
        int bits, type, priv;
    } tab[] = {
        {K_ED, "ssh-ed25519", "ssh-ed25519", 256, SSHBPP_KEY_ED25519, 1},
        {K_E256, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", 256, SSHBPP_KEY_ECDSA, 1},
        {K_E384, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", 384, SSHBPP_KEY_ECDSA, 1},
        {K_E521, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521", 521, SSHBPP_KEY_ECDSA, 1},
        {K_RSA, "rsa-sha2-256", "ssh-rsa", 2048, SSHBPP_KEY_RSA, 0},
        {K_RSA, "rsa-sha2-512", "ssh-rsa", 2048, SSHBPP_KEY_RSA, 0},
    };
    static const uint8_t data[] = "the data to sign";
    uint8_t sig[1200];
    size_t slen, i;
    char cmd[256], path[128], mine[256], theirs[256];

    (void)state;
    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        sshbpp_key *k = key[tab[i].k];
        FILE *f;

        assert_string_equal(sshbpp_key_type_name(k), tab[i].name);
        assert_int_equal(sshbpp_key_bits(k), tab[i].bits);
        assert_int_equal((int)sshbpp_key_type(k), tab[i].type);
        assert_int_equal(sshbpp_key_format(k),
                         tab[i].priv ? SSHBPP_KEYFMT_OPENSSH : SSHBPP_KEYFMT_PUBLIC);
        assert_int_equal(sshbpp_key_has_private(k), tab[i].priv);
        assert_true(sshbpp_key_can_sign(k, tab[i].alg));
        if (tab[i].priv) {
            assert_int_equal(sshbpp_key_sign_cb(k, tab[i].alg, data, sizeof(data), sig,
                                                sizeof(sig), &slen),
                             0);
            assert_int_equal(sshbpp_key_verify(k, data, sizeof(data), sig, slen), 0);
            assert_int_equal(sshbpp_key_verify(k, data, sizeof(data) - 1, sig, slen),
                             SSHBPP_ESIGNATURE);
        } else {
            /* Public only: cannot sign, even with its own algorithm. */
            assert_int_equal(sshbpp_key_sign_cb(k, tab[i].alg, data, sizeof(data), sig,
                                                sizeof(sig), &slen),
                             SSHBPP_EINVAL);
        }

        /* ssh-keygen -l on the .pub, with the comment from the file. */
        path_of(tab[i].k, ".pub", path, sizeof(path));
        snprintf(cmd, sizeof(cmd), "ssh-keygen -l -f %s", path);
        f = popen(cmd, "r");
        assert_non_null(f);
        assert_non_null(fgets(theirs, sizeof(theirs), f));
        assert_int_equal(pclose(f), 0);
        theirs[strcspn(theirs, "\n")] = '\0';
        assert_true(sshbpp_key_fingerprint_line(k, SSHBPP_FP_SHA256, sshbpp_key_comment(k), mine,
                                                sizeof(mine)) > 0);
        assert_string_equal(mine, theirs);
    }
    /* RSA's signature algorithm follows server-sig-algs; the others are
     * their type names; ssh-rsa (SHA-1) is never one we sign with. */
    assert_string_equal(sshbpp_key_sig_alg(key[K_RSA], NULL), "rsa-sha2-256");
    assert_string_equal(sshbpp_key_sig_alg(key[K_RSA], "ssh-rsa,rsa-sha2-256"), "rsa-sha2-256");
    assert_string_equal(sshbpp_key_sig_alg(key[K_RSA], "ssh-ed25519,rsa-sha2-512"),
                        "rsa-sha2-512");
    assert_string_equal(sshbpp_key_sig_alg(key[K_E521], "rsa-sha2-512"), "ecdsa-sha2-nistp521");
    assert_false(sshbpp_key_can_sign(key[K_RSA], "ssh-rsa"));
    assert_false(sshbpp_key_can_sign(key[K_E256], "ssh-ed25519"));
    /* An ECDSA signature relabelled as another curve's is refused before
     * any crypto: not this key's algorithm. */
    assert_int_equal(sshbpp_key_sign(key[K_E521], "ecdsa-sha2-nistp521", data, sizeof(data), sig,
                                     sizeof(sig), &slen),
                     0);
    memcpy(sig + 4, "ecdsa-sha2-nistp384", 19);
    assert_int_equal(sshbpp_key_verify(key[K_E521], data, sizeof(data), sig, slen),
                     SSHBPP_ESIGNATURE);
    /* An RSA signature blob against the public RSA key: SHA-2 names only. */
    {
        sshbpp__wbuf w;

        memset(sig, 0x5a, 256);
        sshbpp__wb_init(&w);
        sshbpp__wb_cstring(&w, "ssh-rsa");
        sshbpp__wb_string(&w, sig, 256);
        assert_int_equal(sshbpp_key_verify(key[K_RSA], data, sizeof(data), w.p, w.len),
                         SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "rsa-sha2-512");
        sshbpp__wb_string(&w, sig, 256);
        assert_int_equal(sshbpp_key_verify(key[K_RSA], data, sizeof(data), w.p, w.len),
                         SSHBPP_ESIGNATURE);
        sshbpp__wb_free(&w);
    }
}

/* ---- key files: arguments and the public-line paths ------------------------ */

static void
test_keyfile_edges(void **state)
{
    static char longline[SSHBPP_KEYS_MAX_LINE + 10];
    char line[2048], text[4096], path[128];
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;
    int n;

    (void)state;
    assert_int_equal(sshbpp_key_load_file(NULL, NULL, &k, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_load_file("/x", NULL, NULL, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_load_public_file(NULL, &k, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_load_mem(NULL, 5, NULL, &k, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)"x", 1, NULL, NULL, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_load_public_mem(NULL, 5, &k, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_parse_public_line("x", 1, NULL, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_key_parse_public_line(NULL, 1, &k, &d), SSHBPP_EINVAL);
    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, &d), SSHBPP_EIO);
    assert_int_equal(sshbpp_key_load_public_file(tmpdir, &k, &d), SSHBPP_EIO);
    assert_null(k);
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)"", 0, NULL, &k, &d), SSHBPP_EKEYFILE);
    assert_string_equal(d.msg, "empty file");

    /* A public line longer than the limit. */
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "ssh-ed25519 ", 12);
    memset(&d, 0, sizeof(d));
    assert_int_equal(sshbpp_key_parse_public_line(longline, sizeof(longline), &k, &d),
                     SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 1);
    assert_null(k);

    /* A public key file with blank and comment lines before the key, and
     * blanks, CR LF and a comment around it. */
    n = sshbpp_key_public_line(key[K_E256], line, sizeof(line));
    assert_true(n > 0);
    snprintf(text, sizeof(text), "\n  \t\n# a comment\n\t%s   my key \r\n", line);
    assert_int_equal(sshbpp_key_load_public_mem((const uint8_t *)text, strlen(text), &k, &d), 0);
    assert_true(sshbpp_key_equal(k, key[K_E256]));
    assert_string_equal(sshbpp_key_comment(k), "k1   my key");
    assert_int_equal(sshbpp_key_format(k), SSHBPP_KEYFMT_PUBLIC);
    sshbpp_key_free(k);
    k = NULL;
    /* The same key through load_mem (private wanted): the public half. */
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)text, strlen(text), NULL, &k, &d), 0);
    assert_false(sshbpp_key_has_private(k));
    sshbpp_key_free(k);
    k = NULL;
    /* A bad key after comment lines: the line number is the key's. */
    snprintf(text, sizeof(text), "# c\n\nssh-ed25519 AAAA!!!!\n");
    assert_int_equal(sshbpp_key_load_public_mem((const uint8_t *)text, strlen(text), &k, &d),
                     SSHBPP_EKEYFILE);
    assert_int_equal(d.line, 3);
    assert_string_equal(d.msg, "bad base64 in the key field");
    /* A type field that the blob contradicts. */
    snprintf(text, sizeof(text), "ecdsa-sha2-nistp384 %s", line + strlen("ecdsa-sha2-nistp256 "));
    assert_int_equal(sshbpp_key_parse_public_line(text, strlen(text), &k, &d), SSHBPP_EKEYFILE);
    assert_non_null(strstr(d.msg, "key blob type differs"));
    /* A type we do not take, and a type with no key. */
    assert_int_equal(sshbpp_key_parse_public_line("ssh-dss AAAAB3NzaC1kc3M=", 24, &k, &d),
                     SSHBPP_EKEYTYPE);
    assert_int_equal(sshbpp_key_parse_public_line("ssh-ed25519   \n", 15, &k, &d),
                     SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp_key_parse_public_line("", 0, &k, &d), SSHBPP_EKEYFILE);
    /* A blob of the right type whose key fields are wrong. */
    assert_int_equal(
        sshbpp_key_parse_public_line("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQA=", 40, &k, &d),
        SSHBPP_EKEYFILE);
    assert_string_equal(d.msg, "key blob lengths are wrong");
    assert_null(k);
    /* Only comments. */
    assert_int_equal(sshbpp_key_load_public_mem((const uint8_t *)"# x\n# y\n", 8, &k, &d),
                     SSHBPP_EKEYFILE);
    /* A public file whose first key line is too long. */
    memcpy(longline, "ssh-ed25519 ", 12);
    longline[sizeof(longline) - 1] = '\n';
    assert_int_equal(
        sshbpp_key_load_public_mem((const uint8_t *)longline, sizeof(longline), &k, &d),
        SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 1);
    /* The OpenSSH armor without its end line, and with bad base64. */
    {
        const char *t1 = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n";
        const char *t2 = "-----BEGIN OPENSSH PRIVATE KEY-----\nAA!A\n"
                         "-----END OPENSSH PRIVATE KEY-----\n";

        assert_int_equal(sshbpp_key_load_mem((const uint8_t *)t1, strlen(t1), NULL, &k, &d),
                         SSHBPP_EKEYFILE);
        assert_non_null(strstr(d.msg, "END OPENSSH PRIVATE KEY"));
        assert_int_equal(sshbpp_key_load_mem((const uint8_t *)t2, strlen(t2), NULL, &k, &d),
                         SSHBPP_EKEYFILE);
        assert_string_equal(d.msg, "bad base64 inside the OpenSSH armor");
    }
    /* Neither armor nor public line nor anything OpenSSL decodes. */
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)"hello world\n", 12, NULL, &k, &d),
                     SSHBPP_EKEYFILE);
    assert_null(k);
}

/* PKCS#8 in DER, encrypted: there is no PEM text to say so. */
static void
test_pkcs8_der_encrypted(void **state)
{
    char cmd[1024], pem[128], der[128];
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;

    (void)state;
    snprintf(pem, sizeof(pem), "%s/p8.pem", tmpdir);
    snprintf(der, sizeof(der), "%s/p8.der", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm ed25519 -out %s 2>/dev/null && "
             "openssl pkcs8 -topk8 -in %s -outform DER -passout pass:secret -out %s 2>/dev/null",
             pem, pem, der);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sshbpp_key_load_file(der, "secret", &k, &d), 0);
    assert_int_equal(sshbpp_key_format(k), SSHBPP_KEYFMT_PKCS8);
    assert_true(sshbpp_key_has_private(k));
    sshbpp_key_free(k);
    k = NULL;
    assert_int_equal(sshbpp_key_load_file(der, NULL, &k, &d), SSHBPP_EKEYPASSPHRASE);
    assert_null(k);
    assert_int_equal(sshbpp_key_load_file(der, "wrong", &k, &d), SSHBPP_EKEYBADPASS);
    assert_null(k);
}

/* ---- the agent codec --------------------------------------------------------- */

static void
test_agent_codec_edges(void **state)
{
    static uint8_t big[SSHBPP__AGENT_MAX_MSG];
    uint8_t blob[1024], sig[16];
    size_t blen = 0, n = 0, slen = 0;
    sshbpp__wbuf w, s;
    sshbpp_key **keys = NULL;

    (void)state;
    assert_int_equal(sshbpp_key_public_blob(key[K_ED], blob, sizeof(blob), &blen), 0);
    sshbpp__wb_init(&w);
    /* A request that would exceed the agent's message bound. */
    assert_int_equal(sshbpp__agent_req_sign(&w, blob, blen, big, sizeof(big) - 64, 0),
                     SSHBPP_EINVAL);
    assert_int_equal(w.len, 0);
    assert_int_equal(sshbpp__agent_req_sign(&w, blob, blen, big, 10, 0), 0);
    assert_int_equal(w.len, 4 + 1 + 4 + blen + 4 + 10 + 4);

    /* Flags per algorithm. */
    assert_int_equal(sshbpp__agent_sign_flags(key[K_RSA], "rsa-sha2-256"),
                     SSHBPP__AGENT_RSA_SHA2_256);
    assert_int_equal(sshbpp__agent_sign_flags(key[K_RSA], "rsa-sha2-512"),
                     SSHBPP__AGENT_RSA_SHA2_512);
    assert_int_equal(sshbpp__agent_sign_flags(key[K_E521], "ecdsa-sha2-nistp521"), 0);
    assert_int_equal(sshbpp__agent_sign_flags(key[K_E521], "rsa-sha2-512"), -1);
    assert_int_equal(sshbpp__agent_sign_flags(key[K_RSA], "ssh-rsa"), -1);

    /* Identities: a type we skip, a short answer, trailing bytes, a count
     * larger than the bytes could hold, FAILURE, nothing at all. */
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_IDENTITIES_ANSWER);
    sshbpp__wb_u32(&w, 2);
    sshbpp__wb_string(&w, "\0\0\0\x07ssh-dss\0\0\0\x01x", 16);
    sshbpp__wb_cstring(&w, "dsa");
    sshbpp__wb_string(&w, blob, blen);
    sshbpp__wb_cstring(&w, "mine");
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len, &keys, &n), 0);
    assert_int_equal(n, 1);
    assert_true(sshbpp_key_equal(keys[0], key[K_ED]));
    assert_string_equal(sshbpp_key_comment(keys[0]), "mine");
    sshbpp_agent_free_list(keys, n);
    sshbpp_agent_free_list(NULL, 3);
    sshbpp__wb_u8(&w, 0);
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len, &keys, &n), SSHBPP_EAGENT);
    assert_null(keys);
    assert_int_equal(n, 0);
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len - 6, &keys, &n), SSHBPP_EAGENT);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_IDENTITIES_ANSWER);
    sshbpp__wb_u32(&w, 2);
    sshbpp__wb_string(&w, blob, blen);
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len, &keys, &n), SSHBPP_EAGENT);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_IDENTITIES_ANSWER);
    sshbpp__wb_u32(&w, 0);
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len, &keys, &n), 0);
    assert_int_equal(n, 0);
    assert_null(keys);
    assert_int_equal(sshbpp__agent_parse_identities((const uint8_t *)"\x05", 1, &keys, &n),
                     SSHBPP_EAGENTREFUSED);
    assert_int_equal(sshbpp__agent_parse_identities((const uint8_t *)"", 0, &keys, &n),
                     SSHBPP_EAGENT);
    assert_int_equal(sshbpp__agent_parse_identities((const uint8_t *)"\x0e", 1, &keys, &n),
                     SSHBPP_EAGENT);

    /* A count above the agent bound (with the bytes to back it), and an
     * identity without its comment. */
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_IDENTITIES_ANSWER);
    sshbpp__wb_u32(&w, SSHBPP__AGENT_MAX_KEYS + 1);
    sshbpp__wb_raw(&w, big, (SSHBPP__AGENT_MAX_KEYS + 1) * 8);
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len, &keys, &n), SSHBPP_EAGENT);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_IDENTITIES_ANSWER);
    sshbpp__wb_u32(&w, 1);
    sshbpp__wb_string(&w, blob, blen);
    assert_int_equal(sshbpp__agent_parse_identities(w.p, w.len, &keys, &n), SSHBPP_EAGENT);
    assert_null(keys);

    /* Sign answers of the wrong type, without the string, with a byte
     * after it; blobs without a name, without a body, and with a name of
     * the right length but not the one asked for. */
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_IDENTITIES_ANSWER);
    sshbpp__wb_string(&w, "x", 1);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    assert_int_equal(sshbpp__agent_parse_sign((const uint8_t *)"\x0e\0\0", 3, "ssh-ed25519", sig,
                                              sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_SIGN_RESPONSE);
    sshbpp__wb_string(&w, "", 0);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    sshbpp__wb_u8(&w, 0);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    sshbpp__wb_init(&s);
    sshbpp__wb_cstring(&s, "ssh-ed25519");
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_SIGN_RESPONSE);
    sshbpp__wb_string(&w, s.p, s.len);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    sshbpp__wb_reset(&s);
    sshbpp__wb_cstring(&s, "ssh-ed25518");
    sshbpp__wb_string(&s, "sig", 3);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_SIGN_RESPONSE);
    sshbpp__wb_string(&w, s.p, s.len);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", big, 256, &slen),
                     SSHBPP_EAGENT);
    /* The name asked for: copied out whole. */
    memcpy(s.p + 4 + 10, "9", 1);
    slen = 0;
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", big, 256, &slen),
                     SSHBPP_EAGENT); /* w still holds the old copy */
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_SIGN_RESPONSE);
    sshbpp__wb_string(&w, s.p, s.len);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", big, 256, &slen), 0);
    assert_int_equal(slen, s.len);
    assert_memory_equal(big, s.p, s.len);
    memset(big, 0, sizeof(big));
    sshbpp__wb_free(&s);

    /* A signature that does not fit the caller's buffer; trailing bytes
     * inside the blob; another algorithm; FAILURE; empty. */
    sshbpp__wb_init(&s);
    sshbpp__wb_cstring(&s, "ssh-ed25519");
    sshbpp__wb_string(&s, big, 64);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_SIGN_RESPONSE);
    sshbpp__wb_string(&w, s.p, s.len);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", sig, sizeof(sig), &slen),
                     SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "rsa-sha2-256", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    sshbpp__wb_u8(&s, 0);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, SSHBPP__AGENT_SIGN_RESPONSE);
    sshbpp__wb_string(&w, s.p, s.len);
    assert_int_equal(sshbpp__agent_parse_sign(w.p, w.len, "ssh-ed25519", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    assert_int_equal(sshbpp__agent_parse_sign((const uint8_t *)"\x05", 1, "ssh-ed25519", sig,
                                              sizeof(sig), &slen),
                     SSHBPP_EAGENTREFUSED);
    assert_int_equal(
        sshbpp__agent_parse_sign((const uint8_t *)"", 0, "ssh-ed25519", sig, sizeof(sig), &slen),
        SSHBPP_EAGENT);
    sshbpp__wb_free(&s);
    sshbpp__wb_free(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openssh_header),       cmocka_unit_test(test_openssh_empty_section),
        cmocka_unit_test(test_openssh_ed25519_fields), cmocka_unit_test(test_openssh_ecdsa_fields),
        cmocka_unit_test(test_openssh_rsa_fields),   cmocka_unit_test(test_key_api_contract),
        cmocka_unit_test(test_key_types),            cmocka_unit_test(test_keyfile_edges),
        cmocka_unit_test(test_pkcs8_der_encrypted),  cmocka_unit_test(test_agent_codec_edges),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
