/*
 * fuzz_rx.c: libFuzzer target for the receive path.
 *
 * Input: byte 0 picks the mode (fuzz_common.h), byte 1 the options (bit 0:
 * zlib; bits 1-7 seed the split pattern), the rest is the wire stream. The
 * stream is fed in pieces of pseudo-random size, and packets are pulled
 * until the engine wants more input or fails. Any crash, sanitizer report
 * or hang is a finding; errors are expected.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

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
    lcg = data[1] >> 1;
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
    }
    sshbpp_engine_free(e);
    return 0;
}
