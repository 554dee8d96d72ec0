/*
 * sshbpp_conn.h: one SSH connection, client or server, sans I/O.
 *
 * A sshbpp_conn owns the packet engine (sshbpp_engine.h) and the key
 * exchange (sshbpp_kex.h) and runs everything of the transport above them:
 * the version exchange (RFC 4253 section 4.2), the first key exchange and
 * every rekey (started from the engine's limits, on the peer's KEXINIT, or
 * on request), strict KEX, RFC 8308 ext-info, the ssh-userauth service
 * request, client user authentication (none, publickey through a signer,
 * password, keyboard-interactive), server user authentication through a
 * callback, keepalives, and timers as deadlines.
 *
 * The caller does all I/O and owns the clock:
 *   - bytes from the peer go in through sshbpp_conn_rx_space() and
 *     sshbpp_conn_rx_commit() (or the copying sshbpp_conn_feed()); the peer's
 *     EOF through sshbpp_conn_rx_eof();
 *   - bytes for the peer come out of sshbpp_conn_tx_data() and
 *     sshbpp_conn_tx_consume();
 *   - every input call takes now_ms, a monotonic time in milliseconds (any
 *     origin, never going back); sshbpp_conn_next_deadline() says when to
 *     call sshbpp_conn_tick() at the latest if no input comes;
 *   - what happened comes out of sshbpp_conn_next_event(), one event at a
 *     time. Input is decoded lazily, as events are asked for: after an
 *     input call, call sshbpp_conn_next_event() until it returns
 *     SSHBPP_EAGAIN, then write out sshbpp_conn_tx_data().
 *
 * Sending: sshbpp_conn_send() takes application messages (global requests,
 * channel messages; anything that is not transport or user
 * authentication). While a key exchange runs (and before the first one is
 * done) they are queued, bounded by the configured count and bytes, and
 * sent in order after NEWKEYS; a full queue returns the soft SSHBPP_EAGAIN
 * and takes nothing: retry after more input was processed. Nothing handed
 * over successfully is lost or reordered.
 *
 * Errors: every failure of any layer (I/O reported by the caller, the
 * engine, the key exchange, user authentication, a deadline) closes the
 * whole object with one sticky error, sshbpp_conn_error(). Once closed,
 * every call that would change state returns that error; the output that
 * was built before (a DISCONNECT, say) stays readable through
 * sshbpp_conn_tx_data() so that it can still be flushed.
 *
 * Threads: a sshbpp_conn is not thread-safe; use it from one thread at a
 * time (sshbpp_driver.h adds locking and blocking I/O).
 *
 * Pointer lifetimes: strings and bytes in an event stay valid until the
 * next call on the object other than the const getters (next_event, any
 * input call, send, auth calls, free). Getters' lifetimes are given with
 * each.
 */
#ifndef SSHBPP_CONN_H
#define SSHBPP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp_engine.h"
#include "sshbpp_kex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshbpp_conn sshbpp_conn;

/* ===================================================================== */
/* Server-side user authentication                                        */

/* One authentication attempt of a client, for the server's callback.
 * Strings are NUL-terminated; all pointers are valid during the call. */
typedef struct sshbpp_conn_auth_attempt {
    const char *user;
    const char *method;         /* "none", "password" or "publickey" */
    const char *password;       /* "password": the password, else NULL */
    const char *pubkey_alg;     /* "publickey": signature algorithm */
    const uint8_t *pubkey_blob; /* "publickey": public key blob */
    size_t pubkey_len;
    int signature_ok; /* "publickey": 1 if the request carried a
                         signature and it verified; 0 for a query
                         (accept then only means "send PK_OK") */
} sshbpp_conn_auth_attempt;

enum sshbpp_auth_decision {
    SSHBPP_AUTH_REJECT = 0, /* USERAUTH_FAILURE, partial success FALSE */
    SSHBPP_AUTH_ACCEPT = 1, /* USERAUTH_SUCCESS */
    SSHBPP_AUTH_PARTIAL = 2 /* USERAUTH_FAILURE, partial success TRUE */
};

/* Decides one attempt. *methods starts as the configured list
 * (sshbpp_conn_config.auth_methods); the callback may point it to another
 * comma-separated list for this answer (it must stay valid until the
 * callback returns to the conn, e.g. a static string). It must not call
 * the conn. Keyboard-interactive is not offered by the server side. */
typedef enum sshbpp_auth_decision (*sshbpp_conn_auth_fn)(void *ctx,
                                                         const sshbpp_conn_auth_attempt *a,
                                                         const char **methods);

/* ===================================================================== */
/* Configuration and lifecycle                                            */

typedef struct sshbpp_conn_config {
    enum sshbpp_role role;
    sshbpp_kex_config kex;        /* algorithm lists; NULL fields: defaults */
    const char *software_version; /* after "SSH-2.0-"; NULL: "sshbpp_" + version */
    int64_t handshake_timeout_ms; /* version exchange + first kex; fatal
                                     SSHBPP_EHANDSHAKE; <= 0: none */
    int64_t login_timeout_ms;     /* from start until user authentication
                                     succeeds; fatal SSHBPP_ELOGINTIME; <= 0: none */
    int64_t keepalive_ms;         /* after user authentication, after this long
                                     without input, send a keepalive@openssh.com
                                     global request with want-reply (never
                                     during a key exchange); <= 0: off */
    unsigned keepalive_max;       /* unanswered keepalives before the fatal
                                     SSHBPP_EKEEPALIVE; 0: 3 */
    size_t queue_max_msgs;        /* application messages queued during an
                                     exchange; 0: 1024 */
    size_t queue_max_bytes;       /* their payload bytes; 0: 4 MiB */
    /* server only */
    sshbpp_conn_auth_fn auth_cb; /* NULL: every attempt is rejected */
    void *auth_ctx;
    const char *auth_methods; /* advertised in USERAUTH_FAILURE; NULL:
                                 "publickey,password" */
    unsigned max_auth_tries;  /* failed attempts before DISCONNECT and the
                                 fatal SSHBPP_EAUTH; 0: 20 */
    /* both roles: OpenSSH's PubkeyAcceptedAlgorithms, in its list syntax
     * ("+ssh-rsa", "-ecdsa*", "^a,b" or a plain list, as the kex lists).
     * NULL: SSHBPP_CONN_PUBKEY_ALGS_DEFAULT, which has no "ssh-rsa". The
     * client signs only with these (for an RSA key, the first of them that
     * the server's server-sig-algs lists; without server-sig-algs,
     * "ssh-rsa" if it is in the list, as OpenSSH does, else
     * rsa-sha2-256); the server refuses any other signature algorithm
     * and lists these in server-sig-algs. */
    const char *pubkey_algs;
    /* both roles: the key log callback (sshbpp_kex_set_keylog() in
     * sshbpp_kex.h), called once per exchange with our KEXINIT cookie,
     * our ephemeral private key and K; NULL (the default): off */
    sshbpp_keylog_fn keylog;
    void *keylog_ctx;
} sshbpp_conn_config;

/* The default user authentication signature algorithms (no SHA-1). */
#define SSHBPP_CONN_PUBKEY_ALGS_DEFAULT                                                   \
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512," \
    "rsa-sha2-256"

/* Fills *cfg with the defaults above for role (all timers off). */
SSHBPP_API void sshbpp_conn_config_init(sshbpp_conn_config *cfg, enum sshbpp_role role);

/* Creates a connection. cfg and the strings in it are copied. Returns NULL
 * on a bad role, an invalid software version (empty, not printable ASCII,
 * too long), a pubkey_algs list with a name this build does not sign or
 * verify with (or nothing left), or out of memory. Free with sshbpp_conn_free(). */
SSHBPP_API sshbpp_conn *sshbpp_conn_new(const sshbpp_conn_config *cfg);

/* Wipes and frees everything (keys, queued messages). NULL is a no-op. */
SSHBPP_API void sshbpp_conn_free(sshbpp_conn *c);

/* Server: host keys, as sshbpp_kex_add_hostkey_file() and
 * sshbpp_kex_generate_hostkey(); before sshbpp_conn_start(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_add_hostkey_file(sshbpp_conn *c, const char *path);
/* Server: the diffie-hellman-group-exchange-sha256 groups, from an OpenSSH
 * moduli file (sshbpp_kex_set_moduli(); default: the built-in RFC 3526
 * groups). Before the connection starts. Returns 0, SSHBPP_EINVAL, or the
 * errors of sshbpp_kex_set_moduli(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_set_moduli(sshbpp_conn *c, const char *path);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_generate_hostkey(sshbpp_conn *c, const char *alg);

/* The engine inside, for its limits (sshbpp_engine_set_rekey_limits()),
 * statistics, trace and log hooks. Do not send, receive or set keys on it.
 * Valid until sshbpp_conn_free(). */
SSHBPP_API sshbpp_engine *sshbpp_conn_engine(sshbpp_conn *c);

/* Starts the connection: queues our version line and arms the handshake
 * and login deadlines from now_ms. Returns 0, SSHBPP_ESTATE (called
 * twice) or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_start(sshbpp_conn *c, int64_t now_ms);

/* ===================================================================== */
/* Input, output, time                                                    */

/* A pointer to at least one writable byte (up to *room) for received bytes,
 * then sshbpp_conn_rx_commit(). NULL with *room 0 when closed, or when the
 * input buffer is full: call sshbpp_conn_next_event() first. */
SSHBPP_API uint8_t *sshbpp_conn_rx_space(sshbpp_conn *c, size_t *room);

/* Declares n bytes written at rx_space(), and the time. Runs due timers.
 * Returns 0 or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_rx_commit(sshbpp_conn *c, size_t n, int64_t now_ms);

/* Copies len received bytes in (any amount). Returns as rx_commit(), or
 * SSHBPP_EINVAL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_feed(sshbpp_conn *c, const void *data, size_t len,
                                                int64_t now_ms);

/* The peer closed its side (read returned 0): the fatal SSHBPP_EEOF, or
 * SSHBPP_EEOFPKT in the middle of a packet, unless the connection had
 * already failed. Buffered input is still decoded first: call
 * sshbpp_conn_next_event() until it returns the error. Returns the sticky
 * error. */
SSHBPP_API int sshbpp_conn_rx_eof(sshbpp_conn *c, int64_t now_ms);

/* Records a fatal error found by the caller (an I/O failure: pass
 * SSHBPP_EIO) and closes the connection. Returns the sticky error. */
SSHBPP_API int sshbpp_conn_fail(sshbpp_conn *c, int err);

/* Runs the timers due at now_ms: handshake and login deadlines (fatal),
 * keepalives. Returns 0 or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_tick(sshbpp_conn *c, int64_t now_ms);

/* The earliest time (ms, same clock as now_ms) at which sshbpp_conn_tick()
 * must be called if no input arrives before, or -1 for none. A keepalive
 * deadline is not reported while a key exchange runs. */
SSHBPP_API int64_t sshbpp_conn_next_deadline(const sshbpp_conn *c);

/* Bytes to send to the peer, or NULL with *len 0. Valid until the next
 * call on the object other than a const getter. */
SSHBPP_API const uint8_t *sshbpp_conn_tx_data(const sshbpp_conn *c, size_t *len);
/* Marks n bytes of tx_data() as written (clamped). */
SSHBPP_API void sshbpp_conn_tx_consume(sshbpp_conn *c, size_t n);

/* ===================================================================== */
/* Events                                                                 */

enum sshbpp_conn_event_type {
    SSHBPP_CONN_EV_VERSION = 1,    /* text: the peer's identification string */
    SSHBPP_CONN_EV_HOSTKEY,        /* client: alg, text (SHA256 fingerprint), data/len
                                      (public key blob). The conn is paused, our
                                      NEWKEYS not sent, until
                                      sshbpp_conn_hostkey_verdict() */
    SSHBPP_CONN_EV_HANDSHAKE_DONE, /* the first key exchange completed */
    SSHBPP_CONN_EV_REKEY_DONE,     /* a later key exchange completed */
    SSHBPP_CONN_EV_AUTH_RESULT,    /* success, partial, text (methods that can
                                      continue, "" on success); server: alg is
                                      the method and user the user name */
    SSHBPP_CONN_EV_AUTH_PROMPT,    /* client keyboard-interactive without a
                                      responder: nprompts, prompts[], echo[],
                                      text (instruction), alg (name); answer
                                      with sshbpp_conn_auth_kbdint_answer() */
    SSHBPP_CONN_EV_MESSAGE,        /* data/len: an application message (type
                                      byte first), seqno */
    SSHBPP_CONN_EV_DISCONNECT,     /* code: reason, text: description; the
                                      ERROR event (SSHBPP_EDISCONNECT) follows */
    SSHBPP_CONN_EV_ERROR           /* error: the sticky error; the last event */
};

#define SSHBPP_CONN_MAX_PROMPTS 16

typedef struct sshbpp_conn_event {
    enum sshbpp_conn_event_type type;
    const uint8_t *data;
    size_t len;
    uint32_t seqno;
    const char *text;
    const char *alg;
    const char *user;
    uint32_t code;
    int error;
    int success, partial;
    unsigned nprompts;
    const char *prompts[SSHBPP_CONN_MAX_PROMPTS];
    int echo[SSHBPP_CONN_MAX_PROMPTS];
} sshbpp_conn_event;

/* Decodes buffered input until something happens. Returns 0 with *ev
 * filled (pointers valid as said at the top), SSHBPP_EAGAIN when nothing
 * more can happen without input, a verdict or an answer, or, after the
 * ERROR event was returned, the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_next_event(sshbpp_conn *c, sshbpp_conn_event *ev);

/* Client: the verdict on the host key of SSHBPP_CONN_EV_HOSTKEY. accept 1
 * sends NEWKEYS and goes on; 0 sends DISCONNECT (host key not verifiable)
 * and closes with the fatal SSHBPP_EHOSTKEYREJECTED; no NEWKEYS is sent.
 * Returns 0, SSHBPP_ESTATE (no host key waiting) or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_hostkey_verdict(sshbpp_conn *c, int accept);

/* ===================================================================== */
/* Sending                                                                */

/* Sends one application message (type byte first: 80..255, or 1..4 except
 * DISCONNECT which has its own call). Queued while an exchange runs or
 * before the first one is done. A GLOBAL_REQUEST's want-reply is tracked
 * so that the reply reaches the caller in order with keepalives'.
 * Returns 0, SSHBPP_EAGAIN (queue full: nothing taken), SSHBPP_EINVAL (a
 * transport or auth message type, empty, too long), or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_send(sshbpp_conn *c, const void *payload, size_t len);

/* Builds and sends SSH_MSG_GLOBAL_REQUEST name, want_reply, data. The
 * answer (REQUEST_SUCCESS 81 / REQUEST_FAILURE 82) arrives as a MESSAGE
 * event. Returns as sshbpp_conn_send(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_global_request(sshbpp_conn *c, const char *name,
                                                          int want_reply, const void *data,
                                                          size_t len);

/* Starts a key exchange now (a no-op while one runs). Returns 0,
 * SSHBPP_ESTATE before the handshake is done, or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_rekey(sshbpp_conn *c);

/* Sends SSH_MSG_DISCONNECT (reason, description) at once, even during an
 * exchange, and closes the connection with the sticky SSHBPP_ECLOSED;
 * tx_data() still holds the message. Returns 0 or the earlier sticky
 * error. */
SSHBPP_API int sshbpp_conn_disconnect(sshbpp_conn *c, uint32_t reason, const char *description);

/* ===================================================================== */
/* Client user authentication (RFC 4252, RFC 4256)                        */

/* Writes the SSH signature blob (string algorithm name, string signature)
 * over data with the private key that belongs to the public key given to
 * sshbpp_conn_auth_publickey(), into sig (cap bytes), and its length into
 * *sig_len. Returns 0 or a negative SSHBPP_E* code (which fails the
 * connection: the request cannot go out). Called from within the conn,
 * possibly later than the auth call (after SERVICE_ACCEPT). */
typedef int (*sshbpp_sign_fn)(void *ctx, const char *sig_alg, const uint8_t *data, size_t len,
                              uint8_t *sig, size_t cap, size_t *sig_len);

/* Answers a keyboard-interactive INFO_REQUEST: writes one NUL-terminated
 * answer per prompt into answers[i] (256 bytes each; the conn wipes them
 * after use). name and instruction are sanitised copies (control
 * characters replaced by '?'). Returns 0, or a negative SSHBPP_E* code,
 * which fails the connection with that code. */
typedef int (*sshbpp_kbdint_fn)(void *ctx, const char *name, const char *instruction,
                                unsigned nprompts, const char *const *prompts, const int *echo,
                                char (*answers)[256]);

/* Each call sends one authentication request for user (the first one is
 * preceded by the ssh-userauth SERVICE_REQUEST, and goes out when it is
 * accepted) and reports its outcome as an AUTH_RESULT event. One request
 * at a time. All return 0 (request underway), SSHBPP_EINVAL (NULL or bad
 * argument), SSHBPP_ESTATE (server role, handshake not done, a request
 * already underway, or already authenticated), SSHBPP_ENOMEM, or the
 * sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_auth_none(sshbpp_conn *c, const char *user);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_auth_password(sshbpp_conn *c, const char *user,
                                                         const char *password);
/* pubkey_blob (copied) is the public key in SSH wire form. The signature
 * algorithm is the key's own, or for RSA ("ssh-rsa" blobs) one picked from
 * sshbpp_conn_config.pubkey_algs and server-sig-algs (see there): by
 * default rsa-sha2-512 if the server lists it, else rsa-sha2-256, never
 * "ssh-rsa" (SHA-1). sign and ctx are kept until the request has been
 * built. Also returns SSHBPP_EHOSTKEY (not a key blob) and
 * SSHBPP_EUNSUPPORTED (pubkey_algs allows no algorithm for this key). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_auth_publickey(sshbpp_conn *c, const char *user,
                                                          const uint8_t *pubkey_blob,
                                                          size_t pub_len, sshbpp_sign_fn sign,
                                                          void *ctx);
/* The same with an unencrypted private key file (PEM or DER, PKCS#8 or
 * traditional, as sshbpp_kex_add_hostkey_file() reads): loaded now, kept
 * inside the conn until the request is signed, then wiped. Also returns
 * SSHBPP_EIO (file unreadable) and the key loader's codes for a file it
 * cannot use (SSHBPP_EKEYFILE, SSHBPP_EHOSTKEY, ...). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_auth_publickey_file(sshbpp_conn *c, const char *user,
                                                               const char *path);
/* keyboard-interactive (RFC 4256). With respond non-NULL, prompts are
 * answered by it; with NULL, each INFO_REQUEST is an AUTH_PROMPT event. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_auth_kbdint(sshbpp_conn *c, const char *user,
                                                       sshbpp_kbdint_fn respond, void *ctx);
/* Answers the AUTH_PROMPT event: n must equal its nprompts. Returns 0,
 * SSHBPP_EINVAL, SSHBPP_ESTATE (no prompt waiting) or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_auth_kbdint_answer(sshbpp_conn *c, unsigned n,
                                                              const char *const *answers);

/* ===================================================================== */
/* Getters                                                                */

/* The sticky error, or 0 while open. */
SSHBPP_API int sshbpp_conn_error(const sshbpp_conn *c);
/* 1 once the first key exchange completed / user authentication succeeded. */
SSHBPP_API int sshbpp_conn_handshake_done(const sshbpp_conn *c);
SSHBPP_API int sshbpp_conn_authenticated(const sshbpp_conn *c);
/* 1 while a key exchange runs. */
SSHBPP_API int sshbpp_conn_kex_running(const sshbpp_conn *c);
/* Completed key exchanges (1 after the handshake). */
SSHBPP_API unsigned sshbpp_conn_kex_count(const sshbpp_conn *c);
/* Number of application messages queued for after the running exchange. */
SSHBPP_API size_t sshbpp_conn_queued(const sshbpp_conn *c);
/* The peer's identification string, NULL before it arrived; valid until
 * sshbpp_conn_free(). */
SSHBPP_API const char *sshbpp_conn_peer_version(const sshbpp_conn *c);
/* Negotiated algorithms, as sshbpp_kex_get_info(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_conn_get_info(const sshbpp_conn *c, sshbpp_kex_info *out);
/* Client: the server-sig-algs of the server's EXT_INFO, NULL before/without
 * it; available as soon as that message has been decoded; valid until the
 * next input call or next_event. */
SSHBPP_API const char *sshbpp_conn_server_sig_algs(const sshbpp_conn *c);
/* The session identifier, NULL before the handshake; valid until free. */
SSHBPP_API const uint8_t *sshbpp_conn_session_id(const sshbpp_conn *c, size_t *len);
/* A received DISCONNECT: returns its description (NUL-terminated, control
 * characters replaced by '?') and its reason in *reason, or NULL if none
 * was received. Valid until sshbpp_conn_free(). */
SSHBPP_API const char *sshbpp_conn_disconnect_reason(const sshbpp_conn *c, uint32_t *reason);

/* The peer's name-list number list (enum sshbpp_kexinit_list) from its
 * latest KEXINIT; NULL before one arrived or for a bad list. Valid until
 * the next input call or next_event (a rekey replaces it): copy it, for
 * instance on the HOSTKEY event (client), when the first one is there. */
SSHBPP_API const char *sshbpp_conn_peer_kexinit_list(const sshbpp_conn *c,
                                                     enum sshbpp_kexinit_list list);
/* Client: the message of the first SSH_MSG_USERAUTH_BANNER (RFC 4252
 * section 5.4) received, NUL-terminated, at most SSHBPP_CONN_BANNER_MAX - 1
 * bytes (longer ones are cut), control characters other than tab, CR and
 * LF replaced by '?'; NULL if none arrived. Valid until sshbpp_conn_free(). */
#define SSHBPP_CONN_BANNER_MAX 4096
SSHBPP_API const char *sshbpp_conn_auth_banner(const sshbpp_conn *c);

/* Disconnect reason codes (RFC 4253 section 11.1) */
#define SSHBPP_DISCONNECT_PROTOCOL_ERROR                 2
#define SSHBPP_DISCONNECT_SERVICE_NOT_AVAILABLE          7
#define SSHBPP_DISCONNECT_HOST_KEY_NOT_VERIFIABLE        9
#define SSHBPP_DISCONNECT_BY_APPLICATION                 11
#define SSHBPP_DISCONNECT_TOO_MANY_CONNECTIONS           12
#define SSHBPP_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE 14

#ifdef __cplusplus
}
#endif
#endif
