/*
 * conn_input.c: what sshbpp_conn_next_event() runs: the version exchange,
 * then one received message at a time, dispatched by type to the key
 * exchange, user authentication, global request tracking or the caller.
 *
 * IMPLEMENTATION NOTES
 *
 * Message policy by type (RFC 4253 section 12 ranges):
 *   1        DISCONNECT: reason and text kept, DISCONNECT event, then the
 *            fatal SSHBPP_EDISCONNECT (never passed to the kex, which would
 *            drop the text)
 *   2, 4     IGNORE, DEBUG: dropped
 *   3        UNIMPLEMENTED: the kex looks at it first (refused rekey), then
 *            it is the caller's (it names one of the caller's messages)
 *   5, 6     service request / accept: user authentication
 *   7        EXT_INFO: the kex (client); dropped by a server
 *   8..19, 22..29   unknown transport messages: answered with
 *            UNIMPLEMENTED (RFC 4253 section 11.4)
 *   20, 21, 30..49  the kex
 *   50..79   user authentication
 *   80..255  the caller's (a server takes them only after authentication)
 * While the client waits for the caller's host key verdict nothing is
 * decoded: the kex is paused before our NEWKEYS and the peer's NEWKEYS
 * must not be taken before it.
 */
#include <stdio.h>
#include <string.h>

#include "conn_int.h"

static int
check_version(const char *line, size_t len)
{
    const char *sw;
    size_t i;

    if (len + 2 > CONN_MAX_VERSION)
        return SSHBPP_EBANNER;
    for (i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
            return SSHBPP_EBANNER;
    if (strncmp(line, "SSH-2.0-", 8) == 0)
        sw = line + 8;
    else if (strncmp(line, "SSH-1.99-", 9) == 0)
        sw = line + 9; /* RFC 4253 5.1: a 1.99 server also speaks 2.0 */
    else
        return SSHBPP_EVERSION;
    if (sw[0] == '\0' || sw[0] == ' ')
        return SSHBPP_EBANNER;
    return 0;
}

static int
eof_error(const sshbpp_conn *c)
{
    return sshbpp_engine_rx_pending(c->e) > 0 ? SSHBPP_EEOFPKT : SSHBPP_EEOF;
}

/* Reads lines until the peer's version line. Returns 0 when it is there,
 * SSHBPP_EAGAIN, or the sticky error. */
static int
read_version(sshbpp_conn *c)
{
    struct ievent *ev;
    size_t n;
    int r;

    for (;;) {
        r = sshbpp_engine_rx_line(c->e, c->line, sizeof(c->line), &n);
        if (r == SSHBPP_EAGAIN)
            return c->eof ? sshbpp__conn_fail(c, eof_error(c)) : SSHBPP_EAGAIN;
        if (r == SSHBPP_ELINELONG)
            return sshbpp__conn_fail(c, SSHBPP_EBANNER);
        if (r != 0)
            return sshbpp__conn_fail(c, r);
        if (n >= 4 && memcmp(c->line, "SSH-", 4) == 0)
            break;
        /* RFC 4253 4.2: a server MAY send other lines first; a client MUST
         * NOT. Bounded so that a peer cannot keep us reading. */
        c->pre_bytes += n + 1;
        if (c->role == SSHBPP_ROLE_SERVER || ++c->pre_lines > CONN_MAX_PRE_LINES ||
            c->pre_bytes > CONN_MAX_PRE_BYTES)
            return sshbpp__conn_fail(c, SSHBPP_EBANNER);
    }
    if ((r = check_version(c->line, n)) != 0)
        return sshbpp__conn_fail(c, r);
    memcpy(c->peer_version, c->line, n + 1);
    c->have_version = 1;
    if ((ev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_VERSION)) != NULL)
        sshbpp__conn_copy_text(ev->text, sizeof(ev->text), (const uint8_t *)c->peer_version, n);
    r = c->role == SSHBPP_ROLE_CLIENT
            ? sshbpp_kex_set_versions(c->k, c->my_version, c->peer_version)
            : sshbpp_kex_set_versions(c->k, c->peer_version, c->my_version);
    if (r != 0 || (r = sshbpp_kex_start(c->k)) != 0)
        return sshbpp__conn_fail(c, r);
    return 0;
}

static int
input_disconnect(sshbpp_conn *c, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *text = NULL;
    size_t n = 0;
    uint32_t reason = 0;
    uint8_t type;
    struct ievent *ev;

    /* Take what is there even from a truncated message: the text matters
     * more to a user than the form of a message that ends the connection. */
    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    (void)sshbpp__rb_u8(&rb, &type);
    if (sshbpp__rb_u32(&rb, &reason) == 0 && sshbpp__rb_string(&rb, &text, &n) != 0) {
        text = NULL;
        n = 0;
    }
    c->have_disc = 1;
    c->disc_reason = reason;
    sshbpp__conn_copy_text(c->disc_text, sizeof(c->disc_text),
                           text != NULL ? text : (const uint8_t *)"", n);
    if ((ev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_DISCONNECT)) != NULL) {
        ev->code = reason;
        memcpy(ev->text, c->disc_text, sizeof(ev->text));
    }
    return sshbpp__conn_fail(c, SSHBPP_EDISCONNECT);
}

static int
send_unimplemented(sshbpp_conn *c, uint32_t seqno)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_UNIMPLEMENTED);
    sshbpp__wb_u32(&b, seqno);
    return sshbpp__conn_send_wb(c, &b);
}

/* A kex completed: events, flush the queue. */
static void
kex_progress(sshbpp_conn *c)
{
    unsigned done = sshbpp_kex_completed(c->k);

    if (done == c->kex_seen)
        return;
    c->kex_seen = done;
    if (!c->hs_done) {
        c->hs_done = 1;
        (void)sshbpp__conn_push_event(c, SSHBPP_CONN_EV_HANDSHAKE_DONE);
    } else {
        (void)sshbpp__conn_push_event(c, SSHBPP_CONN_EV_REKEY_DONE);
    }
    sshbpp__conn_after_kex(c);
}

/* Returns 1 with *ev set for an application message, 0 when handled. */
static int
dispatch(sshbpp_conn *c, const sshbpp_packet *pkt, sshbpp_conn_event *ev)
{
    uint8_t t = pkt->type;
    int r;

    if (t == MSG_DISCONNECT)
        return input_disconnect(c, pkt);
    r = sshbpp_kex_input(c->k, pkt);
    if (r < 0)
        return sshbpp__conn_fail(c, r);
    if (sshbpp__kex_hostkey_pending(c->k) && !c->paused) {
        struct ievent *iev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_HOSTKEY);
        const char *alg = "", *fp = "";

        c->paused = 1;
        if (iev != NULL) {
            iev->data = sshbpp__kex_hostkey_blob(c->k, &iev->len, &alg, &fp);
            snprintf(iev->alg, sizeof(iev->alg), "%s", alg);
            snprintf(iev->text, sizeof(iev->text), "%s", fp);
        }
    }
    kex_progress(c);
    if (r == SSHBPP_KEX_USED || c->err != 0)
        return 0;
    if (t == MSG_IGNORE || t == MSG_DEBUG)
        return 0;
    if (t == MSG_EXT_INFO) /* a server: we offered no ext-info-s */
        return 0;
    if ((t >= 8 && t <= 19) || (t >= 22 && t <= 29)) {
        (void)send_unimplemented(c, pkt->seqno);
        return 0;
    }
    if (t == MSG_SERVICE_REQUEST || t == MSG_SERVICE_ACCEPT || (t >= 50 && t <= 79)) {
        if (!c->hs_done)
            return sshbpp__conn_fail(c, SSHBPP_EKEXORDER);
        r = c->role == SSHBPP_ROLE_CLIENT ? sshbpp__conn_client_auth_input(c, pkt)
                                          : sshbpp__conn_server_auth_input(c, pkt);
        return r < 0 ? sshbpp__conn_fail(c, r) : 0;
    }
    if (t >= 80) {
        if (!c->hs_done || (c->role == SSHBPP_ROLE_SERVER && !c->authed))
            return sshbpp__conn_fail(c, SSHBPP_EPROTO);
        if ((t == MSG_REQUEST_SUCCESS || t == MSG_REQUEST_FAILURE) && sshbpp__conn_greq_reply(c))
            return 0; /* the answer to one of our keepalives */
    }
    /* UNIMPLEMENTED and application messages */
    memset(ev, 0, sizeof(*ev));
    ev->type = SSHBPP_CONN_EV_MESSAGE;
    ev->data = pkt->payload;
    ev->len = pkt->len;
    ev->seqno = pkt->seqno;
    ev->text = "";
    ev->alg = "";
    ev->user = "";
    return 1;
}

/* One step of next_event(): returns 1 with *ev set (application message),
 * 0 after handling a message (events may be queued), SSHBPP_EAGAIN when
 * input is needed, or the sticky error. */
int
sshbpp__conn_pump(sshbpp_conn *c, sshbpp_conn_event *ev)
{
    sshbpp_packet pkt;
    int r;

    if (!c->started || c->paused)
        return SSHBPP_EAGAIN;
    if (!c->have_version)
        return read_version(c);
    r = sshbpp_engine_rx_next(c->e, &pkt);
    if (r == SSHBPP_EAGAIN) {
        if (c->eof)
            return sshbpp__conn_fail(c, eof_error(c));
        return SSHBPP_EAGAIN;
    }
    if (r != 0)
        return sshbpp__conn_fail(c, r);
    r = dispatch(c, &pkt, ev);
    if (r < 0)
        return r;
    /* The peer's traffic counts towards our limits too. */
    if (c->err == 0 && sshbpp__conn_maybe_rekey(c) < 0)
        return c->err;
    return r;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_hostkey_verdict(sshbpp_conn *c, int accept)
{
    int r;

    if (c == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (!c->paused)
        return SSHBPP_ESTATE;
    c->paused = 0;
    if (!accept) {
        (void)sshbpp__conn_send_disconnect(c, SSHBPP_DISCONNECT_HOST_KEY_NOT_VERIFIABLE,
                                           "host key rejected");
        return sshbpp__conn_fail(c, SSHBPP_EHOSTKEYREJECTED);
    }
    if ((r = sshbpp__kex_hostkey_resume(c->k)) != 0)
        return sshbpp__conn_fail(c, r);
    return 0;
}
