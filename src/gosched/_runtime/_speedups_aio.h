/* gosched._aio's task step in C: task._step's common case and turn.giveturn.
 *
 * Included by _speedups.c. A task's goroutine (task._drive) runs each asyncio
 * step holding its loop's turn: fill asyncio's current-task slot, send into the
 * coroutine in the task's context, set the Task's outcome if it ended, empty the
 * slot, then hand the turn to the next waiter. In Python that is three frames and
 * ~180 bytecodes a step (_step, giveturn, _handon), a third of what a Queue
 * round trip between two tasks executes; asyncio's own Task.__step is C.
 *
 * stepgive() does the same, in the same order. Python keeps the definition and
 * every uncommon case: _drive calls it only for a send (nothing to throw in),
 * with no cancellation pending and not for a main task whose steps are posted
 * to the thread in run_forever; an outcome other than a value or an ordinary
 * exception goes through task._finish; a contended turn lock, or an asyncio slot
 * a retaken step left filled, calls the Python helpers that handle them.
 * KeyboardInterrupt and SystemExit leave here as exceptions, with the Task's
 * outcome set and the turn given, for _drive to pass to run_forever or raise;
 * GeneratorExit (the run closing the goroutine) leaves as it came.
 */

static PyObject *aio_enter, *aio_leave;   /* asyncio.tasks._enter_task, _leave_task (C) */
static PyObject *aio_swap, *aio_unslot;   /* task._swap(loop, task), task._leave(loop, task) */
static PyObject *aio_finish;              /* task._finish(task, exc, value) */
static PyObject *aio_setresult;           /* asyncio.Future.set_result, unbound */
static PyObject *aio_giveturn;            /* turn.giveturn(turn, gp, sched, m) */
static PyObject *aio_ended;               /* task._ENDED */
static PyObject *aio_readytail;           /* mgr.goreadytail(gp, sched) */
static PyObject *aio_turnreason;          /* runtime2.waitReasonAsyncioTurn */
static PyObject *str_gcancel;
static PyTypeObject *Turntype, *Waketype;
static Py_ssize_t t_lk, t_holder, t_waiters, w_gp, w_sched, w_turn;

/* Call f(a, b) for its effect: 0, or -1 with an error set. */
static int
call2(PyObject *f, PyObject *a, PyObject *b)
{
    PyObject *args[2] = {a, b};
    PyObject *r = PyObject_Vectorcall(f, args, 2, NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* asyncio's slot: enter (or leave) with the C function; a RuntimeError (a retaken step's
 * overlap left another task there) goes to the Python helper, as _step's except does. */
static int
slot(PyObject *cfn, PyObject *pyfn, PyObject *loop, PyObject *task)
{
    if (call2(cfn, loop, task) == 0) {
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_RuntimeError)) {
        return -1;
    }
    PyErr_Clear();
    return call2(pyfn, loop, task);
}

/* The coroutine returned value (a new reference, consumed): set the Task's result, or
 * let _finish decide (a cancel() arrived after the last await). */
static int
returnedvalue(PyObject *task, PyObject *value)
{
    PyObject *c = PyObject_GetAttr(task, str_gcancel);
    int rc;
    if (c == NULL) {
        rc = -1;
    } else if (c == Py_None) {
        rc = call2(aio_setresult, task, value);
    } else {
        PyObject *args[3] = {task, Py_None, value};
        PyObject *r = PyObject_Vectorcall(aio_finish, args, 3, NULL);
        Py_XDECREF(r);
        rc = r == NULL ? -1 : 0;
    }
    Py_XDECREF(c);
    Py_DECREF(value);
    return rc;
}

/* Set exc (a new reference, consumed; NULL: nothing) as the exception being raised. */
static void
reraise(PyObject *exc)
{
    if (exc == NULL) {
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* The coroutine raised (the error is set): _finish sets the Task's outcome. 0 when the
 * exception is thereby handled; -1 with it still set for the caller to raise
 * (GeneratorExit untouched; KeyboardInterrupt and SystemExit once the outcome is set). */
static int
stepraised(PyObject *task)
{
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        return -1;
    }
    int fatal = PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) || PyErr_ExceptionMatches(PyExc_SystemExit);
    PyObject *exc = raised();
    if (exc == NULL) {
        return -1;
    }
    PyObject *args[3] = {task, exc, Py_None};
    PyObject *r = PyObject_Vectorcall(aio_finish, args, 3, NULL);
    if (r == NULL) {  /* _finish failed: its error wins, as it would in _step's except */
        Py_DECREF(exc);
        return -1;
    }
    Py_DECREF(r);
    if (fatal) {
        reraise(exc);
        return -1;
    }
    Py_DECREF(exc);
    return 0;
}

/* turn.giveturn(turn, gp, sched, m): the next waiter holds the turn and is readied
 * (_handon), if gp still holds it. A contended lock: the Python function. */
static int
giveturn(PyObject *turn, PyObject *gp, PyObject *sched, PyObject *m)
{
    PyObject *lk = Py_IS_TYPE(turn, Turntype) ? SLOT(turn, t_lk) : NULL;
    if (lk == NULL || !trylock(lk)) {
        PyObject *args[4] = {turn, gp, sched, m};
        PyObject *r = PyObject_Vectorcall(aio_giveturn, args, 4, NULL);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    if (SLOT(turn, t_holder) != gp) {  /* a retake passed it on already */
        return unlock(lk);
    }
    PyObject *w = SLOT(turn, t_waiters);
    if (qlen(w) <= 0) {
        if (setslot(turn, t_holder, Py_NewRef(Py_None)) < 0) {
            unlock(lk);
            return -1;
        }
        return unlock(lk);
    }
    PyObject *nxt = popleft(w);
    if (nxt == NULL || setslot(turn, t_holder, Py_NewRef(nxt)) < 0) {
        Py_XDECREF(nxt);
        unlock(lk);
        return -1;
    }
    int rc = unlock(lk) < 0 ? -1 : cgoready(nxt);
    Py_DECREF(nxt);
    return rc;
}

PyDoc_STRVAR(stepgive_doc,
"stepgive(task, loop, coro, ctx, m, val, turn, gp, sched, /)\n--\n\n"
"task._step(task, loop, m, val, None) then turn.giveturn(turn, gp, sched, m):\n"
"what the coroutine yielded, or task._ENDED. KeyboardInterrupt and SystemExit\n"
"propagate with the Task's outcome set and the turn given. turn None: no giveturn.");

static PyObject *
stepgive(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || aio_ended == NULL) {
        PyErr_SetString(PyExc_TypeError, "stepgive() takes 9 arguments, after setup_aio");
        return NULL;
    }
    PyObject *task = args[0], *loop = args[1], *coro = args[2], *ctx = args[3], *m = args[4];
    PyObject *val = args[5], *turn = args[6], *gp = args[7], *sched = args[8];
    PyObject *y = NULL;
    if (slot(aio_enter, aio_swap, loop, task) == 0) {
        if (PyContext_Enter(ctx) < 0) {  /* ctx.run's error: the step raised it */
            y = stepraised(task) < 0 ? NULL : Py_NewRef(aio_ended);
        } else {
            PyObject *cur = NULL, *res = NULL;
            PySendResult r = PYGEN_ERROR;
            int named = PyContextVar_Get(mvar, NULL, &cur);  /* the context names this M (namem) */
            if (named == 0 && cur != m) {
                PyObject *tok = PyContextVar_Set(mvar, m);
                named = tok == NULL ? -1 : 0;
                Py_XDECREF(tok);
            }
            Py_XDECREF(cur);
            if (named == 0) {
                r = PyIter_Send(coro, val, &res);
            }
            if (PyContext_Exit(ctx) < 0 && r != PYGEN_ERROR) {
                Py_XDECREF(res);
                res = NULL;
                r = PYGEN_ERROR;
            }
            if (r == PYGEN_NEXT) {
                y = res;
            } else if (r == PYGEN_RETURN) {
                y = returnedvalue(task, res) < 0 ? NULL : Py_NewRef(aio_ended);
            } else {
                y = stepraised(task) < 0 ? NULL : Py_NewRef(aio_ended);
            }
        }
        /* _step's finally: empty asyncio's slot, whatever happened (an error kept aside;
         * one raised here replaces it, as in a Python finally) */
        PyObject *pending = y == NULL ? raised() : NULL;
        if (slot(aio_leave, aio_unslot, loop, task) < 0) {
            Py_CLEAR(y);
            Py_XDECREF(pending);
        } else {
            reraise(pending);
        }
    }
    if (turn == Py_None) {  /* a first step on the dispatcher, which keeps the turn (firststep) */
        return y;
    }
    /* _drive's finally: the turn goes on, whatever happened */
    PyObject *pending = y == NULL ? raised() : NULL;
    if (giveturn(turn, gp, sched, m) < 0) {
        Py_CLEAR(y);
        Py_XDECREF(pending);
        return NULL;
    }
    reraise(pending);
    return y;
}

/* mgr.goreadytail(gp, sched): gp runnable at the tail of this M's local run queue (a woken
 * task resumes in wake-up order, as call_soon's FIFO), for an M of sched holding its P with
 * no tracing and gp not sampled for latencies; the Python function for the others. */
static int
readytail(PyObject *gp, PyObject *sched)
{
    PyObject *m = NULL;
    if (PyContextVar_Get(mvar, Py_None, &m) < 0) {
        return -1;
    }
    if (Py_IS_TYPE(m, Mtype) && SLOT(m, m_sched) == sched) {
        PyObject *p = SLOT(m, m_p);
        PyObject *tracing = PyDict_GetItemWithError(procdict, str_tracing);
        int lost = truthy(SLOT(m, m_lostp_since));
        int sampled = truthy(SLOT(gp, g_trackingstamp));
        if (tracing == Py_False && lost == 0 && sampled == 0 && Py_IS_TYPE(p, Ptype)) {
            Py_DECREF(m);
            PyObject *lq = SLOT(p, p_runq);
            Py_ssize_t n = qlen(lq);
            if (n < 0 || setslot(gp, g_status, Py_NewRef(grunnable)) < 0 ||
                append(n < runq_size ? lq : SLOT(sched, s_runq), gp) < 0) {
                return -1;
            }
            return wakeidle(sched);
        }
        if (PyErr_Occurred()) {
            Py_DECREF(m);
            return -1;
        }
    }
    Py_DECREF(m);
    return call2(aio_readytail, gp, sched);
}

PyDoc_STRVAR(wake_doc,
"wake(w, fut, /)\n--\n\n"
"turn.Wake.__call__(w, fut): ready the task's goroutine, or queue it for its\n"
"loop's turn if held; w(fut) itself for what this does not handle.");

static PyObject *
wake(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "wake(w, fut)");
        return NULL;
    }
    PyObject *w = args[0];
    if (Waketype == NULL || !Py_IS_TYPE(w, Waketype)) {
        return PyObject_CallOneArg(w, args[1]);
    }
    PyObject *gp = SLOT(w, w_gp), *sched = SLOT(w, w_sched), *turn = SLOT(w, w_turn);
    if (!Py_IS_TYPE(gp, Gtype) || !Py_IS_TYPE(sched, Stype) || !Py_IS_TYPE(turn, Turntype) ||
        !trylock(SLOT(turn, t_lk))) {  /* a plain goroutine's, or the turn's lock contended */
        return PyObject_CallOneArg(w, args[1]);
    }
    PyObject *lk = SLOT(turn, t_lk);
    int dead = truthy(SLOT(sched, s_dead));
    if (dead != 0) {  /* its run ended (the goroutine was closed): nothing to wake */
        return unlock(lk) < 0 || dead < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (setslot(gp, g_blockedon, Py_NewRef(Py_None)) < 0) {
        unlock(lk);
        return NULL;
    }
    if (SLOT(turn, t_holder) == Py_None) {
        if (setslot(turn, t_holder, Py_NewRef(gp)) < 0) {
            unlock(lk);
            return NULL;
        }
        Py_INCREF(gp);  /* the slot's reference could go while it is readied */
        int rc = unlock(lk) < 0 ? -1 : readytail(gp, sched);
        Py_DECREF(gp);
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (setslot(gp, g_status, Py_NewRef(gWaiting)) < 0 || setslot(gp, g_waitreason, Py_NewRef(aio_turnreason)) < 0 ||
        append(SLOT(turn, t_waiters), gp) < 0) {
        unlock(lk);
        return NULL;
    }
    return unlock(lk) < 0 ? NULL : Py_NewRef(Py_None);
}

PyDoc_STRVAR(setup_aio_doc,
"setup_aio(enter, leave, swap, unslot, finish, setresult, giveturn, ended, Turn, Wake,\n"
"          goreadytail, waitReasonAsyncioTurn, /)\n--\n\n"
"Bind gosched._aio's helpers; stepgive() refuses to run until then.");

static PyObject *
setup_aio(PyObject *self, PyObject *args)
{
    PyObject *en, *lv, *sw, *us, *fi, *sr, *gt, *ed, *tt, *wt, *rt, *tr;
    if (!PyArg_ParseTuple(args, "OOOOOOOOO!O!OO:setup_aio", &en, &lv, &sw, &us, &fi, &sr, &gt, &ed,
                          &PyType_Type, &tt, &PyType_Type, &wt, &rt, &tr)) {
        return NULL;
    }
    if (mvar == NULL || lock_token == NULL || Gtype == NULL || gWaiting == NULL || procdict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_aio before setup_go and setup_chan");
        return NULL;
    }
    Py_ssize_t lk, holder, waiters, wg, ws, wtu;
    if (offset_of((PyTypeObject *)tt, "lk", &lk) || offset_of((PyTypeObject *)tt, "holder", &holder) ||
        offset_of((PyTypeObject *)tt, "waiters", &waiters) || offset_of((PyTypeObject *)wt, "gp", &wg) ||
        offset_of((PyTypeObject *)wt, "sched", &ws) || offset_of((PyTypeObject *)wt, "turn", &wtu)) {
        return NULL;
    }
    if (str_gcancel == NULL && (str_gcancel = PyUnicode_InternFromString("_gcancel")) == NULL) {
        return NULL;
    }
    t_lk = lk;
    t_holder = holder;
    t_waiters = waiters;
    w_gp = wg;
    w_sched = ws;
    w_turn = wtu;
    Py_XSETREF(aio_readytail, Py_NewRef(rt));
    Py_XSETREF(aio_turnreason, Py_NewRef(tr));
    Py_XSETREF(aio_enter, Py_NewRef(en));
    Py_XSETREF(aio_leave, Py_NewRef(lv));
    Py_XSETREF(aio_swap, Py_NewRef(sw));
    Py_XSETREF(aio_unslot, Py_NewRef(us));
    Py_XSETREF(aio_finish, Py_NewRef(fi));
    Py_XSETREF(aio_setresult, Py_NewRef(sr));
    Py_XSETREF(aio_giveturn, Py_NewRef(gt));
    Py_XSETREF(Turntype, (PyTypeObject *)Py_NewRef(tt));
    Py_XSETREF(Waketype, (PyTypeObject *)Py_NewRef(wt));
    Py_XSETREF(aio_ended, Py_NewRef(ed));  /* last: stepgive runs once this is set */
    Py_RETURN_NONE;
}
