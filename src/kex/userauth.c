/*
 * userauth.c: the client side of user authentication (RFC 4252) over a
 * session: the ssh-userauth service request, the "none" method (to learn
 * the allowed methods) and the "publickey" method with a signature.
 *
 * IMPLEMENTATION NOTES
 *
 * These calls both send and read, on the caller's thread, which therefore
 * is the connection's only reader. sshbpp_session_send() would wait for a
 * running key exchange to be finished by a thread in sshbpp_session_recv()
 * that does not exist, so before each send an exchange that is running or
 * due is driven to its end here with sshbpp_session_rekey() (which reads by
 * itself when nobody else does).
 *
 * The public key request carries its signature at once, without the
 * optional query (USERAUTH_PK_OK) round trip: the key is local, signing is
 * cheap, and a server that does not take the key just answers FAILURE.
 * The signed data is RFC 4252 section 7's: string session identifier
 * followed by exactly the request's fields up to the public key blob, so
 * the request is built first and the signed data is that prefix with the
 * session id in front.
 *
 * The private key lives only inside sshbpp_session_auth_publickey() and is
 * freed (OpenSSL clears private key memory on free) once the request is
 * sent. sshbpp_session_auth_publickey_signer() takes a public key blob
 * and any signer of the sshbpp_sign_fn shape (a loaded key, the agent),
 * and checks the signature it returns before sending it.
 *
 * Everything the server sends is bounded before it is stored: the methods
 * list is copied only into the caller's buffer, and banners are counted.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "kex_int.h"
#include "sshbpp/sshbpp_keys.h"

#define MSG_UNIMPLEMENTED 3
#define MSG_SERVICE_REQUEST 5
#define MSG_SERVICE_ACCEPT 6
#define MSG_USERAUTH_REQUEST 50
#define MSG_USERAUTH_FAILURE 51
#define MSG_USERAUTH_SUCCESS 52
#define MSG_USERAUTH_BANNER 53

/* Banners accepted while waiting for one answer. OpenSSH sends at most one
 * per connection; a few more are tolerated, an endless stream is not. */
#define MAX_BANNERS 16

#define SERVICE_CONNECTION "ssh-connection"

/* Sends one message from the thread that is also the only reader (see the
 * notes at the top). */
static int
send_solo(sshbpp_session *s, const sshbpp__wbuf *msg)
{
    int r;

    if (msg->err != 0)
        return msg->err;
    /* The caller has the connection to itself (sshbpp_kex.h), so neither
     * state can change between this check and the send. */
    if (sshbpp_kex_running(sshbpp_session_kex(s)) ||
        sshbpp_packetizer_need_rekey(sshbpp__session_packetizer(s))) {
        if ((r = sshbpp_session_rekey(s)) != 0)
            return r;
    }
    return sshbpp_session_send(s, msg->p, msg->len);
}

/* 1 once the first key exchange has produced a session id. */
static int
handshake_done(sshbpp_session *s)
{
    size_t len = 0;

    return sshbpp_kex_session_id(sshbpp_session_kex(s), &len) != NULL && len > 0;
}

/* see sshbpp_kex.h */
int
sshbpp_session_service_request(sshbpp_session *s, const char *service)
{
    sshbpp__wbuf msg;
    sshbpp__rbuf rb;
    sshbpp_packet pkt;
    const uint8_t *name;
    size_t n, want;
    uint8_t type;
    int r;

    if (s == NULL || service == NULL || service[0] == '\0' || !handshake_done(s))
        return SSHBPP_EINVAL;
    want = strlen(service);
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_SERVICE_REQUEST);
    sshbpp__wb_cstring(&msg, service);
    r = send_solo(s, &msg);
    sshbpp__wb_free(&msg);
    if (r != 0)
        return r;
    if ((r = sshbpp_session_recv(s, &pkt)) != 0)
        return r;
    if (pkt.type != MSG_SERVICE_ACCEPT)
        return SSHBPP_EAUTH;
    /* OpenSSH's client takes an accept without a name (old servers sent
     * none); a name that is there must be the one asked for, alone. */
    if (pkt.len == 1)
        return 0;
    sshbpp__rb_init(&rb, pkt.payload, pkt.len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &name, &n) != 0 ||
        !sshbpp__rb_done(&rb) || n != want || memcmp(name, service, n) != 0)
        return SSHBPP_EAUTH;
    return 0;
}

/* Copies the name-list (n bytes) into methods: whole, or as many whole
 * names as fit with the NUL, then SSHBPP_EBUFSMALL. */
static int
copy_methods(const uint8_t *list, size_t n, char *methods, size_t cap)
{
    size_t keep;

    if (cap == 0)
        return 0; /* the caller did not ask for the list */
    if (n < cap) {
        memcpy(methods, list, n);
        methods[n] = '\0';
        return 0;
    }
    /* Cut before the last comma that leaves room for the NUL, so that no
     * truncated (and so possibly different) method name is reported. */
    keep = cap - 1;
    while (keep > 0 && list[keep] != ',')
        keep--;
    memcpy(methods, list, keep);
    methods[keep] = '\0';
    return SSHBPP_EBUFSMALL;
}

/* SSH_MSG_USERAUTH_BANNER: string message, string language tag. Only its
 * form is checked; the text is not reported. */
static int
banner_ok(const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *p;
    size_t n;
    uint8_t type;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    return sshbpp__rb_u8(&rb, &type) == 0 && sshbpp__rb_string(&rb, &p, &n) == 0 &&
           sshbpp__rb_string(&rb, &p, &n) == 0 && sshbpp__rb_done(&rb);
}

/* Reads the answer to a USERAUTH_REQUEST (see sshbpp_session_auth_none()
 * in sshbpp_kex.h for what is reported how). */
static int
await_result(sshbpp_session *s, char *methods, size_t cap, int *success)
{
    sshbpp_packet pkt;
    sshbpp__rbuf rb;
    const uint8_t *list;
    size_t n;
    uint8_t type;
    unsigned banners = 0;
    int partial, r;

    for (;;) {
        if ((r = sshbpp_session_recv(s, &pkt)) != 0)
            return r;
        switch (pkt.type) {
        case MSG_USERAUTH_BANNER:
            if (++banners > MAX_BANNERS || !banner_ok(&pkt))
                return SSHBPP_EAUTH;
            continue;
        case MSG_USERAUTH_SUCCESS:
            if (pkt.len != 1)
                return SSHBPP_EAUTH;
            /* Before anything else is read or sent: the server compresses
             * from its next packet on (zlib@openssh.com). */
            if ((r = sshbpp__session_auth_done(s)) != 0)
                return r;
            if (cap > 0)
                methods[0] = '\0';
            *success = 1;
            return 0;
        case MSG_USERAUTH_FAILURE:
            /* name-list authentications that can continue, boolean
             * partial success (RFC 4252 section 5.1). */
            sshbpp__rb_init(&rb, pkt.payload, pkt.len);
            if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &list, &n) != 0 ||
                sshbpp__rb_bool(&rb, &partial) != 0 || !sshbpp__rb_done(&rb) ||
                memchr(list, '\0', n) != NULL)
                return SSHBPP_EAUTH;
            *success = 0;
            return copy_methods(list, n, methods, cap);
        case MSG_UNIMPLEMENTED:
        default:
            /* UNIMPLEMENTED can only refer to our request here (nothing
             * else of ours is outstanding): waiting on would wait forever. */
            return SSHBPP_EAUTH;
        }
    }
}

static int
check_result_args(sshbpp_session *s, const char *user, char *methods, size_t cap, int *success)
{
    if (s == NULL || user == NULL || success == NULL || (methods == NULL && cap > 0))
        return SSHBPP_EINVAL;
    if (!handshake_done(s))
        return SSHBPP_EINVAL;
    return 0;
}

/* see sshbpp_kex.h */
int
sshbpp_session_auth_none(sshbpp_session *s, const char *user, char *methods, size_t cap,
                         int *success)
{
    sshbpp__wbuf msg;
    int r;

    if ((r = check_result_args(s, user, methods, cap, success)) != 0)
        return r;
    *success = 0;
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_USERAUTH_REQUEST);
    sshbpp__wb_cstring(&msg, user);
    sshbpp__wb_cstring(&msg, SERVICE_CONNECTION);
    sshbpp__wb_cstring(&msg, "none");
    r = send_solo(s, &msg);
    sshbpp__wb_free(&msg);
    if (r != 0)
        return r;
    return await_result(s, methods, cap, success);
}

/* Signatures we take from a signer: a 16384-bit RSA signature and its
 * names fit easily. */
#define SIG_MAX 4096

/* Builds the signed request into msg: the signer signs RFC 4252 section
 * 7's data (session id, then the request up to the key blob). */
static int
build_publickey_request(sshbpp_session *s, const char *user, const uint8_t *blob, size_t blen,
                        sshbpp_sign_fn sign, void *ctx, sshbpp__wbuf *msg)
{
    sshbpp_kex *k = sshbpp_session_kex(s);
    sshbpp_key *pub = NULL;
    sshbpp__wbuf data;
    const uint8_t *sid;
    const char *alg;
    uint8_t sig[SIG_MAX];
    size_t sidlen = 0, siglen = 0;
    int r;

    sshbpp__wb_init(&data);
    /* The blob must be a key we know how to name a signature for. */
    if ((r = sshbpp_key_from_blob(blob, blen, &pub)) != 0)
        goto out;
    alg = sshbpp_key_sig_alg(pub, sshbpp_kex_server_sig_algs(k));
    if (alg == NULL) {
        r = SSHBPP_EKEYTYPE;
        goto out;
    }

    /* byte 50, string user, string service, string "publickey",
     * boolean TRUE, string algorithm, string public key blob */
    sshbpp__wb_u8(msg, MSG_USERAUTH_REQUEST);
    sshbpp__wb_cstring(msg, user);
    sshbpp__wb_cstring(msg, SERVICE_CONNECTION);
    sshbpp__wb_cstring(msg, "publickey");
    sshbpp__wb_bool(msg, 1);
    sshbpp__wb_cstring(msg, alg);
    sshbpp__wb_string(msg, blob, blen);
    if ((r = msg->err) != 0)
        goto out;

    /* Signed: string session identifier, then those same fields. */
    sid = sshbpp_kex_session_id(k, &sidlen);
    if (sid == NULL) {
        r = SSHBPP_EINVAL;
        goto out;
    }
    sshbpp__wb_string(&data, sid, sidlen);
    sshbpp__wb_raw(&data, msg->p, msg->len);
    if ((r = data.err) != 0)
        goto out;
    if ((r = sign(ctx, alg, data.p, data.len, sig, sizeof(sig), &siglen)) != 0)
        goto out;
    if (siglen > sizeof(sig)) {
        r = SSHBPP_EINVAL;
        goto out;
    }
    /* The signer writes the signature blob (string algorithm, string
     * signature); the request carries it as one string. Checked here so
     * that a bad signer (an agent's answer) is caught before sending. */
    if ((r = sshbpp_key_verify(pub, data.p, data.len, sig, siglen)) != 0)
        goto out;
    sshbpp__wb_string(msg, sig, siglen);
    r = msg->err;
out:
    OPENSSL_cleanse(sig, sizeof(sig));
    sshbpp_key_free(pub);
    sshbpp__wb_free(&data);
    return r;
}

/* see sshbpp_session.h */
int
sshbpp_session_auth_publickey_signer(sshbpp_session *s, const char *user, const uint8_t *pub_blob,
                                     size_t blob_len, sshbpp_sign_fn sign, void *sign_ctx,
                                     char *methods, size_t cap, int *success)
{
    sshbpp__wbuf msg;
    int r;

    if ((r = check_result_args(s, user, methods, cap, success)) != 0)
        return r;
    if (pub_blob == NULL || blob_len == 0 || sign == NULL)
        return SSHBPP_EINVAL;
    *success = 0;
    sshbpp__wb_init(&msg);
    r = build_publickey_request(s, user, pub_blob, blob_len, sign, sign_ctx, &msg);
    if (r == 0)
        r = send_solo(s, &msg);
    sshbpp__wb_free(&msg);
    if (r != 0)
        return r;
    return await_result(s, methods, cap, success);
}

/* see sshbpp_session.h */
int
sshbpp_session_auth_publickey(sshbpp_session *s, const char *user, const char *keyfile,
                              char *methods, size_t cap, int *success)
{
    sshbpp_key *key = NULL;
    uint8_t blob[4096];
    size_t blen = 0;
    int r;

    if ((r = check_result_args(s, user, methods, cap, success)) != 0)
        return r;
    if (keyfile == NULL)
        return SSHBPP_EINVAL;
    *success = 0;
    /* Any format the keys layer reads, unencrypted (no passphrase here). */
    if ((r = sshbpp_key_load_file(keyfile, NULL, &key, NULL)) != 0)
        return r;
    if (!sshbpp_key_has_private(key)) {
        sshbpp_key_free(key);
        return SSHBPP_EKEYFILE;
    }
    r = sshbpp_key_public_blob(key, blob, sizeof(blob), &blen);
    if (r == 0)
        r = sshbpp_session_auth_publickey_signer(s, user, blob, blen, sshbpp_key_sign_cb, key,
                                                 methods, cap, success);
    /* Freed (and wiped by OpenSSL) only now: the signature is made inside
     * the call above, before its request is sent. */
    sshbpp_key_free(key);
    return r;
}
