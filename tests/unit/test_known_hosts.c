/*
 * test_known_hosts.c: known_hosts parsing and lookup (src/keys/known_hosts.c,
 * pattern.c): plain names, "[host]:port", comma lists, negation, wildcards,
 * hashed names (ours and ones hashed by OpenSSH's `ssh-keygen -H`), several
 * keys per host, @revoked, @cert-authority, mismatch with file and line, the
 * StrictHostKeyChecking policies with accept-new appending, and a 1 MiB line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys/keys_int.h"
#include "sshbpp/sshbpp_keys.h"

/* Two ed25519 keys and an ECDSA one (fixed public lines). */
#define ED_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICEdXgsl8Xt8BWVAin4aTHYbMxu/j4XQgRsr5zsAzn+j"
#define ED_B "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAd3pjjeYjSYMCqhJ4X1HpPK2DNaNPAXXhdo6bh3c4Zq"
#define EC_A                                                                                     \
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLJ/WASscqN5PjReVF" \
    "U7QU44wcJUaLF8J2Pcc6YQbtML9R5xofvHSG1ZY5r2Y8eTYOnhcO1g46sK4bcs2DVUdO8="

static char tmpdir[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sshbpp-test-kh-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The blob of a public line. */
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

static sshbpp_known_hosts_result
check(const char *text, const char *host, unsigned port, const char *key)
{
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    uint8_t blob[256];
    size_t n = blob_of(key, blob, sizeof(blob));

    assert_int_equal(sshbpp_known_hosts_load_mem(text, strlen(text), "kh", &kh, NULL, NULL), 0);
    assert_int_equal(sshbpp_known_hosts_check(kh, host, port, blob, n, &res), 0);
    assert_string_equal(res.file, "kh");
    sshbpp_known_hosts_free(kh);
    return res;
}

#define STATUS(text, host, port, key) (check((text), (host), (port), (key)).status)

static void
test_patterns(void **state)
{
    (void)state;
    assert_int_equal(STATUS("example.org " ED_A "\n", "example.org", 22, ED_A),
                     SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("example.org " ED_A "\n", "EXAMPLE.org", 22, ED_A),
                     SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("example.org " ED_A "\n", "example.com", 22, ED_A),
                     SSHBPP_HOSTKEY_UNKNOWN);
    /* [host]:port: only with that port; port 22 is the plain name */
    assert_int_equal(STATUS("[h]:2222 " ED_A "\n", "h", 2222, ED_A), SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("[h]:2222 " ED_A "\n", "h", 22, ED_A), SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(STATUS("h " ED_A "\n", "h", 2222, ED_A), SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(STATUS("[h]:22 " ED_A "\n", "h", 22, ED_A), SSHBPP_HOSTKEY_UNKNOWN);
    /* comma lists, wildcards, negation */
    assert_int_equal(STATUS("a,b,c " ED_A "\n", "b", 22, ED_A), SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("*.example.org " ED_A "\n", "www.example.org", 22, ED_A),
                     SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("*.example.org " ED_A "\n", "example.org", 22, ED_A),
                     SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(STATUS("host?? " ED_A "\n", "host12", 22, ED_A), SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("host?? " ED_A "\n", "host1", 22, ED_A), SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(STATUS("*.org,!bad.org " ED_A "\n", "bad.org", 22, ED_A),
                     SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(STATUS("*.org,!bad.org " ED_A "\n", "good.org", 22, ED_A),
                     SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS("[*]:2222 " ED_A "\n", "10.0.0.1", 2222, ED_A), SSHBPP_HOSTKEY_MATCH);
    /* the glob has no exponential case */
    assert_true(sshbpp__glob("*a*a*a*a*a*a*a*a*a*a*b", 22, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                             40) == 0);
}

static void
test_several_keys_and_markers(void **state)
{
    sshbpp_known_hosts_result r;
    static const char text[] = "# comment\n"
                               "\n"
                               "h " EC_A "\n"
                               "other " ED_B "\n"
                               "h " ED_A " a comment\n"
                               "@cert-authority *.h " ED_B "\n"
                               "@cert-authority h " ED_B "\n"
                               "h,x " ED_B "\n";

    (void)state;
    /* several keys per host: any of them */
    r = check(text, "h", 22, ED_A);
    assert_int_equal(r.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(r.line, 5);
    assert_int_equal(r.ca_skipped, 1);
    r = check(text, "h", 22, EC_A);
    assert_int_equal(r.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(r.line, 3);
    /* another key of a known type: mismatch, first conflicting line */
    r = check("h " EC_A "\nh " ED_B "\n", "h", 22, ED_A);
    assert_int_equal(r.status, SSHBPP_HOSTKEY_MISMATCH);
    assert_int_equal(r.line, 2);
    /* only other types known: unknown, counted */
    r = check("h " EC_A "\n", "h", 22, ED_A);
    assert_int_equal(r.status, SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(r.other_types, 1);
    /* @revoked beats a match */
    r = check("h " ED_A "\n@revoked * " ED_A "\n", "h", 22, ED_A);
    assert_int_equal(r.status, SSHBPP_HOSTKEY_REVOKED);
    assert_int_equal(r.line, 2);
    r = check("@revoked other " ED_A "\nh " ED_A "\n", "h", 22, ED_A);
    assert_int_equal(r.status, SSHBPP_HOSTKEY_MATCH);
}

static void
test_bad_lines(void **state)
{
    sshbpp_known_hosts *kh = NULL;
    sshbpp_key_diag d;
    unsigned long bad = 0;
    static const char text[] = "h ssh-ed25519 AAAA\n"    /* truncated key */
                               "@weird h " ED_A "\n"     /* unknown marker */
                               "|1|abc|def " ED_A "\n"   /* bad hash */
                               "|2|x|y " ED_A "\n"       /* unknown hash kind */
                               "h ssh-dss AAAAB3NzaC1kc3M=\n" /* unsupported type */
                               "onlyhost\n"
                               "h " ED_A "\n";
    char *big;
    size_t n;

    (void)state;
    assert_int_equal(sshbpp_known_hosts_load_mem(text, strlen(text), NULL, &kh, &bad, &d), 0);
    assert_int_equal(bad, 6);
    assert_int_equal(d.line, 1);
    assert_int_equal(sshbpp_known_hosts_count(kh), 1);
    sshbpp_known_hosts_free(kh);
    /* a 1 MiB line: the load fails, naming the line */
    n = (1u << 20) + 100;
    big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    memcpy(big, "h " ED_A "\n", strlen("h " ED_A "\n"));
    big[n - 1] = '\n';
    big[n] = '\0';
    assert_int_equal(sshbpp_known_hosts_load_mem(big, n, NULL, &kh, &bad, &d),
                     SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 2);
    assert_non_null(strstr(d.msg, "line 2"));
    assert_null(kh);
    free(big);
}

static void
test_hashed(void **state)
{
    char line[512], path[128], cmd[512], text[1024];
    uint8_t blob[256];
    size_t n = blob_of(ED_A, blob, sizeof(blob));
    FILE *f;
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    int len;

    (void)state;
    /* ours */
    len = sshbpp_known_hosts_format_line("Host.Example", 2222, blob, n, 1, line, sizeof(line));
    assert_true(len > 0);
    assert_int_equal(strncmp(line, "|1|", 3), 0);
    assert_int_equal(STATUS(line, "host.example", 2222, ED_A), SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(STATUS(line, "host.example", 22, ED_A), SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(STATUS(line, "host.exampl", 2222, ED_A), SSHBPP_HOSTKEY_UNKNOWN);
    len = sshbpp_known_hosts_format_line("h", 2222, blob, n, 0, line, sizeof(line));
    assert_string_equal(line, "[h]:2222 " ED_A "\n");
    assert_int_equal(sshbpp_known_hosts_format_line("h", 22, blob, n, 0, line, 10),
                     SSHBPP_EBUFSMALL);
    /* OpenSSH's hashing: ssh-keygen -H rewrites a plain file */
    snprintf(path, sizeof(path), "%s/kh_plain", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "example.org " ED_A "\n[10.1.2.3]:2200 " ED_B "\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "ssh-keygen -q -H -f %s >/dev/null 2>&1", path);
    if (system(cmd) != 0)
        fail_msg("ssh-keygen -H failed (is openssh-client installed?)");
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_int_equal(strncmp(text, "|1|", 3), 0);
    assert_null(strstr(text, "example.org"));
    assert_int_equal(sshbpp_known_hosts_load_file(path, &kh, NULL, NULL), 0);
    n = blob_of(ED_A, blob, sizeof(blob));
    assert_int_equal(sshbpp_known_hosts_check(kh, "example.org", 22, blob, n, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    n = blob_of(ED_B, blob, sizeof(blob));
    assert_int_equal(sshbpp_known_hosts_check(kh, "10.1.2.3", 2200, blob, n, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(sshbpp_known_hosts_check(kh, "example.org", 22, blob, n, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MISMATCH);
    sshbpp_known_hosts_free(kh);
}

static void
test_verify_policies(void **state)
{
    char path[128];
    uint8_t a[256], b[256];
    size_t na = blob_of(ED_A, a, sizeof(a)), nb = blob_of(ED_B, b, sizeof(b));
    sshbpp_known_hosts_result res;
    FILE *f;
    int i;

    (void)state;
    snprintf(path, sizeof(path), "%s/kh_verify", tmpdir);
    unlink(path);
    /* yes: unknown refused, nothing written */
    assert_int_equal(sshbpp_known_hosts_verify(path, "h", 22, a, na, SSHBPP_SHK_YES, 0, &res, NULL),
                     SSHBPP_EHOSTKEYUNKNOWN);
    assert_int_equal(access(path, F_OK), -1);
    /* accept-new: appended, then it matches */
    for (i = 0; i < 2; i++) {
        assert_int_equal(sshbpp_known_hosts_verify(path, "h", 2222, a, na, SSHBPP_SHK_ACCEPT_NEW,
                                                   i, &res, NULL),
                         0);
        assert_int_equal(res.status, i == 0 ? SSHBPP_HOSTKEY_UNKNOWN : SSHBPP_HOSTKEY_MATCH);
        assert_int_equal(res.added, i == 0);
    }
    assert_int_equal(sshbpp_known_hosts_verify(path, "h", 2222, a, na, SSHBPP_SHK_YES, 0, &res,
                                               NULL),
                     0);
    /* a changed key: refused under yes and accept-new, reported under no */
    assert_int_equal(sshbpp_known_hosts_verify(path, "h", 2222, b, nb, SSHBPP_SHK_ACCEPT_NEW, 0,
                                               &res, NULL),
                     SSHBPP_EHOSTKEYCHANGED);
    assert_int_equal(res.line, 1);
    assert_string_equal(res.file, path);
    assert_int_equal(sshbpp_known_hosts_verify(path, "h", 2222, b, nb, SSHBPP_SHK_NO, 0, &res,
                                               NULL),
                     0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MISMATCH);
    assert_int_equal(res.added, 0);
    /* hashed append to a file without a final newline */
    f = fopen(path, "a");
    fputs("# no newline", f);
    fclose(f);
    assert_int_equal(sshbpp_known_hosts_verify(path, "other", 22, b, nb, SSHBPP_SHK_ACCEPT_NEW, 1,
                                               &res, NULL),
                     0);
    assert_int_equal(sshbpp_known_hosts_verify(path, "other", 22, b, nb, SSHBPP_SHK_YES, 0, &res,
                                               NULL),
                     0);
    assert_int_equal(res.line, 3);
    /* revoked: refused under every policy */
    f = fopen(path, "a");
    fputs("@revoked * " ED_B "\n", f);
    fclose(f);
    assert_int_equal(sshbpp_known_hosts_verify(path, "other", 22, b, nb, SSHBPP_SHK_NO, 0, &res,
                                               NULL),
                     SSHBPP_EKEYREVOKED);
    assert_int_equal(res.line, 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns), cmocka_unit_test(test_several_keys_and_markers),
        cmocka_unit_test(test_bad_lines), cmocka_unit_test(test_hashed),
        cmocka_unit_test(test_verify_policies),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
