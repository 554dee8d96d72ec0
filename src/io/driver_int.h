/*
 * driver_int.h (internal): the blocking driver (sshbpp_driver.h).
 *
 *   driver.c        lifecycle, connect, the run-until loop and its I/O
 *   driver_calls.c  the blocking calls built on it
 */
#ifndef SSHBPP_DRIVER_INT_H
#define SSHBPP_DRIVER_INT_H

#include <pthread.h>
#include <time.h>

#include "sshbpp/sshbpp_driver.h"

#define GREQ_SLOTS 256

struct dmsg {
    struct dmsg *next;
    size_t len;
    uint8_t data[];
};

struct sshbpp_driver {
    sshbpp_conn *c;
    sshbpp_driver_io io;
    void *io_ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    clockid_t cv_clock;
    int driving, closed, started;
    /* What the driving thread's io.wait() waits for while mu is dropped
     * (valid while driving): other threads wake it only for what it does
     * not already wait for (nudge() in driver.c). */
    int wait_read, wait_write;
    int64_t wait_until;
    /* The last write found the transport full; cleared when a wait says
     * it may take more (or does not say). */
    int tx_blocked;
    /* sshbpp_driver_send_batch() is queueing: a met goal writes nothing */
    int batching;
    int64_t default_timeout;
    sshbpp_driver_hostkey_fn hk_fn;
    void *hk_ctx;

    struct dmsg *ihead, *itail;
    size_t ibytes;

    int auth_pending, auth_success, auth_partial;
    char auth_methods[1024];
    sshbpp_kbdint_fn kbd;
    void *kbd_ctx;

    uint64_t greq_sent, greq_done;
    uint8_t greq_result[GREQ_SLOTS];
};

typedef int (*sshbpp__driver_goal)(sshbpp_driver *d, void *arg);

int64_t sshbpp__now_ms(void);
int64_t sshbpp__driver_deadline(const sshbpp_driver *d, int64_t timeout_ms);
/* With mu held: runs I/O until goal(d, arg) is true (0), the deadline
 * (-1: none) passes (SSHBPP_ETIMEDOUT), the driver is closed
 * (SSHBPP_ECLOSED) or the conn fails (its error). */
int sshbpp__driver_run(sshbpp_driver *d, sshbpp__driver_goal goal, void *arg, int64_t deadline);
/* With mu held, after a call changed the conn's state (output added, inbox
 * room made, a deadline set): writes what the socket takes now, unless
 * the driving thread already waits for writability (it writes then), and
 * wakes the driving thread only if it must wait for something more than
 * it does (output, input, an earlier deadline). */
void sshbpp__driver_flush(sshbpp_driver *d);
/* With mu held: writes what the transport takes now, whoever drives (for
 * a DISCONNECT, which the loop no longer writes once the conn is closed).
 * Returns 0, or SSHBPP_EIO when the transport failed. */
int sshbpp__driver_write_now(sshbpp_driver *d);
/* driver_fdio.c: the io callbacks over a non-blocking fd and a wake
 * pipe. Returns the ctx (owning fd) or NULL (fd untouched). */
void *sshbpp__fdio_new(int fd, sshbpp_driver_io *io);
/* Frees ctx and its pipe, not the fd. */
void sshbpp__fdio_release(void *ctx);

/* The error calls return once the conn has failed or closed. */
int sshbpp__driver_err(const sshbpp_driver *d);

/* driver_channel.c: opens a channel of type with its type-specific data
 * (data/len, may be NULL/0) and waits for the answer; returns as
 * sshbpp_driver_channel_open_session(). */
struct sshbpp_driver_channels;
int sshbpp__driver_channel_open(struct sshbpp_driver_channels *dc, const char *type,
                                const void *data, size_t len, uint32_t *id, uint32_t *reason,
                                int64_t timeout_ms);

#endif
