/*
 * pz_hooks.c: the C callbacks sshbpp's Packetizer calls while the GIL is
 * released: I/O on a socket-like Python object (recv/send), log lines into
 * a Python logger, the keepalive callback, and padding bytes.
 *
 * Errors in the socket hooks follow paramiko's read_all/write_all: a
 * socket.timeout or EAGAIN is "nothing yet" (the Packetizer retries and
 * checks its timers); on read, any other exception is saved and re-raised
 * unchanged by the Packetizer method once it returns; on write, only
 * ProxyCommandFailure is kept (paramiko turns every other failure into
 * EOFError).
 */
#include "sshbpp_py.h"

#include <errno.h>
#include <string.h>

#include <openssl/rand.h>

/* Keeps the first exception a hook raised; the caller's method raises it. */
static void
save_exception(sbpy_pz *p)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *value = PyErr_GetRaisedException();
    if (p->cb_exc == NULL && value != NULL) {
        p->cb_exc = value;
        value = NULL;
    }
    Py_XDECREF(value);
#else
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (p->cb_exc == NULL && value != NULL) {
        if (tb != NULL)
            (void)PyException_SetTraceback(value, tb);
        p->cb_exc = value;
        value = NULL;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
#endif
}

/* 1 if the pending exception means "no data within the socket's timeout". */
static int
pending_is_timeout(void)
{
    if (PyErr_ExceptionMatches(sbpy_cls.socket_timeout))
        return 1;
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError))
        return 1;
    return 0;
}

static long
sock_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
    sbpy_pz *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    long n = -1;
    int err = EIO;
    PyObject *r;

    (void)timeout_ms; /* the object's own timeout applies (Transport: 0.1 s) */
    if (len > (size_t)PY_SSIZE_T_MAX)
        len = (size_t)PY_SSIZE_T_MAX;
    r = p->sock != NULL ? PyObject_CallMethod(p->sock, "recv", "n", (Py_ssize_t)len) : NULL;
    if (p->sock == NULL)
        PyErr_SetString(PyExc_OSError, "socket released");
    if (r == NULL) {
        if (pending_is_timeout()) {
            PyErr_Clear();
            err = ETIMEDOUT;
        } else {
            save_exception(p);
        }
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(r, &view, PyBUF_SIMPLE) == 0) {
            if ((size_t)view.len <= len) {
                memcpy(buf, view.buf, (size_t)view.len);
                n = (long)view.len;
            } else {
                err = EOVERFLOW;
            }
            PyBuffer_Release(&view);
        } else {
            save_exception(p);
        }
        Py_DECREF(r);
    }
    PyGILState_Release(g);
    if (n < 0)
        errno = err;
    return n;
}

static long
sock_write(void *ctx, const void *buf, size_t len)
{
    sbpy_pz *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    long n = -1;
    int err = EPIPE;
    PyObject *r = NULL;

    if (len > (size_t)PY_SSIZE_T_MAX)
        len = (size_t)PY_SSIZE_T_MAX;
    {
        /* bytes, not a view: a socket-like object may keep what it gets */
        PyObject *b = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
        if (b != NULL) {
            if (p->sock != NULL)
                r = PyObject_CallMethod(p->sock, "send", "O", b);
            Py_DECREF(b);
        }
    }
    if (r == NULL) {
        if (pending_is_timeout()) {
            PyErr_Clear();
            err = EAGAIN;
        } else if (sbpy_cls.proxy_failure != NULL &&
                   PyErr_ExceptionMatches(sbpy_cls.proxy_failure)) {
            save_exception(p);
        } else {
            PyErr_Clear();
        }
    } else {
        long v = PyLong_AsLong(r);
        if (v == -1 && PyErr_Occurred())
            PyErr_Clear();
        else if (v >= 0 && (size_t)v <= len)
            n = v;
        Py_DECREF(r);
    }
    PyGILState_Release(g);
    if (n < 0)
        errno = err;
    return n;
}

const sshbpp_io_callbacks sbpy_sock_callbacks = {sock_read, sock_write, NULL};

void
sbpy_log_hook(void *ctx, enum sshbpp_log_level level, const char *msg)
{
    sbpy_pz *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();

    if (p->logger != NULL) {
        /* our own reference: set_log() on another thread may replace it
         * while logging code runs */
        PyObject *lg = Py_NewRef(p->logger);
        PyObject *r = PyObject_CallMethod(lg, "log", "is", (int)level, msg);
        if (r == NULL)
            PyErr_WriteUnraisable(lg);
        Py_XDECREF(r);
        Py_DECREF(lg);
    }
    PyGILState_Release(g);
}

void
sbpy_keepalive_hook(sshbpp_packetizer *pz, void *ctx)
{
    sbpy_pz *p = ctx;
    PyGILState_STATE g = PyGILState_Ensure();

    (void)pz;
    if (p->ka_cb != NULL) {
        PyObject *cb = p->ka_cb, *r;
        Py_INCREF(cb);
        r = PyObject_CallNoArgs(cb);
        if (r == NULL)
            PyErr_WriteUnraisable(cb);
        Py_XDECREF(r);
        Py_DECREF(cb);
    }
    PyGILState_Release(g);
}

/* Padding as paramiko: zero bytes for SDCTR ciphers, random otherwise; a
 * fixed byte for known-answer tests. */
int
sbpy_rng_hook(void *ctx, uint8_t *buf, size_t len)
{
    sbpy_pz *p = ctx;

    switch (atomic_load(&p->pad_mode)) {
    case SBPY_PAD_ZERO:
        memset(buf, 0, len);
        return 0;
    case SBPY_PAD_FIXED:
        memset(buf, atomic_load(&p->pad_byte), len);
        return 0;
    default:
        if (len > (size_t)INT_MAX)
            return -1;
        return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
    }
}
