/*
 * channel_forward.c: direct-tcpip channels (RFC 4254 section 7.2), the
 * encoding of the open on the client side and its decoding on the
 * server side. Sans I/O: the channel itself is any channel of
 * channel.c once open.
 *
 * The type-specific data of a "direct-tcpip" CHANNEL_OPEN:
 *   string  host to connect
 *   uint32  port to connect
 *   string  originator IP address
 *   uint32  originator port
 * Both strings are bounded by SSHBPP_DIRECT_TCPIP_MAX_HOST either way, so
 * neither side copies more than that from the other.
 */
#include <stdlib.h>
#include <string.h>

#include "channel_int.h"
#include "conn_int.h"
#include "kex/kex_int.h"

#define DEFAULT_ORIG "127.0.0.1"

/* 1 if s is an acceptable address string of 1 (or 0 with may_empty) to
 * SSHBPP_DIRECT_TCPIP_MAX_HOST bytes. */
static int
addr_ok(const char *s, int may_empty)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, SSHBPP_DIRECT_TCPIP_MAX_HOST + 1);
    return n <= SSHBPP_DIRECT_TCPIP_MAX_HOST && (n > 0 || may_empty);
}

/* see channel_int.h */
int
sshbpp__direct_tcpip_encode(struct sshbpp__wbuf *b, const char *host, uint32_t port,
                            const char *orig_addr, uint32_t orig_port)
{
    if (orig_addr == NULL)
        orig_addr = DEFAULT_ORIG;
    if (!addr_ok(host, 0) || !addr_ok(orig_addr, 1) || port > 65535u || orig_port > 65535u)
        return SSHBPP_EINVAL;
    sshbpp__wb_cstring(b, host);
    sshbpp__wb_u32(b, port);
    sshbpp__wb_cstring(b, orig_addr);
    sshbpp__wb_u32(b, orig_port);
    return b->err != 0 ? SSHBPP_ENOMEM : 0;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_open_direct_tcpip(sshbpp_channels *chs, const char *host, uint32_t port,
                                 const char *orig_addr, uint32_t orig_port, uint32_t *id)
{
    sshbpp__wbuf b;
    int r;

    if (chs == NULL || id == NULL)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&b);
    if ((r = sshbpp__direct_tcpip_encode(&b, host, port, orig_addr, orig_port)) == 0)
        r = sshbpp_channel_open(chs, "direct-tcpip", b.p, b.len, id);
    sshbpp__wb_free(&b);
    return r;
}

/* One bounded string into out (cap = SSHBPP_DIRECT_TCPIP_MAX_HOST + 1). */
static int
get_addr(sshbpp__rbuf *rb, char *out, int may_empty)
{
    const uint8_t *p;
    size_t n;

    if (sshbpp__rb_string(rb, &p, &n) != 0 || n > SSHBPP_DIRECT_TCPIP_MAX_HOST ||
        (n == 0 && !may_empty) || (n > 0 && memchr(p, '\0', n) != NULL))
        return SSHBPP_EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* see sshbpp_channel.h */
int
sshbpp_channel_parse_direct_tcpip(const uint8_t *data, size_t len, sshbpp_direct_tcpip *out)
{
    sshbpp__rbuf rb;

    if (out == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    memset(out, 0, sizeof(*out));
    sshbpp__rb_init(&rb, data, len);
    if (get_addr(&rb, out->host, 0) != 0 || sshbpp__rb_u32(&rb, &out->port) != 0 ||
        get_addr(&rb, out->orig_addr, 1) != 0 || sshbpp__rb_u32(&rb, &out->orig_port) != 0 ||
        !sshbpp__rb_done(&rb) || out->port > 65535u || out->orig_port > 65535u) {
        memset(out, 0, sizeof(*out));
        return SSHBPP_EINVAL;
    }
    return 0;
}
