/* epoll_client.c: what client.c does, driven from an epoll loop over the
 * sans-I/O sshbpp_conn (sshbpp_conn.h) and a non-blocking socket: the
 * program owns the socket, the clock and the loop; the conn says what to
 * send, when its next deadline is, and what happened.
 * usage: epoll_client HOST PORT USER KEYFILE [SHA256:expected-fingerprint] */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sshbpp/sshbpp.h>

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A non-blocking TCP socket, connected (or connecting: epoll reports
 * writability once it is). */
static int
dial(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0)
            continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

enum step { HANDSHAKE, AUTH, REQUEST, DONE };

int
main(int argc, char **argv)
{
    const char *want_fp = argc > 5 ? argv[5] : NULL;
    sshbpp_conn_config cfg;
    sshbpp_conn_event ev;
    struct epoll_event ee;
    sshbpp_conn *c;
    enum step step = HANDSHAKE;
    int fd, ep, r = 0, ok = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: %s host port user keyfile [fingerprint]\n", argv[0]);
        return 2;
    }
    if ((fd = dial(argv[1], argv[2])) < 0 || (ep = epoll_create1(0)) < 0) {
        perror("connect");
        return 1;
    }
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cfg.handshake_timeout_ms = 10000; /* deadlines: the loop sleeps until the next one */
    cfg.login_timeout_ms = 20000;
    if ((c = sshbpp_conn_new(&cfg)) == NULL || sshbpp_conn_start(c, now_ms()) != 0)
        return 1;
    ee.events = EPOLLIN | EPOLLOUT;
    ee.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee);

    while (step != DONE) {
        const uint8_t *out;
        size_t len;
        int64_t deadline;
        int n, timeout;

        /* 1. What happened: react to every event. */
        while ((r = sshbpp_conn_next_event(c, &ev)) == 0) {
            switch (ev.type) {
            case SSHBPP_CONN_EV_HOSTKEY: /* before our NEWKEYS: we may still refuse */
                printf("host key %s %s\n", ev.alg, ev.text);
                /* refusing sends DISCONNECT; the ERROR event follows */
                if (sshbpp_conn_hostkey_verdict(c, want_fp == NULL ||
                                                       strcmp(want_fp, ev.text) == 0) != 0)
                    printf("host key refused\n");
                break;
            case SSHBPP_CONN_EV_HANDSHAKE_DONE:
                if (sshbpp_conn_auth_publickey_file(c, argv[3], argv[4]) != 0)
                    step = DONE;
                else
                    step = AUTH;
                break;
            case SSHBPP_CONN_EV_AUTH_RESULT:
                if (!ev.success) {
                    printf("refused; methods that can continue: %s\n", ev.text);
                    step = DONE;
                    break;
                }
                printf("authenticated as %s\n", argv[3]);
                if (sshbpp_conn_global_request(c, "keepalive@openssh.com", 1, NULL, 0) == 0)
                    step = REQUEST;
                break;
            case SSHBPP_CONN_EV_MESSAGE:
                if (step == REQUEST && (ev.data[0] == 81 || ev.data[0] == 82)) {
                    printf("global request answered: %s\n",
                           ev.data[0] == 81 ? "REQUEST_SUCCESS" : "REQUEST_FAILURE");
                    ok = 1;
                    step = DONE;
                }
                break;
            case SSHBPP_CONN_EV_DISCONNECT:
                printf("server disconnected: %u %s\n", (unsigned)ev.code, ev.text);
                break;
            case SSHBPP_CONN_EV_ERROR:
                fprintf(stderr, "error: %s (%s)\n", ev.text, sshbpp_err_name(ev.error));
                step = DONE;
                break;
            default:
                break;
            }
            if (step == DONE)
                break;
        }
        if (step == DONE)
            break;
        if (r != SSHBPP_EAGAIN && r != 0)
            break;

        /* 2. Write what the conn has for the peer, as far as the socket takes it. */
        while ((out = sshbpp_conn_tx_data(c, &len)) != NULL) {
            ssize_t w = send(fd, out, len, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            sshbpp_conn_tx_consume(c, (size_t)w);
        }
        ee.events = EPOLLIN | (sshbpp_conn_tx_data(c, &len) != NULL ? EPOLLOUT : 0);
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ee);

        /* 3. Sleep until input, room for output, or the conn's next deadline. */
        deadline = sshbpp_conn_next_deadline(c);
        timeout = deadline < 0 ? -1 : deadline <= now_ms() ? 0 : (int)(deadline - now_ms());
        n = epoll_wait(ep, &ee, 1, timeout);
        if (n > 0 && (ee.events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
            uint8_t *in;
            size_t room;
            ssize_t got;

            while ((in = sshbpp_conn_rx_space(c, &room)) != NULL) {
                got = read(fd, in, room);
                if (got > 0 && sshbpp_conn_rx_commit(c, (size_t)got, now_ms()) == 0)
                    continue;
                if (got == 0)
                    (void)sshbpp_conn_rx_eof(c, now_ms());
                else if (got < 0 && errno != EAGAIN && errno != EINTR)
                    (void)sshbpp_conn_fail(c, SSHBPP_EIO);
                break;
            }
        }
        /* 4. Let the conn run its timers (a passed deadline fails it). */
        if (sshbpp_conn_tick(c, now_ms()) != 0)
            continue; /* the ERROR event comes out of next_event() */
    }
    /* Say goodbye (or flush the DISCONNECT a refusal made); one
     * best-effort write is enough for an example. */
    if (sshbpp_conn_error(c) == 0)
        (void)sshbpp_conn_disconnect(c, SSHBPP_DISCONNECT_BY_APPLICATION, "bye");
    {
        const uint8_t *out;
        size_t len;

        if ((out = sshbpp_conn_tx_data(c, &len)) != NULL && send(fd, out, len, MSG_NOSIGNAL) < 0)
            perror("send");
    }
    sshbpp_conn_free(c);
    close(ep);
    close(fd);
    return ok ? 0 : 1;
}
