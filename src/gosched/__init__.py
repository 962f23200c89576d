"""gosched: Go's runtime scheduler, sysmon and concurrency kit for Python.

Goroutines are ``async def`` functions scheduled M:N on OS threads::

    import gosched

    async def main() -> int:
        ch = gosched.Chan[int]()
        gosched.go(ch.send, 42)
        return await ch.recv()

    print(gosched.run(main))   # 42
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from . import aio, context, debug, errgroup, signal, testing
from ._public import fixup_module_metadata
from ._runtime.api import goexit, gomaxprocs, num_goroutine, syscall
from ._runtime.blame import BlockingWarning
from ._runtime.chan import Chan, Closed, ClosedChannelError, Panic
from ._runtime.deadlock import Deadlock
from ._runtime.deadlock import dump_program as dump
from ._runtime.goroutine import Goroutine
from ._runtime.main import go, run
from ._runtime.proc import Fatal
from ._runtime.select import RecvCase, SendCase, recv, select, send
from ._runtime.sync import Cond, Mutex, Once, RWMutex, Semaphore, WaitGroup
from ._runtime.time import Ticker, Timer, after, after_func, gosched, now, sleep

__all__ = [
    "BlockingWarning",
    "Chan",
    "Closed",
    "ClosedChannelError",
    "Cond",
    "Deadlock",
    "Fatal",
    "Goroutine",
    "Mutex",
    "Once",
    "Panic",
    "RWMutex",
    "RecvCase",
    "Semaphore",
    "SendCase",
    "Ticker",
    "Timer",
    "WaitGroup",
    "after",
    "aio",
    "after_func",
    "context",
    "debug",
    "dump",
    "errgroup",
    "go",
    "goexit",
    "gomaxprocs",
    "gosched",
    "now",
    "num_goroutine",
    "recv",
    "run",
    "select",
    "send",
    "signal",
    "sleep",
    "syscall",
    "testing",
]

__version__ = "0.1.0"  # the only place the version is written (pyproject.toml reads it)

fixup_module_metadata(__name__, globals(), __all__)


if TYPE_CHECKING:  # what the lazy attribute below returns, for type checkers and IDEs
    from . import net as net


def __getattr__(name: str) -> ModuleType:
    # gosched.net is imported on first use: programs without sockets don't pay for it.
    if name == "net":
        import importlib

        return importlib.import_module("gosched.net")
    raise AttributeError(f"module 'gosched' has no attribute {name!r}")
