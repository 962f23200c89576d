"""Execution traces (Go's ``runtime/trace``), for ui.perfetto.dev and chrome://tracing.

``start(path)`` records what the runtime does until ``stop()``: goroutines
created, started, stopped, blocked (with the wait reason and the object) and
readied (by whom), syscalls, Ps taken and released, Ms started and parked,
sysmon's retakes (with the stuck call's file:line), preemptions and handoffs,
timers, network poller wakeups and garbage collections. The file is Chrome
trace-event JSON: a track per P and per M, a slice per stretch a goroutine ran,
named by its function, and arrows from whoever readied a goroutine to where it
ran next. ``GOSCHEDTRACE=path`` traces a whole ``gosched.run``;
``python -m gosched trace -summary file`` summarises a trace on the command line.
docs/observability.md shows how to read one.

Off, tracing costs one flag test per goroutine switch; on, see
docs/benchmarks.md.
"""

from __future__ import annotations

import os
from typing import IO

from ._runtime import tracectl

__all__ = ["start", "stop"]


def start(out: str | os.PathLike[str] | IO[str]) -> None:
    """Start tracing to ``out``: a path (the file is created or truncated), or a
    text file open for writing, which ``stop`` leaves open.

    Call it before ``gosched.run`` (the whole run is traced) or from a goroutine.
    Raises RuntimeError("gosched: tracing is already enabled") if a trace is
    being recorded, as Go's ``trace.Start`` returns an error.
    """
    tracectl.start(out)


def stop() -> None:
    """Stop tracing and complete the file (a no-op when not tracing).

    Events are buffered per thread and written in batches; the file is a valid
    JSON array only once ``stop`` returns.
    """
    tracectl.stop()
