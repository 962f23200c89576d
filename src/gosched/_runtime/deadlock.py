"""checkdead and goroutine dumps (Go's proc.go checkdead, traceback.go).

Go's checkdead counts running threads, so anything that parks a thread
outside the scheduler silences it (golang/go#12734, #21576), and any pending
timer, however unrelated, postpones it. gosched instead asks, when the last
active M is about to go idle, whether anything could still wake a goroutine:

* a goroutine inside ``gosched.syscall`` (it will come back);
* a goroutine parked on a descriptor in the netpoller;
* a timer whose firing would ready someone: a sleep, a callback, or a
  Timer/Ticker channel that a goroutine is receiving from;
* a channel, mutex or wait group that a plain thread has used through the
  blocking API (``send_blocking`` ...): such an object may be signalled from
  outside the runtime at any time, so goroutines blocked on it are not
  counted as deadlocked;
* a plain thread blocked in the blocking API right now.

If nothing could, the program is deadlocked and ``run()`` raises ``Deadlock``.
"""

from __future__ import annotations

import os
import sys
import time
import types
from typing import Any

from . import proc
from . import timers as _timers
from .runtime2 import G, Grunnable, Grunning, Gsyscall, Gwaiting, Sched

OK = 0
DEAD = 1
ADVANCED = 2

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


class Deadlock(RuntimeError):
    """No goroutine can ever run again. The message starts with Go's line and holds the dump."""


def _foreign(obj: Any) -> bool:
    if isinstance(obj, list):
        return any(_foreign(o) for o in obj)
    return bool(getattr(obj, "foreign", False))


def checkdead(sched: Sched) -> int:
    """Called by the last active M before it idles. OK, DEAD or ADVANCED (fake clock)."""
    if sched.dead:
        return DEAD
    gs = list(sched.allgs.copy().values())
    for g in gs:
        if g.status in (Grunnable, Grunning, Gsyscall):
            return OK  # work exists (or is coming back from a syscall)
    if sched.nsyscall or sched.nforeign or sched.runq or any(p.runq or p.runnext for p in sched.allp):
        return OK
    poller = sched.poller
    if poller is not None and poller.nwaiters:
        return OK
    if not gs and not sched.main_goexited:
        return OK
    if any(g.status == Gwaiting and _foreign(g.blockedon) for g in gs):
        return OK
    when = _timers.anywaker(sched)
    if when:
        if not sched.faketime:
            return OK
        with sched.lock:
            if when > sched.faketime:
                sched.faketime = when
        return ADVANCED
    if not gs:
        msg = "no goroutines (main called runtime.Goexit) - deadlock!"
    else:
        msg = "all goroutines are asleep - deadlock!"
    with sched.lock:
        # Re-check under the lock: a plain thread may have queued work meanwhile.
        if sched.dead:
            return DEAD
        if sched.runq or proc.mcount(sched) - sched.nmidle - sched.nmsys - 1 > 0:
            return OK
        sched.deadlock = msg if not gs else msg + "\n\n" + dump(sched, gs)
        proc.finish_locked(sched)
    return DEAD


# --- dumps ---------------------------------------------------------------------------


def _coro_frames(coro: Any) -> list[types.FrameType]:
    """Frames of a suspended coroutine chain, outermost first (cr_frame → cr_await)."""
    frames = []
    c = coro
    while c is not None:
        f = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None) or getattr(c, "ag_frame", None)
        if f is not None:
            frames.append(f)
        c = getattr(c, "cr_await", None) or getattr(c, "gi_yieldfrom", None) or getattr(c, "ag_await", None)
    return frames


def _running_frames(gp: G) -> list[types.FrameType]:
    m = gp.m
    if m is None:
        return []
    f = sys._current_frames().get(m.ident)
    frames = []
    while f is not None:
        if f.f_code is proc.schedule.__code__:
            break
        frames.append(f)
        f = f.f_back
    frames.reverse()
    return frames


def _funcname(f: types.FrameType) -> str:
    code = f.f_code
    mod = f.f_globals.get("__name__", "?")
    return f"{mod}.{getattr(code, 'co_qualname', code.co_name)}"


def goroutine_header(gp: G, now_ns: int | None = None) -> str:
    if gp.status == Gwaiting:
        status = gp.waitreason or "waiting"
    else:
        from .trace import gstatus

        status = gstatus(gp.status)
    extra = ""
    if gp.status in (Gwaiting, Gsyscall) and gp.waitsince:
        now = now_ns if now_ns is not None else time.monotonic_ns()
        mins = (now - gp.waitsince) // 60_000_000_000
        if mins >= 1:
            extra = f", {mins} minutes"
    return f"goroutine {gp.goid} [{status}{extra}]:"


def goroutine_stack(gp: G, system: bool = False) -> list[str]:
    """Go's frame lines for one goroutine, innermost first."""
    if gp.status == Grunning or (gp.status == Gsyscall and gp.m is not None):
        frames = _running_frames(gp)
    else:
        frames = _coro_frames(gp.coro) if gp.coro is not None else []
    lines = []
    for f in reversed(frames):
        fn = f.f_code.co_filename
        if not system and os.path.abspath(fn).startswith(_RUNTIME_DIR):
            continue
        lines.append(f"{_funcname(f)}(...)")
        lines.append(f"\t{fn}:{f.f_lineno}")
    if gp.gopc is not None and not gp.is_main:
        file, line, func = gp.gopc
        lines.append(f"created by {func} in goroutine {gp.parentid}")
        lines.append(f"\t{file}:{line}")
    return lines


def dump(sched: Sched, gs: list[G] | None = None) -> str:
    """Every goroutine in Go's traceback format, blank-line separated."""
    if gs is None:
        gs = list(sched.allgs.copy().values())
    gs = sorted(gs, key=lambda g: g.goid)
    blocks = []
    for gp in gs:
        blocks.append("\n".join([goroutine_header(gp), *goroutine_stack(gp)]))
    return "\n\n".join(blocks) + ("\n" if blocks else "")
