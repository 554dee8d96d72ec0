/*
 * fuzz_direct_tcpip.c: libFuzzer target for the type-specific data of a
 * direct-tcpip CHANNEL_OPEN (RFC 4254 section 7.2) as a server decodes it
 * (sshbpp_channel_parse_direct_tcpip). Whatever parses must encode back
 * to the same bytes (sshbpp__direct_tcpip_encode), and every string it
 * hands out must be NUL-terminated within its bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn/channel_int.h"
#include "kex/kex_int.h"
#include "sshbpp/sshbpp_channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_direct_tcpip f;
    sshbpp__wbuf b;

    if (sshbpp_channel_parse_direct_tcpip(data, size, &f) != 0)
        return 0;
    if (memchr(f.host, '\0', sizeof(f.host)) == NULL ||
        memchr(f.orig_addr, '\0', sizeof(f.orig_addr)) == NULL || f.host[0] == '\0' ||
        f.port > 65535u || f.orig_port > 65535u)
        abort();
    sshbpp__wb_init(&b);
    if (sshbpp__direct_tcpip_encode(&b, f.host, f.port, f.orig_addr, f.orig_port) != 0 ||
        b.len != size || memcmp(b.p, data, size) != 0)
        abort();
    sshbpp__wb_free(&b);
    return 0;
}
