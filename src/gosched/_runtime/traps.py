"""The kernel traps a goroutine yields to its M's scheduler loop.

As in trio and curio, a goroutine never touches the scheduler directly when it
must stop: it yields one of these small tuples out of its coroutine and the loop
that resumed it does the work, with the goroutine safely off the CPU. This is
Go's ``mcall``: gopark, gosched and entersyscall all switch to g0 first.

The trap tuple is ``(kind, a, b)``:

* ``PARK, unlock, reason``: gopark. ``unlock`` is a lock, a list of locks, or
  None; the loop releases it after the goroutine is off its stack, so whoever
  readies the goroutine (which needs that lock) cannot resume it too early.
* ``GOSCHED, None, None``: runtime.Gosched (and a preemption): to the global queue.
* ``SLEEP, ns, None``: time.Sleep: a timer on the current P, then park.
* ``SYSCALL, fn, args``: run ``fn(*args)`` with the P published for sysmon to
  retake (entersyscall/exitsyscall).
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Callable, Generator
from contextvars import ContextVar
from enum import IntEnum
from typing import Any

from . import speedups


class TrapKind(IntEnum):
    """A trap's first item. Ints, as before the enum, for anything that reads them as ints."""

    PARK = 0
    GOSCHED = 1
    SLEEP = 2
    SYSCALL = 3


PARK = TrapKind.PARK
GOSCHED = TrapKind.GOSCHED
SLEEP = TrapKind.SLEEP
SYSCALL = TrapKind.SYSCALL

Trap = tuple[TrapKind, Any, Any]

# The M running on this thread, None on threads that are not Ms: ``getm()`` is
# Go's getg().m. Thread state: the C accelerator keeps it in a C thread-local
# (``getm`` is then a C call, ~20 ns, and C reads it for free), the pure-Python
# runtime in a ``threading.local`` (~45 ns). Not a ContextVar (as it first
# was): an asyncio task's context that last ran on another
# M had to be rewritten to name this one, a new HAMT kept per task (1.5 us a task
# of collector work in create_task + gather); a context copied into a worker
# thread carried the M along; and code in a fresh Context() lost its M.
if speedups.c is not None:
    getm: Callable[[], Any] = speedups.c.getm
    setm: Callable[[Any], None] = speedups.c.setm
else:
    _tls = threading.local()
    getm = functools.partial(getattr, _tls, "m", None)

    def setm(m: Any) -> None:
        """Bind this thread to M ``m`` (None: not an M)."""
        _tls.m = m


# The goroutine whose coroutine this thread is closing because its run ended
# (run()'s shutdown, or its stuck M once the blocking call returns): a runtime
# call from its finally blocks fails saying so (outside_goroutine), instead of
# blaming a plain thread. The thread is not an M meanwhile (getm() is None).
closing: ContextVar[Any] = ContextVar("gosched.closing", default=None)

# Goroutines that sysmon asked to yield (Go's gp.preempt). Non-blocking runtime
# calls test this set's truthiness (one cheap read) before looking themselves up.
preempted: set[Any] = set()


@types.coroutine
def trap(kind: TrapKind, a: Any = None, b: Any = None) -> Generator[Trap, Any, Any]:
    return (yield (kind, a, b))


# True in a child process forked while a runtime ran, until it starts its own
# run(): the child has only the forking thread and no scheduler (fork.py), so
# runtime calls fail with FORKED instead of waiting for Ms that do not exist.
forked = False


def setforked(child: bool) -> None:
    """Enter (fork.py, in the child) or leave (a new run()) the forked state."""
    global forked
    forked = child


FORKED = (
    "the process was forked from a goroutine, and the child runs plain Python without the "
    "runtime: end the child with os._exit() or exec, or start a child that runs goroutines "
    "with multiprocessing's 'spawn' or 'forkserver' method (or gosched.run() in the child)"
)


def outside_goroutine(what: str, instead: str) -> RuntimeError:
    if forked:
        return RuntimeError(f"gosched: {what} called in a forked child; {FORKED}")
    gp = closing.get()
    if gp is not None:
        return RuntimeError(
            f"gosched: {what} called by goroutine {gp.goid} after its run ended: run() closes the "
            f"goroutines a program leaves behind, and their finally blocks cannot wait on the runtime"
        )
    msg = f"gosched: {what} called outside a goroutine"
    if instead:
        msg += f"; {instead}"
    return RuntimeError(msg)


@types.coroutine
def checkpreempt() -> Generator[Trap, Any, None]:
    """Yield if sysmon asked the running goroutine to (a cooperative safe point).

    Go's stackguard0 check: callers test the cheap ``if preempted:`` first.
    """
    if preempted:
        m = getm()
        if m is not None and m.curg is not None and m.curg.preempt:
            yield (GOSCHED, None, None)


def require_m(what: str, instead: str = "") -> Any:
    """The M running the calling goroutine, or a clear error outside one."""
    m = getm()
    if m is None or m.curg is None:
        raise outside_goroutine(what, instead)
    return m


def callable_name(fn: Callable[..., Any] | Any) -> str:
    mod = getattr(fn, "__module__", None) or ""
    qn = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{mod}.{qn}" if mod else str(qn)
