/*
 * fuzz_common.h: fixed keys for the fuzz targets, so that fuzzing reaches
 * past the MAC: a corpus made with these keys decrypts and authenticates,
 * and mutations then hit the length, padding, MAC and zlib checks.
 */
#ifndef SSHBPP_FUZZ_COMMON_H
#define SSHBPP_FUZZ_COMMON_H

#include <string.h>

#include "sshbpp/sshbpp.h"

struct fuzz_mode {
    const char *cipher;
    const char *mac;
};

static const struct fuzz_mode fuzz_modes[] = {
    {"none", NULL},
    {"aes128-ctr", "hmac-sha2-256"},
    {"aes128-cbc", "hmac-sha1-96"},
    {"3des-cbc", "hmac-md5"},
    {"aes256-ctr", "hmac-sha2-512-etm@openssh.com"},
    {"aes192-cbc", "hmac-sha1-etm@openssh.com"},
    {"aes128-gcm@openssh.com", NULL},
    {"aes256-gcm@openssh.com", NULL},
    {"chacha20-poly1305@openssh.com", NULL},
};
#define FUZZ_NMODES (sizeof(fuzz_modes) / sizeof(fuzz_modes[0]))

/* Sets the fixed keys of mode m on one direction of e. 0 or an error. */
static inline int
fuzz_set_keys(sshbpp_engine *e, int dir, size_t m)
{
    static const uint8_t key[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t iv[16] = {0x55, 0x66, 0x77};
    static const uint8_t mkey[64] = {0x1f, 0x2f, 0x3f};
    const struct fuzz_mode *fm = &fuzz_modes[m % FUZZ_NMODES];
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi;
    sshbpp_keys k;
    int r;

    if ((r = sshbpp_cipher_get_info(fm->cipher, &ci)) != 0)
        return r;
    memset(&mi, 0, sizeof(mi));
    if (fm->mac != NULL && (r = sshbpp_mac_get_info(fm->mac, &mi)) != 0)
        return r;
    memset(&k, 0, sizeof(k));
    k.cipher = fm->cipher;
    k.key = key;
    k.key_len = ci.key_len;
    k.iv = iv;
    k.iv_len = ci.iv_len;
    k.mac = fm->mac;
    k.mac_key = mkey;
    k.mac_key_len = mi.key_len;
    return sshbpp_engine_set_keys(e, dir, &k);
}

#endif
