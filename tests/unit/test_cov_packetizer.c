/*
 * test_cov_packetizer.c: the blocking Packetizer's (src/packetizer.c)
 * remaining error paths: a descriptor that is not open (POLLNVAL), pipes
 * (ENOTSOCK: write(2) for send(2), poll for the streaming fast path's
 * recv), a non-blocking socket that is full (EAGAIN: wait for room; closed
 * meanwhile), callbacks that claim more than they were given or fail with
 * errno, close from inside a read callback (each read call then reports
 * the close, not a timeout), the handshake timer in read_all and
 * read_message, send_messages (batch) and the NULL arguments of the
 * setters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sshbpp/sshbpp_io.h"

static int
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void
test_not_open_fd(void **state)
{
    sshbpp_packetizer *p;
    sshbpp_packet pkt;

    (void)state;
    /* a number no descriptor has: poll() says POLLNVAL */
    assert_false(fd_open(900));
    p = sshbpp_packetizer_new_fd(900, 0);
    assert_non_null(p);
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_EIO);
    assert_int_equal(sshbpp_packetizer_last_errno(p), EBADF);
    /* sticky */
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_EIO);
    sshbpp_packetizer_free(p);
    assert_false(fd_open(900));
}

/* Reading a pipe: a large read turns the streaming fast path on, whose
 * recv() then says ENOTSOCK (remembered: poll and read from then on).
 * Writing a pipe: send() says ENOTSOCK, write(2) it is. */
static void
test_pipes(void **state)
{
    static uint8_t big[8192], got[8192];
    sshbpp_packetizer *rd, *wr;
    int fds[2];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 13);
    assert_int_equal(pipe(fds), 0);
    rd = sshbpp_packetizer_new_fd(fds[0], 1);
    wr = sshbpp_packetizer_new_fd(fds[1], 1);
    assert_non_null(rd);
    assert_non_null(wr);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(rd, 20), 0);
    /* 8 KiB, then 8 KiB again (write(2) from the start, no second send) */
    assert_int_equal(sshbpp_packetizer_write_all(wr, big, 4096), 0);
    assert_int_equal(sshbpp_packetizer_write_all(wr, big + 4096, 4096), 0);
    assert_int_equal(sshbpp_packetizer_read_all(rd, got, sizeof(got), 0), 0);
    assert_memory_equal(got, big, sizeof(big));
    assert_int_equal(sshbpp_packetizer_write_all(wr, big, sizeof(big)), 0);
    memset(got, 0, sizeof(got));
    assert_int_equal(sshbpp_packetizer_read_all(rd, got, sizeof(got), 0), 0);
    assert_memory_equal(got, big, sizeof(big));
    /* and once more, after the fast path was turned off */
    assert_int_equal(sshbpp_packetizer_write_all(wr, big, 100), 0);
    assert_int_equal(sshbpp_packetizer_read_all(rd, got, 100, 0), 0);
    assert_memory_equal(got, big, 100);
    /* the writer goes: EOF */
    sshbpp_packetizer_free(wr);
    assert_int_equal(sshbpp_packetizer_read_all(rd, got, 1, 0), SSHBPP_EEOF);
    sshbpp_packetizer_free(rd);
}

struct drain {
    int fd;
    size_t total, want;
    long delay_ms;
};

static void *
drain_main(void *p)
{
    struct drain *d = p;
    uint8_t buf[65536];
    ssize_t n;

    sleep_ms(d->delay_ms);
    while (d->total < d->want && (n = read(d->fd, buf, sizeof(buf))) > 0)
        d->total += (size_t)n;
    return NULL;
}

/* A non-blocking socket that is full: write_all waits for room (EAGAIN,
 * poll) and finishes once the peer reads. */
static void
test_full_nonblocking_socket(void **state)
{
    size_t len = 4u * 1024u * 1024u;
    uint8_t *buf = calloc(1, len);
    struct drain d;
    sshbpp_packetizer *p;
    pthread_t t;
    int s[2];

    (void)state;
    assert_non_null(buf);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    assert_int_equal(fcntl(s[0], F_SETFL, O_NONBLOCK), 0);
    p = sshbpp_packetizer_new_fd(s[0], 1);
    assert_non_null(p);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(p, 10), 0);
    d.fd = s[1];
    d.total = 0;
    d.want = len;
    d.delay_ms = 50;
    assert_int_equal(pthread_create(&t, NULL, drain_main, &d), 0);
    assert_int_equal(sshbpp_packetizer_write_all(p, buf, len), 0);
    pthread_join(t, NULL);
    assert_int_equal(d.total, len);
    sshbpp_packetizer_free(p);
    close(s[1]);
    free(buf);
}

struct closer {
    sshbpp_packetizer *p;
    long delay_ms;
};

static void *
closer_main(void *p)
{
    struct closer *c = p;

    sleep_ms(c->delay_ms);
    sshbpp_packetizer_close(c->p);
    return NULL;
}

/* ... and closed while it waits: SSHBPP_ECLOSED (not a write error). */
static void
test_full_socket_closed(void **state)
{
    static uint8_t buf[1u << 20];
    struct closer c;
    sshbpp_packetizer *p;
    pthread_t t;
    int s[2], r;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    assert_int_equal(fcntl(s[0], F_SETFL, O_NONBLOCK), 0);
    p = sshbpp_packetizer_new_fd(s[0], 0);
    assert_non_null(p);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(p, 10), 0);
    c.p = p;
    c.delay_ms = 50;
    assert_int_equal(pthread_create(&t, NULL, closer_main, &c), 0);
    r = sshbpp_packetizer_write_all(p, buf, sizeof(buf));
    pthread_join(t, NULL);
    assert_int_equal(r, SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_packetizer_closed(p), 1);
    sshbpp_packetizer_free(p);
    /* not owned: still open */
    assert_true(fd_open(s[0]));
    close(s[0]);
    close(s[1]);
}

/* ---- callbacks ---------------------------------------------------------- */

enum { CB_OVERCLAIM, CB_RESET, CB_CLOSE_IN_READ, CB_FEED, CB_CLOSE_RESET, CB_EINTR_FEED };

struct cbt {
    int mode;
    sshbpp_packetizer *p;
    const uint8_t *feed;
    size_t feed_len, feed_off;
    unsigned reads;
    unsigned idle_reads; /* CB_FEED: EAGAIN this many times first */
    unsigned ka;
};

static long
cb_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    struct cbt *c = ctx;

    c->reads++;
    switch (c->mode) {
    case CB_OVERCLAIM:
        memset(buf, 'x', len);
        return (long)len + 1;
    case CB_RESET:
        errno = ECONNRESET;
        return -1;
    case CB_CLOSE_RESET:
        /* the close's shutdown makes the transport fail */
        sshbpp_packetizer_close(c->p);
        errno = ECONNRESET;
        return -1;
    case CB_CLOSE_IN_READ:
        /* another thread's close() lands while we wait: then a timeout */
        sshbpp_packetizer_close(c->p);
        errno = ETIMEDOUT;
        return -1;
    default: /* CB_FEED, CB_EINTR_FEED */
        if (c->mode == CB_EINTR_FEED && c->reads == 1) {
            errno = EINTR; /* a signal: retried at once */
            return -1;
        }
        if (c->idle_reads > 0) {
            c->idle_reads--;
        } else if (c->feed_off < c->feed_len) {
            size_t n = c->feed_len - c->feed_off < len ? c->feed_len - c->feed_off : len;

            memcpy(buf, c->feed + c->feed_off, n);
            c->feed_off += n;
            return (long)n;
        }
        /* nothing within timeout_ms, as the contract says */
        sleep_ms(timeout_ms < 0 || timeout_ms > 50 ? 50 : timeout_ms);
        errno = EAGAIN;
        return -1;
    }
}

static long
cb_write(void *ctx, const void *buf, size_t len)
{
    struct cbt *c = ctx;

    (void)buf;
    if (c->mode == CB_OVERCLAIM)
        return (long)len + 5;
    return (long)len;
}

static sshbpp_packetizer *
cb_pz(struct cbt *c, int mode)
{
    static const sshbpp_io_callbacks cb = {cb_read, cb_write, NULL};
    sshbpp_packetizer *p;

    memset(c, 0, sizeof(*c));
    c->mode = mode;
    p = sshbpp_packetizer_new_cb(&cb, c);
    assert_non_null(p);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(p, 10), 0);
    c->p = p;
    return p;
}

static void
test_callbacks_lie_or_fail(void **state)
{
    static const uint8_t payload[] = {94, 1, 2, 3};
    struct cbt c;
    sshbpp_packetizer *p;
    sshbpp_packet pkt;
    uint8_t buf[16];
    char line[64];

    (void)state;
    /* a read claiming one byte more than it was given: EIO, EOVERFLOW */
    p = cb_pz(&c, CB_OVERCLAIM);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, sizeof(buf), 0), SSHBPP_EIO);
    assert_int_equal(sshbpp_packetizer_last_errno(p), EOVERFLOW);
    sshbpp_packetizer_free(p);
    p = cb_pz(&c, CB_OVERCLAIM);
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_EIO);
    sshbpp_packetizer_free(p);
    /* a write claiming more: as a write error, SSHBPP_EEOF with EOVERFLOW */
    p = cb_pz(&c, CB_OVERCLAIM);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), SSHBPP_EEOF);
    assert_int_equal(sshbpp_packetizer_last_errno(p), EOVERFLOW);
    assert_int_equal(sshbpp_packetizer_write_all(p, payload, 1), SSHBPP_EEOF); /* sticky */
    sshbpp_packetizer_free(p);

    /* a read failing with ECONNRESET: EIO, errno kept */
    p = cb_pz(&c, CB_RESET);
    assert_int_equal(sshbpp_packetizer_readline(p, line, sizeof(line), 1000), SSHBPP_EIO);
    assert_int_equal(sshbpp_packetizer_last_errno(p), ECONNRESET);
    assert_int_equal(sshbpp_packetizer_readline(p, line, sizeof(line), 1000), SSHBPP_EIO);
    sshbpp_packetizer_free(p);
}

static void
test_close_during_read(void **state)
{
    struct cbt c;
    sshbpp_packetizer *p;
    sshbpp_packet pkt;
    uint8_t buf[4];
    char line[64];

    (void)state;
    /* each read call sees the close that came during its wait, not the
     * timeout the callback reported */
    p = cb_pz(&c, CB_CLOSE_IN_READ);
    assert_int_equal(sshbpp_packetizer_readline(p, line, sizeof(line), 1000), SSHBPP_ECLOSED);
    assert_int_equal(c.reads, 1);
    sshbpp_packetizer_free(p);
    p = cb_pz(&c, CB_CLOSE_IN_READ);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, sizeof(buf), 0), SSHBPP_ECLOSED);
    assert_int_equal(c.reads, 1);
    sshbpp_packetizer_free(p);
    p = cb_pz(&c, CB_CLOSE_IN_READ);
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_ECLOSED);
    assert_int_equal(c.reads, 1);
    /* and later calls too, without reading */
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, sizeof(buf), 0), SSHBPP_ECLOSED);
    assert_int_equal(c.reads, 1);
    sshbpp_packetizer_free(p);
}

static void
test_handshake_timer(void **state)
{
    static const uint8_t bytes[4] = {1, 2, 3, 4};
    struct cbt c;
    sshbpp_packetizer *p;
    sshbpp_packet pkt;
    uint8_t buf[8];
    char line[16];

    (void)state;
    /* run out before the call: EHANDSHAKE at once, sticky */
    p = cb_pz(&c, CB_FEED);
    sshbpp_packetizer_start_handshake(p, 1);
    sleep_ms(5);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(p), 1);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 1, 0), SSHBPP_EHANDSHAKE);
    assert_int_equal(c.reads, 0);
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_EHANDSHAKE);
    sshbpp_packetizer_free(p);
    p = cb_pz(&c, CB_FEED);
    sshbpp_packetizer_start_handshake(p, 1);
    sleep_ms(5);
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_EHANDSHAKE);
    assert_int_equal(c.reads, 0);
    sshbpp_packetizer_free(p);

    /* run out while read_all waits (after idle wake-ups): EHANDSHAKE */
    p = cb_pz(&c, CB_FEED);
    sshbpp_packetizer_start_handshake(p, 60);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 1, 0), SSHBPP_EHANDSHAKE);
    assert_true(c.reads > 1);
    sshbpp_packetizer_free(p);

    /* a timer far beyond any clock (clamped, no overflow): never runs out;
     * data that comes after idle wake-ups is read */
    p = cb_pz(&c, CB_FEED);
    sshbpp_packetizer_start_handshake(p, INT64_MAX);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(p), 0);
    c.feed = bytes;
    c.feed_len = sizeof(bytes);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 4, 0), 0);
    assert_memory_equal(buf, bytes, 4);
    /* a readline chunk timeout shorter than the poll interval */
    assert_int_equal(sshbpp_packetizer_set_poll_interval(p, 1000), 0);
    assert_int_equal(sshbpp_packetizer_readline(p, line, sizeof(line), 20), SSHBPP_ETIMEDOUT);
    sshbpp_packetizer_free(p);
}

static void
test_send_messages(void **state)
{
    static const uint8_t m1[] = {94, 'a'}, m2[] = {94, 'b', 'c'};
    const sshbpp_iov v[2] = {{m1, sizeof(m1)}, {m2, sizeof(m2)}};
    sshbpp_packetizer *a, *b;
    sshbpp_packet pkt;
    int s[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    a = sshbpp_packetizer_new_fd(s[0], 1);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(sshbpp_packetizer_send_messages(NULL, v, 2), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_send_messages(a, NULL, 2), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_send_messages(a, NULL, 0), 0);
    assert_int_equal(sshbpp_packetizer_send_messages(a, v, 2), 0);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_int_equal(pkt.len, sizeof(m1));
    assert_memory_equal(pkt.payload, m1, sizeof(m1));
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_int_equal(pkt.len, sizeof(m2));
    assert_memory_equal(pkt.payload, m2, sizeof(m2));
    /* closed: the sticky error, nothing sent */
    sshbpp_packetizer_close(a);
    assert_int_equal(sshbpp_packetizer_send_messages(a, v, 2), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_packetizer_read_message(a, &pkt), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EEOF);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

static void
test_setters_contract(void **state)
{
    sshbpp_packetizer *p;
    sshbpp_keys k;
    int s[2];

    (void)state;
    memset(&k, 0, sizeof(k));
    assert_int_equal(sshbpp_packetizer_set_inbound_cipher(NULL, &k), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(NULL, &k), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_inbound_compressor(NULL, "none"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_outbound_compressor(NULL, "none"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_read_all(NULL, NULL, 0, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_write_all(NULL, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_readline(NULL, NULL, 0, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_send_message(NULL, "x", 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_read_message(NULL, NULL), SSHBPP_EINVAL);
    /* the void and query ones take NULL */
    sshbpp_packetizer_close(NULL);
    sshbpp_packetizer_reset_seqno_in(NULL);
    sshbpp_packetizer_reset_seqno_out(NULL);
    sshbpp_packetizer_set_rekey_flag(NULL, 1);
    sshbpp_packetizer_set_outbound_keyed(NULL, 1);
    sshbpp_packetizer_set_keepalive(NULL, 10, NULL, NULL);
    sshbpp_packetizer_start_handshake(NULL, 10);
    sshbpp_packetizer_complete_handshake(NULL);
    sshbpp_packetizer_set_log(NULL, NULL, NULL);
    sshbpp_packetizer_set_hexdump(NULL, 1);
    assert_null(sshbpp_packetizer_engine(NULL));
    {
        sshbpp_io_callbacks no_read = {NULL, cb_write, NULL};

        assert_null(sshbpp_packetizer_new_cb(&no_read, NULL));
    }
    assert_int_equal(sshbpp_packetizer_need_rekey(NULL), 0);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(NULL), 0);
    assert_int_equal(sshbpp_packetizer_closed(NULL), 0);
    assert_int_equal(sshbpp_packetizer_last_errno(NULL), 0);
    assert_int_equal(sshbpp_packetizer_get_hexdump(NULL), 0);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    p = sshbpp_packetizer_new_fd(s[0], 1);
    assert_non_null(p);
    assert_int_equal(sshbpp_packetizer_set_inbound_cipher(p, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(p, NULL), SSHBPP_EINVAL);
    /* an outbound cipher of "none" (or NULL) is not a key; an unknown
     * one is refused */
    k.cipher = "none";
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(p, &k), 0);
    k.cipher = NULL;
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(p, &k), 0);
    k.cipher = "no-such-cipher";
    assert_true(sshbpp_packetizer_set_outbound_cipher(p, &k) < 0);
    assert_true(sshbpp_packetizer_set_inbound_cipher(p, &k) < 0);
    /* nothing to move: 0 at once */
    assert_int_equal(sshbpp_packetizer_read_all(p, NULL, 0, 0), 0);
    assert_int_equal(sshbpp_packetizer_write_all(p, NULL, 0), 0);
    /* a keepalive without interval or without callback is off */
    sshbpp_packetizer_set_keepalive(p, 0, NULL, NULL);
    sshbpp_packetizer_set_keepalive(p, 10, NULL, NULL);
    assert_int_equal(sshbpp_packetizer_set_inbound_compressor(p, "none"), 0);
    assert_int_equal(sshbpp_packetizer_set_outbound_compressor(p, "none"), 0);
    /* the rekey flag from outside: on, then off again */
    sshbpp_packetizer_set_rekey_flag(p, 1);
    assert_int_equal(sshbpp_packetizer_need_rekey(p), 1);
    sshbpp_packetizer_set_rekey_flag(p, 0);
    assert_int_equal(sshbpp_packetizer_need_rekey(p), 0);
    sshbpp_packetizer_set_outbound_keyed(p, 1);
    sshbpp_packetizer_set_outbound_keyed(p, 0);
    /* complete before start: no-op; start arms once */
    sshbpp_packetizer_complete_handshake(p);
    sshbpp_packetizer_start_handshake(p, 1);
    sshbpp_packetizer_start_handshake(p, INT64_MAX); /* ignored: armed */
    sleep_ms(5);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(p), 1);
    sshbpp_packetizer_complete_handshake(p);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(p), 0);
    sshbpp_packetizer_free(p);
    close(s[1]);
}

/* A sender nested in the write callback (send_messages from inside our
 * own send): refused with SSHBPP_EINVAL, the outer send goes on. */
struct nest {
    sshbpp_packetizer *p;
    int result, result2, calls;
};

static long
nest_write(void *ctx, const void *buf, size_t len)
{
    static const uint8_t m[] = {94, 'n'};
    const sshbpp_iov v[1] = {{m, sizeof(m)}};
    struct nest *n = ctx;

    (void)buf;
    if (n->calls++ == 0) {
        n->result = sshbpp_packetizer_send_messages(n->p, v, 1);
        n->result2 = sshbpp_packetizer_write_all(n->p, "x", 1);
    }
    return (long)len;
}

static long
nest_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    (void)ctx, (void)buf, (void)len, (void)timeout_ms;
    errno = EAGAIN;
    return -1;
}

static void
test_nested_batch_refused(void **state)
{
    static const sshbpp_io_callbacks cb = {nest_read, nest_write, NULL};
    static const uint8_t m[] = {94, 'o'};
    const sshbpp_iov v[1] = {{m, sizeof(m)}};
    struct nest n = {NULL, 99, 99, 0};
    sshbpp_packetizer *p = sshbpp_packetizer_new_cb(&cb, &n);

    (void)state;
    assert_non_null(p);
    n.p = p;
    assert_int_equal(sshbpp_packetizer_send_messages(p, v, 1), 0);
    assert_int_equal(n.result, SSHBPP_EINVAL);
    assert_int_equal(n.result2, SSHBPP_EINVAL);
    assert_int_equal(n.calls, 1); /* only the outer packet was written */
    sshbpp_packetizer_free(p);
}

/* The keepalive is skipped while a write is in progress (a sender stuck on
 * a full transport): none fires during a 200 ms write although its 10 ms
 * interval passes many times; once the write is over, it fires. */
struct kaw {
    sshbpp_packetizer *p;
    atomic_int ka, ka_at_start, ka_at_end, write_done;
    int wr;
};

static long
kaw_write(void *ctx, const void *buf, size_t len)
{
    struct kaw *k = ctx;

    (void)buf;
    sleep_ms(20); /* a keepalive already under way has landed */
    k->ka_at_start = k->ka;
    sleep_ms(200);
    k->ka_at_end = k->ka;
    return (long)len;
}

static long
kaw_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    struct kaw *k = ctx;
    static int spins;

    (void)timeout_ms;
    /* data once the keepalive fired after the write (or after ~5 s) */
    if ((k->write_done && k->ka > k->ka_at_end) || ++spins > 1000) {
        memset(buf, 'k', len);
        return (long)len;
    }
    sleep_ms(5);
    errno = EAGAIN;
    return -1;
}

static void
kaw_cb(sshbpp_packetizer *p, void *ctx)
{
    struct kaw *k = ctx;

    (void)p;
    k->ka++;
}

static void *
kaw_writer(void *arg)
{
    struct kaw *k = arg;

    k->wr = sshbpp_packetizer_write_all(k->p, "w", 1);
    k->write_done = 1;
    return NULL;
}

static void
test_keepalive_skipped_while_writing(void **state)
{
    static const sshbpp_io_callbacks cb = {kaw_read, kaw_write, NULL};
    struct kaw k;
    sshbpp_packetizer *p;
    pthread_t t;
    uint8_t b[1];

    (void)state;
    memset(&k, 0, sizeof(k));
    k.wr = 99;
    p = sshbpp_packetizer_new_cb(&cb, &k);
    assert_non_null(p);
    k.p = p;
    assert_int_equal(sshbpp_packetizer_set_poll_interval(p, 5), 0);
    sshbpp_packetizer_set_outbound_keyed(p, 1);
    sshbpp_packetizer_set_keepalive(p, 10, kaw_cb, &k);
    assert_int_equal(pthread_create(&t, NULL, kaw_writer, &k), 0);
    assert_int_equal(sshbpp_packetizer_read_all(p, b, 1, 0), 0);
    pthread_join(t, NULL);
    assert_int_equal(k.wr, 0);
    assert_int_equal(k.ka_at_end, k.ka_at_start);
    assert_true(k.ka > k.ka_at_end);
    sshbpp_packetizer_free(p);
}

static void
ka_count(sshbpp_packetizer *p, void *ctx)
{
    struct cbt *c = ctx;

    (void)p;
    c->ka++;
}

static void
test_rekey_flag_and_more_reads(void **state)
{
    static const uint8_t line[] = "SSH-2.0-peer\r\nxy";
    struct cbt c;
    sshbpp_packetizer *p;
    sshbpp_packet pkt;
    uint8_t buf[4];
    char text[32];

    (void)state;
    /* the rekey flag, nothing arriving: read_all (check_rekey) and
     * read_message return the soft SSHBPP_ENEEDREKEY, nothing consumed */
    p = cb_pz(&c, CB_FEED);
    sshbpp_packetizer_set_rekey_flag(p, 1);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 1, 1), SSHBPP_ENEEDREKEY);
    assert_int_equal(sshbpp_packetizer_read_message(p, &pkt), SSHBPP_ENEEDREKEY);
    assert_int_equal(sshbpp_engine_error(sshbpp_packetizer_engine(p)), 0);
    /* without check_rekey read_all waits on; a keepalive is not sent while
     * a rekey is pending; the data that comes is read */
    sshbpp_packetizer_set_outbound_keyed(p, 1);
    sshbpp_packetizer_set_keepalive(p, 1, ka_count, &c);
    c.idle_reads = 5;
    c.feed = (const uint8_t *)"ab";
    c.feed_len = 2;
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 2, 0), 0);
    assert_memory_equal(buf, "ab", 2);
    assert_int_equal(c.ka, 0);
    sshbpp_packetizer_free(p);

    /* a signal during a read is retried; readline without a timeout (0:
     * forever); the bytes after the line stay for the next read */
    p = cb_pz(&c, CB_EINTR_FEED);
    c.feed = line;
    c.feed_len = sizeof(line) - 1;
    assert_int_equal(sshbpp_packetizer_readline(p, text, sizeof(text), 0), 12);
    assert_string_equal(text, "SSH-2.0-peer");
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 2, 0), 0);
    assert_memory_equal(buf, "xy", 2);
    sshbpp_packetizer_free(p);

    /* a transport error caused by close() is the close */
    p = cb_pz(&c, CB_CLOSE_RESET);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 1, 0), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_packetizer_read_all(p, buf, 1, 0), SSHBPP_ECLOSED);
    assert_int_equal(c.reads, 1);
    sshbpp_packetizer_free(p);
}

/* The streaming fast path on a socket, into the caller's buffer
 * (read_all), and its fall-back when nothing is queued after all. */
struct late {
    int fd;
};

static void *
late_writer(void *arg)
{
    struct late *l = arg;

    sleep_ms(30);
    if (write(l->fd, "z", 1) != 1)
        l->fd = -1;
    return NULL;
}

static void
test_fast_path_into_caller_buffer(void **state)
{
    static uint8_t big[8192], got[8192];
    struct late l;
    sshbpp_packetizer *p;
    pthread_t t;
    int s[2];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    p = sshbpp_packetizer_new_fd(s[0], 1);
    assert_non_null(p);
    assert_int_equal(write(s[1], big, sizeof(big)), (ssize_t)sizeof(big));
    assert_int_equal(sshbpp_packetizer_read_all(p, got, sizeof(got), 0), 0); /* large: streaming */
    assert_memory_equal(got, big, sizeof(big));
    assert_int_equal(write(s[1], big, sizeof(big)), (ssize_t)sizeof(big));
    memset(got, 0, sizeof(got));
    assert_int_equal(sshbpp_packetizer_read_all(p, got, sizeof(got), 0), 0); /* recv first */
    assert_memory_equal(got, big, sizeof(big));
    /* nothing queued: the recv finds nothing, poll waits for the byte */
    l.fd = s[1];
    assert_int_equal(pthread_create(&t, NULL, late_writer, &l), 0);
    assert_int_equal(sshbpp_packetizer_read_all(p, got, 1, 0), 0);
    pthread_join(t, NULL);
    assert_int_equal(l.fd, s[1]);
    assert_int_equal(got[0], 'z');
    sshbpp_packetizer_free(p);
    close(s[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_open_fd),
        cmocka_unit_test(test_pipes),
        cmocka_unit_test(test_full_nonblocking_socket),
        cmocka_unit_test(test_full_socket_closed),
        cmocka_unit_test(test_callbacks_lie_or_fail),
        cmocka_unit_test(test_close_during_read),
        cmocka_unit_test(test_handshake_timer),
        cmocka_unit_test(test_send_messages),
        cmocka_unit_test(test_setters_contract),
        cmocka_unit_test(test_nested_batch_refused),
        cmocka_unit_test(test_keepalive_skipped_while_writing),
        cmocka_unit_test(test_rekey_flag_and_more_reads),
        cmocka_unit_test(test_fast_path_into_caller_buffer),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
