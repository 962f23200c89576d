/* gosched._aio's loop in C: call_soon's common cases, the poller's serving of ready
 * descriptors (serveready, runhandle), and the running-loop look.
 *
 * Included by _speedups.c after _speedups_aio.h. Every message an asyncio server reads
 * passes through these: the poller reads the loop's epoll set and runs the transport's
 * reader callback (BaseEventLoop._run_once's select and _process_events, Handle._run),
 * and the data's future wakes the task that awaits it through loop.call_soon (C Future's
 * done-callbacks are scheduled by a method call on the loop); every create_task calls
 * call_soon too (C Task.__init__ schedules its first __step); every task step checks the
 * thread's running loop. In Python each was a frame, or several, around a C call.
 *
 * callsoon is EventLoop.call_soon as a method descriptor of the class (setup_loop makes
 * it), so a subclass that overrides call_soon keeps its own and C Future's method call
 * costs no bound method. Its common cases: C Task.__init__'s first __step, which the task's
 * goroutine runs instead (the loop's _gdone, a Handle never queued); a task's Wake with
 * nothing queued before it, the loop neither closed nor in debug mode, and no retaken step
 * deferring the loop's callbacks: wake() at once; any other callback on such a loop: the
 * events.Handle its __init__ would make, made here and queued (a future's done-callbacks,
 * gather's among them). The rest, in the same order of checks, is the Python method
 * (loop.py), which stays the definition, as dispatch.py's _runhandle and _runready stay
 * serveready's and runhandle's: debug mode and a callback that raised go to its Python
 * helpers. get_debug and create_future are BaseEventLoop's, as descriptors the same way.
 */

static PyObject *lp_pycallsoon;          /* loop.EventLoop.call_soon, the Python */
static PyObject *lp_failed, *lp_timed;   /* dispatch._callbackfailed, dispatch._runtimed */
static PyTypeObject *lp_stepwrapper;     /* asyncio's C TaskStepMethWrapper (task.StepWrapper) */
static PyObject *str_self, *str_context, *str_callback, *str_args;
static PyTypeObject *lp_handletype;     /* asyncio.events.Handle */
static PyObject *lp_handleinit;         /* its __init__ at setup (held: its address is what is compared) */
static Py_ssize_t hd_context, hd_loop, hd_callback, hd_args, hd_cancelled, hd_repr, hd_tb;
static PyObject *str_init, *str_append, *str_gwake, *str_context_kw;


/* The Python method fn (a function of the class, or NULL before setup_loop) called as
 * loop.fn(*args, **kw): loop first, then the arguments and keywords as they came. */
static PyObject *
callmethod(PyObject *fn, const char *name, PyObject *loop, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    if (fn == NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s before setup_loop", name);
        return NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *small[8], **stack = small;
    if (nargs + nkw + 1 > 8 && (stack = PyMem_Malloc((nargs + nkw + 1) * sizeof(PyObject *))) == NULL) {
        return PyErr_NoMemory();
    }
    stack[0] = loop;
    memcpy(stack + 1, args, (nargs + nkw) * sizeof(PyObject *));
    PyObject *r = PyObject_Vectorcall(fn, stack, nargs + 1, kwnames);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return r;
}

/* Which of call_soon's cases call_soon(cb, *args) is on this loop, in the Python method's
 * order of checks: 1 a first __step (drop it), 2 a Wake to call now, 3 a Handle to queue
 * (made here: queuehandle), 0 the Python method (a retaken step deferring callbacks, a
 * closed loop's error, debug mode's checks), -1 error. */
static int
callsoonkind(PyObject *loop, PyObject *cb, Py_ssize_t nargs)
{
    PyTypeObject *t = Py_TYPE(cb);
    if (t == lp_stepwrapper) {  /* isinstance(callback.__self__, Task) */
        PyObject *s = PyObject_GetAttr(cb, str_self);
        if (s == NULL) {
            return -1;
        }
        int r = PyObject_TypeCheck(s, (PyTypeObject *)aio_tasktype);
        Py_DECREF(s);
        if (r != 0) {
            return r;
        }
    }
    PyObject *turn = LOOPGET(loop, gturn);  /* no retaken step defers callbacks */
    if (turn == NULL) {
        return -1;
    }
    int later = !Py_IS_TYPE(turn, Turntype) || SLOT(turn, t_defer) != Py_None;
    Py_DECREF(turn);
    if (later) {
        return 0;
    }
    int r;
    if (t == Waketype && nargs == 2) {
        if ((r = LOOPTRUE(loop, ready)) < 0) {
            return -1;
        }
        if (r == 0) {
            if ((r = LOOPTRUE(loop, debug)) != 0 || (r = LOOPTRUE(loop, closed)) != 0) {
                return r < 0 ? -1 : 0;
            }
            return 2;
        }
    }
    if ((r = LOOPTRUE(loop, closed)) != 0 || (r = LOOPTRUE(loop, debug)) != 0) {
        return r < 0 ? -1 : 0;
    }
    return 3;
}

/* The loop's _gkick, in line: wake its dispatcher if it is idle or there is none. 0 or -1. */
static int
kickloop(PyObject *loop)
{
    int kick = LOOPTRUE(loop, gidle);
    if (kick == 0) {
        int disp = LOOPTRUE(loop, gdisp);
        kick = disp < 0 ? -1 : !disp;
    }
    if (kick > 0) {
        PyObject *r = PyObject_CallMethodNoArgs(loop, str_gwake);
        Py_XDECREF(r);
        kick = r == NULL ? -1 : 0;
    }
    return kick;
}

/* events.Handle(cb, args, loop, context) as its __init__ makes it outside debug mode,
 * appended to loop._ready, the dispatcher kicked if idle (the Python method's
 * _call_soon, in line): the handle, NULL with an error, or NULL without one if Handle's
 * __init__ is not the one read at setup (somebody wrapped it: the Python method then). */
static PyObject *
queuehandle(PyObject *loop, PyObject *const *args, Py_ssize_t nargs, PyObject *context)
{
    if (lp_handletype == NULL || _PyType_Lookup(lp_handletype, str_init) != lp_handleinit) {
        return NULL;
    }
    PyObject *cargs = PyTuple_New(nargs - 1);
    if (cargs == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 1; i < nargs; i++) {
        PyTuple_SET_ITEM(cargs, i - 1, Py_NewRef(args[i]));
    }
    PyObject *ctx = context == NULL || context == Py_None ? PyContext_CopyCurrent() : Py_NewRef(context);
    PyObject *h = ctx == NULL ? NULL : lp_handletype->tp_alloc(lp_handletype, 0);
    if (h == NULL) {
        Py_DECREF(cargs);
        Py_XDECREF(ctx);
        return NULL;
    }
    /* Each slot's reference moves in: the new object's slots are all NULL. */
    if (setslot(h, hd_context, ctx) < 0 || setslot(h, hd_loop, Py_NewRef(loop)) < 0 ||
        setslot(h, hd_callback, Py_NewRef(args[0])) < 0 || setslot(h, hd_args, cargs) < 0 ||
        setslot(h, hd_cancelled, Py_NewRef(Py_False)) < 0 || setslot(h, hd_repr, Py_NewRef(Py_None)) < 0 ||
        setslot(h, hd_tb, Py_NewRef(Py_None)) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    PyObject *ready = LOOPGET(loop, ready);
    int rc = ready == NULL ? -1 : append(ready, h);
    Py_XDECREF(ready);
    if (rc < 0) {
        Py_DECREF(h);
        return NULL;
    }
    if (kickloop(loop) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

static PyObject *
callsoon(PyObject *loop, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int kind = nargs >= 1 && lp_pycallsoon != NULL ? callsoonkind(loop, args[0], nargs) : 0;
    if (kind < 0) {
        return NULL;
    }
    if (kind == 2) {
        PyObject *r = wake(NULL, args, 2);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
    }
    if (kind == 3) {
        /* context= is the one keyword; any other goes to the Python method's error */
        Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
        if (nkw == 0 || (nkw == 1 && PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) &&
                         PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), str_context_kw) == 0)) {
            PyObject *h = queuehandle(loop, args, nargs, nkw ? args[nargs] : NULL);
            if (h != NULL || PyErr_Occurred()) {
                return h;
            }
        }
        kind = 0;
    }
    if (kind) {
        return LOOPGET(loop, gdone);
    }
    return callmethod(lp_pycallsoon, "call_soon", loop, args, nargs, kwnames);
}

static PyMethodDef callsoon_def = {
    "call_soon", (PyCFunction)(void (*)(void))callsoon, METH_FASTCALL | METH_KEYWORDS,
    "call_soon(callback, *args, context=None)\n--\n\n"
    "Arrange for callback(*args) to be called soon, in FIFO order (asyncio's\n"
    "AbstractEventLoop.call_soon); a Handle that can cancel it."};

/* BaseEventLoop.get_debug and create_future as method descriptors of the loop class, as
 * call_soon: C Future.__init__ asks the loop's get_debug at every future and task made,
 * and every wait for data in asyncio's streams makes a future (create_future). */
static PyObject *lp_futures;  /* asyncio.futures: create_future looks its Future up at each call */
static PyObject *str_future, *str_loop_kw1;

static PyObject *
getdebug(PyObject *loop, PyObject *unused)
{
    return LOOPGET(loop, debug);
}

static PyObject *
createfuture(PyObject *loop, PyObject *unused)
{
    static dcache cache;
    PyObject *cls = modattr(&cache, lp_futures, str_future);
    if (cls == NULL) {
        return NULL;
    }
    PyObject *args[1] = {loop};
    PyObject *f = PyObject_Vectorcall(cls, args, 0, str_loop_kw1);
    Py_DECREF(cls);
    return f;
}

static PyMethodDef getdebug_def = {
    "get_debug", (PyCFunction)getdebug, METH_NOARGS, "get_debug()\n--\n\nWhether the loop is in debug mode."};
static PyMethodDef createfuture_def = {
    "create_future", (PyCFunction)createfuture, METH_NOARGS,
    "create_future()\n--\n\nCreate a Future object attached to the loop."};

/* EventLoop.create_task as a method descriptor, as call_soon: the Python method's work for a
 * task made on an M (the common case: a task or goroutine makes it) on a loop neither
 * closed nor in debug mode, with no task factory but asyncio's eager one and no keyword
 * but name and context. Anything else is the Python method, the definition. */
static PyObject *lp_pycreatetask, *lp_eager, *lp_creatorsite;  /* loop.py's create_task, _EAGER, creatorsite */
#ifdef GOSCHED_FRAMEWALK
static PyObject *lp_siteprefixes;  /* task.py's LOOPCODE: tasksite walks the frames itself */
#endif
static PyObject *str_name_kw, *str_taskkw;

/* The task's creation site and parent (as loop.py's create_task sets them). 0 or -1. On 3.11
 * the frame walk is called directly (framesite), without the site's tuple. */
static int
tasksite(PyObject *task, PyObject *cur)
{
    PyObject *code = Py_None, *lasti = NULL, *glob = Py_None, *site = NULL;
#ifdef GOSCHED_FRAMEWALK
    if (lp_siteprefixes != NULL) {
        _PyInterpreterFrame *f;
        int r = framesite(lp_siteprefixes, 0, &f);  /* from C: the caller is depth 0 */
        if (r < 0 || (lasti = PyLong_FromLong(r ? framelasti(f) : 0)) == NULL) {
            return -1;
        }
        if (r) {
            code = (PyObject *)f->f_code;
            glob = f->f_globals;
        }
    }
    else
#endif
    {
        if ((site = PyObject_CallOneArg(lp_creatorsite, int0)) == NULL) {
            return -1;
        }
        if (site != Py_None) {
            if (!PyTuple_Check(site) || PyTuple_GET_SIZE(site) != 3) {
                Py_DECREF(site);
                PyErr_SetString(PyExc_TypeError, "creatorsite: not a (code, lasti, globals)");
                return -1;
            }
            code = PyTuple_GET_ITEM(site, 0);
            glob = PyTuple_GET_ITEM(site, 2);
        }
        lasti = Py_NewRef(site != Py_None ? PyTuple_GET_ITEM(site, 1) : int0);
    }
    PyObject *parent = cur != NULL ? SLOT(cur, g_goid) : int0;
    int rc = setslot(task, tk_gparent, Py_NewRef(parent)) < 0 || setslot(task, tk_gpcode, Py_NewRef(code)) < 0 ||
                     setslot(task, tk_gplasti, lasti) < 0 || setslot(task, tk_gpglobals, Py_NewRef(glob)) < 0
                 ? -1
                 : 0;
    Py_XDECREF(site);
    return rc;
}

/* Queue the new task: on a retaken step's deferral list if its step defers (Turn.defer),
 * else on the loop's ready queue with the dispatcher kicked. 0 or -1. */
static int
queuetask(PyObject *loop, PyObject *task, PyObject *cur)
{
    PyObject *turn = LOOPGET(loop, gturn);
    if (turn == NULL) {
        return -1;
    }
    PyObject *d = Py_IS_TYPE(turn, Turntype) ? SLOT(turn, t_defer) : NULL;
    if (d != NULL && d != Py_None && cur != NULL) {
        PyObject *later = PyObject_GetItem(d, cur);
        if (later == NULL && !PyErr_ExceptionMatches(PyExc_KeyError)) {
            Py_DECREF(turn);
            return -1;
        }
        PyErr_Clear();
        if (later != NULL && later != Py_None) {
            PyObject *r = PyObject_CallMethodOneArg(later, str_append, task);
            Py_DECREF(later);
            Py_DECREF(turn);
            Py_XDECREF(r);
            return r == NULL ? -1 : 0;
        }
        Py_XDECREF(later);
    }
    Py_DECREF(turn);
    PyObject *ready = LOOPGET(loop, ready);
    int rc = ready == NULL ? -1 : append(ready, task);
    Py_XDECREF(ready);
    return rc < 0 ? -1 : kickloop(loop);
}

/* 1 if create_task(*args, **kw) is the common case (its name and context in *name, *context:
 * borrowed), 0 if not, -1 error. */
static int
createtaskkind(PyObject *loop, Py_ssize_t nargs, PyObject *const *args, PyObject *kwnames, PyObject **name,
               PyObject **context)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs != 1 || lp_pycreatetask == NULL || curm == NULL) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_Check(k) && PyUnicode_Compare(k, str_name_kw) == 0) {
            *name = args[nargs + i];
        }
        else if (PyUnicode_Check(k) && PyUnicode_Compare(k, str_context_kw) == 0) {
            *context = args[nargs + i];
        }
        else {
            return 0;
        }
    }
    int r;
    if ((r = LOOPTRUE(loop, closed)) != 0 || (r = LOOPTRUE(loop, debug)) != 0) {
        return r < 0 ? -1 : 0;
    }
    PyObject *factory = LOOPGET(loop, taskfactory);
    if (factory == NULL) {
        return -1;
    }
    r = factory == Py_None || factory == lp_eager;
    Py_DECREF(factory);
    return r;
}

static PyObject *
createtask(PyObject *loop, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *name = Py_None, *context = Py_None;
    int kind = createtaskkind(loop, nargs, args, kwnames, &name, &context);
    if (kind < 0) {
        return NULL;
    }
    if (kind == 0) {
        return callmethod(lp_pycreatetask, "create_task", loop, args, nargs, kwnames);
    }
    PyObject *m = thism();  /* (curm is this thread's: kept while we run) */
    PyObject *cur = Py_IS_TYPE(m, Mtype) && Py_IS_TYPE(SLOT(m, m_curg), Gtype) ? SLOT(m, m_curg) : NULL;
    Py_XINCREF(cur);
    Py_DECREF(m);
    PyObject *ctx = context == Py_None ? PyContext_CopyCurrent() : Py_NewRef(context);
    PyObject *task = NULL;
    if (ctx != NULL) {
        PyObject *targs[4] = {args[0], loop, name, ctx};
        task = PyObject_Vectorcall(aio_tasktype, targs, 1, str_taskkw);  /* Task(coro, loop=, name=, context=) */
    }
    if (task == NULL || setslot(task, tk_gctx, Py_NewRef(ctx)) < 0 || tasksite(task, cur) < 0 ||
        queuetask(loop, task, cur) < 0) {
        Py_CLEAR(task);
    }
    Py_XDECREF(ctx);
    Py_XDECREF(cur);
    return task;
}

static PyMethodDef createtask_def = {
    "create_task", (PyCFunction)(void (*)(void))createtask, METH_FASTCALL | METH_KEYWORDS,
    "create_task(coro, *, name=None, context=None)\n--\n\n"
    "Schedule a coroutine object as a task (asyncio's AbstractEventLoop.create_task): its\n"
    "steps run as a goroutine."};

PyDoc_STRVAR(runhandle_doc,
"runhandle(loop, h, /)\n--\n\n"
"gosched._aio.dispatch.runhandle: run Handle h's callback in its context, a\n"
"callback that raised reported to the loop's exception handler.");

/* Run Handle h's callback on loop (runhandle's work): 0, or -1 with SystemExit, KeyboardInterrupt
 * or an error of the machinery set. */
static int
runh(PyObject *loop, PyObject *h)
{
    int debug = LOOPTRUE(loop, debug);
    if (debug != 0) {
        return debug < 0 ? -1 : call2(lp_timed, loop, h);
    }
    PyObject *ctx = slotget(h, lp_handletype, hd_context, str_context);
    PyObject *cb = ctx == NULL ? NULL : slotget(h, lp_handletype, hd_callback, str_callback);
    PyObject *cargs = cb == NULL ? NULL : slotget(h, lp_handletype, hd_args, str_args);
    if (cargs == NULL) {
        Py_XDECREF(ctx);
        Py_XDECREF(cb);
        return -1;
    }
    PyObject *r = NULL;
    PyObject *t = PyTuple_CheckExact(cargs) ? Py_NewRef(cargs) : PySequence_Tuple(cargs);
    if (t != NULL) {
        if (PyContext_Enter(ctx) == 0) {  /* ctx.run(cb, *args) */
            r = PyObject_Call(cb, t, NULL);
            if (PyContext_Exit(ctx) < 0) {
                Py_CLEAR(r);
            }
        }
        Py_DECREF(t);
    }
    Py_DECREF(ctx);
    Py_DECREF(cb);
    Py_DECREF(cargs);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyObject *exc = raised();
    if (exc == NULL) {
        return -1;
    }
    PyObject *fargs[3] = {loop, h, exc};
    r = PyObject_Vectorcall(lp_failed, fargs, 3, NULL);
    Py_DECREF(exc);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static PyObject *
runhandle(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || lp_failed == NULL) {
        PyErr_SetString(PyExc_TypeError, "runhandle(loop, h), after setup_loop");
        return NULL;
    }
    if (runh(args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* serveready: the loop's epoll set read without waiting, then each ready key's reader and
 * writer callbacks run at once, as dispatch._runready's Python does with sel.select(0)
 * (EpollSelector.select's mapping of epoll's bits, the key's own events) and
 * BaseSelectorEventLoop._process_events (a cancelled handle's descriptor unwatched). Keys
 * are taken before any callback runs, as select() returns them; a callback may unregister
 * a later one, whose handles still run, as in asyncio. Up to SERVEMAX descriptors a look:
 * the set is level-triggered, and the rest are ready at the next. True if epoll reported
 * any descriptor (the poller looks again before it parks), False if none or no set. */
#define SERVEMAX 512
static PyObject *str_ep, *str_fdtokey, *str_cancelled, *str_remove_reader, *str_remove_writer, *str_closedattr;

/* One handle of a ready key: run it, or unwatch the descriptor if cancelled. 0 or -1. */
static int
serveone(PyObject *loop, PyObject *h, PyObject *fileobj, PyObject *remove)
{
    if (h == Py_None) {
        return 0;
    }
    int c = slottrue(h, lp_handletype, hd_cancelled, str_cancelled);
    if (c < 0) {
        return -1;
    }
    if (!c) {
        return runh(loop, h);
    }
    PyObject *args[2] = {loop, fileobj};
    PyObject *r = PyObject_VectorcallMethod(remove, args, 2, NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

PyDoc_STRVAR(serveready_doc,
"serveready(loop, sel, /)\n--\n\n"
"dispatch._runready: run the callbacks of the descriptors ready now in the loop's\n"
"selector sel (its epoll set read without waiting); whether any was ready.");

static PyObject *
serveready(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || lp_failed == NULL) {
        PyErr_SetString(PyExc_TypeError, "serveready(loop, sel), after setup_loop");
        return NULL;
    }
    PyObject *loop = args[0], *sel = args[1];
    PyObject *ep = PyObject_GetAttr(sel, str_ep);  /* None: nothing watched yet */
    if (ep == NULL || ep == Py_None) {
        Py_XDECREF(ep);
        return ep == NULL ? NULL : Py_NewRef(Py_False);
    }
    int closed = attrtrue(ep, str_closedattr);
    int epfd = closed ? -1 : PyObject_AsFileDescriptor(ep);
    Py_DECREF(ep);
    if (closed || epfd < 0) {
        return closed > 0 ? Py_NewRef(Py_False) : NULL;
    }
    PyObject *map = PyObject_GetAttr(sel, str_fdtokey);
    if (map == NULL) {
        return NULL;
    }
    if (!PyDict_Check(map)) {
        Py_DECREF(map);
        PyErr_SetString(PyExc_TypeError, "serveready: the selector's _fd_to_key is not a dict");
        return NULL;
    }
    struct epoll_event evs[SERVEMAX];
    Py_ssize_t want = PyDict_GET_SIZE(map);
    int n = epoll_wait(epfd, evs, want < 1 ? 1 : want > SERVEMAX ? SERVEMAX : (int)want, 0);
    if (n < 0) {
        Py_DECREF(map);
        if (errno == EINTR) {  /* select()'s InterruptedError: nothing ready */
            Py_RETURN_FALSE;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *keys[SERVEMAX];  /* the ready keys (new references), and their ready bits */
    long masks[SERVEMAX];
    int k = 0;
    for (int i = 0; i < n; i++) {
        PyObject *fd = PyLong_FromLong(evs[i].data.fd);
        PyObject *key = fd == NULL ? NULL : PyDict_GetItemWithError(map, fd);
        Py_XDECREF(fd);
        if (key == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            continue;
        }
        if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 4 || !PyTuple_Check(PyTuple_GET_ITEM(key, 3)) ||
            PyTuple_GET_SIZE(PyTuple_GET_ITEM(key, 3)) != 2) {
            PyErr_SetString(PyExc_TypeError, "serveready: a key is not a SelectorKey with (reader, writer)");
            goto fail;
        }
        long want_ev = PyLong_AsLong(PyTuple_GET_ITEM(key, 2));
        if (want_ev == -1 && PyErr_Occurred()) {
            goto fail;
        }
        uint32_t e = evs[i].events;
        /* EpollSelector.select's mapping: anything but EPOLLIN is EVENT_WRITE (2), anything but
         * EPOLLOUT is EVENT_READ (1) */
        long got = ((e & ~(uint32_t)EPOLLIN) ? 2 : 0) | ((e & ~(uint32_t)EPOLLOUT) ? 1 : 0);
        masks[k] = got & want_ev;
        keys[k++] = Py_NewRef(key);
    }
    Py_CLEAR(map);
    int i = 0;
    for (; i < k; i++) {
        PyObject *key = keys[i], *data = PyTuple_GET_ITEM(key, 3), *fileobj = PyTuple_GET_ITEM(key, 0);
        if (((masks[i] & 1) && serveone(loop, PyTuple_GET_ITEM(data, 0), fileobj, str_remove_reader) < 0) ||
            ((masks[i] & 2) && serveone(loop, PyTuple_GET_ITEM(data, 1), fileobj, str_remove_writer) < 0)) {
            break;
        }
    }
    for (int j = 0; j < k; j++) {
        Py_DECREF(keys[j]);
    }
    if (i < k) {
        return NULL;
    }
    return PyBool_FromLong(n > 0);
fail:
    for (int j = 0; j < k; j++) {
        Py_DECREF(keys[j]);
    }
    Py_XDECREF(map);
    return NULL;
}

/* asyncio.events._get_running_loop() without 3.11's system call. On 3.11 asyncio's C
 * function compares the pid the running loop was set in with getpid(), a system call per
 * look (~150 ns; glibc no longer caches the pid), and every task step looks (task._drive,
 * the poller, the dispatcher). Here the pid is ours, kept up to date across fork() by an
 * atfork handler, and the rest is the C function's reading: the holder asyncio's C
 * _set_running_loop stores in the thread's dict under "__asyncio_running_event_loop__"
 * (PyRunningLoopHolder: the loop, then the pid). The holder's type is checked against
 * that layout (name and size) before it is read; anything else, 3.12+ (whose function
 * makes no system call) and a _get_running_loop swapped for another (test_asyncio runs
 * the pure-Python one) call the module's function, looked up at each call. */
static PyObject *lp_events, *lp_getrunning;  /* asyncio.events, its C _get_running_loop */
static PyObject *str_getrunning;
#if PY_VERSION_HEX < 0x030C0000
#include <pthread.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    PyObject *rl_loop;
    pid_t rl_pid;
} rlholder;
static PyObject *str_rlkey;
static PyTypeObject *rlholdertype;  /* once seen with the expected layout */
static int rlbad;                   /* a holder of another layout was seen: never read one */
static pid_t rlpid;

static void
rlforked(void)
{
    rlpid = getpid();
}
#endif

/* At the first look: asyncio.events, its C function (events keeps it as
 * _c__get_running_loop, whatever _get_running_loop is swapped for), our pid. 0 or -1. */
static int
rlsetup(void)
{
    PyObject *ev = PyImport_ImportModule("asyncio.events");
    PyObject *f = ev == NULL ? NULL : PyObject_GetAttrString(ev, "_c__get_running_loop");
    if ((str_getrunning == NULL && (str_getrunning = PyUnicode_InternFromString("_get_running_loop")) == NULL) ||
        f == NULL) {
        Py_XDECREF(ev);
        Py_XDECREF(f);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if ((str_rlkey = PyUnicode_InternFromString("__asyncio_running_event_loop__")) == NULL) {
        Py_DECREF(ev);
        Py_DECREF(f);
        return -1;
    }
    rlpid = getpid();
    if (pthread_atfork(NULL, NULL, rlforked) != 0) {
        rlbad = 1;  /* no way to follow the pid across fork(): always the function */
    }
#endif
    lp_getrunning = f;
    lp_events = ev;
    return 0;
}

PyDoc_STRVAR(runningloop_doc,
"_get_running_loop()\n--\n\n"
"The running event loop of this thread, or None: asyncio.events._get_running_loop()\n"
"without its getpid() system call on 3.11 (gosched.aio installs it there in its place).");

static PyObject *runningloop(PyObject *self, PyObject *unused);

/* Whether f is runningloop itself (installed as events._get_running_loop on 3.11). */
static int
isrunningloop(PyObject *f)
{
    return PyCFunction_Check(f) && ((PyCFunctionObject *)f)->m_ml->ml_meth == (PyCFunction)runningloop;
}

static PyObject *
runningloop(PyObject *self, PyObject *unused)
{
    if (lp_events == NULL && rlsetup() < 0) {
        return NULL;
    }
    static dcache cache;
    PyObject *f = modattr(&cache, lp_events, str_getrunning);
    if (f == NULL) {
        return NULL;
    }
    if (isrunningloop(f)) {  /* ourselves: asyncio's C function is the one to mirror */
        Py_SETREF(f, Py_NewRef(lp_getrunning));
    }
#if PY_VERSION_HEX < 0x030C0000
    if (f == lp_getrunning && !rlbad) {
        PyObject *d = PyThreadState_GetDict();
        static dcache hcache;  /* the thread's: one M's thread makes most calls */
        PyObject *h = d == NULL ? NULL : dcget(&hcache, d, str_rlkey);
        if (h == NULL && PyErr_Occurred()) {
            Py_DECREF(f);
            return NULL;
        }
        if (h == NULL) {
            Py_DECREF(f);
            Py_RETURN_NONE;
        }
        if (Py_TYPE(h) != rlholdertype) {
            PyTypeObject *t = Py_TYPE(h);
            if (strcmp(t->tp_name, "_RunningLoopHolder") == 0 && t->tp_basicsize == (Py_ssize_t)sizeof(rlholder)) {
                rlholdertype = t;
            }
            else {
                rlbad = 1;
            }
        }
        if (Py_TYPE(h) == rlholdertype) {
            rlholder *rl = (rlholder *)h;
            Py_DECREF(f);
            return Py_NewRef(rl->rl_pid == rlpid ? rl->rl_loop : Py_None);
        }
    }
#endif
    PyObject *r = PyObject_CallNoArgs(f);
    Py_DECREF(f);
    return r;
}

/* Make loop this thread's running loop if it is not (task._drive's check before a step):
 * 0 or -1. */
static PyObject *str_setrunning;

static int
ownloop(PyObject *loop)
{
    PyObject *cur = runningloop(NULL, NULL);
    if (cur == NULL) {
        return -1;
    }
    int same = cur == loop;
    Py_DECREF(cur);
    if (same) {
        return 0;
    }
    if (str_setrunning == NULL && (str_setrunning = PyUnicode_InternFromString("_set_running_loop")) == NULL) {
        return -1;
    }
    static dcache cache;
    PyObject *set = modattr(&cache, lp_events, str_setrunning);
    PyObject *r = set == NULL ? NULL : PyObject_CallOneArg(set, loop);
    Py_XDECREF(set);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

PyDoc_STRVAR(getrunningloop_doc,
"get_running_loop()\n--\n\n"
"The running event loop of this thread; RuntimeError if there is none, as\n"
"asyncio.get_running_loop() (gosched.aio installs it in its place on 3.11).");

static PyObject *
getrunningloop(PyObject *self, PyObject *unused)
{
    PyObject *loop = runningloop(self, unused);
    if (loop == Py_None) {
        Py_DECREF(loop);
        PyErr_SetString(PyExc_RuntimeError, "no running event loop");
        return NULL;
    }
    return loop;
}

PyDoc_STRVAR(setup_loop_doc,
"setup_loop(cls, helpers, /)\n--\n\n"
"Bind gosched._aio's loop helpers, a dict by name (loop.py passes it: the Python\n"
"call_soon, callbackfailed, runtimed, StepWrapper, Handle, create_task, EAGER,\n"
"creatorsite); returns call_soon, get_debug, create_future and create_task as\n"
"method descriptors of cls, the loop class, for loop.py to install.");

static PyObject *
setup_loop(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "setup_loop(cls, helpers): a class and a dict");
        return NULL;
    }
    if (aio_ended == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_loop before setup_aio");
        return NULL;
    }
    static const char *names[] = {"call_soon", "callbackfailed", "runtimed", "StepWrapper", "Handle",
                                  "create_task", "EAGER", "creatorsite", "siteprefixes"};
    PyObject *got[9];
    for (int i = 0; i < 9; i++) {
        if ((got[i] = PyDict_GetItemString(args[1], names[i])) == NULL) {
            PyErr_Format(PyExc_KeyError, "setup_loop: no %s", names[i]);
            return NULL;
        }
    }
    if (!PyType_Check(got[3]) || !PyType_Check(got[4])) {
        PyErr_SetString(PyExc_TypeError, "setup_loop: StepWrapper or Handle is not a class");
        return NULL;
    }
    PyTypeObject *ht = (PyTypeObject *)got[4];
    PyObject *init = PyDict_GetItemString(ht->tp_dict, "__init__");
    if (init == NULL) {
        PyErr_SetString(PyExc_TypeError, "setup_loop: Handle has no __init__ of its own");
        return NULL;
    }
    PyTypeObject *lt = (PyTypeObject *)args[0];
    if (offset_of(lt, "_closed", &lo_closed) || offset_of(lt, "_debug", &lo_debug) ||
        offset_of(lt, "_ready", &lo_ready) || offset_of(lt, "_gturn", &lo_gturn) ||
        offset_of(lt, "_gidle", &lo_gidle) || offset_of(lt, "_gdisp", &lo_gdisp) ||
        offset_of(lt, "_task_factory", &lo_taskfactory) || offset_of(lt, "_gdone", &lo_gdone) ||
        offset_of(lt, "_gborrow", &lo_gborrow)) {
        return NULL;
    }
    if (offset_of(ht, "_context", &hd_context) || offset_of(ht, "_loop", &hd_loop) ||
        offset_of(ht, "_callback", &hd_callback) || offset_of(ht, "_args", &hd_args) ||
        offset_of(ht, "_cancelled", &hd_cancelled) || offset_of(ht, "_repr", &hd_repr) ||
        offset_of(ht, "_source_traceback", &hd_tb)) {
        return NULL;
    }
    static const char *strs[] = {"_closed", "_debug", "_ready", "_gdone", "__self__", "_context", "_callback",
                                 "_args", "_ep", "_fd_to_key", "_cancelled", "_remove_reader", "_remove_writer",
                                 "closed", "__init__", "append", "_gidle", "_gdisp", "_gwake", "context", "_task_factory",
                                 "name"};
    PyObject **sdst[] = {&str_closed, &str_debug, &str_ready, &str_gdone, &str_self, &str_context, &str_callback,
                         &str_args, &str_ep, &str_fdtokey, &str_cancelled, &str_remove_reader, &str_remove_writer,
                         &str_closedattr, &str_init, &str_append, &str_gidle, &str_gdisp, &str_gwake,
                         &str_context_kw, &str_taskfactory, &str_name_kw};
    if (internall(strs, sdst, sizeof(strs) / sizeof(strs[0])) < 0) {
        return NULL;
    }
    if (lp_futures == NULL && (lp_futures = PyImport_ImportModule("asyncio.futures")) == NULL) {
        return NULL;
    }
    if ((str_future == NULL && (str_future = PyUnicode_InternFromString("Future")) == NULL) ||
        (str_loop_kw1 == NULL && (str_loop_kw1 = Py_BuildValue("(s)", "loop")) == NULL) ||
        (str_taskkw == NULL && (str_taskkw = Py_BuildValue("(sss)", "loop", "name", "context")) == NULL)) {
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *descr = Py_BuildValue("(NNNN)", PyDescr_NewMethod(cls, &callsoon_def),
                                    PyDescr_NewMethod(cls, &getdebug_def), PyDescr_NewMethod(cls, &createfuture_def),
                                    PyDescr_NewMethod(cls, &createtask_def));
    if (descr == NULL) {
        return NULL;
    }
    Py_XSETREF(lp_failed, Py_NewRef(got[1]));
    Py_XSETREF(lp_timed, Py_NewRef(got[2]));
    Py_XSETREF(lp_stepwrapper, (PyTypeObject *)Py_NewRef(got[3]));
    Py_XSETREF(lp_handletype, (PyTypeObject *)Py_NewRef(got[4]));
    Py_XSETREF(lp_looptype, (PyTypeObject *)Py_NewRef(lt));
    Py_XSETREF(lp_handleinit, Py_NewRef(init));
    Py_XSETREF(lp_eager, Py_NewRef(got[6]));
    Py_XSETREF(lp_creatorsite, Py_NewRef(got[7]));
#ifdef GOSCHED_FRAMEWALK
    if (!PyTuple_Check(got[8]) && got[8] != Py_None) {
        PyErr_SetString(PyExc_TypeError, "setup_loop: siteprefixes is not a tuple or None");
        return NULL;
    }
    Py_XSETREF(lp_siteprefixes, got[8] == Py_None ? NULL : Py_NewRef(got[8]));
#endif
    Py_XSETREF(lp_pycreatetask, Py_NewRef(got[5]));  /* createtask's fast case runs once it is set */
    Py_XSETREF(lp_pycallsoon, Py_NewRef(got[0]));  /* last: callsoon's fast cases run once it is set */
    return descr;
}

/* The socket transport's write (transport.py's SocketTransport) as a method descriptor of
 * the class: asyncio's _SelectorSocketTransport.write for its common case, bytes written at
 * once to a socket with nothing buffered, in full (an echo's every reply; a request). The
 * checks asyncio's makes before that send, in its order; anything else, a short send and a
 * send that failed are asyncio's Python method, which sends again (what is left) and
 * buffers, reports or raises as it does. The send does not let go of the GIL: the socket
 * is non-blocking, and socket.send's release and retake cost more than the send here. */
static PyObject *tw_pywrite;  /* _SelectorSocketTransport.write */
static PyObject *str_eof, *str_empty_waiter, *str_conn_lost, *str_buffer, *str_sock_fd;
/* The transport's slots (transport.py; setup_transport reads their offsets). */
static PyTypeObject *tw_type;
static Py_ssize_t tr_eof, tr_empty_waiter, tr_conn_lost, tr_buffer, tr_sock_fd, tr_closing, tr_read_ready_cb,
    tr_protocol, tr_sock, tr_max_size;
#define TRGET(tr, f) slotget((tr), tw_type, tr_##f, str_##f)
#define TRTRUE(tr, f) slottrue((tr), tw_type, tr_##f, str_##f)

/* 1 if asyncio's write would send data at once: bytes, not empty, no EOF written, no
 * sendfile in progress, the connection not lost, nothing buffered. 0 if not, -1 error. */
static int
writenow(PyObject *tr, PyObject *data)
{
    if (!PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) == 0 || tw_pywrite == NULL) {
        return 0;
    }
    int r;
    if ((r = TRTRUE(tr, eof)) != 0) {
        return r < 0 ? -1 : 0;
    }
    PyObject *w = TRGET(tr, empty_waiter);
    if (w == NULL) {
        return -1;
    }
    r = w == Py_None;
    Py_DECREF(w);
    if (!r) {
        return 0;
    }
    if ((r = TRTRUE(tr, conn_lost)) != 0 || (r = TRTRUE(tr, buffer)) != 0) {
        return r < 0 ? -1 : 0;
    }
    return 1;
}

static PyObject *
transwrite(PyObject *tr, PyObject *data)
{
    PyObject *rest = NULL;
    int now = writenow(tr, data);
    if (now < 0) {
        return NULL;
    }
    if (now) {
        PyObject *fdobj = TRGET(tr, sock_fd);
        long fd = fdobj == NULL ? -1 : PyLong_AsLong(fdobj);
        Py_XDECREF(fdobj);
        if (fd == -1 && PyErr_Occurred()) {
            return NULL;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(data);
        ssize_t n = -1;  /* write(2): send(2) without flags (see recvbytes on <sys/socket.h>) */
        if (fd >= 0 && fd <= INT_MAX) {
            while ((n = write((int)fd, PyBytes_AS_STRING(data), (size_t)len)) < 0 && errno == EINTR) {
                if (PyErr_CheckSignals() < 0) {
                    return NULL;
                }
            }
        }
        if (n == len) {
            Py_RETURN_NONE;
        }
        if (n > 0 && (rest = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + n, len - n)) == NULL) {
            return NULL;
        }
    }
    PyObject *args[2] = {tr, rest != NULL ? rest : data};
    PyObject *res = PyObject_Vectorcall(tw_pywrite, args, 2, NULL);
    Py_XDECREF(rest);
    return res;
}

/* The transport's reader callback (asyncio's _read_ready, whose Python only calls
 * _read_ready_cb) and its read for a Protocol (transport.py's _read_ready__data_received,
 * asyncio's with recvbytes' read), as method descriptors of the class: the poller's
 * callback for every message a connection receives, a Python frame each before. */
static PyObject *str_read_ready_cb, *str_sock, *str_max_size, *str_protocol, *str_data_received, *str_on_eof,
    *str_fatal_error, *msg_readfatal, *msg_protofatal;

static PyObject *
readready(PyObject *tr, PyObject *unused)
{
    PyObject *cb = TRGET(tr, read_ready_cb);
    if (cb == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_DECREF(cb);
    return r;
}

/* An exception other than SystemExit and KeyboardInterrupt to the transport's _fatal_error
 * with asyncio's message; None, or NULL with those two (or an error of the report). */
static PyObject *
readfailed(PyObject *tr, PyObject *msg)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return NULL;
    }
    PyObject *exc = raised();
    if (exc == NULL) {
        return NULL;
    }
    PyObject *args[3] = {tr, exc, msg};
    PyObject *r = PyObject_VectorcallMethod(str_fatal_error, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(exc);
    return r;
}

static PyObject *
readdata(PyObject *tr, PyObject *unused)
{
    int lost = TRTRUE(tr, conn_lost);
    if (lost != 0) {
        return lost < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *sock = TRGET(tr, sock);
    PyObject *sz = sock == NULL ? NULL : TRGET(tr, max_size);
    Py_ssize_t size = sz == NULL ? -1 : PyLong_AsSsize_t(sz);
    Py_XDECREF(sz);
    if (size < 0 && !PyErr_Occurred() && sz != NULL) {
        PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
    }
    PyObject *data = size < 0 ? NULL : recvcore(sock, size);
    Py_XDECREF(sock);
    if (data == NULL) {
        if (PyErr_ExceptionMatches(PyExc_BlockingIOError) || PyErr_ExceptionMatches(PyExc_InterruptedError)) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        return readfailed(tr, msg_readfatal);
    }
    PyObject *r;
    if (PyBytes_GET_SIZE(data) == 0) {
        r = PyObject_CallMethodNoArgs(tr, str_on_eof);
    }
    else {
        PyObject *proto = TRGET(tr, protocol);
        r = proto == NULL ? NULL : PyObject_CallMethodOneArg(proto, str_data_received, data);
        Py_XDECREF(proto);
        if (r == NULL) {
            r = readfailed(tr, msg_protofatal);
        }
    }
    Py_DECREF(data);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *str_closing;

static PyObject *
isclosing(PyObject *tr, PyObject *unused)
{
    return TRGET(tr, closing);
}

static PyMethodDef isclosing_def = {
    "is_closing", (PyCFunction)isclosing, METH_NOARGS,
    "is_closing()\n--\n\nWhether the transport is closing or closed (StreamWriter.drain asks at every call)."};
static PyMethodDef readready_def = {
    "_read_ready", (PyCFunction)readready, METH_NOARGS,
    "_read_ready()\n--\n\nThe socket is readable: the transport's read callback (_read_ready_cb)."};
static PyMethodDef readdata_def = {
    "_read_ready__data_received", (PyCFunction)readdata, METH_NOARGS,
    "_read_ready__data_received()\n--\n\n"
    "Read what arrived and give it to the protocol's data_received; EOF to\n"
    "_read_ready__on_eof, errors to _fatal_error (asyncio's socket transport)."};

static PyMethodDef transwrite_def = {
    "write", (PyCFunction)transwrite, METH_O,
    "write(data)\n--\n\n"
    "Write some data bytes to the transport: sent at once if nothing is buffered, the rest\n"
    "buffered and sent as the socket takes it (asyncio's Transport.write)."};

PyDoc_STRVAR(setup_transport_doc,
"setup_transport(cls, write, /)\n--\n\n"
"Bind asyncio's _SelectorSocketTransport.write (the Python, for all but the common case);\n"
"returns write, _read_ready, _read_ready__data_received and is_closing as method\n"
"descriptors of cls, transport.py's SocketTransport, to install.");

static PyObject *
setup_transport(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "setup_transport(cls, write): a class and a function");
        return NULL;
    }
    static const char *strs[] = {"_eof", "_empty_waiter", "_conn_lost", "_buffer", "_sock_fd",
                                 "_read_ready_cb", "_sock", "max_size", "_protocol", "data_received",
                                 "_read_ready__on_eof", "_fatal_error", "Fatal read error on socket transport",
                                 "Fatal error: protocol.data_received() call failed.", "_closing"};
    PyObject **sdst[] = {&str_eof, &str_empty_waiter, &str_conn_lost, &str_buffer, &str_sock_fd,
                         &str_read_ready_cb, &str_sock, &str_max_size, &str_protocol, &str_data_received,
                         &str_on_eof, &str_fatal_error, &msg_readfatal, &msg_protofatal, &str_closing};
    if (internall(strs, sdst, sizeof(strs) / sizeof(strs[0])) < 0) {
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    if (offset_of(cls, "_eof", &tr_eof) || offset_of(cls, "_empty_waiter", &tr_empty_waiter) ||
        offset_of(cls, "_conn_lost", &tr_conn_lost) || offset_of(cls, "_buffer", &tr_buffer) ||
        offset_of(cls, "_sock_fd", &tr_sock_fd) || offset_of(cls, "_closing", &tr_closing) ||
        offset_of(cls, "_read_ready_cb", &tr_read_ready_cb) || offset_of(cls, "_protocol", &tr_protocol) ||
        offset_of(cls, "_sock", &tr_sock) || offset_of(cls, "max_size", &tr_max_size)) {
        return NULL;
    }
    PyObject *descr = Py_BuildValue("(NNNN)", PyDescr_NewMethod(cls, &transwrite_def),
                                    PyDescr_NewMethod(cls, &readready_def), PyDescr_NewMethod(cls, &readdata_def),
                                    PyDescr_NewMethod(cls, &isclosing_def));
    if (descr != NULL) {
        Py_XSETREF(tw_pywrite, Py_NewRef(args[1]));
        Py_XSETREF(tw_type, (PyTypeObject *)Py_NewRef(cls));
    }
    return descr;
}
