/* gosched._runtime._speedups: the go statement and a goroutine's resume in C.
 *
 * go(): Go's newproc fast path. send(): the scheduler's resume of a goroutine,
 * through PyIter_Send, which reports a return without raising StopIteration
 * (raising and catching it was a third of the cost of a goroutine that returns
 * at once); speedups.py describes the protocol. stack(): another thread's call
 * stack, for sysmon's blocking report (blame.py), read so that it cannot race.
 * Channel operations that need no park, and goready: _speedups_chan.h; schedule's
 * common rounds (its loop without a Python frame per switch): _speedups_sched.h;
 * WaitGroup.add and done that wake nobody: _speedups_sync.h.
 *
 * Why C: a spawn in Python is four frames (main.go, proc.newproc, G.__init__,
 * proc.goready) and ~210 bytecodes before the goroutine first runs, most of the
 * cost of a goroutine that does little. Go's newproc is a handful of stores;
 * this is that: take a goid from the M's cache, fill a G, put it in allgs and
 * make it the M's next goroutine (goready's runqput(next=true)), kicking the
 * previous one to the local run queue.
 *
 * The pure-Python path stays the definition. This function handles only the
 * common case (a goroutine on an M that holds its P, an ``async def``
 * function, a goid cache with ids left) and calls ``main.go`` for everything
 * else, with the same arguments; it calls back into Python for a goid batch
 * (``proc.newgoid``) and for ``proc.wakep``.
 *
 * Fields are read and written at the offsets of the classes' ``__slots__``
 * member descriptors, as CPython's specialised LOAD_ATTR_SLOT does, after an
 * exact type check; a G is filled from a template G built by ``G.__init__``,
 * so its defaults are defined once, in Python.
 *
 * GIL builds only (setup.py does not build it for a free-threaded CPython):
 * under the GIL this code runs without interleaving, except in the Python
 * calls named above, so each step is at least as atomic as the Python version.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* 3.11 only: creatorsite walks the interpreter's frames without making frame objects
 * (3.12+ has sys._getframemodulename for that, and _aio/task.py uses it). */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define GOSCHED_FRAMEWALK 1
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE
#endif

#define SPEEDUPS_VERSION 26

/* Set once by setup(); strong references kept for the process's lifetime. */
static int gobound;           /* setup_go ran: go() and the M fast paths are on */

static PyTypeObject *Mtype, *Ptype, *Stype, *Gtype;
static PyTypeObject *Htype;   /* goroutine.Goroutine: the handle go() returns */
static PyObject *gtemplate;   /* a G made by G.__init__: the defaults */
static PyObject *pygo;        /* main.go: every case this file does not handle */
static PyObject *newgoid;     /* proc.newgoid(sched, m) */
static PyObject *wakep;       /* proc.wakep(sched) */
static PyObject *str_append, *str_popleft, *str_fn;
static PyObject *exit_sentinel;  /* speedups.EXIT */
static PyObject *returned_type;  /* speedups.Returned */
static Py_ssize_t runq_size;
static Py_ssize_t *g_offsets; /* every slot of G, to copy from the template */
static Py_ssize_t g_nslots;

static Py_ssize_t m_sched, m_goidcache, m_goidcacheend, m_curg, m_p, m_lostp_since, m_readyq;
static Py_ssize_t s_dead, s_allgs, s_npidle, s_nmspinning, s_runq;
static Py_ssize_t p_runq;
static Py_ssize_t g_goid, g_coro, g_parentid, g_pc, g_pclasti, g_pcglobals;
static Py_ssize_t h_g, h_code;

/* The M running on this thread (traps.getm; Go's getg().m), None on threads that are not Ms.
 * Thread state, not context state: a task whose context last ran on another M needs no
 * rewrite of that context (a new HAMT kept per task, which the collector then had to walk). */
#if defined(_MSC_VER)
static __declspec(thread) PyObject *curm;
#else
static _Thread_local PyObject *curm;
#endif

/* This thread's M or None: a new reference, never NULL. */
static inline PyObject *
thism(void)
{
    return Py_NewRef(curm != NULL ? curm : Py_None);
}

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

/* Store v (a new reference, may be NULL on error) in a slot; 0 or -1. */
static inline int
setslot(PyObject *o, Py_ssize_t off, PyObject *v)
{
    if (v == NULL) {
        return -1;
    }
    PyObject *old = SLOT(o, off);
    SLOT(o, off) = v;
    Py_XDECREF(old);
    return 0;
}

static PyObject *int0;  /* 0: the cached small int, so a test for it is a compare */
static PyObject *int1;  /* 1 (PyInit) */

/* A dict's item, cached on the dict's version tag: CPython gives a dict a new tag, from a
 * counter no two dicts share, at its creation and at every change, so the same dict under
 * the same tag holds the same item. Module globals and the thread's state dict, read at
 * every step for what a test or a user may rebind, then cost a compare instead of a lookup
 * (~100 instructions). The item is borrowed: the dict holds it while its tag stands.
 * 3.11-3.13 keep ma_version_tag (deprecated from 3.12, gone in 3.14: a plain lookup there).
 * Under the GIL (this module's only build), a cache is read and written without interleaving. */
typedef struct {
    PyObject *dict;
    uint64_t ver;
    PyObject *val;
} dcache;

static inline PyObject *
dcget(dcache *c, PyObject *dict, PyObject *name)
{
#if PY_VERSION_HEX < 0x030E0000
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    uint64_t ver = ((PyDictObject *)dict)->ma_version_tag;
#pragma GCC diagnostic pop
    if (c->dict == dict && c->ver == ver) {
        return c->val;
    }
    PyObject *v = PyDict_GetItemWithError(dict, name);
    if (v != NULL) {
        c->dict = dict;
        c->ver = ver;
        c->val = v;
    }
    return v;
#else
    (void)c;
    return PyDict_GetItemWithError(dict, name);
#endif
}

/* bool(o), at the cost of a compare for the runtime's usual flags and counters. */
static inline int
truthy(PyObject *o)
{
    return o == Py_True ? 1 : (o == Py_False || o == Py_None || o == int0) ? 0 : PyObject_IsTrue(o);
}

/* The offset of a T_OBJECT_EX slot ``name`` of ``type``, or -1 with an error set. */
static Py_ssize_t
slot_offset(PyTypeObject *type, PyObject *name)
{
    PyObject *d = PyObject_GetAttr((PyObject *)type, name);
    if (d == NULL) {
        return -1;
    }
    Py_ssize_t off = -1;
    if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *def = ((PyMemberDescrObject *)d)->d_member;
        if (def->type == T_OBJECT_EX) {
            off = def->offset;
        }
    }
    Py_DECREF(d);
    if (off < 0) {
        PyErr_Format(PyExc_TypeError, "_speedups: %s.%U is not a __slots__ object slot",
                     type->tp_name, name);
    }
    return off;
}

static int
offset_of(PyTypeObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *s = PyUnicode_InternFromString(name);
    if (s == NULL) {
        return -1;
    }
    *out = slot_offset(type, s);
    Py_DECREF(s);
    return *out < 0 ? -1 : 0;
}

/* The offsets of every __slots__ entry of type (a new PyMem array in *offs), or -1. */
static int
alloffsets(PyTypeObject *type, Py_ssize_t **offs, Py_ssize_t *n)
{
    PyObject *slots = PyObject_GetAttrString((PyObject *)type, "__slots__");
    PyObject *seq = slots == NULL ? NULL : PySequence_Fast(slots, "__slots__ must be a sequence");
    Py_XDECREF(slots);
    if (seq == NULL) {
        return -1;
    }
    *n = PySequence_Fast_GET_SIZE(seq);
    *offs = PyMem_New(Py_ssize_t, *n);
    if (*offs == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (((*offs)[i] = slot_offset(type, PySequence_Fast_GET_ITEM(seq, i))) < 0) {
            PyMem_Free(*offs);
            *offs = NULL;
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

/* A new object of type with every slot copied from template (at offs): its defaults, set once
 * by the class's __init__, without an __init__ frame per object. */
static PyObject *
fromtemplate(PyTypeObject *type, PyObject *template, Py_ssize_t *offs, Py_ssize_t n)
{
    PyObject *o = type->tp_alloc(type, 0);
    if (o == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        SLOT(o, offs[i]) = Py_XNewRef(SLOT(template, offs[i]));
    }
    return o;
}

/* Call main.go with our arguments: the general case. */
static PyObject *
slow(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return PyObject_Vectorcall(pygo, args, (size_t)nargs, kwnames);
}

/* deque has no C API: its append, popleft and pop are called as the C functions
 * behind its method descriptors (PyInit checks their calling conventions), with no
 * attribute lookup or vectorcall per call (two to four per channel operation);
 * other queues by name. */
static PyTypeObject *dequetype;
static PyObject *deque_append, *deque_popleft;
static PyCFunction deque_append_fn, deque_popleft_fn, deque_pop_fn;

/* The C function of a deque method descriptor with calling convention flags, or NULL. */
static PyCFunction
cmethod(PyObject *descr, int flags)
{
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMethodDescr_Type)) {
        return NULL;
    }
    PyMethodDef *def = ((PyMethodDescrObject *)descr)->d_method;
    return (def->ml_flags & ~METH_COEXIST) == flags ? def->ml_meth : NULL;
}

/* q.append(v): 0 or -1. */
static int
append(PyObject *q, PyObject *v)
{
    PyObject *r = Py_IS_TYPE(q, dequetype) ? deque_append_fn(q, v) : PyObject_CallMethodOneArg(q, str_append, v);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* q.popleft(): a new reference, or NULL with an error (IndexError if empty). */
static PyObject *
popleft(PyObject *q)
{
    return Py_IS_TYPE(q, dequetype) ? deque_popleft_fn(q, NULL) : PyObject_CallMethodNoArgs(q, str_popleft);
}

/* len(q): a deque's is its ob_size. */
static inline Py_ssize_t
qlen(PyObject *q)
{
    return Py_IS_TYPE(q, dequetype) ? Py_SIZE(q) : PyObject_Length(q);
}

static int wakeidle(PyObject *sched);

/* goready(gp, sched, m) for an M that holds its P (m.p is p): gp becomes the
 * M's readied goroutine; the one readied before it goes to p's local queue,
 * or the global queue when that is full (runqput(next=true) kicking out the
 * old runnext). Then wakep if there is an idle P and nobody spinning. */
static int
ready(PyObject *gp, PyObject *sched, PyObject *m, PyObject *p)
{
    if (p != NULL) {
        PyObject *rq = SLOT(m, m_readyq);
        Py_ssize_t n = qlen(rq);
        if (n < 0) {
            return -1;
        }
        if (n > 0) {
            PyObject *old = popleft(rq);
            if (old == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_IndexError)) {  /* sysmon took it */
                    return -1;
                }
                PyErr_Clear();
            }
            else {
                PyObject *lq = SLOT(p, p_runq);
                Py_ssize_t ln = qlen(lq);
                int rc = ln < 0 ? -1 : append(ln < runq_size ? lq : SLOT(sched, s_runq), old);
                Py_DECREF(old);
                if (rc < 0) {
                    return -1;
                }
            }
        }
        if (append(rq, gp) < 0) {
            return -1;
        }
    }
    else if (append(SLOT(sched, s_runq), gp) < 0) {  /* globrunqput */
        return -1;
    }
    return wakeidle(sched);
}

/* After a goroutine became runnable: wakep if a P idles and nobody spins. 0 or -1. */
static int
wakeidle(PyObject *sched)
{
    int idle = truthy(SLOT(sched, s_npidle));
    if (idle < 0) {
        return -1;
    }
    if (idle) {
        int spinning = truthy(SLOT(sched, s_nmspinning));
        if (spinning < 0) {
            return -1;
        }
        if (!spinning) {
            PyObject *r = PyObject_CallOneArg(wakep, sched);
            if (r == NULL) {
                return -1;
            }
            Py_DECREF(r);
        }
    }
    return 0;
}

/* A goid from the M's batch, or a new batch from proc.newgoid. */
static PyObject *
take_goid(PyObject *sched, PyObject *m)
{
    PyObject *cache = SLOT(m, m_goidcache), *end = SLOT(m, m_goidcacheend);
    if (PyLong_CheckExact(cache) && PyLong_CheckExact(end)) {
        long long c = PyLong_AsLongLong(cache), e = PyLong_AsLongLong(end);
        if (c != e && !PyErr_Occurred()) {
            PyObject *gid = Py_NewRef(cache);
            if (setslot(m, m_goidcache, PyLong_FromLongLong(c + 1)) < 0) {
                Py_DECREF(gid);
                return NULL;
            }
            return gid;
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    return PyObject_CallFunctionObjArgs(newgoid, sched, m, NULL);
}

/* A new G for coro, created at frame f (or nowhere), by the goroutine cur. */
static PyObject *
newg(PyObject *gid, PyObject *coro, PyFrameObject *f, PyObject *cur)
{
    PyObject *gp = fromtemplate(Gtype, gtemplate, g_offsets, g_nslots);
    if (gp == NULL) {
        return NULL;
    }
    PyObject *parent = (cur != NULL && Py_IS_TYPE(cur, Gtype)) ? SLOT(cur, g_goid) : NULL;
    if (setslot(gp, g_goid, Py_NewRef(gid)) < 0 || setslot(gp, g_coro, Py_NewRef(coro)) < 0 ||
        (parent != NULL && setslot(gp, g_parentid, Py_NewRef(parent)) < 0)) {
        Py_DECREF(gp);
        return NULL;
    }
    if (f != NULL) {  /* the creation site: raw, as G.__init__ records it */
        if (setslot(gp, g_pc, (PyObject *)PyFrame_GetCode(f)) < 0 ||
            setslot(gp, g_pclasti, PyLong_FromLong(PyFrame_GetLasti(f))) < 0 ||
            setslot(gp, g_pcglobals, PyFrame_GetGlobals(f)) < 0) {
            Py_DECREF(gp);
            return NULL;
        }
    }
    return gp;
}

/* A G leaving allgs goes back on the cyclic collector's lists (go() took it off). */
static inline void
gctrack(PyObject *gp)
{
    if (!PyObject_GC_IsTracked(gp)) {
        PyObject_GC_Track(gp);
    }
}

PyDoc_STRVAR(gctrack_doc,
"gctrack(gp, /)\n--\n\n"
"Track G gp again with the cyclic collector, as it leaves allgs (go() untracked it).");

static PyObject *
gctrack_(PyObject *self, PyObject *gp)
{
    if (!Py_IS_TYPE(gp, Gtype)) {
        PyErr_SetString(PyExc_TypeError, "gctrack: not a G");
        return NULL;
    }
    gctrack(gp);
    Py_RETURN_NONE;
}

#ifdef GOSCHED_FRAMEWALK
/* Which code objects are asyncio's or the loop's (their module's name starts with one of the
 * prefixes): creatorsite walks past two frames per task made (asyncio.create_task's, then the
 * creator's), and a name lookup and a prefix match for each cost more than the rest of the
 * walk. A code object runs with its module's globals, so its answer does not change (task.py's
 * _inloop keeps it by code object too). Direct-mapped by address; an entry holds its code
 * object, so the address is not reused while cached. For one tuple of prefixes: another
 * empties it. */
#define SITEMEMO 16
static struct {
    PyObject *code;
    int skip;
} sitememo[SITEMEMO];
static PyObject *sitememoprefixes;

/* Whether the frame's module is asyncio's or the loop's: 1, 0, or -1 with an exception. */
static int
siteskip(_PyInterpreterFrame *f, PyObject *prefixes)
{
    static PyObject *str_name;
    if (str_name == NULL && (str_name = PyUnicode_InternFromString("__name__")) == NULL) {
        return -1;
    }
    if (prefixes != sitememoprefixes) {
        for (int i = 0; i < SITEMEMO; i++) {
            Py_CLEAR(sitememo[i].code);
        }
        Py_XSETREF(sitememoprefixes, Py_NewRef(prefixes));
    }
    PyObject *code = (PyObject *)f->f_code;
    size_t k = ((uintptr_t)code >> 6) % SITEMEMO;
    if (sitememo[k].code == code) {
        return sitememo[k].skip;
    }
    PyObject *name = PyDict_GetItemWithError(f->f_globals, str_name);
    if (name == NULL && PyErr_Occurred()) {
        return -1;
    }
    int skip = 0;
    for (Py_ssize_t i = 0; name != NULL && PyUnicode_Check(name) && !skip && i < PyTuple_GET_SIZE(prefixes); i++) {
        Py_ssize_t r = PyUnicode_Tailmatch(name, PyTuple_GET_ITEM(prefixes, i), 0, PY_SSIZE_T_MAX, -1);
        if (r < 0) {
            return -1;
        }
        skip = (int)r;
    }
    Py_XSETREF(sitememo[k].code, Py_NewRef(code));
    sitememo[k].skip = skip;
    return skip;
}

/* The first frame from the current one's depth-th caller on whose module is neither asyncio's
 * nor the loop's: 1 with *frame set, 0 if there is none, -1 with an exception. The current
 * frame and its callers, skipping incomplete frames as sys._getframe and f_back do. */
static int
framesite(PyObject *prefixes, Py_ssize_t depth, _PyInterpreterFrame **frame)
{
    _PyInterpreterFrame *f = PyThreadState_Get()->cframe->current_frame;
    for (; f != NULL; f = f->previous) {
        if (_PyFrame_IsIncomplete(f)) {
            continue;
        }
        if (depth > 0) {
            depth--;
            continue;
        }
        int skip = siteskip(f, prefixes);
        if (skip < 0) {
            return -1;
        }
        if (!skip) {
            *frame = f;
            return 1;
        }
    }
    return 0;
}

/* A frame's f_lasti, as frame.f_lasti reads it. */
static int
framelasti(_PyInterpreterFrame *f)
{
    int lasti = _PyInterpreterFrame_LASTI(f);
    return lasti < 0 ? -1 : lasti * (int)sizeof(_Py_CODEUNIT);
}

PyDoc_STRVAR(creatorsite_doc,
"creatorsite(prefixes, depth, /)\n--\n\n"
"_aio/task.py's creatorsite on 3.11: the first frame from the caller's depth-th caller on\n"
"whose module name starts with none of prefixes, as (f_code, f_lasti, f_globals); None if\n"
"there is none. No frame object is made: sys._getframe made one per task created.");

static PyObject *
creatorsite(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "creatorsite(prefixes: tuple, depth: int)");
        return NULL;
    }
    Py_ssize_t depth = PyLong_AsSsize_t(args[1]);
    if (depth < 0) {
        return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "creatorsite: depth < 0"), NULL);
    }
    _PyInterpreterFrame *f;
    int r = framesite(args[0], depth, &f);
    if (r <= 0) {
        return r < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *lasti = PyLong_FromLong(framelasti(f));
    PyObject *site = lasti == NULL ? NULL : PyTuple_Pack(3, (PyObject *)f->f_code, lasti, f->f_globals);
    Py_XDECREF(lasti);
    return site;
}
#endif

PyDoc_STRVAR(go_doc,
"go(fn, /, *args, **kwargs)\n--\n\n"
"Start ``fn(*args, **kwargs)`` as a new goroutine (Go's ``go`` statement).");

static PyObject *
go(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (!gobound || nargs < 1 || !PyFunction_Check(args[0])) {
        return slow(args, nargs, kwnames);
    }
    PyObject *fn = args[0];
    PyCodeObject *code = (PyCodeObject *)PyFunction_GET_CODE(fn);
    if (!(code->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE))) {
        return slow(args, nargs, kwnames);
    }
    if (kwnames != NULL) {  /* go(f, fn=...) is main.go's TypeError */
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            if (PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, i), str_fn) == 0) {
                return slow(args, nargs, kwnames);
            }
        }
    }
    PyObject *m = thism();
    PyObject *sched = Py_IS_TYPE(m, Mtype) ? SLOT(m, m_sched) : NULL;
    if (sched == NULL || !Py_IS_TYPE(sched, Stype) || SLOT(sched, s_dead) != Py_False ||
        !PyDict_CheckExact(SLOT(sched, s_allgs))) {
        Py_DECREF(m);
        return slow(args, nargs, kwnames);  /* no runtime, or not on an M */
    }
    Py_INCREF(code);  /* held: the calls below run Python code, which may set fn.__code__ */
    PyFrameObject *f = PyEval_GetFrame();  /* the caller's: go() itself has no frame */
    PyObject *coro = PyObject_Vectorcall(fn, args + 1, nargs - 1, kwnames);
    if (coro == NULL) {
        Py_DECREF(code);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *gp = NULL;
    PyObject *gid = take_goid(sched, m);
    if (gid != NULL) {
        gp = newg(gid, coro, f, SLOT(m, m_curg));
        if (gp != NULL && PyDict_SetItem(SLOT(sched, s_allgs), gid, gp) < 0) {
            Py_CLEAR(gp);
        }
        else if (gp != NULL) {
            /* allgs keeps a live G reachable, so the cyclic collector has nothing to find in
             * it; untracked, its 18 slots are not walked by every collection it survives
             * (a spawn-heavy loop queues thousands). goexit0 (gctrack) tracks it again as it
             * leaves allgs, so a cycle through a dead G is still collected. */
            PyObject_GC_UnTrack(gp);
        }
        Py_DECREF(gid);
    }
    if (gp != NULL) {
        /* The P is read last: the calls above run Python code, meanwhile sysmon may take it.
         * m.p itself is written only by this thread, so the borrowed P stays alive. */
        PyObject *p = SLOT(m, m_p);
        int lost = truthy(SLOT(m, m_lostp_since));
        if (lost || !Py_IS_TYPE(p, Ptype)) {
            p = NULL;  /* no P (or sysmon is taking it): the global queue, as goready */
        }
        if (lost < 0 || ready(gp, sched, m, p) < 0) {
            Py_CLEAR(gp);
        }
    }
    Py_DECREF(coro);
    Py_DECREF(m);
    if (gp == NULL) {
        Py_DECREF(code);
        return NULL;
    }
    /* The handle, filled as goroutine.Goroutine.__init__ does: it takes gp's reference. */
    PyObject *h = Htype->tp_alloc(Htype, 0);
    if (h == NULL) {
        Py_DECREF(code);
        Py_DECREF(gp);
        return NULL;
    }
    SLOT(h, h_g) = gp;
    SLOT(h, h_code) = (PyObject *)code;  /* fn's code is its coroutine's cr_code; takes the ref */
    return h;
}

PyDoc_STRVAR(send_doc,
"send(coro, value, /)\n--\n\n"
"Resume a goroutine's coroutine with value: what it yields, EXIT when it\n"
"returns None, Returned(v) when it returns v; its exceptions propagate.");

/* A return value as the resume reports it: EXIT, or Returned(v). Consumes v. */
static PyObject *
returned(PyObject *v)
{
    if (v == Py_None) {
        Py_DECREF(v);
        return Py_NewRef(exit_sentinel);
    }
    PyObject *r = PyObject_CallOneArg(returned_type, v);
    Py_DECREF(v);
    return r;
}

static PyObject *
send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || exit_sentinel == NULL) {
        PyErr_SetString(PyExc_TypeError, "send(coro, value) before setup_send");
        return NULL;
    }
    PyObject *result;
    switch (PyIter_Send(args[0], args[1], &result)) {
    case PYGEN_NEXT:
        return result;
    case PYGEN_RETURN:
        return returned(result);
    default:
        return NULL;
    }
}

PyDoc_STRVAR(setup_send_doc,
"setup_send(exit, returned, /)\n--\n\n"
"Bind speedups.EXIT and speedups.Returned; send() refuses to run until then.");

static PyObject *
setup_send(PyObject *self, PyObject *args)
{
    PyObject *ex, *rt;
    if (!PyArg_ParseTuple(args, "OO:setup_send", &ex, &rt)) {
        return NULL;
    }
    Py_XSETREF(returned_type, Py_NewRef(rt));
    Py_XSETREF(exit_sentinel, Py_NewRef(ex));
    Py_RETURN_NONE;
}

#include "_speedups_chan.h"  /* channel operations without a park, and goready */
#include "_speedups_timers.h"  /* the timer heap, and the lock helpers */
#include "_speedups_sched.h"  /* schedule's common rounds, and the SLEEP trap */
#include "_speedups_poll.h"  /* epoll_wait with a nanosecond timeout (netpoll_epoll.py) */
#include "_speedups_sync.h"  /* WaitGroup.add and done that wake nobody */
#include "_speedups_aio.h"  /* gosched._aio's task step and turn hand-off */
#include "_speedups_aioloop.h"  /* gosched._aio's call_soon and runhandle */

PyDoc_STRVAR(setup_go_doc,
"setup_go(M, P, Sched, G, Goroutine, template, runq_size, newgoid, wakep, pygo)\n--\n\n"
"Bind the runtime's classes and helpers; go() falls back to pygo until then.");

static PyObject *
setup_go(PyObject *self, PyObject *args)
{
    PyObject *tmpl, *ng, *wp, *pg;
    PyTypeObject *mt, *pt, *st, *gt, *ht;
    Py_ssize_t rs;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!OnOOO:setup_go", &PyType_Type, &mt, &PyType_Type, &pt,
                          &PyType_Type, &st, &PyType_Type, &gt, &PyType_Type, &ht, &tmpl, &rs, &ng, &wp,
                          &pg)) {
        return NULL;
    }
    if (!Py_IS_TYPE(tmpl, gt)) {
        PyErr_SetString(PyExc_TypeError, "setup_go: template must be a G");
        return NULL;
    }
    Py_ssize_t *offs, n;
    if (alloffsets(gt, &offs, &n) < 0) {
        return NULL;
    }
    if (offset_of(mt, "sched", &m_sched) || offset_of(mt, "goidcache", &m_goidcache) ||
        offset_of(mt, "goidcacheend", &m_goidcacheend) || offset_of(mt, "curg", &m_curg) ||
        offset_of(mt, "p", &m_p) || offset_of(mt, "lostp_since", &m_lostp_since) ||
        offset_of(mt, "readyq", &m_readyq) || offset_of(st, "dead", &s_dead) ||
        offset_of(st, "allgs", &s_allgs) || offset_of(st, "npidle", &s_npidle) ||
        offset_of(st, "nmspinning", &s_nmspinning) || offset_of(st, "runq", &s_runq) ||
        offset_of(pt, "runq", &p_runq) || offset_of(gt, "goid", &g_goid) ||
        offset_of(gt, "coro", &g_coro) || offset_of(gt, "parentid", &g_parentid) ||
        offset_of(gt, "pc", &g_pc) || offset_of(gt, "pclasti", &g_pclasti) ||
        offset_of(gt, "pcglobals", &g_pcglobals) || offset_of(ht, "_g", &h_g) ||
        offset_of(ht, "_code", &h_code)) {
        PyMem_Free(offs);
        return NULL;
    }
    PyMem_Free(g_offsets);
    g_offsets = offs;
    g_nslots = n;
    runq_size = rs;
    Py_XSETREF(Mtype, (PyTypeObject *)Py_NewRef(mt));
    Py_XSETREF(Ptype, (PyTypeObject *)Py_NewRef(pt));
    Py_XSETREF(Stype, (PyTypeObject *)Py_NewRef(st));
    Py_XSETREF(Gtype, (PyTypeObject *)Py_NewRef(gt));
    Py_XSETREF(Htype, (PyTypeObject *)Py_NewRef(ht));
    Py_XSETREF(gtemplate, Py_NewRef(tmpl));
    Py_XSETREF(newgoid, Py_NewRef(ng));
    Py_XSETREF(wakep, Py_NewRef(wp));
    Py_XSETREF(pygo, Py_NewRef(pg));
    gobound = 1;  /* last: go() takes the fast path from here */
    Py_RETURN_NONE;
}

PyDoc_STRVAR(goready_doc,
"goready(gp, /)\n--\n\n"
"proc.goready(gp) from an M: runnext on its P in C when it holds one (no tracing, gp not\n"
"sampled), else proc.goready itself (gosched.aio's turn hand-off, once per task step).");

static PyObject *
goready_(PyObject *self, PyObject *gp)
{
    if (pygoready == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups: goready before setup_chan");
        return NULL;
    }
    if (cgoready(gp) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(stack_doc,
"stack(ident, stop, limit)\n--\n\n"
"The call stack of thread ``ident``, innermost first, as (filename, lineno, qualname)\n"
"tuples: at most ``limit``, ending before the first frame whose code is in the tuple\n"
"``stop``. None if no thread has that ident.");

/* Why this cannot race with the thread it reads (issue 14): the caller holds the
 * GIL and nothing below releases it. Python code is the only way a GIL build lets
 * another thread run in the middle of a C function (the eval breaker), and the one
 * way Python code can run here is a collection triggered by an allocation: on 3.11
 * the allocation of a frame object (PyThreadState_GetFrame/PyFrame_GetBack
 * materialize one per frame) or of a tuple can run the collector, whose finalizers
 * can switch threads; the thread we read then pops the frame whose address
 * PyFrame_GetBack is holding, and the frame object it returns points into freed
 * stack memory (the "'int' object has no attribute 'f_code'" and the segfaults).
 * With the collector disabled for the walk (PyGC_Disable, as CPython's own fix for
 * sys._current_frames did, gh-106883) no Python code runs, so every frame stays on
 * its thread's stack until we return. The strong references we drop are to frame
 * and code objects their live frames also hold, so no deallocation runs either.
 * The thread list is walked as faulthandler.dump_traceback(all_threads=True) walks
 * it, under the GIL. */
static PyObject *
stack(PyObject *self, PyObject *args)
{
    unsigned long ident;
    PyObject *stop;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "kO!n:stack", &ident, &PyTuple_Type, &stop, &limit)) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    int gc_was_enabled = PyGC_Disable();
    PyThreadState *ts = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(PyThreadState_Get()));
    while (ts != NULL && ts->thread_id != ident) {
        ts = PyThreadState_Next(ts);
    }
    PyFrameObject *f = ts != NULL ? PyThreadState_GetFrame(ts) : NULL;
    while (f != NULL && PyList_GET_SIZE(out) < limit) {
        PyCodeObject *code = PyFrame_GetCode(f);
        int found = 0;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(stop); i++) {
            found |= PyTuple_GET_ITEM(stop, i) == (PyObject *)code;  /* identity: no __eq__ runs */
        }
        PyObject *t = found ? NULL : Py_BuildValue("(OiO)", code->co_filename, PyFrame_GetLineNumber(f),
                                                   code->co_qualname);
        Py_DECREF(code);
        if (found || t == NULL || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            break;
        }
        Py_DECREF(t);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    if (gc_was_enabled) {
        PyGC_Enable();
    }
    if (PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    if (ts == NULL) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

PyDoc_STRVAR(getm_doc,
"getm()\n--\n\n"
"The M running on this thread, or None on a thread that is not an M (traps.getm).");

static PyObject *
getm_(PyObject *self, PyObject *unused)
{
    return thism();
}

PyDoc_STRVAR(setm_doc,
"setm(m, /)\n--\n\n"
"Bind this thread to M m (None: not an M); only the thread itself does.");

static PyObject *
setm_(PyObject *self, PyObject *m)
{
    PyObject *old = curm;
    curm = m == Py_None ? NULL : Py_NewRef(m);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"getm", getm_, METH_NOARGS, getm_doc},
    {"setm", setm_, METH_O, setm_doc},
    {"gctrack", gctrack_, METH_O, gctrack_doc},
#ifdef GOSCHED_FRAMEWALK
    {"creatorsite", (PyCFunction)(void (*)(void))creatorsite, METH_FASTCALL, creatorsite_doc},
#endif
    {"go", (PyCFunction)(void (*)(void))go, METH_FASTCALL | METH_KEYWORDS, go_doc},
    {"setup_go", setup_go, METH_VARARGS, setup_go_doc},
    {"send", (PyCFunction)(void (*)(void))send, METH_FASTCALL, send_doc},
    {"resume", resume, METH_O, resume_doc},
    {"setup_send", setup_send, METH_VARARGS, setup_send_doc},
    {"stack", stack, METH_VARARGS, stack_doc},
    {"goready", goready_, METH_O, goready_doc},
    {"setup_chan", setup_chan, METH_VARARGS, setup_chan_doc},
    {"cround", (PyCFunction)(void (*)(void))cround, METH_FASTCALL, cround_doc},
    {"setup_sched", setup_sched, METH_O, setup_sched_doc},
    {"epoll_wait", epoll_wait_ns, METH_VARARGS, epoll_wait_doc},
    {"epoll_ctl", epoll_ctl_, METH_VARARGS, epoll_ctl_doc},
    {"recvbytes", (PyCFunction)(void (*)(void))recvbytes, METH_FASTCALL, recvbytes_doc},
    {"timerfd_create", timerfd_create_, METH_NOARGS, timerfd_create_doc},
    {"timerfd_settime", timerfd_settime_, METH_VARARGS, timerfd_settime_doc},
    {"setup_wg", setup_wg, METH_VARARGS, setup_wg_doc},
    {"addtimer", (PyCFunction)(void (*)(void))addtimer_, METH_FASTCALL, addtimer_doc},
    {"runtimers", (PyCFunction)(void (*)(void))runtimers_, METH_FASTCALL | METH_KEYWORDS, runtimers_doc},
    {"setup_timers", setup_timers, METH_VARARGS, setup_timers_doc},
    {"readytimer", readytimer, METH_O, readytimer_doc},
    {"topwakes", topwakes, METH_O, topwakes_doc},
    {"stepgive", (PyCFunction)(void (*)(void))stepgive, METH_FASTCALL, stepgive_doc},
    {"wake", (PyCFunction)(void (*)(void))wake, METH_FASTCALL, wake_doc},
    {"firststep", (PyCFunction)(void (*)(void))firststep, METH_FASTCALL, firststep_doc},
    {"setup_aio", setup_aio, METH_O, setup_aio_doc},
    {"runhandle", (PyCFunction)(void (*)(void))runhandle, METH_FASTCALL, runhandle_doc},
    {"_get_running_loop", runningloop, METH_NOARGS, runningloop_doc},
    {"get_running_loop", getrunningloop, METH_NOARGS, getrunningloop_doc},
    {"serveready", (PyCFunction)(void (*)(void))serveready, METH_FASTCALL, serveready_doc},
    {"setup_loop", (PyCFunction)(void (*)(void))setup_loop, METH_FASTCALL, setup_loop_doc},
    {"setup_transport", (PyCFunction)(void (*)(void))setup_transport, METH_FASTCALL, setup_transport_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "gosched._runtime._speedups",
    "The go statement, a goroutine's resume and another thread's stack in C (see speedups.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) {
        return NULL;
    }
    str_append = PyUnicode_InternFromString("append");
    str_popleft = PyUnicode_InternFromString("popleft");
    str_fn = PyUnicode_InternFromString("fn");
    PyObject *collections = PyImport_ImportModule("collections");
    dequetype = collections == NULL ? NULL : (PyTypeObject *)PyObject_GetAttrString(collections, "deque");
    Py_XDECREF(collections);
    deque_append = dequetype == NULL ? NULL : PyObject_GetAttrString((PyObject *)dequetype, "append");
    deque_popleft = dequetype == NULL ? NULL : PyObject_GetAttrString((PyObject *)dequetype, "popleft");
    deque_pop = dequetype == NULL ? NULL : PyObject_GetAttrString((PyObject *)dequetype, "pop");
    deque_append_fn = cmethod(deque_append, METH_O);
    deque_popleft_fn = cmethod(deque_popleft, METH_NOARGS);
    deque_pop_fn = cmethod(deque_pop, METH_NOARGS);
    str_tracing = PyUnicode_InternFromString("tracing");
    lock_token = PyLong_FromLong(1);
    int0 = PyLong_FromLong(0);
    int1 = PyLong_FromLong(1);
    intm1 = PyLong_FromLong(-1);
    if (str_append == NULL || str_popleft == NULL || str_fn == NULL || str_tracing == NULL ||
        deque_append == NULL || deque_popleft == NULL || deque_pop == NULL || !PyType_Check(dequetype) ||
        deque_append_fn == NULL || deque_popleft_fn == NULL || deque_pop_fn == NULL ||
        lock_token == NULL || int0 == NULL || int1 == NULL || intm1 == NULL || PyType_Ready(&ChanOp_Type) < 0 ||
        PyModule_AddIntConstant(mod, "VERSION", SPEEDUPS_VERSION) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
