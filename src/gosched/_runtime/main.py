"""gosched.run and gosched.go: starting the runtime and goroutines (Go's runtime.main, newproc)."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from . import checkdead as _checkdead  # noqa: F401  # installs proc.checkdead and proc.firetimers
from . import (
    ctl,
    fork,
    leaks,
    mgr,
    panic,
    proc,
    runend,
    runq,
    schedtrace,
    sigqueue,
    sigwait,
    speedups,
    sysmon,
    tracectl,
    traps,
)
from . import gc as _gc
from .errors import Deadlock
from .goroutine import Goroutine
from .netpoll_epoll import Poller
from .runtime2 import RUNQ_SIZE, G, Grunning, M, P, Sched
from .sigquit import install_signals, uninstall_signals
from .synctest import root
from .traps import callable_name, closing, getm, outside_goroutine, preempted, setm

T = TypeVar("T")

_runlock = threading.Lock()
nruns = 0  # runs started in this process (``python -m gosched run`` asks whether a program ran one)


def _afterforkchild() -> None:
    """``os.fork()`` while a runtime runs: the child leaves it (fork.py)."""
    global _runlock
    _runlock = threading.Lock()  # a thread the child does not have may have held it
    sigwait.afterforkchild()
    fork.afterforkchild()


os.register_at_fork(after_in_child=_afterforkchild)

CO_COROUTINE = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE

FAKE_EPOCH_NS = 946_684_800 * 1_000_000_000  # 2000-01-01T00:00:00Z, as synctest

# How long run()'s end waits for Ms still running a goroutine (a blocking call or
# a CPU loop, which Python cannot interrupt) before it returns without them
# (docs/design.md, "The end of a run").
SHUTDOWN_TIMEOUT = 1.0


async def _awaiting(aw: Any) -> Any:
    return await aw


def _coroutine(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Coroutine[Any, Any, Any]:
    """Turn what go()/run() were given into a coroutine, or say what to pass instead."""
    code = getattr(fn, "__code__", None)
    if code is not None and code.co_flags & CO_COROUTINE:
        return fn(*args, **kwargs)  # type: ignore[no-any-return]
    if inspect.isawaitable(fn):  # a coroutine object, or any other awaitable
        if args or kwargs:
            raise TypeError(f"{what}: pass arguments to the async function, not with a coroutine object")
        return fn if inspect.iscoroutine(fn) else _awaiting(fn)
    if (code is not None and code.co_flags & inspect.CO_ASYNC_GENERATOR) or inspect.isasyncgen(fn):
        it = (
            f"{callable_name(fn)} is an async generator function (it has 'yield')"
            if callable(fn)
            else f"{fn.__qualname__}() is an async generator"
        )
        raise TypeError(
            f"{what} needs an async function; {it}, which a goroutine cannot run: iterate it "
            f"inside an async function ('async for x in gen(): ...') and pass that"
        )
    if not callable(fn):
        raise TypeError(f"{what} needs an async function or a coroutine, not {type(fn).__name__}")
    if code is None and (inspect.iscoroutinefunction(fn) or not inspect.isfunction(fn)):
        c = fn(*args, **kwargs)  # partials, callable objects
        if inspect.iscoroutine(c):
            return c
        if inspect.isawaitable(c):
            return _awaiting(c)
        raise TypeError(
            f"{what}: {callable_name(fn)} returned {type(c).__name__}, not a coroutine; "
            f"goroutines are async functions (async def)"
        )
    raise TypeError(
        f"{what} needs an async function; {callable_name(fn)} is a plain function. "
        f"Define it with 'async def', pass a coroutine (e.g. go(ch.recv())), or run blocking "
        f"work with 'await gosched.syscall(fn, *args)' from a goroutine"
    )


def go(
    fn: Callable[..., Coroutine[Any, Any, Any]] | Coroutine[Any, Any, Any], *args: Any, **kwargs: Any
) -> Goroutine:
    """Start ``fn(*args, **kwargs)`` as a new goroutine (Go's ``go`` statement)."""
    m = getm()
    if m is None and closing.get() is not None:  # a finally block of a goroutine its run's end closes
        if inspect.iscoroutine(fn):
            fn.close()
        raise outside_goroutine("go", "")
    sched = m.sched if m is not None else proc.current
    if sched is None or sched.dead:
        if inspect.iscoroutine(fn):
            fn.close()
        if traps.forked:
            raise traps.outside_goroutine("go()", "")
        raise RuntimeError("gosched.go() needs a running runtime: start your program with gosched.run(main)")
    try:
        flags = fn.__code__.co_flags  # type: ignore[union-attr]
    except AttributeError:  # not a function: a coroutine object, a partial, a callable object...
        flags = 0
    if flags & CO_COROUTINE:
        coro = fn(*args, **kwargs)  # type: ignore[operator]
    else:
        coro = _coroutine(fn, args, kwargs, "go()")
    return Goroutine(proc.newproc(sched, coro, sys._getframe(1), m))


pygo = go  # the reference implementation; the C go() calls it for what it does not handle


def _cgo() -> Callable[..., Goroutine] | None:
    """The C go() (speedups), bound to this runtime's classes; None if unavailable."""
    c = speedups.c
    if c is None:
        return None
    template = G(0, None)  # type: ignore[arg-type]  # the defaults of every G field
    c.setup_go(M, P, Sched, G, Goroutine, template, RUNQ_SIZE, proc.newgoid, mgr.wakep, pygo)
    fast: Callable[..., Goroutine] = c.go
    return fast


cgo = _cgo()
if cgo is not None:
    go = cgo


def default_gomaxprocs() -> int:
    """GOMAXPROCS env var, else CPUs on free-threaded CPython, else 1 (see README)."""
    env = os.environ.get("GOMAXPROCS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    if not gil:
        try:
            return len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return os.cpu_count() or 1
    return 1


def run(
    main: Callable[..., Coroutine[Any, Any, T]] | Coroutine[Any, Any, T],
    *args: Any,
    maxprocs: int | None = None,
    clock: str = "real",
    leak_check: bool | Callable[[list[leaks.Leak]], None] = False,
) -> T:
    """Run ``main(*args)`` as goroutine 1 on a fresh runtime; return its result.

    Only positional arguments are passed on, so they cannot collide with run()'s own
    options (as in trio); pass keyword arguments with
    ``gosched.run(functools.partial(main, key=value))``.

    ``leak_check=True``: when main returns, warn (``gosched.debug.LeakWarning``)
    about every goroutine blocked forever (``gosched.debug.leaked_goroutines``).
    A callable is given every goroutine left instead (``gosched.debug.Leak``
    entries, the leaked ones first), as goleak's ``VerifyNone`` checks them.
    """
    global nruns
    if getm() is not None:
        if inspect.iscoroutine(main):
            main.close()
        raise RuntimeError("gosched.run() called from inside a goroutine; use gosched.go() to start more")
    if clock not in ("real", "fake"):
        raise ValueError(f"clock must be 'real' or 'fake', not {clock!r}")
    if maxprocs is not None:
        if isinstance(maxprocs, bool) or not isinstance(maxprocs, int):
            raise TypeError(f"maxprocs must be an int, not {type(maxprocs).__name__}")
        if maxprocs < 1:
            raise ValueError(f"maxprocs must be >= 1, not {maxprocs}")
    coro = _coroutine(main, args, {}, "run()")
    with _runlock:
        if proc.current is not None:
            coro.close()
            raise RuntimeError("gosched.run() is already running (one runtime per process, as in Go)")
        nruns += 1
        sched = Sched()
        proc.setcurrent(sched)
        traps.setforked(False)  # a forked child's own runtime (fork.py)
    try:
        result: T = _run(sched, coro, maxprocs, clock, leak_check)
        return result
    finally:
        with _runlock:
            proc.setcurrent(None)


def _run(
    sched: Sched,
    coro: Coroutine[Any, Any, T],
    maxprocs: int | None,
    clock: str,
    leak_check: bool | Callable[[list[leaks.Leak]], None],
) -> T:
    if clock == "fake":
        sched.faketime = FAKE_EPOCH_NS
        proc.setnanotime(lambda: sched.faketime)
    else:
        proc.setnanotime(time.monotonic_ns)
    schedtrace.load_env()
    mgr.procresize(sched, maxprocs or default_gomaxprocs())
    sched.poller = Poller()
    sched.starttime = time.monotonic_ns()
    _gc.install(sched)
    tracectl.runstart(sched)
    if clock == "fake":  # synctest.Test's root: run() also waits for main's goroutines
        coro = root(sched, coro)
    gp = G(proc.newgoid(sched, None), coro)
    sched.main_g = gp
    sched.allgs[gp.goid] = gp
    m0 = newm0(sched, gp)
    install_signals(sched)  # SIGQUIT dumps the goroutines (sigquit.py)
    ctl.install(sched)  # python -m gosched dump|top PID (ctl.py)
    sigqueue.begin(sched)  # gosched.signal, served by sigwait's loop until it ends
    try:
        with sigwait.serving(sched):
            m0.parkfn = sigwait.parkfn(sched, m0)
            sysmon.start(sched)
            mstart0(m0, gp)  # main, on this thread until it is not locked here
            sigwait.wait_done(sched)  # sched.done, running signal handlers as they come (sigwait.py)
        if leak_check and sched.panic is None and sched.deadlock is None:
            _leakcheck(sched, leak_check)
    except BaseException:  # Ctrl-C (or a bug): this exception is what run() raises
        shutdown(sched, raising=True)
        raise
    else:
        shutdown(sched)
    finally:
        ctl.uninstall()
        uninstall_signals()
    if sched.panic is not None:
        raise sched.panic
    if sched.deadlock is not None:
        raise Deadlock(sched.deadlock)
    return sched.result  # type: ignore[no-any-return]


def _leakcheck(sched: Sched, check: bool | Callable[[list[leaks.Leak]], None]) -> None:
    """What ``leak_check`` asks for, with main returned and the goroutines left as they are."""
    if check is True:
        leaks.warn_leaks(sched)
    elif callable(check):
        check(leaks.leftovers(sched))


def newm0(sched: Sched, gp: G) -> M:
    """This thread as m0, holding a P, with main locked to it (Go's m0 and runtime.main's
    lockOSThread during init; the lock ends when main first blocks: lockedm.endinit)."""
    with sched.lock:
        m0 = mgr.allocm(sched)
        p = runq.pidleget(sched)
    assert p is not None
    m0.thread = threading.current_thread()
    m0.bindthread()
    m0.lockedint = 1
    m0.lockedg = gp
    gp.lockedm = m0
    sched.m0 = m0
    mgr.acquirep(m0, p)
    p.schedtick += 1  # main is the P's first pick, as if schedule() had found it
    return m0


def mstart0(m: M, gp: G) -> None:
    """Run ``gp`` (main) on m0, run()'s own thread, until main is no longer locked
    to it or the run ends (Go's mstart0 on m0; see m0 in docs/design.md)."""
    setm(m)
    proc.mstarted(m)
    try:
        proc.schedule(m, gp)
        af = panic.afterfork
        if af is not None and af[0] is m:  # a child forked from main
            af[1]()
    finally:
        proc.mstopped(m)
        setm(None)


def _preemptall(sched: Sched) -> None:
    """Ask every goroutine running on an M to yield at its next runtime call, a
    non-blocking one too (Go's preemptall); its M then sees the run is over."""
    for gp in sched.allgs.copy().values():
        if gp.status == Grunning:
            gp.preempt = True
            preempted.add(gp)


def _goid(gp: G) -> int:
    return gp.goid


def shutdown(sched: Sched, raising: bool = False) -> None:
    """End the run: Ms and sysmon exit, then the goroutines left behind are closed.

    Ctrl-C is held meanwhile (the wait is bounded by SHUTDOWN_TIMEOUT): if run()
    is already raising (a first Ctrl-C) another one is dropped, so one
    KeyboardInterrupt is reported rather than a chain; otherwise it is raised
    once the run has ended.
    """
    with _sigint_held() as interrupted:
        _shutdown(sched)
    if interrupted and not raising:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_held() -> Iterator[list[int]]:
    """Record SIGINT instead of raising KeyboardInterrupt, if Python's handler is installed."""
    got: list[int] = []
    swap = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if swap:
        signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield got
    finally:
        if swap:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _shutdown(sched: Sched) -> None:
    with sched.lock:
        panic.finish_locked(sched)
        idle = list(sched.midle)
        sched.midle.clear()
        sched.nmidle = 0
        if sched.sysmonwait:
            sched.sysmonwait = False
            sched.sysmonnote.wakeup()
    locked = [m for m in sched.allm if m.lockedg is not None and not m.freed and m is not sched.m0]
    for m in idle:
        m.park.release()
    for m in locked:  # asleep in stoplockedm, or soon: it sees sched.dead
        with contextlib.suppress(RuntimeError):  # woken already
            m.park.release()
    poller = sched.poller
    if poller is not None:
        poller.netpoll_break()
    # Every M sees sched.dead at its next switch and exits; one still running a
    # goroutine after SHUTDOWN_TIMEOUT is left to close it when it comes back
    # (runend.abandon). New Ms are not started once sched.dead is set. The pass
    # below leaves running goroutines (Grunning, Gsyscall) to their Ms; an M
    # between its sched.dead check and marking the next goroutine Grunning is a
    # few statements from it, not SHUTDOWN_TIMEOUT away.
    _preemptall(sched)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    for m in list(sched.allm):
        t = m.thread
        if t is not None and t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))
    try:
        # Runs their finally blocks, which may raise SystemExit.
        runend.gfinalize(sched, sorted(sched.allgs.copy().values(), key=_goid))
    finally:
        runend.dropqueues(sched)
        _gc.uninstall(sched)  # closes the forcegc helper goroutine too
        tracectl.runend()
        if poller is not None and sched.lastpoll != 0:
            poller.shutdown()
        preempted.clear()
        _preemptall(sched)  # the goroutines still on stuck Ms
        proc.setnanotime(time.monotonic_ns)
