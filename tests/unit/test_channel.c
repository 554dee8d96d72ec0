/*
 * test_channel.c: RFC 4254 channels (sshbpp_channel.h) over two conns
 * pumped against each other in memory: open, confirm, failure with
 * reason, session requests both sides, data and stderr, windows and
 * maximum packet sizes both ways, peers that break them, many channels
 * with SHA-256 of each stream, the channel limit, EOF/CLOSE orders,
 * exit-status and exit-signal, global requests, a rekey mid-stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "sshbpp/sshbpp_channel.h"
#include "sshbpp/sshbpp_conn.h"
#include "conn_rig.h"

#define NREC 300

typedef struct rec {
    EVP_MD_CTX *h[2];
    size_t bytes[2];
    size_t maxmsg;
    int n[16];
    uint32_t exit_status, fail_code;
    char sig[32], sigmsg[64], failtext[64], req[64], arg[256];
    int req_want, results, results_ok;
    size_t unconsumed;
} rec;

typedef struct side {
    sshbpp_conn *c;
    sshbpp_channels *chs;
    int open_policy;          /* 1 accept, 0 reject (connect failed), -1 leave */
    const char *refuse_req;   /* channel request name refused */
    int leave_req;            /* leave requests unanswered */
    int global_policy;        /* 1 accept, 0 refuse, -1 leave */
    int error;
    int n[16];                /* channel events by type */
    int conn_msgs[256];       /* CONN MESSAGE events by message type */
    char gname[64];
    uint32_t last_open;
    rec r[NREC];
} side;

typedef struct rig {
    side c, s;
    int64_t now;
    size_t chunk;
} rig;

static enum sshbpp_auth_decision
auth_cb(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    (void)methods;
    return strcmp(a->method, "password") == 0 && strcmp(a->user, "alice") == 0 &&
                   strcmp(a->password, "secret") == 0
               ? SSHBPP_AUTH_ACCEPT
               : SSHBPP_AUTH_REJECT;
}

static void
rig_init(rig *r, const sshbpp_channels_config *ccfg, const sshbpp_channels_config *scfg)
{
    sshbpp_conn_config cfg;
    unsigned i;

    memset(r, 0, sizeof(*r));
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    r->c.c = sshbpp_conn_new(&cfg);
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_SERVER);
    cfg.auth_cb = auth_cb;
    r->s.c = sshbpp_conn_new(&cfg);
    assert_non_null(r->c.c);
    assert_non_null(r->s.c);
    assert_int_equal(sshbpp_conn_generate_hostkey(r->s.c, "ssh-ed25519"), 0);
    r->c.chs = sshbpp_channels_new(r->c.c, ccfg);
    r->s.chs = sshbpp_channels_new(r->s.c, scfg);
    assert_non_null(r->c.chs);
    assert_non_null(r->s.chs);
    r->c.open_policy = r->s.open_policy = 1;
    r->c.global_policy = r->s.global_policy = 0;
    for (i = 0; i < NREC; i++) {
        r->c.r[i].h[0] = EVP_MD_CTX_new();
        r->c.r[i].h[1] = EVP_MD_CTX_new();
        r->s.r[i].h[0] = EVP_MD_CTX_new();
        r->s.r[i].h[1] = EVP_MD_CTX_new();
        EVP_DigestInit_ex(r->c.r[i].h[0], EVP_sha256(), NULL);
        EVP_DigestInit_ex(r->c.r[i].h[1], EVP_sha256(), NULL);
        EVP_DigestInit_ex(r->s.r[i].h[0], EVP_sha256(), NULL);
        EVP_DigestInit_ex(r->s.r[i].h[1], EVP_sha256(), NULL);
    }
    r->now = 1000;
}

static void
rig_free(rig *r)
{
    unsigned i, j;

    for (i = 0; i < NREC; i++)
        for (j = 0; j < 2; j++) {
            EVP_MD_CTX_free(r->c.r[i].h[j]);
            EVP_MD_CTX_free(r->s.r[i].h[j]);
        }
    sshbpp_channels_free(r->c.chs);
    sshbpp_channels_free(r->s.chs);
    sshbpp_conn_free(r->c.c);
    sshbpp_conn_free(r->s.c);
}

static void
on_event(side *sd, const sshbpp_chan_event *ev)
{
    rec *rc;

    assert_true(ev->type >= 1 && ev->type < 16);
    sd->n[ev->type]++;
    if (ev->type == SSHBPP_CHAN_EV_CONN) {
        if (ev->conn.type == SSHBPP_CONN_EV_HOSTKEY)
            assert_int_equal(sshbpp_conn_hostkey_verdict(sd->c, 1), 0);
        if (ev->conn.type == SSHBPP_CONN_EV_MESSAGE)
            sd->conn_msgs[ev->conn.data[0]]++;
        if (ev->conn.type == SSHBPP_CONN_EV_ERROR)
            sd->error = ev->conn.error;
        return;
    }
    if (ev->type == SSHBPP_CHAN_EV_GLOBAL_REQUEST) {
        snprintf(sd->gname, sizeof(sd->gname), "%s", ev->name);
        if (sd->global_policy >= 0 && ev->want_reply)
            assert_int_equal(sshbpp_channels_global_reply(sd->chs, sd->global_policy, "x", 1), 0);
        return;
    }
    assert_true(ev->channel < NREC);
    rc = &sd->r[ev->channel];
    rc->n[ev->type]++;
    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        assert_string_equal(ev->name, "session");
        sd->last_open = ev->channel;
        if (sd->open_policy == 1)
            assert_int_equal(sshbpp_channel_accept(sd->chs, ev->channel), 0);
        else if (sd->open_policy == 0)
            assert_int_equal(sshbpp_channel_reject(sd->chs, ev->channel,
                                                   SSHBPP_OPEN_CONNECT_FAILED, "no\x1b"),
                             0);
        break;
    case SSHBPP_CHAN_EV_OPEN_FAILURE:
        rc->fail_code = ev->code;
        snprintf(rc->failtext, sizeof(rc->failtext), "%s", ev->text);
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        snprintf(rc->req, sizeof(rc->req), "%s", ev->name);
        rc->req_want = ev->want_reply;
        rc->arg[0] = '\0';
        if (ev->arg != NULL)
            snprintf(rc->arg, sizeof(rc->arg), "%.*s", (int)ev->arg_len, (const char *)ev->arg);
        if (!sd->leave_req)
            assert_int_equal(
                sshbpp_channel_request_reply(
                    sd->chs, ev->channel,
                    sd->refuse_req == NULL || strcmp(sd->refuse_req, ev->name) != 0),
                0);
        break;
    case SSHBPP_CHAN_EV_REQUEST_RESULT:
        rc->results++;
        rc->results_ok += ev->success;
        break;
    case SSHBPP_CHAN_EV_DATA:
        assert_true(ev->ext == 0 || ev->ext == 1);
        EVP_DigestUpdate(rc->h[ev->ext], ev->data, ev->len);
        rc->bytes[ev->ext] += ev->len;
        rc->unconsumed += ev->len;
        if (ev->len > rc->maxmsg)
            rc->maxmsg = ev->len;
        break;
    case SSHBPP_CHAN_EV_EXIT_STATUS:
        rc->exit_status = ev->code;
        break;
    case SSHBPP_CHAN_EV_EXIT_SIGNAL:
        snprintf(rc->sig, sizeof(rc->sig), "%s%s", ev->name, ev->core_dumped ? "+core" : "");
        snprintf(rc->sigmsg, sizeof(rc->sigmsg), "%s", ev->text);
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

/* The shared mover (tests/support/conn_rig.h) with this file's drain. */
static void
pump(rig *r)
{
    cr_pump(r->c.c, &r->c, r->s.c, &r->s, r->now, r->chunk, drain_cb, 100000000ul);
}

static void
connect_login(rig *r)
{
    assert_int_equal(sshbpp_conn_start(r->c.c, r->now), 0);
    assert_int_equal(sshbpp_conn_start(r->s.c, r->now), 0);
    pump(r);
    assert_int_equal(sshbpp_conn_auth_password(r->c.c, "alice", "secret"), 0);
    pump(r);
    assert_true(sshbpp_conn_authenticated(r->c.c));
    assert_true(sshbpp_conn_authenticated(r->s.c));
}

static void
digest(EVP_MD_CTX *h, uint8_t out[32])
{
    unsigned n = 0;

    assert_int_equal(EVP_DigestFinal_ex(h, out, &n), 1);
    assert_int_equal(n, 32);
}

/* deterministic stream bytes for channel i at offset off */
static uint8_t
stream_byte(unsigned i, size_t off)
{
    uint32_t x = (uint32_t)(off * 2654435761u) ^ (i * 0x9e3779b9u);

    x ^= x >> 13;
    return (uint8_t)(x * 31u + i);
}

static void
expect_hash(unsigned i, size_t len, const uint8_t got[32])
{
    uint8_t want[32], buf[4096];
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    size_t off = 0;
    unsigned n;

    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    while (off < len) {
        size_t k = len - off < sizeof(buf) ? len - off : sizeof(buf), j;

        for (j = 0; j < k; j++)
            buf[j] = stream_byte(i, off + j);
        EVP_DigestUpdate(h, buf, k);
        off += k;
    }
    EVP_DigestFinal_ex(h, want, &n);
    EVP_MD_CTX_free(h);
    assert_memory_equal(want, got, 32);
}

/* Writes as much of stream i from *off up to len as the window allows. */
static int
write_stream(side *sd, uint32_t id, unsigned i, size_t *off, size_t len, size_t step)
{
    uint8_t buf[65536];
    size_t k = len - *off, j;
    int n;

    if (k == 0)
        return 0;
    if (k > step)
        k = step;
    if (k > sizeof(buf))
        k = sizeof(buf);
    for (j = 0; j < k; j++)
        buf[j] = stream_byte(i, *off + j);
    n = sshbpp_channel_write(sd->chs, id, 0, buf, k);
    if (n == SSHBPP_EAGAIN)
        return 0;
    assert_true(n > 0);
    *off += (size_t)n;
    return n;
}

/* ---- tests --------------------------------------------------------------- */

static void
test_session_exec(void **state)
{
    static const size_t chunks[] = {0, 1};
    unsigned t;

    (void)state;
    for (t = 0; t < 2; t++) {
        rig r;
        uint32_t id;
        rec *sr, *cr;

        rig_init(&r, NULL, NULL);
        connect_login(&r);
        r.chunk = chunks[t];
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
        assert_int_equal(sshbpp_channels_count(r.c.chs), 1);
        pump(&r);
        cr = &r.c.r[id];
        sr = &r.s.r[r.s.last_open];
        assert_int_equal(cr->n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 1);
        assert_int_equal(sr->n[SSHBPP_CHAN_EV_OPEN_REQUEST], 1);
        assert_int_equal(sshbpp_channel_send_window(r.c.chs, id), SSHBPP_CHAN_DEFAULT_WINDOW);
        assert_int_equal(sshbpp_channel_send_max_packet(r.c.chs, id), SSHBPP_CHAN_DEFAULT_PACKET);

        assert_int_equal(sshbpp_channel_env(r.c.chs, id, "LANG", "C"), 0);
        pump(&r);
        assert_string_equal(sr->req, "env");
        assert_string_equal(sr->arg, "LANG");
        assert_int_equal(sr->req_want, 0);
        assert_int_equal(cr->results, 0);
        assert_int_equal(sshbpp_channel_pty(r.c.chs, id, "xterm", 80, 24, NULL, 0), 0);
        pump(&r);
        assert_string_equal(sr->req, "pty-req");
        assert_string_equal(sr->arg, "xterm");
        assert_int_equal(cr->results_ok, 1);
        r.s.refuse_req = "subsystem";
        assert_int_equal(sshbpp_channel_subsystem(r.c.chs, id, "sftp"), 0);
        pump(&r);
        assert_string_equal(sr->arg, "sftp");
        assert_int_equal(cr->results, 2);
        assert_int_equal(cr->results_ok, 1);
        assert_int_equal(sshbpp_channel_exec(r.c.chs, id, "echo hello"), 0);
        pump(&r);
        assert_string_equal(sr->req, "exec");
        assert_string_equal(sr->arg, "echo hello");
        assert_int_equal(cr->results_ok, 2);

        {
            uint32_t sid = r.s.last_open;

            assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 0, "hello\n", 6), 6);
            assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 1, "oops", 4), 4);
            assert_int_equal(sshbpp_channel_exit_status(r.s.chs, sid, 7), 0);
            assert_int_equal(sshbpp_channel_eof(r.s.chs, sid), 0);
            assert_int_equal(sshbpp_channel_eof(r.s.chs, sid), SSHBPP_ESTATE);
            assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 0, "x", 1), SSHBPP_ESTATE);
            assert_int_equal(sshbpp_channel_close(r.s.chs, sid), 0);
        }
        pump(&r);
        assert_int_equal(cr->bytes[0], 6);
        assert_int_equal(cr->bytes[1], 4);
        assert_int_equal(cr->exit_status, 7);
        assert_int_equal(cr->n[SSHBPP_CHAN_EV_EXIT_STATUS], 1);
        assert_int_equal(cr->n[SSHBPP_CHAN_EV_EOF], 1);
        assert_int_equal(cr->n[SSHBPP_CHAN_EV_CLOSE], 1);
        assert_int_equal(sr->n[SSHBPP_CHAN_EV_CLOSE], 1);
        {
            uint8_t got[32];
            uint8_t want[32];
            EVP_MD_CTX *h = EVP_MD_CTX_new();
            unsigned n;

            digest(cr->h[0], got);
            EVP_DigestInit_ex(h, EVP_sha256(), NULL);
            EVP_DigestUpdate(h, "hello\n", 6);
            EVP_DigestFinal_ex(h, want, &n);
            EVP_MD_CTX_free(h);
            assert_memory_equal(got, want, 32);
        }
        /* a further call frees the slots */
        pump(&r);
        drain(&r.c);
        drain(&r.s);
        assert_int_equal(sshbpp_channels_count(r.c.chs), 0);
        assert_int_equal(sshbpp_channels_count(r.s.chs), 0);
        assert_int_equal(sshbpp_channel_write(r.c.chs, id, 0, "x", 1), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_conn_error(r.c.c), 0);
        assert_int_equal(sshbpp_conn_error(r.s.c), 0);
        rig_free(&r);
    }
}

static void
test_open_refused(void **state)
{
    rig r;
    uint32_t a, b;

    (void)state;
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    r.s.open_policy = 0;
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &a), 0);
    pump(&r);
    assert_int_equal(r.c.r[a].n[SSHBPP_CHAN_EV_OPEN_FAILURE], 1);
    assert_int_equal(r.c.r[a].fail_code, SSHBPP_OPEN_CONNECT_FAILED);
    assert_string_equal(r.c.r[a].failtext, "no?"); /* escape sanitised */
    assert_int_equal(sshbpp_channels_count(r.c.chs), 0);
    assert_int_equal(sshbpp_channels_count(r.s.chs), 0);
    /* unanswered: refused as administratively prohibited */
    r.s.open_policy = -1;
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &b), 0);
    assert_int_equal(b, a); /* the number is free again */
    pump(&r);
    assert_int_equal(r.c.r[b].n[SSHBPP_CHAN_EV_OPEN_FAILURE], 2);
    assert_int_equal(r.c.r[b].fail_code, SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED);
    /* unanswered requests are refused too, in order */
    r.s.open_policy = 1;
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &b), 0);
    pump(&r);
    r.s.leave_req = 1;
    assert_int_equal(sshbpp_channel_shell(r.c.chs, b), 0);
    assert_int_equal(sshbpp_channel_exec(r.c.chs, b, "true"), 0);
    pump(&r);
    assert_int_equal(r.c.r[b].results, 2);
    assert_int_equal(r.c.r[b].results_ok, 0);
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    assert_int_equal(sshbpp_conn_error(r.c.c), 0);
    rig_free(&r);
}

static void
test_window_and_packet(void **state)
{
    sshbpp_channels_config scfg;
    uint8_t buf[20000];
    rig r;
    uint32_t id, sid;
    int n;

    (void)state;
    sshbpp_channels_config_init(&scfg);
    scfg.window = 8192;
    scfg.max_packet = 1000;
    scfg.manual_window = 1;
    rig_init(&r, NULL, &scfg);
    connect_login(&r);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
    pump(&r);
    sid = r.s.last_open;
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, id), 8192);
    assert_int_equal(sshbpp_channel_send_max_packet(r.c.chs, id), 1000);
    memset(buf, 'a', sizeof(buf));
    /* the sender stops exactly at the window */
    n = sshbpp_channel_write(r.c.chs, id, 0, buf, sizeof(buf));
    assert_int_equal(n, 8192);
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, id), 0);
    assert_int_equal(sshbpp_channel_write(r.c.chs, id, 0, buf, 1), SSHBPP_EAGAIN);
    pump(&r);
    assert_int_equal(r.s.r[sid].bytes[0], 8192);
    assert_true(r.s.r[sid].maxmsg <= 1000);
    assert_int_equal(r.s.r[sid].maxmsg, 1000);
    assert_int_equal(r.s.r[sid].n[SSHBPP_CHAN_EV_DATA], 9); /* 8 x 1000 + 192 */
    assert_int_equal(sshbpp_channel_recv_window(r.s.chs, sid), 0);
    /* nothing granted back until consumed */
    assert_int_equal(r.c.r[id].n[SSHBPP_CHAN_EV_WINDOW], 0);
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 8193), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 4000), 0);
    pump(&r);
    assert_int_equal(r.c.r[id].n[SSHBPP_CHAN_EV_WINDOW], 0); /* below half */
    assert_int_equal(sshbpp_channel_consume(r.s.chs, sid, 96), 0);
    pump(&r);
    assert_int_equal(r.c.r[id].n[SSHBPP_CHAN_EV_WINDOW], 1);
    assert_int_equal(sshbpp_channel_send_window(r.c.chs, id), 4096);
    /* it resumes after the adjust */
    n = sshbpp_channel_write(r.c.chs, id, 0, buf, sizeof(buf));
    assert_int_equal(n, 4096);
    pump(&r);
    assert_int_equal(r.s.r[sid].bytes[0], 8192 + 4096);
    /* and the other way: the client's default window, the server's writes
     * cut at 32 KiB */
    {
        static uint8_t big[100000];

        memset(big, 'b', sizeof(big));
        n = sshbpp_channel_write(r.s.chs, sid, 1, big, sizeof(big));
        assert_int_equal(n, (int)sizeof(big));
        pump(&r);
        assert_int_equal(r.c.r[id].bytes[1], sizeof(big));
        assert_int_equal(r.c.r[id].maxmsg, SSHBPP_CHAN_DEFAULT_PACKET);
    }
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    rig_free(&r);
}

/* A peer that breaks our limits: raw channel messages sent past the
 * channel layer through sshbpp_conn_send(). */
static void
scripted_violation(size_t msg_len, unsigned count, int want_err)
{
    sshbpp_channels_config scfg;
    static uint8_t msg[4096];
    rig r;
    uint32_t id, sid;
    unsigned i;

    sshbpp_channels_config_init(&scfg);
    scfg.window = 4096;
    scfg.max_packet = 1024;
    scfg.manual_window = 1; /* no window granted back: the peer's sum counts */
    rig_init(&r, NULL, &scfg);
    connect_login(&r);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
    pump(&r);
    sid = r.s.last_open;
    memset(msg, 'z', sizeof(msg));
    msg[0] = 94; /* CHANNEL_DATA */
    msg[1] = msg[2] = msg[3] = 0;
    msg[4] = (uint8_t)sid;
    msg[5] = 0;
    msg[6] = 0;
    msg[7] = (uint8_t)(msg_len >> 8);
    msg[8] = (uint8_t)msg_len;
    for (i = 0; i < count; i++)
        assert_int_equal(sshbpp_conn_send(r.c.c, msg, 9 + msg_len), 0);
    pump(&r);
    assert_int_equal(r.s.error, want_err);
    assert_int_equal(sshbpp_conn_error(r.s.c), want_err);
    /* the client was told why */
    assert_int_equal(r.c.error, want_err != 0 ? SSHBPP_EDISCONNECT : 0);
    rig_free(&r);
}

static void
test_peer_exceeds_max_packet(void **state)
{
    (void)state;
    scripted_violation(1025, 1, SSHBPP_ECHANPACKET);
}

static void
test_peer_exceeds_window(void **state)
{
    (void)state;
    /* 4 x 1024 fills the window exactly; one byte more is refused */
    scripted_violation(1024, 4, 0);
    scripted_violation(1000, 5, SSHBPP_ECHANWINDOW);
}

static void
test_malformed_and_unknown(void **state)
{
    static const uint8_t unknown_eof[] = {96, 0, 0, 0, 77};
    static const uint8_t short_open[] = {90, 0, 0, 0, 7, 's', 'e', 's', 's', 'i', 'o', 'n', 0};
    static const uint8_t stray_success[] = {99, 0, 0, 0, 0};
    const uint8_t *msgs[] = {unknown_eof, short_open, stray_success};
    size_t lens[] = {sizeof(unknown_eof), sizeof(short_open), sizeof(stray_success)};
    unsigned i;

    (void)state;
    for (i = 0; i < 3; i++) {
        rig r;
        uint32_t id;

        rig_init(&r, NULL, NULL);
        connect_login(&r);
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
        pump(&r);
        assert_int_equal(sshbpp_conn_send(r.c.c, msgs[i], lens[i]), 0);
        pump(&r);
        assert_int_equal(r.s.error, SSHBPP_ECHANMSG);
        rig_free(&r);
    }
}

static void
test_many_channels_sha256(void **state)
{
    enum { NCH = 10 };
    const size_t len = 300000;
    size_t coff[NCH] = {0}, soff[NCH] = {0};
    uint32_t cid[NCH], sid[NCH];
    unsigned i, rounds = 0;
    int more;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    for (i = 0; i < NCH; i++) {
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &cid[i]), 0);
        pump(&r);
        sid[i] = r.s.last_open;
        assert_int_equal(sshbpp_channel_exec(r.c.chs, cid[i], "cat"), 0);
    }
    pump(&r);
    do {
        more = 0;
        for (i = 0; i < NCH; i++) {
            /* uneven steps so that messages of all channels interleave */
            (void)write_stream(&r.c, cid[i], i, &coff[i], len, 1000 + 977 * i);
            (void)write_stream(&r.s, sid[i], 100 + i, &soff[i], len, 3000 + 311 * i);
            more |= coff[i] < len || soff[i] < len;
        }
        pump(&r);
        assert_true(++rounds < 100000);
    } while (more);
    for (i = 0; i < NCH; i++) {
        uint8_t h[32];

        assert_int_equal(sshbpp_channel_eof(r.c.chs, cid[i]), 0);
        assert_int_equal(r.s.r[sid[i]].bytes[0], len);
        assert_int_equal(r.c.r[cid[i]].bytes[0], len);
        digest(r.s.r[sid[i]].h[0], h);
        expect_hash(i, len, h);
        digest(r.c.r[cid[i]].h[0], h);
        expect_hash(100 + i, len, h);
        /* 2 MiB window, 300 KB each: windows were adjusted along the way
         * only if more than 1 MiB was used; not here */
        assert_int_equal(r.s.r[sid[i]].maxmsg <= SSHBPP_CHAN_DEFAULT_PACKET, 1);
    }
    pump(&r);
    for (i = 0; i < NCH; i++)
        assert_int_equal(r.s.r[sid[i]].n[SSHBPP_CHAN_EV_EOF], 1);
    assert_int_equal(sshbpp_channels_count(r.c.chs), NCH);
    rig_free(&r);
}

static void
test_window_refill_long_stream(void **state)
{
    /* 5 MiB through one channel: the 2 MiB window is granted back as it is
     * used (auto mode), and the sender never exceeds it */
    const size_t len = 5u * 1024u * 1024u;
    size_t off = 0;
    uint32_t id;
    rig r;
    uint8_t h[32];
    unsigned rounds = 0;

    (void)state;
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
    pump(&r);
    while (off < len) {
        while (write_stream(&r.c, id, 3, &off, len, 65536) > 0)
            ;
        assert_true(sshbpp_channel_send_window(r.c.chs, id) == 0 || off == len);
        pump(&r);
        assert_true(++rounds < 1000);
    }
    assert_int_equal(r.s.r[r.s.last_open].bytes[0], len);
    digest(r.s.r[r.s.last_open].h[0], h);
    expect_hash(3, len, h);
    assert_true(r.c.r[id].n[SSHBPP_CHAN_EV_WINDOW] >= 4);
    rig_free(&r);
}

static void
test_channel_limit(void **state)
{
    sshbpp_channels_config ccfg, scfg;
    uint32_t ids[8];
    unsigned i;
    rig r;

    (void)state;
    sshbpp_channels_config_init(&ccfg);
    sshbpp_channels_config_init(&scfg);
    ccfg.max_channels = 6;
    scfg.max_channels = 4;
    rig_init(&r, &ccfg, &scfg);
    connect_login(&r);
    for (i = 0; i < 6; i++)
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &ids[i]), 0);
    /* our own limit: soft, nothing sent */
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &ids[6]), SSHBPP_ECHANLIMIT);
    pump(&r);
    /* the peer's limit: resource shortage for the 5th and 6th */
    for (i = 0; i < 4; i++)
        assert_int_equal(r.c.r[ids[i]].n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 1);
    for (i = 4; i < 6; i++) {
        assert_int_equal(r.c.r[ids[i]].n[SSHBPP_CHAN_EV_OPEN_FAILURE], 1);
        assert_int_equal(r.c.r[ids[i]].fail_code, SSHBPP_OPEN_RESOURCE_SHORTAGE);
    }
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_OPEN_REQUEST], 4);
    assert_int_equal(sshbpp_channels_count(r.s.chs), 4);
    assert_int_equal(sshbpp_channels_count(r.c.chs), 4);
    /* one closed: one more fits */
    assert_int_equal(sshbpp_channel_close(r.c.chs, ids[0]), 0);
    pump(&r);
    drain(&r.s);
    assert_int_equal(sshbpp_channels_count(r.s.chs), 3);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &ids[7]), 0);
    pump(&r);
    assert_int_equal(r.c.r[ids[7]].n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 2); /* slot 0 again */
    assert_int_equal(sshbpp_conn_error(r.s.c), 0);
    rig_free(&r);

    /* the default is 256 */
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    for (i = 0; i < 256; i++)
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &ids[0]), 0);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &ids[0]), SSHBPP_ECHANLIMIT);
    pump(&r);
    assert_int_equal(sshbpp_channels_count(r.s.chs), 256);
    assert_int_equal(r.c.n[SSHBPP_CHAN_EV_OPEN_CONFIRM], 256);
    rig_free(&r);
}

static void
test_eof_close_orders(void **state)
{
    unsigned order;

    (void)state;
    for (order = 0; order < 4; order++) {
        uint32_t id, sid;
        rig r;

        rig_init(&r, NULL, NULL);
        connect_login(&r);
        assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
        pump(&r);
        sid = r.s.last_open;
        switch (order) {
        case 0: /* client EOF, server EOF, client CLOSE */
            assert_int_equal(sshbpp_channel_eof(r.c.chs, id), 0);
            pump(&r);
            assert_int_equal(r.s.r[sid].n[SSHBPP_CHAN_EV_EOF], 1);
            /* the server may still send after the client's EOF */
            assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 0, "late", 4), 4);
            assert_int_equal(sshbpp_channel_eof(r.s.chs, sid), 0);
            pump(&r);
            assert_int_equal(r.c.r[id].bytes[0], 4);
            assert_int_equal(r.c.r[id].n[SSHBPP_CHAN_EV_EOF], 1);
            assert_int_equal(sshbpp_channel_close(r.c.chs, id), 0);
            break;
        case 1: /* server CLOSE without EOF */
            assert_int_equal(sshbpp_channel_close(r.s.chs, sid), 0);
            assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 0, "x", 1), SSHBPP_ESTATE);
            assert_int_equal(sshbpp_channel_close(r.s.chs, sid), SSHBPP_ESTATE);
            break;
        case 2: /* both CLOSE at once */
            assert_int_equal(sshbpp_channel_close(r.s.chs, sid), 0);
            assert_int_equal(sshbpp_channel_close(r.c.chs, id), 0);
            break;
        case 3: /* data in flight when the client closes: dropped quietly */
            assert_int_equal(sshbpp_channel_write(r.s.chs, sid, 0, "inflight", 8), 8);
            assert_int_equal(sshbpp_channel_close(r.c.chs, id), 0);
            break;
        }
        pump(&r);
        drain(&r.c);
        drain(&r.s);
        assert_int_equal(r.c.r[id].n[SSHBPP_CHAN_EV_CLOSE], 1);
        assert_int_equal(r.s.r[sid].n[SSHBPP_CHAN_EV_CLOSE], 1);
        if (order == 3)
            assert_int_equal(r.c.r[id].bytes[0], 0);
        assert_int_equal(sshbpp_channels_count(r.c.chs), 0);
        assert_int_equal(sshbpp_channels_count(r.s.chs), 0);
        assert_int_equal(sshbpp_conn_error(r.c.c), 0);
        assert_int_equal(sshbpp_conn_error(r.s.c), 0);
        rig_free(&r);
    }
}

static void
test_exit_signal(void **state)
{
    uint32_t id, sid;
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
    pump(&r);
    sid = r.s.last_open;
    assert_int_equal(sshbpp_channel_exit_signal(r.s.chs, sid, "KILL", 1, "killed"), 0);
    assert_int_equal(sshbpp_channel_exit_signal(r.s.chs, sid, "", 0, NULL), SSHBPP_EINVAL);
    pump(&r);
    assert_int_equal(r.c.r[id].n[SSHBPP_CHAN_EV_EXIT_SIGNAL], 1);
    assert_string_equal(r.c.r[id].sig, "KILL+core");
    assert_string_equal(r.c.r[id].sigmsg, "killed");
    rig_free(&r);
}

static void
test_global_requests(void **state)
{
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    /* keepalive: answered by the layer (failure, as OpenSSH does) */
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "keepalive@openssh.com", 1, NULL, 0), 0);
    pump(&r);
    assert_int_equal(r.c.conn_msgs[82], 1);
    assert_int_equal(r.s.n[SSHBPP_CHAN_EV_GLOBAL_REQUEST], 0);
    /* without want-reply: no answer */
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "keepalive@openssh.com", 0, NULL, 0), 0);
    pump(&r);
    assert_int_equal(r.c.conn_msgs[82], 1);
    /* others: the caller decides */
    r.s.global_policy = 1;
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "x@example.com", 1, NULL, 0), 0);
    pump(&r);
    assert_string_equal(r.s.gname, "x@example.com");
    assert_int_equal(r.c.conn_msgs[81], 1);
    r.s.global_policy = -1; /* unanswered: refused */
    assert_int_equal(sshbpp_conn_global_request(r.c.c, "y@example.com", 1, NULL, 0), 0);
    pump(&r);
    assert_int_equal(r.c.conn_msgs[82], 2);
    assert_int_equal(sshbpp_channels_global_reply(r.s.chs, 1, NULL, 0), SSHBPP_ESTATE);
    rig_free(&r);
}

static void
test_rekey_mid_stream(void **state)
{
    const size_t len = 1500000;
    size_t off = 0, back = 0;
    uint32_t id, sid;
    unsigned rounds = 0;
    uint8_t h[32];
    rig r;

    (void)state;
    rig_init(&r, NULL, NULL);
    connect_login(&r);
    assert_int_equal(sshbpp_channel_open_session(r.c.chs, &id), 0);
    pump(&r);
    sid = r.s.last_open;
    while (off < len || back < len) {
        (void)write_stream(&r.c, id, 5, &off, len, 40000);
        if (rounds == 3 || rounds == 20) {
            assert_int_equal(sshbpp_conn_rekey(r.c.c), 0);
            /* written during the exchange: queued, sent after NEWKEYS */
            (void)write_stream(&r.c, id, 5, &off, len, 40000);
            assert_true(sshbpp_conn_queued(r.c.c) > 0);
        }
        if (rounds == 10) {
            assert_int_equal(sshbpp_conn_rekey(r.s.c), 0);
            (void)write_stream(&r.s, sid, 6, &back, len, 40000);
            assert_true(sshbpp_conn_queued(r.s.c) > 0);
        }
        (void)write_stream(&r.s, sid, 6, &back, len, 30000);
        pump(&r);
        assert_true(++rounds < 10000);
    }
    assert_int_equal(sshbpp_conn_kex_count(r.c.c), 4);
    assert_int_equal(r.s.r[sid].bytes[0], len);
    assert_int_equal(r.c.r[id].bytes[0], len);
    digest(r.s.r[sid].h[0], h);
    expect_hash(5, len, h);
    digest(r.c.r[id].h[0], h);
    expect_hash(6, len, h);
    rig_free(&r);
}

static void
test_bad_arguments(void **state)
{
    sshbpp_channels_config cfg;
    sshbpp_conn_config cc;
    sshbpp_conn *c;
    sshbpp_channels *chs;
    uint32_t id;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    c = sshbpp_conn_new(&cc);
    assert_non_null(c);
    sshbpp_channels_config_init(&cfg);
    cfg.max_packet = 300000;
    assert_null(sshbpp_channels_new(c, &cfg));
    cfg.max_packet = 4096;
    cfg.window = 1000;
    assert_null(sshbpp_channels_new(c, &cfg));
    assert_null(sshbpp_channels_new(NULL, NULL));
    chs = sshbpp_channels_new(c, NULL);
    assert_non_null(chs);
    /* not authenticated */
    assert_int_equal(sshbpp_channel_open_session(chs, &id), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_open(chs, "", NULL, 0, &id), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_write(chs, 0, 0, "x", 1), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_channel_write(chs, 0, 2, "x", 1), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_send_window(chs, 999), 0);
    sshbpp_channels_free(chs);
    sshbpp_channels_free(NULL);
    sshbpp_conn_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_exec),
        cmocka_unit_test(test_open_refused),
        cmocka_unit_test(test_window_and_packet),
        cmocka_unit_test(test_peer_exceeds_max_packet),
        cmocka_unit_test(test_peer_exceeds_window),
        cmocka_unit_test(test_malformed_and_unknown),
        cmocka_unit_test(test_many_channels_sha256),
        cmocka_unit_test(test_window_refill_long_stream),
        cmocka_unit_test(test_channel_limit),
        cmocka_unit_test(test_eof_close_orders),
        cmocka_unit_test(test_exit_signal),
        cmocka_unit_test(test_global_requests),
        cmocka_unit_test(test_rekey_mid_stream),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
