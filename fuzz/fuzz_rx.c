/*
 * fuzz_rx.c: libFuzzer target for the receive path.
 *
 * Input: byte 0 picks the mode (fuzz_common.h), byte 1 the options (bit 0:
 * zlib; bits 1-6 seed the split pattern; bit 7: the stream starts with a
 * version line, read with rx_line first, and later pieces may be taken
 * with rx_take), the rest is the wire stream. The stream is fed in pieces
 * of pseudo-random size, and packets are pulled until the engine wants more
 * input or fails. CBC + encrypt-and-MAC discards up to a bound that is
 * pinned small here (256 bytes) so that inputs reach its end. Any crash,
 * sanitizer report or hang is a finding; errors are expected.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

void sshbpp__engine_test_pin_discard(sshbpp_engine *e, size_t total);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_engine *e;
    sshbpp_packet pkt;
    uint32_t lcg;
    size_t off = 2, n;
    int r;

    if (size < 2)
        return 0;
    if ((e = sshbpp_engine_new()) == NULL)
        return 0;
    (void)sshbpp_engine_set_max_packet(e, 35000);
    if (fuzz_set_keys(e, SSHBPP_DIR_IN, data[0]) != 0 ||
        ((data[1] & 1) && sshbpp_engine_set_compression(e, SSHBPP_DIR_IN, "zlib") != 0)) {
        sshbpp_engine_free(e);
        return 0;
    }
    sshbpp__engine_test_pin_discard(e, 256);
    lcg = (data[1] >> 1) & 0x3f;
    if (data[1] & 0x80) {
        char line[256];
        size_t n0;

        /* the version line first, as a session reads it */
        while (off < size) {
            if (sshbpp_engine_feed(e, data + off, 1) != 0)
                goto done;
            off++;
            r = sshbpp_engine_rx_line(e, line, sizeof(line), &n0);
            if (r == 0)
                break;
            if (r != SSHBPP_EAGAIN)
                goto done;
        }
    }
    while (off < size) {
        lcg = lcg * 1103515245u + 12345u;
        n = 1 + (lcg >> 16) % 97;
        if (n > size - off)
            n = size - off;
        if (sshbpp_engine_feed(e, data + off, n) != 0)
            break;
        off += n;
        while ((r = sshbpp_engine_rx_next(e, &pkt)) == 0)
            ;
        if (r != SSHBPP_EAGAIN)
            break;
        if ((data[1] & 0x80) && (lcg >> 28) == 0x7) {
            /* raw bytes between packets (SSHBPP_EINVAL inside one) */
            uint8_t junk[8];
            long t = sshbpp_engine_rx_take(e, junk, 1 + (lcg >> 8) % sizeof(junk));
            if (t < 0 && t != SSHBPP_EINVAL)
                break;
        }
    }
done:
    sshbpp_engine_free(e);
    return 0;
}
