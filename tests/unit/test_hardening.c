/*
 * test_hardening.c: defects found by fuzzing and review, each pinned by a
 * test that fails when the defect returns. The undefined-behaviour cases
 * are caught by the sanitizer build (`make test-asan`, which builds with
 * -fsanitize=undefined -fno-sanitize-recover=all): there the test aborts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine_int.h"
#include "testutil.h"

/* Every receive call on an engine that never saw input, and the zero-length
 * copies, in every mode: no pointer arithmetic on the absent buffer and no
 * memcpy from NULL (the fresh-engine report from fuzzing src/rx.c). */
static void
test_fresh_engine_no_ub(void **state)
{
    static const char *const ciphers[] = {"none", "aes128-ctr", "aes128-gcm@openssh.com",
                                          "chacha20-poly1305@openssh.com"};
    static const uint8_t key[64], iv[16], mkey[64];
    uint8_t out[4];
    char line[16];
    size_t i, len, room;
    sshbpp_packet pkt;

    (void)state;
    for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
        sshbpp_engine *e = sshbpp_engine_new();
        sshbpp_cipher_info ci;
        sshbpp_keys k;

        assert_non_null(e);
        assert_null(e->rx.buf);
        len = 99;
        if (i > 0) {
            assert_int_equal(sshbpp_cipher_get_info(ciphers[i], &ci), 0);
            memset(&k, 0, sizeof(k));
            k.cipher = ciphers[i];
            k.key = key;
            k.key_len = ci.key_len;
            k.iv = iv;
            k.iv_len = ci.iv_len;
            if (!ci.aead) {
                k.mac = "hmac-sha2-256-etm@openssh.com";
                k.mac_key = mkey;
                k.mac_key_len = 32;
            }
            assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_IN, &k), 0);
        }
        assert_int_equal(sshbpp_engine_rx_next(e, &pkt), SSHBPP_EAGAIN);
        assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), SSHBPP_EAGAIN);
        assert_int_equal(len, 99); /* untouched */
        assert_int_equal(sshbpp_engine_rx_take(e, out, sizeof(out)), 0);
        assert_int_equal(sshbpp_engine_rx_take(e, NULL, 0), 0);
        assert_int_equal(sshbpp_engine_feed(e, NULL, 0), 0);
        assert_int_equal(sshbpp_engine_tx_raw(e, NULL, 0), 0);
        assert_int_equal(sshbpp_engine_rx_pending(e), 0);
        assert_int_equal(sshbpp_engine_rx_in_packet(e), 0);
        /* Still usable: a line arrives afterwards. */
        assert_non_null(sshbpp_engine_rx_space(e, 0, &room));
        assert_int_equal(sshbpp_engine_feed(e, "SSH-2.0-x\r\n", 11), 0);
        assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), 0);
        assert_string_equal(line, "SSH-2.0-x");
        /* Drained again: the same calls on the empty, allocated buffer. */
        assert_int_equal(sshbpp_engine_rx_next(e, &pkt), SSHBPP_EAGAIN);
        assert_int_equal(sshbpp_engine_rx_take(e, out, sizeof(out)), 0);
        assert_int_equal(sshbpp_engine_error(e), 0);
        sshbpp_engine_free(e);
    }
}

/* ---- CBC + encrypt-and-MAC: no oracle (CVE-2008-5161 class) ------------------ */

enum { BAD_LENGTH, BAD_PADDING, BAD_MAC };

/* The wire bytes of one bad packet of the given kind, sealed by the
 * reference sealer with the keys of ks. */
static void
bad_packet(const tu_keyset *ks, int kind, tu_buf *out)
{
    tu_sealer s;
    uint8_t pt[64];
    size_t n;

    assert_int_equal(tu_sealer_init(&s, ks), 0);
    if (kind == BAD_LENGTH) /* decrypts to a length far over the maximum */
        n = tu_build_plain(pt, sizeof(pt), 0x00fffff0u, 4, NULL, 11, 0);
    else if (kind == BAD_PADDING) /* MAC right, padding_length 2 */
        n = tu_build_plain(pt, sizeof(pt), 28, 2, NULL, 25, 0x5a);
    else
        n = tu_build_plain(pt, sizeof(pt), 28, 8, NULL, 19, 0);
    assert_int_equal(tu_seal(&s, pt, n, out), 0);
    if (kind == BAD_MAC)
        out->p[out->len - 1] ^= 0x01;
    tu_sealer_free(&s);
}

/* Feeds the bad packet and then zero bytes, one byte at a time, until the
 * engine fails. Returns the code, and in *fed the bytes it took. */
static int
bytes_to_failure(const tu_keyset *ks, int kind, size_t pin, size_t limit, size_t *fed)
{
    sshbpp_engine *e = tu_engine_new();
    tu_buf w = {0};
    sshbpp_packet pkt;
    uint8_t zero = 0;
    int r = SSHBPP_EAGAIN;

    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_IN, &ks->k), 0);
    if (pin != 0)
        sshbpp__engine_test_pin_discard(e, pin);
    bad_packet(ks, kind, &w);
    for (*fed = 0; *fed < limit && r == SSHBPP_EAGAIN; ++*fed) {
        assert_int_equal(sshbpp_engine_feed(e, *fed < w.len ? w.p + *fed : &zero, 1), 0);
        r = sshbpp_engine_rx_next(e, &pkt);
        if (r == SSHBPP_EAGAIN)
            assert_int_equal(sshbpp_engine_error(e), 0);
    }
    tu_buf_free(&w);
    sshbpp_engine_free(e);
    return r;
}

/* With the bound pinned, a bad length, bad padding and a bad MAC end with
 * the same code after the same number of bytes; without the pin the bound
 * is within [M, 2M) for M = 4 + max_packet + MAC, and differs per key. */
static void
test_cbc_no_oracle(void **state)
{
    static const char *const modes[][2] = {{"aes128-cbc", "hmac-sha1"},
                                           {"aes256-cbc", "hmac-sha2-256"},
                                           {"3des-cbc", "hmac-md5"}};
    size_t i, fed[3], m, r1 = 0, r2 = 0;
    int kind, code[3];
    tu_keyset ks;

    (void)state;
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(tu_keyset_make(&ks, modes[i][0], modes[i][1], (uint8_t)(7 + i)), 0);
        for (kind = BAD_LENGTH; kind <= BAD_MAC; kind++)
            code[kind] = bytes_to_failure(&ks, kind, 1000, 5000, &fed[kind]);
        print_message("%s+%s: length %s@%zu, padding %s@%zu, MAC %s@%zu\n", modes[i][0],
                      modes[i][1], sshbpp_err_name(code[0]), fed[0], sshbpp_err_name(code[1]),
                      fed[1], sshbpp_err_name(code[2]), fed[2]);
        for (kind = BAD_LENGTH; kind <= BAD_MAC; kind++) {
            assert_int_equal(code[kind], SSHBPP_EMAC);
            assert_int_equal(fed[kind], 1000);
        }
    }
    /* Random bound: same key material, two engines (two set_keys). */
    assert_int_equal(tu_keyset_make(&ks, "aes128-cbc", "hmac-sha1", 3), 0);
    m = 4 + SSHBPP_DEFAULT_MAX_PACKET + 20;
    assert_int_equal(bytes_to_failure(&ks, BAD_LENGTH, 0, 3 * m, &r1), SSHBPP_EMAC);
    assert_int_equal(bytes_to_failure(&ks, BAD_MAC, 0, 3 * m, &r2), SSHBPP_EMAC);
    print_message("random bounds: %zu, %zu (M = %zu)\n", r1, r2, m);
    assert_true(r1 >= m && r1 < 2 * m);
    assert_true(r2 >= m && r2 < 2 * m);
    assert_true(r1 != r2);
    /* Only CBC + E&M discards: CTR refuses the bad length at once. */
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha1", 3), 0);
    assert_int_equal(bytes_to_failure(&ks, BAD_LENGTH, 1000, 5000, &r1), SSHBPP_EPKTLONG);
    assert_int_equal(r1, 16);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_engine_no_ub),
        cmocka_unit_test(test_cbc_no_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
