"""select (Go's runtime/select.go: selectgo).

1. Shuffle the cases into a random ``pollorder`` (fairness among ready cases).
2. Lock every channel involved in a fixed global ``lockorder`` (by address:
   ``id``): ``sellock``.
3. Pass 1 (``_poll``): take the first ready case in poll order, with the
   channel's own ``sendlocked``/``recvlocked`` (Go's selectgo and chansend
   share ``send``/``recv``/``dequeue`` the same way).
4. With ``default``: nothing ready, return -1.
5. Pass 2 (``_enqueue``): enqueue one sudog per case, park with all locks held;
   the loop releases them. The first waker to claim the shared ``SelectWait`` wins.
6. Pass 3 (``_dequeue_losers``): relock, remove the losing sudogs, report the winner.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, NoReturn

from . import proc
from .chan import Chan, SelectWait, Sudog
from .errors import ClosedChannelError
from .lock import lock
from .runtime2 import G, waitReasonSelect, waitReasonSelectNoCases
from .traps import PARK, checkpreempt, getm, outside_goroutine, preempted, require_m, trap

if TYPE_CHECKING:
    from ..context import Context

_randbit = random.getrandbits


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


def _pollorder(cases: tuple[Case, ...]) -> list[int]:
    """The indices of the non-nil cases in a random order (Go's pollorder, cheaprandn)."""
    order = []
    for i, c in enumerate(cases):
        if not isinstance(c, (RecvCase, SendCase)):
            raise TypeError(f"select() cases are gosched.recv(ch) or gosched.send(ch, v), not {c!r}")
        if c.ch is not None:
            order.append(i)
    if len(order) == 2:  # the usual select: one random bit, not random.shuffle's Python loop
        if _randbit(1):
            order.reverse()
    elif len(order) > 2:
        random.shuffle(order)
    return order


def _lockorder(cases: tuple[Case, ...], order: list[int]) -> list[Chan[Any]]:
    """The distinct channels of the cases, by address (Go's lockorder: no lock taken twice)."""
    if len(order) == 1:
        return [cases[order[0]].ch]  # type: ignore[list-item]
    if len(order) == 2:
        a, b = cases[order[0]].ch, cases[order[1]].ch
        assert a is not None and b is not None
        return [a] if a is b else [a, b] if id(a) < id(b) else [b, a]
    return sorted({id(c.ch): c.ch for c in cases if c.ch is not None}.values(), key=id)


def _poll(cases: tuple[Case, ...], order: list[int]) -> tuple[int, Any, bool, G | None] | None:
    """Pass 1, channels locked: the first ready case in poll order, done.

    ``(index, value, ok, goroutine to ready)``, or None if no case is ready.
    """
    for i in order:
        c = cases[i]
        ch = c.ch
        assert ch is not None
        if c.issend:
            sent, gp = ch.sendlocked(c.value)  # type: ignore[union-attr]
            if sent:
                return i, None, True, gp
            continue
        v, ok, got, gp = ch.recvlocked()
        if got:
            return i, v, ok, gp
    return None


def sellock(locks: list[list[int]]) -> None:
    """Lock every channel of a select, in lock order (Go's sellock)."""
    for lk in locks:
        lock(lk)


def selunlock(locks: list[list[int]]) -> None:
    """Unlock them in reverse order (Go's selunlock)."""
    for lk in reversed(locks):
        lk.append(1)


def _enqueue(gp: G, cases: tuple[Case, ...], order: list[int]) -> tuple[SelectWait, list[Sudog]]:
    """Pass 2, channels locked: queue one sudog per case, all sharing one SelectWait."""
    sel = SelectWait()
    sgs = []
    for i in order:
        c = cases[i]
        ch = c.ch
        assert ch is not None
        sg = Sudog(gp, sel, i, ch, c.issend, c.value if c.issend else None)  # type: ignore[union-attr]
        (ch.sendq if c.issend else ch.recvq).append(sg)
        sgs.append(sg)
    return sel, sgs


def _dequeue_losers(locks: list[list[int]], sgs: list[Sudog], won: Sudog | None) -> tuple[int, Any, bool]:
    """Pass 3, after the wake: take the losing sudogs off their queues; the winner's result."""
    sellock(locks)
    for sg in sgs:
        if sg is not won:
            q = sg.c.sendq if sg.issend else sg.c.recvq
            try:
                q.remove(sg)
            except ValueError:
                pass  # already taken off by a waker that lost the claim
    selunlock(locks)
    assert won is not None
    if won.issend:
        if not won.success:
            raise ClosedChannelError("send on closed channel")
        return won.index, None, True
    return won.index, won.elem, won.success


async def _block_forever(default: bool) -> tuple[int, Any, bool]:
    """``select {}`` (no case, or only nil channels): park for good; with default, return."""
    if default:
        return -1, None, False
    require_m("select")
    await trap(PARK, None, waitReasonSelectNoCases)
    raise AssertionError("unreachable: a goroutine in select {} is never readied")


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
    order = _pollorder(cases)
    if not order:
        return await _block_forever(default)
    chans = _lockorder(cases, order)
    locks = [ch.lock for ch in chans]
    sellock(locks)
    try:
        r = _poll(cases, order)
    except BaseException:  # a send case on a closed channel panics
        selunlock(locks)
        raise
    if r is not None:
        selunlock(locks)
        if r[3] is not None:
            proc.goready(r[3])
        if preempted:
            await checkpreempt()
        return r[0], r[1], r[2]
    m = getm()
    gp = m.curg if m is not None else None
    if default or gp is None:
        selunlock(locks)
        if default:
            return -1, None, False
        raise outside_goroutine("select", "")
    sel, sgs = _enqueue(gp, cases, order)
    gp.blockedon = chans
    await trap(PARK, tuple(locks), waitReasonSelect)  # a tuple of locks: see proc.schedule
    gp.blockedon = None
    return _dequeue_losers(locks, sgs, sel.fired)


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
    if ctx.err() is not None:
        ctxerr(ctx)  # no error in this frame's locals: see ctxerr
    return ctx.done()


def ctxerr(ctx: Context | None) -> NoReturn:
    """Raise the error of ``ctx``, whose done case won a select."""
    assert ctx is not None
    err = ctx.err()
    assert err is not None
    try:
        raise err
    finally:
        del err  # a frame holding the error its traceback holds is a cycle, one per raise
