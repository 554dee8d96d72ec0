/*
 * serve.c: `sshbpp serve`, the server role. It listens (loopback by
 * default), completes the handshake with each client on its own thread,
 * logs the negotiated algorithms, and answers ssh-userauth: "publickey"
 * succeeds for a key in --authorized-keys, everything else fails with a
 * list of "publickey" (enough for `ssh` to end with "Permission denied
 * (publickey)" and for probes to see a real server's transport). An
 * authenticated client gets session channels (serve_session.c).
 *
 * Threads: the main thread accepts; one detached thread per client, which
 * runs the sans-I/O conn in its own poll loop (serve_session.c); a
 * janitor closes clients whose --login-grace ran out (shutting the socket
 * down ends that client's loop); a signal thread
 * turns SIGINT/SIGTERM into an orderly stop. All of them share `srv`
 * under srv->mu.
 */
#include "common.h"
#include "keylog.h"
#include "serve_auth.h"
#include "serve_log.h"
#include "serve_session.h"
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
#include <stdarg.h>
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
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define MAX_HOSTKEYS 8
/* Userauth requests answered before the client is cut off, a little
 * more generous than OpenSSH's MaxAuthTries (6) since "none" counts. */
#define MAX_AUTH_ATTEMPTS 10
/* How often the janitor looks for clients past their login grace. */
#define JANITOR_INTERVAL 0.2

/* serve's own long options (common.h's enum is shared with the other
 * commands; these stay clear of it). */
enum {
    OPT_MAX_CHANNELS = 600,
    OPT_MAX_CHILDREN,
    OPT_MAX_CONN_CHILDREN,
    OPT_SHELL,
    OPT_LOG_FORMAT
};

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
    struct serve_opts sopts; /* channels and children */

    char tmpkey[PATH_MAX]; /* the ephemeral key's file, "" if none */
    int lfd;
    int wake[2]; /* self-pipe: the signal thread wakes the accept loop */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *conns; /* live clients */
    long nconns;
    long accepted;    /* clients accepted so far */
    unsigned long next_id; /* connection ids of the log */
    int stopping;     /* a signal arrived: close everything */
    int janitor_stop; /* the main thread is done */
    int once_result;  /* --once: exit status of the one client */
};

struct conn {
    struct server *srv;
    struct conn *next;
    int fd;
    sshbpp_conn *sc;  /* the connection object, the reader thread's */
    struct serve_client cl; /* what the session loop knows of it */
    /* authorized_keys as read at this client's first auth attempt (sshd
     * reads the file at each authentication: a key taken out is refused
     * from the next connection on); NULL before, or if unreadable then.
     * cl.entry points into it: freed when the connection is done. */
    sshbpp_authorized_keys *ak;
    int ak_read;
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
            "                    [--authorized-keys file] [--shell] [--max-channels n]\n"
            "                    [--max-children n] [--max-conn-children n]\n"
            "                    [--log-format text|json]\n"
            "                    [--max-startups start:rate:full] [--per-source-max n]\n"
            "                    [--preauth-bytes n] [--moduli file]\n");
}

static void
serve_help(void)
{
    serve_usage(stdout);
    printf("\n"
           "Accepts SSH connections, completes the key exchange with each client and logs\n"
           "the negotiated algorithms. Without --authorized-keys every authentication\n"
           "request fails with a list of \"publickey\"; with it, a client whose key is\n"
           "listed gets session channels: exec runs /bin/sh -c COMMAND as the serving\n"
           "user, subsystem sftp runs " SERVE_SFTP_SERVER ", env takes LANG and\n"
           "LC_*, pty-req is refused. Prints \"sshbpp: listening on ADDRESS:PORT\" on\n"
           "stdout once it accepts connections.\n"
           "\n"
           "  -p port               port to listen on (default 2222; 0 picks a free one)\n"
           "  --bind address        address to listen on (default 127.0.0.1)\n"
           "  --authorized-keys file  accept \"publickey\" for keys in this authorized_keys\n"
           "                        file (from=, expiry-time=, command= and restrict\n"
           "                        enforced; any user name; commands run as this user)\n"
           "  --shell               allow shell requests ($SHELL as a login shell, no pty)\n"
           "  --max-channels n      channels open at once per connection (default 10)\n"
           "  --max-children n      running commands of the whole server (default 64)\n"
           "  --max-conn-children n running commands per connection (default 10)\n"
           "  --log-format text|json\n"
           "                        json: one object per line per event on stderr\n"
           "                        (accepted, version, kex, auth_attempt, auth_result,\n"
           "                        channel_open, exec, subsystem, child_exit,\n"
           "                        channel_close, request_refused, disconnect, error)\n"
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
    if (serve_log_json) {
        struct slog l;
        char fp[80];

        snprintf(fp, sizeof(fp), "SHA256:%s", (const char *)b64);
        slog_begin(&l, "hostkey", 0);
        slog_str(&l, "type", "ssh-ed25519");
        slog_str(&l, "fingerprint", fp);
        slog_bool(&l, "ephemeral", 1);
        slog_end(&l);
    } else {
        fprintf(stderr, "sshbpp: ephemeral host key ssh-ed25519 SHA256:%s\n", (const char *)b64);
    }
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
            {
                if (serve_log_json) {
                    struct slog l;

                    slog_begin(&l, "hostkey", 0);
                    slog_str(&l, "file", srv->hostkeys[i]);
                    slog_str(&l, "line", line);
                    slog_end(&l);
                } else {
                    fprintf(stderr, "sshbpp: host key %s: %s\n", srv->hostkeys[i], line);
                }
            }
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
static void conn_error(const struct conn *c, const char *fmt, ...) CLI_PRINTF(2, 3);

static enum sshbpp_auth_decision
decide_auth(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    struct conn *c = ctx;
    const sshbpp_ak_entry *e = NULL;
    char cu[128], cm[64];
    enum sshbpp_auth_decision dec;

    (void)methods;
    cli_debug(1, "client %s: userauth user=%s method=%s", c->peer,
              cli_sanitize(cu, sizeof(cu), a->user), cli_sanitize(cm, sizeof(cm), a->method));
    if (c->srv->ak_path != NULL && !c->ak_read) {
        unsigned long skipped = 0;
        sshbpp_key_diag d;
        int akr;

        c->ak_read = 1;
        akr = sshbpp_authorized_keys_load_file(c->srv->ak_path, &c->ak, &skipped, &d);
        if (akr != 0) {
            c->ak = NULL; /* nobody gets in */
            conn_error(c, "cannot read authorized keys %s: %s", c->srv->ak_path,
                       sshbpp_strerror(akr));
        }
    }
    dec = cli_serve_authorize(c->ak, c->peer, a, &e);
    if (dec == SSHBPP_AUTH_ACCEPT && a->signature_ok) {
        /* Authenticated: the login grace, MaxStartups and the
         * pre-authentication byte bound no longer apply to it. An atomic
         * flag, not srv->mu: the janitor takes srv->mu, and this thread
         * must not wait for it inside the conn. */
        c->cl.entry = e;
        atomic_store(&c->authed, 1);
    }
    if (serve_log_json) {
        struct slog l;

        slog_begin(&l, "auth_attempt", c->cl.id);
        slog_str(&l, "user", a->user);
        slog_str(&l, "method", a->method);
        if (a->pubkey_alg != NULL)
            slog_str(&l, "pubkey_alg", a->pubkey_alg);
        if (strcmp(a->method, "publickey") == 0)
            slog_bool(&l, "signed", a->signature_ok);
        slog_str(&l, "result", dec == SSHBPP_AUTH_ACCEPT ? "accept" : "reject");
        if (e != NULL)
            slog_u64(&l, "authorized_keys_line", e->line);
        slog_end(&l);
    }
    return dec;
}

/* An error of one client: a text line, or an "error" event. */
static void CLI_PRINTF(2, 3)
conn_error(const struct conn *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (serve_log_json) {
        struct slog l;

        slog_begin(&l, "error", c->cl.id);
        slog_str(&l, "peer", c->peer);
        slog_str(&l, "message", msg);
        slog_end(&l);
    } else {
        cli_error("client %s: %s", c->peer, msg);
    }
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
        (void)sshbpp_engine_fail(sshbpp_conn_engine(c->sc), SSHBPP_EPROTO);
    }
}

/* The end of one client in the log: why, and the bytes each way. */
static void
log_disconnect(struct conn *c, const char *reason, int err)
{
    sshbpp_stats in, out;
    struct slog l;

    if (!serve_log_json) {
        cli_debug(1, "client %s: connection closed (%s)", c->peer, reason);
        return;
    }
    sshbpp_engine_get_stats(sshbpp_conn_engine(c->sc), SSHBPP_DIR_IN, &in);
    sshbpp_engine_get_stats(sshbpp_conn_engine(c->sc), SSHBPP_DIR_OUT, &out);
    slog_begin(&l, "disconnect", c->cl.id);
    slog_str(&l, "peer", c->peer);
    slog_str(&l, "reason", reason);
    slog_str(&l, "error", err != 0 ? sshbpp_strerror(err) : NULL);
    if (c->cl.got_disconnect) {
        slog_u64(&l, "peer_disconnect_code", c->cl.disc_code);
        slog_str(&l, "peer_disconnect_text", c->cl.disc_text);
    }
    if (c->cl.user[0] != '\0')
        slog_str(&l, "user", c->cl.user);
    slog_u64(&l, "bytes_in", in.total_bytes);
    slog_u64(&l, "bytes_out", out.total_bytes);
    slog_u64(&l, "packets_in", in.total_packets);
    slog_u64(&l, "packets_out", out.total_packets);
    slog_u64(&l, "channels", c->cl.channels_opened);
    slog_u64(&l, "children", c->cl.children_started);
    slog_end(&l);
}

/* Runs one client; returns 0 if it got through the handshake and ended in
 * an orderly way. */
static int
serve_conn(struct conn *c)
{
    struct server *srv = c->srv;
    sshbpp_conn_config cfg;
    sshbpp_conn *sc;
    char reason[512];
    int rc, i, expired, stopping, ret = -1;

    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_SERVER);
    cli_algs_config(&srv->algs, &cfg.kex);
    (void)cli_keylog_attach(&cfg); /* SSHKEYLOGFILE (keylog.h) */
    cfg.auth_cb = decide_auth;
    cfg.auth_ctx = c;
    cfg.auth_methods = "publickey";
    cfg.max_auth_tries = MAX_AUTH_ATTEMPTS;
    cfg.pubkey_algs = srv->pubkey_algs;
    /* The janitor enforces the grace over the whole connection (it shuts
     * the socket down); the handshake gets the same bound so that its own
     * error says "timed out". */
    if (c->deadline > 0)
        cfg.handshake_timeout_ms = (int64_t)((c->deadline - cli_now()) * 1000.0) + 1;
    if ((sc = sshbpp_conn_new(&cfg)) == NULL) {
        conn_error(c, "%s", sshbpp_strerror(SSHBPP_ENOMEM));
        return -1;
    }
    c->sc = sc;
    if (cli_verbose >= 2)
        sshbpp_engine_set_log(sshbpp_conn_engine(sc), cli_lib_log, c->peer);
    if (cli_verbose >= 3)
        sshbpp_engine_set_hexdump(sshbpp_conn_engine(sc), 1);
    if (srv->preauth_bytes > 0)
        sshbpp_engine_set_trace(sshbpp_conn_engine(sc), preauth_trace, c);

    for (i = 0; i < srv->nhostkeys; i++) {
        rc = sshbpp_conn_add_hostkey_file(sc, srv->hostkeys[i]);
        if (rc != 0) {
            conn_error(c, "cannot load host key %s: %s", srv->hostkeys[i], sshbpp_strerror(rc));
            goto out;
        }
    }
    if (srv->moduli != NULL && (rc = sshbpp_conn_set_moduli(sc, srv->moduli)) != 0) {
        conn_error(c, "cannot load moduli %s: %s", srv->moduli, sshbpp_strerror(rc));
        goto out;
    }
    if (srv->tmpkey[0] != '\0') {
        rc = sshbpp_conn_add_hostkey_file(sc, srv->tmpkey);
        if (rc != 0) {
            conn_error(c, "cannot load the ephemeral host key: %s", sshbpp_strerror(rc));
            goto out;
        }
    }

    rc = serve_session_run(sc, c->fd, &srv->sopts, &c->cl);

    pthread_mutex_lock(&srv->mu);
    expired = c->expired;
    stopping = srv->stopping;
    pthread_mutex_unlock(&srv->mu);
    if (!sshbpp_conn_handshake_done(sc)) {
        if (stopping) {
            snprintf(reason, sizeof(reason), "closed on shutdown");
        } else if (atomic_load(&c->over_bytes)) {
            snprintf(reason, sizeof(reason),
                     "more than %llu bytes before authentication (%llu), closed",
                     srv->preauth_bytes, c->in_bytes);
            conn_error(c, "%s", reason);
        } else if (expired || rc == SSHBPP_EHANDSHAKE || rc == SSHBPP_ETIMEDOUT) {
            snprintf(reason, sizeof(reason), "handshake timed out after %g s", srv->login_grace);
            conn_error(c, "%s", reason);
        } else {
            snprintf(reason, sizeof(reason), "handshake failed: %s", sshbpp_strerror(rc));
            conn_error(c, "%s", reason);
        }
    } else if (stopping) {
        snprintf(reason, sizeof(reason), "closed on shutdown");
    } else if (rc == SSHBPP_EAUTH || rc == SSHBPP_EEOF || rc == SSHBPP_EDISCONNECT) {
        if (rc == SSHBPP_EAUTH)
            snprintf(reason, sizeof(reason), "too many authentication attempts, cut off");
        else if (rc == SSHBPP_EDISCONNECT)
            snprintf(reason, sizeof(reason), "client disconnected: %s", c->cl.disc_text);
        else
            snprintf(reason, sizeof(reason), "client closed the connection");
        ret = 0;
    } else if (atomic_load(&c->over_bytes)) {
        snprintf(reason, sizeof(reason), "more than %llu bytes before authentication (%llu), closed",
                 srv->preauth_bytes, c->in_bytes);
        conn_error(c, "%s", reason);
    } else if (expired) {
        snprintf(reason, sizeof(reason), "login grace time of %g s exceeded", srv->login_grace);
        conn_error(c, "%s", reason);
    } else {
        snprintf(reason, sizeof(reason), "%s", sshbpp_strerror(rc));
        conn_error(c, "%s", reason);
    }
    log_disconnect(c, reason, rc);
out:
    c->sc = NULL;
    sshbpp_conn_free(sc);
    c->cl.entry = NULL;
    sshbpp_authorized_keys_free(c->ak);
    c->ak = NULL;
    return ret;
}

/* Closes a client's connection so that its thread's blocked calls return
 * (see probe.c's close_locked for why both steps). Under srv->mu. */
static void
conn_close_locked(struct conn *c)
{
    (void)shutdown(c->fd, SHUT_RDWR);
}

static void *
conn_main(void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    struct conn **pp;
    int rc = serve_conn(c);

    /* OpenSSL's per-thread state (its thread-local random generators)
     * goes now, not in a destructor after this detached thread is
     * counted out: main may return before that runs. */
    OPENSSL_thread_stop();
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

    /* close-on-exec at once: other threads start children at any time */
    fd = accept4(srv->lfd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
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
        conn_error(c, "too many clients (%ld), dropped", srv->max_clients);
        close(fd);
        free(c);
        return;
    }
    {
        const char *why = admit_locked(srv, c->source);
        if (why != NULL) {
            long n = srv->nconns;
            pthread_mutex_unlock(&srv->mu);
            conn_error(c, "%s (%ld unauthenticated), dropped", why, n);
            close(fd);
            free(c);
            return;
        }
    }
    c->next = srv->conns;
    srv->conns = c;
    srv->nconns++;
    srv->accepted++;
    c->cl.id = ++srv->next_id;
    pthread_mutex_unlock(&srv->mu);
    c->cl.peer = c->peer;
    cli_debug(1, "client %s: connected", c->peer);
    if (serve_log_json) {
        struct slog l;

        slog_begin(&l, "accepted", c->cl.id);
        slog_str(&l, "peer", c->peer);
        slog_end(&l);
    }

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, conn_main, c) != 0) {
        struct conn **pp;

        conn_error(c, "cannot start a thread");
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
        {"max-channels", required_argument, NULL, OPT_MAX_CHANNELS},
        {"max-children", required_argument, NULL, OPT_MAX_CHILDREN},
        {"max-conn-children", required_argument, NULL, OPT_MAX_CONN_CHILDREN},
        {"shell", no_argument, NULL, OPT_SHELL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
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
    /* sshd's MaxSessions 10; children: one per session, 64 in all */
    srv.sopts.max_channels = 10;
    srv.sopts.max_conn_children = 10;
    srv.sopts.max_children = 64;
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
        case OPT_MAX_CHANNELS:
            if (cli_parse_long(optarg, 1, 256, &v) != 0) {
                cli_error("bad --max-channels '%s' (1..256)", optarg);
                return CLI_EXIT_USAGE;
            }
            srv.sopts.max_channels = (unsigned)v;
            break;
        case OPT_MAX_CHILDREN:
            if (cli_parse_long(optarg, 1, 100000, &srv.sopts.max_children) != 0) {
                cli_error("bad --max-children '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_MAX_CONN_CHILDREN:
            if (cli_parse_long(optarg, 1, 256, &srv.sopts.max_conn_children) != 0) {
                cli_error("bad --max-conn-children '%s' (1..256)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_SHELL:
            srv.sopts.allow_shell = 1;
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "json") == 0)
                serve_log_json = 1;
            else if (strcmp(optarg, "text") == 0)
                serve_log_json = 0;
            else {
                cli_error("bad --log-format '%s' (text or json)", optarg);
                return CLI_EXIT_USAGE;
            }
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
