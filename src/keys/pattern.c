/*
 * pattern.c: OpenSSH's host patterns (ssh_config(5) PATTERNS): '*' and
 * '?' wildcards, case-insensitive, comma lists where a '!' pattern that
 * matches vetoes the list, and for from= also CIDR address/bits entries.
 *
 * The glob is the iterative two-pointer form with one backtrack point, so
 * its time is O(len(pattern) * len(name)) whatever the input: no
 * recursion a hostile known_hosts or authorized_keys line could deepen.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "keys_int.h"

/* see keys_int.h */
int
sshbpp__glob(const char *pat, size_t plen, const char *s, size_t n)
{
    size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;

    while (i < n) {
        if (p < plen && (pat[p] == '?' || tolower((unsigned char)pat[p]) ==
                                              tolower((unsigned char)s[i]))) {
            if (pat[p] == '*')
                goto star;
            p++;
            i++;
        } else if (p < plen && pat[p] == '*') {
        star:
            star_p = p++;
            star_i = i;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

/* Calls fn on each element of a comma list; see sshbpp__match_list. */
typedef int (*elem_fn)(const char *pat, size_t plen, void *ctx);

static int
match_elems(const char *list, size_t len, elem_fn fn, void *ctx)
{
    size_t i = 0, s, e;
    int got = 0, neg, m;

    while (i <= len) {
        s = i;
        while (i < len && list[i] != ',')
            i++;
        e = i++;
        neg = s < e && list[s] == '!';
        if (neg)
            s++;
        if (s == e)
            continue;
        m = fn(list + s, e - s, ctx);
        if (m < 0)
            return m;
        if (m > 0) {
            if (neg)
                return -1; /* a negated match wins over everything */
            got = 1;
        }
    }
    return got;
}

static int
name_elem(const char *pat, size_t plen, void *ctx)
{
    const char *name = ctx;

    return sshbpp__glob(pat, plen, name, strlen(name));
}

/* see keys_int.h */
int
sshbpp__match_list(const char *list, size_t len, const char *name)
{
    return match_elems(list, len, name_elem, (void *)(uintptr_t)name);
}

struct hostaddr {
    const char *host, *addr;
};

/* CIDR: "a.b.c.d/n" or "x:y::/n" against addr; 1, 0, or -2 if malformed. */
static int
cidr_match(const char *pat, size_t plen, const char *addr)
{
    char buf[64];
    const char *slash;
    unsigned char net[16], a[16];
    long bits;
    char *end;
    int fam, alen, i;

    if (plen >= sizeof(buf))
        return -2;
    memcpy(buf, pat, plen);
    buf[plen] = '\0';
    slash = strchr(buf, '/');
    buf[slash - buf] = '\0';
    bits = strtol(slash + 1, &end, 10);
    if (*end != '\0' || slash[1] == '\0')
        return -2;
    fam = strchr(buf, ':') != NULL ? AF_INET6 : AF_INET;
    alen = fam == AF_INET6 ? 16 : 4;
    if (inet_pton(fam, buf, net) != 1 || bits < 0 || bits > alen * 8)
        return -2;
    /* The network part only: "10.1.2.3/8" is malformed, as in OpenSSH. */
    for (i = 0; i < alen; i++) {
        int keep = (int)bits - i * 8;
        unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));

        if (net[i] & (unsigned char)~mask)
            return -2;
    }
    if (addr == NULL || inet_pton(fam, addr, a) != 1)
        return 0;
    for (i = 0; i < alen; i++) {
        int keep = (int)bits - i * 8;
        unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));

        if ((a[i] & mask) != net[i])
            return 0;
    }
    return 1;
}

static int
hostaddr_elem(const char *pat, size_t plen, void *ctx)
{
    const struct hostaddr *ha = ctx;

    if (memchr(pat, '/', plen) != NULL)
        return cidr_match(pat, plen, ha->addr);
    if (ha->addr != NULL && sshbpp__glob(pat, plen, ha->addr, strlen(ha->addr)))
        return 1;
    return ha->host != NULL && sshbpp__glob(pat, plen, ha->host, strlen(ha->host));
}

/* see keys_int.h */
int
sshbpp__match_host_addr(const char *list, size_t len, const char *host, const char *addr)
{
    struct hostaddr ha = {host, addr};

    return match_elems(list, len, hostaddr_elem, &ha);
}
