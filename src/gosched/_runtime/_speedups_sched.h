/* gosched._runtime._speedups, part 3 (included by _speedups.c): schedule's common rounds.
 *
 * cround(m, tracknext) is proc.schedule's loop body (Go's schedule → findRunnable's
 * fast path → execute → park_m / goexit0), round after round, for as long as each
 * round is one it takes; proc.schedule is the definition and the whole of the
 * pure-Python path, and this is the same loop, step for step, in the same order.
 * Every branch schedule takes through a function (checktimers, drainreadyq,
 * findrunnable, resetspinning, startlockedm, goexitpanic, lostp, preemptdone,
 * over, abandon, goexit0rare, foreignyield, unlockf, trapdispatch,
 * mgr.trackrunning) calls that same function, looked up in proc's globals at
 * the call as schedule's own global reads are. Why: per switch, schedule's
 * Python round was most of a ping-pong's instructions (docs/benchmarks.md).
 *
 * It hands the loop back to schedule, returning (nextg, tracknext, locked):
 *  - at the top of a round where the run ended or the M has no P (or a dying
 *    one): nextg is None, and schedule's round runs in Python;
 *  - before resuming a goroutine while tracing, or one to throw into (gp.exc):
 *    nextg is that goroutine (picked, not yet run), which schedule resumes at
 *    once, as it does a syscall's return;
 *  - after a trap that leaves a goroutine to resume at once (foreignyield,
 *    trapdispatch) or the M locked to a goroutine (preemptdone).
 * None: schedule returns (the run ended while gp ran; a locked G exited with its M).
 *
 * Locking as in schedule: under the GIL nothing runs between two steps here
 * except in the Python calls named above, after which every field is read
 * again; the P's token is published and reclaimed as schedule does (p.tok,
 * read once per round: deque append, then pop).
 */

static PyObject *procg;  /* proc's globals */
static PyObject *gRunning, *gWaiting, *gDead, *trapPARK, *trapSLEEP, *intm1;  /* intm1: PyInit */
static PyObject *deque_pop;  /* deque.pop, for p.tok (called as deque_pop_fn) */
static long fairtick, latperiod;
static Py_ssize_t m_spinning, p_runnext, p_schedtick, p_globturn, p_timer0when, p_dying, p_tok, s_maing;
static Py_ssize_t m_borrowed;  /* a borrowed M's mainm.Borrow, else None */
static Py_ssize_t m_latencies;  /* the M's /sched/latencies histogram */
static PyObject *str_pending;
static Py_ssize_t g_waitsince, g_m, g_exc, g_param, g_preempt, g_waitreason, g_lockedm;

/* proc's globals that schedule calls or reads, by index into hnames. */
enum {
    H_CHECKTIMERS, H_DRAINREADYQ, H_FINDRUNNABLE, H_RESETSPINNING, H_STARTLOCKEDM, H_GOEXITPANIC,
    H_LOSTP, H_PREEMPTDONE, H_OVER, H_ABANDON, H_GOEXIT0RARE, H_FOREIGNYIELD, H_UNLOCKF,
    H_TRAPDISPATCH, H_MGR, H_NANOTIME, H_GLOBRUNQGET, H_READYTIMER, H_WAKENETPOLLER,
    H_WAITSLEEP, H_PYREADYTIMER, H_GRUNNABLE, NH
};
static const char *hnames[NH] = {
    "checktimers", "drainreadyq", "findrunnable", "resetspinning", "startlockedm", "goexitpanic",
    "lostp", "preemptdone", "over", "abandon", "goexit0rare", "foreignyield", "unlockf",
    "trapdispatch", "mgr", "nanotime", "globrunqget", "_readytimer", "wakenetpoller",
    "waitReasonSleep", "pyreadytimer", "Grunnable",
};
static PyObject *hname[NH];

/* proc's global (borrowed), or NULL with NameError, as Python's global read. */
static PyObject *
pglobal(int h)
{
    static dcache cache[NH];
    PyObject *v = dcget(&cache[h], procg, hname[h]);
    if (v == NULL && !PyErr_Occurred()) {
        PyErr_Format(PyExc_NameError, "name '%U' is not defined", hname[h]);
    }
    return v;
}

/* proc.<h>(*args): a new reference, or NULL. */
static PyObject *
pcall(int h, PyObject *const *args, size_t n)
{
    PyObject *f = pglobal(h);
    return f == NULL ? NULL : PyObject_Vectorcall(f, args, n, NULL);
}

/* proc.<h>(*args) for its effect: 0 or -1. */
static int
pdo(int h, PyObject *const *args, size_t n)
{
    PyObject *r = pcall(h, args, n);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* p.timer0when is set and due (schedule's test before checktimers): 1, 0 or -1.
 * The slot's value is held for the compare: nanotime runs Python code, where another M
 * may store a new timer0when and free the old int (a crash in 3.12 runs, session 16). */
static int
timerdue(PyObject *p)
{
    PyObject *when = Py_NewRef(SLOT(p, p_timer0when));
    int t = truthy(when);
    PyObject *now = t > 0 ? pcall(H_NANOTIME, NULL, 0) : NULL;
    if (now != NULL) {
        t = PyObject_RichCompareBool(when, now, Py_LE);
        Py_DECREF(now);
    }
    else if (t > 0) {
        t = -1;
    }
    Py_DECREF(when);
    return t;
}

/* proc.<h>(*args)'s truth: 1, 0 or -1. */
static int
ptest(int h, PyObject *const *args, size_t n)
{
    PyObject *r = pcall(h, args, n);
    int t = r == NULL ? -1 : PyObject_IsTrue(r);
    Py_XDECREF(r);
    return t;
}

/* q.popleft() where q may have been emptied by another thread: NULL with no error if so. */
static PyObject *
trypopleft(PyObject *q)
{
    PyObject *v = popleft(q);
    if (v == NULL && PyErr_ExceptionMatches(PyExc_IndexError)) {
        PyErr_Clear();
    }
    return v;
}

/* p.schedtick += 1 (p is a P: findrunnable returns a G only with one). */
static int
addtick(PyObject *p)
{
    if (Py_IS_TYPE(p, Ptype)) {
        return setslot(p, p_schedtick, PyNumber_Add(SLOT(p, p_schedtick), int1));
    }
    PyObject *t = PyObject_GetAttrString(p, "schedtick");
    PyObject *t1 = t == NULL ? NULL : PyNumber_Add(t, int1);
    Py_XDECREF(t);
    int rc = t1 == NULL ? -1 : PyObject_SetAttrString(p, "schedtick", t1);
    Py_XDECREF(t1);
    return rc;
}

/* sched.lock, a threading.Lock: its acquire(False) and release called as their C functions (the
 * lock helpers are in _speedups_timers.h). */
static Py_ssize_t s_lock, s_gomaxprocs, s_lastpoll;

/* findRunnable's first step when it is the only one it takes (proc.findrunnable with no
 * timer pending, nothing readied, p not dying): globrunqturn, the global queue's fair
 * turn, and runq.globrunqget(sched, p, 1) under sched.lock, without their three Python
 * frames. Why: a spawning loop queues goroutines on the global queue faster than they
 * run, and each was then taken through findrunnable in Python (~60 bytecodes and the
 * lock, a third of a spawn + join: docs/benchmarks.md). 1 with *gpp (a new reference),
 * 0 findrunnable goes on (globrunqturn would take nothing, or found the queue empty
 * under the lock), -1 error. */
static int
globturn(PyObject *m, PyObject *sched, PyObject *p, PyObject **gpp)
{
    PyObject *lk = SLOT(sched, s_lock), *q = SLOT(sched, s_runq), *turn = SLOT(p, p_globturn);
    PyObject *gmp = SLOT(sched, s_gomaxprocs);
    if (!Py_IS_TYPE(lk, locktype) || !Py_IS_TYPE(q, dequetype) || Py_SIZE(q) == 0 || qlen(SLOT(m, m_readyq)) ||
        !PyLong_CheckExact(turn) || !PyLong_CheckExact(gmp)) {
        return 0;
    }
    int t = truthy(SLOT(p, p_timer0when));
    if (t == 0) {
        t = truthy(SLOT(p, p_dying));
    }
    long tick = PyLong_AsLong(SLOT(p, p_schedtick)), g = PyLong_AsLong(turn), n = PyLong_AsLong(gmp);
    if (t != 0 || PyErr_Occurred()) {
        return t < 0 || PyErr_Occurred() ? -1 : 0;
    }
    if ((!g && tick % fairtick) || n <= 0) {
        return 0;  /* not the global queue's turn: runqget and the rest */
    }
    n = Py_SIZE(q) / n;  /* globrunqturn's share: one per tick for the next len(runq)/gomaxprocs ticks */
    g = g ? g - 1 : (n < fairtick - 1 ? n : fairtick - 1) - 1;
    if (setslot(p, p_globturn, PyLong_FromLong(g > 0 ? g : 0)) < 0) {
        return -1;
    }
    /* sched.lock is free: the pop needs no acquire. Whoever holds the lock holds it from Python
     * (or is about to run its critical section once it has the GIL), and this pop runs no Python
     * code and keeps the GIL from the test on, so no critical section is under way across it:
     * it is as if this one took the lock first. An acquire here was ~500 instructions, parsing
     * its argument (a spawn + join is ~7,500). This file is built for GIL CPythons only. */
    PyObject *r = lock_locked_fn(lk, NULL);
    if (r != Py_False) {  /* held: globrunqget's own acquire, then lock2 */
        Py_XDECREF(r);
        PyObject *a[3] = {sched, p, int1};
        PyObject *gp = r == NULL ? NULL : pcall(H_GLOBRUNQGET, a, 3);
        if (gp == NULL) {
            return -1;
        }
        if (gp == Py_None) {
            Py_DECREF(gp);
            return 0;
        }
        *gpp = gp;
        return 1;
    }
    Py_DECREF(r);
    PyObject *gp = trypopleft(q);
    *gpp = gp;
    return gp == NULL ? (PyErr_Occurred() ? -1 : 0) : 1;
}

/* What this M readied, runnext, the local runq (findrunnable for the rest): *gpp, a new
 * reference or NULL (none: the round is over), and *pp, the P it runs on. 0 or -1. */
static int
takeg(PyObject *m, PyObject *sched, PyObject **gpp, PyObject **pp, int fair)
{
    PyObject *p = *pp, *gp = NULL, *rq = SLOT(m, m_readyq);
    Py_ssize_t nr = qlen(rq);
    if (nr < 0) {
        return -1;
    }
    if (nr) {
        if (fair && nr == 1 && SLOT(p, p_runnext) == Py_None) {
            if ((gp = trypopleft(rq)) == NULL && PyErr_Occurred()) {  /* as runnext: inheritTime */
                return -1;
            }
        }
        else {
            PyObject *a[3] = {sched, m, p};
            if (pdo(H_DRAINREADYQ, a, 3) < 0) {
                return -1;
            }
        }
    }
    if (gp == NULL) {
        gp = SLOT(p, p_runnext);
        if (gp != Py_None && fair) {
            SLOT(p, p_runnext) = Py_NewRef(Py_None);  /* inheritTime: we take its reference */
        }
        else {
            gp = NULL;
            PyObject *q = SLOT(p, p_runq);
            Py_ssize_t nq = qlen(q);
            if (nq < 0 || (nq && fair && (gp = trypopleft(q)) == NULL && PyErr_Occurred())) {
                return -1;
            }
            if (gp == NULL && !fair && globturn(m, sched, p, &gp) < 0) {
                return -1;
            }
            if (gp == NULL) {
                if ((gp = pcall(H_FINDRUNNABLE, &m, 1)) == NULL) {
                    return -1;
                }
                if (gp == Py_None) {
                    Py_DECREF(gp);
                    *gpp = NULL;
                    return 0;
                }
                Py_SETREF(*pp, Py_NewRef(SLOT(m, m_p)));
            }
            if (addtick(*pp) < 0) {
                Py_DECREF(gp);
                return -1;
            }
        }
    }
    *gpp = gp;
    return 0;
}

/* schedule's pick: 1 with *gpp and *pp (new references), 0 hand back at the top of
 * the round, 2 the round is over (continue), -1 error. */
static int
pick(PyObject *m, PyObject *sched, PyObject **gpp, PyObject **pp)
{
    int t = truthy(SLOT(sched, s_dead));
    PyObject *p = SLOT(m, m_p);
    if (t || !Py_IS_TYPE(p, Ptype) || (t = truthy(SLOT(p, p_dying))) != 0) {
        return t < 0 ? -1 : 0;
    }
    Py_INCREF(p);
    PyObject *gp = NULL;
    if ((t = timerdue(p)) != 0 && (t < 0 || pdo(H_CHECKTIMERS, &p, 1) < 0)) {
        goto fail;
    }
    /* fair: not the global queue's turn (every FAIRNESS_TICK-th round, and p.globturn) */
    long tick = PyLong_AsLong(SLOT(p, p_schedtick));
    int globturn = truthy(SLOT(p, p_globturn));
    Py_ssize_t ng = qlen(SLOT(sched, s_runq));
    if ((tick == -1 && PyErr_Occurred()) || globturn < 0 || ng < 0) {
        goto fail;
    }
    int fair = (tick % fairtick && !globturn) || !ng;
    if (takeg(m, sched, &gp, &p, fair) < 0) {
        goto fail;
    }
    if (gp == NULL) {
        Py_DECREF(p);
        return 2;
    }
    if (!Py_IS_TYPE(gp, Gtype)) {
        PyErr_SetString(PyExc_TypeError, "_speedups: a run queue holds something that is not a G");
        goto fail;
    }
    if ((t = truthy(SLOT(m, m_spinning))) != 0) {  /* resetspinning, wherever gp came from */
        PyObject *a[2] = {sched, m};
        if (t < 0 || pdo(H_RESETSPINNING, a, 2) < 0) {
            goto fail;
        }
    }
    PyObject *lm0 = SLOT(gp, g_lockedm);
    if (lm0 != Py_None && lm0 != m) {  /* bound to this M (a borrowed M's main task): run here */
        /* One read, passed on: m0's endinit may clear g.lockedm at any moment. */
        PyObject *lm = Py_NewRef(lm0);
        PyObject *a[4] = {sched, m, gp, lm};
        t = ptest(H_STARTLOCKEDM, a, 4);
        Py_DECREF(lm);
        if (t != 0) {  /* lm runs gp; this M stops */
            Py_DECREF(gp);
            Py_DECREF(p);
            return t < 0 ? -1 : 2;
        }
    }
    *gpp = gp;
    *pp = p;
    return 1;
fail:
    Py_XDECREF(gp);
    Py_DECREF(p);
    return -1;
}

/* The exception being raised, normalized, with its traceback (3.11 has no
 * PyErr_GetRaisedException). */
static PyObject *
raised(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL && v != NULL) {
        PyException_SetTraceback(v, tb);
    }
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
#endif
}

/* G.aiopark's offset, once setup_aio bound it (0 before); aioresume is _speedups_aio.h's */
static Py_ssize_t g_aiopark;
static PyObject *aioresume(PyObject *gp, PyObject *park, PyObject *val, PyObject **tosend);

/* gp's coroutine resumed with gp.param (PyIter_Send's answer in *tr), after aioresume for a
 * gosched.aio task whose driver waits at its park: the task's next step, run without the
 * driver when it parks on a future again (a trap, PYGEN_NEXT). */
static PySendResult
resumeg(PyObject *gp, PyObject **tr)
{
    PyObject *coro = Py_NewRef(SLOT(gp, g_coro)), *param = Py_NewRef(SLOT(gp, g_param));
    PySendResult r = PYGEN_ERROR;
    *tr = NULL;
    if (g_aiopark && SLOT(gp, g_aiopark) != Py_None) {
        PyObject *tosend = NULL;
        *tr = aioresume(gp, SLOT(gp, g_aiopark), param, &tosend);
        if (*tr != NULL) {
            r = PYGEN_NEXT;
        }
        Py_SETREF(param, tosend);  /* what the driver is resumed with (NULL: done, or an error) */
    }
    if (param != NULL) {
        r = PyIter_Send(coro, param, tr);
    }
    Py_DECREF(coro);
    Py_XDECREF(param);
    return r;
}

PyDoc_STRVAR(resume_doc,
"resume(gp, /)\n--\n\n"
"schedule's resume of goroutine gp with gp.param, as send(gp.coro, gp.param); for a\n"
"gosched.aio task parked on a future, its next step without its driver where it can.");

static PyObject *
resume(PyObject *self, PyObject *gp)
{
    if (Gtype == NULL || exit_sentinel == NULL || !Py_IS_TYPE(gp, Gtype)) {
        PyErr_SetString(PyExc_TypeError, "resume(gp): a G, after setup_go and setup_send");
        return NULL;
    }
    PyObject *tr;
    switch (resumeg(gp, &tr)) {
    case PYGEN_NEXT:
        return tr;
    case PYGEN_RETURN:
        return returned(tr);
    default:
        return NULL;
    }
}

/* mgr.trackrunning(m, gp, proc.nanotime()): a sampled goroutine starts running; its wait
 * since its stamp counts in m.latencies, bucketed by the ns's bit_length (Go's casgstatus →
 * timeToRun.record), here when the stamp, the clock and the histogram are the usual int, int
 * and list (one switch in LATENCY_PERIOD: two Python calls a sample were ~250 instructions a
 * switch on a streams echo). 0 or -1. */
static int
trackrunning(PyObject *m, PyObject *gp)
{
    PyObject *now = pcall(H_NANOTIME, NULL, 0), *ts = SLOT(gp, g_trackingstamp), *lat = SLOT(m, m_latencies);
    if (now == NULL) {
        return -1;
    }
    int over = 0;
    long long a = PyLong_CheckExact(ts) ? PyLong_AsLongLongAndOverflow(ts, &over) : 0;
    long long b = PyLong_CheckExact(now) && !over ? PyLong_AsLongLongAndOverflow(now, &over) : 0;
    if (PyErr_Occurred() || over || !PyLong_CheckExact(ts) || !PyLong_CheckExact(now) || !PyList_CheckExact(lat) ||
        PyList_GET_SIZE(lat) == 0 || (a > 0 && (b < a || b - a < 0))) {
        PyErr_Clear();
        PyObject *mgr = pglobal(H_MGR);
        PyObject *track = mgr == NULL ? NULL : PyObject_GetAttrString(mgr, "trackrunning");
        PyObject *args[3] = {m, gp, now};
        PyObject *r = track == NULL ? NULL : PyObject_Vectorcall(track, args, 3, NULL);
        Py_XDECREF(track);
        Py_DECREF(now);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    Py_DECREF(now);
    setslot(gp, g_trackingstamp, Py_NewRef(int0));  /* (a new reference: cannot fail) */
    if (a <= 0) {  /* -1: never stamped runnable (a syscall's return) */
        return 0;
    }
    unsigned long long d = (unsigned long long)(b - a);
    Py_ssize_t bits = d == 0 ? 0 : 64 - __builtin_clzll(d), n = PyList_GET_SIZE(lat);
    Py_ssize_t i = bits < n ? bits : n - 1;
    PyObject *v = PyNumber_Add(PyList_GET_ITEM(lat, i), int1);
    return v == NULL ? -1 : PyList_SetItem(lat, i, v);
}

/* execute(gp) until it yields a trap: the trap (a new reference), or NULL with no
 * error if schedule resumes gp itself (tracing, a throw), or NULL with an error. */
static PyObject *
execute(PyObject *m, PyObject *sched, PyObject *gp, PyObject *tok)
{
    PyObject *tracing = proctracing();  /* (chan.h: the same proc global) */
    int t = tracing == NULL ? -1 : truthy(tracing);
    if (t) {
        return NULL;
    }
    if (setslot(gp, g_waitsince, Py_NewRef(int0)) < 0 || (t = truthy(SLOT(gp, g_trackingstamp))) < 0) {
        return NULL;
    }
    if (t && trackrunning(m, gp) < 0) {  /* sampled: record its wait runnable → running */
        return NULL;
    }
    if (setslot(gp, g_status, Py_NewRef(gRunning)) < 0 || setslot(gp, g_m, Py_NewRef(m)) < 0 ||
        setslot(m, m_curg, Py_NewRef(gp)) < 0) {
        return NULL;
    }
    if (SLOT(gp, g_exc) != Py_None) {
        return NULL;  /* schedule throws it in (resumethrow) */
    }
    if (append(tok, lock_token) < 0) {  /* publish the P: from here sysmon may take it */
        return NULL;
    }
    PyObject *tr;
    PySendResult r = resumeg(gp, &tr);
    if (r == PYGEN_NEXT) {
        return tr;
    }
    if (r == PYGEN_RETURN) {
        return returned(tr);
    }
    PyObject *e = raised();
    if (e == NULL) {
        return NULL;
    }
    if (PyObject_TypeCheck(e, (PyTypeObject *)PyExc_StopIteration)) {  /* as schedule's except */
        PyObject *v = PyObject_GetAttrString(e, "value");
        Py_DECREF(e);
        return v == NULL ? NULL : returned(v);
    }
    PyObject *a[3] = {sched, gp, e};
    tr = pcall(H_GOEXITPANIC, a, 3);
    Py_DECREF(e);
    return tr;
}

/* goexit0, in line as in schedule: 0 go on, 2 schedule returns (goexit0rare), -1 error. */
static int
goexit0(PyObject *m, PyObject *sched, PyObject *gp, PyObject *tr)
{
    if (setslot(gp, g_status, Py_NewRef(gDead)) < 0 || setslot(m, m_curg, Py_NewRef(Py_None)) < 0) {
        return -1;
    }
    PyObject *allgs = SLOT(sched, s_allgs), *goid = SLOT(gp, g_goid);
    if (PyDict_CheckExact(allgs)) {  /* allgs.pop(gp.goid, None) */
        if (PyDict_DelItem(allgs, goid) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
                return -1;
            }
            PyErr_Clear();
        }
    }
    else {
        PyObject *r = PyObject_CallMethod(allgs, "pop", "OO", goid, Py_None);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    gctrack(gp);
    if (setslot(gp, g_coro, Py_NewRef(Py_None)) < 0) {
        return -1;
    }
    if (gp == SLOT(sched, s_maing) || SLOT(gp, g_lockedm) != Py_None) {
        PyObject *a[4] = {sched, m, gp, tr};
        int t = ptest(H_GOEXIT0RARE, a, 4);
        return t < 0 ? -1 : t ? 2 : 0;
    }
    return 0;
}

/* proc.timesleep, the SLEEP trap, where the M holds a live P (addtimerhere's usual case): the
 * goroutine parks with a timer on that P that readies it in ns. 1 done, 0 not this case
 * (trapdispatch does it), -1 error. Why C: an idle program takes this trap before every
 * sleep, and its Python frames (trapdispatch, timesleep, RTimer.__init__, addtimerhere,
 * addtimer, _push) were a fifth of the CPU an idle sleep costs (docs/benchmarks.md, idle). */
static int
sleeptrap(PyObject *m, PyObject *sched, PyObject *gp, PyObject *tr)
{
    if (PyTuple_GET_SIZE(tr) < 2 || PyTuple_GET_ITEM(tr, 0) != trapSLEEP || RTtype == NULL ||
        !PyObject_TypeCheck(SLOT(m, m_p), TPtype)) {
        return 0;
    }
    /* Held from here, as timesleep's local is: a slot's old value freed by setslot, the
     * nanotime call and the timer lock's wait may each let another thread run, and the P
     * can meanwhile leave m.p and the run (a run's end, procresize) and be freed. */
    PyObject *p = Py_NewRef(SLOT(m, m_p)), *when = NULL;
    int t = truthy(SLOT(p, p_dying));
    if (t != 0) {
        Py_DECREF(p);
        return t < 0 ? -1 : 0;
    }
    PyObject *wr = pglobal(H_WAITSLEEP), *f = pglobal(H_READYTIMER);
    if (wr == NULL || f == NULL || setslot(m, m_curg, Py_NewRef(Py_None)) < 0 ||
        setslot(gp, g_status, Py_NewRef(gWaiting)) < 0 || setslot(gp, g_waitreason, Py_NewRef(wr)) < 0) {
        goto error;
    }
    PyObject *now = pcall(H_NANOTIME, NULL, 0);
    when = now == NULL ? NULL : PyNumber_Add(now, PyTuple_GET_ITEM(tr, 1));
    Py_XDECREF(now);
    PyObject *tm = when == NULL ? NULL : newtimer(f, gp, when);
    if (tm == NULL || addtimer(p, tm) < 0) {
        Py_XDECREF(tm);
        goto error;
    }
    Py_DECREF(tm);
    Py_CLEAR(p);
    t = truthy(SLOT(sched, s_lastpoll));
    if (t == 0) {  /* a thread blocked in netpoll must see the earlier timer */
        PyObject *a[2] = {sched, when};
        t = pdo(H_WAKENETPOLLER, a, 2);
    }
    Py_DECREF(when);
    return t < 0 ? -1 : 1;
error:
    Py_XDECREF(when);
    Py_XDECREF(p);
    return -1;
}

PyDoc_STRVAR(readytimer_doc,
"readytimer(gp, /)\n--\n\n"
"proc._readytimer in C: a sleeper's timer readies gp at the tail of this M's queue.");

/* proc._readytimer(gp), a sleeper's timer firing (goreadytail(urgent=True)), for the common
 * case: an M holding its P, no tracing, gp not sampled, room in the local queue and no
 * backlog on the global one; gp goes to the local queue's tail, then wakep if a P idles
 * and nobody spins. proc.pyreadytimer for every other case. Why C: an idle program's wake
 * runs this, cold (the two Python frames cost ~12 us of a wake that costs ~0.1 ms). */
static PyObject *
readytimer(PyObject *self, PyObject *gp)
{
    PyObject *m = NULL;
    if (procg == NULL) {
        PyErr_SetString(PyExc_TypeError, "readytimer: after setup_sched");
        return NULL;
    }
    if (!gobound || !Py_IS_TYPE(gp, Gtype)) {
        return pcall(H_PYREADYTIMER, &gp, 1);
    }
    m = thism();
    int common = 0;
    if (Py_IS_TYPE(m, Mtype)) {
        PyObject *p = SLOT(m, m_p), *sched = SLOT(m, m_sched), *tracing = proctracing();
        if (tracing == NULL) {
            Py_DECREF(m);
            return NULL;
        }
        common = tracing == Py_False && Py_IS_TYPE(p, Ptype) && Py_IS_TYPE(sched, Stype) &&
                 truthy(SLOT(m, m_lostp_since)) == 0 &&
                 qlen(SLOT(p, p_runq)) < runq_size && qlen(SLOT(sched, s_runq)) == 0;
        if (PyErr_Occurred()) {
            Py_DECREF(m);
            return NULL;
        }
        if (common) {
            PyObject *gr = pglobal(H_GRUNNABLE);
            int rc = gr == NULL || stamprunnable(gp) < 0 || setslot(gp, g_status, Py_NewRef(gr)) < 0 ||
                             append(SLOT(p, p_runq), gp) < 0
                     ? -1 : wakeidle(sched);
            Py_DECREF(m);
            return rc < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    Py_DECREF(m);
    return pcall(H_PYREADYTIMER, &gp, 1);
}

static int parkrelease(PyObject *ul);  /* _speedups_aio.h: task._Parker.release */

/* The trap's handling: goexit0 and park_m in line, foreignyield and trapdispatch for the
 * rest (*nextg: a goroutine to resume at once, or NULL). 0 go on, 2 schedule returns, -1. */
static int
dotrap(PyObject *m, PyObject *sched, PyObject *gp, PyObject *p, PyObject *tr, PyObject **nextg)
{
    PyObject *a[5] = {sched, m, gp, p, tr};
    int h = H_TRAPDISPATCH;
    if (!PyTuple_CheckExact(tr)) {
        if (tr == exit_sentinel || Py_IS_TYPE(tr, (PyTypeObject *)returned_type)) {
            return goexit0(m, sched, gp, tr);
        }
        if (tr == Py_None && Py_IS_TYPE(p, Ptype)) {  /* a bare yield: foreignyield's goyield, in line */
            PyObject *lq = SLOT(p, p_runq), *gr = pglobal(H_GRUNNABLE);
            Py_ssize_t n = qlen(lq);
            if (gr == NULL || n < 0) {
                return -1;
            }
            if (n < runq_size) {
                return setslot(m, m_curg, Py_NewRef(Py_None)) < 0 || setslot(gp, g_status, Py_NewRef(gr)) < 0 ||
                               append(lq, gp) < 0
                           ? -1 : 0;
            }
        }
        h = H_FOREIGNYIELD;
    }
    else if (PyTuple_GET_SIZE(tr) > 0 && PyTuple_GET_ITEM(tr, 0) == trapPARK) {  /* park_m */
        if (PyTuple_GET_SIZE(tr) < 3) {
            PyErr_SetString(PyExc_IndexError, "tuple index out of range");
            return -1;
        }
        if (setslot(gp, g_status, Py_NewRef(gWaiting)) < 0 ||
            setslot(gp, g_waitreason, Py_NewRef(PyTuple_GET_ITEM(tr, 2))) < 0 ||
            setslot(m, m_curg, Py_NewRef(Py_None)) < 0) {
            return -1;
        }
        PyObject *ul = PyTuple_GET_ITEM(tr, 1);  /* gopark's unlockf */
        if (PyList_CheckExact(ul)) {  /* a runtime lock (lock.newlock): unlock inline */
            return unlock(ul);
        }
        if (ul == Py_None) {
            return 0;
        }
        int r = parkrelease(ul);  /* a task parked on an asyncio future (the common await) */
        return r != 0 ? (r < 0 ? -1 : 0) : pdo(H_UNLOCKF, &ul, 1);
    }
    else if (PyTuple_GET_SIZE(tr) == 0) {
        PyErr_SetString(PyExc_IndexError, "tuple index out of range");
        return -1;
    }
    if (h == H_TRAPDISPATCH) {
        int t = sleeptrap(m, sched, gp, tr);
        if (t != 0) {
            return t < 0 ? -1 : 0;
        }
    }
    PyObject *g = pcall(h, a, 5);
    if (g == NULL) {
        return -1;
    }
    if (g == Py_None) {
        Py_DECREF(g);
    }
    else {
        *nextg = g;
    }
    return 0;
}

/* After the resume: reclaim the P, sysmon's preemption request, the run's end, then
 * the trap. 0 go on, 2 schedule returns, -1 error. */
static int
aftertrap(PyObject *m, PyObject *sched, PyObject *gp, PyObject *p, PyObject *tq, PyObject *tr,
          long *tracknext, int *locked, PyObject **nextg)
{
    if (setslot(gp, g_param, Py_NewRef(Py_None)) < 0) {
        return -1;
    }
    if (--*tracknext == 0) {  /* Go's trackingSeq: sample one switch out of running in LATENCY_PERIOD */
        *tracknext = latperiod;
        if (setslot(gp, g_trackingstamp, Py_NewRef(intm1)) < 0) {
            return -1;
        }
    }
    PyObject *tok = Py_IS_TYPE(tq, dequetype) ? deque_pop_fn(tq, NULL)
                                              : PyObject_CallMethod(tq, "pop", NULL);
    if (tok == NULL) {  /* sysmon took the P while gp ran */
        PyObject *a[3] = {sched, m, gp};
        if (!PyErr_ExceptionMatches(PyExc_IndexError)) {
            return -1;
        }
        PyErr_Clear();
        p = Py_None;
        if (pdo(H_LOSTP, a, 3) < 0) {
            return -1;
        }
    }
    Py_XDECREF(tok);
    int t = truthy(SLOT(gp, g_preempt));
    if (t) {  /* sysmon's request, or lockosthread's */
        PyObject *a[2] = {m, gp};
        if (t < 0 || (t = ptest(H_PREEMPTDONE, a, 2)) < 0) {
            return -1;
        }
        *locked = t;
    }
    if ((t = truthy(SLOT(sched, s_dead))) != 0) {  /* the run ended while gp ran */
        if (t < 0 || (t = ptest(H_OVER, &sched, 1)) < 0) {
            return -1;
        }
        if (t) {
            PyObject *a[4] = {sched, m, gp, tr};
            return pdo(H_ABANDON, a, 4) < 0 ? -1 : 2;
        }
    }
    return dotrap(m, sched, gp, p, tr, nextg);
}

PyDoc_STRVAR(cround_doc,
"cround(m, tracknext, /)\n--\n\n"
"Run proc.schedule's rounds for M m until one needs schedule's own loop: returns\n"
"(nextg, tracknext, locked) for schedule to go on with, or None when schedule returns.");

static PyObject *
cround(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || procg == NULL || !Py_IS_TYPE(args[0], Mtype)) {
        PyErr_SetString(PyExc_TypeError, "cround(m, tracknext) with an M, after setup_sched");
        return NULL;
    }
    PyObject *m = args[0], *sched = SLOT(m, m_sched), *nextg = NULL;
    long tracknext = PyLong_AsLong(args[1]);
    if (tracknext == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int locked = 0;
    while (nextg == NULL && !locked) {
        PyObject *gp, *p, *bw = SLOT(m, m_borrowed);
        if (bw != Py_None) {  /* a borrowed M whose lender has work: schedule's round does it (mainm) */
            PyObject *pending = PyObject_GetAttr(bw, str_pending);
            int t = pending == NULL ? -1 : PyObject_IsTrue(pending);
            Py_XDECREF(pending);
            if (t != 0) {
                if (t < 0) {
                    return NULL;
                }
                break;
            }
        }
        int rc = pick(m, sched, &gp, &p);
        if (rc < 0) {
            return NULL;
        }
        if (rc == 0) {
            break;  /* schedule's round, from its top */
        }
        if (rc == 2) {
            continue;
        }
        /* p.tok as published: the P's next owner gets a new one (mgr.acquirep), so
         * a pop after sysmon took the P fails even if that owner published it. */
        PyObject *tok = Py_NewRef(SLOT(p, p_tok)), *tr = execute(m, sched, gp, tok);
        if (tr == NULL) {
            Py_DECREF(tok);
            Py_DECREF(p);
            if (PyErr_Occurred()) {
                Py_DECREF(gp);
                return NULL;
            }
            nextg = gp;  /* schedule resumes it */
            break;
        }
        rc = aftertrap(m, sched, gp, p, tok, tr, &tracknext, &locked, &nextg);
        Py_DECREF(tok);
        Py_DECREF(tr);
        Py_DECREF(gp);
        Py_DECREF(p);
        if (rc < 0) {
            Py_XDECREF(nextg);
            return NULL;
        }
        if (rc == 2) {
            Py_RETURN_NONE;
        }
    }
    PyObject *n = PyLong_FromLong(tracknext);
    if (n == NULL) {
        Py_XDECREF(nextg);
        return NULL;
    }
    return Py_BuildValue("(NNO)", nextg != NULL ? nextg : Py_NewRef(Py_None), n, locked ? Py_True : Py_False);
}

PyDoc_STRVAR(setup_sched_doc,
"setup_sched(procglobals, /)\n--\n\n"
"Bind proc's globals (its classes, constants and schedule's helpers); cround refuses to run until then.");

static PyObject *
setup_sched(PyObject *self, PyObject *pg)
{
    if (!PyDict_Check(pg)) {
        PyErr_SetString(PyExc_TypeError, "setup_sched: proc's globals, a dict");
        return NULL;
    }
    static const char *types[4] = {"M", "P", "Sched", "G"};
    PyTypeObject **tps[4] = {&Mtype, &Ptype, &Stype, &Gtype};
    for (int i = 0; i < 4; i++) {
        PyObject *t = PyDict_GetItemString(pg, types[i]);
        if (t == NULL || !PyType_Check(t)) {
            PyErr_Format(PyExc_TypeError, "setup_sched: proc.%s must be a class", types[i]);
            return NULL;
        }
        Py_XSETREF(*tps[i], (PyTypeObject *)Py_NewRef(t));
    }
    PyObject *c[7];
    static const char *consts[7] = {"Grunning", "Gwaiting", "Gdead", "PARK", "FAIRNESS_TICK", "LATENCY_PERIOD",
                                    "SLEEP"};
    for (int i = 0; i < 7; i++) {
        if ((c[i] = PyDict_GetItemString(pg, consts[i])) == NULL) {
            PyErr_Format(PyExc_NameError, "setup_sched: proc.%s is missing", consts[i]);
            return NULL;
        }
    }
    fairtick = PyLong_AsLong(c[4]);
    latperiod = PyLong_AsLong(c[5]);
    if (PyErr_Occurred() || fairtick <= 0 || latperiod <= 0 || exit_sentinel == NULL) {
        PyErr_SetString(PyExc_ValueError, "setup_sched: bad FAIRNESS_TICK or LATENCY_PERIOD, or no setup_send");
        return NULL;
    }
    PyTypeObject *mt = Mtype, *pt = Ptype, *st = Stype, *gt = Gtype;
    if (offset_of(mt, "sched", &m_sched) || offset_of(mt, "p", &m_p) || offset_of(mt, "readyq", &m_readyq) ||
        offset_of(mt, "curg", &m_curg) || offset_of(mt, "spinning", &m_spinning) ||
        offset_of(mt, "borrowed", &m_borrowed) || offset_of(mt, "latencies", &m_latencies) ||
        offset_of(pt, "runq", &p_runq) || offset_of(pt, "runnext", &p_runnext) ||
        offset_of(pt, "schedtick", &p_schedtick) || offset_of(pt, "globturn", &p_globturn) ||
        offset_of(pt, "timer0when", &p_timer0when) || offset_of(pt, "dying", &p_dying) ||
        offset_of(pt, "tok", &p_tok) || offset_of(st, "dead", &s_dead) || offset_of(st, "runq", &s_runq) ||
        offset_of(st, "allgs", &s_allgs) || offset_of(st, "main_g", &s_maing) ||
        offset_of(gt, "goid", &g_goid) || offset_of(gt, "coro", &g_coro) ||
        offset_of(gt, "status", &g_status) || offset_of(gt, "waitreason", &g_waitreason) ||
        offset_of(gt, "waitsince", &g_waitsince) || offset_of(gt, "param", &g_param) ||
        offset_of(gt, "exc", &g_exc) || offset_of(gt, "m", &g_m) || offset_of(gt, "preempt", &g_preempt) ||
        offset_of(gt, "trackingstamp", &g_trackingstamp) || offset_of(gt, "lockedm", &g_lockedm) ||
        offset_of(st, "lock", &s_lock) || offset_of(st, "gomaxprocs", &s_gomaxprocs) ||
        offset_of(st, "lastpoll", &s_lastpoll) || setup_lock() < 0) {
        return NULL;
    }
    if (str_pending == NULL && (str_pending = PyUnicode_InternFromString("pending")) == NULL) {
        return NULL;
    }
    for (int i = 0; i < NH; i++) {
        if (hname[i] == NULL && (hname[i] = PyUnicode_InternFromString(hnames[i])) == NULL) {
            return NULL;
        }
    }
    Py_XSETREF(gRunning, Py_NewRef(c[0]));
    Py_XSETREF(gWaiting, Py_NewRef(c[1]));
    Py_XSETREF(gDead, Py_NewRef(c[2]));
    Py_XSETREF(trapPARK, Py_NewRef(c[3]));
    Py_XSETREF(trapSLEEP, Py_NewRef(c[6]));
    Py_XSETREF(procg, Py_NewRef(pg));  /* last: cround runs from here */
    Py_RETURN_NONE;
}
