/*
 * driver_forward.c: direct-tcpip channels over the blocking channel layer
 * (sshbpp_driver_channel.h): the open is encoded by the sans-I/O layer
 * (channel_forward.c) and waited for as a session open is; the channel
 * then reads and writes as any other.
 */
#include <stdlib.h>

#include "conn/channel_int.h"
#include "driver_int.h"
#include "kex/kex_int.h"
#include "sshbpp/sshbpp_driver_channel.h"

/* see sshbpp_driver_channel.h */
int
sshbpp_driver_channel_open_direct_tcpip(sshbpp_driver_channels *dc, const char *host,
                                        uint32_t port, const char *orig_addr, uint32_t orig_port,
                                        uint32_t *id, uint32_t *reason, int64_t timeout_ms)
{
    sshbpp__wbuf b;
    int r;

    if (dc == NULL || id == NULL)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__direct_tcpip_encode(&b, host, port, orig_addr, orig_port)) == 0)
        r = sshbpp__driver_channel_open(dc, "direct-tcpip", b.p, b.len, id, reason, timeout_ms);
    sshbpp__wb_free(&b);
    return r;
}
