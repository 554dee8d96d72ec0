/*
 * test_packetizer.c: the blocking Packetizer (sshbpp_io.h) over real
 * socketpairs and scripted callback transports, with threads.
 *
 * Waits are kept short and bounds generous: a timer "fires" means "within a
 * few seconds", never "within N ms", so that a loaded machine does not make
 * the tests flaky. Helper threads never call cmocka asserts (those longjmp
 * on the main thread's stack); they record results that the main thread
 * checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "sshbpp/sshbpp_io.h"

#define POLL_MS 20 /* poll interval used by most tests: fast idle wake-ups */
#define MSG_TYPE 94 /* channel-data */

/* ---------------------------------------------------------------------- */
/* small helpers                                                          */

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void
make_sockets(int s[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
}

/* Two Packetizers on the two ends of a socketpair, owning their fds. */
static void
make_pair(sshbpp_packetizer **a, sshbpp_packetizer **b)
{
    int s[2];

    make_sockets(s);
    *a = sshbpp_packetizer_new_fd(s[0], 1);
    *b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(*a);
    assert_non_null(*b);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(*a, POLL_MS), 0);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(*b, POLL_MS), 0);
}

static void
write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Wire bytes of one unencrypted packet, made by a separate engine. */
static uint8_t *
plain_wire(const uint8_t *payload, size_t len, size_t *wire_len)
{
    sshbpp_engine *e = sshbpp_engine_new();
    const uint8_t *d;
    uint8_t *copy;
    size_t n;

    assert_non_null(e);
    assert_int_equal(sshbpp_engine_send(e, payload, len), 0);
    d = sshbpp_engine_tx_data(e, &n);
    assert_non_null(d);
    copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, d, n);
    sshbpp_engine_free(e);
    *wire_len = n;
    return copy;
}

/* ---- deterministic messages ---- */

static uint32_t
mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Size of message idx of thread tid in the concurrent tests: 6..70000. */
static size_t
thread_msg_size(unsigned tid, unsigned idx)
{
    return 6 + mix32(tid * 1000003U + idx) % 69995U;
}

/* Type byte, then (for size >= 6) the thread id and the big-endian index,
 * then a pattern depending on both. */
static void
fill_msg(uint8_t *buf, size_t size, unsigned tid, unsigned idx)
{
    size_t j = 1;

    buf[0] = MSG_TYPE;
    if (size >= 6) {
        buf[1] = (uint8_t)tid;
        buf[2] = (uint8_t)(idx >> 24);
        buf[3] = (uint8_t)(idx >> 16);
        buf[4] = (uint8_t)(idx >> 8);
        buf[5] = (uint8_t)idx;
        j = 6;
    }
    for (; j < size; j++)
        buf[j] = (uint8_t)(tid * 31U + idx * 7U + (unsigned)j * 13U + (unsigned)(j >> 8));
}

static int
msg_matches(const sshbpp_packet *pkt, size_t size, unsigned tid, unsigned idx)
{
    uint8_t *want;
    int ok;

    if (pkt->len != size || pkt->type != MSG_TYPE)
        return 0;
    want = malloc(size);
    if (want == NULL)
        return 0;
    fill_msg(want, size, tid, idx);
    ok = memcmp(want, pkt->payload, size) == 0;
    free(want);
    return ok;
}

/* ---- keys ---- */

typedef struct keyset {
    uint8_t key[64], iv[16], mac_key[64];
    sshbpp_keys k;
} keyset;

static void
keyset_make(keyset *ks, const char *cipher, const char *mac, uint8_t seed)
{
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi;
    size_t i;

    memset(ks, 0, sizeof(*ks));
    for (i = 0; i < sizeof(ks->key); i++) {
        ks->key[i] = (uint8_t)(seed + i);
        ks->mac_key[i] = (uint8_t)(seed * 3U + i * 5U);
    }
    for (i = 0; i < sizeof(ks->iv); i++)
        ks->iv[i] = (uint8_t)(seed ^ (i * 17U));
    ks->k.cipher = cipher;
    if (cipher != NULL) {
        assert_int_equal(sshbpp_cipher_get_info(cipher, &ci), 0);
        ks->k.key = ks->key;
        ks->k.key_len = ci.key_len;
        ks->k.iv = ks->iv;
        ks->k.iv_len = ci.iv_len;
        if (ci.aead)
            mac = NULL;
    }
    ks->k.mac = mac;
    if (mac != NULL) {
        assert_int_equal(sshbpp_mac_get_info(mac, &mi), 0);
        ks->k.mac_key = ks->mac_key;
        ks->k.mac_key_len = mi.key_len;
    }
}

/* Keys for a -> b. */
static void
key_direction(sshbpp_packetizer *a, sshbpp_packetizer *b, const keyset *ks)
{
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(a, &ks->k), 0);
    assert_int_equal(sshbpp_packetizer_set_inbound_cipher(b, &ks->k), 0);
}

/* Closes a Packetizer after a while unless stopped first, so that a broken
 * timer makes a test fail (the blocked read returns SSHBPP_ECLOSED) instead
 * of hanging. */
struct watchdog {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sshbpp_packetizer *p;
    int stop;
    int fired;
};

static void *
watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&w->mu);
    while (!w->stop && rc == 0)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    if (!w->stop) {
        w->fired = 1;
        sshbpp_packetizer_close(w->p);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void
watchdog_start(struct watchdog *w, sshbpp_packetizer *p)
{
    memset(w, 0, sizeof(*w));
    w->p = p;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    assert_int_equal(pthread_create(&w->th, NULL, watchdog_main, w), 0);
}

static void
watchdog_stop(struct watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    assert_int_equal(w->fired, 0);
}

/* ---------------------------------------------------------------------- */
/* round trips                                                            */

struct sender {
    pthread_t th;
    sshbpp_packetizer *p;
    unsigned tid;
    unsigned count;
    int sweep; /* 1: the size sweep, else random sizes */
    int result;
};

static const size_t sweep_big[] = {1000, 4095, 4096, 4097, 16384, 32768, 35000,
                                   65535, 65536, 65537, 69999, 70000};
#define SWEEP_SMALL 300
#define SWEEP_COUNT (SWEEP_SMALL + sizeof(sweep_big) / sizeof(sweep_big[0]))

static size_t
sweep_size(unsigned i)
{
    return i < SWEEP_SMALL ? (size_t)i + 1 : sweep_big[i - SWEEP_SMALL];
}

static void *
sender_main(void *arg)
{
    struct sender *s = arg;
    uint8_t *buf = malloc(70000);
    unsigned i;

    s->result = buf == NULL ? -1000 : 0;
    for (i = 0; i < s->count && s->result == 0; i++) {
        size_t size = s->sweep ? sweep_size(i) : thread_msg_size(s->tid, i);
        fill_msg(buf, size, s->tid, i);
        s->result = sshbpp_packetizer_send_message(s->p, buf, size);
    }
    free(buf);
    return NULL;
}

#define NTHREADS 4
#define PER_THREAD 40

/* Sizes 1..300 plus large ones in order from one thread, then NTHREADS
 * threads sending at once: every message arrives intact, exactly once. */
static void
roundtrip(const char *cipher, const char *mac, const char *comp)
{
    sshbpp_packetizer *a, *b;
    struct sender one, many[NTHREADS];
    struct watchdog wd;
    unsigned char seen[NTHREADS][PER_THREAD];
    uint8_t small[20];
    sshbpp_packet pkt;
    keyset k1, k2;
    unsigned i, t;

    make_pair(&a, &b);
    watchdog_start(&wd, b);
    if (cipher != NULL) {
        keyset_make(&k1, cipher, mac, 1);
        keyset_make(&k2, cipher, mac, 2);
        key_direction(a, b, &k1);
        key_direction(b, a, &k2);
    }
    if (comp != NULL) {
        assert_int_equal(sshbpp_packetizer_set_outbound_compressor(a, comp), 0);
        assert_int_equal(sshbpp_packetizer_set_inbound_compressor(b, comp), 0);
    }

    memset(&one, 0, sizeof(one));
    one.p = a;
    one.count = (unsigned)SWEEP_COUNT;
    one.sweep = 1;
    assert_int_equal(pthread_create(&one.th, NULL, sender_main, &one), 0);
    for (i = 0; i < SWEEP_COUNT; i++) {
        int r = sshbpp_packetizer_read_message(b, &pkt);
        if (r != 0)
            fail_msg("sweep message %u: %s", i, sshbpp_err_name(r));
        if (!msg_matches(&pkt, sweep_size(i), 0, i))
            fail_msg("sweep message %u (size %zu) corrupted (got len %zu)", i, sweep_size(i),
                     pkt.len);
        assert_int_equal(pkt.seqno, i);
    }
    pthread_join(one.th, NULL);
    assert_int_equal(one.result, 0);

    /* and the other direction, one message, so both key sets are used */
    fill_msg(small, sizeof(small), 9, 9);
    assert_int_equal(sshbpp_packetizer_send_message(b, small, sizeof(small)), 0);
    assert_int_equal(sshbpp_packetizer_read_message(a, &pkt), 0);
    assert_true(msg_matches(&pkt, 20, 9, 9));

    memset(seen, 0, sizeof(seen));
    for (t = 0; t < NTHREADS; t++) {
        memset(&many[t], 0, sizeof(many[t]));
        many[t].p = a;
        many[t].tid = t + 1;
        many[t].count = PER_THREAD;
        assert_int_equal(pthread_create(&many[t].th, NULL, sender_main, &many[t]), 0);
    }
    for (i = 0; i < NTHREADS * PER_THREAD; i++) {
        unsigned tid, idx;
        int r = sshbpp_packetizer_read_message(b, &pkt);
        if (r != 0)
            fail_msg("threaded message %u: %s", i, sshbpp_err_name(r));
        assert_true(pkt.len >= 6);
        tid = pkt.payload[1];
        idx = (unsigned)pkt.payload[2] << 24 | (unsigned)pkt.payload[3] << 16 |
              (unsigned)pkt.payload[4] << 8 | pkt.payload[5];
        assert_true(tid >= 1 && tid <= NTHREADS);
        assert_true(idx < PER_THREAD);
        if (!msg_matches(&pkt, thread_msg_size(tid, idx), tid, idx))
            fail_msg("message %u of thread %u corrupted", idx, tid);
        assert_int_equal(seen[tid - 1][idx], 0);
        seen[tid - 1][idx] = 1;
    }
    for (t = 0; t < NTHREADS; t++) {
        pthread_join(many[t].th, NULL);
        assert_int_equal(many[t].result, 0);
    }
    for (t = 0; t < NTHREADS; t++)
        for (i = 0; i < PER_THREAD; i++)
            assert_int_equal(seen[t][i], 1);
    watchdog_stop(&wd);

    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

static void
test_roundtrip_none(void **state)
{
    (void)state;
    roundtrip(NULL, NULL, NULL);
}

static void
test_roundtrip_aes128ctr_hmac_sha2_256(void **state)
{
    (void)state;
    roundtrip("aes128-ctr", "hmac-sha2-256", NULL);
}

static void
test_roundtrip_chacha20_poly1305(void **state)
{
    (void)state;
    roundtrip("chacha20-poly1305@openssh.com", NULL, NULL);
}

static void
test_roundtrip_aes256gcm_zlib(void **state)
{
    (void)state;
    roundtrip("aes256-gcm@openssh.com", NULL, "zlib@openssh.com");
}

static void
test_roundtrip_aes256ctr_etm(void **state)
{
    (void)state;
    roundtrip("aes256-ctr", "hmac-sha2-256-etm@openssh.com", NULL);
}

/* ---------------------------------------------------------------------- */
/* readline                                                                */

/* The banner and two packets in one write: the bytes after the line must
 * reach read_message. */
static void
test_readline_banner_then_packets(void **state)
{
    static const char banner[] = "SSH-2.0-sshbpp_test\r\n";
    uint8_t payload1[40], payload2[3000];
    uint8_t *w1, *w2, *all;
    size_t n1, n2, blen = sizeof(banner) - 1;
    sshbpp_packet pkt;
    char line[256];
    int s[2];
    sshbpp_packetizer *b;

    (void)state;
    fill_msg(payload1, sizeof(payload1), 0, 1);
    fill_msg(payload2, sizeof(payload2), 0, 2);
    w1 = plain_wire(payload1, sizeof(payload1), &n1);
    w2 = plain_wire(payload2, sizeof(payload2), &n2);
    all = malloc(blen + n1 + n2);
    assert_non_null(all);
    memcpy(all, banner, blen);
    memcpy(all + blen, w1, n1);
    memcpy(all + blen + n1, w2, n2);

    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    write_full(s[0], all, blen + n1 + n2);

    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 19);
    assert_string_equal(line, "SSH-2.0-sshbpp_test");
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_true(msg_matches(&pkt, sizeof(payload1), 0, 1));
    /* the first packet was sent by a different engine: seqno 0 each */
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_true(msg_matches(&pkt, sizeof(payload2), 0, 2));

    free(w1);
    free(w2);
    free(all);
    close(s[0]);
    sshbpp_packetizer_free(b);
}

static void
test_readline_endings(void **state)
{
    sshbpp_packetizer *b;
    char line[64];
    int s[2];

    (void)state;
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    write_full(s[0], "crlf\r\nlf\nabc\r\r\n\n\r\n", 18);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 4);
    assert_string_equal(line, "crlf");
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 2);
    assert_string_equal(line, "lf");
    /* only one trailing "\r" goes */
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 4);
    assert_string_equal(line, "abc\r");
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 0);
    assert_string_equal(line, "");
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 0);
    assert_string_equal(line, "");

    /* a line arriving in pieces */
    write_full(s[0], "SSH-2.0", 7);
    sleep_ms(30);
    write_full(s[0], "-x\r", 3);
    sleep_ms(30);
    write_full(s[0], "\n", 1);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 9);
    assert_string_equal(line, "SSH-2.0-x");

    close(s[0]);
    sshbpp_packetizer_free(b);
}

static void
test_readline_timeout(void **state)
{
    sshbpp_packetizer *b;
    char line[64];
    double t0, dt;
    long r;
    int s[2];

    (void)state;
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    write_full(s[0], "partial", 7);
    t0 = now_s();
    r = sshbpp_packetizer_readline(b, line, sizeof(line), 200);
    dt = now_s() - t0;
    assert_int_equal(r, SSHBPP_ETIMEDOUT);
    assert_true(dt >= 0.15);
    assert_true(dt < 10.0);
    /* soft: nothing lost, the connection still works */
    assert_int_equal(sshbpp_engine_error(sshbpp_packetizer_engine(b)), 0);
    write_full(s[0], " line\n", 6);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 12);
    assert_string_equal(line, "partial line");
    close(s[0]);
    sshbpp_packetizer_free(b);
}

static void
test_readline_too_long(void **state)
{
    sshbpp_packetizer *b;
    char line[16];
    int s[2];

    (void)state;
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    write_full(s[0], "0123456789012345678901234567890123456789", 40);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), SSHBPP_ELINELONG);
    /* fatal and sticky */
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), SSHBPP_ELINELONG);
    assert_int_equal(sshbpp_engine_error(sshbpp_packetizer_engine(b)), SSHBPP_ELINELONG);
    /* a too-small buffer is the caller's problem, not fatal */
    close(s[0]);
    sshbpp_packetizer_free(b);

    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    assert_int_equal(sshbpp_packetizer_readline(b, line, 0, 2000), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_engine_error(sshbpp_packetizer_engine(b)), 0);
    close(s[0]);
    sshbpp_packetizer_free(b);
}

static void
test_readline_eof(void **state)
{
    sshbpp_packetizer *b;
    char line[64];
    int s[2];

    (void)state;
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    write_full(s[0], "no newline", 10);
    close(s[0]);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), SSHBPP_EEOF);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), SSHBPP_EEOF);
    sshbpp_packetizer_free(b);
}

/* A peer that sends its banner one byte every 100 ms restarts readline's
 * per-chunk timeout forever; the handshake timer must still end it. */
struct trickler {
    int fd;
    atomic_int stop;
};

static void *
trickle_main(void *arg)
{
    struct trickler *t = arg;
    int i;

    for (i = 0; i < 60 && !atomic_load(&t->stop); i++) {
        if (write(t->fd, "S", 1) != 1)
            break;
        sleep_ms(100);
    }
    return NULL;
}

static void
test_readline_trickle_handshake_timeout(void **state)
{
    struct trickler t;
    sshbpp_packetizer *b;
    pthread_t th;
    char line[4096];
    int s[2];
    double t0;

    (void)state;
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    t.fd = s[0];
    atomic_init(&t.stop, 0);
    assert_int_equal(pthread_create(&th, NULL, trickle_main, &t), 0);
    sshbpp_packetizer_start_handshake(b, 500);
    t0 = now_s();
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 1000), SSHBPP_EHANDSHAKE);
    /* well before the 6 s the trickle would last */
    assert_true(now_s() - t0 < 4.0);
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    close(s[0]);
    sshbpp_packetizer_free(b);
}

/* ---------------------------------------------------------------------- */
/* EOF                                                                     */

static void
test_eof_mid_packet(void **state)
{
    static const size_t cuts[] = {1, 3, 4, 5, 8, 50, 0 /* len-1 */};
    uint8_t payload[100];
    sshbpp_packet pkt;
    uint8_t *w;
    size_t n, i;

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 5);
    w = plain_wire(payload, sizeof(payload), &n);
    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        size_t cut = cuts[i] != 0 ? cuts[i] : n - 1;
        sshbpp_packetizer *b;
        int s[2];

        make_sockets(s);
        b = sshbpp_packetizer_new_fd(s[1], 1);
        assert_non_null(b);
        assert_int_equal(sshbpp_packetizer_set_poll_interval(b, POLL_MS), 0);
        /* one whole packet first: EOF must be judged on the second */
        write_full(s[0], w, n);
        write_full(s[0], w, cut);
        assert_int_equal(shutdown(s[0], SHUT_WR), 0);
        assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
        assert_true(msg_matches(&pkt, sizeof(payload), 0, 5));
        if (sshbpp_packetizer_read_message(b, &pkt) != SSHBPP_EEOFPKT)
            fail_msg("cut at %zu: not EEOFPKT", cut);
        /* sticky, for reads and sends */
        assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EEOFPKT);
        assert_int_equal(sshbpp_packetizer_send_message(b, payload, 10), SSHBPP_EEOFPKT);
        close(s[0]);
        sshbpp_packetizer_free(b);
    }
    free(w);
}

/* Class 11 of the peer survey: EOF at every byte offset of a keyed
 * packet. Offset 0 is a clean EOF between packets; every other offset is
 * EOF inside the packet, and no partial packet is ever returned. */
static void
test_eof_every_offset(void **state)
{
    static const uint8_t key[64] = {9, 8, 7};
    sshbpp_keys k = {"chacha20-poly1305@openssh.com", key, 64, NULL, 0, NULL, NULL, 0};
    sshbpp_engine *tx = sshbpp_engine_new();
    uint8_t payload[70];
    const uint8_t *w;
    size_t n, cut;
    sshbpp_packet pkt;

    (void)state;
    assert_non_null(tx);
    assert_int_equal(sshbpp_engine_set_keys(tx, SSHBPP_DIR_OUT, &k), 0);
    fill_msg(payload, sizeof(payload), 0, 7);
    assert_int_equal(sshbpp_engine_send(tx, payload, sizeof(payload)), 0);
    w = sshbpp_engine_tx_data(tx, &n);
    assert_non_null(w);
    for (cut = 0; cut < n; cut++) {
        sshbpp_packetizer *b;
        int s[2], r;

        make_sockets(s);
        b = sshbpp_packetizer_new_fd(s[1], 1);
        assert_non_null(b);
        assert_int_equal(sshbpp_packetizer_set_poll_interval(b, POLL_MS), 0);
        assert_int_equal(sshbpp_packetizer_set_inbound_cipher(b, &k), 0);
        write_full(s[0], w, cut);
        assert_int_equal(shutdown(s[0], SHUT_WR), 0);
        r = sshbpp_packetizer_read_message(b, &pkt);
        if (r != (cut == 0 ? SSHBPP_EEOF : SSHBPP_EEOFPKT))
            fail_msg("cut at %zu of %zu: got %s", cut, n, sshbpp_err_name(r));
        close(s[0]);
        sshbpp_packetizer_free(b);
    }
    sshbpp_engine_free(tx);
}

static void
test_eof_between_packets(void **state)
{
    uint8_t payload[33], buf[4];
    sshbpp_packetizer *b;
    sshbpp_packet pkt;
    uint8_t *w;
    size_t n;
    int s[2];

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 6);
    w = plain_wire(payload, sizeof(payload), &n);
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    write_full(s[0], w, n);
    write_full(s[0], w, n);
    close(s[0]);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_true(msg_matches(&pkt, sizeof(payload), 0, 6));
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EEOF);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EEOF);
    assert_int_equal(sshbpp_packetizer_read_all(b, buf, sizeof(buf), 0), SSHBPP_EEOF);
    /* EOF is not close(): the closed flag is the owner's */
    assert_int_equal(sshbpp_packetizer_closed(b), 0);
    sshbpp_packetizer_free(b);
    free(w);
}

/* ---------------------------------------------------------------------- */
/* read_all / write_all                                                    */

static void
test_read_all_write_all(void **state)
{
    sshbpp_packetizer *a, *b;
    uint8_t buf[16];
    char line[32];

    (void)state;
    make_pair(&a, &b);
    assert_int_equal(sshbpp_packetizer_write_all(a, "LINE\r\nhello world", 17), 0);
    assert_int_equal(sshbpp_packetizer_write_all(a, "", 0), 0);
    assert_int_equal(sshbpp_packetizer_readline(b, line, sizeof(line), 2000), 4);
    assert_string_equal(line, "LINE");
    /* buffered bytes first, then more from the socket */
    assert_int_equal(sshbpp_packetizer_read_all(b, buf, 5, 0), 0);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(sshbpp_packetizer_write_all(a, "!?", 2), 0);
    assert_int_equal(sshbpp_packetizer_read_all(b, buf, 8, 0), 0);
    assert_memory_equal(buf, " world!?", 8);
    assert_int_equal(sshbpp_packetizer_read_all(b, buf, 0, 0), 0);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

/* ---------------------------------------------------------------------- */
/* EINTR                                                                   */

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

struct reader {
    pthread_t th;
    sshbpp_packetizer *p;
    sshbpp_packet pkt;
    uint8_t copy[256];
    size_t len;
    int result;
    atomic_int done;
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;

    r->result = sshbpp_packetizer_read_message(r->p, &r->pkt);
    if (r->result == 0) {
        r->len = r->pkt.len < sizeof(r->copy) ? r->pkt.len : sizeof(r->copy);
        memcpy(r->copy, r->pkt.payload, r->len);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static void
start_reader(struct reader *r, sshbpp_packetizer *p)
{
    memset(r, 0, sizeof(*r));
    r->p = p;
    atomic_init(&r->done, 0);
    assert_int_equal(pthread_create(&r->th, NULL, reader_main, r), 0);
}

/* read() itself interrupted. The test binary is linked with
 * -Wl,--wrap=read: while armed for one fd, the wrapper first makes a real,
 * blocking read() on an empty pipe, which only a signal ends (EINTR from
 * the kernel), and returns that to the Packetizer; each such interrupted
 * read is counted. The data is already in the socket, so poll() says
 * readable and it is the read() that the signal hits. */
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

static atomic_int wrap_fd = -1, wrap_pending, wrap_eintr, wrap_blocked;
static int wrap_block_fd = -1;

ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
    if (fd >= 0 && fd == atomic_load(&wrap_fd) && atomic_load(&wrap_pending) > 0) {
        char c;
        ssize_t r;
        atomic_store(&wrap_blocked, 1);
        r = __real_read(wrap_block_fd, &c, 1);
        atomic_store(&wrap_blocked, 0);
        if (r < 0 && errno == EINTR) {
            atomic_fetch_add(&wrap_eintr, 1);
            atomic_fetch_sub(&wrap_pending, 1);
            errno = EINTR;
            return -1;
        }
        errno = EIO; /* the pipe is never written: cannot happen */
        return -1;
    }
    return __real_read(fd, buf, n);
}

static void
test_eintr_read(void **state)
{
    struct sigaction sa, old;
    sshbpp_packetizer *a, *b;
    struct reader rd;
    uint8_t payload[50];
    int s[2], pipefd[2], i;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    assert_int_equal(pipe(pipefd), 0);
    wrap_block_fd = pipefd[0];

    make_sockets(s);
    a = sshbpp_packetizer_new_fd(s[0], 1);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(a);
    assert_non_null(b);
    fill_msg(payload, sizeof(payload), 0, 7);
    assert_int_equal(sshbpp_packetizer_send_message(a, payload, sizeof(payload)), 0);
    atomic_store(&wrap_eintr, 0);
    atomic_store(&wrap_pending, 5);
    atomic_store(&wrap_fd, s[1]);
    start_reader(&rd, b);
    /* Signal the reader whenever it sits in the blocking read, until five
     * reads were interrupted (bounded: 10 s). */
    for (i = 0; i < 10000 && atomic_load(&wrap_eintr) < 5; i++) {
        if (atomic_load(&wrap_blocked))
            assert_int_equal(pthread_kill(rd.th, SIGALRM), 0);
        sleep_ms(1);
    }
    assert_int_equal(atomic_load(&wrap_eintr), 5);
    pthread_join(rd.th, NULL);
    atomic_store(&wrap_fd, -1);
    /* every interrupted read was retried, and the message came through */
    assert_int_equal(rd.result, 0);
    assert_int_equal(rd.len, sizeof(payload));
    assert_memory_equal(rd.copy, payload, sizeof(payload));

    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
    close(pipefd[0]);
    close(pipefd[1]);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
}

/* Signals without SA_RESTART interrupt poll(); the read goes on. */
static void
test_eintr_poll(void **state)
{
    struct sigaction sa, old;
    sshbpp_packetizer *a, *b;
    struct reader rd;
    uint8_t payload[50];
    int i;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    alarms = 0;

    make_pair(&a, &b);
    /* a long poll interval: only the signals wake the reader */
    assert_int_equal(sshbpp_packetizer_set_poll_interval(b, 60000), 0);
    start_reader(&rd, b);
    sleep_ms(50);
    for (i = 0; i < 5; i++) {
        assert_int_equal(pthread_kill(rd.th, SIGALRM), 0);
        sleep_ms(20);
    }
    assert_int_equal(atomic_load(&rd.done), 0);
    fill_msg(payload, sizeof(payload), 0, 7);
    assert_int_equal(sshbpp_packetizer_send_message(a, payload, sizeof(payload)), 0);
    pthread_join(rd.th, NULL);
    assert_int_equal(rd.result, 0);
    assert_int_equal(rd.len, sizeof(payload));
    assert_memory_equal(rd.copy, payload, sizeof(payload));
    assert_true(alarms >= 5);

    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
}

/* ---------------------------------------------------------------------- */
/* scripted callback transports                                            */

/* Write script entries: >= 0 accept at most that many bytes, negative:
 * fail with that errno (-EAGAIN, ...). After the script: accept everything
 * (or, with after < 0, repeat `after` forever). Reads come from fd. */
struct cbt {
    int fd; /* for read; -1: reads time out */
    const int *script;
    size_t nscript;
    int cycle;  /* 1: repeat the script forever */
    size_t pos;
    unsigned write_calls;
    atomic_uint read_calls; /* read from the test thread while a reader runs */
    sshbpp_packetizer *nest; /* if set: the first write calls send on it */
    int nest_result;
    uint8_t *sink; /* NULL: write to fd */
    size_t sink_len, sink_cap;
    int closed;
};

static long
cbt_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    struct cbt *t = ctx;
    struct pollfd pfd;
    int r;

    t->read_calls++;
    if (t->fd < 0) {
        sleep_ms(timeout_ms < 0 ? 10 : timeout_ms);
        errno = ETIMEDOUT;
        return -1;
    }
    pfd.fd = t->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, timeout_ms);
    if (r == 0) {
        errno = EAGAIN;
        return -1;
    }
    if (r < 0)
        return -1;
    return (long)read(t->fd, buf, len);
}

static long
cbt_write(void *ctx, const void *buf, size_t len)
{
    struct cbt *t = ctx;
    size_t n = len;

    t->write_calls++;
    if (t->nest != NULL) {
        static const uint8_t inner[] = {2, 0, 0, 0, 0};
        sshbpp_packetizer *p = t->nest;
        t->nest = NULL;
        t->nest_result = sshbpp_packetizer_send_message(p, inner, sizeof(inner));
    }
    if (t->pos < t->nscript || (t->cycle && t->nscript > 0)) {
        int step = t->script[t->pos % t->nscript];
        t->pos++;
        if (step < 0) {
            errno = -step;
            return -1;
        }
        if ((size_t)step < n)
            n = (size_t)step;
    }
    if (n == 0)
        return 0;
    if (t->sink == NULL)
        return (long)write(t->fd, buf, n);
    if (t->sink_len + n > t->sink_cap) {
        t->sink_cap = (t->sink_len + n) * 2;
        t->sink = realloc(t->sink, t->sink_cap);
        if (t->sink == NULL)
            abort();
    }
    memcpy(t->sink + t->sink_len, buf, n);
    t->sink_len += n;
    return (long)n;
}

static void
cbt_close(void *ctx)
{
    struct cbt *t = ctx;
    t->closed++;
}

static const sshbpp_io_callbacks cbt_ops = {cbt_read, cbt_write, cbt_close};

static sshbpp_packetizer *
cbt_new(struct cbt *t, const int *script, size_t n, int cycle)
{
    sshbpp_packetizer *p;

    memset(t, 0, sizeof(*t));
    t->fd = -1;
    t->script = script;
    t->nscript = n;
    t->cycle = cycle;
    t->sink = malloc(64);
    t->sink_cap = 64;
    assert_non_null(t->sink);
    p = sshbpp_packetizer_new_cb(&cbt_ops, t);
    assert_non_null(p);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(p, POLL_MS), 0);
    return p;
}

static void
cbt_free(sshbpp_packetizer *p, struct cbt *t)
{
    sshbpp_packetizer_free(p);
    assert_int_equal(t->closed, 1);
    free(t->sink);
}

/* The sink must hold exactly the message sent, decodable by an engine. */
static void
check_sink_holds(const struct cbt *t, const uint8_t *payload, size_t len)
{
    sshbpp_engine *e = sshbpp_engine_new();
    sshbpp_packet pkt;

    assert_non_null(e);
    assert_int_equal(sshbpp_engine_feed(e, t->sink, t->sink_len), 0);
    assert_int_equal(sshbpp_engine_rx_next(e, &pkt), 0);
    assert_int_equal(pkt.len, len);
    assert_memory_equal(pkt.payload, payload, len);
    assert_int_equal(sshbpp_engine_rx_pending(e), 0);
    sshbpp_engine_free(e);
}

#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* paramiko: a socket whose send always returns 0 gets 12 calls. */
static void
test_write_zero_gives_up(void **state)
{
    static const int zero[] = {0};
    uint8_t payload[20];
    sshbpp_packetizer *p;
    struct cbt t;

    (void)state;
    p = cbt_new(&t, zero, 1, 1);
    fill_msg(payload, sizeof(payload), 0, 1);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), SSHBPP_EWRITE0);
    assert_int_equal(t.write_calls, 12);
    /* sticky: no further writes */
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), SSHBPP_EWRITE0);
    assert_int_equal(sshbpp_packetizer_write_all(p, "x", 1), SSHBPP_EWRITE0);
    assert_int_equal(t.write_calls, 12);
    cbt_free(p, &t);
}

/* The counter counts every non-retried call: 10 one-byte writes then a 0
 * then the rest is fine; 11 one-byte writes then a 0 gives up. */
static void
test_write_zero_counter(void **state)
{
    static const int ten[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    static const int eleven[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    uint8_t payload[60];
    sshbpp_packetizer *p;
    struct cbt t;

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 2);
    p = cbt_new(&t, ten, N_(ten), 0);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    assert_int_equal(t.write_calls, 12);
    check_sink_holds(&t, payload, sizeof(payload));
    cbt_free(p, &t);

    p = cbt_new(&t, eleven, N_(eleven), 0);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), SSHBPP_EWRITE0);
    assert_int_equal(t.write_calls, 12);
    cbt_free(p, &t);
}

/* EAGAIN and EINTR are retried and not counted. */
static void
test_write_retries(void **state)
{
    static const int eagain[] = {-EAGAIN, -EAGAIN, -EAGAIN};
    static const int eintr[] = {-EINTR, -EINTR, -EINTR};
    /* more retries of each kind than the zero-write limit, then a zero
     * write: fine only if retries are not counted */
    static const int many[] = {-EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN,
                               -EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN, -EINTR,  -EINTR,
                               -EINTR,  -EINTR,  -EINTR,  -EINTR,  -EINTR,  -EINTR,  -EINTR,
                               -EINTR,  -EINTR,  -EINTR,  0,       2};
    uint8_t payload[30];
    sshbpp_packetizer *p;
    struct cbt t;

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 3);
    p = cbt_new(&t, eagain, N_(eagain), 0);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    assert_int_equal(t.write_calls, 4);
    check_sink_holds(&t, payload, sizeof(payload));
    cbt_free(p, &t);

    p = cbt_new(&t, eintr, N_(eintr), 0);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    assert_int_equal(t.write_calls, 4);
    check_sink_holds(&t, payload, sizeof(payload));
    cbt_free(p, &t);

    p = cbt_new(&t, many, N_(many), 0);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    check_sink_holds(&t, payload, sizeof(payload));
    cbt_free(p, &t);
}

/* Class 11, write side: EAGAIN (or EINTR) before every single byte, with
 * one byte accepted per call; the packet still goes out whole and in
 * order, and one-byte progress never trips the zero-write limit. */
static void
test_write_eagain_every_offset(void **state)
{
    static const int eagain[] = {-EAGAIN, 1};
    static const int eintr[] = {-EINTR, 1};
    uint8_t payload[200];
    sshbpp_packetizer *p;
    struct cbt t;

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 8);
    p = cbt_new(&t, eagain, N_(eagain), 1);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    assert_true(t.write_calls >= 2 * t.sink_len);
    check_sink_holds(&t, payload, sizeof(payload));
    cbt_free(p, &t);

    p = cbt_new(&t, eintr, N_(eintr), 1);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    check_sink_holds(&t, payload, sizeof(payload));
    cbt_free(p, &t);
}

/* Any other write error ends the connection as EEOF, errno kept. */
static void
test_write_error(void **state)
{
    static const int reset[] = {5, -ECONNRESET};
    uint8_t payload[30];
    sshbpp_packetizer *p;
    struct cbt t;

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 4);
    p = cbt_new(&t, reset, N_(reset), 0);
    assert_int_equal(sshbpp_packetizer_last_errno(p), 0);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), SSHBPP_EEOF);
    assert_int_equal(sshbpp_packetizer_last_errno(p), ECONNRESET);
    assert_int_equal(t.write_calls, 2);
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), SSHBPP_EEOF);
    assert_int_equal(t.write_calls, 2);
    cbt_free(p, &t);
}

/* A send from inside our own send (here: the write callback) would splice
 * a packet into the half-written one: refused, the outer send goes on. */
static void
test_nested_send_refused(void **state)
{
    static const int none[] = {0};
    uint8_t payload[30];
    sshbpp_packetizer *p;
    struct cbt t;

    (void)state;
    fill_msg(payload, sizeof(payload), 0, 8);
    p = cbt_new(&t, none, 0, 0);
    t.nest = p;
    assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    assert_int_equal(t.nest_result, SSHBPP_EINVAL);
    check_sink_holds(&t, payload, sizeof(payload));
    /* and a send afterwards is fine */
    assert_int_equal(sshbpp_packetizer_write_all(p, "", 0), 0);
    cbt_free(p, &t);
}

/* A callback transport that writes 1..3 bytes per call, over a socket to
 * an fd Packetizer, with keys: many messages both ways. */
struct cb_sender {
    sshbpp_packetizer *p;
    int result;
};

static const size_t short_sizes[] = {1, 2, 5, 100, 1000, 5000, 35000, 70000};

static void *
cb_sender_main(void *arg)
{
    struct cb_sender *s = arg;
    uint8_t *buf = malloc(70000);
    unsigned i;

    s->result = buf == NULL ? -1000 : 0;
    for (i = 0; i < N_(short_sizes) && s->result == 0; i++) {
        fill_msg(buf, short_sizes[i], 0, i);
        s->result = sshbpp_packetizer_send_message(s->p, buf, short_sizes[i]);
    }
    free(buf);
    return NULL;
}

static void
test_short_writes(void **state)
{
    static const int tiny[] = {1, 2, 3, 2};
    sshbpp_packetizer *a, *b;
    struct cb_sender snd;
    sshbpp_packet pkt;
    pthread_t th;
    keyset k1, k2;
    struct cbt t;
    unsigned i;
    int s[2];

    (void)state;
    make_sockets(s);
    a = cbt_new(&t, tiny, N_(tiny), 1);
    free(t.sink);
    t.sink = NULL;
    t.fd = s[0];
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(b, POLL_MS), 0);
    keyset_make(&k1, "aes128-ctr", "hmac-sha2-256", 7);
    keyset_make(&k2, "chacha20-poly1305@openssh.com", NULL, 8);
    key_direction(a, b, &k1);
    key_direction(b, a, &k2);

    snd.p = a;
    snd.result = 0;
    assert_int_equal(pthread_create(&th, NULL, cb_sender_main, &snd), 0);
    for (i = 0; i < N_(short_sizes); i++) {
        assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
        assert_true(msg_matches(&pkt, short_sizes[i], 0, i));
    }
    pthread_join(th, NULL);
    assert_int_equal(snd.result, 0);
    assert_true(t.write_calls > 70000 / 3);

    /* and back through the callback read path */
    for (i = 0; i < N_(short_sizes); i++) {
        uint8_t *buf = malloc(short_sizes[i]);
        assert_non_null(buf);
        fill_msg(buf, short_sizes[i], 0, i);
        assert_int_equal(sshbpp_packetizer_send_message(b, buf, short_sizes[i]), 0);
        free(buf);
        assert_int_equal(sshbpp_packetizer_read_message(a, &pkt), 0);
        assert_true(msg_matches(&pkt, short_sizes[i], 0, i));
    }

    /* peer EOF through the callback read path */
    sshbpp_packetizer_free(b);
    assert_int_equal(sshbpp_packetizer_read_message(a, &pkt), SSHBPP_EEOF);
    cbt_free(a, &t);
    close(s[0]);
}

/* Input is read in large chunks: 100 packets already waiting take a few
 * reads, not several per packet. */
static void
test_reads_batched(void **state)
{
    static const int none[] = {0};
    uint8_t payload[100];
    sshbpp_packetizer *a, *b;
    sshbpp_packet pkt;
    struct cbt t;
    unsigned i;
    int s[2];

    (void)state;
    make_sockets(s);
    a = sshbpp_packetizer_new_fd(s[0], 1);
    assert_non_null(a);
    b = cbt_new(&t, none, 0, 0);
    t.fd = s[1];
    for (i = 0; i < 100; i++) {
        fill_msg(payload, sizeof(payload), 0, i);
        assert_int_equal(sshbpp_packetizer_send_message(a, payload, sizeof(payload)), 0);
    }
    for (i = 0; i < 100; i++) {
        assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
        assert_true(msg_matches(&pkt, sizeof(payload), 0, i));
    }
    assert_true(t.read_calls <= 5);
    sshbpp_packetizer_free(a);
    cbt_free(b, &t);
    close(s[1]);
}

/* ---------------------------------------------------------------------- */
/* rekey                                                                   */

static void
small_rekey_limits(sshbpp_packetizer *p)
{
    sshbpp_engine *e = sshbpp_packetizer_engine(p);
    sshbpp_rekey_limits l;

    sshbpp_engine_get_rekey_limits(e, &l);
    l.packets = 2;
    l.packets_overflow = 3;
    assert_int_equal(sshbpp_engine_set_rekey_limits(e, &l), 0);
}

static void
send_n(sshbpp_packetizer *p, unsigned first, unsigned n)
{
    uint8_t payload[64];
    unsigned i;

    for (i = first; i < first + n; i++) {
        fill_msg(payload, sizeof(payload), 0, i);
        assert_int_equal(sshbpp_packetizer_send_message(p, payload, sizeof(payload)), 0);
    }
}

static void
expect_msg(sshbpp_packetizer *p, unsigned idx)
{
    sshbpp_packet pkt;
    int r = sshbpp_packetizer_read_message(p, &pkt);

    if (r != 0)
        fail_msg("message %u: %s", idx, sshbpp_err_name(r));
    assert_true(msg_matches(&pkt, 64, 0, idx));
}

/* REKEY_PACKETS=2, OVERFLOW_MAX=3: packet 2 raises the flag, an idle read
 * then says NEEDREKEY (soft), packets 3 and 4 are still accepted, packet 5
 * is the error (spec 3.3 step 14). */
static void
test_rekey_overflow(void **state)
{
    sshbpp_packetizer *a, *b;
    struct watchdog wd;
    sshbpp_packet pkt;
    uint8_t buf[4];

    (void)state;
    make_pair(&a, &b);
    watchdog_start(&wd, b);
    small_rekey_limits(b);
    send_n(a, 1, 2);
    expect_msg(b, 1);
    assert_int_equal(sshbpp_packetizer_need_rekey(b), 0);
    expect_msg(b, 2);
    assert_int_equal(sshbpp_packetizer_need_rekey(b), 1);

    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_ENEEDREKEY);
    assert_int_equal(sshbpp_packetizer_read_all(b, buf, sizeof(buf), 1), SSHBPP_ENEEDREKEY);
    assert_int_equal(sshbpp_engine_error(sshbpp_packetizer_engine(b)), 0);

    send_n(a, 3, 1);
    expect_msg(b, 3);
    send_n(a, 4, 2);
    expect_msg(b, 4);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EREKEYIGNORED);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EREKEYIGNORED);
    watchdog_stop(&wd);

    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

/* The flag clears once both of b's directions have new keys. */
static void
test_rekey_clear(void **state)
{
    sshbpp_packetizer *a, *b;
    keyset k1, k2;
    uint8_t payload[64];

    (void)state;
    make_pair(&a, &b);
    small_rekey_limits(b);
    send_n(a, 1, 2);
    expect_msg(b, 1);
    expect_msg(b, 2);
    assert_int_equal(sshbpp_packetizer_need_rekey(b), 1);

    keyset_make(&k1, "aes128-ctr", "hmac-sha2-256", 3);
    keyset_make(&k2, "aes128-ctr", "hmac-sha2-256", 4);
    key_direction(a, b, &k1);
    assert_int_equal(sshbpp_packetizer_need_rekey(b), 1);
    key_direction(b, a, &k2);
    assert_int_equal(sshbpp_packetizer_need_rekey(b), 0);

    /* counters restarted: three more packets are fine */
    send_n(a, 3, 3);
    expect_msg(b, 3);
    expect_msg(b, 4);
    expect_msg(b, 5);
    fill_msg(payload, sizeof(payload), 0, 6);
    assert_int_equal(sshbpp_packetizer_send_message(b, payload, sizeof(payload)), 0);
    expect_msg(a, 6);

    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

/* ---------------------------------------------------------------------- */
/* keepalive                                                               */

struct ka {
    atomic_int count;
    atomic_int send_result; /* the first failure, or 0 */
};

static void
ka_send(sshbpp_packetizer *p, void *ctx)
{
    static const uint8_t req[] = {80, 0, 0, 0, 0};
    struct ka *k = ctx;
    int expected = 0;
    int r;

    atomic_fetch_add(&k->count, 1);
    /* as paramiko's keepalive@lag.net: sends from the reader thread */
    r = sshbpp_packetizer_send_message(p, req, sizeof(req));
    if (r != 0)
        atomic_compare_exchange_strong(&k->send_result, &expected, r);
}

static void
test_keepalive_fires(void **state)
{
    sshbpp_packetizer *a, *b;
    struct reader rd;
    sshbpp_packet pkt;
    keyset ks;
    struct ka k;

    (void)state;
    make_pair(&a, &b);
    keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 5);
    key_direction(b, a, &ks);
    atomic_init(&k.count, 0);
    atomic_init(&k.send_result, 0);
    sshbpp_packetizer_set_keepalive(b, 200, ka_send, &k);
    start_reader(&rd, b);

    /* watchdog: a's read gives up after 5 s instead of hanging */
    sshbpp_packetizer_start_handshake(a, 5000);
    assert_int_equal(sshbpp_packetizer_read_message(a, &pkt), 0);
    assert_int_equal(pkt.type, 80);
    assert_true(atomic_load(&k.count) >= 1);
    assert_int_equal(atomic_load(&k.send_result), 0);

    sshbpp_packetizer_close(b);
    pthread_join(rd.th, NULL);
    assert_int_equal(rd.result, SSHBPP_ECLOSED);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

static void
ka_count(sshbpp_packetizer *p, void *ctx)
{
    struct ka *k = ctx;
    (void)p;
    atomic_fetch_add(&k->count, 1);
}

/* No outbound cipher: no keepalive, as paramiko. The reader's idle
 * wake-ups are counted (a callback transport whose reads time out), so the
 * "nothing fired" is checked after many keepalive intervals have really
 * passed, not after a sleep; then an outbound key makes it fire. */
static void
test_keepalive_needs_cipher(void **state)
{
    sshbpp_packetizer *b;
    struct reader rd;
    struct cbt t;
    keyset ks;
    struct ka k;
    int i;

    (void)state;
    b = cbt_new(&t, NULL, 0, 0);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(b, 5), 0);
    keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 6);
    /* inbound keys do not count */
    assert_int_equal(sshbpp_packetizer_set_inbound_cipher(b, &ks.k), 0);
    atomic_init(&k.count, 0);
    atomic_init(&k.send_result, 0);
    sshbpp_packetizer_set_keepalive(b, 20, ka_count, &k);
    start_reader(&rd, b);
    /* 40 idle wake-ups of 5 ms: ten keepalive intervals (bounded: 10 s) */
    for (i = 0; i < 10000 && atomic_load(&t.read_calls) < 40; i++)
        sleep_ms(1);
    assert_true(atomic_load(&t.read_calls) >= 40);
    assert_int_equal(atomic_load(&k.count), 0);
    /* the control: with an outbound key the same reader's keepalive runs */
    assert_int_equal(sshbpp_packetizer_set_outbound_cipher(b, &ks.k), 0);
    for (i = 0; i < 10000 && atomic_load(&k.count) < 1; i++)
        sleep_ms(1);
    assert_true(atomic_load(&k.count) >= 1);
    sshbpp_packetizer_close(b);
    pthread_join(rd.th, NULL);
    assert_int_equal(rd.result, SSHBPP_ECLOSED);
    cbt_free(b, &t);
}

/* ---------------------------------------------------------------------- */
/* handshake timer                                                         */

static void
test_handshake_timeout(void **state)
{
    sshbpp_packetizer *a, *b;
    struct watchdog wd;
    sshbpp_packet pkt;
    double t0, dt;

    (void)state;
    make_pair(&a, &b);
    watchdog_start(&wd, b);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(b), 0);
    sshbpp_packetizer_start_handshake(b, 200);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(b), 0);
    t0 = now_s();
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EHANDSHAKE);
    dt = now_s() - t0;
    assert_true(dt >= 0.19);
    assert_true(dt < 10.0);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(b), 1);
    /* fatal */
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), SSHBPP_EHANDSHAKE);
    watchdog_stop(&wd);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

static void
test_handshake_completed(void **state)
{
    sshbpp_packetizer *a, *b;
    struct reader rd;
    uint8_t payload[10];

    (void)state;
    make_pair(&a, &b);
    sshbpp_packetizer_start_handshake(b, 200);
    sshbpp_packetizer_complete_handshake(b);
    /* a second start is a no-op even after completion */
    sshbpp_packetizer_start_handshake(b, 0);
    start_reader(&rd, b);
    sleep_ms(400);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(b), 0);
    assert_int_equal(atomic_load(&rd.done), 0);
    fill_msg(payload, sizeof(payload), 0, 1);
    assert_int_equal(sshbpp_packetizer_send_message(a, payload, sizeof(payload)), 0);
    pthread_join(rd.th, NULL);
    assert_int_equal(rd.result, 0);
    assert_memory_equal(rd.copy, payload, sizeof(payload));

    /* complete_handshake before start does not arm anything */
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
    make_pair(&a, &b);
    sshbpp_packetizer_complete_handshake(b);
    sshbpp_packetizer_start_handshake(b, 0);
    assert_int_equal(sshbpp_packetizer_handshake_timed_out(b), 1);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

/* ---------------------------------------------------------------------- */
/* close                                                                   */

static void
test_close_unblocks_reader(void **state)
{
    sshbpp_packetizer *a, *b;
    struct reader rd;
    uint8_t payload[10];
    double t0;

    (void)state;
    make_pair(&a, &b);
    /* shutdown() must wake the reader, not the poll interval */
    assert_int_equal(sshbpp_packetizer_set_poll_interval(b, 60000), 0);
    start_reader(&rd, b);
    sleep_ms(100);
    assert_int_equal(atomic_load(&rd.done), 0);
    t0 = now_s();
    sshbpp_packetizer_close(b);
    pthread_join(rd.th, NULL);
    assert_true(now_s() - t0 < 10.0);
    assert_int_equal(rd.result, SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_packetizer_closed(b), 1);
    fill_msg(payload, sizeof(payload), 0, 1);
    assert_int_equal(sshbpp_packetizer_send_message(b, payload, sizeof(payload)), SSHBPP_ECLOSED);
    sshbpp_packetizer_close(b); /* idempotent */

    /* the peer sees EOF */
    assert_int_equal(sshbpp_packetizer_read_message(a, &rd.pkt), SSHBPP_EEOF);
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

/* An fd the Packetizer does not own stays open. */
static void
test_close_not_owned(void **state)
{
    sshbpp_packetizer *b;
    int s[2];

    (void)state;
    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 0);
    assert_non_null(b);
    sshbpp_packetizer_close(b);
    sshbpp_packetizer_free(b);
    assert_true(fcntl(s[1], F_GETFD) >= 0);
    close(s[1]);
    close(s[0]);

    make_sockets(s);
    b = sshbpp_packetizer_new_fd(s[1], 1);
    assert_non_null(b);
    sshbpp_packetizer_close(b);
    assert_int_equal(fcntl(s[1], F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    sshbpp_packetizer_free(b);
    close(s[0]);
}

/* ---------------------------------------------------------------------- */
/* arguments, logging                                                      */

struct logbuf {
    char text[8192];
    size_t len;
};

static void
log_collect(void *ctx, enum sshbpp_log_level level, const char *msg)
{
    struct logbuf *l = ctx;
    size_t n = strlen(msg);

    (void)level;
    if (l->len + n + 2 < sizeof(l->text)) {
        memcpy(l->text + l->len, msg, n);
        l->len += n;
        l->text[l->len++] = '\n';
        l->text[l->len] = '\0';
    }
}

static void
test_args_and_log(void **state)
{
    static const uint8_t payload[] = {94, 1, 2, 3};
    sshbpp_io_callbacks bad = {cbt_read, NULL, NULL};
    sshbpp_packetizer *a, *b;
    sshbpp_packet pkt;
    struct logbuf lg;
    char line[8];

    (void)state;
    assert_null(sshbpp_packetizer_new_fd(-1, 0));
    assert_null(sshbpp_packetizer_new_cb(NULL, NULL));
    assert_null(sshbpp_packetizer_new_cb(&bad, NULL));
    sshbpp_packetizer_free(NULL);

    make_pair(&a, &b);
    assert_non_null(sshbpp_packetizer_engine(a));
    assert_int_equal(sshbpp_packetizer_set_poll_interval(a, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(a, 60001), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(a, 1), 0);
    assert_int_equal(sshbpp_packetizer_set_poll_interval(a, 60000), 0);
    assert_int_equal(sshbpp_packetizer_read_message(b, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_readline(b, NULL, 8, 1000), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_readline(b, line, 0, 1000), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_packetizer_read_all(b, NULL, 3, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_write_all(a, NULL, 3), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_packetizer_send_message(a, NULL, 3), SSHBPP_EINVAL);
    /* soft: nothing sent, the connection lives on */
    assert_int_equal(sshbpp_packetizer_send_message(a, payload, 0), SSHBPP_EPAYLOADLEN);
    assert_int_equal(sshbpp_packetizer_last_errno(a), 0);
    assert_int_equal(sshbpp_packetizer_need_rekey(a), 0);
    assert_int_equal(sshbpp_packetizer_closed(a), 0);

    memset(&lg, 0, sizeof(lg));
    assert_int_equal(sshbpp_packetizer_get_hexdump(a), 0);
    sshbpp_packetizer_set_log(a, log_collect, &lg);
    sshbpp_packetizer_set_hexdump(a, 1);
    assert_int_equal(sshbpp_packetizer_get_hexdump(a), 1);
    assert_int_equal(sshbpp_packetizer_send_message(a, payload, sizeof(payload)), 0);
    assert_non_null(strstr(lg.text, "Write packet <channel-data>, length 4"));
    assert_non_null(strstr(lg.text, "OUT: "));
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_int_equal(pkt.len, sizeof(payload));
    assert_memory_equal(pkt.payload, payload, sizeof(payload));

    sshbpp_packetizer_reset_seqno_out(a);
    sshbpp_packetizer_reset_seqno_in(b);
    assert_int_equal(sshbpp_packetizer_send_message(a, payload, sizeof(payload)), 0);
    assert_int_equal(sshbpp_packetizer_read_message(b, &pkt), 0);
    assert_int_equal(pkt.seqno, 0);

    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_none),
        cmocka_unit_test(test_roundtrip_aes128ctr_hmac_sha2_256),
        cmocka_unit_test(test_roundtrip_chacha20_poly1305),
        cmocka_unit_test(test_roundtrip_aes256gcm_zlib),
        cmocka_unit_test(test_roundtrip_aes256ctr_etm),
        cmocka_unit_test(test_readline_banner_then_packets),
        cmocka_unit_test(test_readline_endings),
        cmocka_unit_test(test_readline_timeout),
        cmocka_unit_test(test_readline_too_long),
        cmocka_unit_test(test_readline_eof),
        cmocka_unit_test(test_readline_trickle_handshake_timeout),
        cmocka_unit_test(test_eof_mid_packet),
        cmocka_unit_test(test_eof_every_offset),
        cmocka_unit_test(test_write_eagain_every_offset),
        cmocka_unit_test(test_eof_between_packets),
        cmocka_unit_test(test_read_all_write_all),
        cmocka_unit_test(test_eintr_read),
        cmocka_unit_test(test_eintr_poll),
        cmocka_unit_test(test_write_zero_gives_up),
        cmocka_unit_test(test_write_zero_counter),
        cmocka_unit_test(test_write_retries),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_nested_send_refused),
        cmocka_unit_test(test_short_writes),
        cmocka_unit_test(test_reads_batched),
        cmocka_unit_test(test_rekey_overflow),
        cmocka_unit_test(test_rekey_clear),
        cmocka_unit_test(test_keepalive_fires),
        cmocka_unit_test(test_keepalive_needs_cipher),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_handshake_completed),
        cmocka_unit_test(test_close_unblocks_reader),
        cmocka_unit_test(test_close_not_owned),
        cmocka_unit_test(test_args_and_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
