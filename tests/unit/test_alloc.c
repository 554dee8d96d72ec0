/*
 * test_alloc.c: steady-state traffic allocates nothing.
 *
 * OpenSSL's allocations are counted through CRYPTO_set_mem_functions (it
 * must be installed before OpenSSL allocates anything, hence first in
 * main); the engine's own buffers are counted by sshbpp__grow_count. After
 * a warm-up packet of the largest size, many packets of every size up to it
 * go through both engines. sshbpp itself must allocate nothing, and neither
 * may libcrypto for the ciphers and AEAD modes. OpenSSL 3.0's HMAC cannot be
 * re-initialised without it duplicating its digest context (two small
 * allocations per MAC operation, measured); the issue forbids a hand-made
 * HMAC, so that cost is bounded here instead, and a regression past it
 * fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "engine_int.h"

static unsigned long ossl_allocs;

static void *
count_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    ossl_allocs++;
    return malloc(n);
}

static void *
count_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    ossl_allocs++;
    return realloc(p, n);
}

static void
count_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static void
set_keys(sshbpp_engine *tx, sshbpp_engine *rx, const char *cipher, const char *mac)
{
    uint8_t key[64], iv[16], mkey[64];
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi = {0};
    sshbpp_keys k;

    memset(key, 0x11, sizeof(key));
    memset(iv, 0x22, sizeof(iv));
    memset(mkey, 0x33, sizeof(mkey));
    assert_int_equal(sshbpp_cipher_get_info(cipher, &ci), 0);
    if (!ci.aead)
        assert_int_equal(sshbpp_mac_get_info(mac, &mi), 0);
    k.cipher = cipher;
    k.key = key;
    k.key_len = ci.key_len;
    k.iv = iv;
    k.iv_len = ci.iv_len;
    k.mac = ci.aead ? NULL : mac;
    k.mac_key = mkey;
    k.mac_key_len = mi.key_len;
    assert_int_equal(sshbpp_engine_set_keys(tx, SSHBPP_DIR_OUT, &k), 0);
    assert_int_equal(sshbpp_engine_set_keys(rx, SSHBPP_DIR_IN, &k), 0);
}

/* Sends one packet of len bytes from a to b and receives it. */
static void
one_packet(sshbpp_engine *a, sshbpp_engine *b, uint8_t *msg, size_t len)
{
    const uint8_t *w;
    uint8_t *dst;
    size_t n, room;
    sshbpp_packet pkt;

    msg[0] = 94;
    assert_int_equal(sshbpp_engine_send(a, msg, len), 0);
    w = sshbpp_engine_tx_data(a, &n);
    assert_non_null(w);
    /* Into the engine's own buffer, as the Packetizer does. */
    dst = sshbpp_engine_rx_space(b, n, &room);
    assert_non_null(dst);
    assert_true(room >= n);
    memcpy(dst, w, n);
    sshbpp_engine_rx_commit(b, n);
    sshbpp_engine_tx_consume(a, n);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), 0);
    assert_int_equal(pkt.len, len);
    assert_memory_equal(pkt.payload, msg, len);
}

/* libcrypto allocations allowed per MAC operation (OpenSSL 3.0 HMAC). */
#define HMAC_REINIT_ALLOCS 2

static void
steady_state(const char *cipher, const char *mac, const char *comp)
{
    enum { MAX = 40000 };
    static uint8_t msg[MAX];
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();
    unsigned long ossl0, grow0, allowed = 0;
    sshbpp_cipher_info ci;
    size_t i, len;

    assert_non_null(a);
    assert_non_null(b);
    set_keys(a, b, cipher, mac);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, comp), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, comp), 0);
    for (i = 0; i < MAX; i++)
        msg[i] = (uint8_t)(i * 7 + (i >> 8));
    /* Warm-up: the largest packet sizes every buffer once (and lets zlib
     * allocate its lazily created window). */
    one_packet(a, b, msg, MAX);
    one_packet(a, b, msg, 1);
    assert_int_equal(sshbpp_cipher_get_info(cipher, &ci), 0);
    if (!ci.aead && mac != NULL)
        allowed = 2 * HMAC_REINIT_ALLOCS; /* one MAC on send, one on receive */
    ossl0 = ossl_allocs;
    grow0 = atomic_load(&sshbpp__grow_count);
    for (i = 0; i < 300; i++) {
        len = 1 + (i * 7919) % MAX;
        one_packet(a, b, msg, len);
    }
    assert_int_equal(atomic_load(&sshbpp__grow_count), grow0);
    assert_in_range(ossl_allocs - ossl0, 0, 300 * allowed);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

static void
test_no_alloc_every_cipher(void **state)
{
    const char *const *c;

    (void)state;
    for (c = sshbpp_alg_list(SSHBPP_ALG_CIPHER); *c != NULL; c++) {
        steady_state(*c, "hmac-sha2-256", "none");
        steady_state(*c, "hmac-sha2-512-etm@openssh.com", "none");
    }
}

static void
test_no_alloc_every_mac(void **state)
{
    const char *const *m;

    (void)state;
    for (m = sshbpp_alg_list(SSHBPP_ALG_MAC); *m != NULL; m++)
        steady_state("aes128-ctr", *m, "none");
}

static void
test_no_alloc_zlib(void **state)
{
    (void)state;
    steady_state("aes256-gcm@openssh.com", NULL, "zlib");
    steady_state("chacha20-poly1305@openssh.com", NULL, "zlib@openssh.com");
}

/* The counter must see OpenSSL at work, or the test above proves nothing. */
static void
test_counter_is_live(void **state)
{
    unsigned long before = ossl_allocs;
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();

    (void)state;
    set_keys(a, b, "aes128-gcm@openssh.com", NULL);
    assert_true(ossl_allocs > before);
    before = atomic_load(&sshbpp__grow_count);
    {
        uint8_t m[100] = {94};
        one_packet(a, b, m, sizeof(m));
    }
    assert_true(atomic_load(&sshbpp__grow_count) > before);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_is_live),
        cmocka_unit_test(test_no_alloc_every_cipher),
        cmocka_unit_test(test_no_alloc_every_mac),
        cmocka_unit_test(test_no_alloc_zlib),
    };

    if (CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) != 1)
        return 2;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
