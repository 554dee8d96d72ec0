/*
 * chan_exec.c: runs a command on a server through the blocking channel
 * API (sshbpp_driver_channel.h), for test_channel_interop.py.
 *
 * usage: chan_exec HOST PORT USER KEYFILE NCHANNELS COMMAND
 * Our stdin goes to the first channel (then EOF; the others get EOF at
 * once), each channel's stdout to our stdout and stderr to our stderr,
 * channel after channel. Exit status: the first channel's exit status;
 * killed by a signal: "signal NAME" on stderr and 255; an sshbpp error:
 * "error NAME" on stderr and 254.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sshbpp/sshbpp.h"

#define MAXCH 64

static int
hostkey(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)alg;
    (void)fp;
    (void)blob;
    (void)len;
    return 1;
}

static int
fail(const char *what, int r)
{
    fprintf(stderr, "error %s %s\n", what, sshbpp_err_name(r));
    return 254;
}

int
main(int argc, char **argv)
{
    static uint8_t buf[65536], out[65536];
    sshbpp_conn_config cfg;
    sshbpp_driver_channels *dc;
    sshbpp_driver *d;
    uint32_t ids[MAXCH];
    int r, n, i, first = 0;

    if (argc != 7 || (n = atoi(argv[5])) < 1 || n > MAXCH) {
        fprintf(stderr, "usage: %s host port user keyfile nchannels command\n", argv[0]);
        return 2;
    }
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    if ((d = sshbpp_driver_connect(argv[1], argv[2], &cfg, 10000, &r)) == NULL)
        return fail("connect", r);
    sshbpp_driver_set_timeout(d, 60000);
    sshbpp_driver_set_hostkey_cb(d, hostkey, NULL);
    if ((r = sshbpp_driver_handshake(d, SSHBPP_TIMEOUT_DEFAULT)) != 0)
        return fail("handshake", r);
    if ((r = sshbpp_driver_auth_publickey_file(d, argv[3], argv[4], SSHBPP_TIMEOUT_DEFAULT)) != 0)
        return fail("auth", r);
    if ((dc = sshbpp_driver_channels_new(d, NULL)) == NULL)
        return fail("channels", SSHBPP_ENOMEM);
    for (i = 0; i < n; i++) {
        uint32_t reason = 0;

        if ((r = sshbpp_driver_channel_open_session(dc, &ids[i], &reason,
                                                    SSHBPP_TIMEOUT_DEFAULT)) != 0)
            return fail("open", r);
        if ((r = sshbpp_driver_channel_exec(dc, ids[i], argv[6], SSHBPP_TIMEOUT_DEFAULT)) != 0)
            return fail("exec", r);
    }
    /* stdin to the first channel */
    for (;;) {
        ssize_t k = read(0, buf, sizeof(buf));

        if (k <= 0)
            break;
        if ((r = sshbpp_driver_channel_write(dc, ids[0], 0, buf, (size_t)k,
                                             SSHBPP_TIMEOUT_DEFAULT)) != 0)
            return fail("write", r);
        /* one thread: take what came back so far (a command like cat
         * stops reading when its output is not read: both windows close) */
        for (;;) {
            long m = sshbpp_driver_channel_read(dc, ids[0], 0, out, sizeof(out), 1);

            if (m == SSHBPP_ETIMEDOUT || m == 0)
                break;
            if (m < 0)
                return fail("read", (int)m);
            if (fwrite(out, 1, (size_t)m, stdout) != (size_t)m)
                return fail("output", SSHBPP_EIO);
        }
    }
    for (i = 0; i < n; i++)
        if ((r = sshbpp_driver_channel_eof(dc, ids[i])) != 0)
            return fail("eof", r);
    for (i = 0; i < n; i++) {
        char sig[32];
        int status, ext;
        long k;

        for (ext = 0; ext < 2; ext++) {
            while ((k = sshbpp_driver_channel_read(dc, ids[i], ext, buf, sizeof(buf),
                                                   SSHBPP_TIMEOUT_DEFAULT)) > 0)
                if (fwrite(buf, 1, (size_t)k, ext ? stderr : stdout) != (size_t)k)
                    return fail("output", SSHBPP_EIO);
            if (k < 0)
                return fail("read", (int)k);
        }
        if ((r = sshbpp_driver_channel_wait_exit(dc, ids[i], &status, sig, sizeof(sig),
                                                 SSHBPP_TIMEOUT_DEFAULT)) != 0)
            return fail("wait_exit", r);
        if ((r = sshbpp_driver_channel_close(dc, ids[i], SSHBPP_TIMEOUT_DEFAULT)) != 0)
            return fail("close", r);
        if (i == 0) {
            if (status < 0) {
                fprintf(stderr, "signal %s\n", sig);
                first = 255;
            } else {
                first = status;
            }
        }
    }
    fflush(stdout);
    fflush(stderr);
    sshbpp_driver_channels_free(dc);
    (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "bye", 2000);
    sshbpp_driver_free(d);
    return first;
}
