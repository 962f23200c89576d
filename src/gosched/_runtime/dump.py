"""A dump of every goroutine: its stack, then who blocks whom (Go's tracebackothers,
``runtime.Stack(buf, true)``).

Printed by checkdead with its report, by SIGQUIT (sigquit.py), by ``gosched.dump()``
and by the pytest plugin on a hang.
"""

from __future__ import annotations

from . import proc
from .runtime2 import G, Gsyscall, Gwaiting, Sched
from .traceback import goroutine_header, goroutine_stack, traceback_level
from .waitfor import waitfor


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
    wf = waitfor(gs)
    if wf:
        text += "\n\n" + wf
    return text + ("\n" if text else "")


def dump_program() -> str:
    """``gosched.dump()``: every goroutine of the running program, in Go's format.

    Like ``runtime.Stack(buf, true)``: the caller shows as ``[running]``; works
    from a goroutine or from a plain thread while ``gosched.run`` is running.
    """
    return dump(proc.getsched("gosched.dump()", ended=True))
