/*
 * key.c: `sshbpp key`: what ssh-keygen -y and -l print, for any key file
 * sshbpp reads (OpenSSH, PEM, PKCS#8 including ed25519 PKCS#8 that
 * ssh-keygen itself cannot read, and public lines).
 *
 *   sshbpp key -y FILE              the public line (ssh-keygen -y)
 *   sshbpp key -l [-E md5] FILE     the fingerprint line (ssh-keygen -l)
 *
 * The comment of -l follows ssh-keygen: a public file's own comment; for
 * a private key, FILE.pub's comment if that file exists (its name if the
 * comment is empty), else the OpenSSH key's comment, else "no comment".
 */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passphrase.h"
#include "sshbpp/sshbpp_keys.h"

static void
key_usage(FILE *f)
{
    fprintf(f, "usage: sshbpp key -y [--passphrase-file file] FILE\n"
               "       sshbpp key -l [-E sha256|md5] [--passphrase-file file] FILE\n");
}

enum { OPT_PASSFILE = 300 };

/* Loads FILE, asking for a passphrase when the key is encrypted. */
static int
load(const char *path, const char *passfile, sshbpp_key **k)
{
    char pass[1024];
    sshbpp_key_diag d;
    int rc;

    pass[0] = '\0';
    if (passfile != NULL && cli_passphrase_from_file(passfile, pass, sizeof(pass)) != 0)
        return -1;
    rc = sshbpp_key_load_file(path, passfile != NULL ? pass : NULL, k, &d);
    if (rc == SSHBPP_EKEYPASSPHRASE && passfile == NULL) {
        char prompt[1200];

        snprintf(prompt, sizeof(prompt), "Enter passphrase for %s: ", path);
        if (cli_passphrase_prompt(prompt, pass, sizeof(pass)) == 0)
            rc = sshbpp_key_load_file(path, pass, k, &d);
    }
    cli_passphrase_wipe(pass, sizeof(pass));
    if (rc != 0) {
        if (rc == SSHBPP_EIO)
            cli_error("%s: cannot read the file", path);
        else
            cli_error("%s: %s (%s)%s%s", path, sshbpp_strerror(rc), sshbpp_err_name(rc),
                      d.msg[0] != '\0' ? ": " : "", d.msg);
        return -1;
    }
    return 0;
}

/* The comment ssh-keygen -l would print (see the top). */
static char *
fp_comment(const char *path, const sshbpp_key *k)
{
    char pub[4096];
    sshbpp_key *pk = NULL;
    sshbpp_key_diag d;
    const char *c;
    char *out;
    int n;

    if (sshbpp_key_has_private(k)) {
        n = snprintf(pub, sizeof(pub), "%s.pub", path);
        if (n > 0 && (size_t)n < sizeof(pub) && sshbpp_key_load_public_file(pub, &pk, &d) == 0 &&
            sshbpp_key_format(pk) == SSHBPP_KEYFMT_PUBLIC) {
            c = sshbpp_key_comment(pk);
            out = strdup(c != NULL && c[0] != '\0' ? c : pub);
            sshbpp_key_free(pk);
            return out;
        }
        sshbpp_key_free(pk);
    }
    c = sshbpp_key_comment(k);
    return c != NULL ? strdup(c) : NULL;
}

int
cli_key(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"passphrase-file", required_argument, NULL, OPT_PASSFILE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *passfile = NULL, *fpath = NULL, *path;
    enum sshbpp_fp_hash h = SSHBPP_FP_SHA256;
    char line[16384];
    char *comment;
    sshbpp_key *k = NULL;
    int opt, mode = 0, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "ylE:f:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'y':
        case 'l':
            mode = opt;
            break;
        case 'E':
            if (strcmp(optarg, "md5") == 0)
                h = SSHBPP_FP_MD5;
            else if (strcmp(optarg, "sha256") == 0)
                h = SSHBPP_FP_SHA256;
            else {
                cli_error("-E takes sha256 or md5");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'f':
            fpath = optarg; /* ssh-keygen's spelling: -f FILE */
            break;
        case OPT_PASSFILE:
            passfile = optarg;
            break;
        case 'h':
            key_usage(stdout);
            return 0;
        default:
            key_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (mode == 0 || optind != argc - (fpath == NULL ? 1 : 0)) {
        key_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    path = fpath != NULL ? fpath : argv[optind];
    if (load(path, passfile, &k) != 0)
        return CLI_EXIT_FAIL;
    if (mode == 'y') {
        /* ssh-keygen -y prints the private key file's own comment only. */
        if (sshbpp_key_format(k) != SSHBPP_KEYFMT_OPENSSH && sshbpp_key_format(k) != SSHBPP_KEYFMT_PUBLIC)
            rc = sshbpp_key_set_comment(k, NULL);
        else
            rc = 0;
        if (rc == 0)
            rc = sshbpp_key_public_line(k, line, sizeof(line));
    } else {
        comment = fp_comment(path, k);
        rc = sshbpp_key_fingerprint_line(k, h, comment, line, sizeof(line));
        free(comment);
    }
    sshbpp_key_free(k);
    if (rc < 0) {
        cli_error("%s: %s", path, sshbpp_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    printf("%s\n", line);
    return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAIL;
}
