"""How a run ends badly (Go's runtime/panic.go): gopanic, fatal (the exception types are errors.py's).

An uncaught exception in a goroutine ends the program, as a Go panic does; a
fatal error (``throw``, thread exhaustion) cannot even be caught. Both record
the outcome on the scheduler and end the run (``finish_locked``), which wakes
``run()``. The lowest module of the scheduler layer: the run queues, the Ms and
proc all report through it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from .errors import Goexit
from .runtime2 import G, M, Sched
from .speedups import EXIT as _EXIT

log = logging.getLogger("gosched")

# Set in a child process forked from a goroutine (fork.py): the forking M, and
# what it does when its scheduler loop returns (the rest of that goroutine as
# plain Python, then the process exits; never returns).
afterfork: tuple[M, Callable[[], None]] | None = None


def over(sched: Sched) -> bool:
    """The run has ended for its goroutines (``abandon``; ``fatal`` keeps its outcome).

    Not in a child forked from a goroutine: there ``dead`` only stops the
    scheduler loop, and the goroutine goes on as plain Python (fork._childmain),
    its exception deciding the child's exit status.
    """
    return sched.dead and afterfork is None


def fatal(sched: Sched, err: BaseException, locked: bool = False) -> None:
    """End the program with ``err`` (a panic or a fatal error)."""
    if not locked:
        sched.lock.acquire()
    try:
        if sched.panic is None and sched.deadlock is None:
            if over(sched):  # main returned first: the run's outcome stands (Go has exited by now)
                log.error("gosched: goroutine raised after its run ended (ignored)", exc_info=err)
            else:
                sched.panic = err
        finish_locked(sched)
    finally:
        if not locked:
            sched.lock.release()


def finish_locked(sched: Sched) -> None:
    """End the run (sched.lock held): nothing runs any more, and run() wakes."""
    if not sched.dead:
        sched.dead = True
        wakerun_locked(sched)


def wakerun_locked(sched: Sched) -> None:
    """Let run() return (sched.lock held, which keeps ``wakefd`` open while it is written)."""
    sched.done.release()
    m0 = sched.m0
    if m0 is not None and not m0.freed:  # m0 asleep in stoplockedm (or about to be)
        try:
            m0.park.release()
        except RuntimeError:  # woken already
            pass
    wakefd(sched)


def wakefd(sched: Sched) -> None:
    """Wake run()'s thread if it waits in poll (sigwait.wait), as run() or as m0 parked."""
    if sched.wakefd >= 0:
        try:
            os.write(sched.wakefd, b"\0")
        except OSError:  # full: it is awake already
            pass


def gnote(gp: G) -> str:
    note = f"gosched: raised in goroutine {gp.goid} ({gp.startfn})"
    if gp.gopc is not None:
        note += f", created by {gp.gopc[2]} at {gp.gopc[0]}:{gp.gopc[1]}"
    return note


def gopanic(sched: Sched, gp: G, e: BaseException) -> None:
    if e is sched.panic:  # a fatal error (throw) already ended the run, noted
        return
    try:
        e.add_note(gnote(gp))
    except AttributeError:  # pragma: no cover - not an Exception
        pass
    fatal(sched, e)


def goexitpanic(sched: Sched, gp: G, e: BaseException) -> Any:
    """gp raised: Goexit ends it (Go's runtime.Goexit); anything else uncaught ends
    the program (a Go panic, gopanic). Either way gp exits."""
    if isinstance(e, Goexit):
        if gp is sched.main_g:
            sched.main_goexited = True
    else:
        gopanic(sched, gp, e)
    return _EXIT
