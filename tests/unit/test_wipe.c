/*
 * test_wipe.c: no freed block of ours holds a secret.
 *
 * Method. The binary is linked with -Wl,--wrap for malloc, calloc, realloc,
 * free and strdup, so every allocation the library makes goes through the
 * wrappers below, which keep the requested size of each live block in a
 * table. free() scans the block, before releasing it, for every secret the
 * test has recorded so far; realloc() is done as malloc + copy + free, so a
 * block that held a secret and was merely grown (glibc may move it without
 * wiping the old copy) counts as a leak too. A secret is found if any of its
 * 8-byte chunks (offsets 0, 8, ..., and the last 8 bytes) appears anywhere
 * in the block: a partial copy is a leak as well. Secrets are random bytes
 * kept in static storage (the test's own heap is never scanned for them
 * while they are live in it).
 *
 * Where the secrets come from:
 *  - engine: cipher keys, IVs and MAC keys drawn at random and installed
 *    with sshbpp_engine_set_keys(), then traffic, a rekey to fresh keys,
 *    traffic, and the final free; every cipher x every MAC.
 *  - key exchange: the library's own internal calls are wrapped too (kex.c
 *    calls kexalg.c through sshbpp__kex_derive, sshbpp__eph_generate,
 *    sshbpp__eph_generate_group, sshbpp__eph_reply), so the test sees the
 *    shared secret K (as hashed), the exchange hash H of every exchange,
 *    every derived key/IV/MAC key, and the ephemeral private keys (read
 *    from the EVP_PKEY with EVP_PKEY_get_raw_private_key or the "priv"
 *    parameter). Each method: the first exchange, a rekey, traffic, free.
 *  - key files: an ECDSA key written by ssh-keygen, unencrypted and as PEM
 *    with a passphrase, loaded (right and wrong passphrase), used to sign
 *    and freed; the secrets are the passphrase and the private scalar (read
 *    from the unencrypted openssh-key-v1 copy of the same key).
 *
 * Out of scope, and why: OpenSSL's own copies (key schedules, EVP_PKEY
 * private values) live in memory libcrypto allocates; its allocator is
 * pointed at the same scanner (CRYPTO_set_mem_functions, first thing in
 * main) and what it finds there is reported, not asserted. Stack copies
 * (H, K intermediates in locals) are not seen by an allocator hook; the
 * code wipes them with OPENSSL_cleanse. The session id (the first H) is
 * kept by design until sshbpp_kex_free(), which wipes it: it is scanned for
 * at that free as well.
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
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#include "kex/kex_int.h"
#include "sshbpp/sshbpp.h"
#include "kex_ends.h"
#include "testutil.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);

/* ---- secrets -------------------------------------------------------------- */

#define MAX_SECRETS 4096
#define SECRET_MAX 1100 /* DH group 18 K: 1029 bytes */
#define CHUNK 8

struct secret {
    uint8_t v[SECRET_MAX];
    size_t len;
    char what[80];
};
static struct secret secrets[MAX_SECRETS];
static size_t nsecrets;

static void
add_secret(const void *p, size_t len, const char *fmt, ...)
{
    struct secret *s;
    va_list ap;

    if (len < CHUNK)
        return;
    if (nsecrets == MAX_SECRETS)
        fail_msg("secret table full");
    if (len > SECRET_MAX)
        len = SECRET_MAX;
    s = &secrets[nsecrets++];
    memcpy(s->v, p, len);
    s->len = len;
    va_start(ap, fmt);
    vsnprintf(s->what, sizeof(s->what), fmt, ap);
    va_end(ap);
}

static void
clear_secrets(void)
{
    OPENSSL_cleanse(secrets, sizeof(secrets));
    nsecrets = 0;
}

/* ---- the allocation table -------------------------------------------------- */

#define TAB_BITS 18
#define TAB_SIZE (1u << TAB_BITS)
struct slot {
    void *p;
    size_t n;
};
static struct slot tab[TAB_SIZE];
static int scanning;                      /* free() scans */
static unsigned long ours_leaks, ossl_hits, scanned, untracked;
static char first_leak[200];

static size_t
slot_of(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> (64 - TAB_BITS)) & (TAB_SIZE - 1);
}

static void
tab_put(void *p, size_t n)
{
    size_t i = slot_of(p), k;

    for (k = 0; k < TAB_SIZE; k++, i = (i + 1) & (TAB_SIZE - 1))
        if (tab[i].p == NULL || tab[i].p == p) {
            tab[i].p = p;
            tab[i].n = n;
            return;
        }
    abort(); /* more live blocks than the table holds */
}

/* Removes p; returns its size, or (size_t)-1 if it was not tracked. */
static size_t
tab_take(void *p)
{
    size_t i = slot_of(p), j, h, n, k;

    for (k = 0; k < TAB_SIZE; k++, i = (i + 1) & (TAB_SIZE - 1)) {
        if (tab[i].p == NULL)
            return (size_t)-1;
        if (tab[i].p == p)
            break;
    }
    if (k == TAB_SIZE)
        return (size_t)-1;
    n = tab[i].n;
    tab[i].p = NULL;
    /* backward-shift deletion keeps probe chains intact */
    for (j = (i + 1) & (TAB_SIZE - 1); tab[j].p != NULL; j = (j + 1) & (TAB_SIZE - 1)) {
        h = slot_of(tab[j].p);
        if (((j - h) & (TAB_SIZE - 1)) >= ((j - i) & (TAB_SIZE - 1))) {
            tab[i] = tab[j];
            tab[j].p = NULL;
            i = j;
        }
    }
    return n;
}

static int
contains(const uint8_t *hay, size_t n, const uint8_t *needle)
{
    size_t i;

    for (i = 0; i + CHUNK <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, CHUNK) == 0)
            return 1;
    return 0;
}

/* Returns the index of the first secret found in p[0..n), or -1. */
static long
find_secret(const uint8_t *p, size_t n)
{
    size_t s, off;

    VALGRIND_MAKE_MEM_DEFINED(p, n); /* blocks need not be fully written */
    for (s = 0; s < nsecrets; s++) {
        const struct secret *x = &secrets[s];
        for (off = 0; off < x->len; off += CHUNK) {
            size_t o = off + CHUNK <= x->len ? off : x->len - CHUNK;
            if (contains(p, n, x->v + o))
                return (long)s;
        }
    }
    return -1;
}

static void
scan_block(void *p, size_t n, int from_ossl)
{
    long s;

    if (!scanning || p == NULL)
        return;
    scanned++;
    if ((s = find_secret(p, n)) < 0)
        return;
    if (from_ossl) {
        ossl_hits++;
        return;
    }
#ifdef VALGRIND_PRINTF_BACKTRACE
    /* under valgrind: where the block is freed */
    VALGRIND_PRINTF_BACKTRACE("test_wipe: %s in a freed block of %lu bytes\n", secrets[s].what,
                              (unsigned long)n);
#endif
    if (ours_leaks++ == 0)
        snprintf(first_leak, sizeof(first_leak), "%s in a freed block of %zu bytes",
                 secrets[s].what, n);
}

void *
__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    if (p != NULL)
        tab_put(p, n);
    return p;
}

void *
__wrap_calloc(size_t n, size_t m)
{
    void *p = __real_calloc(n, m);
    if (p != NULL)
        tab_put(p, n * m); /* calloc checked the product */
    return p;
}

char *
__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void
release(void *p, int from_ossl)
{
    size_t n;

    if (p == NULL)
        return;
    if ((n = tab_take(p)) == (size_t)-1) {
        untracked++; /* allocated by libc itself (stdio, ...) */
    } else {
        scan_block(p, n, from_ossl);
    }
    __real_free(p);
}

void
__wrap_free(void *p)
{
    release(p, 0);
}

static void *
grow(void *p, size_t n, int from_ossl)
{
    size_t old;
    void *q;

    if (p == NULL)
        return __wrap_malloc(n);
    if (n == 0) {
        release(p, from_ossl);
        return NULL;
    }
    if ((q = __wrap_malloc(n)) == NULL)
        return NULL;
    /* the old size is needed to copy; an untracked block goes to libc */
    if ((old = tab_take(p)) == (size_t)-1) {
        __real_free(q);
        (void)tab_take(q);
        q = __real_realloc(p, n);
        if (q != NULL)
            tab_put(q, n);
        return q;
    }
    tab_put(p, old);
    memcpy(q, p, old < n ? old : n);
    release(p, from_ossl);
    return q;
}

void *
__wrap_realloc(void *p, size_t n)
{
    return grow(p, n, 0);
}

static void *
ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return __wrap_malloc(n);
}

static void *
ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return grow(p, n, 1);
}

static void
ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    release(p, 1);
}

static void
start_scan(void)
{
    ours_leaks = ossl_hits = scanned = 0;
    first_leak[0] = '\0';
    scanning = 1;
}

/* Ends a scenario: no block of ours may have held a secret. */
static void
end_scan(const char *scenario)
{
    scanning = 0;
    print_message("%-48s %6lu blocks scanned, %lu of ours with a secret, "
                  "%lu of OpenSSL's (reported only)\n",
                  scenario, scanned, ours_leaks, ossl_hits);
    clear_secrets();
    if (ours_leaks != 0)
        fail_msg("%s: %lu freed blocks held a secret; first: %s", scenario, ours_leaks,
                 first_leak);
    assert_true(scanned > 0);
}

/* ---- the test's own self-check ------------------------------------------------ */

/* The scanner finds what it should: a block freed unwiped is reported, a
 * wiped one is not, a realloc'ed one is, and so is a half copy. The
 * wrappers are called by name: what the library's calls resolve to, and
 * out of reach of the compiler's malloc/free elision. */
static void
test_scanner_finds_unwiped(void **state)
{
    uint8_t key[32];
    uint8_t *p;

    (void)state;
    assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
    start_scan();
    add_secret(key, sizeof(key), "self-test key");
    p = __wrap_malloc(100);
    assert_non_null(p);
    memcpy(p + 50, key, 32);
    __wrap_free(p);
    assert_int_equal(ours_leaks, 1);
    p = __wrap_malloc(100);
    assert_non_null(p);
    memcpy(p + 3, key + 16, 16);
    __wrap_free(p);
    assert_int_equal(ours_leaks, 2);
    p = __wrap_malloc(40);
    assert_non_null(p);
    memcpy(p, key, 32);
    p = __wrap_realloc(p, 4000);
    assert_non_null(p);
    assert_int_equal(ours_leaks, 3); /* the old copy was left behind */
    OPENSSL_cleanse(p, 4000);
    __wrap_free(p);
    assert_int_equal(ours_leaks, 3);
    scanning = 0;
    clear_secrets();
}

/* ---- engine ----------------------------------------------------------------------- */

static tu_keyset ks1, ks2; /* static: never on the scanned heap */

static void
random_keyset(tu_keyset *ks, const char *cipher, const char *mac, const char *tag)
{
    uint8_t key[64], iv[16], mk[64];

    assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
    assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
    assert_int_equal(RAND_bytes(mk, sizeof(mk)), 1);
    assert_int_equal(tu_keyset_explicit(ks, cipher, key, iv, mac, mk), 0);
    if (ks->has_cipher) {
        add_secret(ks->key, ks->ci.key_len, "%s %s key", tag, cipher);
        add_secret(ks->iv, ks->ci.iv_len, "%s %s iv", tag, cipher);
    }
    if (ks->has_mac)
        add_secret(ks->mac_key, ks->mi.key_len, "%s %s mac key", tag, mac);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(iv, sizeof(iv));
    OPENSSL_cleanse(mk, sizeof(mk));
}

static void
traffic(sshbpp_engine *a, sshbpp_engine *b, unsigned n)
{
    uint8_t msg[3000];
    tu_pktlist got = {0};
    unsigned i;

    for (i = 0; i < n; i++) {
        size_t len = 1 + (i * 397) % sizeof(msg);
        memset(msg, (int)i, len);
        msg[0] = 94;
        assert_int_equal(sshbpp_engine_send(a, msg, len), 0);
    }
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, n);
    tu_pktlist_free(&got);
}

static void
engine_case(const char *cipher, const char *mac)
{
    char name[160];
    sshbpp_engine *a, *b;

    snprintf(name, sizeof(name), "engine %s + %s", cipher, mac != NULL ? mac : "-");
    start_scan();
    a = tu_engine_new();
    b = tu_engine_new();
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, "zlib"), 0);
    random_keyset(&ks1, cipher, mac, "first");
    assert_int_equal(tu_set_keys_pair(a, b, &ks1), 0);
    traffic(a, b, 20);
    random_keyset(&ks2, cipher, mac, "rekeyed");
    assert_int_equal(tu_set_keys_pair(a, b, &ks2), 0); /* the first keys go */
    traffic(a, b, 20);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
    OPENSSL_cleanse(&ks1, sizeof(ks1));
    OPENSSL_cleanse(&ks2, sizeof(ks2));
    end_scan(name);
}

static void
test_engine_keys_wiped(void **state)
{
    const char *const *ciphers = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    const char *const *macs = sshbpp_alg_list(SSHBPP_ALG_MAC);
    sshbpp_cipher_info ci;
    size_t i, j, cases = 0;

    (void)state;
    for (i = 0; ciphers[i] != NULL; i++) {
        if (strcmp(ciphers[i], "none") == 0)
            continue;
        assert_int_equal(sshbpp_cipher_get_info(ciphers[i], &ci), 0);
        if (ci.aead) {
            engine_case(ciphers[i], NULL);
            cases++;
            continue;
        }
        for (j = 0; macs[j] != NULL; j++) {
            if (strcmp(macs[j], "none") == 0)
                continue;
            engine_case(ciphers[i], macs[j]);
            cases++;
        }
    }
    assert_true(cases >= 10);
}

/* ---- key exchange -------------------------------------------------------------------- */

int __real_sshbpp__kex_derive(const sshbpp__kex_method *m, const uint8_t *K, size_t klen,
                              const uint8_t *H, size_t hlen, char letter, const uint8_t *sid,
                              size_t sidlen, uint8_t *out, size_t need);
int __wrap_sshbpp__kex_derive(const sshbpp__kex_method *m, const uint8_t *K, size_t klen,
                              const uint8_t *H, size_t hlen, char letter, const uint8_t *sid,
                              size_t sidlen, uint8_t *out, size_t need);
int __real_sshbpp__eph_generate(sshbpp__kex_eph *e, const sshbpp__kex_method *m);
int __wrap_sshbpp__eph_generate(sshbpp__kex_eph *e, const sshbpp__kex_method *m);
int __real_sshbpp__eph_generate_group(sshbpp__kex_eph *e, const sshbpp__kex_method *m,
                                      const struct bignum_st *p, const struct bignum_st *g);
int __wrap_sshbpp__eph_generate_group(sshbpp__kex_eph *e, const sshbpp__kex_method *m,
                                      const struct bignum_st *p, const struct bignum_st *g);
int __real_sshbpp__eph_reply(sshbpp__kex_eph *e, const sshbpp__kex_method *m,
                             const uint8_t *peer, size_t n, sshbpp__wbuf *qs_out,
                             sshbpp__wbuf *K_out);
int __wrap_sshbpp__eph_reply(sshbpp__kex_eph *e, const sshbpp__kex_method *m,
                             const uint8_t *peer, size_t n, sshbpp__wbuf *qs_out,
                             sshbpp__wbuf *K_out);

static unsigned derive_calls, eph_seen;

int
__wrap_sshbpp__kex_derive(const sshbpp__kex_method *m, const uint8_t *K, size_t klen,
                          const uint8_t *H, size_t hlen, char letter, const uint8_t *sid,
                          size_t sidlen, uint8_t *out, size_t need)
{
    int r = __real_sshbpp__kex_derive(m, K, klen, H, hlen, letter, sid, sidlen, out, need);

    if (scanning) {
        derive_calls++;
        /* K as hashed: skip the uint32 length (and a sign byte) */
        if (klen > 5)
            add_secret(K + 4, klen - 4, "shared secret K");
        add_secret(H, hlen, "exchange hash H");
        if (r == 0)
            add_secret(out, need, "derived key '%c'", letter);
    }
    return r;
}

static void
record_eph(const sshbpp__kex_eph *e, const char *who)
{
    uint8_t buf[SECRET_MAX];
    size_t len = sizeof(buf);
    BIGNUM *bn = NULL;
    int n;

    if (!scanning || e == NULL || e->key == NULL)
        return;
    if (EVP_PKEY_get_raw_private_key(e->key, buf, &len) == 1) {
        add_secret(buf, len, "%s ephemeral private key", who);
        eph_seen++;
    } else if (EVP_PKEY_get_bn_param(e->key, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1 &&
               (n = BN_num_bytes(bn)) > 0 && (size_t)n <= sizeof(buf)) {
        BN_bn2bin(bn, buf);
        add_secret(buf, (size_t)n, "%s ephemeral private value", who);
        eph_seen++;
    }
    BN_clear_free(bn);
    OPENSSL_cleanse(buf, sizeof(buf));
}

int
__wrap_sshbpp__eph_generate(sshbpp__kex_eph *e, const sshbpp__kex_method *m)
{
    int r = __real_sshbpp__eph_generate(e, m);
    if (r == 0)
        record_eph(e, "client");
    return r;
}

int
__wrap_sshbpp__eph_generate_group(sshbpp__kex_eph *e, const sshbpp__kex_method *m,
                                  const struct bignum_st *p, const struct bignum_st *g)
{
    int r = __real_sshbpp__eph_generate_group(e, m, p, g);
    if (r == 0)
        record_eph(e, "client (group exchange)");
    return r;
}

int
__wrap_sshbpp__eph_reply(sshbpp__kex_eph *e, const sshbpp__kex_method *m, const uint8_t *peer,
                         size_t n, sshbpp__wbuf *qs_out, sshbpp__wbuf *K_out)
{
    int r = __real_sshbpp__eph_reply(e, m, peer, n, qs_out, K_out);
    if (r == 0)
        record_eph(e, "server");
    return r;
}

static void
run_until_quiet(ke_end *c, ke_end *s)
{
    int a, b, rounds;

    for (rounds = 0; rounds < 40; rounds++) {
        a = ke_pump(c, s);
        b = ke_pump(s, c);
        assert_true(a >= 0);
        assert_true(b >= 0);
        if (a == 0 && b == 0)
            return;
    }
    fail_msg("the exchange did not settle");
}

static void
kex_case(const char *kex, const char *cipher, const char *mac)
{
    sshbpp_kex_config cfg = {kex, "ssh-ed25519", cipher, mac, "none"};
    ke_end c = {0}, s = {0};
    char name[160];
    uint8_t msg[200];
    unsigned i;

    snprintf(name, sizeof(name), "kex %s, %s", kex, cipher);
    derive_calls = eph_seen = 0;
    start_scan();
    ke_start(&c, &s, &cfg);
    run_until_quiet(&c, &s);
    assert_int_equal(sshbpp_kex_completed(c.k), 1);
    assert_int_equal(sshbpp_kex_completed(s.k), 1);
    memset(msg, 0x5a, sizeof(msg));
    msg[0] = 94;
    for (i = 0; i < 4; i++) {
        assert_int_equal(sshbpp_engine_send(c.e, msg, sizeof(msg)), 0);
        assert_int_equal(sshbpp_engine_send(s.e, msg, sizeof(msg)), 0);
    }
    run_until_quiet(&c, &s);
    /* a rekey: the first exchange's keys must be gone once it is done */
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    run_until_quiet(&c, &s);
    assert_int_equal(sshbpp_kex_completed(c.k), 2);
    assert_int_equal(sshbpp_kex_completed(s.k), 2);
    for (i = 0; i < 4; i++) {
        assert_int_equal(sshbpp_engine_send(c.e, msg, sizeof(msg)), 0);
        assert_int_equal(sshbpp_engine_send(s.e, msg, sizeof(msg)), 0);
    }
    run_until_quiet(&c, &s);
    assert_int_equal(c.app, 8);
    assert_int_equal(s.app, 8);
    sshbpp_kex_free(c.k);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(c.e);
    sshbpp_engine_free(s.e);
    /* both ends derived keys in each of the 2 exchanges (chacha: 2 each) */
    assert_true(derive_calls >= 8);
    assert_true(eph_seen >= 4);
    end_scan(name);
}

static void
test_kex_secrets_wiped(void **state)
{
    static const char *const kexes[] = {
        "curve25519-sha256", "ecdh-sha2-nistp256", "ecdh-sha2-nistp521",
        "diffie-hellman-group14-sha256", "diffie-hellman-group-exchange-sha256",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(kexes) / sizeof(kexes[0]); i++)
        kex_case(kexes[i], "aes128-ctr", "hmac-sha2-256");
    kex_case("curve25519-sha256", "chacha20-poly1305@openssh.com", "hmac-sha2-256");
    kex_case("curve25519-sha256", "aes256-gcm@openssh.com", "hmac-sha2-256");
    kex_case("curve25519-sha256", "aes256-cbc", "hmac-sha2-512-etm@openssh.com");
}

/* ---- key files ----------------------------------------------------------------------- */

static const char passphrase[] = "wipe-test passphrase 7f3a9c";

static size_t
read_all(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, cap, f);
    fclose(f);
    assert_true(n > 0 && n < cap);
    return n;
}

/* The ECDSA private scalar d from an unencrypted openssh-key-v1 file: the
 * private section holds string curve, string Q (65 bytes, 0x04 || x || y)
 * then mpint d, so d follows the last copy of Q. Returns d's length. */
static size_t
ecdsa_scalar(const uint8_t *file, uint8_t *d, size_t cap)
{
    static uint8_t b64[8192], raw[8192];
    const char *p = strstr((const char *)file, "-----\n"), *end;
    size_t n = 0, i, rawlen, last = 0, dl;
    int got;

    assert_non_null(p);
    p += 6;
    end = strstr(p, "-----END");
    assert_non_null(end);
    for (; p < end && n < sizeof(b64) - 1; p++)
        if (*p != '\n' && *p != '\r')
            b64[n++] = (uint8_t)*p;
    got = EVP_DecodeBlock(raw, b64, (int)n);
    assert_true(got > 100);
    rawlen = (size_t)got;
    for (i = 4; i + 65 + 4 <= rawlen; i++)
        if (tu_be32(raw + i - 4) == 65 && raw[i] == 4)
            last = i; /* string Q */
    assert_true(last > 0);
    i = last + 65;
    dl = tu_be32(raw + i);
    assert_true(dl >= 30 && dl <= 33 && i + 4 + dl <= rawlen && dl <= cap);
    i += 4;
    if (raw[i] == 0) { /* mpint sign byte */
        i++;
        dl--;
    }
    memcpy(d, raw + i, dl);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(b64, sizeof(b64));
    return dl;
}

static void
test_key_file_secrets_wiped(void **state)
{
    static uint8_t file[16384], plain[16384];
    char dir[] = "/tmp/sshbpp-wipe.XXXXXX", cmd[1600], path[300], path2[300];
    uint8_t d[40], sig[512];
    size_t flen, plen, dlen, siglen = 0;
    sshbpp_key *k = NULL;
    int r;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/id", dir);
    snprintf(path2, sizeof(path2), "%s/id_enc", dir);
    snprintf(cmd, sizeof(cmd),
             "ssh-keygen -q -t ecdsa -b 256 -N '' -C wipe -f %s && cp %s %s && "
             "ssh-keygen -q -p -m PEM -N '%s' -f %s >/dev/null",
             path, path, path2, passphrase, path2);
    if (system(cmd) != 0)
        fail_msg("ssh-keygen failed (openssh-client is a test dependency): %s", cmd);
    plen = read_all(path, plain, sizeof(plain));
    flen = read_all(path2, file, sizeof(file));
    dlen = ecdsa_scalar(plain, d, sizeof(d));
    assert_true(plen > 0);

    start_scan();
    add_secret(d, dlen, "ECDSA private scalar");
    add_secret(passphrase, strlen(passphrase), "passphrase");
    /* from memory and from the file, encrypted and not */
    r = sshbpp_key_load_mem(file, flen, passphrase, &k, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(sshbpp_key_has_private(k), 1);
    r = sshbpp_key_sign(k, "ecdsa-sha2-nistp256", (const uint8_t *)"data", 4, sig, sizeof(sig), &siglen);
    assert_int_equal(r, 0);
    sshbpp_key_free(k);
    k = NULL;
    assert_int_equal(sshbpp_key_load_file(path2, passphrase, &k, NULL), 0);
    sshbpp_key_free(k);
    k = NULL;
    assert_int_equal(sshbpp_key_load_file(path, NULL, &k, NULL), 0);
    sshbpp_key_free(k);
    k = NULL;
    /* a wrong passphrase must wipe what it decrypted too */
    assert_true(sshbpp_key_load_mem(file, flen, "wrong passphrase!", &k, NULL) < 0);
    assert_null(k);
    end_scan("key files (ecdsa P-256, PEM with passphrase)");
    OPENSSL_cleanse(d, sizeof(d));
    unlink(path);
    unlink(path2);
    snprintf(path, sizeof(path), "%s/id.pub", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/id_enc.pub", dir);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner_finds_unwiped),
        cmocka_unit_test(test_engine_keys_wiped),
        cmocka_unit_test(test_kex_secrets_wiped),
        cmocka_unit_test(test_key_file_secrets_wiped),
    };
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
