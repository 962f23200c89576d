"""GOSCHEDDEBUG settings and Go's ``SCHED`` trace lines (Go's proc.go schedtrace and
runtime1.go parsedebugvars).

``GOSCHEDDEBUG`` uses GODEBUG's syntax: ``schedtrace=1000,scheddetail=1,gctrace=1``;
``human=1`` (gosched's own) appends ``  # ...`` to each line, naming in words the
states Go's format gives as numbers.
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

from .runtime2 import GSTATUS_STRINGS, G, Gwaiting, M, P, Pdead, Pgcstop, Pidle, Prunning, Psyscall, Sched

ENV = "GOSCHEDDEBUG"


@dataclass
class Settings:
    schedtrace: int = 0  # ms between SCHED lines; 0: off
    scheddetail: int = 0  # 1: add the P, M and G lines
    gctrace: int = 0  # 1: one line per garbage collection
    human: int = 0  # 1: each line ends with "  # " and its states in words
    out: TextIO | None = None  # where lines go (default: sys.stderr at print time)


settings = Settings()
KEYS = ("schedtrace", "scheddetail", "gctrace", "human")
PSTATUS_STRINGS = {Pidle: "idle", Prunning: "running", Psyscall: "syscall", Pgcstop: "gcstop", Pdead: "dead"}


def parse(value: str) -> Settings:
    """Parse ``k=v,k=v``; unknown keys are ignored, as GODEBUG does."""
    s = Settings()
    for item in value.split(","):
        k, sep, v = item.strip().partition("=")
        if not sep or k not in KEYS:
            continue
        try:
            setattr(s, k, int(v))
        except ValueError:
            continue
    return s


def format_settings(s: Settings) -> str:
    """The GOSCHEDDEBUG string for ``s`` (non-zero keys only)."""
    return ",".join(f"{k}={v}" for k in KEYS if (v := getattr(s, k)))


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
    words = _words if settings.human else _nowords
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
        out.write(words(f"{head} [ {qs} ] schedticks=[ {ticks} ]", _schedwords(sched, threads)) + "\n")
        out.flush()
        return
    lines = [
        words(
            f"{head} gcwaiting=false nmidlelocked=0 stopwait=0 "
            f"sysmonwait={'true' if sched.sysmonwait else 'false'}",
            _schedwords(sched, threads),
        )
    ]
    for p in allp:
        m = p.m
        lines.append(
            words(
                f"  P{p.id}: status={p.status} schedtick={p.schedtick} syscalltick={p.syscalltick} "
                f"m={_nil(m.id if m is not None else None)} runqsize={len(p.runq)} gfreecnt=0 "
                f"timerslen={len(p.timers)}",
                _pwords(p),
            )
        )
    for m in reversed(list(sched.allm)):
        if m.thread is not None and not m.thread.is_alive():
            continue
        mp = m.p
        g = m.curg
        lines.append(
            words(
                f"  M{m.id}: p={_nil(mp.id if mp is not None else None)} "
                f"curg={_nil(g.goid if g is not None else None)} mallocing=0 throwing=0 preemptoff= "
                f"locks=0 dying=0 spinning={'true' if m.spinning else 'false'} "
                f"blocked={'true' if m.blocked else 'false'} lockedg=nil",
                _mwords(m),
            )
        )
    for g in sorted(sched.allgs.copy().values(), key=lambda g: g.goid):
        m = g.m if g.status != Gwaiting else None
        reason = g.waitreason if g.status == Gwaiting else ""
        gline = f"  G{g.goid}: status={g.status}({reason}) m={_nil(m.id if m else None)} lockedm=nil"
        lines.append(words(gline, _gwords(g)))
    out.write("\n".join(lines) + "\n")
    out.flush()


# human=1: Go's line, then "  # " and what its numbers mean.


def _nowords(line: str, words: str) -> str:
    return line


def _words(line: str, words: str) -> str:
    return f"{line}  # {words}"


def _schedwords(sched: Sched, threads: int) -> str:
    busy = sched.gomaxprocs - sched.npidle
    return (
        f"{busy} of {sched.gomaxprocs} Ps running goroutines, {sched.npidle} idle; "
        f"{threads} threads ({sched.nmspinning} looking for work, {sched.nmidle} parked); "
        f"{len(sched.runq)} goroutines in the global queue"
    )


def _pwords(p: P) -> str:
    state = PSTATUS_STRINGS.get(p.status, "?")
    on = f" on M{p.m.id}" if p.m is not None else ""
    return f"P{p.id} {state}{on}, {len(p.runq)} goroutines queued, {len(p.timers)} timers"


def _mwords(m: M) -> str:
    if m.curg is not None:
        state = f"running goroutine {m.curg.goid}"
    elif m.spinning:
        state = "looking for work"
    elif m.blocked:
        state = "parked (idle or polling the network)"
    else:
        state = "in the scheduler"
    held = f" on P{m.p.id}" if m.p is not None else " without a P"
    return f"M{m.id} {state}{held}"


def _gwords(g: G) -> str:
    state = GSTATUS_STRINGS.get(g.status, "?")
    if g.status == Gwaiting:
        return f"goroutine {g.goid} ({g.startfn}) waiting: {g.waitreason}"
    on = f" on M{g.m.id}" if g.m is not None and state in ("running", "syscall") else ""
    return f"goroutine {g.goid} ({g.startfn}) {state}{on}"


def gstatus(status: int) -> str:
    return GSTATUS_STRINGS.get(status, "???")
