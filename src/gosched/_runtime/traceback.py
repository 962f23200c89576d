"""Goroutine stacks in Go's format (Go's runtime/traceback.go: goroutineheader,
traceback, gotraceback).

A goroutine's stack is its coroutine chain (``cr_frame`` → ``cr_await``) while
it is parked, and its M's thread stack above ``schedule`` while it runs (or
above ``syscall.syscall`` inside ``gosched.syscall``). ``GOTRACEBACK`` chooses
how much of it to print, as in Go.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
from typing import Any

from . import goroutine, proc, syscall
from .nogc import nogc
from .runtime2 import G, Grunnable, Gsyscall, Gwaiting
from .schedtrace import gstatus
from .synctest import durable

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_MINUTE_NS = 60_000_000_000


def traceback_level() -> int:
    """GOTRACEBACK: none/0 → 0 (no stacks), single/all/1 → 1 (user frames), system/crash/2 → 2."""
    v = os.environ.get("GOTRACEBACK", "").strip().lower()
    if v in ("none", "0"):
        return 0
    if v in ("system", "crash", "2", "wer"):
        return 2
    return 1



def coro_frames(coro: Any) -> list[types.FrameType]:
    """Frames of a suspended coroutine chain, outermost first (cr_frame → cr_await).

    With the collector off (nogc): another M may resume the goroutine while this reads.
    """
    frames: list[types.FrameType] = []
    c = coro
    seen = 0
    with nogc():
        while c is not None and seen < 1000:
            seen += 1
            inner = goroutine.coroinner(c)  # a driver's coroutine, walked in its place
            if inner is not None:
                c = inner
                continue
            f = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None) or getattr(c, "ag_frame", None)
            if f is not None:
                frames.append(f)
            c = (getattr(c, "cr_await", None) or getattr(c, "gi_yieldfrom", None)
                 or getattr(c, "ag_await", None))
    return frames


def thread_frames(ident: int, stop: Callable[[types.FrameType], bool]) -> list[types.FrameType]:
    """The thread's frames above the first one ``stop`` accepts, outermost first.

    The collector is off for the walk (nogc), as CPython's own ``sys._current_frames``
    does (gh-106883): on 3.11 each ``f_back`` step materializes a frame object,
    a collection started by that allocation can run a finalizer that switches
    threads, and the running thread then pops the frame being wrapped (a crash;
    blame.py's sampler reads stacks in one C call for the same reason). A dump
    is rare and may be slow, so the frame objects it formats are worth this.
    """
    frames: list[types.FrameType] = []
    with nogc():
        f = sys._current_frames().get(ident)
        while f is not None and not stop(f):
            frames.append(f)
            f = f.f_back
    frames.reverse()
    return frames


def frames(gp: G) -> list[types.FrameType]:
    m = gp.m
    st = gp.status
    sched_code = proc.schedule.__code__
    if st == Gsyscall and m is not None:
        # The coroutine is suspended in the SYSCALL trap; the blocking function
        # runs on the M's thread below syscall.syscall.
        sys_code = syscall.syscall.__code__
        above = thread_frames(m.ident, lambda f: f.f_code is sys_code or f.f_code is sched_code)
        return coro_frames(gp.coro) + above
    if st != Gwaiting and st != Grunnable and m is not None and m.curg is gp:
        return thread_frames(m.ident, lambda f: f.f_code is sched_code)
    return coro_frames(gp.coro) if gp.coro is not None else []


def funcname(f: types.FrameType) -> str:
    code = f.f_code
    mod = f.f_globals.get("__name__", "?")
    return f"{mod}.{getattr(code, 'co_qualname', code.co_name)}"


def userframe(f: types.FrameType) -> bool:
    """The frame is the program's, not the runtime's (GOTRACEBACK=1 hides the runtime's)."""
    return not os.path.abspath(f.f_code.co_filename).startswith(_RUNTIME_DIR)


def goroutine_header(gp: G, now_ns: int | None = None, fake: bool = False) -> str:
    """``goroutine N [reason(, N minutes)]:`` as Go's goroutineheader prints it."""
    st = gp.status
    if st == Gwaiting:
        status = gp.waitreason or "waiting"
    else:
        status = gstatus(st)
    if fake and durable(gp):
        status += " (durable)"  # Go's goroutineheader: isIdleInSynctest
    extra = ""
    if st in (Gwaiting, Gsyscall) and gp.waitsince:
        now = now_ns if now_ns is not None else proc.nanotime()
        mins = (now - gp.waitsince) // _MINUTE_NS
        if mins >= 1:
            extra = f", {mins} minutes"
    if gp.lockedm is not None:  # lock_os_thread
        extra += ", locked to thread"
    if fake:
        extra += ", synctest bubble 1"
    return f"goroutine {gp.goid} [{status}{extra}]:"


def goroutine_stack(gp: G, level: int = 1) -> list[str]:
    """Go's frame lines for one goroutine, innermost first, then ``created by``."""
    lines: list[str] = []
    for f in reversed(frames(gp)):
        if level < 2 and not userframe(f):
            continue
        lines.append(f"{funcname(f)}(...)")
        lines.append(f"\t{f.f_code.co_filename}:{f.f_lineno}")
    if gp.gopc is not None:
        file, line, func = gp.gopc
        lines.append(f"created by {func} in goroutine {gp.parentid}")
        lines.append(f"\t{file}:{line}")
    return lines
