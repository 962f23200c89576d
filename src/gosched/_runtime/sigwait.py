"""run()'s wait for the program to end, woken by a signal whichever thread takes it.

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
"""

from __future__ import annotations

import os
import select
import signal
import threading

from . import sigqueue
from .runtime2 import Sched

# The wait in progress: (sched, read end, write end, the wakeup fd it replaced).
_active: tuple[Sched, int, int, int] | None = None


def wait_done(sched: Sched) -> None:
    """Wait until the program ends (``sched.done``), running signal handlers promptly."""
    global _active
    if threading.current_thread() is not threading.main_thread():
        sched.done.acquire()  # handlers run in the main thread, whatever it is doing
        return
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    try:
        old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter: no Python signal handlers here
        os.close(r)
        os.close(w)
        sigqueue.end()
        sched.done.acquire()
        return
    _active = (sched, r, w, old)
    with sched.lock:
        sched.wakefd = w
    try:
        poll = select.poll()
        poll.register(r, select.POLLIN)
        while not sched.done.acquire(False):
            sigqueue.serve(sched)  # before poll: a request may predate the pipe
            poll.poll()  # a signal on this thread: EINTR runs its handler here (PEP 475)
            try:
                data = os.read(r, 512).replace(b"\0", b"")
            except BlockingIOError:
                continue
            if data and old >= 0:
                try:
                    os.write(old, data)
                except OSError:
                    pass  # full or closed: Python's own handler drops it alike
    finally:
        with sched.lock:
            sched.wakefd = -1
        sigqueue.end()
        _active = None
        signal.set_wakeup_fd(old)
        os.close(r)
        os.close(w)


def afterforkchild() -> None:
    """A child forked while run() waits: give back the wakeup fd, drop the pipe.

    The child's signals must not wake the parent's run() (the pipe is shared),
    and the child runs no runtime (proc.afterforkchild).
    """
    global _active
    sigqueue.afterforkchild()
    if _active is None:
        return
    sched, r, w, old = _active
    _active = None
    sched.wakefd = -1  # the child's copy: it has no other thread
    signal.set_wakeup_fd(old)  # the forking thread is the child's main thread
    os.close(r)
    os.close(w)

