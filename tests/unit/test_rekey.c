/*
 * test_rekey.c: rekey accounting (thresholds, overflow, block limits),
 * sequence-number wrap and reset, statistics, the trace and log hooks
 * (paramiko's exact hexdump format), message names and the error table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static const uint8_t M1[] = {100, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0, 3, 0x84};
static const uint8_t M2[] = {0x5e, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x26, 'h', 'e', 'l',
                             'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', ',', ' ', 't', 'h',
                             'i', 's', ' ', 'i', 's', ' ', 'a', ' ', 'l', 'o', 'n', 'g',
                             'e', 'r', ' ', 'p', 'a', 'y', 'l', 'o', 'a', 'd', '!'};

#define BIG (1ull << 40)

static void
set_limits(sshbpp_engine *e, uint64_t packets, uint64_t bytes, uint64_t pov, uint64_t bov,
           uint64_t blocks)
{
    sshbpp_rekey_limits l;
    sshbpp_rekey_limits_default(&l);
    l.packets = packets;
    l.bytes = bytes;
    l.packets_overflow = pov;
    l.bytes_overflow = bov;
    l.blocks = blocks;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), 0);
    sshbpp_rekey_limits g;
    memset(&g, 0, sizeof(g));
    sshbpp_engine_get_rekey_limits(e, &g);
    assert_int_equal(g.packets, packets);
    assert_int_equal(g.bytes, bytes);
    assert_int_equal(g.packets_overflow, pov);
    assert_int_equal(g.bytes_overflow, bov);
    assert_int_equal(g.blocks, blocks);
}

/* Sends M1 from a and delivers it to b; returns b's rx result (1 = got it). */
static int
send_recv(sshbpp_engine *a, sshbpp_engine *b, const uint8_t *msg, size_t len)
{
    assert_int_equal(sshbpp_engine_send(a, msg, len), 0);
    tu_buf w = {0};
    tu_take_tx(a, &w);
    int r = sshbpp_engine_feed(b, w.p, w.len);
    tu_buf_free(&w);
    if (r != 0)
        return r;
    sshbpp_packet p;
    return sshbpp_engine_rx_next(b, &p);
}

/* ---- limits API ----------------------------------------------------------- */

static void
test_limits_defaults_and_args(void **state)
{
    (void)state;
    sshbpp_rekey_limits l;
    memset(&l, 0x55, sizeof(l));
    sshbpp_rekey_limits_default(&l);
    assert_int_equal(l.packets, 1ull << 29);
    assert_int_equal(l.bytes, 1ull << 29);
    assert_int_equal(l.packets_overflow, 1ull << 29);
    assert_int_equal(l.bytes_overflow, 1ull << 29);
    assert_int_equal(l.blocks, 0);
    sshbpp_engine *e = tu_engine_new();
    sshbpp_rekey_limits g;
    memset(&g, 0x55, sizeof(g));
    sshbpp_engine_get_rekey_limits(e, &g);
    assert_memory_equal(&g, &l, sizeof(l));
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, NULL), SSHBPP_EINVAL);
    for (int i = 0; i < 4; i++) {
        sshbpp_rekey_limits z = l;
        uint64_t *f[4] = {&z.packets, &z.bytes, &z.packets_overflow, &z.bytes_overflow};
        *f[i] = 0;
        assert_int_equal(sshbpp_engine_set_rekey_limits(e, &z), SSHBPP_EINVAL);
    }
    /* rejected settings left the old ones */
    sshbpp_engine_get_rekey_limits(e, &g);
    assert_memory_equal(&g, &l, sizeof(l));
    assert_int_equal(sshbpp_engine_need_rekey(e), 0);
    assert_int_equal(sshbpp_engine_error(e), 0);
    sshbpp_engine_free(e);
}

/* ---- thresholds -------------------------------------------------------------- */

static void
keys_both(sshbpp_engine *e, uint8_t seed)
{
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", seed), 0);
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_OUT, &ks.k), 0);
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_IN, &ks.k), 0);
}

/* need_rekey flips at the packet threshold on the send path and clears only
 * once both directions got new keys (in either order). */
static void
test_need_rekey_send_packets(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        sshbpp_engine *a = tu_engine_new();
        keys_both(a, 1);
        assert_int_equal(sshbpp_engine_need_rekey(a), 0);
        set_limits(a, 3, BIG, BIG, BIG, 0);
        for (int i = 1; i <= 6; i++) {
            assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
            if (sshbpp_engine_need_rekey(a) != (i >= 3))
                fail_msg("order %d: after %d sends need_rekey = %d", order, i,
                         sshbpp_engine_need_rekey(a));
        }
        /* the local side keeps sending: no overflow error on the send path */
        assert_int_equal(sshbpp_engine_error(a), 0);
        tu_keyset ks;
        assert_int_equal(tu_keyset_make(&ks, "aes256-ctr", "hmac-sha1", 2), 0);
        int first = order ? SSHBPP_DIR_IN : SSHBPP_DIR_OUT;
        int second = order ? SSHBPP_DIR_OUT : SSHBPP_DIR_IN;
        assert_int_equal(sshbpp_engine_set_keys(a, first, &ks.k), 0);
        assert_int_equal(sshbpp_engine_need_rekey(a), 1);
        assert_int_equal(sshbpp_engine_set_keys(a, first, &ks.k), 0); /* same side again */
        assert_int_equal(sshbpp_engine_need_rekey(a), 1);
        assert_int_equal(sshbpp_engine_set_keys(a, second, &ks.k), 0);
        assert_int_equal(sshbpp_engine_need_rekey(a), 0);
        /* counters restarted: two more sends stay below, the third flips */
        assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
        assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
        assert_int_equal(sshbpp_engine_need_rekey(a), 0);
        assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
        assert_int_equal(sshbpp_engine_need_rekey(a), 1);
        sshbpp_engine_free(a);
    }
}

/* The byte threshold, both paths: a no-cipher M1 packet is 24 wire bytes. */
static void
test_need_rekey_bytes(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    set_limits(a, BIG, 48, BIG, BIG, 0);
    set_limits(b, BIG, 48, BIG, BIG, 0);
    assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
    sshbpp_stats st;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.bytes, 24);
    assert_int_equal(sshbpp_engine_need_rekey(a), 0);
    assert_int_equal(sshbpp_engine_need_rekey(b), 0);
    assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
    assert_int_equal(sshbpp_engine_need_rekey(a), 1); /* 48 >= 48 sent */
    assert_int_equal(sshbpp_engine_need_rekey(b), 1); /* 48 >= 48 received */
    sshbpp_engine_get_stats(b, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.bytes, 48);
    assert_int_equal(st.packets, 2);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* The packet threshold on the receive path only (the receiver sends
 * nothing). */
static void
test_need_rekey_recv_packets(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    set_limits(b, 3, BIG, BIG, BIG, 0);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(send_recv(a, b, M2, sizeof(M2)), 0);
        if (sshbpp_engine_need_rekey(b) != (i >= 3))
            fail_msg("after %d received packets need_rekey = %d", i, sshbpp_engine_need_rekey(b));
    }
    assert_int_equal(sshbpp_engine_need_rekey(a), 0);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* packets=2, packets_overflow=3: packets 1..4 accepted (the flag is raised
 * by packet 2), packet 5 is SSHBPP_EREKEYIGNORED (paramiko, verified). */
static void
test_rekey_ignored_packets(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    set_limits(b, 2, BIG, 3, BIG, 0);
    for (int i = 1; i <= 4; i++) {
        int r = send_recv(a, b, M1, sizeof(M1));
        if (r != 0)
            fail_msg("packet %d: %s", i, sshbpp_err_name(r));
        assert_int_equal(sshbpp_engine_need_rekey(b), i >= 2);
    }
    assert_int_equal(send_recv(a, b, M1, sizeof(M1)), SSHBPP_EREKEYIGNORED);
    assert_int_equal(sshbpp_engine_error(b), SSHBPP_EREKEYIGNORED);
    sshbpp_packet p;
    assert_int_equal(sshbpp_engine_rx_next(b, &p), SSHBPP_EREKEYIGNORED);
    assert_int_equal(sshbpp_engine_send(b, M1, sizeof(M1)), SSHBPP_EREKEYIGNORED);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* Same with bytes: 24-byte packets, bytes=48, bytes_overflow=72. */
static void
test_rekey_ignored_bytes(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    set_limits(b, BIG, 48, BIG, 72, 0);
    for (int i = 1; i <= 4; i++) {
        int r = send_recv(a, b, M1, sizeof(M1));
        if (r != 0)
            fail_msg("packet %d: %s", i, sshbpp_err_name(r));
    }
    assert_int_equal(send_recv(a, b, M1, sizeof(M1)), SSHBPP_EREKEYIGNORED);
    assert_int_equal(sshbpp_engine_error(b), SSHBPP_EREKEYIGNORED);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* A rekey completed within the overflow window resets everything: the
 * stream goes on well past packet 5. */
static void
test_rekey_in_time(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    set_limits(b, 2, BIG, 3, BIG, 0);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
    assert_int_equal(sshbpp_engine_need_rekey(b), 1);
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-gcm@openssh.com", NULL, 5), 0);
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &ks.k), 0);
    assert_int_equal(sshbpp_engine_set_keys(b, SSHBPP_DIR_IN, &ks.k), 0);
    assert_int_equal(sshbpp_engine_need_rekey(b), 1); /* b's OUT side still old */
    assert_int_equal(sshbpp_engine_set_keys(b, SSHBPP_DIR_OUT, &ks.k), 0);
    assert_int_equal(sshbpp_engine_need_rekey(b), 0);
    /* 2 more packets raise the flag again, then 3 overflow packets kill it */
    for (int i = 1; i <= 4; i++) {
        int r = send_recv(a, b, M1, sizeof(M1));
        if (r != 0)
            fail_msg("after rekey, packet %d: %s", i, sshbpp_err_name(r));
    }
    assert_int_equal(send_recv(a, b, M1, sizeof(M1)), SSHBPP_EREKEYIGNORED);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* blocks=10 with aes128-ctr: need_rekey is on exactly when the block count
 * since the keys reached 10, on both paths. */
static void
test_block_limit(void **state)
{
    (void)state;
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 3), 0);
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    set_limits(a, BIG, BIG, BIG, BIG, 10);
    set_limits(b, BIG, BIG, BIG, BIG, 10);
    int flipped_a = 0, flipped_b = 0;
    uint64_t prev = 0;
    for (int i = 1; i <= 8; i++) {
        assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
        sshbpp_stats so, si;
        sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &so);
        sshbpp_engine_get_stats(b, SSHBPP_DIR_IN, &si);
        /* M1 is a 32-byte packet: 2 AES blocks are encrypted; the 32-byte
         * MAC is not cipher output and must not count */
        if (so.blocks - prev != 2)
            fail_msg("packet %d: %llu cipher blocks counted, want 2 (32 encrypted bytes)", i,
                     (unsigned long long)(so.blocks - prev));
        prev = so.blocks;
        assert_int_equal(so.blocks, si.blocks);
        if (sshbpp_engine_need_rekey(a) != (so.blocks >= 10))
            fail_msg("send: %llu blocks, need_rekey %d", (unsigned long long)so.blocks,
                     sshbpp_engine_need_rekey(a));
        if (sshbpp_engine_need_rekey(b) != (si.blocks >= 10))
            fail_msg("recv: %llu blocks, need_rekey %d", (unsigned long long)si.blocks,
                     sshbpp_engine_need_rekey(b));
        flipped_a |= sshbpp_engine_need_rekey(a);
        flipped_b |= sshbpp_engine_need_rekey(b);
    }
    assert_true(flipped_a);
    assert_true(flipped_b);
    sshbpp_stats st;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.blocks, 16);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* ---- sequence numbers ------------------------------------------------------------ */

static void
test_seqwrap_send(void **state)
{
    (void)state;
    /* before the initial kex: the packet numbered 0xffffffff is refused */
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, 0xfffffffeu);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    size_t n1 = 0;
    sshbpp_engine_tx_data(a, &n1);
    assert_int_equal(n1, 24);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), SSHBPP_ESEQWRAP);
    size_t n2 = 0;
    sshbpp_engine_tx_data(a, &n2);
    assert_int_equal(n2, n1); /* nothing produced (the first packet still flushable) */
    assert_int_equal(sshbpp_engine_error(a), SSHBPP_ESEQWRAP);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), SSHBPP_ESEQWRAP);
    sshbpp_stats st;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.total_packets, 1);
    sshbpp_engine_free(a);

    /* after it: wraps to 0 */
    a = tu_engine_new();
    sshbpp_engine_set_initial_kex_done(a, 1);
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, 0xfffffffeu);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 1);
    sshbpp_engine_free(a);

    /* clearing the flag again re-arms the check */
    a = tu_engine_new();
    sshbpp_engine_set_initial_kex_done(a, 1);
    sshbpp_engine_set_initial_kex_done(a, 0);
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, 0xffffffffu);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), SSHBPP_ESEQWRAP);
    sshbpp_engine_free(a);
}

static void
test_seqwrap_recv(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        /* 0: no kex -> ESEQWRAP; 1: kex flag set -> ok; 2: inbound keys set
         * (marks kex done) -> ok; 3: keys set, then the flag cleared -> ESEQWRAP */
        sshbpp_engine *a = tu_engine_new();
        sshbpp_engine *b = tu_engine_new();
        sshbpp_engine_set_initial_kex_done(a, 1);
        if (variant >= 2) {
            tu_keyset ks;
            assert_int_equal(tu_keyset_make(&ks, "chacha20-poly1305@openssh.com", NULL, 8), 0);
            assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
        }
        if (variant == 1)
            sshbpp_engine_set_initial_kex_done(b, 1);
        if (variant == 3)
            sshbpp_engine_set_initial_kex_done(b, 0);
        sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, 0xfffffffeu);
        sshbpp_engine_set_seqno(b, SSHBPP_DIR_IN, 0xfffffffeu);
        assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
        int want = (variant == 0 || variant == 3) ? SSHBPP_ESEQWRAP : 0;
        int r = send_recv(a, b, M1, sizeof(M1));
        if (r != want)
            fail_msg("variant %d: packet 0xffffffff: %s, want %d", variant, sshbpp_err_name(r),
                     want);
        sshbpp_stats st;
        sshbpp_engine_get_stats(b, SSHBPP_DIR_IN, &st);
        if (want == 0) {
            assert_int_equal(st.seqno, 0);
            assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
        } else {
            assert_int_equal(sshbpp_engine_error(b), SSHBPP_ESEQWRAP);
            assert_int_equal(st.seqno, 0xffffffffu);
            assert_int_equal(st.total_packets, 1);
        }
        sshbpp_engine_free(a);
        sshbpp_engine_free(b);
    }
}

/* reset_seqno (strict kex): both sides reset -> the MAC (over the sequence
 * number) still verifies; only one side -> MAC failure. */
static void
test_reset_seqno(void **state)
{
    (void)state;
    for (int both = 0; both < 2; both++) {
        tu_keyset ks;
        assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 4), 0);
        sshbpp_engine *a = tu_engine_new();
        sshbpp_engine *b = tu_engine_new();
        assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(send_recv(a, b, M2, sizeof(M2)), 0);
        sshbpp_engine_reset_seqno(a, SSHBPP_DIR_OUT);
        sshbpp_stats st;
        sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
        assert_int_equal(st.seqno, 0);
        assert_int_equal(st.total_packets, 3);
        if (both)
            sshbpp_engine_reset_seqno(b, SSHBPP_DIR_IN);
        assert_int_equal(sshbpp_engine_send(a, M2, sizeof(M2)), 0);
        tu_buf w = {0};
        tu_take_tx(a, &w);
        assert_int_equal(sshbpp_engine_feed(b, w.p, w.len), 0);
        tu_buf_free(&w);
        sshbpp_packet p;
        int r = sshbpp_engine_rx_next(b, &p);
        if (both) {
            assert_int_equal(r, 0);
            assert_int_equal(p.seqno, 0);
        } else {
            assert_int_equal(r, SSHBPP_EMAC);
        }
        sshbpp_engine_free(a);
        sshbpp_engine_free(b);
    }
}

/* Per-keys counters restart on set_keys; totals, the sequence number and the
 * other direction do not. */
static void
test_stats_reset_per_keys(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    sshbpp_stats st;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);
    assert_int_equal(st.total_packets, 0);
    assert_int_equal(st.rekeys, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(send_recv(a, b, M2, sizeof(M2)), 0);
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.packets, 3);
    assert_int_equal(st.bytes, 3 * 56);
    assert_int_equal(st.total_payload, 3 * sizeof(M2));
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes256-gcm@openssh.com", NULL, 6), 0);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    for (int dir = 0; dir < 2; dir++) {
        sshbpp_engine *e = dir == SSHBPP_DIR_OUT ? a : b;
        sshbpp_engine_get_stats(e, dir, &st);
        assert_int_equal(st.packets, 0);
        assert_int_equal(st.bytes, 0);
        assert_int_equal(st.blocks, 0);
        assert_int_equal(st.seqno, 3);
        assert_int_equal(st.total_packets, 3);
        assert_int_equal(st.total_bytes, 3 * 56);
        assert_int_equal(st.total_payload, 3 * sizeof(M2));
        assert_int_equal(st.rekeys, 1);
    }
    /* the untouched directions */
    sshbpp_engine_get_stats(a, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.rekeys, 0);
    assert_int_equal(st.total_packets, 0);
    assert_int_equal(send_recv(a, b, M2, sizeof(M2)), 0);
    sshbpp_stats so, si;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &so);
    sshbpp_engine_get_stats(b, SSHBPP_DIR_IN, &si);
    assert_int_equal(so.packets, 1);
    assert_int_equal(so.bytes, 4 + 64 + 16); /* GCM: 47+1+pad -> 64, tag 16 */
    assert_int_equal(so.total_packets, 4);
    assert_int_equal(so.total_bytes, 3 * 56 + 84);
    assert_int_equal(so.seqno, si.seqno);
    assert_int_equal(so.packets, si.packets);
    assert_int_equal(so.bytes, si.bytes);
    assert_int_equal(so.blocks, si.blocks);
    assert_int_equal(so.total_packets, si.total_packets);
    assert_int_equal(so.total_bytes, si.total_bytes);
    assert_int_equal(so.total_payload, si.total_payload);
    assert_int_equal(so.rekeys, si.rekeys);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* ---- trace hook -------------------------------------------------------------------- */

typedef struct trace_rec {
    int dir;
    uint8_t type;
    size_t payload_len, wire_len;
    uint32_t seqno;
} trace_rec;

typedef struct trace_log {
    trace_rec r[64];
    size_t n;
} trace_log;

static void
trace_cb(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len, size_t wire_len, uint32_t seqno)
{
    trace_log *t = ctx;
    if (t->n < 64)
        t->r[t->n] = (trace_rec){dir, type, payload_len, wire_len, seqno};
    t->n++;
}

static void
test_trace_once_per_packet(void **state)
{
    (void)state;
    trace_log ta, tb;
    memset(&ta, 0, sizeof(ta));
    memset(&tb, 0, sizeof(tb));
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-512-etm@openssh.com", 9), 0);
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    sshbpp_engine_set_trace(a, trace_cb, &ta);
    sshbpp_engine_set_trace(b, trace_cb, &tb);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, "zlib"), 0);
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, 7);
    sshbpp_engine_set_seqno(b, SSHBPP_DIR_IN, 7);
    uint8_t big[3000];
    memset(big, 'q', sizeof(big));
    big[0] = 95;
    const uint8_t *msgs[3] = {M1, M2, big};
    size_t lens[3] = {sizeof(M1), sizeof(M2), sizeof(big)};
    size_t wires[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sshbpp_engine_send(a, msgs[i], lens[i]), 0);
        assert_int_equal(ta.n, (size_t)i + 1);
        tu_buf w = {0};
        wires[i] = tu_take_tx(a, &w);
        /* deliver one byte at a time: the trace fires once, at the end */
        for (size_t k = 0; k < w.len; k++) {
            assert_int_equal(sshbpp_engine_feed(b, w.p + k, 1), 0);
            tu_pktlist l = {0};
            assert_int_equal(tu_drain(b, &l, NULL, NULL), 0);
            assert_int_equal(tb.n, (size_t)i + (k + 1 == w.len ? 1 : 0));
            tu_pktlist_free(&l);
        }
        tu_buf_free(&w);
    }
    for (int i = 0; i < 3; i++) {
        const trace_rec *x = &ta.r[i];
        const trace_rec *y = &tb.r[i];
        assert_int_equal(x->dir, SSHBPP_DIR_OUT);
        assert_int_equal(y->dir, SSHBPP_DIR_IN);
        assert_int_equal(x->type, msgs[i][0]);
        assert_int_equal(y->type, msgs[i][0]);
        assert_int_equal(x->payload_len, lens[i]); /* uncompressed */
        assert_int_equal(y->payload_len, lens[i]);
        assert_int_equal(x->wire_len, wires[i]);
        assert_int_equal(y->wire_len, wires[i]);
        assert_int_equal(x->seqno, 7 + i);
        assert_int_equal(y->seqno, 7 + i);
    }
    assert_true(wires[2] < 200); /* compressed */
    /* a packet that fails is not traced */
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    tu_buf w = {0};
    tu_take_tx(a, &w);
    w.p[w.len - 1] ^= 1;
    assert_int_equal(sshbpp_engine_feed(b, w.p, w.len), 0);
    sshbpp_packet p;
    assert_int_equal(sshbpp_engine_rx_next(b, &p), SSHBPP_EMAC);
    assert_int_equal(tb.n, 3);
    tu_buf_free(&w);
    /* NULL disables */
    sshbpp_engine_set_trace(a, NULL, NULL);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    assert_int_equal(ta.n, 4);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* ---- log hook ------------------------------------------------------------------------- */

typedef struct line_log {
    char *line[64];
    int level[64];
    size_t n;
} line_log;

static void
log_cb(void *ctx, enum sshbpp_log_level level, const char *msg)
{
    line_log *l = ctx;
    assert_non_null(msg);
    assert_null(strchr(msg, '\n'));
    if (l->n < 64) {
        l->line[l->n] = strdup(msg);
        l->level[l->n] = level;
    }
    l->n++;
}

static void
line_log_free(line_log *l)
{
    for (size_t i = 0; i < l->n && i < 64; i++)
        free(l->line[i]);
    l->n = 0;
}

static void
assert_lines(const char *what, const line_log *got, const char *const *want, size_t nwant)
{
    int bad = got->n != nwant;
    for (size_t i = 0; !bad && i < nwant; i++)
        bad = strcmp(got->line[i], want[i]) != 0 || got->level[i] != SSHBPP_LOG_DEBUG;
    if (bad) {
        print_error("%s: log mismatch\n", what);
        for (size_t i = 0; i < got->n || i < nwant; i++)
            print_error("  got  [%s]\n  want [%s]\n", i < got->n && i < 64 ? got->line[i] : "",
                        i < nwant ? want[i] : "");
        fail_msg("%s: log lines differ", what);
    }
}

/* packetizer.md section 5: one plaintext send + read of type 94, verbatim. */
static void
test_log_hexdump_paramiko(void **state)
{
    (void)state;
    static const char *const want_out[] = {
        "Write packet <channel-data>, length 47",
        "OUT: 00 00 00 34 04 5E 00 00 00 07 00 00 00 26 68 65    ...4.^.......&he",
        "OUT: 6C 6C 6F 20 77 6F 72 6C 64 2C 20 74 68 69 73 20    llo world, this ",
        "OUT: 69 73 20 61 20 6C 6F 6E 67 65 72 20 70 61 79 6C    is a longer payl",
        "OUT: 6F 61 64 21 00 00 00 00                            oad!....",
    };
    static const char *const want_in[] = {
        "IN: 00 00 00 34 04 5E 00 00                            ...4.^..",
        "IN: 04 5E 00 00 00 07 00 00 00 26 68 65 6C 6C 6F 20    .^.......&hello ",
        "IN: 77 6F 72 6C 64 2C 20 74 68 69 73 20 69 73 20 61    world, this is a",
        "IN: 20 6C 6F 6E 67 65 72 20 70 61 79 6C 6F 61 64 21     longer payload!",
        "IN: 00 00 00 00                                        ....",
        "Got payload (52 bytes, 4 padding)",
        "Read packet <channel-data>, length 47",
    };
    line_log la, lb;
    memset(&la, 0, sizeof(la));
    memset(&lb, 0, sizeof(lb));
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    sshbpp_engine_set_log(a, log_cb, &la);
    sshbpp_engine_set_log(b, log_cb, &lb);
    assert_int_equal(sshbpp_engine_get_hexdump(a), 0);
    sshbpp_engine_set_hexdump(a, 1);
    sshbpp_engine_set_hexdump(b, 1);
    assert_true(sshbpp_engine_get_hexdump(a));
    assert_int_equal(send_recv(a, b, M2, sizeof(M2)), 0);
    assert_lines("sender", &la, want_out, sizeof(want_out) / sizeof(want_out[0]));
    assert_lines("receiver", &lb, want_in, sizeof(want_in) / sizeof(want_in[0]));
    line_log_free(&la);
    line_log_free(&lb);
    /* hexdump off: nothing is logged for ordinary packets */
    sshbpp_engine_set_hexdump(a, 0);
    sshbpp_engine_set_hexdump(b, 0);
    assert_int_equal(sshbpp_engine_get_hexdump(b), 0);
    assert_int_equal(send_recv(a, b, M2, sizeof(M2)), 0);
    assert_int_equal(la.n, 0);
    assert_int_equal(lb.n, 0);
    /* unknown types print as $ + lower-case hex */
    sshbpp_engine_set_hexdump(a, 1);
    const uint8_t odd[3] = {0xfd, 1, 2};
    assert_int_equal(sshbpp_engine_send(a, odd, sizeof(odd)), 0);
    assert_true(la.n >= 1);
    assert_string_equal(la.line[0], "Write packet <$fd>, length 3");
    line_log_free(&la);
    /* a NULL logger disables */
    sshbpp_engine_set_log(a, NULL, NULL);
    assert_int_equal(sshbpp_engine_send(a, M2, sizeof(M2)), 0);
    assert_int_equal(la.n, 0);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* "Rekeying (hit ...)" is logged whenever a logger is set, once per flag. */
static void
test_log_rekeying_lines(void **state)
{
    (void)state;
    line_log la, lb;
    memset(&la, 0, sizeof(la));
    memset(&lb, 0, sizeof(lb));
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    sshbpp_engine_set_log(a, log_cb, &la);
    sshbpp_engine_set_log(b, log_cb, &lb);
    set_limits(a, 2, BIG, BIG, BIG, 0);
    set_limits(b, BIG, 40, BIG, BIG, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(send_recv(a, b, M1, sizeof(M1)), 0);
    static const char *const wa[] = {"Rekeying (hit 2 packets, 48 bytes sent)"};
    static const char *const wb[] = {"Rekeying (hit 2 packets, 48 bytes received)"};
    assert_lines("sender rekey", &la, wa, 1);
    assert_lines("receiver rekey", &lb, wb, 1);
    line_log_free(&la);
    line_log_free(&lb);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* ---- formatting helpers ---------------------------------------------------------------- */

static void
test_hexdump_line(void **state)
{
    (void)state;
    char out[128];
    size_t n;
    static const uint8_t pkt[] = {0x00, 0x00, 0x00, 0x34, 0x04, 0x5E, 0x00, 0x00, 0x00, 0x07,
                                  0x00, 0x00, 0x00, 0x26, 0x68, 0x65};
    const char *want1 = "OUT: 00 00 00 34 04 5E 00 00 00 07 00 00 00 26 68 65    ...4.^.......&he";
    n = sshbpp_hexdump_line(out, sizeof(out), "OUT: ", pkt, sizeof(pkt));
    assert_string_equal(out, want1);
    assert_int_equal(n, strlen(want1));
    static const uint8_t tail[] = {0x6F, 0x61, 0x64, 0x21, 0x00, 0x00, 0x00, 0x00};
    const char *want2 = "OUT: 6F 61 64 21 00 00 00 00                            oad!....";
    n = sshbpp_hexdump_line(out, sizeof(out), "OUT: ", tail, sizeof(tail));
    assert_string_equal(out, want2);
    assert_int_equal(n, strlen(want2));
    /* trailing space of the ASCII column is kept; 0x7f and 0x80+ are dots */
    static const uint8_t mix[] = {0x20, 0x7e, 0x7f, 0x80, 0xff, 0x1f, 'A'};
    const char *want3 = "IN: 20 7E 7F 80 FF 1F 41                                ~....A";
    n = sshbpp_hexdump_line(out, sizeof(out), "IN: ", mix, sizeof(mix));
    assert_string_equal(out, want3);
    assert_int_equal(n, strlen(want3));
    /* the documented worst case fits in prefix length + 68 */
    static const uint8_t ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    char exact[5 + 68];
    n = sshbpp_hexdump_line(exact, sizeof(exact), "OUT: ", ff, sizeof(ff));
    assert_int_equal(n, 5 + 50 + 1 + 16);
    assert_int_equal(strlen(exact), n);
    /* empty prefix */
    n = sshbpp_hexdump_line(out, sizeof(out), "", tail, 1);
    assert_int_equal(n, 50 + 1 + 1);
    assert_string_equal(out + 50, " o");
    assert_memory_equal(out, "6F ", 3);
}

static void
test_msg_names(void **state)
{
    (void)state;
    static const struct {
        uint8_t t;
        const char *name;
    } known[] = {{1, "disconnect"},
                 {2, "ignore"},
                 {3, "unimplemented"},
                 {4, "debug"},
                 {5, "service-request"},
                 {6, "service-accept"},
                 {7, "ext-info"},
                 {20, "kexinit"},
                 {21, "newkeys"},
                 {30, "kex30"},
                 {34, "kex34"},
                 {40, "kex40"},
                 {41, "kex41"},
                 {50, "userauth-request"},
                 {51, "userauth-failure"},
                 {52, "userauth-success"},
                 {53, "userauth--banner"},
                 {60, "userauth-gssapi-response"},
                 {61, "userauth-gssapi-token"},
                 {63, "userauth-gssapi-exchange-complete"},
                 {64, "userauth-gssapi-error"},
                 {65, "userauth-gssapi-error-token"},
                 {66, "userauth-gssapi-mic"},
                 {80, "global-request"},
                 {81, "request-success"},
                 {82, "request-failure"},
                 {90, "channel-open"},
                 {91, "channel-open-success"},
                 {92, "channel-open-failure"},
                 {93, "channel-window-adjust"},
                 {94, "channel-data"},
                 {95, "channel-extended-data"},
                 {96, "channel-eof"},
                 {97, "channel-close"},
                 {98, "channel-request"},
                 {99, "channel-success"},
                 {100, "channel-failure"}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *n = sshbpp_msg_name(known[i].t);
        if (n == NULL || strcmp(n, known[i].name) != 0)
            fail_msg("msg_name(%u) = %s, want %s", known[i].t, n ? n : "NULL", known[i].name);
    }
    static const uint8_t unnamed[] = {0, 8, 19, 22, 29, 35, 42, 49, 54, 62, 67, 79, 83, 89, 101,
                                      192, 253, 255};
    for (size_t i = 0; i < sizeof(unnamed); i++)
        if (sshbpp_msg_name(unnamed[i]) != NULL)
            fail_msg("msg_name(%u) = %s, want NULL", unnamed[i], sshbpp_msg_name(unnamed[i]));
}

static void
test_error_table(void **state)
{
    (void)state;
    /* Written out, not expanded from SSHBPP_ERRNO_MAP: a renumbered,
     * renamed or reworded code fails here. Codes added later (other
     * ranges) are checked by the scan below for form and uniqueness. */
    static const struct {
        int v;
        const char *name, *msg;
    } tab[] = {
        {-1, "SSHBPP_EINVAL", "invalid argument"},
        {-2, "SSHBPP_EAGAIN", "more input is needed"},
        {-3, "SSHBPP_ETIMEDOUT", "timed out"},
        {-4, "SSHBPP_ENEEDREKEY", "rekey needed before more data is read"},
        {-5, "SSHBPP_EUNSUPPORTED", "unsupported algorithm name"},
        {-6, "SSHBPP_EKEYLEN", "key, IV or MAC key length does not match the algorithm"},
        {-7, "SSHBPP_EPAYLOADLEN", "outgoing payload is empty or exceeds the maximum packet size"},
        {-8, "SSHBPP_EBUFSMALL", "caller's buffer is too small"},
        {-20, "SSHBPP_ECLOSED", "packetizer closed by its owner"},
        {-21, "SSHBPP_ENOMEM", "out of memory"},
        {-22, "SSHBPP_ECRYPTO", "libcrypto operation failed"},
        {-23, "SSHBPP_EPKTSHORT", "packet_length below the 5-byte minimum"},
        {-24, "SSHBPP_EPKTLONG", "packet_length above the maximum packet size"},
        {-25, "SSHBPP_EBLOCKALIGN", "packet length not a multiple of the cipher block size"},
        {-26, "SSHBPP_EPADSHORT", "padding_length below the 4-byte minimum"},
        {-27, "SSHBPP_EPADLONG", "padding_length not less than the packet"},
        {-28, "SSHBPP_EEMPTY", "empty payload: no message type byte"},
        {-29, "SSHBPP_EMAC", "MAC mismatch"},
        {-30, "SSHBPP_ETAG", "AEAD authentication tag mismatch"},
        {-31, "SSHBPP_EDECOMP", "zlib decompression failed"},
        {-32, "SSHBPP_EDECOMPLONG", "decompressed payload exceeds the maximum packet size"},
        {-33, "SSHBPP_ECOMP", "zlib compression failed"},
        {-34, "SSHBPP_ESEQWRAP", "sequence number rolled over during the initial key exchange or under one key"},
        {-35, "SSHBPP_EREKEYIGNORED", "remote transport is ignoring rekey requests"},
        {-36, "SSHBPP_EEOF", "connection closed by peer"},
        {-37, "SSHBPP_EEOFPKT", "connection closed by peer in the middle of a packet"},
        {-38, "SSHBPP_EIO", "I/O error (see errno)"},
        {-39, "SSHBPP_EWRITE0", "peer stopped accepting data (repeated zero-byte writes)"},
        {-40, "SSHBPP_EHANDSHAKE", "handshake timed out"},
        {-41, "SSHBPP_ELINELONG", "line exceeds the maximum length"},
        {-42, "SSHBPP_EPROTO", "protocol violation"},
        {-50, "SSHBPP_EBANNER", "invalid SSH identification string"},
        {-51, "SSHBPP_EVERSION", "peer does not speak SSH protocol 2.0"},
        {-52, "SSHBPP_ENOMATCH", "no algorithm in common with the peer"},
        {-53, "SSHBPP_EKEXMSG", "malformed key exchange message"},
        {-54, "SSHBPP_EKEXVALUE", "invalid key exchange public value"},
        {-55, "SSHBPP_EHOSTKEY", "unsupported or malformed host key"},
        {-56, "SSHBPP_ESIGNATURE", "host key signature verification failed"},
        {-57, "SSHBPP_ESTRICTKEX", "strict KEX violation"},
        {-58, "SSHBPP_EKEXORDER", "key exchange message out of order"},
        {-59, "SSHBPP_EDISCONNECT", "peer sent SSH_MSG_DISCONNECT"},
        {-60, "SSHBPP_EAUTH", "authentication protocol error"},
        {-61, "SSHBPP_EREKEYREFUSED", "peer refused the key exchange (SSH_MSG_UNIMPLEMENTED)"},
        {-85, "SSHBPP_ENAMELIST", "peer name-list over the bounds (4096 bytes, 128 names, names of 1-64 chars)"},
        {-19, "SSHBPP_ECHANLIMIT", "channel limit reached (max_channels open)"},
        {-95, "SSHBPP_ECHANMSG", "malformed or unexpected channel message (unknown channel, wrong state)"},
        {-96, "SSHBPP_ECHANWINDOW", "peer sent channel data beyond the window we granted"},
        {-97, "SSHBPP_ECHANPACKET", "peer sent channel data larger than the maximum packet size we granted"},
    };
    size_t n = sizeof(tab) / sizeof(tab[0]);
    assert_int_equal(n, 48);
    /* Every code the library knows, listed here or not: a well-formed,
     * unique name and message, and the fatal split at -20. */
    for (int v = -1; v >= -200; v--) {
        const char *nm = sshbpp_err_name(v);
        if (strcmp(nm, "SSHBPP_UNKNOWN") == 0)
            continue;
        assert_true(strncmp(nm, "SSHBPP_E", 8) == 0);
        assert_int_equal(sshbpp_is_fatal(v), v <= -20);
        for (int u = v + 1; u <= -1; u++) {
            if (strcmp(sshbpp_err_name(u), "SSHBPP_UNKNOWN") == 0)
                continue;
            if (strcmp(nm, sshbpp_err_name(u)) == 0 || strcmp(sshbpp_strerror(v), sshbpp_strerror(u)) == 0)
                fail_msg("codes %d and %d share a name or message", v, u);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *nm = sshbpp_err_name(tab[i].v);
        const char *ms = sshbpp_strerror(tab[i].v);
        assert_non_null(nm);
        assert_non_null(ms);
        if (strcmp(nm, tab[i].name) != 0)
            fail_msg("err_name(%d) = %s, want %s", tab[i].v, nm, tab[i].name);
        if (strcmp(ms, tab[i].msg) != 0)
            fail_msg("strerror(%d) = %s, want %s", tab[i].v, ms, tab[i].msg);
        assert_int_equal(sshbpp_is_fatal(tab[i].v), tab[i].v <= -20);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(tab[i].v, tab[j].v);
            if (strcmp(nm, sshbpp_err_name(tab[j].v)) == 0)
                fail_msg("duplicate name %s", nm);
            if (strcmp(ms, sshbpp_strerror(tab[j].v)) == 0)
                fail_msg("duplicate message %s", ms);
        }
    }
    assert_string_equal(sshbpp_err_name(0), "SSHBPP_OK");
    assert_string_equal(sshbpp_strerror(0), "success");
    static const int unknown[] = {1, 5, -11, -18, -43, -100, -2147483647 - 1, 2147483647};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(sshbpp_err_name(unknown[i]), "SSHBPP_UNKNOWN");
        assert_string_equal(sshbpp_strerror(unknown[i]), "unknown error");
    }
    assert_int_equal(sshbpp_is_fatal(0), 0);
    assert_int_equal(sshbpp_is_fatal(SSHBPP_EINVAL), 0);
    assert_int_equal(sshbpp_is_fatal(SSHBPP_ECLOSED), 1);
    assert_int_equal(sshbpp_is_fatal(SSHBPP_EPROTO), 1);
}

/* fail()/close(): soft codes become EPROTO, the first error wins. */
static void
test_fail_and_close(void **state)
{
    (void)state;
    sshbpp_engine *e = tu_engine_new();
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EAGAIN), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EEOF), SSHBPP_EPROTO);
    sshbpp_engine_free(e);
    e = tu_engine_new();
    sshbpp_engine_close(e);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_ECLOSED);
    sshbpp_engine_close(e);
    assert_int_equal(sshbpp_engine_send(e, M1, sizeof(M1)), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EIO), SSHBPP_ECLOSED);
    sshbpp_engine_free(e);
    e = tu_engine_new();
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EEOFPKT), SSHBPP_EEOFPKT);
    sshbpp_engine_close(e);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_EEOFPKT);
    sshbpp_engine_free(e);
    sshbpp_engine_free(NULL);
}

/* A failing padding RNG is SSHBPP_ECRYPTO (once a cipher is set). */
static void
test_rng_failure(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine_set_rng(a, tu_rng_fail, NULL);
    /* no cipher: zero padding, the RNG is not consulted */
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), 0);
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-cbc", "hmac-sha1", 1), 0);
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &ks.k), 0);
    assert_int_equal(sshbpp_engine_send(a, M1, sizeof(M1)), SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp_engine_error(a), SSHBPP_ECRYPTO);
    sshbpp_engine_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_defaults_and_args),
        cmocka_unit_test(test_need_rekey_send_packets),
        cmocka_unit_test(test_need_rekey_bytes),
        cmocka_unit_test(test_need_rekey_recv_packets),
        cmocka_unit_test(test_rekey_ignored_packets),
        cmocka_unit_test(test_rekey_ignored_bytes),
        cmocka_unit_test(test_rekey_in_time),
        cmocka_unit_test(test_block_limit),
        cmocka_unit_test(test_seqwrap_send),
        cmocka_unit_test(test_seqwrap_recv),
        cmocka_unit_test(test_reset_seqno),
        cmocka_unit_test(test_stats_reset_per_keys),
        cmocka_unit_test(test_trace_once_per_packet),
        cmocka_unit_test(test_log_hexdump_paramiko),
        cmocka_unit_test(test_log_rekeying_lines),
        cmocka_unit_test(test_hexdump_line),
        cmocka_unit_test(test_msg_names),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_fail_and_close),
        cmocka_unit_test(test_rng_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
