/*
 * test_cov_kex.c: the key exchange's error paths that a peer or a caller
 * can reach and that test_kex / test_hostile / test_hostkey leave out,
 * each with the exact error, the error sticky afterwards:
 *
 *  - API misuse: NULL arguments, a client asked for host keys or moduli,
 *    calls before the first exchange, a kex without versions;
 *  - hostile messages through two sans-I/O ends (kex_ends.h) with one
 *    message rewritten or injected: malformed KEXINIT fields, a wrong
 *    guess (first_kex_packet_follows), strict-KEX violations, KEX
 *    messages in the wrong state or to the wrong role, UNIMPLEMENTED
 *    naming our KEXINIT, malformed EXT_INFO, group-exchange requests and
 *    groups out of bounds, malformed mpints;
 *  - the host key pause (the conn's known_hosts hook) and delayed
 *    compression (auth_done);
 *  - gex.c, hostkey.c, wire.c and alglist.c called directly for what the
 *    wire cannot express (a group over 8192 bits, a negative p, host key
 *    blobs and signatures malformed per algorithm, writer bounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp.h"
#include "kex_ends.h"
#include "testutil.h"

void sshbpp__kex_test_no_strict(sshbpp_kex *k);
void sshbpp__kex_test_swap_hostkeys(sshbpp_kex *k);

static const sshbpp_kex_config cfg_x25519 = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
                                             "hmac-sha2-256", "none"};
static const sshbpp_kex_config cfg_gex = {"diffie-hellman-group-exchange-sha256", "ssh-ed25519",
                                          "aes128-ctr", "hmac-sha2-256", "none"};

/* ---- the rig: two ends, one packet rewritten ------------------------------- */

typedef void (*mutate_fn)(ke_end *to, sshbpp_packet *p);

static struct {
    int at;        /* role whose input is rewritten */
    uint8_t type;  /* the packet type to rewrite */
    mutate_fn fn;
    int done;
} mu;

static uint8_t mbuf[70000];

static void
hook(ke_end *to, sshbpp_packet *p)
{
    if (!mu.done && mu.fn != NULL && to->role == mu.at && p->type == mu.type) {
        mu.done = 1;
        mu.fn(to, p);
    }
}

typedef struct rig {
    ke_end c, s;
    int failed_role;
} rig;

static void
rig_start(rig *g, const sshbpp_kex_config *cfg, int at, uint8_t type, mutate_fn fn)
{
    memset(g, 0, sizeof(*g));
    memset(&mu, 0, sizeof(mu));
    mu.at = at;
    mu.type = type;
    mu.fn = fn;
    g->c.role = SSHBPP_ROLE_CLIENT;
    g->s.role = SSHBPP_ROLE_SERVER;
    g->c.rewrite = g->s.rewrite = hook;
    ke_start(&g->c, &g->s, cfg);
}

/* Pumps until an error or until nothing moves; returns the error or 0. */
static int
rig_run(rig *g)
{
    int a, b, i;

    g->failed_role = -1;
    for (i = 0; i < 30; i++) {
        if ((a = ke_pump(&g->c, &g->s)) < 0) {
            g->failed_role = SSHBPP_ROLE_SERVER;
            return a;
        }
        if ((b = ke_pump(&g->s, &g->c)) < 0) {
            g->failed_role = SSHBPP_ROLE_CLIENT;
            return b;
        }
        if (a == 0 && b == 0)
            break;
    }
    return 0;
}

static void
rig_free(rig *g)
{
    sshbpp_kex_free(g->c.k);
    sshbpp_kex_free(g->s.k);
    sshbpp_engine_free(g->c.e);
    sshbpp_engine_free(g->s.e);
}

/* The failing end reports the same error for any later input. */
static void
assert_sticky(sshbpp_kex *k, int err)
{
    static const uint8_t ign[5] = {2, 0, 0, 0, 0};
    sshbpp_packet p = {ign, sizeof(ign), 2, 9};

    assert_int_equal(sshbpp_kex_input(k, &p), err);
    assert_int_equal(sshbpp_kex_start(k), err);
}

/* Runs one exchange with fn rewriting the first `type` packet that role
 * `at` receives, and checks that it is `at` that fails with `want`. */
static void
expect(const sshbpp_kex_config *cfg, int at, uint8_t type, mutate_fn fn, int want)
{
    rig g;
    int r;

    rig_start(&g, cfg, at, type, fn);
    r = rig_run(&g);
    assert_int_equal(mu.done, 1);
    if (r != want)
        fail_msg("type %u rewritten at %s: got %s, want %s", type,
                 at == SSHBPP_ROLE_CLIENT ? "client" : "server", sshbpp_err_name(r),
                 sshbpp_err_name(want));
    if (want != 0) {
        assert_int_equal(g.failed_role, at);
        assert_sticky(at == SSHBPP_ROLE_CLIENT ? g.c.k : g.s.k, want);
    }
    rig_free(&g);
}

static void
set_pkt(sshbpp_packet *p, const sshbpp__wbuf *w)
{
    assert_int_equal(w->err, 0);
    assert_true(w->len <= sizeof(mbuf));
    memcpy(mbuf, w->p, w->len);
    p->payload = mbuf;
    p->len = w->len;
    p->type = mbuf[0];
}

/* ---- KEXINIT rebuilding --------------------------------------------------------- */

/* What to change in a KEXINIT: list `list` replaced by `with` (raw bytes,
 * with_len of them) unless list < 0; the guess flag; bytes dropped from
 * the end (after the reserved field). */
static struct {
    int list;
    const char *with;
    size_t with_len;
    int follows;
    size_t cut;
} kx;

static void
kx_reset(void)
{
    memset(&kx, 0, sizeof(kx));
    kx.list = -1;
}

static void
mut_kexinit(ke_end *to, sshbpp_packet *p)
{
    sshbpp__rbuf rb;
    sshbpp__wbuf w;
    const uint8_t *q;
    size_t n;
    uint8_t t;
    int i, f;
    uint32_t res;

    (void)to;
    sshbpp__rb_init(&rb, p->payload, p->len);
    sshbpp__wb_init(&w);
    assert_int_equal(sshbpp__rb_u8(&rb, &t), 0);
    sshbpp__wb_u8(&w, t);
    assert_int_equal(sshbpp__rb_raw(&rb, &q, 16), 0);
    sshbpp__wb_raw(&w, q, 16);
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        assert_int_equal(sshbpp__rb_string(&rb, &q, &n), 0);
        if (i == kx.list)
            sshbpp__wb_string(&w, kx.with, kx.with_len);
        else
            sshbpp__wb_string(&w, q, n);
    }
    assert_int_equal(sshbpp__rb_bool(&rb, &f), 0);
    assert_int_equal(sshbpp__rb_u32(&rb, &res), 0);
    sshbpp__wb_bool(&w, kx.follows);
    sshbpp__wb_u32(&w, res);
    assert_true(kx.cut <= w.len);
    w.len -= kx.cut;
    set_pkt(p, &w);
    sshbpp__wb_free(&w);
}

static void
kexinit_list(int at, int list, const char *with, size_t len, int want)
{
    kx_reset();
    kx.list = list;
    kx.with = with;
    kx.with_len = len;
    expect(&cfg_x25519, at, 20, mut_kexinit, want);
}

static void
test_kexinit_malformed(void **state)
{
    static char big[5000];

    (void)state;
    /* A NUL inside a name-list. */
    kexinit_list(SSHBPP_ROLE_SERVER, SSHBPP_KEXINIT_MAC_C2S, "hmac-sha1\0x", 11, SSHBPP_EKEXMSG);
    /* Name-list bounds: an empty name, a trailing comma, a 65-char name,
     * a list over 4096 bytes. */
    kexinit_list(SSHBPP_ROLE_CLIENT, SSHBPP_KEXINIT_CIPHER_S2C, "aes128-ctr,,aes256-ctr", 22,
                 SSHBPP_ENAMELIST);
    kexinit_list(SSHBPP_ROLE_SERVER, SSHBPP_KEXINIT_COMP_C2S, "none,", 5, SSHBPP_ENAMELIST);
    memset(big, 'a', sizeof(big));
    kexinit_list(SSHBPP_ROLE_SERVER, SSHBPP_KEXINIT_LANG_C2S, big, 65, SSHBPP_ENAMELIST);
    kexinit_list(SSHBPP_ROLE_CLIENT, SSHBPP_KEXINIT_LANG_S2C, big, sizeof(big), SSHBPP_ENAMELIST);
    /* Truncated before the reserved field ends, and before the flag. */
    kx_reset();
    kx.cut = 1;
    expect(&cfg_x25519, SSHBPP_ROLE_SERVER, 20, mut_kexinit, SSHBPP_EKEXMSG);
    kx_reset();
    kx.cut = 5;
    expect(&cfg_x25519, SSHBPP_ROLE_CLIENT, 20, mut_kexinit, SSHBPP_EKEXMSG);
    /* Nothing in common: each slot in turn. */
    kexinit_list(SSHBPP_ROLE_SERVER, SSHBPP_KEXINIT_KEX, "sntrup761x25519-sha512", 22,
                 SSHBPP_ENOMATCH);
    kexinit_list(SSHBPP_ROLE_SERVER, SSHBPP_KEXINIT_HOSTKEY, "ssh-dss", 7, SSHBPP_ENOMATCH);
    kexinit_list(SSHBPP_ROLE_CLIENT, SSHBPP_KEXINIT_CIPHER_S2C, "twofish-cbc", 11,
                 SSHBPP_ENOMATCH);
    kexinit_list(SSHBPP_ROLE_CLIENT, SSHBPP_KEXINIT_MAC_C2S, "hmac-md5", 8, SSHBPP_ENOMATCH);
    kexinit_list(SSHBPP_ROLE_SERVER, SSHBPP_KEXINIT_COMP_S2C, "zstd", 4, SSHBPP_ENOMATCH);
    /* A server list the client cannot use although the names match: the
     * server offers only a host key algorithm the client did not list. */
    kexinit_list(SSHBPP_ROLE_CLIENT, SSHBPP_KEXINIT_HOSTKEY, "ecdsa-sha2-nistp256", 19,
                 SSHBPP_ENOMATCH);
}

/* A guessed packet (first_kex_packet_follows) whose guess is wrong (the
 * client's first kex or host key algorithm is not the server's) is void:
 * the server drops the client's ECDH init and waits. A right guess is not
 * dropped; the flag itself is hashed, so rewriting it breaks the
 * signature. */
static void
test_wrong_guess_ignored(void **state)
{
    static const char kexl[] = "ecdh-sha2-nistp256,curve25519-sha256";
    static const char hkl[] = "ecdsa-sha2-nistp256,ssh-ed25519";
    rig g;
    size_t n;

    (void)state;
    kx_reset();
    kx.list = SSHBPP_KEXINIT_KEX;
    kx.with = kexl;
    kx.with_len = strlen(kexl);
    kx.follows = 1;
    rig_start(&g, &cfg_x25519, SSHBPP_ROLE_SERVER, 20, mut_kexinit);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.s.k), 0);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 0);
    assert_true(sshbpp_kex_running(g.s.k));
    (void)sshbpp_engine_tx_data(g.s.e, &n);
    assert_int_equal(n, 0); /* no reply was sent */
    rig_free(&g);

    kx.list = SSHBPP_KEXINIT_HOSTKEY;
    kx.with = hkl;
    kx.with_len = strlen(hkl);
    rig_start(&g, &cfg_x25519, SSHBPP_ROLE_SERVER, 20, mut_kexinit);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.s.k), 0);
    rig_free(&g);

    /* First names of the same length that differ: also a wrong guess. */
    {
        static const sshbpp_kex_config ec2 = {"ecdh-sha2-nistp384,ecdh-sha2-nistp256",
                                              "ssh-ed25519", "aes128-ctr", "hmac-sha2-256",
                                              "none"};
        static const char l2[] = "ecdh-sha2-nistp256,ecdh-sha2-nistp384";
        kx_reset();
        kx.list = SSHBPP_KEXINIT_KEX;
        kx.with = l2;
        kx.with_len = strlen(l2);
        kx.follows = 1;
        rig_start(&g, &ec2, SSHBPP_ROLE_SERVER, 20, mut_kexinit);
        assert_int_equal(rig_run(&g), 0);
        assert_int_equal(sshbpp_kex_completed(g.s.k), 0);
        (void)sshbpp_engine_tx_data(g.s.e, &n);
        assert_int_equal(n, 0);
        rig_free(&g);
    }

    /* A right guess (same first names) is not dropped: the exchange runs
     * to the signature, which fails because the client hashed its own
     * KEXINIT, not the one with the flag set. */
    kx_reset();
    kx.follows = 1;
    {
        rig h;
        rig_start(&h, &cfg_x25519, SSHBPP_ROLE_SERVER, 20, mut_kexinit);
        assert_int_equal(rig_run(&h), SSHBPP_ESIGNATURE);
        assert_int_equal(h.failed_role, SSHBPP_ROLE_CLIENT);
        rig_free(&h);
    }
}

/* ---- strict KEX and message order ----------------------------------------------- */

static void
mut_seqno3(ke_end *to, sshbpp_packet *p)
{
    (void)to;
    p->seqno = 3;
}

static uint8_t repl_type;

/* Replaces the packet by a bare message of type repl_type (5 bytes). */
static void
mut_replace(ke_end *to, sshbpp_packet *p)
{
    (void)to;
    memset(mbuf, 0, 5);
    mbuf[0] = repl_type;
    p->payload = mbuf;
    p->len = 5;
    p->type = repl_type;
}

static void
expect_replace(int at, uint8_t type, uint8_t with, int want)
{
    repl_type = with;
    expect(&cfg_x25519, at, type, mut_replace, want);
}

static void
test_strict_kex(void **state)
{
    (void)state;
    /* Under strict KEX the peer's KEXINIT must be its packet number 0. */
    expect(&cfg_x25519, SSHBPP_ROLE_SERVER, 20, mut_seqno3, SSHBPP_ESTRICTKEX);
    expect(&cfg_x25519, SSHBPP_ROLE_CLIENT, 20, mut_seqno3, SSHBPP_ESTRICTKEX);
    /* ... and nothing but KEX messages may come before the first NEWKEYS,
     * not even IGNORE. */
    expect_replace(SSHBPP_ROLE_CLIENT, 31, 2, SSHBPP_ESTRICTKEX);
    expect_replace(SSHBPP_ROLE_SERVER, 30, 2, SSHBPP_ESTRICTKEX);
    expect_replace(SSHBPP_ROLE_SERVER, 30, 3, SSHBPP_ESTRICTKEX);
    /* DISCONNECT is reported as such in any state. */
    expect_replace(SSHBPP_ROLE_CLIENT, 31, 1, SSHBPP_EDISCONNECT);
    /* KEX messages to the wrong role. */
    expect_replace(SSHBPP_ROLE_CLIENT, 31, 30, SSHBPP_EKEXORDER);
    expect_replace(SSHBPP_ROLE_SERVER, 30, 31, SSHBPP_EKEXORDER);
    expect_replace(SSHBPP_ROLE_SERVER, 30, 49, SSHBPP_EKEXORDER);
    /* A second KEXINIT in one exchange. */
    expect_replace(SSHBPP_ROLE_SERVER, 30, 20, SSHBPP_EKEXORDER);
}

/* Without strict KEX (the test hook stops advertising it): IGNORE, DEBUG
 * and UNIMPLEMENTED pass before the first NEWKEYS, a service message does
 * not. */
static void
test_no_strict_order(void **state)
{
    static const uint8_t ign[] = {2, 0, 0, 0, 0}, dbg[] = {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                         svc[] = {5, 0, 0, 0, 0};
    sshbpp_packet p;
    rig g;

    (void)state;
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    sshbpp__kex_test_no_strict(g.c.k);
    sshbpp__kex_test_no_strict(g.s.k);
    /* Restart the client's KEXINIT without the strict marker. */
    sshbpp_kex_free(g.c.k);
    sshbpp_engine_free(g.c.e);
    g.c.e = tu_engine_new();
    g.c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &ke_transport, &g.c);
    assert_non_null(g.c.k);
    sshbpp__kex_test_no_strict(g.c.k);
    assert_int_equal(sshbpp_kex_set_versions(g.c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(ke_pump(&g.c, &g.s), 1); /* server has the KEXINIT */
    p.payload = ign;
    p.len = sizeof(ign);
    p.type = 2;
    p.seqno = 1;
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_KEX_PASS);
    p.payload = dbg;
    p.len = sizeof(dbg);
    p.type = 4;
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_KEX_PASS);
    /* The exchange still completes, unstrict. */
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 1);
    {
        sshbpp_kex_info info;
        assert_int_equal(sshbpp_kex_get_info(g.c.k, &info), 0);
        assert_int_equal(info.strict_kex, 0);
    }
    rig_free(&g);

    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    sshbpp__kex_test_no_strict(g.s.k);
    p.payload = svc;
    p.len = sizeof(svc);
    p.type = 5;
    p.seqno = 0;
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_EKEXORDER);
    assert_sticky(g.s.k, SSHBPP_EKEXORDER);
    rig_free(&g);
}

/* KEX messages outside an exchange, and NEWKEYS on a server before the
 * client's init. */
static void
test_kex_msgs_out_of_exchange(void **state)
{
    static const uint8_t m30[] = {30, 0, 0, 0, 0}, nk[] = {21};
    sshbpp_packet p = {m30, sizeof(m30), 30, 0};
    rig g;

    (void)state;
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);

    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    p.payload = nk;
    p.len = 1;
    p.type = 21;
    p.seqno = 1;
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);

    /* After a completed exchange: 30 outside an exchange; EXT_INFO at the
     * server passes (only a client reads it). */
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.s.k), 1);
    {
        static const uint8_t ext[] = {7, 0, 0, 0, 0};
        sshbpp_packet e = {ext, sizeof(ext), 7, 5};
        assert_int_equal(sshbpp_kex_input(g.s.k, &e), SSHBPP_KEX_PASS);
    }
    p.payload = m30;
    p.len = sizeof(m30);
    p.type = 30;
    assert_int_equal(sshbpp_kex_input(g.c.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);
}

/* ---- UNIMPLEMENTED naming our KEXINIT -------------------------------------------- */

static int
seqno_zero(void *ctx, uint32_t *seqno)
{
    (void)ctx;
    *seqno = 0;
    return 0;
}

static int
seqno_unknown(void *ctx, uint32_t *seqno)
{
    (void)ctx;
    (void)seqno;
    return -1;
}

static void
test_unimplemented_refusal(void **state)
{
    static const uint8_t u0[] = {3, 0, 0, 0, 0}, u5[] = {3, 0, 0, 0, 5}, ushort[] = {3, 0};
    sshbpp_packet p = {u5, sizeof(u5), 3, 0};
    ke_end c = {0};

    (void)state;
    c.e = tu_engine_new();
    c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &ke_transport, &c);
    assert_int_equal(sshbpp_kex_set_seqno_fn(c.k, seqno_zero), 0);
    assert_int_equal(sshbpp_kex_set_versions(c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    /* Names another packet, or is too short to name one: passed on. */
    assert_int_equal(sshbpp_kex_input(c.k, &p), SSHBPP_KEX_PASS);
    p.payload = ushort;
    p.len = sizeof(ushort);
    assert_int_equal(sshbpp_kex_input(c.k, &p), SSHBPP_KEX_PASS);
    p.payload = u0;
    p.len = sizeof(u0);
    assert_int_equal(sshbpp_kex_input(c.k, &p), SSHBPP_EREKEYREFUSED);
    assert_sticky(c.k, SSHBPP_EREKEYREFUSED);
    sshbpp_kex_free(c.k);
    sshbpp_engine_free(c.e);

    /* A transport that cannot tell the number: detection is off. */
    c.e = tu_engine_new();
    c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &ke_transport, &c);
    assert_int_equal(sshbpp_kex_set_seqno_fn(c.k, seqno_unknown), 0);
    assert_int_equal(sshbpp_kex_set_versions(c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    assert_int_equal(sshbpp_kex_input(c.k, &p), SSHBPP_KEX_PASS);
    sshbpp_kex_free(c.k);
    sshbpp_engine_free(c.e);
}

/* ---- EXT_INFO ---------------------------------------------------------------------- */

static int ext_variant;

static void
mut_ext(ke_end *to, sshbpp_packet *p)
{
    sshbpp__wbuf w;
    static char longv[70000];
    uint32_t i;

    (void)to;
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 7);
    switch (ext_variant) {
    case 0: /* count over the bound */
        sshbpp__wb_u32(&w, 65);
        break;
    case 1: /* count 2, one pair */
        sshbpp__wb_u32(&w, 2);
        sshbpp__wb_cstring(&w, "server-sig-algs");
        sshbpp__wb_cstring(&w, "ssh-ed25519");
        break;
    case 2: /* a NUL in server-sig-algs */
        sshbpp__wb_u32(&w, 1);
        sshbpp__wb_cstring(&w, "server-sig-algs");
        sshbpp__wb_string(&w, "ssh-ed25519\0x", 13);
        break;
    case 3: /* server-sig-algs over 64 KiB */
        memset(longv, 'a', sizeof(longv));
        sshbpp__wb_u32(&w, 1);
        sshbpp__wb_cstring(&w, "server-sig-algs");
        sshbpp__wb_string(&w, longv, 64 * 1024 + 1);
        break;
    case 4: /* a trailing byte */
        sshbpp__wb_u32(&w, 1);
        sshbpp__wb_cstring(&w, "no-flow-control");
        sshbpp__wb_cstring(&w, "p");
        sshbpp__wb_u8(&w, 0);
        break;
    case 5: /* no count */
        break;
    case 6: /* valid: an unknown extension, server-sig-algs twice (the last wins) */
        sshbpp__wb_u32(&w, 3);
        sshbpp__wb_cstring(&w, "server-sig-algs");
        sshbpp__wb_cstring(&w, "rsa-sha2-256");
        sshbpp__wb_cstring(&w, "delay-compression");
        sshbpp__wb_cstring(&w, "x");
        sshbpp__wb_cstring(&w, "server-sig-algs");
        sshbpp__wb_cstring(&w, "ssh-ed25519,rsa-sha2-512");
        break;
    default: /* valid, without server-sig-algs */
        sshbpp__wb_u32(&w, 2);
        for (i = 0; i < 2; i++) {
            sshbpp__wb_cstring(&w, "ping@openssh.com");
            sshbpp__wb_cstring(&w, "0");
        }
        break;
    }
    set_pkt(p, &w);
    sshbpp__wb_free(&w);
}

static void
test_ext_info(void **state)
{
    rig g;

    (void)state;
    for (ext_variant = 0; ext_variant <= 5; ext_variant++)
        expect(&cfg_x25519, SSHBPP_ROLE_CLIENT, 7, mut_ext, SSHBPP_EKEXMSG);

    ext_variant = 6;
    rig_start(&g, &cfg_x25519, SSHBPP_ROLE_CLIENT, 7, mut_ext);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(mu.done, 1);
    assert_string_equal(sshbpp_kex_server_sig_algs(g.c.k), "ssh-ed25519,rsa-sha2-512");
    rig_free(&g);

    ext_variant = 7;
    rig_start(&g, &cfg_x25519, SSHBPP_ROLE_CLIENT, 7, mut_ext);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(mu.done, 1);
    assert_null(sshbpp_kex_server_sig_algs(g.c.k));
    rig_free(&g);

    /* The server's own list (the conn sets it from its keys) goes out in
     * its EXT_INFO. */
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(sshbpp__kex_set_server_sig_algs(g.s.k, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp__kex_set_server_sig_algs(g.s.k, "ssh-ed25519,rsa-sha2-256"), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_string_equal(sshbpp_kex_server_sig_algs(g.c.k), "ssh-ed25519,rsa-sha2-256");
    rig_free(&g);
    assert_int_equal(sshbpp__kex_set_server_sig_algs(NULL, "a"), SSHBPP_EINVAL);
}

/* ---- group exchange ---------------------------------------------------------------- */

static uint32_t req_min, req_n, req_max;

static void
mut_request(ke_end *to, sshbpp_packet *p)
{
    sshbpp__wbuf w;

    (void)to;
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 34);
    sshbpp__wb_u32(&w, req_min);
    sshbpp__wb_u32(&w, req_n);
    sshbpp__wb_u32(&w, req_max);
    set_pkt(p, &w);
    sshbpp__wb_free(&w);
}

static void
expect_request(uint32_t min, uint32_t n, uint32_t max, int want)
{
    req_min = min;
    req_n = n;
    req_max = max;
    expect(&cfg_gex, SSHBPP_ROLE_SERVER, 34, mut_request, want);
}

/* The group the rewritten GEX_GROUP carries: raw mpint bodies. */
static struct {
    uint8_t p[1100], g[1100];
    size_t pn, gn;
    int raw; /* p/g are complete encoded fields (may be malformed) */
} grp;

static void
mut_group(ke_end *to, sshbpp_packet *p)
{
    sshbpp__wbuf w;

    (void)to;
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 31);
    if (grp.raw) {
        sshbpp__wb_raw(&w, grp.p, grp.pn);
        sshbpp__wb_raw(&w, grp.g, grp.gn);
    } else {
        sshbpp__wb_mpint(&w, grp.p, grp.pn);
        sshbpp__wb_mpint(&w, grp.g, grp.gn);
    }
    set_pkt(p, &w);
    sshbpp__wb_free(&w);
}

static void
set_grp(const BIGNUM *p, const BIGNUM *g)
{
    memset(&grp, 0, sizeof(grp));
    grp.pn = (size_t)BN_bn2bin(p, grp.p);
    grp.gn = (size_t)BN_bn2bin(g, grp.g);
}

static void
test_gex_request_bounds(void **state)
{
    (void)state;
    /* min > n and n > max: malformed. */
    expect_request(3072, 2048, 8192, SSHBPP_EKEXMSG);
    expect_request(2048, 8192, 4096, SSHBPP_EKEXMSG);
    /* Entirely above our ceiling / between our sizes: nothing to offer. */
    expect_request(9000, 9000, 9000, SSHBPP_ENOMATCH);
    expect_request(2100, 2100, 3000, SSHBPP_ENOMATCH);
    /* Accepted (n below our floor is moved up to 2048), but the client
     * hashed the numbers it sent, not these: its signature check fails. */
    req_min = 1024;
    req_n = 1024;
    req_max = 8192;
    {
        rig g;
        rig_start(&g, &cfg_gex, SSHBPP_ROLE_SERVER, 34, mut_request);
        assert_int_equal(rig_run(&g), SSHBPP_ESIGNATURE);
        assert_int_equal(g.failed_role, SSHBPP_ROLE_CLIENT);
        rig_free(&g);
    }
}

static void
test_gex_group_bounds(void **state)
{
    BIGNUM *p2048 = BN_get_rfc3526_prime_2048(NULL), *p1024 = BN_get_rfc2409_prime_1024(NULL);
    BIGNUM *g = BN_new(), *t = BN_new();

    (void)state;
    assert_non_null(p2048);
    assert_non_null(p1024);
    assert_true(BN_set_word(g, 2));
    /* p too small */
    set_grp(p1024, g);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    /* p longer than 8192 bits (1025 bytes): refused before conversion */
    memset(&grp, 0, sizeof(grp));
    memset(grp.p, 0x7f, 1025);
    grp.pn = 1025;
    grp.g[0] = 2;
    grp.gn = 1;
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    /* g longer than p */
    set_grp(p2048, p2048);
    grp.g[grp.gn++] = 1;
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    /* even p */
    assert_non_null(BN_copy(t, p2048));
    assert_true(BN_add_word(t, 1));
    set_grp(t, g);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    /* g = 0, 1, p - 1, p */
    assert_true(BN_set_word(t, 0));
    set_grp(p2048, t);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    assert_true(BN_set_word(t, 1));
    set_grp(p2048, t);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    assert_non_null(BN_copy(t, p2048));
    assert_true(BN_sub_word(t, 1));
    set_grp(p2048, t);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);
    set_grp(p2048, p2048);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EGEXGROUP);

    /* Malformed mpints: negative p, a superfluous leading zero, a lone
     * zero byte, a length past the end. */
    memset(&grp, 0, sizeof(grp));
    grp.raw = 1;
    memcpy(grp.p, "\0\0\0\2\x80\1", 6);
    grp.pn = 6;
    memcpy(grp.g, "\0\0\0\1\2", 5);
    grp.gn = 5;
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EKEXMSG);
    memcpy(grp.p, "\0\0\0\2\0\1", 6);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EKEXMSG);
    memcpy(grp.p, "\0\0\0\1\0", 5);
    grp.pn = 5;
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EKEXMSG);
    memcpy(grp.p, "\0\0\0\1\1", 5);
    memcpy(grp.g, "\0\0\0\7\2", 5);
    expect(&cfg_gex, SSHBPP_ROLE_CLIENT, 31, mut_group, SSHBPP_EKEXMSG);
    BN_free(p2048);
    BN_free(p1024);
    BN_free(g);
    BN_free(t);
}

/* Group-exchange messages out of order, injected by hand at each step. */
static void
test_gex_order(void **state)
{
    static const uint8_t m31[] = {31, 0, 0, 0, 0},
                         m32[] = {32, 0, 0, 0, 1, 5}, m33[] = {33, 0, 0, 0, 0},
                         m34[] = {34, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 32, 0};
    sshbpp_packet p = {m32, sizeof(m32), 32, 1};
    rig g;

    (void)state;
    /* Server: an init before the request, a group, a reply, a 30. */
    rig_start(&g, &cfg_gex, -1, 0, NULL);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);
    rig_start(&g, &cfg_gex, -1, 0, NULL);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    p.payload = m31;
    p.len = sizeof(m31);
    p.type = 31;
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);
    /* Client: a reply or a request before the group. */
    rig_start(&g, &cfg_gex, -1, 0, NULL);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    assert_int_equal(ke_pump(&g.s, &g.c), 1); /* client sent its request */
    p.payload = m33;
    p.len = sizeof(m33);
    p.type = 33;
    assert_int_equal(sshbpp_kex_input(g.c.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);
    rig_start(&g, &cfg_gex, -1, 0, NULL);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    assert_int_equal(ke_pump(&g.s, &g.c), 1);
    p.payload = m34;
    p.len = sizeof(m34) - 1;
    p.type = 34;
    assert_int_equal(sshbpp_kex_input(g.c.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);
    /* Server: a second request after the group went out. */
    rig_start(&g, &cfg_gex, -1, 0, NULL);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    assert_int_equal(ke_pump(&g.s, &g.c), 1);
    assert_int_equal(ke_pump(&g.c, &g.s), 1); /* server got the request, sent the group */
    p.payload = m34;
    p.len = sizeof(m34) - 1;
    p.type = 34;
    assert_int_equal(sshbpp_kex_input(g.s.k, &p), SSHBPP_EKEXORDER);
    rig_free(&g);
}

/* ---- host key pause, delayed compression -------------------------------------------- */

static void
mut_resume(ke_end *to, sshbpp_packet *p)
{
    size_t len = 0;
    const char *alg = NULL, *fp = NULL;

    (void)p;
    /* The client is waiting for the verdict on the host key it saw. */
    assert_true(sshbpp__kex_hostkey_pending(to->k));
    assert_non_null(sshbpp__kex_hostkey_blob(to->k, &len, &alg, &fp));
    assert_true(len > 0);
    assert_string_equal(alg, "ssh-ed25519");
    assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
    assert_int_equal(sshbpp__kex_hostkey_resume(to->k), 0);
    assert_false(sshbpp__kex_hostkey_pending(to->k));
}

static void
test_hostkey_pause(void **state)
{
    rig g;
    size_t len = 7;

    (void)state;
    /* Paused and never resumed: the server's NEWKEYS is out of order. */
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    sshbpp__kex_pause_hostkey(g.c.k, 1);
    assert_null(sshbpp__kex_hostkey_blob(g.c.k, &len, NULL, NULL));
    assert_int_equal(len, 0);
    assert_int_equal(sshbpp__kex_hostkey_resume(g.c.k), SSHBPP_EINVAL); /* nothing pending */
    assert_int_equal(rig_run(&g), SSHBPP_EKEXORDER);
    assert_int_equal(g.failed_role, SSHBPP_ROLE_CLIENT);
    assert_int_equal(sshbpp__kex_hostkey_resume(g.c.k), SSHBPP_EKEXORDER);
    rig_free(&g);

    /* Resumed when the NEWKEYS arrives: the exchange completes. */
    rig_start(&g, &cfg_x25519, SSHBPP_ROLE_CLIENT, 21, mut_resume);
    sshbpp__kex_pause_hostkey(g.c.k, 1);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(mu.done, 1);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 1);
    assert_int_equal(sshbpp_kex_completed(g.s.k), 1);
    /* A rekey does not pause: the host key was vouched for once and is
     * pinned since. */
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 2);
    assert_false(sshbpp__kex_hostkey_pending(g.c.k));
    rig_free(&g);
    assert_int_equal(sshbpp__kex_hostkey_resume(NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__kex_hostkey_pending(NULL), 0);
    sshbpp__kex_pause_hostkey(NULL, 1);
    assert_int_equal(sshbpp__kex_fail(NULL, SSHBPP_EMAC), SSHBPP_EMAC);
}

static void
test_auth_done_delayed_zlib(void **state)
{
    static const sshbpp_kex_config cfg = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
                                          "hmac-sha2-256", "zlib@openssh.com"};
    uint8_t data[400];
    sshbpp_kex_info info;
    rig g;
    size_t n;

    (void)state;
    memset(data, 'q', sizeof(data));
    data[0] = 94;
    rig_start(&g, &cfg, -1, 0, NULL);
    assert_int_equal(sshbpp_kex_auth_done(g.c.k), SSHBPP_EINVAL); /* no exchange yet */
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_get_info(g.c.k, &info), 0);
    assert_string_equal(info.comp_c2s, "zlib@openssh.com");
    /* Before auth_done the payload travels uncompressed ... */
    assert_int_equal(sshbpp_engine_send(g.c.e, data, sizeof(data)), 0);
    (void)sshbpp_engine_tx_data(g.c.e, &n);
    assert_true(n > sizeof(data));
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    assert_int_equal(g.s.app, 1);
    /* ... after it on both ends, compressed, and still understood. */
    assert_int_equal(sshbpp_kex_auth_done(g.c.k), 0);
    assert_int_equal(sshbpp_kex_auth_done(g.c.k), 0); /* a second call: no-op */
    assert_int_equal(sshbpp_kex_auth_done(g.s.k), 0);
    assert_int_equal(sshbpp_engine_send(g.c.e, data, sizeof(data)), 0);
    (void)sshbpp_engine_tx_data(g.c.e, &n);
    assert_true(n < 100);
    assert_int_equal(ke_pump(&g.c, &g.s), 1);
    assert_int_equal(g.s.app, 2);
    rig_free(&g);

    /* A transport that fails to switch compression on: the error sticks. */
    rig_start(&g, &cfg, -1, 0, NULL);
    assert_int_equal(rig_run(&g), 0);
    sshbpp_engine_close(g.s.e);
    assert_int_equal(sshbpp_kex_auth_done(g.s.k), SSHBPP_ECLOSED);
    assert_int_equal(sshbpp_kex_auth_done(g.s.k), SSHBPP_ECLOSED);
    assert_sticky(g.s.k, SSHBPP_ECLOSED);
    rig_free(&g);
}

/* ---- a transport that fails on request ------------------------------------------------ */

/* The n-th call (1-based) of each kind made by the end with role tf.role
 * fails with SSHBPP_EIO; 0 never. */
static struct {
    int role;
    int send_at, keys_at, comp_at;
    int sends, keys, comps;
} tf;

static int
f_send(void *ctx, const uint8_t *p, size_t n)
{
    ke_end *x = ctx;
    if (x->role == tf.role && ++tf.sends == tf.send_at)
        return SSHBPP_EIO;
    return sshbpp_engine_send(x->e, p, n);
}
static int
f_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    ke_end *x = ctx;
    if (x->role == tf.role && ++tf.keys == tf.keys_at)
        return SSHBPP_EIO;
    return sshbpp_engine_set_keys(x->e, dir, k);
}
static int
f_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    ke_end *x = ctx;
    if (x->role == tf.role && ++tf.comps == tf.comp_at)
        return SSHBPP_EIO;
    return sshbpp_engine_set_compression(x->e, dir, name);
}
static void
f_reset(void *ctx, enum sshbpp_dir dir)
{
    ke_end *x = ctx;
    sshbpp_engine_reset_seqno(x->e, dir);
}

static const sshbpp_kex_transport fail_transport = {f_send, f_keys, f_comp, f_reset};

/* A moduli file with one 2048-bit group, so that group-exchange runs stay
 * cheap (without it the server answers the client's 8192 with 8192). */
static char moduli_path[64];

static void
make_moduli(void)
{
    FILE *in = fopen("/etc/ssh/moduli", "r"), *out;
    char line[4096];
    int fd, found = 0;

    if (moduli_path[0] != '\0')
        return;
    if (in == NULL)
        fail_msg("/etc/ssh/moduli missing (openssh-server is a test dependency)");
    snprintf(moduli_path, sizeof(moduli_path), "/tmp/sshbpp-covkex-moduli.XXXXXX");
    assert_true((fd = mkstemp(moduli_path)) >= 0);
    assert_non_null(out = fdopen(fd, "w"));
    while (!found && fgets(line, sizeof(line), in) != NULL)
        if (line[0] != '#' && strstr(line, " 2 6 100 2047 ") != NULL) {
            fputs(line, out);
            found = 1;
        }
    fclose(in);
    fclose(out);
    assert_true(found);
}

/* Both ends on fail_transport; the server has the 2048-bit moduli. */
static void
rig_start_f(rig *g, const sshbpp_kex_config *cfg)
{
    memset(g, 0, sizeof(*g));
    memset(&mu, 0, sizeof(mu));
    g->c.role = SSHBPP_ROLE_CLIENT;
    g->s.role = SSHBPP_ROLE_SERVER;
    g->c.rewrite = g->s.rewrite = hook;
    g->c.e = tu_engine_new();
    g->s.e = tu_engine_new();
    g->c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, cfg, &fail_transport, &g->c);
    g->s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, cfg, &fail_transport, &g->s);
    assert_non_null(g->c.k);
    assert_non_null(g->s.k);
    assert_int_equal(sshbpp_kex_generate_hostkey(g->s.k, "ssh-ed25519"), 0);
    make_moduli();
    assert_int_equal(sshbpp_kex_set_moduli(g->s.k, moduli_path), 0);
    assert_int_equal(sshbpp_kex_set_versions(g->c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_set_versions(g->s.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
}

/* Runs an exchange whose `role` end sees its n-th send / set_keys /
 * set_compression fail; that end must fail with the transport's error
 * and keep it. Returns 1 if the failure was hit. */
static int
run_tf(const sshbpp_kex_config *cfg, int role, int send_at, int keys_at, int comp_at)
{
    rig g;
    int r, hit;

    memset(&tf, 0, sizeof(tf));
    tf.role = role;
    tf.send_at = send_at;
    tf.keys_at = keys_at;
    tf.comp_at = comp_at;
    rig_start_f(&g, cfg);
    r = sshbpp_kex_start(g.c.k);
    if (r == 0)
        r = rig_run(&g);
    else
        g.failed_role = SSHBPP_ROLE_CLIENT;
    hit = (send_at != 0 && tf.sends >= send_at) || (keys_at != 0 && tf.keys >= keys_at) ||
          (comp_at != 0 && tf.comps >= comp_at);
    if (hit) {
        assert_int_equal(r, SSHBPP_EIO);
        assert_int_equal(g.failed_role, role);
        assert_sticky(role == SSHBPP_ROLE_CLIENT ? g.c.k : g.s.k, SSHBPP_EIO);
    } else {
        assert_int_equal(r, 0);
        assert_int_equal(sshbpp_kex_completed(g.c.k), 1);
    }
    rig_free(&g);
    return hit;
}

/* Every send of both roles in turn (KEXINIT, the method's messages,
 * NEWKEYS, EXT_INFO), for an ECDH method and for the group exchange;
 * then every set_keys and set_compression. */
static void
test_transport_failures(void **state)
{
    static const sshbpp_kex_config zcfg = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
                                           "hmac-sha2-256", "zlib"};
    static const sshbpp_kex_config zgex = {"diffie-hellman-group-exchange-sha256", "ssh-ed25519",
                                           "aes128-ctr", "hmac-sha2-256", "zlib"};
    const sshbpp_kex_config *cfgs[2] = {&zcfg, &zgex};
    int c, role, n, hits;

    (void)state;
    for (c = 0; c < 2; c++) {
        for (role = 0; role < 2; role++) {
            for (n = 1, hits = 0; run_tf(cfgs[c], role, n, 0, 0); n++)
                hits++;
            /* client: KEXINIT, (REQUEST,) INIT, NEWKEYS; server: KEXINIT,
             * (GROUP,) REPLY, NEWKEYS, EXT_INFO */
            assert_int_equal(hits, (role == SSHBPP_ROLE_CLIENT ? 3 : 4) + c);
            if (c == 1)
                continue; /* keys and compression do not depend on the method */
            for (n = 1, hits = 0; run_tf(cfgs[c], role, 0, n, 0); n++)
                hits++;
            assert_int_equal(hits, 2);
            /* "none" then "zlib" per direction */
            for (n = 1, hits = 0; run_tf(cfgs[c], role, 0, 0, n); n++)
                hits++;
            assert_int_equal(hits, 4);
        }
    }
}

/* The host key pause: resuming when our NEWKEYS cannot be sent. */
static void
mut_resume_fail(ke_end *to, sshbpp_packet *p)
{
    (void)p;
    tf.role = SSHBPP_ROLE_CLIENT;
    tf.sends = 0;
    tf.send_at = 1;
    assert_int_equal(sshbpp__kex_hostkey_resume(to->k), SSHBPP_EIO);
}

static void
test_hostkey_resume_fails(void **state)
{
    rig g;

    (void)state;
    memset(&tf, 0, sizeof(tf));
    tf.role = -1;
    rig_start_f(&g, &cfg_x25519);
    mu.at = SSHBPP_ROLE_CLIENT;
    mu.type = 21;
    mu.fn = mut_resume_fail;
    sshbpp__kex_pause_hostkey(g.c.k, 1);
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), SSHBPP_EIO);
    assert_int_equal(mu.done, 1);
    assert_int_equal(g.failed_role, SSHBPP_ROLE_CLIENT);
    rig_free(&g);
}

/* Group exchange with the 2048-bit moduli: a client value out of range is
 * refused by the server, and a group message after the reply is out of
 * order. */
static void
mut_gex_init_one(ke_end *to, sshbpp_packet *p)
{
    static const uint8_t one[] = {32, 0, 0, 0, 1, 1};

    (void)to;
    memcpy(mbuf, one, sizeof(one));
    p->payload = mbuf;
    p->len = sizeof(one);
}

static void
mut_newkeys_to_group(ke_end *to, sshbpp_packet *p)
{
    static const uint8_t grp31[] = {31, 0, 0, 0, 1, 5, 0, 0, 0, 1, 2};

    (void)to;
    memcpy(mbuf, grp31, sizeof(grp31));
    p->payload = mbuf;
    p->len = sizeof(grp31);
    p->type = 31;
}

static void
test_gex_2048(void **state)
{
    rig g;

    (void)state;
    memset(&tf, 0, sizeof(tf));
    tf.role = -1;
    /* baseline: completes on the file's group */
    rig_start_f(&g, &cfg_gex);
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 1);
    rig_free(&g);

    rig_start_f(&g, &cfg_gex);
    mu.at = SSHBPP_ROLE_SERVER;
    mu.type = 32;
    mu.fn = mut_gex_init_one;
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), SSHBPP_EKEXVALUE);
    assert_int_equal(g.failed_role, SSHBPP_ROLE_SERVER);
    assert_sticky(g.s.k, SSHBPP_EKEXVALUE);
    rig_free(&g);

    rig_start_f(&g, &cfg_gex);
    mu.at = SSHBPP_ROLE_CLIENT;
    mu.type = 21;
    mu.fn = mut_newkeys_to_group;
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), SSHBPP_EKEXORDER);
    assert_int_equal(g.failed_role, SSHBPP_ROLE_CLIENT);
    rig_free(&g);
}

/* ECDH values a peer may send that cannot be used: the all-zero X25519
 * point (RFC 7748 section 6.1), from the client and from the server; a
 * truncated init and reply. */
static void
mut_init_zero(ke_end *to, sshbpp_packet *p)
{
    sshbpp__wbuf w;
    static const uint8_t zero[32];

    (void)to;
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 30);
    sshbpp__wb_string(&w, zero, sizeof(zero));
    set_pkt(p, &w);
    sshbpp__wb_free(&w);
}

static void
mut_reply_zero(ke_end *to, sshbpp_packet *p)
{
    sshbpp__rbuf rb;
    sshbpp__wbuf w;
    const uint8_t *ks, *qs, *sig;
    size_t ksl, qsl, sigl;
    uint8_t t;
    static const uint8_t zero[32];

    (void)to;
    sshbpp__rb_init(&rb, p->payload, p->len);
    assert_int_equal(sshbpp__rb_u8(&rb, &t), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &ks, &ksl), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &qs, &qsl), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &sig, &sigl), 0);
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 31);
    sshbpp__wb_string(&w, ks, ksl);
    sshbpp__wb_string(&w, zero, sizeof(zero));
    sshbpp__wb_string(&w, sig, sigl);
    set_pkt(p, &w);
    sshbpp__wb_free(&w);
}

static void
mut_truncate(ke_end *to, sshbpp_packet *p)
{
    (void)to;
    memcpy(mbuf, p->payload, 5);
    mbuf[4] = 0x40; /* a string length past the end */
    p->payload = mbuf;
    p->len = 5;
}

static void
test_bad_public_values(void **state)
{
    (void)state;
    expect(&cfg_x25519, SSHBPP_ROLE_SERVER, 30, mut_init_zero, SSHBPP_EKEXVALUE);
    expect(&cfg_x25519, SSHBPP_ROLE_CLIENT, 31, mut_reply_zero, SSHBPP_EKEXVALUE);
    expect(&cfg_x25519, SSHBPP_ROLE_SERVER, 30, mut_truncate, SSHBPP_EKEXMSG);
    expect(&cfg_x25519, SSHBPP_ROLE_CLIENT, 31, mut_truncate, SSHBPP_EKEXMSG);
    expect(&cfg_gex, SSHBPP_ROLE_SERVER, 34, mut_truncate, SSHBPP_EKEXMSG);
}

/* Our own configuration over the name-list bounds (129 names, each one
 * valid) is refused when negotiation splits it, in every slot; a peer
 * name of 64 characters (the most a list may carry) is skipped. */
static void
test_own_lists_over_bounds(void **state)
{
    static const char *const names[] = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
                                        "hmac-sha2-256", "none"};
    char *big;
    size_t i, j, len;
    int slot;

    (void)state;
    for (slot = 0; slot < 5; slot++) {
        sshbpp_kex_config cfg = cfg_x25519;
        const char **field = slot == 0   ? &cfg.kex
                             : slot == 1 ? &cfg.hostkey
                             : slot == 2 ? &cfg.ciphers
                             : slot == 3 ? &cfg.macs
                                         : &cfg.compression;
        int role;

        len = 129 * (strlen(names[slot]) + 1);
        big = malloc(len);
        assert_non_null(big);
        for (i = 0, j = 0; i < 129; i++) {
            memcpy(big + j, names[slot], strlen(names[slot]));
            j += strlen(names[slot]);
            big[j++] = i < 128 ? ',' : '\0';
        }
        *field = big;
        /* The server's KEXINIT goes out first and reaches the client's
         * negotiation, or the client's reaches the server's: either end's
         * own list is refused there. */
        for (role = 0; role < 2; role++) {
            ke_end c = {0}, s = {0};
            sshbpp_kex_config ccfg = role == SSHBPP_ROLE_CLIENT ? cfg : cfg_x25519;
            sshbpp_kex_config scfg = role == SSHBPP_ROLE_SERVER ? cfg : cfg_x25519;

            c.role = SSHBPP_ROLE_CLIENT;
            s.role = SSHBPP_ROLE_SERVER;
            c.e = tu_engine_new();
            s.e = tu_engine_new();
            c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &ccfg, &ke_transport, &c);
            s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &scfg, &ke_transport, &s);
            assert_int_equal(sshbpp_kex_generate_hostkey(s.k, "ssh-ed25519"), 0);
            assert_int_equal(sshbpp_kex_set_versions(c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
            assert_int_equal(sshbpp_kex_set_versions(s.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
            if (role == SSHBPP_ROLE_CLIENT) {
                assert_int_equal(sshbpp_kex_start(s.k), 0);
                assert_int_equal(sshbpp_kex_start(c.k), 0);
                assert_int_equal(ke_pump(&s, &c), SSHBPP_ENAMELIST);
                assert_sticky(c.k, SSHBPP_ENAMELIST);
            } else {
                assert_int_equal(sshbpp_kex_start(c.k), 0);
                assert_int_equal(ke_pump(&c, &s), SSHBPP_ENAMELIST);
                assert_sticky(s.k, SSHBPP_ENAMELIST);
            }
            sshbpp_kex_free(c.k);
            sshbpp_kex_free(s.k);
            sshbpp_engine_free(c.e);
            sshbpp_engine_free(s.e);
        }
        free(big);
    }

    /* A 64-character name first in the client's kex list: the server
     * skips it and picks the next (the rewritten KEXINIT then fails the
     * client's signature check, not the server's negotiation). */
    {
        static char l[200];
        rig g;

        memset(l, 'k', 64);
        snprintf(l + 64, sizeof(l) - 64, ",curve25519-sha256,kex-strict-c-v00@openssh.com");
        kx_reset();
        kx.list = SSHBPP_KEXINIT_KEX;
        kx.with = l;
        kx.with_len = strlen(l);
        rig_start(&g, &cfg_x25519, SSHBPP_ROLE_SERVER, 20, mut_kexinit);
        assert_int_equal(rig_run(&g), SSHBPP_ESIGNATURE);
        assert_int_equal(g.failed_role, SSHBPP_ROLE_CLIENT);
        assert_true(sshbpp_kex_running(g.s.k));
        rig_free(&g);
    }
}

/* auth_done in the middle of a rekey: each direction switches to
 * zlib@openssh.com with the keys of the exchange it runs under at that
 * moment (the new ones once our NEWKEYS went out), and data still flows
 * both ways, compressed. */
static int rekey_phase;

static void
hook_auth_mid_rekey(ke_end *to, sshbpp_packet *p)
{
    if (rekey_phase && p->type == 21)
        assert_int_equal(sshbpp_kex_auth_done(to->k), 0);
}

static void
test_auth_done_mid_rekey(void **state)
{
    static const sshbpp_kex_config cfg = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
                                          "hmac-sha2-256", "zlib@openssh.com"};
    uint8_t data[400];
    rig g;
    size_t n;

    (void)state;
    memset(data, 'r', sizeof(data));
    data[0] = 94;
    rekey_phase = 0;
    rig_start(&g, &cfg, -1, 0, NULL);
    g.c.rewrite = g.s.rewrite = hook_auth_mid_rekey;
    assert_int_equal(rig_run(&g), 0);
    rekey_phase = 1;
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 2);
    assert_int_equal(sshbpp_kex_completed(g.s.k), 2);
    rekey_phase = 0;
    assert_int_equal(sshbpp_engine_send(g.c.e, data, sizeof(data)), 0);
    (void)sshbpp_engine_tx_data(g.c.e, &n);
    assert_true(n < 100);
    assert_int_equal(sshbpp_engine_send(g.s.e, data, sizeof(data)), 0);
    (void)sshbpp_engine_tx_data(g.s.e, &n);
    assert_true(n < 100);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(g.s.app, 1);
    assert_int_equal(g.c.app, 1);
    rig_free(&g);
}

/* KEX messages repeated after the keys were computed, and truncated at
 * each field. */
static size_t cut_len;

static void
mut_cut_at(ke_end *to, sshbpp_packet *p)
{
    (void)to;
    assert_true(cut_len < p->len);
    memcpy(mbuf, p->payload, cut_len);
    p->payload = mbuf;
    p->len = cut_len;
}

static void
expect_cut(const sshbpp_kex_config *cfg, int at, uint8_t type, size_t len, int want)
{
    cut_len = len;
    expect(cfg, at, type, mut_cut_at, want);
}

static void
test_repeats_and_cuts(void **state)
{
    (void)state;
    /* A second reply where the server's NEWKEYS should be; a second init
     * where the client's NEWKEYS should be. */
    expect_replace(SSHBPP_ROLE_CLIENT, 21, 31, SSHBPP_EKEXORDER);
    expect_replace(SSHBPP_ROLE_SERVER, 21, 30, SSHBPP_EKEXORDER);
    /* The reply cut inside Q_S and inside the signature (the host key
     * blob of ed25519 is 4 + 51 bytes after the type byte). */
    expect_cut(&cfg_x25519, SSHBPP_ROLE_CLIENT, 31, 1 + 55 + 10, SSHBPP_EKEXMSG);
    expect_cut(&cfg_x25519, SSHBPP_ROLE_CLIENT, 31, 1 + 55 + 36 + 10, SSHBPP_EKEXMSG);
    /* The group request cut after min, after n. */
    expect_cut(&cfg_gex, SSHBPP_ROLE_SERVER, 34, 1, SSHBPP_EKEXMSG);
    expect_cut(&cfg_gex, SSHBPP_ROLE_SERVER, 34, 9, SSHBPP_EKEXMSG);
    /* EXT_INFO cut inside its first name. */
    expect_cut(&cfg_x25519, SSHBPP_ROLE_CLIENT, 7, 8, SSHBPP_EKEXMSG);
}

/* Group-exchange details on the 2048-bit file group: a GROUP where the
 * REPLY should be (the group is already set); an AEAD cipher, for which
 * no MAC key enters the size estimate. */
static void
test_gex_more(void **state)
{
    static const sshbpp_kex_config aead = {"diffie-hellman-group-exchange-sha256", "ssh-ed25519",
                                           "aes256-gcm@openssh.com", "hmac-sha2-256", "none"};
    sshbpp_kex_info info;
    rig g;

    (void)state;
    memset(&tf, 0, sizeof(tf));
    tf.role = -1;
    rig_start_f(&g, &cfg_gex);
    mu.at = SSHBPP_ROLE_CLIENT;
    mu.type = 33;
    mu.fn = mut_newkeys_to_group;
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), SSHBPP_EKEXORDER);
    assert_int_equal(mu.done, 1);
    assert_int_equal(g.failed_role, SSHBPP_ROLE_CLIENT);
    rig_free(&g);

    rig_start_f(&g, &aead);
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_get_info(g.c.k, &info), 0);
    assert_string_equal(info.cipher_c2s, "aes256-gcm@openssh.com");
    assert_string_equal(info.mac_c2s, "");
    rig_free(&g);
}

/* Small internal entry points the conn uses. */
static void
test_internal_entry_points(void **state)
{
    rig g;

    (void)state;
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(sshbpp__kex_set_server_sig_algs(g.s.k, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__kex_set_server_sig_algs(g.s.k, ""), SSHBPP_EINVAL);
    /* A non-negative code is recorded as a protocol error; the first
     * error stays. */
    assert_int_equal(sshbpp__kex_fail(g.s.k, 3), SSHBPP_EPROTO);
    assert_int_equal(sshbpp__kex_fail(g.s.k, SSHBPP_EMAC), SSHBPP_EPROTO);
    assert_int_equal(sshbpp_kex_start(g.s.k), SSHBPP_EPROTO);
    sshbpp__kex_test_no_strict(NULL);
    rig_free(&g);

    /* After the exchange the refusal check is off: an UNIMPLEMENTED
     * naming number 0 passes. */
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(sshbpp_kex_set_seqno_fn(g.c.k, seqno_zero), 0);
    assert_int_equal(rig_run(&g), 0);
    {
        static const uint8_t u0[] = {3, 0, 0, 0, 0};
        sshbpp_packet p = {u0, sizeof(u0), 3, 4};
        assert_int_equal(sshbpp_kex_input(g.c.k, &p), SSHBPP_KEX_PASS);
    }
    {
        size_t len = 0;
        assert_non_null(sshbpp__kex_hostkey_blob(g.c.k, &len, NULL, NULL));
        assert_true(len > 0);
    }
    rig_free(&g);
}

/* The key log: one event per end and exchange, both with the same K. */
static struct {
    unsigned n[2];
    uint8_t K[2][80];
    size_t Klen[2];
    size_t privlen[2];
    unsigned exchange[2];
} kl;

static void
keylog_cb(void *ctx, const sshbpp_keylog_event *ev)
{
    int r = ev->role == SSHBPP_ROLE_SERVER;

    assert_ptr_equal(ctx, &kl);
    assert_string_equal(ev->kex, "curve25519-sha256");
    assert_non_null(ev->cookie);
    assert_int_equal(ev->shared_secret_form, SSHBPP_KEYLOG_K_MPINT);
    assert_true(ev->shared_secret_len > 0 && ev->shared_secret_len <= sizeof(kl.K[r]));
    memcpy(kl.K[r], ev->shared_secret, ev->shared_secret_len);
    kl.Klen[r] = ev->shared_secret_len;
    kl.privlen[r] = ev->priv_len;
    kl.exchange[r] = ev->exchange;
    kl.n[r]++;
}

static void
test_keylog_events(void **state)
{
    rig g;
    int i;

    (void)state;
    memset(&kl, 0, sizeof(kl));
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(sshbpp_kex_set_keylog(g.c.k, keylog_cb, &kl), 0);
    assert_int_equal(sshbpp_kex_set_keylog(g.s.k, keylog_cb, &kl), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_start(g.s.k), 0); /* a rekey from the server */
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 2);
    for (i = 0; i < 2; i++) {
        assert_int_equal(kl.n[i], 2);
        assert_int_equal(kl.exchange[i], 1);
        assert_int_equal(kl.privlen[i], 32); /* the X25519 scalar */
    }
    assert_int_equal(kl.Klen[0], kl.Klen[1]);
    assert_memory_equal(kl.K[0], kl.K[1], kl.Klen[0]);
    rig_free(&g);
}

/* Once our NEWKEYS of a rekey is out, an UNIMPLEMENTED naming the
 * number our KEXINIT had is no refusal (with strict KEX the numbers have
 * restarted and may name a later packet). */
static int unimpl_seen;

static void
hook_unimpl_after_newkeys(ke_end *to, sshbpp_packet *p)
{
    static const uint8_t u0[] = {3, 0, 0, 0, 0};
    sshbpp_packet u = {u0, sizeof(u0), 3, 0};

    if (to->role == SSHBPP_ROLE_CLIENT && p->type == 21 && sshbpp_kex_completed(to->k) == 1) {
        assert_int_equal(sshbpp_kex_input(to->k, &u), SSHBPP_KEX_PASS);
        unimpl_seen++;
    }
}

static void
test_unimplemented_after_newkeys(void **state)
{
    rig g;

    (void)state;
    unimpl_seen = 0;
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(sshbpp_kex_set_seqno_fn(g.c.k, seqno_zero), 0);
    assert_int_equal(rig_run(&g), 0);
    g.c.rewrite = hook_unimpl_after_newkeys;
    assert_int_equal(sshbpp_kex_start(g.c.k), 0);
    assert_int_equal(rig_run(&g), 0);
    assert_int_equal(unimpl_seen, 1);
    assert_int_equal(sshbpp_kex_completed(g.c.k), 2);
    sshbpp__kex_test_swap_hostkeys(NULL);
    rig_free(&g);
}

/* After a completed exchange: the getters' success paths. */
static void
test_getters_after_exchange(void **state)
{
    sshbpp_kex_info info;
    const uint8_t *hk, *sid;
    size_t len = 0, slen = 0;
    rig g;

    (void)state;
    rig_start(&g, &cfg_x25519, -1, 0, NULL);
    assert_int_equal(rig_run(&g), 0);
    hk = sshbpp_kex_peer_hostkey(g.c.k, &len);
    assert_non_null(hk);
    assert_true(len > 19);
    assert_memory_equal(hk + 4, "ssh-ed25519", 11);
    assert_null(sshbpp_kex_peer_hostkey(g.s.k, &len)); /* a server has no peer host key */
    assert_null(sshbpp_kex_peer_hostkey(g.c.k, NULL));
    sid = sshbpp_kex_session_id(g.c.k, &slen);
    assert_non_null(sid);
    assert_int_equal(slen, 32);
    assert_memory_equal(sshbpp_kex_session_id(g.s.k, NULL), sid, 32);
    assert_int_equal(sshbpp_kex_get_info(g.s.k, &info), 0);
    assert_string_equal(info.kex, "curve25519-sha256");
    assert_string_equal(info.comp_c2s, "none");
    assert_int_equal(info.rekeys, 0);
    assert_int_equal(info.strict_kex, 1);
    assert_string_equal(sshbpp_kex_peer_list(g.s.k, SSHBPP_KEXINIT_CIPHER_C2S), "aes128-ctr");
    /* auth_done with nothing delayed: a no-op that succeeds */
    assert_int_equal(sshbpp_kex_auth_done(g.c.k), 0);
    assert_non_null(sshbpp_kex_supported(SSHBPP_KEXINIT_KEX));
    rig_free(&g);
}

/* ---- API contract ----------------------------------------------------------------- */

static int
t_send(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}
static int
t_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    (void)ctx;
    (void)dir;
    (void)k;
    return 0;
}
static int
t_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    (void)ctx;
    (void)dir;
    (void)name;
    return 0;
}
static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    (void)ctx;
    (void)dir;
}

static void
test_kex_api(void **state)
{
    sshbpp_kex_transport t = {t_send, t_keys, t_comp, t_reset}, bad;
    sshbpp_kex *k, *s;
    sshbpp_kex_info info;
    sshbpp_packet pkt = {NULL, 0, 2, 0};
    size_t len = 5;
    char dir[] = "/tmp/sshbpp-covkex.XXXXXX";
    int i;

    (void)state;
    assert_null(sshbpp_kex_new(SSHBPP_ROLE_CLIENT, NULL, &t, NULL));
    assert_null(sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, NULL, NULL));
    for (i = 0; i < 4; i++) {
        bad = t;
        if (i == 0)
            bad.send = NULL;
        else if (i == 1)
            bad.set_keys = NULL;
        else if (i == 2)
            bad.set_compression = NULL;
        else
            bad.reset_seqno = NULL;
        assert_null(sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &bad, NULL));
    }
    assert_null(sshbpp_kex_new(2, &cfg_x25519, &t, NULL));
    sshbpp_kex_free(NULL);
    assert_null(sshbpp_kex_default(SSHBPP_KEXINIT_LANG_C2S));
    assert_null(sshbpp_kex_supported(SSHBPP_KEXINIT_CIPHER_C2S));
    assert_non_null(sshbpp_kex_supported(SSHBPP_KEXINIT_HOSTKEY));

    assert_int_equal(sshbpp_kex_add_hostkey_file(NULL, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_generate_hostkey(NULL, "ssh-ed25519"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_moduli(NULL, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_versions(NULL, "a", "b"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_seqno_fn(NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_keylog(NULL, NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_start(NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_input(NULL, &pkt), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_running(NULL), 0);
    assert_int_equal(sshbpp_kex_completed(NULL), 0);
    assert_int_equal(sshbpp_kex_get_info(NULL, &info), SSHBPP_EINVAL);
    assert_null(sshbpp_kex_peer_list(NULL, 0));
    assert_null(sshbpp_kex_session_id(NULL, &len));
    assert_int_equal(len, 0);
    assert_null(sshbpp_kex_server_sig_algs(NULL));
    assert_null(sshbpp_kex_peer_hostkey(NULL, &len));
    assert_int_equal(sshbpp_kex_auth_done(NULL), SSHBPP_EINVAL);

    k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &t, NULL);
    assert_non_null(k);
    /* A client has no host keys and no moduli. */
    assert_int_equal(sshbpp_kex_generate_hostkey(k, "ssh-ed25519"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_add_hostkey_file(k, "/nonexistent"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_moduli(k, "/etc/ssh/moduli"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_versions(k, NULL, "b"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_versions(k, "a", NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_versions(k, "a", "b"), 0);
    assert_int_equal(sshbpp_kex_set_versions(k, "SSH-2.0-c", "SSH-2.0-s"), 0); /* replaces */
    /* Before any exchange. */
    assert_int_equal(sshbpp_kex_get_info(k, &info), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_get_info(k, NULL), SSHBPP_EINVAL);
    assert_null(sshbpp_kex_peer_list(k, -1));
    assert_null(sshbpp_kex_peer_list(k, SSHBPP_KEXINIT_NLISTS));
    assert_null(sshbpp_kex_peer_list(k, SSHBPP_KEXINIT_KEX));
    assert_null(sshbpp_kex_session_id(k, NULL));
    assert_null(sshbpp_kex_peer_hostkey(k, &len));
    /* Empty or payload-less packets are refused without failing k. */
    assert_int_equal(sshbpp_kex_input(k, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_input(k, &pkt), SSHBPP_EINVAL);
    pkt.payload = (const uint8_t *)"\2";
    assert_int_equal(sshbpp_kex_input(k, &pkt), SSHBPP_EINVAL);
    assert_false(sshbpp_kex_running(k));
    assert_int_equal(sshbpp_kex_start(k), 0);
    assert_true(sshbpp_kex_running(k));
    assert_int_equal(sshbpp_kex_start(k), 0); /* running: a no-op */
    assert_int_equal(sshbpp_kex_set_keylog(k, NULL, &len), 0);
    sshbpp_kex_free(k);

    /* Server side: host key sources and moduli. */
    s = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg_gex, &t, NULL);
    assert_non_null(s);
    assert_int_equal(sshbpp_kex_add_hostkey_file(s, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_generate_hostkey(s, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_generate_hostkey(s, "ssh-dss"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_moduli(s, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_set_moduli(s, "/nonexistent/moduli"), SSHBPP_EIO);
    /* A directory opens but cannot be read. */
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sshbpp_kex_set_moduli(s, dir), SSHBPP_EIO);
    rmdir(dir);
    /* Without a host key a server cannot start. */
    assert_int_equal(sshbpp_kex_start(s), SSHBPP_EHOSTKEY);
    assert_int_equal(sshbpp_kex_start(s), SSHBPP_EHOSTKEY);
    sshbpp_kex_free(s);

    /* At most 16 host keys. */
    s = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg_x25519, &t, NULL);
    for (i = 0; i < 16; i++)
        assert_int_equal(sshbpp_kex_generate_hostkey(s, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp_kex_generate_hostkey(s, "ssh-ed25519"), SSHBPP_EINVAL);
    sshbpp_kex_free(s);
}

/* A public key (an OpenSSH public line) where a host (private) key is
 * needed. */
static void
test_hostkey_file_public(void **state)
{
    char path[] = "/tmp/sshbpp-covkex-pub.XXXXXX";
    sshbpp_kex_transport t = {t_send, t_keys, t_comp, t_reset};
    sshbpp__hostkey hk;
    sshbpp__wbuf blob;
    char b64[200];
    sshbpp_kex *s;
    FILE *f;
    int fd;

    (void)state;
    assert_int_equal(sshbpp__hostkey_generate(&hk, "ssh-ed25519"), 0);
    sshbpp__wb_init(&blob);
    assert_int_equal(sshbpp__hostkey_put_blob(&hk, &blob), 0);
    assert_true(EVP_EncodeBlock((unsigned char *)b64, blob.p, (int)blob.len) > 0);
    assert_true((fd = mkstemp(path)) >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    fprintf(f, "ssh-ed25519 %s test\n", b64);
    fclose(f);
    s = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg_x25519, &t, NULL);
    assert_int_equal(sshbpp_kex_add_hostkey_file(s, path), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp_kex_start(s), SSHBPP_EHOSTKEY); /* nothing was added */
    sshbpp_kex_free(s);
    unlink(path);
    sshbpp__wb_free(&blob);
    sshbpp__hostkey_free(&hk);
}

/* Versions never set: the exchange hash cannot be computed. */
static void
test_no_versions(void **state)
{
    ke_end c = {0}, s = {0};
    int r, i;

    (void)state;
    c.e = tu_engine_new();
    s.e = tu_engine_new();
    c.role = SSHBPP_ROLE_CLIENT;
    s.role = SSHBPP_ROLE_SERVER;
    c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &ke_transport, &c);
    s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg_x25519, &ke_transport, &s);
    assert_int_equal(sshbpp_kex_generate_hostkey(s.k, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp_kex_set_versions(c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    for (i = 0, r = 0; i < 5 && r >= 0; i++) {
        if ((r = ke_pump(&c, &s)) < 0)
            break;
        r = ke_pump(&s, &c);
        assert_true(r >= 0);
    }
    assert_int_equal(r, SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_start(s.k), SSHBPP_EINVAL);
    sshbpp_kex_free(c.k);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(c.e);
    sshbpp_engine_free(s.e);

    /* The same on the client (the server has its versions): the client
     * fails at the reply, the server is left waiting. */
    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.e = tu_engine_new();
    s.e = tu_engine_new();
    c.role = SSHBPP_ROLE_CLIENT;
    s.role = SSHBPP_ROLE_SERVER;
    c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg_x25519, &ke_transport, &c);
    s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg_x25519, &ke_transport, &s);
    assert_int_equal(sshbpp_kex_generate_hostkey(s.k, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp_kex_set_versions(s.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    for (i = 0, r = 0; i < 5; i++) {
        assert_true(ke_pump(&c, &s) >= 0);
        if ((r = ke_pump(&s, &c)) < 0)
            break;
    }
    assert_int_equal(r, SSHBPP_EINVAL);
    assert_int_equal(sshbpp_kex_completed(s.k), 0);
    sshbpp_kex_free(c.k);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(c.e);
    sshbpp_engine_free(s.e);
}

/* Configurations that do not resolve, or name what we do not have. */
static void
test_bad_config(void **state)
{
    sshbpp_kex_transport t = {t_send, t_keys, t_comp, t_reset};
    static const char *const bad[][5] = {
        {"+nosuch-kex", NULL, NULL, NULL, NULL},
        {NULL, "ssh-ed25519,", NULL, NULL, NULL},
        {NULL, NULL, ",aes128-ctr", NULL, NULL},
        {NULL, NULL, NULL, "", NULL},
        {NULL, NULL, NULL, NULL, "lz4"},
        {NULL, NULL, NULL, NULL, "-none,zlib*"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sshbpp_kex_config cfg = {bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4]};
        sshbpp_kex *k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg, &t, NULL);
        assert_non_null(k);
        assert_int_equal(sshbpp_kex_start(k), SSHBPP_EUNSUPPORTED);
        assert_false(sshbpp_kex_running(k));
        sshbpp_kex_free(k);
    }
}

/* ---- gex.c directly --------------------------------------------------------------- */

static void
test_gex_direct(void **state)
{
    BIGNUM *p = NULL, *g = NULL, *big = BN_new(), *two = BN_new();
    sshbpp__moduli *m = NULL;

    (void)state;
    assert_int_equal(sshbpp__moduli_load(NULL, &m), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__moduli_load("/etc/ssh/moduli", NULL), SSHBPP_EINVAL);
    /* n below our floor is raised to it: the 2048-bit group. */
    assert_int_equal(sshbpp__gex_choose(NULL, 1024, 1024, 8192, &p, &g), 0);
    assert_int_equal(BN_num_bits(p), 2048);
    assert_true(BN_is_word(g, 2));
    /* n above our ceiling is lowered to it. */
    BN_free(p);
    BN_free(g);
    assert_int_equal(sshbpp__gex_choose(NULL, 2048, 100000, 100000, &p, &g), 0);
    assert_int_equal(BN_num_bits(p), 8192);
    /* Between sizes: the next larger one. */
    BN_free(p);
    BN_free(g);
    assert_int_equal(sshbpp__gex_choose(NULL, 2048, 5000, 8192, &p, &g), 0);
    assert_int_equal(BN_num_bits(p), 6144);
    /* No size at or above n in range: the largest in range. */
    BN_free(p);
    BN_free(g);
    assert_int_equal(sshbpp__gex_choose(NULL, 2048, 4000, 4000, &p, &g), 0);
    assert_int_equal(BN_num_bits(p), 3072);
    /* check_group: the bounds the wire cannot express. */
    assert_int_equal(sshbpp__gex_check_group(NULL, g, 2048, 8192), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gex_check_group(p, NULL, 2048, 8192), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gex_check_group(p, g, 2048, 8192), 0);
    assert_int_equal(sshbpp__gex_check_group(p, g, 4096, 8192), SSHBPP_EGEXGROUP); /* < min */
    assert_int_equal(sshbpp__gex_check_group(p, g, 2048, 3000), SSHBPP_EGEXGROUP); /* > max */
    assert_true(BN_set_word(two, 2));
    assert_true(BN_lshift(big, two, 8192)); /* 8194 bits */
    assert_true(BN_add_word(big, 1));
    assert_int_equal(sshbpp__gex_check_group(big, g, 2048, 10000), SSHBPP_EGEXGROUP);
    BN_set_negative(p, 1);
    assert_int_equal(sshbpp__gex_check_group(p, g, 2048, 8192), SSHBPP_EGEXGROUP);
    BN_set_negative(p, 0);
    BN_set_negative(g, 1);
    assert_int_equal(sshbpp__gex_check_group(p, g, 2048, 8192), SSHBPP_EGEXGROUP);
    BN_free(p);
    BN_free(g);
    BN_free(big);
    BN_free(two);

    /* A moduli file with two 2048-bit groups: either may be picked, both
     * over many draws; the generator is the file's. */
    {
        char path[] = "/tmp/sshbpp-covkex-m2.XXXXXX";
        FILE *in = fopen("/etc/ssh/moduli", "r"), *out;
        char line[4096];
        BIGNUM *seen[2] = {NULL, NULL};
        int fd, lines = 0, i, hit[2] = {0, 0};

        assert_non_null(in);
        assert_true((fd = mkstemp(path)) >= 0);
        assert_non_null(out = fdopen(fd, "w"));
        while (lines < 2 && fgets(line, sizeof(line), in) != NULL)
            if (line[0] != '#' && strstr(line, " 2 6 100 2047 ") != NULL) {
                fputs(line, out);
                lines++;
            }
        fclose(in);
        fclose(out);
        assert_int_equal(lines, 2);
        assert_int_equal(sshbpp__moduli_load(path, &m), 0);
        unlink(path);
        for (i = 0; i < 64 && !(hit[0] && hit[1]); i++) {
            assert_int_equal(sshbpp__gex_choose(m, 2048, 8192, 8192, &p, &g), 0);
            assert_int_equal(BN_num_bits(p), 2048);
            assert_int_equal(sshbpp__gex_check_group(p, g, 2048, 8192), 0);
            if (seen[0] == NULL || BN_cmp(seen[0], p) == 0) {
                if (seen[0] == NULL)
                    seen[0] = BN_dup(p);
                hit[0] = 1;
            } else {
                if (seen[1] == NULL)
                    seen[1] = BN_dup(p);
                assert_int_equal(BN_cmp(seen[1], p), 0);
                hit[1] = 1;
            }
            BN_free(p);
            BN_free(g);
        }
        assert_true(hit[0] && hit[1]);
        /* Nothing of that size in range: no match (the file has no 3072). */
        assert_int_equal(sshbpp__gex_choose(m, 3072, 3072, 8192, &p, &g), SSHBPP_ENOMATCH);
        assert_null(p);
        BN_free(seen[0]);
        BN_free(seen[1]);
        sshbpp__moduli_free(m);
    }

    /* p = 0 has no bits at all. */
    {
        BIGNUM *zero = BN_new(), *g2 = BN_new();
        assert_true(BN_set_word(g2, 2));
        assert_int_equal(sshbpp__gex_check_group(zero, g2, 2048, 8192), SSHBPP_EGEXGROUP);
        BN_free(zero);
        BN_free(g2);
    }

    /* moduli(5) lines we must skip (each alone leaves nothing usable:
     * EKEXMSG; next to a good line the file loads) and lines that are
     * errors (EKEXMSG even next to a good line). */
    {
        static const struct {
            int field;       /* 1..6 */
            const char *val; /* replaces that field */
            int error;       /* 1: an error, 0: skipped */
        } v[] = {
            {1, "1", 0},    /* not a safe prime */
            {2, "1", 0},    /* not Miller-Rabin tested */
            {3, "0", 0},    /* no tries */
            {4, "1023", 0}, /* below 2048 bits */
            {4, "9000", 0}, /* above 8192 bits */
            {4, "2046", 0}, /* the size column lies */
            {5, "1", 0},    /* generator 1 */
            {5, "99999999999999999999999", 1}, /* generator overflows */
            {6, "", 1},     /* modulus too long (filled in below) */
            {6, "E", 0},    /* an even modulus of the wrong size */
        };
        static char good[4096], bad[8192], twolines[12288], hexlong[2200];
        FILE *in = fopen("/etc/ssh/moduli", "r");
        const char *fields[7];
        char *save = NULL, *t, copy[4096];
        size_t i;
        int k, r;

        assert_non_null(in);
        good[0] = '\0';
        while (fgets(good, sizeof(good), in) != NULL)
            if (good[0] != '#' && strstr(good, " 2 6 100 2047 ") != NULL)
                break;
        fclose(in);
        assert_non_null(strstr(good, " 2 6 100 2047 "));
        memset(hexlong, 'F', sizeof(hexlong) - 1);
        for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            snprintf(copy, sizeof(copy), "%s", good);
            for (k = 0, t = strtok_r(copy, " \n", &save); k < 7 && t != NULL;
                 k++, t = strtok_r(NULL, " \n", &save))
                fields[k] = t;
            assert_int_equal(k, 7);
            fields[v[i].field] = v[i].field == 6 && v[i].val[0] == '\0' ? hexlong : v[i].val;
            snprintf(bad, sizeof(bad), "%s %s %s %s %s %s %s\n", fields[0], fields[1],
                     fields[2], fields[3], fields[4], fields[5], fields[6]);
            {
                char path[] = "/tmp/sshbpp-covkex-m3.XXXXXX";
                int fd = mkstemp(path);
                FILE *f;
                assert_true(fd >= 0);
                assert_non_null(f = fdopen(fd, "w"));
                fputs(bad, f);
                fclose(f);
                r = sshbpp__moduli_load(path, &m);
                if (r == 0)
                    sshbpp__moduli_free(m);
                assert_int_equal(r, SSHBPP_EKEXMSG);
                snprintf(twolines, sizeof(twolines), "%s%s", good, bad);
                assert_non_null(f = fopen(path, "w"));
                fputs(twolines, f);
                fclose(f);
                r = sshbpp__moduli_load(path, &m);
                if (r == 0)
                    sshbpp__moduli_free(m);
                if (r != (v[i].error ? SSHBPP_EKEXMSG : 0))
                    fail_msg("moduli variant %zu: got %s", i, sshbpp_err_name(r));
                unlink(path);
            }
        }
    }
}

/* ---- hostkey.c directly ------------------------------------------------------------ */

static const uint8_t H[32] = {1, 2, 3};

/* A blob and a signature of key hk for alg over H. */
static void
blob_sig(const sshbpp__hostkey *hk, const char *alg, sshbpp__wbuf *blob, sshbpp__wbuf *sig)
{
    sshbpp__wb_init(blob);
    sshbpp__wb_init(sig);
    assert_int_equal(sshbpp__hostkey_put_blob(hk, blob), 0);
    assert_int_equal(sshbpp__hostkey_sign(hk, alg, H, sizeof(H), sig), 0);
    assert_int_equal(sshbpp__hostkey_verify(alg, blob->p, blob->len, H, sizeof(H), sig->p, sig->len),
                     0);
}

static int
verify_sig(const char *alg, const sshbpp__wbuf *blob, const sshbpp__wbuf *sig)
{
    return sshbpp__hostkey_verify(alg, blob->p, blob->len, H, sizeof(H), sig->p, sig->len);
}

/* A signature blob with the given name and body. */
static void
make_sig(sshbpp__wbuf *w, const char *name, const uint8_t *body, size_t n)
{
    sshbpp__wb_reset(w);
    sshbpp__wb_cstring(w, name);
    sshbpp__wb_string(w, body, n);
}

static void
test_hostkey_malformed(void **state)
{
    static const char *const ec[] = {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                     "ecdsa-sha2-nistp521"};
    sshbpp__hostkey hk;
    sshbpp__wbuf blob, sig, w, inner;
    uint8_t body[200];
    size_t i;

    (void)state;
    /* ed25519: wrong key length, trailing byte, wrong type name; a
     * signature of 63 bytes, under another name, with a trailing byte. */
    assert_int_equal(sshbpp__hostkey_generate(&hk, "ssh-ed25519"), 0);
    blob_sig(&hk, "ssh-ed25519", &blob, &sig);
    sshbpp__wb_init(&w);
    sshbpp__wb_cstring(&w, "ssh-ed25519");
    sshbpp__wb_string(&w, blob.p + 19, 31);
    assert_int_equal(verify_sig("ssh-ed25519", &w, &sig), SSHBPP_EHOSTKEY);
    sshbpp__wb_reset(&w);
    sshbpp__wb_raw(&w, blob.p, blob.len);
    sshbpp__wb_u8(&w, 0);
    assert_int_equal(verify_sig("ssh-ed25519", &w, &sig), SSHBPP_EHOSTKEY);
    sshbpp__wb_reset(&w);
    sshbpp__wb_cstring(&w, "ssh-ed448");
    sshbpp__wb_string(&w, blob.p + 19, 32);
    assert_int_equal(verify_sig("ssh-ed25519", &w, &sig), SSHBPP_EHOSTKEY);
    make_sig(&w, "ssh-ed25519", sig.p + 19, 63);
    assert_int_equal(verify_sig("ssh-ed25519", &blob, &w), SSHBPP_ESIGNATURE);
    make_sig(&w, "ssh-ed448", sig.p + 19, 64);
    assert_int_equal(verify_sig("ssh-ed25519", &blob, &w), SSHBPP_ESIGNATURE);
    sshbpp__wb_reset(&w);
    sshbpp__wb_raw(&w, sig.p, sig.len);
    sshbpp__wb_u8(&w, 0);
    assert_int_equal(verify_sig("ssh-ed25519", &blob, &w), SSHBPP_ESIGNATURE);
    /* Blob and key helpers' argument checks. */
    assert_int_equal(sshbpp__hostkey_verify(NULL, blob.p, blob.len, H, 32, sig.p, sig.len),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_verify("ssh-ed25519", blob.p, blob.len, NULL, 32, sig.p,
                                            sig.len),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_verify("ssh-ed25519", blob.p, blob.len, H, 32, NULL, 3),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_verify("ssh-unknown", blob.p, blob.len, H, 32, sig.p,
                                            sig.len),
                     SSHBPP_EHOSTKEY);
    assert_int_equal(sshbpp__hostkey_sign(NULL, "ssh-ed25519", H, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_sign(&hk, NULL, H, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_sign(&hk, "ssh-ed25519", NULL, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_sign(&hk, "ssh-ed25519", H, 32, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_sign(&hk, "rsa-sha2-256", H, 32, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_put_blob(NULL, &w), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_put_blob(&hk, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_can_sign(NULL, "ssh-ed25519"), 0);
    assert_int_equal(sshbpp__hostkey_can_sign(&hk, NULL), 0);
    /* A key of a type the table does not know signs nothing and has no
     * blob. */
    {
        sshbpp__hostkey odd = hk;
        odd.type = 99;
        assert_int_equal(sshbpp__hostkey_can_sign(&odd, "ssh-ed25519"), 0);
        assert_int_equal(sshbpp__hostkey_put_blob(&odd, &w), SSHBPP_EINVAL);
        odd.type = SSHBPP__HK_ECDSA;
        odd.curve_bits = 255;
        assert_int_equal(sshbpp__hostkey_put_blob(&odd, &w), SSHBPP_EINVAL);
    }
    assert_int_equal(sshbpp__hostkey_from_blob(NULL, blob.p, blob.len), SSHBPP_EINVAL);
    {
        sshbpp__hostkey tmp;
        assert_int_equal(sshbpp__hostkey_from_blob(&tmp, NULL, 3), SSHBPP_EINVAL);
    }
    {
        char fp[80];
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, fp, 20), SSHBPP_EBUFSMALL);
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, NULL, 80), SSHBPP_EINVAL);
        assert_int_equal(sshbpp__hostkey_fingerprint(NULL, 3, fp, 80), SSHBPP_EINVAL);
        assert_int_equal(sshbpp__hostkey_fingerprint(blob.p, blob.len, fp, sizeof(fp)), 0);
        assert_int_equal(strlen(fp), 7 + 43);
    }
    assert_int_equal(sshbpp__hostkey_load_file(NULL, "/x"), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__hostkey_generate(NULL, "ssh-ed25519"), SSHBPP_EINVAL);
    sshbpp__hostkey_free(NULL);
    sshbpp__hostkey_free(&hk);
    sshbpp__wb_free(&blob);
    sshbpp__wb_free(&sig);

    /* ECDSA, each curve: another curve's name inside the blob, a
     * compressed point, a point of the wrong length; signatures with
     * r = 0, r longer than the field, a negative s, a trailing byte
     * inside the body. */
    sshbpp__wb_init(&inner);
    for (i = 0; i < 3; i++) {
        const char *alg = ec[i];
        size_t flen = i == 0 ? 32 : i == 1 ? 48 : 66;
        const uint8_t *q;
        size_t qoff;

        assert_int_equal(sshbpp__hostkey_generate(&hk, alg), 0);
        blob_sig(&hk, alg, &blob, &sig);
        /* blob: string alg (4+19), string curve (4+8), string Q */
        qoff = 4 + 19 + 4 + 8 + 4;
        q = blob.p + qoff;
        assert_int_equal(blob.len, qoff + 1 + 2 * flen);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, alg);
        sshbpp__wb_cstring(&w, i == 0 ? "nistp384" : "nistp256");
        sshbpp__wb_string(&w, q, 1 + 2 * flen);
        assert_int_equal(verify_sig(alg, &w, &sig), SSHBPP_EHOSTKEY);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, alg);
        sshbpp__wb_cstring(&w, ec[i] + 11);
        memcpy(body, q, 1 + flen);
        body[0] = 0x02 | (q[2 * flen] & 1);
        sshbpp__wb_string(&w, body, 1 + flen);
        assert_int_equal(verify_sig(alg, &w, &sig), SSHBPP_EHOSTKEY);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, alg);
        sshbpp__wb_cstring(&w, ec[i] + 11);
        sshbpp__wb_string(&w, q, 2 * flen);
        assert_int_equal(verify_sig(alg, &w, &sig), SSHBPP_EHOSTKEY);
        /* a point off the curve */
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, alg);
        sshbpp__wb_cstring(&w, ec[i] + 11);
        memcpy(body, q, 1 + 2 * flen);
        body[2 * flen] ^= 1;
        sshbpp__wb_string(&w, body, 1 + 2 * flen);
        assert_int_equal(verify_sig(alg, &w, &sig), SSHBPP_EHOSTKEY);

        memset(body, 0x11, sizeof(body));
        sshbpp__wb_reset(&inner); /* r = 0 */
        sshbpp__wb_mpint(&inner, body, 0);
        sshbpp__wb_mpint(&inner, body, 20);
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&inner); /* s = 0 */
        sshbpp__wb_mpint(&inner, body, 20);
        sshbpp__wb_mpint(&inner, body, 0);
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&inner); /* r one byte over the field */
        sshbpp__wb_mpint(&inner, body, flen + 1);
        sshbpp__wb_mpint(&inner, body, 20);
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&inner); /* s over the field */
        sshbpp__wb_mpint(&inner, body, 20);
        sshbpp__wb_mpint(&inner, body, flen + 1);
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&inner); /* negative s */
        sshbpp__wb_mpint(&inner, body, 20);
        sshbpp__wb_u32(&inner, 1);
        sshbpp__wb_u8(&inner, 0x80);
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        sshbpp__wb_reset(&inner); /* well-formed but wrong values */
        sshbpp__wb_mpint(&inner, body, 20);
        sshbpp__wb_mpint(&inner, body, 20);
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        sshbpp__wb_u8(&inner, 0); /* a trailing byte in the body */
        make_sig(&w, alg, inner.p, inner.len);
        assert_int_equal(verify_sig(alg, &blob, &w), SSHBPP_ESIGNATURE);
        /* this curve's blob read as another curve's algorithm */
        assert_int_equal(verify_sig(ec[(i + 1) % 3], &blob, &sig), SSHBPP_EHOSTKEY);
        /* from_blob reads the blob back to the same kind of key */
        {
            sshbpp__hostkey back;
            assert_int_equal(sshbpp__hostkey_from_blob(&back, blob.p, blob.len), 0);
            assert_int_equal(back.type, SSHBPP__HK_ECDSA);
            assert_int_equal(back.curve_bits, hk.curve_bits);
            assert_true(sshbpp__hostkey_can_sign(&back, alg)); /* public only: can_sign looks at the type */
            sshbpp__hostkey_free(&back);
        }
        sshbpp__hostkey_free(&hk);
        sshbpp__wb_free(&blob);
        sshbpp__wb_free(&sig);
    }
    sshbpp__wb_free(&inner);
    sshbpp__wb_free(&w);
}

/* RSA without generating a key: a blob from a fixed odd 2048-bit n (the
 * parser checks sizes and parity, not primality) reaches the signature
 * checks; each malformed signature fails with ESIGNATURE. */
static void
test_hostkey_rsa_sigs(void **state)
{
    static const char *const algs[] = {"rsa-sha2-256", "rsa-sha2-512", "ssh-rsa"};
    uint8_t n[256], e[3] = {1, 0, 1}, body[300];
    sshbpp__wbuf blob, w;
    size_t i;

    (void)state;
    memset(n, 0xc5, sizeof(n));
    n[0] = 0xd1;
    n[255] |= 1;
    sshbpp__wb_init(&blob);
    sshbpp__wb_init(&w);
    sshbpp__wb_cstring(&blob, "ssh-rsa");
    sshbpp__wb_mpint(&blob, e, sizeof(e));
    sshbpp__wb_mpint(&blob, n, sizeof(n));
    memset(body, 0x33, sizeof(body));
    for (i = 0; i < 3; i++) {
        const char *alg = algs[i];
        /* empty, one byte over the modulus, short (zero-padded, then
         * wrong), exact but wrong, under another name */
        make_sig(&w, alg, body, 0);
        assert_int_equal(sshbpp__hostkey_verify(alg, blob.p, blob.len, H, 32, w.p, w.len),
                         SSHBPP_ESIGNATURE);
        make_sig(&w, alg, body, 257);
        assert_int_equal(sshbpp__hostkey_verify(alg, blob.p, blob.len, H, 32, w.p, w.len),
                         SSHBPP_ESIGNATURE);
        make_sig(&w, alg, body, 200);
        assert_int_equal(sshbpp__hostkey_verify(alg, blob.p, blob.len, H, 32, w.p, w.len),
                         SSHBPP_ESIGNATURE);
        make_sig(&w, alg, body, 256);
        assert_int_equal(sshbpp__hostkey_verify(alg, blob.p, blob.len, H, 32, w.p, w.len),
                         SSHBPP_ESIGNATURE);
        make_sig(&w, algs[(i + 1) % 3], body, 256);
        assert_int_equal(sshbpp__hostkey_verify(alg, blob.p, blob.len, H, 32, w.p, w.len),
                         SSHBPP_ESIGNATURE);
    }
    /* Blob bounds: e even, e = 1, e longer than n, n even, n of 2047
     * bits, type name "rsa-sha2-256" (the blob always says ssh-rsa). */
    {
        struct {
            uint8_t e[4];
            size_t el;
            int nbits_drop; /* clear the top bit of n */
            int n_even;
            const char *type;
        } bad[] = {
            {{1, 0, 0}, 3, 0, 0, "ssh-rsa"},
            {{1}, 1, 0, 0, "ssh-rsa"},
            {{0}, 0, 0, 0, "ssh-rsa"},
            {{1, 0, 1}, 3, 1, 0, "ssh-rsa"},
            {{1, 0, 1}, 3, 0, 1, "ssh-rsa"},
            {{1, 0, 1}, 3, 0, 0, "rsa-sha2-256"},
        };
        uint8_t nn[256];
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            memcpy(nn, n, sizeof(nn));
            if (bad[i].nbits_drop)
                nn[0] = 0x71;
            if (bad[i].n_even)
                nn[255] &= 0xfe;
            sshbpp__wb_reset(&w);
            sshbpp__wb_cstring(&w, bad[i].type);
            sshbpp__wb_mpint(&w, bad[i].e, bad[i].el);
            sshbpp__wb_mpint(&w, nn, sizeof(nn));
            make_sig(&blob, "x", body, 1); /* reuse blob's buffer for a dummy signature */
            assert_int_equal(
                sshbpp__hostkey_verify("rsa-sha2-256", w.p, w.len, H, 32, blob.p, blob.len),
                SSHBPP_EHOSTKEY);
        }
        /* e = 3 is accepted (the signature then fails); an empty n is
         * not. */
        {
            static const uint8_t three = 3;
            sshbpp__wb_reset(&w);
            sshbpp__wb_cstring(&w, "ssh-rsa");
            sshbpp__wb_mpint(&w, &three, 1);
            sshbpp__wb_mpint(&w, n, sizeof(n));
            make_sig(&blob, "rsa-sha2-256", body, 256);
            assert_int_equal(
                sshbpp__hostkey_verify("rsa-sha2-256", w.p, w.len, H, 32, blob.p, blob.len),
                SSHBPP_ESIGNATURE);
            sshbpp__wb_reset(&w);
            sshbpp__wb_cstring(&w, "ssh-rsa");
            sshbpp__wb_mpint(&w, e, sizeof(e));
            sshbpp__wb_mpint(&w, n, 0);
            assert_int_equal(
                sshbpp__hostkey_verify("rsa-sha2-256", w.p, w.len, H, 32, blob.p, blob.len),
                SSHBPP_EHOSTKEY);
            assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", NULL, 5, H, 32, blob.p,
                                                    blob.len),
                             SSHBPP_EINVAL);
        }
        /* e longer than n */
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-rsa");
        sshbpp__wb_mpint(&w, n, sizeof(n));
        sshbpp__wb_mpint(&w, n + 1, sizeof(n) - 1);
        assert_int_equal(
            sshbpp__hostkey_verify("rsa-sha2-256", w.p, w.len, H, 32, blob.p, blob.len),
            SSHBPP_EHOSTKEY);
    }
    /* from_blob (the keys layer's reader of public blobs): the fixed RSA
     * key reads back; unknown types are EKEYTYPE; malformed blobs
     * EKEYFILE; a well-formed RSA blob of a size we refuse EKEYTYPE. */
    {
        sshbpp__hostkey back;
        uint8_t n1024[128];
        static char longtype[40];

        sshbpp__wb_reset(&blob);
        sshbpp__wb_cstring(&blob, "ssh-rsa");
        sshbpp__wb_mpint(&blob, e, sizeof(e));
        sshbpp__wb_mpint(&blob, n, sizeof(n));
        assert_int_equal(sshbpp__hostkey_from_blob(&back, blob.p, blob.len), 0);
        assert_int_equal(back.type, SSHBPP__HK_RSA);
        assert_true(sshbpp__hostkey_can_sign(&back, "rsa-sha2-512"));
        sshbpp__hostkey_free(&back);
        sshbpp__wb_u8(&blob, 0);
        assert_int_equal(sshbpp__hostkey_from_blob(&back, blob.p, blob.len), SSHBPP_EKEYFILE);
        memset(n1024, 0xc7, sizeof(n1024));
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-rsa");
        sshbpp__wb_mpint(&w, e, sizeof(e));
        sshbpp__wb_mpint(&w, n1024, sizeof(n1024));
        assert_int_equal(sshbpp__hostkey_from_blob(&back, w.p, w.len), SSHBPP_EKEYTYPE);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-dss");
        sshbpp__wb_mpint(&w, e, sizeof(e));
        assert_int_equal(sshbpp__hostkey_from_blob(&back, w.p, w.len), SSHBPP_EKEYTYPE);
        memset(longtype, 'x', sizeof(longtype) - 1);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, longtype);
        assert_int_equal(sshbpp__hostkey_from_blob(&back, w.p, w.len), SSHBPP_EKEYFILE);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-ed25519");
        sshbpp__wb_string(&w, n, 31);
        assert_int_equal(sshbpp__hostkey_from_blob(&back, w.p, w.len), SSHBPP_EKEYFILE);
        assert_int_equal(sshbpp__hostkey_from_blob(&back, (const uint8_t *)"\0\0", 2),
                         SSHBPP_EKEYFILE);
        /* RSA: n missing; e empty */
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-rsa");
        sshbpp__wb_mpint(&w, e, sizeof(e));
        assert_int_equal(sshbpp__hostkey_from_blob(&back, w.p, w.len), SSHBPP_EKEYFILE);
        sshbpp__wb_reset(&w);
        sshbpp__wb_cstring(&w, "ssh-rsa");
        sshbpp__wb_mpint(&w, e, 0);
        sshbpp__wb_mpint(&w, n, sizeof(n));
        assert_int_equal(sshbpp__hostkey_from_blob(&back, w.p, w.len), SSHBPP_EKEYFILE);
    }
    sshbpp__wb_free(&blob);
    sshbpp__wb_free(&w);
}

/* ---- wire.c and alglist.c directly ------------------------------------------------- */

static void
test_wire_bounds(void **state)
{
    sshbpp__wbuf w;
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n;
    uint8_t one = 1;
    char out[8];

    (void)state;
    sshbpp__wb_init(&w);
    /* Over the largest packet: refused before any copy; the first error
     * sticks and later writes add nothing. */
    sshbpp__wb_raw(&w, &one, (size_t)SSHBPP_MAX_PACKET_LIMIT + 1);
    assert_int_equal(w.err, SSHBPP_EINVAL);
    assert_int_equal(w.len, 0);
    sshbpp__wb_u8(&w, 1);
    assert_int_equal(w.len, 0);
    sshbpp__wb_string(&w, &one, (size_t)UINT32_MAX + 1);
    assert_int_equal(w.err, SSHBPP_EINVAL);
    sshbpp__wb_free(&w);
    sshbpp__wb_string(&w, &one, (size_t)UINT32_MAX + 1);
    assert_int_equal(w.err, SSHBPP_EINVAL);
    assert_int_equal(w.len, 0);
    sshbpp__wb_reset(&w);
    assert_int_equal(w.err, 0);
    sshbpp__wb_cstring(&w, NULL); /* the empty string */
    assert_int_equal(w.len, 4);
    sshbpp__wb_mpint(&w, (const uint8_t *)"\0\0", 2); /* zero: empty */
    assert_int_equal(w.len, 8);
    sshbpp__wb_free(&w);

    /* Reader: a NULL buffer reads as empty; after a failure every read
     * fails with the same error. */
    sshbpp__rb_init(&r, NULL, 10);
    assert_int_equal(sshbpp__rb_u8(&r, &one), SSHBPP_EKEXMSG);
    assert_int_equal(sshbpp__rb_raw(&r, &p, 0), SSHBPP_EKEXMSG);
    assert_false(sshbpp__rb_done(&r));
    sshbpp__rb_init(&r, (const uint8_t *)"\0\0\0\5ab", 6);
    assert_int_equal(sshbpp__rb_string(&r, &p, &n), SSHBPP_EKEXMSG);
    sshbpp__rb_init(&r, (const uint8_t *)"\0\0\0", 3);
    assert_int_equal(sshbpp__rb_mpint(&r, &p, &n), SSHBPP_EKEXMSG);
    {
        int b;
        sshbpp__rb_init(&r, (const uint8_t *)"\7", 1);
        assert_int_equal(sshbpp__rb_bool(&r, &b), 0);
        assert_int_equal(b, 1);
        assert_int_equal(sshbpp__rb_bool(&r, &b), SSHBPP_EKEXMSG);
    }
    /* name-lists */
    assert_true(sshbpp__namelist_has("a,bb,c", 6, "bb"));
    assert_false(sshbpp__namelist_has("a,bb,c", 6, "b"));
    assert_false(sshbpp__namelist_has("a,bb,c", 3, "c")); /* only the first len bytes */
    /* base64 needs room for the padded form */
    assert_int_equal(sshbpp__base64_nopad((const uint8_t *)"abcd", 4, out, 8), 0);
    assert_int_equal(sshbpp__base64_nopad((const uint8_t *)"abcd", 4, out, 9), 6);
    assert_string_equal(out, "YWJjZA");
}

static void
test_alglist_direct(void **state)
{
    static const char *const all[] = {"a", "bb", "ccc", NULL};
    char *out = NULL;
    char longname[200];

    (void)state;
    assert_int_equal(sshbpp__alglist_resolve("a", NULL, all, &out), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__alglist_resolve("a", "a", all, NULL), SSHBPP_EINVAL);
    /* Empty names in the default list are skipped by every form. */
    assert_int_equal(sshbpp__alglist_resolve("+ccc", "a,,bb", all, &out), 0);
    assert_string_equal(out, "a,bb,ccc");
    free(out);
    assert_int_equal(sshbpp__alglist_resolve("^ccc", "a,,bb", all, &out), 0);
    assert_string_equal(out, "ccc,a,bb");
    free(out);
    /* '-' takes patterns (not checked against the table); an empty one
     * matches nothing. */
    assert_int_equal(sshbpp__alglist_resolve("-,b*", "a,,bb,ccc", all, &out), 0);
    assert_string_equal(out, "a,ccc");
    free(out);
    assert_int_equal(sshbpp__alglist_resolve("-*", "a,bb", all, &out), SSHBPP_EUNSUPPORTED);
    assert_null(out);
    /* '+' / '^' with a name over 128 characters, or none in the table. */
    memset(longname, 'a', sizeof(longname));
    longname[0] = '+';
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(sshbpp__alglist_resolve(longname, "a", all, &out), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp__alglist_resolve("+a", "a", NULL, &out), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp__alglist_resolve("^", "a", all, &out), SSHBPP_EUNSUPPORTED);
    /* NULL spec: the default, as given. */
    assert_int_equal(sshbpp__alglist_resolve(NULL, "bb,a", all, &out), 0);
    assert_string_equal(out, "bb,a");
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kexinit_malformed),
        cmocka_unit_test(test_wrong_guess_ignored),
        cmocka_unit_test(test_strict_kex),
        cmocka_unit_test(test_no_strict_order),
        cmocka_unit_test(test_kex_msgs_out_of_exchange),
        cmocka_unit_test(test_unimplemented_refusal),
        cmocka_unit_test(test_ext_info),
        cmocka_unit_test(test_gex_request_bounds),
        cmocka_unit_test(test_gex_group_bounds),
        cmocka_unit_test(test_gex_order),
        cmocka_unit_test(test_hostkey_pause),
        cmocka_unit_test(test_auth_done_delayed_zlib),
        cmocka_unit_test(test_kex_api),
        cmocka_unit_test(test_hostkey_file_public),
        cmocka_unit_test(test_no_versions),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_gex_direct),
        cmocka_unit_test(test_hostkey_malformed),
        cmocka_unit_test(test_hostkey_rsa_sigs),
        cmocka_unit_test(test_wire_bounds),
        cmocka_unit_test(test_alglist_direct),
        cmocka_unit_test(test_transport_failures),
        cmocka_unit_test(test_hostkey_resume_fails),
        cmocka_unit_test(test_gex_2048),
        cmocka_unit_test(test_bad_public_values),
        cmocka_unit_test(test_own_lists_over_bounds),
        cmocka_unit_test(test_auth_done_mid_rekey),
        cmocka_unit_test(test_getters_after_exchange),
        cmocka_unit_test(test_keylog_events),
        cmocka_unit_test(test_repeats_and_cuts),
        cmocka_unit_test(test_gex_more),
        cmocka_unit_test(test_internal_entry_points),
        cmocka_unit_test(test_unimplemented_after_newkeys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
