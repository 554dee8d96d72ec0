/*
 * zlib.c: "zlib" and "zlib@openssh.com" compression (RFC 4253 section 6.2).
 *
 * One deflate or inflate stream per direction lives for the whole session;
 * every packet ends with Z_PARTIAL_FLUSH as OpenSSH sends it, so each
 * packet can be inflated on arrival without waiting for the next.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Gives next_in a const type, so compressing a const buffer needs no cast. */
#define ZLIB_CONST
#include <zlib.h>

#include "alg.h"

/* OpenSSH's compression level. */
#define SSH_ZLIB_LEVEL 6

const char *const sshbpp__comp_names[] = {"none", "zlib@openssh.com", "zlib", NULL};

/*
 * The window and hash tables hold recent plaintext; zlib's own free does
 * not clear them. These allocators remember each block's size in front of
 * it so it can be cleansed on release.
 */
union zhdr {
    size_t n;
    max_align_t align;
};

static voidpf
zalloc_wipe(voidpf opaque, uInt items, uInt size)
{
    union zhdr *h;
    size_t n;

    (void)opaque;
    if (size != 0 && items > (SIZE_MAX - sizeof(*h)) / size)
        return Z_NULL;
    n = (size_t)items * size;
    h = malloc(sizeof(*h) + n);
    if (h == NULL)
        return Z_NULL;
    h->n = n;
    return h + 1;
}

static void
zfree_wipe(voidpf opaque, voidpf p)
{
    union zhdr *h;

    (void)opaque;
    if (p == Z_NULL)
        return;
    h = (union zhdr *)p - 1;
    sshbpp__wipe(h + 1, h->n);
    free(h);
}

void
sshbpp__zlib_free(sshbpp__zlib *z)
{
    if (z == NULL)
        return;
    if (z->zs != NULL) {
        if (z->deflate)
            (void)deflateEnd(z->zs);
        else
            (void)inflateEnd(z->zs);
        free(z->zs);
    }
    z->zs = NULL;
    z->deflate = 0;
}

int
sshbpp__zlib_init(sshbpp__zlib *z, int deflate)
{
    z_stream *zs;
    int r;

    sshbpp__zlib_free(z);
    zs = calloc(1, sizeof(*zs));
    if (zs == NULL)
        return SSHBPP_ENOMEM;
    zs->zalloc = zalloc_wipe;
    zs->zfree = zfree_wipe;
    zs->opaque = Z_NULL;
    r = deflate ? deflateInit(zs, SSH_ZLIB_LEVEL) : inflateInit(zs);
    if (r != Z_OK) {
        free(zs);
        /* The only other failure is a zlib.h/library version mismatch. */
        return r == Z_MEM_ERROR ? SSHBPP_ENOMEM : SSHBPP_ECOMP;
    }
    z->zs = zs;
    z->deflate = deflate ? 1 : 0;
    return 0;
}

/*
 * Per packet, deflate emits (a) the blocks for the new input, no worse than
 * fixed-Huffman coding of every byte as a 9-bit literal plus block headers,
 * which zlib's stream-less deflateBound() covers together with a 6-byte
 * wrapper allowance (the 2-byte zlib header goes out with the first
 * packet; the Adler-32 trailer never does); then (b) Z_PARTIAL_FLUSH's
 * empty fixed block (10 bits, some zlib versions add a second one), and
 * (c) up to 7 bits still pending from the previous packet's flush, which
 * ended off a byte boundary. (b) + (c) + final byte padding stay under 5
 * bytes; 16 leaves a margin.
 */
#define PARTIAL_FLUSH_SLACK 16

size_t
sshbpp__zlib_bound(size_t in_len)
{
    uLong b;

    if (in_len > (size_t)ULONG_MAX / 2)
        return SIZE_MAX;
    b = deflateBound(Z_NULL, (uLong)in_len);
    if (b > SIZE_MAX - PARTIAL_FLUSH_SLACK)
        return SIZE_MAX;
    return (size_t)b + PARTIAL_FLUSH_SLACK;
}

int
sshbpp__zlib_compress(sshbpp__zlib *z, const uint8_t *in, size_t in_len, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    z_stream *zs = z->zs;
    int r;

    *out_len = 0;
    if (zs == NULL || !z->deflate || in_len > UINT_MAX)
        return SSHBPP_EINVAL;
    if (cap > UINT_MAX)
        cap = UINT_MAX;
    zs->next_in = in;
    zs->avail_in = (uInt)in_len;
    zs->next_out = out;
    zs->avail_out = (uInt)cap;
    r = deflate(zs, Z_PARTIAL_FLUSH);
    *out_len = cap - zs->avail_out;
    zs->next_in = Z_NULL;
    zs->next_out = Z_NULL;
    /* zlib refuses a flush with no new input as "no progress" (Z_BUF_ERROR);
     * for an empty payload that is the right outcome, not a failure. */
    if (r != Z_OK && !(r == Z_BUF_ERROR && in_len == 0))
        return SSHBPP_ECOMP;
    /* A full output buffer may hide unflushed bits: zlib says to call
     * again with more room. The stream is now out of step with the peer,
     * so this is fatal; it only happens if cap ignored zlib_bound. */
    if (zs->avail_in != 0 || zs->avail_out == 0)
        return SSHBPP_EBUFSMALL;
    return 0;
}

int
sshbpp__zlib_decompress(sshbpp__zlib *z, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t max, size_t *out_len)
{
    z_stream *zs = z->zs;
    uint8_t probe;
    int r;

    *out_len = 0;
    if (zs == NULL || z->deflate || in_len > UINT_MAX)
        return SSHBPP_EINVAL;
    if (max > UINT_MAX)
        max = UINT_MAX;
    zs->next_in = in;
    zs->avail_in = (uInt)in_len;
    zs->next_out = out;
    zs->avail_out = (uInt)max;
    r = inflate(zs, Z_SYNC_FLUSH);
    *out_len = max - zs->avail_out;
    /* Z_BUF_ERROR only says "no progress possible": with empty input or
     * full output that is normal and is judged below. A stream end is not:
     * an SSH compression stream lasts as long as the keys, as in OpenSSH. */
    if (r == Z_MEM_ERROR) {
        r = SSHBPP_ENOMEM;
        goto out;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) {
        r = SSHBPP_EDECOMP;
        goto out;
    }
    r = 0;
    if (zs->avail_out == 0) {
        /* Output is full. Input left over, or inflate still holding output
         * (a long match half copied), means the packet inflates past max:
         * a compression bomb. One probe byte tells; nothing is lost if it
         * comes back empty. */
        if (zs->avail_in != 0) {
            r = SSHBPP_EDECOMPLONG;
            goto out;
        }
        zs->next_out = &probe;
        zs->avail_out = 1;
        r = inflate(zs, Z_SYNC_FLUSH);
        if (zs->avail_out == 0)
            r = SSHBPP_EDECOMPLONG;
        else if (r == Z_OK || r == Z_BUF_ERROR)
            r = 0;
        else
            r = r == Z_MEM_ERROR ? SSHBPP_ENOMEM : SSHBPP_EDECOMP;
    } else if (zs->avail_in != 0) {
        /* Room left yet input unread: inflate stopped for a reason of its
         * own, which for a live SSH stream is corruption. */
        r = SSHBPP_EDECOMP;
    }
out:
    zs->next_in = Z_NULL;
    zs->next_out = Z_NULL;
    zs->avail_in = 0;
    zs->avail_out = 0;
    return r;
}
