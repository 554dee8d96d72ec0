/*
 * bench_negotiate.c: CPU cost of the peer's KEXINIT on a server, before any
 * authentication. Cases: the largest KEXINIT the name-list bounds allow
 * (ten lists of 128 names, about 4 KB each, the supported names last), a
 * KEXINIT with one name a list, and the 125 KB flood of the review (a
 * supported kex name repeated, about 32,000 host key names "x") that the
 * bounds refuse and that cost 1.4 s of server CPU before them. Reports CPU microseconds per KEXINIT (process CPU
 * time of sshbpp_kex_input alone; host key generation is outside).
 *
 * Usage: sshbpp_bench_negotiate [iterations]   (default 200)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sshbpp/sshbpp.h"

static int
t_send(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}
static int
t_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    (void)ctx;
    (void)dir;
    (void)k;
    return 0;
}
static int
t_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    (void)ctx;
    (void)dir;
    (void)name;
    return 0;
}
static void
t_reset(void *ctx, enum sshbpp_dir dir)
{
    (void)ctx;
    (void)dir;
}

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void
put(struct buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        uint8_t *np = realloc(b->p, cap);
        if (np == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void
put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

/* list: nfill fillers of 31 characters, then real; for the flood, real
 * repeated nfill times (flood 1) or nfill names "x" (flood 2). */
static void
put_list(struct buf *b, unsigned nfill, int flood, const char *real)
{
    struct buf l = {0};
    char name[32];
    unsigned i;

    for (i = 0; i < nfill; i++) {
        if (l.len > 0)
            put(&l, ",", 1);
        if (flood == 1) {
            put(&l, real, strlen(real));
            continue;
        }
        if (flood == 2) {
            put(&l, "x", 1);
            continue;
        }
        memset(name, 'q', 31);
        name[0] = (char)('a' + i % 26);
        name[1] = (char)('a' + i / 26 % 26);
        put(&l, name, 31);
    }
    if (!flood && real != NULL) {
        if (l.len > 0)
            put(&l, ",", 1);
        put(&l, real, strlen(real));
    }
    put_u32(b, (uint32_t)l.len);
    if (l.len > 0)
        put(b, l.p, l.len);
    free(l.p);
}

static void
kexinit(struct buf *b, unsigned nfill, int flood)
{
    static const char *const real[10] = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
                                         "aes128-ctr", "hmac-sha2-256", "hmac-sha2-256",
                                         "none", "none", NULL, NULL};
    uint8_t cookie[17] = {20};
    int i;

    b->len = 0;
    put(b, cookie, 17);
    /* the flood: the kex list is one supported name repeated (under 64
     * KiB), the host key list some 32,000 names "x" (under 64 KiB) */
    for (i = 0; i < 10; i++)
        if (!flood)
            put_list(b, nfill, 0, real[i]);
        else if (i == 0)
            put_list(b, 3400, 1, real[0]);
        else if (i == 1)
            put_list(b, 32000, 2, NULL);
        else
            put_list(b, 0, 0, real[i]);
    put(b, "\0\0\0\0\0", 5);
}

static double
cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
run(const char *label, const struct buf *b, int iters)
{
    static const sshbpp_kex_transport t = {t_send, t_keys, t_comp, t_reset};
    double total = 0, t0;
    int i, r = 0;

    for (i = 0; i < iters; i++) {
        sshbpp_kex *k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &(sshbpp_kex_config){0}, &t, NULL);
        sshbpp_packet pkt = {b->p, b->len, 20, 0};
        if (k == NULL || sshbpp_kex_generate_hostkey(k, "ssh-ed25519") != 0 ||
            sshbpp_kex_set_versions(k, "SSH-2.0-c", "SSH-2.0-s") != 0) {
            fprintf(stderr, "set-up failed\n");
            return 1;
        }
        t0 = cpu_us();
        r = sshbpp_kex_input(k, &pkt);
        total += cpu_us() - t0;
        sshbpp_kex_free(k);
    }
    printf("%-44s %7zu bytes  %9.1f us CPU per KEXINIT  -> %s\n", label, b->len,
           total / iters, r >= 0 ? "negotiated" : sshbpp_err_name(r));
    return 0;
}

int
main(int argc, char **argv)
{
    struct buf b = {0};
    int iters = argc > 1 ? atoi(argv[1]) : 200, rc = 0;

    if (iters <= 0)
        iters = 1;
    kexinit(&b, 0, 0);
    rc |= run("typical (one name a list)", &b, iters);
    kexinit(&b, 127, 0);
    rc |= run("largest allowed (10 lists x 128 names)", &b, iters);
    kexinit(&b, 0, 1);
    rc |= run("flood (a kex name x 3400, 32,000 x \"x\")", &b, iters < 5 ? iters : 5);
    free(b.p);
    return rc;
}
