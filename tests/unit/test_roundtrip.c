/*
 * test_roundtrip.c: every supported cipher x MAC x {none, zlib}: engine A
 * sends a stream of messages of varied sizes, engine B receives it fed all
 * at once, (mostly) one byte at a time, and in random pieces; payloads,
 * types, sequence numbers and statistics must agree. Mid-stream rekey,
 * random extra padding and pad_next() are exercised too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

typedef struct combo {
    const char *cipher;
    const char *mac;
} combo;

static combo combos[512];
static size_t ncombos;

static int
is_none(const char *s)
{
    return s == NULL || strcmp(s, "none") == 0;
}

static void
build_combos(void)
{
    if (ncombos)
        return;
    const char *const *cs = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    const char *const *ms = sshbpp_alg_list(SSHBPP_ALG_MAC);
    assert_non_null(cs);
    assert_non_null(ms);
    assert_non_null(cs[0]);
    assert_non_null(ms[0]);
    int saw_none = 0;
    for (size_t i = 0; cs[i]; i++) {
        sshbpp_cipher_info ci;
        if (is_none(cs[i])) {
            saw_none = 1;
            combos[ncombos++] = (combo){cs[i], "none"};
            continue;
        }
        assert_int_equal(sshbpp_cipher_get_info(cs[i], &ci), 0);
        if (ci.aead) {
            combos[ncombos++] = (combo){cs[i], NULL};
            continue;
        }
        for (size_t j = 0; ms[j]; j++) {
            assert_true(ncombos < sizeof(combos) / sizeof(combos[0]));
            combos[ncombos++] = (combo){cs[i], ms[j]};
        }
    }
    if (!saw_none)
        combos[ncombos++] = (combo){"none", "none"};
}

/* ---- one stream ----------------------------------------------------------- */

#define NMSG 20
#define REKEY_AFTER 9 /* B switches keys after it has returned message #9 */

typedef struct stream {
    uint8_t *msg[NMSG];
    size_t len[NMSG];
    tu_buf wire;
    size_t off[NMSG + 1]; /* wire offset of each packet */
} stream;

static void
stream_free(stream *s)
{
    for (size_t i = 0; i < NMSG; i++)
        free(s->msg[i]);
    tu_buf_free(&s->wire);
}

typedef struct rx_ctx {
    const tu_keyset *ks2;
    const char *comp;
    int rekey; /* switch keys after REKEY_AFTER */
    int failed;
} rx_ctx;

static int
rx_cb(void *ctx, sshbpp_engine *e, const sshbpp_packet *p, size_t index)
{
    rx_ctx *c = ctx;
    (void)p;
    if (c->rekey && index == REKEY_AFTER) {
        int r = sshbpp_engine_set_keys(e, SSHBPP_DIR_IN, &c->ks2->k);
        if (r != 0) {
            c->failed = r;
            return r;
        }
    }
    return 0;
}

static void
message_sizes(tu_prng *rng, size_t *sizes)
{
    static const size_t fixed[] = {1, 2, 100, 1000, 35000};
    size_t nf = sizeof(fixed) / sizeof(fixed[0]);
    for (size_t i = 0; i < NMSG; i++)
        sizes[i] = i < nf ? fixed[i] : tu_prng_range(rng, 1, (i % 5 == 0) ? 9000 : 700);
}

/* Checks packet_length / padding arithmetic of the packet at wire offset
 * [a, b) carrying an uncompressed payload of len bytes. */
static void
check_wire_math(const char *tag, const tu_keyset *ks, const uint8_t *w, size_t wl, size_t len,
                int check_padding_exact)
{
    size_t maclen = tu_keyset_maclen(ks);
    size_t bs = tu_keyset_bs(ks);
    if (wl < 4 + maclen + 1 + len + 4)
        fail_msg("%s: wire packet of %zu bytes too short for a %zu-byte payload", tag, wl, len);
    size_t packet_length = wl - 4 - maclen;
    size_t padlen = packet_length - 1 - len;
    if (padlen < 4 || padlen > 255)
        fail_msg("%s: padding_length %zu out of [4,255]", tag, padlen);
    if (tu_keyset_lenclear(ks)) {
        if (packet_length % bs)
            fail_msg("%s: packet_length %zu not a multiple of %zu", tag, packet_length, bs);
    } else if ((packet_length + 4) % bs) {
        fail_msg("%s: packet_length+4 = %zu not a multiple of %zu", tag, packet_length + 4, bs);
    }
    if (check_padding_exact && padlen != tu_std_padding(ks, len))
        fail_msg("%s: padding %zu, want the standard %zu", tag, padlen, tu_std_padding(ks, len));
    if (!ks->has_cipher) {
        /* plaintext: the fields are directly visible */
        if (tu_be32(w) != packet_length)
            fail_msg("%s: length field %u, want %zu", tag, tu_be32(w), packet_length);
        if (w[4] != padlen)
            fail_msg("%s: padding field %u, want %zu", tag, w[4], padlen);
        for (size_t i = 0; i < padlen; i++)
            if (w[5 + len + i] != 0)
                fail_msg("%s: no-cipher padding byte %zu is %02x, want 00", tag, i,
                         w[5 + len + i]);
    }
}

static void
check_packets(const char *tag, const stream *s, const tu_pktlist *l)
{
    if (l->n != NMSG)
        fail_msg("%s: received %zu packets, want %d", tag, l->n, NMSG);
    for (size_t i = 0; i < NMSG; i++) {
        if (l->v[i].len != s->len[i] || memcmp(l->v[i].payload, s->msg[i], s->len[i]) != 0)
            fail_msg("%s: payload #%zu differs (len %zu, want %zu)", tag, i, l->v[i].len,
                     s->len[i]);
        if (l->v[i].type != s->msg[i][0])
            fail_msg("%s: type #%zu = %u, want %u", tag, i, l->v[i].type, s->msg[i][0]);
        if (l->v[i].seqno != i)
            fail_msg("%s: seqno #%zu = %u", tag, i, l->v[i].seqno);
    }
}

static void
check_stats(const char *tag, sshbpp_engine *a, sshbpp_engine *b)
{
    sshbpp_stats so, si;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &so);
    sshbpp_engine_get_stats(b, SSHBPP_DIR_IN, &si);
    if (so.seqno != si.seqno || so.packets != si.packets || so.bytes != si.bytes ||
        so.total_packets != si.total_packets || so.total_bytes != si.total_bytes ||
        so.total_payload != si.total_payload || so.rekeys != si.rekeys)
        fail_msg("%s: stats differ: out seq %u pk %llu by %llu tpk %llu tby %llu tpl %llu rk %llu"
                 " / in seq %u pk %llu by %llu tpk %llu tby %llu tpl %llu rk %llu",
                 tag, so.seqno, (unsigned long long)so.packets, (unsigned long long)so.bytes,
                 (unsigned long long)so.total_packets, (unsigned long long)so.total_bytes,
                 (unsigned long long)so.total_payload, (unsigned long long)so.rekeys, si.seqno,
                 (unsigned long long)si.packets, (unsigned long long)si.bytes,
                 (unsigned long long)si.total_packets, (unsigned long long)si.total_bytes,
                 (unsigned long long)si.total_payload, (unsigned long long)si.rekeys);
}

enum { FEED_ALL = 0, FEED_BYTES, FEED_RANDOM, FEED_MODES };

static void
run_combo(size_t ci, const char *comp, int rekey, uint64_t seed)
{
    const combo *c = &combos[ci];
    const combo *c2 = &combos[(ci + 1) % ncombos];
    char tag[256];
    snprintf(tag, sizeof(tag), "%s/%s/%s%s", c->cipher, c->mac ? c->mac : "-", comp,
             rekey ? "+rekey" : "");

    tu_keyset ks1, ks2;
    assert_int_equal(tu_keyset_make(&ks1, c->cipher, c->mac, (uint8_t)(ci + 1)), 0);
    assert_int_equal(tu_keyset_make(&ks2, c2->cipher, c2->mac, (uint8_t)(ci + 101)), 0);

    tu_prng rng, padrng;
    tu_prng_seed(&rng, seed);
    tu_prng_seed(&padrng, seed ^ 0xabcdefu);
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine_set_rng(a, tu_rng_prng, &padrng);
    int r = tu_set_keys_pair(a, NULL, &ks1);
    if (r != 0)
        fail_msg("%s: set_keys OUT: %s", tag, sshbpp_err_name(r));
    assert_int_equal(sshbpp_engine_set_compression(a, SSHBPP_DIR_OUT, comp), 0);

    stream s;
    memset(&s, 0, sizeof(s));
    size_t sizes[NMSG];
    message_sizes(&rng, sizes);
    int compressed = strcmp(comp, "none") != 0;
    for (size_t i = 0; i < NMSG; i++) {
        s.len[i] = sizes[i];
        s.msg[i] = malloc(sizes[i]);
        assert_non_null(s.msg[i]);
        tu_prng_bytes(&rng, s.msg[i], sizes[i]);
        if (compressed && i % 3 == 0 && sizes[i] > 8) /* something compressible too */
            memset(s.msg[i] + 1, 'x', sizes[i] / 2);
        s.off[i] = s.wire.len;
        r = sshbpp_engine_send(a, s.msg[i], s.len[i]);
        if (r != 0)
            fail_msg("%s: send #%zu (%zu bytes): %s", tag, i, s.len[i], sshbpp_err_name(r));
        size_t got = tu_take_tx(a, &s.wire);
        const tu_keyset *cur = (rekey && i > REKEY_AFTER) ? &ks2 : &ks1;
        if (!compressed) {
            char t2[300];
            snprintf(t2, sizeof(t2), "%s msg #%zu", tag, i);
            check_wire_math(t2, cur, s.wire.p + s.off[i], got, s.len[i], 1);
        }
        if (rekey && i == REKEY_AFTER) {
            r = tu_set_keys_pair(a, NULL, &ks2);
            if (r != 0)
                fail_msg("%s: rekey set_keys OUT: %s", tag, sshbpp_err_name(r));
        }
    }
    s.off[NMSG] = s.wire.len;

    for (int mode = 0; mode < FEED_MODES; mode++) {
        sshbpp_engine *b = tu_engine_new();
        r = tu_set_keys_pair(NULL, b, &ks1);
        if (r != 0)
            fail_msg("%s: set_keys IN: %s", tag, sshbpp_err_name(r));
        assert_int_equal(sshbpp_engine_set_compression(b, SSHBPP_DIR_IN, comp), 0);
        rx_ctx ctx = {&ks2, comp, rekey, 0};
        tu_pktlist l = {0};
        char t2[300];
        snprintf(t2, sizeof(t2), "%s feed %s", tag,
                 mode == FEED_ALL ? "all" : mode == FEED_BYTES ? "bytes" : "random");
        if (mode == FEED_ALL) {
            r = tu_feed_chunks(b, s.wire.p, s.wire.len, 0, &l, rx_cb, &ctx);
        } else if (mode == FEED_BYTES) {
            /* one byte at a time for every packet up to 1100 wire bytes,
             * bigger ones in odd-sized chunks */
            r = 0;
            for (size_t i = 0; i < NMSG && r == 0; i++) {
                size_t wl = s.off[i + 1] - s.off[i];
                size_t chunk = wl <= 1100 ? 1 : 4093;
                size_t before = l.n;
                r = tu_feed_chunks(b, s.wire.p + s.off[i], wl, chunk, &l, rx_cb, &ctx);
                if (r == 0 && l.n != before + 1)
                    fail_msg("%s: packet #%zu fed: %zu packets came out", t2, i, l.n - before);
            }
        } else {
            r = tu_feed_random(b, s.wire.p, s.wire.len, seed + (uint64_t)mode, 5000, &l, rx_cb,
                               &ctx);
        }
        if (r != 0)
            fail_msg("%s: receive failed: %s (%zu packets so far)", t2, sshbpp_err_name(r), l.n);
        check_packets(t2, &s, &l);
        check_stats(t2, a, b);
        assert_int_equal(sshbpp_engine_rx_pending(b), 0);
        assert_int_equal(sshbpp_engine_error(b), 0);
        tu_pktlist_free(&l);
        sshbpp_engine_free(b);
    }
    sshbpp_stats so;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &so);
    assert_int_equal(so.total_packets, NMSG);
    assert_int_equal(so.total_bytes, s.wire.len);
    uint64_t tp = 0;
    for (size_t i = 0; i < NMSG; i++)
        tp += s.len[i];
    assert_int_equal(so.total_payload, tp);
    assert_int_equal(so.rekeys, rekey ? 2 : 1);
    if (rekey)
        assert_int_equal(so.packets, NMSG - REKEY_AFTER - 1);
    stream_free(&s);
    sshbpp_engine_free(a);
}

static void
test_supported_lists(void **state)
{
    (void)state;
    build_combos();
    const char *const *lists[3] = {sshbpp_alg_list(SSHBPP_ALG_CIPHER),
                                   sshbpp_alg_list(SSHBPP_ALG_MAC),
                                   sshbpp_alg_list(SSHBPP_ALG_COMP)};
    for (int k = 0; k < 3; k++) {
        assert_non_null(lists[k]);
        for (size_t i = 0; lists[k][i]; i++)
            for (size_t j = i + 1; lists[k][j]; j++)
                if (strcmp(lists[k][i], lists[k][j]) == 0)
                    fail_msg("duplicate name %s in list %d", lists[k][i], k);
    }
    assert_null(sshbpp_alg_list(99));
    /* the names the tests and the spec rely on */
    static const char *need_c[] = {"aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-cbc",
                                   "aes192-cbc", "aes256-cbc", "3des-cbc",
                                   "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                                   "chacha20-poly1305@openssh.com"};
    static const char *need_m[] = {"hmac-sha2-256", "hmac-sha2-512",
                                   "hmac-sha2-256-etm@openssh.com",
                                   "hmac-sha2-512-etm@openssh.com", "hmac-sha1", "hmac-md5",
                                   "hmac-sha1-96", "hmac-md5-96"};
    for (size_t i = 0; i < sizeof(need_c) / sizeof(need_c[0]); i++) {
        int found = 0;
        for (size_t j = 0; lists[0][j]; j++)
            found |= strcmp(lists[0][j], need_c[i]) == 0;
        if (!found)
            fail_msg("cipher %s not in sshbpp_alg_list", need_c[i]);
    }
    for (size_t i = 0; i < sizeof(need_m) / sizeof(need_m[0]); i++) {
        int found = 0;
        for (size_t j = 0; lists[1][j]; j++)
            found |= strcmp(lists[1][j], need_m[i]) == 0;
        if (!found)
            fail_msg("mac %s not in sshbpp_alg_list", need_m[i]);
    }
    int zl = 0;
    for (size_t j = 0; lists[2][j]; j++)
        zl |= strcmp(lists[2][j], "zlib") == 0;
    assert_true(zl);
    print_message("%zu cipher/mac combinations\n", ncombos);
}

static void
test_info_consistency(void **state)
{
    (void)state;
    const char *const *cs = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    for (size_t i = 0; cs[i]; i++) {
        if (is_none(cs[i]))
            continue;
        sshbpp_cipher_info ci;
        memset(&ci, 0xEE, sizeof(ci));
        assert_int_equal(sshbpp_cipher_get_info(cs[i], &ci), 0);
        assert_true(ci.block_size >= 8);
        assert_true(ci.key_len >= 16 && ci.key_len <= 64);
        if (ci.aead)
            assert_int_equal(ci.tag_len, 16);
        else
            assert_int_equal(ci.tag_len, 0);
        if (strstr(cs[i], "chacha")) {
            assert_int_equal(ci.key_len, 64);
            assert_int_equal(ci.iv_len, 0);
            assert_int_equal(ci.block_size, 8);
        } else if (strstr(cs[i], "gcm")) {
            assert_int_equal(ci.iv_len, 12);
            assert_int_equal(ci.block_size, 16);
        } else {
            assert_int_equal(ci.iv_len, ci.block_size);
        }
    }
    assert_int_equal(sshbpp_cipher_get_info("no-such-cipher", NULL), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp_cipher_get_info(NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_mac_get_info("no-such-mac", NULL), SSHBPP_EUNSUPPORTED);
    assert_int_equal(sshbpp_mac_get_info(NULL, NULL), SSHBPP_EINVAL);
    sshbpp_mac_info mi;
    assert_int_equal(sshbpp_mac_get_info("hmac-sha1-96", &mi), 0);
    assert_int_equal(mi.key_len, 20);
    assert_int_equal(mi.mac_len, 12);
    assert_int_equal(mi.etm, 0);
    assert_int_equal(sshbpp_mac_get_info("hmac-sha2-512-etm@openssh.com", &mi), 0);
    assert_int_equal(mi.key_len, 64);
    assert_int_equal(mi.mac_len, 64);
    assert_int_equal(mi.etm, 1);
}

static void
test_all_combos_plain(void **state)
{
    (void)state;
    build_combos();
    for (size_t i = 0; i < ncombos; i++)
        run_combo(i, "none", 0, 1000 + i);
}

static void
test_all_combos_zlib(void **state)
{
    (void)state;
    build_combos();
    for (size_t i = 0; i < ncombos; i++)
        run_combo(i, "zlib", 0, 2000 + i);
}

static void
test_all_combos_rekey(void **state)
{
    (void)state;
    build_combos();
    for (size_t i = 0; i < ncombos; i++)
        run_combo(i, (i & 1) ? "zlib" : "none", 1, 3000 + i);
}

/* zlib@openssh.com behaves like zlib once switched on. */
static void
test_zlib_openssh_name(void **state)
{
    (void)state;
    build_combos();
    size_t idx = 0;
    for (size_t i = 0; i < ncombos; i++)
        if (strcmp(combos[i].cipher, "aes128-ctr") == 0) {
            idx = i;
            break;
        }
    run_combo(idx, "zlib@openssh.com", 0, 4242);
    run_combo(idx, "zlib@openssh.com", 1, 4243);
}

/* Random extra padding (up to 255) and pad_next(64) keep round-tripping;
 * padding_length stays within [4, 255] and blocks stay aligned.
 * combined = 0: packets 0..19 with random padding, 20..39 without, and
 * pad_next(64) on packets 22, 25, 31 (the following packet must have the
 * standard padding again). combined = 1: random padding on throughout and
 * pad_next(64) on every other packet: pad_next's alignment must still hold
 * wherever the 255-byte limit allows it. */
static void
run_padding(size_t ci, uint64_t seed, int combined)
{
    const combo *c = &combos[ci];
    char tag[256];
    snprintf(tag, sizeof(tag), "padding%s %s/%s", combined ? "+pad_next" : "", c->cipher,
             c->mac ? c->mac : "-");
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, c->cipher, c->mac, (uint8_t)(ci + 7)), 0);
    tu_prng rng, padrng;
    tu_prng_seed(&rng, seed);
    tu_prng_seed(&padrng, seed * 3 + 1);
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    sshbpp_engine_set_rng(a, tu_rng_prng, &padrng);
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    assert_int_equal(sshbpp_engine_set_random_padding(a, 255), 0);
    size_t bs = tu_keyset_bs(&ks);
    size_t std_max = bs + 3;
    size_t maxpad = 0;
    const size_t n = 40;
    int prev_padnext = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = tu_prng_range(&rng, 1, 300);
        int padnext = combined ? (i % 2 == 1) : (i == 22 || i == 25 || i == 31);
        int random_on = combined || i < 20;
        if (!combined && i == 20)
            assert_int_equal(sshbpp_engine_set_random_padding(a, 0), 0);
        if (padnext)
            assert_int_equal(sshbpp_engine_pad_next(a, 64), 0);
        uint8_t msg[300];
        tu_prng_bytes(&rng, msg, len);
        assert_int_equal(sshbpp_engine_send(a, msg, len), 0);
        tu_buf w = {0};
        tu_take_tx(a, &w);
        char t2[300];
        snprintf(t2, sizeof(t2), "%s msg #%zu len %zu", tag, i, len);
        /* without random padding and without pad_next the padding is the
         * standard one (also right after a pad_next packet) */
        check_wire_math(t2, &ks, w.p, w.len, len, !random_on && !padnext);
        if (!random_on && prev_padnext && !padnext &&
            w.len - 4 - tu_keyset_maclen(&ks) - 1 - len != tu_std_padding(&ks, len))
            fail_msg("%s: pad_next leaked into the following packet", t2);
        size_t plen = w.len - 4 - tu_keyset_maclen(&ks);
        size_t pad = plen - 1 - len;
        if (pad > maxpad && random_on)
            maxpad = pad;
        if (padnext) {
            /* the alignment is required where the limit allows it */
            size_t clear = tu_keyset_lenclear(&ks);
            size_t std = tu_std_padding(&ks, len);
            size_t unit_std = (clear ? 0 : 4) + 1 + len + std;
            size_t need = (64 - unit_std % 64) % 64;
            size_t unit = clear ? plen : plen + 4;
            if (std + need <= 255 && unit % 64 != 0)
                fail_msg("%s: pad_next(64): encrypted length %zu not a multiple of 64 "
                         "(padding %zu)",
                         t2, unit, pad);
        }
        prev_padnext = padnext;
        tu_pktlist l = {0};
        int r = sshbpp_engine_feed(b, w.p, w.len);
        assert_int_equal(r, 0);
        r = tu_drain(b, &l, NULL, NULL);
        if (r != 0)
            fail_msg("%s: receive: %s", t2, sshbpp_err_name(r));
        assert_int_equal(l.n, 1);
        assert_int_equal(l.v[0].len, len);
        assert_memory_equal(l.v[0].payload, msg, len);
        tu_pktlist_free(&l);
        tu_buf_free(&w);
    }
    if (maxpad <= std_max)
        fail_msg("%s: set_random_padding(255) never added extra padding (max %zu)", tag, maxpad);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

static void
test_random_padding(void **state)
{
    (void)state;
    build_combos();
    for (size_t i = 0; i < ncombos; i++)
        run_padding(i, 500 + i, 0);
}

static void
test_pad_next_with_random_padding(void **state)
{
    (void)state;
    build_combos();
    for (size_t i = 0; i < ncombos; i++)
        run_padding(i, 700 + i, 1);
}

static void
test_padding_args(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    assert_int_equal(sshbpp_engine_pad_next(a, 256), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_set_random_padding(a, 256), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_engine_pad_next(a, 255), 0);
    assert_int_equal(sshbpp_engine_pad_next(a, 0), 0); /* cancels */
    assert_int_equal(sshbpp_engine_set_random_padding(a, 0), 0);
    /* after cancel: plain zero padding, standard length */
    uint8_t msg[13] = {100};
    assert_int_equal(sshbpp_engine_send(a, msg, sizeof(msg)), 0);
    size_t n = 0;
    assert_non_null(sshbpp_engine_tx_data(a, &n));
    assert_int_equal(n, 24);
    assert_int_equal(sshbpp_engine_error(a), 0);
    sshbpp_engine_free(a);
}

/* tx_begin / tx_end produce the same bytes as send. */
static void
test_tx_begin_end(void **state)
{
    (void)state;
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256", 3), 0);
    sshbpp_engine *a1 = tu_engine_new();
    sshbpp_engine *a2 = tu_engine_new();
    tu_set_rng_fill(a1, 0);
    tu_set_rng_fill(a2, 0);
    assert_int_equal(tu_set_keys_pair(a1, NULL, &ks), 0);
    assert_int_equal(tu_set_keys_pair(a2, NULL, &ks), 0);
    assert_int_equal(sshbpp_engine_set_compression(a1, SSHBPP_DIR_OUT, "zlib"), 0);
    assert_int_equal(sshbpp_engine_set_compression(a2, SSHBPP_DIR_OUT, "zlib"), 0);
    tu_prng rng;
    tu_prng_seed(&rng, 77);
    for (int i = 0; i < 10; i++) {
        uint8_t msg[2000];
        size_t len = tu_prng_range(&rng, 1, sizeof(msg));
        tu_prng_bytes(&rng, msg, len);
        assert_int_equal(sshbpp_engine_send(a1, msg, len), 0);
        uint8_t *p = sshbpp_engine_tx_begin(a2, len + 100);
        assert_non_null(p);
        memcpy(p, msg, len);
        assert_int_equal(sshbpp_engine_tx_end(a2, len), 0);
    }
    tu_buf w1 = {0}, w2 = {0};
    tu_take_tx(a1, &w1);
    tu_take_tx(a2, &w2);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.p, w2.p, w1.len);
    assert_null(sshbpp_engine_tx_begin(a2, 0));
    tu_buf_free(&w1);
    tu_buf_free(&w2);
    sshbpp_engine_free(a1);
    sshbpp_engine_free(a2);
}

/* Under AES-GCM and chacha20-poly1305, send() and send_batch() encrypt
 * payloads of 4 KiB and more straight from the caller's buffer (no copy
 * first). The wire must be
 * byte for byte what tx_begin/tx_end makes in place, on both sides of the
 * size threshold, and must open again. */
static void
test_send_fused_aead_same_bytes(void **state)
{
    static const char *const ciphers[] = {"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                                          "chacha20-poly1305@openssh.com"};
    static const size_t sizes[] = {1, 255, 4095, 4096, 4097, 16383, 32763, 32768, 1000, 20000};
    (void)state;
    for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
        tu_keyset ks;
        assert_int_equal(tu_keyset_make(&ks, ciphers[c], NULL, (uint8_t)(5 + c)), 0);
        sshbpp_engine *a1 = tu_engine_new();
        sshbpp_engine *a2 = tu_engine_new();
        sshbpp_engine *b = tu_engine_new();
        tu_set_rng_fill(a1, 0x5a);
        tu_set_rng_fill(a2, 0x5a);
        assert_int_equal(tu_set_keys_pair(a1, b, &ks), 0);
        assert_int_equal(tu_set_keys_pair(a2, NULL, &ks), 0);
        uint8_t *msg = malloc(32768);
        assert_non_null(msg);
        tu_prng rng;
        tu_prng_seed(&rng, 91 + c);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t len = sizes[i];
            tu_prng_bytes(&rng, msg, len);
            msg[0] = 94; /* any type */
            if (i % 2 == 0) {
                assert_int_equal(sshbpp_engine_send(a1, msg, len), 0);
            } else {
                sshbpp_iov iov = {msg, len};
                assert_int_equal(sshbpp_engine_send_batch(a1, &iov, 1, NULL), 0);
            }
            uint8_t *p = sshbpp_engine_tx_begin(a2, len);
            assert_non_null(p);
            memcpy(p, msg, len);
            assert_int_equal(sshbpp_engine_tx_end(a2, len), 0);

            tu_buf w1 = {0}, w2 = {0};
            tu_take_tx(a1, &w1);
            tu_take_tx(a2, &w2);
            assert_int_equal(w1.len, w2.len);
            assert_memory_equal(w1.p, w2.p, w1.len);
            tu_pktlist got = {0};
            assert_int_equal(tu_feed_chunks(b, w1.p, w1.len, 0, &got, NULL, NULL), 0);
            assert_int_equal(got.n, 1);
            assert_int_equal(got.v[0].len, len);
            assert_memory_equal(got.v[0].payload, msg, len);
            tu_pktlist_free(&got);
            tu_buf_free(&w1);
            tu_buf_free(&w2);
        }
        free(msg);
        sshbpp_engine_free(a1);
        sshbpp_engine_free(a2);
        sshbpp_engine_free(b);
    }
}

/* Empty and oversized payloads are soft errors: nothing is sent and the
 * engine stays usable. */
static void
test_payload_len_soft(void **state)
{
    (void)state;
    sshbpp_engine *a = tu_engine_new();
    uint8_t b = 2;
    assert_int_equal(sshbpp_engine_send(a, &b, 0), SSHBPP_EPAYLOADLEN);
    size_t big = (size_t)sshbpp_engine_max_packet(a) + 1;
    uint8_t *m = calloc(1, big);
    assert_non_null(m);
    m[0] = 94;
    assert_int_equal(sshbpp_engine_send(a, m, big), SSHBPP_EPAYLOADLEN);
    free(m);
    size_t n = 1;
    sshbpp_engine_tx_data(a, &n);
    assert_int_equal(n, 0);
    assert_int_equal(sshbpp_engine_error(a), 0);
    assert_int_equal(sshbpp_engine_send(a, &b, 1), 0);
    sshbpp_stats st;
    sshbpp_engine_get_stats(a, SSHBPP_DIR_OUT, &st);
    assert_int_equal(st.seqno, 1);
    sshbpp_engine_free(a);
}

/* sshbpp_engine_feed() documents "0, or the sticky error / SSHBPP_ENOMEM":
 * a caller may hand over a large read (here ~3 MB, several maximal packets)
 * in one call. */
static void
test_feed_large_at_once(void **state)
{
    (void)state;
    tu_keyset ks;
    assert_int_equal(tu_keyset_make(&ks, "aes128-ctr", "hmac-sha2-256-etm@openssh.com", 12), 0);
    sshbpp_engine *a = tu_engine_new();
    sshbpp_engine *b = tu_engine_new();
    assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
    tu_prng rng;
    tu_prng_seed(&rng, 99);
    const size_t n = 100, len = 30000;
    uint8_t *msg = malloc(len);
    assert_non_null(msg);
    tu_buf w = {0};
    for (size_t i = 0; i < n; i++) {
        tu_prng_bytes(&rng, msg, len);
        msg[0] = (uint8_t)i;
        assert_int_equal(sshbpp_engine_send(a, msg, len), 0);
        tu_take_tx(a, &w);
    }
    int r = sshbpp_engine_feed(b, w.p, w.len);
    if (r != 0)
        fail_msg("feeding %zu bytes at once: %s", w.len, sshbpp_err_name(r));
    tu_pktlist l = {0};
    assert_int_equal(tu_drain(b, &l, NULL, NULL), 0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l.v[i].type, (uint8_t)i);
        assert_int_equal(l.v[i].len, len);
    }
    tu_pktlist_free(&l);
    tu_buf_free(&w);
    free(msg);
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
}

/* Whatever the sender accepts, a peer with the same maximum packet size
 * must accept too: a payload near the maximum either goes through end to
 * end or is refused up front with the soft SSHBPP_EPAYLOADLEN. */
static void
test_max_payload_roundtrip(void **state)
{
    (void)state;
    static const char *const cs[][2] = {{"none", "none"},
                                        {"aes128-ctr", "hmac-sha2-256"},
                                        {"aes256-gcm@openssh.com", NULL},
                                        {"chacha20-poly1305@openssh.com", NULL}};
    const uint32_t max = 35000;
    uint8_t *msg = calloc(1, max + 1);
    assert_non_null(msg);
    msg[0] = 94;
    for (size_t c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
        tu_keyset ks;
        assert_int_equal(tu_keyset_make(&ks, cs[c][0], cs[c][1], 21), 0);
        size_t accepted = 0;
        for (size_t len = max - 300; len <= max; len++) {
            sshbpp_engine *a = tu_engine_new();
            sshbpp_engine *b = tu_engine_new();
            assert_int_equal(sshbpp_engine_set_max_packet(a, max), 0);
            assert_int_equal(sshbpp_engine_set_max_packet(b, max), 0);
            if (ks.has_cipher)
                assert_int_equal(tu_set_keys_pair(a, b, &ks), 0);
            int r = sshbpp_engine_send(a, msg, len);
            if (r == SSHBPP_EPAYLOADLEN) {
                assert_int_equal(sshbpp_engine_error(a), 0);
            } else {
                if (r != 0)
                    fail_msg("%s: send %zu: %s", cs[c][0], len, sshbpp_err_name(r));
                accepted++;
                tu_pktlist l = {0};
                r = tu_pump(a, b, &l);
                if (r != 0)
                    fail_msg("%s: max_packet %u on both sides: the sender accepted a "
                             "%zu-byte payload, the receiver failed with %s",
                             cs[c][0], max, len, sshbpp_err_name(r));
                assert_int_equal(l.n, 1);
                assert_int_equal(l.v[0].len, len);
                tu_pktlist_free(&l);
            }
            sshbpp_engine_free(a);
            sshbpp_engine_free(b);
        }
        /* at least the bulk of that range must be sendable */
        assert_true(accepted >= 200);
    }
    free(msg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supported_lists),
        cmocka_unit_test(test_info_consistency),
        cmocka_unit_test(test_all_combos_plain),
        cmocka_unit_test(test_all_combos_zlib),
        cmocka_unit_test(test_all_combos_rekey),
        cmocka_unit_test(test_zlib_openssh_name),
        cmocka_unit_test(test_random_padding),
        cmocka_unit_test(test_pad_next_with_random_padding),
        cmocka_unit_test(test_padding_args),
        cmocka_unit_test(test_tx_begin_end),
        cmocka_unit_test(test_send_fused_aead_same_bytes),
        cmocka_unit_test(test_payload_len_soft),
        cmocka_unit_test(test_feed_large_at_once),
        cmocka_unit_test(test_max_payload_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
