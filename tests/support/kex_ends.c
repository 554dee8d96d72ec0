/*
 * kex_ends.c: two kex ends pumped against each other (see kex_ends.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kex_ends.h"
#include "testutil.h"

static int
t_send(void *ctx, const uint8_t *p, size_t n)
{
    ke_end *x = ctx;
    return sshbpp_engine_send(x->e, p, n);
}
static int
t_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    ke_end *x = ctx;
    return sshbpp_engine_set_keys(x->e, dir, k);
}
static int
t_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    ke_end *x = ctx;
    return sshbpp_engine_set_compression(x->e, dir, name);
}
static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    ke_end *x = ctx;
    sshbpp_engine_reset_seqno(x->e, dir);
}

const sshbpp_kex_transport ke_transport = {t_send, t_keys, t_comp, t_reset};

void
ke_start(ke_end *c, ke_end *s, const sshbpp_kex_config *cfg)
{
    c->e = tu_engine_new();
    s->e = tu_engine_new();
    c->k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, cfg, &ke_transport, c);
    s->k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, cfg, &ke_transport, s);
    assert_non_null(c->k);
    assert_non_null(s->k);
    assert_int_equal(sshbpp_kex_generate_hostkey(s->k, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp_kex_set_versions(c->k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_set_versions(s->k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(c->k), 0);
}

int
ke_pump(ke_end *from, ke_end *to)
{
    const uint8_t *d;
    sshbpp_packet pkt;
    size_t n;
    int r, moved = 0;

    d = sshbpp_engine_tx_data(from->e, &n);
    if (n > 0) {
        if ((r = sshbpp_engine_feed(to->e, d, n)) != 0)
            return r;
        sshbpp_engine_tx_consume(from->e, n);
        moved = 1;
    }
    while ((r = sshbpp_engine_rx_next(to->e, &pkt)) == 0) {
        if (to->rewrite != NULL)
            to->rewrite(to, &pkt);
        r = sshbpp_kex_input(to->k, &pkt);
        if (r < 0)
            return r;
        if (r == SSHBPP_KEX_PASS && pkt.type == 94)
            to->app++;
    }
    return r == SSHBPP_EAGAIN ? moved : r;
}
