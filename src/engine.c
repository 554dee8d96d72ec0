/*
 * engine.c: engine lifecycle, keys, limits, statistics and rekey
 * accounting. The packet paths live in rx.c and tx.c.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "engine_int.h"

#define POW2(n) ((uint64_t)1 << (n))

/* The default RNG: RAND_bytes() output, through the tx half's pool for
 * small requests (padding is at most 255 bytes; a 256-byte payload under
 * AES-GCM takes 4 to 19). ctx is the pool; NULL means no pool. */
static int
default_rng(void *ctx, uint8_t *buf, size_t len)
{
    struct sshbpp__rngpool *pool = ctx;
    unsigned gen;

    if (len > (size_t)0x7fffffff)
        return -1;
    if (pool == NULL || len > SSHBPP__RNG_POOL / 2)
        return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
    gen = sshbpp__fork_generation();
    if (pool->fork_gen != gen) {
        sshbpp__wipe(pool->b, sizeof(pool->b));
        pool->avail = 0;
        pool->fork_gen = gen;
    }
    if (pool->avail < len) {
        if (RAND_bytes(pool->b, (int)sizeof(pool->b)) != 1) {
            pool->avail = 0;
            return -1;
        }
        pool->avail = sizeof(pool->b);
    }
    memcpy(buf, pool->b + sizeof(pool->b) - pool->avail, len);
    memset(pool->b + sizeof(pool->b) - pool->avail, 0, len);
    pool->avail -= len;
    return 0;
}

/* see sshbpp.h */
void
sshbpp_rekey_limits_default(sshbpp_rekey_limits *l)
{
    if (l == NULL)
        return;
    /* paramiko's REKEY_PACKETS / REKEY_BYTES and their overflow windows. */
    l->packets = POW2(29);
    l->bytes = POW2(29);
    l->packets_overflow = POW2(29);
    l->bytes_overflow = POW2(29);
    l->blocks = 0;
}

static void
dir_init(struct sshbpp__dir *d)
{
    memset(d, 0, sizeof(*d));
    d->block_size = 8; /* RFC 4253: at least 8 before any cipher */
    d->max_blocks = UINT64_MAX;
}

/* see sshbpp.h */
sshbpp_engine *
sshbpp_engine_new(void)
{
    sshbpp_engine *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    atomic_init(&e->error, 0);
    atomic_init(&e->need_rekey, 0);
    atomic_init(&e->rekey_gen, 0);
    atomic_init(&e->switched, 0);
    atomic_init(&e->kex_done, 0);
    e->max_packet = SSHBPP_DEFAULT_MAX_PACKET;
    sshbpp_rekey_limits_default(&e->limits);
    sshbpp__fork_watch();
    e->tx.pool.fork_gen = sshbpp__fork_generation();
    e->rng = default_rng;
    e->rng_ctx = &e->tx.pool;
    dir_init(&e->rx.d);
    dir_init(&e->tx.d);
    return e;
}

void
sshbpp__dir_free(struct sshbpp__dir *d)
{
    sshbpp__cipher_free(&d->cipher);
    sshbpp__mac_free(&d->mac);
    sshbpp__zlib_free(&d->zlib);
}

static void
free_wiped(uint8_t *p, size_t n)
{
    if (p != NULL) {
        /* Buffers held plaintext of past packets. */
        sshbpp__wipe(p, n);
        free(p);
    }
}

/* see sshbpp.h */
void
sshbpp_engine_free(sshbpp_engine *e)
{
    if (e == NULL)
        return;
    sshbpp__dir_free(&e->rx.d);
    sshbpp__dir_free(&e->tx.d);
    free_wiped(e->rx.buf, e->rx.cap);
    free_wiped(e->rx.zbuf, e->rx.zcap);
    free_wiped(e->tx.buf, e->tx.cap);
    free_wiped(e->tx.zbuf, e->tx.zcap);
    sshbpp__wipe(e, sizeof(*e));
    free(e);
}

int
sshbpp__fail(sshbpp_engine *e, int err)
{
    int expected = 0;

    if (err > SSHBPP_FATAL_THRESHOLD)
        err = SSHBPP_EPROTO;
    if (atomic_compare_exchange_strong(&e->error, &expected, err))
        return err;
    return expected;
}

/* see sshbpp.h */
int
sshbpp_engine_error(const sshbpp_engine *e)
{
    return e == NULL ? SSHBPP_EINVAL : sshbpp__err(e);
}

/* see sshbpp.h */
int
sshbpp_engine_fail(sshbpp_engine *e, int err)
{
    return e == NULL ? SSHBPP_EINVAL : sshbpp__fail(e, err);
}

/* see sshbpp.h */
void
sshbpp_engine_close(sshbpp_engine *e)
{
    /* Keys are not freed here: the other half may be inside a cipher call
     * on another thread. They are wiped by sshbpp_engine_free(). */
    if (e != NULL)
        (void)sshbpp__fail(e, SSHBPP_ECLOSED);
}

_Atomic unsigned long sshbpp__grow_count;

int
sshbpp__grow(uint8_t **buf, size_t *cap, size_t need, size_t keep, size_t limit)
{
    uint8_t *nb;
    size_t ncap;

    if (need <= *cap)
        return 0;
    ncap = *cap < 4096 ? 4096 : *cap;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    /* Doubling amortises growth, but must not carry a bounded buffer past
     * its bound. */
    if (ncap > limit)
        ncap = limit > need ? limit : need;
    /* Not realloc: the old block may hold plaintext that must be wiped. */
    nb = malloc(ncap);
    if (nb == NULL)
        return SSHBPP_ENOMEM;
    atomic_fetch_add_explicit(&sshbpp__grow_count, 1, memory_order_relaxed);
    if (keep > 0)
        memcpy(nb, *buf, keep);
    free_wiped(*buf, *cap);
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* see sshbpp.h */
void
sshbpp_engine_shrink(sshbpp_engine *e)
{
    if (e == NULL)
        return;
    if (e->rx.start == e->rx.end && e->rx.state == RX_HEAD) {
        free_wiped(e->rx.buf, e->rx.cap);
        e->rx.buf = NULL;
        e->rx.cap = e->rx.start = e->rx.end = 0;
        free_wiped(e->rx.zbuf, e->rx.zcap);
        e->rx.zbuf = NULL;
        e->rx.zcap = 0;
    }
    if (e->tx.len == e->tx.off && e->tx.begun == 0) {
        free_wiped(e->tx.buf, e->tx.cap);
        e->tx.buf = NULL;
        e->tx.cap = e->tx.off = e->tx.len = 0;
        free_wiped(e->tx.zbuf, e->tx.zcap);
        e->tx.zbuf = NULL;
        e->tx.zcap = 0;
    }
}

/* ------------------------------------------------------------------ */
/* Algorithms and keys                                                 */

/* see sshbpp.h */
const char *const *
sshbpp_alg_list(enum sshbpp_alg_kind kind)
{
    switch (kind) {
    case SSHBPP_ALG_CIPHER:
        return sshbpp__cipher_names;
    case SSHBPP_ALG_MAC:
        return sshbpp__mac_names;
    case SSHBPP_ALG_COMP:
        return sshbpp__comp_names;
    default:
        return NULL;
    }
}

/* see sshbpp.h */
int
sshbpp_cipher_get_info(const char *name, sshbpp_cipher_info *out)
{
    const sshbpp__cipher_desc *c;

    if (name == NULL)
        return SSHBPP_EINVAL;
    if ((c = sshbpp__cipher_find(name)) == NULL)
        return SSHBPP_EUNSUPPORTED;
    if (out != NULL) {
        out->key_len = c->key_len;
        out->iv_len = c->iv_len;
        out->block_size = c->block_size;
        out->tag_len = c->tag_len;
        out->aead = c->tag_len > 0;
    }
    return 0;
}

/* see sshbpp.h */
int
sshbpp_mac_get_info(const char *name, sshbpp_mac_info *out)
{
    const sshbpp__mac_desc *m;

    if (name == NULL)
        return SSHBPP_EINVAL;
    if ((m = sshbpp__mac_find(name)) == NULL)
        return SSHBPP_EUNSUPPORTED;
    if (out != NULL) {
        out->key_len = m->key_len;
        out->mac_len = m->mac_len;
        out->etm = m->etm;
    }
    return 0;
}

static int
is_none(const char *name)
{
    return name == NULL || strcmp(name, "none") == 0;
}

/* RFC 4344 section 3.2: rekey after 2^(L/4) blocks for L-bit blocks,
 * i.e. 2^(2*L) for L-byte blocks of at least 16 bytes; smaller (64-bit)
 * blocks get 1 GiB of data, as OpenSSH. */
static uint64_t
rfc4344_blocks(size_t bs)
{
    if (bs >= 16)
        return bs * 2 >= 64 ? UINT64_MAX : POW2(bs * 2);
    return POW2(30) / bs;
}

static void
apply_block_limit(const sshbpp_engine *e, struct sshbpp__dir *d)
{
    uint64_t b = d->has_cipher ? rfc4344_blocks(d->block_size) : UINT64_MAX;

    if (e->limits.blocks != 0 && e->limits.blocks < b)
        b = e->limits.blocks;
    d->max_blocks = b;
}

/* see sshbpp.h */
int
sshbpp_engine_set_keys(sshbpp_engine *e, enum sshbpp_dir dir, const sshbpp_keys *k)
{
    const sshbpp__cipher_desc *cd = NULL;
    const sshbpp__mac_desc *md = NULL;
    struct sshbpp__dir *d, nd;
    int r;
    unsigned bit, old;

    if (e == NULL || k == NULL || (dir != SSHBPP_DIR_IN && dir != SSHBPP_DIR_OUT))
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    d = dir == SSHBPP_DIR_IN ? &e->rx.d : &e->tx.d;

    /* Check everything before touching the old keys, so a bad call leaves
     * the direction working as it was. */
    if (!is_none(k->cipher)) {
        if ((cd = sshbpp__cipher_find(k->cipher)) == NULL)
            return SSHBPP_EUNSUPPORTED;
        if (cd->mode == SSHBPP__MODE_NONE)
            cd = NULL;
    }
    if (cd != NULL && (k->key_len != cd->key_len || k->iv_len != cd->iv_len ||
                       (cd->key_len > 0 && k->key == NULL) ||
                       (cd->iv_len > 0 && k->iv == NULL)))
        return SSHBPP_EKEYLEN;
    if ((cd == NULL || cd->tag_len == 0) && !is_none(k->mac)) {
        if ((md = sshbpp__mac_find(k->mac)) == NULL)
            return SSHBPP_EUNSUPPORTED;
        if (k->mac_key_len != md->key_len || k->mac_key == NULL)
            return SSHBPP_EKEYLEN;
    }

    /* A fresh random discard bound for the new inbound key (rx.c). */
    if (dir == SSHBPP_DIR_IN) {
        uint8_t rb[4];
        if (e->rng(e->rng_ctx, rb, sizeof(rb)) != 0)
            return sshbpp__fail(e, SSHBPP_ECRYPTO);
        e->rx.discard_rand = sshbpp__be32(rb);
    }

    memset(&nd.cipher, 0, sizeof(nd.cipher));
    memset(&nd.mac, 0, sizeof(nd.mac));
    if (cd != NULL &&
        (r = sshbpp__cipher_init(&nd.cipher, cd, k->key, k->iv, dir == SSHBPP_DIR_OUT)) != 0)
        return sshbpp__fail(e, r);
    if (md != NULL && (r = sshbpp__mac_init(&nd.mac, md, k->mac_key)) != 0) {
        sshbpp__cipher_free(&nd.cipher);
        return sshbpp__fail(e, r);
    }

    sshbpp__cipher_free(&d->cipher);
    sshbpp__mac_free(&d->mac);
    d->cipher = nd.cipher;
    d->mac = nd.mac;
    sshbpp__wipe(&nd, sizeof(nd));
    d->has_cipher = cd != NULL;
    d->block_size = cd != NULL ? cd->block_size : 8;
    d->aead = cd != NULL && cd->tag_len > 0;
    d->etm = !d->aead && md != NULL && md->etm;
    d->mac_len = d->aead ? cd->tag_len : (md != NULL ? md->mac_len : 0);
    apply_block_limit(e, d);

    /* paramiko: new keys restart this direction's rekey counters. */
    sshbpp__st64(&d->packets, 0);
    sshbpp__st64(&d->bytes, 0);
    sshbpp__st64(&d->blocks, 0);
    sshbpp__add64(&d->rekeys, 1);
    if (dir == SSHBPP_DIR_IN) {
        e->rx.overflow_packets = 0;
        e->rx.overflow_bytes = 0;
        /* NEWKEYS was received: the initial exchange is over (paramiko sets
         * _initial_kex_done at the same point). */
        atomic_store(&e->kex_done, 1);
    }

    /* The rekey flag clears once both directions have switched. */
    bit = 1u << dir;
    old = atomic_fetch_or(&e->switched, bit);
    if ((old | bit) == 3u) {
        unsigned three = 3u;
        if (atomic_compare_exchange_strong(&e->switched, &three, 0u))
            atomic_store(&e->need_rekey, 0);
    }
    return 0;
}

/* see sshbpp.h */
int
sshbpp_engine_set_compression(sshbpp_engine *e, enum sshbpp_dir dir, const char *name)
{
    struct sshbpp__dir *d;
    int r;

    if (e == NULL || (dir != SSHBPP_DIR_IN && dir != SSHBPP_DIR_OUT))
        return SSHBPP_EINVAL;
    if ((r = sshbpp__err(e)) != 0)
        return r;
    d = dir == SSHBPP_DIR_IN ? &e->rx.d : &e->tx.d;
    if (is_none(name)) {
        sshbpp__zlib_free(&d->zlib);
        return 0;
    }
    if (strcmp(name, "zlib") != 0 && strcmp(name, "zlib@openssh.com") != 0)
        return SSHBPP_EUNSUPPORTED;
    if (d->zlib.zs != NULL)
        return 0; /* already on: keep the stream's history */
    if ((r = sshbpp__zlib_init(&d->zlib, dir == SSHBPP_DIR_OUT)) != 0)
        return sshbpp__fail(e, r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sequence numbers, limits, rekey, statistics                         */

/* see sshbpp.h */
void
sshbpp_engine_reset_seqno(sshbpp_engine *e, enum sshbpp_dir dir)
{
    sshbpp_engine_set_seqno(e, dir, 0);
}

/* see sshbpp.h */
void
sshbpp_engine_set_seqno(sshbpp_engine *e, enum sshbpp_dir dir, uint32_t seqno)
{
    if (e == NULL)
        return;
    if (dir == SSHBPP_DIR_IN)
        atomic_store(&e->rx.d.seqno, seqno);
    else if (dir == SSHBPP_DIR_OUT)
        atomic_store(&e->tx.d.seqno, seqno);
}

/* see sshbpp.h */
void
sshbpp_engine_set_initial_kex_done(sshbpp_engine *e, int done)
{
    if (e != NULL)
        atomic_store(&e->kex_done, done ? 1 : 0);
}

/* see sshbpp.h */
int
sshbpp_engine_set_rekey_limits(sshbpp_engine *e, const sshbpp_rekey_limits *l)
{
    /* Values up to 2^64-1 stay allowed (paramiko users write 2^40 for
     * "never"); the send path's hard stop at 2^32 packets per key keeps the
     * sequence number, chacha's nonce, from coming round regardless. */
    if (e == NULL || l == NULL || l->packets == 0 || l->bytes == 0 ||
        l->packets_overflow == 0 || l->bytes_overflow == 0)
        return SSHBPP_EINVAL;
    e->limits = *l;
    apply_block_limit(e, &e->rx.d);
    apply_block_limit(e, &e->tx.d);
    return 0;
}

/* see sshbpp.h */
void
sshbpp_engine_get_rekey_limits(const sshbpp_engine *e, sshbpp_rekey_limits *l)
{
    if (e != NULL && l != NULL)
        *l = e->limits;
}

/* see sshbpp.h */
int
sshbpp_engine_need_rekey(const sshbpp_engine *e)
{
    return e != NULL && atomic_load(&e->need_rekey) != 0;
}

int
sshbpp__rekey_account(sshbpp_engine *e, struct sshbpp__dir *d, uint64_t wire, uint64_t span,
                      int dir)
{
    uint64_t pk, by, bl;

    sshbpp__add64(&d->packets, 1);
    sshbpp__add64(&d->bytes, wire);
    sshbpp__add64(&d->total_packets, 1);
    sshbpp__add64(&d->total_bytes, wire);
    /* Blocks as OpenSSH counts them: the encrypted span (not the MAC) over
     * the block size, which is what RFC 4344's limit is about. */
    sshbpp__add64(&d->blocks, span / d->block_size);
    pk = sshbpp__ld64(&d->packets);
    by = sshbpp__ld64(&d->bytes);
    bl = sshbpp__ld64(&d->blocks);
    if (atomic_load(&e->need_rekey))
        return 0;
    if (pk < e->limits.packets && by < e->limits.bytes && bl < d->max_blocks)
        return 0;
    atomic_fetch_add(&e->rekey_gen, 1);
    atomic_store(&e->need_rekey, 1);
    sshbpp__logf(e, SSHBPP_LOG_DEBUG, "Rekeying (hit %llu packets, %llu bytes %s)",
                 (unsigned long long)pk, (unsigned long long)by,
                 dir == SSHBPP_DIR_IN ? "received" : "sent");
    return 1;
}

/* see sshbpp.h */
void
sshbpp_engine_get_stats(const sshbpp_engine *e, enum sshbpp_dir dir, sshbpp_stats *out)
{
    const struct sshbpp__dir *d;

    if (e == NULL || out == NULL || (dir != SSHBPP_DIR_IN && dir != SSHBPP_DIR_OUT))
        return;
    d = dir == SSHBPP_DIR_IN ? &e->rx.d : &e->tx.d;
    out->seqno = atomic_load_explicit(&d->seqno, memory_order_relaxed);
    out->packets = sshbpp__ld64(&d->packets);
    out->bytes = sshbpp__ld64(&d->bytes);
    out->blocks = sshbpp__ld64(&d->blocks);
    out->total_packets = sshbpp__ld64(&d->total_packets);
    out->total_bytes = sshbpp__ld64(&d->total_bytes);
    out->total_payload = sshbpp__ld64(&d->total_payload);
    out->rekeys = sshbpp__ld64(&d->rekeys);
}

/* see sshbpp.h */
int
sshbpp_engine_set_max_packet(sshbpp_engine *e, uint32_t max_packet_length)
{
    if (e == NULL || max_packet_length < SSHBPP_MIN_PACKET_LIMIT ||
        max_packet_length > SSHBPP_MAX_PACKET_LIMIT)
        return SSHBPP_EINVAL;
    e->max_packet = max_packet_length;
    return 0;
}

/* see sshbpp.h */
uint32_t
sshbpp_engine_max_packet(const sshbpp_engine *e)
{
    return e == NULL ? 0 : e->max_packet;
}

/* ------------------------------------------------------------------ */
/* Hooks                                                               */

/* see sshbpp.h */
void
sshbpp_engine_set_rng(sshbpp_engine *e, sshbpp_rng_fn fn, void *ctx)
{
    if (e == NULL)
        return;
    e->rng = fn != NULL ? fn : default_rng;
    e->rng_ctx = fn != NULL ? ctx : &e->tx.pool;
}

/* see sshbpp.h */
void
sshbpp_engine_set_trace(sshbpp_engine *e, sshbpp_trace_fn fn, void *ctx)
{
    if (e == NULL)
        return;
    e->trace = fn;
    e->trace_ctx = ctx;
}

/* see sshbpp.h */
void
sshbpp_engine_set_log(sshbpp_engine *e, sshbpp_log_fn fn, void *ctx)
{
    if (e == NULL)
        return;
    e->log = fn;
    e->log_ctx = ctx;
}

/* see sshbpp.h */
void
sshbpp_engine_set_hexdump(sshbpp_engine *e, int on)
{
    if (e != NULL)
        e->hexdump = on != 0;
}

/* see sshbpp.h */
int
sshbpp_engine_get_hexdump(const sshbpp_engine *e)
{
    return e != NULL && e->hexdump;
}

void
sshbpp__engine_test_pin_discard(sshbpp_engine *e, size_t total)
{
    e->rx.discard_pin = total;
}
