/*
 * gex.c: diffie-hellman-group-exchange-sha256 (RFC 4419) groups: the
 * server's list (an OpenSSH moduli file, or the RFC 3526 groups 14 to 18
 * built into libcrypto, as OpenSSH falls back to), the server's choice for
 * a client's (min, n, max), and the client's checks of the group it is
 * given. The exchange itself (messages 30 to 34 as RFC 4419 numbers them)
 * is in kex.c; the arithmetic is kexalg.c's explicit-group DH.
 *
 * Bounds: no group under 2048 bits is ever used or accepted (RFC 8270
 * raised RFC 4419's 1024 to 2048), none above 8192 (OpenSSH's ceiling; an
 * 8192-bit exponentiation is already the slowest step of any exchange).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>

#include "kex_int.h"

/* A moduli file of /etc/ssh/moduli's size has ~420 groups in 570 KiB. */
#define MODULI_MAX_GROUPS 4096
#define MODULI_MAX_BYTES (16u << 20)
#define MODULI_LINE_MAX 8192 /* an 8192-bit modulus is 2048 hex digits */

struct sshbpp__moduli {
    size_t n;
    struct {
        unsigned bits;
        BIGNUM *p;
        unsigned long g;
    } g[MODULI_MAX_GROUPS];
};

void
sshbpp__moduli_free(sshbpp__moduli *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->n; i++)
        BN_free(m->g[i].p);
    free(m);
}

/* Parses one moduli line: "time type tests tries size generator modulus"
 * (moduli(5)). Returns 1 with the group taken, 0 for a line to skip
 * (comment, or a group that is not a tested safe prime of a usable size),
 * or a negative error for a malformed line. */
static int
parse_line(char *line, sshbpp__moduli *m)
{
    char *f[7], *save = NULL, *t;
    unsigned long type, tests, tries, size, gen;
    BIGNUM *p = NULL;
    char *end;
    int i;

    while (isspace((unsigned char)*line))
        line++;
    if (*line == '\0' || *line == '#')
        return 0;
    for (i = 0, t = strtok_r(line, " \t\r\n", &save); i < 7 && t != NULL;
         i++, t = strtok_r(NULL, " \t\r\n", &save))
        f[i] = t;
    if (i != 7 || t != NULL)
        return SSHBPP_EKEXMSG;
    errno = 0;
    type = strtoul(f[1], &end, 10);
    if (*end != '\0')
        return SSHBPP_EKEXMSG;
    tests = strtoul(f[2], &end, 10);
    if (*end != '\0')
        return SSHBPP_EKEXMSG;
    tries = strtoul(f[3], &end, 10);
    if (*end != '\0')
        return SSHBPP_EKEXMSG;
    size = strtoul(f[4], &end, 10);
    if (*end != '\0')
        return SSHBPP_EKEXMSG;
    gen = strtoul(f[5], &end, 10);
    if (*end != '\0' || errno != 0)
        return SSHBPP_EKEXMSG;
    /* moduli(5): type 2 is a safe prime; tests bit 0x01 alone would mean
     * "not tested", 0x04 is Miller-Rabin; size is the bit count minus 1. */
    if (type != 2 || (tests & 0x04) == 0 || tries == 0 || size + 1 < SSHBPP__GEX_MIN_BITS ||
        size + 1 > SSHBPP__GEX_MAX_BITS || gen < 2)
        return 0;
    /* BN_hex2bn() returns 0 both for no hex digits and for a failed
     * allocation: the digits are checked here (no sign either), so that a
     * 0 from it is libcrypto's failure, not a malformed file. */
    if (strlen(f[6]) > (SSHBPP__GEX_MAX_BITS / 4) + 1 ||
        strspn(f[6], "0123456789abcdefABCDEF") != strlen(f[6]))
        return SSHBPP_EKEXMSG;
    if (BN_hex2bn(&p, f[6]) == 0 || p == NULL)
        return SSHBPP_ENOMEM;
    if ((unsigned long)BN_num_bits(p) != size + 1 || !BN_is_odd(p)) {
        BN_free(p);
        return 0; /* the size column lies: skip, as OpenSSH does */
    }
    if (m->n >= MODULI_MAX_GROUPS) {
        BN_free(p);
        return 0;
    }
    m->g[m->n].bits = (unsigned)size + 1;
    m->g[m->n].p = p;
    m->g[m->n].g = gen;
    m->n++;
    return 1;
}

int
sshbpp__moduli_load(const char *path, sshbpp__moduli **out)
{
    FILE *fp;
    char *line = NULL;
    sshbpp__moduli *m;
    size_t total = 0;
    int r = 0;

    if (path == NULL || out == NULL)
        return SSHBPP_EINVAL;
    *out = NULL;
    if ((fp = fopen(path, "r")) == NULL)
        return SSHBPP_EIO;
    if ((m = calloc(1, sizeof(*m))) == NULL || (line = malloc(MODULI_LINE_MAX)) == NULL) {
        r = SSHBPP_ENOMEM;
        goto out;
    }
    while (fgets(line, MODULI_LINE_MAX, fp) != NULL) {
        size_t len = strlen(line);

        total += len;
        if (total > MODULI_MAX_BYTES || (len == MODULI_LINE_MAX - 1 && line[len - 1] != '\n')) {
            r = SSHBPP_EKEXMSG; /* too big, or a line longer than any modulus */
            goto out;
        }
        if ((r = parse_line(line, m)) < 0)
            goto out;
        r = 0;
    }
    if (ferror(fp)) {
        r = SSHBPP_EIO;
        goto out;
    }
    if (m->n == 0) {
        r = SSHBPP_EKEXMSG; /* nothing usable: say so rather than fall back */
        goto out;
    }
    *out = m;
    m = NULL;
out:
    free(line);
    sshbpp__moduli_free(m);
    fclose(fp);
    return r;
}

/* The built-in list: RFC 3526 groups 14 (2048) to 18 (8192), generator 2. */
static int
builtin(unsigned bits, BIGNUM **p)
{
    switch (bits) {
    case 2048:
        *p = BN_get_rfc3526_prime_2048(NULL);
        break;
    case 3072:
        *p = BN_get_rfc3526_prime_3072(NULL);
        break;
    case 4096:
        *p = BN_get_rfc3526_prime_4096(NULL);
        break;
    case 6144:
        *p = BN_get_rfc3526_prime_6144(NULL);
        break;
    case 8192:
        *p = BN_get_rfc3526_prime_8192(NULL);
        break;
    default:
        return SSHBPP_EINVAL;
    }
    return *p == NULL ? SSHBPP_ENOMEM : 0;
}

int
sshbpp__gex_choose(const sshbpp__moduli *m, uint32_t min, uint32_t n, uint32_t max,
                   struct bignum_st **p, struct bignum_st **g)
{
    static const unsigned sizes[] = {2048, 3072, 4096, 6144, 8192};
    unsigned best = 0, bits;
    size_t i, count = 0, pick;
    uint32_t rnd;
    int r;

    *p = NULL;
    *g = NULL;
    /* RFC 4419 section 3 with OpenSSH's clamping: our floor and ceiling
     * narrow the client's range; n is then moved into it. */
    if (min > n || n > max)
        return SSHBPP_EKEXMSG;
    if (min < SSHBPP__GEX_MIN_BITS)
        min = SSHBPP__GEX_MIN_BITS;
    if (max > SSHBPP__GEX_MAX_BITS)
        max = SSHBPP__GEX_MAX_BITS;
    if (min > max)
        return SSHBPP_ENOMATCH;
    if (n < min)
        n = min;
    if (n > max)
        n = max;
    /* The smallest size >= n in range, else the largest in range. */
    for (i = 0; i < (m != NULL ? m->n : sizeof(sizes) / sizeof(sizes[0])); i++) {
        bits = m != NULL ? m->g[i].bits : sizes[i];
        if (bits < min || bits > max)
            continue;
        if (best == 0 || (best < n && bits > best) || (bits >= n && bits < best))
            best = bits;
    }
    if (best == 0)
        return SSHBPP_ENOMATCH;
    if (m == NULL) {
        if ((r = builtin(best, p)) != 0)
            return r;
    } else {
        /* One of the groups of that size at random, as OpenSSH picks. */
        for (i = 0; i < m->n; i++)
            count += m->g[i].bits == best;
        if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
            return SSHBPP_ECRYPTO;
        pick = rnd % count;
        for (i = 0; i < m->n; i++)
            if (m->g[i].bits == best && pick-- == 0)
                break;
        if ((*p = BN_dup(m->g[i].p)) == NULL)
            return SSHBPP_ENOMEM;
    }
    if ((*g = BN_new()) == NULL ||
        !BN_set_word(*g, m != NULL ? m->g[i].g : 2)) {
        BN_free(*p);
        BN_free(*g);
        *p = *g = NULL;
        return SSHBPP_ENOMEM;
    }
    return 0;
}

int
sshbpp__gex_check_group(const struct bignum_st *p, const struct bignum_st *g, uint32_t min,
                        uint32_t max)
{
    BIGNUM *pm1;
    int bits, ok;

    if (p == NULL || g == NULL)
        return SSHBPP_EINVAL;
    bits = BN_num_bits(p);
    /* Never below our floor, whatever we asked for; never outside what we
     * asked for (RFC 4419 section 3: the group must satisfy min <= bits
     * <= max); an even or negative p is no prime. */
    if (bits <= 0 || (unsigned)bits < SSHBPP__GEX_MIN_BITS ||
        (unsigned)bits > SSHBPP__GEX_MAX_BITS || (uint32_t)bits < min || (uint32_t)bits > max ||
        !BN_is_odd(p) || BN_is_negative(p))
        return SSHBPP_EGEXGROUP;
    /* 1 < g < p-1: g = 0, 1 or p-1 generate a trivial group. */
    if ((pm1 = BN_dup(p)) == NULL)
        return SSHBPP_ENOMEM;
    /* A failed subtraction is libcrypto's failure, not a bad group from
     * the server: reported as such, not as SSHBPP_EGEXGROUP. */
    if (!BN_sub_word(pm1, 1)) {
        BN_free(pm1);
        return SSHBPP_ECRYPTO;
    }
    ok = !BN_is_negative(g) && BN_cmp(g, BN_value_one()) > 0 && BN_cmp(g, pm1) < 0;
    BN_free(pm1);
    return ok ? 0 : SSHBPP_EGEXGROUP;
}
