/*
 * soak.c: a long transfer through one connection with nothing lost and
 * nothing duplicated.
 *
 *   sshbpp_soak pair BYTES REKEY_BYTES [SEED]
 *       two sshbpp ends (client and server drivers) over a socketpair;
 *       each sends BYTES of random payloads of random sizes (1..32 KiB) to
 *       the other from one thread while another thread receives, with a
 *       rekey every REKEY_BYTES (the engine's byte limit, both ends). Each
 *       message carries a sequence number; the receiver checks the order
 *       and hashes the payloads; at the end the SHA-256 of what each side
 *       sent is compared with what the other received, and the packet,
 *       wire-byte and payload counters of the two engines must agree.
 *   sshbpp_soak sshd BYTES REKEY_BYTES HOST PORT USER KEYFILE [SEED]
 *       against OpenSSH's sshd: a session channel running `cat`; BYTES of
 *       random data in chunks of random sizes go out and come back (at
 *       most OUTSTANDING bytes in flight, below both windows, so one
 *       thread cannot deadlock), with our rekey every REKEY_BYTES; the
 *       SHA-256 of what went out and of what came back must agree, as must
 *       the byte counts, and `cat` must exit 0.
 *
 * BYTES and REKEY_BYTES take a K, M or G suffix (binary). Prints one line
 * of counters (packets and wire bytes each way, rekeys, seconds, MiB/s,
 * max RSS) and "soak: OK" or "soak: FAIL ..."; exits 0 only when OK.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/evp.h>

#include "sshbpp/sshbpp.h"

#define MAXMSG      32768
#define OUTSTANDING (512 * 1024)
#define CALL_TIMEOUT 120000

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
parse_size(const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return 0;
    switch (*end) {
    case 'k': case 'K': v <<= 10; break;
    case 'm': case 'M': v <<= 20; break;
    case 'g': case 'G': v <<= 30; break;
    case '\0': break;
    default: return 0;
    }
    return (uint64_t)v;
}

/* xorshift64*: payload bytes and sizes, reproducible from the seed. */
static uint64_t
rnd(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void
rnd_fill(uint64_t *s, uint8_t *p, size_t n)
{
    size_t i;
    uint64_t v = 0;

    for (i = 0; i < n; i++) {
        if ((i & 7) == 0)
            v = rnd(s);
        p[i] = (uint8_t)(v >> ((i & 7) * 8));
    }
}

static long
max_rss_kib(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void
hex32(const uint8_t *h, char *out)
{
    int i;

    for (i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* ---- pair ------------------------------------------------------------------- */

static int
accept_any(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)alg;
    (void)blob;
    (void)len;
    return strncmp(fp, "SHA256:", 7) == 0;
}

static enum sshbpp_auth_decision
auth_pw(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    (void)ctx;
    (void)methods;
    return strcmp(a->method, "password") == 0 && strcmp(a->password, "soak") == 0
               ? SSHBPP_AUTH_ACCEPT
               : SSHBPP_AUTH_REJECT;
}

struct end {
    sshbpp_driver *d;
    uint64_t bytes, seed;
    uint8_t sent[32], recv[32];
    uint64_t sent_msgs, recv_msgs, recv_bytes;
    int r_send, r_recv;
    const char *why;
    volatile int complete; /* the peer's end marker arrived */
};

/* I/O happens only while a thread is inside a driver call: a receiver
 * that has its peer's end marker keeps driving (short recv calls) until
 * main has seen both ends complete, so the other side's tail still goes
 * out. */
static volatile int all_done;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

static void *
sender(void *p)
{
    struct end *e = p;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    static __thread uint8_t buf[MAXMSG + 5];
    uint64_t left = e->bytes, s = e->seed;
    uint32_t seq = 0;
    unsigned hl;
    int r = 0;

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while (left > 0 && r == 0) {
        size_t n = 1 + (size_t)(rnd(&s) % MAXMSG);

        if (n > left)
            n = (size_t)left;
        buf[0] = 192; /* a local-extension message number (RFC 4250) */
        buf[1] = (uint8_t)(seq >> 24);
        buf[2] = (uint8_t)(seq >> 16);
        buf[3] = (uint8_t)(seq >> 8);
        buf[4] = (uint8_t)seq;
        seq++;
        rnd_fill(&s, buf + 5, n);
        EVP_DigestUpdate(md, buf + 5, n);
        r = sshbpp_driver_send(e->d, buf, n + 5, CALL_TIMEOUT);
        left -= n;
        e->sent_msgs++;
    }
    if (r == 0) { /* the end marker: type 193 */
        buf[0] = 193;
        r = sshbpp_driver_send(e->d, buf, 1, CALL_TIMEOUT);
    }
    EVP_DigestFinal_ex(md, e->sent, &hl);
    EVP_MD_CTX_free(md);
    e->r_send = r;
    return NULL;
}

static void *
receiver(void *p)
{
    struct end *e = p;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    static __thread uint8_t buf[MAXMSG + 64];
    uint32_t next = 0, seq;
    size_t len;
    unsigned hl;
    int r;

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (;;) {
        if ((r = sshbpp_driver_recv(e->d, buf, sizeof(buf), &len, CALL_TIMEOUT)) != 0)
            break;
        if (len == 1 && buf[0] == 193) {
            r = 0;
            break;
        }
        if (len < 5 || buf[0] != 192) {
            e->why = "unexpected message";
            r = -1000;
            break;
        }
        seq = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
        if (seq != next++) {
            e->why = seq < next - 1 ? "a message duplicated or reordered" : "a message lost";
            r = -1001;
            break;
        }
        EVP_DigestUpdate(md, buf + 5, len - 5);
        e->recv_msgs++;
        e->recv_bytes += len - 5;
    }
    EVP_DigestFinal_ex(md, e->recv, &hl);
    EVP_MD_CTX_free(md);
    e->r_recv = r;
    pthread_mutex_lock(&done_mu);
    e->complete = 1;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&done_mu);
    while (r == 0 && !all_done) {
        r = sshbpp_driver_recv(e->d, buf, sizeof(buf), &len, 50);
        if (r == 0) {
            e->why = "a message after the end marker";
            e->r_recv = -1002;
        } else if (r == SSHBPP_ETIMEDOUT) {
            r = 0;
        } else {
            e->r_recv = r;
        }
    }
    return NULL;
}

struct hs {
    sshbpp_driver *d;
    int r;
};

static void *
server_hs(void *p)
{
    struct hs *h = p;

    h->r = sshbpp_driver_handshake(h->d, 30000);
    if (h->r == 0)
        h->r = sshbpp_driver_wait_auth(h->d, 30000);
    return NULL;
}

static void
print_counters(const char *mode, sshbpp_engine *e, unsigned rekeys, uint64_t bytes, double secs)
{
    sshbpp_stats out, in;

    sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &out);
    sshbpp_engine_get_stats(e, SSHBPP_DIR_IN, &in);
    printf("soak %s: payload %llu bytes each way in %.1f s (%.1f MiB/s each way); "
           "out %llu packets %llu wire bytes; in %llu packets %llu wire bytes; "
           "%u rekeys; max RSS %ld KiB\n",
           mode, (unsigned long long)bytes, secs, secs > 0 ? bytes / 1048576.0 / secs : 0.0,
           (unsigned long long)out.total_packets, (unsigned long long)out.total_bytes,
           (unsigned long long)in.total_packets, (unsigned long long)in.total_bytes, rekeys,
           max_rss_kib());
}

static int
soak_pair(uint64_t bytes, uint64_t rekey, uint64_t seed)
{
    sshbpp_conn_config cc, sc;
    sshbpp_rekey_limits lim;
    struct end c = {0}, s = {0};
    struct hs h;
    pthread_t t[4];
    sshbpp_stats co, ci, so, si;
    sshbpp_kex_info info;
    char a[65], b[65];
    int fds[2], r, ok = 1;
    double t0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return perror("socketpair"), 1;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    sc.auth_cb = auth_pw;
    c.d = sshbpp_driver_new(fds[0], &cc);
    s.d = sshbpp_driver_new(fds[1], &sc);
    if (c.d == NULL || s.d == NULL)
        return fprintf(stderr, "soak: FAIL driver_new\n"), 1;
    if ((r = sshbpp_conn_generate_hostkey(sshbpp_driver_conn(s.d), "ssh-ed25519")) != 0)
        return fprintf(stderr, "soak: FAIL hostkey %s\n", sshbpp_err_name(r)), 1;
    sshbpp_driver_set_hostkey_cb(c.d, accept_any, NULL);
    sshbpp_rekey_limits_default(&lim);
    lim.bytes = rekey;
    if (sshbpp_engine_set_rekey_limits(sshbpp_conn_engine(sshbpp_driver_conn(c.d)), &lim) != 0 ||
        sshbpp_engine_set_rekey_limits(sshbpp_conn_engine(sshbpp_driver_conn(s.d)), &lim) != 0)
        return fprintf(stderr, "soak: FAIL rekey limits\n"), 1;
    h.d = s.d;
    pthread_create(&t[0], NULL, server_hs, &h);
    r = sshbpp_driver_handshake(c.d, 30000);
    if (r == 0)
        r = sshbpp_driver_auth_password(c.d, "soak", "soak", 30000);
    pthread_join(t[0], NULL);
    if (r != 0 || h.r != 0)
        return fprintf(stderr, "soak: FAIL handshake %s / %s\n", sshbpp_err_name(r),
                       sshbpp_err_name(h.r)), 1;
    c.bytes = s.bytes = bytes;
    c.seed = seed | 1;
    s.seed = (seed ^ 0x5eed5eed5eedull) | 1;
    t0 = now_s();
    pthread_create(&t[0], NULL, sender, &c);
    pthread_create(&t[1], NULL, receiver, &c);
    pthread_create(&t[2], NULL, sender, &s);
    pthread_create(&t[3], NULL, receiver, &s);
    pthread_join(t[0], NULL);
    pthread_join(t[2], NULL);
    pthread_mutex_lock(&done_mu);
    while (!(c.complete && s.complete))
        pthread_cond_wait(&done_cv, &done_mu); /* each receiver ends by itself (timeouts) */
    all_done = 1;
    pthread_mutex_unlock(&done_mu);
    pthread_join(t[1], NULL);
    pthread_join(t[3], NULL);
    t0 = now_s() - t0;
    sshbpp_engine_get_stats(sshbpp_conn_engine(sshbpp_driver_conn(c.d)), SSHBPP_DIR_OUT, &co);
    sshbpp_engine_get_stats(sshbpp_conn_engine(sshbpp_driver_conn(c.d)), SSHBPP_DIR_IN, &ci);
    sshbpp_engine_get_stats(sshbpp_conn_engine(sshbpp_driver_conn(s.d)), SSHBPP_DIR_OUT, &so);
    sshbpp_engine_get_stats(sshbpp_conn_engine(sshbpp_driver_conn(s.d)), SSHBPP_DIR_IN, &si);
    memset(&info, 0, sizeof(info));
    if (sshbpp_driver_get_info(c.d, &info) != 0)
        ok = 0;
    print_counters("pair (client)", sshbpp_conn_engine(sshbpp_driver_conn(c.d)), info.rekeys,
                   bytes, t0);
    if (c.r_send || c.r_recv || s.r_send || s.r_recv) {
        printf("soak: FAIL client send %s recv %s (%s), server send %s recv %s (%s)\n",
               sshbpp_err_name(c.r_send), sshbpp_err_name(c.r_recv), c.why ? c.why : "-",
               sshbpp_err_name(s.r_send), sshbpp_err_name(s.r_recv), s.why ? s.why : "-");
        ok = 0;
    }
    hex32(c.sent, a);
    hex32(s.recv, b);
    printf("client -> server: sent sha256 %s, %llu messages\n", a,
           (unsigned long long)c.sent_msgs);
    printf("                  recv sha256 %s, %llu messages, %llu bytes\n", b,
           (unsigned long long)s.recv_msgs, (unsigned long long)s.recv_bytes);
    if (memcmp(c.sent, s.recv, 32) != 0 || c.sent_msgs != s.recv_msgs || s.recv_bytes != bytes)
        ok = 0, printf("soak: FAIL client -> server stream differs\n");
    hex32(s.sent, a);
    hex32(c.recv, b);
    printf("server -> client: sent sha256 %s, %llu messages\n", a,
           (unsigned long long)s.sent_msgs);
    printf("                  recv sha256 %s, %llu messages, %llu bytes\n", b,
           (unsigned long long)c.recv_msgs, (unsigned long long)c.recv_bytes);
    if (memcmp(s.sent, c.recv, 32) != 0 || s.sent_msgs != c.recv_msgs || c.recv_bytes != bytes)
        ok = 0, printf("soak: FAIL server -> client stream differs\n");
    /* the two engines' counters agree: every packet sent was received once */
    if (co.total_packets != si.total_packets || co.total_bytes != si.total_bytes ||
        co.total_payload != si.total_payload || so.total_packets != ci.total_packets ||
        so.total_bytes != ci.total_bytes || so.total_payload != ci.total_payload) {
        printf("soak: FAIL counters: c->s %llu/%llu packets %llu/%llu bytes; "
               "s->c %llu/%llu packets %llu/%llu bytes\n",
               (unsigned long long)co.total_packets, (unsigned long long)si.total_packets,
               (unsigned long long)co.total_bytes, (unsigned long long)si.total_bytes,
               (unsigned long long)so.total_packets, (unsigned long long)ci.total_packets,
               (unsigned long long)so.total_bytes, (unsigned long long)ci.total_bytes);
        ok = 0;
    }
    /* the rekeys happened: at least one per REKEY_BYTES of the busier way */
    if (rekey > 0 && info.rekeys + 1 < co.total_bytes / rekey / 2) {
        printf("soak: FAIL only %u rekeys for %llu wire bytes out at a %llu-byte limit\n",
               info.rekeys, (unsigned long long)co.total_bytes, (unsigned long long)rekey);
        ok = 0;
    }
    (void)sshbpp_driver_disconnect(c.d, SSHBPP_DISCONNECT_BY_APPLICATION, "done", 2000);
    sshbpp_driver_free(c.d);
    sshbpp_driver_free(s.d);
    printf(ok ? "soak: OK\n" : "soak: FAIL\n");
    return ok ? 0 : 1;
}

/* ---- sshd --------------------------------------------------------------------- */

static int
hostkey_any(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)alg;
    (void)fp;
    (void)blob;
    (void)len;
    return 1;
}

static int
die(const char *what, int r)
{
    printf("soak: FAIL %s: %s\n", what, sshbpp_err_name(r));
    return 1;
}

static int
drain(sshbpp_driver_channels *dc, uint32_t id, EVP_MD_CTX *md, uint64_t *got, int64_t timeout)
{
    static uint8_t buf[65536];
    long m = sshbpp_driver_channel_read(dc, id, 0, buf, sizeof(buf), timeout);

    if (m > 0) {
        EVP_DigestUpdate(md, buf, (size_t)m);
        *got += (uint64_t)m;
    }
    return (int)(m > 0 ? 1 : m);
}

static int
soak_sshd(uint64_t bytes, uint64_t rekey, const char *host, const char *port, const char *user,
          const char *keyfile, uint64_t seed)
{
    static uint8_t buf[MAXMSG];
    sshbpp_conn_config cfg;
    sshbpp_driver_channels *dc;
    sshbpp_driver *d;
    sshbpp_rekey_limits lim;
    sshbpp_kex_info info;
    EVP_MD_CTX *sent = EVP_MD_CTX_new(), *recv = EVP_MD_CTX_new();
    uint8_t hs[32], hr[32];
    uint64_t left = bytes, got = 0, s = seed | 1;
    char a[65], b[65], sig[32];
    unsigned hl;
    uint32_t id, reason = 0;
    int r, status = -1;
    double t0;

    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    if ((d = sshbpp_driver_connect(host, port, &cfg, 10000, &r)) == NULL)
        return die("connect", r);
    sshbpp_driver_set_timeout(d, CALL_TIMEOUT);
    sshbpp_driver_set_hostkey_cb(d, hostkey_any, NULL);
    sshbpp_rekey_limits_default(&lim);
    lim.bytes = rekey;
    if ((r = sshbpp_engine_set_rekey_limits(sshbpp_conn_engine(sshbpp_driver_conn(d)), &lim)) != 0)
        return die("rekey limits", r);
    if ((r = sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT)) != 0)
        return die("handshake", r);
    if ((r = sshbpp_driver_auth_publickey_file(d, user, keyfile, SSHBPP_TIMEOUT_DEFAULT)) != 0)
        return die("auth", r);
    if ((dc = sshbpp_driver_channels_new(d, NULL)) == NULL)
        return die("channels", SSHBPP_ENOMEM);
    if ((r = sshbpp_driver_channel_open_session(dc, &id, &reason, SSHBPP_TIMEOUT_DEFAULT)) != 0)
        return die("open", r);
    if ((r = sshbpp_driver_channel_exec(dc, id, "cat", SSHBPP_TIMEOUT_DEFAULT)) != 0)
        return die("exec", r);
    EVP_DigestInit_ex(sent, EVP_sha256(), NULL);
    EVP_DigestInit_ex(recv, EVP_sha256(), NULL);
    t0 = now_s();
    while (left > 0) {
        size_t n = 1 + (size_t)(rnd(&s) % MAXMSG);

        if (n > left)
            n = (size_t)left;
        rnd_fill(&s, buf, n);
        EVP_DigestUpdate(sent, buf, n);
        if ((r = sshbpp_driver_channel_write(dc, id, 0, buf, n, SSHBPP_TIMEOUT_DEFAULT)) != 0)
            return die("write", r);
        left -= n;
        /* keep what is in flight below both windows: past OUTSTANDING,
         * read the echo back down to half of it */
        if (bytes - left - got > OUTSTANDING)
            while (bytes - left - got > OUTSTANDING / 2)
                if ((r = drain(dc, id, recv, &got, CALL_TIMEOUT)) <= 0)
                    return die("read (in flight)", r == 0 ? SSHBPP_EPROTO : r);
    }
    if ((r = sshbpp_driver_channel_eof(dc, id)) != 0)
        return die("eof", r);
    while ((r = drain(dc, id, recv, &got, CALL_TIMEOUT)) > 0)
        ;
    if (r < 0)
        return die("read (after eof)", r);
    if ((r = sshbpp_driver_channel_wait_exit(dc, id, &status, sig, sizeof(sig), CALL_TIMEOUT)) != 0)
        return die("wait_exit", r);
    t0 = now_s() - t0;
    EVP_DigestFinal_ex(sent, hs, &hl);
    EVP_DigestFinal_ex(recv, hr, &hl);
    memset(&info, 0, sizeof(info));
    r = sshbpp_driver_get_info(d, &info);
    print_counters("sshd (cat)", sshbpp_conn_engine(sshbpp_driver_conn(d)), info.rekeys, bytes,
                   t0);
    hex32(hs, a);
    hex32(hr, b);
    printf("sent     sha256 %s, %llu bytes\nechoed   sha256 %s, %llu bytes; cat exit %d\n", a,
           (unsigned long long)bytes, b, (unsigned long long)got, status);
    if (sshbpp_driver_channel_close(dc, id, 10000) != 0)
        printf("soak: (the channel close was not answered in time)\n");
    sshbpp_driver_channels_free(dc);
    (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "done", 2000);
    sshbpp_driver_free(d);
    EVP_MD_CTX_free(sent);
    EVP_MD_CTX_free(recv);
    if (r != 0 || memcmp(hs, hr, 32) != 0 || got != bytes || status != 0) {
        printf("soak: FAIL the echo differs (or cat failed)\n");
        return 1;
    }
    if (rekey > 0 && info.rekeys + 1 < bytes / rekey / 2) {
        printf("soak: FAIL only %u rekeys at a %llu-byte limit\n", info.rekeys,
               (unsigned long long)rekey);
        return 1;
    }
    printf("soak: OK\n");
    return 0;
}

int
main(int argc, char **argv)
{
    uint64_t bytes, rekey;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "pair") == 0 && argc <= 5) {
        bytes = parse_size(argv[2]);
        rekey = parse_size(argv[3]);
        if (bytes > 0 && rekey > 0)
            return soak_pair(bytes, rekey, argc == 5 ? strtoull(argv[4], NULL, 0) : 1);
    } else if (argc >= 8 && strcmp(argv[1], "sshd") == 0 && argc <= 9) {
        bytes = parse_size(argv[2]);
        rekey = parse_size(argv[3]);
        if (bytes > 0 && rekey > 0)
            return soak_sshd(bytes, rekey, argv[4], argv[5], argv[6], argv[7],
                             argc == 9 ? strtoull(argv[8], NULL, 0) : 1);
    }
    fprintf(stderr, "usage: %s pair BYTES REKEY_BYTES [SEED]\n"
                    "       %s sshd BYTES REKEY_BYTES HOST PORT USER KEYFILE [SEED]\n",
            argv[0], argv[0]);
    return 2;
}
