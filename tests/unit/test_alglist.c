/*
 * test_alglist.c: OpenSSH's algorithm-list syntax (src/kex/alglist.c) as
 * ssh_config(5) documents it for KexAlgorithms, Ciphers, MACs and
 * HostKeyAlgorithms:
 *   "If the specified list begins with a '+' character, then the specified
 *    algorithms will be appended to the default set instead of replacing
 *    them. If the specified list begins with a '-' character, then the
 *    specified algorithms (including wildcards) will be removed from the
 *    default set instead of replacing them. If the specified list begins
 *    with a '^' character, then the specified algorithms will be placed at
 *    the head of the default set."
 * and, as ssh(1) does, unknown names after '+' or '^' and an empty result
 * are errors, while '-' names that match nothing are not.
 *
 * Then the same through sshbpp_kex_config into the KEXINIT we send: the
 * default KEXINIT never offers a legacy (SHA-1) method, and asking for one
 * with '+' puts it at the end of the list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kex/kex_int.h"

/* A small universe, so that the table below does not move with the
 * library's own defaults. */
static const char *const all[] = {"k1", "k2", "ecdh-a", "ecdh-b", "dh-sha1", "dh-sha256", NULL};
static const char def[] = "k1,k2,ecdh-a,ecdh-b,dh-sha256";

struct row {
    const char *spec;
    int rc;
    const char *want;
};

static const struct row rows[] = {
    /* NULL and plain lists */
    {NULL, 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256"},
    {"k2,k1", 0, "k2,k1"},
    {"whatever", 0, "whatever"}, /* plain: checked later by kex_start */
    /* + appends, without duplicates */
    {"+dh-sha1", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256,dh-sha1"},
    {"+k1", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256"},
    {"+dh-sha1,k2,dh-sha1", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256,dh-sha1"},
    {"+nope", SSHBPP_EUNSUPPORTED, NULL},
    {"+dh-sha1,nope", SSHBPP_EUNSUPPORTED, NULL},
    {"+ecdh-*", SSHBPP_EUNSUPPORTED, NULL}, /* no patterns after + */
    {"+", SSHBPP_EUNSUPPORTED, NULL},
    {"+dh-sha1,", SSHBPP_EUNSUPPORTED, NULL},
    {"+,dh-sha1", SSHBPP_EUNSUPPORTED, NULL},
    /* - removes, with wildcards; no match is fine */
    {"-k2", 0, "k1,ecdh-a,ecdh-b,dh-sha256"},
    {"-ecdh-*", 0, "k1,k2,dh-sha256"},
    {"-ecdh-?", 0, "k1,k2,dh-sha256"},
    {"-*-sha256,k?", 0, "ecdh-a,ecdh-b"},
    {"-nope", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256"},
    {"-dh-sha1", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256"}, /* not in the default */
    {"-e*h-b", 0, "k1,k2,ecdh-a,dh-sha256"},
    {"-*", SSHBPP_EUNSUPPORTED, NULL},
    {"-k*,ecdh*,dh*", SSHBPP_EUNSUPPORTED, NULL},
    {"-", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256"},
    /* ^ puts at the head, moving rather than duplicating */
    {"^dh-sha256", 0, "dh-sha256,k1,k2,ecdh-a,ecdh-b"},
    {"^dh-sha1,ecdh-b", 0, "dh-sha1,ecdh-b,k1,k2,ecdh-a,dh-sha256"},
    {"^k1", 0, "k1,k2,ecdh-a,ecdh-b,dh-sha256"},
    {"^nope", SSHBPP_EUNSUPPORTED, NULL},
    {"^", SSHBPP_EUNSUPPORTED, NULL},
};

static void
test_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *out = (char *)1;
        int rc = sshbpp__alglist_resolve(rows[i].spec, def, all, &out);

        if (rc != rows[i].rc)
            fail_msg("row %zu '%s': rc %d, wanted %d", i, rows[i].spec ? rows[i].spec : "(null)",
                     rc, rows[i].rc);
        if (rows[i].want == NULL) {
            assert_null(out);
            continue;
        }
        assert_non_null(out);
        if (strcmp(out, rows[i].want) != 0)
            fail_msg("row %zu '%s': got '%s', wanted '%s'", i, rows[i].spec, out, rows[i].want);
        free(out);
    }
    assert_int_equal(sshbpp__alglist_resolve("+k1", NULL, all, NULL), SSHBPP_EINVAL);
}

/* ---- through the library's real lists, into the KEXINIT ------------------ */

struct cap {
    uint8_t buf[8192];
    size_t len;
};

static int
cap_send(void *ctx, const uint8_t *p, size_t n)
{
    struct cap *c = ctx;

    if (c->len == 0 && n <= sizeof(c->buf)) {
        memcpy(c->buf, p, n);
        c->len = n;
    }
    return 0;
}

static int
cap_keys(void *ctx, enum sshbpp_dir d, const sshbpp_keys *k)
{
    (void)ctx;
    (void)d;
    (void)k;
    return 0;
}

static int
cap_comp(void *ctx, enum sshbpp_dir d, const char *name)
{
    (void)ctx;
    (void)d;
    (void)name;
    return 0;
}

static void
cap_seq(void *ctx, enum sshbpp_dir d)
{
    (void)ctx;
    (void)d;
}

static const sshbpp_kex_transport cap_t = {cap_send, cap_keys, cap_comp, cap_seq};

/* Name-list number idx of the KEXINIT a client with cfg sends, into out;
 * returns sshbpp_kex_start()'s result. */
static int
kexinit_list(const sshbpp_kex_config *cfg, int idx, char *out, size_t cap)
{
    struct cap c;
    sshbpp_kex *k;
    sshbpp__rbuf r;
    const uint8_t *p;
    uint8_t type;
    size_t n = 0;
    int i, rc;

    memset(&c, 0, sizeof(c));
    k = sshbpp_kex_new(SSHBPP_ROLE_CLIENT, cfg, &cap_t, &c);
    assert_non_null(k);
    rc = sshbpp_kex_start(k);
    sshbpp_kex_free(k);
    out[0] = '\0';
    if (rc != 0)
        return rc;
    sshbpp__rb_init(&r, c.buf, c.len);
    assert_int_equal(sshbpp__rb_u8(&r, &type), 0);
    assert_int_equal(type, 20);
    assert_int_equal(sshbpp__rb_raw(&r, &p, 16), 0);
    for (i = 0; i <= idx; i++)
        assert_int_equal(sshbpp__rb_string(&r, &p, &n), 0);
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int
has(const char *list, const char *name)
{
    return sshbpp__namelist_has(list, strlen(list), name);
}

static void
test_default_kexinit_has_no_legacy(void **state)
{
    sshbpp_kex_config cfg = {0};
    char l[4096];

    (void)state;
    assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_KEX, l, sizeof(l)), 0);
    assert_false(has(l, "diffie-hellman-group14-sha1"));
    assert_false(has(l, "diffie-hellman-group1-sha1"));
    assert_false(has(l, "diffie-hellman-group-exchange-sha1"));
    assert_true(has(l, "curve25519-sha256"));
    assert_true(has(l, "diffie-hellman-group18-sha512"));
    assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_HOSTKEY, l, sizeof(l)), 0);
    assert_false(has(l, "ssh-rsa"));
    assert_false(has(l, "ssh-dss"));
    assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_MAC_C2S, l, sizeof(l)), 0);
    assert_false(has(l, "hmac-md5"));
    assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_CIPHER_C2S, l, sizeof(l)), 0);
    assert_false(has(l, "3des-cbc"));
}

static void
test_config_syntax(void **state)
{
    char l[4096], want[4096];
    const char *d = sshbpp_kex_default(SSHBPP_KEXINIT_KEX);

    (void)state;
    {
        sshbpp_kex_config cfg = {"+diffie-hellman-group14-sha1", NULL, NULL, NULL, NULL};
        assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_KEX, l, sizeof(l)), 0);
        /* The default, the legacy method, then the client's pseudo-names. */
        snprintf(want, sizeof(want), "%s,diffie-hellman-group14-sha1,", d);
        assert_int_equal(strncmp(l, want, strlen(want)), 0);
    }
    {
        sshbpp_kex_config cfg = {"^diffie-hellman-group14-sha256", NULL, NULL, NULL, NULL};
        assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_KEX, l, sizeof(l)), 0);
        assert_int_equal(strncmp(l, "diffie-hellman-group14-sha256,", 30), 0);
        assert_null(strstr(l + 30, "diffie-hellman-group14-sha256"));
    }
    {
        sshbpp_kex_config cfg = {"-ecdh-sha2-*,diffie-hellman-*", NULL, NULL, NULL, NULL};
        assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_KEX, l, sizeof(l)), 0);
        assert_null(strstr(l, "ecdh-sha2-"));
        assert_null(strstr(l, "diffie-hellman"));
        assert_true(has(l, "curve25519-sha256"));
    }
    {
        sshbpp_kex_config cfg = {NULL, NULL, "+aes128-cbc", "-hmac-sha1*", NULL};
        assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_CIPHER_C2S, l, sizeof(l)), 0);
        snprintf(want, sizeof(want), "%s,aes128-cbc",
                 sshbpp_kex_default(SSHBPP_KEXINIT_CIPHER_C2S));
        assert_string_equal(l, want);
        assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_MAC_C2S, l, sizeof(l)), 0);
        assert_null(strstr(l, "hmac-sha1"));
        assert_true(has(l, "hmac-sha2-256"));
    }
    {
        sshbpp_kex_config cfg = {NULL, NULL, NULL, NULL, "^zlib@openssh.com"};
        assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_COMP_C2S, l, sizeof(l)), 0);
        assert_string_equal(l, "zlib@openssh.com,none");
    }
    /* Errors are reported by sshbpp_kex_start() as for any bad name. */
    {
        static const char *const bad[] = {"+nope", "-*", "^", "+", "^curve25519-*"};
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            sshbpp_kex_config cfg = {bad[i], NULL, NULL, NULL, NULL};
            assert_int_equal(kexinit_list(&cfg, SSHBPP_KEXINIT_KEX, l, sizeof(l)),
                             SSHBPP_EUNSUPPORTED);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_default_kexinit_has_no_legacy),
        cmocka_unit_test(test_config_syntax),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
