/*
 * conn_auth_client.c: client user authentication (RFC 4252, RFC 4256
 * keyboard-interactive) inside the connection object.
 *
 * IMPLEMENTATION NOTES
 *
 * The first request is preceded by SERVICE_REQUEST "ssh-userauth" and is
 * built only when SERVICE_ACCEPT arrives. By then the server's EXT_INFO,
 * which it sends right after its first NEWKEYS (RFC 8308 section 2.4), has
 * been decoded, so server-sig-algs is known when an RSA signature
 * algorithm is picked, however early the caller asked.
 *
 * A publickey request carries its signature at once (no PK_OK query). The
 * signed data is RFC 4252 section 7's: string session id, then the request
 * up to the public key blob. Secrets (password, the file key, answers) live
 * until the request is built, then are wiped.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn_int.h"

#define SERVICE_USERAUTH   "ssh-userauth"
#define SERVICE_CONNECTION "ssh-connection"
#define SIG_MAX            8192

void
sshbpp__conn_auth_clear(sshbpp_conn *c)
{
    if (c->auth_password != NULL) {
        OPENSSL_cleanse(c->auth_password, strlen(c->auth_password));
        free(c->auth_password);
        c->auth_password = NULL;
    }
    free(c->auth_user);
    c->auth_user = NULL;
    free(c->auth_blob);
    c->auth_blob = NULL;
    c->auth_blob_len = 0;
    if (c->have_file_key) {
        sshbpp__hostkey_free(&c->file_key);
        c->have_file_key = 0;
    }
    c->sign = NULL;
    c->sign_ctx = NULL;
    c->kbd = NULL;
    c->kbd_ctx = NULL;
    free(c->kb_buf);
    c->kb_buf = NULL;
    c->kb_n = 0;
}

static char *
dup_s(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* The signature algorithm for a public key blob, from pubkey_algs
 * (PubkeyAcceptedAlgorithms). For an RSA key: the first RSA algorithm of
 * that list which the server's server-sig-algs names; when none is named,
 * rsa-sha2-256 (the one every RFC 8332 server has) if allowed; without
 * server-sig-algs at all, "ssh-rsa" if allowed (the server predates RFC
 * 8308, as OpenSSH reasons), else rsa-sha2-256. SHA-1 is therefore never
 * used unless the caller put "ssh-rsa" in the list. Returns 0,
 * SSHBPP_EHOSTKEY (bad blob) or SSHBPP_EUNSUPPORTED (no allowed
 * algorithm for this key). */
static int
pick_alg(const sshbpp_conn *c, const uint8_t *blob, size_t len, char *alg, size_t cap)
{
    static const char *const rsa_algs[] = {"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"};
    sshbpp__rbuf rb;
    const uint8_t *name;
    const char *ssa, *p, *end, *first = NULL;
    size_t n, i, k;

    sshbpp__rb_init(&rb, blob, len);
    if (sshbpp__rb_string(&rb, &name, &n) != 0 || n == 0 || n >= cap)
        return SSHBPP_EHOSTKEY;
    if (!(n == 7 && memcmp(name, "ssh-rsa", 7) == 0)) {
        memcpy(alg, name, n);
        alg[n] = '\0';
        return sshbpp__conn_pubkey_alg_ok(c, alg) ? 0 : SSHBPP_EUNSUPPORTED;
    }
    ssa = sshbpp_kex_server_sig_algs(c->k);
    /* Walk our list in its order: the caller's preference comes first. */
    for (p = c->pubkey_algs; p != NULL && *p != '\0'; p = end != NULL ? end + 1 : NULL) {
        end = strchr(p, ',');
        k = end != NULL ? (size_t)(end - p) : strlen(p);
        for (i = 0; i < sizeof(rsa_algs) / sizeof(rsa_algs[0]); i++) {
            if (strlen(rsa_algs[i]) != k || memcmp(rsa_algs[i], p, k) != 0)
                continue;
            if (first == NULL)
                first = rsa_algs[i];
            if (ssa != NULL && sshbpp__namelist_has(ssa, strlen(ssa), rsa_algs[i])) {
                snprintf(alg, cap, "%s", rsa_algs[i]);
                return 0;
            }
        }
        if (end == NULL)
            break;
    }
    if (first == NULL)
        return SSHBPP_EUNSUPPORTED;
    if (ssa == NULL && sshbpp__conn_pubkey_alg_ok(c, "ssh-rsa"))
        snprintf(alg, cap, "%s", "ssh-rsa");
    else if (sshbpp__conn_pubkey_alg_ok(c, "rsa-sha2-256"))
        snprintf(alg, cap, "%s", "rsa-sha2-256");
    else
        snprintf(alg, cap, "%s", first);
    return 0;
}

static void
put_head(sshbpp__wbuf *b, const char *user, const char *method)
{
    sshbpp__wb_u8(b, MSG_USERAUTH_REQUEST);
    sshbpp__wb_cstring(b, user);
    sshbpp__wb_cstring(b, SERVICE_CONNECTION);
    sshbpp__wb_cstring(b, method);
}

static int
build_publickey(sshbpp_conn *c, sshbpp__wbuf *msg)
{
    char alg[64];
    const uint8_t *sid;
    size_t sidlen = 0, siglen = 0;
    sshbpp__wbuf data;
    uint8_t *sig;
    int r;

    if ((r = pick_alg(c, c->auth_blob, c->auth_blob_len, alg, sizeof(alg))) != 0)
        return r;
    put_head(msg, c->auth_user, "publickey");
    sshbpp__wb_bool(msg, 1);
    sshbpp__wb_cstring(msg, alg);
    sshbpp__wb_string(msg, c->auth_blob, c->auth_blob_len);
    if (msg->err != 0)
        return msg->err;
    if ((sid = sshbpp_kex_session_id(c->k, &sidlen)) == NULL)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&data);
    sshbpp__wb_string(&data, sid, sidlen);
    sshbpp__wb_raw(&data, msg->p, msg->len);
    if ((sig = malloc(SIG_MAX)) == NULL) {
        sshbpp__wb_free(&data);
        return SSHBPP_ENOMEM;
    }
    r = data.err != 0 ? data.err
                      : c->sign(c->sign_ctx, alg, data.p, data.len, sig, SIG_MAX, &siglen);
    if (r == 0 && (siglen == 0 || siglen > SIG_MAX))
        r = SSHBPP_ECRYPTO;
    if (r == 0)
        sshbpp__wb_string(msg, sig, siglen);
    free(sig);
    sshbpp__wb_free(&data);
    return r != 0 ? r : msg->err;
}

/* Builds and sends the pending request; secrets are dropped after. */
static int
send_request(sshbpp_conn *c)
{
    sshbpp__wbuf b;
    int r = 0;

    sshbpp__wb_init(&b);
    switch (c->auth_method) {
    case AM_NONE:
        put_head(&b, c->auth_user, "none");
        break;
    case AM_PASSWORD:
        put_head(&b, c->auth_user, "password");
        sshbpp__wb_bool(&b, 0);
        sshbpp__wb_cstring(&b, c->auth_password);
        /* Hide the password's length from traffic analysis (OpenSSH). */
        (void)sshbpp_engine_pad_next(c->e, 64);
        break;
    case AM_PUBLICKEY:
        r = build_publickey(c, &b);
        break;
    case AM_KBDINT:
        put_head(&b, c->auth_user, "keyboard-interactive");
        sshbpp__wb_cstring(&b, ""); /* language */
        sshbpp__wb_cstring(&b, ""); /* submethods */
        break;
    }
    /* The key and the password have done their job. */
    if (c->auth_password != NULL) {
        OPENSSL_cleanse(c->auth_password, strlen(c->auth_password));
        free(c->auth_password);
        c->auth_password = NULL;
    }
    if (c->have_file_key) {
        sshbpp__hostkey_free(&c->file_key);
        c->have_file_key = 0;
    }
    if (r != 0) {
        sshbpp__wb_free(&b);
        return sshbpp__conn_fail(c, r);
    }
    c->auth_state = AUTH_WAIT_RESULT;
    c->banners = 0;
    return sshbpp__conn_send_wb(c, &b);
}

static int
begin(sshbpp_conn *c, const char *user, enum auth_method m)
{
    sshbpp__wbuf b;
    int r;

    if (c->err != 0)
        return c->err;
    if (c->role != SSHBPP_ROLE_CLIENT || !c->hs_done || c->authed || c->auth_state != AUTH_IDLE)
        return SSHBPP_ESTATE;
    free(c->auth_user);
    if ((c->auth_user = dup_s(user)) == NULL)
        return SSHBPP_ENOMEM;
    c->auth_method = m;
    if (c->svc_state == 2)
        return send_request(c);
    c->auth_state = AUTH_WAIT_SERVICE;
    if (c->svc_state == 1)
        return 0;
    c->svc_state = 1;
    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_SERVICE_REQUEST);
    sshbpp__wb_cstring(&b, SERVICE_USERAUTH);
    if ((r = sshbpp__conn_send_wb(c, &b)) != 0)
        return r;
    return 0;
}

static int
check_user(const sshbpp_conn *c, const char *user)
{
    if (c == NULL || user == NULL || strlen(user) > 255)
        return SSHBPP_EINVAL;
    return 0;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_auth_none(sshbpp_conn *c, const char *user)
{
    int r;

    if ((r = check_user(c, user)) != 0)
        return r;
    return begin(c, user, AM_NONE);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_auth_password(sshbpp_conn *c, const char *user, const char *password)
{
    int r;

    if ((r = check_user(c, user)) != 0)
        return r;
    if (password == NULL || strlen(password) > 4096)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (c->role != SSHBPP_ROLE_CLIENT || !c->hs_done || c->authed || c->auth_state != AUTH_IDLE)
        return SSHBPP_ESTATE;
    if ((c->auth_password = dup_s(password)) == NULL)
        return SSHBPP_ENOMEM;
    return begin(c, user, AM_PASSWORD);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_auth_publickey(sshbpp_conn *c, const char *user, const uint8_t *pubkey_blob,
                           size_t pub_len, sshbpp_sign_fn sign, void *ctx)
{
    char alg[64];
    int r;

    if ((r = check_user(c, user)) != 0)
        return r;
    if (pubkey_blob == NULL || pub_len == 0 || pub_len > 16384 || sign == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (c->role != SSHBPP_ROLE_CLIENT || !c->hs_done || c->authed || c->auth_state != AUTH_IDLE)
        return SSHBPP_ESTATE;
    /* A key that pubkey_algs leaves no algorithm for is refused here, not
     * when the request is built (whether one exists does not depend on
     * server-sig-algs). */
    if ((r = pick_alg(c, pubkey_blob, pub_len, alg, sizeof(alg))) != 0)
        return r;
    free(c->auth_blob);
    if ((c->auth_blob = malloc(pub_len)) == NULL)
        return SSHBPP_ENOMEM;
    memcpy(c->auth_blob, pubkey_blob, pub_len);
    c->auth_blob_len = pub_len;
    c->sign = sign;
    c->sign_ctx = ctx;
    return begin(c, user, AM_PUBLICKEY);
}

/* The built-in signer over a key loaded from a file (ctx: the conn). */
static int
file_sign(void *ctx, const char *alg, const uint8_t *data, size_t len, uint8_t *sig, size_t cap,
          size_t *sig_len)
{
    sshbpp_conn *c = ctx;
    sshbpp__wbuf out;
    int r;

    if (!c->have_file_key || !sshbpp__hostkey_can_sign(&c->file_key, alg))
        return SSHBPP_EHOSTKEY;
    sshbpp__wb_init(&out);
    r = sshbpp__hostkey_sign(&c->file_key, alg, data, len, &out);
    if (r == 0 && (r = out.err) == 0) {
        if (out.len > cap) {
            r = SSHBPP_EBUFSMALL;
        } else {
            memcpy(sig, out.p, out.len);
            *sig_len = out.len;
        }
    }
    sshbpp__wb_free(&out);
    return r;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_auth_publickey_file(sshbpp_conn *c, const char *user, const char *path)
{
    sshbpp__wbuf blob;
    int r;

    if ((r = check_user(c, user)) != 0)
        return r;
    if (path == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (c->role != SSHBPP_ROLE_CLIENT || !c->hs_done || c->authed || c->auth_state != AUTH_IDLE)
        return SSHBPP_ESTATE;
    if (c->have_file_key) {
        sshbpp__hostkey_free(&c->file_key);
        c->have_file_key = 0;
    }
    memset(&c->file_key, 0, sizeof(c->file_key));
    if ((r = sshbpp__hostkey_load_file(&c->file_key, path)) != 0) {
        sshbpp__hostkey_free(&c->file_key);
        return r;
    }
    c->have_file_key = 1;
    sshbpp__wb_init(&blob);
    if ((r = sshbpp__hostkey_put_blob(&c->file_key, &blob)) == 0 && (r = blob.err) == 0)
        r = sshbpp_conn_auth_publickey(c, user, blob.p, blob.len, file_sign, c);
    sshbpp__wb_free(&blob);
    if (r != 0 && c->have_file_key && c->auth_state == AUTH_IDLE) {
        sshbpp__hostkey_free(&c->file_key);
        c->have_file_key = 0;
    }
    return r;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_auth_kbdint(sshbpp_conn *c, const char *user, sshbpp_kbdint_fn respond, void *ctx)
{
    int r;

    if ((r = check_user(c, user)) != 0)
        return r;
    if (c->err != 0)
        return c->err;
    if (c->role != SSHBPP_ROLE_CLIENT || !c->hs_done || c->authed || c->auth_state != AUTH_IDLE)
        return SSHBPP_ESTATE;
    c->kbd = respond;
    c->kbd_ctx = ctx;
    return begin(c, user, AM_KBDINT);
}

static int
send_info_response(sshbpp_conn *c, unsigned n, const char *const *answers)
{
    sshbpp__wbuf b;
    unsigned i;

    sshbpp__wb_init(&b);
    sshbpp__wb_u8(&b, MSG_USERAUTH_INFO_RESPONSE);
    sshbpp__wb_u32(&b, n);
    for (i = 0; i < n; i++)
        sshbpp__wb_cstring(&b, answers[i]);
    c->auth_state = AUTH_WAIT_RESULT;
    return sshbpp__conn_send_wb(c, &b); /* wb_free wipes the answers */
}

/* see sshbpp_conn.h */
int
sshbpp_conn_auth_kbdint_answer(sshbpp_conn *c, unsigned n, const char *const *answers)
{
    unsigned i;

    if (c == NULL || (answers == NULL && n > 0))
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (c->auth_state != AUTH_WAIT_ANSWER)
        return SSHBPP_ESTATE;
    if (n != c->kb_n)
        return SSHBPP_EINVAL;
    for (i = 0; i < n; i++)
        if (answers[i] == NULL || strlen(answers[i]) > 4096)
            return SSHBPP_EINVAL;
    return send_info_response(c, n, answers);
}

static int
auth_result(sshbpp_conn *c, int success, int partial, const uint8_t *methods, size_t n)
{
    struct ievent *ev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_AUTH_RESULT);
    int r;

    c->auth_state = AUTH_IDLE;
    if (ev != NULL) {
        ev->success = success;
        ev->partial = partial;
        sshbpp__conn_copy_text(ev->text, sizeof(ev->text), methods, n);
        snprintf(ev->user, sizeof(ev->user), "%s", c->auth_user != NULL ? c->auth_user : "");
    }
    if (success) {
        c->authed = 1;
        /* Before anything else is read: zlib@openssh.com starts now. */
        if ((r = sshbpp_kex_auth_done(c->k)) != 0)
            return r;
    }
    sshbpp__conn_auth_clear(c);
    return 0;
}

/* INFO_REQUEST: string name, string instruction, string language,
 * int num-prompts, then string prompt + boolean echo each. */
static int
info_request(sshbpp_conn *c, const sshbpp_packet *pkt)
{
    char name[64], instr[CONN_TEXT_MAX];
    const uint8_t *p[SSHBPP_CONN_MAX_PROMPTS + 2], *x;
    size_t pl[SSHBPP_CONN_MAX_PROMPTS], nl, il, xl, total = 0, off = 0;
    char answers[SSHBPP_CONN_MAX_PROMPTS][256];
    const char *av[SSHBPP_CONN_MAX_PROMPTS];
    sshbpp__rbuf rb;
    uint32_t n, i;
    uint8_t type;
    int r;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &p[0], &nl) != 0 ||
        sshbpp__rb_string(&rb, &p[1], &il) != 0 || sshbpp__rb_string(&rb, &x, &xl) != 0 ||
        sshbpp__rb_u32(&rb, &n) != 0 || n > SSHBPP_CONN_MAX_PROMPTS)
        return SSHBPP_EAUTH;
    sshbpp__conn_copy_text(name, sizeof(name), p[0], nl);
    sshbpp__conn_copy_text(instr, sizeof(instr), p[1], il);
    free(c->kb_buf);
    c->kb_buf = NULL;
    c->kb_n = 0;
    for (i = 0; i < n; i++) {
        if (sshbpp__rb_string(&rb, &p[i + 2], &pl[i]) != 0 ||
            sshbpp__rb_bool(&rb, &c->kb_echo[i]) != 0 || pl[i] > CONN_TEXT_MAX)
            return SSHBPP_EAUTH;
        total += pl[i] + 1;
    }
    if (!sshbpp__rb_done(&rb))
        return SSHBPP_EAUTH;
    if ((c->kb_buf = malloc(total + 1)) == NULL)
        return SSHBPP_ENOMEM;
    for (i = 0; i < n; i++) {
        sshbpp__conn_copy_text(c->kb_buf + off, pl[i] + 1, p[i + 2], pl[i]);
        c->kb_prompts[i] = c->kb_buf + off;
        off += pl[i] + 1;
    }
    c->kb_n = n;
    if (c->kbd == NULL) {
        struct ievent *ev = sshbpp__conn_push_event(c, SSHBPP_CONN_EV_AUTH_PROMPT);

        c->auth_state = AUTH_WAIT_ANSWER;
        if (ev != NULL) {
            memcpy(ev->text, instr, sizeof(ev->text));
            snprintf(ev->alg, sizeof(ev->alg), "%s", name);
        }
        return 0;
    }
    memset(answers, 0, sizeof(answers));
    r = c->kbd(c->kbd_ctx, name, instr, n, c->kb_prompts, c->kb_echo, answers);
    for (i = 0; i < n; i++) {
        answers[i][sizeof(answers[i]) - 1] = '\0';
        av[i] = answers[i];
    }
    if (r == 0)
        r = send_info_response(c, n, av);
    OPENSSL_cleanse(answers, sizeof(answers));
    return r;
}

/* Keeps a copy of the first banner for sshbpp_conn_auth_banner(): cut to
 * its bound, control characters other than tab, CR, LF made '?'. */
static int
keep_banner(sshbpp_conn *c, const uint8_t *s, size_t n)
{
    size_t i;

    if (n > SSHBPP_CONN_BANNER_MAX - 1)
        n = SSHBPP_CONN_BANNER_MAX - 1;
    if ((c->banner = malloc(n + 1)) == NULL)
        return SSHBPP_ENOMEM;
    for (i = 0; i < n; i++) {
        unsigned char ch = s[i];

        c->banner[i] = ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f)
                           ? '?'
                           : (char)ch;
    }
    c->banner[n] = '\0';
    return 0;
}

int
sshbpp__conn_client_auth_input(sshbpp_conn *c, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *s;
    size_t n;
    uint8_t type;
    int partial;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    (void)sshbpp__rb_u8(&rb, &type);
    switch (pkt->type) {
    case MSG_SERVICE_ACCEPT:
        if (c->svc_state != 1)
            return SSHBPP_EAUTH;
        /* An accept without a name (old servers) is taken, as OpenSSH does;
         * a name that is there must be ours. */
        if (pkt->len > 1 && (sshbpp__rb_string(&rb, &s, &n) != 0 || !sshbpp__rb_done(&rb) ||
                             n != strlen(SERVICE_USERAUTH) || memcmp(s, SERVICE_USERAUTH, n) != 0))
            return SSHBPP_EAUTH;
        c->svc_state = 2;
        return c->auth_state == AUTH_WAIT_SERVICE ? send_request(c) : 0;
    case MSG_USERAUTH_BANNER:
        if (c->authed || ++c->banners > CONN_MAX_BANNERS)
            return SSHBPP_EAUTH;
        /* string message, string language tag (RFC 4252 section 5.4) */
        if (sshbpp__rb_string(&rb, &s, &n) != 0)
            return SSHBPP_EAUTH;
        return c->banner == NULL ? keep_banner(c, s, n) : 0;
    case MSG_USERAUTH_SUCCESS:
        if (c->auth_state != AUTH_WAIT_RESULT || pkt->len != 1)
            return SSHBPP_EAUTH;
        return auth_result(c, 1, 0, (const uint8_t *)"", 0);
    case MSG_USERAUTH_FAILURE:
        if (c->auth_state != AUTH_WAIT_RESULT && c->auth_state != AUTH_WAIT_ANSWER)
            return SSHBPP_EAUTH;
        /* a name-list holds no NUL (RFC 4251 section 5) */
        if (sshbpp__rb_string(&rb, &s, &n) != 0 || sshbpp__rb_bool(&rb, &partial) != 0 ||
            !sshbpp__rb_done(&rb) || (n > 0 && memchr(s, '\0', n) != NULL))
            return SSHBPP_EAUTH;
        return auth_result(c, 0, partial, s, n);
    case MSG_USERAUTH_60:
        if (c->auth_state == AUTH_WAIT_RESULT && c->auth_method == AM_KBDINT)
            return info_request(c, pkt);
        if (c->auth_state == AUTH_WAIT_RESULT && c->auth_method == AM_PASSWORD)
            return auth_result(c, 0, 0, (const uint8_t *)"", 0); /* PASSWD_CHANGEREQ */
        return SSHBPP_EAUTH;
    default:
        return SSHBPP_EAUTH;
    }
}
