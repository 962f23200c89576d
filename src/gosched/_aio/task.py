"""Every asyncio Task a goroutine (issue 12).

``Task`` is an ``asyncio.Task`` (libraries check ``isinstance``) whose coroutine
is never stepped by asyncio's C ``__step``: a goroutine runs ``_drive``, which
does what ``Task.__step`` does -- send into the coroutine in the task's context,
set the result or exception -- but on whatever M runs the goroutine, and:

* a gosched trap the coroutine yields (a channel, a mutex, ``gosched.sleep``)
  goes on up to the M, so asyncio tasks use gosched's primitives directly;
* an asyncio Future it yields goes up too, and the M parks the goroutine on
  the future's done-callback (``foreignpark``, the hook ``foreign.foreignyield``
  calls); a plain goroutine that awaits an asyncio future parks the same way;
* a bare ``yield`` (``asyncio.sleep(0)``) is a goroutine yield.

What asyncio keeps per loop -- the current task -- is kept per M here: the
goroutine a thread runs is ``getm().curg``, and ``current_task`` maps it to its
task. asyncio's own per-loop slot (which C code and libraries that imported
``asyncio.current_task`` early read) is swapped around each step as
``Task.__step`` does, which is exact while one M runs the loop's tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sys
import types
from asyncio import base_events, events
from collections.abc import Callable, Generator
from types import FrameType
from typing import Any

from .._runtime import foreign, goroutine, mainm, mgr, proc, speedups, sysmon, waitfor
from .._runtime.nogc import nogc
from .._runtime.runtime2 import G, Gwaiting, M, Sched, waitReasonAsyncioFuture, waitReasonAsyncioTurn
from .._runtime.traps import PARK, getm, setm
from .turn import (
    _MACHINERY,
    Turn,
    Wake,
    endfirst,
    flush,
    giveturn,
    holdturn,
    passturn,
    queueturn,
    taketurn,
    turnheld,
    turnready,
)

_Future = asyncio.Future
_fut_cancel = _Future.cancel
_fut_set_result = _Future.set_result
_fut_set_exception = _Future.set_exception
_CancelledError = asyncio.CancelledError
# The accelerator's resume: a coroutine's end as a value (EXIT, Returned), not a StopIteration
# to raise and catch, as C's Task.__step resumes with PyIter_Send. None: the pure-Python path.
_csend = speedups.send
_EXIT, _Returned = speedups.EXIT, speedups.Returned
_c_current_task: Callable[..., Any] = asyncio.tasks.current_task
if isinstance(_c_current_task, types.FunctionType):  # 3.11: a Python function (redirect() below)
    _c_current_task = types.FunctionType(
        _c_current_task.__code__, _c_current_task.__globals__, _c_current_task.__name__,
        _c_current_task.__defaults__, _c_current_task.__closure__,
    )
_current_tasks: dict[Any, Any] = asyncio.tasks._current_tasks  # type: ignore[attr-defined]
_swap_current_task: Callable[[Any, Any], Any] | None = getattr(asyncio.tasks, "_swap_current_task", None)
_get_loop: Callable[[Any], Any] = asyncio.futures._get_loop  # type: ignore[attr-defined]
_enter_task: Callable[[Any, Any], None] = asyncio.tasks._enter_task
_leave_task: Callable[[Any, Any], None] = asyncio.tasks._leave_task
_turnheldcode = turnheld.__code__


def _runningloop() -> Any:
    return events._get_running_loop()


# asyncio's running loop (events._get_running_loop(), looked up at each call): in C when
# accelerated, where 3.11's getpid() system call per look is spared (_speedups_aioloop.h).
runningloop: Callable[[], Any] = speedups.c._get_running_loop if speedups.c is not None else _runningloop

# The task each task goroutine runs (current_task's per-M answer: getm().curg).
gtasks: dict[G, Task] = {}


_TaskBase: Any = asyncio.Task  # typed Any: the driver uses asyncio's private Task API


class _TaskWithDict(_TaskBase):  # type: ignore[misc]
    """asyncio's Task, whose instances have a dict (C's): Task's slots come on top of it."""


class Task(_TaskWithDict):
    """An asyncio Task whose coroutine runs as a goroutine (see the module docstring).

    Created by the gosched loop's ``create_task``; asyncio's API works as on any
    Task (cancel, cancelling/uncancel, names, contexts, callbacks, results).
    """

    # The gosched state. Set on every task (loop.create_task), in slots: no instance dict to
    # make. Its context (Task.get_context is 3.12+), where it was created (G's pc, pclasti,
    # pcglobals and parentid) for the goroutine its first step may need (become); once it
    # has a goroutine (_drive), the goroutine, what readies it when a future it waits for
    # is done, and that future (Task._fut_waiter), set and cleared at every await: unset
    # before (read with a default), so the collector skips them in the many tasks that end
    # in their first step. As slots, a task that nobody cancels has no instance dict, and
    # C reads the class defaults below without a lookup in one (taskget).
    __slots__ = ("_gctx", "_gparent", "_gpcode", "_gpglobals", "_gplasti", "_gg", "_gwake", "_gwaiter")
    _gctx: contextvars.Context
    _gg: G | None
    _gwake: Wake | None
    _gwaiter: Any
    _gpcode: types.CodeType | None
    _gplasti: int
    _gpglobals: dict[str, Any] | None
    _gparent: int
    # Class defaults, set on the tasks that change them (in asyncio's instance dict).
    # Cancellation requested while the goroutine runs or is readied
    # (Task._must_cancel, which C keeps read-only): a 1-tuple of the message.
    _gcancel: tuple[str | None] | None = None
    _gmain = False  # its steps run on the thread in run_forever (loop.create_task says)

    @property
    def _must_cancel(self) -> bool:
        """A cancellation not yet thrown into the coroutine (anyio reads it; C's stays read-only)."""
        return self._gcancel is not None

    @property
    def _fut_waiter(self) -> Any:
        """The future the goroutine is parked on, if any (anyio reads it)."""
        return getattr(self, "_gwaiter", None)

    def cancel(self, msg: str | None = None) -> bool:
        """Request cancellation, as asyncio's Task.cancel."""
        if self.done():
            return False
        super().cancel(msg)  # counts it for cancelling()/uncancel(); the C flag is never read
        w = getattr(self, "_gwaiter", None)
        if w is not None and w.cancel(msg=msg):
            return True
        self._gcancel = (msg,)
        return True

    if sys.version_info >= (3, 13):

        def uncancel(self) -> int:
            """Take back one cancellation request, as asyncio's Task.uncancel: from 3.13, the
            last one taken back also drops a cancellation not yet thrown into the coroutine
            (asyncio.timeout and TaskGroup take theirs back once they have handled it)."""
            n: int = super().uncancel()
            if n == 0 and self._gcancel is not None:
                self._gcancel = None
            return n

    def start(self, sched: Sched, f: FrameType | None) -> None:
        """Start the goroutine that runs the coroutine (created at frame ``f``)."""
        m = getm()
        if m is not None and m.sched is not sched:
            m = None
        # Created parked: it starts when it gets the loop's turn, in creation order.
        gp = proc.newproc(sched, _drive(self), f, m, runnable=False)
        loop = self.get_loop()
        if self._gmain:  # readied once bound to the main thread, in run_forever (mainthread.py)
            loop._gmaings.add(gp)
            loop._gmainnew.append(gp)
            with sched.lock:  # the main thread will start it: not a deadlock meanwhile (checkdead)
                sched.nforeign += 1
            return
        turnready(loop._gturn, gp, sched)


LOOPCODE = ("asyncio", "gosched._aio", "gosched.aio")


# id(code object) -> (it, whether it is asyncio's or the loop's): creator's cache. Keyed by
# id, not by the code object, whose hash is computed anew from its fields at every lookup;
# the entry holds the code object, so its id is not reused while cached.
_inloop: dict[int, tuple[types.CodeType, bool]] = {}


# 3.12+: a frame's module without a frame object (sys._getframe makes one per frame it
# passes, and a frame object per task created is one more object for the collector).
_modulename: Callable[[int], str | None] | None = getattr(sys, "_getframemodulename", None)


def creator(depth: int) -> FrameType | None:
    """The first frame outside asyncio and gosched's loop: a task's creation site."""
    if _modulename is not None:  # only that frame is made: mostly a caller's, made once (a loop's)
        d = depth + 1
        while (name := _modulename(d)) is not None and name.startswith(LOOPCODE):
            d += 1
        try:
            return sys._getframe(d)
        except ValueError:  # no such frame
            return None
    f: FrameType | None = sys._getframe(depth + 1)
    while f is not None:
        code = f.f_code
        e = _inloop.get(id(code))
        if e is None or e[0] is not code:
            e = _inloop[id(code)] = (code, f.f_globals.get("__name__", "").startswith(LOOPCODE))
        if not e[1]:
            return f
        f = f.f_back
    return None


Site = tuple[types.CodeType, int, dict[str, Any]]


def _creatorsite(depth: int) -> Site | None:
    f = creator(depth + 1)
    return None if f is None else (f.f_code, f.f_lasti, f.f_globals)


# creatorsite(depth): creator's frame as (f_code, f_lasti, f_globals), what a task keeps of
# where it was created (its goroutine's pc, pclasti, pcglobals), or None. On 3.11 in C, which
# walks the frames without making a frame object for each it passes (sys._getframe did, for
# asyncio.create_task's frame: one per task, ~500 ns of a create_task).
creatorsite: Callable[[int], Site | None] = (
    functools.partial(speedups.creatorsite, LOOPCODE) if speedups.creatorsite is not None else _creatorsite
)


def _formain(m: M, resume: Callable[[Any], Any], arg: Any) -> Any:
    """A main task's step posted to the main thread (``coro.send`` or ``coro.throw``): it runs
    for M ``m``, which waits for it, so getm() names ``m`` meanwhile (its runtime calls are
    that M's)."""
    prev = getm()
    setm(m)
    try:
        return resume(arg)
    finally:
        setm(prev)


def _swap(loop: Any, task: Any) -> Any:
    if _swap_current_task is not None:
        try:
            return _swap_current_task(loop, task)
        except KeyError:  # emptying an empty slot (3.12+): a retaken step's overlap emptied it
            return None
    prev = _current_tasks.get(loop)
    if task is None:
        _current_tasks.pop(loop, None)
    else:
        _current_tasks[loop] = task
    return prev


def _leave(loop: Any, task: Any) -> None:
    """The step ends: no current task in asyncio's slot, unless another step's.

    Between steps the slot is empty (the turn: one step at a time). A step
    retaken mid-way runs beside the next one, which set its own task there:
    restoring what was there before this step (Task.__step's way) would leave
    this step's task in the slot for good, and every C task stepped after it
    would fail with "Cannot enter into task ... while another task ... is
    being executed" (aiohttp's eager request handlers on 3.12+).
    """
    prev = _swap(loop, None)
    if prev is not task and prev is not None:
        _swap(loop, prev)


def _cancelled(msg: str | None) -> BaseException:
    return _CancelledError() if msg is None else _CancelledError(msg)


def _badyield(task: Task, loop: Any, y: Any) -> BaseException | None:
    """Task.__step's checks of what the coroutine yielded; None if it may park on it."""
    blocking = getattr(y, "_asyncio_future_blocking", None)
    if blocking is None:
        return RuntimeError(f"Task got bad yield: {y!r}")
    if not blocking:
        return RuntimeError(f"yield was used instead of yield from in task {task!r} with {y!r}")
    if _get_loop(y) is not loop:
        return RuntimeError(f"Task {task!r} got Future {y!r} attached to a different loop")
    if y is task:
        return RuntimeError(f"Task cannot await on itself: {task!r}")
    return None


def _finish(task: Task, exc: BaseException | None, value: Any) -> None:
    """The coroutine ended: the Task's outcome, as Task.__step sets it."""
    if exc is None:
        c = task._gcancel
        if c is not None:  # cancelled after its last await: asyncio cancels it anyway
            task._gcancel = None
            _fut_cancel(task, msg=c[0])
        else:
            _fut_set_result(task, value)
    elif isinstance(exc, _CancelledError):
        _fut_cancel(task, msg=exc.args[0] if exc.args else None)
    else:
        _fut_set_exception(task, exc)


_ENDED: Any = object()  # _step's answer when the coroutine ended (the Task's outcome is set)
_START: Any = object()  # _drive's first argument for a task whose first step has not run

# The accelerator's step (_speedups_aio.h stepgive): _step's send, then giveturn, for a task
# with nothing to throw in (it answers NotImplemented, having done nothing, for one that has
# a cancellation pending or its steps posted to the thread in run_forever). None: the
# pure-Python path. Bound at the end of the module.
_cstep: Callable[..., Any] | None = None


def _step(task: Task, loop: Any, m: M, val: Any, exc: BaseException | None) -> Any:
    """One Task.__step, holding the loop's turn: send into the coroutine in the task's context.

    What the coroutine yielded, or _ENDED once it ended and the Task's outcome is set.
    """
    c = task._gcancel  # after the wait for the turn: a cancel() meanwhile is thrown in now
    if c is not None:
        task._gcancel = None
        exc = _cancelled(c[0])
    coro = task.get_coro()
    ctx = task._gctx
    try:  # asyncio's slot, as Task.__step fills it (C); _swap if a retaken step's overlap left one there
        _enter_task(loop, task)
    except RuntimeError:
        _swap(loop, task)
    try:
        # On the main thread, as asyncio runs it (signal.signal works); there already while
        # the main thread runs the loop as an M (mainthread.py), but where sysmon moved it.
        if task._gmain and loop._gborrow is None:
            if exc is None:
                return loop._gonmain(ctx.run, _formain, m, coro.send, val)
            return loop._gonmain(ctx.run, _formain, m, coro.throw, exc)
        if exc is not None:
            return ctx.run(coro.throw, exc)
        if _csend is None:
            return ctx.run(coro.send, val)
        y = ctx.run(_csend, coro, val)
        if y is _EXIT:
            _finish(task, None, None)
        elif type(y) is _Returned:
            _finish(task, None, y.value)
        else:
            return y
    except StopIteration as e:
        _finish(task, None, e.value)
    except (KeyboardInterrupt, SystemExit) as e:
        _finish(task, e, None)
        if not loop._graise(e):  # on the main thread in run_forever: raised from there, as asyncio does
            raise
    except GeneratorExit:
        raise
    except BaseException as e:
        _finish(task, e, None)
    finally:
        try:
            _leave_task(loop, task)
        except RuntimeError:
            _leave(loop, task)
    return _ENDED


class Passed:
    """firststep's answer when a retake passed the turn on during the step: what the step returned."""

    __slots__ = ("y",)

    def __init__(self, y: Any) -> None:
        self.y = y


def firststep(task: Task, loop: Any, m: M, gp: G) -> Any:
    """Run ``task``'s first step on the loop's dispatcher ``gp``, which holds the turn.

    asyncio runs a new task's first ``__step`` from the ready queue; so does the
    dispatcher, without a goroutine: most tasks that end in their first step never
    need one. What it yielded (``become`` then makes ``gp`` the task's goroutine)
    or _ENDED; wrapped in ``Passed`` if sysmon passed the turn on meanwhile.
    """
    gtasks[gp] = task  # current_task() during the step
    turn = loop._gturn
    turn.first = task  # a retake may pass the turn on (passturn)
    try:
        y = _step(task, loop, m, None, None)
    finally:
        del gtasks[gp]
    return y if endfirst(turn, gp) else Passed(y)


@types.coroutine
def become(task: Task, y: Any, sched: Sched, gp: G) -> Generator[Any, Any, None]:
    """The dispatcher ``gp`` (a runtime helper) becomes ``task``'s goroutine after its first step
    yielded ``y``: in ``allgs``, created where the task was (Go's newproc, late).

    The task's driver takes the dispatcher's place as the goroutine's coroutine (``gp.coro``,
    as ``turn.holdturn`` swaps a plain goroutine's), so every later resume goes straight
    into the driver, with no dispatcher frame in between: the driver runs to its first
    yield here, which ends this slice; the M resumes the driver from then on, and the
    dispatcher's coroutine, left at that yield, is closed once dropped.
    """
    gp.pc, gp.pclasti, gp.pcglobals, gp.parentid = task._gpcode, task._gplasti, task._gpglobals, task._gparent
    sched.allgs[gp.goid] = gp
    d = _drive(task, y)
    try:
        first = d.send(None)
    except StopIteration:  # the driver ended in line (a bad yield thrown in, caught, and the task ended)
        return
    gp.coro = d
    yield first


@types.coroutine
def _drive(task: Task, first: Any = _START) -> Generator[Any, Any, None]:
    """The task's goroutine: Task.__step's loop, run by a goroutine (see the module docstring).

    ``first``: what the first step yielded, if the dispatcher ran it (firststep).
    """
    coro = task.get_coro()
    ctx = task._gctx
    loop = task.get_loop()
    m = getm()
    gp = m.curg
    sched = m.sched
    turn = loop._gturn
    task._gg = gp
    task._gwake = wake = Wake(gp, sched, turn)  # the done-callback of every future it parks on
    parker = _Parker(wake, task, loop, coro)
    park = (PARK, parker, waitReasonAsyncioFuture)  # the trap for a park on a future
    if _cstep is not None:  # the M's resume may run the next step itself (Resumed, below)
        gp.aiopark = park
    gtasks[gp] = task
    val: Any = None
    exc: BaseException | None = None
    y = first
    try:
        while True:
            if y is _START:
                # Handed the turn before it was readied (_handon, turnready: most wake-ups)
                # it holds it already, and only it (or a retake of its own step) changes
                # that: no lock, no taketurn generator. Else take it, or park for it.
                if turn.holder is not gp:
                    yield from taketurn(turn, gp)
                y = NotImplemented
                if _cstep is not None and exc is None:  # m None: C reads the M, sets the running loop
                    y = _cstep(task, loop, coro, ctx, None, val, turn, gp, sched, park)
                if y is NotImplemented:
                    m = getm()
                    if runningloop() is not loop:
                        events._set_running_loop(loop)
                    try:
                        y = _step(task, loop, m, val, exc)
                    finally:
                        giveturn(turn, gp, sched, m)
                if y is _ENDED:
                    return
            val = exc = None
            try:
                if y is park:  # a future of this loop, the park prepared by the accelerator as below
                    parker.parked = True
                    try:
                        val = yield park
                    finally:
                        parker.parked = False
                        task._gwaiter = None
                    if type(val) is Resumed:  # the M ran the next step in C already: what it yielded
                        y = val.y
                        if y is _ENDED:
                            return
                        continue
                elif y is None:  # asyncio.sleep(0): after the callbacks queued before it, or a yield
                    if loop._ready:
                        yield from queueturn(turn, loop._ready, task._gwake, loop._gkick)
                    else:
                        yield
                elif type(y) is tuple:
                    val = yield y  # a gosched trap: to the M
                else:
                    # A C Future of this loop awaited (the common case: _badyield's checks in line)
                    ok = type(y) is _Future and y._asyncio_future_blocking and y.get_loop() is loop
                    exc = None if ok else _badyield(task, loop, y)
                    if exc is None:  # park on the future (Task._fut_waiter), in line: every await
                        task._gwaiter = y
                        try:
                            c = task._gcancel
                            if c is not None and y.cancel(msg=c[0]):
                                task._gcancel = None
                            # foreignpark's work for a task, without the trip through foreignyield:
                            # the wake-up is added once the goroutine is off the CPU (_Parker)
                            y._asyncio_future_blocking = False
                            gp.blockedon = park[1].fut = y
                            val = yield park
                        finally:
                            task._gwaiter = None
            except GeneratorExit:  # the run ended under it (proc.closeg): the task ends cancelled
                coro.close()
                if not task.done():
                    with contextlib.suppress(Exception):  # a debug loop refuses this thread: still closed
                        _fut_cancel(task)
                raise
            except BaseException as e:  # thrown into the goroutine (goexit, a fatal error)
                exc = e
            y = _START
    finally:
        gp.aiopark = None
        gtasks.pop(gp, None)
        if task._gmain:
            loop._gmaings.discard(gp)
            mainm.unbind(sched, gp)


class _Parker:
    """gopark's unlockf for a task's goroutine parked on an asyncio future (_drive): once the
    goroutine is off the CPU, the future's done-callback readies it (foreignpark's last step:
    added earlier, another M could ready the goroutine while it still runs).

    Also what the M's C resume needs to run the task's next step without the driver
    (``_speedups_aio.h`` aioresume): the task, its loop and coroutine (its context is the
    task's ``_gctx``), and ``parked``, true exactly while the driver is suspended at its
    ``yield park``.
    """

    __slots__ = ("coro", "fut", "loop", "parked", "task", "wake")

    def __init__(self, wake: Wake, task: Task, loop: Any, coro: Any) -> None:
        self.fut: Any = None
        self.wake = wake
        self.task = task
        self.loop = loop
        self.coro = coro
        self.parked = False

    def release(self) -> None:
        fut, self.fut = self.fut, None
        fut.add_done_callback(self.wake)


class Resumed:
    """What the M's C resume sends a driver suspended at its ``yield park`` after it ran the
    task's next step itself, when the step did not park on a future again: what it yielded
    (``y``), or _ENDED."""

    __slots__ = ("y",)

    def __init__(self, y: Any) -> None:
        self.y = y


def retaken(sched: Sched, m: M, gp: G) -> None:
    """``sysmon.retaken`` (on sysmon's thread): a stuck task, or a plain goroutine holding the
    turn (turnheld), passes its loop's turn on (turn.py)."""
    t = gtasks.get(gp)
    if t is None:
        return
    loop = t.get_loop()
    if type(t) is GoroutineTask:
        passturn(loop._gturn, sched, m, gp)
        return
    # its first step, on the loop's dispatcher: another serves the loop meanwhile
    if getattr(t, "_gg", None) is not gp:
        if passturn(loop._gturn, sched, m, gp, t):
            loop._gnewdispatcher()
    elif not (t._gmain and loop._gborrow is None and _mainstuckinmachinery(loop)):  # posted: see there
        passturn(loop._gturn, sched, m, gp)


def _mainstuckinmachinery(loop: Any) -> bool:
    """A main task's step posted to the thread in run_forever (its M waits outside the machinery;
    not while that thread is an M, mainthread.py): is that thread inside asyncio's or ssl's code,
    whose objects are not safe to share?"""
    tid = loop._thread_id
    f = sys._current_frames().get(tid) if tid is not None and tid != -1 else None
    return f is not None and f.f_globals.get("__name__", "").startswith(_MACHINERY)


_ProbeBase: Any = base_events.BaseEventLoop


def _stepwrapper() -> Any:
    """The type of the callback asyncio's C Task.__init__ passes to call_soon."""
    seen: list[Any] = []

    class _Probe(_ProbeBase):  # type: ignore[misc]
        def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:
            seen.append(type(callback))

    async def nothing() -> None:
        pass

    probe = _Probe()
    coro = nothing()
    t = asyncio.Task(coro, loop=probe)
    coro.close()
    probe.close()
    t._log_destroy_pending = False  # type: ignore[attr-defined]
    asyncio.tasks._unregister_task(t)
    return seen[0]


StepWrapper = _stepwrapper()  # asyncio's C TaskStepMethWrapper (not exported)


def foreignpark(sched: Sched, m: M, gp: G, obj: Any) -> bool:
    """``foreign.foreignpark``: park ``gp`` on the asyncio Future it yielded.

    The wait is durable for checkdead: a future is completed by a goroutine (a
    task, the loop's callbacks); I/O and executor threads that complete one
    keep the run alive through the poller and ``sched.nforeign``.
    """
    t = gtasks.get(gp)
    # (A task's driver parks on its futures itself, with the PARK trap: only plain goroutines come here.)
    if (getattr(obj, "_asyncio_future_blocking", None) is None
            or _get_loop(obj) is not runningloop()):
        return False  # not a future, or one of a loop that does not run here: proc raises TypeError
    obj._asyncio_future_blocking = False
    # A plain goroutine's task: cancel() reaches it through the future it parks on. turnheld
    # sets this before it gives the turn up; not for the yield that ends the slice that made
    # the identity, which reaches the M without it.
    if t is not None and type(t) is GoroutineTask:
        t._gwaiter = obj
        c = t._gcancel
        if c is not None:
            t._gcancel = None
            obj.cancel(msg=c[0])
    gp.status = Gwaiting
    gp.waitreason = waitReasonAsyncioFuture
    gp.blockedon = obj
    # A task's goroutine, or a plain one with a task identity (it holds the turn while it runs:
    # turnheld made the future its _fut_waiter), is queued for the turn when woken; any other
    # plain goroutine is readied.
    wake = getattr(t, "_gwake", None) if t is not None else Wake(gp, sched, None)
    obj.add_done_callback(wake)  # last: another M may ready gp from here on
    return True


class GoroutineTask(Task):
    """The task identity of a plain goroutine that runs asyncio code (gosched.go, gosched.run's main).

    asyncio.timeout, wait_for, TaskGroup and sniffio need a current task; this
    one is never stepped (its goroutine runs as it is), is not in
    ``asyncio.all_tasks()``, and is cancelled the way a task is: the asyncio
    future the goroutine is parked on is cancelled, or the next one it awaits.
    """

    def __init__(self, gp: G, loop: Any) -> None:
        coro = _never()
        super().__init__(coro, loop=loop, name=f"goroutine {gp.goid}")
        coro.close()
        self._log_destroy_pending = False
        _unregister_task(self)
        self._gg = gp


async def _never() -> None:
    pass


_unregister_task: Callable[[Any], None] = asyncio.tasks._unregister_task
_npseudo = [0, 64]  # goroutine tasks made, and the count at which dead goroutines' are dropped


def _goroutinetask(gp: G, loop: Any, sched: Sched) -> GoroutineTask:
    """The running goroutine ``gp``'s task identity, made at its first asyncio call; from its
    next resume on it holds the loop's turn while it runs (turn.holdturn)."""
    t = GoroutineTask(gp, loop)
    gtasks[gp] = t
    holdturn(gp, loop._gturn, sched, t)
    t._gwake = Wake(gp, sched, loop._gturn)
    _npseudo[0] += 1
    if _npseudo[0] >= _npseudo[1]:  # a plain goroutine has no exit hook: drop the dead ones now and then
        for g in [g for g, t in list(gtasks.items()) if g.coro is None and type(t) is GoroutineTask]:
            gtasks.pop(g, None)
        _npseudo[:] = [0, max(64, 2 * len(gtasks))]
    return t


# The code of the loop's own goroutines (its dispatcher, poller: loop.py adds them),
# which run callbacks, not a task of their own.
loopcode: set[types.CodeType] = set()


def current_task(loop: Any = None) -> Any:
    """asyncio.current_task, per M: the task of the goroutine this thread runs."""
    m = getm()
    if m is not None:
        gp = m.curg
        if gp is not None:
            t = gtasks.get(gp)
            running = runningloop()
            if t is None and running is not None:
                if getattr(gp.coro, "cr_code", None) in loopcode:  # a C Task's __step in the dispatcher:
                    return _c_current_task(loop)  # asyncio's own slot, which that step set
                t = _goroutinetask(gp, running, m.sched)
            if t is not None and (loop is None or t.get_loop() is loop):
                return t
    return _c_current_task(loop)


def coroinner(c: Any) -> Any:
    """``goroutine.coroinner``: a task's goroutine shows its task's coroutine, not the driver
    (nor the dispatcher that became the task's goroutine: become)."""
    if getattr(c, "cr_code", None) in loopcode:
        c = c.cr_await
    code = getattr(c, "gi_code", None)
    if code is not _turnheldcode and code is not _drive.__code__:
        return None
    with nogc():  # the goroutine may be running on another M (nogc.py)
        frame = c.gi_frame
        if code is _turnheldcode:  # a plain goroutine that holds the turn while it runs
            return frame.f_locals.get("inner") if frame is not None else None
        task = frame.f_locals.get("task") if frame is not None else None
    return task.get_coro() if task is not None else None


def describewait(gp: G) -> str | None:
    """``waitfor.describewait``: what a goroutine parked on an asyncio future awaits."""
    fut = gp.blockedon
    if getattr(fut, "_asyncio_future_blocking", None) is None:
        return None
    t = gtasks.get(gp)
    who = f"asyncio task {t.get_name()!r}" if t is not None and type(t) is Task else "it"
    return f"goroutine {gp.goid} ({who}) awaits {fut!r}"


def _redirected(loop: Any = None, *, _gosched: Callable[[Any], Any] = current_task) -> Any:
    return _gosched(loop)


_OWNCURRENT = ("asyncio", "_asyncio", "gosched")  # modules whose binding of C's current_task is theirs


def redirect(fn: Any) -> None:
    """Make asyncio's own ``current_task`` reach ours where a library bound it before we were imported.

    Libraries that bound it by name before gosched.aio was imported (anyio's
    ``from asyncio import current_task``, loaded early by its pytest plugin) call
    that object, which rebinding ``asyncio.current_task`` never reaches. On 3.11
    it is a Python function, whose code is redirected; on 3.12+ it is C's
    builtin, which cannot be, so the names already bound to it in imported
    modules are rebound instead (aio-bugs #12).
    """
    if isinstance(fn, types.FunctionType):
        fn.__code__ = _redirected.__code__
        fn.__kwdefaults__ = _redirected.__kwdefaults__
        return
    for mod in list(sys.modules.values()):
        name = getattr(mod, "__name__", None)
        ns = getattr(mod, "__dict__", None)
        if not isinstance(name, str) or name.startswith(_OWNCURRENT) or type(ns) is not dict:
            continue
        for k, v in list(ns.items()):
            if v is fn:
                ns[k] = current_task


foreign.foreignpark = foreignpark
# A new task's first step (the dispatcher's _runbatch): firststep, or the accelerator's.
runfirst: Callable[[Task, Any, M, G], Any] = firststep
if speedups.c is not None and _csend is not None:
    speedups.c.setup_aio({
        "enter": _enter_task, "leave": _leave_task, "swap": _swap, "unslot": _leave, "finish": _finish,
        "setresult": _fut_set_result, "giveturn": giveturn, "readytail": mgr.goreadytail,
        "turnreason": waitReasonAsyncioTurn, "firststep": firststep, "endfirst": endfirst, "flush": flush,
        "Passed": Passed, "gtasks": gtasks, "Turn": Turn, "Wake": Wake, "Task": Task, "Future": _Future,
        "Parker": _Parker, "Resumed": Resumed, "ENDED": _ENDED,
    })
    _cstep = speedups.c.stepgive
    runfirst = speedups.c.firststep
sysmon.retaken = retaken
goroutine.coroinner = coroinner
waitfor.describewait = describewait
redirect(asyncio.tasks.current_task)
asyncio.current_task = current_task
asyncio.tasks.current_task = current_task
# 3.11: asyncio's running-loop functions themselves, in C without the getpid() system call
# (~150 ns) at each look: create_task, sleep, timeout, and every Queue, Lock or Event wait
# look, on any loop. Same answers, fork included (_speedups_aioloop.h); 3.12 has no such call.
if (
    speedups.c is not None
    and sys.version_info < (3, 12)
    and events._get_running_loop is getattr(events, "_c__get_running_loop", None)
    and events.get_running_loop is getattr(events, "_c_get_running_loop", None)
):
    events._get_running_loop = asyncio._get_running_loop = speedups.c._get_running_loop
    events.get_running_loop = asyncio.get_running_loop = speedups.c.get_running_loop
