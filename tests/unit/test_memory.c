/*
 * test_memory.c: bounded memory and idle release.
 *
 * The input buffer may never grow past one maximal packet, its MAC and one
 * read chunk, whatever the peer sends through rx_space(); shrink() gives
 * idle buffers back and traffic resumes afterwards; nothing is released
 * while data is pending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine_int.h"

static void
set_ctr_keys(sshbpp_engine *tx, sshbpp_engine *rx)
{
    static const uint8_t key[16] = {1}, iv[16] = {2}, mkey[32] = {3};
    sshbpp_keys k = {"aes128-ctr", key, 16, iv, 16, "hmac-sha2-256", mkey, 32};

    if (tx != NULL)
        assert_int_equal(sshbpp_engine_set_keys(tx, SSHBPP_DIR_OUT, &k), 0);
    if (rx != NULL)
        assert_int_equal(sshbpp_engine_set_keys(rx, SSHBPP_DIR_IN, &k), 0);
}

static void
transfer(sshbpp_engine *a, sshbpp_engine *b, size_t len)
{
    static uint8_t msg[70000];
    const uint8_t *w;
    size_t n;
    sshbpp_packet pkt;

    msg[0] = 94;
    msg[len - 1] = 0x5a;
    assert_int_equal(sshbpp_engine_send(a, msg, len), 0);
    w = sshbpp_engine_tx_data(a, &n);
    assert_int_equal(sshbpp_engine_feed(b, w, n), 0);
    sshbpp_engine_tx_consume(a, n);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), 0);
    assert_int_equal(pkt.len, len);
    assert_memory_equal(pkt.payload, msg, len);
}

/* A peer that announces the largest packet and trickles it in cannot
 * grow the input buffer past its bound at any point. */
static void
test_rx_space_bounded(void **state)
{
    sshbpp_engine *e = sshbpp_engine_new();
    /* packet_length 39996: + 4 is a multiple of 8; padding 4. */
    uint8_t first[8] = {0, 0, 0x9c, 0x3c, 4, 94, 0, 0};
    size_t room, total = sizeof(first), want, bound, n;
    uint8_t *dst;
    sshbpp_packet pkt;
    int r = SSHBPP_EAGAIN, steps = 0;

    (void)state;
    assert_int_equal(sshbpp_engine_set_max_packet(e, 40000), 0);
    assert_int_equal(sshbpp_engine_feed(e, first, sizeof(first)), 0);
    while (r == SSHBPP_EAGAIN) {
        want = 1 + (size_t)(steps * 7919) % 3000;
        bound = 40000 + 4 + SSHBPP__MAX_MAC + 3000; /* the largest want below */
        dst = sshbpp_engine_rx_space(e, want, &room);
        assert_non_null(dst);
        n = 4 + 39996 - total < want ? 4 + 39996 - total : want;
        assert_true(room >= n);
        memset(dst, 0, n);
        sshbpp_engine_rx_commit(e, n);
        total += n;
        assert_true(e->rx.cap <= bound);
        r = sshbpp_engine_rx_next(e, &pkt);
        steps++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(pkt.len, 39996 - 1 - 4);
    assert_true(steps > 20);
    sshbpp_engine_free(e);
}

/* Without calls to rx_next the space offered runs out at the bound. */
static void
test_rx_space_stops_at_bound(void **state)
{
    sshbpp_engine *e = sshbpp_engine_new();
    size_t room, total = 0;
    uint8_t *dst;

    (void)state;
    assert_int_equal(sshbpp_engine_set_max_packet(e, 40000), 0);
    while ((dst = sshbpp_engine_rx_space(e, 0, &room)) != NULL) {
        sshbpp_engine_rx_commit(e, room);
        total += room;
        assert_true(total < 10u * 1024 * 1024);
    }
    assert_int_equal(room, 0);
    assert_true(e->rx.cap <= 40000 + 4 + SSHBPP__MAX_MAC + SSHBPP__RX_CHUNK);
    assert_int_equal(sshbpp_engine_error(e), 0); /* a full buffer is not an error */
    sshbpp_engine_free(e);
}

static void
test_shrink_releases_idle_buffers(void **state)
{
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();

    (void)state;
    set_ctr_keys(a, b);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, "zlib"), 0);
    transfer(a, b, 60000);
    assert_true(a->tx.cap >= 60000);
    assert_true(b->rx.cap > 0);
    assert_true(b->rx.zcap > 0);
    sshbpp_engine_shrink(a);
    sshbpp_engine_shrink(b);
    assert_null(a->tx.buf);
    assert_int_equal(a->tx.cap, 0);
    assert_null(a->tx.zbuf);
    assert_null(b->rx.buf);
    assert_null(b->rx.zbuf);
    /* Traffic resumes, zlib streams intact. */
    transfer(a, b, 100);
    transfer(a, b, 60000);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

static void
test_shrink_keeps_pending_data(void **state)
{
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();
    uint8_t msg[500] = {94};
    const uint8_t *w;
    size_t n;
    sshbpp_packet pkt;

    (void)state;
    set_ctr_keys(a, b);
    assert_int_equal(sshbpp_engine_send(a, msg, sizeof(msg)), 0);
    sshbpp_engine_shrink(a); /* output pending: must stay */
    w = sshbpp_engine_tx_data(a, &n);
    assert_non_null(w);
    /* Half a packet in b: its first block is already decrypted in place,
     * so the input buffer must survive shrink too. */
    assert_int_equal(sshbpp_engine_feed(b, w, n / 2), 0);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), SSHBPP_EAGAIN);
    sshbpp_engine_shrink(b);
    assert_non_null(b->rx.buf);
    assert_int_equal(sshbpp_engine_feed(b, w + n / 2, n - n / 2), 0);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), 0);
    assert_int_equal(pkt.len, sizeof(msg));
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* The decompression buffer is the one allocation sized by configuration,
 * not by the peer: max_packet bytes, whatever the stream claims. */
static void
test_zlib_buffer_bounded(void **state)
{
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();
    int i;

    (void)state;
    assert_int_equal(sshbpp_engine_set_max_packet(b, 50000), 0);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, "zlib"), 0);
    for (i = 0; i < 5; i++)
        transfer(a, b, 1 + (size_t)i * 9000);
    assert_true(b->rx.zcap <= 64 * 1024);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rx_space_bounded),
        cmocka_unit_test(test_rx_space_stops_at_bound),
        cmocka_unit_test(test_shrink_releases_idle_buffers),
        cmocka_unit_test(test_shrink_keeps_pending_data),
        cmocka_unit_test(test_zlib_buffer_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
