/*
 * alg.h (internal): ciphers, MACs and compression behind one small interface,
 * all through OpenSSL libcrypto (EVP) and zlib. The engine (engine.c) owns
 * the framing; these functions only transform bytes in place.
 *
 * Every function returns 0 on success or a negative SSHBPP_E* code.
 * Every crypto return value is checked with OpenSSL's convention (1 = ok);
 * a tag check is a success only when EVP says 1 (CVE-2026-59847 lesson).
 */
#ifndef SSHBPP_ALG_H
#define SSHBPP_ALG_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp_engine.h"

struct evp_cipher_ctx_st; /* EVP_CIPHER_CTX */
struct evp_mac_ctx_st;    /* EVP_MAC_CTX */
struct z_stream_s;        /* z_stream */

enum sshbpp__mode {
    SSHBPP__MODE_NONE = 0, /* no cipher: block size 8 */
    SSHBPP__MODE_CTR,      /* AES-CTR: stream over whole packets */
    SSHBPP__MODE_CBC,      /* AES-CBC, 3DES-CBC: whole blocks only */
    SSHBPP__MODE_GCM,      /* aes*-gcm@openssh.com (RFC 5647 as OpenSSH) */
    SSHBPP__MODE_CHACHA    /* chacha20-poly1305@openssh.com */
};

typedef struct sshbpp__cipher_desc {
    const char *name;
    int mode;          /* enum sshbpp__mode */
    size_t key_len;
    size_t iv_len;
    size_t block_size; /* for padding and alignment; none: 8 */
    size_t tag_len;    /* 16 for AEAD, else 0 */
} sshbpp__cipher_desc;

typedef struct sshbpp__mac_desc {
    const char *name;
    const char *digest; /* OpenSSL digest name: "SHA1", "SHA256", "SHA512", "MD5";
                           "UMAC64" / "UMAC128" for nettle's UMAC */
    size_t key_len;     /* = digest size */
    size_t mac_len;     /* bytes on the wire */
    int etm;
} sshbpp__mac_desc;

/* Lookup by SSH name; NULL if unknown. "none" finds the none cipher. */
const sshbpp__cipher_desc *sshbpp__cipher_find(const char *name);
const sshbpp__mac_desc *sshbpp__mac_find(const char *name);

/* NULL-terminated name lists (static). */
extern const char *const sshbpp__cipher_names[];
extern const char *const sshbpp__mac_names[];
extern const char *const sshbpp__comp_names[];

/* ---- ciphers ------------------------------------------------------------
 * One direction's cipher state. Zero-initialised = no cipher.
 */
typedef struct sshbpp__cipher {
    const sshbpp__cipher_desc *desc; /* NULL = none */
    int encrypt;                     /* 1 outbound, 0 inbound */
    struct evp_cipher_ctx_st *ctx;   /* CTR/CBC/GCM; chacha: K_2 (payload) */
    struct evp_cipher_ctx_st *ctx2;  /* chacha: K_1 (length) */
    struct evp_mac_ctx_st *poly;     /* chacha: Poly1305 */
    uint8_t iv[12];                  /* GCM: fixed(4) || invocation counter(8) */
    int iv_loaded;                   /* GCM seal: ctx already holds the nonce iv */
    /* chacha open: the length field get_length decrypted for len_seq, so
     * that open need not run K_1 again for the same packet */
    uint8_t len_plain[4];
    uint32_t len_seq;
    int len_valid;
} sshbpp__cipher;

/* Sets up c for desc with the given key/IV (lengths already checked by the
 * caller to equal desc->key_len / desc->iv_len). Frees anything c held
 * before. Returns 0, SSHBPP_ENOMEM or SSHBPP_ECRYPTO; on failure c is left
 * as "none" (zeroed). */
int sshbpp__cipher_init(sshbpp__cipher *c, const sshbpp__cipher_desc *desc, const uint8_t *key,
                        const uint8_t *iv, int encrypt);

/* Frees the contexts (OpenSSL wipes their key schedules) and zeroes c. */
void sshbpp__cipher_free(sshbpp__cipher *c);

/* CTR / CBC: en- or decrypts len bytes in place, continuing the stream /
 * chain from the previous call (len is a multiple of the block size for
 * CBC; the engine guarantees it). */
int sshbpp__cipher_crypt(sshbpp__cipher *c, uint8_t *buf, size_t len);

/* GCM seal: pkt[0..4) is the cleartext length (AAD), pkt[4..len) is
 * encrypted in place, the 16-byte tag is written to tag, then the IV's
 * 64-bit invocation counter is incremented (wrapping, RFC 5647). */
int sshbpp__gcm_seal(sshbpp__cipher *c, uint8_t *pkt, size_t len, uint8_t *tag);
/* The same seal, except that pkt[5..5+n) is not there yet: those bytes are
 * encrypted from src (n bytes, not overlapping pkt) straight into place, so
 * a payload is not copied before it is encrypted. pkt[4] and
 * pkt[5+n..len) are in place as above. src NULL means all in place. */
int sshbpp__gcm_seal_from(sshbpp__cipher *c, uint8_t *pkt, size_t len, uint8_t *tag,
                          const uint8_t *src, size_t n);

/* GCM open: verifies tag over AAD pkt[0..4) and ciphertext pkt[4..len) and
 * decrypts pkt[4..len) in place. Returns 0, or SSHBPP_ETAG (buffer content
 * then unspecified) without touching the IV; the IV advances only on
 * success. */
int sshbpp__gcm_open(sshbpp__cipher *c, uint8_t *pkt, size_t len, const uint8_t *tag);

/* chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305): key =
 * K_2 (first 32 bytes, payload + Poly1305 key) || K_1 (last 32, length).
 * Nonce = 64-bit big-endian sequence number, block counter 64-bit LE.
 *
 * get_length: decrypts the 4 encrypted length bytes at enc (not modified)
 * with K_1 and stores the value in *len. Always succeeds on valid state.
 * seal: pkt[0..4) cleartext length and pkt[4..len) body are encrypted in
 * place (length with K_1, body with K_2 from block 1), then the Poly1305
 * tag (key = K_2 keystream block 0) over the whole encrypted pkt[0..len) is
 * written to tag.
 * open: computes the tag over the still-encrypted pkt[0..len), compares it
 * with tag in constant time (mismatch: SSHBPP_ETAG, pkt untouched), then
 * decrypts pkt[0..len) in place (length included). */
int sshbpp__chacha_get_length(sshbpp__cipher *c, uint32_t seqno, const uint8_t *enc,
                              uint32_t *len);
int sshbpp__chacha_seal(sshbpp__cipher *c, uint32_t seqno, uint8_t *pkt, size_t len,
                        uint8_t *tag);
/* As sshbpp__gcm_seal_from(): pkt[5..5+n) is encrypted from src. */
int sshbpp__chacha_seal_from(sshbpp__cipher *c, uint32_t seqno, uint8_t *pkt, size_t len,
                             uint8_t *tag, const uint8_t *src, size_t n);
int sshbpp__chacha_open(sshbpp__cipher *c, uint32_t seqno, uint8_t *pkt, size_t len,
                        const uint8_t *tag);

/* ---- MACs ---------------------------------------------------------------
 * HMAC over uint32(seqno) || data, truncated to desc->mac_len. The context
 * keeps the key between packets (no allocation per packet).
 */
typedef struct sshbpp__mac {
    const sshbpp__mac_desc *desc; /* NULL = none */
    struct evp_mac_ctx_st *ctx;   /* HMAC */
    void *umac;                   /* UMAC: nettle's umac64_ctx / umac128_ctx */
} sshbpp__mac;

/* key_len already checked = desc->key_len. Returns 0, SSHBPP_ENOMEM,
 * SSHBPP_ECRYPTO; on failure m is zeroed. */
int sshbpp__mac_init(sshbpp__mac *m, const sshbpp__mac_desc *desc, const uint8_t *key);
void sshbpp__mac_free(sshbpp__mac *m);

/* Writes desc->mac_len bytes to out. */
int sshbpp__mac_compute(sshbpp__mac *m, uint32_t seqno, const uint8_t *data, size_t len,
                        uint8_t *out);

/* Computes and compares with mac (desc->mac_len bytes) in constant time.
 * Returns 0, SSHBPP_EMAC or SSHBPP_ECRYPTO. */
int sshbpp__mac_verify(sshbpp__mac *m, uint32_t seqno, const uint8_t *data, size_t len,
                       const uint8_t *mac);

/* ---- compression (zlib, zlib@openssh.com) --------------------------------
 * The stream persists across packets; each packet is flushed with
 * Z_PARTIAL_FLUSH as OpenSSH does, so the peer can inflate it alone.
 */
typedef struct sshbpp__zlib {
    struct z_stream_s *zs; /* NULL = off */
    int deflate;           /* 1 compress, 0 decompress */
} sshbpp__zlib;

/* Returns 0 or SSHBPP_ENOMEM. Frees anything z held. */
int sshbpp__zlib_init(sshbpp__zlib *z, int deflate);
void sshbpp__zlib_free(sshbpp__zlib *z);

/* Compresses in[0..in_len) into out (cap bytes). *out_len receives the
 * size. Returns 0, SSHBPP_EBUFSMALL if cap was not enough (the caller
 * must size cap with sshbpp__zlib_bound; this is then a bug), or
 * SSHBPP_ECOMP. */
int sshbpp__zlib_compress(sshbpp__zlib *z, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t cap, size_t *out_len);

/* Upper bound of compressed size for in_len bytes with Z_PARTIAL_FLUSH. */
size_t sshbpp__zlib_bound(size_t in_len);

/* Decompresses in[0..in_len) into out. Produces at most max bytes: more
 * is SSHBPP_EDECOMPLONG; corrupt data is SSHBPP_EDECOMP. out must have
 * room for max bytes. */
int sshbpp__zlib_decompress(sshbpp__zlib *z, const uint8_t *in, size_t in_len, uint8_t *out,
                            size_t max, size_t *out_len);

/* ---- helpers ---- */
void sshbpp__wipe(void *p, size_t n); /* OPENSSL_cleanse */

#endif
