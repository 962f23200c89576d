"""asyncio on gosched: an event loop whose tasks are goroutines (issue 12).

Run an asyncio program on gosched as on uvloop::

    import gosched.aio

    gosched.aio.run(main())                                   # like asyncio.run
    asyncio.run(main(), loop_factory=gosched.aio.new_event_loop)   # 3.12+
    with asyncio.Runner(loop_factory=gosched.aio.new_event_loop) as r:
        r.run(main())

Every task is a goroutine: a task stuck in a blocking call or a CPU loop does
not stop the others (sysmon hands its P away), a program whose tasks all wait
forever ends with checkdead's deadlock report, and ``gosched.dump()`` lists the
tasks. Inside ``gosched.run``, goroutines can ``await`` asyncio code directly.
See docs/aio.md for what is guaranteed between two awaits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._aio.loop import EventLoop
from ._aio.task import Task

T = TypeVar("T")

__all__ = ["EventLoop", "EventLoopPolicy", "Task", "install", "new_event_loop", "run"]


def new_event_loop(*, clock: str = "real") -> EventLoop:
    """A new gosched event loop (``clock="fake"``: virtual time, if it starts the runtime)."""
    return EventLoop(clock=clock)


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None, clock: str = "real") -> T:
    """Run ``main`` on a new gosched event loop and close it (``asyncio.run``'s contract)."""
    with asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(clock=clock)) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose loops are gosched's (uvloop's shape)."""

    def new_event_loop(self) -> EventLoop:
        return new_event_loop()


def install() -> None:
    """Make gosched's loop asyncio's default (``asyncio.set_event_loop_policy``)."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
