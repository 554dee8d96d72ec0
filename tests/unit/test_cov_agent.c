/*
 * test_cov_agent.c: the ssh-agent client's socket part (src/io/agent.c)
 * against a scripted fake agent on a Unix socket in a temporary
 * directory: answers cut short (in the length, in the body, the agent
 * gone before it read), a zero or oversized length, a wrong type, a
 * refusal, an agent that never answers (the timeout), an answer that comes
 * in pieces, and the object staying failed (nothing more is sent) after
 * SSHBPP_EAGENT or SSHBPP_ETIMEDOUT; plus the API contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sshbpp/sshbpp_keys.h"

static char tmpdir[64];

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* One answer of the script: bytes sent after a request was read. */
struct answer {
    uint8_t b[128];
    size_t len;
    int split;     /* send one byte at a time, 2 ms apart */
    int close;     /* close the connection after sending */
    int no_answer; /* send nothing; wait for the client to go away */
};

struct fake {
    int lfd;
    struct answer ans[6];
    unsigned nans;
    unsigned requests;     /* requests read */
    int close_before_read; /* close at once after accept */
    long sleep_first_ms;   /* sleep before reading anything, then read to EOF */
    uint8_t last_type;
};

/* Reads one framed request; returns 0, or -1 at EOF. */
static int
read_req(int fd, struct fake *f)
{
    uint8_t h[4], body[4096];
    size_t got = 0, n;
    ssize_t r;

    while (got < 4) {
        if ((r = read(fd, h + got, 4 - got)) <= 0)
            return -1;
        got += (size_t)r;
    }
    n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    if (n == 0 || n > sizeof(body))
        return -1;
    for (got = 0; got < n; got += (size_t)r)
        if ((r = read(fd, body + got, n - got)) <= 0)
            return -1;
    f->last_type = body[0];
    return 0;
}

static void *
fake_main(void *p)
{
    struct fake *f = p;
    int fd = accept(f->lfd, NULL, NULL);
    unsigned i;

    if (fd < 0)
        return NULL;
    if (f->close_before_read) {
        close(fd);
        return NULL;
    }
    if (f->sleep_first_ms > 0) {
        uint8_t junk[65536];

        sleep_ms(f->sleep_first_ms);
        while (read(fd, junk, sizeof(junk)) > 0)
            ;
        close(fd);
        return NULL;
    }
    for (i = 0; i < f->nans; i++) {
        const struct answer *a = &f->ans[i];

        if (read_req(fd, f) != 0)
            break;
        f->requests++;
        if (a->no_answer)
            break;
        if (a->split) {
            for (size_t k = 0; k < a->len; k++) {
                assert_int_equal(write(fd, a->b + k, 1), 1);
                sleep_ms(2);
            }
        } else if (a->len > 0) {
            assert_int_equal(write(fd, a->b, a->len), (ssize_t)a->len);
        }
        if (a->close) {
            close(fd);
            return NULL;
        }
    }
    /* anything more the client sends is counted; then its close ends us */
    while (read_req(fd, f) == 0)
        f->requests++;
    close(fd);
    return NULL;
}

static void *
fake_noop(void *p)
{
    return p;
}

static struct {
    struct fake f;
    pthread_t t;
    char path[128];
} rig;

static void
fake_start(void)
{
    struct sockaddr_un sa;

    snprintf(rig.path, sizeof(rig.path), "%s/agent.sock", tmpdir);
    unlink(rig.path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, rig.path);
    rig.f.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(rig.f.lfd >= 0);
    assert_int_equal(bind(rig.f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(rig.f.lfd, 1), 0);
    assert_int_equal(pthread_create(&rig.t, NULL, fake_main, &rig.f), 0);
}

/* Joins the fake (the client closed first); returns how many requests
 * it read. */
static unsigned
fake_stop(void)
{
    unsigned n;

    pthread_join(rig.t, NULL);
    n = rig.f.requests;
    close(rig.f.lfd);
    unlink(rig.path);
    memset(&rig.f, 0, sizeof(rig.f));
    return n;
}

static void
add_answer(const void *b, size_t len, int split, int close_after)
{
    struct answer *a = &rig.f.ans[rig.f.nans++];

    memcpy(a->b, b, len);
    a->len = len;
    a->split = split;
    a->close = close_after;
}

/* A framed answer: length, then body. */
static void
add_framed(const void *body, size_t blen, int split, int close_after)
{
    uint8_t b[128];

    put32(b, (uint32_t)blen);
    memcpy(b + 4, body, blen);
    add_answer(b, 4 + blen, split, close_after);
}

/* An IDENTITIES_ANSWER with one ed25519 key (any 32 bytes) "k1". */
static size_t
identities_one(uint8_t *b)
{
    size_t o = 0;

    b[o++] = 12;
    put32(b + o, 1), o += 4;
    put32(b + o, 51), o += 4;
    put32(b + o, 11), o += 4;
    memcpy(b + o, "ssh-ed25519", 11), o += 11;
    put32(b + o, 32), o += 4;
    memset(b + o, 0x42, 32), o += 32;
    put32(b + o, 2), o += 4;
    memcpy(b + o, "k1", 2), o += 2;
    return o;
}

/* Opens the agent, lists: the list's result. */
static int
open_list(int64_t timeout_ms, sshbpp_agent **a, sshbpp_key ***keys, size_t *n)
{
    assert_int_equal(sshbpp_agent_open(rig.path, timeout_ms, a), 0);
    return sshbpp_agent_list(*a, keys, n);
}

static void
test_contract(void **state)
{
    sshbpp_agent *a = (sshbpp_agent *)&a;
    sshbpp_key **keys;
    uint8_t sig[64];
    size_t n, slen;
    char longpath[200];
    const char *old = getenv("SSH_AUTH_SOCK");
    char *saved = old != NULL ? strdup(old) : NULL;

    (void)state;
    assert_int_equal(sshbpp_agent_open(rig.path, 100, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_open("", 100, &a), SSHBPP_EINVAL);
    assert_null(a);
    unsetenv("SSH_AUTH_SOCK");
    assert_int_equal(sshbpp_agent_open(NULL, 100, &a), SSHBPP_EINVAL);
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(sshbpp_agent_open(longpath, 100, &a), SSHBPP_EAGENT);
    snprintf(longpath, sizeof(longpath), "%s/nobody-here", tmpdir);
    assert_int_equal(sshbpp_agent_open(longpath, 100, &a), SSHBPP_EAGENT);
    assert_null(a);

    /* $SSH_AUTH_SOCK when path is NULL */
    fake_start();
    /* no descriptor left: the socket cannot be made (the agent is there) */
    {
        struct rlimit lim0, lim;
        int holes[1024], nholes = 0, maxfd = -1, fd, r;

        for (fd = 0; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) != -1)
                maxfd = fd;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim0), 0);
        lim = lim0;
        lim.rlim_cur = (rlim_t)maxfd + 1;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
        while (nholes < 1024 && (fd = dup(0)) >= 0)
            holes[nholes++] = fd;
        r = sshbpp_agent_open(rig.path, 1000, &a);
        while (nholes > 0)
            close(holes[--nholes]);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim0), 0);
        assert_true(fd < 0);
        assert_int_equal(r, SSHBPP_EAGENT);
        assert_null(a);
    }
    setenv("SSH_AUTH_SOCK", rig.path, 1);
    assert_int_equal(sshbpp_agent_open(NULL, 1000, &a), 0);
    assert_non_null(a);
    assert_int_equal(sshbpp_agent_list(NULL, &keys, &n), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_list(a, NULL, &n), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_list(a, &keys, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_sign(NULL, NULL, "ssh-ed25519", sig, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_sign_cb(NULL, "ssh-ed25519", sig, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    sshbpp_agent_close(a);
    sshbpp_agent_close(NULL);
    assert_int_equal(fake_stop(), 0); /* the refused calls sent nothing */
    if (saved != NULL) {
        setenv("SSH_AUTH_SOCK", saved, 1);
        free(saved);
    } else {
        unsetenv("SSH_AUTH_SOCK");
    }
}

/* Answers that are not answers: each SSHBPP_EAGENT, and the object then
 * fails without sending anything more. */
static void
test_bad_answers(void **state)
{
    static const uint8_t zero_len[4] = {0, 0, 0, 0}, huge_len[4] = {0, 4, 0, 1},
                         hdr_part[2] = {0, 0}, body_part[6] = {0, 0, 0, 9, 12, 0},
                         wrong_type[1] = {99};
    enum { ZERO, HUGE, HDR, BODY, TYPE, GONE, NCASES };
    unsigned i;

    (void)state;
    for (i = 0; i < NCASES; i++) {
        sshbpp_agent *a = NULL;
        sshbpp_key **keys;
        size_t n;

        switch (i) {
        case ZERO:
            add_answer(zero_len, sizeof(zero_len), 0, 0);
            break;
        case HUGE: /* 256 KiB + 1: over the bound, refused before any allocation */
            add_answer(huge_len, sizeof(huge_len), 0, 0);
            break;
        case HDR: /* two bytes of the length, then the agent goes */
            add_answer(hdr_part, sizeof(hdr_part), 0, 1);
            break;
        case BODY: /* 2 of the 9 body bytes, then the agent goes */
            add_answer(body_part, sizeof(body_part), 0, 1);
            break;
        case TYPE: /* a whole answer of a type nobody asked for, twice */
            add_framed(wrong_type, sizeof(wrong_type), 0, 0);
            add_framed(wrong_type, sizeof(wrong_type), 0, 0);
            break;
        default: /* gone before it read the request */
            rig.f.close_before_read = 1;
            break;
        }
        fake_start();
        if (i == GONE) {
            /* gone for sure before the request: the send fails (EPIPE) */
            assert_int_equal(sshbpp_agent_open(rig.path, 2000, &a), 0);
            pthread_join(rig.t, NULL);
            assert_int_equal(pthread_create(&rig.t, NULL, fake_noop, NULL), 0);
            assert_int_equal(sshbpp_agent_list(a, &keys, &n), SSHBPP_EAGENT);
        } else {
            /* a timeout over 60 s: polled in slices of at most 60 s */
            assert_int_equal(open_list(i == ZERO ? 120000 : 2000, &a, &keys, &n), SSHBPP_EAGENT);
        }
        assert_null(keys);
        assert_int_equal(n, 0);
        {
            unsigned sent;

            /* again: SSHBPP_EAGENT; a wrong but whole answer is the
             * codec's error and leaves the transport in step (a second
             * request goes out), a broken one fails the object (nothing
             * more is sent) */
            assert_int_equal(sshbpp_agent_list(a, &keys, &n), SSHBPP_EAGENT);
            sshbpp_agent_close(a);
            sent = fake_stop();
            assert_int_equal(sent, i == GONE ? 0 : i == TYPE ? 2 : 1);
        }
    }
}

static void
test_refused_and_pieces(void **state)
{
    static const uint8_t failure[1] = {5};
    sshbpp_agent *a = NULL;
    sshbpp_key **keys;
    uint8_t ids[128], sig[64], data[4] = "data";
    size_t n, slen, idlen = identities_one(ids);
    sshbpp_agent_signer s;

    (void)state;
    /* the identities in pieces (a byte at a time), with no timeout; then
     * the sign request is refused (FAILURE), twice: the object stays usable */
    add_framed(ids, idlen, 1, 0);
    add_framed(failure, 1, 0, 0);
    add_framed(failure, 1, 0, 0);
    add_framed(failure, 1, 0, 0);
    add_framed(failure, 1, 0, 0);
    fake_start();
    assert_int_equal(open_list(-1, &a, &keys, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(sshbpp_key_comment(keys[0]), "k1");
    assert_int_equal(
        sshbpp_agent_sign(a, keys[0], "ssh-ed25519", data, sizeof(data), sig, sizeof(sig), &slen),
        SSHBPP_EAGENTREFUSED);
    assert_int_equal(rig.f.last_type, 13); /* SIGN_REQUEST went out */
    s.agent = a;
    s.key = keys[0];
    assert_int_equal(sshbpp_agent_sign_cb(&s, "ssh-ed25519", data, sizeof(data), sig, sizeof(sig),
                                          &slen),
                     SSHBPP_EAGENTREFUSED);
    /* no data (NULL, 0) is a request like any other */
    assert_int_equal(sshbpp_agent_sign(a, keys[0], "ssh-ed25519", NULL, 0, sig, sizeof(sig), &slen),
                     SSHBPP_EAGENTREFUSED);
    /* refused before anything is sent: no key, data over the agent's
     * message bound, not an algorithm of this key */
    assert_int_equal(sshbpp_agent_sign(a, NULL, "ssh-ed25519", data, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    {
        size_t huge = 256u * 1024u;
        uint8_t *h = calloc(1, huge);

        assert_non_null(h);
        assert_int_equal(sshbpp_agent_sign(a, keys[0], "ssh-ed25519", h, huge, sig, sizeof(sig),
                                           &slen),
                         SSHBPP_EINVAL);
        free(h);
    }
    /* not an algorithm of this key: refused before anything is sent */
    assert_int_equal(
        sshbpp_agent_sign(a, keys[0], "rsa-sha2-256", data, sizeof(data), sig, sizeof(sig), &slen),
        SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_sign(a, keys[0], "ssh-ed25519", NULL, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_sign(a, keys[0], NULL, data, 1, sig, sizeof(sig), &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_sign(a, keys[0], "ssh-ed25519", data, 1, NULL, 0, &slen),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_agent_sign(a, keys[0], "ssh-ed25519", data, 1, sig, sizeof(sig), NULL),
                     SSHBPP_EINVAL);
    /* the list refused too (the 4th answer) */
    {
        sshbpp_key **k2;
        size_t n2;

        assert_int_equal(sshbpp_agent_list(a, &k2, &n2), SSHBPP_EAGENTREFUSED);
        assert_null(k2);
        assert_int_equal(n2, 0);
    }
    sshbpp_agent_close(a);
    /* list, sign, sign_cb, sign, list: the EINVAL calls sent nothing */
    assert_int_equal(fake_stop(), 5);
    sshbpp_agent_free_list(keys, n);
}

static void
test_silent_agent_times_out(void **state)
{
    sshbpp_agent *a = NULL;
    sshbpp_key **keys;
    size_t n;
    struct timespec t0, t1;
    long ms;

    (void)state;
    rig.f.ans[0].no_answer = 1;
    rig.f.nans = 1;
    fake_start();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(open_list(150, &a, &keys, &n), SSHBPP_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 140 && ms < 5000);
    /* failed: no second request (a late answer would be read as its own) */
    assert_int_equal(sshbpp_agent_list(a, &keys, &n), SSHBPP_EAGENT);
    sshbpp_agent_close(a);
    assert_int_equal(fake_stop(), 1);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sshbpp-covagent-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    rmdir(tmpdir);
    return 0;
}

/* An agent that does not read: a large request (a signature over 250 KB,
 * more than the socket buffer holds) cannot be sent, and the timeout
 * bounds the send too (the socket is blocking: a plain send() would wait
 * for the agent). */
static void
test_send_bounded_by_timeout(void **state)
{
    static const uint8_t failure[1] = {5};
    sshbpp_agent *a = NULL;
    sshbpp_key **keys;
    uint8_t ids[128], sig[64];
    size_t n, slen, idlen = identities_one(ids), big = 250u * 1024u;
    uint8_t *data = calloc(1, big);
    struct timespec t0, t1;
    long ms;

    (void)state;
    assert_non_null(data);
    /* the key comes from a well-behaved agent */
    add_framed(ids, idlen, 0, 0);
    add_framed(failure, 1, 0, 0);
    fake_start();
    assert_int_equal(open_list(2000, &a, &keys, &n), 0);
    assert_int_equal(n, 1);
    sshbpp_agent_close(a);
    assert_int_equal(fake_stop(), 1);

    rig.f.sleep_first_ms = 800;
    fake_start();
    assert_int_equal(sshbpp_agent_open(rig.path, 100, &a), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sshbpp_agent_sign(a, keys[0], "ssh-ed25519", data, big, sig, sizeof(sig), &slen),
                     SSHBPP_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 90 && ms < 700); /* not the agent's 800 ms */
    /* failed: half a request went out, the object only fails now */
    {
        sshbpp_key **k2;
        size_t n2;

        assert_int_equal(sshbpp_agent_list(a, &k2, &n2), SSHBPP_EAGENT);
    }
    sshbpp_agent_close(a);
    fake_stop();
    sshbpp_agent_free_list(keys, n);
    free(data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_refused_and_pieces),
        cmocka_unit_test(test_silent_agent_times_out),
        cmocka_unit_test(test_send_bounded_by_timeout),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
