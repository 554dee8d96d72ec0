/*
 * forward.c: `sshbpp exec -L [bind_address:]port:host:hostport` (forward.h).
 *
 * One accept thread polls every listening socket (and a pipe that stops
 * it). Each accepted connection gets a thread that opens its direct-tcpip
 * channel (the originator is the local peer's address and port, as ssh
 * sends it) and copies the channel to the socket, and a second thread
 * that copies the socket to the channel: the blocking channel layer
 * (sshbpp_driver_channel.h) serves both at once.
 *
 * Half-close is passed through both ways: the local peer's EOF (read 0)
 * becomes our channel EOF, the channel's EOF a shutdown(SHUT_WR) of the
 * socket, and each side can still send after the other's EOF. Once the
 * channel is closed (CLOSE both ways: OpenSSH's sshd sends it after both
 * EOFs, or when its target went away), the socket is shut down so that
 * the copy from it ends too, and both are closed. A refused open (ssh's
 * "open failed": administratively prohibited with AllowTcpForwarding no,
 * connect failed for a closed port) is an error line; the local
 * connection is then closed at once and the other forwards go on.
 *
 * Bounds: at most CLI_FWD_MAX_CONNS forwarded connections at once (two
 * threads and two 64 KiB buffers each); a connection beyond that is
 * accepted and closed at once, with a warning.
 */
#include "forward.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FWD_CHUNK      (64u * 1024u)
#define FWD_STACK      (256u * 1024u)
#define FWD_MAX_LISTEN (CLI_FWD_MAX_SPECS * 4) /* addresses per spec: 4 at most */
#define OPEN_TIMEOUT_MS 60000

struct listener {
    int fd;
    const struct cli_fwd_spec *spec;
};

struct cli_fwd {
    sshbpp_driver_channels *dc;
    struct cli_fwd_spec specs[CLI_FWD_MAX_SPECS];
    struct listener l[FWD_MAX_LISTEN];
    size_t nl;
    int stop_pipe[2];
    pthread_t accept_thread;
    int accepting;
    atomic_uint active;
    atomic_uint serial;
};

struct fconn {
    struct cli_fwd *f;
    const struct cli_fwd_spec *spec;
    int fd;
    unsigned serial;
    uint32_t id;
    char orig[64];
    unsigned orig_port;
};

/* ---- parsing --------------------------------------------------------------- */

/* Splits s at ':' outside brackets into at most max fields (brackets
 * removed). Returns the count, or -1. */
static int
split_fields(const char *s, char fields[][SSHBPP_DIRECT_TCPIP_MAX_HOST + 1], int max)
{
    int n = 0;

    for (;;) {
        size_t k = 0;
        const char *end;

        if (n == max)
            return -1;
        if (*s == '[') {
            if ((end = strchr(s, ']')) == NULL || (end[1] != ':' && end[1] != '\0'))
                return -1;
            k = (size_t)(end - s - 1);
            if (k > SSHBPP_DIRECT_TCPIP_MAX_HOST)
                return -1;
            memcpy(fields[n], s + 1, k);
            s = end + 1;
        } else {
            k = strcspn(s, ":");
            if (k > SSHBPP_DIRECT_TCPIP_MAX_HOST)
                return -1;
            memcpy(fields[n], s, k);
            s += k;
        }
        fields[n++][k] = '\0';
        if (*s == '\0')
            return n;
        s++; /* the ':' */
    }
}

/* see forward.h */
int
cli_fwd_parse(const char *arg, struct cli_fwd_spec *out)
{
    char f[4][SSHBPP_DIRECT_TCPIP_MAX_HOST + 1];
    int n, i = 0;

    memset(out, 0, sizeof(*out));
    n = split_fields(arg, f, 4);
    if (n != 3 && n != 4) {
        cli_error("bad local forwarding specification '%s' "
                  "(want [bind_address:]port:host:hostport)", arg);
        return -1;
    }
    if (n == 4) {
        memcpy(out->bind, f[i], strlen(f[i]) + 1); /* same size */
        i++;
        out->bind_given = 1;
    }
    if (cli_parse_long(f[i], 1, 65535, &out->port) != 0) {
        cli_error("-L %s: bad listen port '%s'", arg, f[i]);
        return -1;
    }
    i++;
    if (f[i][0] == '\0') {
        cli_error("-L %s: empty host", arg);
        return -1;
    }
    memcpy(out->host, f[i], strlen(f[i]) + 1);
    i++;
    if (cli_parse_long(f[i], 1, 65535, &out->hostport) != 0) {
        cli_error("-L %s: bad host port '%s'", arg, f[i]);
        return -1;
    }
    return 0;
}

/* ---- one forwarded connection ---------------------------------------------- */

static const char *
reason_text(uint32_t reason)
{
    switch (reason) {
    case SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED:
        return "administratively prohibited";
    case SSHBPP_OPEN_CONNECT_FAILED:
        return "connect failed";
    case SSHBPP_OPEN_UNKNOWN_CHANNEL_TYPE:
        return "unknown channel type";
    case SSHBPP_OPEN_RESOURCE_SHORTAGE:
        return "resource shortage";
    default:
        return "unknown reason";
    }
}

static int
send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The socket to the channel, then our EOF. */
static void *
to_channel(void *arg)
{
    struct fconn *c = arg;
    uint8_t *buf = malloc(FWD_CHUNK);
    ssize_t k;
    int rc = 0;

    while (buf != NULL) {
        k = recv(c->fd, buf, FWD_CHUNK, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if ((rc = sshbpp_driver_channel_write(c->f->dc, c->id, 0, buf, (size_t)k, -1)) != 0)
            break;
    }
    if (rc == 0 && (rc = sshbpp_driver_channel_eof(c->f->dc, c->id)) != 0 && rc != SSHBPP_ESTATE)
        cli_debug(1, "forward %u: EOF: %s", c->serial, sshbpp_strerror(rc));
    free(buf);
    return NULL;
}

/* The channel to the socket; the copy the other way in a thread of its
 * own; then both closed. */
static void
forward(struct fconn *c)
{
    sshbpp_driver_channels *dc = c->f->dc;
    pthread_attr_t attr;
    pthread_t t;
    uint8_t *buf;
    int ext = 0, broken = 0, st;
    long n = 0;

    if ((buf = malloc(FWD_CHUNK)) == NULL)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, FWD_STACK);
    if (pthread_create(&t, &attr, to_channel, c) != 0) {
        pthread_attr_destroy(&attr);
        free(buf);
        cli_error("forward %u: cannot start a thread", c->serial);
        if (sshbpp_driver_channel_close(dc, c->id, 5000) != 0)
            cli_debug(1, "forward %u: close: no answer", c->serial);
        return;
    }
    pthread_attr_destroy(&attr);
    while ((n = sshbpp_driver_channel_read_any(dc, c->id, &ext, buf, FWD_CHUNK, -1)) > 0) {
        if (ext == 0 && send_all(c->fd, buf, (size_t)n) != 0) {
            broken = 1; /* the local peer is gone: its copy ends at recv */
            break;
        }
    }
    if (!broken && n == 0) {
        /* the channel's EOF: half-close the socket, the other way goes
         * on until the channel is closed */
        (void)shutdown(c->fd, SHUT_WR);
        int e = sshbpp_driver_channel_wait_exit(dc, c->id, &st, NULL, 0, -1);

        if (e != 0)
            cli_debug(1, "forward %u: %s", c->serial, sshbpp_strerror(e));
    } else if (n < 0) {
        cli_debug(1, "forward %u: %s", c->serial, sshbpp_strerror((int)n));
    }
    (void)shutdown(c->fd, SHUT_RDWR); /* ends to_channel's recv */
    pthread_join(t, NULL);
    if ((st = sshbpp_driver_channel_close(dc, c->id, 10000)) != 0)
        cli_debug(1, "forward %u: close: %s", c->serial, sshbpp_strerror(st));
    cli_debug(1, "forward %u: closed", c->serial);
    free(buf);
}

static void *
conn_main(void *arg)
{
    struct fconn *c = arg;
    const struct cli_fwd_spec *s = c->spec;
    uint32_t reason = 0;
    char clean[SSHBPP_DIRECT_TCPIP_MAX_HOST + 1];
    int rc;

    cli_debug(1, "forward %u: connection from %s port %u to %s:%ld", c->serial, c->orig,
              c->orig_port, cli_sanitize(clean, sizeof(clean), s->host), s->hostport);
    rc = sshbpp_driver_channel_open_direct_tcpip(c->f->dc, s->host, (uint32_t)s->hostport,
                                                 c->orig, c->orig_port, &c->id, &reason,
                                                 OPEN_TIMEOUT_MS);
    if (rc == SSHBPP_EREFUSED) {
        cli_error("forward to %s:%ld: open failed: %s (reason %u)",
                  cli_sanitize(clean, sizeof(clean), s->host), s->hostport, reason_text(reason),
                  reason);
    } else if (rc != 0) {
        cli_error("forward to %s:%ld: channel open: %s",
                  cli_sanitize(clean, sizeof(clean), s->host), s->hostport, sshbpp_strerror(rc));
        if (rc == SSHBPP_ETIMEDOUT && sshbpp_driver_channel_close(c->f->dc, c->id, 1000) != 0)
            cli_debug(1, "forward %u: the opening channel is left", c->serial);
    } else {
        forward(c);
    }
    close(c->fd);
    atomic_fetch_sub(&c->f->active, 1);
    free(c);
    return NULL;
}

/* ---- listening ------------------------------------------------------------- */

static void
take(struct cli_fwd *f, const struct listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    pthread_attr_t attr;
    struct fconn *c;
    pthread_t t;
    int fd;

    fd = accept(l->fd, (struct sockaddr *)&ss, &sl);
    if (fd < 0)
        return;
    if (atomic_fetch_add(&f->active, 1) >= CLI_FWD_MAX_CONNS) {
        atomic_fetch_sub(&f->active, 1);
        cli_error("forward: %u connections already open; connection refused", CLI_FWD_MAX_CONNS);
        close(fd);
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        atomic_fetch_sub(&f->active, 1);
        close(fd);
        return;
    }
    c->f = f;
    c->spec = l->spec;
    c->fd = fd;
    c->serial = atomic_fetch_add(&f->serial, 1) + 1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &a->sin_addr, c->orig, sizeof(c->orig));
        c->orig_port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &a->sin6_addr, c->orig, sizeof(c->orig));
        c->orig_port = ntohs(a->sin6_port);
    } else {
        snprintf(c->orig, sizeof(c->orig), "127.0.0.1");
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, FWD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, conn_main, c) != 0) {
        cli_error("forward: cannot start a thread; connection refused");
        close(fd);
        free(c);
        atomic_fetch_sub(&f->active, 1);
    }
    pthread_attr_destroy(&attr);
}

static void *
accept_main(void *arg)
{
    struct cli_fwd *f = arg;
    struct pollfd p[FWD_MAX_LISTEN + 1];
    size_t i;

    for (i = 0; i < f->nl; i++) {
        p[i].fd = f->l[i].fd;
        p[i].events = POLLIN;
    }
    p[f->nl].fd = f->stop_pipe[0];
    p[f->nl].events = POLLIN;
    for (;;) {
        if (poll(p, f->nl + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[f->nl].revents != 0)
            break;
        for (i = 0; i < f->nl; i++)
            if (p[i].revents & POLLIN)
                take(f, &f->l[i]);
    }
    return NULL;
}

/* Binds one spec's addresses. Returns how many were bound. */
static int
bind_spec(struct cli_fwd *f, const struct cli_fwd_spec *s)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[8], where[300], clean[SSHBPP_DIRECT_TCPIP_MAX_HOST + 1];
    const char *node;
    int rc, fd, one = 1, bound = 0, per = 0;

    if (!s->bind_given)
        node = "127.0.0.1"; /* loopback only, as ssh's GatewayPorts=no */
    else if (s->bind[0] == '\0' || strcmp(s->bind, "*") == 0)
        node = NULL; /* every interface */
    else
        node = s->bind;
    snprintf(port, sizeof(port), "%ld", s->port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((rc = getaddrinfo(node, port, &hints, &res)) != 0) {
        cli_error("-L: bind address '%s': %s",
                  cli_sanitize(clean, sizeof(clean), node != NULL ? node : "*"),
                  gai_strerror(rc));
        return 0;
    }
    for (ai = res; ai != NULL && per < 4 && f->nl < FWD_MAX_LISTEN; ai = ai->ai_next) {
        cli_format_addr(ai->ai_addr, (unsigned)ai->ai_addrlen, where, sizeof(where));
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            cli_error("bind %s: %s", where, strerror(errno));
            close(fd);
            continue;
        }
        cli_debug(1, "Local forwarding listening on %s.", where);
        f->l[f->nl].fd = fd;
        f->l[f->nl].spec = s;
        f->nl++;
        bound++;
        per++;
    }
    freeaddrinfo(res);
    if (bound == 0)
        cli_error("Could not request local forwarding of port %ld.", s->port);
    return bound;
}

/* see forward.h */
struct cli_fwd *
cli_fwd_start(sshbpp_driver_channels *dc, const struct cli_fwd_spec *specs, size_t n,
              int exit_on_failure)
{
    struct cli_fwd *f;
    size_t i;
    int failed = 0;

    if (n > CLI_FWD_MAX_SPECS || (f = calloc(1, sizeof(*f))) == NULL)
        return NULL;
    f->dc = dc;
    f->stop_pipe[0] = f->stop_pipe[1] = -1;
    for (i = 0; i < n; i++) {
        f->specs[i] = specs[i];
        if (bind_spec(f, &f->specs[i]) == 0)
            failed = 1;
    }
    if ((failed && exit_on_failure) || pipe2(f->stop_pipe, O_CLOEXEC) != 0 ||
        pthread_create(&f->accept_thread, NULL, accept_main, f) != 0) {
        if (failed && exit_on_failure)
            cli_error("Exiting: a local forwarding could not be set up (ExitOnForwardFailure)");
        (void)cli_fwd_stop(f);
        return NULL;
    }
    f->accepting = 1;
    return f;
}

/* see forward.h */
unsigned
cli_fwd_stop(struct cli_fwd *f)
{
    unsigned left;
    size_t i;

    if (f == NULL)
        return 0;
    if (f->accepting) {
        (void)!write(f->stop_pipe[1], "x", 1);
        pthread_join(f->accept_thread, NULL);
    }
    for (i = 0; i < f->nl; i++)
        close(f->l[i].fd);
    if (f->stop_pipe[0] >= 0)
        close(f->stop_pipe[0]);
    if (f->stop_pipe[1] >= 0)
        close(f->stop_pipe[1]);
    left = atomic_load(&f->active);
    if (left == 0)
        free(f);
    /* else the connections' threads still point at f: it stays */
    return left;
}

/* see forward.h */
int
cli_fwd_wait(sshbpp_driver_channels *dc)
{
    return sshbpp_driver_channels_service(dc, -1);
}
