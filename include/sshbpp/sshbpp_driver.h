/*
 * sshbpp_driver.h: a blocking driver over one sshbpp_conn (sshbpp_conn.h)
 * and a socket or any pollable file descriptor: BearSSL's sslio shape, a
 * run-until loop ("write what is pending, stop once the goal is met,
 * otherwise poll and read") shared by every blocking call.
 *
 * Thread model (why two peers cannot deadlock)
 *  - One mutex guards the conn and the driver's state. It is never held
 *    across anything that can block: the fd is non-blocking, so reads and
 *    writes under the mutex return at once; poll() runs with the mutex
 *    released.
 *  - Whichever calling thread needs progress (a recv waiting for a message,
 *    a send waiting for output to drain, a rekey, an auth call, ...) becomes
 *    the one "driver" thread while it waits: it polls the fd for input
 *    always, and for output when there is some, until its own goal is met
 *    or its timeout passes, then hands the role over. Other waiters sleep
 *    on a condition variable and are woken after every round of I/O, so
 *    each re-checks its own goal (and its own deadline).
 *  - Senders never write blocking: they hand their message to the conn
 *    (which queues it during a key exchange) and write what the socket
 *    takes at once. A sender waits only when more than
 *    SSHBPP_DRIVER_TX_HIGH bytes are already waiting for the peer, and
 *    while it waits it drives, which means it also reads. So a peer that
 *    waits for us to read before it reads our data is always read from:
 *    the design that held a lock across a blocking KEXINIT write is gone.
 *  - Received application messages are copied into an inbox for
 *    sshbpp_driver_recv(). When the inbox holds SSHBPP_DRIVER_INBOX_MAX
 *    bytes, the driver stops decoding (and, through TCP, the peer stops
 *    sending) until a receiver takes some: a program that sends must also
 *    receive, from another thread if need be. While a key exchange runs
 *    the driver decodes on regardless (up to four times the bound), so
 *    that an exchange always finishes, even when the receiving thread is
 *    itself waiting to send a reply. Two programs whose only receiving
 *    threads both block on sending to each other with full inboxes stop,
 *    as two TCP programs would.
 *  - I/O happens only while some thread is inside a blocking call: keep
 *    one in sshbpp_driver_recv() (with a timeout, in a loop) so that the
 *    peer's rekeys, keepalives and global requests are answered while the
 *    program is otherwise idle, and call sshbpp_driver_flush() before the
 *    last thread stops calling, so that output still unwritten goes out.
 *  - sshbpp_driver_close() from any thread wakes every waiter at once
 *    (a pipe wakes the poll, a broadcast the sleepers); they return
 *    SSHBPP_ECLOSED.
 *  - Callbacks (host key check, the conn's server auth callback, signers)
 *    run on a driving thread with the mutex held: they must not call the
 *    driver.
 *
 * Timeouts: every blocking call takes timeout_ms: > 0 a limit for that
 * call, < 0 no limit, SSHBPP_TIMEOUT_DEFAULT (0) the driver's default
 * (sshbpp_driver_set_timeout(), initially no limit). A call that times out
 * returns the soft SSHBPP_ETIMEDOUT and may be retried; where a request
 * had already gone out (auth, global request, rekey) the comment says what
 * becomes of it. The conn's own deadlines (handshake, login, keepalive)
 * are fatal, as sshbpp_conn.h says.
 *
 * Errors: the conn's sticky error, once set, is what every call returns
 * (SSHBPP_ECLOSED after sshbpp_driver_close()).
 */
#ifndef SSHBPP_DRIVER_H
#define SSHBPP_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp_conn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSHBPP_TIMEOUT_DEFAULT  0
#define SSHBPP_DRIVER_TX_HIGH   (1024u * 1024u)
#define SSHBPP_DRIVER_INBOX_MAX (8u * 1024u * 1024u)

typedef struct sshbpp_driver sshbpp_driver;

/* Decides the server's host key (client): alg is the host key algorithm,
 * fingerprint "SHA256:..." as ssh-keygen -l prints it, blob the public key
 * in SSH form. Returns 1 to accept, 0 to refuse (the handshake then fails
 * with SSHBPP_EHOSTKEYREJECTED before our NEWKEYS). Without a callback
 * every host key is refused. */
typedef int (*sshbpp_driver_hostkey_fn)(void *ctx, const char *alg, const char *fingerprint,
                                        const uint8_t *blob, size_t len);

/* Creates a driver over fd (a connected socket or a pipe-like fd; it is
 * made non-blocking and owned: closed by sshbpp_driver_free()) and a new
 * conn made from cfg. Returns NULL on bad arguments or out of memory (fd is
 * then not closed). */
SSHBPP_API sshbpp_driver *sshbpp_driver_new(int fd, const sshbpp_conn_config *cfg);

/* I/O callbacks, for a transport that is not a pollable fd (or to wrap
 * one). read and write must not block: they return the count of bytes
 * moved (> 0), 0 from read at end of stream, SSHBPP_EAGAIN when nothing
 * can move now, or another negative code (the connection then fails with
 * SSHBPP_EIO). wait blocks until reading (want_read) or writing
 * (want_write) may make progress, wake() is called, or timeout_ms passes
 * (-1: no limit); a spurious return is harmless; a negative return fails
 * the connection. wait returns 0 when it does not know which way is ready
 * (the driver then tries both), or a mask with SSHBPP_DRIVER_IO_KNOWN set:
 * SSHBPP_DRIVER_IO_READABLE and/or SSHBPP_DRIVER_IO_WRITABLE for what is
 * ready (an error or hang-up counts as both), SSHBPP_DRIVER_IO_KNOWN alone
 * for a wake-up or a timeout with neither (the driver then leaves a full
 * transport alone). A positive value without SSHBPP_DRIVER_IO_KNOWN (a
 * transport that returns poll()'s count) counts as 0. wake may be called
 * from any thread, also when no wait
 * runs (the next wait then returns at once). close (optional) shuts the
 * transport down for sshbpp_driver_close() and after a DISCONNECT, free
 * (optional) releases ctx in sshbpp_driver_free(). */
#define SSHBPP_DRIVER_IO_READABLE 1
#define SSHBPP_DRIVER_IO_WRITABLE 2
#define SSHBPP_DRIVER_IO_KNOWN    4
typedef struct sshbpp_driver_io {
    long (*read)(void *ctx, void *buf, size_t len);
    long (*write)(void *ctx, const void *buf, size_t len);
    int (*wait)(void *ctx, int want_read, int want_write, int timeout_ms);
    void (*wake)(void *ctx);
    void (*close)(void *ctx);
    void (*free)(void *ctx);
} sshbpp_driver_io;

/* Creates a driver over io (copied) and ctx, and a new conn made from cfg.
 * Returns NULL on bad arguments (read, write, wait and wake are required)
 * or out of memory (io->free is then not called). */
SSHBPP_API sshbpp_driver *sshbpp_driver_new_io(const sshbpp_driver_io *io, void *ctx,
                                               const sshbpp_conn_config *cfg);

/* Connects to host:port over TCP (numeric or resolvable names) within
 * timeout_ms and creates the driver. Returns NULL with *err set
 * (SSHBPP_EINVAL, SSHBPP_EIO, SSHBPP_ETIMEDOUT, SSHBPP_ENOMEM). */
SSHBPP_API sshbpp_driver *sshbpp_driver_connect(const char *host, const char *port,
                                                const sshbpp_conn_config *cfg, int64_t timeout_ms,
                                                int *err);

/* Frees the driver, its conn, and closes the fd. No other thread may be
 * inside a call on it (sshbpp_driver_close() them out first). */
SSHBPP_API void sshbpp_driver_free(sshbpp_driver *d);

/* Wakes every waiting call, which return SSHBPP_ECLOSED, shuts the socket
 * down, and makes every later call return SSHBPP_ECLOSED. Thread-safe,
 * idempotent. */
SSHBPP_API void sshbpp_driver_close(sshbpp_driver *d);

/* The default timeout for calls passed SSHBPP_TIMEOUT_DEFAULT (< 0: none). */
SSHBPP_API void sshbpp_driver_set_timeout(sshbpp_driver *d, int64_t timeout_ms);

/* The host key callback (client); set before sshbpp_driver_handshake(). */
SSHBPP_API void sshbpp_driver_set_hostkey_cb(sshbpp_driver *d, sshbpp_driver_hostkey_fn fn,
                                             void *ctx);

/* The conn inside, for configuration before the handshake (host keys,
 * sshbpp_engine_set_rekey_limits() on sshbpp_conn_engine()) and for its
 * getters while no other thread uses the driver. Valid until free. */
SSHBPP_API sshbpp_conn *sshbpp_driver_conn(sshbpp_driver *d);

/* Version exchange and first key exchange. Returns 0, SSHBPP_ETIMEDOUT,
 * SSHBPP_ESTATE (called twice), or the conn's error (SSHBPP_EHOSTKEYREJECTED,
 * SSHBPP_EHANDSHAKE, ...). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_handshake(sshbpp_driver *d, int64_t timeout_ms);

/* Client authentication (sshbpp_conn_auth_*). Return 0 when the server
 * accepted, the soft SSHBPP_EREFUSED when it refused (the methods that can
 * continue and the partial-success flag: sshbpp_driver_auth_methods()),
 * SSHBPP_ETIMEDOUT (the request stays outstanding: a later auth call gets
 * SSHBPP_ESTATE until the answer was read by some call), or the conn's
 * codes. keyboard-interactive prompts are answered by respond (NULL:
 * empty answers). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_auth_none(sshbpp_driver *d, const char *user,
                                                       int64_t timeout_ms);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_auth_password(sshbpp_driver *d, const char *user,
                                                           const char *password,
                                                           int64_t timeout_ms);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_auth_publickey(sshbpp_driver *d, const char *user,
                                                            const uint8_t *pubkey_blob,
                                                            size_t pub_len, sshbpp_sign_fn sign,
                                                            void *ctx, int64_t timeout_ms);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_auth_publickey_file(sshbpp_driver *d, const char *user,
                                                                 const char *path,
                                                                 int64_t timeout_ms);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_auth_kbdint(sshbpp_driver *d, const char *user,
                                                         sshbpp_kbdint_fn respond, void *ctx,
                                                         int64_t timeout_ms);
/* The last refusal: methods that can continue (copied into buf, cap
 * bytes, truncated) and *partial. Returns 0 or SSHBPP_EINVAL. */
SSHBPP_API int sshbpp_driver_auth_methods(sshbpp_driver *d, char *buf, size_t cap, int *partial);

/* Server: waits until a client authenticated (the conn's auth callback
 * decides). Returns 0, SSHBPP_ETIMEDOUT or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_wait_auth(sshbpp_driver *d, int64_t timeout_ms);

/* Sends one application message (as sshbpp_conn_send()). Waits while more
 * than SSHBPP_DRIVER_TX_HIGH bytes are unwritten or the conn's queue is
 * full; a timeout then returns SSHBPP_ETIMEDOUT with nothing sent. On 0
 * the message is the conn's: it goes out in order. Thread-safe. Use
 * sshbpp_driver_global_request() for global requests that want a reply. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_send(sshbpp_driver *d, const void *payload, size_t len,
                                                  int64_t timeout_ms);

/* Sends n application messages, msgs[0] first, each as
 * sshbpp_driver_send() would, but writes once for all of them: a bulk
 * sender's system calls then carry many packets (as
 * sshbpp_packetizer_send_messages()). Another thread's message can land
 * between two of them only where this call had to wait for room. Returns 0
 * once all n are the conn's, or the first message's error (SSHBPP_EINVAL
 * for n == 0 or a NULL msgs/base); *queued (may be NULL) gets how many
 * were taken: those go out in order, none after them. Thread-safe. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_send_batch(sshbpp_driver *d, const sshbpp_iov *msgs,
                                                        size_t n, size_t *queued,
                                                        int64_t timeout_ms);

/* Waits until everything sent so far (including messages queued behind a
 * running key exchange) has been written to the fd, driving (reading too)
 * meanwhile. A send returns once its message is the conn's, with up to
 * SSHBPP_DRIVER_TX_HIGH bytes still unwritten, and output is only written
 * while some thread is inside a call: a program whose threads are about to
 * stop calling (a sender that is done while the peer still reads) calls
 * this first. Returns 0, SSHBPP_ETIMEDOUT or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_flush(sshbpp_driver *d, int64_t timeout_ms);

/* Receives the next application message into buf (cap bytes); *len gets
 * its length. Returns 0, SSHBPP_EBUFSMALL (*len says how much is needed;
 * the message stays first), SSHBPP_ETIMEDOUT, or the conn's error once the
 * inbox is empty. Thread-safe (each message goes to one caller). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_recv(sshbpp_driver *d, void *buf, size_t cap,
                                                  size_t *len, int64_t timeout_ms);

/* Sends SSH_MSG_GLOBAL_REQUEST name, want_reply, data and, with want_reply,
 * waits for its answer (replies come in request order). Returns 0
 * (REQUEST_SUCCESS, or sent without want_reply), SSHBPP_EREFUSED
 * (REQUEST_FAILURE), SSHBPP_ETIMEDOUT (the request went out; its late
 * answer is dropped), or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_global_request(sshbpp_driver *d, const char *name,
                                                            int want_reply, const void *data,
                                                            size_t len, int64_t timeout_ms);

/* Starts a key exchange and waits until it completed. Returns 0,
 * SSHBPP_ETIMEDOUT (the exchange goes on), or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_rekey(sshbpp_driver *d, int64_t timeout_ms);

/* Sends DISCONNECT and waits (at most timeout_ms) until it was written;
 * the connection is closed afterwards (SSHBPP_ECLOSED). Returns 0,
 * SSHBPP_ETIMEDOUT (not all written), SSHBPP_EIO (the transport failed,
 * its write or its wait, before all was written), or the earlier error. */
SSHBPP_API int sshbpp_driver_disconnect(sshbpp_driver *d, uint32_t reason, const char *description,
                                        int64_t timeout_ms);

/* Copies of the conn's facts, safe from any thread. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_get_info(sshbpp_driver *d, sshbpp_kex_info *out);
SSHBPP_API int sshbpp_driver_error(sshbpp_driver *d);
/* A DISCONNECT received: its text copied into buf (cap bytes) and *reason.
 * Returns 0, or SSHBPP_EINVAL if none was received. */
SSHBPP_API int sshbpp_driver_disconnect_reason(sshbpp_driver *d, uint32_t *reason, char *buf,
                                               size_t cap);

#ifdef __cplusplus
}
#endif
#endif
