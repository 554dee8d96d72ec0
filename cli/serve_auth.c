/*
 * serve_auth.c: see serve_auth.h.
 */
#include "serve_auth.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "serve_log.h"

/* The numeric address of "1.2.3.4:port" or "[::1]:port". */
static void
peer_addr(const char *peer, char *out, size_t cap)
{
    const char *end;
    size_t n;

    if (peer[0] == '[') {
        peer++;
        end = strchr(peer, ']');
    } else {
        end = strrchr(peer, ':');
    }
    n = end != NULL ? (size_t)(end - peer) : strlen(peer);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum sshbpp_auth_decision
cli_serve_authorize(const sshbpp_authorized_keys *ak, const char *peer,
                    const sshbpp_conn_auth_attempt *a, const sshbpp_ak_entry **entry)
{
    char addr[128], fp[80];
    const sshbpp_ak_entry *e = NULL;
    sshbpp_key *k = NULL;

    if (ak == NULL || a->pubkey_blob == NULL || strcmp(a->method, "publickey") != 0)
        return SSHBPP_AUTH_REJECT;
    /* "ssh-rsa" (SHA-1) reaches here only when -o PubkeyAcceptedAlgorithms
     * allowed it: the conn refuses it otherwise. */
    if (sshbpp_key_from_blob(a->pubkey_blob, a->pubkey_len, &k) != 0 ||
        (!sshbpp_key_can_sign(k, a->pubkey_alg) &&
         !(strcmp(a->pubkey_alg, "ssh-rsa") == 0 &&
           strcmp(sshbpp_key_type_name(k), "ssh-rsa") == 0))) {
        sshbpp_key_free(k);
        return SSHBPP_AUTH_REJECT;
    }
    if (sshbpp_key_fingerprint(k, SSHBPP_FP_SHA256, fp, sizeof(fp)) < 0)
        fp[0] = '\0';
    sshbpp_key_free(k);
    peer_addr(peer, addr, sizeof(addr));
    if (sshbpp_authorized_keys_find(ak, a->pubkey_blob, a->pubkey_len, addr, wall_ms(), &e) !=
        0) {
        cli_debug(1, "client %s: key %s not authorized (no entry, or from=/expiry-time=)", peer,
                  fp);
        return SSHBPP_AUTH_REJECT;
    }
    if (a->signature_ok && !serve_log_json)
        fprintf(stderr, "sshbpp: client %s: accepted publickey %s %s (authorized_keys line %lu)\n",
                peer, a->pubkey_alg, fp, e->line);
    if (entry != NULL)
        *entry = e;
    return SSHBPP_AUTH_ACCEPT;
}
