"""checkdead: is the program deadlocked? (Go's checkdead, proc.go)

Go's ``checkdead`` runs when the count of running Ms reaches zero and
decides from thread counts. That is its weak spot: anything that parks a thread
outside the scheduler silences it (golang/go#12734: importing ``net``; #21576:
``os/signal``), and any pending timer, however unrelated, postpones the report.
gosched asks instead, when the last active M is about to idle, whether anything
could still wake a goroutine:

* a goroutine that is runnable, running (stuck in user code on an M that lost
  its P) or inside ``gosched.syscall``: it will come back;
* a goroutine parked on a descriptor in the netpoller (``IO wait``);
* a plain thread blocked right now in a blocking API (``sched.nforeign``);
* a goroutine blocked on a *foreign* object (synctest.py, "the foreign rule"):
  a thread outside the runtime, or a signal, may still signal it;
* a timer whose firing would ready a goroutine (``timers.anywaker``): a sleep,
  or a Timer/Ticker channel that some goroutine is receiving from. An unrelated
  timer does not count;
* on the real clock, a live thread outside the runtime that may call into it where
  anyone may (``outsiders``: an asyncio loop's ``call_soon_threadsafe``): as Go's
  checkdead gives up when C code may call in (a c-shared library), no verdict while
  one lives; checkdead looks again after 10 ms, doubling to 1 s (``_recheck``), and
  reports once they are gone. Never in silence: a run that stays asleep but for
  them for ``STALL_NS`` (10 s) gets one ``DeadlockWarning`` naming the threads,
  with the goroutine dump, and another each time it goes back to sleep after a
  goroutine ran.

If none holds, the program is deadlocked and ``run()`` raises ``Deadlock``.

Under ``clock="fake"`` the same decision drives the virtual clock, like Go's
checkdead faketime branch and testing/synctest: when every goroutine is
*durably* blocked, the clock jumps straight to the next timer (synctest.py).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable

from . import mgr, panic, proc, runq
from . import timers as _timers
from .dump import dump
from .proc import ADVANCED, DEAD, JUMPED, OK, RECHECK  # checkdead's verdicts, for proc.idle
from .runtime2 import G, Gwaiting, Sched
from .synctest import advance, durable, endmain, firetimers, wakewaiter
from .traceback import frames, traceback_level

# Go's words (proc.go checkdead; runtime/synctest.go).
ASLEEP = "all goroutines are asleep - deadlock!"
GOEXIT = "no goroutines (main called runtime.Goexit) - deadlock!"
BUBBLE_BLOCKED = "deadlock: all goroutines in bubble are blocked"
BUBBLE_MAIN_EXITED = "deadlock: main bubble goroutine has exited but blocked goroutines remain"

Verdict = tuple[int, str | None, list[G]]  # proc's OK...RECHECK, Go's line, the goroutines to dump
_GOON: Verdict = (OK, None, [])


def _noextra(sched: Sched) -> str:
    return ""


# A hook for what the goroutine dump cannot show (gosched._aio: an asyncio loop left with work
# queued that nothing runs, which only a runtime bug leaves at a deadlock): lines for the report.
extrareport: Callable[[Sched], str] = _noextra


def _nooutsiders(sched: Sched) -> list[threading.Thread]:
    return []


# A hook for runs that a thread outside the runtime may call into at any time, with no API that
# says so in advance (gosched._aio: any thread may call an asyncio loop's call_soon_threadsafe,
# as aiosqlite's connection thread and a test's server thread do): the live threads that could.
outsiders: Callable[[Sched], list[threading.Thread]] = _nooutsiders

# Threads of gosched's own that never wake a goroutine (the pytest plugin's watchdog): not outsiders.
quiet: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

RECHECK_MIN = 10_000_000  # the first look again at a run that outside threads keep alive (ns)
RECHECK_MAX = 1_000_000_000  # and the longest wait between two, as the wait doubles
STALL_NS = 10_000_000_000  # how long such a run stays asleep before checkdead warns (DeadlockWarning)


class DeadlockWarning(RuntimeWarning):
    """Every goroutine has been asleep for a while (``checkdead.STALL_NS``, 10 s) and only
    threads outside the runtime could still wake one (an asyncio loop's ``call_soon_threadsafe``).

    It is a deadlock unless one of those threads calls in; checkdead cannot know which,
    so it warns (once per stall, with the goroutine dump) instead of ending the program.
    """


def checkdead(sched: Sched) -> int:
    """Called by the last active M before it idles (Go's checkdead). OK, DEAD, ADVANCED, JUMPED or RECHECK.

    As in Go, the verdict is taken under ``sched.lock`` with no other M active:
    every M becomes active under that lock (startm, a poller returning), and
    only an active M runs goroutines or pops a timer off a heap, so what this
    reads cannot change underneath it (plain threads can only add work: ``goready``
    marks a G runnable before it queues it). A verdict from a racy read could
    see a sleeping goroutine whose timer another M had just popped but not yet
    fired. Go throws on a runnable goroutine; here a plain thread may have just
    readied it, so it only means "work is on its way".
    """
    with sched.lock:
        if sched.dead:
            return DEAD
        if mgr.activems(sched) > 0:
            return OK  # an M woke since idle() counted: it checks again when it idles
        act, msg, gs = _verdict(sched)
        if msg is None:
            return act
        if act == DEAD:
            # Nothing can run once dead is set, so the dump below shows the state
            # the verdict saw; run() waits on done until the report is published.
            sched.dead = True
    if act != DEAD:
        _warnstall(sched, msg, gs)
        return act
    _report(sched, msg, gs)
    return DEAD


def _report(sched: Sched, msg: str, gs: list[G]) -> None:
    """Publish Go's line and the dump for run() to raise as Deadlock."""
    text = msg
    try:
        if gs and traceback_level() > 0:
            text = msg + "\n\n" + dump(sched, gs)
        extra = extrareport(sched)
        if extra:
            text += "\n" + extra
    finally:
        with sched.lock:
            sched.deadlock = text  # published even if the dump failed: run() must not hang
            panic.wakerun_locked(sched)


def _warnstall(sched: Sched, msg: str, gs: list[G]) -> None:
    """A DeadlockWarning: the run sleeps but for outside threads (the dump is of a live run:
    one of them may call in meanwhile, as a SIGQUIT dump's). A filter that makes it an
    error ends the program with it, as an uncaught exception in a goroutine would."""
    text = msg + "\n\n" + dump(sched, gs) if gs and traceback_level() > 0 else msg
    try:
        warnings.warn_explicit(DeadlockWarning(text), DeadlockWarning, *_where(gs), module="gosched")
    except Warning as e:
        panic.fatal(sched, e)


def _where(gs: list[G]) -> tuple[str, int]:
    """The line the warning names: where the first goroutine waits in the program's own code."""
    for gp in sorted(gs, key=lambda g: g.goid):
        for f in reversed(frames(gp)):
            if not str(f.f_globals.get("__name__", "")).startswith(_NOTUSER):
                return f.f_code.co_filename, f.f_lineno or 0
    return "<gosched>", 0


_NOTUSER = ("gosched", "asyncio")


def _stalled(threads: list[threading.Thread], ns: int) -> str:
    names = ", ".join(repr(t.name) for t in threads)
    return (
        f"gosched: all goroutines have been asleep for {ns / 1e9:.0f} s; only threads outside the runtime "
        f"can still wake one, through an asyncio loop's call_soon_threadsafe: {names}. Unless one of them "
        "will, this is a deadlock. (A thread started with asyncio.to_thread or run_in_executor is known "
        "to complete a future: it never leaves checkdead in doubt.)"
    )


def _verdict(sched: Sched) -> Verdict:
    """checkdead's decision (sched.lock held, no M active), in the order Go's takes it."""
    if _wakeable(sched):
        return _GOON
    now = proc.nanotime()
    if _timers.timerwakes(sched, now):
        return _GOON
    sched.lastwalk = now
    gs = list(sched.allgs.copy().values())
    if not _allblocked(gs, now):
        return _GOON  # running, or blocked on something foreign or not durable: time stops
    if wakewaiter(sched):
        return ADVANCED, None, []  # testing.wait()'s caller runs first
    if not gs:
        return _nogoroutines(sched)
    act = _timerverdict(sched)
    if act is not None:
        return act, None, []
    # (Not under the fake clock, which took futures as durable: it jumped.)
    if not sched.faketime and (threads := outsiders(sched)):
        quiet = _recheck(sched, now)
        if quiet < STALL_NS or sched.stallwarned:
            return RECHECK, None, []
        sched.stallwarned = True
        return RECHECK, _stalled(threads, quiet), gs
    if sched.faketime:
        return DEAD, BUBBLE_MAIN_EXITED if sched.main_goexited else BUBBLE_BLOCKED, gs
    return DEAD, ASLEEP, gs


def _wakeable(sched: Sched) -> bool:
    """The O(1) answers first: IO, a syscall, a thread outside the runtime or queued work.

    A server with 10,000 idle connections must not scan them every time its
    last M goes idle. A loop, not ``any()`` over a generator: an idle program runs
    this before every sleep, and idle CPU is what it costs (cold, after a long sleep).
    """
    if sched.nsyscall or sched.nforeign or sched.runq:
        return True
    for p in sched.allp:
        if p.runq or p.runnext is not None:
            return True
    poller = sched.poller
    return poller is not None and len(poller.waiting) > 0


def _allblocked(gs: list[G], now: int) -> bool:
    """Every goroutine is Gwaiting, durably. Stamps waitsince as Go's GC does when it first sees one."""
    for gp in gs:
        if gp.status != Gwaiting:
            return False  # runnable, running or in a syscall: it will come back
        if not gp.waitsince:
            gp.waitsince = now
    return all(durable(gp) for gp in gs)


def _recheck(sched: Sched, now: int) -> int:
    """Arm a timer that brings an M back to checkdead (sched.lock held, no M active); how long
    the run has slept but for outside threads, in ns.

    While outside threads live, each look finds the same and waits twice as long, from
    RECHECK_MIN up to RECHECK_MAX; a goroutine run since the last look (the Ps' schedticks
    moved: an outsider called in) starts over from RECHECK_MIN, and a new stall begins.
    Nobody is woken for it (wakenetpoller may take sched.lock): proc.idle sees the timer
    as it idles again.
    """
    tick = sum(p.schedtick for p in sched.allp)
    if tick != sched.rechecktick or not sched.recheckns:
        sched.recheckns = RECHECK_MIN
        sched.stallsince, sched.stallwarned = now, False
    else:
        sched.recheckns = min(2 * sched.recheckns, RECHECK_MAX)
    sched.rechecktick = tick
    runq.addtimerhere(sched, _timers.RTimer(_looked, None, now + sched.recheckns))
    return now - sched.stallsince


def _looked(_: None) -> None:
    """The recheck timer's callback: its firing is the point (the M idles again after it)."""


def _nogoroutines(sched: Sched) -> Verdict:
    """No goroutine left: main returned under the fake clock, has not started, or called Goexit."""
    if endmain(sched):
        return DEAD, None, []
    if not sched.main_goexited:
        return _GOON  # main has not started yet
    return DEAD, GOEXIT, []


def _timerverdict(sched: Sched) -> int | None:
    """A timer that would ready a goroutine: wait for it (OK), or jump the fake clock (JUMPED)."""
    when = _timers.anywaker(sched)
    if not when:
        return None
    if not sched.faketime:
        return OK  # sleep until it fires
    if sched.main_goexited:
        return None  # synctest: time stops once the root has exited
    advance(sched, when)
    return JUMPED


# idle() calls these through proc's hooks: proc is below this module.
proc.checkdead = checkdead
proc.firetimers = firetimers
