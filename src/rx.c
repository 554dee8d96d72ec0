/*
 * rx.c: the input path. Ciphertext in, verified and decrypted messages out.
 *
 * A packet moves through two states. RX_HEAD waits for enough bytes to learn
 * packet_length (the first cipher block in classic mode, the 4 clear length
 * bytes for EtM and GCM, the 4 encrypted length bytes for chacha) and
 * validates it before anything else is computed from it. RX_BODY waits for
 * the whole packet (4 + packet_length + MAC/tag) and then authenticates,
 * decrypts and checks it. Both states return 0 when input runs out, so the
 * caller may split input anywhere.
 */
#include <stdint.h>
#include <string.h>

#include "engine_int.h"

/* Bound on the input buffer: one maximal packet, its MAC, and one read. */
static size_t
rx_bound(const sshbpp_engine *e, size_t want)
{
    return (size_t)e->max_packet + 4 + SSHBPP__MAX_MAC + want;
}

/* see sshbpp.h */
uint8_t *
sshbpp_engine_rx_space(sshbpp_engine *e, size_t want, size_t *room)
{
    struct sshbpp__rx *rx;
    size_t pending, need, bound;

    if (room != NULL)
        *room = 0;
    if (e == NULL || room == NULL || sshbpp__err(e) != 0)
        return NULL;
    rx = &e->rx;
    if (want == 0)
        want = SSHBPP__RX_CHUNK;
    if (want > SSHBPP__RX_CHUNK_MAX)
        want = SSHBPP__RX_CHUNK_MAX;

    pending = rx->end - rx->start;
    if (pending == 0 && rx->state == RX_HEAD)
        rx->start = rx->end = 0;
    if (rx->cap - rx->end < want && rx->start > 0) {
        /* Compaction is allowed here only: a payload returned by rx_next()
         * is valid until the next receive call, and this is one. */
        memmove(rx->buf, rx->buf + rx->start, pending);
        rx->start = 0;
        rx->end = pending;
    }
    if (rx->cap - rx->end < want) {
        bound = rx_bound(e, want);
        need = rx->end + want;
        if (need > bound)
            need = bound;
        if (need > rx->cap) {
            int r = sshbpp__grow(&rx->buf, &rx->cap, need, rx->end, bound);
            if (r != 0) {
                (void)sshbpp__fail(e, r);
                return NULL;
            }
        }
    }
    *room = rx->cap - rx->end;
    return *room > 0 ? rx->buf + rx->end : NULL;
}

/* see sshbpp.h */
void
sshbpp_engine_rx_commit(sshbpp_engine *e, size_t n)
{
    if (e == NULL)
        return;
    if (n > e->rx.cap - e->rx.end)
        n = e->rx.cap - e->rx.end;
    e->rx.end += n;
}

/* see sshbpp.h */
int
sshbpp_engine_feed(sshbpp_engine *e, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint8_t *dst;
    size_t room;
    int r;

    if (e == NULL || (data == NULL && len > 0))
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    if (len == 0)
        return 0;
    /* The caller, not the peer, decides how much to hand over at once, so
     * feed may grow the buffer past the bound that rx_space() keeps for
     * reads from the network. */
    dst = sshbpp_engine_rx_space(e, len, &room);
    if (dst == NULL && (r = sshbpp__err(e)) != 0)
        return r;
    if (room < len) {
        struct sshbpp__rx *rx = &e->rx;
        if (len > SIZE_MAX - rx->end)
            return SSHBPP_EINVAL;
        if ((r = sshbpp__grow(&rx->buf, &rx->cap, rx->end + len, rx->end, SIZE_MAX)) != 0)
            return sshbpp__fail(e, r);
    }
    memcpy(e->rx.buf + e->rx.end, p, len);
    e->rx.end += len;
    return 0;
}

/* see sshbpp.h */
size_t
sshbpp_engine_rx_pending(const sshbpp_engine *e)
{
    return e == NULL ? 0 : e->rx.end - e->rx.start;
}

/* see sshbpp.h */
int
sshbpp_engine_rx_in_packet(const sshbpp_engine *e)
{
    return e != NULL && (e->rx.state != RX_HEAD || e->rx.end > e->rx.start);
}

/* CBC with encrypt-and-MAC: the mode in which the decrypted length is
 * checked before the MAC can be, so where a failure must not show which
 * check failed. */
static int
cbc_eam(const struct sshbpp__dir *d)
{
    return d->has_cipher && d->cipher.desc->mode == SSHBPP__MODE_CBC && !d->etm && !d->aead;
}

/* RX_DISCARD: consumes what has arrived, up to the bound; then fails with
 * the MAC error. */
static int
rx_discard(sshbpp_engine *e)
{
    struct sshbpp__rx *rx = &e->rx;
    size_t n = rx->end - rx->start;

    if (n > rx->discard_left)
        n = rx->discard_left;
    rx->start += n;
    rx->discard_left -= n;
    if (rx->discard_left == 0)
        return sshbpp__fail(e, SSHBPP_EMAC);
    return SSHBPP_EAGAIN;
}

/* Enters RX_DISCARD at the start of the current packet (still at
 * rx->start). */
static int
start_discard(sshbpp_engine *e)
{
    struct sshbpp__rx *rx = &e->rx;
    size_t m = 4 + (size_t)e->max_packet + rx->d.mac_len;

    rx->discard_left = rx->discard_pin != 0 ? rx->discard_pin : m + rx->discard_rand % m;
    rx->state = RX_DISCARD;
    return rx_discard(e);
}

/* Length checks shared by every mode, done on the raw 32-bit value before it
 * takes part in any sum. `span` is what must be a multiple of the block
 * size: length + 4 in classic mode, length alone when the length travels
 * outside the encryption (EtM, AEAD). Returns the error without recording
 * it (the caller decides: fail, or discard). */
static int
check_length(const sshbpp_engine *e, uint32_t len, uint32_t span, size_t bs)
{
    if (len < 5)
        return SSHBPP_EPKTSHORT;
    if (len > e->max_packet)
        return SSHBPP_EPKTLONG;
    if (span % bs != 0)
        return SSHBPP_EBLOCKALIGN;
    return 0;
}

/* RX_HEAD: learn and validate packet_length. Returns 1 when known, 0 when
 * more input is needed, or an error. */
static int
rx_head(sshbpp_engine *e)
{
    struct sshbpp__rx *rx = &e->rx;
    struct sshbpp__dir *d = &rx->d;
    size_t avail = rx->end - rx->start;
    uint8_t *p;
    uint32_t len;
    int r;

    /* No pointer is formed before input is there: a fresh engine has no
     * buffer, and NULL + 0 is undefined behaviour. */
    if (avail < 4 || (!(d->aead || d->etm) && avail < d->block_size))
        return 0;
    p = rx->buf + rx->start;
    if (d->aead || d->etm) {
        if (d->cipher.desc != NULL && d->cipher.desc->mode == SSHBPP__MODE_CHACHA) {
            r = sshbpp__chacha_get_length(&d->cipher, atomic_load(&d->seqno), p, &len);
            if (r != 0)
                return sshbpp__fail(e, r);
        } else {
            len = sshbpp__be32(p);
        }
        if ((r = check_length(e, len, len, d->block_size)) != 0)
            return sshbpp__fail(e, r);
    } else {
        /* The first block is decrypted in place now and the rest later, so
         * the stream or CBC chain continues exactly at the block boundary. */
        if (d->has_cipher &&
            (r = sshbpp__cipher_crypt(&d->cipher, p, d->block_size)) != 0)
            return sshbpp__fail(e, r);
        len = sshbpp__be32(p);
        /* len + 4 may wrap for a hostile len, but check_length() looks at
         * the span only after it has bounded len itself. */
        if ((r = check_length(e, len, len + 4u, d->block_size)) != 0) {
            if (cbc_eam(d)) {
                r = start_discard(e);
                return r == SSHBPP_EAGAIN ? 0 : r;
            }
            return sshbpp__fail(e, r);
        }
        if (e->hexdump)
            sshbpp__log_hex(e, "IN: ", p, d->block_size);
    }
    rx->packet_length = len;
    rx->need = 4 + (size_t)len + d->mac_len;
    rx->state = RX_BODY;
    return 1;
}

/* Authenticates and decrypts the complete packet at p. */
static int
rx_open(sshbpp_engine *e, uint8_t *p, uint32_t seqno)
{
    struct sshbpp__dir *d = &e->rx.d;
    size_t plen = e->rx.packet_length, bs = d->block_size;
    uint8_t *mac = p + 4 + plen;
    int r = 0;

    if (d->aead) {
        if (d->cipher.desc->mode == SSHBPP__MODE_CHACHA)
            r = sshbpp__chacha_open(&d->cipher, seqno, p, 4 + plen, mac);
        else
            r = sshbpp__gcm_open(&d->cipher, p, 4 + plen, mac);
    } else if (d->etm) {
        /* Encrypt-then-MAC: nothing is decrypted before the MAC passes. */
        if ((r = sshbpp__mac_verify(&d->mac, seqno, p, 4 + plen, mac)) == 0 && d->has_cipher)
            r = sshbpp__cipher_crypt(&d->cipher, p + 4, plen);
    } else {
        if (d->has_cipher && plen + 4 > bs)
            r = sshbpp__cipher_crypt(&d->cipher, p + bs, plen + 4 - bs);
        if (r == 0 && d->mac.desc != NULL)
            r = sshbpp__mac_verify(&d->mac, seqno, p, 4 + plen, mac);
    }
    return r;
}

/* see sshbpp.h */
int
sshbpp_engine_rx_next(sshbpp_engine *e, sshbpp_packet *pkt)
{
    struct sshbpp__rx *rx;
    struct sshbpp__dir *d;
    uint8_t *p, *payload;
    uint32_t seqno, plen;
    size_t padding, len, wire;
    int r;

    if (e == NULL || pkt == NULL)
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    rx = &e->rx;
    d = &rx->d;

    if (rx->state == RX_HEAD && (r = rx_head(e)) < 0)
        return r;
    if (rx->state == RX_DISCARD)
        return rx_discard(e);
    if (rx->state == RX_HEAD)
        return SSHBPP_EAGAIN;
    if (rx->end - rx->start < rx->need)
        return SSHBPP_EAGAIN;

    p = rx->buf + rx->start;
    plen = rx->packet_length;
    seqno = atomic_load(&d->seqno);
    if ((r = rx_open(e, p, seqno)) != 0) {
        if (r == SSHBPP_EMAC && cbc_eam(d))
            return start_discard(e);
        return sshbpp__fail(e, r);
    }

    /* Authenticated from here on; the padding checks come after the MAC so
     * that tampering shows as a MAC failure, as in OpenSSH (and, for CBC
     * with encrypt-and-MAC, as the same discard as a bad length). */
    padding = p[4];
    if ((padding < 4 || padding >= (size_t)plen - 1) && cbc_eam(d))
        return start_discard(e);
    if (padding < 4)
        return sshbpp__fail(e, SSHBPP_EPADSHORT);
    if (padding > (size_t)plen - 1)
        return sshbpp__fail(e, SSHBPP_EPADLONG);
    if (padding == (size_t)plen - 1)
        return sshbpp__fail(e, SSHBPP_EEMPTY);
    payload = p + 5;
    len = plen - 1 - padding;
    if (e->hexdump) {
        sshbpp__log_hex(e, "IN: ", p + 4, plen);
        sshbpp__logf(e, SSHBPP_LOG_DEBUG, "Got payload (%u bytes, %zu padding)", (unsigned)plen,
                     padding);
    }

    if (d->zlib.zs != NULL) {
        size_t out;
        if (rx->zcap < e->max_packet &&
            (r = sshbpp__grow(&rx->zbuf, &rx->zcap, e->max_packet, 0, e->max_packet)) != 0)
            return sshbpp__fail(e, r);
        r = sshbpp__zlib_decompress(&d->zlib, payload, len, rx->zbuf, e->max_packet, &out);
        if (r != 0)
            return sshbpp__fail(e, r);
        if (out == 0)
            return sshbpp__fail(e, SSHBPP_EEMPTY);
        payload = rx->zbuf;
        len = out;
    }

    /* A packet numbered 0xffffffff would wrap the counter; before the first
     * NEWKEYS that is how Terrapin-style prefix games show (RFC 9308 era
     * strict-kex hardening in paramiko and OpenSSH). */
    if (seqno == UINT32_MAX && !atomic_load(&e->kex_done))
        return sshbpp__fail(e, SSHBPP_ESEQWRAP);
    atomic_store(&d->seqno, seqno + 1);

    wire = rx->need;
    rx->start += wire;
    rx->state = RX_HEAD;
    sshbpp__add64(&d->total_payload, len);
    if (!sshbpp__rekey_account(e, d, wire, 4 + (uint64_t)plen, SSHBPP_DIR_IN) &&
        atomic_load(&e->need_rekey)) {
        /* The peer keeps sending while we asked for a rekey. Counting starts
         * when the flag went up, whichever side raised it. */
        unsigned gen = atomic_load(&e->rekey_gen);
        if (gen != rx->rekey_gen_seen) {
            rx->rekey_gen_seen = gen;
            rx->overflow_packets = 0;
            rx->overflow_bytes = 0;
        }
        rx->overflow_packets++;
        rx->overflow_bytes += wire;
        if (rx->overflow_packets >= e->limits.packets_overflow ||
            rx->overflow_bytes >= e->limits.bytes_overflow)
            return sshbpp__fail(e, SSHBPP_EREKEYIGNORED);
    } else {
        rx->rekey_gen_seen = atomic_load(&e->rekey_gen);
    }

    pkt->payload = payload;
    pkt->len = len;
    pkt->type = payload[0];
    pkt->seqno = seqno;
    if (e->hexdump)
        sshbpp__log_msg(e, "Read packet", payload[0], len);
    if (e->trace != NULL)
        e->trace(e->trace_ctx, SSHBPP_DIR_IN, payload[0], len, wire, seqno);
    return 0;
}

/* see sshbpp.h */
int
sshbpp_engine_rx_line(sshbpp_engine *e, char *line, size_t cap, size_t *len)
{
    struct sshbpp__rx *rx;
    const uint8_t *p, *nl;
    size_t avail, n;
    int r;

    if (e == NULL || line == NULL || len == NULL)
        return SSHBPP_EINVAL;
    if (cap == 0)
        return SSHBPP_EBUFSMALL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    rx = &e->rx;
    if (rx->state != RX_HEAD)
        return SSHBPP_EINVAL;
    avail = rx->end - rx->start;
    if (avail == 0)
        return SSHBPP_EAGAIN; /* also: no buffer yet, so no pointer into it */
    p = rx->buf + rx->start;
    nl = memchr(p, '\n', avail);
    if (nl == NULL) {
        /* Even with a "\r" to strip, cap or more bytes cannot fit. */
        if (avail >= cap + 1)
            return sshbpp__fail(e, SSHBPP_ELINELONG);
        return SSHBPP_EAGAIN;
    }
    n = (size_t)(nl - p);
    rx->start += n + 1;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > cap - 1)
        return sshbpp__fail(e, SSHBPP_ELINELONG);
    memcpy(line, p, n);
    line[n] = '\0';
    *len = n;
    return 0;
}

/* see sshbpp.h */
long
sshbpp_engine_rx_take(sshbpp_engine *e, void *out, size_t n)
{
    struct sshbpp__rx *rx;
    size_t avail;
    int r;

    if (e == NULL || (out == NULL && n > 0))
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    rx = &e->rx;
    if (rx->state != RX_HEAD)
        return SSHBPP_EINVAL;
    avail = rx->end - rx->start;
    if (n > avail)
        n = avail;
    if (n > (size_t)0x7fffffff)
        n = 0x7fffffff;
    if (n == 0)
        return 0; /* rx.buf may still be NULL: no memcpy from it */
    memcpy(out, rx->buf + rx->start, n);
    rx->start += n;
    return (long)n;
}
