/*
 * kex_ends.h: two sans-I/O key exchange ends (an engine and a kex each)
 * pumped against each other in memory, for the kex tests that need no
 * conn (hostile input, secret wiping, allocation failure).
 *
 *  - ke_transport: the sshbpp_kex_transport of an end (ctx: its ke_end),
 *    straight onto its engine;
 *  - ke_start: both ends' engines and kexes (cfg, a fresh ed25519 host
 *    key on the server, versions "SSH-2.0-c" / "SSH-2.0-s"), the client's
 *    exchange started; cmocka assertions (a failed step ends the test);
 *  - ke_pump: from's output into to's engine, to's packets into to's kex
 *    (through to's rewrite hook, if any), the application packets (type
 *    94) it passes counted in to->app.
 */
#ifndef SSHBPP_KEX_ENDS_H
#define SSHBPP_KEX_ENDS_H

#include "sshbpp/sshbpp.h"

typedef struct ke_end ke_end;

struct ke_end {
    sshbpp_engine *e;
    sshbpp_kex *k;
    int role;     /* the test's (which end this is) */
    unsigned app; /* application packets (type 94) the kex passed through */
    /* NULL, or called with each packet to's engine gives, before the kex
     * sees it; may replace *pkt */
    void (*rewrite)(ke_end *to, sshbpp_packet *pkt);
};

extern const sshbpp_kex_transport ke_transport;

/* Sets up c (client) and s (server) and starts the exchange at c. */
void ke_start(ke_end *c, ke_end *s, const sshbpp_kex_config *cfg);

/* Moves from's output into to and feeds its packets to to's kex. Returns
 * 1 if anything moved, 0 if nothing did, or an error. */
int ke_pump(ke_end *from, ke_end *to);

#endif
