/*
 * test_badinput.c: hostile packets (peers.md section 3, bad-input classes
 * 1-5 and 11) in every mode: no cipher, classic E&M with CTR and with CBC,
 * EtM, AES-GCM and chacha20-poly1305.
 *
 * The packets are built by an independent reference sealer (testutil.c:
 * OpenSSL EVP + HMAC + Poly1305) that encrypts and authenticates whatever
 * plaintext the test asks for, so the engine sees a packet whose MAC/tag is
 * right but whose fields are wrong. Every failure must give the exact code,
 * close the engine (sticky on every later call), return no packet and, for
 * authentication failures, not advance the inbound sequence number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "testutil.h"

/* engine_int.h test hook: every CBC discard ends at a fixed byte count. */
void sshbpp__engine_test_pin_discard(sshbpp_engine *e, size_t total);

typedef struct mode {
    const char *name;
    const char *cipher;
    const char *mac;
} mode;

static const mode modes[] = {
    {"none", "none", "none"},
    {"ctr+hmac-sha2-256 (E&M)", "aes128-ctr", "hmac-sha2-256"},
    {"cbc+hmac-sha1 (E&M)", "aes128-cbc", "hmac-sha1"},
    {"ctr+hmac-sha2-256-etm (EtM)", "aes128-ctr", "hmac-sha2-256-etm@openssh.com"},
    {"aes128-gcm (AEAD)", "aes128-gcm@openssh.com", NULL},
    {"chacha20-poly1305", "chacha20-poly1305@openssh.com", NULL},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))
enum { M_NONE = 0, M_CTR, M_CBC, M_ETM, M_GCM, M_CHACHA };

/* A receiving engine plus a reference sender with matching keys. */
typedef struct bctx {
    size_t m;
    tu_keyset ks;
    tu_sealer s;
    sshbpp_engine *rx;
    uint32_t max;
    char tag[160];
} bctx;

/* Largest aligned packet_length at the small maximum used by the tests. */
static uint32_t
mode_max(size_t m)
{
    return (m == M_NONE || m == M_CTR || m == M_CBC) ? 35004u : 35008u;
}

static size_t
cbc_bound(const bctx *b)
{
    return 4 + (size_t)b->max + tu_keyset_maclen(&b->ks);
}

/* CBC + E&M: the code every failure turns into. */
static int
cbc_code(size_t m, int code)
{
    return m == M_CBC ? SSHBPP_EMAC : code;
}

static void
bctx_init(bctx *b, size_t m, int small_max)
{
    memset(b, 0, sizeof(*b));
    b->m = m;
    snprintf(b->tag, sizeof(b->tag), "%s", modes[m].name);
    assert_int_equal(tu_keyset_make(&b->ks, modes[m].cipher, modes[m].mac, (uint8_t)(m + 40)), 0);
    assert_int_equal(tu_sealer_init(&b->s, &b->ks), 0);
    b->rx = tu_engine_new();
    if (b->ks.has_cipher)
        assert_int_equal(sshbpp_engine_set_keys(b->rx, SSHBPP_DIR_IN, &b->ks.k), 0);
    if (small_max) {
        b->max = mode_max(m);
        assert_int_equal(sshbpp_engine_set_max_packet(b->rx, b->max), 0);
        assert_int_equal(sshbpp_engine_max_packet(b->rx), b->max);
    } else {
        b->max = sshbpp_engine_max_packet(b->rx);
        assert_int_equal(b->max, SSHBPP_DEFAULT_MAX_PACKET);
    }
    /* CBC + E&M hides which check failed: every failure is a discard up to
     * the bound and then the MAC error. Pinned at its smallest possible
     * value, the largest packet on the wire. */
    if (m == M_CBC)
        sshbpp__engine_test_pin_discard(b->rx, cbc_bound(b));
}

static void
bctx_free(bctx *b)
{
    tu_sealer_free(&b->s);
    sshbpp_engine_free(b->rx);
    b->rx = NULL;
}

static int
lenclear(size_t m)
{
    return m == M_ETM || m == M_GCM || m == M_CHACHA;
}

static size_t
mode_bs(const bctx *b)
{
    return tu_keyset_bs(&b->ks);
}

static int
aligned(const bctx *b, uint32_t L)
{
    size_t bs = mode_bs(b);
    return lenclear(b->m) ? (L % bs) == 0 : ((uint64_t)L + 4) % bs == 0;
}

static int
auth_err(size_t m)
{
    return (m == M_GCM || m == M_CHACHA) ? SSHBPP_ETAG : SSHBPP_EMAC;
}

/* Seals a plaintext packet with the given (possibly lying) fields. body_len
 * is the number of payload bytes actually built; padlen padding bytes
 * follow. Appends the wire bytes to out. */
static void
seal_fields(bctx *b, uint32_t packet_length, uint8_t padlen, size_t body_len, tu_buf *out)
{
    size_t cap = 5 + body_len + padlen + 64;
    uint8_t *pt = malloc(cap);
    assert_non_null(pt);
    size_t n = tu_build_plain(pt, cap, packet_length, padlen, NULL, body_len, 0x5A);
    assert_int_equal(tu_seal(&b->s, pt, n, out), 0);
    free(pt);
}

/* A well-formed packet carrying payload[0..len) with standard padding. */
static void
seal_valid(bctx *b, const uint8_t *payload, size_t len, tu_buf *out)
{
    size_t pad = tu_std_padding(&b->ks, len);
    size_t cap = 5 + len + pad;
    uint8_t *pt = malloc(cap);
    assert_non_null(pt);
    size_t n = tu_build_plain(pt, cap, (uint32_t)(len + pad + 1), (uint8_t)pad, payload, len, 0);
    assert_int_equal(tu_seal(&b->s, pt, n, out), 0);
    free(pt);
}

/* Every later call on a failed engine reports the same code. */
static void
assert_closed(sshbpp_engine *e, int code, const char *tag)
{
    if (sshbpp_engine_error(e) != code)
        fail_msg("%s: sticky error %s, want %s", tag, sshbpp_err_name(sshbpp_engine_error(e)),
                 sshbpp_err_name(code));
    assert_true(sshbpp_is_fatal(code));
    sshbpp_packet p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sshbpp_engine_rx_next(e, &p), code);
    uint8_t msg = 94;
    assert_int_equal(sshbpp_engine_send(e, &msg, 1), code);
    assert_int_equal(sshbpp_engine_feed(e, &msg, 1), code);
    assert_null(sshbpp_engine_tx_begin(e, 16));
    size_t room = 12345;
    assert_null(sshbpp_engine_rx_space(e, 16, &room));
    assert_int_equal(room, 0);
    size_t n = 99;
    sshbpp_engine_tx_data(e, &n);
    assert_int_equal(n, 0); /* the failed send produced nothing */
}

/* Feeds wire; if the engine wants more, feeds `extra` zero bytes. Returns
 * the final rx result (0 only if it still wants more) and the number of
 * packets that came out in *npkts. */
static int
feed_and_pull(sshbpp_engine *e, const uint8_t *wire, size_t wl, size_t extra, size_t *npkts)
{
    tu_pktlist l = {0};
    int r = sshbpp_engine_feed(e, wire, wl);
    if (r == 0)
        r = tu_drain(e, &l, NULL, NULL);
    if (r == 0 && extra > 0) {
        uint8_t *z = calloc(1, extra);
        assert_non_null(z);
        r = sshbpp_engine_feed(e, z, extra);
        free(z);
        if (r == 0)
            r = tu_drain(e, &l, NULL, NULL);
    }
    *npkts = l.n;
    tu_pktlist_free(&l);
    return r;
}

/* Feeds a bad packet (and some slack) to b->rx and checks the exact code. */
static void
expect_code(bctx *b, const tu_buf *wire, int code, const char *what)
{
    size_t npk = 0;
    int r = feed_and_pull(b->rx, wire->p, wire->len, b->m == M_CBC ? cbc_bound(b) : 64, &npk);
    char tag[320];
    code = cbc_code(b->m, code);
    snprintf(tag, sizeof(tag), "%s: %s", b->tag, what);
    if (r != code)
        fail_msg("%s: got %s (%d), want %s", tag, sshbpp_err_name(r), r, sshbpp_err_name(code));
    if (npk != 0)
        fail_msg("%s: %zu packet(s) returned before the failure", tag, npk);
    assert_closed(b->rx, code, tag);
    sshbpp_stats st;
    sshbpp_engine_get_stats(b->rx, SSHBPP_DIR_IN, &st);
    assert_int_equal(st.total_packets, 0);
    assert_int_equal(st.seqno, 0);
}

/* ---- class 1: packet_length bounds ------------------------------------------ */

static void
test_pktlen_short(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        for (uint32_t L = 0; L <= 4; L++) {
            bctx b;
            bctx_init(&b, m, 1);
            tu_buf w = {0};
            seal_fields(&b, L, 4, 43, &w); /* 48 plaintext bytes after the length */
            char what[64];
            snprintf(what, sizeof(what), "packet_length %u", L);
            expect_code(&b, &w, SSHBPP_EPKTSHORT, what);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

static void
test_pktlen_long(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        uint32_t lens[40];
        size_t n = 0;
        uint32_t M = mode_max(m);
        size_t bs = (m == M_NONE || m == M_CHACHA) ? 8 : 16;
        lens[n++] = M + 1;
        lens[n++] = M + (uint32_t)bs; /* aligned, one block too many */
        lens[n++] = M + 2 * (uint32_t)bs;
        lens[n++] = SSHBPP_DEFAULT_MAX_PACKET;
        lens[n++] = SSHBPP_MAX_PACKET_LIMIT + 4;
        lens[n++] = 0x7fffffffu;
        lens[n++] = 0x80000000u;
        for (uint32_t v = 0xfffffff0u;; v++) {
            lens[n++] = v;
            if (v == 0xffffffffu)
                break;
        }
        for (size_t i = 0; i < n; i++) {
            bctx b;
            bctx_init(&b, m, 1);
            tu_buf w = {0};
            seal_fields(&b, lens[i], 4, 43, &w);
            char what[64];
            snprintf(what, sizeof(what), "packet_length 0x%08x (max %u)", lens[i], b.max);
            expect_code(&b, &w, SSHBPP_EPKTLONG, what);
            tu_buf_free(&w);
            bctx_free(&b);
        }
        /* default maximum (256 KiB): one above it */
        {
            bctx b;
            bctx_init(&b, m, 0);
            tu_buf w = {0};
            uint32_t L = SSHBPP_DEFAULT_MAX_PACKET + (uint32_t)bs;
            if (!lenclear(m))
                L -= 4; /* keep it aligned so only the size is wrong */
            seal_fields(&b, L, 4, 43, &w);
            expect_code(&b, &w, SSHBPP_EPKTLONG, "packet_length above the default maximum");
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

/* Exactly the maximum is accepted, fed whole and one byte at a time. */
static void
test_pktlen_max_accepted(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            bctx b;
            bctx_init(&b, m, 1);
            uint32_t L = b.max;
            assert_true(aligned(&b, L));
            const uint8_t padlen = 16;
            size_t body = L - 1 - padlen;
            tu_buf w = {0};
            seal_fields(&b, L, padlen, body, &w);
            assert_int_equal(w.len, 4 + L + tu_keyset_maclen(&b.ks));
            tu_pktlist l = {0};
            int r = tu_feed_chunks(b.rx, w.p, w.len, bytewise ? 1 : 0, &l, NULL, NULL);
            if (r != 0)
                fail_msg("%s: packet_length == max (%u): %s", b.tag, L, sshbpp_err_name(r));
            assert_int_equal(l.n, 1);
            assert_int_equal(l.v[0].len, body);
            assert_int_equal(l.v[0].type, 94);
            tu_pktlist_free(&l);
            tu_buf_free(&w);
            bctx_free(&b);
        }
        /* the largest padding (255) is fine too */
        {
            bctx b;
            bctx_init(&b, m, 1);
            uint32_t L = 300;
            while (!aligned(&b, L))
                L++;
            tu_buf w = {0};
            seal_fields(&b, L, 255, L - 256, &w);
            tu_pktlist l = {0};
            int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
            if (r != 0)
                fail_msg("%s: padding 255: %s", b.tag, sshbpp_err_name(r));
            assert_int_equal(l.n, 1);
            assert_int_equal(l.v[0].len, L - 256);
            tu_pktlist_free(&l);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

/* ---- class 2: block alignment ----------------------------------------------- */

static void
test_block_align(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        bctx probe;
        bctx_init(&probe, m, 1);
        size_t bs = mode_bs(&probe);
        uint32_t base = lenclear(m) ? 64 : 60;
        assert_true(aligned(&probe, base));
        bctx_free(&probe);
        for (uint32_t d = 1; d < bs; d++) {
            bctx b;
            bctx_init(&b, m, 1);
            uint32_t L = base + d;
            tu_buf w = {0};
            seal_fields(&b, L, 4, L - 5, &w); /* a complete, correctly MACed body */
            char what[64];
            snprintf(what, sizeof(what), "packet_length %u (bs %zu)", L, bs);
            expect_code(&b, &w, SSHBPP_EBLOCKALIGN, what);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

/* ---- classes 3 and 4: padding_length ---------------------------------------- */

static void
test_padding_short(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        for (uint8_t pad = 0; pad < 4; pad++) {
            bctx b;
            bctx_init(&b, m, 0);
            uint32_t L = lenclear(m) ? 32 : 28;
            tu_buf w = {0};
            seal_fields(&b, L, pad, L - 1 - pad, &w);
            char what[64];
            snprintf(what, sizeof(what), "padding_length %u", pad);
            expect_code(&b, &w, SSHBPP_EPADSHORT, what);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

static void
test_padding_empty_payload(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        uint32_t lens[2] = {lenclear(m) ? 32u : 28u, lenclear(m) ? 256u : 252u};
        for (int i = 0; i < 2; i++) {
            bctx b;
            bctx_init(&b, m, 0);
            uint32_t L = lens[i];
            tu_buf w = {0};
            seal_fields(&b, L, (uint8_t)(L - 1), 0, &w);
            char what[64];
            snprintf(what, sizeof(what), "padding_length %u = packet_length - 1", L - 1);
            expect_code(&b, &w, SSHBPP_EEMPTY, what);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

static void
test_padding_long(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        const uint32_t L = lenclear(m) ? 32 : 28;
        const uint32_t L2 = lenclear(m) ? 240 : 236;
        struct {
            uint32_t L;
            unsigned pad;
        } cases[] = {{L, L}, {L, L + 1}, {L, L + 2}, {L, 255}, {L2, L2}, {L2, 255}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            bctx b;
            bctx_init(&b, m, 0);
            tu_buf w = {0};
            /* the plaintext body is exactly what the length says: the
             * padding byte claims more than the packet holds */
            {
                size_t n = 4 + cases[i].L;
                uint8_t *pt = calloc(1, n + 300);
                assert_non_null(pt);
                tu_put_be32(pt, cases[i].L);
                pt[4] = (uint8_t)cases[i].pad;
                memset(pt + 5, 0x33, n - 5);
                assert_int_equal(tu_seal(&b.s, pt, n, &w), 0);
                free(pt);
            }
            char what[80];
            snprintf(what, sizeof(what), "padding_length %u >= packet_length %u", cases[i].pad,
                     cases[i].L);
            expect_code(&b, &w, SSHBPP_EPADLONG, what);
            tu_buf_free(&w);
            bctx_free(&b);
        }
        /* one below the packet minus one: a 1-byte payload, accepted */
        {
            bctx b;
            bctx_init(&b, m, 0);
            tu_buf w = {0};
            seal_fields(&b, L2, (uint8_t)(L2 - 2), 1, &w);
            tu_pktlist l = {0};
            int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
            if (r != 0)
                fail_msg("%s: padding_length = packet_length - 2: %s", b.tag,
                         sshbpp_err_name(r));
            assert_int_equal(l.n, 1);
            assert_int_equal(l.v[0].len, 1);
            tu_pktlist_free(&l);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

/* ---- class 5: bit flips ----------------------------------------------------- */

static const uint8_t M2[] = {0x5e, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x26, 'h', 'e', 'l',
                             'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', ',', ' ', 't', 'h',
                             'i', 's', ' ', 'i', 's', ' ', 'a', ' ', 'l', 'o', 'n', 'g',
                             'e', 'r', ' ', 'p', 'a', 'y', 'l', 'o', 'a', 'd', '!'};

/* The code a flipped length must give, or auth failure if the new length
 * is plausible (the engine then waits for more and the MAC/tag fails). */
static int
predict_len_flip(const bctx *b, uint32_t L)
{
    if (L < 5)
        return SSHBPP_EPKTSHORT;
    if (L > b->max)
        return SSHBPP_EPKTLONG;
    if (!aligned(b, L))
        return SSHBPP_EBLOCKALIGN;
    return auth_err(b->m);
}

static void
test_bitflip_every_position(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t m = 1; m < NMODES; m++) { /* "none" has nothing to authenticate */
        tu_buf good = {0};
        {
            bctx b;
            bctx_init(&b, m, 1);
            seal_valid(&b, M2, sizeof(M2), &good);
            /* sanity: the unmodified packet is accepted */
            tu_pktlist l = {0};
            assert_int_equal(tu_feed_chunks(b.rx, good.p, good.len, 0, &l, NULL, NULL), 0);
            assert_int_equal(l.n, 1);
            assert_memory_equal(l.v[0].payload, M2, sizeof(M2));
            tu_pktlist_free(&l);
            bctx_free(&b);
        }
        uint32_t L;
        {
            bctx probe;
            bctx_init(&probe, m, 1);
            L = (uint32_t)(good.len - 4 - tu_keyset_maclen(&probe.ks));
            bctx_free(&probe);
        }
        for (size_t pos = 0; pos < good.len; pos++) {
            for (int bit = 0; bit < 8; bit++) {
                bctx b;
                bctx_init(&b, m, 1);
                uint8_t *w = malloc(good.len);
                assert_non_null(w);
                memcpy(w, good.p, good.len);
                w[pos] ^= (uint8_t)(1u << bit);
                size_t npk = 0;
                int r = feed_and_pull(b.rx, w, good.len, b.max + 256, &npk);
                free(w);
                char what[256];
                snprintf(what, sizeof(what), "%s: flip byte %zu bit %d", b.tag, pos, bit);
                if (npk != 0)
                    fail_msg("%s: a packet was returned", what);
                int ok;
                int want;
                if (pos < 4 && m != M_CBC) {
                    /* CTR / EtM / GCM / chacha: the flip lands in the length */
                    uint32_t L2 = L ^ ((uint32_t)1u << (8 * (3 - pos) + (size_t)bit));
                    want = predict_len_flip(&b, L2);
                    ok = r == want;
                } else if (m == M_CBC) {
                    /* CBC + E&M: a garbage length and a bad MAC look alike */
                    want = SSHBPP_EMAC;
                    ok = r == want;
                } else {
                    want = auth_err(m);
                    ok = r == want;
                }
                if (!ok)
                    fail_msg("%s: got %s, want %s", what, sshbpp_err_name(r),
                             sshbpp_err_name(want));
                assert_closed(b.rx, r, what);
                sshbpp_stats st;
                sshbpp_engine_get_stats(b.rx, SSHBPP_DIR_IN, &st);
                assert_int_equal(st.seqno, 0);
                assert_int_equal(st.total_packets, 0);
                checked++;
                bctx_free(&b);
            }
        }
        tu_buf_free(&good);
    }
    print_message("%zu bit flips checked\n", checked);
    assert_true(checked > 1000);
}

/* A wrong MAC/tag on the second packet: the first is returned, the second
 * is not, and the inbound sequence number stays at 1. */
static void
test_auth_failure_keeps_seqno(void **state)
{
    (void)state;
    for (size_t m = 1; m < NMODES; m++) {
        for (int where = 0; where < 2; where++) { /* 0: last tag byte, 1: middle of body */
            bctx b;
            bctx_init(&b, m, 0);
            tu_buf w = {0};
            seal_valid(&b, M2, sizeof(M2), &w);
            size_t first = w.len;
            seal_valid(&b, M2, sizeof(M2), &w);
            if (where == 0)
                w.p[w.len - 1] ^= 0x80;
            else
                w.p[first + 20] ^= 0x01;
            tu_pktlist l = {0};
            int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
            if (m == M_CBC && r == 0) {
                /* discarding: the rest of the bound arrives */
                size_t more = cbc_bound(&b) - (w.len - first);
                uint8_t *z = calloc(1, more);
                assert_non_null(z);
                r = tu_feed_chunks(b.rx, z, more, 0, &l, NULL, NULL);
                free(z);
            }
            if (r != auth_err(m))
                fail_msg("%s: bad second packet: %s, want %s", b.tag, sshbpp_err_name(r),
                         sshbpp_err_name(auth_err(m)));
            assert_int_equal(l.n, 1);
            assert_int_equal(l.v[0].seqno, 0);
            sshbpp_stats st;
            sshbpp_engine_get_stats(b.rx, SSHBPP_DIR_IN, &st);
            assert_int_equal(st.seqno, 1);
            assert_int_equal(st.total_packets, 1);
            assert_closed(b.rx, r, b.tag);
            tu_pktlist_free(&l);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

/* chacha20-poly1305@openssh.com: the length the receiver decrypts from the
 * first 4 wire bytes with the header key (the second 32 bytes of the key)
 * under sequence number seq. An independent computation with OpenSSL's
 * ChaCha20 (16-byte IV: 64-bit block counter 0, then the 64-bit nonce). */
static uint32_t
chacha_len(const tu_keyset *ks, const uint8_t *wire, uint32_t seq)
{
    uint8_t iv[16] = {0}, out[4];
    int n = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    assert_non_null(c);
    tu_put_be32(iv + 12, seq);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_chacha20(), NULL, ks->key + 32, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &n, wire, 4), 1);
    assert_int_equal(n, 4);
    EVP_CIPHER_CTX_free(c);
    return tu_be32(out);
}

/* A packet sealed for the wrong sequence number (replay / reordering), in
 * every mode, with one exact expected code each:
 *  - none: nothing binds the number; the packet is accepted (stated, not
 *    skipped: without keys there is no integrity);
 *  - E&M, EtM: the MAC covers the number: the MAC error (CBC: after the
 *    discard bound);
 *  - GCM: the number is not in the MAC, but the invocation counter is:
 *    the second packet delivered first fails its tag;
 *  - chacha: the length is decrypted under the wrong nonce; the code is the
 *    one that garbage length earns (computed independently), else the tag. */
static void
test_wrong_seqno_rejected(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        bctx b;
        bctx_init(&b, m, 0);
        tu_buf w = {0};
        int want;
        if (m == M_GCM) {
            tu_buf first = {0};
            seal_valid(&b, M2, sizeof(M2), &first); /* invocation 0, never delivered */
            tu_buf_free(&first);
        } else {
            b.s.seqno = 1; /* the receiver expects 0 */
        }
        seal_valid(&b, M2, sizeof(M2), &w);
        if (m == M_NONE)
            want = 0;
        else if (m == M_CHACHA)
            want = predict_len_flip(&b, chacha_len(&b.ks, w.p, 0));
        else
            want = auth_err(m);
        size_t npk = 0;
        int r = feed_and_pull(b.rx, w.p, w.len,
                              m == M_NONE ? 0 : m == M_CBC ? cbc_bound(&b) : b.max + 64, &npk);
        if (m == M_NONE) {
            if (r != 0 || npk != 1)
                fail_msg("%s: wrong seqno: %s, %zu packets; want the packet", b.tag,
                         sshbpp_err_name(r), npk);
        } else {
            if (r != want)
                fail_msg("%s: wrong seqno: %s, want %s", b.tag, sshbpp_err_name(r),
                         sshbpp_err_name(want));
            assert_int_equal(npk, 0);
            assert_closed(b.rx, want, b.tag);
        }
        tu_buf_free(&w);
        bctx_free(&b);
    }
}

/* ---- class 11: short reads at every offset ----------------------------------- */

static void
test_every_prefix_needs_more(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        tu_buf w = {0};
        bctx gen;
        bctx_init(&gen, m, 0);
        seal_valid(&gen, M2, sizeof(M2), &w);
        size_t first = w.len;
        static const uint8_t m1[] = {100, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0, 3, 0x84};
        seal_valid(&gen, m1, sizeof(m1), &w);
        bctx_free(&gen);
        for (size_t p = 0; p < first; p++) {
            bctx b;
            bctx_init(&b, m, 0);
            sshbpp_packet pkt;
            if (p > 0)
                assert_int_equal(sshbpp_engine_feed(b.rx, w.p, p), 0);
            int r = sshbpp_engine_rx_next(b.rx, &pkt);
            if (r != SSHBPP_EAGAIN)
                fail_msg("%s: prefix of %zu/%zu bytes: rx_next = %s, want SSHBPP_EAGAIN", b.tag, p, first,
                         sshbpp_err_name(r));
            assert_int_equal(sshbpp_engine_error(b.rx), 0);
            assert_int_equal(sshbpp_engine_rx_in_packet(b.rx), p > 0);
            assert_int_equal(sshbpp_engine_rx_pending(b.rx) <= p, 1);
            /* asking again changes nothing */
            assert_int_equal(sshbpp_engine_rx_next(b.rx, &pkt), SSHBPP_EAGAIN);
            /* the rest (plus the next packet) completes both */
            tu_pktlist l = {0};
            r = sshbpp_engine_feed(b.rx, w.p + p, w.len - p);
            assert_int_equal(r, 0);
            r = tu_drain(b.rx, &l, NULL, NULL);
            if (r != 0 || l.n != 2)
                fail_msg("%s: after prefix %zu: %s, %zu packets", b.tag, p, sshbpp_err_name(r),
                         l.n);
            assert_memory_equal(l.v[0].payload, M2, sizeof(M2));
            assert_int_equal(l.v[1].len, sizeof(m1));
            assert_int_equal(l.v[1].seqno, 1);
            assert_int_equal(sshbpp_engine_rx_pending(b.rx), 0);
            tu_pktlist_free(&l);
            bctx_free(&b);
        }
        tu_buf_free(&w);
    }
}

/* ---- failure isolation -------------------------------------------------------- */

/* A bad packet followed by a good one in the same feed: the good one is
 * never returned, and what follows the failing packet is not consumed. */
static void
test_nothing_after_failure(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        for (int kind = 0; kind < 2; kind++) {
            bctx b;
            bctx_init(&b, m, 0);
            tu_buf w = {0};
            uint32_t L = lenclear(m) ? 32 : 28;
            int want;
            if (kind == 0) {
                seal_fields(&b, L, 2, L - 3, &w); /* padding 2 */
                want = SSHBPP_EPADSHORT;
            } else {
                if (m == M_NONE) {
                    bctx_free(&b);
                    continue;
                }
                seal_valid(&b, M2, sizeof(M2), &w);
                w.p[w.len - 1] ^= 1;
                want = auth_err(m);
            }
            size_t bad_len = w.len;
            seal_valid(&b, M2, sizeof(M2), &w);
            size_t good_len = w.len - bad_len, keep = w.len;
            /* CBC + E&M discards up to its bound (pinned here 7 bytes into
             * the following packet) and then reports the MAC error. */
            if (m == M_CBC) {
                sshbpp__engine_test_pin_discard(b.rx, bad_len + 7);
                want = SSHBPP_EMAC;
                keep = good_len - 7;
            }
            tu_pktlist l = {0};
            int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
            if (r != want)
                fail_msg("%s: bad+good: %s, want %s", b.tag, sshbpp_err_name(r),
                         sshbpp_err_name(want));
            assert_int_equal(l.n, 0);
            /* Nothing was consumed (the failing packet stays where it
             * was), or for CBC exactly the discard bound: the following
             * packet is never taken, not even in part. */
            size_t pend = sshbpp_engine_rx_pending(b.rx);
            if (pend != keep)
                fail_msg("%s: after the failure rx_pending = %zu, want %zu (the following "
                         "packet has %zu bytes)",
                         b.tag, pend, keep, good_len);
            assert_closed(b.rx, want, b.tag);
            sshbpp_stats st;
            sshbpp_engine_get_stats(b.rx, SSHBPP_DIR_IN, &st);
            assert_int_equal(st.total_packets, 0);
            tu_pktlist_free(&l);
            tu_buf_free(&w);
            bctx_free(&b);
        }
    }
}

/* The sticky error reaches every entry point, including the send side and
 * the version-line helpers, and a later fail() does not replace it. */
static void
test_sticky_everywhere(void **state)
{
    (void)state;
    bctx b;
    bctx_init(&b, M_CTR, 0);
    tu_buf w = {0};
    seal_fields(&b, 28, 3, 24, &w);
    tu_pktlist l = {0};
    assert_int_equal(tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL), SSHBPP_EPADSHORT);
    assert_int_equal(l.n, 0);
    sshbpp_engine *e = b.rx;
    const int code = SSHBPP_EPADSHORT;
    assert_closed(e, code, "sticky");
    uint8_t buf[32];
    assert_int_equal(sshbpp_engine_tx_raw(e, "SSH-2.0-x\r\n", 11), code);
    assert_int_equal(sshbpp_engine_rx_take(e, buf, sizeof(buf)), code);
    char line[64];
    size_t ll = 0;
    assert_int_equal(sshbpp_engine_rx_line(e, line, sizeof(line), &ll), code);
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha1", 9), 0);
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_OUT, &ks.k), code);
    assert_int_equal(sshbpp_engine_set_keys(e, SSHBPP_DIR_IN, &ks.k), code);
    assert_int_equal(sshbpp_engine_set_compression(e, SSHBPP_DIR_OUT, "zlib"), code);
    assert_int_equal(sshbpp_engine_fail(e, SSHBPP_EEOF), code);
    sshbpp_engine_close(e);
    assert_int_equal(sshbpp_engine_error(e), code);
    tu_pktlist_free(&l);
    tu_buf_free(&w);
    bctx_free(&b);
}

/* ---- compression -------------------------------------------------------------- */

/* Deflates in[0..n) as one Z_PARTIAL_FLUSH chunk of a fresh stream. */
static void
deflate_chunk(const uint8_t *in, size_t n, tu_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit(&zs, 6), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    uint8_t *o = malloc(cap);
    assert_non_null(o);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = o;
    zs.avail_out = (uInt)cap;
    int r = deflate(&zs, Z_PARTIAL_FLUSH);
    assert_int_equal(r, Z_OK);
    assert_int_equal(zs.avail_in, 0);
    tu_buf_append(out, o, cap - zs.avail_out);
    deflateEnd(&zs);
    free(o);
}

static void
zlib_case(size_t m, size_t plain_len, int small_max, int want, const char *what)
{
    bctx b;
    bctx_init(&b, m, small_max);
    if (small_max) {
        /* the decompressed bound is the maximum packet size itself */
        assert_int_equal(sshbpp_engine_set_max_packet(b.rx, 35000), 0);
        b.max = 35000;
    }
    assert_int_equal(sshbpp_engine_set_compression(b.rx, SSHBPP_DIR_IN, "zlib"), 0);
    uint8_t *plain = malloc(plain_len);
    assert_non_null(plain);
    memset(plain, 0, plain_len);
    plain[0] = 94;
    tu_buf z = {0}, w = {0};
    deflate_chunk(plain, plain_len, &z);
    seal_valid(&b, z.p, z.len, &w);
    tu_pktlist l = {0};
    int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
    char tag[200];
    snprintf(tag, sizeof(tag), "%s: %s (%zu -> %zu bytes)", b.tag, what, plain_len, z.len);
    if (r != want)
        fail_msg("%s: got %s, want %s", tag, sshbpp_err_name(r), sshbpp_err_name(want));
    if (want == 0) {
        assert_int_equal(l.n, 1);
        assert_int_equal(l.v[0].len, plain_len);
        assert_memory_equal(l.v[0].payload, plain, plain_len);
    } else {
        assert_int_equal(l.n, 0);
        assert_closed(b.rx, want, tag);
    }
    tu_pktlist_free(&l);
    tu_buf_free(&z);
    tu_buf_free(&w);
    free(plain);
    bctx_free(&b);
}

static void
test_decompression_bomb(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODES; m++) {
        zlib_case(m, 35000, 1, 0, "decompressed == max (35000)");
        zlib_case(m, 35001, 1, SSHBPP_EDECOMPLONG, "decompressed = max + 1");
        zlib_case(m, 40000, 1, SSHBPP_EDECOMPLONG, "decompressed above max");
        zlib_case(m, 4u << 20, 0, SSHBPP_EDECOMPLONG, "4 MiB bomb, default max");
    }
}

static void
corrupt_case(size_t m, const uint8_t *payload, size_t len, const char *what)
{
    bctx b;
    bctx_init(&b, m, 0);
    assert_int_equal(sshbpp_engine_set_compression(b.rx, SSHBPP_DIR_IN, "zlib"), 0);
    tu_buf w = {0};
    seal_valid(&b, payload, len, &w);
    tu_pktlist l = {0};
    int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
    if (r != SSHBPP_EDECOMP)
        fail_msg("%s: %s: got %s, want SSHBPP_EDECOMP", b.tag, what, sshbpp_err_name(r));
    assert_int_equal(l.n, 0);
    assert_closed(b.rx, SSHBPP_EDECOMP, what);
    tu_pktlist_free(&l);
    tu_buf_free(&w);
    bctx_free(&b);
}

static void
test_decompression_corrupt(void **state)
{
    (void)state;
    static const uint8_t bad_header[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02, 0x03};
    static const uint8_t bad_block[] = {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00};
    for (size_t m = 0; m < NMODES; m++) {
        corrupt_case(m, bad_header, sizeof(bad_header), "bad zlib header");
        corrupt_case(m, bad_block, sizeof(bad_block), "invalid deflate block type");
    }
    /* a good first packet, then garbage in the continuing stream */
    bctx b;
    bctx_init(&b, M_CTR, 0);
    assert_int_equal(sshbpp_engine_set_compression(b.rx, SSHBPP_DIR_IN, "zlib"), 0);
    tu_buf z = {0}, w = {0};
    deflate_chunk(M2, sizeof(M2), &z);
    seal_valid(&b, z.p, z.len, &w);
    static const uint8_t garbage[] = {0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa};
    seal_valid(&b, garbage, sizeof(garbage), &w);
    tu_pktlist l = {0};
    int r = tu_feed_chunks(b.rx, w.p, w.len, 0, &l, NULL, NULL);
    assert_int_equal(r, SSHBPP_EDECOMP);
    assert_int_equal(l.n, 1);
    assert_memory_equal(l.v[0].payload, M2, sizeof(M2));
    tu_pktlist_free(&l);
    tu_buf_free(&z);
    tu_buf_free(&w);
    bctx_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pktlen_short),
        cmocka_unit_test(test_pktlen_long),
        cmocka_unit_test(test_pktlen_max_accepted),
        cmocka_unit_test(test_block_align),
        cmocka_unit_test(test_padding_short),
        cmocka_unit_test(test_padding_empty_payload),
        cmocka_unit_test(test_padding_long),
        cmocka_unit_test(test_bitflip_every_position),
        cmocka_unit_test(test_auth_failure_keeps_seqno),
        cmocka_unit_test(test_wrong_seqno_rejected),
        cmocka_unit_test(test_every_prefix_needs_more),
        cmocka_unit_test(test_nothing_after_failure),
        cmocka_unit_test(test_sticky_everywhere),
        cmocka_unit_test(test_decompression_bomb),
        cmocka_unit_test(test_decompression_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
