/*
 * sshbpp_channel.h: RFC 4254 channels over a sshbpp_conn, sans I/O.
 *
 * A sshbpp_channels object is the connection protocol layer of one
 * sshbpp_conn. Once created, the caller reads events from
 * sshbpp_channels_next_event() instead of sshbpp_conn_next_event(): it
 * pulls the conn's events, takes the channel messages (90..100) and the
 * peer's global requests (80), and passes every other event through
 * unchanged as SSHBPP_CHAN_EV_CONN. A conn used without this layer
 * behaves as before (application messages as MESSAGE events).
 *
 * What it does:
 *   - session channels (and any other type by name) opened by either side,
 *     confirmation or failure with reason; the peer's opens are decided by
 *     the caller (OPEN_REQUEST event, then accept or reject before the next
 *     sshbpp_channels_next_event(), else rejected as administratively
 *     prohibited); beyond max_channels they are refused as resource
 *     shortage without an event;
 *   - channel requests: exec, shell, subsystem, env, pty-req,
 *     exit-status, exit-signal, or any by name; the peer's requests are a
 *     REQUEST event, answered with sshbpp_channel_request_reply() before
 *     the next next_event() (else refused), so replies keep their order;
 *   - data and extended data (stderr) both ways with windows and maximum
 *     packet sizes: a write never exceeds the peer's window nor its
 *     maximum packet size (data length, as OpenSSH reads it); a peer that
 *     does either to us fails the connection with SSHBPP_ECHANWINDOW or
 *     SSHBPP_ECHANPACKET; an OPEN or OPEN_CONFIRMATION with a maximum
 *     packet size of 0 (nothing could ever be written) fails it with
 *     SSHBPP_ECHANMSG, as does a WINDOW_ADJUST beyond 2^32 - 1;
 *   - EOF and CLOSE in either order; a channel's number is free again
 *     after its CLOSE event (CLOSE sent and received);
 *   - global requests: keepalive@openssh.com answered (REQUEST_FAILURE,
 *     as OpenSSH does) when the peer wants a reply; others are a
 *     GLOBAL_REQUEST event, refused unless sshbpp_channels_global_reply()
 *     says otherwise before the next next_event().
 *
 * Buffering: none for received data. A DATA event points into the
 * engine's packet buffer (zero copy), valid until the next call on the
 * channels object or the conn. By default the window is granted back as
 * soon as a DATA event is handed out (when half of it is used up); with
 * manual_window, only when the caller says sshbpp_channel_consume(), so
 * a slow consumer stops the peer. Either way the peer can never have more
 * than our advertised window in flight, and more is refused.
 * Writes go into the conn (which queues them during a key exchange,
 * bounded; SSHBPP_EAGAIN when full).
 *
 * Errors: a peer's protocol violation fails the conn (sticky, as every
 * conn error) with SSHBPP_ECHANMSG, SSHBPP_ECHANWINDOW or
 * SSHBPP_ECHANPACKET; the ERROR event then comes through as a CONN event.
 *
 * Threads: as the conn: one thread at a time.
 */
#ifndef SSHBPP_CHANNEL_H
#define SSHBPP_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp_conn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshbpp_channels sshbpp_channels;

#define SSHBPP_CHAN_DEFAULT_MAX     256u
#define SSHBPP_CHAN_DEFAULT_WINDOW  (2u * 1024u * 1024u)
#define SSHBPP_CHAN_DEFAULT_PACKET  32768u

/* RFC 4254 section 5.1 open failure reasons */
#define SSHBPP_OPEN_ADMINISTRATIVELY_PROHIBITED 1
#define SSHBPP_OPEN_CONNECT_FAILED              2
#define SSHBPP_OPEN_UNKNOWN_CHANNEL_TYPE        3
#define SSHBPP_OPEN_RESOURCE_SHORTAGE           4

typedef struct sshbpp_channels_config {
    unsigned max_channels; /* open at once, both sides' together; 0: 256 */
    uint32_t window;       /* the window we grant per channel; 0: 2 MiB */
    uint32_t max_packet;   /* the largest data per message we accept;
                              0: 32 KiB; at most 256 KiB */
    int manual_window;     /* 1: grant window only on sshbpp_channel_consume() */
} sshbpp_channels_config;

/* Fills *cfg with the defaults. */
SSHBPP_API void sshbpp_channels_config_init(sshbpp_channels_config *cfg);

/* Creates the channel layer of c (cfg NULL: defaults; copied). c must
 * outlive it; one layer per conn. Returns NULL on a bad argument (window
 * below max_packet, max_packet over 256 KiB) or out of memory. */
SSHBPP_API sshbpp_channels *sshbpp_channels_new(sshbpp_conn *c, const sshbpp_channels_config *cfg);
/* Frees the layer (not the conn). NULL is a no-op. */
SSHBPP_API void sshbpp_channels_free(sshbpp_channels *chs);

enum sshbpp_chan_event_type {
    SSHBPP_CHAN_EV_CONN = 1,       /* conn: any other event of the conn */
    SSHBPP_CHAN_EV_OPEN_REQUEST,   /* the peer opens channel: name (type),
                                      data/len (type-specific); accept or
                                      reject before the next next_event() */
    SSHBPP_CHAN_EV_OPEN_CONFIRM,   /* our open of channel succeeded */
    SSHBPP_CHAN_EV_OPEN_FAILURE,   /* our open failed: code (reason), text;
                                      the number is free again */
    SSHBPP_CHAN_EV_REQUEST,        /* the peer's channel request: name,
                                      want_reply, data/len (type-specific),
                                      arg/arg_len (its first string if any:
                                      exec command, subsystem, env name,
                                      pty TERM) */
    SSHBPP_CHAN_EV_REQUEST_RESULT, /* one of our want-reply requests answered
                                      (in order): success */
    SSHBPP_CHAN_EV_DATA,           /* data/len, ext: 0 data, 1 stderr */
    SSHBPP_CHAN_EV_WINDOW,         /* the peer's window grew: code (bytes) */
    SSHBPP_CHAN_EV_EOF,            /* the peer sends no more data */
    SSHBPP_CHAN_EV_EXIT_STATUS,    /* code: exit status */
    SSHBPP_CHAN_EV_EXIT_SIGNAL,    /* name (signal, without "SIG"),
                                      core_dumped, text (message) */
    SSHBPP_CHAN_EV_CLOSE,          /* CLOSE sent and received: channel gone */
    SSHBPP_CHAN_EV_GLOBAL_REQUEST  /* the peer's global request: name,
                                      want_reply, data/len */
};

typedef struct sshbpp_chan_event {
    enum sshbpp_chan_event_type type;
    uint32_t channel; /* our number of the channel */
    const uint8_t *data;
    size_t len;
    int ext;
    const char *name; /* NUL-terminated, control characters replaced */
    const char *text;
    const uint8_t *arg;
    size_t arg_len;
    uint32_t code;
    int want_reply, success, core_dumped;
    sshbpp_conn_event conn; /* SSHBPP_CHAN_EV_CONN */
} sshbpp_chan_event;

/* The next event. Returns 0 with *ev filled (pointers valid until the
 * next call on chs or its conn), SSHBPP_EAGAIN when input is needed, or
 * the conn's sticky error after its ERROR event. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channels_next_event(sshbpp_channels *chs,
                                                          sshbpp_chan_event *ev);

/* Answers the GLOBAL_REQUEST event just returned (ok 1: REQUEST_SUCCESS
 * with data/len as its response data). Returns 0, SSHBPP_ESTATE (none
 * waiting or no reply wanted) or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channels_global_reply(sshbpp_channels *chs, int ok,
                                                            const void *data, size_t len);

/* Opens a channel of type ("session", ...) with type-specific data
 * (may be NULL/0). *id gets its number; OPEN_CONFIRM or OPEN_FAILURE
 * follows. Returns 0, SSHBPP_ECHANLIMIT (max_channels open),
 * SSHBPP_EINVAL, SSHBPP_ESTATE (not authenticated), SSHBPP_EPAYLOADLEN
 * (data too long for one packet: nothing sent) or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_open(sshbpp_channels *chs, const char *type,
                                                   const void *data, size_t len, uint32_t *id);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_open_session(sshbpp_channels *chs, uint32_t *id);

/* Answers the OPEN_REQUEST event of id. Return 0, SSHBPP_ESTATE (not
 * waiting) or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_accept(sshbpp_channels *chs, uint32_t id);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_reject(sshbpp_channels *chs, uint32_t id,
                                                     uint32_t reason, const char *description);

/* Sends a channel request with type-specific data. With want_reply, a
 * REQUEST_RESULT event follows. Returns 0, SSHBPP_EINVAL, SSHBPP_ESTATE
 * (channel not open, or CLOSE sent), SSHBPP_EPAYLOADLEN (data too long
 * for one packet: nothing sent) or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_request(sshbpp_channels *chs, uint32_t id,
                                                      const char *name, int want_reply,
                                                      const void *data, size_t len);
/* Client session requests (want reply, except env as OpenSSH sends it).
 * Strings are copied into the request. Return as sshbpp_channel_request(). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_exec(sshbpp_channels *chs, uint32_t id,
                                                   const char *command);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_shell(sshbpp_channels *chs, uint32_t id);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_subsystem(sshbpp_channels *chs, uint32_t id,
                                                        const char *name);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_env(sshbpp_channels *chs, uint32_t id,
                                                  const char *name, const char *value);
/* modes: encoded terminal modes (RFC 4254 section 8), NULL/0: none (the
 * TTY_OP_END byte is added). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_pty(sshbpp_channels *chs, uint32_t id,
                                                  const char *term, uint32_t cols, uint32_t rows,
                                                  const uint8_t *modes, size_t modes_len);
/* Server: the command's end (no reply wanted). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_exit_status(sshbpp_channels *chs, uint32_t id,
                                                          uint32_t status);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_exit_signal(sshbpp_channels *chs, uint32_t id,
                                                          const char *signal, int core_dumped,
                                                          const char *message);

/* Answers the REQUEST event just returned for id (a no-op returning 0 if
 * the peer wanted no reply). Returns 0, SSHBPP_ESTATE or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_request_reply(sshbpp_channels *chs, uint32_t id,
                                                            int ok);

/* Writes up to len bytes (ext 0: data, 1: stderr) as far as the peer's
 * window allows, in messages of at most its maximum packet size. Returns
 * the count taken (> 0), SSHBPP_EAGAIN (window closed or conn queue full:
 * wait for a WINDOW event or more input), SSHBPP_ESTATE (not open, EOF or
 * CLOSE sent), SSHBPP_EINVAL, or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_write(sshbpp_channels *chs, uint32_t id, int ext,
                                                    const void *data, size_t len);
/* The peer's window (bytes we may send now), 0 for a bad id. */
SSHBPP_API uint32_t sshbpp_channel_send_window(const sshbpp_channels *chs, uint32_t id);
/* The peer's maximum packet size, 0 for a bad id. */
SSHBPP_API uint32_t sshbpp_channel_send_max_packet(const sshbpp_channels *chs, uint32_t id);
/* The window we still grant (bytes the peer may send now), 0 for a bad id. */
SSHBPP_API uint32_t sshbpp_channel_recv_window(const sshbpp_channels *chs, uint32_t id);

/* manual_window: n bytes of DATA events processed; the window is granted
 * back once half of it is used. Returns 0, SSHBPP_EINVAL (more than was
 * delivered), SSHBPP_ESTATE or the conn's errors. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_consume(sshbpp_channels *chs, uint32_t id,
                                                      size_t n);

/* Sends EOF (no more data from us) / CLOSE. Each once; returns 0,
 * SSHBPP_ESTATE or the conn's errors. close implies nothing about EOF. */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_eof(sshbpp_channels *chs, uint32_t id);
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_close(sshbpp_channels *chs, uint32_t id);

/* Channels in use (opening, open or closing). */
SSHBPP_API unsigned sshbpp_channels_count(const sshbpp_channels *chs);

/* ---- direct-tcpip (RFC 4254 section 7.2) ------------------------------- */

/* The longest host or originator address accepted in a direct-tcpip
 * open, either way (a DNS name is at most 253 bytes). */
#define SSHBPP_DIRECT_TCPIP_MAX_HOST 255u

/* Opens a direct-tcpip channel: the peer is asked to connect to
 * host:port, on behalf of orig_addr:orig_port (NULL: "127.0.0.1").
 * host is 1..SSHBPP_DIRECT_TCPIP_MAX_HOST bytes, orig_addr at most that,
 * ports 0..65535 (strings copied). Returns as sshbpp_channel_open();
 * SSHBPP_EINVAL for a bad argument (nothing sent). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_open_direct_tcpip(sshbpp_channels *chs,
                                                               const char *host, uint32_t port,
                                                               const char *orig_addr,
                                                               uint32_t orig_port, uint32_t *id);

/* The fields of a direct-tcpip open, as decoded by
 * sshbpp_channel_parse_direct_tcpip(): NUL-terminated copies. */
typedef struct sshbpp_direct_tcpip {
    char host[SSHBPP_DIRECT_TCPIP_MAX_HOST + 1];
    char orig_addr[SSHBPP_DIRECT_TCPIP_MAX_HOST + 1];
    uint32_t port, orig_port;
} sshbpp_direct_tcpip;

/* Server side: decodes the type-specific data of a "direct-tcpip"
 * OPEN_REQUEST event (ev->data, ev->len). Returns 0 with *out filled, or
 * SSHBPP_EINVAL (malformed: short, trailing bytes, a string over the
 * bound or holding a NUL, an empty host, a port over 65535). */
SSHBPP_API SSHBPP_MUST_USE int sshbpp_channel_parse_direct_tcpip(const uint8_t *data, size_t len,
                                                                sshbpp_direct_tcpip *out);

#ifdef __cplusplus
}
#endif
#endif
