/*
 * test_kex.c: the sans-I/O key exchange (sshbpp_kex) between a client and
 * a server object, each wired to its own in-memory sshbpp_engine; a pump
 * moves wire bytes both ways and feeds every received packet to the
 * receiving side's sshbpp_kex_input(). Covers every kex method with every
 * host key algorithm, traffic under the new keys, rekeys from both sides,
 * strict KEX (sequence numbers and violations), negotiation failures, a
 * forged signature, EXT_INFO, first_kex_packet_follows, and a peer that
 * refuses our KEXINIT with SSH_MSG_UNIMPLEMENTED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kex/kex_int.h"
#include "pq.h"
#include "testutil.h"

/* Test-only knob in kex.c. */
void sshbpp__kex_test_no_strict(sshbpp_kex *k);
void sshbpp__kex_test_swap_hostkeys(sshbpp_kex *k);

#define V_C "SSH-2.0-testclient"
#define V_S "SSH-2.0-testserver"

/* ---- host key files (generated once) -------------------------------------- */

static char key_ed[64], key_p256[64], key_p384[64], key_p521[64], key_rsa[64];

static void
write_key(char *path, EVP_PKEY *pk)
{
    int fd;
    FILE *f;

    strcpy(path, "/tmp/sshbpp_kexkey_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(pk);
}

static int
keys_setup(void **state)
{
    (void)state;
    write_key(key_ed, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
    write_key(key_p256, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
    write_key(key_p384, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
    write_key(key_p521, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"));
    write_key(key_rsa, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
    return 0;
}

static int
keys_teardown(void **state)
{
    (void)state;
    unlink(key_ed);
    unlink(key_p256);
    unlink(key_p384);
    unlink(key_p521);
    unlink(key_rsa);
    return 0;
}

static const char *
key_for(const char *alg)
{
    if (strcmp(alg, "ssh-ed25519") == 0)
        return key_ed;
    if (strcmp(alg, "ecdsa-sha2-nistp256") == 0)
        return key_p256;
    if (strcmp(alg, "ecdsa-sha2-nistp384") == 0)
        return key_p384;
    if (strcmp(alg, "ecdsa-sha2-nistp521") == 0)
        return key_p521;
    return key_rsa;
}

/* ---- one side: engine + kex + transport ----------------------------------- */

typedef struct side {
    sshbpp_engine *e;
    sshbpp_kex *k;
    tu_pktlist app;       /* messages kex_input passed through */
    int err;              /* first error of rx_next or kex_input */
    int tamper_reply;     /* flip the last byte of our KEX reply (31) */
    uint8_t kexinit[4096]; /* copy of the KEXINIT we sent last */
    size_t kexinit_len;
    tu_buf sent;          /* every message we sent, type bytes */
    uint8_t outkey[2][64]; /* outbound cipher key of the last two set_keys */
    unsigned nkeys_out, nkeys_in, nreset_out, nreset_in;
} side;

static int
t_send(void *ctx, const uint8_t *p, size_t n)
{
    side *s = ctx;
    uint8_t tmp[8192];

    tu_buf_append(&s->sent, p, 1);
    if (p[0] == 20 && n <= sizeof(s->kexinit)) {
        memcpy(s->kexinit, p, n);
        s->kexinit_len = n;
    }
    if (s->tamper_reply && p[0] == 31 && n <= sizeof(tmp)) {
        memcpy(tmp, p, n);
        tmp[n - 1] ^= 0x01; /* inside the signature blob's last field */
        return sshbpp_engine_send(s->e, tmp, n);
    }
    return sshbpp_engine_send(s->e, p, n);
}

static int
t_set_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    side *s = ctx;

    if (dir == SSHBPP_DIR_OUT) {
        memcpy(s->outkey[0], s->outkey[1], 64);
        memset(s->outkey[1], 0, 64);
        memcpy(s->outkey[1], k->key, k->key_len < 64 ? k->key_len : 64);
        s->nkeys_out++;
    } else {
        s->nkeys_in++;
    }
    return sshbpp_engine_set_keys(s->e, dir, k);
}

static int
t_set_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    side *s = ctx;
    return sshbpp_engine_set_compression(s->e, dir, name);
}

static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    side *s = ctx;
    if (dir == SSHBPP_DIR_OUT)
        s->nreset_out++;
    else
        s->nreset_in++;
    sshbpp_engine_reset_seqno(s->e, dir);
}

static const sshbpp_kex_transport transport = {t_send, t_set_keys, t_set_comp, t_reset};

/* The seqno hook: our engine numbered the packet just sent one below its
 * next number. */
static int
t_seqno(void *ctx, uint32_t *seqno)
{
    side *s = ctx;
    sshbpp_stats st;

    sshbpp_engine_get_stats(s->e, SSHBPP_DIR_OUT, &st);
    *seqno = st.seqno - 1u;
    return 0;
}

/* A hook that never knows. */
static int
t_seqno_unknown(void *ctx, uint32_t *seqno)
{
    (void)ctx;
    (void)seqno;
    return -1;
}

typedef struct pair {
    side c, s;
} pair;

static void
side_init(side *x, int role, const sshbpp_kex_config *cfg)
{
    memset(x, 0, sizeof(*x));
    x->e = tu_engine_new();
    x->k = sshbpp_kex_new(role, cfg, &transport, x);
    assert_non_null(x->k);
    assert_int_equal(sshbpp_kex_set_versions(x->k, V_C, V_S), 0);
}

static void
side_free(side *x)
{
    sshbpp_kex_free(x->k);
    sshbpp_engine_free(x->e);
    tu_pktlist_free(&x->app);
    tu_buf_free(&x->sent);
}

static void
pair_init(pair *p, const sshbpp_kex_config *ccfg, const sshbpp_kex_config *scfg,
          const char *keyfile)
{
    static const sshbpp_kex_config dflt;

    side_init(&p->c, SSHBPP_ROLE_CLIENT, ccfg != NULL ? ccfg : &dflt);
    side_init(&p->s, SSHBPP_ROLE_SERVER, scfg != NULL ? scfg : &dflt);
    if (keyfile != NULL)
        assert_int_equal(sshbpp_kex_add_hostkey_file(p->s.k, keyfile), 0);
}

static void
pair_free(pair *p)
{
    side_free(&p->c);
    side_free(&p->s);
}

/* Moves from's wire bytes into to and processes every packet. Returns 1
 * if bytes moved. */
static int
deliver(side *from, side *to)
{
    size_t n;
    const uint8_t *d = sshbpp_engine_tx_data(from->e, &n);
    sshbpp_packet pkt;
    int r;

    if (n == 0)
        return 0;
    if (to->err != 0) {
        sshbpp_engine_tx_consume(from->e, n);
        return 1;
    }
    assert_int_equal(sshbpp_engine_feed(to->e, d, n), 0);
    sshbpp_engine_tx_consume(from->e, n);
    while (to->err == 0) {
        r = sshbpp_engine_rx_next(to->e, &pkt);
        if (r == SSHBPP_EAGAIN)
            break;
        if (r < 0) {
            to->err = r;
            break;
        }
        r = sshbpp_kex_input(to->k, &pkt);
        if (r < 0)
            to->err = r;
        else if (r == SSHBPP_KEX_PASS)
            tu_pktlist_add(&to->app, &pkt);
    }
    return 1;
}

static void
pump(pair *p)
{
    int i;

    for (i = 0; i < 100; i++)
        if (!deliver(&p->c, &p->s) && !deliver(&p->s, &p->c))
            return;
    fail_msg("pump did not settle");
}

static void
handshake(pair *p)
{
    assert_int_equal(sshbpp_kex_start(p->c.k), 0);
    assert_int_equal(sshbpp_kex_start(p->s.k), 0);
    pump(p);
}

static void
assert_done(pair *p, unsigned n)
{
    assert_int_equal(p->c.err, 0);
    assert_int_equal(p->s.err, 0);
    assert_int_equal(sshbpp_kex_completed(p->c.k), n);
    assert_int_equal(sshbpp_kex_completed(p->s.k), n);
    assert_false(sshbpp_kex_running(p->c.k));
    assert_false(sshbpp_kex_running(p->s.k));
}

static void
assert_same_sid(pair *p)
{
    size_t a = 0, b = 0;
    const uint8_t *x = sshbpp_kex_session_id(p->c.k, &a);
    const uint8_t *y = sshbpp_kex_session_id(p->s.k, &b);

    assert_non_null(x);
    assert_non_null(y);
    assert_true(a == 20 || a == 32 || a == 48 || a == 64);
    assert_int_equal(a, b);
    assert_memory_equal(x, y, a);
}

/* Sends an application message from a to b and checks it arrived intact. */
static void
app_roundtrip(pair *p, side *from, side *to, uint8_t tag)
{
    uint8_t msg[300];
    size_t before = to->app.n;

    memset(msg, tag, sizeof(msg));
    msg[0] = 94; /* CHANNEL_DATA, as far as the kex is concerned: not its business */
    assert_int_equal(sshbpp_engine_send(from->e, msg, sizeof(msg)), 0);
    pump(p);
    assert_int_equal(to->err, 0);
    assert_int_equal(to->app.n, before + 1);
    assert_int_equal(to->app.v[before].len, sizeof(msg));
    assert_memory_equal(to->app.v[before].payload, msg, sizeof(msg));
}

static void
inject(side *x, const uint8_t *msg, size_t n)
{
    assert_int_equal(sshbpp_engine_send(x->e, msg, n), 0);
}

static const uint8_t IGNORE_MSG[] = {2, 0, 0, 0, 3, 'a', 'b', 'c'};

/* ---- every method x every host key ----------------------------------------- */

struct combo {
    const char *cipher, *mac;
};

static const struct combo combos[] = {
    {"chacha20-poly1305@openssh.com", NULL},
    {"aes128-ctr", "hmac-sha2-256-etm@openssh.com"},
    {"aes256-gcm@openssh.com", NULL},
    {"aes192-ctr", "hmac-sha2-512"},
    {"aes256-ctr", "hmac-sha1"},
    {"aes128-gcm@openssh.com", NULL},
    {"aes128-ctr", "hmac-sha1-etm@openssh.com"},
};
#define NCOMBOS (sizeof(combos) / sizeof(combos[0]))

static void
test_all_methods(void **state)
{
    size_t i, j, n = 0;
    const char *const *kexn = sshbpp__kex_supported();

    (void)state;
    for (i = 0; kexn[i] != NULL; i++) {
        /* The 8192-bit methods (group18, and the group exchange, whose
         * client asks for 8192 bits) with two host keys only: the host key
         * code is the same for every method, and valgrind runs this too. */
        int heavy = strcmp(kexn[i], "diffie-hellman-group18-sha512") == 0 ||
                    strcmp(kexn[i], "diffie-hellman-group-exchange-sha256") == 0;

        for (j = 0; sshbpp__hostkey_names[j] != NULL; j++, n++) {
            if (heavy && strcmp(sshbpp__hostkey_names[j], "ssh-ed25519") != 0 &&
                strcmp(sshbpp__hostkey_names[j], "rsa-sha2-512") != 0)
                continue;
            const struct combo *cb = &combos[n % NCOMBOS];
            sshbpp_kex_config cc = {kexn[i], sshbpp__hostkey_names[j], cb->cipher,
                                    cb->mac, NULL};
            /* The server names the method too: legacy ones are not in
             * its default list. */
            sshbpp_kex_config sc = {kexn[i], sshbpp__hostkey_names[j], NULL, NULL, NULL};
            sshbpp_kex_info ci, si;
            pair p;

            pair_init(&p, &cc, &sc, key_for(sshbpp__hostkey_names[j]));
            handshake(&p);
            assert_done(&p, 1);
            assert_same_sid(&p);
            assert_int_equal(sshbpp_kex_get_info(p.c.k, &ci), 0);
            assert_int_equal(sshbpp_kex_get_info(p.s.k, &si), 0);
            assert_memory_equal(&ci, &si, sizeof(ci));
            assert_string_equal(ci.kex, kexn[i]);
            assert_string_equal(ci.hostkey_alg, sshbpp__hostkey_names[j]);
            assert_string_equal(ci.cipher_c2s, cb->cipher);
            assert_string_equal(ci.cipher_s2c, cb->cipher);
            assert_string_equal(ci.mac_c2s, cb->mac != NULL ? cb->mac : "");
            assert_string_equal(ci.comp_c2s, "none");
            assert_int_equal(strncmp(ci.hostkey_fingerprint, "SHA256:", 7), 0);
            assert_int_equal(strlen(ci.hostkey_fingerprint), 7 + 43);
            assert_int_equal(ci.strict_kex, 1);
            assert_int_equal(ci.rekeys, 0);
            app_roundtrip(&p, &p.c, &p.s, (uint8_t)n);
            app_roundtrip(&p, &p.s, &p.c, (uint8_t)(n + 1));
            pair_free(&p);
        }
    }
}

/* Several host keys loaded; the client's preference decides; zlib is
 * switched on with the keys. */
static void
test_hostkey_preference_and_zlib(void **state)
{
    sshbpp_kex_config cc = {NULL, "ecdsa-sha2-nistp384,ssh-ed25519", NULL, NULL, "zlib,none"};
    sshbpp_kex_config sc = {NULL, NULL, NULL, NULL, "none,zlib"};
    sshbpp_kex_info info;
    pair p;

    (void)state;
    pair_init(&p, &cc, &sc, key_ed);
    assert_int_equal(sshbpp_kex_add_hostkey_file(p.s.k, key_p384), 0);
    assert_int_equal(sshbpp_kex_generate_hostkey(p.s.k, "ecdsa-sha2-nistp256"), 0);
    handshake(&p);
    assert_done(&p, 1);
    assert_int_equal(sshbpp_kex_get_info(p.c.k, &info), 0);
    assert_string_equal(info.hostkey_alg, "ecdsa-sha2-nistp384");
    assert_string_equal(info.comp_c2s, "zlib");
    assert_string_equal(info.comp_s2c, "zlib");
    assert_string_equal(info.kex, sshbpp__kex_defaults()[0]);
    assert_string_equal(info.cipher_c2s, "chacha20-poly1305@openssh.com");
    app_roundtrip(&p, &p.c, &p.s, 1);
    app_roundtrip(&p, &p.s, &p.c, 2);
    /* the server only advertises what it can sign */
    assert_string_equal(sshbpp_kex_peer_list(p.c.k, SSHBPP_KEXINIT_HOSTKEY),
                        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384");
    pair_free(&p);
}

/* ---- rekeys ------------------------------------------------------------------ */

static void
rekey_from(int from_client)
{
    sshbpp_kex_config cc = {NULL, NULL, "aes128-ctr", "hmac-sha2-256", NULL};
    uint8_t sid[64], oldc[64], olds[64];
    size_t sidlen;
    sshbpp_kex_info info;
    sshbpp_stats st;
    pair p;
    side *a, *b;

    pair_init(&p, &cc, NULL, key_ed);
    a = from_client ? &p.c : &p.s;
    b = from_client ? &p.s : &p.c;
    handshake(&p);
    assert_done(&p, 1);
    {
        const uint8_t *x = sshbpp_kex_session_id(p.c.k, &sidlen);
        assert_non_null(x);
        memcpy(sid, x, sidlen);
    }
    memcpy(oldc, p.c.outkey[1], 64);
    memcpy(olds, p.s.outkey[1], 64);
    app_roundtrip(&p, a, b, 1);
    app_roundtrip(&p, b, a, 2);

    assert_int_equal(sshbpp_kex_start(a->k), 0);
    assert_true(sshbpp_kex_running(a->k));
    assert_int_equal(sshbpp_kex_start(a->k), 0); /* no-op while running */
    /* b has not seen a's KEXINIT yet and may still send: a gets it during
     * its exchange and must pass it through. */
    {
        uint8_t m[] = {94, 0, 0, 0, 1, 0, 0, 0, 1, 'x'};
        size_t before = a->app.n;
        inject(b, m, sizeof(m));
        pump(&p);
        assert_int_equal(a->app.n, before + 1);
        assert_memory_equal(a->app.v[before].payload, m, sizeof(m));
    }
    assert_done(&p, 2);
    assert_memory_equal(sshbpp_kex_session_id(p.s.k, NULL), sid, sidlen);
    assert_same_sid(&p);
    assert_memory_not_equal(p.c.outkey[1], oldc, 16);
    assert_memory_not_equal(p.s.outkey[1], olds, 16);
    assert_int_equal(p.c.nkeys_out, 2);
    assert_int_equal(p.s.nkeys_in, 2);
    assert_int_equal(sshbpp_kex_get_info(b->k, &info), 0);
    assert_int_equal(info.rekeys, 1);
    /* strict KEX resets the sequence numbers at every NEWKEYS */
    assert_int_equal(p.c.nreset_out, 2);
    assert_int_equal(p.s.nreset_in, 2);
    sshbpp_engine_get_stats(p.c.e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);
    /* no EXT_INFO the second time */
    sshbpp_engine_get_stats(p.s.e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);
    app_roundtrip(&p, a, b, 3);
    app_roundtrip(&p, b, a, 4);
    pair_free(&p);
}

static void
test_rekey_client(void **state)
{
    (void)state;
    rekey_from(1);
}

static void
test_rekey_server(void **state)
{
    (void)state;
    rekey_from(0);
}

/* A rekey must present the host key of the first exchange: the server
 * signs the second exchange with another ed25519 key, and the client
 * refuses it (OpenSSH pins the host key the same way). */
static void
test_rekey_hostkey_pinned(void **state)
{
    pair p;

    (void)state;
    pair_init(&p, NULL, NULL, key_ed);
    assert_int_equal(sshbpp_kex_generate_hostkey(p.s.k, "ssh-ed25519"), 0);
    handshake(&p);
    assert_done(&p, 1);
    /* same keys, same order: a rekey is fine */
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    pump(&p);
    assert_done(&p, 2);
    sshbpp__kex_test_swap_hostkeys(p.s.k);
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    pump(&p);
    assert_int_equal(p.c.err, SSHBPP_EHOSTKEY);
    pair_free(&p);
}

/* Both sides start a rekey at the same time: each KEXINIT counts as the
 * other's reply. */
static void
test_rekey_simultaneous(void **state)
{
    pair p;

    (void)state;
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    assert_done(&p, 1);
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    assert_int_equal(sshbpp_kex_start(p.s.k), 0);
    pump(&p);
    assert_done(&p, 2);
    app_roundtrip(&p, &p.c, &p.s, 5);
    pair_free(&p);
}

/* ---- strict KEX ---------------------------------------------------------------- */

static void
test_strict_seqnos(void **state)
{
    sshbpp_stats st;
    pair p;

    (void)state;
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    assert_done(&p, 1);
    /* client: NEWKEYS sent (reset), nothing since */
    sshbpp_engine_get_stats(p.c.e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 0);
    /* server: NEWKEYS (reset) then EXT_INFO */
    sshbpp_engine_get_stats(p.s.e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 1);
    sshbpp_engine_get_stats(p.c.e, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.seqno, 1);
    sshbpp_engine_get_stats(p.s.e, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.seqno, 0);
    assert_int_equal(p.c.nreset_out + p.c.nreset_in + p.s.nreset_out + p.s.nreset_in, 4);
    pair_free(&p);
}

static void
test_no_strict_seqnos(void **state)
{
    sshbpp_stats st;
    sshbpp_kex_info info;
    pair p;

    (void)state;
    pair_init(&p, NULL, NULL, key_ed);
    sshbpp__kex_test_no_strict(p.c.k);
    handshake(&p);
    assert_done(&p, 1);
    /* KEXINIT, ECDH_INIT, NEWKEYS: numbering goes on */
    sshbpp_engine_get_stats(p.c.e, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 3);
    assert_int_equal(p.c.nreset_out + p.s.nreset_in, 0);
    assert_int_equal(sshbpp_kex_get_info(p.s.k, &info), 0);
    assert_int_equal(info.strict_kex, 0);
    /* the client advertised it, the server did not: only the server's
     * list lacks it */
    assert_true(sshbpp__namelist_has(sshbpp_kex_peer_list(p.s.k, SSHBPP_KEXINIT_KEX),
                                     strlen(sshbpp_kex_peer_list(p.s.k, SSHBPP_KEXINIT_KEX)),
                                     "kex-strict-c-v00@openssh.com") == 0);
    pair_free(&p);
}

enum violation { V_IGNORE_FIRST, V_IGNORE_MID, V_KEXINIT_TWICE, V_NEWKEYS_FIRST, V_UNKNOWN_MID,
                 V_DEBUG_MID };

/* The client misbehaves by injecting raw messages into its engine; the
 * server must refuse with `want`. no_strict turns strict KEX off first. */
static void
violation(enum violation v, int no_strict, int want)
{
    static const uint8_t newkeys[] = {21}, unknown[] = {200, 1, 2, 3};
    static const uint8_t debug[] = {4, 0, 0, 0, 0, 1, 'x', 0, 0, 0, 0};
    pair p;

    pair_init(&p, NULL, NULL, key_ed);
    if (no_strict)
        sshbpp__kex_test_no_strict(p.c.k);
    if (v == V_IGNORE_FIRST)
        inject(&p.c, IGNORE_MSG, sizeof(IGNORE_MSG));
    if (v == V_NEWKEYS_FIRST)
        inject(&p.c, newkeys, sizeof(newkeys));
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    if (v == V_IGNORE_MID)
        inject(&p.c, IGNORE_MSG, sizeof(IGNORE_MSG));
    if (v == V_DEBUG_MID)
        inject(&p.c, debug, sizeof(debug));
    if (v == V_UNKNOWN_MID)
        inject(&p.c, unknown, sizeof(unknown));
    if (v == V_KEXINIT_TWICE)
        inject(&p.c, p.c.kexinit, p.c.kexinit_len);
    assert_int_equal(sshbpp_kex_start(p.s.k), 0);
    pump(&p);
    assert_int_equal(p.s.err, want);
    if (want == 0) {
        assert_done(&p, 1);
        /* the tolerated message was handed to the caller */
        assert_int_equal(p.s.app.n, 1);
    } else {
        sshbpp_packet pk = {IGNORE_MSG, sizeof(IGNORE_MSG), 2, 9};
        assert_int_equal(sshbpp_kex_completed(p.s.k), 0);
        /* sticky */
        assert_int_equal(sshbpp_kex_input(p.s.k, &pk), want);
        assert_int_equal(sshbpp_kex_start(p.s.k), want);
    }
    pair_free(&p);
}

static void
test_strict_violations(void **state)
{
    (void)state;
    violation(V_IGNORE_FIRST, 0, SSHBPP_ESTRICTKEX);
    violation(V_IGNORE_MID, 0, SSHBPP_ESTRICTKEX);
    violation(V_DEBUG_MID, 0, SSHBPP_ESTRICTKEX);
    violation(V_UNKNOWN_MID, 0, SSHBPP_ESTRICTKEX);
    violation(V_KEXINIT_TWICE, 0, SSHBPP_EKEXORDER);
    violation(V_NEWKEYS_FIRST, 0, SSHBPP_EKEXORDER);
}

static void
test_non_strict_rules(void **state)
{
    (void)state;
    violation(V_IGNORE_FIRST, 1, 0);
    violation(V_IGNORE_MID, 1, 0);
    violation(V_DEBUG_MID, 1, 0);
    violation(V_UNKNOWN_MID, 1, SSHBPP_EKEXORDER);
    violation(V_KEXINIT_TWICE, 1, SSHBPP_EKEXORDER);
    violation(V_NEWKEYS_FIRST, 1, SSHBPP_EKEXORDER);
}

/* Outside an exchange: stray NEWKEYS / 31 are out of order; DISCONNECT
 * always stops. */
static void
test_out_of_exchange(void **state)
{
    static const uint8_t newkeys[] = {21}, reply[] = {31, 0, 0, 0, 0};
    static const uint8_t disc[] = {1, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0};
    sshbpp_packet pk;
    pair p;

    (void)state;
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    assert_done(&p, 1);
    inject(&p.s, newkeys, sizeof(newkeys));
    pump(&p);
    assert_int_equal(p.c.err, SSHBPP_EKEXORDER);
    inject(&p.c, reply, sizeof(reply));
    pump(&p);
    assert_int_equal(p.s.err, SSHBPP_EKEXORDER);
    pair_free(&p);

    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    pk.payload = disc;
    pk.len = sizeof(disc);
    pk.type = 1;
    pk.seqno = 5;
    assert_int_equal(sshbpp_kex_input(p.c.k, &pk), SSHBPP_EDISCONNECT);
    assert_int_equal(sshbpp_kex_input(p.c.k, &pk), SSHBPP_EDISCONNECT);
    pair_free(&p);
}

/* ---- negotiation failures, bad config, forged signature ------------------------ */

static void
test_no_match(void **state)
{
    sshbpp_kex_config cc = {NULL, NULL, "aes128-ctr", NULL, NULL};
    sshbpp_kex_config sc = {NULL, NULL, "aes256-ctr", NULL, NULL};
    sshbpp_kex_config ck = {"curve25519-sha256", NULL, NULL, NULL, NULL};
    sshbpp_kex_config sk = {"ecdh-sha2-nistp256", NULL, NULL, NULL, NULL};
    sshbpp_kex_config ch = {NULL, "rsa-sha2-512", NULL, NULL, NULL};
    sshbpp_kex_config cm = {NULL, NULL, "aes128-ctr", "hmac-sha1", NULL};
    sshbpp_kex_config sm = {NULL, NULL, "aes128-ctr", "hmac-sha2-256", NULL};
    pair p;

    (void)state;
    pair_init(&p, &cc, &sc, key_ed);
    handshake(&p);
    assert_int_equal(p.c.err, SSHBPP_ENOMATCH);
    assert_int_equal(p.s.err, SSHBPP_ENOMATCH);
    pair_free(&p);

    pair_init(&p, &ck, &sk, key_ed);
    handshake(&p);
    assert_int_equal(p.s.err, SSHBPP_ENOMATCH);
    pair_free(&p);

    /* the server has only an ed25519 key, so it does not offer RSA */
    pair_init(&p, &ch, NULL, key_ed);
    handshake(&p);
    assert_int_equal(p.c.err, SSHBPP_ENOMATCH);
    pair_free(&p);

    pair_init(&p, &cm, &sm, key_ed);
    handshake(&p);
    assert_int_equal(p.c.err, SSHBPP_ENOMATCH);
    pair_free(&p);

    /* AEAD: the MAC lists need not match */
    cm.ciphers = sm.ciphers = "aes256-gcm@openssh.com";
    pair_init(&p, &cm, &sm, key_ed);
    handshake(&p);
    assert_done(&p, 1);
    pair_free(&p);
}

static void
test_bad_config(void **state)
{
    sshbpp_kex_config bad[] = {
        {"curve25519-sha256,nope", NULL, NULL, NULL, NULL},
        {"kex-strict-c-v00@openssh.com", NULL, NULL, NULL, NULL},
        {NULL, "ssh-dss", NULL, NULL, NULL},
        {NULL, NULL, "aes128-ctr,,aes256-ctr", NULL, NULL},
        {NULL, NULL, "rot13", NULL, NULL},
        {NULL, NULL, NULL, "hmac-sha2-256,", NULL},
        {NULL, NULL, NULL, NULL, "gzip"},
        {NULL, NULL, "", NULL, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        side x;
        side_init(&x, SSHBPP_ROLE_CLIENT, &bad[i]);
        assert_int_equal(sshbpp_kex_start(x.k), SSHBPP_EUNSUPPORTED);
        assert_int_equal(x.sent.len, 0);
        side_free(&x);
    }
    /* The hybrid without ML-KEM in libcrypto (OpenSSL before 3.5) is an
     * unsupported name like any other; with it, it is accepted. */
    {
        side x;
        sshbpp_kex_config pq = {"mlkem768x25519-sha256", NULL, NULL, NULL, NULL};
        int have = tu_mlkem_present();

        side_init(&x, SSHBPP_ROLE_CLIENT, &pq);
        assert_int_equal(sshbpp_kex_start(x.k), have ? 0 : SSHBPP_EUNSUPPORTED);
        assert_int_equal(x.sent.len > 0, have);
        side_free(&x);
    }
    /* a server without host keys cannot offer anything */
    {
        side x;
        sshbpp_kex_config d = {0};
        side_init(&x, SSHBPP_ROLE_SERVER, &d);
        assert_int_equal(sshbpp_kex_start(x.k), SSHBPP_EHOSTKEY);
        side_free(&x);
    }
    assert_null(sshbpp_kex_new(7, &bad[0], &transport, NULL));
    assert_null(sshbpp_kex_new(SSHBPP_ROLE_CLIENT, NULL, &transport, NULL));
    assert_string_equal(sshbpp_kex_default(SSHBPP_KEXINIT_CIPHER_C2S),
                        "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,"
                        "aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr");
    assert_string_equal(sshbpp_kex_default(SSHBPP_KEXINIT_COMP_C2S), "none");
    /* The hybrid leads the default list wherever libcrypto has ML-KEM. */
    if (sshbpp__kex_method_find("mlkem768x25519-sha256") != NULL)
        assert_int_equal(strncmp(sshbpp_kex_default(SSHBPP_KEXINIT_KEX),
                                 "mlkem768x25519-sha256,curve25519-sha256,", 40), 0);
    else
        assert_int_equal(strncmp(sshbpp_kex_default(SSHBPP_KEXINIT_KEX), "curve25519-sha256,", 18),
                         0);
    assert_null(sshbpp_kex_default(SSHBPP_KEXINIT_LANG_C2S));
}

static void
test_tampered_signature(void **state)
{
    size_t j;

    (void)state;
    for (j = 0; sshbpp__hostkey_names[j] != NULL; j++) {
        sshbpp_kex_config cc = {NULL, sshbpp__hostkey_names[j], NULL, NULL, NULL};
        pair p;

        /* The server names it too: ssh-rsa is not in its default list. */
        pair_init(&p, &cc, &cc, key_for(sshbpp__hostkey_names[j]));
        p.s.tamper_reply = 1;
        handshake(&p);
        assert_int_equal(p.c.err, SSHBPP_ESIGNATURE);
        assert_int_equal(sshbpp_kex_completed(p.c.k), 0);
        assert_null(sshbpp_kex_session_id(p.c.k, NULL));
        pair_free(&p);
    }
}

/* ---- EXT_INFO -------------------------------------------------------------------- */

static void
test_ext_info(void **state)
{
    uint8_t buf[1024];
    sshbpp__wbuf w;
    sshbpp_packet pk;
    pair p;
    uint32_t i;

    (void)state;
    pair_init(&p, NULL, NULL, key_ed);
    assert_null(sshbpp_kex_server_sig_algs(p.c.k));
    handshake(&p);
    assert_done(&p, 1);
    assert_non_null(sshbpp_kex_server_sig_algs(p.c.k));
    assert_string_equal(sshbpp_kex_server_sig_algs(p.c.k),
                        sshbpp_kex_default(SSHBPP_KEXINIT_HOSTKEY));
    assert_null(sshbpp_kex_server_sig_algs(p.s.k));
    /* nothing of it reached the caller */
    assert_int_equal(p.c.app.n, 0);
    /* the client asked for it in its first KEXINIT only */
    assert_true(sshbpp__namelist_has(sshbpp_kex_peer_list(p.s.k, 0),
                                     strlen(sshbpp_kex_peer_list(p.s.k, 0)), "ext-info-c"));
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    pump(&p);
    assert_done(&p, 2);
    assert_false(sshbpp__namelist_has(sshbpp_kex_peer_list(p.s.k, 0),
                                      strlen(sshbpp_kex_peer_list(p.s.k, 0)), "ext-info-c"));
    assert_false(sshbpp__namelist_has(sshbpp_kex_peer_list(p.s.k, 0),
                                      strlen(sshbpp_kex_peer_list(p.s.k, 0)),
                                      "kex-strict-c-v00@openssh.com"));

    /* a later EXT_INFO with other extensions and a new value */
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 7);
    sshbpp__wb_u32(&w, 2);
    sshbpp__wb_cstring(&w, "no-flow-control");
    sshbpp__wb_cstring(&w, "p");
    sshbpp__wb_cstring(&w, "server-sig-algs");
    sshbpp__wb_cstring(&w, "ssh-ed25519");
    assert_int_equal(w.err, 0);
    memcpy(buf, w.p, w.len);
    pk.payload = buf;
    pk.len = w.len;
    pk.type = 7;
    pk.seqno = 9;
    assert_int_equal(sshbpp_kex_input(p.c.k, &pk), SSHBPP_KEX_USED);
    assert_string_equal(sshbpp_kex_server_sig_algs(p.c.k), "ssh-ed25519");
    /* truncated: malformed */
    pk.len = w.len - 1;
    assert_int_equal(sshbpp_kex_input(p.c.k, &pk), SSHBPP_EKEXMSG);
    sshbpp__wb_free(&w);
    pair_free(&p);

    /* count above the bound, even if the entries were there */
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    sshbpp__wb_init(&w);
    sshbpp__wb_u8(&w, 7);
    sshbpp__wb_u32(&w, 65);
    for (i = 0; i < 65; i++) {
        sshbpp__wb_cstring(&w, "a");
        sshbpp__wb_cstring(&w, "b");
    }
    pk.payload = w.p;
    pk.len = w.len;
    pk.type = 7;
    assert_int_equal(sshbpp_kex_input(p.c.k, &pk), SSHBPP_EKEXMSG);
    sshbpp__wb_free(&w);
    pair_free(&p);

    /* exactly one EXT_INFO, right after the server's NEWKEYS */
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    assert_int_equal(p.s.sent.len, 4); /* KEXINIT, REPLY, NEWKEYS, EXT_INFO */
    assert_int_equal(p.s.sent.p[3], 7);
    pair_free(&p);
}

/* ---- first_kex_packet_follows: a hand-made client -------------------------------- */

static void
fake_kexinit(sshbpp__wbuf *w, const char *kex, const char *hk, int follows)
{
    uint8_t cookie[16] = {0};
    int i;

    sshbpp__wb_u8(w, 20);
    sshbpp__wb_raw(w, cookie, 16);
    sshbpp__wb_cstring(w, kex);
    sshbpp__wb_cstring(w, hk);
    for (i = 0; i < 2; i++)
        sshbpp__wb_cstring(w, "aes128-ctr");
    for (i = 0; i < 2; i++)
        sshbpp__wb_cstring(w, "hmac-sha2-256");
    for (i = 0; i < 2; i++)
        sshbpp__wb_cstring(w, "none");
    sshbpp__wb_cstring(w, "");
    sshbpp__wb_cstring(w, "");
    sshbpp__wb_bool(w, follows);
    sshbpp__wb_u32(w, 0);
}

/* Feeds the server kex directly (its transport still writes to its
 * engine, which the test reads back). */
static int
feed(side *s, const uint8_t *p, size_t n, uint32_t seq)
{
    sshbpp_packet pk = {p, n, p[0], seq};
    return sshbpp_kex_input(s->k, &pk);
}

/* Pulls the next message the server sent (its engine has no keys yet). */
static size_t
server_out(side *s, sshbpp_engine *rx, uint8_t *out, size_t cap)
{
    size_t n;
    const uint8_t *d = sshbpp_engine_tx_data(s->e, &n);
    sshbpp_packet pk;

    if (n > 0) {
        assert_int_equal(sshbpp_engine_feed(rx, d, n), 0);
        sshbpp_engine_tx_consume(s->e, n);
    }
    assert_int_equal(sshbpp_engine_rx_next(rx, &pk), 0);
    assert_true(pk.len <= cap);
    memcpy(out, pk.payload, pk.len);
    return pk.len;
}

/* ---- diffie-hellman-group-exchange-sha256 ------------------------------------ */

#define GEX "diffie-hellman-group-exchange-sha256"

/* A moduli(5) file with the RFC 3526 primes of the given sizes and
 * generator gen. */
static void
write_moduli(char *path, unsigned gen, const int *sizes, size_t n)
{
    FILE *f;
    size_t i;
    int fd;

    strcpy(path, "/tmp/sshbpp_moduli_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "# Time Type Tests Tries Size Generator Modulus\n");
    for (i = 0; i < n; i++) {
        BIGNUM *p = sizes[i] == 2048 ? BN_get_rfc3526_prime_2048(NULL)
                    : sizes[i] == 3072 ? BN_get_rfc3526_prime_3072(NULL)
                                       : BN_get_rfc2409_prime_1024(NULL);
        char *hex = BN_bn2hex(p);

        assert_non_null(hex);
        fprintf(f, "20260101000000 2 6 100 %d %u %s\n", sizes[i] - 1, gen, hex);
        OPENSSL_free(hex);
        BN_free(p);
    }
    fclose(f);
}

/* Our client and server through the whole exchange (REQUEST, GROUP, INIT,
 * REPLY) and rekeys from both sides. With generator 5 (a non-residue for
 * these primes, as moduli files use for some), honest public values are
 * outside the order-q subgroup half the time: the 2 x 8 values here must
 * all pass (a wrongly applied subgroup test would refuse 8 of them on
 * average). The 1024-bit line of the file is skipped. */
static void
test_gex_moduli_rekeys(void **state)
{
    static const int sizes[] = {1024, 2048, 3072};
    sshbpp_kex_config cfg = {GEX, NULL, "aes128-ctr", "hmac-sha2-256", NULL};
    char path[64];
    sshbpp_kex_info ci;
    unsigned gen, i;
    pair p;

    (void)state;
    for (gen = 2; gen <= 5; gen += 3) {
        write_moduli(path, gen, sizes, 3);
        pair_init(&p, &cfg, &cfg, key_ed);
        assert_int_equal(sshbpp_kex_set_moduli(p.s.k, path), 0);
        handshake(&p);
        assert_done(&p, 1);
        assert_int_equal(sshbpp_kex_get_info(p.c.k, &ci), 0);
        assert_string_equal(ci.kex, GEX);
        for (i = 0; i < 6; i++) {
            assert_int_equal(sshbpp_kex_start(i % 2 ? p.s.k : p.c.k), 0);
            pump(&p);
            assert_done(&p, 2 + i);
            app_roundtrip(&p, &p.c, &p.s, (uint8_t)i);
        }
        assert_same_sid(&p);
        pair_free(&p);
        unlink(path);
    }
    /* A file with no usable group is refused, not silently replaced. */
    write_moduli(path, 2, sizes, 1);
    pair_init(&p, &cfg, &cfg, key_ed);
    assert_int_equal(sshbpp_kex_set_moduli(p.s.k, path), SSHBPP_EKEXMSG);
    assert_int_equal(sshbpp_kex_set_moduli(p.s.k, "/nonexistent/moduli"), SSHBPP_EIO);
    assert_int_equal(sshbpp_kex_set_moduli(p.c.k, path), SSHBPP_EINVAL); /* client */
    pair_free(&p);
    unlink(path);
}

/* Without a moduli file: the built-in RFC 3526 groups (8192 bits here, as
 * our client asks for 8192 with a 256-bit hash). */
static void
test_gex_builtin(void **state)
{
    sshbpp_kex_config cfg = {GEX, NULL, NULL, NULL, NULL};
    pair p;

    (void)state;
    pair_init(&p, &cfg, &cfg, key_ed);
    handshake(&p);
    assert_done(&p, 1);
    app_roundtrip(&p, &p.c, &p.s, 7);
    pair_free(&p);
}

/* The client against a hand-made server: KEXINIT naming the group
 * exchange, then a GROUP message. Returns the client's error. */
static int
client_vs_group(const BIGNUM *gp, const BIGNUM *gg, int raw_garbage)
{
    sshbpp_kex_config cfg = {GEX, "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", NULL};
    sshbpp__wbuf w;
    side c;
    uint8_t buf[2100];
    int n, rc;

    side_init(&c, SSHBPP_ROLE_CLIENT, &cfg);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    sshbpp__wb_init(&w);
    fake_kexinit(&w, GEX, "ssh-ed25519", 0);
    assert_int_equal(feed(&c, w.p, w.len, 0), SSHBPP_KEX_USED);
    sshbpp__wb_reset(&w);
    sshbpp__wb_u8(&w, 31);
    if (raw_garbage) {
        sshbpp__wb_u32(&w, 0x7fffffff); /* an mpint far longer than the packet */
    } else {
        n = BN_bn2bin(gp, buf);
        sshbpp__wb_mpint(&w, buf, (size_t)n);
        n = BN_bn2bin(gg, buf);
        sshbpp__wb_mpint(&w, buf, (size_t)n);
    }
    rc = feed(&c, w.p, w.len, 1);
    sshbpp__wb_free(&w);
    side_free(&c);
    return rc;
}

/* RFC 4419 section 3 and RFC 8270: the client refuses a group under 2048
 * bits, one outside the range it asked for, and a degenerate generator,
 * before computing anything with them; a good group is answered. */
static void
test_gex_client_checks(void **state)
{
    BIGNUM *p1024 = BN_get_rfc2409_prime_1024(NULL), *p2048 = BN_get_rfc3526_prime_2048(NULL);
    BIGNUM *two = BN_new(), *one = BN_new(), *pm1 = BN_dup(p2048), *big = BN_new();

    (void)state;
    assert_non_null(p1024);
    assert_non_null(pm1);
    assert_true(BN_set_word(two, 2) && BN_set_word(one, 1) && BN_sub_word(pm1, 1));
    /* 8200 bits: above the 8192 we ask for at most. */
    assert_true(BN_set_bit(big, 8199) && BN_set_bit(big, 0));
    assert_int_equal(client_vs_group(p1024, two, 0), SSHBPP_EGEXGROUP);
    assert_int_equal(client_vs_group(big, two, 0), SSHBPP_EGEXGROUP);
    assert_int_equal(client_vs_group(p2048, one, 0), SSHBPP_EGEXGROUP);
    assert_int_equal(client_vs_group(p2048, pm1, 0), SSHBPP_EGEXGROUP);
    assert_int_equal(client_vs_group(p2048, p2048, 0), SSHBPP_EGEXGROUP);
    assert_int_equal(client_vs_group(NULL, NULL, 1), SSHBPP_EKEXMSG);
    assert_int_equal(client_vs_group(p2048, two, 0), SSHBPP_KEX_USED);
    /* The check on its own: the range the client asked for decides too. */
    assert_int_equal(sshbpp__gex_check_group(p2048, two, 3072, 8192), SSHBPP_EGEXGROUP);
    assert_int_equal(sshbpp__gex_check_group(p2048, two, 2048, 2048), 0);
    assert_int_equal(sshbpp__gex_check_group(p2048, two, 1024, 8192), 0);
    assert_int_equal(sshbpp__gex_check_group(p1024, two, 1024, 8192), SSHBPP_EGEXGROUP);
    BN_free(p1024);
    BN_free(p2048);
    BN_free(two);
    BN_free(one);
    BN_free(pm1);
    BN_free(big);
}

/* The server's choice (built-in list): the smallest group of at least n
 * bits within [max(min, 2048), min(max, 8192)], else the largest in range;
 * an inverted request is malformed, an impossible one has no match. */
static void
test_gex_server_choice(void **state)
{
    static const struct {
        uint32_t min, n, max;
        int rc, bits;
    } rows[] = {
        {2048, 8192, 8192, 0, 8192}, {2048, 3072, 8192, 0, 3072}, {1024, 2048, 8192, 0, 2048},
        {1024, 1024, 1024, SSHBPP_ENOMATCH, 0}, {2048, 5000, 8192, 0, 6144},
        {2048, 8192, 7000, SSHBPP_EKEXMSG, 0}, {2048, 7000, 7000, 0, 6144}, {4096, 4096, 4096, 0, 4096}, {3000, 3000, 3000, SSHBPP_ENOMATCH, 0},
        {4096, 2048, 8192, SSHBPP_EKEXMSG, 0}, {2048, 9000, 8192, SSHBPP_EKEXMSG, 0},
        {2048, 16384, 16384, 0, 8192},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        BIGNUM *gp = NULL, *gg = NULL;
        int rc = sshbpp__gex_choose(NULL, rows[i].min, rows[i].n, rows[i].max, &gp, &gg);

        if (rc != rows[i].rc)
            fail_msg("row %zu: rc %d, wanted %d", i, rc, rows[i].rc);
        if (rc == 0) {
            assert_int_equal(BN_num_bits(gp), rows[i].bits);
            assert_true(BN_is_word(gg, 2));
        } else {
            assert_null(gp);
            assert_null(gg);
        }
        BN_free(gp);
        BN_free(gg);
    }
}

static void
guess(int right)
{
    const char *kexl = right ? "ecdh-sha2-nistp256" : "ecdh-sha2-nistp256,curve25519-sha256";
    sshbpp_kex_config sc = {right ? "ecdh-sha2-nistp256" : "curve25519-sha256,ecdh-sha2-nistp256",
                            "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", NULL};
    const sshbpp__kex_method *m = sshbpp__kex_method_find("ecdh-sha2-nistp256");
    static const uint8_t bogus[] = {30, 0, 0, 0, 2, 0xde, 0xad};
    sshbpp__wbuf ic, init, qc, K, h;
    sshbpp__kex_eph eph;
    sshbpp__rbuf rb;
    sshbpp_engine *rx = tu_engine_new();
    uint8_t is[4096], reply[8192], H[64], t;
    const uint8_t *ks, *qs, *sig, *qsv;
    size_t islen, rlen, kslen, qslen, siglen, start;
    side s;

    side_init(&s, SSHBPP_ROLE_SERVER, &sc);
    assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
    assert_int_equal(sshbpp_kex_start(s.k), 0);
    islen = server_out(&s, rx, is, sizeof(is));
    assert_int_equal(is[0], 20);

    sshbpp__wb_init(&ic);
    fake_kexinit(&ic, kexl, "ssh-ed25519", 1);
    assert_int_equal(feed(&s, ic.p, ic.len, 0), SSHBPP_KEX_USED);
    if (!right) {
        /* the wrong guess is dropped unread (it is not even well-formed) */
        assert_int_equal(feed(&s, bogus, sizeof(bogus), 1), SSHBPP_KEX_USED);
    }
    memset(&eph, 0, sizeof(eph));
    assert_int_equal(sshbpp__eph_generate(&eph, m), 0);
    sshbpp__wb_init(&qc);
    assert_int_equal(sshbpp__eph_put_public(&eph, &qc), 0);
    sshbpp__wb_init(&init);
    sshbpp__wb_u8(&init, 30);
    sshbpp__wb_raw(&init, qc.p, qc.len);
    assert_int_equal(feed(&s, init.p, init.len, 2), SSHBPP_KEX_USED);

    /* check the reply the way a client would */
    rlen = server_out(&s, rx, reply, sizeof(reply));
    assert_int_equal(reply[0], 31);
    sshbpp__rb_init(&rb, reply, rlen);
    assert_int_equal(sshbpp__rb_u8(&rb, &t), 0);
    assert_int_equal(sshbpp__rb_string(&rb, &ks, &kslen), 0);
    start = rb.off;
    assert_int_equal(sshbpp__rb_string(&rb, &qsv, &qslen), 0);
    qs = reply + start;
    assert_int_equal(sshbpp__rb_string(&rb, &sig, &siglen), 0);
    assert_true(sshbpp__rb_done(&rb));
    sshbpp__wb_init(&K);
    assert_int_equal(sshbpp__eph_derive(&eph, qsv, qslen, &K), 0);
    sshbpp__wb_init(&h);
    sshbpp__wb_cstring(&h, V_C);
    sshbpp__wb_cstring(&h, V_S);
    sshbpp__wb_string(&h, ic.p, ic.len);
    sshbpp__wb_string(&h, is, islen);
    sshbpp__wb_string(&h, ks, kslen);
    sshbpp__wb_raw(&h, qc.p, qc.len);
    sshbpp__wb_raw(&h, qs, 4 + qslen);
    sshbpp__wb_raw(&h, K.p, K.len);
    assert_int_equal(h.err, 0);
    assert_int_equal(sshbpp__kex_hash(m, h.p, h.len, H), 0);
    assert_int_equal(sshbpp__hostkey_verify("ssh-ed25519", ks, kslen, H, 32, sig, siglen), 0);
    /* and NEWKEYS follows */
    rlen = server_out(&s, rx, reply, sizeof(reply));
    assert_int_equal(rlen, 1);
    assert_int_equal(reply[0], 21);

    sshbpp__eph_free(&eph);
    sshbpp__wb_free(&ic);
    sshbpp__wb_free(&qc);
    sshbpp__wb_free(&init);
    sshbpp__wb_free(&K);
    sshbpp__wb_free(&h);
    sshbpp_engine_free(rx);
    side_free(&s);
}

static void
test_first_kex_packet_follows(void **state)
{
    (void)state;
    guess(0);
    guess(1);
}

/* ---- UNIMPLEMENTED in answer to our KEXINIT ---------------------------------------- */

/* Discards x's pending wire bytes: the peer "received" them but did not
 * process them as a key exchange. */
static void
drop_tx(side *x)
{
    size_t n;

    (void)sshbpp_engine_tx_data(x->e, &n);
    sshbpp_engine_tx_consume(x->e, n);
}

/* The server answers with UNIMPLEMENTED naming seqno (len 5), or a
 * truncated one (len 1..4); returns the client's error after delivery. */
static int
unimplemented(pair *p, uint32_t seqno, size_t len)
{
    uint8_t u[5] = {3};

    tu_put_be32(u + 1, seqno);
    inject(&p->s, u, len);
    deliver(&p->s, &p->c);
    return p->c.err;
}

static uint32_t
last_out_seqno(side *x)
{
    sshbpp_stats st;

    sshbpp_engine_get_stats(x->e, SSHBPP_DIR_OUT, &st);
    return st.seqno - 1u;
}

static void
test_unimplemented_kexinit(void **state)
{
    sshbpp_packet pk;
    uint32_t sq;
    size_t n;
    pair p;

    (void)state;
    /* rekey: the peer refuses our KEXINIT as sshd does before user
     * authentication; other UNIMPLEMENTED messages (and a malformed one)
     * pass to the caller as before */
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    assert_done(&p, 1);
    assert_int_equal(sshbpp_kex_set_seqno_fn(p.c.k, t_seqno), 0);
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    sq = last_out_seqno(&p.c);
    drop_tx(&p.c);
    n = p.c.app.n;
    assert_int_equal(unimplemented(&p, sq + 1u, 5), 0);
    assert_int_equal(unimplemented(&p, sq - 1u, 5), 0);
    assert_int_equal(unimplemented(&p, sq, 4), 0); /* too short to name it */
    assert_int_equal(p.c.app.n, n + 3);
    assert_int_equal(p.c.app.v[n].payload[0], 3);
    assert_true(sshbpp_kex_running(p.c.k));
    assert_int_equal(unimplemented(&p, sq, 5), SSHBPP_EREKEYREFUSED);
    /* sticky */
    pk.payload = IGNORE_MSG;
    pk.len = sizeof(IGNORE_MSG);
    pk.type = 2;
    pk.seqno = 99;
    assert_int_equal(sshbpp_kex_input(p.c.k, &pk), SSHBPP_EREKEYREFUSED);
    assert_int_equal(sshbpp_kex_start(p.c.k), SSHBPP_EREKEYREFUSED);
    pair_free(&p);

    /* without the hook, or with one that does not know, nothing changes:
     * the UNIMPLEMENTED passes and the exchange keeps waiting */
    for (n = 0; n < 2; n++) {
        pair_init(&p, NULL, NULL, key_ed);
        handshake(&p);
        if (n == 1)
            assert_int_equal(sshbpp_kex_set_seqno_fn(p.c.k, t_seqno_unknown), 0);
        assert_int_equal(sshbpp_kex_start(p.c.k), 0);
        sq = last_out_seqno(&p.c);
        drop_tx(&p.c);
        assert_int_equal(unimplemented(&p, sq, 5), 0);
        assert_int_equal(p.c.app.n, 1);
        assert_true(sshbpp_kex_running(p.c.k));
        pair_free(&p);
    }

    /* once the exchange is over, the number means nothing any more (strict
     * KEX restarts the numbering, so a later packet may carry it) */
    pair_init(&p, NULL, NULL, key_ed);
    handshake(&p);
    assert_int_equal(sshbpp_kex_set_seqno_fn(p.c.k, t_seqno), 0);
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    sq = last_out_seqno(&p.c);
    pump(&p);
    assert_done(&p, 2);
    assert_int_equal(unimplemented(&p, sq, 5), 0);
    assert_int_equal(p.c.app.n, 1);
    pair_free(&p);

    /* the first exchange too: the server answers our very first packet */
    pair_init(&p, NULL, NULL, key_ed);
    assert_int_equal(sshbpp_kex_set_seqno_fn(p.c.k, t_seqno), 0);
    assert_int_equal(sshbpp_kex_start(p.c.k), 0);
    assert_int_equal(last_out_seqno(&p.c), 0);
    drop_tx(&p.c);
    assert_int_equal(unimplemented(&p, 0, 5), SSHBPP_EREKEYREFUSED);
    assert_int_equal(sshbpp_kex_completed(p.c.k), 0);
    pair_free(&p);

    assert_int_equal(sshbpp_kex_set_seqno_fn(NULL, t_seqno), SSHBPP_EINVAL);
    assert_string_equal(sshbpp_err_name(SSHBPP_EREKEYREFUSED), "SSHBPP_EREKEYREFUSED");
    assert_true(sshbpp_is_fatal(SSHBPP_EREKEYREFUSED));
}

/* ---- malformed KEXINIT ------------------------------------------------------------ */

static void
test_malformed_kexinit(void **state)
{
    sshbpp__wbuf w;
    side s;
    size_t cut;

    (void)state;
    for (cut = 1; cut <= 40; cut += 13) {
        side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
        assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
        sshbpp__wb_init(&w);
        fake_kexinit(&w, "curve25519-sha256", "ssh-ed25519", 0);
        assert_int_equal(feed(&s, w.p, w.len - cut, 0), SSHBPP_EKEXMSG);
        sshbpp__wb_free(&w);
        side_free(&s);
    }
    /* a name-list above 64 KiB: over the name-list bounds, refused as such */
    {
        char *big = malloc(70000);
        memset(big, 'a', 69999);
        big[69999] = '\0';
        side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
        assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
        sshbpp__wb_init(&w);
        fake_kexinit(&w, big, "ssh-ed25519", 0);
        assert_int_equal(feed(&s, w.p, w.len, 0), SSHBPP_ENAMELIST);
        sshbpp__wb_free(&w);
        side_free(&s);
        free(big);
    }
}

/* ---- name-list bounds and linear negotiation ------------------------------------ */

unsigned long sshbpp__kex_test_ncmp(const sshbpp_kex *k);

/* Appends to list: nfill filler names of exactly len characters that no
 * one supports, then real (if not NULL). */
static void
build_list(tu_buf *b, unsigned nfill, size_t len, const char *real)
{
    char name[80];
    unsigned i;

    b->len = 0;
    for (i = 0; i < nfill; i++) {
        assert_true(len >= 5 && len < sizeof(name));
        memset(name, 'q', len);
        name[0] = (char)('a' + i % 26);
        name[1] = (char)('a' + i / 26 % 26);
        if (b->len > 0)
            tu_buf_append(b, ",", 1);
        tu_buf_append(b, name, len);
    }
    if (real != NULL) {
        if (b->len > 0)
            tu_buf_append(b, ",", 1);
        tu_buf_append(b, real, strlen(real));
    }
}

/* A KEXINIT whose ten lists are each nfill fillers of length flen and then
 * the real name of that slot (languages: fillers only). */
static void
big_kexinit(sshbpp__wbuf *w, unsigned nfill, size_t flen)
{
    static const char *const real[SSHBPP_KEXINIT_NLISTS] = {
        "curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha2-256",
        "hmac-sha2-256", "none", "none", NULL, NULL};
    uint8_t cookie[16] = {0};
    tu_buf b;
    int i;

    memset(&b, 0, sizeof(b));
    sshbpp__wb_u8(w, 20);
    sshbpp__wb_raw(w, cookie, 16);
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        build_list(&b, nfill, flen, real[i]);
        sshbpp__wb_string(w, b.p, b.len);
    }
    sshbpp__wb_bool(w, 0);
    sshbpp__wb_u32(w, 0);
    tu_buf_free(&b);
}

/* Names in the negotiated lists (all but languages) of a KEXINIT we sent. */
static size_t
our_names(const uint8_t *kexinit, size_t len)
{
    sshbpp__rbuf r;
    const uint8_t *p;
    size_t n, total = 0, i, j;

    sshbpp__rb_init(&r, kexinit + 17, len - 17);
    for (i = 0; i < 8; i++) {
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
        total += n > 0;
        for (j = 0; j < n; j++)
            total += p[j] == ',';
    }
    return total;
}

/* Feeds a big KEXINIT to a fresh side of role; returns its comparison
 * count and the names of our lists in *ours. */
static unsigned long
negotiate_big(int role, unsigned nfill, size_t flen, size_t *ours, int expect)
{
    sshbpp__wbuf w;
    side s;
    unsigned long n;

    side_init(&s, role, &(sshbpp_kex_config){0});
    if (role == SSHBPP_ROLE_SERVER)
        assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
    else
        assert_int_equal(sshbpp_kex_start(s.k), 0);
    sshbpp__wb_init(&w);
    big_kexinit(&w, nfill, flen);
    assert_int_equal(feed(&s, w.p, w.len, 0), expect);
    n = sshbpp__kex_test_ncmp(s.k);
    if (ours != NULL)
        *ours = our_names(s.kexinit, s.kexinit_len);
    sshbpp__wb_free(&w);
    side_free(&s);
    return n;
}

/* Every bound exactly at its limit passes; one past it is SSHBPP_ENAMELIST,
 * in any list, before negotiation looks at anything. */
static void
test_namelist_bounds(void **state)
{
    static const struct {
        unsigned nfill;
        size_t flen;
        int expect;
    } cases[] = {
        {127, 31, SSHBPP_KEX_USED}, /* 127 x 32 + up to 17: <= 4096 bytes, 128 names */
        {128, 5, SSHBPP_ENAMELIST},  /* 129 names */
        {0, 64, SSHBPP_KEX_USED},   /* one filler of 64 characters */
        {1, 64, SSHBPP_KEX_USED},
        {1, 65, SSHBPP_ENAMELIST},   /* a 65-character name */
        {126, 33, SSHBPP_ENAMELIST}, /* 126 x 34 + 17 > 4096 bytes */
    };
    static const char *const bad[] = {",none", "none,", "none,,zlib", ",", "a,b,"};
    sshbpp__wbuf w;
    side s;
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned long n = negotiate_big(SSHBPP_ROLE_SERVER, cases[i].nfill, cases[i].flen, NULL,
                                        cases[i].expect);
        if (cases[i].expect == SSHBPP_ENAMELIST)
            assert_int_equal(n, 0); /* refused before any comparison */
    }
    /* Empty names, in the host key list and then in the kex list. */
    for (j = 0; j < 2; j++)
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
            assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
            sshbpp__wb_init(&w);
            fake_kexinit(&w, j ? bad[i] : "curve25519-sha256", j ? "ssh-ed25519" : bad[i], 0);
            assert_int_equal(feed(&s, w.p, w.len, 0), SSHBPP_ENAMELIST);
            sshbpp__wb_free(&w);
            side_free(&s);
        }
    assert_true(sshbpp_is_fatal(SSHBPP_ENAMELIST));
    assert_string_equal(sshbpp_err_name(SSHBPP_ENAMELIST), "SSHBPP_ENAMELIST");
}

/* The review's 131 KB KEXINIT: a supported name, then about 32,000 names
 * of "x" in one list. Refused with the precise error, before negotiation,
 * and quickly. */
static void
test_namelist_flood_refused(void **state)
{
    sshbpp__wbuf w;
    tu_buf b;
    side s;
    unsigned i;

    (void)state;
    memset(&b, 0, sizeof(b));
    tu_buf_append(&b, "curve25519-sha256", 17);
    for (i = 0; i < 32000; i++)
        tu_buf_append(&b, ",x", 2);
    tu_buf_append(&b, "", 1);
    side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
    assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
    sshbpp__wb_init(&w);
    fake_kexinit(&w, (const char *)b.p, (const char *)b.p, 0);
    assert_true(w.len > 128000);
    assert_int_equal(feed(&s, w.p, w.len, 0), SSHBPP_ENAMELIST);
    assert_int_equal(sshbpp__kex_test_ncmp(s.k), 0);
    sshbpp__wb_free(&w);
    side_free(&s);
    tu_buf_free(&b);
}

/* Comparisons grow linearly with the peer's lists and stay within 128
 * per name of ours for the largest KEXINIT the bounds allow (each list
 * 128 names, about 4 KB; the real names last, the worst case). */
static void
test_negotiation_linear(void **state)
{
    unsigned long n0, n63, n126, c126;
    size_t ours, cours;

    (void)state;
    n0 = negotiate_big(SSHBPP_ROLE_SERVER, 0, 31, NULL, SSHBPP_KEX_USED);
    n63 = negotiate_big(SSHBPP_ROLE_SERVER, 63, 31, NULL, SSHBPP_KEX_USED);
    n126 = negotiate_big(SSHBPP_ROLE_SERVER, 126, 31, &ours, SSHBPP_KEX_USED);
    print_message("server: %lu, %lu, %lu comparisons for 1, 64, 127 names a list; %zu of ours\n",
                  n0, n63, n126, ours);
    assert_true(n0 > 0);
    assert_int_equal(n126 - n63, n63 - n0); /* exactly linear */
    assert_true(n126 <= 128ul * ours);
    /* As client, our list is the outer one: each of ours meets the peer's
     * list at most once. */
    c126 = negotiate_big(SSHBPP_ROLE_CLIENT, 126, 31, &cours, SSHBPP_KEX_USED);
    print_message("client: %lu comparisons for 127 names a list; %zu of ours\n", c126, cours);
    assert_true(c126 > 0);
    assert_true(c126 <= 128ul * cours);
}

/* Malformed key exchange messages a hostile client can send a server:
 * a KEXINIT shorter than its fixed 17-byte head, an ECDH init with a byte
 * after its public value, NEWKEYS with a payload; each next to the
 * well-formed message that is accepted in the same place. */
static void
test_kex_messages_malformed(void **state)
{
    uint8_t msg[64];
    sshbpp__wbuf w;
    side s;
    size_t n;

    (void)state;
    memset(msg, 0, sizeof(msg));
    msg[0] = 20;
    for (n = 1; n < 17; n++) {
        side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
        assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
        assert_int_equal(feed(&s, msg, n, 0), SSHBPP_EKEXMSG);
        side_free(&s);
    }
    for (int trailing = 1; trailing >= 0; trailing--) {
        side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
        assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
        sshbpp__wb_init(&w);
        fake_kexinit(&w, "curve25519-sha256", "ssh-ed25519", 0);
        assert_int_equal(feed(&s, w.p, w.len, 0), SSHBPP_KEX_USED);
        sshbpp__wb_free(&w);
        /* SSH_MSG_KEX_ECDH_INIT: string Q_C (32 bytes: a valid X25519
         * point, the base point 9) */
        memset(msg, 0, sizeof(msg));
        msg[0] = 30;
        msg[4] = 32;
        msg[5] = 9;
        n = 1 + 4 + 32 + (size_t)trailing;
        if (trailing) {
            assert_int_equal(feed(&s, msg, n, 1), SSHBPP_EKEXMSG);
            side_free(&s);
            continue;
        }
        assert_int_equal(feed(&s, msg, n, 1), SSHBPP_KEX_USED);
        /* NEWKEYS must be the type byte alone */
        msg[0] = 21;
        msg[1] = 0;
        assert_int_equal(feed(&s, msg, 2, 2), SSHBPP_EKEXMSG);
        side_free(&s);
    }
    /* the control for NEWKEYS: alone it completes the exchange */
    side_init(&s, SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0});
    assert_int_equal(sshbpp_kex_add_hostkey_file(s.k, key_ed), 0);
    sshbpp__wb_init(&w);
    fake_kexinit(&w, "curve25519-sha256", "ssh-ed25519", 0);
    assert_int_equal(feed(&s, w.p, w.len, 0), SSHBPP_KEX_USED);
    sshbpp__wb_free(&w);
    memset(msg, 0, sizeof(msg));
    msg[0] = 30;
    msg[4] = 32;
    msg[5] = 9;
    assert_int_equal(feed(&s, msg, 37, 1), SSHBPP_KEX_USED);
    msg[0] = 21;
    assert_int_equal(feed(&s, msg, 1, 2), SSHBPP_KEX_USED);
    assert_int_equal(sshbpp_kex_completed(s.k), 1);
    side_free(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_methods),
        cmocka_unit_test(test_gex_moduli_rekeys),
        cmocka_unit_test(test_gex_builtin),
        cmocka_unit_test(test_gex_client_checks),
        cmocka_unit_test(test_gex_server_choice),
        cmocka_unit_test(test_hostkey_preference_and_zlib),
        cmocka_unit_test(test_rekey_client),
        cmocka_unit_test(test_rekey_server),
        cmocka_unit_test(test_rekey_simultaneous),
        cmocka_unit_test(test_rekey_hostkey_pinned),
        cmocka_unit_test(test_strict_seqnos),
        cmocka_unit_test(test_no_strict_seqnos),
        cmocka_unit_test(test_strict_violations),
        cmocka_unit_test(test_non_strict_rules),
        cmocka_unit_test(test_out_of_exchange),
        cmocka_unit_test(test_no_match),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_ext_info),
        cmocka_unit_test(test_first_kex_packet_follows),
        cmocka_unit_test(test_malformed_kexinit),
        cmocka_unit_test(test_namelist_bounds),
        cmocka_unit_test(test_namelist_flood_refused),
        cmocka_unit_test(test_negotiation_linear),
        cmocka_unit_test(test_kex_messages_malformed),
        cmocka_unit_test(test_unimplemented_kexinit),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
