/*
 * test_session.c: the blocking session (sshbpp_session) over a socketpair,
 * the server side in a thread: handshake, traffic both ways, rekeys from
 * either side while other threads keep sending (nothing lost, order kept),
 * automatic rekeys from tiny rekey limits, the version exchange's edge
 * cases against a hand-driven peer, the handshake timeout and DISCONNECT.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
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

#include "sshbpp/sshbpp_kex.h"
#include "testutil.h"

#define TIMEOUT 20.0

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
    sshbpp_close(e->p);
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
    volatile int in_recv;
    pthread_t reader, sender;
} flow;

static void *
reader(void *arg)
{
    flow *f = arg;
    sshbpp_packet pkt;
    int r;

    f->in_recv = 1;
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

/* Watches one end's outgoing packets: RFC 4253 7.1 allows no connection
 * message between our KEXINIT and our NEWKEYS. Called under the
 * Packetizer's write lock, so plain fields suffice. */
typedef struct order_watch {
    int in_kex;
    unsigned violations, kexinits;
} order_watch;

static void
watch_trace(void *ctx, int dir, uint8_t type, size_t payload_len, size_t wire_len, uint32_t seqno)
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
    while (!fc.in_recv || !fs.in_recv)
        sleep_ms(1);
    sleep_ms(20);
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
    /* now a server message arrives while the client rekeys alone: there is
     * nobody to hand it to */
    send_tagged(&s, 95, 0, 50);
    sleep_ms(50);
    assert_int_equal(sshbpp_session_rekey(c.s), SSHBPP_EKEXORDER);
    assert_int_equal(sshbpp_session_recv(c.s, &pkt), SSHBPP_EKEXORDER);
    end_close(&c);
    end_close(&s);
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
against_raw(int role, const char *script, size_t len, double timeout, char *peer_ver, size_t cap)
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
    rc = sshbpp_session_handshake(e.s, timeout);
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
        cmocka_unit_test(test_version_edge_cases),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
