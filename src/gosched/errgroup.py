"""golang.org/x/sync/errgroup: goroutines working on subtasks of one task, with error
propagation, cancellation and an optional limit on how many run at once::

    from gosched import context, errgroup

    async def fetch_all(urls: list[str]) -> list[bytes]:
        g, ctx = errgroup.with_context(context.background())
        out: list[bytes] = [b""] * len(urls)

        async def fetch(i: int) -> None:
            out[i] = await get(ctx, urls[i])     # raises on failure

        for i in range(len(urls)):
            await g.go(fetch, i)
        await g.wait()                           # raises the first error; ctx is cancelled
        return out

An error is an exception a goroutine of the group raises (``Exception``; a
``BaseException`` such as ``KeyboardInterrupt`` ends the program as in any goroutine).
``wait()`` raises the *first* one itself, so ``except`` clauses match it as they would
have in the goroutine, and Go's ``Wait() error`` maps to it directly. Each later error
is kept as a line of the first's ``__notes__`` (printed under its traceback), except
``context.Canceled`` and ``context.DeadlineExceeded``: those are what the other
goroutines raise when the first error cancels the group's context, and Go's errgroup
drops every error after the first.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from ._public import fixup_module_metadata as _fixup
from ._runtime.chan import Chan
from ._runtime.errors import Panic
from ._runtime.lock import held, newlock
from ._runtime.main import _coroutine, go
from ._runtime.sync import WaitGroup
from .context import Canceled, Context, DeadlineExceeded, with_cancel_cause

__all__ = ["Group", "with_context"]


class Group:
    """A collection of goroutines working on subtasks of the same task (errgroup.Group).

    ``Group()`` has no limit on active goroutines and cancels nothing on error;
    ``with_context`` makes one that cancels a context on the first error.
    """

    __slots__ = ("_cancel", "_err", "_lock", "_sem", "_tb", "_wg")

    def __init__(self) -> None:
        self._cancel: Callable[[Exception | None], None] | None = None
        self._wg = WaitGroup()
        self._sem: Chan[None] | None = None  # one token per active goroutine while limited
        self._lock = newlock()  # guards _err, _tb and the first error's notes
        self._err: Exception | None = None
        self._tb: TracebackType | None = None

    async def go(
        self, fn: Callable[..., Coroutine[Any, Any, Any]] | Coroutine[Any, Any, Any], *args: Any
    ) -> None:
        """Start ``fn(*args)`` in a new goroutine of the group (Group.Go).

        Blocks first, while the group is at its limit (``set_limit``), until a
        goroutine of the group finishes, hence the ``await``. The first
        goroutine to raise cancels the group's context, if it has one, and its
        exception is what ``wait()`` raises.
        """
        coro = _coroutine(fn, args, {}, "Group.go()")
        sem = self._sem
        if sem is not None:
            try:
                await sem.send(None)
            except BaseException:
                coro.close()
                raise
        self._start(coro, sem)

    def try_go(
        self, fn: Callable[..., Coroutine[Any, Any, Any]] | Coroutine[Any, Any, Any], *args: Any
    ) -> bool:
        """Start ``fn(*args)`` as ``go`` does, only if the group is below its limit
        (Group.TryGo); returns whether it was started."""
        coro = _coroutine(fn, args, {}, "Group.try_go()")
        sem = self._sem
        if sem is not None and not sem.trysend(None):
            coro.close()
            return False
        self._start(coro, sem)
        return True

    def _start(self, coro: Coroutine[Any, Any, Any], sem: Chan[None] | None) -> None:
        self._wg.add(1)
        go(self._run, coro, sem)

    async def _run(self, coro: Coroutine[Any, Any, Any], sem: Chan[None] | None) -> None:
        try:
            await coro
        except Exception as e:
            self._record(e)
        finally:
            if sem is not None:
                sem.tryrecv()  # our token: the one we sent is there
            self._wg.done()

    def _record(self, e: Exception) -> None:
        with held(self._lock):
            first = self._err
            if first is None:
                self._err = e
                self._tb = e.__traceback__
            elif not isinstance(e, (Canceled, DeadlineExceeded)):
                first.add_note(f"errgroup: another goroutine of the group also failed: {e!r}")
        if first is None and self._cancel is not None:
            self._cancel(e)

    async def wait(self) -> None:
        """Block until every goroutine started with ``go`` has returned, then raise the
        first error, if any (Group.Wait). The group's context is cancelled either way.
        """
        await self._wg.wait()
        if self._cancel is not None:
            self._cancel(self._err)
        err = self._err
        if err is not None:
            # From the goroutine's traceback each time: a second wait() does not pile
            # the first one's frames on it.
            raise err.with_traceback(self._tb)

    def set_limit(self, n: int) -> None:
        """Allow at most ``n`` active goroutines in the group; negative: no limit (Group.SetLimit).

        Not while goroutines of the group are active: that raises
        ``gosched.Panic`` in Go's words.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"set_limit takes an int, not {type(n).__name__}")
        if n < 0:
            self._sem = None
            return
        sem = self._sem
        if sem is not None and len(sem) != 0:
            raise Panic(f"errgroup: modify limit while {len(sem)} goroutines in the group are still active")
        self._sem = Chan(n)


def with_context(ctx: Context) -> tuple[Group, Context]:
    """A new Group and a context derived from ``ctx`` (errgroup.WithContext).

    The context is cancelled the first time a goroutine of the group raises
    (``context.cause`` of it is that exception) or when ``wait()`` returns,
    whichever comes first.
    """
    c, cancel = with_cancel_cause(ctx)
    g = Group()
    g._cancel = cancel
    return g, c


_fixup(__name__, globals(), __all__)
