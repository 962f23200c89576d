"""The asyncio event loop on the gosched runtime (issue 12).

``EventLoop`` is CPython's Unix selector loop (transports, sock_*, servers,
subprocesses, TLS, executors come from asyncio unchanged) with the machinery
under it replaced:

* **Callbacks** (``call_soon``) are run in FIFO order by one goroutine per loop,
  the *dispatcher*, which parks on a channel when it has nothing to do.
* **Timers** (``call_at``/``call_later``) are gosched runtime timers, on the
  runtime's clock (so ``clock="fake"`` makes ``asyncio.sleep`` virtual); an
  expired timer hands its callback to the dispatcher.
* **I/O readiness**: the selector is an adapter (``_Selector``); each registered
  (descriptor, direction) has a goroutine that waits in gosched's netpoller and
  runs the reader/writer callback itself.
* **Tasks** are goroutines (``task.py``).

A loop needs a runtime. Inside ``gosched.run`` it uses that one (each M has the
runtime's loop as asyncio's running loop, so goroutines await asyncio code).
``run_forever`` on a plain thread starts a runtime in a service thread, kept
while loops use it (until the last one is closed), so that tasks survive from
one ``run_until_complete`` to the next as in asyncio; the calling thread waits
until ``stop()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import os
import select
import selectors
import sys
import threading
import time
from asyncio import base_events, events, selector_events, unix_events
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .. import signal as _gosignal
from .._runtime import mgr, proc, runq, speedups
from .._runtime import timers as _timers
from .._runtime.chan import Chan
from .._runtime.main import run as _gorun
from .._runtime.mainm import Borrow, wake
from .._runtime.netpoll import notify_closing
from .._runtime.runtime2 import G, M, Sched
from .._runtime.sigwait import SignalNote
from .._runtime.traps import getm
from .dispatch import _callbackfailed, _dispatch, _poll, _runtimed
from .mainthread import lend
from .task import LOOPCODE, StepWrapper, Task, creator, creatorsite, loopcode
from .transport import SocketTransport
from .turn import Turn, Wake, turnready, wakeup

T = TypeVar("T")
# asyncio's running-loop functions are looked up at each call (events._get_running_loop...),
# never bound here: BaseEventLoop does so, and code that swaps them for the pure-Python
# ones (test_events' TestPyGetEventLoop) must see the slot the loop set (aio-bugs #11).


def _noop() -> None:
    pass


def _true(_: Any) -> bool:
    return True


class _Selector(selectors.EpollSelector):
    """asyncio's selector, a real epoll set (level-triggered, as asyncio's): the loop's poller
    goroutine waits for its descriptor in gosched's netpoller and serves every ready key."""

    def __init__(self, loop: EventLoop) -> None:
        selectors._BaseSelectorImpl.__init__(self)  # the keys; the epoll set below
        self._loop = loop
        self._ep: Any = None

    @property
    def _selector(self) -> Any:
        """The epoll set, made on first use: a runtime's own loop (every gosched.run with
        gosched.aio imported has one) holds no descriptor until asyncio code watches one."""
        if self._ep is None:
            self._ep = select.epoll()
        return self._ep

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        self._loop._gpollstart()
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = super().unregister(fileobj)
        if not self._fd_to_key:  # type: ignore[attr-defined]
            self._loop._gpollkick()  # the poller leaves: no descriptor keeps the run alive
        return key

    def close(self) -> None:
        self._fd_to_key.clear()  # type: ignore[attr-defined]
        self._loop._gpollkick()
        if self._ep is not None:
            self._ep.close()
        selectors._BaseSelectorImpl.close(self)


def _firetimer(h: events.TimerHandle) -> None:
    """A loop timer expired (on an M's scheduler loop): its callback goes to the dispatcher."""
    loop: EventLoop = h._loop  # type: ignore[attr-defined]
    loop._gtimers.pop(h, None)
    if h._cancelled or loop._gclosed:
        return
    h._scheduled = False  # type: ignore[attr-defined]
    loop._ready.append(h)
    loop._gwake()


def _spawn(sched: Sched, coro: Coroutine[Any, Any, None], name: str) -> None:
    """Start one of the loop's own goroutines (a runtime helper: hidden from dumps and counts)."""
    m = getm()
    proc.newproc(sched, coro, None, m if m is not None and m.sched is sched else None, fn=name, system=True)


def _armtimer(sched: Sched, t: _timers.RTimer) -> None:
    if runq.addtimerhere(sched, t):  # this M's P, or a live P
        mgr.wakenetpoller(sched, t.when)


# The base classes, typed Any: the loop lives on asyncio's private API
# (_ready, _selector, _check_closed...), which typeshed does not describe.
_LoopBase: Any = unix_events._UnixSelectorEventLoop
_SelectorBase: Any = selector_events.BaseSelectorEventLoop


_LOOPSLOTS: tuple[str, ...] = (
    # read by the accelerator at every callback and step (_speedups_aio.h's LOOPGET)
    "_closed", "_debug", "_ready", "_task_factory", "_gturn", "_gidle", "_gdisp", "_gdone", "_gborrow",
    # the rest of gosched's own: with them out of the instance dict, asyncio's attributes fit
    # 3.11's shared keys, and attribute and method loads on the loop specialize again
    "_gclock", "_gsched", "_gsvc", "_gembedded", "_grunning", "_gclosed", "_gforeign", "_glock", "_gnote",
    "_gresume", "_gstopped", "_gpid", "_gmainev", "_gmaincalls", "_gm", "_gmaings", "_gmainnew", "_gdeferred",
    "_gpending", "_gforeignlate", "_gtimers", "_gpolling", "_glooked", "_gbegun", "_gsigchans",
)


class EventLoop(_LoopBase):  # type: ignore[misc]
    """An asyncio event loop whose tasks are goroutines (see gosched.aio)."""

    # The attributes the accelerator reads at every callback and step, asyncio's and ours, and
    # the rest of ours, as slots: C reads the first at an offset (_speedups_aio.h, slotget)
    # instead of a lookup in an instance dict too big for 3.11's shared keys (41 keys; 30 at
    # most). Python reads and writes them as before, and asyncio's others stay in the instance
    # dict its class gives (so not a literal here: mypy would take the slots for the layout).
    __slots__ = _LOOPSLOTS

    _thread_id: int | None

    def __init__(self, *, clock: str = "real") -> None:
        if clock not in ("real", "fake"):
            raise ValueError(f"clock must be 'real' or 'fake', not {clock!r}")
        self._gclock = clock
        self._gsched: Sched | None = None
        self._gsvc: _Service | None = None
        self._gembedded = False
        self._grunning = False
        self._gclosed = False
        self._gidle = False
        self._gdisp = False
        self._gforeign = False
        self._glock = threading.Lock()
        self._gnote: Chan[None] = Chan(1)
        self._gresume = threading.Event()
        self._gstopped = threading.Event()
        self._gpid = os.getpid()  # the process whose thread _thread_id names
        # wakes the thread in run_forever: stopped, or a call below; on the main thread a
        # signal wakes it too, so asyncio.Runner's SIGINT handler runs at once (sigwait.py)
        self._gmainev = SignalNote()
        self._gmaincalls: deque[tuple[Callable[..., Any], tuple[Any, ...], cf.Future[Any]]] = deque()
        # The main thread as an M while in run_forever (mainthread.py), and the main tasks'
        # goroutines, bound to it meanwhile.
        self._gborrow: Borrow | None = None
        self._gm: M | None = None
        self._gmaings: set[G] = set()
        self._gmainnew: list[G] = []  # not started yet: they start in run_forever (_gstartmains)
        self._gdeferred: deque[tuple[Callable[..., Any], int, Any]] | None = None  # lend's, for _graise
        self._gpending: list[tuple[Task, Any]] = []
        self._gforeignlate: list[asyncio.Future[Any]] = []  # _gforeignuntil's, made while unbound
        self._gtimers: dict[events.TimerHandle, _timers.RTimer | None] = {}
        self._gpolling = False  # its poller goroutine (_poll) runs
        self._glooked = False  # the poller looked since the dispatcher's last batch (dispatch._lastlook)
        self._gbegun = True  # False from run_forever's start until _gbegin (dispatch._unserved)
        self._gsigchans: dict[int, Chan[Any]] = {}
        self._gturn = Turn()  # one task step or callback at a time (turn.py)
        super().__init__(_Selector(self))
        self._gturn.ready, self._gturn.kick = self._ready, self._gkick
        self._gdone = events.Handle(_noop, (), self, None)

    # --- binding to a runtime -----------------------------------------------------

    def _gbind(self, sched: Sched, embedded: bool) -> None:
        """Use ``sched``: start what waited for a runtime (tasks, timers, watchers)."""
        with self._glock:
            self._gsched = sched
            self._gembedded = embedded
            self._gdisp = False
            self._gforeign = False
            pending, self._gpending = self._gpending, []
            late, self._gforeignlate = self._gforeignlate, []
        if embedded:
            self._grunning = True
            self._thread_id = -1
        else:
            self._gidling(True)
        for task, f in pending:
            if not task.done():
                task.start(sched, f)
        for fut in late:
            if not fut.done():
                self._gforeignuntil(fut)
        now = proc.nanotime()
        mono = time.monotonic()
        for h in list(self._gtimers):
            rel = max(0.0, h._when - mono) if self._gtimers[h] is None else 0.0  # type: ignore[attr-defined]
            h._when = now / 1e9 + rel  # type: ignore[attr-defined]
            self._garm(h)
        self._gpollstart()
        if self._ready or not embedded:
            self._gwake()

    def _gunbind(self) -> None:
        """The runtime ended: tasks died with it; timers and watchers wait for the next one."""
        with self._glock:
            self._gsched = None
            self._gdisp = False
            self._grunning = False
            self._gturn = Turn(self._ready, self._gkick)  # in case a goroutine of the ended run held it
            self._gpolling = False
            self._gmaings.clear()
            self._gmainnew.clear()
        for h in self._gtimers:
            self._gtimers[h] = None
        self._gstop()

    def _gnewdispatcher(self) -> None:
        """The dispatcher left the loop to a task (become), or is stuck in a task's first step
        (``sysmon.retaken``, on sysmon's thread): start another."""
        with self._glock:
            self._gdisp = False
        self._gwake()

    def _gkick(self) -> None:
        """Something was queued in ``_ready``: wake the dispatcher if it is idle or gone."""
        if self._gidle or not self._gdisp:  # (_gwake's tests first: the dispatcher is mostly busy)
            self._gwake()

    def _gwake(self) -> None:
        sched = self._gsched
        if sched is None:
            return
        if not self._gdisp:
            with self._glock:
                start = not self._gdisp and self._gsched is sched
                self._gdisp = True
            if start:
                _spawn(sched, _dispatch(self), "asyncio event loop")
                return
        if self._gidle:
            self._gidle = False  # one wake-up for the callbacks queued until it runs
            self._gnote.trysend(None)

    # --- the run machinery ---------------------------------------------------------

    def run_forever(self) -> None:
        """Run until stop() is called (asyncio's run_forever, on the gosched runtime)."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = threading.get_ident()
            self._gpid = os.getpid()
            runson(self)
            svc = attach(self)
            self._gstopped.clear()
            self._gbegun = False  # first: a poller that sees the run sees it not begun
            self._grunning = True  # before _gpollstart's lock: a poller leaving sees it (dispatch._poll)
            self._gresume.set()
            self._gwake()
            self._gserve()  # _gbegin, then until stop()
            err = svc.takeerror()
            if err is not None:
                t = svc.thread
                if t is not None and t is not threading.current_thread():
                    t.join()  # its run ended (a deadlock, a panic): it unbinds its loops first
                self._gdropstops()
                raise err
        finally:
            self._gidling(True)
            self._grunning = False
            self._stopping = False
            with self._glock:
                self._thread_id = None
            self._gservecalls()  # any queued as _gserve returned: run here, still this thread
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def _gdropstops(self) -> None:
        """The run ended under run_until_complete (a deadlock): drop the stop its future's end queued.

        The ended run cancelled its tasks, so the future's ``_run_until_complete_cb`` was
        queued before run_until_complete could remove it (asyncio removes it in a finally
        block, which cannot reach a queued callback). Left queued, it stopped the next run
        of this loop at once: asyncio.Runner.close's ``shutdown_asyncgens`` raised "Event
        loop stopped before Future completed" over the deadlock report (1 run in 4).
        """
        ready = self._ready
        keep = [h for h in ready if getattr(h, "_callback", None) is not _UNTILCOMPLETE]
        if len(keep) != len(ready):
            ready.clear()
            ready.extend(keep)

    def _gstop(self) -> None:
        with self._glock:
            self._gstopped.set()
            sched = None if self._gembedded else self._gsched
            b = self._gborrow
            if b is not None:
                b.leave = True
        if sched is not None:
            # Counted from the stop, before its thread wakes, not from run_forever's finally:
            # between the two the thread is neither in the loop nor counted, and a last idle M
            # found the run deadlocked there when nothing else was awake (the poller parked
            # in the netpoller had hidden that window, one that left between looks did not).
            self._gcount(sched, True)
        if b is not None:
            wake(b)
        else:
            self._gmainev.set()

    def _gserve(self) -> None:
        """run_forever's thread: wait for stop(), running what must run on it meanwhile (_gonmain).

        The main thread runs the scheduler meanwhile, as an M (mainthread.py).
        """
        with self._gmainev.waiting() as wait:
            sched = self._gsched
            if threading.current_thread() is threading.main_thread() and sched is not None and not sched.dead:
                lend(self, self._gmainev, wait)
                return
            self._gbegin()
            while True:
                wait()
                self._gmainev.clear()
                self._gservecalls()
                if self._gstopped.is_set():
                    return

    def _graise(self, e: BaseException) -> bool:
        """A task's step on the main thread, as an M, raised KeyboardInterrupt or SystemExit:
        have run_forever raise it (the main thread's next stop between goroutines), as
        asyncio's run_forever does. False if not on that thread: the caller raises it."""
        d = self._gdeferred
        b = self._gborrow
        if d is None or b is None or threading.get_ident() != self._thread_id:
            return False
        d.append((_reraise, 0, e))
        wake(b)
        return True

    def _gbegin(self) -> None:
        """run_forever's start on its thread (the main thread once it is an M): the main tasks,
        then the poller, then the thread leaves the idle count.

        The main tasks first: asyncio queued their first steps at ``create_task``, before
        the first select, so they run before any I/O callback (a protocol's future made
        in the task's first step is there when the datagram arrives). Readied, a main task
        holds or waits for the turn before the poller asks for it; a poller left from the
        last run does not serve before (``_gbegun``, dispatch._unserved). The poller starts
        here as it leaves while the loop is stopped. The thread is counted as one that may still
        add work until both are readied: the dispatcher and the poller are runtime helpers,
        which checkdead does not see runnable before they reach a run queue (a false
        deadlock, 1 run in ~15 of test_aio_io). Not if already stopped: the stop counted it
        again (_gstop).
        """
        self._gstartmains()
        self._gbegun = True
        self._gpollstart()
        self._gidling(False, running=True)

    def _gstartmains(self) -> None:
        """Ready the main tasks created since the last run (asyncio runs none before run_forever):
        the main thread runs the loop now, and they are bound to it if it lends itself (lend)."""
        sched = self._gsched
        new, self._gmainnew = self._gmainnew, []
        if sched is not None and new:
            for gp in new:
                turnready(self._gturn, gp, sched)
            with sched.lock:
                sched.nforeign -= len(new)  # Task.start counted them

    def _gservecalls(self) -> None:
        while self._gmaincalls:
            fn, args, fut = self._gmaincalls.popleft()
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # handed to the caller (a task step's StopIteration too)
                fut.set_exception(e)

    def _gonmain(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn`` on the thread in run_forever (the main thread for signals), and wait."""
        fut: cf.Future[T] = cf.Future()
        with self._glock:  # run_forever's end drains the calls under it: none is left behind
            tid = self._thread_id
            here = tid is None or tid == -1 or tid == threading.get_ident() or os.getpid() != self._gpid
            if not here:  # (a fork child has no thread in run_forever: aio-bugs #10)
                self._gmaincalls.append((fn, args, fut))
            b = self._gborrow
        if here:
            return fn(*args)
        if b is not None:
            wake(b)  # between two goroutines, or idle
        else:
            self._gmainev.set()
        return fut.result()

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        """asyncio's add_signal_handler: Python's handler is installed by the main thread."""
        if self._gembedded:
            self._gnotify(sig, callback, *args)
            return
        if getattr(self, "_ssock", None) is None:
            _SelectorBase._make_self_pipe(self)  # the signal wakeup fd, made when first needed
        self._gonmain(super().add_signal_handler, sig, callback, *args)

    def remove_signal_handler(self, sig: int) -> bool:
        if self._gembedded:
            return self._gunnotify(sig)
        return bool(self._gonmain(super().remove_signal_handler, sig))

    def _gnotify(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        """Inside gosched.run, whose main thread owns the signals: relay them with gosched.signal."""
        self._check_signal(sig)
        self._check_closed()
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._gunnotify(sig)
        self._signal_handlers[sig] = events.Handle(callback, args, self, None)
        ch: Chan[Any] = Chan(8)
        self._gsigchans[sig] = ch
        _gosignal.notify(ch, sig)
        _spawn(self._gsched, _relaysignals(self, ch), f"asyncio signal {sig}")  # type: ignore[arg-type]

    def _gunnotify(self, sig: int) -> bool:
        ch = self._gsigchans.pop(sig, None)
        if ch is not None:
            _gosignal.stop(ch)
            ch.close()
        return self._signal_handlers.pop(sig, None) is not None

    def _gidling(self, on: bool, running: bool = False) -> None:
        """Count this loop in ``sched.nforeign`` while it is not running.

        Its thread may still call run_forever, create tasks or close it, so
        the runtime is not deadlocked meanwhile (checkdead, as for a plain
        thread blocked in a blocking API).
        """
        with self._glock:
            sched = self._gsched
            if sched is None or self._gembedded:
                return
        self._gcount(sched, on, running)

    def _gcount(self, sched: Sched, on: bool, running: bool = False) -> None:
        """``_gidling``'s count: flag and count in one step under ``sched.lock``, taken after
        ``_glock`` is released, as everywhere (no order between the two locks to keep).
        ``running``: run_forever leaves the count only if no stop has come yet (``_gstop``
        sets ``_gstopped`` before it counts)."""
        with sched.lock:
            if self._gforeign == on or (running and self._gstopped.is_set()):
                return
            self._gforeign = on
            sched.nforeign += 1 if on else -1

    def stop(self) -> None:
        self._stopping = True
        self._gwake()

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        for h in list(self._gtimers):
            self._timer_handle_cancelled(h)
        self._gclosed = True
        self._gresume.set()
        self._gwake()
        detach(self)

    def __del__(self, _warn: Any = None) -> None:
        if not self._gembedded:
            super().__del__()

    def _check_thread(self) -> None:
        """Debug mode: only the runtime's Ms and the thread in run_forever may use the loop."""
        m = getm()
        if m is not None and m.sched is self._gsched and m.ident == threading.get_ident():
            return
        if self._thread_id is None or threading.get_ident() == self._thread_id:
            return
        raise RuntimeError("Non-thread-safe operation invoked on an event loop other than the current one")

    def time(self) -> float:
        return proc.nanotime() / 1e9 if self._gsched is not None else time.monotonic()

    # --- callbacks and timers ---------------------------------------------------------

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> events.Handle:
        t = type(callback)
        if t is StepWrapper and isinstance(callback.__self__, Task):
            return self._gdone  # Task.__init__'s first __step: the task's goroutine runs it
        later = self._glater() if self._gturn.defer is not None else None
        if t is Wake and later is None and not (self._ready or self._debug or self._closed):
            # A goroutine parked on a future, and no callback queued before it (a
            # future's earlier done-callbacks run first, as in asyncio): ready it now.
            # (Debug mode: asyncio's checks, and the callback through the queue.)
            wakeup(callback, *args)
            return self._gdone
        # BaseEventLoop.call_soon's checks, in line: this runs at every done-callback
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
        handle = events.Handle(callback, args, self, context)  # _call_soon, in line
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        if later is not None:  # (a Wake as itself: the dispatcher calls it)
            later.append(callback if t is Wake else handle)
            return handle
        self._ready.append(handle)
        if self._gidle or not self._gdisp:
            self._gwake()
        return handle

    def _call_soon(self, callback: Any, args: Any, context: Any) -> events.Handle:
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        self._ready.append(handle)
        if self._gidle or not self._gdisp:  # _gkick, in line: this runs at every callback
            self._gwake()
        return handle

    def _glater(self) -> list[Any] | None:
        """Where the caller puts what it schedules, if it is a step that goes on after a retake
        passed its turn on: it runs once the step ends (Turn.defer), as in asyncio."""
        d = self._gturn.defer
        if d is None:
            return None
        m = getm()
        return d.get(m.curg) if m is not None and m.curg is not None else None

    def _write_to_self(self) -> None:
        self._gwake()

    def _make_self_pipe(self) -> None:
        pass  # the dispatcher is woken through a channel; the socket pair only for signals

    def _process_self_data(self, data: bytes) -> None:
        super()._process_self_data(data)
        # The socket is the wakeup fd now: a signal whose C handler ran on another thread
        # (Runner's SIGINT) reaches the Python handler only when the main thread wakes.
        self._gmainev.set()

    def _close_self_pipe(self) -> None:
        if getattr(self, "_ssock", None) is not None:
            _SelectorBase._close_self_pipe(self)

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> events.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = events.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:  # type: ignore[attr-defined]
            del timer._source_traceback[-1]  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        self._gtimers[timer] = None
        if self._gsched is not None:
            self._garm(timer)
        return timer

    def _garm(self, h: events.TimerHandle) -> None:
        sched = self._gsched
        if sched is None:
            return
        t = _timers.RTimer(_firetimer, h, int(h._when * 1e9), wakes=_true)  # type: ignore[attr-defined]
        self._gtimers[h] = t
        _armtimer(sched, t)

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        t = self._gtimers.pop(handle, None)
        if t is not None:
            _timers.deltimer(t)

    # --- tasks ----------------------------------------------------------------------------

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None, **kwargs: Any) -> Any:
        if self._closed:  # _check_closed, in line
            raise RuntimeError("Event loop is closed")
        factory = self._task_factory
        if factory is not None and factory is not _EAGER:  # eager tasks are gosched tasks, started lazily
            return super().create_task(coro, name=name, context=context, **kwargs)
        # asyncio's C __init__ schedules the first __step with call_soon: call_soon drops it
        # (a TaskStepMethWrapper of a Task) and the dispatcher runs that step (_dispatch).
        ctx = contextvars.copy_context() if context is None else context
        task = Task(coro, loop=self, name=name, context=ctx)
        task._gctx = ctx
        if task._source_traceback:
            del task._source_traceback[-1]
        m = getm()
        if m is not None or threading.current_thread() is not threading.main_thread():
            # Its first step from the ready queue, as asyncio's (_dispatch): a goroutine only if it yields.
            site = creatorsite(1)
            cur = m.curg if m is not None else None
            task._gparent = cur.goid if cur is not None else 0
            if site is not None:
                task._gpcode, task._gplasti, task._gpglobals = site
            else:
                task._gpcode, task._gplasti, task._gpglobals = None, 0, None
            d = self._gturn.defer  # _glater, in line: each task a retaken step creates goes there
            if d is not None and cur is not None and (later := d.get(cur)) is not None:
                later.append(task)
                return task
            self._ready.append(task)
            if self._gidle or not self._gdisp:  # _gkick, in line
                self._gwake()
            return task
        # Created by the main thread outside the runtime (asyncio.Runner's main task): its
        # steps run there while it runs the loop, so signal.signal works in it (aio-bugs #3).
        task._gmain = True
        f = creator(1)
        sched = self._gsched
        if sched is None:
            with self._glock:
                if self._gsched is None:
                    self._gpending.append((task, f))
                    return task
                sched = self._gsched
        task.start(sched, f)
        return task

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = super().run_in_executor(executor, func, *args)
        self._gforeignuntil(fut)
        return fut

    async def shutdown_default_executor(self, *args: Any) -> None:
        done = self.create_future()
        self._gforeignuntil(done)  # the executor's threads end it: not a deadlock meanwhile
        try:
            await super().shutdown_default_executor(*args)
        finally:
            done.set_result(None)

    def _gforeignuntil(self, fut: asyncio.Future[Any]) -> None:
        """A thread outside the runtime will complete ``fut``: until then checkdead sees no deadlock.

        Before the loop has a runtime (``run_in_executor`` before ``run_until_complete``, as
        CPython's run_coroutine_threadsafe tests call it) the count waits for ``_gbind``.
        """
        sched = self._gsched
        if sched is None:
            with self._glock:  # _gbind takes the list under it, once _gsched is set
                sched = self._gsched
                if sched is None:
                    self._gforeignlate.append(fut)
                    return
        with sched.lock:
            sched.nforeign += 1
        fut.add_done_callback(lambda _: _foreigndone(sched))

    def _make_socket_transport(
        self, sock: Any, protocol: Any, waiter: Any = None, *, extra: Any = None, server: Any = None
    ) -> Any:
        # BaseSelectorEventLoop's, with gosched's transport (transport.py: reads into a buffer).
        if sys.version_info >= (3, 12):
            self._ensure_fd_no_transport(sock)
        return SocketTransport(self, sock, protocol, waiter, extra, server)

    async def _make_subprocess_transport(self, *args: Any, **kwargs: Any) -> Any:
        transp = await super()._make_subprocess_transport(*args, **kwargs)
        if transp._exit_waiters is None:  # it has exited and been reported already (3.12+)
            return transp
        exited = self.create_future()
        transp._exit_waiters.append(exited)
        self._gforeignuntil(exited)  # a child watcher thread may report the exit: not a deadlock meanwhile
        return transp

    # --- I/O readiness ------------------------------------------------------------------------

    def _gpollstart(self) -> None:
        """Start the poller goroutine if a key is registered and it is not running.

        ``_gpolling`` is read under ``_glock`` only: a poller leaving clears it in the
        same locked step in which it found no key (or the loop stopped), so a read
        outside the lock could see it still set, and nobody would watch the new key.
        """
        sched = self._gsched
        sel = self._selector
        if sched is None or sel is None or not sel.get_map():
            return
        with self._glock:
            if self._gpolling or self._gsched is not sched:
                return
            self._gpolling = True
        _spawn(sched, _poll(self, sched, self._selector), "asyncio event loop I/O")

    def _gpollkick(self) -> None:
        """Wake the poller goroutine out of its wait (it leaves if no key is left)."""
        sched = self._gsched
        sel = self._selector
        if sched is not None and self._gpolling and sel is not None:
            notify_closing(sched, sel.fileno())


def _reraise(_: int, e: BaseException) -> None:
    raise e


async def _relaysignals(loop: EventLoop, ch: Chan[Any]) -> None:
    async for sig in ch:
        loop._handle_signal(sig)


loopcode.update((_dispatch.__code__, _poll.__code__, _relaysignals.__code__))


def _foreigndone(sched: Sched) -> None:
    with sched.lock:
        sched.nforeign -= 1


_EAGER = getattr(asyncio, "eager_task_factory", None)  # 3.12+
_UNTILCOMPLETE: Any = base_events._run_until_complete_cb  # type: ignore[attr-defined]


# --- the runtime a loop runs on ----------------------------------------------------------


class _Service:
    """A runtime started for loops run from plain threads, kept while any of them is open."""

    def __init__(self) -> None:
        self.loops: set[EventLoop] = set()
        self.sched: Sched | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.quit: Chan[None] = Chan(1)
        self.thread: threading.Thread | None = None

    def takeerror(self) -> BaseException | None:
        """The error that ended its run, taken once: by the next run_forever or close()."""
        with _svclock:
            err, self.error = self.error, None
        return err


_svclock = threading.Lock()
_svc: _Service | None = None
_NOSVC = _Service()  # a loop inside a user's gosched.run: no service, never an error
_deflock = threading.Lock()
_defaults: dict[Sched, EventLoop] = {}  # the runtime's loop: asyncio's running loop on every M
_pendingdefault: list[EventLoop] = []


async def _servicemain(svc: _Service) -> None:
    sched = svc.sched = getm().sched
    with sched.lock:  # the loop that started it binds from its own thread: not deadlocked meanwhile
        sched.nforeign += 1
    svc.ready.set()
    await svc.quit.recv()


def _servicethread(svc: _Service, clock: str) -> None:
    try:
        _gorun(_servicemain, svc, clock=clock)
    except BaseException as e:  # a deadlock or a panic: run_forever raises it
        svc.error = e
    finally:
        svc.ready.set()
        with _svclock:
            global _svc
            if _svc is svc:
                _svc = None
            loops = list(svc.loops)
        for loop in loops:
            loop._gunbind()


def attach(loop: EventLoop) -> _Service:
    """Bind ``loop`` to the running runtime, starting one in a service thread if none runs."""
    global _svc
    with _svclock:
        if loop._gsched is not None and not loop._gsched.dead:
            return loop._gsvc or _NOSVC
        sched = proc.current
        svc = _svc if _svc is not None and _svc.sched is sched and sched is not None else None
        started = sched is None
        if sched is None:
            svc = _Service()
            with _deflock:
                _pendingdefault.append(loop)
            svc.thread = threading.Thread(
                target=_servicethread, args=(svc, loop._gclock), name="gosched-asyncio", daemon=True
            )
            svc.thread.start()
            svc.ready.wait()
            if svc.sched is None:
                err = svc.error
                raise RuntimeError("gosched: the asyncio loop's runtime did not start") from err
            _svc = svc
            sched = svc.sched
        if svc is not None:
            svc.loops.add(loop)
        loop._gsvc = svc
    loop._gbind(sched, False)
    if started:
        _foreigndone(sched)  # the count _servicemain took for this bind
    return svc or _NOSVC


def detach(loop: EventLoop) -> None:
    """A closed loop leaves its runtime; the service ends with its last loop.

    If the service's run ended while no loop ran (a goroutine's panic, say), its error
    has not been raised by any ``run_forever``: ``close()`` raises it, as the next run
    would have, instead of dropping it.
    """
    last = live = False
    with _svclock:
        svc = loop._gsvc
        loop._gsvc = None
        if svc is not None and loop in svc.loops:
            svc.loops.discard(loop)
            last = not svc.loops
            live = _svc is svc  # _servicethread forgets it as its run ends
        else:
            svc = None
    if svc is not None and last and live:
        try:
            svc.quit.trysend(None)
        except RuntimeError:  # "no runtime is running": the run ended since
            if proc.current is svc.sched:
                raise
    # Its thread can add no work now. Uncounted only after the quit readied the service's
    # main: before, a last idle M found the run deadlocked (a false Deadlock, kept as the
    # run's error); after it, never, and under the fake clock the run ends once the rest
    # is blocked, which a count left behind would stop (synctest.root).
    loop._gidling(False)
    if svc is None:
        return
    if (last or not live) and svc.thread is not None and svc.thread is not threading.current_thread():
        svc.thread.join()  # it unbinds its loops and keeps its error first
    err = svc.takeerror()
    if err is not None:
        raise err


def defaultloop(sched: Sched) -> EventLoop:
    """The loop a runtime's Ms run asyncio code on: the service's first loop, or one made for it."""
    with _deflock:
        loop = _defaults.get(sched)
        if loop is not None:
            return loop
        loop = _pendingdefault.pop() if _pendingdefault else None
        _defaults.clear()  # one runtime at a time: forget the last one's
        if loop is None:
            loop = EventLoop()
            embedded = True
        else:
            embedded = False
        _defaults[sched] = loop
    if embedded:
        loop._gbind(sched, True)
    return loop


# What mstarted replaced on this thread, for mstopped (m0: run()'s thread goes on).
_before = threading.local()


def mstarted(m: M) -> None:
    """``proc.mstarted``: asyncio's running loop and async-generator hooks on every M."""
    _before.state = (events._get_running_loop(), sys.get_asyncgen_hooks())
    runson(defaultloop(m.sched))


def mstopped(m: M) -> None:
    """``proc.mstopped``: m0 leaves the scheduler; run()'s thread gets its own state back."""
    state = getattr(_before, "state", None)
    if state is not None:
        _before.state = None
        events._set_running_loop(state[0])
        sys.set_asyncgen_hooks(*state[1])


def runson(loop: EventLoop) -> None:
    """This thread runs ``loop``'s code: asyncio's running loop and async-generator hooks."""
    events._set_running_loop(loop)
    sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook, finalizer=loop._asyncgen_finalizer_hook)


proc.mstarted = mstarted
proc.mstopped = mstopped
_pycall_soon = EventLoop.call_soon  # the definitions (the C methods' fallbacks)
_pycreate_task = EventLoop.create_task


def _accelerate(c: Any) -> None:
    """call_soon in C for all but a closed loop, debug mode and a retaken step's deferral (a
    task's first __step dropped, a Wake readied at once, a Handle made and queued: see
    _speedups_aioloop.h), the method above for the rest; get_debug and create_future, which
    every future made calls, in C too (BaseEventLoop's, as they were); create_task's common
    case (a task made on an M) in C, the method above for the rest."""
    methods = c.setup_loop(EventLoop, {
        "call_soon": _pycall_soon,
        "callbackfailed": _callbackfailed,
        "runtimed": _runtimed,
        "StepWrapper": StepWrapper,
        "Handle": events.Handle,
        "create_task": _pycreate_task,
        "EAGER": _EAGER,
        "creatorsite": creatorsite,
        # 3.11's C frame walk: create_task's C path calls it itself, without the site's tuple.
        "siteprefixes": LOOPCODE if speedups.creatorsite is not None else None,
    })
    for name, method in zip(("call_soon", "get_debug", "create_future", "create_task"), methods, strict=True):
        setattr(EventLoop, name, method)


if speedups.c is not None:
    _accelerate(speedups.c)
