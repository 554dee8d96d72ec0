/*
 * common.c: output, parsing, connect and wire helpers for the sshbpp tool.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int cli_verbose;

/* ===================================================================== */
/* Output                                                                 */

void
cli_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    /* Format first and write once, so that a line from another thread
     * cannot land in the middle of it. */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "sshbpp: error: %s\n", msg);
}

void
cli_debug(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (cli_verbose < level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "debug%d: %s\n", level, msg);
}

void
cli_lib_log(void *ctx, enum sshbpp_log_level level, const char *msg)
{
    const char *prefix = ctx;
    /* The library's debug lines (hex dumps included) are debug2, its info
     * lines (rekeys) debug1; warnings and errors keep their name. */
    const char *lv = level >= SSHBPP_LOG_ERROR     ? "sshbpp: error: "
                     : level >= SSHBPP_LOG_WARNING ? "sshbpp: warning: "
                     : level >= SSHBPP_LOG_INFO    ? "debug1: "
                                                   : "debug2: ";

    if (prefix != NULL && prefix[0] != '\0')
        fprintf(stderr, "%s[%s] %s\n", lv, prefix, msg);
    else
        fprintf(stderr, "%s%s\n", lv, msg);
}

void
cli_apply_verbosity(sshbpp_engine *e, void *log_ctx)
{
    if (cli_verbose >= 2)
        sshbpp_engine_set_log(e, cli_lib_log, log_ctx);
    if (cli_verbose >= 3)
        sshbpp_engine_set_hexdump(e, 1);
}

const char *
cli_strerror(int rc, const sshbpp_packetizer *p, char *buf, size_t cap)
{
    int e = p != NULL ? sshbpp_packetizer_last_errno(p) : 0;

    if (rc == SSHBPP_EIO && e != 0)
        snprintf(buf, cap, "I/O error: %s", strerror(e));
    else if (rc == SSHBPP_EEOF && e != 0)
        snprintf(buf, cap, "%s (%s)", sshbpp_strerror(rc), strerror(e));
    else
        snprintf(buf, cap, "%s", sshbpp_strerror(rc));
    return buf;
}

char *
cli_sanitize(char *out, size_t cap, const char *s)
{
    size_t i = 0;

    if (cap == 0)
        return out;
    for (; s != NULL && *s != '\0' && i + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;

        out[i++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}

/* ===================================================================== */
/* Parsing                                                                */

int
cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mult = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1024 * 1024 * 1024;
        end++;
        break;
    default:
        return -1;
    }
    if (*end != '\0' || (v != 0 && (uint64_t)v > UINT64_MAX / mult))
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

int
cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
cli_parse_seconds(const char *s, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    /* The upper bound keeps deadline arithmetic far from overflow and
     * rejects inf/nan, which compare false. */
    if (errno != 0 || end == s || *end != '\0' || !(v > 0.0 && v <= 31536000.0))
        return -1;
    *out = v;
    return 0;
}

/* -o Keyword=value (or "Keyword value"), as ssh(1) takes it, for the
 * algorithm keywords; returns 0 for any other keyword (the command's own
 * -o handling, e.g. probe's StrictHostKeyChecking, takes it then). */
static int
alg_o_option(struct cli_algs *a, const char *arg)
{
    static const struct {
        const char *key;
        size_t field;
    } keys[] = {
        {"kexalgorithms", offsetof(struct cli_algs, kex)},
        {"hostkeyalgorithms", offsetof(struct cli_algs, hostkey)},
        {"ciphers", offsetof(struct cli_algs, ciphers)},
        {"macs", offsetof(struct cli_algs, macs)},
    };
    size_t n = strcspn(arg, "= \t"), i;
    const char *val = arg + n;

    if (*val != '\0')
        val++;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].key) == n && strncasecmp(arg, keys[i].key, n) == 0) {
            memcpy((char *)a + keys[i].field, &val, sizeof(val));
            return 1;
        }
    }
    if (n == 11 && strncasecmp(arg, "compression", n) == 0) {
        /* Anything but yes/no is left for cli_algs_check() to refuse. */
        a->compression = strcasecmp(val, "yes") == 0  ? CLI_COMPRESSION_ALL
                         : strcasecmp(val, "no") == 0 ? "none"
                                                      : val;
        return 1;
    }
    return 0;
}

int
cli_alg_option(struct cli_algs *a, int opt, const char *arg)
{
    switch (opt) {
    case 'o':
        return alg_o_option(a, arg);
    case 'c':
        a->ciphers = arg;
        return 1;
    case 'm':
        a->macs = arg;
        return 1;
    case 'C':
        a->compression = CLI_COMPRESSION_ALL;
        return 1;
    case OPT_KEX:
        a->kex = arg;
        return 1;
    case OPT_HOSTKEY_ALGS:
        a->hostkey = arg;
        return 1;
    case OPT_COMPRESSION:
        a->compression = arg != NULL ? arg : CLI_COMPRESSION_ALL;
        return 1;
    default:
        return 0;
    }
}

void
cli_algs_config(const struct cli_algs *a, sshbpp_kex_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->kex = a->kex;
    cfg->hostkey = a->hostkey;
    cfg->ciphers = a->ciphers;
    cfg->macs = a->macs;
    cfg->compression = a->compression;
}

static int
null_send(void *ctx, const uint8_t *payload, size_t len)
{
    (void)ctx;
    (void)payload;
    (void)len;
    return 0;
}

static int
null_set_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *keys)
{
    (void)ctx;
    (void)dir;
    (void)keys;
    return 0;
}

static int
null_set_compression(void *ctx, enum sshbpp_dir dir, const char *name)
{
    (void)ctx;
    (void)dir;
    (void)name;
    return 0;
}

static void
null_reset_seqno(void *ctx, enum sshbpp_dir dir)
{
    (void)ctx;
    (void)dir;
}

const sshbpp_kex_transport cli_null_transport = {null_send, null_set_keys, null_set_compression,
                                                  null_reset_seqno};

static int
kex_supported(const char *name)
{
    const char *const *n;

    for (n = sshbpp_kex_supported(SSHBPP_KEXINIT_KEX); n != NULL && *n != NULL; n++)
        if (strcmp(*n, name) == 0)
            return 1;
    return 0;
}

int
cli_algs_check(const struct cli_algs *a, const char **what)
{
    /* One option at a time, so that the error names the one at fault. */
    const struct {
        const char *value;
        const char *name;
        size_t field;
    } opts[] = {
        {a->kex, "--kex", offsetof(sshbpp_kex_config, kex)},
        {a->hostkey, "--hostkey-algorithms", offsetof(sshbpp_kex_config, hostkey)},
        {a->ciphers, "-c", offsetof(sshbpp_kex_config, ciphers)},
        {a->macs, "-m", offsetof(sshbpp_kex_config, macs)},
        {a->compression, "--compression", offsetof(sshbpp_kex_config, compression)},
    };
    size_t i;

    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        sshbpp_kex_config cfg;
        sshbpp_kex *k;
        int rc;

        if (opts[i].value == NULL)
            continue;
        memset(&cfg, 0, sizeof(cfg));
        memcpy((char *)&cfg + opts[i].field, &opts[i].value, sizeof(const char *));
        *what = opts[i].name;
        if (opts[i].value[0] == '\0')
            return SSHBPP_EUNSUPPORTED;
        k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg, &cli_null_transport, NULL);
        if (k == NULL)
            return SSHBPP_ENOMEM;
        rc = sshbpp_kex_start(k);
        sshbpp_kex_free(k);
        if (rc == SSHBPP_EUNSUPPORTED && opts[i].field == offsetof(sshbpp_kex_config, kex) &&
            strstr(opts[i].value, "mlkem768x25519-sha256") != NULL &&
            !kex_supported("mlkem768x25519-sha256"))
            *what = "--kex: mlkem768x25519-sha256 needs ML-KEM-768 from libcrypto (OpenSSL "
                    ">= 3.5), which this one lacks";
        if (rc < 0)
            return rc;
    }
    *what = NULL;
    return 0;
}

/* ===================================================================== */
/* Time and sockets                                                       */

double
cli_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
cli_format_addr(const void *sa, unsigned salen, char *out, size_t cap)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    const struct sockaddr *s = sa;

    if (getnameinfo(s, (socklen_t)salen, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (s->sa_family == AF_INET6)
        snprintf(out, cap, "[%s]:%s", host, serv);
    else
        snprintf(out, cap, "%s:%s", host, serv);
}

/* Connects one address before the deadline: a non-blocking connect and a
 * poll, so that a black-holed address cannot outlast the deadline; the
 * socket goes back to blocking mode because the Packetizer waits with
 * poll() and expects plain blocking writes. Returns the fd or -1 (errno). */
static int
connect_one(const struct addrinfo *ai, double deadline)
{
    int fd, flags, soerr = 0, one = 1;
    socklen_t len = sizeof(soerr);

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS)
            goto fail;
        for (;;) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            double left = deadline - cli_now();
            int n;

            if (left <= 0) {
                errno = ETIMEDOUT;
                goto fail;
            }
            n = poll(&pfd, 1, (int)(left * 1000.0) + 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                goto fail;
            if (n == 0) {
                errno = ETIMEDOUT;
                goto fail;
            }
            break;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            goto fail;
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    if (fcntl(fd, F_SETFL, flags) < 0)
        goto fail;
    /* Small handshake messages should not wait for Nagle, as in OpenSSH. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    soerr = errno;
    close(fd);
    errno = soerr;
    return -1;
}

/* Name resolution under a deadline: getaddrinfo() on a thread of its own,
 * waited for until the deadline. A resolver that does not answer (a silent
 * DNS server: 5 s x 2 attempts per query by default; a stuck NSS module:
 * forever) is left to finish on its own; the job frees itself when both
 * sides let go. */
struct resolve_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done, rc;
    struct addrinfo hints, *res;
    char *host, *port;
};

static void
resolve_unref(struct resolve_job *j)
{
    int left;

    pthread_mutex_lock(&j->mu);
    left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left > 0)
        return;
    if (j->res != NULL)
        freeaddrinfo(j->res);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j->host);
    free(j->port);
    free(j);
}

static void *
resolve_main(void *arg)
{
    struct resolve_job *j = arg;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(j->host, j->port, &j->hints, &res);

    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->res = res;
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    resolve_unref(j);
    return NULL;
}

/* getaddrinfo() before the monotonic deadline: its result, or EAI_AGAIN
 * with *timed_out set once the deadline passed. Numeric hosts do not wait
 * for a thread. */
static int
resolve_by(const char *host, const char *port, const struct addrinfo *hints, double deadline,
           struct addrinfo **res, int *timed_out)
{
    struct addrinfo numeric = *hints;
    struct resolve_job *j;
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t th;
    struct timespec ts;
    double when;
    int rc;

    *timed_out = 0;
    *res = NULL;
    numeric.ai_flags |= AI_NUMERICHOST;
    if (getaddrinfo(host, port, &numeric, res) == 0)
        return 0;
    *res = NULL;
    if (!(deadline < cli_now() + 86400.0 * 365.0)) /* no real deadline */
        return getaddrinfo(host, port, hints, res);
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->host = strdup(host)) == NULL ||
        (j->port = strdup(port)) == NULL) {
        if (j != NULL) {
            free(j->host);
            free(j);
        }
        return EAI_MEMORY;
    }
    j->hints = *hints;
    j->refs = 2;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &ta, resolve_main, j);
    pthread_attr_destroy(&ta);
    if (rc != 0) {
        /* no thread: resolve here, unbounded as before */
        j->refs = 1;
        resolve_unref(j);
        return getaddrinfo(host, port, hints, res);
    }
    when = deadline;
    ts.tv_sec = (time_t)when;
    ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT && !j->done)
            break;
    if (j->done) {
        rc = j->rc;
        *res = j->res; /* ours now */
        j->res = NULL;
    } else {
        rc = EAI_AGAIN;
        *timed_out = 1;
    }
    pthread_mutex_unlock(&j->mu);
    resolve_unref(j);
    return rc;
}

int
cli_connect(const char *host, const char *port, double deadline, char *err, size_t errcap)
{
    struct addrinfo hints, *res = NULL, *ai;
    char name[NI_MAXHOST], addr[NI_MAXHOST + NI_MAXSERV + 4];
    size_t n = strlen(host);
    int rc, fd = -1, last = 0, timed_out = 0;

    /* Accept "[::1]" as well as "::1". */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (n - 2 >= sizeof(name)) {
            snprintf(err, errcap, "host name too long");
            return -1;
        }
        memcpy(name, host + 1, n - 2);
        name[n - 2] = '\0';
        host = name;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    rc = resolve_by(host, port, &hints, deadline, &res, &timed_out);
    if (timed_out) {
        snprintf(err, errcap, "%s: name resolution timed out", host);
        errno = ETIMEDOUT;
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errcap, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        cli_format_addr(ai->ai_addr, (unsigned)ai->ai_addrlen, addr, sizeof(addr));
        cli_debug(1, "Connecting to %s (%s)", host, addr);
        fd = connect_one(ai, deadline);
        if (fd >= 0)
            break;
        last = errno;
        cli_debug(1, "connect to %s failed: %s", addr, strerror(last));
        if (last == ETIMEDOUT && cli_now() >= deadline)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errcap, "connect to %s port %s: %s", host, port,
                 last != 0 ? strerror(last) : "no address");
    return fd;
}

/* ===================================================================== */
/* Wire encoding                                                          */

static int
wbuf_reserve(struct wbuf *b, size_t n)
{
    size_t cap;
    uint8_t *d;

    if (b->err)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len) {
        b->err = 1;
        return -1;
    }
    cap = b->cap != 0 ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    d = realloc(b->data, cap);
    if (d == NULL) {
        b->err = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void
wbuf_bytes(struct wbuf *b, const void *p, size_t n)
{
    if (n == 0 || wbuf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void
wbuf_u8(struct wbuf *b, uint8_t v)
{
    wbuf_bytes(b, &v, 1);
}

void
wbuf_u32(struct wbuf *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    wbuf_bytes(b, be, 4);
}

void
wbuf_string(struct wbuf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->err = 1;
        return;
    }
    wbuf_u32(b, (uint32_t)n);
    wbuf_bytes(b, p, n);
}

void
wbuf_cstring(struct wbuf *b, const char *s)
{
    wbuf_string(b, s, strlen(s));
}

void
wbuf_free(struct wbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void
rbuf_init(struct rbuf *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->err = 0;
}

int
rbuf_u8(struct rbuf *r, uint8_t *v)
{
    if (r->err || r->len - r->off < 1) {
        r->err = 1;
        return -1;
    }
    *v = r->p[r->off++];
    return 0;
}

int
rbuf_u32(struct rbuf *r, uint32_t *v)
{
    const uint8_t *q;

    if (r->err || r->len - r->off < 4) {
        r->err = 1;
        return -1;
    }
    q = r->p + r->off;
    *v = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
    r->off += 4;
    return 0;
}

int
rbuf_string(struct rbuf *r, const uint8_t **s, size_t *n)
{
    uint32_t len;

    if (rbuf_u32(r, &len) != 0)
        return -1;
    if (len > r->len - r->off) {
        r->err = 1;
        return -1;
    }
    *s = r->p + r->off;
    *n = len;
    r->off += len;
    return 0;
}

char *
cli_strndup(const uint8_t *s, size_t n)
{
    char *d;

    if (n == SIZE_MAX)
        return NULL;
    d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
