/*
 * serve_auth.h: serve's publickey decision against an authorized_keys file,
 * for the connection object's server auth callback (sshbpp_conn_auth_fn).
 */
#ifndef SSHBPP_CLI_SERVE_AUTH_H
#define SSHBPP_CLI_SERVE_AUTH_H

#include "sshbpp/sshbpp_conn.h"
#include "sshbpp/sshbpp_keys.h"

/* Decides one "publickey" attempt of the client at peer ("1.2.3.4:port" or
 * "[::1]:port"): ACCEPT when the key has a usable entry in ak (from= and
 * expiry-time= checked against the peer's address and the wall clock) and
 * the signature verified, or, for a query without signature, when the key
 * would do (the conn then sends PK_OK); REJECT otherwise, including for
 * every other method. The conn verified the signature itself. On ACCEPT,
 * *entry (if entry is not NULL) gets the matching line, valid until ak is
 * freed: its options (command=, restrict, ...) govern the session. */
enum sshbpp_auth_decision cli_serve_authorize(const sshbpp_authorized_keys *ak, const char *peer,
                                              const sshbpp_conn_auth_attempt *a,
                                              const sshbpp_ak_entry **entry);

#endif
