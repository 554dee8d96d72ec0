/*
 * main.c: the sshbpp command-line tool: dispatches to probe, serve and
 * bench, and answers --help, --version and -Q (the supported algorithms,
 * as ssh -Q).
 */
#include "common.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: sshbpp [-hV] [-Q query_option]\n"
            "       sshbpp probe [-Cv] [--json] [-c cipher_spec] [-i identity_file]\n"
            "                    [-l login_name] [-m mac_spec] [-p port] [--kex algorithms]\n"
            "                    [--hostkey-algorithms algorithms]\n"
            "                    [--compression[=algorithms]] [--ignore-bytes bytes]\n"
            "                    [--rekey-bytes bytes] [--timeout seconds]\n"
            "                    [--known-hosts file] [-o option] [--passphrase-file file]\n"
            "                    [-f file] [--parallel n] [user@]host[:port] ...\n"
            "       sshbpp serve [-Cv] [--once] [-c cipher_spec] [-m mac_spec] [-p port]\n"
            "                    [--bind address] [--hostkey file] [--kex algorithms]\n"
            "                    [--hostkey-algorithms algorithms] [--compression[=algorithms]]\n"
            "                    [--max-clients n] [--login-grace seconds]\n"
            "                    [--authorized-keys file]\n"
            "       sshbpp bench [--suite NAME]... [--size BYTES]... [--seconds N] [--json]\n"
            "       sshbpp key -y | -l [-E md5] [--passphrase-file file] FILE\n"
            "       sshbpp exec [-CnTv] [-c cipher_spec] [-F none] [-i identity_file]\n"
            "                   [-l login_name] [-m mac_spec] [-o option] [-p port]\n"
            "                   [user@]host [command ...]\n");
}

static void
help(void)
{
    usage(stdout);
    printf("\n"
           "A tool for the sshbpp SSH Binary Packet Protocol library.\n"
           "\n"
           "  probe   connect to an SSH server, run the key exchange and report the\n"
           "          negotiated algorithms, the host key and the allowed auth methods;\n"
           "          optionally authenticate with a key (-i) and push traffic with rekeys\n"           "          (many hosts at once: several operands or -f FILE, --parallel N)\n"
           "  serve   accept SSH connections, run the key exchange, and refuse every\n"
           "          authentication attempt (\"publickey\" only)\n"
           "  bench   measure the packet layer (engine, socketpair, batch) against its limits\n"
           "  key     print a key file's public line (-y) or fingerprint (-l), as\n"
           "          ssh-keygen does\n"
           "  exec    run a command on an SSH server as `ssh host command` does: stdin,\n"
           "          stdout, stderr and the exit status\n"
           "\n"
           "  -Q cipher|mac|compression|kex|key|kex-default|key-default\n"
           "          list the supported ciphers, MACs, compression methods, key\n"
           "          exchange and host key algorithms (legacy ones included), or the\n"
           "          key exchange and host key algorithms offered by default\n"
           "  -V, --version  print the version\n"
           "  -h, --help     print this help (`sshbpp COMMAND --help`: a command's options)\n");
}

/* Prints one algorithm per line, as ssh -Q does. */
static int
query(const char *what)
{
    const char *const *names = NULL;
    const char *list = NULL, *p, *comma;
    size_t i;

    if (strcmp(what, "cipher") == 0)
        names = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    else if (strcmp(what, "mac") == 0)
        names = sshbpp_alg_list(SSHBPP_ALG_MAC);
    else if (strcmp(what, "compression") == 0)
        names = sshbpp_alg_list(SSHBPP_ALG_COMP);
    else if (strcmp(what, "kex") == 0)
        names = sshbpp_kex_supported(SSHBPP_KEXINIT_KEX);
    else if (strcmp(what, "key") == 0)
        names = sshbpp_kex_supported(SSHBPP_KEXINIT_HOSTKEY);
    else if (strcmp(what, "kex-default") == 0)
        list = sshbpp_kex_default(SSHBPP_KEXINIT_KEX);
    else if (strcmp(what, "key-default") == 0)
        list = sshbpp_kex_default(SSHBPP_KEXINIT_HOSTKEY);
    else {
        cli_error("unsupported query '%s'", what);
        return CLI_EXIT_USAGE;
    }
    if (names != NULL)
        for (i = 0; names[i] != NULL; i++)
            printf("%s\n", names[i]);
    for (p = list; p != NULL && *p != '\0'; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma == NULL) {
            printf("%s\n", p);
            break;
        }
        printf("%.*s\n", (int)(comma - p), p);
    }
    return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAIL;
}

int
main(int argc, char **argv)
{
    const char *cmd;

    /* A peer that closes its end must give us EPIPE on write, not kill
     * the process (a server with many clients above all). */
    signal(SIGPIPE, SIG_IGN);

    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    cmd = argv[1];
    /* Each command parses its own options with getopt_long from argv[1]
     * on, so that it sees its name as argv[0]. */
    if (strcmp(cmd, "probe") == 0)
        return cli_probe(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cli_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "key") == 0)
        return cli_key(argc - 1, argv + 1);
    if (strcmp(cmd, "exec") == 0)
        return cli_exec(argc - 1, argv + 1);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        help();
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sshbpp %s\n", SSHBPP_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "-Q") == 0) {
        if (argc != 3) {
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
        return query(argv[2]);
    }
    if (strncmp(cmd, "-Q", 2) == 0 && argc == 2)
        return query(cmd + 2);
    cli_error("unknown command '%s'", cmd);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
