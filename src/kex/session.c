/*
 * session.c: the blocking driver (sshbpp_session in sshbpp_kex.h): the
 * RFC 4253 section 4 version exchange, then the key exchange state machine
 * (kex.c) run over a Packetizer, with a receive loop that absorbs key
 * exchange messages and a thread-safe send that stays out of the way of a
 * running exchange.
 *
 * IMPLEMENTATION NOTES
 *
 * Threads: one reader (sshbpp_session_recv), any number of senders. While
 * an exchange runs and no thread is inside sshbpp_session_recv, a sender
 * or sshbpp_session_rekey reads itself ("self-reading", see below). Two
 * locks:
 *
 *   mu     guards the sshbpp_kex object and the session's own state (err,
 *          in_recv, self_reading, handshake_done, the receive queue). It is
 *          held only for short, non-I/O work plus the key exchange's own
 *          sends. It is never held while an application message is
 *          written, or while a self-reader reads, so the reader never waits
 *          behind a sender that is stuck on a full socket for an ordinary
 *          message (two peers that both send a lot would otherwise deadlock
 *          when both readers stop reading).
 *   slock  orders application sends against our KEXINIT. The kex's send
 *          callback closes the gate (gate_closed = 1) under slock before it
 *          writes KEXINIT; a sender checks the gate under slock and writes
 *          under it. So an application message is either wholly before our
 *          KEXINIT or waits until the exchange is over, as RFC 4253 section
 *          7.1 requires ("MUST NOT send any messages other than ...").
 *
 * Lock order: mu before slock (the kex sends under mu). A sender never
 * takes mu while it holds slock. Senders wait for the gate on cv under mu;
 * the reader reopens the gate under mu when an exchange completes and
 * broadcasts, and broadcasts on every fatal error and when it leaves
 * sshbpp_session_recv. Every wait is also a 100 ms slice that re-checks
 * the Packetizer (await_locked): sshbpp_packetizer_close() from another thread, or a
 * failure recorded by a path that never reports to the session (a
 * DISCONNECT or keepalive write, the caller's own use of the Packetizer),
 * ends the wait with that sticky error instead of leaving it to hang.
 *
 * Self-reading: an exchange needs somebody to read the peer's messages.
 * When a thread must wait for one (a sender behind the closed gate, or
 * sshbpp_session_rekey) and no thread is in sshbpp_session_recv, it reads
 * itself until the exchange is over (self_reading = 1 keeps a second
 * self-reader and sshbpp_session_recv out meanwhile). Whatever arrives that
 * is not for the key exchange is queued, bounded (QUEUE_MAX_MSGS /
 * QUEUE_MAX_BYTES; beyond that the session fails with SSHBPP_EPROTO, as
 * there is no way to go on without dropping a message), and
 * sshbpp_session_recv returns queued messages first. Because a self-reader
 * may read while the thread that called sshbpp_session_recv still uses
 * the packet it got, recv hands out a copy owned by the session (rbuf)
 * rather than the Packetizer's buffer, which the next read reuses.
 *
 * The kex's seqno hook: tr_send notes the outbound sequence number of our
 * KEXINIT (for SSHBPP_EREKEYREFUSED). slock keeps the session's senders
 * out, but not sshbpp_session_disconnect, a keepalive callback or a caller
 * writing to the Packetizer directly, so the number counts as known only
 * when exactly one packet went out between the readings before and after
 * the send: then it was ours.
 *
 * Our key-exchange sends from the reader thread wait for slock, that is
 * for a sender that is in the middle of writing one message. That is the
 * same wait the Packetizer's write lock already imposes and ends as soon
 * as the peer reads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "kex_int.h"

#define MSG_DISCONNECT 1
#define MSG_IGNORE 2
#define MSG_DEBUG 4
#define MSG_KEXINIT 20

/* RFC 4253 section 4.2: "The maximum length of the string is 255
 * characters, including the Carriage Return and Line Feed." */
#define MAX_VERSION_LINE 255
/* Lines a server may send before its version line (client role). */
#define MAX_PRE_LINES 1024
#define MAX_PRE_BYTES 8192

/* Bound on the messages a self-reader keeps for sshbpp_session_recv. A
 * well-behaved peer sends at most what it had in flight when our KEXINIT
 * reached it: for OpenSSH that is up to a channel window (2 MiB by
 * default, 64 packets of 32 KiB) per channel, so the bound is above that
 * rather than at the smallest plausible value. */
#define QUEUE_MAX_MSGS 4096
#define QUEUE_MAX_BYTES (4u * 1024u * 1024u)

/* How long a wait sleeps before it re-checks the Packetizer. */
#define WAIT_SLICE_MS 100

/* One queued message. */
struct qmsg {
    struct qmsg *next;
    size_t len;
    uint32_t seqno;
    uint8_t data[];
};

struct sshbpp_session {
    sshbpp_packetizer *p;
    int role;
    sshbpp_kex *k;
    char my_version[MAX_VERSION_LINE + 1];
    char peer_version[MAX_VERSION_LINE + 1];
    int have_peer_version;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    clockid_t cv_clock; /* the clock of cv's timed waits */
    pthread_mutex_t slock;
    atomic_int gate_closed;
    int err;            /* sticky; under mu */
    int in_recv;        /* threads inside sshbpp_session_recv; under mu */
    int self_reading;   /* a send/rekey reads the Packetizer; under mu */
    int handshake_done; /* under mu */
    int handshake_started;
    int waiters;        /* threads in await_locked(); under mu */

    /* messages read by a self-reader, for sshbpp_session_recv; under mu */
    struct qmsg *qhead, *qtail;
    size_t qcount, qbytes;

    /* the payload sshbpp_session_recv returned last; its thread only */
    uint8_t *rbuf;
    size_t rcap;

    /* our latest KEXINIT's outbound seqno; written by tr_send under mu and
     * slock, read by tr_kexinit_seqno under mu */
    uint32_t kexinit_seqno;
    int kexinit_seqno_known;

    /* sshbpp_session_set_keepalive(): the caller's callback, and the ticks
     * skipped because an exchange ran (for tests) */
    sshbpp_session_keepalive_fn ka_cb;
    void *ka_ctx;
    atomic_ulong ka_skipped;
};

/* ---------------------------------------------------------------------- */
/* kex transport over the Packetizer                                       */

static int
tr_send(void *ctx, const uint8_t *payload, size_t len)
{
    sshbpp_session *s = ctx;
    sshbpp_engine *e = sshbpp_packetizer_engine(s->p);
    int kexinit = len > 0 && payload[0] == MSG_KEXINIT;
    sshbpp_stats before, after;
    int r;

    pthread_mutex_lock(&s->slock);
    if (kexinit) {
        atomic_store(&s->gate_closed, 1);
        sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &before);
    }
    r = sshbpp_packetizer_send_message(s->p, payload, len);
    if (kexinit) {
        /* Exactly one packet between the two readings: ours (see the
         * notes at the top). */
        sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &after);
        s->kexinit_seqno = before.seqno;
        s->kexinit_seqno_known = r == 0 && after.seqno == before.seqno + 1u;
    }
    pthread_mutex_unlock(&s->slock);
    return r;
}

/* The kex's seqno hook (sshbpp_kex_set_seqno_fn): called right after
 * tr_send sent KEXINIT, on the same thread, under mu. */
static int
tr_kexinit_seqno(void *ctx, uint32_t *seqno)
{
    sshbpp_session *s = ctx;

    if (!s->kexinit_seqno_known)
        return -1;
    *seqno = s->kexinit_seqno;
    return 0;
}

static int
tr_set_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *keys)
{
    sshbpp_session *s = ctx;

    return dir == SSHBPP_DIR_OUT ? sshbpp_packetizer_set_outbound_cipher(s->p, keys)
                                 : sshbpp_packetizer_set_inbound_cipher(s->p, keys);
}

static int
tr_set_compression(void *ctx, enum sshbpp_dir dir, const char *name)
{
    sshbpp_session *s = ctx;

    return dir == SSHBPP_DIR_OUT ? sshbpp_packetizer_set_outbound_compressor(s->p, name)
                                 : sshbpp_packetizer_set_inbound_compressor(s->p, name);
}

static void
tr_reset_seqno(void *ctx, enum sshbpp_dir dir)
{
    sshbpp_session *s = ctx;

    if (dir == SSHBPP_DIR_OUT)
        sshbpp_packetizer_reset_seqno_out(s->p);
    else
        sshbpp_packetizer_reset_seqno_in(s->p);
}

/* ---------------------------------------------------------------------- */
/* keepalive                                                               */

/* The Packetizer's keepalive tick (reader thread, no Packetizer lock
 * held). Checked and sent under slock, which tr_send holds while it closes
 * the gate and writes our KEXINIT: so the keepalive message is either
 * wholly before our KEXINIT or after the exchange, never inside it. */
static void
session_keepalive(sshbpp_packetizer *p, void *ctx)
{
    sshbpp_session *s = ctx;

    pthread_mutex_lock(&s->slock);
    if (atomic_load(&s->gate_closed) || s->ka_cb == NULL)
        atomic_fetch_add(&s->ka_skipped, 1);
    else
        s->ka_cb(p, s->ka_ctx);
    pthread_mutex_unlock(&s->slock);
}

/* see sshbpp_session.h */
int
sshbpp_session_set_keepalive(sshbpp_session *s, int64_t interval_ms,
                             sshbpp_session_keepalive_fn cb, void *ctx)
{
    if (s == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&s->slock);
    s->ka_cb = cb;
    s->ka_ctx = ctx;
    pthread_mutex_unlock(&s->slock);
    if (interval_ms <= 0 || cb == NULL)
        sshbpp_packetizer_set_keepalive(s->p, 0, NULL, NULL);
    else
        sshbpp_packetizer_set_keepalive(s->p, interval_ms, session_keepalive, s);
    return 0;
}

unsigned long sshbpp__session_test_ka_skipped(sshbpp_session *s);
/* Test hook: keepalive ticks skipped because an exchange ran. */
unsigned long
sshbpp__session_test_ka_skipped(sshbpp_session *s)
{
    return atomic_load(&s->ka_skipped);
}

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

/* Records the first fatal error, closes the engine so that the other
 * half stops too, and wakes every waiter. Call with mu held. */
static int
set_err_locked(sshbpp_session *s, int err)
{
    if (s->err == 0) {
        s->err = err;
        if (sshbpp_is_fatal(err))
            (void)sshbpp_engine_fail(sshbpp_packetizer_engine(s->p), err);
    }
    pthread_cond_broadcast(&s->cv);
    return s->err;
}

static int
set_err(sshbpp_session *s, int err)
{
    int r;

    pthread_mutex_lock(&s->mu);
    r = set_err_locked(s, err);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Feeds one message to the state machine. Reopens the send gate and wakes
 * waiters when an exchange has just finished. */
static int
kex_feed(sshbpp_session *s, const sshbpp_packet *pkt)
{
    unsigned before;
    int r;

    pthread_mutex_lock(&s->mu);
    before = sshbpp_kex_completed(s->k);
    r = sshbpp_kex_input(s->k, pkt);
    if (r < 0) {
        set_err_locked(s, r);
    } else if (sshbpp_kex_completed(s->k) != before) {
        if (s->handshake_done && !sshbpp_kex_running(s->k))
            atomic_store(&s->gate_closed, 0);
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Starts an exchange unless one runs. Call with mu held. */
static int
start_kex_locked(sshbpp_session *s)
{
    int r;

    if (s->err != 0)
        return s->err;
    if (sshbpp_kex_running(s->k))
        return 0;
    if ((r = sshbpp_kex_start(s->k)) != 0)
        return set_err_locked(s, r);
    return 0;
}

/* sshbpp_packetizer_close() from another thread, or a failure recorded by a path
 * that does not report to the session, must end the session's waits too:
 * adopts the Packetizer's sticky error. Call with mu held. */
static void
adopt_transport_error_locked(sshbpp_session *s)
{
    int e;

    if (s->err != 0)
        return;
    e = sshbpp_engine_error(sshbpp_packetizer_engine(s->p));
    if (e == 0 && sshbpp_packetizer_closed(s->p))
        e = SSHBPP_ECLOSED;
    if (e != 0)
        set_err_locked(s, e);
}

/* Waits on cv for a broadcast or at most one slice, then re-checks the
 * Packetizer, so that no wait depends on a broadcast alone. Call with mu
 * held. */
static void
wait_slice_locked(sshbpp_session *s)
{
    struct timespec ts;

    clock_gettime(s->cv_clock, &ts);
    ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    adopt_transport_error_locked(s);
}

/* Queues a message read by a self-reader for sshbpp_session_recv. Beyond
 * the bound the session fails: the exchange cannot finish without reading
 * on, and reading on would mean dropping a message. Call with mu held. */
static int
enqueue_locked(sshbpp_session *s, const sshbpp_packet *pkt)
{
    struct qmsg *m;

    if (s->qcount >= QUEUE_MAX_MSGS || pkt->len > QUEUE_MAX_BYTES - s->qbytes)
        return set_err_locked(s, SSHBPP_EPROTO);
    if ((m = malloc(sizeof(*m) + pkt->len)) == NULL)
        return set_err_locked(s, SSHBPP_ENOMEM);
    m->next = NULL;
    m->len = pkt->len;
    m->seqno = pkt->seqno;
    memcpy(m->data, pkt->payload, pkt->len);
    if (s->qtail != NULL)
        s->qtail->next = m;
    else
        s->qhead = m;
    s->qtail = m;
    s->qcount++;
    s->qbytes += pkt->len;
    return 0;
}

/* Unlinks the oldest queued message, or returns NULL. Call with mu held. */
static struct qmsg *
dequeue_locked(sshbpp_session *s)
{
    struct qmsg *m = s->qhead;

    if (m != NULL) {
        s->qhead = m->next;
        if (s->qhead == NULL)
            s->qtail = NULL;
        s->qcount--;
        s->qbytes -= m->len;
    }
    return m;
}

static void
qmsg_free(struct qmsg *m)
{
    if (m != NULL) {
        OPENSSL_cleanse(m->data, m->len);
        free(m);
    }
}

/* Fills *pkt with a copy of the payload in rbuf, which stays valid until
 * the next sshbpp_session_recv (see the notes at the top). recv's thread
 * only. */
static int
deliver(sshbpp_session *s, sshbpp_packet *pkt, const uint8_t *payload, size_t len,
        uint32_t seqno)
{
    if (len > s->rcap) {
        /* Not realloc: the old contents are wiped before they are freed. */
        uint8_t *nb = malloc(len);

        if (nb == NULL)
            return set_err(s, SSHBPP_ENOMEM);
        if (s->rbuf != NULL)
            OPENSSL_cleanse(s->rbuf, s->rcap);
        free(s->rbuf);
        s->rbuf = nb;
        s->rcap = len;
    }
    memcpy(s->rbuf, payload, len);
    pkt->payload = s->rbuf;
    pkt->len = len;
    pkt->type = s->rbuf[0];
    pkt->seqno = seqno;
    return 0;
}

/* Reads one message outside sshbpp_session_recv (the handshake, or a
 * self-reader): key-exchange messages go to the state machine, IGNORE and
 * DEBUG are dropped as recv drops them, anything else is queued for recv.
 * Returns 0 or the (sticky) error. */
static int
read_one(sshbpp_session *s)
{
    sshbpp_packet pkt;
    int r;

    r = sshbpp_packetizer_read_message(s->p, &pkt);
    if (r == SSHBPP_ENEEDREKEY) {
        /* Nothing arrived and our counters are due: start the exchange
         * that clears the flag (a no-op while one runs). */
        pthread_mutex_lock(&s->mu);
        r = s->handshake_done ? start_kex_locked(s) : s->err;
        pthread_mutex_unlock(&s->mu);
        return r;
    }
    if (r < 0)
        return set_err(s, r);
    if ((r = kex_feed(s, &pkt)) < 0)
        return r;
    if (r == SSHBPP_KEX_USED || pkt.type == MSG_IGNORE || pkt.type == MSG_DEBUG)
        return 0;
    pthread_mutex_lock(&s->mu);
    r = enqueue_locked(s, &pkt);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* What await_locked() waits for. */
enum { UNTIL_GATE_OPEN, UNTIL_COMPLETED };

static int
reached_locked(sshbpp_session *s, int what, unsigned target)
{
    if (what == UNTIL_GATE_OPEN)
        return !atomic_load(&s->gate_closed);
    return sshbpp_kex_completed(s->k) >= target;
}

/* Waits until the send gate is open (UNTIL_GATE_OPEN) or `target`
 * exchanges have completed (UNTIL_COMPLETED), or the session fails. A
 * thread in sshbpp_session_recv makes the progress; when there is none
 * (and the handshake, which reads by itself, is over), this thread reads
 * itself until the condition holds. Called and returns with mu held.
 * Returns 0 or the sticky error. */
static int
await_locked_inner(sshbpp_session *s, int what, unsigned target)
{
    int r;

    for (;;) {
        adopt_transport_error_locked(s);
        if (s->err != 0)
            return s->err;
        if (reached_locked(s, what, target))
            return 0;
        if (s->handshake_done && s->in_recv == 0 && !s->self_reading) {
            s->self_reading = 1;
            do {
                pthread_mutex_unlock(&s->mu);
                r = read_one(s);
                pthread_mutex_lock(&s->mu);
            } while (r == 0 && s->err == 0 && !reached_locked(s, what, target));
            if (r < 0 && s->err == 0)
                set_err_locked(s, r);
            s->self_reading = 0;
            /* recv may be waiting for us to finish, another waiter may
             * have been waiting for the same exchange */
            pthread_cond_broadcast(&s->cv);
            continue;
        }
        wait_slice_locked(s);
    }
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* await_locked_inner(), counting the threads in it (s->waiters, for the
 * tests to wait on a condition rather than a time). */
static int
await_locked(sshbpp_session *s, int what, unsigned target)
{
    int r;

    s->waiters++;
    r = await_locked_inner(s, what, target);
    s->waiters--;
    return r;
}

void sshbpp__session_test_state(sshbpp_session *s, int *in_recv, int *self_reading, int *waiters);
/* Test hook: the threads in sshbpp_session_recv, whether a self-reader
 * reads, and the threads waiting for the gate or an exchange. */
void
sshbpp__session_test_state(sshbpp_session *s, int *in_recv, int *self_reading, int *waiters)
{
    pthread_mutex_lock(&s->mu);
    *in_recv = s->in_recv;
    *self_reading = s->self_reading;
    *waiters = s->waiters;
    pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

static int
printable(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
            return 0;
    return 1;
}

/* see sshbpp_kex.h */
sshbpp_session *
sshbpp_session_new(sshbpp_packetizer *p, int role, const sshbpp_kex_config *cfg,
                   const char *software_version)
{
    static const sshbpp_kex_config defaults;
    sshbpp_kex_transport t = {tr_send, tr_set_keys, tr_set_compression, tr_reset_seqno};
    pthread_condattr_t ca;
    int cv_ok = 0;
    const char *sw = software_version != NULL ? software_version
                                              : "sshbpp_" SSHBPP_VERSION_STRING;
    sshbpp_session *s;
    int n;

    if (p == NULL || (role != SSHBPP_ROLE_CLIENT && role != SSHBPP_ROLE_SERVER))
        return NULL;
    /* RFC 4253 4.2: printable US-ASCII; the whole line, CR LF included,
     * within 255 bytes. */
    if (sw[0] == '\0' || !printable(sw, strlen(sw)))
        return NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    n = snprintf(s->my_version, sizeof(s->my_version), "SSH-2.0-%s", sw);
    if (n < 0 || (size_t)n + 2 > MAX_VERSION_LINE) {
        free(s);
        return NULL;
    }
    s->p = p;
    s->role = role;
    atomic_init(&s->gate_closed, 1); /* nothing but the handshake before it is done */
    if ((s->k = sshbpp_kex_new(role, cfg != NULL ? cfg : &defaults, &t, s)) == NULL) {
        free(s);
        return NULL;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        sshbpp_kex_free(s->k);
        free(s);
        return NULL;
    }
    if (pthread_mutex_init(&s->slock, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        sshbpp_kex_free(s->k);
        free(s);
        return NULL;
    }
    (void)sshbpp_kex_set_seqno_fn(s->k, tr_kexinit_seqno);
    /* Timed waits on CLOCK_MONOTONIC so that a clock step cannot stretch
     * one; where that cannot be set (macOS has no
     * pthread_condattr_setclock), a step only changes one slice. */
    s->cv_clock = CLOCK_REALTIME;
#ifndef __APPLE__
    if (pthread_condattr_init(&ca) == 0) {
        if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
            pthread_cond_init(&s->cv, &ca) == 0) {
            s->cv_clock = CLOCK_MONOTONIC;
            cv_ok = 1;
        }
        pthread_condattr_destroy(&ca);
    }
#else
    (void)ca;
#endif
    if (!cv_ok && pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->slock);
        pthread_mutex_destroy(&s->mu);
        sshbpp_kex_free(s->k);
        free(s);
        return NULL;
    }
    return s;
}

/* see sshbpp_kex.h */
void
sshbpp_session_free(sshbpp_session *s)
{
    if (s == NULL)
        return;
    while (s->qhead != NULL)
        qmsg_free(dequeue_locked(s));
    if (s->rbuf != NULL)
        OPENSSL_cleanse(s->rbuf, s->rcap);
    free(s->rbuf);
    sshbpp_kex_free(s->k);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->slock);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* see sshbpp_kex.h */
sshbpp_kex *
sshbpp_session_kex(sshbpp_session *s)
{
    return s != NULL ? s->k : NULL;
}

/* see sshbpp_kex.h */
const char *
sshbpp_session_peer_version(const sshbpp_session *s)
{
    return s != NULL && s->have_peer_version ? s->peer_version : NULL;
}

/* ---------------------------------------------------------------------- */
/* version exchange                                                        */

/* Classifies a line that starts with "SSH-". */
static int
check_version(const char *line, size_t len)
{
    const char *sw;

    /* len excludes the line end; count CR LF as the RFC does. */
    if (len + 2 > MAX_VERSION_LINE || memchr(line, '\0', len) != NULL || !printable(line, len))
        return SSHBPP_EBANNER;
    if (strncmp(line, "SSH-2.0-", 8) == 0)
        sw = line + 8;
    else if (strncmp(line, "SSH-1.99-", 9) == 0)
        sw = line + 9; /* RFC 4253 5.1: a 1.99 server also speaks 2.0 */
    else
        return SSHBPP_EVERSION;
    if (sw[0] == '\0' || sw[0] == ' ')
        return SSHBPP_EBANNER; /* softwareversion is mandatory */
    return 0;
}

/* Remaining handshake time for one readline call: > 0 ms, 0 for no limit,
 * or -1 when it has run out. */
static int64_t
remaining_ms(int64_t deadline_ms)
{
    int64_t left;

    if (deadline_ms == 0)
        return 0;
    left = deadline_ms - now_ms();
    return left <= 0 ? -1 : left;
}

static int
read_peer_version(sshbpp_session *s, int64_t deadline_ms)
{
    char line[MAX_PRE_BYTES + 1];
    size_t total = 0;
    unsigned lines = 0;
    long n;
    int64_t left;
    int r;

    for (;;) {
        if ((left = remaining_ms(deadline_ms)) < 0)
            return set_err(s, SSHBPP_EHANDSHAKE);
        n = sshbpp_packetizer_readline(s->p, line, sizeof(line), left);
        if (n == SSHBPP_ETIMEDOUT)
            return set_err(s, SSHBPP_EHANDSHAKE);
        if (n == SSHBPP_ELINELONG)
            return set_err(s, SSHBPP_EBANNER); /* the engine keeps ELINELONG */
        if (n < 0)
            return set_err(s, (int)n);
        if ((size_t)n >= 4 && memcmp(line, "SSH-", 4) == 0) {
            if ((r = check_version(line, (size_t)n)) != 0)
                return set_err(s, r);
            memcpy(s->peer_version, line, (size_t)n + 1);
            s->have_peer_version = 1;
            return 0;
        }
        /* RFC 4253 4.2: the server MAY send other lines first; a client
         * MUST NOT. Bound them so that a peer cannot keep us reading. */
        total += (size_t)n + 1;
        if (s->role == SSHBPP_ROLE_SERVER || ++lines > MAX_PRE_LINES || total > MAX_PRE_BYTES)
            return set_err(s, SSHBPP_EBANNER);
    }
}

/* The handshake's reads, until the first exchange is done. kex.c lets
 * only IGNORE, DEBUG and (without strict KEX) UNIMPLEMENTED through
 * meanwhile; an UNIMPLEMENTED is queued for sshbpp_session_recv like any
 * message a self-reader cannot use. Nobody else reads before the handshake
 * is done (recv and rekey refuse, senders wait). */
static int
run_first_kex(sshbpp_session *s)
{
    int r;

    for (;;) {
        pthread_mutex_lock(&s->mu);
        r = s->err;
        if (r == 0 && sshbpp_kex_completed(s->k) >= 1) {
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
        pthread_mutex_unlock(&s->mu);
        if (r != 0)
            return r;
        if ((r = read_one(s)) < 0)
            return r;
    }
}

/* see sshbpp_kex.h */
int
sshbpp_session_handshake(sshbpp_session *s, int64_t timeout_ms)
{
    char line[MAX_VERSION_LINE + 1];
    int64_t deadline_ms = 0;
    int n, r;

    if (s == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (s->handshake_started) {
        pthread_mutex_unlock(&s->mu);
        return SSHBPP_EINVAL;
    }
    s->handshake_started = 1;
    pthread_mutex_unlock(&s->mu);
    if (timeout_ms > 0) {
        sshbpp_packetizer_start_handshake(s->p, timeout_ms);
        deadline_ms = now_ms() + timeout_ms;
        if (deadline_ms == 0)
            deadline_ms = 1;
    }
    n = snprintf(line, sizeof(line), "%s\r\n", s->my_version);
    if (n < 0 || (size_t)n >= sizeof(line))
        return set_err(s, SSHBPP_EINVAL);
    if ((r = sshbpp_packetizer_write_all(s->p, line, (size_t)n)) != 0)
        return set_err(s, r);
    if ((r = read_peer_version(s, deadline_ms)) != 0)
        return r;
    r = s->role == SSHBPP_ROLE_CLIENT
            ? sshbpp_kex_set_versions(s->k, s->my_version, s->peer_version)
            : sshbpp_kex_set_versions(s->k, s->peer_version, s->my_version);
    if (r != 0)
        return set_err(s, r);
    pthread_mutex_lock(&s->mu);
    r = start_kex_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (r != 0)
        return r;
    /* The client's EXT_INFO (RFC 8308) is not waited for: a server that
     * does not send it would leave us waiting for a message that never
     * comes. sshbpp_session_recv() absorbs it when it arrives. */
    if ((r = run_first_kex(s)) != 0)
        return r;
    sshbpp_packetizer_complete_handshake(s->p);
    pthread_mutex_lock(&s->mu);
    s->handshake_done = 1;
    if (!sshbpp_kex_running(s->k))
        atomic_store(&s->gate_closed, 0);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* traffic                                                                 */

/* see sshbpp_kex.h */
int
sshbpp_session_recv(sshbpp_session *s, sshbpp_packet *pkt)
{
    sshbpp_packet in;
    struct qmsg *m;
    int r;

    if (s == NULL || pkt == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&s->mu);
    /* A sender or rekey that reads because nobody was in here: wait for it
     * instead of reading next to it, then take what it queued first. */
    while (s->self_reading && s->err == 0)
        wait_slice_locked(s);
    if ((m = dequeue_locked(s)) != NULL) {
        /* Before any error: the messages arrived before it, and a reader
         * thread would have returned them too. */
        pthread_mutex_unlock(&s->mu);
        r = deliver(s, pkt, m->data, m->len, m->seqno);
        qmsg_free(m);
        return r;
    }
    if ((r = s->err) != 0 || !s->handshake_done) {
        pthread_mutex_unlock(&s->mu);
        return r != 0 ? r : SSHBPP_EINVAL;
    }
    s->in_recv++;
    pthread_mutex_unlock(&s->mu);
    for (;;) {
        r = sshbpp_packetizer_read_message(s->p, &in);
        if (r == SSHBPP_ENEEDREKEY) {
            /* paramiko's NeedRekeyException: nothing is arriving and our
             * counters are due; start the exchange from here. */
            pthread_mutex_lock(&s->mu);
            r = start_kex_locked(s);
            pthread_mutex_unlock(&s->mu);
            if (r != 0)
                break;
            continue;
        }
        if (r < 0) {
            r = set_err(s, r);
            break;
        }
        if ((r = kex_feed(s, &in)) < 0)
            break;
        if (r == SSHBPP_KEX_USED || in.type == MSG_IGNORE || in.type == MSG_DEBUG)
            continue;
        r = deliver(s, pkt, in.payload, in.len, in.seqno);
        break;
    }
    pthread_mutex_lock(&s->mu);
    /* A sender or rekey waiting for an exchange may have to read now. */
    if (--s->in_recv == 0)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* see sshbpp_kex.h */
int
sshbpp_session_send(sshbpp_session *s, const void *payload, size_t len)
{
    int r;

    if (s == NULL || payload == NULL || len == 0)
        return SSHBPP_EINVAL;
    for (;;) {
        if (sshbpp_packetizer_need_rekey(s->p)) {
            pthread_mutex_lock(&s->mu);
            r = s->handshake_done ? start_kex_locked(s) : s->err;
            pthread_mutex_unlock(&s->mu);
            if (r != 0)
                return r;
        }
        pthread_mutex_lock(&s->slock);
        if (!atomic_load(&s->gate_closed)) {
            r = sshbpp_packetizer_send_message(s->p, payload, len);
            pthread_mutex_unlock(&s->slock);
            if (r != 0 && sshbpp_is_fatal(r))
                set_err(s, r);
            return r;
        }
        pthread_mutex_unlock(&s->slock);
        /* An exchange runs: wait for it, or drive it if nobody reads. The
         * gate may reopen and close again before we get slock; loop. */
        pthread_mutex_lock(&s->mu);
        r = await_locked(s, UNTIL_GATE_OPEN, 0);
        pthread_mutex_unlock(&s->mu);
        if (r != 0)
            return r;
    }
}

/* see sshbpp_kex.h */
int
sshbpp_session_rekey(sshbpp_session *s)
{
    unsigned target;
    int r;

    if (s == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (!s->handshake_done) {
        r = s->err != 0 ? s->err : SSHBPP_EINVAL;
        pthread_mutex_unlock(&s->mu);
        return r;
    }
    /* A running exchange counts: it is the rekey the caller asked for. */
    target = sshbpp_kex_completed(s->k) + 1;
    if ((r = start_kex_locked(s)) == 0)
        r = await_locked(s, UNTIL_COMPLETED, target);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* see sshbpp_kex.h */
int
sshbpp_session_get_info(sshbpp_session *s, sshbpp_kex_info *out)
{
    int r;

    if (s == NULL || out == NULL)
        return SSHBPP_EINVAL;
    /* mu: a reader may be in the middle of a rekey (record_info). */
    pthread_mutex_lock(&s->mu);
    r = sshbpp_kex_get_info(s->k, out);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* see sshbpp_kex.h */
int
sshbpp_session_disconnect(sshbpp_session *s, uint32_t reason, const char *why)
{
    sshbpp__wbuf b;
    int r;

    if (s == NULL)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_DISCONNECT);
    sshbpp__wb_u32(&b, reason);
    sshbpp__wb_cstring(&b, why != NULL ? why : "");
    sshbpp__wb_cstring(&b, ""); /* language tag */
    /* Not gated: DISCONNECT is allowed at any point of an exchange. */
    r = b.err != 0 ? b.err : sshbpp_packetizer_send_message(s->p, b.p, b.len);
    sshbpp__wb_free(&b);
    return r;
}

/* ---------------------------------------------------------------------- */
/* for userauth.c (kex_int.h)                                              */

sshbpp_packetizer *
sshbpp__session_packetizer(sshbpp_session *s)
{
    return s->p;
}

/* Under mu like every other use of the state machine: a sender may be
 * starting a rekey (sshbpp_kex_start) at the same moment. */
int
sshbpp__session_auth_done(sshbpp_session *s)
{
    int r;

    pthread_mutex_lock(&s->mu);
    r = s->err;
    if (r == 0 && (r = sshbpp_kex_auth_done(s->k)) < 0 && sshbpp_is_fatal(r))
        set_err_locked(s, r);
    pthread_mutex_unlock(&s->mu);
    return r;
}
