/* gosched._runtime._speedups, part 2 (included by _speedups.c): channel operations
 * that complete without parking, and goready.
 *
 * Chan.send, Chan.recv, Chan.recv_ok and Chan.__anext__ become method descriptors
 * returning a ChanOp: an awaitable that does nothing until it is first resumed
 * (like the coroutine it stands for: ``go(ch.recv())`` receives in the new
 * goroutine). Resumed, it takes the channel's lock and finishes the operation
 * the way chan.py does when that needs no park: a waiting partner (Go's
 * send/recv straight to the parked goroutine, then goready), buffer room, or a
 * buffered item. It returns at once, with no coroutine frame. A goroutine that
 * must park (Go's gopark in chansend/chanrecv, a goroutine waiting as its own
 * sudog) parks here too, as chan.py does: it queues its G, yields the PARK trap
 * with the channel lock held, and on its resume finishes as the generator does
 * after its yield (chan._closed for a receive the close woke). Everything else
 * (the lock is taken, the channel is closed, no goroutine on an M, sysmon asked
 * for a preemption) runs chan.py's generator instead, from the start: the C
 * attempt changes nothing before it decides to fall back, so the Python
 * generator stays the definition. A parked operation's ``gi_yieldfrom`` is
 * that generator, unstarted, so that dumps name ``Chan.recv`` as before.
 *
 * Locking: a runtime lock is a list holding one token while free (lock.py). It
 * is taken here by dropping the token in place, which under the GIL is as
 * atomic as list.pop; a lock that is held is not waited for here (chan.py's
 * lockslow does that). This file is built for GIL CPythons only (setup.py).
 */

static PyTypeObject *Sudogtype, *SelWaittype;
static PyObject *preempted;      /* traps.preempted: non-empty while sysmon asks a goroutine to yield */
static PyObject *pygoready;      /* proc.goready: every goready this file does not finish */
static PyObject *procdict;       /* proc's globals: ``tracing`` */
static PyObject *grunnable;      /* runtime2.Grunnable */
static PyObject *pyops[4];       /* chan.py's generators: send, recv_ok, recv, __anext__ */
static PyObject *pyclosed;       /* chan._closed(c, mode): a receive that found the channel closed */
static PyObject *sendclosed;     /* errors.ClosedChannelError */
static PyObject *reasons[2];     /* waitReasonChanSend, waitReasonChanReceive */
static PyObject *parktrap;       /* traps.PARK */
static PyObject *modes[4];       /* chan.py's end-of-stream modes, by op (send: unused) */
static PyObject *str_tracing, *lock_token;
static Py_ssize_t c_lock, c_buf, c_closed, c_dataqsiz, c_recvq, c_sendq;
static Py_ssize_t sg_g, sg_sel, sg_elem, sg_success, sw_tok, sw_fired;
static Py_ssize_t g_elem, g_success, g_status, g_trackingstamp, g_blockedon;

enum { OP_SEND, OP_RECV_OK, OP_RECV, OP_NEXT };

/* lock(lk) if it is free: 1 taken, 0 held by someone (the caller falls back). */
static int
trylock(PyObject *lk)
{
    if (!PyList_CheckExact(lk) || PyList_GET_SIZE(lk) == 0) {
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(lk) - 1;
    PyObject *tok = PyList_GET_ITEM(lk, n);
    Py_SET_SIZE(lk, n);  /* list.pop() without shrinking the allocation: unlock appends again */
    Py_DECREF(tok);
    return 1;
}

static int
unlock(PyObject *lk)
{
    Py_ssize_t n = PyList_GET_SIZE(lk);
    if (n < ((PyListObject *)lk)->allocated) {  /* list.append in place: trylock kept the room */
        PyList_SET_ITEM(lk, n, Py_NewRef(lock_token));
        Py_SET_SIZE(lk, n + 1);
        return 0;
    }
    return PyList_Append(lk, lock_token);
}

/* proc.tracing (borrowed), or NULL: with NameError if proc has none. */
static PyObject *
proctracing(void)
{
    static dcache cache;
    PyObject *t = dcget(&cache, procdict, str_tracing);
    if (t == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_NameError, "name 'tracing' is not defined");
    }
    return t;
}

static PyObject *str_nanotime;

/* gp becomes runnable: if it is sampled for /sched/latencies (trackingstamp set), from now
 * on the runtime's clock (proc.nanotime), as goready stamps it. 0 or -1. */
static int
stamprunnable(PyObject *gp)
{
    int t = truthy(SLOT(gp, g_trackingstamp));
    if (t <= 0) {
        return t;
    }
    static dcache cache;
    PyObject *f = dcget(&cache, procdict, str_nanotime);
    if (f == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_NameError, "name 'nanotime' is not defined");
        }
        return -1;
    }
    return setslot(gp, g_trackingstamp, PyObject_CallNoArgs(f));
}

/* goready(gp) (proc.goready) for the common case, an M holding its P with no
 * tracing; proc.goready for all the others. */
static int
cgoready(PyObject *gp)
{
    PyObject *m = gobound && Py_IS_TYPE(gp, Gtype) ? thism() : NULL;
    if (m != NULL && Py_IS_TYPE(m, Mtype)) {
        PyObject *p = SLOT(m, m_p), *sched = SLOT(m, m_sched);
        PyObject *tracing = proctracing();
        int lost = truthy(SLOT(m, m_lostp_since));
        if (tracing == Py_False && lost == 0 && Py_IS_TYPE(p, Ptype) && Py_IS_TYPE(sched, Stype)) {
            int rc = stamprunnable(gp) < 0 || setslot(gp, g_status, Py_NewRef(grunnable)) < 0
                         ? -1 : ready(gp, sched, m, p);
            Py_DECREF(m);
            return rc;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(m);
            return -1;
        }
    }
    Py_XDECREF(m);
    PyObject *r = PyObject_CallOneArg(pygoready, gp);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Pop the first waiter of q that can still be woken (chan.dequeue): a G, or a
 * Sudog whose select this claims (SelectWait.claim). NULL with no error: none. */
static PyObject *
dequeue(PyObject *q)
{
    for (;;) {
        Py_ssize_t n = qlen(q);
        if (n <= 0) {
            return NULL;
        }
        PyObject *w = popleft(q);
        if (w == NULL || !Py_IS_TYPE(w, Sudogtype)) {
            return w;
        }
        PyObject *sel = SLOT(w, sg_sel);
        PyObject *tok = Py_IS_TYPE(sel, SelWaittype) ? SLOT(sel, sw_tok) : NULL;
        if (tok == NULL || !PyList_CheckExact(tok)) {
            Py_DECREF(w);
            PyErr_SetString(PyExc_TypeError, "_speedups: a Sudog without its SelectWait");
            return NULL;
        }
        if (trylock(tok)) {  /* the CAS of g.selectDone: the token is taken for good */
            if (setslot(sel, sw_fired, Py_NewRef(w)) < 0) {
                Py_DECREF(w);
                return NULL;
            }
            return w;
        }
        Py_DECREF(w);  /* that select was won by another case */
    }
}

/* Waiter w's elem (unless NULL) and success = True (a G's, or a Sudog's). */
static int
setwaiter(PyObject *w, PyObject *elem)
{
    if (Py_IS_TYPE(w, Sudogtype)) {
        return (elem != NULL && setslot(w, sg_elem, Py_NewRef(elem)) < 0) ? -1
               : setslot(w, sg_success, Py_NewRef(Py_True));
    }
    if (Gtype != NULL && Py_IS_TYPE(w, Gtype)) {
        return (elem != NULL && setslot(w, g_elem, Py_NewRef(elem)) < 0) ? -1
               : setslot(w, g_success, Py_NewRef(Py_True));
    }
    if (elem != NULL && PyObject_SetAttrString(w, "elem", elem) < 0) {
        return -1;
    }
    return PyObject_SetAttrString(w, "success", Py_True);
}

static PyObject *
waiterelem(PyObject *w)
{
    if (Py_IS_TYPE(w, Sudogtype)) {
        return Py_NewRef(SLOT(w, sg_elem));
    }
    if (Gtype != NULL && Py_IS_TYPE(w, Gtype)) {
        return Py_NewRef(SLOT(w, g_elem));
    }
    return PyObject_GetAttrString(w, "elem");
}

/* Unlock lk, then goready waiter w's goroutine; consumes w. */
static int
unlock_ready(PyObject *lk, PyObject *w)
{
    PyObject *gp = Py_IS_TYPE(w, Sudogtype) ? SLOT(w, sg_g) : w;
    Py_INCREF(gp);
    Py_DECREF(w);
    int rc = unlock(lk) < 0 ? -1 : cgoready(gp);
    Py_DECREF(gp);
    return rc;
}

/* Go's chansend when it needs no park, lock held: 1 sent, 0 it must park or
 * panic (nothing changed), -1 error. */
static int
sendnow(PyObject *c, PyObject *v, PyObject *lk)
{
    PyObject *w = dequeue(SLOT(c, c_recvq));
    if (w != NULL) {
        if (setwaiter(w, v) < 0) {
            Py_DECREF(w);
            return -1;
        }
        return unlock_ready(lk, w) < 0 ? -1 : 1;  /* straight to the parked receiver */
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *buf = SLOT(c, c_buf);
    Py_ssize_t n = qlen(buf), cap = PyLong_AsSsize_t(SLOT(c, c_dataqsiz));
    if (n < 0 || (cap < 0 && PyErr_Occurred())) {
        return -1;
    }
    if (n < cap) {
        return append(buf, v) < 0 || unlock(lk) < 0 ? -1 : 1;
    }
    return 0;
}

/* Go's chanrecv when it needs no park, lock held: 1 with *out set, 0 it must
 * park or the channel is closed and drained (nothing changed), -1 error. */
static int
recvnow(PyObject *c, PyObject *lk, PyObject **out)
{
    PyObject *buf = SLOT(c, c_buf);
    PyObject *w = dequeue(SLOT(c, c_sendq));
    if (w != NULL) {  /* chan.recvfrom: from the sender, or the buffer's head and the sender's to its tail */
        PyObject *elem = waiterelem(w), *v = NULL;
        if (elem != NULL && PyObject_IsTrue(SLOT(c, c_dataqsiz)) == 1) {
            v = popleft(buf);
            if (v != NULL && append(buf, elem) < 0) {
                Py_CLEAR(v);
            }
            Py_DECREF(elem);
        }
        else {
            v = elem;
        }
        if (v == NULL || setwaiter(w, NULL) < 0) {
            Py_XDECREF(v);
            Py_DECREF(w);
            return -1;
        }
        *out = v;
        if (unlock_ready(lk, w) < 0) {
            Py_CLEAR(*out);
            return -1;
        }
        return 1;
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    Py_ssize_t n = qlen(buf);
    if (n < 0) {
        return -1;
    }
    if (n > 0) {
        *out = popleft(buf);
        return *out == NULL || unlock(lk) < 0 ? -1 : 1;
    }
    return 0;
}

/* The awaitable a channel method returns: the operation, run when first resumed. */
typedef struct {
    PyObject_HEAD
    PyObject *c;    /* the channel */
    PyObject *v;    /* the value to send (OP_SEND), else NULL */
    PyObject *gen;  /* chan.py's generator, once the operation fell back to it (or a dump asked) */
    PyObject *g;    /* the G parked here (cpark), until its resume */
    int op;
    int done;       /* finished without the generator */
} ChanOp;

static PyTypeObject ChanOp_Type;

/* Freed operations kept for the next (a free list, as CPython keeps for its own
 * short-lived objects): otherwise every send and receive costs an allocation, a
 * free and a step toward the next generation-0 collection. A kept operation stays
 * on the collector's lists, alive with one reference (the free list's) and no
 * fields: leaving the lists and joining them again, and a new reference's setup,
 * were 120 of a fan-in item's 1,339 instructions (two operations). The collector visits nothing
 * through a kept operation and, with that reference from outside its lists, never
 * takes it for garbage. Not in builds that trace references (Py_TRACE_REFS forgets
 * an object before its dealloc). Safe under the GIL only, as this whole file. */
#if defined(Py_TRACE_REFS) || defined(Py_REF_DEBUG)
#define OPFREE 0
#else
#define OPFREE 16
#endif
static ChanOp *opfree[OPFREE > 0 ? OPFREE : 1];
static int nopfree;

static PyObject *
newop(PyObject *c, PyObject *v, int op)
{
    ChanOp *o = NULL;
    while (o == NULL && nopfree > 0) {
        o = opfree[--nopfree];
        if (Py_REFCNT(o) != 1) {  /* also held elsewhere (gc.get_objects()): theirs now */
            Py_DECREF(o);
            o = NULL;
        }
    }
    int fresh = o == NULL;
    if (fresh && (o = PyObject_GC_New(ChanOp, &ChanOp_Type)) == NULL) {
        return NULL;
    }
    o->c = Py_NewRef(c);
    o->v = Py_XNewRef(v);
    o->gen = NULL;
    o->g = NULL;
    o->op = op;
    o->done = 0;
    if (fresh) {
        PyObject_GC_Track(o);
    }
    return (PyObject *)o;
}

/* gopark, as chan.py's generator parks (lock held): the calling goroutine waits as
 * its own sudog on the channel's queue, and the PARK trap (*out) has its M's loop
 * unlock the channel once it is off the CPU. 1 parked, 0 no goroutine on an M
 * here (the generator says so), -1 error. */
static int
cpark(ChanOp *o, PyObject *lk, PyObject **out)
{
    PyObject *m, *c = o->c;
    if (!gobound) {
        return 0;
    }
    m = thism();
    PyObject *cur = Py_IS_TYPE(m, Mtype) ? SLOT(m, m_curg) : NULL;
    if (cur == NULL || !Py_IS_TYPE(cur, Gtype)) {
        Py_DECREF(m);
        return 0;
    }
    Py_INCREF(cur);
    Py_DECREF(m);
    int send = o->op == OP_SEND;
    PyObject *trap = PyTuple_Pack(3, parktrap, lk, reasons[!send]);  /* first: if it fails, nothing changed */
    if (trap == NULL) {
        Py_DECREF(cur);
        return -1;
    }
    /* As chan.py: the fields, then the queue (a waker may take cur from there at once). */
    if (setslot(cur, g_elem, Py_NewRef(send ? o->v : Py_None)) < 0 ||
        setslot(cur, g_success, Py_NewRef(Py_False)) < 0 || setslot(cur, g_blockedon, Py_NewRef(c)) < 0 ||
        append(SLOT(c, send ? c_sendq : c_recvq), cur) < 0) {
        Py_DECREF(trap);
        Py_DECREF(cur);
        return -1;
    }
    *out = trap;
    o->g = cur;
    return 1;
}

/* The operation without the generator: 1 done (*out: its result), 2 parked (*out: the
 * trap), 0 fall back, -1 error. */
static int
opnow(ChanOp *o, PyObject **out)
{
    PyObject *c = o->c, *lk = SLOT(c, c_lock);
    if (PySet_GET_SIZE(preempted) > 0 || !trylock(lk)) {
        return 0;  /* chan.py yields to sysmon's request after the operation; lockslow */
    }
    int rc, closed = SLOT(c, c_closed) != Py_False;
    PyObject *v = NULL;
    if (o->op == OP_SEND) {
        rc = closed ? 0 : sendnow(c, o->v, lk);  /* closed: chan.py panics */
        v = Py_NewRef(Py_None);
    }
    else {
        rc = recvnow(c, lk, &v);
    }
    if (rc == 0 && !closed) {  /* it must park */
        rc = cpark(o, lk, out);
        if (rc != 0) {
            Py_XDECREF(v);
            return rc < 0 ? (unlock(lk), -1) : 2;
        }
    }
    if (rc == 0 && unlock(lk) < 0) {
        rc = -1;
    }
    if (rc == 1 && o->op == OP_RECV_OK) {
        Py_SETREF(v, PyTuple_Pack(2, v, Py_True));
        rc = v == NULL ? -1 : 1;
    }
    if (rc == 1) {
        *out = v;
    }
    else {
        Py_XDECREF(v);
    }
    return rc;
}

/* chan.py's generator for the operation (made once): what runs every case opnow does not. */
static PyObject *
fallback(ChanOp *o)
{
    if (o->gen == NULL && o->c == NULL) {  /* cleared by the collector (tp_clear) */
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return NULL;
    }
    if (o->gen == NULL) {
        PyObject *g = o->op == OP_SEND ? PyObject_CallFunctionObjArgs(pyops[OP_SEND], o->c, o->v, NULL)
                                       : PyObject_CallOneArg(pyops[o->op], o->c);
        if (o->gen == NULL) {
            o->gen = g;
        }
        else {  /* made meanwhile by another thread (a dump reading gi_yieldfrom): keep that one */
            Py_XDECREF(g);
        }
    }
    return o->gen;
}

/* The parked goroutine resumed: finish as chan.py's generator does after its yield. */
static PySendResult
unpark(ChanOp *o, PyObject **result)
{
    PyObject *cur = o->g;
    o->g = NULL;
    o->done = 1;
    PyObject *v = o->op == OP_SEND ? Py_NewRef(Py_None) : Py_NewRef(SLOT(cur, g_elem));
    int ok = SLOT(cur, g_success) == Py_True;
    if (setslot(cur, g_blockedon, Py_NewRef(Py_None)) < 0 || setslot(cur, g_elem, Py_NewRef(Py_None)) < 0) {
        ok = -1;
    }
    Py_DECREF(cur);
    if (ok == 1 && o->op == OP_RECV_OK) {
        Py_SETREF(v, PyTuple_Pack(2, v, Py_True));
    }
    else if (ok == 0) {  /* the close woke it */
        Py_SETREF(v, o->op == OP_SEND ? (PyErr_SetString(sendclosed, "send on closed channel"), NULL)
                                      : PyObject_CallFunctionObjArgs(pyclosed, o->c, modes[o->op], NULL));
    }
    if (ok < 0) {
        Py_CLEAR(v);
    }
    *result = v;
    return v == NULL ? PYGEN_ERROR : PYGEN_RETURN;
}

static PySendResult
op_send(ChanOp *o, PyObject *arg, PyObject **result)
{
    *result = NULL;
    if (o->g != NULL) {
        return unpark(o, result);
    }
    if (o->done) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (o->gen == NULL) {
        if (o->c == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
            return PYGEN_ERROR;
        }
        int rc = opnow(o, result);
        if (rc == 2) {
            return PYGEN_NEXT;  /* the PARK trap, to the M's loop */
        }
        if (rc != 0) {
            o->done = 1;
            return rc < 0 ? PYGEN_ERROR : PYGEN_RETURN;
        }
        if (fallback(o) == NULL) {
            return PYGEN_ERROR;
        }
    }
    return PyIter_Send(o->gen, arg, result);
}

/* A result of op_send as a generator's send() and __next__ report it. */
static PyObject *
op_result(PySendResult r, PyObject *result)
{
    if (r != PYGEN_RETURN) {
        return result;
    }
    /* None: NULL without an exception, which iteration and await read as a return of None
     * without making a StopIteration (3.12's SEND resumes through tp_iternext). */
    if (result != Py_None) {  /* StopIteration(result), wrapped: a tuple must not become its args */
        PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, result);
        if (e != NULL) {
            PyErr_SetObject(PyExc_StopIteration, e);
            Py_DECREF(e);
        }
    }
    Py_DECREF(result);
    return NULL;
}

static PyObject *
op_iternext(ChanOp *o)
{
    PyObject *result;
    PySendResult r = op_send(o, Py_None, &result);
    return op_result(r, result);
}

static PyObject *
op_sendmeth(ChanOp *o, PyObject *arg)
{
    PyObject *result;
    PySendResult r = op_send(o, arg, &result);
    return op_result(r, result);
}

/* throw and close go to chan.py's generator; made unstarted if need be, it
 * raises the thrown exception at once and closes quietly, as a coroutine does. */
static PyObject *
op_delegate(ChanOp *o, const char *name, PyObject *args)
{
    PyObject *gen = fallback(o);
    PyObject *meth = gen == NULL ? NULL : PyObject_GetAttrString(gen, name);
    if (meth == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_Call(meth, args, NULL);
    Py_DECREF(meth);
    return r;
}

/* A parked operation thrown into or closed ends where chan.py's generator would, at
 * its yield (nothing runs after it there): as an unstarted generator does. */
static void
unparked(ChanOp *o)
{
    Py_CLEAR(o->g);
}

static PyObject *
op_throw(ChanOp *o, PyObject *args)
{
    unparked(o);
    return op_delegate(o, "throw", args);
}

static PyObject *
op_close(ChanOp *o, PyObject *Py_UNUSED(ignored))
{
    unparked(o);
    if (o->gen == NULL && (o->done || o->c == NULL)) {
        Py_RETURN_NONE;  /* finished: nothing to close */
    }
    PyObject *args = PyTuple_New(0);
    PyObject *r = args == NULL ? NULL : op_delegate(o, "close", args);
    Py_XDECREF(args);
    return r;
}

static PyObject *
op_await(PyObject *o)
{
    return Py_NewRef(o);
}

/* For tracebacks (traceback.coro_frames): the generator's frame is the goroutine's;
 * parked in C, the generator unstarted (its frame names the operation). */
static PyObject *
op_yieldfrom(ChanOp *o, void *Py_UNUSED(closure))
{
    if (o->g != NULL && fallback(o) == NULL) {
        return NULL;
    }
    return Py_NewRef(o->gen != NULL ? o->gen : Py_None);
}

static int
op_traverse(ChanOp *o, visitproc visit, void *arg)
{
    Py_VISIT(o->c);
    Py_VISIT(o->v);
    Py_VISIT(o->gen);
    Py_VISIT(o->g);
    return 0;
}

static int
op_clear(ChanOp *o)
{
    Py_CLEAR(o->c);
    Py_CLEAR(o->v);
    Py_CLEAR(o->gen);
    Py_CLEAR(o->g);
    return 0;
}

static void
op_dealloc(ChanOp *o)
{
    if (nopfree < OPFREE) {  /* kept: alive again, still tracked (newop's comment) */
        /* Held here while the fields are cleared: that can run finalizers, and a
         * collection they start must find a live object, not a zero count. */
        Py_SET_REFCNT(o, 1);
        op_clear(o);
        if (nopfree < OPFREE) {
            opfree[nopfree++] = o;  /* the reference is the free list's */
        }
        else {
            Py_DECREF(o);  /* the finalizers filled the list: dealloc again, the other way */
        }
        return;
    }
    PyObject_GC_UnTrack(o);
    op_clear(o);
    PyObject_GC_Del(o);
}

static PyMethodDef op_methods[] = {
    {"send", (PyCFunction)op_sendmeth, METH_O, NULL},
    {"throw", (PyCFunction)op_throw, METH_VARARGS, NULL},
    {"close", (PyCFunction)op_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef op_getset[] = {
    {"gi_yieldfrom", (getter)op_yieldfrom, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods op_async = {
    .am_await = op_await,
    .am_send = (sendfunc)op_send,
};

static PyTypeObject ChanOp_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gosched._runtime._speedups.ChanOp",
    .tp_doc = "A channel operation (Chan.send, recv, recv_ok, __anext__), run when awaited.",
    .tp_basicsize = sizeof(ChanOp),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)op_dealloc,
    .tp_traverse = (traverseproc)op_traverse,
    .tp_clear = (inquiry)op_clear,
    .tp_as_async = &op_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)op_iternext,
    .tp_methods = op_methods,
    .tp_getset = op_getset,
};

/* The methods installed on Chan (method descriptors, bound like functions). */
static PyObject *
chan_send(PyObject *c, PyObject *v)
{
    return newop(c, v, OP_SEND);
}

static PyObject *
chan_recv_ok(PyObject *c, PyObject *Py_UNUSED(ignored))
{
    return newop(c, NULL, OP_RECV_OK);
}

static PyObject *
chan_recv(PyObject *c, PyObject *Py_UNUSED(ignored))
{
    return newop(c, NULL, OP_RECV);
}

static PyObject *
chan_anext(PyObject *c, PyObject *Py_UNUSED(ignored))
{
    return newop(c, NULL, OP_NEXT);
}

/* Chan's am_anext slot: ``async for`` asks for each item through it (GET_ANEXT). */
static PyObject *
chan_anext_slot(PyObject *c)
{
    return newop(c, NULL, OP_NEXT);
}

/* Put methods defs[:n] on type t with docstrings docs[:n] (strings, copied: kept for the
 * process's lifetime, as the method descriptors are). 0 or -1. */
static int
setmethods(PyTypeObject *t, PyMethodDef *defs, PyObject *docs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *doc = PyUnicode_AsUTF8(PyTuple_GET_ITEM(docs, i));
        char *copy = doc == NULL ? NULL : PyMem_Malloc(strlen(doc) + 1);
        if (copy == NULL) {
            return doc == NULL ? -1 : (PyErr_NoMemory(), -1);
        }
        strcpy(copy, doc);
        defs[i].ml_doc = copy;
        PyObject *d = PyDescr_NewMethod(t, &defs[i]);
        int rc = d == NULL ? -1 : PyObject_SetAttrString((PyObject *)t, defs[i].ml_name, d);
        Py_XDECREF(d);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* Docstrings: the Python generators', with a text signature (setup_chan copies them in). */
static PyMethodDef chan_methods[] = {
    {"send", (PyCFunction)chan_send, METH_O, NULL},
    {"recv_ok", (PyCFunction)chan_recv_ok, METH_NOARGS, NULL},
    {"recv", (PyCFunction)chan_recv, METH_NOARGS, NULL},
    {"__anext__", (PyCFunction)chan_anext, METH_NOARGS, NULL},
};

PyDoc_STRVAR(setup_chan_doc,
"setup_chan(Chan, Sudog, SelectWait, G, preempted, goready, procglobals, Grunnable, ops, docs, park)\n--\n\n"
"Bind chan.py's classes, helpers and generators (ops: send, recv_ok, recv, __anext__);\n"
"park: (PARK, waitReasonChanSend, waitReasonChanReceive, chan._closed, ClosedChannelError,\n"
"(mode of recv_ok, recv, __anext__)) for a park in C.\n"
"sets the C methods on Chan with those docstrings, and Chan's am_anext slot.");

static PyObject *
setup_chan(PyObject *self, PyObject *args)
{
    PyTypeObject *ct, *sgt, *swt, *gt;
    PyObject *pre, *gr, *pd, *grun, *ops, *docs, *pk, *md;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!OO!OO!O!O!:setup_chan", &PyType_Type, &ct, &PyType_Type, &sgt,
                          &PyType_Type, &swt, &PyType_Type, &gt, &PySet_Type, &pre, &gr, &PyDict_Type, &pd,
                          &grun, &PyTuple_Type, &ops, &PyTuple_Type, &docs, &PyTuple_Type, &pk)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(ops) != 4 || PyTuple_GET_SIZE(docs) != 4 || PyTuple_GET_SIZE(pk) != 6 ||
        !PyTuple_Check(md = PyTuple_GET_ITEM(pk, 5)) || PyTuple_GET_SIZE(md) != 3) {
        PyErr_SetString(PyExc_TypeError, "setup_chan: ops and docs are for (send, recv_ok, recv, __anext__); "
                                         "park is (PARK, send reason, receive reason, _closed, error, modes)");
        return NULL;
    }
    if (offset_of(ct, "lock", &c_lock) || offset_of(ct, "buf", &c_buf) || offset_of(ct, "closed", &c_closed) ||
        offset_of(ct, "dataqsiz", &c_dataqsiz) || offset_of(ct, "recvq", &c_recvq) ||
        offset_of(ct, "sendq", &c_sendq) || offset_of(sgt, "g", &sg_g) || offset_of(sgt, "sel", &sg_sel) ||
        offset_of(sgt, "elem", &sg_elem) || offset_of(sgt, "success", &sg_success) ||
        offset_of(swt, "tok", &sw_tok) || offset_of(swt, "fired", &sw_fired) ||
        offset_of(gt, "elem", &g_elem) || offset_of(gt, "success", &g_success) ||
        offset_of(gt, "status", &g_status) || offset_of(gt, "trackingstamp", &g_trackingstamp) ||
        offset_of(gt, "blockedon", &g_blockedon)) {
        return NULL;
    }
    Py_XSETREF(Sudogtype, (PyTypeObject *)Py_NewRef(sgt));
    Py_XSETREF(SelWaittype, (PyTypeObject *)Py_NewRef(swt));
    Py_XSETREF(preempted, Py_NewRef(pre));
    Py_XSETREF(pygoready, Py_NewRef(gr));
    Py_XSETREF(procdict, Py_NewRef(pd));
    if (str_nanotime == NULL && (str_nanotime = PyUnicode_InternFromString("nanotime")) == NULL) {
        return NULL;
    }
    Py_XSETREF(grunnable, Py_NewRef(grun));
    Py_XSETREF(parktrap, Py_NewRef(PyTuple_GET_ITEM(pk, 0)));
    Py_XSETREF(reasons[0], Py_NewRef(PyTuple_GET_ITEM(pk, 1)));
    Py_XSETREF(reasons[1], Py_NewRef(PyTuple_GET_ITEM(pk, 2)));
    Py_XSETREF(pyclosed, Py_NewRef(PyTuple_GET_ITEM(pk, 3)));
    Py_XSETREF(sendclosed, Py_NewRef(PyTuple_GET_ITEM(pk, 4)));
    for (int i = 0; i < 3; i++) {
        Py_XSETREF(modes[OP_RECV_OK + i], Py_NewRef(PyTuple_GET_ITEM(md, i)));
    }
    for (Py_ssize_t i = 0; i < 4; i++) {
        Py_XSETREF(pyops[i], Py_NewRef(PyTuple_GET_ITEM(ops, i)));
    }
    /* last: the C methods run from here */
    if (setmethods(ct, chan_methods, docs, 4) < 0) {
        return NULL;
    }
    /* Setting __anext__ gave Chan the generic slot, which looks the method up and calls
     * it for every item of an ``async for``; the slot is that method itself. A later
     * assignment to Chan.__anext__ resets it (type_setattro's update_slot), and a
     * subclass gets the generic slot (fixup_slot_dispatchers), so both stay right. */
    if (ct->tp_as_async != NULL && (ct->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        ct->tp_as_async->am_anext = chan_anext_slot;
    }
    Py_RETURN_NONE;
}
