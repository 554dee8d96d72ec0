/*
 * test_keys.c: the key object and key files (src/keys/): openssh-key-v1
 * from ssh-keygen loads and signs; every malformation of it (truncated
 * base64, wrong inner lengths, bad padding, check-int mismatch, key count,
 * header/private mismatch, trailing bytes) is SSHBPP_EKEYFILE with a
 * precise reason; encrypted keys give their own codes; public lines and
 * fingerprints; the signer shape; the agent codec and an agent that goes
 * away mid-use (a fake agent on a Unix socket).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys/keys_int.h"
#include "sshbpp/sshbpp_keys.h"

static char tmpdir[64];

static void
run(const char *cmd)
{
    if (system(cmd) != 0)
        fail_msg("command failed (is the tool installed?): %s", cmd);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ssh-keygen's unencrypted ed25519 key, decoded from its armor. */
static uint8_t *raw;
static size_t raw_len;
static char keypath[128];

static int
setup(void **state)
{
    char cmd[512], *text, *b, *e;
    size_t n;
    long got;

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sshbpp-test-keys-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(keypath, sizeof(keypath), "%s/id_ed25519", tmpdir);
    /* Comment "x": the private section then needs 4 padding bytes. */
    snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ed25519 -N '' -C x -f %s", keypath);
    run(cmd);
    text = slurp(keypath, &n);
    b = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----");
    e = strstr(text, "-----END OPENSSH PRIVATE KEY-----");
    assert_non_null(b);
    assert_non_null(e);
    b += strlen("-----BEGIN OPENSSH PRIVATE KEY-----");
    raw = malloc((size_t)(e - b));
    got = sshbpp__b64_decode_ws(b, (size_t)(e - b), raw, (size_t)(e - b));
    assert_true(got > 0);
    raw_len = (size_t)got;
    free(text);
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    free(raw);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Armors bytes as an OpenSSH private key file in memory. */
static char *
armor(const uint8_t *p, size_t n, size_t *len)
{
    size_t cap = n / 3 * 4 + 200;
    char *out = malloc(cap);
    long b;

    assert_non_null(out);
    strcpy(out, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    b = sshbpp__b64_encode(p, n, out + strlen(out), cap - strlen(out));
    assert_true(b >= 0);
    strcat(out, "\n-----END OPENSSH PRIVATE KEY-----\n");
    *len = strlen(out);
    return out;
}

static int
load_raw(const uint8_t *p, size_t n, sshbpp_key_diag *d)
{
    sshbpp_key *k = NULL;
    size_t len;
    char *text = armor(p, n, &len);
    int r = sshbpp_key_load_mem((const uint8_t *)text, len, NULL, &k, d);

    free(text);
    sshbpp_key_free(k);
    return r;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Offsets in raw: the key count, the private section's length field. */
static size_t off_nkeys, off_privlen, off_priv;

static void
layout(void)
{
    size_t o = 15;

    o += 4 + get32(raw + o); /* cipher */
    o += 4 + get32(raw + o); /* kdf */
    o += 4 + get32(raw + o); /* kdf options */
    off_nkeys = o;
    o += 4;
    o += 4 + get32(raw + o); /* public key */
    off_privlen = o;
    off_priv = o + 4;
    assert_int_equal(off_priv + get32(raw + off_privlen), raw_len);
}

static void
test_openssh_loads(void **state)
{
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;
    uint8_t sig[256], data[] = "data to sign";
    size_t slen = 0;
    char line[256], fp[80];

    (void)state;
    assert_int_equal(sshbpp_key_load_file(keypath, NULL, &k, &d), 0);
    assert_int_equal(sshbpp_key_format(k), SSHBPP_KEYFMT_OPENSSH);
    assert_int_equal(sshbpp_key_type(k), SSHBPP_KEY_ED25519);
    assert_true(sshbpp_key_has_private(k));
    assert_string_equal(sshbpp_key_comment(k), "x");
    assert_int_equal(sshbpp_key_bits(k), 256);
    /* The signer shape: signature blob out, verified by the public half. */
    assert_int_equal(sshbpp_key_sign_cb(k, "ssh-ed25519", data, sizeof(data), sig, sizeof(sig),
                                        &slen),
                     0);
    assert_int_equal(slen, 4 + 11 + 4 + 64);
    assert_int_equal(sshbpp_key_verify(k, data, sizeof(data), sig, slen), 0);
    data[0] ^= 1;
    assert_int_equal(sshbpp_key_verify(k, data, sizeof(data), sig, slen), SSHBPP_ESIGNATURE);
    assert_int_equal(sshbpp_key_sign(k, "ssh-ed25519", data, sizeof(data), sig, 10, &slen),
                     SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_key_sign(k, "rsa-sha2-256", data, sizeof(data), sig, sizeof(sig),
                                     &slen),
                     SSHBPP_EINVAL);
    assert_true(sshbpp_key_public_line(k, line, sizeof(line)) > 0);
    assert_int_equal(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37), 0);
    assert_int_equal(strcmp(line + strlen(line) - 2, " x"), 0);
    assert_int_equal(sshbpp_key_public_line(k, line, 20), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_key_fingerprint(k, SSHBPP_FP_SHA256, fp, sizeof(fp)), 7 + 43);
    assert_int_equal(sshbpp_key_fingerprint(k, SSHBPP_FP_MD5, fp, sizeof(fp)), 4 + 47);
    assert_int_equal(sshbpp_key_fingerprint(k, SSHBPP_FP_MD5, fp, 50), SSHBPP_EBUFSMALL);
    sshbpp_key_free(k);
    /* The unchanged bytes, through the test's own armor, load too. */
    assert_int_equal(load_raw(raw, raw_len, &d), 0);
}

#define EXPECT_BAD(buf, n, code, text)                                                           \
    do {                                                                                         \
        sshbpp_key_diag d_;                                                                      \
        memset(&d_, 0, sizeof(d_));                                                              \
        assert_int_equal(load_raw((buf), (n), &d_), (code));                                     \
        if (strstr(d_.msg, (text)) == NULL)                                                      \
            fail_msg("diag \"%s\" lacks \"%s\"", d_.msg, (text));                                \
    } while (0)

static void
test_openssh_malformed(void **state)
{
    uint8_t *m = malloc(raw_len + 16);
    size_t pad, privlen, i;

    (void)state;
    assert_non_null(m);
    layout();
    privlen = get32(raw + off_privlen);

    /* check-int mismatch */
    memcpy(m, raw, raw_len);
    m[off_priv + 7] ^= 0x01;
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "check-int mismatch");

    /* bad padding: the last byte is the pad count; make it wrong */
    memcpy(m, raw, raw_len);
    pad = raw[raw_len - 1];
    assert_true(pad >= 1 && pad < 8);
    for (i = 0; i < pad; i++)
        assert_int_equal(raw[raw_len - pad + i], i + 1);
    m[raw_len - 1] = 9;
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "padding byte");

    /* wrong inner length: the ed25519 public key string claims 31 bytes */
    memcpy(m, raw, raw_len);
    assert_int_equal(get32(m + off_priv + 8 + 4 + 11), 32);
    put32(m + off_priv + 8 + 4 + 11, 31);
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "ed25519");
    /* ... or more than the section holds */
    put32(m + off_priv + 8 + 4 + 11, 0x7fffffff);
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "truncated");

    /* the private section length runs past the end */
    memcpy(m, raw, raw_len);
    put32(m + off_privlen, (uint32_t)privlen + 8);
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "truncated");
    /* not a multiple of the block size */
    memcpy(m, raw, raw_len);
    put32(m + off_privlen, (uint32_t)privlen - 1);
    EXPECT_BAD(m, raw_len - 1, SSHBPP_EKEYFILE, "not a multiple");

    /* bytes after the private section */
    memcpy(m, raw, raw_len);
    m[raw_len] = 0;
    EXPECT_BAD(m, raw_len + 1, SSHBPP_EKEYFILE, "after the private section");

    /* two keys */
    memcpy(m, raw, raw_len);
    put32(m + off_nkeys, 2);
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "exactly one");

    /* the header's public key differs from the private one */
    memcpy(m, raw, raw_len);
    m[off_privlen - 1] ^= 0x40;
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "does not match");

    /* the private key's own two public copies differ */
    memcpy(m, raw, raw_len);
    m[off_priv + 8 + 4 + 11 + 4 + 5] ^= 1;
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "copies differ");

    /* bad magic, truncated everywhere: never a crash, always EKEYFILE */
    memcpy(m, raw, raw_len);
    m[3] = 'X';
    EXPECT_BAD(m, raw_len, SSHBPP_EKEYFILE, "magic");
    for (i = 0; i < raw_len; i++) {
        sshbpp_key_diag d;

        assert_int_equal(load_raw(raw, i, &d), SSHBPP_EKEYFILE);
    }
    free(m);
}

static void
test_armor_and_base64(void **state)
{
    static const char trunc[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5v"
                                "bmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n";
    static const char noend[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n";
    static const char badb64[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl*nNz\n"
                                 "-----END OPENSSH PRIVATE KEY-----\n";
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;
    uint8_t out[16];

    (void)state;
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)trunc, strlen(trunc), NULL, &k, &d),
                     SSHBPP_EKEYFILE);
    assert_non_null(strstr(d.msg, "truncated"));
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)noend, strlen(noend), NULL, &k, &d),
                     SSHBPP_EKEYFILE);
    assert_non_null(strstr(d.msg, "END OPENSSH"));
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)badb64, strlen(badb64), NULL, &k, &d),
                     SSHBPP_EKEYFILE);
    assert_non_null(strstr(d.msg, "base64"));
    assert_null(k);
    /* strict base64 */
    assert_int_equal(sshbpp__b64_decode("QUJD", 4, out, sizeof(out)), 3);
    assert_int_equal(sshbpp__b64_decode("QUI=", 4, out, sizeof(out)), 2);
    assert_int_equal(sshbpp__b64_decode("QUJ=", 4, out, sizeof(out)), SSHBPP_EKEYFILE); /* bits */
    assert_int_equal(sshbpp__b64_decode("Q", 1, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("QU=I", 4, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("QUJD", 4, out, 3), SSHBPP_EKEYFILE); /* cap */
}

static void
test_encrypted(void **state)
{
    char cmd[512], path[128], pass[128];
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;

    (void)state;
    /* OpenSSH format with a passphrase: bcrypt, the error names the ways out. */
    snprintf(path, sizeof(path), "%s/enc_openssh", tmpdir);
    snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ed25519 -N secret -f %s", path);
    run(cmd);
    assert_int_equal(sshbpp_key_load_file(path, "secret", &k, &d), SSHBPP_EKEYBCRYPT);
    assert_non_null(strstr(d.msg, "ssh-agent"));
    assert_non_null(strstr(d.msg, "ssh-keygen -p -m PEM"));
    assert_non_null(strstr(sshbpp_strerror(SSHBPP_EKEYBCRYPT), "ssh-keygen -p -m PEM"));
    /* ... whose public key still reads, for the agent */
    assert_int_equal(sshbpp_key_load_public_file(path, &k, &d), 0);
    assert_false(sshbpp_key_has_private(k));
    sshbpp_key_free(k);
    k = NULL;
    /* PEM with a passphrase: none, wrong, right */
    snprintf(path, sizeof(path), "%s/enc_pem", tmpdir);
    snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ecdsa -m PEM -N secret -f %s", path);
    run(cmd);
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, &d), SSHBPP_EKEYPASSPHRASE);
    assert_int_equal(sshbpp_key_load_file(path, "wrong", &k, &d), SSHBPP_EKEYBADPASS);
    snprintf(pass, sizeof(pass), "secret");
    assert_int_equal(sshbpp_key_load_file(path, pass, &k, &d), 0);
    assert_int_equal(sshbpp_key_format(k), SSHBPP_KEYFMT_PEM);
    sshbpp_key_free(k);
    k = NULL;
    /* PKCS#8 with a passphrase */
    snprintf(path, sizeof(path), "%s/enc_p8", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:secret -out %s", path);
    run(cmd);
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, &d), SSHBPP_EKEYPASSPHRASE);
    assert_int_equal(sshbpp_key_load_file(path, "nope", &k, &d), SSHBPP_EKEYBADPASS);
    assert_int_equal(sshbpp_key_load_file(path, "secret", &k, &d), 0);
    assert_int_equal(sshbpp_key_format(k), SSHBPP_KEYFMT_PKCS8);
    sshbpp_key_free(k);
    /* every code is distinct and has its own message */
    assert_int_not_equal(SSHBPP_EKEYFILE, SSHBPP_EHOSTKEY);
    assert_string_not_equal(sshbpp_strerror(SSHBPP_EKEYFILE), sshbpp_strerror(SSHBPP_EHOSTKEY));
    assert_false(sshbpp_is_fatal(SSHBPP_EKEYPASSPHRASE));
    assert_false(sshbpp_is_fatal(SSHBPP_EKEYBADPASS));
    assert_false(sshbpp_is_fatal(SSHBPP_EKEYLINELONG));
}

static void
test_public_lines(void **state)
{
    static const char ok[] =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICEdXgsl8Xt8BWVAin4aTHYbMxu/j4XQgRsr5zsAzn+j a b\n";
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;
    char line[256], *big;
    size_t n;

    (void)state;
    assert_int_equal(sshbpp_key_parse_public_line(ok, strlen(ok), &k, &d), 0);
    assert_string_equal(sshbpp_key_comment(k), "a b");
    assert_true(sshbpp_key_public_line(k, line, sizeof(line)) > 0);
    assert_memory_equal(line, ok, strlen(ok) - 1);
    sshbpp_key_free(k);
    /* truncated base64 */
    assert_int_equal(sshbpp_key_parse_public_line(ok, 40, &k, &d), SSHBPP_EKEYFILE);
    /* the type word differs from the blob's */
    assert_int_equal(
        sshbpp_key_parse_public_line("ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAICEdXgsl8Xt8BWV"
                                     "Ain4aTHYbMxu/j4XQgRsr5zsAzn+j",
                                     84, &k, &d),
        SSHBPP_EKEYFILE);
    assert_non_null(strstr(d.msg, "differs"));
    /* wrong inner length: the 32-byte key field claims 33 (AAAAIQ) */
    assert_int_equal(
        sshbpp_key_parse_public_line("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISEdXgsl8Xt8BWVAin4aTHYb"
                                     "Mxu/j4XQgRsr5zsAzn+j",
                                     80, &k, &d),
        SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp_key_parse_public_line("ssh-dss AAAAB3NzaC1kc3M=", 24, &k, &d),
                     SSHBPP_EKEYTYPE);
    assert_int_equal(sshbpp_key_parse_public_line("", 0, &k, &d), SSHBPP_EKEYFILE);
    /* a 1 MiB line */
    n = 1u << 20;
    big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'A', n);
    memcpy(big, "ssh-ed25519 ", 12);
    big[n] = '\0';
    assert_int_equal(sshbpp_key_parse_public_line(big, n, &k, &d), SSHBPP_EKEYLINELONG);
    assert_int_equal(sshbpp_key_load_mem((const uint8_t *)big, n, NULL, &k, &d),
                     SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 1);
    free(big);
    assert_null(k);
}

/* ---- the agent ---------------------------------------------------------- */

enum { FAKE_GOOD, FAKE_CLOSE_ON_SIGN, FAKE_BAD_COUNT, FAKE_REFUSE };

struct fake {
    int lfd, mode;
    uint8_t blob[128];
    size_t blen;
    const sshbpp_key *key;
};

static int
read_msg(int fd, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t h[4];
    size_t got = 0, n;
    ssize_t r;

    while (got < 4) {
        if ((r = read(fd, h + got, 4 - got)) <= 0)
            return -1;
        got += (size_t)r;
    }
    n = get32(h);
    if (n > cap)
        return -1;
    for (got = 0; got < n; got += (size_t)r)
        if ((r = read(fd, buf + got, n - got)) <= 0)
            return -1;
    *len = n;
    return 0;
}

static void
write_all(int fd, const uint8_t *p, size_t n)
{
    ssize_t r;

    while (n > 0 && (r = write(fd, p, n)) > 0) {
        p += r;
        n -= (size_t)r;
    }
}

static void *
fake_agent(void *arg)
{
    struct fake *f = arg;
    uint8_t req[4096], ans[4096];
    size_t len, o;
    int fd = accept(f->lfd, NULL, NULL);

    if (fd < 0)
        return NULL;
    while (read_msg(fd, req, sizeof(req), &len) == 0) {
        o = 4;
        if (req[0] == SSHBPP__AGENTC_REQUEST_IDENTITIES) {
            if (f->mode == FAKE_REFUSE) {
                ans[o++] = SSHBPP__AGENT_FAILURE;
            } else {
                ans[o++] = SSHBPP__AGENT_IDENTITIES_ANSWER;
                put32(ans + o, f->mode == FAKE_BAD_COUNT ? 1000 : 2);
                o += 4;
                /* an ssh-dss identity we skip, then ours */
                put32(ans + o, 11);
                memcpy(ans + o + 4, "\0\0\0\x07ssh-dss", 11);
                o += 15;
                put32(ans + o, 3);
                memcpy(ans + o + 4, "dss", 3);
                o += 7;
                put32(ans + o, (uint32_t)f->blen);
                memcpy(ans + o + 4, f->blob, f->blen);
                o += 4 + f->blen;
                put32(ans + o, 4);
                memcpy(ans + o + 4, "mine", 4);
                o += 8;
            }
        } else if (req[0] == SSHBPP__AGENTC_SIGN_REQUEST) {
            uint32_t bl = get32(req + 1), dl = get32(req + 5 + bl);
            size_t slen = 0;
            uint8_t sig[256];

            if (f->mode == FAKE_CLOSE_ON_SIGN)
                break; /* the agent dies mid-use */
            assert_int_equal(sshbpp_key_sign(f->key, "ssh-ed25519", req + 9 + bl, dl, sig,
                                             sizeof(sig), &slen),
                             0);
            ans[o++] = SSHBPP__AGENT_SIGN_RESPONSE;
            put32(ans + o, (uint32_t)slen);
            memcpy(ans + o + 4, sig, slen);
            o += 4 + slen;
        } else {
            ans[o++] = SSHBPP__AGENT_FAILURE;
        }
        put32(ans, (uint32_t)(o - 4));
        write_all(fd, ans, o);
    }
    close(fd);
    return NULL;
}

static void
agent_run(int mode, const sshbpp_key *key, int (*check)(sshbpp_agent *, const sshbpp_key *))
{
    struct sockaddr_un sa;
    struct fake f;
    pthread_t th;
    sshbpp_agent *a = NULL;
    char path[128];

    memset(&f, 0, sizeof(f));
    f.mode = mode;
    f.key = key;
    assert_int_equal(sshbpp_key_public_blob(key, f.blob, sizeof(f.blob), &f.blen), 0);
    snprintf(path, sizeof(path), "%s/agent.%d", tmpdir, mode);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    f.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(f.lfd >= 0);
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f.lfd, 1), 0);
    assert_int_equal(pthread_create(&th, NULL, fake_agent, &f), 0);
    assert_int_equal(sshbpp_agent_open(path, 5000, &a), 0);
    check(a, key);
    sshbpp_agent_close(a);
    pthread_join(th, NULL);
    close(f.lfd);
    unlink(path);
}

static int
check_good(sshbpp_agent *a, const sshbpp_key *key)
{
    sshbpp_key **ids;
    sshbpp_agent_signer s;
    uint8_t sig[256], data[] = "sign me";
    size_t n, slen;

    assert_int_equal(sshbpp_agent_list(a, &ids, &n), 0);
    assert_int_equal(n, 1); /* ssh-dss left out */
    assert_true(sshbpp_key_equal(ids[0], key));
    assert_string_equal(sshbpp_key_comment(ids[0]), "mine");
    s.agent = a;
    s.key = ids[0];
    assert_int_equal(sshbpp_agent_sign_cb(&s, "ssh-ed25519", data, sizeof(data), sig,
                                          sizeof(sig), &slen),
                     0);
    assert_int_equal(sshbpp_key_verify(key, data, sizeof(data), sig, slen), 0);
    /* a signature algorithm the key cannot make is refused locally */
    assert_int_equal(sshbpp_agent_sign_cb(&s, "rsa-sha2-256", data, sizeof(data), sig,
                                          sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    sshbpp_agent_free_list(ids, n);
    return 0;
}

static int
check_gone(sshbpp_agent *a, const sshbpp_key *key)
{
    sshbpp_key **ids;
    uint8_t sig[256], data[] = "x";
    size_t n, slen;

    (void)key;
    assert_int_equal(sshbpp_agent_list(a, &ids, &n), 0);
    assert_int_equal(sshbpp_agent_sign(a, ids[0], "ssh-ed25519", data, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    /* and it stays failed */
    assert_int_equal(sshbpp_agent_sign(a, ids[0], "ssh-ed25519", data, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    sshbpp_agent_free_list(ids, n);
    return 0;
}

static int
check_bad_count(sshbpp_agent *a, const sshbpp_key *key)
{
    sshbpp_key **ids;
    size_t n;

    (void)key;
    assert_int_equal(sshbpp_agent_list(a, &ids, &n), SSHBPP_EAGENT);
    return 0;
}

static int
check_refused(sshbpp_agent *a, const sshbpp_key *key)
{
    sshbpp_key **ids;
    size_t n;

    (void)key;
    assert_int_equal(sshbpp_agent_list(a, &ids, &n), SSHBPP_EAGENTREFUSED);
    return 0;
}

static void
test_agent_fake(void **state)
{
    sshbpp_key *k = NULL;
    sshbpp_agent *a = NULL;
    char path[160];

    (void)state;
    assert_int_equal(sshbpp_key_load_file(keypath, NULL, &k, NULL), 0);
    agent_run(FAKE_GOOD, k, check_good);
    agent_run(FAKE_CLOSE_ON_SIGN, k, check_gone);
    agent_run(FAKE_BAD_COUNT, k, check_bad_count);
    agent_run(FAKE_REFUSE, k, check_refused);
    snprintf(path, sizeof(path), "%s/no-agent", tmpdir);
    assert_int_equal(sshbpp_agent_open(path, 1000, &a), SSHBPP_EAGENT);
    sshbpp_key_free(k);
}

static void
test_agent_codec(void **state)
{
    static const uint8_t sig_wrong_name[] = {14, 0, 0, 0, 15, 0, 0, 0, 7, 's', 's', 'h', '-',
                                             'r', 's', 'a', 0, 0, 0, 0};
    static const uint8_t short_answer[] = {12, 0, 0};
    static const uint8_t trailing[] = {12, 0, 0, 0, 0, 1};
    sshbpp_key **ids;
    uint8_t sig[64];
    size_t n, slen;

    (void)state;
    assert_int_equal(sshbpp__agent_parse_sign(sig_wrong_name, sizeof(sig_wrong_name),
                                              "rsa-sha2-256", sig, sizeof(sig), &slen),
                     SSHBPP_EAGENT);
    assert_int_equal(sshbpp__agent_parse_identities(short_answer, sizeof(short_answer), &ids, &n),
                     SSHBPP_EAGENT);
    assert_int_equal(sshbpp__agent_parse_identities(trailing, sizeof(trailing), &ids, &n),
                     SSHBPP_EAGENT);
    assert_int_equal(sshbpp__agent_parse_identities(trailing, 5, &ids, &n), 0);
    assert_int_equal(n, 0);
    sshbpp_agent_free_list(ids, n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openssh_loads),   cmocka_unit_test(test_openssh_malformed),
        cmocka_unit_test(test_armor_and_base64), cmocka_unit_test(test_encrypted),
        cmocka_unit_test(test_public_lines),    cmocka_unit_test(test_agent_fake),
        cmocka_unit_test(test_agent_codec),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
