/*
 * test_cov_codecs.c: the small codecs under the engine and the keys layer,
 * at their edges: cipher and MAC state used the wrong way (wrong mode,
 * wrong direction, descriptors not from the table, short packets), the
 * zlib streams' error and bound paths (corrupt input, a finished stream,
 * a compression bomb with and without input left, an exact fit, empty
 * payloads), strict base64, bounded line iteration and whole-file reads
 * (CRLF, long lines, files that grow the buffer, a directory, a cap), and
 * the host-pattern matcher's corners (wildcards, empty elements, CIDR).
 * Every failure is checked for its precise code.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include "alg.h"
#include "keys/keys_int.h"

static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed ? seed : 0x9e3779b9u;
    size_t i;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* ---- ciphers ------------------------------------------------------------ */

static void
test_cipher_misuse(void **state)
{
    uint8_t key[64], iv[16], buf[64], tag[16];
    sshbpp__cipher_desc fake;
    sshbpp__cipher c;
    uint32_t len = 0;

    (void)state;
    fill(key, sizeof(key), 1);
    fill(iv, sizeof(iv), 2);
    memset(buf, 0x11, sizeof(buf));
    memset(&c, 0, sizeof(c));

    assert_null(sshbpp__cipher_find(NULL));
    assert_null(sshbpp__cipher_find("aes512-ctr"));
    assert_null(sshbpp__cipher_find("AES128-CTR")); /* names are case-sensitive */
    sshbpp__cipher_free(NULL);

    /* No descriptor: the "none" state, and crypt is the identity. */
    assert_int_equal(sshbpp__cipher_init(&c, NULL, key, iv, 1), 0);
    assert_null(c.desc);
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], 0x11);

    /* A copy of a table entry is not the table entry: refused, and c is
     * left zeroed ("none"). */
    fake = *sshbpp__cipher_find("aes128-ctr");
    assert_int_equal(sshbpp__cipher_init(&c, &fake, key, iv, 1), SSHBPP_EINVAL);
    assert_null(c.desc);
    assert_null(c.ctx);

    /* The "none" cipher from the table. */
    assert_int_equal(sshbpp__cipher_init(&c, sshbpp__cipher_find("none"), key, iv, 1), 0);
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, 7), 0);
    assert_int_equal(buf[6], 0x11);
    /* No AEAD entry point works on it. */
    assert_int_equal(sshbpp__gcm_seal(&c, buf, 16, tag), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__chacha_seal(&c, 0, buf, 16, tag), SSHBPP_EINVAL);
    sshbpp__cipher_free(&c);

    /* CBC takes whole blocks only. */
    assert_int_equal(sshbpp__cipher_init(&c, sshbpp__cipher_find("aes128-cbc"), key, iv, 1), 0);
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, 15), SSHBPP_EINVAL);
    assert_int_equal(buf[0], 0x11); /* nothing encrypted */
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, 16), 0);
    assert_int_not_equal(memcmp(buf, "\x11\x11\x11\x11", 4), 0);
    /* GCM and chacha calls on a CBC state. */
    assert_int_equal(sshbpp__gcm_seal(&c, buf, 16, tag), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_open(&c, buf, 16, tag), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__chacha_get_length(&c, 0, buf, &len), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__chacha_open(&c, 0, buf, 16, tag), SSHBPP_EINVAL);
    sshbpp__cipher_free(&c);
    assert_null(c.desc);

    /* crypt on an AEAD state: the AEAD calls own those. */
    assert_int_equal(sshbpp__cipher_init(&c, sshbpp__cipher_find("aes256-gcm@openssh.com"), key,
                                         iv, 1),
                     0);
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, 16), SSHBPP_EINVAL);
    sshbpp__cipher_free(&c);
    assert_int_equal(sshbpp__cipher_init(&c, sshbpp__cipher_find("chacha20-poly1305@openssh.com"),
                                         key, NULL, 0),
                     0);
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, 16), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_seal(&c, buf, 16, tag), SSHBPP_EINVAL);
    sshbpp__cipher_free(&c);
}

static void
test_gcm_edges(void **state)
{
    const sshbpp__cipher_desc *d = sshbpp__cipher_find("aes128-gcm@openssh.com");
    uint8_t key[16], iv[12], a[64], b[64], src[40], tag_a[16], tag_b[16], bad[16];
    sshbpp__cipher enc1, enc2, dec;

    (void)state;
    memset(&enc1, 0, sizeof(enc1));
    memset(&enc2, 0, sizeof(enc2));
    memset(&dec, 0, sizeof(dec));
    fill(key, sizeof(key), 3);
    fill(iv, sizeof(iv), 4);
    fill(src, sizeof(src), 5);
    assert_int_equal(sshbpp__cipher_init(&enc1, d, key, iv, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&enc2, d, key, iv, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&dec, d, key, iv, 0), 0);

    /* Too short for the length field, wrong direction, and a src that
     * does not fit behind the padding-length byte. */
    assert_int_equal(sshbpp__gcm_seal(&enc1, a, 3, tag_a), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_seal(&dec, a, 16, tag_a), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_open(&enc1, a, 16, tag_a), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_open(&dec, a, 3, tag_a), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_seal_from(&enc1, a, 4, tag_a, src, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__gcm_seal_from(&enc1, a, 48, tag_a, src, 44), SSHBPP_EINVAL);

    /* seal_from (payload taken from src) gives the bytes of an in-place
     * seal of the same plaintext: pkt = len(4) pad(1) payload(40) pad(3). */
    memset(a, 0, sizeof(a));
    a[3] = 44;
    a[4] = 3;
    memcpy(a + 5, src, sizeof(src));
    memcpy(b, a, sizeof(a));
    memset(b + 5, 0xee, sizeof(src)); /* not there yet */
    assert_int_equal(sshbpp__gcm_seal(&enc1, a, 48, tag_a), 0);
    assert_int_equal(sshbpp__gcm_seal_from(&enc2, b, 48, tag_b, src, sizeof(src)), 0);
    assert_memory_equal(a, b, 48);
    assert_memory_equal(tag_a, tag_b, 16);

    /* A forged tag: SSHBPP_ETAG, and the nonce does not move, so the
     * genuine packet still opens afterwards. */
    memcpy(b, a, 48);
    memcpy(bad, tag_a, 16);
    bad[15] ^= 1;
    assert_int_equal(sshbpp__gcm_open(&dec, b, 48, bad), SSHBPP_ETAG);
    memcpy(b, a, 48);
    assert_int_equal(sshbpp__gcm_open(&dec, b, 48, tag_a), 0);
    assert_memory_equal(b + 5, src, sizeof(src));
    /* The same packet a second time is under the next nonce: refused. */
    memcpy(b, a, 48);
    assert_int_equal(sshbpp__gcm_open(&dec, b, 48, tag_a), SSHBPP_ETAG);

    sshbpp__cipher_free(&enc1);
    sshbpp__cipher_free(&enc2);
    sshbpp__cipher_free(&dec);
}

static void
test_chacha_edges(void **state)
{
    const sshbpp__cipher_desc *d = sshbpp__cipher_find("chacha20-poly1305@openssh.com");
    uint8_t key[64], a[64], b[64], orig[64], src[20], tag_a[16], tag_b[16], bad[16];
    sshbpp__cipher enc1, enc2, dec;
    uint32_t len = 0;

    (void)state;
    memset(&enc1, 0, sizeof(enc1));
    memset(&enc2, 0, sizeof(enc2));
    memset(&dec, 0, sizeof(dec));
    fill(key, sizeof(key), 6);
    fill(src, sizeof(src), 7);
    assert_int_equal(sshbpp__cipher_init(&enc1, d, key, NULL, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&enc2, d, key, NULL, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&dec, d, key, NULL, 0), 0);

    assert_int_equal(sshbpp__chacha_seal(&enc1, 9, a, 3, tag_a), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__chacha_open(&dec, 9, a, 3, tag_a), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__chacha_seal_from(&enc1, 9, a, 4, tag_a, src, 0), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__chacha_seal_from(&enc1, 9, a, 24, tag_a, src, 20), SSHBPP_EINVAL);

    /* pkt = len(4) pad(1) payload(20) pad(7) */
    memset(a, 0, sizeof(a));
    a[3] = 28;
    a[4] = 7;
    memcpy(a + 5, src, sizeof(src));
    memcpy(orig, a, sizeof(a));
    memcpy(b, a, sizeof(a));
    memset(b + 5, 0xee, sizeof(src));
    assert_int_equal(sshbpp__chacha_seal(&enc1, 9, a, 32, tag_a), 0);
    assert_int_equal(sshbpp__chacha_seal_from(&enc2, 9, b, 32, tag_b, src, sizeof(src)), 0);
    assert_memory_equal(a, b, 32);
    assert_memory_equal(tag_a, tag_b, 16);

    /* A forged tag leaves the packet exactly as it arrived. */
    memcpy(b, a, 32);
    memcpy(bad, tag_a, 16);
    bad[0] ^= 0x80;
    assert_int_equal(sshbpp__chacha_open(&dec, 9, b, 32, bad), SSHBPP_ETAG);
    assert_memory_equal(a, b, 32);
    /* The wrong sequence number is a forgery too. */
    assert_int_equal(sshbpp__chacha_open(&dec, 10, b, 32, tag_a), SSHBPP_ETAG);
    assert_memory_equal(a, b, 32);

    /* open without get_length first (or after get_length of another
     * packet) decrypts the length itself. */
    assert_int_equal(sshbpp__chacha_get_length(&dec, 8, a, &len), 0);
    assert_int_equal(sshbpp__chacha_open(&dec, 9, b, 32, tag_a), 0);
    assert_memory_equal(b, orig, 32);
    /* And with get_length for this packet, the same plaintext. */
    memcpy(b, a, 32);
    assert_int_equal(sshbpp__chacha_get_length(&dec, 9, b, &len), 0);
    assert_int_equal(len, 28);
    assert_int_equal(sshbpp__chacha_open(&dec, 9, b, 32, tag_a), 0);
    assert_memory_equal(b, orig, 32);

    sshbpp__cipher_free(&enc1);
    sshbpp__cipher_free(&enc2);
    sshbpp__cipher_free(&dec);
}

/* ---- MACs --------------------------------------------------------------- */

static void
test_mac_misuse(void **state)
{
    uint8_t key[64], data[100], out[64], ref[64];
    unsigned rlen = 0;
    sshbpp__mac_desc fake;
    sshbpp__mac m;

    (void)state;
    memset(&m, 0, sizeof(m));
    fill(key, sizeof(key), 8);
    fill(data, sizeof(data), 9);

    assert_null(sshbpp__mac_find(NULL));
    assert_null(sshbpp__mac_find("none")); /* the engine handles no-MAC itself */
    assert_null(sshbpp__mac_find("hmac-sha3-256"));
    sshbpp__mac_free(NULL);

    /* Never initialised, or initialised to nothing: compute refuses. */
    assert_int_equal(sshbpp__mac_compute(&m, 1, data, sizeof(data), out), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__mac_init(&m, NULL, key), 0);
    assert_null(m.desc);
    assert_int_equal(sshbpp__mac_verify(&m, 1, data, sizeof(data), out), SSHBPP_EINVAL);

    /* Descriptors that do not describe a MAC this file can run. */
    fake = *sshbpp__mac_find("umac-64@openssh.com");
    fake.key_len = 15;
    assert_int_equal(sshbpp__mac_init(&m, &fake, key), SSHBPP_EINVAL);
    assert_null(m.desc);
    assert_null(m.umac);
    fake = *sshbpp__mac_find("hmac-sha2-256");
    fake.digest = "SHA512-256-TOO-LONG";
    assert_int_equal(sshbpp__mac_init(&m, &fake, key), SSHBPP_EINVAL);
    fake = *sshbpp__mac_find("hmac-sha2-256");
    fake.mac_len = 33;
    assert_int_equal(sshbpp__mac_init(&m, &fake, key), SSHBPP_EINVAL);
    fake = *sshbpp__mac_find("hmac-sha2-512");
    fake.key_len = 65;
    fake.mac_len = 64;
    assert_int_equal(sshbpp__mac_init(&m, &fake, key), SSHBPP_EINVAL);
    /* A key length that is not the digest size, and an unknown digest:
     * OpenSSL says no, and m is left empty. */
    fake = *sshbpp__mac_find("hmac-sha2-256");
    fake.key_len = 20;
    fake.mac_len = 20;
    assert_int_equal(sshbpp__mac_init(&m, &fake, key), SSHBPP_ECRYPTO);
    assert_null(m.ctx);
    assert_null(m.desc);
    fake.digest = "NO-SUCH-MD";
    assert_int_equal(sshbpp__mac_init(&m, &fake, key), SSHBPP_ECRYPTO);
    assert_null(m.ctx);

    /* A table MAC against a one-shot HMAC of uint32(seqno) || data, then
     * a verify that must fail on one flipped bit. */
    assert_int_equal(sshbpp__mac_init(&m, sshbpp__mac_find("hmac-sha1-96"), key), 0);
    assert_int_equal(sshbpp__mac_compute(&m, 0x01020304u, data, sizeof(data), out), 0);
    {
        uint8_t msg[104];

        memcpy(msg, "\x01\x02\x03\x04", 4);
        memcpy(msg + 4, data, sizeof(data));
        assert_non_null(HMAC(EVP_sha1(), key, 20, msg, sizeof(msg), ref, &rlen));
    }
    assert_int_equal(rlen, 20);
    assert_memory_equal(out, ref, 12);
    assert_int_equal(sshbpp__mac_verify(&m, 0x01020304u, data, sizeof(data), out), 0);
    out[11] ^= 1;
    assert_int_equal(sshbpp__mac_verify(&m, 0x01020304u, data, sizeof(data), out), SSHBPP_EMAC);
    out[11] ^= 1;
    assert_int_equal(sshbpp__mac_verify(&m, 0x01020305u, data, sizeof(data), out), SSHBPP_EMAC);
    sshbpp__mac_free(&m);
    assert_null(m.desc);

    /* UMAC-128: re-init from UMAC-64 frees the other context size. */
    assert_int_equal(sshbpp__mac_init(&m, sshbpp__mac_find("umac-64@openssh.com"), key), 0);
    assert_int_equal(sshbpp__mac_init(&m, sshbpp__mac_find("umac-128@openssh.com"), key), 0);
    assert_int_equal(sshbpp__mac_compute(&m, 5, data, sizeof(data), out), 0);
    assert_int_equal(sshbpp__mac_verify(&m, 5, data, sizeof(data), out), 0);
    data[0] ^= 1;
    assert_int_equal(sshbpp__mac_verify(&m, 5, data, sizeof(data), out), SSHBPP_EMAC);
    sshbpp__mac_free(&m);
    assert_null(m.umac);
}

/* ---- zlib --------------------------------------------------------------- */

static void
test_zlib_misuse_and_bounds(void **state)
{
    sshbpp__zlib def, inf, off;
    uint8_t in[64], out[256];
    size_t n = 99;

    (void)state;
    memset(&def, 0, sizeof(def));
    memset(&inf, 0, sizeof(inf));
    memset(&off, 0, sizeof(off));
    fill(in, sizeof(in), 10);
    sshbpp__zlib_free(NULL);
    sshbpp__zlib_free(&off);

    /* Off, or the other direction: refused, *out_len says 0. */
    assert_int_equal(sshbpp__zlib_compress(&off, in, 4, out, sizeof(out), &n), SSHBPP_EINVAL);
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(sshbpp__zlib_decompress(&off, in, 4, out, sizeof(out), &n), SSHBPP_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&def, in, 4, out, sizeof(out), &n), SSHBPP_EINVAL);
    assert_int_equal(sshbpp__zlib_compress(&inf, in, 4, out, sizeof(out), &n), SSHBPP_EINVAL);

    /* The bound saturates instead of wrapping. */
    assert_true(sshbpp__zlib_bound(SIZE_MAX) == SIZE_MAX);
    assert_true(sshbpp__zlib_bound(0) >= 16);

    /* No room at all: zlib makes no progress, which is ECOMP; a few bytes
     * of room for 64 incompressible bytes is EBUFSMALL. Both streams are
     * then out of step and are re-made. */
    assert_int_equal(sshbpp__zlib_compress(&def, in, sizeof(in), out, 0, &n), SSHBPP_ECOMP);
    assert_int_equal(n, 0);
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_compress(&def, in, sizeof(in), out, 8, &n), SSHBPP_EBUFSMALL);
    assert_int_equal(n, 8);

    /* Empty payloads: the first flush carries the zlib header, a second
     * one in a row has nothing to say; both are fine and inflate to 0. */
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_compress(&def, in, 0, out, sizeof(out), &n), 0);
    assert_true(n > 0);
    {
        size_t m = 99;

        assert_int_equal(sshbpp__zlib_decompress(&inf, out, n, out + 128, 64, &m), 0);
        assert_int_equal(m, 0);
    }
    assert_int_equal(sshbpp__zlib_compress(&def, in, 0, out, sizeof(out), &n), 0);
    {
        size_t m = 99;

        assert_int_equal(sshbpp__zlib_decompress(&inf, out, n, out + 128, 64, &m), 0);
        assert_int_equal(m, 0);
        /* Empty input to inflate: no progress, no error, nothing out. */
        assert_int_equal(sshbpp__zlib_decompress(&inf, out, 0, out + 128, 64, &m), 0);
        assert_int_equal(m, 0);
    }
    /* A capacity above what zlib's uInt counts is clamped, not
     * truncated to a small number: the packet still compresses whole and
     * inflates (output stays far below the real buffers). */
    if (SIZE_MAX > UINT_MAX) {
        uint8_t back[64];
        size_t m = 0;

        assert_int_equal(sshbpp__zlib_compress(&def, in, sizeof(in), out, (size_t)UINT_MAX + 2, &n),
                         0);
        assert_true(n > 0 && n < sizeof(out));
        assert_int_equal(
            sshbpp__zlib_decompress(&inf, out, n, back, (size_t)UINT_MAX + 2, &m), 0);
        assert_int_equal(m, sizeof(in));
        assert_memory_equal(back, in, sizeof(in));
    }
    sshbpp__zlib_free(&def);
    sshbpp__zlib_free(&inf);
    assert_null(def.zs);
}

/* Compresses n bytes of p into a fresh stream's first packet. */
static size_t
deflate_packet(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    sshbpp__zlib z;
    size_t got = 0;

    memset(&z, 0, sizeof(z));
    assert_int_equal(sshbpp__zlib_init(&z, 1), 0);
    assert_true(sshbpp__zlib_bound(n) <= cap);
    assert_int_equal(sshbpp__zlib_compress(&z, p, n, out, cap, &got), 0);
    sshbpp__zlib_free(&z);
    return got;
}

static void
test_zlib_inflate_errors(void **state)
{
    static uint8_t plain[8192], comp[12000], back[8192];
    sshbpp__zlib z;
    size_t clen, n;

    (void)state;
    memset(&z, 0, sizeof(z));

    /* Not a zlib stream at all. */
    assert_int_equal(sshbpp__zlib_init(&z, 0), 0);
    memset(comp, 0xff, 16);
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, 16, back, sizeof(back), &n),
                     SSHBPP_EDECOMP);

    /* A complete zlib stream (with its final block and Adler-32): an SSH
     * stream never ends, so the end is refused. */
    memset(plain, 'a', 100);
    {
        uLongf dl = sizeof(comp);

        assert_int_equal(compress2(comp, &dl, plain, 100, 6), Z_OK);
        clen = dl;
    }
    assert_int_equal(sshbpp__zlib_init(&z, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, clen, back, sizeof(back), &n),
                     SSHBPP_EDECOMP);

    /* Incompressible data: output full with input left is a bomb. */
    fill(plain, sizeof(plain), 11);
    clen = deflate_packet(plain, sizeof(plain), comp, sizeof(comp));
    assert_int_equal(sshbpp__zlib_init(&z, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, clen, back, 1000, &n),
                     SSHBPP_EDECOMPLONG);
    assert_int_equal(n, 1000);

    /* Zeros: all input read, but inflate still holds output when max is
     * reached; the probe byte tells. */
    memset(plain, 0, sizeof(plain));
    clen = deflate_packet(plain, sizeof(plain), comp, sizeof(comp));
    assert_true(clen < 200);
    assert_int_equal(sshbpp__zlib_init(&z, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, clen, back, 4096, &n),
                     SSHBPP_EDECOMPLONG);

    /* Exactly max bytes: the probe comes back empty, the packet passes. */
    assert_int_equal(sshbpp__zlib_init(&z, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, clen, back, sizeof(plain), &n), 0);
    assert_int_equal(n, sizeof(plain));
    assert_memory_equal(back, plain, sizeof(plain));

    /* A good first packet, then one with a corrupted block header. */
    memcpy(plain, "hello, hello, hello", 19);
    clen = deflate_packet(plain, 19, comp, sizeof(comp));
    assert_int_equal(sshbpp__zlib_init(&z, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, clen, back, sizeof(back), &n), 0);
    assert_int_equal(n, 19);
    comp[0] = 0xff; /* reserved block type 3 */
    comp[1] = 0xff;
    assert_int_equal(sshbpp__zlib_decompress(&z, comp, 2, back, sizeof(back), &n),
                     SSHBPP_EDECOMP);
    sshbpp__zlib_free(&z);
}

/* ---- base64 ------------------------------------------------------------- */

static void
test_base64_strict(void **state)
{
    uint8_t out[64];
    char enc[16];

    (void)state;
    assert_int_equal(sshbpp__b64_decode("Zm9v", 4, out, sizeof(out)), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(sshbpp__b64_decode("Zm8=", 4, out, sizeof(out)), 2);
    assert_int_equal(sshbpp__b64_decode("Zm8", 3, out, sizeof(out)), 2); /* unpadded */
    assert_int_equal(sshbpp__b64_decode("Zg==", 4, out, sizeof(out)), 1);
    assert_int_equal(sshbpp__b64_decode("", 0, out, sizeof(out)), 0);
    assert_int_equal(sshbpp__b64_decode("+/+/", 4, out, sizeof(out)), 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    /* Too small an output, padding on a length that is not a multiple of
     * 4, a lone sixth-bit group, a byte outside the alphabet, '=' inside,
     * and non-zero unused bits. */
    assert_int_equal(sshbpp__b64_decode("Zm9v", 4, out, 5), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Zm8==", 5, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Zm9vZ", 5, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Zm-v", 4, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Z=9v", 4, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Zm9=", 4, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Zh==", 4, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode("Zm9v", (size_t)0x40000000, out, sizeof(out)),
                     SSHBPP_EKEYFILE);
    /* Whitespace between groups only in the _ws form. */
    assert_int_equal(sshbpp__b64_decode("Zm9v Zm9v", 9, out, sizeof(out)), SSHBPP_EKEYFILE);
    assert_int_equal(sshbpp__b64_decode_ws(" Zm9v\r\n\tZm9v\n", 13, out, sizeof(out)), 6);
    assert_memory_equal(out, "foofoo", 6);
    assert_int_equal(sshbpp__b64_decode_ws("Zm9v", (size_t)0x40000000, out, sizeof(out)),
                     SSHBPP_EKEYFILE);
    /* Encoding: room for the NUL is required. */
    assert_int_equal(sshbpp__b64_encode((const uint8_t *)"foo", 3, enc, 4), SSHBPP_EBUFSMALL);
    assert_int_equal(sshbpp__b64_encode((const uint8_t *)"foo", 3, enc, 5), 4);
    assert_string_equal(enc, "Zm9v");
    assert_int_equal(sshbpp__b64_encode((const uint8_t *)"f", (size_t)0x40000000, enc, sizeof(enc)),
                     SSHBPP_EINVAL);
}

/* ---- lines and files ---------------------------------------------------- */

static void
test_lines(void **state)
{
    static char big[SSHBPP_KEYS_MAX_LINE + 2];
    const char text[] = "one\r\ntwo\n\n\r\nfo\0ur\nlast";
    sshbpp__lines l;
    sshbpp_key_diag d;
    const char *line;
    size_t n;

    (void)state;
    sshbpp__lines_init(&l, text, sizeof(text) - 1);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, 3); /* CR LF: the CR goes too */
    assert_memory_equal(line, "one", 3);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, 3);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, 0);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, 0); /* a lone CR */
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, 5); /* a NUL byte is just a byte of the line */
    assert_memory_equal(line, "fo\0ur", 5);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, 4); /* no final newline */
    assert_int_equal(l.lineno, 6);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 0);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 0);

    /* The longest line allowed, then one byte more (line 2). */
    memset(big, 'x', sizeof(big));
    big[SSHBPP_KEYS_MAX_LINE] = '\n';
    sshbpp__lines_init(&l, big, sizeof(big));
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), 1);
    assert_int_equal(n, SSHBPP_KEYS_MAX_LINE);
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, &d), 1);
    assert_int_equal(n, 1);
    big[SSHBPP_KEYS_MAX_LINE] = 'x';
    sshbpp__lines_init(&l, big, sizeof(big));
    memset(&d, 0, sizeof(d));
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, &d), SSHBPP_EKEYLINELONG);
    assert_int_equal(d.line, 1);
    assert_non_null(strstr(d.msg, "65538 bytes"));
    sshbpp__lines_init(&l, big, sizeof(big));
    assert_int_equal(sshbpp__lines_next(&l, &line, &n, NULL), SSHBPP_EKEYLINELONG);
}

static void
test_read_file(void **state)
{
    char dir[] = "/tmp/sshbpp-cov-codecs-XXXXXX", path[128];
    static char content[40000];
    char *data = NULL;
    size_t len = 1, i;
    int enoent = 0;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < sizeof(content); i++)
        content[i] = (char)('a' + i % 26);
    snprintf(path, sizeof(path), "%s/f", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, sizeof(content), f), sizeof(content));
    assert_int_equal(fclose(f), 0);

    /* Larger than the first buffer: grown (by copying) twice. */
    assert_int_equal(sshbpp__read_file(path, SSHBPP_KEYS_MAX_FILE, &data, &len, &enoent), 0);
    assert_int_equal(enoent, 0);
    assert_int_equal(len, sizeof(content));
    assert_memory_equal(data, content, sizeof(content));
    assert_int_equal(data[len], '\0');
    sshbpp__free_file(data, len);
    sshbpp__free_file(NULL, 0);

    /* Exactly at the cap passes; one byte over is EKEYFILE, whether the
     * cap falls in the first buffer or a later one. */
    assert_int_equal(sshbpp__read_file(path, sizeof(content), &data, &len, NULL), 0);
    assert_int_equal(len, sizeof(content));
    sshbpp__free_file(data, len);
    assert_int_equal(sshbpp__read_file(path, sizeof(content) - 1, &data, &len, NULL),
                     SSHBPP_EKEYFILE);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_int_equal(sshbpp__read_file(path, 100, &data, &len, NULL), SSHBPP_EKEYFILE);
    /* A cap between one buffer's fill and the next: a file shorter than
     * the cap is read whole. */
    assert_int_equal(sshbpp__read_file(path, 45000, &data, &len, NULL), 0);
    assert_int_equal(len, sizeof(content));
    sshbpp__free_file(data, len);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, 15000, f), 15000);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(sshbpp__read_file(path, 16000, &data, &len, NULL), 0);
    assert_int_equal(len, 15000);
    sshbpp__free_file(data, len);

    /* Missing: EIO with enoent set; a directory opens but does not read:
     * EIO without enoent. */
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(sshbpp__read_file(path, 100, &data, &len, &enoent), SSHBPP_EIO);
    assert_int_equal(enoent, 1);
    assert_int_equal(sshbpp__read_file(path, 100, &data, &len, NULL), SSHBPP_EIO);
    assert_int_equal(sshbpp__read_file(dir, 100, &data, &len, &enoent), SSHBPP_EIO);
    assert_int_equal(enoent, 0);
    assert_null(data);

    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- patterns ----------------------------------------------------------- */

static void
test_patterns(void **state)
{
    char longpat[80];

    (void)state;
    assert_int_equal(sshbpp__glob("*", 1, "*", 1), 1);
    assert_int_equal(sshbpp__glob("a*", 2, "a", 1), 1);
    assert_int_equal(sshbpp__glob("a**", 3, "a", 1), 1);
    assert_int_equal(sshbpp__glob("a*?", 3, "a", 1), 0);
    assert_int_equal(sshbpp__glob("*.EXAMPLE.com", 13, "www.example.COM", 15), 1);
    assert_int_equal(sshbpp__glob("a*b*c", 5, "axxbyyc", 7), 1);
    assert_int_equal(sshbpp__glob("a*b*c", 5, "axxbyy", 6), 0);
    assert_int_equal(sshbpp__glob("ab", 2, "abc", 3), 0);
    assert_int_equal(sshbpp__glob("", 0, "", 0), 1);

    /* Empty elements and a lone '!' are skipped; a negation wins. */
    assert_int_equal(sshbpp__match_list(",,host,", 7, "host"), 1);
    assert_int_equal(sshbpp__match_list("!,other", 7, "host"), 0);
    assert_int_equal(sshbpp__match_list("*,!host", 7, "host"), -1);
    assert_int_equal(sshbpp__match_list("", 0, "host"), 0);

    /* CIDR: the network part only, a sane prefix length, and a pattern
     * that is not CIDR text at all. */
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/8", 10, NULL, "10.1.2.3"), 1);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/8", 10, NULL, "11.1.2.3"), 0);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/8", 10, "h", NULL), 0);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/8", 10, NULL, "fe80::1"), 0);
    assert_int_equal(sshbpp__match_host_addr("10.1.0.0/8", 10, NULL, "10.1.2.3"), -2);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/", 9, NULL, "10.1.2.3"), -2);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/8x", 11, NULL, "10.1.2.3"), -2);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/33", 11, NULL, "10.1.2.3"), -2);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/-1", 11, NULL, "10.1.2.3"), -2);
    assert_int_equal(sshbpp__match_host_addr("bad.host/8", 10, NULL, "10.1.2.3"), -2);
    assert_int_equal(sshbpp__match_host_addr("2001:db8::/32", 13, NULL, "2001:db8::7"), 1);
    assert_int_equal(sshbpp__match_host_addr("2001:db8::/32", 13, NULL, "2001:db9::7"), 0);
    assert_int_equal(sshbpp__match_host_addr("10.0.0.0/31", 11, NULL, "10.0.0.1"), 1);
    memset(longpat, '1', sizeof(longpat));
    longpat[2] = '/';
    assert_int_equal(sshbpp__match_host_addr(longpat, 64, NULL, "10.0.0.1"), -2);
    /* A malformed CIDR ends the list's evaluation. */
    assert_int_equal(sshbpp__match_host_addr("10.1.0.0/8,*", 12, NULL, "10.1.2.3"), -2);
    /* Names and addresses by glob. */
    assert_int_equal(sshbpp__match_host_addr("*.example.com", 13, "a.example.com", "1.2.3.4"), 1);
    assert_int_equal(sshbpp__match_host_addr("1.2.3.*", 7, NULL, "1.2.3.4"), 1);
    assert_int_equal(sshbpp__match_host_addr("1.2.3.*", 7, NULL, NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cipher_misuse),  cmocka_unit_test(test_gcm_edges),
        cmocka_unit_test(test_chacha_edges),   cmocka_unit_test(test_mac_misuse),
        cmocka_unit_test(test_zlib_misuse_and_bounds), cmocka_unit_test(test_zlib_inflate_errors),
        cmocka_unit_test(test_base64_strict),  cmocka_unit_test(test_lines),
        cmocka_unit_test(test_read_file),      cmocka_unit_test(test_patterns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
