"""The execution tracer (Go's runtime/trace*.go), written as Chrome trace-event JSON.

Go's tracer records events into per-M buffers and a reader goroutine streams
them out; ``go tool trace`` draws them. Here the events are written as the
Chrome trace-event format (a JSON array, one event per line), which
ui.perfetto.dev and chrome://tracing open: process 1 has a track per P,
process 2 one per M, process 3 the runtime's own (sysmon, GC). A goroutine's
time on a P is one complete ("X") slice named by its start function, written
when the slice ends, so every slice in the file is closed. Arrows ("s"/"f"
flow events) go from the goroutine that readied another (or the timer, netpoll
or sysmon event that did) to the slice where it next runs.

Each thread appends to its own buffer (a list; Go's per-M traceBuf) and hands
a full one to the writer under ``_wlock``, so a long run keeps at most
``BUFSIZE`` events per thread in memory.

This module sits with the data structures: the scheduler calls it only behind
``enabled`` (``proc.tracing`` in schedule and goready: one test of a module
global per hot path), and the monitor above (``tracectl``) turns it on and off.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from .runtime2 import G, M, P
from .speedups import EXIT, Returned
from .traps import GOSCHED, PARK, SLEEP, SYSCALL

BUFSIZE = 4096  # events a thread keeps before handing them to the writer

enabled = False  # tracing (tracectl sets it, and proc.tracing with it)

PID_P, PID_M, PID_RT = 1, 2, 3  # the trace's "processes": Ps, Ms, the runtime
# Track ids, distinct across processes (a viewer marks a tid equal to its pid "main thread").
TID_P, TID_M, TID_RT = 1000, 2000, 3000

_wlock = threading.Lock()  # the file, the buffer list, the flow counter
_out: IO[str] | None = None
_first = True  # no event written yet (the JSON array's commas)
_t0 = 0  # monotonic ns at start: ts 0
_bufs: list[list[str]] = []  # every thread's buffer of encoded events
_local = threading.local()  # .buf: this thread's buffer, for trace number .gen
_gen = 0  # which trace: a thread's buffer from an earlier one is dropped
_flowid = 0
_named: set[int] = set()  # tracks (tids) that have their name event
# goid -> (when it became runnable, flow id to end at its next start or 0)
_ready: dict[int, tuple[float, int]] = {}
_started: set[int] = set()  # goroutines that have run (an arrow to one that has not is its "go")
# goid -> its start function, that as JSON, and its slices' label as JSON (G.startfn
# loses the module once the goroutine returns)
_fnames: dict[int, tuple[str, str, str]] = {}
_retaken: dict[int, float] = {}  # goid -> when sysmon took its P (its P slice ends there)
written = 0  # events written so far (tests: bounded memory)
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def now() -> float:
    """Microseconds since the trace started (the format's ``ts``)."""
    return (time.monotonic_ns() - _t0) / 1000


def begin(out: IO[str]) -> None:
    """Start writing to ``out`` (tracectl holds the state lock)."""
    global _out, _first, _t0, _flowid, written, _gen
    with _wlock:
        _out, _first, _t0, _flowid, written = out, True, time.monotonic_ns(), 0, 0
        _gen += 1
        _bufs.clear()
        _named.clear()
        _ready.clear()
        _retaken.clear()
        _started.clear()
        _fnames.clear()
        out.write("[\n")
    for pid, name in ((PID_P, "Ps"), (PID_M, "Ms (threads)"), (PID_RT, "runtime")):
        _emit({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}})
        _emit({"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}})


def end() -> None:
    """Flush every thread's buffer and close the array (tracing is already off)."""
    global _out
    with _wlock:
        for buf in _bufs:
            _write(buf)
        out = _out
        _out = None
        if out is not None:
            out.write("\n]\n")
            out.flush()


def _write(buf: list[str]) -> None:
    # _wlock held
    global _first, written
    evs = buf[:]
    del buf[: len(evs)]
    out = _out
    if out is None or not evs:
        return  # stopped: what a slice in flight recorded is dropped
    text = ",\n".join(evs)
    out.write(text if _first else ",\n" + text)
    _first = False
    written += len(evs)


def _emit(ev: dict[str, Any]) -> None:
    _put(_encode(ev))


def _put(line: str) -> None:
    """Buffer one encoded event. The hot events are formatted by hand (f-strings): the
    json module formats each float through a Python function, several µs an event."""
    loc = _local
    buf: list[str] | None = getattr(loc, "buf", None)
    if buf is None or loc.gen != _gen:
        buf = loc.buf = []
        with _wlock:
            loc.gen = _gen
            _bufs.append(buf)
    buf.append(line)
    if len(buf) >= BUFSIZE:
        with _wlock:
            _write(buf)


def _track(pid: int, tid: int, name: str) -> None:
    """Name a track (once: the callers test ``tid in _named`` first, tids are unique)."""
    _named.add(tid)
    _emit({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
    _emit({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}})


def _ptrack(p: P) -> tuple[int, int]:
    tid = TID_P + p.id
    if tid not in _named:
        _track(PID_P, tid, f"P{p.id}")
    return PID_P, tid


def _mtrack(m: M) -> tuple[int, int]:
    tid = TID_M + m.id
    if tid not in _named:
        _track(PID_M, tid, f"M{m.id}")
    return PID_M, tid


def _rttrack(tid: int, name: str) -> tuple[int, int]:
    tid += TID_RT
    if tid not in _named:
        _track(PID_RT, tid, name)
    return PID_RT, tid


SYSMON, GC, TIMERS, NETPOLL, OTHER = 0, 1, 2, 3, 4  # the runtime's tracks


def _slice(track: tuple[int, int], name: str, ts: float, dur: float, cat: str, args: dict[str, Any]) -> None:
    pid, tid = track
    _emit({"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args})


def instant(track: tuple[int, int], name: str, cat: str, args: dict[str, Any],
            ts: float | None = None) -> None:
    pid, tid = track
    t = now() if ts is None else ts
    _emit({"ph": "i", "s": "t", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": t, "args": args})


def _flow(track: tuple[int, int], ts: float, name: str) -> int:
    """Start an arrow inside the slice that covers ``ts`` on ``track``; its id."""
    global _flowid
    with _wlock:
        _flowid += 1
        fid = _flowid
    pid, tid = track
    _put(f'{{"ph":"s","id":{fid},"name":"{name}","cat":"flow","pid":{pid},"tid":{tid},"ts":{ts:.3f}}}')
    return fid


_quoted: dict[str, str] = {}


def _q(s: str) -> str:
    """``s`` as a JSON string (cached: wait reasons and function names repeat)."""
    q = _quoted.get(s)
    if q is None:
        q = _quoted[s] = json.dumps(s)
    return q


# --- the scheduler's events (called behind ``enabled``) ---------------------------------


def execute(
    m: M,
    gp: G,
    p: P | None,
    send: Callable[[Any, Any], Any] | None,
    throw: Callable[[G, BaseException], Any],
) -> Any:
    """Resume ``gp`` as schedule does (send, or ``throw``: lockedm.resumethrow, which also
    re-handles a reissued trap) and record its slice (Go's GoStart..GoStop)."""
    t0 = now()
    tr: Any = EXIT
    try:
        exc = gp.exc
        if exc is not None:
            tr = throw(gp, exc)
        elif send is None:
            tr = gp.coro.send(gp.param)
        else:
            tr = send(gp.coro, gp.param)
        return tr
    except BaseException:
        tr = EXIT
        raise
    finally:
        _goslice(m, gp, p, t0, now(), tr)


def _why(gp: G, tr: Any) -> tuple[str, str]:
    """How a slice ended: (Go's event, the wait reason)."""
    if tr is EXIT or type(tr) is Returned:
        return "GoDestroy", ""
    if type(tr) is not tuple:
        return ("GoSched", "") if tr is None else ("GoStop", "")
    kind = tr[0]
    if kind is PARK:
        return "GoBlock", str(tr[2])
    if kind is SLEEP:
        return "GoBlock", "sleep"
    if kind is SYSCALL:
        return "GoSyscall", "syscall"
    if kind is GOSCHED:
        return ("GoPreempt" if gp.preempt else "GoSched"), ""
    return "GoStop", ""


def _names(gp: G) -> tuple[str, str, str]:
    names = _fnames.get(gp.goid)
    if names is None:
        fn = gp.startfn
        names = _fnames[gp.goid] = (fn, _q(fn), json.dumps(f"G{gp.goid} {fn.rpartition('.')[2] or fn}"))
    return names


def _fname(gp: G) -> str:
    return _names(gp)[0]


def _goslice(m: M, gp: G, p: P | None, t0: float, t1: float, tr: Any) -> None:
    goid = gp.goid
    ready, fid = _ready.pop(goid, (t0, 0))
    ev, reason = _why(gp, tr)
    _, fn, label = _names(gp)  # JSON strings
    args = f'{{"g":{goid},"fn":{fn},"end":"{ev}","ready":{ready:.3f}'
    if reason:
        args += f',"reason":{_q(reason)}'
        obj = gp.blockedon
        if obj is not None:  # a class name and an address: nothing to escape
            args += f',"obj":"{type(obj).__name__}@{id(obj):#x}"'

    if ev == "GoDestroy":
        _started.discard(goid)
        _fnames.pop(goid, None)
    else:
        _started.add(goid)
        if ev != "GoBlock" and ev != "GoSyscall":
            _ready[goid] = (t1, 0)  # runnable again at once
    cut = _retaken.pop(goid, None)
    if cut is not None:
        args += f',"retaken":{cut:.3f}'
    head = f'{{"ph":"X","name":{label},"cat":"goroutine","ts":{t0:.3f},'
    if p is not None:  # the P it started on, until sysmon took it (``cut``); the details are on the M's copy
        ptid = TID_P + p.id
        if ptid not in _named:
            _ptrack(p)
        pdur = (cut or t1) - t0
        if pdur < 0.001:  # a viewer drops empty slices
            pdur = 0.001
        _put(f'{head}"dur":{pdur:.3f},"pid":{PID_P},"tid":{ptid},"args":{{"g":{goid}}}}}')
    mtid = TID_M + m.id
    if mtid not in _named:
        _mtrack(m)
    dur = t1 - t0
    if dur < 0.001:
        dur = 0.001
    _put(f'{head}"dur":{dur:.3f},"pid":{PID_M},"tid":{mtid},"args":{args}}}}}')
    if fid:
        _put(f'{{"ph":"f","bp":"e","id":{fid},"name":"ready","cat":"flow","pid":{PID_M},"tid":{mtid},"ts":{t0:.3f}}}')


def goready(gp: G, m: M | None, who: str = "") -> None:
    """``gp`` became runnable (Go's GoUnblock, or GoCreate the first time): start its arrow.

    The arrow starts in the slice of whoever readied it: the calling M's
    goroutine, else a 1 µs slice on the runtime's tracks named ``who``: an M's
    scheduler loop readies what its timers wake, netpoll what I/O wakes.
    """
    t = now()
    _fname(gp)
    cur = m.curg if m is not None else None
    if not who and m is not None and cur is None:
        who = "timer"
    if m is not None and cur is not None and cur is not gp:
        # inside cur's slice on this M's track (written when the slice ends)
        fid = _flow(_mtrack(m), t, "ready" if gp.goid in _started else "go")
    else:
        tid = {"timer": TIMERS, "netpoll": NETPOLL, "sysmon": SYSMON}.get(who, OTHER)
        track = _rttrack(tid, who or "other threads")
        _slice(track, who or "ready", t, 1.0, "runtime", {"g": gp.goid})
        fid = _flow(track, t + 0.5, "ready")
    _ready[gp.goid] = (t, fid)


def syscall(m: M, gp: G, fn: Any, t0: float, lostp: bool) -> None:
    """A syscall slice on the M's track (Go's GoSyscallBegin..End)."""
    t1 = now()
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    args = {"g": gp.goid, "fn": _fname(gp), "call": name, "lostp": lostp}
    _slice(_mtrack(m), f"syscall {name}", t0, max(t1 - t0, 0.001), "syscall", args)
    _ready[gp.goid] = (t1, 0)


def procstart(p: P, m: M) -> None:
    instant(_ptrack(p), f"ProcStart M{m.id}", "proc", {"m": m.id})


def procstop(p: P, m: M | None) -> None:
    instant(_ptrack(p), "ProcStop", "proc", {"m": m.id if m is not None else None})


def mstart(m: M) -> None:
    instant(_mtrack(m), "MStart", "m", {})


def mpark(m: M, t0: float, polled: bool) -> None:
    """The M slept in idle(): parked on its note, or blocked in netpoll."""
    name = "netpoll (blocked)" if polled else "parked (idle)"
    _slice(_mtrack(m), name, t0, max(now() - t0, 0.001), "m", {})


def netpollready(gs: list[G]) -> None:
    for gp in gs:
        goready(gp, None, "netpoll")


def retake(p: P, m: M, gp: G | None, site: tuple[str, int, str] | None, insyscall: bool) -> None:
    """sysmon took ``p`` from ``m`` (Go's ProcSteal), naming the stuck call site."""
    t = now()
    args: dict[str, Any] = {"m": m.id, "g": gp.goid if gp is not None else None, "syscall": insyscall}
    where = ""
    if site is not None:
        args["site"] = f"{site[0]}:{site[1]}"
        args["func"] = site[2]
        where = f" at {site[0].rpartition('/')[2]}:{site[1]}"
    if gp is not None:
        args["fn"] = _fname(gp)
        if not insyscall:  # its slice on the P ends here (a syscall's slice ended already)
            _retaken[gp.goid] = t
    instant(_ptrack(p), f"retake from M{m.id}{where}", "sysmon", args, t)
    instant(_rttrack(SYSMON, "sysmon"), f"retake P{p.id}{where}", "sysmon", dict(args, p=p.id), t)


def preempt(p: P, gp: G) -> None:
    instant(_ptrack(p), f"preempt G{gp.goid}", "sysmon", {"g": gp.goid, "fn": _fname(gp)})


def handoff(p: P) -> None:
    instant(_ptrack(p), "handoffp", "sysmon", {})


def gc(t0: int, t1: int, info: dict[str, Any]) -> None:
    """One collection, from monotonic ns ``t0`` to ``t1``."""
    args = {k: info.get(k) for k in ("generation", "collected", "uncollectable")}
    ts = (t0 - _t0) / 1000
    dur = max((t1 - t0) / 1000, 0.001)
    _slice(_rttrack(GC, "GC"), f"GC gen {info.get('generation')}", ts, dur, "gc", args)
