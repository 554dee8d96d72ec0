/*
 * test_hostkey.c: src/kex/hostkey.c on its own. Keys are generated here and
 * by the openssl command line; our blobs and fingerprints are checked
 * against OpenSSH's ssh-keygen and against python3-cryptography (an
 * independent SSH public key parser, signer and verifier); then every
 * single-bit flip, every truncation and every algorithm mix-up of a good
 * (key blob, signature) pair must be refused with SSHBPP_EHOSTKEY or
 * SSHBPP_ESIGNATURE.
 *
 * ssh-keygen, openssl and python3 with the cryptography package are
 * required: a missing tool fails the test, it does not skip it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "kex/kex_int.h"

/* ---- fixture -------------------------------------------------------------- */

/* The six signature algorithms and one key for each (both RSA algorithms
 * share one 3072-bit key: generating it is the slow part). */
enum { K_ED, K_P256, K_P384, K_P521, K_RSA, NKEYS };

static const char *const key_gen_alg[NKEYS] = {"ssh-ed25519", "ecdsa-sha2-nistp256",
                                               "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                               "rsa"};

typedef struct sigalg {
    const char *alg;
    int key;
} sigalg;

static const sigalg sigalgs[] = {
    {"ssh-ed25519", K_ED},           {"ecdsa-sha2-nistp256", K_P256},
    {"ecdsa-sha2-nistp384", K_P384}, {"ecdsa-sha2-nistp521", K_P521},
    {"rsa-sha2-256", K_RSA},         {"rsa-sha2-512", K_RSA},
    {"ssh-rsa", K_RSA}, /* legacy SHA-1, on request only */
};

#define NSIGALGS (sizeof(sigalgs) / sizeof(sigalgs[0]))

static sshbpp__hostkey keys[NKEYS];
static char tmpdir[64];

static const uint8_t msg[] = "exchange hash H stands in here (any bytes will do)";

/* ---- helpers ------------------------------------------------------------- */

/* Runs a shell command; it must exit 0. */
static void
run(const char *cmd)
{
    int st = system(cmd);

    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("command failed (status %d): %s\n", st, cmd);
        fail();
    }
}

/* Runs a command and returns its first output line (trailing newline
 * removed); it must exit 0. */
static void
capture(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    size_t n;
    int st;

    assert_non_null(p);
    out[0] = '\0';
    if (fgets(out, (int)cap, p) == NULL)
        out[0] = '\0';
    while (fgetc(p) != EOF)
        ;
    st = pclose(p);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("command failed (status %d): %s\n", st, cmd);
        fail();
    }
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
}

static void
path_of(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);

    assert_true(n > 0 && (size_t)n < cap);
}

static void
write_file(const char *name, const void *p, size_t n)
{
    char path[256];
    FILE *f;

    path_of(path, sizeof(path), name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *
b64(const uint8_t *p, size_t n)
{
    char *s = malloc((n + 2) / 3 * 4 + 1);

    assert_non_null(s);
    assert_true(EVP_EncodeBlock((unsigned char *)s, p, (int)n) >= 0);
    return s;
}

/* Key type name at the start of a blob, as a C string (static storage). */
static const char *
blob_type(const uint8_t *blob, size_t n)
{
    static char t[64];
    size_t len;

    assert_true(n >= 4);
    len = (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3];
    assert_true(len < sizeof(t) && 4 + len <= n);
    memcpy(t, blob + 4, len);
    t[len] = '\0';
    return t;
}

/* "type base64(blob)" as an OpenSSH public key line. */
static char *
pub_line(const uint8_t *blob, size_t n)
{
    char *enc = b64(blob, n), *line;
    const char *t = blob_type(blob, n);
    size_t len = strlen(t) + 1 + strlen(enc) + 2;

    line = malloc(len);
    assert_non_null(line);
    snprintf(line, len, "%s %s", t, enc);
    free(enc);
    return line;
}

static void
blob_of(const sshbpp__hostkey *hk, sshbpp__wbuf *w)
{
    sshbpp__wb_init(w);
    assert_int_equal(sshbpp__hostkey_put_blob(hk, w), 0);
    assert_int_equal(w->err, 0);
}

static void
sign_of(const sshbpp__hostkey *hk, const char *alg, const uint8_t *data, size_t n,
        sshbpp__wbuf *w)
{
    sshbpp__wb_init(w);
    assert_int_equal(sshbpp__hostkey_sign(hk, alg, data, n, w), 0);
}

/* The python3-cryptography cross-check. "verify BLOB SIG DATA ALG" parses
 * the blob as an OpenSSH public key and our signature blob, and verifies;
 * "sign PEM DATA ALG OUT" writes an SSH signature blob made by the
 * cryptography package; "pub PEM" prints the OpenSSH public key line. */
static const char pyscript[] =
    "import sys, struct, base64\n"
    "from cryptography.hazmat.primitives import hashes, serialization\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, padding, utils\n"
    "H = {'ecdsa-sha2-nistp256': hashes.SHA256, 'ecdsa-sha2-nistp384': hashes.SHA384,\n"
    "     'ecdsa-sha2-nistp521': hashes.SHA512, 'rsa-sha2-256': hashes.SHA256,\n"
    "     'rsa-sha2-512': hashes.SHA512, 'ssh-rsa': hashes.SHA1}\n"
    "def rd(b, o):\n"
    "    n = struct.unpack('>I', b[o:o+4])[0]\n"
    "    assert o + 4 + n <= len(b)\n"
    "    return b[o+4:o+4+n], o + 4 + n\n"
    "def st(b):\n"
    "    return struct.pack('>I', len(b)) + b\n"
    "def mp(i):\n"
    "    b = i.to_bytes((i.bit_length() + 8) // 8, 'big')\n"
    "    return st(b.lstrip(b'\\0') if len(b) > 1 and b[1] < 0x80 else b)\n"
    "rb = lambda p: open(p, 'rb').read()\n"
    "cmd = sys.argv[1]\n"
    "if cmd == 'verify':\n"
    "    blob, sig, data, alg = rb(sys.argv[2]), rb(sys.argv[3]), rb(sys.argv[4]), sys.argv[5]\n"
    "    kt, _ = rd(blob, 0)\n"
    "    key = serialization.load_ssh_public_key(kt + b' ' + base64.b64encode(blob))\n"
    "    name, o = rd(sig, 0)\n"
    "    body, o = rd(sig, o)\n"
    "    assert name.decode() == alg and o == len(sig)\n"
    "    if alg == 'ssh-ed25519':\n"
    "        assert len(body) == 64\n"
    "        key.verify(body, data)\n"
    "    elif alg.startswith('ecdsa'):\n"
    "        r, p = rd(body, 0)\n"
    "        s, p = rd(body, p)\n"
    "        assert p == len(body)\n"
    "        der = utils.encode_dss_signature(int.from_bytes(r, 'big'), int.from_bytes(s, 'big'))\n"
    "        key.verify(der, data, ec.ECDSA(H[alg]()))\n"
    "    else:\n"
    "        assert len(body) == key.key_size // 8\n"
    "        key.verify(body, data, padding.PKCS1v15(), H[alg]())\n"
    "    print('OK')\n"
    "elif cmd == 'sign':\n"
    "    key = serialization.load_pem_private_key(rb(sys.argv[2]), None)\n"
    "    data, alg = rb(sys.argv[3]), sys.argv[4]\n"
    "    if alg == 'ssh-ed25519':\n"
    "        body = key.sign(data)\n"
    "    elif alg.startswith('ecdsa'):\n"
    "        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(H[alg]())))\n"
    "        body = mp(r) + mp(s)\n"
    "    else:\n"
    "        body = key.sign(data, padding.PKCS1v15(), H[alg]())\n"
    "    open(sys.argv[5], 'wb').write(st(alg.encode()) + st(body))\n"
    "    print('OK')\n"
    "elif cmd == 'pub':\n"
    "    key = serialization.load_pem_private_key(rb(sys.argv[2]), None)\n"
    "    print(key.public_key().public_bytes(serialization.Encoding.OpenSSH,\n"
    "          serialization.PublicFormat.OpenSSH).decode())\n";

/* Our signature must verify in python3-cryptography. */
static void
py_verify(const uint8_t *blob, size_t blen, const uint8_t *sig, size_t slen, const char *alg)
{
    char cmd[1024], out[64];

    write_file("blob.bin", blob, blen);
    write_file("sig.bin", sig, slen);
    write_file("data.bin", msg, sizeof(msg));
    snprintf(cmd, sizeof(cmd),
             "python3 %s/check.py verify %s/blob.bin %s/sig.bin %s/data.bin %s", tmpdir, tmpdir,
             tmpdir, tmpdir, alg);
    capture(cmd, out, sizeof(out));
    assert_string_equal(out, "OK");
}

/* ---- setup ----------------------------------------------------------------- */

static int
setup(void **state)
{
    size_t i;
    char cmd[256];

    (void)state;
    /* Required tools: fail loudly rather than skip. */
    if (system("command -v ssh-keygen >/dev/null") != 0) {
        fprintf(stderr, "test_hostkey: ssh-keygen not found (install openssh-client)\n");
        return -1;
    }
    if (system("command -v openssl >/dev/null") != 0) {
        fprintf(stderr, "test_hostkey: openssl command not found\n");
        return -1;
    }
    if (system("python3 -c 'import cryptography' 2>/dev/null") != 0) {
        fprintf(stderr, "test_hostkey: python3 with the cryptography package not found\n");
        return -1;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sshbpp_hostkey_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "%s/check.py", tmpdir);
    {
        FILE *f = fopen(cmd, "w");

        if (f == NULL || fputs(pyscript, f) < 0 || fclose(f) != 0)
            return -1;
    }
    for (i = 0; i < NKEYS; i++)
        if (sshbpp__hostkey_generate(&keys[i], key_gen_alg[i]) != 0)
            return -1;
    return 0;
}

static int
teardown(void **state)
{
    size_t i;
    char cmd[128];

    (void)state;
    for (i = 0; i < NKEYS; i++)
        sshbpp__hostkey_free(&keys[i]);
    /* tmpdir is the mkdtemp name we made: nothing else is removed. */
    if (tmpdir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_names(void **state)
{
    static const char *const want[] = {"ssh-ed25519",         "ecdsa-sha2-nistp256",
                                       "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                       "rsa-sha2-512",        "rsa-sha2-256",
                                       "ssh-rsa"};
    sshbpp__hostkey hk;
    size_t i;

    (void)state;
    for (i = 0; i < 7; i++)
        assert_string_equal(sshbpp__hostkey_names[i], want[i]);
    assert_null(sshbpp__hostkey_names[7]);
    /* ssh-rsa is supported (legacy) but never in the default list. */
    assert_string_equal(sshbpp_kex_default(SSHBPP_KEXINIT_HOSTKEY),
                        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
                        "ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256");
    assert_int_equal(sshbpp__hostkey_generate(&hk, "ssh-dss"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_generate(&hk, "ecdsa-sha2-nistp224"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_generate(&hk, NULL), SSHBPP_EINVAL);
    assert_null(hk.pkey);
}

static void
test_can_sign(void **state)
{
    size_t i, k;

    (void)state;
    assert_int_equal(keys[K_ED].type, SSHBPP__HK_ED25519);
    assert_int_equal(keys[K_P256].type, SSHBPP__HK_ECDSA);
    assert_int_equal(keys[K_P256].curve_bits, 256);
    assert_int_equal(keys[K_P384].curve_bits, 384);
    assert_int_equal(keys[K_P521].curve_bits, 521);
    assert_int_equal(keys[K_RSA].type, SSHBPP__HK_RSA);
    assert_int_equal(EVP_PKEY_get_bits(keys[K_RSA].pkey), 3072);
    for (k = 0; k < NKEYS; k++) {
        for (i = 0; i < NSIGALGS; i++)
            assert_int_equal(sshbpp__hostkey_can_sign(&keys[k], sigalgs[i].alg),
                             sigalgs[i].key == (int)k);
        assert_false(sshbpp__hostkey_can_sign(&keys[k], "rsa"));
        assert_false(sshbpp__hostkey_can_sign(&keys[k], ""));
        assert_false(sshbpp__hostkey_can_sign(&keys[k], NULL));
    }
    /* Signing with an algorithm the key cannot make is refused. */
    {
        sshbpp__wbuf w;

        sshbpp__wb_init(&w);
        assert_int_equal(sshbpp__hostkey_sign(&keys[K_ED], "ssh-rsa", msg, sizeof(msg), &w),
                         SSHBPP_EINVAL);
        assert_int_equal(
            sshbpp__hostkey_sign(&keys[K_P256], "ecdsa-sha2-nistp384", msg, sizeof(msg), &w),
            SSHBPP_EINVAL);
        assert_int_equal(w.len, 0);
        sshbpp__wb_free(&w);
    }
}

/* Blob layout by hand, for each key type. */
static void
test_blob_layout(void **state)
{
    sshbpp__wbuf w;
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;
    static const struct {
        int key;
        const char *type, *curve;
        size_t qlen;
    } ec[] = {{K_P256, "ecdsa-sha2-nistp256", "nistp256", 65},
              {K_P384, "ecdsa-sha2-nistp384", "nistp384", 97},
              {K_P521, "ecdsa-sha2-nistp521", "nistp521", 133}};
    size_t i;

    (void)state;
    blob_of(&keys[K_ED], &w);
    sshbpp__rb_init(&r, w.p, w.len);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_true(n == 11 && memcmp(p, "ssh-ed25519", 11) == 0);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_int_equal(n, 32);
    assert_true(sshbpp__rb_done(&r));
    sshbpp__wb_free(&w);

    for (i = 0; i < 3; i++) {
        blob_of(&keys[ec[i].key], &w);
        sshbpp__rb_init(&r, w.p, w.len);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_true(n == strlen(ec[i].type) && memcmp(p, ec[i].type, n) == 0);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_true(n == strlen(ec[i].curve) && memcmp(p, ec[i].curve, n) == 0);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_int_equal(n, ec[i].qlen);
        assert_int_equal(p[0], 0x04);
        assert_true(sshbpp__rb_done(&r));
        sshbpp__wb_free(&w);
    }

    blob_of(&keys[K_RSA], &w);
    sshbpp__rb_init(&r, w.p, w.len);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_true(n == 7 && memcmp(p, "ssh-rsa", 7) == 0);
    assert_int_equal(sshbpp__rb_mpint(&r, &p, &n), 0);
    assert_true(n == 3 && p[0] == 0x01 && p[1] == 0x00 && p[2] == 0x01); /* e = 65537 */
    assert_int_equal(sshbpp__rb_mpint(&r, &p, &n), 0);
    assert_int_equal(n, 384);
    assert_true(sshbpp__rb_done(&r));
    sshbpp__wb_free(&w);
}

static void
test_sign_verify_all(void **state)
{
    size_t i, len;
    sshbpp__wbuf blob, sig;
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;

    (void)state;
    for (i = 0; i < NSIGALGS; i++) {
        const sshbpp__hostkey *hk = &keys[sigalgs[i].key];

        blob_of(hk, &blob);
        for (len = 0; len < sizeof(msg); len += sizeof(msg) - 1) {
            sign_of(hk, sigalgs[i].alg, msg, len, &sig);
            assert_int_equal(sshbpp__hostkey_verify(sigalgs[i].alg, blob.p, blob.len, msg, len,
                                                    sig.p, sig.len),
                             0);
            sshbpp__wb_free(&sig);
        }
        /* The signature blob names the algorithm; RSA's body is exactly the
         * modulus length, Ed25519's 64 bytes. */
        sign_of(hk, sigalgs[i].alg, msg, sizeof(msg), &sig);
        sshbpp__rb_init(&r, sig.p, sig.len);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_true(n == strlen(sigalgs[i].alg) && memcmp(p, sigalgs[i].alg, n) == 0);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        if (sigalgs[i].key == K_RSA)
            assert_int_equal(n, 384);
        if (sigalgs[i].key == K_ED)
            assert_int_equal(n, 64);
        assert_true(sshbpp__rb_done(&r));
        py_verify(blob.p, blob.len, sig.p, sig.len, sigalgs[i].alg);
        sshbpp__wb_free(&sig);
        sshbpp__wb_free(&blob);
    }
}

static void
test_fingerprint_ssh_keygen(void **state)
{
    size_t k;
    sshbpp__wbuf blob;
    char fp[128], out[512], cmd[512], path[256], want[128];
    char *line;

    (void)state;
    path_of(path, sizeof(path), "key.pub");
    for (k = 0; k < NKEYS; k++) {
        blob_of(&keys[k], &blob);
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, fp, sizeof(fp)), 0);
        line = pub_line(blob.p, blob.len);
        write_file("key.pub", line, strlen(line));
        free(line);
        /* "256 SHA256:... no comment (ED25519)" */
        snprintf(cmd, sizeof(cmd), "ssh-keygen -E sha256 -lf %s", path);
        capture(cmd, out, sizeof(out));
        assert_int_equal(sscanf(out, "%*d %127s", want), 1);
        assert_string_equal(fp, want);
        assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
        assert_int_equal(strlen(fp), 7 + 43);
        /* Too small a buffer is refused, not truncated. */
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, fp, 50), SSHBPP_EBUFSMALL);
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, fp, 51), 0);
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, fp, 3), SSHBPP_EBUFSMALL);
        sshbpp__wb_free(&blob);
    }
}

/* Files written by `openssl` in PKCS#8 PEM, traditional PEM and DER. */
static void
test_load_files(void **state)
{
    static const struct {
        const char *name, *gen, *alg;
        int type, bits, keygen_y;
    } files[] = {
        {"ed.pem", "genpkey -algorithm ed25519", "ssh-ed25519", SSHBPP__HK_ED25519, 0, 0},
        {"p256.pem", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
         "ecdsa-sha2-nistp256", SSHBPP__HK_ECDSA, 256, 1},
        {"p384.pem", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384",
         "ecdsa-sha2-nistp384", SSHBPP__HK_ECDSA, 384, 1},
        {"p521.pem", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521",
         "ecdsa-sha2-nistp521", SSHBPP__HK_ECDSA, 521, 1},
        {"rsa.pem", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", "rsa-sha2-256",
         SSHBPP__HK_RSA, 0, 1},
    };
    /* Rewrites of each file: PKCS#8 PEM as written, traditional PEM,
     * PKCS#8 DER, and (EC only) a compressed public point. */
    static const char *const variants[] = {"", "pkey -traditional", "pkey -outform DER",
                                           "ec -conv_form compressed"};
    static const char *const suffix[] = {"", ".trad", ".der", ".cmp"};
    size_t i, v;
    char cmd[1024], path[256], name[64], out[2048], *line;
    sshbpp__hostkey hk;
    sshbpp__wbuf blob, sig, ref_blob;

    (void)state;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        path_of(path, sizeof(path), files[i].name);
        snprintf(cmd, sizeof(cmd), "openssl %s -out %s 2>/dev/null && chmod 600 %s",
                 files[i].gen, path, path);
        run(cmd);
        for (v = 0; v < 4; v++) {
            /* Ed25519 has no traditional form; only EC has point formats. */
            if ((v == 3 && files[i].type != SSHBPP__HK_ECDSA) ||
                (v == 1 && files[i].type == SSHBPP__HK_ED25519))
                continue;
            if (v > 0) {
                snprintf(cmd, sizeof(cmd), "openssl %s -in %s/%s -out %s/%s%s 2>/dev/null",
                         variants[v], tmpdir, files[i].name, tmpdir, files[i].name, suffix[v]);
                run(cmd);
            }
            snprintf(name, sizeof(name), "%s%s", files[i].name, suffix[v]);
            path_of(path, sizeof(path), name);
            assert_int_equal(sshbpp__hostkey_load_file(&hk, path), 0);
            assert_int_equal(hk.type, files[i].type);
            assert_int_equal(hk.curve_bits, files[i].bits);
            assert_true(sshbpp__hostkey_can_sign(&hk, files[i].alg));
            blob_of(&hk, &blob);

            /* python3-cryptography's OpenSSH encoding of the same key. */
            path_of(path, sizeof(path), files[i].name);
            snprintf(cmd, sizeof(cmd), "python3 %s/check.py pub %s", tmpdir, path);
            capture(cmd, out, sizeof(out));
            line = pub_line(blob.p, blob.len);
            assert_string_equal(out, line);
            /* And OpenSSH's own, where it reads the file (not Ed25519 in
             * PKCS#8 in OpenSSH 9.2). */
            if (files[i].keygen_y && v == 0) {
                snprintf(cmd, sizeof(cmd), "ssh-keygen -y -f %s", path);
                capture(cmd, out, sizeof(out));
                assert_string_equal(out, line);
            }
            free(line);

            sign_of(&hk, files[i].alg, msg, sizeof(msg), &sig);
            assert_int_equal(sshbpp__hostkey_verify(files[i].alg, blob.p, blob.len, msg,
                                                    sizeof(msg), sig.p, sig.len),
                             0);
            py_verify(blob.p, blob.len, sig.p, sig.len, files[i].alg);

            /* A signature made by python3-cryptography verifies with us;
             * Ed25519 and PKCS#1 v1.5 are deterministic, so those are
             * byte-identical to ours. */
            if (v == 0) {
                uint8_t theirs[1024];
                size_t tlen;
                FILE *f;

                write_file("data.bin", msg, sizeof(msg));
                snprintf(cmd, sizeof(cmd),
                         "python3 %s/check.py sign %s %s/data.bin %s %s/theirs.bin", tmpdir, path,
                         tmpdir, files[i].alg, tmpdir);
                capture(cmd, out, sizeof(out));
                path_of(path, sizeof(path), "theirs.bin");
                f = fopen(path, "rb");
                assert_non_null(f);
                tlen = fread(theirs, 1, sizeof(theirs), f);
                fclose(f);
                assert_int_equal(sshbpp__hostkey_verify(files[i].alg, blob.p, blob.len, msg,
                                                        sizeof(msg), theirs, tlen),
                                 0);
                if (files[i].type != SSHBPP__HK_ECDSA) {
                    assert_int_equal(tlen, sig.len);
                    assert_memory_equal(theirs, sig.p, tlen);
                }
            }
            sshbpp__wb_free(&sig);

            /* The same key loaded from every format gives one blob. */
            if (v == 0) {
                ref_blob = blob;
            } else {
                assert_int_equal(blob.len, ref_blob.len);
                assert_memory_equal(blob.p, ref_blob.p, blob.len);
                sshbpp__wb_free(&blob);
            }
            sshbpp__hostkey_free(&hk);
            assert_null(hk.pkey);
        }
        sshbpp__wb_free(&ref_blob);
    }
}

static void
test_load_rejects(void **state)
{
    static const struct {
        const char *name, *gen;
        int err;
    } bad[] = {
        {"rsa1024.pem", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024", SSHBPP_EKEYTYPE},
        {"k256.pem", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1",
         SSHBPP_EKEYTYPE},
        {"bp256.pem", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1",
         SSHBPP_EKEYTYPE},
        {"x25519.pem", "genpkey -algorithm X25519", SSHBPP_EKEYTYPE},
        {"ed448.pem", "genpkey -algorithm ed448", SSHBPP_EKEYTYPE},
        {"pss.pem", "genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048", SSHBPP_EKEYTYPE},
        /* Passphrase-protected: refused without prompting. */
        {"enc.pem", "genpkey -algorithm ed25519 -aes-256-cbc -pass pass:secret",
         SSHBPP_EKEYPASSPHRASE},
    };
    size_t i;
    char cmd[512], path[256];
    sshbpp__hostkey hk;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        path_of(path, sizeof(path), bad[i].name);
        snprintf(cmd, sizeof(cmd), "openssl %s -out %s 2>/dev/null", bad[i].gen, path);
        run(cmd);
        assert_int_equal(sshbpp__hostkey_load_file(&hk, path), bad[i].err);
        assert_null(hk.pkey);
    }
    /* A public key only. */
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | "
             "openssl pkey -pubout -out %s/pub.pem",
             tmpdir);
    run(cmd);
    path_of(path, sizeof(path), "pub.pem");
    assert_int_equal(sshbpp__hostkey_load_file(&hk, path), SSHBPP_EKEYFILE);
    /* Empty and garbage files. */
    write_file("empty", "", 0);
    path_of(path, sizeof(path), "empty");
    assert_int_equal(sshbpp__hostkey_load_file(&hk, path), SSHBPP_EKEYFILE);
    write_file("garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 56);
    path_of(path, sizeof(path), "garbage");
    assert_int_equal(sshbpp__hostkey_load_file(&hk, path), SSHBPP_EKEYFILE);
    /* I/O failures. */
    path_of(path, sizeof(path), "does-not-exist");
    assert_int_equal(sshbpp__hostkey_load_file(&hk, path), SSHBPP_EIO);
    assert_int_equal(sshbpp__hostkey_load_file(&hk, tmpdir), SSHBPP_EIO); /* a directory */
    assert_int_equal(sshbpp__hostkey_load_file(&hk, NULL), SSHBPP_EINVAL);
}

static int
is_reject(int rc)
{
    return rc == SSHBPP_ESIGNATURE || rc == SSHBPP_EHOSTKEY;
}

static void
test_bit_flips(void **state)
{
    size_t i, bit;
    sshbpp__wbuf blob, sig;
    uint8_t data[sizeof(msg)];
    int rc;

    (void)state;
    for (i = 0; i < NSIGALGS; i++) {
        const char *alg = sigalgs[i].alg;

        blob_of(&keys[sigalgs[i].key], &blob);
        sign_of(&keys[sigalgs[i].key], alg, msg, sizeof(msg), &sig);
        memcpy(data, msg, sizeof(msg));
        for (bit = 0; bit < 8 * sizeof(data); bit++) {
            data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(
                sshbpp__hostkey_verify(alg, blob.p, blob.len, data, sizeof(data), sig.p, sig.len),
                SSHBPP_ESIGNATURE);
            data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        for (bit = 0; bit < 8 * sig.len; bit++) {
            sig.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(
                sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len),
                SSHBPP_ESIGNATURE);
            sig.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        for (bit = 0; bit < 8 * blob.len; bit++) {
            blob.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            rc = sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len);
            if (!is_reject(rc)) {
                print_error("%s: blob bit %zu gave %d\n", alg, bit, rc);
                fail();
            }
            blob.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        /* Unchanged, it still verifies. */
        assert_int_equal(
            sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len), 0);
        sshbpp__wb_free(&sig);
        sshbpp__wb_free(&blob);
    }
}

static void
test_truncation(void **state)
{
    size_t i, n;
    sshbpp__wbuf blob, sig;
    uint8_t *copy;

    (void)state;
    for (i = 0; i < NSIGALGS; i++) {
        const char *alg = sigalgs[i].alg;

        blob_of(&keys[sigalgs[i].key], &blob);
        sign_of(&keys[sigalgs[i].key], alg, msg, sizeof(msg), &sig);
        /* Each prefix in a buffer of its own size, so ASan sees any read
         * past the end. */
        for (n = 0; n < blob.len; n++) {
            copy = malloc(n > 0 ? n : 1);
            assert_non_null(copy);
            memcpy(copy, blob.p, n);
            assert_int_equal(
                sshbpp__hostkey_verify(alg, copy, n, msg, sizeof(msg), sig.p, sig.len),
                SSHBPP_EHOSTKEY);
            free(copy);
        }
        for (n = 0; n < sig.len; n++) {
            copy = malloc(n > 0 ? n : 1);
            assert_non_null(copy);
            memcpy(copy, sig.p, n);
            assert_int_equal(
                sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), copy, n),
                SSHBPP_ESIGNATURE);
            free(copy);
        }
        /* One trailing byte on either. */
        sshbpp__wb_u8(&blob, 0);
        assert_int_equal(
            sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len),
            SSHBPP_EHOSTKEY);
        blob.len--;
        sshbpp__wb_u8(&sig, 0);
        assert_int_equal(
            sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len),
            SSHBPP_ESIGNATURE);
        sig.len--;
        assert_int_equal(
            sshbpp__hostkey_verify(alg, blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len), 0);
        sshbpp__wb_free(&sig);
        sshbpp__wb_free(&blob);
    }
}

/* Re-wraps a signature body under another name. */
static void
rewrap(const sshbpp__wbuf *sig, const char *name, sshbpp__wbuf *out)
{
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;

    sshbpp__rb_init(&r, sig->p, sig->len);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    sshbpp__wb_init(out);
    sshbpp__wb_cstring(out, name);
    sshbpp__wb_string(out, p, n);
    assert_int_equal(out->err, 0);
}

static void
test_alg_mismatch(void **state)
{
    size_t i, j;
    sshbpp__wbuf blob, sig, alt;
    int rc;

    (void)state;
    /* Every (blob, signature) pair under every other algorithm. */
    for (i = 0; i < NSIGALGS; i++) {
        blob_of(&keys[sigalgs[i].key], &blob);
        sign_of(&keys[sigalgs[i].key], sigalgs[i].alg, msg, sizeof(msg), &sig);
        for (j = 0; j < NSIGALGS; j++) {
            if (j == i)
                continue;
            rc = sshbpp__hostkey_verify(sigalgs[j].alg, blob.p, blob.len, msg, sizeof(msg),
                                        sig.p, sig.len);
            /* Same key, other RSA hash: the key fits, the signature not. */
            if (sigalgs[i].key == sigalgs[j].key)
                assert_int_equal(rc, SSHBPP_ESIGNATURE);
            else
                assert_int_equal(rc, SSHBPP_EHOSTKEY);
        }
        /* Unknown algorithms are not ours to verify. */
        assert_int_equal(sshbpp__hostkey_verify("ssh-dss", blob.p, blob.len, msg, sizeof(msg),
                                                sig.p, sig.len),
                         SSHBPP_EHOSTKEY);
        assert_int_equal(
            sshbpp__hostkey_verify("", blob.p, blob.len, msg, sizeof(msg), sig.p, sig.len),
            SSHBPP_EHOSTKEY);
        sshbpp__wb_free(&sig);
        sshbpp__wb_free(&blob);
    }

    /* An RSA signature relabelled: "ssh-rsa" or the other SHA-2 name,
     * under rsa-sha2-256. */
    blob_of(&keys[K_RSA], &blob);
    sign_of(&keys[K_RSA], "rsa-sha2-256", msg, sizeof(msg), &sig);
    rewrap(&sig, "ssh-rsa", &alt);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", blob.p, blob.len, msg, sizeof(msg),
                                            alt.p, alt.len),
                     SSHBPP_ESIGNATURE);
    sshbpp__wb_free(&alt);
    rewrap(&sig, "rsa-sha2-512", &alt);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", blob.p, blob.len, msg, sizeof(msg),
                                            alt.p, alt.len),
                     SSHBPP_ESIGNATURE);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-512", blob.p, blob.len, msg, sizeof(msg),
                                            alt.p, alt.len),
                     SSHBPP_ESIGNATURE);
    sshbpp__wb_free(&alt);
    /* Over-long RSA signature (a leading zero added) is refused. */
    {
        sshbpp__rbuf r;
        const uint8_t *p;
        size_t n;
        uint8_t big[385];

        sshbpp__rb_init(&r, sig.p, sig.len);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_int_equal(n, 384);
        big[0] = 0;
        memcpy(big + 1, p, n);
        sshbpp__wb_init(&alt);
        sshbpp__wb_cstring(&alt, "rsa-sha2-256");
        sshbpp__wb_string(&alt, big, sizeof(big));
        assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", blob.p, blob.len, msg,
                                                sizeof(msg), alt.p, alt.len),
                         SSHBPP_ESIGNATURE);
        sshbpp__wb_free(&alt);
    }
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&blob);

    /* Ed25519 signatures of the wrong length. */
    blob_of(&keys[K_ED], &blob);
    sign_of(&keys[K_ED], "ssh-ed25519", msg, sizeof(msg), &sig);
    {
        uint8_t body[65];

        memcpy(body, sig.p + sig.len - 64, 64);
        body[64] = 0;
        for (i = 0; i < 2; i++) {
            sshbpp__wb_init(&alt);
            sshbpp__wb_cstring(&alt, "ssh-ed25519");
            sshbpp__wb_string(&alt, body, i == 0 ? 63 : 65);
            assert_int_equal(sshbpp__hostkey_verify("ssh-ed25519", blob.p, blob.len, msg,
                                                    sizeof(msg), alt.p, alt.len),
                             SSHBPP_ESIGNATURE);
            sshbpp__wb_free(&alt);
        }
    }
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&blob);

    /* An ECDSA blob whose type says nistp256 but whose curve field and
     * point are nistp384 (and the reverse). */
    blob_of(&keys[K_P384], &blob);
    {
        sshbpp__rbuf r;
        const uint8_t *t, *c, *q;
        size_t tl, cl, ql;

        sshbpp__rb_init(&r, blob.p, blob.len);
        assert_int_equal(sshbpp__rb_string(&r, &t, &tl), 0);
        assert_int_equal(sshbpp__rb_string(&r, &c, &cl), 0);
        assert_int_equal(sshbpp__rb_string(&r, &q, &ql), 0);
        sshbpp__wb_init(&alt);
        sshbpp__wb_cstring(&alt, "ecdsa-sha2-nistp256");
        sshbpp__wb_string(&alt, c, cl);
        sshbpp__wb_string(&alt, q, ql);
        sign_of(&keys[K_P256], "ecdsa-sha2-nistp256", msg, sizeof(msg), &sig);
        assert_int_equal(sshbpp__hostkey_verify("ecdsa-sha2-nistp256", alt.p, alt.len, msg,
                                                sizeof(msg), sig.p, sig.len),
                         SSHBPP_EHOSTKEY);
        sshbpp__wb_free(&alt);
        sshbpp__wb_free(&sig);
        /* Type nistp384, curve field nistp256. */
        sshbpp__wb_init(&alt);
        sshbpp__wb_string(&alt, t, tl);
        sshbpp__wb_cstring(&alt, "nistp256");
        sshbpp__wb_string(&alt, q, ql);
        sign_of(&keys[K_P384], "ecdsa-sha2-nistp384", msg, sizeof(msg), &sig);
        assert_int_equal(sshbpp__hostkey_verify("ecdsa-sha2-nistp384", alt.p, alt.len, msg,
                                                sizeof(msg), sig.p, sig.len),
                         SSHBPP_EHOSTKEY);
        sshbpp__wb_free(&alt);
        sshbpp__wb_free(&sig);
    }
    sshbpp__wb_free(&blob);
}

/* ECDSA signature bodies that are well-formed SSH but bad values. */
static void
test_ecdsa_values(void **state)
{
    sshbpp__wbuf blob, sig, alt, inner;
    sshbpp__rbuf r, ri;
    const uint8_t *p, *rp, *sp;
    size_t n, rl, sl, k;
    uint8_t ff[67], z = 0;

    (void)state;
    blob_of(&keys[K_P256], &blob);
    sign_of(&keys[K_P256], "ecdsa-sha2-nistp256", msg, sizeof(msg), &sig);
    sshbpp__rb_init(&r, sig.p, sig.len);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    sshbpp__rb_init(&ri, p, n);
    assert_int_equal(sshbpp__rb_mpint(&ri, &rp, &rl), 0);
    assert_int_equal(sshbpp__rb_mpint(&ri, &sp, &sl), 0);
    memset(ff, 0xff, sizeof(ff));

    for (k = 0; k < 7; k++) {
        sshbpp__wb_init(&inner);
        switch (k) {
        case 0: /* r = 0 */
            sshbpp__wb_mpint(&inner, &z, 1);
            sshbpp__wb_mpint(&inner, sp, sl);
            break;
        case 1: /* s = 0 */
            sshbpp__wb_mpint(&inner, rp, rl);
            sshbpp__wb_mpint(&inner, &z, 1);
            break;
        case 2: /* r >= order */
            sshbpp__wb_mpint(&inner, ff, 32);
            sshbpp__wb_mpint(&inner, sp, sl);
            break;
        case 3: /* r longer than the field */
            sshbpp__wb_mpint(&inner, ff, 33);
            sshbpp__wb_mpint(&inner, sp, sl);
            break;
        case 4: /* swapped */
            sshbpp__wb_mpint(&inner, sp, sl);
            sshbpp__wb_mpint(&inner, rp, rl);
            break;
        case 5: /* non-minimal mpint for r (an extra zero byte) */
            sshbpp__wb_u32(&inner, (uint32_t)rl + 1 + ((rp[0] & 0x80) ? 1 : 0));
            sshbpp__wb_u8(&inner, 0);
            if (rp[0] & 0x80)
                sshbpp__wb_u8(&inner, 0);
            sshbpp__wb_raw(&inner, rp, rl);
            sshbpp__wb_mpint(&inner, sp, sl);
            break;
        default: /* trailing bytes inside the body */
            sshbpp__wb_mpint(&inner, rp, rl);
            sshbpp__wb_mpint(&inner, sp, sl);
            sshbpp__wb_u8(&inner, 0);
            break;
        }
        sshbpp__wb_init(&alt);
        sshbpp__wb_cstring(&alt, "ecdsa-sha2-nistp256");
        sshbpp__wb_string(&alt, inner.p, inner.len);
        assert_int_equal(alt.err, 0);
        assert_int_equal(sshbpp__hostkey_verify("ecdsa-sha2-nistp256", blob.p, blob.len, msg,
                                                sizeof(msg), alt.p, alt.len),
                         SSHBPP_ESIGNATURE);
        sshbpp__wb_free(&alt);
        sshbpp__wb_free(&inner);
    }
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&blob);

    /* A point not on the curve in the blob. */
    blob_of(&keys[K_P256], &blob);
    blob.p[blob.len - 1] ^= 1;
    sign_of(&keys[K_P256], "ecdsa-sha2-nistp256", msg, sizeof(msg), &sig);
    assert_int_equal(sshbpp__hostkey_verify("ecdsa-sha2-nistp256", blob.p, blob.len, msg,
                                            sizeof(msg), sig.p, sig.len),
                     SSHBPP_EHOSTKEY);
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&blob);
}

/* RSA below 2048 bits is refused as a peer key; a signature shorter than
 * the modulus (leading zeros dropped) is accepted, as OpenSSH does. */
static void
test_rsa_sizes(void **state)
{
    sshbpp__hostkey small;
    sshbpp__wbuf blob, sig, alt;
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;
    int tries;
    uint8_t data[8];

    (void)state;
    small.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    assert_non_null(small.pkey);
    small.type = SSHBPP__HK_RSA;
    small.curve_bits = 0;
    blob_of(&small, &blob);
    sign_of(&small, "rsa-sha2-256", msg, sizeof(msg), &sig);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", blob.p, blob.len, msg, sizeof(msg),
                                            sig.p, sig.len),
                     SSHBPP_EHOSTKEY);
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&blob);
    sshbpp__hostkey_free(&small);

    /* Find a message whose signature starts with a zero byte (1 in 256). */
    blob_of(&keys[K_RSA], &blob);
    memset(data, 0, sizeof(data));
    for (tries = 0; tries < 5000; tries++) {
        memcpy(data, &tries, sizeof(tries));
        sign_of(&keys[K_RSA], "rsa-sha2-512", data, sizeof(data), &sig);
        sshbpp__rb_init(&r, sig.p, sig.len);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        assert_int_equal(n, 384);
        if (p[0] == 0)
            break;
        sshbpp__wb_free(&sig);
    }
    assert_true(tries < 5000);
    sshbpp__wb_init(&alt);
    sshbpp__wb_cstring(&alt, "rsa-sha2-512");
    sshbpp__wb_string(&alt, p + 1, n - 1);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-512", blob.p, blob.len, data, sizeof(data),
                                            alt.p, alt.len),
                     0);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-512", blob.p, blob.len, data, sizeof(data),
                                            sig.p, sig.len),
                     0);
    sshbpp__wb_free(&alt);
    /* An empty RSA signature body. */
    sshbpp__wb_init(&alt);
    sshbpp__wb_cstring(&alt, "rsa-sha2-512");
    sshbpp__wb_string(&alt, "", 0);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-512", blob.p, blob.len, data, sizeof(data),
                                            alt.p, alt.len),
                     SSHBPP_ESIGNATURE);
    sshbpp__wb_free(&alt);
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&blob);
}

static void
test_bad_args(void **state)
{
    sshbpp__wbuf w;
    sshbpp__hostkey none = {NULL, 0, 0};

    (void)state;
    sshbpp__wb_init(&w);
    assert_int_equal(sshbpp__hostkey_put_blob(&none, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_put_blob(NULL, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_sign(&none, "ssh-ed25519", msg, 1, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_verify(NULL, msg, 1, msg, 1, msg, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_verify("ssh-ed25519", NULL, 0, msg, 1, msg, 1),
                     SSHBPP_EHOSTKEY);
    assert_int_equal(sshbpp__hostkey_fingerprint(msg, 1, NULL, 64), SSHBPP_EINVAL);
    assert_false(sshbpp__hostkey_can_sign(&none, "ssh-ed25519"));
    sshbpp__hostkey_free(&none);
    sshbpp__hostkey_free(NULL);
    sshbpp__wb_free(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_can_sign),
        cmocka_unit_test(test_blob_layout),
        cmocka_unit_test(test_sign_verify_all),
        cmocka_unit_test(test_fingerprint_ssh_keygen),
        cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_load_rejects),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_alg_mismatch),
        cmocka_unit_test(test_ecdsa_values),
        cmocka_unit_test(test_rsa_sizes),
        cmocka_unit_test(test_bad_args),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
