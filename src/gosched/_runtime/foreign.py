"""What a goroutine yields that is not a gosched trap (beside the traps of traps.py).

A bare ``yield`` (``await asyncio.sleep(0)``) gives up the processor, as Go's
goyield does. An asyncio Future is parked on by gosched's asyncio loop, which
installs ``foreignpark`` when ``gosched.aio`` is imported (asyncio interop is
opt-in, so ``import gosched`` does not load asyncio). Anything else belongs to an
event loop that is not running here: the goroutine gets a TypeError it can see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .runq import globrunqput
from .runtime2 import RUNQ_SIZE, G, Grunnable, M, P, Sched


def _noforeignpark(sched: Sched, m: M, gp: G, obj: Any) -> bool:
    return False


# An event loop's awaitable yielded by a goroutine (an asyncio Future): park the
# goroutine on it and return True, or False to refuse it (gosched._aio.task).
foreignpark: Callable[[Sched, M, G, Any], bool] = _noforeignpark


def foreignyield(sched: Sched, m: M, gp: G, p: P | None, obj: Any) -> G | None:
    """A goroutine yielded something that is not a gosched trap.

    A bare ``yield`` (``await asyncio.sleep(0)``) is a plain yield of the
    processor: the goroutine goes to the back of the local queue (Go's goyield).
    An asyncio Future parks the goroutine until it is done (``foreignpark``,
    installed by gosched's asyncio loop). Anything else is another event loop's
    awaitable (a trio trap): that loop is not running here, so the goroutine
    gets a TypeError it can see, instead of hanging forever.
    """
    m.curg = None
    if obj is not None and foreignpark(sched, m, gp, obj):
        return None
    if obj is None:
        gp.status = Grunnable
        if p is not None and len(p.runq) < RUNQ_SIZE:
            p.runq.append(gp)
        else:
            globrunqput(sched, gp)
        return None
    gp.exc = TypeError(
        f"a goroutine awaited {type(obj).__module__}.{type(obj).__qualname__} {obj!r}, which belongs "
        f"to another event loop; to await asyncio code in goroutines, import gosched.aio first; "
        f"otherwise use gosched.sleep, channels and gosched.syscall"
    )
    gp.status = Grunnable
    if p is not None:
        return gp  # resume it at once with the error
    globrunqput(sched, gp)
    return None
