/*
 * forward.h: local port forwarding for `sshbpp exec -L`, as ssh -L: a
 * listening socket per -L spec; each connection accepted there becomes a
 * direct-tcpip channel (RFC 4254 section 7.2) to host:hostport as seen
 * from the server, copied both ways until both ends closed.
 */
#ifndef SSHBPP_CLI_FORWARD_H
#define SSHBPP_CLI_FORWARD_H

#include <stddef.h>

#include "sshbpp/sshbpp_driver_channel.h"

#define CLI_FWD_MAX_SPECS 16 /* -L options */
#define CLI_FWD_MAX_CONNS 64 /* forwarded connections open at once, all -L together */

/* One -L [bind_address:]port:host:hostport. */
struct cli_fwd_spec {
    char bind[SSHBPP_DIRECT_TCPIP_MAX_HOST + 1]; /* "" : 127.0.0.1 (no bind_address given) */
    char host[SSHBPP_DIRECT_TCPIP_MAX_HOST + 1];
    long port, hostport;
    int bind_given; /* bind_address given; "*" or empty: every interface */
};

/* Parses arg into *out. Returns 0, or -1 after an error line. */
int cli_fwd_parse(const char *arg, struct cli_fwd_spec *out);

struct cli_fwd;

/* Binds every spec's listening socket(s), then accepts on them in a
 * thread of its own, each connection forwarded over dc (which must
 * outlive every forwarded connection: see cli_fwd_stop). A spec that
 * cannot be bound is an error line; with exit_on_failure
 * (ExitOnForwardFailure=yes) it is fatal (NULL), else the others go on
 * (as ssh). NULL also when nothing at all could be bound with
 * exit_on_failure, or out of memory. */
struct cli_fwd *cli_fwd_start(sshbpp_driver_channels *dc, const struct cli_fwd_spec *specs,
                              size_t n, int exit_on_failure);

/* Stops accepting and closes the listening sockets. Returns the count of
 * forwarded connections still running: if not 0, their threads still use
 * dc and its driver (closed or not), which must then not be freed. */
unsigned cli_fwd_stop(struct cli_fwd *f);

/* -N: services the connection (sshbpp_driver_channels_service) until it
 * ends. Returns the error it ended with. */
int cli_fwd_wait(sshbpp_driver_channels *dc);

#endif
