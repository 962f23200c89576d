"""The control channel ``python -m gosched dump|top PID`` talks to: a signal and files.

No network listener. While ``run()`` runs in the main thread, the runtime:

* writes ``<dir>/<pid>.ctl`` holding the number of its control signal
  (``GOSCHED_CTLSIG``, a name or number; default ``SIGRTMIN+2``, which Python
  programs rarely use; ``off`` disables the channel) and the process's start
  time. The CLI signals only a process that has this file and that start time
  (a marker left by a killed process may name a reused pid), so it never kills
  a process that would take the signal's default action;
* on the signal (its handler runs in the main thread, which ``run()`` keeps for
  handlers: sigwait.py), answers every request file ``<dir>/<pid>.<nonce>.req``
  (``dump`` or ``top``) by writing ``<dir>/<pid>.<nonce>.out`` (written to a
  temporary name, then renamed, so the reader never sees half of it);
* removes the marker when the run ends.

``<dir>`` is ``$XDG_RUNTIME_DIR/gosched``, else ``/tmp/gosched-<uid>``, created
mode 0700 and used only if it belongs to this user: only this user (and root)
can send requests, as only they could signal the process.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from collections import Counter
from typing import Any

from . import dump, metrics, proc, sigquit, traceback
from .runtime2 import GSTATUS_STRINGS, G, Gwaiting, Sched

KINDS = ("dump", "top")

# (signal, handler it replaced, marker path) while a run serves requests.
_installed: tuple[int, Any, str] | None = None


def ctldir() -> str:
    """The per-user directory of markers, requests and answers (made 0700 if missing)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    path = os.path.join(base, "gosched") if base else f"/tmp/gosched-{os.getuid()}"
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(f"gosched: {path} is not a private directory of this user")
    return path


def ctlsignal() -> int | None:
    """``GOSCHED_CTLSIG``'s signal number; None when set to ``off`` or not a signal."""
    v = os.environ.get("GOSCHED_CTLSIG", "SIGRTMIN+2").strip().upper()
    if v in ("OFF", "0", ""):
        return None
    if v.startswith("SIGRTMIN+") and v[9:].isdigit():
        return int(signal.SIGRTMIN) + int(v[9:])
    sig = sigquit.parse_signal(v)
    return int(sig) if sig is not None else None


def starttime(pid: int) -> int:
    """When process ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); 0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def install(sched: Sched) -> None:
    """Serve dump and top requests for this run (main thread only; run() calls this)."""
    global _installed
    sig = ctlsignal()
    if sig is None or threading.current_thread() is not threading.main_thread():
        return
    try:
        d = ctldir()
        old = signal.signal(sig, lambda signum, frame: serve(sched, d))
    except (OSError, ValueError):  # no private directory, or not a settable signal
        return
    sweep(d)
    marker = os.path.join(d, f"{os.getpid()}.ctl")
    _write(marker, f"{sig} {starttime(os.getpid())}")
    _installed = (sig, old, marker)


def _stale(path: str) -> bool:
    """A marker whose process is gone (killed, so it could not remove it) or whose pid was reused."""
    try:
        with open(path) as f:
            started = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return False  # being written, or not ours to judge
    return started != starttime(int(os.path.basename(path).split(".")[0]))


def sweep(d: str) -> None:
    """Remove the markers killed programs left behind (at each run's start)."""
    for name in os.listdir(d):
        path = os.path.join(d, name)
        if name.endswith(".ctl") and name.split(".")[0].isdigit() and _stale(path):
            try:
                os.unlink(path)
            except OSError:
                pass


def uninstall() -> None:
    global _installed
    if _installed is None:
        return
    sig, old, marker = _installed
    _installed = None
    try:
        os.unlink(marker)
    except OSError:
        pass
    try:
        signal.signal(sig, old)
    except (OSError, ValueError, TypeError):  # pragma: no cover
        pass


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def serve(sched: Sched, d: str) -> None:
    """Answer every pending request for this process (the control signal's handler)."""
    prefix = f"{os.getpid()}."
    for name in sorted(os.listdir(d)):
        if not (name.startswith(prefix) and name.endswith(".req")):
            continue
        req = os.path.join(d, name)
        try:
            with open(req) as f:
                kind = f.read().strip()
            os.unlink(req)
        except OSError:
            continue  # another handler run took it
        answer = answer_for(sched, kind)
        _write(req[: -len(".req")] + ".out", answer)


def answer_for(sched: Sched, kind: str) -> str:
    if kind == "dump":
        return dump.dump(sched)
    if kind == "top":
        return json.dumps(snapshot(sched))
    return f"gosched: unknown request {kind!r}\n"


# --- what top shows ------------------------------------------------------------------------


def _where(gp: G) -> str:
    """``func file:line`` of the innermost user frame ``gp`` is in."""
    frames = [f for f in traceback.frames(gp) if traceback.userframe(f)]
    if not frames:
        return gp.startfn
    f = frames[-1]
    return f"{traceback.funcname(f)} {os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"


def _state(gp: G) -> str:
    if gp.status == Gwaiting and gp.waitreason:
        return str(gp.waitreason)
    return GSTATUS_STRINGS.get(gp.status, "?")


def snapshot(sched: Sched) -> dict[str, Any]:
    """Ps, Ms, goroutines by state and by start function, and the metrics, as JSON-able data."""
    gs = list(sched.allgs.copy().values())
    byfn: dict[str, Counter[str]] = {}
    for gp in gs:
        byfn.setdefault(gp.startfn, Counter())[_state(gp)] += 1
    ps = [
        {"id": p.id, "status": p.status, "m": p.m.id if p.m else None,
         "runq": len(p.runq) + (p.runnext is not None), "schedtick": p.schedtick, "timers": len(p.timers)}
        for p in list(sched.allp)
    ]
    ms = []
    for m in list(sched.allm):
        if m.thread is not None and not m.thread.is_alive():
            continue
        g = m.curg
        ms.append({"id": m.id, "p": m.p.id if m.p else None, "g": g.goid if g else None,
                   "where": _where(g) if g is not None else "", "spinning": m.spinning,
                   "sysmon": m is sched.sysmon_m})
    values = metrics.read(sched)
    lat = values.pop("/sched/latencies:seconds")
    assert isinstance(lat, metrics.Histogram)
    return {
        "pid": os.getpid(), "uptime": (proc.nanotime() - sched.starttime) / 1e9 if not sched.faketime else 0,
        "time": time.time(), "gomaxprocs": sched.gomaxprocs, "ps": ps, "ms": ms,
        "states": dict(Counter(_state(gp) for gp in gs)),
        "functions": sorted(([fn, sum(c.values()), dict(c)] for fn, c in byfn.items()), key=lambda r: -r[1]),
        "metrics": values, "latency": {"counts": list(lat.counts), "buckets": list(lat.buckets[:-1])},
    }


# --- the client side (the CLI) -------------------------------------------------------------


def request(pid: int, kind: str, timeout: float) -> str:
    """Ask process ``pid`` for a ``dump`` or ``top`` answer; raise ``LookupError`` if it runs
    no gosched runtime that serves requests, ``TimeoutError`` if it does not answer."""
    d = ctldir()
    marker = os.path.join(d, f"{pid}.ctl")
    try:
        with open(marker) as f:
            sig, started = (int(w) for w in f.read().split())
    except (OSError, ValueError):
        raise LookupError(
            f"no gosched runtime is serving requests in process {pid} (no {marker}: not running "
            f"gosched.run in its main thread, run by another user, or GOSCHED_CTLSIG=off)"
        ) from None
    if started != starttime(pid):
        raise LookupError(f"no gosched process {pid} (a stale {marker} from an earlier process)")
    nonce = f"{os.getpid()}-{time.monotonic_ns()}"
    base = os.path.join(d, f"{pid}.{nonce}")
    _write(base + ".req", kind)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        os.unlink(base + ".req")
        raise LookupError(f"no process {pid}") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(base + ".out") as f:
                text = f.read()
            os.unlink(base + ".out")
            return text
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            for suffix in (".req", ".out"):
                try:
                    os.unlink(base + suffix)
                except OSError:
                    pass
            raise TimeoutError(f"process {pid} did not answer within {timeout:g}s")
        time.sleep(0.01)
