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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_engine_no_ub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
