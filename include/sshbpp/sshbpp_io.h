/*
 * sshbpp_io.h: the blocking Packetizer, paramiko's Packetizer in C, built on
 * the sans-I/O engine (sshbpp.h). It is the only part of sshbpp that reads
 * clocks and touches file descriptors.
 *
 * Threads: any number of threads may call sshbpp_packetizer_send_message() (and the
 * other sending calls) at once; sends are serialised by a mutex. One thread
 * reads (read_message, read_all, readline); the reader never takes the write
 * mutex except in sshbpp_packetizer_set_outbound_cipher()/compressor and
 * sshbpp_packetizer_reset_seqno_out(), which change sending state.
 *
 * Time: milliseconds (int64_t) everywhere, as in the whole library. A
 * blocked read wakes every poll interval (100 ms by default, as paramiko's
 * 0.1 s socket timeout) to check the handshake timer, the rekey flag and
 * the keepalive timer. Timeouts use CLOCK_MONOTONIC.
 */
#ifndef SSHBPP_IO_H
#define SSHBPP_IO_H

#include "sshbpp_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshbpp_packetizer sshbpp_packetizer;

/* Transport callbacks, for pipes, proxies and tunnels. Both follow read(2)
 * and write(2): they return a byte count, 0 for end of file (read only), or
 * -1 with errno set. EINTR is retried; for read, EAGAIN, EWOULDBLOCK and
 * ETIMEDOUT mean "nothing arrived within timeout_ms" (timeout_ms is -1 for
 * "wait forever"); for write, EAGAIN/EWOULDBLOCK are retried after a short
 * wait. Any other errno ends the connection with SSHBPP_EIO (write: as
 * paramiko, SSHBPP_EEOF). close may be NULL. */
typedef struct sshbpp_io_callbacks {
    long (*read)(void *ctx, void *buf, size_t len, int timeout_ms);
    long (*write)(void *ctx, const void *buf, size_t len);
    void (*close)(void *ctx);
} sshbpp_io_callbacks;

/* Creates a Packetizer over a connected stream socket or pipe fd (read and
 * write on the same fd). The Packetizer does not change the fd's flags; it
 * waits with poll(). own_fd 1 makes sshbpp_packetizer_close() close the fd.
 * Returns NULL if memory runs out. Free with sshbpp_packetizer_free(). */
SSHBPP_API sshbpp_packetizer *sshbpp_packetizer_new_fd(int fd, int own_fd);

/* Creates a Packetizer over callbacks; *cb is copied, ctx is passed back
 * to them. Returns NULL on a NULL/incomplete cb or out of memory. */
SSHBPP_API sshbpp_packetizer *sshbpp_packetizer_new_cb(const sshbpp_io_callbacks *cb, void *ctx);

/* Closes (if still open) and frees the Packetizer and its engine. */
SSHBPP_API void sshbpp_packetizer_free(sshbpp_packetizer *p);

/* The engine inside, for engine-level settings (rekey limits, max packet,
 * trace, random padding, stats). Owned by the Packetizer. */
SSHBPP_API sshbpp_engine *sshbpp_packetizer_engine(sshbpp_packetizer *p);

/* Sets how often a blocked read wakes to check timers (1..60000 ms).
 * Returns 0 or SSHBPP_EINVAL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_set_poll_interval(sshbpp_packetizer *p, int ms);

/* ---- raw I/O (paramiko read_all / write_all / readline) ---- */

/* Reads exactly n raw bytes (bytes already buffered come first). If
 * check_rekey is set and the rekey flag is on when a poll interval passes
 * with nothing read by this call, returns SSHBPP_ENEEDREKEY (soft; nothing
 * consumed). Returns 0, SSHBPP_EINVAL, SSHBPP_ENEEDREKEY, or fatal
 * SSHBPP_EEOF, SSHBPP_EIO, SSHBPP_EHANDSHAKE, or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_read_all(sshbpp_packetizer *p, void *buf, size_t n,
                                               int check_rekey);

/* Writes all n bytes, retrying short writes, EINTR and EAGAIN. Refreshes
 * the keepalive timer. Like paramiko, 12 consecutive writes that accept
 * nothing (or write errors) give up. Returns 0, or fatal SSHBPP_EWRITE0,
 * SSHBPP_EEOF (write error; errno kept), or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_write_all(sshbpp_packetizer *p, const void *buf, size_t n);

/* Reads one line (the version banner) of at most cap-1 bytes into buf,
 * without "\n" and one trailing "\r", NUL-terminated; bytes after the line
 * stay buffered for the packets that follow. timeout_ms bounds the wait for
 * each chunk of input, as paramiko (<= 0: wait forever); unlike paramiko,
 * the handshake timer (sshbpp_packetizer_start_handshake) also applies, so a peer
 * trickling its banner byte by byte cannot outlast it. Returns the line
 * length (>= 0), or SSHBPP_ETIMEDOUT (soft), SSHBPP_EBUFSMALL, or fatal
 * SSHBPP_ELINELONG, SSHBPP_EHANDSHAKE, SSHBPP_EEOF, SSHBPP_EIO, or the
 * sticky error. */
SSHBPP_API SSHBPP_MUST_USE long sshbpp_packetizer_readline(sshbpp_packetizer *p, char *buf,
                                                           size_t cap, int64_t timeout_ms);

/* ---- packets ---- */

/* Sends one message (payload incl. type byte); returns after the wire bytes
 * were written. Thread-safe. Returns 0, SSHBPP_EINVAL, SSHBPP_EPAYLOADLEN,
 * or any fatal error of sshbpp_engine_send() or sshbpp_packetizer_write_all(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_send_message(sshbpp_packetizer *p, const void *payload,
                                                   size_t len);

/* Sends n messages with one write (one send(2) of the contiguous wire
 * bytes; more only if the socket takes them in parts), under the send
 * mutex, so no other sender's packet lands between them. Built by
 * sshbpp_engine_send_batch(): a soft error (SSHBPP_EINVAL,
 * SSHBPP_EPAYLOADLEN on any message) sends nothing; a fatal build error
 * on message k closes the connection and nothing of the batch is written
 * (the peer would see a truncated stream either way). Returns 0 once all
 * were written, or those errors, or any fatal error of
 * sshbpp_packetizer_write_all(). Thread-safe. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_send_messages(sshbpp_packetizer *p,
                                                               const sshbpp_iov *msgs, size_t n);

/* Blocks until one message arrives and fills *pkt (payload valid until the
 * next read call). Returns 0 with *pkt set, SSHBPP_ENEEDREKEY (soft: the rekey flag is on
 * and nothing of the next packet has arrived for a poll interval, as
 * paramiko's NeedRekeyException), or fatal SSHBPP_EEOF (clean EOF between
 * packets), SSHBPP_EEOFPKT (EOF inside a packet), SSHBPP_EIO, SSHBPP_EHANDSHAKE,
 * any error of sshbpp_engine_rx_next(), or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_read_message(sshbpp_packetizer *p, sshbpp_packet *pkt);

/* ---- keys, compression, sequence numbers ---- */

/* As sshbpp_engine_set_keys() for one direction. The outbound setter takes
 * the write mutex. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_set_inbound_cipher(sshbpp_packetizer *p,
                                                         const sshbpp_keys *k);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_set_outbound_cipher(sshbpp_packetizer *p,
                                                          const sshbpp_keys *k);

/* As sshbpp_engine_set_compression() for one direction. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_set_inbound_compressor(sshbpp_packetizer *p,
                                                             const char *name);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_packetizer_set_outbound_compressor(sshbpp_packetizer *p,
                                                              const char *name);

SSHBPP_API void sshbpp_packetizer_reset_seqno_in(sshbpp_packetizer *p);
SSHBPP_API void sshbpp_packetizer_reset_seqno_out(sshbpp_packetizer *p);

/* 1 if a rekey should be started, else 0: the engine's limits were hit,
 * or the flag below is on. */
SSHBPP_API int sshbpp_packetizer_need_rekey(const sshbpp_packetizer *p);

/* For a caller that frames some packets itself (the Python binding's
 * compatible path, with paramiko's own cipher objects) or asks for a rekey
 * (paramiko's _trigger_rekey()): a rekey flag that need_rekey(), read_all's
 * check_rekey, read_message's SSHBPP_ENEEDREKEY and the keepalive condition
 * honour as they do the engine's. Stays on until cleared with on = 0. */
SSHBPP_API void sshbpp_packetizer_set_rekey_flag(sshbpp_packetizer *p, int on);

/* Marks the outbound direction as keyed (on 1) when the caller frames and
 * encrypts packets itself and sends them with write_all (the Python
 * compatible path), so that the keepalive runs as paramiko's does once an
 * outbound cipher exists. The next sshbpp_packetizer_set_outbound_cipher()
 * sets the mark from its own cipher again. */
SSHBPP_API void sshbpp_packetizer_set_outbound_keyed(sshbpp_packetizer *p, int on);

/* ---- keepalive, handshake timer, logging, close ---- */

/* Called on the reader thread when the connection has been idle (nothing
 * written) for interval_ms while a read waits, an outbound cipher is set,
 * and no rekey is pending, as paramiko. The callback may call
 * sshbpp_packetizer_send_message(). interval_ms <= 0 disables. */
typedef void (*sshbpp_keepalive_fn)(sshbpp_packetizer *p, void *ctx);
SSHBPP_API void sshbpp_packetizer_set_keepalive(sshbpp_packetizer *p, int64_t interval_ms,
                                                sshbpp_keepalive_fn cb, void *ctx);

/* Handshake timer: start_handshake arms it once (later calls are no-ops);
 * reads fail with SSHBPP_EHANDSHAKE once it has run out and
 * complete_handshake() was not called; complete_handshake disarms it. */
SSHBPP_API void sshbpp_packetizer_start_handshake(sshbpp_packetizer *p, int64_t timeout_ms);
SSHBPP_API int sshbpp_packetizer_handshake_timed_out(const sshbpp_packetizer *p);
SSHBPP_API void sshbpp_packetizer_complete_handshake(sshbpp_packetizer *p);

/* Logging, as sshbpp_engine_set_log()/set_hexdump(). */
SSHBPP_API void sshbpp_packetizer_set_log(sshbpp_packetizer *p, sshbpp_log_fn fn, void *ctx);
SSHBPP_API void sshbpp_packetizer_set_hexdump(sshbpp_packetizer *p, int on);
SSHBPP_API int sshbpp_packetizer_get_hexdump(const sshbpp_packetizer *p);

/* Marks the Packetizer closed (reads and writes then fail with
 * SSHBPP_ECLOSED, or the earlier sticky error), shuts the socket down so
 * blocked calls wake, and closes the fd (if owned; once no other thread is
 * inside a call on it) or calls the close callback. Idempotent; safe from
 * another thread: a blocked reader returns within one poll interval (at
 * once on a socket). Keys are wiped by sshbpp_packetizer_free(), not here,
 * because another thread may be inside a cipher call. */
SSHBPP_API void sshbpp_packetizer_close(sshbpp_packetizer *p);
SSHBPP_API int sshbpp_packetizer_closed(const sshbpp_packetizer *p);

/* The errno saved by the last SSHBPP_EIO / SSHBPP_EEOF from a system call,
 * or 0. */
SSHBPP_API int sshbpp_packetizer_last_errno(const sshbpp_packetizer *p);

#ifdef __cplusplus
}
#endif
#endif
