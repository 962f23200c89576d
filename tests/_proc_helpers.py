"""Run a Python program in its own process group with a deadline (test_childsignals, test_fork).

A program that hangs fails its test after ``timeout`` seconds instead of
hanging the suite, and everything it started (children, a forkserver) is
killed with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def runprog(
    tmp_path: Path, src: str, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``src`` (dedented) as a script; the process group is killed at ``timeout``."""
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(src))
    drop = ("GOTRACEBACK", "GOSCHED_SIG", "GOSCHED_DUMP")
    e = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    e.update(env or {})
    p = subprocess.Popen(
        [sys.executable, str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=e, start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"the program hung ({timeout} s); stdout:\n{out}\nstderr:\n{err}")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # whatever it left behind
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def signal_when_ready(
    argv: list[str], sig: int, ready: str = "ready\n", timeout: float = 30.0
) -> tuple[int, str, str]:
    """Start ``argv`` in its own session, wait for its first stdout line to be ``ready``,
    send it ``sig``; return its exit status and the rest of its stdout and stderr."""
    p = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == ready
        p.send_signal(sig)
        out, err = p.communicate(timeout=timeout)
    finally:
        p.kill()
    return p.returncode, out, err


def sigblk(status: str) -> int:
    """The blocked-signal mask from a ``/proc/<pid>/status`` text."""
    for line in status.splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigBlk line in {status!r}")
