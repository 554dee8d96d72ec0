/*
 * authorized_keys.c: OpenSSH's authorized_keys (sshd(8) AUTHORIZED_KEYS
 * FILE FORMAT): "[options] keytype base64 [comment]", options a comma list
 * of name or name="value" (a \" inside quotes is a quote), names matched
 * without regard to case. Every option of sshd(8)'s list is kept on the
 * entry; a line with any other option, a malformed one, or a bad key is not
 * used at all: an option we do not understand may be a restriction, and a
 * key must never be accepted without its restriction.
 *
 * Enforced here: from= (host/address patterns with '!' and CIDR) and
 * expiry-time= (YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z], local time unless Z),
 * by sshbpp_ak_entry_check(). The rest (command=, restrict, no-pty, ...)
 * is for the channel layer, which reads the entry; permits says, options
 * taken in order as OpenSSH does, what a session may do.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "keys_int.h"

struct sshbpp_authorized_keys {
    sshbpp_ak_entry *e;
    size_t n, cap;
};

#define PERMIT(w) (1u << (w))
#define PERMIT_ALL                                                                               \
    (PERMIT(SSHBPP_AK_PERMIT_PTY) | PERMIT(SSHBPP_AK_PERMIT_PORT_FWD) |                          \
     PERMIT(SSHBPP_AK_PERMIT_AGENT_FWD) | PERMIT(SSHBPP_AK_PERMIT_X11_FWD) |                     \
     PERMIT(SSHBPP_AK_PERMIT_USER_RC))

/* Boolean options: flag, and what it does to permits (set or clear). */
static const struct {
    const char *name;
    unsigned flag;
    int permit; /* 0: none */
    int on;
} bools[] = {
    {"agent-forwarding", SSHBPP_AK_AGENT_FWD, SSHBPP_AK_PERMIT_AGENT_FWD, 1},
    {"cert-authority", SSHBPP_AK_CERT_AUTHORITY, 0, 0},
    {"no-agent-forwarding", SSHBPP_AK_NO_AGENT_FWD, SSHBPP_AK_PERMIT_AGENT_FWD, 0},
    {"no-port-forwarding", SSHBPP_AK_NO_PORT_FWD, SSHBPP_AK_PERMIT_PORT_FWD, 0},
    {"no-pty", SSHBPP_AK_NO_PTY, SSHBPP_AK_PERMIT_PTY, 0},
    {"no-user-rc", SSHBPP_AK_NO_USER_RC, SSHBPP_AK_PERMIT_USER_RC, 0},
    {"no-X11-forwarding", SSHBPP_AK_NO_X11_FWD, SSHBPP_AK_PERMIT_X11_FWD, 0},
    {"port-forwarding", SSHBPP_AK_PORT_FWD, SSHBPP_AK_PERMIT_PORT_FWD, 1},
    {"pty", SSHBPP_AK_PTY, SSHBPP_AK_PERMIT_PTY, 1},
    {"no-touch-required", SSHBPP_AK_NO_TOUCH_REQUIRED, 0, 0},
    {"verify-required", SSHBPP_AK_VERIFY_REQUIRED, 0, 0},
    {"restrict", SSHBPP_AK_RESTRICT, 0, 0},
    {"user-rc", SSHBPP_AK_USER_RC, SSHBPP_AK_PERMIT_USER_RC, 1},
    {"X11-forwarding", SSHBPP_AK_X11_FWD, SSHBPP_AK_PERMIT_X11_FWD, 1},
};

static const char *const valued[] = {"command",    "environment", "expiry-time", "from",
                                     "permitopen", "permitlisten", "principals", "tunnel"};

static int
blank(char c)
{
    return c == ' ' || c == '\t';
}

static void
entry_free(sshbpp_ak_entry *e)
{
    size_t i;

    sshbpp_key_free(e->key);
    free(e->command);
    free(e->from);
    free(e->principals);
    free(e->tunnel);
    for (i = 0; i < e->n_environment; i++)
        free(e->environment[i]);
    free(e->environment);
    for (i = 0; i < e->n_permitopen; i++)
        free(e->permitopen[i]);
    free(e->permitopen);
    for (i = 0; i < e->n_permitlisten; i++)
        free(e->permitlisten[i]);
    free(e->permitlisten);
    memset(e, 0, sizeof(*e));
}

/* At most this many environment=, permitopen= or permitlisten= options
 * of each kind on one line. */
#define MULTI_MAX 4096

/* Appends s to v: 0, -1 (a line with more than MULTI_MAX of them: the
 * file's fault, so the line is not used, as for any bad option), or
 * SSHBPP_ENOMEM. s stays the caller's on failure. */
static int
push(char ***v, size_t *n, char *s)
{
    char **nv;

    if (*n >= MULTI_MAX)
        return -1;
    if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
        return SSHBPP_ENOMEM;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* expiry-time: YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] -> ms since the epoch. */
static int
parse_expiry(const char *s, int64_t *out)
{
    size_t n = strlen(s), i;
    int utc = 0, v[6] = {0, 0, 0, 0, 0, 0};
    struct tm tm;
    time_t t;

    if (n > 0 && (s[n - 1] == 'Z' || s[n - 1] == 'z')) {
        utc = 1;
        n--;
    }
    if (n != 8 && n != 12 && n != 14)
        return -1;
    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    v[0] = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    for (i = 1; i * 2 + 3 < n && i < 6; i++)
        v[i] = (s[2 + i * 2] - '0') * 10 + (s[3 + i * 2] - '0');
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    if (utc) {
        *out = ((days_from_civil(v[0], v[1], v[2]) * 24 + v[3]) * 60 + v[4]) * 60 + v[5];
        *out *= 1000;
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    tm.tm_isdst = -1;
    if ((t = mktime(&tm)) == (time_t)-1)
        return -1;
    *out = (int64_t)t * 1000;
    return 0;
}

/* Parses the options at *pp (up to the first blank outside quotes) into e.
 * 0, -1 with why set, or SSHBPP_ENOMEM. */
static int
parse_options(const char **pp, const char *end, sshbpp_ak_entry *e, char *why, size_t wcap)
{
    const char *p = *pp, *name;
    size_t nlen, i;
    char *val;
    int r;

    e->permits = PERMIT_ALL;
    for (;;) {
        name = p;
        while (p < end && *p != '=' && *p != ',' && !blank(*p))
            p++;
        nlen = (size_t)(p - name);
        if (nlen == 0) {
            snprintf(why, wcap, "empty option");
            return -1;
        }
        val = NULL;
        if (p < end && *p == '=') {
            size_t o = 0;

            if (++p >= end || *p != '"') {
                snprintf(why, wcap, "option %.*s: value not in double quotes", (int)nlen, name);
                return -1;
            }
            p++;
            {
                /* Sized to the value, not the rest of the line: a line of
                 * many short options must not cost a line each. */
                const char *q = p;
                size_t vlen = 0;

                while (q < end && *q != '"') {
                    if (*q == '\\' && q + 1 < end && q[1] == '"')
                        q++;
                    q++;
                    vlen++;
                }
                if ((val = malloc(vlen + 1)) == NULL)
                    return SSHBPP_ENOMEM;
            }
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end && p[1] == '"')
                    p++;
                val[o++] = *p++;
            }
            if (p >= end) {
                free(val);
                snprintf(why, wcap, "option %.*s: unterminated quote", (int)nlen, name);
                return -1;
            }
            p++;
            val[o] = '\0';
        }
        for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
            if (strlen(bools[i].name) == nlen && strncasecmp(bools[i].name, name, nlen) == 0)
                break;
        if (i < sizeof(bools) / sizeof(bools[0])) {
            if (val != NULL) {
                free(val);
                snprintf(why, wcap, "option %s takes no value", bools[i].name);
                return -1;
            }
            e->flags |= bools[i].flag;
            if (bools[i].flag == SSHBPP_AK_RESTRICT)
                e->permits = 0;
            else if (bools[i].permit != 0 && bools[i].on)
                e->permits |= PERMIT(bools[i].permit);
            else if (bools[i].permit != 0)
                e->permits &= ~PERMIT(bools[i].permit);
        } else {
            for (i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
                if (strlen(valued[i]) == nlen && strncasecmp(valued[i], name, nlen) == 0)
                    break;
            if (i == sizeof(valued) / sizeof(valued[0])) {
                free(val);
                snprintf(why, wcap, "unknown option \"%.*s\"", (int)(nlen < 60 ? nlen : 60), name);
                return -1;
            }
            if (val == NULL) {
                snprintf(why, wcap, "option %s needs =\"value\"", valued[i]);
                return -1;
            }
            switch (i) {
            case 0: /* command, from, principals, tunnel: once each, as OpenSSH */
            case 3:
            case 6:
            case 7: {
                char **slot = i == 0 ? &e->command : i == 3 ? &e->from : i == 6 ? &e->principals
                                                                                 : &e->tunnel;

                if (*slot != NULL) {
                    free(val);
                    snprintf(why, wcap, "option %s given twice", valued[i]);
                    return -1;
                }
                *slot = val;
                break;
            }
            case 1:
                if (strchr(val, '=') == NULL || val[0] == '=') {
                    free(val);
                    snprintf(why, wcap, "environment value is not NAME=value");
                    return -1;
                }
                if ((r = push(&e->environment, &e->n_environment, val)) != 0) {
                    free(val);
                    if (r == -1)
                        snprintf(why, wcap, "more than %d environment options", MULTI_MAX);
                    return r;
                }
                break;
            case 2: {
                int64_t t;

                if (parse_expiry(val, &t) != 0) {
                    free(val);
                    snprintf(why, wcap, "expiry-time is not YYYYMMDD[HHMM[SS]][Z]");
                    return -1;
                }
                free(val);
                /* Several: the earliest, as OpenSSH keeps. */
                if (e->expiry_ms == 0 || t < e->expiry_ms)
                    e->expiry_ms = t;
                break;
            }
            case 4:
                if ((r = push(&e->permitopen, &e->n_permitopen, val)) != 0) {
                    free(val);
                    if (r == -1)
                        snprintf(why, wcap, "more than %d permitopen options", MULTI_MAX);
                    return r;
                }
                break;
            case 5:
                if ((r = push(&e->permitlisten, &e->n_permitlisten, val)) != 0) {
                    free(val);
                    if (r == -1)
                        snprintf(why, wcap, "more than %d permitlisten options", MULTI_MAX);
                    return r;
                }
                break;
            default:
                free(val);
                break;
            }
        }
        if (p >= end || blank(*p))
            break;
        if (*p != ',') {
            snprintf(why, wcap, "garbage after an option");
            return -1;
        }
        p++;
    }
    *pp = p;
    return 0;
}

/* One line: 1 added, 0 blank/comment, -1 unusable (why), or ENOMEM. */
static int
parse_line(sshbpp_authorized_keys *ak, const char *p, size_t n, unsigned long lineno, char *why,
           size_t wcap)
{
    const char *end = p + n, *tok;
    sshbpp_ak_entry e;
    int r;

    memset(&e, 0, sizeof(e));
    e.permits = PERMIT_ALL;
    while (p < end && blank(*p))
        p++;
    if (p == end || *p == '#')
        return 0;
    tok = p;
    while (p < end && !blank(*p))
        p++;
    /* Options unless the line starts with a key type. */
    if (!sshbpp__key_type_known((const uint8_t *)tok, (size_t)(p - tok))) {
        p = tok;
        if ((r = parse_options(&p, end, &e, why, wcap)) != 0) {
            entry_free(&e);
            return r;
        }
    } else {
        p = tok;
    }
    if ((r = sshbpp_key_parse_public_line(p, (size_t)(end - p), &e.key, NULL)) != 0) {
        entry_free(&e);
        if (r == SSHBPP_ENOMEM)
            return r;
        snprintf(why, wcap, "%s", r == SSHBPP_EKEYTYPE ? "unsupported key type" : "bad key");
        return -1;
    }
    e.line = lineno;
    if (ak->n == ak->cap) {
        size_t ncap = ak->cap == 0 ? 8 : ak->cap * 2;
        sshbpp_ak_entry *ne = realloc(ak->e, ncap * sizeof(*ne));

        if (ne == NULL) {
            entry_free(&e);
            return SSHBPP_ENOMEM;
        }
        ak->e = ne;
        ak->cap = ncap;
    }
    ak->e[ak->n++] = e;
    return 1;
}

/* see sshbpp_keys.h */
int
sshbpp_authorized_keys_load_mem(const char *data, size_t len, sshbpp_authorized_keys **out,
                                unsigned long *skipped, sshbpp_key_diag *diag)
{
    sshbpp_authorized_keys *ak;
    sshbpp__lines l;
    const char *line;
    char why[128];
    size_t n;
    unsigned long bad = 0;
    int r;

    if (out == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    *out = NULL;
    if (skipped != NULL)
        *skipped = 0;
    if (diag != NULL) {
        diag->line = 0;
        diag->msg[0] = '\0';
    }
    if ((ak = calloc(1, sizeof(*ak))) == NULL)
        return SSHBPP_ENOMEM;
    sshbpp__lines_init(&l, data, len);
    while ((r = sshbpp__lines_next(&l, &line, &n, diag)) == 1) {
        why[0] = '\0';
        r = parse_line(ak, line, n, l.lineno, why, sizeof(why));
        if (r == SSHBPP_ENOMEM)
            break;
        if (r < 0) {
            if (bad == 0)
                (void)sshbpp__diag(diag, l.lineno, 0, "line %lu not used: %s", l.lineno, why);
            bad++;
        }
        r = 0;
    }
    if (r < 0) {
        sshbpp_authorized_keys_free(ak);
        return r;
    }
    if (skipped != NULL)
        *skipped = bad;
    *out = ak;
    return 0;
}

/* see sshbpp_keys.h */
int
sshbpp_authorized_keys_load_file(const char *path, sshbpp_authorized_keys **out,
                                 unsigned long *skipped, sshbpp_key_diag *diag)
{
    char *data;
    size_t len;
    int r;

    if (path == NULL || out == NULL)
        return SSHBPP_EINVAL;
    if ((r = sshbpp__read_file(path, SSHBPP_KEYS_MAX_FILE, &data, &len, NULL)) != 0)
        return r;
    r = sshbpp_authorized_keys_load_mem(data, len, out, skipped, diag);
    sshbpp__free_file(data, len);
    return r;
}

/* see sshbpp_keys.h */
void
sshbpp_authorized_keys_free(sshbpp_authorized_keys *ak)
{
    size_t i;

    if (ak == NULL)
        return;
    for (i = 0; i < ak->n; i++)
        entry_free(&ak->e[i]);
    free(ak->e);
    free(ak);
}

/* see sshbpp_keys.h */
size_t
sshbpp_authorized_keys_count(const sshbpp_authorized_keys *ak)
{
    return ak == NULL ? 0 : ak->n;
}

/* see sshbpp_keys.h */
const sshbpp_ak_entry *
sshbpp_authorized_keys_get(const sshbpp_authorized_keys *ak, size_t i)
{
    return ak == NULL || i >= ak->n ? NULL : &ak->e[i];
}

/* see sshbpp_keys.h */
int
sshbpp_ak_entry_check(const sshbpp_ak_entry *e, const char *client_addr, const char *client_host,
                      int64_t now_ms)
{
    if (e == NULL)
        return SSHBPP_EINVAL;
    /* Expired at the stated moment, as OpenSSH: now > expiry refuses. */
    if (e->expiry_ms != 0 && now_ms > e->expiry_ms)
        return SSHBPP_EKEYNOTAUTHORIZED;
    if (e->from != NULL &&
        sshbpp__match_host_addr(e->from, strlen(e->from), client_host, client_addr) != 1)
        return SSHBPP_EKEYNOTAUTHORIZED;
    return 0;
}

/* see sshbpp_keys.h */
int
sshbpp_ak_entry_permits(const sshbpp_ak_entry *e, enum sshbpp_ak_permit what)
{
    return e != NULL && (e->permits & PERMIT(what)) != 0;
}

/* see sshbpp_keys.h */
int
sshbpp_authorized_keys_find(const sshbpp_authorized_keys *ak, const uint8_t *pub_blob, size_t len,
                            const char *client_addr, int64_t now_ms, const sshbpp_ak_entry **entry)
{
    sshbpp_key *k;
    size_t i;
    int r;

    if (ak == NULL || pub_blob == NULL || entry == NULL)
        return SSHBPP_EINVAL;
    *entry = NULL;
    if ((r = sshbpp_key_from_blob(pub_blob, len, &k)) != 0)
        return SSHBPP_EKEYNOTAUTHORIZED;
    for (i = 0; i < ak->n; i++) {
        const sshbpp_ak_entry *e = &ak->e[i];

        /* A cert-authority line authorises certificates signed by that
         * key, never the key itself. */
        if (e->flags & SSHBPP_AK_CERT_AUTHORITY)
            continue;
        if (!sshbpp_key_equal(e->key, k))
            continue;
        if (sshbpp_ak_entry_check(e, client_addr, NULL, now_ms) == 0) {
            *entry = e;
            sshbpp_key_free(k);
            return 0;
        }
    }
    sshbpp_key_free(k);
    return SSHBPP_EKEYNOTAUTHORIZED;
}
