"""Sleep, timers and tickers: Go's time package (time/sleep.go, time/tick.go).

Named gotime, not time: a Go reader looking for runtime/time.go (the per-P
timer heaps) finds it in timers.py, and the time package here.
Timers live in per-P heaps (timers.py). A ``Timer`` or ``Ticker`` delivers on
a channel of capacity 1 with Go 1.23's synchronous semantics: once ``stop()``
or ``reset()`` returns, no value from before the call can be received.
"""

from __future__ import annotations

import inspect
import time as _time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import mgr, proc, runq
from . import timers as _timers
from .chan import Chan
from .lock import held
from .runtime2 import Sched
from .select import ctxdone, ctxerr, recv, select
from .timers import duration_ns
from .traps import GOSCHED, SLEEP, callable_name, checkpreempt, getm, require_m, trap

if TYPE_CHECKING:
    from ..context import Context


def now() -> float:
    """Seconds since the epoch on the runtime's clock (virtual under clock="fake")."""
    s = proc.current
    if s is not None and s.faketime:
        return s.faketime / 1e9
    return _time.time()


async def sleep(seconds: float, ctx: Context | None = None) -> None:
    """Pause the goroutine for ``seconds`` (time.Sleep). ``<= 0`` returns at once.

    With ``ctx`` (a ``gosched.context.Context``), it returns as soon as ``ctx`` is
    done, raising ``ctx.err()`` (at once if it is done already): Go's
    ``select { case <-time.After(d): case <-ctx.Done(): return ctx.Err() }``.
    """
    if ctx is None and type(seconds) in (float, int) and 0 < seconds < 1e10:
        # The common sleep in line: an idle program makes this call before every sleep, and
        # idle CPU is what it costs. Same checks and order as below, minus the ones that pass.
        require_m("sleep", "use time.sleep in a plain thread")
        ns = int(seconds * 1e9)
        await (trap(SLEEP, ns) if ns > 0 else checkpreempt())
        return
    ns = duration_ns(seconds, "sleep")
    require_m("sleep", "use time.sleep in a plain thread")
    done = ctxdone(ctx)
    if ns <= 0:
        await checkpreempt()
        return
    if done is None:  # no context, or one that is never done (background())
        await trap(SLEEP, ns)
        return
    t = Timer(seconds)
    try:
        i, _, _ = await select(recv(t.c), recv(done))
    finally:
        t.stop()
    if i == 1:
        ctxerr(ctx)


async def gosched() -> None:
    """Yield the processor, letting other goroutines run (runtime.Gosched)."""
    require_m("gosched")
    await trap(GOSCHED)


class _ChanTimer(_timers.RTimer):
    """A Timer's or Ticker's runtime timer: it sends on ``c``.

    Its ``arg`` is a weak reference to itself, not the Timer: Timer -> timer ->
    Timer was a reference cycle per Timer (``after``, a select timeout, a sleep
    with a context), left to the cyclic GC. The timer is alive whenever it fires
    (runtimers holds it) or is asked about (checkdead reads it from a heap).
    """

    __slots__ = ("__weakref__", "c")

    def __init__(self, c: Chan[float], period: int = 0) -> None:
        super().__init__(_sendtime, None, period=period, wakes=_chanwaited)
        self.arg = weakref.ref(self)
        self.c = c


def _sendtime(ref: weakref.ref[_ChanTimer]) -> None:
    """Go's sendTime: a non-blocking send; a ticker drops ticks a slow reader misses.

    Sent under the channel lock only if no stop/reset came after this expiry
    (``t.seq`` unchanged), so once stop() or reset() returns no stale value
    can arrive (Go 1.23's synchronous timer channels).
    """
    t = ref()
    assert t is not None  # runtimers holds it
    c = t.c
    with held(c.lock):
        if t.firing != t.seq or c.closed:
            t.firing = -1
            return
        t.firing = -1
        _, gp = c.sendlocked(now())
    if gp is not None:
        proc.goready(gp)


def _cancel(tm: Timer | Ticker) -> bool:
    """Stop deliveries from expiries so far: True if one was pending or in flight."""
    t, c = tm._t, tm.c
    with held(c.lock):
        pending = t.firing == t.seq  # expired, send not yet done: cancel it
        t.seq += 1
        t.firing = -1
        if c.buf:
            c.buf.clear()
            pending = True
    return pending


def _chanwaited(ref: weakref.ref[_ChanTimer]) -> bool:
    t = ref()
    return t is not None and bool(t.c.recvq)


def resettimer(s: Sched, t: _timers.RTimer, ns: int) -> None:
    """Arm ``t`` to fire ``ns`` from now on this M's P, and make sure someone wakes for it."""
    t.when = proc.nanotime() + max(ns, 0)
    if runq.addtimerhere(s, t):
        mgr.wakenetpoller(s, t.when)


class Timer:
    """A single event: after ``seconds`` the time is sent on ``c`` (time.NewTimer)."""

    __slots__ = ("_s", "_t", "c")

    def __init__(self, seconds: float) -> None:
        ns = duration_ns(seconds, "Timer")
        self._s = proc.getsched("gosched: Timer")
        self.c: Chan[float] = Chan(1)
        self._t: _timers.RTimer = _ChanTimer(self.c)
        resettimer(self._s, self._t, ns)

    def stop(self) -> bool:
        """Stop the timer; True if this call prevented its value being received."""
        was = _timers.deltimer(self._t)
        return _cancel(self) or was

    def reset(self, seconds: float) -> bool:
        """Re-arm for ``seconds`` from now; returns what ``stop()`` would have."""
        ns = duration_ns(seconds, "Timer.reset")
        was = self.stop()
        resettimer(self._s, self._t, ns)
        return was


class Ticker:
    """Sends the time on ``c`` every ``seconds``, dropping ticks a slow reader misses."""

    __slots__ = ("_s", "_t", "c")

    def __init__(self, seconds: float) -> None:
        ns = duration_ns(seconds, "Ticker")
        if ns <= 0:
            raise ValueError("non-positive interval for NewTicker")
        self._s = proc.getsched("gosched: Ticker")
        self.c: Chan[float] = Chan(1)
        self._t = _ChanTimer(self.c, period=ns)
        resettimer(self._s, self._t, ns)

    def stop(self) -> None:
        """Turn the ticker off; no more ticks are sent (a pending one is dropped)."""
        _timers.deltimer(self._t)
        _cancel(self)

    def reset(self, seconds: float) -> None:
        """Stop, then tick every ``seconds`` from now."""
        ns = duration_ns(seconds, "Ticker.reset")
        if ns <= 0:
            raise ValueError("non-positive interval for Ticker.Reset")
        self.stop()
        self._t.period = ns
        resettimer(self._s, self._t, ns)


def after(seconds: float) -> Chan[float]:
    """A channel that receives the time after ``seconds`` (time.After)."""
    return Timer(seconds).c


async def callfn(fn: Callable[[], Any]) -> None:
    """A goroutine body for a callback: ``fn()``, awaited if it returns an awaitable."""
    r = fn()
    if inspect.isawaitable(r):
        await r


def _gofunc(arg: tuple[Sched, Callable[[], Any]]) -> None:
    """Go's goFunc: the expiry starts the function in its own goroutine (on an M's loop)."""
    s, fn = arg
    proc.newproc(s, callfn(fn), None, getm(), fn=callable_name(fn))


class _FuncTimer(Timer):
    __slots__ = ()

    def __init__(self, seconds: float, fn: Callable[[], Any]) -> None:
        ns = duration_ns(seconds, "after_func")
        if not callable(fn):
            raise TypeError(f"after_func needs a function, not {type(fn).__name__}")
        self._s = proc.getsched("gosched: after_func")
        self.c = Chan(1)  # nothing is ever sent: Go's AfterFunc timer has a nil C
        self._t = _timers.RTimer(_gofunc, (self._s, fn))  # not self: no cycle (see _ChanTimer)
        resettimer(self._s, self._t, ns)

    def stop(self) -> bool:
        """Stop the timer; True if this call prevented the function from starting."""
        return _timers.deltimer(self._t)


def after_func(seconds: float, fn: Callable[[], Any] | Callable[[], Awaitable[Any]]) -> Timer:
    """Start ``fn()`` in its own goroutine after ``seconds`` (time.AfterFunc).

    ``fn`` is an ``async def`` function or a plain one, called without
    arguments. The returned Timer's ``stop()`` returns True if it kept ``fn``
    from starting, and ``reset(seconds)`` re-arms it; its ``c`` never receives
    (Go's nil C). Runs on the runtime's clock, so the fake clock applies.
    """
    return _FuncTimer(seconds, fn)
