/*
 * test_cov_driver.c: the blocking driver's error paths (driver.c,
 * driver_calls.c, driver_fdio.c): the API contract (every NULL or invalid
 * argument), sshbpp_driver_connect() over TCP (a name that does not
 * resolve, a refused port, a listener whose backlog is full, an IPv6 ::1
 * listener, a connect interrupted by signals, no descriptor left),
 * io callbacks that fail (read/write/wait errors, a write that takes
 * nothing, a read at end of stream, a read and a write claiming more than
 * they were given), a peer that resets the connection, a pty as the
 * transport (not a socket: write(2) instead of send(2)), and the calls
 * against a live but silent server driver (auth answered late, recv into
 * a short buffer, a refused global request, disconnect).
 */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sshbpp/sshbpp_driver.h"

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static int
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---- the API contract ------------------------------------------------------ */

static long
nop_read(void *ctx, void *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return SSHBPP_EAGAIN;
}

static long
nop_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx, (void)buf;
    return (long)len;
}

static int
nop_wait(void *ctx, int r, int w, int t)
{
    (void)ctx, (void)r, (void)w, (void)t;
    return 0;
}

static void
nop_wake(void *ctx)
{
    (void)ctx;
}

static int frees;

static void
count_free(void *ctx)
{
    (void)ctx;
    frees++;
}

static void
test_new_contract(void **state)
{
    sshbpp_driver_io io = {nop_read, nop_write, nop_wait, nop_wake, NULL, count_free}, bad;
    sshbpp_conn_config cc, badcfg;
    sshbpp_driver *d;
    int sv[2];

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    badcfg = cc;
    badcfg.software_version = "has a space\x01"; /* not printable: the conn refuses it */

    assert_null(sshbpp_driver_new_io(NULL, NULL, &cc));
    assert_null(sshbpp_driver_new_io(&io, NULL, NULL));
    bad = io, bad.read = NULL;
    assert_null(sshbpp_driver_new_io(&bad, NULL, &cc));
    bad = io, bad.write = NULL;
    assert_null(sshbpp_driver_new_io(&bad, NULL, &cc));
    bad = io, bad.wait = NULL;
    assert_null(sshbpp_driver_new_io(&bad, NULL, &cc));
    bad = io, bad.wake = NULL;
    assert_null(sshbpp_driver_new_io(&bad, NULL, &cc));
    /* the conn cannot be made: NULL, and io->free is not called */
    frees = 0;
    assert_null(sshbpp_driver_new_io(&io, NULL, &badcfg));
    assert_int_equal(frees, 0);
    /* close and free are optional */
    d = sshbpp_driver_new_io(&io, NULL, &cc);
    assert_non_null(d);
    sshbpp_driver_close(d);
    sshbpp_driver_close(d); /* idempotent */
    assert_int_equal(sshbpp_driver_error(d), SSHBPP_ECLOSED);
    sshbpp_driver_free(d);
    assert_int_equal(frees, 1);

    assert_null(sshbpp_driver_new(-1, &cc));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_null(sshbpp_driver_new(sv[0], NULL));
    /* a conn that cannot be made leaves the fd open (the caller's) */
    assert_null(sshbpp_driver_new(sv[0], &badcfg));
    assert_true(fd_open(sv[0]));
    close(sv[0]);
    close(sv[1]);
    /* a descriptor that is not open cannot be made non-blocking (a high
     * number: the wake pipe takes the lowest free ones) */
    assert_false(fd_open(999));
    assert_null(sshbpp_driver_new(999, &cc));
    assert_false(fd_open(999));
}

static void
test_calls_contract(void **state)
{
    sshbpp_driver_io io = {nop_read, nop_write, nop_wait, nop_wake, NULL, NULL};
    sshbpp_conn_config cc;
    sshbpp_kex_info info;
    sshbpp_driver *d;
    uint8_t buf[8];
    char text[8];
    uint32_t reason = 7;
    size_t len = 99;
    int partial = 5;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    d = sshbpp_driver_new_io(&io, NULL, &cc);
    assert_non_null(d);

    /* the NULL-tolerant ones */
    sshbpp_driver_free(NULL);
    sshbpp_driver_close(NULL);
    sshbpp_driver_set_timeout(NULL, 5);
    sshbpp_driver_set_hostkey_cb(NULL, accept_any, NULL);
    assert_null(sshbpp_driver_conn(NULL));
    assert_non_null(sshbpp_driver_conn(d));

    assert_int_equal(sshbpp_driver_handshake(NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_none(NULL, "u", 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_none(d, NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_password(d, "u", NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_password(NULL, "u", "pw", 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_publickey_file(d, "u", NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_publickey_file(d, NULL, "/x", 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_publickey(d, NULL, buf, 1, NULL, NULL, 10),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_kbdint(NULL, "u", NULL, NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_methods(NULL, text, sizeof(text), &partial),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_auth_methods(d, NULL, 4, &partial), SSHBPP_EINVAL);
    /* nothing refused yet: empty, not partial; buf NULL with cap 0 is fine */
    assert_int_equal(sshbpp_driver_auth_methods(d, text, sizeof(text), &partial), 0);
    assert_string_equal(text, "");
    assert_int_equal(partial, 0);
    assert_int_equal(sshbpp_driver_auth_methods(d, NULL, 0, NULL), 0);
    assert_int_equal(sshbpp_driver_wait_auth(NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_send(NULL, buf, 1, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_send(d, NULL, 1, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_send(d, buf, 0, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_flush(NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_recv(NULL, buf, sizeof(buf), &len, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_recv(d, buf, sizeof(buf), NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_recv(d, NULL, 4, &len, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_global_request(NULL, "x", 1, NULL, 0, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_global_request(d, NULL, 1, NULL, 0, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_global_request(d, "x", 1, NULL, 3, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_rekey(NULL, 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_disconnect(NULL, 11, "x", 10), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_get_info(NULL, &info), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_error(NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_disconnect_reason(NULL, &reason, text, sizeof(text)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_disconnect_reason(d, &reason, NULL, 4), SSHBPP_EINVAL);
    /* no DISCONNECT received */
    assert_int_equal(sshbpp_driver_disconnect_reason(d, &reason, text, sizeof(text)),
                     SSHBPP_EINVAL);
    /* no exchange before the handshake: the conn's ESTATE, not sticky */
    assert_int_equal(sshbpp_driver_rekey(d, 10), SSHBPP_ESTATE);
    assert_int_equal(len, 99); /* nothing written by a refused call */
    assert_int_equal(sshbpp_driver_error(d), 0);
    sshbpp_driver_free(d);
}

/* ---- failing io callbacks ----------------------------------------------- */

enum {
    F_WRITE_ERR, F_WRITE_ZERO, F_READ_ERR, F_READ_EOF, F_WAIT_ERR, F_SPIN, F_OVER, F_WBLOCK,
    F_WBLOCK_WAITERR
};

struct fio {
    int mode;
    unsigned long reads, writes, waits;
    size_t written;
};

static long
f_read(void *ctx, void *buf, size_t len)
{
    struct fio *f = ctx;
    static const char banner[] = "SSH-2.0-peer\r\n";

    f->reads++;
    switch (f->mode) {
    case F_READ_ERR:
        return SSHBPP_EPROTO;
    case F_READ_EOF:
        return 0;
    case F_OVER:
        /* a banner, then a packet length of 0x00000000 (zeros), and a
         * claim of one byte more than the room it was given */
        memset(buf, 0, len);
        assert_true(len > sizeof(banner) + 16);
        memcpy(buf, banner, sizeof(banner) - 1);
        return f->reads == 1 ? (long)len + 1 : SSHBPP_EAGAIN;
    default:
        return SSHBPP_EAGAIN;
    }
}

static long
f_write(void *ctx, const void *buf, size_t len)
{
    struct fio *f = ctx;

    (void)buf;
    f->writes++;
    switch (f->mode) {
    case F_WRITE_ERR:
        return SSHBPP_EPROTO;
    case F_WRITE_ZERO:
        return 0;
    case F_WBLOCK:
    case F_WBLOCK_WAITERR:
        return SSHBPP_EAGAIN;
    case F_OVER:
        f->written += len;
        return (long)len + 100; /* claims more than it was given */
    default:
        f->written += len;
        return (long)len;
    }
}

static int
f_wait(void *ctx, int want_read, int want_write, int timeout_ms)
{
    struct fio *f = ctx;

    (void)want_read, (void)want_write, (void)timeout_ms;
    f->waits++;
    return f->mode == F_WAIT_ERR || f->mode == F_WBLOCK_WAITERR ? -1 : 0;
}

static sshbpp_driver *
fio_driver(struct fio *f, int mode)
{
    static const sshbpp_driver_io io = {f_read, f_write, f_wait, nop_wake, NULL, NULL};
    sshbpp_conn_config cc;

    memset(f, 0, sizeof(*f));
    f->mode = mode;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    return sshbpp_driver_new_io(&io, f, &cc);
}

static void
test_io_callbacks_fail(void **state)
{
    static const struct {
        int mode, err;
    } cases[] = {
        {F_WRITE_ERR, SSHBPP_EIO}, {F_WRITE_ZERO, SSHBPP_EIO}, {F_READ_ERR, SSHBPP_EIO},
        {F_READ_EOF, SSHBPP_EEOF}, {F_WAIT_ERR, SSHBPP_EIO},
    };
    struct fio f;
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sshbpp_driver *d = fio_driver(&f, cases[i].mode);

        assert_non_null(d);
        assert_int_equal(sshbpp_driver_handshake(d, 5000), cases[i].err);
        /* sticky: every later call returns it, and nothing more is read */
        assert_int_equal(sshbpp_driver_error(d), cases[i].err);
        f.reads = 0;
        assert_int_equal(sshbpp_driver_handshake(d, 5000), cases[i].err);
        assert_int_equal(sshbpp_driver_rekey(d, 5000), cases[i].err);
        assert_int_equal(sshbpp_driver_auth_none(d, "u", 5000), cases[i].err);
        assert_int_equal(f.reads, 0);
        sshbpp_driver_free(d);
    }
}

static void
test_io_spurious_wakeups_time_out(void **state)
{
    struct fio f;
    sshbpp_driver *d = fio_driver(&f, F_SPIN);
    int64_t t0;

    (void)state;
    assert_non_null(d);
    /* wait returns at once and nothing ever arrives: the call's own deadline
     * ends it (soft), and the banner went out once */
    t0 = now_ms();
    assert_int_equal(sshbpp_driver_handshake(d, 150), SSHBPP_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 150);
    assert_true(f.waits > 1);
    assert_int_equal(sshbpp_driver_error(d), 0);
    /* the default timeout applies to calls passed SSHBPP_TIMEOUT_DEFAULT */
    sshbpp_driver_set_timeout(d, 50);
    t0 = now_ms();
    assert_int_equal(sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT), SSHBPP_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 50);
    sshbpp_driver_free(d);
}

static void
test_io_callbacks_claim_too_much(void **state)
{
    struct fio f;
    sshbpp_driver *d = fio_driver(&f, F_OVER);
    int r;

    (void)state;
    assert_non_null(d);
    /* the excess claims are clamped to what was given: the banner parses,
     * the zero packet length that follows is the peer's protocol error
     * (a claim taken as is would have committed a byte never written) */
    r = sshbpp_driver_handshake(d, 5000);
    assert_int_equal(r, SSHBPP_EPKTSHORT);
    assert_int_equal(sshbpp_driver_error(d), r);
    assert_true(f.written > 0);
    sshbpp_driver_free(d);
}

/* A conn closed by disconnect: the DISCONNECT is flushed by hand. */
static void
test_disconnect_flush_fails(void **state)
{
    struct fio f;
    sshbpp_driver *d;
    int64_t t0;

    (void)state;
    /* the transport takes nothing: the flush gives up at the deadline */
    d = fio_driver(&f, F_SPIN);
    assert_non_null(d);
    assert_int_equal(sshbpp_driver_handshake(d, 20), SSHBPP_ETIMEDOUT);
    f.mode = F_WBLOCK;
    f.writes = 0;
    t0 = now_ms();
    assert_int_equal(sshbpp_driver_disconnect(d, 11, "bye", 100), SSHBPP_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 100);
    assert_true(f.writes > 0);
    assert_int_equal(sshbpp_driver_error(d), SSHBPP_ECLOSED);
    sshbpp_driver_free(d);

    /* ... and its wait fails: not written, so not 0 */
    d = fio_driver(&f, F_SPIN);
    assert_non_null(d);
    assert_int_equal(sshbpp_driver_handshake(d, 20), SSHBPP_ETIMEDOUT);
    f.mode = F_WBLOCK_WAITERR;
    f.waits = 0;
    assert_int_equal(sshbpp_driver_disconnect(d, 11, "bye", -1), SSHBPP_EIO);
    assert_int_equal(f.waits, 1);
    assert_int_equal(sshbpp_driver_error(d), SSHBPP_ECLOSED);
    sshbpp_driver_free(d);

    /* ... and its write fails: the DISCONNECT is dropped, so not 0 */
    d = fio_driver(&f, F_SPIN);
    assert_non_null(d);
    assert_int_equal(sshbpp_driver_handshake(d, 20), SSHBPP_ETIMEDOUT);
    f.mode = F_WRITE_ERR;
    f.writes = 0;
    assert_int_equal(sshbpp_driver_disconnect(d, 11, "bye", 1000), SSHBPP_EIO);
    assert_int_equal(f.writes, 1);
    assert_int_equal(sshbpp_driver_error(d), SSHBPP_ECLOSED);
    sshbpp_driver_free(d);

    /* closed already: the earlier error, nothing sent */
    d = fio_driver(&f, F_SPIN);
    assert_non_null(d);
    sshbpp_driver_close(d);
    assert_int_equal(sshbpp_driver_disconnect(d, 11, "bye", 100), SSHBPP_ECLOSED);
    assert_int_equal(f.writes, 0);
    sshbpp_driver_free(d);
}

/* ---- sshbpp_driver_connect ------------------------------------------------- */

static int
listener(int family, const char *addr, int backlog, char *port, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = socket(family, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, &in->sin_addr), 1);
        sl = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
        sl = sizeof(*in6);
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, backlog) != 0) {
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
    snprintf(port, cap, "%u",
             (unsigned)ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                               : ((struct sockaddr_in6 *)&ss)->sin6_port));
    return fd;
}

static void
test_connect_contract(void **state)
{
    sshbpp_conn_config cc;
    int err = 1;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    assert_null(sshbpp_driver_connect("127.0.0.1", "22", &cc, 1000, NULL));
    assert_null(sshbpp_driver_connect(NULL, "22", &cc, 1000, &err));
    assert_int_equal(err, SSHBPP_EINVAL);
    err = 1;
    assert_null(sshbpp_driver_connect("127.0.0.1", NULL, &cc, 1000, &err));
    assert_int_equal(err, SSHBPP_EINVAL);
    err = 1;
    assert_null(sshbpp_driver_connect("127.0.0.1", "22", NULL, 1000, &err));
    assert_int_equal(err, SSHBPP_EINVAL);
    /* a service name that does not resolve (no DNS involved) */
    err = 1;
    assert_null(sshbpp_driver_connect("127.0.0.1", "no-such-service-x", &cc, 1000, &err));
    assert_int_equal(err, SSHBPP_EIO);
    /* connect() fails at once (TCP to the broadcast address: no route) */
    err = 1;
    assert_null(sshbpp_driver_connect("255.255.255.255", "22", &cc, 1000, &err));
    assert_int_equal(err, SSHBPP_EIO);
}

static void
test_connect_refused_and_ok(void **state)
{
    sshbpp_conn_config cc, badcfg;
    sshbpp_driver *d;
    char port[16];
    int lfd, afd, err = 1;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    /* a port nobody listens on any more: refused, EIO */
    lfd = listener(AF_INET, "127.0.0.1", 1, port, sizeof(port));
    assert_true(lfd >= 0);
    close(lfd);
    assert_null(sshbpp_driver_connect("127.0.0.1", port, &cc, 2000, &err));
    assert_int_equal(err, SSHBPP_EIO);

    /* a listener: connected, the driver is made (no timeout: < 0) */
    lfd = listener(AF_INET, "127.0.0.1", 4, port, sizeof(port));
    assert_true(lfd >= 0);
    err = 1;
    d = sshbpp_driver_connect("127.0.0.1", port, &cc, -1, &err);
    assert_non_null(d);
    assert_int_equal(err, 0);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    sshbpp_driver_free(d);
    close(afd);
    /* connected, but the conn cannot be made: ENOMEM (the only other
     * reason), and the socket is closed again (the peer reads EOF) */
    badcfg = cc;
    badcfg.software_version = "bad\x01";
    err = 1;
    assert_null(sshbpp_driver_connect("127.0.0.1", port, &badcfg, 2000, &err));
    assert_int_equal(err, SSHBPP_ENOMEM);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    {
        char c;
        struct pollfd p = {afd, POLLIN, 0};

        assert_int_equal(poll(&p, 1, 2000), 1);
        assert_int_equal(read(afd, &c, 1), 0);
    }
    close(afd);
    close(lfd);
}

static void
test_connect_ipv6(void **state)
{
    sshbpp_conn_config cc;
    sshbpp_driver *d;
    char port[16];
    int lfd, afd, err = 1;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    lfd = listener(AF_INET6, "::1", 4, port, sizeof(port));
    assert_true(lfd >= 0); /* the test machine has ::1 (see the README) */
    d = sshbpp_driver_connect("::1", port, &cc, 2000, &err);
    assert_non_null(d);
    assert_int_equal(err, 0);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    sshbpp_driver_free(d);
    close(afd);
    close(lfd);
}

/* Fills the listener's accept queue (nobody accepts) so that a further
 * SYN gets no answer: the connect stays in progress until its timeout. */
static int
full_listener(char *port, size_t cap, int *fill, int nfill)
{
    int lfd = listener(AF_INET, "127.0.0.1", 0, port, cap), i;
    struct sockaddr_in in;

    assert_true(lfd >= 0);
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons((uint16_t)atoi(port));
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < nfill; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fill[i] >= 0);
        (void)connect(fill[i], (struct sockaddr *)&in, sizeof(in));
    }
    /* let the handshakes of those that fit complete */
    {
        struct timespec ts = {0, 50000000L};

        nanosleep(&ts, NULL);
    }
    return lfd;
}

static void
on_alarm(int sig)
{
    (void)sig;
}

static void
test_connect_timeout(void **state)
{
    sshbpp_conn_config cc;
    struct sigaction sa, old;
    struct itimerval it = {{0, 20000}, {0, 20000}}, off = {{0, 0}, {0, 0}};
    char port[16];
    int fill[4], lfd, err = 1, i;
    int64_t t0;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    lfd = full_listener(port, sizeof(port), fill, 4);
    t0 = now_ms();
    assert_null(sshbpp_driver_connect("127.0.0.1", port, &cc, 200, &err));
    assert_int_equal(err, SSHBPP_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 190);

    /* the same with signals interrupting the poll every 20 ms: retried with
     * the time left, and still a timeout (no EINTR surfaces) */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    err = 1;
    t0 = now_ms();
    assert_null(sshbpp_driver_connect("127.0.0.1", port, &cc, 150, &err));
    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    assert_int_equal(err, SSHBPP_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 140);
    for (i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

/* No descriptor left (RLIMIT_NOFILE at the highest one in use, the holes
 * below filled): socket(), pipe() fail. */
static void
test_no_descriptors(void **state)
{
    sshbpp_conn_config cc;
    struct rlimit old, lim;
    int holes[1024], nholes = 0, maxfd = -1, fd, sv[2], err = 1, r;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (fd = 0; fd < 1024; fd++)
        if (fd_open(fd))
            maxfd = fd;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)maxfd + 1;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    while (nholes < 1024 && (fd = dup(0)) >= 0)
        holes[nholes++] = fd;
    assert_true(fd < 0); /* every slot taken */

    /* the wake pipe cannot be made: NULL, the fd stays the caller's */
    assert_null(sshbpp_driver_new(sv[0], &cc));
    /* no socket: every address skipped, EIO */
    assert_null(sshbpp_driver_connect("127.0.0.1", "22", &cc, 1000, &err));
    r = err;

    while (nholes > 0)
        close(holes[--nholes]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(r, SSHBPP_EIO);
    assert_true(fd_open(sv[0]));
    close(sv[0]);
    close(sv[1]);
}

/* ---- a peer that resets the connection ------------------------------------- */

static void
test_peer_reset(void **state)
{
    sshbpp_conn_config cc;
    struct linger lg = {1, 0};
    sshbpp_driver *d;
    char port[16];
    int lfd, afd, err = 1;

    (void)state;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    lfd = listener(AF_INET, "127.0.0.1", 4, port, sizeof(port));
    assert_true(lfd >= 0);
    d = sshbpp_driver_connect("127.0.0.1", port, &cc, 2000, &err);
    assert_non_null(d);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    /* the peer sends a banner, then resets (linger 0) */
    assert_int_equal(write(afd, "SSH-2.0-x\r\n", 11), 11);
    assert_int_equal(setsockopt(afd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(afd);
    assert_int_equal(sshbpp_driver_handshake(d, 5000), SSHBPP_EIO);
    assert_int_equal(sshbpp_driver_error(d), SSHBPP_EIO);
    sshbpp_driver_free(d);
    close(lfd);
}

/* ---- a pty as the transport (not a socket) ------------------------------- */

struct srv {
    sshbpp_driver *d;
    int r;
};

static void *
srv_main(void *p)
{
    struct srv *s = p;

    s->r = sshbpp_driver_handshake(s->d, 20000);
    if (s->r == 0)
        s->r = sshbpp_driver_wait_auth(s->d, 20000);
    return NULL;
}

static void
raw_tty(int fd)
{
    struct termios t;

    assert_int_equal(tcgetattr(fd, &t), 0);
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    assert_int_equal(tcsetattr(fd, TCSANOW, &t), 0);
}

static void
test_pty_transport(void **state)
{
    sshbpp_conn_config cc, sc;
    struct srv s = {NULL, -99};
    sshbpp_driver *cl;
    pthread_t t;
    int m, sl;

    (void)state;
    m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    sl = open(ptsname(m), O_RDWR | O_NOCTTY);
    assert_true(sl >= 0);
    raw_tty(sl);
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    sc.auth_cb = auth_cb;
    cl = sshbpp_driver_new(m, &cc);
    s.d = sshbpp_driver_new(sl, &sc);
    assert_non_null(cl);
    assert_non_null(s.d);
    assert_int_equal(sshbpp_conn_generate_hostkey(sshbpp_driver_conn(s.d), "ssh-ed25519"), 0);
    sshbpp_driver_set_hostkey_cb(cl, accept_any, NULL);
    assert_int_equal(pthread_create(&t, NULL, srv_main, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), 0);
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);
}

/* ---- a live server driver ------------------------------------------------ */

static void
pair(sshbpp_driver **cl, sshbpp_driver **sv)
{
    sshbpp_conn_config cc, sc;
    int fds[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    sc.auth_cb = auth_cb;
    /* a deadline of the conn's own, later than the calls' */
    cc.handshake_timeout_ms = 100000;
    *cl = sshbpp_driver_new(fds[0], &cc);
    *sv = sshbpp_driver_new(fds[1], &sc);
    assert_non_null(*cl);
    assert_non_null(*sv);
    assert_int_equal(sshbpp_conn_generate_hostkey(sshbpp_driver_conn(*sv), "ssh-ed25519"), 0);
    sshbpp_driver_set_hostkey_cb(*cl, accept_any, NULL);
}

static void *
srv_handshake(void *p)
{
    struct srv *s = p;

    s->r = sshbpp_driver_handshake(s->d, 20000);
    return NULL;
}

static void *
srv_wait_auth(void *p)
{
    struct srv *s = p;

    s->r = sshbpp_driver_wait_auth(s->d, 20000);
    return NULL;
}

/* The server answers two global requests (REQUEST_FAILURE, then
 * REQUEST_SUCCESS) after checking them, and sends one 40-byte message and
 * a stray REQUEST_SUCCESS. */
static void *
srv_greq(void *p)
{
    struct srv *s = p;

    s->r = 0;
    static const uint8_t want[] = {80, 0, 0, 0, 3, 'f', 'o', 'o', 1, 'x', 'y'};
    uint8_t buf[64], msg[40];
    size_t len = 0;

    for (int i = 0; i < 2 && s->r == 0; i++) {
        s->r = sshbpp_driver_recv(s->d, buf, sizeof(buf), &len, 20000);
        if (s->r == 0 && (len != sizeof(want) || memcmp(buf, want, len) != 0))
            s->r = -1000;
        if (s->r == 0) {
            buf[0] = i == 0 ? 82 : 81; /* refused, then accepted */
            s->r = sshbpp_driver_send(s->d, buf, 1, 20000);
        }
    }
    memset(msg, 0xab, sizeof(msg));
    msg[0] = 200;
    if (s->r == 0)
        s->r = sshbpp_driver_send(s->d, msg, sizeof(msg), 20000);
    /* a REQUEST_SUCCESS nobody asked for */
    buf[0] = 81;
    if (s->r == 0)
        s->r = sshbpp_driver_send(s->d, buf, 1, 20000);
    if (s->r == 0)
        s->r = sshbpp_driver_flush(s->d, 20000);
    return NULL;
}

static void
test_live_peer_calls(void **state)
{
    struct srv s = {NULL, -99};
    sshbpp_driver *cl;
    uint8_t buf[64];
    char text[64];
    uint32_t reason = 0;
    size_t len = 0;
    pthread_t t;
    int partial = 9, r;

    (void)state;
    pair(&cl, &s.d);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    /* no limit of the call's: the conn's deadline bounds the waits */
    assert_int_equal(sshbpp_driver_handshake(cl, -1), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    /* a second handshake call returns at once: done */
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), 0);

    /* nobody serves the server now: the auth request times out and stays
     * outstanding; a second auth call is refused until it was answered */
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "bad", 100), SSHBPP_ETIMEDOUT);
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 100), SSHBPP_ESTATE);
    assert_int_equal(pthread_create(&t, NULL, srv_wait_auth, &s), 0);
    /* the late answer (a refusal) is read by some later call: then a new
     * request goes out */
    while ((r = sshbpp_driver_auth_password(cl, "u", "bad", 20000)) == SSHBPP_ESTATE)
        assert_int_equal(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 20), SSHBPP_ETIMEDOUT);
    assert_int_equal(r, SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_auth_methods(cl, text, sizeof(text), &partial), 0);
    assert_non_null(strstr(text, "password"));
    assert_int_equal(partial, 0);
    /* truncated into a short buffer */
    assert_int_equal(sshbpp_driver_auth_methods(cl, text, 3, NULL), 0);
    assert_int_equal(strlen(text), 2);
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    /* a global request with data, refused; then a message larger than the
     * buffer stays first until a buffer fits */
    assert_int_equal(pthread_create(&t, NULL, srv_greq, &s), 0);
    assert_int_equal(sshbpp_driver_global_request(cl, "foo", 1, "xy", 2, 20000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_global_request(cl, "foo", 1, "xy", 2, 20000), 0);
    len = 0;
    assert_int_equal(sshbpp_driver_recv(cl, buf, 10, &len, 20000), SSHBPP_EBUFSMALL);
    assert_int_equal(len, 40);
    assert_int_equal(sshbpp_driver_recv(cl, NULL, 0, &len, 20000), SSHBPP_EBUFSMALL);
    len = 0;
    assert_int_equal(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 20000), 0);
    assert_int_equal(len, 40);
    assert_int_equal(buf[0], 200);
    assert_int_equal(buf[39], 0xab);
    /* with no global request outstanding, a stray reply is a message */
    assert_int_equal(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 20000), 0);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 81);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    /* nothing more */
    assert_int_equal(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 30), SSHBPP_ETIMEDOUT);

    /* the server disconnects: the client's calls fail, the reason is there */
    assert_int_equal(sshbpp_driver_disconnect(s.d, 11, "bye now", 5000), 0);
    assert_int_equal(sshbpp_driver_error(s.d), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_driver_disconnect(s.d, 11, "again", 5000), SSHBPP_ECLOSED);
    assert_true(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 5000) < 0);
    assert_int_equal(sshbpp_driver_disconnect_reason(cl, &reason, text, sizeof(text)), 0);
    assert_int_equal(reason, 11);
    assert_string_equal(text, "bye now");
    reason = 0;
    assert_int_equal(sshbpp_driver_disconnect_reason(cl, &reason, NULL, 0), 0);
    assert_int_equal(reason, 11);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);
}

static int
no_answers(void *ctx, const char *name, const char *instruction, unsigned n,
           const char *const *prompts, const int *echo, char (*answers)[256])
{
    (void)ctx, (void)name, (void)instruction, (void)n, (void)prompts, (void)echo, (void)answers;
    return -1; /* never called: the server offers no keyboard-interactive */
}

/* The auth kinds that the conn refuses before sending, and those the
 * server refuses; a driver freed with messages still in its inbox. */
static void *
srv_send_two(void *p)
{
    struct srv *s = p;
    uint8_t msg[40];

    memset(msg, 0x5a, sizeof(msg));
    msg[0] = 201;
    s->r = sshbpp_driver_wait_auth(s->d, 20000);
    if (s->r == 0)
        s->r = sshbpp_driver_send(s->d, msg, sizeof(msg), 20000);
    if (s->r == 0)
        s->r = sshbpp_driver_send(s->d, msg, sizeof(msg), 20000);
    if (s->r == 0)
        s->r = sshbpp_driver_flush(s->d, 20000);
    return NULL;
}

static void
test_auth_kinds_and_unread_inbox(void **state)
{
    struct srv s = {NULL, -99};
    sshbpp_driver *cl;
    uint8_t buf[8], blob[8] = {0};
    char path[64];
    size_t len = 0;
    pthread_t t;

    (void)state;
    pair(&cl, &s.d);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    assert_int_equal(pthread_create(&t, NULL, srv_send_two, &s), 0);
    /* refused by the conn, nothing sent: a key file that is not there, a
     * public key without a signer */
    snprintf(path, sizeof(path), "/nonexistent/key.%d", (int)getpid());
    assert_int_equal(sshbpp_driver_auth_publickey_file(cl, "u", path, 20000), SSHBPP_EIO);
    assert_int_equal(sshbpp_driver_auth_publickey(cl, "u", blob, sizeof(blob), NULL, NULL, 20000),
                     SSHBPP_EINVAL);
    /* refused by the server (it offers password only) */
    assert_int_equal(sshbpp_driver_auth_none(cl, "u", 20000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_auth_kbdint(cl, "u", NULL, NULL, 20000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_auth_kbdint(cl, "u", no_answers, NULL, 20000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 20000), 0);
    /* no reply wanted: 0 once it went out (the server never reads it) */
    assert_int_equal(sshbpp_driver_global_request(cl, "n@test", 0, NULL, 0, 20000), 0);
    /* the first message is too big for buf and stays; the second comes
     * behind it; both are still in the inbox when the driver goes */
    assert_int_equal(sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 20000), SSHBPP_EBUFSMALL);
    assert_int_equal(len, 40);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    assert_int_equal(sshbpp_driver_flush(cl, 20000), 0);
    sshbpp_driver_free(cl); /* valgrind: the inbox is freed */
    sshbpp_driver_free(s.d);
}

/* A conn queue of one message: a send during a key exchange that finds
 * it full waits until the exchange is over, then goes out. */
struct srv_recv {
    sshbpp_driver *d;
    int r;
    unsigned got;
};

static void *
srv_recv_three(void *p)
{
    struct srv_recv *s = p;
    uint8_t buf[64];
    size_t len;

    s->r = sshbpp_driver_wait_auth(s->d, 20000);
    while (s->r == 0 && s->got < 3) {
        s->r = sshbpp_driver_recv(s->d, buf, sizeof(buf), &len, 20000);
        if (s->r == 0 && (len != 3 || buf[0] != 202 || buf[1] != s->got))
            s->r = -1000;
        if (s->r == 0)
            s->got++;
    }
    return NULL;
}

static void
test_send_waits_for_queue_room(void **state)
{
    sshbpp_conn_config cc, sc;
    struct srv s = {NULL, -99};
    struct srv_recv sr = {NULL, -99, 0};
    sshbpp_driver *cl;
    uint8_t msg[3] = {202, 0, 0};
    pthread_t t;
    int fds[2];
    unsigned before;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    cc.queue_max_msgs = 1;
    sc.auth_cb = auth_cb;
    cl = sshbpp_driver_new(fds[0], &cc);
    s.d = sshbpp_driver_new(fds[1], &sc);
    assert_non_null(cl);
    assert_non_null(s.d);
    assert_int_equal(sshbpp_conn_generate_hostkey(sshbpp_driver_conn(s.d), "ssh-ed25519"), 0);
    sshbpp_driver_set_hostkey_cb(cl, accept_any, NULL);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    sr.d = s.d;
    assert_int_equal(pthread_create(&t, NULL, srv_recv_three, &sr), 0);
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 20000), 0);
    /* no other thread uses the client: start an exchange on its conn, so
     * that the sends below are queued behind it */
    before = sshbpp_conn_kex_count(sshbpp_driver_conn(cl));
    assert_int_equal(sshbpp_conn_rekey(sshbpp_driver_conn(cl)), 0);
    assert_true(sshbpp_conn_kex_running(sshbpp_driver_conn(cl)));
    assert_int_equal(sshbpp_driver_send(cl, msg, sizeof(msg), 20000), 0);
    assert_int_equal(sshbpp_conn_queued(sshbpp_driver_conn(cl)), 1); /* full */
    assert_true(sshbpp_conn_kex_running(sshbpp_driver_conn(cl)));
    /* the next send finds the queue full: it returns only once the
     * exchange is over and its message was taken */
    msg[1] = 1;
    assert_int_equal(sshbpp_driver_send(cl, msg, sizeof(msg), 20000), 0);
    assert_true(sshbpp_conn_kex_count(sshbpp_driver_conn(cl)) > before);
    msg[1] = 2;
    assert_int_equal(sshbpp_driver_send(cl, msg, sizeof(msg), 20000), 0);
    assert_int_equal(sshbpp_driver_flush(cl, 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(sr.r, 0);
    assert_int_equal(sr.got, 3);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);
}

static int
refuse_all(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)alg, (void)fp, (void)blob, (void)len;
    return 0;
}

/* Without a host key callback every host key is refused: the handshake
 * fails with SSHBPP_EHOSTKEYREJECTED, sticky. */
static void
test_hostkey_refused_without_callback(void **state)
{
    struct srv s = {NULL, -99};
    sshbpp_driver *cl;
    pthread_t t;

    (void)state;
    pair(&cl, &s.d);
    sshbpp_driver_set_hostkey_cb(cl, NULL, NULL);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), SSHBPP_EHOSTKEYREJECTED);
    assert_int_equal(sshbpp_driver_error(cl), SSHBPP_EHOSTKEYREJECTED);
    assert_int_equal(sshbpp_driver_rekey(cl, 1000), SSHBPP_EHOSTKEYREJECTED);
    sshbpp_driver_close(cl);
    pthread_join(t, NULL);
    /* the client told the server (DISCONNECT) before it went */
    assert_int_equal(s.r, SSHBPP_EDISCONNECT);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);

    /* a callback that says no: the same */
    pair(&cl, &s.d);
    sshbpp_driver_set_hostkey_cb(cl, refuse_all, NULL);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), SSHBPP_EHOSTKEYREJECTED);
    sshbpp_driver_close(cl);
    pthread_join(t, NULL);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);
}

/* A full inbox stops reading: the server's 9 MiB of messages fill the
 * client's inbox (8 MiB) while no client thread receives; the server's
 * sends then wait, so it cannot answer a global request (which times
 * out); receiving makes room and everything arrives, in order. */
#define BP_MSG   32768u
#define BP_COUNT 288u /* 9 MiB */

static atomic_int flood_done;

static void *
srv_flood(void *p)
{
    struct srv *s = p;
    uint8_t *msg = malloc(BP_MSG);
    unsigned i;

    s->r = msg == NULL ? -1000 : sshbpp_driver_wait_auth(s->d, 20000);
    for (i = 0; s->r == 0 && i < BP_COUNT; i++) {
        memset(msg, (int)(i & 0xff), BP_MSG);
        msg[0] = 203;
        s->r = sshbpp_driver_send(s->d, msg, BP_MSG, 20000);
    }
    if (s->r == 0)
        s->r = sshbpp_driver_flush(s->d, 20000);
    flood_done = 1;
    free(msg);
    return NULL;
}

static void
test_full_inbox_stops_reading(void **state)
{
    struct srv s = {NULL, -99};
    sshbpp_driver *cl;
    uint8_t *buf = malloc(BP_MSG);
    size_t len;
    pthread_t t;
    unsigned i;

    (void)state;
    assert_non_null(buf);
    pair(&cl, &s.d);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    assert_int_equal(pthread_create(&t, NULL, srv_flood, &s), 0);
    assert_int_equal(sshbpp_driver_auth_password(cl, "u", "pw", 20000), 0);
    /* drives (reads) until the inbox is full, then only waits (the
     * server does not answer global requests: it never receives) */
    flood_done = 0;
    assert_int_equal(sshbpp_driver_global_request(cl, "x@test", 1, NULL, 0, 500),
                     SSHBPP_ETIMEDOUT);
    /* the server is still stuck in its sends: we stopped reading at 8 MiB
     * (natively all 9 MiB take a few tens of ms) */
    assert_int_equal(flood_done, 0);
    for (i = 0; i < BP_COUNT; i++) {
        len = 0;
        assert_int_equal(sshbpp_driver_recv(cl, buf, BP_MSG, &len, 20000), 0);
        assert_int_equal(len, BP_MSG);
        assert_int_equal(buf[0], 203);
        assert_int_equal(buf[BP_MSG - 1], i & 0xff);
    }
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    free(buf);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);
}

static void
test_signals_during_wait(void **state)
{
    struct srv s = {NULL, -99};
    struct sigaction sa, old;
    struct itimerval it = {{0, 10000}, {0, 10000}}, off = {{0, 0}, {0, 0}};
    sshbpp_driver *cl;
    uint8_t buf[8];
    size_t len;
    pthread_t t;
    int64_t t0;
    int r;

    (void)state;
    pair(&cl, &s.d);
    assert_int_equal(pthread_create(&t, NULL, srv_handshake, &s), 0);
    assert_int_equal(sshbpp_driver_handshake(cl, 20000), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.r, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    t0 = now_ms();
    r = sshbpp_driver_recv(cl, buf, sizeof(buf), &len, 150);
    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    /* a soft timeout at the call's deadline, not an I/O error */
    assert_int_equal(r, SSHBPP_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 150);
    assert_int_equal(sshbpp_driver_error(cl), 0);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(s.d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_contract),
        cmocka_unit_test(test_calls_contract),
        cmocka_unit_test(test_io_callbacks_fail),
        cmocka_unit_test(test_io_spurious_wakeups_time_out),
        cmocka_unit_test(test_io_callbacks_claim_too_much),
        cmocka_unit_test(test_disconnect_flush_fails),
        cmocka_unit_test(test_connect_contract),
        cmocka_unit_test(test_connect_refused_and_ok),
        cmocka_unit_test(test_connect_ipv6),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_no_descriptors),
        cmocka_unit_test(test_peer_reset),
        cmocka_unit_test(test_pty_transport),
        cmocka_unit_test(test_live_peer_calls),
        cmocka_unit_test(test_auth_kinds_and_unread_inbox),
        cmocka_unit_test(test_send_waits_for_queue_room),
        cmocka_unit_test(test_hostkey_refused_without_callback),
        cmocka_unit_test(test_full_inbox_stops_reading),
        cmocka_unit_test(test_signals_during_wait),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
