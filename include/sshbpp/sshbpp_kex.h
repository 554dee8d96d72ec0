/*
 * sshbpp_kex.h: the SSH transport handshake on top of the packet layer:
 * version exchange, KEXINIT negotiation (RFC 4253 section 7), the key
 * exchange methods, host key signatures, RFC 4253 section 7.2 key
 * derivation, NEWKEYS, RFC 8308 ext-info and OpenSSH's strict KEX, in both
 * roles.
 *
 * Two layers, like the packet layer:
 *  - sshbpp_kex: a sans-I/O state machine. It is fed every received message
 *    (sshbpp_kex_input) and talks to the packet layer only through the
 *    sshbpp_kex_transport callbacks (send a message, install keys, reset a
 *    sequence number). It never blocks, reads a clock or touches a socket.
 *  - sshbpp_conn (sshbpp_conn.h): the connection object that drives it
 *    (version exchange, rekeys, user authentication), sans I/O too, and
 *    its blocking driver (sshbpp_driver.h), kept apart so that this header
 *    stays free of blocking I/O.
 *
 * The packet engine does not depend on any of this.
 *
 * Supported: key exchange mlkem768x25519-sha256 (when libcrypto has
 * ML-KEM-768: OpenSSL 3.5 and later), curve25519-sha256,
 * curve25519-sha256@libssh.org, ecdh-sha2-nistp256/384/521,
 * diffie-hellman-group-exchange-sha256, diffie-hellman-group16-sha512,
 * diffie-hellman-group18-sha512, diffie-hellman-group14-sha256, and on
 * request only diffie-hellman-group14-sha1 and diffie-hellman-group1-sha1;
 * host keys ssh-ed25519, ecdsa-sha2-nistp256/384/521, rsa-sha2-256,
 * rsa-sha2-512, and on request only ssh-rsa (SHA-1); all ciphers, MACs and
 * compression methods of sshbpp.h (sshbpp_kex_supported() lists them at
 * run time). All crypto is OpenSSL's, UMAC nettle's.
 */
#ifndef SSHBPP_KEX_H
#define SSHBPP_KEX_H

#include "sshbpp_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sshbpp_role { SSHBPP_ROLE_CLIENT = 0, SSHBPP_ROLE_SERVER = 1 };

/* Indexes of the ten name-lists of a KEXINIT (RFC 4253 section 7.1). */
enum sshbpp_kexinit_list {
    SSHBPP_KEXINIT_KEX = 0,
    SSHBPP_KEXINIT_HOSTKEY,
    SSHBPP_KEXINIT_CIPHER_C2S,
    SSHBPP_KEXINIT_CIPHER_S2C,
    SSHBPP_KEXINIT_MAC_C2S,
    SSHBPP_KEXINIT_MAC_S2C,
    SSHBPP_KEXINIT_COMP_C2S,
    SSHBPP_KEXINIT_COMP_S2C,
    SSHBPP_KEXINIT_LANG_C2S,
    SSHBPP_KEXINIT_LANG_S2C,
    SSHBPP_KEXINIT_NLISTS
};

/* Algorithm preferences: comma-separated SSH names, NULL for the default
 * list (sshbpp_kex_default()). OpenSSH's list syntax (ssh_config(5)) works
 * in every field: "+a,b" appends a and b to the default list, "-a,b*"
 * removes names from it (the patterns '*' and '?' allowed), "^a,b" puts a
 * and b at its head; after '+' and '^' only supported names are accepted.
 * Legacy algorithms (diffie-hellman-group14-sha1, ...) are never in the
 * defaults and must be asked for, e.g. "+diffie-hellman-group14-sha1".
 * The same cipher/MAC/compression list is offered for both directions. The
 * pseudo-algorithms ext-info-c/-s and kex-strict-c/s-v00@openssh.com are
 * added by the library. */
typedef struct sshbpp_kex_config {
    const char *kex;
    const char *hostkey;
    const char *ciphers;
    const char *macs;
    const char *compression; /* default "none" */
} sshbpp_kex_config;

/* The default list for one KEXINIT slot (SSHBPP_KEXINIT_KEX, _HOSTKEY,
 * _CIPHER_C2S, _MAC_C2S, _COMP_C2S); static storage; NULL for others. */
SSHBPP_API const char *sshbpp_kex_default(int list);

/* Every key exchange (SSHBPP_KEXINIT_KEX) or host key signature
 * (SSHBPP_KEXINIT_HOSTKEY) algorithm this build can run with the libcrypto
 * it runs on, legacy ones included, in preference order: a NULL-terminated
 * array in static storage; NULL for other lists. mlkem768x25519-sha256 is
 * in it only when libcrypto provides ML-KEM-768 (OpenSSL 3.5 and later). */
SSHBPP_API const char *const *sshbpp_kex_supported(int list);

/* What the state machine needs from the packet layer. All return 0 or a
 * negative SSHBPP_E* code (which fails the exchange). send() must be safe
 * to call from the thread that calls sshbpp_kex_input()/start(). */
typedef struct sshbpp_kex_transport {
    int (*send)(void *ctx, const uint8_t *payload, size_t len);
    int (*set_keys)(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *keys);
    int (*set_compression)(void *ctx, enum sshbpp_dir dir, const char *name);
    void (*reset_seqno)(void *ctx, enum sshbpp_dir dir);
} sshbpp_kex_transport;

/* Optional transport hook: reports the outbound sequence number that the
 * message just passed to send() went out with. Called right after every
 * successful send() of our KEXINIT, from the same thread. Returns 0 with
 * *seqno set when the transport knows it exactly, or nonzero when it does
 * not (another sender may have written in between): refusal detection (see
 * sshbpp_kex_set_seqno_fn()) is then off for that exchange. */
typedef int (*sshbpp_kex_seqno_fn)(void *ctx, uint32_t *seqno);

typedef struct sshbpp_kex sshbpp_kex;

/* Creates a key exchange for one connection. cfg and t are copied (the
 * strings in cfg too); ctx is passed to t's callbacks. Returns NULL on a
 * NULL argument, an unknown role or out of memory; invalid names in cfg are
 * reported by sshbpp_kex_start() as SSHBPP_EUNSUPPORTED. */
SSHBPP_API sshbpp_kex *sshbpp_kex_new(int role, const sshbpp_kex_config *cfg,
                                      const sshbpp_kex_transport *t, void *ctx);

/* Wipes secrets (shared secret, session id, ephemeral and host keys) and
 * frees. NULL is a no-op. */
SSHBPP_API void sshbpp_kex_free(sshbpp_kex *k);

/* Server: loads a host private key from an unencrypted file in any format
 * sshbpp_key_load_file() reads (OpenSSH's openssh-key-v1 as ssh-keygen
 * writes it, PEM, PKCS#8; ed25519, ECDSA P-256/384/521, RSA >= 2048 bits),
 * or generates an ephemeral one ("ssh-ed25519", "ecdsa-sha2-nistp256", ...,
 * "rsa" for a 3072-bit RSA key). Several keys may be added; the negotiated
 * host key algorithm picks one. Returns 0, SSHBPP_EINVAL, SSHBPP_EIO
 * (file), SSHBPP_EKEYFILE (not a private key we can parse), SSHBPP_EKEYTYPE,
 * SSHBPP_EKEYBCRYPT, SSHBPP_EKEYPASSPHRASE (encrypted), SSHBPP_ENOMEM or
 * SSHBPP_ECRYPTO. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_add_hostkey_file(sshbpp_kex *k, const char *path);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_generate_hostkey(sshbpp_kex *k, const char *alg);

/* Server, diffie-hellman-group-exchange-sha256 (RFC 4419): loads the
 * groups to offer from an OpenSSH moduli file (moduli(5); only tested safe
 * primes of 2048 to 8192 bits are taken). Without it the RFC 3526 groups
 * 14 to 18 (2048 to 8192 bits, generator 2) are used, as OpenSSH does when
 * it has no moduli file. A later call replaces the list. Returns 0,
 * SSHBPP_EINVAL, SSHBPP_EIO (cannot read the file), SSHBPP_EKEXMSG
 * (malformed, or no usable group in it), or SSHBPP_ENOMEM. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_set_moduli(sshbpp_kex *k, const char *path);

/* Sets both identification strings (without CR LF), needed for the
 * exchange hash, before the first sshbpp_kex_input(). Returns 0 or
 * SSHBPP_EINVAL. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_set_versions(sshbpp_kex *k, const char *client_version,
                                       const char *server_version);

/* Installs the optional sequence-number hook (NULL, the default, removes
 * it; ctx is the one given to sshbpp_kex_new()). With it, an
 * SSH_MSG_UNIMPLEMENTED that names our KEXINIT while our exchange runs (as
 * OpenSSH's sshd answers a KEXINIT before user authentication) fails the
 * exchange with SSHBPP_EREKEYREFUSED instead of leaving it waiting for a
 * KEXINIT that never comes. It is a setter rather than a field of
 * sshbpp_kex_transport so that existing positional initialisers of that
 * struct stay free of -Wmissing-field-initializers warnings. The conn
 * (sshbpp_conn_new()) installs it itself. Returns 0 or SSHBPP_EINVAL. */
SSHBPP_API int sshbpp_kex_set_seqno_fn(sshbpp_kex *k, sshbpp_kex_seqno_fn fn);

/* ===================================================================== */
/* Key log (debugging only: lets Wireshark decrypt a capture)             */

/* How shared_secret in sshbpp_keylog_event is encoded: the bytes of K as
 * they are hashed into H and the keys, without the uint32 length in front
 * (the whole hashed field is uint32 shared_secret_len || shared_secret). */
enum sshbpp_keylog_secret_form {
    /* mpint body (RFC 4251 section 5): big-endian two's complement, so a
     * 0x00 comes first when the top bit of the magnitude is set; every
     * method except the hybrid (X25519: the 32 bytes read as a number,
     * RFC 8731, leading zero bytes dropped) */
    SSHBPP_KEYLOG_K_MPINT = 0,
    /* string body: mlkem768x25519-sha256, K = SHA-256(ML-KEM secret ||
     * X25519 secret), 32 bytes */
    SSHBPP_KEYLOG_K_STRING = 1
};

/* One completed key computation of one side. Every pointer is valid only
 * during the callback; the buffers are wiped right after it returns. */
typedef struct sshbpp_keylog_event {
    enum sshbpp_role role;      /* our role */
    const char *kex;            /* the method, e.g. "curve25519-sha256" */
    unsigned exchange;          /* 0 for the first exchange, n for the nth rekey */
    const uint8_t *cookie;      /* 16 bytes: the cookie of the KEXINIT we sent */
    /* Our ephemeral private key, or NULL (length 0) where the method has
     * none that a reader could use alone: curve25519: the 32-byte X25519
     * scalar as stored (RFC 7748); ecdh-sha2-nistp*: the private scalar,
     * big-endian, padded to the field size (32, 48, 66); finite-field DH
     * (group14/16/18, group1, group exchange): x (client) or y (server),
     * big-endian unsigned, no leading zero bytes; mlkem768x25519: NULL
     * (K needs the ML-KEM secret too: use shared_secret). NULL also if
     * libcrypto could not export it. */
    const uint8_t *priv;
    size_t priv_len;
    const uint8_t *shared_secret; /* K, in shared_secret_form */
    size_t shared_secret_len;
    enum sshbpp_keylog_secret_form shared_secret_form;
} sshbpp_keylog_event;

/* Receives the key log events. It runs on the thread that feeds
 * sshbpp_kex_input(), after the exchange hash and the keys are computed
 * (for the client: after the server's signature verified), before our
 * NEWKEYS goes out. It must not call back into the kex or its connection,
 * and must copy what it keeps (it gets secrets: treat them as such). */
typedef void (*sshbpp_keylog_fn)(void *ctx, const sshbpp_keylog_event *ev);

/* Installs the key log callback (NULL, the default, removes it): called
 * once per exchange, the first one and every rekey, in both roles, with
 * ctx. Off unless installed; the library writes no file itself (the CLI's
 * SSHKEYLOGFILE writer is one user of it). A setter rather than a field of
 * sshbpp_kex_config, so that positional initialisers of that struct stay
 * valid; sshbpp_conn_config has keylog/keylog_ctx fields that the conn
 * passes here. Returns 0 or SSHBPP_EINVAL (k NULL). */
SSHBPP_API int sshbpp_kex_set_keylog(sshbpp_kex *k, sshbpp_keylog_fn fn, void *ctx);

/* Sends our KEXINIT: the first exchange, or a rekey we start. A no-op
 * (returns 0) while an exchange is already running. Returns 0, or
 * SSHBPP_EUNSUPPORTED (bad name in the config), SSHBPP_EHOSTKEY (a server
 * with no host key that can sign any configured algorithm), SSHBPP_ENOMEM,
 * SSHBPP_ECRYPTO, a transport error, or the sticky error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_start(sshbpp_kex *k);

/* Feeds one received message (from sshbpp_engine_rx_next or
 * sshbpp_packetizer_read_message; its seqno matters for strict KEX). Returns
 *   SSHBPP_KEX_USED  (1): a key-exchange message, handled;
 *   SSHBPP_KEX_PASS  (0): not for the key exchange: the caller handles it
 *                         (IGNORE, DEBUG, service and auth messages, ...);
 * or a fatal error: SSHBPP_ENOMATCH, SSHBPP_EKEXMSG, SSHBPP_EKEXVALUE,
 * SSHBPP_EHOSTKEY, SSHBPP_ESIGNATURE, SSHBPP_ESTRICTKEX (KEXINIT not the
 * first packet, or a non-KEX message before the first NEWKEYS, under strict
 * KEX), SSHBPP_EKEXORDER (a KEX message in the wrong state, a second
 * KEXINIT in one exchange, NEWKEYS early), SSHBPP_EDISCONNECT,
 * SSHBPP_EREKEYREFUSED (an UNIMPLEMENTED naming our KEXINIT, with the
 * seqno hook installed; other UNIMPLEMENTED messages pass), or a
 * transport error. A peer's KEXINIT outside an exchange starts a rekey
 * (our KEXINIT is sent in reply). After an error the object only reports
 * that error. k or pkt NULL, or an empty payload, is the caller's mistake:
 * SSHBPP_EINVAL, and nothing is recorded. */
#define SSHBPP_KEX_PASS 0
#define SSHBPP_KEX_USED 1
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_input(sshbpp_kex *k, const sshbpp_packet *pkt);

/* 1 while an exchange runs (from our or the peer's KEXINIT until both
 * NEWKEYS): the caller must not send other messages meanwhile. */
SSHBPP_API int sshbpp_kex_running(const sshbpp_kex *k);

/* Number of completed exchanges (1 after the first). */
SSHBPP_API unsigned sshbpp_kex_completed(const sshbpp_kex *k);

/* Results of the latest exchange. Strings are NUL-terminated copies. */
typedef struct sshbpp_kex_info {
    char kex[64];
    char hostkey_alg[64];
    char hostkey_fingerprint[64]; /* "SHA256:" + unpadded base64, as ssh-keygen -l */
    char cipher_c2s[64], cipher_s2c[64];
    char mac_c2s[64], mac_s2c[64]; /* "" with an AEAD cipher */
    char comp_c2s[32], comp_s2c[32];
    int strict_kex;                /* both sides advertised strict KEX */
    unsigned rekeys;               /* completed exchanges after the first */
} sshbpp_kex_info;

/* Fills *out. Returns 0, or SSHBPP_EINVAL before the first exchange. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_get_info(const sshbpp_kex *k, sshbpp_kex_info *out);

/* The peer's KEXINIT name-list number `list` (enum sshbpp_kexinit_list),
 * from its latest KEXINIT; NULL if none yet. Valid until the next input. */
SSHBPP_API const char *sshbpp_kex_peer_list(const sshbpp_kex *k, int list);

/* Session identifier (H of the first exchange), or NULL before it. */
SSHBPP_API const uint8_t *sshbpp_kex_session_id(const sshbpp_kex *k, size_t *len);

/* Client: the server's host key blob K_S from the first exchange (every
 * rekey must present the same one), for a known_hosts check
 * (sshbpp_known_hosts_verify() in sshbpp_keys.h); NULL before it or on a
 * server. Valid until sshbpp_kex_free(). */
SSHBPP_API const uint8_t *sshbpp_kex_peer_hostkey(const sshbpp_kex *k, size_t *len);

/* Client: the server-sig-algs extension from the server's EXT_INFO, or
 * NULL if none arrived. */
SSHBPP_API const char *sshbpp_kex_server_sig_algs(const sshbpp_kex *k);

/* ===================================================================== */
/* User authentication and delayed compression                           */

/* Tells the state machine that user authentication succeeded: call it
 * right after SSH_MSG_USERAUTH_SUCCESS was sent (server) or received
 * (client), before the next message is read or sent. It switches on
 * "zlib@openssh.com" now in each direction where the latest exchange
 * negotiated it (that method is defined to start after authentication),
 * and makes every later NEWKEYS switch it on with the keys, like "zlib".
 * A second call is a no-op. Call it from the thread that feeds
 * sshbpp_kex_input() (sshbpp_conn does so itself). Returns 0, SSHBPP_EINVAL (NULL, or before the first
 * exchange), the sticky error, or a transport error (which becomes
 * sticky). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_kex_auth_done(sshbpp_kex *k);

#ifdef __cplusplus
}
#endif
#endif
