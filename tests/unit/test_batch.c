/*
 * test_batch.c: batch sending (sshbpp_engine_send_batch,
 * sshbpp_packetizer_send_messages).
 *
 * A batch produces exactly the bytes of the same messages sent one by one
 * (same keys, same RNG stream), for every cipher and for zlib; a soft error
 * anywhere in the batch builds nothing; a fatal error on message k leaves
 * the k packets before it built and decodable; steady-state batches
 * allocate nothing; the Packetizer writes a batch with one write call and
 * a refused batch with none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine_int.h"
#include "sshbpp/sshbpp_io.h"
#include "testutil.h"

enum { NMSG = 40, MAXLEN = 2000 };

static uint8_t msgbuf[NMSG][MAXLEN];

static void
make_msgs(sshbpp_iov *iov, size_t n, uint64_t seed)
{
    tu_prng p;
    size_t i;

    tu_prng_seed(&p, seed);
    for (i = 0; i < n; i++) {
        iov[i].len = tu_prng_range(&p, 1, MAXLEN);
        tu_prng_bytes(&p, msgbuf[i], iov[i].len);
        msgbuf[i][0] = 94;
        iov[i].base = msgbuf[i];
    }
}

/* Sends msgs one by one through a and as one batch through b, both with
 * the same keys and RNG seed, and compares the wire bytes; then decodes
 * the batch on a third engine. */
static void
check_identical(const char *cipher, const char *mac, const char *comp)
{
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new(), *rx = sshbpp_engine_new();
    sshbpp_iov iov[NMSG];
    tu_keyset ks;
    tu_prng ra, rb;
    tu_buf wa = {0}, wb = {0};
    tu_pktlist got = {0};
    size_t i, sent = 99;

    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(rx);
    assert_int_equal(tu_keyset_make(&ks, cipher, mac, 7), 0);
    assert_int_equal(tu_set_keys_pair(a, rx, &ks), 0);
    assert_int_equal(tu_set_keys_pair(b, NULL, &ks), 0);
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, comp), 0);
    assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_OUT, comp), 0);
    assert_int_equal(sshbpp_engine_set_compression(rx, SSHBPP_DIR_IN, comp), 0);
    tu_prng_seed(&ra, 11);
    tu_prng_seed(&rb, 11);
    sshbpp_engine_set_rng(a, tu_rng_prng, &ra);
    sshbpp_engine_set_rng(b, tu_rng_prng, &rb);
    make_msgs(iov, NMSG, 3);

    for (i = 0; i < NMSG; i++)
        assert_int_equal(sshbpp_engine_send(a, iov[i].base, iov[i].len), 0);
    assert_int_equal(sshbpp_engine_send_batch(b, iov, NMSG, &sent), 0);
    assert_int_equal(sent, NMSG);
    tu_take_tx(a, &wa);
    tu_take_tx(b, &wb);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.p, wb.p, wa.len);

    assert_int_equal(sshbpp_engine_feed(rx, wb.p, wb.len), 0);
    assert_int_equal(tu_drain(rx, &got, NULL, NULL), 0);
    assert_int_equal(got.n, NMSG);
    for (i = 0; i < NMSG; i++) {
        assert_int_equal(got.v[i].len, iov[i].len);
        assert_memory_equal(got.v[i].payload, iov[i].base, iov[i].len);
    }
    tu_pktlist_free(&got);
    tu_buf_free(&wa);
    tu_buf_free(&wb);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
    sshbpp_engine_free(rx);
}

static void
test_identical_every_cipher(void **state)
{
    const char *const *c;

    (void)state;
    for (c = sshbpp_alg_list(SSHBPP_ALG_CIPHER); *c != NULL; c++) {
        check_identical(*c, "hmac-sha2-256", "none");
        check_identical(*c, "hmac-sha2-256-etm@openssh.com", "none");
    }
}

static void
test_identical_zlib(void **state)
{
    (void)state;
    check_identical("aes128-ctr", "hmac-sha2-256", "zlib");
    check_identical("aes128-gcm@openssh.com", NULL, "zlib");
}

/* EPAYLOADLEN on message k (or a NULL base): nothing built, no sequence
 * number used, the engine stays open and the next batch works. */
static void
test_soft_error_builds_nothing(void **state)
{
    sshbpp_engine *e = sshbpp_engine_new();
    sshbpp_iov iov[NMSG];
    tu_keyset ks;
    sshbpp_stats st;
    size_t n, sent = 99;
    static uint8_t big[SSHBPP_DEFAULT_MAX_PACKET];

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "aes128-gcm@openssh.com", NULL, 1), 0);
    assert_int_equal(tu_set_keys_pair(e, NULL, &ks), 0);
    make_msgs(iov, NMSG, 5);
    iov[17].len = 0;
    assert_int_equal(sshbpp_engine_send_batch(e, iov, NMSG, &sent), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sent, 0);
    iov[17].base = big;
    iov[17].len = sizeof(big);
    assert_int_equal(sshbpp_engine_send_batch(e, iov, NMSG, &sent), SSHBPP_EPAYLOADLEN);
    iov[17].base = NULL;
    iov[17].len = 5;
    assert_int_equal(sshbpp_engine_send_batch(e, iov, NMSG, &sent), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_send_batch(e, NULL, 1, &sent), SSHBPP_EINVAL);
    assert_null(sshbpp_engine_tx_data(e, &n));
    sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);
    assert_int_equal(sshbpp_engine_error(e), 0);
    /* n == 0 is a no-op */
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 0, &sent), 0);
    assert_int_equal(sent, 0);
    iov[17].base = msgbuf[17];
    iov[17].len = 10;
    assert_int_equal(sshbpp_engine_send_batch(e, iov, NMSG, &sent), 0);
    assert_int_equal(sent, NMSG);
    sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, NMSG);
    sshbpp_engine_free(e);
}

/* An RNG that fails after `left` calls (one call per packet's padding). */
static int
rng_fail_after(void *ctx, uint8_t *buf, size_t len)
{
    int *left = ctx;

    if (*left == 0)
        return -1;
    (*left)--;
    memset(buf, 0x33, len);
    return 0;
}

/* A fatal error on message k: the k packets before it stay in the output
 * and decode on the peer; *sent says k; the engine is closed. */
static void
test_fatal_error_keeps_prefix(void **state)
{
    sshbpp_engine *e = sshbpp_engine_new(), *rx = sshbpp_engine_new();
    sshbpp_iov iov[NMSG];
    tu_keyset ks;
    tu_buf w = {0};
    tu_pktlist got = {0};
    size_t i, sent = 99;
    int left = 13;

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256-etm@openssh.com", 2), 0);
    assert_int_equal(tu_set_keys_pair(e, rx, &ks), 0);
    sshbpp_engine_set_rng(e, rng_fail_after, &left);
    make_msgs(iov, NMSG, 9);
    assert_int_equal(sshbpp_engine_send_batch(e, iov, NMSG, &sent), SSHBPP_ECRYPTO);
    assert_int_equal(sent, 13);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_ECRYPTO);
    tu_take_tx(e, &w);
    assert_int_equal(sshbpp_engine_feed(rx, w.p, w.len), 0);
    assert_int_equal(tu_drain(rx, &got, NULL, NULL), 0);
    assert_int_equal(got.n, 13);
    for (i = 0; i < 13; i++)
        assert_memory_equal(got.v[i].payload, iov[i].base, iov[i].len);
    /* later batches return the sticky error */
    assert_int_equal(sshbpp_engine_send_batch(e, iov, 1, &sent), SSHBPP_ECRYPTO);
    assert_int_equal(sent, 0);
    tu_pktlist_free(&got);
    tu_buf_free(&w);
    sshbpp_engine_free(e);
    sshbpp_engine_free(rx);
}

/* After one warm-up batch of the largest shape, batches of any shape
 * within it allocate no engine buffer. */
static void
test_no_alloc_steady_state(void **state)
{
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();
    sshbpp_iov iov[NMSG];
    tu_keyset ks;
    sshbpp_packet pkt;
    unsigned long grow0;
    size_t i, k, n, room, sent;
    const uint8_t *w;
    uint8_t *dst;

    (void)state;
    assert_int_equal(tu_keyset_make(&ks, "aes128-gcm@openssh.com", NULL, 4), 0);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    for (i = 0; i < NMSG; i++) {
        memset(msgbuf[i], (int)i, MAXLEN);
        msgbuf[i][0] = 94;
        iov[i].base = msgbuf[i];
        iov[i].len = MAXLEN;
    }
    for (k = 0; k < 201; k++) {
        if (k == 1)
            grow0 = atomic_load(&sshbpp__grow_count);
        if (k > 0)
            for (i = 0; i < NMSG; i++)
                iov[i].len = 1 + (k * 7919 + i * 104729) % MAXLEN;
        assert_int_equal(sshbpp_engine_send_batch(a, iov, NMSG, &sent), 0);
        w = sshbpp_engine_tx_data(a, &n);
        dst = sshbpp_engine_rx_space(b, n, &room);
        assert_non_null(dst);
        assert_true(room >= n);
        memcpy(dst, w, n);
        sshbpp_engine_rx_commit(b, n);
        sshbpp_engine_tx_consume(a, n);
        for (i = 0; i < NMSG; i++) {
            assert_int_equal(sshbpp_engine_rx_next(b, &pkt), 0);
            assert_int_equal(pkt.len, iov[i].len);
        }
    }
    assert_int_equal(atomic_load(&sshbpp__grow_count), grow0);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* ---- Packetizer ---- */

struct sink {
    tu_buf out;
    int writes;
};

static long
sink_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    (void)ctx;
    (void)buf;
    (void)len;
    (void)timeout_ms;
    return 0;
}

static long
sink_write(void *ctx, const void *buf, size_t len)
{
    struct sink *s = ctx;

    s->writes++;
    tu_buf_append(&s->out, buf, len);
    return (long)len;
}

static void
test_packetizer_one_write(void **state)
{
    struct sink s = {{0}, 0};
    sshbpp_io_callbacks cb = {sink_read, sink_write, NULL};
    sshbpp_packetizer *p = sshbpp_packetizer_new_cb(&cb, &s);
    sshbpp_engine *rx = sshbpp_engine_new();
    sshbpp_iov iov[NMSG];
    tu_keyset ks;
    tu_pktlist got = {0};
    size_t i;

    (void)state;
    assert_non_null(p);
    assert_int_equal(tu_keyset_make(&ks, "chacha20-poly1305@openssh.com", NULL, 6), 0);
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(p, &ks.k), 0);
    assert_int_equal(tu_set_keys_pair(NULL, rx, &ks), 0);
    make_msgs(iov, NMSG, 21);
    assert_int_equal(sshbpp_packetizer_send_messages(p, iov, NMSG), 0);
    assert_int_equal(s.writes, 1);
    /* a refused batch writes nothing */
    iov[3].len = 0;
    assert_int_equal(sshbpp_packetizer_send_messages(p, iov, NMSG), SSHBPP_EPAYLOADLEN);
    assert_int_equal(s.writes, 1);
    assert_int_equal(sshbpp_packetizer_send_messages(p, NULL, 2), SSHBPP_EINVAL);
    assert_int_equal(s.writes, 1);
    assert_int_equal(sshbpp_engine_feed(rx, s.out.p, s.out.len), 0);
    assert_int_equal(tu_drain(rx, &got, NULL, NULL), 0);
    assert_int_equal(got.n, NMSG);
    iov[3].len = got.v[3].len;
    for (i = 0; i < NMSG; i++)
        assert_memory_equal(got.v[i].payload, iov[i].base, iov[i].len);
    tu_pktlist_free(&got);
    tu_buf_free(&s.out);
    sshbpp_packetizer_free(p);
    sshbpp_engine_free(rx);
}

/* Over a socketpair: a batch arrives whole and in order, read through the
 * socket fast path; EOF afterwards is reported as such. */
static void
test_packetizer_socketpair(void **state)
{
    int sv[2];
    sshbpp_packetizer *a, *b;
    sshbpp_iov iov[NMSG];
    sshbpp_packet pkt;
    size_t i;
    int round;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a = sshbpp_packetizer_new_fd(sv[0], 1);
    b = sshbpp_packetizer_new_fd(sv[1], 1);
    assert_non_null(a);
    assert_non_null(b);
    make_msgs(iov, NMSG, 33);
    for (round = 0; round < 3; round++) {
        assert_int_equal(sshbpp_packetizer_send_messages(a, iov, NMSG), 0);
        for (i = 0; i < NMSG; i++) {
            assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
            assert_int_equal(pkt.len, iov[i].len);
            assert_memory_equal(pkt.payload, iov[i].base, iov[i].len);
        }
    }
    sshbpp_packetizer_close(a);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EEOF);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

/* The default RNG's pool (engine.c): successive draws differ, and a child
 * forked with a filled pool does not hand out the parent's next bytes. */
static void
test_default_rng_pool_fork(void **state)
{
    sshbpp_engine *e = sshbpp_engine_new();
    uint8_t a[16], b[16], child[16];
    int fds[2], status;
    pid_t pid;

    (void)state;
    assert_non_null(e);
    assert_int_equal(e->rng(e->rng_ctx, a, sizeof(a)), 0);
    assert_int_equal(e->rng(e->rng_ctx, b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_true(e->tx.pool.avail >= sizeof(b)); /* the pool holds more */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t c[16];
        int ok = e->rng(e->rng_ctx, c, sizeof(c)) == 0 && write(fds[1], c, sizeof(c)) == 16;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(e->rng(e->rng_ctx, b, sizeof(b)), 0);
    assert_memory_not_equal(child, b, sizeof(b));
    close(fds[0]);
    close(fds[1]);
    sshbpp_engine_free(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_every_cipher),
        cmocka_unit_test(test_identical_zlib),
        cmocka_unit_test(test_soft_error_builds_nothing),
        cmocka_unit_test(test_fatal_error_keeps_prefix),
        cmocka_unit_test(test_no_alloc_steady_state),
        cmocka_unit_test(test_packetizer_one_write),
        cmocka_unit_test(test_packetizer_socketpair),
        cmocka_unit_test(test_default_rng_pool_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
