/*
 * probe.c: `sshbpp probe`, the client role. It connects, runs the version
 * exchange and the key exchange (the library verifies the host key
 * signature over the exchange hash), asks for the ssh-userauth service,
 * sends a "none" userauth request to learn the allowed methods, optionally
 * authenticates with a private key (-i: "publickey"), optionally pushes
 * SSH_MSG_IGNORE traffic with rekeys, and reports what it saw. OpenSSH's
 * sshd neither takes nor starts a rekey before authentication, so against
 * it the traffic phase only rekeys once -i has succeeded.
 *
 * It runs on the connection object and its blocking driver
 * (sshbpp_conn.h, sshbpp_driver.h). The known_hosts check runs on the
 * conn's host-key event, before our NEWKEYS: nothing is sent under keys
 * agreed with a server whose key was refused.
 *
 * Threads: the main thread does the work; a watchdog enforces --timeout
 * over the whole run by closing the driver (every blocked call then
 * returns), and during the traffic phase a reader thread sits in
 * sshbpp_driver_recv() so that the driver reads (key exchanges, ours and
 * the server's, make progress) while the main thread sends.
 *
 * Many hosts (several operands or -f FILE): a fixed pool of --parallel
 * worker threads takes targets one at a time from a shared source (the
 * operands, then the file read a line at a time under a lock, lines of at
 * most TARGET_LINE_MAX bytes), so memory does not grow with the number of
 * hosts. Each target is one struct probe run exactly as a single host is,
 * with its own watchdog and deadline (--timeout per host); its result
 * becomes one line (JSON or text), formatted in memory and written under
 * one output lock, so lines never interleave.
 */
#include "common.h"
#include "keylog.h"
#include "trust.h"
#include "json.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* SSH_MSG_IGNORE data per packet in the traffic phase. RFC 4253 section
 * 6.1 only obliges a peer to take payloads of 32,768 bytes, and tinysshd
 * takes at most 32,763: type byte + string length + this = 32,763. */
#define IGNORE_PAYLOAD_MAX 32763u
#define IGNORE_CHUNK (IGNORE_PAYLOAD_MAX - 5u)
/* The noise the IGNORE messages are cut from: made once, as slots of one
 * whole message each (its header written over the slot's first 5 bytes),
 * each packet taking the next slot. Larger than zlib's 32 KiB history, so
 * that with compression on no packet can refer back to the same bytes. */
#define NOISE_POOL (1024u * 1024u)
#define NOISE_SLOTS (NOISE_POOL / IGNORE_PAYLOAD_MAX)
/* Messages per sshbpp_driver_send_batch(): up to 1 MiB per call, which
 * the driver writes with as few system calls as the socket allows. */
#define IGNORE_BATCH 32u
_Static_assert(IGNORE_BATCH <= NOISE_SLOTS, "a batch's messages need slots of their own");

/* After the deadline the watchdog closes the connection; if the main thread
 * still has not finished this much later (stuck somewhere a close does not
 * reach, such as name resolution), the watchdog ends the process itself. */
#define HARD_EXIT_GRACE 2.0

/* Many hosts: the longest target line read from -f (longer ones are
 * reported as failed targets), the default and largest --parallel. */
#define TARGET_LINE_MAX 1024
#define PARALLEL_DEFAULT 16
#define PARALLEL_MAX 1024

/* Long-only options of probe alone (above common.h's codes). */
enum {
    OPT_PARALLEL = 600
};

static const char *const kexinit_keys[SSHBPP_KEXINIT_NLISTS] = {
    "kex_algorithms",
    "server_host_key_algorithms",
    "encryption_algorithms_client_to_server",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server",
    "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server",
    "compression_algorithms_server_to_client",
    "languages_client_to_server",
    "languages_server_to_client",
};

struct probe {
    /* options */
    const char *host, *port, *user;
    const char *identity; /* -i: key file, or NULL (then ssh-agent, if any) */
    struct cli_trust trust; /* --known-hosts, -o, --passphrase-file */
    struct cli_algs algs;
    double timeout;
    uint64_t ignore_bytes, rekey_bytes;
    int json;

    /* the connection; d is read by the watchdog under mu */
    sshbpp_driver *d;
    int hostkey_err; /* the known_hosts check refused the key: why */
    double deadline;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;      /* main thread finished: the watchdog stands down */
    int timed_out; /* the deadline passed and the connection was closed */
    int reported;  /* the one error line was printed */

    /* traffic phase: the reader thread's state, under mu */
    int reader_stop, reader_err;
    int reader_answers; /* answers to the final check (see do_traffic) */
    _Atomic int64_t gr_first; /* seqno of our first final global request, or -1 */
    _Atomic int64_t gr_seqno; /* seqno of our latest one, or -1 */

    /* results */
    char *peer_lists[SSHBPP_KEXINIT_NLISTS];
    char *server_sig_algs;
    char *auth_methods;
    char *auth_banner;
    int auth_success;        /* the "none" request was accepted */
    int authenticated;       /* by "none" or "publickey" */
    const char *auth_method; /* "none", "publickey" or NULL */
    uint64_t ignore_sent;
    sshbpp_kex_info info;

    /* One of many hosts: the failure goes into err_code/err_msg for the
     * host's output line instead of stderr, and the watchdog never ends
     * the process. */
    int multi;
    int err_code;
    char err_msg[512];

    /* Timings, cli_now() seconds (0: not reached). t_version is set by the
     * engine's trace hook when the server's first packet (its KEXINIT,
     * which follows its identification line) is decoded. */
    double t_start, t_connected, t_version, t_kex, t_auth, t_end;
    /* Engine counters per direction (have_stats once read). */
    sshbpp_stats st_out, st_in;
    int have_stats;
};

static void
probe_usage(FILE *f)
{
    fprintf(f,
            "usage: sshbpp probe [-Cv] [--json] [-c cipher_spec] [-i identity_file]\n"
            "                    [-l login_name] [-m mac_spec] [-o option] [-p port] [--kex algorithms]\n"
            "                    [--hostkey-algorithms algorithms]\n"
            "                    [--compression[=algorithms]] [--ignore-bytes bytes]\n"
            "                    [--rekey-bytes bytes] [--timeout seconds]\n"
            "                    [--known-hosts file] [-o StrictHostKeyChecking=yes|accept-new|no]\n"
            "                    [-o HashKnownHosts=yes|no] [--passphrase-file file]\n"
            "                    [-f file] [--parallel n] [[user@]host[:port] ...]\n");
}

static void
probe_help(void)
{
    probe_usage(stdout);
    printf("\n"
           "Connects to an SSH server, completes the key exchange (verifying the host key\n"
           "signature), requests the ssh-userauth service, sends a \"none\" authentication\n"
           "request and reports the negotiated algorithms and the allowed methods. With -i\n"
           "it then authenticates with that private key (\"publickey\").\n"
           "\n"
           "With several hosts, or -f, it probes them all, --parallel at a time, and\n"
           "prints one line per host as each finishes: a JSON object with --json (\"ok\",\n"
           "and \"error\": {\"code\", \"message\"} for a host that failed), otherwise a\n"
           "summary. A target is host, host:port, [v6address]:port or user@host; -p\n"
           "gives the port of targets without one.\n"
           "\n"
           "  -c cipher_spec        ciphers to offer, comma-separated (sshbpp -Q cipher)\n"
           "  -m mac_spec           MACs to offer, comma-separated (sshbpp -Q mac)\n"
           "  -o option             OpenSSH-style: KexAlgorithms=, HostKeyAlgorithms=,\n"
           "                        Ciphers=, MACs= (lists), Compression=yes|no. Every list\n"
           "                        takes OpenSSH's forms: +a appends to the default list,\n"
           "                        -a,b* removes, ^a puts first (as in -c, -m, --kex and\n"
           "                        --hostkey-algorithms); legacy algorithms such as\n"
           "                        diffie-hellman-group1-sha1 are offered only when named\n"
           "  --kex algorithms      key exchange methods to offer (sshbpp -Q kex)\n"
           "  --hostkey-algorithms algorithms\n"
           "                        host key algorithms to accept (sshbpp -Q key)\n"
           "  -C, --compression[=algorithms]\n"
           "                        offer compression; without a list: " CLI_COMPRESSION_ALL "\n"
           "  -p port               port to connect to (default 22)\n"
           "  -i identity_file      key for \"publickey\" authentication: OpenSSH format\n"
           "                        (ssh-keygen), PEM or PKCS#8 (encrypted ones with a\n"
           "                        passphrase); ed25519, ECDSA P-256/384/521 or RSA >= 2048\n"
           "                        bits. A public key, or an encrypted OpenSSH key, signs\n"
           "                        through ssh-agent. Failing to authenticate is an error.\n"
           "                        Without -i, every ssh-agent identity is tried\n"
           "                        (SSH_AUTH_SOCK)\n"
           "  --passphrase-file file  the key's passphrase is the file's first line\n"
           "                        (otherwise it is asked for on the terminal)\n"
           "  --known-hosts file    check the host key against this known_hosts file\n"
           "  -o StrictHostKeyChecking=yes|accept-new|no\n"
           "                        yes: unknown and changed keys fail; accept-new: unknown\n"
           "                        keys are added, changed keys fail; no (default): unknown\n"
           "                        keys are added, a changed key is reported. A revoked key\n"
           "                        always fails\n"
           "  -o HashKnownHosts=yes|no  hash the host names of added lines (default no)\n"
           "  -l login_name         user name to authenticate as (default $USER)\n"
           "  --ignore-bytes bytes  after the userauth requests, send this much SSH_MSG_IGNORE\n"
           "                        data (K, M, G suffixes allowed), then check the server\n"
           "                        still answers\n"
           "  --rekey-bytes bytes   during that traffic, start a key exchange each time this\n"
           "                        many bytes were sent under the current keys\n"
           "  --timeout seconds     deadline for the whole run of one host: name resolution,\n"
           "                        connect, key exchange, authentication and traffic\n"
           "                        (default 30); with many hosts, each host's own deadline\n"
           "  --json                print one JSON object with the results (with timings in\n"
           "                        ms and per-direction packet and byte counts)\n"
           "  -f, --file file       read targets from file, one per line (\"-\": stdin);\n"
           "                        blank lines and # comments are skipped, lines of\n"
           "                        more than 1023 bytes fail\n"
           "  --parallel n          hosts probed at once with several targets (default 16)\n"
           "  -v                    verbose; -vv adds the library log, -vvv packet hex dumps\n"
           "\n"
           "Exit status 0 on success, 1 on failure (one \"sshbpp: error:\" line on stderr),\n"
           "2 on a usage error; with several hosts 0 only if every host succeeded. With\n"
           "an AEAD cipher the MAC fields are empty. --ignore-bytes shows a progress\n"
           "line on stderr when it is a terminal (one host only).\n"
           "OpenSSH's sshd refuses a key re-exchange before authentication (and does not\n"
           "start one itself before it, whatever its RekeyLimit): to see rekeys against\n"
           "sshd, authenticate with -i and a key in its authorized_keys.\n");
}

/* ===================================================================== */
/* Deadline                                                               */

static struct timespec
abs_monotonic(double t)
{
    struct timespec ts;

    if (t < 0)
        t = 0;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* The time left until the deadline, as a driver timeout: at least 1 ms
 * (0 would mean the driver's default, which is no limit). */
static int64_t
left_ms(const struct probe *pr)
{
    double left = pr->deadline - cli_now();

    return left > 0 ? (int64_t)(left * 1000.0) + 1 : 1;
}

/* Prints the run's one error line, unless one was printed already; a run
 * that hit its deadline reports that, whatever call noticed it. rc != 0
 * adds its message to what and is the error's code; with rc == 0, code
 * is (an SSHBPP_E* code for the JSON of many hosts). One of many hosts
 * keeps the message and code for its output line instead. */
static void
probe_report(struct probe *pr, const char *what, int rc, int code)
{
    char ebuf[256], msg[sizeof(pr->err_msg)];

    pthread_mutex_lock(&pr->mu);
    if (!pr->reported) {
        pr->reported = 1;
        if (pr->timed_out) {
            snprintf(msg, sizeof(msg), "timed out after %g s", pr->timeout);
            code = SSHBPP_ETIMEDOUT;
        } else if (rc != 0) {
            snprintf(msg, sizeof(msg), "%s: %s", what, cli_strerror(rc, NULL, ebuf, sizeof(ebuf)));
            code = rc;
        } else {
            snprintf(msg, sizeof(msg), "%s", what);
        }
        if (pr->multi) {
            pr->err_code = code;
            memcpy(pr->err_msg, msg, sizeof(msg));
        } else {
            char clean[sizeof(msg)];

            cli_error("%s", cli_sanitize(clean, sizeof(clean), msg));
        }
    }
    pthread_mutex_unlock(&pr->mu);
}

/* Closes the connection so that every blocked call returns: the driver's
 * close wakes every waiter at once. (cli_connect() keeps the deadline by
 * itself; probe_run() closes a driver made after it passed.) */
static void
close_locked(struct probe *pr)
{
    if (pr->d != NULL)
        sshbpp_driver_close(pr->d);
}

static void *
watchdog_main(void *arg)
{
    struct probe *pr = arg;
    struct timespec ts = abs_monotonic(pr->deadline);

    pthread_mutex_lock(&pr->mu);
    while (!pr->done) {
        if (pthread_cond_timedwait(&pr->cv, &pr->mu, &ts) == ETIMEDOUT && !pr->done) {
            if (!pr->timed_out) {
                pr->timed_out = 1;
                close_locked(pr);
                cli_debug(1, "deadline of %g s passed; closing the connection", pr->timeout);
                ts = abs_monotonic(pr->deadline + HARD_EXIT_GRACE);
                /* One of many hosts must not end the others' runs: its
                 * line waits for the worker (only name resolution can
                 * outlast the close, bounded by the resolver's own
                 * timeouts). */
                while (pr->multi && !pr->done)
                    pthread_cond_wait(&pr->cv, &pr->mu);
                continue;
            }
            /* The close did not reach the main thread in time. */
            if (!pr->reported) {
                pr->reported = 1;
                cli_error("timed out after %g s", pr->timeout);
            }
            fflush(stderr);
            _exit(CLI_EXIT_FAIL);
        }
    }
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

/* ===================================================================== */
/* Host key (the conn's HOSTKEY event, before our NEWKEYS)                */

static pthread_mutex_t known_hosts_mu = PTHREAD_MUTEX_INITIALIZER;

/* The driver's host key callback: runs on the driving thread while the
 * first key exchange waits for the verdict, so nothing has been sent under
 * the new keys yet. Keeps the server's KEXINIT lists (they are replaced by
 * a rekey) and checks known_hosts. */
static int
probe_hostkey(void *ctx, const char *alg, const char *fingerprint, const uint8_t *blob, size_t len)
{
    struct probe *pr = ctx;
    sshbpp_conn *c = sshbpp_driver_conn(pr->d);
    int i, rc;

    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        const char *l = sshbpp_conn_peer_kexinit_list(c, (enum sshbpp_kexinit_list)i);

        free(pr->peer_lists[i]);
        pr->peer_lists[i] = l != NULL ? strdup(l) : NULL;
    }
    cli_debug(1, "Server host key: %s %s", alg, fingerprint);
    /* Many hosts may read and append to one known_hosts file at once. */
    pthread_mutex_lock(&known_hosts_mu);
    rc = cli_trust_check_hostkey(&pr->trust, blob, len, pr->host,
                                 (unsigned)strtoul(pr->port, NULL, 10));
    pthread_mutex_unlock(&known_hosts_mu);
    if (rc != 0) {
        pr->hostkey_err = rc;
        return 0;
    }
    return 1;
}

/* ===================================================================== */
/* Userauth exchange (RFC 4252)                                           */

/* After authentication: SSH_MSG_GLOBAL_REQUEST "keepalive@openssh.com"
 * with want-reply, built here and sent as an ordinary message so that its
 * answer (REQUEST_SUCCESS/FAILURE, or tinysshd's UNIMPLEMENTED) reaches the
 * reader thread (see do_traffic). */
static int
send_keepalive_request(struct probe *pr)
{
    struct wbuf b = {0};
    int rc;

    wbuf_u8(&b, MSG_GLOBAL_REQUEST);
    wbuf_cstring(&b, "keepalive@openssh.com");
    wbuf_u8(&b, 1); /* want reply */
    rc = b.err ? SSHBPP_ENOMEM : sshbpp_driver_send(pr->d, b.data, b.len, left_ms(pr));
    wbuf_free(&b);
    return rc;
}

/* Records the sequence number our global request went out with (the
 * engine's trace hook runs on the thread that encodes the packet, once per
 * packet, with the driver's lock held). */
static void
probe_trace(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len, size_t wire_len,
            uint32_t seqno)
{
    struct probe *pr = ctx;

    (void)payload_len;
    (void)wire_len;
    /* Runs under the driver's lock; the main thread reads t_version after
     * the handshake call returned (which took that lock). */
    if (dir == SSHBPP_DIR_IN && pr->t_version == 0)
        pr->t_version = cli_now();
    if (dir == SSHBPP_DIR_OUT && type == MSG_GLOBAL_REQUEST) {
        int64_t none = -1;
        atomic_compare_exchange_strong(&pr->gr_first, &none, (int64_t)seqno);
        atomic_store(&pr->gr_seqno, (int64_t)seqno);
    }
}

/* 1 if msg is SSH_MSG_UNIMPLEMENTED naming a packet in [first, last + 1],
 * where first..last (first >= 0) are the numbers our final global requests
 * went out with. A server that does not know global requests may answer
 * one that way (RFC 4253 section 11.4; tinysshd does), which is as good an
 * answer as REQUEST_FAILURE: the server read everything before it.
 * tinysshd 20230101 names the packet after the rejected one (its counter
 * has moved on), hence last + 1; only requests were sent from first on,
 * so no other packet can have these numbers. */
static int
unimplemented_names(const uint8_t *msg, size_t len, int64_t first, int64_t last)
{
    uint32_t n;

    if (len != 5 || msg[0] != MSG_UNIMPLEMENTED || first < 0 || last < 0)
        return 0;
    n = (uint32_t)msg[1] << 24 | (uint32_t)msg[2] << 16 | (uint32_t)msg[3] << 8 | msg[4];
    /* Distances from first in 32 bits, so a wrap of the counter is fine. */
    return n - (uint32_t)first <= (uint32_t)last - (uint32_t)first + 1u;
}

/* "publickey" after "none" failed: the -i key (any format; through the
 * agent when its private half is there), or without -i every ssh-agent
 * identity (then not being accepted is reported, not an error). */
static int
do_publickey(struct probe *pr)
{
    char methods[1024], clean[1024], msg[1200], why[1024];
    int rc, ok = 0, tried = 0;

    if (pr->identity != NULL)
        cli_debug(1, "Offering public key: %s", pr->identity);
    rc = cli_trust_auth(&pr->trust, pr->d, pr->user, pr->identity, methods, sizeof(methods), &ok,
                        &tried, why, sizeof(why), left_ms(pr));
    if (rc != 0 && why[0] != '\0') {
        /* The key file or agent is at fault. */
        probe_report(pr, why, 0, rc);
        return -1;
    }
    if (rc != 0) {
        probe_report(pr, "publickey authentication failed", rc, 0);
        return -1;
    }
    if (!tried)
        return 0; /* no -i and no agent identities */
    if (!ok) {
        if (pr->identity == NULL) {
            cli_debug(1, "no ssh-agent identity was accepted");
            return 0;
        }
        snprintf(msg, sizeof(msg), "publickey authentication failed (methods: %s)",
                 cli_sanitize(clean, sizeof(clean), methods));
        probe_report(pr, msg, 0, SSHBPP_EREFUSED);
        return -1;
    }
    cli_debug(1, "Authenticated to %s using \"publickey\".", pr->host);
    pr->authenticated = 1;
    pr->auth_method = "publickey";
    return 0;
}

/* The ssh-userauth service request and a "none" request (the conn sends
 * both), then publickey. */
static int
do_userauth(struct probe *pr)
{
    sshbpp_conn *c = sshbpp_driver_conn(pr->d);
    char methods[1024], clean[1024];
    const char *banner, *ssa;
    int rc, partial = 0;

    cli_debug(1, "sending \"none\" userauth request for user %s", pr->user);
    rc = sshbpp_driver_auth_none(pr->d, pr->user, left_ms(pr));
    /* No other thread uses the driver now: the conn's getters are safe. */
    banner = sshbpp_conn_auth_banner(c);
    if (banner != NULL && (pr->auth_banner = strdup(banner)) == NULL)
        rc = SSHBPP_ENOMEM;
    if (banner != NULL)
        cli_debug(1, "received SSH_MSG_USERAUTH_BANNER (%zu bytes)", strlen(banner));
    /* The server's EXT_INFO follows its NEWKEYS, before the userauth
     * replies. */
    ssa = sshbpp_conn_server_sig_algs(c);
    if (ssa != NULL && pr->server_sig_algs == NULL && (pr->server_sig_algs = strdup(ssa)) == NULL)
        rc = SSHBPP_ENOMEM;
    if (rc == 0) {
        pr->auth_success = 1;
        pr->authenticated = 1;
        pr->auth_method = "none";
        pr->auth_methods = strdup("");
        cli_debug(1, "server accepted the \"none\" authentication");
        return pr->auth_methods != NULL ? 0 : -1;
    }
    if (rc != SSHBPP_EREFUSED) {
        probe_report(pr,
                     rc == SSHBPP_EAUTH ? "server answered the userauth requests with an "
                                          "unexpected or malformed message"
                                        : "the \"none\" userauth request failed",
                     rc == SSHBPP_EAUTH ? 0 : rc, SSHBPP_EAUTH);
        return -1;
    }
    if (sshbpp_driver_auth_methods(pr->d, methods, sizeof(methods), &partial) != 0 ||
        (pr->auth_methods = strdup(methods)) == NULL) {
        probe_report(pr, "out of memory", 0, SSHBPP_ENOMEM);
        return -1;
    }
    cli_debug(1, "Authentications that can continue: %s",
              cli_sanitize(clean, sizeof(clean), pr->auth_methods));
    return do_publickey(pr);
}

/* ===================================================================== */
/* Traffic phase                                                          */

/* Keeps a thread in sshbpp_driver_recv() while the main thread sends, so
 * that the driver reads while the main thread's sends do not block (key
 * exchanges, ours and the server's, make progress). Anything that arrives
 * is logged and dropped, except the answer to the final global request
 * (see do_traffic). Ends when the connection fails or is closed. */
static void *
reader_main(void *arg)
{
    struct probe *pr = arg;
    size_t cap = 64u * 1024u, len = 0;
    uint8_t *buf = malloc(cap), *nb;
    int rc;

    for (;;) {
        if (buf == NULL) {
            rc = SSHBPP_ENOMEM;
            break;
        }
        rc = sshbpp_driver_recv(pr->d, buf, cap, &len, -1);
        if (rc == SSHBPP_EBUFSMALL) {
            if ((nb = realloc(buf, len)) == NULL) {
                rc = SSHBPP_ENOMEM;
                break;
            }
            buf = nb;
            cap = len;
            continue;
        }
        if (rc != 0)
            break;
        /* pr->authenticated was set before this thread started. */
        if (pr->authenticated &&
            (buf[0] == MSG_REQUEST_SUCCESS || buf[0] == MSG_REQUEST_FAILURE ||
             unimplemented_names(buf, len, atomic_load(&pr->gr_first),
                                 atomic_load(&pr->gr_seqno)))) {
            pthread_mutex_lock(&pr->mu);
            pr->reader_answers++;
            pthread_cond_broadcast(&pr->cv);
            pthread_mutex_unlock(&pr->mu);
            continue;
        }
        cli_debug(1, "ignoring message type %u during the traffic phase", buf[0]);
    }
    free(buf);
    pthread_mutex_lock(&pr->mu);
    pr->reader_err = rc;
    /* A failure of our own making (the end of the run) is not news. */
    if (!pr->reader_stop)
        cli_debug(1, "reader: %s", sshbpp_strerror(rc));
    pthread_cond_broadcast(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

/* Reports a failure of the traffic phase, naming the likely cause when
 * the server refused our rekey. The conn's error is sticky, so whichever
 * call noticed it returns the same code. */
static void
traffic_report(struct probe *pr, const char *what, int rc)
{
    int err = sshbpp_driver_error(pr->d);

    if (err != 0 && err != SSHBPP_ECLOSED)
        rc = err;
    if (rc == SSHBPP_EREKEYREFUSED)
        probe_report(pr,
                     "server answered our rekey with SSH_MSG_UNIMPLEMENTED (OpenSSH's sshd "
                     "does not rekey before authentication: authenticate with -i)",
                     0, SSHBPP_EREKEYREFUSED);
    else
        probe_report(pr, what, rc, SSHBPP_EIO);
}

/* Fills the IGNORE data with xorshift64* output. The data only has to be
 * incompressible: with zeros, zlib would shrink megabytes to a few wire
 * bytes and a --rekey-bytes limit (counted on the wire) would never be
 * reached. No secrecy is needed, so no CSPRNG. */
static void
fill_noise(uint8_t *p, size_t n, uint64_t *state)
{
    uint64_t x = *state;
    size_t i;

    for (i = 0; i < n; i++) {
        if ((i & 7) == 0) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
        }
        p[i] = (uint8_t)((x * 0x2545f4914f6cdd1du) >> (8 * (i & 7)));
    }
    *state = x;
}

static int
do_traffic(struct probe *pr)
{
    sshbpp_engine *e = sshbpp_conn_engine(sshbpp_driver_conn(pr->d));
    sshbpp_rekey_limits lim;
    uint64_t noise = 0x9e3779b97f4a7c15u;
    uint8_t *msg, *pool;
    sshbpp_iov batch[IGNORE_BATCH];
    size_t slot = 0, nb, queued, i;
    uint64_t bytes;
    struct cli_progress prog;
    sshbpp_kex_info now;
    pthread_t th;
    int rc = 0, ok = -1;

    /* Rekeys come from the library's own byte counter: the conn starts an
     * exchange when it runs over, as OpenSSH's RekeyLimit works, and
     * queues our IGNOREs until it is done. No other thread uses the driver
     * yet, as the setter requires. */
    if (pr->rekey_bytes > 0) {
        sshbpp_engine_get_rekey_limits(e, &lim);
        lim.bytes = pr->rekey_bytes;
        rc = sshbpp_engine_set_rekey_limits(e, &lim);
        if (rc != 0) {
            probe_report(pr, "setting the rekey limit failed", rc, 0);
            return -1;
        }
    }
    /* Each message is built in place in its slot of the pool, so no
     * payload byte is copied per packet; a batch's slots are distinct, and
     * the batch before was sealed when its call returned. */
    pool = malloc(NOISE_POOL);
    if (pool == NULL) {
        probe_report(pr, "out of memory", 0, SSHBPP_ENOMEM);
        return -1;
    }
    fill_noise(pool, NOISE_POOL, &noise);
    atomic_store(&pr->gr_first, -1);
    atomic_store(&pr->gr_seqno, -1);
    sshbpp_engine_set_trace(e, probe_trace, pr);
    if (pthread_create(&th, NULL, reader_main, pr) != 0) {
        free(pool);
        probe_report(pr, "cannot start the reader thread", 0, SSHBPP_ENOMEM);
        return -1;
    }

    cli_debug(1, "sending %llu bytes of SSH_MSG_IGNORE data", (unsigned long long)pr->ignore_bytes);
    /* On a terminal, one host: a progress line; the rekey count (a copy
     * of the conn's facts under the driver's lock) only when it is due. */
    cli_progress_init(&prog, "ignore", pr->ignore_bytes, pr->multi ? 0 : -1);
    memset(&now, 0, sizeof(now));
    while (pr->ignore_sent < pr->ignore_bytes) {
        if (cli_progress_due(&prog)) {
            if (sshbpp_driver_get_info(pr->d, &now) != 0)
                now.rekeys = 0;
            cli_progress_update(&prog, pr->ignore_sent, now.rekeys);
        }
        bytes = 0;
        for (nb = 0; nb < IGNORE_BATCH && pr->ignore_sent + bytes < pr->ignore_bytes; nb++) {
            uint64_t n = pr->ignore_bytes - pr->ignore_sent - bytes;

            if (n > IGNORE_CHUNK)
                n = IGNORE_CHUNK;
            msg = pool + slot * IGNORE_PAYLOAD_MAX;
            slot = (slot + 1) % NOISE_SLOTS;
            msg[0] = MSG_IGNORE;
            msg[1] = (uint8_t)(n >> 24);
            msg[2] = (uint8_t)(n >> 16);
            msg[3] = (uint8_t)(n >> 8);
            msg[4] = (uint8_t)n;
            batch[nb].base = msg;
            batch[nb].len = 5 + (size_t)n;
            bytes += n;
        }
        rc = sshbpp_driver_send_batch(pr->d, batch, nb, &queued, left_ms(pr));
        for (i = 0; i < queued; i++)
            pr->ignore_sent += batch[i].len - 5;
        if (rc != 0) {
            /* End the progress line before the error line. */
            cli_progress_finish(&prog, pr->ignore_sent, now.rekeys);
            traffic_report(pr, "sending SSH_MSG_IGNORE failed", rc);
            goto out;
        }
    }
    if (cli_progress_enabled(&prog)) {
        if (sshbpp_driver_get_info(pr->d, &now) != 0)
            now.rekeys = 0;
        cli_progress_finish(&prog, pr->ignore_sent, now.rekeys);
    }

    /* A request the server must answer, answered under the latest keys in
     * both directions, shows the server took all of it and is still in
     * step: a second "none" request before authentication (refused: the
     * answer); after it (RFC 4252 says later userauth requests are
     * ignored) a global request with want-reply, as OpenSSH's
     * ServerAliveInterval sends, which servers answer with REQUEST_FAILURE
     * (or SUCCESS). */
    if (!pr->authenticated) {
        rc = sshbpp_driver_auth_none(pr->d, pr->user, left_ms(pr));
        if (rc != SSHBPP_EREFUSED && rc != 0) {
            traffic_report(pr, "server did not answer after the traffic", rc);
            goto out;
        }
        cli_debug(1, "server answered the final request");
        ok = 0;
        goto out;
    }
    rc = send_keepalive_request(pr);
    if (rc != 0) {
        traffic_report(pr, "sending the final request failed", rc);
        goto out;
    }
    /* As ssh's ServerAliveInterval: while no answer came, ask again every
     * second (until the deadline closes the connection). Some servers
     * leave input unprocessed until more arrives (tinysshd 20230101 at
     * times does), so a second request also nudges those. */
    pthread_mutex_lock(&pr->mu);
    while (pr->reader_answers == 0 && pr->reader_err == 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until); /* pr->cv's clock */
        until.tv_sec += 1;
        if (pthread_cond_timedwait(&pr->cv, &pr->mu, &until) == ETIMEDOUT &&
            pr->reader_answers == 0 && pr->reader_err == 0) {
            pthread_mutex_unlock(&pr->mu);
            cli_debug(1, "no answer yet; sending another keepalive request");
            rc = send_keepalive_request(pr);
            pthread_mutex_lock(&pr->mu);
            if (rc != 0 && pr->reader_err == 0)
                pr->reader_err = rc;
        }
    }
    rc = pr->reader_answers > 0 ? 0 : pr->reader_err;
    pthread_mutex_unlock(&pr->mu);
    if (rc != 0) {
        traffic_report(pr, "server did not answer after the traffic", rc);
        goto out;
    }
    cli_debug(1, "server answered the final request");
    ok = 0;
out:
    /* Counts the server's rekeys as well as ours. */
    if (ok == 0 && sshbpp_driver_get_info(pr->d, &pr->info) != 0)
        pr->info.rekeys = 0;
    /* Say goodbye while the connection is known good, then stop the
     * reader by closing; its error from that close is expected. */
    if (ok == 0)
        (void)sshbpp_driver_disconnect(pr->d, DISCONNECT_BY_APPLICATION, "probe finished",
                                       left_ms(pr) < 2000 ? left_ms(pr) : 2000);
    pthread_mutex_lock(&pr->mu);
    pr->reader_stop = 1;
    pthread_mutex_unlock(&pr->mu);
    sshbpp_driver_close(pr->d);
    pthread_join(th, NULL);
    free(pool);
    return ok;
}

/* ===================================================================== */
/* Output                                                                 */

/* Milliseconds from a to b, both cli_now() times; 0 when either is unset. */
static double
span_ms(double a, double b)
{
    return a > 0 && b >= a ? (b - a) * 1000.0 : 0.0;
}

/* The timings and the engine's counters: connect_ms (name resolution and
 * TCP connect), version_ms (connected to the server's first packet, its
 * KEXINIT, which follows its identification line), kex_ms (to the end of
 * the first key exchange), auth_ms (service request and userauth),
 * total_ms (the whole run, traffic and goodbye included); then per
 * direction the packets, wire bytes and payload bytes the engine counted
 * (c2s: ours, s2c: the server's). A stage not reached is left out. */
static void
json_stats(struct json *j, const struct probe *pr)
{
    double v0 = pr->t_version > 0 ? pr->t_version : pr->t_connected;

    if (pr->t_connected > 0) {
        json_key(j, "connect_ms");
        json_fixed(j, span_ms(pr->t_start, pr->t_connected), 3);
    }
    if (pr->t_version > 0) {
        json_key(j, "version_ms");
        json_fixed(j, span_ms(pr->t_connected, pr->t_version), 3);
    }
    if (pr->t_kex > 0) {
        json_key(j, "kex_ms");
        json_fixed(j, span_ms(v0, pr->t_kex), 3);
    }
    if (pr->t_auth > 0) {
        json_key(j, "auth_ms");
        json_fixed(j, span_ms(pr->t_kex, pr->t_auth), 3);
    }
    json_key(j, "total_ms");
    json_fixed(j, span_ms(pr->t_start, pr->t_end), 3);
    if (pr->have_stats) {
        json_key(j, "packets_c2s");
        json_uint(j, pr->st_out.total_packets);
        json_key(j, "bytes_c2s");
        json_uint(j, pr->st_out.total_bytes);
        json_key(j, "payload_bytes_c2s");
        json_uint(j, pr->st_out.total_payload);
        json_key(j, "packets_s2c");
        json_uint(j, pr->st_in.total_packets);
        json_key(j, "bytes_s2c");
        json_uint(j, pr->st_in.total_bytes);
        json_key(j, "payload_bytes_s2c");
        json_uint(j, pr->st_in.total_payload);
    }
}

static void
print_json(struct probe *pr, FILE *f)
{
    struct json j;
    int i;

    json_init(&j, f);
    json_begin_object(&j);
    json_key(&j, "host");
    json_string(&j, pr->host);
    json_key(&j, "port");
    json_uint(&j, (uint64_t)strtoul(pr->port, NULL, 10));
    json_key(&j, "ok");
    json_bool(&j, 1);
    json_key(&j, "server_banner");
    json_string(&j, sshbpp_conn_peer_version(sshbpp_driver_conn(pr->d)));
    json_key(&j, "kex");
    json_string(&j, pr->info.kex);
    json_key(&j, "hostkey_algorithm");
    json_string(&j, pr->info.hostkey_alg);
    json_key(&j, "hostkey_fingerprint");
    json_string(&j, pr->info.hostkey_fingerprint);
    json_key(&j, "cipher_c2s");
    json_string(&j, pr->info.cipher_c2s);
    json_key(&j, "cipher_s2c");
    json_string(&j, pr->info.cipher_s2c);
    json_key(&j, "mac_c2s");
    json_string(&j, pr->info.mac_c2s);
    json_key(&j, "mac_s2c");
    json_string(&j, pr->info.mac_s2c);
    json_key(&j, "compression_c2s");
    json_string(&j, pr->info.comp_c2s);
    json_key(&j, "compression_s2c");
    json_string(&j, pr->info.comp_s2c);
    json_key(&j, "strict_kex");
    json_bool(&j, pr->info.strict_kex);
    json_key(&j, "rekeys");
    json_uint(&j, pr->info.rekeys);
    json_key(&j, "ignore_bytes_sent");
    json_uint(&j, pr->ignore_sent);
    json_key(&j, "auth_methods");
    json_namelist(&j, pr->auth_methods != NULL ? pr->auth_methods : "");
    json_key(&j, "auth_none_accepted");
    json_bool(&j, pr->auth_success);
    json_key(&j, "authenticated");
    json_bool(&j, pr->authenticated);
    json_key(&j, "auth_method");
    json_string(&j, pr->auth_method);
    json_key(&j, "auth_banner");
    json_string(&j, pr->auth_banner);
    json_key(&j, "server_sig_algs");
    json_namelist(&j, pr->server_sig_algs);
    json_key(&j, "known_hosts");
    json_string(&j, pr->trust.status);
    json_stats(&j, pr);
    json_key(&j, "server_algorithms");
    json_begin_object(&j);
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        json_key(&j, kexinit_keys[i]);
        json_namelist(&j, pr->peer_lists[i] != NULL ? pr->peer_lists[i] : "");
    }
    json_end_object(&j);
    json_end_object(&j);
    fputc('\n', f);
}

/* One of many hosts that failed: host, port, ok false, the error's code
 * name and message, and what the run got to. */
static void
print_json_error(struct probe *pr, FILE *f)
{
    struct json j;

    json_init(&j, f);
    json_begin_object(&j);
    json_key(&j, "host");
    json_string(&j, pr->host);
    json_key(&j, "port");
    json_uint(&j, (uint64_t)strtoul(pr->port, NULL, 10));
    json_key(&j, "ok");
    json_bool(&j, 0);
    json_key(&j, "error");
    json_begin_object(&j);
    json_key(&j, "code");
    json_string(&j, sshbpp_err_name(pr->err_code));
    json_key(&j, "message");
    json_string(&j, pr->err_msg);
    json_end_object(&j);
    if (pr->d != NULL && sshbpp_conn_peer_version(sshbpp_driver_conn(pr->d)) != NULL) {
        json_key(&j, "server_banner");
        json_string(&j, sshbpp_conn_peer_version(sshbpp_driver_conn(pr->d)));
    }
    json_stats(&j, pr);
    json_end_object(&j);
    fputc('\n', f);
}

static const char *
mac_or_implicit(const char *mac)
{
    return mac[0] != '\0' ? mac : "<implicit>";
}

static void
print_text(struct probe *pr)
{
    char clean[1024];

    printf("server      %s\n", cli_sanitize(clean, sizeof(clean), sshbpp_conn_peer_version(sshbpp_driver_conn(pr->d))));
    printf("kex         %s%s\n", pr->info.kex, pr->info.strict_kex ? " (strict)" : "");
    printf("host key    %s %s\n", pr->info.hostkey_alg, pr->info.hostkey_fingerprint);
    printf("c2s         %s %s %s\n", pr->info.cipher_c2s, mac_or_implicit(pr->info.mac_c2s),
           pr->info.comp_c2s);
    printf("s2c         %s %s %s\n", pr->info.cipher_s2c, mac_or_implicit(pr->info.mac_s2c),
           pr->info.comp_s2c);
    printf("rekeys      %u\n", pr->info.rekeys);
    if (pr->ignore_sent > 0)
        printf("ignore sent %llu bytes\n", (unsigned long long)pr->ignore_sent);
    if (pr->auth_success)
        printf("auth        none accepted\n");
    else if (pr->authenticated)
        printf("auth        %s accepted (methods: %s)\n", pr->auth_method,
               cli_sanitize(clean, sizeof(clean), pr->auth_methods));
    else
        printf("auth        %s\n", cli_sanitize(clean, sizeof(clean), pr->auth_methods));
}
/* ===================================================================== */
/* Main                                                                   */

static int
probe_run(struct probe *pr)
{
    sshbpp_conn_config cfg;
    sshbpp_driver *d;
    sshbpp_conn *c;
    sshbpp_engine *e;
    char err[512], clean[512];
    const char *v;
    int fd, rc;

    errno = 0;
    fd = cli_connect(pr->host, pr->port, pr->deadline, err, sizeof(err));
    if (fd < 0) {
        /* cli_connect() leaves the last connect's errno. */
        int code = errno == ETIMEDOUT ? SSHBPP_ETIMEDOUT : SSHBPP_EIO;

        pthread_mutex_lock(&pr->mu);
        if (cli_now() >= pr->deadline)
            pr->timed_out = 1;
        pthread_mutex_unlock(&pr->mu);
        probe_report(pr, err, 0, code);
        return -1;
    }
    pr->t_connected = cli_now();
    cli_debug(1, "Connection established.");
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    cli_algs_config(&pr->algs, &cfg.kex);
    (void)cli_keylog_attach(&cfg); /* SSHKEYLOGFILE (keylog.h) */
    /* The driver owns fd from here (also when the watchdog closes it). */
    d = sshbpp_driver_new(fd, &cfg);
    if (d == NULL) {
        close(fd);
        probe_report(pr, "cannot create the connection", SSHBPP_ENOMEM, 0);
        return -1;
    }
    c = sshbpp_driver_conn(d);
    e = sshbpp_conn_engine(c);
    cli_apply_verbosity(e, NULL);
    /* Times the server's first packet (and, in the traffic phase, our
     * final global request). */
    sshbpp_engine_set_trace(e, probe_trace, pr);
    sshbpp_driver_set_hostkey_cb(d, probe_hostkey, pr);
    pthread_mutex_lock(&pr->mu);
    pr->d = d;
    if (pr->timed_out) /* the watchdog fired before it could see d */
        sshbpp_driver_close(d);
    pthread_mutex_unlock(&pr->mu);

    rc = sshbpp_driver_handshake(d, left_ms(pr));
    if (rc == SSHBPP_ETIMEDOUT || rc == SSHBPP_EHANDSHAKE) {
        pthread_mutex_lock(&pr->mu);
        pr->timed_out = 1;
        pthread_mutex_unlock(&pr->mu);
    }
    if (rc != 0) {
        v = sshbpp_conn_peer_version(c);
        if (v != NULL)
            cli_debug(1, "Remote protocol version: %s", cli_sanitize(clean, sizeof(clean), v));
        if (rc == SSHBPP_EHOSTKEYREJECTED && pr->hostkey_err != 0)
            probe_report(pr, "host key verification failed", pr->hostkey_err, 0);
        else
            probe_report(pr, "key exchange failed", rc, 0);
        return -1;
    }
    pr->t_kex = cli_now();
    rc = sshbpp_driver_get_info(d, &pr->info);
    if (rc != 0) {
        probe_report(pr, "no key exchange results", rc, 0);
        return -1;
    }

    cli_debug(1, "Remote protocol version: %s",
              cli_sanitize(clean, sizeof(clean), sshbpp_conn_peer_version(c)));
    cli_debug(1, "kex: algorithm: %s", pr->info.kex);
    cli_debug(1, "kex: host key algorithm: %s", pr->info.hostkey_alg);
    cli_debug(1, "kex: server->client cipher: %s MAC: %s compression: %s", pr->info.cipher_s2c,
              mac_or_implicit(pr->info.mac_s2c), pr->info.comp_s2c);
    cli_debug(1, "kex: client->server cipher: %s MAC: %s compression: %s", pr->info.cipher_c2s,
              mac_or_implicit(pr->info.mac_c2s), pr->info.comp_c2s);
    cli_debug(1, "strict KEX: %s", pr->info.strict_kex ? "yes" : "no");

    if (do_userauth(pr) != 0)
        return -1;
    pr->t_auth = cli_now();
    if (pr->ignore_bytes > 0)
        return do_traffic(pr);
    if (sshbpp_driver_get_info(d, &pr->info) != 0)
        pr->info.rekeys = 0;
    (void)sshbpp_driver_disconnect(d, DISCONNECT_BY_APPLICATION, "probe finished",
                                   left_ms(pr) < 2000 ? left_ms(pr) : 2000);
    return 0;
}

/* Runs one host from a filled-in struct probe (options, host, port,
 * user): the watchdog, the run, the counters. Returns 0 or -1 (the error
 * printed, or kept in err_code/err_msg for one of many hosts). The caller
 * prints the results, then calls probe_cleanup(). */
static int
probe_host(struct probe *pr)
{
    pthread_condattr_t ca;
    pthread_t wd;
    int rc;

    pthread_mutex_init(&pr->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pr->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&pr->gr_first, -1);
    atomic_store(&pr->gr_seqno, -1);
    /* The deadline covers everything from here, name resolution included
     * (the watchdog's hard exit covers a resolver that does not return). */
    pr->t_start = cli_now();
    pr->deadline = pr->t_start + pr->timeout;
    if (pthread_create(&wd, NULL, watchdog_main, pr) != 0) {
        probe_report(pr, "cannot start the watchdog thread", 0, SSHBPP_ENOMEM);
        pr->t_end = cli_now();
        return -1;
    }
    rc = probe_run(pr);

    pthread_mutex_lock(&pr->mu);
    pr->done = 1;
    pthread_cond_broadcast(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    pthread_join(wd, NULL);
    pr->t_end = cli_now();
    /* No thread is inside the driver now; the engine lives until free. */
    if (pr->d != NULL) {
        sshbpp_engine *e = sshbpp_conn_engine(sshbpp_driver_conn(pr->d));

        sshbpp_engine_get_stats(e, SSHBPP_DIR_OUT, &pr->st_out);
        sshbpp_engine_get_stats(e, SSHBPP_DIR_IN, &pr->st_in);
        pr->have_stats = 1;
    }
    return rc;
}

static void
probe_cleanup(struct probe *pr)
{
    int i;

    sshbpp_driver_free(pr->d); /* closes the socket */
    pr->d = NULL;
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++)
        free(pr->peer_lists[i]);
    free(pr->server_sig_algs);
    free(pr->auth_methods);
    free(pr->auth_banner);
    pthread_cond_destroy(&pr->cv);
    pthread_mutex_destroy(&pr->mu);
}

/* ===================================================================== */
/* Many hosts                                                             */

/* Where the targets come from: the operands first, then the -f stream,
 * read one bounded line at a time under mu. Also the one output lock and
 * the tallies. */
struct scan {
    const struct probe *tmpl; /* options shared by every host */
    const char *user_opt;     /* -l, which wins over a target's user@ */

    pthread_mutex_t mu; /* the source */
    char **args;
    int nargs, next_arg;
    FILE *f; /* -f, or NULL */
    const char *fname;
    unsigned long lineno;
    int read_err;

    pthread_mutex_t out_mu; /* stdout and the tallies */
    unsigned long n_ok, n_fail;
    int write_err;
};

/* One target as read. */
struct target {
    char line[TARGET_LINE_MAX]; /* the text, trimmed; host/user point in it */
    char port[8];
    const char *host, *user;
    const char *bad;  /* not NULL: the target is invalid, this says why */
    int bad_code;
    char why[64];     /* room for a reason that names the line */
};

/* Reads the next non-blank, non-comment line of s->f into out (cap bytes,
 * NUL-terminated, without the newline). Returns 1, 0 at the end, or 2 for
 * a line longer than cap - 1 bytes (its rest is skipped, out holds its
 * start). Called with s->mu held. */
static int
read_line(struct scan *s, char *out, size_t cap)
{
    for (;;) {
        size_t n;
        int c, long_line = 0;
        char *p, *q;

        if (fgets(out, (int)cap, s->f) == NULL) {
            if (ferror(s->f))
                s->read_err = errno != 0 ? errno : EIO;
            return 0;
        }
        s->lineno++;
        n = strlen(out);
        if (n > 0 && out[n - 1] == '\n') {
            out[--n] = '\0';
        } else if ((c = getc(s->f)) != EOF && c != '\n') {
            /* Over cap - 1 bytes: the rest is read and dropped, so memory
             * stays at cap whatever the line. (A line of exactly cap - 1
             * bytes ends here, at its newline or the end of the file.) */
            long_line = 1;
            while ((c = getc(s->f)) != EOF && c != '\n')
                ;
        }
        /* A comment runs to the end of the line ('#' is in no host name). */
        if ((p = strchr(out, '#')) != NULL)
            *p = '\0';
        for (p = out; *p == ' ' || *p == '\t' || *p == '\r'; p++)
            ;
        q = p + strlen(p);
        while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
            *--q = '\0';
        if (long_line) {
            memmove(out, p, strlen(p) + 1);
            return 2;
        }
        if (*p == '\0')
            continue;
        memmove(out, p, strlen(p) + 1);
        return 1;
    }
}

/* Splits t->line into [user@]host[:port] ("[v6]:port", "[v6]", and a bare
 * IPv6 address without a port are accepted); def_port when none. */
static void
parse_target(struct target *t, const char *def_port)
{
    char *h = t->line, *at, *colon, *end;
    long port;

    t->user = NULL;
    t->bad = NULL;
    snprintf(t->port, sizeof(t->port), "%s", def_port);
    if (strpbrk(h, " \t") != NULL) {
        t->host = h;
        t->bad = "a target is one word: [user@]host[:port]";
        t->bad_code = SSHBPP_EINVAL;
        return;
    }
    at = strrchr(h, '@');
    if (at != NULL && at != h) {
        *at = '\0';
        t->user = h;
        h = at + 1;
    }
    t->host = h;
    colon = NULL;
    if (h[0] == '[') {
        end = strchr(h, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            t->bad = "bad [address]:port";
            t->bad_code = SSHBPP_EINVAL;
            return;
        }
        *end = '\0';
        t->host = h + 1;
        if (end[1] == ':')
            colon = end + 1;
    } else if ((colon = strchr(h, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
        colon = NULL; /* a bare IPv6 address: no port */
    }
    if (colon != NULL) {
        *colon = '\0';
        if (cli_parse_long(colon + 1, 1, 65535, &port) != 0) {
            t->bad = "bad port";
            t->bad_code = SSHBPP_EINVAL;
            return;
        }
        snprintf(t->port, sizeof(t->port), "%ld", port);
    }
    if (t->host[0] == '\0') {
        t->bad = "empty host name";
        t->bad_code = SSHBPP_EINVAL;
    }
}

/* The next target, or 0 when there is none left. */
static int
next_target(struct scan *s, struct target *t)
{
    unsigned long lineno = 0;
    int r = 0;

    pthread_mutex_lock(&s->mu);
    if (s->next_arg < s->nargs) {
        snprintf(t->line, sizeof(t->line), "%s", s->args[s->next_arg++]);
        r = 1;
    } else if (s->f != NULL) {
        r = read_line(s, t->line, sizeof(t->line));
        lineno = s->lineno;
    }
    pthread_mutex_unlock(&s->mu);
    if (r == 0)
        return 0;
    parse_target(t, s->tmpl->port);
    if (r == 2) {
        snprintf(t->why, sizeof(t->why), "line %lu is longer than %u bytes", lineno,
                 (unsigned)sizeof(t->line) - 1);
        t->bad = t->why;
        t->bad_code = SSHBPP_ELINELONG;
    }
    return 1;
}

/* "host:port", "[v6]:port". */
static void
fmt_target(char *out, size_t cap, const char *host, const char *port)
{
    char clean[300];

    cli_sanitize(clean, sizeof(clean), host);
    if (strchr(host, ':') != NULL)
        snprintf(out, cap, "[%s]:%s", clean, port);
    else
        snprintf(out, cap, "%s:%s", clean, port);
}

/* The text summary of one of many hosts: one line. */
static void
print_summary(struct probe *pr, int ok, FILE *f)
{
    char where[340], banner[256], methods[512], msg[sizeof(pr->err_msg)];

    fmt_target(where, sizeof(where), pr->host, pr->port);
    if (!ok) {
        /* the message may name the host, as read from the target file:
         * no terminal escape reaches the terminal (the JSON escapes them) */
        fprintf(f, "%s FAIL %s %s (%.0f ms)\n", where, sshbpp_err_name(pr->err_code),
                cli_sanitize(msg, sizeof(msg), pr->err_msg), span_ms(pr->t_start, pr->t_end));
        return;
    }
    cli_sanitize(banner, sizeof(banner), sshbpp_conn_peer_version(sshbpp_driver_conn(pr->d)));
    cli_sanitize(methods, sizeof(methods), pr->auth_methods);
    /* auth=METHOD when we got in, otherwise the methods on offer. */
    fprintf(f, "%s ok %s kex=%s hostkey=%s %s cipher=%s %s=%s (%.0f ms)\n", where, banner,
            pr->info.kex, pr->info.hostkey_alg, pr->info.hostkey_fingerprint, pr->info.cipher_c2s,
            pr->authenticated ? "auth" : "methods",
            pr->authenticated ? pr->auth_method : methods, span_ms(pr->t_start, pr->t_end));
}

/* Writes one host's line under the output lock, in one piece: it is
 * formatted in memory first. */
static void
scan_emit(struct scan *s, struct probe *pr, int ok)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    if (m != NULL) {
        if (pr->json)
            ok ? print_json(pr, m) : print_json_error(pr, m);
        else
            print_summary(pr, ok, m);
        if (fclose(m) != 0) {
            free(buf);
            buf = NULL;
        }
    }
    pthread_mutex_lock(&s->out_mu);
    if (buf != NULL) {
        fwrite(buf, 1, len, stdout);
    } else {
        /* Out of memory: straight to stdout, still under the lock. */
        if (pr->json)
            ok ? print_json(pr, stdout) : print_json_error(pr, stdout);
        else
            print_summary(pr, ok, stdout);
    }
    if (fflush(stdout) != 0)
        s->write_err = 1;
    if (ok)
        s->n_ok++;
    else
        s->n_fail++;
    pthread_mutex_unlock(&s->out_mu);
    free(buf);
}

static void *
scan_worker(void *arg)
{
    struct scan *s = arg;
    /* Per worker, not per host: the target line buffer. */
    struct target *t = malloc(sizeof(*t));
    struct probe *pr = malloc(sizeof(*pr));
    int ok;

    if (t == NULL || pr == NULL) {
        free(t);
        free(pr);
        pthread_mutex_lock(&s->out_mu);
        s->write_err = 1;
        pthread_mutex_unlock(&s->out_mu);
        return NULL;
    }
    while (next_target(s, t)) {
        *pr = *s->tmpl;
        pr->multi = 1;
        pr->host = t->host;
        pr->port = t->port;
        if (s->user_opt == NULL && t->user != NULL && t->user[0] != '\0')
            pr->user = t->user;
        if (t->bad != NULL) {
            /* Still one line for it, with the reason. */
            pthread_mutex_init(&pr->mu, NULL);
            pthread_cond_init(&pr->cv, NULL);
            pr->err_code = t->bad_code;
            snprintf(pr->err_msg, sizeof(pr->err_msg), "%s", t->bad);
            pr->t_start = pr->t_end = cli_now();
            ok = 0;
        } else {
            ok = probe_host(pr) == 0;
        }
        scan_emit(s, pr, ok);
        probe_cleanup(pr);
    }
    free(t);
    free(pr);
    return NULL;
}

/* Probes every target, `parallel` at a time. Returns the exit status. */
static int
scan_run(const struct probe *tmpl, const char *user_opt, char **args, int nargs,
         const char *fname, long parallel)
{
    struct scan s;
    struct rlimit rl;
    pthread_t *th;
    long i, started = 0;
    int ret;

    memset(&s, 0, sizeof(s));
    s.tmpl = tmpl;
    s.user_opt = user_opt;
    s.args = args;
    s.nargs = nargs;
    if (fname != NULL) {
        s.fname = fname;
        if (strcmp(fname, "-") == 0) {
            s.f = stdin;
        } else if ((s.f = fopen(fname, "r")) == NULL) {
            cli_error("cannot open %s: %s", fname, strerror(errno));
            return CLI_EXIT_FAIL;
        }
    }
    /* Without a file the count is known: no idle workers. */
    if (s.f == NULL && parallel > nargs)
        parallel = nargs;
    /* Each host holds a socket and the driver's wake pipe: let the soft
     * descriptor limit reach the hard one. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    pthread_mutex_init(&s.mu, NULL);
    pthread_mutex_init(&s.out_mu, NULL);
    th = calloc((size_t)parallel, sizeof(*th));
    if (th == NULL) {
        cli_error("out of memory");
        ret = CLI_EXIT_FAIL;
        goto out;
    }
    for (i = 0; i < parallel; i++) {
        if (pthread_create(&th[i], NULL, scan_worker, &s) != 0)
            break;
        started++;
    }
    if (started == 0) {
        cli_error("cannot start the worker threads");
        ret = CLI_EXIT_FAIL;
        goto out;
    }
    if (started < parallel)
        cli_debug(1, "started %ld of %ld workers", started, parallel);
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);

    ret = 0;
    if (s.read_err != 0) {
        cli_error("reading %s: %s", s.fname, strerror(s.read_err));
        ret = CLI_EXIT_FAIL;
    }
    if (s.write_err) {
        cli_error("writing the results failed");
        ret = CLI_EXIT_FAIL;
    }
    if (s.n_ok + s.n_fail == 0 && ret == 0) {
        cli_error("no host given (%s holds no target)", s.fname != NULL ? s.fname : "");
        ret = CLI_EXIT_FAIL;
    }
    if (s.n_fail > 0) {
        cli_error("%lu of %lu hosts failed", s.n_fail, s.n_ok + s.n_fail);
        ret = CLI_EXIT_FAIL;
    }
    cli_debug(1, "%lu hosts, %lu ok, %lu failed", s.n_ok + s.n_fail, s.n_ok, s.n_fail);
out:
    free(th);
    if (s.f != NULL && s.f != stdin)
        fclose(s.f);
    pthread_mutex_destroy(&s.mu);
    pthread_mutex_destroy(&s.out_mu);
    return ret;
}

int
cli_probe(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"kex", required_argument, NULL, OPT_KEX},
        {"hostkey-algorithms", required_argument, NULL, OPT_HOSTKEY_ALGS},
        {"compression", optional_argument, NULL, OPT_COMPRESSION},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"ignore-bytes", required_argument, NULL, OPT_IGNORE_BYTES},
        {"rekey-bytes", required_argument, NULL, OPT_REKEY_BYTES},
        {"port", required_argument, NULL, 'p'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, OPT_HELP},
        {"known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS},
        {"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},
        {"file", required_argument, NULL, 'f'},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {NULL, 0, NULL, 0},
    };
    struct probe pr;
    struct target one;
    const char *what, *file = NULL, *user_opt;
    long port, parallel = PARALLEL_DEFAULT;
    int opt, rc, ret = CLI_EXIT_FAIL;

    memset(&pr, 0, sizeof(pr));
    pr.port = "22";
    pr.timeout = 30;
    /* A probe reports what it sees: no host key check unless asked. */
    pr.trust.policy = SSHBPP_SHK_NO;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:Cf:hi:l:m:o:p:v", longopts, NULL)) != -1) {
        if (cli_alg_option(&pr.algs, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
        case OPT_HELP:
            probe_help();
            return 0;
        case 'i':
            if (optarg[0] == '\0') {
                cli_error("empty identity file name");
                return CLI_EXIT_USAGE;
            }
            pr.identity = optarg;
            break;
        case 'l':
            pr.user = optarg;
            break;
        case 'o':
            if (cli_trust_option(&pr.trust, optarg) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_KNOWN_HOSTS:
            pr.trust.known_hosts = optarg;
            break;
        case OPT_PASSPHRASE_FILE:
            pr.trust.passfile = optarg;
            break;
        case 'p':
            if (cli_parse_long(optarg, 1, 65535, &port) != 0) {
                cli_error("bad port '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            pr.port = optarg;
            break;
        case 'v':
            cli_verbose++;
            break;
        case 'f':
            if (optarg[0] == '\0') {
                cli_error("empty target file name");
                return CLI_EXIT_USAGE;
            }
            file = optarg;
            break;
        case OPT_PARALLEL:
            if (cli_parse_long(optarg, 1, PARALLEL_MAX, &parallel) != 0) {
                cli_error("bad --parallel '%s' (1 to %d)", optarg, PARALLEL_MAX);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_JSON:
            pr.json = 1;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_seconds(optarg, &pr.timeout) != 0) {
                cli_error("bad --timeout '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_IGNORE_BYTES:
        case OPT_REKEY_BYTES:
            if (cli_parse_size(optarg, opt == OPT_IGNORE_BYTES ? &pr.ignore_bytes
                                                               : &pr.rekey_bytes) != 0) {
                cli_error("bad %s '%s'", opt == OPT_IGNORE_BYTES ? "--ignore-bytes" : "--rekey-bytes",
                          optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case ':':
            cli_error("option '%s' needs an argument", argv[optind - 1]);
            probe_usage(stderr);
            return CLI_EXIT_USAGE;
        default:
            cli_error("unknown option '%s'", argv[optind - 1]);
            probe_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc && file == NULL) {
        cli_error("no host given");
        probe_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    user_opt = pr.user;
    if (file == NULL && optind == argc - 1) {
        /* One host: the same forms as a list's ([user@]host[:port]). */
        if (strlen(argv[optind]) >= sizeof(one.line)) {
            cli_error("host name too long");
            return CLI_EXIT_USAGE;
        }
        snprintf(one.line, sizeof(one.line), "%s", argv[optind]);
        parse_target(&one, pr.port);
        if (one.bad != NULL) {
            cli_error("%s: '%s'", one.bad, argv[optind]);
            return CLI_EXIT_USAGE;
        }
        pr.host = one.host;
        pr.port = one.port;
        if (pr.user == NULL && one.user != NULL && one.user[0] != '\0')
            pr.user = one.user;
    }
    if (pr.user == NULL)
        pr.user = getenv("USER");
    if (pr.user == NULL || pr.user[0] == '\0')
        pr.user = "root";
    if (pr.rekey_bytes > 0 && pr.ignore_bytes == 0)
        cli_debug(1, "--rekey-bytes has no effect without --ignore-bytes");
    rc = cli_algs_check(&pr.algs, &what);
    if (rc != 0) {
        cli_error("%s: %s", what, sshbpp_strerror(rc));
        return CLI_EXIT_USAGE;
    }

    /* Several operands or -f: many hosts, one line each. */
    if (file != NULL || optind < argc - 1)
        return scan_run(&pr, user_opt, argv + optind, argc - optind, file, parallel);

    rc = probe_host(&pr);
    if (rc == 0) {
        if (pr.json)
            print_json(&pr, stdout);
        else
            print_text(&pr);
        if (fflush(stdout) != 0) {
            cli_error("writing the results failed");
            goto done;
        }
        ret = 0;
    }
done:
    probe_cleanup(&pr);
    return ret;
}
