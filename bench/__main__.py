"""``python -m bench``: run every workload on every runtime, print medians and ratios.

Examples::

    python -m bench --quick                      # tiny sizes, one run each (smoke)
    python -m bench                              # the full suite (~6-8 min on 2 cores)
    python -m bench --write-docs                 # ... and write docs/benchmarks.{md,png}
    python -m bench --only gosched,asyncio --workloads spawn,pingpong
    python -m bench --free-threaded              # gosched + asyncio on a free-threaded CPython
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import BASE, RUNTIMES, _spec, idle
from ._spec import Workload

ROOT = Path(__file__).resolve().parent.parent
GO_DIR = Path(__file__).resolve().parent / "go"
TIMES, DASH = "\u00d7", "\u2013"


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- Go ------------
def build_go(tmp: Path) -> Path | None:
    """Build bench/go into ``tmp``; None (with a notice) where Go is absent or fails."""
    go = shutil.which("go")
    if go is None:
        log("notice: `go` not found: skipping the Go column (apt-get install golang-go)")
        return None
    out = tmp / "gobench"
    srcs = sorted(str(p) for p in GO_DIR.glob("*.go"))
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(tmp / "gocache"))
    env["GO111MODULE"] = "off"
    r = subprocess.run([go, "build", "-o", str(out), *srcs], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        log(f"notice: `go build` failed, skipping Go:\n{r.stderr}")
        return None
    return out


def go_version() -> str:
    go = shutil.which("go")
    if go is None:
        return "absent"
    r = subprocess.run([go, "version"], capture_output=True, text=True)
    return r.stdout.strip().removeprefix("go version ")


# ------------------------------------------------------------- running ----------
class Runner:
    def __init__(self, python: str, gobin: Path | None, tmp: Path, env: dict[str, str]) -> None:
        self.python = python
        self.gobin = gobin
        self.tmp = tmp
        self.env = env

    def command(self, w: Workload, runtime: str, params: dict[str, Any]) -> list[str]:
        rt = BASE.get(runtime, runtime)  # the same code, another environment (once)
        if rt == "go" and w.name != "echo":
            assert self.gobin is not None
            name = w.name.split("-")[0]
            if w.name == "timers":
                from .timers import durations

                f = self.tmp / f"durations-{params['n']}.txt"
                if not f.exists():
                    f.write_text("\n".join(repr(d) for d in durations(params["n"])) + "\n")
                return [str(self.gobin), name, f"file={f}"]
            return [str(self.gobin), name, *(f"{k}={v}" for k, v in params.items())]
        return [self.python, "-m", "bench.worker", w.name, rt, json.dumps(params)]

    def once(self, w: Workload, runtime: str, params: dict[str, Any]) -> dict[str, float] | str:
        cmd = self.command(w, runtime, params)
        env = {k: v for k, v in self.env.items() if k != "GOSCHED_PURE_PYTHON"}
        if runtime == "gosched-pure":
            env["GOSCHED_PURE_PYTHON"] = "1"
        elif runtime == "go-p1":
            env["GOMAXPROCS"] = "1"
        try:
            if w.name == "idle":
                out, err, rc, extra = sampled(cmd, env, w.timeout_s, params["seconds"])
            else:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=w.timeout_s,
                                   cwd=ROOT, env=env)
                out, err, rc, extra = r.stdout, r.stderr, r.returncode, {}
        except subprocess.TimeoutExpired:
            return f"timeout after {w.timeout_s:.0f} s"
        for line in out.splitlines():
            if line.startswith("RESULT "):
                return {k: float(v) for k, v in json.loads(line[7:]).items()} | extra
        last = (err.strip().splitlines() or [f"exit {rc}"])[-1]
        return f"failed: {last[:200]}"


def sampled(cmd: list[str], env: dict[str, str], timeout: float,
            seconds: float) -> tuple[str, str, int, dict[str, float]]:
    """Run the idle workload, sampling its asleep window from outside (idle.sample_asleep)."""
    extra: dict[str, float] = {}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT, env=env) as proc:
        assert proc.stdout is not None
        head = []
        for line in proc.stdout:
            head.append(line)
            if line.strip() == idle.ASLEEP:
                extra = idle.sample_asleep(proc.pid, seconds)
                break
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return "".join(head) + out, err, proc.returncode, extra


def summarize(values: list[float]) -> dict[str, float]:
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "spread_pct": 100 * (max(values) - min(values)) / med if med else 0.0,
        "n": len(values),
    }


def run_suite(args: argparse.Namespace, runner: Runner, runtimes: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    selected = [(w, m) for w, m in _spec.all_workloads() if not args.workloads or w.name in args.workloads]
    for w, mod in selected:
        params = w.quick if args.quick else w.full
        runs = args.runs or (1 if args.quick else w.runs)
        rts = [r for r in runtimes if BASE.get(r, r) in w.runtimes]
        entry: dict[str, Any] = {"title": w.title, "params": params, "runs": runs, "runtimes": {}}
        results[w.name] = entry
        pending = getattr(mod, "pending_reason", lambda: None)()
        if pending:
            entry["pending"] = pending
            log(f"== {w.name}: {pending}")
            continue
        log(f"== {w.name} ({w.title}) {params}, {runs} run(s)")
        raw: dict[str, list[dict[str, float]]] = {r: [] for r in rts}
        errors: dict[str, str] = {}
        t0 = time.monotonic()
        for _ in range(runs):  # interleave runtimes so drifting load hits all of them
            for rt in rts:
                if rt in errors:
                    continue
                res = runner.once(w, rt, params)
                if isinstance(res, str):
                    errors[rt] = res
                    log(f"   {rt:<13} {res}")
                else:
                    raw[rt].append(res)
        for rt in rts:
            if rt in errors or not raw[rt]:
                entry["runtimes"][rt] = {"error": errors.get(rt, "no result")}
                continue
            entry["runtimes"][rt] = {
                m.key: summarize([r[m.key] for r in raw[rt]]) | {"values": [r[m.key] for r in raw[rt]]}
                for m in w.metrics
            }
        add_ratios(w, entry)
        print_workload(w, entry)
        log(f"   ({time.monotonic() - t0:.1f} s)")
    return results


def add_ratios(w: Workload, entry: dict[str, Any]) -> None:
    """``x_<base>``: the median over rounds of value ÷ the base's value in the same round.

    Each round runs every runtime back to back, so a slow phase of a noisy
    machine hits both sides of a pair; the ratio of the two medians would mix
    rounds (it is the fallback when a runtime lost a round to an error).
    """
    rts = entry["runtimes"]
    for m in w.metrics:
        for base in ("asyncio", "go"):
            b = rts.get(base, {}).get(m.key)
            if not b or not b["median"]:
                continue
            for _rt, d in rts.items():
                if m.key not in d:
                    continue
                mine, theirs = d[m.key]["values"], b["values"]
                if len(mine) == len(theirs) and all(theirs):
                    x = statistics.median(v / u for v, u in zip(mine, theirs, strict=True))
                else:
                    x = d[m.key]["median"] / b["median"]
                d[m.key][f"x_{base}"] = x


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}{TIMES}" if x < 10 else f"{x:,.0f}{TIMES}"


def print_workload(w: Workload, entry: dict[str, Any]) -> None:
    for m in w.metrics:
        log(f"   {m.label} [{m.unit}, {m.better} is better]")
        mm, xa, xg = "min" + DASH + "max", TIMES + " asyncio", TIMES + " Go"
        log(f"   {'runtime':<13}{'median':>10} {mm:>24} {xa:>10} {xg:>10}")
        for rt, d in entry["runtimes"].items():
            if "error" in d:
                log(f"   {rt:<13}{d['error']}")
                continue
            s = d[m.key]
            mm = m.fmt.format(s["min"]) + DASH + m.fmt.format(s["max"])
            log(f"   {rt:<13}{m.fmt.format(s['median']):>10} {mm:>24} "
                f"{fmt_ratio(s.get('x_asyncio')):>10} {fmt_ratio(s.get('x_go')):>10}")


# ------------------------------------------------------------- context ----------
def python_versions(python: str) -> dict[str, str]:
    code = (
        "import sys, json, importlib.metadata as md\n"
        "ft = not getattr(sys, '_is_gil_enabled', lambda: True)()\n"
        "v = {'python': sys.version.split()[0] + (' (free-threaded)' if ft else '')}\n"
        "for p in ('gosched', 'uvloop', 'trio', 'gevent'):\n"
        "    try: v[p] = md.version(p)\n"
        "    except Exception: v[p] = 'absent'\n"
        "print(json.dumps(v))\n"
    )
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT)
    out: dict[str, str] = json.loads(r.stdout) if r.returncode == 0 else {"python": "?"}
    out["go"] = go_version()
    return out


def source_state() -> str:
    """The commit benchmarked, and whether src/ had uncommitted changes (others' work in progress)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True,
                               cwd=ROOT).stdout.strip()
    except OSError:
        return "?"
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}" if head else "?"


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def other_processes() -> list[str]:
    """Other processes using >= 5 % CPU now (``top``, two frames 0.5 s apart: current, not lifetime)."""
    try:
        out = subprocess.run(["top", "-b", "-n", "2", "-d", "0.5", "-w", "200"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    frame = out.split("\ntop - ")[-1].splitlines()
    busy = []
    header = False
    for line in frame:
        f = line.split()
        if f[:1] == ["PID"]:
            header = True
            continue
        if not header or len(f) < 12 or not f[0].isdigit() or int(f[0]) == os.getpid():
            continue
        try:
            pc = float(f[8])
        except ValueError:
            continue
        if pc >= 5.0 and f[11] != "top":
            busy.append(f"{f[11]} (pid {f[0]}) {pc:.0f}%")
    return busy[:8]


def find_free_threaded(explicit: str | None) -> str | None:
    cands = [explicit] if explicit else ["python3.14t", "python3.13t", "python3t"]
    for c in cands:
        path = shutil.which(c) if c and os.sep not in c else c
        if not path:
            continue
        probe = "import sys; print(getattr(sys, '_is_gil_enabled', lambda: True)())"
        r = subprocess.run([path, "-c", probe], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() == "False":
            return path
    return None


# ---------------------------------------------------------------- main ----------
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench",
                                 description="gosched vs asyncio, uvloop, trio, gevent, Go")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one run each (a smoke run)")
    ap.add_argument("--only", help=f"comma-separated runtimes, from {','.join(RUNTIMES)}")
    ap.add_argument("--workloads", help="comma-separated workload names (default: all)")
    ap.add_argument("--runs", type=int, help="runs per workload and runtime (default: per workload)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the Python runtimes")
    ap.add_argument("--free-threaded", action="store_true",
                    help="gosched and asyncio on a free-threaded CPython (--python, or python3.13t/3.14t)")
    ap.add_argument("--hotpaths", action="store_true", help="also measure gosched's hot paths (ns/op)")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--write-docs", action="store_true",
                    help="write docs/benchmarks.md, docs/benchmarks.png and bench/results/full.json")
    args = ap.parse_args(argv)
    args.workloads = set(args.workloads.split(",")) if args.workloads else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    runtimes = list(RUNTIMES)
    if args.only:
        runtimes = [r for r in args.only.split(",") if r]
        bad = set(runtimes) - set(RUNTIMES)
        if bad:
            raise SystemExit(f"unknown runtimes: {', '.join(sorted(bad))}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    python = args.python
    if args.free_threaded:
        ft = find_free_threaded(args.python if args.python != sys.executable else None)
        if ft is None:
            log("free-threaded CPython: none found (python3.13t / python3.14t, or --python PATH). "
                "This mode is unmeasured on this machine; see docs/benchmarks.md.")
            return 0
        python = ft
        runtimes = [r for r in runtimes if r in ("gosched", "gosched-pure", "asyncio", "go")]
        env.setdefault("GOMAXPROCS", str(os.cpu_count() or 1))
        env["PYTHON_GIL"] = "0"
        log(f"free-threaded: {ft}, GOMAXPROCS={env['GOMAXPROCS']}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gosched-bench-") as td:
        tmp = Path(td)
        wantgo = [r for r in runtimes if BASE.get(r, r) == "go"]
        gobin = build_go(tmp) if wantgo else None
        if gobin is None:
            runtimes = [r for r in runtimes if r not in wantgo]
        ctx = {
            "machine": machine(),
            "versions": python_versions(python),
            "busy_before": other_processes(),
            "quick": args.quick,
            "source": source_state(),
            "runtimes": runtimes,
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        }
        log(f"machine: {ctx['machine']}\nversions: {ctx['versions']}")
        if ctx["busy_before"]:
            log(f"other busy processes: {', '.join(ctx['busy_before'])}")
        if gobin is not None:
            env["GOSCHED_BENCH_GOBIN"] = str(gobin)
        runner = Runner(python, gobin, tmp, env)
        results = run_suite(args, runner, runtimes)
        hot: dict[str, Any] | None = None
        if args.hotpaths or args.write_docs:
            from . import hotpaths

            log("== hot paths (gosched, ns/op)")
            hot = hotpaths.measure_in_subprocess(python, env, quick=args.quick)
            hotpaths.print_table(hot)
        instr: dict[str, Any] = {}
        if args.write_docs and not args.quick and not args.free_threaded:
            from . import instructions

            log("== instructions per op (callgrind; python -m bench.instructions)")
            instr = instructions.measure(python, ["pingpong", "spawn"], env=env)
            for w, per in instr.items():
                log(f"   {w:<10} gosched {per['gosched']:,.0f}  asyncio {per['asyncio']:,.0f}")
    ctx["busy_after"] = other_processes()
    ctx["loadavg_after"] = os.getloadavg()
    ctx["elapsed_s"] = time.monotonic() - started
    doc = {"context": ctx, "results": results, "hotpaths": hot, "instructions": instr}
    log(f"done in {ctx['elapsed_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1))
    if args.write_docs and args.free_threaded:
        out = ROOT / "bench" / "results" / "free-threaded.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1))
        log(f"wrote {out} (docs/benchmarks.md is written from GIL-build runs only)")
    elif args.write_docs:
        from . import report

        out = ROOT / "bench" / "results" / ("quick.json" if args.quick else "full.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1))
        report.write(doc, ROOT / "docs")
        log(f"wrote {out}, docs/benchmarks.md, docs/benchmarks.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
