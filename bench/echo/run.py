"""bench/echo: round trips per second of echo servers under one C load generator.

    python bench/echo/run.py [--conns 50] [--seconds 5] [--size 64] [--rounds 3] [--only gosched,asyncio]

Builds ``loadgen.c`` with the machine's gcc, then for each server (gosched,
asyncio streams, asyncio+uvloop, trio, gevent) starts ``servers.py KIND``,
serves 4 connections that come and go (0.2 s), then drives it for a warmup
second plus ``--seconds``, and prints round trips per
second and latency, with each server's ratio to asyncio's default loop. The
servers take turns for ``--rounds`` rounds and each reports its median round, so
a noisy neighbour on a shared machine hits them all alike. Peers
that are not installed (``pip install -e '.[bench]'``) are skipped.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ["gosched", "asyncio", "uvloop", "trio", "gevent"]
NEEDS = {"uvloop": "uvloop", "trio": "trio", "gevent": "gevent"}


def build() -> str:
    out = os.path.join(HERE, "build", "loadgen")
    src = os.path.join(HERE, "loadgen.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", out, src], check=True)
    return out


def cputime(pid: int) -> float:
    """utime + stime of a process, all threads, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(kind: str, loadgen: str, conns: int, seconds: float, size: int) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("GOSCHED_PROFILE", None)
    srv = subprocess.Popen([sys.executable, os.path.join(HERE, "servers.py"), kind],
                           stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert srv.stdout is not None
        line = srv.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"{kind} server did not start: {line}")
        port = line[1]
        # First a few connections that close: the steady state of a server, not its first
        # clients. asyncio's transports read with recv(256 KiB); until the process first
        # frees a chunk that size (the EOF read of a closed connection does), glibc
        # serves each such read with mmap + munmap, ~12 µs more per read (docs/aio.md).
        subprocess.run([loadgen, "127.0.0.1", port, "4", "0.2", str(size), "0"],
                       capture_output=True, text=True, timeout=60, check=True)
        cpu0 = cputime(srv.pid)
        r = subprocess.run([loadgen, "127.0.0.1", port, str(conns), str(seconds), str(size), "1"],
                           capture_output=True, text=True, timeout=seconds + 60)
        cpu = cputime(srv.pid) - cpu0
        if r.returncode:
            raise RuntimeError(f"loadgen against {kind} failed: {r.stderr.strip()}")
        out = {k: float(v) for k, v in (kv.split("=") for kv in r.stdout.split())}
        # CPU seconds the server used over warmup + measurement, all its threads: on
        # a shared machine a multi-threaded server can simply get more CPU.
        out["cpu"] = cpu
        out["per_cpu"] = out["roundtrips"] / (cpu * seconds / (seconds + 1)) if cpu else 0.0
        return out
    finally:
        srv.kill()
        srv.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default=",".join(KINDS))
    a = ap.parse_args()
    loadgen = build()
    cpu = platform.processor() or platform.machine()
    print(f"# bench/echo {datetime.date.today()} | {platform.node()} | {cpu}"
          f" | {os.cpu_count()} CPUs | Python {platform.python_version()} | "
          f"{a.conns} conns, {a.size} B messages, {a.seconds:g} s after 1 s warmup, median of {a.rounds}")
    kinds = []
    for kind in a.only.split(","):
        mod = NEEDS.get(kind)
        if mod and importlib.util.find_spec(mod) is None:
            print(f"{kind:8s} skipped: pip install {mod}")
            continue
        kinds.append(kind)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for _ in range(a.rounds):
        for kind in kinds:
            runs[kind].append(bench(kind, loadgen, a.conns, a.seconds, a.size))
            time.sleep(0.5)
    results = {k: sorted(v, key=lambda r: r["rps"])[len(v) // 2] for k, v in runs.items()}
    base = results.get("asyncio", {}).get("rps")
    base_cpu = results.get("asyncio", {}).get("per_cpu")
    print(f"{'server':8s} {'rps':>9s} {'vs asyncio':>10s} {'p50 us':>7s} {'p99 us':>7s}"
          f" {'CPU %':>6s} {'rt/CPU-s':>9s} {'vs asyncio':>10s}")
    for kind, r in results.items():
        ratio = f"{r['rps'] / base:.2f}x" if base else "-"
        cratio = f"{r['per_cpu'] / base_cpu:.2f}x" if base_cpu else "-"
        pct = 100 * r["cpu"] / (a.seconds + 1)
        print(f"{kind:8s} {r['rps']:9.0f} {ratio:>10s} {r['p50_us']:7.0f} {r['p99_us']:7.0f}"
              f" {pct:6.0f} {r['per_cpu']:9.0f} {cratio:>10s}")


if __name__ == "__main__":
    main()
