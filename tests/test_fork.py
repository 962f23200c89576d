"""os.fork() from a goroutine (issue 14, item 3): the child leaves the runtime and runs
the rest of the forking goroutine as plain Python; it never hangs.

Each scenario is its own process (tests/_proc_helpers.runprog), forking while goroutines
run on several Ms with a tiny switch interval; the parent waits for each child with a
deadline, so a hung child is reported (and killed) instead of hanging the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _proc_helpers import runprog

FORKS = """
    import os, sys, threading, time, warnings, gosched
    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() of a threaded process
    sys.setswitchinterval(1e-5)
    MODE = sys.argv[1]

    async def inner():
        return 40

    async def child():
        if MODE == "exit7":
            os._exit(7)
        if MODE == "sysexit":
            sys.exit(3)
        if MODE == "return":
            return
        if MODE == "raise":
            raise ValueError("raised in the child")
        if MODE == "exec":
            os.execv(sys.executable, [sys.executable, "-c", "import sys; sys.exit(9)"])
        if MODE == "sleep":  # a runtime call: a clear error, exit status 1
            await gosched.sleep(0.01)
        if MODE == "chan":
            await gosched.Chan().recv()
        if MODE == "go":
            gosched.go(inner)
        if MODE == "run":  # a fresh runtime of the child's own
            os._exit(gosched.run(inner, maxprocs=2) + 2)
        if MODE == "plain":  # ordinary Python goes on as usual
            print("child", sum(range(10)), flush=True)
            os._exit(0)

    def reap(pid, deadline):
        while True:
            p, st = os.waitpid(pid, os.WNOHANG)
            if p:
                return os.waitstatus_to_exitcode(st)
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return "hang"
            time.sleep(0.005)

    async def forker(results, n):
        for _ in range(n):
            if MODE == "syscall":  # fork inside gosched.syscall: the child sees pid 0 all the same
                pid = await gosched.syscall(os.fork)
                if pid == 0:
                    os._exit(5)
            elif MODE == "thread":  # a plain thread forks while run() runs: its child has no runtime
                pids = []
                def fork_in_thread():
                    pid = os.fork()
                    if pid == 0:
                        try:
                            gosched.go(inner)
                        except RuntimeError as e:
                            os._exit(6 if "forked from a goroutine" in str(e) else 2)
                        os._exit(3)
                    pids.append(pid)
                t = threading.Thread(target=fork_in_thread)
                t.start()
                await gosched.syscall(t.join)
                pid = pids[0]
            else:
                pid = os.fork()
                if pid == 0:
                    await child()
                    return "returned in the child"  # goroutine 2's return ends the child
            await results.send(await gosched.syscall(reap, pid, time.monotonic() + 10))

    async def main():
        stop = []
        ping, pong = gosched.Chan(), gosched.Chan()
        async def pinger():
            while not stop:
                await ping.send(1)
                await pong.recv()
        async def ponger():
            while True:
                await pong.send(await ping.recv())
        async def sleeper():
            while not stop:
                await gosched.sleep(0.0005)
        gosched.go(pinger)
        gosched.go(ponger)
        for _ in range(8):
            gosched.go(sleeper)
        results = gosched.Chan(100)
        n = int(sys.argv[2])
        gosched.go(forker, results, n)
        codes = [await results.recv() for _ in range(n)]
        stop.append(1)
        print(*codes)

    gosched.run(main, maxprocs=4)
"""


@pytest.mark.parametrize(
    "mode,code",
    [
        ("exit7", 7),
        ("sysexit", 3),
        ("return", 0),
        ("raise", 1),
        ("exec", 9),
        ("sleep", 1),
        ("chan", 1),
        ("go", 1),
        ("run", 42),
        ("plain", 0),
        ("syscall", 5),
        ("thread", 6),
    ],
)
def test_fork_from_goroutine_child_exits(tmp_path: Path, mode: str, code: int) -> None:
    n = 10
    r = runprog(tmp_path, FORKS, mode, str(n), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-n:] == [str(code)] * n, (r.stdout, r.stderr[-3000:])
    if mode in ("sleep", "chan", "go"):
        assert r.stderr.count("the process was forked from a goroutine") >= n, r.stderr[-3000:]
    if mode == "raise":
        assert r.stderr.count("ValueError: raised in the child") == n, r.stderr[-3000:]
    if mode == "plain":
        assert r.stdout.count("child 45") == n, r.stdout


POOL = """
    import multiprocessing as mp, sys, warnings, gosched
    warnings.simplefilter("ignore", DeprecationWarning)
    sys.setswitchinterval(1e-5)

    def sq(x):
        return x * x

    def with_runtime(x):  # a worker that runs goroutines of its own
        async def main():
            c = gosched.Chan(1)
            gosched.go(c.send, x)
            return await c.recv() + 1
        return gosched.run(main)

    def work(fn):
        with mp.get_context("fork").Pool(3) as pool:
            return pool.map(fn, range(50))

    async def main(how):
        stop = []
        async def spin():
            while not stop:
                await gosched.sleep(0.0005)
        for _ in range(8):
            gosched.go(spin)
        fn = with_runtime if how == "runtime" else sq
        if how == "syscall":
            r = await gosched.syscall(work, fn)
        else:
            r = work(fn)
        stop.append(1)
        print(sum(r))

    gosched.run(main, sys.argv[1], maxprocs=4)
"""


@pytest.mark.parametrize("how,total", [("direct", 40425), ("syscall", 40425), ("runtime", 1275)])
def test_multiprocessing_fork_pool_from_goroutine(tmp_path: Path, how: str, total: int) -> None:
    r = runprog(tmp_path, POOL, how, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == [str(total)], r.stdout
