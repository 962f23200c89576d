"""SIGQUIT (and GOSCHED_DUMPSIG) print every goroutine (Go's signal_unix.go: a
SIGQUIT makes sighandler dump all goroutines and exit with status 2).

run() installs the handlers on the main thread and restores the previous ones
when it returns.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from .dump import dump
from .runtime2 import Sched
from .traceback import traceback_level

# The handlers run() replaced, restored when it returns; main thread only (one run
# per process, and signal.signal works only there).
_saved: list[tuple[int, Any]] = []


def _sigdump(sched: Sched, signame: str, exit_after: bool) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        text = dump(sched) if traceback_level() > 0 else ""
        sys.stderr.write(f"{signame}: {'quit' if signum == signal.SIGQUIT else 'dump'}\n\n{text}")
        sys.stderr.flush()
        if exit_after:
            os._exit(2)  # Go: a SIGQUIT dumps every goroutine and exits with status 2

    return handler


def parse_signal(v: str) -> signal.Signals | None:
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


def _sigquit_mode() -> str:
    mode = os.environ.get("GOSCHED_SIGQUIT", "exit").strip().lower()
    if mode not in ("exit", "dump", "off", ""):
        # stacklevel 5: the warning points at the program's run() call.
        warnings.warn(
            f"GOSCHED_SIGQUIT={mode!r} is not one of 'exit' (the default), 'dump', 'off'; using 'exit'",
            RuntimeWarning,
            stacklevel=5,
        )
        mode = "exit"
    return mode


def _dumpsig() -> signal.Signals | None:
    dumpsig = os.environ.get("GOSCHED_DUMPSIG", "")
    extra = parse_signal(dumpsig)
    if extra is None and dumpsig.strip():
        warnings.warn(
            f"GOSCHED_DUMPSIG={dumpsig!r} is not a signal name (USR1, SIGUSR2) or number; no dump signal",
            RuntimeWarning,
            stacklevel=5,
        )
    return extra


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
    mode = _sigquit_mode()
    todo: list[tuple[signal.Signals, bool]] = []
    if mode != "off":
        todo.append((signal.SIGQUIT, mode != "dump"))
    extra = _dumpsig()
    if extra is not None and extra != signal.SIGQUIT:
        todo.append((extra, False))
    for sig, ex in todo:
        try:
            old = signal.signal(sig, _sigdump(sched, sig.name, ex))
        except (ValueError, OSError):  # pragma: no cover - not settable here
            continue
        _saved.append((sig, old))


def uninstall_signals() -> None:
    """Put back the handlers install_signals replaced."""
    while _saved:
        sig, old = _saved.pop()
        try:
            signal.signal(sig, old)
        except (ValueError, OSError, TypeError):  # pragma: no cover
            pass
