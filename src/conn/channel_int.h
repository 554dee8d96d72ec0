/*
 * channel_int.h (internal): test and fuzz entry of the channel layer.
 */
#ifndef SSHBPP_CHANNEL_INT_H
#define SSHBPP_CHANNEL_INT_H

#include "sshbpp/sshbpp_channel.h"

/* Decodes one channel-layer message (type 80 or 90..100, type byte first)
 * as if the conn had delivered it, after settling decisions owed from the
 * previous event. Returns 0 with *ev, SSHBPP_EAGAIN when the message made
 * no event, or the conn's sticky error. */
int sshbpp__channels_input(sshbpp_channels *chs, const uint8_t *p, size_t len,
                           sshbpp_chan_event *ev);

/* Where the layer's messages go: head (hlen bytes) followed by body (blen
 * bytes; NULL and 0 for control messages), as one message (data 1:
 * channel data, whose body is the caller's bytes, not copied before; it
 * may be refused with SSHBPP_EAGAIN; 0: control, never refused softly).
 * NULL: the conn's own send. Returns 0 or a negative code. */
typedef int (*sshbpp__chan_send_fn)(void *ctx, const uint8_t *head, size_t hlen,
                                    const uint8_t *body, size_t blen, int data);
void sshbpp__channels_set_sender(sshbpp_channels *chs, sshbpp__chan_send_fn fn, void *ctx);

/* The blocking layer's claim on a channel id: once held (after the open
 * that made it), the id is not reused after the channel is closed both
 * ways or refused, until sshbpp__channel_release(), which frees it then
 * (or at that later time). Calls on a closed held id see SSHBPP_ESTATE,
 * the peer's messages for it are the usual protocol error. */
void sshbpp__channel_hold(sshbpp_channels *chs, uint32_t id);
void sshbpp__channel_release(sshbpp_channels *chs, uint32_t id);

/* channel_forward.c: the type-specific data of a direct-tcpip open into
 * *b (initialised by the caller), arguments checked as
 * sshbpp_channel_open_direct_tcpip() says. Returns 0, SSHBPP_EINVAL or
 * SSHBPP_ENOMEM. */
struct sshbpp__wbuf;
int sshbpp__direct_tcpip_encode(struct sshbpp__wbuf *b, const char *host, uint32_t port,
                                const char *orig_addr, uint32_t orig_port);

#endif
