/*
 * packetizer.c: the blocking Packetizer (sshbpp_io.h), paramiko's Packetizer
 * in C on top of the sans-I/O engine.
 *
 * IMPLEMENTATION NOTES
 *
 * Buffering. All input goes into the engine: a wait for input ends with one
 * read of as much as the engine has room for (64 KiB by default), and the
 * engine then decodes as many packets as that read delivered. readline()
 * reads ahead the same way; the bytes after the line stay in the engine for
 * the packets. Only read_all() reads straight into the caller's buffer, for
 * exactly the missing count (as paramiko's recv(n)), after taking what the
 * engine already holds.
 *
 * Waiting. A read never blocks longer than the poll interval (100 ms by
 * default, paramiko's 0.1 s socket timeout). Each wake-up re-checks the
 * closed flag, the handshake timer, the rekey flag and the keepalive timer,
 * in paramiko's order. The fd's flags are never changed: we poll() and then
 * read() once, which does not block on a readable stream socket or pipe
 * (there is only one reader).
 *
 * Locks. One recursive mutex, wlock, serialises the sending side
 * (engine_send plus the write loop, write_all, the outbound setters), as
 * paramiko's write RLock. Recursive so that a thread re-entering from a
 * callback (log, write callback) cannot deadlock on itself; such a nested
 * send would interleave with the half-written outer packet, so it is
 * refused with SSHBPP_EINVAL (`send_depth`, only touched under wlock).
 * The reading side takes no lock: there is one reader, and the engine keeps
 * the two directions' state disjoint (its shared bits are atomic). The
 * reader waits for wlock only inside the outbound setters and when the
 * keepalive callback (run with no lock held) sends, and the keepalive is
 * skipped while a write is in progress, so a sender stuck on a full socket
 * does not stall the reader. sshbpp_packetizer_close() takes no lock: engine_close()
 * only records the sticky error, atomically; keys are wiped when the engine
 * is freed.
 *
 * Closing and the fd. sshbpp_packetizer_close() may run while another thread is inside
 * poll()/read()/send() on the fd. close(2) there would let the number be
 * reused under that thread, so close() first shutdown()s the socket (which
 * wakes every blocked poll/read/send on it) and the descriptor itself is
 * released by whichever thread leaves the fd last: every fd use is bracketed
 * by fd_enter()/fd_leave(), which count users in `busy`. fd_enter() refuses
 * once `closed` is set; the last fd_leave() after close releases the fd
 * (exactly once, guarded by `fd_released`). With no thread inside, that is
 * sshbpp_packetizer_close() itself, so an owned fd is normally closed before close
 * returns. A pipe cannot be shut down; a reader blocked on one notices the
 * closed flag within one poll interval.
 *
 * SIGPIPE. Sockets are written with send(MSG_NOSIGNAL). A non-socket fd
 * (ENOTSOCK, remembered) falls back to write(2), which can raise SIGPIPE; the
 * application must ignore SIGPIPE when it uses pipes.
 *
 * Errors. Peer EOF, read/write failures, repeated zero-byte writes and the
 * handshake timeout are fatal: they are recorded in the engine with
 * sshbpp_engine_fail() so that every later call returns the same code.
 * After sshbpp_packetizer_close(), an I/O failure caused by the shutdown is reported as
 * the sticky error (SSHBPP_ECLOSED), not as EOF.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sshbpp/sshbpp_io.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define PZ_DEFAULT_POLL_MS 100
#define PZ_MAX_POLL_MS 60000
/* paramiko's write_all: a zero-byte write after more than this many
 * non-retried write calls gives up (12 calls in all for a peer that never
 * accepts anything). */
#define PZ_WRITE0_LIMIT 10
/* Short pause before retrying a callback write that said EAGAIN. */
#define PZ_EAGAIN_SLEEP_NS 1000000L

/* Results of pz_fill() other than a byte count (> 0). */
enum {
    RD_TIMEOUT = -1, /* nothing arrived in time */
    RD_EOF = -2,     /* end of file */
    RD_ERR = -3,     /* read error, errno saved in last_errno */
    RD_CLOSED = -4,  /* sshbpp_packetizer_close() was called */
    RD_ENGINE = -5   /* the engine refused buffer space: see its sticky error */
};

struct sshbpp_packetizer {
    sshbpp_engine *e;

    /* transport: fd mode or callbacks */
    int use_cb;
    int fd;
    int own_fd;
    int fd_is_sock; /* cleared on ENOTSOCK; only touched under wlock */
    int rd_not_sock; /* set on ENOTSOCK by the reader; only the reader touches it */
    int rd_more;     /* the last read was large (see pz_streaming()): more is
                      * likely queued, so try recv() before poll(); reader only */
    sshbpp_io_callbacks cb;
    void *cb_ctx;

    pthread_mutex_t wlock;
    int send_depth; /* sends/write loops running on the thread holding wlock */

    atomic_int closed;
    atomic_int busy;        /* threads inside a syscall on fd */
    atomic_int fd_released; /* the owned fd was close()d */
    atomic_int last_errno;
    atomic_int poll_ms;
    atomic_int out_keyed; /* an outbound cipher other than none is set */
    atomic_int writing;   /* a write loop is running */
    atomic_int ext_rekey; /* sshbpp_packetizer_set_rekey_flag() */

    /* keepalive: set before the reader starts or on the reader thread;
     * last_write is refreshed by every sender and read by the reader */
    int64_t ka_interval_ns;
    atomic_int ka_on; /* a keepalive is set: writes stamp last_write_ns */
    sshbpp_keepalive_fn ka_cb;
    void *ka_ctx;
    _Atomic int64_t last_write_ns;

    /* handshake timer */
    atomic_int hs_armed;
    atomic_int hs_complete;
    _Atomic int64_t hs_deadline_ns;
};

/* ---------------------------------------------------------------------- */
/* time                                                                    */

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds as nanoseconds, clamped to [0, 10^12 ms] so that no
 * arithmetic on deadlines can overflow; <= 0 counts as 0 (no limit). */
static int64_t
ms_to_ns(int64_t ms)
{
    if (ms <= 0)
        return 0;
    /* about 31 years: far enough, and no overflow when added to now */
    if (ms > (int64_t)1000000000000)
        ms = (int64_t)1000000000000;
    return ms * 1000000;
}

/* Milliseconds left until deadline, rounded up so that a wait does not end
 * just before it; 0 once it has passed. */
static int
ms_until(int64_t deadline)
{
    int64_t left = deadline - now_ns();
    if (left <= 0)
        return 0;
    left = (left + 999999) / 1000000;
    return left > INT_MAX ? INT_MAX : (int)left;
}

static void
sleep_ns(long ns)
{
    struct timespec ts = {0, ns};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------------- */
/* errors and the fd                                                       */

/* Records a fatal error in the engine; returns the recorded one (an earlier
 * error wins, as everywhere in sshbpp). */
static int
pz_fail(sshbpp_packetizer *p, int err)
{
    return sshbpp_engine_fail(p->e, err);
}

/* What a call on a closed Packetizer returns. close() sets the flag before
 * it closes the engine, so the engine may not know yet. */
static int
pz_closed_err(const sshbpp_packetizer *p)
{
    int r = sshbpp_engine_error(p->e);
    return r != 0 ? r : SSHBPP_ECLOSED;
}

static void
pz_release_fd(sshbpp_packetizer *p)
{
    if (!p->use_cb && p->own_fd && !atomic_exchange(&p->fd_released, 1))
        close(p->fd);
}

/* Brackets a use of the fd; see "Closing and the fd". The order (count
 * first, then look at closed) pairs with close() (closed first, then look at
 * the count): with sequentially consistent atomics one of the two sides sees
 * the other. */
static int
fd_enter(sshbpp_packetizer *p)
{
    atomic_fetch_add(&p->busy, 1);
    if (atomic_load(&p->closed)) {
        if (atomic_fetch_sub(&p->busy, 1) == 1)
            pz_release_fd(p);
        return -1;
    }
    return 0;
}

static void
fd_leave(sshbpp_packetizer *p)
{
    if (atomic_fetch_sub(&p->busy, 1) == 1 && atomic_load(&p->closed))
        pz_release_fd(p);
}

/* ---------------------------------------------------------------------- */
/* reading                                                                 */

/* A read of n bytes into room says the peer is streaming: it filled the
 * room, or brought at least PZ_STREAM_BYTES (several packets' worth), so
 * the next read will likely find data queued. */
#define PZ_STREAM_BYTES 4096
static int
pz_streaming(size_t n, size_t room)
{
    return n == room || n >= PZ_STREAM_BYTES;
}

/* Waits up to timeout_ms (>= 0) for input and reads once: into dst (len
 * bytes at most) or, with dst NULL, into the engine's input buffer. EINTR
 * is retried with the time left. Returns the byte count (> 0) or an RD_*
 * code. */
static long
pz_fill(sshbpp_packetizer *p, int timeout_ms, uint8_t *dst, size_t len)
{
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    int wait_ms = timeout_ms;
    long n;

    if (!p->use_cb && fd_enter(p) != 0)
        return RD_CLOSED;
    /* Fast path on a socket: when the last read was large (a busy
     * connection, the peer ahead of us), more input is probably
     * queued, and one non-blocking recv() takes it without the poll()
     * first. Otherwise (or if nothing is queued after all) the normal
     * poll-then-read path runs, which also reports EOF and errors, so an
     * idle connection costs no extra system call. */
    if (!p->use_cb && p->rd_more && !p->rd_not_sock && !atomic_load(&p->closed)) {
        uint8_t *buf = dst;
        size_t room = len;
        if (buf == NULL)
            buf = sshbpp_engine_rx_space(p->e, 0, &room);
        if (buf != NULL && room > 0) {
            n = (long)recv(p->fd, buf, room, MSG_DONTWAIT);
            if (n > 0) {
                if (dst == NULL)
                    sshbpp_engine_rx_commit(p->e, (size_t)n);
                p->rd_more = pz_streaming((size_t)n, room);
                fd_leave(p);
                return n;
            }
            p->rd_more = 0;
            if (n < 0 && errno == ENOTSOCK)
                p->rd_not_sock = 1;
        }
    }
    for (;;) {
        int err;

        if (atomic_load(&p->closed)) {
            n = RD_CLOSED;
            break;
        }
        if (!p->use_cb) {
            struct pollfd pfd = {.fd = p->fd, .events = POLLIN, .revents = 0};
            int r = poll(&pfd, 1, wait_ms);
            if (r == 0) {
                n = RD_TIMEOUT;
                break;
            }
            if (r < 0) {
                if (errno == EINTR) {
                    wait_ms = ms_until(deadline);
                    if (wait_ms == 0) {
                        n = RD_TIMEOUT;
                        break;
                    }
                    continue;
                }
                atomic_store(&p->last_errno, errno);
                n = RD_ERR;
                break;
            }
            if (pfd.revents & POLLNVAL) {
                atomic_store(&p->last_errno, EBADF);
                n = RD_ERR;
                break;
            }
            /* POLLIN, POLLHUP or POLLERR: read() reports which. */
        }

        {
            uint8_t *buf = dst;
            size_t room = len;
            if (buf == NULL) {
                buf = sshbpp_engine_rx_space(p->e, 0, &room);
                if (buf == NULL || room == 0) {
                    n = RD_ENGINE;
                    break;
                }
            }
            if (p->use_cb)
                n = p->cb.read(p->cb_ctx, buf, room, wait_ms);
            else
                n = (long)read(p->fd, buf, room);
            err = errno;
            if (n > (long)room) {
                /* a callback claiming more than it was given */
                n = -1;
                err = EOVERFLOW;
            }
            if (n > 0 && dst == NULL)
                sshbpp_engine_rx_commit(p->e, (size_t)n);
            if (n > 0)
                p->rd_more = pz_streaming((size_t)n, room);
        }

        if (n > 0)
            break;
        if (n == 0) {
            n = RD_EOF;
            break;
        }
        if (err == EINTR || (!p->use_cb && (err == EAGAIN || err == EWOULDBLOCK))) {
            /* a signal, or a spurious wake-up on a non-blocking fd */
            wait_ms = ms_until(deadline);
            if (wait_ms == 0) {
                n = RD_TIMEOUT;
                break;
            }
            continue;
        }
        if (p->use_cb && (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT)) {
            n = RD_TIMEOUT;
            break;
        }
        atomic_store(&p->last_errno, err);
        n = RD_ERR;
        break;
    }
    if (!p->use_cb)
        fd_leave(p);
    return n;
}

/* Converts a failed pz_fill() into the call's error. eof_code is what a
 * clean end of file means to the caller. */
static int
pz_fill_error(sshbpp_packetizer *p, long rd, int eof_code)
{
    /* A shutdown by sshbpp_packetizer_close() makes reads see EOF or errors: report
     * the close, not the side effect. */
    if (rd == RD_CLOSED || atomic_load(&p->closed))
        return pz_closed_err(p);
    if (rd == RD_EOF)
        return pz_fail(p, eof_code);
    if (rd == RD_ERR)
        return pz_fail(p, SSHBPP_EIO);
    /* RD_ENGINE: the engine is closed or out of memory */
    {
        int r = sshbpp_engine_error(p->e);
        return r != 0 ? r : pz_fail(p, SSHBPP_ENOMEM);
    }
}

/* The engine's rekey flag, or the one set from outside. */
static int
pz_need_rekey(const sshbpp_packetizer *p)
{
    return atomic_load(&p->ext_rekey) || sshbpp_engine_need_rekey(p->e);
}

/* paramiko's _check_keepalive(): only on a read's idle wake-up. */
static void
pz_check_keepalive(sshbpp_packetizer *p)
{
    int64_t now;

    if (p->ka_interval_ns <= 0 || p->ka_cb == NULL || !atomic_load(&p->out_keyed) ||
        pz_need_rekey(p))
        return;
    /* Not in paramiko: a write in progress means the connection is not
     * idle. It also keeps the reader from queueing behind a sender stuck
     * on a full socket (the callback would wait for wlock), which could
     * deadlock both peers when each waits for the other to read. */
    if (atomic_load(&p->writing) > 0)
        return;
    now = now_ns();
    if (now > atomic_load(&p->last_write_ns) + p->ka_interval_ns) {
        /* no lock held: the callback may send */
        p->ka_cb(p, p->ka_ctx);
        atomic_store(&p->last_write_ns, now);
    }
}

static int
pz_poll_ms(const sshbpp_packetizer *p)
{
    return atomic_load(&p->poll_ms);
}

/* ---------------------------------------------------------------------- */
/* writing                                                                 */

/* One write attempt. Returns the count (>= 0) or -1 with errno set. */
static long
pz_write_some(sshbpp_packetizer *p, const uint8_t *buf, size_t len)
{
    long n;

    if (p->use_cb) {
        n = p->cb.write(p->cb_ctx, buf, len);
        if (n > (long)len) {
            errno = EOVERFLOW;
            return -1;
        }
        return n;
    }
    if (fd_enter(p) != 0) {
        errno = EPIPE;
        return -1;
    }
    if (p->fd_is_sock) {
        n = (long)send(p->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) {
            p->fd_is_sock = 0;
            n = (long)write(p->fd, buf, len);
        }
    } else {
        n = (long)write(p->fd, buf, len);
    }
    {
        int err = errno;
        fd_leave(p);
        errno = err;
    }
    return n;
}

/* Waits a little before retrying a write that said EAGAIN: until the fd is
 * writable (at most one poll interval), or 1 ms for callbacks. */
static void
pz_wait_writable(sshbpp_packetizer *p)
{
    if (p->use_cb) {
        sleep_ns(PZ_EAGAIN_SLEEP_NS);
        return;
    }
    if (fd_enter(p) != 0)
        return;
    {
        struct pollfd pfd = {.fd = p->fd, .events = POLLOUT, .revents = 0};
        (void)poll(&pfd, 1, pz_poll_ms(p));
    }
    fd_leave(p);
}

/* paramiko's write_all() (spec 4.3). Called with wlock held. With
 * from_engine set, writes the engine's pending output (buf, n unused) and
 * consumes it as it goes. */
static int
pz_write_loop_inner(sshbpp_packetizer *p, const uint8_t *buf, size_t n, int from_engine)
{
    int calls = 0;
    int r = sshbpp_engine_error(p->e);

    if (r != 0)
        return r;
    /* Only the keepalive reads the stamp, so without one a write reads no
     * clock; set_keepalive() stamps it when it arms one. Relaxed: the
     * stamp is a hint that orders nothing else. */
    if (atomic_load_explicit(&p->ka_on, memory_order_relaxed))
        atomic_store_explicit(&p->last_write_ns, now_ns(), memory_order_relaxed);
    for (;;) {
        const uint8_t *d = buf;
        size_t left = n;
        long w;

        if (from_engine)
            d = sshbpp_engine_tx_data(p->e, &left);
        if (left == 0)
            return 0;
        if (atomic_load(&p->closed))
            return pz_closed_err(p);
        w = pz_write_some(p, d, left);
        if (w < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                pz_wait_writable(p);
                continue;
            }
            if (atomic_load(&p->closed))
                return pz_closed_err(p);
            atomic_store(&p->last_errno, err);
            return pz_fail(p, SSHBPP_EEOF);
        }
        /* as paramiko, the counter counts every call that was not a retry,
         * and only a zero-byte one can end the loop */
        if (w == 0 && calls > PZ_WRITE0_LIMIT)
            return pz_fail(p, SSHBPP_EWRITE0);
        calls++;
        if (from_engine) {
            sshbpp_engine_tx_consume(p->e, (size_t)w);
            if ((size_t)w == left)
                return 0; /* all written: no second look at the engine */
        } else {
            buf += w;
            n -= (size_t)w;
        }
    }
}

static int
pz_write_loop(sshbpp_packetizer *p, const uint8_t *buf, size_t n, int from_engine)
{
    int r;

    atomic_fetch_add(&p->writing, 1);
    p->send_depth++;
    r = pz_write_loop_inner(p, buf, n, from_engine);
    p->send_depth--;
    atomic_fetch_sub(&p->writing, 1);
    return r;
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

static int
init_recursive(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    int r;

    if (pthread_mutexattr_init(&a) != 0)
        return -1;
    r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    if (r == 0)
        r = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return r == 0 ? 0 : -1;
}

static sshbpp_packetizer *
pz_new(void)
{
    sshbpp_packetizer *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->e = sshbpp_engine_new();
    if (p->e == NULL) {
        free(p);
        return NULL;
    }
    if (init_recursive(&p->wlock) != 0) {
        sshbpp_engine_free(p->e);
        free(p);
        return NULL;
    }
    p->fd = -1;
    p->fd_is_sock = 1;
    atomic_init(&p->closed, 0);
    atomic_init(&p->busy, 0);
    atomic_init(&p->fd_released, 0);
    atomic_init(&p->last_errno, 0);
    atomic_init(&p->poll_ms, PZ_DEFAULT_POLL_MS);
    atomic_init(&p->out_keyed, 0);
    atomic_init(&p->writing, 0);
    atomic_init(&p->ext_rekey, 0);
    atomic_init(&p->last_write_ns, now_ns());
    atomic_init(&p->ka_on, 0);
    atomic_init(&p->hs_armed, 0);
    atomic_init(&p->hs_complete, 0);
    atomic_init(&p->hs_deadline_ns, 0);
    return p;
}

/* see sshbpp_io.h */
sshbpp_packetizer *
sshbpp_packetizer_new_fd(int fd, int own_fd)
{
    sshbpp_packetizer *p;

    if (fd < 0)
        return NULL;
    p = pz_new();
    if (p == NULL)
        return NULL;
    p->fd = fd;
    p->own_fd = own_fd != 0;
    return p;
}

/* see sshbpp_io.h */
sshbpp_packetizer *
sshbpp_packetizer_new_cb(const sshbpp_io_callbacks *cb, void *ctx)
{
    sshbpp_packetizer *p;

    if (cb == NULL || cb->read == NULL || cb->write == NULL)
        return NULL;
    p = pz_new();
    if (p == NULL)
        return NULL;
    p->use_cb = 1;
    p->cb = *cb;
    p->cb_ctx = ctx;
    return p;
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_free(sshbpp_packetizer *p)
{
    if (p == NULL)
        return;
    sshbpp_packetizer_close(p);
    /* no other thread may use p now, so the fd is free to go */
    pz_release_fd(p);
    sshbpp_engine_free(p->e);
    pthread_mutex_destroy(&p->wlock);
    free(p);
}

/* see sshbpp_io.h */
sshbpp_engine *
sshbpp_packetizer_engine(sshbpp_packetizer *p)
{
    return p != NULL ? p->e : NULL;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_set_poll_interval(sshbpp_packetizer *p, int ms)
{
    if (p == NULL || ms < 1 || ms > PZ_MAX_POLL_MS)
        return SSHBPP_EINVAL;
    atomic_store(&p->poll_ms, ms);
    return 0;
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_close(sshbpp_packetizer *p)
{
    if (p == NULL)
        return;
    /* Count ourselves as an fd user so that no other thread releases the
     * fd between setting `closed` and our shutdown(). */
    atomic_fetch_add(&p->busy, 1);
    if (atomic_exchange(&p->closed, 1)) {
        fd_leave(p);
        return;
    }
    /* The sticky error first, so that a reader woken below reports it. */
    sshbpp_engine_close(p->e);
    if (p->use_cb) {
        if (p->cb.close != NULL)
            p->cb.close(p->cb_ctx);
    } else {
        /* Wakes a reader in poll()/read() and a writer in send(). Fails
         * harmlessly (ENOTSOCK) on pipes. */
        (void)shutdown(p->fd, SHUT_RDWR);
    }
    fd_leave(p);
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_closed(const sshbpp_packetizer *p)
{
    return p != NULL && atomic_load(&p->closed);
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_last_errno(const sshbpp_packetizer *p)
{
    return p != NULL ? atomic_load(&p->last_errno) : 0;
}

/* ---------------------------------------------------------------------- */
/* raw I/O                                                                 */

/* see sshbpp_io.h */
int
sshbpp_packetizer_read_all(sshbpp_packetizer *p, void *buf, size_t n, int check_rekey)
{
    uint8_t *out = buf;
    size_t got = 0;
    int r;

    if (p == NULL || (out == NULL && n > 0))
        return SSHBPP_EINVAL;
    if ((r = sshbpp_engine_error(p->e)) != 0)
        return r;
    if (atomic_load(&p->closed))
        return pz_closed_err(p);
    if (n > 0) {
        long t;
            t = sshbpp_engine_rx_take(p->e, out, n);
            if (t < 0)
            return (int)t;
        got = (size_t)t;
    }
    while (got < n) {
        long k;

        if (sshbpp_packetizer_handshake_timed_out(p))
            return pz_fail(p, SSHBPP_EHANDSHAKE);
        k = pz_fill(p, pz_poll_ms(p), out + got, n - got);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (k != RD_TIMEOUT)
            return pz_fill_error(p, k, SSHBPP_EEOF);
        if (atomic_load(&p->closed))
            return pz_closed_err(p);
        if (sshbpp_packetizer_handshake_timed_out(p))
            return pz_fail(p, SSHBPP_EHANDSHAKE);
        if (check_rekey && got == 0 && pz_need_rekey(p))
            return SSHBPP_ENEEDREKEY;
        pz_check_keepalive(p);
    }
    return 0;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_write_all(sshbpp_packetizer *p, const void *buf, size_t n)
{
    int r;

    if (p == NULL || (buf == NULL && n > 0))
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&p->wlock);
    r = p->send_depth > 0 ? SSHBPP_EINVAL : pz_write_loop(p, buf, n, 0);
    pthread_mutex_unlock(&p->wlock);
    return r;
}

/* see sshbpp_io.h */
long
sshbpp_packetizer_readline(sshbpp_packetizer *p, char *buf, size_t cap, int64_t timeout_ms)
{
    int64_t chunk_ns = ms_to_ns(timeout_ms);
    int64_t deadline = 0;
    int r;

    if (p == NULL || buf == NULL)
        return SSHBPP_EINVAL;
    if (cap == 0)
        return SSHBPP_EBUFSMALL;
    if ((r = sshbpp_engine_error(p->e)) != 0)
        return r;
    if (atomic_load(&p->closed))
        return pz_closed_err(p);
    if (chunk_ns > 0)
        deadline = now_ns() + chunk_ns;
    for (;;) {
        size_t len = 0;
        int wait_ms = pz_poll_ms(p);
        long k;

        r = sshbpp_engine_rx_line(p->e, buf, cap, &len);
        if (r == 0)
            return (long)len;
        if (r != SSHBPP_EAGAIN)
            return sshbpp_is_fatal(r) ? pz_fail(p, r) : r;
        /* Stricter than paramiko: the per-chunk timeout restarts with every
         * byte, so only the handshake timer stops a peer that trickles its
         * banner one byte at a time. */
        if (sshbpp_packetizer_handshake_timed_out(p))
            return pz_fail(p, SSHBPP_EHANDSHAKE);
        /* Wait in poll-interval slices even without a timeout, so that
         * close() stops a reader on a pipe or a callback transport. */
        if (chunk_ns > 0) {
            int left = ms_until(deadline);
            if (left == 0)
                return SSHBPP_ETIMEDOUT;
            if (left < wait_ms)
                wait_ms = left;
        }
        k = pz_fill(p, wait_ms, NULL, 0);
        if (k > 0) {
            /* paramiko's timeout bounds each chunk, not the whole line */
            if (chunk_ns > 0)
                deadline = now_ns() + chunk_ns;
            continue;
        }
        if (k != RD_TIMEOUT)
            return pz_fill_error(p, k, SSHBPP_EEOF);
        if (atomic_load(&p->closed))
            return pz_closed_err(p);
    }
}

/* ---------------------------------------------------------------------- */
/* packets                                                                 */

/* see sshbpp_io.h */
int
sshbpp_packetizer_send_message(sshbpp_packetizer *p, const void *payload, size_t len)
{
    int r;

    if (p == NULL || payload == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&p->wlock);
    if (p->send_depth > 0) {
        /* nested in our own send, through a callback */
        pthread_mutex_unlock(&p->wlock);
        return SSHBPP_EINVAL;
    }
    p->send_depth++;
    r = sshbpp_engine_send(p->e, payload, len);
    if (r == 0)
        r = pz_write_loop(p, NULL, 0, 1);
    p->send_depth--;
    pthread_mutex_unlock(&p->wlock);
    return r;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_send_messages(sshbpp_packetizer *p, const sshbpp_iov *msgs, size_t n)
{
    int r;

    if (p == NULL || (msgs == NULL && n > 0))
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&p->wlock);
    if (p->send_depth > 0) {
        pthread_mutex_unlock(&p->wlock);
        return SSHBPP_EINVAL;
    }
    p->send_depth++;
    r = sshbpp_engine_send_batch(p->e, msgs, n, NULL);
    if (r == 0)
        r = pz_write_loop(p, NULL, 0, 1);
    p->send_depth--;
    pthread_mutex_unlock(&p->wlock);
    return r;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_read_message(sshbpp_packetizer *p, sshbpp_packet *pkt)
{
    int r;

    if (p == NULL || pkt == NULL)
        return SSHBPP_EINVAL;
    if (atomic_load(&p->closed))
        return pz_closed_err(p);
    for (;;) {
        long k;

        r = sshbpp_engine_rx_next(p->e, pkt);
        if (r == 0)
            return 0;
        if (r != SSHBPP_EAGAIN)
            return r;
        if (sshbpp_packetizer_handshake_timed_out(p))
            return pz_fail(p, SSHBPP_EHANDSHAKE);
        k = pz_fill(p, pz_poll_ms(p), NULL, 0);
        if (k > 0)
            continue;
        if (k != RD_TIMEOUT) {
            int eof = SSHBPP_EEOF;
            if (sshbpp_engine_rx_pending(p->e) > 0 || sshbpp_engine_rx_in_packet(p->e))
                eof = SSHBPP_EEOFPKT;
            return pz_fill_error(p, k, eof);
        }
        if (atomic_load(&p->closed))
            return pz_closed_err(p);
        if (sshbpp_packetizer_handshake_timed_out(p))
            return pz_fail(p, SSHBPP_EHANDSHAKE);
        /* paramiko's NeedRekeyException: only between packets */
        if (!sshbpp_engine_rx_in_packet(p->e) && sshbpp_engine_rx_pending(p->e) == 0 &&
            pz_need_rekey(p))
            return SSHBPP_ENEEDREKEY;
        pz_check_keepalive(p);
    }
}

/* ---------------------------------------------------------------------- */
/* keys, compression, sequence numbers                                    */

static int
is_real_cipher(const char *name)
{
    return name != NULL && strcmp(name, "none") != 0;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_set_inbound_cipher(sshbpp_packetizer *p, const sshbpp_keys *k)
{
    int r;

    if (p == NULL || k == NULL)
        return SSHBPP_EINVAL;
    r = sshbpp_engine_set_keys(p->e, SSHBPP_DIR_IN, k);
    return r;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_set_outbound_cipher(sshbpp_packetizer *p, const sshbpp_keys *k)
{
    int r;

    if (p == NULL || k == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&p->wlock);
    r = sshbpp_engine_set_keys(p->e, SSHBPP_DIR_OUT, k);
    if (r == 0)
        atomic_store(&p->out_keyed, is_real_cipher(k->cipher));
    pthread_mutex_unlock(&p->wlock);
    return r;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_set_inbound_compressor(sshbpp_packetizer *p, const char *name)
{
    int r;

    if (p == NULL)
        return SSHBPP_EINVAL;
    r = sshbpp_engine_set_compression(p->e, SSHBPP_DIR_IN, name);
    return r;
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_set_outbound_compressor(sshbpp_packetizer *p, const char *name)
{
    int r;

    if (p == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&p->wlock);
    r = sshbpp_engine_set_compression(p->e, SSHBPP_DIR_OUT, name);
    pthread_mutex_unlock(&p->wlock);
    return r;
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_reset_seqno_in(sshbpp_packetizer *p)
{
    if (p == NULL)
        return;
    sshbpp_engine_reset_seqno(p->e, SSHBPP_DIR_IN);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_reset_seqno_out(sshbpp_packetizer *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->wlock);
    sshbpp_engine_reset_seqno(p->e, SSHBPP_DIR_OUT);
    pthread_mutex_unlock(&p->wlock);
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_need_rekey(const sshbpp_packetizer *p)
{
    return p != NULL && pz_need_rekey(p);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_set_rekey_flag(sshbpp_packetizer *p, int on)
{
    if (p != NULL)
        atomic_store(&p->ext_rekey, on != 0);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_set_outbound_keyed(sshbpp_packetizer *p, int on)
{
    if (p != NULL)
        atomic_store(&p->out_keyed, on != 0);
}

/* ---------------------------------------------------------------------- */
/* keepalive, handshake timer, logging                                     */

/* see sshbpp_io.h */
void
sshbpp_packetizer_set_keepalive(sshbpp_packetizer *p, int64_t interval_ms,
                                sshbpp_keepalive_fn cb, void *ctx)
{
    if (p == NULL)
        return;
    p->ka_interval_ns = ms_to_ns(interval_ms);
    p->ka_cb = cb;
    p->ka_ctx = ctx;
    /* as paramiko: the idle time counts from now */
    atomic_store(&p->last_write_ns, now_ns());
    atomic_store(&p->ka_on, p->ka_interval_ns > 0 && cb != NULL);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_start_handshake(sshbpp_packetizer *p, int64_t timeout_ms)
{
    if (p == NULL || atomic_load(&p->hs_armed))
        return;
    /* the deadline is in place before anyone can see the timer armed */
    atomic_store(&p->hs_deadline_ns, now_ns() + ms_to_ns(timeout_ms));
    atomic_store(&p->hs_armed, 1);
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_handshake_timed_out(const sshbpp_packetizer *p)
{
    if (p == NULL || !atomic_load(&p->hs_armed) || atomic_load(&p->hs_complete))
        return 0;
    return now_ns() >= atomic_load(&p->hs_deadline_ns);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_complete_handshake(sshbpp_packetizer *p)
{
    if (p != NULL && atomic_load(&p->hs_armed))
        atomic_store(&p->hs_complete, 1);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_set_log(sshbpp_packetizer *p, sshbpp_log_fn fn, void *ctx)
{
    if (p != NULL)
        sshbpp_engine_set_log(p->e, fn, ctx);
}

/* see sshbpp_io.h */
void
sshbpp_packetizer_set_hexdump(sshbpp_packetizer *p, int on)
{
    if (p != NULL)
        sshbpp_engine_set_hexdump(p->e, on);
}

/* see sshbpp_io.h */
int
sshbpp_packetizer_get_hexdump(const sshbpp_packetizer *p)
{
    return p != NULL && sshbpp_engine_get_hexdump(p->e);
}
