/*
 * test_hostile.c: error paths a hostile peer can reach, each with the exact
 * error it must give.
 *
 *  - key exchange (two sans-I/O ends pumped against each other, one
 *    message rewritten on its way): a KEXINIT shorter than 17 bytes, a
 *    KEXINIT / KEX_ECDH_INIT / KEX_ECDH_REPLY with a trailing byte, NEWKEYS
 *    with a payload, NEWKEYS outside an exchange and in place of the
 *    ECDH init or reply, each group-exchange message with a trailing byte;
 *  - moduli files (sshbpp_kex_set_moduli): malformed lines, skipped groups,
 *    an over-long line, an oversized file, no file;
 *  - host key blobs: an RSA modulus over 16384 bits, under 2048 bits, an
 *    even exponent;
 *  - a compressed packet that inflates to nothing, corrupt deflate data,
 *    a deflate stream that ends;
 *  - the blocking driver's fd I/O: read() failing with ECONNRESET (fatal
 *    SSHBPP_EIO) and with EINTR (retried: the handshake completes), and an
 *    fd closed behind the driver's back (POLLNVAL, then EBADF: a prompt
 *    SSHBPP_EIO). read() is interposed with -Wl,--wrap=read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp.h"
#include "kex_ends.h"
#include "testutil.h"

/* ---- read() interposition ------------------------------------------------- */

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

static int fail_fd = -1;     /* reads on this fd are interfered with */
static int fail_errno;       /* ECONNRESET: every read; EINTR: the next fail_left */
static int fail_left;
static unsigned long interfered;

ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
    if (fd == fail_fd && fail_errno == ECONNRESET) {
        __atomic_add_fetch(&interfered, 1, __ATOMIC_SEQ_CST);
        errno = ECONNRESET;
        return -1;
    }
    if (fd == fail_fd && fail_errno == EINTR && __atomic_load_n(&fail_left, __ATOMIC_SEQ_CST) > 0) {
        __atomic_sub_fetch(&fail_left, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&interfered, 1, __ATOMIC_SEQ_CST);
        errno = EINTR;
        return -1;
    }
    return __real_read(fd, buf, n);
}

/* ---- two kex ends (kex_ends.h) with a rewriting hook ------------------------ */

/* The rewrite: when a packet of type `type` reaches role `at`, its payload
 * is replaced by `mode`'s version. */
enum rewrite { RW_NONE, RW_TRAIL, RW_SHORT, RW_NEWKEYS_PAYLOAD, RW_AS_NEWKEYS };
static struct {
    int at;
    uint8_t type;
    enum rewrite mode;
    int done;
} rw;
static uint8_t rwbuf[70000];

static void
rewrite_pkt(ke_end *to, sshbpp_packet *p)
{
    sshbpp_packet pkt = *p, alt;

    if (!rw.done && to->role == rw.at && pkt.type == rw.type && rw.mode != RW_NONE) {
        rw.done = 1;
        alt = pkt;
        alt.payload = rwbuf;
        switch (rw.mode) {
        case RW_TRAIL:
            assert_true(pkt.len + 1 <= sizeof(rwbuf));
            memcpy(rwbuf, pkt.payload, pkt.len);
            rwbuf[pkt.len] = 0;
            alt.len = pkt.len + 1;
            break;
        case RW_SHORT:
            memcpy(rwbuf, pkt.payload, 16);
            alt.len = 16; /* type + 15 of the 16 cookie bytes */
            break;
        case RW_NEWKEYS_PAYLOAD:
            rwbuf[0] = pkt.type;
            rwbuf[1] = 0;
            alt.len = 2;
            break;
        case RW_AS_NEWKEYS:
            rwbuf[0] = 21;
            alt.len = 1;
            alt.type = 21;
            break;
        default:
            break;
        }
        *p = alt;
    }
}

/* Runs an exchange with the rewrite set; returns the first error (or 0). */
static int
exchange(const char *kex, int *failed_role)
{
    sshbpp_kex_config cfg = {kex, "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none"};
    ke_end c = {0}, s = {0};
    int a = 0, b = 0, rounds, r = 0;

    c.role = SSHBPP_ROLE_CLIENT;
    s.role = SSHBPP_ROLE_SERVER;
    c.rewrite = s.rewrite = rewrite_pkt;
    ke_start(&c, &s, &cfg);
    *failed_role = -1;
    for (rounds = 0; rounds < 20; rounds++) {
        if ((a = ke_pump(&c, &s)) < 0) {
            *failed_role = SSHBPP_ROLE_SERVER;
            r = a;
            break;
        }
        if ((b = ke_pump(&s, &c)) < 0) {
            *failed_role = SSHBPP_ROLE_CLIENT;
            r = b;
            break;
        }
        if (a == 0 && b == 0)
            break;
    }
    if (r == 0)
        assert_true(sshbpp_kex_completed(c.k) == 1 && sshbpp_kex_completed(s.k) == 1);
    else { /* the error sticks: the next message gets it too */
        static const uint8_t ign[5] = {2, 0, 0, 0, 0};
        sshbpp_packet p = {ign, sizeof(ign), 2, 7};
        assert_int_equal(sshbpp_kex_input(*failed_role == SSHBPP_ROLE_SERVER ? s.k : c.k, &p), r);
    }
    sshbpp_kex_free(c.k);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(c.e);
    sshbpp_engine_free(s.e);
    return r;
}

static void
expect_rewrite(const char *kex, int at, uint8_t type, enum rewrite mode, int want)
{
    int role, r;

    memset(&rw, 0, sizeof(rw));
    rw.at = at;
    rw.type = type;
    rw.mode = mode;
    r = exchange(kex, &role);
    assert_int_equal(rw.done, 1);
    if (r != want)
        fail_msg("%s, type %u rewritten (%d) at %s: got %s, want %s", kex, type, (int)mode,
                 at == SSHBPP_ROLE_CLIENT ? "client" : "server", sshbpp_err_name(r),
                 sshbpp_err_name(want));
    assert_int_equal(role, at);
}

static void
test_kex_baseline(void **state)
{
    int role;

    (void)state;
    memset(&rw, 0, sizeof(rw));
    assert_int_equal(exchange("curve25519-sha256", &role), 0);
    assert_int_equal(exchange("diffie-hellman-group-exchange-sha256", &role), 0);
}

static void
test_kexinit_short(void **state)
{
    (void)state;
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_SERVER, 20, RW_SHORT, SSHBPP_EKEXMSG);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_CLIENT, 20, RW_SHORT, SSHBPP_EKEXMSG);
}

static void
test_trailing_bytes(void **state)
{
    (void)state;
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_SERVER, 20, RW_TRAIL, SSHBPP_EKEXMSG);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_CLIENT, 20, RW_TRAIL, SSHBPP_EKEXMSG);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_SERVER, 30, RW_TRAIL, SSHBPP_EKEXMSG);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_CLIENT, 31, RW_TRAIL, SSHBPP_EKEXMSG);
    expect_rewrite("ecdh-sha2-nistp256", SSHBPP_ROLE_SERVER, 30, RW_TRAIL, SSHBPP_EKEXMSG);
    expect_rewrite("diffie-hellman-group14-sha256", SSHBPP_ROLE_CLIENT, 31, RW_TRAIL,
                   SSHBPP_EKEXMSG);
    /* group exchange: request (34), group (31), init (32), reply (33) */
    expect_rewrite("diffie-hellman-group-exchange-sha256", SSHBPP_ROLE_SERVER, 34, RW_TRAIL,
                   SSHBPP_EKEXMSG);
    expect_rewrite("diffie-hellman-group-exchange-sha256", SSHBPP_ROLE_CLIENT, 31, RW_TRAIL,
                   SSHBPP_EKEXMSG);
    expect_rewrite("diffie-hellman-group-exchange-sha256", SSHBPP_ROLE_SERVER, 32, RW_TRAIL,
                   SSHBPP_EKEXMSG);
    expect_rewrite("diffie-hellman-group-exchange-sha256", SSHBPP_ROLE_CLIENT, 33, RW_TRAIL,
                   SSHBPP_EKEXMSG);
}

static void
test_newkeys_with_payload(void **state)
{
    (void)state;
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_SERVER, 21, RW_NEWKEYS_PAYLOAD,
                   SSHBPP_EKEXMSG);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_CLIENT, 21, RW_NEWKEYS_PAYLOAD,
                   SSHBPP_EKEXMSG);
}

/* NEWKEYS where none may come: outside an exchange, before the peer's
 * KEXINIT, and in place of the reply. */
static void
test_newkeys_out_of_order(void **state)
{
    sshbpp_kex_config cfg = {"curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256",
                             "none"};
    ke_end s = {0}, c = {0};
    static const uint8_t nk[1] = {21};
    sshbpp_packet pkt = {nk, 1, 21, 0};

    (void)state;
    s.e = tu_engine_new();
    s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &ke_transport, &s);
    assert_int_equal(sshbpp_kex_input(s.k, &pkt), SSHBPP_EKEXORDER);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(s.e);
    c.e = tu_engine_new();
    c.k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, &cfg, &ke_transport, &c);
    assert_int_equal(sshbpp_kex_set_versions(c.k, "SSH-2.0-c", "SSH-2.0-s"), 0);
    assert_int_equal(sshbpp_kex_start(c.k), 0);
    assert_int_equal(sshbpp_kex_input(c.k, &pkt), SSHBPP_EKEXORDER);
    sshbpp_kex_free(c.k);
    sshbpp_engine_free(c.e);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_CLIENT, 31, RW_AS_NEWKEYS, SSHBPP_EKEXORDER);
    expect_rewrite("curve25519-sha256", SSHBPP_ROLE_SERVER, 30, RW_AS_NEWKEYS, SSHBPP_EKEXORDER);
}

/* ---- moduli files (sshbpp_kex_set_moduli) ------------------------------------- */

/* A real 2048-bit group line from the system's moduli file (openssh-server
 * is a test dependency), or the test fails. */
static void
good_moduli_line(char *out, size_t cap)
{
    FILE *f = fopen("/etc/ssh/moduli", "r");
    char line[4096];

    if (f == NULL)
        fail_msg("/etc/ssh/moduli missing (openssh-server is a test dependency)");
    out[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL)
        if (line[0] != '#' && strstr(line, " 2 6 100 2047 ") != NULL) {
            snprintf(out, cap, "%s", line);
            break;
        }
    fclose(f);
    assert_true(out[0] != '\0');
}

static int
moduli_from(const char *text, size_t repeat)
{
    sshbpp_kex_config cfg = {"diffie-hellman-group-exchange-sha256", "ssh-ed25519", "aes128-ctr",
                             "hmac-sha2-256", "none"};
    char path[] = "/tmp/sshbpp-moduli.XXXXXX";
    ke_end s = {0};
    FILE *f;
    size_t i;
    int fd, r;

    assert_true((fd = mkstemp(path)) >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    for (i = 0; i < repeat; i++)
        fputs(text, f);
    fclose(f);
    s.e = tu_engine_new();
    s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &ke_transport, &s);
    assert_non_null(s.k);
    r = sshbpp_kex_set_moduli(s.k, path);
    sshbpp_kex_free(s.k);
    sshbpp_engine_free(s.e);
    unlink(path);
    return r;
}

static void
test_moduli_file(void **state)
{
    static char good[4096], bad[8192], longline[70000];
    char *sp;
    int field;

    (void)state;
    good_moduli_line(good, sizeof(good));
    assert_int_equal(moduli_from(good, 1), 0);
    assert_int_equal(moduli_from("# only a comment\n\n   \n", 1), SSHBPP_EKEXMSG);
    assert_int_equal(moduli_from("1 2 6 100\n", 1), SSHBPP_EKEXMSG);          /* 4 fields */
    assert_int_equal(moduli_from("1 2 6 100 2047 2 AB CD\n", 1), SSHBPP_EKEXMSG); /* 8 */
    /* each numeric field in turn not a number */
    for (field = 1; field <= 5; field++) {
        int i;
        snprintf(bad, sizeof(bad), "%s", good);
        for (sp = bad, i = 0; i < field; i++)
            sp = strchr(sp, ' ') + 1;
        *sp = 'x';
        assert_int_equal(moduli_from(bad, 1), SSHBPP_EKEXMSG);
    }
    /* a modulus that is not hex */
    snprintf(bad, sizeof(bad), "20220714110357 2 6 100 2047 2 XYZ\n");
    assert_int_equal(moduli_from(bad, 1), SSHBPP_EKEXMSG);
    /* a size column that lies, an untested group, a small group: skipped,
     * leaving nothing usable */
    snprintf(bad, sizeof(bad), "%s", good);
    memcpy(strstr(bad, " 2047 "), " 3071 ", 6);
    assert_int_equal(moduli_from(bad, 1), SSHBPP_EKEXMSG);
    snprintf(bad, sizeof(bad), "%s", good);
    memcpy(strstr(bad, " 2 6 "), " 2 1 ", 5);
    assert_int_equal(moduli_from(bad, 1), SSHBPP_EKEXMSG);
    assert_int_equal(moduli_from("20220714110357 2 6 100 1023 2 F7\n", 1), SSHBPP_EKEXMSG);
    /* a line longer than any modulus */
    memset(longline, 'A', sizeof(longline) - 2);
    longline[sizeof(longline) - 2] = '\n';
    longline[sizeof(longline) - 1] = '\0';
    assert_int_equal(moduli_from(longline, 1), SSHBPP_EKEXMSG);
    /* a file over the size bound (many good lines) */
    assert_int_equal(moduli_from(good, (17u << 20) / strlen(good)), SSHBPP_EKEXMSG);
    /* no file */
    {
        sshbpp_kex_config cfg = {"diffie-hellman-group-exchange-sha256", "ssh-ed25519",
                                 "aes128-ctr", "hmac-sha2-256", "none"};
        ke_end s = {0};
        s.e = tu_engine_new();
        s.k = sshbpp_kex_new(SSHBPP_ROLE_SERVER, &cfg, &ke_transport, &s);
        assert_int_equal(sshbpp_kex_set_moduli(s.k, "/nonexistent/moduli"), SSHBPP_EIO);
        sshbpp_kex_free(s.k);
        sshbpp_engine_free(s.e);
    }
}

/* ---- RSA host key bounds ------------------------------------------------------ */

static size_t
put_string(uint8_t *p, const void *s, size_t n)
{
    tu_put_be32(p, (uint32_t)n);
    memcpy(p + 4, s, n);
    return 4 + n;
}

/* string "ssh-rsa", mpint e, mpint n (nlen magnitude bytes, top byte top). */
static size_t
rsa_blob(uint8_t *out, const uint8_t *e, size_t elen, size_t nlen, uint8_t top)
{
    static uint8_t n[2100];
    size_t off = 0;

    memset(n, 0x5b, nlen);
    n[0] = top;
    n[nlen - 1] |= 1;
    off += put_string(out + off, "ssh-rsa", 7);
    off += put_string(out + off, e, elen);
    off += put_string(out + off, n, nlen);
    return off;
}

static void
test_rsa_modulus_bounds(void **state)
{
    static uint8_t blob[2200];
    static const uint8_t e3[] = {0x01, 0x00, 0x01}, even[] = {0x01, 0x00, 0x02};
    static const uint8_t sig[64] = {0}, data[4] = {1, 2, 3, 4};
    size_t n;

    (void)state;
    /* 2049 bytes: 16385..16392 bits, over the maximum */
    n = rsa_blob(blob, e3, sizeof(e3), 2049, 0x01);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", blob, n, data, sizeof(data), sig,
                                            sizeof(sig)),
                     SSHBPP_EHOSTKEY);
    /* 1024 bits: under the minimum */
    n = rsa_blob(blob, e3, sizeof(e3), 128, 0x7f);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-256", blob, n, data, sizeof(data), sig,
                                            sizeof(sig)),
                     SSHBPP_EHOSTKEY);
    /* 2048 bits but an even exponent */
    n = rsa_blob(blob, even, sizeof(even), 256, 0x7f);
    assert_int_equal(sshbpp__hostkey_verify("rsa-sha2-512", blob, n, data, sizeof(data), sig,
                                            sizeof(sig)),
                     SSHBPP_EHOSTKEY);
    /* and a well-formed 2048-bit one gets as far as the signature */
    n = rsa_blob(blob, e3, sizeof(e3), 256, 0x7f);
    assert_int_not_equal(sshbpp__hostkey_verify("rsa-sha2-512", blob, n, data, sizeof(data), sig,
                                                sizeof(sig)),
                         0);
}

/* ---- a compressed packet that inflates to nothing ------------------------------- */

static void
test_zlib_inflates_to_nothing(void **state)
{
    sshbpp_engine *e = tu_engine_new();
    uint8_t z[64], pkt[128];
    z_stream zs;
    sshbpp_packet p;
    size_t zlen, n;

    (void)state;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit(&zs, Z_DEFAULT_COMPRESSION), Z_OK);
    zs.next_in = Z_NULL;
    zs.avail_in = 0;
    zs.next_out = z;
    zs.avail_out = sizeof(z);
    assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK); /* header + an empty block */
    zlen = sizeof(z) - zs.avail_out;
    deflateEnd(&zs);
    assert_true(zlen > 2);
    assert_int_equal(sshbpp_engine_set_compression(e, SSHBPP_DIR_IN, "zlib"), 0);
    /* no cipher: block size 8; padding to a multiple of 8, at least 4 */
    {
        size_t pad = 8 - ((5 + zlen) % 8);
        if (pad < 4)
            pad += 8;
        n = tu_build_plain(pkt, sizeof(pkt), (uint32_t)(1 + zlen + pad), (uint8_t)pad, z, zlen,
                           0);
    }
    assert_int_equal(sshbpp_engine_feed(e, pkt, n), 0);
    assert_int_equal(sshbpp_engine_rx_next(e, &p), SSHBPP_EEMPTY);
    assert_int_equal(sshbpp_engine_error(e), SSHBPP_EEMPTY); /* fatal, sticky */
    sshbpp_engine_free(e);
}

/* One uncompressed-cipher packet whose payload is z[0..zlen), into a fresh
 * engine with inbound zlib; returns rx_next's result. */
static int
feed_compressed(const uint8_t *z, size_t zlen)
{
    sshbpp_engine *e = tu_engine_new();
    uint8_t pkt[256];
    sshbpp_packet p;
    size_t pad = 8 - ((5 + zlen) % 8), n;
    int r;

    if (pad < 4)
        pad += 8;
    assert_true(zlen + pad + 5 <= sizeof(pkt));
    assert_int_equal(sshbpp_engine_set_compression(e, SSHBPP_DIR_IN, "zlib"), 0);
    n = tu_build_plain(pkt, sizeof(pkt), (uint32_t)(1 + zlen + pad), (uint8_t)pad, z, zlen, 0);
    assert_int_equal(sshbpp_engine_feed(e, pkt, n), 0);
    r = sshbpp_engine_rx_next(e, &p);
    if (r < 0)
        assert_int_equal(sshbpp_engine_error(e), r); /* fatal, sticky */
    sshbpp_engine_free(e);
    return r;
}

/* Corrupt deflate data, and a stream that ends (SSH's lasts as long as the
 * keys): both SSHBPP_EDECOMP. */
static void
test_zlib_corrupt_and_stream_end(void **state)
{
    static const uint8_t garbage[] = {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0x13, 0x37};
    uint8_t z[64];
    z_stream zs;
    size_t zlen;

    (void)state;
    assert_int_equal(feed_compressed(garbage, sizeof(garbage)), SSHBPP_EDECOMP);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit(&zs, Z_DEFAULT_COMPRESSION), Z_OK);
    zs.next_in = (Bytef *)"\x5ehello";
    zs.avail_in = 6;
    zs.next_out = z;
    zs.avail_out = sizeof(z);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    zlen = sizeof(z) - zs.avail_out;
    deflateEnd(&zs);
    assert_int_equal(feed_compressed(z, zlen), SSHBPP_EDECOMP);
}

/* ---- the driver's read() failing -------------------------------------------------- */

static int
accept_any(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)alg;
    (void)fp;
    (void)blob;
    (void)len;
    return 1;
}

struct hs {
    sshbpp_driver *d;
    int r;
};

static void *
server_hs(void *p)
{
    struct hs *h = p;

    h->r = sshbpp_driver_handshake(h->d, 10000);
    return NULL;
}

static void
driver_pair(sshbpp_driver **cl, sshbpp_driver **sv, int *cfd)
{
    sshbpp_conn_config cc, sc;
    int fds[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    sshbpp_conn_config_init(&sc, SSHBPP_ROLE_SERVER);
    *cl = sshbpp_driver_new(fds[0], &cc);
    *sv = sshbpp_driver_new(fds[1], &sc);
    assert_non_null(*cl);
    assert_non_null(*sv);
    assert_int_equal(sshbpp_conn_generate_hostkey(sshbpp_driver_conn(*sv), "ssh-ed25519"), 0);
    sshbpp_driver_set_hostkey_cb(*cl, accept_any, NULL);
    *cfd = fds[0];
}

static void
test_read_econnreset(void **state)
{
    sshbpp_driver *cl, *sv;
    struct hs h;
    pthread_t t;
    int fd, r;

    (void)state;
    driver_pair(&cl, &sv, &fd);
    interfered = 0;
    fail_errno = ECONNRESET;
    fail_fd = fd;
    h.d = sv;
    assert_int_equal(pthread_create(&t, NULL, server_hs, &h), 0);
    r = sshbpp_driver_handshake(cl, 10000);
    fail_fd = -1;
    assert_int_equal(r, SSHBPP_EIO);
    assert_true(interfered >= 1);
    assert_int_equal(sshbpp_driver_error(cl), SSHBPP_EIO); /* sticks */
    sshbpp_driver_close(sv);
    pthread_join(t, NULL);
    assert_true(h.r < 0);
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

static void
test_read_eintr_retried(void **state)
{
    sshbpp_driver *cl, *sv;
    struct hs h;
    pthread_t t;
    int fd, r;

    (void)state;
    driver_pair(&cl, &sv, &fd);
    interfered = 0;
    fail_left = 3;
    fail_errno = EINTR;
    fail_fd = fd;
    h.d = sv;
    assert_int_equal(pthread_create(&t, NULL, server_hs, &h), 0);
    r = sshbpp_driver_handshake(cl, 10000);
    pthread_join(t, NULL);
    fail_fd = -1;
    assert_int_equal(r, 0);
    assert_int_equal(h.r, 0);
    assert_int_equal(interfered, 3); /* three reads interrupted, each retried */
    sshbpp_driver_free(cl);
    sshbpp_driver_free(sv);
}

/* The fd closed behind the driver's back: poll() answers POLLNVAL at once
 * and the read that follows fails (EBADF): a prompt SSHBPP_EIO, not a wait
 * until the timeout. */
static void
test_fd_closed_pollnval(void **state)
{
    sshbpp_conn_config cc;
    sshbpp_driver *cl;
    int fds[2], r;
    struct timespec t0, t1;
    long ms;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    sshbpp_conn_config_init(&cc, SSHBPP_ROLE_CLIENT);
    cl = sshbpp_driver_new(fds[0], &cc);
    assert_non_null(cl);
    assert_int_equal(close(fds[0]), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = sshbpp_driver_handshake(cl, 20000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(r, SSHBPP_EIO);
    assert_true(ms < 10000);
    /* the driver closes its fd at free: give it a harmless one to close */
    assert_int_equal(dup2(fds[1], fds[0]), fds[0]);
    sshbpp_driver_free(cl);
    close(fds[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kex_baseline),
        cmocka_unit_test(test_kexinit_short),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_newkeys_with_payload),
        cmocka_unit_test(test_newkeys_out_of_order),
        cmocka_unit_test(test_moduli_file),
        cmocka_unit_test(test_rsa_modulus_bounds),
        cmocka_unit_test(test_zlib_inflates_to_nothing),
        cmocka_unit_test(test_zlib_corrupt_and_stream_end),
        cmocka_unit_test(test_read_econnreset),
        cmocka_unit_test(test_read_eintr_retried),
        cmocka_unit_test(test_fd_closed_pollnval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
