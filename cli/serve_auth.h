/*
 * serve_auth.h: `sshbpp serve --authorized-keys FILE`: the server side of
 * "publickey" (RFC 4252 section 7) against an authorized_keys file, with
 * its from= and expiry-time= enforced (sshbpp_authorized_keys_find()).
 * Until the connection object's server auth callback lands, this is the
 * tool's own small userauth server.
 */
#ifndef SSHBPP_CLI_SERVE_AUTH_H
#define SSHBPP_CLI_SERVE_AUTH_H

#include <stddef.h>

#include "sshbpp/sshbpp_keys.h"
#include "sshbpp/sshbpp_session.h"

/* Answers one publickey USERAUTH_REQUEST (pkt, with off the offset just
 * after the method name): SSH_MSG_USERAUTH_PK_OK for a query of an
 * authorized key, SSH_MSG_USERAUTH_SUCCESS for a good signature by one,
 * and nothing for everything else (the caller sends the FAILURE).
 * Returns 1 (authenticated), 0 (answered with PK_OK), 2 (not accepted:
 * send FAILURE), or a session error. */
int cli_serve_publickey(sshbpp_session *s, sshbpp_packetizer *p, const sshbpp_authorized_keys *ak,
                        const char *peer, const sshbpp_packet *pkt, size_t off);

#endif
