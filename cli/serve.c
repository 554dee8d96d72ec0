/*
 * serve.c: `sshbpp serve`, the server role. It listens (loopback by
 * default), completes the handshake with each client on its own thread,
 * logs the negotiated algorithms, and answers ssh-userauth: "publickey"
 * succeeds for a key in --authorized-keys, everything else fails with a
 * list of "publickey" (enough for `ssh` to end with "Permission denied
 * (publickey)" and for probes to see a real server's transport).
 *
 * Threads: the main thread accepts; one detached thread per client; a
 * janitor closes clients whose --login-grace ran out (closing the
 * driver fails every blocked call on that connection); a signal thread
 * turns SIGINT/SIGTERM into an orderly stop. All of them share `srv`
 * under srv->mu.
 */
#include "common.h"
#include "keylog.h"
#include "serve_auth.h"
#include "sshbpp/sshbpp_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* OpenSSL makes the ephemeral host key: the public API can generate a key
 * only inside one connection's kex object, and a per-connection key would
 * change the fingerprint on every connection. OpenSSL is already the
 * library's dependency, so the tool may use it directly. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define MAX_HOSTKEYS 8
/* Userauth requests answered before the client is cut off, a little
 * more generous than OpenSSH's MaxAuthTries (6) since "none" counts. */
#define MAX_AUTH_ATTEMPTS 10
/* How often the janitor looks for clients past their login grace. */
#define JANITOR_INTERVAL 0.2

struct conn;

struct server {
    /* options */
    struct cli_algs algs;
    const char *pubkey_algs; /* -o PubkeyAcceptedAlgorithms= (NULL: default) */
    const char *hostkeys[MAX_HOSTKEYS];
    /* group-exchange groups: --moduli, else /etc/ssh/moduli when readable,
     * else (NULL) the library's built-in RFC 3526 groups */
    const char *moduli;
    int nhostkeys;
    const char *bind, *port;
    long max_clients;
    double login_grace;
    int once;
    const char *ak_path;        /* --authorized-keys, or NULL: refuse everyone */
    sshbpp_authorized_keys *ak; /* loaded once at start */
    /* Bounds on unauthenticated clients (clients that authenticated
     * with --authorized-keys no longer count): OpenSSH's MaxStartups
     * start:rate:full random early drop, PerSourceMaxStartups, and the
     * bytes a client may send before authentication (0: no bound). */
    long startups_start, startups_rate, startups_full;
    long per_source;
    unsigned long long preauth_bytes;

    char tmpkey[PATH_MAX]; /* the ephemeral key's file, "" if none */
    int lfd;
    int wake[2]; /* self-pipe: the signal thread wakes the accept loop */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *conns; /* live clients */
    long nconns;
    long accepted;    /* clients accepted so far */
    int stopping;     /* a signal arrived: close everything */
    int janitor_stop; /* the main thread is done */
    int once_result;  /* --once: exit status of the one client */
};

struct conn {
    struct server *srv;
    struct conn *next;
    int fd;
    sshbpp_driver *d; /* set under srv->mu once created */
    double deadline;      /* 0: no login grace */
    int expired;          /* the janitor closed it */
    atomic_int over_bytes; /* the pre-authentication byte bound was crossed */
    atomic_int authed;     /* user authentication succeeded: no pre-auth bounds */
    unsigned long long in_bytes; /* wire bytes received; the reader's only */
    char peer[NI_MAXHOST + NI_MAXSERV + 4];
    char source[NI_MAXHOST]; /* the address alone, for the per-source bound */
};

static void
serve_usage(FILE *f)
{
    fprintf(f,
            "usage: sshbpp serve [-Cv] [--once] [-c cipher_spec] [-m mac_spec] [-o option] [-p port]\n"
            "                    [--bind address] [--hostkey file] [--kex algorithms]\n"
            "                    [--hostkey-algorithms algorithms] [--compression[=algorithms]]\n"
            "                    [--max-clients n] [--login-grace seconds]\n"
            "                    [--authorized-keys file]\n"
            "                    [--max-startups start:rate:full] [--per-source-max n]\n"
            "                    [--preauth-bytes n] [--moduli file]\n");
}

static void
serve_help(void)
{
    serve_usage(stdout);
    printf("\n"
           "Accepts SSH connections, completes the key exchange with each client, logs the\n"
           "negotiated algorithms, and answers every authentication request with a failure\n"
           "listing \"publickey\". Prints \"sshbpp: listening on ADDRESS:PORT\" on stdout\n"
           "once it accepts connections.\n"
           "\n"
           "  -p port               port to listen on (default 2222; 0 picks a free one)\n"
           "  --bind address        address to listen on (default 127.0.0.1)\n"
           "  --authorized-keys file  accept \"publickey\" for keys in this authorized_keys\n"
           "                        file (from= and expiry-time= enforced; any user); an\n"
           "                        authenticated client's channel opens are refused\n"
           "  --hostkey file        host private key: OpenSSH format, PEM or PKCS#8\n"
           "                        (repeatable); default: an ephemeral ed25519 key\n"
           "  -c cipher_spec        ciphers to offer, comma-separated (sshbpp -Q cipher)\n"
           "  -m mac_spec           MACs to offer, comma-separated (sshbpp -Q mac)\n"
           "  -o option             OpenSSH-style: KexAlgorithms=, HostKeyAlgorithms=,\n"
           "                        Ciphers=, MACs= (lists), Compression=yes|no; lists take\n"
           "                        OpenSSH's +a (append), -a,b* (remove), ^a (first);\n"
           "                        PubkeyAcceptedAlgorithms= (user keys; +ssh-rsa for SHA-1)\n"
           "  --kex algorithms      key exchange methods to offer (sshbpp -Q kex)\n"
           "  --hostkey-algorithms algorithms\n"
           "                        host key algorithms to offer (sshbpp -Q key)\n"
           "  -C, --compression[=algorithms]\n"
           "                        offer compression; without a list: " CLI_COMPRESSION_ALL "\n"
           "  --moduli file         groups for diffie-hellman-group-exchange-sha256 (moduli(5));\n"
           "                        default /etc/ssh/moduli when readable, else the\n"
           "                        built-in RFC 3526 groups of 2048..8192 bits\n"
           "  --max-clients n       clients served at once; more are dropped (default 64)\n"
           "  --login-grace seconds time a client may stay connected (default 30; 0: no limit)\n"
           "  --max-startups start:rate:full\n"
           "                        random early drop of unauthenticated clients past start\n"
           "                        (rate%% rising to 100%% at full), as OpenSSH (default 10:30:100)\n"
           "  --per-source-max n    unauthenticated clients per source address (default none)\n"
           "  --preauth-bytes n     bytes a client may send before authentication\n"
           "                        (default 268435456; 0: no limit)\n"
           "  --once                serve one connection, then exit with its status\n"
           "  -v                    verbose; -vv adds the library log, -vvv packet hex dumps\n"
           "\n"
           "SIGINT and SIGTERM close every connection and stop the server.\n");
}

/* ===================================================================== */
/* Ephemeral host key                                                     */

/* Writes a fresh ed25519 key as PKCS#8 PEM to a 0600 temporary file (the
 * path goes to srv->tmpkey; it is removed at exit) and prints its
 * fingerprint the way ssh-keygen -l does, so that clients can check it. */
static int
make_ephemeral_key(struct server *srv)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    FILE *f = NULL;
    const char *dir = getenv("TMPDIR");
    uint8_t pub[32], blob[4 + 11 + 4 + 32], md[32];
    unsigned char b64[64];
    size_t publen = sizeof(pub);
    unsigned mdlen = 0;
    int fd = -1, ok = -1, n;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    n = snprintf(srv->tmpkey, sizeof(srv->tmpkey), "%s/sshbpp-hostkey-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof(srv->tmpkey)) {
        srv->tmpkey[0] = '\0';
        return -1;
    }
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pk) <= 0)
        goto out;
    /* mkstemp creates the file 0600, so the key is never readable by
     * others, not even for a moment. */
    fd = mkstemp(srv->tmpkey);
    if (fd < 0) {
        srv->tmpkey[0] = '\0';
        goto out;
    }
    f = fdopen(fd, "w");
    if (f == NULL)
        goto out;
    fd = -1;
    if (PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;

    /* The fingerprint is SHA-256 over the SSH public key blob (RFC 8709:
     * string "ssh-ed25519", string key), in unpadded base64. */
    if (EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1 || publen != 32)
        goto out;
    memcpy(blob, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 4 + 11 + 4);
    memcpy(blob + 19, pub, 32);
    if (EVP_Digest(blob, sizeof(blob), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        goto out;
    n = EVP_EncodeBlock(b64, md, 32);
    while (n > 0 && b64[n - 1] == '=')
        b64[--n] = '\0';
    fprintf(stderr, "sshbpp: ephemeral host key ssh-ed25519 SHA256:%s\n", (const char *)b64);
    ok = 0;
out:
    if (f != NULL)
        fclose(f);
    if (fd >= 0)
        close(fd);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Group-exchange moduli: an explicit --moduli file must load; OpenSSH's
 * /etc/ssh/moduli is used when it loads, else the built-in groups. */
static int
check_moduli(struct server *srv)
{
    static const char sys_moduli[] = "/etc/ssh/moduli";
    sshbpp_kex_config cfg;
    const char *path = srv->moduli != NULL ? srv->moduli : sys_moduli;
    sshbpp_kex *k;
    int rc;

    if (srv->moduli == NULL && access(sys_moduli, R_OK) != 0)
        return 0;
    memset(&cfg, 0, sizeof(cfg));
    if ((k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &cli_null_transport, NULL)) == NULL) {
        cli_error("cannot create a key exchange: %s", sshbpp_strerror(SSHBPP_ENOMEM));
        return -1;
    }
    rc = sshbpp_kex_set_moduli(k, path);
    sshbpp_kex_free(k);
    if (rc == 0) {
        srv->moduli = path;
        return 0;
    }
    if (srv->moduli != NULL) {
        cli_error("cannot load --moduli %s: %s", path, sshbpp_strerror(rc));
        return -1;
    }
    cli_debug(1, "%s unusable (%s): built-in groups for the group exchange", path,
            sshbpp_strerror(rc));
    return 0;
}

/* Loads every host key into a throwaway kex object, so that a bad file is
 * reported once at startup rather than on every connection. */
static int
check_hostkeys(const struct server *srv)
{
    sshbpp_kex_config cfg;
    sshbpp_kex *k;
    int i, rc = 0;

    memset(&cfg, 0, sizeof(cfg));
    k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &cli_null_transport, NULL);
    if (k == NULL) {
        cli_error("cannot create a key exchange: %s", sshbpp_strerror(SSHBPP_ENOMEM));
        return -1;
    }
    for (i = 0; i < srv->nhostkeys && rc == 0; i++) {
        rc = sshbpp_kex_add_hostkey_file(k, srv->hostkeys[i]);
        if (rc == SSHBPP_EIO) {
            /* The library keeps no errno for a file; ask the system. */
            FILE *f = fopen(srv->hostkeys[i], "r");

            if (f == NULL)
                cli_error("cannot load host key %s: %s", srv->hostkeys[i], strerror(errno));
            else
                cli_error("cannot load host key %s: %s", srv->hostkeys[i], sshbpp_strerror(rc));
            if (f != NULL)
                fclose(f);
        } else if (rc != 0) {
            cli_error("cannot load host key %s: %s", srv->hostkeys[i], sshbpp_strerror(rc));
        } else {
            /* The line ssh-keygen -l prints, so that what clients see can
             * be compared with it. */
            sshbpp_key *key = NULL;
            char line[1024];

            if (sshbpp_key_load_file(srv->hostkeys[i], NULL, &key, NULL) == 0 &&
                sshbpp_key_fingerprint_line(key, SSHBPP_FP_SHA256, sshbpp_key_comment(key), line,
                                            sizeof(line)) > 0)
                fprintf(stderr, "sshbpp: host key %s: %s\n", srv->hostkeys[i], line);
            sshbpp_key_free(key);
        }
    }
    sshbpp_kex_free(k);
    return rc != 0 ? -1 : 0;
}

/* ===================================================================== */
/* One client                                                             */

/* The conn's server auth callback: "publickey" for a key in
 * --authorized-keys (the conn verified the signature), every other attempt
 * fails with "publickey"; the conn counts failures and cuts the client off
 * after MAX_AUTH_ATTEMPTS with DISCONNECT. */
static enum sshbpp_auth_decision
decide_auth(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    struct conn *c = ctx;
    char cu[128], cm[64];

    enum sshbpp_auth_decision dec;

    (void)methods;
    cli_debug(1, "client %s: userauth user=%s method=%s", c->peer,
              cli_sanitize(cu, sizeof(cu), a->user), cli_sanitize(cm, sizeof(cm), a->method));
    dec = cli_serve_authorize(c->srv->ak, c->peer, a);
    if (dec == SSHBPP_AUTH_ACCEPT && a->signature_ok) {
        /* Authenticated: the login grace, MaxStartups and the
         * pre-authentication byte bound no longer apply to it. An atomic
         * flag, not srv->mu: this runs inside the driver's lock, and the
         * janitor takes the two the other way round. */
        atomic_store(&c->authed, 1);
    }
    return dec;
}

/* After authentication: a global request with want-reply gets
 * REQUEST_FAILURE and a channel open CHANNEL_OPEN_FAILURE (serve has no
 * channels yet), so that clients such as ssh end cleanly instead of
 * waiting. Anything else is dropped. Returns 0 or a driver error. */
static int
answer_connection_msg(struct conn *c, sshbpp_driver *d, const uint8_t *msg, size_t len)
{
    struct rbuf r;
    struct wbuf b = {0};
    const uint8_t *name;
    size_t nname;
    uint8_t type, want;
    uint32_t sender;
    int rc;

    rbuf_init(&r, msg, len);
    if (rbuf_u8(&r, &type) != 0 || rbuf_string(&r, &name, &nname) != 0)
        return 0;
    if (type == MSG_GLOBAL_REQUEST) {
        if (rbuf_u8(&r, &want) != 0 || !want)
            return 0;
        wbuf_u8(&b, MSG_REQUEST_FAILURE);
    } else if (type == 90) { /* CHANNEL_OPEN */
        if (rbuf_u32(&r, &sender) != 0)
            return 0;
        wbuf_u8(&b, 92); /* CHANNEL_OPEN_FAILURE */
        wbuf_u32(&b, sender);
        wbuf_u32(&b, 1); /* SSH_OPEN_ADMINISTRATIVELY_PROHIBITED */
        wbuf_cstring(&b, "sshbpp serve has no channels");
        wbuf_cstring(&b, "");
    } else {
        cli_debug(1, "client %s: message type %u ignored", c->peer, type);
        return 0;
    }
    rc = b.err ? SSHBPP_ENOMEM : sshbpp_driver_send(d, b.data, b.len, -1);
    wbuf_free(&b);
    return rc;
}

/* After the handshake: the conn answers the service request and userauth
 * itself; this reads (and drops) whatever else the client sends until it
 * leaves. Returns 0 for an orderly end, else the error. */
static int
serve_userauth(struct conn *c, sshbpp_driver *d)
{
    uint8_t buf[4096];
    size_t len;
    int rc;

    for (;;) {
        rc = sshbpp_driver_recv(d, buf, sizeof(buf), &len, -1);
        if (rc == SSHBPP_EBUFSMALL) {
            /* a large message nobody here wants: take it and drop it */
            uint8_t *big = malloc(len);

            if (big == NULL)
                return SSHBPP_ENOMEM;
            rc = sshbpp_driver_recv(d, big, len, &len, -1);
            free(big);
        }
        if (rc != 0)
            return rc == SSHBPP_EAUTH ? 0 : rc; /* EAUTH: too many attempts, we cut off */
        if (len <= sizeof(buf) && (rc = answer_connection_msg(c, d, buf, len)) != 0)
            return rc;
    }
}

static const char *
mac_or_implicit(const char *mac)
{
    return mac[0] != '\0' ? mac : "<implicit>";
}

/* The engine's trace hook, on the reader thread after each packet: counts
 * the client's bytes (every client is unauthenticated here) and fails the
 * engine once they pass --preauth-bytes, so that the next read ends the
 * connection: at most one packet past the bound is read. */
static void
preauth_trace(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len, size_t wire_len,
              uint32_t seqno)
{
    struct conn *c = ctx;

    (void)type;
    (void)payload_len;
    (void)seqno;
    if (dir != SSHBPP_DIR_IN || atomic_load(&c->authed))
        return;
    c->in_bytes += wire_len;
    if (c->in_bytes > c->srv->preauth_bytes && !atomic_load(&c->over_bytes)) {
        atomic_store(&c->over_bytes, 1);
        (void)sshbpp_engine_fail(sshbpp_conn_engine(sshbpp_driver_conn(c->d)), SSHBPP_EPROTO);
    }
}

/* Runs one client; returns 0 if it got through the handshake and ended in
 * an orderly way. */
static int
serve_conn(struct conn *c)
{
    struct server *srv = c->srv;
    sshbpp_conn_config cfg;
    sshbpp_driver *d;
    sshbpp_conn *sc;
    sshbpp_kex_info info;
    char ver[256];
    double grace;
    int rc, i, expired, fd, ret = -1;

    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_SERVER);
    cli_algs_config(&srv->algs, &cfg.kex);
    (void)cli_keylog_attach(&cfg); /* SSHKEYLOGFILE (keylog.h) */
    cfg.auth_cb = decide_auth;
    cfg.auth_ctx = c;
    cfg.auth_methods = "publickey";
    cfg.max_auth_tries = MAX_AUTH_ATTEMPTS;
    cfg.pubkey_algs = srv->pubkey_algs;
    /* The driver owns its fd; c->fd stays ours for the janitor's shutdown. */
    if ((fd = dup(c->fd)) < 0 || (d = sshbpp_driver_new(fd, &cfg)) == NULL) {
        if (fd >= 0)
            close(fd);
        cli_error("client %s: %s", c->peer, sshbpp_strerror(SSHBPP_ENOMEM));
        return -1;
    }
    sc = sshbpp_driver_conn(d);
    pthread_mutex_lock(&srv->mu);
    c->d = d;
    /* A stop that came before the driver existed could not close it. */
    if (srv->stopping)
        sshbpp_driver_close(d);
    pthread_mutex_unlock(&srv->mu);
    if (cli_verbose >= 2)
        sshbpp_engine_set_log(sshbpp_conn_engine(sc), cli_lib_log, c->peer);
    if (cli_verbose >= 3)
        sshbpp_engine_set_hexdump(sshbpp_conn_engine(sc), 1);
    if (srv->preauth_bytes > 0)
        sshbpp_engine_set_trace(sshbpp_conn_engine(sc), preauth_trace, c);

    for (i = 0; i < srv->nhostkeys; i++) {
        rc = sshbpp_conn_add_hostkey_file(sc, srv->hostkeys[i]);
        if (rc != 0) {
            cli_error("client %s: cannot load host key %s: %s", c->peer, srv->hostkeys[i],
                      sshbpp_strerror(rc));
            goto out;
        }
    }
    if (srv->moduli != NULL && (rc = sshbpp_conn_set_moduli(sc, srv->moduli)) != 0) {
        cli_error("client %s: cannot load moduli %s: %s", c->peer, srv->moduli,
                  sshbpp_strerror(rc));
        goto out;
    }
    if (srv->tmpkey[0] != '\0') {
        rc = sshbpp_conn_add_hostkey_file(sc, srv->tmpkey);
        if (rc != 0) {
            cli_error("client %s: cannot load the ephemeral host key: %s", c->peer,
                      sshbpp_strerror(rc));
            goto out;
        }
    }

    /* The janitor enforces the grace over the whole connection; the
     * handshake gets the same bound so its own error says "timed out". A
     * huge value stands for "no limit". */
    grace = c->deadline > 0 ? c->deadline - cli_now() : 1e6;
    rc = grace > 0 ? sshbpp_driver_handshake(d, (int64_t)(grace * 1000.0) + 1) : SSHBPP_EHANDSHAKE;
    pthread_mutex_lock(&srv->mu);
    expired = c->expired;
    pthread_mutex_unlock(&srv->mu);
    if (rc != 0) {
        int stopping;


        pthread_mutex_lock(&srv->mu);
        stopping = srv->stopping;
        pthread_mutex_unlock(&srv->mu);
        if (stopping)
            cli_debug(1, "client %s: closed on shutdown", c->peer);
        else if (atomic_load(&c->over_bytes))
            cli_error("client %s: more than %llu bytes before authentication (%llu), closed",
                      c->peer, srv->preauth_bytes, c->in_bytes);
        else if (expired || rc == SSHBPP_EHANDSHAKE || rc == SSHBPP_ETIMEDOUT)
            cli_error("client %s: handshake timed out after %g s", c->peer, srv->login_grace);
        else
            cli_error("client %s: handshake failed: %s", c->peer, sshbpp_strerror(rc));
        goto out;
    }
    if (sshbpp_driver_get_info(d, &info) != 0) {
        cli_error("client %s: no key exchange results", c->peer);
        goto out;
    }
    /* One line per client, written at once so that lines from concurrent
     * clients do not interleave. The peer version is read while this
     * thread is the connection's only user. */
    fprintf(stderr,
            "sshbpp: client %s %s kex=%s hostkey=%s c2s=%s/%s/%s s2c=%s/%s/%s strict=%s\n",
            c->peer, cli_sanitize(ver, sizeof(ver), sshbpp_conn_peer_version(sc)), info.kex,
            info.hostkey_alg, info.cipher_c2s, mac_or_implicit(info.mac_c2s), info.comp_c2s,
            info.cipher_s2c, mac_or_implicit(info.mac_s2c), info.comp_s2c,
            info.strict_kex ? "yes" : "no");
    cli_debug(1, "client %s: host key %s %s", c->peer, info.hostkey_alg,
              info.hostkey_fingerprint);

    rc = serve_userauth(c, d);
    pthread_mutex_lock(&srv->mu);
    expired = c->expired;
    pthread_mutex_unlock(&srv->mu);
    if (rc == 0 || rc == SSHBPP_EEOF || rc == SSHBPP_EDISCONNECT) {
        cli_debug(1, "client %s: connection closed (%s)", c->peer,
                  rc == 0 ? "by us" : sshbpp_strerror(rc));
        ret = 0;
    } else if (atomic_load(&c->over_bytes)) {
        cli_error("client %s: more than %llu bytes before authentication (%llu), closed",
                  c->peer, srv->preauth_bytes, c->in_bytes);
    } else if (expired) {
        cli_error("client %s: login grace time of %g s exceeded", c->peer, srv->login_grace);
    } else if (rc == SSHBPP_ECLOSED) {
        cli_debug(1, "client %s: closed on shutdown", c->peer);
    } else {
        cli_error("client %s: %s", c->peer, sshbpp_strerror(rc));
    }
out:
    sshbpp_driver_close(d);
    pthread_mutex_lock(&srv->mu);
    c->d = NULL;
    pthread_mutex_unlock(&srv->mu);
    sshbpp_driver_free(d);
    return ret;
}

/* Closes a client's connection so that its thread's blocked calls return
 * (see probe.c's close_locked for why both steps). Under srv->mu. */
static void
conn_close_locked(struct conn *c)
{
    if (c->d != NULL)
        sshbpp_driver_close(c->d);
    (void)shutdown(c->fd, SHUT_RDWR);
}

static void *
conn_main(void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    struct conn **pp;
    int rc = serve_conn(c);

    pthread_mutex_lock(&srv->mu);
    for (pp = &srv->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    srv->nconns--;
    if (srv->once)
        srv->once_result = rc == 0 ? 0 : CLI_EXIT_FAIL;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    close(c->fd);
    free(c);
    return NULL;
}

/* ===================================================================== */
/* Janitor and signals                                                    */

static struct timespec
abs_monotonic(double t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *
janitor_main(void *arg)
{
    struct server *srv = arg;

    pthread_mutex_lock(&srv->mu);
    while (!srv->janitor_stop) {
        struct timespec ts = abs_monotonic(cli_now() + JANITOR_INTERVAL);
        double now;
        struct conn *c;

        (void)pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
        now = cli_now();
        for (c = srv->conns; c != NULL; c = c->next) {
            if (c->deadline > 0 && now >= c->deadline && !c->expired &&
                !atomic_load(&c->authed)) {
                c->expired = 1;
                conn_close_locked(c);
            }
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* The one thread that takes SIGINT/SIGTERM (every thread blocks them), so
 * that the stop runs as ordinary code rather than in a signal handler. */
static void *
signal_main(void *arg)
{
    struct server *srv = arg;
    sigset_t set;
    int sig = 0;
    struct conn *c;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigwait(&set, &sig) != 0)
        return NULL;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    for (c = srv->conns; c != NULL; c = c->next)
        conn_close_locked(c);
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    (void)!write(srv->wake[1], "x", 1);
    return NULL;
}

/* ===================================================================== */
/* Listening                                                              */

static int
open_listener(struct server *srv)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char addr[NI_MAXHOST + NI_MAXSERV + 4];
    int rc, fd = -1, one = 1, err = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(srv->bind, srv->port, &hints, &res);
    if (rc != 0) {
        cli_error("%s: %s", srv->bind, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* Restarting on the same port must not wait out TIME_WAIT. */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        cli_error("cannot listen on %s port %s: %s", srv->bind, srv->port,
                  err != 0 ? strerror(err) : "no address");
        return -1;
    }
    /* Non-blocking, so that a client that resets between poll() and
     * accept() cannot stall the loop. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        cli_error("cannot set up the listening socket: %s", strerror(errno));
        close(fd);
        return -1;
    }
    cli_format_addr(&ss, (unsigned)sslen, addr, sizeof(addr));
    printf("sshbpp: listening on %s\n", addr);
    fflush(stdout);
    srv->lfd = fd;
    return 0;
}

/* The address of a client without its port. */
static void
source_of(const struct sockaddr_storage *ss, unsigned len, char *out, size_t cap)
{
    if (getnameinfo((const struct sockaddr *)ss, len, out, (socklen_t)cap, NULL, 0,
                    NI_NUMERICHOST) != 0)
        snprintf(out, cap, "?");
}

/* A uniform draw in [0, n) from OpenSSL's generator. */
static long
random_below(long n)
{
    uint32_t x = 0;

    if (n <= 1 || RAND_bytes((unsigned char *)&x, sizeof(x)) != 1)
        return 0;
    return (long)(x % (uint32_t)n);
}

/* Whether a new unauthenticated client may stay, as OpenSSH decides with
 * MaxStartups start:rate:full and PerSourceMaxStartups: past `start`
 * clients it is dropped with probability rate% rising linearly to 100% at
 * `full`; at `per_source` clients from its address it is dropped. Returns
 * NULL to admit, else why. Under srv->mu. */
static const char *
admit_locked(struct server *srv, const char *source)
{
    long n = 0, same = 0, p;
    struct conn *c;

    for (c = srv->conns; c != NULL; c = c->next)
        n += !atomic_load(&c->authed);
    if (n >= srv->startups_full)
        return "MaxStartups full";
    if (n >= srv->startups_start) {
        p = 100 - srv->startups_rate;
        p *= n - srv->startups_start;
        p /= srv->startups_full - srv->startups_start;
        p += srv->startups_rate;
        if (random_below(100) < p)
            return "MaxStartups random early drop";
    }
    if (srv->per_source > 0) {
        for (c = srv->conns; c != NULL; c = c->next)
            same += !atomic_load(&c->authed) && strcmp(c->source, source) == 0;
        if (same >= srv->per_source)
            return "per-source limit";
    }
    return NULL;
}

/* Parses start:rate:full (or a single number: start = full). */
static int
parse_startups(const char *arg, struct server *srv)
{
    char buf[64], *a, *b;
    long start, rate = 100, full;

    if (strlen(arg) >= sizeof(buf))
        return -1;
    strcpy(buf, arg);
    a = strchr(buf, ':');
    if (a == NULL) {
        if (cli_parse_long(buf, 1, 100000, &start) != 0)
            return -1;
        full = start;
    } else {
        *a++ = '\0';
        if ((b = strchr(a, ':')) == NULL)
            return -1;
        *b++ = '\0';
        if (cli_parse_long(buf, 1, 100000, &start) != 0 || cli_parse_long(a, 1, 100, &rate) != 0 ||
            cli_parse_long(b, 1, 100000, &full) != 0 || full < start)
            return -1;
    }
    srv->startups_start = start;
    srv->startups_rate = rate;
    srv->startups_full = full;
    return 0;
}

/* Accepts one client and starts its thread. */
static void
accept_one(struct server *srv)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    pthread_attr_t attr;
    pthread_t th;
    struct conn *c;
    int fd, one = 1, flags;

    fd = accept(srv->lfd, (struct sockaddr *)&ss, &sslen);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED)
            cli_error("accept: %s", strerror(errno));
        return;
    }
    /* The Packetizer expects a blocking socket and the child must not
     * leak into anything exec'd; BSDs copy O_NONBLOCK from the listener. */
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cli_error("out of memory");
        close(fd);
        return;
    }
    c->srv = srv;
    c->fd = fd;
    cli_format_addr(&ss, (unsigned)sslen, c->peer, sizeof(c->peer));
    if (srv->login_grace > 0)
        c->deadline = cli_now() + srv->login_grace;

    source_of(&ss, (unsigned)sslen, c->source, sizeof(c->source));

    pthread_mutex_lock(&srv->mu);
    if (srv->nconns >= srv->max_clients) {
        pthread_mutex_unlock(&srv->mu);
        cli_error("client %s: too many clients (%ld), dropped", c->peer, srv->max_clients);
        close(fd);
        free(c);
        return;
    }
    {
        const char *why = admit_locked(srv, c->source);
        if (why != NULL) {
            long n = srv->nconns;
            pthread_mutex_unlock(&srv->mu);
            cli_error("client %s: %s (%ld unauthenticated), dropped", c->peer, why, n);
            close(fd);
            free(c);
            return;
        }
    }
    c->next = srv->conns;
    srv->conns = c;
    srv->nconns++;
    srv->accepted++;
    pthread_mutex_unlock(&srv->mu);
    cli_debug(1, "client %s: connected", c->peer);

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, conn_main, c) != 0) {
        struct conn **pp;

        cli_error("client %s: cannot start a thread", c->peer);
        pthread_mutex_lock(&srv->mu);
        for (pp = &srv->conns; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        }
        srv->nconns--;
        if (srv->once)
            srv->once_result = CLI_EXIT_FAIL;
        pthread_mutex_unlock(&srv->mu);
        close(fd);
        free(c);
    }
    pthread_attr_destroy(&attr);
}

/* ===================================================================== */
/* Main                                                                   */

int
cli_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kex", required_argument, NULL, OPT_KEX},
        {"hostkey-algorithms", required_argument, NULL, OPT_HOSTKEY_ALGS},
        {"compression", optional_argument, NULL, OPT_COMPRESSION},
        {"hostkey", required_argument, NULL, OPT_HOSTKEY},
        {"moduli", required_argument, NULL, OPT_MODULI},
        {"bind", required_argument, NULL, OPT_BIND},
        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
        {"max-startups", required_argument, NULL, OPT_MAX_STARTUPS},
        {"per-source-max", required_argument, NULL, OPT_PER_SOURCE},
        {"preauth-bytes", required_argument, NULL, OPT_PREAUTH_BYTES},
        {"login-grace", required_argument, NULL, OPT_LOGIN_GRACE},
        {"authorized-keys", required_argument, NULL, OPT_AUTHORIZED_KEYS},
        {"once", no_argument, NULL, OPT_ONCE},
        {"port", required_argument, NULL, 'p'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct server srv;
    pthread_condattr_t ca;
    pthread_t janitor, sigth;
    sigset_t set;
    const char *what;
    long v;
    int opt, rc, ret = CLI_EXIT_FAIL, have_janitor = 0;

    memset(&srv, 0, sizeof(srv));
    srv.bind = "127.0.0.1";
    srv.port = "2222";
    srv.max_clients = 64;
    srv.login_grace = 30;
    /* OpenSSH's defaults: MaxStartups 10:30:100, PerSourceMaxStartups
     * none; 256 MiB bounds a client that streams within its login grace
     * and still lets the interop tests push 64 MiB before authentication. */
    srv.startups_start = 10;
    srv.startups_rate = 30;
    srv.startups_full = 100;
    srv.preauth_bytes = 256ull * 1024 * 1024;
    srv.lfd = -1;
    srv.wake[0] = srv.wake[1] = -1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:Chm:o:p:v", longopts, NULL)) != -1) {
        if (cli_alg_option(&srv.algs, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
        case OPT_HELP:
            serve_help();
            return 0;
        case 'p':
            if (cli_parse_long(optarg, 0, 65535, &v) != 0) {
                cli_error("bad port '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            srv.port = optarg;
            break;
        case 'v':
            cli_verbose++;
            break;
        case OPT_HOSTKEY:
            if (srv.nhostkeys == MAX_HOSTKEYS) {
                cli_error("at most %d --hostkey options", MAX_HOSTKEYS);
                return CLI_EXIT_USAGE;
            }
            srv.hostkeys[srv.nhostkeys++] = optarg;
            break;
        case OPT_BIND:
            srv.bind = optarg;
            break;
        case OPT_MODULI:
            srv.moduli = optarg;
            break;
        case 'o':
            if (strncasecmp(optarg, "PubkeyAcceptedAlgorithms", 24) == 0 &&
                (optarg[24] == '=' || optarg[24] == ' ' || optarg[24] == '\t')) {
                srv.pubkey_algs = optarg + 25;
                break;
            }
            cli_error("-o %s: unsupported option (serve takes KexAlgorithms, "
                      "HostKeyAlgorithms, Ciphers, MACs, Compression, "
                      "PubkeyAcceptedAlgorithms)", optarg);
            return CLI_EXIT_USAGE;
        case OPT_MAX_CLIENTS:
            if (cli_parse_long(optarg, 1, 100000, &srv.max_clients) != 0) {
                cli_error("bad --max-clients '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_MAX_STARTUPS:
            if (parse_startups(optarg, &srv) != 0) {
                cli_error("bad --max-startups '%s' (start:rate:full)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_PER_SOURCE:
            if (strcmp(optarg, "none") == 0)
                srv.per_source = 0;
            else if (cli_parse_long(optarg, 1, 100000, &srv.per_source) != 0) {
                cli_error("bad --per-source-max '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_PREAUTH_BYTES:
            if (cli_parse_long(optarg, 0, 0x7fffffffL, &v) != 0) {
                cli_error("bad --preauth-bytes '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            srv.preauth_bytes = (unsigned long long)v;
            break;
        case OPT_LOGIN_GRACE:
            if (strcmp(optarg, "0") == 0)
                srv.login_grace = 0;
            else if (cli_parse_seconds(optarg, &srv.login_grace) != 0) {
                cli_error("bad --login-grace '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_ONCE:
            srv.once = 1;
            break;
        case OPT_AUTHORIZED_KEYS:
            srv.ak_path = optarg;
            break;
        case ':':
            cli_error("option '%s' needs an argument", argv[optind - 1]);
            serve_usage(stderr);
            return CLI_EXIT_USAGE;
        default:
            cli_error("unknown option '%s'", argv[optind - 1]);
            serve_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        serve_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    rc = cli_algs_check(&srv.algs, &what);
    if (rc != 0) {
        cli_error("%s: %s", what, sshbpp_strerror(rc));
        return CLI_EXIT_USAGE;
    }
    if (srv.pubkey_algs != NULL) {
        /* The conn refuses a list it cannot use: try one now. */
        sshbpp_conn_config pc;
        sshbpp_conn *probe_conn;

        sshbpp_conn_config_init(&pc, SSHBPP_ROLE_SERVER);
        pc.pubkey_algs = srv.pubkey_algs;
        if ((probe_conn = sshbpp_conn_new(&pc)) == NULL) {
            cli_error("PubkeyAcceptedAlgorithms %s: %s", srv.pubkey_algs,
                      sshbpp_strerror(SSHBPP_EUNSUPPORTED));
            return CLI_EXIT_USAGE;
        }
        sshbpp_conn_free(probe_conn);
    }
    if (srv.nhostkeys > 0 && check_hostkeys(&srv) != 0)
        return CLI_EXIT_FAIL;
    if (srv.ak_path != NULL) {
        sshbpp_key_diag d;
        unsigned long skipped = 0;
        int akr = sshbpp_authorized_keys_load_file(srv.ak_path, &srv.ak, &skipped, &d);

        if (akr != 0) {
            cli_error("cannot load authorized keys %s: %s%s%s", srv.ak_path, sshbpp_strerror(akr),
                      d.msg[0] ? ": " : "", d.msg);
            return CLI_EXIT_FAIL;
        }
        if (skipped > 0)
            cli_debug(1, "%s: %lu line(s) not used; first: %s", srv.ak_path, skipped, d.msg);
        cli_debug(1, "%s: %zu key(s)", srv.ak_path, sshbpp_authorized_keys_count(srv.ak));
    }
    if (check_moduli(&srv) != 0)
        return CLI_EXIT_FAIL;

    /* Block the stop signals before any thread exists, so that every
     * thread inherits the mask and only signal_main's sigwait sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    pthread_mutex_init(&srv.mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv.cv, &ca);
    pthread_condattr_destroy(&ca);

    if (pipe(srv.wake) != 0) {
        cli_error("pipe: %s", strerror(errno));
        srv.wake[0] = srv.wake[1] = -1;
        goto out;
    }
    if (srv.nhostkeys == 0 && make_ephemeral_key(&srv) != 0) {
        cli_error("cannot create an ephemeral host key");
        goto out;
    }
    if (open_listener(&srv) != 0)
        goto out;
    if (pthread_create(&sigth, NULL, signal_main, &srv) != 0 ||
        pthread_detach(sigth) != 0) {
        cli_error("cannot start the signal thread");
        goto out;
    }
    if (pthread_create(&janitor, NULL, janitor_main, &srv) != 0) {
        cli_error("cannot start the janitor thread");
        goto out;
    }
    have_janitor = 1;

    for (;;) {
        struct pollfd pfd[2] = {{srv.lfd, POLLIN, 0}, {srv.wake[0], POLLIN, 0}};
        int n, stop;

        pthread_mutex_lock(&srv.mu);
        stop = srv.stopping;
        pthread_mutex_unlock(&srv.mu);
        if (stop)
            break;
        n = poll(pfd, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents != 0)
            break;
        if (pfd[0].revents != 0) {
            accept_one(&srv);
            pthread_mutex_lock(&srv.mu);
            stop = srv.once && srv.accepted > 0;
            pthread_mutex_unlock(&srv.mu);
            /* --once: the first accepted client is the only one; a client
             * dropped before it started (out of threads) ends it too. */
            if (stop)
                break;
        }
    }
    close(srv.lfd);
    srv.lfd = -1;

    /* Wait for the clients: closed already on a signal, left to finish
     * with --once (the janitor and a later signal still bound them). */
    pthread_mutex_lock(&srv.mu);
    while (srv.nconns > 0)
        pthread_cond_wait(&srv.cv, &srv.mu);
    ret = srv.once && !srv.stopping ? srv.once_result : 0;
    if (srv.stopping)
        fprintf(stderr, "sshbpp: stopped\n");
    srv.janitor_stop = 1;
    pthread_cond_broadcast(&srv.cv);
    pthread_mutex_unlock(&srv.mu);
out:
    if (have_janitor)
        pthread_join(janitor, NULL);
    if (srv.lfd >= 0)
        close(srv.lfd);
    if (srv.tmpkey[0] != '\0')
        unlink(srv.tmpkey);
    sshbpp_authorized_keys_free(srv.ak);
    /* The signal thread may still sit in sigwait(); it holds nothing and
     * ends with the process. The pipe stays open for its write. */
    return ret;
}
