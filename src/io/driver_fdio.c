/*
 * driver_fdio.c: the driver's I/O callbacks (sshbpp_driver_io) over a
 * non-blocking file descriptor, with a self-pipe for wake(): what
 * sshbpp_driver_new() and sshbpp_driver_connect() use.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver_int.h"

struct fdio {
    int fd;
    int wake[2];
};

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

static long
fd_read(void *ctx, void *buf, size_t len)
{
    struct fdio *f = ctx;
    ssize_t n;

    do
        n = read(f->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return (long)n;
    return errno == EAGAIN || errno == EWOULDBLOCK ? SSHBPP_EAGAIN : SSHBPP_EIO;
}

static long
fd_write(void *ctx, const void *buf, size_t len)
{
    struct fdio *f = ctx;
    ssize_t n;

    do {
        n = send(f->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(f->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        return (long)n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return SSHBPP_EAGAIN;
    return SSHBPP_EIO;
}

static int
fd_wait(void *ctx, int want_read, int want_write, int timeout_ms)
{
    struct fdio *f = ctx;
    struct pollfd p[2];
    char junk[64];
    int n;

    p[0].fd = f->fd;
    p[0].events = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
    p[0].revents = 0;
    p[1].fd = f->wake[0];
    p[1].events = POLLIN;
    p[1].revents = 0;
    n = poll(p, 2, timeout_ms);
    if (n < 0)
        return errno != EINTR ? SSHBPP_EIO : 0;
    if (p[1].revents & POLLIN)
        while (read(f->wake[0], junk, sizeof(junk)) > 0)
            ;
    if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
        return SSHBPP_DRIVER_IO_READABLE | SSHBPP_DRIVER_IO_WRITABLE | SSHBPP_DRIVER_IO_KNOWN;
    return ((p[0].revents & POLLIN) ? SSHBPP_DRIVER_IO_READABLE : 0) |
           ((p[0].revents & POLLOUT) ? SSHBPP_DRIVER_IO_WRITABLE : 0) | SSHBPP_DRIVER_IO_KNOWN;
}

static void
fd_wake(void *ctx)
{
    struct fdio *f = ctx;
    static const char b = 'w';

    if (write(f->wake[1], &b, 1) < 0) {
        /* full: a wake is pending anyway */
    }
}

static void
fd_close(void *ctx)
{
    struct fdio *f = ctx;

    (void)shutdown(f->fd, SHUT_RDWR);
}

static void
fd_free(void *ctx)
{
    struct fdio *f = ctx;

    close(f->fd);
    close(f->wake[0]);
    close(f->wake[1]);
    free(f);
}

void
sshbpp__fdio_release(void *ctx)
{
    struct fdio *f = ctx;

    close(f->wake[0]);
    close(f->wake[1]);
    free(f);
}

void *
sshbpp__fdio_new(int fd, sshbpp_driver_io *io)
{
    struct fdio *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    if (pipe(f->wake) != 0) {
        free(f);
        return NULL;
    }
    if (set_nonblock(f->wake[0]) != 0 || set_nonblock(f->wake[1]) != 0 || set_nonblock(fd) != 0) {
        close(f->wake[0]);
        close(f->wake[1]);
        free(f);
        return NULL;
    }
    (void)fcntl(f->wake[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(f->wake[1], F_SETFD, FD_CLOEXEC);
    f->fd = fd;
    io->read = fd_read;
    io->write = fd_write;
    io->wait = fd_wait;
    io->wake = fd_wake;
    io->close = fd_close;
    io->free = fd_free;
    return f;
}
