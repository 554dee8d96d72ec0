/*
 * conn_int.h (internal): the connection object (sshbpp_conn.h).
 *
 *   conn.c          lifecycle, configuration, getters, I/O pass-through,
 *                   timers, the sticky error and the event ring
 *   conn_input.c    the version exchange and the per-message dispatch
 *                   that next_event() runs
 *   conn_send.c     application sends, the bounded queue, global request
 *                   reply tracking, rekeys, keepalives, DISCONNECT
 *   conn_auth_client.c / conn_auth_server.c   RFC 4252 / 4256 both sides
 */
#ifndef SSHBPP_CONN_INT_H
#define SSHBPP_CONN_INT_H

#include "kex/kex_int.h"
#include "sshbpp/sshbpp_conn.h"

#define MSG_DISCONNECT             1
#define MSG_IGNORE                 2
#define MSG_UNIMPLEMENTED          3
#define MSG_DEBUG                  4
#define MSG_SERVICE_REQUEST        5
#define MSG_SERVICE_ACCEPT         6
#define MSG_EXT_INFO               7
#define MSG_USERAUTH_REQUEST       50
#define MSG_USERAUTH_FAILURE       51
#define MSG_USERAUTH_SUCCESS       52
#define MSG_USERAUTH_BANNER        53
#define MSG_USERAUTH_60            60 /* PK_OK, PASSWD_CHANGEREQ, INFO_REQUEST */
#define MSG_USERAUTH_INFO_RESPONSE 61
#define MSG_GLOBAL_REQUEST         80
#define MSG_REQUEST_SUCCESS        81
#define MSG_REQUEST_FAILURE        82

/* RFC 4253 section 4.2: at most 255 bytes with CR LF. */
#define CONN_MAX_VERSION 255
/* Lines a server may send before its version line (client role). */
#define CONN_MAX_PRE_LINES 1024
#define CONN_MAX_PRE_BYTES 8192

#define CONN_EV_RING     4
#define CONN_TEXT_MAX    1024
#define CONN_GREQ_RING   64
#define CONN_MAX_BANNERS 16

enum auth_state { AUTH_IDLE = 0, AUTH_WAIT_SERVICE, AUTH_WAIT_RESULT, AUTH_WAIT_ANSWER };
enum auth_method { AM_NONE = 1, AM_PASSWORD, AM_PUBLICKEY, AM_KBDINT };

/* An event waiting in the ring; strings are copies. */
struct ievent {
    enum sshbpp_conn_event_type type;
    uint32_t code;
    int error, success, partial;
    const uint8_t *data; /* points into the kex (host key blob): stable */
    size_t len;
    char text[CONN_TEXT_MAX];
    char alg[64];
    char user[256];
};

struct qmsg {
    struct qmsg *next;
    size_t len;
    int internal; /* auth and transport messages: not counted against the bound */
    uint8_t data[];
};

struct sshbpp_conn {
    enum sshbpp_role role;
    sshbpp_engine *e;
    sshbpp_kex *k;
    int err, err_reported;
    int started, eof;
    int64_t now;

    char my_version[CONN_MAX_VERSION + 1];
    char peer_version[CONN_MAX_VERSION + 1];
    int have_version;
    size_t pre_bytes;
    unsigned pre_lines;
    char line[CONN_MAX_PRE_BYTES + 1];

    int64_t hs_timeout, login_timeout, keepalive_ms;
    int64_t hs_deadline, login_deadline; /* -1: none */
    int64_t last_rx;
    unsigned keepalive_max, ka_unanswered;

    int hs_done, authed, paused;
    unsigned kex_seen;

    struct qmsg *qhead, *qtail;
    size_t qcount, qbytes; /* application messages only */
    size_t qall;           /* all queued */
    size_t qmax_msgs, qmax_bytes;

    uint8_t greq[CONN_GREQ_RING]; /* want-reply requests in flight: 1 = ours */
    unsigned greq_head, greq_n;

    struct ievent ev[CONN_EV_RING];
    unsigned ev_head, ev_n;
    struct ievent cur;

    int have_disc;
    uint32_t disc_reason;
    char disc_text[CONN_TEXT_MAX];

    /* client auth */
    int svc_state; /* 0 not asked, 1 asked, 2 accepted */
    enum auth_state auth_state;
    enum auth_method auth_method;
    char *auth_user;
    char *auth_password;
    uint8_t *auth_blob;
    size_t auth_blob_len;
    sshbpp_sign_fn sign;
    void *sign_ctx;
    sshbpp__hostkey file_key;
    int have_file_key;
    sshbpp_kbdint_fn kbd;
    void *kbd_ctx;
    unsigned banners;
    char *banner; /* the first USERAUTH_BANNER's message, or NULL */
    char *kb_buf; /* prompt strings of the pending INFO_REQUEST */
    const char *kb_prompts[SSHBPP_CONN_MAX_PROMPTS];
    int kb_echo[SSHBPP_CONN_MAX_PROMPTS];
    unsigned kb_n;

    /* server auth */
    sshbpp_conn_auth_fn auth_cb;
    void *auth_ctx;
    char *auth_methods;
    unsigned max_tries, failures;

    /* both roles: resolved PubkeyAcceptedAlgorithms (never NULL) */
    char *pubkey_algs;
};

/* conn.c */
int sshbpp__conn_fail(sshbpp_conn *c, int err);
/* 1 if alg is in the connection's pubkey_algs. */
int sshbpp__conn_pubkey_alg_ok(const sshbpp_conn *c, const char *alg);
struct ievent *sshbpp__conn_push_event(sshbpp_conn *c, enum sshbpp_conn_event_type type);
void sshbpp__conn_copy_text(char *dst, size_t cap, const uint8_t *src, size_t n);

/* conn_input.c */
int sshbpp__conn_pump(sshbpp_conn *c, sshbpp_conn_event *ev);

/* conn_send.c */
int sshbpp__conn_send_internal(sshbpp_conn *c, const uint8_t *p, size_t len, int internal);
/* As sshbpp__conn_send_internal() for a message in two parts, head then
 * body (body may be NULL with blen 0): written straight into the engine's
 * output when nothing is queued (no intermediate copy), else queued. */
int sshbpp__conn_send2(sshbpp_conn *c, const uint8_t *head, size_t hlen, const uint8_t *body,
                       size_t blen, int internal);
int sshbpp__conn_send_wb(sshbpp_conn *c, sshbpp__wbuf *b); /* frees b */
void sshbpp__conn_after_kex(sshbpp_conn *c);
int sshbpp__conn_maybe_rekey(sshbpp_conn *c);
int sshbpp__conn_greq_reply(sshbpp_conn *c); /* 1: ours (absorb), 0: the caller's */
int sshbpp__conn_keepalive(sshbpp_conn *c);
void sshbpp__conn_queue_free(sshbpp_conn *c);
int sshbpp__conn_send_disconnect(sshbpp_conn *c, uint32_t reason, const char *text);

/* conn_auth_client.c / conn_auth_server.c */
int sshbpp__conn_client_auth_input(sshbpp_conn *c, const sshbpp_packet *pkt);
int sshbpp__conn_server_auth_input(sshbpp_conn *c, const sshbpp_packet *pkt);
void sshbpp__conn_auth_clear(sshbpp_conn *c);

#endif
