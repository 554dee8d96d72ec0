/*
 * known_hosts.c: OpenSSH's known_hosts (sshd(8) SSH_KNOWN_HOSTS FILE
 * FORMAT): "[marker] hostnames keytype base64 [comment]". The host field
 * is a comma list of patterns ("host", "[host]:port", "!neg", '*', '?')
 * or one hashed name "|1|" base64(salt) "|" base64(HMAC-SHA1(salt, name)).
 * Markers: @revoked (the key is refused for those hosts) and
 * @cert-authority (host certificates, which sshbpp does not support: such
 * lines are skipped and counted in the result).
 *
 * Lookup follows OpenSSH: the name is the host in lower case, written
 * "[host]:port" when the port is not 22; a revoked entry beats a match,
 * which beats a conflicting key of the same type; keys of other types for
 * the host leave it "unknown" (and counted).
 *
 * A line longer than SSHBPP_KEYS_MAX_LINE fails the whole load with its
 * line number; other unparsable lines are skipped as OpenSSH skips them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "keys_int.h"

#define MARK_NONE 0
#define MARK_REVOKED 1
#define MARK_CA 2
#define SHA1_LEN 20
#define SALT_MAX 64

struct kh_entry {
    int marker;
    int hashed;
    char *hosts; /* plain: the pattern list */
    uint8_t salt[SALT_MAX], hash[SHA1_LEN];
    size_t salt_len;
    uint8_t *blob; /* the key's blob */
    size_t blob_len;
    unsigned long line;
};

struct sshbpp_known_hosts {
    char *name;
    struct kh_entry *e;
    size_t n, cap;
    int ends_nl; /* the text was empty or ended with a newline */
};

static int
blank(char c)
{
    return c == ' ' || c == '\t';
}

/* "|1|salt|hash" into e. 0 or -1. */
static int
parse_hashed(const char *f, size_t n, struct kh_entry *e)
{
    const char *bar;
    uint8_t tmp[SALT_MAX + 3];
    long got;

    if (n < 3 || memcmp(f, "|1|", 3) != 0)
        return -1;
    f += 3;
    n -= 3;
    if ((bar = memchr(f, '|', n)) == NULL)
        return -1;
    if ((size_t)(bar - f) > (SALT_MAX + 2) / 3 * 4)
        return -1;
    got = sshbpp__b64_decode(f, (size_t)(bar - f), tmp, sizeof(tmp));
    if (got <= 0 || got > SALT_MAX)
        return -1;
    memcpy(e->salt, tmp, (size_t)got);
    e->salt_len = (size_t)got;
    n -= (size_t)(bar - f) + 1;
    f = bar + 1;
    if (n > 28)
        return -1;
    got = sshbpp__b64_decode(f, n, tmp, sizeof(tmp));
    if (got != SHA1_LEN)
        return -1;
    memcpy(e->hash, tmp, SHA1_LEN);
    e->hashed = 1;
    return 0;
}

/* One line into an entry: 1 added, 0 skipped (blank, comment, bad). */
static int
parse_line(sshbpp_known_hosts *kh, const char *p, size_t n, unsigned long lineno)
{
    struct kh_entry e;
    const char *end = p + n, *tok;
    sshbpp_key *key = NULL;
    size_t tlen;
    int r;

    memset(&e, 0, sizeof(e));
    while (p < end && blank(*p))
        p++;
    if (p == end || *p == '#')
        return 0;
    tok = p;
    while (p < end && !blank(*p))
        p++;
    tlen = (size_t)(p - tok);
    if (tok[0] == '@') {
        if (tlen == 8 && memcmp(tok, "@revoked", 8) == 0)
            e.marker = MARK_REVOKED;
        else if (tlen == 15 && memcmp(tok, "@cert-authority", 15) == 0)
            e.marker = MARK_CA;
        else
            return -1;
        while (p < end && blank(*p))
            p++;
        tok = p;
        while (p < end && !blank(*p))
            p++;
        tlen = (size_t)(p - tok);
    }
    if (tlen == 0)
        return -1;
    if (tok[0] == '|') {
        if (parse_hashed(tok, tlen, &e) != 0)
            return -1;
    } else {
        if ((e.hosts = malloc(tlen + 1)) == NULL)
            return SSHBPP_ENOMEM;
        memcpy(e.hosts, tok, tlen);
        e.hosts[tlen] = '\0';
    }
    if ((r = sshbpp_key_parse_public_line(p, (size_t)(end - p), &key, NULL)) != 0 ||
        (r = sshbpp_key_public_blob(key, NULL, 0, &e.blob_len)) != 0 ||
        (e.blob = malloc(e.blob_len)) == NULL ||
        (r = sshbpp_key_public_blob(key, e.blob, e.blob_len, &e.blob_len)) != 0) {
        sshbpp_key_free(key);
        free(e.hosts);
        free(e.blob);
        return r == SSHBPP_ENOMEM ? r : -1;
    }
    sshbpp_key_free(key);
    e.line = lineno;
    if (kh->n == kh->cap) {
        size_t ncap = kh->cap == 0 ? 16 : kh->cap * 2;
        struct kh_entry *ne = realloc(kh->e, ncap * sizeof(*ne));

        if (ne == NULL) {
            free(e.hosts);
            free(e.blob);
            return SSHBPP_ENOMEM;
        }
        kh->e = ne;
        kh->cap = ncap;
    }
    kh->e[kh->n++] = e;
    return 1;
}

/* see sshbpp_keys.h */
int
sshbpp_known_hosts_load_mem(const char *data, size_t len, const char *name,
                            sshbpp_known_hosts **out, unsigned long *bad_lines,
                            sshbpp_key_diag *diag)
{
    sshbpp_known_hosts *kh;
    sshbpp__lines l;
    const char *line;
    size_t n;
    unsigned long bad = 0;
    int r;

    if (out == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    *out = NULL;
    if (bad_lines != NULL)
        *bad_lines = 0;
    if (diag != NULL) {
        diag->line = 0;
        diag->msg[0] = '\0';
    }
    if ((kh = calloc(1, sizeof(*kh))) == NULL)
        return SSHBPP_ENOMEM;
    if ((kh->name = strdup(name != NULL ? name : "known_hosts")) == NULL) {
        free(kh);
        return SSHBPP_ENOMEM;
    }
    kh->ends_nl = len == 0 || data[len - 1] == '\n';
    sshbpp__lines_init(&l, data, len);
    while ((r = sshbpp__lines_next(&l, &line, &n, diag)) == 1) {
        r = parse_line(kh, line, n, l.lineno);
        if (r == SSHBPP_ENOMEM)
            break;
        if (r < 0) {
            if (bad == 0)
                (void)sshbpp__diag(diag, l.lineno, 0, "line %lu skipped: not a known_hosts entry",
                                   l.lineno);
            bad++;
        }
        r = 0;
    }
    if (r < 0) {
        sshbpp_known_hosts_free(kh);
        return r;
    }
    if (bad_lines != NULL)
        *bad_lines = bad;
    *out = kh;
    return 0;
}

/* see sshbpp_keys.h */
int
sshbpp_known_hosts_load_file(const char *path, sshbpp_known_hosts **out, unsigned long *bad_lines,
                             sshbpp_key_diag *diag)
{
    char *data;
    size_t len;
    int r, enoent;

    if (path == NULL || out == NULL)
        return SSHBPP_EINVAL;
    r = sshbpp__read_file(path, SSHBPP_KEYS_MAX_FILE, &data, &len, &enoent);
    if (r == SSHBPP_EIO && enoent)
        return sshbpp_known_hosts_load_mem("", 0, path, out, bad_lines, diag);
    if (r != 0)
        return r;
    r = sshbpp_known_hosts_load_mem(data, len, path, out, bad_lines, diag);
    sshbpp__free_file(data, len);
    return r;
}

/* see sshbpp_keys.h */
void
sshbpp_known_hosts_free(sshbpp_known_hosts *kh)
{
    size_t i;

    if (kh == NULL)
        return;
    for (i = 0; i < kh->n; i++) {
        free(kh->e[i].hosts);
        free(kh->e[i].blob);
    }
    free(kh->e);
    free(kh->name);
    free(kh);
}

/* see sshbpp_keys.h */
size_t
sshbpp_known_hosts_count(const sshbpp_known_hosts *kh)
{
    return kh == NULL ? 0 : kh->n;
}

/* The lookup name: lower-case host, "[host]:port" unless port 22. */
static int
lookup_name(const char *host, unsigned port, char *out, size_t cap)
{
    size_t i;
    int n;

    if (port == 0 || port == 22)
        n = snprintf(out, cap, "%s", host);
    else
        n = snprintf(out, cap, "[%s]:%u", host, port);
    if (n < 0 || (size_t)n >= cap)
        return SSHBPP_EINVAL;
    for (i = 0; out[i] != '\0'; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    return n;
}

static int
host_matches(const struct kh_entry *e, const char *name, size_t nlen)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mlen = 0;

    if (!e->hashed)
        return sshbpp__match_list(e->hosts, strlen(e->hosts), name) == 1;
    if (HMAC(EVP_sha1(), e->salt, (int)e->salt_len, (const unsigned char *)name, nlen, mac,
             &mlen) == NULL ||
        mlen != SHA1_LEN)
        return 0;
    return CRYPTO_memcmp(mac, e->hash, SHA1_LEN) == 0;
}

/* The type name at the front of a blob (length-prefixed), 0 if malformed. */
static int
blob_type(const uint8_t *b, size_t n, const uint8_t **t, size_t *tlen)
{
    sshbpp__rbuf rb;

    sshbpp__rb_init(&rb, b, n);
    return sshbpp__rb_string(&rb, t, tlen) == 0;
}

/* see sshbpp_keys.h */
int
sshbpp_known_hosts_check(const sshbpp_known_hosts *kh, const char *host, unsigned port,
                         const uint8_t *blob, size_t len, sshbpp_known_hosts_result *res)
{
    char name[1100];
    const uint8_t *t, *et;
    size_t tlen, etlen, i;
    unsigned long match = 0, conflict = 0;
    int nlen;

    if (kh == NULL || host == NULL || blob == NULL || res == NULL || port > 65535)
        return SSHBPP_EINVAL;
    memset(res, 0, sizeof(*res));
    res->file = kh->name;
    if (!blob_type(blob, len, &t, &tlen))
        return SSHBPP_EKEYFILE;
    if ((nlen = lookup_name(host, port, name, sizeof(name))) < 0)
        return nlen;
    for (i = 0; i < kh->n; i++) {
        const struct kh_entry *e = &kh->e[i];
        int same;

        if (!host_matches(e, name, (size_t)nlen))
            continue;
        if (e->marker == MARK_CA) {
            res->ca_skipped++;
            continue;
        }
        same = e->blob_len == len && memcmp(e->blob, blob, len) == 0;
        if (e->marker == MARK_REVOKED) {
            if (same) {
                res->status = SSHBPP_HOSTKEY_REVOKED;
                res->line = e->line;
                return 0;
            }
            continue;
        }
        if (same) {
            if (match == 0)
                match = e->line;
            continue;
        }
        if (blob_type(e->blob, e->blob_len, &et, &etlen) && etlen == tlen &&
            memcmp(et, t, tlen) == 0) {
            if (conflict == 0)
                conflict = e->line;
        } else {
            res->other_types++;
        }
    }
    if (match != 0) {
        res->status = SSHBPP_HOSTKEY_MATCH;
        res->line = match;
    } else if (conflict != 0) {
        res->status = SSHBPP_HOSTKEY_MISMATCH;
        res->line = conflict;
    } else {
        res->status = SSHBPP_HOSTKEY_UNKNOWN;
    }
    return 0;
}

/* see sshbpp_keys.h */
int
sshbpp_known_hosts_format_line(const char *host, unsigned port, const uint8_t *blob, size_t len,
                               int hashed, char *out, size_t cap)
{
    char name[1100], s64[64], h64[64];
    uint8_t salt[SHA1_LEN], mac[EVP_MAX_MD_SIZE];
    unsigned mlen = 0;
    sshbpp_key *k = NULL;
    size_t o;
    int nlen, r;

    if (host == NULL || blob == NULL || out == NULL || port > 65535)
        return SSHBPP_EINVAL;
    if ((r = sshbpp_key_from_blob(blob, len, &k)) != 0)
        return r;
    if ((nlen = lookup_name(host, port, name, sizeof(name))) < 0) {
        sshbpp_key_free(k);
        return nlen;
    }
    if (hashed) {
        if (RAND_bytes(salt, sizeof(salt)) != 1 ||
            HMAC(EVP_sha1(), salt, sizeof(salt), (const unsigned char *)name, (size_t)nlen, mac,
                 &mlen) == NULL ||
            mlen != SHA1_LEN) {
            sshbpp_key_free(k);
            return SSHBPP_ECRYPTO;
        }
        (void)sshbpp__b64_encode(salt, sizeof(salt), s64, sizeof(s64));
        (void)sshbpp__b64_encode(mac, SHA1_LEN, h64, sizeof(h64));
        r = snprintf(out, cap, "|1|%s|%s ", s64, h64);
    } else {
        r = snprintf(out, cap, "%s ", name);
    }
    if (r < 0 || (size_t)r >= cap) {
        sshbpp_key_free(k);
        return SSHBPP_EBUFSMALL;
    }
    o = (size_t)r;
    r = sshbpp_key_public_line(k, out + o, cap - o); /* no comment: from a blob */
    sshbpp_key_free(k);
    if (r < 0)
        return r;
    o += (size_t)r;
    if (o + 2 > cap)
        return SSHBPP_EBUFSMALL;
    out[o++] = '\n';
    out[o] = '\0';
    return (int)o;
}

/* see sshbpp_keys.h */
int
sshbpp_known_hosts_verify(const char *path, const char *host, unsigned port, const uint8_t *blob,
                          size_t len, enum sshbpp_strict_hostkey policy, int hash,
                          sshbpp_known_hosts_result *res, sshbpp_key_diag *diag)
{
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result tmp;
    char line[16384];
    FILE *f;
    int r, n, nl;

    if (res == NULL)
        res = &tmp;
    if (path == NULL || host == NULL || blob == NULL)
        return SSHBPP_EINVAL;
    if ((r = sshbpp_known_hosts_load_file(path, &kh, NULL, diag)) != 0)
        return r;
    r = sshbpp_known_hosts_check(kh, host, port, blob, len, res);
    nl = kh->ends_nl;
    /* res->file points into kh: keep the caller's copy valid by pointing
     * it at the caller's path instead. */
    res->file = path;
    sshbpp_known_hosts_free(kh);
    if (r != 0)
        return r;
    switch (res->status) {
    case SSHBPP_HOSTKEY_MATCH:
        return 0;
    case SSHBPP_HOSTKEY_REVOKED:
        return SSHBPP_EKEYREVOKED;
    case SSHBPP_HOSTKEY_MISMATCH:
        return policy == SSHBPP_SHK_NO ? 0 : SSHBPP_EHOSTKEYCHANGED;
    case SSHBPP_HOSTKEY_UNKNOWN:
    default:
        break;
    }
    if (policy == SSHBPP_SHK_YES)
        return SSHBPP_EHOSTKEYUNKNOWN;
    if ((n = sshbpp_known_hosts_format_line(host, port, blob, len, hash, line, sizeof(line))) < 0)
        return n;
    if ((f = fopen(path, "a")) == NULL)
        return SSHBPP_EIO;
    if ((!nl && fputc('\n', f) == EOF) || fwrite(line, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return SSHBPP_EIO;
    }
    if (fclose(f) != 0)
        return SSHBPP_EIO;
    res->added = 1;
    return 0;
}
