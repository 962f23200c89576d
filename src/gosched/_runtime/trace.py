"""GOSCHEDDEBUG settings and Go's ``SCHED`` trace lines (Go's schedtrace).

``GOSCHEDDEBUG`` uses GODEBUG's syntax: ``schedtrace=1000,scheddetail=1,gctrace=1``.
It is read when ``gosched.run`` starts; ``gosched.debug.set_debug()`` changes it.
sysmon prints the lines (never deep-sleeping while schedtrace is on), in the
format of Go 1.25+: ``nil`` for a missing M/P/G, ``[ ... ]`` local run queues
(runnext excluded) and ``schedticks=[ ... ]``. ``threads`` is mcount(), sysmon
included; the G lines list user goroutines (system ones are not in allgs).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from .runtime2 import GSTATUS_STRINGS, Gwaiting, Sched

ENV = "GOSCHEDDEBUG"


@dataclass
class Settings:
    schedtrace: int = 0  # ms between SCHED lines; 0: off
    scheddetail: int = 0  # 1: add the P, M and G lines
    gctrace: int = 0  # 1: one line per garbage collection
    out: TextIO | None = None  # where lines go (default: sys.stderr at print time)


settings = Settings()


def parse(value: str) -> Settings:
    """Parse ``k=v,k=v``; unknown keys are ignored, as GODEBUG does."""
    s = Settings()
    for item in value.split(","):
        k, sep, v = item.strip().partition("=")
        if not sep or k not in ("schedtrace", "scheddetail", "gctrace"):
            continue
        try:
            setattr(s, k, int(v))
        except ValueError:
            continue
    return s


def format_settings(s: Settings) -> str:
    """The GOSCHEDDEBUG string for ``s`` (non-zero keys only)."""
    return ",".join(f"{k}={v}" for k in ("schedtrace", "scheddetail", "gctrace") if (v := getattr(s, k)))


overridden = False  # gosched.debug.set_debug() was called: it wins over the environment


def setdebug(value: str) -> str:
    """Replace the settings with ``value``'s, overriding GOSCHEDDEBUG from now on
    (gosched.debug.set_debug); return the old ones as a string."""
    global settings, overridden
    old = format_settings(settings)
    new = parse(value)
    new.out = settings.out
    settings = new
    overridden = True
    return old


def load_env() -> None:
    """Read GOSCHEDDEBUG (at each run()), unless set_debug() has overridden it."""
    global settings
    if overridden:
        return
    new = parse(os.environ.get(ENV, ""))
    new.out = settings.out
    settings = new


_start = 0


def reset_clock() -> None:
    """A new run(): its first SCHED line is ``0ms`` again (Go: sched.starttime)."""
    global _start
    _start = 0


def _nil(x: object) -> str:
    return "nil" if x is None else str(x)


def schedtrace(sched: Sched, detail: bool) -> None:
    """Print one ``SCHED`` line (and with ``detail`` the P, M and G lines)."""
    global _start
    now = time.monotonic_ns()
    if _start == 0:
        _start = now
    out = settings.out or sys.stderr
    allp = list(sched.allp)
    threads = sched.mnext - sched.nmfreed
    head = (
        f"SCHED {(now - _start) // 1_000_000}ms: gomaxprocs={sched.gomaxprocs} "
        f"idleprocs={sched.npidle} threads={threads} spinningthreads={sched.nmspinning} "
        f"needspinning=0 idlethreads={sched.nmidle} runqueue={len(sched.runq)}"
    )
    if not detail:
        qs = " ".join(str(len(p.runq)) for p in allp)
        ticks = " ".join(str(p.schedtick) for p in allp)
        out.write(f"{head} [ {qs} ] schedticks=[ {ticks} ]\n")
        out.flush()
        return
    lines = [
        f"{head} gcwaiting=false nmidlelocked=0 stopwait=0 "
        f"sysmonwait={'true' if sched.sysmonwait else 'false'}"
    ]
    for p in allp:
        m = p.m
        lines.append(
            f"  P{p.id}: status={p.status} schedtick={p.schedtick} syscalltick={p.syscalltick} "
            f"m={_nil(m.id if m is not None else None)} runqsize={len(p.runq)} gfreecnt=0 "
            f"timerslen={len(p.timers)}"
        )
    for m in reversed(list(sched.allm)):
        if m.thread is not None and not m.thread.is_alive():
            continue
        mp = m.p
        g = m.curg
        lines.append(
            f"  M{m.id}: p={_nil(mp.id if mp is not None else None)} "
            f"curg={_nil(g.goid if g is not None else None)} mallocing=0 throwing=0 preemptoff= "
            f"locks=0 dying=0 spinning={'true' if m.spinning else 'false'} "
            f"blocked={'true' if m.blocked else 'false'} lockedg=nil"
        )
    for g in sorted(sched.allgs.copy().values(), key=lambda g: g.goid):
        m = g.m if g.status != Gwaiting else None
        reason = g.waitreason if g.status == Gwaiting else ""
        lines.append(f"  G{g.goid}: status={g.status}({reason}) m={_nil(m.id if m else None)} lockedm=nil")
    out.write("\n".join(lines) + "\n")
    out.flush()


def gstatus(status: int) -> str:
    return GSTATUS_STRINGS.get(status, "???")
