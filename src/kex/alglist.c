/*
 * alglist.c: OpenSSH's algorithm-list syntax (ssh_config(5), KexAlgorithms
 * and friends) for the strings of sshbpp_kex_config:
 *
 *   "a,b"     the list itself, replacing the default
 *   "+a,b"    the default list, then a and b where not already in it
 *   "-a,b*"   the default list without every name matching a or the
 *             pattern b* ('*' any run of characters, '?' one character);
 *             names and patterns that match nothing are fine
 *   "^a,b"    a and b first, then the rest of the default list
 *
 * As in OpenSSH, names after '+' and '^' must be names this build supports
 * (no patterns there), and a list that ends up empty is an error.
 */
#include <stdlib.h>
#include <string.h>

#include "kex_int.h"

/* Longest algorithm name we handle; every real one is far shorter. */
#define MAX_NAME 128

/* The next name of a comma-separated list: its start and length; *pos
 * advances past the comma. */
static size_t
next(const char *list, size_t *pos, const char **name)
{
    size_t start = *pos, end = start;

    while (list[end] != '\0' && list[end] != ',')
        end++;
    *name = list + start;
    *pos = list[end] == ',' ? end + 1 : end;
    return end - start;
}

/* Glob match of name[0..n) against pattern[0..m): '*' and '?'. Iterative
 * with one backtrack point, so O(n * m) at worst and no recursion. */
static int
glob_match(const char *pat, size_t m, const char *name, size_t n)
{
    size_t p = 0, s = 0, star_p = (size_t)-1, star_s = 0;

    while (s < n) {
        if (p < m && (pat[p] == '?' || pat[p] == name[s])) {
            p++;
            s++;
        } else if (p < m && pat[p] == '*') {
            star_p = p++;
            star_s = s;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            s = ++star_s;
        } else {
            return 0;
        }
    }
    while (p < m && pat[p] == '*')
        p++;
    return p == m;
}

/* 1 if name[0..n) is in the comma-separated list (exact match). */
static int
list_has(const char *list, const char *name, size_t n)
{
    size_t pos = 0, k;
    const char *cur;

    while (list[pos] != '\0') {
        k = next(list, &pos, &cur);
        if (k == n && memcmp(cur, name, n) == 0)
            return 1;
    }
    return 0;
}

/* 1 if name[0..n) matches any pattern of the list. */
static int
list_matches(const char *patterns, const char *name, size_t n)
{
    size_t pos = 0, k;
    const char *cur;

    while (patterns[pos] != '\0') {
        k = next(patterns, &pos, &cur);
        if (k > 0 && glob_match(cur, k, name, n))
            return 1;
    }
    return 0;
}

static int
in_table(const char *const *all, const char *name, size_t n)
{
    for (; all != NULL && *all != NULL; all++)
        if (strlen(*all) == n && memcmp(*all, name, n) == 0)
            return 1;
    return 0;
}

/* Appends name[0..n) to out (of capacity cap, always NUL-terminated) with
 * a comma, unless it is there already. */
static void
add(char *out, size_t *len, const char *name, size_t n)
{
    if (list_has(out, name, n))
        return;
    if (*len > 0)
        out[(*len)++] = ',';
    memcpy(out + *len, name, n);
    *len += n;
    out[*len] = '\0';
}

/* Every name of list is non-empty and in all. */
static int
names_valid(const char *list, const char *const *all)
{
    size_t pos = 0, n;
    const char *name;

    if (list[0] == '\0')
        return 0;
    while (list[pos] != '\0') {
        n = next(list, &pos, &name);
        if (n == 0 || n > MAX_NAME || !in_table(all, name, n))
            return 0;
        if (name[n] == ',' && name[n + 1] == '\0')
            return 0; /* trailing comma */
    }
    return 1;
}

/* see kex_int.h */
int
sshbpp__alglist_resolve(const char *spec, const char *def, const char *const *all, char **out)
{
    const char *body, *name;
    char *res;
    size_t cap, len = 0, pos, n;

    if (def == NULL || out == NULL)
        return SSHBPP_EINVAL;
    *out = NULL;
    if (spec == NULL)
        spec = def;
    if (spec[0] != '+' && spec[0] != '-' && spec[0] != '^') {
        /* A plain list is taken as given; sshbpp_kex_start() checks it. */
        if ((*out = malloc(strlen(spec) + 1)) == NULL)
            return SSHBPP_ENOMEM;
        memcpy(*out, spec, strlen(spec) + 1);
        return 0;
    }
    body = spec + 1;
    if (spec[0] != '-' && !names_valid(body, all))
        return SSHBPP_EUNSUPPORTED;
    /* The result is at most every name of both lists with their commas. */
    cap = strlen(def) + strlen(body) + 2;
    if ((res = malloc(cap)) == NULL)
        return SSHBPP_ENOMEM;
    res[0] = '\0';
    switch (spec[0]) {
    case '+':
        for (pos = 0; def[pos] != '\0';)
            if ((n = next(def, &pos, &name)) > 0)
                add(res, &len, name, n);
        for (pos = 0; body[pos] != '\0';)
            if ((n = next(body, &pos, &name)) > 0)
                add(res, &len, name, n);
        break;
    case '^':
        for (pos = 0; body[pos] != '\0';)
            if ((n = next(body, &pos, &name)) > 0)
                add(res, &len, name, n);
        for (pos = 0; def[pos] != '\0';)
            if ((n = next(def, &pos, &name)) > 0)
                add(res, &len, name, n);
        break;
    default: /* '-' */
        for (pos = 0; def[pos] != '\0';)
            if ((n = next(def, &pos, &name)) > 0 && !list_matches(body, name, n))
                add(res, &len, name, n);
        break;
    }
    if (len == 0) {
        free(res);
        return SSHBPP_EUNSUPPORTED; /* nothing left to offer */
    }
    *out = res;
    return 0;
}
