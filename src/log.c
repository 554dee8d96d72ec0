/*
 * log.c: packet logging in paramiko's format (so logs of the two can be
 * compared line by line) and message names.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

/* paramiko's common.MSG_NAMES as it resolves on main (the later GSSAPI
 * entries win for 60 and 61; 53 really has a double dash). */
static const char *const msg_names[256] = {
    [1] = "disconnect",
    [2] = "ignore",
    [3] = "unimplemented",
    [4] = "debug",
    [5] = "service-request",
    [6] = "service-accept",
    [7] = "ext-info",
    [20] = "kexinit",
    [21] = "newkeys",
    [30] = "kex30",
    [31] = "kex31",
    [32] = "kex32",
    [33] = "kex33",
    [34] = "kex34",
    [40] = "kex40",
    [41] = "kex41",
    [50] = "userauth-request",
    [51] = "userauth-failure",
    [52] = "userauth-success",
    [53] = "userauth--banner",
    [60] = "userauth-gssapi-response",
    [61] = "userauth-gssapi-token",
    [63] = "userauth-gssapi-exchange-complete",
    [64] = "userauth-gssapi-error",
    [65] = "userauth-gssapi-error-token",
    [66] = "userauth-gssapi-mic",
    [80] = "global-request",
    [81] = "request-success",
    [82] = "request-failure",
    [90] = "channel-open",
    [91] = "channel-open-success",
    [92] = "channel-open-failure",
    [93] = "channel-window-adjust",
    [94] = "channel-data",
    [95] = "channel-extended-data",
    [96] = "channel-eof",
    [97] = "channel-close",
    [98] = "channel-request",
    [99] = "channel-success",
    [100] = "channel-failure",
};

/* see sshbpp.h */
const char *
sshbpp_msg_name(uint8_t type)
{
    return msg_names[type];
}

/* see sshbpp.h */
size_t
sshbpp_hexdump_line(char *out, size_t cap, const char *prefix, const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char line[128];
    size_t n = 0, i, plen;

    if (out == NULL || cap == 0)
        return 0;
    if (prefix == NULL)
        prefix = "";
    if (len > 16)
        len = 16;
    for (i = 0; i < len; i++) {
        if (i > 0)
            line[n++] = ' ';
        line[n++] = hex[data[i] >> 4];
        line[n++] = hex[data[i] & 15];
    }
    /* Hex column left-justified to 50, one space, then the ASCII column. */
    while (n < 50)
        line[n++] = ' ';
    line[n++] = ' ';
    for (i = 0; i < len; i++)
        line[n++] = (data[i] >= 0x20 && data[i] <= 0x7e) ? (char)data[i] : '.';
    line[n] = '\0';
    plen = strlen(prefix);
    if (plen + n + 1 > cap) {
        out[0] = '\0';
        return 0;
    }
    memcpy(out, prefix, plen);
    memcpy(out + plen, line, n + 1);
    return plen + n;
}

void
sshbpp__logf(const sshbpp_engine *e, int level, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (e->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->log(e->log_ctx, level, msg);
}

void
sshbpp__log_hex(const sshbpp_engine *e, const char *prefix, const uint8_t *data, size_t len)
{
    char line[160];
    size_t i;

    if (e->log == NULL)
        return;
    for (i = 0; i < len; i += 16) {
        sshbpp_hexdump_line(line, sizeof(line), prefix, data + i, len - i < 16 ? len - i : 16);
        e->log(e->log_ctx, SSHBPP_LOG_DEBUG, line);
    }
}

void
sshbpp__log_msg(const sshbpp_engine *e, const char *what, uint8_t type, size_t len)
{
    const char *name = sshbpp_msg_name(type);

    if (e->log == NULL)
        return;
    if (name != NULL)
        sshbpp__logf(e, SSHBPP_LOG_DEBUG, "%s <%s>, length %zu", what, name, len);
    else
        sshbpp__logf(e, SSHBPP_LOG_DEBUG, "%s <$%x>, length %zu", what, (unsigned)type, len);
}
