"""The goroutines that run an asyncio loop's callbacks (issue 12): its dispatcher and its poller.

The *dispatcher* (``_dispatch``) runs the ready queue in FIFO batches, holding the
loop's turn: ``call_soon`` callbacks, expired timers, and new tasks' first steps
(``task.firststep``), as BaseEventLoop._run_once's second half runs them. A first
step that yields makes the dispatcher's goroutine the task's (``task.become``) and a
new dispatcher goes on with the queue. The *poller* (``_poll``) waits for the loop's
epoll descriptor in gosched's netpoller and runs the reader and writer callbacks of
every ready descriptor in one turn (the select half). Both run a callback with
``runhandle``. ``loop.py`` starts them.
"""

from __future__ import annotations

import selectors
import sys
import threading
import time
import types
import weakref
from asyncio import base_events, events, format_helpers
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from .._runtime import checkdead, speedups
from .._runtime.api import syscall
from .._runtime.netpoll import MODE_R, waitfd
from .._runtime.runtime2 import GSTATUS_STRINGS, Gwaiting, M, Sched
from .._runtime.traps import getm
from .task import _ENDED, Passed, Task, become, runfirst, runningloop
from .turn import Wake, giveturn, taketurn, wakeup

if TYPE_CHECKING:
    from .loop import EventLoop, _Selector

EVENT_READ, EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_loops: weakref.WeakSet[EventLoop] = weakref.WeakSet()  # loops with a dispatcher (stuckloops)


@types.coroutine
def _goyield() -> Generator[None, None, None]:
    yield


def _runhandle(loop: EventLoop, h: events.Handle) -> None:
    """Run a callback on this M: Handle._run's work in line (a Python call less per callback),
    the callback in its context, and an exception reported to the loop's exception handler in
    asyncio's words.
    """
    ctx = h._context  # type: ignore[attr-defined]
    if loop._debug:
        _runtimed(loop, h)
        return
    try:
        ctx.run(h._callback, *h._args)  # type: ignore[attr-defined]
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        _callbackfailed(loop, h, exc)


# In C when accelerated (_speedups_aioloop.h runhandle, bound by loop.py's setup_loop).
runhandle: Callable[[EventLoop, events.Handle], None] = (
    speedups.c.runhandle if speedups.c is not None else _runhandle
)


def _callbackfailed(loop: EventLoop, h: events.Handle, exc: BaseException) -> None:
    """Handle._run's report of a callback that raised."""
    cb, args = h._callback, h._args  # type: ignore[attr-defined]
    if sys.version_info >= (3, 13):
        src = format_helpers._format_callback_source(cb, args, debug=loop.get_debug())  # type: ignore[call-arg]
    else:
        src = format_helpers._format_callback_source(cb, args)
    context: dict[str, Any] = {"message": f"Exception in callback {src}", "exception": exc, "handle": h}
    if h._source_traceback:  # type: ignore[attr-defined]
        context["source_traceback"] = h._source_traceback  # type: ignore[attr-defined]
    loop.call_exception_handler(context)


def _runtimed(loop: EventLoop, h: events.Handle) -> None:
    """Debug mode: Handle._run, and asyncio's slow-callback warning."""
    t0 = time.monotonic()
    h._run()
    dt = time.monotonic() - t0
    if dt >= loop.slow_callback_duration:
        base_events.logger.warning("Executing %s took %.3f seconds", base_events._format_handle(h), dt)  # type: ignore[attr-defined]


async def _poll(loop: EventLoop, sched: Sched, sel: _Selector) -> None:
    """The loop's I/O (BaseEventLoop._run_once's select): wait for its epoll descriptor in the
    netpoller, then run the callbacks of every ready key in one turn, until no key is left.

    A look that found keys ready is followed by another, after the goroutines it readied
    have run (a yield to the back of the run queue), before the poller parks: under load
    the next keys are ready by then, as at asyncio's next select, and the park (the
    descriptor re-armed, the netpoller's poll on an M, the wake) costs a busy server
    ~45 Python calls a look.

    It serves only while the loop runs, as asyncio runs no I/O callback after the
    iteration that called ``stop()``: a stopped or stopping loop's poller leaves (with
    the turn, before it selects) and ``run_forever`` starts a new one when it resumes.
    Staying would spin on a level-triggered descriptor (a writable socket) meanwhile;
    serving ran a writer again after the ``stop()`` it called (docs/aio-bugs.md #15).
    """
    m = getm()
    gp = m.curg
    turn = loop._gturn
    epfd = -1  # read at the first look: a poller first run after close() finds the set closed
    again = False  # the last look found descriptors ready: look once more before parking
    while True:
        with loop._glock:
            # The keys and the epoll set read directly (get_map and _selector: three calls a look).
            keys, ep = sel._fd_to_key, sel._ep  # type: ignore[attr-defined]
            if not keys or loop._gsched is not sched or ep is None or ep.closed or _unserved(loop):
                loop._gpolling = False
                return
        if epfd < 0:
            epfd = ep.fileno()
        if not again:
            try:
                await waitfd(epfd, MODE_R, keep=True)
            except OSError:  # woken by _gpollkick (the last key went, or the loop closes)
                continue
        await taketurn(turn, gp)
        m = getm()
        if _unserved(loop):  # stop() ran meanwhile (a callback of the dispatcher's), or a new run began
            giveturn(turn, gp, sched, m)
            again = False
            continue
        try:
            if runningloop() is not loop:
                events._set_running_loop(loop)
            loop._glooked = True
            again = _runready(loop, sel)
        finally:
            giveturn(turn, gp, sched, m)
        if again:
            await _goyield()  # what it readied runs first, as asyncio runs callbacks before it selects


# In C when accelerated (_speedups_aioloop.h serveready), which reads the epoll set itself.
_serveready: Callable[[EventLoop, _Selector], bool] | None = (
    speedups.c.serveready if speedups.c is not None else None
)


def _runready(loop: EventLoop, sel: _Selector) -> bool:
    """The callbacks of the descriptors ready now, at once: ``sel.select(0)``, then what
    BaseSelectorEventLoop._process_events does with each key. Whether any was ready."""
    if _serveready is not None:
        return _serveready(loop, sel)
    if sel._selector.closed:
        return False
    ready = sel.select(0)
    for key, mask in ready:
        reader, writer = key.data
        if mask & EVENT_READ and reader is not None:
            if reader._cancelled:
                loop._remove_reader(key.fileobj)
            else:
                runhandle(loop, reader)
        if mask & EVENT_WRITE and writer is not None:
            if writer._cancelled:
                loop._remove_writer(key.fileobj)
            else:
                runhandle(loop, writer)
    return bool(ready)


def stuckloops(sched: Sched) -> str:
    """``checkdead.extrareport``: the loops of ``sched`` left with callbacks queued or their turn
    held at a deadlock. Nothing parks holding the turn, and a queued callback always has a
    dispatcher coming, so either is a gosched bug; the lines say where to look."""
    lines = []
    for loop in list(_loops):
        if loop._gsched is not sched:
            continue
        turn, ready = loop._gturn, len(loop._ready)
        h = turn.holder
        if not ready and h is None:
            continue
        if h is None:
            held = "nobody"
        else:
            st = h.waitreason if h.status == Gwaiting else GSTATUS_STRINGS.get(h.status, "?")
            held = f"goroutine {h.goid} ({st}{'' if h.goid in sched.allgs else ', a runtime helper'})"
        state = "idle" if loop._gidle else "running" if loop._gdisp else "not started"
        lines.append(
            f"runtime: asyncio loop {id(loop):#x} left {ready} callbacks queued; its turn is held by "
            f"{held}, {len(turn.waiters)} goroutines wait for it; its dispatcher is {state} "
            "(a gosched bug: please report it)"
        )
    return "\n".join(lines) + ("\n" if lines else "")


def outsiders(sched: Sched) -> list[threading.Thread]:
    """``checkdead.outsiders``: the live threads outside the runtime that may still call
    ``call_soon_threadsafe`` (or ``run_coroutine_threadsafe``) on a loop of ``sched``.

    asyncio lets any thread do so, with nothing that says so beforehand: aiosqlite's
    connection thread completes each query's future that way, a server thread of a test
    sets an event. A task waiting on such a future is not deadlocked while the thread
    lives (asyncio's select would wait for its self-pipe). Not outsiders: the runtime's
    own threads (its Ms and sysmon, gosched's quiet helpers), the thread in the loop's
    ``run_forever`` (it waits there), and the loop's default executor's workers (a call
    they run keeps the run alive through ``sched.nforeign`` until its future is done).
    """
    loops = [lp for lp in list(_loops) if lp._gsched is sched and not lp._gclosed]
    if not loops:
        return []
    inside: set[threading.Thread | None] = {m.thread for m in list(sched.allm)}
    inside.update(checkdead.quiet)
    idents = set()
    for lp in loops:
        ex = lp._default_executor
        if ex is not None:
            inside.update(list(ex._threads))
        idents.add(lp._thread_id)
    return [t for t in threading.enumerate() if t not in inside and t.ident not in idents]


def _stopped(loop: EventLoop) -> bool:
    """Whether the loop is stopped or stopping (``stop()`` called, ``run_forever`` returning).

    An embedded loop (inside ``gosched.run``) never stops: it runs as long as the runtime.
    """
    return not loop._gembedded and (loop._stopping or not loop._grunning)


def _unserved(loop: EventLoop) -> bool:
    """Whether the poller must not serve now: the loop is stopped or stopping, or a run has
    started whose main tasks are not readied yet (``loop._gbegin`` readies them, then starts
    a poller). asyncio runs their first steps before its first select; a poller left from the
    last run, woken by a datagram that came meanwhile, served it before them (CPython's
    ``test_datagram_send_to_non_listening_address``)."""
    return _stopped(loop) or not loop._gbegun


async def _dispatch(loop: EventLoop) -> None:
    """The loop's callbacks, FIFO, in one goroutine (BaseEventLoop._run_once's second half).

    New tasks' first steps are in the ready queue too, as asyncio's ``__step``
    handles are; one that yields makes this goroutine the task's (``become``) and
    a new dispatcher goes on with the queue.
    """
    m = getm()
    gp, sched = m.curg, m.sched
    _loops.add(loop)
    while not loop._gclosed:
        if not loop._grunning:  # stopped: the caller of run_forever resumes it, or close() ends it
            await syscall(loop._gresume.wait)
            continue
        await taketurn(loop._gturn, gp)
        m = getm()
        left: tuple[Task, Any] | None = None
        try:
            if runningloop() is not loop:
                events._set_running_loop(loop)
            left = _runbatch(loop, m, gp)
            if left is None:
                if loop._stopping and not loop._glooked and not loop._gembedded:
                    _lastlook(loop)
                loop._glooked = False
        finally:
            giveturn(loop._gturn, gp, sched, m)
        if left is not None:
            task, y = left
            if type(y) is Passed:
                y = y.y  # a retake passed the turn on mid-step, and started another dispatcher
            else:
                loop._gnewdispatcher()
            if y is not _ENDED:
                await become(task, y, sched, gp)
            return
        if loop._stopping:
            loop._stopping = False
            if not loop._gembedded:
                loop._grunning = False
                loop._gresume.clear()
                loop._gstop()
            continue
        if loop._ready:
            await _goyield()  # let tasks and goroutines run between batches, as the selector poll does
            continue
        loop._gidle = True
        if not (loop._ready or loop._stopping or loop._gclosed):
            await loop._gnote.recv()
        loop._gidle = False


def _lastlook(loop: EventLoop) -> None:
    """The I/O of the iteration that called ``stop()``: asyncio selects before it runs a
    batch, so the callbacks of the descriptors ready then run before ``run_forever`` returns
    (a reader that finds the peer gone closes its transport before ``run_until_complete``
    returns). The poller serves only a running loop (``_poll``): if it has not looked since
    the dispatcher's last batch, the dispatcher looks, once, holding the turn. If it has,
    that look was the iteration's select (an I/O callback that called ``stop()`` does not
    run again: docs/aio-bugs.md #15). What these callbacks schedule runs at the next
    ``run_forever``, as in asyncio."""
    sel = loop._selector
    if sel is not None and sel.get_map():
        _runready(loop, sel)


def _runbatch(loop: EventLoop, m: M, gp: Any) -> tuple[Task, Any] | None:
    """One batch of the ready queue, holding the turn. None, or when the dispatcher must leave
    the loop to another: a task whose first step yielded or was retaken, and firststep's answer.

    A batch of many short callbacks ends early when sysmon asks the goroutine to yield
    (``gp.preempt``, Go's safe point): the rest stays first in the queue.
    """
    ready = loop._ready
    for _ in range(len(ready)):
        h = ready.popleft()
        t = type(h)
        if t is Task:
            y = runfirst(h, loop, m, gp)
            if y is not _ENDED:
                return h, y
        elif t is Wake:  # a task's asyncio.sleep(0) queued behind callbacks (queueturn)
            wakeup(h, None)
        elif not h._cancelled:
            runhandle(loop, h)
        if gp.preempt:
            break
    return None


checkdead.extrareport = stuckloops
checkdead.outsiders = outsiders
