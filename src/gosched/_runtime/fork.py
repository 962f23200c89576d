"""os.fork() while a runtime runs: the child leaves the runtime.

Go has no fork without exec (``syscall.ForkExec`` only). In Python,
``os.fork()`` copies only the calling thread: the child of a goroutine has
that goroutine's M and none of the others, no sysmon, and the runtime's locks
as they were at the fork, some held by threads that no longer exist. Going on
with the scheduler there ran goroutines no sysmon would retake, or waited on
locks no one would release: the child hung (issue 14, item 3).

So the child keeps the forking goroutine's code and nothing else. From the
fork on, that code is plain Python on the child's only (and main) thread:

* ``os._exit``, ``exec``, and what ``multiprocessing`` runs in a fork child
  (its own function, then ``os._exit``) work as in any Python program.
* Runtime calls that need a goroutine (channel waits, ``sleep``, ``select``,
  ``go``...) raise ``RuntimeError`` saying the process was forked
  (``traps.FORKED``); a runtime lock that another M held at the fork raises
  the same instead of waiting for ever (``lock.lock2``/``lockslow``).
* ``gosched.run()`` in the child starts a fresh runtime.
* When the goroutine returns or raises, the child exits: status 0, the
  ``SystemExit`` code, or 1 after printing the traceback. Stdio is flushed;
  atexit handlers do not run (they are the parent's), as with
  ``multiprocessing``'s fork children.

The locks the forking M's way out of its scheduler loop may take (``sched``'s,
the P timer locks) are made anew in the child, as CPython does for its own
locks after a fork.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import traceback

from . import panic, proc, traps
from .runtime2 import G, Sched
from .traps import getm, preempted, setm


def afterforkchild() -> None:
    """``os.register_at_fork(after_in_child=...)``, via main.py: leave the runtime."""
    m = getm()
    sched = m.sched if m is not None else proc.current
    proc.current = None
    if sched is None:
        return
    traps.forked = True
    preempted.clear()
    setm(None)  # this thread is no M: runtime calls say so (traps.outside_goroutine)
    sched.lock = threading.Lock()
    for p in sched.allp:
        p.timerslock = threading.Lock()
    sched.dead = True  # the loop returns at its next round; no M starts (startm, wakep)
    sched.panic = None
    if m is not None:
        m.lostp_since = 0  # no blocking report from the child (sysmon.lostp_returned)
    if m is not None and m.curg is not None:
        panic.afterfork = (m, functools.partial(_childmain, sched, m.curg))


def _childmain(sched: Sched, gp: G) -> None:
    """The rest of goroutine ``gp`` in the child it forked, as plain Python; then exit.

    The scheduler loop has returned: ``gp`` ended there (its exception is
    ``sched.panic``), or it still has code to run (it forked inside
    ``gosched.syscall``, whose result is ``gp.param``, or yielded to the loop).
    """
    err = sched.panic
    coro = gp.coro
    if coro is not None:
        val, exc = gp.param, gp.exc
        gp.param = gp.exc = None
        try:
            while True:
                tr = coro.send(val) if exc is None else coro.throw(exc)
                val, exc = None, None  # a bare yield (asyncio.sleep(0)) just goes on
                if tr is not None:
                    exc = RuntimeError(f"gosched: {tr!r} awaited; {traps.FORKED}")
        except StopIteration:
            pass
        except BaseException as e:
            err = e
    os._exit(_exitstatus(err))


def _exitstatus(err: BaseException | None) -> int:
    """The child's exit status for how its goroutine ended, as Python's for a main program."""
    code = 0
    if isinstance(err, SystemExit):
        if err.code is None or isinstance(err.code, int):
            code = err.code or 0
        else:
            print(err.code, file=sys.stderr)
            code = 1
    elif err is not None and not isinstance(err, panic.Goexit):
        traceback.print_exception(err)
        code = 1
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (AttributeError, OSError, ValueError):
            pass
    return code
