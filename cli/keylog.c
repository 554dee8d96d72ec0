/*
 * keylog.c: the SSHKEYLOGFILE writer (see keylog.h).
 */
#include "keylog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common.h"

#define COOKIE_LEN 16
/* The longest line: cookie, " SHARED_SECRET ", K of an 8192-bit group
 * (1025 bytes with the sign byte), newline; the private key line is
 * shorter (at most 1024 bytes of key). */
#define MAX_SECRET 1100
#define LINE_MAX_LEN (2 * COOKIE_LEN + 15 + 2 * MAX_SECRET + 2)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static int log_state; /* 0 unset, 1 on, -1 refused */

static void
open_log(void)
{
    const char *path = getenv("SSHKEYLOGFILE");
    struct stat st;
    int fd;

    if (path == NULL || path[0] == '\0')
        return;
    log_state = -1;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        cli_error("SSHKEYLOGFILE=%s: %s; no key log written", path, strerror(errno));
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cli_error("SSHKEYLOGFILE=%s: not a regular file; no key log written", path);
        close(fd);
        return;
    }
    if ((st.st_mode & 077) != 0) {
        cli_error("SSHKEYLOGFILE=%s: mode %04o lets others read the secrets (chmod 600 it); "
                  "no key log written",
                  path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return;
    }
    log_fd = fd;
    log_state = 1;
    fprintf(stderr,
            "sshbpp: warning: SSHKEYLOGFILE=%s: writing session secrets: whoever reads this "
            "file can decrypt captured sessions\n",
            path);
}

static char *
put_hex(char *o, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        *o++ = digits[p[i] >> 4];
        *o++ = digits[p[i] & 15];
    }
    return o;
}

/* Writes all of buf, retrying short writes and EINTR. */
static int
write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static void
on_keylog(void *ctx, const sshbpp_keylog_event *ev)
{
    char line[2 * LINE_MAX_LEN], *o = line;
    static int warned;

    (void)ctx;
    if (ev->cookie == NULL || ev->priv_len > MAX_SECRET || ev->shared_secret_len > MAX_SECRET)
        return;
    /* Both lines in one write(): with O_APPEND they land together even
     * when other processes append to the same file. */
    if (ev->priv != NULL && ev->priv_len > 0) {
        o = put_hex(o, ev->cookie, COOKIE_LEN);
        *o++ = ' ';
        o = put_hex(o, ev->priv, ev->priv_len);
        *o++ = '\n';
    }
    if (ev->shared_secret != NULL && ev->shared_secret_len > 0) {
        o = put_hex(o, ev->cookie, COOKIE_LEN);
        memcpy(o, " SHARED_SECRET ", 15);
        o += 15;
        o = put_hex(o, ev->shared_secret, ev->shared_secret_len);
        *o++ = '\n';
    }
    pthread_mutex_lock(&write_mu);
    if (o > line && write_all(log_fd, line, (size_t)(o - line)) != 0 && !warned) {
        warned = 1;
        cli_error("SSHKEYLOGFILE: write failed: %s", strerror(errno));
    }
    pthread_mutex_unlock(&write_mu);
    OPENSSL_cleanse(line, sizeof(line));
}

/* see keylog.h */
int
cli_keylog_attach(sshbpp_conn_config *cfg)
{
    pthread_once(&once, open_log);
    if (log_state != 1)
        return log_state;
    cfg->keylog = on_keylog;
    cfg->keylog_ctx = NULL;
    return 0;
}
