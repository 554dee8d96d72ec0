/*
 * common.h: helpers shared by the sshbpp command-line tool's subcommands:
 * error and debug output, number parsing, the algorithm options that probe
 * and serve share, TCP connect with a deadline, and SSH wire encoding for
 * the few messages the tool builds itself (service and userauth).
 *
 * The tool uses only sshbpp's public headers; everything here is its own.
 */
#ifndef SSHBPP_CLI_COMMON_H
#define SSHBPP_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp.h"
#include "sshbpp/sshbpp_io.h"
#include "sshbpp/sshbpp_driver.h"

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit codes: 1 for a failure at run time, 2 for a usage error. */
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* SSH message numbers the tool builds or looks at (RFC 4250 section 4.1). */
enum {
    MSG_DISCONNECT = 1,
    MSG_IGNORE = 2,
    MSG_UNIMPLEMENTED = 3,
    MSG_DEBUG = 4,
    MSG_SERVICE_REQUEST = 5,
    MSG_SERVICE_ACCEPT = 6,
    MSG_EXT_INFO = 7,
    MSG_USERAUTH_REQUEST = 50,
    MSG_USERAUTH_FAILURE = 51,
    MSG_USERAUTH_SUCCESS = 52,
    MSG_USERAUTH_BANNER = 53,
    MSG_GLOBAL_REQUEST = 80,
    MSG_REQUEST_SUCCESS = 81,
    MSG_REQUEST_FAILURE = 82
};

/* Disconnect reason codes (RFC 4250 section 4.2.2). */
enum {
    DISCONNECT_PROTOCOL_ERROR = 2,
    DISCONNECT_HOST_KEY_NOT_VERIFIABLE = 9,
    DISCONNECT_SERVICE_NOT_AVAILABLE = 7,
    DISCONNECT_BY_APPLICATION = 11,
    DISCONNECT_NO_MORE_AUTH_METHODS = 14
};

/* ---- the subcommands (main.c dispatches) ---- */
int cli_probe(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_key(int argc, char **argv);
int cli_exec(int argc, char **argv);

/* ---- output ---- */

/* Verbosity: 0 quiet, 1 steps, 2 + library log, 3 + packet hex dumps. */
extern int cli_verbose;

/* "sshbpp: error: <message>" on one line of stderr. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* "debugN: <message>" on stderr when cli_verbose >= level. */
void cli_debug(int level, const char *fmt, ...) CLI_PRINTF(2, 3);
/* A library logger (sshbpp_log_fn) that writes "debug2: [ctx] msg";
 * ctx is a NUL-terminated prefix or NULL. */
void cli_lib_log(void *ctx, enum sshbpp_log_level level, const char *msg);
/* Applies cli_verbose to an engine: the library log at -vv, hex dumps at
 * -vvv. */
void cli_apply_verbosity(sshbpp_engine *e, void *log_ctx);

/* sshbpp_strerror(rc), with the errno p saved for SSHBPP_EIO and
 * SSHBPP_EEOF ("I/O error: Connection reset by peer"). Returns buf. */
const char *cli_strerror(int rc, const sshbpp_packetizer *p, char *buf, size_t cap);

/* Copies s into out (cap bytes) replacing control characters and bytes
 * outside printable ASCII with '?', so that a peer-supplied string cannot
 * forge log lines or terminal escapes. Returns out. */
char *cli_sanitize(char *out, size_t cap, const char *s);

/* ---- parsing ---- */

/* Parses a non-negative integer with an optional K/M/G suffix (powers of
 * 1024, as OpenSSH's RekeyLimit). Returns 0 or -1. */
int cli_parse_size(const char *s, uint64_t *out);
/* Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* Parses a positive number of seconds (fractions allowed). Returns 0 or -1. */
int cli_parse_seconds(const char *s, double *out);

/* The algorithm options shared by probe and serve; NULL means the library
 * default. */
struct cli_algs {
    const char *kex, *hostkey, *ciphers, *macs, *compression;
};

/* getopt_long codes for the long-only options, above any character. */
enum {
    OPT_KEX = 256,
    OPT_HOSTKEY_ALGS,
    OPT_COMPRESSION,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_IGNORE_BYTES,
    OPT_REKEY_BYTES,
    OPT_HELP,
    OPT_HOSTKEY,
    OPT_BIND,
    OPT_MAX_CLIENTS,
    OPT_LOGIN_GRACE,
    OPT_ONCE,
    OPT_CIPHER,
    OPT_MAC,
    OPT_SIZE,
    OPT_MIB,
    OPT_KNOWN_HOSTS = 400,
    OPT_PASSPHRASE_FILE,
    OPT_AUTHORIZED_KEYS,
    OPT_MAX_STARTUPS,
    OPT_PER_SOURCE,
    OPT_PREAUTH_BYTES,
    OPT_MODULI
};

/* What --compression / -C offer without an argument: zlib@openssh.com
 * first as OpenSSH does, plain zlib (which starts at NEWKEYS, so it is
 * observable without authentication), then none. */
#define CLI_COMPRESSION_ALL "zlib@openssh.com,zlib,none"

/* Handles one of the shared algorithm options (-c, -m, -C, --kex,
 * --hostkey-algorithms, --compression, and OpenSSH's spelling -o
 * KexAlgorithms=..., HostKeyAlgorithms=..., Ciphers=..., MACs=...,
 * Compression=yes|no, the keyword case-insensitive, '=' or a space before
 * the value). Every list may use OpenSSH's +, - and ^ forms. Returns 1 if
 * opt was one of them, else 0 (also for an -o with another keyword, which
 * the command handles or refuses itself). */
int cli_alg_option(struct cli_algs *a, int opt, const char *arg);
/* Fills a kex config from the options. */
void cli_algs_config(const struct cli_algs *a, sshbpp_kex_config *cfg);
/* A transport that accepts and drops everything, for kex objects that only
 * check names or load keys and never talk to anyone. */
extern const sshbpp_kex_transport cli_null_transport;

/* Checks the names in each option against the library by building (and
 * discarding) a client KEXINIT with only that option set. Returns 0, or an
 * SSHBPP_E* code with *what set to the option at fault. */
int cli_algs_check(const struct cli_algs *a, const char **what);

/* ---- time and sockets ---- */

/* CLOCK_MONOTONIC in seconds. */
double cli_now(void);

/* Connects to host:port (host a name, an IPv4 literal or an IPv6 literal,
 * with or without brackets) before the monotonic deadline, trying each
 * address in turn. Returns a connected blocking socket, or -1 with a
 * message in err (errcap bytes). Name resolution keeps the deadline too
 * (errno ETIMEDOUT when it passed there); a resolver that never returns is
 * left running on a detached thread. */
int cli_connect(const char *host, const char *port, double deadline, char *err, size_t errcap);

/* Formats a socket address as "1.2.3.4:port" or "[::1]:port". */
void cli_format_addr(const void *sa, unsigned salen, char *out, size_t cap);

/* ---- SSH wire encoding (RFC 4251 section 5) ---- */

/* A growable output buffer; err is set once an allocation fails and then
 * every put is a no-op, so callers check once at the end. */
struct wbuf {
    uint8_t *data;
    size_t len, cap;
    int err;
};
void wbuf_u8(struct wbuf *b, uint8_t v);
void wbuf_u32(struct wbuf *b, uint32_t v);
void wbuf_bytes(struct wbuf *b, const void *p, size_t n);
void wbuf_string(struct wbuf *b, const void *p, size_t n);
void wbuf_cstring(struct wbuf *b, const char *s);
void wbuf_free(struct wbuf *b);

/* A reader over a received payload; every get returns 0 or -1 when the
 * data is short (then the reader stays failed). */
struct rbuf {
    const uint8_t *p;
    size_t len, off;
    int err;
};
void rbuf_init(struct rbuf *r, const uint8_t *p, size_t len);
int rbuf_u8(struct rbuf *r, uint8_t *v);
int rbuf_u32(struct rbuf *r, uint32_t *v);
/* Points *s at the string's bytes inside the payload (not NUL-terminated). */
int rbuf_string(struct rbuf *r, const uint8_t **s, size_t *n);

/* Copies a string of n bytes into a fresh NUL-terminated buffer; NULL if
 * memory runs out. */
char *cli_strndup(const uint8_t *s, size_t n);

#endif
