/*
 * sshbpp_error.h: the one error table of sshbpp.
 *
 * Every fallible sshbpp call returns 0 (or a positive count) on success and a
 * negative SSHBPP_E* code on failure. The table below is the single source of
 * the codes, their names and their messages; sshbpp_strerror() and
 * sshbpp_err_name() are generated from it.
 *
 * Codes from -1 to -19 are "soft": they describe the call, not the
 * connection, and do not close anything (a bad argument, a timeout, a rekey
 * request). Codes from -20 down are fatal: the first one is recorded in the
 * engine, the engine closes, and every later call on it returns that same
 * code (see sshbpp_engine_error()).
 */
#ifndef SSHBPP_ERROR_H
#define SSHBPP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SSHBPP_API
#elif defined(__GNUC__)
#define SSHBPP_API __attribute__((visibility("default")))
#else
#define SSHBPP_API
#endif

#if defined(__GNUC__)
#define SSHBPP_MUST_USE __attribute__((warn_unused_result))
#else
#define SSHBPP_MUST_USE
#endif

/* X(name, value, message) */
#define SSHBPP_ERRNO_MAP(X)                                                             \
    /* soft: the call failed, the connection is untouched */                           \
    X(EINVAL, -1, "invalid argument")                                                   \
    X(EAGAIN, -2, "more input is needed")                                               \
    X(ETIMEDOUT, -3, "timed out")                                                       \
    X(ENEEDREKEY, -4, "rekey needed before more data is read")                         \
    X(EUNSUPPORTED, -5, "unsupported algorithm name")                                   \
    X(EKEYLEN, -6, "key, IV or MAC key length does not match the algorithm")            \
    X(EPAYLOADLEN, -7, "outgoing payload is empty or exceeds the maximum packet size") \
    X(EBUFSMALL, -8, "caller's buffer is too small")                                    \
    X(ESTATE, -9, "call not valid in the object's current state")                       \
    X(EREFUSED, -10, "request refused by the peer")                                     \
    /* keys (sshbpp_keys.h): about one call, nothing is closed */                       \
    X(EKEYPASSPHRASE, -12, "key file is encrypted and no passphrase was given")          \
    X(EKEYBADPASS, -13, "wrong passphrase for the encrypted key file")                  \
    X(EKEYLINELONG, -14, "line in a key, known_hosts or authorized_keys file is too long") \
    /* fatal: recorded once, the engine is closed */                                    \
    X(ECLOSED, -20, "packetizer closed by its owner")                                   \
    X(ENOMEM, -21, "out of memory")                                                     \
    X(ECRYPTO, -22, "libcrypto operation failed")                                       \
    X(EPKTSHORT, -23, "packet_length below the 5-byte minimum")                         \
    X(EPKTLONG, -24, "packet_length above the maximum packet size")                     \
    X(EBLOCKALIGN, -25, "packet length not a multiple of the cipher block size")        \
    X(EPADSHORT, -26, "padding_length below the 4-byte minimum")                        \
    X(EPADLONG, -27, "padding_length not less than the packet")                         \
    X(EEMPTY, -28, "empty payload: no message type byte")                               \
    X(EMAC, -29, "MAC mismatch")                                                        \
    X(ETAG, -30, "AEAD authentication tag mismatch")                                    \
    X(EDECOMP, -31, "zlib decompression failed")                                        \
    X(EDECOMPLONG, -32, "decompressed payload exceeds the maximum packet size")         \
    X(ECOMP, -33, "zlib compression failed")                                            \
    X(ESEQWRAP, -34, "sequence number rolled over during the initial key exchange or under one key") \
    X(EREKEYIGNORED, -35, "remote transport is ignoring rekey requests")                \
    X(EEOF, -36, "connection closed by peer")                                           \
    X(EEOFPKT, -37, "connection closed by peer in the middle of a packet")              \
    X(EIO, -38, "I/O error (see errno)")                                                \
    X(EWRITE0, -39, "peer stopped accepting data (repeated zero-byte writes)")          \
    X(EHANDSHAKE, -40, "handshake timed out")                                           \
    X(ELINELONG, -41, "line exceeds the maximum length")                                \
    X(EPROTO, -42, "protocol violation")                                                \
    /* key exchange (sshbpp_kex.h) */                                                   \
    X(EBANNER, -50, "invalid SSH identification string")                               \
    X(EVERSION, -51, "peer does not speak SSH protocol 2.0")                           \
    X(ENOMATCH, -52, "no algorithm in common with the peer")                            \
    X(EKEXMSG, -53, "malformed key exchange message")                                   \
    X(EKEXVALUE, -54, "invalid key exchange public value")                             \
    X(EHOSTKEY, -55, "unsupported or malformed host key")                               \
    X(ESIGNATURE, -56, "host key signature verification failed")                       \
    X(ESTRICTKEX, -57, "strict KEX violation")                                          \
    X(EKEXORDER, -58, "key exchange message out of order")                             \
    X(EDISCONNECT, -59, "peer sent SSH_MSG_DISCONNECT")                                 \
    X(EAUTH, -60, "authentication protocol error")                                      \
    X(EREKEYREFUSED, -61, "peer refused the key exchange (SSH_MSG_UNIMPLEMENTED)")   \
    /* connection object (sshbpp_conn.h) */                                             \
    X(EHOSTKEYREJECTED, -62, "host key rejected by the caller")                         \
    X(ELOGINTIME, -63, "login deadline passed before authentication")                   \
    X(EKEEPALIVE, -64, "peer did not answer keepalives") \
    /* keys and trust (sshbpp_keys.h): fatal to a connection that meets them; */       \
    /* a key-file call itself holds no engine and closes nothing */                     \
    X(EKEYFILE, -70, "key file cannot be parsed")                                       \
    X(EKEYTYPE, -71, "unsupported key type, curve or size")                             \
    X(EKEYBCRYPT, -72, "encrypted OpenSSH-format key (bcrypt KDF) is not supported: load it into ssh-agent with ssh-add, or re-encrypt it as PEM with `ssh-keygen -p -m PEM -f FILE`") \
    X(EHOSTKEYCHANGED, -73, "host key mismatch: the server's key differs from the one in known_hosts") \
    X(EKEYREVOKED, -74, "key is revoked (@revoked in known_hosts)")                     \
    X(EHOSTKEYUNKNOWN, -75, "host key is not in known_hosts and StrictHostKeyChecking is yes") \
    X(EAGENT, -76, "ssh-agent unreachable, gone, or its answer is malformed")          \
    X(EAGENTREFUSED, -77, "ssh-agent refused the request")                              \
    X(EKEYNOTAUTHORIZED, -78, "key not authorized: no usable authorized_keys entry") \
    /* algorithms (issue 12) */                                                         \
    X(EGEXGROUP, -80, "group exchange: server's group too small, outside the requested range, or malformed") \
    /* hardening */                                                                    \
    X(ENAMELIST, -85, "peer name-list over the bounds (4096 bytes, 128 names, names of 1-64 chars)") \
    /* channels (sshbpp_channel.h) */                                                  \
    X(ECHANLIMIT, -19, "channel limit reached (max_channels open)")                    \
    X(ECHANMSG, -95, "malformed or unexpected channel message (unknown channel, wrong state)") \
    X(ECHANWINDOW, -96, "peer sent channel data beyond the window we granted")         \
    X(ECHANPACKET, -97, "peer sent channel data larger than the maximum packet size we granted")

enum sshbpp_err {
    SSHBPP_OK = 0,
#define SSHBPP__X(n, v, s) SSHBPP_##n = (v),
    SSHBPP_ERRNO_MAP(SSHBPP__X)
#undef SSHBPP__X
};

/* Codes at or below this value are fatal and sticky. */
#define SSHBPP_FATAL_THRESHOLD (-20)

/* Returns the message for err ("MAC mismatch"), "success" for 0, and
 * "unknown error" for a value not in the table. Never NULL; static storage. */
SSHBPP_API const char *sshbpp_strerror(int err);

/* Returns the name for err ("SSHBPP_EMAC"), "SSHBPP_OK" for 0, and
 * "SSHBPP_UNKNOWN" for a value not in the table. Never NULL; static storage. */
SSHBPP_API const char *sshbpp_err_name(int err);

/* Returns 1 if err is a fatal (sticky) code, else 0. */
SSHBPP_API int sshbpp_is_fatal(int err);

#ifdef __cplusplus
}
#endif
#endif
