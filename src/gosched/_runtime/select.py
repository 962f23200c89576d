"""select (Go's runtime/select.go: selectgo).

1. Shuffle the cases into a random ``pollorder`` (fairness among ready cases).
2. Lock every channel involved in a fixed global order (by address: ``id``).
3. Pass 1: take the first ready case in poll order.
4. With ``default``: nothing ready, return -1.
5. Pass 2: enqueue one sudog per case, park with all locks held; the loop
   releases them. The first waker to claim the shared ``SelectWait`` wins.
6. Pass 3: relock, remove the losing sudogs, report the winner.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, NoReturn

from . import proc
from .chan import Chan, ClosedChannelError, SelectWait, Sudog, _g, _take, recvfrom
from .lock import lock
from .runtime2 import waitReasonSelect, waitReasonSelectNoCases
from .traps import PARK, checkpreempt, getm, outside_goroutine, preempted, require_m, trap

if TYPE_CHECKING:
    from ..context import Context


class RecvCase:
    """``case v, ok := <-ch``; build with ``gosched.recv(ch)``."""

    __slots__ = ("ch",)
    issend = False

    def __init__(self, ch: Chan[Any] | None) -> None:
        if ch is not None and not isinstance(ch, Chan):
            raise TypeError(f"recv() needs a Chan or None, not {type(ch).__name__}")
        self.ch = ch

    def __repr__(self) -> str:
        return f"recv({self.ch!r})"


class SendCase:
    """``case ch <- v``; build with ``gosched.send(ch, v)``."""

    __slots__ = ("ch", "value")
    issend = True

    def __init__(self, ch: Chan[Any] | None, value: Any) -> None:
        if ch is not None and not isinstance(ch, Chan):
            raise TypeError(f"send() needs a Chan or None, not {type(ch).__name__}")
        self.ch = ch
        self.value = value

    def __repr__(self) -> str:
        return f"send({self.ch!r}, {self.value!r})"


Case = RecvCase | SendCase


def _try(c: Case, i: int) -> tuple[int, Any, bool, Any] | None:
    """Pass-1 attempt on one case with its channel locked: (index, value, ok, woken G)."""
    ch = c.ch
    assert ch is not None
    if c.issend:
        if ch.closed:
            raise ClosedChannelError("send on closed channel")
        w = _take(ch.recvq) if ch.recvq else None
        if w is not None:
            w.elem = c.value  # type: ignore[union-attr]
            w.success = True
            return i, None, True, _g(w)
        if len(ch._buf) < ch._cap:
            ch._buf.append(c.value)  # type: ignore[union-attr]
            return i, None, True, None
        return None
    w = _take(ch.sendq) if ch.sendq else None
    if w is not None:
        return i, recvfrom(ch, w), True, _g(w)
    if ch._buf:
        return i, ch._buf.popleft(), True, None
    if ch.closed:
        return i, None, False, None
    return None


async def select(*cases: Case, default: bool = False) -> tuple[int, Any, bool]:
    """Wait until one of several channel operations can proceed, and do it (Go's ``select``).

    Each case is ``gosched.recv(ch)`` (``case v, ok := <-ch``) or
    ``gosched.send(ch, v)`` (``case ch <- v``). Exactly one case runs. Returns
    ``(index, value, ok)``: ``index`` is the case's position in ``cases``; for a
    receive, ``value`` is what was received and ``ok`` is False if the channel
    was closed and drained (``value`` is then None); for a send, ``value`` is
    None and ``ok`` True.

    Go's semantics:

    * If several cases are ready, one is chosen uniformly at random (no
      priority by position), so no case starves.
    * ``default=True`` is Go's ``default:`` branch: if no case is ready now,
      return ``(-1, None, False)`` at once instead of blocking.
    * A case on ``None`` (a nil channel) is never ready; ``select()`` with no
      cases, or only nil ones, blocks forever (``select {}``: wait reason
      ``select (no cases)``), which checkdead reports as a deadlock if nothing
      else can run.
    * A receive from a closed channel is always ready; a send case on a closed
      channel is ready too and, when chosen, raises ``ClosedChannelError``
      (``send on closed channel``).

    Example::

        idx, v, ok = await gosched.select(
            gosched.recv(jobs),
            gosched.send(results, r),
            gosched.recv(gosched.after(1.0)),
        )
        if idx == 0 and not ok:
            ...  # jobs was closed
        elif idx == 2:
            ...  # timed out after a second

    Must be awaited in a goroutine (except with ``default=True``, which never
    blocks).
    """
    for c in cases:
        if not isinstance(c, (RecvCase, SendCase)):
            raise TypeError(f"select() cases are gosched.recv(ch) or gosched.send(ch, v), not {c!r}")
    order = [i for i, c in enumerate(cases) if c.ch is not None]
    if not order:
        if default:
            return -1, None, False
        require_m("select")
        await trap(PARK, None, waitReasonSelectNoCases)
        raise AssertionError("unreachable: a goroutine in select {} is never readied")
    if len(order) > 1:
        random.shuffle(order)
    chans = sorted({id(c.ch): c.ch for c in cases if c.ch is not None}.values(), key=id)
    locks = [ch._lock for ch in chans]
    for lk in locks:
        lock(lk)
    try:
        for i in order:
            r = _try(cases[i], i)
            if r is not None:
                break
        else:
            r = None
    except BaseException:
        for lk in reversed(locks):
            lk.append(1)
        raise
    if r is not None:
        for lk in reversed(locks):
            lk.append(1)
        if r[3] is not None:
            proc.goready(r[3])
        if preempted:
            await checkpreempt()
        return r[0], r[1], r[2]
    if default:
        for lk in reversed(locks):
            lk.append(1)
        return -1, None, False

    m = getm()
    gp = m.curg if m is not None else None
    if gp is None:
        for lk in reversed(locks):
            lk.append(1)
        raise outside_goroutine("select", "")
    sel = SelectWait()
    sgs = []
    for i in order:
        c = cases[i]
        ch = c.ch
        assert ch is not None
        sg = Sudog(gp, sel, i, ch, c.issend, c.value if c.issend else None)  # type: ignore[union-attr]
        (ch.sendq if c.issend else ch.recvq).append(sg)
        sgs.append(sg)
    gp.blockedon = chans
    await trap(PARK, tuple(locks), waitReasonSelect)  # a tuple of locks: see proc.schedule
    gp.blockedon = None
    won = sel.fired
    for lk in locks:
        lock(lk)
    for sg in sgs:
        if sg is not won:
            q = sg.c.sendq if sg.issend else sg.c.recvq
            try:
                q.remove(sg)
            except ValueError:
                pass  # already taken off by a waker that lost the claim
    for lk in reversed(locks):
        lk.append(1)
    assert won is not None
    if won.issend:
        if not won.success:
            raise ClosedChannelError("send on closed channel")
        return won.index, None, True
    return won.index, won.elem, won.success


def recv(ch: Chan[Any] | None) -> RecvCase:
    """A receive case for ``select`` (``None`` is a nil channel: never ready)."""
    return RecvCase(ch)


def send(ch: Chan[Any] | None, value: Any) -> SendCase:
    """A send case for ``select`` (``None`` is a nil channel: never ready)."""
    return SendCase(ch, value)


def ctxdone(ctx: Context | None) -> Chan[None] | None:
    """The channel a blocking call with ``ctx=`` selects on beside its own case.

    None when there is no context or it can never be done (``background()``);
    raises ``ctx.err()`` at once when it is done already, before any waiting.
    """
    if ctx is None:
        return None
    err = ctx.err()
    if err is not None:
        raise err
    return ctx.done()


def ctxerr(ctx: Context | None) -> NoReturn:
    """Raise the error of ``ctx``, whose done case won a select."""
    assert ctx is not None
    err = ctx.err()
    assert err is not None
    raise err
