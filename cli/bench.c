/*
 * bench.c: `sshbpp bench`, the engine's throughput in memory: one engine
 * seals packets, a second opens them, on one thread, with fixed keys. It
 * measures the packet layer's crypto and framing cost without sockets, like
 * bench/bench_throughput.c's engine mode, for one cipher/MAC at a time.
 */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
bench_usage(FILE *f)
{
    fprintf(f, "usage: sshbpp bench [--cipher cipher] [--mac mac] [--size bytes] [--mib n]\n");
}

static void
bench_help(void)
{
    bench_usage(stdout);
    printf("\n"
           "Seals and opens packets in memory with one engine per direction and prints\n"
           "the payload throughput (10^6 bytes per second) and packets per second.\n"
           "\n"
           "  --cipher cipher  cipher (default aes128-ctr; sshbpp -Q cipher)\n"
           "  --mac mac        MAC for non-AEAD ciphers (default hmac-sha2-256-etm@openssh.com)\n"
           "  --size bytes     payload bytes per packet (default 32768)\n"
           "  --mib n          MiB of payload to push (default 256)\n");
}

int
cli_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"cipher", required_argument, NULL, OPT_CIPHER},
        {"mac", required_argument, NULL, OPT_MAC},
        {"size", required_argument, NULL, OPT_SIZE},
        {"mib", required_argument, NULL, OPT_MIB},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *cipher = "aes128-ctr", *mac = "hmac-sha2-256-etm@openssh.com";
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi;
    sshbpp_keys k;
    sshbpp_engine *tx = NULL, *rx = NULL;
    sshbpp_packet pkt;
    uint8_t key[64], iv[16], mkey[64], *msg = NULL;
    uint64_t count, i;
    long size = 32768, mib = 256;
    double t0, secs;
    int opt, rc, ret = CLI_EXIT_FAIL;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_CIPHER:
            cipher = optarg;
            break;
        case OPT_MAC:
            mac = optarg;
            break;
        case OPT_SIZE:
            /* The payload must fit the default packet bound with the
             * padding, length and type bytes on top. */
            if (cli_parse_long(optarg, 1, (long)SSHBPP_DEFAULT_MAX_PACKET - 1024, &size) != 0) {
                cli_error("bad --size '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_MIB:
            if (cli_parse_long(optarg, 1, 1L << 20, &mib) != 0) {
                cli_error("bad --mib '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
        case OPT_HELP:
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
    rc = sshbpp_cipher_get_info(cipher, &ci);
    if (rc != 0) {
        cli_error("--cipher %s: %s", cipher, sshbpp_strerror(rc));
        return CLI_EXIT_USAGE;
    }
    memset(&mi, 0, sizeof(mi));
    if (!ci.aead && strcmp(mac, "none") != 0) {
        rc = sshbpp_mac_get_info(mac, &mi);
        if (rc != 0) {
            cli_error("--mac %s: %s", mac, sshbpp_strerror(rc));
            return CLI_EXIT_USAGE;
        }
    }
    /* Fixed keys: throughput does not depend on their value. */
    memset(key, 0x42, sizeof(key));
    memset(iv, 0x24, sizeof(iv));
    memset(mkey, 0x17, sizeof(mkey));
    memset(&k, 0, sizeof(k));
    k.cipher = cipher;
    k.key = key;
    k.key_len = ci.key_len;
    k.iv = iv;
    k.iv_len = ci.iv_len;
    k.mac = ci.aead ? NULL : mac;
    k.mac_key = mkey;
    k.mac_key_len = mi.key_len;

    tx = sshbpp_engine_new();
    rx = sshbpp_engine_new();
    msg = calloc(1, (size_t)size);
    if (tx == NULL || rx == NULL || msg == NULL) {
        cli_error("out of memory");
        goto out;
    }
    rc = sshbpp_engine_set_keys(tx, SSHBPP_DIR_OUT, &k);
    if (rc == 0)
        rc = sshbpp_engine_set_keys(rx, SSHBPP_DIR_IN, &k);
    if (rc != 0) {
        cli_error("setting keys failed: %s", sshbpp_strerror(rc));
        goto out;
    }
    msg[0] = 94; /* SSH_MSG_CHANNEL_DATA, as bulk traffic would be */
    count = ((uint64_t)mib << 20) / (uint64_t)size;
    if (count == 0)
        count = 1;
    t0 = cli_now();
    for (i = 0; i < count; i++) {
        const uint8_t *w;
        uint8_t *dst;
        size_t n, room;

        rc = sshbpp_engine_send(tx, msg, (size_t)size);
        if (rc != 0)
            break;
        w = sshbpp_engine_tx_data(tx, &n);
        dst = sshbpp_engine_rx_space(rx, n, &room);
        if (dst == NULL || room < n) {
            rc = sshbpp_engine_error(rx) != 0 ? sshbpp_engine_error(rx) : SSHBPP_ENOMEM;
            break;
        }
        memcpy(dst, w, n);
        sshbpp_engine_rx_commit(rx, n);
        sshbpp_engine_tx_consume(tx, n);
        rc = sshbpp_engine_rx_next(rx, &pkt);
        if (rc != 0 || pkt.len != (size_t)size) {
            rc = rc < 0 ? rc : SSHBPP_EPROTO;
            break;
        }
        rc = 0;
    }
    secs = cli_now() - t0;
    if (rc != 0) {
        cli_error("packet %llu failed: %s", (unsigned long long)i, sshbpp_strerror(rc));
        goto out;
    }
    if (secs <= 0)
        secs = 1e-9;
    printf("%s%s%s payload %ld B: %.1f MB/s, %.0f packets/s\n", cipher, ci.aead ? "" : "+",
           ci.aead ? "" : mac, size, (double)count * (double)size / secs / 1e6,
           (double)count / secs);
    ret = fflush(stdout) == 0 ? 0 : CLI_EXIT_FAIL;
out:
    sshbpp_engine_free(tx);
    sshbpp_engine_free(rx);
    free(msg);
    return ret;
}
