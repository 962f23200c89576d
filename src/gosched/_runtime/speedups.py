"""The optional C accelerator (``_speedups.c``) and the protocol it shares with proc.

Two hot paths have a C version: ``go`` (Go's newproc fast path; ``main.go`` is
the reference) and ``send``, the scheduler's resume of a goroutine, which
reports a return as the ``EXIT`` sentinel instead of raising StopIteration (a
third of the cost of a goroutine that returns at once). Channel operations
(``Chan.send``, ``recv``, ``recv_ok``, ``__anext__``; ``_speedups_chan.h``, set
up by chan.py) finish in C, with a C ``goready``, and park in C when they must
wait. ``cround`` runs ``proc.schedule``'s common rounds (``_speedups_sched.h``,
set up by proc; ``proc.cround``), a goroutine's sleep trap and its timer's
wake-up (``proc._readytimer``) among them; ``timers.addtimer`` and
``runtimers`` are C functions too (``_speedups_timers.h``, set up by
timers.py). gosched.aio's task step, turn hand-off, first step and wake-up are C
(``_speedups_aio.h``, set up by ``_aio/task.py``). Everything else, and every
case the C code does not handle, is Python. ``stack`` (another thread's call
stack, for blame.py) is there because C can read it without racing the thread;
blame.py has the pure-Python way.

The extension is used when it was built (``pip install`` builds it on a GIL
CPython with a C compiler; never on a free-threaded one) and the environment
variable ``GOSCHED_PURE_PYTHON`` is unset or empty. ``c`` is the module or None.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

VERSION = 26  # must match SPEEDUPS_VERSION in _speedups.c

EXIT: Any = object()  # what a resume returns when the goroutine ended (goexit0)


class Returned:
    """What ``send`` returns when the goroutine returned a value other than None."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _load() -> ModuleType | None:
    if os.environ.get("GOSCHED_PURE_PYTHON"):
        return None
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    if getattr(_speedups, "VERSION", None) != VERSION:  # built from an older _speedups.c
        warnings.warn("gosched: the C extension is out of date; reinstall to rebuild it", stacklevel=2)
        return None
    _speedups.setup_send(EXIT, Returned)
    mod: ModuleType = _speedups
    return mod


c = _load()

# send(coro, value): resume a goroutine; its yield, EXIT, or a Returned.
# None means the loop resumes with coro.send and catches StopIteration itself.
send: Callable[[Any, Any], Any] | None = c.send if c is not None else None
# resume(gp): send(gp.coro, gp.param), where a gosched.aio task parked on a future may have its
# next step run without its driver (_speedups_sched.h resumeg). None: the same as send's None.
resume: Callable[[Any], Any] | None = c.resume if c is not None else None

# gctrack(gp): a G leaving allgs goes back on the cyclic collector's lists (the C go()
# takes a live G off them: allgs keeps it reachable, and a spawn-heavy loop's queued Gs
# were walked by every collection). None: no G is ever untracked.
gctrack: Callable[[Any], None] | None = c.gctrack if c is not None else None

# creatorsite(prefixes, depth): _aio/task.py's creatorsite without making frame objects
# (CPython 3.11 only; None elsewhere: 3.12+ names a frame's module without one).
creatorsite: Callable[[tuple[str, ...], int], Any] | None = getattr(c, "creatorsite", None)

# recvbytes(sock, size): sock.recv(size) into a buffer the module keeps (gosched.aio's socket
# transport; None: the transport's recv_into a reused buffer, in Python).
recvbytes: Callable[[Any, int], bytes] | None = c.recvbytes if c is not None else None

# goready(gp) from an M: proc.goready's common case (an M holding its P) in C.
goready: Callable[[Any], None] | None = c.goready if c is not None else None
