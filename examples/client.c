/* client.c: run a command on an SSH server: connect, check the host key, log in with a key
 * file, open a session, exec, print the command's output and exit status.
 * usage: client HOST PORT USER KEYFILE [SHA256:fp|-] [COMMAND] */
#include <stdio.h>
#include <string.h>
#include <sshbpp/sshbpp.h>

static int check_host(void *want, const char *alg, const char *fp, const uint8_t *b, size_t n)
{
    (void)b, (void)n;
    printf("host key %s %s\n", alg, fp);
    return want == NULL || strcmp(want, fp) == 0; /* or look it up in known_hosts */
}

int main(int argc, char **argv)
{
    char *want = argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : NULL;
    const char *command = argc > 6 ? argv[6] : "echo hello from $(hostname)";
    sshbpp_driver_channels *dc = NULL;
    sshbpp_conn_config cfg;
    sshbpp_driver *d;
    char buf[16384], sig[32];
    int r, ext, status = -1;
    uint32_t ch;
    long n = 0;

    if (argc < 5)
        return fprintf(stderr, "usage: %s host port user keyfile [fingerprint|-] [command]\n", argv[0]), 2;
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    if ((d = sshbpp_driver_connect(argv[1], argv[2], &cfg, 10000, &r)) == NULL)
        return fprintf(stderr, "connect: %s\n", sshbpp_strerror(r)), 1;
    sshbpp_driver_set_timeout(d, 10000); /* for every SSHBPP_TIMEOUT_DEFAULT below */
    sshbpp_driver_set_hostkey_cb(d, check_host, want);
    if ((r = sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT)) == 0 &&
        (r = sshbpp_driver_auth_publickey_file(d, argv[3], argv[4], SSHBPP_TIMEOUT_DEFAULT)) == 0 &&
        (r = (dc = sshbpp_driver_channels_new(d, NULL)) != NULL ? 0 : SSHBPP_ENOMEM) == 0 &&
        (r = sshbpp_driver_channel_open_session(dc, &ch, NULL, SSHBPP_TIMEOUT_DEFAULT)) == 0 &&
        (r = sshbpp_driver_channel_exec(dc, ch, command, SSHBPP_TIMEOUT_DEFAULT)) == 0 &&
        (r = sshbpp_driver_channel_eof(dc, ch)) == 0) { /* no input for the command */
        printf("authenticated as %s, running: %s\n", argv[3], command);
        for (ext = 0; ext < 2 && n >= 0; ext++) /* its stdout, then its stderr */
            while ((n = sshbpp_driver_channel_read(dc, ch, ext, buf, sizeof(buf), SSHBPP_TIMEOUT_DEFAULT)) > 0)
                fwrite(buf, 1, (size_t)n, ext ? stderr : stdout);
        if ((r = n < 0 ? (int)n : sshbpp_driver_channel_wait_exit(dc, ch, &status, sig, sizeof(sig), SSHBPP_TIMEOUT_DEFAULT)) == 0) {
            if (status >= 0)
                printf("exit status %d\n", status);
            else
                printf("killed by signal %s\n", sig);
            r = sshbpp_driver_channel_close(dc, ch, SSHBPP_TIMEOUT_DEFAULT);
        }
    }
    if (r != 0)
        fprintf(stderr, "error: %s (%s)\n", sshbpp_strerror(r), sshbpp_err_name(r));
    (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "bye", 1000);
    sshbpp_driver_channels_free(dc);
    sshbpp_driver_free(d);
    return r != 0 ? 1 : status >= 0 ? status : 255;
}
