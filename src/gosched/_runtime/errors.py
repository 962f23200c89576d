"""The runtime's exception types, in the lowest layer so every module can raise them.

Go has no exceptions; these stand for its ways of stopping: a run-time
``panic`` (``send on closed channel``), a ``fatal error`` nothing can recover
(``thread exhaustion``), ``runtime.Goexit``, a receive's ``ok == false``, and
checkdead's report. Defined here rather than beside their first raiser so that
``sync`` need not import ``chan`` to panic, and there is one of each (curio's
``errors.py`` does the same). ``gosched`` exports them under its own name.
"""

from __future__ import annotations


class Goexit(BaseException):
    """Raised by ``gosched.goexit()``; unwinds the goroutine through its finally blocks."""


class Fatal(BaseException):
    """An unrecoverable runtime error, worded as Go's ``fatal error: ...``.

    Go's ``fatal`` cannot be recovered: the process dies even under ``recover()``.
    Here it is a BaseException (like Goexit), so ``except Exception`` lets it
    through, and ``throw`` records it on the scheduler where it is raised, so a
    goroutine that catches it anyway does not go on: the run ends at its next
    scheduling point and ``run()`` raises it.
    """


class Panic(RuntimeError):
    """A run-time panic in Go's words (``send on closed channel``, ...)."""


class ClosedChannelError(Panic):
    """Send on, or close of, a closed channel."""


class Closed(Exception):
    """``recv()`` on a channel that is closed and drained (Go's ``v, ok := <-c`` with ok false)."""


class Deadlock(RuntimeError):
    """No goroutine can ever run again.

    ``str(e)`` starts with Go's line (``all goroutines are asleep - deadlock!``,
    or synctest's under the fake clock) and holds the goroutine dump. ``reason``
    is that first line alone, ``dump`` the rest.
    """

    @property
    def reason(self) -> str:
        return str(self).split("\n", 1)[0]

    @property
    def dump(self) -> str:
        parts = str(self).split("\n\n", 1)
        return parts[1] if len(parts) > 1 else ""
