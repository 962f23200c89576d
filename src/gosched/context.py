"""Go's context package: cancellation, deadlines and request-scoped values for goroutine trees.

A ``Context`` is passed down to the goroutines doing one piece of work. Cancelling it
closes its ``done()`` channel, and the channels of every context derived from it, so
each goroutine stops at its next ``select`` on ``ctx.done()``::

    from gosched import context

    async def worker(ctx: context.Context, jobs: gosched.Chan[int]) -> None:
        while True:
            i, v, ok = await gosched.select(gosched.recv(ctx.done()), gosched.recv(jobs))
            if i == 0:
                return                          # ctx.err(): Canceled or DeadlineExceeded
            ...

    ctx, cancel = context.with_timeout(context.background(), 2.0)
    try:
        gosched.go(worker, ctx, jobs)
        ...
    finally:
        cancel()                                # releases the timer and the parent's reference

As in Go, this is a library over channels, timers and a lock (context.go mirrored
function by function): cancellation runs in the caller of ``cancel`` and reaches the
whole subtree before ``cancel`` returns; a cancelled context is removed from its
parent, so a long-lived parent does not keep finished children alive; deadlines run
on gosched timers (``after_func``), so ``run(main, clock="fake")`` applies to them.

``err()`` returns a new ``Canceled`` or ``DeadlineExceeded`` instance on each call, of
the same type every time once the context is done: compare them with ``isinstance``
(Go compares with ``==``) and raise them freely, from as many goroutines as you like.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from ._public import fixup_module_metadata as _fixup
from ._runtime.chan import Chan
from ._runtime.gotime import Timer, callfn, now
from ._runtime.gotime import after_func as _after_func
from ._runtime.lock import held, newlock
from ._runtime.main import go
from ._runtime.select import recv, select

__all__ = [
    "Canceled",
    "Context",
    "DeadlineExceeded",
    "after_func",
    "background",
    "cause",
    "todo",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_timeout",
    "with_value",
    "without_cancel",
]


class Canceled(Exception):
    """``ctx.err()`` once the context was cancelled, not by its deadline: ``context canceled``."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("context canceled",)))


class DeadlineExceeded(TimeoutError):
    """``ctx.err()`` once the context's deadline passed: ``context deadline exceeded``.

    A ``TimeoutError``, as Go's DeadlineExceeded reports ``Timeout() == true``.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("context deadline exceeded",)))


# How a cancelled context records its error: Canceled or DeadlineExceeded as the class
# (err() makes a new instance per call, safe to raise anywhere), any other error as the
# instance a custom parent context gave.
_Err = type[Exception] | Exception


def _new(e: _Err) -> Exception:
    return e() if isinstance(e, type) else e


def _spec(e: Exception) -> _Err:
    return type(e) if type(e) in (Canceled, DeadlineExceeded) else e


class Context(ABC):
    """A deadline, a cancellation signal and values, for the goroutines of one task
    (context.Context). Safe to use from many goroutines at once.

    ``background()`` and ``todo()`` are the roots; ``with_cancel`` and the other
    ``with_*`` functions derive children. To write a Context of your own, subclass
    this and implement the four methods (usually delegating to a parent, as
    embedding does in Go). If it also has an ``after_func(f) -> stop`` method, its
    children register through it instead of a goroutine waiting on its ``done()``;
    like ``context.after_func``, it must start ``f`` in a goroutine of its own.
    """

    __slots__ = ()

    @abstractmethod
    def deadline(self) -> float | None:
        """When the context will be cancelled by its deadline, in seconds since the epoch on
        the runtime's clock (``gosched.now()``); None if it has no deadline."""

    @abstractmethod
    def done(self) -> Chan[None] | None:
        """A channel closed when the context is cancelled, for ``select``; the same channel
        on every call. None if the context can never be cancelled (a nil channel: a
        ``gosched.recv(None)`` case is never ready)."""

    @abstractmethod
    def err(self) -> Exception | None:
        """None until ``done()`` is closed; then ``DeadlineExceeded`` if the deadline passed,
        else ``Canceled``."""

    @abstractmethod
    def value(self, key: Hashable) -> Any:
        """The value ``with_value`` attached for ``key`` here or in an ancestor, else None."""

    async def wait_done(self) -> None:
        """Block until the context is cancelled (Go's ``<-ctx.Done()``); at once if it is.

        A context that can never be cancelled (``background()``) blocks forever, as
        receiving from a nil channel does; if nothing else can run, that is a deadlock.
        """
        d = self.done()
        if d is None:
            await select()
        else:
            await d.recv_ok()

    def __repr__(self) -> str:
        t = type(self)
        return f"{t.__module__}.{t.__qualname__}"


class _NeverDone(Context):
    """A context that is never cancelled and has no deadline."""

    __slots__ = ()

    def deadline(self) -> float | None:
        return None

    def done(self) -> Chan[None] | None:
        return None

    def err(self) -> Exception | None:
        return None


class _EmptyCtx(_NeverDone):
    """background() and todo(): never cancelled, no values, no deadline (Go's emptyCtx)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def value(self, key: Hashable) -> Any:
        return None

    def __repr__(self) -> str:
        return self._name


_background = _EmptyCtx("context.Background")
_todo = _EmptyCtx("context.TODO")


def background() -> Context:
    """The root context: never cancelled, no values, no deadline (context.Background).

    For main, initialization and tests, and as the top of each incoming request's tree.
    """
    return _background


def todo() -> Context:
    """An empty context for code not yet given one to pass on (context.TODO)."""
    return _todo


_closedchan: Chan[None] = Chan()  # done() of a context cancelled before anyone asked
_closedchan.close()

_CANCEL_CTX_KEY = object()  # value(key) of a _CancelCtx returns itself (Go's &cancelCtxKey)


class _CancelCtx(Context):
    """A context that can be cancelled, and cancels its children (Go's cancelCtx)."""

    __slots__ = ("__weakref__", "_cause", "_children", "_done", "_err", "_mu", "parent")

    def __init__(self, parent: Context) -> None:
        self.parent = parent  # Go's embedded Context
        self._mu = newlock()  # guards the fields below
        self._done: Chan[None] | None = None  # made on first done(), closed by the first cancel
        self._children: dict[_CancelCtx, None] | None = {}  # None once cancelled
        self._err: _Err | None = None
        self._cause: _Err | None = None

    def deadline(self) -> float | None:
        return self.parent.deadline()

    def done(self) -> Chan[None] | None:
        d = self._done
        if d is not None:
            return d
        with held(self._mu):
            d = self._done
            if d is None:
                d = self._done = Chan()
        return d

    def err(self) -> Exception | None:
        e = self._err
        if e is None:
            return None
        # _cancel() sets the error before it closes done(), both under _mu: wait for it
        # to finish, so an err() that is not None implies done() is closed (Go #75533).
        with held(self._mu):
            pass
        return _new(e)

    def value(self, key: Hashable) -> Any:
        if key is _CANCEL_CTX_KEY:
            return self
        return _value(self.parent, key)

    def __repr__(self) -> str:
        return f"{self.parent!r}.WithCancel"

    def _attach(self) -> None:
        """Arrange for this context to be cancelled when its parent is (propagateCancel)."""
        parent = self.parent
        done = parent.done()
        if done is None:
            return  # the parent is never cancelled
        if done.closed:
            self._cancel(False, _spec(_errof(parent)), _spec(_causeof(parent)))
            return
        p = _parent_cancel_ctx(parent)
        if p is not None:  # one of ours, or a context wrapping one without its own done()
            with held(p._mu):
                if p._err is not None:
                    self._cancel(False, p._err, p._cause)
                else:
                    assert p._children is not None
                    p._children[self] = None
            return
        af = getattr(parent, "after_func", None)
        if callable(af):  # a custom context that can run a function when cancelled
            with held(self._mu):
                stop = af(lambda: self._cancel(False, _spec(_errof(parent)), _spec(_causeof(parent))))
                self.parent = _StopCtx(parent, stop)
            return
        go(_watch, parent, self)  # any other custom context: a goroutine waits for either

    def _cancel(self, remove: bool, err: _Err, cause: _Err | None) -> None:
        """Close done(), cancel every child, and with ``remove`` leave the parent (cancelCtx.cancel).

        The first call wins: later ones change nothing. A parent's lock may be held
        while its children's are taken, never the other way round.
        """
        if cause is None:
            cause = err
        with held(self._mu):
            if self._err is not None:
                return  # already cancelled
            self._err = err
            self._cause = cause
            d = self._done
            if d is None:
                self._done = _closedchan
            else:
                d.close()
            children = self._children
            self._children = None
            if children:
                for child in children:
                    child._cancel(False, err, cause)
        if remove:
            _remove_child(self.parent, self)


def _errof(c: Context) -> Exception:
    e = c.err()
    if e is None:  # a custom context closed done() before setting its error
        return Canceled()
    return e


def _causeof(c: Context) -> Exception:
    e = cause(c)
    return e if e is not None else Canceled()


async def _watch(parent: Context, child: _CancelCtx) -> None:
    """Cancel ``child`` when a custom ``parent`` is cancelled, or end with the child."""
    i, _, _ = await select(recv(parent.done()), recv(child.done()))
    if i == 0:
        child._cancel(False, _spec(_errof(parent)), _spec(_causeof(parent)))


def _parent_cancel_ctx(parent: Context) -> _CancelCtx | None:
    """The _CancelCtx whose done() ``parent.done()`` is, if any (Go's parentCancelCtx).

    A custom context that wraps one of ours but has a done() of its own is not
    bypassed: its children wait on its own channel.
    """
    done = parent.done()
    if done is _closedchan or done is None:
        return None
    p = parent.value(_CANCEL_CTX_KEY)
    if not isinstance(p, _CancelCtx) or p._done is not done:
        return None
    return p


def _remove_child(parent: Context, child: _CancelCtx) -> None:
    """Drop ``child`` from the children of the context it was registered with (removeChild)."""
    if isinstance(parent, _StopCtx):
        parent.stop()
        return
    p = _parent_cancel_ctx(parent)
    if p is None:
        return
    with held(p._mu):
        if p._children is not None:
            p._children.pop(child, None)


class _Embedded(Context):
    """A context whose deadline, done and err are its parent's (Go embeds the parent Context)."""

    __slots__ = ("parent",)
    parent: Context

    def deadline(self) -> float | None:
        return self.parent.deadline()

    def done(self) -> Chan[None] | None:
        return self.parent.done()

    def err(self) -> Exception | None:
        return self.parent.err()


class _StopCtx(_Embedded):
    """The parent of a context registered through a custom parent's ``after_func``, with
    the function that unregisters it (Go's stopCtx)."""

    __slots__ = ("stop",)

    def __init__(self, parent: Context, stop: Callable[[], bool]) -> None:
        self.parent = parent
        self.stop = stop

    def value(self, key: Hashable) -> Any:
        return self.parent.value(key)

    def __repr__(self) -> str:
        return repr(self.parent)


class _TimerCtx(_CancelCtx):
    """A cancellable context with a deadline and the timer that enforces it (Go's timerCtx)."""

    __slots__ = ("_deadline", "_timer")

    def __init__(self, parent: Context, when: float) -> None:
        super().__init__(parent)
        self._deadline = when
        self._timer: Timer | None = None  # under _mu

    def deadline(self) -> float | None:
        return self._deadline

    def __repr__(self) -> str:
        d = self._deadline
        try:  # as Go prints a time.Time
            at = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(d))}.{int(d % 1 * 1e6):06d} +0000 UTC"
        except (OverflowError, ValueError, OSError):  # beyond the years gmtime knows, or infinite
            at = f"{d}"
        return f"{self.parent!r}.WithDeadline({at} [{self._deadline - now():.6g}s])"

    def _cancel(self, remove: bool, err: _Err, cause: _Err | None) -> None:
        super()._cancel(False, err, cause)
        if remove:
            _remove_child(self.parent, self)
        with held(self._mu):
            t, self._timer = self._timer, None
        if t is not None:
            t.stop()


class _AfterFuncCtx(_CancelCtx):
    """The child that after_func registers: cancelling it starts the function (afterFuncCtx)."""

    __slots__ = ("_f", "_once")

    def __init__(self, parent: Context, f: Callable[[], Any]) -> None:
        super().__init__(parent)
        self._f = f
        self._once = [1]  # popped by whichever comes first: starting f, or stop()

    def _cancel(self, remove: bool, err: _Err, cause: _Err | None) -> None:
        super()._cancel(False, err, cause)
        if remove:
            _remove_child(self.parent, self)
        if _claim(self._once):
            go(callfn, self._f)

    def _stop(self) -> bool:
        if not _claim(self._once):
            return False
        self._cancel(True, Canceled, None)
        return True


def _claim(tok: list[int]) -> bool:
    try:
        tok.pop()  # atomic: exactly one caller gets the token (Go's sync.Once here)
    except IndexError:
        return False
    return True


class _ValueCtx(_Embedded):
    """A context carrying one key/value pair (Go's valueCtx)."""

    __slots__ = ("key", "val")

    def __init__(self, parent: Context, key: Hashable, val: Any) -> None:
        self.parent = parent
        self.key = key
        self.val = val

    def value(self, key: Hashable) -> Any:
        return _value(self, key)

    def __repr__(self) -> str:
        return f"{self.parent!r}.WithValue({_stringify(self.key)}, {_stringify(self.val)})"


class _WithoutCancelCtx(_NeverDone):
    """The parent's values without its cancellation or deadline (Go's withoutCancelCtx)."""

    __slots__ = ("parent",)

    def __init__(self, parent: Context) -> None:
        self.parent = parent

    def value(self, key: Hashable) -> Any:
        return _value(self, key)

    def __repr__(self) -> str:
        return f"{self.parent!r}.WithoutCancel"


def _samekey(a: Any, b: Any) -> bool:
    # Go compares interface values: same dynamic type and equal (so 1, 1.0 and True differ).
    return a is b or (type(a) is type(b) and bool(a == b))


def _value(c: Context, key: Hashable) -> Any:
    """Look ``key`` up from ``c`` towards the root, in a loop rather than a recursion (value)."""
    while True:
        if isinstance(c, _ValueCtx):
            if _samekey(c.key, key):
                return c.val
            c = c.parent
        elif isinstance(c, _CancelCtx):
            if key is _CANCEL_CTX_KEY:
                return c
            c = c.parent
        elif isinstance(c, _WithoutCancelCtx):
            if key is _CANCEL_CTX_KEY:
                return None  # so that cause() of a WithoutCancel context is None
            c = c.parent
        elif isinstance(c, _EmptyCtx):
            return None
        else:
            return c.value(key)


def _stringify(v: Any) -> str:
    # Go's stringify: a string as itself, a Stringer by String(), anything else by its type.
    if isinstance(v, str):
        return v
    if v is None:
        return "<nil>"
    t = type(v)
    if t.__str__ is not object.__str__:  # type: ignore[comparison-overlap]
        return str(v)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _check_parent(parent: Any) -> None:
    if parent is None:
        raise TypeError("cannot create context from nil parent")
    if not isinstance(parent, Context):
        raise TypeError(f"a parent context must be a gosched.context.Context, not {type(parent).__name__}")


def _seconds(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{what} takes seconds (int or float), not {type(x).__name__}")
    if math.isnan(x):
        raise ValueError(f"{what}: time is NaN")
    return float(x)


def with_cancel(parent: Context) -> tuple[Context, Callable[[], None]]:
    """A child of ``parent`` and the function that cancels it (context.WithCancel).

    The child's ``done()`` closes when ``cancel()`` is called or the parent is
    cancelled, whichever comes first; calling ``cancel()`` again does nothing. Call
    it once the work is finished: it also removes the child from its parent.
    """
    c = _new_cancel_ctx(parent)

    def cancel() -> None:
        c._cancel(True, Canceled, None)

    return c, cancel


def with_cancel_cause(parent: Context) -> tuple[Context, Callable[[Exception | None], None]]:
    """Like ``with_cancel``, but ``cancel(cause)`` records why (context.WithCancelCause).

    ``cause(ctx)`` then returns that error (``err()`` is still ``Canceled``); with
    None the cause is ``Canceled``. Only the first cancellation sets a cause.
    """
    c = _new_cancel_ctx(parent)

    def cancel(cause: Exception | None) -> None:
        if cause is not None and not isinstance(cause, Exception):
            raise TypeError(f"a cancel cause is an exception or None, not {type(cause).__name__}")
        c._cancel(True, Canceled, cause)

    return c, cancel


def _new_cancel_ctx(parent: Context) -> _CancelCtx:
    _check_parent(parent)
    c = _CancelCtx(parent)
    c._attach()
    return c


def cause(c: Context) -> Exception | None:
    """Why ``c`` was cancelled (context.Cause): the error given to the first cancel function
    with a cause, of ``c`` or of an ancestor, else ``c.err()``; None while ``c`` is not done."""
    err = c.err()
    if err is None:
        return None
    cc = c.value(_CANCEL_CTX_KEY)
    if isinstance(cc, _CancelCtx):
        with held(cc._mu):
            cs = cc._cause
        if cs is not None:
            return _new(cs)
    return err  # cancelled by a custom context that keeps no cause


def with_deadline(
    parent: Context, when: float, cause: Exception | None = None
) -> tuple[Context, Callable[[], None]]:
    """A child of ``parent`` cancelled with ``DeadlineExceeded`` at ``when`` (context.WithDeadline).

    ``when`` is in seconds since the epoch on the runtime's clock (``gosched.now()``).
    If the parent's deadline is earlier this is ``with_cancel(parent)``; a deadline
    already past gives a context that is already done. ``cause``, if given, is what
    ``cause(ctx)`` returns once the deadline passes (context.WithDeadlineCause). Call
    the returned cancel function once the work is finished: it stops the timer.
    """
    _check_parent(parent)
    when = _seconds(when, "with_deadline")
    if cause is not None and not isinstance(cause, Exception):
        raise TypeError(f"a cancel cause is an exception or None, not {type(cause).__name__}")
    cur = parent.deadline()
    if cur is not None and cur < when:
        return with_cancel(parent)  # the current deadline is sooner
    c = _TimerCtx(parent, when)
    c._attach()

    def cancel() -> None:
        c._cancel(True, Canceled, None)

    dur = when - now()
    if dur <= 0:
        c._cancel(True, DeadlineExceeded, cause)  # already past
        return c, cancel

    def expire() -> None:
        c._cancel(True, DeadlineExceeded, cause)

    with held(c._mu):
        if c._err is None:
            c._timer = _after_func(dur, expire)
    return c, cancel


def with_timeout(
    parent: Context, seconds: float, cause: Exception | None = None
) -> tuple[Context, Callable[[], None]]:
    """``with_deadline(parent, gosched.now() + seconds, cause)`` (context.WithTimeout).

    A timeout of 0 or less gives a context that is already done.
    """
    return with_deadline(parent, now() + _seconds(seconds, "with_timeout"), cause)


def with_value(parent: Context, key: Hashable, val: Any) -> Context:
    """A child of ``parent`` whose ``value(key)`` is ``val`` (context.WithValue).

    Keys match when they are of the same type and equal, as Go compares them; use a
    key type of your own (or a module-level ``object()``) so packages do not collide.
    Carry request-scoped data with it, not optional parameters of functions.
    """
    _check_parent(parent)
    if key is None:
        raise TypeError("nil key")
    try:
        hash(key)
    except TypeError:
        raise TypeError("key is not comparable") from None
    return _ValueCtx(parent, key, val)


def without_cancel(parent: Context) -> Context:
    """A child with ``parent``'s values that is never cancelled (context.WithoutCancel).

    It has no deadline, ``done()`` is None, and ``err()`` and ``cause()`` are None.
    """
    _check_parent(parent)
    return _WithoutCancelCtx(parent)


def after_func(ctx: Context, f: Callable[[], Any] | Callable[[], Awaitable[Any]]) -> Callable[[], bool]:
    """Start ``f()`` in its own goroutine once ``ctx`` is cancelled (context.AfterFunc).

    At once if it already is. ``f`` is an ``async def`` function or a plain one,
    called without arguments. Returns ``stop``: ``stop()`` unregisters ``f`` and
    returns True if that kept it from starting; False if ``f`` has started (or was
    stopped before). ``stop`` does not wait for ``f`` to finish.
    """
    _check_parent(ctx)
    if not callable(f):
        raise TypeError(f"after_func needs a function, not {type(f).__name__}")
    a = _AfterFuncCtx(ctx, f)
    a._attach()
    return a._stop


_fixup(__name__, globals(), __all__)
