/*
 * ctgrind.c: MAC and tag comparisons are constant-time, checked with
 * valgrind memcheck in the style of ctgrind.
 *
 * Method. Bytes an attacker chooses and whose comparison must not leak
 * (the received MAC or tag) are marked undefined with
 * VALGRIND_MAKE_MEM_UNDEFINED. Memcheck then reports every conditional jump
 * (and every address) that depends on them: a compare that exits early, or
 * branches per byte, is reported; a constant-time one is not. The number of
 * errors is read with VALGRIND_COUNT_ERRORS around each case:
 *  - the primitive (CRYPTO_memcmp, which every MAC/tag compare in src/
 *    uses) at each MAC/tag length: 0 errors, its result made defined
 *    before it is looked at;
 *  - the whole receive path of the engine for every MAC and AEAD mode, a
 *    valid and a forged packet with the MAC/tag bytes undefined as they
 *    arrive: at most 2 errors. The verdict is one bit derived from all the
 *    bytes; memcheck reports where it is branched on: in the verify itself
 *    and, when the compiler turned that into a conditional move, once more
 *    where the caller tests the returned code (for GCM the decision is
 *    OpenSSL's, inside EVP_DecryptFinal_ex). A per-byte compare instead
 *    gives one error per byte it looks at: at least 12 (the shortest tag)
 *    for a valid packet, which compares every byte;
 *  - the self-checks that prove the test can fail: a test-only early-exit
 *    compare is reported at the primitive level, and a receive path whose
 *    verify uses it (computed MAC, then that compare) exceeds the path
 *    bound.
 * Run without valgrind, the program re-runs itself under
 * `valgrind --tool=memcheck` and fails loudly if valgrind is missing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <valgrind/memcheck.h>

#include "alg.h"
#include "sshbpp/sshbpp.h"
#include "testutil.h"

static int failures;

/* Errors the one-bit verdict may cause on the receive path (see above). */
#define PATH_BOUND 2

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL: " __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

static unsigned long
errors_now(void)
{
    return (unsigned long)VALGRIND_COUNT_ERRORS;
}

/* Test-only: a variable-time compare (exits at the first difference). */
static int __attribute__((noinline))
vartime_memcmp(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    size_t i;

    for (i = 0; i < n; i++)
        if (x[i] != y[i])
            return 1;
    return 0;
}

typedef int (*cmp_fn)(const void *, const void *, size_t);

static int
ossl_cmp(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n);
}

/* Errors that comparing n bytes against an undefined copy causes. */
static unsigned long
primitive_errors(cmp_fn cmp, size_t n, int equal)
{
    uint8_t a[64], b[64];
    unsigned long before;
    volatile int r;
    int res;

    memset(a, 0xa5, sizeof(a));
    memcpy(b, a, sizeof(b));
    if (!equal)
        b[n - 1] ^= 1;
    VALGRIND_MAKE_MEM_UNDEFINED(b, n);
    before = errors_now();
    res = cmp(a, b, n);
    VALGRIND_MAKE_MEM_DEFINED(&res, sizeof(res)); /* declassify the verdict */
    r = res;
    (void)r;
    return errors_now() - before;
}

static void
check_primitive(void)
{
    static const size_t lens[] = {12, 16, 20, 32, 64};
    size_t i;
    unsigned long e;
    int eq;

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        for (eq = 0; eq <= 1; eq++) {
            e = primitive_errors(ossl_cmp, lens[i], eq);
            printf("CRYPTO_memcmp %2zu bytes (%s): %lu errors\n", lens[i],
                   eq ? "equal" : "differ", e);
            CHECK(e == 0, "CRYPTO_memcmp(%zu) branches on secret data (%lu errors)", lens[i], e);
            e = primitive_errors(vartime_memcmp, lens[i], eq);
            printf("vartime_memcmp %2zu bytes (%s): %lu errors (self-check, must be > 0)\n",
                   lens[i], eq ? "equal" : "differ", e);
            CHECK(e > 0, "the variable-time compare went unnoticed: the check cannot fail");
        }
}

/* One packet a -> b with its trailing MAC/tag undefined; returns the errors
 * rx_next caused and the result in *res. */
static unsigned long
path_errors(const char *cipher, const char *mac, int forge, int *res)
{
    static tu_keyset ks;
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_buf wire = {0};
    sshbpp_packet pkt;
    uint8_t msg[200];
    unsigned long before, e;
    size_t tl;
    int r;

    if (tu_keyset_make(&ks, cipher, mac, 7) != 0 || tu_set_keys_pair(a, b, &ks) != 0) {
        fprintf(stderr, "FAIL: keys for %s %s\n", cipher, mac);
        exit(1);
    }
    tl = tu_keyset_maclen(&ks);
    memset(msg, 0x42, sizeof(msg));
    msg[0] = 94;
    if (sshbpp_engine_send(a, msg, sizeof(msg)) != 0 || tu_take_tx(a, &wire) == 0) {
        fprintf(stderr, "FAIL: send\n");
        exit(1);
    }
    if (forge)
        wire.p[wire.len - 1] ^= 0x01;
    VALGRIND_MAKE_MEM_UNDEFINED(wire.p + wire.len - tl, tl);
    before = errors_now();
    r = sshbpp_engine_feed(b, wire.p, wire.len);
    if (r == 0)
        r = sshbpp_engine_rx_next(b, &pkt);
    VALGRIND_MAKE_MEM_DEFINED(&r, sizeof(r));
    e = errors_now() - before;
    *res = r;
    tu_buf_free(&wire);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
    return e;
}

static void
check_paths(void)
{
    static const char *const modes[][2] = {
        {"aes128-ctr", "hmac-sha2-256"},
        {"aes128-ctr", "hmac-sha2-512-etm@openssh.com"},
        {"aes128-ctr", "hmac-sha1"},
        {"aes128-ctr", "hmac-sha1-96-etm@openssh.com"},
        {"aes128-ctr", "umac-64@openssh.com"},
        {"aes128-ctr", "umac-128-etm@openssh.com"},
        {"aes256-cbc", "hmac-sha2-256"},
        {"aes256-cbc", "hmac-sha2-256-etm@openssh.com"},
        {"chacha20-poly1305@openssh.com", NULL},
        {"aes128-gcm@openssh.com", NULL},
        {"aes256-gcm@openssh.com", NULL},
    };
    size_t i;
    unsigned long e;
    int forge, r;

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        for (forge = 0; forge <= 1; forge++) {
            e = path_errors(modes[i][0], modes[i][1], forge, &r);
            printf("rx %s + %s, %s: result %d, %lu errors\n", modes[i][0],
                   modes[i][1] != NULL ? modes[i][1] : "-", forge ? "forged" : "valid", r, e);
            CHECK(forge ? r < 0 : r == 0, "%s %s: unexpected result %d", modes[i][0],
                  modes[i][1] != NULL ? modes[i][1] : "-", r);
            CHECK(e <= PATH_BOUND, "%s %s: %lu decisions depend on the MAC bytes (only the "
                  "verdict may)", modes[i][0], modes[i][1] != NULL ? modes[i][1] : "-", e);
        }
}

/* Self-check at the path level: a verify that computes the MAC with our
 * code and compares it with the early-exit loop must exceed the bound. */
static void
check_path_selfcheck(void)
{
    static const uint8_t key[32] = {1, 2, 3};
    const sshbpp__mac_desc *d = sshbpp__mac_find("hmac-sha2-256");
    sshbpp__mac m;
    uint8_t data[100], want[64], got[64];
    unsigned long before, e;
    int r;

    memset(&m, 0, sizeof(m));
    memset(data, 7, sizeof(data));
    if (d == NULL || sshbpp__mac_init(&m, d, key) != 0 ||
        sshbpp__mac_compute(&m, 3, data, sizeof(data), want) != 0) {
        fprintf(stderr, "FAIL: hmac set-up\n");
        exit(1);
    }
    memcpy(got, want, sizeof(got));
    VALGRIND_MAKE_MEM_UNDEFINED(got, 32);
    before = errors_now();
    r = sshbpp__mac_verify(&m, 3, data, sizeof(data), got);
    VALGRIND_MAKE_MEM_DEFINED(&r, sizeof(r));
    e = errors_now() - before;
    printf("sshbpp__mac_verify (valid): result %d, %lu errors\n", r, e);
    CHECK(r == 0 && e <= PATH_BOUND, "sshbpp__mac_verify: result %d, %lu errors", r, e);
    if (sshbpp__mac_compute(&m, 3, data, sizeof(data), want) != 0)
        exit(1);
    VALGRIND_MAKE_MEM_UNDEFINED(got, 32);
    before = errors_now();
    r = vartime_memcmp(want, got, 32) != 0 ? SSHBPP_EMAC : 0;
    VALGRIND_MAKE_MEM_DEFINED(&r, sizeof(r));
    e = errors_now() - before;
    printf("verify with vartime_memcmp (valid): %lu errors (self-check, must be > %d)\n", e, PATH_BOUND);
    CHECK(e > PATH_BOUND, "a variable-time verify stayed within the path bound: the check cannot fail");
    sshbpp__mac_free(&m);
}

int
main(int argc, char **argv)
{
    if (!RUNNING_ON_VALGRIND) {
        /* Re-run under memcheck; its own error exit code is not used: the
         * child counts the errors of each case and exits non-zero itself. */
        pid_t pid;
        int st;

        (void)argc;
        if (system("valgrind --version >/dev/null 2>&1") != 0) {
            fprintf(stderr, "FAIL: valgrind is not installed (make deps-test)\n");
            return 1;
        }
        fflush(stdout);
        if ((pid = fork()) == 0) {
            execlp("valgrind", "valgrind", "--tool=memcheck", "--quiet", "--error-limit=no",
                   "--leak-check=no", argv[0], (char *)NULL);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &st, 0) != pid) {
            fprintf(stderr, "FAIL: cannot run valgrind\n");
            return 1;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "FAIL: the check under valgrind failed (status %d)\n", st);
            return 1;
        }
        printf("constant-time check passed under valgrind\n");
        return 0;
    }
    check_primitive();
    check_paths();
    check_path_selfcheck();
    printf("%d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
