/*
 * sshbpp_engine.h: the SSH Binary Packet Protocol engine (RFC 4253 section 6 with
 * OpenSSH's EtM, AES-GCM and chacha20-poly1305 extensions), sans I/O.
 *
 * Conventions
 *  - The engine never touches a socket or a clock. Ciphertext goes in through
 *    sshbpp_engine_rx_space()/rx_commit() (or the copying sshbpp_engine_feed())
 *    and verified, decrypted messages come out of sshbpp_engine_rx_next().
 *    Messages go in through sshbpp_engine_send() (or tx_begin()/tx_end() to
 *    write the payload in place) and wire bytes come out of
 *    sshbpp_engine_tx_data()/tx_consume(). Input split at any byte boundary
 *    gives identical results.
 *  - A "payload" is the SSH message including its type byte (RFC 4253's
 *    payload field), before compression on send and after decompression on
 *    receive.
 *  - The engine owns its buffers. They grow to the largest packet seen (never
 *    beyond the maximum packet size plus fixed overhead) and are reused; no
 *    heap allocation happens per packet in steady state.
 *    sshbpp_engine_shrink() gives idle buffers back.
 *  - Errors are negative codes from sshbpp_error.h. The first fatal error is
 *    recorded, the engine closes, and every later call returns it.
 *  - Threads: the receive calls (rx_*, feed, set_keys/compression/reset_seqno
 *    for SSHBPP_DIR_IN) and the send calls (tx_*, send, the same setters for
 *    SSHBPP_DIR_OUT) touch disjoint state. One thread may receive while
 *    another sends; each side must be used by one thread at a time. The
 *    shared bits (sticky error, rekey flag, initial-kex flag, statistics) are
 *    atomic. Configuration setters (limits, callbacks, rng, max packet) must be
 *    called before traffic flows or with both sides idle.
 */
#ifndef SSHBPP_ENGINE_H
#define SSHBPP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSHBPP_VERSION_STRING "0.1.0"

/* OpenSSH's PACKET_MAX_SIZE: the default bound on packet_length. */
#define SSHBPP_DEFAULT_MAX_PACKET (256u * 1024u)
/* Largest settable bound on packet_length. */
#define SSHBPP_MAX_PACKET_LIMIT (16u * 1024u * 1024u)
/* Smallest settable bound: RFC 4253 requires 35000-byte packets to work. */
#define SSHBPP_MIN_PACKET_LIMIT 35000u

enum sshbpp_dir { SSHBPP_DIR_IN = 0, SSHBPP_DIR_OUT = 1 };

typedef struct sshbpp_engine sshbpp_engine;

/* ===================================================================== */
/* Lifecycle                                                              */

/* Creates an engine with no keys (cipher "none", block size 8), no
 * compression, sequence numbers 0, the default limits, and libcrypto's
 * RAND_bytes for padding. Returns NULL if memory runs out. The caller owns
 * the engine and frees it with sshbpp_engine_free(). */
SSHBPP_API sshbpp_engine *sshbpp_engine_new(void);

/* Wipes every key and buffer and frees the engine. NULL is a no-op. */
SSHBPP_API void sshbpp_engine_free(sshbpp_engine *e);

/* Returns the sticky error (a fatal SSHBPP_E* code) or 0 while open. */
SSHBPP_API int sshbpp_engine_error(const sshbpp_engine *e);

/* Closes the engine on the owner's behalf: records SSHBPP_ECLOSED unless an
 * error is already recorded. Idempotent and safe from any thread; key
 * material is wiped by sshbpp_engine_free() (not here, because the other
 * half may be inside a cipher call on another thread). */
SSHBPP_API void sshbpp_engine_close(sshbpp_engine *e);

/* Records err as the sticky error (if none is recorded yet) and closes the
 * engine. For layers above the engine (I/O failures, EOF). Returns the
 * recorded error, which may be an earlier one. err must be fatal; a soft
 * code is recorded as SSHBPP_EPROTO. */
SSHBPP_API int sshbpp_engine_fail(sshbpp_engine *e, int err);

/* Frees buffer memory that holds no pending data (rx and tx); the buffers
 * grow again on demand. It counts as a receive call and a send call: the
 * payload last returned by rx_next() is invalid afterwards, and neither
 * half may be in use by another thread meanwhile (call it from an idle
 * connection's event loop, or with the reader and senders quiet).
 * Afterwards an idle engine holds no buffer memory at all: what remains is
 * the engine struct (under 1 KiB on x86-64) and libcrypto's cipher and MAC
 * contexts for its keys (about 3.3 KB per keyed aes128-gcm engine in
 * examples/scale_epoll.c, whose idle keyed ends measure 10 to 12 KB of
 * resident memory each at 10,000 connections, allocator overhead included). */
SSHBPP_API void sshbpp_engine_shrink(sshbpp_engine *e);

/* ===================================================================== */
/* Algorithms                                                             */

enum sshbpp_alg_kind { SSHBPP_ALG_CIPHER = 0, SSHBPP_ALG_MAC = 1, SSHBPP_ALG_COMP = 2 };

/* Returns the NULL-terminated list of supported names of one kind, in a
 * sensible preference order. Static storage. NULL for an unknown kind. */
SSHBPP_API const char *const *sshbpp_alg_list(enum sshbpp_alg_kind kind);

/* Facts about a cipher, for key derivation. Any out pointer may be NULL.
 * Returns 0, SSHBPP_EINVAL (name NULL) or SSHBPP_EUNSUPPORTED. */
typedef struct sshbpp_cipher_info {
    size_t key_len;    /* bytes of key (chacha20-poly1305: 64) */
    size_t iv_len;     /* bytes of IV (CTR/CBC: block size, GCM: 12, chacha: 0) */
    size_t block_size; /* RFC 4253 block size for padding (at least 8) */
    size_t tag_len;    /* AEAD tag bytes (16), 0 for non-AEAD */
    int aead;          /* 1 for GCM and chacha20-poly1305: no separate MAC */
} sshbpp_cipher_info;
SSHBPP_API int sshbpp_cipher_get_info(const char *name, sshbpp_cipher_info *out);

typedef struct sshbpp_mac_info {
    size_t key_len; /* bytes of MAC key (= digest size) */
    size_t mac_len; /* bytes on the wire (-96 variants: 12) */
    int etm;        /* 1 for the -etm@openssh.com forms */
} sshbpp_mac_info;
SSHBPP_API int sshbpp_mac_get_info(const char *name, sshbpp_mac_info *out);

/* Raw key material for one direction, as RFC 4253 section 7.2 derives it. */
typedef struct sshbpp_keys {
    const char *cipher;     /* SSH name, e.g. "aes128-ctr"; NULL or "none" for none */
    const uint8_t *key;     /* cipher key, key_len bytes */
    size_t key_len;
    const uint8_t *iv;      /* initial IV / nonce, iv_len bytes */
    size_t iv_len;
    const char *mac;        /* SSH name, e.g. "hmac-sha2-256"; NULL or "none" for
                               none; ignored for AEAD ciphers */
    const uint8_t *mac_key; /* mac_key_len bytes */
    size_t mac_key_len;
} sshbpp_keys;

/* Switches one direction to new keys, effective from the next packet
 * (for SSHBPP_DIR_IN: call it after rx_next() returned NEWKEYS and before
 * the next rx_next()). The engine copies what it needs; the caller may wipe
 * k's buffers afterwards. The previous keys are wiped. Like paramiko it
 * resets that direction's rekey counters (not its sequence number), and the
 * rekey flag clears once both directions have switched. Setting inbound keys
 * also marks the initial key exchange as done (see
 * sshbpp_engine_set_initial_kex_done()).
 * Returns 0, SSHBPP_EINVAL, SSHBPP_EUNSUPPORTED, SSHBPP_EKEYLEN (soft: the
 * old keys stay), or the sticky error / SSHBPP_ENOMEM / SSHBPP_ECRYPTO. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_set_keys(sshbpp_engine *e, enum sshbpp_dir dir,
                                                      const sshbpp_keys *k);

/* Sets one direction's compression: "none" (or NULL), "zlib" or
 * "zlib@openssh.com" (the two differ only in when the caller switches them
 * on). Effective from the next packet; zlib state persists across packets.
 * Setting zlib on a direction that already compresses keeps the stream;
 * to start a fresh one, as OpenSSH and paramiko do at every NEWKEYS (and
 * as sshbpp_kex does), set "none" and then "zlib".
 * Returns 0, SSHBPP_EINVAL (e NULL, dir not IN or OUT), SSHBPP_EUNSUPPORTED,
 * SSHBPP_ENOMEM, or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_set_compression(sshbpp_engine *e, enum sshbpp_dir dir,
                                                             const char *name);

/* ===================================================================== */
/* Receiving                                                              */

/* Returns a pointer to at least `want` writable bytes at the end of the
 * input buffer (or fewer, *room tells, if the buffer reached its bound:
 * maximum packet + overhead + `want`), for the caller to read ciphertext
 * into directly; then sshbpp_engine_rx_commit(n). want 0 means a default
 * chunk (64 KiB). Returns NULL (and *room 0) once closed or out of memory
 * (then the sticky error says which), or, with no error recorded, when the
 * bounded buffer is full: the caller must call rx_next()/rx_line() first
 * (reading more from the peer would not fit a single packet anyway). */
SSHBPP_API uint8_t *sshbpp_engine_rx_space(sshbpp_engine *e, size_t want, size_t *room);

/* Declares n bytes written at the pointer rx_space() returned.
 * n must not exceed that room; it is clamped if it does. */
SSHBPP_API void sshbpp_engine_rx_commit(sshbpp_engine *e, size_t n);

/* Copies len input bytes into the engine. Unlike rx_space(), the buffer
 * grows to whatever the caller feeds at once (the caller decides that, not
 * the peer). Returns 0, SSHBPP_EINVAL, or the sticky error / SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_feed(sshbpp_engine *e, const void *data, size_t len);

/* Bytes received and not yet consumed by rx_next/rx_line/rx_take. */
SSHBPP_API size_t sshbpp_engine_rx_pending(const sshbpp_engine *e);

/* One received message. payload points into the engine and stays valid
 * until the next receive call. */
typedef struct sshbpp_packet {
    const uint8_t *payload; /* message incl. type byte, decompressed */
    size_t len;             /* at least 1 */
    uint8_t type;           /* payload[0] */
    uint32_t seqno;         /* sequence number of this packet */
} sshbpp_packet;

/* Decodes the next packet from buffered input: checks packet_length against
 * the minimum (5), the maximum and the block size before any arithmetic,
 * verifies the MAC or tag in constant time (before decrypting for EtM and
 * AEAD), checks padding (4 <= padding < packet_length - 1), decompresses
 * within the maximum packet size, advances the sequence number and the
 * counters. Returns 0 with *pkt filled, the soft SSHBPP_EAGAIN if more
 * input is needed (nothing is consumed beyond what is buffered), or a fatal
 * error:
 * SSHBPP_EPKTSHORT, SSHBPP_EPKTLONG, SSHBPP_EBLOCKALIGN, SSHBPP_EMAC,
 * SSHBPP_ETAG, SSHBPP_EPADSHORT, SSHBPP_EPADLONG, SSHBPP_EEMPTY,
 * SSHBPP_EDECOMP, SSHBPP_EDECOMPLONG, SSHBPP_ESEQWRAP (a packet numbered
 * 0xffffffff before the initial kex is done), SSHBPP_EREKEYIGNORED,
 * SSHBPP_ECRYPTO, SSHBPP_ENOMEM, or an earlier sticky error. On error the
 * failing packet is not returned and nothing after it is looked at. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_rx_next(sshbpp_engine *e, sshbpp_packet *pkt);

/* Extracts one text line (the version exchange) from buffered input, which
 * must be between packets. The line is copied without its "\n" and without
 * one trailing "\r" and NUL-terminated. Returns 0 with *len set, the soft
 * SSHBPP_EAGAIN if no complete line is buffered yet, SSHBPP_EBUFSMALL if cap is 0, SSHBPP_EINVAL
 * in the middle of a packet, or SSHBPP_ELINELONG (fatal) when the line
 * cannot fit cap-1 bytes (detected as soon as more than cap bytes are
 * buffered without a newline). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_rx_line(sshbpp_engine *e, char *line, size_t cap,
                                                     size_t *len);

/* Moves up to n raw buffered input bytes (no decryption) to out; only
 * between packets. Returns the count moved (0 if none are buffered),
 * SSHBPP_EINVAL in the middle of a packet, or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE long sshbpp_engine_rx_take(sshbpp_engine *e, void *out, size_t n);

/* Returns 1 if the packet being received has at least one byte buffered
 * (a read that times out now is in the middle of a packet), else 0. */
SSHBPP_API int sshbpp_engine_rx_in_packet(const sshbpp_engine *e);

/* ===================================================================== */
/* Sending                                                                */

/* Builds one packet from payload (message incl. type byte) and appends its
 * wire bytes to the output: compression, padding (at least 4 bytes, random
 * once a cipher is set), encryption and MAC, all in place in the output
 * buffer. Returns 0, SSHBPP_EINVAL, SSHBPP_EPAYLOADLEN (len 0, or above
 * the maximum packet size minus 64 bytes of framing, less zlib's worst-case
 * expansion when compressing: soft, nothing is sent), or a fatal error:
 * SSHBPP_ESEQWRAP (this packet would be numbered 0xffffffff before the
 * initial kex is done; nothing is produced), SSHBPP_ECOMP, SSHBPP_ECRYPTO,
 * SSHBPP_ENOMEM, or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_send(sshbpp_engine *e, const void *payload,
                                                  size_t len);

/* Zero-copy send: returns a pointer where the caller writes up to max_len
 * payload bytes, then calls sshbpp_engine_tx_end() with the length written.
 * No other send call may come in between. Returns NULL if max_len is 0 or
 * above the largest payload sshbpp_engine_send() takes (the maximum packet
 * size minus 64, less zlib's worst-case expansion when compressing), if a
 * packet is already begun, or if the engine is closed or out of memory. */
SSHBPP_API uint8_t *sshbpp_engine_tx_begin(sshbpp_engine *e, size_t max_len);

/* Completes the packet begun by tx_begin(). Returns as sshbpp_engine_send(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_tx_end(sshbpp_engine *e, size_t len);

/* One message of a batch: len bytes at base (incl. the type byte). */
typedef struct sshbpp_iov {
    const void *base;
    size_t len;
} sshbpp_iov;

/* Batch send: builds one packet per message, msgs[0] first, each exactly
 * as sshbpp_engine_send() would (same bytes for the same RNG output),
 * appended one after another to the output so that tx_data() returns them
 * all as one contiguous run for a single write. The output buffer is
 * reserved once for the whole batch; each payload is copied once, into its
 * packet, and sealed in place there (the zero-copy alternative is
 * tx_begin()/tx_end() in a loop, then one tx_data()).
 * Failure semantics: every length is checked before anything is built, so
 * a soft error (SSHBPP_EINVAL: msgs NULL with n > 0, or a NULL base with a
 * nonzero len; SSHBPP_EPAYLOADLEN on any message, or a batch whose total
 * size would overflow size_t) builds nothing and
 * *sent is 0. A fatal error on message k (SSHBPP_ESEQWRAP, SSHBPP_ECOMP,
 * SSHBPP_ECRYPTO, SSHBPP_ENOMEM) leaves messages 0..k-1 built in the output
 * (they used sequence numbers and stay readable through tx_data()), sets
 * *sent to k, closes the engine and returns the error. sent may be NULL.
 * Returns 0 with *sent = n (n 0 is a no-op), or the errors above, or the
 * sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_send_batch(sshbpp_engine *e, const sshbpp_iov *msgs,
                                                        size_t n, size_t *sent);

/* Appends raw bytes (the version line) to the output, unframed. Returns 0,
 * SSHBPP_EINVAL (NULL data, or between tx_begin and tx_end), SSHBPP_ENOMEM
 * or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_engine_tx_raw(sshbpp_engine *e, const void *data,
                                                    size_t len);

/* Returns the wire bytes waiting to be written (and their count in *len),
 * or NULL with *len 0 if none. Valid until the next send call. Output is
 * still readable after a fatal error so that what was built can be flushed. */
SSHBPP_API const uint8_t *sshbpp_engine_tx_data(const sshbpp_engine *e, size_t *len);

/* Marks n bytes of tx_data() as written. n is clamped to what is pending. */
SSHBPP_API void sshbpp_engine_tx_consume(sshbpp_engine *e, size_t n);

/* Extra padding against traffic analysis (RFC 4253 allows up to 255 bytes).
 * pad_next(e, m): the next packet only is padded so that the span the
 * block alignment covers (4 + packet_length in classic mode, packet_length
 * for EtM and AEAD, as OpenSSH's sshpkt_add_padding) is a multiple of m
 * rounded up to the block size, where the 255-byte limit allows (OpenSSH
 * does this for password packets with m = 64); 0 cancels.
 * set_random_padding(e, max): every packet gets a random number of extra
 * cipher blocks, at most max bytes and within the 255-byte limit, except a
 * packet aligned by pad_next(); 0 turns it off. Both return 0 or SSHBPP_EINVAL (m or max above 255). */
SSHBPP_API int sshbpp_engine_pad_next(sshbpp_engine *e, unsigned multiple);
SSHBPP_API int sshbpp_engine_set_random_padding(sshbpp_engine *e, unsigned max_extra);

/* ===================================================================== */
/* Sequence numbers, rekey accounting, statistics                         */

/* Sets a direction's sequence number to 0 (strict kex, at NEWKEYS), or to
 * any value (tests, state import). */
SSHBPP_API void sshbpp_engine_reset_seqno(sshbpp_engine *e, enum sshbpp_dir dir);
SSHBPP_API void sshbpp_engine_set_seqno(sshbpp_engine *e, enum sshbpp_dir dir, uint32_t seqno);

/* Until the initial key exchange is done, a packet numbered 0xffffffff in
 * either direction is the fatal SSHBPP_ESEQWRAP (Terrapin hardening, as
 * paramiko 3.4+ and OpenSSH). Setting inbound keys marks it done; this call
 * sets or clears it explicitly. */
SSHBPP_API void sshbpp_engine_set_initial_kex_done(sshbpp_engine *e, int done);

/* Rekey thresholds, per direction, counted since that direction's keys were
 * last set. need_rekey turns on when packets >= packets, bytes >= bytes, or
 * blocks >= the block limit. Once it is on, a peer that sends
 * packets_overflow more packets or bytes_overflow more bytes without
 * completing a rekey is the fatal SSHBPP_EREKEYIGNORED. */
typedef struct sshbpp_rekey_limits {
    uint64_t packets;          /* default 2^29 (paramiko) */
    uint64_t bytes;            /* default 2^29 (paramiko) */
    uint64_t packets_overflow; /* default 2^29 */
    uint64_t bytes_overflow;   /* default 2^29 */
    uint64_t blocks;           /* 0: RFC 4344 per cipher: 2^(2L) blocks for
                                  L >= 16-byte blocks, 2^30/L otherwise (1 GiB);
                                  nonzero: use the smaller of the two */
} sshbpp_rekey_limits;

/* Fills l with the defaults above. */
SSHBPP_API void sshbpp_rekey_limits_default(sshbpp_rekey_limits *l);
/* Copies in / out the engine's limits. set returns 0 or SSHBPP_EINVAL
 * (NULL, or a zero value). Whatever the limits, sending fails with
 * SSHBPP_ESEQWRAP once 2^32 packets went out under one set of keys (the
 * sequence number, chacha20-poly1305's nonce, would repeat). */
SSHBPP_API int sshbpp_engine_set_rekey_limits(sshbpp_engine *e, const sshbpp_rekey_limits *l);
SSHBPP_API void sshbpp_engine_get_rekey_limits(const sshbpp_engine *e, sshbpp_rekey_limits *l);

/* Returns 1 if a rekey should be started, else 0. */
SSHBPP_API int sshbpp_engine_need_rekey(const sshbpp_engine *e);

/* Counters of one direction. */
typedef struct sshbpp_stats {
    uint32_t seqno;          /* next sequence number */
    uint64_t packets;        /* since keys were last set (rekey accounting) */
    uint64_t bytes;          /* wire bytes since keys were last set */
    uint64_t blocks;         /* cipher blocks since keys were last set */
    uint64_t total_packets;  /* since creation */
    uint64_t total_bytes;    /* wire bytes since creation */
    uint64_t total_payload;  /* payload bytes (uncompressed) since creation */
    uint64_t rekeys;         /* times keys were set for this direction */
} sshbpp_stats;

/* Fills *out with one direction's counters. Callable from any thread. */
SSHBPP_API void sshbpp_engine_get_stats(const sshbpp_engine *e, enum sshbpp_dir dir, sshbpp_stats *out);

/* Sets the bound on packet_length (both directions) and on decompressed
 * payloads. Returns 0 or SSHBPP_EINVAL outside
 * [SSHBPP_MIN_PACKET_LIMIT, SSHBPP_MAX_PACKET_LIMIT]. */
SSHBPP_API int sshbpp_engine_set_max_packet(sshbpp_engine *e, uint32_t max_packet_length);
SSHBPP_API uint32_t sshbpp_engine_max_packet(const sshbpp_engine *e);

/* ===================================================================== */
/* Hooks: randomness, trace, log                                          */

/* Fills buf with len random bytes; returns 0 on success, non-zero on failure
 * (which the engine reports as SSHBPP_ECRYPTO). */
typedef int (*sshbpp_rng_fn)(void *ctx, uint8_t *buf, size_t len);
/* Replaces the padding RNG (tests use it for known-answer vectors); NULL
 * restores RAND_bytes. */
SSHBPP_API void sshbpp_engine_set_rng(sshbpp_engine *e, sshbpp_rng_fn fn, void *ctx);

/* Called once per packet after it was sent or received: direction, message
 * type, payload length (uncompressed, incl. type byte), wire length, and the
 * packet's sequence number. */
typedef void (*sshbpp_trace_fn)(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t payload_len,
                                size_t wire_len, uint32_t seqno);
SSHBPP_API void sshbpp_engine_set_trace(sshbpp_engine *e, sshbpp_trace_fn fn, void *ctx);

enum sshbpp_log_level {
    SSHBPP_LOG_DEBUG = 10,
    SSHBPP_LOG_INFO = 20,
    SSHBPP_LOG_WARNING = 30,
    SSHBPP_LOG_ERROR = 40
};
/* Receives one NUL-terminated line (no newline) per call. */
typedef void (*sshbpp_log_fn)(void *ctx, enum sshbpp_log_level level, const char *msg);
/* Sets the logger (NULL disables). Like paramiko it logs "Rekeying (hit ...)"
 * lines always, and with hexdump on also "Write packet <name>, length N",
 * "OUT: " / "IN: " hex dumps of the plaintext packets, "Got payload (...)"
 * and "Read packet <name>, length N". Hex dumps show secrets-free plaintext
 * only; keys are never logged. */
SSHBPP_API void sshbpp_engine_set_log(sshbpp_engine *e, sshbpp_log_fn fn, void *ctx);
SSHBPP_API void sshbpp_engine_set_hexdump(sshbpp_engine *e, int on);
SSHBPP_API int sshbpp_engine_get_hexdump(const sshbpp_engine *e);

/* paramiko's message name for a type ("channel-data", "kexinit"), or NULL
 * if it has none (the log then prints "$" and the type in hex). */
SSHBPP_API const char *sshbpp_msg_name(uint8_t type);

/* Formats up to 16 bytes as one hex-dump line the way paramiko does:
 * prefix, upper-case hex pairs padded to 50 columns, a space, ASCII column.
 * Returns the length written (excl. NUL); out needs prefix length + 68. */
SSHBPP_API size_t sshbpp_hexdump_line(char *out, size_t cap, const char *prefix,
                                      const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
