/*
 * kex_int.h (internal): the pieces of the transport handshake.
 *
 *   wire.c      SSH encodings (RFC 4251 section 5): a growable writer and a
 *               bounds-checked reader, both with a sticky error flag
 *   kexalg.c    key-exchange methods (X25519, ECDH, finite-field DH),
 *               exchange-hash digest, RFC 4253 section 7.2 key derivation
 *   hostkey.c   host keys: load/generate, public blob, sign, verify,
 *               SHA256 fingerprint
 *   kex.c       the sans-I/O state machine (sshbpp_kex in sshbpp_kex.h)
 * (the connection object above it, with user authentication, is src/conn/)
 *
 * Every function returns 0 on success or a negative SSHBPP_E* code.
 */
#ifndef SSHBPP_KEX_INT_H
#define SSHBPP_KEX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp_kex.h"

struct evp_pkey_st; /* EVP_PKEY */

/* ---- wire.c ------------------------------------------------------------ */

/* Growable output buffer. After any failure err is set (SSHBPP_ENOMEM or
 * SSHBPP_EINVAL) and later puts do nothing; check err once at the end. */
typedef struct sshbpp__wbuf {
    uint8_t *p;
    size_t len, cap;
    int err;
} sshbpp__wbuf;

void sshbpp__wb_init(sshbpp__wbuf *b);
void sshbpp__wb_free(sshbpp__wbuf *b); /* wipes, frees, re-inits */
void sshbpp__wb_reset(sshbpp__wbuf *b); /* wipes contents, keeps memory */
void sshbpp__wb_u8(sshbpp__wbuf *b, uint8_t v);
void sshbpp__wb_bool(sshbpp__wbuf *b, int v);
void sshbpp__wb_u32(sshbpp__wbuf *b, uint32_t v);
void sshbpp__wb_raw(sshbpp__wbuf *b, const void *p, size_t n);
void sshbpp__wb_string(sshbpp__wbuf *b, const void *p, size_t n); /* uint32 length + bytes */
void sshbpp__wb_cstring(sshbpp__wbuf *b, const char *s);
/* mpint from an unsigned big-endian magnitude: leading zeros stripped, a
 * 0x00 prepended when the top bit is set, zero encoded as length 0. */
void sshbpp__wb_mpint(sshbpp__wbuf *b, const uint8_t *mag, size_t n);

/* Bounds-checked reader over borrowed bytes. Any short or malformed read
 * sets err = SSHBPP_EKEXMSG and returns it; later reads fail too. */
typedef struct sshbpp__rbuf {
    const uint8_t *p;
    size_t len, off;
    int err;
} sshbpp__rbuf;

void sshbpp__rb_init(sshbpp__rbuf *r, const uint8_t *p, size_t len);
int sshbpp__rb_u8(sshbpp__rbuf *r, uint8_t *v);
int sshbpp__rb_bool(sshbpp__rbuf *r, int *v);
int sshbpp__rb_u32(sshbpp__rbuf *r, uint32_t *v);
int sshbpp__rb_raw(sshbpp__rbuf *r, const uint8_t **p, size_t n);
/* string: *p points into the buffer (not NUL-terminated). */
int sshbpp__rb_string(sshbpp__rbuf *r, const uint8_t **p, size_t *n);
/* mpint: must be non-negative and minimally encoded; *mag and *n give the
 * magnitude without the sign byte. */
int sshbpp__rb_mpint(sshbpp__rbuf *r, const uint8_t **mag, size_t *n);
/* 1 if every byte was consumed and no error occurred. */
int sshbpp__rb_done(const sshbpp__rbuf *r);

/* Name-lists (comma-separated, no empty names). */
/* First name of `client` that is also in `server` (RFC 4253 7.1), copied
 * to out. Returns 0 or SSHBPP_ENOMATCH (or SSHBPP_EBUFSMALL). */
int sshbpp__namelist_match(const char *client, size_t clen, const char *server, size_t slen,
                           char *out, size_t cap);
/* 1 if name is in the list. */
int sshbpp__namelist_has(const char *list, size_t len, const char *name);

/* Base64 without padding (for fingerprints). Returns the length written
 * excl. NUL, or 0 if cap is too small. */
size_t sshbpp__base64_nopad(const uint8_t *in, size_t n, char *out, size_t cap);

/* ---- kexalg.c ------------------------------------------------------------ */

enum sshbpp__kex_type { SSHBPP__KEX_X25519 = 1, SSHBPP__KEX_ECDH, SSHBPP__KEX_DH };

typedef struct sshbpp__kex_method {
    const char *name;
    int type;           /* enum sshbpp__kex_type */
    const char *hash;   /* OpenSSL digest name: "SHA256", "SHA384", "SHA512" */
    size_t hash_len;    /* 32, 48, 64 */
    const char *group;  /* OpenSSL group: "P-256", "P-384", "P-521",
                           "modp_2048", "modp_4096"; NULL for X25519 */
} sshbpp__kex_method;

const sshbpp__kex_method *sshbpp__kex_method_find(const char *name);
extern const char *const sshbpp__kex_names[]; /* NULL-terminated, preference order */

/* One side's ephemeral key. */
typedef struct sshbpp__kex_eph {
    const sshbpp__kex_method *m;
    struct evp_pkey_st *key;
} sshbpp__kex_eph;

int sshbpp__eph_generate(sshbpp__kex_eph *e, const sshbpp__kex_method *m);
/* Appends our public value as the KEX message field: string Q for X25519
 * and ECDH (uncompressed point), mpint e/f for DH. */
int sshbpp__eph_put_public(const sshbpp__kex_eph *e, sshbpp__wbuf *out);
/* peer is the field's content (string bytes, or the mpint magnitude for
 * DH). Validates it (length, on-curve, 1 < f < p-1; SSHBPP_EKEXVALUE) and
 * appends the shared secret K encoded as mpint to K_out (RFC 8731 for
 * X25519: the 32 bytes read as a big-endian integer). */
/* The DH peer value range check (RFC 4253 section 8): 0 when 1 < f < p-1,
 * SSHBPP_EKEXVALUE otherwise (0, 1, p-1, p and above, negative),
 * SSHBPP_ECRYPTO if memory runs out. */
struct bignum_st;
int sshbpp__dh_check_range(const struct bignum_st *f, const struct bignum_st *p);
int sshbpp__eph_derive(const sshbpp__kex_eph *e, const uint8_t *peer, size_t n,
                       sshbpp__wbuf *K_out);
void sshbpp__eph_free(sshbpp__kex_eph *e);

/* out receives the digest (m->hash_len bytes). */
int sshbpp__kex_hash(const sshbpp__kex_method *m, const uint8_t *data, size_t n, uint8_t *out);

/* RFC 4253 section 7.2: HASH(K || H || letter || session_id), extended by
 * HASH(K || H || K1 || ...) until `need` bytes. K is the mpint encoding
 * (with its length prefix) exactly as hashed into H. */
int sshbpp__kex_derive(const sshbpp__kex_method *m, const uint8_t *K, size_t klen,
                       const uint8_t *H, size_t hlen, char letter, const uint8_t *sid,
                       size_t sidlen, uint8_t *out, size_t need);

/* ---- hostkey.c ----------------------------------------------------------- */

enum sshbpp__hk_type { SSHBPP__HK_ED25519 = 1, SSHBPP__HK_ECDSA, SSHBPP__HK_RSA };

typedef struct sshbpp__hostkey {
    struct evp_pkey_st *pkey; /* private (server) or public (parsed blob) */
    int type;                 /* enum sshbpp__hk_type */
    int curve_bits;           /* ECDSA: 256, 384, 521 */
} sshbpp__hostkey;

extern const char *const sshbpp__hostkey_names[]; /* signature algorithms, preference order */

int sshbpp__hostkey_load_file(sshbpp__hostkey *hk, const char *path);
/* Fills hk's type fields from an OpenSSL key; SSHBPP_EKEYTYPE for key
 * types, curves and sizes SSH (or this library) does not sign with. */
int sshbpp__hostkey_classify(sshbpp__hostkey *hk, struct evp_pkey_st *pkey);
/* A public key from its blob (any supported type): SSHBPP_EKEYTYPE for an
 * unknown type or bad size, SSHBPP_EKEYFILE for a malformed blob. */
int sshbpp__hostkey_from_blob(sshbpp__hostkey *hk, const uint8_t *blob, size_t blen);
/* alg: "ssh-ed25519", "ecdsa-sha2-nistp256/384/521", "rsa" or
 * "rsa-sha2-256"/"rsa-sha2-512" (3072-bit RSA). */
int sshbpp__hostkey_generate(sshbpp__hostkey *hk, const char *alg);
/* 1 if this key can make signatures of algorithm alg. */
int sshbpp__hostkey_can_sign(const sshbpp__hostkey *hk, const char *alg);
/* Appends the public key blob K_S (RFC 4253 6.6; "ssh-rsa" for RSA). */
int sshbpp__hostkey_put_blob(const sshbpp__hostkey *hk, sshbpp__wbuf *out);
/* Appends the signature blob (string alg, string sig) over data; ECDSA
 * hashes with the curve's SHA-2, RSA uses PKCS#1 v1.5 with SHA-256/512. */
int sshbpp__hostkey_sign(const sshbpp__hostkey *hk, const char *alg, const uint8_t *data,
                         size_t n, sshbpp__wbuf *out);
/* Client: parses blob (K_S) and checks that it matches alg, then checks
 * the signature blob over data. Returns 0, SSHBPP_EHOSTKEY (malformed or
 * wrong type) or SSHBPP_ESIGNATURE. Verification succeeds only when
 * OpenSSL returns exactly 1. */
int sshbpp__hostkey_verify(const char *alg, const uint8_t *blob, size_t blen,
                           const uint8_t *data, size_t n, const uint8_t *sig, size_t slen);
/* "SHA256:" + unpadded base64 of SHA-256(blob), as ssh-keygen -l. */
int sshbpp__hostkey_fingerprint(const uint8_t *blob, size_t blen, char *out, size_t cap);
void sshbpp__hostkey_free(sshbpp__hostkey *hk);

/* ---- kex.c, for the connection object (src/conn/) ------------------------ */

/* Client: with on, the first exchange stops after the server's signature
 * has been verified and the keys derived, before our NEWKEYS is sent;
 * sshbpp__kex_hostkey_pending() is 1 until sshbpp__kex_hostkey_resume()
 * sends it. A NEWKEYS from the peer meanwhile is SSHBPP_EKEXORDER (the
 * caller does not feed input while paused). */
void sshbpp__kex_pause_hostkey(sshbpp_kex *k, int on);
int sshbpp__kex_hostkey_pending(const sshbpp_kex *k);
/* The server's host key blob of the first exchange (K_S), its algorithm and
 * SHA256 fingerprint; valid until the kex is freed. NULL before the reply. */
const uint8_t *sshbpp__kex_hostkey_blob(const sshbpp_kex *k, size_t *len, const char **alg,
                                        const char **fp);
int sshbpp__kex_hostkey_resume(sshbpp_kex *k);
/* Records err as the sticky error (wiping the exchange); returns it. */
int sshbpp__kex_fail(sshbpp_kex *k, int err);

#endif
