/*
 * A full memory fence for the ring wake-up protocol (optional C helper).
 *
 * x86-64 may reorder a store with a later load from another address, so
 * "set my sleeping flag, then look at the ring" on one side and "publish a
 * frame, then look at the flag" on the other can both miss.  An mfence
 * between the store and the load on both sides rules that out.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *fence(PyObject *self, PyObject *unused) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fence", fence, METH_NOARGS, "Full memory barrier (mfence on x86-64)."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fence", "Memory fence.", -1, methods};

PyMODINIT_FUNC PyInit__fence(void) { return PyModule_Create(&module); }
