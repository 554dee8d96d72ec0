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
 * Threads: the main thread does the work; a watchdog enforces --timeout
 * over the whole run by closing the Packetizer (every blocked call then
 * fails), and during the traffic phase a reader thread sits in
 * sshbpp_session_recv() so that key exchanges (ours and the server's) make
 * progress while the main thread sends.
 */
#include "common.h"
#include "trust.h"
#include "json.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* SSH_MSG_IGNORE data per packet in the traffic phase. RFC 4253 section
 * 6.1 only obliges a peer to take payloads of 32,768 bytes, and tinysshd
 * takes at most 32,763: type byte + string length + this = 32,763. */
#define IGNORE_PAYLOAD_MAX 32763u
#define IGNORE_CHUNK (IGNORE_PAYLOAD_MAX - 5u)
/* The noise the IGNORE data is cut from: made once, then each packet takes
 * the next window of it. Larger than zlib's 32 KiB history, so that with
 * compression on no packet can refer back to the same bytes. */
#define NOISE_POOL (1024u * 1024u)

/* After the deadline the watchdog closes the connection; if the main thread
 * still has not finished this much later (stuck somewhere a close does not
 * reach, such as name resolution), the watchdog ends the process itself. */
#define HARD_EXIT_GRACE 2.0

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

    /* the connection; p and fd are read by the watchdog under mu */
    int fd;
    sshbpp_packetizer *p;
    sshbpp_session *s;
    double deadline;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;      /* main thread finished: the watchdog stands down */
    int timed_out; /* the deadline passed and the connection was closed */
    int reported;  /* the one error line was printed */

    /* traffic phase: the reader thread's state, under mu */
    int reader_stop, reader_err;
    int reader_answers; /* answers to the final check (see do_traffic) */
    int reader_unimpl; /* the server answered SSH_MSG_UNIMPLEMENTED */
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
            "                    [-o HashKnownHosts=yes|no] [--passphrase-file file] [user@]host\n");
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
           "  --timeout seconds     deadline for the whole run, connect to result (default 30)\n"
           "  --json                print one JSON object with the results\n"
           "  -v                    verbose; -vv adds the library log, -vvv packet hex dumps\n"
           "\n"
           "Exit status 0 on success, 1 on failure (one \"sshbpp: error:\" line on stderr),\n"
           "2 on a usage error. With an AEAD cipher the MAC fields are empty.\n"
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

/* Prints the run's one error line, unless one was printed already; a run
 * that hit its deadline reports that, whatever call noticed it. */
static void
probe_report(struct probe *pr, const char *what, int rc)
{
    char ebuf[256];

    pthread_mutex_lock(&pr->mu);
    if (!pr->reported) {
        pr->reported = 1;
        if (pr->timed_out)
            cli_error("timed out after %g s", pr->timeout);
        else if (rc != 0)
            cli_error("%s: %s", what, cli_strerror(rc, pr->p, ebuf, sizeof(ebuf)));
        else
            cli_error("%s", what);
    }
    pthread_mutex_unlock(&pr->mu);
}

/* Closes the connection so that every blocked call returns: the
 * Packetizer's close wakes readers within a poll interval, and the
 * shutdown wakes a write blocked on a peer that stopped reading. */
static void
close_locked(struct probe *pr)
{
    if (pr->p != NULL)
        sshbpp_packetizer_close(pr->p);
    if (pr->fd >= 0)
        (void)shutdown(pr->fd, SHUT_RDWR);
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
/* Userauth exchange (RFC 4252)                                           */

/* Receives the next message for the main thread. EXT_INFO is skipped in
 * case the session hands it up rather than consuming it. */
static int
recv_msg(struct probe *pr, sshbpp_packet *pkt)
{
    for (;;) {
        int rc = sshbpp_session_recv(pr->s, pkt);

        if (rc != 0)
            return rc;
        if (pkt->type == MSG_EXT_INFO) {
            cli_debug(1, "skipping SSH_MSG_EXT_INFO");
            continue;
        }
        if (pkt->type == MSG_UNIMPLEMENTED) {
            cli_debug(1, "server sent SSH_MSG_UNIMPLEMENTED");
            continue;
        }
        return 0;
    }
}

/* Sends a "none" userauth request; solo: the calling thread is also the
 * reader (see cli_send_solo). */
static int
send_none_request(struct probe *pr, int solo)
{
    struct wbuf b = {0};
    int rc;

    wbuf_u8(&b, MSG_USERAUTH_REQUEST);
    wbuf_cstring(&b, pr->user);
    wbuf_cstring(&b, "ssh-connection");
    wbuf_cstring(&b, "none");
    rc = b.err    ? SSHBPP_ENOMEM
         : solo ? cli_send_solo(pr->s, pr->p, b.data, b.len)
                : sshbpp_session_send(pr->s, b.data, b.len);
    wbuf_free(&b);
    return rc;
}

/* After authentication: SSH_MSG_GLOBAL_REQUEST "keepalive@openssh.com"
 * with want-reply, from the main thread while the reader runs. */
static int
send_keepalive_request(struct probe *pr)
{
    struct wbuf b = {0};
    int rc;

    wbuf_u8(&b, MSG_GLOBAL_REQUEST);
    wbuf_cstring(&b, "keepalive@openssh.com");
    wbuf_u8(&b, 1); /* want reply */
    rc = b.err ? SSHBPP_ENOMEM : sshbpp_session_send(pr->s, b.data, b.len);
    wbuf_free(&b);
    return rc;
}

/* Records the sequence number our global request went out with (the
 * engine's trace hook runs on the sending thread, once per packet). */
static void
probe_trace(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len, size_t wire_len,
            uint32_t seqno)
{
    struct probe *pr = ctx;

    (void)payload_len;
    (void)wire_len;
    if (dir == SSHBPP_DIR_OUT && type == MSG_GLOBAL_REQUEST) {
        int64_t none = -1;
        atomic_compare_exchange_strong(&pr->gr_first, &none, (int64_t)seqno);
        atomic_store(&pr->gr_seqno, (int64_t)seqno);
    }
}

/* 1 if pkt is SSH_MSG_UNIMPLEMENTED naming a packet in [first, last + 1],
 * where first..last (first >= 0) are the numbers our final global requests
 * went out with. A server that does not know global requests may answer
 * one that way (RFC 4253 section 11.4; tinysshd does), which is as good an
 * answer as REQUEST_FAILURE: the server read everything before it.
 * tinysshd 20230101 names the packet after the rejected one (its counter
 * has moved on), hence last + 1; only requests were sent from first on,
 * so no other packet can have these numbers. */
static int
unimplemented_names(const sshbpp_packet *pkt, int64_t first, int64_t last)
{
    uint32_t n;

    if (pkt->type != MSG_UNIMPLEMENTED || pkt->len != 5 || first < 0 || last < 0)
        return 0;
    n = (uint32_t)pkt->payload[1] << 24 | (uint32_t)pkt->payload[2] << 16 |
        (uint32_t)pkt->payload[3] << 8 | pkt->payload[4];
    /* Distances from first in 32 bits, so a wrap of the counter is fine. */
    return n - (uint32_t)first <= (uint32_t)last - (uint32_t)first + 1u;
}

/* Parses SSH_MSG_USERAUTH_FAILURE: name-list methods, boolean partial. */
static int
parse_failure(const sshbpp_packet *pkt, char **methods)
{
    struct rbuf r;
    const uint8_t *s;
    size_t n;
    uint8_t type, partial;

    rbuf_init(&r, pkt->payload, pkt->len);
    if (rbuf_u8(&r, &type) != 0 || rbuf_string(&r, &s, &n) != 0 || rbuf_u8(&r, &partial) != 0)
        return SSHBPP_EAUTH;
    *methods = cli_strndup(s, n);
    return *methods != NULL ? 0 : SSHBPP_ENOMEM;
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
    rc = cli_trust_auth(&pr->trust, pr->s, pr->user, pr->identity, methods, sizeof(methods), &ok,
                        &tried, why, sizeof(why));
    if (rc != 0 && rc != SSHBPP_EBUFSMALL && why[0] != '\0') {
        /* Nothing was sent for this key: the key file or agent is at fault. */
        probe_report(pr, why, 0);
        return -1;
    }
    if (rc != 0 && rc != SSHBPP_EBUFSMALL) {
        probe_report(pr, "publickey authentication failed", rc);
        return -1;
    }
    if (!tried)
        return 0; /* no -i and no agent identities */
    if (!ok) {
        if (pr->identity == NULL) {
            cli_debug(1, "no ssh-agent identity was accepted");
            return 0;
        }
        /* EBUFSMALL still leaves whole names in methods. */
        snprintf(msg, sizeof(msg), "publickey authentication failed (methods: %s)",
                 cli_sanitize(clean, sizeof(clean), methods));
        probe_report(pr, msg, 0);
        return -1;
    }
    cli_debug(1, "Authenticated to %s using \"publickey\".", pr->host);
    pr->authenticated = 1;
    pr->auth_method = "publickey";
    return 0;
}

static int
do_userauth(struct probe *pr)
{
    sshbpp_packet pkt;
    struct rbuf r;
    const uint8_t *s;
    size_t n;
    uint8_t type;
    int rc;

    rc = sshbpp_session_service_request(pr->s, "ssh-userauth");
    if (rc != 0) {
        probe_report(pr,
                     rc == SSHBPP_EAUTH
                         ? "server answered the ssh-userauth service request with an unexpected "
                           "or malformed message"
                         : "ssh-userauth service request failed",
                     rc == SSHBPP_EAUTH ? 0 : rc);
        return -1;
    }
    cli_debug(1, "SSH2_MSG_SERVICE_ACCEPT received");

    /* "none" stays hand-made here rather than sshbpp_session_auth_none():
     * the library skips banners, and the probe reports the first one. */
    rc = send_none_request(pr, 1);
    if (rc != 0) {
        probe_report(pr, "sending the \"none\" userauth request failed", rc);
        return -1;
    }
    cli_debug(1, "sent \"none\" userauth request for user %s", pr->user);
    for (;;) {
        rc = recv_msg(pr, &pkt);
        if (rc != 0) {
            probe_report(pr, "waiting for the userauth reply failed", rc);
            return -1;
        }
        if (pkt.type == MSG_USERAUTH_BANNER) {
            rbuf_init(&r, pkt.payload, pkt.len);
            if (rbuf_u8(&r, &type) == 0 && rbuf_string(&r, &s, &n) == 0 && pr->auth_banner == NULL)
                pr->auth_banner = cli_strndup(s, n);
            cli_debug(1, "received SSH_MSG_USERAUTH_BANNER (%zu bytes)", n);
            continue;
        }
        if (pkt.type == MSG_USERAUTH_FAILURE) {
            rc = parse_failure(&pkt, &pr->auth_methods);
            if (rc != 0) {
                probe_report(pr, "malformed SSH_MSG_USERAUTH_FAILURE", rc);
                return -1;
            }
            {
                char clean[512];

                cli_debug(1, "Authentications that can continue: %s",
                          cli_sanitize(clean, sizeof(clean), pr->auth_methods));
            }
            return do_publickey(pr);
        }
        if (pkt.type == MSG_USERAUTH_SUCCESS) {
            /* Before anything else is read: zlib@openssh.com starts now. */
            rc = sshbpp_kex_auth_done(sshbpp_session_kex(pr->s));
            if (rc != 0) {
                probe_report(pr, "switching on delayed compression failed", rc);
                return -1;
            }
            pr->auth_success = 1;
            pr->authenticated = 1;
            pr->auth_method = "none";
            pr->auth_methods = cli_strndup((const uint8_t *)"", 0);
            cli_debug(1, "server accepted the \"none\" authentication");
            return pr->auth_methods != NULL ? 0 : -1;
        }
        {
            char msg[96];

            snprintf(msg, sizeof(msg), "unexpected message type %u in reply to the userauth request",
                     pkt.type);
            probe_report(pr, msg, 0);
        }
        return -1;
    }
}

/* ===================================================================== */
/* Traffic phase                                                          */

/* Keeps a thread in sshbpp_session_recv() while the main thread sends, so
 * that key exchanges complete. Anything else that arrives is logged and
 * dropped, except the answer to the final request the main thread sends to
 * check the server is still in step: USERAUTH_FAILURE before
 * authentication, REQUEST_SUCCESS/FAILURE after it (see do_traffic). */
static void *
reader_main(void *arg)
{
    struct probe *pr = arg;
    sshbpp_packet pkt;
    int rc;

    for (;;) {
        rc = sshbpp_session_recv(pr->s, &pkt);
        if (rc != 0)
            break;
        /* pr->authenticated was set before this thread started. */
        if (pr->authenticated ? pkt.type == MSG_REQUEST_SUCCESS || pkt.type == MSG_REQUEST_FAILURE ||
                                    unimplemented_names(&pkt, atomic_load(&pr->gr_first),
                                                        atomic_load(&pr->gr_seqno))
                              : pkt.type == MSG_USERAUTH_FAILURE) {
            pthread_mutex_lock(&pr->mu);
            pr->reader_answers++;
            pthread_cond_broadcast(&pr->cv);
            pthread_mutex_unlock(&pr->mu);
            continue;
        }
        if (pkt.type == MSG_UNIMPLEMENTED) {
            /* Every server must take IGNORE, so this rejects our KEXINIT:
             * the exchange would wait forever for the server's reply. */
            pthread_mutex_lock(&pr->mu);
            pr->reader_unimpl = 1;
            close_locked(pr);
            pthread_mutex_unlock(&pr->mu);
            /* Keep reading: the next receive fails on the closed
             * Packetizer, and only a failure seen inside the session wakes
             * a sender waiting for the exchange to end. */
            continue;
        }
        cli_debug(1, "ignoring message type %u during the traffic phase", pkt.type);
    }
    pthread_mutex_lock(&pr->mu);
    pr->reader_err = rc;
    /* A failure of our own making (the end of the run) is not news; any
     * other one must stop the sender too. */
    if (!pr->reader_stop) {
        cli_debug(1, "reader: %s", sshbpp_strerror(rc));
        close_locked(pr);
    }
    pthread_cond_broadcast(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

/* The error to report for a failed send: the reader's, if it failed first
 * (a MAC error or a disconnect says more than the closed Packetizer). */
static int
traffic_error(struct probe *pr, int rc)
{
    int rerr;

    pthread_mutex_lock(&pr->mu);
    rerr = pr->reader_err;
    pthread_mutex_unlock(&pr->mu);
    return rerr != 0 && rerr != SSHBPP_ECLOSED ? rerr : rc;
}

/* Reports a failure of the traffic phase, naming the likely cause when
 * the server refused our rekey. */
static void
traffic_report(struct probe *pr, const char *what, int rc)
{
    int unimpl;

    pthread_mutex_lock(&pr->mu);
    unimpl = pr->reader_unimpl;
    pthread_mutex_unlock(&pr->mu);
    if (unimpl)
        probe_report(pr,
                     "server answered our rekey with SSH_MSG_UNIMPLEMENTED (OpenSSH's sshd "
                     "does not rekey before authentication: authenticate with -i)",
                     0);
    else
        probe_report(pr, what, traffic_error(pr, rc));
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
    sshbpp_engine *e = sshbpp_packetizer_engine(pr->p);
    sshbpp_rekey_limits lim;
    uint64_t noise = 0x9e3779b97f4a7c15u;
    uint8_t *msg, *pool;
    size_t pool_off = 0;
    pthread_t th;
    int rc = 0, ok = -1;

    /* Rekeys come from the library's own byte counter rather than from
     * sshbpp_session_rekey(): with a reader thread, session_rekey must only
     * be called once that thread is inside sshbpp_session_recv() (else both
     * threads read), and nothing public tells when it got there. With the
     * limit lowered, sshbpp_session_send() starts the exchange when the
     * counter runs over and waits for the reader to finish it, the same way
     * OpenSSH's RekeyLimit works. Both sides are idle here, as the setter
     * requires. */
    if (pr->rekey_bytes > 0) {
        sshbpp_engine_get_rekey_limits(e, &lim);
        lim.bytes = pr->rekey_bytes;
        rc = sshbpp_engine_set_rekey_limits(e, &lim);
        if (rc != 0) {
            probe_report(pr, "setting the rekey limit failed", rc);
            return -1;
        }
    }
    /* Each message is built in place inside the pool: its 5-byte header
     * goes over the last bytes of the window before it (already sent), so
     * no payload byte is copied per packet; 5 bytes of slack in front. */
    pool = malloc(5 + NOISE_POOL + IGNORE_CHUNK);
    if (pool == NULL) {
        probe_report(pr, "out of memory", 0);
        return -1;
    }
    /* The tail repeats the head, so that any window of IGNORE_CHUNK bytes
     * starting inside the pool is contiguous. */
    fill_noise(pool + 5, NOISE_POOL, &noise);
    memcpy(pool + 5 + NOISE_POOL, pool + 5, IGNORE_CHUNK);
    atomic_store(&pr->gr_first, -1);
    atomic_store(&pr->gr_seqno, -1);
    sshbpp_engine_set_trace(e, probe_trace, pr);
    if (pthread_create(&th, NULL, reader_main, pr) != 0) {
        free(pool);
        probe_report(pr, "cannot start the reader thread", 0);
        return -1;
    }

    cli_debug(1, "sending %llu bytes of SSH_MSG_IGNORE data", (unsigned long long)pr->ignore_bytes);
    while (pr->ignore_sent < pr->ignore_bytes) {
        uint64_t n = pr->ignore_bytes - pr->ignore_sent;

        if (n > IGNORE_CHUNK)
            n = IGNORE_CHUNK;
        msg = pool + pool_off;
        pool_off = (pool_off + IGNORE_CHUNK) % NOISE_POOL;
        msg[0] = MSG_IGNORE;
        msg[1] = (uint8_t)(n >> 24);
        msg[2] = (uint8_t)(n >> 16);
        msg[3] = (uint8_t)(n >> 8);
        msg[4] = (uint8_t)n;
        rc = sshbpp_session_send(pr->s, msg, 5 + (size_t)n);
        if (rc != 0) {
            traffic_report(pr, "sending SSH_MSG_IGNORE failed", rc);
            goto out;
        }
        pr->ignore_sent += n;
    }

    /* A request the server must answer, answered under the latest keys in
     * both directions, shows the server took all of it and is still in
     * step: a second "none" request before authentication; after it
     * (RFC 4252 says later userauth requests are ignored) a global request
     * with want-reply, as OpenSSH's ServerAliveInterval sends, which
     * servers answer with REQUEST_FAILURE (or SUCCESS). */
    rc = pr->authenticated ? send_keepalive_request(pr) : send_none_request(pr, 0);
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
            pr->reader_answers == 0 && pr->reader_err == 0 && pr->authenticated) {
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
    /* Say goodbye while the connection is known good, then stop the
     * reader by closing; its error from that close is expected. */
    if (ok == 0)
        (void)sshbpp_session_disconnect(pr->s, DISCONNECT_BY_APPLICATION, "probe finished");
    pthread_mutex_lock(&pr->mu);
    pr->reader_stop = 1;
    close_locked(pr);
    pthread_mutex_unlock(&pr->mu);
    pthread_join(th, NULL);
    free(pool);
    return ok;
}

/* ===================================================================== */
/* Output                                                                 */

static void
print_json(struct probe *pr)
{
    struct json j;
    int i;

    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "host");
    json_string(&j, pr->host);
    json_key(&j, "port");
    json_uint(&j, (uint64_t)strtoul(pr->port, NULL, 10));
    json_key(&j, "server_banner");
    json_string(&j, sshbpp_session_peer_version(pr->s));
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
    json_key(&j, "server_algorithms");
    json_begin_object(&j);
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        json_key(&j, kexinit_keys[i]);
        json_namelist(&j, pr->peer_lists[i] != NULL ? pr->peer_lists[i] : "");
    }
    json_end_object(&j);
    json_end_object(&j);
    fputc('\n', stdout);
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

    printf("server      %s\n", cli_sanitize(clean, sizeof(clean), sshbpp_session_peer_version(pr->s)));
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
    sshbpp_kex_config cfg;
    char err[512], clean[512];
    const char *v;
    sshbpp_kex *k;
    double left;
    int fd, rc, i;

    fd = cli_connect(pr->host, pr->port, pr->deadline, err, sizeof(err));
    if (fd < 0) {
        pthread_mutex_lock(&pr->mu);
        if (cli_now() >= pr->deadline)
            pr->timed_out = 1;
        pthread_mutex_unlock(&pr->mu);
        probe_report(pr, err, 0);
        return -1;
    }
    cli_debug(1, "Connection established.");
    pthread_mutex_lock(&pr->mu);
    pr->fd = fd;
    pr->p = sshbpp_packetizer_new_fd(fd, 0);
    pthread_mutex_unlock(&pr->mu);
    if (pr->p == NULL) {
        probe_report(pr, "out of memory", 0);
        return -1;
    }
    cli_apply_verbosity(pr->p, NULL);
    cli_algs_config(&pr->algs, &cfg);
    pr->s = sshbpp_session_new(pr->p, SSHBPP_ROLE_CLIENT, &cfg, NULL);
    if (pr->s == NULL) {
        probe_report(pr, "cannot create the session", SSHBPP_ENOMEM);
        return -1;
    }

    left = pr->deadline - cli_now();
    rc = left > 0 ? sshbpp_session_handshake(pr->s, (int64_t)(left * 1000.0) + 1)
                  : SSHBPP_EHANDSHAKE;
    if (rc == SSHBPP_EHANDSHAKE || rc == SSHBPP_ETIMEDOUT) {
        /* The session's own timer ran out first: the same deadline. */
        pthread_mutex_lock(&pr->mu);
        pr->timed_out = 1;
        pthread_mutex_unlock(&pr->mu);
    }
    if (rc != 0) {
        v = sshbpp_session_peer_version(pr->s);
        if (v != NULL)
            cli_debug(1, "Remote protocol version: %s", cli_sanitize(clean, sizeof(clean), v));
        probe_report(pr, "key exchange failed", rc);
        return -1;
    }
    k = sshbpp_session_kex(pr->s);
    rc = sshbpp_kex_get_info(k, &pr->info);
    if (rc != 0) {
        probe_report(pr, "no key exchange results", rc);
        return -1;
    }
    /* Copy the server's lists now: they are only valid until the next
     * input, and a later rekey would replace them. */
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        const char *l = sshbpp_kex_peer_list(k, i);

        pr->peer_lists[i] = l != NULL ? strdup(l) : NULL;
    }

    cli_debug(1, "Remote protocol version: %s",
              cli_sanitize(clean, sizeof(clean), sshbpp_session_peer_version(pr->s)));
    cli_debug(1, "kex: algorithm: %s", pr->info.kex);
    cli_debug(1, "kex: host key algorithm: %s", pr->info.hostkey_alg);
    cli_debug(1, "kex: server->client cipher: %s MAC: %s compression: %s", pr->info.cipher_s2c,
              mac_or_implicit(pr->info.mac_s2c), pr->info.comp_s2c);
    cli_debug(1, "kex: client->server cipher: %s MAC: %s compression: %s", pr->info.cipher_c2s,
              mac_or_implicit(pr->info.mac_c2s), pr->info.comp_c2s);
    cli_debug(1, "Server host key: %s %s", pr->info.hostkey_alg, pr->info.hostkey_fingerprint);
    cli_debug(1, "strict KEX: %s", pr->info.strict_kex ? "yes" : "no");

    /* known_hosts: after the handshake, before any authentication (see
     * trust.c for where it moves with the connection object). */
    rc = cli_trust_check_hostkey(&pr->trust, pr->s, pr->host,
                                 (unsigned)strtoul(pr->port, NULL, 10));
    if (rc != 0) {
        (void)sshbpp_session_disconnect(pr->s, DISCONNECT_HOST_KEY_NOT_VERIFIABLE,
                                        "host key verification failed");
        probe_report(pr, "host key verification failed", rc);
        return -1;
    }

    if (do_userauth(pr) != 0)
        return -1;
    /* The server's EXT_INFO follows its NEWKEYS; the handshake does not
     * wait for it, but the userauth replies come after it. */
    if (sshbpp_kex_server_sig_algs(k) != NULL)
        pr->server_sig_algs = strdup(sshbpp_kex_server_sig_algs(k));
    if (pr->ignore_bytes > 0) {
        if (do_traffic(pr) != 0)
            return -1;
    } else {
        (void)sshbpp_session_disconnect(pr->s, DISCONNECT_BY_APPLICATION, "probe finished");
    }
    /* Counts the server's rekeys as well as ours. */
    if (sshbpp_kex_get_info(k, &pr->info) != 0)
        pr->info.rekeys = 0;
    return 0;
}

/* Splits "user@host" (the last '@', as ssh does). */
static void
split_user_host(struct probe *pr, char *arg)
{
    char *at = strrchr(arg, '@');

    if (at != NULL && at != arg) {
        *at = '\0';
        if (pr->user == NULL)
            pr->user = arg;
        pr->host = at + 1;
    } else {
        pr->host = arg;
    }
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
        {NULL, 0, NULL, 0},
    };
    struct probe pr;
    pthread_condattr_t ca;
    pthread_t wd;
    const char *what;
    long port;
    int opt, rc, i, ret = CLI_EXIT_FAIL;

    memset(&pr, 0, sizeof(pr));
    pr.port = "22";
    pr.timeout = 30;
    /* A probe reports what it sees: no host key check unless asked. */
    pr.trust.policy = SSHBPP_SHK_NO;
    pr.fd = -1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:Chi:l:m:o:p:v", longopts, NULL)) != -1) {
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
    if (optind != argc - 1) {
        cli_error("%s", optind == argc ? "no host given" : "more than one host given");
        probe_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    split_user_host(&pr, argv[optind]);
    if (pr.host[0] == '\0') {
        cli_error("empty host name");
        return CLI_EXIT_USAGE;
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

    pthread_mutex_init(&pr.mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pr.cv, &ca);
    pthread_condattr_destroy(&ca);
    /* The deadline covers everything from here, name resolution included
     * (the watchdog's hard exit covers a resolver that does not return). */
    pr.deadline = cli_now() + pr.timeout;
    if (pthread_create(&wd, NULL, watchdog_main, &pr) != 0) {
        cli_error("cannot start the watchdog thread");
        goto done;
    }
    rc = probe_run(&pr);

    pthread_mutex_lock(&pr.mu);
    pr.done = 1;
    pthread_cond_broadcast(&pr.cv);
    pthread_mutex_unlock(&pr.mu);
    pthread_join(wd, NULL);

    if (rc == 0) {
        if (pr.json)
            print_json(&pr);
        else
            print_text(&pr);
        if (fflush(stdout) != 0) {
            cli_error("writing the results failed");
            goto done;
        }
        ret = 0;
    }
done:
    if (pr.p != NULL)
        sshbpp_packetizer_close(pr.p);
    sshbpp_session_free(pr.s);
    sshbpp_packetizer_free(pr.p);
    if (pr.fd >= 0)
        close(pr.fd);
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++)
        free(pr.peer_lists[i]);
    free(pr.server_sig_algs);
    free(pr.auth_methods);
    free(pr.auth_banner);
    pthread_cond_destroy(&pr.cv);
    pthread_mutex_destroy(&pr.mu);
    return ret;
}
