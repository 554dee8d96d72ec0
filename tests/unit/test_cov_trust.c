/*
 * test_cov_trust.c: known_hosts and authorized_keys at their edges
 * (src/keys/known_hosts.c, authorized_keys.c): every public call with NULL
 * or out-of-range arguments; each way a hashed "|1|salt|hash" field or a
 * marker can be malformed (the line is skipped and counted, the rest of
 * the file still works); CRLF and a missing final newline; lookups that
 * see @cert-authority, @revoked for another key, duplicates and other key
 * types; format_line's buffer bounds byte for byte; verify()'s error paths
 * (unreadable file, long line, bad blob, unwritable directory) and its
 * appending after a last line without a newline; authorized_keys option
 * limits, expiry forms, and find() skipping cert-authority and expired
 * entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "keys/keys_int.h"
#include "sshbpp/sshbpp_keys.h"

/* Two ed25519 keys and an ECDSA one (fixed public lines, as in
 * test_known_hosts.c). */
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
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sshbpp-cov-trust-XXXXXX");
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

static void
write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *
read_all(const char *path)
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(sshbpp__read_file(path, 1 << 20, &data, &len, NULL), 0);
    return data;
}

/* ---- known_hosts ------------------------------------------------------------ */

static void
test_kh_api_contract(void **state)
{
    static char host[1200];
    uint8_t blob[128];
    size_t n = blob_of(ED_A, blob, sizeof(blob));
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    unsigned long bad = 9;
    char path[128], line[512];

    (void)state;
    assert_int_equal(sshbpp_known_hosts_load_mem("x", 1, NULL, NULL, &bad, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_load_mem(NULL, 1, NULL, &kh, &bad, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_load_file(NULL, &kh, &bad, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_load_file("/x", NULL, &bad, NULL), SSHBPP_EINVAL);
    sshbpp_known_hosts_free(NULL);
    assert_int_equal(sshbpp_known_hosts_count(NULL), 0);
    /* A directory cannot be read: EIO, not the empty set of a missing
     * file. */
    assert_int_equal(sshbpp_known_hosts_load_file(tmpdir, &kh, &bad, NULL), SSHBPP_EIO);
    /* Missing: empty, labelled with the path; NULL data with 0 is fine. */
    snprintf(path, sizeof(path), "%s/none", tmpdir);
    assert_int_equal(sshbpp_known_hosts_load_file(path, &kh, &bad, NULL), 0);
    assert_int_equal(sshbpp_known_hosts_count(kh), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h", 22, blob, n, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_UNKNOWN);
    assert_string_equal(res.file, path);
    sshbpp_known_hosts_free(kh);
    assert_int_equal(sshbpp_known_hosts_load_mem(NULL, 0, NULL, &kh, NULL, NULL), 0);
    assert_int_equal(sshbpp_known_hosts_count(kh), 0);

    /* check: each argument, a port above 65535, a blob that is not one, a
     * host name too long for the lookup buffer. */
    assert_int_equal(sshbpp_known_hosts_check(NULL, "h", 22, blob, n, &res), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_check(kh, NULL, 22, blob, n, &res), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h", 22, NULL, n, &res), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h", 22, blob, n, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h", 65536, blob, n, &res), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h", 22, blob, 3, &res), SSHBPP_EKEYFILE);
    memset(host, 'a', sizeof(host) - 1);
    assert_int_equal(sshbpp_known_hosts_check(kh, host, 22, blob, n, &res), SSHBPP_EINVAL);
    host[1095] = '\0'; /* "[" host "]:2222" is then 1102 bytes */
    assert_int_equal(sshbpp_known_hosts_check(kh, host, 2222, blob, n, &res), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_check(kh, host, 22, blob, n, &res), 0);
    sshbpp_known_hosts_free(kh);

    /* format_line: arguments, a blob that is not a key, a host too long. */
    assert_int_equal(sshbpp_known_hosts_format_line(NULL, 22, blob, n, 0, line, sizeof(line)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_format_line("h", 22, NULL, n, 0, line, sizeof(line)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_format_line("h", 22, blob, n, 0, NULL, sizeof(line)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_format_line("h", 65536, blob, n, 0, line, sizeof(line)),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_format_line("h", 22, blob, 5, 0, line, sizeof(line)),
                     SSHBPP_EKEYFILE);
    memset(host, 'a', sizeof(host) - 1);
    assert_int_equal(sshbpp_known_hosts_format_line(host, 22, blob, n, 1, line, sizeof(line)),
                     SSHBPP_EINVAL);
}

static void
test_kh_format_bounds(void **state)
{
    uint8_t blob[128];
    size_t n = blob_of(ED_A, blob, sizeof(blob));
    char line[512], small[600];
    int full, c;

    (void)state;
    /* Port 0 is taken as the default port, as 22. */
    full = sshbpp_known_hosts_format_line("Host.Example", 0, blob, n, 0, line, sizeof(line));
    assert_int_equal(full, (int)strlen("host.example " ED_A "\n"));
    assert_string_equal(line, "host.example " ED_A "\n");
    /* Every capacity below the line plus its NUL is EBUFSMALL: in the host
     * part, in the key, and for the newline alone. */
    for (c = 0; c <= full; c++)
        if (sshbpp_known_hosts_format_line("host.example", 22, blob, n, 0, small, (size_t)c) !=
            SSHBPP_EBUFSMALL)
            fail_msg("capacity %d accepted for a %d-byte line", c, full);
    assert_int_equal(
        sshbpp_known_hosts_format_line("host.example", 22, blob, n, 0, small, (size_t)full + 1),
        full);
    assert_string_equal(small, line);
    /* Hashed: the same bounds. */
    full = sshbpp_known_hosts_format_line("h", 2222, blob, n, 1, line, sizeof(line));
    assert_true(full > 0);
    assert_int_equal(strncmp(line, "|1|", 3), 0);
    assert_int_equal(sshbpp_known_hosts_format_line("h", 2222, blob, n, 1, small, 10),
                     SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp_known_hosts_format_line("h", 2222, blob, n, 1, small, (size_t)full),
                     SSHBPP_EBUFSMALL);
}

static void
test_kh_bad_lines(void **state)
{
    static const char *const bad[] = {
        "| " ED_A,                                              /* shorter than "|1|" */
        "|2|c2FsdA==|c2FsdA== " ED_A,                           /* another hash scheme */
        "|1|c2FsdA== " ED_A,                                    /* no second '|' */
        "|1||AAAAAAAAAAAAAAAAAAAAAAAAAAA= " ED_A,               /* empty salt */
        "|1|c2Fs!A==|AAAAAAAAAAAAAAAAAAAAAAAAAAA= " ED_A,       /* salt not base64 */
        "|1|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AA|AAAAAAAAAAAAAAAAAAAAAAAAAAA= " ED_A,                /* salt above 64 bytes */
        "|1|c2FsdA==|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA " ED_A,   /* hash field too long */
        "|1|c2FsdA==|c2FsdA== " ED_A,                           /* hash not 20 bytes */
        "|1|c2FsdA==|AAAAAAAAAAAAAAAAAAAAAAAAAA!= " ED_A,       /* hash not base64 */
        "@trusted host " ED_A,                                  /* unknown marker */
        "@revoked_ host " ED_A,                                 /* 8 bytes, not @revoked */
        "@cert-authorit_ host " ED_A,                           /* 15, not @cert-authority */
        "@revoked",                                             /* marker, nothing else */
        "@cert-authority   ",                                   /* marker and blanks */
        "host ssh-ed25519 AAAA!!!!",                            /* bad key */
        "host",                                                 /* no key */
        "host ssh-dss AAAAB3NzaC1kc3M=",                        /* a type we do not take */
    };
    char text[4096];
    size_t i, o = 0;
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    sshbpp_key_diag d;
    unsigned long badn = 0;
    uint8_t blob[128];
    size_t n = blob_of(ED_A, blob, sizeof(blob));

    (void)state;
    /* Good lines around them: an indented comment, a blank line of
     * blanks, a CRLF line, and a last line without a newline. */
    o += (size_t)snprintf(text + o, sizeof(text) - o, "   # indented\n \t \ncrlf " ED_A "\r\n");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\n", bad[i]);
    o += (size_t)snprintf(text + o, sizeof(text) - o, "last " ED_A);
    assert_int_equal(sshbpp_known_hosts_load_mem(text, o, "kh", &kh, &badn, &d), 0);
    assert_int_equal(badn, sizeof(bad) / sizeof(bad[0]));
    assert_int_equal(d.line, 4);
    assert_string_equal(d.msg, "line 4 skipped: not a known_hosts entry");
    assert_int_equal(sshbpp_known_hosts_count(kh), 2);
    assert_int_equal(sshbpp_known_hosts_check(kh, "crlf", 22, blob, n, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 3);
    assert_string_equal(res.file, "kh");
    assert_int_equal(sshbpp_known_hosts_check(kh, "LAST", 22, blob, n, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 4 + sizeof(bad) / sizeof(bad[0]));
    sshbpp_known_hosts_free(kh);
    /* The same without bad_lines or diag. */
    assert_int_equal(sshbpp_known_hosts_load_mem(text, o, NULL, &kh, NULL, NULL), 0);
    assert_int_equal(sshbpp_known_hosts_count(kh), 2);
    sshbpp_known_hosts_free(kh);
}

static void
test_kh_lookup_outcomes(void **state)
{
    uint8_t a[128], b[128], ec[256], c[128];
    size_t na = blob_of(ED_A, a, sizeof(a)), nb = blob_of(ED_B, b, sizeof(b)),
           nec = blob_of(EC_A, ec, sizeof(ec)), nc;
    char text[4096], hashed[512];
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    sshbpp_key *k = NULL;

    (void)state;
    /* A third ed25519 key, built as a blob. */
    memcpy(c, a, na);
    c[na - 1] ^= 0x01;
    nc = na;
    assert_int_equal(sshbpp_key_from_blob(c, nc, &k), 0);
    sshbpp_key_free(k);

    assert_true(sshbpp_known_hosts_format_line("H4", 2222, a, na, 1, hashed, sizeof(hashed)) > 0);
    snprintf(text, sizeof(text),
             "@cert-authority *.example.com " ED_A "\n" /* 1 */
             "@revoked h1 " ED_B "\n"                   /* 2 */
             "h1 " EC_A "\n"                            /* 3 */
             "h1 " ED_A "\n"                            /* 4 */
             "h1,h9 " ED_A "\n"                         /* 5: a duplicate */
             "%s"                                       /* 6: hashed [h4]:2222 */
             "*.example.com,!bad.example.com " ED_B "\n", /* 7 */
             hashed);
    assert_int_equal(sshbpp_known_hosts_load_mem(text, strlen(text), NULL, &kh, NULL, NULL), 0);
    assert_int_equal(sshbpp_known_hosts_count(kh), 7);

    /* The first of two matching lines; the revocation of another key does
     * not apply; the ECDSA entry is another type. */
    assert_int_equal(sshbpp_known_hosts_check(kh, "h1", 22, a, na, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 4);
    assert_int_equal(res.other_types, 1);
    assert_int_equal(res.ca_skipped, 0);
    /* Revoked, whatever else matches. */
    assert_int_equal(sshbpp_known_hosts_check(kh, "h1", 22, b, nb, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_REVOKED);
    assert_int_equal(res.line, 2);
    /* Another key of a listed type: a mismatch at the first such line. */
    assert_int_equal(sshbpp_known_hosts_check(kh, "h1", 22, c, nc, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MISMATCH);
    assert_int_equal(res.line, 4);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h1", 22, ec, nec, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 3);
    assert_int_equal(res.other_types, 2);
    /* The CA line is counted and skipped; a negated name does not match. */
    assert_int_equal(sshbpp_known_hosts_check(kh, "www.example.com", 22, b, nb, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 7);
    assert_int_equal(res.ca_skipped, 1);
    assert_int_equal(sshbpp_known_hosts_check(kh, "bad.example.com", 22, b, nb, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(res.line, 0);
    assert_int_equal(res.ca_skipped, 1);
    /* The hashed entry: its port, any case. */
    assert_int_equal(sshbpp_known_hosts_check(kh, "h4", 2222, a, na, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 6);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h4", 22, a, na, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h4", 2223, c, nc, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(sshbpp_known_hosts_check(kh, "h4", 2222, c, nc, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MISMATCH);
    assert_int_equal(res.line, 6);
    sshbpp_known_hosts_free(kh);
}

/* Many entries (the table grows), and keys whose type names have the
 * same length (nistp256 and nistp384): another type, not a mismatch. */
static void
test_kh_many_and_same_length_types(void **state)
{
    static char text[16384];
    uint8_t ec[256], b384[256];
    size_t nec = blob_of(EC_A, ec, sizeof(ec)), n384 = 0, o = 0;
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    sshbpp_key *k = NULL;
    EVP_PKEY *pk;
    char line[512];
    int i;

    (void)state;
    pk = EVP_EC_gen("P-384");
    assert_non_null(pk);
    assert_int_equal(sshbpp__key_from_pkey(pk, 1, SSHBPP_KEYFMT_PEM, &k), 0);
    assert_int_equal(sshbpp_key_public_blob(k, b384, sizeof(b384), &n384), 0);
    assert_true(sshbpp_key_public_line(k, line, sizeof(line)) > 0);
    sshbpp_key_free(k);
    for (i = 0; i < 40; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "host%d " EC_A "\n", i);
    o += (size_t)snprintf(text + o, sizeof(text) - o, "host7 %s\n", line);
    assert_int_equal(sshbpp_known_hosts_load_mem(text, o, NULL, &kh, NULL, NULL), 0);
    assert_int_equal(sshbpp_known_hosts_count(kh), 41);
    assert_int_equal(sshbpp_known_hosts_check(kh, "host39", 22, ec, nec, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 40);
    assert_int_equal(sshbpp_known_hosts_check(kh, "host3", 22, b384, n384, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_UNKNOWN);
    assert_int_equal(res.other_types, 1);
    assert_int_equal(sshbpp_known_hosts_check(kh, "host7", 22, b384, n384, &res), 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MATCH);
    assert_int_equal(res.line, 41);
    assert_int_equal(res.other_types, 1);
    sshbpp_known_hosts_free(kh);
}

static void
test_kh_verify_edges(void **state)
{
    static char longtext[SSHBPP_KEYS_MAX_LINE + 100];
    uint8_t a[128], b[128], bogus[64];
    size_t na = blob_of(ED_A, a, sizeof(a)), nb = blob_of(ED_B, b, sizeof(b)), nbogus;
    sshbpp_known_hosts_result res;
    sshbpp_key_diag d;
    char path[128], *got;
    sshbpp__wbuf w;

    (void)state;
    snprintf(path, sizeof(path), "%s/kh", tmpdir);
    assert_int_equal(sshbpp_known_hosts_verify(NULL, "h", 22, a, na, SSHBPP_SHK_NO, 0, &res, &d),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_verify(path, NULL, 22, a, na, SSHBPP_SHK_NO, 0, &res, &d),
                     SSHBPP_EINVAL);
    assert_int_equal(sshbpp_known_hosts_verify(path, "h", 22, NULL, na, SSHBPP_SHK_NO, 0, &res, &d),
                     SSHBPP_EINVAL);

    /* The last line has no newline: the appended line starts a new one.
     * res may be NULL. */
    write_file(path, "h1 " ED_A, strlen("h1 " ED_A));
    assert_int_equal(
        sshbpp_known_hosts_verify(path, "h1", 22, a, na, SSHBPP_SHK_YES, 0, NULL, NULL), 0);
    assert_int_equal(
        sshbpp_known_hosts_verify(path, "h2", 2200, b, nb, SSHBPP_SHK_NO, 0, NULL, NULL), 0);
    got = read_all(path);
    assert_string_equal(got, "h1 " ED_A "\n[h2]:2200 " ED_B "\n");
    free(got);
    /* Mismatch under each policy, and revoked under "no". */
    assert_int_equal(
        sshbpp_known_hosts_verify(path, "h1", 22, b, nb, SSHBPP_SHK_ACCEPT_NEW, 0, &res, &d),
        SSHBPP_EHOSTKEYCHANGED);
    assert_int_equal(res.line, 1);
    assert_string_equal(res.file, path);
    assert_int_equal(sshbpp_known_hosts_verify(path, "h1", 22, b, nb, SSHBPP_SHK_NO, 0, &res, &d),
                     0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_MISMATCH);
    assert_int_equal(res.added, 0);
    write_file(path, "@revoked h3 " ED_A "\n", strlen("@revoked h3 " ED_A "\n"));
    assert_int_equal(sshbpp_known_hosts_verify(path, "h3", 22, a, na, SSHBPP_SHK_NO, 0, &res, &d),
                     SSHBPP_EKEYREVOKED);
    assert_int_equal(res.line, 1);

    /* A blob that is not a key: check refuses it before anything is
     * written. A blob whose type reads but whose key does not: the check
     * finds nothing, and formatting the new line refuses it. */
    assert_int_equal(
        sshbpp_known_hosts_verify(path, "h5", 22, a, 3, SSHBPP_SHK_ACCEPT_NEW, 0, &res, &d),
        SSHBPP_EKEYFILE);
    sshbpp__wb_init(&w);
    sshbpp__wb_cstring(&w, "ssh-ed25519");
    sshbpp__wb_string(&w, "short", 5);
    nbogus = w.len;
    memcpy(bogus, w.p, w.len);
    sshbpp__wb_free(&w);
    assert_int_equal(sshbpp_known_hosts_verify(path, "h5", 22, bogus, nbogus,
                                               SSHBPP_SHK_ACCEPT_NEW, 0, &res, &d),
                     SSHBPP_EKEYFILE);
    got = read_all(path);
    assert_string_equal(got, "@revoked h3 " ED_A "\n");
    free(got);

    /* A file that does not load: a line over the limit (diag says which),
     * and a directory. */
    memset(longtext, 'x', sizeof(longtext));
    memcpy(longtext, "ok " ED_A "\n", strlen("ok " ED_A "\n"));
    write_file(path, longtext, sizeof(longtext));
    memset(&d, 0, sizeof(d));
    assert_int_equal(sshbpp_known_hosts_verify(path, "ok", 22, a, na, SSHBPP_SHK_NO, 0, &res, &d),
                     SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 2);
    assert_int_equal(sshbpp_known_hosts_verify(tmpdir, "ok", 22, a, na, SSHBPP_SHK_NO, 0, &res, &d),
                     SSHBPP_EIO);

    /* A file that cannot be created (its directory is missing): nothing
     * to load, and the append fails. */
    snprintf(path, sizeof(path), "%s/no/such/dir/kh", tmpdir);
    assert_int_equal(
        sshbpp_known_hosts_verify(path, "h6", 22, a, na, SSHBPP_SHK_ACCEPT_NEW, 1, &res, &d),
        SSHBPP_EIO);
    assert_int_equal(res.added, 0);
    assert_int_equal(res.status, SSHBPP_HOSTKEY_UNKNOWN);
}

/* ---- authorized_keys ------------------------------------------------------------ */

static sshbpp_authorized_keys *
ak_load(const char *text, unsigned long *skipped, sshbpp_key_diag *d)
{
    sshbpp_authorized_keys *ak = NULL;

    assert_int_equal(sshbpp_authorized_keys_load_mem(text, strlen(text), &ak, skipped, d), 0);
    assert_non_null(ak);
    return ak;
}

static void
test_ak_api_contract(void **state)
{
    uint8_t a[128];
    size_t na = blob_of(ED_A, a, sizeof(a));
    sshbpp_authorized_keys *ak = NULL;
    const sshbpp_ak_entry *e = NULL;
    char path[128];
    unsigned long skipped = 7;

    (void)state;
    assert_int_equal(sshbpp_authorized_keys_load_mem("x", 1, NULL, NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_authorized_keys_load_mem(NULL, 1, &ak, NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_authorized_keys_load_file(NULL, &ak, NULL, NULL), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_authorized_keys_load_file("/x", NULL, NULL, NULL), SSHBPP_EINVAL);
    snprintf(path, sizeof(path), "%s/ak-missing", tmpdir);
    assert_int_equal(sshbpp_authorized_keys_load_file(path, &ak, NULL, NULL), SSHBPP_EIO);
    assert_int_equal(sshbpp_authorized_keys_load_file(tmpdir, &ak, NULL, NULL), SSHBPP_EIO);
    assert_null(ak);
    sshbpp_authorized_keys_free(NULL);
    assert_int_equal(sshbpp_authorized_keys_count(NULL), 0);
    assert_null(sshbpp_authorized_keys_get(NULL, 0));
    assert_int_equal(sshbpp_ak_entry_check(NULL, "10.0.0.1", NULL, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_ak_entry_permits(NULL, SSHBPP_AK_PERMIT_PTY), 0);

    /* From a file, without skipped or diag; an empty text. */
    snprintf(path, sizeof(path), "%s/ak", tmpdir);
    write_file(path, "  \t" ED_A " leading blanks\n", strlen("  \t" ED_A " leading blanks\n"));
    assert_int_equal(sshbpp_authorized_keys_load_file(path, &ak, NULL, NULL), 0);
    assert_int_equal(sshbpp_authorized_keys_count(ak), 1);
    assert_null(sshbpp_authorized_keys_get(ak, 1));
    assert_int_equal(sshbpp_authorized_keys_find(NULL, a, na, "10.0.0.1", 0, &e), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_authorized_keys_find(ak, NULL, na, "10.0.0.1", 0, &e), SSHBPP_EINVAL);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", 0, NULL), SSHBPP_EINVAL);
    /* A blob that is not a key is simply not authorized. */
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, 3, "10.0.0.1", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_null(e);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", 0, &e), 0);
    assert_int_equal(e->line, 1);
    sshbpp_authorized_keys_free(ak);
    assert_int_equal(sshbpp_authorized_keys_load_mem(NULL, 0, &ak, &skipped, NULL), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(sshbpp_authorized_keys_count(ak), 0);
    sshbpp_authorized_keys_free(ak);
}

/* More than 4096 permitopen= options: the line is not used (the file's
 * fault, like any malformed option), and the rest of the file still
 * loads. permitopen="h" is the only option short enough for 4097 of them
 * to fit in one line (SSHBPP_KEYS_MAX_LINE); the same limit on
 * environment= and permitlisten= cannot be reached from a file. */
static void
test_ak_option_limits(void **state)
{
    static char text[SSHBPP_KEYS_MAX_LINE + 1024];
    sshbpp_authorized_keys *ak;
    sshbpp_key_diag d;
    unsigned long skipped = 0;
    size_t o, i;
    int count;

    (void)state;
    for (count = 4096; count <= 4097; count++) {
        o = 0;
        for (i = 0; i < (size_t)count; i++) {
            assert_true(o + 32 < sizeof(text));
            o += (size_t)snprintf(text + o, sizeof(text) - o, "%spermitopen=\"h\"", i ? "," : "");
        }
        assert_true(o + 200 < sizeof(text));
        o += (size_t)snprintf(text + o, sizeof(text) - o, " " ED_A "\n" ED_B "\n");
        assert_true(o < SSHBPP_KEYS_MAX_LINE);
        ak = ak_load(text, &skipped, &d);
        if (count == 4096) {
            assert_int_equal(skipped, 0);
            assert_int_equal(sshbpp_authorized_keys_count(ak), 2);
            assert_int_equal(sshbpp_authorized_keys_get(ak, 0)->n_permitopen, 4096);
            assert_string_equal(sshbpp_authorized_keys_get(ak, 0)->permitopen[4095], "h");
        } else {
            assert_int_equal(skipped, 1);
            assert_int_equal(sshbpp_authorized_keys_count(ak), 1);
            assert_int_equal(sshbpp_authorized_keys_get(ak, 0)->line, 2);
            assert_non_null(strstr(d.msg, "more than 4096 permitopen options"));
            assert_int_equal(d.line, 1);
        }
        sshbpp_authorized_keys_free(ak);
    }
}

static void
test_ak_expiry_and_find(void **state)
{
    uint8_t a[128], b[128];
    size_t na = blob_of(ED_A, a, sizeof(a)), nb = blob_of(ED_B, b, sizeof(b));
    sshbpp_authorized_keys *ak;
    const sshbpp_ak_entry *e;
    sshbpp_key_diag d;
    unsigned long skipped = 0;
    /* 2030-01-01T00:00:00Z and 2030-01-01T12:30:59Z in ms. */
    const int64_t t2030 = INT64_C(1893456000000), t2030b = t2030 + (12 * 3600 + 30 * 60 + 59) * 1000;

    (void)state;
    ak = ak_load("expiry-time=\"20300101z\" " ED_A "\n"                  /* 1 */
                 "expiry-time=\"20300101123059Z\" " ED_A "\n"            /* 2 */
                 "expiry-time=\"20300101123059Z\",expiry-time=\"20300101Z\" " ED_A "\n" /* 3 */
                 "expiry-time=\"203001011230\" " ED_A "\n"               /* 4: local */
                 "expiry-time=\"2030010112\" " ED_A "\n"                 /* 5: 10 digits */
                 "expiry-time=\"2030010a\" " ED_A "\n"                   /* 6 */
                 "expiry-time=\"20300132\" " ED_A "\n"                   /* 7: day 32 */
                 "expiry-time=\"20300100\" " ED_A "\n"                   /* 8: day 0 */
                 "expiry-time=\"203001012400\" " ED_A "\n"               /* 9: hour 24 */
                 "expiry-time=\"203001011260\" " ED_A "\n"               /* 10: minute 60 */
                 "expiry-time=\"20300101235961\" " ED_A "\n"             /* 11: second 61 */
                 "expiry-time=\"20300001\" " ED_A "\n"                   /* 12: month 0 */
                 "expiry-time=\"\" " ED_A "\n"                           /* 13 */
                 "expiry-time=\"Z\" " ED_A "\n"                          /* 14 */
                 "expiry-time=\"00000101Z\" " ED_A "\n"                  /* 15: year 0 */
                 "expiry-time=\"20300315Z\" " ED_A "\n",                 /* 16 */
                 &skipped, &d);
    assert_int_equal(skipped, 10);
    assert_int_equal(d.line, 5);
    assert_non_null(strstr(d.msg, "expiry-time is not"));
    assert_int_equal(sshbpp_authorized_keys_count(ak), 6);
    assert_true(sshbpp_authorized_keys_get(ak, 0)->expiry_ms == t2030);
    /* 0000-01-01 of the proleptic Gregorian calendar, and 2030-03-15. */
    assert_true(sshbpp_authorized_keys_get(ak, 4)->expiry_ms == INT64_C(-62167219200000));
    assert_true(sshbpp_authorized_keys_get(ak, 5)->expiry_ms == t2030 + INT64_C(73) * 86400000);
    assert_true(sshbpp_authorized_keys_get(ak, 1)->expiry_ms == t2030b);
    assert_true(sshbpp_authorized_keys_get(ak, 2)->expiry_ms == t2030); /* the earliest */
    /* Local time: within a day of the UTC reading, whatever the zone. */
    {
        int64_t local = sshbpp_authorized_keys_get(ak, 3)->expiry_ms,
                utc = t2030 + (12 * 3600 + 30 * 60) * INT64_C(1000);

        assert_true(local > utc - 86400000 && local < utc + 86400000);
    }
    /* find: past every expiry, refused; before, the first entry. At the
     * stated moment itself it still holds (now > expiry refuses). */
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", t2030 + INT64_C(200) * 86400000, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", t2030, &e), 0);
    assert_int_equal(e->line, 1);
    /* Past the first entry's expiry, the second (later) one. */
    assert_int_equal(sshbpp_authorized_keys_find(ak, a, na, "10.0.0.1", t2030 + 1, &e), 0);
    assert_int_equal(e->line, 2);
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "10.0.0.1", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    sshbpp_authorized_keys_free(ak);

    /* cert-authority lines never match the plain key; a from= with a bad
     * CIDR never matches; the next plain line does. */
    ak = ak_load("cert-authority " ED_B "\n"
                 "from=\"10.1.0.0/8\" " ED_B "\n"
                 "from=\"10.0.0.0/8,!10.9.9.9\" " ED_B "\n",
                 &skipped, &d);
    assert_int_equal(skipped, 0);
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "10.1.2.3", 0, &e), 0);
    assert_int_equal(e->line, 3);
    assert_int_equal(sshbpp_authorized_keys_find(ak, b, nb, "10.9.9.9", 0, &e),
                     SSHBPP_EKEYNOTAUTHORIZED);
    assert_int_equal(sshbpp_ak_entry_check(sshbpp_authorized_keys_get(ak, 1), "10.1.2.3",
                                           "host.example", 0),
                     SSHBPP_EKEYNOTAUTHORIZED);
    sshbpp_authorized_keys_free(ak);

    /* An options field followed by a key type we do not take, and garbage
     * right after a quoted value. */
    ak = ak_load("no-pty ssh-dss AAAAB3NzaC1kc3M=\n"
                 "command=\"x\"y " ED_A "\n",
                 &skipped, &d);
    assert_int_equal(skipped, 2);
    assert_int_equal(sshbpp_authorized_keys_count(ak), 0);
    assert_non_null(strstr(d.msg, "unsupported key type"));
    sshbpp_authorized_keys_free(ak);
    ak = ak_load("# c\ncommand=\"x\"y " ED_A "\n", &skipped, &d);
    assert_int_equal(skipped, 1);
    assert_non_null(strstr(d.msg, "garbage after an option"));
    sshbpp_authorized_keys_free(ak);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kh_api_contract),   cmocka_unit_test(test_kh_format_bounds),
        cmocka_unit_test(test_kh_bad_lines),      cmocka_unit_test(test_kh_lookup_outcomes),
        cmocka_unit_test(test_kh_many_and_same_length_types),
        cmocka_unit_test(test_kh_verify_edges),   cmocka_unit_test(test_ak_api_contract),
        cmocka_unit_test(test_ak_option_limits),  cmocka_unit_test(test_ak_expiry_and_find),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
