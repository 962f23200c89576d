"""run()'s thread: m0 while main is locked to it, and the signal-serving wait.

Why Ms do not block signals. A thread's signal mask is inherited by every
process it starts and survives exec: ``subprocess`` restores the *calling
thread's* mask in the child (``_posixsubprocess`` has no hook to change it;
``preexec_fn`` would disable vfork and is unsafe with threads), and so do
``os.posix_spawn``, ``os.system`` and C libraries. Ms that blocked SIGTERM made
``Popen(...).terminate()`` from a goroutine a no-op and
``multiprocessing.Pool.terminate()`` hang (issue 18). Go can block signals
around its own ``forkExec`` and clear the mask in the child; Python owns the
spawn paths, so gosched leaves the Ms' mask alone instead: an M has the mask of
the thread that called ``run()``, like any thread, and so do its children.

The cost is that the kernel may run Python's C signal handler on an M, which
cannot wake ``run()`` asleep on a lock: Python runs the Python-level handler
(KeyboardInterrupt, the SIGQUIT dump) in the main thread only, at its next
bytecode. So, in the main thread, ``run()`` waits in ``poll`` on a pipe that it
makes the process's signal wakeup fd (``signal.set_wakeup_fd``) for the
duration: the C handler writes the signal number there on whatever thread it
runs, and the main thread wakes and runs the handler. The program's end
writes a zero byte (``panic.finish_locked``). Signal numbers are passed on to
the wakeup fd that was set before (an asyncio loop's), which is restored when
``run()`` returns.

The same loop serves ``gosched.signal`` (sigqueue.py): on every wake-up it
delivers the signals its handler queued and installs or restores handlers
for the goroutines that asked, as only the main thread may.

m0. run()'s thread is also an M, m0 (Go's), and main starts on it, locked to
it until main first blocks, or for good if main calls ``lock_os_thread``
first (lockedm.py; docs/design.md). While main is locked and blocked,
m0 sleeps in this same loop (``wait`` on ``m.park``; startlockedm writes the
pipe), so signals are served as before; once main is unlocked m0 leaves the
scheduler and waits for the end here. Python runs handlers on m0 at any
bytecode, scheduler code included, where an exception would leave the
runtime's state half-changed: so for the run ``SIGINT``'s default handler is
replaced by ``_interrupt``, which raises KeyboardInterrupt only where main's
own code runs (directly under the scheduler loop) and otherwise marks it for
the loop, which raises it at its next wake-up (run() then ends as before:
main's finally blocks run when the end closes it). Handlers that take
runtime locks (deliver, handler changes) run only in the loop.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from . import proc, sigqueue
from .runtime2 import M, Sched

# The wait in progress: (sched, read end, write end, the wakeup fd it replaced).
_active: tuple[Sched, int, int, int] | None = None
_interrupted = False  # a SIGINT _interrupt left for the loop to raise
_PKG = str(Path(__file__).resolve().parent.parent)  # gosched's own frames: .../gosched


@contextlib.contextmanager
def wakeuppipe() -> Iterator[tuple[int, int, int] | None]:
    """A fresh non-blocking pipe as the process's signal wakeup fd, for a wait.

    Yields (read end, write end, the wakeup fd it replaced) on the main thread
    of the main interpreter, None anywhere else (no Python handlers run there).
    At the end the old fd is put back (unless another replaced the pipe meanwhile:
    that one stays), and what the pipe still holds is passed on.
    """
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    try:
        old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter: no Python signal handlers here
        os.close(r)
        os.close(w)
        yield None
        return
    try:
        yield r, w, old
    finally:
        cur = signal.set_wakeup_fd(old)
        if cur != w:  # replaced meanwhile (asyncio's add_signal_handler): theirs stays
            signal.set_wakeup_fd(cur)
            old = cur
        _forward(r, old)  # taken while the wait ran, after the last wake-up
        os.close(r)
        os.close(w)


@contextlib.contextmanager
def serving(sched: Sched) -> Iterator[None]:
    """For the run: the signal wakeup pipe and SIGINT's handler (main thread only).

    On any other thread, or in a subinterpreter, there are no Python signal
    handlers here: ``wait`` is a plain lock wait.
    """
    global _active, _interrupted
    with wakeuppipe() as pipe:
        if pipe is None:
            if threading.current_thread() is threading.main_thread():
                sigqueue.end()  # a subinterpreter's main thread: nothing is served
            yield
            return
        r, w, old = pipe
        _active = (sched, r, w, old)
        _interrupted = False
        with sched.lock:
            sched.wakefd = w
        swapped = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if swapped:
            signal.signal(signal.SIGINT, _interrupt)
        try:
            yield
        finally:
            with sched.lock:
                sched.wakefd = -1
            sigqueue.end()
            if swapped and signal.getsignal(signal.SIGINT) is _interrupt:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            _active = None


class SignalNote:
    """An event whose waiter, on the main thread, still runs signal handlers promptly.

    Python runs a Python-level handler only in the main thread, at its next
    bytecode; the kernel may run the C handler on any thread, and then a main
    thread asleep on a lock (``threading.Event.wait``) never learns of it: a
    Ctrl-C is lost until something else wakes it. So on the main thread
    ``wait`` polls a pipe that is the signal wakeup fd meanwhile
    (``wakeuppipe``), and ``set`` writes it too. gosched.aio's run_forever
    thread waits on one (asyncio.Runner's SIGINT handler cancels the main task).
    """

    def __init__(self) -> None:
        self._ev = threading.Event()
        self._lock = threading.Lock()  # _w is written, or closed, under it
        self._w = -1
        self._poked = False  # poke(): set by a signal handler on the waiting thread

    def poke(self) -> None:
        """set() for a Python signal handler on the waiting thread, which takes no lock (the
        code it interrupted may hold one): the signal's own byte on the pipe ends the wait."""
        self._poked = True

    def set(self) -> None:
        self._ev.set()
        with self._lock:
            if self._w >= 0:
                with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                    os.write(self._w, b"\0")

    def is_set(self) -> bool:
        return self._ev.is_set()

    def clear(self) -> None:
        self._poked = False
        self._ev.clear()

    def _waitlock(self) -> None:
        self._ev.wait()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[Callable[[], None]]:
        """Yield the wait to call, as often as needed, for the duration (one waiter)."""
        with wakeuppipe() as pipe:
            if pipe is None:
                yield self._waitlock
                return
            r, w, old = pipe
            poll = select.poll()
            poll.register(r, select.POLLIN)

            def wait() -> None:
                while not (self._ev.is_set() or self._poked):
                    poll.poll()  # EINTR or a wake-up: the handler runs at the next bytecode
                    _forward(r, old)

            with self._lock:
                self._w = w
            try:
                yield wait
            finally:
                with self._lock:
                    self._w = -1


def wait_done(sched: Sched) -> None:
    """Wait until the program ends (``sched.done``), running signal handlers promptly."""
    wait(sched, sched.done)


def parkfn(sched: Sched, m: M) -> Callable[[], None] | None:
    """m0's notesleep while main is locked and blocked: this loop, on ``m.park``."""
    if _active is None or _active[0] is not sched:
        return None
    return lambda: wait(sched, m.park)


def wait(sched: Sched, note: threading.Lock) -> None:
    """Sleep until ``note`` is released, serving signals meanwhile (main thread, no lock held)."""
    global _interrupted
    act = _active
    if act is None or act[0] is not sched:
        note.acquire()  # handlers run in the main thread, whatever it is doing
        return
    _, r, _, old = act
    poll = select.poll()
    poll.register(r, select.POLLIN)
    while not note.acquire(False):
        if _interrupted:  # Python's own handler, where raising is safe
            _interrupted = False
            signal.default_int_handler(signal.SIGINT, None)
        sigqueue.serve(sched)  # before poll: a request may predate the pipe
        poll.poll()  # a signal on this thread: EINTR runs its handler here (PEP 475)
        _forward(r, old)


def _forward(r: int, old: int) -> None:
    """Pass the signal numbers in the pipe on to the wakeup fd run() replaced."""
    try:
        data = os.read(r, 512).replace(b"\0", b"")
    except BlockingIOError:
        return
    if data and old >= 0:
        try:
            os.write(old, data)
        except OSError:
            pass  # full or closed: Python's own handler drops it alike


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT during a run: KeyboardInterrupt in main's own code, else at the loop's next wake-up."""
    global _interrupted
    if _inmain(frame):
        signal.default_int_handler(signum, frame)
    _interrupted = True
    act = _active
    if act is not None:
        with contextlib.suppress(OSError):
            os.write(act[2], b"\0")


def _inmain(frame: FrameType | None) -> bool:
    """The innermost gosched frame is the scheduler loop: the goroutine's own code runs."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(_PKG):
            return frame.f_code is proc.schedule.__code__
        frame = frame.f_back
    return False


def afterforkchild() -> None:
    """A child forked while run() waits: give back the wakeup fd, drop the pipe.

    The child's signals must not wake the parent's run() (the pipe is shared),
    and the child runs no runtime (proc.afterforkchild).
    """
    global _active
    sigqueue.afterforkchild()
    if signal.getsignal(signal.SIGINT) is _interrupt:  # Ctrl-C in the child: as in any program
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if _active is None:
        return
    sched, r, w, old = _active
    _active = None
    sched.wakefd = -1  # the child's copy: it has no other thread
    signal.set_wakeup_fd(old)  # the forking thread is the child's main thread
    os.close(r)
    os.close(w)

