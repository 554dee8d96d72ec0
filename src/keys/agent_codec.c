/*
 * agent_codec.c: the ssh-agent protocol messages a client needs
 * (draft-miller-ssh-agent, OpenSSH's PROTOCOL.agent): every message is
 * uint32 length, byte type, contents.
 *
 *   REQUEST_IDENTITIES (11) -> IDENTITIES_ANSWER (12): uint32 nkeys, then
 *       nkeys x (string key blob, string comment)
 *   SIGN_REQUEST (13): string key blob, string data, uint32 flags
 *       (2: rsa-sha2-256, 4: rsa-sha2-512) -> SIGN_RESPONSE (14): string
 *       signature blob
 *   FAILURE (5): the agent said no.
 *
 * The answer is bounded before parsing (SSHBPP__AGENT_MAX_MSG) and every
 * count before allocating; certificates and key types we do not use are
 * left out of the list rather than failing it.
 */
#include <stdlib.h>
#include <string.h>

#include "keys_int.h"

static void
frame(sshbpp__wbuf *out, const sshbpp__wbuf *body)
{
    sshbpp__wb_u32(out, (uint32_t)body->len);
    sshbpp__wb_raw(out, body->p, body->len);
}

/* see keys_int.h */
int
sshbpp__agent_req_identities(sshbpp__wbuf *out)
{
    sshbpp__wb_u32(out, 1);
    sshbpp__wb_u8(out, SSHBPP__AGENTC_REQUEST_IDENTITIES);
    return out->err;
}

/* see keys_int.h */
int
sshbpp__agent_req_sign(sshbpp__wbuf *out, const uint8_t *blob, size_t blen, const uint8_t *data,
                       size_t n, uint32_t flags)
{
    sshbpp__wbuf body;
    int r;

    if (blen + n + 64 > SSHBPP__AGENT_MAX_MSG)
        return SSHBPP_EINVAL;
    sshbpp__wb_init(&body);
    sshbpp__wb_u8(&body, SSHBPP__AGENTC_SIGN_REQUEST);
    sshbpp__wb_string(&body, blob, blen);
    sshbpp__wb_string(&body, data, n);
    sshbpp__wb_u32(&body, flags);
    if ((r = body.err) == 0) {
        frame(out, &body);
        r = out->err;
    }
    sshbpp__wb_free(&body);
    return r;
}

/* see keys_int.h */
long
sshbpp__agent_sign_flags(const sshbpp_key *key, const char *sig_alg)
{
    if (!sshbpp_key_can_sign(key, sig_alg))
        return -1;
    if (strcmp(sig_alg, "rsa-sha2-256") == 0)
        return SSHBPP__AGENT_RSA_SHA2_256;
    if (strcmp(sig_alg, "rsa-sha2-512") == 0)
        return SSHBPP__AGENT_RSA_SHA2_512;
    return 0;
}

/* see keys_int.h */
int
sshbpp__agent_parse_identities(const uint8_t *p, size_t n, sshbpp_key ***keys, size_t *nkeys)
{
    sshbpp__rbuf rb;
    uint8_t type;
    uint32_t count, i;
    const uint8_t *blob, *com;
    size_t blen, clen, got = 0;
    sshbpp_key **v = NULL, *k;
    int r;

    *keys = NULL;
    *nkeys = 0;
    sshbpp__rb_init(&rb, p, n);
    if (sshbpp__rb_u8(&rb, &type) != 0)
        return SSHBPP_EAGENT;
    if (type == SSHBPP__AGENT_FAILURE)
        return SSHBPP_EAGENTREFUSED;
    if (type != SSHBPP__AGENT_IDENTITIES_ANSWER || sshbpp__rb_u32(&rb, &count) != 0)
        return SSHBPP_EAGENT;
    /* Each identity takes at least 8 bytes: a count beyond that is a lie. */
    if (count > SSHBPP__AGENT_MAX_KEYS || count > (n - rb.off) / 8)
        return SSHBPP_EAGENT;
    if (count > 0 && (v = calloc(count, sizeof(*v))) == NULL)
        return SSHBPP_ENOMEM;
    for (i = 0; i < count; i++) {
        if (sshbpp__rb_string(&rb, &blob, &blen) != 0 || sshbpp__rb_string(&rb, &com, &clen) != 0) {
            r = SSHBPP_EAGENT;
            goto fail;
        }
        r = sshbpp_key_from_blob(blob, blen, &k);
        if (r == SSHBPP_ENOMEM)
            goto fail;
        if (r != 0)
            continue; /* a certificate, ssh-dss, a security key, ...: not ours */
        if ((k->comment = malloc(clen + 1)) == NULL) {
            sshbpp_key_free(k);
            r = SSHBPP_ENOMEM;
            goto fail;
        }
        memcpy(k->comment, com, clen);
        k->comment[clen] = '\0';
        v[got++] = k;
    }
    if (!sshbpp__rb_done(&rb)) {
        r = SSHBPP_EAGENT;
        goto fail;
    }
    *keys = v;
    *nkeys = got;
    return 0;
fail:
    sshbpp_agent_free_list(v, got);
    return r;
}

/* see keys_int.h */
int
sshbpp__agent_parse_sign(const uint8_t *p, size_t n, const char *sig_alg, uint8_t *sig,
                         size_t cap, size_t *sig_len)
{
    sshbpp__rbuf rb, in;
    uint8_t type;
    const uint8_t *s, *name, *body;
    size_t slen, nlen, blen;

    sshbpp__rb_init(&rb, p, n);
    if (sshbpp__rb_u8(&rb, &type) != 0)
        return SSHBPP_EAGENT;
    if (type == SSHBPP__AGENT_FAILURE)
        return SSHBPP_EAGENTREFUSED;
    if (type != SSHBPP__AGENT_SIGN_RESPONSE || sshbpp__rb_string(&rb, &s, &slen) != 0 ||
        !sshbpp__rb_done(&rb))
        return SSHBPP_EAGENT;
    /* The blob must be string name, string signature, with the name we
     * asked for (an old agent answering ssh-rsa for rsa-sha2-256 is
     * refused, not passed on to be rejected by the server). */
    sshbpp__rb_init(&in, s, slen);
    if (sshbpp__rb_string(&in, &name, &nlen) != 0 || sshbpp__rb_string(&in, &body, &blen) != 0 ||
        !sshbpp__rb_done(&in) || nlen != strlen(sig_alg) || memcmp(name, sig_alg, nlen) != 0)
        return SSHBPP_EAGENT;
    if (slen > cap)
        return SSHBPP_EBUFSMALL;
    memcpy(sig, s, slen);
    *sig_len = slen;
    return 0;
}

/* see sshbpp_keys.h */
void
sshbpp_agent_free_list(sshbpp_key **keys, size_t n)
{
    size_t i;

    if (keys == NULL)
        return;
    for (i = 0; i < n; i++)
        sshbpp_key_free(keys[i]);
    free(keys);
}
