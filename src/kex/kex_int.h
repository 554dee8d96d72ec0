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
struct bignum_st;   /* BIGNUM */

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

/* Name-lists (comma-separated, no empty names). Negotiation itself is
 * kex.c's match(), on lists split once and bounded. */
/* 1 if name is in the list. */
int sshbpp__namelist_has(const char *list, size_t len, const char *name);

/* Base64 without padding (for fingerprints). Returns the length written
 * excl. NUL, or 0 if cap is too small. */
size_t sshbpp__base64_nopad(const uint8_t *in, size_t n, char *out, size_t cap);

/* ---- kexalg.c ------------------------------------------------------------ */

enum sshbpp__kex_type {
    SSHBPP__KEX_X25519 = 1,
    SSHBPP__KEX_ECDH,
    SSHBPP__KEX_DH,
    SSHBPP__KEX_MLKEM768X25519, /* ML-KEM-768 + X25519 hybrid, K a string */
    SSHBPP__KEX_DH_GEX          /* RFC 4419 group exchange: group per exchange */
};

/* Method flags. */
#define SSHBPP__KEXF_LEGACY 0x1u /* SHA-1 era: only on request, never default */

typedef struct sshbpp__kex_method {
    const char *name;
    int type;           /* enum sshbpp__kex_type */
    const char *hash;   /* OpenSSL digest name: "SHA1", "SHA256", "SHA384", "SHA512" */
    size_t hash_len;    /* 20, 32, 48, 64 */
    const char *group;  /* OpenSSL group: "P-256", "P-384", "P-521",
                           "modp_2048", "modp_4096", "modp_8192"; NULL for
                           X25519 and the hybrid */
    unsigned flags;     /* SSHBPP__KEXF_* */
} sshbpp__kex_method;

/* The method called name, or NULL when it is unknown or this libcrypto
 * cannot run it (ML-KEM before OpenSSL 3.5). */
const sshbpp__kex_method *sshbpp__kex_method_find(const char *name);
/* NULL-terminated name tables in preference order, static storage: every
 * method this libcrypto can run, and the default subset (no legacy). */
const char *const *sshbpp__kex_supported(void);
const char *const *sshbpp__kex_defaults(void);

/* One side's ephemeral key. kem is the client's ML-KEM-768 key pair of the
 * hybrid (key is then its X25519 key); NULL otherwise. */
typedef struct sshbpp__kex_eph {
    const sshbpp__kex_method *m;
    struct evp_pkey_st *key;
    struct evp_pkey_st *kem;
} sshbpp__kex_eph;

int sshbpp__eph_generate(sshbpp__kex_eph *e, const sshbpp__kex_method *m);
/* Appends our public value as the KEX message field: string Q for X25519
 * and ECDH (uncompressed point), mpint e/f for DH, string C_INIT (ML-KEM
 * encapsulation key || X25519 public, 1184 + 32 bytes) for the hybrid
 * client. Not for the hybrid server, whose value comes from
 * sshbpp__eph_reply(). */
int sshbpp__eph_put_public(const sshbpp__kex_eph *e, sshbpp__wbuf *out);
/* The DH peer value range check (RFC 4253 section 8): 0 when 1 < f < p-1,
 * SSHBPP_EKEXVALUE otherwise (0, 1, p-1, p and above, negative),
 * SSHBPP_ECRYPTO if memory runs out. */
struct bignum_st;
int sshbpp__dh_check_range(const struct bignum_st *f, const struct bignum_st *p);
/* Client side of the exchange. peer is the field's content (string bytes,
 * or the mpint magnitude for DH). Validates it (exact length, on-curve,
 * 1 < f < p-1 in the prime-order subgroup; SSHBPP_EKEXVALUE) and appends
 * the shared secret K to K_out as it is hashed: an mpint (RFC 8731 for
 * X25519: the 32 bytes read as a big-endian integer), or for the hybrid
 * the string SHA-256(ML-KEM secret || X25519 secret). */
int sshbpp__eph_derive(const sshbpp__kex_eph *e, const uint8_t *peer, size_t n,
                       sshbpp__wbuf *K_out);
/* Server side: from the client's value peer (as for sshbpp__eph_derive),
 * makes our ephemeral key in e, appends our public value field to qs_out
 * (for the hybrid: string ML-KEM ciphertext || X25519 public, 1088 + 32
 * bytes) and K to K_out. On error nothing secret is left in e or K_out. */
int sshbpp__eph_reply(sshbpp__kex_eph *e, const sshbpp__kex_method *m, const uint8_t *peer,
                      size_t n, sshbpp__wbuf *qs_out, sshbpp__wbuf *K_out);
/* OpenSSH-style check of a DH public value against the prime p (big-endian
 * magnitudes): 1 < f < p-1, and the Legendre symbol (f|p) = 1, i.e.
 * f^((p-1)/2) = 1 mod p (the order-q subgroup of a safe prime). Returns 0, SSHBPP_EKEXVALUE, or SSHBPP_ENOMEM /
 * SSHBPP_ECRYPTO. Our own code, so that what is refused does not depend on
 * the OpenSSL version. */
/* A DH key pair in the group (p, g) given explicitly (RFC 2409 group 2,
 * group exchange), with a 512-bit private exponent. Returns 0,
 * SSHBPP_ECRYPTO. */
int sshbpp__dh_keygen(const struct bignum_st *p, const struct bignum_st *g,
                      struct evp_pkey_st **key);
int sshbpp__dh_pub_check(const uint8_t *p, size_t plen, const uint8_t *f, size_t flen);
/* Our ephemeral private key for the key log (sshbpp_keylog_event.priv
 * describes the forms) into out (cap bytes; SSHBPP__EPH_PRIV_MAX is
 * always enough), *len its length. Returns 0, SSHBPP_EUNSUPPORTED (the
 * hybrid: none), SSHBPP_EINVAL (no key), SSHBPP_ECRYPTO (libcrypto would
 * not export it, or cap too small); on error out is wiped and *len 0. */
#define SSHBPP__EPH_PRIV_MAX 1024u /* a DH exponent up to 8192 bits */
int sshbpp__eph_private(const sshbpp__kex_eph *e, uint8_t *out, size_t cap, size_t *len);
void sshbpp__eph_free(sshbpp__kex_eph *e);

/* out receives the digest (m->hash_len bytes). */
int sshbpp__kex_hash(const sshbpp__kex_method *m, const uint8_t *data, size_t n, uint8_t *out);

/* RFC 4253 section 7.2: HASH(K || H || letter || session_id), extended by
 * HASH(K || H || K1 || ...) until `need` bytes. K is the mpint encoding
 * (with its length prefix) exactly as hashed into H. */
int sshbpp__kex_derive(const sshbpp__kex_method *m, const uint8_t *K, size_t klen,
                       const uint8_t *H, size_t hlen, char letter, const uint8_t *sid,
                       size_t sidlen, uint8_t *out, size_t need);

/* ---- gex.c (RFC 4419 groups) --------------------------------------------- */

#define SSHBPP__GEX_MIN_BITS 2048u
#define SSHBPP__GEX_MAX_BITS 8192u

/* A server's list of groups from an OpenSSH moduli file. */
typedef struct sshbpp__moduli sshbpp__moduli;

/* Loads the tested safe primes of 2048..8192 bits from path (moduli(5)).
 * Returns 0, SSHBPP_EIO (cannot read), SSHBPP_EKEXMSG (malformed, or no
 * usable group), SSHBPP_ENOMEM. */
int sshbpp__moduli_load(const char *path, sshbpp__moduli **out);
void sshbpp__moduli_free(sshbpp__moduli *m);
/* Server: a group for the client's request (m NULL: the built-in RFC 3526
 * groups 14..18). *p and *g are new BIGNUMs. Returns 0, SSHBPP_EKEXMSG
 * (min > n or n > max), SSHBPP_ENOMATCH (no group in range) or
 * SSHBPP_ENOMEM / SSHBPP_ECRYPTO. */
int sshbpp__gex_choose(const sshbpp__moduli *m, uint32_t min, uint32_t n, uint32_t max,
                       struct bignum_st **p, struct bignum_st **g);
/* Client: the server's group must have min..max bits (and 2048..8192),
 * an odd p and 1 < g < p-1. Returns 0, SSHBPP_EGEXGROUP, or SSHBPP_ENOMEM /
 * SSHBPP_ECRYPTO (libcrypto failed). */
int sshbpp__gex_check_group(const struct bignum_st *p, const struct bignum_st *g,
                            uint32_t min, uint32_t max);
/* An ephemeral DH key in the explicit group (p, g) for method m (the
 * group exchange). Returns 0, SSHBPP_EINVAL, SSHBPP_ECRYPTO. */
int sshbpp__eph_generate_group(sshbpp__kex_eph *e, const sshbpp__kex_method *m,
                               const struct bignum_st *p, const struct bignum_st *g);

/* ---- alglist.c ----------------------------------------------------------- */

/* Resolves an OpenSSH-style algorithm list spec against the default list
 * def and the table all of every supported name (see alglist.c): "+a,b"
 * appends, "-a,b*" removes (patterns allowed), "^a,b" puts first; a plain
 * list (or NULL: def) is copied as it is. *out is malloc'ed. Returns 0,
 * SSHBPP_EUNSUPPORTED (an unknown or empty name after '+' or '^', or an
 * empty result), SSHBPP_EINVAL or SSHBPP_ENOMEM. */
int sshbpp__alglist_resolve(const char *spec, const char *def, const char *const *all,
                            char **out);

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

/* A key from OSSL params; selection is EVP_PKEY_PUBLIC_KEY or
 * EVP_PKEY_KEYPAIR. check: none, OpenSSL's public check (an EC point on
 * its curve), or its pairwise check (a private key matching its public
 * half). NULL on any failure. The caller frees the key. */
enum sshbpp__pkey_check {
    SSHBPP__PKEY_CHECK_NONE,
    SSHBPP__PKEY_CHECK_PUBLIC,
    SSHBPP__PKEY_CHECK_PAIR
};
struct ossl_param_st;
struct evp_pkey_st *sshbpp__pkey_fromdata(const char *type, int selection,
                                          struct ossl_param_st *params,
                                          enum sshbpp__pkey_check check);

/* ---- kex.c, for the connection object (src/conn/) ------------------------ */

/* Client: with on, the first exchange stops after the server's signature
 * has been verified and the keys derived, before our NEWKEYS is sent;
 * sshbpp__kex_hostkey_pending() is 1 until sshbpp__kex_hostkey_resume()
 * sends it. A NEWKEYS from the peer meanwhile is SSHBPP_EKEXORDER (the
 * caller does not feed input while paused). */
void sshbpp__kex_pause_hostkey(sshbpp_kex *k, int on);
/* Server: the list sent as server-sig-algs (RFC 8308 section 3.1) instead
 * of the default host key list (the user authentication algorithms the
 * server accepts). Copied. Returns 0, SSHBPP_EINVAL or SSHBPP_ENOMEM. */
int sshbpp__kex_set_server_sig_algs(sshbpp_kex *k, const char *list);
int sshbpp__kex_hostkey_pending(const sshbpp_kex *k);
/* The server's host key blob of the first exchange (K_S), its algorithm and
 * SHA256 fingerprint; valid until the kex is freed. NULL before the reply. */
const uint8_t *sshbpp__kex_hostkey_blob(const sshbpp_kex *k, size_t *len, const char **alg,
                                        const char **fp);
int sshbpp__kex_hostkey_resume(sshbpp_kex *k);
/* Records err as the sticky error (wiping the exchange); returns it. */
int sshbpp__kex_fail(sshbpp_kex *k, int err);

#endif
