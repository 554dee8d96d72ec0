/*
 * conn_rig.h: two sans-I/O connections (sshbpp_conn.h) pumped against each
 * other in memory, for the conn and channel tests.
 *
 *  - the mover (cr_move, cr_pump): bytes from one conn's tx_data into the
 *    other's feed, all at once or `chunk` bytes per step, with a drain
 *    callback after every feed, until nothing moves. A conn that has
 *    failed swallows what is sent to it (its error shows as an event).
 *  - the conn-event rig (cr_rig): a client and a server conn with what each
 *    side saw recorded (events by type, auth results, version, host key
 *    fingerprint, DISCONNECT, the application messages, the engine's sent
 *    packets by type) and the host key verdict given by hostkey_policy.
 *
 * Assertions are cmocka's: a failed step ends the test.
 */
#ifndef SSHBPP_CONN_RIG_H
#define SSHBPP_CONN_RIG_H

#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp.h"

/* ---- the mover -------------------------------------------------------------- */

/* Called with the receiving side's context after each feed. */
typedef void (*cr_drain_fn)(void *side);

/* Moves a's output into b (up to chunk bytes, 0: all), calling drain(bside)
 * after each feed. Returns the byte count moved. */
size_t cr_move(sshbpp_conn *a, sshbpp_conn *b, int64_t now, size_t chunk, cr_drain_fn drain,
               void *bside);

/* Drains both, then moves both ways until nothing moves (at most
 * max_rounds rounds, else the test fails). */
void cr_pump(sshbpp_conn *c, void *cside, sshbpp_conn *s, void *sside, int64_t now,
             size_t chunk, cr_drain_fn drain, unsigned long max_rounds);

/* ---- the conn-event rig ----------------------------------------------------------- */

#define CR_MAX_MSGS 4096

/* What one side saw. */
typedef struct cr_side {
    sshbpp_conn *c;
    int n[16]; /* events by type */
    int last_success, last_partial;
    char last_methods[256];
    char last_user[64], last_alg[64];
    char version[256];
    uint32_t disc_code;
    char disc_text[256];
    int error;
    int hostkey_policy; /* client: 1 accept, 0 refuse, -1 leave pending */
    char fingerprint[128];
    size_t nmsgs;
    uint8_t *msgs[CR_MAX_MSGS];
    size_t lens[CR_MAX_MSGS];
    const char *kb_answer;     /* AUTH_PROMPT: answer every prompt with this */
    int sent_types[256];       /* engine trace: packets sent, by type */
    uint32_t sent_seqno[256];  /* engine trace: latest seqno sent, by type */
} cr_side;

typedef struct cr_rig {
    cr_side c, s;
    int64_t now;
    size_t chunk; /* bytes moved per step, 0: all */
} cr_rig;

/* A conn of role from base (NULL: defaults); a server gets auth_cb and
 * auth_ctx and a fresh ed25519 host key. */
sshbpp_conn *cr_make_conn(enum sshbpp_role role, const sshbpp_conn_config *base,
                          sshbpp_conn_auth_fn auth_cb, void *auth_ctx);
/* Both conns (configs may be NULL), client hostkey_policy 1, now 1000,
 * engine traces recording sent packets. */
void cr_rig_init(cr_rig *r, const sshbpp_conn_config *ccfg, const sshbpp_conn_config *scfg,
                 sshbpp_conn_auth_fn auth_cb, void *auth_ctx);
void cr_rig_start(cr_rig *r);
void cr_rig_free(cr_rig *r);
/* Takes sd's pending events into the record. */
void cr_drain_events(cr_side *sd);
size_t cr_rig_move(cr_rig *r, cr_side *a, cr_side *b);
void cr_rig_pump(cr_rig *r);
/* Start, pump, and both ends done without error. */
void cr_rig_handshake(cr_rig *r);

#endif
