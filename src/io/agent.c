/*
 * agent.c: the ssh-agent client's socket part: a Unix-domain stream socket
 * to $SSH_AUTH_SOCK, one request and one answer at a time, each bounded in
 * time (poll) and size. The messages themselves are src/keys/agent_codec.c.
 *
 * An agent that goes away mid-use (closed socket, reset, a short answer) is
 * SSHBPP_EAGENT, and the object stays failed: a later request would only
 * read a stale or half answer.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keys/keys_int.h"

struct sshbpp_agent {
    int fd;
    int64_t timeout_ms;
    int failed;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* see sshbpp_keys.h */
int
sshbpp_agent_open(const char *path, int64_t timeout_ms, sshbpp_agent **out)
{
    struct sockaddr_un sa;
    sshbpp_agent *a;
    int fd;

    if (out == NULL)
        return SSHBPP_EINVAL;
    *out = NULL;
    if (path == NULL)
        path = getenv("SSH_AUTH_SOCK");
    if (path == NULL || path[0] == '\0')
        return SSHBPP_EINVAL;
    if (strlen(path) >= sizeof(sa.sun_path))
        return SSHBPP_EAGENT;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return SSHBPP_EAGENT;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return SSHBPP_EAGENT;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        close(fd);
        return SSHBPP_ENOMEM;
    }
    a->fd = fd;
    a->timeout_ms = timeout_ms;
    *out = a;
    return 0;
}

/* see sshbpp_keys.h */
void
sshbpp_agent_close(sshbpp_agent *a)
{
    if (a == NULL)
        return;
    close(a->fd);
    free(a);
}

/* Waits for fd to be ready for events before the deadline. */
static int
wait_fd(const sshbpp_agent *a, short events, int64_t deadline)
{
    struct pollfd pfd = {a->fd, events, 0};
    int64_t left;
    int r;

    for (;;) {
        left = a->timeout_ms < 0 ? -1 : deadline - now_ms();
        if (a->timeout_ms >= 0 && left <= 0)
            return SSHBPP_ETIMEDOUT;
        r = poll(&pfd, 1, left < 0 ? -1 : (int)(left > 60000 ? 60000 : left));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return SSHBPP_EAGENT;
    }
}

/* Sends req and reads one answer (its body, after the length) into a
 * malloc'd *ans. */
static int
transact(sshbpp_agent *a, const sshbpp__wbuf *req, uint8_t **ans, size_t *alen)
{
    int64_t deadline = now_ms() + (a->timeout_ms < 0 ? 0 : a->timeout_ms);
    uint8_t hdr[4], *body = NULL;
    size_t off = 0, need;
    ssize_t n;
    int r;

    *ans = NULL;
    if (a->failed)
        return SSHBPP_EAGENT;
    while (off < req->len) {
        if ((r = wait_fd(a, POLLOUT, deadline)) != 0)
            goto fail;
        /* MSG_NOSIGNAL: a vanished agent is an error, not a SIGPIPE.
         * MSG_DONTWAIT: the socket is blocking, and a request larger than
         * the room that poll() saw would otherwise wait in send() for an
         * agent that does not read, past the timeout. */
        n = send(a->fd, req->p + off, req->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            r = SSHBPP_EAGENT;
            goto fail;
        }
        off += (size_t)n;
    }
    for (off = 0, need = 4; off < need;) {
        uint8_t *dst = off < 4 ? hdr + off : body + (off - 4);
        size_t want = off < 4 ? 4 - off : need - off;

        if ((r = wait_fd(a, POLLIN, deadline)) != 0)
            goto fail;
        n = recv(a->fd, dst, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = SSHBPP_EAGENT; /* the agent went away */
            goto fail;
        }
        off += (size_t)n;
        if (off == 4 && need == 4) {
            uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                           (uint32_t)hdr[2] << 8 | hdr[3];

            if (len == 0 || len > SSHBPP__AGENT_MAX_MSG) {
                r = SSHBPP_EAGENT;
                goto fail;
            }
            if ((body = malloc(len)) == NULL) {
                r = SSHBPP_ENOMEM;
                goto fail;
            }
            need = 4 + (size_t)len;
        }
    }
    *ans = body;
    *alen = need - 4;
    return 0;
fail:
    free(body);
    a->failed = 1;
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_agent_list(sshbpp_agent *a, sshbpp_key ***keys, size_t *n)
{
    sshbpp__wbuf req;
    uint8_t *ans;
    size_t alen;
    int r;

    if (a == NULL || keys == NULL || n == NULL)
        return SSHBPP_EINVAL;
    *keys = NULL;
    *n = 0;
    sshbpp__wb_init(&req);
    if ((r = sshbpp__agent_req_identities(&req)) == 0 &&
        (r = transact(a, &req, &ans, &alen)) == 0) {
        r = sshbpp__agent_parse_identities(ans, alen, keys, n);
        free(ans);
    }
    sshbpp__wb_free(&req);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_agent_sign(sshbpp_agent *a, const sshbpp_key *key, const char *sig_alg,
                  const uint8_t *data, size_t len, uint8_t *sig, size_t cap, size_t *sig_len)
{
    sshbpp__wbuf req, blob;
    uint8_t *ans;
    size_t alen;
    long flags;
    int r;

    if (a == NULL || key == NULL || sig_alg == NULL || sig == NULL || sig_len == NULL ||
        (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if ((flags = sshbpp__agent_sign_flags(key, sig_alg)) < 0)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&req);
    sshbpp__wb_init(&blob);
    if ((r = sshbpp__key_blob(key, &blob)) == 0 &&
        (r = sshbpp__agent_req_sign(&req, blob.p, blob.len, data, len, (uint32_t)flags)) == 0 &&
        (r = transact(a, &req, &ans, &alen)) == 0) {
        r = sshbpp__agent_parse_sign(ans, alen, sig_alg, sig, cap, sig_len);
        free(ans);
    }
    sshbpp__wb_free(&req);
    sshbpp__wb_free(&blob);
    return r;
}

/* see sshbpp_keys.h */
int
sshbpp_agent_sign_cb(void *signer, const char *sig_alg, const uint8_t *data, size_t len,
                     uint8_t *sig, size_t cap, size_t *sig_len)
{
    const sshbpp_agent_signer *s = signer;

    if (s == NULL)
        return SSHBPP_EINVAL;
    return sshbpp_agent_sign(s->agent, s->key, sig_alg, data, len, sig, cap, sig_len);
}
