"""The blocking profile: who held a P without reaching the scheduler.

When sysmon takes a P from a goroutine that ignored a preemption request, it
samples that goroutine's M (``sys._current_frames``), walks the stack up to the
scheduler loop (``proc.schedule``) and records the call site: the innermost
frame of the user's own code (not gosched, not the standard library or
site-packages), so ``requests.get(...)`` is blamed on the line that called it.
Each call site is reported once through ``warnings`` (category
``BlockingWarning``: the usual filters silence or escalate it) and every report
goes to the ``gosched.blocking`` logger at DEBUG. When the goroutine gets back to
the scheduler, the time it held the P is added to its site.

Nothing here runs unless sysmon retakes a P, so leaving it on costs nothing in
a program that never blocks a P (docs/sysmon.md has the measurement).
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
import types
import warnings
from dataclasses import dataclass, field

from . import proc
from .runtime2 import G, M


class BlockingWarning(RuntimeWarning):
    """A goroutine held its P in a blocking call or CPU loop until sysmon took it."""


@dataclass(frozen=True)
class Site:
    """One call site that held a P until sysmon took it (``gosched.debug.blocking_profile()``).

    ``filename``, ``lineno``, ``function``: the user's line that blocked;
    ``count``: how many times sysmon took a P from it; ``total_seconds``: the
    time it held a P in all (from each slice's start to its return);
    ``max_seconds``: the longest single hold; ``stack``: the first report's
    stack, innermost first.
    """

    filename: str
    lineno: int
    function: str
    count: int
    total_seconds: float
    max_seconds: float
    stack: tuple[str, ...]


@dataclass
class _Site:
    """The running record behind a Site, in integer ns (sysmon adds to it on every retake)."""

    filename: str
    lineno: int
    function: str
    count: int = 0
    total_ns: int = 0
    max_ns: int = 0
    stack: list[str] = field(default_factory=list)


log = logging.getLogger("gosched.blocking")

_lock = threading.Lock()
_sites: dict[tuple[str, int], _Site] = {}


@dataclass
class _Pending:
    """A sampled stuck call, not yet (or already) published."""

    site: tuple[str, int, str]
    stack: list[str]
    goid: int
    before: int  # ns the goroutine had held the P when sysmon took it
    published: bool = False


_pending: dict[M, _Pending] = {}  # M (not its id: ids restart each run) -> its goroutine's sampled stuck call
reportThresholdNS = 50_000_000  # publish only calls that held a P this long
enabled = True  # report and record (gosched.debug.set_blocking_report)
warn = True  # also emit a BlockingWarning the first time a site is seen

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


def _library_dirs() -> tuple[str, ...]:
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            d = sysconfig.get_paths().get(key)
        except Exception:  # pragma: no cover - exotic installs
            d = None
        if d:
            dirs.add(os.path.abspath(d))
    return tuple(sorted(dirs))


_LIBDIRS = _library_dirs()


def _frames(frame: types.FrameType | None) -> list[types.FrameType]:
    """The goroutine's frames, innermost first, cut at the scheduler loop."""
    stop = (proc.schedule.__code__, proc.syscall.__code__)
    out: list[types.FrameType] = []
    f = frame
    while f is not None and len(out) < 64:
        if f.f_code in stop:
            break
        out.append(f)
        f = f.f_back
    return out


def _is_runtime(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_RUNTIME_DIR)


def _is_library(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    path = os.path.abspath(filename)
    return any(path.startswith(d + os.sep) for d in _LIBDIRS)


def callsite(frame: types.FrameType | None) -> tuple[tuple[str, int, str], list[str]] | None:
    """(file, line, function) to blame and the stack lines, innermost first."""
    frames = [f for f in _frames(frame) if not _is_runtime(f.f_code.co_filename)]
    if not frames:
        return None
    user = next((f for f in frames if not _is_library(f.f_code.co_filename)), frames[0])
    code = user.f_code
    site = (code.co_filename, user.f_lineno or 0, getattr(code, "co_qualname", code.co_name))
    stack = [
        f"{getattr(f.f_code, 'co_qualname', f.f_code.co_name)} at {f.f_code.co_filename}:{f.f_lineno}"
        for f in frames
    ]
    return site, stack


def report(m: M, gp: G, held_ns: int) -> None:
    """sysmon took the P of ``m`` whose goroutine ``gp`` is stuck (runs on sysmon).

    The call site is sampled now, while the goroutine is in it, but published
    (profile entry, BlockingWarning, log line) only once the goroutine has held
    the P for ``reportThresholdNS``: on a GIL build a goroutine that merely waits
    for the GIL after a quick C call also misses its preemption request for a few
    switch intervals, and that is not a blocking call worth reporting.
    """
    if not enabled:
        return
    cs = callsite(sys._current_frames().get(m.ident))
    if cs is None:
        return
    with _lock:
        _pending[m] = _Pending(cs[0], cs[1], gp.goid, held_ns)


def check(m: M, gp: G | None, since_take_ns: int) -> None:
    """sysmon, each tick: publish ``m``'s pending report once it has held long enough."""
    with _lock:
        pd = _pending.get(m)
        if pd is None or pd.published or (gp is not None and gp.goid != pd.goid):
            return
        held_ns = pd.before + since_take_ns
        if held_ns < reportThresholdNS:
            return
    _publish(m, pd, held_ns)


def _publish(m: M, pd: _Pending, held_ns: int) -> None:
    filename, lineno, func = pd.site
    with _lock:
        if pd.published:
            return
        pd.published = True
        key = (filename, lineno)
        site = _sites.get(key)
        first = site is None
        if site is None:
            site = _sites[key] = _Site(filename, lineno, func, stack=pd.stack)
        site.count += 1
    if log.isEnabledFor(logging.DEBUG):
        log.debug("goroutine %d held its P %.1f ms in %s at %s:%d", pd.goid, held_ns / 1e6, func, filename,
                  lineno)
    if first and warn:
        lines = "\n    ".join(pd.stack)
        msg = (
            f"goroutine {pd.goid} held its P for {held_ns / 1e6:.1f} ms without reaching the "
            f"scheduler, in {func} at {filename}:{lineno}; sysmon handed the P to another M. "
            f"Wrap blocking calls in gosched.syscall(), and yield in long loops "
            f"(await gosched.gosched()). Stack (innermost first):\n    {lines}"
        )
        try:
            warnings.warn_explicit(msg, BlockingWarning, filename, lineno, module="gosched")
        except Warning as e:
            # A filter escalated it ("error"): end the program with it, as an
            # uncaught exception in the goroutine would. sysmon goes on.
            proc.fatal(m.sched, e)


def finish(m: M, gp: G, held_ns: int) -> None:
    """The goroutine got back to the scheduler ``held_ns`` after losing its P."""
    with _lock:
        pd = _pending.pop(m, None)
    if pd is None or pd.goid != gp.goid:
        return
    total = pd.before + held_ns
    if not pd.published and total >= reportThresholdNS:
        _publish(m, pd, total)
    if pd.published:
        with _lock:
            site = _sites.get((pd.site[0], pd.site[1]))
            if site is not None:
                site.total_ns += total
                site.max_ns = max(site.max_ns, total)


def profile() -> list[Site]:
    """Call sites sorted by total time held, then by count."""
    with _lock:
        recs = sorted(_sites.values(), key=lambda s: (s.total_ns, s.count), reverse=True)
        return [
            Site(s.filename, s.lineno, s.function, s.count, s.total_ns / 1e9, s.max_ns / 1e9, tuple(s.stack))
            for s in recs
        ]


def reset() -> None:
    with _lock:
        _sites.clear()
        _pending.clear()
