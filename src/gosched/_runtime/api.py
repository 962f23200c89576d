"""Small public entry points that are not a concept of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import lockedm, mgr, proc
from .chan import Chan
from .errors import Goexit
from .select import ctxdone, ctxerr, recv, select
from .traps import SYSCALL, require_m, trap

if TYPE_CHECKING:
    from ..context import Context

T = TypeVar("T")


async def syscall(fn: Callable[..., T], *args: Any, ctx: Context | None = None) -> T:
    """Run blocking ``fn(*args)`` on this M with its P handed to sysmon.

    Go's entersyscall/exitsyscall: while ``fn`` blocks, sysmon retakes the P
    within a tick and another M runs the other goroutines. Returns ``fn``'s
    result or raises its exception.

    With ``ctx`` (a ``gosched.context.Context`` that can be cancelled), ``fn``
    runs on a thread of its own and the goroutine waits for its result or for
    ``ctx`` to be done, whichever comes first; once ``ctx`` is done it raises
    ``ctx.err()`` at once (before starting ``fn`` if it is done already). A
    blocking call cannot be interrupted (Go cannot either): ``fn`` then goes on in
    the background until it returns, and its result or exception is discarded.
    Make ``fn`` itself bounded (a socket timeout, say) if that thread matters.
    """
    if not callable(fn):
        raise TypeError(f"syscall() needs a callable, not {type(fn).__name__}")
    require_m("syscall", "call the function directly in a plain thread")
    done = ctxdone(ctx)
    if done is None:
        return await trap(SYSCALL, fn, args)  # type: ignore[no-any-return]
    res: Chan[tuple[bool, Any]] = Chan(1)
    res.foreign = True  # the thread below sends with trysend: checkdead must wait for it

    def call() -> None:
        try:
            out: tuple[bool, Any] = (True, fn(*args))
        except BaseException as e:  # handed to the goroutine, or discarded with the result
            out = (False, e)
        res.trysend(out)  # the buffer has room: never blocks, never fails

    threading.Thread(target=call, name=f"gosched.syscall {getattr(fn, '__name__', fn)}", daemon=True).start()
    i, v, _ = await select(recv(res), recv(done))
    if i == 1:
        ctxerr(ctx)
    ok, val = v
    if not ok:
        raise val
    return val  # type: ignore[no-any-return]


def goexit() -> None:
    """End the calling goroutine after its finally blocks run (runtime.Goexit).

    When main calls it, the program goes on until the other goroutines finish.
    """
    require_m("goexit")
    raise Goexit()


def lock_os_thread() -> None:
    """Wire the calling goroutine to its current OS thread (Go's runtime.LockOSThread).

    Until it calls ``unlock_os_thread`` as many times as it called this, the
    goroutine always runs on that thread and no other goroutine does, so
    thread-bound objects (a ``sqlite3`` connection with default settings,
    ``threading.local`` data, ``signal.signal`` in main) keep working across
    awaits. If the goroutine exits while locked, its thread exits too.
    Called from main before main first blocks, it keeps main on the thread that
    called ``gosched.run()`` (the main thread, usually) for good.

    Costs a thread switch each time the goroutine blocks and wakes: lock only
    goroutines that need it.
    """
    m = require_m("lock_os_thread")
    lockedm.lockosthread(m, m.curg)


def unlock_os_thread() -> None:
    """Undo one ``lock_os_thread`` call (Go's runtime.UnlockOSThread).

    When the count reaches zero the goroutine may run on any thread again; a
    call with no lock in effect does nothing.
    """
    m = require_m("unlock_os_thread")
    lockedm.unlockosthread(m, m.curg)


def num_goroutine() -> int:
    """The number of goroutines that exist (runtime.NumGoroutine)."""
    return len(proc.getsched("gosched.num_goroutine()", ended=True).allgs)


def gomaxprocs(n: int | None = None) -> int:
    """Return GOMAXPROCS; with ``n`` set it and return the previous value."""
    s = proc.getsched("gosched.gomaxprocs()", ended=True)
    if n is None or n == 0:
        return s.gomaxprocs
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"gomaxprocs takes an int, not {type(n).__name__}")
    return mgr.procresize(s, n)
