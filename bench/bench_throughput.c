/*
 * bench_throughput.c: packet-layer throughput, as paramiko's figures in
 * shared/spec/packetizer.md section 9 were taken (one writer thread, one
 * reader, socketpair, payloads of a fixed size), plus an in-memory mode
 * that measures the engine alone (encrypt + decrypt on one core).
 *
 *   sshbpp_bench [--mode engine|socket] [--size N] [--mib M] [--runs R]
 *                [--case CIPHER+MAC ...]
 *
 * Prints one line per case with the median MB/s (10^6 bytes of payload per
 * second) and packets/s over R runs, then the peak RSS.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sshbpp/sshbpp.h"
#include "sshbpp/sshbpp_io.h"

static const char *const default_cases[] = {
    "none",
    "aes128-ctr+hmac-sha2-256",
    "aes128-ctr+hmac-sha2-256-etm@openssh.com",
    "aes128-ctr+hmac-sha1",
    "aes256-cbc+hmac-sha2-512",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    NULL,
};

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Splits "cipher+mac" and fills matching keys; returns 0 or -1. */
static int
make_keys(const char *spec, sshbpp_keys *k, char *cipher, char *mac, uint8_t *key, uint8_t *iv,
          uint8_t *mkey)
{
    const char *plus = strchr(spec, '+');
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi = {0};
    size_t n = plus != NULL ? (size_t)(plus - spec) : strlen(spec);

    if (n >= 64)
        return -1;
    memcpy(cipher, spec, n);
    cipher[n] = '\0';
    mac[0] = '\0';
    if (plus != NULL) {
        if (strlen(plus + 1) >= 64)
            return -1;
        strcpy(mac, plus + 1);
    }
    if (sshbpp_cipher_get_info(cipher, &ci) != 0)
        return -1;
    if (mac[0] != '\0' && sshbpp_mac_get_info(mac, &mi) != 0)
        return -1;
    memset(key, 0x42, 64);
    memset(iv, 0x24, 16);
    memset(mkey, 0x17, 64);
    memset(k, 0, sizeof(*k));
    k->cipher = cipher;
    k->key = key;
    k->key_len = ci.key_len;
    k->iv = iv;
    k->iv_len = ci.iv_len;
    k->mac = mac[0] != '\0' ? mac : NULL;
    k->mac_key = mkey;
    k->mac_key_len = mi.key_len;
    return 0;
}

/* One in-memory run: a encrypts, b decrypts; returns seconds. */
static double
run_engine(const sshbpp_keys *k, size_t size, size_t count, int *ok)
{
    sshbpp_engine *a = sshbpp_engine_new(), *b = sshbpp_engine_new();
    sshbpp_packet pkt;
    uint8_t *msg = calloc(1, size), *dst;
    const uint8_t *w;
    size_t i, n, room;
    double t0, t;

    *ok = a != NULL && b != NULL && msg != NULL && sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, k) == 0 &&
          sshbpp_engine_set_keys(b, SSHBPP_DIR_IN, k) == 0;
    if (*ok)
        msg[0] = 94;
    t0 = now();
    for (i = 0; *ok && i < count; i++) {
        if (sshbpp_engine_send(a, msg, size) != 0) {
            *ok = 0;
            break;
        }
        w = sshbpp_engine_tx_data(a, &n);
        dst = sshbpp_engine_rx_space(b, n, &room);
        if (dst == NULL || room < n) {
            *ok = 0;
            break;
        }
        memcpy(dst, w, n);
        sshbpp_engine_rx_commit(b, n);
        sshbpp_engine_tx_consume(a, n);
        if (sshbpp_engine_rx_next(b, &pkt) != 0 || pkt.len != size)
            *ok = 0;
    }
    t = now() - t0;
    sshbpp_engine_free(a);
    sshbpp_engine_free(b);
    free(msg);
    return t;
}

struct writer {
    sshbpp_packetizer *p;
    size_t size, count;
    int ok;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t *msg = calloc(1, w->size);
    size_t i;

    w->ok = msg != NULL;
    if (msg != NULL)
        msg[0] = 94;
    for (i = 0; w->ok && i < w->count; i++)
        if (sshbpp_packetizer_send_message(w->p, msg, w->size) != 0)
            w->ok = 0;
    free(msg);
    return NULL;
}

/* One socketpair run: writer thread sends, this thread reads. */
static double
run_socket(const sshbpp_keys *k, size_t size, size_t count, int *ok)
{
    int sv[2];
    sshbpp_packetizer *pw, *pr;
    struct writer w;
    pthread_t th;
    sshbpp_packet pkt;
    size_t i;
    double t0, t;

    *ok = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    pw = sshbpp_packetizer_new_fd(sv[0], 1);
    pr = sshbpp_packetizer_new_fd(sv[1], 1);
    if (pw == NULL || pr == NULL || sshbpp_packetizer_set_outbound_cipher(pw, k) != 0 ||
        sshbpp_packetizer_set_inbound_cipher(pr, k) != 0) {
        sshbpp_packetizer_free(pw);
        sshbpp_packetizer_free(pr);
        return 0;
    }
    w.p = pw;
    w.size = size;
    w.count = count;
    w.ok = 0;
    t0 = now();
    if (pthread_create(&th, NULL, writer_main, &w) != 0)
        return 0;
    *ok = 1;
    for (i = 0; i < count; i++)
        if (sshbpp_packetizer_read_message(pr, &pkt) != 0 || pkt.len != size) {
            *ok = 0;
            break;
        }
    t = now() - t0;
    if (!*ok)
        sshbpp_packetizer_close(pw);
    pthread_join(th, NULL);
    *ok = *ok && w.ok;
    sshbpp_packetizer_free(pw);
    sshbpp_packetizer_free(pr);
    return t;
}

int
main(int argc, char **argv)
{
    const char *cases[32];
    const char *mode = "socket";
    size_t ncases = 0, size = 32768, mib = 256, runs = 5, i, r;
    struct rusage ru;

    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < (size_t)argc)
            mode = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < (size_t)argc)
            size = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--mib") == 0 && i + 1 < (size_t)argc)
            mib = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < (size_t)argc)
            runs = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--case") == 0 && i + 1 < (size_t)argc && ncases < 31)
            cases[ncases++] = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--mode engine|socket] [--size BYTES] [--mib TOTAL] "
                    "[--runs N] [--case CIPHER[+MAC]]...\n",
                    argv[0]);
            return 2;
        }
    }
    if (ncases == 0)
        for (; default_cases[ncases] != NULL; ncases++)
            cases[ncases] = default_cases[ncases];
    if (size == 0 || size > 200000 || runs == 0 || runs > 99 || mib == 0) {
        fprintf(stderr, "sshbpp_bench: bad --size/--runs/--mib\n");
        return 2;
    }

    printf("mode %s, payload %zu B, %zu MiB per run, median of %zu runs\n", mode, size, mib, runs);
    for (i = 0; i < ncases; i++) {
        char cipher[64], mac[64];
        uint8_t key[64], iv[16], mkey[64];
        double secs[99], med;
        size_t count = (mib << 20) / size;
        sshbpp_keys k;
        int ok = 1;

        if (count == 0)
            count = 1;
        if (make_keys(cases[i], &k, cipher, mac, key, iv, mkey) != 0) {
            fprintf(stderr, "sshbpp_bench: unknown case %s\n", cases[i]);
            return 2;
        }
        for (r = 0; r < runs && ok; r++)
            secs[r] = strcmp(mode, "engine") == 0 ? run_engine(&k, size, count, &ok)
                                                  : run_socket(&k, size, count, &ok);
        if (!ok) {
            fprintf(stderr, "sshbpp_bench: %s failed\n", cases[i]);
            return 1;
        }
        qsort(secs, runs, sizeof(secs[0]), cmp_double);
        med = secs[runs / 2];
        printf("%-44s %9.1f MB/s %10.0f packets/s\n", cases[i],
               (double)count * (double)size / med / 1e6, (double)count / med);
        fflush(stdout);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld KiB\n", ru.ru_maxrss);
    return 0;
}
