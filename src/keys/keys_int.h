/*
 * keys_int.h (internal): the keys layer's shared pieces.
 *
 *   base64.c          strict base64 decoding, padded encoding
 *   key.c             the sshbpp_key object: blob, public line, fingerprints, signing
 *   openssh_key.c     openssh-key-v1 private keys (PROTOCOL.key)
 *   keyfile.c         format detection and loading (OpenSSH, PEM, PKCS#8, public lines)
 *   pattern.c         OpenSSH host patterns: wildcards, negation, CIDR
 *   lines.c           bounded line iteration over a file's bytes
 *   known_hosts.c     known_hosts parsing, lookup, line writing, the policy
 *   authorized_keys.c authorized_keys parsing with options, the from=/expiry check
 *   agent_codec.c     the ssh-agent wire messages (draft-miller-ssh-agent)
 *
 * Every function returns 0 (or a length) or a negative SSHBPP_E* code.
 */
#ifndef SSHBPP_KEYS_INT_H
#define SSHBPP_KEYS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_keys.h"

struct sshbpp_key {
    sshbpp__hostkey hk;   /* pkey, type, curve_bits */
    int priv;             /* the private half is there */
    int format;           /* enum sshbpp_key_format */
    char *comment;        /* NULL if none */
};

/* Sets diag (if any): line and a printf-style reason; returns err. */
int sshbpp__diag(sshbpp_key_diag *diag, unsigned long line, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- base64.c ---- */
/* Decodes standard base64 (with or without '=' padding, no whitespace)
 * into out (cap >= len / 4 * 3 + 3). Any other byte, a bad length, or
 * non-zero unused bits is an error. Returns the length or SSHBPP_EKEYFILE. */
long sshbpp__b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);
/* Decodes base64 with whitespace (line breaks) allowed between groups. */
long sshbpp__b64_decode_ws(const char *in, size_t len, uint8_t *out, size_t cap);
/* Padded base64 into out with NUL; returns the length or SSHBPP_EBUFSMALL. */
long sshbpp__b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* ---- key.c ---- */
/* A new key object taking pkey (classified; refused types: SSHBPP_EKEYTYPE). */
int sshbpp__key_from_pkey(struct evp_pkey_st *pkey, int priv, int format, sshbpp_key **out);
/* The public blob into a fresh buffer (wbuf). */
int sshbpp__key_blob(const sshbpp_key *k, sshbpp__wbuf *out);
/* Key type name for a blob's first string, 1 if it is one we parse. */
int sshbpp__key_type_known(const uint8_t *name, size_t n);

/* ---- openssh_key.c ---- */
/* Parses the decoded openssh-key-v1 bytes. want_private 0: only the
 * (clear) public key of the header, for encrypted files too. */
int sshbpp__openssh_key_parse(const uint8_t *p, size_t n, int want_private, sshbpp_key **out,
                              sshbpp_key_diag *diag);

/* ---- lines.c ---- */
typedef struct sshbpp__lines {
    const char *p, *end;
    unsigned long lineno;
} sshbpp__lines;
void sshbpp__lines_init(sshbpp__lines *l, const char *p, size_t n);
/* Next line without its CR LF / LF: 1 with *line and *len, 0 at the end, or
 * SSHBPP_EKEYLINELONG (diag line set) for a line longer than
 * SSHBPP_KEYS_MAX_LINE. */
int sshbpp__lines_next(sshbpp__lines *l, const char **line, size_t *len, sshbpp_key_diag *diag);
/* Reads a whole file (at most max bytes) into a malloc'd, NUL-terminated
 * buffer. Missing file: SSHBPP_EIO with *enoent = 1 (if given). */
int sshbpp__read_file(const char *path, size_t max, char **data, size_t *len, int *enoent);
void sshbpp__free_file(char *data, size_t len); /* wipes, frees */

/* ---- pattern.c ---- */
/* Case-insensitive glob ('*', '?') of the n bytes of s against pattern
 * (plen bytes). */
int sshbpp__glob(const char *pat, size_t plen, const char *s, size_t n);
/* A comma-separated pattern list with '!' negation against name:
 * 1 matched, 0 not, -1 matched a negation (a negative match wins). */
int sshbpp__match_list(const char *list, size_t len, const char *name);
/* from=-style list: patterns match addr (numeric, with CIDR "addr/bits") or
 * host (may be NULL). 1, 0 or -1 as above; -2 for a malformed CIDR. */
int sshbpp__match_host_addr(const char *list, size_t len, const char *host, const char *addr);

/* ---- agent_codec.c ---- */
#define SSHBPP__AGENT_FAILURE 5
#define SSHBPP__AGENTC_REQUEST_IDENTITIES 11
#define SSHBPP__AGENT_IDENTITIES_ANSWER 12
#define SSHBPP__AGENTC_SIGN_REQUEST 13
#define SSHBPP__AGENT_SIGN_RESPONSE 14
#define SSHBPP__AGENT_RSA_SHA2_256 0x02u
#define SSHBPP__AGENT_RSA_SHA2_512 0x04u
#define SSHBPP__AGENT_MAX_MSG (256u * 1024)
#define SSHBPP__AGENT_MAX_KEYS 1024u

/* Builds a framed request (uint32 length, then the message). */
int sshbpp__agent_req_identities(sshbpp__wbuf *out);
int sshbpp__agent_req_sign(sshbpp__wbuf *out, const uint8_t *blob, size_t blen, const uint8_t *data,
                           size_t n, uint32_t flags);
/* The flags for sig_alg (0 for non-RSA), or -1 if sig_alg does not fit key. */
long sshbpp__agent_sign_flags(const sshbpp_key *key, const char *sig_alg);
/* Parses an answer body (after the uint32 length). */
int sshbpp__agent_parse_identities(const uint8_t *p, size_t n, sshbpp_key ***keys, size_t *nkeys);
int sshbpp__agent_parse_sign(const uint8_t *p, size_t n, const char *sig_alg, uint8_t *sig,
                             size_t cap, size_t *sig_len);

#endif
