"""The blocking profile: who held a P without reaching the scheduler.

When sysmon takes a P from a goroutine that ignored a preemption request, it
samples that goroutine's M (``sys._current_frames``) and records the innermost
frame that is not the runtime's: that is the call that blocked or looped. Each
call site is reported once through ``warnings`` (category ``BlockingWarning``,
so the usual filters silence or escalate it) and aggregated here; when the
goroutine gets back to the scheduler the time it held the P is added.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

from .runtime2 import G, M, Sched


class BlockingWarning(RuntimeWarning):
    """A goroutine held its P in a blocking call or CPU loop until sysmon took it."""


@dataclass
class Site:
    """One call site that held a P."""

    filename: str
    lineno: int
    function: str
    count: int = 0
    total_ns: int = 0
    max_ns: int = 0
    stack: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return self.total_ns / 1e9

    @property
    def max_seconds(self) -> float:
        return self.max_ns / 1e9


_lock = threading.Lock()
_sites: dict[tuple[str, int], Site] = {}
_pending: dict[int, tuple[tuple[str, int], int]] = {}  # M id -> (site, ns held before the take)
enabled = True  # report and record (gosched.debug.set_blocking_report)
warn = True  # also emit a BlockingWarning the first time a site is seen

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_frames(frame: Any) -> list[traceback.FrameSummary]:
    stack = traceback.extract_stack(frame, limit=32)
    return [fs for fs in stack if not os.path.abspath(fs.filename).startswith(_RUNTIME_DIR)]


def report(sched: Sched, m: M, gp: G, held_ns: int) -> None:
    """sysmon took the P of ``m`` whose goroutine ``gp`` is stuck."""
    if not enabled:
        return
    frame = sys._current_frames().get(m.ident)
    if frame is None:
        return
    frames = _user_frames(frame)
    if not frames:
        return
    top = frames[-1]
    key = (top.filename, top.lineno or 0)
    with _lock:
        site = _sites.get(key)
        first = site is None
        if site is None:
            site = _sites[key] = Site(top.filename, top.lineno or 0, top.name)
            site.stack = [f"{fs.filename}:{fs.lineno} in {fs.name}" for fs in reversed(frames)]
        site.count += 1
        _pending[m.id] = (key, held_ns)
    if first and warn:
        stack = "\n    ".join(site.stack)
        msg = (
            f"goroutine {gp.goid} held its P for {held_ns / 1e6:.1f} ms without reaching the "
            f"scheduler, in {top.name} at {top.filename}:{top.lineno}; sysmon handed the P to "
            f"another M. Wrap blocking calls in gosched.syscall(). Stack:\n    {stack}"
        )
        warnings.warn_explicit(msg, BlockingWarning, top.filename, top.lineno or 0, module="gosched")


def finish(m: M, gp: G, held_ns: int) -> None:
    """The goroutine got back to the scheduler after ``held_ns`` without a P."""
    with _lock:
        pending = _pending.pop(m.id, None)
        if pending is None:
            return
        key, before = pending
        site = _sites.get(key)
        if site is not None:
            held_ns += before
            site.total_ns += held_ns
            site.max_ns = max(site.max_ns, held_ns)


def profile() -> list[Site]:
    """Call sites sorted by total time held, then by count."""
    with _lock:
        sites = [Site(s.filename, s.lineno, s.function, s.count, s.total_ns, s.max_ns, list(s.stack))
                 for s in _sites.values()]
    sites.sort(key=lambda s: (s.total_ns, s.count), reverse=True)
    return sites


def reset() -> None:
    with _lock:
        _sites.clear()
        _pending.clear()
