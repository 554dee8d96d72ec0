/*
 * exec_mt.c: eight (or N) threads on one connection, each with its own
 * channel running `cat`, and a writer thread beside each reader, through
 * the blocking channel API (sshbpp_driver_channel.h), for test_exec.py.
 *
 * usage: exec_mt HOST PORT USER KEYFILE NTHREADS BYTES
 * Each channel gets BYTES of its own pattern and must give the same bytes
 * back (SHA-256 compared). Prints one line per channel and exits 0 when
 * every channel passed, 1 otherwise, 2 on a setup error.
 *
 * Every thread opens its channel and starts cat before any data moves (a
 * barrier): Debian 12's Dropbear 2022.83 closes a channel that is open but
 * has no command yet when another channel's child exits meanwhile, then
 * fails an assertion and drops the connection (mkj/dropbear#321, fixed in
 * 2024.86). The transfers themselves all run at once.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sshbpp/sshbpp.h"

#define MAXT 64

static pthread_barrier_t started;

struct job {
    sshbpp_driver_channels *dc;
    unsigned idx;
    uint32_t id;
    size_t bytes, got;
    int wr_rc, rd_rc, status, ok;
    char what[64];
};

static uint8_t
pattern(unsigned idx, size_t off)
{
    return (uint8_t)((off * (2u * idx + 5u)) ^ (off >> 13) ^ (idx * 37u));
}

static int
hostkey(void *ctx, const char *alg, const char *fp, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)alg, (void)fp, (void)blob, (void)len;
    return 1;
}

static void
digest_pattern(unsigned idx, size_t bytes, uint8_t out[32])
{
    static __thread uint8_t buf[65536];
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    size_t off = 0, k, i;
    unsigned hl;

    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    while (off < bytes) {
        k = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);
        for (i = 0; i < k; i++)
            buf[i] = pattern(idx, off + i);
        EVP_DigestUpdate(h, buf, k);
        off += k;
    }
    EVP_DigestFinal_ex(h, out, &hl);
    EVP_MD_CTX_free(h);
}

static void *
writer(void *p)
{
    static __thread uint8_t buf[100003];
    struct job *j = p;
    size_t off = 0, k, i;

    while (off < j->bytes) {
        k = 1 + (off * 7 + j->idx * 4099) % sizeof(buf);
        if (k > j->bytes - off)
            k = j->bytes - off;
        for (i = 0; i < k; i++)
            buf[i] = pattern(j->idx, off + i);
        if ((j->wr_rc = sshbpp_driver_channel_write(j->dc, j->id, 0, buf, k, 120000)) != 0)
            return NULL;
        off += k;
    }
    j->wr_rc = sshbpp_driver_channel_eof(j->dc, j->id);
    return NULL;
}

static void *
worker(void *p)
{
    static __thread uint8_t buf[65536];
    struct job *j = p;
    uint8_t got[32], want[32];
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    pthread_t wt;
    unsigned hl;
    char sig[32];
    long n;
    int r;

    if ((r = sshbpp_driver_channel_open_session(j->dc, &j->id, NULL, 30000)) == 0)
        r = sshbpp_driver_channel_exec(j->dc, j->id, "cat", 30000);
    pthread_barrier_wait(&started);
    if (r != 0) {
        snprintf(j->what, sizeof(j->what), "open/exec %s", sshbpp_err_name(r));
        EVP_MD_CTX_free(h);
        return NULL;
    }
    if (pthread_create(&wt, NULL, writer, j) != 0) {
        snprintf(j->what, sizeof(j->what), "pthread_create");
        EVP_MD_CTX_free(h);
        return NULL;
    }
    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    while ((n = sshbpp_driver_channel_read(j->dc, j->id, 0, buf, sizeof(buf), 120000)) > 0) {
        EVP_DigestUpdate(h, buf, (size_t)n);
        j->got += (size_t)n;
    }
    j->rd_rc = (int)n;
    pthread_join(wt, NULL);
    EVP_DigestFinal_ex(h, got, &hl);
    EVP_MD_CTX_free(h);
    digest_pattern(j->idx, j->bytes, want);
    r = sshbpp_driver_channel_wait_exit(j->dc, j->id, &j->status, sig, sizeof(sig), 30000);
    if (r == 0)
        r = sshbpp_driver_channel_close(j->dc, j->id, 30000);
    j->ok = r == 0 && j->rd_rc == 0 && j->wr_rc == 0 && j->status == 0 && j->got == j->bytes &&
            memcmp(got, want, 32) == 0;
    snprintf(j->what, sizeof(j->what), "rc %s read %s write %s status %d",
             sshbpp_err_name(r), sshbpp_err_name(j->rd_rc), sshbpp_err_name(j->wr_rc), j->status);
    return NULL;
}

int
main(int argc, char **argv)
{
    static struct job jobs[MAXT];
    pthread_t t[MAXT];
    sshbpp_conn_config cfg;
    sshbpp_driver_channels *dc;
    sshbpp_driver *d;
    unsigned long long bytes;
    int r, n, i, bad = 0;

    if (argc != 7 || (n = atoi(argv[5])) < 1 || n > MAXT ||
        (bytes = strtoull(argv[6], NULL, 10)) == 0) {
        fprintf(stderr, "usage: %s host port user keyfile nthreads bytes\n", argv[0]);
        return 2;
    }
    sshbpp_conn_config_init(&cfg, SSHBPP_ROLE_CLIENT);
    if ((d = sshbpp_driver_connect(argv[1], argv[2], &cfg, 10000, &r)) == NULL) {
        fprintf(stderr, "connect: %s\n", sshbpp_err_name(r));
        return 2;
    }
    sshbpp_driver_set_hostkey_cb(d, hostkey, NULL);
    if ((r = sshbpp_driver_handshake(d, 30000)) != 0 ||
        (r = sshbpp_driver_auth_publickey_file(d, argv[3], argv[4], 30000)) != 0 ||
        (dc = sshbpp_driver_channels_new(d, NULL)) == NULL) {
        fprintf(stderr, "setup: %s\n", sshbpp_err_name(r));
        return 2;
    }
    if (pthread_barrier_init(&started, NULL, (unsigned)n) != 0) {
        fprintf(stderr, "pthread_barrier_init\n");
        return 2;
    }
    for (i = 0; i < n; i++) {
        jobs[i].dc = dc;
        jobs[i].idx = (unsigned)i;
        jobs[i].bytes = (size_t)bytes;
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create\n");
            return 2;
        }
    }
    for (i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < n; i++) {
        printf("channel %d %s: %zu of %zu bytes back, %s\n", i, jobs[i].ok ? "ok" : "FAILED",
               jobs[i].got, jobs[i].bytes, jobs[i].what);
        bad += !jobs[i].ok;
    }
    printf("%s\n", bad ? "SOME FAILED" : "ALL OK");
    fflush(stdout);
    sshbpp_driver_channels_free(dc);
    (void)sshbpp_driver_disconnect(d, SSHBPP_DISCONNECT_BY_APPLICATION, "bye", 2000);
    sshbpp_driver_free(d);
    return bad ? 1 : 0;
}
