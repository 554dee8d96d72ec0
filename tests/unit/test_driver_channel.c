/*
 * test_driver_channel.c: the blocking channel API (sshbpp_driver_channel.h)
 * over a socketpair against a server made of the sans-I/O conn and channel
 * layer in a thread: exec with output, stderr and exit status; a refused
 * exec and open; a read that times out within its bounds; a server that
 * floods a client that does not read (the server stops exactly at our
 * window, the client's buffers stay within it) and then all of it read
 * with SHA-256; a killed command; a reader blocked on one channel while
 * another channel's flood is read in full; eight threads, each with its own
 * channel to an echo command and a writer thread beside it, moving data
 * both ways at once, checked with SHA-256.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "chan_srv.h"

#define FLOOD (6u * 1024u * 1024u)
#define MT_CHANNELS 8
#define MT_BYTES    (4u * 1024u * 1024u)

static uint8_t
flood_byte(size_t off)
{
    return (uint8_t)((off * 7u) ^ (off >> 9));
}

/* ---- the server (tests/support/chan_srv.h): exec, flood, echo ------------ */

struct srv {
    cs_srv cs;
    uint32_t sid;
    int flooding;
    size_t sent;
    size_t sent_when_blocked; /* bytes sent when the window first closed */
    int refuse_open;
};

static void
srv_event(cs_srv *cs, const sshbpp_chan_event *ev)
{
    struct srv *s = cs->ctx;
    uint32_t id = ev->channel;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        if (s->refuse_open)
            assert_int_equal(sshbpp_channel_reject(cs->chs, id, SSHBPP_OPEN_RESOURCE_SHORTAGE, "x"),
                             0);
        else
            assert_int_equal(sshbpp_channel_accept(cs->chs, id), 0);
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        if (ev->arg_len == 4 && memcmp(ev->arg, "nope", 4) == 0) {
            assert_int_equal(sshbpp_channel_request_reply(cs->chs, id, 0), 0);
            break;
        }
        assert_int_equal(sshbpp_channel_request_reply(cs->chs, id, 1), 0);
        if (ev->arg_len == 5 && memcmp(ev->arg, "hello", 5) == 0) {
            assert_int_equal(sshbpp_channel_write(cs->chs, id, 0, "hello\n", 6), 6);
            assert_int_equal(sshbpp_channel_write(cs->chs, id, 1, "warn\n", 5), 5);
            assert_int_equal(sshbpp_channel_exit_status(cs->chs, id, 7), 0);
            assert_int_equal(sshbpp_channel_eof(cs->chs, id), 0);
            assert_int_equal(sshbpp_channel_close(cs->chs, id), 0);
        } else if (ev->arg_len == 4 && memcmp(ev->arg, "kill", 4) == 0) {
            assert_int_equal(sshbpp_channel_exit_signal(cs->chs, id, "TERM", 0, ""), 0);
            assert_int_equal(sshbpp_channel_close(cs->chs, id), 0);
        } else if (ev->arg_len == 5 && memcmp(ev->arg, "flood", 5) == 0) {
            s->sid = id;
            s->flooding = 1;
        } else if (ev->arg_len == 4 && memcmp(ev->arg, "echo", 4) == 0) {
            assert_true(id < MT_CHANNELS + 4);
            cs->echo[id].on = 1;
        }
        break;
    default:
        break;
    }
}

static void
srv_flood(cs_srv *cs)
{
    struct srv *s = cs->ctx;
    uint8_t buf[16384];
    size_t k, j;
    int n;

    while (s->flooding && s->sent < FLOOD) {
        k = FLOOD - s->sent < sizeof(buf) ? FLOOD - s->sent : sizeof(buf);
        for (j = 0; j < k; j++)
            buf[j] = flood_byte(s->sent + j);
        n = sshbpp_channel_write(cs->chs, s->sid, 0, buf, k);
        if (n == SSHBPP_EAGAIN) {
            if (s->sent_when_blocked == 0 && sshbpp_channel_send_window(cs->chs, s->sid) == 0)
                s->sent_when_blocked = s->sent;
            return;
        }
        assert_true(n > 0);
        s->sent += (size_t)n;
    }
    if (s->flooding && s->sent == FLOOD) {
        s->flooding = 0;
        assert_int_equal(sshbpp_channel_exit_status(cs->chs, s->sid, 0), 0);
        assert_int_equal(sshbpp_channel_eof(cs->chs, s->sid), 0);
        assert_int_equal(sshbpp_channel_close(cs->chs, s->sid), 0);
    }
}

struct pair {
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc;
};

static void
pair_up(struct pair *p, int refuse_open)
{
    memset(p, 0, sizeof(*p));
    p->s.refuse_open = refuse_open;
    p->s.cs.necho = MT_CHANNELS + 4;
    p->s.cs.echo_exit_status = 1;
    p->s.cs.on_event = srv_event;
    p->s.cs.on_step = srv_flood;
    p->s.cs.ctx = &p->s;
    p->dc = cs_client_up(cs_srv_start(&p->s.cs), &p->d);
}

static void
pair_down(struct pair *p)
{
    cs_srv_stop(&p->s.cs);
    sshbpp_driver_channels_free(p->dc);
    sshbpp_driver_free(p->d);
    cs_srv_free(&p->s.cs);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_exec_output_status(void **state)
{
    struct pair p;
    uint32_t id, reason = 99;
    char buf[64], sig[16];
    long n;
    int st;

    (void)state;
    pair_up(&p, 0);
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, &reason, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "nope", 10000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "hello", 10000), 0);
    n = sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10000);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "hello\n", 6);
    assert_int_equal(sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10000), 0);
    n = sshbpp_driver_channel_read(p.dc, id, 1, buf, sizeof(buf), 10000);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "warn\n", 5);
    assert_int_equal(sshbpp_driver_channel_wait_exit(p.dc, id, &st, sig, sizeof(sig), 10000), 0);
    assert_int_equal(st, 7);
    assert_string_equal(sig, "");
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10), SSHBPP_ESTATE);

    /* killed */
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, NULL, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "kill", 10000), 0);
    assert_int_equal(sshbpp_driver_channel_wait_exit(p.dc, id, &st, sig, sizeof(sig), 10000), 0);
    assert_int_equal(st, -1);
    assert_string_equal(sig, "TERM");
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    pair_down(&p);
}

/* read_any: both streams from one call, stdout first, then 0 at EOF */
static void
test_read_any(void **state)
{
    struct pair p;
    uint32_t id;
    char buf[64];
    int ext = -1, st;

    (void)state;
    pair_up(&p, 0);
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, NULL, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "hello", 10000), 0);
    assert_int_equal(sshbpp_driver_channel_wait_exit(p.dc, id, &st, NULL, 0, 10000), 0);
    assert_int_equal(st, 7);
    assert_int_equal(sshbpp_driver_channel_read_any(p.dc, id, &ext, buf, sizeof(buf), 10000), 6);
    assert_int_equal(ext, 0);
    assert_memory_equal(buf, "hello\n", 6);
    assert_int_equal(sshbpp_driver_channel_read_any(p.dc, id, &ext, buf, 3, 10000), 3);
    assert_int_equal(ext, 1);
    assert_memory_equal(buf, "war", 3);
    assert_int_equal(sshbpp_driver_channel_read_any(p.dc, id, &ext, buf, sizeof(buf), 10000), 2);
    assert_int_equal(ext, 1);
    assert_memory_equal(buf, "n\n", 2);
    assert_int_equal(sshbpp_driver_channel_read_any(p.dc, id, &ext, buf, sizeof(buf), 10000), 0);
    assert_int_equal(sshbpp_driver_channel_read_any(p.dc, id, NULL, buf, sizeof(buf), 10),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    pair_down(&p);
}

static void
test_timeout_and_refused_open(void **state)
{
    struct pair p;
    uint32_t id, reason = 0;
    char buf[8];
    int64_t t0, dt;

    (void)state;
    pair_up(&p, 0);
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, NULL, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "idle", 10000), 0);
    t0 = cs_now_ms();
    assert_int_equal(sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 300),
                     SSHBPP_ETIMEDOUT);
    dt = cs_now_ms() - t0;
    assert_true(dt >= 300 && dt < 600);
    pair_down(&p);

    pair_up(&p, 1);
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, &reason, 10000),
                     SSHBPP_EREFUSED);
    assert_int_equal(reason, SSHBPP_OPEN_RESOURCE_SHORTAGE);
    pair_down(&p);
}

static void
test_flood_bounded_by_window(void **state)
{
    static uint8_t buf[100000];
    uint8_t got[32], want[32];
    EVP_MD_CTX *h = EVP_MD_CTX_new(), *w = EVP_MD_CTX_new();
    struct pair p;
    size_t total = 0, j;
    unsigned hl;
    uint32_t id;
    long n;
    int st;

    (void)state;
    pair_up(&p, 0);
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, NULL, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "flood", 10000), 0);
    /* read one byte: everything up to the window arrives meanwhile, no more */
    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    n = sshbpp_driver_channel_read(p.dc, id, 0, buf, 1, 10000);
    assert_int_equal(n, 1);
    EVP_DigestUpdate(h, buf, 1);
    total = 1;
    {
        /* let the server run into the window: the exit wait decodes all
         * that comes (it times out: the server cannot finish) */
        char sig[8];

        assert_int_equal(sshbpp_driver_channel_wait_exit(p.dc, id, &st, sig, sizeof(sig), 500),
                         SSHBPP_ETIMEDOUT);
    }
    /* the server stopped exactly at our window (plus the one byte read) */
    assert_int_equal(p.s.sent_when_blocked, SSHBPP_CHAN_DEFAULT_WINDOW);
    while ((n = sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10000)) > 0) {
        EVP_DigestUpdate(h, buf, (size_t)n);
        total += (size_t)n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(total, FLOOD);
    EVP_DigestFinal_ex(h, got, &hl);
    EVP_DigestInit_ex(w, EVP_sha256(), NULL);
    for (j = 0; j < FLOOD; j += sizeof(buf)) {
        size_t k = FLOOD - j < sizeof(buf) ? FLOOD - j : sizeof(buf), i;

        for (i = 0; i < k; i++)
            buf[i] = flood_byte(j + i);
        EVP_DigestUpdate(w, buf, k);
    }
    EVP_DigestFinal_ex(w, want, &hl);
    assert_memory_equal(got, want, 32);
    assert_int_equal(sshbpp_driver_channel_wait_exit(p.dc, id, &st, NULL, 0, 10000), 0);
    assert_int_equal(st, 0);
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    EVP_MD_CTX_free(h);
    EVP_MD_CTX_free(w);
    pair_down(&p);
}

/* ---- eight threads, one channel each ---------------------------------------- */

static uint8_t
mt_byte(unsigned ch, size_t off)
{
    return (uint8_t)((off * (2u * ch + 3u)) ^ (off >> 11) ^ ch);
}

struct mt {
    sshbpp_driver_channels *dc;
    unsigned idx;
    uint32_t id;
    int wr_rc, ok;
    size_t got;
};

/* The writer beside each reader: the whole pattern in uneven pieces, then
 * EOF. */
static void *
mt_writer(void *p)
{
    struct mt *m = p;
    static __thread uint8_t buf[70001];
    size_t off = 0, k, i;

    while (off < MT_BYTES) {
        k = 1 + (off * 31 + m->idx * 977) % sizeof(buf);
        if (k > MT_BYTES - off)
            k = MT_BYTES - off;
        for (i = 0; i < k; i++)
            buf[i] = mt_byte(m->idx, off + i);
        if ((m->wr_rc = sshbpp_driver_channel_write(m->dc, m->id, 0, buf, k, 30000)) != 0)
            return NULL;
        off += k;
    }
    m->wr_rc = sshbpp_driver_channel_eof(m->dc, m->id);
    return NULL;
}

static void *
mt_worker(void *p)
{
    struct mt *m = p;
    uint8_t buf[50000], got[32], want[32];
    EVP_MD_CTX *h = EVP_MD_CTX_new(), *w = EVP_MD_CTX_new();
    pthread_t wt;
    unsigned hl;
    size_t i;
    long n;
    int st;

    if (h == NULL || w == NULL ||
        sshbpp_driver_channel_open_session(m->dc, &m->id, NULL, 20000) != 0 ||
        sshbpp_driver_channel_exec(m->dc, m->id, "echo", 20000) != 0 ||
        pthread_create(&wt, NULL, mt_writer, m) != 0)
        goto out;
    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    while ((n = sshbpp_driver_channel_read(m->dc, m->id, 0, buf, sizeof(buf), 30000)) > 0) {
        EVP_DigestUpdate(h, buf, (size_t)n);
        m->got += (size_t)n;
    }
    pthread_join(wt, NULL);
    EVP_DigestFinal_ex(h, got, &hl);
    EVP_DigestInit_ex(w, EVP_sha256(), NULL);
    for (i = 0; i < MT_BYTES; i++) {
        buf[i % sizeof(buf)] = mt_byte(m->idx, i);
        if (i % sizeof(buf) == sizeof(buf) - 1 || i == MT_BYTES - 1)
            EVP_DigestUpdate(w, buf, i % sizeof(buf) + 1);
    }
    EVP_DigestFinal_ex(w, want, &hl);
    m->ok = n == 0 && m->wr_rc == 0 && m->got == MT_BYTES && memcmp(got, want, 32) == 0 &&
            sshbpp_driver_channel_wait_exit(m->dc, m->id, &st, NULL, 0, 20000) == 0 && st == 0 &&
            sshbpp_driver_channel_close(m->dc, m->id, 20000) == 0;
out:
    EVP_MD_CTX_free(h);
    EVP_MD_CTX_free(w);
    return NULL;
}

/* A reader blocked on an idle channel holds up nobody: the flood on a
 * second channel is read in full meanwhile; sshbpp_driver_close() then
 * wakes the blocked reader with SSHBPP_ECLOSED. */
struct idle_reader {
    sshbpp_driver_channels *dc;
    uint32_t id;
    volatile int done;
    long rc;
};

static void *
idle_main(void *p)
{
    struct idle_reader *r = p;
    char buf[16];

    r->rc = sshbpp_driver_channel_read(r->dc, r->id, 0, buf, sizeof(buf), 60000);
    r->done = 1;
    return NULL;
}

static void
test_blocked_reader_blocks_nobody(void **state)
{
    static uint8_t buf[65536];
    struct idle_reader ir;
    struct pair p;
    pthread_t t;
    uint32_t id;
    size_t total = 0;
    int64_t t0;
    long n;

    (void)state;
    pair_up(&p, 0);
    memset(&ir, 0, sizeof(ir));
    ir.dc = p.dc;
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &ir.id, NULL, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, ir.id, "idle", 10000), 0);
    assert_int_equal(pthread_create(&t, NULL, idle_main, &ir), 0);
    t0 = cs_now_ms();
    assert_int_equal(sshbpp_driver_channel_open_session(p.dc, &id, NULL, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(p.dc, id, "flood", 10000), 0);
    while ((n = sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10000)) > 0)
        total += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(total, FLOOD);
    assert_true(cs_now_ms() - t0 < 20000);
    assert_false(ir.done);
    sshbpp_driver_close(p.d);
    pthread_join(t, NULL);
    assert_int_equal(ir.rc, SSHBPP_ECLOSED);
    pair_down(&p);
}

static void
test_eight_threads(void **state)
{
    struct mt m[MT_CHANNELS];
    pthread_t t[MT_CHANNELS];
    struct pair p;
    unsigned i;

    (void)state;
    pair_up(&p, 0);
    for (i = 0; i < MT_CHANNELS; i++) {
        memset(&m[i], 0, sizeof(m[i]));
        m[i].dc = p.dc;
        m[i].idx = i;
        assert_int_equal(pthread_create(&t[i], NULL, mt_worker, &m[i]), 0);
    }
    for (i = 0; i < MT_CHANNELS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < MT_CHANNELS; i++) {
        if (!m[i].ok)
            fprintf(stderr, "channel %u: got %zu of %u, writer %d\n", i, m[i].got, MT_BYTES,
                    m[i].wr_rc);
        assert_true(m[i].ok);
    }
    assert_int_equal(sshbpp_driver_error(p.d), 0);
    pair_down(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_output_status),
        cmocka_unit_test(test_read_any),
        cmocka_unit_test(test_timeout_and_refused_open),
        cmocka_unit_test(test_flood_bounded_by_window),
        cmocka_unit_test(test_blocked_reader_blocks_nobody),
        cmocka_unit_test(test_eight_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
