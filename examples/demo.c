/*
 * sshbpp_demo: pushes a few messages through two Packetizers joined by a
 * socketpair, for every supported cipher x MAC (AEAD ciphers: no MAC), with
 * zlib on for some combinations. A sender thread writes, the main thread
 * reads and compares. One line per combination, then a summary; exit status
 * 1 if any combination failed.
 *
 * Usage: sshbpp_demo [-q]    (-q: print only failures and the summary)
 *
 * Only the public API is used (sshbpp.h, sshbpp_io.h), plus OpenSSL's
 * RAND_bytes for the keys.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <sshbpp/sshbpp.h>
#include <sshbpp/sshbpp_io.h>

/* Message sizes (payload incl. type byte): tiny, small, one full 32 KiB
 * channel window chunk, and a large one near paramiko's 64 KiB reads. */
static const size_t msg_sizes[] = {1, 777, 32768, 65000};
#define N_MSGS (sizeof(msg_sizes) / sizeof(msg_sizes[0]))

/* Seconds before a hung combination kills the process (SIGALRM). Generous
 * so that the demo also passes under valgrind. */
#define WATCHDOG_S 120

struct sender {
    sshbpp_packetizer *p;
    uint8_t *msgs[N_MSGS];
    int err;       /* first error from sshbpp_packetizer_send_message, 0 if none */
    size_t failed; /* index of the failing message */
};

/* Fills a payload: message type byte, then a mix of repeated text (which
 * zlib shrinks) and pseudo-random bytes (which it does not). */
static void fill_payload(uint8_t *buf, size_t len, uint32_t seed)
{
    static const char text[] = "The quick brown fox jumps over the lazy dog. ";
    uint32_t x = seed * 2654435761u + 1u;
    size_t i;

    buf[0] = 94; /* SSH_MSG_CHANNEL_DATA */
    for (i = 1; i < len; i++) {
        if ((i / 512) % 2 == 0) {
            buf[i] = (uint8_t)text[i % (sizeof(text) - 1)];
        } else {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (uint8_t)x;
        }
    }
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    size_t i;

    for (i = 0; i < N_MSGS; i++) {
        int rc = sshbpp_packetizer_send_message(s->p, s->msgs[i], msg_sizes[i]);
        if (rc != 0) {
            s->err = rc;
            s->failed = i;
            /* Closing our end wakes the reader with EOF instead of a hang. */
            sshbpp_packetizer_close(s->p);
            break;
        }
    }
    return NULL;
}

static int random_bytes(uint8_t *buf, size_t len)
{
    if (len == 0)
        return 0;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

/* Runs one combination. mac is NULL for AEAD ciphers, comp NULL for none.
 * Prints its line; returns 0 if everything matched. */
static int run_combo(const char *cipher, const char *mac, const char *comp, int quiet)
{
    uint8_t key[128], iv[64], mac_key[128];
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi;
    sshbpp_keys k;
    sshbpp_packetizer *a = NULL, *b = NULL;
    struct sender snd;
    pthread_t tid;
    int sv[2] = {-1, -1};
    char label[256];
    char why[512] = "";
    char rwhy[160] = ""; /* what went wrong on the reading side */
    size_t i, got = 0, payload_bytes = 0;
    sshbpp_stats out_st, in_st;
    int rc, ok = 0;

    memset(&snd, 0, sizeof(snd));
    memset(&mi, 0, sizeof(mi));
    snprintf(label, sizeof(label), "%s%s%s%s%s", cipher, mac ? " + " : "", mac ? mac : "",
             comp ? " + " : "", comp ? comp : "");

    rc = sshbpp_cipher_get_info(cipher, &ci);
    if (rc != 0) {
        snprintf(why, sizeof(why), "cipher_info_get: %s", sshbpp_err_name(rc));
        goto out;
    }
    if (mac) {
        rc = sshbpp_mac_get_info(mac, &mi);
        if (rc != 0) {
            snprintf(why, sizeof(why), "mac_info_get: %s", sshbpp_err_name(rc));
            goto out;
        }
    }
    if (ci.key_len > sizeof(key) || ci.iv_len > sizeof(iv) || mi.key_len > sizeof(mac_key)) {
        snprintf(why, sizeof(why), "key lengths too large for the demo");
        goto out;
    }
    if (random_bytes(key, ci.key_len) || random_bytes(iv, ci.iv_len) ||
        random_bytes(mac_key, mi.key_len)) {
        snprintf(why, sizeof(why), "RAND_bytes failed");
        goto out;
    }

    for (i = 0; i < N_MSGS; i++) {
        snd.msgs[i] = malloc(msg_sizes[i]);
        if (!snd.msgs[i]) {
            snprintf(why, sizeof(why), "out of memory");
            goto out;
        }
        fill_payload(snd.msgs[i], msg_sizes[i], (uint32_t)i + 1u);
        payload_bytes += msg_sizes[i];
    }

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        snprintf(why, sizeof(why), "socketpair: %s", strerror(errno));
        goto out;
    }
    a = sshbpp_packetizer_new_fd(sv[0], 1);
    if (a)
        sv[0] = -1;
    b = sshbpp_packetizer_new_fd(sv[1], 1);
    if (b)
        sv[1] = -1;
    if (!a || !b) {
        snprintf(why, sizeof(why), "sshbpp_packetizer_new_fd failed");
        goto out;
    }

    memset(&k, 0, sizeof(k));
    k.cipher = cipher;
    k.key = key;
    k.key_len = ci.key_len;
    k.iv = iv;
    k.iv_len = ci.iv_len;
    k.mac = mac;
    k.mac_key = mac ? mac_key : NULL;
    k.mac_key_len = mac ? mi.key_len : 0;

    rc = sshbpp_packetizer_set_outbound_cipher(a, &k);
    if (rc == 0)
        rc = sshbpp_packetizer_set_inbound_cipher(b, &k);
    if (rc != 0) {
        snprintf(why, sizeof(why), "set cipher: %s", sshbpp_err_name(rc));
        goto out;
    }
    if (comp) {
        rc = sshbpp_packetizer_set_outbound_compressor(a, comp);
        if (rc == 0)
            rc = sshbpp_packetizer_set_inbound_compressor(b, comp);
        if (rc != 0) {
            snprintf(why, sizeof(why), "set compressor: %s", sshbpp_err_name(rc));
            goto out;
        }
    }

    snd.p = a;
    alarm(WATCHDOG_S);
    rc = pthread_create(&tid, NULL, sender_main, &snd);
    if (rc != 0) {
        snprintf(why, sizeof(why), "pthread_create: %s", strerror(rc));
        goto out;
    }

    for (got = 0; got < N_MSGS; got++) {
        sshbpp_packet pkt;
        rc = sshbpp_packetizer_read_message(b, &pkt);
        if (rc != 0) {
            snprintf(rwhy, sizeof(rwhy), "read_message #%zu: %s", got, sshbpp_err_name(rc));
            break;
        }
        if (pkt.len != msg_sizes[got] || pkt.type != snd.msgs[got][0] ||
            memcmp(pkt.payload, snd.msgs[got], pkt.len) != 0) {
            snprintf(rwhy, sizeof(rwhy), "message #%zu differs (got %zu bytes, sent %zu)", got,
                     pkt.len, msg_sizes[got]);
            break;
        }
    }
    if (got < N_MSGS)
        sshbpp_packetizer_close(b); /* unblocks a sender stuck in write */
    pthread_join(tid, NULL);
    alarm(0);

    if (snd.err != 0) {
        /* The sender's error comes first; a reader error after it is a consequence. */
        snprintf(why, sizeof(why), "send_message #%zu: %s (%s)%s%s", snd.failed,
                 sshbpp_err_name(snd.err), sshbpp_strerror(snd.err), rwhy[0] ? "; then " : "",
                 rwhy);
        goto out;
    }
    if (got < N_MSGS) {
        snprintf(why, sizeof(why), "%s", rwhy);
        goto out;
    }

    sshbpp_engine_get_stats(sshbpp_packetizer_engine(a), SSHBPP_DIR_OUT, &out_st);
    sshbpp_engine_get_stats(sshbpp_packetizer_engine(b), SSHBPP_DIR_IN, &in_st);
    if (out_st.total_packets != N_MSGS || in_st.total_packets != N_MSGS ||
        out_st.total_bytes != in_st.total_bytes || out_st.total_payload != payload_bytes ||
        in_st.total_payload != payload_bytes) {
        snprintf(why, sizeof(why),
                 "stats disagree: out %llu packets/%llu wire/%llu payload, "
                 "in %llu packets/%llu wire/%llu payload",
                 (unsigned long long)out_st.total_packets, (unsigned long long)out_st.total_bytes,
                 (unsigned long long)out_st.total_payload, (unsigned long long)in_st.total_packets,
                 (unsigned long long)in_st.total_bytes, (unsigned long long)in_st.total_payload);
        goto out;
    }
    ok = 1;
    if (!quiet)
        printf("%s: %zu packets, %zu payload bytes, %llu wire bytes OK\n", label, (size_t)N_MSGS,
               payload_bytes, (unsigned long long)out_st.total_bytes);

out:
    if (!ok)
        printf("%s: FAILED: %s\n", label, why[0] ? why : "unknown error");
    sshbpp_packetizer_free(a);
    sshbpp_packetizer_free(b);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    for (i = 0; i < N_MSGS; i++)
        free(snd.msgs[i]);
    fflush(stdout);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* Compression cycles along the ciphers and the MACs, so that every MAC
     * meets zlib with some cipher: none, zlib, none, zlib@openssh.com. */
    static const char *const comps[] = {NULL, "zlib", NULL, "zlib@openssh.com"};
    const unsigned n_comps = sizeof(comps) / sizeof(comps[0]);
    const char *const *ciphers = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    const char *const *macs = sshbpp_alg_list(SSHBPP_ALG_MAC);
    unsigned combos = 0, failures = 0;
    size_t c, m;
    int quiet = 0;

    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quiet = 1;
    } else if (argc > 1) {
        fprintf(stderr, "usage: %s [-q]\n", argv[0]);
        return 2;
    }

    /* A peer closing mid-write must give EEOF/EIO, not kill the process. */
    signal(SIGPIPE, SIG_IGN);

    if (!ciphers || !ciphers[0] || !macs || !macs[0]) {
        printf("sshbpp_alg_list() returned no ciphers or no MACs\n");
        return 1;
    }

    printf("sshbpp %s demo: %zu messages per combination over a socketpair\n",
           SSHBPP_VERSION_STRING, (size_t)N_MSGS);
    for (c = 0; ciphers[c]; c++) {
        sshbpp_cipher_info ci;
        int aead = sshbpp_cipher_get_info(ciphers[c], &ci) == 0 && ci.aead;

        if (aead) {
            failures += (unsigned)run_combo(ciphers[c], NULL, comps[c % n_comps], quiet);
            combos++;
            continue;
        }
        for (m = 0; macs[m]; m++) {
            failures += (unsigned)run_combo(ciphers[c], macs[m], comps[(c + m) % n_comps], quiet);
            combos++;
        }
    }

    if (failures == 0)
        printf("%u combinations OK\n", combos);
    else
        printf("%u of %u combinations FAILED\n", failures, combos);
    return failures == 0 ? 0 : 1;
}
