/*
 * base64.c: base64 for key files and public lines (RFC 4648 section 4).
 * Decoding is strict: only the alphabet, '=' only as final padding, and
 * the unused low bits of the last group must be zero, so that one key has
 * one text form. Encoding goes through OpenSSL's EVP_EncodeBlock.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "keys_int.h"

static int
b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* see keys_int.h */
long
sshbpp__b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i, o = 0, pad = 0, full;
    uint32_t acc = 0;
    int v, nbits = 0;

    if (len > 0x3fffffff || cap < len / 4 * 3 + 3)
        return SSHBPP_EKEYFILE;
    while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
        pad++;
    full = len - pad;
    if (pad > 0 && len % 4 != 0)
        return SSHBPP_EKEYFILE;
    if (full % 4 == 1)
        return SSHBPP_EKEYFILE;
    for (i = 0; i < full; i++) {
        if ((v = b64_val((unsigned char)in[i])) < 0)
            return SSHBPP_EKEYFILE;
        acc = (acc << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (uint8_t)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    /* The bits left over must be zero (canonical encoding). */
    if (acc != 0)
        return SSHBPP_EKEYFILE;
    return (long)o;
}

/* see keys_int.h */
long
sshbpp__b64_decode_ws(const char *in, size_t len, uint8_t *out, size_t cap)
{
    char *tmp;
    size_t i, n = 0;
    long r;

    if (len > 0x3fffffff)
        return SSHBPP_EKEYFILE;
    if ((tmp = malloc(len + 1)) == NULL)
        return SSHBPP_ENOMEM;
    for (i = 0; i < len; i++) {
        if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')
            continue;
        tmp[n++] = in[i];
    }
    r = sshbpp__b64_decode(tmp, n, out, cap);
    OPENSSL_cleanse(tmp, len + 1);
    free(tmp);
    return r;
}

/* see keys_int.h */
long
sshbpp__b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need;

    if (len > 0x3fffffff)
        return SSHBPP_EINVAL;
    need = (len + 2) / 3 * 4 + 1;
    if (cap < need)
        return SSHBPP_EBUFSMALL;
    return (long)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}
