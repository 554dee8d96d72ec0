/*
 * tx.c: the output path. A payload is placed where its packet will sit in
 * the output buffer, then compressed, padded, MACed and encrypted there.
 *
 * Packet layout at `p` (RFC 4253 section 6):
 *   p[0..4)          packet_length = 1 + payload + padding
 *   p[4]             padding_length
 *   p[5..5+n)        payload (compressed if zlib is on)
 *   then padding, then the MAC or AEAD tag.
 */
#include <stdint.h>
#include <string.h>

#include "engine_int.h"

/* Bytes a packet may need beyond its payload: length, padding_length,
 * maximal padding, maximal MAC. */
#define TX_OVERHEAD (4 + 1 + 255 + SSHBPP__MAX_MAC)

/* The largest payload accepted for sending: it must fit max_packet with the
 * minimum padding even after zlib expanded it. */
static size_t
max_payload(const sshbpp_engine *e)
{
    size_t m = (size_t)e->max_packet - 64;

    if (e->tx.d.zlib.zs != NULL) {
        /* zlib never expands by more than its bound; keep that much room. */
        size_t slack = sshbpp__zlib_bound(m) - m;
        m = slack < m ? m - slack : 0;
    }
    return m;
}

/* Makes room for one more packet with up to n payload bytes after the
 * pending output, compacting written bytes away first. */
static int
tx_reserve(sshbpp_engine *e, size_t n)
{
    struct sshbpp__tx *tx = &e->tx;
    size_t pending = tx->len - tx->off, need;

    if (tx->off > 0) {
        memmove(tx->buf, tx->buf + tx->off, pending);
        tx->off = 0;
        tx->len = pending;
    }
    need = pending + TX_OVERHEAD + (tx->d.zlib.zs != NULL ? sshbpp__zlib_bound(n) : n);
    return sshbpp__grow(&tx->buf, &tx->cap, need, pending, SIZE_MAX);
}

/* see sshbpp.h */
uint8_t *
sshbpp_engine_tx_begin(sshbpp_engine *e, size_t max_len)
{
    int r;

    if (e == NULL || sshbpp__err(e) != 0 || e->tx.begun != 0 || max_len == 0 ||
        max_len > max_payload(e))
        return NULL;
    if ((r = tx_reserve(e, max_len)) != 0) {
        (void)sshbpp__fail(e, r);
        return NULL;
    }
    e->tx.begun = max_len;
    return e->tx.buf + e->tx.len + 5;
}

/* Padding length: the RFC minimum of 4 up to the next block boundary
 * (paramiko's formula, which the known-answer vectors pin), then the
 * optional extra padding, all within 255 and the maximum packet. */
static int
tx_padding(sshbpp_engine *e, size_t n, size_t *padding)
{
    struct sshbpp__tx *tx = &e->tx;
    size_t bs = tx->d.block_size;
    int clear_len = tx->d.etm || tx->d.aead;
    size_t pad = 3 + bs - ((n + (clear_len ? 4 : 8)) % bs);
    int aligned = tx->pad_multiple != 0;

    if (aligned) {
        /* Pad what is encrypted (with the length field in classic mode,
         * without it when it is sent in the clear) to a multiple of m. */
        size_t m = (tx->pad_multiple + bs - 1) / bs * bs;
        size_t unit = (clear_len ? 0 : 4) + 1 + n + pad;
        size_t extra = (m - unit % m) % m;
        while (extra > 0 && pad + extra > 255)
            extra -= bs;
        pad += extra;
        tx->pad_multiple = 0;
    }
    /* Random extra blocks would undo the alignment pad_next() asked for. */
    if (tx->random_pad != 0 && !aligned) {
        size_t room = 255 - pad, maxk;
        uint8_t rnd;
        if (room > tx->random_pad)
            room = tx->random_pad;
        maxk = room / bs;
        if (maxk > 0) {
            if (e->rng(e->rng_ctx, &rnd, 1) != 0)
                return SSHBPP_ECRYPTO;
            pad += (rnd % (maxk + 1)) * bs;
        }
    }
    while (1 + n + pad > e->max_packet && pad >= 4 + bs)
        pad -= bs;
    *padding = pad;
    return 0;
}

/* src: NULL when the payload is in place at p + 5, else the caller's
 * payload (n bytes), which only the AEAD seals take (tx_fused()). */
static int
tx_seal(sshbpp_engine *e, uint8_t *p, size_t plen, uint32_t seqno, const uint8_t *src, size_t n)
{
    struct sshbpp__dir *d = &e->tx.d;
    uint8_t *mac = p + 4 + plen;
    int r = 0;

    if (src != NULL && !d->aead)
        return SSHBPP_EINVAL;
    if (d->aead) {
        if (d->cipher.desc->mode == SSHBPP__MODE_CHACHA)
            return sshbpp__chacha_seal_from(&d->cipher, seqno, p, 4 + plen, mac, src, n);
        return sshbpp__gcm_seal_from(&d->cipher, p, 4 + plen, mac, src, n);
    }
    if (d->etm) {
        if (d->has_cipher && (r = sshbpp__cipher_crypt(&d->cipher, p + 4, plen)) != 0)
            return r;
        return sshbpp__mac_compute(&d->mac, seqno, p, 4 + plen, mac);
    }
    /* Encrypt-and-MAC: the MAC covers the plaintext. */
    if (d->mac.desc != NULL && (r = sshbpp__mac_compute(&d->mac, seqno, p, 4 + plen, mac)) != 0)
        return r;
    if (d->has_cipher)
        r = sshbpp__cipher_crypt(&d->cipher, p, 4 + plen);
    return r;
}

/* Payloads from this size on are encrypted by sshbpp_engine_send() straight
 * from the caller's buffer under an AEAD cipher (AES-GCM,
 * chacha20-poly1305) instead of copied first: the two extra EVP calls cost
 * a few hundred instructions, a 32 KiB copy several thousand cycles
 * (docs/perf.md). */
#define TX_FUSED_MIN 4096

/* 1 if send() may seal len bytes from the caller's buffer: an AEAD cipher
 * (the MAC modes would need the plaintext in place or pieces more), no
 * compression (it needs the payload in place) and no hex dump (it shows the
 * plaintext packet). */
static int
tx_fused(const sshbpp_engine *e, size_t len)
{
    const struct sshbpp__dir *d = &e->tx.d;

    return len >= TX_FUSED_MIN && d->aead && d->cipher.desc != NULL &&
           (d->cipher.desc->mode == SSHBPP__MODE_GCM ||
            d->cipher.desc->mode == SSHBPP__MODE_CHACHA) &&
           d->zlib.zs == NULL && !e->hexdump;
}

static int tx_finish(sshbpp_engine *e, size_t len, const uint8_t *src);

/* see sshbpp.h */
int
sshbpp_engine_tx_end(sshbpp_engine *e, size_t len)
{
    return tx_finish(e, len, NULL);
}

/* tx_end(), with the payload at src (tx_fused() said yes) or, src NULL, in
 * place where tx_begin() pointed. */
static int
tx_finish(sshbpp_engine *e, size_t len, const uint8_t *src)
{
    struct sshbpp__tx *tx;
    struct sshbpp__dir *d;
    uint8_t *p;
    size_t n = len, padding, plen, wire;
    uint32_t seqno;
    uint8_t type;
    int r;

    if (e == NULL)
        return SSHBPP_EINVAL;
    tx = &e->tx;
    d = &tx->d;
    if (tx->begun == 0)
        return SSHBPP_EINVAL;
    if (len == 0 || len > tx->begun) {
        tx->begun = 0;
        return SSHBPP_EPAYLOADLEN;
    }
    tx->begun = 0;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    seqno = atomic_load(&d->seqno);
    if (seqno == UINT32_MAX && !atomic_load(&e->kex_done))
        return sshbpp__fail(e, SSHBPP_ESEQWRAP);
    /* chacha20-poly1305's nonce is the sequence number: 2^32 packets under
     * one key would reuse it, whatever the caller did with need_rekey. */
    if (sshbpp__ld64(&d->packets) >= ((uint64_t)1 << 32))
        return sshbpp__fail(e, SSHBPP_ESEQWRAP);

    p = tx->buf + tx->len;
    type = src != NULL ? src[0] : p[5];
    if (e->hexdump)
        sshbpp__log_msg(e, "Write packet", type, len);
    if (d->zlib.zs != NULL) {
        size_t bound = sshbpp__zlib_bound(len);
        if (tx->zcap < bound && (r = sshbpp__grow(&tx->zbuf, &tx->zcap, bound, 0, bound)) != 0)
            return sshbpp__fail(e, r);
        if ((r = sshbpp__zlib_compress(&d->zlib, p + 5, len, tx->zbuf, tx->zcap, &n)) != 0)
            return sshbpp__fail(e, r == SSHBPP_EBUFSMALL ? SSHBPP_ECOMP : r);
        memcpy(p + 5, tx->zbuf, n);
    }
    if ((r = tx_padding(e, n, &padding)) != 0)
        return sshbpp__fail(e, r);
    plen = 1 + n + padding;
    sshbpp__put_be32(p, (uint32_t)plen);
    p[4] = (uint8_t)padding;
    if (!d->has_cipher)
        memset(p + 5 + n, 0, padding);
    else if (e->rng(e->rng_ctx, p + 5 + n, padding) != 0)
        return sshbpp__fail(e, SSHBPP_ECRYPTO);
    if (e->hexdump)
        sshbpp__log_hex(e, "OUT: ", p, 4 + plen);

    if ((r = tx_seal(e, p, plen, seqno, src, n)) != 0)
        return sshbpp__fail(e, r);
    wire = 4 + plen + d->mac_len;
    tx->len += wire;
    atomic_store(&d->seqno, seqno + 1);
    sshbpp__add64(&d->total_payload, len);
    (void)sshbpp__rekey_account(e, d, wire, 4 + plen, SSHBPP_DIR_OUT);
    if (e->trace != NULL)
        e->trace(e->trace_ctx, SSHBPP_DIR_OUT, type, len, wire, seqno);
    return 0;
}

/* see sshbpp.h */
int
sshbpp_engine_send(sshbpp_engine *e, const void *payload, size_t len)
{
    uint8_t *dst;
    int r;

    if (e == NULL || (payload == NULL && len > 0))
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    if (e->tx.begun != 0)
        return SSHBPP_EINVAL;
    if (len == 0 || len > max_payload(e))
        return SSHBPP_EPAYLOADLEN;
    if ((dst = sshbpp_engine_tx_begin(e, len)) == NULL)
        return sshbpp__err(e) != 0 ? sshbpp__err(e) : SSHBPP_ENOMEM;
    if (tx_fused(e, len))
        return tx_finish(e, len, payload);
    memcpy(dst, payload, len);
    return sshbpp_engine_tx_end(e, len);
}

/* see sshbpp_engine.h */
int
sshbpp_engine_send_batch(sshbpp_engine *e, const sshbpp_iov *msgs, size_t n, size_t *sent)
{
    size_t i, maxp, total = 0, one;
    int zlib, r;

    if (sent != NULL)
        *sent = 0;
    if (e == NULL || (msgs == NULL && n > 0))
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    if (e->tx.begun != 0)
        return SSHBPP_EINVAL;
    maxp = max_payload(e);
    zlib = e->tx.d.zlib.zs != NULL;
    /* All lengths first: a soft error must build nothing. The sum is
     * checked against overflow before it is used to reserve. */
    for (i = 0; i < n; i++) {
        if (msgs[i].base == NULL && msgs[i].len > 0)
            return SSHBPP_EINVAL;
        if (msgs[i].len == 0 || msgs[i].len > maxp)
            return SSHBPP_EPAYLOADLEN;
        one = TX_OVERHEAD + (zlib ? sshbpp__zlib_bound(msgs[i].len) : msgs[i].len);
        if (total > SIZE_MAX / 2 - one)
            return SSHBPP_EPAYLOADLEN;
        total += one;
    }
    if (n == 0)
        return 0;
    /* One reservation for the whole batch (tx_reserve adds one packet's
     * overhead itself); tx_begin() below then only finds room. */
    if ((r = tx_reserve(e, total - TX_OVERHEAD)) != 0)
        return sshbpp__fail(e, r);
    for (i = 0; i < n; i++) {
        uint8_t *dst = sshbpp_engine_tx_begin(e, msgs[i].len);
        if (dst == NULL)
            return sshbpp__err(e) != 0 ? sshbpp__err(e) : sshbpp__fail(e, SSHBPP_ENOMEM);
        if (tx_fused(e, msgs[i].len)) {
            r = tx_finish(e, msgs[i].len, msgs[i].base);
        } else {
            memcpy(dst, msgs[i].base, msgs[i].len);
            r = sshbpp_engine_tx_end(e, msgs[i].len);
        }
        if (r != 0)
            return r;
        if (sent != NULL)
            *sent = i + 1;
    }
    return 0;
}

/* see sshbpp.h */
int
sshbpp_engine_tx_raw(sshbpp_engine *e, const void *data, size_t len)
{
    struct sshbpp__tx *tx;
    int r;

    if (e == NULL || (data == NULL && len > 0) || e->tx.begun != 0)
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    if (len == 0)
        return 0; /* data may be NULL: no memcpy from it */
    tx = &e->tx;
    if ((r = tx_reserve(e, len)) != 0)
        return sshbpp__fail(e, r);
    memcpy(tx->buf + tx->len, data, len);
    tx->len += len;
    return 0;
}

/* see sshbpp.h */
const uint8_t *
sshbpp_engine_tx_data(const sshbpp_engine *e, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (e == NULL || len == NULL || e->tx.len == e->tx.off)
        return NULL;
    *len = e->tx.len - e->tx.off;
    return e->tx.buf + e->tx.off;
}

/* see sshbpp.h */
void
sshbpp_engine_tx_consume(sshbpp_engine *e, size_t n)
{
    struct sshbpp__tx *tx;

    if (e == NULL)
        return;
    tx = &e->tx;
    if (n > tx->len - tx->off)
        n = tx->len - tx->off;
    tx->off += n;
    if (tx->off == tx->len)
        tx->off = tx->len = 0;
}

/* see sshbpp.h */
int
sshbpp_engine_pad_next(sshbpp_engine *e, unsigned multiple)
{
    if (e == NULL || multiple > 255)
        return SSHBPP_EINVAL;
    e->tx.pad_multiple = multiple;
    return 0;
}

/* see sshbpp.h */
int
sshbpp_engine_set_random_padding(sshbpp_engine *e, unsigned max_extra)
{
    if (e == NULL || max_extra > 255)
        return SSHBPP_EINVAL;
    e->tx.random_pad = max_extra;
    return 0;
}
