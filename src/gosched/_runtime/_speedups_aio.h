/* gosched._aio's task steps in C: a step, the turn's hand-off, a first step, a wake-up.
 *
 * Included by _speedups.c. A task's goroutine (task._drive) runs each asyncio step
 * holding its loop's turn: fill asyncio's current-task slot, send into the coroutine
 * in the task's context, set the Task's outcome if it ended, empty the slot, hand
 * the turn to the next waiter, and park on the future the coroutine awaits; the
 * future's done-callback (turn.Wake) queues the task for the turn again. In Python
 * that was ~350 bytecodes a step in seven frames (_drive's part, _step, giveturn,
 * _handon, foreignyield, foreignpark, Wake.__call__), more than the asyncio code of
 * a Queue round trip between two tasks; asyncio's own Task.__step is C.
 *
 * stepgive() is _step then giveturn, and prepares the park on a future of this loop
 * (_drive then yields the task's PARK trap as it is); firststep() is task.firststep
 * (the dispatcher's first step of a new task, with turn.endfirst); wake() is
 * Wake.__call__ with mgr.goreadytail's common case. Each does what the Python does,
 * in the same order, and the Python stays the definition: every uncommon case calls
 * it (a cancellation pending, a main task whose steps are posted to the thread in
 * run_forever: stepgive answers NotImplemented and _drive runs _step; an outcome
 * other than a value or an ordinary exception goes through task._finish; a
 * contended turn lock, an asyncio slot a retaken step left filled, a step a retake
 * passed the turn from (turn.flush) go to the Python helpers). GeneratorExit (the
 * run closing the goroutine) leaves as it came; KeyboardInterrupt and SystemExit
 * go to loop._graise, as _step's except sends them.
 */

static PyObject *aio_enter, *aio_leave;   /* asyncio.tasks._enter_task, _leave_task (C) */
static PyObject *aio_swap, *aio_unslot;   /* task._swap(loop, task), task._leave(loop, task) */
static PyObject *aio_finish;              /* task._finish(task, exc, value) */
static PyObject *aio_setresult;           /* asyncio.Future.set_result, unbound */
static PyObject *aio_giveturn;            /* turn.giveturn(turn, gp, sched, m) */
static PyObject *aio_ended;               /* task._ENDED */
static PyObject *aio_readytail;           /* mgr.goreadytail(gp, sched) */
static PyObject *aio_pyfirst, *aio_endfirst, *aio_passed;  /* task.firststep, turn.endfirst, task.Passed */
static PyObject *aio_gtasks;              /* task.gtasks */
static PyObject *aio_tasktype;            /* task.Task (its _gctx slot) */
static PyObject *str_graise, *str_gmain, *str_gborrow, *str_gturn, *str_get_coro;
static PyObject *aio_futuretype, *aio_parkertype;  /* asyncio.Future (C), task._Parker */
static PyObject *str_blocking, *str_loop, *str_gwaiter;
static PyObject *aio_flush;               /* turn.flush(turn, gp) */
static Py_ssize_t t_first, t_defer, tk_gctx, tk_gparent, tk_gpcode, tk_gplasti, tk_gpglobals, pk_fut, pk_wake;
static Py_ssize_t tk_gwaiter;  /* task.Task's _gwaiter: the future its goroutine is parked on */
static Py_ssize_t pk_task, pk_loop, pk_coro, pk_parked;  /* the rest of task._Parker */
static PyObject *aio_resumedtype;         /* task.Resumed */
static PyObject *aio_turnreason;          /* runtime2.waitReasonAsyncioTurn */
static PyObject *str_gcancel, *str_add_done_callback;
static PyTypeObject *Turntype, *Waketype;
static Py_ssize_t t_lk, t_holder, t_waiters, w_gp, w_sched, w_turn;

/* asyncio's C Future: its _asyncio_future_blocking and _loop getsets and its add_done_callback
 * method, called as they are (the type is immutable) without the attribute machinery's walk
 * of the class and instance dict (~150 instructions a look, three a step). NULL: a Python
 * Future (_asyncio missing), read through the attribute machinery. */
static PyGetSetDef *fut_blocking, *fut_loop;
static PyObject *fut_adddone;
static PyObject *task_getcoro;  /* the C Task's get_coro (method descriptor), called directly */

/* y's attribute through its getset gs (a C Future's), or getattr without one. */
static inline PyObject *
futget(PyObject *y, PyGetSetDef *gs, PyObject *name)
{
    return gs != NULL ? gs->get(y, gs->closure) : PyObject_GetAttr(y, name);
}

/* y._asyncio_future_blocking = False through its getset, or setattr without one. */
static inline int
futunblock(PyObject *y)
{
    return fut_blocking != NULL ? fut_blocking->set(y, Py_False, fut_blocking->closure)
                                : PyObject_SetAttr(y, str_blocking, Py_False);
}

/* An attribute's truth: 1, 0, or -1. */
static int
attrtrue(PyObject *o, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL) {
        return -1;
    }
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* Intern names[i] into *dst[i], each once (a setup function's table of names): 0 or -1. */
static int
internall(const char *const *names, PyObject **const *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*dst[i] == NULL && (*dst[i] = PyUnicode_InternFromString(names[i])) == NULL) {
            return -1;
        }
    }
    return 0;
}

/* o.name, a new reference: read from its __slots__ slot at off when o's type is exactly t
 * (the loop's and the transport's hottest attributes are slots: loop.py, transport.py),
 * else, or if the slot is empty, the attribute lookup (which raises as Python would). A
 * lookup on the loop cost ~190 instructions (its instance dict is too big for 3.11's
 * shared keys), a dozen a message. An exact type only: a subclass could shadow the slot. */
static inline PyObject *
slotget(PyObject *o, PyTypeObject *t, Py_ssize_t off, PyObject *name)
{
    if (Py_IS_TYPE(o, t)) {
        PyObject *v = SLOT(o, off);
        if (v != NULL) {
            return Py_NewRef(v);
        }
    }
    return PyObject_GetAttr(o, name);
}

/* slotget's truth: 1, 0, or -1. */
static inline int
slottrue(PyObject *o, PyTypeObject *t, Py_ssize_t off, PyObject *name)
{
    if (Py_IS_TYPE(o, t)) {
        PyObject *v = SLOT(o, off);
        if (v != NULL) {
            return v == Py_True ? 1 : v == Py_False || v == Py_None ? 0 : PyObject_IsTrue(v);
        }
    }
    return attrtrue(o, name);
}

/* The loop's slots (setup_loop reads their offsets from EventLoop). */
static PyTypeObject *lp_looptype;
static Py_ssize_t lo_closed, lo_debug, lo_ready, lo_gturn, lo_gidle, lo_gdisp, lo_taskfactory, lo_gdone, lo_gborrow;
static PyObject *str_closed, *str_debug, *str_ready, *str_gdone, *str_gidle, *str_gdisp, *str_taskfactory;
#define LOOPGET(loop, f) slotget((loop), lp_looptype, lo_##f, str_##f)
#define LOOPTRUE(loop, f) slottrue((loop), lp_looptype, lo_##f, str_##f)

/* A module's attribute from its dict (a cached lookup there, not the module type's getattr
 * walk: ~5 instructions against ~290), the getattr if it is not there (__getattr__, the
 * error). c: the call site's cache. A new reference. */
static PyObject *
modattr(dcache *c, PyObject *mod, PyObject *name)
{
    PyObject *v = PyModule_Check(mod) ? dcget(c, PyModule_GetDict(mod), name) : NULL;
    if (v != NULL) {
        return Py_NewRef(v);
    }
    return PyErr_Occurred() ? NULL : PyObject_GetAttr(mod, name);
}

/* task.py's Task keeps _gcancel and _gmain in C Task's instance dict, with None or False as
 * the class's default, and no descriptor of those names: read there (taskget), on a task
 * of exactly that class, without the attribute machinery's walk of the class chain (~180
 * instructions a look, a few a step). A task nobody cancelled (and not a main task) has no
 * dict: its slots hold the rest (task.py), so the look is free. Anything else: getattr.
 * dflt: the class default (borrowed). */
static PyObject *
taskget(PyObject *task, PyObject *name, PyObject *dflt)
{
    PyObject **dp = aio_tasktype != NULL && Py_IS_TYPE(task, (PyTypeObject *)aio_tasktype)
                        ? _PyObject_GetDictPtr(task)
                        : NULL;
    if (dp == NULL) {
        return PyObject_GetAttr(task, name);
    }
    PyObject *v = *dp == NULL ? NULL : PyDict_GetItemWithError(*dp, name);
    if (v == NULL && PyErr_Occurred()) {
        return NULL;
    }
    return Py_NewRef(v != NULL ? v : dflt);
}

/* task._gwaiter = v (borrowed): its slot, on a task.Task. 0 or -1. */
static int
setfutwaiter(PyObject *task, PyObject *v)
{
    if (!PyObject_TypeCheck(task, (PyTypeObject *)aio_tasktype)) {
        return PyObject_SetAttr(task, str_gwaiter, v);
    }
    return setslot(task, tk_gwaiter, Py_NewRef(v));
}

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
    PyObject *c = taskget(task, str_gcancel, Py_None);
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
 * (GeneratorExit untouched), or -2 (KeyboardInterrupt and SystemExit once the outcome is set). */
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
        return -2;
    }
    Py_DECREF(exc);
    return 0;
}

/* KeyboardInterrupt or SystemExit left a step (pending; the Task's outcome is set), as
 * _step's except: loop._graise(e) has run_forever raise it on the main thread (0: the step
 * ended), else -1 with it still pending for the caller to raise. */
static int
graise(PyObject *loop)
{
    PyObject *exc = raised();
    if (exc == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethodOneArg(loop, str_graise, exc);
    int took = r == NULL ? -1 : PyObject_IsTrue(r);
    Py_XDECREF(r);
    if (took != 0) {  /* taken (1), or _graise's own error (-1), which wins */
        Py_DECREF(exc);
        return took > 0 ? 0 : -1;
    }
    reraise(exc);
    return -1;
}

/* turn.flush(turn, gp), if a step went on after a retake passed the turn from it (Turn.defer):
 * what it scheduled meanwhile joins the ready queue. 0 or -1. */
static int
flush(PyObject *turn, PyObject *gp)
{
    return SLOT(turn, t_defer) == Py_None ? 0 : call2(aio_flush, turn, gp);
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
        return unlock(lk) < 0 ? -1 : flush(turn, gp);
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

/* The outcome of a step that raised (stepraised's): the step ended (ENDED), or NULL. */
static PyObject *
endedby(PyObject *task, PyObject *loop)
{
    int rc = stepraised(task);
    if (rc == -2) {
        rc = graise(loop);
    }
    return rc < 0 ? NULL : Py_NewRef(aio_ended);
}

/* task._step(task, loop, m, val, None): what the coroutine yielded, ENDED, or NULL. */
static PyObject *
dostep(PyObject *task, PyObject *loop, PyObject *coro, PyObject *ctx, PyObject *val)
{
    PyObject *y = NULL;
    if (slot(aio_enter, aio_swap, loop, task) < 0) {
        return NULL;
    }
    if (PyContext_Enter(ctx) < 0) {  /* ctx.run's error: the step raised it */
        y = endedby(task, loop);
    } else {
        PyObject *res = NULL;
        PySendResult r = PyIter_Send(coro, val, &res);
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
            y = endedby(task, loop);
        }
    }
    /* _step's finally: empty asyncio's slot, whatever happened (an error kept aside;
     * one raised here replaces it, as in a Python finally) */
    PyObject *pending = y == NULL ? raised() : NULL;
    if (slot(aio_leave, aio_unslot, loop, task) < 0) {
        Py_CLEAR(y);
        Py_XDECREF(pending);
        return NULL;
    }
    reraise(pending);
    return y;
}

/* May a step of task run here, not through _step: no cancellation pending, and not a
 * main task whose steps are posted to the thread in run_forever (nothing to throw in is
 * the caller's part)? 1, 0, or -1. */
static int
fasttask(PyObject *task, PyObject *loop)
{
    PyObject *c = taskget(task, str_gcancel, Py_None);
    if (c == NULL) {
        return -1;
    }
    int ok = c == Py_None;
    Py_DECREF(c);
    if (!ok) {
        return 0;
    }
    PyObject *main = taskget(task, str_gmain, Py_False);
    int posted = main == NULL ? -1 : truthy(main);
    Py_XDECREF(main);
    if (posted > 0) {
        PyObject *b = LOOPGET(loop, gborrow);
        posted = b == NULL ? -1 : b == Py_None;
        Py_XDECREF(b);
    }
    return posted < 0 ? -1 : !posted;
}

/* After a step that yielded y: a C Future of this loop (the common await) is parked on here,
 * as _drive's Python would, before the turn goes on (Task.__step's order): the task's
 * _fut_waiter, the future's _asyncio_future_blocking False, gp.blockedon and the parker's
 * future. 1 if so (the caller yields the park trap), 0 for _drive to decide, or -1. */
static int
prepark(PyObject *task, PyObject *loop, PyObject *gp, PyObject *y, PyObject *park)
{
    if (!Py_IS_TYPE(y, (PyTypeObject *)aio_futuretype) || !PyTuple_CheckExact(park) || PyTuple_GET_SIZE(park) != 3 ||
        !Py_IS_TYPE(PyTuple_GET_ITEM(park, 1), (PyTypeObject *)aio_parkertype)) {
        return 0;
    }
    PyObject *v = futget(y, fut_blocking, str_blocking);
    int ok = v == Py_True;
    Py_XDECREF(v);
    if (v == NULL || !ok) {
        return v == NULL ? -1 : 0;
    }
    v = futget(y, fut_loop, str_loop);
    ok = v == loop;
    Py_XDECREF(v);
    if (v == NULL || !ok) {
        return v == NULL ? -1 : 0;
    }
    v = taskget(task, str_gcancel, Py_None);  /* a cancel() during the step: _drive throws it at y */
    ok = v == Py_None;
    Py_XDECREF(v);
    if (v == NULL || !ok) {
        return v == NULL ? -1 : 0;
    }
    if (setfutwaiter(task, y) < 0 || futunblock(y) < 0 || setslot(gp, g_blockedon, Py_NewRef(y)) < 0 ||
        setslot(PyTuple_GET_ITEM(park, 1), pk_fut, Py_NewRef(y)) < 0) {
        return -1;
    }
    return 1;
}

/* gopark's unlockf for a task parked on an asyncio future: task._Parker.release, which
 * proc.unlockf calls (the future's done-callback, the task's Wake, is added now that the
 * goroutine is off the CPU). 1 done, 0 not a parker (the caller's Python does it), -1. */
static int
parkrelease(PyObject *ul)
{
    if (aio_parkertype == NULL || !Py_IS_TYPE(ul, (PyTypeObject *)aio_parkertype)) {
        return 0;
    }
    PyObject *fut = SLOT(ul, pk_fut), *wake = SLOT(ul, pk_wake);
    if (fut == NULL || fut == Py_None || wake == NULL) {
        return 0;  /* the Python's error (release with nothing to release) */
    }
    Py_INCREF(fut);
    PyObject *w = Py_NewRef(wake);
    if (setslot(ul, pk_fut, Py_NewRef(Py_None)) < 0) {  /* fut, self.fut = self.fut, None */
        Py_DECREF(fut);
        Py_DECREF(w);
        return -1;
    }
    PyObject *args[2] = {fut, w};
    PyObject *r = fut_adddone != NULL && Py_IS_TYPE(fut, (PyTypeObject *)aio_futuretype)
                      ? PyObject_Vectorcall(fut_adddone, args, 2, NULL)
                      : PyObject_VectorcallMethod(str_add_done_callback, args, 2, NULL);
    Py_DECREF(fut);
    Py_DECREF(w);
    Py_XDECREF(r);
    return r == NULL ? -1 : 1;
}

PyDoc_STRVAR(stepgive_doc,
"stepgive(task, loop, coro, ctx, m, val, turn, gp, sched, park, /)\n--\n\n"
"task._drive's step: task._step(task, loop, m, val, None), then\n"
"turn.giveturn(turn, gp, sched, m). What the coroutine yielded, or task._ENDED,\n"
"or park (the task's PARK trap) with the park on the future it yielded prepared;\n"
"NotImplemented, with nothing done, for a task whose step _step must run. m None:\n"
"this thread's M, with loop made the thread's running loop first if it is not.");

static int ownloop(PyObject *loop);  /* _speedups_aioloop.h */

static PyObject *stepgive_(PyObject *task, PyObject *loop, PyObject *coro, PyObject *ctx, PyObject *m,
                           PyObject *val, PyObject *turn, PyObject *gp, PyObject *sched, PyObject *park);

static PyObject *
stepgive(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10 || aio_ended == NULL) {
        PyErr_SetString(PyExc_TypeError, "stepgive() takes 10 arguments, after setup_aio");
        return NULL;
    }
    return stepgive_(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9]);
}

static PyObject *
stepgive_(PyObject *task, PyObject *loop, PyObject *coro, PyObject *ctx, PyObject *m, PyObject *val,
          PyObject *turn, PyObject *gp, PyObject *sched, PyObject *park)
{
    int fast = fasttask(task, loop);
    if (fast <= 0) {
        return fast < 0 ? NULL : Py_NewRef(Py_NotImplemented);
    }
    if (m == Py_None) {  /* _drive leaves the M and the thread's running loop to us */
        if (ownloop(loop) < 0) {
            return NULL;
        }
        m = curm != NULL ? curm : Py_None;  /* this thread's: it outlives the call */
    }
    PyObject *y = dostep(task, loop, coro, ctx, val);
    if (y != NULL && y != aio_ended) {
        int pp = prepark(task, loop, gp, y, park);
        if (pp != 0) {
            Py_SETREF(y, pp < 0 ? NULL : Py_NewRef(park));
        }
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

/* execute's resume of a task goroutine whose driver (task._drive) waits at its park trap: a
 * future's wake-up. The driver's work for that resume, without resuming it: the task's
 * _gwaiter cleared, then, while the goroutine still holds its loop's turn (handed over with
 * the wake-up: the common case), stepgive's step. Another park on a future (a stream's next
 * read, a Queue's next get) is the trap returned, and the driver stays where it waits: a
 * generator resume and its bytecode a step fewer. Otherwise NULL, and *tosend is what the
 * driver is resumed with: val itself (it takes the turn, or the step is _step's), or a
 * task.Resumed of what the step yielded. NULL without *tosend: an error. */
static PyObject *
aioresume(PyObject *gp, PyObject *park, PyObject *val, PyObject **tosend)
{
    *tosend = NULL;
    PyObject *pk = PyTuple_CheckExact(park) && PyTuple_GET_SIZE(park) == 3 ? PyTuple_GET_ITEM(park, 1) : NULL;
    if (aio_ended == NULL || pk == NULL || !Py_IS_TYPE(pk, (PyTypeObject *)aio_parkertype) ||
        SLOT(pk, pk_parked) != Py_True || !Py_IS_TYPE(SLOT(pk, pk_wake), Waketype)) {
        *tosend = Py_NewRef(val);
        return NULL;
    }
    PyObject *task = SLOT(pk, pk_task), *wake = SLOT(pk, pk_wake), *turn = SLOT(wake, w_turn);
    if (task == NULL || !PyObject_TypeCheck(task, (PyTypeObject *)aio_tasktype) || SLOT(task, tk_gctx) == NULL ||
        SLOT(pk, pk_loop) == NULL || SLOT(pk, pk_coro) == NULL || SLOT(wake, w_sched) == NULL) {
        *tosend = Py_NewRef(val);  /* a parker not made by the driver: its Python says what is wrong */
        return NULL;
    }
    if (setfutwaiter(task, Py_None) < 0) {  /* the driver's finally */
        return NULL;
    }
    if (turn == NULL || !Py_IS_TYPE(turn, Turntype) || SLOT(turn, t_holder) != gp) {
        *tosend = Py_NewRef(val);  /* the driver takes the turn, or parks for it */
        return NULL;
    }
    PyObject *a[9] = {task, SLOT(pk, pk_loop), SLOT(pk, pk_coro), SLOT(task, tk_gctx), turn, SLOT(wake, w_sched),
                      park, pk, val};
    for (int i = 0; i < 9; i++) {  /* the step may end the task, and the driver with it */
        Py_INCREF(a[i]);
    }
    PyObject *y = stepgive_(a[0], a[1], a[2], a[3], Py_None, val, a[4], gp, a[5], a[6]), *out = NULL;
    if (y == park) {
        out = y;
    }
    else if (y == Py_NotImplemented) {
        *tosend = Py_NewRef(val);
        Py_DECREF(y);
    }
    else if (y != NULL) {
        *tosend = PyObject_CallOneArg(aio_resumedtype, y);
        Py_DECREF(y);
    }
    for (int i = 0; i < 9; i++) {
        Py_DECREF(a[i]);
    }
    return out;
}

PyDoc_STRVAR(firststep_doc,
"firststep(task, loop, m, gp, /)\n--\n\n"
"task.firststep: task's first step on the loop's dispatcher gp, which holds the turn;\n"
"task.firststep itself for a task whose step _step must run.");

static PyObject *
firststep(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || aio_ended == NULL) {
        PyErr_SetString(PyExc_TypeError, "firststep() takes 4 arguments, after setup_aio");
        return NULL;
    }
    PyObject *task = args[0], *loop = args[1], *gp = args[3];  /* args[2], the M: _step's */
    int fast = Py_IS_TYPE(task, (PyTypeObject *)aio_tasktype) ? fasttask(task, loop) : 0;
    if (fast <= 0) {
        return fast < 0 ? NULL : PyObject_Vectorcall(aio_pyfirst, args, 4, NULL);
    }
    PyObject *turn = LOOPGET(loop, gturn);
    if (turn == NULL) {
        return NULL;
    }
    if (!Py_IS_TYPE(turn, Turntype)) {
        Py_DECREF(turn);
        return PyObject_Vectorcall(aio_pyfirst, args, 4, NULL);
    }
    PyObject *coro = NULL, *ctx = SLOT(task, tk_gctx), *y = NULL;
    if (ctx == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_gctx");
        goto done;
    }
    /* current_task() during the step; a retake may pass the turn on meanwhile (passturn) */
    if (PyDict_SetItem(aio_gtasks, gp, task) < 0 || setslot(turn, t_first, Py_NewRef(task)) < 0 ||
        (coro = task_getcoro != NULL && Py_IS_TYPE(task, (PyTypeObject *)aio_tasktype)
                    ? PyObject_Vectorcall(task_getcoro, &task, 1, NULL)
                    : PyObject_CallMethodNoArgs(task, str_get_coro)) == NULL) {
        goto done;
    }
    Py_INCREF(ctx);
    y = dostep(task, loop, coro, ctx, Py_None);
    Py_DECREF(ctx);
    PyObject *pending = y == NULL ? raised() : NULL;
    if (PyDict_DelItem(aio_gtasks, gp) < 0) {  /* firststep's finally */
        Py_CLEAR(y);
        Py_XDECREF(pending);
        goto done;
    }
    reraise(pending);
    if (y == NULL) {
        goto done;
    }
    /* turn.endfirst: does the dispatcher still hold the turn (not passed on by a retake)? */
    PyObject *lk = SLOT(turn, t_lk);
    int held;
    if (trylock(lk)) {
        held = SLOT(turn, t_holder) == gp;
        if (setslot(turn, t_first, Py_NewRef(Py_None)) < 0 || unlock(lk) < 0 || (!held && flush(turn, gp) < 0)) {
            Py_CLEAR(y);
            goto done;
        }
    } else {  /* the lock is busy: turn.endfirst waits for it */
        PyObject *a[2] = {turn, gp};
        PyObject *r = PyObject_Vectorcall(aio_endfirst, a, 2, NULL);
        held = r == NULL ? -1 : PyObject_IsTrue(r);
        Py_XDECREF(r);
    }
    if (held <= 0) {
        Py_SETREF(y, held < 0 ? NULL : PyObject_CallOneArg(aio_passed, y));
    }
done:
    Py_XDECREF(coro);
    Py_DECREF(turn);
    return y;
}

/* mgr.goreadytail(gp, sched): gp runnable at the tail of this M's local run queue (a woken
 * task resumes in wake-up order, as call_soon's FIFO), for an M of sched holding its P with
 * no tracing; the Python function for the others. */
static int
readytail(PyObject *gp, PyObject *sched)
{
    PyObject *m = thism();
    if (Py_IS_TYPE(m, Mtype) && SLOT(m, m_sched) == sched) {
        PyObject *p = SLOT(m, m_p);
        PyObject *tracing = proctracing();
        int lost = truthy(SLOT(m, m_lostp_since));
        if (tracing == Py_False && lost == 0 && Py_IS_TYPE(p, Ptype)) {
            Py_DECREF(m);
            PyObject *lq = SLOT(p, p_runq);
            Py_ssize_t n = qlen(lq);
            if (n < 0 || stamprunnable(gp) < 0 || setslot(gp, g_status, Py_NewRef(grunnable)) < 0 ||
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

/* Task's traversal for the cyclic collector (gosched): what CPython's subtype_traverse
 * does for task.Task, without its walk of the class chain and of each class's member
 * table at every visit. A collection traverses each pending task twice per generation
 * it passes through, and 50,000 tasks from one listcomp meet four full collections:
 * subtype_traverse was the largest of the collector's costs an asyncio Task has on
 * gosched's loop and not on asyncio's (callgrind, create_task + gather). Same visits,
 * same order: the slots of each Python class up to the C Task, the class itself if
 * the C Task is not a heap type (a heap type's own traverse visits it), then C's. */
static traverseproc tk_basetraverse;
static Py_ssize_t tk_slots[8];
static int tk_nslots, tk_visittype;

static int
task_traverse(PyObject *self, visitproc visit, void *arg)
{
    for (int i = 0; i < tk_nslots; i++) {
        Py_VISIT(*(PyObject **)((char *)self + tk_slots[i]));
    }
    if (tk_visittype) {
        Py_VISIT(Py_TYPE(self));
    }
    return tk_basetraverse(self, visit, arg);
}

/* Install task_traverse on kt if its layout is the plain one it mirrors (slots only, the
 * C base's dict): otherwise leave subtype_traverse, which is always right. */
static void
settasktraverse(PyTypeObject *kt)
{
    traverseproc sub = kt->tp_traverse;
    PyTypeObject *b = kt;
    int n = 0;
    if (sub == task_traverse) {
        return;
    }
    for (; b != NULL && b->tp_traverse == sub; b = b->tp_base) {
        if (!(b->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            return;
        }
        PyMemberDef *mp = b->tp_members;
        for (Py_ssize_t i = 0; i < Py_SIZE(b); i++, mp++) {
            if (mp->type == T_OBJECT_EX) {
                if (n == (int)(sizeof(tk_slots) / sizeof(tk_slots[0]))) {
                    return;
                }
                tk_slots[n++] = mp->offset;
            }
        }
    }
    if (b == NULL || b->tp_traverse == NULL || b->tp_dictoffset != kt->tp_dictoffset ||
        (kt->tp_flags & (1UL << 4)) /* Py_TPFLAGS_MANAGED_DICT */) {
        return;
    }
    tk_nslots = n;
    tk_visittype = !(b->tp_flags & Py_TPFLAGS_HEAPTYPE);
    tk_basetraverse = b->tp_traverse;
    kt->tp_traverse = task_traverse;
}

PyDoc_STRVAR(setup_aio_doc,
"setup_aio(helpers, /)\n--\n\n"
"Bind gosched._aio's helpers, a dict by name (task.py passes it); stepgive and\n"
"firststep refuse to run, and wake calls the Wake itself, until then.");

static PyObject *
setup_aio(PyObject *self, PyObject *d)
{
    static const char *names[] = {"enter", "leave", "swap", "unslot", "finish", "setresult", "giveturn",
                                  "readytail", "turnreason", "firststep", "endfirst", "flush", "Passed", "gtasks",
                                  "Turn", "Wake", "Task", "Future", "Parker", "Resumed", "ENDED"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    PyObject **dst[N] = {&aio_enter, &aio_leave, &aio_swap, &aio_unslot, &aio_finish, &aio_setresult,
                         &aio_giveturn, &aio_readytail, &aio_turnreason, &aio_pyfirst, &aio_endfirst,
                         &aio_flush, &aio_passed, &aio_gtasks, (PyObject **)&Turntype, (PyObject **)&Waketype,
                         &aio_tasktype, &aio_futuretype, &aio_parkertype, &aio_resumedtype, &aio_ended};
    PyObject *got[N];
    if (!PyDict_CheckExact(d)) {
        PyErr_SetString(PyExc_TypeError, "setup_aio(helpers): a dict");
        return NULL;
    }
    if (!gobound || lock_token == NULL || Gtype == NULL || gWaiting == NULL || procdict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_aio before setup_go, setup_chan and setup_sched");
        return NULL;
    }
    for (int i = 0; i < N; i++) {
        if ((got[i] = PyDict_GetItemString(d, names[i])) == NULL) {
            PyErr_Format(PyExc_KeyError, "setup_aio: no %s", names[i]);
            return NULL;
        }
    }
    for (int i = 14; i < N - 1; i++) {
        if (!PyType_Check(got[i])) {
            PyErr_Format(PyExc_TypeError, "setup_aio: %s is not a class", names[i]);
            return NULL;
        }
    }
    if (!PyDict_CheckExact(got[13])) {
        PyErr_SetString(PyExc_TypeError, "setup_aio: gtasks is not a dict");
        return NULL;
    }
    PyTypeObject *tt = (PyTypeObject *)got[14], *wt = (PyTypeObject *)got[15], *kt = (PyTypeObject *)got[16];
    if (offset_of(tt, "lk", &t_lk) || offset_of(tt, "holder", &t_holder) || offset_of(tt, "waiters", &t_waiters) ||
        offset_of(tt, "first", &t_first) || offset_of(wt, "gp", &w_gp) || offset_of(wt, "sched", &w_sched) ||
        offset_of(wt, "turn", &w_turn) || offset_of(kt, "_gctx", &tk_gctx) ||
        offset_of(kt, "_gparent", &tk_gparent) || offset_of(kt, "_gpcode", &tk_gpcode) ||
        offset_of(kt, "_gplasti", &tk_gplasti) || offset_of(kt, "_gpglobals", &tk_gpglobals) ||
        offset_of(kt, "_gwaiter", &tk_gwaiter) ||
        offset_of((PyTypeObject *)got[18], "fut", &pk_fut) || offset_of((PyTypeObject *)got[18], "wake", &pk_wake) ||
        offset_of((PyTypeObject *)got[18], "task", &pk_task) || offset_of((PyTypeObject *)got[18], "loop", &pk_loop) ||
        offset_of((PyTypeObject *)got[18], "coro", &pk_coro) || offset_of((PyTypeObject *)got[18], "parked", &pk_parked) || offset_of(tt, "defer", &t_defer)) {
        return NULL;
    }
    Py_ssize_t gpark;
    if (offset_of(Gtype, "aiopark", &gpark)) {
        return NULL;
    }
    PyTypeObject *ft = (PyTypeObject *)got[17];
    PyObject *blk = PyDict_GetItemString(ft->tp_dict, "_asyncio_future_blocking");
    PyObject *lp = PyDict_GetItemString(ft->tp_dict, "_loop");
    PyObject *add = PyDict_GetItemString(ft->tp_dict, "add_done_callback");
    int cfut = (!(ft->tp_flags & Py_TPFLAGS_HEAPTYPE) || (ft->tp_flags & Py_TPFLAGS_IMMUTABLETYPE)) &&
               blk != NULL && lp != NULL && add != NULL && Py_IS_TYPE(blk, &PyGetSetDescr_Type) &&
               Py_IS_TYPE(lp, &PyGetSetDescr_Type) && Py_IS_TYPE(add, &PyMethodDescr_Type) &&
               ((PyGetSetDescrObject *)blk)->d_getset->set != NULL;
    settasktraverse(kt);
    static const char *strs[] = {"_gcancel", "_graise", "_gmain", "_gborrow", "_gturn", "get_coro",
                                 "_asyncio_future_blocking", "_loop", "_gwaiter", "add_done_callback"};
    PyObject **sdst[] = {&str_gcancel, &str_graise, &str_gmain, &str_gborrow, &str_gturn, &str_get_coro,
                         &str_blocking, &str_loop, &str_gwaiter, &str_add_done_callback};
    if (internall(strs, sdst, sizeof(strs) / sizeof(strs[0])) < 0) {
        return NULL;
    }
    for (int i = 0; i < N; i++) {  /* ENDED last: stepgive and firststep run once it is set */
        Py_XSETREF(*dst[i], Py_NewRef(got[i]));
    }
    /* asyncio's C Future (the pure-Python one, with _asyncio missing: the attribute machinery) */
    fut_blocking = cfut ? ((PyGetSetDescrObject *)blk)->d_getset : NULL;
    fut_loop = cfut ? ((PyGetSetDescrObject *)lp)->d_getset : NULL;
    Py_XSETREF(fut_adddone, cfut ? Py_NewRef(add) : NULL);
    /* task.Task's own get_coro if it inherits the C Task's: a method descriptor of an immutable type */
    PyObject *gc = _PyType_Lookup((PyTypeObject *)kt, str_get_coro);
    Py_XSETREF(task_getcoro, gc != NULL && Py_IS_TYPE(gc, &PyMethodDescr_Type) &&
                                     PyType_IsSubtype(kt, ((PyMethodDescrObject *)gc)->d_common.d_type)
                                 ? Py_NewRef(gc)
                                 : NULL);
    g_aiopark = gpark;  /* execute's aioresume from here */
    Py_RETURN_NONE;
}
