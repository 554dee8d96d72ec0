/*
 * exec.c: `sshbpp exec [options] [user@]host command...`, as `ssh host
 * command`: our stdin to the channel (EOF at our stdin's end, or at once
 * with -n), the channel's stdout and stderr to ours, the remote exit
 * status as ours.
 *
 * It runs on the blocking driver (sshbpp_driver.h) and its channel layer
 * (sshbpp_driver_channel.h), one thread per direction: the main thread
 * copies the channel's stdout and stderr to ours
 * (sshbpp_driver_channel_read_any), one thread our stdin to the channel.
 * The driver is the poll loop over the socket (whichever of the two waits
 * drives it); the copies are large (256 KiB reads and writes), with no
 * per-byte work, and channel data goes from our buffer straight into the
 * packet.
 *
 * As OpenSSH's ssh (checked against Debian 12's): a command killed by a
 * signal gives exit status 255 and, like ssh, no message unless -v
 * ("remote command killed by signal TERM"); a connection, host key or
 * authentication failure is 255 with one error line; so is a usage error.
 * The host key is checked against ~/.ssh/known_hosts (or
 * -o UserKnownHostsFile=) with StrictHostKeyChecking as ssh without a
 * terminal: "ask" cannot ask, so an unknown key is refused unless
 * -o StrictHostKeyChecking=accept-new or no. Authentication: publickey
 * with -i, else every ssh-agent identity, else ~/.ssh/id_ed25519,
 * id_ecdsa and id_rsa as far as they exist (cli_trust_auth).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* F_SETPIPE_SZ */
#endif
#include "common.h"
#include "forward.h"
#include "keylog.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sshbpp/sshbpp_driver_channel.h"

#define EXEC_FAIL  255
#define IO_CHUNK   (256u * 1024u)
#define DISCONNECT_BY_APPLICATION 11

struct ex {
    const char *host, *port, *user, *identity;
    struct cli_algs algs;
    struct cli_trust trust;
    char known_hosts_default[4096];
    uint64_t rekey_bytes;
    double connect_timeout;
    int null_stdin, batch;
    char *command;
    /* -L, -N, -o ExitOnForwardFailure (forward.h) */
    struct cli_fwd_spec fwd[CLI_FWD_MAX_SPECS];
    size_t nfwd;
    int no_command, exit_on_fwd_failure;
    struct cli_fwd *fw;

    sshbpp_driver *d;
    sshbpp_driver_channels *dc;
    uint32_t id;
    int hostkey_err;
    uint64_t sent, received;
    int stdin_rc;
    atomic_int stdin_done;
};

static void
exec_usage(FILE *f)
{
    fprintf(f, "usage: sshbpp exec [-CNnTv] [-c cipher_spec] [-F none] [-i identity_file]\n"
               "                   [-L [bind_address:]port:host:hostport] [-l login_name]\n"
               "                   [-m mac_spec] [-o option] [-p port]\n"
               "                   [--passphrase-file file] [user@]host [command ...]\n");
}

static void
exec_help(void)
{
    exec_usage(stdout);
    printf("\n"
           "Runs command on host as `ssh host command` does: stdin to the command, its\n"
           "stdout and stderr to ours, its exit status as ours (255: connection or\n"
           "authentication failed, or the command was killed by a signal). Without a\n"
           "command, a shell without a terminal.\n"
           "\n"
           "  -c, -m         ciphers / MACs (OpenSSH's list syntax)\n"
           "  -C             compression (zlib@openssh.com, zlib)\n"
           "  -F none        accepted (no configuration file is read)\n"
           "  -i file        identity (private key, or public key with the agent)\n"
           "  -L [bind_address:]port:host:hostport  local forwarding (repeatable, at most\n"
           "                 16): connections to port on bind_address (default 127.0.0.1;\n"
           "                 * or empty: every interface) go to host:hostport as the\n"
           "                 server sees it (direct-tcpip); at most 64 at once\n"
           "  -l user        login name (default $USER)\n"
           "  -N             no command: forwarding only, until the connection ends\n"
           "  -n             stdin from /dev/null\n"
           "  -p port        port (default 22)\n"
           "  -T             accepted (no terminal is ever requested)\n"
           "  -v             debug output (-vv: the library's log)\n"
           "  -o KexAlgorithms=|HostKeyAlgorithms=|Ciphers=|MACs=|Compression=\n"
           "  -o StrictHostKeyChecking=yes|accept-new|no  (default yes, as ssh without\n"
           "                 a terminal to ask on)\n"
           "  -o UserKnownHostsFile=FILE  (default ~/.ssh/known_hosts; none: no check)\n"
           "  -o HashKnownHosts=yes|no  -o BatchMode=yes|no  -o ConnectTimeout=SECONDS\n"
           "  -o ExitOnForwardFailure=yes|no  (default no: a -L that cannot be bound is\n"
           "                 an error line and the rest goes on; yes: exit 255)\n"
           "  -o RekeyLimit=SIZE  (a key exchange after SIZE bytes each way, K/M/G)\n"
           "  -o Port=  -o User=  -o IdentityFile=\n"
           "  --passphrase-file FILE  the identity's passphrase\n");
}

/* ---- options -------------------------------------------------------------- */

/* The -o keywords of ours (the algorithm and trust ones are handled by
 * cli_alg_option and cli_trust_option). 1 handled, 0 not ours, -1 bad. */
static int
exec_option(struct ex *x, const char *opt)
{
    const char *eq = strchr(opt, '=');
    const char *v;
    size_t n;

    if (eq == NULL)
        eq = strchr(opt, ' ');
    if (eq == NULL)
        return 0;
    n = (size_t)(eq - opt);
    v = eq + 1;
#define KW(s) (n == sizeof(s) - 1 && strncasecmp(opt, s, n) == 0)
    if (KW("BatchMode")) {
        if (strcasecmp(v, "yes") != 0 && strcasecmp(v, "no") != 0) {
            cli_error("-o BatchMode takes yes or no");
            return -1;
        }
        x->batch = strcasecmp(v, "yes") == 0;
        return 1;
    }
    if (KW("ExitOnForwardFailure")) {
        if (strcasecmp(v, "yes") != 0 && strcasecmp(v, "no") != 0) {
            cli_error("-o ExitOnForwardFailure takes yes or no");
            return -1;
        }
        x->exit_on_fwd_failure = strcasecmp(v, "yes") == 0;
        return 1;
    }
    if (KW("RekeyLimit")) {
        char first[64];
        size_t k = strcspn(v, " \t");

        if (k == 0 || k >= sizeof(first)) {
            cli_error("-o RekeyLimit: bad value '%s'", v);
            return -1;
        }
        memcpy(first, v, k);
        first[k] = '\0';
        if (strcasecmp(first, "default") == 0) {
            x->rekey_bytes = 0;
            return 1;
        }
        if (cli_parse_size(first, &x->rekey_bytes) != 0 || x->rekey_bytes < 16) {
            cli_error("-o RekeyLimit: bad size '%s'", first);
            return -1;
        }
        if (v[k] != '\0')
            cli_debug(1, "RekeyLimit: the time limit is not supported; ignored");
        return 1;
    }
    if (KW("ConnectTimeout")) {
        if (cli_parse_seconds(v, &x->connect_timeout) != 0 || x->connect_timeout <= 0) {
            cli_error("-o ConnectTimeout: bad value '%s'", v);
            return -1;
        }
        return 1;
    }
    if (KW("Port")) {
        long port;

        if (cli_parse_long(v, 1, 65535, &port) != 0) {
            cli_error("bad port '%s'", v);
            return -1;
        }
        x->port = v;
        return 1;
    }
    if (KW("User")) {
        x->user = v;
        return 1;
    }
    if (KW("IdentityFile")) {
        x->identity = v;
        return 1;
    }
    if (KW("UserKnownHostsFile")) {
        /* none: no file, every key is unknown (refused under yes) */
        x->trust.known_hosts = strcasecmp(v, "none") == 0 ? "/dev/null" : v;
        return 1;
    }
#undef KW
    return 0;
}

/* Joins the command words with spaces, as ssh does. NULL: none given. */
static char *
join_command(int argc, char **argv)
{
    size_t len = 0;
    char *s;
    int i;

    if (argc <= 0)
        return NULL;
    for (i = 0; i < argc; i++) {
        size_t k = strlen(argv[i]);

        if (k > (1u << 20) || len > (1u << 20))
            return NULL;
        len += k + 1;
    }
    if ((s = malloc(len)) == NULL)
        return NULL;
    s[0] = '\0';
    for (i = 0; i < argc; i++) {
        if (i > 0)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

/* ---- connection ----------------------------------------------------------- */

static int
exec_hostkey(void *ctx, const char *alg, const char *fingerprint, const uint8_t *blob, size_t len)
{
    struct ex *x = ctx;
    int rc;

    cli_debug(1, "Server host key: %s %s", alg, fingerprint);
    rc = cli_trust_check_hostkey(&x->trust, blob, len, x->host,
                                 (unsigned)strtoul(x->port, NULL, 10));
    if (rc != 0) {
        x->hostkey_err = rc;
        return 0;
    }
    return 1;
}

static int64_t
ms_left(double deadline)
{
    double left = deadline - cli_now();

    return left > 0 ? (int64_t)(left * 1000.0) + 1 : 1;
}

/* none, then publickey: -i, else the agent, else the default key files. */
static int
exec_auth(struct ex *x, double deadline)
{
    static const char *const defaults[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
    char methods[1024], clean[1024], why[1024], path[4200];
    const char *home = getenv("HOME");
    int rc, ok = 0, tried = 0, any = 0, partial = 0;
    size_t i;

    cli_debug(1, "sending \"none\" userauth request for user %s", x->user);
    rc = sshbpp_driver_auth_none(x->d, x->user, ms_left(deadline));
    if (rc == 0) {
        cli_debug(1, "Authenticated to %s using \"none\".", x->host);
        return 0;
    }
    if (rc != SSHBPP_EREFUSED) {
        cli_error("userauth: %s", sshbpp_strerror(rc));
        return -1;
    }
    methods[0] = '\0';
    (void)sshbpp_driver_auth_methods(x->d, methods, sizeof(methods), &partial);
    cli_debug(1, "Authentications that can continue: %s",
              cli_sanitize(clean, sizeof(clean), methods));
    for (i = 0; i <= sizeof(defaults) / sizeof(defaults[0]) && !ok; i++) {
        const char *key;

        if (i == 0) {
            key = x->identity; /* NULL: the agent */
        } else {
            if (x->identity != NULL || home == NULL)
                break;
            snprintf(path, sizeof(path), "%s/.ssh/%s", home, defaults[i - 1]);
            if (access(path, R_OK) != 0)
                continue;
            key = path;
        }
        if (key != NULL)
            cli_debug(1, "Offering public key: %s", key);
        why[0] = '\0';
        tried = 0;
        rc = cli_trust_auth(&x->trust, x->d, x->user, key, methods, sizeof(methods), &ok, &tried,
                            why, sizeof(why), ms_left(deadline));
        any |= tried;
        if (rc != 0 && why[0] != '\0') {
            if (key == NULL || i > 0) { /* the agent, or a default key: go on */
                cli_debug(1, "%s", why);
                continue;
            }
            cli_error("%s", why);
            return -1;
        }
        if (rc != 0) {
            cli_error("publickey authentication: %s", sshbpp_strerror(rc));
            return -1;
        }
    }
    if (!ok) {
        cli_error("%s@%s: Permission denied (%s).", x->user, x->host,
                  cli_sanitize(clean, sizeof(clean), methods[0] ? methods : "publickey"));
        if (!any)
            cli_debug(1, "no key was offered (no -i, no agent identity, no ~/.ssh/id_*)");
        return -1;
    }
    cli_debug(1, "Authenticated to %s using \"publickey\".", x->host);
    return 0;
}

static int
exec_connect(struct ex *x)
{
    double deadline = cli_now() + x->connect_timeout;
    sshbpp_conn_config cfg;
    sshbpp_kex_info info;
    char err[512];
    int fd, rc;

    fd = cli_connect(x->host, x->port, deadline, err, sizeof(err));
    if (fd < 0) {
        cli_error("%s", err);
        return -1;
    }
    cli_debug(1, "Connection established.");
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cli_algs_config(&x->algs, &cfg.kex);
    (void)cli_keylog_attach(&cfg); /* SSHKEYLOGFILE (keylog.h) */
    if ((x->d = sshbpp_driver_new(fd, &cfg)) == NULL) {
        close(fd);
        cli_error("cannot create the connection: %s", sshbpp_strerror(SSHBPP_ENOMEM));
        return -1;
    }
    cli_apply_verbosity(sshbpp_conn_engine(sshbpp_driver_conn(x->d)), NULL);
    if (x->rekey_bytes > 0) {
        sshbpp_rekey_limits l;
        sshbpp_engine *e = sshbpp_conn_engine(sshbpp_driver_conn(x->d));

        sshbpp_engine_get_rekey_limits(e, &l);
        l.bytes = x->rekey_bytes;
        if (sshbpp_engine_set_rekey_limits(e, &l) != 0) {
            cli_error("-o RekeyLimit: refused");
            return -1;
        }
    }
    sshbpp_driver_set_hostkey_cb(x->d, exec_hostkey, x);
    rc = sshbpp_driver_handshake(x->d, ms_left(deadline));
    if (rc != 0) {
        if (rc == SSHBPP_EHOSTKEYREJECTED && x->hostkey_err != 0)
            /* trust.c printed OpenSSH's lines ("Host key verification failed.") */
            cli_debug(1, "host key refused: %s", sshbpp_strerror(x->hostkey_err));
        else
            cli_error("key exchange with %s failed: %s", x->host, sshbpp_strerror(rc));
        return -1;
    }
    if (sshbpp_driver_get_info(x->d, &info) == 0) {
        cli_debug(1, "kex: algorithm: %s", info.kex);
        cli_debug(1, "kex: host key algorithm: %s", info.hostkey_alg);
        cli_debug(1, "kex: client->server cipher: %s MAC: %s compression: %s", info.cipher_c2s,
                  info.mac_c2s[0] ? info.mac_c2s : "<implicit>", info.comp_c2s);
        cli_debug(1, "kex: server->client cipher: %s MAC: %s compression: %s", info.cipher_s2c,
                  info.mac_s2c[0] ? info.mac_s2c : "<implicit>", info.comp_s2c);
    }
    if (exec_auth(x, deadline) != 0)
        return -1;
    if ((x->dc = sshbpp_driver_channels_new(x->d, NULL)) == NULL) {
        cli_error("cannot create the channel layer: %s", sshbpp_strerror(SSHBPP_ENOMEM));
        return -1;
    }
    if (x->nfwd > 0 &&
        (x->fw = cli_fwd_start(x->dc, x->fwd, x->nfwd, x->exit_on_fwd_failure)) == NULL)
        return -1;
    if (x->no_command)
        return 0;
    rc = sshbpp_driver_channel_open_session(x->dc, &x->id, NULL, ms_left(deadline));
    if (rc != 0) {
        cli_error("channel open: %s", sshbpp_strerror(rc));
        return -1;
    }
    if (x->command != NULL) {
        cli_debug(1, "Sending command: %s", x->command);
        rc = sshbpp_driver_channel_exec(x->dc, x->id, x->command, ms_left(deadline));
    } else {
        cli_debug(1, "Requesting a shell (no terminal)");
        rc = sshbpp_driver_channel_shell(x->dc, x->id, ms_left(deadline));
    }
    if (rc != 0) {
        cli_error("%s request: %s", x->command != NULL ? "exec" : "shell", sshbpp_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- data ----------------------------------------------------------------- */

static int
write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The stdin thread may still sit in read(0) (a terminal, a pipe whose
 * writer lives on) when the command is done, and must not hold up our exit:
 * exec_run() leaves it behind. struct ex lives on cli_exec()'s stack and the
 * driver is freed after exec_run(), so the thread touches either only while
 * `busy` under in_ctl.mu, and never again once exec_run() set `leaving`
 * (which waits for a busy call to end: the driver is closed first, so that
 * call returns at once). A read that returns afterwards finds `leaving` and
 * ends the thread without a look at x. One exec_run() per process (cli/main.c
 * runs one command): `leaving` is never reset, since a thread let go by an
 * earlier run could still come back from its read. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int leaving, busy;
} in_ctl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static int
stdin_enter(void)
{
    int ok;

    pthread_mutex_lock(&in_ctl.mu);
    ok = !in_ctl.leaving;
    in_ctl.busy = ok;
    pthread_mutex_unlock(&in_ctl.mu);
    return ok;
}

static void
stdin_exit(void)
{
    pthread_mutex_lock(&in_ctl.mu);
    in_ctl.busy = 0;
    pthread_cond_broadcast(&in_ctl.cv);
    pthread_mutex_unlock(&in_ctl.mu);
}

/* Called after sshbpp_driver_close(): from here on the stdin thread does
 * not touch x or the driver; it is detached, not joined. */
static void
stdin_abandon(pthread_t tin)
{
    pthread_mutex_lock(&in_ctl.mu);
    in_ctl.leaving = 1;
    while (in_ctl.busy)
        pthread_cond_wait(&in_ctl.cv, &in_ctl.mu);
    pthread_mutex_unlock(&in_ctl.mu);
    (void)pthread_detach(tin);
}

/* Our stdin to the channel, then EOF. */
static void *
stdin_main(void *arg)
{
    struct ex *x = arg;
    uint8_t *buf = malloc(IO_CHUNK);
    struct stat st;
    int rc = 0;

    /* a pipe of 1 MiB: fewer, larger reads (harmless if refused) */
    if (fstat(0, &st) == 0 && S_ISFIFO(st.st_mode))
        (void)fcntl(0, F_SETPIPE_SZ, (int)(1u << 20));
    while (buf != NULL) {
        ssize_t k = read(0, buf, IO_CHUNK);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if (!stdin_enter())
            goto out;
        if ((rc = sshbpp_driver_channel_write(x->dc, x->id, 0, buf, (size_t)k, -1)) == 0)
            x->sent += (uint64_t)k;
        stdin_exit();
        if (rc != 0)
            break;
    }
    if (!stdin_enter())
        goto out;
    if (rc == 0)
        rc = buf != NULL ? sshbpp_driver_channel_eof(x->dc, x->id) : SSHBPP_ENOMEM;
    x->stdin_rc = rc;
    atomic_store(&x->stdin_done, 1);
    stdin_exit();
out:
    free(buf);
    return NULL;
}

/* The channel's stdout and stderr to ours, until the peer's EOF. Returns
 * 0, 1 when our stdout broke (a closed pipe: the caller closes the
 * channel, as ssh does), or the error. A broken stderr is drained on. */
static int
copy_out(struct ex *x)
{
    uint8_t *buf = malloc(IO_CHUNK);
    int broken = 0, ext = 0;
    long n;

    if (buf == NULL)
        return SSHBPP_ENOMEM;
    while ((n = sshbpp_driver_channel_read_any(x->dc, x->id, &ext, buf, IO_CHUNK, -1)) > 0) {
        x->received += (uint64_t)n;
        if (ext == 0 && write_all(1, buf, (size_t)n) != 0)
            break;
        if (ext == 1 && !broken && write_all(2, buf, (size_t)n) != 0)
            broken = 1;
    }
    free(buf);
    return n > 0 ? 1 : (int)n;
}

static int
exec_run(struct ex *x)
{
    pthread_t tin;
    int have_in = 0, status = -1, rc, ret = EXEC_FAIL;
    char sig[32] = "";
    double t0 = cli_now();
    sshbpp_kex_info info;

    if (x->null_stdin) {
        atomic_store(&x->stdin_done, 1);
        if ((rc = sshbpp_driver_channel_eof(x->dc, x->id)) != 0) {
            cli_error("channel EOF: %s", sshbpp_strerror(rc));
            return EXEC_FAIL;
        }
    } else if (pthread_create(&tin, NULL, stdin_main, x) == 0) {
        have_in = 1;
    } else {
        cli_error("cannot start the stdin thread");
        return EXEC_FAIL;
    }
    rc = copy_out(x);
    if (rc == 1) {
        /* our stdout is gone: close the channel (the command then gets
         * SIGPIPE or EOF) and give 255 */
        cli_debug(1, "stdout: %s; closing the channel", strerror(errno));
        if (sshbpp_driver_channel_close(x->dc, x->id, 1000) != 0)
            cli_debug(1, "channel close: no answer");
        (void)sshbpp_driver_disconnect(x->d, DISCONNECT_BY_APPLICATION, "disconnected by user",
                                       1000);
        sshbpp_driver_close(x->d);
        if (have_in && atomic_load(&x->stdin_done))
            pthread_join(tin, NULL);
        else if (have_in)
            stdin_abandon(tin);
        return EXEC_FAIL;
    }
    if (rc == 0)
        rc = sshbpp_driver_channel_wait_exit(x->dc, x->id, &status, sig, sizeof(sig), -1);
    if (rc != 0) {
        cli_error("connection to %s: %s", x->host, sshbpp_strerror(rc));
    } else if (status >= 0) {
        cli_debug(1, "Exit status %d", status);
        ret = status & 0xff;
    } else if (sig[0] != '\0') {
        cli_debug(1, "remote command killed by signal %s", sig);
        cli_debug(1, "Exit status -1");
    } else {
        cli_debug(1, "channel closed without an exit status");
        cli_debug(1, "Exit status -1");
    }
    if (have_in && atomic_load(&x->stdin_done)) {
        pthread_join(tin, NULL);
        have_in = 0;
        if (x->stdin_rc != 0 && x->stdin_rc != SSHBPP_ESTATE)
            cli_debug(1, "stdin: %s", sshbpp_strerror(x->stdin_rc));
    }
    if (sshbpp_driver_get_info(x->d, &info) == 0)
        cli_debug(1, "Transferred: sent %llu, received %llu bytes, in %.1f seconds; rekeys: %u",
                  (unsigned long long)x->sent, (unsigned long long)x->received,
                  cli_now() - t0, info.rekeys);
    if (rc == 0) {
        if (sshbpp_driver_channel_close(x->dc, x->id, 2000) != 0)
            cli_debug(1, "channel close: no answer");
        (void)sshbpp_driver_disconnect(x->d, DISCONNECT_BY_APPLICATION, "disconnected by user",
                                       1000);
    }
    /* A stdin thread still blocked in read(0) is left behind (the process
     * ends with it); the driver may then be freed. */
    sshbpp_driver_close(x->d);
    if (have_in)
        stdin_abandon(tin);
    return ret;
}

/* -N: no session channel; the connection serves the -L forwards until
 * it ends (exit 255, as ssh -N). */
static int
exec_forward_only(struct ex *x)
{
    int rc = cli_fwd_wait(x->dc);

    if (rc == SSHBPP_ECLOSED || rc == SSHBPP_EEOF)
        cli_debug(1, "connection to %s closed: %s", x->host, sshbpp_strerror(rc));
    else
        cli_error("connection to %s: %s", x->host, sshbpp_strerror(rc));
    sshbpp_driver_close(x->d);
    return EXEC_FAIL;
}

/* ---- main ----------------------------------------------------------------- */

static void
split_user_host(struct ex *x, char *arg)
{
    char *at = strrchr(arg, '@');

    if (at != NULL && at != arg) {
        *at = '\0';
        if (x->user == NULL)
            x->user = arg;
        x->host = at + 1;
    } else {
        x->host = arg;
    }
}

int
cli_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, OPT_HELP},
        {"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},
        {NULL, 0, NULL, 0},
    };
    struct ex x;
    const char *home = getenv("HOME"), *what;
    long port;
    int opt, rc, ret;

    memset(&x, 0, sizeof(x));
    x.port = "22";
    x.connect_timeout = 60;
    x.trust.policy = SSHBPP_SHK_YES;
    if (home != NULL && home[0] != '\0') {
        snprintf(x.known_hosts_default, sizeof(x.known_hosts_default), "%s/.ssh/known_hosts",
                 home);
        x.trust.known_hosts = x.known_hosts_default;
    }
    opterr = 0;
    /* '+': the command's own words are not ours */
    while ((opt = getopt_long(argc, argv, "+:Cc:F:hi:L:l:m:Nno:p:Tv", longopts, NULL)) != -1) {
        if (opt != 'o' && cli_alg_option(&x.algs, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
        case OPT_HELP:
            exec_help();
            return 0;
        case 'F':
            if (strcmp(optarg, "none") != 0) {
                cli_error("-F: only 'none' is supported (no configuration file is read)");
                return EXEC_FAIL;
            }
            break;
        case 'i':
            if (optarg[0] == '\0') {
                cli_error("empty identity file name");
                return EXEC_FAIL;
            }
            x.identity = optarg;
            break;
        case 'l':
            x.user = optarg;
            break;
        case 'L':
            if (x.nfwd == CLI_FWD_MAX_SPECS) {
                cli_error("too many -L (at most %d)", CLI_FWD_MAX_SPECS);
                return EXEC_FAIL;
            }
            if (cli_fwd_parse(optarg, &x.fwd[x.nfwd]) != 0)
                return EXEC_FAIL;
            x.nfwd++;
            break;
        case 'N':
            x.no_command = 1;
            break;
        case 'n':
            x.null_stdin = 1;
            break;
        case 'o':
            if (cli_alg_option(&x.algs, opt, optarg))
                break;
            if ((rc = exec_option(&x, optarg)) < 0)
                return EXEC_FAIL;
            if (rc == 0 && cli_trust_option(&x.trust, optarg) != 0)
                return EXEC_FAIL;
            break;
        case 'p':
            if (cli_parse_long(optarg, 1, 65535, &port) != 0) {
                cli_error("bad port '%s'", optarg);
                return EXEC_FAIL;
            }
            x.port = optarg;
            break;
        case 'T':
            break;
        case OPT_PASSPHRASE_FILE:
            x.trust.passfile = optarg;
            break;
        case 'v':
            cli_verbose++;
            break;
        case ':':
            cli_error("option '%s' needs an argument", argv[optind - 1]);
            exec_usage(stderr);
            return EXEC_FAIL;
        default:
            cli_error("unknown option '%s'", argv[optind - 1]);
            exec_usage(stderr);
            return EXEC_FAIL;
        }
    }
    if (optind >= argc) {
        cli_error("no host given");
        exec_usage(stderr);
        return EXEC_FAIL;
    }
    split_user_host(&x, argv[optind]);
    if (x.host[0] == '\0') {
        cli_error("empty host name");
        return EXEC_FAIL;
    }
    if (x.user == NULL)
        x.user = getenv("USER");
    if (x.user == NULL || x.user[0] == '\0')
        x.user = "root";
    if (optind + 1 < argc && (x.command = join_command(argc - optind - 1, argv + optind + 1)) == NULL) {
        cli_error("command too long");
        return EXEC_FAIL;
    }
    if ((rc = cli_algs_check(&x.algs, &what)) != 0) {
        cli_error("%s: %s", what, sshbpp_strerror(rc));
        free(x.command);
        return EXEC_FAIL;
    }
    if (x.batch)
        cli_debug(1, "BatchMode: no password is ever asked for; key passphrases only from "
                     "--passphrase-file");
    if (x.no_command && x.command != NULL)
        cli_debug(1, "-N: the command is not run");
    if (exec_connect(&x) != 0)
        ret = EXEC_FAIL;
    else if (x.no_command)
        ret = exec_forward_only(&x);
    else
        ret = exec_run(&x);
    fflush(stdout);
    /* forwarded connections still running keep the objects: the process
     * ends with them */
    if (cli_fwd_stop(x.fw) > 0)
        x.dc = NULL, x.d = NULL;
    if (x.dc != NULL || x.d != NULL) {
        sshbpp_driver_channels_free(x.dc);
        sshbpp_driver_free(x.d);
    }
    free(x.command);
    return ret;
}
