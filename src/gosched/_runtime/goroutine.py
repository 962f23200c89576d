"""gosched.Goroutine: the read-only handle ``gosched.go`` returns.

The G (runtime2.py) is the scheduler's: its fields change under the runtime's
locks and ownership rules. Users get this view of it instead, as trio's Task
and asyncio's Task are views: an identity that never changes (``id``, ``name``,
``created_by``) and live, read-only properties (``state``, ``done``). The C
``go()`` (_speedups.c) allocates it and fills its slots by offset, so the handle
costs a spawn one small object and no Python frame.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any, final

from .runtime2 import GSTATUS_STRINGS, G, Gdead, Gwaiting


def _noinner(c: Any) -> Any:
    return None


# A hook for goroutines whose coroutine drives another (gosched._aio: an asyncio task's
# goroutine runs a driver that sends into the task's coroutine; a plain goroutine that
# runs asyncio code, one that holds the loop's turn around its own): the coroutine
# driven, which names the goroutine and is walked in its place in stacks (traceback.py).
coroinner: Callable[[Any], Any] = _noinner


@final
class Goroutine:
    """A goroutine started by :func:`gosched.go`.

    ``id``, ``name`` and ``created_by`` never change; ``state`` and ``done`` are
    read live (a snapshot: the goroutine runs on). Two handles are equal when
    they are for the same goroutine. Not constructed by users.
    """

    __slots__ = ("_code", "_g")

    _g: G  # the runtime's G; white-box tests may reach it, programs should not
    _code: CodeType | None  # the start function's: the G drops its coroutine when it ends

    def __init__(self, g: G) -> None:
        self._g = g
        c = g.coro
        self._code = getattr(coroinner(c) or c, "cr_code", None)

    @property
    def id(self) -> int:
        """The goroutine's id, as Go's tracebacks print it (goroutine 1 is main)."""
        return self._g.goid

    @property
    def name(self) -> str:
        """The qualified name of the goroutine's start function (``worker``, ``Server.serve``)."""
        code = self._code
        return code.co_qualname if code is not None else "?"

    @property
    def state(self) -> str:
        """What the goroutine is doing, in the words of Go's goroutine dumps.

        ``"runnable"``, ``"running"``, ``"syscall"``, ``"dead"``, or while it
        waits its wait reason: ``"chan receive"``, ``"select"``, ``"sleep"``,
        ``"IO wait"``, ``"sync.Mutex.Lock"``...
        """
        g = self._g
        status, reason = g.status, g.waitreason
        if status == Gwaiting and reason:
            return reason
        return GSTATUS_STRINGS.get(status, "?")

    @property
    def done(self) -> bool:
        """True once the goroutine has returned, raised or been closed."""
        return self._g.status == Gdead

    @property
    def created_by(self) -> tuple[str, int, str] | None:
        """Where ``go()`` was called: ``(file, line, function)`` (Go's "created by")."""
        return self._g.gopc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Goroutine):
            return NotImplemented
        return self._g is other._g

    def __hash__(self) -> int:
        return id(self._g)

    def __repr__(self) -> str:
        return f"<Goroutine {self.id} {self.name} [{self.state}]>"
