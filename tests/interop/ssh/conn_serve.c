/*
 * conn_serve.c: a one-connection server over sshbpp_driver.h for the
 * interop tests (test_conn_serve.py): the conn's server-side auth callback
 * decides each attempt from the public keys it was given.
 *
 * usage: conn_serve HOSTKEY.pem ACCEPT.pem PARTIAL.pem
 * Binds 127.0.0.1 on a free port and prints "port N". The public key of
 * ACCEPT.pem is accepted, that of PARTIAL.pem gives partial success (the
 * client must then use another method: "publickey" again), anything else
 * is refused. Prints one "attempt USER METHOD sig=N -> DECISION" line per
 * attempt, "auth ok USER METHOD" on success (then sends DISCONNECT "bye"),
 * "error NAME" on failure. Exit 0 if a client authenticated.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kex/kex_int.h"
#include "sshbpp/sshbpp.h"

static sshbpp__wbuf accept_blob, partial_blob;

static int
same(const sshbpp__wbuf *b, const sshbpp_conn_auth_attempt *a)
{
    return a->pubkey_len == b->len && memcmp(a->pubkey_blob, b->p, b->len) == 0;
}

static enum sshbpp_auth_decision
decide(void *ctx, const sshbpp_conn_auth_attempt *a, const char **methods)
{
    enum sshbpp_auth_decision d = SSHBPP_AUTH_REJECT;
    static const char *const names[3] = {"reject", "accept", "partial"};

    (void)ctx;
    if (strcmp(a->method, "publickey") == 0) {
        if (same(&accept_blob, a))
            d = SSHBPP_AUTH_ACCEPT;
        else if (same(&partial_blob, a))
            d = a->signature_ok ? SSHBPP_AUTH_PARTIAL : SSHBPP_AUTH_ACCEPT; /* PK_OK */
    }
    if (d == SSHBPP_AUTH_PARTIAL)
        *methods = "publickey";
    printf("attempt %s %s sig=%d -> %s\n", a->user, a->method, a->signature_ok, names[d]);
    fflush(stdout);
    return d;
}

static int
blob_of(const char *path, sshbpp__wbuf *out)
{
    sshbpp__hostkey hk;
    int r;

    memset(&hk, 0, sizeof(hk));
    sshbpp__wb_init(out);
    if ((r = sshbpp__hostkey_load_file(&hk, path)) == 0)
        r = sshbpp__hostkey_put_blob(&hk, out);
    sshbpp__hostkey_free(&hk);
    return r != 0 ? r : out->err;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    sshbpp_conn_config cfg;
    sshbpp_driver *d;
    uint8_t buf[4096];
    size_t len;
    int ls, fd, r;

    if (argc != 4) {
        fprintf(stderr, "usage: %s hostkey accept partial\n", argv[0]);
        return 2;
    }
    if (blob_of(argv[2], &accept_blob) != 0 || blob_of(argv[3], &partial_blob) != 0) {
        fprintf(stderr, "cannot read the client keys\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((ls = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        perror("listen");
        return 1;
    }
    printf("port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    if ((fd = accept(ls, NULL, NULL)) < 0) {
        perror("accept");
        return 1;
    }
    close(ls);
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_SERVER);
    cfg.auth_cb = decide;
    cfg.auth_methods = "publickey";
    cfg.login_timeout_ms = 30000;
    if ((d = sshbpp_driver_new(fd, &cfg)) == NULL ||
        sshbpp_conn_add_hostkey_file(sshbpp_driver_conn(d), argv[1]) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    sshbpp_driver_set_timeout(d, 30000);
    if ((r = sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT)) == 0 &&
        (r = sshbpp_driver_wait_auth(d, SSHBPP_TIMEOUT_DEFAULT)) == 0) {
        printf("auth ok\n");
        fflush(stdout);
        /* answer what the client asks for a moment (global requests), then say bye */
        while (sshbpp_driver_recv(d, buf, sizeof(buf), &len, 300) == 0)
            if (buf[0] == 80 && sshbpp_driver_send(d, "\x52", 1, 1000) != 0)
                break;
        (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "bye", 1000);
    }
    if (r != 0)
        printf("error %s\n", sshbpp_err_name(r));
    sshbpp_driver_free(d);
    sshbpp__wb_free(&accept_blob);
    sshbpp__wb_free(&partial_blob);
    return r != 0;
}
