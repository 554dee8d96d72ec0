/*
 * serve_auth.c: see serve_auth.h.
 */
#include "serve_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define MSG_USERAUTH_PK_OK 60

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

int
cli_serve_publickey(sshbpp_session *s, sshbpp_packetizer *p, const sshbpp_authorized_keys *ak,
                    const char *peer, const sshbpp_packet *pkt, size_t off)
{
    struct rbuf r;
    struct wbuf b = {0};
    const uint8_t *alg, *blob, *sig, *sid;
    size_t nalg, nblob, nsig, signed_len, sidlen = 0;
    uint8_t has_sig;
    char algname[64], addr[128], fp[80];
    const sshbpp_ak_entry *e = NULL;
    sshbpp_key *k = NULL;
    int rc;

    rbuf_init(&r, pkt->payload, pkt->len);
    r.off = off;
    if (rbuf_u8(&r, &has_sig) != 0 || rbuf_string(&r, &alg, &nalg) != 0 ||
        rbuf_string(&r, &blob, &nblob) != 0 || nalg >= sizeof(algname))
        return 2;
    memcpy(algname, alg, nalg);
    algname[nalg] = '\0';
    signed_len = r.off;
    if (sshbpp_key_from_blob(blob, nblob, &k) != 0 || !sshbpp_key_can_sign(k, algname)) {
        sshbpp_key_free(k);
        return 2;
    }
    peer_addr(peer, addr, sizeof(addr));
    if (sshbpp_authorized_keys_find(ak, blob, nblob, addr, wall_ms(), &e) != 0) {
        if (sshbpp_key_fingerprint(k, SSHBPP_FP_SHA256, fp, sizeof(fp)) < 0)
            fp[0] = '\0';
        cli_debug(1, "client %s: key %s not authorized (no entry, or from=/expiry-time=)", peer,
                  fp);
        sshbpp_key_free(k);
        return 2;
    }
    if (!has_sig) {
        /* RFC 4252 section 7: the key would do; ask for the signature. */
        sshbpp_key_free(k);
        wbuf_u8(&b, MSG_USERAUTH_PK_OK);
        wbuf_string(&b, alg, nalg);
        wbuf_string(&b, blob, nblob);
        rc = b.err ? SSHBPP_ENOMEM : cli_send_solo(s, p, b.data, b.len);
        wbuf_free(&b);
        return rc != 0 ? rc : 0;
    }
    if (rbuf_string(&r, &sig, &nsig) != 0 || r.off != pkt->len) {
        sshbpp_key_free(k);
        return 2;
    }
    /* Signed: string session identifier, then the request up to the
     * signature. The signature's own name must be the request's. */
    sid = sshbpp_kex_session_id(sshbpp_session_kex(s), &sidlen);
    wbuf_string(&b, sid, sidlen);
    wbuf_bytes(&b, pkt->payload, signed_len);
    rc = 2;
    if (!b.err && nsig >= 4 + nalg && memcmp(sig + 4, alg, nalg) == 0 &&
        sshbpp_key_verify(k, b.data, b.len, sig, nsig) == 0)
        rc = 1;
    wbuf_free(&b);
    if (rc == 1) {
        if (sshbpp_key_fingerprint(k, SSHBPP_FP_SHA256, fp, sizeof(fp)) < 0)
            fp[0] = '\0';
        wbuf_u8(&b, MSG_USERAUTH_SUCCESS);
        rc = b.err ? SSHBPP_ENOMEM : cli_send_solo(s, p, b.data, b.len);
        wbuf_free(&b);
        if (rc == 0)
            rc = sshbpp_kex_auth_done(sshbpp_session_kex(s));
        if (rc == 0) {
            fprintf(stderr, "sshbpp: client %s: accepted publickey %s %s (authorized_keys line "
                            "%lu)\n", peer, algname, fp, e->line);
            rc = 1;
        }
    }
    sshbpp_key_free(k);
    return rc;
}
