/*
 * gen_seeds.c: writes the seed corpora of every fuzz target into
 * DIR/<target>/. In the tree, fuzz/corpus/<target>/ holds these seeds
 * (named) plus the inputs a few minutes of libFuzzer added to them,
 * minimized with -merge=1 (named by their SHA-1); both are replayed by
 * ctest. The seeds are valid inputs made with the library itself: sealed
 * streams in every mode, the messages of real key exchanges in both roles
 * and for every method, real host key blobs and signatures, and the
 * server's side of userauth.
 *
 *   sshbpp_fuzz_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "kex/kex_int.h"

static const char *outdir;
static unsigned nseeds;

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void
put(struct buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        uint8_t *np = realloc(b->p, cap);
        if (np == NULL)
            exit(2);
        b->p = np;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void
put8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}
static void
put16(struct buf *b, size_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 2);
}
static void
put32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}
static void
putstr(struct buf *b, const char *s)
{
    put32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}
/* [u16 len][bytes] */
static void
putmsg(struct buf *b, const void *d, size_t n)
{
    put16(b, n);
    put(b, d, n);
}

static void
save(const char *target, const char *name, const struct buf *b)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
    if ((f = fopen(path, "wb")) == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    nseeds++;
}

static void
die(const char *what)
{
    fprintf(stderr, "gen_seeds: %s failed\n", what);
    exit(1);
}

/* ---- rx and roundtrip ------------------------------------------------------ */

static void
gen_packets(void)
{
    static const uint8_t msgs[][24] = {{94, 0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'},
                                       {2, 0, 0, 0, 3, 'a', 'b', 'c'},
                                       {80, 0, 0, 0, 7, 'k', 'e', 'e', 'p', 'a', 'l', 'i'}};
    static const size_t lens[] = {14, 8, 12};
    char name[64];
    size_t m, i, n;
    int z;

    for (m = 0; m < FUZZ_NMODES; m++)
        for (z = 0; z < 2; z++) {
            sshbpp_engine *tx = sshbpp_engine_new();
            struct buf rx = {0}, rt = {0};
            const uint8_t *w;

            if (tx == NULL || fuzz_set_keys(tx, SSHBPP_DIR_OUT, m) != 0 ||
                (z && sshbpp_engine_set_compression(tx, SSHBPP_DIR_OUT, "zlib") != 0))
                die("rx keys");
            put8(&rx, (uint8_t)m);
            put8(&rx, (uint8_t)(z | (m << 1)));
            put8(&rt, (uint8_t)m);
            put8(&rt, (uint8_t)(z | (m << 2)));
            for (i = 0; i < 3; i++) {
                if (sshbpp_engine_send(tx, msgs[i], lens[i]) != 0)
                    die("rx send");
                putmsg(&rt, msgs[i], lens[i]);
            }
            w = sshbpp_engine_tx_data(tx, &n);
            put(&rx, w, n);
            snprintf(name, sizeof(name), "mode%zu-%s", m, z ? "zlib" : "plain");
            save("rx", name, &rx);
            /* the same after a version line (option bit 7) */
            rx.len = 1;
            put8(&rx, (uint8_t)(0x80 | z | (m << 1)));
            put(&rx, "SSH-2.0-OpenSSH_9.2p1\r\n", 23);
            put(&rx, w, n);
            snprintf(name, sizeof(name), "line-mode%zu-%s", m, z ? "zlib" : "plain");
            save("rx", name, &rx);
            save("roundtrip", name, &rt);
            sshbpp_engine_free(tx);
            free(rx.p);
            free(rt.p);
        }
}

/* ---- key exchange: two sans-I/O kex objects pumped against each other ---- */

struct side {
    sshbpp_kex *k;
    struct buf sent; /* [u16 len][payload] per message */
    struct buf wire; /* the same, framed as plaintext packets (no cipher) */
    sshbpp_engine *e;
    int nmsg, keyed;
};

static int
k_send(void *ctx, const uint8_t *p, size_t n)
{
    struct side *s = ctx;
    const uint8_t *w;
    size_t wl;

    putmsg(&s->sent, p, n);
    s->nmsg++;
    /* Wire form only while unencrypted: what a peer sends before NEWKEYS. */
    if (!s->keyed && sshbpp_engine_send(s->e, p, n) == 0) {
        w = sshbpp_engine_tx_data(s->e, &wl);
        put(&s->wire, w, wl);
        sshbpp_engine_tx_consume(s->e, wl);
    }
    return 0;
}
static int
k_keys(void *ctx, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    struct side *s = ctx;
    (void)k;
    if (dir == SSHBPP_DIR_OUT)
        s->keyed = 1;
    return 0;
}
static int
k_comp(void *ctx, enum sshbpp_dir dir, const char *name)
{
    (void)ctx;
    (void)dir;
    (void)name;
    return 0;
}
static void
k_reset(void *ctx, enum sshbpp_dir dir)
{
    (void)ctx;
    (void)dir;
}

/* Delivers every message from->sent[*pos..] to `to`. */
static int
deliver(struct side *from, size_t *pos, struct side *to, uint32_t *seq)
{
    int moved = 0;

    while (*pos + 2 <= from->sent.len) {
        size_t n = (size_t)from->sent.p[*pos] << 8 | from->sent.p[*pos + 1];
        sshbpp_packet pkt = {from->sent.p + *pos + 2, n, from->sent.p[*pos + 2], (*seq)++};
        if (sshbpp_kex_input(to->k, &pkt) < 0)
            die("kex input");
        *pos += 2 + n;
        moved = 1;
    }
    return moved;
}

static void
gen_kex(const char *kexname, const char *hkalg, int idx)
{
    static const sshbpp_kex_transport t = {k_send, k_keys, k_comp, k_reset};
    sshbpp_kex_config cfg = {kexname, hkalg, NULL, NULL, NULL};
    struct side c = {0}, s = {0};
    size_t cpos = 0, spos = 0;
    uint32_t cseq = 0, sseq = 0;
    struct buf b = {0};
    char name[96];
    int hki;

    c.e = sshbpp_engine_new();
    s.e = sshbpp_engine_new();
    c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg, &t, &c);
    s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &t, &s);
    if (c.e == NULL || s.e == NULL || c.k == NULL || s.k == NULL ||
        sshbpp_kex_set_versions(c.k, "SSH-2.0-OpenSSH_9.2p1", "SSH-2.0-sshbpp_fuzz") != 0 ||
        sshbpp_kex_set_versions(s.k, "SSH-2.0-OpenSSH_9.2p1", "SSH-2.0-sshbpp_fuzz") != 0 ||
        sshbpp_kex_generate_hostkey(s.k, hkalg) != 0 || sshbpp_kex_start(c.k) != 0)
        die("kex set-up");
    while (deliver(&c, &cpos, &s, &sseq) | deliver(&s, &spos, &c, &cseq))
        ;
    if (sshbpp_kex_completed(c.k) != 1 || sshbpp_kex_completed(s.k) != 1)
        die("kex pump");
    for (hki = 0; hki < 4; hki++)
        if (strcmp(hkalg, (const char *[]){"ssh-ed25519", "ecdsa-sha2-nistp256",
                                           "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}[hki]) == 0)
            break;
    /* fuzz_kex: server role gets the client's messages and vice versa. */
    b.len = 0;
    put8(&b, (uint8_t)(1 | (hki % 4) << 2));
    put(&b, c.sent.p, c.sent.len);
    snprintf(name, sizeof(name), "server-%02d-%s", idx, kexname);
    save("kex", name, &b);
    b.len = 0;
    put8(&b, 2);
    put(&b, s.sent.p, s.sent.len);
    snprintf(name, sizeof(name), "client-%02d-%s", idx, kexname);
    save("kex", name, &b);
    /* fuzz_banner: a version line, then the same messages as packets. */
    b.len = 0;
    put8(&b, 1);
    put(&b, "SSH-2.0-OpenSSH_9.2p1\r\n", 23);
    put(&b, c.wire.p, c.wire.len);
    snprintf(name, sizeof(name), "server-%02d", idx);
    save("banner", name, &b);
    b.len = 0;
    put8(&b, 0);
    if (idx == 0)
        put(&b, "a pre-banner line\r\nanother\n", 27);
    put(&b, idx == 1 ? "SSH-1.99-OpenSSH_9.2p1\r\n" : "SSH-2.0-OpenSSH_9.2p1\r\n", idx == 1 ? 24 : 23);
    put(&b, s.wire.p, s.wire.len);
    snprintf(name, sizeof(name), "client-%02d", idx);
    save("banner", name, &b);
    free(b.p);
    free(c.sent.p);
    free(s.sent.p);
    free(c.wire.p);
    free(s.wire.p);
    sshbpp_kex_free(c.k);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(c.e);
    sshbpp_engine_free(s.e);
}

/* ---- host keys ------------------------------------------------------------- */

extern const uint8_t sshbpp_fuzz_hostkey_data[32];

static void
gen_hostkeys(void)
{
    static const char *const gen[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                      "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256"};
    size_t i, j;

    for (i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
        sshbpp__hostkey hk;
        sshbpp__wbuf blob, sig;
        struct buf b = {0};
        char name[64];

        memset(&hk, 0, sizeof(hk));
        sshbpp__wb_init(&blob);
        sshbpp__wb_init(&sig);
        if (sshbpp__hostkey_generate(&hk, i >= 4 ? "rsa" : gen[i]) != 0 ||
            sshbpp__hostkey_put_blob(&hk, &blob) != 0 ||
            sshbpp__hostkey_sign(&hk, gen[i], sshbpp_fuzz_hostkey_data, 32, &sig) != 0)
            die("host key");
        for (j = 0; sshbpp__hostkey_names[j] != NULL; j++)
            if (strcmp(sshbpp__hostkey_names[j], gen[i]) == 0)
                break;
        put8(&b, (uint8_t)j);
        putmsg(&b, blob.p, blob.len);
        put(&b, sig.p, sig.len);
        snprintf(name, sizeof(name), "%s", gen[i]);
        save("hostkey", name, &b);
        free(b.p);
        sshbpp__wb_free(&blob);
        sshbpp__wb_free(&sig);
        sshbpp__hostkey_free(&hk);
    }
}

/* ---- userauth replies -------------------------------------------------------- */

static void
gen_userauth(void)
{
    struct buf m = {0}, b = {0};
    int v;

    for (v = 0; v < 6; v++) {
        b.len = 0;
        put8(&b, (uint8_t)(v == 0 ? 1 : v == 1 ? 3 : v == 5 ? 4 : 1));
        if (v != 1) { /* EXT_INFO */
            m.len = 0;
            put8(&m, 7);
            put32(&m, 2);
            putstr(&m, "server-sig-algs");
            putstr(&m, "ssh-ed25519,rsa-sha2-256,rsa-sha2-512,ecdsa-sha2-nistp256");
            putstr(&m, "ping@openssh.com");
            putstr(&m, "0");
            putmsg(&b, m.p, m.len);
        }
        if (v == 0 || v >= 2) { /* SERVICE_ACCEPT */
            m.len = 0;
            put8(&m, 6);
            putstr(&m, "ssh-userauth");
            putmsg(&b, m.p, m.len);
        }
        if (v == 2 || v == 3) { /* BANNER */
            m.len = 0;
            put8(&m, 53);
            putstr(&m, "Authorized use only\r\n");
            putstr(&m, "");
            putmsg(&b, m.p, m.len);
        }
        m.len = 0;
        if (v == 4) {
            put8(&m, 52); /* SUCCESS */
        } else {
            put8(&m, 51); /* FAILURE */
            putstr(&m, "publickey,password,keyboard-interactive");
            put8(&m, v == 5);
        }
        putmsg(&b, m.p, m.len);
        if (v >= 3) { /* then traffic: IGNORE, DEBUG, a global request */
            static const uint8_t ign[] = {2, 0, 0, 0, 1, 'x'};
            static const uint8_t dbg[] = {4, 1, 0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0};
            static const uint8_t glob[] = {80, 0, 0, 0, 4, 'p', 'i', 'n', 'g', 0};
            putmsg(&b, ign, sizeof(ign));
            putmsg(&b, dbg, sizeof(dbg));
            putmsg(&b, glob, sizeof(glob));
        }
        {
            char name[32];
            snprintf(name, sizeof(name), "flow-%d", v);
            save("userauth", name, &b);
        }
    }
    free(m.p);
    free(b.p);
}

int
main(int argc, char **argv)
{
    static const char *const kexes[] = {"curve25519-sha256", "curve25519-sha256@libssh.org",
                                        "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
                                        "ecdh-sha2-nistp521", "diffie-hellman-group14-sha256",
                                        "diffie-hellman-group16-sha512"};
    static const char *const hks[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                      "ecdsa-sha2-nistp521", "ssh-ed25519", "ecdsa-sha2-nistp256",
                                      "ssh-ed25519"};
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    gen_packets();
    for (i = 0; i < sizeof(kexes) / sizeof(kexes[0]); i++)
        gen_kex(kexes[i], hks[i], (int)i);
    gen_hostkeys();
    gen_userauth();
    printf("gen_seeds: %u seeds in %s\n", nseeds, outdir);
    return 0;
}
