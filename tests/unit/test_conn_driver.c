/*
 * test_conn_driver.c: the blocking driver (sshbpp_driver.h) over
 * socketpairs: two peers bulk-sending both ways from several threads each
 * with a rekey every MiB (SHA-256 of every stream compared, no deadlock),
 * a peer that stops answering (every blocking call times out no earlier
 * than its timeout and within twice it), close() waking waiters.
 *
 * SSHBPP_TEST_BULK_BYTES sets the bytes sent per direction (default 16 MiB).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "sshbpp/sshbpp_driver.h"
#include "testutil.h"

#define NSENDERS     3
#define CALL_TIMEOUT 120000
#define NGREQ        20

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static enum sshbpp_auth_decision
auth_cb(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    (void)methods;
    return strcmp(a->method, "password") == 0 && strcmp(a->password, "pw") == 0
               ? SSHBPP_AUTH_ACCEPT
               : SSHBPP_AUTH_REJECT;
}

static int
accept_any(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)alg;
    (void)blob;
    (void)len;
    return strncmp(fp, "SHA256:", 7) == 0;
}

/* ---- I/O callbacks (sshbpp_driver_io) over an fd, with small writes -------- */

static int tio_poll_count;

struct tio {
    int fd, wake[2];
    unsigned long reads, writes, bytes_out;
    /* read by the test while the driving thread waits (no lock held) */
    atomic_ulong waits, wakes;
};

static long
tio_read(void *ctx, void *buf, size_t len)
{
    struct tio *t = ctx;
    ssize_t n = read(t->fd, buf, len);

    t->reads++;
    if (n >= 0)
        return (long)n;
    return errno == EAGAIN || errno == EINTR ? SSHBPP_EAGAIN : SSHBPP_EIO;
}

static long
tio_write(void *ctx, const void *buf, size_t len)
{
    struct tio *t = ctx;
    ssize_t n = send(t->fd, buf, len > 1000 ? 1000 : len, MSG_NOSIGNAL); /* partial writes */

    t->writes++;
    if (n > 0) {
        t->bytes_out += (unsigned long)n;
        return (long)n;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR) ? SSHBPP_EAGAIN : SSHBPP_EIO;
}

static int
tio_wait(void *ctx, int want_read, int want_write, int timeout_ms)
{
    struct tio *t = ctx;
    struct pollfd p[2] = {
        {t->fd, (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0)), 0},
        {t->wake[0], POLLIN, 0}};
    char junk[16];

    int n;

    t->waits++;
    n = poll(p, 2, timeout_ms);
    if (n > 0 && (p[1].revents & POLLIN))
        while (read(t->wake[0], junk, sizeof(junk)) > 0)
            ;
    /* tio_poll_count: as a transport written before the readiness mask,
     * return poll()'s count */
    return tio_poll_count && n > 0 ? n : 0;
}

static void
tio_wake(void *ctx)
{
    struct tio *t = ctx;

    t->wakes++;
    if (write(t->wake[1], "w", 1) < 0) {
        /* full: pending anyway */
    }
}

static void
tio_close(void *ctx)
{
    struct tio *t = ctx;

    (void)shutdown(t->fd, SHUT_RDWR);
}

static struct tio *last_tio;
static unsigned long last_tio_writes;

static void
tio_free(void *ctx)
{
    struct tio *t = ctx;

    last_tio_writes = t->writes;
    close(t->fd);
    close(t->wake[0]);
    close(t->wake[1]);
    free(t);
}

static sshbpp_driver *
tio_driver(int fd, const sshbpp_conn_config *cfg)
{
    static const sshbpp_driver_io io = {tio_read, tio_write, tio_wait,
                                        tio_wake, tio_close, tio_free};
    struct tio *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    t->fd = fd;
    assert_int_equal(pipe(t->wake), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    assert_int_equal(fcntl(t->wake[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(t->wake[1], F_SETFL, O_NONBLOCK), 0);
    last_tio = t;
    return sshbpp_driver_new_io(&io, t, cfg);
}

static int use_callbacks; /* make_pair: the client over sshbpp_driver_io */

static void
make_pair(sshbpp_driver **cl, sshbpp_driver **sv, uint64_t rekey_bytes)
{
    sshbpp_conn_config cc, sc;
    sshbpp_rekey_limits lim;
    int sv_[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv_), 0);
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    sc.auth_cb = auth_cb;
    *cl = use_callbacks ? tio_driver(sv_[0], &cc) : sshbpp_driver_new(sv_[0], &cc);
    *sv = sshbpp_driver_new(sv_[1], &sc);
    assert_non_null(*cl);
    assert_non_null(*sv);
    assert_int_equal(sshbpp_conn_generate_hostkey(sshbpp_driver_conn(*sv), "ssh-ed25519"), 0);
    sshbpp_driver_set_hostkey_cb(*cl, accept_any, NULL);
    if (rekey_bytes > 0) {
        sshbpp_rekey_limits_default(&lim);
        lim.bytes = rekey_bytes;
        assert_int_equal(
            sshbpp_engine_set_rekey_limits(sshbpp_conn_engine(sshbpp_driver_conn(*cl)), &lim), 0);
        assert_int_equal(
            sshbpp_engine_set_rekey_limits(sshbpp_conn_engine(sshbpp_driver_conn(*sv)), &lim), 0);
    }
}

struct server_arg {
    sshbpp_driver *d;
    int auth; /* also wait for authentication */
    int r;
};

static void *
server_handshake(void *p)
{
    struct server_arg *a = p;

    a->r = sshbpp_driver_handshake(a->d, 30000);
    if (a->r == 0 && a->auth)
        a->r = sshbpp_driver_wait_auth(a->d, 30000);
    return NULL;
}

static void
connect_pair(sshbpp_driver *cl, sshbpp_driver *sv, int auth)
{
    struct server_arg sa = {sv, auth, -99};
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, server_handshake, &sa), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 30000), 0);
    if (auth) {
        assert_int_equal(sshbpp_driver_auth_password(cl, "u", "bad", 30000), SSHBPP_EREFUSED);
        assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 30000), 0);
    }
    pthread_join(t, NULL);
    assert_int_equal(sa.r, 0);
}

/* ---- bulk ------------------------------------------------------------------ */

struct stream {
    uint8_t type;
    uint8_t sent_hash[32];
    uint8_t recv_hash[32];
    EVP_MD_CTX *rctx;
    uint32_t next_seq;
    int done;
};

struct side {
    sshbpp_driver *d;
    struct stream out[NSENDERS]; /* streams this side sends */
    struct stream in[NSENDERS];  /* streams it receives */
    uint64_t per_sender;
    int r_send[NSENDERS], r_recv, r_greq;
    int expect_greq, answered_greq;
    uint64_t received;
};

struct sender_arg {
    struct side *s;
    int i;
};

static void *
sender(void *p)
{
    struct sender_arg *a = p;
    struct stream *st = &a->s->out[a->i];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t *buf = malloc(40000);
    tu_prng rng;
    uint64_t left = a->s->per_sender;
    uint32_t seq = 0;
    unsigned hl;
    int r = 0;

    tu_prng_seed(&rng, (uint64_t)st->type * 7919u + 1u);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while (left > 0 && r == 0) {
        size_t n = tu_prng_range(&rng, 1, 32768);

        if (n > left)
            n = (size_t)left;
        buf[0] = st->type;
        tu_put_be32(buf + 1, seq++);
        tu_prng_bytes(&rng, buf + 5, n);
        EVP_DigestUpdate(md, buf + 5, n);
        r = sshbpp_driver_send(a->s->d, buf, n + 5, CALL_TIMEOUT);
        left -= n;
    }
    if (r == 0) {
        buf[0] = st->type;
        tu_put_be32(buf + 1, 0xffffffffu);
        r = sshbpp_driver_send(a->s->d, buf, 5, CALL_TIMEOUT);
    }
    /* Output is written only while a thread is inside a call: once this
     * side's receiver has all it expects, the last of its threads to
     * leave could otherwise strand up to SSHBPP_DRIVER_TX_HIGH bytes
     * (the peer's receiver then waits out its timeout). */
    if (r == 0)
        r = sshbpp_driver_flush(a->s->d, CALL_TIMEOUT);
    EVP_DigestFinal_ex(md, st->sent_hash, &hl);
    EVP_MD_CTX_free(md);
    free(buf);
    a->s->r_send[a->i] = r;
    return NULL;
}

static void *
receiver(void *p)
{
    struct side *s = p;
    uint8_t *buf = malloc(40000);
    size_t len;
    int done = 0, r = 0, i;
    unsigned hl;

    while (done < NSENDERS || s->answered_greq < s->expect_greq) {
        if ((r = sshbpp_driver_recv(s->d, buf, 40000, &len, CALL_TIMEOUT)) != 0)
            break;
        if (buf[0] == 80) { /* a global request: refuse it, as sshd does */
            if ((r = sshbpp_driver_send(s->d, "\x52", 1, CALL_TIMEOUT)) != 0)
                break;
            s->answered_greq++;
            continue;
        }
        for (i = 0; i < NSENDERS; i++)
            if (s->in[i].type == buf[0])
                break;
        if (i == NSENDERS || len < 5) {
            r = -1000;
            break;
        }
        if (tu_be32(buf + 1) == 0xffffffffu) {
            EVP_DigestFinal_ex(s->in[i].rctx, s->in[i].recv_hash, &hl);
            s->in[i].done = 1;
            done++;
            continue;
        }
        if (tu_be32(buf + 1) != s->in[i].next_seq++) {
            r = -1001; /* reordered or lost */
            break;
        }
        EVP_DigestUpdate(s->in[i].rctx, buf + 5, len - 5);
        s->received += len - 5;
    }
    if (r == 0)
        r = sshbpp_driver_flush(s->d, CALL_TIMEOUT); /* its refusals, as above */
    free(buf);
    s->r_recv = r;
    return NULL;
}

static void *
greq_thread(void *p)
{
    struct side *s = p;
    int i, r = 0;

    for (i = 0; i < NGREQ && r == 0; i++) {
        r = sshbpp_driver_global_request(s->d, "keepalive@openssh.com", 1, NULL, 0, CALL_TIMEOUT);
        if (r == SSHBPP_EREFUSED)
            r = 0;
        sleep_ms(20);
    }
    s->r_greq = r;
    return NULL;
}

static void
bulk(uint64_t total)
{
    struct side sides[2];
    struct sender_arg sa[2][NSENDERS];
    pthread_t ts[2][NSENDERS], tr[2], tg;
    sshbpp_kex_info ci;
    int s, i;
    int64_t t0 = now_ms();

    memset(sides, 0, sizeof(sides));
    make_pair(&sides[0].d, &sides[1].d, 1024u * 1024u);
    connect_pair(sides[0].d, sides[1].d, 1);
    for (s = 0; s < 2; s++) {
        sides[s].per_sender = total / NSENDERS;
        for (i = 0; i < NSENDERS; i++) {
            sides[s].out[i].type = (uint8_t)(192 + s * 8 + i);
            sides[s].in[i].type = (uint8_t)(192 + (1 - s) * 8 + i);
            sides[s].in[i].rctx = EVP_MD_CTX_new();
            EVP_DigestInit_ex(sides[s].in[i].rctx, EVP_sha256(), NULL);
        }
    }
    sides[1].expect_greq = NGREQ;
    for (s = 0; s < 2; s++) {
        assert_int_equal(pthread_create(&tr[s], NULL, receiver, &sides[s]), 0);
        for (i = 0; i < NSENDERS; i++) {
            sa[s][i].s = &sides[s];
            sa[s][i].i = i;
            assert_int_equal(pthread_create(&ts[s][i], NULL, sender, &sa[s][i]), 0);
        }
    }
    assert_int_equal(pthread_create(&tg, NULL, greq_thread, &sides[0]), 0);
    for (s = 0; s < 2; s++) {
        for (i = 0; i < NSENDERS; i++)
            pthread_join(ts[s][i], NULL);
        pthread_join(tr[s], NULL);
    }
    pthread_join(tg, NULL);
    for (s = 0; s < 2; s++) {
        for (i = 0; i < NSENDERS; i++)
            assert_int_equal(sides[s].r_send[i], 0);
        assert_int_equal(sides[s].r_recv, 0);
    }
    assert_int_equal(sides[0].r_greq, 0);
    for (s = 0; s < 2; s++) {
        for (i = 0; i < NSENDERS; i++) {
            assert_true(sides[s].in[i].done);
            assert_memory_equal(sides[s].in[i].recv_hash, sides[1 - s].out[i].sent_hash, 32);
            EVP_MD_CTX_free(sides[s].in[i].rctx);
        }
    }
    assert_int_equal(sshbpp_driver_get_info(sides[0].d, &ci), 0);
    printf("bulk: %llu bytes each way, %u rekeys, %lld ms\n", (unsigned long long)total, ci.rekeys,
           (long long)(now_ms() - t0));
    /* Each direction carried total bytes (plus framing) with a rekey due
     * every MiB of it: one exchange per MiB, less the one that would fall
     * after the end and those where the two directions' triggers merged
     * into one exchange (3 in 256 MiB here: one per 64 MiB allowed);
     * and no key carried much more than its MiB (what was in flight when
     * the limit was hit: the socket and the 1 MiB send high-water mark). */
    assert_true((uint64_t)ci.rekeys + 2 + total / (64u << 20) >= total / (1024u * 1024u));
    for (s = 0; s < 2; s++) {
        sshbpp_stats st;
        int dir;

        for (dir = 0; dir < 2; dir++) {
            sshbpp_engine_get_stats(sshbpp_conn_engine(sshbpp_driver_conn(sides[s].d)),
                                    (enum sshbpp_dir)dir, &st);
            assert_true(st.bytes < 4u * 1024u * 1024u);
        }
    }
    sshbpp_driver_free(sides[0].d);
    sshbpp_driver_free(sides[1].d);
}

static uint64_t
bulk_bytes(void)
{
    const char *env = getenv("SSHBPP_TEST_BULK_BYTES");

    return env != NULL ? strtoull(env, NULL, 10) : 16u * 1024u * 1024u;
}

static void
test_bulk_both_ways_rekey_every_mib(void **state)
{
    (void)state;
    bulk(bulk_bytes());
}

/* The same with the client over I/O callbacks that write at most 1000
 * bytes at a time. */
static void
test_bulk_over_io_callbacks(void **state)
{
    (void)state;
    use_callbacks = 1;
    bulk(bulk_bytes() / 4);
    use_callbacks = 0;
    assert_true(last_tio_writes > bulk_bytes() / 4 / 1000);
}

/* ---- timeouts ------------------------------------------------------------------ */

#define T_MS 300

#define ASSERT_TIMED(call)                                                              \
    do {                                                                                \
        int64_t t_ = now_ms();                                                          \
        int r_ = (call);                                                                \
        int64_t el_ = now_ms() - t_;                                                    \
        printf("%-40s -> %s in %lld ms\n", #call, sshbpp_err_name(r_), (long long)el_); \
        assert_int_equal(r_, SSHBPP_ETIMEDOUT);                                         \
        assert_true(el_ >= T_MS);                                                       \
        assert_true(el_ <= 2 * T_MS);                                                   \
    } while (0)

static void
test_stopped_peer_every_call_times_out(void **state)
{
    sshbpp_driver *cl, *sv;
    uint8_t buf[65536];
    size_t len;
    int r, n = 0;

    (void)state;
    make_pair(&cl, &sv, 0);
    /* the server does the handshake, then nothing more: nobody reads it */
    connect_pair(cl, sv, 0);
    ASSERT_TIMED(sshbpp_driver_wait_auth(sv, T_MS)); /* no client asks */
    ASSERT_TIMED(sshbpp_driver_auth_password(cl, "u", "pw", T_MS));
    ASSERT_TIMED(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, T_MS));
    ASSERT_TIMED(sshbpp_driver_global_request(cl, "keepalive@openssh.com", 1, NULL, 0, T_MS));
    /* the default timeout is used for SSHBPP_TIMEOUT_DEFAULT */
    sshbpp_driver_set_timeout(cl, T_MS);
    ASSERT_TIMED(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, SSHBPP_TIMEOUT_DEFAULT));
    /* sends are written until the socket and the driver's high-water
     * mark are full, then the call times out with nothing taken */
    memset(buf, 7, sizeof(buf));
    buf[0] = 200;
    while ((r = sshbpp_driver_send(cl, buf, 32768, 50)) == 0)
        assert_true(++n < 100000);
    assert_int_equal(r, SSHBPP_ETIMEDOUT);
    ASSERT_TIMED(sshbpp_driver_send(cl, buf, 32768, T_MS));
    assert_int_equal(sshbpp_driver_error(cl), 0); /* soft: still open */
    ASSERT_TIMED(sshbpp_driver_rekey(cl, T_MS));
    /* and again with the exchange running (output still full) */
    ASSERT_TIMED(sshbpp_driver_send(cl, buf, 32768, T_MS));
    /* the socket is full: DISCONNECT cannot be written either */
    ASSERT_TIMED(sshbpp_driver_disconnect(cl, 11, "bye", T_MS));
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

static void
test_silent_server_handshake_times_out(void **state)
{
    sshbpp_driver *cl, *sv;

    (void)state;
    make_pair(&cl, &sv, 0);
    ASSERT_TIMED(sshbpp_driver_handshake(cl, T_MS));
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

struct waiter {
    sshbpp_driver *d;
    int r;
    int64_t at;
};

static void *
recv_forever(void *p)
{
    struct waiter *w = p;
    uint8_t buf[64];
    size_t len;

    w->r = sshbpp_driver_recv(w->d, buf, sizeof(buf), &len, -1);
    w->at = now_ms();
    return NULL;
}

static void
test_close_wakes_every_waiter(void **state)
{
    sshbpp_driver *cl, *sv;
    struct waiter w[3];
    pthread_t t[3];
    int64_t t0;
    int i;

    (void)state;
    make_pair(&cl, &sv, 0);
    connect_pair(cl, sv, 1);
    for (i = 0; i < 3; i++) {
        w[i].d = cl;
        w[i].r = 1;
        assert_int_equal(pthread_create(&t[i], NULL, recv_forever, &w[i]), 0);
    }
    sleep_ms(200);
    t0 = now_ms();
    sshbpp_driver_close(cl);
    for (i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].r, SSHBPP_ECLOSED);
        assert_true(w[i].at - t0 < 1000);
    }
    assert_int_equal(sshbpp_driver_send(cl, "\xc8", 1, -1), SSHBPP_ECLOSED);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

/* close() with the client over callbacks: their wake() ends the wait */
static void
test_close_wakes_every_waiter_callbacks(void **state)
{
    use_callbacks = 1;
    test_close_wakes_every_waiter(state);
    use_callbacks = 0;
}

static void
test_disconnect_reaches_peer(void **state)
{
    sshbpp_driver *cl, *sv;
    uint8_t buf[64];
    char text[128];
    uint32_t reason = 0;
    size_t len;

    (void)state;
    make_pair(&cl, &sv, 0);
    connect_pair(cl, sv, 1);
    assert_int_equal(sshbpp_driver_disconnect(sv, 11, "server going down", 5000), 0);
    assert_int_equal(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 5000), SSHBPP_EDISCONNECT);
    assert_int_equal(sshbpp_driver_disconnect_reason(cl, &reason, text, sizeof(text)), 0);
    assert_int_equal(reason, 11);
    assert_string_equal(text, "server going down");
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

/* ---- flush ----------------------------------------------------------------------- */

struct flush_arg {
    sshbpp_driver *d;
    int r;
};

static void *
flush_thread(void *p)
{
    struct flush_arg *a = p;

    a->r = sshbpp_driver_flush(a->d, 10000);
    return NULL;
}

/* Sends return with output still unwritten while the peer does not read;
 * once the sender stops calling, nothing writes it (the documented model),
 * until sshbpp_driver_flush() does: the peer then gets every message. */
static void
test_flush_writes_what_sends_left(void **state)
{
    sshbpp_driver *cl, *sv;
    static uint8_t buf[32768];
    struct flush_arg fa;
    pthread_t t;
    size_t len, got = 0, sent = 0;
    int n = 0, r;

    (void)state;
    make_pair(&cl, &sv, 0);
    connect_pair(cl, sv, 1);
    memset(buf, 0x5a, sizeof(buf));
    buf[0] = 200;
    /* fill the socket and the high-water mark: the server reads nothing */
    while ((r = sshbpp_driver_send(cl, buf, sizeof(buf), 200)) == 0) {
        sent += sizeof(buf);
        assert_true(++n < 10000);
    }
    assert_int_equal(r, SSHBPP_ETIMEDOUT);
    /* the client makes no call: the server drains the socket and waits */
    while ((r = sshbpp_driver_recv(sv, buf, sizeof(buf), &len, 300)) == 0)
        got += len;
    assert_int_equal(r, SSHBPP_ETIMEDOUT);
    printf("flush: %zu of %zu bytes arrived without a call on the sender\n", got, sent);
    assert_true(got < sent);
    fa.d = cl;
    fa.r = -999;
    assert_int_equal(pthread_create(&t, NULL, flush_thread, &fa), 0);
    while (got < sent && (r = sshbpp_driver_recv(sv, buf, sizeof(buf), &len, 10000)) == 0)
        got += len;
    pthread_join(t, NULL);
    assert_int_equal(fa.r, 0);
    assert_int_equal(got, sent);
    assert_int_equal(sshbpp_driver_flush(cl, 0), 0); /* nothing left: at once */
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

/* ---- wake-ups and batches ------------------------------------------------------ */

struct recv_arg {
    sshbpp_driver *d;
    uint8_t buf[256];
    size_t len;
    int r;
};

static void *
recv_thread(void *p)
{
    struct recv_arg *a = p;

    a->r = sshbpp_driver_recv(a->d, a->buf, sizeof(a->buf), &a->len, 20000);
    return NULL;
}

static void
recv_numbered(sshbpp_driver *sv, unsigned n, unsigned first)
{
    uint8_t buf[256];
    size_t len;
    unsigned i;

    for (i = 0; i < n; i++) {
        assert_int_equal(sshbpp_driver_recv(sv, buf, sizeof(buf), &len, 10000), 0);
        assert_int_equal(len, 64);
        assert_int_equal(buf[0], 200);
        assert_int_equal(buf[1] | (buf[2] << 8), first + i);
    }
}

/* A sender whose message the socket takes at once costs the thread that
 * drives (here blocked in recv, waiting for input) no wake-up: it is woken
 * only for what its wait does not cover. 200 sends made 200 wake-ups
 * before. */
static void
test_no_wakeup_per_send(void **state)
{
    sshbpp_driver *cl, *sv;
    struct recv_arg ra;
    struct tio *t;
    uint8_t msg[64];
    unsigned long w0, k0;
    pthread_t th;
    unsigned i;
    int spins = 0;

    (void)state;
    use_callbacks = 1;
    make_pair(&cl, &sv, 0);
    use_callbacks = 0;
    t = last_tio;
    connect_pair(cl, sv, 1);
    memset(&ra, 0, sizeof(ra));
    ra.d = cl;
    w0 = atomic_load(&t->waits);
    assert_int_equal(pthread_create(&th, NULL, recv_thread, &ra), 0);
    /* the reader is in io.wait() (it drives, waiting for input) */
    while (atomic_load(&t->waits) == w0) {
        assert_true(++spins < 5000);
        sleep_ms(1);
    }
    k0 = atomic_load(&t->wakes);
    memset(msg, 0x33, sizeof(msg));
    msg[0] = 200;
    for (i = 0; i < 200; i++) {
        msg[1] = (uint8_t)i;
        msg[2] = (uint8_t)(i >> 8);
        assert_int_equal(sshbpp_driver_send(cl, msg, sizeof(msg), 5000), 0);
    }
    printf("200 sends while the reader drives: %lu wake-ups\n", atomic_load(&t->wakes) - k0);
    assert_true(atomic_load(&t->wakes) - k0 <= 2);
    recv_numbered(sv, 200, 0);
    msg[1] = msg[2] = 0;
    assert_int_equal(sshbpp_driver_send(sv, msg, sizeof(msg), 5000), 0);
    pthread_join(th, NULL);
    assert_int_equal(ra.r, 0);
    assert_int_equal(ra.len, 64);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

/* sshbpp_driver_send_batch(): 64 messages leave in as few writes as the
 * transport's 1000-byte writes allow (one per message before), in order;
 * a bad message stops the batch there, with the ones before it sent. */
static void
test_send_batch(void **state)
{
    sshbpp_driver *cl, *sv;
    sshbpp_iov iov[64];
    uint8_t msgs[64][64];
    unsigned long wr0, by0, wr, by;
    struct tio *t;
    size_t queued = 99;
    unsigned i;

    (void)state;
    use_callbacks = 1;
    make_pair(&cl, &sv, 0);
    use_callbacks = 0;
    t = last_tio;
    connect_pair(cl, sv, 1);
    for (i = 0; i < 64; i++) {
        memset(msgs[i], 0x44, sizeof(msgs[i]));
        msgs[i][0] = 200;
        msgs[i][1] = (uint8_t)i;
        msgs[i][2] = 0;
        iov[i].base = msgs[i];
        iov[i].len = sizeof(msgs[i]);
    }
    assert_int_equal(sshbpp_driver_send_batch(cl, iov, 0, &queued, 1000), SSHBPP_EINVAL);
    assert_int_equal(queued, 0);
    assert_int_equal(sshbpp_driver_send_batch(cl, NULL, 1, NULL, 1000), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_send_batch(NULL, iov, 1, NULL, 1000), SSHBPP_EINVAL);
    wr0 = t->writes;
    by0 = t->bytes_out;
    assert_int_equal(sshbpp_driver_send_batch(cl, iov, 64, &queued, 5000), 0);
    assert_int_equal(queued, 64);
    assert_int_equal(sshbpp_driver_flush(cl, 5000), 0);
    wr = t->writes - wr0;
    by = t->bytes_out - by0;
    printf("batch of 64: %lu wire bytes in %lu writes\n", by, wr);
    assert_true(by >= 64 * 64);
    assert_true(wr <= by / 1000 + 2);
    recv_numbered(sv, 64, 0);
    /* message 10 is empty: 10 go, then SSHBPP_EINVAL */
    iov[10].len = 0;
    assert_int_equal(sshbpp_driver_send_batch(cl, iov, 64, &queued, 5000), SSHBPP_EINVAL);
    assert_int_equal(queued, 10);
    recv_numbered(sv, 10, 0);
    iov[10].len = sizeof(msgs[10]);
    assert_int_equal(sshbpp_driver_send_batch(cl, iov + 10, 1, &queued, 5000), 0);
    recv_numbered(sv, 1, 10); /* nothing of the bad batch after message 9 */
    /* a message the conn refuses (a transport type) stops the batch too */
    msgs[5][0] = 20;
    assert_int_equal(sshbpp_driver_send_batch(cl, iov, 8, &queued, 5000), SSHBPP_EINVAL);
    assert_int_equal(queued, 5);
    recv_numbered(sv, 5, 0);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

static void *
recv_arg_forever(void *p)
{
    struct recv_arg *a = p;

    a->r = sshbpp_driver_recv(a->d, a->buf, sizeof(a->buf), &a->len, -1);
    return NULL;
}

struct drain_arg {
    sshbpp_driver *d;
    long delay_ms;
    size_t want, got;
    int r;
};

static void *
drain_thread(void *p)
{
    struct drain_arg *a = p;
    static uint8_t buf[40000];
    size_t len;

    sleep_ms(a->delay_ms);
    while (a->got < a->want && (a->r = sshbpp_driver_recv(a->d, buf, sizeof(buf), &len, 20000)) == 0)
        a->got += len;
    return NULL;
}

/* A batch larger than the output bound, while another thread drives in
 * recv() waiting for input only and the peer starts reading late: the
 * batch's thread must get the driver to wait for writability too. It
 * stalled to its deadline (40 of 128 queued) before the sleeping sender
 * nudged the driver. */
static void
test_send_batch_while_reader_drives(void **state)
{
    sshbpp_driver *cl, *sv;
    static uint8_t msgs[128][32000];
    sshbpp_iov iov[128];
    struct recv_arg ra;
    struct drain_arg da;
    pthread_t tr, td;
    size_t queued = 0;
    unsigned long w0;
    unsigned i;
    int spins = 0;

    (void)state;
    use_callbacks = 1;
    make_pair(&cl, &sv, 0);
    use_callbacks = 0;
    connect_pair(cl, sv, 1);
    for (i = 0; i < 128; i++) {
        memset(msgs[i], 0x33, sizeof(msgs[i]));
        msgs[i][0] = 200;
        iov[i].base = msgs[i];
        iov[i].len = sizeof(msgs[i]);
    }
    memset(&ra, 0, sizeof(ra));
    ra.d = cl;
    w0 = atomic_load(&last_tio->waits);
    assert_int_equal(pthread_create(&tr, NULL, recv_arg_forever, &ra), 0);
    /* the reader drives, waiting for input only, before the batch starts */
    while (atomic_load(&last_tio->waits) == w0) {
        assert_true(++spins < 5000);
        sleep_ms(1);
    }
    memset(&da, 0, sizeof(da));
    da.d = sv;
    da.delay_ms = 500;
    da.want = 128 * sizeof(msgs[0]);
    assert_int_equal(pthread_create(&td, NULL, drain_thread, &da), 0);
    assert_int_equal(sshbpp_driver_send_batch(cl, iov, 128, &queued, 15000), 0);
    assert_int_equal(queued, 128);
    pthread_join(td, NULL);
    assert_int_equal(da.r, 0);
    assert_int_equal(da.got, da.want);
    assert_int_equal(sshbpp_driver_send(sv, msgs[0], 64, 5000), 0);
    pthread_join(tr, NULL);
    assert_int_equal(ra.r, 0);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

/* A transport whose wait returns poll()'s count (1 for "writable" too)
 * is read as "unknown" (no SSHBPP_DRIVER_IO_KNOWN), not as a mask saying
 * "readable": 4 MB still go out. Taken as a mask, the driver never wrote
 * again and spun in wait until the deadline. */
static void
test_wait_returning_poll_count(void **state)
{
    sshbpp_driver *cl, *sv;
    static uint8_t msg[32000];
    struct drain_arg da;
    pthread_t td;
    unsigned i;

    (void)state;
    use_callbacks = 1;
    make_pair(&cl, &sv, 0);
    use_callbacks = 0;
    connect_pair(cl, sv, 1);
    tio_poll_count = 1;
    memset(msg, 0x33, sizeof(msg));
    msg[0] = 200;
    memset(&da, 0, sizeof(da));
    da.d = sv;
    da.want = 128 * sizeof(msg);
    assert_int_equal(pthread_create(&td, NULL, drain_thread, &da), 0);
    for (i = 0; i < 128; i++)
        assert_int_equal(sshbpp_driver_send(cl, msg, sizeof(msg), 15000), 0);
    assert_int_equal(sshbpp_driver_flush(cl, 15000), 0);
    tio_poll_count = 0;
    pthread_join(td, NULL);
    assert_int_equal(da.r, 0);
    assert_int_equal(da.got, da.want);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_wakes_every_waiter),
        cmocka_unit_test(test_close_wakes_every_waiter_callbacks),
        cmocka_unit_test(test_disconnect_reaches_peer),
        cmocka_unit_test(test_silent_server_handshake_times_out),
        cmocka_unit_test(test_stopped_peer_every_call_times_out),
        cmocka_unit_test(test_bulk_both_ways_rekey_every_mib),
        cmocka_unit_test(test_bulk_over_io_callbacks),
        cmocka_unit_test(test_flush_writes_what_sends_left),
        cmocka_unit_test(test_no_wakeup_per_send),
        cmocka_unit_test(test_send_batch),
        cmocka_unit_test(test_send_batch_while_reader_drives),
        cmocka_unit_test(test_wait_returning_poll_count),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
