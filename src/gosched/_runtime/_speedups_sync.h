/* gosched._runtime._speedups, part 4 (included by _speedups.c): WaitGroup.add and done
 * when they wake nobody.
 *
 * sync.py's WaitGroup.add(delta) and done() take the wait group's runtime lock, move
 * the counter and unlock; only a counter that reaches zero with goroutines waiting, or
 * goes negative, does more (_settle: ready the waiters, or panic). The C methods do
 * that common case in one call with no Python frame (two frames and ~35 bytecodes per
 * goroutine of a spawn + join before): an exact int delta, the lock free, and a counter
 * that stays positive or reaches zero with no waiter. Every other case (the lock held,
 * a waiter to wake, a negative counter, a bool or a big int, keywords) runs sync.py's
 * method from the start, so it stays the definition: nothing has changed when the C
 * method falls back. GIL builds only, as the rest of this file (the lock is taken
 * with trylock, as the channel operations take theirs).
 */

static PyObject *wg_pyadd, *wg_pydone;  /* sync.py's WaitGroup.add and done */
static Py_ssize_t wg_lock, wg_n, wg_waiters;

/* The counter moved by delta without the Python method: 1 done, 0 fall back
 * (nothing changed), -1 error. */
static int
wgmove(PyObject *wg, long long delta)
{
    PyObject *lk = SLOT(wg, wg_lock), *ws = SLOT(wg, wg_waiters);
    if (lk == NULL || ws == NULL || !Py_IS_TYPE(ws, dequetype) || !trylock(lk)) {
        return 0;
    }
    PyObject *n = SLOT(wg, wg_n);
    int overflow = 0, small = n != NULL && PyLong_CheckExact(n);
    long long v = small ? PyLong_AsLongLongAndOverflow(n, &overflow) : 0;
    small = small && !overflow && v <= LLONG_MAX / 2 && v >= LLONG_MIN / 2;
    v += small ? delta : 0;
    if (!small || v < 0 || (v == 0 && Py_SIZE(ws) > 0)) {  /* _settle's: a panic, or waiters to wake */
        return unlock(lk) < 0 ? -1 : 0;
    }
    int rc = setslot(wg, wg_n, PyLong_FromLongLong(v));
    return unlock(lk) < 0 || rc < 0 ? -1 : 1;
}

/* fn(self, *args, **kwargs), from a method's vectorcall arguments. */
static PyObject *
callself(PyObject *fn, PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t n = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    PyObject **a = PyMem_New(PyObject *, n + 1);
    if (a == NULL) {
        return PyErr_NoMemory();
    }
    a[0] = self;
    memcpy(a + 1, args, n * sizeof(PyObject *));
    PyObject *r = PyObject_Vectorcall(fn, a, (size_t)nargs + 1, kwnames);
    PyMem_Free(a);
    return r;
}

static PyObject *
wg_add(PyObject *wg, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int rc = 0, overflow = 0;
    if (nargs == 1 && kwnames == NULL && PyLong_CheckExact(args[0])) {  /* not a bool: add's TypeError */
        long long d = PyLong_AsLongLongAndOverflow(args[0], &overflow);
        if (!overflow && d <= LLONG_MAX / 2 && d >= LLONG_MIN / 2) {
            rc = wgmove(wg, d);
        }
    }
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {  /* sync.py's add, with the same arguments */
        return callself(wg_pyadd, wg, args, nargs, kwnames);
    }
    Py_RETURN_NONE;
}

static PyObject *
wg_done(PyObject *wg, PyObject *Py_UNUSED(ignored))
{
    int rc = wgmove(wg, -1);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {  /* sync.py's done: the waiters to wake, or the panic */
        return PyObject_CallOneArg(wg_pydone, wg);
    }
    Py_RETURN_NONE;
}

/* Docstrings: sync.py's, with a text signature (setup_wg copies them in: setmethods). */
static PyMethodDef wg_methods[] = {
    {"add", (PyCFunction)(void (*)(void))wg_add, METH_FASTCALL | METH_KEYWORDS, NULL},
    {"done", (PyCFunction)wg_done, METH_NOARGS, NULL},
};

PyDoc_STRVAR(setup_wg_doc,
"setup_wg(WaitGroup, methods, docs)\n--\n\n"
"Bind sync.py's WaitGroup and its (add, done), and set the C methods on WaitGroup\n"
"with those docstrings.");

static PyObject *
setup_wg(PyObject *self, PyObject *args)
{
    PyTypeObject *wt;
    PyObject *fns, *docs;
    if (!PyArg_ParseTuple(args, "O!O!O!:setup_wg", &PyType_Type, &wt, &PyTuple_Type, &fns, &PyTuple_Type,
                          &docs)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(fns) != 2 || PyTuple_GET_SIZE(docs) != 2) {
        PyErr_SetString(PyExc_TypeError, "setup_wg: methods and docs are for (add, done)");
        return NULL;
    }
    if (offset_of(wt, "_lock", &wg_lock) || offset_of(wt, "_n", &wg_n) || offset_of(wt, "_waiters", &wg_waiters)) {
        return NULL;
    }
    Py_XSETREF(wg_pyadd, Py_NewRef(PyTuple_GET_ITEM(fns, 0)));
    Py_XSETREF(wg_pydone, Py_NewRef(PyTuple_GET_ITEM(fns, 1)));
    if (setmethods(wt, wg_methods, docs, 2) < 0) {  /* last: the C methods run from here */
        return NULL;
    }
    Py_RETURN_NONE;
}
