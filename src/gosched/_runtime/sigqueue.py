"""The runtime side of ``gosched.signal`` (Go's runtime/sigqueue.go).

Python runs signal handlers in the main thread only, and only it may call
``signal.signal``; goroutines run on other threads. While ``run()`` waits in
the main thread (sigwait.wait_done) it *serves* signals:

* the handler gosched installs (``_handler``, Go's ``sigsend``) only queues
  the signal number and writes a byte to run()'s wakeup pipe: it may run at
  any bytecode of the main thread, where taking a runtime lock could deadlock;
* ``serve`` (called by the wait loop on every wake-up, with no lock held)
  hands the queued signals to ``deliver`` (gosched.signal's ``process``, Go's
  os/signal ``process``: non-blocking channel sends from a thread with no M),
  then makes the installed handlers match ``_want`` (Go's
  ``signal_enable``/``signal_disable``/``signal_ignore``);
* ``sync`` (a goroutine changed ``_want``) wakes the main thread and waits for
  one such pass, so that when ``notify``/``stop`` return the handlers are in
  place, and a signal taken before ``stop`` has been delivered (Go's
  ``signalWaitUntilIdle``).

When the wait ends (the run is over), every handler is put back as it was
and the queued signals are dropped: no handler of gosched outlives ``run()``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .runtime2 import Sched

# gosched.signal's os/signal side, installed when it is imported: deliver a signal
# to the channels that want it; forget every registration (the run ended; True:
# in a forked child, where a thread that no longer exists may hold its lock).
deliver: Callable[[int], None] | None = None
onend: Callable[[bool], None] | None = None

# The ids of the channels registered by notify (which holds them, so the ids stay
# theirs): checkdead counts a goroutine blocked on one as wakeable (Go's os/signal
# disables checkdead, golang/go#21576). Published by one store, read without a
# lock (synctest.foreign).
watched: frozenset[int] = frozenset()

_cond = threading.Condition(threading.Lock())
_want: dict[int, Any] = {}  # signal -> _handler or SIG_IGN; absent: as before gosched took it
_asked = 0  # sync() requests so far ...
_served = 0  # ... and how many of them the main thread has applied
_serving: Sched | None = None  # the run whose main thread serves signals now
_pending: deque[int] = deque()  # signals taken by _handler, not yet delivered
_saved: dict[int, Any] = {}  # main thread only: signal -> the handler gosched replaced


def _wake(sched: Sched | None) -> None:
    fd = sched.wakefd if sched is not None else -1
    if fd >= 0:
        try:
            os.write(fd, b"\0")
        except OSError:  # full: the main thread is awake already
            pass


def _handler(signum: int, frame: Any) -> None:
    """The Python-level handler (main thread, at any bytecode): queue and wake."""
    _pending.append(signum)  # deque.append is atomic; serve pops from the left
    _wake(_serving)


def want(sig: int, action: Any) -> None:
    """(gosched.signal's lock held) Catch ``sig`` (``"notify"``), ignore it
    (``signal.SIG_IGN``), or give it back (None); applied at the next ``sync``."""
    with _cond:
        if action is None:
            _want.pop(sig, None)
        else:
            _want[sig] = _handler if action == "notify" else action


def check(what: str) -> None:
    """Raise unless a run's main thread serves signals now."""
    if _serving is None:
        raise RuntimeError(
            f"gosched.signal.{what} needs gosched.run() running on the main thread "
            f"(Python runs signal handlers there only)"
        )


def sync() -> None:
    """Wait until the main thread has delivered the signals it took and applied ``_want``.

    Returns at once if no run serves signals (its end has put every handler back).
    """
    global _asked
    with _cond:
        s = _serving
        if s is None:
            return
        _asked += 1
        mine = _asked
    if threading.current_thread() is threading.main_thread():
        serve(s)
        return
    with s.lock:  # wait_done sets wakefd under it; before that, its first pass serves us
        _wake(s)
    with _cond:
        # Bounded waits: the run may end meanwhile (then end() has put everything back).
        while _served < mine and _serving is s:
            _cond.wait(0.1)


def serve(sched: Sched) -> None:
    """(main thread, no lock held) Deliver queued signals, then apply ``_want``."""
    global _served
    while _pending:
        sig = _pending.popleft()
        if deliver is not None:
            deliver(sig)
    with _cond:
        target = dict(_want)
        asked = _asked
    for sig in set(_saved) | set(target):
        h = target.get(sig)
        if h is None:
            old = _saved.pop(sig)
            signal.signal(sig, signal.SIG_DFL if old is None else old)  # None: not set from Python
        elif signal.getsignal(sig) is not h:
            old = signal.signal(sig, h)
            _saved.setdefault(sig, old)
    with _cond:
        _served = max(_served, asked)
        _cond.notify_all()


def begin(sched: Sched) -> None:
    """run() starts: its main thread will serve signals for ``sched`` (wait_done).

    Called before main starts, which may call ``notify`` at once; requests made
    before the wait loop runs are served by its first pass.
    """
    global _serving
    if threading.current_thread() is not threading.main_thread():
        return
    with _cond:
        _serving = sched


def end(forked: bool = False) -> None:
    """(main thread) run()'s wait ends: put every handler back, forget every registration."""
    global _serving, watched, _cond
    if forked:  # another thread may have held it
        _cond = threading.Condition(threading.Lock())
    with _cond:
        _serving = None
        _want.clear()
        _cond.notify_all()
    watched = frozenset()
    _pending.clear()
    if onend is not None:
        onend(forked)
    while _saved:
        sig, old = _saved.popitem()
        signal.signal(sig, signal.SIG_DFL if old is None else old)  # None: not set from Python


def afterforkchild() -> None:
    """A child forked during a run: its signals take their usual action again (its
    handler would queue them for a main thread that does not serve them there), as
    a Go child starts with default handlers."""
    end(forked=True)
