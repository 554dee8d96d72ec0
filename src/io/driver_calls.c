/*
 * driver_calls.c: the blocking calls of sshbpp_driver.h, each one request
 * to the conn followed by sshbpp__driver_run() with its goal.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "driver_int.h"
#include "kex/kex_int.h"

/* ---- goals ---------------------------------------------------------------- */

static int
goal_handshake(sshbpp_driver *d, void *arg)
{
    (void)arg;
    return sshbpp_conn_handshake_done(d->c);
}

static int
goal_auth_answered(sshbpp_driver *d, void *arg)
{
    (void)arg;
    return !d->auth_pending;
}

static int
goal_authed(sshbpp_driver *d, void *arg)
{
    (void)arg;
    return sshbpp_conn_authenticated(d->c);
}

static int
goal_inbox(sshbpp_driver *d, void *arg)
{
    (void)arg;
    return d->ihead != NULL;
}

static int
goal_tx_room(sshbpp_driver *d, void *arg)
{
    size_t len = 0;

    (void)arg;
    (void)sshbpp_conn_tx_data(d->c, &len);
    return len <= SSHBPP_DRIVER_TX_HIGH;
}

static int
goal_tx_empty(sshbpp_driver *d, void *arg)
{
    size_t len = 0;

    (void)arg;
    (void)sshbpp_conn_tx_data(d->c, &len);
    return len == 0;
}

/* Everything handed to the conn is on the wire: nothing unwritten and
 * nothing queued behind a running exchange. */
static int
goal_all_written(sshbpp_driver *d, void *arg)
{
    return goal_tx_empty(d, arg) && sshbpp_conn_queued(d->c) == 0;
}

static int
goal_queue_moved(sshbpp_driver *d, void *arg)
{
    /* the exchange that filled the queue is over (the queue was flushed) */
    return sshbpp_conn_kex_count(d->c) != *(unsigned *)arg || !sshbpp_conn_kex_running(d->c);
}

static int
goal_kex_count(sshbpp_driver *d, void *arg)
{
    return sshbpp_conn_kex_count(d->c) >= *(unsigned *)arg;
}

static int
goal_greq(sshbpp_driver *d, void *arg)
{
    return d->greq_done > *(uint64_t *)arg;
}

static int
goal_greq_room(sshbpp_driver *d, void *arg)
{
    (void)arg;
    return d->greq_sent - d->greq_done < GREQ_SLOTS;
}

/* ---- calls ---------------------------------------------------------------- */

/* see sshbpp_driver.h */
int
sshbpp_driver_handshake(sshbpp_driver *d, int64_t timeout_ms)
{
    int64_t deadline;
    int r;

    if (d == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    if ((r = sshbpp__driver_err(d)) == 0 && !d->started) {
        d->started = 1;
        r = sshbpp_conn_start(d->c, sshbpp__now_ms());
        sshbpp__driver_flush(d);
    }
    if (r == 0)
        r = sshbpp__driver_run(d, goal_handshake, NULL, deadline);
    pthread_mutex_unlock(&d->mu);
    return r;
}

enum { A_NONE, A_PASSWORD, A_PUBKEY, A_FILE, A_KBD };

struct auth_args {
    int kind;
    const char *user, *secret;
    const uint8_t *blob;
    size_t len;
    sshbpp_sign_fn sign;
    sshbpp_kbdint_fn kbd;
    void *ctx;
};

static int
empty_answers(void *ctx, const char *name, const char *instruction, unsigned n,
              const char *const *prompts, const int *echo, char (*answers)[256])
{
    unsigned i;

    (void)ctx;
    (void)name;
    (void)instruction;
    (void)prompts;
    (void)echo;
    for (i = 0; i < n; i++)
        answers[i][0] = '\0';
    return 0;
}

static int
do_auth(sshbpp_driver *d, const struct auth_args *a, int64_t timeout_ms)
{
    int64_t deadline;
    int r;

    if (d == NULL || a->user == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    if ((r = sshbpp__driver_err(d)) != 0) {
        pthread_mutex_unlock(&d->mu);
        return r;
    }
    if (d->auth_pending) {
        pthread_mutex_unlock(&d->mu);
        return SSHBPP_ESTATE;
    }
    switch (a->kind) {
    case A_NONE:
        r = sshbpp_conn_auth_none(d->c, a->user);
        break;
    case A_PASSWORD:
        r = sshbpp_conn_auth_password(d->c, a->user, a->secret);
        break;
    case A_PUBKEY:
        r = sshbpp_conn_auth_publickey(d->c, a->user, a->blob, a->len, a->sign, a->ctx);
        break;
    case A_FILE:
        r = sshbpp_conn_auth_publickey_file(d->c, a->user, a->secret);
        break;
    default:
        r = sshbpp_conn_auth_kbdint(d->c, a->user, a->kbd != NULL ? a->kbd : empty_answers, a->ctx);
        break;
    }
    if (r == 0) {
        d->auth_pending = 1;
        sshbpp__driver_flush(d);
        r = sshbpp__driver_run(d, goal_auth_answered, NULL, deadline);
        if (r == 0 && !d->auth_success)
            r = SSHBPP_EREFUSED;
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_auth_none(sshbpp_driver *d, const char *user, int64_t timeout_ms)
{
    struct auth_args a = {A_NONE, user, NULL, NULL, 0, NULL, NULL, NULL};

    return do_auth(d, &a, timeout_ms);
}

/* see sshbpp_driver.h */
int
sshbpp_driver_auth_password(sshbpp_driver *d, const char *user, const char *password,
                            int64_t timeout_ms)
{
    struct auth_args a = {A_PASSWORD, user, password, NULL, 0, NULL, NULL, NULL};

    if (password == NULL)
        return SSHBPP_EINVAL;
    return do_auth(d, &a, timeout_ms);
}

/* see sshbpp_driver.h */
int
sshbpp_driver_auth_publickey(sshbpp_driver *d, const char *user, const uint8_t *pubkey_blob,
                             size_t pub_len, sshbpp_sign_fn sign, void *ctx, int64_t timeout_ms)
{
    struct auth_args a = {A_PUBKEY, user, NULL, pubkey_blob, pub_len, sign, NULL, ctx};

    return do_auth(d, &a, timeout_ms);
}

/* see sshbpp_driver.h */
int
sshbpp_driver_auth_publickey_file(sshbpp_driver *d, const char *user, const char *path,
                                  int64_t timeout_ms)
{
    struct auth_args a = {A_FILE, user, path, NULL, 0, NULL, NULL, NULL};

    if (path == NULL)
        return SSHBPP_EINVAL;
    return do_auth(d, &a, timeout_ms);
}

/* see sshbpp_driver.h */
int
sshbpp_driver_auth_kbdint(sshbpp_driver *d, const char *user, sshbpp_kbdint_fn respond, void *ctx,
                          int64_t timeout_ms)
{
    struct auth_args a = {A_KBD, user, NULL, NULL, 0, NULL, respond, ctx};

    return do_auth(d, &a, timeout_ms);
}

/* see sshbpp_driver.h */
int
sshbpp_driver_auth_methods(sshbpp_driver *d, char *buf, size_t cap, int *partial)
{
    if (d == NULL || (buf == NULL && cap > 0))
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    if (cap > 0)
        snprintf(buf, cap, "%s", d->auth_methods);
    if (partial != NULL)
        *partial = d->auth_partial;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

/* A call whose whole job is to drive until goal holds: locks, runs with
 * the call's deadline, unlocks. */
static int
run_to_goal(sshbpp_driver *d, sshbpp__driver_goal goal, int64_t timeout_ms)
{
    int r;

    if (d == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    r = sshbpp__driver_run(d, goal, NULL, sshbpp__driver_deadline(d, timeout_ms));
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_wait_auth(sshbpp_driver *d, int64_t timeout_ms)
{
    return run_to_goal(d, goal_authed, timeout_ms);
}

/* Hands one message to the conn, waiting for output room and queue room;
 * the caller writes (sshbpp__driver_flush) once it has handed over what it
 * has. With mu held. */
static int
queue_locked(sshbpp_driver *d, const void *payload, size_t len, int64_t deadline)
{
    unsigned count;
    int r;

    for (;;) {
        if ((r = sshbpp__driver_run(d, goal_tx_room, NULL, deadline)) != 0)
            return r;
        r = sshbpp_conn_send(d->c, payload, len);
        if (r != SSHBPP_EAGAIN)
            return r;
        count = sshbpp_conn_kex_count(d->c);
        if ((r = sshbpp__driver_run(d, goal_queue_moved, &count, deadline)) != 0)
            return r;
    }
}

/* see sshbpp_driver.h */
int
sshbpp_driver_send(sshbpp_driver *d, const void *payload, size_t len, int64_t timeout_ms)
{
    int64_t deadline;
    int r;

    if (d == NULL || payload == NULL || len == 0)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    if ((r = queue_locked(d, payload, len, deadline)) == 0)
        sshbpp__driver_flush(d);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_send_batch(sshbpp_driver *d, const sshbpp_iov *msgs, size_t n, size_t *queued,
                         int64_t timeout_ms)
{
    int64_t deadline;
    size_t i = 0;
    int r = 0;

    if (queued != NULL)
        *queued = 0;
    if (d == NULL || msgs == NULL || n == 0)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    d->batching = 1;
    for (; i < n; i++) {
        if (msgs[i].base == NULL || msgs[i].len == 0)
            r = SSHBPP_EINVAL;
        else
            r = queue_locked(d, msgs[i].base, msgs[i].len, deadline);
        if (r != 0)
            break;
    }
    d->batching = 0;
    if (i > 0)
        sshbpp__driver_flush(d);
    pthread_mutex_unlock(&d->mu);
    if (queued != NULL)
        *queued = i;
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_flush(sshbpp_driver *d, int64_t timeout_ms)
{
    return run_to_goal(d, goal_all_written, timeout_ms);
}

/* see sshbpp_driver.h */
int
sshbpp_driver_recv(sshbpp_driver *d, void *buf, size_t cap, size_t *len, int64_t timeout_ms)
{
    struct dmsg *m;
    int64_t deadline;
    int r;

    if (d == NULL || len == NULL || (buf == NULL && cap > 0))
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    if (d->ihead == NULL && (r = sshbpp__driver_run(d, goal_inbox, NULL, deadline)) != 0) {
        pthread_mutex_unlock(&d->mu);
        return r;
    }
    m = d->ihead;
    *len = m->len;
    if (m->len > cap) {
        pthread_mutex_unlock(&d->mu);
        return SSHBPP_EBUFSMALL;
    }
    memcpy(buf, m->data, m->len);
    d->ihead = m->next;
    if (d->ihead == NULL)
        d->itail = NULL;
    d->ibytes -= m->len;
    /* the driver may have stopped reading on a full inbox */
    sshbpp__driver_flush(d);
    pthread_mutex_unlock(&d->mu);
    OPENSSL_cleanse(m->data, m->len);
    free(m);
    return 0;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_global_request(sshbpp_driver *d, const char *name, int want_reply, const void *data,
                             size_t len, int64_t timeout_ms)
{
    sshbpp__wbuf b;
    int64_t deadline;
    uint64_t ticket;
    int r;

    if (d == NULL || name == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 80);
    sshbpp__wb_cstring(&b, name);
    sshbpp__wb_bool(&b, want_reply != 0);
    if (len > 0)
        sshbpp__wb_raw(&b, data, len);
    if (b.err != 0) {
        sshbpp__wb_free(&b);
        return b.err;
    }
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    r = sshbpp__driver_run(d, goal_greq_room, NULL, deadline);
    if (r == 0 && (r = queue_locked(d, b.p, b.len, deadline)) == 0)
        sshbpp__driver_flush(d);
    if (r == 0 && want_reply) {
        ticket = d->greq_sent++;
        r = sshbpp__driver_run(d, goal_greq, &ticket, deadline);
        if (r == 0 && !d->greq_result[ticket % GREQ_SLOTS])
            r = SSHBPP_EREFUSED;
    }
    pthread_mutex_unlock(&d->mu);
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_rekey(sshbpp_driver *d, int64_t timeout_ms)
{
    int64_t deadline;
    unsigned target;
    int r;

    if (d == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    target = sshbpp_conn_kex_count(d->c) + 1;
    if ((r = sshbpp__driver_err(d)) == 0 && (r = sshbpp_conn_rekey(d->c)) == 0) {
        sshbpp__driver_flush(d);
        r = sshbpp__driver_run(d, goal_kex_count, &target, deadline);
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_disconnect(sshbpp_driver *d, uint32_t reason, const char *description,
                         int64_t timeout_ms)
{
    int64_t deadline;
    int r;

    if (d == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    deadline = sshbpp__driver_deadline(d, timeout_ms);
    if ((r = sshbpp__driver_err(d)) != 0 ||
        (r = sshbpp_conn_disconnect(d->c, reason, description)) != 0) {
        pthread_mutex_unlock(&d->mu);
        return r;
    }
    /* The conn is closed now; the loop would stop at its error, so the
     * DISCONNECT is flushed by hand: write, poll for room, until done. */
    for (;;) {
        int64_t left;

        if (sshbpp__driver_write_now(d) != 0) {
            /* the transport failed with the DISCONNECT unwritten */
            r = SSHBPP_EIO;
            break;
        }
        if (goal_tx_empty(d, NULL) || d->closed)
            break;
        left = deadline < 0 ? 1000 : deadline - sshbpp__now_ms();
        if (left <= 0) {
            r = SSHBPP_ETIMEDOUT;
            break;
        }
        pthread_mutex_unlock(&d->mu);
        left = d->io.wait(d->io_ctx, 0, 1, left > 1000 ? 1000 : (int)left);
        pthread_mutex_lock(&d->mu);
        if (left < 0) {
            /* the transport failed with the DISCONNECT unwritten: not 0 */
            r = SSHBPP_EIO;
            break;
        }
    }
    if (d->io.close != NULL)
        d->io.close(d->io_ctx);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_get_info(sshbpp_driver *d, sshbpp_kex_info *out)
{
    int r;

    if (d == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    r = sshbpp_conn_get_info(d->c, out);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_error(sshbpp_driver *d)
{
    int r;

    if (d == NULL)
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    r = sshbpp__driver_err(d);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* see sshbpp_driver.h */
int
sshbpp_driver_disconnect_reason(sshbpp_driver *d, uint32_t *reason, char *buf, size_t cap)
{
    const char *t;
    int r = SSHBPP_EINVAL;

    if (d == NULL || (buf == NULL && cap > 0))
        return SSHBPP_EINVAL;
    pthread_mutex_lock(&d->mu);
    if ((t = sshbpp_conn_disconnect_reason(d->c, reason)) != NULL) {
        if (cap > 0)
            snprintf(buf, cap, "%s", t);
        r = 0;
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}
