/*
 * wire.c: SSH data encodings (RFC 4251 section 5) for the handshake.
 *
 * The reader never trusts a length: every read checks it against what is
 * left before forming a pointer, so a hostile uint32 cannot move it past
 * the end. Both directions keep a sticky error so that a chain of puts or
 * gets is checked once.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kex_int.h"

void
sshbpp__wb_init(sshbpp__wbuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

void
sshbpp__wb_free(sshbpp__wbuf *b)
{
    if (b->p != NULL) {
        /* Buffers carry shared secrets and private values. */
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    sshbpp__wb_init(b);
}

void
sshbpp__wb_reset(sshbpp__wbuf *b)
{
    if (b->p != NULL)
        OPENSSL_cleanse(b->p, b->len);
    b->len = 0;
    b->err = 0;
}

/* Room for n more bytes; sets err on failure. */
static int
wb_room(sshbpp__wbuf *b, size_t n)
{
    uint8_t *np;
    size_t ncap;

    if (b->err != 0)
        return 0;
    if (n > (size_t)SSHBPP_MAX_PACKET_LIMIT || b->len > (size_t)SSHBPP_MAX_PACKET_LIMIT) {
        b->err = SSHBPP_EINVAL;
        return 0;
    }
    if (b->cap - b->len >= n)
        return 1;
    ncap = b->cap < 256 ? 256 : b->cap;
    while (ncap - b->len < n)
        ncap *= 2;
    np = malloc(ncap);
    if (np == NULL) {
        b->err = SSHBPP_ENOMEM;
        return 0;
    }
    if (b->p != NULL) {
        memcpy(np, b->p, b->len);
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = np;
    b->cap = ncap;
    return 1;
}

void
sshbpp__wb_raw(sshbpp__wbuf *b, const void *p, size_t n)
{
    if (n == 0 || !wb_room(b, n))
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void
sshbpp__wb_u8(sshbpp__wbuf *b, uint8_t v)
{
    sshbpp__wb_raw(b, &v, 1);
}

void
sshbpp__wb_bool(sshbpp__wbuf *b, int v)
{
    sshbpp__wb_u8(b, v ? 1 : 0);
}

void
sshbpp__wb_u32(sshbpp__wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    sshbpp__wb_raw(b, x, 4);
}

void
sshbpp__wb_string(sshbpp__wbuf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        if (b->err == 0)
            b->err = SSHBPP_EINVAL;
        return;
    }
    sshbpp__wb_u32(b, (uint32_t)n);
    sshbpp__wb_raw(b, p, n);
}

void
sshbpp__wb_cstring(sshbpp__wbuf *b, const char *s)
{
    sshbpp__wb_string(b, s, s != NULL ? strlen(s) : 0);
}

void
sshbpp__wb_mpint(sshbpp__wbuf *b, const uint8_t *mag, size_t n)
{
    while (n > 0 && mag[0] == 0) {
        mag++;
        n--;
    }
    if (n > 0 && (mag[0] & 0x80)) {
        /* A set top bit would read as negative: prefix a zero byte. */
        sshbpp__wb_u32(b, (uint32_t)(n + 1));
        sshbpp__wb_u8(b, 0);
        sshbpp__wb_raw(b, mag, n);
    } else {
        sshbpp__wb_string(b, mag, n);
    }
}

void
sshbpp__rb_init(sshbpp__rbuf *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = p != NULL ? len : 0;
    r->off = 0;
    r->err = 0;
}

static int
rb_fail(sshbpp__rbuf *r)
{
    r->err = SSHBPP_EKEXMSG;
    return r->err;
}

int
sshbpp__rb_raw(sshbpp__rbuf *r, const uint8_t **p, size_t n)
{
    if (r->err != 0)
        return r->err;
    if (n > r->len - r->off)
        return rb_fail(r);
    *p = r->p + r->off;
    r->off += n;
    return 0;
}

int
sshbpp__rb_u8(sshbpp__rbuf *r, uint8_t *v)
{
    const uint8_t *p;
    int e = sshbpp__rb_raw(r, &p, 1);

    if (e == 0)
        *v = p[0];
    return e;
}

int
sshbpp__rb_bool(sshbpp__rbuf *r, int *v)
{
    uint8_t x;
    int e = sshbpp__rb_u8(r, &x);

    if (e == 0)
        *v = x != 0;
    return e;
}

int
sshbpp__rb_u32(sshbpp__rbuf *r, uint32_t *v)
{
    const uint8_t *p;
    int e = sshbpp__rb_raw(r, &p, 4);

    if (e == 0)
        *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return e;
}

int
sshbpp__rb_string(sshbpp__rbuf *r, const uint8_t **p, size_t *n)
{
    uint32_t len;
    int e;

    if ((e = sshbpp__rb_u32(r, &len)) != 0)
        return e;
    if ((e = sshbpp__rb_raw(r, p, len)) != 0)
        return e;
    *n = len;
    return 0;
}

int
sshbpp__rb_mpint(sshbpp__rbuf *r, const uint8_t **mag, size_t *n)
{
    const uint8_t *p;
    size_t len;
    int e;

    if ((e = sshbpp__rb_string(r, &p, &len)) != 0)
        return e;
    if (len > 0 && (p[0] & 0x80))
        return rb_fail(r); /* negative */
    if (len > 0 && p[0] == 0) {
        /* A leading zero is only allowed to keep the sign bit clear. */
        if (len == 1 || !(p[1] & 0x80))
            return rb_fail(r);
        p++;
        len--;
    }
    *mag = p;
    *n = len;
    return 0;
}

int
sshbpp__rb_done(const sshbpp__rbuf *r)
{
    return r->err == 0 && r->off == r->len;
}

/* Iterates the names of a list: returns the next name's length and sets
 * *pos past it and its comma. */
static size_t
next_name(const char *list, size_t len, size_t *pos, const char **name)
{
    size_t start = *pos, end = start;

    while (end < len && list[end] != ',')
        end++;
    *name = list + start;
    *pos = end < len ? end + 1 : end;
    return end - start;
}

int
sshbpp__namelist_has(const char *list, size_t len, const char *name)
{
    size_t pos = 0, n, want = strlen(name);
    const char *cur;

    while (pos < len) {
        n = next_name(list, len, &pos, &cur);
        if (n == want && memcmp(cur, name, n) == 0)
            return 1;
    }
    return 0;
}

size_t
sshbpp__base64_nopad(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t padded = (n + 2) / 3 * 4, len;

    if (padded + 1 > cap || n > 0x3fffffff)
        return 0;
    len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    return len;
}
