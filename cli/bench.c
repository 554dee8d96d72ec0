/*
 * bench.c: `sshbpp bench`, throughput of the packet layer against its limits.
 *
 * For each suite (an AEAD cipher name, or CIPHER+MAC) and payload size it
 * measures, in one run:
 *   engine  one engine seals, a second opens, on one thread (so one core
 *           does both directions' crypto);
 *   socket  two Packetizers over a socketpair, a sender thread calling
 *           send_message() and a reader thread calling read_message(),
 *           every payload checked (its counter and its bytes);
 *   batch   the same with send_messages(), many packets per write;
 * and the limits it compares them with:
 *   crypto  the suite's raw EVP calls (the same ones the engine makes, see
 *           src/cipher.c and src/mac.c) over a buffer of the payload size,
 *           seal only (one direction: a socket end's share) and seal+open
 *           (the engine mode's work on one core);
 *   rawsock the same socketpair with the same write sizes (one packet's or
 *           one batch's wire bytes) and 64 KiB reads, no crypto, counted
 *           as payload bytes.
 * The engine mode's limit is crypto seal+open; socket and batch modes'
 * limit is min(crypto seal, rawsock). In table mode each suite and size
 * also shows `openssl speed -evp` (or -hmac) for the same buffer size, so a
 * slow limit loop would show (run with -elapsed: wall-clock time, as every
 * figure here, so a shared, loaded machine affects both alike). MB = 10^6
 * bytes of payload.
 */
#include "common.h"

#include <getopt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sshbpp/sshbpp_io.h"

enum {
    BOPT_SUITE = 600,
    BOPT_SIZE,
    BOPT_SECONDS,
    BOPT_JSON,
    BOPT_NO_OPENSSL,
    BOPT_MODES,
    BOPT_HELP
};

#define MAX_SUITES 16
#define MAX_SIZES 16
#define MAX_BATCH 256
#define SLICES 3 /* interleaved slices per figure; median3() assumes 3 */
#define BATCH_BYTES 65536
#define RAW_READ 65536

static const char *const default_suites[] = {
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr+hmac-sha2-256",
    "aes128-ctr+hmac-sha2-256-etm@openssh.com",
    NULL,
};
static const long default_sizes[] = {64, 256, 1024, 32768};

struct suite {
    char name[160];
    char cipher[64];
    char mac[80];
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi;
    uint8_t key[64], iv[16], mkey[64];
    sshbpp_keys k;
};

struct result {
    double pps;  /* packets per second */
    double mbps; /* payload MB/s */
};

static void
bench_usage(FILE *f)
{
    fprintf(f, "usage: sshbpp bench [--suite NAME]... [--size BYTES]... [--seconds N] [--json]\n"
               "                    [--modes engine,socket,batch] [--no-openssl]\n");
}

static void
bench_help(void)
{
    bench_usage(stdout);
    printf("\n"
           "Measures the packet layer for each suite and payload size: the engine in\n"
           "memory (seal and open on one core), two Packetizers over a socketpair\n"
           "(sender and reader threads, every payload verified), and the batch path\n"
           "(sshbpp_packetizer_send_messages), each beside its limit: the suite's raw\n"
           "EVP crypto on one core, and a raw socketpair with the same read and write\n"
           "sizes. MB = 10^6 bytes of payload.\n"
           "\n"
           "  --suite NAME    AEAD cipher (aes128-gcm@openssh.com) or CIPHER+MAC\n"
           "                  (aes128-ctr+hmac-sha2-256); repeatable (default: four)\n"
           "  --size BYTES    payload bytes incl. the type byte, 16..65536; repeatable\n"
           "                  (default 64, 256, 1024, 32768)\n"
           "  --seconds N     seconds per figure, taken as 3 interleaved slices with its\n"
           "                  limits, median reported (default 1; fractions allowed)\n"
           "  --modes LIST    comma-separated subset of engine,socket,batch\n"
           "  --json          one JSON object per line on stdout, nothing else\n"
           "  --no-openssl    do not run `openssl speed` for the reference column\n");
}

/* ---------------------------------------------------------------------- */
/* suites                                                                  */

static int
suite_parse(const char *spec, struct suite *s)
{
    const char *plus = strchr(spec, '+');
    size_t cl = plus != NULL ? (size_t)(plus - spec) : strlen(spec);
    int r;

    memset(s, 0, sizeof(*s));
    if (strlen(spec) >= sizeof(s->name) || cl >= sizeof(s->cipher) ||
        (plus != NULL && strlen(plus + 1) >= sizeof(s->mac)))
        return SSHBPP_EINVAL;
    snprintf(s->name, sizeof(s->name), "%s", spec);
    memcpy(s->cipher, spec, cl);
    s->cipher[cl] = '\0';
    if ((r = sshbpp_cipher_get_info(s->cipher, &s->ci)) != 0)
        return r;
    if (strcmp(s->cipher, "none") == 0)
        return SSHBPP_EUNSUPPORTED;
    if (s->ci.aead) {
        if (plus != NULL)
            return SSHBPP_EINVAL;
    } else {
        if (plus == NULL)
            return SSHBPP_EINVAL; /* a non-AEAD suite needs its MAC */
        snprintf(s->mac, sizeof(s->mac), "%s", plus + 1);
        if ((r = sshbpp_mac_get_info(s->mac, &s->mi)) != 0)
            return r;
    }
    /* Fixed keys: throughput does not depend on their value. */
    memset(s->key, 0x42, sizeof(s->key));
    memset(s->iv, 0x24, sizeof(s->iv));
    memset(s->mkey, 0x17, sizeof(s->mkey));
    s->k.cipher = s->cipher;
    s->k.key = s->key;
    s->k.key_len = s->ci.key_len;
    s->k.iv = s->iv;
    s->k.iv_len = s->ci.iv_len;
    s->k.mac = s->ci.aead ? NULL : s->mac;
    s->k.mac_key = s->mkey;
    s->k.mac_key_len = s->mi.key_len;
    return 0;
}

/* The payload: type 94 (channel data), a 64-bit counter at [1, 9), then a
 * fixed pattern the reader checks. */
static void
fill_payload(uint8_t *p, size_t size, uint64_t counter)
{
    size_t i;

    p[0] = 94;
    for (i = 0; i < 8 && 1 + i < size; i++)
        p[1 + i] = (uint8_t)(counter >> (8 * i));
}

static void
fill_pattern(uint8_t *p, size_t size)
{
    size_t i;

    for (i = 9; i < size; i++)
        p[i] = (uint8_t)(i * 31 + 7);
}

static uint64_t
payload_counter(const uint8_t *p)
{
    uint64_t c = 0;
    int i;

    for (i = 0; i < 8; i++)
        c |= (uint64_t)p[1 + i] << (8 * i);
    return c;
}

/* Wire bytes of one packet of this payload size under this suite. */
static size_t
wire_size(const struct suite *s, size_t size, uint8_t *scratch)
{
    sshbpp_engine *e = sshbpp_engine_new();
    size_t n = 0;

    if (e == NULL)
        return 0;
    memset(scratch, 0, size);
    scratch[0] = 94;
    if (sshbpp_engine_set_keys(e, SSHBPP_DIR_OUT, &s->k) == 0 &&
        sshbpp_engine_send(e, scratch, size) == 0)
        (void)sshbpp_engine_tx_data(e, &n);
    sshbpp_engine_free(e);
    return n;
}

static void
sleep_until(double t)
{
    for (;;) {
        double left = t - cli_now();
        struct timespec ts;
        if (left <= 0)
            return;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        (void)nanosleep(&ts, NULL);
    }
}

/* A figure runs gigabytes under one set of keys (a 1 s slice of AES-GCM
 * passes paramiko's 2^29 + 2^29 byte limits); rekeys are not what is
 * measured, so lift the limits to where only the sequence number
 * (2^32 packets) and the cipher's RFC 4344 block bound remain. */
static int
lift_rekey_limits(sshbpp_engine *e)
{
    sshbpp_rekey_limits l;

    sshbpp_rekey_limits_default(&l);
    l.packets = l.packets_overflow = (uint64_t)1 << 40;
    l.bytes = l.bytes_overflow = (uint64_t)1 << 62;
    return sshbpp_engine_set_rekey_limits(e, &l);
}

/* ---------------------------------------------------------------------- */
/* engine mode                                                             */

static int
run_engine(const struct suite *s, size_t size, double secs, uint8_t *msg, struct result *res)
{
    sshbpp_engine *tx = sshbpp_engine_new(), *rx = sshbpp_engine_new();
    sshbpp_packet pkt;
    uint64_t count = 0;
    double t0, t;
    int rc = SSHBPP_ENOMEM;

    if (tx == NULL || rx == NULL)
        goto out;
    if ((rc = lift_rekey_limits(tx)) != 0 || (rc = lift_rekey_limits(rx)) != 0 ||
        (rc = sshbpp_engine_set_keys(tx, SSHBPP_DIR_OUT, &s->k)) != 0 ||
        (rc = sshbpp_engine_set_keys(rx, SSHBPP_DIR_IN, &s->k)) != 0)
        goto out;
    fill_pattern(msg, size);
    t0 = cli_now();
    for (;;) {
        const uint8_t *w;
        uint8_t *dst;
        size_t n, room;
        int j;

        for (j = 0; j < 64; j++) {
            fill_payload(msg, size, count);
            if ((rc = sshbpp_engine_send(tx, msg, size)) != 0)
                goto out;
            w = sshbpp_engine_tx_data(tx, &n);
            dst = sshbpp_engine_rx_space(rx, n, &room);
            if (dst == NULL || room < n) {
                rc = sshbpp_engine_error(rx) != 0 ? sshbpp_engine_error(rx) : SSHBPP_ENOMEM;
                goto out;
            }
            memcpy(dst, w, n);
            sshbpp_engine_rx_commit(rx, n);
            sshbpp_engine_tx_consume(tx, n);
            if ((rc = sshbpp_engine_rx_next(rx, &pkt)) != 0)
                goto out;
            if (pkt.len != size || payload_counter(pkt.payload) != count) {
                rc = SSHBPP_EPROTO;
                goto out;
            }
            count++;
        }
        t = cli_now() - t0;
        if (t >= secs)
            break;
    }
    res->pps = (double)count / t;
    res->mbps = res->pps * (double)size / 1e6;
    rc = 0;
out:
    sshbpp_engine_free(tx);
    sshbpp_engine_free(rx);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* socket and batch modes                                                  */

struct sock_run {
    sshbpp_packetizer *w, *r;
    size_t size;
    size_t batch; /* 0: send_message; else messages per send_messages() */
    atomic_int stop;
    uint64_t sent, got;
    int wrc, rrc;
    double t_end;
    uint8_t *bufs; /* batch (or 1) payload buffers of size bytes */
};

static void *
sock_writer(void *arg)
{
    struct sock_run *sr = arg;
    sshbpp_iov iov[MAX_BATCH];
    size_t nb = sr->batch == 0 ? 1 : sr->batch, i;
    uint8_t end = 2; /* SSH_MSG_IGNORE ends the run */
    int rc = 0;

    for (i = 0; i < nb; i++) {
        fill_pattern(sr->bufs + i * sr->size, sr->size);
        iov[i].base = sr->bufs + i * sr->size;
        iov[i].len = sr->size;
    }
    while (!atomic_load_explicit(&sr->stop, memory_order_relaxed)) {
        for (i = 0; i < nb; i++)
            fill_payload(sr->bufs + i * sr->size, sr->size, sr->sent + i);
        if (sr->batch == 0)
            rc = sshbpp_packetizer_send_message(sr->w, sr->bufs, sr->size);
        else
            rc = sshbpp_packetizer_send_messages(sr->w, iov, nb);
        if (rc != 0)
            break;
        sr->sent += nb;
    }
    if (rc == 0)
        rc = sshbpp_packetizer_send_message(sr->w, &end, 1);
    sr->wrc = rc;
    return NULL;
}

static void *
sock_reader(void *arg)
{
    struct sock_run *sr = arg;
    uint8_t *ref = malloc(sr->size);
    sshbpp_packet pkt;
    int rc = 0;

    if (ref == NULL) {
        sr->rrc = SSHBPP_ENOMEM;
        return NULL;
    }
    fill_pattern(ref, sr->size);
    for (;;) {
        if ((rc = sshbpp_packetizer_read_message(sr->r, &pkt)) != 0)
            break;
        if (pkt.type == 2 && pkt.len == 1)
            break;
        /* every payload verified: type, length, counter and bytes */
        if (pkt.type != 94 || pkt.len != sr->size || payload_counter(pkt.payload) != sr->got ||
            (sr->size > 9 && memcmp(pkt.payload + 9, ref + 9, sr->size - 9) != 0)) {
            rc = SSHBPP_EPROTO;
            break;
        }
        sr->got++;
    }
    sr->t_end = cli_now();
    sr->rrc = rc;
    if (rc != 0)
        sshbpp_packetizer_close(sr->w); /* wakes a writer stuck on a full socket */
    free(ref);
    return NULL;
}

static int
run_socket(const struct suite *s, size_t size, size_t batch, double secs, struct result *res)
{
    struct sock_run sr;
    pthread_t tw, tr;
    int sv[2], rc;
    double t0;

    memset(&sr, 0, sizeof(sr));
    sr.size = size;
    sr.batch = batch;
    atomic_init(&sr.stop, 0);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return SSHBPP_EIO;
    sr.w = sshbpp_packetizer_new_fd(sv[0], 1);
    sr.r = sshbpp_packetizer_new_fd(sv[1], 1);
    sr.bufs = malloc((batch == 0 ? 1 : batch) * size);
    if (sr.w == NULL || sr.r == NULL || sr.bufs == NULL) {
        rc = SSHBPP_ENOMEM;
        goto out;
    }
    if ((rc = lift_rekey_limits(sshbpp_packetizer_engine(sr.w))) != 0 ||
        (rc = lift_rekey_limits(sshbpp_packetizer_engine(sr.r))) != 0 ||
        (rc = sshbpp_packetizer_set_outbound_cipher(sr.w, &s->k)) != 0 ||
        (rc = sshbpp_packetizer_set_inbound_cipher(sr.r, &s->k)) != 0)
        goto out;
    t0 = cli_now();
    if (pthread_create(&tr, NULL, sock_reader, &sr) != 0) {
        rc = SSHBPP_ENOMEM;
        goto out;
    }
    if (pthread_create(&tw, NULL, sock_writer, &sr) != 0) {
        sshbpp_packetizer_close(sr.r);
        pthread_join(tr, NULL);
        rc = SSHBPP_ENOMEM;
        goto out;
    }
    sleep_until(t0 + secs);
    atomic_store(&sr.stop, 1);
    pthread_join(tw, NULL);
    if (sr.wrc != 0)
        sshbpp_packetizer_close(sr.r);
    pthread_join(tr, NULL);
    /* the reader's error is the cause when it closed the writer */
    rc = sr.rrc != 0 ? sr.rrc : sr.wrc;
    if (rc != 0)
        cli_error("%s mode: reader %s after %llu packets, writer %s after %llu",
                  batch ? "batch" : "socket", sshbpp_err_name(sr.rrc),
                  (unsigned long long)sr.got, sshbpp_err_name(sr.wrc),
                  (unsigned long long)sr.sent);
    if (rc == 0 && sr.got != sr.sent)
        rc = SSHBPP_EPROTO;
    if (rc == 0) {
        res->pps = (double)sr.got / (sr.t_end - t0);
        res->mbps = res->pps * (double)size / 1e6;
    }
out:
    sshbpp_packetizer_free(sr.w);
    sshbpp_packetizer_free(sr.r);
    free(sr.bufs);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* limits: raw crypto                                                      */

struct rawc {
    EVP_CIPHER_CTX *c, *c2, *d, *d2;
    EVP_MAC_CTX *m, *m2;
    int mode; /* 0 gcm, 1 chacha, 2 cipher + hmac */
    uint8_t iv[12];
};

static void
rawc_free(struct rawc *x)
{
    EVP_CIPHER_CTX_free(x->c);
    EVP_CIPHER_CTX_free(x->c2);
    EVP_CIPHER_CTX_free(x->d);
    EVP_CIPHER_CTX_free(x->d2);
    EVP_MAC_CTX_free(x->m);
    EVP_MAC_CTX_free(x->m2);
}

static const EVP_CIPHER *
evp_for(const char *cipher)
{
    static const struct {
        const char *ssh;
        const char *evp;
    } map[] = {
        {"aes128-gcm@openssh.com", "AES-128-GCM"}, {"aes256-gcm@openssh.com", "AES-256-GCM"},
        {"aes128-ctr", "AES-128-CTR"},             {"aes192-ctr", "AES-192-CTR"},
        {"aes256-ctr", "AES-256-CTR"},             {"aes128-cbc", "AES-128-CBC"},
        {"aes192-cbc", "AES-192-CBC"},             {"aes256-cbc", "AES-256-CBC"},
        {"3des-cbc", "DES-EDE3-CBC"},              {"chacha20-poly1305@openssh.com", "ChaCha20"},
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].ssh, cipher) == 0)
            return EVP_get_cipherbyname(map[i].evp);
    return NULL;
}

static const char *
digest_for(const char *mac)
{
    if (strncmp(mac, "hmac-sha2-256", 13) == 0)
        return "SHA256";
    if (strncmp(mac, "hmac-sha2-512", 13) == 0)
        return "SHA512";
    if (strncmp(mac, "hmac-sha1", 9) == 0)
        return "SHA1";
    if (strncmp(mac, "hmac-md5", 8) == 0)
        return "MD5";
    return NULL;
}

static EVP_MAC_CTX *
mac_new(const char *kind, const char *digest, const uint8_t *key, size_t klen)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, kind, NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2];
    char dname[16];

    EVP_MAC_free(mac);
    if (ctx == NULL)
        return NULL;
    if (digest != NULL) {
        snprintf(dname, sizeof(dname), "%s", digest);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, dname, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_MAC_init(ctx, key, klen, params) != 1) {
            EVP_MAC_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

static int
rawc_init(struct rawc *x, const struct suite *s)
{
    const EVP_CIPHER *evp = evp_for(s->cipher);

    memset(x, 0, sizeof(*x));
    if (evp == NULL)
        return SSHBPP_EUNSUPPORTED;
    x->c = EVP_CIPHER_CTX_new();
    x->d = EVP_CIPHER_CTX_new();
    if (x->c == NULL || x->d == NULL)
        return SSHBPP_ENOMEM;
    memcpy(x->iv, s->iv, sizeof(x->iv));
    if (strstr(s->cipher, "gcm") != NULL) {
        x->mode = 0;
        if (EVP_CipherInit_ex(x->c, evp, NULL, s->key, NULL, 1) != 1 ||
            EVP_CipherInit_ex(x->d, evp, NULL, s->key, NULL, 0) != 1)
            return SSHBPP_ECRYPTO;
    } else if (s->ci.aead) {
        x->mode = 1;
        x->c2 = EVP_CIPHER_CTX_new();
        x->d2 = EVP_CIPHER_CTX_new();
        x->m = mac_new("POLY1305", NULL, NULL, 0);
        x->m2 = mac_new("POLY1305", NULL, NULL, 0);
        if (x->c2 == NULL || x->d2 == NULL || x->m == NULL || x->m2 == NULL ||
            EVP_CipherInit_ex(x->c, evp, NULL, s->key, NULL, 1) != 1 ||
            EVP_CipherInit_ex(x->c2, evp, NULL, s->key + 32, NULL, 1) != 1 ||
            EVP_CipherInit_ex(x->d, evp, NULL, s->key, NULL, 1) != 1 ||
            EVP_CipherInit_ex(x->d2, evp, NULL, s->key + 32, NULL, 1) != 1)
            return SSHBPP_ECRYPTO;
    } else {
        x->mode = 2;
        x->m = mac_new("HMAC", digest_for(s->mac), s->mkey, s->mi.key_len);
        x->m2 = mac_new("HMAC", digest_for(s->mac), s->mkey, s->mi.key_len);
        if (x->m == NULL || x->m2 == NULL ||
            EVP_CipherInit_ex(x->c, evp, NULL, s->key, s->iv, 1) != 1 ||
            EVP_CipherInit_ex(x->d, evp, NULL, s->key, s->iv, 0) != 1 ||
            EVP_CIPHER_CTX_set_padding(x->c, 0) != 1 || EVP_CIPHER_CTX_set_padding(x->d, 0) != 1)
            return SSHBPP_ECRYPTO;
    }
    return 0;
}

static int
upd(EVP_CIPHER_CTX *c, uint8_t *buf, size_t len)
{
    int outl = 0;

    return EVP_CipherUpdate(c, buf, &outl, buf, (int)len) == 1 ? 0 : SSHBPP_ECRYPTO;
}

static int
chacha_iv(EVP_CIPHER_CTX *c, uint32_t counter, uint32_t seq)
{
    uint8_t iv[16] = {0};

    iv[0] = (uint8_t)counter;
    iv[12] = (uint8_t)(seq >> 24);
    iv[13] = (uint8_t)(seq >> 16);
    iv[14] = (uint8_t)(seq >> 8);
    iv[15] = (uint8_t)seq;
    return EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, 1) == 1 ? 0 : SSHBPP_ECRYPTO;
}

/* One direction's crypto for one buffer: buf[0, len) with the first 4
 * bytes as the length field / AAD, tag or MAC written to tag. open != 0
 * checks and decrypts instead, with the decrypt-side contexts. */
static int
rawc_one(struct rawc *x, uint8_t *buf, size_t len, uint8_t *tag, uint32_t seq, int open)
{
    uint8_t polykey[32], got[64], seqb[4];
    size_t outl = 0;
    int ol = 0;
    EVP_CIPHER_CTX *c = open ? x->d : x->c, *c2 = open ? x->d2 : x->c2;
    EVP_MAC_CTX *m = open ? x->m2 : x->m;

    switch (x->mode) {
    case 0:
        x->iv[11]++; /* a fresh nonce per packet, as the invocation counter */
        if (EVP_CipherInit_ex(c, NULL, NULL, NULL, x->iv, -1) != 1 ||
            (open && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) ||
            EVP_CipherUpdate(c, NULL, &ol, buf, 4) != 1 || upd(c, buf + 4, len - 4) != 0 ||
            EVP_CipherFinal_ex(c, got, &ol) != 1 ||
            (!open && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1))
            return SSHBPP_ECRYPTO;
        return 0;
    case 1:
        memset(polykey, 0, sizeof(polykey));
        if (!open && (chacha_iv(c2, 0, seq) != 0 || upd(c2, buf, 4) != 0 ||
                      chacha_iv(c, 1, seq) != 0 || upd(c, buf + 4, len - 4) != 0))
            return SSHBPP_ECRYPTO;
        if (chacha_iv(c, 0, seq) != 0 || upd(c, polykey, sizeof(polykey)) != 0 ||
            EVP_MAC_init(m, polykey, sizeof(polykey), NULL) != 1 ||
            EVP_MAC_update(m, buf, len) != 1 || EVP_MAC_final(m, got, &outl, 16) != 1)
            return SSHBPP_ECRYPTO;
        if (!open) {
            memcpy(tag, got, 16);
            return 0;
        }
        if (CRYPTO_memcmp(got, tag, 16) != 0 || chacha_iv(c2, 0, seq) != 0 ||
            upd(c2, buf, 4) != 0 || chacha_iv(c, 1, seq) != 0 || upd(c, buf + 4, len - 4) != 0)
            return SSHBPP_ECRYPTO;
        return 0;
    default:
        seqb[0] = (uint8_t)(seq >> 24);
        seqb[1] = (uint8_t)(seq >> 16);
        seqb[2] = (uint8_t)(seq >> 8);
        seqb[3] = (uint8_t)seq;
        /* EtM order for both (the cost is the same either way) */
        if (!open && upd(c, buf + 4, len - 4) != 0)
            return SSHBPP_ECRYPTO;
        if (EVP_MAC_init(m, NULL, 0, NULL) != 1 || EVP_MAC_update(m, seqb, 4) != 1 ||
            EVP_MAC_update(m, buf, len) != 1 || EVP_MAC_final(m, got, &outl, sizeof(got)) != 1)
            return SSHBPP_ECRYPTO;
        if (!open) {
            memcpy(tag, got, outl);
            return 0;
        }
        if (CRYPTO_memcmp(got, tag, outl) != 0 || upd(c, buf + 4, len - 4) != 0)
            return SSHBPP_ECRYPTO;
        return 0;
    }
}

/* Raw crypto loop over a buffer of size bytes (rounded up to the block
 * size so CBC accepts it). both: seal then open each buffer (one core,
 * both directions, as engine mode); else seal only. */
static int
run_crypto(const struct suite *s, size_t size, double secs, int both, struct result *res)
{
    struct rawc x;
    size_t bs = s->ci.block_size, len = (size + bs - 1) / bs * bs;
    uint8_t *buf = calloc(1, len), tag[64];
    uint64_t count = 0;
    uint32_t seq = 0;
    double t0, t;
    int rc, j;

    if (buf == NULL)
        return SSHBPP_ENOMEM;
    if ((rc = rawc_init(&x, s)) != 0)
        goto out;
    t0 = cli_now();
    for (;;) {
        for (j = 0; j < 64; j++) {
            if ((rc = rawc_one(&x, buf, len, tag, seq, 0)) != 0)
                goto out;
            if (both) {
                if (x.mode == 0)
                    x.iv[11]--; /* the opener's nonce is the sealer's */
                if ((rc = rawc_one(&x, buf, len, tag, seq, 1)) != 0)
                    goto out;
            }
            seq++;
            count++;
        }
        t = cli_now() - t0;
        if (t >= secs)
            break;
    }
    res->pps = (double)count / t;
    res->mbps = res->pps * (double)size / 1e6;
out:
    rawc_free(&x);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* limits: raw socketpair                                                  */

struct rawsock {
    int fd;
    size_t wsize;
    atomic_int stop;
    uint64_t bytes;
    double t_end;
    int err;
};

static void *
raw_writer(void *arg)
{
    struct rawsock *rs = arg;
    uint8_t *buf = calloc(1, rs->wsize);

    if (buf == NULL) {
        rs->err = 1;
        shutdown(rs->fd, SHUT_WR);
        return NULL;
    }
    while (!atomic_load_explicit(&rs->stop, memory_order_relaxed)) {
        size_t off = 0;
        while (off < rs->wsize) {
            ssize_t n = send(rs->fd, buf + off, rs->wsize - off, MSG_NOSIGNAL);
            if (n <= 0) {
                rs->err = 1;
                goto done;
            }
            off += (size_t)n;
        }
        rs->bytes += rs->wsize;
    }
done:
    shutdown(rs->fd, SHUT_WR);
    free(buf);
    return NULL;
}

static int
run_rawsock(size_t wsize, double secs, double *bytes_per_s)
{
    struct rawsock rs;
    pthread_t tw;
    int sv[2];
    uint8_t *buf = malloc(RAW_READ);
    uint64_t got = 0;
    double t0;

    if (buf == NULL)
        return SSHBPP_ENOMEM;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        free(buf);
        return SSHBPP_EIO;
    }
    memset(&rs, 0, sizeof(rs));
    rs.fd = sv[0];
    rs.wsize = wsize;
    atomic_init(&rs.stop, 0);
    t0 = cli_now();
    if (pthread_create(&tw, NULL, raw_writer, &rs) != 0) {
        close(sv[0]);
        close(sv[1]);
        free(buf);
        return SSHBPP_ENOMEM;
    }
    for (;;) {
        ssize_t n = read(sv[1], buf, RAW_READ);
        if (n <= 0)
            break;
        got += (uint64_t)n;
        if (!atomic_load_explicit(&rs.stop, memory_order_relaxed) && cli_now() - t0 >= secs)
            atomic_store(&rs.stop, 1);
    }
    pthread_join(tw, NULL);
    *bytes_per_s = (double)got / (cli_now() - t0);
    close(sv[0]);
    close(sv[1]);
    free(buf);
    return rs.err ? SSHBPP_EIO : 0;
}

/* ---------------------------------------------------------------------- */
/* openssl speed, for the reference column                                  */

/* Runs `openssl speed -mr ARGS -bytes N -seconds S` and returns its bytes/s
 * figure, or -1. */
static double
openssl_speed(const char *args, size_t size, int seconds)
{
    char cmd[256], line[512];
    double v = -1;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "openssl speed -elapsed -mr %s -bytes %zu -seconds %d 2>/dev/null",
             args, size, seconds);
    if ((f = popen(cmd, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *last;
        if (strncmp(line, "+F:", 3) != 0)
            continue;
        if ((last = strrchr(line, ':')) != NULL)
            v = strtod(last + 1, NULL);
    }
    (void)pclose(f);
    return v;
}

/* OpenSSL's one-direction figure for the suite at this size, in MB/s:
 * the AEAD, or the cipher and the HMAC combined (1 / (1/c + 1/m)). */
static double
openssl_suite(const struct suite *s, size_t size, int seconds, char *desc, size_t dcap)
{
    char a[96], m[64];
    const char *c = s->cipher;
    double x, y;

    if (strncmp(c, "aes", 3) == 0 && strlen(c) >= 10) {
        /* aes128-gcm@openssh.com -> aes-128-gcm, aes256-ctr -> aes-256-ctr */
        snprintf(a, sizeof(a), "-evp aes-%.3s-%.3s", c + 3, c + 7);
    } else if (strncmp(c, "chacha20-poly1305", 17) == 0) {
        snprintf(a, sizeof(a), "-evp chacha20-poly1305");
    } else {
        return -1;
    }
    x = openssl_speed(a, size, seconds);
    if (x <= 0)
        return -1;
    if (s->ci.aead) {
        snprintf(desc, dcap, "openssl speed %s", a);
        return x / 1e6;
    }
    if (digest_for(s->mac) == NULL)
        return -1;
    snprintf(m, sizeof(m), "-hmac %s", digest_for(s->mac));
    for (char *q = m; *q != '\0'; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    y = openssl_speed(m, size, seconds);
    if (y <= 0)
        return -1;
    snprintf(desc, dcap, "openssl speed %s + %s", a, m);
    return 1.0 / (1.0 / x + 1.0 / y) / 1e6;
}

/* ---------------------------------------------------------------------- */
/* output                                                                  */

static void
emit(int json, const char *suite, size_t size, const char *mode, const struct result *r,
     double limit, const char *limit_name, double vs_engine)
{
    double ratio = limit > 0 ? r->mbps / limit : 0;

    if (json) {
        printf("{\"suite\":\"%s\",\"payload\":%zu,\"mode\":\"%s\",\"mb_per_s\":%.2f,"
               "\"packets_per_s\":%.0f,\"limit_mb_per_s\":%.2f,\"ratio\":%.3f}\n",
               suite, size, mode, r->mbps, r->pps, limit, ratio);
    } else {
        printf("  %-7s %9.1f MB/s %11.0f pkt/s   limit %9.1f MB/s (%s)  ratio %.2f", mode,
               r->mbps, r->pps, limit, limit_name, ratio);
        if (vs_engine > 0)
            printf("  %.2fx engine", vs_engine);
        printf("\n");
    }
    fflush(stdout);
}

/* Median of SLICES (3) values. */
static double
median3(const double *v)
{
    double a = v[0], b = v[1], c = v[2];

    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    return c < a ? a : (c > b ? b : c);
}

static struct result
median_result(const struct result *v, size_t size)
{
    double pps[SLICES];
    struct result r;
    int i;

    for (i = 0; i < SLICES; i++)
        pps[i] = v[i].pps;
    r.pps = median3(pps);
    r.mbps = r.pps * (double)size / 1e6;
    return r;
}

static void
progress(int on, int step, int total, const char *suite, size_t size, const char *what)
{
    if (!on)
        return;
    fprintf(stderr, "\r\033[K[%d/%d] %s %zu B: %s", step, total, suite, size, what);
    fflush(stderr);
}

int
cli_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"suite", required_argument, NULL, BOPT_SUITE},
        {"size", required_argument, NULL, BOPT_SIZE},
        {"seconds", required_argument, NULL, BOPT_SECONDS},
        {"json", no_argument, NULL, BOPT_JSON},
        {"no-openssl", no_argument, NULL, BOPT_NO_OPENSSL},
        {"modes", required_argument, NULL, BOPT_MODES},
        {"help", no_argument, NULL, BOPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct suite *suites = NULL;
    const char *names[MAX_SUITES];
    long sizes[MAX_SIZES], v;
    size_t nsuites = 0, nsizes = 0, si, zi;
    double secs = 1.0;
    int json = 0, use_openssl = 1, do_engine = 1, do_socket = 1, do_batch = 1;
    int opt, rc = 0, ret = CLI_EXIT_FAIL, prog, step = 0, total;
    uint8_t *scratch = NULL;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case BOPT_SUITE:
            if (nsuites == MAX_SUITES) {
                cli_error("at most %d --suite options", MAX_SUITES);
                return CLI_EXIT_USAGE;
            }
            names[nsuites++] = optarg;
            break;
        case BOPT_SIZE:
            if (nsizes == MAX_SIZES || cli_parse_long(optarg, 16, 65536, &v) != 0) {
                cli_error("bad --size '%s' (16..65536, at most %d)", optarg, MAX_SIZES);
                return CLI_EXIT_USAGE;
            }
            sizes[nsizes++] = v;
            break;
        case BOPT_SECONDS:
            if (cli_parse_seconds(optarg, &secs) != 0 || secs > 3600) {
                cli_error("bad --seconds '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case BOPT_JSON:
            json = 1;
            break;
        case BOPT_NO_OPENSSL:
            use_openssl = 0;
            break;
        case BOPT_MODES:
            do_engine = strstr(optarg, "engine") != NULL;
            do_socket = strstr(optarg, "socket") != NULL;
            do_batch = strstr(optarg, "batch") != NULL;
            if (!do_engine && !do_socket && !do_batch) {
                cli_error("bad --modes '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
        case BOPT_HELP:
            bench_help();
            return 0;
        case ':':
            cli_error("option '%s' needs an argument", argv[optind - 1]);
            bench_usage(stderr);
            return CLI_EXIT_USAGE;
        default:
            cli_error("unknown option '%s'", argv[optind - 1]);
            bench_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        bench_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (nsuites == 0)
        for (; default_suites[nsuites] != NULL; nsuites++)
            names[nsuites] = default_suites[nsuites];
    if (nsizes == 0)
        for (; nsizes < sizeof(default_sizes) / sizeof(default_sizes[0]); nsizes++)
            sizes[nsizes] = default_sizes[nsizes];
    suites = calloc(nsuites, sizeof(*suites));
    scratch = malloc(65536);
    if (suites == NULL || scratch == NULL) {
        cli_error("out of memory");
        goto out;
    }
    for (si = 0; si < nsuites; si++) {
        if ((rc = suite_parse(names[si], &suites[si])) != 0) {
            cli_error("--suite %s: %s (an AEAD cipher, or CIPHER+MAC)", names[si],
                      sshbpp_strerror(rc));
            ret = CLI_EXIT_USAGE;
            goto out;
        }
    }
    prog = isatty(STDERR_FILENO);
    total = (int)(nsuites * nsizes);
    if (!json)
        printf("sshbpp bench: %.2g s per figure, as the median of %d interleaved slices of each\n"
               "figure and its limits (MB = 10^6 payload bytes; wall-clock time)\n",
               secs, SLICES);
    for (si = 0; si < nsuites; si++) {
        const struct suite *s = &suites[si];
        for (zi = 0; zi < nsizes; zi++) {
            size_t size = (size_t)sizes[zi], wire = wire_size(s, size, scratch);
            size_t batch = wire > 0 ? BATCH_BYTES / wire : 0;
            struct result seal1, both, eng = {0, 0}, r;
            struct result v_seal[SLICES], v_both[SLICES], v_eng[SLICES], v_sock[SLICES],
                v_bat[SLICES];
            double raw1 = 0, rawb = 0, lim, ossl = -1, v_raw1[SLICES] = {0}, v_rawb[SLICES] = {0};
            int k;
            char odesc[200] = "";

            if (wire == 0) {
                cli_error("%s: cannot build a %zu-byte packet", s->name, size);
                goto out;
            }
            if (batch < 2)
                batch = 2;
            if (batch > MAX_BATCH)
                batch = MAX_BATCH;
            step++;
            /* Interleaved slices: each figure is the median of SLICES
             * measurements of secs / SLICES, taken in turn with its limits,
             * so a change of load on a shared machine hits measurement and
             * limit alike instead of skewing their ratio. */
            for (k = 0; k < SLICES; k++) {
                double sl = secs / SLICES;
                progress(prog, step, total, s->name, size, "limits, engine, socket, batch");
                if ((rc = run_crypto(s, size, sl, 0, &v_seal[k])) != 0 ||
                    (rc = run_crypto(s, size, sl, 1, &v_both[k])) != 0) {
                    cli_error("%s: crypto limit failed: %s", s->name, sshbpp_strerror(rc));
                    goto out;
                }
                if ((do_socket && (rc = run_rawsock(wire, sl, &v_raw1[k])) != 0) ||
                    (do_batch && (rc = run_rawsock(wire * batch, sl, &v_rawb[k])) != 0)) {
                    cli_error("raw socketpair failed");
                    goto out;
                }
                if (do_engine && (rc = run_engine(s, size, sl, scratch, &v_eng[k])) != 0) {
                    cli_error("%s %zu B engine: %s", s->name, size, sshbpp_strerror(rc));
                    goto out;
                }
                if (do_socket && (rc = run_socket(s, size, 0, sl, &v_sock[k])) != 0) {
                    cli_error("%s %zu B socket: %s", s->name, size, sshbpp_strerror(rc));
                    goto out;
                }
                if (do_batch && (rc = run_socket(s, size, batch, sl, &v_bat[k])) != 0) {
                    cli_error("%s %zu B batch: %s", s->name, size, sshbpp_strerror(rc));
                    goto out;
                }
            }
            seal1 = median_result(v_seal, size);
            both = median_result(v_both, size);
            if (do_engine)
                eng = median_result(v_eng, size);
            raw1 = median3(v_raw1);
            rawb = median3(v_rawb);
            /* as payload bytes: the socket carries wire bytes */
            raw1 = raw1 * (double)size / (double)wire / 1e6;
            rawb = rawb * (double)size / (double)wire / 1e6;
            if (!json && use_openssl) {
                progress(prog, step, total, s->name, size, "openssl speed");
                ossl = openssl_suite(s, size, secs < 1 ? 1 : (int)(secs + 0.5), odesc,
                                     sizeof(odesc));
            }
            if (!json) {
                printf("%s, payload %zu B (wire %zu B/packet, batch %zu packets)\n", s->name,
                       size, wire, batch);
                printf("  limits: crypto 1 core seal %.1f MB/s, seal+open %.1f MB/s",
                       seal1.mbps, both.mbps);
                if (ossl > 0)
                    printf(" | %s: %.1f MB/s", odesc, ossl);
                else if (use_openssl)
                    printf(" | openssl speed: n/a");
                printf("\n          raw socketpair %.1f MB/s (%zu B writes)", raw1, wire);
                if (do_batch)
                    printf(", %.1f MB/s (%zu B writes)", rawb, wire * batch);
                printf("\n");
            }
            if (do_engine)
                emit(json, s->name, size, "engine", &eng, both.mbps, "crypto seal+open", 0);
            if (do_socket) {
                r = median_result(v_sock, size);
                lim = seal1.mbps < raw1 ? seal1.mbps : raw1;
                emit(json, s->name, size, "socket", &r, lim,
                     seal1.mbps < raw1 ? "crypto seal" : "raw socketpair",
                     eng.pps > 0 ? r.pps / eng.pps : 0);
            }
            if (do_batch) {
                r = median_result(v_bat, size);
                lim = seal1.mbps < rawb ? seal1.mbps : rawb;
                emit(json, s->name, size, "batch", &r, lim,
                     seal1.mbps < rawb ? "crypto seal" : "raw socketpair",
                     eng.pps > 0 ? r.pps / eng.pps : 0);
            }
        }
    }
    if (prog)
        fprintf(stderr, "\r\033[K");
    ret = fflush(stdout) == 0 ? 0 : CLI_EXIT_FAIL;
out:
    free(suites);
    free(scratch);
    return ret;
}
