/*
 * testutil.c: see testutil.h.
 */
#include "testutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static void
tu_die(const char *what)
{
    fprintf(stderr, "testutil: fatal: %s\n", what);
    abort();
}

static void *
tu_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        tu_die("out of memory");
    return q;
}

/* ---- hex ---------------------------------------------------------------- */

static int
tu_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
tu_hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        int v = tu_hexval((unsigned char)*p);
        if (v < 0)
            tu_die("bad hex digit");
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= cap)
                tu_die("hex output overflow");
            out[n++] = (uint8_t)((hi << 4) | v);
            hi = -1;
        }
    }
    if (hi >= 0)
        tu_die("odd number of hex digits");
    return n;
}

uint8_t *
tu_hex_alloc(const char *hex, size_t *len)
{
    size_t cap = strlen(hex) / 2 + 1;
    uint8_t *out = tu_xrealloc(NULL, cap);
    *len = tu_hex_decode(hex, out, cap);
    return out;
}

void
tu_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

char *
tu_hex_str(const uint8_t *in, size_t len)
{
    char *s = tu_xrealloc(NULL, 2 * len + 1);
    tu_hex_encode(in, len, s);
    return s;
}

/* ---- deterministic randomness -------------------------------------------- */

void
tu_prng_seed(tu_prng *p, uint64_t seed)
{
    p->s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    if (p->s == 0)
        p->s = 1;
}

uint64_t
tu_prng_next(tu_prng *p)
{
    /* xorshift64* */
    uint64_t x = p->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

size_t
tu_prng_range(tu_prng *p, size_t lo, size_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (size_t)(tu_prng_next(p) % (uint64_t)(hi - lo + 1));
}

void
tu_prng_bytes(tu_prng *p, uint8_t *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t v = tu_prng_next(p);
        for (int k = 0; k < 8 && i < len; k++, i++) {
            buf[i] = (uint8_t)v;
            v >>= 8;
        }
    }
}

int
tu_rng_fill(void *ctx, uint8_t *buf, size_t len)
{
    memset(buf, *(const uint8_t *)ctx, len);
    return 0;
}

int
tu_rng_prng(void *ctx, uint8_t *buf, size_t len)
{
    tu_prng_bytes((tu_prng *)ctx, buf, len);
    return 0;
}

int
tu_rng_fail(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return -1;
}

static uint8_t tu_fill_bytes[256];
static int tu_fill_ready;

void
tu_set_rng_fill(sshbpp_engine *e, uint8_t byte)
{
    if (!tu_fill_ready) {
        for (int i = 0; i < 256; i++)
            tu_fill_bytes[i] = (uint8_t)i;
        tu_fill_ready = 1;
    }
    sshbpp_engine_set_rng(e, tu_rng_fill, &tu_fill_bytes[byte]);
}

/* ---- byte buffer ---------------------------------------------------------- */

void
tu_buf_append(tu_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + len)
            nc *= 2;
        b->p = tu_xrealloc(b->p, nc);
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

void
tu_buf_free(tu_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

size_t
tu_take_tx(sshbpp_engine *e, tu_buf *b)
{
    size_t n = 0;
    const uint8_t *p = sshbpp_engine_tx_data(e, &n);
    if (p == NULL || n == 0)
        return 0;
    tu_buf_append(b, p, n);
    sshbpp_engine_tx_consume(e, n);
    return n;
}

/* ---- packet collection ---------------------------------------------------- */

void
tu_pktlist_add(tu_pktlist *l, const sshbpp_packet *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = tu_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    tu_pkt *t = &l->v[l->n++];
    t->payload = tu_xrealloc(NULL, p->len);
    if (p->len)
        memcpy(t->payload, p->payload, p->len);
    t->len = p->len;
    t->type = p->type;
    t->seqno = p->seqno;
}

void
tu_pktlist_free(tu_pktlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].payload);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int
tu_drain(sshbpp_engine *e, tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx)
{
    for (;;) {
        sshbpp_packet p;
        memset(&p, 0, sizeof(p));
        int r = sshbpp_engine_rx_next(e, &p);
        if (r == SSHBPP_EAGAIN)
            return 0;
        if (r < 0)
            return r;
        size_t idx = out ? out->n : 0;
        if (out)
            tu_pktlist_add(out, &p);
        if (cb) {
            int c = cb(cb_ctx, e, &p, idx);
            if (c != 0)
                return c;
        }
    }
}

static int
tu_feed_one(sshbpp_engine *e, const uint8_t *data, size_t len, int use_space)
{
    if (!use_space)
        return sshbpp_engine_feed(e, data, len);
    while (len > 0) {
        size_t room = 0;
        uint8_t *dst = sshbpp_engine_rx_space(e, len, &room);
        if (dst == NULL || room == 0) {
            int err = sshbpp_engine_error(e);
            return err ? err : SSHBPP_ENOMEM;
        }
        size_t n = room < len ? room : len;
        memcpy(dst, data, n);
        sshbpp_engine_rx_commit(e, n);
        data += n;
        len -= n;
    }
    return 0;
}

int
tu_feed_pieces(sshbpp_engine *e, const uint8_t *data, size_t len, const size_t *pieces,
               size_t npieces, tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx)
{
    size_t off = 0, k = 0;
    while (off < len) {
        size_t n = len - off;
        if (npieces > 0) {
            size_t want = pieces[k % npieces];
            if (want != 0 && want < n)
                n = want;
        }
        k++;
        int r = sshbpp_engine_feed(e, data + off, n);
        if (r != 0)
            return r;
        off += n;
        r = tu_drain(e, out, cb, cb_ctx);
        if (r != 0)
            return r;
    }
    return tu_drain(e, out, cb, cb_ctx);
}

int
tu_feed_chunks(sshbpp_engine *e, const uint8_t *data, size_t len, size_t chunk,
               tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx)
{
    size_t pieces[1] = {chunk};
    return tu_feed_pieces(e, data, len, pieces, 1, out, cb, cb_ctx);
}

int
tu_feed_random(sshbpp_engine *e, const uint8_t *data, size_t len, uint64_t seed,
               size_t maxchunk, tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx)
{
    tu_prng rng;
    tu_prng_seed(&rng, seed);
    size_t off = 0;
    int alt = 0;
    if (maxchunk == 0)
        maxchunk = 1;
    while (off < len) {
        size_t n = tu_prng_range(&rng, 1, maxchunk);
        if (n > len - off)
            n = len - off;
        int r = tu_feed_one(e, data + off, n, alt);
        alt = !alt;
        if (r != 0)
            return r;
        off += n;
        r = tu_drain(e, out, cb, cb_ctx);
        if (r != 0)
            return r;
    }
    return tu_drain(e, out, cb, cb_ctx);
}

int
tu_feed_split2(sshbpp_engine *e, const uint8_t *data, size_t len, size_t split,
               tu_pktlist *out, tu_pkt_cb cb, void *cb_ctx)
{
    if (split > len)
        split = len;
    int r;
    if (split > 0) {
        r = sshbpp_engine_feed(e, data, split);
        if (r != 0)
            return r;
        r = tu_drain(e, out, cb, cb_ctx);
        if (r != 0)
            return r;
    }
    if (len - split > 0) {
        r = sshbpp_engine_feed(e, data + split, len - split);
        if (r != 0)
            return r;
    }
    return tu_drain(e, out, cb, cb_ctx);
}

int
tu_pump(sshbpp_engine *a, sshbpp_engine *b, tu_pktlist *out)
{
    tu_buf w = {0};
    tu_take_tx(a, &w);
    int r = 0;
    if (w.len > 0)
        r = sshbpp_engine_feed(b, w.p, w.len);
    tu_buf_free(&w);
    if (r != 0)
        return r;
    return tu_drain(b, out, NULL, NULL);
}

/* ---- keys ----------------------------------------------------------------- */

static int
tu_is_none(const char *name)
{
    return name == NULL || strcmp(name, "none") == 0;
}

static void
tu_keyset_fix(tu_keyset *ks)
{
    memset(&ks->k, 0, sizeof(ks->k));
    if (ks->has_cipher) {
        ks->k.cipher = ks->cipher;
        ks->k.key = ks->key;
        ks->k.key_len = ks->ci.key_len;
        ks->k.iv = ks->ci.iv_len ? ks->iv : NULL;
        ks->k.iv_len = ks->ci.iv_len;
    } else {
        ks->k.cipher = "none";
    }
    if (ks->has_mac) {
        ks->k.mac = ks->mac;
        ks->k.mac_key = ks->mac_key;
        ks->k.mac_key_len = ks->mi.key_len;
    } else {
        ks->k.mac = NULL;
    }
}

static int
tu_keyset_names(tu_keyset *ks, const char *cipher, const char *mac)
{
    memset(ks, 0, sizeof(*ks));
    if (!tu_is_none(cipher)) {
        int r = sshbpp_cipher_get_info(cipher, &ks->ci);
        if (r != 0)
            return r;
        if (ks->ci.key_len > sizeof(ks->key) || ks->ci.iv_len > sizeof(ks->iv))
            tu_die("cipher key/iv larger than testutil buffers");
        snprintf(ks->cipher, sizeof(ks->cipher), "%s", cipher);
        ks->has_cipher = 1;
    } else {
        snprintf(ks->cipher, sizeof(ks->cipher), "none");
        ks->ci.block_size = 8;
    }
    if (!tu_is_none(mac) && !(ks->has_cipher && ks->ci.aead)) {
        int r = sshbpp_mac_get_info(mac, &ks->mi);
        if (r != 0)
            return r;
        if (ks->mi.key_len > sizeof(ks->mac_key))
            tu_die("mac key larger than testutil buffer");
        snprintf(ks->mac, sizeof(ks->mac), "%s", mac);
        ks->has_mac = 1;
    } else {
        snprintf(ks->mac, sizeof(ks->mac), "none");
    }
    return 0;
}

int
tu_keyset_make(tu_keyset *ks, const char *cipher, const char *mac, uint8_t seed)
{
    int r = tu_keyset_names(ks, cipher, mac);
    if (r != 0)
        return r;
    for (size_t i = 0; i < sizeof(ks->key); i++)
        ks->key[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
    for (size_t i = 0; i < sizeof(ks->iv); i++)
        ks->iv[i] = (uint8_t)(seed * 17u + i * 13u + 5u);
    for (size_t i = 0; i < sizeof(ks->mac_key); i++)
        ks->mac_key[i] = (uint8_t)(seed * 11u + i * 3u + 9u);
    tu_keyset_fix(ks);
    return 0;
}

int
tu_keyset_explicit(tu_keyset *ks, const char *cipher, const uint8_t *key, const uint8_t *iv,
                   const char *mac, const uint8_t *mac_key)
{
    int r = tu_keyset_names(ks, cipher, mac);
    if (r != 0)
        return r;
    if (ks->has_cipher) {
        memcpy(ks->key, key, ks->ci.key_len);
        if (ks->ci.iv_len)
            memcpy(ks->iv, iv, ks->ci.iv_len);
    }
    if (ks->has_mac)
        memcpy(ks->mac_key, mac_key, ks->mi.key_len);
    tu_keyset_fix(ks);
    return 0;
}

int
tu_set_keys_pair(sshbpp_engine *a, sshbpp_engine *b, const tu_keyset *ks)
{
    int r;
    if (a) {
        r = sshbpp_engine_set_keys(a, SSHBPP_DIR_OUT, &ks->k);
        if (r != 0)
            return r;
    }
    if (b) {
        r = sshbpp_engine_set_keys(b, SSHBPP_DIR_IN, &ks->k);
        if (r != 0)
            return r;
    }
    return 0;
}

size_t
tu_keyset_maclen(const tu_keyset *ks)
{
    if (ks->has_cipher && ks->ci.aead)
        return ks->ci.tag_len;
    if (ks->has_mac && ks->has_cipher)
        return ks->mi.mac_len;
    return 0;
}

size_t
tu_keyset_bs(const tu_keyset *ks)
{
    if (!ks->has_cipher)
        return 8;
    return ks->ci.block_size < 8 ? 8 : ks->ci.block_size;
}

int
tu_keyset_lenclear(const tu_keyset *ks)
{
    if (!ks->has_cipher)
        return 0;
    if (ks->ci.aead)
        return 1;
    return ks->has_mac && ks->mi.etm;
}

size_t
tu_std_padding(const tu_keyset *ks, size_t payload_len)
{
    size_t bs = tu_keyset_bs(ks);
    size_t addlen = tu_keyset_lenclear(ks) ? 4 : 8;
    return 3 + bs - ((payload_len + addlen) % bs);
}

/* ---- reference sealer ------------------------------------------------------ */

enum { TU_M_NONE = 0, TU_M_CTR, TU_M_CBC, TU_M_GCM, TU_M_CHACHA };

static const EVP_CIPHER *
tu_evp_cipher(const tu_keyset *ks, int *mode)
{
    const char *n = ks->cipher;
    size_t kl = ks->ci.key_len;
    if (strstr(n, "chacha20-poly1305")) {
        *mode = TU_M_CHACHA;
        return EVP_chacha20();
    }
    if (strstr(n, "gcm")) {
        *mode = TU_M_GCM;
        return kl == 16 ? EVP_aes_128_gcm() : kl == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
    }
    if (strstr(n, "3des")) {
        *mode = TU_M_CBC;
        return EVP_des_ede3_cbc();
    }
    if (strstr(n, "-ctr")) {
        *mode = TU_M_CTR;
        return kl == 16 ? EVP_aes_128_ctr() : kl == 24 ? EVP_aes_192_ctr() : EVP_aes_256_ctr();
    }
    if (strstr(n, "-cbc")) {
        *mode = TU_M_CBC;
        return kl == 16 ? EVP_aes_128_cbc() : kl == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
    }
    return NULL;
}

static const EVP_MD *
tu_evp_md(const char *mac)
{
    if (strstr(mac, "sha2-512"))
        return EVP_sha512();
    if (strstr(mac, "sha2-256"))
        return EVP_sha256();
    if (strstr(mac, "sha1"))
        return EVP_sha1();
    if (strstr(mac, "md5"))
        return EVP_md5();
    return NULL;
}

int
tu_sealer_init(tu_sealer *s, const tu_keyset *ks)
{
    memset(s, 0, sizeof(*s));
    s->ks = *ks;
    tu_keyset_fix(&s->ks);
    if (!ks->has_cipher) {
        s->mode = TU_M_NONE;
        return 0;
    }
    const EVP_CIPHER *c = tu_evp_cipher(ks, &s->mode);
    if (c == NULL)
        return -1;
    if (s->mode == TU_M_CTR || s->mode == TU_M_CBC) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (ctx == NULL || EVP_EncryptInit_ex(ctx, c, NULL, ks->key, ks->iv) != 1) {
            EVP_CIPHER_CTX_free(ctx);
            return -1;
        }
        EVP_CIPHER_CTX_set_padding(ctx, 0);
        s->ctx = ctx;
    } else if (s->mode == TU_M_GCM) {
        memcpy(s->gcm_iv, ks->iv, 12);
    }
    return 0;
}

void
tu_sealer_free(tu_sealer *s)
{
    if (s->ctx)
        EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)s->ctx);
    s->ctx = NULL;
}

static int
tu_hmac(const tu_keyset *ks, uint32_t seqno, const uint8_t *a, size_t alen, const uint8_t *b,
        size_t blen, uint8_t *out)
{
    const EVP_MD *md = tu_evp_md(ks->mac);
    if (md == NULL)
        return -1;
    size_t n = 4 + alen + blen;
    uint8_t *msg = tu_xrealloc(NULL, n);
    tu_put_be32(msg, seqno);
    if (alen)
        memcpy(msg + 4, a, alen);
    if (blen)
        memcpy(msg + 4 + alen, b, blen);
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int fl = 0;
    const uint8_t *r = HMAC(md, ks->mac_key, (int)ks->mi.key_len, msg, n, full, &fl);
    free(msg);
    if (r == NULL || fl < ks->mi.mac_len)
        return -1;
    memcpy(out, full, ks->mi.mac_len);
    return 0;
}

static int
tu_evp_crypt(EVP_CIPHER_CTX *ctx, uint8_t *buf, size_t len)
{
    int outl = 0;
    if (len == 0)
        return 0;
    if (EVP_EncryptUpdate(ctx, buf, &outl, buf, (int)len) != 1 || (size_t)outl != len)
        return -1;
    return 0;
}

static int
tu_chacha_stream(const uint8_t key[32], uint32_t seqno, uint8_t counter, uint8_t *buf,
                 size_t len)
{
    uint8_t iv[16] = {0};
    iv[0] = counter;
    iv[12] = (uint8_t)(seqno >> 24);
    iv[13] = (uint8_t)(seqno >> 16);
    iv[14] = (uint8_t)(seqno >> 8);
    iv[15] = (uint8_t)seqno;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv) == 1 &&
             tu_evp_crypt(ctx, buf, len) == 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int
tu_poly1305(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t tag[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t outl = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, key, 32, NULL) == 1 &&
             EVP_MAC_update(ctx, msg, len) == 1 && EVP_MAC_final(ctx, tag, &outl, 16) == 1 &&
             outl == 16;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

int
tu_seal(tu_sealer *s, const uint8_t *pt, size_t ptlen, tu_buf *out)
{
    const tu_keyset *ks = &s->ks;
    uint32_t seq = s->seqno;
    int rc = -1;
    size_t bs = tu_keyset_bs(ks);
    size_t ext = ptlen;
    if (s->mode == TU_M_CBC && ext % bs)
        ext += bs - ext % bs;
    uint8_t *w = tu_xrealloc(NULL, ext + 64);
    memset(w, 0, ext + 64);
    memcpy(w, pt, ptlen);
    uint8_t mac[64];

    switch (s->mode) {
    case TU_M_NONE:
        tu_buf_append(out, w, ptlen);
        rc = 0;
        break;
    case TU_M_CTR:
    case TU_M_CBC:
        if (ks->has_mac && ks->mi.etm) {
            if (ptlen < 4)
                break;
            size_t body = ptlen - 4;
            size_t bext = body;
            if (s->mode == TU_M_CBC && bext % bs)
                bext += bs - bext % bs;
            if (tu_evp_crypt((EVP_CIPHER_CTX *)s->ctx, w + 4, bext) != 0)
                break;
            if (tu_hmac(ks, seq, w, ptlen, NULL, 0, mac) != 0)
                break;
            tu_buf_append(out, w, ptlen);
            tu_buf_append(out, mac, ks->mi.mac_len);
        } else {
            if (ks->has_mac && tu_hmac(ks, seq, pt, ptlen, NULL, 0, mac) != 0)
                break;
            if (tu_evp_crypt((EVP_CIPHER_CTX *)s->ctx, w, ext) != 0)
                break;
            tu_buf_append(out, w, ptlen);
            if (ks->has_mac)
                tu_buf_append(out, mac, ks->mi.mac_len);
        }
        rc = 0;
        break;
    case TU_M_GCM: {
        if (ptlen < 4)
            break;
        int mode = 0;
        const EVP_CIPHER *c = tu_evp_cipher(ks, &mode);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int outl = 0;
        uint8_t tag[16];
        int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL) == 1 &&
                 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
                 EVP_EncryptInit_ex(ctx, NULL, NULL, ks->key, s->gcm_iv) == 1 &&
                 EVP_EncryptUpdate(ctx, NULL, &outl, w, 4) == 1 &&
                 (ptlen == 4 || EVP_EncryptUpdate(ctx, w + 4, &outl, w + 4, (int)(ptlen - 4)) == 1) &&
                 EVP_EncryptFinal_ex(ctx, w + ptlen, &outl) == 1 &&
                 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
        EVP_CIPHER_CTX_free(ctx);
        if (!ok)
            break;
        tu_buf_append(out, w, ptlen);
        tu_buf_append(out, tag, 16);
        /* 64-bit big-endian invocation counter in iv[4..12), wrapping */
        for (int i = 11; i >= 4; i--) {
            if (++s->gcm_iv[i] != 0)
                break;
        }
        rc = 0;
        break;
    }
    case TU_M_CHACHA: {
        if (ptlen < 4)
            break;
        const uint8_t *k2 = ks->key;
        const uint8_t *k1 = ks->key + 32;
        uint8_t polykey[32] = {0};
        uint8_t tag[16];
        if (tu_chacha_stream(k1, seq, 0, w, 4) != 0 ||
            tu_chacha_stream(k2, seq, 0, polykey, 32) != 0 ||
            tu_chacha_stream(k2, seq, 1, w + 4, ptlen - 4) != 0 ||
            tu_poly1305(polykey, w, ptlen, tag) != 0)
            break;
        tu_buf_append(out, w, ptlen);
        tu_buf_append(out, tag, 16);
        rc = 0;
        break;
    }
    default:
        break;
    }
    free(w);
    if (rc == 0)
        s->seqno++;
    return rc;
}

size_t
tu_build_plain(uint8_t *out, size_t cap, uint32_t packet_length, uint8_t padlen,
               const uint8_t *payload, size_t payload_len, uint8_t fill)
{
    size_t n = 5 + payload_len + padlen;
    if (n > cap)
        tu_die("tu_build_plain: buffer too small");
    tu_put_be32(out, packet_length);
    out[4] = padlen;
    for (size_t i = 0; i < payload_len; i++)
        out[5 + i] = payload ? payload[i] : (uint8_t)(i == 0 ? 94 : (i * 7u + 3u));
    memset(out + 5 + payload_len, fill, padlen);
    return n;
}

/* ---- misc ------------------------------------------------------------------ */

uint32_t
tu_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void
tu_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

sshbpp_engine *
tu_engine_new(void)
{
    sshbpp_engine *e = sshbpp_engine_new();
    if (e == NULL)
        tu_die("sshbpp_engine_new returned NULL");
    return e;
}
