"""Goroutine leaks and partial deadlocks (Go 1.26's goroutine-leak profile, goleak).

A goroutine parked on a channel, select, Mutex, WaitGroup, Cond or Semaphore can
only be woken by code that can still reach that object. Go 1.26's GC finds the
ones nothing can (``findGoroutineLeaks``, mgc.go): it marks from every root
except the stacks of blocked goroutines, then adds the stack of each blocked
goroutine whose wait objects got marked and marks again, until nothing changes;
the goroutines left are leaked, and print as ``[chan receive (leaked)]``.

gosched does the same over Python's object graph (``gc.get_referents``):

* roots: the coroutines of goroutines that are running, runnable, in a syscall,
  sleeping or waiting in the netpoller; the runtime helpers; every module's
  globals; the frames of threads that are not Ms; the entries of every P's timer
  heap (a timer's callback may send on a channel or start a goroutine);
* the runtime's own structures (G, M, P, Sched) are not traversed: a channel's
  wait queue, ``allgs`` and the run queues reach every goroutine, and reaching a
  goroutine that way does not make it live (a G is reached only as a root);
* a goroutine blocked on a *foreign* object (used by a live plain thread, marked
  ``obj.foreign``, or watched by ``gosched.signal``) is never a candidate, as in
  checkdead.

The world is not stopped (Python cannot): a goroutine whose status or wait
object changed during the walk is dropped from the result, so a report names
only goroutines seen parked on the same object before and after.

A partial deadlock is a cycle in the lock wait-for graph (a goroutine waits for
a Mutex another one holds, which waits for one the first holds) while the rest of
the program runs; ``deadlocks`` finds those with checkdead's cycle search.
"""

from __future__ import annotations

import gc
import sys
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import synctest, sysmon, traceback, waitfor
from .goroutine import Goroutine
from .nogc import nogc
from .runtime2 import G, Gdead, Gwaiting, M, P, Sched, WaitReason

# Durable waits that still end on their own or are the runtime's: a sleep's timer
# is a root, the forcegc helper and synctest.Wait are woken by the runtime.
_NOT_LEAKS = frozenset({WaitReason.SLEEP, WaitReason.FORCE_GC_IDLE, WaitReason.SYNCTEST_WAIT})
_STOP = frozenset({G, M, P, Sched})


class LeakWarning(RuntimeWarning):
    """Goroutines blocked forever: leaked when main returned (``run(main, leak_check=True)``),
    or a partial deadlock sysmon found (``gosched.debug.set_deadlock_check``)."""


@dataclass(frozen=True)
class Leak:
    """A goroutine left behind: blocked forever (``leaked``) or still able to run.

    ``dump`` is its entry in Go's traceback format; a leaked goroutine's header
    says so as Go 1.26's does: ``goroutine 7 [chan receive (leaked)]:``.
    """

    goroutine: Goroutine
    leaked: bool
    dump: str


@dataclass(frozen=True)
class WaitCycle:
    """Goroutines each waiting for a lock the next one holds (a partial deadlock)."""

    goroutines: tuple[int, ...]
    description: str  # "goroutine 5 holds mu1 (*Mutex 0x…) and waits for mu2 (*Mutex 0x…); ..."
    dump: str


def candidate(gp: G) -> bool:
    """Parked on a runtime object only another goroutine could signal (checkdead's durable)."""
    return synctest.durable(gp) and gp.waitreason not in _NOT_LEAKS and type(gp.pc) is not str


def waitobjects(gp: G) -> list[Any]:
    """What ``gp`` waits on: a select's channels (nil ones left out), else its one object."""
    obj = gp.blockedon
    if obj is None:
        return []
    if isinstance(obj, list):
        return [c for c in obj if c is not None]
    return [obj]


class _Marker:
    """The mark phase: every object reachable from what ``mark`` is given, a level at a time."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.keep: list[Any] = []  # holds what is marked alive, so its id is not reused meanwhile

    def mark(self, roots: Iterable[Any]) -> None:
        frontier = self._new(roots)
        while frontier:
            # One get_referents call per level: the walk's cost is in C, not in a loop here.
            frontier = self._new(gc.get_referents(*frontier))

    def _new(self, objs: Iterable[Any]) -> list[Any]:
        seen, out = self.seen, []
        for o in objs:
            if isinstance(o, ModuleType):
                # A module's globals, not the module: an extension's module state can be
                # unwalkable (3.12.1's _asyncio visits a future-iterator freelist that a
                # second traversal finds looping: get_referents ran out of memory).
                o = o.__dict__
            i = id(o)
            if i not in seen and type(o) not in _STOP:
                seen.add(i)
                out.append(o)
        self.keep.extend(out)
        return out

    def marked(self, obj: Any) -> bool:
        return id(obj) in self.seen


def _groots(gp: G) -> list[Any]:
    """What a live goroutine holds: its coroutine, the value it is sending, and
    its frames' locals, read from the frames because a coroutine that is running
    does not show its locals to ``gc.get_referents`` (CPython traverses the value
    stack of suspended frames only).

    Both the thread's frames and the coroutine chain's are read: the goroutine
    moves while the walk runs, and an M caught between setting ``Grunning`` and
    resuming the coroutine shows no user frame on its thread, while the mark that
    follows finds the coroutine executing and its locals hidden (a channel only
    the spinner held was reported leaked, 2 runs in 100). A frame's locals are
    current whether it runs or not, so reading the chain too closes that window.
    """
    out: list[Any] = [gp.coro, gp.elem, gp.param]
    with nogc():  # making frame objects and their f_locals dicts: nothing may run meanwhile
        fs = traceback.frames(gp)
        ids = {id(f) for f in fs}
        fs += [f for f in traceback.coro_frames(gp.coro) if id(f) not in ids] if gp.coro is not None else []
        for f in fs:
            if traceback.userframe(f):  # not the runtime's (this walk's own among them)
                out.extend(f.f_locals.values())
    return out


def _threadroots(sched: Sched) -> list[Any]:
    """Locals and globals of the frames of threads that are not Ms (user code only)."""
    ms = {m.ident for m in list(sched.allm)}
    out: list[Any] = []
    with nogc():  # as in _groots
        for ident in list(sys._current_frames()):
            if ident in ms:
                continue
            for f in traceback.thread_frames(ident, lambda f: False):
                if traceback.userframe(f):  # not the runtime's frames (this walk's own among them)
                    out.extend(f.f_locals.values())
                    out.append(f.f_globals)
    return out


def _timerroots(sched: Sched) -> list[Any]:
    out: list[Any] = []
    for p in list(sched.allp):
        with p.timerslock:
            out.extend(p.timers)
    return out


def _roots(sched: Sched, live: list[G]) -> list[Any]:
    roots: list[Any] = [m for m in list(sys.modules.values()) if m is not None]
    for gp in live:
        roots.extend(_groots(gp))
    return roots + _threadroots(sched) + _timerroots(sched)


def analyse(sched: Sched) -> tuple[list[G], list[G]]:
    """``(leaked, other)``: the goroutines blocked forever, and every other live one.

    Go's findGoroutineLeaks: mark from the roots, revive each candidate whose wait
    objects were reached (its stack becomes a root), repeat to a fixpoint.
    """
    gs = sorted(sched.allgs.copy().values(), key=lambda g: g.goid)
    snap = {gp: (gp.status, gp.blockedon) for gp in gs}
    pending = {gp for gp in gs if candidate(gp)}
    mk = _Marker()
    mk.mark(_roots(sched, [gp for gp in gs if gp not in pending and gp.status != Gdead]))
    while True:
        revived = [gp for gp in pending if any(mk.marked(o) for o in waitobjects(gp))]
        if not revived:
            break
        pending.difference_update(revived)
        mk.mark(obj for gp in revived for obj in _groots(gp))
    # Go reports main blocked in select{} as not leaked (it is how a Go server waits).
    leaked = {
        gp
        for gp in pending
        if (gp.status, gp.blockedon) == snap[gp]
        and gp.status == Gwaiting
        and not (gp is sched.main_g and gp.waitreason == WaitReason.SELECT_NO_CASES)
    }
    return [gp for gp in gs if gp in leaked], [gp for gp in gs if gp not in leaked and gp.status != Gdead]


def entry(gp: G, leaked: bool) -> Leak:
    """The goroutine's dump entry, marked ``(leaked)`` after its wait reason as Go 1.26 does."""
    text = _entrytext(gp)
    if leaked:
        text = text.replace(f" [{gp.waitreason}", f" [{gp.waitreason} (leaked)", 1)
    return Leak(Goroutine(gp), leaked, text)


def _entrytext(gp: G) -> str:
    level = traceback.traceback_level()
    return "\n".join([traceback.goroutine_header(gp), *traceback.goroutine_stack(gp, level)])


def leaked(sched: Sched) -> list[Leak]:
    """The leaked goroutines of ``sched``, by goroutine id, each with its dump entry."""
    return [entry(gp, True) for gp in analyse(sched)[0]]


def leftovers(sched: Sched) -> list[Leak]:
    """Every goroutine but the runtime's helpers: the leaked ones first, then the rest."""
    bad, other = analyse(sched)
    rest = [gp for gp in other if type(gp.pc) is not str and gp is not sched.main_g]
    return [entry(gp, True) for gp in bad] + [entry(gp, False) for gp in rest]


def report(entries: list[Leak]) -> str:
    """The text of a leak report: a count in Go-like words, then the dump entries."""
    n = len(entries)
    head = (
        f"gosched: {n} goroutine{'s' if n != 1 else ''} leaked "
        "(blocked forever on objects no live goroutine or thread can reach)"
    )
    return head + ":\n\n" + "\n\n".join(e.dump for e in entries)


def warn_leaks(sched: Sched) -> None:
    """``run(main, leak_check=True)``: a LeakWarning naming every leaked goroutine, if any."""
    found = leaked(sched)
    if found:
        warnings.warn(LeakWarning(report(found)), stacklevel=5)  # at run()'s caller


def deadlocks(sched: Sched) -> list[WaitCycle]:
    """Cycles of goroutines each waiting for a Mutex or RWMutex another in the cycle holds."""
    gs = sorted(sched.allgs.copy().values(), key=lambda g: g.goid)
    alive = {gp.goid: gp for gp in gs}
    out = []
    for cyc, text in waitfor.lockcycles(gs):
        members = [alive[g] for g in cyc]
        out.append(WaitCycle(tuple(cyc), text, "\n\n".join(_entrytext(gp) for gp in members)))
    return out


# Cycles already reported, per run: sysmon warns about each once.
_reported: weakref.WeakKeyDictionary[Sched, set[frozenset[int]]] = weakref.WeakKeyDictionary()


def sysmoncheck(sched: Sched) -> None:
    """sysmon's periodic check: a LeakWarning for each new partial deadlock."""
    seen = _reported.setdefault(sched, set())
    for cyc in deadlocks(sched):
        key = frozenset(cyc.goroutines)
        if key not in seen:
            seen.add(key)
            text = f"gosched: partial deadlock: {cyc.description}\n\n{cyc.dump}"
            warnings.warn(LeakWarning(text), stacklevel=1)


def set_period(seconds: float) -> float:
    """Run ``sysmoncheck`` every ``seconds`` (0: never); return the old period."""
    old = sysmon.set_deadlock_period(int(seconds * 1e9)) / 1e9
    return old


sysmon.deadlockcheck = sysmoncheck
