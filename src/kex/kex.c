/*
 * kex.c: the sans-I/O transport handshake state machine (sshbpp_kex in
 * sshbpp_kex.h): KEXINIT and negotiation (RFC 4253 section 7.1), one
 * ephemeral exchange (RFC 5656 / RFC 8731 / RFC 8268 / the ML-KEM hybrid:
 * messages 30 and 31; RFC 4419 group exchange: 34, 31, 32, 33),
 * the exchange hash, key derivation (7.2), NEWKEYS (7.3), RFC 8308
 * ext-info and OpenSSH's strict KEX.
 *
 * IMPLEMENTATION NOTES
 *
 * One exchange runs from the first KEXINIT (ours or the peer's) until we
 * have both sent and received NEWKEYS. Its progress is a handful of flags
 * rather than a linear state enum because the two halves are independent:
 * our KEXINIT may go out before or after the peer's arrives, and our
 * NEWKEYS goes out before the peer's arrives on both roles (the server
 * sends it right after its reply, the client right after verifying it).
 *
 *   sent_kexinit, got_kexinit   negotiation happens when both are set
 *   sent_init                   client: ECDH/DH init sent, reply expected
 *   have_keys                   K and H computed, keys derived; a NEWKEYS
 *                               from the peer is acceptable only now
 *   sent_newkeys, got_newkeys   done when both are set
 *
 * Secrets: K (mpint-encoded, as hashed), H and the derived keys of one
 * direction live only between their computation and the matching NEWKEYS;
 * each is wiped as soon as it has been used. The session id is kept (it is
 * the connection's identity for user authentication) and wiped at free.
 *
 * Message policy (what may arrive when), chosen to match OpenSSH:
 *  - DISCONNECT is always SSHBPP_EDISCONNECT, so that a caller that only
 *    looks at errors still stops.
 *  - Before the first NEWKEYS has been received (the initial exchange):
 *    with strict KEX, only KEXINIT, NEWKEYS and 30..49 are allowed, and
 *    the peer's KEXINIT must have been its packet number 0; anything else
 *    is SSHBPP_ESTRICTKEX. Whether strict KEX is on is only known once the
 *    peer's KEXINIT arrived; a message before it is caught by the sequence
 *    number check. Without strict KEX, IGNORE, UNIMPLEMENTED and DEBUG pass
 *    to the caller and anything else (there is no service before keys) is
 *    SSHBPP_EKEXORDER.
 *  - After the first exchange, during a rekey: messages that are not part
 *    of the key exchange are passed to the caller, also after the peer's
 *    KEXINIT. RFC 4253 section 7.1 forbids a peer to send them between its
 *    KEXINIT and its NEWKEYS, but OpenSSH does not enforce that on receipt
 *    (only on its own sends, which it queues), and the packets are still
 *    authenticated under the old keys, so refusing them buys no security
 *    and only breaks peers that race. We never send them (the session gates
 *    its senders).
 *  - In any phase: a second KEXINIT in one exchange, NEWKEYS before K is
 *    known, and 30..49 outside an exchange or in the wrong role/state are
 *    SSHBPP_EKEXORDER.
 *  - In any phase: an UNIMPLEMENTED that names the sequence number of our
 *    KEXINIT of the running exchange (known only through the optional
 *    seqno hook) is SSHBPP_EREKEYREFUSED: the peer will never answer, and
 *    RFC 4253 7.1 has no way to call a KEXINIT back, so the connection
 *    cannot go on. Any other UNIMPLEMENTED passes as before.
 *
 * Compression: "zlib" is switched on with the keys. "zlib@openssh.com" is
 * meant to start after user authentication, which this layer does not see:
 * until the caller reports it (sshbpp_kex_auth_done(), the `authed` flag)
 * the direction stays uncompressed; from then on it is switched on at once
 * where negotiated and at every later NEWKEYS like "zlib".
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/bn.h>
#include <openssl/rand.h>

#include "kex_int.h"

#define MSG_DISCONNECT 1
#define MSG_IGNORE 2
#define MSG_UNIMPLEMENTED 3
#define MSG_DEBUG 4
#define MSG_EXT_INFO 7
#define MSG_KEXINIT 20
#define MSG_NEWKEYS 21
#define MSG_KEX_INIT 30  /* SSH_MSG_KEX_ECDH_INIT / SSH_MSG_KEXDH_INIT */
#define MSG_KEX_REPLY 31 /* SSH_MSG_KEX_ECDH_REPLY / SSH_MSG_KEXDH_REPLY */
/* RFC 4419 group exchange (30 is the obsolete GEX_REQUEST_OLD, refused). */
#define MSG_GEX_GROUP 31
#define MSG_GEX_INIT 32
#define MSG_GEX_REPLY 33
#define MSG_GEX_REQUEST 34

/* Bounds on what a peer can make us store. */
#define MAX_NAMELIST (64u * 1024u)

/* Bounds on one name-list of the peer's KEXINIT, checked before anything
 * else looks at it. RFC 4251 section 6: a name has 1 to 64 characters.
 * OpenSSH's matcher considers at most 40 names of a proposal (match.c,
 * MAX_PROP) in a packet of at most 256 KiB; we refuse outright a list over
 * 128 names or 4096 bytes, several times what any implementation sends
 * (OpenSSH 9's longest, host key algorithms with certificates, is about 20
 * names and 500 bytes). With them negotiation makes at most 128 name
 * comparisons per name of ours in each list. */
#define NL_MAX_LEN 4096u
#define NL_MAX_NAMES 128u
#define NL_MAX_NAME 64u
#define MAX_EXT_INFO 64u
#define MAX_HOSTKEYS 16u

/* Largest cipher key (chacha20-poly1305), IV and MAC key we derive. */
#define MAX_KEY 64
#define MAX_IV 16
#define MAX_MACKEY 64
#define MAX_HASH 64

#define STRICT_C "kex-strict-c-v00@openssh.com"
#define STRICT_S "kex-strict-s-v00@openssh.com"
#define EXT_INFO_C "ext-info-c"

enum { CFG_KEX = 0, CFG_HOSTKEY, CFG_CIPHER, CFG_MAC, CFG_COMP, CFG_N };

/* Direction index of negotiated algorithms and derived keys. */
enum { C2S = 0, S2C = 1 };

struct dirkeys {
    uint8_t key[MAX_KEY], iv[MAX_IV], mackey[MAX_MACKEY];
    size_t key_len, iv_len, mackey_len;
};

struct sshbpp_kex {
    int role;
    sshbpp_kex_transport t;
    void *ctx;
    sshbpp_kex_seqno_fn seqno_fn; /* optional, NULL: refusal detection off */
    sshbpp_keylog_fn keylog;      /* optional, NULL: no key log (the default) */
    void *keylog_ctx;
    char *cfg[CFG_N];
    sshbpp__hostkey hks[MAX_HOSTKEYS];
    size_t nhk;
    char *v_c, *v_s;
    int err;          /* sticky */
    int no_strict;    /* test knob: do not advertise strict KEX */
    int authed;       /* user authentication done: zlib@openssh.com may run */
    int pause_hostkey; /* client: stop before our first NEWKEYS for the caller's host key check */
    int hk_pending;    /* client: paused there; sshbpp__kex_hostkey_resume() goes on */

    unsigned completed;
    int strict;       /* decided by the first KEXINIT pair */
    int ext_info_c;   /* server: the client's first KEXINIT offered ext-info-c */
    char *server_sig_algs;
    char *ext_sig_algs; /* server: server-sig-algs to send; NULL: default */
    sshbpp__wbuf first_hostkey; /* client: K_S of the first exchange */
    uint8_t sid[MAX_HASH];
    size_t sidlen;
    sshbpp_kex_info info;

    /* the running exchange */
    int running;
    int sent_kexinit, got_kexinit, sent_init, have_keys, sent_newkeys, got_newkeys;
    int ignore_next;  /* the peer's first_kex_packet_follows guess was wrong */
    /* Outbound sequence number of our KEXINIT of this exchange, if the
     * seqno hook (sshbpp_kex_set_seqno_fn) could tell it exactly: an
     * SSH_MSG_UNIMPLEMENTED naming it means the peer refused the exchange. */
    uint32_t kexinit_seqno;
    int kexinit_seqno_known;
    sshbpp__wbuf my_kexinit, peer_kexinit;
    char *my_lists[SSHBPP_KEXINIT_NLISTS];
    char *peer_lists[SSHBPP_KEXINIT_NLISTS];
    int peer_follows;

    unsigned long ncmp; /* name comparisons made by negotiation (tests) */

    const sshbpp__kex_method *m;
    char hk_alg[64];
    char cipher[2][64], mac[2][64], comp[2][32];
    sshbpp__kex_eph eph;
    sshbpp__wbuf q_c;  /* client's public value, as encoded on the wire */
    /* group exchange: the group of this exchange, and what H hashes of the
     * request and group (uint32 min, n, max, mpint p, mpint g) */
    sshbpp__moduli *moduli; /* server: from sshbpp_kex_set_moduli(); NULL: built in */
    struct bignum_st *gex_p, *gex_g;
    uint32_t gex_min, gex_n, gex_max;
    sshbpp__wbuf gex_hash;
    struct dirkeys keys[2];
    char fingerprint[64];
};

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

static void
wipe_dirkeys(struct dirkeys *d)
{
    OPENSSL_cleanse(d, sizeof(*d));
}

/* The key log event of this exchange (sshbpp_kex_set_keylog()): our
 * cookie is byte 1..16 of the KEXINIT we sent, K the hashed encoding
 * without its uint32 length. priv may be NULL (none, or not exportable). */
static void
keylog_emit(const sshbpp_kex *k, const uint8_t *priv, size_t privlen, const sshbpp__wbuf *K)
{
    sshbpp_keylog_event ev;

    if (k->keylog == NULL || k->my_kexinit.len < 17 || K->len < 4)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.role = k->role == SSHBPP_ROLE_SERVER ? SSHBPP_ROLE_SERVER : SSHBPP_ROLE_CLIENT;
    ev.kex = k->m->name;
    ev.exchange = k->completed;
    ev.cookie = k->my_kexinit.p + 1;
    ev.priv = privlen > 0 ? priv : NULL;
    ev.priv_len = privlen > 0 ? privlen : 0;
    ev.shared_secret = K->p + 4;
    ev.shared_secret_len = K->len - 4;
    ev.shared_secret_form = k->m->type == SSHBPP__KEX_MLKEM768X25519 ? SSHBPP_KEYLOG_K_STRING
                                                                     : SSHBPP_KEYLOG_K_MPINT;
    k->keylog(k->keylog_ctx, &ev);
    OPENSSL_cleanse(&ev, sizeof(ev));
}

static void
free_lists(char **lists)
{
    int i;

    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        free(lists[i]);
        lists[i] = NULL;
    }
}

/* Ends the running exchange's secret state (not the session id). */
static void
exchange_wipe(sshbpp_kex *k)
{
    sshbpp__eph_free(&k->eph);
    sshbpp__wb_free(&k->q_c);
    sshbpp__wb_free(&k->gex_hash);
    BN_free(k->gex_p);
    BN_free(k->gex_g);
    k->gex_p = k->gex_g = NULL;
    wipe_dirkeys(&k->keys[C2S]);
    wipe_dirkeys(&k->keys[S2C]);
}

static int
fail(sshbpp_kex *k, int err)
{
    if (k->err == 0)
        k->err = err < 0 ? err : SSHBPP_EPROTO;
    exchange_wipe(k);
    return k->err;
}

static char *
dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *
dup_s(const char *s)
{
    return dup_n(s, strlen(s));
}

/* Name iterator: returns the next name's length and advances *pos. */
static size_t
next_name(const char *list, size_t *pos, const char **name)
{
    size_t start = *pos, end = start;

    while (list[end] != '\0' && list[end] != ',')
        end++;
    *name = list + start;
    *pos = list[end] == ',' ? end + 1 : end;
    return end - start;
}

static int
in_array(const char *const *arr, const char *name, size_t n)
{
    for (; arr != NULL && *arr != NULL; arr++)
        if (strlen(*arr) == n && memcmp(*arr, name, n) == 0)
            return 1;
    return 0;
}

/* Every name of list is in arr, none is empty, and there is at least one. */
static int
list_valid(const char *list, const char *const *arr)
{
    size_t pos = 0, n;
    const char *name;

    if (list == NULL || list[0] == '\0')
        return 0;
    while (list[pos] != '\0') {
        n = next_name(list, &pos, &name);
        if (n == 0 || !in_array(arr, name, n))
            return 0;
        if (name[n] == ',' && name[n + 1] == '\0')
            return 0; /* trailing comma: an empty last name */
    }
    return 1;
}

static int
has_name(const char *list, const char *name)
{
    return list != NULL && sshbpp__namelist_has(list, strlen(list), name);
}

/* ---------------------------------------------------------------------- */
/* default lists                                                           */

static const char default_ciphers[] = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,"
                                      "aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr";
static const char default_macs[] = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
                                   "hmac-sha2-256,hmac-sha2-512,hmac-sha1-etm@openssh.com,"
                                   "hmac-sha1";

static char default_kex_buf[1024], default_hk_buf[1024];
static atomic_int defaults_state; /* 0 unbuilt, 1 building, 2 built */

static void
join(const char *const *names, char *out, size_t cap)
{
    size_t len = 0, n;

    out[0] = '\0';
    for (; *names != NULL; names++) {
        n = strlen(*names);
        if (len + n + 2 > cap)
            break; /* static lists: cannot happen, but never overflow */
        if (len > 0)
            out[len++] = ',';
        memcpy(out + len, *names, n);
        len += n;
        out[len] = '\0';
    }
}

/* The joined kex and host key lists come from the tables in kexalg.c and
 * hostkey.c; they are built once. A spin on an atomic rather than a lock:
 * this file must not depend on a thread library, and the build is a few
 * microseconds. */
static void
build_defaults(void)
{
    int expect = 0;

    if (atomic_load_explicit(&defaults_state, memory_order_acquire) == 2)
        return;
    if (atomic_compare_exchange_strong(&defaults_state, &expect, 1)) {
        join(sshbpp__kex_defaults(), default_kex_buf, sizeof(default_kex_buf));
        join(sshbpp__hostkey_names, default_hk_buf, sizeof(default_hk_buf));
        /* "ssh-rsa" (SHA-1 signatures) is legacy: supported, not default.
         * It is the table's last name, so the default is the prefix. */
        {
            size_t n = strlen(default_hk_buf), m = strlen(",ssh-rsa");

            if (n > m && strcmp(default_hk_buf + n - m, ",ssh-rsa") == 0)
                default_hk_buf[n - m] = '\0';
        }
        atomic_store_explicit(&defaults_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&defaults_state, memory_order_acquire) != 2)
        ;
}

/* see sshbpp_kex.h */
const char *
sshbpp_kex_default(int list)
{
    switch (list) {
    case SSHBPP_KEXINIT_KEX:
        build_defaults();
        return default_kex_buf;
    case SSHBPP_KEXINIT_HOSTKEY:
        build_defaults();
        return default_hk_buf;
    case SSHBPP_KEXINIT_CIPHER_C2S:
        return default_ciphers;
    case SSHBPP_KEXINIT_MAC_C2S:
        return default_macs;
    case SSHBPP_KEXINIT_COMP_C2S:
        return "none";
    default:
        return NULL;
    }
}

/* see sshbpp_kex.h */
const char *const *
sshbpp_kex_supported(int list)
{
    switch (list) {
    case SSHBPP_KEXINIT_KEX:
        return sshbpp__kex_supported();
    case SSHBPP_KEXINIT_HOSTKEY:
        return sshbpp__hostkey_names;
    default:
        return NULL;
    }
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

/* see sshbpp_kex.h */
sshbpp_kex *
sshbpp_kex_new(int role, const sshbpp_kex_config *cfg, const sshbpp_kex_transport *t, void *ctx)
{
    static const int slot[CFG_N] = {SSHBPP_KEXINIT_KEX, SSHBPP_KEXINIT_HOSTKEY,
                                    SSHBPP_KEXINIT_CIPHER_C2S, SSHBPP_KEXINIT_MAC_C2S,
                                    SSHBPP_KEXINIT_COMP_C2S};
    const char *given[CFG_N];
    const char *const *all[CFG_N];
    sshbpp_kex *k;
    int i;

    if (cfg == NULL || t == NULL || t->send == NULL || t->set_keys == NULL ||
        t->set_compression == NULL || t->reset_seqno == NULL)
        return NULL;
    if (role != SSHBPP_ROLE_CLIENT && role != SSHBPP_ROLE_SERVER)
        return NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return NULL;
    k->role = role;
    k->t = *t;
    k->ctx = ctx;
    given[CFG_KEX] = cfg->kex;
    given[CFG_HOSTKEY] = cfg->hostkey;
    given[CFG_CIPHER] = cfg->ciphers;
    given[CFG_MAC] = cfg->macs;
    given[CFG_COMP] = cfg->compression;
    all[CFG_KEX] = sshbpp__kex_supported();
    all[CFG_HOSTKEY] = sshbpp__hostkey_names;
    all[CFG_CIPHER] = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    all[CFG_MAC] = sshbpp_alg_list(SSHBPP_ALG_MAC);
    all[CFG_COMP] = sshbpp_alg_list(SSHBPP_ALG_COMP);
    for (i = 0; i < CFG_N; i++) {
        /* OpenSSH's "+", "-" and "^" forms are resolved against the
         * default list here; a spec that does not resolve is kept as it
         * is, so that sshbpp_kex_start() reports it (SSHBPP_EUNSUPPORTED:
         * no algorithm name starts with those characters). */
        int r = sshbpp__alglist_resolve(given[i], sshbpp_kex_default(slot[i]), all[i],
                                        &k->cfg[i]);

        if (r == SSHBPP_EUNSUPPORTED)
            k->cfg[i] = dup_s(given[i]);
        if (k->cfg[i] == NULL) {
            sshbpp_kex_free(k);
            return NULL;
        }
    }
    sshbpp__wb_init(&k->my_kexinit);
    sshbpp__wb_init(&k->peer_kexinit);
    sshbpp__wb_init(&k->q_c);
    sshbpp__wb_init(&k->gex_hash);
    sshbpp__wb_init(&k->first_hostkey);
    return k;
}

/* see sshbpp_kex.h */
void
sshbpp_kex_free(sshbpp_kex *k)
{
    size_t i;

    if (k == NULL)
        return;
    exchange_wipe(k);
    for (i = 0; i < k->nhk; i++)
        sshbpp__hostkey_free(&k->hks[i]);
    for (i = 0; i < CFG_N; i++)
        free(k->cfg[i]);
    free_lists(k->my_lists);
    free_lists(k->peer_lists);
    sshbpp__wb_free(&k->my_kexinit);
    sshbpp__wb_free(&k->peer_kexinit);
    free(k->v_c);
    free(k->v_s);
    free(k->server_sig_algs);
    free(k->ext_sig_algs);
    sshbpp__moduli_free(k->moduli);
    sshbpp__wb_free(&k->first_hostkey);
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

static int
add_hostkey(sshbpp_kex *k, const char *path, const char *alg)
{
    int r;

    if (k == NULL || (path == NULL && alg == NULL))
        return SSHBPP_EINVAL;
    if (k->role != SSHBPP_ROLE_SERVER || k->nhk >= MAX_HOSTKEYS)
        return SSHBPP_EINVAL;
    memset(&k->hks[k->nhk], 0, sizeof(k->hks[k->nhk]));
    r = path != NULL ? sshbpp__hostkey_load_file(&k->hks[k->nhk], path)
                     : sshbpp__hostkey_generate(&k->hks[k->nhk], alg);
    if (r != 0) {
        sshbpp__hostkey_free(&k->hks[k->nhk]);
        return r;
    }
    k->nhk++;
    return 0;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_add_hostkey_file(sshbpp_kex *k, const char *path)
{
    return add_hostkey(k, path, NULL);
}

/* see sshbpp_kex.h */
int
sshbpp_kex_generate_hostkey(sshbpp_kex *k, const char *alg)
{
    return add_hostkey(k, NULL, alg);
}

/* see sshbpp_kex.h */
int
sshbpp_kex_set_moduli(sshbpp_kex *k, const char *path)
{
    sshbpp__moduli *m = NULL;
    int r;

    if (k == NULL || path == NULL || k->role != SSHBPP_ROLE_SERVER)
        return SSHBPP_EINVAL;
    if ((r = sshbpp__moduli_load(path, &m)) != 0)
        return r;
    sshbpp__moduli_free(k->moduli);
    k->moduli = m;
    return 0;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_set_versions(sshbpp_kex *k, const char *client_version, const char *server_version)
{
    char *c, *s;

    if (k == NULL || client_version == NULL || server_version == NULL)
        return SSHBPP_EINVAL;
    c = dup_s(client_version);
    s = dup_s(server_version);
    if (c == NULL || s == NULL) {
        free(c);
        free(s);
        return SSHBPP_EINVAL;
    }
    free(k->v_c);
    free(k->v_s);
    k->v_c = c;
    k->v_s = s;
    return 0;
}

/* Test-only (tests/unit/test_kex.c): stop advertising strict KEX so that
 * the non-strict rules can be exercised against our own peer. Declared
 * here rather than in a header because no product code may call it. */
void sshbpp__kex_test_no_strict(sshbpp_kex *k);
void
sshbpp__kex_test_no_strict(sshbpp_kex *k)
{
    if (k != NULL)
        k->no_strict = 1;
}

/* Test-only (tests/unit/test_kex.c): reverse the server's host key order,
 * so that a rekey signs with a different key of the same algorithm; the
 * client must refuse it. */
unsigned long sshbpp__kex_test_ncmp(const sshbpp_kex *k);
/* Test hook: name comparisons negotiation made so far on k. */
unsigned long
sshbpp__kex_test_ncmp(const sshbpp_kex *k)
{
    return k->ncmp;
}

void sshbpp__kex_test_swap_hostkeys(sshbpp_kex *k);
void
sshbpp__kex_test_swap_hostkeys(sshbpp_kex *k)
{
    size_t i;

    for (i = 0; k != NULL && i < k->nhk / 2; i++) {
        sshbpp__hostkey t = k->hks[i];
        k->hks[i] = k->hks[k->nhk - 1 - i];
        k->hks[k->nhk - 1 - i] = t;
    }
}

/* ---------------------------------------------------------------------- */
/* KEXINIT                                                                 */

static const sshbpp__hostkey *
find_hostkey(const sshbpp_kex *k, const char *alg)
{
    size_t i;

    for (i = 0; i < k->nhk; i++)
        if (sshbpp__hostkey_can_sign(&k->hks[i], alg))
            return &k->hks[i];
    return NULL;
}

/* Checks the configured names. */
static int
config_valid(const sshbpp_kex *k)
{
    if (!list_valid(k->cfg[CFG_KEX], sshbpp__kex_supported()) ||
        !list_valid(k->cfg[CFG_HOSTKEY], sshbpp__hostkey_names) ||
        !list_valid(k->cfg[CFG_CIPHER], sshbpp_alg_list(SSHBPP_ALG_CIPHER)) ||
        !list_valid(k->cfg[CFG_MAC], sshbpp_alg_list(SSHBPP_ALG_MAC)) ||
        !list_valid(k->cfg[CFG_COMP], sshbpp_alg_list(SSHBPP_ALG_COMP)))
        return SSHBPP_EUNSUPPORTED;
    return 0;
}

/* Server: only host key algorithms one of our keys can sign may be
 * offered, or the client could pick one we cannot serve. */
static char *
server_hostkey_list(const sshbpp_kex *k)
{
    const char *list = k->cfg[CFG_HOSTKEY], *name;
    size_t pos = 0, n, len = 0;
    char *out = malloc(strlen(list) + 1), tmp[64];

    if (out == NULL)
        return NULL;
    out[0] = '\0';
    while (list[pos] != '\0') {
        n = next_name(list, &pos, &name);
        if (n == 0 || n >= sizeof(tmp))
            continue;
        memcpy(tmp, name, n);
        tmp[n] = '\0';
        if (find_hostkey(k, tmp) == NULL)
            continue;
        if (len > 0)
            out[len++] = ',';
        memcpy(out + len, tmp, n + 1);
        len += n;
    }
    return out;
}

static int
build_my_lists(sshbpp_kex *k)
{
    const char *extra = "";
    char *kexl, *hk;
    size_t n;
    int i;

    free_lists(k->my_lists);
    /* The pseudo-algorithms belong in the first KEXINIT only (RFC 8308
     * section 2.1; OpenSSH PROTOCOL, strict KEX). */
    if (k->completed == 0) {
        if (k->role == SSHBPP_ROLE_CLIENT)
            extra = k->no_strict ? "," EXT_INFO_C : "," EXT_INFO_C "," STRICT_C;
        else
            extra = k->no_strict ? "" : "," STRICT_S;
    }
    n = strlen(k->cfg[CFG_KEX]) + strlen(extra) + 1;
    if ((kexl = malloc(n)) == NULL)
        return SSHBPP_ENOMEM;
    memcpy(kexl, k->cfg[CFG_KEX], strlen(k->cfg[CFG_KEX]));
    memcpy(kexl + strlen(k->cfg[CFG_KEX]), extra, strlen(extra) + 1);
    k->my_lists[SSHBPP_KEXINIT_KEX] = kexl;
    hk = k->role == SSHBPP_ROLE_SERVER ? server_hostkey_list(k) : dup_s(k->cfg[CFG_HOSTKEY]);
    k->my_lists[SSHBPP_KEXINIT_HOSTKEY] = hk;
    for (i = 0; i < 2; i++) {
        k->my_lists[SSHBPP_KEXINIT_CIPHER_C2S + i] = dup_s(k->cfg[CFG_CIPHER]);
        k->my_lists[SSHBPP_KEXINIT_MAC_C2S + i] = dup_s(k->cfg[CFG_MAC]);
        k->my_lists[SSHBPP_KEXINIT_COMP_C2S + i] = dup_s(k->cfg[CFG_COMP]);
        k->my_lists[SSHBPP_KEXINIT_LANG_C2S + i] = dup_s("");
    }
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++)
        if (k->my_lists[i] == NULL)
            return SSHBPP_ENOMEM;
    if (hk[0] == '\0')
        return SSHBPP_EHOSTKEY; /* a server without a usable host key */
    return 0;
}

static int
send_kexinit(sshbpp_kex *k)
{
    uint8_t cookie[16];
    int i, r;

    if ((r = config_valid(k)) != 0 || (r = build_my_lists(k)) != 0)
        return r;
    if (RAND_bytes(cookie, sizeof(cookie)) != 1)
        return SSHBPP_ECRYPTO;
    sshbpp__wb_reset(&k->my_kexinit);
    sshbpp__wb_u8(&k->my_kexinit, MSG_KEXINIT);
    sshbpp__wb_raw(&k->my_kexinit, cookie, sizeof(cookie));
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++)
        sshbpp__wb_cstring(&k->my_kexinit, k->my_lists[i]);
    sshbpp__wb_bool(&k->my_kexinit, 0); /* we never guess */
    sshbpp__wb_u32(&k->my_kexinit, 0);
    if (k->my_kexinit.err != 0)
        return k->my_kexinit.err;
    if ((r = k->t.send(k->ctx, k->my_kexinit.p, k->my_kexinit.len)) != 0)
        return r;
    /* Asked after the send because only then can the transport know which
     * number the packet got (it may share the wire with other senders). */
    k->kexinit_seqno_known =
        k->seqno_fn != NULL && k->seqno_fn(k->ctx, &k->kexinit_seqno) == 0;
    k->sent_kexinit = 1;
    k->running = 1;
    return 0;
}

/* One name-list split into names once: offsets and lengths into base. */
struct namelist {
    const char *base;
    size_t n;
    uint16_t off[NL_MAX_NAMES];
    uint8_t len[NL_MAX_NAMES];
};

/* Splits list[0, len) into nl (which may be NULL: check only). 0 when the
 * list is within the bounds above (the empty list is allowed: languages),
 * SSHBPP_ENAMELIST otherwise. One pass; stops at the first violation, so
 * an oversized list costs nothing to refuse. */
static int
nl_split(const char *list, size_t len, struct namelist *nl)
{
    size_t pos = 0, start, count = 0;

    if (len > NL_MAX_LEN)
        return SSHBPP_ENAMELIST;
    if (nl != NULL) {
        nl->base = list;
        nl->n = 0;
    }
    while (pos < len) {
        start = pos;
        while (pos < len && list[pos] != ',' && pos - start <= NL_MAX_NAME)
            pos++;
        if (pos == start || pos - start > NL_MAX_NAME || count == NL_MAX_NAMES)
            return SSHBPP_ENAMELIST;
        if (nl != NULL) {
            nl->off[count] = (uint16_t)start;
            nl->len[count] = (uint8_t)(pos - start);
        }
        count++;
        if (pos < len && ++pos == len)
            return SSHBPP_ENAMELIST; /* trailing comma: an empty last name */
    }
    if (nl != NULL)
        nl->n = count;
    return 0;
}

static int
nl_check(const char *list, size_t len)
{
    return nl_split(list, len, NULL);
}

static int
parse_kexinit(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    sshbpp__rbuf r;
    const uint8_t *p;
    uint8_t type;
    size_t n;
    uint32_t reserved;
    char *lists[SSHBPP_KEXINIT_NLISTS] = {NULL};
    int i, follows;

    sshbpp__rb_init(&r, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&r, &type) != 0 || sshbpp__rb_raw(&r, &p, 16) != 0)
        return SSHBPP_EKEXMSG;
    for (i = 0; i < SSHBPP_KEXINIT_NLISTS; i++) {
        if (sshbpp__rb_string(&r, &p, &n) != 0 || memchr(p, '\0', n) != NULL) {
            free_lists(lists);
            return SSHBPP_EKEXMSG;
        }
        if (nl_check((const char *)p, n) != 0) {
            free_lists(lists);
            return SSHBPP_ENAMELIST;
        }
        if ((lists[i] = dup_n((const char *)p, n)) == NULL) {
            free_lists(lists);
            return SSHBPP_ENOMEM;
        }
    }
    if (sshbpp__rb_bool(&r, &follows) != 0 || sshbpp__rb_u32(&r, &reserved) != 0 ||
        !sshbpp__rb_done(&r)) {
        free_lists(lists);
        return SSHBPP_EKEXMSG;
    }
    free_lists(k->peer_lists);
    memcpy(k->peer_lists, lists, sizeof(lists));
    k->peer_follows = follows;
    sshbpp__wb_reset(&k->peer_kexinit);
    sshbpp__wb_raw(&k->peer_kexinit, pkt->payload, pkt->len);
    return k->peer_kexinit.err;
}

/* First name of client that server also lists and accept() approves.
 * Both lists were split once; each pair of names is compared at most once,
 * and the count goes to *ncmp, so the work is |client| x |server| with one
 * of the two being our own short list. */
static int
match(const struct namelist *c, const struct namelist *s, int (*accept)(const char *), char *out,
      size_t cap, unsigned long *ncmp)
{
    size_t i, j, n;
    const char *name;

    for (i = 0; i < c->n; i++) {
        n = c->len[i];
        name = c->base + c->off[i];
        if (n >= cap)
            continue;
        for (j = 0; j < s->n; j++) {
            ++*ncmp;
            if (s->len[j] != n || memcmp(s->base + s->off[j], name, n) != 0)
                continue;
            memcpy(out, name, n);
            out[n] = '\0';
            if (accept == NULL || accept(out))
                return 0;
            break; /* the same name later in s would be refused again */
        }
    }
    out[0] = '\0';
    return SSHBPP_ENOMATCH;
}

static int
accept_kex(const char *name)
{
    return sshbpp__kex_method_find(name) != NULL;
}

static int
accept_hostkey(const char *name)
{
    return in_array(sshbpp__hostkey_names, name, strlen(name));
}

static int
accept_cipher(const char *name)
{
    return sshbpp_cipher_get_info(name, NULL) == 0;
}

static int
accept_mac(const char *name)
{
    return sshbpp_mac_get_info(name, NULL) == 0;
}

static int
accept_comp(const char *name)
{
    return in_array(sshbpp_alg_list(SSHBPP_ALG_COMP), name, strlen(name));
}

/* The first name of a list, for the first_kex_packet_follows check. */
static size_t
first_name(const char *list, const char **name)
{
    size_t pos = 0;

    return next_name(list, &pos, name);
}

static int
same_first(const char *a, const char *b)
{
    const char *x, *y;
    size_t n = first_name(a, &x), m = first_name(b, &y);

    return n == m && memcmp(x, y, n) == 0;
}

/* Splits both sides' lists of slot i. Ours were checked by config_valid()
 * but not bounded; a configuration over the bounds is refused here. */
static int
split_pair(sshbpp_kex *k, int i, struct namelist *c, struct namelist *s)
{
    const char *cl = k->role == SSHBPP_ROLE_CLIENT ? k->my_lists[i] : k->peer_lists[i];
    const char *sl = k->role == SSHBPP_ROLE_CLIENT ? k->peer_lists[i] : k->my_lists[i];
    int r;

    if ((r = nl_split(cl, strlen(cl), c)) != 0 || (r = nl_split(sl, strlen(sl), s)) != 0)
        return r;
    return 0;
}

/* RFC 4253 section 7.1. Every list is split once and every match is
 * bounded by the list sizes (see match()): no work grows faster than the
 * peer's lists. */
static int
negotiate(sshbpp_kex *k)
{
    char **c = k->role == SSHBPP_ROLE_CLIENT ? k->my_lists : k->peer_lists;
    char **s = k->role == SSHBPP_ROLE_CLIENT ? k->peer_lists : k->my_lists;
    struct namelist cl, sl;
    char name[64];
    int d, r;

    /* "The chosen key exchange algorithm MUST be the first algorithm on the
     * client's name-list that is also supported by the server" and that
     * can work with a host key algorithm both support. Every method here
     * needs a signature-capable host key, so the host key choice does not
     * depend on the method and is made once. */
    k->m = NULL;
    if ((r = split_pair(k, SSHBPP_KEXINIT_KEX, &cl, &sl)) != 0)
        return r;
    if (match(&cl, &sl, accept_kex, name, sizeof(name), &k->ncmp) != 0)
        return SSHBPP_ENOMATCH;
    if ((r = split_pair(k, SSHBPP_KEXINIT_HOSTKEY, &cl, &sl)) != 0)
        return r;
    if (match(&cl, &sl, accept_hostkey, k->hk_alg, sizeof(k->hk_alg), &k->ncmp) != 0)
        return SSHBPP_ENOMATCH;
    k->m = sshbpp__kex_method_find(name);
    if (k->m == NULL)
        return SSHBPP_ENOMATCH;
    if (k->role == SSHBPP_ROLE_SERVER && find_hostkey(k, k->hk_alg) == NULL)
        return SSHBPP_EHOSTKEY;
    for (d = C2S; d <= S2C; d++) {
        sshbpp_cipher_info ci;

        if ((r = split_pair(k, SSHBPP_KEXINIT_CIPHER_C2S + d, &cl, &sl)) != 0 ||
            (r = match(&cl, &sl, accept_cipher, k->cipher[d], sizeof(k->cipher[d]), &k->ncmp)) != 0)
            return r;
        if ((r = sshbpp_cipher_get_info(k->cipher[d], &ci)) != 0)
            return r;
        /* An AEAD cipher authenticates itself: like OpenSSH, the MAC
         * lists are not consulted and need not match. */
        if (ci.aead)
            k->mac[d][0] = '\0';
        else if ((r = split_pair(k, SSHBPP_KEXINIT_MAC_C2S + d, &cl, &sl)) != 0 ||
                 (r = match(&cl, &sl, accept_mac, k->mac[d], sizeof(k->mac[d]), &k->ncmp)) != 0)
            return r;
        if ((r = split_pair(k, SSHBPP_KEXINIT_COMP_C2S + d, &cl, &sl)) != 0 ||
            (r = match(&cl, &sl, accept_comp, k->comp[d], sizeof(k->comp[d]), &k->ncmp)) != 0)
            return r;
    }
    /* Languages are ignored, as every implementation does. */

    /* RFC 4253 section 7: a guessed packet is wrong if the preferred kex or
     * host key algorithms differ; then it must be ignored. */
    if (k->peer_follows &&
        (!same_first(c[SSHBPP_KEXINIT_KEX], s[SSHBPP_KEXINIT_KEX]) ||
         !same_first(c[SSHBPP_KEXINIT_HOSTKEY], s[SSHBPP_KEXINIT_HOSTKEY])))
        k->ignore_next = 1;
    return 0;
}

static int
send_kex_init(sshbpp_kex *k)
{
    sshbpp__wbuf msg;
    int r;

    if ((r = sshbpp__eph_generate(&k->eph, k->m)) != 0)
        return r;
    sshbpp__wb_reset(&k->q_c);
    if ((r = sshbpp__eph_put_public(&k->eph, &k->q_c)) != 0)
        return r;
    if (k->q_c.err != 0)
        return k->q_c.err;
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_KEX_INIT);
    sshbpp__wb_raw(&msg, k->q_c.p, k->q_c.len);
    r = msg.err != 0 ? msg.err : k->t.send(k->ctx, msg.p, msg.len);
    sshbpp__wb_free(&msg);
    if (r == 0)
        k->sent_init = 1;
    return r;
}

/* ---------------------------------------------------------------------- */
/* RFC 4419 group exchange                                                 */

/* Client: group size to ask for, as OpenSSH estimates it from the key
 * material the negotiated algorithms need (NIST SP 800-57 strengths). */
static uint32_t
gex_wanted_bits(const sshbpp_kex *k)
{
    size_t need = k->m->hash_len;
    int d;

    for (d = C2S; d <= S2C; d++) {
        sshbpp_cipher_info ci;
        sshbpp_mac_info mi;

        if (sshbpp_cipher_get_info(k->cipher[d], &ci) == 0) {
            need = ci.key_len > need ? ci.key_len : need;
            need = ci.iv_len > need ? ci.iv_len : need;
        }
        if (k->mac[d][0] != '\0' && sshbpp_mac_get_info(k->mac[d], &mi) == 0)
            need = mi.key_len > need ? mi.key_len : need;
    }
    need *= 8;
    if (need <= 112)
        return 2048;
    if (need <= 128)
        return 3072;
    if (need <= 192)
        return 7680;
    return 8192;
}

static void
gex_hash_prefix(sshbpp_kex *k)
{
    sshbpp__wb_reset(&k->gex_hash);
    sshbpp__wb_u32(&k->gex_hash, k->gex_min);
    sshbpp__wb_u32(&k->gex_hash, k->gex_n);
    sshbpp__wb_u32(&k->gex_hash, k->gex_max);
}

/* Appends mpint b (non-negative). */
static int
wb_bn(sshbpp__wbuf *w, const BIGNUM *b)
{
    int n = BN_num_bytes(b);
    uint8_t *mag;

    if (n < 0 || (size_t)n > SSHBPP__GEX_MAX_BITS / 8 + 1)
        return SSHBPP_EINVAL;
    if ((mag = malloc(n > 0 ? (size_t)n : 1)) == NULL)
        return SSHBPP_ENOMEM;
    if (BN_bn2bin(b, mag) != n) {
        free(mag);
        return SSHBPP_ECRYPTO;
    }
    sshbpp__wb_mpint(w, mag, (size_t)n);
    free(mag);
    return w->err;
}

/* Client: SSH_MSG_KEX_DH_GEX_REQUEST (min, n, max). */
static int
send_gex_request(sshbpp_kex *k)
{
    sshbpp__wbuf msg;
    int r;

    k->gex_min = SSHBPP__GEX_MIN_BITS;
    k->gex_n = gex_wanted_bits(k);
    k->gex_max = SSHBPP__GEX_MAX_BITS;
    gex_hash_prefix(k);
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_GEX_REQUEST);
    sshbpp__wb_raw(&msg, k->gex_hash.p, k->gex_hash.len);
    r = msg.err != 0 ? msg.err : k->gex_hash.err != 0 ? k->gex_hash.err
                                                     : k->t.send(k->ctx, msg.p, msg.len);
    sshbpp__wb_free(&msg);
    if (r != 0)
        return r;
    k->sent_init = 1; /* the request: a GROUP is expected now */
    return k->gex_hash.err;
}

/* Client: SSH_MSG_KEX_DH_GEX_GROUP: check the group, answer with e. */
static int
input_gex_group(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    sshbpp__wbuf msg;
    const uint8_t *pm, *gm;
    size_t pn, gn;
    uint8_t type;
    int r;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_mpint(&rb, &pm, &pn) != 0 ||
        sshbpp__rb_mpint(&rb, &gm, &gn) != 0 || !sshbpp__rb_done(&rb))
        return SSHBPP_EKEXMSG;
    /* Length first: nothing larger than our ceiling is even converted. */
    if (pn > SSHBPP__GEX_MAX_BITS / 8 || gn > pn)
        return SSHBPP_EGEXGROUP;
    if ((k->gex_p = BN_bin2bn(pm, (int)pn, NULL)) == NULL ||
        (k->gex_g = BN_bin2bn(gm, (int)gn, NULL)) == NULL)
        return SSHBPP_ENOMEM;
    if ((r = sshbpp__gex_check_group(k->gex_p, k->gex_g, k->gex_min, k->gex_max)) != 0)
        return r;
    if ((r = wb_bn(&k->gex_hash, k->gex_p)) != 0 || (r = wb_bn(&k->gex_hash, k->gex_g)) != 0)
        return r;
    if ((r = sshbpp__eph_generate_group(&k->eph, k->m, k->gex_p, k->gex_g)) != 0)
        return r;
    sshbpp__wb_reset(&k->q_c);
    if ((r = sshbpp__eph_put_public(&k->eph, &k->q_c)) != 0)
        return r;
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_GEX_INIT);
    sshbpp__wb_raw(&msg, k->q_c.p, k->q_c.len);
    r = msg.err != 0 ? msg.err : k->t.send(k->ctx, msg.p, msg.len);
    sshbpp__wb_free(&msg);
    return r;
}

/* Server: SSH_MSG_KEX_DH_GEX_REQUEST: choose and send the group. */
static int
input_gex_request(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    sshbpp__wbuf msg;
    uint8_t type;
    int r;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_u32(&rb, &k->gex_min) != 0 ||
        sshbpp__rb_u32(&rb, &k->gex_n) != 0 || sshbpp__rb_u32(&rb, &k->gex_max) != 0 ||
        !sshbpp__rb_done(&rb))
        return SSHBPP_EKEXMSG;
    if ((r = sshbpp__gex_choose(k->moduli, k->gex_min, k->gex_n, k->gex_max, &k->gex_p,
                                &k->gex_g)) != 0)
        return r;
    /* H hashes the client's numbers as it sent them. */
    gex_hash_prefix(k);
    if ((r = wb_bn(&k->gex_hash, k->gex_p)) != 0 || (r = wb_bn(&k->gex_hash, k->gex_g)) != 0)
        return r;
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_GEX_GROUP);
    sshbpp__wb_raw(&msg, k->gex_hash.p + 12, k->gex_hash.len - 12);
    r = msg.err != 0 ? msg.err : k->t.send(k->ctx, msg.p, msg.len);
    sshbpp__wb_free(&msg);
    return r;
}

static int input_kex_init(sshbpp_kex *k, const sshbpp_packet *pkt);
static int input_kex_reply(sshbpp_kex *k, const sshbpp_packet *pkt);

/* Messages 30..49 while a group exchange runs: REQUEST -> GROUP -> INIT ->
 * REPLY, each once and in this order, each only to its role. */
static int
gex_dispatch(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    if (k->have_keys)
        return SSHBPP_EKEXORDER;
    if (k->role == SSHBPP_ROLE_SERVER) {
        if (pkt->type == MSG_GEX_REQUEST && k->gex_p == NULL)
            return input_gex_request(k, pkt);
        if (pkt->type == MSG_GEX_INIT && k->gex_p != NULL)
            return input_kex_init(k, pkt);
        return SSHBPP_EKEXORDER;
    }
    if (pkt->type == MSG_GEX_GROUP && k->sent_init && k->gex_p == NULL)
        return input_gex_group(k, pkt);
    if (pkt->type == MSG_GEX_REPLY && k->eph.key != NULL && k->gex_p != NULL)
        return input_kex_reply(k, pkt);
    return SSHBPP_EKEXORDER;
}

/* Server: our ephemeral value and K from the client's value. */
static int
server_eph(sshbpp_kex *k, const uint8_t *val, size_t vlen, sshbpp__wbuf *qs, sshbpp__wbuf *K)
{
    int r;

    if (k->m->type != SSHBPP__KEX_DH_GEX)
        return sshbpp__eph_reply(&k->eph, k->m, val, vlen, qs, K);
    if ((r = sshbpp__eph_generate_group(&k->eph, k->m, k->gex_p, k->gex_g)) != 0)
        return r;
    if ((r = sshbpp__eph_put_public(&k->eph, qs)) != 0 ||
        (r = sshbpp__eph_derive(&k->eph, val, vlen, K)) != 0) {
        sshbpp__wb_reset(K);
        sshbpp__eph_free(&k->eph);
    }
    return r;
}

static int
input_kexinit(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    int r, first = k->completed == 0;
    const char *peer_strict = k->role == SSHBPP_ROLE_CLIENT ? STRICT_S : STRICT_C;

    if (k->got_kexinit)
        return SSHBPP_EKEXORDER; /* one KEXINIT per exchange */
    if ((r = parse_kexinit(k, pkt)) != 0)
        return r;
    k->got_kexinit = 1;
    k->running = 1;
    if (first) {
        /* Strict KEX is decided once, by the first KEXINIT pair, and then
         * holds for every later exchange (OpenSSH PROTOCOL). */
        k->strict = !k->no_strict && has_name(k->peer_lists[SSHBPP_KEXINIT_KEX], peer_strict);
        if (k->strict && pkt->seqno != 0)
            return SSHBPP_ESTRICTKEX; /* KEXINIT not the peer's first packet */
        if (k->role == SSHBPP_ROLE_SERVER)
            k->ext_info_c = has_name(k->peer_lists[SSHBPP_KEXINIT_KEX], EXT_INFO_C);
    }
    if (!k->sent_kexinit && (r = send_kexinit(k)) != 0)
        return r;
    if ((r = negotiate(k)) != 0)
        return r;
    if (k->role == SSHBPP_ROLE_CLIENT)
        return k->m->type == SSHBPP__KEX_DH_GEX ? send_gex_request(k) : send_kex_init(k);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* exchange hash, keys, NEWKEYS                                            */

/* H = HASH(V_C || V_S || I_C || I_S || K_S || Q_C/e || Q_S/f || K): the
 * public values are passed exactly as encoded on the wire (string for
 * ECDH/X25519, mpint for DH), K as the mpint the method produced. */
static int
exchange_hash(sshbpp_kex *k, const uint8_t *ks, size_t kslen, const uint8_t *qc, size_t qclen,
              const uint8_t *qs, size_t qslen, const sshbpp__wbuf *K, uint8_t *H)
{
    const sshbpp__wbuf *ic = k->role == SSHBPP_ROLE_CLIENT ? &k->my_kexinit : &k->peer_kexinit;
    const sshbpp__wbuf *is = k->role == SSHBPP_ROLE_CLIENT ? &k->peer_kexinit : &k->my_kexinit;
    sshbpp__wbuf b;
    int r;

    if (k->v_c == NULL || k->v_s == NULL)
        return SSHBPP_EINVAL; /* sshbpp_kex_set_versions() was not called */
    sshbpp__wb_init(&b);
    sshbpp__wb_cstring(&b, k->v_c);
    sshbpp__wb_cstring(&b, k->v_s);
    sshbpp__wb_string(&b, ic->p, ic->len);
    sshbpp__wb_string(&b, is->p, is->len);
    sshbpp__wb_string(&b, ks, kslen);
    /* RFC 4419 section 3: min, n, max, p, g between K_S and e. */
    if (k->gex_hash.len > 0)
        sshbpp__wb_raw(&b, k->gex_hash.p, k->gex_hash.len);
    sshbpp__wb_raw(&b, qc, qclen);
    sshbpp__wb_raw(&b, qs, qslen);
    sshbpp__wb_raw(&b, K->p, K->len);
    r = b.err != 0 ? b.err : sshbpp__kex_hash(k->m, b.p, b.len, H);
    sshbpp__wb_free(&b);
    return r;
}

static int
derive_dir(sshbpp_kex *k, int d, const sshbpp__wbuf *K, const uint8_t *H)
{
    /* RFC 4253 7.2: c2s IV 'A', key 'C', MAC 'E'; s2c 'B', 'D', 'F'. */
    char iv_l = d == C2S ? 'A' : 'B', key_l = d == C2S ? 'C' : 'D', mac_l = d == C2S ? 'E' : 'F';
    struct dirkeys *dk = &k->keys[d];
    sshbpp_cipher_info ci;
    sshbpp_mac_info mi;
    size_t hl = k->m->hash_len;
    int r;

    if ((r = sshbpp_cipher_get_info(k->cipher[d], &ci)) != 0)
        return r;
    memset(&mi, 0, sizeof(mi));
    if (!ci.aead && (r = sshbpp_mac_get_info(k->mac[d], &mi)) != 0)
        return r;
    if (ci.key_len > MAX_KEY || ci.iv_len > MAX_IV || mi.key_len > MAX_MACKEY)
        return SSHBPP_EUNSUPPORTED;
    dk->key_len = ci.key_len;
    dk->iv_len = ci.iv_len;
    dk->mackey_len = mi.key_len;
    if (dk->iv_len > 0 && (r = sshbpp__kex_derive(k->m, K->p, K->len, H, hl, iv_l, k->sid,
                                                  k->sidlen, dk->iv, dk->iv_len)) != 0)
        return r;
    if (dk->key_len > 0 && (r = sshbpp__kex_derive(k->m, K->p, K->len, H, hl, key_l, k->sid,
                                                   k->sidlen, dk->key, dk->key_len)) != 0)
        return r;
    if (dk->mackey_len > 0 &&
        (r = sshbpp__kex_derive(k->m, K->p, K->len, H, hl, mac_l, k->sid, k->sidlen, dk->mackey,
                                dk->mackey_len)) != 0)
        return r;
    return 0;
}

static int
derive_keys(sshbpp_kex *k, const sshbpp__wbuf *K, const uint8_t *H)
{
    int r;

    if (k->sidlen == 0) {
        /* The first H is the session identifier for the connection. */
        memcpy(k->sid, H, k->m->hash_len);
        k->sidlen = k->m->hash_len;
    }
    if ((r = derive_dir(k, C2S, K, H)) != 0 || (r = derive_dir(k, S2C, K, H)) != 0)
        return r;
    k->have_keys = 1;
    return 0;
}

/* Installs one direction's keys and compression, then wipes them. */
static int
install(sshbpp_kex *k, int dir)
{
    int d = (dir == SSHBPP_DIR_OUT) == (k->role == SSHBPP_ROLE_CLIENT) ? C2S : S2C;
    struct dirkeys *dk = &k->keys[d];
    sshbpp_keys keys;
    const char *comp = k->comp[d];
    int r;

    /* Strict KEX: "reset the sequence number to zero after sending /
     * receiving SSH2_MSG_NEWKEYS", at every NEWKEYS (OpenSSH PROTOCOL). */
    if (k->strict)
        k->t.reset_seqno(k->ctx, dir);
    memset(&keys, 0, sizeof(keys));
    keys.cipher = k->cipher[d];
    keys.key = dk->key;
    keys.key_len = dk->key_len;
    keys.iv = dk->iv;
    keys.iv_len = dk->iv_len;
    keys.mac = k->mac[d][0] != '\0' ? k->mac[d] : NULL;
    keys.mac_key = dk->mackey;
    keys.mac_key_len = dk->mackey_len;
    r = k->t.set_keys(k->ctx, dir, &keys);
    wipe_dirkeys(dk);
    if (r != 0)
        return r;
    /* zlib@openssh.com waits for user authentication (see the notes at
     * the top): until then the direction stays uncompressed. */
    if (strcmp(comp, "zlib@openssh.com") == 0 && !k->authed)
        comp = "none";
    /* Every NEWKEYS starts a fresh zlib stream, as OpenSSH (its new keys'
     * comp->enabled is 0, so deflate/inflate are re-initialised) and
     * paramiko do; the transport would keep a running stream, and a peer
     * that restarts would then fail to inflate our first packet. */
    if (strcmp(comp, "none") != 0 && (r = k->t.set_compression(k->ctx, dir, "none")) != 0)
        return r;
    return k->t.set_compression(k->ctx, dir, comp);
}

static void
record_info(sshbpp_kex *k)
{
    sshbpp_kex_info *i = &k->info;
    unsigned rekeys = k->completed > 0 ? k->completed - 1 : 0;

    memset(i, 0, sizeof(*i));
    /* Every name fits: negotiation copies at most 63 bytes. */
    if (strlen(k->m->name) < sizeof(i->kex))
        memcpy(i->kex, k->m->name, strlen(k->m->name) + 1);
    memcpy(i->hostkey_alg, k->hk_alg, sizeof(i->hostkey_alg));
    memcpy(i->hostkey_fingerprint, k->fingerprint, sizeof(i->hostkey_fingerprint));
    memcpy(i->cipher_c2s, k->cipher[C2S], sizeof(i->cipher_c2s));
    memcpy(i->cipher_s2c, k->cipher[S2C], sizeof(i->cipher_s2c));
    memcpy(i->mac_c2s, k->mac[C2S], sizeof(i->mac_c2s));
    memcpy(i->mac_s2c, k->mac[S2C], sizeof(i->mac_s2c));
    memcpy(i->comp_c2s, k->comp[C2S], sizeof(i->comp_c2s));
    memcpy(i->comp_s2c, k->comp[S2C], sizeof(i->comp_s2c));
    i->strict_kex = k->strict;
    i->rekeys = rekeys;
}

static int
maybe_done(sshbpp_kex *k)
{
    if (!k->sent_newkeys || !k->got_newkeys)
        return 0;
    k->completed++;
    record_info(k);
    exchange_wipe(k);
    k->running = 0;
    k->sent_kexinit = k->got_kexinit = k->sent_init = k->have_keys = 0;
    k->sent_newkeys = k->got_newkeys = k->ignore_next = 0;
    k->kexinit_seqno_known = 0;
    return 0;
}

static int
send_ext_info(sshbpp_kex *k)
{
    sshbpp__wbuf msg;
    int r;

    build_defaults();
    sshbpp__wb_init(&msg);
    sshbpp__wb_u8(&msg, MSG_EXT_INFO);
    sshbpp__wb_u32(&msg, 1);
    sshbpp__wb_cstring(&msg, "server-sig-algs");
    sshbpp__wb_cstring(&msg, k->ext_sig_algs != NULL ? k->ext_sig_algs : default_hk_buf);
    r = msg.err != 0 ? msg.err : k->t.send(k->ctx, msg.p, msg.len);
    sshbpp__wb_free(&msg);
    return r;
}

static int
send_newkeys(sshbpp_kex *k)
{
    static const uint8_t msg[1] = {MSG_NEWKEYS};
    int r, first = k->completed == 0;

    if ((r = k->t.send(k->ctx, msg, sizeof(msg))) != 0)
        return r;
    k->sent_newkeys = 1;
    if ((r = install(k, SSHBPP_DIR_OUT)) != 0)
        return r;
    /* RFC 8308 section 2.4: the server's EXT_INFO goes right after its
     * first NEWKEYS, under the new keys. */
    if (first && k->role == SSHBPP_ROLE_SERVER && k->ext_info_c &&
        (r = send_ext_info(k)) != 0)
        return r;
    return 0;
}

/* Reads the peer's public value field: string for X25519/ECDH, mpint for
 * DH. raw and rawlen cover the whole encoded field (for H); val and vlen the
 * value eph_derive() wants. */
static int
read_public(const sshbpp_kex *k, sshbpp__rbuf *r, const uint8_t **raw, size_t *rawlen,
            const uint8_t **val, size_t *vlen)
{
    size_t start = r->off;
    int e;

    if (k->m->type == SSHBPP__KEX_DH || k->m->type == SSHBPP__KEX_DH_GEX)
        e = sshbpp__rb_mpint(r, val, vlen);
    else
        e = sshbpp__rb_string(r, val, vlen);
    if (e != 0)
        return SSHBPP_EKEXMSG;
    *raw = r->p + start;
    *rawlen = r->off - start;
    return 0;
}

/* Server: SSH_MSG_KEX_ECDH_INIT / SSH_MSG_KEXDH_INIT. */
static int
input_kex_init(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    const sshbpp__hostkey *hk = find_hostkey(k, k->hk_alg);
    sshbpp__rbuf rb;
    sshbpp__wbuf qs, K, ks, sig, msg;
    const uint8_t *qc, *val;
    size_t qclen, vlen, privlen = 0;
    uint8_t type, H[MAX_HASH], priv[SSHBPP__EPH_PRIV_MAX];
    int r;

    if (hk == NULL)
        return SSHBPP_EHOSTKEY;
    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || (r = read_public(k, &rb, &qc, &qclen, &val, &vlen)) != 0 ||
        !sshbpp__rb_done(&rb))
        return SSHBPP_EKEXMSG;
    sshbpp__wb_init(&qs);
    sshbpp__wb_init(&K);
    sshbpp__wb_init(&ks);
    sshbpp__wb_init(&sig);
    sshbpp__wb_init(&msg);
    if ((r = server_eph(k, val, vlen, &qs, &K)) != 0 ||
        (r = sshbpp__hostkey_put_blob(hk, &ks)) != 0)
        goto out;
    if ((r = qs.err) != 0 || (r = K.err) != 0 || (r = ks.err) != 0)
        goto out;
    if ((r = exchange_hash(k, ks.p, ks.len, qc, qclen, qs.p, qs.len, &K, H)) != 0 ||
        (r = sshbpp__hostkey_sign(hk, k->hk_alg, H, k->m->hash_len, &sig)) != 0 ||
        (r = sig.err) != 0)
        goto out;
    if ((r = sshbpp__hostkey_fingerprint(ks.p, ks.len, k->fingerprint, sizeof(k->fingerprint))) != 0)
        goto out;
    sshbpp__wb_u8(&msg, k->m->type == SSHBPP__KEX_DH_GEX ? MSG_GEX_REPLY : MSG_KEX_REPLY);
    sshbpp__wb_string(&msg, ks.p, ks.len);
    sshbpp__wb_raw(&msg, qs.p, qs.len);
    sshbpp__wb_string(&msg, sig.p, sig.len);
    if ((r = msg.err) != 0 || (r = derive_keys(k, &K, H)) != 0)
        goto out;
    if (k->keylog != NULL) {
        if (sshbpp__eph_private(&k->eph, priv, sizeof(priv), &privlen) != 0)
            privlen = 0;
        keylog_emit(k, priv, privlen, &K);
        OPENSSL_cleanse(priv, sizeof(priv));
        privlen = 0;
    }
    if ((r = k->t.send(k->ctx, msg.p, msg.len)) != 0)
        goto out;
    /* The ephemeral key has done its job; drop it before anything else. */
    sshbpp__eph_free(&k->eph);
    r = send_newkeys(k);
out:
    OPENSSL_cleanse(H, sizeof(H));
    sshbpp__wb_free(&qs);
    sshbpp__wb_free(&K);
    sshbpp__wb_free(&ks);
    sshbpp__wb_free(&sig);
    sshbpp__wb_free(&msg);
    return r;
}

/* Client: SSH_MSG_KEX_ECDH_REPLY / SSH_MSG_KEXDH_REPLY. */
static int
input_kex_reply(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    sshbpp__wbuf K;
    const uint8_t *ks, *qs, *val, *sig;
    size_t kslen, qslen, vlen, siglen, privlen = 0;
    uint8_t type, H[MAX_HASH], priv[SSHBPP__EPH_PRIV_MAX];
    int r;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_string(&rb, &ks, &kslen) != 0 ||
        read_public(k, &rb, &qs, &qslen, &val, &vlen) != 0 ||
        sshbpp__rb_string(&rb, &sig, &siglen) != 0 || !sshbpp__rb_done(&rb))
        return SSHBPP_EKEXMSG;
    sshbpp__wb_init(&K);
    if ((r = sshbpp__eph_derive(&k->eph, val, vlen, &K)) != 0 || (r = K.err) != 0)
        goto out;
    /* Only with a key log installed is the private key copied out, to be
     * handed over once the exchange has verified (wiped at out:). */
    if (k->keylog != NULL && sshbpp__eph_private(&k->eph, priv, sizeof(priv), &privlen) != 0)
        privlen = 0;
    sshbpp__eph_free(&k->eph);
    if ((r = exchange_hash(k, ks, kslen, k->q_c.p, k->q_c.len, qs, qslen, &K, H)) != 0)
        goto out;
    if ((r = sshbpp__hostkey_verify(k->hk_alg, ks, kslen, H, k->m->hash_len, sig, siglen)) != 0)
        goto out;
    /* The caller checked the host key once, after the first exchange; a
     * rekey must not swap it behind their back (OpenSSH pins it too). */
    if (k->completed == 0) {
        sshbpp__wb_reset(&k->first_hostkey);
        sshbpp__wb_raw(&k->first_hostkey, ks, kslen);
        if ((r = k->first_hostkey.err) != 0)
            goto out;
    } else if (kslen != k->first_hostkey.len || memcmp(ks, k->first_hostkey.p, kslen) != 0) {
        r = SSHBPP_EHOSTKEY;
        goto out;
    }
    if ((r = sshbpp__hostkey_fingerprint(ks, kslen, k->fingerprint, sizeof(k->fingerprint))) != 0 ||
        (r = derive_keys(k, &K, H)) != 0)
        goto out;
    keylog_emit(k, priv, privlen, &K);
    /* The first host key waits for the caller's verdict before anything
     * (NEWKEYS) goes out under keys that it vouches for. */
    if (k->pause_hostkey && k->completed == 0) {
        k->hk_pending = 1;
        r = 0;
        goto out;
    }
    r = send_newkeys(k);
out:
    OPENSSL_cleanse(H, sizeof(H));
    if (privlen > 0)
        OPENSSL_cleanse(priv, privlen);
    sshbpp__wb_free(&K);
    return r;
}

static int
input_newkeys(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    int r;

    if (!k->have_keys || k->got_newkeys || k->hk_pending)
        return SSHBPP_EKEXORDER; /* before the reply, or twice, or while paused */
    if (pkt->len != 1)
        return SSHBPP_EKEXMSG;
    k->got_newkeys = 1;
    if ((r = install(k, SSHBPP_DIR_IN)) != 0)
        return r;
    return maybe_done(k);
}

/* Client: RFC 8308 SSH_MSG_EXT_INFO. */
static int
input_ext_info(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    sshbpp__rbuf rb;
    const uint8_t *name, *val;
    size_t nlen, vlen;
    uint32_t count, i;
    uint8_t type;
    char *ssa = NULL;

    sshbpp__rb_init(&rb, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&rb, &type) != 0 || sshbpp__rb_u32(&rb, &count) != 0 ||
        count > MAX_EXT_INFO)
        return SSHBPP_EKEXMSG;
    for (i = 0; i < count; i++) {
        if (sshbpp__rb_string(&rb, &name, &nlen) != 0 || sshbpp__rb_string(&rb, &val, &vlen) != 0)
            break;
        if (nlen == 15 && memcmp(name, "server-sig-algs", 15) == 0) {
            if (vlen > MAX_NAMELIST || memchr(val, '\0', vlen) != NULL)
                break;
            free(ssa);
            if ((ssa = dup_n((const char *)val, vlen)) == NULL)
                return SSHBPP_ENOMEM;
        }
    }
    if (i != count || !sshbpp__rb_done(&rb)) {
        free(ssa);
        return SSHBPP_EKEXMSG;
    }
    if (ssa != NULL) {
        free(k->server_sig_algs);
        k->server_sig_algs = ssa;
    }
    return SSHBPP_KEX_USED;
}

/* ---------------------------------------------------------------------- */
/* entry points                                                            */

/* see sshbpp_kex.h */
int
sshbpp_kex_start(sshbpp_kex *k)
{
    int r;

    if (k == NULL)
        return SSHBPP_EINVAL;
    if (k->err != 0)
        return k->err;
    if (k->running)
        return 0;
    if ((r = send_kexinit(k)) != 0)
        return fail(k, r);
    return 0;
}

static int
is_kex_msg(uint8_t type)
{
    return type == MSG_KEXINIT || type == MSG_NEWKEYS || (type >= 30 && type <= 49);
}

/* 1 if pkt (an SSH_MSG_UNIMPLEMENTED) names the KEXINIT of the running
 * exchange. OpenSSH's sshd answers a KEXINIT it does not accept (one sent
 * before user authentication, for instance) this way and then carries on
 * without a key exchange, so waiting for its KEXINIT would wait forever.
 * Only until our NEWKEYS has gone out: by then the peer has taken part in
 * the exchange, and with strict KEX our sequence numbers restart at 0, so a
 * later UNIMPLEMENTED may legitimately name the same number. */
static int
refuses_our_kexinit(const sshbpp_kex *k, const sshbpp_packet *pkt)
{
    sshbpp__rbuf r;
    uint32_t seqno;
    uint8_t type;

    if (!k->running || !k->sent_kexinit || k->sent_newkeys || !k->kexinit_seqno_known)
        return 0;
    /* A malformed UNIMPLEMENTED is passed on as before: it names nothing. */
    sshbpp__rb_init(&r, pkt->payload, pkt->len);
    if (sshbpp__rb_u8(&r, &type) != 0 || sshbpp__rb_u32(&r, &seqno) != 0)
        return 0;
    return seqno == k->kexinit_seqno;
}

static int
dispatch(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    uint8_t type = pkt->type;

    if (type == MSG_DISCONNECT)
        return SSHBPP_EDISCONNECT;
    if (type == MSG_UNIMPLEMENTED && refuses_our_kexinit(k, pkt))
        return SSHBPP_EREKEYREFUSED;
    if (!is_kex_msg(type)) {
        if (k->completed == 0) {
            if (k->strict)
                return SSHBPP_ESTRICTKEX;
            if (type == MSG_IGNORE || type == MSG_UNIMPLEMENTED || type == MSG_DEBUG)
                return SSHBPP_KEX_PASS;
            return SSHBPP_EKEXORDER; /* no service runs before the first keys */
        }
        if (type == MSG_EXT_INFO && k->role == SSHBPP_ROLE_CLIENT)
            return input_ext_info(k, pkt);
        return SSHBPP_KEX_PASS;
    }
    if (type == MSG_KEXINIT)
        return input_kexinit(k, pkt);
    if (!k->got_kexinit)
        return SSHBPP_EKEXORDER; /* NEWKEYS or 30..49 outside an exchange */
    if (type == MSG_NEWKEYS)
        return input_newkeys(k, pkt);
    if (k->ignore_next) {
        /* The peer guessed the wrong method: its guessed packet is void. */
        k->ignore_next = 0;
        return SSHBPP_KEX_USED;
    }
    if (k->m != NULL && k->m->type == SSHBPP__KEX_DH_GEX)
        return gex_dispatch(k, pkt);
    if (k->role == SSHBPP_ROLE_SERVER && type == MSG_KEX_INIT && !k->have_keys)
        return input_kex_init(k, pkt);
    if (k->role == SSHBPP_ROLE_CLIENT && type == MSG_KEX_REPLY && k->sent_init && !k->have_keys)
        return input_kex_reply(k, pkt);
    return SSHBPP_EKEXORDER;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_input(sshbpp_kex *k, const sshbpp_packet *pkt)
{
    int r;

    /* dispatch() returns PASS only for messages that are not ours, and 0
     * (== PASS) or USED from the KEX handlers: the message type decides. */
    if (k == NULL || pkt == NULL || pkt->payload == NULL || pkt->len == 0)
        return SSHBPP_EINVAL;
    if (k->err != 0)
        return k->err;
    r = dispatch(k, pkt);
    if (r < 0)
        return fail(k, r);
    if (r == SSHBPP_KEX_PASS && !is_kex_msg(pkt->type))
        return SSHBPP_KEX_PASS;
    return SSHBPP_KEX_USED;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_set_seqno_fn(sshbpp_kex *k, sshbpp_kex_seqno_fn fn)
{
    if (k == NULL)
        return SSHBPP_EINVAL;
    k->seqno_fn = fn;
    return 0;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_set_keylog(sshbpp_kex *k, sshbpp_keylog_fn fn, void *ctx)
{
    if (k == NULL)
        return SSHBPP_EINVAL;
    k->keylog = fn;
    k->keylog_ctx = fn != NULL ? ctx : NULL;
    return 0;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_running(const sshbpp_kex *k)
{
    return k != NULL && k->running;
}

/* see sshbpp_kex.h */
unsigned
sshbpp_kex_completed(const sshbpp_kex *k)
{
    return k != NULL ? k->completed : 0;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_get_info(const sshbpp_kex *k, sshbpp_kex_info *out)
{
    if (k == NULL || out == NULL || k->completed == 0)
        return SSHBPP_EINVAL;
    *out = k->info;
    return 0;
}

/* see sshbpp_kex.h */
const char *
sshbpp_kex_peer_list(const sshbpp_kex *k, int list)
{
    if (k == NULL || list < 0 || list >= SSHBPP_KEXINIT_NLISTS)
        return NULL;
    return k->peer_lists[list];
}

/* see sshbpp_kex.h */
const uint8_t *
sshbpp_kex_session_id(const sshbpp_kex *k, size_t *len)
{
    if (k == NULL || k->completed == 0) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = k->sidlen;
    return k->sid;
}

/* see sshbpp_kex.h */
const char *
sshbpp_kex_server_sig_algs(const sshbpp_kex *k)
{
    return k != NULL ? k->server_sig_algs : NULL;
}

/* see sshbpp_kex.h */
const uint8_t *
sshbpp_kex_peer_hostkey(const sshbpp_kex *k, size_t *len)
{
    if (k == NULL || len == NULL || k->role != SSHBPP_ROLE_CLIENT || k->completed == 0 ||
        k->first_hostkey.len == 0)
        return NULL;
    *len = k->first_hostkey.len;
    return k->first_hostkey.p;
}

/* The compression a direction runs now: the running exchange's choice once
 * that direction has switched at its NEWKEYS, else the previous exchange's
 * (k->comp already holds the new choice as soon as negotiation is done). */
static const char *
active_comp(const sshbpp_kex *k, int dir)
{
    int d = (dir == SSHBPP_DIR_OUT) == (k->role == SSHBPP_ROLE_CLIENT) ? C2S : S2C;
    int switched = dir == SSHBPP_DIR_OUT ? k->sent_newkeys : k->got_newkeys;

    if (switched)
        return k->comp[d];
    return d == C2S ? k->info.comp_c2s : k->info.comp_s2c;
}

/* see sshbpp_kex.h */
int
sshbpp_kex_auth_done(sshbpp_kex *k)
{
    static const int dirs[2] = {SSHBPP_DIR_OUT, SSHBPP_DIR_IN};
    int i, r;

    if (k == NULL)
        return SSHBPP_EINVAL;
    if (k->err != 0)
        return k->err;
    if (k->completed == 0)
        return SSHBPP_EINVAL; /* no keys, so no authentication either */
    if (k->authed)
        return 0;
    k->authed = 1;
    for (i = 0; i < 2; i++) {
        if (strcmp(active_comp(k, dirs[i]), "zlib@openssh.com") != 0)
            continue;
        if ((r = k->t.set_compression(k->ctx, dirs[i], "zlib@openssh.com")) != 0)
            return fail(k, r);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* server-sig-algs, for the connection object (src/conn/)                  */

int
sshbpp__kex_set_server_sig_algs(sshbpp_kex *k, const char *list)
{
    char *copy;

    if (k == NULL || list == NULL || list[0] == '\0')
        return SSHBPP_EINVAL;
    if ((copy = malloc(strlen(list) + 1)) == NULL)
        return SSHBPP_ENOMEM;
    memcpy(copy, list, strlen(list) + 1);
    free(k->ext_sig_algs);
    k->ext_sig_algs = copy;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* host key pause, for the connection object (src/conn/)                   */

void
sshbpp__kex_pause_hostkey(sshbpp_kex *k, int on)
{
    if (k != NULL)
        k->pause_hostkey = on != 0;
}

int
sshbpp__kex_hostkey_pending(const sshbpp_kex *k)
{
    return k != NULL && k->hk_pending;
}

const uint8_t *
sshbpp__kex_hostkey_blob(const sshbpp_kex *k, size_t *len, const char **alg, const char **fp)
{
    if (k == NULL || k->first_hostkey.len == 0) {
        *len = 0;
        return NULL;
    }
    *len = k->first_hostkey.len;
    if (alg != NULL)
        *alg = k->hk_alg;
    if (fp != NULL)
        *fp = k->fingerprint;
    return k->first_hostkey.p;
}

int
sshbpp__kex_hostkey_resume(sshbpp_kex *k)
{
    int r;

    if (k == NULL || !k->hk_pending)
        return SSHBPP_EINVAL;
    if (k->err != 0)
        return k->err;
    k->hk_pending = 0;
    if ((r = send_newkeys(k)) != 0)
        return fail(k, r);
    return 0;
}

int
sshbpp__kex_fail(sshbpp_kex *k, int err)
{
    return k != NULL ? fail(k, err) : err;
}
