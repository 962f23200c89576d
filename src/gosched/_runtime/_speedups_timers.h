/* gosched._runtime._speedups, part 2b (included by _speedups.c before part 3): the timer heap.
 *
 * timers.py's addtimer and runtimers (with its _takedue, _cleantop and _push) in C, and
 * the runtime lock helpers they and schedule's rounds share. timers.py is the definition
 * and the whole of the pure-Python path; this is the same code, step for step.
 *
 * Why C: an idle program arms a timer and runs it at every sleep, and idle CPU is what
 * that costs. After a sleep of 10 ms or more every code path is cold on this kind of
 * machine (~5-15 us for the first heappush, lock round or Python frame after a wake,
 * measured), so the cost of a sleep follows the number of distinct paths it runs: the
 * Python version is four frames, heapq and the lock's method calls; this is one call.
 *
 * Heap entries are timers.py's ``(when, id(t), gen, t)`` tuples, in a list that heapq
 * keeps using (movetimers, anywaker): compared as heapq compares them, by when, id, then
 * gen (two entries never tie on all three), in C when those are ints that fit in 64 bits,
 * else as tuples.
 */

/* threading.Lock's acquire and release, called as their C functions (the timer locks here,
 * sched.lock in globturn); another lock type by name. */
static PyTypeObject *locktype;
static PyCFunctionWithKeywords lock_acquire_fn;
static PyCFunction lock_release_fn, lock_locked_fn;
static PyObject *args_false, *args_none;  /* acquire's arguments: acquire(False), acquire() */

static int
setup_lock(void)
{
    if (locktype != NULL) {
        return 0;
    }
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *lk = threading == NULL ? NULL : PyObject_CallMethod(threading, "Lock", NULL);
    Py_XDECREF(threading);
    if (lk == NULL) {
        return -1;
    }
    PyTypeObject *lt = Py_TYPE(lk);
    PyObject *acq = PyObject_GetAttrString((PyObject *)lt, "acquire");
    PyObject *rel = PyObject_GetAttrString((PyObject *)lt, "release");
    PyObject *lkd = PyObject_GetAttrString((PyObject *)lt, "locked");
    lock_acquire_fn = (PyCFunctionWithKeywords)(void (*)(void))cmethod(acq, METH_VARARGS | METH_KEYWORDS);
    lock_release_fn = cmethod(rel, METH_NOARGS);
    lock_locked_fn = cmethod(lkd, METH_NOARGS);
    Py_XDECREF(acq);
    Py_XDECREF(rel);
    Py_XDECREF(lkd);
    Py_DECREF(lk);
    args_false = PyTuple_Pack(1, Py_False);
    args_none = PyTuple_New(0);  /* blocking, the default: no argument to parse (~30 ns less) */
    if (lock_acquire_fn == NULL || lock_release_fn == NULL || lock_locked_fn == NULL || args_false == NULL ||
        args_none == NULL) {
        PyErr_SetString(PyExc_TypeError, "_speedups: threading.Lock's acquire, release and locked are not C methods");
        return -1;
    }
    locktype = (PyTypeObject *)Py_NewRef(lt);  /* last: set means set up */
    return 0;
}

/* lk.acquire(blocking): 1 taken, 0 busy (not blocking), -1 error. */
static int
lockacquire(PyObject *lk, int blocking)
{
    PyObject *r = Py_IS_TYPE(lk, locktype)
        ? lock_acquire_fn(lk, blocking ? args_none : args_false, NULL)
        : PyObject_CallMethod(lk, "acquire", "O", blocking ? Py_True : Py_False);
    if (r == NULL) {
        return -1;
    }
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* lk.release(): 0 or -1. */
static int
lockrelease(PyObject *lk)
{
    PyObject *r = Py_IS_TYPE(lk, locktype) ? lock_release_fn(lk, NULL) : PyObject_CallMethod(lk, "release", NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static PyTypeObject *RTtype, *TPtype;  /* timers.RTimer and runtime2.P */
static PyObject *rttemplate;           /* an RTimer made by RTimer.__init__: the defaults */
static PyObject *rtrebuild;            /* timers._rebuild(p): drop the dead entries, heapify */
static Py_ssize_t *rt_offsets, rt_nslots;
static Py_ssize_t t_when, t_period, t_f, t_arg, t_pp, t_active, t_gen, t_seq, t_firing, t_wakes;
static Py_ssize_t tp_timers, tp_timerslock, tp_timerzombies, tp_timer0when;

/* o as a C long long, if it is an int that fits: 1, else 0 (no error set). */
static inline int
asll(PyObject *o, long long *v)
{
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
    int overflow;
    *v = PyLong_AsLongLongAndOverflow(o, &overflow);
    return !overflow;
}

/* a < b for two heap entries, as heapq compares them: 1, 0 or -1. */
static int
entrylt(PyObject *a, PyObject *b)
{
    if (PyTuple_CheckExact(a) && PyTuple_CheckExact(b) && PyTuple_GET_SIZE(a) == 4 && PyTuple_GET_SIZE(b) == 4) {
        for (int i = 0; i < 3; i++) {
            long long x, y;
            if (!asll(PyTuple_GET_ITEM(a, i), &x) || !asll(PyTuple_GET_ITEM(b, i), &y)) {
                break;
            }
            if (x != y) {
                return x < y;
            }
        }
    }
    Py_INCREF(a);
    Py_INCREF(b);
    int lt = PyObject_RichCompareBool(a, b, Py_LT);
    Py_DECREF(a);
    Py_DECREF(b);
    return lt;
}

/* The list changed size under a comparison (only a foreign entry's __lt__ could): heapq's error. */
static int
heapchanged(PyObject *h, Py_ssize_t n)
{
    if (PyList_GET_SIZE(h) != n) {
        PyErr_SetString(PyExc_RuntimeError, "list changed size during iteration");
        return 1;
    }
    return 0;
}

/* heapq.heappush(h, item): 0 or -1. */
static int
heappush_(PyObject *h, PyObject *item)
{
    if (PyList_Append(h, item) < 0) {
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(h), pos = n - 1;
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        int lt = entrylt(PyList_GET_ITEM(h, pos), PyList_GET_ITEM(h, parent));
        if (lt < 0 || heapchanged(h, n)) {
            return -1;
        }
        if (!lt) {
            break;
        }
        PyObject **it = ((PyListObject *)h)->ob_item;
        PyObject *x = it[parent];
        it[parent] = it[pos];
        it[pos] = x;
        pos = parent;
    }
    return 0;
}

/* heapq.heappop(h) of a non-empty h: a new reference, or NULL. */
static PyObject *
heappop_(PyObject *h)
{
    Py_ssize_t n = PyList_GET_SIZE(h);
    PyObject *last = Py_NewRef(PyList_GET_ITEM(h, n - 1));
    if (PyList_SetSlice(h, n - 1, n, NULL) < 0) {
        Py_DECREF(last);
        return NULL;
    }
    if (--n == 0) {
        return last;
    }
    PyObject **it = ((PyListObject *)h)->ob_item;
    PyObject *top = it[0];  /* the list's reference becomes ours */
    it[0] = last;           /* and ours to last becomes the list's */
    /* heapq's _siftup: the smaller child moves up to a leaf, then last sifts down to its place. */
    Py_ssize_t pos = 0, child = 1;
    while (child < n) {
        if (child + 1 < n) {
            int lt = entrylt(PyList_GET_ITEM(h, child), PyList_GET_ITEM(h, child + 1));
            if (lt < 0 || heapchanged(h, n)) {
                Py_DECREF(top);
                return NULL;
            }
            child += !lt;
        }
        it = ((PyListObject *)h)->ob_item;
        PyObject *x = it[pos];
        it[pos] = it[child];
        it[child] = x;
        pos = child;
        child = 2 * pos + 1;
    }
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        int lt = entrylt(PyList_GET_ITEM(h, pos), PyList_GET_ITEM(h, parent));
        if (lt < 0 || heapchanged(h, n)) {
            Py_DECREF(top);
            return NULL;
        }
        if (!lt) {
            break;
        }
        it = ((PyListObject *)h)->ob_item;
        PyObject *x = it[parent];
        it[parent] = it[pos];
        it[pos] = x;
        pos = parent;
    }
    return top;
}

/* p.timers, checked to be a list (borrowed), or NULL with an error. */
static PyObject *
heapof(PyObject *p)
{
    PyObject *h = SLOT(p, tp_timers);
    if (!PyList_CheckExact(h)) {
        PyErr_SetString(PyExc_TypeError, "_speedups: P.timers must be a list");
        return NULL;
    }
    return h;
}

/* timers._push(p, t), p.timerslock held: 0 or -1. */
static int
pushtimer(PyObject *p, PyObject *t)
{
    PyObject *h = heapof(p), *id = NULL, *e = NULL;
    if (h == NULL || setslot(t, t_gen, PyNumber_Add(SLOT(t, t_gen), int1)) < 0 ||
        setslot(t, t_pp, Py_NewRef(p)) < 0 || setslot(t, t_active, Py_NewRef(Py_True)) < 0 ||
        (id = PyLong_FromVoidPtr(t)) == NULL || (e = PyTuple_New(4)) == NULL) {
        Py_XDECREF(id);
        return -1;
    }
    /* The slots are read after the tuple exists: on 3.11 its allocation may run a collection
     * whose finalizers pass the GIL to a resettimer that stores t.when unlocked. */
    PyTuple_SET_ITEM(e, 0, Py_NewRef(SLOT(t, t_when)));
    PyTuple_SET_ITEM(e, 1, id);
    PyTuple_SET_ITEM(e, 2, Py_NewRef(SLOT(t, t_gen)));
    PyTuple_SET_ITEM(e, 3, Py_NewRef(t));
    int rc = heappush_(h, e);
    Py_DECREF(e);
    if (rc < 0) {
        return -1;
    }
    return setslot(p, tp_timer0when, Py_NewRef(PyTuple_GET_ITEM(PyList_GET_ITEM(h, 0), 0)));
}

/* The heap entry e of p's is its timer's live entry (timers._cleantop's test): 1, 0 or -1. */
static int
liveentry(PyObject *p, PyObject *e)
{
    if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 4 || !PyObject_TypeCheck(PyTuple_GET_ITEM(e, 3), RTtype)) {
        PyErr_SetString(PyExc_TypeError, "_speedups: a timer heap entry must be (when, id, gen, RTimer)");
        return -1;
    }
    PyObject *t = PyTuple_GET_ITEM(e, 3);
    int live = truthy(SLOT(t, t_active));
    if (live > 0) {
        live = PyObject_RichCompareBool(SLOT(t, t_gen), PyTuple_GET_ITEM(e, 2), Py_EQ);
    }
    return live > 0 ? SLOT(t, t_pp) == p : live;
}

/* timers._cleantop(p), p.timerslock held: 0 or -1. */
static int
cleantop(PyObject *p)
{
    PyObject *h = heapof(p);
    if (h == NULL) {
        return -1;
    }
    while (PyList_GET_SIZE(h) > 0) {
        int live = liveentry(p, PyList_GET_ITEM(h, 0));
        if (live != 0) {
            if (live < 0) {
                return -1;
            }
            break;
        }
        PyObject *e = heappop_(h);
        if (e == NULL) {
            return -1;
        }
        Py_DECREF(e);
        if (setslot(p, tp_timerzombies, PyNumber_Subtract(SLOT(p, tp_timerzombies), int1)) < 0) {
            return -1;
        }
    }
    long long z;  /* more than a quarter of a big heap dead: rebuild it (Go's adjusttimers) */
    if (PyList_GET_SIZE(h) > 64 && asll(SLOT(p, tp_timerzombies), &z) && z * 4 > PyList_GET_SIZE(h)) {
        PyObject *r = PyObject_CallOneArg(rtrebuild, p);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
        if ((h = heapof(p)) == NULL) {
            return -1;
        }
    }
    PyObject *w = PyList_GET_SIZE(h) ? PyTuple_GET_ITEM(PyList_GET_ITEM(h, 0), 0) : int0;
    return setslot(p, tp_timer0when, Py_NewRef(w));
}

/* timers._takedue(p, now), p.timerslock held: the due timers, in order (a new list), or NULL. */
static PyObject *
takedue(PyObject *p, PyObject *now)
{
    PyObject *due = PyList_New(0);
    while (due != NULL) {
        if (cleantop(p) < 0) {
            break;
        }
        PyObject *h = SLOT(p, tp_timers);
        if (PyList_GET_SIZE(h) == 0) {
            return due;
        }
        int later = PyObject_RichCompareBool(PyTuple_GET_ITEM(PyList_GET_ITEM(h, 0), 0), now, Py_GT);
        if (later != 0) {
            if (later < 0) {
                break;
            }
            return due;
        }
        PyObject *e = heappop_(h);
        if (e == NULL) {
            break;
        }
        PyObject *t = Py_NewRef(PyTuple_GET_ITEM(e, 3));
        Py_DECREF(e);
        int periodic = truthy(SLOT(t, t_period)), rc = periodic;
        if (periodic > 0) {  /* when += period; fell behind: skip the missed ticks (Go's ticker drops them) */
            PyObject *per = SLOT(t, t_period), *w = PyNumber_Add(SLOT(t, t_when), per);
            int behind = w == NULL ? -1 : PyObject_RichCompareBool(w, now, Py_LE);
            if (behind > 0) {  /* now + period - (now - when) % period */
                PyObject *lag = PyNumber_Subtract(now, w);
                PyObject *r = lag == NULL ? NULL : PyNumber_Remainder(lag, per);
                PyObject *a = PyNumber_Add(now, per);
                Py_XDECREF(lag);
                Py_SETREF(w, (a == NULL || r == NULL) ? NULL : PyNumber_Subtract(a, r));
                Py_XDECREF(a);
                Py_XDECREF(r);
            }
            rc = behind < 0 || setslot(t, t_when, w) < 0 ? -1 : pushtimer(p, t);
        }
        else if (periodic == 0) {  /* t.pp stays: a racing deltimer takes this P's lock and sees firing */
            rc = setslot(t, t_active, Py_NewRef(Py_False));
        }
        if (rc < 0 || setslot(t, t_firing, Py_NewRef(SLOT(t, t_seq))) < 0 || PyList_Append(due, t) < 0) {
            Py_DECREF(t);
            break;
        }
        Py_DECREF(t);
    }
    Py_XDECREF(due);
    return NULL;
}

/* p is a P and t an RTimer (or None for t): 0, or -1 with a TypeError. */
static int
timerargs(PyObject *p, PyObject *t)
{
    if (RTtype == NULL || !PyObject_TypeCheck(p, TPtype) || (t != NULL && !PyObject_TypeCheck(t, RTtype))) {
        PyErr_SetString(PyExc_TypeError, "_speedups: a P and an RTimer, after setup_timers");
        return -1;
    }
    for (Py_ssize_t i = 0; t != NULL && i < rt_nslots; i++) {  /* as RTimer.__init__ left it */
        if (SLOT(t, rt_offsets[i]) == NULL) {
            PyErr_SetString(PyExc_AttributeError, "_speedups: an RTimer with a deleted attribute");
            return -1;
        }
    }
    return 0;
}

/* timers.addtimer(p, t): push t under p's timer lock; 0 or -1. */
static int
addtimer(PyObject *p, PyObject *t)
{
    PyObject *lk = SLOT(p, tp_timerslock);
    if (lockacquire(lk, 1) < 0) {
        return -1;
    }
    int rc = pushtimer(p, t);
    return lockrelease(lk) < 0 ? -1 : rc;
}

PyDoc_STRVAR(addtimer_doc, "addtimer(p, t, /)\n--\n\ntimers.addtimer in C: arm RTimer t on P p.");

static PyObject *
addtimer_(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "addtimer(p, t)");
        return NULL;
    }
    if (timerargs(args[0], args[1]) < 0 || addtimer(args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(runtimers_doc,
"runtimers(p, now, blocking=True)\n--\n\ntimers.runtimers in C: run every timer of P p due at now.");

static PyObject *
runtimers_(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs < 2 || nargs + nkw > 3 ||
        (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "blocking") != 0)) {
        PyErr_SetString(PyExc_TypeError, "runtimers(p, now, blocking=True)");
        return NULL;
    }
    PyObject *p = args[0], *now = args[1];
    int blocking = nargs + nkw < 3 ? 1 : PyObject_IsTrue(args[2]);
    if (blocking < 0 || timerargs(p, NULL) < 0) {
        return NULL;
    }
    PyObject *lk = SLOT(p, tp_timerslock);
    int taken = lockacquire(lk, blocking);
    if (taken <= 0) {
        return taken < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *due = takedue(p, now);
    if (lockrelease(lk) < 0) {
        Py_XDECREF(due);
        return NULL;
    }
    if (due == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(due); i++) {  /* outside the lock, in deadline order */
        PyObject *t = PyList_GET_ITEM(due, i);
        PyObject *f = Py_NewRef(SLOT(t, t_f)), *arg = Py_NewRef(SLOT(t, t_arg));  /* held, as t.f(t.arg) */
        PyObject *r = PyObject_CallOneArg(f, arg);
        Py_DECREF(f);
        Py_DECREF(arg);
        if (r == NULL) {
            Py_DECREF(due);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(due);
    Py_RETURN_NONE;
}

/* A new RTimer(f, arg, when): the template's defaults, then these three (no __init__ frame). */
static PyObject *
newtimer(PyObject *f, PyObject *arg, PyObject *when)
{
    PyObject *t = fromtemplate(RTtype, rttemplate, rt_offsets, rt_nslots);
    if (t == NULL) {
        return NULL;
    }
    if (setslot(t, t_f, Py_NewRef(f)) < 0 || setslot(t, t_arg, Py_NewRef(arg)) < 0 ||
        setslot(t, t_when, Py_NewRef(when)) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

PyDoc_STRVAR(topwakes_doc,
"topwakes(allp, /)\n--\n\n"
"True if the earliest timer of some P in allp is live and readies a goroutine with no test\n"
"(its wakes is None); False: timers.anywaker must look.");

/* timers.anywaker(first=True)'s usual answer (a sleeper's timer at a heap's top), for the
 * check an idle M makes before every sleep (timers.timerwakes). The heaps are read without
 * their locks: this module runs under the GIL only, where a heap's top entry is never seen
 * half-made, and a top that another M is taking to fire readies its goroutine anyway. */
static PyObject *
topwakes(PyObject *self, PyObject *allp)
{
    if (RTtype == NULL || !PyList_CheckExact(allp)) {
        PyErr_SetString(PyExc_TypeError, "topwakes(allp): a list of Ps, after setup_timers");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(allp); i++) {
        PyObject *p = PyList_GET_ITEM(allp, i), *h;
        if (!PyObject_TypeCheck(p, TPtype) || !PyList_CheckExact(h = SLOT(p, tp_timers)) ||
            PyList_GET_SIZE(h) == 0) {
            continue;
        }
        PyObject *e = PyList_GET_ITEM(h, 0);
        int live = liveentry(p, e);
        if (live < 0) {
            return NULL;
        }
        if (live && SLOT(PyTuple_GET_ITEM(e, 3), t_wakes) == Py_None) {
            Py_RETURN_TRUE;
        }
    }
    Py_RETURN_FALSE;
}

PyDoc_STRVAR(setup_timers_doc,
"setup_timers(RTimer, P, template, rebuild, /)\n--\n\n"
"Bind timers.py's classes, a template RTimer and its heap rebuild; addtimer and runtimers refuse until then.");

static PyObject *
setup_timers(PyObject *self, PyObject *args)
{
    PyObject *rt, *pt, *tmpl, *rebuild;
    if (!PyArg_ParseTuple(args, "O!O!OO:setup_timers", &PyType_Type, &rt, &PyType_Type, &pt, &tmpl, &rebuild)) {
        return NULL;
    }
    PyTypeObject *r = (PyTypeObject *)rt, *q = (PyTypeObject *)pt;
    if (!Py_IS_TYPE(tmpl, r) || !PyCallable_Check(rebuild)) {
        PyErr_SetString(PyExc_TypeError, "setup_timers: template must be an RTimer, rebuild callable");
        return NULL;
    }
    Py_ssize_t *offs, n;
    if (setup_lock() < 0 || alloffsets(r, &offs, &n) < 0) {
        return NULL;
    }
    if (offset_of(r, "when", &t_when) || offset_of(r, "period", &t_period) || offset_of(r, "f", &t_f) ||
        offset_of(r, "arg", &t_arg) || offset_of(r, "pp", &t_pp) || offset_of(r, "active", &t_active) ||
        offset_of(r, "gen", &t_gen) || offset_of(r, "seq", &t_seq) || offset_of(r, "firing", &t_firing) ||
        offset_of(r, "wakes", &t_wakes) ||
        offset_of(q, "timers", &tp_timers) || offset_of(q, "timerslock", &tp_timerslock) ||
        offset_of(q, "timerzombies", &tp_timerzombies) || offset_of(q, "timer0when", &tp_timer0when)) {
        PyMem_Free(offs);
        return NULL;
    }
    PyMem_Free(rt_offsets);
    rt_offsets = offs;
    rt_nslots = n;
    Py_XSETREF(rttemplate, Py_NewRef(tmpl));
    Py_XSETREF(rtrebuild, Py_NewRef(rebuild));
    Py_XSETREF(TPtype, (PyTypeObject *)Py_NewRef(pt));
    Py_XSETREF(RTtype, (PyTypeObject *)Py_NewRef(rt));  /* last: set means set up */
    Py_RETURN_NONE;
}
