"""Per-P timer heaps (Go's runtime/time.go: addtimer, deltimer, checkTimers).

Each P keeps a binary min-heap of ``(when, id, gen, timer)`` entries under
``p.timerslock``. A stopped or reset timer is not dug out of the heap: its
generation changes and the stale entry is dropped when it reaches the top (Go's
"zombie" timers). The owning M runs expired timers in findRunnable; thieves run
other Ps' timers on their last steal pass; the M blocked in netpoll sleeps until
the earliest ``timer0when`` of all Ps.

Timer callbacks run on an M, outside every timer lock, and must not block: they
ready a goroutine or do a non-blocking channel send.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

from . import speedups
from .runtime2 import P, Sched


def duration_ns(seconds: float, what: str) -> int:
    """Seconds as ns for a timer, checked where the caller passed them.

    Infinities clamp to Go's Duration range (an infinite wait, or one over at
    once); NaN is not a duration.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} takes a duration in seconds (int or float), not {type(seconds).__name__}")
    if math.isnan(seconds):
        raise ValueError(f"{what}: NaN is not a duration")
    if seconds >= 1e10:  # ~317 years: Go's maximum Duration is ~292 years
        return 1 << 62
    if seconds <= -1e10:  # Go's After(-1<<63) fires at once
        return -(1 << 62)
    return int(seconds * 1e9)


class RTimer:
    """A runtime timer: ``f(arg)`` runs at ``when`` (ns), then every ``period`` ns."""

    __slots__ = ("active", "arg", "f", "firing", "gen", "period", "pp", "seq", "wakes", "when")

    def __init__(
        self,
        f: Callable[[Any], None],
        arg: Any,
        when: int = 0,
        period: int = 0,
        wakes: Callable[[Any], bool] | None = None,
    ) -> None:
        self.when = when
        self.period = period
        self.f = f
        self.arg = arg
        self.pp: P | None = None  # the P whose heap holds the live entry
        self.active = False
        self.gen = 0
        # checkdead asks wakes(arg): could firing this timer ready a goroutine?
        self.wakes = wakes
        # Go's t.seq: a channel timer's stop/reset bumps it (under the channel's
        # lock) so a send already on its way is dropped; ``firing`` is the seq
        # the last expiry captured, -1 once delivered or dropped.
        self.seq = 0
        self.firing = -1


def _push(p: P, t: RTimer) -> None:
    # p.timerslock held
    t.gen += 1
    t.pp = p
    t.active = True
    # id(t) breaks ties: an entry keeps its timer alive, so the id is unique.
    heapq.heappush(p.timers, (t.when, id(t), t.gen, t))
    p.timer0when = p.timers[0][0]


def addtimer(p: P, t: RTimer) -> None:
    """Arm ``t`` on ``p`` (Go's addtimer/doaddtimer). The caller wakes the poller."""
    with p.timerslock:
        _push(p, t)


def deltimer(t: RTimer) -> bool:
    """Disarm ``t``; True if it was armed (Go's deltimer / Timer.Stop result)."""
    while True:
        p = t.pp  # the P whose heap holds it, or held it last (see runtimers)
        if p is None:
            return False
        with p.timerslock:
            if t.pp is not p:
                continue  # moved by procresize meanwhile: retry on its new P
            was = t.active
            if was:
                p.timerzombies += 1  # its entry stays in the heap until it surfaces
            t.active = False
            t.pp = None
            t.gen += 1
            _cleantop(p)
            return was


def _cleantop(p: P) -> None:
    # p.timerslock held. Drop dead entries at the top; rebuild the heap when
    # more than a quarter of it is dead (Go's adjusttimers/cleantimers).
    h = p.timers
    while h:
        _, _, gen, t = h[0]
        if t.active and t.gen == gen and t.pp is p:
            break
        heapq.heappop(h)
        p.timerzombies -= 1
    if p.timerzombies * 4 > len(h) > 64:
        _rebuild(p)
        h = p.timers
    p.timer0when = h[0][0] if h else 0


def _rebuild(p: P) -> None:
    # p.timerslock held: the heap without its dead entries (_cleantop, and the C one).
    live = [e for e in p.timers if e[3].active and e[3].gen == e[2] and e[3].pp is p]
    heapq.heapify(live)
    p.timers = live
    p.timerzombies = 0


def runtimers(p: P, now: int, blocking: bool = True) -> None:
    """Run every timer of ``p`` due at ``now`` (Go's checkTimers).

    The due timers leave the heap in one hold of its lock, in deadline order
    (Go takes the lock per timer: 50k timers spent a lock round trip and a
    second top-of-heap clean-up on each), and their callbacks then run in that
    order. With ``blocking=False`` (a thief looking at another P) give up at
    once if the heap's lock is busy.
    """
    lock = p.timerslock
    if not lock.acquire(blocking):
        return
    try:
        due = _takedue(p, now)
    finally:
        lock.release()
    for t in due:
        t.f(t.arg)


def _takedue(p: P, now: int) -> list[RTimer]:
    # p.timerslock held
    due: list[RTimer] = []
    while True:
        _cleantop(p)
        h = p.timers
        if not h or h[0][0] > now:
            return due
        t = heapq.heappop(h)[3]
        if t.period:
            t.when += t.period
            if t.when <= now:  # fell behind: skip the missed ticks (Go's ticker drops them)
                t.when = now + t.period - (now - t.when) % t.period
            _push(p, t)
        else:
            # t.pp stays: a racing deltimer must still take this P's lock,
            # and so see ``firing`` (set under it) and cancel the send.
            t.active = False
        t.firing = t.seq
        due.append(t)


def timesleepuntil(sched: Sched) -> int:
    """Earliest ``when`` over all Ps, 0 if none (Go's timeSleepUntil)."""
    nxt = 0
    for p in sched.allp:
        w = p.timer0when
        if w and (nxt == 0 or w < nxt):
            nxt = w
    return nxt


# The longest checkdead goes without walking the goroutines (timerwakes): Go's forcegcperiod.
STAMP_PERIOD = 120 * 1_000_000_000


def timerwakes(sched: Sched, now: int) -> bool:
    """On the real clock, a timer will ready a goroutine and checkdead's walk is not due:
    its verdict is "go on", whatever the walk would find (sched.lock held).

    Every goroutine asleep on a timer or a channel, the last M idles at each sleep:
    walking 10,000 goroutines then costs ~10 ms of CPU per sleep. The walk decides
    only the fake clock's jump, testing.wait()'s wake-up and the no-goroutine case,
    so it is skipped outside those; but not for longer than STAMP_PERIOD, since it
    also stamps ``waitsince`` (as Go's GC, forced that often, does). proc.idle asks
    this before it calls checkdead at all (Go's checkdead returns at any timer).
    """
    b = sched.bubble  # testing.wait()'s caller wakes once the walk finds all blocked: walk
    return bool(
        not sched.faketime
        and (b is None or b.waiter is None)  # set before the waiter parked, so before this M idled
        and sched.allgs
        and sched.lastwalk  # 0: never walked (so the first idle with all parked does)
        and now - sched.lastwalk < STAMP_PERIOD
        and ((topwakes is not None and topwakes(sched.allp)) or anywaker(sched, first=True))
    )


def anywaker(sched: Sched, first: bool = False) -> int:
    """Earliest timer whose firing could ready a goroutine, 0 if none (``first``: any such timer's).

    Go's checkdead gives up on a deadlock report as soon as any timer is pending,
    so an unrelated one-hour timer hides a deadlock for an hour. Here a timer
    counts only if it would wake someone: a sleeping goroutine, a callback, or a
    channel that has a receiver waiting on it.
    """
    best = 0
    for p in list(sched.allp):
        with p.timerslock:
            if first and p.timers and _wakes(p, p.timers[0]):
                return int(p.timers[0][0])  # the common case: no copy of the heap
            entries = list(p.timers)
        for e in entries:
            if _wakes(p, e):
                if first:
                    return int(e[0])
                if best == 0 or e[0] < best:
                    best = e[0]
    return best


def _wakes(p: P, entry: tuple[Any, ...]) -> bool:
    """A heap entry of p's is a live timer whose firing could ready a goroutine (anywaker)."""
    _, _, gen, t = entry
    return bool(t.active and t.gen == gen and t.pp is p and (t.wakes is None or t.wakes(t.arg)))


def movetimers(src: P, dst: P) -> None:
    """Move every live timer of a P being destroyed to ``dst`` (procresize)."""
    with src.timerslock:
        live = [e[3] for e in src.timers if e[3].active and e[3].gen == e[2] and e[3].pp is src]
        src.timers = []
        src.timerzombies = 0
        src.timer0when = 0
        for t in live:
            t.pp = None
    with dst.timerslock:
        for t in live:
            _push(dst, t)


# The C accelerator's addtimer and runtimers (_speedups_timers.h), where it is built: the same
# steps as the two above, in one call; an idle program takes both at every sleep. The
# definitions stay reachable (tests run both).
pyaddtimer, pyruntimers = addtimer, runtimers
# And anywaker(first=True)'s usual answer, a sleeper's timer on top of a heap (timerwakes).
topwakes: Callable[[list[P]], bool] | None = None
if speedups.c is not None:
    speedups.c.setup_timers(RTimer, P, RTimer(_rebuild, None), _rebuild)  # the template: its f is replaced
    addtimer = speedups.c.addtimer
    runtimers = speedups.c.runtimers
    topwakes = speedups.c.topwakes
