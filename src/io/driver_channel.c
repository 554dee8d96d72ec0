/*
 * driver_channel.c: blocking session channels over the driver
 * (sshbpp_driver_channel.h).
 *
 * IMPLEMENTATION NOTES
 *
 * One loop, step(): take the next application message from the driver
 * (sshbpp_driver_recv, which does the I/O), give a channel message to the
 * sans-I/O layer (sshbpp__channels_input) and record its event in the
 * channel's slot; every blocking call repeats step() until its own
 * condition holds or its deadline passes. The layer's sends go through
 * sshbpp_driver_send() (sshbpp__channels_set_sender), so the driver writes
 * them out. The layer runs with manual_window: a received byte is granted
 * back to the peer only when the caller has read it, which bounds the
 * buffers by the window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn/channel_int.h"
#include "driver_int.h"
#include "sshbpp/sshbpp_driver_channel.h"

#define DC_MSG_INITIAL (64u * 1024u)

struct bch {
    int in_use, opened, open_failed, eof, closed, have_exit, have_signal;
    uint32_t fail_code;
    unsigned results;
    int last_result;
    int exit_status;
    char signame[32];
    uint8_t *buf[2];
    size_t len[2], cap[2];
};

struct sshbpp_driver_channels {
    sshbpp_driver *d;
    sshbpp_channels *chs;
    unsigned max;
    struct bch *ch;
    uint8_t *msg;
    size_t msg_cap;
    int64_t send_timeout; /* for the sender, set by each blocking call */
};

static int
dc_send(void *ctx, const uint8_t *p, size_t len, int data)
{
    sshbpp_driver_channels *dc = ctx;

    /* Control messages wait as long as it takes: they are small and the
     * driver only waits for its output to drain. */
    return sshbpp_driver_send(dc->d, p, len, data ? dc->send_timeout : -1);
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
    dc->chs = sshbpp_channels_new(sshbpp_driver_conn(d), &c);
    dc->ch = calloc(dc->max, sizeof(*dc->ch));
    dc->msg = malloc(DC_MSG_INITIAL);
    dc->msg_cap = DC_MSG_INITIAL;
    if (dc->chs == NULL || dc->ch == NULL || dc->msg == NULL) {
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
        if (b->buf[i] != NULL)
            OPENSSL_cleanse(b->buf[i], b->cap[i]);
        free(b->buf[i]);
    }
    memset(b, 0, sizeof(*b));
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
    free(dc->msg);
    sshbpp_channels_free(dc->chs);
    free(dc);
}

/* ---------------------------------------------------------------------- */

static int64_t
deadline_of(const sshbpp_driver_channels *dc, int64_t timeout_ms)
{
    if (timeout_ms == SSHBPP_TIMEOUT_DEFAULT)
        timeout_ms = dc->d->default_timeout;
    return timeout_ms < 0 ? -1 : sshbpp__now_ms() + timeout_ms;
}

/* Time left until deadline (-1: none); SSHBPP_ETIMEDOUT once passed. */
static int64_t
left(int64_t deadline)
{
    int64_t now;

    if (deadline < 0)
        return -1;
    now = sshbpp__now_ms();
    return now >= deadline ? SSHBPP_ETIMEDOUT : deadline - now;
}

static int
append(struct bch *b, int ext, const uint8_t *p, size_t n)
{
    if (n > b->cap[ext] - b->len[ext]) {
        size_t want = b->len[ext] + n, cap = b->cap[ext] != 0 ? b->cap[ext] : 4096;
        uint8_t *q;

        while (cap < want)
            cap *= 2;
        if ((q = malloc(cap)) == NULL)
            return SSHBPP_ENOMEM;
        if (b->len[ext] > 0)
            memcpy(q, b->buf[ext], b->len[ext]);
        if (b->buf[ext] != NULL)
            OPENSSL_cleanse(b->buf[ext], b->cap[ext]);
        free(b->buf[ext]);
        b->buf[ext] = q;
        b->cap[ext] = cap;
    }
    memcpy(b->buf[ext] + b->len[ext], p, n);
    b->len[ext] += n;
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
        return append(b, ev->ext, ev->data, ev->len);
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

/* One message from the driver. Returns 0, SSHBPP_ETIMEDOUT or the error. */
static int
step(sshbpp_driver_channels *dc, int64_t deadline)
{
    sshbpp_chan_event ev;
    size_t len = 0;
    int64_t t = left(deadline);
    int r;

    if (t == SSHBPP_ETIMEDOUT)
        return SSHBPP_ETIMEDOUT;
    r = sshbpp_driver_recv(dc->d, dc->msg, dc->msg_cap, &len, t);
    if (r == SSHBPP_EBUFSMALL) {
        uint8_t *q = realloc(dc->msg, len);

        if (q == NULL)
            return SSHBPP_ENOMEM;
        dc->msg = q;
        dc->msg_cap = len;
        r = sshbpp_driver_recv(dc->d, dc->msg, dc->msg_cap, &len, 0 /* waiting one */);
    }
    if (r != 0)
        return r;
    if (len == 0 || !(dc->msg[0] == 80 || (dc->msg[0] >= 90 && dc->msg[0] <= 100)))
        return 0; /* not ours (UNIMPLEMENTED, a stray reply) */
    dc->send_timeout = t;
    r = sshbpp__channels_input(dc->chs, dc->msg, len, &ev);
    if (r == SSHBPP_EAGAIN)
        return 0;
    if (r != 0)
        return r;
    r = on_event(dc, &ev);
    return r < 0 && r != SSHBPP_ESTATE ? r : 0;
}

static struct bch *
slot(sshbpp_driver_channels *dc, uint32_t id)
{
    if (dc == NULL || id >= dc->max || !dc->ch[id].in_use)
        return NULL;
    return &dc->ch[id];
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_open_session(sshbpp_driver_channels *dc, uint32_t *id, uint32_t *reason,
                                   int64_t timeout_ms)
{
    int64_t dl;
    uint32_t i;
    int r;

    if (dc == NULL || id == NULL)
        return SSHBPP_EINVAL;
    dl = deadline_of(dc, timeout_ms);
    if ((r = sshbpp_channel_open_session(dc->chs, &i)) != 0)
        return r;
    slot_clear(&dc->ch[i]);
    dc->ch[i].in_use = 1;
    while (!dc->ch[i].opened && !dc->ch[i].open_failed)
        if ((r = step(dc, dl)) != 0)
            return r;
    if (dc->ch[i].open_failed) {
        if (reason != NULL)
            *reason = dc->ch[i].fail_code;
        slot_clear(&dc->ch[i]);
        return SSHBPP_EREFUSED;
    }
    *id = i;
    return 0;
}

static int
wait_result(sshbpp_driver_channels *dc, struct bch *b, unsigned before, int64_t dl)
{
    int r;

    while (b->results == before)
        if ((r = step(dc, dl)) != 0)
            return r;
    return b->last_result ? 0 : SSHBPP_EREFUSED;
}

/* Sends one want-reply channel request (req with its one string argument)
 * and waits for its answer: exec and subsystem share everything else. */
static int
request_and_wait(sshbpp_driver_channels *dc, uint32_t id,
                 int (*req)(sshbpp_channels *, uint32_t, const char *), const char *arg,
                 int64_t timeout_ms)
{
    struct bch *b = slot(dc, id);
    unsigned before;
    int r;

    if (b == NULL)
        return SSHBPP_ESTATE;
    before = b->results;
    dc->send_timeout = -1;
    if ((r = req(dc->chs, id, arg)) != 0)
        return r;
    return wait_result(dc, b, before, deadline_of(dc, timeout_ms));
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_exec(sshbpp_driver_channels *dc, uint32_t id, const char *command,
                           int64_t timeout_ms)
{
    return request_and_wait(dc, id, sshbpp_channel_exec, command, timeout_ms);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_subsystem(sshbpp_driver_channels *dc, uint32_t id, const char *name,
                                int64_t timeout_ms)
{
    return request_and_wait(dc, id, sshbpp_channel_subsystem, name, timeout_ms);
}

/* see sshbpp_driver_channel.h */
long
sshbpp_driver_channel_read(sshbpp_driver_channels *dc, uint32_t id, int ext, void *buf, size_t cap,
                           int64_t timeout_ms)
{
    struct bch *b = slot(dc, id);
    int64_t dl;
    size_t n;
    int r;

    if (b == NULL)
        return SSHBPP_ESTATE;
    if ((ext != 0 && ext != 1) || buf == NULL || cap == 0)
        return SSHBPP_EINVAL;
    dl = deadline_of(dc, timeout_ms);
    while (b->len[ext] == 0 && !b->eof && !b->closed)
        if ((r = step(dc, dl)) != 0)
            return r;
    if (b->len[ext] == 0)
        return 0;
    n = b->len[ext] < cap ? b->len[ext] : cap;
    if (n > (size_t)0x7fffffff)
        n = 0x7fffffff;
    memcpy(buf, b->buf[ext], n);
    memmove(b->buf[ext], b->buf[ext] + n, b->len[ext] - n);
    b->len[ext] -= n;
    if (!b->closed) {
        dc->send_timeout = -1;
        r = sshbpp_channel_consume(dc->chs, id, n);
        if (r != 0 && r != SSHBPP_ESTATE)
            return r;
    }
    return (long)n;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_write(sshbpp_driver_channels *dc, uint32_t id, int ext, const void *data,
                            size_t len, int64_t timeout_ms)
{
    const uint8_t *p = data;
    struct bch *b = slot(dc, id);
    size_t off = 0;
    int64_t dl;
    int r;

    if (b == NULL)
        return SSHBPP_ESTATE;
    if (data == NULL && len > 0)
        return SSHBPP_EINVAL;
    dl = deadline_of(dc, timeout_ms);
    while (off < len) {
        int64_t t = left(dl);

        if (t == SSHBPP_ETIMEDOUT)
            return SSHBPP_ETIMEDOUT;
        dc->send_timeout = t;
        r = sshbpp_channel_write(dc->chs, id, ext, p + off,
                                 len - off > (1u << 30) ? (1u << 30) : len - off);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        if (r != SSHBPP_EAGAIN)
            return r;
        if (b->closed)
            return SSHBPP_ESTATE;
        if ((r = step(dc, dl)) != 0) /* a WINDOW_ADJUST, or anything */
            return r;
    }
    return 0;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_eof(sshbpp_driver_channels *dc, uint32_t id)
{
    if (slot(dc, id) == NULL)
        return SSHBPP_ESTATE;
    dc->send_timeout = -1;
    return sshbpp_channel_eof(dc->chs, id);
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_wait_exit(sshbpp_driver_channels *dc, uint32_t id, int *status, char *sig,
                                size_t cap, int64_t timeout_ms)
{
    struct bch *b = slot(dc, id);
    int64_t dl;
    int r;

    if (b == NULL)
        return SSHBPP_ESTATE;
    if (status == NULL || (sig == NULL && cap > 0))
        return SSHBPP_EINVAL;
    dl = deadline_of(dc, timeout_ms);
    while (!b->have_exit && !b->have_signal && !b->closed)
        if ((r = step(dc, dl)) != 0)
            return r;
    *status = b->have_exit ? b->exit_status : -1;
    if (cap > 0)
        snprintf(sig, cap, "%s", b->have_signal && !b->have_exit ? b->signame : "");
    return 0;
}

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_close(sshbpp_driver_channels *dc, uint32_t id, int64_t timeout_ms)
{
    struct bch *b = slot(dc, id);
    int64_t dl;
    int r;

    if (b == NULL)
        return SSHBPP_ESTATE;
    dl = deadline_of(dc, timeout_ms);
    dc->send_timeout = -1;
    if (!b->closed) {
        r = sshbpp_channel_close(dc->chs, id);
        if (r != 0 && r != SSHBPP_ESTATE) /* ESTATE: CLOSE already sent */
            return r;
    }
    while (!b->closed)
        if ((r = step(dc, dl)) != 0)
            return r;
    slot_clear(b);
    return 0;
}
