"""``python -m gosched``: run, dump and top, each in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import gosched
from gosched._runtime import ctl

SRC = str(Path(gosched.__file__).resolve().parent.parent)
TIMEOUT = 60


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    return e


def gosched_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gosched", *args],
        capture_output=True, text=True, timeout=TIMEOUT, env=env(), cwd=cwd,
    )


def write(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def test_usage_and_help() -> None:
    r = gosched_cli()
    assert r.returncode == 2
    assert r.stdout.startswith("gosched is a tool for running and inspecting gosched programs.")
    for cmd in ("run", "dump", "top"):
        assert f"\t{cmd} " in r.stdout
    r = gosched_cli("help", "run")
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m gosched run [-maxprocs n]")
    r = gosched_cli("top", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m gosched top")
    r = gosched_cli("frob")
    assert r.returncode == 2 and "gosched frob: unknown command" in r.stderr
    r = gosched_cli("dump", "-bogus", "1")
    assert r.returncode == 2 and "flag provided but not defined: -bogus" in r.stderr


def test_run_an_async_main_with_arguments(tmp_path: Path) -> None:
    prog = write(tmp_path, "prog.py", """
        import sys, gosched

        async def main():
            ch = gosched.Chan[str](1)
            gosched.go(ch.send, " ".join(sys.argv[1:]))
            print("got", await ch.recv(), "maxprocs", gosched.gomaxprocs())
            return 3
    """)
    r = gosched_cli("run", "-maxprocs", "2", str(prog), "a", "-b")
    assert (r.returncode, r.stdout) == (3, "got a -b maxprocs 2\n"), r.stderr


def test_run_a_program_that_calls_run_itself(tmp_path: Path) -> None:
    write(tmp_path, "selfrun.py", """
        import gosched

        async def main():
            print("main ran")

        if __name__ == "__main__":
            gosched.run(main)
    """)
    r = gosched_cli("run", "-m", "selfrun", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "main ran\n"), r.stderr  # once, not twice


def test_run_without_main_is_an_error(tmp_path: Path) -> None:
    prog = write(tmp_path, "nomain.py", "x = 1\n")
    r = gosched_cli("run", str(prog))
    assert r.returncode == 1
    assert "did not call gosched.run and defines no 'async def main()'" in r.stderr


def test_run_leakcheck(tmp_path: Path) -> None:
    prog = write(tmp_path, "leaky.py", """
        import gosched

        async def stuck(ch):
            await ch.recv()

        async def main():
            g = gosched.go(stuck, gosched.Chan[int]())
            while g.state != "chan receive":
                await gosched.sleep(0.001)
    """)
    r = gosched_cli("run", "-leakcheck", str(prog))
    assert r.returncode == 0, r.stderr
    assert "LeakWarning: gosched: 1 goroutine leaked" in r.stderr
    assert "goroutine 2 [chan receive (leaked)]:" in r.stderr and "stuck(...)" in r.stderr


SERVER = """
    import gosched

    async def worker(ch):
        async for _ in ch:
            pass

    async def main():
        ch = gosched.Chan[int]()
        for _ in range(3):
            gosched.go(worker, ch)
        print("ready", flush=True)
        while True:
            await ch.send(1)
            await gosched.sleep(0.002)
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    prog = write(tmp_path, "server.py", SERVER)
    p = subprocess.Popen(
        [sys.executable, "-m", "gosched", "run", str(prog)], stdout=subprocess.PIPE, text=True, env=env()
    )
    try:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        yield p
    finally:
        p.kill()
        p.wait(TIMEOUT)


def test_dump_a_running_process(server: subprocess.Popen[str]) -> None:
    r = gosched_cli("dump", str(server.pid))
    assert r.returncode == 0, r.stderr
    assert "goroutine 1 [" in r.stdout
    assert "goroutine 2 [chan receive]:" in r.stdout and "worker(...)" in r.stdout
    assert "created by __main__.main in goroutine 1" in r.stdout
    r2 = gosched_cli("dump", str(server.pid))  # it keeps running and answers again
    assert r2.returncode == 0 and "worker(...)" in r2.stdout
    assert server.poll() is None


def test_top_once_and_n(server: subprocess.Popen[str]) -> None:
    r = gosched_cli("top", "-once", str(server.pid))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"gosched top - pid {server.pid}, up ")
    assert "P   STATUS   M    RUNQ  SCHEDTICK" in r.stdout
    assert "__main__.worker  [chan receive 3]" in r.stdout
    assert "sysmon" in r.stdout
    r = gosched_cli("top", "-n", "2", "-interval", "0.1", str(server.pid))
    assert r.returncode == 0 and r.stdout.count("gosched top - pid") == 2
    assert "switches/s -" in r.stdout  # the first screen has no rate yet; the second has
    assert r.stdout.count("switches/s") == 2


def test_dump_of_a_process_without_gosched_leaves_it_alone() -> None:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        r = gosched_cli("dump", str(p.pid))
        assert r.returncode == 1
        assert f"no gosched runtime is serving requests in process {p.pid}" in r.stderr
        assert p.poll() is None  # not signalled
    finally:
        p.kill()
        p.wait(TIMEOUT)


def test_markers_of_killed_programs_are_swept(server: subprocess.Popen[str]) -> None:
    """A program killed by a signal cannot remove its marker; the next run does."""
    marker = Path(ctl.ctldir()) / f"{server.pid}.ctl"
    assert marker.exists()
    server.kill()
    server.wait(TIMEOUT)
    assert marker.exists()
    r = gosched_cli("dump", str(server.pid))
    assert r.returncode == 1 and "no" in r.stderr

    async def main() -> None:
        pass

    gosched.run(main)
    assert not marker.exists()
