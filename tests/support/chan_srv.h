/*
 * chan_srv.h: a server made of the sans-I/O conn and channel layer
 * (manual window, password "pw" accepted, a fresh ed25519 host key) in a
 * thread over a non-blocking socketpair end, and a blocking driver client
 * with its channel API on the other end, for the driver channel tests.
 *
 *  - the poll loop: reads into the conn, hands the channel events out,
 *    runs the test's step, the echo target, and writes what the conn has;
 *  - the echo target (channels 0 .. necho-1 that the test turned on):
 *    what came in goes back (consumed as it is written: the manual window
 *    bounds what may be buffered); at the peer's EOF, after everything was
 *    echoed, optionally exit-status 0, then EOF and CLOSE.
 *
 * Assertions are cmocka's: a failed step ends the test.
 */
#ifndef SSHBPP_CHAN_SRV_H
#define SSHBPP_CHAN_SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp_driver_channel.h"

#define CS_MAX_ECHO 12

typedef struct cs_srv cs_srv;

/* Every channel event but DATA and EOF (those are the echo target's). */
typedef void (*cs_event_fn)(cs_srv *s, const sshbpp_chan_event *ev);
/* Once a loop, after the events, before the echo target writes. */
typedef void (*cs_step_fn)(cs_srv *s);

typedef struct cs_echo {
    int on, eof, done;
    uint8_t *buf;
    size_t len, cap;
} cs_echo;

struct cs_srv {
    /* set by the test before cs_srv_start */
    unsigned necho;       /* echo channels 0 .. necho-1 (at most CS_MAX_ECHO) */
    int echo_exit_status; /* the echo target sends exit-status 0 before its EOF */
    cs_event_fn on_event;
    cs_step_fn on_step; /* may be NULL */
    void *ctx;
    /* the rig's */
    int fd;
    atomic_int stop; /* atomic: the server thread polls it (TSan-clean) */
    sshbpp_conn *c;
    sshbpp_channels *chs;
    pthread_t t;
    cs_echo echo[CS_MAX_ECHO];
};

/* CLOCK_MONOTONIC in milliseconds. */
int64_t cs_now_ms(void);

/* Makes a socketpair, the server conn and channels on one end, starts
 * the conn and the server thread; returns the other end for the client. */
int cs_srv_start(cs_srv *s);
/* Stops and joins the server thread. */
void cs_srv_stop(cs_srv *s);
/* Frees the channels, the echo buffers and the conn; closes the fd. */
void cs_srv_free(cs_srv *s);

/* A driver on fd: handshake (any SHA256 host key), password auth as "u",
 * and its channel API (*d receives the driver). */
sshbpp_driver_channels *cs_client_up(int fd, sshbpp_driver **d);

#endif
