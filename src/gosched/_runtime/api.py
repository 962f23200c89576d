"""Small public entry points that are not a concept of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from . import proc
from .traps import SYSCALL, getm, outside_goroutine, trap

T = TypeVar("T")


async def syscall(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking ``fn(*args)`` on this M with its P handed to sysmon.

    Go's entersyscall/exitsyscall: while ``fn`` blocks, sysmon retakes the P
    within a tick and another M runs the other goroutines. Returns ``fn``'s
    result or raises its exception.
    """
    if not callable(fn):
        raise TypeError(f"syscall() needs a callable, not {type(fn).__name__}")
    m = getm()
    if m is None or m.curg is None:
        raise outside_goroutine("syscall", "call the function directly in a plain thread")
    return await trap(SYSCALL, fn, args)  # type: ignore[no-any-return]


def goexit() -> None:
    """End the calling goroutine after its finally blocks run (runtime.Goexit).

    When main calls it, the program goes on until the other goroutines finish.
    """
    m = getm()
    if m is None or m.curg is None:
        raise outside_goroutine("goexit", "")
    raise proc.Goexit()


def _sched(what: str) -> Any:
    m = getm()
    s = m.sched if m is not None else proc.current
    if s is None:
        raise RuntimeError(f"gosched.{what}() needs a running gosched.run()")
    return s


def num_goroutine() -> int:
    """The number of goroutines that exist (runtime.NumGoroutine)."""
    return len(_sched("num_goroutine").allgs)


def gomaxprocs(n: int | None = None) -> int:
    """Return GOMAXPROCS; with ``n`` set it and return the previous value."""
    s = _sched("gomaxprocs")
    if n is None or n == 0:
        return s.gomaxprocs  # type: ignore[no-any-return]
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"gomaxprocs takes an int, not {type(n).__name__}")
    return proc.procresize(s, n)
