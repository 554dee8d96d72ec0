/*
 * sshbpp_driver_channel.h: blocking session channels over a sshbpp_driver
 * (sshbpp_driver.h), on the sans-I/O channel layer (sshbpp_channel.h).
 *
 * The object takes the driver's received application messages: once it
 * exists, do not call sshbpp_driver_recv() yourself. Received channel data
 * is buffered per channel and stream (stdout, stderr) up to our window
 * (the window is granted back as the caller reads, so a peer can never
 * make us hold more than the window plus one packet per channel); a
 * caller that waits for the exit status without reading a command's
 * output can therefore wait until its timeout when the output exceeds the
 * window, as with any SSH client.
 *
 * The peer's channel opens, channel requests and global requests are
 * refused (a client has no use for them yet).
 *
 * Threads: every call is thread-safe. Several threads may each use their
 * own channel of one connection at once (one thread per channel and
 * direction is the intended shape: a reader of stdout, a reader of
 * stderr and a writer may be three threads on one channel); two threads
 * reading the same stream of one channel get the bytes in some split.
 * The object shares the driver's mutex, and no call holds it while it
 * waits: one waiting thread polls the connection while the others sleep
 * on the driver's condition variable until a message arrives for anyone
 * or their own condition holds, so a thread blocked reading channel A
 * never stops a writer on channel B (nor on A), and nothing busy-waits.
 * Received messages are decoded by whichever waiting thread sees them
 * first, into the channel they belong to. The driver's own calls
 * (global requests, rekey, disconnect, close) may run from other threads
 * meanwhile, except sshbpp_driver_recv(), which would take the channels'
 * messages. sshbpp_driver_close() wakes every channel call
 * (SSHBPP_ECLOSED). Free the object only when no call on it runs.
 *
 * Timeouts: as the driver's (> 0 a limit, < 0 none, 0 the driver's
 * default); a timeout is the soft SSHBPP_ETIMEDOUT.
 */
#ifndef SSHBPP_DRIVER_CHANNEL_H
#define SSHBPP_DRIVER_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp_channel.h"
#include "sshbpp_driver.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshbpp_driver_channels sshbpp_driver_channels;

/* Creates the blocking channel layer over d (authenticated or not yet;
 * cfg NULL: defaults; manual_window is implied). d must outlive it.
 * Returns NULL on bad arguments or out of memory. */
SSHBPP_API sshbpp_driver_channels *sshbpp_driver_channels_new(sshbpp_driver *d,
                                                              const sshbpp_channels_config *cfg);
SSHBPP_API void sshbpp_driver_channels_free(sshbpp_driver_channels *dc);

/* Opens a session channel and waits for the answer. Returns 0 (*id set),
 * SSHBPP_EREFUSED (the peer refused: *reason, if not NULL, gets the RFC
 * 4254 reason code), SSHBPP_ECHANLIMIT, SSHBPP_ETIMEDOUT (*id set: the
 * channel is still opening; close it), or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_open_session(sshbpp_driver_channels *dc,
                                                                  uint32_t *id, uint32_t *reason,
                                                                  int64_t timeout_ms);

/* exec / shell / subsystem, waiting for the answer. Returns 0,
 * SSHBPP_EREFUSED, SSHBPP_ESTATE, SSHBPP_ETIMEDOUT or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_exec(sshbpp_driver_channels *dc, uint32_t id,
                                                          const char *command,
                                                          int64_t timeout_ms);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_subsystem(sshbpp_driver_channels *dc,
                                                               uint32_t id, const char *name,
                                                               int64_t timeout_ms);

/* shell, and pty-req (term, e.g. "xterm", with the size in characters; no
 * terminal modes), waiting for the answer. Return as exec. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_shell(sshbpp_driver_channels *dc, uint32_t id,
                                                           int64_t timeout_ms);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_request_pty(sshbpp_driver_channels *dc,
                                                                 uint32_t id, const char *term,
                                                                 uint32_t cols, uint32_t rows,
                                                                 int64_t timeout_ms);
/* Sends an env request (no reply wanted, as OpenSSH sends it: a server
 * that refuses it says nothing). Returns 0, SSHBPP_EINVAL, SSHBPP_ESTATE
 * or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_env(sshbpp_driver_channels *dc, uint32_t id,
                                                         const char *name, const char *value);

/* Reads up to cap bytes of stream ext (0 stdout, 1 stderr). Returns the
 * count (> 0), 0 at the peer's EOF or CLOSE, SSHBPP_ETIMEDOUT, SSHBPP_ESTATE
 * (unknown channel), or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE long sshbpp_driver_channel_read(sshbpp_driver_channels *dc, uint32_t id,
                                                           int ext, void *buf, size_t cap,
                                                           int64_t timeout_ms);

/* As sshbpp_driver_channel_read() from whichever stream has data, stdout
 * first; *ext gets 0 (stdout) or 1 (stderr). One thread can so copy both
 * streams out (sshbpp exec does). Returns as sshbpp_driver_channel_read()
 * (0: the peer's EOF or CLOSE, both streams drained). */
SSHBPP_API SSHBPP_MUST_USE long sshbpp_driver_channel_read_any(sshbpp_driver_channels *dc,
                                                               uint32_t id, int *ext, void *buf,
                                                               size_t cap, int64_t timeout_ms);

/* Writes all of data (ext 0 data, 1 stderr), waiting for the peer's
 * window. Returns 0, SSHBPP_ETIMEDOUT (part may have been sent),
 * SSHBPP_ESTATE (EOF or CLOSE sent, channel not open), or the conn's
 * error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_write(sshbpp_driver_channels *dc, uint32_t id,
                                                           int ext, const void *data, size_t len,
                                                           int64_t timeout_ms);

/* Sends EOF. Returns 0, SSHBPP_ESTATE or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_eof(sshbpp_driver_channels *dc, uint32_t id);

/* Waits for the command's end: returns 0 with *status the exit status, or
 * *status -1 and the signal name in sig (cap bytes; "" if the channel
 * closed with neither). Output still unread stays readable.
 * SSHBPP_ETIMEDOUT, SSHBPP_ESTATE or the conn's error otherwise. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_wait_exit(sshbpp_driver_channels *dc,
                                                               uint32_t id, int *status, char *sig,
                                                               size_t cap, int64_t timeout_ms);

/* Sends CLOSE (if not yet sent) and waits for the peer's; the channel's
 * number and buffers are released. Returns 0, SSHBPP_ETIMEDOUT, SSHBPP_ESTATE
 * or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_close(sshbpp_driver_channels *dc, uint32_t id,
                                                           int64_t timeout_ms);

/* Opens a direct-tcpip channel (RFC 4254 section 7.2: client-side local
 * port forwarding): the peer connects to host:port and the channel then
 * carries that TCP stream, read and written as any other (stream 0;
 * read returns 0 at the peer's EOF or CLOSE). orig_addr/orig_port name
 * the connection that asked for it (NULL: "127.0.0.1"). host is 1 to
 * SSHBPP_DIRECT_TCPIP_MAX_HOST bytes, orig_addr at most that, the ports
 * 0..65535; the strings are copied. Waits for the answer. Returns 0 (*id
 * set), SSHBPP_EINVAL (a bad argument: nothing sent), SSHBPP_EREFUSED
 * (*reason, if not NULL, gets the RFC 4254 reason: 1 administratively
 * prohibited, e.g. sshd's AllowTcpForwarding no; 2 connect failed),
 * SSHBPP_ECHANLIMIT, SSHBPP_ETIMEDOUT (*id set: still opening; close
 * it), or the conn's error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channel_open_direct_tcpip(
    sshbpp_driver_channels *dc, const char *host, uint32_t port, const char *orig_addr,
    uint32_t orig_port, uint32_t *id, uint32_t *reason, int64_t timeout_ms);

/* Services the connection without waiting on a channel of its own: takes
 * the messages of every channel (other threads' calls wake up), answers
 * the peer's requests and takes part in key exchanges, until the timeout
 * (SSHBPP_ETIMEDOUT; < 0: none) or the connection ends (SSHBPP_ECLOSED
 * when the peer or sshbpp_driver_close() ends it, else the conn's error).
 * For a thread that has nothing else to do while other threads use
 * channels (sshbpp exec -N). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_driver_channels_service(sshbpp_driver_channels *dc,
                                                             int64_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
