/*
 * trust.h: the client side of keys and trust for probe: the known_hosts
 * check on the connection's host-key event, before our NEWKEYS
 * (StrictHostKeyChecking, HashKnownHosts), and
 * publickey authentication with a key file in any format sshbpp reads
 * (passphrase from a file or the terminal) or with ssh-agent.
 */
#ifndef SSHBPP_CLI_TRUST_H
#define SSHBPP_CLI_TRUST_H

#include <stddef.h>

#include "sshbpp/sshbpp_keys.h"
#include "sshbpp/sshbpp_driver.h"

struct cli_trust {
    const char *known_hosts;         /* --known-hosts FILE, or NULL: no check */
    enum sshbpp_strict_hostkey policy; /* -o StrictHostKeyChecking= (probe: no) */
    int hash;                        /* -o HashKnownHosts= (default no) */
    const char *passfile;            /* --passphrase-file */
    const char *status;              /* after the check: "match", "added", ... */
};

/* Handles one -o option ("StrictHostKeyChecking=accept-new", ...). 0 or -1
 * (message printed). */
int cli_trust_option(struct cli_trust *t, const char *opt);

/* Checks the server's host key (blob: its SSH wire form, as the conn's
 * HOSTKEY event carries it) against t->known_hosts (if set), printing
 * OpenSSH's kind of warning for a changed or revoked key. Returns 0 to go
 * on, or the error code (the key must be refused). */
int cli_trust_check_hostkey(struct cli_trust *t, const uint8_t *blob, size_t len,
                            const char *host, unsigned port);

/* publickey authentication: with identity (a private key in any format,
 * or a public key / encrypted OpenSSH key whose private half is in the
 * agent), or without one through every agent identity in turn. *tried is
 * set when at least one key was offered, *ok when one was accepted; after
 * a refusal methods (mcap bytes) holds the methods that can continue.
 * Every request goes through sshbpp_driver_auth_publickey() (the conn's
 * sshbpp_conn_auth_publickey()) with the keys layer's signer
 * (sshbpp_key_sign_cb or sshbpp_agent_sign_cb), each within timeout_ms.
 * Returns 0 (accepted or refused) or an error code, with msg (cap bytes)
 * set to a line for the user on a key-file or agent error. */
int cli_trust_auth(const struct cli_trust *t, sshbpp_driver *d, const char *user,
                   const char *identity, char *methods, size_t mcap, int *ok, int *tried,
                   char *msg, size_t cap, int64_t timeout_ms);

#endif
