/*
 * sshbpp_session.h: the blocking session, a driver over a Packetizer
 * (sshbpp_io.h) and the key exchange state machine (sshbpp_kex.h): version
 * exchange, the first key exchange, then a receive loop that handles
 * key-exchange messages (including peer-initiated rekeys) and hands
 * everything else to the caller, a thread-safe send that waits while an
 * exchange runs and starts a rekey when the rekey flag is up, and client
 * user authentication.
 */
#ifndef SSHBPP_SESSION_H
#define SSHBPP_SESSION_H

#include "sshbpp_io.h"
#include "sshbpp_kex.h"
#include "sshbpp_keys.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== */
/* Blocking session over a Packetizer                                     */

typedef struct sshbpp_session sshbpp_session;

/* Creates a session on p (not owned: the caller frees p after the
 * session). software_version is the part after "SSH-2.0-" (NULL:
 * "sshbpp_" + version). Returns NULL on bad arguments or out of memory. */
SSHBPP_API sshbpp_session *sshbpp_session_new(sshbpp_packetizer *p, int role,
                                              const sshbpp_kex_config *cfg,
                                              const char *software_version);
SSHBPP_API void sshbpp_session_free(sshbpp_session *s);

/* The state machine inside, for sshbpp_kex_add_hostkey_* (server, before
 * the handshake), sshbpp_kex_get_info() and friends. These are not
 * synchronised with a thread that completes a rekey meanwhile: use them
 * from the thread that reads, or sshbpp_session_get_info(). */
SSHBPP_API sshbpp_kex *sshbpp_session_kex(sshbpp_session *s);

/* Version exchange and the first key exchange. Lines before the peer's
 * version line are tolerated (client role, at most 1024 lines of at most
 * 8 KiB in all, RFC 4253 section 4.2); the version line must be at most
 * 255 bytes with CR LF. Returns 0, or SSHBPP_EBANNER, SSHBPP_EVERSION,
 * any error of sshbpp_kex_input() or the Packetizer. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_handshake(sshbpp_session *s, int64_t timeout_ms);

/* The peer's identification string (without CR LF), or NULL before it. */
SSHBPP_API const char *sshbpp_session_peer_version(const sshbpp_session *s);

/* Receives the next message that is not part of a key exchange: handles
 * KEX messages itself (answering a peer's rekey), starts a rekey of its own
 * when the rekey flag is up, and drops IGNORE and DEBUG messages. Reader
 * thread only. Messages that sshbpp_session_send() or _rekey() read and
 * queued while they drove an exchange (see there) come first, in arrival
 * order, even if the session has failed since: a reader thread would have
 * had them too. pkt->payload is the session's copy and stays valid until
 * the next sshbpp_session_recv() (a send or rekey that reads meanwhile
 * does not touch it). If a send or rekey is reading, waits for it to
 * finish first. Returns 0 with *pkt set, or an error (SSHBPP_EDISCONNECT
 * when the peer disconnected, the Packetizer's sticky error once it was
 * closed or failed). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_recv(sshbpp_session *s, sshbpp_packet *pkt);

/* Sends one message; thread-safe. Starts a rekey first when the rekey flag
 * is up. While an exchange is running (from our KEXINIT on), waits for it
 * to finish; if no thread is inside sshbpp_session_recv() (a
 * single-threaded caller, or a reader thread that is busy elsewhere) it
 * finishes the exchange itself: it reads and handles the key-exchange
 * messages, and queues every other message for sshbpp_session_recv(), at
 * most 4096 messages or 4 MiB of payload; beyond that the session fails
 * with SSHBPP_EPROTO (the exchange cannot finish without reading on, and
 * reading on would drop messages). A wait also ends, with the sticky error
 * (SSHBPP_ECLOSED, ...), within about 100 ms of sshbpp_packetizer_close() or a
 * failure of the Packetizer. Returns 0 or an error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_send(sshbpp_session *s, const void *payload, size_t len);

/* Starts a key exchange now and waits for it to finish. Like
 * sshbpp_session_send(), it reads itself when no thread is inside
 * sshbpp_session_recv() (queuing other messages the same way: RFC 4253
 * lets the peer send them until its own KEXINIT), and a wait ends on
 * sshbpp_packetizer_close() or a failure of the Packetizer. Returns 0 or an error;
 * SSHBPP_EREKEYREFUSED when the peer answered our KEXINIT with
 * SSH_MSG_UNIMPLEMENTED (OpenSSH's sshd does so before user
 * authentication): the connection cannot go on after that. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_rekey(sshbpp_session *s);

/* Sends SSH_MSG_DISCONNECT with reason and description (best effort). */
SSHBPP_API int sshbpp_session_disconnect(sshbpp_session *s, uint32_t reason, const char *why);

/* A keepalive that stays out of key exchanges: as
 * sshbpp_packetizer_set_keepalive() on the session's Packetizer (cb runs on
 * the reader thread after interval_ms without a write), except that cb is
 * never called before the handshake is done nor while an exchange runs
 * (from our KEXINIT until both NEWKEYS), when RFC 4253 section 7.1 allows
 * only key-exchange messages; such a tick is skipped. cb must send with
 * sshbpp_packetizer_send_message() (it runs with the session's send gate
 * held: sshbpp_session_send() there would wait for itself). interval_ms
 * <= 0 or cb NULL disables. Replaces any keepalive set on the Packetizer;
 * call it before another thread reads (as the Packetizer's own setter).
 * Returns 0 or SSHBPP_EINVAL. */
typedef void (*sshbpp_session_keepalive_fn)(sshbpp_packetizer *p, void *ctx);
SSHBPP_API int sshbpp_session_set_keepalive(sshbpp_session *s, int64_t interval_ms,
                                            sshbpp_session_keepalive_fn cb, void *ctx);

/* sshbpp_kex_get_info() under the session's lock, so that it is safe
 * while another thread may be completing a rekey (sshbpp_kex_get_info()
 * on sshbpp_session_kex() is not). Returns 0, or SSHBPP_EINVAL (NULL, or
 * before the first exchange). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_get_info(sshbpp_session *s, sshbpp_kex_info *out);

/* ===================================================================== */
/* Client user authentication (RFC 4252)                                  */

/* The three calls below are the client side of RFC 4252 over a session
 * whose handshake is done. They send a request and read its answer on the
 * calling thread, which must have the connection to itself meanwhile: no
 * other thread may be in sshbpp_session_recv() or send (a sender could
 * start a key exchange that only a reader can finish). A key exchange that
 * is running or due when they send is completed first, on this thread (as
 * sshbpp_session_rekey() without a reader). IGNORE, DEBUG and EXT_INFO are absorbed as sshbpp_session_recv()
 * does; any other unexpected message, including SSH_MSG_UNIMPLEMENTED, is
 * SSHBPP_EAUTH. After SSHBPP_EAUTH (fatal by its number, although the
 * session is not closed by it) the client and server disagree about where
 * the protocol is: the caller should send DISCONNECT and stop.
 * Errors of sshbpp_session_send()/_recv() (SSHBPP_EDISCONNECT, I/O, MAC,
 * ...) are passed through. */

/* Sends SSH_MSG_SERVICE_REQUEST for service ("ssh-userauth") and waits
 * for SSH_MSG_SERVICE_ACCEPT. The accept must name the same service; like
 * OpenSSH, an accept without any name (some old servers) is taken too.
 * Returns 0, SSHBPP_EINVAL (NULL or empty service, or a handshake not
 * done), SSHBPP_EAUTH (another message, another service name, or a
 * malformed accept), or a session error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_service_request(sshbpp_session *s, const char *service);

/* Sends SSH_MSG_USERAUTH_REQUEST user, "ssh-connection", "none" and waits
 * for the answer, skipping up to 16 SSH_MSG_USERAUTH_BANNER messages (not
 * reported; a 17th is SSHBPP_EAUTH, so that a server cannot keep us
 * reading). On SSH_MSG_USERAUTH_SUCCESS: *success = 1, methods "" (if
 * cap > 0) and sshbpp_kex_auth_done() has been called. On
 * SSH_MSG_USERAUTH_FAILURE: *success = 0 and methods receives the
 * server's comma-separated "authentications that can continue"
 * (partial-success is not reported: it still means "not yet"). methods may
 * be NULL when cap is 0.
 * If the list does not fit in cap bytes with its NUL, methods receives as
 * many whole names as fit (possibly "") and the call returns the soft
 * SSHBPP_EBUFSMALL with *success = 0: the answer has been consumed, the
 * connection is in step and another request may follow.
 * Returns 0, SSHBPP_EBUFSMALL, SSHBPP_EINVAL (NULL user or success, NULL
 * methods with cap > 0, or a handshake not done), SSHBPP_EAUTH (malformed
 * answer, an unexpected message, too many banners), or a session error. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_auth_none(sshbpp_session *s, const char *user, char *methods,
                                        size_t cap, int *success);

/* Public key authentication (RFC 4252 section 7) with the private key in
 * keyfile, any unencrypted format sshbpp_key_load_file() reads (OpenSSH's
 * openssh-key-v1, PEM, PKCS#8): ed25519, ECDSA P-256/384/521 or RSA >= 2048
 * bits. The
 * signature algorithm is "ssh-ed25519", "ecdsa-sha2-nistp256/384/521", or
 * for RSA "rsa-sha2-512" if the server's server-sig-algs (RFC 8308) lists
 * it, else "rsa-sha2-256" (never SHA-1 "ssh-rsa"). The request carries the
 * signature at once (no query for SSH_MSG_USERAUTH_PK_OK first); it signs
 * the session identifier and the request as section 7 says. The key is
 * loaded, used and wiped within the call; nothing of it is kept. The
 * outcome is reported exactly as by sshbpp_session_auth_none() (banners,
 * methods, SSHBPP_EBUFSMALL, sshbpp_kex_auth_done() on success).
 * Returns 0, SSHBPP_EBUFSMALL, SSHBPP_EINVAL (a NULL argument, NULL methods
 * with cap > 0, a handshake not done), SSHBPP_EIO (keyfile cannot be read),
 * SSHBPP_EKEYFILE (not a private key file we can parse), SSHBPP_EKEYTYPE
 * (unsupported type or size), SSHBPP_EKEYBCRYPT, SSHBPP_EKEYPASSPHRASE
 * (encrypted: load it with sshbpp_key_load_file() and a passphrase, then
 * use the _signer variant), SSHBPP_ENOMEM, SSHBPP_ECRYPTO (signing failed),
 * SSHBPP_EAUTH, or a session error. The key errors come before anything is
 * sent: the connection is untouched by them. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_auth_publickey(sshbpp_session *s, const char *user,
                                             const char *keyfile, char *methods, size_t cap,
                                             int *success);

/* The same with the public key blob pub_blob and a signer (a key loaded
 * with sshbpp_key_load_file() and sshbpp_key_sign_cb, or the agent with
 * sshbpp_agent_sign_cb). The signature algorithm follows the key type as
 * above; the signer's answer is verified against pub_blob before it is
 * sent. Returns what sshbpp_session_auth_publickey() does for the
 * connection, the signer's error (before anything is sent), SSHBPP_EKEYTYPE
 * or SSHBPP_EKEYFILE for a blob that is not a supported key, and
 * SSHBPP_ESIGNATURE for a signature that does not verify. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_session_auth_publickey_signer(
    sshbpp_session *s, const char *user, const uint8_t *pub_blob, size_t blob_len,
    sshbpp_sign_fn sign, void *sign_ctx, char *methods, size_t cap, int *success);

#ifdef __cplusplus
}
#endif
#endif
