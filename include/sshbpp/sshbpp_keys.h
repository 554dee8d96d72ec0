/*
 * sshbpp_keys.h: keys and trust: key files (OpenSSH openssh-key-v1, PEM,
 * PKCS#8, OpenSSH public lines), fingerprints, known_hosts,
 * authorized_keys, and the ssh-agent client.
 *
 * The connection code uses this layer through two small shapes only: a
 * public key blob plus a signer (sshbpp_sign_fn), and a host-key check
 * (sshbpp_known_hosts_verify()). It never opens a file itself.
 *
 * Errors. Every call returns 0 (or a count) or a negative SSHBPP_E* code.
 * The key-file codes describe one call and close nothing:
 *   SSHBPP_EKEYPASSPHRASE (soft): encrypted key, no passphrase given;
 *   SSHBPP_EKEYBADPASS    (soft): the passphrase does not decrypt it;
 *   SSHBPP_EKEYLINELONG   (soft): a line above SSHBPP_KEYS_MAX_LINE bytes;
 *   SSHBPP_EKEYFILE:  the file cannot be parsed (diag says where and why);
 *   SSHBPP_EKEYTYPE:  a key type, curve or size we do not use;
 *   SSHBPP_EKEYBCRYPT: an encrypted OpenSSH-format key (bcrypt KDF);
 *   SSHBPP_EHOSTKEYCHANGED, SSHBPP_EHOSTKEYUNKNOWN, SSHBPP_EKEYREVOKED:
 *                     host-key check outcomes that must end a connection;
 *   SSHBPP_EKEYNOTAUTHORIZED: no usable authorized_keys entry;
 *   SSHBPP_EAGENT, SSHBPP_EAGENTREFUSED: the agent is gone / said no.
 * Those below -19 carry numbers in the table's fatal range: they are fatal
 * to a connection that meets them (a changed host key, a dead agent), but
 * a call of this header holds no engine, so nothing is made sticky here.
 *
 * Threads: objects are not locked; one thread per object at a time.
 * A loaded key (sshbpp_key_load_*) may be shared read-only by threads.
 */
#ifndef SSHBPP_KEYS_H
#define SSHBPP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest line accepted in a public key, known_hosts or authorized_keys
 * file (a 16384-bit RSA line with options is about 3 KiB). */
#define SSHBPP_KEYS_MAX_LINE 65536
/* Largest key, known_hosts or authorized_keys file read. */
#define SSHBPP_KEYS_MAX_FILE (16u << 20)

/* Where a parse failed: line (1-based, 0 if not line-oriented) and a short
 * reason ("check-int mismatch", "padding byte 3 is 7, not 3"). Optional
 * everywhere (NULL); filled on failure, msg "" on success. */
typedef struct sshbpp_key_diag {
    unsigned long line;
    char msg[160];
} sshbpp_key_diag;

/* ===================================================================== */
/* The signer shape used by publickey authentication                      */

#ifndef SSHBPP_SIGN_FN_DEFINED
#define SSHBPP_SIGN_FN_DEFINED
/* Signs data with signature algorithm sig_alg ("ssh-ed25519",
 * "ecdsa-sha2-nistp256", "rsa-sha2-512", ...) and writes the SSH signature
 * blob (string sig_alg, string signature) into sig (cap bytes), its length
 * to *sig_len. Returns 0 or a negative code (SSHBPP_EBUFSMALL if cap is too
 * small). */
typedef int (*sshbpp_sign_fn)(void *ctx, const char *sig_alg, const uint8_t *data, size_t len,
                              uint8_t *sig, size_t cap, size_t *sig_len);
#endif

/* ===================================================================== */
/* Keys                                                                   */

typedef struct sshbpp_key sshbpp_key;

enum sshbpp_key_type { SSHBPP_KEY_ED25519 = 1, SSHBPP_KEY_ECDSA, SSHBPP_KEY_RSA };
enum sshbpp_fp_hash { SSHBPP_FP_SHA256 = 0, SSHBPP_FP_MD5 };

/* Which file formats load_* understood (sshbpp_key_format()). */
enum sshbpp_key_format {
    SSHBPP_KEYFMT_OPENSSH = 1, /* -----BEGIN OPENSSH PRIVATE KEY----- */
    SSHBPP_KEYFMT_PEM,         /* traditional PEM: RSA/EC PRIVATE KEY, maybe encrypted */
    SSHBPP_KEYFMT_PKCS8,       /* PRIVATE KEY / ENCRYPTED PRIVATE KEY (PEM or DER) */
    SSHBPP_KEYFMT_PUBLIC       /* an OpenSSH public line: "type base64 [comment]" */
};

/* Loads a key from a file or memory: a private key in openssh-key-v1
 * (unencrypted), PEM or PKCS#8 (PEM or DER; encrypted ones with
 * passphrase, which may be NULL), or an OpenSSH public key line (public
 * half only). Types: ed25519, ECDSA P-256/384/521, RSA 2048..16384 bits.
 * *out is the caller's (sshbpp_key_free()). The file is read whole (at most
 * SSHBPP_KEYS_MAX_FILE) and its bytes are wiped after parsing.
 * Returns 0, SSHBPP_EINVAL, SSHBPP_EIO (cannot read), SSHBPP_EKEYFILE,
 * SSHBPP_EKEYTYPE, SSHBPP_EKEYBCRYPT (an encrypted OpenSSH key: load it
 * into ssh-agent, or re-encrypt it as PEM with `ssh-keygen -p -m PEM`),
 * SSHBPP_EKEYPASSPHRASE, SSHBPP_EKEYBADPASS, SSHBPP_ENOMEM, SSHBPP_ECRYPTO. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_load_file(const char *path, const char *passphrase,
                                                    sshbpp_key **out, sshbpp_key_diag *diag);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_load_mem(const uint8_t *data, size_t len,
                                                   const char *passphrase, sshbpp_key **out,
                                                   sshbpp_key_diag *diag);
/* The public key of an openssh-key-v1 file even when it is encrypted (the
 * header carries it in clear), or of an OpenSSH public line. For an agent
 * that holds the private half. Same errors, no passphrase errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_load_public_mem(const uint8_t *data, size_t len,
                                                          sshbpp_key **out, sshbpp_key_diag *diag);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_load_public_file(const char *path, sshbpp_key **out,
                                                           sshbpp_key_diag *diag);
/* One OpenSSH public line "type base64 [comment]" (len bytes, no NUL
 * needed, a trailing newline allowed). Returns 0, SSHBPP_EKEYFILE,
 * SSHBPP_EKEYTYPE, SSHBPP_EKEYLINELONG, SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_parse_public_line(const char *line, size_t len,
                                                            sshbpp_key **out,
                                                            sshbpp_key_diag *diag);
/* A public key from its SSH blob (RFC 4253 section 6.6). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_from_blob(const uint8_t *blob, size_t len,
                                                    sshbpp_key **out);
/* Frees k; the private key is wiped (OpenSSL clears it). NULL is fine. */
SSHBPP_API void sshbpp_key_free(sshbpp_key *k);

SSHBPP_API int sshbpp_key_has_private(const sshbpp_key *k);
SSHBPP_API enum sshbpp_key_type sshbpp_key_type(const sshbpp_key *k);
SSHBPP_API enum sshbpp_key_format sshbpp_key_format(const sshbpp_key *k);
/* Key type name as in the blob: "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa". */
SSHBPP_API const char *sshbpp_key_type_name(const sshbpp_key *k);
/* Bits as ssh-keygen -l prints them (256 for ed25519, the curve, the modulus). */
SSHBPP_API int sshbpp_key_bits(const sshbpp_key *k);
/* The comment from the file (OpenSSH formats), or NULL if none; valid until
 * the next set_comment or free. */
SSHBPP_API const char *sshbpp_key_comment(const sshbpp_key *k);
/* Sets (a copy of) the comment; NULL clears it. 0 or SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_set_comment(sshbpp_key *k, const char *comment);
/* 1 if a and b are the same public key. */
SSHBPP_API int sshbpp_key_equal(const sshbpp_key *a, const sshbpp_key *b);

/* The public key blob into out (cap bytes), its length to *len; with out
 * NULL and cap 0 only *len. Returns 0, SSHBPP_EBUFSMALL, SSHBPP_ECRYPTO. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_public_blob(const sshbpp_key *k, uint8_t *out,
                                                      size_t cap, size_t *len);
/* The OpenSSH public line, as `ssh-keygen -y` prints it: "type base64",
 * then " comment" if the key has a non-empty comment; no newline.
 * Returns the length, or SSHBPP_EBUFSMALL / SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_public_line(const sshbpp_key *k, char *out, size_t cap);
/* "SHA256:" + unpadded base64, or "MD5:" + colon-separated hex, of the
 * blob. Returns the length, or SSHBPP_EBUFSMALL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_blob_fingerprint(const uint8_t *blob, size_t len,
                                                       enum sshbpp_fp_hash h, char *out,
                                                       size_t cap);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_fingerprint(const sshbpp_key *k, enum sshbpp_fp_hash h,
                                                      char *out, size_t cap);
/* The line `ssh-keygen -l [-E md5]` prints: "256 SHA256:... comment (ED25519)".
 * comment NULL prints "no comment", as ssh-keygen does for a key without one.
 * Returns the length, or SSHBPP_EBUFSMALL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_fingerprint_line(const sshbpp_key *k,
                                                           enum sshbpp_fp_hash h,
                                                           const char *comment, char *out,
                                                           size_t cap);

/* The signature algorithm to use for k against a server whose
 * server-sig-algs (RFC 8308; NULL if none) is given: "ssh-ed25519",
 * "ecdsa-sha2-nistp*", "rsa-sha2-512" when listed, else "rsa-sha2-256".
 * Static storage. */
SSHBPP_API const char *sshbpp_key_sig_alg(const sshbpp_key *k, const char *server_sig_algs);
/* 1 if sig_alg is a signature algorithm of k's type. */
SSHBPP_API int sshbpp_key_can_sign(const sshbpp_key *k, const char *sig_alg);
/* Signs (see sshbpp_sign_fn). Returns 0, SSHBPP_EINVAL (no private half,
 * sig_alg not for this key), SSHBPP_EBUFSMALL, SSHBPP_ENOMEM, SSHBPP_ECRYPTO. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_sign(const sshbpp_key *k, const char *sig_alg,
                                               const uint8_t *data, size_t len, uint8_t *sig,
                                               size_t cap, size_t *sig_len);
/* sshbpp_key_sign() as an sshbpp_sign_fn: key is a const sshbpp_key *. */
SSHBPP_API int sshbpp_key_sign_cb(void *key, const char *sig_alg, const uint8_t *data, size_t len,
                                  uint8_t *sig, size_t cap, size_t *sig_len);
/* Verifies an SSH signature blob made by k over data. 0 or SSHBPP_ESIGNATURE. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_key_verify(const sshbpp_key *k, const uint8_t *data,
                                                 size_t len, const uint8_t *sig, size_t sig_len);

/* ===================================================================== */
/* known_hosts                                                            */

typedef struct sshbpp_known_hosts sshbpp_known_hosts;

enum sshbpp_hostkey_status {
    SSHBPP_HOSTKEY_MATCH = 0, /* an entry for this host has this key */
    SSHBPP_HOSTKEY_UNKNOWN,   /* no entry for this host has a key of this type */
    SSHBPP_HOSTKEY_MISMATCH,  /* an entry for this host has another key of this type */
    SSHBPP_HOSTKEY_REVOKED    /* the key is in an @revoked line for this host */
};

typedef struct sshbpp_known_hosts_result {
    enum sshbpp_hostkey_status status;
    const char *file;     /* the file of the entry below (the name given at load) */
    unsigned long line;   /* the matching / conflicting / revoking entry; 0 if none */
    unsigned long ca_skipped;  /* @cert-authority lines for this host, skipped */
    unsigned long other_types; /* entries for this host with keys of other types */
    int added;            /* verify(): a line was appended (accept-new, no) */
} sshbpp_known_hosts_result;

/* Parses OpenSSH's known_hosts format: "[marker] hostpatterns keytype
 * base64 [comment]", with plain ("host", "[host]:port", comma lists,
 * "!negation", "*" and "?" wildcards) and hashed ("|1|salt|hmac-sha1")
 * host fields, markers @revoked and @cert-authority. A missing file is an
 * empty set (as OpenSSH); name (copied) labels results. Lines that do not
 * parse are skipped as OpenSSH does and counted in *bad_lines (optional).
 * Returns 0, SSHBPP_EKEYLINELONG (diag->line says where), SSHBPP_EIO,
 * SSHBPP_ENOMEM, SSHBPP_EINVAL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_known_hosts_load_file(const char *path,
                                                            sshbpp_known_hosts **out,
                                                            unsigned long *bad_lines,
                                                            sshbpp_key_diag *diag);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_known_hosts_load_mem(const char *data, size_t len,
                                                           const char *name,
                                                           sshbpp_known_hosts **out,
                                                           unsigned long *bad_lines,
                                                           sshbpp_key_diag *diag);
SSHBPP_API void sshbpp_known_hosts_free(sshbpp_known_hosts *kh);
SSHBPP_API size_t sshbpp_known_hosts_count(const sshbpp_known_hosts *kh);

/* Looks up host (a name or address as the user gave it; case does not
 * matter) at port (22 looks up "host", others "[host]:port") with the
 * server's key blob. Returns 0 with *res filled, or SSHBPP_EINVAL /
 * SSHBPP_EKEYFILE (blob not a key). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_known_hosts_check(const sshbpp_known_hosts *kh,
                                                        const char *host, unsigned port,
                                                        const uint8_t *blob, size_t len,
                                                        sshbpp_known_hosts_result *res);

/* The known_hosts line for host:port and key, with a newline: plain
 * ("host" or "[host]:port") or hashed ("|1|" fresh 20-byte salt "|" HMAC).
 * Returns the length, or SSHBPP_EBUFSMALL, SSHBPP_ECRYPTO. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_known_hosts_format_line(const char *host, unsigned port,
                                                              const uint8_t *blob, size_t len,
                                                              int hashed, char *out, size_t cap);

enum sshbpp_strict_hostkey {
    SSHBPP_SHK_YES = 0,    /* unknown and changed keys are refused */
    SSHBPP_SHK_ACCEPT_NEW, /* unknown keys are appended; changed keys are refused */
    SSHBPP_SHK_NO          /* unknown keys are appended; changed keys pass (res says so) */
};

/* The whole client check, as OpenSSH's StrictHostKeyChecking: loads path,
 * checks, and appends a line (hashed if hash) for an unknown key under
 * accept-new and no. A revoked key is refused under every policy.
 * Returns 0 (accepted: res->status says MATCH, UNKNOWN+added, or MISMATCH
 * under "no"), SSHBPP_EKEYREVOKED, SSHBPP_EHOSTKEYCHANGED (file and line in
 * res), SSHBPP_EHOSTKEYUNKNOWN (policy yes), or a load / write error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_known_hosts_verify(const char *path, const char *host,
                                                         unsigned port, const uint8_t *blob,
                                                         size_t len,
                                                         enum sshbpp_strict_hostkey policy,
                                                         int hash, sshbpp_known_hosts_result *res,
                                                         sshbpp_key_diag *diag);

/* ===================================================================== */
/* authorized_keys                                                        */

/* Boolean options, as flags on an entry (OpenSSH's sshd(8) list). */
#define SSHBPP_AK_RESTRICT 0x0001u
#define SSHBPP_AK_NO_AGENT_FWD 0x0002u
#define SSHBPP_AK_AGENT_FWD 0x0004u
#define SSHBPP_AK_NO_PORT_FWD 0x0008u
#define SSHBPP_AK_PORT_FWD 0x0010u
#define SSHBPP_AK_NO_PTY 0x0020u
#define SSHBPP_AK_PTY 0x0040u
#define SSHBPP_AK_NO_USER_RC 0x0080u
#define SSHBPP_AK_USER_RC 0x0100u
#define SSHBPP_AK_NO_X11_FWD 0x0200u
#define SSHBPP_AK_X11_FWD 0x0400u
#define SSHBPP_AK_NO_TOUCH_REQUIRED 0x0800u
#define SSHBPP_AK_VERIFY_REQUIRED 0x1000u
#define SSHBPP_AK_CERT_AUTHORITY 0x2000u

/* What a session may do under an entry (sshbpp_ak_entry_permits()). */
enum sshbpp_ak_permit {
    SSHBPP_AK_PERMIT_PTY = 1,
    SSHBPP_AK_PERMIT_PORT_FWD,
    SSHBPP_AK_PERMIT_AGENT_FWD,
    SSHBPP_AK_PERMIT_X11_FWD,
    SSHBPP_AK_PERMIT_USER_RC
};

typedef struct sshbpp_ak_entry {
    sshbpp_key *key;
    unsigned long line;
    unsigned flags;          /* SSHBPP_AK_*, as written */
    unsigned permits;        /* effective: bit (1u << enum sshbpp_ak_permit), options in order */
    char *command;           /* command="...", or NULL */
    char *from;              /* from="pattern-list", or NULL */
    char *principals;        /* principals="...", or NULL */
    char *tunnel;            /* tunnel="n", or NULL */
    int64_t expiry_ms;       /* expiry-time=, ms since the epoch; 0 if none */
    char **environment;      /* environment="NAME=value" each */
    size_t n_environment;
    char **permitopen;       /* permitopen="host:port" each */
    size_t n_permitopen;
    char **permitlisten;     /* permitlisten="[host:]port" each */
    size_t n_permitlisten;
} sshbpp_ak_entry;

typedef struct sshbpp_authorized_keys sshbpp_authorized_keys;

/* Parses an authorized_keys file: "[options] keytype base64 [comment]".
 * Every option of OpenSSH's documented list is kept on its entry; a line
 * with an unknown or malformed option, or a bad key, is not used (counted
 * in *skipped; the first such line and why in diag, optional).
 * Returns 0, SSHBPP_EKEYLINELONG, SSHBPP_EIO, SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_authorized_keys_load_file(const char *path,
                                                                sshbpp_authorized_keys **out,
                                                                unsigned long *skipped,
                                                                sshbpp_key_diag *diag);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_authorized_keys_load_mem(const char *data, size_t len,
                                                               sshbpp_authorized_keys **out,
                                                               unsigned long *skipped,
                                                               sshbpp_key_diag *diag);
SSHBPP_API void sshbpp_authorized_keys_free(sshbpp_authorized_keys *ak);
SSHBPP_API size_t sshbpp_authorized_keys_count(const sshbpp_authorized_keys *ak);
SSHBPP_API const sshbpp_ak_entry *sshbpp_authorized_keys_get(const sshbpp_authorized_keys *ak,
                                                             size_t i);

/* Enforces an entry's from= and expiry-time= for a client at client_addr
 * (numeric IPv4/IPv6 text; client_host, its name, may be NULL) at now_ms
 * (ms since the epoch). Returns 0 or SSHBPP_EKEYNOTAUTHORIZED. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_ak_entry_check(const sshbpp_ak_entry *e,
                                                     const char *client_addr,
                                                     const char *client_host, int64_t now_ms);
/* 1 if the entry lets a session do `what` (restrict, the no-* options and
 * the re-enabling ones applied in OpenSSH's way). */
SSHBPP_API int sshbpp_ak_entry_permits(const sshbpp_ak_entry *e, enum sshbpp_ak_permit what);

/* The first entry whose key is pub_blob and that passes
 * sshbpp_ak_entry_check() (cert-authority lines never match a plain key).
 * *entry stays valid until sshbpp_authorized_keys_free(). Returns 0,
 * SSHBPP_EKEYNOTAUTHORIZED, SSHBPP_EINVAL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_authorized_keys_find(const sshbpp_authorized_keys *ak,
                                                           const uint8_t *pub_blob, size_t len,
                                                           const char *client_addr, int64_t now_ms,
                                                           const sshbpp_ak_entry **entry);

/* ===================================================================== */
/* ssh-agent client (the socket part lives in the io layer)               */

typedef struct sshbpp_agent sshbpp_agent;

/* Connects to the agent's socket (path NULL: $SSH_AUTH_SOCK). timeout_ms
 * bounds each request (negative: forever). Returns 0, SSHBPP_EINVAL
 * (no path and no SSH_AUTH_SOCK), SSHBPP_EAGENT (cannot connect), SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_agent_open(const char *path, int64_t timeout_ms,
                                                 sshbpp_agent **out);
SSHBPP_API void sshbpp_agent_close(sshbpp_agent *a);
/* The agent's identities (public keys with comments; certificates and
 * unsupported types are left out). *keys is an array of *n keys; free it
 * with sshbpp_agent_free_list(). Returns 0, SSHBPP_EAGENT (gone or
 * malformed answer), SSHBPP_EAGENTREFUSED, SSHBPP_ETIMEDOUT (no answer
 * within the open's timeout), SSHBPP_ENOMEM. After SSHBPP_EAGENT or
 * SSHBPP_ETIMEDOUT the object only fails: open a new one. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_agent_list(sshbpp_agent *a, sshbpp_key ***keys, size_t *n);
SSHBPP_API void sshbpp_agent_free_list(sshbpp_key **keys, size_t n);
/* Asks the agent to sign data with key (sig_alg picks the rsa-sha2-256/512
 * flag for RSA); writes the signature blob as sshbpp_sign_fn does after
 * checking that its algorithm is sig_alg. Returns 0, SSHBPP_EAGENT,
 * SSHBPP_EAGENTREFUSED, SSHBPP_ETIMEDOUT, SSHBPP_EBUFSMALL, SSHBPP_EINVAL
 * (sig_alg not for this key), SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_agent_sign(sshbpp_agent *a, const sshbpp_key *key,
                                                 const char *sig_alg, const uint8_t *data,
                                                 size_t len, uint8_t *sig, size_t cap,
                                                 size_t *sig_len);

/* The agent as an sshbpp_sign_fn: ctx points to this (both pointers must
 * outlive the signing). */
typedef struct sshbpp_agent_signer {
    sshbpp_agent *agent;
    const sshbpp_key *key;
} sshbpp_agent_signer;
SSHBPP_API int sshbpp_agent_sign_cb(void *signer, const char *sig_alg, const uint8_t *data,
                                    size_t len, uint8_t *sig, size_t cap, size_t *sig_len);

#ifdef __cplusplus
}
#endif
#endif
