/*
 * fuzz_channel.c: the channel layer's message parsing and state machine
 * (src/conn/channel.c), fed the peer's RFC 4254 messages directly.
 *
 * A client conn is marked as authenticated (no handshake: the fuzzer
 * reaches the channel code at once); its output is discarded. The harness
 * answers every event the way an application could (accept or reject an
 * open, answer a request, echo data back, consume it) so that the later
 * states are reached, and can take local actions between messages.
 *
 * Input: byte 0: configuration (bit 0 manual window, bit 1 small window
 * and packet, bit 2 max 4 channels); then records [u8 op][u16 big-endian
 * length][bytes]:
 *   op % 5 == 0  a message from the peer (type byte first)
 *   op % 5 == 1  open a session channel
 *   op % 5 == 2  write the bytes (after the first, the channel) as data
 *                (op bit 3: stderr)
 *   op % 5 == 3  EOF on channel bytes[0]
 *   op % 5 == 4  CLOSE on channel bytes[0]
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conn/channel_int.h"
#include "conn/conn_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drop_output(sshbpp_conn *c)
{
    size_t n;

    (void)sshbpp_conn_tx_data(c, &n);
    sshbpp_conn_tx_consume(c, n);
}

static void
react(sshbpp_channels *chs, const sshbpp_chan_event *ev, unsigned salt)
{
    int r = 0;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        if (salt % 3 == 0)
            r = sshbpp_channel_reject(chs, ev->channel, SSHBPP_OPEN_CONNECT_FAILED, "no");
        else if (salt % 3 == 1)
            r = sshbpp_channel_accept(chs, ev->channel);
        break;
    case SSHBPP_CHAN_EV_REQUEST:
        if (salt % 2 == 0)
            r = sshbpp_channel_request_reply(chs, ev->channel, (int)(ev->arg_len & 1u));
        break;
    case SSHBPP_CHAN_EV_GLOBAL_REQUEST:
        if (ev->want_reply && salt % 2 == 0)
            r = sshbpp_channels_global_reply(chs, 1, ev->data, ev->len);
        break;
    case SSHBPP_CHAN_EV_DATA:
        r = sshbpp_channel_write(chs, ev->channel, ev->ext, ev->data, ev->len);
        if (salt % 2 == 0)
            r = sshbpp_channel_consume(chs, ev->channel, ev->len);
        break;
    case SSHBPP_CHAN_EV_OPEN_CONFIRM:
        r = sshbpp_channel_exec(chs, ev->channel, "true");
        break;
    default:
        break;
    }
    (void)r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_channels_config cfg;
    sshbpp_conn_config cc;
    sshbpp_channels *chs;
    sshbpp_chan_event ev;
    sshbpp_conn *c;
    size_t off = 1;
    unsigned steps = 0;
    uint32_t id;

    if (size < 1)
        return 0;
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    if ((c = sshbpp_conn_new(&cc)) == NULL)
        return 0;
    /* skip the transport: sends go straight to the (keyless) engine */
    c->started = c->hs_done = c->authed = 1;
    sshbpp_channels_config_init(&cfg);
    cfg.manual_window = data[0] & 1;
    if (data[0] & 2) {
        cfg.window = 4096;
        cfg.max_packet = 1024;
    }
    if (data[0] & 4)
        cfg.max_channels = 4;
    if ((chs = sshbpp_channels_new(c, &cfg)) == NULL) {
        sshbpp_conn_free(c);
        return 0;
    }
    while (off + 3 <= size && steps++ < 4096 && sshbpp_conn_error(c) == 0) {
        uint8_t op = data[off];
        size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
        const uint8_t *p = data + off + 3;

        off += 3;
        if (n > size - off)
            n = size - off;
        off += n;
        switch (op % 5) {
        case 0:
            if (n > 0 && sshbpp__channels_input(chs, p, n, &ev) == 0)
                react(chs, &ev, op);
            break;
        case 1:
            if (sshbpp_channel_open_session(chs, &id) != 0) {
                /* limit or state: fine */
            }
            break;
        case 2:
            if (n > 0 && sshbpp_channel_write(chs, p[0], (op & 8) ? 1 : 0, p + 1, n - 1) < 0) {
                /* refused: fine */
            }
            break;
        case 3:
            if (n > 0 && sshbpp_channel_eof(chs, p[0]) != 0) {
                /* refused: fine */
            }
            break;
        default:
            if (n > 0 && sshbpp_channel_close(chs, p[0]) != 0) {
                /* refused: fine */
            }
            break;
        }
        drop_output(c);
    }
    sshbpp_channels_free(chs);
    sshbpp_conn_free(c);
    return 0;
}
