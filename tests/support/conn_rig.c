/*
 * conn_rig.c: two conns pumped against each other (see conn_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_rig.h"

/* ---- the mover ------------------------------------------------------------------ */

size_t
cr_move(sshbpp_conn *a, sshbpp_conn *b, int64_t now, size_t chunk, cr_drain_fn drain,
        void *bside)
{
    size_t len, n, moved = 0;
    const uint8_t *p;

    while ((p = sshbpp_conn_tx_data(a, &len)) != NULL && len > 0) {
        n = chunk != 0 && len > chunk ? chunk : len;
        if (sshbpp_conn_error(b) != 0) {
            sshbpp_conn_tx_consume(a, len);
            return moved + len;
        }
        if (sshbpp_conn_feed(b, p, n, now) != 0) {
            /* the error shows as an event */
        }
        sshbpp_conn_tx_consume(a, n);
        moved += n;
        drain(bside);
        if (chunk != 0)
            break;
    }
    return moved;
}

void
cr_pump(sshbpp_conn *c, void *cside, sshbpp_conn *s, void *sside, int64_t now, size_t chunk,
        cr_drain_fn drain, unsigned long max_rounds)
{
    unsigned long rounds = 0;

    drain(cside);
    drain(sside);
    for (;;) {
        size_t m = cr_move(c, s, now, chunk, drain, sside) + cr_move(s, c, now, chunk, drain, cside);

        drain(cside);
        drain(sside);
        if (m == 0)
            break;
        assert_true(++rounds < max_rounds);
    }
}

/* ---- the conn-event rig ------------------------------------------------------------ */

static void
trace(void *ctx, enum sshbpp_dir dir, uint8_t type, size_t pl, size_t wl, uint32_t seqno)
{
    cr_side *sd = ctx;

    (void)pl;
    (void)wl;
    if (dir == SSHBPP_DIR_OUT) {
        sd->sent_types[type]++;
        sd->sent_seqno[type] = seqno;
    }
}

sshbpp_conn *
cr_make_conn(enum sshbpp_role role, const sshbpp_conn_config *base, sshbpp_conn_auth_fn auth_cb,
             void *auth_ctx)
{
    sshbpp_conn_config cfg;
    sshbpp_conn *c;

    if (base != NULL)
        cfg = *base;
    else
        sshbpp_conn_config_init(&cfg, role);
    cfg.role = role;
    if (role == SSHBPP_ROLE_SERVER) {
        cfg.auth_cb = auth_cb;
        cfg.auth_ctx = auth_ctx;
    }
    c = sshbpp_conn_new(&cfg);
    assert_non_null(c);
    if (role == SSHBPP_ROLE_SERVER) {
        assert_int_equal(sshbpp_conn_generate_hostkey(c, "ssh-ed25519"), 0);
    }
    return c;
}

void
cr_rig_init(cr_rig *r, const sshbpp_conn_config *ccfg, const sshbpp_conn_config *scfg,
            sshbpp_conn_auth_fn auth_cb, void *auth_ctx)
{
    memset(r, 0, sizeof(*r));
    r->c.c = cr_make_conn(SSHBPP_ROLE_CLIENT, ccfg, auth_cb, auth_ctx);
    r->s.c = cr_make_conn(SSHBPP_ROLE_SERVER, scfg, auth_cb, auth_ctx);
    r->c.hostkey_policy = 1;
    r->now = 1000;
    sshbpp_engine_set_trace(sshbpp_conn_engine(r->c.c), trace, &r->c);
    sshbpp_engine_set_trace(sshbpp_conn_engine(r->s.c), trace, &r->s);
}

void
cr_rig_start(cr_rig *r)
{
    assert_int_equal(sshbpp_conn_start(r->c.c, r->now), 0);
    assert_int_equal(sshbpp_conn_start(r->s.c, r->now), 0);
}

void
cr_rig_free(cr_rig *r)
{
    size_t i;

    for (i = 0; i < r->c.nmsgs; i++)
        free(r->c.msgs[i]);
    for (i = 0; i < r->s.nmsgs; i++)
        free(r->s.msgs[i]);
    sshbpp_conn_free(r->c.c);
    sshbpp_conn_free(r->s.c);
}

void
cr_drain_events(cr_side *sd)
{
    sshbpp_conn_event ev;
    int e;

    while ((e = sshbpp_conn_next_event(sd->c, &ev)) == 0) {
        assert_true(ev.type > 0 && ev.type < 16);
        sd->n[ev.type]++;
        switch (ev.type) {
        case SSHBPP_CONN_EV_VERSION:
            snprintf(sd->version, sizeof(sd->version), "%s", ev.text);
            break;
        case SSHBPP_CONN_EV_HOSTKEY:
            snprintf(sd->fingerprint, sizeof(sd->fingerprint), "%s", ev.text);
            assert_non_null(ev.data);
            assert_true(ev.len > 0);
            if (sd->hostkey_policy >= 0)
                assert_int_equal(sshbpp_conn_hostkey_verdict(sd->c, sd->hostkey_policy),
                                 sd->hostkey_policy ? 0 : SSHBPP_EHOSTKEYREJECTED);
            break;
        case SSHBPP_CONN_EV_AUTH_RESULT:
            sd->last_success = ev.success;
            sd->last_partial = ev.partial;
            snprintf(sd->last_methods, sizeof(sd->last_methods), "%s", ev.text);
            snprintf(sd->last_user, sizeof(sd->last_user), "%s", ev.user);
            snprintf(sd->last_alg, sizeof(sd->last_alg), "%s", ev.alg);
            break;
        case SSHBPP_CONN_EV_AUTH_PROMPT: {
            const char *ans[SSHBPP_CONN_MAX_PROMPTS];
            unsigned i;

            for (i = 0; i < ev.nprompts; i++)
                ans[i] = sd->kb_answer;
            assert_int_equal(sshbpp_conn_auth_kbdint_answer(sd->c, ev.nprompts, ans), 0);
            break;
        }
        case SSHBPP_CONN_EV_MESSAGE:
            assert_true(sd->nmsgs < CR_MAX_MSGS);
            sd->msgs[sd->nmsgs] = malloc(ev.len);
            memcpy(sd->msgs[sd->nmsgs], ev.data, ev.len);
            sd->lens[sd->nmsgs++] = ev.len;
            break;
        case SSHBPP_CONN_EV_DISCONNECT:
            sd->disc_code = ev.code;
            snprintf(sd->disc_text, sizeof(sd->disc_text), "%s", ev.text);
            break;
        case SSHBPP_CONN_EV_ERROR:
            sd->error = ev.error;
            break;
        default:
            break;
        }
    }
    if (e != SSHBPP_EAGAIN)
        assert_int_equal(e, sshbpp_conn_error(sd->c));
}

static void
drain_side(void *sd)
{
    cr_drain_events(sd);
}

size_t
cr_rig_move(cr_rig *r, cr_side *a, cr_side *b)
{
    return cr_move(a->c, b->c, r->now, r->chunk, drain_side, b);
}

void
cr_rig_pump(cr_rig *r)
{
    cr_pump(r->c.c, &r->c, r->s.c, &r->s, r->now, r->chunk, drain_side, 10000000ul);
}

void
cr_rig_handshake(cr_rig *r)
{
    cr_rig_start(r);
    cr_rig_pump(r);
    assert_int_equal(sshbpp_conn_error(r->c.c), 0);
    assert_int_equal(sshbpp_conn_error(r->s.c), 0);
    assert_true(sshbpp_conn_handshake_done(r->c.c));
    assert_true(sshbpp_conn_handshake_done(r->s.c));
}
