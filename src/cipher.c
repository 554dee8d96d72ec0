/*
 * cipher.c: the SSH cipher table and the per-direction cipher state, all
 * through OpenSSL 3 EVP.
 *
 * Contexts are created once in sshbpp__cipher_init() and kept for the life
 * of the keys: per packet the AEAD modes only re-initialise with a NULL key
 * (OpenSSL keeps the key schedule and just loads the new IV), so steady
 * traffic allocates nothing here.
 *
 * Every EVP call below works in place (out == in), which EVP allows as long
 * as the buffers overlap exactly.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "alg.h"

#define AEAD_TAG_LEN     16
#define CHACHA_KEY_LEN   32
#define POLY1305_KEY_LEN 32
#define CHACHA_IV_LEN    16

/* EVP takes int lengths; packets are far below this, but a size_t caller
 * must never be silently truncated. A multiple of every block size. */
#define EVP_CHUNK (1u << 30)

struct cipher_entry {
    sshbpp__cipher_desc desc;
    const EVP_CIPHER *(*evp)(void);
};

static const struct cipher_entry cipher_table[] = {
    {{"chacha20-poly1305@openssh.com", SSHBPP__MODE_CHACHA, 64, 0, 8, 16}, EVP_chacha20},
    {{"aes128-gcm@openssh.com", SSHBPP__MODE_GCM, 16, 12, 16, 16}, EVP_aes_128_gcm},
    {{"aes256-gcm@openssh.com", SSHBPP__MODE_GCM, 32, 12, 16, 16}, EVP_aes_256_gcm},
    {{"aes128-ctr", SSHBPP__MODE_CTR, 16, 16, 16, 0}, EVP_aes_128_ctr},
    {{"aes192-ctr", SSHBPP__MODE_CTR, 24, 16, 16, 0}, EVP_aes_192_ctr},
    {{"aes256-ctr", SSHBPP__MODE_CTR, 32, 16, 16, 0}, EVP_aes_256_ctr},
    {{"aes128-cbc", SSHBPP__MODE_CBC, 16, 16, 16, 0}, EVP_aes_128_cbc},
    {{"aes192-cbc", SSHBPP__MODE_CBC, 24, 16, 16, 0}, EVP_aes_192_cbc},
    {{"aes256-cbc", SSHBPP__MODE_CBC, 32, 16, 16, 0}, EVP_aes_256_cbc},
    {{"3des-cbc", SSHBPP__MODE_CBC, 24, 8, 8, 0}, EVP_des_ede3_cbc},
    {{"none", SSHBPP__MODE_NONE, 0, 0, 8, 0}, NULL},
};

#define CIPHER_COUNT (sizeof(cipher_table) / sizeof(cipher_table[0]))

const char *const sshbpp__cipher_names[] = {
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "3des-cbc",
    "none",
    NULL,
};

void
sshbpp__wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

const sshbpp__cipher_desc *
sshbpp__cipher_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < CIPHER_COUNT; i++) {
        if (strcmp(cipher_table[i].desc.name, name) == 0)
            return &cipher_table[i].desc;
    }
    return NULL;
}

/* Descriptors only ever come from the table, so the EVP getter is found by
 * identity rather than by widening the public descriptor type. */
static const struct cipher_entry *
entry_of(const sshbpp__cipher_desc *desc)
{
    size_t i;

    for (i = 0; i < CIPHER_COUNT; i++) {
        if (&cipher_table[i].desc == desc)
            return &cipher_table[i];
    }
    return NULL;
}

void
sshbpp__cipher_free(sshbpp__cipher *c)
{
    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    EVP_CIPHER_CTX_free(c->ctx2);
    EVP_MAC_CTX_free(c->poly);
    sshbpp__wipe(c, sizeof(*c));
}

/* Runs len bytes through ctx in place, in int-sized pieces. With padding
 * off every mode used here returns exactly what it was given; anything
 * else means the context is not in the state we think it is. */
static int
evp_update_to(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        size_t n = len < EVP_CHUNK ? len : EVP_CHUNK;
        int outl = 0;

        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || outl < 0 ||
            (size_t)outl != n)
            return SSHBPP_ECRYPTO;
        out += n;
        in += n;
        len -= n;
    }
    return 0;
}

/* In place. */
static int
evp_update(EVP_CIPHER_CTX *ctx, uint8_t *buf, size_t len)
{
    return evp_update_to(ctx, buf, buf, len);
}

static int
init_chacha(sshbpp__cipher *c, const uint8_t *key)
{
    EVP_MAC *mac;

    c->ctx = EVP_CIPHER_CTX_new();
    c->ctx2 = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL || c->ctx2 == NULL)
        return SSHBPP_ENOMEM;
    /* K_2 (first half) drives the payload and the Poly1305 key, K_1
     * (second half) only the length: OpenSSH's key order. ChaCha20 is its
     * own inverse, so both directions run the "encrypt" side. */
    if (EVP_CipherInit_ex(c->ctx, EVP_chacha20(), NULL, key, NULL, 1) != 1 ||
        EVP_CipherInit_ex(c->ctx2, EVP_chacha20(), NULL, key + CHACHA_KEY_LEN, NULL, 1) != 1)
        return SSHBPP_ECRYPTO;

    /* Fetched per context rather than cached in a static: no lock needed,
     * and the context keeps its own reference. */
    mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    if (mac == NULL)
        return SSHBPP_ECRYPTO;
    c->poly = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (c->poly == NULL)
        return SSHBPP_ENOMEM;
    return 0;
}

static int
init_gcm(sshbpp__cipher *c, const EVP_CIPHER *evp, const uint8_t *key, const uint8_t *iv,
         int encrypt)
{
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL)
        return SSHBPP_ENOMEM;
    /* The key is loaded once; each packet later loads only its IV. */
    if (EVP_CipherInit_ex(c->ctx, evp, NULL, NULL, NULL, encrypt) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IVLEN, (int)sizeof(c->iv), NULL) != 1 ||
        EVP_CipherInit_ex(c->ctx, NULL, NULL, key, NULL, encrypt) != 1)
        return SSHBPP_ECRYPTO;
    memcpy(c->iv, iv, sizeof(c->iv));
    /* The whole 12-byte nonce goes in once (length -1: "all of it", as
     * OpenSSH does); each packet then takes it with EVP_CTRL_GCM_IV_GEN,
     * which loads it and increments its low 64 bits, RFC 5647's
     * invocation counter. That costs about half the instructions of
     * re-initialising the context with the IV per packet (docs/perf.md). */
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1, c->iv) != 1)
        return SSHBPP_ECRYPTO;
    return 0;
}

static int
init_block(sshbpp__cipher *c, const EVP_CIPHER *evp, const uint8_t *key, const uint8_t *iv,
           int encrypt)
{
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL)
        return SSHBPP_ENOMEM;
    if (EVP_CipherInit_ex(c->ctx, evp, NULL, key, iv, encrypt) != 1)
        return SSHBPP_ECRYPTO;
    /* SSH pads packets itself; EVP's PKCS#7 padding would add a block and
     * hold back the last one on decrypt. */
    if (EVP_CIPHER_CTX_set_padding(c->ctx, 0) != 1)
        return SSHBPP_ECRYPTO;
    return 0;
}

int
sshbpp__cipher_init(sshbpp__cipher *c, const sshbpp__cipher_desc *desc, const uint8_t *key,
                    const uint8_t *iv, int encrypt)
{
    const struct cipher_entry *ent;
    int r;

    sshbpp__cipher_free(c);
    if (desc == NULL)
        return 0;
    ent = entry_of(desc);
    if (ent == NULL)
        return SSHBPP_EINVAL;
    c->desc = desc;
    c->encrypt = encrypt ? 1 : 0;

    switch (desc->mode) {
    case SSHBPP__MODE_NONE:
        return 0;
    case SSHBPP__MODE_CHACHA:
        r = init_chacha(c, key);
        break;
    case SSHBPP__MODE_GCM:
        r = init_gcm(c, ent->evp(), key, iv, c->encrypt);
        break;
    case SSHBPP__MODE_CTR:
    case SSHBPP__MODE_CBC:
        r = init_block(c, ent->evp(), key, iv, c->encrypt);
        break;
    default:
        r = SSHBPP_EINVAL;
        break;
    }
    if (r != 0)
        sshbpp__cipher_free(c);
    return r;
}

int
sshbpp__cipher_crypt(sshbpp__cipher *c, uint8_t *buf, size_t len)
{
    if (c->desc == NULL || c->desc->mode == SSHBPP__MODE_NONE)
        return 0;
    if (c->desc->mode != SSHBPP__MODE_CTR && c->desc->mode != SSHBPP__MODE_CBC)
        return SSHBPP_EINVAL;
    if (c->desc->mode == SSHBPP__MODE_CBC && len % c->desc->block_size != 0)
        return SSHBPP_EINVAL;
    return evp_update(c->ctx, buf, len);
}

/* ---- AES-GCM ------------------------------------------------------------ */

/* RFC 5647 section 7.1: the low 64 bits of the nonce are a big-endian
 * invocation counter that wraps; the 32-bit fixed field never changes.
 * c->iv mirrors the nonce the context will use next. */
static void
gcm_iv_increment(uint8_t iv[12])
{
    int i;

    for (i = 11; i >= 4; i--) {
        if (++iv[i] != 0)
            break;
    }
}

/* Loads this packet's nonce into the context and steps the context's copy
 * of the counter, on both sides (EVP_CTRL_GCM_IV_GEN after SET_IV_FIXED -1
 * in init_gcm); the last byte it reports must match c->iv's. */
static int
gcm_next_iv(sshbpp__cipher *c)
{
    uint8_t last = 0;

    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_IV_GEN, 1, &last) != 1 || last != c->iv[11])
        return SSHBPP_ECRYPTO;
    return 0;
}

/* After a seal or open that failed once gcm_next_iv() had run: puts the
 * context's nonce back to c->iv (not stepped), so that the nonce advances
 * only with a packet that went through, as before. Returns err. */
static int
gcm_rewind(sshbpp__cipher *c, int err)
{
    c->iv_loaded = 0;
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1, c->iv) != 1 && err == SSHBPP_ETAG)
        err = SSHBPP_ECRYPTO;
    return err;
}

static int
gcm_check(const sshbpp__cipher *c, size_t len, int encrypt)
{
    if (c->desc == NULL || c->desc->mode != SSHBPP__MODE_GCM || c->encrypt != encrypt ||
        len < 4)
        return SSHBPP_EINVAL;
    return 0;
}

int
sshbpp__gcm_seal(sshbpp__cipher *c, uint8_t *pkt, size_t len, uint8_t *tag)
{
    return sshbpp__gcm_seal_from(c, pkt, len, tag, NULL, 0);
}

int
sshbpp__gcm_seal_from(sshbpp__cipher *c, uint8_t *pkt, size_t len, uint8_t *tag,
                      const uint8_t *src, size_t n)
{
    uint8_t fin[16];
    int outl = 0, r;

    if ((r = gcm_check(c, len, 1)) != 0)
        return r;
    if (src != NULL && (len < 5 || n > len - 5))
        return SSHBPP_EINVAL;
    /* The seal side loads the next packet's nonce together with this
     * packet's tag (below), in one parameter call; only the first packet
     * after init, or one after a failure, loads it here. */
    if (!c->iv_loaded && gcm_next_iv(c) != 0)
        return gcm_rewind(c, SSHBPP_ECRYPTO);
    c->iv_loaded = 0;
    if (EVP_CipherUpdate(c->ctx, NULL, &outl, pkt, 4) != 1)
        return gcm_rewind(c, SSHBPP_ECRYPTO);
    if (src == NULL)
        r = evp_update(c->ctx, pkt + 4, len - 4);
    else if ((r = evp_update(c->ctx, pkt + 4, 1)) == 0 &&
             (r = evp_update_to(c->ctx, pkt + 5, src, n)) == 0)
        /* GCM is a stream: the three pieces give the bytes one call would */
        r = evp_update(c->ctx, pkt + 5 + n, len - 5 - n);
    if (r != 0)
        return gcm_rewind(c, r);
    /* GCM emits nothing at Final; fin only satisfies the signature. */
    if (EVP_CipherFinal_ex(c->ctx, fin, &outl) != 1 || outl != 0)
        return gcm_rewind(c, SSHBPP_ECRYPTO);
    {
        /* "tag" (EVP_CTRL_GCM_GET_TAG) and "tlsivgen" (EVP_CTRL_GCM_IV_GEN)
         * in one EVP_CIPHER_CTX_get_params(): the provider walks its
         * parameter list once instead of twice. tag is read before the
         * nonce is loaded (the provider handles them in that order, and
         * loading a nonce does not touch the finished tag). */
        uint8_t last = 0;
        OSSL_PARAM prm[3];

        prm[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AEAD_TAG_LEN);
        prm[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN, &last, 1);
        prm[2] = OSSL_PARAM_construct_end();
        if (EVP_CIPHER_CTX_get_params(c->ctx, prm) != 1)
            return gcm_rewind(c, SSHBPP_ECRYPTO);
        gcm_iv_increment(c->iv);
        if (last != c->iv[11])
            return gcm_rewind(c, SSHBPP_ECRYPTO);
        c->iv_loaded = 1;
    }
    return 0;
}

int
sshbpp__gcm_open(sshbpp__cipher *c, uint8_t *pkt, size_t len, const uint8_t *tag)
{
    uint8_t want[AEAD_TAG_LEN], fin[16];
    int outl = 0, r;

    if ((r = gcm_check(c, len, 0)) != 0)
        return r;
    /* The tag wants a mutable pointer; copying avoids casting const away. */
    memcpy(want, tag, sizeof(want));
    {
        /* "tag" (EVP_CTRL_GCM_SET_TAG) and "tlsivinv" (EVP_CTRL_GCM_SET_IV_INV:
         * the 8-byte invocation field after the fixed 4, which loads the
         * nonce; allowed on a decrypting context once SET_IV_FIXED ran) in
         * one EVP_CIPHER_CTX_set_params(): one pass over the provider's
         * parameters, and the nonce comes from c->iv every time. */
        OSSL_PARAM prm[3];

        prm[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, want, AEAD_TAG_LEN);
        prm[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV, c->iv + 4,
                                                   sizeof(c->iv) - 4);
        prm[2] = OSSL_PARAM_construct_end();
        if (EVP_CIPHER_CTX_set_params(c->ctx, prm) != 1)
            return gcm_rewind(c, SSHBPP_ECRYPTO);
    }
    if (EVP_CipherUpdate(c->ctx, NULL, &outl, pkt, 4) != 1)
        return gcm_rewind(c, SSHBPP_ECRYPTO);
    if ((r = evp_update(c->ctx, pkt + 4, len - 4)) != 0)
        return gcm_rewind(c, r);
    /* Only an explicit 1 authenticates; 0 is a forgery and anything else
     * is a library failure, which must not pass either. A failure leaves
     * the nonce where it was (gcm_rewind). */
    r = EVP_CipherFinal_ex(c->ctx, fin, &outl);
    if (r != 1)
        return gcm_rewind(c, r == 0 ? SSHBPP_ETAG : SSHBPP_ECRYPTO);
    gcm_iv_increment(c->iv);
    return 0;
}

/* ---- chacha20-poly1305@openssh.com -------------------------------------- */

/*
 * OpenSSH runs the original DJB ChaCha20: state words 12-13 are a 64-bit
 * little-endian block counter and words 14-15 a 64-bit nonce, which it
 * fills with the sequence number in big-endian. OpenSSL takes a 16-byte IV
 * laid over words 12-15 as a 32-bit LE counter followed by a 96-bit nonce.
 * Our counters are 0 or 1 and never reach 2^32 within one packet (256 GiB),
 * so word 13 stays zero and the two layouts coincide:
 *   iv = LE32(counter) || 00 00 00 00 || BE64(seqno).
 * seqno is 32 bits in SSH, so the upper half of BE64(seqno) is zero too.
 */
static void
chacha_iv(uint8_t iv[CHACHA_IV_LEN], uint32_t counter, uint32_t seqno)
{
    memset(iv, 0, CHACHA_IV_LEN);
    iv[0] = (uint8_t)counter;
    iv[1] = (uint8_t)(counter >> 8);
    iv[2] = (uint8_t)(counter >> 16);
    iv[3] = (uint8_t)(counter >> 24);
    iv[12] = (uint8_t)(seqno >> 24);
    iv[13] = (uint8_t)(seqno >> 16);
    iv[14] = (uint8_t)(seqno >> 8);
    iv[15] = (uint8_t)seqno;
}

static int
chacha_check(const sshbpp__cipher *c, size_t len)
{
    if (c->desc == NULL || c->desc->mode != SSHBPP__MODE_CHACHA || len < 4)
        return SSHBPP_EINVAL;
    return 0;
}

/* Loads a new IV into a keyed context; OpenSSL keeps the key and resets
 * the keystream position. */
static int
chacha_start(EVP_CIPHER_CTX *ctx, uint32_t counter, uint32_t seqno)
{
    uint8_t iv[CHACHA_IV_LEN];

    chacha_iv(iv, counter, seqno);
    return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, 1) == 1 ? 0 : SSHBPP_ECRYPTO;
}

/* Poly1305 over the encrypted pkt with the one-time key taken from K_2's
 * keystream block 0 (its first 32 bytes; the rest of the block is unused
 * because the payload starts at block 1). */
static int
chacha_poly(sshbpp__cipher *c, uint32_t seqno, const uint8_t *pkt, size_t len,
            uint8_t tag[AEAD_TAG_LEN])
{
    uint8_t polykey[POLY1305_KEY_LEN];
    size_t outl = 0;
    int r;

    memset(polykey, 0, sizeof(polykey));
    if ((r = chacha_start(c->ctx, 0, seqno)) != 0 ||
        (r = evp_update(c->ctx, polykey, sizeof(polykey))) != 0)
        goto out;
    if (EVP_MAC_init(c->poly, polykey, sizeof(polykey), NULL) != 1 ||
        EVP_MAC_update(c->poly, pkt, len) != 1 ||
        EVP_MAC_final(c->poly, tag, &outl, AEAD_TAG_LEN) != 1 || outl != AEAD_TAG_LEN)
        r = SSHBPP_ECRYPTO;
out:
    sshbpp__wipe(polykey, sizeof(polykey));
    return r;
}

int
sshbpp__chacha_get_length(sshbpp__cipher *c, uint32_t seqno, const uint8_t *enc, uint32_t *len)
{
    uint8_t buf[4];
    int r;

    if ((r = chacha_check(c, 4)) != 0)
        return r;
    memcpy(buf, enc, sizeof(buf));
    c->len_valid = 0;
    if ((r = chacha_start(c->ctx2, 0, seqno)) != 0 || (r = evp_update(c->ctx2, buf, 4)) != 0)
        return r;
    *len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    memcpy(c->len_plain, buf, sizeof(buf));
    c->len_seq = seqno;
    c->len_valid = 1;
    return 0;
}

int
sshbpp__chacha_seal(sshbpp__cipher *c, uint32_t seqno, uint8_t *pkt, size_t len, uint8_t *tag)
{
    return sshbpp__chacha_seal_from(c, seqno, pkt, len, tag, NULL, 0);
}

int
sshbpp__chacha_seal_from(sshbpp__cipher *c, uint32_t seqno, uint8_t *pkt, size_t len,
                         uint8_t *tag, const uint8_t *src, size_t n)
{
    int r;

    if ((r = chacha_check(c, len)) != 0)
        return r;
    if (src != NULL && (len < 5 || n > len - 5))
        return SSHBPP_EINVAL;
    if ((r = chacha_start(c->ctx2, 0, seqno)) != 0 || (r = evp_update(c->ctx2, pkt, 4)) != 0 ||
        (r = chacha_start(c->ctx, 1, seqno)) != 0)
        return r;
    if (src == NULL)
        r = evp_update(c->ctx, pkt + 4, len - 4);
    else if ((r = evp_update(c->ctx, pkt + 4, 1)) == 0 &&
             (r = evp_update_to(c->ctx, pkt + 5, src, n)) == 0)
        /* a stream cipher: the pieces give the bytes one call would */
        r = evp_update(c->ctx, pkt + 5 + n, len - 5 - n);
    if (r != 0)
        return r;
    return chacha_poly(c, seqno, pkt, len, tag);
}

int
sshbpp__chacha_open(sshbpp__cipher *c, uint32_t seqno, uint8_t *pkt, size_t len,
                    const uint8_t *tag)
{
    uint8_t got[AEAD_TAG_LEN];
    int r;

    if ((r = chacha_check(c, len)) != 0)
        return r;
    /* Authenticate before decrypting anything, so a forged packet leaves
     * pkt exactly as it arrived. */
    if ((r = chacha_poly(c, seqno, pkt, len, got)) != 0)
        goto out;
    if (CRYPTO_memcmp(got, tag, AEAD_TAG_LEN) != 0) {
        r = SSHBPP_ETAG;
        goto out;
    }
    /* The length field was decrypted by get_length for this packet (the
     * usual path): its plaintext is reused rather than running K_1 again;
     * the tag just covered the ciphertext it came from. */
    if (c->len_valid && c->len_seq == seqno)
        memcpy(pkt, c->len_plain, 4);
    else if ((r = chacha_start(c->ctx2, 0, seqno)) != 0 || (r = evp_update(c->ctx2, pkt, 4)) != 0)
        goto out;
    if ((r = chacha_start(c->ctx, 1, seqno)) != 0 ||
        (r = evp_update(c->ctx, pkt + 4, len - 4)) != 0)
        goto out;
out:
    c->len_valid = 0;
    sshbpp__wipe(got, sizeof(got));
    return r;
}
