"""Turning the execution tracer on and off (Go's runtime/trace Start and Stop), and
``GOSCHEDTRACE=path``, read when ``run()`` starts.

A monitor above the scheduler: it sets ``trace.enabled``, the flag the scheduler's
paths test (and its copy ``proc.tracing``, for schedule and goready), and routes
``go()`` through Python while tracing (below).
"""

from __future__ import annotations

import os
import threading
from typing import IO

from . import proc, trace
from .runtime2 import Sched

ENV = "GOSCHEDTRACE"

_lock = threading.Lock()
_file: IO[str] | None = None
_owned = False  # start() opened the file, so stop() closes it
_fromenv = False  # run() started it from GOSCHEDTRACE, so run()'s end stops it


def start(out: str | os.PathLike[str] | IO[str]) -> None:
    """Start writing the trace to the file ``out`` (a path, or a text file open for writing)."""
    global _file, _owned
    with _lock:
        if trace.enabled:
            raise RuntimeError("gosched: tracing is already enabled")  # Go's trace.Start error
        if isinstance(out, (str, os.PathLike)):
            _file, _owned = open(out, "w", encoding="utf-8"), True  # stop() closes it
        else:
            _file, _owned = out, False
        trace.begin(_file)
        trace.enabled = proc.tracing = True
        if proc.current is not None:
            route(proc.current)


def stop() -> None:
    """Stop tracing and finish the file (nothing if tracing is off)."""
    global _file, _fromenv
    with _lock:
        if not trace.enabled:
            return
        trace.enabled = proc.tracing = False
        sched = proc.current
        if sched is not None:
            with sched.lock:
                if not sched.dead:
                    sched.dead = False
        trace.end()
        if _owned and _file is not None:
            _file.close()
        _file = None
        _fromenv = False


def route(sched: Sched) -> None:
    """Send every ``go()`` of ``sched`` through Python while tracing.

    The C ``go()`` takes its fast path only while ``sched.dead`` is exactly
    False; 0 reads as "running" everywhere else (every test is ``if sched.dead``),
    so each spawn goes through ``main.pygo`` → ``proc.newproc`` → ``goready``,
    where the tracer sees it. ``finish_locked`` still sets it to True.
    """
    with sched.lock:
        if not sched.dead:
            sched.dead = 0  # type: ignore[assignment]


def runstart(sched: Sched) -> None:
    """``run()`` starts: start tracing if GOSCHEDTRACE names a file; route ``sched``."""
    global _fromenv
    path = os.environ.get(ENV, "")
    if path and not trace.enabled:
        start(path)
        _fromenv = True
    if trace.enabled:
        route(sched)


def runend() -> None:
    """``run()`` ended: finish a trace that GOSCHEDTRACE started."""
    if _fromenv:
        stop()
