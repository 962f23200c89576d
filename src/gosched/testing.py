"""Test helpers in the spirit of Go's testing/synctest.

Run the code under test with ``gosched.run(main, clock="fake")`` (or the pytest
plugin's ``@pytest.mark.gosched(clock="fake")``): time starts at
2000-01-01 00:00:00 UTC and jumps straight to the next timer whenever every
goroutine is durably blocked, so ``await gosched.sleep(3600)`` returns at once
in wall time with ``gosched.now()`` exactly 3600 s later.

``wait()`` is ``synctest.Wait``: it returns once every other goroutine is
durably blocked -- blocked so that only another goroutine of the program can
wake it (a channel operation, select, sleep, WaitGroup.wait, Mutex.lock on a
lock held by a goroutine, ``select`` with no cases). A goroutine in
``gosched.syscall``, waiting for I/O in the netpoller, running, or blocked on an
object a plain thread uses (``foreign``) is not durably blocked, and keeps
``wait()`` (and the fake clock) waiting.
"""

from __future__ import annotations

from ._public import fixup_module_metadata as _fixup
from ._runtime import synctest as _synctest
from ._runtime.gotime import sleep as _sleep

__all__ = ["sleep", "wait"]


async def wait() -> None:
    """Block until every other goroutine is durably blocked (synctest.Wait).

    Raises ``RuntimeError("wait already in progress")`` if another goroutine is
    already in ``wait()``. Its wait reason in dumps is ``synctest.Wait``.
    """
    await _synctest.wait()


async def sleep(seconds: float) -> None:
    """``sleep(seconds)`` then ``wait()`` (Go 1.27's synctest.Sleep)."""
    await _sleep(seconds)
    await wait()


_fixup(__name__, globals(), __all__)
