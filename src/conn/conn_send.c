/*
 * conn_send.c: sending through the connection: application messages, the
 * bounded queue for messages sent during a key exchange, global request
 * reply tracking, automatic rekeys, keepalives and DISCONNECT.
 *
 * IMPLEMENTATION NOTES
 *
 * RFC 4253 section 7.1: once our KEXINIT is out, only key exchange
 * messages (and DISCONNECT, IGNORE, DEBUG, UNIMPLEMENTED) may follow until
 * our NEWKEYS. The conn is the engine's only sender, so one check suffices:
 * a message goes to the engine only when no exchange runs and nothing is
 * queued (order), else to the queue. The queue holds the caller's messages
 * (bounded by count and bytes: beyond that SSHBPP_EAGAIN, nothing taken)
 * and the conn's own (auth requests, keepalives: never refused, at most a
 * few). It is flushed in order when an exchange completes; a flush that
 * trips the rekey limits starts the next exchange and stops there.
 *
 * Global requests with want-reply get their replies in order (RFC 4254
 * section 4). The ring greq[] records for each outstanding one whether it
 * is ours (a keepalive, whose reply is absorbed) or the caller's.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn_int.h"

void
sshbpp__conn_queue_free(sshbpp_conn *c)
{
    struct qmsg *m;

    while ((m = c->qhead) != NULL) {
        c->qhead = m->next;
        OPENSSL_cleanse(m->data, m->len);
        free(m);
    }
    c->qtail = NULL;
    c->qcount = c->qbytes = c->qall = 0;
}

/* Queues head (hlen bytes) and body (blen, may be 0) as one message. */
static int
enqueue2(sshbpp_conn *c, const uint8_t *p, size_t hlen, const uint8_t *b, size_t blen,
         int internal)
{
    struct qmsg *m;
    size_t len;

    if (hlen > SSHBPP_MAX_PACKET_LIMIT || blen > SSHBPP_MAX_PACKET_LIMIT - hlen)
        return SSHBPP_EPAYLOADLEN;
    len = hlen + blen;
    if (!internal && (c->qcount >= c->qmax_msgs || len > c->qmax_bytes - c->qbytes))
        return SSHBPP_EAGAIN;
    if ((m = malloc(sizeof(*m) + len)) == NULL)
        return sshbpp__conn_fail(c, SSHBPP_ENOMEM);
    m->next = NULL;
    m->len = len;
    m->internal = internal;
    memcpy(m->data, p, hlen);
    if (blen > 0)
        memcpy(m->data + hlen, b, blen);
    if (c->qtail != NULL)
        c->qtail->next = m;
    else
        c->qhead = m;
    c->qtail = m;
    c->qall++;
    if (!internal) {
        c->qcount++;
        c->qbytes += len;
    }
    return 0;
}

static int
enqueue(sshbpp_conn *c, const uint8_t *p, size_t len, int internal)
{
    return enqueue2(c, p, len, NULL, 0, internal);
}

static int
can_send_now(const sshbpp_conn *c)
{
    return c->hs_done && !sshbpp_kex_running(c->k) && c->qhead == NULL;
}

int
sshbpp__conn_maybe_rekey(sshbpp_conn *c)
{
    int r;

    if (c->err != 0)
        return c->err;
    if (!c->hs_done || sshbpp_kex_running(c->k) || !sshbpp_engine_need_rekey(c->e))
        return 0;
    if ((r = sshbpp_kex_start(c->k)) != 0)
        return sshbpp__conn_fail(c, r);
    return 0;
}

static int
send_engine(sshbpp_conn *c, const uint8_t *p, size_t len)
{
    int r = sshbpp_engine_send(c->e, p, len);

    if (r != 0)
        return sshbpp_is_fatal(r) ? sshbpp__conn_fail(c, r) : r;
    return sshbpp__conn_maybe_rekey(c);
}

int
sshbpp__conn_send_internal(sshbpp_conn *c, const uint8_t *p, size_t len, int internal)
{
    if (c->err != 0)
        return c->err;
    if (len == 0 || len > sshbpp_engine_max_packet(c->e))
        return SSHBPP_EPAYLOADLEN;
    /* A queued message meets the engine's length check only at the flush,
     * where it could no longer be refused softly: leave room for framing
     * and zlib's worst case now. */
    if (!can_send_now(c))
        return len > sshbpp_engine_max_packet(c->e) - 1024u ? SSHBPP_EPAYLOADLEN
                                                            : enqueue(c, p, len, internal);
    return send_engine(c, p, len);
}

int
sshbpp__conn_send2(sshbpp_conn *c, const uint8_t *head, size_t hlen, const uint8_t *body,
                   size_t blen, int internal)
{
    size_t len;
    uint8_t *p;
    int r;

    if (c->err != 0)
        return c->err;
    if (hlen == 0 || (body == NULL && blen > 0) || blen > sshbpp_engine_max_packet(c->e) ||
        hlen > sshbpp_engine_max_packet(c->e) - blen)
        return SSHBPP_EPAYLOADLEN;
    len = hlen + blen;
    if (!can_send_now(c))
        return len > sshbpp_engine_max_packet(c->e) - 1024u
                   ? SSHBPP_EPAYLOADLEN
                   : enqueue2(c, head, hlen, body, blen, internal);
    /* straight into the engine's output: one copy of the body */
    if ((p = sshbpp_engine_tx_begin(c->e, len)) == NULL) {
        /* the engine failed (out of memory: recorded), or the message is
         * above what the engine takes once compressed (soft) */
        r = sshbpp_engine_error(c->e);
        return r != 0 ? sshbpp__conn_fail(c, r) : SSHBPP_EPAYLOADLEN;
    }
    memcpy(p, head, hlen);
    if (blen > 0)
        memcpy(p + hlen, body, blen);
    if ((r = sshbpp_engine_tx_end(c->e, len)) != 0)
        return sshbpp_is_fatal(r) ? sshbpp__conn_fail(c, r) : r;
    return sshbpp__conn_maybe_rekey(c);
}

int
sshbpp__conn_send_wb(sshbpp_conn *c, sshbpp__wbuf *b)
{
    int r = b->err != 0 ? b->err : sshbpp__conn_send_internal(c, b->p, b->len, 1);

    sshbpp__wb_free(b);
    return r;
}

void
sshbpp__conn_after_kex(sshbpp_conn *c)
{
    struct qmsg *m;
    int r;

    while (c->err == 0 && !sshbpp_kex_running(c->k) && (m = c->qhead) != NULL) {
        c->qhead = m->next;
        if (c->qhead == NULL)
            c->qtail = NULL;
        c->qall--;
        if (!m->internal) {
            c->qcount--;
            c->qbytes -= m->len;
        }
        r = send_engine(c, m->data, m->len);
        OPENSSL_cleanse(m->data, m->len);
        free(m);
        if (r != 0 && c->err == 0)
            (void)sshbpp__conn_fail(c, r); /* a length the queue took */
    }
}

/* Both callers checked for room before they sent the request. */
static void
greq_push(sshbpp_conn *c, int ours)
{
    c->greq[(c->greq_head + c->greq_n) % CONN_GREQ_RING] = (uint8_t)ours;
    c->greq_n++;
}

int
sshbpp__conn_greq_reply(sshbpp_conn *c)
{
    int ours;

    if (c->greq_n == 0)
        return 0; /* unasked: the caller's business */
    ours = c->greq[c->greq_head];
    c->greq_head = (c->greq_head + 1) % CONN_GREQ_RING;
    c->greq_n--;
    if (ours)
        c->ka_unanswered = 0;
    return ours;
}

/* The want-reply flag of a GLOBAL_REQUEST, or -1 if malformed. */
static int
want_reply(const uint8_t *p, size_t len)
{
    sshbpp__rbuf rb;
    const uint8_t *name;
    size_t n;
    uint8_t type;
    int w;

    sshbpp__rb_init(&rb, p, len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &name, &n) != 0 ||
        sshbpp__rb_bool(&rb, &w) != 0)
        return -1;
    return w;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_send(sshbpp_conn *c, const void *payload, size_t len)
{
    const uint8_t *p = payload;
    int w = 0, r;

    if (c == NULL || p == NULL || len == 0)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (p[0] == MSG_DISCONNECT || (p[0] >= 5 && p[0] < 80))
        return SSHBPP_EINVAL;
    if (len > sshbpp_engine_max_packet(c->e))
        return SSHBPP_EPAYLOADLEN;
    if (p[0] == MSG_GLOBAL_REQUEST && (w = want_reply(p, len)) < 0)
        return SSHBPP_EINVAL;
    if (w == 1 && c->greq_n == CONN_GREQ_RING)
        return SSHBPP_EAGAIN;
    if ((r = sshbpp__conn_send_internal(c, p, len, 0)) != 0)
        return r;
    if (w == 1)
        greq_push(c, 0);
    return 0;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_global_request(sshbpp_conn *c, const char *name, int want, const void *data, size_t len)
{
    sshbpp__wbuf b;
    int r;

    if (c == NULL || name == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_GLOBAL_REQUEST);
    sshbpp__wb_cstring(&b, name);
    sshbpp__wb_bool(&b, want != 0);
    if (len > 0)
        sshbpp__wb_raw(&b, data, len);
    r = b.err != 0 ? b.err : sshbpp_conn_send(c, b.p, b.len);
    sshbpp__wb_free(&b);
    return r;
}

int
sshbpp__conn_keepalive(sshbpp_conn *c)
{
    sshbpp__wbuf b;
    int r;

    if (c->ka_unanswered >= c->keepalive_max)
        return sshbpp__conn_fail(c, SSHBPP_EKEEPALIVE);
    if (c->greq_n == CONN_GREQ_RING) {
        c->last_rx = c->now; /* replies are owed anyway: try one interval later */
        return 0;
    }
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_GLOBAL_REQUEST);
    sshbpp__wb_cstring(&b, "keepalive@openssh.com");
    sshbpp__wb_bool(&b, 1);
    if ((r = sshbpp__conn_send_wb(c, &b)) != 0)
        return r;
    greq_push(c, 1);
    c->ka_unanswered++;
    c->last_rx = c->now; /* the next one after another interval */
    return 0;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_rekey(sshbpp_conn *c)
{
    int r;

    if (c == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (!c->hs_done)
        return SSHBPP_ESTATE;
    if (sshbpp_kex_running(c->k))
        return 0;
    if ((r = sshbpp_kex_start(c->k)) != 0)
        return sshbpp__conn_fail(c, r);
    return 0;
}

int
sshbpp__conn_send_disconnect(sshbpp_conn *c, uint32_t reason, const char *text)
{
    sshbpp__wbuf b;
    int r;

    /* Allowed at any time, also in the middle of an exchange: straight to
     * the engine, past the queue. */
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_DISCONNECT);
    sshbpp__wb_u32(&b, reason);
    sshbpp__wb_cstring(&b, text != NULL ? text : "");
    sshbpp__wb_cstring(&b, "");
    r = b.err != 0 ? b.err : sshbpp_engine_send(c->e, b.p, b.len);
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_disconnect(sshbpp_conn *c, uint32_t reason, const char *description)
{
    if (c == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    (void)sshbpp__conn_send_disconnect(c, reason, description);
    (void)sshbpp__conn_fail(c, SSHBPP_ECLOSED);
    c->err_reported = 1; /* our own doing: no ERROR event */
    return 0;
}
