/*
 * peer.c: the C end of the paramiko interop test (driven by
 * paramiko_interop.py). It runs sshbpp's blocking Packetizer over a socket
 * fd it inherits from the driver and speaks a tiny test protocol on top of
 * the binary packet protocol, so that every byte paramiko sends is parsed
 * by sshbpp and every byte sshbpp sends is parsed by paramiko:
 *
 *   type 21 (NEWKEYS), 1 byte  -> switch inbound to the next "in" key set,
 *                                 send NEWKEYS, switch outbound to the next
 *                                 "out" key set (exactly SSH's order: the
 *                                 sender switches after sending NEWKEYS, the
 *                                 receiver after reading it)
 *   type 1 (DISCONNECT)        -> reply DISCONNECT "ok <n>", then expect a
 *                                 clean EOF (SSHBPP_EEOF) and exit 0
 *   type 200 (burst)           -> body: uint32 count, uint32 seed; send
 *                                 count generated messages of type 201
 *                                 (see burst_message(); the driver builds
 *                                 the same ones and compares)
 *   any other type t           -> echo: type t+1, uint32 sequence number
 *                                 this packet had here, then the body
 *                                 reversed (so a loopback bug that returns
 *                                 the input unchanged cannot pass)
 *
 * The peer also checks that inbound sequence numbers run 0, 1, 2, ... across
 * the plaintext phase and every key change (RFC 4253 s6.4: they are never
 * reset by NEWKEYS without strict kex).
 *
 * Usage: sshbpp_interop_peer FD [KEYSET ...]
 *   KEYSET = DIR:CIPHER:MAC:KEYHEX:IVHEX:MACKEYHEX:COMP
 *   DIR = in | out (the n-th "in" set is applied at the n-th inbound
 *   NEWKEYS, likewise for "out"); COMP = zlib | none | - (unchanged) |
 *   zlib-reset ("none" then "zlib": a fresh stream, which is what paramiko's
 *   Transport does at every NEWKEYS, whereas "zlib" on a direction that is
 *   already compressed keeps the stream, as OpenSSH does).
 *
 * Exit status: 0 all good, 2 usage, 3 test-protocol check failed,
 * 4 an sshbpp call failed. Diagnostics go to stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sshbpp/sshbpp.h>
#include <sshbpp/sshbpp_io.h>

#define MSG_DISCONNECT 1
#define MSG_NEWKEYS    21
#define MSG_BURST      200
#define MSG_BURST_ITEM 201

/* Keep argv parsing bounded; the driver uses a handful of key sets. */
#define MAX_KEYSETS 32

enum { EXIT_USAGE = 2, EXIT_CHECK = 3, EXIT_LIB = 4 };

typedef struct keyset {
    char *cipher;
    char *mac;
    uint8_t *key, *iv, *mac_key;
    size_t key_len, iv_len, mac_key_len;
    char *comp; /* "zlib", "zlib-reset", "none" or "-" */
} keyset;

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("peer: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

/* Fails the run with the library's own name for the error code, so the
 * driver's log says e.g. "SSHBPP_EMAC (MAC mismatch)". */
static void check_lib(int rc, const char *what)
{
    if (rc < 0)
        die(EXIT_LIB, "%s failed: %s (%s)", what, sshbpp_err_name(rc), sshbpp_strerror(rc));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a hex string into a fresh buffer; an empty string gives len 0. */
static uint8_t *unhex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 != 0)
        die(EXIT_USAGE, "odd-length hex string '%s'", s);
    uint8_t *out = malloc(n / 2 + 1);
    if (out == NULL)
        die(EXIT_LIB, "out of memory");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            die(EXIT_USAGE, "bad hex string '%s'", s);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

/* Splits "DIR:CIPHER:MAC:KEY:IV:MACKEY:COMP" in place (fields may be empty,
 * so strtok, which merges separators, is not usable). */
static int parse_keyset(char *arg, char **dir, keyset *ks)
{
    char *f[7];
    int n = 0;
    f[n++] = arg;
    for (char *p = arg; *p != '\0'; p++) {
        if (*p == ':') {
            if (n == 7)
                return -1;
            *p = '\0';
            f[n++] = p + 1;
        }
    }
    if (n != 7)
        return -1;
    *dir = f[0];
    ks->cipher = f[1];
    ks->mac = f[2];
    ks->key = unhex(f[3], &ks->key_len);
    ks->iv = unhex(f[4], &ks->iv_len);
    ks->mac_key = unhex(f[5], &ks->mac_key_len);
    ks->comp = f[6];
    return 0;
}

/* Wipes and frees the decoded key material (keeps sanitizer runs clean and
 * models what a real caller should do with secrets it no longer needs). */
static void free_keysets(keyset *sets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        volatile uint8_t *bufs[3] = {sets[i].key, sets[i].iv, sets[i].mac_key};
        size_t lens[3] = {sets[i].key_len, sets[i].iv_len, sets[i].mac_key_len};
        for (int j = 0; j < 3; j++) {
            for (size_t k = 0; k < lens[j]; k++)
                bufs[j][k] = 0;
            free((void *)(uintptr_t)bufs[j]);
        }
    }
}

static sshbpp_keys to_keys(const keyset *ks)
{
    sshbpp_keys k;
    memset(&k, 0, sizeof k);
    k.cipher = ks->cipher;
    k.key = ks->key;
    k.key_len = ks->key_len;
    k.iv = ks->iv;
    k.iv_len = ks->iv_len;
    k.mac = ks->mac;
    k.mac_key = ks->mac_key;
    k.mac_key_len = ks->mac_key_len;
    return k;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* xorshift32: a PRNG small enough to mirror exactly in Python, so burst
 * messages need not be shipped in the script. */
static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* Builds burst item i into buf (capacity >= 32005) and returns its length.
 * Length 1 + (r % 32000) (item 0 is the bare type byte, to cover the
 * smallest payload), then uint32 i, then a byte pattern
 * (a*j + b) mod 256 with a odd: cheap to mirror in Python by repeating one
 * 256-byte cycle. */
static size_t burst_message(uint8_t *buf, uint32_t *state, uint32_t i)
{
    uint32_t r = xorshift32(state);
    size_t len = i == 0 ? 1 : 1 + (size_t)(r % 32000u);
    uint32_t ab = xorshift32(state);
    uint8_t a = (uint8_t)(ab | 1u), b = (uint8_t)(ab >> 8);
    buf[0] = MSG_BURST_ITEM;
    uint8_t idx[4];
    put_u32(idx, i);
    for (size_t j = 1; j < len; j++) {
        size_t k = j - 1;
        buf[j] = k < 4 ? idx[k] : (uint8_t)(a * (uint8_t)k + b);
    }
    return len;
}

static void set_comp(sshbpp_packetizer *p, const char *name, int inbound)
{
    if (inbound)
        check_lib(sshbpp_packetizer_set_inbound_compressor(p, name), "sshbpp_packetizer_set_inbound_compressor");
    else
        check_lib(sshbpp_packetizer_set_outbound_compressor(p, name), "sshbpp_packetizer_set_outbound_compressor");
}

static void apply_keyset(sshbpp_packetizer *p, const keyset *ks, int inbound)
{
    sshbpp_keys k = to_keys(ks);
    if (inbound)
        check_lib(sshbpp_packetizer_set_inbound_cipher(p, &k), "sshbpp_packetizer_set_inbound_cipher");
    else
        check_lib(sshbpp_packetizer_set_outbound_cipher(p, &k), "sshbpp_packetizer_set_outbound_cipher");
    if (strcmp(ks->comp, "zlib-reset") == 0) {
        set_comp(p, "none", inbound);
        set_comp(p, "zlib", inbound);
    } else if (strcmp(ks->comp, "-") != 0) {
        set_comp(p, ks->comp, inbound);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die(EXIT_USAGE, "usage: %s FD [DIR:CIPHER:MAC:KEY:IV:MACKEY:COMP ...]", argv[0]);
    char *end;
    errno = 0;
    long fd = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || fd < 0 || fd > 1 << 20)
        die(EXIT_USAGE, "bad fd '%s'", argv[1]);

    keyset in_sets[MAX_KEYSETS], out_sets[MAX_KEYSETS];
    size_t n_in = 0, n_out = 0;
    for (int i = 2; i < argc; i++) {
        keyset ks;
        char *dir;
        if (parse_keyset(argv[i], &dir, &ks) != 0)
            die(EXIT_USAGE, "bad key set argument %d", i);
        if (strcmp(dir, "in") == 0 && n_in < MAX_KEYSETS)
            in_sets[n_in++] = ks;
        else if (strcmp(dir, "out") == 0 && n_out < MAX_KEYSETS)
            out_sets[n_out++] = ks;
        else
            die(EXIT_USAGE, "bad direction '%s' or too many key sets", dir);
    }

    sshbpp_packetizer *p = sshbpp_packetizer_new_fd((int)fd, 1);
    if (p == NULL)
        die(EXIT_LIB, "sshbpp_packetizer_new_fd returned NULL");

    /* Largest reply: an echo of the biggest test message plus 4 bytes; the
     * default maximum packet size bounds what can arrive. */
    size_t cap = SSHBPP_DEFAULT_MAX_PACKET + 64;
    uint8_t *reply = malloc(cap);
    if (reply == NULL)
        die(EXIT_LIB, "out of memory");

    uint32_t expect_seq = 0;
    size_t next_in = 0, next_out = 0;
    unsigned long handled = 0;
    for (;;) {
        sshbpp_packet pkt;
        int rc = sshbpp_packetizer_read_message(p, &pkt);
        check_lib(rc, "sshbpp_packetizer_read_message");
        if (pkt.len < 1 || pkt.type != pkt.payload[0])
            die(EXIT_CHECK, "packet %lu: len %zu, type %u inconsistent with payload", handled,
                pkt.len, pkt.type);
        if (pkt.seqno != expect_seq)
            die(EXIT_CHECK, "packet %lu: seqno %u, expected %u", handled, pkt.seqno, expect_seq);
        expect_seq++;
        handled++;

        switch (pkt.type) {
        case MSG_NEWKEYS:
            if (pkt.len != 1)
                die(EXIT_CHECK, "NEWKEYS with %zu-byte payload", pkt.len);
            if (next_in >= n_in || next_out >= n_out)
                die(EXIT_CHECK, "NEWKEYS #%zu but no key set left", next_in + 1);
            apply_keyset(p, &in_sets[next_in++], 1);
            reply[0] = MSG_NEWKEYS;
            check_lib(sshbpp_packetizer_send_message(p, reply, 1), "sshbpp_packetizer_send_message(NEWKEYS)");
            apply_keyset(p, &out_sets[next_out++], 0);
            break;

        case MSG_DISCONNECT: {
            int n = snprintf((char *)reply + 1, cap - 1, "ok %lu", handled);
            reply[0] = MSG_DISCONNECT;
            check_lib(sshbpp_packetizer_send_message(p, reply, 1 + (size_t)n),
                      "sshbpp_packetizer_send_message(DISCONNECT)");
            /* The driver closes its end after reading our DISCONNECT; the
             * Packetizer must report that as a clean EOF between packets. */
            rc = sshbpp_packetizer_read_message(p, &pkt);
            if (rc != SSHBPP_EEOF)
                die(EXIT_CHECK, "after DISCONNECT: expected SSHBPP_EEOF, got %s",
                    sshbpp_err_name(rc));
            sshbpp_packetizer_free(p);
            free(reply);
            free_keysets(in_sets, n_in);
            free_keysets(out_sets, n_out);
            return 0;
        }

        case MSG_BURST: {
            if (pkt.len != 9)
                die(EXIT_CHECK, "burst request with %zu-byte payload", pkt.len);
            uint32_t count = get_u32(pkt.payload + 1), state = get_u32(pkt.payload + 5);
            if (state == 0)
                die(EXIT_CHECK, "burst seed must be nonzero");
            for (uint32_t i = 0; i < count; i++) {
                size_t len = burst_message(reply, &state, i);
                check_lib(sshbpp_packetizer_send_message(p, reply, len), "sshbpp_packetizer_send_message(burst)");
            }
            break;
        }

        default:
            if (pkt.len + 4 > cap)
                die(EXIT_CHECK, "message too large to echo (%zu)", pkt.len);
            reply[0] = (uint8_t)(pkt.type + 1);
            put_u32(reply + 1, pkt.seqno);
            for (size_t i = 1; i < pkt.len; i++)
                reply[4 + i] = pkt.payload[pkt.len - i];
            check_lib(sshbpp_packetizer_send_message(p, reply, pkt.len + 4), "sshbpp_packetizer_send_message(echo)");
            break;
        }
    }
}
