/*
 * test_cov_dchan.c: the driver's blocking channels (src/io/driver_channel.c)
 * on their error paths, against the sans-I/O channel server of
 * tests/support/chan_srv.h: the API contract (NULL arguments, calls on
 * ids that were never opened), requests refused and accepted (exec,
 * subsystem, shell, pty-req, env), a server that closes a channel under
 * the client (write refused, read at its end, wait_exit without a status),
 * a server that never answers an open, a peer window that stays shut
 * (write times out), timeouts of read/wait_exit/service, what the client
 * does with the server's own opens, channel requests and global requests
 * (refused, as the header says), and calls after the connection died.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan_srv.h"


struct srv {
    cs_srv cs;
    atomic_int silent_open; /* ignore OPEN_REQUESTs */
    atomic_int poke;        /* 1: open a session, a global request and a
                               channel request towards the client */
    atomic_int poked;       /* done with poke */
    atomic_uint open_failures, greq_failures, req_failures;
    atomic_uint last_fail_code;
    uint32_t client_chan; /* the server's number of the client's channel */
    char last_req[32];
};

static void
srv_event(cs_srv *cs, const sshbpp_chan_event *ev)
{
    struct srv *s = cs->ctx;
    uint32_t id = ev->channel;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        if (!s->silent_open)
            assert_int_equal(sshbpp_channel_accept(cs->chs, id), 0);
        s->client_chan = id;
        break;
    case SSHBPP_CHAN_EV_OPEN_FAILURE:
        s->last_fail_code = ev->code;
        s->open_failures++;
        break;
    case SSHBPP_CHAN_EV_REQUEST_RESULT:
        if (!ev->success)
            s->req_failures++;
        break;
    case SSHBPP_CHAN_EV_CONN:
        if (ev->conn.type == SSHBPP_CONN_EV_MESSAGE && ev->conn.len > 0 && ev->conn.data[0] == 82)
            s->greq_failures++;
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        snprintf(s->last_req, sizeof(s->last_req), "%s", ev->name);
        if (!ev->want_reply)
            break;
        if (ev->arg_len == 4 && memcmp(ev->arg, "nope", 4) == 0) {
            assert_int_equal(sshbpp_channel_request_reply(cs->chs, id, 0), 0);
            break;
        }
        assert_int_equal(sshbpp_channel_request_reply(cs->chs, id, 1), 0);
        if (ev->arg_len == 7 && memcmp(ev->arg, "closeme", 7) == 0) {
            assert_int_equal(sshbpp_channel_write(cs->chs, id, 1, "err", 3), 3);
            assert_int_equal(sshbpp_channel_close(cs->chs, id), 0);
        }
        break;
    default:
        break;
    }
}

static void
srv_step(cs_srv *cs)
{
    struct srv *s = cs->ctx;
    uint32_t sid;

    if (s->poke != 1)
        return;
    s->poke = 2;
    assert_int_equal(sshbpp_channel_open_session(cs->chs, &sid), 0);
    assert_int_equal(sshbpp_conn_global_request(cs->c, "y@test", 0, NULL, 0), 0); /* no reply */
    assert_int_equal(sshbpp_conn_global_request(cs->c, "x@test", 1, NULL, 0), 0);
    assert_int_equal(sshbpp_channel_request(cs->chs, s->client_chan, "x@test", 1, NULL, 0), 0);
    s->poked = 1;
}

static sshbpp_driver_channels *
up(struct srv *s, sshbpp_driver **d)
{
    int fd;

    memset(s, 0, sizeof(*s));
    s->cs.on_event = srv_event;
    s->cs.on_step = srv_step;
    s->cs.ctx = s;
    fd = cs_srv_start(&s->cs);
    return cs_client_up(fd, d);
}

static void
down(struct srv *s, sshbpp_driver *d, sshbpp_driver_channels *dc)
{
    sshbpp_driver_close(d);
    cs_srv_stop(&s->cs);
    sshbpp_driver_channels_free(dc);
    sshbpp_driver_free(d);
    cs_srv_free(&s->cs);
}

static void
test_contract(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d), *dc2;
    sshbpp_channels_config cfg;
    uint8_t buf[8];
    char sig[8];
    int ext = 5, st = 5;
    uint32_t id = 77, reason = 77;

    (void)state;
    assert_null(sshbpp_driver_channels_new(NULL, NULL));
    sshbpp_driver_channels_free(NULL);
    /* a config of our own, max_channels 0: the default */
    sshbpp_channels_config_init(&cfg);
    cfg.max_channels = 0;
    dc2 = sshbpp_driver_channels_new(d, &cfg);
    assert_non_null(dc2);
    sshbpp_driver_channels_free(dc2);

    assert_int_equal(sshbpp_driver_channel_open_session(NULL, &id, &reason, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_open_session(dc, NULL, &reason, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_exec(dc, 0, NULL, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_exec(NULL, 0, "x", 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_subsystem(dc, 0, NULL, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_request_pty(dc, 0, NULL, 80, 24, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_env(dc, 0, NULL, "v"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_env(dc, 0, "n", NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read(NULL, 0, 0, buf, sizeof(buf), 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read(dc, 0, 2, buf, sizeof(buf), 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read(dc, 0, 0, NULL, sizeof(buf), 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read(dc, 0, 0, buf, 0, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read_any(NULL, 0, &ext, buf, 8, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read_any(dc, 0, NULL, buf, 8, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read_any(dc, 0, &ext, NULL, 8, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_read_any(dc, 0, &ext, buf, 0, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_write(NULL, 0, 0, buf, 1, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_write(dc, 0, 0, NULL, 1, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_eof(NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_wait_exit(NULL, 0, &st, sig, sizeof(sig), 100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_wait_exit(dc, 0, NULL, sig, sizeof(sig), 100),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_wait_exit(dc, 0, &st, NULL, 4, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channel_close(NULL, 0, 100), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_driver_channels_service(NULL, 100), SSHBPP_EINVAL);

    /* ids never opened (0) or beyond the table: ESTATE, nothing sent */
    for (id = 0; id < 2; id++) {
        uint32_t x = id == 0 ? 0 : 100000;

        assert_int_equal(sshbpp_driver_channel_exec(dc, x, "x", 100), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_subsystem(dc, x, "sftp", 100), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_shell(dc, x, 100), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_request_pty(dc, x, "xterm", 80, 24, 100),
                         SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_env(dc, x, "n", "v"), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_read(dc, x, 0, buf, sizeof(buf), 100),
                         SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_read_any(dc, x, &ext, buf, sizeof(buf), 100),
                         SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_write(dc, x, 0, buf, 1, 100), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_eof(dc, x), SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_wait_exit(dc, x, &st, sig, sizeof(sig), 100),
                         SSHBPP_ESTATE);
        assert_int_equal(sshbpp_driver_channel_close(dc, x, 100), SSHBPP_ESTATE);
    }
    assert_int_equal(s.last_req[0], '\0');
    assert_int_equal(sshbpp_driver_error(d), 0);
    down(&s, d, dc);
}

static void
test_requests_and_peer_close(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d);
    uint8_t buf[16];
    char sig[8] = "zz";
    uint32_t id = 99;
    int ext = 9, st = 9;

    (void)state;
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id, NULL, 5000), 0);
    /* the server refuses "nope", accepts the rest; env wants no reply */
    assert_int_equal(sshbpp_driver_channel_exec(dc, id, "nope", 5000), SSHBPP_EREFUSED);
    assert_string_equal(s.last_req, "exec");
    assert_int_equal(sshbpp_driver_channel_subsystem(dc, id, "sftp", 5000), 0);
    assert_string_equal(s.last_req, "subsystem");
    assert_int_equal(sshbpp_driver_channel_request_pty(dc, id, "xterm", 80, 24, 5000), 0);
    assert_string_equal(s.last_req, "pty-req");
    assert_int_equal(sshbpp_driver_channel_shell(dc, id, 5000), 0);
    assert_string_equal(s.last_req, "shell");
    assert_int_equal(sshbpp_driver_channel_env(dc, id, "LANG", "C"), 0);
    /* nothing to read: a timeout, soft */
    assert_int_equal(sshbpp_driver_channel_read(dc, id, 0, buf, sizeof(buf), 50),
                     SSHBPP_ETIMEDOUT);
    assert_int_equal(sshbpp_driver_channel_wait_exit(dc, id, &st, sig, sizeof(sig), 50),
                     SSHBPP_ETIMEDOUT);
    assert_int_equal(sshbpp_driver_channels_service(dc, 50), SSHBPP_ETIMEDOUT);
    assert_string_equal(s.last_req, "env"); /* it went out */

    /* "closeme": stderr "err", then the server closes the channel */
    assert_int_equal(sshbpp_driver_channel_exec(dc, id, "closeme", 5000), 0);
    assert_int_equal(sshbpp_driver_channel_read_any(dc, id, &ext, buf, sizeof(buf), 5000), 3);
    assert_int_equal(ext, 1);
    assert_memory_equal(buf, "err", 3);
    /* closed without a status: -1, no signal */
    assert_int_equal(sshbpp_driver_channel_wait_exit(dc, id, &st, sig, sizeof(sig), 5000), 0);
    assert_int_equal(st, -1);
    assert_string_equal(sig, "");
    /* at its end: reads return 0, a write is refused */
    assert_int_equal(sshbpp_driver_channel_read(dc, id, 0, buf, sizeof(buf), 5000), 0);
    assert_int_equal(sshbpp_driver_channel_read_any(dc, id, &ext, buf, sizeof(buf), 5000), 0);
    assert_int_equal(sshbpp_driver_channel_write(dc, id, 0, "late", 4, 5000), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_driver_channel_close(dc, id, 5000), 0);
    /* the slot is free again: the id is unknown now */
    assert_int_equal(sshbpp_driver_channel_close(dc, id, 5000), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_driver_error(d), 0);
    down(&s, d, dc);
}

/* The peer closes a channel before its user has called close: the id is
 * still that user's. Another open must get a different id (it used to
 * get the same one, and with it the old user's later writes and closes:
 * interop.ssh.forward saw one forwarded connection receive another's
 * bytes); the old id answers its user with its end, and only close frees
 * it for reuse. */
static void
test_peer_closed_id_not_reused(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d);
    uint8_t buf[16];
    uint32_t x = 99, a = 99, b = 99, c = 99;
    int ext = 9, st = 9;

    (void)state;
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &x, NULL, 5000), 0);
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &a, NULL, 5000), 0);
    assert_int_equal(sshbpp_driver_channel_exec(dc, a, "closeme", 5000), 0);
    assert_int_equal(sshbpp_driver_channel_read_any(dc, a, &ext, buf, sizeof(buf), 5000), 3);
    assert_int_equal(sshbpp_driver_channel_wait_exit(dc, a, &st, NULL, 0, 5000), 0);
    /* more input after a's CLOSE (the layer settles its close then);
     * a's user has not called close yet */
    assert_int_equal(sshbpp_driver_channel_exec(dc, x, "nope", 5000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &b, NULL, 5000), 0);
    assert_true(b != a);
    assert_int_equal(sshbpp_driver_channel_write(dc, a, 0, "late", 4, 1000), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_driver_channel_read(dc, a, 0, buf, sizeof(buf), 1000), 0);
    /* b is a channel of its own: a request on a reaches nobody */
    assert_int_equal(sshbpp_driver_channel_exec(dc, a, "nope", 1000), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_driver_channel_exec(dc, b, "nope", 5000), SSHBPP_EREFUSED);
    assert_int_equal(sshbpp_driver_channel_close(dc, a, 5000), 0);
    /* released: the lowest free id again */
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &c, NULL, 5000), 0);
    assert_int_equal(c, a);
    assert_int_equal(sshbpp_driver_channel_close(dc, b, 5000), 0);
    assert_int_equal(sshbpp_driver_channel_close(dc, c, 5000), 0);
    assert_int_equal(sshbpp_driver_channel_close(dc, x, 5000), 0);
    assert_int_equal(sshbpp_driver_error(d), 0);
    down(&s, d, dc);
}

static void
test_server_pokes_are_refused(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d);
    uint32_t id = 99;
    int i;

    (void)state;
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id, NULL, 5000), 0);
    s.poke = 1;
    /* the client's calls process what came: the open is refused
     * (administratively prohibited), the global and channel requests fail */
    for (i = 0; i < 200 && (s.open_failures == 0 || s.greq_failures == 0 || s.req_failures == 0);
         i++)
        assert_int_equal(sshbpp_driver_channels_service(dc, 20), SSHBPP_ETIMEDOUT);
    assert_int_equal(s.poked, 1);
    assert_int_equal(s.open_failures, 1);
    assert_int_equal(s.last_fail_code, SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED);
    assert_int_equal(s.greq_failures, 1);
    assert_int_equal(s.req_failures, 1);
    assert_int_equal(sshbpp_driver_error(d), 0);
    down(&s, d, dc);
}

static void
test_open_never_answered(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d);
    uint32_t id = 99, reason = 0;

    (void)state;
    s.silent_open = 1;
    /* the server's layer refuses an open nobody accepted: EREFUSED with
     * its reason, and the slot is free again */
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id, &reason, 5000), SSHBPP_EREFUSED);
    assert_int_equal(id, 99);
    assert_int_equal(reason, SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED);
    assert_int_equal(sshbpp_driver_channel_close(dc, 0, 50), SSHBPP_ESTATE);
    /* the server stops answering: a timeout leaves the slot in use, *id
     * says which (the late answer would land there) */
    cs_srv_stop(&s.cs);
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id, NULL, 100), SSHBPP_ETIMEDOUT);
    assert_int_equal(id, 0);
    /* not confirmed: a request on it is the layer's ESTATE, not sent */
    assert_int_equal(sshbpp_driver_channel_exec(dc, id, "x", 50), SSHBPP_ESTATE);
    assert_int_equal(sshbpp_driver_channel_close(dc, id, 50), SSHBPP_ETIMEDOUT);
    assert_int_equal(sshbpp_driver_error(d), 0);
    sshbpp_driver_close(d);
    sshbpp_driver_channels_free(dc);
    sshbpp_driver_free(d);
    cs_srv_free(&s.cs);
}

static void
test_window_stays_shut(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d);
    size_t big = 4u * 1024u * 1024u;
    uint8_t *p = calloc(1, big);
    uint32_t id = 99;
    int64_t t0;

    (void)state;
    assert_non_null(p);
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id, NULL, 5000), 0);
    /* the server stops reading: the peer window (2 MiB) or our output
     * bound (1 MiB) fills first, and the write waits until its timeout */
    cs_srv_stop(&s.cs);
    t0 = cs_now_ms();
    assert_int_equal(sshbpp_driver_channel_write(dc, id, 0, p, big, 300), SSHBPP_ETIMEDOUT);
    assert_true(cs_now_ms() - t0 >= 300);
    assert_int_equal(sshbpp_driver_error(d), 0);
    free(p);
    sshbpp_driver_close(d);
    sshbpp_driver_channels_free(dc);
    sshbpp_driver_free(d);
    cs_srv_free(&s.cs);
}

static void
test_after_the_connection_died(void **state)
{
    struct srv s;
    sshbpp_driver *d;
    sshbpp_driver_channels *dc = up(&s, &d);
    uint8_t buf[8];
    uint32_t id = 99, id2 = 99;
    int r;

    (void)state;
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id, NULL, 5000), 0);
    /* the server goes away */
    cs_srv_stop(&s.cs);
    assert_int_equal(shutdown(s.cs.fd, SHUT_RDWR), 0);
    r = sshbpp_driver_channel_read(dc, id, 0, buf, sizeof(buf), 5000);
    assert_int_equal(r, SSHBPP_EEOF);
    assert_int_equal(sshbpp_driver_error(d), r);
    /* sticky: every call returns it */
    assert_int_equal(sshbpp_driver_channel_open_session(dc, &id2, NULL, 5000), r);
    assert_int_equal(sshbpp_driver_channel_exec(dc, id, "x", 5000), r);
    assert_int_equal(sshbpp_driver_channel_write(dc, id, 0, "x", 1, 5000), r);
    assert_int_equal(sshbpp_driver_channel_eof(dc, id), r);
    assert_int_equal(sshbpp_driver_channels_service(dc, 5000), r);
    sshbpp_driver_close(d);
    sshbpp_driver_channels_free(dc);
    sshbpp_driver_free(d);
    cs_srv_free(&s.cs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_requests_and_peer_close),
        cmocka_unit_test(test_peer_closed_id_not_reused),
        cmocka_unit_test(test_server_pokes_are_refused),
        cmocka_unit_test(test_open_never_answered),
        cmocka_unit_test(test_window_stays_shut),
        cmocka_unit_test(test_after_the_connection_died),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
