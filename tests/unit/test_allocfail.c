/*
 * test_allocfail.c: every allocation may fail. The binary is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, and OpenSSL's allocator
 * goes through the same wrappers (CRYPTO_set_mem_functions, first thing in
 * main), so the N-th allocation of the library or of libcrypto can be made
 * to fail. A scenario of engine and key exchange set-up, a complete key
 * exchange between two sans-I/O ends (curve25519, ed25519) and the first
 * packets both ways is run once to count its allocations, then again for
 * every N from 1 to that count with the N-th failing (and likewise for
 * the key parsers: three private key formats, a public line, known_hosts
 * and authorized_keys text, signing): each run must end
 * either in success or in a clean, known error code, never a crash; the
 * sanitizer and valgrind stages of `make test` check that nothing leaks
 * on any of those paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "sshbpp/sshbpp.h"
#include "kex_ends.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static int armed;                 /* counting (and maybe failing) */
static int ours_only;             /* libcrypto's allocations neither counted nor failed */
static unsigned long count, fail_at; /* fail_at 0: never */

static int
should_fail(void)
{
    if (!armed)
        return 0;
    return ++count == fail_at;
}

void *
__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
    return should_fail() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

static void *
ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (ours_only)
        return __real_malloc(n);
    return __wrap_malloc(n);
}

static void *
ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (ours_only)
        return __real_realloc(p, n);
    return __wrap_realloc(p, n);
}

static void
ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* ---- the scenario (two kex ends: kex_ends.h) -------------------------------- */

static int
scenario(void)
{
    static const sshbpp_kex_config cfg = {"curve25519-sha256", "ssh-ed25519",
                                          "aes128-ctr,chacha20-poly1305@openssh.com",
                                          "hmac-sha2-256", "none"};
    ke_end c = {0}, s = {0};
    unsigned i;
    uint8_t msg[64];
    int r = SSHBPP_ENOMEM, a, b, rounds;

    if ((c.e = sshbpp_engine_new()) == NULL || (s.e = sshbpp_engine_new()) == NULL ||
        (c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg, &ke_transport, &c)) == NULL ||
        (s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &ke_transport, &s)) == NULL)
        goto out;
    if ((r = sshbpp_kex_generate_hostkey(s.k, "ssh-ed25519")) != 0 ||
        (r = sshbpp_kex_set_versions(c.k, "SSH-2.0-c", "SSH-2.0-s")) != 0 ||
        (r = sshbpp_kex_set_versions(s.k, "SSH-2.0-c", "SSH-2.0-s")) != 0 ||
        (r = sshbpp_kex_start(c.k)) != 0)
        goto out;
    for (rounds = 0; rounds < 20; rounds++) {
        if ((a = ke_pump(&c, &s)) < 0 || (b = ke_pump(&s, &c)) < 0) {
            r = a < 0 ? a : b;
            goto out;
        }
        if (a == 0 && b == 0)
            break;
    }
    if (sshbpp_kex_completed(c.k) != 1 || sshbpp_kex_completed(s.k) != 1) {
        r = SSHBPP_EPROTO; /* an exchange that stalls without an error */
        goto out;
    }
    memset(msg, 0x33, sizeof(msg));
    msg[0] = 94;
    for (i = 0; i < 3; i++)
        if ((r = sshbpp_engine_send(c.e, msg, sizeof(msg))) != 0 ||
            (r = sshbpp_engine_send(s.e, msg, sizeof(msg))) != 0)
            goto out;
    if ((r = ke_pump(&c, &s)) < 0 || (r = ke_pump(&s, &c)) < 0)
        goto out;
    r = s.app == 3 && c.app == 3 ? 0 : SSHBPP_EPROTO;
out:
    sshbpp_kex_free(c.k);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(c.e);
    sshbpp_engine_free(s.e);
    return r;
}

static void
test_every_allocation_fails_cleanly(void **state)
{
    unsigned long total, n, ok = 0, failed = 0, enomem = 0;
    int r;

    (void)state;
    /* warm-up: OpenSSL's one-time initialisation and fetch caches */
    assert_int_equal(scenario(), 0);
    count = 0;
    fail_at = 0;
    armed = 1;
    r = scenario();
    armed = 0;
    total = count;
    assert_int_equal(r, 0);
    assert_true(total > 20);
    for (n = 1; n <= total; n++) {
        count = 0;
        fail_at = n;
        armed = 1;
        r = scenario();
        armed = 0;
        if (r == 0) {
            ok++; /* a failure that was absorbed (a cache, a retry) */
            continue;
        }
        if (r > 0 || strcmp(sshbpp_err_name(r), "SSHBPP_UNKNOWN") == 0)
            fail_msg("allocation %lu of %lu: result %d is not an sshbpp error", n, total, r);
        failed++;
        enomem += r == SSHBPP_ENOMEM;
    }
    print_message("%lu allocations; failing each: %lu clean errors (%lu SSHBPP_ENOMEM), "
                  "%lu absorbed\n", total, failed, enomem, ok);
    assert_true(failed > 0);
    assert_true(enomem > 0);
    /* and afterwards everything works again */
    assert_int_equal(scenario(), 0);
}

/* ---- the key parsers -------------------------------------------------------- */

static char *files[6];  /* ed25519 openssh, ecdsa PEM + passphrase, rsa openssh, pub */
static size_t flens[6];

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    b = __real_malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void
make_key_files(void)
{
    char dir[] = "/tmp/sshbpp-allocfail.XXXXXX", cmd[1024], path[300];
    static const char *const names[] = {"ed", "ec", "rsa", "ed.pub"};
    size_t i;

    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "cd %s && ssh-keygen -q -t ed25519 -N '' -C a -f ed && "
             "ssh-keygen -q -t ecdsa -b 256 -m PEM -N 'pass word' -C b -f ec && "
             "ssh-keygen -q -t rsa -b 2048 -N '' -C c -f rsa",
             dir);
    if (system(cmd) != 0)
        fail_msg("ssh-keygen failed (openssh-client is a test dependency)");
    for (i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        files[i] = slurp(path, &flens[i]);
        unlink(path);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fail_msg("cleanup of %s failed", dir);
}

/* Loads every key format, a public line, a known_hosts and an
 * authorized_keys text, signs and fingerprints. */
static int
key_scenario(void)
{
    static const char *const pass[3] = {NULL, "pass word", NULL};
    char kh[1200], ak[1200], fp[128];
    uint8_t sig[1024];
    size_t siglen, i;
    sshbpp_key *k = NULL;
    sshbpp_known_hosts *khs = NULL;
    sshbpp_authorized_keys *aks = NULL;
    int r;

    for (i = 0; i < 3; i++) {
        if ((r = sshbpp_key_load_mem((const uint8_t *)files[i], flens[i], pass[i], &k, NULL)) != 0)
            return r;
        r = sshbpp_key_sign(k, sshbpp_key_sig_alg(k, NULL), (const uint8_t *)"x", 1, sig,
                            sizeof(sig), &siglen);
        if (r == 0)
            r = sshbpp_key_fingerprint(k, SSHBPP_FP_SHA256, fp, sizeof(fp)) < 0 ? SSHBPP_ENOMEM
                                                                                 : 0;
        sshbpp_key_free(k);
        k = NULL;
        if (r != 0)
            return r;
    }
    if ((r = sshbpp_key_parse_public_line(files[3], flens[3], &k, NULL)) != 0)
        return r;
    sshbpp_key_free(k);
    snprintf(kh, sizeof(kh), "host1,10.0.0.1 %s|1|c2FsdA==|aGFzaA== %s", files[3], files[3]);
    if ((r = sshbpp_known_hosts_load_mem(kh, strlen(kh), "kh", &khs, NULL, NULL)) != 0)
        return r;
    sshbpp_known_hosts_free(khs);
    snprintf(ak, sizeof(ak), "from=\"127.0.0.1\",no-pty %scommand=\"true\" %s", files[3],
             files[3]);
    if ((r = sshbpp_authorized_keys_load_mem(ak, strlen(ak), &aks, NULL, NULL)) != 0)
        return r;
    sshbpp_authorized_keys_free(aks);
    return 0;
}

static void
test_key_parsers_fail_cleanly(void **state)
{
    unsigned long total, n, ok = 0, failed = 0;
    int r;

    (void)state;
    make_key_files();
    /* sshbpp's own allocations only: failing libcrypto's inside key
     * decoding is the first test's business, and thousands of them would
     * make this one slow */
    ours_only = 1;
    assert_int_equal(key_scenario(), 0);
    count = 0;
    fail_at = 0;
    armed = 1;
    r = key_scenario();
    armed = 0;
    total = count;
    assert_int_equal(r, 0);
    assert_true(total > 10);
    for (n = 1; n <= total; n++) {
        count = 0;
        fail_at = n;
        armed = 1;
        r = key_scenario();
        armed = 0;
        if (r == 0) {
            ok++;
            continue;
        }
        if (r > 0 || strcmp(sshbpp_err_name(r), "SSHBPP_UNKNOWN") == 0)
            fail_msg("allocation %lu of %lu: result %d is not an sshbpp error", n, total, r);
        failed++;
    }
    print_message("key parsers: %lu allocations of sshbpp's; failing each: %lu clean errors, %lu absorbed\n",
                  total, failed, ok);
    assert_true(failed > 0);
    assert_int_equal(key_scenario(), 0);
    ours_only = 0;
    for (n = 0; n < 4; n++)
        free(files[n]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
        cmocka_unit_test(test_key_parsers_fail_cleanly),
    };
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
