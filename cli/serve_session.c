/*
 * serve_session.c: see serve_session.h.
 *
 * One thread runs one client: a poll loop over the socket, every child's
 * stdin, stdout and stderr pipe and its pidfd (Linux; without one the loop
 * wakes every 100 ms to look for exited children). Memory per channel is
 * bounded by what the protocol lets the client push (our window, granted
 * back only as the child reads its stdin: manual_window) plus one 64 KiB
 * buffer per output stream, read only when the client's window has room
 * and less than TX_HIGH bytes wait for the socket. A client that never
 * reads therefore stops the child (its pipe fills), not our memory.
 *
 * Children are started with posix_spawn rather than fork: the process has
 * many threads, and posix_spawn does the dup2/chdir/setsid/signal reset
 * in the child without running anything of ours there. Every descriptor
 * of ours is close-on-exec and closefrom(3) runs in the child as well.
 */
#include "serve_session.h"

#include "common.h"
#include "serve_log.h"
#include "sshbpp/sshbpp_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_BUF       65536u
#define TX_HIGH       (1024u * 1024u)
/* Beyond this much output queued for the client, its input is not read:
 * a client that sends requests (each answered) and never reads the
 * answers would otherwise grow our buffer without bound. Above TX_HIGH
 * and what the pumps may add past it, so bulk output never stops input. */
#define RX_STOP       (8u * TX_HIGH)
#define MAX_ENV       32
#define MAX_ENV_VALUE 1024
#define PUMP_ROUNDS   8
#define REAP_POLL_MS  100
/* Child output held in its buffer waits on no fd. When pump() stopped at
 * PUMP_ROUNDS it is retried at once (L->again); otherwise (the conn
 * refused it with window open, as while a key exchange's queue is full)
 * it is retried this often, in case no input from the client comes to
 * wake the loop. */
#define HELD_RETRY_MS 10
#define KILL_GRACE_MS 2000
#define STD_PATH      "/usr/local/bin:/usr/bin:/bin:/usr/games"

static pthread_mutex_t kids_mu = PTHREAD_MUTEX_INITIALIZER;
static long kids_total;

long
serve_children_total(void)
{
    long n;

    pthread_mutex_lock(&kids_mu);
    n = kids_total;
    pthread_mutex_unlock(&kids_mu);
    return n;
}

/* A child's stdout (0) or stderr (1) on its way to the channel. */
struct ostream {
    int fd;       /* -1 once closed */
    int eof;      /* the pipe ended */
    uint8_t *buf; /* OUT_BUF bytes, allocated with the child */
    size_t off, len;
};

struct session {
    struct session *next;
    uint32_t id;
    int gone;       /* its CLOSE event came: only the child is left */
    int started;    /* a child was started */
    pid_t pid;
    int pidfd;      /* -1: none (or reaped) */
    int running;    /* started and not reaped */
    int status;     /* waitpid status once reaped */
    int in_fd;      /* the child's stdin, -1 once closed */
    uint8_t *in_buf;
    size_t in_off, in_len, in_cap;
    int peer_eof;
    int eof_sent, close_sent;
    struct ostream out[2];
    char *env[MAX_ENV]; /* "LANG=..." from env requests */
    unsigned nenv;
};

struct loop {
    sshbpp_conn *c;
    sshbpp_channels *chs;
    int fd;
    const struct serve_opts *o;
    struct serve_client *cl;
    struct session *sessions;
    long nkids;
    uint32_t window;
    /* set by pump() when a stream stopped at PUMP_ROUNDS with output in
     * hand: the next poll() only looks, it does not wait */
    int again;
    char caddr[NI_MAXHOST], cport[NI_MAXSERV], saddr[NI_MAXHOST], sport[NI_MAXSERV];
};

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static struct session *
find_session(struct loop *L, uint32_t id)
{
    struct session *s;

    for (s = L->sessions; s != NULL; s = s->next)
        if (!s->gone && s->id == id)
            return s;
    return NULL;
}

static void
free_session(struct loop *L, struct session *s)
{
    struct session **pp;
    unsigned i;

    for (pp = &L->sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    close_fd(&s->in_fd);
    for (i = 0; i < 2; i++) {
        close_fd(&s->out[i].fd);
        free(s->out[i].buf);
    }
    close_fd(&s->pidfd);
    for (i = 0; i < s->nenv; i++)
        free(s->env[i]);
    free(s->in_buf);
    free(s);
}

static void
log_refused(struct loop *L, uint32_t id, const char *req, const char *why)
{
    struct slog l;

    slog_begin(&l, "request_refused", L->cl->id);
    slog_u64(&l, "channel", id);
    slog_str(&l, "request", req);
    slog_str(&l, "reason", why);
    slog_end(&l);
}

/* ===================================================================== */
/* Children                                                               */

static char *
env_pair(const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    char *p = malloc(n + v + 2);

    if (p != NULL) {
        memcpy(p, name, n);
        p[n] = '=';
        memcpy(p + n + 1, value, v + 1);
    }
    return p;
}

/* Builds the child's environment, as sshd does for a session (minimal):
 * USER, LOGNAME, HOME, SHELL, PATH, MAIL, SSH_CONNECTION, SSH_CLIENT, the
 * accepted env requests and SSH_ORIGINAL_COMMAND. NULL-terminated, owned. */
static char **
build_env(struct loop *L, struct session *s, const struct passwd *pw, const char *shell,
          const char *orig)
{
    char buf[2 * NI_MAXHOST + 2 * NI_MAXSERV + 8], mail[300];
    char **env = calloc(12 + MAX_ENV, sizeof(char *));
    unsigned n = 0, i;

    if (env == NULL)
        return NULL;
    env[n++] = env_pair("USER", pw->pw_name);
    env[n++] = env_pair("LOGNAME", pw->pw_name);
    env[n++] = env_pair("HOME", pw->pw_dir);
    env[n++] = env_pair("SHELL", shell);
    env[n++] = env_pair("PATH", STD_PATH);
    snprintf(mail, sizeof(mail), "/var/mail/%s", pw->pw_name);
    env[n++] = env_pair("MAIL", mail);
    snprintf(buf, sizeof(buf), "%s %s %s %s", L->caddr, L->cport, L->saddr, L->sport);
    env[n++] = env_pair("SSH_CONNECTION", buf);
    snprintf(buf, sizeof(buf), "%s %s %s", L->caddr, L->cport, L->sport);
    env[n++] = env_pair("SSH_CLIENT", buf);
    for (i = 0; i < s->nenv; i++)
        env[n++] = strdup(s->env[i]);
    if (orig != NULL)
        env[n++] = env_pair("SSH_ORIGINAL_COMMAND", orig);
    for (i = 0; i < n; i++) {
        if (env[i] == NULL) {
            for (i = 0; i < n; i++)
                free(env[i]);
            free(env);
            return NULL;
        }
    }
    return env;
}

static void
free_env(char **env)
{
    size_t i;

    if (env == NULL)
        return;
    for (i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

static int
make_pipe(int p[2])
{
    p[0] = p[1] = -1;
    return pipe2(p, O_CLOEXEC);
}

/* Starts path argv on s's pipes. Returns 0, or -1 with *why set. */
static int
spawn_child(struct loop *L, struct session *s, const char *path, char *const argv[],
            char **env, const char *home, const char **why)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, deflt;
    static const int reset[] = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGCHLD,
                                SIGALRM, SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU};
    int in[2], out[2], err[2], rc, ok = -1;
    size_t i;
    pid_t pid;

    in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = -1;
    if (make_pipe(in) != 0 || make_pipe(out) != 0 || make_pipe(err) != 0) {
        *why = "cannot create pipes";
        goto out;
    }
    for (i = 0; i < 2; i++) {
        if ((s->out[i].buf = malloc(OUT_BUF)) == NULL) {
            *why = "out of memory";
            goto out;
        }
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (home != NULL && access(home, X_OK) == 0)
        posix_spawn_file_actions_addchdir_np(&fa, home);
    else
        posix_spawn_file_actions_addchdir_np(&fa, "/");
    sigemptyset(&none);
    sigemptyset(&deflt);
    for (i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
        sigaddset(&deflt, reset[i]);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSID);
    rc = posix_spawn(&pid, path, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        *why = "cannot start the command";
        cli_debug(1, "client %s: posix_spawn %s: %s", L->cl->peer, path, strerror(rc));
        goto out;
    }
    s->pid = pid;
    s->started = 1;
    s->running = 1;
    s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    s->in_fd = in[1];
    s->out[0].fd = out[0];
    s->out[1].fd = err[0];
    in[1] = out[0] = err[0] = -1;
    (void)fcntl(s->in_fd, F_SETFL, O_NONBLOCK);
    (void)fcntl(s->out[0].fd, F_SETFL, O_NONBLOCK);
    (void)fcntl(s->out[1].fd, F_SETFL, O_NONBLOCK);
    L->nkids++;
    L->cl->children_started++;
    ok = 0;
out:
    for (i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&err[i]);
        if (ok != 0) {
            free(s->out[i].buf);
            s->out[i].buf = NULL;
        }
    }
    return ok;
}

/* Runs what a session request asks for: kind "exec" (cmd), "shell",
 * "subsystem" (cmd: its name). A forced command (authorized_keys
 * command=) replaces each, with the client's command (or the
 * subsystem's) in SSH_ORIGINAL_COMMAND. Returns 0, or -1 with *why set. */
static int
start_session(struct loop *L, struct session *s, const char *kind, const char *cmd,
              const char **why)
{
    const sshbpp_ak_entry *e = L->cl->entry;
    const char *forced = e != NULL ? e->command : NULL;
    const char *shell, *path, *orig = NULL;
    struct passwd pwbuf, *pw = NULL;
    char pwstore[4096], login0[256], sh0[] = "sh", dashc[] = "-c", sftp0[] = "sftp-server";
    char *argv[4] = {NULL, NULL, NULL, NULL}, *arg = NULL;
    char **env;
    struct slog l;
    int ok;

    if (s->started) {
        *why = "a command already runs on this channel";
        return -1;
    }
    if (L->nkids >= L->o->max_conn_children) {
        *why = "too many children on this connection";
        return -1;
    }
    if (getpwuid_r(getuid(), &pwbuf, pwstore, sizeof(pwstore), &pw) != 0 || pw == NULL) {
        *why = "serving user unknown";
        return -1;
    }
    shell = pw->pw_shell != NULL && pw->pw_shell[0] != '\0' ? pw->pw_shell : "/bin/sh";
    if (forced != NULL) {
        /* as sshd: the client's command, or the subsystem's (a wrapper
         * that lets SFTP through looks for it); none for a shell */
        orig = strcmp(kind, "exec") == 0       ? cmd
               : strcmp(kind, "subsystem") == 0 ? SERVE_SFTP_SERVER
                                               : NULL;
        path = "/bin/sh";
        argv[0] = sh0;
        argv[1] = dashc;
        argv[2] = arg = strdup(forced);
    } else if (strcmp(kind, "exec") == 0) {
        path = "/bin/sh";
        argv[0] = sh0;
        argv[1] = dashc;
        argv[2] = arg = strdup(cmd);
    } else if (strcmp(kind, "shell") == 0) {
        const char *base = strrchr(shell, '/');

        path = shell;
        snprintf(login0, sizeof(login0), "-%s", base != NULL ? base + 1 : shell);
        argv[0] = login0;
    } else {
        path = SERVE_SFTP_SERVER;
        argv[0] = sftp0;
    }

    if (argv[1] != NULL && arg == NULL) {
        *why = "out of memory";
        return -1;
    }
    pthread_mutex_lock(&kids_mu);
    if (kids_total >= L->o->max_children) {
        free(arg);
        pthread_mutex_unlock(&kids_mu);
        *why = "too many children on this server";
        return -1;
    }
    kids_total++; /* reserved; given back below if the start fails */
    pthread_mutex_unlock(&kids_mu);

    env = build_env(L, s, pw, shell, orig);
    if (env == NULL) {
        *why = "out of memory";
        ok = -1;
    } else {
        ok = spawn_child(L, s, path, argv, env, pw->pw_dir, why);
    }
    free_env(env);
    free(arg);
    if (ok != 0) {
        pthread_mutex_lock(&kids_mu);
        kids_total--;
        pthread_mutex_unlock(&kids_mu);
        return -1;
    }
    slog_begin(&l, strcmp(kind, "subsystem") == 0 ? "subsystem" : kind, L->cl->id);
    slog_u64(&l, "channel", s->id);
    slog_u64(&l, "pid", (uint64_t)s->pid);
    if (strcmp(kind, "shell") != 0)
        slog_str(&l, strcmp(kind, "subsystem") == 0 ? "name" : "command", cmd);
    if (forced != NULL)
        slog_str(&l, "forced_command", forced);
    slog_end(&l);
    return 0;
}

/* Looks for s's child's exit (non-blocking). */
static void
try_reap(struct loop *L, struct session *s)
{
    struct slog l;
    int st;
    pid_t r;

    if (!s->running)
        return;
    r = waitpid(s->pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return;
    if (r < 0)
        st = 0; /* not ours any more: cannot happen with specific pids */
    s->running = 0;
    s->status = st;
    close_fd(&s->pidfd);
    L->nkids--;
    pthread_mutex_lock(&kids_mu);
    kids_total--;
    pthread_mutex_unlock(&kids_mu);
    slog_begin(&l, "child_exit", L->cl->id);
    slog_u64(&l, "channel", s->id);
    slog_u64(&l, "pid", (uint64_t)s->pid);
    if (WIFSIGNALED(st)) {
        const char *name = sigabbrev_np(WTERMSIG(st));

        slog_str(&l, "signal", name != NULL ? name : "?");
        slog_bool(&l, "core_dumped", WCOREDUMP(st));
    } else {
        slog_u64(&l, "status", (uint64_t)WEXITSTATUS(st));
    }
    slog_end(&l);
}

/* Ends every child when the connection goes: pipes closed, SIGHUP, then
 * SIGKILL after KILL_GRACE_MS; each one reaped before this returns. */
static void
kill_children(struct loop *L)
{
    struct session *s;
    int64_t until = mono_ms() + KILL_GRACE_MS;
    int any, killed = 0;

    for (s = L->sessions; s != NULL; s = s->next) {
        close_fd(&s->in_fd);
        close_fd(&s->out[0].fd);
        close_fd(&s->out[1].fd);
        if (s->running)
            (void)kill(-s->pid, SIGHUP); /* its process group (setsid) */
    }
    for (;;) {
        any = 0;
        for (s = L->sessions; s != NULL; s = s->next) {
            try_reap(L, s);
            any |= s->running;
        }
        if (!any)
            break;
        if (killed && mono_ms() >= until + KILL_GRACE_MS) {
            /* SIGKILL did not end it (uninterruptible sleep): give up
             * waiting rather than hold the connection's thread forever */
            cli_error("client %s: a child survives SIGKILL; not reaped", L->cl->peer);
            break;
        }
        if (!killed && mono_ms() >= until) {
            for (s = L->sessions; s != NULL; s = s->next)
                if (s->running)
                    (void)kill(-s->pid, SIGKILL);
            killed = 1;
        }
        {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* ===================================================================== */
/* Moving bytes                                                           */

static size_t
tx_pending(const struct loop *L)
{
    size_t n = 0;

    (void)sshbpp_conn_tx_data(L->c, &n);
    return n;
}

/* Child output to the channel, child input from the buffer, the end of
 * the session once the child is reaped and its output sent. Returns 0 or
 * the conn's error. */
static int
pump(struct loop *L, struct session *s)
{
    int k, round, rc;
    ssize_t n;

    if (s->gone || !s->started)
        return 0;
    /* stdin: as the child takes it, and only then grant window back */
    while (s->in_len > 0 && s->in_fd >= 0) {
        n = write(s->in_fd, s->in_buf + s->in_off, s->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            /* the child closed its stdin: what is left is dropped, and
             * its window given back so the client is not held up */
            close_fd(&s->in_fd);
            n = (ssize_t)s->in_len;
        }
        s->in_off += (size_t)n;
        s->in_len -= (size_t)n;
        if ((rc = sshbpp_channel_consume(L->chs, s->id, (size_t)n)) != 0 && rc != SSHBPP_ESTATE)
            return rc;
    }
    if (s->in_len == 0)
        s->in_off = 0;
    if (s->peer_eof && s->in_len == 0)
        close_fd(&s->in_fd);

    for (k = 0; k < 2; k++) {
        struct ostream *o = &s->out[k];

        for (round = 0; round < PUMP_ROUNDS; round++) {
            if (o->len > 0) {
                rc = sshbpp_channel_write(L->chs, s->id, k, o->buf + o->off, o->len);
                if (rc == SSHBPP_EAGAIN)
                    break;
                if (rc == SSHBPP_ESTATE) {
                    o->len = 0; /* EOF or CLOSE already sent: dropped */
                    continue;
                }
                if (rc < 0)
                    return rc;
                o->off += (size_t)rc;
                o->len -= (size_t)rc;
                if (o->len > 0)
                    break;
                o->off = 0;
            }
            if (o->fd < 0 || o->eof)
                break;
            {
                uint32_t win = sshbpp_channel_send_window(L->chs, s->id);
                size_t want = win < OUT_BUF ? win : OUT_BUF;

                if (want == 0 || tx_pending(L) >= TX_HIGH)
                    break;
                n = read(o->fd, o->buf, want);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0 && errno == EAGAIN)
                    break;
                if (n <= 0) {
                    o->eof = 1;
                    close_fd(&o->fd);
                    break;
                }
                o->len = (size_t)n;
                o->off = 0;
            }
        }
        if (round == PUMP_ROUNDS && o->len > 0)
            L->again = 1;
    }

    /* The end, once the child is reaped and its output all sent:
     * exit-status (or exit-signal), EOF, CLOSE, in that order, as
     * Dropbear's client wants the status before the EOF it ends on. */
    try_reap(L, s);
    if (!s->running && !s->close_sent && s->out[0].eof && s->out[1].eof &&
        s->out[0].len == 0 && s->out[1].len == 0) {
        s->close_sent = 1;
        if (WIFSIGNALED(s->status)) {
            const char *name = sigabbrev_np(WTERMSIG(s->status));

            rc = sshbpp_channel_exit_signal(L->chs, s->id, name != NULL ? name : "KILL",
                                            WCOREDUMP(s->status), "");
        } else {
            rc = sshbpp_channel_exit_status(L->chs, s->id, (uint32_t)WEXITSTATUS(s->status));
        }
        if (rc != 0 && rc != SSHBPP_ESTATE)
            return rc;
        close_fd(&s->in_fd);
        s->eof_sent = 1;
        if ((rc = sshbpp_channel_eof(L->chs, s->id)) != 0 && rc != SSHBPP_ESTATE)
            return rc;
        if ((rc = sshbpp_channel_close(L->chs, s->id)) != 0 && rc != SSHBPP_ESTATE)
            return rc;
    }
    return 0;
}

/* Client data for the child's stdin: copied (the event points into the
 * packet buffer) and written as the child reads. The channel layer
 * refuses a client that sends past our window, so the buffer never holds
 * more than the window. */
static int
take_data(struct loop *L, struct session *s, const sshbpp_chan_event *ev)
{
    size_t need;

    if (s == NULL || ev->ext != 0 || s->in_fd < 0 || !s->started || s->peer_eof)
        /* nobody to read it: dropped, window given back */
        return sshbpp_channel_consume(L->chs, ev->channel, ev->len);
    if (s->in_off > 0 && s->in_len > 0)
        memmove(s->in_buf, s->in_buf + s->in_off, s->in_len);
    s->in_off = 0;
    need = s->in_len + ev->len;
    if (need > (size_t)L->window + SSHBPP_CHAN_DEFAULT_PACKET)
        return sshbpp_conn_fail(L->c, SSHBPP_ECHANWINDOW);
    if (need > s->in_cap) {
        size_t cap = s->in_cap > 0 ? s->in_cap : 65536;
        uint8_t *p;

        while (cap < need)
            cap *= 2;
        if (cap > (size_t)L->window + SSHBPP_CHAN_DEFAULT_PACKET)
            cap = (size_t)L->window + SSHBPP_CHAN_DEFAULT_PACKET;
        if ((p = realloc(s->in_buf, cap)) == NULL)
            return sshbpp_conn_fail(L->c, SSHBPP_ENOMEM);
        s->in_buf = p;
        s->in_cap = cap;
    }
    memcpy(s->in_buf + s->in_len, ev->data, ev->len);
    s->in_len += ev->len;
    return 0;
}

/* ===================================================================== */
/* Events                                                                 */

/* An env request: name and value strings, LANG and LC_* only (sshd's
 * default AcceptEnv on Debian). Returns 1 if taken. */
static int
take_env(struct session *s, const uint8_t *data, size_t len)
{
    struct rbuf r;
    const uint8_t *name, *value;
    size_t nn, vn, i;
    char *p;

    rbuf_init(&r, data, len);
    if (rbuf_string(&r, &name, &nn) != 0 || rbuf_string(&r, &value, &vn) != 0)
        return 0;
    if (nn == 0 || nn > 64 || vn > MAX_ENV_VALUE || s->nenv >= MAX_ENV || s->started)
        return 0;
    if (!((nn == 4 && memcmp(name, "LANG", 4) == 0) || (nn > 3 && memcmp(name, "LC_", 3) == 0)))
        return 0;
    for (i = 0; i < nn; i++)
        if (!(name[i] == '_' || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9')))
            return 0;
    for (i = 0; i < vn; i++)
        if (value[i] == '\0')
            return 0;
    if ((p = malloc(nn + vn + 2)) == NULL)
        return 0;
    memcpy(p, name, nn);
    p[nn] = '=';
    memcpy(p + nn + 1, value, vn);
    p[nn + 1 + vn] = '\0';
    s->env[s->nenv++] = p;
    return 1;
}

static int
on_request(struct loop *L, const sshbpp_chan_event *ev)
{
    struct session *s = find_session(L, ev->channel);
    const char *why = "not supported";
    char small[4096], *arg = small;
    int ok = 0;

    /* A command as long as the packet allows (sshd takes any): the
     * channel layer bounded arg_len by the packet already. */
    if (ev->arg != NULL && ev->arg_len >= sizeof(small) &&
        (arg = malloc(ev->arg_len + 1)) == NULL) {
        arg = small;
        why = "out of memory";
        small[0] = '\0';
    } else if (ev->arg != NULL && memchr(ev->arg, '\0', ev->arg_len) == NULL) {
        memcpy(arg, ev->arg, ev->arg_len);
        arg[ev->arg_len] = '\0';
    } else {
        arg[0] = '\0';
        if (ev->arg != NULL)
            why = "bad argument";
    }
    if (s == NULL) {
        why = "no session";
    } else if (strcmp(ev->name, "exec") == 0 && ev->arg != NULL && arg[0] != '\0') {
        ok = start_session(L, s, "exec", arg, &why) == 0;
    } else if (strcmp(ev->name, "shell") == 0) {
        if (!L->o->allow_shell && (L->cl->entry == NULL || L->cl->entry->command == NULL))
            why = "shell not enabled (serve --shell)";
        else
            ok = start_session(L, s, "shell", NULL, &why) == 0;
    } else if (strcmp(ev->name, "subsystem") == 0) {
        if (strcmp(arg, "sftp") != 0)
            why = "unknown subsystem";
        else if (access(SERVE_SFTP_SERVER, X_OK) != 0)
            why = SERVE_SFTP_SERVER " missing";
        else
            ok = start_session(L, s, "subsystem", arg, &why) == 0;
    } else if (strcmp(ev->name, "env") == 0) {
        ok = take_env(s, ev->data, ev->len);
        why = "variable not accepted (LANG, LC_* only)";
    } else if (strcmp(ev->name, "pty-req") == 0) {
        why = L->cl->entry != NULL && !sshbpp_ak_entry_permits(L->cl->entry, SSHBPP_AK_PERMIT_PTY)
                  ? "pty not permitted by authorized_keys"
                  : "no pty support";
    } else if (strcmp(ev->name, "auth-agent-req@openssh.com") == 0 ||
               strcmp(ev->name, "x11-req") == 0) {
        why = "forwarding not supported";
    }
    if (!ok && strcmp(ev->name, "env") != 0)
        log_refused(L, ev->channel, ev->name, why);
    else if (!ok)
        cli_debug(1, "client %s: env request refused", L->cl->peer);
    if (arg != small)
        free(arg);
    return sshbpp_channel_request_reply(L->chs, ev->channel, ok);
}

static void
log_kex(struct loop *L)
{
    sshbpp_kex_info info;
    struct slog l;
    char ver[256];
    const char *mc, *ms;

    if (sshbpp_conn_get_info(L->c, &info) != 0)
        return;
    mc = info.mac_c2s[0] != '\0' ? info.mac_c2s : "<implicit>";
    ms = info.mac_s2c[0] != '\0' ? info.mac_s2c : "<implicit>";
    if (!serve_log_json) {
        /* One line per client, as before channels existed. */
        fprintf(stderr,
                "sshbpp: client %s %s kex=%s hostkey=%s c2s=%s/%s/%s s2c=%s/%s/%s strict=%s\n",
                L->cl->peer, cli_sanitize(ver, sizeof(ver), sshbpp_conn_peer_version(L->c)),
                info.kex, info.hostkey_alg, info.cipher_c2s, mc, info.comp_c2s, info.cipher_s2c,
                ms, info.comp_s2c, info.strict_kex ? "yes" : "no");
        cli_debug(1, "client %s: host key %s %s", L->cl->peer, info.hostkey_alg,
                  info.hostkey_fingerprint);
        return;
    }
    slog_begin(&l, "kex", L->cl->id);
    slog_str(&l, "kex_alg", info.kex);
    slog_str(&l, "hostkey_alg", info.hostkey_alg);
    slog_str(&l, "hostkey_fingerprint", info.hostkey_fingerprint);
    slog_str(&l, "cipher_c2s", info.cipher_c2s);
    slog_str(&l, "mac_c2s", mc);
    slog_str(&l, "compression_c2s", info.comp_c2s);
    slog_str(&l, "cipher_s2c", info.cipher_s2c);
    slog_str(&l, "mac_s2c", ms);
    slog_str(&l, "compression_s2c", info.comp_s2c);
    slog_bool(&l, "strict_kex", info.strict_kex);
    slog_end(&l);
}

static int
on_conn_event(struct loop *L, const sshbpp_conn_event *ce)
{
    struct slog l;

    switch (ce->type) {
    case SSHBPP_CONN_EV_VERSION:
        if (serve_log_json) {
            slog_begin(&l, "version", L->cl->id);
            slog_str(&l, "peer_version", ce->text);
            slog_end(&l);
        }
        break;
    case SSHBPP_CONN_EV_HANDSHAKE_DONE:
        log_kex(L);
        break;
    case SSHBPP_CONN_EV_REKEY_DONE:
        cli_debug(1, "client %s: rekeyed", L->cl->peer);
        break;
    case SSHBPP_CONN_EV_AUTH_RESULT:
        if (ce->success && ce->user != NULL)
            snprintf(L->cl->user, sizeof(L->cl->user), "%s", ce->user);
        slog_begin(&l, "auth_result", L->cl->id);
        slog_str(&l, "user", ce->user);
        slog_str(&l, "method", ce->alg);
        slog_bool(&l, "success", ce->success);
        slog_end(&l);
        break;
    case SSHBPP_CONN_EV_MESSAGE:
        cli_debug(1, "client %s: message type %u ignored", L->cl->peer,
                  ce->len > 0 ? ce->data[0] : 0);
        break;
    case SSHBPP_CONN_EV_DISCONNECT:
        L->cl->got_disconnect = 1;
        L->cl->disc_code = ce->code;
        cli_sanitize(L->cl->disc_text, sizeof(L->cl->disc_text), ce->text != NULL ? ce->text : "");
        break;
    case SSHBPP_CONN_EV_ERROR:
        return ce->error != 0 ? ce->error : SSHBPP_ECLOSED;
    default:
        break;
    }
    return 0;
}

static int
on_event(struct loop *L, const sshbpp_chan_event *ev)
{
    struct session *s;
    struct slog l;
    int rc;

    switch (ev->type) {
    case SSHBPP_CHAN_EV_CONN:
        return on_conn_event(L, &ev->conn);
    case SSHBPP_CHAN_EV_OPEN_REQUEST:
        if (strcmp(ev->name, "session") != 0) {
            slog_begin(&l, "channel_refused", L->cl->id);
            slog_str(&l, "type", ev->name);
            slog_end(&l);
            return sshbpp_channel_reject(L->chs, ev->channel, SSHBPP_OPEN_UNKNOWN_CHANNEL_TYPE,
                                         "only session channels");
        }
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return sshbpp_channel_reject(L->chs, ev->channel, SSHBPP_OPEN_RESOURCE_SHORTAGE,
                                         "out of memory");
        s->id = ev->channel;
        s->pidfd = s->in_fd = s->out[0].fd = s->out[1].fd = -1;
        if ((rc = sshbpp_channel_accept(L->chs, ev->channel)) != 0) {
            free(s);
            return rc;
        }
        s->next = L->sessions;
        L->sessions = s;
        L->cl->channels_opened++;
        slog_begin(&l, "channel_open", L->cl->id);
        slog_u64(&l, "channel", ev->channel);
        slog_str(&l, "type", ev->name);
        slog_end(&l);
        return 0;
    case SSHBPP_CHAN_EV_REQUEST:
        return on_request(L, ev);
    case SSHBPP_CHAN_EV_DATA:
        return take_data(L, find_session(L, ev->channel), ev);
    case SSHBPP_CHAN_EV_EOF:
        if ((s = find_session(L, ev->channel)) != NULL)
            s->peer_eof = 1;
        return 0;
    case SSHBPP_CHAN_EV_CLOSE:
        if ((s = find_session(L, ev->channel)) == NULL)
            return 0;
        slog_begin(&l, "channel_close", L->cl->id);
        slog_u64(&l, "channel", ev->channel);
        slog_end(&l);
        s->gone = 1;
        close_fd(&s->in_fd);
        close_fd(&s->out[0].fd);
        close_fd(&s->out[1].fd);
        if (s->running)
            (void)kill(-s->pid, SIGHUP); /* the client went first: its group */
        else
            free_session(L, s);
        return 0;
    case SSHBPP_CHAN_EV_GLOBAL_REQUEST:
        cli_debug(1, "client %s: global request %s refused", L->cl->peer, ev->name);
        return 0; /* refused by the layer */
    default:
        return 0;
    }
}

/* ===================================================================== */
/* The loop                                                               */

static void
addr_parts(int fd, int peer, char *host, size_t hcap, char *port, size_t pcap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                 : getsockname(fd, (struct sockaddr *)&ss, &len);

    if (r != 0 || getnameinfo((struct sockaddr *)&ss, len, host, (socklen_t)hcap, port,
                              (socklen_t)pcap, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(host, hcap, "?");
        snprintf(port, pcap, "0");
    }
}

/* Writes what the socket takes now. Returns 1 if some is left. */
static int
flush_tx(struct loop *L)
{
    const uint8_t *p;
    size_t len;
    ssize_t n;

    for (;;) {
        p = sshbpp_conn_tx_data(L->c, &len);
        if (p == NULL || len == 0)
            return 0;
        n = send(L->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            sshbpp_conn_tx_consume(L->c, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        (void)sshbpp_conn_fail(L->c, SSHBPP_EIO);
        return 0;
    }
}

/* After the end: what is left for the client (a DISCONNECT) gets up to a
 * second. */
static void
drain_tx(struct loop *L)
{
    int64_t until = mono_ms() + 1000;
    struct pollfd p;

    while (flush_tx(L) && mono_ms() < until) {
        p.fd = L->fd;
        p.events = POLLOUT;
        p.revents = 0;
        if (poll(&p, 1, 100) < 0 && errno != EINTR)
            break;
    }
}

#define MAX_POLL (1 + 4 * 64)

int
serve_session_run(sshbpp_conn *c, int fd, const struct serve_opts *o, struct serve_client *cl)
{
    struct loop L;
    sshbpp_channels_config cc;
    sshbpp_chan_event ev;
    struct pollfd pfd[MAX_POLL];
    struct session *s, *next;
    int rc, err = 0;

    memset(&L, 0, sizeof(L));
    L.c = c;
    L.fd = fd;
    L.o = o;
    L.cl = cl;
    addr_parts(fd, 1, L.caddr, sizeof(L.caddr), L.cport, sizeof(L.cport));
    addr_parts(fd, 0, L.saddr, sizeof(L.saddr), L.sport, sizeof(L.sport));
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    sshbpp_channels_config_init(&cc);
    cc.max_channels = o->max_channels;
    cc.manual_window = 1;
    L.window = cc.window != 0 ? cc.window : SSHBPP_CHAN_DEFAULT_WINDOW;
    if ((L.chs = sshbpp_channels_new(c, &cc)) == NULL)
        return SSHBPP_ENOMEM;
    if ((rc = sshbpp_conn_start(c, mono_ms())) != 0) {
        sshbpp_channels_free(L.chs);
        return rc;
    }

    for (;;) {
        int64_t now, deadline;
        nfds_t np = 0;
        int timeout = -1, want_out, reap_poll = 0, held = 0;
        size_t room = 0;
        uint8_t *space;

        while ((rc = sshbpp_channels_next_event(L.chs, &ev)) == 0) {
            if ((rc = on_event(&L, &ev)) != 0 && rc != SSHBPP_ESTATE && rc != SSHBPP_EAGAIN)
                break;
            rc = 0;
        }
        if (rc != SSHBPP_EAGAIN) {
            err = rc != 0 ? rc : SSHBPP_ECLOSED;
            break;
        }
        L.again = 0;
        for (s = L.sessions; s != NULL; s = next) {
            next = s->next;
            if (s->gone) {
                try_reap(&L, s);
                if (!s->running)
                    free_session(&L, s);
                continue;
            }
            if ((rc = pump(&L, s)) != 0)
                break;
        }
        if ((err = sshbpp_conn_error(c)) != 0)
            break;
        want_out = flush_tx(&L);
        if ((err = sshbpp_conn_error(c)) != 0)
            break;

        /* what to wait for */
        space = sshbpp_conn_rx_space(c, &room);
        pfd[np].fd = fd;
        pfd[np].events =
            (short)((space != NULL && room > 0 && tx_pending(&L) < RX_STOP ? POLLIN : 0) |
                    (want_out ? POLLOUT : 0));
        pfd[np].revents = 0;
        np++;
        for (s = L.sessions; s != NULL && np + 4 <= MAX_POLL; s = s->next) {
            if (s->in_fd >= 0 && s->in_len > 0) {
                pfd[np].fd = s->in_fd;
                pfd[np].events = POLLOUT;
                pfd[np++].revents = 0;
            }
            if (!s->gone) {
                uint32_t win = sshbpp_channel_send_window(L.chs, s->id);
                int k;

                for (k = 0; k < 2; k++) {
                    if (s->out[k].len > 0 && win > 0)
                        held = 1;
                    if (s->out[k].fd >= 0 && s->out[k].len == 0 && win > 0 &&
                        tx_pending(&L) < TX_HIGH) {
                        pfd[np].fd = s->out[k].fd;
                        pfd[np].events = POLLIN;
                        pfd[np++].revents = 0;
                    }
                }
            }
            if (s->running) {
                if (s->pidfd >= 0) {
                    pfd[np].fd = s->pidfd;
                    pfd[np].events = POLLIN;
                    pfd[np++].revents = 0;
                } else {
                    reap_poll = 1;
                }
            }
        }
        now = mono_ms();
        deadline = sshbpp_conn_next_deadline(c);
        if (deadline >= 0)
            timeout = deadline <= now ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
        if (reap_poll || np + 4 > MAX_POLL)
            timeout = timeout < 0 || timeout > REAP_POLL_MS ? REAP_POLL_MS : timeout;
        if (L.again)
            timeout = 0;
        else if (held && !want_out)
            timeout = timeout < 0 || timeout > HELD_RETRY_MS ? HELD_RETRY_MS : timeout;
        if (poll(pfd, np, timeout) < 0 && errno != EINTR) {
            (void)sshbpp_conn_fail(c, SSHBPP_EIO);
            continue;
        }
        now = mono_ms();
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            space = sshbpp_conn_rx_space(c, &room);
            if (space != NULL && room > 0) {
                ssize_t n = recv(fd, space, room, 0);

                if (n > 0)
                    rc = sshbpp_conn_rx_commit(c, (size_t)n, now);
                else if (n == 0)
                    (void)sshbpp_conn_rx_eof(c, now);
                else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    (void)sshbpp_conn_fail(c, SSHBPP_EIO);
            }
        }
        deadline = sshbpp_conn_next_deadline(c);
        if (deadline >= 0 && deadline <= now)
            rc = sshbpp_conn_tick(c, now); /* an error shows as the next event */
    }

    /* Whatever the conn still holds (our DISCONNECT) goes out first. */
    drain_tx(&L);
    kill_children(&L);
    while (L.sessions != NULL)
        free_session(&L, L.sessions);
    sshbpp_channels_free(L.chs);
    return err;
}
