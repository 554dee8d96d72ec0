/*
 * test_authorized_keys.c: authorized_keys with options
 * (src/keys/authorized_keys.c): every option of sshd(8)'s list parsed and
 * kept on its entry; quoting; restrict and the re-enabling options in
 * order; from= (names, addresses, wildcards, negation, IPv4/IPv6 CIDR) and
 * expiry-time= enforced by sshbpp_authorized_keys_find(); a line with an
 * unknown or malformed option is not used; a 1 MiB line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sshbpp/sshbpp_keys.h"

#define ED_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICEdXgsl8Xt8BWVAin4aTHYbMxu/j4XQgRsr5zsAzn+j"
#define ED_B "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAd3pjjeYjSYMCqhJ4X1HpPK2DNaNPAXXhdo6bh3c4Zq"

/* 2030-01-01T00:00:00Z in ms */
#define T2030 1893456000000LL

static size_t
blob_of(const char *line, uint8_t *out, size_t cap)
{
    sshbpp_key *k = NULL;
    size_t n = 0;

    assert_int_equal(sshbpp_key_parse_public_line(line, strlen(line), &k, NULL), 0);
    assert_int_equal(sshbpp_key_public_blob(k, out, cap, &n), 0);
    sshbpp_key_free(k);
    return n;
}

static sshbpp_authorized_keys *
load(const char *text, unsigned long *skipped, sshbpp_key_diag *d)
{
    sshbpp_authorized_keys *ak = NULL;

    assert_int_equal(sshbpp_authorized_keys_load_mem(text, strlen(text), &ak, skipped, d), 0);
    return ak;
}

static void
test_every_option(void **state)
{
    static const char text[] =
        "agent-forwarding,cert-authority,command=\"echo \\\"hi\\\", there\","
        "environment=\"A=1\",environment=\"B=two words\",expiry-time=\"20300101Z\","
        "from=\"10.0.0.0/8,!10.9.9.9\",no-agent-forwarding,no-port-forwarding,no-pty,"
        "no-user-rc,no-X11-forwarding,permitopen=\"localhost:80\",permitopen=\"[::1]:22\","
        "permitlisten=\"8080\",principals=\"alice,bob\",port-forwarding,pty,no-touch-required,"
        "verify-required,restrict,tunnel=\"0\",user-rc,X11-forwarding " ED_A " comment\n";
    sshbpp_authorized_keys *ak;
    const sshbpp_ak_entry *e;
    unsigned long skipped = 99;

    (void)state;
    ak = load(text, &skipped, NULL);
    assert_int_equal(skipped, 0);
    assert_int_equal(sshbpp_authorized_keys_count(ak), 1);
    e = sshbpp_authorized_keys_get(ak, 0);
    assert_non_null(e);
    assert_int_equal(e->line, 1);
    assert_int_equal(e->flags,
                     SSHBPP_AK_AGENT_FWD | SSHBPP_AK_CERT_AUTHORITY | SSHBPP_AK_NO_AGENT_FWD |
                         SSHBPP_AK_NO_PORT_FWD | SSHBPP_AK_NO_PTY | SSHBPP_AK_NO_USER_RC |
                         SSHBPP_AK_NO_X11_FWD | SSHBPP_AK_PORT_FWD | SSHBPP_AK_PTY |
                         SSHBPP_AK_NO_TOUCH_REQUIRED | SSHBPP_AK_VERIFY_REQUIRED |
                         SSHBPP_AK_RESTRICT | SSHBPP_AK_USER_RC | SSHBPP_AK_X11_FWD);
    assert_string_equal(e->command, "echo \"hi\", there");
    assert_int_equal(e->n_environment, 2);
    assert_string_equal(e->environment[0], "A=1");
    assert_string_equal(e->environment[1], "B=two words");
    assert_int_equal(e->expiry_ms, T2030);
    assert_string_equal(e->from, "10.0.0.0/8,!10.9.9.9");
    assert_int_equal(e->n_permitopen, 2);
    assert_string_equal(e->permitopen[1], "[::1]:22");
    assert_int_equal(e->n_permitlisten, 1);
    assert_string_equal(e->permitlisten[0], "8080");
    assert_string_equal(e->principals, "alice,bob");
    assert_string_equal(e->tunnel, "0");
    assert_string_equal(sshbpp_key_comment(e->key), "comment");
    /* in order: restrict cleared everything, then user-rc and X11 came back */
    assert_false(sshbpp_ak_entry_permits(e, SSHBPP_AK_PERMIT_PTY));
    assert_false(sshbpp_ak_entry_permits(e, SSHBPP_AK_PERMIT_PORT_FWD));
    assert_false(sshbpp_ak_entry_permits(e, SSHBPP_AK_PERMIT_AGENT_FWD));
    assert_true(sshbpp_ak_entry_permits(e, SSHBPP_AK_PERMIT_USER_RC));
    assert_true(sshbpp_ak_entry_permits(e, SSHBPP_AK_PERMIT_X11_FWD));
    sshbpp_authorized_keys_free(ak);

    ak = load("restrict,pty " ED_A "\nno-pty " ED_B "\n" ED_A "\n", NULL, NULL);
    assert_true(sshbpp_ak_entry_permits(sshbpp_authorized_keys_get(ak, 0), SSHBPP_AK_PERMIT_PTY));
    assert_false(
        sshbpp_ak_entry_permits(sshbpp_authorized_keys_get(ak, 0), SSHBPP_AK_PERMIT_PORT_FWD));
    assert_false(sshbpp_ak_entry_permits(sshbpp_authorized_keys_get(ak, 1), SSHBPP_AK_PERMIT_PTY));
    assert_true(
        sshbpp_ak_entry_permits(sshbpp_authorized_keys_get(ak, 1), SSHBPP_AK_PERMIT_AGENT_FWD));
    assert_true(sshbpp_ak_entry_permits(sshbpp_authorized_keys_get(ak, 2), SSHBPP_AK_PERMIT_PTY));
    assert_int_equal(sshbpp_authorized_keys_get(ak, 2)->flags, 0);
    assert_null(sshbpp_authorized_keys_get(ak, 3));
    sshbpp_authorized_keys_free(ak);
}

static void
test_unusable_lines(void **state)
{
    static const char *const bad[] = {
        "no-such-option " ED_A "\n",           /* unknown: the line is not used */
        "no-pty,frobnicate " ED_A "\n",        /* one unknown among known ones */
        "command=unquoted " ED_A "\n",         /* value without quotes */
        "command=\"unterminated " ED_A "\n",   /* unterminated quote */
        "no-pty=\"x\" " ED_A "\n",             /* value on a boolean */
        "command " ED_A "\n",                  /* valued option without value */
        "command=\"a\",command=\"b\" " ED_A "\n", /* twice */
        "environment=\"NOEQUALS\" " ED_A "\n", /* not NAME=value */
        "expiry-time=\"2030\" " ED_A "\n",     /* bad date */
        "expiry-time=\"20301301\" " ED_A "\n", /* month 13 */
        "no-pty,," ED_A "\n",                  /* empty option */
        "no-pty ssh-ed25519 AAAA\n",           /* truncated key */
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISEdXgsl8Xt8BWVAin4aTHYbMxu/j4XQgRsr5zsAzn+j\n",
    };
    sshbpp_authorized_keys *ak;
    sshbpp_key_diag d;
    unsigned long skipped;
    uint8_t blob[128];
    size_t i, n = blob_of(ED_A, blob, sizeof(blob));
    const sshbpp_ak_entry *e;
    char text[512];

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "# first\n%s", bad[i]);
        ak = load(text, &skipped, &d);
        if (skipped != 1 || sshbpp_authorized_keys_count(ak) != 0)
            fail_msg("line used: %s", bad[i]);
        assert_int_equal(d.line, 2);
        assert_int_equal(sshbpp_authorized_keys_find(ak, blob, n, "10.0.0.1", 0, &e),
                         SSHBPP_EKEYNOTAUTHORIZED);
        sshbpp_authorized_keys_free(ak);
    }
    ak = load("frobnicate " ED_A "\n", &skipped, &d);
    assert_non_null(strstr(d.msg, "unknown option \"frobnicate\""));
    sshbpp_authorized_keys_free(ak);
}

static void
test_from_and_expiry(void **state)
{
    sshbpp_authorized_keys *ak;
    const sshbpp_ak_entry *e;
    uint8_t a[128], b[128];
    size_t na = blob_of(ED_A, a, sizeof(a)), nb = blob_of(ED_B, b, sizeof(b));

    (void)state;
    ak = load("from=\"192.168.0.0/16,!192.168.7.7,10.1.2.?,2001:db8::/32\" " ED_A "\n"
              "expiry-time=\"20300101Z\" " ED_B "\n",
              NULL, NULL);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "192.168.3.4", 0, &e), 0);
    assert_int_equal(e->line, 1);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "192.168.7.7", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_null(e);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "192.169.0.1", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.1.2.9", 0, &e), 0);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.1.2.19", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "2001:db8:1::5", 0, &e), 0);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "2001:db9::5", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    /* the check also takes a host name */
    assert_int_equal(sshbpp_ak_entry_check(sshbpp_authorized_keys_get(ak, 0), "8.8.8.8",
                                           "host.example", 0),
                     SSHBPP_EKEYNOTAUTHORIZED);
    /* expiry: before and at the moment pass, after refuses */
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "1.2.3.4", T2030 - 1000, &e), 0);
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "1.2.3.4", T2030, &e), 0);
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "1.2.3.4", T2030 + 1, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    sshbpp_authorized_keys_free(ak);

    /* a later line for the same key still authorises when the first refuses */
    ak = load("from=\"10.0.0.1\" " ED_A "\nfrom=\"*.example,10.0.0.2\" " ED_A "\n", NULL, NULL);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.2", 0, &e), 0);
    assert_int_equal(e->line, 2);
    sshbpp_authorized_keys_free(ak);

    /* a malformed CIDR matches nothing */
    ak = load("from=\"10.0.0.1/8\" " ED_A "\nfrom=\"10.0.0.0/33\" " ED_B "\n", NULL, NULL);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "10.0.0.1", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    sshbpp_authorized_keys_free(ak);

    /* cert-authority lines never authorise the key itself */
    ak = load("cert-authority " ED_A "\n", NULL, NULL);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    sshbpp_authorized_keys_free(ak);
}

static void
test_long_line(void **state)
{
    sshbpp_authorized_keys *ak = NULL;
    sshbpp_key_diag d;
    size_t n = 1u << 20;
    char *big = malloc(n + 1);

    (void)state;
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    assert_int_equal(sshbpp_authorized_keys_load_mem(big, n, &ak, NULL, &d), SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 1);
    assert_null(ak);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_unusable_lines),
        cmocka_unit_test(test_from_and_expiry),
        cmocka_unit_test(test_long_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
