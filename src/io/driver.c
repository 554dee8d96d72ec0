/*
 * driver.c: the blocking driver's lifecycle and its one loop (see the
 * thread model in sshbpp_driver.h).
 *
 * IMPLEMENTATION NOTES
 *
 * sshbpp__driver_run() is the run-until loop. With mu held it decodes the
 * conn's events into the driver's state (inbox, auth result, global request
 * replies, host key verdicts), checks the caller's goal, and then either
 * becomes the driving thread or sleeps on cv. The driving thread computes
 * what it waits for (input unless the inbox is full; output when the conn
 * has some) and until when (its own deadline, the conn's next deadline),
 * drops mu, calls io.wait(), takes mu again, reads and writes without
 * blocking (io.read/io.write), ticks the conn's timers, broadcasts, and
 * goes round. It gives the role up whenever its goal is met or its
 * deadline passed, and broadcasts so that a sleeper takes over. A
 * sleeper's wait is bounded by its own deadline, so timeouts hold whoever
 * drives.
 *
 * io.wake() is called by close(), and by sshbpp__driver_flush() when a
 * non-driving thread changed what the driver must wait for: output left
 * while the driver waits for input only, room in an inbox that had stopped
 * reading, a deadline earlier than the wait's. The driving thread records
 * what its wait covers (wait_read, wait_write, wait_until) before it drops
 * mu, so that nothing else costs a wake-up: a bulk sender whose output the
 * driver is already waiting to write adds to it without a system call. For
 * an fd (driver_fdio.c) wake is a self-pipe, and wait reports which way the
 * fd is ready, so that a round reads or writes only what poll() said may
 * move (tx_blocked keeps the run loop from retrying a full socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "driver_int.h"

#define READ_CHUNK (64u * 1024u)

int64_t
sshbpp__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sshbpp__driver_deadline(const sshbpp_driver *d, int64_t timeout_ms)
{
    if (timeout_ms == SSHBPP_TIMEOUT_DEFAULT)
        timeout_ms = d->default_timeout;
    if (timeout_ms < 0)
        return -1;
    return sshbpp__now_ms() + timeout_ms;
}

int
sshbpp__driver_err(const sshbpp_driver *d)
{
    if (d->closed)
        return SSHBPP_ECLOSED;
    return sshbpp_conn_error(d->c);
}

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

/* see sshbpp_driver.h */
sshbpp_driver *
sshbpp_driver_new_io(const sshbpp_driver_io *io, void *ctx, const sshbpp_conn_config *cfg)
{
    pthread_condattr_t ca;
    sshbpp_driver *d;

    if (io == NULL || io->read == NULL || io->write == NULL || io->wait == NULL ||
        io->wake == NULL || cfg == NULL)
        return NULL;
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return NULL;
    d->io = *io;
    d->io_ctx = ctx;
    d->default_timeout = -1;
    if ((d->c = sshbpp_conn_new(cfg)) == NULL || pthread_mutex_init(&d->mu, NULL) != 0)
        goto fail;
    d->cv_clock = CLOCK_REALTIME;
    if (pthread_condattr_init(&ca) == 0) {
        if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0)
            d->cv_clock = CLOCK_MONOTONIC;
        if (pthread_cond_init(&d->cv, &ca) != 0) {
            pthread_condattr_destroy(&ca);
            pthread_mutex_destroy(&d->mu);
            goto fail;
        }
        pthread_condattr_destroy(&ca);
    } else if (pthread_cond_init(&d->cv, NULL) != 0) {
        pthread_mutex_destroy(&d->mu);
        goto fail;
    }
    return d;
fail:
    sshbpp_conn_free(d->c);
    free(d);
    return NULL;
}

/* see sshbpp_driver.h */
sshbpp_driver *
sshbpp_driver_new(int fd, const sshbpp_conn_config *cfg)
{
    sshbpp_driver_io io;
    sshbpp_driver *d;
    void *ctx;

    if (fd < 0 || cfg == NULL)
        return NULL;
    if ((ctx = sshbpp__fdio_new(fd, &io)) == NULL)
        return NULL;
    if ((d = sshbpp_driver_new_io(&io, ctx, cfg)) == NULL) {
        /* the fd is the caller's again: only the pipe and ctx go */
        io.close = NULL;
        sshbpp__fdio_release(ctx);
    }
    return d;
}

/* see sshbpp_driver.h */
sshbpp_driver *
sshbpp_driver_connect(const char *host, const char *port, const sshbpp_conn_config *cfg,
                      int64_t timeout_ms, int *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    int64_t deadline = timeout_ms > 0 ? sshbpp__now_ms() + timeout_ms : -1;
    int fd = -1, e = SSHBPP_EIO, soerr;
    socklen_t sl;
    sshbpp_driver *d;

    if (err == NULL)
        return NULL;
    if (host == NULL || port == NULL || cfg == NULL) {
        *err = SSHBPP_EINVAL;
        return NULL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        *err = SSHBPP_EIO;
        return NULL;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        struct pollfd p;
        int left;

        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) < 0)
            continue;
        if (set_nonblock(fd) != 0)
            goto next;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno != EINPROGRESS)
            goto next;
        p.fd = fd;
        p.events = POLLOUT;
        for (;;) {
            left = deadline < 0 ? -1 : (int)(deadline - sshbpp__now_ms());
            if (deadline >= 0 && left <= 0) {
                e = SSHBPP_ETIMEDOUT;
                goto next;
            }
            if (poll(&p, 1, left) > 0 || errno != EINTR)
                break;
        }
        sl = sizeof(soerr);
        if (p.revents != 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            break;
        if (p.revents == 0)
            e = SSHBPP_ETIMEDOUT;
    next:
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *err = e;
        return NULL;
    }
    if ((d = sshbpp_driver_new(fd, cfg)) == NULL) {
        close(fd);
        *err = SSHBPP_ENOMEM;
        return NULL;
    }
    *err = 0;
    return d;
}

/* see sshbpp_driver.h */
void
sshbpp_driver_free(sshbpp_driver *d)
{
    struct dmsg *m;

    if (d == NULL)
        return;
    while ((m = d->ihead) != NULL) {
        d->ihead = m->next;
        OPENSSL_cleanse(m->data, m->len);
        free(m);
    }
    sshbpp_conn_free(d->c);
    if (d->io.free != NULL)
        d->io.free(d->io_ctx);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* A failure here is the conn's sticky error, which the loop checks. */
static void
ignore_err(void)
{
}

static void
wake(sshbpp_driver *d)
{
    d->io.wake(d->io_ctx);
}

/* see sshbpp_driver.h */
void
sshbpp_driver_close(sshbpp_driver *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    if (!d->closed) {
        d->closed = 1;
        (void)sshbpp_conn_fail(d->c, SSHBPP_ECLOSED);
        if (d->io.close != NULL)
            d->io.close(d->io_ctx);
    }
    wake(d);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* see sshbpp_driver.h */
void
sshbpp_driver_set_timeout(sshbpp_driver *d, int64_t timeout_ms)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->default_timeout = timeout_ms;
    pthread_mutex_unlock(&d->mu);
}

/* see sshbpp_driver.h */
void
sshbpp_driver_set_hostkey_cb(sshbpp_driver *d, sshbpp_driver_hostkey_fn fn, void *ctx)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->hk_fn = fn;
    d->hk_ctx = ctx;
    pthread_mutex_unlock(&d->mu);
}

/* see sshbpp_driver.h */
sshbpp_conn *
sshbpp_driver_conn(sshbpp_driver *d)
{
    return d != NULL ? d->c : NULL;
}

/* ---------------------------------------------------------------------- */
/* events and I/O                                                          */

static void
inbox_add(sshbpp_driver *d, const uint8_t *p, size_t len)
{
    struct dmsg *m = malloc(sizeof(*m) + len);

    if (m == NULL) {
        (void)sshbpp_conn_fail(d->c, SSHBPP_ENOMEM);
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->data, p, len);
    if (d->itail != NULL)
        d->itail->next = m;
    else
        d->ihead = m;
    d->itail = m;
    d->ibytes += len;
}

static void
on_event(sshbpp_driver *d, const sshbpp_conn_event *ev)
{
    char ans[SSHBPP_CONN_MAX_PROMPTS][256];
    const char *av[SSHBPP_CONN_MAX_PROMPTS];
    unsigned i;
    int ok;

    switch (ev->type) {
    case SSHBPP_CONN_EV_HOSTKEY:
        ok = d->hk_fn != NULL && d->hk_fn(d->hk_ctx, ev->alg, ev->text, ev->data, ev->len) == 1;
        if (sshbpp_conn_hostkey_verdict(d->c, ok) != 0)
            ignore_err(); /* sticky: the loop returns it */
        break;
    case SSHBPP_CONN_EV_AUTH_RESULT:
        d->auth_pending = 0;
        d->auth_success = ev->success;
        d->auth_partial = ev->partial;
        snprintf(d->auth_methods, sizeof(d->auth_methods), "%s", ev->text);
        break;
    case SSHBPP_CONN_EV_AUTH_PROMPT:
        /* only without a responder: empty answers */
        memset(ans, 0, sizeof(ans));
        for (i = 0; i < ev->nprompts; i++)
            av[i] = ans[i];
        if (sshbpp_conn_auth_kbdint_answer(d->c, ev->nprompts, av) != 0)
            ignore_err(); /* sticky: the loop returns it */
        break;
    case SSHBPP_CONN_EV_MESSAGE:
        if ((ev->data[0] == 81 || ev->data[0] == 82) && d->greq_done < d->greq_sent) {
            d->greq_result[d->greq_done % GREQ_SLOTS] = ev->data[0] == 81;
            d->greq_done++;
            break;
        }
        inbox_add(d, ev->data, ev->len);
        break;
    default:
        break;
    }
}

/* 1 while input may be decoded: the inbox has room, or a key exchange
 * runs. During an exchange the peer's KEXINIT/NEWKEYS may sit behind
 * application messages, and a receiver that is itself waiting (to send a
 * reply into a queue that only the exchange's end empties) would never make
 * room: so the inbox may then grow, up to a hard cap. An RFC 4253 peer
 * sends nothing but the exchange after its KEXINIT, so the excess is what
 * was in flight. */
static int
may_decode(const sshbpp_driver *d)
{
    if (d->ibytes < SSHBPP_DRIVER_INBOX_MAX)
        return 1;
    return sshbpp_conn_kex_running(d->c) && d->ibytes < 4u * SSHBPP_DRIVER_INBOX_MAX;
}

static void
pump_events(sshbpp_driver *d)
{
    sshbpp_conn_event ev;

    while (may_decode(d) && sshbpp_conn_next_event(d->c, &ev) == 0)
        on_event(d, &ev);
}

/* Non-blocking write of what is pending: 0, or SSHBPP_EIO when the
 * transport failed (the output is then dropped). */
static int
write_some(sshbpp_driver *d)
{
    const uint8_t *p;
    size_t len;
    long n;

    while ((p = sshbpp_conn_tx_data(d->c, &len)) != NULL && len > 0) {
        n = d->io.write(d->io_ctx, p, len);
        if (n > 0) {
            d->tx_blocked = 0;
            sshbpp_conn_tx_consume(d->c, (size_t)n > len ? len : (size_t)n);
            continue;
        }
        if (n == SSHBPP_EAGAIN) {
            d->tx_blocked = 1;
            return 0;
        }
        /* the connection is gone: drop the output */
        sshbpp_conn_tx_consume(d->c, len);
        (void)sshbpp_conn_fail(d->c, SSHBPP_EIO);
        return SSHBPP_EIO;
    }
    return 0;
}

/* Non-blocking reads until the transport is empty or the conn's buffer
 * full (bounded rounds, so that output gets its turn). */
static void
read_some(sshbpp_driver *d, int64_t now)
{
    uint8_t *p;
    size_t room;
    long n;
    unsigned rounds = 0;

    while (rounds++ < 16 && (p = sshbpp_conn_rx_space(d->c, &room)) != NULL) {
        if (room > READ_CHUNK)
            room = READ_CHUNK;
        n = d->io.read(d->io_ctx, p, room);
        if (n > 0) {
            if ((size_t)n > room)
                n = (long)room;
            if (sshbpp_conn_rx_commit(d->c, (size_t)n, now) != 0)
                return; /* sticky: the loop returns it */
            if ((size_t)n < room)
                return;
            continue;
        }
        if (n == 0)
            (void)sshbpp_conn_rx_eof(d->c, now);
        else if (n != SSHBPP_EAGAIN)
            (void)sshbpp_conn_fail(d->c, SSHBPP_EIO);
        return;
    }
}

static int
tx_pending(sshbpp_driver *d)
{
    size_t len = 0;

    return sshbpp_conn_tx_data(d->c, &len) != NULL && len > 0;
}

/* Wakes the driving thread if its wait misses something that is due now. */
static void
nudge(sshbpp_driver *d)
{
    int64_t until;

    if (!d->driving)
        return;
    if ((!d->wait_write && tx_pending(d)) || (!d->wait_read && may_decode(d))) {
        wake(d);
        return;
    }
    until = sshbpp_conn_next_deadline(d->c);
    if (until >= 0 && (d->wait_until < 0 || until < d->wait_until))
        wake(d);
}

void
sshbpp__driver_flush(sshbpp_driver *d)
{
    /* The driver polls for writability: the socket was full when it
     * started to, and it writes as soon as it may. */
    if (!(d->driving && d->wait_write))
        (void)write_some(d);
    nudge(d);
}

int
sshbpp__driver_write_now(sshbpp_driver *d)
{
    return write_some(d);
}

static void
wait_cv(sshbpp_driver *d, int64_t deadline)
{
    struct timespec ts;
    int64_t left;

    if (deadline < 0) {
        pthread_cond_wait(&d->cv, &d->mu);
        return;
    }
    left = deadline - sshbpp__now_ms();
    if (left <= 0)
        return;
    clock_gettime(d->cv_clock, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&d->cv, &d->mu, &ts);
}

/* One round of I/O by the driving thread; called and returns with mu held
 * (dropped around the wait). */
static void
io_round(sshbpp_driver *d, int64_t deadline)
{
    int64_t now = sshbpp__now_ms(), until = sshbpp_conn_next_deadline(d->c), t;
    int timeout, want_read, want_write, r;

    if (deadline >= 0 && (until < 0 || deadline < until))
        until = deadline;
    t = until < 0 ? -1 : until - now;
    timeout = t < 0 ? (until < 0 ? -1 : 0) : t > 60000 ? 60000 : (int)t;
    want_read = may_decode(d);
    want_write = tx_pending(d);
    d->wait_read = want_read;
    d->wait_write = want_write;
    d->wait_until = timeout < 0 ? -1 : now + timeout;
    pthread_mutex_unlock(&d->mu);
    r = d->io.wait(d->io_ctx, want_read, want_write, timeout);
    pthread_mutex_lock(&d->mu);
    d->wait_read = d->wait_write = 0;
    now = sshbpp__now_ms();
    if (d->closed)
        return;
    if (r < 0) {
        (void)sshbpp_conn_fail(d->c, SSHBPP_EIO);
        return;
    }
    /* a mask only with SSHBPP_DRIVER_IO_KNOWN (a transport written to
     * the older contract may return poll()'s count): else try both */
    if (!(r & SSHBPP_DRIVER_IO_KNOWN))
        r = 0;
    if (r == 0 || (r & SSHBPP_DRIVER_IO_WRITABLE))
        d->tx_blocked = 0;
    if (want_read && (r == 0 || (r & SSHBPP_DRIVER_IO_READABLE)))
        read_some(d, now);
    if (sshbpp_conn_tick(d->c, now) != 0)
        return; /* sticky: the loop returns it */
    pump_events(d);
    if (!d->tx_blocked)
        (void)write_some(d);
}

int
sshbpp__driver_run(sshbpp_driver *d, sshbpp__driver_goal goal, void *arg, int64_t deadline)
{
    int r;

    for (;;) {
        pump_events(d);
        /* A goal already met returns with what is pending written (as
         * far as the socket takes it); inside a batch of sends it writes
         * nothing, so that the batch's flush at its end is one write. */
        if (goal(d, arg)) {
            if (!d->batching)
                sshbpp__driver_flush(d);
            return 0;
        }
        if (!d->tx_blocked) {
            (void)write_some(d); /* a failure is the conn's sticky error */
            if (goal(d, arg))
                return 0;
        }
        if ((r = sshbpp__driver_err(d)) != 0) {
            pthread_cond_broadcast(&d->cv);
            return r;
        }
        if (deadline >= 0 && sshbpp__now_ms() >= deadline)
            return SSHBPP_ETIMEDOUT;
        if (!d->driving) {
            d->driving = 1;
            io_round(d, deadline);
            d->driving = 0;
            pthread_cond_broadcast(&d->cv);
        } else {
            /* the driver's wait may miss what this thread waits for
             * (output of a batch that filled the socket, say) */
            nudge(d);
            wait_cv(d, deadline);
        }
    }
}
