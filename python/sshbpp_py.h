/*
 * sshbpp_py.h: shared declarations of the CPython extension sshbpp._sshbpp.
 *
 * Files: module.c (module, exception mapping, configuration from the
 * Python side), pz_type.c (the Packetizer base type), pz_hooks.c (the C
 * callbacks the Packetizer calls: socket-like I/O, logging, keepalive,
 * padding bytes). All of them use only the public sshbpp headers.
 *
 * GIL: every call into sshbpp that may block or do crypto runs with the GIL
 * released; the hooks take it back with PyGILState_Ensure() (which also
 * works when the calling thread already holds it).
 */
#ifndef SSHBPP_PY_H
#define SSHBPP_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>

#include "sshbpp/sshbpp_engine.h"
#include "sshbpp/sshbpp_io.h"

/* Padding modes of the outbound direction (paramiko: zero padding for
 * SDCTR ciphers and before keys, random otherwise). */
enum sbpy_pad { SBPY_PAD_RANDOM = 0, SBPY_PAD_ZERO = 1, SBPY_PAD_FIXED = 2 };

typedef struct {
    PyObject_HEAD
    sshbpp_packetizer *pz;
    sshbpp_engine *e;
    PyObject *sock;     /* the socket-like object */
    int use_fd;         /* 1: the engine reads a dup of sock's fd directly */
    int dupfd;          /* that dup, or -1 */
    PyObject *logger;   /* object with .log(level, msg), or NULL */
    PyObject *hexdump;  /* the value given to set_hexdump */
    PyObject *ka_cb;    /* keepalive callback or NULL */
    PyObject *cb_exc;   /* exception saved by a socket hook, raised on return */
    atomic_int pad_mode;
    atomic_int pad_byte;
    int compat_in;      /* 1: inbound framing done by the Python compatible path */
    int compat_out;
    int compat_need_rekey;
} sbpy_pz;

extern PyTypeObject sbpy_pz_type;

/* Classes from paramiko (or sshbpp's stand-ins), set by sshbpp/__init__.py
 * through _sshbpp._configure(). Borrowed from the module state; never NULL
 * after configuration. */
struct sbpy_classes {
    PyObject *ssh_exception;
    PyObject *need_rekey;
    PyObject *message;
    PyObject *invalid_tag;
    PyObject *proxy_failure;
    PyObject *socket_timeout;
};
extern struct sbpy_classes sbpy_cls;

/* Raises the Python exception paramiko raises for sshbpp error r (after a
 * call on p; p may be NULL). A socket hook's saved exception wins. Returns
 * NULL for `return sbpy_raise(...)`. */
PyObject *sbpy_raise(sbpy_pz *p, int r);

/* Hooks (pz_hooks.c). */
extern const sshbpp_io_callbacks sbpy_sock_callbacks;
void sbpy_log_hook(void *ctx, enum sshbpp_log_level level, const char *msg);
void sbpy_keepalive_hook(sshbpp_packetizer *pz, void *ctx);
int sbpy_rng_hook(void *ctx, uint8_t *buf, size_t len);

#endif
