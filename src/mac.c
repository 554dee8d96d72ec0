/*
 * mac.c: the SSH MAC table; HMAC through OpenSSL 3 EVP_MAC, and UMAC
 * (umac-64/128@openssh.com, RFC 4418 with OpenSSH's framing) through
 * nettle, because libcrypto has no UMAC.
 *
 * UMAC as OpenSSH frames it (PROTOCOL, mac.c): the 16-byte key is the
 * RFC 4418 key, the nonce is the 64-bit big-endian sequence number (8
 * bytes), and the message is the packet alone: the sequence number is not
 * prepended as for HMAC. The nonce is set explicitly for every packet
 * (nettle would otherwise increment its own).
 *
 * The HMAC context is keyed once in sshbpp__mac_init(); per packet it is
 * re-initialised with a NULL key, which OpenSSL 3 documents as "reuse the
 * key already set", so no key material is copied around per packet.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <nettle/umac.h>

#include "alg.h"

/* Largest digest in the table (SHA-512). */
#define MAC_MAX_LEN 64
/* Longest OpenSSL digest name in the table, with its NUL. */
#define DIGEST_NAME_MAX 16

static const sshbpp__mac_desc mac_table[] = {
    {"hmac-sha2-256-etm@openssh.com", "SHA256", 32, 32, 1},
    {"hmac-sha2-512-etm@openssh.com", "SHA512", 64, 64, 1},
    {"hmac-sha2-256", "SHA256", 32, 32, 0},
    {"hmac-sha2-512", "SHA512", 64, 64, 0},
    {"hmac-sha1-etm@openssh.com", "SHA1", 20, 20, 1},
    {"hmac-sha1", "SHA1", 20, 20, 0},
    {"hmac-md5-etm@openssh.com", "MD5", 16, 16, 1},
    {"hmac-md5", "MD5", 16, 16, 0},
    {"hmac-sha1-96-etm@openssh.com", "SHA1", 20, 12, 1},
    {"hmac-sha1-96", "SHA1", 20, 12, 0},
    {"hmac-md5-96-etm@openssh.com", "MD5", 16, 12, 1},
    {"hmac-md5-96", "MD5", 16, 12, 0},
    {"umac-64-etm@openssh.com", "UMAC64", 16, 8, 1},
    {"umac-128-etm@openssh.com", "UMAC128", 16, 16, 1},
    {"umac-64@openssh.com", "UMAC64", 16, 8, 0},
    {"umac-128@openssh.com", "UMAC128", 16, 16, 0},
};

#define MAC_COUNT (sizeof(mac_table) / sizeof(mac_table[0]))

const char *const sshbpp__mac_names[] = {
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha1",
    "hmac-md5-etm@openssh.com",
    "hmac-md5",
    "hmac-sha1-96-etm@openssh.com",
    "hmac-sha1-96",
    "hmac-md5-96-etm@openssh.com",
    "hmac-md5-96",
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    NULL,
};

static int
is_umac(const sshbpp__mac_desc *d)
{
    return strncmp(d->digest, "UMAC", 4) == 0;
}

static int
is_umac128(const sshbpp__mac_desc *d)
{
    return strcmp(d->digest, "UMAC128") == 0;
}

const sshbpp__mac_desc *
sshbpp__mac_find(const char *name)
{
    size_t i;

    /* "none" is deliberately absent: the engine treats no-MAC itself. */
    if (name == NULL)
        return NULL;
    for (i = 0; i < MAC_COUNT; i++) {
        if (strcmp(mac_table[i].name, name) == 0)
            return &mac_table[i];
    }
    return NULL;
}

void
sshbpp__mac_free(sshbpp__mac *m)
{
    if (m == NULL)
        return;
    /* EVP_MAC_CTX_free cleanses the HMAC key pads. */
    EVP_MAC_CTX_free(m->ctx);
    m->ctx = NULL;
    if (m->umac != NULL) {
        /* nettle keeps the expanded key in the context: wipe it. */
        sshbpp__wipe(m->umac, m->desc != NULL && is_umac128(m->desc)
                                  ? sizeof(struct umac128_ctx)
                                  : sizeof(struct umac64_ctx));
        free(m->umac);
        m->umac = NULL;
    }
    m->desc = NULL;
}

int
sshbpp__mac_init(sshbpp__mac *m, const sshbpp__mac_desc *desc, const uint8_t *key)
{
    /* OSSL_PARAM holds a non-const pointer; a local copy keeps the table
     * const without casting. */
    char digest[DIGEST_NAME_MAX];
    OSSL_PARAM params[2];
    EVP_MAC *mac;
    size_t n;

    sshbpp__mac_free(m);
    if (desc == NULL)
        return 0;
    if (is_umac(desc)) {
        if (desc->key_len != UMAC_KEY_SIZE)
            return SSHBPP_EINVAL;
        /* desc first, so that a failed init still frees with the size. */
        m->desc = desc;
        if (is_umac128(desc)) {
            if ((m->umac = calloc(1, sizeof(struct umac128_ctx))) == NULL) {
                m->desc = NULL;
                return SSHBPP_ENOMEM;
            }
            umac128_set_key(m->umac, key);
        } else {
            if ((m->umac = calloc(1, sizeof(struct umac64_ctx))) == NULL) {
                m->desc = NULL;
                return SSHBPP_ENOMEM;
            }
            umac64_set_key(m->umac, key);
        }
        return 0;
    }
    n = strlen(desc->digest);
    if (n >= sizeof(digest) || desc->mac_len > desc->key_len || desc->key_len > MAC_MAX_LEN)
        return SSHBPP_EINVAL;
    memcpy(digest, desc->digest, n + 1);

    /* Fetched per context instead of cached in a static: thread-safe
     * without a lock, and the context holds its own reference. */
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return SSHBPP_ECRYPTO;
    m->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (m->ctx == NULL)
        return SSHBPP_ENOMEM;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(m->ctx, key, desc->key_len, params) != 1 ||
        EVP_MAC_CTX_get_mac_size(m->ctx) != desc->key_len) {
        sshbpp__mac_free(m);
        return SSHBPP_ECRYPTO;
    }
    m->desc = desc;
    return 0;
}

/* Full-length HMAC of uint32(seqno) || data into full[MAC_MAX_LEN]. */
static int
mac_full(sshbpp__mac *m, uint32_t seqno, const uint8_t *data, size_t len,
         uint8_t full[MAC_MAX_LEN])
{
    uint8_t seq[4];
    size_t outl = 0;

    if (m->desc != NULL && m->umac != NULL) {
        uint8_t nonce[8] = {0, 0, 0, 0, (uint8_t)(seqno >> 24), (uint8_t)(seqno >> 16),
                            (uint8_t)(seqno >> 8), (uint8_t)seqno};

        if (is_umac128(m->desc)) {
            umac128_set_nonce(m->umac, sizeof(nonce), nonce);
            umac128_update(m->umac, len, data);
            umac128_digest(m->umac, UMAC128_DIGEST_SIZE, full);
        } else {
            umac64_set_nonce(m->umac, sizeof(nonce), nonce);
            umac64_update(m->umac, len, data);
            umac64_digest(m->umac, UMAC64_DIGEST_SIZE, full);
        }
        return 0;
    }
    if (m->desc == NULL || m->ctx == NULL)
        return SSHBPP_EINVAL;
    seq[0] = (uint8_t)(seqno >> 24);
    seq[1] = (uint8_t)(seqno >> 16);
    seq[2] = (uint8_t)(seqno >> 8);
    seq[3] = (uint8_t)seqno;
    if (EVP_MAC_init(m->ctx, NULL, 0, NULL) != 1 || EVP_MAC_update(m->ctx, seq, 4) != 1 ||
        EVP_MAC_update(m->ctx, data, len) != 1 ||
        EVP_MAC_final(m->ctx, full, &outl, MAC_MAX_LEN) != 1 || outl != m->desc->key_len)
        return SSHBPP_ECRYPTO;
    return 0;
}

int
sshbpp__mac_compute(sshbpp__mac *m, uint32_t seqno, const uint8_t *data, size_t len,
                    uint8_t *out)
{
    uint8_t full[MAC_MAX_LEN];
    int r;

    if ((r = mac_full(m, seqno, data, len, full)) == 0)
        memcpy(out, full, m->desc->mac_len);
    sshbpp__wipe(full, sizeof(full));
    return r;
}

int
sshbpp__mac_verify(sshbpp__mac *m, uint32_t seqno, const uint8_t *data, size_t len,
                   const uint8_t *mac)
{
    uint8_t full[MAC_MAX_LEN];
    int r;

    if ((r = mac_full(m, seqno, data, len, full)) == 0 &&
        CRYPTO_memcmp(full, mac, m->desc->mac_len) != 0)
        r = SSHBPP_EMAC;
    sshbpp__wipe(full, sizeof(full));
    return r;
}
