/*
 * conn.c: the connection object's lifecycle, getters, I/O pass-through,
 * timers, sticky error and event ring (sshbpp_conn.h).
 *
 * IMPLEMENTATION NOTES
 *
 * The conn never reads a clock: c->now is the latest now_ms an input call
 * brought. Deadlines are absolute times on that clock, -1 for none.
 *
 * Events: the message that produced an event is decoded in
 * sshbpp_conn_next_event() (conn_input.c); an application message is
 * returned straight from the engine's buffer (zero copy), every other event
 * goes through a small ring of copies (struct ievent), because decoding one
 * message makes at most two of them (DISCONNECT + ERROR) and the ring is
 * drained before the next message is decoded. The event handed out last is
 * kept in c->cur so that its strings live until the next call.
 *
 * The sticky error: sshbpp__conn_fail() records the first fatal code, fails
 * the engine and the kex with it (so that neither does anything more) and
 * queues the ERROR event. The engine's output stays readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn_int.h"

/* ---------------------------------------------------------------------- */
/* kex transport over the engine                                           */

static int
tr_send(void *ctx, const uint8_t *payload, size_t len)
{
    sshbpp_conn *c = ctx;

    return sshbpp_engine_send(c->e, payload, len);
}

static int
tr_set_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *keys)
{
    sshbpp_conn *c = ctx;

    return sshbpp_engine_set_keys(c->e, dir, keys);
}

static int
tr_set_compression(void *ctx, enum sshbpp_dir dir, const char *name)
{
    sshbpp_conn *c = ctx;

    return sshbpp_engine_set_compression(c->e, dir, name);
}

static void
tr_reset_seqno(void *ctx, enum sshbpp_dir dir)
{
    sshbpp_conn *c = ctx;

    sshbpp_engine_reset_seqno(c->e, dir);
}

/* The conn is the engine's only sender, so the packet just sent is the
 * one before the next sequence number: exact, unlike the session's guess. */
static int
tr_seqno(void *ctx, uint32_t *seqno)
{
    sshbpp_conn *c = ctx;
    sshbpp_stats st;

    sshbpp_engine_get_stats(c->e, SSHBPP_DIR_OUT, &st);
    *seqno = st.seqno - 1u;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

void
sshbpp__conn_copy_text(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    size_t i;

    if (cap == 0)
        return;
    if (n > cap - 1)
        n = cap - 1;
    for (i = 0; i < n; i++) {
        unsigned char ch = src[i];
        /* Keep tabs and printable bytes (UTF-8 included); a terminal must
         * not get escape sequences from the peer. */
        dst[i] = (ch < 0x20 && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

struct ievent *
sshbpp__conn_push_event(sshbpp_conn *c, enum sshbpp_conn_event_type type)
{
    struct ievent *ev;

    if (c->ev_n == CONN_EV_RING)
        return NULL; /* cannot happen: the ring is drained per message */
    ev = &c->ev[(c->ev_head + c->ev_n) % CONN_EV_RING];
    c->ev_n++;
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    return ev;
}

int
sshbpp__conn_fail(sshbpp_conn *c, int err)
{
    if (c->err != 0)
        return c->err;
    if (!sshbpp_is_fatal(err))
        err = SSHBPP_EPROTO;
    c->err = err;
    (void)sshbpp_engine_fail(c->e, err);
    (void)sshbpp__kex_fail(c->k, err);
    sshbpp__conn_auth_clear(c);
    return err;
}

static int
printable(const char *p)
{
    for (; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return 0;
    return 1;
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

/* Resolves cfg's pubkey_algs (OpenSSH list syntax) into c->pubkey_algs;
 * every name of the result must be one we sign and verify with. */
static int
resolve_pubkey_algs(sshbpp_conn *c, const char *spec)
{
    const char *p, *end;
    size_t n, i;
    int ok;

    if (sshbpp__alglist_resolve(spec, SSHBPP_CONN_PUBKEY_ALGS_DEFAULT, sshbpp__hostkey_names,
                                &c->pubkey_algs) != 0)
        return -1;
    p = c->pubkey_algs;
    if (*p == '\0')
        return -1;
    for (;;) {
        end = strchr(p, ',');
        n = end != NULL ? (size_t)(end - p) : strlen(p);
        for (ok = 0, i = 0; sshbpp__hostkey_names[i] != NULL; i++)
            if (strlen(sshbpp__hostkey_names[i]) == n &&
                memcmp(sshbpp__hostkey_names[i], p, n) == 0)
                ok = 1;
        if (!ok)
            return -1;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

int
sshbpp__conn_pubkey_alg_ok(const sshbpp_conn *c, const char *alg)
{
    return c->pubkey_algs != NULL &&
           sshbpp__namelist_has(c->pubkey_algs, strlen(c->pubkey_algs), alg);
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

/* see sshbpp_conn.h */
void
sshbpp_conn_config_init(sshbpp_conn_config *cfg, enum sshbpp_role role)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = role;
}

/* see sshbpp_conn.h */
sshbpp_conn *
sshbpp_conn_new(const sshbpp_conn_config *cfg)
{
    sshbpp_kex_transport t = {tr_send, tr_set_keys, tr_set_compression, tr_reset_seqno};
    const char *sw;
    sshbpp_conn *c;
    int n;

    if (cfg == NULL || (cfg->role != SSHBPP_ROLE_CLIENT && cfg->role != SSHBPP_ROLE_SERVER))
        return NULL;
    sw = cfg->software_version != NULL ? cfg->software_version : "sshbpp_" SSHBPP_VERSION_STRING;
    if (sw[0] == '\0' || !printable(sw) || strchr(sw, ' ') == sw)
        return NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return NULL;
    n = snprintf(c->my_version, sizeof(c->my_version), "SSH-2.0-%s", sw);
    if (n < 0 || (size_t)n + 2 > CONN_MAX_VERSION) {
        free(c);
        return NULL;
    }
    c->role = cfg->role;
    c->hs_timeout = cfg->handshake_timeout_ms;
    c->login_timeout = cfg->login_timeout_ms;
    c->keepalive_ms = cfg->keepalive_ms;
    c->keepalive_max = cfg->keepalive_max != 0 ? cfg->keepalive_max : 3;
    c->qmax_msgs = cfg->queue_max_msgs != 0 ? cfg->queue_max_msgs : 1024;
    c->qmax_bytes = cfg->queue_max_bytes != 0 ? cfg->queue_max_bytes : 4u * 1024u * 1024u;
    c->auth_cb = cfg->auth_cb;
    c->auth_ctx = cfg->auth_ctx;
    c->max_tries = cfg->max_auth_tries != 0 ? cfg->max_auth_tries : 20;
    c->hs_deadline = c->login_deadline = -1;
    if ((c->e = sshbpp_engine_new()) == NULL ||
        (c->k = sshbpp_kex_new(cfg->role, &cfg->kex, &t, c)) == NULL ||
        (c->auth_methods =
             dup_s(cfg->auth_methods != NULL ? cfg->auth_methods : "publickey,password")) == NULL ||
        resolve_pubkey_algs(c, cfg->pubkey_algs) != 0 ||
        (c->role == SSHBPP_ROLE_SERVER &&
         sshbpp__kex_set_server_sig_algs(c->k, c->pubkey_algs) != 0)) {
        sshbpp_conn_free(c);
        return NULL;
    }
    (void)sshbpp_kex_set_seqno_fn(c->k, tr_seqno);
    (void)sshbpp_kex_set_keylog(c->k, cfg->keylog, cfg->keylog_ctx);
    if (c->role == SSHBPP_ROLE_CLIENT)
        sshbpp__kex_pause_hostkey(c->k, 1);
    return c;
}

/* see sshbpp_conn.h */
void
sshbpp_conn_free(sshbpp_conn *c)
{
    if (c == NULL)
        return;
    sshbpp__conn_auth_clear(c);
    sshbpp__conn_queue_free(c);
    sshbpp_kex_free(c->k);
    sshbpp_engine_free(c->e);
    free(c->auth_methods);
    free(c->pubkey_algs);
    free(c->banner);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_add_hostkey_file(sshbpp_conn *c, const char *path)
{
    if (c == NULL || c->started)
        return SSHBPP_EINVAL;
    return sshbpp_kex_add_hostkey_file(c->k, path);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_set_moduli(sshbpp_conn *c, const char *path)
{
    if (c == NULL || c->started)
        return SSHBPP_EINVAL;
    return sshbpp_kex_set_moduli(c->k, path);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_generate_hostkey(sshbpp_conn *c, const char *alg)
{
    if (c == NULL || c->started)
        return SSHBPP_EINVAL;
    return sshbpp_kex_generate_hostkey(c->k, alg);
}

/* see sshbpp_conn.h */
sshbpp_engine *
sshbpp_conn_engine(sshbpp_conn *c)
{
    return c != NULL ? c->e : NULL;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_start(sshbpp_conn *c, int64_t now_ms)
{
    char line[CONN_MAX_VERSION + 1];
    int n, r;

    if (c == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (c->started)
        return SSHBPP_ESTATE;
    c->started = 1;
    c->now = c->last_rx = now_ms;
    if (c->hs_timeout > 0)
        c->hs_deadline = now_ms + c->hs_timeout;
    if (c->login_timeout > 0)
        c->login_deadline = now_ms + c->login_timeout;
    n = snprintf(line, sizeof(line), "%s\r\n", c->my_version);
    if (n < 0 || (size_t)n >= sizeof(line))
        return sshbpp__conn_fail(c, SSHBPP_EPROTO);
    if ((r = sshbpp_engine_tx_raw(c->e, line, (size_t)n)) != 0)
        return sshbpp__conn_fail(c, r);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* input, output, time                                                     */

/* see sshbpp_conn.h */
uint8_t *
sshbpp_conn_rx_space(sshbpp_conn *c, size_t *room)
{
    if (room != NULL)
        *room = 0;
    if (c == NULL || room == NULL || c->err != 0 || c->eof)
        return NULL;
    return sshbpp_engine_rx_space(c->e, 0, room);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_rx_commit(sshbpp_conn *c, size_t n, int64_t now_ms)
{
    if (c == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (n > 0) {
        sshbpp_engine_rx_commit(c->e, n);
        c->last_rx = now_ms;
    }
    return sshbpp_conn_tick(c, now_ms);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_feed(sshbpp_conn *c, const void *data, size_t len, int64_t now_ms)
{
    int r;

    if (c == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (len > 0) {
        if ((r = sshbpp_engine_feed(c->e, data, len)) != 0)
            return sshbpp__conn_fail(c, r);
        c->last_rx = now_ms;
    }
    return sshbpp_conn_tick(c, now_ms);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_rx_eof(sshbpp_conn *c, int64_t now_ms)
{
    if (c == NULL)
        return SSHBPP_EINVAL;
    c->eof = 1;
    if (now_ms > c->now)
        c->now = now_ms;
    return c->err;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_fail(sshbpp_conn *c, int err)
{
    if (c == NULL)
        return SSHBPP_EINVAL;
    return sshbpp__conn_fail(c, err);
}

/* see sshbpp_conn.h */
int
sshbpp_conn_tick(sshbpp_conn *c, int64_t now_ms)
{
    if (c == NULL)
        return SSHBPP_EINVAL;
    if (c->err != 0)
        return c->err;
    if (now_ms > c->now)
        c->now = now_ms;
    if (!c->started)
        return 0;
    if (!c->hs_done && c->hs_deadline >= 0 && c->now >= c->hs_deadline)
        return sshbpp__conn_fail(c, SSHBPP_EHANDSHAKE);
    if (!c->authed && c->login_deadline >= 0 && c->now >= c->login_deadline)
        return sshbpp__conn_fail(c, SSHBPP_ELOGINTIME);
    if (c->authed && c->keepalive_ms > 0 && !sshbpp_kex_running(c->k) &&
        c->now >= c->last_rx + c->keepalive_ms)
        return sshbpp__conn_keepalive(c);
    return 0;
}

static int64_t
earlier(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* see sshbpp_conn.h */
int64_t
sshbpp_conn_next_deadline(const sshbpp_conn *c)
{
    int64_t d = -1;

    if (c == NULL || c->err != 0 || !c->started)
        return -1;
    if (!c->hs_done)
        d = earlier(d, c->hs_deadline);
    if (!c->authed)
        d = earlier(d, c->login_deadline);
    if (c->authed && c->keepalive_ms > 0 && !sshbpp_kex_running(c->k))
        d = earlier(d, c->last_rx + c->keepalive_ms);
    return d;
}

/* see sshbpp_conn.h */
const uint8_t *
sshbpp_conn_tx_data(const sshbpp_conn *c, size_t *len)
{
    if (c == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    return sshbpp_engine_tx_data(c->e, len);
}

/* see sshbpp_conn.h */
void
sshbpp_conn_tx_consume(sshbpp_conn *c, size_t n)
{
    if (c != NULL)
        sshbpp_engine_tx_consume(c->e, n);
}

/* ---------------------------------------------------------------------- */
/* events                                                                  */

static void
export_event(sshbpp_conn *c, sshbpp_conn_event *ev)
{
    const struct ievent *s = &c->cur;
    unsigned i;

    memset(ev, 0, sizeof(*ev));
    ev->type = s->type;
    ev->code = s->code;
    ev->error = s->error;
    ev->success = s->success;
    ev->partial = s->partial;
    ev->data = s->data;
    ev->len = s->len;
    ev->text = s->text;
    ev->alg = s->alg;
    ev->user = s->user;
    if (s->type == SSHBPP_CONN_EV_AUTH_PROMPT) {
        ev->nprompts = c->kb_n;
        for (i = 0; i < c->kb_n; i++) {
            ev->prompts[i] = c->kb_prompts[i];
            ev->echo[i] = c->kb_echo[i];
        }
    }
}

/* see sshbpp_conn.h */
int
sshbpp_conn_next_event(sshbpp_conn *c, sshbpp_conn_event *ev)
{
    int r;

    if (c == NULL || ev == NULL)
        return SSHBPP_EINVAL;
    for (;;) {
        if (c->ev_n > 0) {
            c->cur = c->ev[c->ev_head];
            c->ev_head = (c->ev_head + 1) % CONN_EV_RING;
            c->ev_n--;
            export_event(c, ev);
            return 0;
        }
        if (c->err != 0) {
            if (c->err_reported)
                return c->err;
            c->err_reported = 1;
            memset(&c->cur, 0, sizeof(c->cur));
            c->cur.type = SSHBPP_CONN_EV_ERROR;
            c->cur.error = c->err;
            snprintf(c->cur.text, sizeof(c->cur.text), "%s", sshbpp_strerror(c->err));
            export_event(c, ev);
            return 0;
        }
        r = sshbpp__conn_pump(c, ev);
        if (r == 1)
            return 0; /* an application message, straight from the engine */
        if (r == SSHBPP_EAGAIN && c->ev_n == 0 && c->err == 0)
            return SSHBPP_EAGAIN;
    }
}

/* ---------------------------------------------------------------------- */
/* getters                                                                 */

/* see sshbpp_conn.h */
int
sshbpp_conn_error(const sshbpp_conn *c)
{
    return c != NULL ? c->err : SSHBPP_EINVAL;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_handshake_done(const sshbpp_conn *c)
{
    return c != NULL && c->hs_done;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_authenticated(const sshbpp_conn *c)
{
    return c != NULL && c->authed;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_kex_running(const sshbpp_conn *c)
{
    return c != NULL && sshbpp_kex_running(c->k);
}

/* see sshbpp_conn.h */
unsigned
sshbpp_conn_kex_count(const sshbpp_conn *c)
{
    return c != NULL ? sshbpp_kex_completed(c->k) : 0;
}

/* see sshbpp_conn.h */
size_t
sshbpp_conn_queued(const sshbpp_conn *c)
{
    return c != NULL ? c->qcount : 0;
}

/* see sshbpp_conn.h */
const char *
sshbpp_conn_peer_version(const sshbpp_conn *c)
{
    return c != NULL && c->have_version ? c->peer_version : NULL;
}

/* see sshbpp_conn.h */
int
sshbpp_conn_get_info(const sshbpp_conn *c, sshbpp_kex_info *out)
{
    if (c == NULL)
        return SSHBPP_EINVAL;
    return sshbpp_kex_get_info(c->k, out);
}

/* see sshbpp_conn.h */
const char *
sshbpp_conn_server_sig_algs(const sshbpp_conn *c)
{
    return c != NULL ? sshbpp_kex_server_sig_algs(c->k) : NULL;
}

/* see sshbpp_conn.h */
const char *
sshbpp_conn_peer_kexinit_list(const sshbpp_conn *c, enum sshbpp_kexinit_list list)
{
    if (c == NULL || (int)list < 0 || (int)list >= SSHBPP_KEXINIT_NLISTS)
        return NULL;
    return sshbpp_kex_peer_list(c->k, (int)list);
}

/* see sshbpp_conn.h */
const char *
sshbpp_conn_auth_banner(const sshbpp_conn *c)
{
    return c != NULL ? c->banner : NULL;
}

/* see sshbpp_conn.h */
const uint8_t *
sshbpp_conn_session_id(const sshbpp_conn *c, size_t *len)
{
    if (c == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    return sshbpp_kex_session_id(c->k, len);
}

/* see sshbpp_conn.h */
const char *
sshbpp_conn_disconnect_reason(const sshbpp_conn *c, uint32_t *reason)
{
    if (c == NULL || !c->have_disc)
        return NULL;
    if (reason != NULL)
        *reason = c->disc_reason;
    return c->disc_text;
}

/* Internal, for tests: the key exchange inside. */
sshbpp_kex *sshbpp__conn_kex(sshbpp_conn *c);
sshbpp_kex *
sshbpp__conn_kex(sshbpp_conn *c)
{
    return c != NULL ? c->k : NULL;
}
