/*
 * driver_channel.c: blocking session channels over the driver
 * (sshbpp_driver_channel.h), for several threads at once.
 *
 * IMPLEMENTATION NOTES
 *
 * One lock: the driver's own mutex (d->mu) guards the sans-I/O channel
 * layer, the per-channel slots and the conn underneath, so the layer's
 * touches of the conn (its error, its sends) never race the driving
 * thread. Nothing blocks with it held: the layer's sender hands messages
 * to the conn without waiting (channel data is refused with SSHBPP_EAGAIN
 * while more than SSHBPP_DRIVER_TX_HIGH bytes wait for the socket; control
 * messages are always taken, as the conn's own replies are), and every
 * wait is sshbpp__driver_run(), which drops the mutex while it polls or
 * sleeps.
 *
 * Every blocking call is wait_for(): take what the driver put into its
 * inbox (any thread processes any channel's messages, recording events in
 * the channel's slot), check the call's own condition, otherwise run the
 * driver with a goal that is met by a new inbox message or by that same
 * condition. Whoever processed messages broadcasts on the driver's
 * condition variable, so a sleeper whose condition another thread made
 * true re-checks it at once: no lost wake-up and no busy waiting. One
 * thread drives (polls the socket) at a time; the others sleep.
 *
 * The layer runs with manual_window: a received byte is granted back to
 * the peer only when the caller has read it, which bounds each channel's
 * buffers by our window plus one packet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn/channel_int.h"
#include "conn/conn_int.h"
#include "driver_int.h"
#include "sshbpp/sshbpp_driver_channel.h"

/* One received stream: bytes at buf[off .. off + len). */
struct stream {
    uint8_t *buf;
    size_t off, len, cap;
};

struct bch {
    int in_use, opened, open_failed, eof, closed, have_exit, have_signal;
    uint32_t fail_code;
    unsigned results;
    int last_result;
    int exit_status;
    char signame[32];
    struct stream s[2];
};

struct sshbpp_driver_channels {
    sshbpp_driver *d;
    sshbpp_channels *chs;
    unsigned max;
    struct bch *ch;
};

/* With d->mu held (the layer is only called so). */
static int
dc_send(void *ctx, const uint8_t *p, size_t len, const uint8_t *body, size_t blen, int data)
{
    sshbpp_driver_channels *dc = ctx;
    sshbpp_driver *d = dc->d;
    size_t pending = 0;
    int r;

    if ((r = sshbpp__driver_err(d)) != 0)
        return r;
    if (data) {
        (void)sshbpp_conn_tx_data(d->c, &pending);
        if (pending > SSHBPP_DRIVER_TX_HIGH)
            return SSHBPP_EAGAIN;
    }
    /* control messages are never refused softly (internal: the conn
     * queues them during a key exchange beyond the application's bound).
     * Data goes out once per write call (sshbpp_driver_channel_write), in
     * as few system calls as the socket allows. */
    r = sshbpp__conn_send2(d->c, p, len, body, blen, !data);
    if (r == 0 && !data)
        sshbpp__driver_flush(d);
    return r;
}

/* see sshbpp_driver_channel.h */
sshbpp_driver_channels *
sshbpp_driver_channels_new(sshbpp_driver *d, const sshbpp_channels_config *cfg)
{
    sshbpp_channels_config c;
    sshbpp_driver_channels *dc;

    if (d == NULL)
        return NULL;
    if (cfg != NULL)
        c = *cfg;
    else
        sshbpp_channels_config_init(&c);
    c.manual_window = 1;
    if (c.max_channels == 0)
        c.max_channels = SSHBPP_CHAN_DEFAULT_MAX;
    if ((dc = calloc(1, sizeof(*dc))) == NULL)
        return NULL;
    dc->d = d;
    dc->max = c.max_channels;
    pthread_mutex_lock(&d->mu);
    dc->chs = sshbpp_channels_new(d->c, &c);
    pthread_mutex_unlock(&d->mu);
    dc->ch = calloc(dc->max, sizeof(*dc->ch));
    if (dc->chs == NULL || dc->ch == NULL) {
        sshbpp_driver_channels_free(dc);
        return NULL;
    }
    sshbpp__channels_set_sender(dc->chs, dc_send, dc);
    return dc;
}

static void
slot_clear(struct bch *b)
{
    unsigned i;

    for (i = 0; i < 2; i++) {
        if (b->s[i].buf != NULL)
            OPENSSL_cleanse(b->s[i].buf, b->s[i].cap);
        free(b->s[i].buf);
    }
    memset(b, 0, sizeof(*b));
}

/* The caller is done with channel id: its slot and the layer's id go. */
static void
slot_release(sshbpp_driver_channels *dc, uint32_t id)
{
    slot_clear(&dc->ch[id]);
    sshbpp__channel_release(dc->chs, id);
}

/* see sshbpp_driver_channel.h */
void
sshbpp_driver_channels_free(sshbpp_driver_channels *dc)
{
    unsigned i;

    if (dc == NULL)
        return;
    if (dc->ch != NULL)
        for (i = 0; i < dc->max; i++)
            slot_clear(&dc->ch[i]);
    free(dc->ch);
    sshbpp_channels_free(dc->chs);
    free(dc);
}

/* ---------------------------------------------------------------------- */

/* Appends n bytes to a stream. The layer refuses a peer that exceeds our
 * window, so len stays below the window plus one packet; the buffer only
 * grows to that. */
static int
append(struct stream *s, const uint8_t *p, size_t n)
{
    if (n > s->cap - s->off - s->len && s->off > 0) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    if (n > s->cap - s->len) {
        size_t want = s->len + n, cap = s->cap != 0 ? s->cap : 16384;
        uint8_t *q;

        while (cap < want)
            cap *= 2;
        if ((q = malloc(cap)) == NULL)
            return SSHBPP_ENOMEM;
        if (s->len > 0)
            memcpy(q, s->buf + s->off, s->len);
        if (s->buf != NULL)
            OPENSSL_cleanse(s->buf, s->cap);
        free(s->buf);
        s->buf = q;
        s->cap = cap;
        s->off = 0;
    }
    memcpy(s->buf + s->off + s->len, p, n);
    s->len += n;
    return 0;
}

static int
on_event(sshbpp_driver_channels *dc, const sshbpp_chan_event *ev)
{
    struct bch *b;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        return sshbpp_channel_reject(dc->chs, ev->channel, SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED,
                                     "not accepted");
    case SSHBPP_CHAN_EV_GLOBAL_REQUEST:
        return ev->want_reply ? sshbpp_channels_global_reply(dc->chs, 0, NULL, 0) : 0;
    case SSHBPP_CHAN_EV_CONN:
        return 0;
    default:
        break;
    }
    if (ev->channel >= dc->max)
        return 0;
    b = &dc->ch[ev->channel];
    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_CONFIRM:
        b->opened = 1;
        break;
    case SSHBPP_CHAN_EV_OPEN_FAILURE:
        b->open_failed = 1;
        b->fail_code = ev->code;
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        return sshbpp_channel_request_reply(dc->chs, ev->channel, 0);
    case SSHBPP_CHAN_EV_REQUEST_RESULT:
        b->results++;
        b->last_result = ev->success;
        break;
    case SSHBPP_CHAN_EV_DATA:
        return append(&b->s[ev->ext ? 1 : 0], ev->data, ev->len);
    case SSHBPP_CHAN_EV_EOF:
        b->eof = 1;
        break;
    case SSHBPP_CHAN_EV_EXIT_STATUS:
        b->have_exit = 1;
        b->exit_status = (int)(ev->code & 0x7fffffffu);
        break;
    case SSHBPP_CHAN_EV_EXIT_SIGNAL:
        b->have_signal = 1;
        snprintf(b->signame, sizeof(b->signame), "%s", ev->name);
        break;
    case SSHBPP_CHAN_EV_CLOSE:
        b->closed = 1;
        break;
    default:
        break;
    }
    return 0;
}

/* With d->mu held: processes every message in the driver's inbox.
 * Returns 0 or the conn's error. */
static int
drain(sshbpp_driver_channels *dc)
{
    sshbpp_driver *d = dc->d;
    sshbpp_chan_event ev;
    struct dmsg *m;
    unsigned n = 0;
    int r = 0;

    while (r == 0 && (m = d->ihead) != NULL) {
        d->ihead = m->next;
        if (d->ihead == NULL)
            d->itail = NULL;
        d->ibytes -= m->len;
        n++;
        if (m->len > 0 && (m->data[0] == 80 || (m->data[0] >= 90 && m->data[0] <= 100))) {
            r = sshbpp__channels_input(dc->chs, m->data, m->len, &ev);
            if (r == 0) {
                r = on_event(dc, &ev);
                if (r == SSHBPP_ESTATE)
                    r = 0;
            } else if (r == SSHBPP_EAGAIN) {
                r = 0;
            }
        } /* else not ours (UNIMPLEMENTED, a stray reply) */
        OPENSSL_cleanse(m->data, m->len);
        free(m);
    }
    if (n > 0) {
        /* the driver may have stopped reading on a full inbox, and a
         * sleeper's condition may hold now */
        sshbpp__driver_flush(d);
        pthread_cond_broadcast(&d->cv);
    }
    return r != 0 ? r : sshbpp__driver_err(d);
}

typedef int (*cond_fn)(sshbpp_driver_channels *dc, struct bch *b, uintptr_t arg);

struct waitarg {
    sshbpp_driver_channels *dc;
    struct bch *b;
    cond_fn cond;
    uintptr_t arg;
};

static int
goal_wait(sshbpp_driver *d, void *p)
{
    struct waitarg *w = p;

    return d->ihead != NULL || w->cond(w->dc, w->b, w->arg);
}

/* With d->mu held: waits until cond holds. Returns 0, SSHBPP_ETIMEDOUT or
 * the conn's error. */
static int
wait_for(sshbpp_driver_channels *dc, struct bch *b, cond_fn cond, uintptr_t arg, int64_t deadline)
{
    struct waitarg w = {dc, b, cond, arg};
    int r;

    for (;;) {
        if ((r = drain(dc)) != 0)
            return r;
        if (cond(dc, b, arg))
            return 0;
        if ((r = sshbpp__driver_run(dc->d, goal_wait, &w, deadline)) != 0)
            return r;
    }
}

static int
c_opened(sshbpp_driver_channels *dc, struct bch *b, uintptr_t arg)
{
    (void)dc, (void)arg;
    return b->opened || b->open_failed;
}

static int
c_result(sshbpp_driver_channels *dc, struct bch *b, uintptr_t before)
{
    (void)dc;
    return b->results != (unsigned)before;
}

static int
c_readable(sshbpp_driver_channels *dc, struct bch *b, uintptr_t ext)
{
    (void)dc;
    return b->s[ext].len > 0 || b->eof || b->closed;
}

static int
c_readable_any(sshbpp_driver_channels *dc, struct bch *b, uintptr_t arg)
{
    (void)dc, (void)arg;
    return b->s[0].len > 0 || b->s[1].len > 0 || b->eof || b->closed;
}

static int
c_writable(sshbpp_driver_channels *dc, struct bch *b, uintptr_t id)
{
    size_t pending = 0;

    if (b->closed || sshbpp_channel_send_window(dc->chs, (uint32_t)id) == 0)
        return b->closed;
    /* a refusal may also have been the conn's queue, full during a key
     * exchange: wait for the exchange's end then */
    if (sshbpp_conn_kex_running(dc->d->c))
        return 0;
    (void)sshbpp_conn_tx_data(dc->d->c, &pending);
    return pending <= SSHBPP_DRIVER_TX_HIGH;
}

static int
c_exit(sshbpp_driver_channels *dc, struct bch *b, uintptr_t arg)
{
    (void)dc, (void)arg;
    return b->have_exit || b->have_signal || b->closed;
}

static int
c_closed(sshbpp_driver_channels *dc, struct bch *b, uintptr_t arg)
{
    (void)dc, (void)arg;
    return b->closed;
}

/* With d->mu held. */
static struct bch *
slot(sshbpp_driver_channels *dc, uint32_t id)
{
    if (id >= dc->max || !dc->ch[id].in_use)
        return NULL;
    return &dc->ch[id];
}

#define LOCK(dc)   pthread_mutex_lock(&(dc)->d->mu)
#define UNLOCK(dc) pthread_mutex_unlock(&(dc)->d->mu)

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_open_session(sshbpp_driver_channels *dc, uint32_t *id, uint32_t *reason,
                                   int64_t timeout_ms)
{
    return sshbpp__driver_channel_open(dc, "session", NULL, 0, id, reason, timeout_ms);
}

/* see driver_int.h: any channel type (session, direct-tcpip) */
int
sshbpp__driver_channel_open(sshbpp_driver_channels *dc, const char *type, const void *data,
                            size_t len, uint32_t *id, uint32_t *reason, int64_t timeout_ms)
{
    struct bch *b;
    int64_t dl;
    uint32_t i;
    int r;

    if (dc == NULL || id == NULL || type == NULL)
        return SSHBPP_EINVAL;
    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    if ((r = drain(dc)) != 0 || (r = sshbpp_channel_open(dc->chs, type, data, len, &i)) != 0)
        goto out;
    /* the id stays ours until slot_release(), even once the peer closed
     * the channel: another caller's open cannot take it (and its data)
     * while a thread here still uses it */
    sshbpp__channel_hold(dc->chs, i);
    b = &dc->ch[i];
    slot_clear(b);
    b->in_use = 1;
    /* on a timeout the slot stays in use: the late answer lands in it and
     * the channel is the caller's to close */
    if ((r = wait_for(dc, b, c_opened, 0, dl)) != 0) {
        if (r == SSHBPP_ETIMEDOUT)
            *id = i;
        goto out;
    }
    if (b->open_failed) {
        if (reason != NULL)
            *reason = b->fail_code;
        slot_release(dc, i);
        r = SSHBPP_EREFUSED;
        goto out;
    }
    *id = i;
out:
    UNLOCK(dc);
    return r;
}

/* Sends one want-reply channel request (built by req) and waits for its
 * answer: exec, subsystem, shell and pty-req share everything else. */
struct req {
    int kind;
    const char *a, *b;
    uint32_t cols, rows;
};

enum { R_EXEC, R_SUBSYSTEM, R_SHELL, R_PTY, R_ENV };

static int
request(sshbpp_driver_channels *dc, uint32_t id, const struct req *q, int64_t timeout_ms)
{
    struct bch *b;
    unsigned before;
    int64_t dl;
    int r;

    if (dc == NULL)
        return SSHBPP_EINVAL;
    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    if ((b = slot(dc, id)) == NULL) {
        r = SSHBPP_ESTATE;
        goto out;
    }
    if ((r = drain(dc)) != 0)
        goto out;
    before = b->results;
    switch (q->kind) {
    case R_EXEC:
        r = sshbpp_channel_exec(dc->chs, id, q->a);
        break;
    case R_SUBSYSTEM:
        r = sshbpp_channel_subsystem(dc->chs, id, q->a);
        break;
    case R_SHELL:
        r = sshbpp_channel_shell(dc->chs, id);
        break;
    case R_PTY:
        r = sshbpp_channel_pty(dc->chs, id, q->a, q->cols, q->rows, NULL, 0);
        break;
    default:
        r = sshbpp_channel_env(dc->chs, id, q->a, q->b); /* no reply wanted */
        goto out;
    }
    if (r != 0 || (r = wait_for(dc, b, c_result, before, dl)) != 0)
        goto out;
    r = b->last_result ? 0 : SSHBPP_EREFUSED;
out:
    UNLOCK(dc);
    return r;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_exec(sshbpp_driver_channels *dc, uint32_t id, const char *command,
                           int64_t timeout_ms)
{
    struct req q = {R_EXEC, command, NULL, 0, 0};

    return command == NULL ? SSHBPP_EINVAL : request(dc, id, &q, timeout_ms);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_subsystem(sshbpp_driver_channels *dc, uint32_t id, const char *name,
                                int64_t timeout_ms)
{
    struct req q = {R_SUBSYSTEM, name, NULL, 0, 0};

    return name == NULL ? SSHBPP_EINVAL : request(dc, id, &q, timeout_ms);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_shell(sshbpp_driver_channels *dc, uint32_t id, int64_t timeout_ms)
{
    struct req q = {R_SHELL, NULL, NULL, 0, 0};

    return request(dc, id, &q, timeout_ms);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_request_pty(sshbpp_driver_channels *dc, uint32_t id, const char *term,
                                  uint32_t cols, uint32_t rows, int64_t timeout_ms)
{
    struct req q = {R_PTY, term, NULL, cols, rows};

    return term == NULL ? SSHBPP_EINVAL : request(dc, id, &q, timeout_ms);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_env(sshbpp_driver_channels *dc, uint32_t id, const char *name,
                          const char *value)
{
    struct req q = {R_ENV, name, value, 0, 0};

    return name == NULL || value == NULL ? SSHBPP_EINVAL : request(dc, id, &q, -1);
}

/* ext 0 or 1: that stream; -1: whichever has data, stdout first (*which
 * says which). */
static long
read_stream(sshbpp_driver_channels *dc, uint32_t id, int ext, int *which, void *buf, size_t cap,
            int64_t timeout_ms)
{
    struct stream *s;
    struct bch *b;
    int64_t dl;
    size_t n;
    long ret;
    int r;

    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    if ((b = slot(dc, id)) == NULL) {
        ret = SSHBPP_ESTATE;
        goto out;
    }
    /* what is buffered is handed out even after the conn failed */
    if (ext >= 0 ? b->s[ext].len == 0 : b->s[0].len == 0 && b->s[1].len == 0) {
        r = ext >= 0 ? wait_for(dc, b, c_readable, (uintptr_t)ext, dl)
                     : wait_for(dc, b, c_readable_any, 0, dl);
        if (r != 0) {
            ret = r;
            goto out;
        }
    }
    if (ext < 0)
        ext = b->s[0].len > 0 ? 0 : 1;
    if (which != NULL)
        *which = ext;
    s = &b->s[ext];
    if (s->len == 0) {
        ret = 0;
        goto out;
    }
    n = s->len < cap ? s->len : cap;
    if (n > (size_t)0x7fffffff)
        n = 0x7fffffff;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    s->len -= n;
    if (s->len == 0)
        s->off = 0;
    ret = (long)n;
    if (!b->closed) {
        r = sshbpp_channel_consume(dc->chs, id, n);
        if (r != 0 && r != SSHBPP_ESTATE)
            ret = r;
    }
out:
    UNLOCK(dc);
    return ret;
}

/* see sshbpp_driver_channel.h */
long
sshbpp_driver_channel_read(sshbpp_driver_channels *dc, uint32_t id, int ext, void *buf, size_t cap,
                           int64_t timeout_ms)
{
    if (dc == NULL || (ext != 0 && ext != 1) || buf == NULL || cap == 0)
        return SSHBPP_EINVAL;
    return read_stream(dc, id, ext, NULL, buf, cap, timeout_ms);
}

/* see sshbpp_driver_channel.h */
long
sshbpp_driver_channel_read_any(sshbpp_driver_channels *dc, uint32_t id, int *ext, void *buf,
                               size_t cap, int64_t timeout_ms)
{
    if (dc == NULL || ext == NULL || buf == NULL || cap == 0)
        return SSHBPP_EINVAL;
    return read_stream(dc, id, -1, ext, buf, cap, timeout_ms);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_write(sshbpp_driver_channels *dc, uint32_t id, int ext, const void *data,
                            size_t len, int64_t timeout_ms)
{
    const uint8_t *p = data;
    struct bch *b;
    size_t off = 0;
    int64_t dl;
    int r = 0;

    if (dc == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    if ((b = slot(dc, id)) == NULL) {
        r = SSHBPP_ESTATE;
        goto out;
    }
    while (off < len) {
        if ((r = drain(dc)) != 0)
            goto out;
        r = sshbpp_channel_write(dc->chs, id, ext, p + off,
                                 len - off > (1u << 30) ? (1u << 30) : len - off);
        sshbpp__driver_flush(dc->d);
        if (r > 0) {
            off += (size_t)r;
            r = 0;
            continue;
        }
        if (r != SSHBPP_EAGAIN)
            goto out;
        if (b->closed) {
            r = SSHBPP_ESTATE;
            goto out;
        }
        /* the peer's window, or room in the output */
        if ((r = wait_for(dc, b, c_writable, id, dl)) != 0)
            goto out;
    }
out:
    UNLOCK(dc);
    return r;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_eof(sshbpp_driver_channels *dc, uint32_t id)
{
    int r;

    if (dc == NULL)
        return SSHBPP_EINVAL;
    LOCK(dc);
    r = slot(dc, id) == NULL ? SSHBPP_ESTATE : sshbpp_channel_eof(dc->chs, id);
    UNLOCK(dc);
    return r;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_wait_exit(sshbpp_driver_channels *dc, uint32_t id, int *status, char *sig,
                                size_t cap, int64_t timeout_ms)
{
    struct bch *b;
    int64_t dl;
    int r;

    if (dc == NULL || status == NULL || (sig == NULL && cap > 0))
        return SSHBPP_EINVAL;
    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    if ((b = slot(dc, id)) == NULL) {
        r = SSHBPP_ESTATE;
        goto out;
    }
    if ((r = wait_for(dc, b, c_exit, 0, dl)) != 0)
        goto out;
    *status = b->have_exit ? b->exit_status : -1;
    if (cap > 0)
        snprintf(sig, cap, "%s", b->have_signal && !b->have_exit ? b->signame : "");
out:
    UNLOCK(dc);
    return r;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_close(sshbpp_driver_channels *dc, uint32_t id, int64_t timeout_ms)
{
    struct bch *b;
    int64_t dl;
    int r = 0;

    if (dc == NULL)
        return SSHBPP_EINVAL;
    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    if ((b = slot(dc, id)) == NULL) {
        r = SSHBPP_ESTATE;
        goto out;
    }
    if (!b->closed) {
        r = sshbpp_channel_close(dc->chs, id);
        if (r != 0 && r != SSHBPP_ESTATE) /* ESTATE: CLOSE already sent */
            goto out;
    }
    if ((r = wait_for(dc, b, c_closed, 0, dl)) != 0)
        goto out;
    slot_release(dc, id);
out:
    UNLOCK(dc);
    return r;
}

static int
c_never(sshbpp_driver_channels *dc, struct bch *b, uintptr_t arg)
{
    (void)dc, (void)b, (void)arg;
    return 0;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channels_service(sshbpp_driver_channels *dc, int64_t timeout_ms)
{
    int64_t dl;
    int r;

    if (dc == NULL)
        return SSHBPP_EINVAL;
    LOCK(dc);
    dl = sshbpp__driver_deadline(dc->d, timeout_ms);
    r = wait_for(dc, NULL, c_never, 0, dl);
    UNLOCK(dc);
    return r;
}
