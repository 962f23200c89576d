"""The blocking profile: who held a P without reaching the scheduler.

When sysmon takes a P from a goroutine that ignored a preemption request, it
records the M; once the goroutine has held the P for ``reportThresholdNS`` and
is still stuck, sysmon samples that M's stack (``_stack``: it cannot race with
the running thread, see there), cut at the scheduler loop (``proc.schedule``),
and blames the innermost frame of the user's own code (not gosched, not the
standard library or site-packages), so ``requests.get(...)`` is blamed on the
line that called it. A goroutine sampled inside gosched itself is not reported:
it is waiting for a runtime lock or for the GIL, or in a runtime call, none of
which is the user's blocking call or CPU loop; sysmon samples it again next tick.
Each call site is reported once through ``warnings`` (category
``BlockingWarning``: the usual filters silence or escalate it) and every report
goes to the ``gosched.blocking`` logger at DEBUG. When the goroutine gets back to
the scheduler, the time it held the P is added to its site.

Every retake is counted at its site too (``Site.retakes``), sampled when sysmon
takes the P, however short the hold: many short unwrapped calls (each under the
threshold) cost a retake each, and once they add up to the threshold the site is
reported as well. The report says which cure fits: the stuck thread's CPU time
over the hold tells a blocking call (wrap it in ``gosched.syscall``) from a CPU
loop (yield in it).

Nothing here runs unless sysmon retakes a P, so leaving it on costs nothing in
a program that never blocks a P (docs/sysmon.md has the measurement).
"""

from __future__ import annotations

import faulthandler
import logging
import math
import os
import re
import sysconfig
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field

from . import gc as _gc
from . import panic, proc, speedups, syscall
from .runtime2 import G, M


class BlockingWarning(RuntimeWarning):
    """A goroutine held its P in a blocking call or CPU loop until sysmon took it."""


@dataclass(frozen=True)
class Site:
    """One call site that held a P until sysmon took it (``gosched.debug.blocking_profile()``).

    ``filename``, ``lineno``, ``function``: the user's line that blocked;
    ``count``: how many times sysmon took a P from it; ``total_seconds``: the
    time it held a P in all (from each slice's start to its return);
    ``max_seconds``: the longest single hold; ``retakes``: every time sysmon
    took a P from it, however short the hold (``count`` has only the holds past
    the report threshold); ``retaken_seconds``: the time those holds took in all;
    ``stack``: the first report's stack, innermost first.
    """

    filename: str
    lineno: int
    function: str
    count: int
    total_seconds: float
    max_seconds: float
    retakes: int
    retaken_seconds: float
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
    retakes: int = 0
    retaken_ns: int = 0
    warned: bool = False
    stack: list[str] = field(default_factory=list)


log = logging.getLogger("gosched.blocking")

_lock = threading.Lock()
_sites: dict[tuple[str, int], _Site] = {}


@dataclass
class _Pending:
    """A goroutine whose P sysmon took, not yet (or already) published."""

    goid: int
    start: int  # monotonic ns: the start of the slice the goroutine did not yield in
    before: int  # ns the goroutine had held the P when sysmon took it
    cpu0: float  # the stuck thread's CPU seconds when sysmon took the P (nan: unknown)
    published: bool = False
    counted: tuple[str, int] | None = None  # the site its retake was counted at
    site: tuple[str, int, str] = ("", 0, "")  # set when published
    stack: list[str] = field(default_factory=list)


_pending: dict[M, _Pending] = {}  # M (not its id: ids restart each run) -> its goroutine's stuck call
reportThresholdNS = 50_000_000  # publish only calls that held a P this long
enabled = True  # report and record (gosched.debug.set_blocking_report)
warn = True  # also emit a BlockingWarning the first time a site is seen

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # gosched/
_EXAMPLES_DIR = os.path.join(_PACKAGE_DIR, "examples")  # user code, shipped as documentation
_DEPTH = 64  # frames sampled at most, innermost first
_STOP = (proc.schedule.__code__, syscall.syscall.__code__)  # where a goroutine's stack ends on an M

Frame = tuple[str, int, str]  # (filename, lineno, function)


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


def _stack(ident: int) -> list[Frame] | None:
    """Thread ``ident``'s frames, innermost first, cut at the scheduler loop; None if it is gone.

    Never by walking ``f_back`` from Python (issue 14): on 3.11 each step
    materializes a frame object, the allocation can run the collector, a
    finalizer can switch threads, and the thread being read pops the frame
    CPython is in the middle of wrapping (a segfault, or "'int' object has no
    attribute 'f_code'"). Both ways below read the whole stack in one C call
    that runs no Python code, so the thread cannot move until it has returned.
    """
    if speedups.c is not None:
        st: list[Frame] | None = speedups.c.stack(ident, _STOP, _DEPTH)  # _speedups.c says why it is safe
        return st
    return _dumped_stack(ident)


_DUMPED_FRAME = re.compile(r'  File "(.*)", line (\d+|\?\?\?) in (.*)')
_DUMP_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _dumped_stack(ident: int) -> list[Frame] | None:
    """``_stack`` without the C accelerator: parse ``faulthandler.dump_traceback``.

    faulthandler's dump is a C walk of every thread's frames that allocates
    nothing and runs no Python code (it must work inside a signal handler), so
    on a GIL build no other thread runs during it; on a free-threaded build
    ``dump_traceback(all_threads=True)`` stops the world for it (gh-128400).
    Its limits are faulthandler's: the 100 newest threads, function names
    without their class, strings cut at 500 characters.
    """
    with tempfile.TemporaryFile() as f:
        faulthandler.dump_traceback(f, all_threads=True)
        f.seek(0)
        text = f.read().decode("ascii", "replace")
    head = text.find(f"hread 0x{ident:016x} (most recent call first):\n")
    if head < 0:
        return None
    stop = {(c.co_filename, c.co_name) for c in _STOP}
    out: list[Frame] = []
    for line in text[text.index("\n", head) + 1:].splitlines():
        m = _DUMPED_FRAME.fullmatch(line)
        if m is None or len(out) == _DEPTH:
            break  # the blank line after the thread, or "  ..." (deeper than faulthandler goes)
        filename = _DUMP_ESCAPE.sub(lambda e: chr(int(e.group(1)[1:], 16)), m.group(1))
        if (filename, m.group(3)) in stop:
            break
        out.append((filename, int(m.group(2)) if m.group(2).isdigit() else 0, m.group(3)))
    return out


def _is_runtime(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR + os.sep) and not path.startswith(_EXAMPLES_DIR + os.sep)


def _is_library(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    path = os.path.abspath(filename)
    return any(path.startswith(d + os.sep) for d in _LIBDIRS)


def callsite(stack: list[Frame]) -> tuple[Frame, list[str]] | None:
    """The frame to blame and the stack lines (innermost first); None if not in user code.

    The innermost frame that is not the standard library or site-packages
    decides: user code is blamed, gosched's own code (a runtime lock, a GIL wait
    inside a runtime call, ``gomaxprocs``, a socket's close) is not reported.
    """
    own = next((fr for fr in stack if not _is_library(fr[0])), None)
    if own is not None and (own[1] <= 0 or _is_runtime(own[0])):
        return None  # gosched's code, or a coroutine that has not started (no line yet)
    frames = [fr for fr in stack if not _is_runtime(fr[0])]
    if not frames:
        return None
    return own or frames[0], [f"{func} at {filename}:{lineno}" for filename, lineno, func in frames]


def site(ident: int) -> Frame | None:
    """The user's call site thread ``ident`` is in now (the tracer's retake events), or None."""
    stack = _stack(ident)
    cs = callsite(stack) if stack else None
    return cs[0] if cs is not None else None


def report(m: M, gp: G, held_ns: int) -> None:
    """sysmon took the P of ``m`` whose goroutine ``gp`` is stuck (runs on sysmon).

    The retake is counted at once at the user's line it is in. Nothing is
    published before ``check`` finds the goroutine has held the P for
    ``reportThresholdNS`` and is still stuck (or its site's retakes add up to
    that). On a GIL build a goroutine that merely waits for the GIL after a
    quick C call also misses its preemption request for a few switch intervals;
    that is not a blocking call.
    """
    took = m.lostp_since
    if not enabled or not took:
        return  # off, or already back at the scheduler
    with _lock:
        _pending[m] = _Pending(gp.goid, took - held_ns, held_ns, threadcpu(m))
    check(m, gp, 0)  # already past the threshold (it is 0 in tests)


def check(m: M, gp: G | None, since_take_ns: int) -> None:
    """sysmon, each tick: count ``m``'s retake at its site, publish it once it held long enough."""
    with _lock:
        pd = _pending.get(m)
        if pd is None or pd.published or (gp is not None and gp.goid != pd.goid):
            return
        held_ns = pd.before + since_take_ns
        counted = pd.counted
        site = _sites.get(counted) if counted is not None else None
        own = held_ns - _gcpaused(pd.start, pd.start + held_ns)  # the collector's pauses are not its own
        long = own >= reportThresholdNS
        adds_up = site is not None and not site.warned and site.retaken_ns + own >= reportThresholdNS
        if counted is not None and not long and not adds_up:
            return
    stack = _stack(m.ident)
    cs = callsite(stack) if stack else None
    if cs is None:
        return
    if counted is None:
        _count(m, pd, cs)
    if long or adds_up:
        _publish(m, pd, cs, held_ns, long)


def _count(m: M, pd: _Pending, cs: tuple[Frame, list[str]]) -> None:
    """Count the retake of ``m``'s goroutine at the user's line it is stuck in."""
    (filename, lineno, func), stack = cs
    key = (filename, lineno)
    with _lock:
        if pd.counted is not None or _pending.get(m) is not pd:
            return
        pd.counted = key
        site = _sites.get(key)
        if site is None:
            site = _sites[key] = _Site(filename, lineno, func, stack=stack)
        site.retakes += 1


def threadcpu(m: M) -> float:
    """The CPU seconds of ``m``'s thread so far (nan where the OS cannot say, or the thread
    has exited: its clock id, taken by M.bindthread, then fails)."""
    clock = m.cpuclock
    if clock is None:
        return math.nan
    try:
        return time.clock_gettime(clock)
    except OSError:
        return math.nan


def _gcpaused(start: int, end: int) -> int:
    """How much of [start, end] (monotonic ns) the collector held the interpreter.

    Under the GIL a collection of a large heap stops every thread for up to
    hundreds of ms; a goroutine waiting for the GIL then holds its P that long
    without being stuck in anything of its own.
    """
    return sum(max(0, min(e, end) - max(s, start)) for s, e in list(_gc.pauses))


def _publish(m: M, pd: _Pending, cs: tuple[Frame, list[str]], held_ns: int, long: bool) -> None:
    """Report a hold that passed the threshold alone (``long``: at the line it is in now), or
    one whose site's retakes add up to it (at the line it was counted at, which the goroutine
    may have left since: a hold is one retake however many lines it spans)."""
    (filename, lineno, func), stack = cs
    with _lock:
        if pd.published or _pending.get(m) is not pd:
            return  # it got back to the scheduler while we sampled: the sample may be of its next slice
        if long:
            key = (filename, lineno)
            site = _sites.get(key)
            if site is None:
                site = _sites[key] = _Site(filename, lineno, func, stack=stack)
            pd.published = True
            pd.site, pd.stack = (filename, lineno, func), stack
            site.count += 1
        else:
            counted = _sites.get(pd.counted) if pd.counted is not None else None
            if counted is None:
                return
            site = counted
            filename, lineno, func, stack = site.filename, site.lineno, site.function, site.stack
        first = not site.warned
        site.warned = True
        retakes, retaken_ns = site.retakes, site.retaken_ns + held_ns
    if long and log.isEnabledFor(logging.DEBUG):
        log.debug("goroutine %d held its P %.1f ms in %s at %s:%d", pd.goid, held_ns / 1e6, func, filename,
                  lineno)
    if first and warn:
        lg = m.lockedg  # the user's lock_os_thread (lockedext), not main's own start on m0
        locked = " (locked to thread)" if m.lockedext and lg is not None and lg.goid == pd.goid else ""
        if long:
            what = f"goroutine {pd.goid}{locked} held its P for {held_ns / 1e6:.1f} ms"
        else:
            what = (f"{retakes} calls held their P for {retaken_ns / 1e6:.1f} ms in all (each under the "
                    f"{reportThresholdNS / 1e6:.0f} ms report threshold; goroutine {pd.goid}{locked} now)")
        msg = (f"{what} without reaching the scheduler, in {func} at {filename}:{lineno}; sysmon handed "
               f"the P to another M each time (~10 ms in). {_cure(m, pd, held_ns)} Stack (innermost "
               f"first):\n    " + "\n    ".join(stack))
        try:
            warnings.warn_explicit(msg, BlockingWarning, filename, lineno, module="gosched")
        except Warning as e:
            # A filter escalated it ("error"): end the program with it, as an
            # uncaught exception in the goroutine would. sysmon goes on.
            panic.fatal(m.sched, e)


def _cure(m: M, pd: _Pending, held_ns: int) -> str:
    """What to do about it: a thread that used little CPU while it held the P was blocked in a call."""
    cpu = threadcpu(m) - pd.cpu0
    since = max(time.monotonic_ns() - m.lostp_since, 1) if m.lostp_since else held_ns
    if cpu < 0.25 * since / 1e9:  # nan compares False: a CPU loop's advice and the general one
        return ("It is a blocking call (its thread was mostly idle): wrap it in gosched.syscall() "
                "so the P moves at once instead, and others run meanwhile.")
    return ("Wrap blocking calls in gosched.syscall(), and yield in long loops "
            "(await gosched.gosched()).")


def finish(m: M, gp: G, held_ns: int) -> None:
    """The goroutine got back to the scheduler ``held_ns`` after losing its P.

    A counted retake's site gets the whole time it held the P in
    ``retaken_ns``; a published one's in ``total_ns`` too. One that returned
    before sysmon saw it in user code is not counted: nothing says it was not
    waiting for the GIL or a runtime lock.
    """
    with _lock:
        pd = _pending.pop(m, None)
        if pd is None or pd.goid != gp.goid:
            return
        total = pd.before + held_ns
        if pd.counted is not None and (counted := _sites.get(pd.counted)) is not None:
            counted.retaken_ns += total
        site = _sites.get((pd.site[0], pd.site[1])) if pd.published else None
        if site is not None:
            site.total_ns += total
            site.max_ns = max(site.max_ns, total)


def setreport(on: bool, warnonce: bool, threshold_ns: int | None) -> bool:
    """Record stuck calls (``on``), warn once per site (``warnonce``), from ``threshold_ns``
    held (None: unchanged); return the old ``on`` (gosched.debug.set_blocking_report)."""
    global enabled, warn, reportThresholdNS
    old = enabled
    enabled = on
    warn = warnonce
    if threshold_ns is not None:
        reportThresholdNS = threshold_ns
    return old


def profile() -> list[Site]:
    """Call sites sorted by total time held, then by count."""
    with _lock:
        recs = sorted(_sites.values(), key=lambda s: (s.total_ns, s.count, s.retaken_ns), reverse=True)
        return [
            Site(s.filename, s.lineno, s.function, s.count, s.total_ns / 1e9, s.max_ns / 1e9, s.retakes,
                 s.retaken_ns / 1e9, tuple(s.stack))
            for s in recs
        ]


def reset() -> None:
    with _lock:
        _sites.clear()
        _pending.clear()
