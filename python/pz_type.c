/*
 * pz_type.c: sshbpp._sshbpp.PacketizerBase, the C half of
 * sshbpp.Packetizer (paramiko.packet.Packetizer's interface, see
 * ../shared/spec/packetizer.md sections 2 and 7.2).
 *
 * The Python class sshbpp.Packetizer subclasses this type: the hot calls
 * (read_message, send_message, read_all, write_all, readline) and the
 * timers live here, argument juggling for the cipher setters, the
 * name-mangled counters and the compatible path live in Python.
 *
 * Every call that may block or do crypto releases the GIL. sshbpp's
 * Packetizer serialises senders with its own mutex, so a thread waiting for
 * it never holds the GIL (a sender inside a socket hook may need it).
 * Seconds (paramiko) become milliseconds (sshbpp) here.
 */
#include "sshbpp_py.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

/* Longest banner line readline() returns (RFC 4253: 255 bytes). */
#define SBPY_LINE_MAX 8192

/* Seconds (float or int) to milliseconds; None or negative: -1 (forever). */
static int
seconds_to_ms(PyObject *o, int64_t *ms)
{
    double s;

    if (o == Py_None) {
        *ms = -1;
        return 0;
    }
    s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(s) || s < 0) {
        *ms = -1;
        return 0;
    }
    if (s > 1e12)
        s = 1e12;
    *ms = (int64_t)ceil(s * 1000.0);
    return 0;
}

static int
need_pz(sbpy_pz *p)
{
    if (p->pz == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Packetizer.__init__ was not called");
        return -1;
    }
    return 0;
}

#define NEED_PZ(p)                                                                                 \
    do {                                                                                           \
        if (need_pz(p) != 0)                                                                       \
            return NULL;                                                                           \
    } while (0)

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

static void
pz_release(sbpy_pz *p)
{
    if (p->pz != NULL) {
        sshbpp_packetizer *pz = p->pz;
        /* Freeing an open sshbpp Packetizer shuts its socket down; a
         * collected paramiko Packetizer leaves the socket alone. So unless
         * close() was called, our dup becomes /dev/null first (atomically:
         * nothing else uses the object now) and only that is shut and
         * closed. */
        if (p->use_fd && p->dupfd >= 0 && !sshbpp_packetizer_closed(pz)) {
            int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (nul >= 0) {
                (void)dup2(nul, p->dupfd);
                close(nul);
            }
        }
        p->dupfd = -1;
        p->pz = NULL;
        p->e = NULL;
        Py_BEGIN_ALLOW_THREADS
        sshbpp_packetizer_free(pz);
        Py_END_ALLOW_THREADS
    }
}

static int
pz_init(sbpy_pz *p, PyObject *args, PyObject *kw)
{
    static char *names[] = {"socket", "fd", NULL};
    PyObject *sock;
    int fd = -1;
    sshbpp_packetizer *pz;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:PacketizerBase", names, &sock, &fd))
        return -1;
    pz_release(p);
    if (fd >= 0) {
        /* Our own descriptor: Python may close its socket object while a
         * reader is still in poll(); sshbpp closes the dup once no thread
         * uses it (see packetizer.c). */
        int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dupfd < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        pz = sshbpp_packetizer_new_fd(dupfd, 1);
        if (pz == NULL)
            close(dupfd);
        p->dupfd = dupfd;
    } else {
        pz = sshbpp_packetizer_new_cb(&sbpy_sock_callbacks, p);
        p->dupfd = -1;
    }
    if (pz == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(sock);
    Py_XSETREF(p->sock, sock);
    p->pz = pz;
    p->e = sshbpp_packetizer_engine(pz);
    p->use_fd = fd >= 0;
    p->compat_in = p->compat_out = p->compat_need_rekey = 0;
    atomic_store(&p->pad_mode, SBPY_PAD_RANDOM);
    atomic_store(&p->pad_byte, 0);
    Py_INCREF(Py_False);
    Py_XSETREF(p->hexdump, Py_False);
    sshbpp_engine_set_rng(p->e, sbpy_rng_hook, p);
    return 0;
}

static int
pz_traverse(sbpy_pz *p, visitproc visit, void *arg)
{
    Py_VISIT(p->sock);
    Py_VISIT(p->logger);
    Py_VISIT(p->hexdump);
    Py_VISIT(p->ka_cb);
    Py_VISIT(p->cb_exc);
    return 0;
}

static int
pz_clear(sbpy_pz *p)
{
    /* The hooks check for NULL: a collected cycle may still be closed. */
    if (p->pz != NULL) {
        sshbpp_packetizer_set_log(p->pz, NULL, NULL);
        sshbpp_packetizer_set_keepalive(p->pz, 0, NULL, NULL);
    }
    Py_CLEAR(p->logger);
    Py_CLEAR(p->ka_cb);
    Py_CLEAR(p->cb_exc);
    Py_CLEAR(p->hexdump);
    Py_CLEAR(p->sock);
    return 0;
}

static void
pz_dealloc(sbpy_pz *p)
{
    PyTypeObject *tp = Py_TYPE(p);

    PyObject_GC_UnTrack(p);
    pz_release(p);
    (void)pz_clear(p);
    /* a Python subclass's dealloc drops the reference to its type */
    tp->tp_free((PyObject *)p);
}

/* ---------------------------------------------------------------------- */
/* packets                                                                 */

static PyObject *
pz_read_message(sbpy_pz *p, PyObject *unused)
{
    sshbpp_packet pkt;
    PyObject *body, *msg, *seq, *out;
    int r;

    (void)unused;
    NEED_PZ(p);
    if (p->compat_in)
        return PyObject_CallMethod((PyObject *)p, "_compat_read_message", NULL);
    /* sshbpp checks the handshake timer only when it has to wait for
     * input; its read-ahead may already hold the peer's KEXINIT (paramiko
     * reads the banner 128 bytes at a time, so it always waits). */
    if (sshbpp_packetizer_handshake_timed_out(p->pz))
        return sbpy_raise(p, sshbpp_engine_fail(p->e, SSHBPP_EHANDSHAKE));
    Py_BEGIN_ALLOW_THREADS
    r = sshbpp_packetizer_read_message(p->pz, &pkt);
    Py_END_ALLOW_THREADS
    if (r != 0)
        return sbpy_raise(p, r);
    body = PyBytes_FromStringAndSize((const char *)pkt.payload + 1, (Py_ssize_t)pkt.len - 1);
    if (body == NULL)
        return NULL;
    if (sbpy_cls.message == Py_None) {
        msg = body;
    } else {
        msg = PyObject_CallOneArg(sbpy_cls.message, body);
        Py_DECREF(body);
        if (msg == NULL)
            return NULL;
        seq = PyLong_FromUnsignedLong(pkt.seqno);
        if (seq == NULL || PyObject_SetAttrString(msg, "seqno", seq) != 0) {
            Py_XDECREF(seq);
            Py_DECREF(msg);
            return NULL;
        }
        Py_DECREF(seq);
    }
    out = Py_BuildValue("(iN)", (int)pkt.type, msg);
    return out;
}

/* The payload of data: bytes as they are, or data.asbytes() (a paramiko
 * Message). Returns a new reference to a bytes object. */
static PyObject *
payload_of(PyObject *data)
{
    static PyObject *asbytes;
    PyObject *b;

    if (PyBytes_CheckExact(data))
        return Py_NewRef(data);
    if (asbytes == NULL && (asbytes = PyUnicode_InternFromString("asbytes")) == NULL)
        return NULL;
    if (PyByteArray_Check(data) || PyMemoryView_Check(data))
        return PyBytes_FromObject(data);
    b = PyObject_CallMethodNoArgs(data, asbytes);
    if (b != NULL && !PyBytes_Check(b)) {
        Py_SETREF(b, PyBytes_FromObject(b));
    }
    return b;
}

static PyObject *
pz_send_message(sbpy_pz *p, PyObject *data)
{
    PyObject *b;
    int r;

    NEED_PZ(p);
    if (p->compat_out)
        return PyObject_CallMethod((PyObject *)p, "_compat_send_message", "O", data);
    if ((b = payload_of(data)) == NULL)
        return NULL;
    if (PyBytes_GET_SIZE(b) == 0) {
        Py_DECREF(b);
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    r = sshbpp_packetizer_send_message(p->pz, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_END_ALLOW_THREADS
    Py_DECREF(b);
    if (r != 0) {
        if (r == SSHBPP_EPAYLOADLEN) {
            PyErr_SetString(sbpy_cls.ssh_exception, sshbpp_strerror(r));
            return NULL;
        }
        return sbpy_raise(p, r);
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------- */
/* raw I/O                                                                 */

static PyObject *
pz_read_all(sbpy_pz *p, PyObject *args, PyObject *kw)
{
    static char *names[] = {"n", "check_rekey", NULL};
    Py_ssize_t n;
    int check_rekey = 0, r;
    PyObject *out;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "n|p:read_all", names, &n, &check_rekey))
        return NULL;
    NEED_PZ(p);
    if (n < 0)
        n = 0;
    if ((out = PyBytes_FromStringAndSize(NULL, n)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    r = sshbpp_packetizer_read_all(p->pz, PyBytes_AS_STRING(out), (size_t)n, check_rekey);
    Py_END_ALLOW_THREADS
    if (r != 0) {
        Py_DECREF(out);
        if (r == SSHBPP_ENEEDREKEY && p->cb_exc == NULL) {
            PyErr_SetNone(sbpy_cls.need_rekey);
            return NULL;
        }
        return sbpy_raise(p, r);
    }
    return out;
}

static PyObject *
pz_write_all(sbpy_pz *p, PyObject *data)
{
    Py_buffer v;
    int r;

    NEED_PZ(p);
    if (PyObject_GetBuffer(data, &v, PyBUF_SIMPLE) != 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    r = sshbpp_packetizer_write_all(p->pz, v.buf, (size_t)v.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    if (r != 0)
        return sbpy_raise(p, r);
    Py_RETURN_NONE;
}

static PyObject *
pz_readline(sbpy_pz *p, PyObject *timeout)
{
    int64_t ms;
    long r;
    char *buf;
    PyObject *out;

    NEED_PZ(p);
    if (seconds_to_ms(timeout, &ms) != 0)
        return NULL;
    if (ms == 0)
        ms = 1;
    if ((buf = PyMem_Malloc(SBPY_LINE_MAX)) == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    r = sshbpp_packetizer_readline(p->pz, buf, SBPY_LINE_MAX, ms);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        PyMem_Free(buf);
        return sbpy_raise(p, (int)r);
    }
    out = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)r, NULL);
    PyMem_Free(buf);
    return out;
}

/* ---------------------------------------------------------------------- */
/* state                                                                   */

static PyObject *
pz_close(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    NEED_PZ(p);
    Py_BEGIN_ALLOW_THREADS
    sshbpp_packetizer_close(p->pz);
    Py_END_ALLOW_THREADS
    if (p->sock != NULL)
        return PyObject_CallMethod(p->sock, "close", NULL);
    Py_RETURN_NONE;
}

static PyObject *
pz_get_closed(sbpy_pz *p, void *unused)
{
    (void)unused;
    return PyBool_FromLong(p->pz != NULL && sshbpp_packetizer_closed(p->pz));
}

static PyObject *
pz_need_rekey(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    NEED_PZ(p);
    return PyBool_FromLong(p->compat_need_rekey || sshbpp_packetizer_need_rekey(p->pz));
}

static PyObject *
pz_set_keepalive(sbpy_pz *p, PyObject *args, PyObject *kw)
{
    static char *names[] = {"interval", "callback", NULL};
    PyObject *interval, *cb;
    int64_t ms;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:set_keepalive", names, &interval, &cb))
        return NULL;
    NEED_PZ(p);
    if (!PyObject_IsTrue(interval))
        ms = 0;
    else if (seconds_to_ms(interval, &ms) != 0)
        return NULL;
    if (ms < 0)
        ms = 0;
    Py_INCREF(cb);
    Py_XSETREF(p->ka_cb, cb);
    sshbpp_packetizer_set_keepalive(p->pz, ms, ms > 0 ? sbpy_keepalive_hook : NULL, p);
    Py_RETURN_NONE;
}

static PyObject *
pz_start_handshake(sbpy_pz *p, PyObject *timeout)
{
    int64_t ms;

    NEED_PZ(p);
    if (seconds_to_ms(timeout, &ms) != 0)
        return NULL;
    if (ms < 0)
        ms = INT64_C(1000000000000);
    sshbpp_packetizer_start_handshake(p->pz, ms);
    Py_RETURN_NONE;
}

static PyObject *
pz_handshake_timed_out(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    NEED_PZ(p);
    return PyBool_FromLong(sshbpp_packetizer_handshake_timed_out(p->pz));
}

static PyObject *
pz_complete_handshake(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    NEED_PZ(p);
    sshbpp_packetizer_complete_handshake(p->pz);
    Py_RETURN_NONE;
}

static PyObject *
pz_set_log(sbpy_pz *p, PyObject *log)
{
    NEED_PZ(p);
    if (log == Py_None) {
        sshbpp_packetizer_set_log(p->pz, NULL, NULL);
        Py_CLEAR(p->logger);
    } else {
        Py_INCREF(log);
        Py_XSETREF(p->logger, log);
        sshbpp_packetizer_set_log(p->pz, sbpy_log_hook, p);
    }
    Py_RETURN_NONE;
}

static PyObject *
pz_set_hexdump(sbpy_pz *p, PyObject *v)
{
    int on = PyObject_IsTrue(v);

    NEED_PZ(p);
    if (on < 0)
        return NULL;
    Py_INCREF(v);
    Py_XSETREF(p->hexdump, v);
    sshbpp_packetizer_set_hexdump(p->pz, on);
    Py_RETURN_NONE;
}

static PyObject *
pz_get_hexdump(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    return Py_NewRef(p->hexdump != NULL ? p->hexdump : Py_False);
}

static PyObject *
pz_reset_seqno_in(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    NEED_PZ(p);
    sshbpp_packetizer_reset_seqno_in(p->pz);
    Py_RETURN_NONE;
}

static PyObject *
pz_reset_seqno_out(sbpy_pz *p, PyObject *unused)
{
    (void)unused;
    NEED_PZ(p);
    Py_BEGIN_ALLOW_THREADS
    sshbpp_packetizer_reset_seqno_out(p->pz);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------- */
/* private calls for sshbpp/__init__.py                                    */

static int
parse_dir(int d)
{
    if (d != SSHBPP_DIR_IN && d != SSHBPP_DIR_OUT) {
        PyErr_SetString(PyExc_ValueError, "direction must be DIR_IN or DIR_OUT");
        return -1;
    }
    return 0;
}

/* _set_keys(dir, cipher, key, iv, mac, mac_key) -> 0 or a soft error code
 * (the old keys stay); fatal errors raise. */
static PyObject *
pz__set_keys(sbpy_pz *p, PyObject *args)
{
    int d, r;
    const char *cipher = NULL, *mac = NULL;
    Py_buffer key = {0}, iv = {0}, mkey = {0};
    sshbpp_keys k;

    if (!PyArg_ParseTuple(args, "iz|z*z*zz*:_set_keys", &d, &cipher, &key, &iv, &mac, &mkey))
        return NULL;
    if (parse_dir(d) != 0 || need_pz(p) != 0) {
        r = -100;
        goto out;
    }
    memset(&k, 0, sizeof k);
    k.cipher = cipher;
    k.key = key.buf;
    k.key_len = key.buf != NULL ? (size_t)key.len : 0;
    k.iv = iv.buf;
    k.iv_len = iv.buf != NULL ? (size_t)iv.len : 0;
    k.mac = mac;
    k.mac_key = mkey.buf;
    k.mac_key_len = mkey.buf != NULL ? (size_t)mkey.len : 0;
    Py_BEGIN_ALLOW_THREADS
    if (d == SSHBPP_DIR_IN)
        r = sshbpp_packetizer_set_inbound_cipher(p->pz, &k);
    else
        r = sshbpp_packetizer_set_outbound_cipher(p->pz, &k);
    Py_END_ALLOW_THREADS
out:
    if (key.buf != NULL)
        PyBuffer_Release(&key);
    if (iv.buf != NULL)
        PyBuffer_Release(&iv);
    if (mkey.buf != NULL)
        PyBuffer_Release(&mkey);
    if (r == -100)
        return NULL;
    if (r != 0 && sshbpp_is_fatal(r))
        return sbpy_raise(p, r);
    return PyLong_FromLong(r);
}

static PyObject *
pz__set_compression(sbpy_pz *p, PyObject *args)
{
    int d, r;
    const char *name;

    if (!PyArg_ParseTuple(args, "iz:_set_compression", &d, &name))
        return NULL;
    if (parse_dir(d) != 0)
        return NULL;
    NEED_PZ(p);
    Py_BEGIN_ALLOW_THREADS
    /* "none" first: a new compressor object is a new zlib stream */
    if (d == SSHBPP_DIR_IN) {
        r = sshbpp_packetizer_set_inbound_compressor(p->pz, "none");
        if (r == 0 && name != NULL)
            r = sshbpp_packetizer_set_inbound_compressor(p->pz, name);
    } else {
        r = sshbpp_packetizer_set_outbound_compressor(p->pz, "none");
        if (r == 0 && name != NULL)
            r = sshbpp_packetizer_set_outbound_compressor(p->pz, name);
    }
    Py_END_ALLOW_THREADS
    if (r != 0 && sshbpp_is_fatal(r))
        return sbpy_raise(p, r);
    return PyLong_FromLong(r);
}

static PyObject *
pz__set_compat(sbpy_pz *p, PyObject *args)
{
    int d, on;

    if (!PyArg_ParseTuple(args, "ip:_set_compat", &d, &on) || parse_dir(d) != 0)
        return NULL;
    if (d == SSHBPP_DIR_IN)
        p->compat_in = on;
    else {
        p->compat_out = on;
        /* paramiko's keepalive needs an outbound cipher; here it lives in
         * Python, so C must be told (turning it off leaves the mark the
         * fast path's keys just set) */
        if (on)
            sshbpp_packetizer_set_outbound_keyed(p->pz, 1);
    }
    Py_RETURN_NONE;
}

static PyObject *
pz__set_compat_need_rekey(sbpy_pz *p, PyObject *v)
{
    int on = PyObject_IsTrue(v);
    if (on < 0)
        return NULL;
    p->compat_need_rekey = on;
    /* The C loops (read_all's check_rekey, read_message, keepalive) must
     * see it too: paramiko's NeedRekeyException on an idle peer. */
    sshbpp_packetizer_set_rekey_flag(p->pz, on);
    Py_RETURN_NONE;
}

/* _stats(dir) -> (seqno, packets, bytes, total_packets, total_bytes, rekeys) */
static PyObject *
pz__stats(sbpy_pz *p, PyObject *arg)
{
    long d = PyLong_AsLong(arg);
    sshbpp_stats s;

    if ((d == -1 && PyErr_Occurred()) || parse_dir((int)d) != 0)
        return NULL;
    NEED_PZ(p);
    sshbpp_engine_get_stats(p->e, (enum sshbpp_dir)d, &s);
    return Py_BuildValue("(kKKKKK)", (unsigned long)s.seqno, (unsigned long long)s.packets,
                         (unsigned long long)s.bytes, (unsigned long long)s.total_packets,
                         (unsigned long long)s.total_bytes, (unsigned long long)s.rekeys);
}

static PyObject *
pz__set_seqno(sbpy_pz *p, PyObject *args)
{
    int d;
    unsigned long long v;

    if (!PyArg_ParseTuple(args, "iK:_set_seqno", &d, &v) || parse_dir(d) != 0)
        return NULL;
    NEED_PZ(p);
    sshbpp_engine_set_seqno(p->e, (enum sshbpp_dir)d, (uint32_t)(v & 0xffffffffu));
    Py_RETURN_NONE;
}

static PyObject *
pz__set_limits(sbpy_pz *p, PyObject *args)
{
    sshbpp_rekey_limits l;
    long long v[4];

    if (!PyArg_ParseTuple(args, "LLLL:_set_limits", &v[0], &v[1], &v[2], &v[3]))
        return NULL;
    NEED_PZ(p);
    for (int i = 0; i < 4; i++)
        if (v[i] < 1)
            v[i] = 1;
    sshbpp_engine_get_rekey_limits(p->e, &l);
    l.packets = (uint64_t)v[0];
    l.bytes = (uint64_t)v[1];
    l.packets_overflow = (uint64_t)v[2];
    l.bytes_overflow = (uint64_t)v[3];
    if (sshbpp_engine_set_rekey_limits(p->e, &l) != 0) {
        PyErr_SetString(PyExc_ValueError, "invalid rekey limits");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
pz__set_initial_kex_done(sbpy_pz *p, PyObject *v)
{
    int on = PyObject_IsTrue(v);
    if (on < 0)
        return NULL;
    NEED_PZ(p);
    sshbpp_engine_set_initial_kex_done(p->e, on);
    Py_RETURN_NONE;
}

static PyObject *
pz__set_padding(sbpy_pz *p, PyObject *args)
{
    int mode, byte = 0;

    if (!PyArg_ParseTuple(args, "i|i:_set_padding", &mode, &byte))
        return NULL;
    if (mode < SBPY_PAD_RANDOM || mode > SBPY_PAD_FIXED || byte < 0 || byte > 255) {
        PyErr_SetString(PyExc_ValueError, "bad padding mode");
        return NULL;
    }
    atomic_store(&p->pad_byte, byte);
    atomic_store(&p->pad_mode, mode);
    Py_RETURN_NONE;
}

static PyObject *
pz__uses_fd(sbpy_pz *p, void *unused)
{
    (void)unused;
    return PyBool_FromLong(p->use_fd);
}

static PyObject *
pz_get_socket(sbpy_pz *p, void *unused)
{
    (void)unused;
    return Py_NewRef(p->sock != NULL ? p->sock : Py_None);
}

#define KW (PyCFunction)(void (*)(void))

static PyMethodDef pz_methods[] = {
    {"read_message", (PyCFunction)pz_read_message, METH_NOARGS,
     "read_message() -> (cmd, Message): blocks until one message arrives."},
    {"send_message", (PyCFunction)pz_send_message, METH_O,
     "send_message(data): sends one Message (or bytes), thread-safe."},
    {"read_all", KW pz_read_all, METH_VARARGS | METH_KEYWORDS,
     "read_all(n, check_rekey=False) -> exactly n raw bytes."},
    {"write_all", (PyCFunction)pz_write_all, METH_O, "write_all(out): writes raw bytes."},
    {"readline", (PyCFunction)pz_readline, METH_O,
     "readline(timeout) -> one text line (the version banner)."},
    {"close", (PyCFunction)pz_close, METH_NOARGS, "close(): wakes blocked calls, closes."},
    {"need_rekey", (PyCFunction)pz_need_rekey, METH_NOARGS, "need_rekey() -> bool."},
    {"set_keepalive", KW pz_set_keepalive, METH_VARARGS | METH_KEYWORDS,
     "set_keepalive(interval, callback)."},
    {"start_handshake", (PyCFunction)pz_start_handshake, METH_O, "start_handshake(timeout)."},
    {"handshake_timed_out", (PyCFunction)pz_handshake_timed_out, METH_NOARGS, NULL},
    {"complete_handshake", (PyCFunction)pz_complete_handshake, METH_NOARGS, NULL},
    {"set_log", (PyCFunction)pz_set_log, METH_O, "set_log(logger)."},
    {"set_hexdump", (PyCFunction)pz_set_hexdump, METH_O, "set_hexdump(hexdump)."},
    {"get_hexdump", (PyCFunction)pz_get_hexdump, METH_NOARGS, "get_hexdump()."},
    {"reset_seqno_in", (PyCFunction)pz_reset_seqno_in, METH_NOARGS, NULL},
    {"reset_seqno_out", (PyCFunction)pz_reset_seqno_out, METH_NOARGS, NULL},
    {"_set_keys", (PyCFunction)pz__set_keys, METH_VARARGS, NULL},
    {"_set_compression", (PyCFunction)pz__set_compression, METH_VARARGS, NULL},
    {"_set_compat", (PyCFunction)pz__set_compat, METH_VARARGS, NULL},
    {"_set_compat_need_rekey", (PyCFunction)pz__set_compat_need_rekey, METH_O, NULL},
    {"_stats", (PyCFunction)pz__stats, METH_O, NULL},
    {"_set_seqno", (PyCFunction)pz__set_seqno, METH_VARARGS, NULL},
    {"_set_limits", (PyCFunction)pz__set_limits, METH_VARARGS, NULL},
    {"_set_initial_kex_done", (PyCFunction)pz__set_initial_kex_done, METH_O, NULL},
    {"_set_padding", (PyCFunction)pz__set_padding, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef pz_getset[] = {
    {"closed", (getter)pz_get_closed, NULL, "True once close() was called.", NULL},
    {"_uses_fd", (getter)pz__uses_fd, NULL, "True if the fd is read directly.", NULL},
    {"_sbpy_socket", (getter)pz_get_socket, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject sbpy_pz_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sshbpp._sshbpp.PacketizerBase",
    .tp_basicsize = sizeof(sbpy_pz),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "C core of sshbpp.Packetizer; use that class.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)pz_init,
    .tp_dealloc = (destructor)pz_dealloc,
    .tp_traverse = (traverseproc)pz_traverse,
    .tp_clear = (inquiry)pz_clear,
    .tp_methods = pz_methods,
    .tp_getset = pz_getset,
};
