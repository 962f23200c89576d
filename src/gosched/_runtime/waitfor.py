"""Who blocks whom: the "blocked on:" lines of a dump and the lock wait-for cycles
(beyond Go, whose dumps show only each goroutine's stack).

Each primitive a goroutine parks on describes the wait itself
(``runtime2.Waitable.waitdesc``: what it is, its state, who waits and who holds
it); this module names the objects from the goroutines' frames, says why a
foreign one is not reported, and looks for cycles among lock holders.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from .nogc import nogc
from .runtime2 import G, Gwaiting, Waitable, WaitDesc
from .synctest import foreign, liveusers
from .traceback import coro_frames, userframe


def _objref(obj: Any) -> str:
    """The object's type and identity, as Go's dumps print a pointer: ``*Mutex 0x7f3a…``."""
    return f"*{type(obj).__name__} {id(obj):#x}"


def _attrs(v: Any) -> list[tuple[str, Any]]:
    """``v``'s instance attributes: its ``__dict__`` and its ``__slots__``."""
    d = getattr(v, "__dict__", None)
    out = list(d.items()) if isinstance(d, dict) else []
    for cls in type(v).__mro__:
        for a, desc in list(cls.__dict__.items()):
            if isinstance(desc, types.MemberDescriptorType):  # a slot: read it, run no user code
                try:
                    out.append((a, desc.__get__(v, cls)))
                except AttributeError:  # not set
                    pass
    return out


def _localname(obj: Any, gps: list[G]) -> str | None:
    """A name for ``obj`` from the locals (or ``self.attr``, or globals) of ``gps``' frames."""
    for gp in gps:
        if gp.status != Gwaiting or gp.coro is None:
            continue
        for f in reversed(coro_frames(gp.coro)):
            if not userframe(f):
                continue
            try:
                with nogc():  # the goroutine may be resumed on another M meanwhile (nogc.py)
                    items = list(f.f_locals.items())
            except Exception:  # pragma: no cover - a frame being torn down
                continue
            for k, v in items:
                if v is obj:
                    return k
            for k, v in items:
                for a, av in _attrs(v):
                    if av is obj:
                        return f"{k}.{a}"
            for k, v in list(f.f_globals.items()):
                if v is obj:
                    return k
    return None


def _objname(obj: Any, gps: list[G], names: dict[int, str]) -> str:
    """``mu (*Mutex 0x7f3a…)``: a local name as a hint, then the type and identity.

    Local names are each goroutine's own (two goroutines may both call different
    mutexes ``x``), so the identity is what tells objects apart; ``names`` (one
    per dump) makes an object read the same on every line, named from the first
    goroutine that mentions it.
    """
    key = id(obj)
    text = names.get(key)
    if text is None:
        local = _localname(obj, gps)
        text = names[key] = f"{local} ({_objref(obj)})" if local else _objref(obj)
    return text


def _foreignnote(obj: Any, fmt: str) -> str:
    """Why goroutines blocked on ``obj`` are not reported as deadlocked (if so), put in ``fmt``."""
    if getattr(obj, "foreign", False):
        note = "foreign (obj.foreign = True): never reported as deadlocked"
    else:
        n = liveusers(obj)
        if not n:
            return ""
        note = f"foreign: used by {n} live plain thread{'s' if n > 1 else ''}, never reported as deadlocked"
    return fmt.format(note)


def _ids(gs: list[G]) -> str:
    return "[" + ", ".join(str(g.goid) for g in gs) + "]"


def _nodescribe(gp: G) -> str | None:
    return None


# A hook for what a goroutine parked on another event loop's object waits for
# (gosched._aio: an asyncio future): its "blocked on" line, or None.
describewait: Callable[[G], str | None] = _nodescribe


class _Graph:
    """One dump's wait-for graph: the live goroutines, the names given so far, lock edges."""

    def __init__(self, gs: list[G]) -> None:
        self.alive = {g.goid: g for g in gs}
        self.names: dict[int, str] = {}
        self.edges: dict[int, list[int]] = {}  # waiter goid -> holder goids

    def name(self, obj: Any, gps: list[G]) -> str:
        return _objname(obj, gps, self.names)

    def holders(self, gp: G, obj: Any, held: list[int]) -> str:
        """``held by goroutine 3, a thread outside the runtime``; records the edges gp → holders."""
        if not held:
            return "held by a thread outside the runtime" if foreign(obj) else "not held"
        descr = []
        for h in held:
            if h == 0:
                descr.append("a thread outside the runtime")
            elif h in self.alive:
                descr.append(f"goroutine {h}")
                self.edges.setdefault(gp.goid, []).append(h)
            else:
                descr.append(f"goroutine {h}, which has exited")
        return "held by " + ", ".join(descr)


def _selectline(gp: G, chans: list[Waitable], g: _Graph) -> str:
    parts = []
    for ch in chans:
        d = ch.waitdesc()
        parts.append(
            f"{g.name(ch, [gp])}: receivers {_ids(d.receivers or [])}, senders {_ids(d.senders or [])}"
            + _foreignnote(ch, " ({})")
        )
    return f"goroutine {gp.goid} waits in select on " + "; ".join(parts)


def _line(gp: G, obj: Waitable, g: _Graph) -> str:
    """``goroutine 2 waits on channel c (*Chan 0x…), 0/0 buffered: receivers [2], senders []``."""
    d: WaitDesc = obj.waitdesc()
    text = f"goroutine {gp.goid} {d.verb} {g.name(obj, [gp])}"
    if d.state:
        text += f", {d.state}"
    if d.receivers is not None or d.senders is not None:
        text += f": receivers {_ids(d.receivers or [])}, senders {_ids(d.senders or [])}"
    if d.holders is not None:
        text += ", " + g.holders(gp, obj, d.holders)
    return text + _foreignnote(obj, "; {}")


def waitfor(gs: list[G]) -> str:
    """Lines naming what each blocked goroutine waits on and who could release it,
    then any wait-for cycle among lock holders."""
    g = _Graph(gs)
    lines: list[str] = []
    for gp in gs:
        obj = gp.blockedon
        if gp.status != Gwaiting or obj is None:
            continue
        if isinstance(obj, list):  # select: its channels
            lines.append(_selectline(gp, obj, g))
        elif isinstance(obj, Waitable):
            lines.append(_line(gp, obj, g))
        elif (line := describewait(gp)) is not None:
            lines.append(line)
    if not lines:
        return ""
    out = "blocked on:\n" + "\n".join(lines)
    for cyc in _cycles(g.edges):
        out += "\nwait-for cycle: " + _describe_cycle(cyc, g)
    return out


def lockcycles(gs: list[G]) -> list[tuple[list[int], str]]:
    """The lock wait-for cycles among ``gs`` (a partial deadlock, leaks.py), each as
    its goids and its description, without the rest of a dump's lines."""
    g = _Graph(gs)
    for gp in gs:
        obj = gp.blockedon
        if gp.status == Gwaiting and isinstance(obj, Waitable):
            held = obj.waitdesc().holders
            if held:
                g.holders(gp, obj, held)  # records the edges
    return [(cyc, _describe_cycle(cyc, g)) for cyc in _cycles(g.edges)]


def _cycles(edges: dict[int, list[int]]) -> list[list[int]]:
    """Distinct cycles in the lock wait-for graph (edges: waiter → holders), as goid lists.

    An iterative colouring DFS: a grey node met again closes a cycle.
    """
    found: list[list[int]] = []
    keys: set[frozenset[int]] = set()
    color: dict[int, int] = {}  # absent: unvisited, 1: on the current path, 2: finished
    for s in sorted(edges):
        if s in color:
            continue
        color[s] = 1
        path = [s]
        stack = [(s, iter(edges.get(s, [])))]
        while stack:
            node, it = stack[-1]
            h = next(it, None)
            if h is None:
                stack.pop()
                path.pop()
                color[node] = 2
                continue
            c = color.get(h)
            if c is None:
                color[h] = 1
                path.append(h)
                stack.append((h, iter(edges.get(h, []))))
            elif c == 1:
                cyc = path[path.index(h):]
                key = frozenset(cyc)
                if key not in keys:
                    keys.add(key)
                    found.append(cyc)
    return found


def _describe_cycle(cyc: list[int], g: _Graph) -> str:
    """"goroutine 3 holds mu1 and waits for mu2; goroutine 9 holds mu2 and waits for mu1"."""
    parts = []
    n = len(cyc)
    for i, goid in enumerate(cyc):
        gp = g.alive[goid]
        prev = g.alive[cyc[(i - 1) % n]]  # prev waits for a lock that gp holds
        held = prev.blockedon
        parts.append(
            f"goroutine {goid} holds {g.name(held, [gp, prev])} and waits for "
            f"{g.name(gp.blockedon, [gp])}"
        )
    return "; ".join(parts)
