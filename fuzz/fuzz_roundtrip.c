/*
 * fuzz_roundtrip.c: seal then open is the identity, in every mode.
 *
 * Input: byte 0 picks the mode (fuzz_common.h), byte 1 the options (bit 0:
 * zlib; bit 1: random padding; bits 2-7 seed the split pattern), then
 * messages as [u16 big-endian length][bytes] (a length past the end takes
 * the rest; an empty message becomes a 1-byte one). Every message is sent
 * by one engine and must come out of the other, in order, byte for byte,
 * with the right sequence number; anything else aborts (a finding).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 64

static void
check(int ok)
{
    if (!ok)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_engine *tx = NULL, *rx = NULL;
    const uint8_t *msg[MAX_MSGS];
    size_t len[MAX_MSGS], nmsg = 0, got = 0, off = 2, n, wl;
    const uint8_t *w;
    sshbpp_packet pkt;
    uint32_t lcg;
    uint8_t one = 0x5e;
    int r;

    if (size < 2)
        return 0;
    while (off < size && nmsg < MAX_MSGS) {
        n = off + 2 <= size ? ((size_t)data[off] << 8 | data[off + 1]) : 0;
        off += off + 2 <= size ? 2 : size - off;
        if (n > size - off)
            n = size - off;
        msg[nmsg] = n > 0 ? data + off : &one;
        len[nmsg] = n > 0 ? n : 1;
        nmsg++;
        off += n;
    }
    if ((tx = sshbpp_engine_new()) == NULL || (rx = sshbpp_engine_new()) == NULL)
        goto out;
    check(fuzz_set_keys(tx, SSHBPP_DIR_OUT, data[0]) == 0);
    check(fuzz_set_keys(rx, SSHBPP_DIR_IN, data[0]) == 0);
    if (data[1] & 1) {
        check(sshbpp_engine_set_compression(tx, SSHBPP_DIR_OUT, "zlib") == 0);
        check(sshbpp_engine_set_compression(rx, SSHBPP_DIR_IN, "zlib") == 0);
    }
    if (data[1] & 2)
        check(sshbpp_engine_set_random_padding(tx, 64) == 0);
    lcg = data[1] >> 2;
    for (size_t i = 0; i < nmsg; i++) {
        check(sshbpp_engine_send(tx, msg[i], len[i]) == 0);
        w = sshbpp_engine_tx_data(tx, &wl);
        /* Fed in pieces of pseudo-random size. */
        while (wl > 0) {
            lcg = lcg * 1103515245u + 12345u;
            n = 1 + (lcg >> 16) % 257;
            if (n > wl)
                n = wl;
            check(sshbpp_engine_feed(rx, w, n) == 0);
            sshbpp_engine_tx_consume(tx, n);
            w = sshbpp_engine_tx_data(tx, &wl);
            while ((r = sshbpp_engine_rx_next(rx, &pkt)) == 0) {
                check(got < nmsg && pkt.len == len[got] && memcmp(pkt.payload, msg[got], len[got]) == 0);
                check(pkt.seqno == got);
                got++;
            }
            check(r == SSHBPP_EAGAIN);
        }
    }
    check(got == nmsg);
    check(sshbpp_engine_rx_pending(rx) == 0);
out:
    sshbpp_engine_free(tx);
    sshbpp_engine_free(rx);
    return 0;
}
