"""run_forever on the main thread: the thread is an M of the runtime until stop() (aio-bugs #14).

asyncio's main task (the one asyncio.Runner or run_until_complete creates on the
main thread) must run its steps on the main thread: ``signal.signal`` works only
there (aio-bugs #3). So while the main thread runs the loop it lends itself to
the scheduler as an M (``_runtime/mainm.py``, a *borrowed* M), the main tasks'
goroutines are bound to it, and it runs the other goroutines too while they
wait: a program whose tasks ping-pong with the main task runs on the main
thread alone. Between goroutines, and while idle, it serves what must run on
it (``loop._gonmain``'s calls) and the SIGINT handlers it deferred.

Python runs a signal handler on the main thread at any bytecode, scheduler code
included, where a handler that touches the loop (asyncio.Runner's cancels the
main task) could find a runtime lock held by the code it interrupted, or raise
KeyboardInterrupt with the runtime's state half-changed. So for the run SIGINT's
handler is wrapped: it runs at once where a goroutine's own code runs (a task's
step, a callback, a plain goroutine: asyncio's behaviour), and otherwise at the
M's next stop between goroutines (sigwait._interrupt does the same for m0).
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from .._runtime import mainm, proc
from .._runtime.sigwait import SignalNote
from .dispatch import _runbatch, _runhandle, _runready
from .task import _drive, _formain, _step

if TYPE_CHECKING:
    from .loop import EventLoop

# The gosched frames under which a goroutine's own code runs: a handler interrupting the
# code they call (not their own bytecode) runs at once. (_drive, _runbatch and _runready:
# for the accelerator's steps and runhandle, which call that code from C.)
_OWNCODE: frozenset[CodeType] = frozenset(
    (proc.schedule.__code__, _step.__code__, _formain.__code__, _runhandle.__code__,
     _drive.__code__, _runbatch.__code__, _runready.__code__)
)

Handler = Callable[[int, FrameType | None], Any]


def lend(loop: EventLoop, note: SignalNote, wait: Callable[[], None]) -> None:
    """Run the scheduler on this thread (the main thread, in run_forever) until the loop stops."""
    sched = loop._gsched
    assert sched is not None
    deferred: deque[tuple[Handler, int, FrameType | None]] = deque()

    def serve() -> None:
        while deferred:  # may raise (a second Ctrl-C): out of run_forever, as on asyncio's loop
            fn, signum, frame = deferred.popleft()
            fn(signum, frame)
        loop._gservecalls()

    def sleep() -> None:
        wait()
        note.clear()

    b = mainm.Borrow(sleep, note.set, serve)
    old = signal.getsignal(signal.SIGINT)
    wrapper: Handler | None = None
    if callable(old):
        wrapper = _deferring(old, deferred, b, note)
        signal.signal(signal.SIGINT, wrapper)
    with loop._glock:
        loop._gborrow = b
        loop._gdeferred = deferred
        b.leave = loop._gstopped.is_set()  # stopped before it got here (_gstop saw no borrow)
    m = loop._gm = mainm.borrow(sched, loop._gm, b, loop._gmaings)
    try:
        loop._gbegin()
        proc.schedule(m)
    finally:
        with loop._glock:
            loop._gborrow = None
            loop._gdeferred = None
        mainm.giveback(m)
        if wrapper is not None and signal.getsignal(signal.SIGINT) is wrapper:
            signal.signal(signal.SIGINT, old)
        serve()  # a SIGINT deferred while it left


def _deferring(
    fn: Handler, deferred: deque[tuple[Handler, int, FrameType | None]], b: mainm.Borrow, note: SignalNote
) -> Handler:
    def handler(signum: int, frame: FrameType | None) -> Any:
        if _owncode(frame):
            return fn(signum, frame)
        deferred.append((fn, signum, frame))
        b.pending = True  # no lock here: the code interrupted may hold it
        note.poke()
        return None

    return handler


def _owncode(frame: FrameType | None) -> bool:
    """Does ``frame`` run a goroutine's own code: is the innermost gosched frame under it
    one of _OWNCODE, and not the frame interrupted itself?"""
    f = frame
    while f is not None:
        if str(f.f_globals.get("__name__", "")).startswith("gosched."):
            return f is not frame and f.f_code in _OWNCODE
        f = f.f_back
    return True
