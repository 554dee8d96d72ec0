/*
 * test_cov_channel.c: the channel layer (sshbpp_channel.h) against a
 * hostile peer and a careless caller. Two real conns with channel layers,
 * logged in; the peer's channel messages are built by hand and sent with
 * sshbpp_conn_send() on its conn, past its channel layer:
 *
 *  - malformed messages of every type (truncated, trailing bytes, wrong
 *    state, unknown channel), each failing the receiver with
 *    SSHBPP_ECHANMSG and a DISCONNECT (protocol error) to the sender;
 *  - window adjusts up to and beyond 2^32 - 1, a maximum packet size of 0
 *    at open and at confirmation (refused: a channel nothing can ever be
 *    written to would stall);
 *  - messages for channels we closed (dropped) or that are gone (fatal);
 *  - the caller's calls with bad arguments and in the wrong state
 *    (SSHBPP_EINVAL / SSHBPP_ESTATE, nothing sent), and the direct-tcpip
 *    encoding and decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn/channel_int.h"
#include "kex/kex_int.h"
#include "sshbpp/sshbpp_channel.h"
#include "sshbpp/sshbpp_conn.h"
#include "conn_rig.h"

/* ---- the rig ------------------------------------------------------------------ */

#define MAXEV 64

typedef struct side side;
/* Runs inside the event loop, right after the event is recorded: the
 * place where a decision is still owed. */
typedef void (*hook_fn)(side *sd, const sshbpp_chan_event *ev);

struct side {
    sshbpp_conn *c;
    sshbpp_channels *chs;
    int auto_accept;  /* accept OPEN_REQUESTs */
    int leave;        /* leave requests unanswered (refused at the next call) */
    int hold;         /* read nothing: what arrives stays in the conn's buffer */
    hook_fn hook;
    int n[16];        /* channel events by type */
    int conn_msgs[256];
    int error;
    uint32_t disc_code;
    int sent[256];    /* engine trace: packets sent by type */
    sshbpp_chan_event last[16]; /* the latest event of each type (pointers stale) */
    uint32_t last_code[16];
    char last_name[16][64];
    char last_text[16][64];
    size_t data_bytes;
    uint32_t opened; /* the channel of the latest OPEN_REQUEST */
    uint8_t open_data[600];
    size_t open_len;
};

typedef struct rig {
    side c, s;
    int64_t now;
} rig;

static void
trace(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t pl, size_t wl, uint32_t seqno)
{
    side *sd = ctx;

    (void)pl;
    (void)wl;
    (void)seqno;
    if (dir == SSHBPP_DIR_OUT)
        sd->sent[type]++;
}

static enum sshbpp_auth_decision
auth_cb(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    (void)methods;
    return strcmp(a->method, "password") == 0 ? SSHBPP_AUTH_ACCEPT : SSHBPP_AUTH_REJECT;
}

static void
on_event(side *sd, const sshbpp_chan_event *ev)
{
    assert_true(ev->type >= 1 && ev->type < 16);
    sd->n[ev->type]++;
    sd->last[ev->type] = *ev;
    sd->last_code[ev->type] = ev->code;
    snprintf(sd->last_name[ev->type], sizeof(sd->last_name[0]), "%s", ev->name);
    snprintf(sd->last_text[ev->type], sizeof(sd->last_text[0]), "%s", ev->text);
    if (sd->hook != NULL) {
        sd->hook(sd, ev);
        return;
    }
    switch (ev->type) {
    case SSHBPP_CHAN_EV_CONN:
        if (ev->conn.type == SSHBPP_CONN_EV_HOSTKEY)
            assert_int_equal(sshbpp_conn_hostkey_verdict(sd->c, 1), 0);
        if (ev->conn.type == SSHBPP_CONN_EV_MESSAGE)
            sd->conn_msgs[ev->conn.data[0]]++;
        if (ev->conn.type == SSHBPP_CONN_EV_DISCONNECT)
            sd->disc_code = ev->conn.code;
        if (ev->conn.type == SSHBPP_CONN_EV_ERROR)
            sd->error = ev->conn.error;
        break;
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        sd->opened = ev->channel;
        assert_true(ev->len <= sizeof(sd->open_data));
        memcpy(sd->open_data, ev->data, ev->len);
        sd->open_len = ev->len;
        if (sd->auto_accept)
            assert_int_equal(sshbpp_channel_accept(sd->chs, ev->channel), 0);
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        if (!sd->leave)
            assert_int_equal(sshbpp_channel_request_reply(sd->chs, ev->channel, 1), 0);
        break;
    case SSHBPP_CHAN_EV_DATA:
        sd->data_bytes += ev->len;
        break;
    default:
        break;
    }
}

static void
drain(side *sd)
{
    sshbpp_chan_event ev;
    int e;

    if (sd->hold)
        return;
    while ((e = sshbpp_channels_next_event(sd->chs, &ev)) == 0)
        on_event(sd, &ev);
    if (e != SSHBPP_EAGAIN)
        assert_int_equal(e, sshbpp_conn_error(sd->c));
}

static void
drain_cb(void *sd)
{
    drain(sd);
}

static void
pump(rig *r)
{
    cr_pump(r->c.c, &r->c, r->s.c, &r->s, r->now, 0, drain_cb, 100000ul);
}

static void
rig_init_conn(rig *r, const sshbpp_channels_config *ccfg, const sshbpp_channels_config *scfg,
              const sshbpp_conn_config *cconn)
{
    memset(r, 0, sizeof(*r));
    r->c.c = cr_make_conn(SSHBPP_ROLE_CLIENT, cconn, NULL, NULL);
    r->s.c = cr_make_conn(SSHBPP_ROLE_SERVER, NULL, auth_cb, NULL);
    r->c.chs = sshbpp_channels_new(r->c.c, ccfg);
    r->s.chs = sshbpp_channels_new(r->s.c, scfg);
    assert_non_null(r->c.chs);
    assert_non_null(r->s.chs);
    r->c.auto_accept = r->s.auto_accept = 1;
    sshbpp_engine_set_trace(sshbpp_conn_engine(r->c.c), trace, &r->c);
    sshbpp_engine_set_trace(sshbpp_conn_engine(r->s.c), trace, &r->s);
    r->now = 1000;
    assert_int_equal(sshbpp_conn_start(r->c.c, r->now), 0);
    assert_int_equal(sshbpp_conn_start(r->s.c, r->now), 0);
    pump(r);
    assert_int_equal(sshbpp_conn_auth_password(r->c.c, "alice", "pw"), 0);
    pump(r);
    assert_true(sshbpp_conn_authenticated(r->s.c));
}

static void
rig_init(rig *r, const sshbpp_channels_config *ccfg, const sshbpp_channels_config *scfg)
{
    rig_init_conn(r, ccfg, scfg, NULL);
}

static void
rig_free(rig *r)
{
    sshbpp_channels_free(r->c.chs);
    sshbpp_channels_free(r->s.chs);
    sshbpp_conn_free(r->c.c);
    sshbpp_conn_free(r->s.c);
}

/* The client opens a session channel the server accepts; returns the
 * client's number, the server's in *sid. */
static uint32_t
open_session(rig *r, uint32_t *sid)
{
    uint32_t id;

    assert_int_equal(sshbpp_channel_open_session(r->c.chs, &id), 0);
    pump(r);
    assert_int_equal(r->c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 1);
    *sid = r->s.opened;
    return id;
}

/* Queues a hand-built message (freed) in from's engine, past its conn
 * and channel layer (no exchange runs in these tests). */
static void
put_raw(side *from, sshbpp__wbuf *b)
{
    assert_int_equal(b->err, 0);
    assert_int_equal(sshbpp_engine_send(sshbpp_conn_engine(from->c), b->p, b->len), 0);
    sshbpp__wb_free(b);
}

/* The same, then pumps. */
static void
send_raw(rig *r, side *from, sshbpp__wbuf *b)
{
    put_raw(from, b);
    pump(r);
}

/* The client opens a session channel that the server does not read yet
 * (hold): the client's channel stays opening. */
static uint32_t
open_held(rig *r)
{
    uint32_t id;

    r->s.hold = 1;
    assert_int_equal(sshbpp_channel_open_session(r->c.chs, &id), 0);
    pump(r);
    return id;
}

/* Lets the server read again (the OPEN, then whatever followed). */
static void
release(rig *r)
{
    r->s.hold = 0;
    pump(r);
}

/* `to` failed with ECHANMSG and told `from` why. */
static void
expect_chanmsg(rig *r, side *from, side *to)
{
    (void)r;
    assert_int_equal(sshbpp_conn_error(to->c), SSHBPP_ECHANMSG);
    assert_int_equal(to->error, SSHBPP_ECHANMSG);
    assert_int_equal(to->sent[1], 1); /* DISCONNECT */
    assert_int_equal(from->error, SSHBPP_EDISCONNECT);
    assert_int_equal(from->disc_code, SSHBPP_DISCONNECT_PROTOCOL_ERROR);
}

static void
head(sshbpp__wbuf *b, uint8_t type, uint32_t chan)
{
    sshbpp__wb_init(b);
    sshbpp__wb_u8(b, type);
    sshbpp__wb_u32(b, chan);
}

/* ---- malformed and unexpected messages ------------------------------------------- */

/* Builds case i of the table below into b for a channel open both ways
 * (the receiver's number: rid); returns 0 past the end. */
static int
bad_message(unsigned i, uint32_t rid, sshbpp__wbuf *b)
{
    switch (i) {
    case 0: /* GLOBAL_REQUEST without want-reply */
        sshbpp__wb_init(b);
        sshbpp__wb_u8(b, 80);
        sshbpp__wb_cstring(b, "x@y");
        sshbpp__wb_u8(b, 1);
        b->len--;
        break;
    case 1: /* OPEN without maximum packet size */
        sshbpp__wb_init(b);
        sshbpp__wb_u8(b, 90);
        sshbpp__wb_cstring(b, "session");
        sshbpp__wb_u32(b, 0);
        sshbpp__wb_u32(b, 65536);
        break;
    case 2: /* OPEN with maximum packet size 0 */
        sshbpp__wb_init(b);
        sshbpp__wb_u8(b, 90);
        sshbpp__wb_cstring(b, "session");
        sshbpp__wb_u32(b, 5);
        sshbpp__wb_u32(b, 65536);
        sshbpp__wb_u32(b, 0);
        break;
    case 3: /* a message with no channel number */
        sshbpp__wb_init(b);
        sshbpp__wb_u8(b, 96);
        sshbpp__wb_u8(b, 0);
        break;
    case 4: /* CONFIRMATION for a channel already open */
        head(b, 91, rid);
        sshbpp__wb_u32(b, 1);
        sshbpp__wb_u32(b, 1000);
        sshbpp__wb_u32(b, 1000);
        break;
    case 5: /* OPEN_FAILURE for a channel already open */
        head(b, 92, rid);
        sshbpp__wb_u32(b, 2);
        sshbpp__wb_cstring(b, "no");
        sshbpp__wb_cstring(b, "");
        break;
    case 6: /* WINDOW_ADJUST without the amount */
        head(b, 93, rid);
        break;
    case 7: /* DATA without its string */
        head(b, 94, rid);
        sshbpp__wb_u32(b, 10);
        sshbpp__wb_raw(b, "abc", 3);
        break;
    case 8: /* DATA with a trailing byte */
        head(b, 94, rid);
        sshbpp__wb_cstring(b, "abc");
        sshbpp__wb_u8(b, 0);
        break;
    case 9: /* EXTENDED_DATA without its type code */
        head(b, 95, rid);
        break;
    case 10: /* REQUEST without want-reply */
        head(b, 98, rid);
        sshbpp__wb_cstring(b, "shell");
        break;
    case 11: /* exit-status without the status */
        head(b, 98, rid);
        sshbpp__wb_cstring(b, "exit-status");
        sshbpp__wb_bool(b, 0);
        break;
    case 12: /* exit-signal without the message */
        head(b, 98, rid);
        sshbpp__wb_cstring(b, "exit-signal");
        sshbpp__wb_bool(b, 0);
        sshbpp__wb_cstring(b, "KILL");
        sshbpp__wb_bool(b, 0);
        break;
    case 13: /* SUCCESS when nothing was asked */
        head(b, 99, rid);
        break;
    case 14: /* FAILURE when nothing was asked */
        head(b, 100, rid);
        break;
    case 15: /* a channel number never allocated */
        head(b, 97, 12345);
        break;
    case 16: /* OPEN cut after the type */
        sshbpp__wb_init(b);
        sshbpp__wb_u8(b, 90);
        sshbpp__wb_cstring(b, "session");
        sshbpp__wb_u32(b, 5);
        break;
    case 17: /* REQUEST cut in its name */
        head(b, 98, rid);
        sshbpp__wb_u32(b, 5);
        sshbpp__wb_raw(b, "sh", 2);
        break;
    case 18: /* exit-signal without core-dumped */
        head(b, 98, rid);
        sshbpp__wb_cstring(b, "exit-signal");
        sshbpp__wb_bool(b, 0);
        sshbpp__wb_cstring(b, "KILL");
        break;
    case 19: /* exit-signal without the signal */
        head(b, 98, rid);
        sshbpp__wb_cstring(b, "exit-signal");
        sshbpp__wb_bool(b, 0);
        break;
    default:
        return 0;
    }
    return 1;
}

static void
test_malformed_channel_messages(void **state)
{
    unsigned i;
    sshbpp__wbuf b;

    (void)state;
    for (i = 0;; i++) {
        rig r;
        uint32_t cid, sid;

        rig_init(&r, NULL, NULL);
        cid = open_session(&r, &sid);
        if (!bad_message(i, cid, &b)) {
            rig_free(&r);
            break;
        }
        /* from the server to the client */
        send_raw(&r, &r.s, &b);
        expect_chanmsg(&r, &r.s, &r.c);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_DATA], 0);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_REQUEST], 0);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_REQUEST], 0);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_GLOBAL_REQUEST], 0);
        rig_free(&r);
    }
    assert_int_equal(i, 20);
}

/* Messages valid in form for a channel in the wrong state. */
static void
test_messages_in_wrong_state(void **state)
{
    unsigned i;

    (void)state;
    for (i = 0; i < 10; i++) {
        sshbpp__wbuf b;
        rig r;
        uint32_t cid, sid;

        rig_init(&r, NULL, NULL);
        cid = open_held(&r);
        (void)sid;
        /* the client's channel is still opening: nothing but the answer
         * may come for it */
        switch (i) {
        case 0:
            head(&b, 93, cid);
            sshbpp__wb_u32(&b, 10);
            break;
        case 1:
            head(&b, 94, cid);
            sshbpp__wb_cstring(&b, "early");
            break;
        case 2:
            head(&b, 96, cid);
            break;
        case 3:
            head(&b, 97, cid);
            break;
        case 4:
            head(&b, 98, cid);
            sshbpp__wb_cstring(&b, "x");
            sshbpp__wb_bool(&b, 0);
            break;
        case 5: /* a confirmation without its sizes */
            head(&b, 91, cid);
            sshbpp__wb_u32(&b, 0);
            break;
        case 6: /* a confirmation without the sender's number */
            head(&b, 91, cid);
            break;
        case 7: /* ... without the maximum packet size */
            head(&b, 91, cid);
            sshbpp__wb_u32(&b, 0);
            sshbpp__wb_u32(&b, 100);
            break;
        case 8: /* an OPEN_FAILURE without its reason */
            head(&b, 92, cid);
            break;
        default: /* a request result for a channel not open */
            head(&b, 99, cid);
            break;
        }
        send_raw(&r, &r.s, &b);
        assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_ECHANMSG);
        release(&r);
        expect_chanmsg(&r, &r.s, &r.c);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 0);
        rig_free(&r);
    }
}

static void
test_open_failure_malformed_and_max_packet_zero(void **state)
{
    sshbpp__wbuf b;
    rig r;
    uint32_t cid;

    (void)state;
    /* an OPEN_FAILURE without its description */
    rig_init(&r, NULL, NULL);
    cid = open_held(&r);
    head(&b, 92, cid);
    sshbpp__wb_u32(&b, 2);
    send_raw(&r, &r.s, &b);
    release(&r);
    expect_chanmsg(&r, &r.s, &r.c);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_FAILURE], 0);
    rig_free(&r);

    /* a confirmation with maximum packet size 0: nothing could ever be
     * written on that channel, refused as a protocol error */
    rig_init(&r, NULL, NULL);
    cid = open_held(&r);
    head(&b, 91, cid);
    sshbpp__wb_u32(&b, 7);
    sshbpp__wb_u32(&b, 65536);
    sshbpp__wb_u32(&b, 0);
    send_raw(&r, &r.s, &b);
    release(&r);
    expect_chanmsg(&r, &r.s, &r.c);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 0);
    assert_int_equal(sshbpp_channel_send_max_packet(r.c.chs, cid), 0);
    rig_free(&r);

    /* maximum packet size 1 is legal: a write goes one byte at a time */
    rig_init(&r, NULL, NULL);
    cid = open_held(&r); /* the server stays held to the end */
    head(&b, 91, cid);
    sshbpp__wb_u32(&b, 7);
    sshbpp__wb_u32(&b, 3);
    sshbpp__wb_u32(&b, 1);
    send_raw(&r, &r.s, &b);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 1);
    assert_int_equal(sshbpp_channel_send_max_packet(r.c.chs, cid), 1);
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, cid), 3);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "hello", 5), 3);
    assert_int_equal(r.c.sent[94], 3);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "lo", 2), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    rig_free(&r);

    /* a maximum packet size above what our engine sends: ours bounds it */
    rig_init(&r, NULL, NULL);
    cid = open_held(&r);
    head(&b, 91, cid);
    sshbpp__wb_u32(&b, 7);
    sshbpp__wb_u32(&b, 1u << 30);
    sshbpp__wb_u32(&b, UINT32_MAX);
    send_raw(&r, &r.s, &b);
    {
        uint32_t emax = sshbpp_engine_max_packet(sshbpp_conn_engine(r.c.c));
        uint8_t *big = calloc(1, emax);
        int n;

        assert_non_null(big);
        assert_int_equal(sshbpp_channel_send_max_packet(r.c.chs, cid), UINT32_MAX);
        n = sshbpp_channel_write(r.c.chs, cid, 0, big, emax);
        /* one message of the engine's bound less the conn's margin, then
         * the rest in a second */
        assert_int_equal(n, (int)emax);
        assert_int_equal(r.c.sent[94], 2);
        free(big);
    }
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    rig_free(&r);
}

static void
test_window_adjust_bounds(void **state)
{
    sshbpp__wbuf b;
    uint32_t cid, sid, w;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    w = sshbpp_channel_send_window(r.c.chs, cid);
    assert_true(w > 0);
    /* up to 2^32 - 1 exactly: taken, a WINDOW event */
    head(&b, 93, cid);
    sshbpp__wb_u32(&b, UINT32_MAX - w);
    send_raw(&r, &r.s, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_WINDOW], 1);
    assert_int_equal(r.c.last_code[SSHBPP_CHAN_EV_WINDOW], UINT32_MAX - w);
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, cid), UINT32_MAX);
    /* one more byte would wrap */
    head(&b, 93, cid);
    sshbpp__wb_u32(&b, 1);
    send_raw(&r, &r.s, &b);
    expect_chanmsg(&r, &r.s, &r.c);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_WINDOW], 1);
    rig_free(&r);
}

static void
test_peer_open_max_packet_zero_and_limits(void **state)
{
    sshbpp_channels_config cfg;
    sshbpp__wbuf b;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 90);
    sshbpp__wb_cstring(&b, "session");
    sshbpp__wb_u32(&b, 5);
    sshbpp__wb_u32(&b, 65536);
    sshbpp__wb_u32(&b, 0);
    send_raw(&r, &r.c, &b);
    expect_chanmsg(&r, &r.c, &r.s);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_OPEN_REQUEST], 0);
    assert_int_equal(sshbpp_channels_count(r.s.chs), 0);
    rig_free(&r);

    /* beyond max_channels: OPEN_FAILURE (resource shortage), no event */
    sshbpp_channels_config_init(&cfg);
    cfg.max_channels = 1;
    rig_init(&r, NULL, &cfg);
    {
        uint32_t a, c2;

        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &a), 0);
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &c2), 0);
        pump(&r);
        assert_int_equal(r.s.n[SSHBPP_CHAN_EV_OPEN_REQUEST], 1);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 1);
        assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_FAILURE], 1);
        assert_int_equal(r.c.last[SSHBPP_CHAN_EV_OPEN_FAILURE].channel, c2);
        assert_int_equal(r.c.last_code[SSHBPP_CHAN_EV_OPEN_FAILURE],
                         SSHBPP_OPEN_RESOURCE_SHORTAGE);
        assert_string_equal(r.c.last_text[SSHBPP_CHAN_EV_OPEN_FAILURE], "too many channels");
        assert_int_equal(sshbpp_channels_count(r.c.chs), 1);
    }
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    rig_free(&r);
}

/* ---- closed channels ----------------------------------------------------------------- */

static void
test_messages_after_our_close(void **state)
{
    sshbpp__wbuf b;
    uint32_t cid, sid;
    int data_events;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    /* our want-reply request in flight, then our CLOSE */
    assert_int_equal(sshbpp_channel_exec(r.c.chs, cid, "true"), 0);
    assert_int_equal(sshbpp_channel_close(r.c.chs, cid), 0);
    assert_int_equal(sshbpp_channel_close(r.c.chs, cid), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_eof(r.c.chs, cid), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "x", 1), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "shell", 1, NULL, 0), SSHBPP_ESTATE);
    /* the peer's messages cross our CLOSE: dropped without events (but
     * the data still counts against the window) */
    r.s.leave = 1; /* the server refuses the exec: after our CLOSE */
    data_events = r.c.n[SSHBPP_CHAN_EV_DATA];
    head(&b, 93, cid);
    sshbpp__wb_u32(&b, 100);
    put_raw(&r.s, &b);
    head(&b, 94, cid);
    sshbpp__wb_cstring(&b, "late data");
    put_raw(&r.s, &b);
    head(&b, 98, cid);
    sshbpp__wb_cstring(&b, "exit-status");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_u32(&b, 0);
    put_raw(&r.s, &b);
    head(&b, 96, cid);
    put_raw(&r.s, &b);
    pump(&r); /* the server's own layer then answers the exec and our CLOSE */
    assert_int_equal(r.s.sent[100], 1);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_REQUEST_RESULT], 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_WINDOW], 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_DATA], data_events);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_EXIT_STATUS], 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_EOF], 0);
    assert_int_equal(r.c.sent[99] + r.c.sent[100], 0); /* no reply on a closed channel */
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_CLOSE], 1);
    assert_int_equal(sshbpp_channels_count(r.c.chs), 0);
    /* gone now: anything more for it is fatal */
    head(&b, 98, cid);
    sshbpp__wb_cstring(&b, "exit-status");
    sshbpp__wb_bool(&b, 0);
    sshbpp__wb_u32(&b, 0);
    send_raw(&r, &r.s, &b);
    expect_chanmsg(&r, &r.s, &r.c);
    rig_free(&r);
}

/* The server closes before it answers the request: the answer is not
 * sent (nothing more goes on a channel we closed). */
static void
close_then_reply(side *sd, const sshbpp_chan_event *ev)
{
    int replies = sd->sent[99] + sd->sent[100];

    if (ev->type != SSHBPP_CHAN_EV_REQUEST)
        return;
    assert_string_equal(ev->name, "exec");
    assert_int_equal(sshbpp_channel_close(sd->chs, ev->channel), 0);
    assert_int_equal(sshbpp_channel_request_reply(sd->chs, ev->channel, 1), 0);
    assert_int_equal(sd->sent[99] + sd->sent[100], replies);
    /* answered: no second answer */
    assert_int_equal(sshbpp_channel_request_reply(sd->chs, ev->channel, 1), SSHBPP_ESTATE);
}

static void
test_reply_after_caller_closed(void **state)
{
    uint32_t cid, sid;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    r.s.hook = close_then_reply;
    assert_int_equal(sshbpp_channel_exec(r.c.chs, cid, "ls"), 0);
    pump(&r);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_REQUEST], 1);
    assert_int_equal(r.s.sent[99] + r.s.sent[100], 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_REQUEST_RESULT], 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_CLOSE], 1);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_CLOSE], 1);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    rig_free(&r);
}

static void
test_eof_twice_and_exit_with_reply(void **state)
{
    sshbpp__wbuf b;
    uint32_t cid, sid;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    /* exit-status and exit-signal that want a reply get SUCCESS */
    head(&b, 98, cid);
    sshbpp__wb_cstring(&b, "exit-status");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_u32(&b, 42);
    put_raw(&r.s, &b);
    head(&b, 98, cid);
    sshbpp__wb_cstring(&b, "exit-signal");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_cstring(&b, "SEGV");
    sshbpp__wb_bool(&b, 1);
    sshbpp__wb_cstring(&b, "boom\x1b");
    sshbpp__wb_cstring(&b, "");
    send_raw(&r, &r.s, &b);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_EXIT_STATUS], 1);
    assert_int_equal(r.c.last_code[SSHBPP_CHAN_EV_EXIT_STATUS], 42);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_EXIT_SIGNAL], 1);
    assert_string_equal(r.c.last_name[SSHBPP_CHAN_EV_EXIT_SIGNAL], "SEGV");
    assert_string_equal(r.c.last_text[SSHBPP_CHAN_EV_EXIT_SIGNAL], "boom?");
    assert_int_equal(r.c.last[SSHBPP_CHAN_EV_EXIT_SIGNAL].core_dumped, 1);
    assert_int_equal(r.c.sent[99], 2);
    /* the server's layer had no request of its own in flight */
    assert_int_equal(sshbpp_conn_error(r.s.c), SSHBPP_ECHANMSG);
    rig_free(&r);

    /* EOF twice from the peer */
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    assert_int_equal(sshbpp_channel_eof(r.s.chs, sid), 0);
    assert_int_equal(sshbpp_channel_eof(r.s.chs, sid), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 0, "x", 1), SSHBPP_ESTATE);
    pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_EOF], 1);
    head(&b, 96, cid);
    send_raw(&r, &r.s, &b);
    expect_chanmsg(&r, &r.s, &r.c);
    rig_free(&r);

    /* data after the peer's EOF */
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    assert_int_equal(sshbpp_channel_eof(r.s.chs, sid), 0);
    pump(&r);
    head(&b, 94, cid);
    sshbpp__wb_cstring(&b, "after eof");
    send_raw(&r, &r.s, &b);
    expect_chanmsg(&r, &r.s, &r.c);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_DATA], 0);
    rig_free(&r);
}

static void
test_window_events_after_our_eof_and_odd_data(void **state)
{
    sshbpp__wbuf b;
    uint32_t cid, sid, w;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    assert_int_equal(sshbpp_channel_eof(r.c.chs, cid), 0);
    w = sshbpp_channel_send_window(r.c.chs, cid);
    head(&b, 93, cid);
    sshbpp__wb_u32(&b, 7);
    send_raw(&r, &r.s, &b);
    /* the window grew, but after our EOF nobody is told */
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, cid), w + 7);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_WINDOW], 0);
    /* an empty DATA and stderr-less EXTENDED_DATA: dropped, window used */
    w = sshbpp_channel_recv_window(r.c.chs, cid);
    head(&b, 94, cid);
    sshbpp__wb_cstring(&b, "");
    send_raw(&r, &r.s, &b);
    head(&b, 95, cid);
    sshbpp__wb_u32(&b, 2);
    sshbpp__wb_cstring(&b, "odd");
    send_raw(&r, &r.s, &b);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_DATA], 0);
    assert_int_equal(sshbpp_channel_recv_window(r.c.chs, cid), w - 3);
    /* stderr: a DATA event with ext 1 */
    head(&b, 95, cid);
    sshbpp__wb_u32(&b, 1);
    sshbpp__wb_cstring(&b, "err");
    send_raw(&r, &r.s, &b);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_DATA], 1);
    assert_int_equal(r.c.last[SSHBPP_CHAN_EV_DATA].ext, 1);
    assert_int_equal(r.c.data_bytes, 3);
    rig_free(&r);
}

/* ---- the caller's contract -------------------------------------------------------------- */

/* The server's side of an open it must decide. */
static void
decide_open(side *sd, const sshbpp_chan_event *ev)
{
    if (ev->type != SSHBPP_CHAN_EV_OPEN_REQUEST)
        return;
    assert_int_equal(ev->len, 2);
    assert_memory_equal(ev->data, "ab", 2);
    sd->opened = ev->channel;
    /* no request of it to answer; not a manual window */
    assert_int_equal(sshbpp_channel_request_reply(sd->chs, ev->channel, 1), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_consume(sd->chs, ev->channel, 0), SSHBPP_ESTATE);
    /* not open yet on this side either */
    assert_int_equal(sshbpp_channel_write(sd->chs, ev->channel, 0, "x", 1), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_accept(sd->chs, ev->channel), 0);
    assert_int_equal(sshbpp_channel_accept(sd->chs, ev->channel), SSHBPP_ESTATE);
}

static void
test_caller_contract(void **state)
{
    static const uint8_t modes[] = {53, 0, 0, 0, 1};
    sshbpp_channels_config cfg;
    uint32_t cid, sid, id;
    sshbpp_chan_event ev;
    unsigned i;
    rig r;

    (void)state;
    sshbpp_channels_config_init(NULL); /* a no-op */
    sshbpp_channels_config_init(&cfg);
    cfg.max_channels = 70000;
    assert_null(sshbpp_channels_new(NULL, &cfg));
    assert_int_equal(sshbpp_channels_count(NULL), 0);
    assert_int_equal(sshbpp_channels_next_event(NULL, &ev), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channels_global_reply(NULL, 0, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_accept(NULL, 0), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_consume(NULL, 0, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open(NULL, "session", NULL, 0, &id), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_eof(NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_recv_window(NULL, 0), 0);
    assert_int_equal(sshbpp_channel_send_max_packet(NULL, 0), 0);

    rig_init(&r, NULL, NULL);
    assert_null(sshbpp_channels_new(r.c.c, &cfg)); /* over 65536 channels */
    assert_int_equal(sshbpp_channels_next_event(r.c.chs, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open(r.c.chs, NULL, NULL, 0, &id), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open(r.c.chs, "session", NULL, 0, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open(r.c.chs, "session", NULL, 4, &id), SSHBPP_EINVAL);
    assert_int_equal(r.c.sent[90], 0);
    assert_int_equal(sshbpp_channel_open(r.c.chs, "x-type@example.com", "ab", 2, &cid), 0);
    /* while it opens, the opener has nothing to decide nor write */
    assert_int_equal(sshbpp_channel_accept(r.c.chs, cid), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_reject(r.c.chs, cid, 1, "x"), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "x", 1), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_close(r.c.chs, cid), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, cid), 0);
    r.s.hook = decide_open;
    pump(&r);
    r.s.hook = NULL;
    sid = r.s.opened;
    assert_string_equal(r.s.last_name[SSHBPP_CHAN_EV_OPEN_REQUEST], "x-type@example.com");
    assert_int_equal(r.s.last[SSHBPP_CHAN_EV_OPEN_REQUEST].len, 2);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 1);
    assert_int_equal(r.s.sent[91], 1);
    assert_int_equal(r.s.sent[92], 0);
    assert_int_equal(sshbpp_channel_accept(r.s.chs, sid), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_reject(r.s.chs, sid, 1, "x"), SSHBPP_ESTATE);
    /* requests: bad arguments, then each kind once */
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, NULL, 1, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "", 1, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "x", 1, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_request(r.c.chs, 999, "x", 1, NULL, 0), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_exec(r.c.chs, cid, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_subsystem(r.c.chs, cid, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_env(r.c.chs, cid, "A", NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_env(r.c.chs, cid, NULL, "v"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_pty(r.c.chs, cid, NULL, 80, 24, NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_pty(r.c.chs, cid, "xterm", 80, 24, NULL, 3), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_exit_signal(r.c.chs, cid, NULL, 0, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_exit_signal(r.c.chs, cid, "", 0, NULL), SSHBPP_EINVAL);
    assert_int_equal(r.c.sent[98], 0);
    assert_int_equal(sshbpp_channel_pty(r.c.chs, cid, "vt100", 80, 24, modes, sizeof(modes)), 0);
    assert_int_equal(sshbpp_channel_env(r.c.chs, cid, "LANG", "C"), 0);
    assert_int_equal(sshbpp_channel_subsystem(r.c.chs, cid, "sftp"), 0);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "x@y", 0, "\0\0\0\1z", 5), 0);
    assert_int_equal(sshbpp_channel_exit_signal(r.c.chs, cid, "TERM", 0, NULL), 0);
    pump(&r);
    assert_int_equal(r.c.sent[98], 5);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_REQUEST], 4); /* exit-signal is its own event */
    assert_int_equal(r.s.last[SSHBPP_CHAN_EV_REQUEST].want_reply, 0);
    assert_string_equal(r.s.last_name[SSHBPP_CHAN_EV_REQUEST], "x@y");
    assert_int_equal(r.s.last[SSHBPP_CHAN_EV_EXIT_SIGNAL].core_dumped, 0);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_REQUEST_RESULT], 2); /* pty-req, subsystem */
    /* 64 want-reply requests in flight on one channel: the 65th waits */
    r.s.leave = 1;
    for (i = 0; i < 64; i++)
        assert_int_equal(sshbpp_channel_shell(r.c.chs, cid), 0);
    assert_int_equal(sshbpp_channel_shell(r.c.chs, cid), SSHBPP_EAGAIN);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "x@y", 0, NULL, 0), 0); /* no reply */
    /* writes and consume: bad arguments */
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "x", 0), 0);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "x", (size_t)INT32_MAX + 1),
                     SSHBPP_EINVAL);
    /* a request without want-reply left unanswered: nothing is owed */
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "abcdefghijk", 0, NULL, 0), 0);
    pump(&r);
    assert_string_equal(r.s.last_name[SSHBPP_CHAN_EV_REQUEST], "abcdefghijk");
    assert_int_equal(r.s.sent[99] + r.s.sent[100], 2 + 64);
    assert_int_equal(sshbpp_channel_consume(r.c.chs, 999, 0), SSHBPP_ESTATE);
    /* global replies: none owed */
    assert_int_equal(sshbpp_channels_global_reply(r.c.chs, 1, NULL, 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channels_global_reply(r.c.chs, 1, NULL, 0), SSHBPP_ESTATE);
    /* after the conn failed: the sticky error everywhere */
    assert_int_equal(sshbpp_conn_fail(r.c.c, SSHBPP_EIO), SSHBPP_EIO);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, "x", 1), SSHBPP_EIO);
    assert_int_equal(sshbpp_channel_eof(r.c.chs, cid), SSHBPP_EIO);
    assert_int_equal(sshbpp_channel_close(r.c.chs, cid), SSHBPP_EIO);
    assert_int_equal(sshbpp_channel_consume(r.c.chs, cid, 0), SSHBPP_EIO);
    assert_int_equal(sshbpp_channels_global_reply(r.c.chs, 0, NULL, 0), SSHBPP_EIO);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), SSHBPP_EIO);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "h", 1, NULL, 2, &id),
                     SSHBPP_EIO);
    assert_int_equal(sshbpp_channels_next_event(r.c.chs, &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CHAN_EV_CONN);
    assert_int_equal(ev.conn.type, SSHBPP_CONN_EV_ERROR);
    assert_int_equal(sshbpp_channels_next_event(r.c.chs, &ev), SSHBPP_EIO);
    rig_free(&r);
}

/* Decisions asked for when the conn has just failed: the sticky error,
 * and nothing sent afterwards (no refusal either). */
static void
fail_then_decide(side *sd, const sshbpp_chan_event *ev)
{
    if (ev->type == SSHBPP_CHAN_EV_CONN)
        return;
    assert_int_equal(sshbpp_conn_fail(sd->c, SSHBPP_EIO), SSHBPP_EIO);
    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        assert_int_equal(sshbpp_channel_accept(sd->chs, ev->channel), SSHBPP_EIO);
        assert_int_equal(sshbpp_channel_reject(sd->chs, ev->channel, 1, NULL), SSHBPP_EIO);
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        assert_int_equal(sshbpp_channel_request_reply(sd->chs, ev->channel, 1), SSHBPP_EIO);
        break;
    case SSHBPP_CHAN_EV_GLOBAL_REQUEST:
        assert_int_equal(sshbpp_channels_global_reply(sd->chs, 1, NULL, 0), SSHBPP_EIO);
        break;
    default:
        fail();
    }
}

static void
test_decisions_after_failure(void **state)
{
    static const int asked[3] = {SSHBPP_CHAN_EV_OPEN_REQUEST, SSHBPP_CHAN_EV_REQUEST,
                                 SSHBPP_CHAN_EV_GLOBAL_REQUEST};
    sshbpp__wbuf b;
    uint32_t cid, sid;
    unsigned i;
    rig r;

    (void)state;
    for (i = 0; i < 3; i++) {
        rig_init(&r, NULL, NULL);
        if (i == 0) {
            r.s.hook = fail_then_decide;
            assert_int_equal(sshbpp_channel_open_session(r.c.chs, &cid), 0);
        } else if (i == 1) {
            cid = open_session(&r, &sid);
            r.s.hook = fail_then_decide;
            assert_int_equal(sshbpp_channel_shell(r.c.chs, cid), 0);
        } else {
            r.s.hook = fail_then_decide;
            sshbpp__wb_init(&b);
            sshbpp__wb_u8(&b, 80);
            sshbpp__wb_cstring(&b, "tcpip-forward");
            sshbpp__wb_bool(&b, 1);
            sshbpp__wb_cstring(&b, "");
            sshbpp__wb_u32(&b, 0);
            put_raw(&r.c, &b);
        }
        pump(&r);
        assert_int_equal(sshbpp_conn_error(r.s.c), SSHBPP_EIO);
        assert_int_equal(r.s.n[asked[i]], 1);
        /* no answer of any kind went out after the failure */
        assert_int_equal(r.s.sent[91] + r.s.sent[92] + r.s.sent[99] + r.s.sent[100] +
                             r.s.sent[81] + r.s.sent[82],
                         i == 1 ? 1 : 0); /* 1: the confirmation of open_session */
        rig_free(&r);
    }
}

/* The data path through the conn's queue during a key exchange. */
static void
test_write_during_exchange_queue_full(void **state)
{
    static uint8_t buf[200000];
    uint32_t cid, sid;
    size_t total = 0;
    int n;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    /* the conn's default queue (4 MiB, 1024 messages) is not reached by
     * one window; a rekey still queues every message in order */
    while ((n = sshbpp_channel_write(r.c.chs, cid, 0, buf, sizeof(buf))) > 0)
        total += (size_t)n;
    assert_int_equal(n, SSHBPP_EAGAIN);
    assert_true(total > 0);
    assert_int_equal(total, (size_t)SSHBPP_CHAN_DEFAULT_WINDOW);
    assert_true(sshbpp_conn_queued(r.c.c) > 0);
    pump(&r);
    assert_int_equal(r.s.data_bytes, total);
    assert_int_equal(sshbpp_conn_kex_count(r.c.c), 2);
    rig_free(&r);

    /* a conn queue of 2 messages: a write takes what fits (a partial
     * count), the next one nothing (SSHBPP_EAGAIN), no byte lost */
    {
        sshbpp_conn_config cc;
        uint32_t maxp;

        sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
        cc.queue_max_msgs = 2;
        rig_init_conn(&r, NULL, NULL, &cc);
        cid = open_session(&r, &sid);
        maxp = sshbpp_channel_send_max_packet(r.c.chs, cid);
        assert_true(maxp > 0 && 3u * maxp <= sizeof(buf));
        assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
        assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, buf, 3u * maxp), (int)(2u * maxp));
        assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 1, buf, 10), SSHBPP_EAGAIN);
        assert_int_equal(sshbpp_conn_queued(r.c.c), 2);
        pump(&r);
        assert_int_equal(r.s.data_bytes, 2u * maxp);
        assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 1, buf, 10), 10);
        pump(&r);
        assert_int_equal(r.s.data_bytes, 2u * maxp + 10);
        rig_free(&r);
    }
}

/* The caller's type-specific data too long for one packet: refused
 * softly, nothing sent, the connection and the channel as they were. */
static void
test_oversized_open_and_request(void **state)
{
    uint32_t cid, sid, id, max;
    uint8_t *big;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    max = sshbpp_engine_max_packet(sshbpp_conn_engine(r.c.c));
    big = calloc(1, max);
    assert_non_null(big);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "big@x", 1, big, max),
                     SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_channel_open(r.c.chs, "big@x", big, max, &id), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_channels_count(r.c.chs), 1);
    assert_int_equal(r.c.sent[90], 1);
    assert_int_equal(r.c.sent[98], 0);
    /* during an exchange the bound leaves room for the queue's margin */
    assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "big@x", 1, big, max - 600),
                     SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    /* and the channel still works: the next request gets its answer */
    assert_int_equal(sshbpp_channel_request(r.c.chs, cid, "small@x", 1, big, 100), 0);
    pump(&r);
    assert_int_equal(r.c.sent[98], 1);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_REQUEST_RESULT], 1);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_REQUEST], 1);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    free(big);
    rig_free(&r);
}

/* Refuses every open with no description; accepts global requests with
 * no response data. */
static void
refuse_open_accept_global(side *sd, const sshbpp_chan_event *ev)
{
    if (ev->type == SSHBPP_CHAN_EV_OPEN_REQUEST)
        assert_int_equal(sshbpp_channel_reject(sd->chs, ev->channel, 4, NULL), 0);
    if (ev->type == SSHBPP_CHAN_EV_GLOBAL_REQUEST) {
        assert_string_equal(ev->name, "keepalive@openssh.coX");
        assert_int_equal(sshbpp_channels_global_reply(sd->chs, 1, NULL, 0), 0);
        /* answered: nothing more owed */
        assert_int_equal(sshbpp_channels_global_reply(sd->chs, 1, NULL, 0), SSHBPP_ESTATE);
    }
}

static void
test_manual_window_and_plain_answers(void **state)
{
    static uint8_t buf[3000];
    sshbpp_channels_config scfg, zero;
    uint32_t cid, sid, id;
    sshbpp__wbuf b;
    rig r;

    (void)state;
    /* a config of zeros: the defaults, as NULL gives */
    memset(&zero, 0, sizeof(zero));
    sshbpp_channels_config_init(&scfg);
    scfg.window = 4096;
    scfg.max_packet = 1024;
    scfg.manual_window = 1;
    rig_init(&r, &zero, &scfg);
    cid = open_session(&r, &sid);
    assert_int_equal(sshbpp_channel_recv_window(r.c.chs, cid), SSHBPP_CHAN_DEFAULT_WINDOW);
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, cid), 4096);
    assert_int_equal(sshbpp_channel_send_max_packet(r.c.chs, cid), 1024);
    assert_int_equal(sshbpp_channel_write(r.c.chs, cid, 0, buf, sizeof(buf)), 3000);
    pump(&r);
    assert_int_equal(r.s.data_bytes, 3000);
    assert_int_equal(r.s.sent[93], 0); /* nothing granted back before consume */
    assert_int_equal(sshbpp_channel_recv_window(r.s.chs, sid), 4096 - 3000);
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 3001), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 1000), 0);
    assert_int_equal(r.s.sent[93], 0); /* under half of the window */
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 1100), 0);
    assert_int_equal(r.s.sent[93], 1); /* 2100 back */
    assert_int_equal(sshbpp_channel_recv_window(r.s.chs, sid), 4096 - 3000 + 2100);
    /* after the peer's EOF no window is granted back (it sends no more) */
    assert_int_equal(sshbpp_channel_eof(r.c.chs, cid), 0);
    pump(&r);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_EOF], 1);
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 900), 0);
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 0), 0);
    assert_int_equal(r.s.sent[93], 1);
    /* an open refused without a description; a global request whose name
     * is as long as keepalive@openssh.com's is no keepalive */
    r.s.hook = refuse_open_accept_global;
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, 80);
    sshbpp__wb_cstring(&b, "keepalive@openssh.coX");
    sshbpp__wb_bool(&b, 1);
    put_raw(&r.c, &b);
    pump(&r);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_FAILURE], 1);
    assert_int_equal(r.c.last_code[SSHBPP_CHAN_EV_OPEN_FAILURE], 4);
    assert_string_equal(r.c.last_text[SSHBPP_CHAN_EV_OPEN_FAILURE], "");
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_GLOBAL_REQUEST], 1);
    assert_int_equal(r.s.sent[81], 1); /* REQUEST_SUCCESS, no data */
    assert_int_equal(r.c.conn_msgs[81], 1);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    rig_free(&r);
}

/* ---- the internal entry of the blocking layer ----------------------------------------------- */

static void
test_channels_input_entry(void **state)
{
    static const uint8_t keepalive[] = {80, 0, 0, 0, 21, 'k', 'e', 'e', 'p', 'a', 'l', 'i',
                                        'v', 'e', '@', 'o', 'p', 'e', 'n', 's', 's', 'h',
                                        '.', 'c', 'o', 'm', 0};
    sshbpp_chan_event ev;
    uint8_t eof[5] = {96, 0, 0, 0, 0};
    uint8_t odd[5] = {81, 0, 0, 0, 0};
    uint32_t cid, sid;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    cid = open_session(&r, &sid);
    assert_int_equal(sshbpp__channels_input(NULL, eof, 5, &ev), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__channels_input(r.c.chs, NULL, 5, &ev), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__channels_input(r.c.chs, eof, 0, &ev), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__channels_input(r.c.chs, eof, 5, NULL), SSHBPP_EINVAL);
    /* a keepalive without want-reply: handled, no event */
    assert_int_equal(sshbpp__channels_input(r.c.chs, keepalive, sizeof(keepalive), &ev),
                     SSHBPP_EAGAIN);
    eof[4] = (uint8_t)cid;
    odd[4] = (uint8_t)cid;
    assert_int_equal(sshbpp__channels_input(r.c.chs, eof, sizeof(eof), &ev), 0);
    assert_int_equal(ev.type, SSHBPP_CHAN_EV_EOF);
    assert_int_equal(ev.channel, cid);
    /* a type outside the channel layer's, for an open channel: fatal */
    assert_int_equal(sshbpp__channels_input(r.c.chs, odd, sizeof(odd), &ev), SSHBPP_ECHANMSG);
    assert_int_equal(sshbpp_conn_error(r.c.c), SSHBPP_ECHANMSG);
    assert_int_equal(sshbpp__channels_input(r.c.chs, eof, sizeof(eof), &ev), SSHBPP_ECHANMSG);
    rig_free(&r);
}

/* ---- direct-tcpip ---------------------------------------------------------------------- */

static void
test_direct_tcpip(void **state)
{
    static char host256[257];
    sshbpp_direct_tcpip d;
    sshbpp__wbuf b;
    uint32_t id;
    rig r;

    (void)state;
    memset(host256, 'h', 256);
    rig_init(&r, NULL, NULL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(NULL, "h", 1, NULL, 2, &id), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "h", 1, NULL, 2, NULL),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, NULL, 1, NULL, 2, &id),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "", 1, NULL, 2, &id),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, host256, 1, NULL, 2, &id),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "h", 65536, NULL, 2, &id),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "h", 1, host256, 2, &id),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "h", 1, "o", 65536, &id),
                     SSHBPP_EINVAL);
    assert_int_equal(r.c.sent[90], 0);
    host256[255] = '\0'; /* 255 bytes: the bound */
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, host256, 65535, NULL, 0, &id), 0);
    pump(&r);
    assert_string_equal(r.s.last_name[SSHBPP_CHAN_EV_OPEN_REQUEST], "direct-tcpip");
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(r.s.open_data, r.s.open_len, &d), 0);
    assert_string_equal(d.host, host256);
    assert_int_equal(d.port, 65535);
    assert_string_equal(d.orig_addr, "127.0.0.1");
    assert_int_equal(d.orig_port, 0);
    assert_int_equal(sshbpp_channel_open_direct_tcpip(r.c.chs, "db", 5432, "", 7, &id), 0);
    pump(&r);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(r.s.open_data, r.s.open_len, &d), 0);
    assert_string_equal(d.host, "db");
    assert_string_equal(d.orig_addr, ""); /* may be empty */
    assert_int_equal(d.orig_port, 7);
    rig_free(&r);

    /* decoding: the contract and hostile encodings */
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(NULL, 0, &d), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip((const uint8_t *)"", 0, NULL),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(NULL, 3, &d), SSHBPP_EINVAL);
    {
        static const struct {
            const char *host;
            size_t hlen;
            uint32_t port;
            const char *orig;
            size_t olen;
            uint32_t oport;
            int trailing, cut;
        } bad[] = {
            {"", 0, 22, "o", 1, 1, 0, 0},      /* empty host */
            {"a\0b", 3, 22, "o", 1, 1, 0, 0},  /* NUL in the host */
            {"h", 1, 65536, "o", 1, 1, 0, 0},  /* port over 65535 */
            {"h", 1, 22, "o\0", 2, 1, 0, 0},   /* NUL in the originator */
            {"h", 1, 22, "o", 1, 70000, 0, 0}, /* originator port */
            {"h", 1, 22, "o", 1, 1, 1, 0},     /* trailing byte */
            {"h", 1, 22, "o", 1, 1, 0, 1},     /* cut short */
        };
        unsigned i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            sshbpp__wb_init(&b);
            sshbpp__wb_string(&b, bad[i].host, bad[i].hlen);
            sshbpp__wb_u32(&b, bad[i].port);
            sshbpp__wb_string(&b, bad[i].orig, bad[i].olen);
            sshbpp__wb_u32(&b, bad[i].oport);
            if (bad[i].trailing)
                sshbpp__wb_u8(&b, 0);
            if (bad[i].cut)
                b.len -= 2;
            memset(&d, 0x55, sizeof(d));
            assert_int_equal(sshbpp_channel_parse_direct_tcpip(b.p, b.len, &d), SSHBPP_EINVAL);
            assert_int_equal(d.host[0], 0); /* nothing half-filled */
            assert_int_equal(d.port, 0);
            sshbpp__wb_free(&b);
        }
        /* a host over the bound */
        sshbpp__wb_init(&b);
        memset(host256, 'h', 256);
        sshbpp__wb_string(&b, host256, 256);
        sshbpp__wb_u32(&b, 1);
        sshbpp__wb_cstring(&b, "o");
        sshbpp__wb_u32(&b, 1);
        assert_int_equal(sshbpp_channel_parse_direct_tcpip(b.p, b.len, &d), SSHBPP_EINVAL);
        sshbpp__wb_free(&b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_channel_messages),
        cmocka_unit_test(test_messages_in_wrong_state),
        cmocka_unit_test(test_open_failure_malformed_and_max_packet_zero),
        cmocka_unit_test(test_window_adjust_bounds),
        cmocka_unit_test(test_peer_open_max_packet_zero_and_limits),
        cmocka_unit_test(test_messages_after_our_close),
        cmocka_unit_test(test_reply_after_caller_closed),
        cmocka_unit_test(test_eof_twice_and_exit_with_reply),
        cmocka_unit_test(test_window_events_after_our_eof_and_odd_data),
        cmocka_unit_test(test_caller_contract),
        cmocka_unit_test(test_decisions_after_failure),
        cmocka_unit_test(test_write_during_exchange_queue_full),
        cmocka_unit_test(test_oversized_open_and_request),
        cmocka_unit_test(test_manual_window_and_plain_answers),
        cmocka_unit_test(test_channels_input_entry),
        cmocka_unit_test(test_direct_tcpip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
