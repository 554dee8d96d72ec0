/*
 * engine_int.h (internal): the engine's state, shared by engine.c (lifecycle,
 * keys, limits, stats), rx.c (input path), tx.c (output path) and log.c.
 *
 * IMPLEMENTATION NOTES
 *
 * Threads. The engine is split into an rx half and a tx half that share no
 * mutable plain fields; one thread may drive each half. What both halves
 * touch is atomic: the sticky error, the rekey flag and its generation
 * counter, the "keys switched" bits, the initial-kex flag, and the
 * statistics (written by one half, read by anyone).
 *
 * Input buffer. rx.buf holds received bytes; [start, end) is not yet
 * consumed. A packet is decrypted in place where it lies. In classic mode the
 * first block is decrypted as soon as it is complete (its length field is
 * needed), so from then until the packet is consumed the bytes at start are
 * plaintext: rx.state == RX_BODY says so, and rx_take/rx_line must not run.
 * The buffer is compacted (memmove of [start, end) to 0) only inside
 * rx_space(), which keeps a returned payload valid until the next receive
 * call. Its capacity is bounded: max packet + 4 + largest MAC/tag +
 * the read chunk, so a hostile peer cannot make it grow further.
 *
 * Output buffer. tx.buf[0, tx.len) holds wire bytes not yet written. A new
 * packet is built right after them: the payload is placed at offset 5 of the
 * new packet, padded, MACed and encrypted in place. Worst-case growth per
 * packet: 4 (length) + 1 (padlen) + payload + 255 (padding) + 64 (MAC).
 *
 * Validation order on input (before any arithmetic on the length): minimum
 * 5, maximum max_packet, block alignment; then MAC/tag (before decrypting
 * for EtM and AEAD); then padding bounds; then decompression within
 * max_packet. Every check fails closed through sshbpp__fail().
 */
#ifndef SSHBPP_ENGINE_INT_H
#define SSHBPP_ENGINE_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "alg.h"
#include "sshbpp/sshbpp_engine.h"

#define SSHBPP__MAX_MAC 64          /* hmac-sha2-512 */
#define SSHBPP__RX_CHUNK (64u * 1024u)
#define SSHBPP__RX_CHUNK_MAX (1024u * 1024u)

/* Per-direction crypto and counters. */
struct sshbpp__dir {
    sshbpp__cipher cipher;
    sshbpp__mac mac;
    sshbpp__zlib zlib;
    size_t block_size; /* 8 with no cipher */
    size_t mac_len;    /* MAC or AEAD tag bytes on the wire */
    int etm;           /* length in clear, MAC over ciphertext */
    int aead;          /* GCM or chacha: tag instead of MAC */
    int has_cipher;
    uint64_t max_blocks; /* RFC 4344 / configured block limit */

    _Atomic uint32_t seqno;
    _Atomic uint64_t packets, bytes, blocks;
    _Atomic uint64_t total_packets, total_bytes, total_payload, rekeys;
};

/* RX_DISCARD: CBC with encrypt-and-MAC only. A bad length, MAC or padding
 * does not fail at once (that would tell an observer which check failed,
 * CVE-2008-5161): input is consumed until discard_left reaches 0, counted
 * from the start of the offending packet, and then the MAC error is
 * returned. The total is chosen per key at random in [M, 2M), M the
 * largest packet accepted on the wire (4 + max_packet + MAC), so it is
 * never below the size of a valid packet whose MAC failed. */
enum { RX_HEAD = 0, RX_BODY = 1, RX_DISCARD = 2 };

struct sshbpp__rx {
    struct sshbpp__dir d;
    uint8_t *buf;
    size_t cap, start, end;
    int state;
    uint32_t packet_length;
    size_t need; /* bytes of the current packet: 4 + length + MAC */
    uint8_t *zbuf; /* decompression output, max_packet bytes */
    size_t zcap;
    uint64_t overflow_packets, overflow_bytes;
    unsigned rekey_gen_seen;
    uint32_t discard_rand; /* drawn at each set_keys(IN) */
    size_t discard_left;   /* RX_DISCARD: bytes still to consume */
    size_t discard_pin;    /* test hook: fixed total, 0 for random */
};

/* Padding randomness for the default RNG: RAND_bytes() costs a DRBG
 * call with its locks per request, about as much as sealing a small
 * packet, so the tx half draws RAND_bytes() output a pool at a time and
 * hands it out; bytes are cleared as they are handed out. fork_gen drops
 * a pool inherited across fork() so parent and child never share one. */
#define SSHBPP__RNG_POOL 1024
/* io/forkgen.c (the platform part): sshbpp__fork_watch() arms the counter (idempotent, any
 * thread); sshbpp__fork_generation() is bumped in every fork() child. */
void sshbpp__fork_watch(void);
unsigned sshbpp__fork_generation(void);
struct sshbpp__rngpool {
    uint8_t b[SSHBPP__RNG_POOL];
    size_t avail; /* unused bytes, at the end of b */
    unsigned fork_gen;
};

struct sshbpp__tx {
    struct sshbpp__dir d;
    struct sshbpp__rngpool pool; /* default RNG state; tx half only */
    uint8_t *buf;
    size_t cap, off, len; /* unwritten wire bytes are [off, len) */
    size_t begun;     /* tx_begin() max_len, 0 when no packet is begun */
    uint8_t *zbuf;    /* compression output */
    size_t zcap;
    unsigned pad_multiple; /* pad_next(), one packet */
    unsigned random_pad;   /* set_random_padding() */
};

struct sshbpp_engine {
    _Atomic int error;
    _Atomic int need_rekey;
    _Atomic unsigned rekey_gen;
    _Atomic unsigned switched; /* bit 1 << dir once that direction got keys */
    _Atomic int kex_done;

    uint32_t max_packet;
    sshbpp_rekey_limits limits;

    sshbpp_rng_fn rng;
    void *rng_ctx;
    sshbpp_trace_fn trace;
    void *trace_ctx;
    sshbpp_log_fn log;
    void *log_ctx;
    int hexdump;

    struct sshbpp__rx rx;
    struct sshbpp__tx tx;
};

/* Records err once (first wins) and returns the recorded error. */
int sshbpp__fail(sshbpp_engine *e, int err);

static inline int
sshbpp__err(const sshbpp_engine *e)
{
    return atomic_load_explicit(&e->error, memory_order_acquire);
}

/* Relaxed counter helpers: one writer per field, readers anywhere. */
static inline uint64_t
sshbpp__ld64(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}
static inline void
sshbpp__add64(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
static inline void
sshbpp__st64(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

/* Rekey bookkeeping after one packet in direction d: wire is its size on
 * the wire, span what was encrypted (4 + packet_length) and so counts as
 * cipher blocks. Returns 1 if this call raised the rekey flag. */
int sshbpp__rekey_account(sshbpp_engine *e, struct sshbpp__dir *d, uint64_t wire, uint64_t span,
                          int dir);

/* Grows *buf to at least need bytes (never shrinks), doubling but never
 * past limit (limit >= need; SIZE_MAX for none), keeping the first keep
 * bytes. Returns 0 or SSHBPP_ENOMEM. */
int sshbpp__grow(uint8_t **buf, size_t *cap, size_t need, size_t keep, size_t limit);

/* Number of buffer allocations sshbpp__grow() has made, process-wide. The
 * allocation test reads it to show steady-state traffic allocates nothing. */
extern _Atomic unsigned long sshbpp__grow_count;

/* Test hook (CBC oracle proof): every discard of e consumes exactly total
 * bytes from the start of the offending packet; 0 restores the random
 * bound. */
void sshbpp__engine_test_pin_discard(sshbpp_engine *e, size_t total);

/* Frees a direction's crypto and compression state (wiping keys). */
void sshbpp__dir_free(struct sshbpp__dir *d);

/* Logging (log.c). */
void sshbpp__logf(const sshbpp_engine *e, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void sshbpp__log_hex(const sshbpp_engine *e, const char *prefix, const uint8_t *data,
                     size_t len);
void sshbpp__log_msg(const sshbpp_engine *e, const char *what, uint8_t type, size_t len);

static inline uint32_t
sshbpp__be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void
sshbpp__put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
