"""checkdead, goroutine dumps, the virtual clock's advance, and SIGQUIT.

Go's ``checkdead`` (proc.go) runs when the count of running Ms reaches zero and
decides from thread counts. That is its weak spot: anything that parks a thread
outside the scheduler silences it (golang/go#12734: importing ``net``; #21576:
``os/signal``), and any pending timer, however unrelated, postpones the report.
gosched asks instead, when the last active M is about to idle, whether anything
could still wake a goroutine:

* a goroutine that is runnable, running (stuck in user code on an M that lost
  its P) or inside ``gosched.syscall``: it will come back;
* a goroutine parked on a descriptor in the netpoller (``IO wait``);
* a plain thread blocked right now in a blocking API (``sched.nforeign``);
* a goroutine blocked on a *foreign* object -- a Chan, Mutex or WaitGroup
  that a still-running plain thread has used through its ``*_blocking`` API
  (``obj.fusers``), or that the program marked with ``obj.foreign = True``: a
  thread outside the runtime may still signal it at any time
  (docs/checkdead.md, "the foreign rule");
* a goroutine blocked on a channel that ``gosched.signal.notify`` registered
  (``sigqueue.watched``): a signal may arrive at any time;
* a timer whose firing would ready a goroutine (``timers.anywaker``): a sleep,
  or a Timer/Ticker channel that some goroutine is receiving from. An unrelated
  timer does not count.

If none holds, the program is deadlocked and ``run()`` raises ``Deadlock``.

Under ``clock="fake"`` the same decision drives the virtual clock, like Go's
checkdead faketime branch and testing/synctest: when every goroutine is
*durably* blocked (only another goroutine of the program can wake it), the
clock jumps straight to the next timer. Anything in the first five bullets
stops time. Unlike synctest, a goroutine waiting for a Mutex whose holder is a
goroutine counts as durably blocked: synctest cannot know who holds a Go mutex
and must assume someone outside the bubble might; gosched's Mutex records its
owner, and the whole program is the bubble.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from . import proc, sigqueue
from . import timers as _timers
from .proc import ADVANCED, DEAD, JUMPED, OK  # checkdead's verdicts, for proc.idle
from .runtime2 import G, Grunnable, Gsyscall, Gwaiting, Sched
from .trace import gstatus
from .traps import getm

# Go's words (proc.go checkdead; runtime/synctest.go).
ASLEEP = "all goroutines are asleep - deadlock!"
GOEXIT = "no goroutines (main called runtime.Goexit) - deadlock!"
BUBBLE_BLOCKED = "deadlock: all goroutines in bubble are blocked"
BUBBLE_MAIN_EXITED = "deadlock: main bubble goroutine has exited but blocked goroutines remain"


_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_MINUTE_NS = 60_000_000_000


class Deadlock(RuntimeError):
    """No goroutine can ever run again.

    ``str(e)`` starts with Go's line (``all goroutines are asleep - deadlock!``,
    or synctest's under the fake clock) and holds the goroutine dump. ``reason``
    is that first line alone, ``dump`` the rest.
    """

    @property
    def reason(self) -> str:
        return str(self).split("\n", 1)[0]

    @property
    def dump(self) -> str:
        parts = str(self).split("\n\n", 1)
        return parts[1] if len(parts) > 1 else ""


# --- per-run state this module owns ------------------------------------------------


class Bubble:
    """What checkdead needs beyond Sched: the testing.wait() caller and main's fate."""

    __slots__ = ("lock", "main_returned", "result", "sigsaved", "waiter")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards waiter (and is the unlockf of its park)
        self.waiter: G | None = None
        self.main_returned = False  # fake clock: main returned; run() waits for the rest
        self.result: Any = None
        self.sigsaved: list[tuple[int, Any]] = []


_bubbles: weakref.WeakKeyDictionary[Sched, Bubble] = weakref.WeakKeyDictionary()
_bubbles_lock = threading.Lock()


def bubble(sched: Sched) -> Bubble:
    with _bubbles_lock:
        b = _bubbles.get(sched)
        if b is None:
            b = _bubbles[sched] = Bubble()
        return b


async def root(sched: Sched, coro: Coroutine[Any, Any, Any]) -> Any:
    """Goroutine 1 under the fake clock: synctest.Test's root.

    When main returns, the program goes on until every goroutine it started has
    exited (time stops advancing, as in synctest); checkdead then ends it with
    main's result, or reports ``BUBBLE_MAIN_EXITED`` if some remain blocked.
    """
    r = await coro
    b = bubble(sched)
    b.result = r
    b.main_returned = True
    raise proc.Goexit()


# --- checkdead ------------------------------------------------------------------------


def _liveusers(obj: Any) -> int:
    """Plain threads that used ``obj``'s blocking API and still live (blocking.adduser)."""
    return sum(1 for r in getattr(obj, "fusers", ()) if r() is not None)


def _foreign(obj: Any) -> bool:
    if isinstance(obj, list):
        return any(_foreign(o) for o in obj)
    return bool(getattr(obj, "foreign", False)) or _liveusers(obj) > 0 or id(obj) in sigqueue.watched


def durable(gp: G) -> bool:
    """Blocked so that only another goroutine of this program can wake it (synctest's idea)."""
    return gp.status == Gwaiting and gp.waitreason.durable and not _foreign(gp.blockedon)


def _queued(sched: Sched) -> bool:
    return bool(sched.runq) or any(p.runq or p.runnext is not None for p in sched.allp)


def checkdead(sched: Sched) -> int:
    """Called by the last active M before it idles (Go's checkdead). OK, DEAD, ADVANCED or JUMPED.

    As in Go, the verdict is taken under ``sched.lock`` with no other M active:
    every M becomes active under that lock (startm, a poller returning), and
    only an active M runs goroutines or pops a timer off a heap, so what this
    reads cannot change underneath it (plain threads can only add work: ``goready``
    marks a G runnable before it queues it). A verdict from a racy read could
    see a sleeping goroutine whose timer another M had just popped but not yet
    fired. Go throws on a runnable goroutine; here a plain thread may have just
    readied it, so it only means "work is on its way".
    """
    with sched.lock:
        if sched.dead:
            return DEAD
        if proc.activems(sched) > 0:
            return OK  # an M woke since idle() counted: it checks again when it idles
        act, msg, gs = _checkdead_locked(sched)
        if act != DEAD or msg is None:
            return act
        # Nothing can run once dead is set, so the dump below shows the state
        # the verdict saw; run() waits on done until the report is published.
        sched.dead = True
    text = msg
    try:
        if gs and traceback_level() > 0:
            text = msg + "\n\n" + dump(sched, gs)
    finally:
        with sched.lock:
            sched.deadlock = text  # published even if the dump failed: run() must not hang
            proc.wakerun_locked(sched)
    return DEAD


def _checkdead_locked(sched: Sched) -> tuple[int, str | None, list[G]]:
    """checkdead's decision (sched.lock held, no M active): the verdict, Go's line, the goroutines."""
    # The O(1) answers first: a server with 10,000 idle connections must not
    # scan them every time its last M goes idle.
    poller = sched.poller
    if sched.nsyscall or sched.nforeign or _queued(sched) or (poller is not None and poller.nwaiters):
        return OK, None, []  # IO, a syscall or a thread outside the runtime can still wake someone
    b = bubble(sched)
    now = proc.nanotime()
    gs = list(sched.allgs.copy().values())
    for gp in gs:
        if gp.status != Gwaiting:
            return OK, None, []  # runnable, running or in a syscall: it will come back
        if not gp.waitsince:
            gp.waitsince = now  # Go stamps waitsince when a GC first sees a G blocked
    if not all(durable(gp) for gp in gs):
        return OK, None, []  # blocked on a foreign object, or on something that is not durable: time stops
    with b.lock:
        w = b.waiter
        b.waiter = None
    if w is not None:
        # testing.wait(): every other goroutine is durably blocked (synctest's
        # maybeWakeLocked prefers the Wait caller over advancing the clock).
        w.status = Grunnable
        proc.globrunqput(sched, w)
        return ADVANCED, None, []
    if not gs:
        if b.main_returned:
            sched.result = b.result
            proc.finish_locked(sched)
            return DEAD, None, []
        if not sched.main_goexited:
            return OK, None, []  # main has not started yet
        return DEAD, GOEXIT, []
    fake = sched.faketime != 0
    when = _timers.anywaker(sched)
    if when:
        if not fake:
            return OK, None, []  # sleep until it fires
        if not sched.main_goexited:  # synctest: time stops when the root has exited
            nxt = _timers.timesleepuntil(sched)
            if nxt and nxt < when:
                when = nxt  # fire unrelated earlier timers at their exact times too
            if when > sched.faketime:
                sched.faketime = when
            # This M is about to fire the timers and take a P to run what they
            # ready: count it as spinning meanwhile so goready does not wake a
            # second M (Go's checkdead faketime branch: nmspinning++, mp.spinning).
            sched.nmspinning += 1
            return JUMPED, None, []
    if fake:
        msg = BUBBLE_MAIN_EXITED if sched.main_goexited else BUBBLE_BLOCKED
    else:
        msg = ASLEEP
    return DEAD, msg, gs


def firetimers(sched: Sched) -> None:
    """After JUMPED: fire what is due at the new virtual time, on this M.

    idle() calls it only once this M counts as active again: a timer popped
    but not yet fired is invisible to checkdead, so only an active M may hold
    one (another M going idle meanwhile would not run checkdead). Fired here
    rather than left to whichever P idle() picks: the timer may sit on another
    P's heap, and no M owns a P now. Callbacks only ready goroutines (onto the
    global queue).
    """
    now = sched.faketime
    try:
        for p in list(sched.allp):
            if p.timer0when and p.timer0when <= now:
                _timers.runtimers(p, now)
    finally:
        with sched.lock:
            sched.nmspinning -= 1


# --- GOTRACEBACK -----------------------------------------------------------------------


def traceback_level() -> int:
    """GOTRACEBACK: none/0 → 0 (no stacks), single/all/1 → 1 (user frames), system/crash/2 → 2."""
    v = os.environ.get("GOTRACEBACK", "").strip().lower()
    if v in ("none", "0"):
        return 0
    if v in ("system", "crash", "2", "wer"):
        return 2
    return 1


# --- dumps -------------------------------------------------------------------------------


def _noinner(c: Any) -> Any:
    return None


def _nodescribe(gp: G) -> str | None:
    return None


# Hooks for goroutines that drive another event loop's code (gosched._aio: an
# asyncio task's goroutine runs a driver that sends into the task's coroutine):
# the coroutine a driver runs, walked in its place; and a "blocked on" line for
# what such a goroutine waits for.
coroinner: Callable[[Any], Any] = _noinner
describewait: Callable[[G], str | None] = _nodescribe


def _coro_frames(coro: Any) -> list[types.FrameType]:
    """Frames of a suspended coroutine chain, outermost first (cr_frame → cr_await)."""
    frames: list[types.FrameType] = []
    c = coro
    seen = 0
    while c is not None and seen < 1000:
        seen += 1
        inner = coroinner(c)
        if inner is not None:
            c = inner
            continue
        f = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None) or getattr(c, "ag_frame", None)
        if f is not None:
            frames.append(f)
        c = getattr(c, "cr_await", None) or getattr(c, "gi_yieldfrom", None) or getattr(c, "ag_await", None)
    return frames


def _thread_frames(ident: int, stop: Callable[[types.FrameType], bool]) -> list[types.FrameType]:
    """The thread's frames above the first one ``stop`` accepts, outermost first.

    The collector is off for the walk, as CPython's own ``sys._current_frames``
    does (gh-106883): on 3.11 each ``f_back`` step materializes a frame object,
    a collection started by that allocation can run a finalizer that switches
    threads, and the running thread then pops the frame being wrapped (a crash;
    blame.py's sampler reads stacks in one C call for the same reason). A dump
    is rare and may be slow, so the frame objects it formats are worth this.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        f = sys._current_frames().get(ident)
        frames: list[types.FrameType] = []
        while f is not None and not stop(f):
            frames.append(f)
            f = f.f_back
    finally:
        if collecting:
            gc.enable()
    frames.reverse()
    return frames


def _frames(gp: G) -> list[types.FrameType]:
    m = gp.m
    st = gp.status
    sched_code = proc.schedule.__code__
    if st == Gsyscall and m is not None:
        # The coroutine is suspended in the SYSCALL trap; the blocking function
        # runs on the M's thread below proc.syscall.
        sys_code = proc.syscall.__code__
        above = _thread_frames(m.ident, lambda f: f.f_code is sys_code or f.f_code is sched_code)
        return _coro_frames(gp.coro) + above
    if st != Gwaiting and st != Grunnable and m is not None and m.curg is gp:
        return _thread_frames(m.ident, lambda f: f.f_code is sched_code)
    return _coro_frames(gp.coro) if gp.coro is not None else []


def _funcname(f: types.FrameType) -> str:
    code = f.f_code
    mod = f.f_globals.get("__name__", "?")
    return f"{mod}.{getattr(code, 'co_qualname', code.co_name)}"


def _userframe(f: types.FrameType) -> bool:
    return not os.path.abspath(f.f_code.co_filename).startswith(_RUNTIME_DIR)


def goroutine_header(gp: G, now_ns: int | None = None, fake: bool = False) -> str:
    """``goroutine N [reason(, N minutes)]:`` as Go's goroutineheader prints it."""
    st = gp.status
    if st == Gwaiting:
        status = gp.waitreason or "waiting"
    else:
        status = gstatus(st)
    if fake and durable(gp):
        status += " (durable)"  # Go's goroutineheader: isIdleInSynctest
    extra = ""
    if st in (Gwaiting, Gsyscall) and gp.waitsince:
        now = now_ns if now_ns is not None else proc.nanotime()
        mins = (now - gp.waitsince) // _MINUTE_NS
        if mins >= 1:
            extra = f", {mins} minutes"
    if fake:
        extra += ", synctest bubble 1"
    return f"goroutine {gp.goid} [{status}{extra}]:"


def goroutine_stack(gp: G, level: int = 1) -> list[str]:
    """Go's frame lines for one goroutine, innermost first, then ``created by``."""
    lines: list[str] = []
    for f in reversed(_frames(gp)):
        if level < 2 and not _userframe(f):
            continue
        lines.append(f"{_funcname(f)}(...)")
        lines.append(f"\t{f.f_code.co_filename}:{f.f_lineno}")
    if gp.gopc is not None:
        file, line, func = gp.gopc
        lines.append(f"created by {func} in goroutine {gp.parentid}")
        lines.append(f"\t{file}:{line}")
    return lines


def dump(sched: Sched, gs: list[G] | None = None, now_ns: int | None = None, level: int | None = None) -> str:
    """Every goroutine in Go's traceback format, blank-line separated, then who blocks whom.

    ``now_ns`` (on the runtime's clock) is the instant durations are measured
    to; a waiting goroutine seen for the first time is stamped, as Go's GC does.
    """
    if gs is None:
        gs = list(sched.allgs.copy().values())
    if level is None:
        level = traceback_level()
    stamp = proc.nanotime()
    for gp in gs:
        if gp.status in (Gwaiting, Gsyscall) and not gp.waitsince:
            gp.waitsince = stamp
    fake = sched.faketime != 0
    gs = sorted(gs, key=lambda g: g.goid)
    blocks = ["\n".join([goroutine_header(gp, now_ns, fake), *goroutine_stack(gp, level)]) for gp in gs]
    text = "\n\n".join(blocks)
    wf = waitfor(sched, gs)
    if wf:
        text += "\n\n" + wf
    return text + ("\n" if text else "")


# --- who blocks whom (beyond Go) -----------------------------------------------------------


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
        for f in reversed(_coro_frames(gp.coro)):
            if not _userframe(f):
                continue
            try:
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
        n = _liveusers(obj)
        if not n:
            return ""
        note = f"foreign: used by {n} live plain thread{'s' if n > 1 else ''}, never reported as deadlocked"
    return fmt.format(note)


def _holders(obj: Any) -> list[int]:
    """Goids holding a Mutex (owner) or RWMutex (writer, or readers)."""
    kind = type(obj).__name__
    if kind == "Mutex":
        return [obj.owner] if obj.locked() else []
    if kind == "RWMutex":
        if obj.owner:
            return [obj.owner]
        return [g for g in list(obj.rowners.keys()) if g]
    return []


def _ids(gs: list[G]) -> str:
    return "[" + ", ".join(str(g.goid) for g in gs) + "]"


def waitfor(sched: Sched, gs: list[G]) -> str:
    """Lines naming what each blocked goroutine waits on and who could release it,
    then any wait-for cycle among lock holders."""
    alive = {g.goid: g for g in gs}
    names: dict[int, str] = {}
    lines: list[str] = []
    edges: dict[int, list[int]] = {}
    for gp in gs:
        obj = gp.blockedon
        if gp.status != Gwaiting or obj is None:
            continue
        kind = type(obj).__name__
        if isinstance(obj, list):  # select
            parts = []
            for ch in obj:
                r, s = ch.waiters()
                parts.append(
                    f"{_objname(ch, [gp], names)}: receivers {_ids(r)}, senders {_ids(s)}"
                    + _foreignnote(ch, " ({})")
                )
            lines.append(f"goroutine {gp.goid} waits in select on " + "; ".join(parts))
        elif kind == "Chan":
            r, s = obj.waiters()
            lines.append(
                f"goroutine {gp.goid} waits on channel {_objname(obj, [gp], names)}, "
                f"{len(obj)}/{obj.cap} buffered: receivers {_ids(r)}, senders {_ids(s)}"
                + _foreignnote(obj, "; {}")
            )
        elif kind in ("Mutex", "RWMutex"):
            name = _objname(obj, [gp], names)
            held = _holders(obj)
            if not held:
                who = "held by a thread outside the runtime" if _foreign(obj) else "not held"
            else:
                descr = []
                for h in held:
                    if h == 0:
                        descr.append("a thread outside the runtime")
                    elif h in alive:
                        descr.append(f"goroutine {h}")
                        edges.setdefault(gp.goid, []).append(h)
                    else:
                        descr.append(f"goroutine {h}, which has exited")
                who = "held by " + ", ".join(descr)
            lines.append(f"goroutine {gp.goid} waits for {name}, {who}{_foreignnote(obj, '; {}')}")
        elif kind == "WaitGroup":
            lines.append(
                f"goroutine {gp.goid} waits for {_objname(obj, [gp], names)}, counter {obj.count}"
                f"{_foreignnote(obj, '; {}')}"
            )
        elif kind == "Semaphore":
            lines.append(f"goroutine {gp.goid} waits for {_objname(obj, [gp], names)}")
        elif (line := describewait(gp)) is not None:
            lines.append(line)
    if not lines:
        return ""
    out = "blocked on:\n" + "\n".join(lines)
    for cyc in _cycles(edges):
        out += "\nwait-for cycle: " + _describe_cycle(cyc, alive, names)
    return out


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


def _describe_cycle(cyc: list[int], alive: dict[int, G], names: dict[int, str]) -> str:
    """"goroutine 3 holds mu1 and waits for mu2; goroutine 9 holds mu2 and waits for mu1"."""
    parts = []
    n = len(cyc)
    for i, g in enumerate(cyc):
        gp = alive[g]
        prev = alive[cyc[(i - 1) % n]]  # prev waits for a lock that g holds
        held = prev.blockedon
        parts.append(
            f"goroutine {g} holds {_objname(held, [gp, prev], names)} and waits for "
            f"{_objname(gp.blockedon, [gp], names)}"
        )
    return "; ".join(parts)


# --- SIGQUIT ---------------------------------------------------------------------------------


def _sigdump(sched: Sched, signame: str, exit_after: bool) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        text = dump(sched) if traceback_level() > 0 else ""
        sys.stderr.write(f"{signame}: {'quit' if signum == signal.SIGQUIT else 'dump'}\n\n{text}")
        sys.stderr.flush()
        if exit_after:
            os._exit(2)  # Go: a SIGQUIT dumps every goroutine and exits with status 2

    return handler


def _parse_signal(v: str) -> signal.Signals | None:
    v = v.strip().upper()
    if not v:
        return None
    if v.isdigit():
        try:
            return signal.Signals(int(v))
        except ValueError:
            return None
    if not v.startswith("SIG"):
        v = "SIG" + v
    return getattr(signal.Signals, v, None)


def install_signals(sched: Sched) -> None:
    """Install the dump handlers (main thread only; run() calls this).

    * ``SIGQUIT``: ``GOSCHED_SIGQUIT=exit`` (default, as Go) prints the dump to
      stderr and exits with status 2; ``dump`` prints it and goes on; ``off``
      leaves the handler alone.
    * ``GOSCHED_DUMPSIG=USR1`` (a name or number): that signal prints the dump
      and goes on.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    b = bubble(sched)
    mode = os.environ.get("GOSCHED_SIGQUIT", "exit").strip().lower()
    if mode not in ("exit", "dump", "off", ""):
        # stacklevel 4: the warning points at the program's run() call.
        warnings.warn(
            f"GOSCHED_SIGQUIT={mode!r} is not one of 'exit' (the default), 'dump', 'off'; using 'exit'",
            RuntimeWarning,
            stacklevel=4,
        )
        mode = "exit"
    todo: list[tuple[signal.Signals, bool]] = []
    if mode != "off":
        todo.append((signal.SIGQUIT, mode != "dump"))
    dumpsig = os.environ.get("GOSCHED_DUMPSIG", "")
    extra = _parse_signal(dumpsig)
    if extra is None and dumpsig.strip():
        warnings.warn(
            f"GOSCHED_DUMPSIG={dumpsig!r} is not a signal name (USR1, SIGUSR2) or number; no dump signal",
            RuntimeWarning,
            stacklevel=4,
        )
    if extra is not None and extra != signal.SIGQUIT:
        todo.append((extra, False))
    for sig, ex in todo:
        try:
            old = signal.signal(sig, _sigdump(sched, sig.name, ex))
        except (ValueError, OSError):  # pragma: no cover - not settable here
            continue
        b.sigsaved.append((sig, old))


def uninstall_signals(sched: Sched) -> None:
    b = bubble(sched)
    while b.sigsaved:
        sig, old = b.sigsaved.pop()
        try:
            signal.signal(sig, old)
        except (ValueError, OSError, TypeError):  # pragma: no cover
            pass


def dump_program() -> str:
    """``gosched.dump()``: every goroutine of the running program, in Go's format.

    Like ``runtime.Stack(buf, true)``: the caller shows as ``[running]``; works
    from a goroutine or from a plain thread while ``gosched.run`` is running.
    """
    m = getm()
    s = m.sched if m is not None else proc.current
    if s is None:
        raise RuntimeError("gosched.dump() needs a running gosched.run()")
    return dump(s)



# idle() calls these through proc's hooks: proc is below this module.
proc.checkdead = checkdead
proc.firetimers = firetimers
