/*
 * chan_srv.c: a sans-I/O channel server in a thread and a driver client
 * (see chan_srv.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan_srv.h"

int64_t
cs_now_ms(void)
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

static void
srv_event(cs_srv *s, const sshbpp_chan_event *ev)
{
    uint32_t id = ev->channel;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_DATA:
        /* manual window: the peer can send no more than our window ahead
         * of what we wrote back, so this stays below window + packet */
        assert_true(id < s->necho && s->echo[id].on && ev->ext == 0);
        if (s->echo[id].len + ev->len > s->echo[id].cap) {
            s->echo[id].cap = s->echo[id].len + ev->len + 65536;
            assert_true(s->echo[id].cap <= SSHBPP_CHAN_DEFAULT_WINDOW + 2 * 65536);
            s->echo[id].buf = realloc(s->echo[id].buf, s->echo[id].cap);
            assert_non_null(s->echo[id].buf);
        }
        memcpy(s->echo[id].buf + s->echo[id].len, ev->data, ev->len);
        s->echo[id].len += ev->len;
        break;
    case SSHBPP_CHAN_EV_EOF:
        if (id < s->necho)
            s->echo[id].eof = 1;
        break;
    default:
        s->on_event(s, ev);
        break;
    }
}

/* The echo target: what came in goes back; at the peer's EOF, after
 * everything was echoed, (exit-status 0,) EOF and CLOSE. */
static void
srv_echo(cs_srv *s)
{
    uint32_t id;
    int n;

    for (id = 0; id < s->necho; id++) {
        if (!s->echo[id].on || s->echo[id].done)
            continue;
        while (s->echo[id].len > 0) {
            n = sshbpp_channel_write(s->chs, id, 0, s->echo[id].buf, s->echo[id].len);
            if (n == SSHBPP_EAGAIN)
                break;
            assert_true(n > 0);
            memmove(s->echo[id].buf, s->echo[id].buf + n, s->echo[id].len - (size_t)n);
            s->echo[id].len -= (size_t)n;
            assert_int_equal(sshbpp_channel_consume(s->chs, id, (size_t)n), 0);
        }
        if (s->echo[id].eof && s->echo[id].len == 0) {
            s->echo[id].done = 1;
            if (s->echo_exit_status)
                assert_int_equal(sshbpp_channel_exit_status(s->chs, id, 0), 0);
            assert_int_equal(sshbpp_channel_eof(s->chs, id), 0);
            assert_int_equal(sshbpp_channel_close(s->chs, id), 0);
        }
    }
}

static void *
srv_main(void *p)
{
    cs_srv *s = p;
    uint8_t buf[65536];
    sshbpp_chan_event ev;

    while (!s->stop && sshbpp_conn_error(s->c) == 0) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        const uint8_t *out;
        size_t len;
        ssize_t k;

        if ((out = sshbpp_conn_tx_data(s->c, &len)) != NULL && len > 0)
            pfd.events |= POLLOUT;
        (void)poll(&pfd, 1, 10);
        if (pfd.revents & (POLLIN | POLLHUP)) {
            k = read(s->fd, buf, sizeof(buf));
            if (k == 0)
                break;
            if (k > 0 && sshbpp_conn_feed(s->c, buf, (size_t)k, cs_now_ms()) != 0)
                break;
        }
        while (sshbpp_channels_next_event(s->chs, &ev) == 0)
            srv_event(s, &ev);
        if (s->on_step != NULL)
            s->on_step(s);
        srv_echo(s);
        while ((out = sshbpp_conn_tx_data(s->c, &len)) != NULL && len > 0) {
            k = write(s->fd, out, len);
            if (k <= 0)
                break;
            sshbpp_conn_tx_consume(s->c, (size_t)k);
        }
    }
    return NULL;
}

int
cs_srv_start(cs_srv *s)
{
    sshbpp_conn_config sc;
    sshbpp_channels_config cfg;
    int fds[2];

    assert_true(s->necho <= CS_MAX_ECHO);
    assert_non_null(s->on_event);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    sc.auth_cb = auth_cb;
    s->fd = fds[1];
    s->c = sshbpp_conn_new(&sc);
    assert_non_null(s->c);
    assert_int_equal(sshbpp_conn_generate_hostkey(s->c, "ssh-ed25519"), 0);
    sshbpp_channels_config_init(&cfg);
    cfg.manual_window = 1; /* the echo target's bound */
    s->chs = sshbpp_channels_new(s->c, &cfg);
    assert_non_null(s->chs);
    assert_int_equal(sshbpp_conn_start(s->c, cs_now_ms()), 0);
    assert_int_equal(pthread_create(&s->t, NULL, srv_main, s), 0);
    return fds[0];
}

void
cs_srv_stop(cs_srv *s)
{
    s->stop = 1;
    pthread_join(s->t, NULL);
}

void
cs_srv_free(cs_srv *s)
{
    sshbpp_channels_free(s->chs);
    for (unsigned i = 0; i < CS_MAX_ECHO; i++)
        free(s->echo[i].buf);
    sshbpp_conn_free(s->c);
    close(s->fd);
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

sshbpp_driver_channels *
cs_client_up(int fd, sshbpp_driver **d)
{
    sshbpp_conn_config cc;
    sshbpp_driver_channels *dc;

    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    *d = sshbpp_driver_new(fd, &cc);
    assert_non_null(*d);
    sshbpp_driver_set_hostkey_cb(*d, accept_any, NULL);
    assert_int_equal(sshbpp_driver_handshake(*d, 20000), 0);
    assert_int_equal(sshbpp_driver_auth_password(*d, "u", "pw", 20000), 0);
    dc = sshbpp_driver_channels_new(*d, NULL);
    assert_non_null(dc);
    return dc;
}
