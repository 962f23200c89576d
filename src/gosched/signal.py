"""Go's os/signal: incoming signals delivered on channels.

::

    from gosched import signal
    import signal as stdsignal

    async def main() -> None:
        sigs = gosched.Chan[stdsignal.Signals](1)    # buffered: see notify
        signal.notify(sigs, stdsignal.SIGINT, stdsignal.SIGTERM)
        sig = await sigs.recv()                     # stdsignal.Signals.SIGTERM
        ...

    async def main() -> None:                       # or as a context
        ctx, stop = signal.notify_context(context.background(), stdsignal.SIGINT)
        try:
            await serve(ctx)                        # returns once Ctrl-C cancels ctx
        finally:
            stop()

As in Go, a signal is sent on each channel that asked for it *without
blocking*: if the channel is not ready (its buffer is full, or no goroutine is
receiving from an unbuffered one) the signal is dropped for that channel. Use a
buffered channel: capacity 1 is enough for one kind of signal; a channel
waiting for several may want more. A closed channel is skipped (Go panics).

Python runs signal handlers in the main thread only, and only the main thread
may install them; gosched's ``run()`` keeps the main thread for that while the
goroutines run on other threads. So these functions
need ``run()`` called from the main thread; ``notify`` and ``ignore`` raise
``RuntimeError`` elsewhere. When they return, the handlers are in place (or put
back). Every handler gosched installs is put back as it was when ``run()``
returns, and every registration is forgotten: nothing outlives the run. A child
forked during the run (``os.fork()``, multiprocessing) starts with them put back,
so its SIGTERM still ends it.

"All signals" (``notify(ch)``, ``ignore()``, ``reset()`` with no signal) means
every signal the process can catch except ``SIGSEGV``, ``SIGBUS``, ``SIGFPE``
and ``SIGILL``: a Python handler cannot return from a real fault (the
instruction faults again), where Go's runtime panics and only delivers those
sent by ``kill``. ``SIGKILL`` and ``SIGSTOP`` cannot be caught at all: naming
them raises ``ValueError``. ``ignore()`` with no signal ignores ``SIGCHLD``
too, which makes the kernel reap children (``subprocess`` waits then fail):
name the signals you mean.

A goroutine blocked on a channel registered by ``notify`` (alone or in a
``select``) is never reported as deadlocked: a signal may still wake it (Go's
os/signal silences checkdead for the same reason).
"""

from __future__ import annotations

import signal as _sig
import threading
from collections.abc import Callable
from typing import Any

from . import context
from ._public import fixup_module_metadata as _fixup
from ._runtime import sigqueue
from ._runtime.chan import Chan
from ._runtime.errors import ClosedChannelError
from ._runtime.main import go
from ._runtime.select import recv, select

__all__ = ["ignore", "ignored", "notify", "notify_context", "reset", "stop"]

UNCATCHABLE = frozenset({_sig.SIGKILL, _sig.SIGSTOP})
# Left out of "all signals": a Python handler cannot return from a real fault.
SYNCHRONOUS = frozenset({_sig.SIGBUS, _sig.SIGFPE, _sig.SIGILL, _sig.SIGSEGV})

_lock = threading.Lock()
_handlers: dict[Chan[Any], set[int]] = {}  # channel -> the signals it wants (Go's handlers.m)
_ref: dict[int, int] = {}  # signal -> how many channels want it (Go's handlers.ref)
_stopping: list[tuple[Chan[Any], set[int]]] = []  # stop() in progress (Go's handlers.stopping)


def _all() -> list[int]:
    return sorted(int(s) for s in _sig.valid_signals() if s not in UNCATCHABLE and s not in SYNCHRONOUS)


def _signums(signals: tuple[int, ...], what: str) -> list[int]:
    if not signals:
        return _all()
    out = []
    valid = _sig.valid_signals()
    for s in signals:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"gosched.signal.{what}: a signal is an int, not {type(s).__name__}")
        if s not in valid:
            raise ValueError(f"gosched.signal.{what}: {s} is not a signal")
        if s in UNCATCHABLE:
            raise ValueError(f"gosched.signal.{what}: {_sig.Signals(s).name} cannot be caught or ignored")
        out.append(int(s))
    return out


def _publish() -> None:
    """(_lock held) Tell checkdead which channels a signal may still wake."""
    sigqueue.watched = frozenset(id(c) for c in (*_handlers, *(c for c, _ in _stopping)))


def notify(ch: Chan[Any], *signals: int) -> None:
    """Relay ``signals`` (all signals if none) to ``ch`` (Go's signal.Notify).

    Each signal is sent without blocking: use a buffered channel (see the module
    doc). Calling it again for the same channel adds signals; ``stop(ch)`` ends it.
    While a channel is registered, its signals do not take their usual action
    (Ctrl-C no longer raises ``KeyboardInterrupt``).
    """
    if not isinstance(ch, Chan):
        raise TypeError("os/signal: Notify using nil channel")
    sigs = _signums(signals, "notify")
    sigqueue.check("notify")
    with _lock:
        h = _handlers.setdefault(ch, set())
        for n in sigs:
            if n not in h:
                h.add(n)
                if not _ref.get(n):
                    sigqueue.want(n, "notify")
                _ref[n] = _ref.get(n, 0) + 1
        _publish()
    sigqueue.sync()


def _cancel(sigs: list[int], action: Any) -> None:
    """Go's os/signal cancel: no channel gets ``sigs`` any more; then ``action`` them."""
    with _lock:
        for n in sigs:
            for c, h in list(_handlers.items()):
                if n in h:
                    h.discard(n)
                    _ref[n] -= 1
                    if not h:
                        del _handlers[c]
            sigqueue.want(n, action)
        _publish()
    sigqueue.sync()


def ignore(*signals: int) -> None:
    """Ignore ``signals`` (all signals if none), and stop relaying them (Go's signal.Ignore)."""
    sigs = _signums(signals, "ignore")
    sigqueue.check("ignore")
    _cancel(sigs, _sig.SIG_IGN)


def ignored(sig: int) -> bool:
    """Whether ``sig`` is ignored now (Go's signal.Ignored)."""
    return _sig.getsignal(sig) is _sig.SIG_IGN


def reset(*signals: int) -> None:
    """Undo ``notify`` and ``ignore`` for ``signals`` (all signals if none): they take
    the action they had before gosched.signal took them (Go's signal.Reset)."""
    _cancel(_signums(signals, "reset"), None)


def stop(ch: Chan[Any]) -> None:
    """Stop relaying signals to ``ch`` (Go's signal.Stop); a no-op if it gets none.

    A signal taken before ``stop`` may still be sent to ``ch`` while it runs, not
    after it returns. A signal no channel wants any more takes its usual action again.
    """
    with _lock:
        h = _handlers.pop(ch, None)
        if h is None:
            return
        for n in h:
            _ref[n] -= 1
            if not _ref[n]:
                sigqueue.want(n, None)
        # Go's race for SIGINT: a signal is either delivered to ch or takes its
        # usual action. One taken already is still delivered until the main
        # thread's pass that sync() waits for (Go's signalWaitUntilIdle).
        _stopping.append((ch, h))
        _publish()
    sigqueue.sync()
    with _lock:
        _stopping[:] = [(c, s) for c, s in _stopping if c is not ch]
        _publish()


def _process(n: int) -> None:
    """(main thread, sigqueue.serve) Send signal ``n`` to every channel that wants it (Go's process)."""
    with _lock:
        chans = [c for c, h in (*_handlers.items(), *_stopping) if n in h]
    try:
        sig: int = _sig.Signals(n)
    except ValueError:  # a real-time signal: Python has no name for it
        sig = n
    for c in chans:
        try:
            c.trysend(sig)  # send but do not block for it
        except ClosedChannelError:
            pass


def _end(forked: bool) -> None:
    """(sigqueue.end) The run is over: forget every registration."""
    global _lock
    if forked:  # a thread the child does not have may have held it
        _lock = threading.Lock()
    with _lock:
        _handlers.clear()
        _ref.clear()
        _stopping.clear()


sigqueue.deliver = _process
sigqueue.onend = _end


async def _watch(ctx: context.Context, ch: Chan[Any], cancel: Callable[[], None]) -> None:
    done = ctx.done()
    assert done is not None
    i, _, _ = await select(recv(ch), recv(done))
    if i == 0:
        cancel()


def notify_context(parent: context.Context, *signals: int) -> tuple[context.Context, Callable[[], None]]:
    """A copy of ``parent`` cancelled when one of ``signals`` (all if none) arrives,
    when ``stop`` is called, or when ``parent`` is done, whichever happens first
    (Go's signal.NotifyContext).

    ``stop`` unregisters the signals, restoring their usual action (a second
    Ctrl-C then raises ``KeyboardInterrupt``), and releases the resources: call it
    as soon as the work is done (``try``/``finally``). A goroutine watches for the
    signal until then.
    """
    ctx, cancel = context.with_cancel(parent)
    ch: Chan[Any] = Chan(1)
    try:
        notify(ch, *signals)
    except BaseException:
        cancel()
        raise
    if ctx.err() is None:
        go(_watch, ctx, ch, cancel)

    def stop_() -> None:
        cancel()
        stop(ch)

    return ctx, stop_


_fixup(__name__, globals(), __all__)
