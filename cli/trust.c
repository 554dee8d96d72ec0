/*
 * trust.c: see trust.h.
 *
 * The host key check runs on the connection object's host-key event
 * (sshbpp_driver_set_hostkey_cb()), before our NEWKEYS is sent, so that
 * nothing at all is sent under keys agreed with an unverified server.
 */
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "passphrase.h"

int
cli_trust_option(struct cli_trust *t, const char *opt)
{
    const char *eq = strchr(opt, '=');
    const char *v;
    size_t n;

    if (eq == NULL) {
        cli_error("-o %s: expected Name=value", opt);
        return -1;
    }
    n = (size_t)(eq - opt);
    v = eq + 1;
    if (n == 21 && strncasecmp(opt, "StrictHostKeyChecking", n) == 0) {
        if (strcasecmp(v, "yes") == 0)
            t->policy = SSHBPP_SHK_YES;
        else if (strcasecmp(v, "accept-new") == 0)
            t->policy = SSHBPP_SHK_ACCEPT_NEW;
        else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0)
            t->policy = SSHBPP_SHK_NO;
        else {
            cli_error("-o StrictHostKeyChecking takes yes, accept-new or no");
            return -1;
        }
        return 0;
    }
    if (n == 14 && strncasecmp(opt, "HashKnownHosts", n) == 0) {
        if (strcasecmp(v, "yes") == 0)
            t->hash = 1;
        else if (strcasecmp(v, "no") == 0)
            t->hash = 0;
        else {
            cli_error("-o HashKnownHosts takes yes or no");
            return -1;
        }
        return 0;
    }
    if (n == 18 && strncasecmp(opt, "UserKnownHostsFile", n) == 0) {
        t->known_hosts = v;
        return 0;
    }
    cli_error("-o %.*s: unsupported option", (int)n, opt);
    return -1;
}

static const char *
type_label(const sshbpp_key *k)
{
    switch (sshbpp_key_type(k)) {
    case SSHBPP_KEY_ED25519:
        return "ED25519";
    case SSHBPP_KEY_ECDSA:
        return "ECDSA";
    default:
        return "RSA";
    }
}

int
cli_trust_check_hostkey(struct cli_trust *t, const uint8_t *blob, size_t len, const char *host,
                        unsigned port)
{
    sshbpp_known_hosts_result res;
    sshbpp_key_diag d;
    sshbpp_key *k = NULL;
    char fp[80];
    int rc;

    if (t->known_hosts == NULL)
        return 0;
    if (blob == NULL || len == 0)
        return SSHBPP_EINVAL;
    if (sshbpp_key_from_blob(blob, len, &k) != 0 ||
        sshbpp_key_fingerprint(k, SSHBPP_FP_SHA256, fp, sizeof(fp)) < 0)
        snprintf(fp, sizeof(fp), "?");
    memset(&d, 0, sizeof(d));
    rc = sshbpp_known_hosts_verify(t->known_hosts, host, port, blob, len, t->policy, t->hash, &res,
                                   &d);
    if (rc == SSHBPP_EKEYLINELONG || rc == SSHBPP_EIO) {
        cli_error("%s: %s%s%s", t->known_hosts, sshbpp_strerror(rc), d.msg[0] ? ": " : "", d.msg);
        sshbpp_key_free(k);
        return rc;
    }
    if (res.ca_skipped > 0)
        cli_debug(1, "%s: %lu @cert-authority line(s) for %s skipped: host certificates are not "
                     "supported", t->known_hosts, res.ca_skipped, host);
    switch (res.status) {
    case SSHBPP_HOSTKEY_MATCH:
        t->status = "match";
        cli_debug(1, "Host '%s' is known and matches the %s host key.", host, type_label(k));
        cli_debug(1, "Found key in %s:%lu", t->known_hosts, res.line);
        break;
    case SSHBPP_HOSTKEY_REVOKED:
        t->status = "revoked";
        fprintf(stderr,
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                "@       WARNING: REVOKED HOST KEY DETECTED!               @\n"
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                "The %s host key for %s is marked as revoked.\n"
                "This could mean that a stolen key is being used to\n"
                "impersonate this host.\n"
                "Revoked key in %s:%lu\n",
                type_label(k), host, t->known_hosts, res.line);
        break;
    case SSHBPP_HOSTKEY_MISMATCH:
        t->status = "changed";
        fprintf(stderr,
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
                "Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n"
                "It is also possible that a host key has just been changed.\n"
                "The fingerprint for the %s key sent by the remote host is\n%s.\n"
                "Offending %s key in %s:%lu\n",
                type_label(k), fp, type_label(k), t->known_hosts, res.line);
        if (rc == 0)
            fprintf(stderr, "StrictHostKeyChecking is off: continuing, as probe reports what "
                            "it sees.\n");
        else
            fprintf(stderr, "Host key for %s has changed and you have requested strict "
                            "checking.\nHost key verification failed.\n", host);
        break;
    case SSHBPP_HOSTKEY_UNKNOWN:
    default:
        t->status = res.added ? "added" : "unknown";
        if (res.added)
            fprintf(stderr, "Warning: Permanently added '%s' (%s) to the list of known hosts.\n",
                    host, type_label(k));
        else
            fprintf(stderr, "No %s host key is known for %s and you have requested strict "
                            "checking.\nHost key verification failed.\n", type_label(k), host);
        break;
    }
    sshbpp_key_free(k);
    return rc;
}

/* Loads identity for signing, asking for a passphrase where needed. */
static int
load_identity(const struct cli_trust *t, const char *identity, sshbpp_key **k,
              sshbpp_key_diag *d)
{
    char pass[1024], prompt[1200];
    int rc;

    pass[0] = '\0';
    if (t->passfile != NULL && cli_passphrase_from_file(t->passfile, pass, sizeof(pass)) != 0)
        return SSHBPP_EIO;
    rc = sshbpp_key_load_file(identity, t->passfile != NULL ? pass : NULL, k, d);
    if (rc == SSHBPP_EKEYPASSPHRASE && t->passfile == NULL) {
        snprintf(prompt, sizeof(prompt), "Enter passphrase for key '%s': ", identity);
        if (cli_passphrase_prompt(prompt, pass, sizeof(pass)) == 0)
            rc = sshbpp_key_load_file(identity, pass, k, d);
    }
    cli_passphrase_wipe(pass, sizeof(pass));
    return rc;
}

/* The agent's identity equal to want, or NULL. */
static sshbpp_key *
agent_find(sshbpp_key **keys, size_t n, const sshbpp_key *want)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (sshbpp_key_equal(keys[i], want))
            return keys[i];
    return NULL;
}

/* One publickey request with pub, signed by fn(ctx). Returns 0 with *ok
 * and, when refused, methods; or the driver's error. */
static int
offer(sshbpp_driver *dr, const char *user, const sshbpp_key *pub, sshbpp_sign_fn fn, void *ctx,
      char *methods, size_t mcap, int *ok, int64_t timeout_ms)
{
    int partial = 0;
    uint8_t blob[4096];
    size_t blen = 0;
    char fp[80];
    int rc;

    if ((rc = sshbpp_key_public_blob(pub, blob, sizeof(blob), &blen)) != 0)
        return rc;
    if (sshbpp_key_fingerprint(pub, SSHBPP_FP_SHA256, fp, sizeof(fp)) < 0)
        fp[0] = '\0';
    cli_debug(1, "Offering public key: %s %s", sshbpp_key_type_name(pub), fp);
    rc = sshbpp_driver_auth_publickey(dr, user, blob, blen, fn, ctx, timeout_ms);
    if (rc == 0) {
        *ok = 1;
        if (mcap > 0)
            methods[0] = '\0';
        return 0;
    }
    if (rc == SSHBPP_EREFUSED) {
        *ok = 0;
        if (sshbpp_driver_auth_methods(dr, methods, mcap, &partial) != 0 && mcap > 0)
            methods[0] = '\0';
        return 0;
    }
    return rc;
}

int
cli_trust_auth(const struct cli_trust *t, sshbpp_driver *dr, const char *user,
               const char *identity, char *methods, size_t mcap, int *ok, int *tried, char *msg,
               size_t cap, int64_t timeout_ms)
{
    sshbpp_key *key = NULL, *pub = NULL, **ids = NULL;
    sshbpp_agent *agent = NULL;
    sshbpp_agent_signer as;
    sshbpp_key_diag d;
    size_t nids = 0, i;
    int rc;

    *ok = 0;
    *tried = 0;
    msg[0] = '\0';
    memset(&d, 0, sizeof(d));
    if (identity != NULL) {
        rc = load_identity(t, identity, &key, &d);
        if (rc == 0 && sshbpp_key_has_private(key)) {
            *tried = 1;
            rc = offer(dr, user, key, sshbpp_key_sign_cb, key, methods, mcap, ok, timeout_ms);
            sshbpp_key_free(key);
            return rc;
        }
        /* A public key, an encrypted OpenSSH key (its public half is in
         * clear), or an encrypted PEM key with a .pub beside it: the agent
         * may hold the private half. */
        if (rc == 0) {
            pub = key;
        } else if (rc == SSHBPP_EKEYBCRYPT) {
            if (sshbpp_key_load_public_file(identity, &pub, NULL) != 0)
                pub = NULL;
        } else if (rc == SSHBPP_EKEYPASSPHRASE || rc == SSHBPP_EKEYBADPASS) {
            char pubpath[4096];

            snprintf(pubpath, sizeof(pubpath), "%s.pub", identity);
            if (sshbpp_key_load_public_file(pubpath, &pub, NULL) != 0)
                pub = NULL;
        }
        if (pub != NULL) {
            int ar = sshbpp_agent_open(NULL, 10000, &agent);

            if (ar != 0) {
                const char *why = ar == SSHBPP_EINVAL ? "SSH_AUTH_SOCK is not set"
                                                      : sshbpp_strerror(SSHBPP_EAGENT);

                if (rc != 0)
                    snprintf(msg, cap, "cannot use identity file '%s': %s (%s)", identity,
                             sshbpp_strerror(rc), why);
                else
                    snprintf(msg, cap, "identity '%s' is a public key; its agent is "
                                       "unreachable: %s", identity, why);
                sshbpp_key_free(pub);
                return rc != 0 ? rc : SSHBPP_EAGENT;
            }
        }
        if (pub == NULL) {
            snprintf(msg, cap, "cannot use identity file '%s': %s%s%s%s", identity,
                     rc == SSHBPP_EIO ? "cannot read it" : sshbpp_strerror(rc),
                     d.msg[0] != '\0' ? " (" : "", d.msg, d.msg[0] != '\0' ? ")" : "");
            if (rc == 0)
                snprintf(msg, cap, "identity '%s' is a public key and no ssh-agent is reachable "
                                   "(SSH_AUTH_SOCK)", identity);
            sshbpp_key_free(pub);
            return rc != 0 ? rc : SSHBPP_EAGENT;
        }
        if ((rc = sshbpp_agent_list(agent, &ids, &nids)) != 0) {
            snprintf(msg, cap, "ssh-agent: %s", sshbpp_strerror(rc));
            goto out;
        }
        as.agent = agent;
        as.key = agent_find(ids, nids, pub);
        if (as.key == NULL) {
            rc = SSHBPP_EAGENTREFUSED;
            snprintf(msg, cap, "the key of '%s' is not in ssh-agent (ssh-add it)", identity);
            goto out;
        }
        cli_debug(1, "Will sign with ssh-agent for %s", identity);
        *tried = 1;
        rc = offer(dr, user, as.key, sshbpp_agent_sign_cb, &as, methods, mcap, ok, timeout_ms);
        if (rc == SSHBPP_EAGENT || rc == SSHBPP_EAGENTREFUSED)
            snprintf(msg, cap, "ssh-agent: %s", sshbpp_strerror(rc));
        goto out;
    }
    /* No -i: every agent identity in turn, as ssh does. */
    if (getenv("SSH_AUTH_SOCK") == NULL || sshbpp_agent_open(NULL, 10000, &agent) != 0)
        return 0;
    if ((rc = sshbpp_agent_list(agent, &ids, &nids)) != 0) {
        snprintf(msg, cap, "ssh-agent: %s", sshbpp_strerror(rc));
        goto out;
    }
    cli_debug(1, "ssh-agent holds %zu usable identities", nids);
    as.agent = agent;
    rc = 0;
    for (i = 0; i < nids && !*ok; i++) {
        as.key = ids[i];
        *tried = 1;
        rc = offer(dr, user, ids[i], sshbpp_agent_sign_cb, &as, methods, mcap, ok, timeout_ms);
        /* A signer that fails ends the connection (the conn cannot send a
         * request without its signature): report it. */
        if (rc == SSHBPP_EAGENT || rc == SSHBPP_EAGENTREFUSED || rc == SSHBPP_EKEYTYPE) {
            snprintf(msg, cap, "ssh-agent: %s", sshbpp_strerror(rc));
            break;
        }
        if (rc != 0)
            break;
    }
out:
    sshbpp_agent_free_list(ids, nids);
    sshbpp_agent_close(agent);
    sshbpp_key_free(pub);
    return rc;
}
