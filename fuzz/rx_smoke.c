/*
 * rx_smoke.c: a deterministic mutation run of the receive path for ctest
 * (and so for the ASan/UBSan and valgrind stages of `make test`).
 *
 * For every mode, valid streams are made by a sender engine with the fuzz
 * keys, then mutated (bit flip, byte overwrite, truncation, insertion,
 * deletion) and fed to a receiver at random split points. Besides "no
 * crash", it checks the property that matters: in an authenticated mode a
 * receiver never returns a payload that was not sent, in order. A forged
 * packet that gets through fails the run.
 *
 *   sshbpp_rx_smoke [ITERATIONS] [SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXMSG 8
#define MAXLEN 2000

static uint64_t rng_state;

static uint32_t
rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static int
zero_rng(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
    return 0;
}

struct stream {
    uint8_t msg[MAXMSG][MAXLEN];
    size_t len[MAXMSG];
    size_t count;
    uint8_t *wire;
    size_t wire_len;
};

/* Builds count messages and their wire stream under mode m. */
static int
make_stream(struct stream *s, size_t m, int zlib)
{
    sshbpp_engine *tx = sshbpp_engine_new();
    const uint8_t *w;
    size_t i, j, n;
    int ok = tx != NULL;

    if (ok) {
        sshbpp_engine_set_rng(tx, zero_rng, NULL);
        ok = fuzz_set_keys(tx, SSHBPP_DIR_OUT, m) == 0 &&
             (!zlib || sshbpp_engine_set_compression(tx, SSHBPP_DIR_OUT, "zlib") == 0);
    }
    s->count = 1 + rnd() % MAXMSG;
    for (i = 0; ok && i < s->count; i++) {
        s->len[i] = 1 + rnd() % (rnd() % 4 == 0 ? MAXLEN : 40);
        for (j = 0; j < s->len[i]; j++)
            s->msg[i][j] = (uint8_t)(rnd() % (j % 3 == 0 ? 4 : 256));
        ok = sshbpp_engine_send(tx, s->msg[i], s->len[i]) == 0;
    }
    w = ok ? sshbpp_engine_tx_data(tx, &n) : NULL;
    if (w != NULL) {
        s->wire = malloc(n + 64);
        ok = s->wire != NULL;
        if (ok) {
            memcpy(s->wire, w, n);
            s->wire_len = n;
        }
    } else {
        ok = 0;
    }
    sshbpp_engine_free(tx);
    return ok;
}

static void
mutate(struct stream *s)
{
    size_t pos = s->wire_len ? rnd() % s->wire_len : 0, k;

    switch (rnd() % 6) {
    case 0: /* bit flip */
        s->wire[pos] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: /* overwrite */
        s->wire[pos] = (uint8_t)rnd();
        break;
    case 2: /* truncate */
        s->wire_len = pos;
        break;
    case 3: /* insert up to 32 bytes */
        k = 1 + rnd() % 32;
        memmove(s->wire + pos + k, s->wire + pos, s->wire_len - pos);
        for (size_t i = 0; i < k; i++)
            s->wire[pos + i] = (uint8_t)rnd();
        s->wire_len += k;
        break;
    case 4: /* delete up to 16 bytes */
        k = 1 + rnd() % 16;
        if (k > s->wire_len - pos)
            k = s->wire_len - pos;
        memmove(s->wire + pos, s->wire + pos + k, s->wire_len - pos - k);
        s->wire_len -= k;
        break;
    default: /* leave valid */
        break;
    }
}

/* Feeds the stream at random splits; returns 0, or 1 on a forged packet. */
static int
receive(const struct stream *s, size_t m, int zlib)
{
    sshbpp_engine *rx = sshbpp_engine_new();
    int authenticated = strcmp(fuzz_modes[m].cipher, "none") != 0;
    size_t off = 0, n, got = 0;
    sshbpp_packet pkt;
    int r = 0, bad = 0;

    if (rx == NULL || fuzz_set_keys(rx, SSHBPP_DIR_IN, m) != 0 ||
        (zlib && sshbpp_engine_set_compression(rx, SSHBPP_DIR_IN, "zlib") != 0)) {
        sshbpp_engine_free(rx);
        return 1;
    }
    while (off < s->wire_len && r >= 0) {
        n = 1 + rnd() % 300;
        if (n > s->wire_len - off)
            n = s->wire_len - off;
        if (sshbpp_engine_feed(rx, s->wire + off, n) != 0)
            break;
        off += n;
        while ((r = sshbpp_engine_rx_next(rx, &pkt)) == 0) {
            if (authenticated && (got >= s->count || pkt.len != s->len[got] ||
                                  memcmp(pkt.payload, s->msg[got], pkt.len) != 0)) {
                fprintf(stderr, "forged packet accepted: mode %s, packet %zu\n",
                        fuzz_modes[m].cipher, got);
                bad = 1;
            }
            got++;
        }
        if (r < 0 && r != SSHBPP_EAGAIN && !sshbpp_is_fatal(r)) {
            fprintf(stderr, "soft error %s on the receive path\n", sshbpp_err_name(r));
            bad = 1;
        }
    }
    sshbpp_engine_free(rx);
    return bad;
}

int
main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 3000;
    static struct stream s;
    unsigned long i, forged = 0;
    size_t m;

    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261125;
    for (m = 0; m < FUZZ_NMODES; m++) {
        for (i = 0; i < iters; i++) {
            int zlib = rnd() % 4 == 0;
            if (!make_stream(&s, m, zlib)) {
                fprintf(stderr, "could not build a stream for %s\n", fuzz_modes[m].cipher);
                return 1;
            }
            mutate(&s);
            if (rnd() % 2)
                mutate(&s);
            forged += (unsigned long)receive(&s, m, zlib);
            /* The libFuzzer entry point sees the same stream too. */
            {
                uint8_t *in = malloc(s.wire_len + 2);
                if (in != NULL) {
                    in[0] = (uint8_t)m;
                    in[1] = (uint8_t)((rnd() & 0xfe) | (unsigned)zlib);
                    memcpy(in + 2, s.wire, s.wire_len);
                    (void)LLVMFuzzerTestOneInput(in, s.wire_len + 2);
                    free(in);
                }
            }
            free(s.wire);
            s.wire = NULL;
        }
        printf("%-32s %lu mutated streams\n", fuzz_modes[m].cipher, iters);
    }
    if (forged != 0) {
        printf("rx smoke: FAIL (%lu forged packets accepted)\n", forged);
        return 1;
    }
    printf("rx smoke: PASS\n");
    return 0;
}
