/*
 * scale_epoll.c: N SSH connections keyed and driven by one thread per
 * process with epoll and non-blocking sockets, on the sans-I/O engine and
 * the sshbpp_kex state machine (public headers only).
 *
 *   sshbpp_scale [-n N] [--seconds S] [--payload BYTES] [--window W]
 *                [--max-idle-rss BYTES]
 *
 * The client ends live in this process, the server ends in a forked child
 * (one process may hold at most 20,000 descriptors here): for each
 * connection a socketpair is made and one end is passed to the child over
 * a control socket (SCM_RIGHTS). Each end sends its version line and
 * KEXINIT; curve25519-sha256 with an ephemeral ed25519 host key per server
 * end, aes128-gcm@openssh.com both ways. Once every connection is keyed,
 * each end frees its kex object (this program does not rekey), calls
 * sshbpp_engine_shrink() and malloc_trim(), and measures its resident set:
 * "idle RSS per end" is (RssAnon now - RssAnon before any connection) / N,
 * anonymous memory only (heap and mmap'd buffers; shared-library code
 * pages are left out), so it includes OpenSSL's one-time state spread
 * over N. Then for
 * S seconds every client end sends W messages of BYTES and waits for W
 * echoes, on all connections at once; "active RSS per end" is measured at
 * the end of that phase, before shrinking again. Prints one line per
 * figure and exits 1 if a connection failed, no traffic flowed, or idle
 * RSS per end exceeds --max-idle-rss.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sshbpp/sshbpp.h"
#include "sshbpp/sshbpp_engine.h"
#include "sshbpp/sshbpp_kex.h"

#define READ_CHUNK 4096
#define FDS_PER_MSG 64

enum { ST_VERSION, ST_KEX, ST_KEYED, ST_DEAD };

struct conn {
    int fd;
    int state;
    int want_out; /* EPOLLOUT registered */
    sshbpp_engine *e;
    sshbpp_kex *k;
    unsigned inflight; /* client: echoes still due */
};

struct end {
    int server;
    struct conn *c;
    size_t n;
    int ep;
    size_t keyed, dead;
    uint64_t got; /* application packets received */
    size_t payload;
    unsigned window;
    int sending; /* client: start new rounds */
    uint8_t *msg;
};

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Anonymous resident memory (RssAnon in /proc/self/status): the heap and
 * mmap'd buffers, without the shared libraries' code pages, which the
 * first connection faults in once per process whatever N is. */
static long
rss_bytes(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* Bytes malloc has handed out and not had back (what RSS would be with no
 * fragmentation and no allocator slack). */
static long
heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();

    return (long)mi.uordblks;
}

/* ---- kex transport callbacks ---- */

static int
t_send(void *ctx, const uint8_t *payload, size_t len)
{
    return sshbpp_engine_send(((struct conn *)ctx)->e, payload, len);
}

static int
t_set_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *keys)
{
    return sshbpp_engine_set_keys(((struct conn *)ctx)->e, dir, keys);
}

static int
t_set_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    return sshbpp_engine_set_compression(((struct conn *)ctx)->e, dir, name);
}

static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    sshbpp_engine_reset_seqno(((struct conn *)ctx)->e, dir);
}

static const char *const VERSION = "SSH-2.0-sshbpp_scale";

static void
conn_dead(struct end *x, struct conn *c)
{
    if (c->state == ST_DEAD)
        return;
    if (c->state == ST_KEYED && x->keyed > 0)
        x->keyed--;
    c->state = ST_DEAD;
    x->dead++;
    epoll_ctl(x->ep, EPOLL_CTL_DEL, c->fd, NULL);
}

/* Writes what the engine holds; registers EPOLLOUT while some is left. */
static void
conn_flush(struct end *x, struct conn *c)
{
    const uint8_t *w;
    size_t n;
    int want;

    while ((w = sshbpp_engine_tx_data(c->e, &n)) != NULL) {
        ssize_t k = send(c->fd, w, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_dead(x, c);
            break;
        }
        sshbpp_engine_tx_consume(c->e, (size_t)k);
    }
    if (c->state == ST_DEAD)
        return;
    want = sshbpp_engine_tx_data(c->e, &n) != NULL;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                 .data.ptr = c};
        epoll_ctl(x->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
}

static int
conn_init(struct end *x, struct conn *c, int fd)
{
    static const sshbpp_kex_transport t = {t_send, t_set_keys, t_set_comp, t_reset};
    sshbpp_kex_config cfg = {"curve25519-sha256", "ssh-ed25519", "aes128-gcm@openssh.com",
                             NULL, "none"};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    char line[64];
    int r;

    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->state = ST_VERSION;
    if ((c->e = sshbpp_engine_new()) == NULL)
        return SSHBPP_ENOMEM;
    c->k = sshbpp_kex_new(x->server ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT, &cfg, &t, c);
    if (c->k == NULL)
        return SSHBPP_ENOMEM;
    if (x->server && (r = sshbpp_kex_generate_hostkey(c->k, "ssh-ed25519")) != 0)
        return r;
    snprintf(line, sizeof(line), "%s\r\n", VERSION);
    if ((r = sshbpp_engine_tx_raw(c->e, line, strlen(line))) != 0 ||
        (r = sshbpp_kex_start(c->k)) != 0)
        return r;
    if (epoll_ctl(x->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        return SSHBPP_EIO;
    conn_flush(x, c);
    return 0;
}

static void
client_round(struct end *x, struct conn *c)
{
    unsigned i;

    for (i = 0; i < x->window; i++)
        if (sshbpp_engine_send(c->e, x->msg, x->payload) != 0) {
            conn_dead(x, c);
            return;
        }
    c->inflight = x->window;
}

/* Decodes everything buffered. */
static void
conn_process(struct end *x, struct conn *c)
{
    sshbpp_packet pkt;
    char line[256];
    size_t len;
    int r;

    if (c->state == ST_VERSION) {
        r = sshbpp_engine_rx_line(c->e, line, sizeof(line), &len);
        if (r == SSHBPP_EAGAIN)
            return;
        if (r != 0 || strncmp(line, "SSH-2.0-", 8) != 0 ||
            sshbpp_kex_set_versions(c->k, x->server ? line : VERSION,
                                    x->server ? VERSION : line) != 0) {
            conn_dead(x, c);
            return;
        }
        c->state = ST_KEX;
    }
    for (;;) {
        r = sshbpp_engine_rx_next(c->e, &pkt);
        if (r == SSHBPP_EAGAIN)
            break;
        if (r != 0) {
            conn_dead(x, c);
            return;
        }
        if (c->k != NULL) {
            r = sshbpp_kex_input(c->k, &pkt);
            if (r < 0) {
                conn_dead(x, c);
                return;
            }
            if (c->state == ST_KEX && sshbpp_kex_completed(c->k) >= 1 &&
                !sshbpp_kex_running(c->k)) {
                c->state = ST_KEYED;
                x->keyed++;
            }
            if (r == SSHBPP_KEX_USED)
                continue;
        }
        if (pkt.type != 94)
            continue; /* EXT_INFO and the like */
        x->got++;
        if (x->server) {
            if (sshbpp_engine_send(c->e, pkt.payload, pkt.len) != 0) {
                conn_dead(x, c);
                return;
            }
        } else if (c->inflight > 0 && --c->inflight == 0 && x->sending) {
            client_round(x, c);
        }
    }
}

static void
conn_read(struct end *x, struct conn *c)
{
    for (;;) {
        size_t room;
        uint8_t *dst = sshbpp_engine_rx_space(c->e, READ_CHUNK, &room);
        ssize_t k;

        if (dst == NULL) {
            conn_dead(x, c);
            return;
        }
        k = read(c->fd, dst, room);
        if (k > 0) {
            sshbpp_engine_rx_commit(c->e, (size_t)k);
            conn_process(x, c);
            if (c->state == ST_DEAD)
                return;
            if ((size_t)k < room)
                break;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_dead(x, c); /* EOF or error */
        return;
    }
    conn_flush(x, c);
}

/* Runs the loop until stop() says so or `ctl` is readable (ctl >= 0). */
static int
loop(struct end *x, double deadline, int (*done)(struct end *), int ctl)
{
    struct epoll_event evs[256];

    for (;;) {
        int i, n, ms = 100;

        if (done != NULL && done(x))
            return 0;
        if (deadline > 0) {
            double left = deadline - now();
            if (left <= 0)
                return 0;
            if (left * 1000 < ms)
                ms = (int)(left * 1000) + 1;
        }
        n = epoll_wait(x->ep, evs, 256, ms);
        if (n < 0 && errno != EINTR)
            return -1;
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                if (ctl >= 0)
                    return 1; /* control message */
                continue;
            }
            if (c->state == ST_DEAD)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(x, c);
            if (c->state != ST_DEAD && (evs[i].events & EPOLLOUT))
                conn_flush(x, c);
        }
    }
}

static int
all_keyed(struct end *x)
{
    size_t i, n;

    if (x->keyed + x->dead < x->n)
        return 0;
    for (i = 0; i < x->n; i++)
        if (x->c[i].state == ST_KEYED && sshbpp_engine_tx_data(x->c[i].e, &n) != NULL)
            return 0;
    return 1;
}

static int
all_dead(struct end *x)
{
    return x->dead == x->n;
}

static int
no_inflight(struct end *x)
{
    size_t i;

    for (i = 0; i < x->n; i++)
        if (x->c[i].state == ST_KEYED && x->c[i].inflight > 0)
            return 0;
    return 1;
}

/* Frees the kex objects, shrinks every engine, trims the heap. */
static void
go_idle(struct end *x, int free_kex)
{
    size_t i;

    for (i = 0; i < x->n; i++) {
        if (free_kex) {
            sshbpp_kex_free(x->c[i].k);
            x->c[i].k = NULL;
        }
        sshbpp_engine_shrink(x->c[i].e);
    }
    malloc_trim(0);
}

static int
ctl_send(int ctl, const char *s)
{
    size_t n = strlen(s) + 1;
    return write(ctl, s, n) == (ssize_t)n ? 0 : -1;
}

static int
ctl_recv(int ctl, char *buf, size_t cap)
{
    ssize_t n = read(ctl, buf, cap - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static int
end_setup(struct end *x, int ctl)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    x->c = calloc(x->n, sizeof(*x->c));
    x->msg = calloc(1, x->payload);
    x->ep = epoll_create1(EPOLL_CLOEXEC);
    if (x->c == NULL || x->msg == NULL || x->ep < 0)
        return -1;
    x->msg[0] = 94;
    return epoll_ctl(x->ep, EPOLL_CTL_ADD, ctl, &ev);
}

/* The server process: receives N fds, keys, idles, echoes. */
static int
server_main(int ctl, size_t n, size_t payload)
{
    struct end x;
    char buf[256];
    long base, idle, active, hbase;
    size_t got = 0;
    int r;

    memset(&x, 0, sizeof(x));
    x.server = 1;
    x.n = n;
    x.payload = payload;
    base = rss_bytes();
    hbase = heap_bytes();
    if (end_setup(&x, ctl) != 0)
        return 1;
    while (got < n) {
        char cbuf[CMSG_SPACE(sizeof(int) * FDS_PER_MSG)];
        char b;
        struct iovec iov = {&b, 1};
        struct msghdr mh = {0};
        struct cmsghdr *cm;

        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        if (recvmsg(ctl, &mh, 0) <= 0)
            return 1;
        for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
            size_t k, cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)(void *)CMSG_DATA(cm);
            for (k = 0; k < cnt && got < n; k++, got++)
                if (conn_init(&x, &x.c[got], fds[k]) != 0)
                    return 1;
        }
    }
    if (loop(&x, 0, all_keyed, -1) != 0)
        return 1;
    go_idle(&x, 1);
    idle = rss_bytes();
    snprintf(buf, sizeof(buf), "%zu %zu %ld %ld", x.keyed, x.dead, idle - base,
             heap_bytes() - hbase);
    if (ctl_send(ctl, buf) != 0)
        return 1;
    /* active phase: echo until the client says stop on ctl */
    r = loop(&x, 0, NULL, ctl);
    if (r != 1 || ctl_recv(ctl, buf, sizeof(buf)) != 0)
        return 1;
    active = rss_bytes();
    snprintf(buf, sizeof(buf), "%ld %llu", active - base, (unsigned long long)x.got);
    if (ctl_send(ctl, buf) != 0)
        return 1;
    /* the client closes everything; wait for all EOFs */
    (void)loop(&x, now() + 30, all_dead, -1);
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: sshbpp_scale [-n N] [--seconds S] [--payload BYTES] [--window W]\n"
                    "                    [--max-idle-rss BYTES]\n");
}

int
main(int argc, char **argv)
{
    size_t n = 10000, payload = 256, i;
    unsigned window = 4;
    double secs = 3;
    long max_idle = 16384, base, idle, active, s_idle = 0, s_active = 0, hbase, heap,
         s_heap = 0;
    struct end x;
    int sv[2], ctlp[2], status, fail = 0;
    pid_t pid;
    char buf[256];
    size_t s_keyed = 0, s_dead = 0;
    unsigned long long s_got = 0;
    double t0, t1;
    struct rlimit rl;

    for (i = 1; i < (size_t)argc; i++) {
        const char *a = argv[i], *v = i + 1 < (size_t)argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(a, "-n") == 0)
            n = strtoul(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0)
            secs = strtod(v, NULL);
        else if (strcmp(a, "--payload") == 0)
            payload = strtoul(v, NULL, 10);
        else if (strcmp(a, "--window") == 0)
            window = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--max-idle-rss") == 0)
            max_idle = strtol(v, NULL, 10);
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (n == 0 || n > 19000 || payload < 1 || payload > 32768 || window == 0 || window > 64 ||
        secs <= 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Buffers of 2 KiB and more (the engines' rx and tx buffers, the kex's
     * big temporaries) come from mmap, so that sshbpp_engine_shrink() and
     * sshbpp_kex_free() give their pages back to the kernel at once;
     * otherwise small long-lived allocations made in between (cipher
     * contexts) pin the freed heap pages and idle RSS stays at the
     * high-water mark. */
    mallopt(M_MMAP_THRESHOLD, 2048);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctlp) != 0)
        return 1;
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(ctlp[0]);
        _exit(server_main(ctlp[1], n, payload));
    }
    close(ctlp[1]);

    memset(&x, 0, sizeof(x));
    x.n = n;
    x.payload = payload;
    x.window = window;
    base = rss_bytes();
    hbase = heap_bytes();
    if (end_setup(&x, ctlp[0]) != 0)
        return 1;
    t0 = now();
    for (i = 0; i < n; i += FDS_PER_MSG) {
        int fds[FDS_PER_MSG];
        size_t k, cnt = n - i < FDS_PER_MSG ? n - i : FDS_PER_MSG;
        char cbuf[CMSG_SPACE(sizeof(int) * FDS_PER_MSG)];
        char b = 'f';
        struct iovec iov = {&b, 1};
        struct msghdr mh = {0};
        struct cmsghdr *cm;

        for (k = 0; k < cnt; k++) {
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
                perror("socketpair");
                return 1;
            }
            fds[k] = sv[1];
            if (conn_init(&x, &x.c[i + k], sv[0]) != 0)
                return 1;
        }
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * cnt);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * cnt);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * cnt);
        if (sendmsg(ctlp[0], &mh, 0) != 1) {
            perror("sendmsg");
            return 1;
        }
        for (k = 0; k < cnt; k++)
            close(fds[k]);
        /* keep keying while the rest are made */
        (void)loop(&x, now() + 0.001, NULL, -1);
    }
    if (loop(&x, 0, all_keyed, -1) != 0)
        return 1;
    t1 = now();
    go_idle(&x, 1);
    idle = rss_bytes();
    heap = heap_bytes() - hbase;
    if (ctl_recv(ctlp[0], buf, sizeof(buf)) != 0 ||
        sscanf(buf, "%zu %zu %ld %ld", &s_keyed, &s_dead, &s_idle, &s_heap) != 4)
        return 1;
    printf("connections: %zu keyed (client ends), %zu keyed (server ends), %zu+%zu failed, "
           "in %.2f s (curve25519-sha256, ssh-ed25519, aes128-gcm@openssh.com)\n",
           x.keyed, s_keyed, x.dead, s_dead, t1 - t0);
    printf("idle RSS (RssAnon) per keyed end: client %.0f B, server %.0f B (limit %ld B; kex freed, "
           "engines shrunk)\n",
           (double)(idle - base) / (double)n, (double)s_idle / (double)n, max_idle);
    printf("idle heap in use per keyed end (mallinfo2): client %.0f B, server %.0f B\n",
           (double)heap / (double)n, (double)s_heap / (double)n);
    printf("idle RSS (anonymous) per process: client %.1f MiB, server %.1f MiB above start\n",
           (double)(idle - base) / 1048576.0, (double)s_idle / 1048576.0);

    /* active phase */
    x.sending = 1;
    x.got = 0;
    for (i = 0; i < n; i++)
        if (x.c[i].state == ST_KEYED) {
            client_round(&x, &x.c[i]);
            conn_flush(&x, &x.c[i]);
        }
    t0 = now();
    (void)loop(&x, t0 + secs, NULL, -1);
    x.sending = 0;
    (void)loop(&x, now() + 10, no_inflight, -1);
    t1 = now();
    active = rss_bytes();
    if (ctl_send(ctlp[0], "stop") != 0 || ctl_recv(ctlp[0], buf, sizeof(buf)) != 0 ||
        sscanf(buf, "%ld %llu", &s_active, &s_got) != 2)
        return 1;
    printf("active (%u x %zu B in flight per connection, all at once, %.1f s): %.0f packets/s "
           "received in total (%llu + %llu)\n",
           window, payload, t1 - t0, (double)(x.got + s_got) / (t1 - t0),
           (unsigned long long)x.got, s_got);
    printf("active RSS (RssAnon) per end: client %.0f B, server %.0f B\n", (double)(active - base) / (double)n,
           (double)s_active / (double)n);
    go_idle(&x, 0);
    for (i = 0; i < n; i++) {
        close(x.c[i].fd);
        sshbpp_engine_free(x.c[i].e);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "server process failed\n");
        fail = 1;
    }
    if (x.keyed != n || s_keyed != n || x.dead != 0 || s_dead != 0) {
        fprintf(stderr, "FAIL: not every connection was keyed\n");
        fail = 1;
    }
    if (x.got == 0 || s_got == 0) {
        fprintf(stderr, "FAIL: no traffic\n");
        fail = 1;
    }
    if ((idle - base) / (long)n > max_idle || s_idle / (long)n > max_idle) {
        fprintf(stderr, "FAIL: idle RSS per end above %ld B\n", max_idle);
        fail = 1;
    }
    free(x.c);
    free(x.msg);
    return fail;
}
