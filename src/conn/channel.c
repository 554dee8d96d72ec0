/*
 * channel.c: RFC 4254 channels and global requests over a sshbpp_conn
 * (sshbpp_channel.h).
 *
 * IMPLEMENTATION NOTES
 *
 * The layer sits on the conn's public event stream: it takes the conn's
 * MESSAGE events of types 80 and 90..100 and passes everything else
 * through, so conn.c needs no hook and a conn without this layer keeps
 * its behaviour. Channel control messages go out through the conn's
 * internal send (never refused softly; during a key exchange they are
 * queued in order with everything else); data goes through the bounded
 * path so that a full queue is the caller's SSHBPP_EAGAIN.
 *
 * Channel numbers are indexes into tab[max_channels]; a slot is freed
 * once CLOSE went both ways (after the CLOSE event). Per channel:
 *   lwin   what the peer may still send (we granted); every DATA or
 *          EXTENDED_DATA is checked against it and against lmax (its
 *          data length, as OpenSSH does) before anything else;
 *   lused  bytes handed out but not yet granted back; when it reaches
 *          half of the window a WINDOW_ADJUST for all of it goes out,
 *          so lwin + lused never exceeds the advertised window;
 *   rwin, rmax  the peer's window and packet size for our writes.
 * Nothing received is buffered: a DATA event points into the engine's
 * payload.
 *
 * Decisions asked from the caller (the peer's open, channel request or
 * global request) are answered before the next event is decoded: if the
 * caller did not answer, the refusal goes out first thing in the next
 * next_event(). That keeps replies in request order (RFC 4254 sections 4
 * and 5.4) without a queue.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "channel_int.h"
#include "conn_int.h"

#define MSG_CHANNEL_OPEN              90
#define MSG_CHANNEL_OPEN_CONFIRMATION 91
#define MSG_CHANNEL_OPEN_FAILURE      92
#define MSG_CHANNEL_WINDOW_ADJUST     93
#define MSG_CHANNEL_DATA              94
#define MSG_CHANNEL_EXTENDED_DATA     95
#define MSG_CHANNEL_EOF               96
#define MSG_CHANNEL_CLOSE             97
#define MSG_CHANNEL_REQUEST           98
#define MSG_CHANNEL_SUCCESS           99
#define MSG_CHANNEL_FAILURE           100

#define CHAN_MAX_PACKET_LIMIT (256u * 1024u)
#define CHAN_NAME_MAX         256
#define CHAN_TEXT_MAX         1024
/* Our own want-reply requests in flight on one channel. */
#define CHAN_MAX_REQ_PENDING 64u

enum chan_state {
    CH_FREE = 0,
    CH_OPENING,      /* our OPEN sent, no answer yet */
    CH_PEER_OPENING, /* the peer's OPEN, waiting for the caller */
    CH_OPEN,
    CH_GONE /* closed both ways (or refused) but held: the id is not reused */
};

struct chan {
    enum chan_state state;
    uint32_t remote_id;
    uint32_t lwin, lused, lmax;
    uint32_t rwin, rmax;
    int sent_eof, rcvd_eof, sent_close, rcvd_close;
    unsigned req_pending; /* ours, want-reply */
    int peer_req_wants;   /* the peer's request waiting for our answer */
    int held;             /* sshbpp__channel_hold(): freed only on release */
};

struct sshbpp_channels {
    sshbpp_conn *c;
    unsigned max, count;
    uint32_t window, max_packet;
    int manual;
    struct chan *tab;

    /* the decision owed for the event handed out last */
    int owe_open;   /* channel + 1 */
    int owe_req;    /* channel + 1 */
    int owe_global; /* 1: a GLOBAL_REQUEST wants a reply */
    int close_free; /* channel + 1: free the slot on the next call */

    char name[CHAN_NAME_MAX];
    char text[CHAN_TEXT_MAX];
    sshbpp__wbuf out; /* data messages being built */

    sshbpp__chan_send_fn send; /* NULL: the conn's own send */
    void *send_ctx;
};

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Hands one message to the conn, or to the sender set by the blocking
 * layer (sshbpp_driver_channel.h), which goes through the driver. */
static int
out_msg2(sshbpp_channels *chs, const uint8_t *h, size_t hlen, const uint8_t *b, size_t blen,
         int data)
{
    if (chs->send != NULL)
        return chs->send(chs->send_ctx, h, hlen, b, blen, data);
    return sshbpp__conn_send2(chs->c, h, hlen, b, blen, !data);
}

static int
out_msg(sshbpp_channels *chs, const uint8_t *p, size_t len, int data)
{
    return out_msg2(chs, p, len, NULL, 0, data);
}

void
sshbpp__channels_set_sender(sshbpp_channels *chs, sshbpp__chan_send_fn fn, void *ctx)
{
    chs->send = fn;
    chs->send_ctx = ctx;
}

/* ---------------------------------------------------------------------- */

static int
chan_fail(sshbpp_channels *chs, int err)
{
    if (sshbpp_conn_error(chs->c) == 0)
        (void)sshbpp__conn_send_disconnect(chs->c, SSHBPP_DISCONNECT_PROTOCOL_ERROR,
                                           sshbpp_strerror(err));
    return sshbpp__conn_fail(chs->c, err);
}

/* Control messages: never refused softly (the conn's queue bound is not
 * theirs), except with caller_data: an OPEN or REQUEST whose
 * type-specific data, the caller's, makes it too long for a packet is
 * refused with SSHBPP_EPAYLOADLEN, nothing sent, the connection as it was
 * (the caller's mistake is no protocol violation). */
static int
send_ctl2(sshbpp_channels *chs, sshbpp__wbuf *b, int caller_data)
{
    int r = b->err != 0 ? SSHBPP_ENOMEM : out_msg(chs, b->p, b->len, 0);

    sshbpp__wb_free(b);
    if (r == SSHBPP_EPAYLOADLEN && caller_data)
        return r;
    if (r != 0 && !sshbpp_is_fatal(r))
        r = sshbpp__conn_fail(chs->c, r);
    return r;
}

static int
send_ctl(sshbpp_channels *chs, sshbpp__wbuf *b)
{
    return send_ctl2(chs, b, 0);
}

static struct chan *
get(const sshbpp_channels *chs, uint32_t id)
{
    if (chs == NULL || id >= chs->max || chs->tab[id].state == CH_FREE ||
        chs->tab[id].state == CH_GONE)
        return NULL;
    return &chs->tab[id];
}

static int
alloc_slot(sshbpp_channels *chs, uint32_t *id)
{
    unsigned i;

    if (chs->count >= chs->max)
        return SSHBPP_ECHANLIMIT;
    for (i = 0; i < chs->max; i++)
        if (chs->tab[i].state == CH_FREE)
            break;
    memset(&chs->tab[i], 0, sizeof(chs->tab[i]));
    chs->count++;
    *id = (uint32_t)i;
    return 0;
}

/* A held slot only becomes CH_GONE: its id stays taken until its holder
 * releases it, so that a holder still using the id (a thread that has not
 * yet seen the close) can never reach a new channel that reused it. */
static void
free_slot(sshbpp_channels *chs, uint32_t id)
{
    int held = chs->tab[id].held;

    memset(&chs->tab[id], 0, sizeof(chs->tab[id]));
    if (held) {
        chs->tab[id].state = CH_GONE;
        chs->tab[id].held = 1;
        return;
    }
    chs->count--;
}

/* see channel_int.h */
void
sshbpp__channel_hold(sshbpp_channels *chs, uint32_t id)
{
    if (chs != NULL && id < chs->max && chs->tab[id].state != CH_FREE)
        chs->tab[id].held = 1;
}

/* see channel_int.h */
void
sshbpp__channel_release(sshbpp_channels *chs, uint32_t id)
{
    if (chs == NULL || id >= chs->max || !chs->tab[id].held)
        return;
    chs->tab[id].held = 0;
    if (chs->tab[id].state == CH_GONE)
        free_slot(chs, id);
}

static void
copy_name(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    sshbpp__conn_copy_text(dst, cap, p != NULL ? p : (const uint8_t *)"", p != NULL ? n : 0);
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

/* see sshbpp_channel.h */
void
sshbpp_channels_config_init(sshbpp_channels_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_channels = SSHBPP_CHAN_DEFAULT_MAX;
    cfg->window = SSHBPP_CHAN_DEFAULT_WINDOW;
    cfg->max_packet = SSHBPP_CHAN_DEFAULT_PACKET;
}

/* see sshbpp_channel.h */
sshbpp_channels *
sshbpp_channels_new(sshbpp_conn *c, const sshbpp_channels_config *cfg)
{
    sshbpp_channels_config d;
    sshbpp_channels *chs;

    if (c == NULL)
        return NULL;
    sshbpp_channels_config_init(&d);
    if (cfg != NULL) {
        if (cfg->max_channels != 0)
            d.max_channels = cfg->max_channels;
        if (cfg->window != 0)
            d.window = cfg->window;
        if (cfg->max_packet != 0)
            d.max_packet = cfg->max_packet;
        d.manual_window = cfg->manual_window;
    }
    if (d.max_packet > CHAN_MAX_PACKET_LIMIT || d.window < d.max_packet ||
        d.max_channels > 65536u)
        return NULL;
    if ((chs = calloc(1, sizeof(*chs))) == NULL)
        return NULL;
    if ((chs->tab = calloc(d.max_channels, sizeof(*chs->tab))) == NULL) {
        free(chs);
        return NULL;
    }
    chs->c = c;
    chs->max = d.max_channels;
    chs->window = d.window;
    chs->max_packet = d.max_packet;
    chs->manual = d.manual_window != 0;
    sshbpp__wb_init(&chs->out);
    return chs;
}

/* see sshbpp_channel.h */
void
sshbpp_channels_free(sshbpp_channels *chs)
{
    if (chs == NULL)
        return;
    sshbpp__wb_free(&chs->out);
    free(chs->tab);
    free(chs);
}

/* see sshbpp_channel.h */
unsigned
sshbpp_channels_count(const sshbpp_channels *chs)
{
    return chs != NULL ? chs->count : 0;
}

/* ---------------------------------------------------------------------- */
/* decisions owed to the peer                                              */

static int
send_open_failure(sshbpp_channels *chs, uint32_t remote, uint32_t reason, const char *desc)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_OPEN_FAILURE);
    sshbpp__wb_u32(&b, remote);
    sshbpp__wb_u32(&b, reason);
    sshbpp__wb_cstring(&b, desc != NULL ? desc : "");
    sshbpp__wb_cstring(&b, "");
    return send_ctl(chs, &b);
}

static int
send_global_reply(sshbpp_channels *chs, int ok, const void *data, size_t len)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, ok ? MSG_REQUEST_SUCCESS : MSG_REQUEST_FAILURE);
    if (ok && len > 0)
        sshbpp__wb_raw(&b, data, len);
    return send_ctl(chs, &b);
}

static int
send_chan_reply(sshbpp_channels *chs, struct chan *ch, int ok)
{
    sshbpp__wbuf b;

    ch->peer_req_wants = 0;
    if (ch->sent_close)
        return 0; /* nothing more on a channel we closed */
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, ok ? MSG_CHANNEL_SUCCESS : MSG_CHANNEL_FAILURE);
    sshbpp__wb_u32(&b, ch->remote_id);
    return send_ctl(chs, &b);
}

/* Refuses whatever the caller left unanswered; frees a closed slot. */
static int
settle(sshbpp_channels *chs)
{
    int r = 0;

    if (chs->owe_open) {
        uint32_t id = (uint32_t)(chs->owe_open - 1);

        chs->owe_open = 0;
        if (chs->tab[id].state == CH_PEER_OPENING) {
            r = send_open_failure(chs, chs->tab[id].remote_id,
                                  SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED, "open refused");
            free_slot(chs, id);
        }
    }
    if (r == 0 && chs->owe_req) {
        struct chan *ch = get(chs, (uint32_t)(chs->owe_req - 1));

        chs->owe_req = 0;
        if (ch != NULL && ch->peer_req_wants)
            r = send_chan_reply(chs, ch, 0);
    }
    if (r == 0 && chs->owe_global) {
        chs->owe_global = 0;
        r = send_global_reply(chs, 0, NULL, 0);
    }
    if (chs->close_free) {
        free_slot(chs, (uint32_t)(chs->close_free - 1));
        chs->close_free = 0;
    }
    return r;
}

/* see sshbpp_channel.h */
int
sshbpp_channels_global_reply(sshbpp_channels *chs, int ok, const void *data, size_t len)
{
    if (chs == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    if (!chs->owe_global)
        return SSHBPP_ESTATE;
    chs->owe_global = 0;
    return send_global_reply(chs, ok, data, len);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_accept(sshbpp_channels *chs, uint32_t id)
{
    struct chan *ch = get(chs, id);
    sshbpp__wbuf b;

    if (ch == NULL || ch->state != CH_PEER_OPENING)
        return SSHBPP_ESTATE;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    ch->state = CH_OPEN;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_OPEN_CONFIRMATION);
    sshbpp__wb_u32(&b, ch->remote_id);
    sshbpp__wb_u32(&b, id);
    sshbpp__wb_u32(&b, ch->lwin);
    sshbpp__wb_u32(&b, ch->lmax);
    return send_ctl(chs, &b);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_reject(sshbpp_channels *chs, uint32_t id, uint32_t reason, const char *desc)
{
    struct chan *ch = get(chs, id);
    uint32_t remote;

    if (ch == NULL || ch->state != CH_PEER_OPENING)
        return SSHBPP_ESTATE;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    remote = ch->remote_id;
    free_slot(chs, id);
    return send_open_failure(chs, remote, reason, desc);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_request_reply(sshbpp_channels *chs, uint32_t id, int ok)
{
    struct chan *ch = get(chs, id);

    if (ch == NULL || chs->owe_req != (int)id + 1)
        return SSHBPP_ESTATE;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    chs->owe_req = 0;
    if (!ch->peer_req_wants)
        return 0;
    return send_chan_reply(chs, ch, ok);
}

/* ---------------------------------------------------------------------- */
/* our side                                                                */

static int
usable(const sshbpp_channels *chs)
{
    if (chs == NULL)
        return SSHBPP_EINVAL;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    if (!sshbpp_conn_authenticated(chs->c))
        return SSHBPP_ESTATE;
    return 0;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_open(sshbpp_channels *chs, const char *type, const void *data, size_t len,
                    uint32_t *id)
{
    sshbpp__wbuf b;
    uint32_t i;
    int r;

    if (chs == NULL || type == NULL || type[0] == '\0' || id == NULL ||
        (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if ((r = usable(chs)) != 0)
        return r;
    if ((r = alloc_slot(chs, &i)) != 0)
        return r;
    chs->tab[i].state = CH_OPENING;
    chs->tab[i].lwin = chs->window;
    chs->tab[i].lmax = chs->max_packet;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_OPEN);
    sshbpp__wb_cstring(&b, type);
    sshbpp__wb_u32(&b, i);
    sshbpp__wb_u32(&b, chs->window);
    sshbpp__wb_u32(&b, chs->max_packet);
    if (len > 0)
        sshbpp__wb_raw(&b, data, len);
    if ((r = send_ctl2(chs, &b, 1)) != 0) {
        free_slot(chs, i);
        return r;
    }
    *id = i;
    return 0;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_open_session(sshbpp_channels *chs, uint32_t *id)
{
    return sshbpp_channel_open(chs, "session", NULL, 0, id);
}

static struct chan *
open_chan(sshbpp_channels *chs, uint32_t id, int *r)
{
    struct chan *ch;

    if ((*r = usable(chs)) != 0)
        return NULL;
    ch = get(chs, id);
    if (ch == NULL || ch->state != CH_OPEN || ch->sent_close) {
        *r = SSHBPP_ESTATE;
        return NULL;
    }
    return ch;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_request(sshbpp_channels *chs, uint32_t id, const char *name, int want_reply,
                       const void *data, size_t len)
{
    struct chan *ch;
    sshbpp__wbuf b;
    int r;

    if (name == NULL || name[0] == '\0' || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if ((ch = open_chan(chs, id, &r)) == NULL)
        return r;
    if (want_reply && ch->req_pending >= CHAN_MAX_REQ_PENDING)
        return SSHBPP_EAGAIN;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_REQUEST);
    sshbpp__wb_u32(&b, ch->remote_id);
    sshbpp__wb_cstring(&b, name);
    sshbpp__wb_bool(&b, want_reply != 0);
    if (len > 0)
        sshbpp__wb_raw(&b, data, len);
    if ((r = send_ctl2(chs, &b, 1)) != 0)
        return r;
    if (want_reply)
        ch->req_pending++;
    return 0;
}

static int
request_strings(sshbpp_channels *chs, uint32_t id, const char *name, int want,
                const char *s1, const char *s2)
{
    sshbpp__wbuf b;
    int r;

    sshbpp__wb_init(&b);
    if (s1 != NULL)
        sshbpp__wb_cstring(&b, s1);
    if (s2 != NULL)
        sshbpp__wb_cstring(&b, s2);
    r = b.err != 0 ? SSHBPP_ENOMEM : sshbpp_channel_request(chs, id, name, want, b.p, b.len);
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_exec(sshbpp_channels *chs, uint32_t id, const char *command)
{
    if (command == NULL)
        return SSHBPP_EINVAL;
    return request_strings(chs, id, "exec", 1, command, NULL);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_shell(sshbpp_channels *chs, uint32_t id)
{
    return sshbpp_channel_request(chs, id, "shell", 1, NULL, 0);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_subsystem(sshbpp_channels *chs, uint32_t id, const char *name)
{
    if (name == NULL)
        return SSHBPP_EINVAL;
    return request_strings(chs, id, "subsystem", 1, name, NULL);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_env(sshbpp_channels *chs, uint32_t id, const char *name, const char *value)
{
    if (name == NULL || value == NULL)
        return SSHBPP_EINVAL;
    return request_strings(chs, id, "env", 0, name, value);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_pty(sshbpp_channels *chs, uint32_t id, const char *term, uint32_t cols,
                   uint32_t rows, const uint8_t *modes, size_t modes_len)
{
    sshbpp__wbuf b, m;
    int r;

    if (term == NULL || (modes == NULL && modes_len > 0))
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&m);
    if (modes_len > 0)
        sshbpp__wb_raw(&m, modes, modes_len);
    sshbpp__wb_u8(&m, 0); /* TTY_OP_END */
    sshbpp__wb_init(&b);
    sshbpp__wb_cstring(&b, term);
    sshbpp__wb_u32(&b, cols);
    sshbpp__wb_u32(&b, rows);
    sshbpp__wb_u32(&b, 0);
    sshbpp__wb_u32(&b, 0);
    sshbpp__wb_string(&b, m.p, m.len);
    r = b.err != 0 || m.err != 0 ? SSHBPP_ENOMEM
                                 : sshbpp_channel_request(chs, id, "pty-req", 1, b.p, b.len);
    sshbpp__wb_free(&b);
    sshbpp__wb_free(&m);
    return r;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_exit_status(sshbpp_channels *chs, uint32_t id, uint32_t status)
{
    uint8_t v[4] = {(uint8_t)(status >> 24), (uint8_t)(status >> 16), (uint8_t)(status >> 8),
                    (uint8_t)status};

    return sshbpp_channel_request(chs, id, "exit-status", 0, v, sizeof(v));
}

/* see sshbpp_channel.h */
int
sshbpp_channel_exit_signal(sshbpp_channels *chs, uint32_t id, const char *signal, int core,
                           const char *message)
{
    sshbpp__wbuf b;
    int r;

    if (signal == NULL || signal[0] == '\0')
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    sshbpp__wb_cstring(&b, signal);
    sshbpp__wb_bool(&b, core != 0);
    sshbpp__wb_cstring(&b, message != NULL ? message : "");
    sshbpp__wb_cstring(&b, "");
    r = b.err != 0 ? SSHBPP_ENOMEM : sshbpp_channel_request(chs, id, "exit-signal", 0, b.p, b.len);
    sshbpp__wb_free(&b);
    return r;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_write(sshbpp_channels *chs, uint32_t id, int ext, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint8_t hdr[13];
    size_t done = 0, cap, hlen;
    struct chan *ch;
    int r;

    if ((ext != 0 && ext != 1) || (data == NULL && len > 0) || len > (size_t)INT32_MAX)
        return SSHBPP_EINVAL;
    if ((ch = open_chan(chs, id, &r)) == NULL)
        return r;
    if (ch->sent_eof)
        return SSHBPP_ESTATE;
    if (len == 0)
        return 0;
    /* what one message may carry: the peer's limit, and the engine's with
     * room for the header and the conn's queued-message margin */
    cap = sshbpp_engine_max_packet(sshbpp_conn_engine(chs->c));
    cap = cap > 1024u + 16u ? cap - 1024u - 16u : 0;
    if (cap > ch->rmax)
        cap = ch->rmax;
    while (done < len && ch->rwin > 0 && cap > 0) {
        size_t n = len - done;

        if (n > cap)
            n = cap;
        if (n > ch->rwin)
            n = ch->rwin;
        /* the header here, the data straight from the caller's buffer
         * into the packet (no copy of the data before the engine's) */
        hlen = 0;
        hdr[hlen++] = ext ? MSG_CHANNEL_EXTENDED_DATA : MSG_CHANNEL_DATA;
        put32(hdr + hlen, ch->remote_id);
        hlen += 4;
        if (ext) {
            put32(hdr + hlen, 1); /* SSH_EXTENDED_DATA_STDERR */
            hlen += 4;
        }
        put32(hdr + hlen, (uint32_t)n);
        hlen += 4;
        r = out_msg2(chs, hdr, hlen, p + done, n, 1);
        if (r == SSHBPP_EAGAIN)
            break;
        if (r != 0)
            return r;
        ch->rwin -= (uint32_t)n;
        done += n;
    }
    return done > 0 ? (int)done : SSHBPP_EAGAIN;
}

/* see sshbpp_channel.h */
uint32_t
sshbpp_channel_send_window(const sshbpp_channels *chs, uint32_t id)
{
    const struct chan *ch = get(chs, id);

    return ch != NULL && ch->state == CH_OPEN ? ch->rwin : 0;
}

/* see sshbpp_channel.h */
uint32_t
sshbpp_channel_send_max_packet(const sshbpp_channels *chs, uint32_t id)
{
    const struct chan *ch = get(chs, id);

    return ch != NULL && ch->state == CH_OPEN ? ch->rmax : 0;
}

/* see sshbpp_channel.h */
uint32_t
sshbpp_channel_recv_window(const sshbpp_channels *chs, uint32_t id)
{
    const struct chan *ch = get(chs, id);

    return ch != NULL ? ch->lwin : 0;
}

/* Grants used window back once half of it is used. */
static int
maybe_adjust(sshbpp_channels *chs, struct chan *ch)
{
    sshbpp__wbuf b;
    uint32_t n;

    if (ch->lused < chs->window / 2 || ch->sent_close || ch->rcvd_eof || ch->rcvd_close)
        return 0;
    n = ch->lused;
    ch->lused = 0;
    ch->lwin += n;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_WINDOW_ADJUST);
    sshbpp__wb_u32(&b, ch->remote_id);
    sshbpp__wb_u32(&b, n);
    return send_ctl(chs, &b);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_consume(sshbpp_channels *chs, uint32_t id, size_t n)
{
    struct chan *ch = get(chs, id);

    if (chs == NULL)
        return SSHBPP_EINVAL;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    if (ch == NULL || !chs->manual)
        return SSHBPP_ESTATE;
    /* delivered but not granted back: window - lwin - lused */
    if (n > (size_t)(chs->window - ch->lwin - ch->lused))
        return SSHBPP_EINVAL;
    ch->lused += (uint32_t)n;
    return maybe_adjust(chs, ch);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_eof(sshbpp_channels *chs, uint32_t id)
{
    struct chan *ch;
    sshbpp__wbuf b;
    int r;

    if ((ch = open_chan(chs, id, &r)) == NULL)
        return r;
    if (ch->sent_eof)
        return SSHBPP_ESTATE;
    ch->sent_eof = 1;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_EOF);
    sshbpp__wb_u32(&b, ch->remote_id);
    return send_ctl(chs, &b);
}

static int
send_close(sshbpp_channels *chs, struct chan *ch)
{
    sshbpp__wbuf b;

    ch->sent_close = 1;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_CHANNEL_CLOSE);
    sshbpp__wb_u32(&b, ch->remote_id);
    return send_ctl(chs, &b);
}

/* see sshbpp_channel.h */
int
sshbpp_channel_close(sshbpp_channels *chs, uint32_t id)
{
    struct chan *ch;
    int r;

    if ((ch = open_chan(chs, id, &r)) == NULL)
        return r;
    return send_close(chs, ch);
}

/* ---------------------------------------------------------------------- */
/* input                                                                   */

static void
ev_init(sshbpp_chan_event *ev, enum sshbpp_chan_event_type t, uint32_t id)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = t;
    ev->channel = id;
    ev->name = "";
    ev->text = "";
}

/* Looks up the channel a message names (our number). Malformed or
 * unknown: the fatal error. */
static struct chan *
target(sshbpp_channels *chs, sshbpp__rbuf *rb, uint32_t *id, int *r)
{
    struct chan *ch;

    if (sshbpp__rb_u32(rb, id) != 0 || (ch = get(chs, *id)) == NULL) {
        *r = chan_fail(chs, SSHBPP_ECHANMSG);
        return NULL;
    }
    return ch;
}

static int
in_global(sshbpp_channels *chs, sshbpp__rbuf *rb, sshbpp_chan_event *ev)
{
    const uint8_t *name;
    size_t n;
    int want;

    if (sshbpp__rb_string(rb, &name, &n) != 0 || sshbpp__rb_bool(rb, &want) != 0)
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (n == 21 && memcmp(name, "keepalive@openssh.com", 21) == 0)
        return want ? send_global_reply(chs, 0, NULL, 0) : 0;
    ev_init(ev, SSHBPP_CHAN_EV_GLOBAL_REQUEST, 0);
    copy_name(chs->name, sizeof(chs->name), name, n);
    ev->name = chs->name;
    ev->want_reply = want;
    ev->data = rb->p + rb->off;
    ev->len = rb->len - rb->off;
    chs->owe_global = want;
    return 1;
}

static int
in_open(sshbpp_channels *chs, sshbpp__rbuf *rb, sshbpp_chan_event *ev)
{
    const uint8_t *type;
    size_t n;
    uint32_t remote, win, maxp, id;

    /* A maximum packet size of 0 would let us never write a byte: the
     * channel would stall with data waiting. Refused as malformed. */
    if (sshbpp__rb_string(rb, &type, &n) != 0 || sshbpp__rb_u32(rb, &remote) != 0 ||
        sshbpp__rb_u32(rb, &win) != 0 || sshbpp__rb_u32(rb, &maxp) != 0 || maxp == 0)
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (alloc_slot(chs, &id) != 0)
        return send_open_failure(chs, remote, SSHBPP_OPEN_RESOURCE_SHORTAGE, "too many channels");
    chs->tab[id].state = CH_PEER_OPENING;
    chs->tab[id].remote_id = remote;
    chs->tab[id].rwin = win;
    chs->tab[id].rmax = maxp;
    chs->tab[id].lwin = chs->window;
    chs->tab[id].lmax = chs->max_packet;
    ev_init(ev, SSHBPP_CHAN_EV_OPEN_REQUEST, id);
    copy_name(chs->name, sizeof(chs->name), type, n);
    ev->name = chs->name;
    ev->data = rb->p + rb->off;
    ev->len = rb->len - rb->off;
    chs->owe_open = (int)id + 1;
    return 1;
}

static int
in_data(sshbpp_channels *chs, struct chan *ch, uint32_t id, int ext, sshbpp__rbuf *rb,
        sshbpp_chan_event *ev)
{
    const uint8_t *p;
    uint32_t code = 0;
    size_t n;

    if (ext && sshbpp__rb_u32(rb, &code) != 0)
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (sshbpp__rb_string(rb, &p, &n) != 0 || !sshbpp__rb_done(rb))
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (ch->state != CH_OPEN || ch->rcvd_eof || ch->rcvd_close)
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (n > ch->lmax)
        return chan_fail(chs, SSHBPP_ECHANPACKET);
    if (n > ch->lwin)
        return chan_fail(chs, SSHBPP_ECHANWINDOW);
    ch->lwin -= (uint32_t)n;
    if (ch->sent_close || n == 0 || (ext && code != 1)) {
        /* after our CLOSE, or a kind we do not know: dropped, its window
         * given back as used */
        ch->lused += (uint32_t)n;
        return maybe_adjust(chs, ch);
    }
    ev_init(ev, SSHBPP_CHAN_EV_DATA, id);
    ev->data = p;
    ev->len = n;
    ev->ext = ext;
    if (!chs->manual) {
        int r;

        ch->lused += (uint32_t)n;
        if ((r = maybe_adjust(chs, ch)) != 0)
            return r;
    }
    return 1;
}

static int
in_request(sshbpp_channels *chs, struct chan *ch, uint32_t id, sshbpp__rbuf *rb,
           sshbpp_chan_event *ev)
{
    const uint8_t *name, *rest;
    size_t n, rn;
    int want;

    if (sshbpp__rb_string(rb, &name, &n) != 0 || sshbpp__rb_bool(rb, &want) != 0)
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (ch->state != CH_OPEN || ch->rcvd_close)
        return chan_fail(chs, SSHBPP_ECHANMSG);
    if (ch->sent_close)
        return 0;
    rest = rb->p + rb->off;
    rn = rb->len - rb->off;
    if (n == 11 && memcmp(name, "exit-status", 11) == 0) {
        uint32_t st;

        if (sshbpp__rb_u32(rb, &st) != 0)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ev_init(ev, SSHBPP_CHAN_EV_EXIT_STATUS, id);
        ev->code = st;
        if (want)
            return send_chan_reply(chs, ch, 1) != 0 ? sshbpp_conn_error(chs->c) : 1;
        return 1;
    }
    if (n == 11 && memcmp(name, "exit-signal", 11) == 0) {
        const uint8_t *sig, *msg;
        size_t sn, mn;
        int core;

        if (sshbpp__rb_string(rb, &sig, &sn) != 0 || sshbpp__rb_bool(rb, &core) != 0 ||
            sshbpp__rb_string(rb, &msg, &mn) != 0)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ev_init(ev, SSHBPP_CHAN_EV_EXIT_SIGNAL, id);
        copy_name(chs->name, sizeof(chs->name), sig, sn);
        copy_name(chs->text, sizeof(chs->text), msg, mn);
        ev->name = chs->name;
        ev->text = chs->text;
        ev->core_dumped = core;
        if (want)
            return send_chan_reply(chs, ch, 1) != 0 ? sshbpp_conn_error(chs->c) : 1;
        return 1;
    }
    ev_init(ev, SSHBPP_CHAN_EV_REQUEST, id);
    copy_name(chs->name, sizeof(chs->name), name, n);
    ev->name = chs->name;
    ev->want_reply = want;
    ev->data = rest;
    ev->len = rn;
    {
        sshbpp__rbuf a;
        const uint8_t *s;
        size_t sl;

        sshbpp__rb_init(&a, rest, rn);
        if (sshbpp__rb_string(&a, &s, &sl) == 0) {
            ev->arg = s;
            ev->arg_len = sl;
        }
    }
    ch->peer_req_wants = want;
    chs->owe_req = (int)id + 1;
    return 1;
}

/* One channel message: 1 with *ev, 0 handled, or the fatal error. */
static int
input(sshbpp_channels *chs, const uint8_t *p, size_t len, sshbpp_chan_event *ev)
{
    sshbpp__rbuf rb;
    struct chan *ch;
    uint8_t t;
    uint32_t id, a, b;
    int r = 0;

    sshbpp__rb_init(&rb, p, len);
    (void)sshbpp__rb_u8(&rb, &t);
    if (t == MSG_GLOBAL_REQUEST)
        return in_global(chs, &rb, ev);
    if (t == MSG_CHANNEL_OPEN)
        return in_open(chs, &rb, ev);
    if ((ch = target(chs, &rb, &id, &r)) == NULL)
        return r;
    switch (t) {
    case MSG_CHANNEL_OPEN_CONFIRMATION:
        /* maximum packet 0: refused as in in_open() */
        if (ch->state != CH_OPENING || sshbpp__rb_u32(&rb, &ch->remote_id) != 0 ||
            sshbpp__rb_u32(&rb, &a) != 0 || sshbpp__rb_u32(&rb, &b) != 0 || b == 0)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ch->state = CH_OPEN;
        ch->rwin = a;
        ch->rmax = b;
        ev_init(ev, SSHBPP_CHAN_EV_OPEN_CONFIRM, id);
        return 1;
    case MSG_CHANNEL_OPEN_FAILURE: {
        const uint8_t *d;
        size_t dn;

        if (ch->state != CH_OPENING || sshbpp__rb_u32(&rb, &a) != 0 ||
            sshbpp__rb_string(&rb, &d, &dn) != 0)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ev_init(ev, SSHBPP_CHAN_EV_OPEN_FAILURE, id);
        copy_name(chs->text, sizeof(chs->text), d, dn);
        ev->text = chs->text;
        ev->code = a;
        free_slot(chs, id);
        return 1;
    }
    case MSG_CHANNEL_WINDOW_ADJUST:
        if (ch->state != CH_OPEN || sshbpp__rb_u32(&rb, &a) != 0 ||
            a > UINT32_MAX - ch->rwin)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ch->rwin += a;
        if (ch->sent_close || ch->sent_eof)
            return 0;
        ev_init(ev, SSHBPP_CHAN_EV_WINDOW, id);
        ev->code = a;
        return 1;
    case MSG_CHANNEL_DATA:
    case MSG_CHANNEL_EXTENDED_DATA:
        return in_data(chs, ch, id, t == MSG_CHANNEL_EXTENDED_DATA, &rb, ev);
    case MSG_CHANNEL_EOF:
        if (ch->state != CH_OPEN || ch->rcvd_eof || ch->rcvd_close)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ch->rcvd_eof = 1;
        if (ch->sent_close)
            return 0;
        ev_init(ev, SSHBPP_CHAN_EV_EOF, id);
        return 1;
    case MSG_CHANNEL_CLOSE:
        if (ch->state != CH_OPEN || ch->rcvd_close)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ch->rcvd_close = 1;
        if (!ch->sent_close && (r = send_close(chs, ch)) != 0)
            return r;
        ev_init(ev, SSHBPP_CHAN_EV_CLOSE, id);
        chs->close_free = (int)id + 1;
        return 1;
    case MSG_CHANNEL_REQUEST:
        return in_request(chs, ch, id, &rb, ev);
    case MSG_CHANNEL_SUCCESS:
    case MSG_CHANNEL_FAILURE:
        if (ch->state != CH_OPEN || ch->req_pending == 0)
            return chan_fail(chs, SSHBPP_ECHANMSG);
        ch->req_pending--;
        if (ch->sent_close)
            return 0;
        ev_init(ev, SSHBPP_CHAN_EV_REQUEST_RESULT, id);
        ev->success = t == MSG_CHANNEL_SUCCESS;
        return 1;
    default:
        return chan_fail(chs, SSHBPP_ECHANMSG);
    }
}

/* see sshbpp_channel.h */
int
sshbpp_channels_next_event(sshbpp_channels *chs, sshbpp_chan_event *ev)
{
    sshbpp_conn_event cev;
    int r;

    if (chs == NULL || ev == NULL)
        return SSHBPP_EINVAL;
    /* a failure here is the conn's sticky error: its ERROR event follows */
    if (sshbpp_conn_error(chs->c) == 0)
        (void)settle(chs);
    for (;;) {
        if ((r = sshbpp_conn_next_event(chs->c, &cev)) != 0)
            return r;
        if (cev.type == SSHBPP_CONN_EV_MESSAGE && cev.len > 0 &&
            (cev.data[0] == MSG_GLOBAL_REQUEST ||
             (cev.data[0] >= MSG_CHANNEL_OPEN && cev.data[0] <= MSG_CHANNEL_FAILURE))) {
            r = input(chs, cev.data, cev.len, ev);
            if (r == 1)
                return 0;
            continue; /* handled, or failed: the ERROR event comes next */
        }
        ev_init(ev, SSHBPP_CHAN_EV_CONN, 0);
        ev->conn = cev;
        return 0;
    }
}

int
sshbpp__channels_input(sshbpp_channels *chs, const uint8_t *p, size_t len, sshbpp_chan_event *ev)
{
    int r;

    if (chs == NULL || p == NULL || len == 0 || ev == NULL)
        return SSHBPP_EINVAL;
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    (void)settle(chs);
    if (sshbpp_conn_error(chs->c) != 0)
        return sshbpp_conn_error(chs->c);
    r = input(chs, p, len, ev);
    if (r == 1)
        return 0;
    return r == 0 ? SSHBPP_EAGAIN : r;
}
