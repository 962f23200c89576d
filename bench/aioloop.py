"""asyncio programs on three event loops: gosched's (``gosched.aio``), asyncio's and uvloop's.

The same asyncio code runs on each loop; in these rows the ``gosched`` column is
``gosched.aio.new_event_loop`` (issue 12), not gosched's own API:

* ``aio-gather``: 50,000 ``create_task`` + one ``gather`` (``peers/aio.py``'s spawn);
* ``aio-queue``: ``asyncio.Queue(1)`` ping-pong (``peers/aio.py``'s pingpong);
* ``aio-streams`` / ``aio-protocol``: an echo server (asyncio streams, or a ``Protocol``
  writing back in ``data_received``) under the C load generator of ``bench/echo``
  (50 connections, 64 B);
* ``aio-http-block``: an HTTP/1.1 server (asyncio streams) where one request in every
  0.5 s runs an unwrapped ``time.sleep(0.3)``; a client in another process sends the
  other requests on a fixed schedule (every 5 ms on each of 4 connections) and measures
  each from the moment it was due (so a stalled loop counts every request it delays).
  On asyncio and uvloop the loop stops for the whole 300 ms; on gosched's, sysmon hands
  the stuck task's P to another M.

``python -m bench.aioloop client PORT SECONDS`` is that client (it prints one JSON line).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from . import _common
from ._spec import Metric, Workload
from .echo.servers import loop_factory
from .echo_suite import CONNS, SIZE

RUNTIMES = ("gosched", "asyncio", "uvloop")
LOOPS = {"gosched": "gosched.aio:new_event_loop", "asyncio": "asyncio:new_event_loop",
         "uvloop": "uvloop:new_event_loop"}

BLOCK_S = 0.3  # the blocked handler's time.sleep
BLOCK_EVERY_S = 0.5
CLIENTS = 4
PACE_S = 0.005


def _w(name: str, title: str, metric: Metric, full: dict[str, Any], quick: dict[str, Any],
       runs: int = 5) -> Workload:
    return Workload(name=name, title=title, metrics=(metric,), full=full, quick=quick, runs=runs,
                    runtimes=RUNTIMES, timeout_s=120.0)


WORKLOADS = (
    _w("aio-gather", "asyncio create_task + gather", Metric("ns_per_task", "aio create_task+gather",
       "ns/task", "lower"), {"kind": "gather", "n": 50_000}, {"kind": "gather", "n": 2_000}),
    _w("aio-queue", "asyncio.Queue(1) ping-pong", Metric("ns_per_rt", "aio Queue ping-pong", "ns/round trip",
       "lower"), {"kind": "queue", "n": 50_000}, {"kind": "queue", "n": 2_000}),
    _w("aio-streams", "asyncio streams echo, C load generator, 50 conns, 64 B",
       Metric("rt_per_s", "aio streams echo", "round trips/s", "higher"),
       {"kind": "streams", "seconds": 3.0}, {"kind": "streams", "seconds": 0.5}, runs=3),
    _w("aio-protocol", "asyncio Protocol echo, C load generator, 50 conns, 64 B",
       Metric("rt_per_s", "aio Protocol echo", "round trips/s", "higher"),
       {"kind": "protocol", "seconds": 3.0}, {"kind": "protocol", "seconds": 0.5}, runs=3),
    _w("aio-http-block", "HTTP p99 latency beside a handler in time.sleep(0.3)",
       Metric("p99_ms", "aio HTTP p99 beside a blocked handler", "ms", "lower", "{:.1f}"),
       {"kind": "http-block", "seconds": 2.0}, {"kind": "http-block", "seconds": 1.0}, runs=3),
)


def pending_reason() -> str | None:
    return None


def run_any(runtime: str, kind: str, **params: Any) -> dict[str, Any]:
    """One measurement of ``kind`` on ``runtime``'s loop (``bench.worker`` calls this)."""
    loop = LOOPS[runtime]
    if kind in ("streams", "protocol"):
        from .echo import run as echo

        res = echo.bench(f"{kind}:{loop}", echo.build(), CONNS, params["seconds"], SIZE)
        return {"rt_per_s": res["rps"]}
    if kind == "http-block":
        return http_block(loop, params["seconds"])
    from .peers import aio

    if runtime == "gosched":  # peers/aio.py runs asyncio.run(): the policy picks the loop
        import gosched.aio

        asyncio.set_event_loop_policy(gosched.aio.EventLoopPolicy())
    fn = {"gather": aio.spawn, "queue": aio.pingpong}[kind]
    return dict(fn(params["n"], use_uvloop=runtime == "uvloop"))


# ------------------------------------------------------------ http-block ----------
async def _http(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive: ``GET /block`` sleeps in the handler without awaiting."""
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            if head.split(b" ", 2)[1] == b"/block":
                time.sleep(BLOCK_S)  # the blocking call nobody wrapped
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    w.close()


def http_block(loop: str, seconds: float) -> dict[str, Any]:
    """Serve on ``loop`` while the client process measures; its latencies, in ms."""
    async def main() -> dict[str, Any]:
        srv = await asyncio.start_server(_http, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        lp = asyncio.get_running_loop()
        done: asyncio.Future[subprocess.CompletedProcess[str]] = lp.create_future()

        def client() -> None:  # a plain thread, so the loop only serves
            r = subprocess.run([sys.executable, "-m", "bench.aioloop", "client", str(port), str(seconds)],
                               capture_output=True, text=True, timeout=seconds + 60)
            lp.call_soon_threadsafe(done.set_result, r)

        threading.Thread(target=client, daemon=True).start()
        r = await done
        srv.close()
        if r.returncode:
            raise RuntimeError(f"client failed: {r.stderr[-500:]}")
        return dict(json.loads(r.stdout))

    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main())


def _request(s: socket.socket, path: bytes) -> None:
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while not got.endswith(b"ok"):
        d = s.recv(4096)
        if not d:
            raise ConnectionError("server closed")
        got += d


def _paced(port: int, t0: float, seconds: float, lat: list[float]) -> None:
    """Requests due every PACE_S from t0; each latency counted from when it was due."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        k = 0
        while (due := t0 + k * PACE_S) < t0 + seconds:
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            _request(s, b"/")
            lat.append(time.perf_counter() - due)
            k += 1


def _blocker(port: int, t0: float, seconds: float) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        k = 0
        while (due := t0 + 0.1 + k * BLOCK_EVERY_S) < t0 + seconds - BLOCK_S:
            time.sleep(max(0.0, due - time.perf_counter()))
            _request(s, b"/block")
            k += 1


def client(port: int, seconds: float) -> dict[str, float]:
    lats: list[list[float]] = [[] for _ in range(CLIENTS)]
    t0 = time.perf_counter() + 0.2  # every connection is open before the first request is due
    threads = [threading.Thread(target=_paced, args=(port, t0, seconds, lat)) for lat in lats]
    threads.append(threading.Thread(target=_blocker, args=(port, t0, seconds)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    xs = sorted(x * 1e3 for lat in lats for x in lat)
    return {"p99_ms": _common.percentile(xs, 99), "p50_ms": _common.percentile(xs, 50), "max_ms": xs[-1],
            "requests": len(xs)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        print(json.dumps(client(int(sys.argv[2]), float(sys.argv[3]))), flush=True)
