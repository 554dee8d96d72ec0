/*
 * test_session.c: the blocking session (sshbpp_session) over a socketpair,
 * the server side in a thread: handshake, traffic both ways, rekeys from
 * either side while other threads keep sending (nothing lost, order kept),
 * automatic rekeys from tiny rekey limits, the version exchange's edge
 * cases against a hand-driven peer, the handshake timeout and DISCONNECT;
 * sends and rekeys that drive an exchange themselves when nobody reads
 * (the receive queue, its bound), sshbpp_packetizer_close() releasing every waiter,
 * and a peer that refuses our rekey with SSH_MSG_UNIMPLEMENTED.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sshbpp/sshbpp_session.h"
#include "testutil.h"

#define TIMEOUT 20000 /* ms */

typedef struct end {
    int fd;
    sshbpp_packetizer *p;
    sshbpp_session *s;
    int role;
    int rc; /* handshake result */
    pthread_t th;
} end;

static void
end_open(end *e, int fd, int role, const sshbpp_kex_config *cfg)
{
    memset(e, 0, sizeof(*e));
    e->fd = fd;
    e->role = role;
    e->p = sshbpp_packetizer_new_fd(fd, 1);
    assert_non_null(e->p);
    e->s = sshbpp_session_new(e->p, role, cfg, role == SSHBPP_ROLE_SERVER ? "srv_1.0" : NULL);
    assert_non_null(e->s);
    if (role == SSHBPP_ROLE_SERVER)
        assert_int_equal(sshbpp_kex_generate_hostkey(sshbpp_session_kex(e->s), "ssh-ed25519"),
                         0);
}

static void
end_close(end *e)
{
    sshbpp_packetizer_close(e->p);
    sshbpp_session_free(e->s);
    sshbpp_packetizer_free(e->p);
}

static void *
hs_thread(void *arg)
{
    end *e = arg;
    e->rc = sshbpp_session_handshake(e->s, TIMEOUT);
    return NULL;
}

/* Both handshakes, the server's in a thread. */
static void
connect_pair(end *c, end *s, const sshbpp_kex_config *ccfg, const sshbpp_kex_config *scfg)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    end_open(c, sv[0], SSHBPP_ROLE_CLIENT, ccfg);
    end_open(s, sv[1], SSHBPP_ROLE_SERVER, scfg);
    assert_int_equal(pthread_create(&s->th, NULL, hs_thread, s), 0);
    c->rc = sshbpp_session_handshake(c->s, TIMEOUT);
    pthread_join(s->th, NULL);
    assert_int_equal(c->rc, 0);
    assert_int_equal(s->rc, 0);
}

static void
send_tagged(end *e, uint8_t type, uint32_t n, size_t len)
{
    uint8_t buf[2048];

    assert_true(len >= 5 && len <= sizeof(buf));
    memset(buf, (int)(n & 0xff), len);
    buf[0] = type;
    tu_put_be32(buf + 1, n);
    assert_int_equal(sshbpp_session_send(e->s, buf, len), 0);
}

static void
test_handshake_and_traffic(void **state)
{
    sshbpp_kex_info ci, si;
    sshbpp_packet pkt;
    const uint8_t *a, *b;
    size_t alen, blen;
    uint32_t i;
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    assert_string_equal(sshbpp_session_peer_version(c.s), "SSH-2.0-srv_1.0");
    assert_string_equal(sshbpp_session_peer_version(s.s), "SSH-2.0-sshbpp_" SSHBPP_VERSION_STRING);
    assert_int_equal(sshbpp_kex_get_info(sshbpp_session_kex(c.s), &ci), 0);
    assert_int_equal(sshbpp_kex_get_info(sshbpp_session_kex(s.s), &si), 0);
    assert_memory_equal(&ci, &si, sizeof(ci));
    assert_int_equal(ci.strict_kex, 1);
    assert_string_equal(ci.hostkey_alg, "ssh-ed25519");
    a = sshbpp_kex_session_id(sshbpp_session_kex(c.s), &alen);
    b = sshbpp_kex_session_id(sshbpp_session_kex(s.s), &blen);
    assert_non_null(a);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);

    /* an IGNORE in between is dropped by recv */
    {
        static const uint8_t ign[] = {2, 0, 0, 0, 0};
        assert_int_equal(sshbpp_session_send(c.s, ign, sizeof(ign)), 0);
    }
    for (i = 0; i < 5; i++)
        send_tagged(&c, 94, i, 100);
    for (i = 0; i < 5; i++) {
        assert_int_equal(sshbpp_session_recv(s.s, &pkt), 0);
        assert_int_equal(pkt.type, 94);
        assert_int_equal(tu_be32(pkt.payload + 1), i);
    }
    for (i = 0; i < 5; i++)
        send_tagged(&s, 95, i, 200);
    for (i = 0; i < 5; i++) {
        assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
        assert_int_equal(pkt.type, 95);
        assert_int_equal(tu_be32(pkt.payload + 1), i);
    }
    /* the server's EXT_INFO was absorbed by the first recv */
    assert_string_equal(sshbpp_kex_server_sig_algs(sshbpp_session_kex(c.s)),
                        sshbpp_kex_default(SSHBPP_KEXINIT_HOSTKEY));

    /* DISCONNECT ends the peer's receive loop */
    assert_int_equal(sshbpp_session_disconnect(c.s, 11, "bye"), 0);
    assert_int_equal(sshbpp_session_recv(s.s, &pkt), SSHBPP_EDISCONNECT);
    assert_int_equal(sshbpp_session_recv(s.s, &pkt), SSHBPP_EDISCONNECT);
    end_close(&c);
    end_close(&s);
}

/* ---- rekeys with concurrent traffic ---------------------------------------- */

#define NMSG 1500

typedef struct flow {
    end *e;
    uint8_t type;     /* what this end sends */
    uint8_t peer_type;
    uint32_t got;     /* messages received in order */
    int rc;
    atomic_int in_recv; /* atomic: polled by the main thread */
    pthread_t reader, sender;
} flow;

static void *
reader(void *arg)
{
    flow *f = arg;
    sshbpp_packet pkt;
    int r;

    atomic_store(&f->in_recv, 1);
    for (;;) {
        r = sshbpp_session_recv(f->e->s, &pkt);
        if (r != 0) {
            f->rc = r;
            return NULL;
        }
        if (pkt.type == 96)
            return NULL; /* the peer's last message */
        if (pkt.type != f->peer_type || pkt.len < 5 || tu_be32(pkt.payload + 1) != f->got) {
            f->rc = -1000; /* lost, reordered or foreign */
            return NULL;
        }
        f->got++;
    }
}

static void *
sender(void *arg)
{
    flow *f = arg;
    uint8_t buf[1200];
    uint32_t i;
    int r;

    for (i = 0; i < NMSG; i++) {
        size_t len = 5 + (i * 7) % 1100;
        memset(buf, (int)i, len);
        buf[0] = f->type;
        tu_put_be32(buf + 1, i);
        if ((r = sshbpp_session_send(f->e->s, buf, len)) != 0) {
            f->rc = r;
            return NULL;
        }
    }
    return NULL;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waiting on the session's own state instead of sleeping (session.c test
 * hook). */
void sshbpp__session_test_state(sshbpp_session *s, int *in_recv, int *self_reading, int *waiters);
enum { ST_IN_RECV, ST_SELF_READING, ST_WAITERS };

static void
wait_state(end *e, int which, int atleast)
{
    int v[3], i;

    for (i = 0; i < 10000; i++) {
        sshbpp__session_test_state(e->s, &v[0], &v[1], &v[2]);
        if (v[which] >= atleast)
            return;
        sleep_ms(1);
    }
    fail_msg("session state %d still below %d after 10 s", which, atleast);
}

/* Waits (bounded) until fd has input, without consuming it. */
static void
wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
}

/* Watches one end's outgoing packets: RFC 4253 7.1 allows no connection
 * message between our KEXINIT and our NEWKEYS. Called under the
 * Packetizer's write lock, so plain fields suffice. */
typedef struct order_watch {
    int in_kex;
    unsigned violations, kexinits;
} order_watch;

static void
watch_trace(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len, size_t wire_len, uint32_t seqno)
{
    order_watch *w = ctx;

    (void)payload_len;
    (void)wire_len;
    (void)seqno;
    if (dir != SSHBPP_DIR_OUT)
        return;
    if (type == 20) {
        w->in_kex = 1;
        w->kexinits++;
    } else if (type == 21) {
        w->in_kex = 0;
    } else if (type >= 50 && w->in_kex) {
        w->violations++;
    }
}

static void
run_flows(end *c, end *s, int rekeys_by_client, int rekeys_by_server)
{
    order_watch wc, ws;
    static const uint8_t done[] = {96, 0, 0, 0, 0};
    unsigned before = sshbpp_kex_completed(sshbpp_session_kex(c->s));
    flow fc, fs;
    int i;

    memset(&fc, 0, sizeof(fc));
    memset(&fs, 0, sizeof(fs));
    fc.e = c;
    fc.type = 94;
    fc.peer_type = 95;
    fs.e = s;
    fs.type = 95;
    fs.peer_type = 94;
    memset(&wc, 0, sizeof(wc));
    memset(&ws, 0, sizeof(ws));
    sshbpp_engine_set_trace(sshbpp_packetizer_engine(c->p), watch_trace, &wc);
    sshbpp_engine_set_trace(sshbpp_packetizer_engine(s->p), watch_trace, &ws);

    assert_int_equal(pthread_create(&fc.reader, NULL, reader, &fc), 0);
    assert_int_equal(pthread_create(&fs.reader, NULL, reader, &fs), 0);
    /* session_rekey() must see the reader inside recv, or it would read
     * itself */
    wait_state(c, ST_IN_RECV, 1);
    wait_state(s, ST_IN_RECV, 1);
    assert_int_equal(pthread_create(&fc.sender, NULL, sender, &fc), 0);
    assert_int_equal(pthread_create(&fs.sender, NULL, sender, &fs), 0);
    for (i = 0; i < rekeys_by_client || i < rekeys_by_server; i++) {
        if (i < rekeys_by_client)
            assert_int_equal(sshbpp_session_rekey(c->s), 0);
        if (i < rekeys_by_server)
            assert_int_equal(sshbpp_session_rekey(s->s), 0);
    }
    pthread_join(fc.sender, NULL);
    pthread_join(fs.sender, NULL);
    assert_int_equal(sshbpp_session_send(c->s, done, sizeof(done)), 0);
    assert_int_equal(sshbpp_session_send(s->s, done, sizeof(done)), 0);
    pthread_join(fc.reader, NULL);
    pthread_join(fs.reader, NULL);
    assert_int_equal(fc.rc, 0);
    assert_int_equal(fs.rc, 0);
    assert_int_equal(fc.got, NMSG);
    assert_int_equal(fs.got, NMSG);
    assert_int_equal(wc.violations, 0);
    assert_int_equal(ws.violations, 0);
    assert_true(wc.kexinits >= 1 && ws.kexinits >= 1);
    sshbpp_engine_set_trace(sshbpp_packetizer_engine(c->p), NULL, NULL);
    sshbpp_engine_set_trace(sshbpp_packetizer_engine(s->p), NULL, NULL);
    /* A rekey asked for while the peer's exchange is still finishing on
     * our side is satisfied by that exchange, so only the larger count is
     * guaranteed. */
    assert_true(sshbpp_kex_completed(sshbpp_session_kex(c->s)) >=
                before + (unsigned)(rekeys_by_client > rekeys_by_server ? rekeys_by_client
                                                                        : rekeys_by_server));
    assert_int_equal(sshbpp_kex_completed(sshbpp_session_kex(c->s)),
                     sshbpp_kex_completed(sshbpp_session_kex(s->s)));
}

static void
test_rekey_client_concurrent(void **state)
{
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    run_flows(&c, &s, 3, 0);
    end_close(&c);
    end_close(&s);
}

static void
test_rekey_server_concurrent(void **state)
{
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    run_flows(&c, &s, 0, 3);
    end_close(&c);
    end_close(&s);
}

static void
test_rekey_both_concurrent(void **state)
{
    sshbpp_kex_config cfg = {NULL, NULL, "aes256-ctr", "hmac-sha2-512-etm@openssh.com", NULL};
    end c, s;

    (void)state;
    connect_pair(&c, &s, &cfg, NULL);
    run_flows(&c, &s, 2, 2);
    end_close(&c);
    end_close(&s);
}

/* Tiny packet limits: the rekey flag comes up again and again, and the
 * senders and readers start the exchanges themselves. */
static void
test_rekey_automatic(void **state)
{
    sshbpp_rekey_limits l;
    unsigned n;
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    sshbpp_rekey_limits_default(&l);
    l.packets = 200;
    assert_int_equal(sshbpp_engine_set_rekey_limits(sshbpp_packetizer_engine(c.p), &l), 0);
    assert_int_equal(sshbpp_engine_set_rekey_limits(sshbpp_packetizer_engine(s.p), &l), 0);
    run_flows(&c, &s, 0, 0);
    n = sshbpp_kex_completed(sshbpp_session_kex(c.s));
    /* 1500 messages each way at 200 packets per key */
    assert_true(n >= 5);
    end_close(&c);
    end_close(&s);
}

/* Rekey with no reader thread on the initiating side: it reads itself. */
static void
test_rekey_without_reader(void **state)
{
    flow fs;
    static const uint8_t done[] = {96, 0, 0, 0, 0};
    sshbpp_packet pkt;
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    memset(&fs, 0, sizeof(fs));
    fs.e = &s;
    fs.peer_type = 94;
    assert_int_equal(pthread_create(&fs.reader, NULL, reader, &fs), 0);
    /* the client has read nothing yet: EXT_INFO is still queued and is
     * absorbed by the rekey's own reads */
    assert_int_equal(sshbpp_session_rekey(c.s), 0);
    assert_int_equal(sshbpp_session_rekey(c.s), 0);
    assert_int_equal(sshbpp_kex_completed(sshbpp_session_kex(c.s)), 3);
    send_tagged(&c, 94, 0, 50);
    assert_int_equal(sshbpp_session_send(c.s, done, sizeof(done)), 0);
    pthread_join(fs.reader, NULL);
    assert_int_equal(fs.rc, 0);
    assert_int_equal(fs.got, 1);
    /* now a server message arrives while the client rekeys alone (the
     * server has a reader again to answer): the rekey keeps it for the
     * next recv instead of failing */
    memset(&fs, 0, sizeof(fs));
    fs.e = &s;
    fs.peer_type = 94;
    assert_int_equal(pthread_create(&fs.reader, NULL, reader, &fs), 0);
    send_tagged(&s, 95, 0, 50);
    wait_readable(c.fd); /* it has arrived before the rekey starts */
    assert_int_equal(sshbpp_session_rekey(c.s), 0);
    assert_int_equal(sshbpp_kex_completed(sshbpp_session_kex(c.s)), 4);
    assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
    assert_int_equal(pkt.type, 95);
    assert_int_equal(tu_be32(pkt.payload + 1), 0);
    assert_int_equal(sshbpp_session_send(c.s, done, sizeof(done)), 0);
    pthread_join(fs.reader, NULL);
    assert_int_equal(fs.rc, 0);
    end_close(&c);
    end_close(&s);
}

/* ---- helpers: a call in a thread, watched ---------------------------------------- */

typedef struct waiter {
    end *e;
    int op; /* 0: session_send, 1: session_rekey, 2: session_recv */
    atomic_int done;
    int rc;
    pthread_t th;
} waiter;

static void *
waiter_thread(void *arg)
{
    static const uint8_t msg[] = {94, 0, 0, 0, 9, 'w'};
    waiter *w = arg;
    sshbpp_packet pkt;

    if (w->op == 0)
        w->rc = sshbpp_session_send(w->e->s, msg, sizeof(msg));
    else if (w->op == 1)
        w->rc = sshbpp_session_rekey(w->e->s);
    else
        w->rc = sshbpp_session_recv(w->e->s, &pkt);
    atomic_store(&w->done, 1);
    return NULL;
}

static void
waiter_start(waiter *w, end *e, int op)
{
    memset(w, 0, sizeof(*w));
    w->e = e;
    w->op = op;
    atomic_init(&w->done, 0);
    assert_int_equal(pthread_create(&w->th, NULL, waiter_thread, w), 0);
}

/* Waits up to limit_s for w to finish; returns the seconds it took, or
 * fails the test (leaving the blocked thread and its session alone). */
static double now_s(void);

static double
waiter_finish(waiter *w, double limit_s)
{
    double t0 = now_s();

    while (!atomic_load(&w->done)) {
        if (now_s() - t0 > limit_s)
            fail_msg("waiter (op %d) still blocked %.1f s after sshbpp_packetizer_close()", w->op,
                     limit_s);
        sleep_ms(5);
    }
    pthread_join(w->th, NULL);
    return now_s() - t0;
}

/* Runs op on e in a thread and waits for it; if it is still blocked after
 * limit_s, closes e's Packetizer so that it returns (SSHBPP_ECLOSED, which
 * then fails the caller's check) rather than hang the test. Returns rc. */
static int
run_watched(end *e, int op, double limit_s)
{
    waiter w;
    double t0;

    waiter_start(&w, e, op);
    t0 = now_s();
    while (!atomic_load(&w.done) && now_s() - t0 < limit_s)
        sleep_ms(5);
    if (!atomic_load(&w.done))
        sshbpp_packetizer_close(e->p);
    waiter_finish(&w, 3.0);
    return w.rc;
}

/* ---- no reader thread: send and rekey drive the exchange ------------------------ */

/* Makes e's rekey flag come up once `packets` packets have gone either
 * way under the current keys. The flag stays up until an exchange has
 * switched both directions. */
static void
rekey_soon(end *e, uint64_t packets)
{
    sshbpp_rekey_limits l;

    sshbpp_rekey_limits_default(&l);
    l.packets = packets;
    assert_int_equal(sshbpp_engine_set_rekey_limits(sshbpp_packetizer_engine(e->p), &l), 0);
}

static void
rekey_default(end *e)
{
    sshbpp_rekey_limits l;

    sshbpp_rekey_limits_default(&l);
    assert_int_equal(sshbpp_engine_set_rekey_limits(sshbpp_packetizer_engine(e->p), &l), 0);
}

/* The server as a single-threaded peer: receives until the 96 marker and
 * remembers the tags of the 94 messages, in order. */
typedef struct collector {
    end *e;
    uint32_t tags[16];
    unsigned n;
    int rc;
    pthread_t th;
} collector;

static void *
collect_thread(void *arg)
{
    collector *k = arg;
    sshbpp_packet pkt;

    for (;;) {
        if ((k->rc = sshbpp_session_recv(k->e->s, &pkt)) != 0)
            return NULL;
        if (pkt.type == 96)
            return NULL;
        if (pkt.type != 94 || pkt.len < 5 || k->n >= 16) {
            k->rc = -1000;
            return NULL;
        }
        k->tags[k->n++] = tu_be32(pkt.payload + 1);
    }
}

/* Single-threaded client: its rekey flag comes up and session_send has to
 * run the exchange itself, with nobody in session_recv. Messages the
 * server sent before it saw our KEXINIT arrive in the middle of it; they
 * are queued and returned by the next session_recv calls, in order. */
static void
test_send_drives_exchange(void **state)
{
    static const uint8_t done[] = {96, 0, 0, 0, 0};
    sshbpp_kex_info info;
    sshbpp_packet pkt;
    collector col;
    uint32_t i;
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    /* the server's messages wait in the socket, ahead of everything the
     * server sends in the exchange */
    for (i = 0; i < 3; i++)
        send_tagged(&s, 95, i, 40 + i * 300);
    memset(&col, 0, sizeof(col));
    col.e = &s;
    assert_int_equal(pthread_create(&col.th, NULL, collect_thread, &col), 0);

    /* two packets: the message sent after the exchange (one packet under
     * the new keys) does not raise the flag again */
    rekey_soon(&c, 2);
    send_tagged(&c, 94, 0, 60);
    assert_false(sshbpp_packetizer_need_rekey(c.p));
    send_tagged(&c, 94, 1, 60); /* the flag comes up after this one */
    assert_true(sshbpp_packetizer_need_rekey(c.p));
    send_tagged(&c, 94, 2, 60); /* starts the exchange and completes it */
    rekey_default(&c);
    assert_int_equal(sshbpp_session_get_info(c.s, &info), 0);
    assert_int_equal(info.rekeys, 1);
    assert_false(sshbpp_packetizer_need_rekey(c.p));
    for (i = 0; i < 3; i++) {
        assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
        assert_int_equal(pkt.type, 95);
        assert_int_equal(pkt.len, 40 + i * 300);
        assert_int_equal(tu_be32(pkt.payload + 1), i);
    }
    assert_int_equal(sshbpp_session_send(c.s, done, sizeof(done)), 0);
    pthread_join(col.th, NULL);
    assert_int_equal(col.rc, 0);
    assert_int_equal(col.n, 3);
    for (i = 0; i < 3; i++)
        assert_int_equal(col.tags[i], i);
    assert_int_equal(sshbpp_session_get_info(s.s, &info), 0);
    assert_int_equal(info.rekeys, 1);
    end_close(&c);
    end_close(&s);
}

/* The server rekeys on its only thread (session_rekey reads itself) while
 * the single-threaded client keeps sending: the client's messages cross
 * the server's KEXINIT, the server's exchange queues them, and its next
 * session_recv calls return them in order. */
typedef struct rekeyer {
    end *e;
    int rc_rekey, rc;
    uint32_t tags[8];
    unsigned n;
    pthread_t th;
} rekeyer;

static void *
rekeyer_thread(void *arg)
{
    static const uint8_t done[] = {96, 0, 0, 0, 0};
    rekeyer *r = arg;
    sshbpp_packet pkt;
    uint32_t i;

    for (i = 0; i < 3; i++)
        send_tagged(r->e, 95, i, 70);
    r->rc_rekey = sshbpp_session_rekey(r->e->s);
    while (r->n < 4) {
        if ((r->rc = sshbpp_session_recv(r->e->s, &pkt)) != 0)
            return NULL;
        if (pkt.type != 94) {
            r->rc = -1000;
            return NULL;
        }
        r->tags[r->n++] = tu_be32(pkt.payload + 1);
    }
    r->rc = sshbpp_session_send(r->e->s, done, sizeof(done));
    return NULL;
}

static void
test_rekey_queues_crossing(void **state)
{
    sshbpp_packet pkt;
    rekeyer rk;
    uint32_t i;
    end c, s;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    memset(&rk, 0, sizeof(rk));
    rk.e = &s;
    assert_int_equal(pthread_create(&rk.th, NULL, rekeyer_thread, &rk), 0);
    for (i = 0; i < 3; i++)
        send_tagged(&c, 94, i, 80);
    /* the server's three messages precede its KEXINIT: recv returns them
     * without reading the KEXINIT, so the client's gate stays open */
    for (i = 0; i < 3; i++) {
        assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
        assert_int_equal(pkt.type, 95);
        assert_int_equal(tu_be32(pkt.payload + 1), i);
    }
    send_tagged(&c, 94, 3, 80); /* crosses the server's KEXINIT */
    /* answers the server's exchange, then gets its end marker */
    assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
    assert_int_equal(pkt.type, 96);
    pthread_join(rk.th, NULL);
    assert_int_equal(rk.rc_rekey, 0);
    assert_int_equal(rk.rc, 0);
    assert_int_equal(rk.n, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(rk.tags[i], i);
    assert_int_equal(sshbpp_kex_completed(sshbpp_session_kex(c.s)), 2);
    assert_int_equal(sshbpp_kex_completed(sshbpp_session_kex(s.s)), 2);
    end_close(&c);
    end_close(&s);
}

/* A server that only sends (never reads, so never answers our KEXINIT):
 * count messages of len bytes, tagged 0, 1, ... */
typedef struct flood {
    end *e;
    uint32_t count;
    size_t len;
    pthread_t th;
} flood;

static void *
flood_thread(void *arg)
{
    flood *f = arg;
    uint8_t *buf = calloc(1, f->len);
    uint32_t i;

    if (buf == NULL)
        return NULL;
    buf[0] = 95;
    for (i = 0; i < f->count; i++) {
        tu_put_be32(buf + 1, i);
        if (sshbpp_session_send(f->e->s, buf, f->len) != 0)
            break;
    }
    free(buf);
    return NULL;
}

/* The queue is bounded: beyond it the send that drives the exchange fails
 * with SSHBPP_EPROTO. What was queued is still delivered, in order, then
 * the error. */
static void
queue_bound(uint32_t count, size_t len, uint32_t want_queued)
{
    sshbpp_packet pkt;
    flood fl;
    uint32_t i;
    end c, s;

    connect_pair(&c, &s, NULL, NULL);
    rekey_soon(&c, 1);
    send_tagged(&c, 94, 0, 60);
    assert_true(sshbpp_packetizer_need_rekey(c.p));
    memset(&fl, 0, sizeof(fl));
    fl.e = &s;
    fl.count = count;
    fl.len = len;
    assert_int_equal(pthread_create(&fl.th, NULL, flood_thread, &fl), 0);
    /* a send that drives the exchange (watched: without the bound it
     * would wait for the mute server for ever) */
    assert_int_equal(run_watched(&c, 0, 10.0), SSHBPP_EPROTO);
    for (i = 0; i < want_queued; i++) {
        assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
        assert_int_equal(pkt.type, 95);
        assert_int_equal(pkt.len, len);
        assert_int_equal(tu_be32(pkt.payload + 1), i);
    }
    assert_int_equal(sshbpp_session_recv(c.s, &pkt), SSHBPP_EPROTO);
    end_close(&c); /* the flood ends on the closed socket if it has not */
    pthread_join(fl.th, NULL);
    end_close(&s);
}

static void
test_queue_bound(void **state)
{
    (void)state;
    /* 4096 messages fit, the 4097th does not */
    queue_bound(4097, 5, 4096);
    /* 4 MiB of payload: 127 messages of 33000 bytes fit, a 128th does not */
    queue_bound(128, 33000, 127);
}

/* ---- sshbpp_packetizer_close() releases every waiter ---------------------------------------- */

/* An exchange our side started, a mute peer, and a reader thread that
 * leaves session_recv normally (with a message the peer sent before it
 * went mute): the waiting send or rekey is released by sshbpp_packetizer_close() of
 * the Packetizer. Before the fix it waited for a broadcast that nobody was
 * left to send. */
static void
close_releases(int op)
{
    waiter rd, w;
    end c, s;

    connect_pair(&c, &s, NULL, NULL);
    /* send: the rekey flag comes up with the first packet the reader gets
     * (the server's EXT_INFO); whether recv or the send then starts the
     * exchange, the send has to wait for it. Set before the reader runs:
     * the limits are not thread-safe. */
    if (op == 0)
        rekey_soon(&c, 1);
    waiter_start(&rd, &c, 2); /* the reader */
    wait_state(&c, ST_IN_RECV, 1);
    if (op == 0) {
        /* The send only waits once the flag is up, which is when the
         * reader has taken the EXT_INFO: started earlier, on a loaded
         * machine, it went straight out and never waited. The server is
         * mute, so the exchange cannot finish and clear the flag. */
        int i;

        for (i = 0; i < 10000 && !sshbpp_engine_need_rekey(sshbpp_packetizer_engine(c.p)); i++)
            sleep_ms(1);
        assert_true(sshbpp_engine_need_rekey(sshbpp_packetizer_engine(c.p)));
    }
    waiter_start(&w, &c, op); /* waits for the exchange */
    wait_state(&c, ST_WAITERS, 1);
    assert_false(atomic_load(&w.done));
    /* the server (never reading: mute for the exchange) sends one message;
     * the reader returns with it and its thread ends */
    send_tagged(&s, 95, 0, 50);
    waiter_finish(&rd, 5.0);
    assert_int_equal(rd.rc, 0);
    /* with the reader gone the waiter reads itself, from a mute peer */
    wait_state(&c, ST_SELF_READING, 1);
    assert_false(atomic_load(&w.done)); /* the peer still does not answer */
    sshbpp_packetizer_close(c.p);
    assert_true(waiter_finish(&w, 3.0) < 1.0);
    assert_int_equal(w.rc, SSHBPP_ECLOSED);
    end_close(&c);
    end_close(&s);
}

static void
test_close_releases_waiters(void **state)
{
    waiter w;
    end e;
    int sv[2];

    (void)state;
    close_releases(0);
    close_releases(1);
    /* a send before any handshake waits for the gate; nobody reads and no
     * error is recorded by the session, so only the closed Packetizer can
     * end the wait */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    end_open(&e, sv[0], SSHBPP_ROLE_CLIENT, NULL);
    waiter_start(&w, &e, 0);
    wait_state(&e, ST_WAITERS, 1);
    assert_false(atomic_load(&w.done));
    sshbpp_packetizer_close(e.p);
    assert_true(waiter_finish(&w, 3.0) < 1.0);
    assert_int_equal(w.rc, SSHBPP_ECLOSED);
    end_close(&e);
    close(sv[1]);
}

/* ---- the peer refuses our rekey with SSH_MSG_UNIMPLEMENTED ------------------------ */

/* The server end driven by hand through its Packetizer (its session sits
 * idle): waits for the client's KEXINIT and answers it like OpenSSH's sshd
 * before user authentication, with UNIMPLEMENTED naming that packet;
 * first, an UNIMPLEMENTED for another packet, which must pass through. */
typedef struct refuser {
    end *e;
    uint32_t kexinit_seqno;
    int rc;
    pthread_t th;
} refuser;

static void *
refuser_thread(void *arg)
{
    refuser *r = arg;
    sshbpp_packet pkt;
    uint8_t u[5] = {3};

    do {
        if ((r->rc = sshbpp_packetizer_read_message(r->e->p, &pkt)) != 0)
            return NULL;
    } while (pkt.type != 20);
    r->kexinit_seqno = pkt.seqno;
    tu_put_be32(u + 1, pkt.seqno + 1000u);
    if ((r->rc = sshbpp_packetizer_send_message(r->e->p, u, sizeof(u))) != 0)
        return NULL;
    tu_put_be32(u + 1, pkt.seqno);
    r->rc = sshbpp_packetizer_send_message(r->e->p, u, sizeof(u));
    return NULL;
}

static void
rekey_refused(int with_reader)
{
    sshbpp_packet pkt;
    refuser rf;
    waiter rd;
    end c, s;
    int rc;

    connect_pair(&c, &s, NULL, NULL);
    memset(&rf, 0, sizeof(rf));
    rf.e = &s;
    assert_int_equal(pthread_create(&rf.th, NULL, refuser_thread, &rf), 0);
    if (with_reader) {
        /* the reader gets the other UNIMPLEMENTED and leaves; the rekey then
         * reads on itself and meets the refusal */
        waiter_start(&rd, &c, 2);
        wait_state(&c, ST_IN_RECV, 1);
    }
    /* watched: a rekey that keeps waiting for the refusing peer fails the
     * test instead of hanging it */
    rc = run_watched(&c, 1, 5.0);
    pthread_join(rf.th, NULL);
    assert_int_equal(rf.rc, 0);
    assert_int_equal(rc, SSHBPP_EREKEYREFUSED);
    if (with_reader) {
        waiter_finish(&rd, 5.0);
        assert_int_equal(rd.rc, 0);
    } else {
        /* the other UNIMPLEMENTED was queued and comes first */
        assert_int_equal(sshbpp_session_recv(c.s, &pkt), 0);
        assert_int_equal(pkt.type, 3);
        assert_int_equal(pkt.len, 5);
        assert_int_equal(tu_be32(pkt.payload + 1), rf.kexinit_seqno + 1000u);
    }
    assert_int_equal(sshbpp_session_recv(c.s, &pkt), SSHBPP_EREKEYREFUSED);
    assert_int_equal(sshbpp_session_rekey(c.s), SSHBPP_EREKEYREFUSED);
    end_close(&c);
    end_close(&s);
}

static void
test_rekey_refused(void **state)
{
    (void)state;
    rekey_refused(0);
    rekey_refused(1);
}

/* ---- version exchange against a hand-driven peer ------------------------------- */

typedef struct raw_peer {
    int fd;
    const char *script; /* written at once */
    size_t script_len;
    pthread_t th;
} raw_peer;

static void *
raw_thread(void *arg)
{
    raw_peer *r = arg;
    size_t off = 0;

    while (off < r->script_len) {
        ssize_t n = write(r->fd, r->script + off, r->script_len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return NULL;
}

/* Runs one handshake of `role` against a peer that writes `script` and
 * then stays silent. Returns the handshake result. */
static int
against_raw(int role, const char *script, size_t len, double timeout_s, char *peer_ver,
            size_t cap)
{
    raw_peer rp;
    end e;
    int sv[2], rc;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    end_open(&e, sv[0], role, NULL);
    rp.fd = sv[1];
    rp.script = script;
    rp.script_len = len;
    assert_int_equal(pthread_create(&rp.th, NULL, raw_thread, &rp), 0);
    rc = sshbpp_session_handshake(e.s, (int64_t)(timeout_s * 1000.0));
    pthread_join(rp.th, NULL);
    if (peer_ver != NULL) {
        const char *v = sshbpp_session_peer_version(e.s);
        snprintf(peer_ver, cap, "%s", v != NULL ? v : "");
    }
    end_close(&e);
    close(sv[1]);
    return rc;
}

static void
test_version_edge_cases(void **state)
{
    char ver[300], *big;
    size_t i, n;

    (void)state;
    /* lines before the version are skipped by a client; after the version
     * nothing more comes, so the handshake times out in KEX */
    {
        static const char s[] = "Welcome\r\nto the server\nSSH-2.0-peer_1 comment\r\n";
        assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, s, strlen(s), 0.5, ver, sizeof(ver)),
                         SSHBPP_EHANDSHAKE);
        assert_string_equal(ver, "SSH-2.0-peer_1 comment");
    }
    /* 1.99 means "2.0 too" */
    {
        static const char s[] = "SSH-1.99-old\r\n";
        assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, s, strlen(s), 0.5, ver, sizeof(ver)),
                         SSHBPP_EHANDSHAKE);
        assert_string_equal(ver, "SSH-1.99-old");
    }
    /* a server does not accept lines before the version */
    {
        static const char s[] = "hello\r\nSSH-2.0-x\r\n";
        assert_int_equal(against_raw(SSHBPP_ROLE_SERVER, s, strlen(s), 2, NULL, 0),
                         SSHBPP_EBANNER);
    }
    /* SSH 1 only */
    {
        static const char s[] = "SSH-1.5-ancient\r\n";
        assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, s, strlen(s), 2, NULL, 0),
                         SSHBPP_EVERSION);
        assert_int_equal(against_raw(SSHBPP_ROLE_SERVER, s, strlen(s), 2, NULL, 0),
                         SSHBPP_EVERSION);
    }
    /* empty software version */
    {
        static const char s[] = "SSH-2.0-\r\n";
        assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, s, strlen(s), 2, NULL, 0),
                         SSHBPP_EBANNER);
    }
    /* exactly 255 bytes with CR LF is fine, 256 is not */
    big = malloc(20000);
    for (n = 253; n <= 254; n++) {
        memcpy(big, "SSH-2.0-", 8);
        memset(big + 8, 'v', n - 8);
        memcpy(big + n, "\r\n", 3);
        assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, big, n + 2, 0.5, NULL, 0),
                         n == 253 ? SSHBPP_EHANDSHAKE : SSHBPP_EBANNER);
    }
    /* far too long, no newline in sight */
    memcpy(big, "SSH-2.0-", 8);
    memset(big + 8, 'v', 9000);
    assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, big, 9008, 2, NULL, 0), SSHBPP_EBANNER);
    /* 1025 junk lines */
    for (i = 0, n = 0; i < 1025; i++) {
        memcpy(big + n, "x\r\n", 3);
        n += 3;
    }
    memcpy(big + n, "SSH-2.0-late\r\n", 14);
    n += 14;
    assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, big, n, 2, NULL, 0), SSHBPP_EBANNER);
    /* 1024 are tolerated */
    n = 0;
    for (i = 0; i < 1024; i++) {
        memcpy(big + n, "x\r\n", 3);
        n += 3;
    }
    memcpy(big + n, "SSH-2.0-late\r\n", 14);
    n += 14;
    assert_int_equal(against_raw(SSHBPP_ROLE_CLIENT, big, n, 0.5, ver, sizeof(ver)),
                     SSHBPP_EHANDSHAKE);
    assert_string_equal(ver, "SSH-2.0-late");
    free(big);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A peer that never answers: the handshake ends on time. */
static void
test_handshake_timeout(void **state)
{
    double t0;
    int rc;

    (void)state;
    t0 = now_s();
    rc = against_raw(SSHBPP_ROLE_CLIENT, "", 0, 0.4, NULL, 0);
    assert_int_equal(rc, SSHBPP_EHANDSHAKE);
    assert_true(now_s() - t0 >= 0.35);
    assert_true(now_s() - t0 < 3.0);
    /* version sent, then silence during KEX */
    t0 = now_s();
    rc = against_raw(SSHBPP_ROLE_SERVER, "SSH-2.0-mute\r\n", 14, 0.4, NULL, 0);
    assert_int_equal(rc, SSHBPP_EHANDSHAKE);
    assert_true(now_s() - t0 < 3.0);
}

static void
test_bad_arguments(void **state)
{
    sshbpp_packet pkt;
    end e;
    int sv[2];

    (void)state;
    assert_null(sshbpp_session_new(NULL, SSHBPP_ROLE_CLIENT, NULL, NULL));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    end_open(&e, sv[0], SSHBPP_ROLE_CLIENT, NULL);
    assert_null(sshbpp_session_new(e.p, 5, NULL, NULL));
    assert_null(sshbpp_session_new(e.p, SSHBPP_ROLE_CLIENT, NULL, "bad\r\nname"));
    /* before the handshake nothing else works */
    assert_int_equal(sshbpp_session_recv(e.s, &pkt), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_session_rekey(e.s), SSHBPP_EINVAL);
    assert_null(sshbpp_session_peer_version(e.s));
    end_close(&e);
    close(sv[1]);
}

/* ---- keepalive stays out of a running exchange -------------------------------- */

unsigned long sshbpp__session_test_ka_skipped(sshbpp_session *s);

static atomic_uint ka_count;

static void
pause_1ms(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static void
ka_send_ignore(sshbpp_packetizer *p, void *ctx)
{
    static const uint8_t ign[] = {2, 0, 0, 0, 2, 'k', 'a'};
    (void)ctx;
    if (sshbpp_packetizer_send_message(p, ign, sizeof(ign)) == 0)
        atomic_fetch_add(&ka_count, 1);
}

struct recv_job {
    end *e;
    int rc;
    uint8_t type;
};

static void *
recv_thread(void *arg)
{
    struct recv_job *j = arg;
    sshbpp_packet pkt;

    j->rc = sshbpp_session_recv(j->e->s, &pkt);
    j->type = j->rc == 0 ? pkt.type : 0;
    return NULL;
}

static void *
rekey_thread(void *arg)
{
    end *e = arg;
    e->rc = sshbpp_session_rekey(e->s);
    return NULL;
}

/* Waits up to 10 s for *v >= want; returns whether it got there. */
static int
wait_atleast(atomic_uint *v, unsigned want)
{
    for (int i = 0; i < 10000 && atomic_load(v) < want; i++)
        pause_1ms();
    return atomic_load(v) >= want;
}

/* The peer stalls in the middle of a rekey (it has our KEXINIT and does not
 * answer) for many keepalive intervals: no keepalive goes out meanwhile,
 * though the reader wakes and the timer runs out again and again; once the
 * exchange is over the keepalive resumes. */
static void
test_keepalive_not_inside_exchange(void **state)
{
    struct recv_job cj, sj;
    pthread_t ct, st, rt;
    unsigned before;
    end c, s;
    int i;

    (void)state;
    connect_pair(&c, &s, NULL, NULL);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(c.p, 5), 0);
    atomic_store(&ka_count, 0);
    assert_int_equal(sshbpp_session_set_keepalive(c.s, 20, ka_send_ignore, NULL), 0);
    cj.e = &c;
    assert_int_equal(pthread_create(&ct, NULL, recv_thread, &cj), 0);
    /* idle: the keepalive runs */
    assert_true(wait_atleast(&ka_count, 2));

    /* Our KEXINIT goes out; the server reads nothing. */
    assert_int_equal(pthread_create(&rt, NULL, rekey_thread, &c), 0);
    for (i = 0; i < 10000 && !sshbpp_kex_running(sshbpp_session_kex(c.s)); i++)
        pause_1ms();
    assert_true(sshbpp_kex_running(sshbpp_session_kex(c.s)));
    before = atomic_load(&ka_count);
    {
        /* at least 8 intervals of 20 ms with the exchange stalled */
        unsigned long skipped0 = sshbpp__session_test_ka_skipped(c.s);
        for (i = 0; i < 10000 && sshbpp__session_test_ka_skipped(c.s) < skipped0 + 8; i++)
            pause_1ms();
        assert_true(sshbpp__session_test_ka_skipped(c.s) >= skipped0 + 8);
    }
    assert_true(sshbpp_kex_running(sshbpp_session_kex(c.s)));
    assert_int_equal(atomic_load(&ka_count), before); /* nothing sent mid-exchange */

    /* The server reads again: the exchange completes. */
    sj.e = &s;
    assert_int_equal(pthread_create(&st, NULL, recv_thread, &sj), 0);
    pthread_join(rt, NULL);
    assert_int_equal(c.rc, 0);
    assert_int_equal(sshbpp_kex_completed(sshbpp_session_kex(c.s)), 2);
    /* and the keepalive resumes */
    assert_true(wait_atleast(&ka_count, before + 2));
    send_tagged(&c, 94, 1, 16);
    pthread_join(st, NULL);
    assert_int_equal(sj.rc, 0);
    assert_int_equal(sj.type, 94); /* the IGNOREs were dropped, nothing else came */
    send_tagged(&s, 95, 2, 16);
    pthread_join(ct, NULL);
    assert_int_equal(cj.rc, 0);
    assert_int_equal(cj.type, 95);
    assert_int_equal(sshbpp_session_set_keepalive(NULL, 20, ka_send_ignore, NULL), SSHBPP_EINVAL);
    end_close(&c);
    end_close(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_traffic),
        cmocka_unit_test(test_rekey_client_concurrent),
        cmocka_unit_test(test_rekey_server_concurrent),
        cmocka_unit_test(test_rekey_both_concurrent),
        cmocka_unit_test(test_rekey_automatic),
        cmocka_unit_test(test_rekey_without_reader),
        cmocka_unit_test(test_send_drives_exchange),
        cmocka_unit_test(test_rekey_queues_crossing),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_close_releases_waiters),
        cmocka_unit_test(test_rekey_refused),
        cmocka_unit_test(test_version_edge_cases),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_keepalive_not_inside_exchange),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
