/*
 * test_alg.c: the algorithm layer (src/cipher.c, mac.c, zlib.c) on its own,
 * below the engine: table lookups, known answers computed independently of
 * OpenSSL's EVP paths used here, and every way an AEAD tag can be broken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <nettle/umac.h>

#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alg.h"

/* ---- helpers ------------------------------------------------------------ */


/* Deterministic filler (xorshift32): reproducible failures, and data that
 * deflate cannot shrink. */
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

static const sshbpp__cipher_desc *
cipher(const char *name)
{
    const sshbpp__cipher_desc *d = sshbpp__cipher_find(name);

    assert_non_null(d);
    return d;
}

static const sshbpp__mac_desc *
mac(const char *name)
{
    const sshbpp__mac_desc *d = sshbpp__mac_find(name);

    assert_non_null(d);
    return d;
}

static size_t
count_names(const char *const *names)
{
    size_t n = 0;

    while (names[n] != NULL)
        n++;
    return n;
}

/* ---- lookups ------------------------------------------------------------ */

static void
test_cipher_lookup(void **state)
{
    static const struct {
        const char *name;
        int mode;
        size_t key, iv, bs, tag;
    } want[] = {
        {"chacha20-poly1305@openssh.com", SSHBPP__MODE_CHACHA, 64, 0, 8, 16},
        {"aes128-gcm@openssh.com", SSHBPP__MODE_GCM, 16, 12, 16, 16},
        {"aes256-gcm@openssh.com", SSHBPP__MODE_GCM, 32, 12, 16, 16},
        {"aes128-ctr", SSHBPP__MODE_CTR, 16, 16, 16, 0},
        {"aes192-ctr", SSHBPP__MODE_CTR, 24, 16, 16, 0},
        {"aes256-ctr", SSHBPP__MODE_CTR, 32, 16, 16, 0},
        {"aes128-cbc", SSHBPP__MODE_CBC, 16, 16, 16, 0},
        {"aes192-cbc", SSHBPP__MODE_CBC, 24, 16, 16, 0},
        {"aes256-cbc", SSHBPP__MODE_CBC, 32, 16, 16, 0},
        {"3des-cbc", SSHBPP__MODE_CBC, 24, 8, 8, 0},
        {"none", SSHBPP__MODE_NONE, 0, 0, 8, 0},
    };
    size_t i, n = sizeof(want) / sizeof(want[0]);

    (void)state;
    /* The names list is the preference order, so its order is checked. */
    assert_int_equal(count_names(sshbpp__cipher_names), n);
    for (i = 0; i < n; i++) {
        const sshbpp__cipher_desc *d = cipher(want[i].name);

        assert_string_equal(sshbpp__cipher_names[i], want[i].name);
        assert_string_equal(d->name, want[i].name);
        assert_int_equal(d->mode, want[i].mode);
        assert_int_equal(d->key_len, want[i].key);
        assert_int_equal(d->iv_len, want[i].iv);
        assert_int_equal(d->block_size, want[i].bs);
        assert_int_equal(d->tag_len, want[i].tag);
    }
    assert_null(sshbpp__cipher_find("aes128-CTR"));
    assert_null(sshbpp__cipher_find("arcfour"));
    assert_null(sshbpp__cipher_find(""));
    assert_null(sshbpp__cipher_find(NULL));
}

/* The expected properties of a MAC are derived from its name by the rules
 * of RFC 4253 section 6.4, RFC 6668 and OpenSSH's PROTOCOL (not copied
 * from src/mac.c): the digest is named in it, the key is as long as the
 * digest's output (asked from OpenSSL), "-96" truncates the tag to 96
 * bits, and the "-etm@openssh.com" suffix means encrypt-then-MAC. */
static void
test_mac_lookup(void **state)
{
    static const char *const names[] = {
        "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256",
        "hmac-sha2-512", "hmac-sha1-etm@openssh.com", "hmac-sha1", "hmac-md5-etm@openssh.com",
        "hmac-md5", "hmac-sha1-96-etm@openssh.com", "hmac-sha1-96", "hmac-md5-96-etm@openssh.com",
        "hmac-md5-96", "umac-64-etm@openssh.com", "umac-128-etm@openssh.com",
        "umac-64@openssh.com", "umac-128@openssh.com",
    };
    static const char etm_suffix[] = "-etm@openssh.com";
    size_t i, n = sizeof(names) / sizeof(names[0]);

    (void)state;
    assert_int_equal(count_names(sshbpp__mac_names), n);
    for (i = 0; i < n; i++) {
        const char *nm = names[i];
        const sshbpp__mac_desc *d = mac(nm);
        size_t len = strlen(nm), sl = sizeof(etm_suffix) - 1;
        int etm = len > sl && strcmp(nm + len - sl, etm_suffix) == 0;
        const char *digest = strncmp(nm, "hmac-sha2-256", 13) == 0   ? "SHA256"
                             : strncmp(nm, "hmac-sha2-512", 13) == 0 ? "SHA512"
                             : strncmp(nm, "hmac-sha1", 9) == 0      ? "SHA1"
                             : strncmp(nm, "hmac-md5", 8) == 0       ? "MD5"
                                                                     : NULL;
        const EVP_MD *md;
        int outlen;

        if (strncmp(nm, "umac-", 5) == 0) {
            /* RFC 4418 UMAC (nettle): AES-128 key, 64- or 128-bit tag. */
            int wide = strncmp(nm, "umac-128", 8) == 0;

            assert_string_equal(sshbpp__mac_names[i], nm);
            assert_string_equal(d->digest, wide ? "UMAC128" : "UMAC64");
            assert_int_equal(d->key_len, 16);
            assert_int_equal(d->mac_len, wide ? 16u : 8u);
            assert_int_equal(d->etm, etm);
            continue;
        }
        assert_non_null(digest);
        md = EVP_get_digestbyname(digest);
        assert_non_null(md);
        outlen = EVP_MD_get_size(md);
        assert_true(outlen > 0);
        assert_string_equal(sshbpp__mac_names[i], nm); /* preference order */
        assert_string_equal(d->name, nm);
        assert_string_equal(d->digest, digest);
        assert_int_equal(d->key_len, (size_t)outlen);
        assert_int_equal(d->mac_len, strstr(nm, "-96") != NULL ? 12u : (size_t)outlen);
        assert_int_equal(d->etm, etm);
    }
    /* The engine handles "none" itself; the table must not claim it. */
    assert_null(sshbpp__mac_find("none"));
    assert_null(sshbpp__mac_find("hmac-sha2-384"));
    assert_null(sshbpp__mac_find(NULL));
}

/* UMAC as OpenSSH frames it: nonce = 64-bit big-endian seqno, message =
 * the packet without a seqno prefix (nettle's RFC 4418 UMAC underneath; the
 * interop tests against OpenSSH are the proof that the framing is right).
 * Every bit flip, another seqno and other data are rejected. */
static void
test_umac_framing(void **state)
{
    static const char *const names[] = {"umac-64@openssh.com", "umac-128@openssh.com",
                                        "umac-64-etm@openssh.com", "umac-128-etm@openssh.com"};
    static const uint32_t seqnos[] = {0, 1, 0x01020304u, 0xffffffffu};
    uint8_t key[16], data[300], want[16], out[32], nonce[8];
    size_t i, j, bit;

    (void)state;
    fill(key, sizeof(key), 3);
    fill(data, sizeof(data), 4);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const sshbpp__mac_desc *d = mac(names[i]);
        sshbpp__mac m = {0};
        int wide = d->mac_len == 16;

        assert_int_equal(sshbpp__mac_init(&m, d, key), 0);
        for (j = 0; j < sizeof(seqnos) / sizeof(seqnos[0]); j++) {
            memset(nonce, 0, 4);
            nonce[4] = (uint8_t)(seqnos[j] >> 24);
            nonce[5] = (uint8_t)(seqnos[j] >> 16);
            nonce[6] = (uint8_t)(seqnos[j] >> 8);
            nonce[7] = (uint8_t)seqnos[j];
            if (wide) {
                struct umac128_ctx u;
                umac128_set_key(&u, key);
                umac128_set_nonce(&u, 8, nonce);
                umac128_update(&u, sizeof(data), data);
                umac128_digest(&u, 16, want);
            } else {
                struct umac64_ctx u;
                umac64_set_key(&u, key);
                umac64_set_nonce(&u, 8, nonce);
                umac64_update(&u, sizeof(data), data);
                umac64_digest(&u, 8, want);
            }
            memset(out, 0xee, sizeof(out));
            assert_int_equal(sshbpp__mac_compute(&m, seqnos[j], data, sizeof(data), out), 0);
            assert_memory_equal(out, want, d->mac_len);
            assert_int_equal(out[d->mac_len], 0xee);
            /* Twice with the same seqno: the nonce is set, not counted on. */
            assert_int_equal(sshbpp__mac_verify(&m, seqnos[j], data, sizeof(data), out), 0);
            assert_int_equal(sshbpp__mac_verify(&m, seqnos[j], data, sizeof(data), out), 0);
            assert_int_equal(sshbpp__mac_verify(&m, seqnos[j] + 1, data, sizeof(data), out),
                             SSHBPP_EMAC);
            assert_int_equal(sshbpp__mac_verify(&m, seqnos[j], data, sizeof(data) - 1, out),
                             SSHBPP_EMAC);
        }
        for (bit = 0; bit < d->mac_len * 8; bit++) {
            out[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(sshbpp__mac_verify(&m, 0xffffffffu, data, sizeof(data), out),
                             SSHBPP_EMAC);
            out[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        sshbpp__mac_free(&m);
        assert_null(m.umac);
        assert_null(m.desc);
    }
}

static void
test_comp_names(void **state)
{
    (void)state;
    assert_int_equal(count_names(sshbpp__comp_names), 3);
    assert_string_equal(sshbpp__comp_names[0], "none");
    assert_string_equal(sshbpp__comp_names[1], "zlib@openssh.com");
    assert_string_equal(sshbpp__comp_names[2], "zlib");
}

/* ---- MACs --------------------------------------------------------------- */

static const char kat_plain_hex[] =
    "0000001c0e64000000640000000100000384b0e0b9db07caac57c052d84ebf8a";

static void
test_hmac_sha1_kat(void **state)
{
    static const char *const names[] = {"hmac-sha1-96", "hmac-sha1", "hmac-sha1-etm@openssh.com",
                                        "hmac-sha1-96-etm@openssh.com"};
    uint8_t key[20], data[64], want[12], out[64];
    size_t dlen, i;

    (void)state;
    memset(key, 0x1f, sizeof(key));
    dlen = tu_hex_decode(kat_plain_hex, data, sizeof(data));
    tu_hex_decode("6e03b1a0c21cd641414cb459", want, sizeof(want));
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sshbpp__mac m = {0};

        assert_int_equal(sshbpp__mac_init(&m, mac(names[i]), key), 0);
        /* Twice: the second run proves the NULL-key re-init kept the key. */
        memset(out, 0, sizeof(out));
        assert_int_equal(sshbpp__mac_compute(&m, 0, data, dlen, out), 0);
        assert_memory_equal(out, want, sizeof(want));
        memset(out, 0, sizeof(out));
        assert_int_equal(sshbpp__mac_compute(&m, 0, data, dlen, out), 0);
        assert_memory_equal(out, want, sizeof(want));
        assert_int_equal(sshbpp__mac_verify(&m, 0, data, dlen, out), 0);
        assert_int_equal(sshbpp__mac_verify(&m, 1, data, dlen, out), SSHBPP_EMAC);
        sshbpp__mac_free(&m);
        assert_null(m.ctx);
        assert_null(m.desc);
    }
}

/* Every MAC against OpenSSL's one-shot HMAC() over BE32(seqno) || data,
 * then every single-bit flip of the MAC must be rejected. */
static void
test_mac_all(void **state)
{
    static const uint32_t seqnos[] = {0, 1, 0x01020304u, 0xffffffffu};
    uint8_t key[64], data[300], msg[304], want[EVP_MAX_MD_SIZE], out[64];
    size_t i, j, bit;

    (void)state;
    fill(key, sizeof(key), 1);
    fill(data, sizeof(data), 2);
    for (i = 0; sshbpp__mac_names[i] != NULL; i++) {
        const sshbpp__mac_desc *d = mac(sshbpp__mac_names[i]);
        const EVP_MD *md;
        sshbpp__mac m = {0};

        if (strncmp(d->digest, "UMAC", 4) == 0)
            continue; /* test_umac_framing */
        md = EVP_get_digestbyname(d->digest);
        assert_non_null(md);
        assert_int_equal(sshbpp__mac_init(&m, d, key), 0);
        for (j = 0; j < sizeof(seqnos) / sizeof(seqnos[0]); j++) {
            unsigned int wlen = 0;

            msg[0] = (uint8_t)(seqnos[j] >> 24);
            msg[1] = (uint8_t)(seqnos[j] >> 16);
            msg[2] = (uint8_t)(seqnos[j] >> 8);
            msg[3] = (uint8_t)seqnos[j];
            memcpy(msg + 4, data, sizeof(data));
            assert_non_null(HMAC(md, key, (int)d->key_len, msg, sizeof(msg), want, &wlen));
            assert_int_equal(wlen, d->key_len);
            memset(out, 0xee, sizeof(out));
            assert_int_equal(sshbpp__mac_compute(&m, seqnos[j], data, sizeof(data), out), 0);
            assert_memory_equal(out, want, d->mac_len);
            /* Truncation writes exactly mac_len bytes and no more. */
            if (d->mac_len < sizeof(out))
                assert_int_equal(out[d->mac_len], 0xee);
            assert_int_equal(sshbpp__mac_verify(&m, seqnos[j], data, sizeof(data), out), 0);
        }
        for (bit = 0; bit < d->mac_len * 8; bit++) {
            out[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(sshbpp__mac_verify(&m, 0xffffffffu, data, sizeof(data), out),
                             SSHBPP_EMAC);
            out[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        data[0] ^= 1;
        assert_int_equal(sshbpp__mac_verify(&m, 0xffffffffu, data, sizeof(data), out),
                         SSHBPP_EMAC);
        data[0] ^= 1;
        sshbpp__mac_free(&m);
    }
}

/* ---- CTR / CBC / none --------------------------------------------------- */

static void
test_aes128_cbc_kat(void **state)
{
    uint8_t key[16], iv[16], ct[32], pt[32], buf[32];
    sshbpp__cipher dec = {0}, enc = {0};

    (void)state;
    memset(key, 0, sizeof(key));
    memset(iv, 0x55, sizeof(iv));
    tu_hex_decode("439197bd5b50ac2587c2c46bc7e938c090d216560d717361387c4c3dfb977de2", ct, sizeof(ct));
    tu_hex_decode(kat_plain_hex, pt, sizeof(pt));

    /* Block by block: the chain must carry across calls, as it does
     * between the engine's first-block and rest-of-packet decrypts. */
    assert_int_equal(sshbpp__cipher_init(&dec, cipher("aes128-cbc"), key, iv, 0), 0);
    memcpy(buf, ct, sizeof(buf));
    assert_int_equal(sshbpp__cipher_crypt(&dec, buf, 16), 0);
    assert_int_equal(sshbpp__cipher_crypt(&dec, buf + 16, 16), 0);
    assert_memory_equal(buf, pt, sizeof(pt));

    assert_int_equal(sshbpp__cipher_init(&enc, cipher("aes128-cbc"), key, iv, 1), 0);
    assert_int_equal(sshbpp__cipher_crypt(&enc, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, ct, sizeof(ct));
    /* Whole blocks only. */
    assert_int_equal(sshbpp__cipher_crypt(&enc, buf, 15), SSHBPP_EINVAL);
    sshbpp__cipher_free(&dec);
    sshbpp__cipher_free(&enc);
    assert_null(dec.desc);
    assert_null(dec.ctx);
}

static void
test_block_roundtrip(void **state)
{
    static const char *const names[] = {"aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-cbc",
                                        "aes192-cbc", "aes256-cbc", "3des-cbc"};
    uint8_t key[32], iv[16], pt[96], buf[96], ref[96];
    size_t i;

    (void)state;
    fill(key, sizeof(key), 3);
    fill(iv, sizeof(iv), 4);
    fill(pt, sizeof(pt), 5);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const sshbpp__cipher_desc *d = cipher(names[i]);
        sshbpp__cipher enc = {0}, dec = {0};
        size_t bs = d->block_size;

        assert_int_equal(sshbpp__cipher_init(&enc, d, key, iv, 1), 0);
        assert_int_equal(sshbpp__cipher_init(&dec, d, key, iv, 0), 0);
        /* One call versus split calls must agree: state persists. */
        memcpy(ref, pt, sizeof(pt));
        assert_int_equal(sshbpp__cipher_crypt(&enc, ref, sizeof(ref)), 0);
        assert_memory_not_equal(ref, pt, sizeof(pt));
        sshbpp__cipher_free(&enc);
        assert_int_equal(sshbpp__cipher_init(&enc, d, key, iv, 1), 0);
        memcpy(buf, pt, sizeof(pt));
        assert_int_equal(sshbpp__cipher_crypt(&enc, buf, bs), 0);
        assert_int_equal(sshbpp__cipher_crypt(&enc, buf + bs, sizeof(buf) - bs), 0);
        assert_memory_equal(buf, ref, sizeof(ref));

        assert_int_equal(sshbpp__cipher_crypt(&dec, buf, sizeof(buf) - bs), 0);
        assert_int_equal(sshbpp__cipher_crypt(&dec, buf + sizeof(buf) - bs, bs), 0);
        assert_memory_equal(buf, pt, sizeof(pt));
        /* Re-init on a live state replaces it (valgrind sees any leak). */
        assert_int_equal(sshbpp__cipher_init(&dec, d, key, iv, 0), 0);
        sshbpp__cipher_free(&enc);
        sshbpp__cipher_free(&dec);
    }
}

static void
test_none_cipher(void **state)
{
    sshbpp__cipher c = {0};
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8}, same[8];

    (void)state;
    memcpy(same, buf, sizeof(buf));
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, sizeof(buf)), 0);
    assert_int_equal(sshbpp__cipher_init(&c, cipher("none"), NULL, NULL, 1), 0);
    assert_int_equal(sshbpp__cipher_crypt(&c, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, same, sizeof(buf));
    /* An AEAD entry point on a non-AEAD state is a caller bug. */
    assert_int_equal(sshbpp__gcm_seal(&c, buf, sizeof(buf), same), SSHBPP_EINVAL);
    sshbpp__cipher_free(&c);
}

/* ---- AES-GCM ------------------------------------------------------------ */

/* Two consecutive packets under one key, from an independent AES-GCM. */
static void
test_gcm_kat(void **state)
{
    static const char *const wire[] = {
        "000000109832a7ce661bf7544bd2618a36a370a2264cc47427e83f07e3658b7bff8c504f",
        "00000010014c4b07a58ded42679bb3e6da2d7dc7e79a23d6fbd8835812a9aae133dead42",
    };
    uint8_t key[16], iv[12], pt[20], w[36], buf[20], tag[16];
    sshbpp__cipher enc = {0}, dec = {0};
    size_t i, k;

    (void)state;
    for (k = 0; k < sizeof(key); k++)
        key[k] = (uint8_t)k;
    tu_hex_decode("000102030405060708090a0b", iv, sizeof(iv));
    tu_hex_decode("000000100b5e00000000000000000000000000aa", pt, sizeof(pt));
    assert_int_equal(sshbpp__cipher_init(&enc, cipher("aes128-gcm@openssh.com"), key, iv, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&dec, cipher("aes128-gcm@openssh.com"), key, iv, 0), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(tu_hex_decode(wire[i], w, sizeof(w)), sizeof(w));
        memcpy(buf, pt, sizeof(pt));
        assert_int_equal(sshbpp__gcm_seal(&enc, buf, sizeof(buf), tag), 0);
        assert_memory_equal(buf, w, sizeof(buf));
        assert_memory_equal(tag, w + 20, 16);
        assert_int_equal(sshbpp__gcm_open(&dec, buf, sizeof(buf), w + 20), 0);
        assert_memory_equal(buf, pt, sizeof(pt));
    }
    sshbpp__cipher_free(&enc);
    sshbpp__cipher_free(&dec);
}

static void
test_gcm_roundtrip_tamper(void **state)
{
    static const char *const names[] = {"aes128-gcm@openssh.com", "aes256-gcm@openssh.com"};
    uint8_t key[32], iv[12], pt[68], buf[68], tag[16], iv_before[12];
    size_t i, pos;
    int pkt;

    (void)state;
    fill(key, sizeof(key), 6);
    fill(iv, sizeof(iv), 7);
    for (i = 0; i < 2; i++) {
        sshbpp__cipher enc = {0}, dec = {0};

        assert_int_equal(sshbpp__cipher_init(&enc, cipher(names[i]), key, iv, 1), 0);
        assert_int_equal(sshbpp__cipher_init(&dec, cipher(names[i]), key, iv, 0), 0);
        for (pkt = 0; pkt < 3; pkt++) {
            fill(pt, sizeof(pt), 100 + (uint32_t)pkt);
            pt[0] = 0, pt[1] = 0, pt[2] = 0, pt[3] = 64;
            memcpy(buf, pt, sizeof(pt));
            assert_int_equal(sshbpp__gcm_seal(&enc, buf, sizeof(buf), tag), 0);
            /* The length is AAD: authenticated, never encrypted. */
            assert_memory_equal(buf, pt, 4);
            assert_memory_not_equal(buf + 4, pt + 4, sizeof(pt) - 4);

            /* Each tampering must fail and leave the IV where it was, so
             * the genuine packet still opens afterwards. */
            memcpy(iv_before, dec.iv, sizeof(iv_before));
            for (pos = 0; pos < sizeof(buf) + sizeof(tag); pos += 7) {
                uint8_t tb[68], tt[16];

                memcpy(tb, buf, sizeof(tb));
                memcpy(tt, tag, sizeof(tt));
                if (pos < sizeof(tb))
                    tb[pos] ^= 0x01; /* pos < 4: AAD, else ciphertext */
                else
                    tt[pos - sizeof(tb)] ^= 0x80;
                assert_int_equal(sshbpp__gcm_open(&dec, tb, sizeof(tb), tt), SSHBPP_ETAG);
                assert_memory_equal(dec.iv, iv_before, sizeof(iv_before));
            }
            assert_int_equal(sshbpp__gcm_open(&dec, buf, sizeof(buf), tag), 0);
            assert_memory_equal(buf, pt, sizeof(pt));
            assert_memory_not_equal(dec.iv, iv_before, sizeof(iv_before));
        }
        /* A direction mix-up is refused rather than silently wrong. */
        assert_int_equal(sshbpp__gcm_open(&enc, buf, sizeof(buf), tag), SSHBPP_EINVAL);
        assert_int_equal(sshbpp__gcm_seal(&enc, buf, 3, tag), SSHBPP_EINVAL);
        sshbpp__cipher_free(&enc);
        sshbpp__cipher_free(&dec);
    }
}

static void
test_gcm_iv_counter(void **state)
{
    uint8_t key[16] = {0}, iv[12], want[12], buf[20] = {0, 0, 0, 16}, tag[16];
    sshbpp__cipher c = {0};

    (void)state;
    /* Carry from the low into the high 32 bits of the counter. */
    tu_hex_decode("0102030400000000ffffffff", iv, sizeof(iv));
    assert_int_equal(sshbpp__cipher_init(&c, cipher("aes128-gcm@openssh.com"), key, iv, 1), 0);
    assert_int_equal(sshbpp__gcm_seal(&c, buf, sizeof(buf), tag), 0);
    tu_hex_decode("010203040000000100000000", want, sizeof(want));
    assert_memory_equal(c.iv, want, sizeof(want));
    assert_int_equal(sshbpp__gcm_seal(&c, buf, sizeof(buf), tag), 0);
    tu_hex_decode("010203040000000100000001", want, sizeof(want));
    assert_memory_equal(c.iv, want, sizeof(want));

    /* The 64-bit counter wraps; the fixed field is never touched. */
    tu_hex_decode("01020304ffffffffffffffff", iv, sizeof(iv));
    assert_int_equal(sshbpp__cipher_init(&c, cipher("aes128-gcm@openssh.com"), key, iv, 1), 0);
    assert_int_equal(sshbpp__gcm_seal(&c, buf, sizeof(buf), tag), 0);
    tu_hex_decode("010203040000000000000000", want, sizeof(want));
    assert_memory_equal(c.iv, want, sizeof(want));
    sshbpp__cipher_free(&c);
}

/* ---- chacha20-poly1305@openssh.com -------------------------------------- */

/*
 * Wire bytes from an independent ChaCha20 (original 64-bit counter and
 * nonce) + Poly1305, following PROTOCOL.chacha20poly1305: key 00..3f,
 * seqno 0, packet_length 0x18, padding_length 10, payload
 * 64000000640000000100000384, ten zero padding bytes.
 */
static void
test_chacha_kat(void **state)
{
    uint8_t key[64], pt[28], w[44], buf[28], tag[16];
    sshbpp__cipher enc = {0}, dec = {0};
    const sshbpp__cipher_desc *d = cipher("chacha20-poly1305@openssh.com");
    uint32_t len = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    assert_int_equal(tu_hex_decode("000000180a64000000640000000100000384", pt, sizeof(pt)), 18);
    memset(pt + 18, 0, 10);
    assert_int_equal(tu_hex_decode("94450e4112dc4231ad82a6d113605c61acc74e27f8b1f3f5e1ad5b5cf182427e"
                           "8f21d63221f9575860132ae5",
                           w, sizeof(w)),
                     sizeof(w));
    assert_int_equal(sshbpp__cipher_init(&enc, d, key, NULL, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&dec, d, key, NULL, 0), 0);
    memcpy(buf, pt, sizeof(pt));
    assert_int_equal(sshbpp__chacha_seal(&enc, 0, buf, sizeof(buf), tag), 0);
    assert_memory_equal(buf, w, sizeof(buf));
    assert_memory_equal(tag, w + 28, sizeof(tag));

    assert_int_equal(sshbpp__chacha_get_length(&dec, 0, w, &len), 0);
    assert_int_equal(len, 0x18);
    assert_int_equal(sshbpp__chacha_open(&dec, 0, buf, sizeof(buf), w + 28), 0);
    assert_memory_equal(buf, pt, sizeof(pt));
    sshbpp__cipher_free(&enc);
    sshbpp__cipher_free(&dec);
}

/* Same generator; a high sequence number puts bits in every nonce byte
 * the layout can get wrong, and the 72-byte body crosses a keystream
 * block. Padding is 0xaa. */
static void
test_chacha_kat_seqno(void **state)
{
    uint8_t key[64], pt[76], w[92], buf[76], tag[16];
    sshbpp__cipher enc = {0}, dec = {0};
    const sshbpp__cipher_desc *d = cipher("chacha20-poly1305@openssh.com");
    uint32_t len = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    assert_int_equal(
        tu_hex_decode("000000480a5e000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
              "202122232425262728292a2b2c2d2e2f303132333435363738393a3baaaaaaaaaaaaaaaaaaaa",
              pt, sizeof(pt)),
        sizeof(pt));
    assert_int_equal(
        tu_hex_decode("c2f231ed43643322729ba95c27ed45ad8bd85140fce6f78e4ecf593928a2d05757cca5f8e5ab43"
              "909213278454794e52c410ccb8e4b07f336aa05f06eecf33d66790f241ddb901e32acbbe2b7ecb"
              "2e7c6231db802666badc8d98b567",
              w, sizeof(w)),
        sizeof(w));
    assert_int_equal(sshbpp__cipher_init(&enc, d, key, NULL, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&dec, d, key, NULL, 0), 0);
    memcpy(buf, pt, sizeof(pt));
    assert_int_equal(sshbpp__chacha_seal(&enc, 0xfedcba98u, buf, sizeof(buf), tag), 0);
    assert_memory_equal(buf, w, sizeof(buf));
    assert_memory_equal(tag, w + sizeof(buf), sizeof(tag));
    assert_int_equal(sshbpp__chacha_get_length(&dec, 0xfedcba98u, w, &len), 0);
    assert_int_equal(len, 0x48);
    assert_int_equal(sshbpp__chacha_open(&dec, 0xfedcba98u, buf, sizeof(buf), w + sizeof(buf)),
                     0);
    assert_memory_equal(buf, pt, sizeof(pt));
    sshbpp__cipher_free(&enc);
    sshbpp__cipher_free(&dec);
}

static void
test_chacha_roundtrip_tamper(void **state)
{
    static const uint32_t seqnos[] = {0, 1, 2, 0x7fffffffu, 0xfffffffeu, 0xffffffffu};
    uint8_t key[64], pt[100], buf[100], tag[16], sealed[100];
    sshbpp__cipher enc = {0}, dec = {0};
    const sshbpp__cipher_desc *d = cipher("chacha20-poly1305@openssh.com");
    size_t i, bit;

    (void)state;
    fill(key, sizeof(key), 8);
    assert_int_equal(sshbpp__cipher_init(&enc, d, key, NULL, 1), 0);
    assert_int_equal(sshbpp__cipher_init(&dec, d, key, NULL, 0), 0);
    for (i = 0; i < sizeof(seqnos) / sizeof(seqnos[0]); i++) {
        uint32_t seq = seqnos[i], len = 0;

        /* Body over one 64-byte keystream block, to cross a block edge. */
        fill(pt, sizeof(pt), 200 + seq);
        pt[0] = 0, pt[1] = 0, pt[2] = 0, pt[3] = 96;
        memcpy(buf, pt, sizeof(pt));
        assert_int_equal(sshbpp__chacha_seal(&enc, seq, buf, sizeof(buf), tag), 0);
        assert_memory_not_equal(buf, pt, 4);
        assert_int_equal(sshbpp__chacha_get_length(&dec, seq, buf, &len), 0);
        assert_int_equal(len, 96);
        memcpy(sealed, buf, sizeof(buf));

        for (bit = 0; bit < (sizeof(buf) + sizeof(tag)) * 8; bit++) {
            uint8_t t[16];

            memcpy(t, tag, sizeof(t));
            if (bit < sizeof(buf) * 8)
                buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            else
                t[bit / 8 - sizeof(buf)] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(sshbpp__chacha_open(&dec, seq, buf, sizeof(buf), t), SSHBPP_ETAG);
            if (bit < sizeof(buf) * 8)
                buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            /* Rejected means untouched: nothing decrypted in place. */
            assert_memory_equal(buf, sealed, sizeof(buf));
        }
        /* The sequence number is the nonce: any other one must fail. */
        assert_int_equal(sshbpp__chacha_open(&dec, seq + 1, buf, sizeof(buf), tag),
                         SSHBPP_ETAG);
        assert_memory_equal(buf, sealed, sizeof(buf));

        assert_int_equal(sshbpp__chacha_open(&dec, seq, buf, sizeof(buf), tag), 0);
        assert_memory_equal(buf, pt, sizeof(pt));
    }
    sshbpp__cipher_free(&enc);
    sshbpp__cipher_free(&dec);
}

/* ---- zlib --------------------------------------------------------------- */

static void
test_zlib_roundtrip(void **state)
{
    static uint8_t in[40000], comp[50000], out[40000];
    static const size_t sizes[] = {1, 5, 300, 4096, 40000, 17, 40000, 0, 2};
    sshbpp__zlib def = {0}, inf = {0};
    size_t i, clen, dlen;

    (void)state;
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];

        /* Alternate incompressible and repetitive packets; the repeats of
         * earlier packets only shrink if the window is shared. */
        if (i % 2 == 0)
            fill(in, n, 300 + (uint32_t)i);
        else
            memset(in, 'A' + (int)i, n);
        assert_true(sshbpp__zlib_bound(n) <= sizeof(comp));
        assert_int_equal(sshbpp__zlib_compress(&def, in, n, comp, sshbpp__zlib_bound(n), &clen),
                         0);
        assert_true(clen <= sshbpp__zlib_bound(n));
        if (n == 40000 && i % 2 == 0)
            assert_true(clen > n); /* random data: the bound is exercised */
        /* Each packet inflates on its own, thanks to the partial flush. */
        assert_int_equal(sshbpp__zlib_decompress(&inf, comp, clen, out, sizeof(out), &dlen), 0);
        assert_int_equal(dlen, n);
        assert_memory_equal(out, in, n);
    }
    /* An incompressible packet sent twice: the second copy shrinks to
     * back-references only because both ends kept the window. */
    fill(in, 4096, 999);
    for (i = 0; i < 2; i++) {
        assert_int_equal(sshbpp__zlib_compress(&def, in, 4096, comp, sizeof(comp), &clen), 0);
        assert_true(i == 0 ? clen > 4096 : clen < 100);
        assert_int_equal(sshbpp__zlib_decompress(&inf, comp, clen, out, sizeof(out), &dlen),
                         0);
        assert_int_equal(dlen, 4096);
        assert_memory_equal(out, in, 4096);
    }

    /* Wrong direction is refused. */
    assert_int_equal(sshbpp__zlib_compress(&inf, in, 1, comp, sizeof(comp), &clen),
                     SSHBPP_EINVAL);
    sshbpp__zlib_free(&def);
    sshbpp__zlib_free(&inf);
    assert_null(def.zs);
}

static void
test_zlib_bomb(void **state)
{
    static uint8_t in[65536], comp[70000], out[65536];
    sshbpp__zlib def = {0}, inf = {0};
    size_t clen = 0, dlen = 0;

    (void)state;
    memset(in, 0, sizeof(in));
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_compress(&def, in, sizeof(in), comp, sizeof(comp), &clen), 0);
    assert_true(clen < 1000);

    /* 64 KiB of zeros into 1000 bytes: refused. */
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, comp, clen, out, 1000, &dlen),
                     SSHBPP_EDECOMPLONG);
    /* One byte short: the output fills while inflate still holds data. */
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, comp, clen, out, sizeof(in) - 1, &dlen),
                     SSHBPP_EDECOMPLONG);
    /* Exactly max is allowed. */
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, comp, clen, out, sizeof(in), &dlen), 0);
    assert_int_equal(dlen, sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    sshbpp__zlib_free(&def);
    sshbpp__zlib_free(&inf);
}

/*
 * Hand-built stream: zlib header, then a non-final fixed-Huffman block
 * holding the literal 'a' and four (length 258, distance 1) matches, and
 * nothing after: 1033 bytes out of 10 in. With one byte less room, inflate
 * has eaten all its input yet still owes output from the last match; only
 * asking it for more reveals that.
 */
static void
test_zlib_bomb_pending(void **state)
{
    uint8_t in[10], out[1033], want[1033];
    sshbpp__zlib inf = {0};
    size_t dlen = 0;

    (void)state;
    assert_int_equal(tu_hex_decode("789c4a1c05a360148c02", in, sizeof(in)), sizeof(in));
    memset(want, 'a', sizeof(want));
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, in, sizeof(in), out, sizeof(out) - 1, &dlen),
                     SSHBPP_EDECOMPLONG);
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, in, sizeof(in), out, sizeof(out), &dlen), 0);
    assert_int_equal(dlen, sizeof(out));
    assert_memory_equal(out, want, sizeof(want));
    sshbpp__zlib_free(&inf);
}

static void
test_zlib_corrupt(void **state)
{
    uint8_t garbage[64], in[200], comp[400], out[256];
    sshbpp__zlib def = {0}, inf = {0};
    size_t clen = 0, dlen = 0;

    (void)state;
    /* Not a zlib header at all. */
    fill(garbage, sizeof(garbage), 9);
    garbage[0] = 0xff;
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, garbage, sizeof(garbage), out, sizeof(out),
                                             &dlen),
                     SSHBPP_EDECOMP);

    /* A valid first packet, then a second one whose block header is
     * reserved type 3, which no inflate accepts. */
    fill(in, sizeof(in), 10);
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_init(&inf, 0), 0);
    assert_int_equal(sshbpp__zlib_compress(&def, in, sizeof(in), comp, sizeof(comp), &clen), 0);
    assert_int_equal(sshbpp__zlib_decompress(&inf, comp, clen, out, sizeof(out), &dlen), 0);
    assert_int_equal(dlen, sizeof(in));
    memset(garbage, 0xff, sizeof(garbage));
    assert_int_equal(sshbpp__zlib_decompress(&inf, garbage, sizeof(garbage), out, sizeof(out),
                                             &dlen),
                     SSHBPP_EDECOMP);
    sshbpp__zlib_free(&def);
    sshbpp__zlib_free(&inf);
}

static void
test_zlib_bound(void **state)
{
    /* Larger than the 32 KiB window and the default packet limit, random,
     * so deflate has to fall back on its worst-case block choices. */
    static uint8_t in[SSHBPP_DEFAULT_MAX_PACKET + 4096], comp[2 * sizeof(in)];
    sshbpp__zlib def = {0};
    size_t clen = 0, n = sizeof(in);

    (void)state;
    assert_true(sshbpp__zlib_bound(0) >= 16);
    assert_true(sshbpp__zlib_bound(n) >= n + n / 8);
    fill(in, n, 11);
    assert_int_equal(sshbpp__zlib_init(&def, 1), 0);
    assert_int_equal(sshbpp__zlib_compress(&def, in, n, comp, sshbpp__zlib_bound(n), &clen), 0);
    assert_true(clen > n);
    assert_true(clen <= sshbpp__zlib_bound(n));
    /* A cap far below the bound is reported, not overrun. */
    assert_int_equal(sshbpp__zlib_compress(&def, in, 1000, comp, 10, &clen), SSHBPP_EBUFSMALL);
    assert_true(clen <= 10);
    sshbpp__zlib_free(&def);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cipher_lookup),
        cmocka_unit_test(test_mac_lookup),
        cmocka_unit_test(test_comp_names),
        cmocka_unit_test(test_hmac_sha1_kat),
        cmocka_unit_test(test_mac_all),
        cmocka_unit_test(test_umac_framing),
        cmocka_unit_test(test_aes128_cbc_kat),
        cmocka_unit_test(test_block_roundtrip),
        cmocka_unit_test(test_none_cipher),
        cmocka_unit_test(test_gcm_kat),
        cmocka_unit_test(test_gcm_roundtrip_tamper),
        cmocka_unit_test(test_gcm_iv_counter),
        cmocka_unit_test(test_chacha_kat),
        cmocka_unit_test(test_chacha_kat_seqno),
        cmocka_unit_test(test_chacha_roundtrip_tamper),
        cmocka_unit_test(test_zlib_roundtrip),
        cmocka_unit_test(test_zlib_bomb),
        cmocka_unit_test(test_zlib_bomb_pending),
        cmocka_unit_test(test_zlib_corrupt),
        cmocka_unit_test(test_zlib_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
