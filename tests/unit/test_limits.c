/*
 * test_limits.c: hard limits that protect keys regardless of the caller.
 * 2^32 packets cannot be sent in a test, so the per-key packet counter is
 * moved forward through the internal state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine_int.h"

static void
test_no_nonce_reuse_under_one_key(void **state)
{
    static const uint8_t key[64] = {5};
    sshbpp_keys k = {"chacha20-poly1305@openssh.com", key, 64, NULL, 0, NULL, NULL, 0};
    sshbpp_engine *e = sshbpp_engine_new();
    uint8_t msg[10] = {94};

    (void)state;
    assert_non_null(e);
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_OUT, &k), 0);
    sshbpp_engine_set_initial_kex_done(e, 1);
    sshbpp__st64(&e->tx.d.packets, ((uint64_t)1 << 32) - 1);
    assert_int_equal(sshbpp_engine_send(e, msg, sizeof(msg)), 0); /* the 2^32nd */
    assert_int_equal(sshbpp_engine_send(e, msg, sizeof(msg)), SSHBPP_ESEQWRAP);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_ESEQWRAP);
    sshbpp_engine_free(e);

    /* new keys restart the count */
    e = sshbpp_engine_new();
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_OUT, &k), 0);
    sshbpp__st64(&e->tx.d.packets, ((uint64_t)1 << 32) - 1);
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_OUT, &k), 0);
    assert_int_equal(sshbpp_engine_send(e, msg, sizeof(msg)), 0);
    assert_int_equal(sshbpp_engine_send(e, msg, sizeof(msg)), 0);
    sshbpp_engine_free(e);
}

/* "Never rekey" (paramiko users set 2^40) stays expressible: the hard
 * stop above is what protects the keys. */
static void
test_huge_limits_allowed(void **state)
{
    sshbpp_engine *e = sshbpp_engine_new();
    sshbpp_rekey_limits l;

    (void)state;
    sshbpp_rekey_limits_default(&l);
    l.packets = (uint64_t)1 << 40;
    l.bytes = (uint64_t)1 << 40;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), 0);
    l.packets = 0;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), SSHBPP_EINVAL);
    sshbpp_engine_free(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_nonce_reuse_under_one_key),
        cmocka_unit_test(test_huge_limits_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
