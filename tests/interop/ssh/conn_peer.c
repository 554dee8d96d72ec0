/*
 * conn_peer.c: a client over sshbpp_driver.h for the interop tests
 * (test_conn_interop.py): one authentication attempt per argument after
 * the connection, reported one line each, then a global request.
 *
 * usage: conn_peer [-o PubkeyAcceptedAlgorithms=LIST] HOST PORT USER STEP...
 *   STEP: none | password:PW | kbdint:ANSWER | key:PATH
 *   LIST: sshbpp_conn_config.pubkey_algs (OpenSSH list syntax)
 * Output lines: "hostkey ALG FP", "auth METHOD ok", "auth METHOD refused
 * METHODS partial=N", "greq REQUEST_SUCCESS|REQUEST_FAILURE",
 * "disconnect CODE TEXT", "error NAME". Exit 0 if the last step succeeded.
 */
#include <stdio.h>
#include <string.h>

#include "sshbpp/sshbpp.h"

static int
hostkey(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)blob;
    (void)len;
    printf("hostkey %s %s\n", alg, fp);
    return 1;
}

static int
answer(void *ctx, const char *name, const char *instruction, unsigned n, const char *const *prompts,
       const int *echo, char (*answers)[256])
{
    unsigned i;

    (void)name;
    (void)instruction;
    for (i = 0; i < n; i++) {
        printf("prompt %s echo=%d\n", prompts[i], echo[i]);
        snprintf(answers[i], 256, "%s", (const char *)ctx);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    sshbpp_conn_config cfg;
    sshbpp_driver *d;
    char methods[512], text[512];
    uint32_t reason;
    int r, i, partial = 0;

    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    if (argc > 2 && strcmp(argv[1], "-o") == 0) {
        static const char kw[] = "PubkeyAcceptedAlgorithms=";

        if (strncmp(argv[2], kw, sizeof(kw) - 1) != 0) {
            fprintf(stderr, "bad -o %s\n", argv[2]);
            return 2;
        }
        cfg.pubkey_algs = argv[2] + sizeof(kw) - 1;
        argv += 2;
        argc -= 2;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: %s [-o PubkeyAcceptedAlgorithms=LIST] host port user step...\n",
                argv[0]);
        return 2;
    }
    if ((d = sshbpp_driver_connect(argv[1], argv[2], &cfg, 10000, &r)) == NULL) {
        printf("error %s\n", sshbpp_err_name(r));
        return 1;
    }
    sshbpp_driver_set_timeout(d, 20000);
    sshbpp_driver_set_hostkey_cb(d, hostkey, NULL);
    r = sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT);
    for (i = 4; r == 0 && i < argc; i++) {
        char *step = argv[i];
        const char *method = step;

        if (strcmp(step, "none") == 0) {
            r = sshbpp_driver_auth_none(d, argv[3], SSHBPP_TIMEOUT_DEFAULT);
        } else if (strncmp(step, "password:", 9) == 0) {
            method = "password";
            r = sshbpp_driver_auth_password(d, argv[3], step + 9, SSHBPP_TIMEOUT_DEFAULT);
        } else if (strncmp(step, "kbdint:", 7) == 0) {
            method = "keyboard-interactive";
            r = sshbpp_driver_auth_kbdint(d, argv[3], answer, (void *)(step + 7),
                                          SSHBPP_TIMEOUT_DEFAULT);
        } else if (strncmp(step, "key:", 4) == 0) {
            method = "publickey";
            r = sshbpp_driver_auth_publickey_file(d, argv[3], step + 4, SSHBPP_TIMEOUT_DEFAULT);
        } else {
            fprintf(stderr, "bad step %s\n", step);
            return 2;
        }
        if (r == 0) {
            printf("auth %s ok\n", method);
        } else if (r == SSHBPP_EREFUSED) {
            (void)sshbpp_driver_auth_methods(d, methods, sizeof(methods), &partial);
            printf("auth %s refused %s partial=%d\n", method, methods, partial);
        }
        fflush(stdout);
        if (r == SSHBPP_EREFUSED && i + 1 < argc)
            r = 0; /* refused, not failed: the next step may follow */
    }
    if (r == 0) {
        r = sshbpp_driver_global_request(d, "keepalive@openssh.com", 1, NULL, 0,
                                         SSHBPP_TIMEOUT_DEFAULT);
        if (r == 0 || r == SSHBPP_EREFUSED) {
            printf("greq %s\n", r == 0 ? "REQUEST_SUCCESS" : "REQUEST_FAILURE");
            r = 0;
        }
    }
    if (sshbpp_driver_disconnect_reason(d, &reason, text, sizeof(text)) == 0)
        printf("disconnect %u %s\n", (unsigned)reason, text);
    if (r != 0 && r != SSHBPP_EREFUSED)
        printf("error %s\n", sshbpp_err_name(r));
    (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "bye", 1000);
    sshbpp_driver_free(d);
    return r != 0;
}
