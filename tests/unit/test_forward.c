/*
 * test_forward.c: direct-tcpip channels (RFC 4254 section 7.2), the
 * client side over the blocking channel API (sshbpp_driver_channel.h),
 * against a server made of the sans-I/O conn and channel layer in a
 * thread over a socketpair: the server sees an OPEN_REQUEST of type
 * "direct-tcpip" whose data is exactly the RFC's encoding of the host,
 * port and originator we gave (checked byte by byte and through
 * sshbpp_channel_parse_direct_tcpip); a refusal reaches the caller as
 * SSHBPP_EREFUSED with the server's reason (1 administratively
 * prohibited, 2 connect failed); bad arguments send nothing; an echo
 * target gets 1 MiB, our EOF, and echoes it all back after it (half
 * close: the channel stays readable after our EOF), then EOF and CLOSE;
 * sshbpp_driver_channels_service() times out within its bound and ends
 * with SSHBPP_ECLOSED at sshbpp_driver_close(). The parser refuses
 * malformed data (short, trailing bytes, NUL in a string, an empty or
 * over-long host, a port over 65535).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan_srv.h"

#define ECHO_BYTES (1u << 20)
#define NCH        8

/* ---- the server (tests/support/chan_srv.h) and what it saw ----------------- */

struct srv {
    cs_srv cs;
    pthread_mutex_t mu; /* guards the record below */
    unsigned opens;
    char type[64];
    uint8_t raw[600];
    size_t raw_len;
    sshbpp_direct_tcpip last;
};

static void
srv_open(struct srv *s, const sshbpp_chan_event *ev)
{
    sshbpp_direct_tcpip f;
    uint32_t id = ev->channel;
    int pr;

    pr = sshbpp_channel_parse_direct_tcpip(ev->data, ev->len, &f);
    pthread_mutex_lock(&s->mu);
    s->opens++;
    snprintf(s->type, sizeof(s->type), "%s", ev->name);
    s->raw_len = ev->len < sizeof(s->raw) ? ev->len : sizeof(s->raw);
    memcpy(s->raw, ev->data, s->raw_len);
    s->last = f;
    pthread_mutex_unlock(&s->mu);
    if (strcmp(ev->name, "direct-tcpip") != 0 || pr != 0) {
        assert_int_equal(
            sshbpp_channel_reject(s->cs.chs, id, SSHBPP_OPEN_UNKNOWN_CHANNEL_TYPE, "unknown"), 0);
        return;
    }
    if (strcmp(f.host, "refuse.example") == 0) {
        /* as sshd with AllowTcpForwarding no */
        assert_int_equal(sshbpp_channel_reject(
                             s->cs.chs, id, SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED, "open failed"),
                         0);
        return;
    }
    if (f.port == 1) {
        assert_int_equal(
            sshbpp_channel_reject(s->cs.chs, id, SSHBPP_OPEN_CONNECT_FAILED, "Connection refused"),
            0);
        return;
    }
    assert_true(id < NCH);
    assert_int_equal(sshbpp_channel_accept(s->cs.chs, id), 0);
    s->cs.echo[id].on = 1;
}

static void
srv_event(cs_srv *cs, const sshbpp_chan_event *ev)
{
    struct srv *s = cs->ctx;
    uint32_t id = ev->channel;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        srv_open(s, ev);
        break;
    case SSHBPP_CHAN_EV_CLOSE:
        if (id < NCH) {
            free(cs->echo[id].buf);
            memset(&cs->echo[id], 0, sizeof(cs->echo[id]));
        }
        break;
    default:
        break;
    }
}

struct pair {
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc;
};

static void
pair_up(struct pair *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->s.mu, NULL);
    p->s.cs.necho = NCH;
    p->s.cs.on_event = srv_event;
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
    pthread_mutex_destroy(&p->s.mu);
}

static unsigned
srv_opens(struct srv *s)
{
    unsigned n;

    pthread_mutex_lock(&s->mu);
    n = s->opens;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* RFC 4254 7.2 by hand: string host, uint32 port, string orig, uint32 oport */
static size_t
encode(uint8_t *out, const char *host, uint32_t port, const char *orig, uint32_t oport)
{
    size_t n = 0, k;
    const char *s[2] = {host, orig};
    uint32_t v[2] = {port, oport};

    for (int i = 0; i < 2; i++) {
        k = strlen(s[i]);
        out[n++] = (uint8_t)(k >> 24), out[n++] = (uint8_t)(k >> 16);
        out[n++] = (uint8_t)(k >> 8), out[n++] = (uint8_t)k;
        memcpy(out + n, s[i], k);
        n += k;
        out[n++] = (uint8_t)(v[i] >> 24), out[n++] = (uint8_t)(v[i] >> 16);
        out[n++] = (uint8_t)(v[i] >> 8), out[n++] = (uint8_t)v[i];
    }
    return n;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_open_fields(void **state)
{
    struct pair p;
    uint8_t want[128];
    size_t wl;
    uint32_t id, reason = 99;

    (void)state;
    pair_up(&p);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "db.internal", 5432,
                                                             "192.0.2.7", 40001, &id, &reason,
                                                             10000),
                     0);
    pthread_mutex_lock(&p.s.mu);
    assert_string_equal(p.s.type, "direct-tcpip");
    wl = encode(want, "db.internal", 5432, "192.0.2.7", 40001);
    assert_int_equal(p.s.raw_len, wl);
    assert_memory_equal(p.s.raw, want, wl);
    assert_string_equal(p.s.last.host, "db.internal");
    assert_int_equal(p.s.last.port, 5432);
    assert_string_equal(p.s.last.orig_addr, "192.0.2.7");
    assert_int_equal(p.s.last.orig_port, 40001);
    pthread_mutex_unlock(&p.s.mu);
    assert_int_equal(reason, 99); /* untouched on success */
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);

    /* NULL originator: 127.0.0.1; port 0 and 65535 are in range */
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "h", 65535, NULL, 0, &id, NULL,
                                                             10000),
                     0);
    pthread_mutex_lock(&p.s.mu);
    wl = encode(want, "h", 65535, "127.0.0.1", 0);
    assert_int_equal(p.s.raw_len, wl);
    assert_memory_equal(p.s.raw, want, wl);
    pthread_mutex_unlock(&p.s.mu);
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    assert_int_equal(srv_opens(&p.s), 2);
    pair_down(&p);
}

static void
test_refused_with_reason(void **state)
{
    struct pair p;
    uint32_t id = 77, reason = 0;

    (void)state;
    pair_up(&p);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "refuse.example", 80,
                                                             "127.0.0.1", 5555, &id, &reason,
                                                             10000),
                     SSHBPP_EREFUSED);
    assert_int_equal(reason, SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED);
    reason = 0;
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "127.0.0.1", 1, "127.0.0.1",
                                                             5556, &id, &reason, 10000),
                     SSHBPP_EREFUSED);
    assert_int_equal(reason, SSHBPP_OPEN_CONNECT_FAILED);
    /* the refused channels' numbers are free again: NCH opens still fit */
    for (unsigned i = 0; i < NCH; i++) {
        uint32_t k;

        assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "x", 7, NULL, 0, &k, NULL,
                                                                 10000),
                         0);
        assert_true(k < NCH);
    }
    assert_int_equal(sshbpp_driver_error(p.d), 0);
    pair_down(&p);
}

static void
test_bad_arguments_send_nothing(void **state)
{
    struct pair p;
    char big[SSHBPP_DIRECT_TCPIP_MAX_HOST + 2];
    uint32_t id;

    (void)state;
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0'; /* 256 bytes: one over */
    pair_up(&p);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, NULL, 80, NULL, 0, &id, NULL, 100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "", 80, NULL, 0, &id, NULL, 100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, big, 80, NULL, 0, &id, NULL, 100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "h", 65536, NULL, 0, &id, NULL,
                                                             100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "h", 80, big, 0, &id, NULL, 100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "h", 80, NULL, 70000, &id, NULL,
                                                             100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "h", 80, NULL, 0, NULL, NULL,
                                                             100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(NULL, "h", 80, NULL, 0, &id, NULL,
                                                             100),
                     SSHBPP_EINVAL);
    /* exactly the bound is fine */
    big[SSHBPP_DIRECT_TCPIP_MAX_HOST] = '\0';
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, big, 80, big, 65535, &id, NULL,
                                                             10000),
                     0);
    assert_int_equal(srv_opens(&p.s), 1);
    pthread_mutex_lock(&p.s.mu);
    assert_int_equal(strlen(p.s.last.host), SSHBPP_DIRECT_TCPIP_MAX_HOST);
    assert_int_equal(strlen(p.s.last.orig_addr), SSHBPP_DIRECT_TCPIP_MAX_HOST);
    pthread_mutex_unlock(&p.s.mu);
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    pair_down(&p);
}

static uint8_t
pat(size_t off)
{
    return (uint8_t)((off * 13u) ^ (off >> 11));
}

/* 1 MiB to the echo target, our EOF, then all of it back after our EOF,
 * then the target's EOF (read 0) and CLOSE. */
static void
test_echo_half_close(void **state)
{
    static uint8_t out[ECHO_BYTES], in[ECHO_BYTES];
    struct pair p;
    size_t got = 0, i;
    uint32_t id;
    long n;
    int st;
    char sig[8];

    (void)state;
    for (i = 0; i < ECHO_BYTES; i++)
        out[i] = pat(i);
    pair_up(&p);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "127.0.0.1", 7, "127.0.0.1",
                                                             33333, &id, NULL, 10000),
                     0);
    /* more than the window (2 MiB) would not fit without reading: 1 MiB
     * does, so one thread can write it all, then read */
    assert_int_equal(sshbpp_driver_channel_write(p.dc, id, 0, out, ECHO_BYTES, 20000), 0);
    assert_int_equal(sshbpp_driver_channel_eof(p.dc, id), 0);
    assert_int_equal(sshbpp_driver_channel_write(p.dc, id, 0, "x", 1, 1000), SSHBPP_ESTATE);
    while (got < ECHO_BYTES) {
        n = sshbpp_driver_channel_read(p.dc, id, 0, in + got, ECHO_BYTES - got, 20000);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(in, out, ECHO_BYTES);
    assert_int_equal(sshbpp_driver_channel_read(p.dc, id, 0, in, 16, 20000), 0);
    /* no exit status on a direct-tcpip channel: wait_exit ends at CLOSE */
    assert_int_equal(sshbpp_driver_channel_wait_exit(p.dc, id, &st, sig, sizeof(sig), 20000), 0);
    assert_int_equal(st, -1);
    assert_string_equal(sig, "");
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    assert_int_equal(sshbpp_driver_error(p.d), 0);
    pair_down(&p);
}

struct svc {
    sshbpp_driver_channels *dc;
    int rc;
};

static void *
svc_main(void *arg)
{
    struct svc *v = arg;

    v->rc = sshbpp_driver_channels_service(v->dc, -1);
    return NULL;
}

/* service(): a timeout within its bound; another thread's channel works
 * while it drives; sshbpp_driver_close() ends it with SSHBPP_ECLOSED. */
static void
test_service(void **state)
{
    struct pair p;
    struct svc v;
    pthread_t t;
    uint8_t buf[16];
    uint32_t id;
    int64_t t0, dt;

    (void)state;
    pair_up(&p);
    t0 = cs_now_ms();
    assert_int_equal(sshbpp_driver_channels_service(p.dc, 300), SSHBPP_ETIMEDOUT);
    dt = cs_now_ms() - t0;
    assert_true(dt >= 300 && dt < 1500);
    assert_int_equal(sshbpp_driver_channels_service(NULL, 10), SSHBPP_EINVAL);

    v.dc = p.dc;
    v.rc = 1;
    assert_int_equal(pthread_create(&t, NULL, svc_main, &v), 0);
    assert_int_equal(sshbpp_driver_channel_open_direct_tcpip(p.dc, "echo", 7, NULL, 0, &id, NULL,
                                                             10000),
                     0);
    assert_int_equal(sshbpp_driver_channel_write(p.dc, id, 0, "ping", 4, 10000), 0);
    assert_int_equal(sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10000), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(sshbpp_driver_channel_eof(p.dc, id), 0);
    assert_int_equal(sshbpp_driver_channel_read(p.dc, id, 0, buf, sizeof(buf), 10000), 0);
    assert_int_equal(sshbpp_driver_channel_close(p.dc, id, 10000), 0);
    sshbpp_driver_close(p.d);
    pthread_join(t, NULL);
    assert_int_equal(v.rc, SSHBPP_ECLOSED);
    pair_down(&p);
}

static void
test_parse(void **state)
{
    uint8_t b[700];
    sshbpp_direct_tcpip f;
    size_t n;
    char big[SSHBPP_DIRECT_TCPIP_MAX_HOST + 2];

    (void)state;
    n = encode(b, "example.org", 443, "10.0.0.1", 65535);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), 0);
    assert_string_equal(f.host, "example.org");
    assert_int_equal(f.port, 443);
    assert_string_equal(f.orig_addr, "10.0.0.1");
    assert_int_equal(f.orig_port, 65535);
    /* every truncation, and a trailing byte */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, k, &f), SSHBPP_EINVAL);
    b[n] = 0;
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n + 1, &f), SSHBPP_EINVAL);
    /* port over 65535 */
    n = encode(b, "h", 65536, "o", 1);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), SSHBPP_EINVAL);
    n = encode(b, "h", 1, "o", 0x10000);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), SSHBPP_EINVAL);
    /* empty host refused, empty originator accepted */
    n = encode(b, "", 1, "o", 1);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), SSHBPP_EINVAL);
    n = encode(b, "h", 1, "", 1);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), 0);
    assert_string_equal(f.orig_addr, "");
    /* a NUL inside the host */
    n = encode(b, "ab", 1, "o", 1);
    b[5] = 0;
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), SSHBPP_EINVAL);
    /* 256 bytes: over the bound; 255: fine */
    memset(big, 'z', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    n = encode(b, big, 1, "o", 1);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), SSHBPP_EINVAL);
    big[SSHBPP_DIRECT_TCPIP_MAX_HOST] = '\0';
    n = encode(b, big, 1, big, 1);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, &f), 0);
    /* a length field of 2^32-1 */
    memset(b, 0xff, 4);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, 12, &f), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(NULL, 0, &f), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_channel_parse_direct_tcpip(b, n, NULL), SSHBPP_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_open_fields),
        cmocka_unit_test(test_refused_with_reason),
        cmocka_unit_test(test_bad_arguments_send_nothing),
        cmocka_unit_test(test_echo_half_close),
        cmocka_unit_test(test_service),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
