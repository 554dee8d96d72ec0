/*
 * testutil.h: shared helpers for the sshbpp engine tests.
 *
 *  - hex encode / decode
 *  - deterministic padding "RNGs" for sshbpp_engine_set_rng (constant fill
 *    bytes, or a seeded xorshift PRNG)
 *  - a growable byte buffer
 *  - feeding input into an engine in chosen chunk sizes (all at once, one
 *    byte at a time, two pieces, random splits) while collecting every packet
 *    (payloads are copied out: the engine's pointer dies at the next call)
 *  - a pump moving engine A's tx_data into engine B
 *  - deterministic key material for a cipher/MAC pair, set on A.out / B.in
 *  - an independent reference "sealer" (OpenSSL EVP + HMAC + Poly1305) that
 *    encrypts and authenticates an arbitrary, possibly malformed, plaintext
 *    packet the way a conforming peer would, so tests can present the engine
 *    with correctly MACed packets whose fields are wrong.
 */
#ifndef SSHBPP_TESTUTIL_H
#define SSHBPP_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp.h"

/* ---- hex ---------------------------------------------------------------- */

/* Decodes hex (whitespace ignored) into out (cap bytes); returns the byte
 * count. Aborts the test program on malformed input or overflow. */
size_t tu_hex_decode(const char *hex, uint8_t *out, size_t cap);
/* malloc'd decode; *len receives the length. Free with free(). */
uint8_t *tu_hex_alloc(const char *hex, size_t *len);
/* Lower-case hex into out (2*len+1 bytes, NUL-terminated). */
void tu_hex_encode(const uint8_t *in, size_t len, char *out);
/* malloc'd lower-case hex string. */
char *tu_hex_str(const uint8_t *in, size_t len);

/* ---- deterministic randomness -------------------------------------------- */

typedef struct tu_prng {
    uint64_t s;
} tu_prng;

void tu_prng_seed(tu_prng *p, uint64_t seed);
uint64_t tu_prng_next(tu_prng *p);
/* Uniform-ish value in [lo, hi] (inclusive). */
size_t tu_prng_range(tu_prng *p, size_t lo, size_t hi);
void tu_prng_bytes(tu_prng *p, uint8_t *buf, size_t len);

/* sshbpp_rng_fn filling with the byte *(const uint8_t *)ctx. */
int tu_rng_fill(void *ctx, uint8_t *buf, size_t len);
/* sshbpp_rng_fn drawing from the tu_prng at ctx. */
int tu_rng_prng(void *ctx, uint8_t *buf, size_t len);
/* sshbpp_rng_fn that always fails (returns -1). */
int tu_rng_fail(void *ctx, uint8_t *buf, size_t len);
/* Installs tu_rng_fill with the given constant byte (static storage). */
void tu_set_rng_fill(sshbpp_engine *e, uint8_t byte);

/* ---- byte buffer ---------------------------------------------------------- */

typedef struct tu_buf {
    uint8_t *p;
    size_t len, cap;
} tu_buf;

void tu_buf_append(tu_buf *b, const void *data, size_t len);
void tu_buf_free(tu_buf *b);

/* Appends everything in e's tx_data to b and consumes it; returns the count. */
size_t tu_take_tx(sshbpp_engine *e, tu_buf *b);

/* ---- packet collection ---------------------------------------------------- */

typedef struct tu_pkt {
    uint8_t *payload; /* malloc'd copy */
    size_t len;
    uint8_t type;
    uint32_t seqno;
} tu_pkt;

typedef struct tu_pktlist {
    tu_pkt *v;
    size_t n, cap;
} tu_pktlist;

void tu_pktlist_add(tu_pktlist *l, const sshbpp_packet *p);
void tu_pktlist_free(tu_pktlist *l);

/* Called after each packet is collected (before the next rx_next); may
 * switch keys etc. Return non-zero to abort feeding with that value. */
typedef int (*tu_pkt_cb)(void *ctx, sshbpp_engine *e, const sshbpp_packet *p, size_t index);

/* Pulls packets until rx_next returns 0 or an error. Returns 0 or the
 * negative error (or the callback's non-zero value). */
int tu_drain(sshbpp_engine *e, tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx);

/* Feeds data in pieces; after every piece drains the packets. pieces[] gives
 * the piece lengths, used cyclically; a 0 entry (or npieces 0) means "the
 * whole rest at once". Returns 0 or the first error. */
int tu_feed_pieces(sshbpp_engine *e, const uint8_t *data, size_t len, const size_t *pieces,
                   size_t npieces, tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx);
/* chunk bytes at a time (0 = all at once). */
int tu_feed_chunks(sshbpp_engine *e, const uint8_t *data, size_t len, size_t chunk,
                   tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx);
/* Random piece sizes in [1, maxchunk] from a PRNG seeded with seed; every
 * other piece goes through rx_space/rx_commit instead of feed. */
int tu_feed_random(sshbpp_engine *e, const uint8_t *data, size_t len, uint64_t seed,
                   size_t maxchunk, tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx);
/* Two pieces: [0, split) and [split, len). */
int tu_feed_split2(sshbpp_engine *e, const uint8_t *data, size_t len, size_t split,
                   tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx);

/* Moves all of a's pending output into b and drains b's packets. Returns 0
 * or the first error. */
int tu_pump(sshbpp_engine *a, sshbpp_engine *b, tu_pktlist *out);

/* ---- keys ----------------------------------------------------------------- */

typedef struct tu_keyset {
    char cipher[64];
    char mac[64];
    uint8_t key[64];
    uint8_t iv[16];
    uint8_t mac_key[64];
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi; /* zeroed if no MAC (AEAD, none) */
    int has_cipher;     /* cipher is not "none" */
    int has_mac;        /* a separate MAC is used */
    sshbpp_keys k;      /* points into this struct (do not copy the struct) */
} tu_keyset;

/* Fills ks for cipher/mac (either NULL or "none" for none; mac ignored for
 * AEAD ciphers) with deterministic bytes derived from seed. Returns 0 or
 * the sshbpp_*_info_get error. */
int tu_keyset_make(tu_keyset *ks, const char *cipher, const char *mac, uint8_t seed);
/* Fills ks with explicit key material (lengths taken from the infos). */
int tu_keyset_explicit(tu_keyset *ks, const char *cipher, const uint8_t *key, const uint8_t *iv,
                       const char *mac, const uint8_t *mac_key);
/* Sets ks on a's outbound and b's inbound side (either may be NULL). */
int tu_set_keys_pair(sshbpp_engine *a, sshbpp_engine *b, const tu_keyset *ks);
/* Wire overhead besides packet_length+4: the MAC or tag length. */
size_t tu_keyset_maclen(const tu_keyset *ks);
/* Block size used for padding / alignment. */
size_t tu_keyset_bs(const tu_keyset *ks);
/* 1 if the length field is in the clear or separately handled (EtM, GCM,
 * chacha): alignment is on packet_length alone. */
int tu_keyset_lenclear(const tu_keyset *ks);

/* ---- reference sealer -------------------------------------------------------
 * An independent implementation of the sending side: encrypts and
 * authenticates a caller-built plaintext packet (uint32 packet_length,
 * byte padding_length, payload, padding). The packet_length field is taken
 * as given (it may lie); ptlen says how many plaintext bytes to process.
 * Keeps the cipher stream, the GCM invocation counter and the sequence
 * number across calls, like a real peer.
 */
typedef struct tu_sealer {
    tu_keyset ks;
    int mode; /* 0 none, 1 ctr, 2 cbc, 3 gcm, 4 chacha */
    void *ctx;  /* EVP_CIPHER_CTX (ctr/cbc) */
    uint8_t gcm_iv[12];
    uint32_t seqno;
} tu_sealer;

int tu_sealer_init(tu_sealer *s, const tu_keyset *ks);
void tu_sealer_free(tu_sealer *s);
/* Seals pt[0..ptlen) and appends the wire bytes (incl. MAC/tag) to out.
 * For CBC a ptlen that is not a block multiple is zero-extended for
 * encryption and truncated back (only useful for packets the receiver
 * must reject from their first block). Returns 0 or -1. */
int tu_seal(tu_sealer *s, const uint8_t *pt, size_t ptlen, tu_buf *out);

/* Builds a plaintext packet into out (cap bytes): length field =
 * packet_length, padding byte = padlen, then payload_len payload bytes
 * (from payload, or a pattern if NULL), then padding bytes (fill byte) so
 * that the total is 4 + packet_length bytes when that is consistent; the
 * number of bytes built is returned (4 + 1 + payload_len + padlen). */
size_t tu_build_plain(uint8_t *out, size_t cap, uint32_t packet_length, uint8_t padlen,
                      const uint8_t *payload, size_t payload_len, uint8_t fill);

/* Standard padding for a payload of L bytes (RFC 4253 as paramiko computes
 * it) for the keyset's mode; returns the padding length. */
size_t tu_std_padding(const tu_keyset *ks, size_t payload_len);

/* ---- misc ------------------------------------------------------------------ */

uint32_t tu_be32(const uint8_t *p);
void tu_put_be32(uint8_t *p, uint32_t v);

/* A fresh engine; aborts on allocation failure. */
sshbpp_engine *tu_engine_new(void);

#endif
