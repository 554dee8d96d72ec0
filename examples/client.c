/* client.c: connect, handshake, check the host key, log in with a key file, send a
 * global request, print the answer. usage: client HOST PORT USER KEYFILE [SHA256:fp] */
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
    sshbpp_conn_config cfg;
    sshbpp_driver *d;
    int r;

    if (argc < 5)
        return fprintf(stderr, "usage: %s host port user keyfile [fingerprint]\n", argv[0]), 2;
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    if ((d = sshbpp_driver_connect(argv[1], argv[2], &cfg, 10000, &r)) == NULL)
        return fprintf(stderr, "connect: %s\n", sshbpp_strerror(r)), 1;
    sshbpp_driver_set_timeout(d, 10000); /* for every SSHBPP_TIMEOUT_DEFAULT below */
    sshbpp_driver_set_hostkey_cb(d, check_host, argc > 5 ? argv[5] : NULL);
    if ((r = sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT)) == 0 &&
        (r = sshbpp_driver_auth_publickey_file(d, argv[3], argv[4], SSHBPP_TIMEOUT_DEFAULT)) == 0) {
        printf("authenticated as %s\n", argv[3]);
        r = sshbpp_driver_global_request(d, "keepalive@openssh.com", 1, NULL, 0, SSHBPP_TIMEOUT_DEFAULT);
        printf("global request answered: %s\n", r == 0 ? "REQUEST_SUCCESS" : r == SSHBPP_EREFUSED ? "REQUEST_FAILURE" : sshbpp_strerror(r));
        r = r == SSHBPP_EREFUSED ? 0 : r;
    }
    if (r != 0)
        fprintf(stderr, "error: %s (%s)\n", sshbpp_strerror(r), sshbpp_err_name(r));
    (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "bye", 1000);
    sshbpp_driver_free(d);
    return r != 0;
}
