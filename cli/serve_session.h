/*
 * serve_session.h: one authenticated-or-not client of `sshbpp serve`,
 * driven by its own poll loop over the socket and its children's pipes:
 * the sans-I/O sshbpp_conn and sshbpp_channels underneath, session
 * channels with exec (/bin/sh -c), shell (--shell), subsystem sftp
 * (Debian's sftp-server) and env (LANG, LC_*), each child started with
 * posix_spawn and reaped, its output sent as far as the client's window
 * allows and its input taken only as fast as the child reads it.
 */
#ifndef SSHBPP_CLI_SERVE_SESSION_H
#define SSHBPP_CLI_SERVE_SESSION_H

#include <stdint.h>

#include "sshbpp/sshbpp_conn.h"
#include "sshbpp/sshbpp_keys.h"

#define SERVE_SFTP_SERVER "/usr/lib/openssh/sftp-server"

/* Server-wide options, read-only once clients are served. */
struct serve_opts {
    unsigned max_channels;  /* channels open at once per connection */
    long max_conn_children; /* running children per connection */
    long max_children;      /* running children of the whole server */
    int allow_shell;        /* --shell */
};

/* What the loop knows of its client; filled by serve.c. */
struct serve_client {
    unsigned long id;    /* connection id of the log */
    const char *peer;    /* "addr:port" for the text log */
    /* the authorized_keys entry that let the client in: set by the auth
     * callback (same thread), NULL before; valid while the connection
     * runs (serve.c reads authorized_keys once per connection) */
    const sshbpp_ak_entry *entry;
    char user[64];       /* the user name it authenticated as */
    /* a DISCONNECT from the client: its reason code and text */
    int got_disconnect;
    uint32_t disc_code;
    char disc_text[256];
    unsigned long channels_opened, children_started;
};

/* Runs the connection on fd (connected, owned by the caller, made
 * non-blocking here) until it ends: starts c, answers its events, serves
 * channels; every child is reaped and every pipe closed before it returns.
 * Returns the conn's sticky error (SSHBPP_EEOF for a client that left,
 * SSHBPP_EDISCONNECT, ...). */
int serve_session_run(sshbpp_conn *c, int fd, const struct serve_opts *o,
                      struct serve_client *cl);

/* Running children of the whole server (for the log). */
long serve_children_total(void);

#endif
