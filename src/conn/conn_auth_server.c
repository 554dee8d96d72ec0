/*
 * conn_auth_server.c: server user authentication (RFC 4252) inside the
 * connection object: the ssh-userauth service, and "none", "password" and
 * "publickey" requests, each decided by the caller's callback.
 *
 * IMPLEMENTATION NOTES
 *
 * A publickey request with a signature is verified here (RFC 4252 section
 * 7: over string session id + the request up to the blob) before the
 * callback sees it; a bad signature is a plain failure, the callback is not
 * asked. A query without a signature asks the callback too (signature_ok
 * 0): accept then sends PK_OK. A signature algorithm outside the
 * configured pubkey_algs (by default "ssh-rsa", SHA-1) is refused without
 * verifying or asking. Failures are counted like OpenSSH's
 * MaxAuthTries (a first "none" and an accepted query, answered PK_OK, do
 * not count; a refused query does, so one connection cannot test keys
 * against the authorized set without limit); beyond
 * max_auth_tries the server sends DISCONNECT and fails with SSHBPP_EAUTH.
 * Every field is bounded before it is copied.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn_int.h"

#define MAX_FIELD 1024

static int
send_failure(sshbpp_conn *c, const char *methods, int partial)
{
    sshbpp__wbuf b;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_USERAUTH_FAILURE);
    sshbpp__wb_cstring(&b, methods);
    sshbpp__wb_bool(&b, partial);
    return sshbpp__conn_send_wb(c, &b);
}

static int
count_failure(sshbpp_conn *c)
{
    if (++c->failures < c->max_tries)
        return 0;
    (void)sshbpp__conn_send_disconnect(c, SSHBPP_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                                       "Too many authentication failures");
    return SSHBPP_EAUTH;
}

static int
cstr(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (n >= cap || memchr(p, '\0', n) != NULL)
        return SSHBPP_EAUTH;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int
service_request(sshbpp_conn *c, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *s;
    size_t n;
    uint8_t type;
    sshbpp__wbuf b;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &s, &n) != 0 ||
        !sshbpp__rb_done(&rb))
        return SSHBPP_EAUTH;
    if (c->svc_state == 2 || n != 12 || memcmp(s, "ssh-userauth", 12) != 0) {
        (void)sshbpp__conn_send_disconnect(c, SSHBPP_DISCONNECT_SERVICE_NOT_AVAILABLE,
                                           "service not available");
        return SSHBPP_EPROTO;
    }
    c->svc_state = 2;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_SERVICE_ACCEPT);
    sshbpp__wb_string(&b, s, n);
    return sshbpp__conn_send_wb(c, &b);
}

static int
verify_publickey(sshbpp_conn *c, const sshbpp_packet *pkt, size_t signed_len, const char *alg,
                 const uint8_t *blob, size_t blen, const uint8_t *sig, size_t slen)
{
    const uint8_t *sid;
    size_t sidlen = 0;
    sshbpp__wbuf data;
    int r;

    if ((sid = sshbpp_kex_session_id(c->k, &sidlen)) == NULL)
        return 0;
    sshbpp__wb_init(&data);
    sshbpp__wb_string(&data, sid, sidlen);
    sshbpp__wb_raw(&data, pkt->payload, signed_len);
    r = data.err != 0 ? data.err
                      : sshbpp__hostkey_verify(alg, blob, blen, data.p, data.len, sig, slen);
    sshbpp__wb_free(&data);
    return r == 0;
}

static int
userauth_request(sshbpp_conn *c, const sshbpp_packet *pkt)
{
    char user[256], service[64], method[64], alg[64];
    char *password = NULL;
    const uint8_t *s, *blob = NULL, *sig = NULL;
    size_t n, blen = 0, slen = 0, signed_len = 0;
    sshbpp__rbuf rb;
    uint8_t type;
    int flag = 0, r, counts = 1, query = 0;
    sshbpp_conn_auth_attempt a;
    const char *methods = c->auth_methods;
    enum sshbpp_auth_decision d = SSHBPP_AUTH_REJECT;
    sshbpp__wbuf b;
    struct ievent *ev;

    if (c->svc_state != 2)
        return SSHBPP_EPROTO; /* no service request first */
    if (c->authed)
        return 0; /* RFC 4252 section 5.1: SHOULD be ignored */
    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &s, &n) != 0 ||
        cstr(s, n, user, sizeof(user)) != 0 || sshbpp__rb_string(&rb, &s, &n) != 0 ||
        cstr(s, n, service, sizeof(service)) != 0 || sshbpp__rb_string(&rb, &s, &n) != 0 ||
        cstr(s, n, method, sizeof(method)) != 0)
        return SSHBPP_EAUTH;
    memset(&a, 0, sizeof(a));
    a.user = user;
    a.method = method;
    if (strcmp(method, "none") == 0) {
        counts = 0;
    } else if (strcmp(method, "password") == 0) {
        if (sshbpp__rb_bool(&rb, &flag) != 0 || sshbpp__rb_string(&rb, &s, &n) != 0 ||
            n > MAX_FIELD || memchr(s, '\0', n) != NULL)
            return SSHBPP_EAUTH;
        if ((password = malloc(n + 1)) == NULL)
            return SSHBPP_ENOMEM;
        memcpy(password, s, n);
        password[n] = '\0';
        a.password = password;
        if (flag) /* a password change: not offered */
            a.method = NULL;
    } else if (strcmp(method, "publickey") == 0) {
        if (sshbpp__rb_bool(&rb, &flag) != 0 || sshbpp__rb_string(&rb, &s, &n) != 0 ||
            cstr(s, n, alg, sizeof(alg)) != 0 || sshbpp__rb_string(&rb, &blob, &blen) != 0)
            return SSHBPP_EAUTH;
        signed_len = rb.off;
        if (flag && sshbpp__rb_string(&rb, &sig, &slen) != 0)
            return SSHBPP_EAUTH;
        a.pubkey_alg = alg;
        a.pubkey_blob = blob;
        a.pubkey_len = blen;
        query = !flag; /* counts unless accepted: PK_OK returns first */
        if (!sshbpp__conn_pubkey_alg_ok(c, alg)) {
            /* Not in PubkeyAcceptedAlgorithms (by default "ssh-rsa", SHA-1):
             * refused unverified. */
            a.method = NULL;
        } else if (flag) {
            a.signature_ok = verify_publickey(c, pkt, signed_len, alg, blob, blen, sig, slen);
            if (!a.signature_ok)
                a.method = NULL;
        }
    } else {
        a.method = NULL; /* keyboard-interactive and others are not offered */
    }
    if (strcmp(service, "ssh-connection") != 0)
        a.method = NULL;
    if (a.method != NULL && c->auth_cb != NULL)
        d = c->auth_cb(c->auth_ctx, &a, &methods);
    if (methods == NULL)
        methods = c->auth_methods;
    if (password != NULL) {
        OPENSSL_cleanse(password, strlen(password));
        free(password);
    }
    if (d == SSHBPP_AUTH_ACCEPT && query) {
        sshbpp__wb_init(&b);
        sshbpp__wb_u8(&b, MSG_USERAUTH_60); /* PK_OK */
        sshbpp__wb_cstring(&b, alg);
        sshbpp__wb_string(&b, blob, blen);
        return sshbpp__conn_send_wb(c, &b);
    }
    if (d == SSHBPP_AUTH_ACCEPT) {
        sshbpp__wb_init(&b);
        sshbpp__wb_u8(&b, MSG_USERAUTH_SUCCESS);
        if ((r = sshbpp__conn_send_wb(c, &b)) != 0)
            return r;
        c->authed = 1;
        /* Right after SUCCESS went out: zlib@openssh.com starts now. */
        if ((r = sshbpp_kex_auth_done(c->k)) != 0)
            return r;
        if ((ev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_AUTH_RESULT)) != NULL) {
            ev->success = 1;
            snprintf(ev->alg, sizeof(ev->alg), "%s", method);
            snprintf(ev->user, sizeof(ev->user), "%s", user);
        }
        return 0;
    }
    if ((r = send_failure(c, methods, d == SSHBPP_AUTH_PARTIAL)) != 0)
        return r;
    if ((ev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_AUTH_RESULT)) != NULL) {
        ev->partial = d == SSHBPP_AUTH_PARTIAL;
        snprintf(ev->text, sizeof(ev->text), "%s", methods);
        snprintf(ev->alg, sizeof(ev->alg), "%s", method);
        snprintf(ev->user, sizeof(ev->user), "%s", user);
    }
    if (counts && d != SSHBPP_AUTH_PARTIAL)
        return count_failure(c);
    return 0;
}

int
sshbpp__conn_server_auth_input(sshbpp_conn *c, const sshbpp_packet *pkt)
{
    switch (pkt->type) {
    case MSG_SERVICE_REQUEST:
        return service_request(c, pkt);
    case MSG_USERAUTH_REQUEST:
        return userauth_request(c, pkt);
    case MSG_USERAUTH_INFO_RESPONSE:
    default:
        return SSHBPP_EAUTH;
    }
}
