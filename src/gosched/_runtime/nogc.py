"""The cyclic collector held off while the runtime reads another goroutine's frames.

On CPython 3.11 a collection runs inside any allocation, and its finalizers run
Python code, where the GIL can pass to another thread. Reading a coroutine's
``cr_frame`` (or a thread's ``f_back``, a frame's ``f_locals``) allocates the
frame object or its dict *while holding a raw pointer to the frame's data*: if
another M resumes that goroutine meanwhile and its coroutine ends, the frame
object is left pointing into the freed coroutine (a crash later, at the first
``f_code``: seen in test_leaks while a worker slept and woke on another M). With
the collector off, making a frame object runs no Python code, so it is atomic
under the GIL, as CPython's own ``sys._current_frames`` makes it (gh-106883).
From 3.12 a collection waits for the eval loop's next check; the guard costs
little there.

``gc.disable`` is process-wide: nested and concurrent readers (a dump on
sysmon's thread while a goroutine checks for leaks) share one count, and the
last one out turns the collector back on only if it was on when the first came in.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.RLock()  # reentrant: a signal handler (a SIGQUIT dump) may come in on a thread inside
_readers = 0
_wason = False


@contextmanager
def nogc() -> Iterator[None]:
    """Hold the cyclic collector off for the block (see the module docstring)."""
    global _readers, _wason
    with _lock:
        _readers += 1  # first: a handler that comes in from here on sees a reader inside
        if _readers == 1:
            _wason = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            wason = _wason  # before the count drops: a handler coming in after it sets its own
            _readers -= 1
            if _readers == 0 and wason:
                gc.enable()
