/*
 * test_cov_engine.c: the packet engine's API contract and the corners of
 * its rx/tx paths that the mode-by-mode tests (test_badinput,
 * test_roundtrip, test_batch) do not reach:
 *
 *  - every public engine call with NULL / invalid arguments, in the wrong
 *    state (between tx_begin and tx_end, in the middle of a packet), and
 *    after a fatal error (the sticky error, nothing built or consumed);
 *  - set_keys / set_compression refusals that must leave the direction as
 *    it was, and a failing caller RNG (ECRYPTO, sticky);
 *  - tx padding: pad_next() near the 255-byte limit, random padding with
 *    a small room, the max_packet clamp, a failing RNG;
 *  - the default RNG's per-fork pool reset (a forked child must not reuse
 *    the parent's padding bytes);
 *  - the hexdump / log / trace hooks and sshbpp_hexdump_line's bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sshbpp/sshbpp.h"
#include "testutil.h"

static const uint8_t ping[] = {94, 'h', 'e', 'l', 'l', 'o'};

/* ---- log / trace capture --------------------------------------------------- */

static struct {
    unsigned lines, traces;
    char last[256];
    int saw_unknown_type; /* a "<$c8>" line */
} cap;

static void
log_cb(void *ctx, enum sshbpp_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    cap.lines++;
    snprintf(cap.last, sizeof(cap.last), "%s", msg);
    if (strstr(msg, "<$c8>") != NULL)
        cap.saw_unknown_type = 1;
}

static void
trace_cb(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len, size_t wire,
         uint32_t seqno)
{
    (void)ctx;
    (void)dir;
    (void)type;
    (void)payload_len;
    (void)wire;
    (void)seqno;
    cap.traces++;
}

/* ---- helpers ---------------------------------------------------------------- */

static size_t
pending_tx(sshbpp_engine *e)
{
    size_t n;
    (void)sshbpp_engine_tx_data(e, &n);
    return n;
}

/* ---- engine.c --------------------------------------------------------------- */

static void
test_engine_null_args(void **state)
{
    sshbpp_rekey_limits l;
    sshbpp_stats st;

    (void)state;
    sshbpp_rekey_limits_default(NULL); /* documented no-op */
    assert_int_equal(sshbpp_engine_error(NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_fail(NULL, SSHBPP_EMAC), SSHBPP_EINVAL);
    sshbpp_engine_close(NULL);
    sshbpp_engine_shrink(NULL);
    sshbpp_engine_free(NULL);
    assert_null(sshbpp_alg_list((enum sshbpp_alg_kind)99));
    assert_int_equal(sshbpp_cipher_get_info(NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_cipher_get_info("rot13", NULL), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp_cipher_get_info("aes128-ctr", NULL), 0);
    assert_int_equal(sshbpp_mac_get_info(NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_mac_get_info("crc32", NULL), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp_mac_get_info("hmac-sha1", NULL), 0);
    assert_int_equal(sshbpp_engine_set_keys(NULL, SSHBPP_DIR_IN, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_compression(NULL, SSHBPP_DIR_IN, "zlib"), SSHBPP_EINVAL);
    sshbpp_engine_reset_seqno(NULL, SSHBPP_DIR_IN);
    sshbpp_engine_set_seqno(NULL, SSHBPP_DIR_OUT, 5);
    sshbpp_engine_set_initial_kex_done(NULL, 1);
    sshbpp_rekey_limits_default(&l);
    assert_int_equal(sshbpp_engine_set_rekey_limits(NULL, &l), SSHBPP_EINVAL);
    sshbpp_engine_get_rekey_limits(NULL, &l);
    assert_int_equal(sshbpp_engine_need_rekey(NULL), 0);
    memset(&st, 0xa5, sizeof(st));
    sshbpp_engine_get_stats(NULL, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.seqno, 0xa5a5a5a5u); /* untouched */
    assert_int_equal(sshbpp_engine_set_max_packet(NULL, 65536), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_max_packet(NULL), 0);
    sshbpp_engine_set_rng(NULL, tu_rng_fail, NULL);
    sshbpp_engine_set_trace(NULL, trace_cb, NULL);
    sshbpp_engine_set_log(NULL, log_cb, NULL);
    sshbpp_engine_set_hexdump(NULL, 1);
    assert_int_equal(sshbpp_engine_get_hexdump(NULL), 0);
}

static void
test_engine_fail_and_limits(void **state)
{
    sshbpp_engine *e = tu_engine_new();
    sshbpp_rekey_limits l, got;
    sshbpp_stats st;

    (void)state;
    /* A soft code given to engine_fail is recorded as a protocol error:
     * the sticky error must be fatal. */
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EINVAL), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_EPROTO);
    /* First wins. */
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EMAC), SSHBPP_EPROTO);
    sshbpp_engine_free(e);

    e = tu_engine_new();
    sshbpp_rekey_limits_default(&l);
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, NULL), SSHBPP_EINVAL);
    l.packets = 0;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), SSHBPP_EINVAL);
    sshbpp_rekey_limits_default(&l);
    l.bytes = 0;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), SSHBPP_EINVAL);
    sshbpp_rekey_limits_default(&l);
    l.packets_overflow = 0;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), SSHBPP_EINVAL);
    sshbpp_rekey_limits_default(&l);
    l.bytes_overflow = 0;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), SSHBPP_EINVAL);
    /* The refusals changed nothing. */
    sshbpp_engine_get_rekey_limits(e, &got);
    sshbpp_rekey_limits_default(&l);
    assert_memory_equal(&got, &l, sizeof(l));
    sshbpp_engine_get_rekey_limits(e, NULL);

    /* get_stats: an unknown direction leaves out untouched. */
    memset(&st, 0x5a, sizeof(st));
    sshbpp_engine_get_stats(e, (enum sshbpp_dir)7, &st);
    assert_int_equal(st.seqno, 0x5a5a5a5au);
    sshbpp_engine_get_stats(e, SSHBPP_DIR_IN, NULL);
    /* set_seqno with an unknown direction changes neither. */
    sshbpp_engine_set_seqno(e, (enum sshbpp_dir)7, 77);
    sshbpp_engine_get_stats(e, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.seqno, 0);
    sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);

    assert_int_equal(sshbpp_engine_set_max_packet(e, SSHBPP_MIN_PACKET_LIMIT - 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_max_packet(e, SSHBPP_MAX_PACKET_LIMIT + 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_max_packet(e), SSHBPP_DEFAULT_MAX_PACKET);
    assert_int_equal(sshbpp_engine_set_max_packet(e, SSHBPP_MIN_PACKET_LIMIT), 0);
    assert_int_equal(sshbpp_engine_max_packet(e), SSHBPP_MIN_PACKET_LIMIT);
    sshbpp_engine_free(e);
}

/* A configured block limit below the RFC 4344 one wins; 3des-cbc's 8-byte
 * blocks get the 1 GiB rule (2^27 blocks). */
static void
test_engine_block_limits(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    sshbpp_rekey_limits l;
    tu_keyset ks;
    tu_pktlist got = {0};
    int i;

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "3des-cbc", "hmac-sha1", 3), 0);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    sshbpp_rekey_limits_default(&l);
    l.blocks = 4; /* below 2^27 */
    assert_int_equal(sshbpp_engine_set_rekey_limits(a, &l), 0);
    /* Each 6-byte payload is 16 bytes of packet = 2 blocks: the second
     * packet reaches 4 blocks and raises the flag. */
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_false(sshbpp_engine_need_rekey(a));
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_true(sshbpp_engine_need_rekey(a));
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 2);
    /* b has the default 2^27-block bound for 8-byte blocks: no flag. */
    assert_false(sshbpp_engine_need_rekey(b));
    for (i = 0; i < 2; i++)
        assert_memory_equal(got.v[i].payload, ping, sizeof(ping));
    tu_pktlist_free(&got);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);

    /* The byte limit alone: 16 + 20 wire bytes per packet, the third
     * crosses 100. */
    a = tu_engine_new();
    assert_int_equal(tu_set_keys_pair(a, NULL, &ks), 0);
    sshbpp_rekey_limits_default(&l);
    l.bytes = 100;
    assert_int_equal(sshbpp_engine_set_rekey_limits(a, &l), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_false(sshbpp_engine_need_rekey(a));
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_true(sshbpp_engine_need_rekey(a));
    sshbpp_engine_free(a);
}

static void
test_set_keys_refusals(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_keyset ks;
    sshbpp_keys k;
    tu_pktlist got = {0};

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 9), 0);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);

    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_keys(a, (enum sshbpp_dir)5, &ks.k), SSHBPP_EINVAL);
    k = ks.k;
    k.cipher = "rot13";
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EUNSUPPORTED);
    k = ks.k;
    k.key_len = 15;
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EKEYLEN);
    k = ks.k;
    k.iv_len = 12;
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EKEYLEN);
    k = ks.k;
    k.key = NULL;
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EKEYLEN);
    k = ks.k;
    k.iv = NULL;
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EKEYLEN);
    k = ks.k;
    k.mac = "hmac-md4";
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EUNSUPPORTED);
    k = ks.k;
    k.mac_key_len = 31;
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EKEYLEN);
    k = ks.k;
    k.mac_key = NULL;
    assert_int_equal(sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &k), SSHBPP_EKEYLEN);
    /* All soft: the engine is open and the old keys still work. */
    assert_int_equal(sshbpp_engine_error(a), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.v[0].payload, ping, sizeof(ping));
    tu_pktlist_free(&got);

    /* A caller RNG that fails when an inbound key needs its discard
     * bound: fatal ECRYPTO, sticky for the next set_keys. */
    sshbpp_engine_set_rng(b, tu_rng_fail, NULL);
    assert_int_equal(sshbpp_engine_set_keys(b, SSHBPP_DIR_IN, &ks.k), SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp_engine_error(b), SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp_engine_set_keys(b, SSHBPP_DIR_OUT, &ks.k), SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_OUT, "zlib"), SSHBPP_ECRYPTO);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

static void
test_set_compression(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_pktlist got = {0};
    uint8_t big[600];

    (void)state;
    memset(big, 'z', sizeof(big));
    big[0] = 94;
    assert_int_equal(sshbpp_engine_set_compression(a, (enum sshbpp_dir)3, "zlib"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "lz4"), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp_engine_error(a), 0);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib@openssh.com"), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, "zlib"), 0);
    assert_int_equal(sshbpp_engine_send(a, big, sizeof(big)), 0);
    /* Compressed: far fewer wire bytes than the payload. */
    assert_true(pending_tx(a) < 100);
    /* Turning it on again keeps the running stream: the second packet
     * still inflates on b's stream. */
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_send(a, big, sizeof(big)), 0);
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.v[1].len, sizeof(big));
    assert_memory_equal(got.v[1].payload, big, sizeof(big));
    tu_pktlist_free(&got);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, NULL), 0);
    assert_int_equal(sshbpp_engine_send(a, big, sizeof(big)), 0);
    assert_true(pending_tx(a) > sizeof(big));
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* shrink() keeps buffers that hold unconsumed bytes. */
static void
test_shrink_keeps_pending(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_pktlist got = {0};
    const uint8_t *d;
    size_t n;

    (void)state;
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    d = sshbpp_engine_tx_data(a, &n);
    assert_int_equal(sshbpp_engine_feed(b, d, 7), 0); /* part of the packet */
    sshbpp_engine_shrink(a);
    sshbpp_engine_shrink(b);
    assert_int_equal(pending_tx(a), n);
    assert_int_equal(sshbpp_engine_rx_pending(b), 7);
    /* A begun packet also keeps tx. */
    sshbpp_engine_tx_consume(a, n);
    {
        uint8_t *p = sshbpp_engine_tx_begin(a, 10);
        assert_non_null(p);
        sshbpp_engine_shrink(a); /* must not free the buffer p points into */
        memcpy(p, ping, sizeof(ping));
        assert_int_equal(sshbpp_engine_tx_end(a, sizeof(ping)), 0);
    }
    /* The packet built in place arrives whole. */
    sshbpp_engine_free(b);
    b = tu_engine_new();
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.v[0].payload, ping, sizeof(ping));
    tu_pktlist_free(&got);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* The default RNG draws padding from a pool; a fork()ed child must refill
 * its own instead of handing out the parent's next bytes. With the same
 * keys and payload, the same padding would give the same ciphertext. */
static void
test_default_rng_fork(void **state)
{
    sshbpp_engine *e = tu_engine_new();
    tu_keyset ks;
    const uint8_t *d;
    size_t n, cn = 0;
    uint8_t parent[128], child[128];
    int fds[2], status;
    pid_t pid;

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 4), 0);
    assert_int_equal(tu_set_keys_pair(e, NULL, &ks), 0);
    assert_int_equal(sshbpp_engine_send(e, ping, sizeof(ping)), 0); /* fills the pool */
    sshbpp_engine_tx_consume(e, pending_tx(e));
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ssize_t w = -1;
        close(fds[0]);
        if (sshbpp_engine_send(e, ping, sizeof(ping)) == 0) {
            d = sshbpp_engine_tx_data(e, &n);
            w = write(fds[1], d, n);
        }
        close(fds[1]);
        /* exit(), not _exit(): coverage data is written at exit; the
         * engine is freed so that leak checkers see nothing in the child. */
        sshbpp_engine_free(e);
        exit(w > 0 ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(sshbpp_engine_send(e, ping, sizeof(ping)), 0);
    d = sshbpp_engine_tx_data(e, &n);
    assert_true(n <= sizeof(parent));
    memcpy(parent, d, n);
    for (;;) {
        ssize_t r = read(fds[0], child + cn, sizeof(child) - cn);
        if (r <= 0)
            break;
        cn += (size_t)r;
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(cn, n);
    assert_memory_not_equal(parent, child, n);
    sshbpp_engine_free(e);
}

/* ---- rx.c ------------------------------------------------------------------- */

static void
test_rx_api(void **state)
{
    sshbpp_engine *e = tu_engine_new(), *a = tu_engine_new();
    sshbpp_packet pkt;
    char line[16];
    uint8_t out[8];
    size_t room = 99, len;
    uint8_t *p;

    (void)state;
    assert_null(sshbpp_engine_rx_space(NULL, 10, &room));
    assert_int_equal(room, 0);
    assert_null(sshbpp_engine_rx_space(e, 10, NULL));
    sshbpp_engine_rx_commit(NULL, 5);
    assert_int_equal(sshbpp_engine_feed(NULL, ping, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_feed(e, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_feed(e, NULL, 0), 0);
    assert_int_equal(sshbpp_engine_rx_pending(NULL), 0);
    assert_int_equal(sshbpp_engine_rx_in_packet(NULL), 0);
    assert_int_equal(sshbpp_engine_rx_next(NULL, &pkt), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_next(e, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_line(NULL, line, sizeof(line), &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_line(e, NULL, sizeof(line), &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_line(e, line, 0, &len), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_engine_rx_take(NULL, out, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_take(e, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_rx_take(e, NULL, 0), 0);
    assert_int_equal(sshbpp_engine_error(e), 0);

    /* rx_commit clamps to the room rx_space gave. */
    p = sshbpp_engine_rx_space(e, 16, &room);
    assert_non_null(p);
    memcpy(p, "SSH-2.0-x\r\n", 11);
    sshbpp_engine_rx_commit(e, room + 1000);
    assert_int_equal(sshbpp_engine_rx_pending(e), room);
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), 0);
    assert_string_equal(line, "SSH-2.0-x");
    sshbpp_engine_free(e);

    /* In the middle of a packet (its first block decrypted): no line, no
     * raw take, and nothing is consumed. */
    e = tu_engine_new();
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    {
        const uint8_t *d = sshbpp_engine_tx_data(a, &len);
        assert_int_equal(sshbpp_engine_feed(e, d, 9), 0);
        assert_int_equal(sshbpp_engine_rx_next(e, &pkt), SSHBPP_EAGAIN);
        assert_true(sshbpp_engine_rx_in_packet(e));
        assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), SSHBPP_EINVAL);
        assert_int_equal(sshbpp_engine_rx_take(e, out, sizeof(out)), SSHBPP_EINVAL);
        assert_int_equal(sshbpp_engine_rx_pending(e), 9);
        assert_int_equal(sshbpp_engine_error(e), 0);
    }
    sshbpp_engine_free(e);

    /* After a fatal error every rx call reports it and rx_space gives no
     * room. */
    e = tu_engine_new();
    assert_int_equal(sshbpp_engine_feed(e, "ab", 2), 0);
    sshbpp_engine_close(e);
    room = 5;
    assert_null(sshbpp_engine_rx_space(e, 10, &room));
    assert_int_equal(room, 0);
    assert_int_equal(sshbpp_engine_feed(e, ping, 1), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_rx_next(e, &pkt), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_rx_take(e, out, 1), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_rx_pending(e), 2); /* nothing consumed */
    sshbpp_engine_free(e);
    sshbpp_engine_free(a);
}

/* A line of exactly cap-1 bytes after stripping "\r" fits; one more does
 * not, whether the newline is there or not yet. */
static void
test_rx_line_bounds(void **state)
{
    sshbpp_engine *e = tu_engine_new();
    char line[8];
    size_t len;

    (void)state;
    assert_int_equal(sshbpp_engine_feed(e, "1234567\r\n", 9), 0);
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), 0);
    assert_int_equal(len, 7);
    assert_string_equal(line, "1234567");
    assert_int_equal(sshbpp_engine_feed(e, "12345678\n", 9), 0);
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), SSHBPP_ELINELONG);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_ELINELONG);
    sshbpp_engine_free(e);

    e = tu_engine_new();
    assert_int_equal(sshbpp_engine_feed(e, "12345678", 8), 0); /* no newline yet */
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_engine_feed(e, "9", 1), 0);
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &len), SSHBPP_ELINELONG);
    sshbpp_engine_free(e);
}

/* rx_space() never lets the buffer grow past one maximal packet plus the
 * read: with that much already buffered (and no packet taken out), it
 * gives no room and records no error; the caller must read packets first. */
static void
test_rx_space_bound(void **state)
{
    sshbpp_engine *e = tu_engine_new();
    static uint8_t junk[SSHBPP_MIN_PACKET_LIMIT + 200];
    size_t room = 1, filled;
    uint8_t *p;

    (void)state;
    assert_int_equal(sshbpp_engine_set_max_packet(e, SSHBPP_MIN_PACKET_LIMIT), 0);

    assert_int_equal(sshbpp_engine_feed(e, junk, sizeof(junk)), 0);
    /* Fill what room the buffer has; more than a packet is buffered. */
    p = sshbpp_engine_rx_space(e, 1, &room);
    assert_non_null(p);
    memset(p, 0, room);
    sshbpp_engine_rx_commit(e, room);
    filled = sizeof(junk) + room;
    assert_null(sshbpp_engine_rx_space(e, 100, &room));
    assert_int_equal(room, 0);
    assert_int_equal(sshbpp_engine_error(e), 0);
    assert_int_equal(sshbpp_engine_rx_pending(e), filled);
    sshbpp_engine_free(e);
}

/* feed() beyond rx_space's largest chunk (1 MiB) grows the buffer to what
 * the caller hands over; the packets in it all come out. */
static void
test_rx_feed_large(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_buf wire = {0};
    tu_pktlist got = {0};
    static uint8_t payload[60000];
    int i;

    (void)state;
    memset(payload, 7, sizeof(payload));
    payload[0] = 94;
    for (i = 0; i < 20; i++)
        assert_int_equal(sshbpp_engine_send(a, payload, sizeof(payload)), 0);
    tu_take_tx(a, &wire);
    assert_true(wire.len > 1024u * 1024u);
    assert_int_equal(sshbpp_engine_feed(b, wire.p, wire.len), 0);
    assert_int_equal(sshbpp_engine_rx_pending(b), wire.len);
    assert_int_equal(tu_drain(b, &got, NULL, NULL), 0);
    assert_int_equal(got.n, 20);
    assert_int_equal(got.v[19].len, sizeof(payload));
    tu_pktlist_free(&got);
    tu_buf_free(&wire);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* ---- tx.c ------------------------------------------------------------------- */

static void
test_tx_api(void **state)
{
    sshbpp_engine *e = tu_engine_new();
    sshbpp_iov iov[2];
    size_t sent = 99, n = 7;
    uint8_t *p;

    (void)state;
    assert_null(sshbpp_engine_tx_begin(NULL, 10));
    assert_null(sshbpp_engine_tx_begin(e, 0));
    assert_null(sshbpp_engine_tx_begin(e, SSHBPP_DEFAULT_MAX_PACKET));
    assert_int_equal(sshbpp_engine_tx_end(NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_tx_end(e, 1), SSHBPP_EINVAL); /* nothing begun */
    assert_int_equal(sshbpp_engine_send(NULL, ping, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_send(e, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_send(e, ping, 0), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_engine_send(e, ping, SSHBPP_DEFAULT_MAX_PACKET - 63),
                     SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_engine_send_batch(NULL, iov, 1, &sent), SSHBPP_EINVAL);
    assert_int_equal(sent, 0);
    assert_int_equal(sshbpp_engine_send_batch(e, NULL, 1, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_send_batch(e, NULL, 0, &sent), 0);
    assert_int_equal(sshbpp_engine_tx_raw(NULL, "x", 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_tx_raw(e, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_tx_raw(e, NULL, 0), 0);
    assert_null(sshbpp_engine_tx_data(NULL, &n));
    assert_int_equal(n, 0);
    assert_null(sshbpp_engine_tx_data(e, NULL));
    sshbpp_engine_tx_consume(NULL, 3);
    assert_int_equal(sshbpp_engine_pad_next(NULL, 16), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_pad_next(e, 256), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_random_padding(NULL, 16), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_random_padding(e, 256), SSHBPP_EINVAL);

    /* Batch: every length is checked first; a bad one builds nothing. */
    iov[0].base = ping;
    iov[0].len = sizeof(ping);
    iov[1].base = NULL;
    iov[1].len = 3;
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 2, &sent), SSHBPP_EINVAL);
    iov[1].base = ping;
    iov[1].len = 0;
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 2, &sent), SSHBPP_EPAYLOADLEN);
    iov[1].len = SSHBPP_DEFAULT_MAX_PACKET;
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 2, &sent), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sent, 0);
    assert_int_equal(pending_tx(e), 0);
    assert_int_equal(sshbpp_engine_error(e), 0);

    /* Between tx_begin and tx_end no other send call is allowed, and a
     * second begin is refused. */
    p = sshbpp_engine_tx_begin(e, 10);
    assert_non_null(p);
    assert_null(sshbpp_engine_tx_begin(e, 10));
    assert_int_equal(sshbpp_engine_send(e, ping, sizeof(ping)), SSHBPP_EINVAL);
    iov[1].len = sizeof(ping);
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 2, &sent), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_tx_raw(e, "x", 1), SSHBPP_EINVAL);
    assert_int_equal(pending_tx(e), 0);
    /* A length over what was begun ends the packet unsent (soft). */
    assert_int_equal(sshbpp_engine_tx_end(e, 11), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_engine_tx_end(e, 1), SSHBPP_EINVAL); /* no longer begun */
    p = sshbpp_engine_tx_begin(e, 10);
    assert_non_null(p);
    assert_int_equal(sshbpp_engine_tx_end(e, 0), SSHBPP_EPAYLOADLEN);
    assert_int_equal(pending_tx(e), 0);
    assert_int_equal(sshbpp_engine_error(e), 0);

    /* tx_consume clamps; consuming everything empties the output. */
    assert_int_equal(sshbpp_engine_tx_raw(e, "SSH-2.0-x\r\n", 11), 0);
    sshbpp_engine_tx_consume(e, 4);
    assert_int_equal(pending_tx(e), 7);
    sshbpp_engine_tx_consume(e, 1000);
    assert_int_equal(pending_tx(e), 0);
    assert_null(sshbpp_engine_tx_data(e, &n));

    /* A packet begun before a fatal error cannot be completed. */
    p = sshbpp_engine_tx_begin(e, 10);
    assert_non_null(p);
    p[0] = 94;
    sshbpp_engine_close(e);
    assert_int_equal(sshbpp_engine_tx_end(e, 1), SSHBPP_ECLOSED);
    assert_null(sshbpp_engine_tx_begin(e, 10));
    assert_int_equal(sshbpp_engine_send(e, ping, sizeof(ping)), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 1, &sent), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_engine_tx_raw(e, "x", 1), SSHBPP_ECLOSED);
    assert_int_equal(pending_tx(e), 0);
    sshbpp_engine_free(e);
}

/* A batch under compression is built as single sends would be: b inflates
 * every message on one stream. */
static void
test_tx_batch_zlib(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_pktlist got = {0};
    sshbpp_iov iov[3];
    uint8_t m[3][300];
    size_t sent = 0, i;

    (void)state;
    for (i = 0; i < 3; i++) {
        memset(m[i], (int)('a' + i), sizeof(m[i]));
        m[i][0] = 94;
        iov[i].base = m[i];
        iov[i].len = sizeof(m[i]) - i * 50;
    }
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, "zlib"), 0);
    assert_int_equal(sshbpp_engine_send_batch(a, iov, 3, &sent), 0);
    assert_int_equal(sent, 3);
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 3);
    for (i = 0; i < 3; i++) {
        assert_int_equal(got.v[i].len, iov[i].len);
        assert_memory_equal(got.v[i].payload, m[i], iov[i].len);
    }
    tu_pktlist_free(&got);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* Receives one packet of a's output on b and returns its padding length
 * (no cipher: the plaintext is on the wire). */
static unsigned
wire_padding(sshbpp_engine *a, uint32_t *plen)
{
    const uint8_t *d;
    size_t n;
    unsigned pad;

    d = sshbpp_engine_tx_data(a, &n);
    assert_true(n >= 5);
    *plen = tu_be32(d);
    pad = d[4];
    assert_int_equal(n, 4 + *plen);
    sshbpp_engine_tx_consume(a, n);
    return pad;
}

static void
test_tx_padding(void **state)
{
    sshbpp_engine *a = tu_engine_new();
    uint32_t plen;
    unsigned pad;
    uint8_t ff = 0xff;
    static uint8_t big[SSHBPP_MIN_PACKET_LIMIT];

    (void)state;
    /* pad_next(255) asks for more than the 255-byte limit allows for a
     * 6-byte payload (unit 4+1+6+pad, multiple 256): the extra shrinks by
     * blocks until it fits, and the span stays block-aligned. */
    assert_int_equal(sshbpp_engine_pad_next(a, 255), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    pad = wire_padding(a, &plen);
    assert_true(pad >= 4 && pad <= 255);
    assert_int_equal((4 + plen) % 8, 0);
    assert_true(pad > 8); /* some alignment padding was added */
    /* Only the next packet: the one after has the minimum again. */
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    pad = wire_padding(a, &plen);
    assert_true(pad >= 4 && pad < 4 + 8);

    /* Random padding below one block adds nothing (maxk 0), and the RNG
     * is not even asked: a failing one does not matter. */
    sshbpp_engine_set_rng(a, tu_rng_fail, NULL);
    assert_int_equal(sshbpp_engine_set_random_padding(a, 5), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    pad = wire_padding(a, &plen);
    assert_true(pad < 4 + 8);
    /* With room for extra blocks the failing RNG is fatal. */
    assert_int_equal(sshbpp_engine_set_random_padding(a, 64), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp_engine_error(a), SSHBPP_ECRYPTO);
    assert_int_equal(pending_tx(a), 0);
    sshbpp_engine_free(a);

    /* Random padding with the RNG giving 0xff: the most extra blocks, then
     * clamped so that a maximal payload still fits max_packet. */
    a = tu_engine_new();
    assert_int_equal(sshbpp_engine_set_max_packet(a, SSHBPP_MIN_PACKET_LIMIT), 0);
    sshbpp_engine_set_rng(a, tu_rng_fill, &ff);
    assert_int_equal(sshbpp_engine_set_random_padding(a, 255), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    pad = wire_padding(a, &plen);
    assert_true(pad > 200 && pad <= 255);
    memset(big, 1, sizeof(big));
    big[0] = 94;
    assert_int_equal(sshbpp_engine_send(a, big, SSHBPP_MIN_PACKET_LIMIT - 64), 0);
    pad = wire_padding(a, &plen);
    assert_true(plen <= SSHBPP_MIN_PACKET_LIMIT);
    assert_true(pad >= 4);
    assert_int_equal(plen, 1 + (SSHBPP_MIN_PACKET_LIMIT - 64) + pad);
    sshbpp_engine_free(a);
}

/* With a cipher the padding bytes come from the RNG: a failing one fails
 * the send (ECRYPTO, sticky) and builds nothing. */
static void
test_tx_rng_fail_cipher(void **state)
{
    sshbpp_engine *a = tu_engine_new();
    tu_keyset ks;

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "aes256-gcm@openssh.com", NULL, 2), 0);
    assert_int_equal(tu_set_keys_pair(a, NULL, &ks), 0);
    sshbpp_engine_set_rng(a, tu_rng_fail, NULL);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), SSHBPP_ECRYPTO);
    assert_int_equal(sshbpp_engine_error(a), SSHBPP_ECRYPTO);
    assert_int_equal(pending_tx(a), 0);
    /* set_rng(NULL) restores the default, but the error stays. */
    sshbpp_engine_set_rng(a, NULL, NULL);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), SSHBPP_ECRYPTO);
    sshbpp_engine_free(a);
}

/* A packet numbered 0xffffffff before the initial kex is done: refused
 * on both paths (Terrapin-style prefix games); once the kex is done the
 * number wraps to 0. */
static void
test_seqno_wrap(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    sshbpp_packet pkt;
    sshbpp_stats st;
    tu_pktlist got = {0};

    (void)state;
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, UINT32_MAX);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), SSHBPP_ESEQWRAP);
    assert_int_equal(pending_tx(a), 0);
    sshbpp_engine_free(a);

    a = tu_engine_new();
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, UINT32_MAX);
    sshbpp_engine_set_initial_kex_done(a, 1);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 1);
    sshbpp_engine_set_seqno(b, SSHBPP_DIR_IN, UINT32_MAX);
    assert_int_equal(tu_pump(a, b, &got), SSHBPP_ESEQWRAP);
    assert_int_equal(got.n, 0);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), SSHBPP_ESEQWRAP);
    tu_pktlist_free(&got);
    sshbpp_engine_free(b);

    /* With the kex done, b takes 0xffffffff and then 0. */
    sshbpp_engine_free(a);
    a = tu_engine_new();
    b = tu_engine_new();
    sshbpp_engine_set_seqno(a, SSHBPP_DIR_OUT, UINT32_MAX);
    sshbpp_engine_set_initial_kex_done(a, 1);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    sshbpp_engine_set_seqno(b, SSHBPP_DIR_IN, UINT32_MAX);
    sshbpp_engine_set_initial_kex_done(b, 1);
    {
        const uint8_t *d;
        size_t n;
        d = sshbpp_engine_tx_data(a, &n);
        assert_int_equal(sshbpp_engine_feed(b, d, n), 0);
    }
    assert_int_equal(tu_drain(b, &got, NULL, NULL), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.v[0].seqno, UINT32_MAX);
    assert_int_equal(got.v[1].seqno, 0);
    tu_pktlist_free(&got);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* The peer ignores our rekey request: counting starts when the flag goes
 * up, even when our own sending raised it, and the packets_overflow-th
 * packet after it fails with EREKEYIGNORED. */
static void
test_rekey_ignored_after_tx_flag(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    sshbpp_rekey_limits l;
    sshbpp_packet pkt;
    int i;

    (void)state;
    sshbpp_rekey_limits_default(&l);
    l.packets = 2;
    l.packets_overflow = 3;
    assert_int_equal(sshbpp_engine_set_rekey_limits(b, &l), 0);
    assert_int_equal(sshbpp_engine_send(b, ping, sizeof(ping)), 0);
    assert_false(sshbpp_engine_need_rekey(b));
    assert_int_equal(sshbpp_engine_send(b, ping, sizeof(ping)), 0);
    assert_true(sshbpp_engine_need_rekey(b));
    for (i = 0; i < 3; i++)
        assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    {
        const uint8_t *d;
        size_t n;
        d = sshbpp_engine_tx_data(a, &n);
        assert_int_equal(sshbpp_engine_feed(b, d, n), 0);
    }
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), 0);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), 0);
    assert_int_equal(sshbpp_engine_rx_next(b, &pkt), SSHBPP_EREKEYIGNORED);
    assert_int_equal(sshbpp_engine_error(b), SSHBPP_EREKEYIGNORED);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* Partly written output is compacted away when the next packet is built;
 * the bytes still to write come out unchanged, followed by the new packet. */
static void
test_tx_compaction(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_buf wire = {0};
    tu_pktlist got = {0};
    const uint8_t *d;
    size_t n, n1;

    (void)state;
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    d = sshbpp_engine_tx_data(a, &n1);
    tu_buf_append(&wire, d, 5);
    sshbpp_engine_tx_consume(a, 5);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    d = sshbpp_engine_tx_data(a, &n);
    assert_int_equal(n, 2 * n1 - 5);
    tu_buf_append(&wire, d, n);
    sshbpp_engine_tx_consume(a, n);
    assert_int_equal(sshbpp_engine_feed(b, wire.p, wire.len), 0);
    assert_int_equal(tu_drain(b, &got, NULL, NULL), 0);
    assert_int_equal(got.n, 2);
    assert_memory_equal(got.v[1].payload, ping, sizeof(ping));
    tu_pktlist_free(&got);
    tu_buf_free(&wire);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* pad_next(255) on a 248-byte payload: the aligning extra (248) would
 * take the padding past 255, so it is cut by whole blocks. */
static void
test_pad_next_cut(void **state)
{
    sshbpp_engine *a = tu_engine_new();
    uint8_t p[248];
    uint32_t plen;
    unsigned pad;

    (void)state;
    memset(p, 0, sizeof(p));
    p[0] = 94;
    assert_int_equal(sshbpp_engine_pad_next(a, 255), 0);
    assert_int_equal(sshbpp_engine_send(a, p, sizeof(p)), 0);
    pad = wire_padding(a, &plen);
    assert_int_equal(pad, 11 + 240);
    assert_int_equal((4 + plen) % 8, 0);
    sshbpp_engine_free(a);
}

/* ---- log.c and the hooks ---------------------------------------------------- */

static void
test_hexdump_line(void **state)
{
    char out[128];
    uint8_t data[20];
    size_t n, i;

    (void)state;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(0x41 + i);
    assert_int_equal(sshbpp_hexdump_line(NULL, 10, "", data, 1), 0);
    assert_int_equal(sshbpp_hexdump_line(out, 0, "", data, 1), 0);
    /* NULL prefix is "", more than 16 bytes are cut to 16. */
    n = sshbpp_hexdump_line(out, sizeof(out), NULL, data, sizeof(data));
    assert_int_equal(n, 51 + 16);
    assert_int_equal(strncmp(out, "41 42 43", 8), 0);
    assert_string_equal(out + 51, "ABCDEFGHIJKLMNOP");
    /* A buffer too small for prefix + line gives "" and 0. */
    memset(out, 'x', sizeof(out));
    assert_int_equal(sshbpp_hexdump_line(out, 4 + 51 + 4, "IN: ", data, 4), 0);
    assert_int_equal(out[0], '\0');
    n = sshbpp_hexdump_line(out, 4 + 51 + 4 + 1, "IN: ", (const uint8_t *)"a\001\177b", 4);
    assert_int_equal(n, 4 + 51 + 4);
    assert_string_equal(out + 4 + 51, "a..b");
    assert_null(sshbpp_msg_name(200));
    assert_string_equal(sshbpp_msg_name(94), "channel-data");
}

/* hexdump on with a log and a trace hook: both directions log lines,
 * including a type paramiko has no name for; hexdump without a log
 * function logs nothing and still works. */
static void
test_hexdump_hooks(void **state)
{
    sshbpp_engine *a = tu_engine_new(), *b = tu_engine_new();
    tu_pktlist got = {0};
    static const uint8_t odd[] = {200, 1, 2, 3};
    tu_keyset ks;

    (void)state;
    memset(&cap, 0, sizeof(cap));
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha1", 5), 0);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    sshbpp_engine_set_hexdump(a, 1);
    sshbpp_engine_set_hexdump(b, 7);
    assert_int_equal(sshbpp_engine_get_hexdump(b), 1);
    sshbpp_engine_set_log(a, log_cb, NULL);
    sshbpp_engine_set_log(b, log_cb, NULL);
    sshbpp_engine_set_trace(a, trace_cb, NULL);
    sshbpp_engine_set_trace(b, trace_cb, NULL);
    assert_int_equal(sshbpp_engine_send(a, odd, sizeof(odd)), 0);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(cap.traces, 4);
    assert_true(cap.saw_unknown_type);
    assert_true(cap.lines >= 8);
    tu_pktlist_free(&got);

    /* No log function: hexdump on costs nothing and logs nothing. */
    memset(&cap, 0, sizeof(cap));
    sshbpp_engine_set_log(a, NULL, NULL);
    sshbpp_engine_set_log(b, NULL, NULL);
    sshbpp_engine_set_trace(a, NULL, NULL);
    sshbpp_engine_set_trace(b, NULL, NULL);
    assert_int_equal(sshbpp_engine_send(a, ping, sizeof(ping)), 0);
    assert_int_equal(tu_pump(a, b, &got), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(cap.lines, 0);
    assert_int_equal(cap.traces, 0);
    tu_pktlist_free(&got);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_null_args),
        cmocka_unit_test(test_engine_fail_and_limits),
        cmocka_unit_test(test_engine_block_limits),
        cmocka_unit_test(test_set_keys_refusals),
        cmocka_unit_test(test_set_compression),
        cmocka_unit_test(test_shrink_keeps_pending),
        cmocka_unit_test(test_default_rng_fork),
        cmocka_unit_test(test_rx_api),
        cmocka_unit_test(test_rx_line_bounds),
        cmocka_unit_test(test_rx_space_bound),
        cmocka_unit_test(test_rx_feed_large),
        cmocka_unit_test(test_tx_api),
        cmocka_unit_test(test_tx_batch_zlib),
        cmocka_unit_test(test_tx_padding),
        cmocka_unit_test(test_tx_rng_fail_cipher),
        cmocka_unit_test(test_seqno_wrap),
        cmocka_unit_test(test_rekey_ignored_after_tx_flag),
        cmocka_unit_test(test_tx_compaction),
        cmocka_unit_test(test_pad_next_cut),
        cmocka_unit_test(test_hexdump_line),
        cmocka_unit_test(test_hexdump_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
