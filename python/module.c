/*
 * module.c: the sshbpp._sshbpp extension module: its functions, the
 * classes it raises (handed over by sshbpp/__init__.py), and the mapping
 * from sshbpp error codes to paramiko's exceptions and messages.
 */
#include "sshbpp_py.h"

#include <errno.h>

struct sbpy_classes sbpy_cls;

/* see sshbpp_py.h */
PyObject *
sbpy_raise(sbpy_pz *p, int r)
{
    const char *msg = NULL;

    if (p != NULL && p->cb_exc != NULL) {
        PyObject *v = p->cb_exc;
        p->cb_exc = NULL;
        /* the saved exception object itself, with its traceback */
        PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(v)), v, PyException_GetTraceback(v));
        return NULL;
    }
    switch (r) {
    case SSHBPP_ENEEDREKEY:
        PyErr_SetNone(sbpy_cls.need_rekey);
        return NULL;
    case SSHBPP_EEOF:
    case SSHBPP_EEOFPKT:
    case SSHBPP_ECLOSED:
    case SSHBPP_EHANDSHAKE:
    case SSHBPP_EWRITE0:
        PyErr_SetNone(PyExc_EOFError);
        return NULL;
    case SSHBPP_EIO: {
        int err = p != NULL ? sshbpp_packetizer_last_errno(p->pz) : 0;
        if ((p != NULL && sshbpp_packetizer_closed(p->pz)) || err == 0) {
            PyErr_SetNone(PyExc_EOFError);
            return NULL;
        }
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    case SSHBPP_ETIMEDOUT:
        PyErr_SetNone(sbpy_cls.socket_timeout);
        return NULL;
    case SSHBPP_ETAG:
        PyErr_SetNone(sbpy_cls.invalid_tag);
        return NULL;
    case SSHBPP_EEMPTY:
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return NULL;
    case SSHBPP_ENOMEM:
        return PyErr_NoMemory();
    case SSHBPP_EINVAL:
        PyErr_SetString(PyExc_ValueError, sshbpp_strerror(r));
        return NULL;
    case SSHBPP_EMAC:
        msg = "Mismatched MAC";
        break;
    case SSHBPP_EBLOCKALIGN:
        msg = "Invalid packet blocking";
        break;
    case SSHBPP_ESEQWRAP:
        msg = "Sequence number rolled over during initial kex!";
        break;
    case SSHBPP_EREKEYIGNORED:
        msg = "Remote transport is ignoring rekey requests";
        break;
    default:
        msg = sshbpp_strerror(r);
        break;
    }
    PyErr_SetString(sbpy_cls.ssh_exception, msg);
    return NULL;
}

static PyObject *
mod_configure(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"ssh_exception", "need_rekey", "message", "invalid_tag",
                            "proxy_failure", "socket_timeout", NULL};
    PyObject *o[6];
    PyObject **slot[6] = {&sbpy_cls.ssh_exception, &sbpy_cls.need_rekey, &sbpy_cls.message,
                          &sbpy_cls.invalid_tag, &sbpy_cls.proxy_failure,
                          &sbpy_cls.socket_timeout};
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOO", names, &o[0], &o[1], &o[2], &o[3],
                                     &o[4], &o[5]))
        return NULL;
    for (int i = 0; i < 6; i++) {
        Py_INCREF(o[i]);
        Py_XSETREF(*slot[i], o[i]);
    }
    Py_RETURN_NONE;
}

static PyObject *
mod_alg_list(PyObject *self, PyObject *arg)
{
    long kind = PyLong_AsLong(arg);
    const char *const *l;
    PyObject *out;

    (void)self;
    if (kind == -1 && PyErr_Occurred())
        return NULL;
    l = sshbpp_alg_list((enum sshbpp_alg_kind)kind);
    if (l == NULL) {
        PyErr_SetString(PyExc_ValueError, "unknown algorithm kind");
        return NULL;
    }
    out = PyList_New(0);
    for (; out != NULL && *l != NULL; l++) {
        PyObject *s = PyUnicode_FromString(*l);
        if (s == NULL || PyList_Append(out, s) != 0) {
            Py_XDECREF(s);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(s);
    }
    return out;
}

static PyObject *
mod_strerror(PyObject *self, PyObject *arg)
{
    long r = PyLong_AsLong(arg);
    (void)self;
    if (r == -1 && PyErr_Occurred())
        return NULL;
    return Py_BuildValue("(ss)", sshbpp_err_name((int)r), sshbpp_strerror((int)r));
}

static PyMethodDef mod_methods[] = {
    {"_configure", (PyCFunction)(void (*)(void))mod_configure, METH_VARARGS | METH_KEYWORDS,
     "Hands over the exception and Message classes to raise and build."},
    {"alg_list", mod_alg_list, METH_O,
     "alg_list(kind) -> names sshbpp implements (0 cipher, 1 MAC, 2 compression)."},
    {"strerror", mod_strerror, METH_O, "strerror(code) -> (name, message)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef mod_def = {
    PyModuleDef_HEAD_INIT, "_sshbpp",
    "sshbpp's C Packetizer for Python (use the sshbpp package, not this module).", -1,
    mod_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sshbpp(void);

PyMODINIT_FUNC
PyInit__sshbpp(void)
{
    PyObject *m;

    if (PyType_Ready(&sbpy_pz_type) < 0)
        return NULL;
    m = PyModule_Create(&mod_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&sbpy_pz_type);
    if (PyModule_AddObject(m, "PacketizerBase", (PyObject *)&sbpy_pz_type) < 0 ||
        PyModule_AddStringConstant(m, "version", SSHBPP_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "DIR_IN", SSHBPP_DIR_IN) < 0 ||
        PyModule_AddIntConstant(m, "DIR_OUT", SSHBPP_DIR_OUT) < 0) {
        Py_DECREF(&sbpy_pz_type);
        Py_DECREF(m);
        return NULL;
    }
    /* Stand-ins until _configure(): plain Python built-ins. */
    sbpy_cls.ssh_exception = Py_NewRef(PyExc_Exception);
    sbpy_cls.need_rekey = Py_NewRef(PyExc_Exception);
    sbpy_cls.message = Py_NewRef(Py_None);
    sbpy_cls.invalid_tag = Py_NewRef(PyExc_Exception);
    sbpy_cls.proxy_failure = NULL;
    sbpy_cls.socket_timeout = Py_NewRef(PyExc_TimeoutError);
    return m;
}
