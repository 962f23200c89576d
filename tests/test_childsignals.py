"""Children started from goroutines take signals normally (issue 18), and run() still wakes
for a signal that the kernel hands to an M.

Each scenario runs in its own process (tests/_proc_helpers.runprog): a hang fails the
test at its deadline instead of hanging the suite.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from _proc_helpers import runprog, sigblk

# Goroutines on two Ms, the child started from a goroutine that is not goroutine 1.
POPEN_TERMINATE = """
    import signal, subprocess, sys, time, gosched

    async def spawn(done):
        p = subprocess.Popen(
            [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE, text=True,
        )
        assert await gosched.syscall(p.stdout.readline) == "ready\\n"
        t = time.monotonic()
        getattr(p, sys.argv[1])()
        try:
            rc = await gosched.syscall(p.wait, 10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "ignored"
        await done.send((rc, time.monotonic() - t))

    async def main():
        done = gosched.Chan()
        stop = []
        async def spin():
            while not stop:
                await gosched.sleep(0.001)
        for _ in range(4):
            gosched.go(spin)
        gosched.go(spawn, done)
        rc, dt = await done.recv()
        stop.append(1)
        print(rc, f"{dt:.3f}")

    gosched.run(main, maxprocs=2)
"""


@pytest.mark.parametrize("how,sig", [("terminate", signal.SIGTERM), ("kill", signal.SIGKILL)])
def test_popen_terminate_from_goroutine(tmp_path: Path, how: str, sig: int) -> None:
    r = runprog(tmp_path, POPEN_TERMINATE, how)
    assert r.returncode == 0, r.stderr
    rc, dt = r.stdout.split()
    assert int(rc) == -sig, r.stdout
    assert float(dt) < 1.0, r.stdout


# The child reports its own blocked mask; every way a goroutine starts a process.
CHILD_MASK = """
    import os, subprocess, sys, threading, gosched

    STATUS = ["cat", "/proc/self/status"]

    def posix_spawn():
        r, w = os.pipe()
        fa = [(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_CLOSE, r)]
        pid = os.posix_spawnp("cat", STATUS, os.environ, file_actions=fa)
        os.close(w)
        with os.fdopen(r) as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out

    def fork():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            with open("/proc/self/status", "rb") as f:
                os.write(w, f.read())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out

    def in_thread(fn):
        res = []
        t = threading.Thread(target=lambda: res.append(fn()))
        t.start()
        t.join()
        return res[0]

    async def main(how):
        if how == "popen":
            return subprocess.run(STATUS, capture_output=True, text=True, check=True).stdout
        if how == "popen-syscall":
            return (await gosched.syscall(subprocess.check_output, STATUS)).decode()
        if how == "popen-thread":  # a thread a goroutine started has the Ms' mask
            return in_thread(lambda: subprocess.run(STATUS, capture_output=True, text=True).stdout)
        if how == "posix_spawn":
            return posix_spawn()
        return fork()

    sys.stdout.write(gosched.run(main, sys.argv[1], maxprocs=2))
"""


@pytest.mark.parametrize("how", ["popen", "popen-syscall", "popen-thread", "posix_spawn", "fork"])
def test_child_signal_mask_is_empty(tmp_path: Path, how: str) -> None:
    r = runprog(tmp_path, CHILD_MASK, how)
    assert r.returncode == 0, r.stderr
    assert sigblk(r.stdout) == 0, r.stdout


POOL_TERMINATE = """
    import multiprocessing as mp, os, sys, time, gosched

    def task(path):
        with open("/proc/self/status") as f:
            status = f.read()
        with open(path + ".tmp", "w") as f:
            f.write(status)
        os.rename(path + ".tmp", path)
        time.sleep(60)

    async def main(method, path):
        pool = mp.get_context(method).Pool(2)
        pool.apply_async(task, (path,))
        while not os.path.exists(path):  # the task is running
            await gosched.sleep(0.01)
        t = time.monotonic()
        await gosched.syscall(pool.terminate)
        print(f"{time.monotonic() - t:.3f}")
        with open(path) as f:
            print(f.read())

    if __name__ == "__main__":
        gosched.run(main, sys.argv[1], sys.argv[2], maxprocs=2)
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_pool_terminate_with_running_task(tmp_path: Path, method: str) -> None:
    r = runprog(tmp_path, POOL_TERMINATE, method, str(tmp_path / "started"), timeout=90)
    assert r.returncode == 0, r.stderr
    elapsed, status = r.stdout.split("\n", 1)
    assert float(elapsed) < 1.0, r.stdout
    assert sigblk(status) == 0, status  # the worker's mask


# A signal for the main thread's handler that the kernel hands to an M (here: sent to the
# M's own thread) must still reach it at once, not when the program ends.
SIGNAL_ON_M = """
    import os, signal, sys, threading, time, gosched

    async def main():
        sig = getattr(signal, sys.argv[1])
        if sys.argv[2] == "m":
            signal.pthread_kill(threading.get_ident(), sig)
        else:  # to the process: the kernel picks the thread
            os.kill(os.getpid(), sig)
        await gosched.sleep(30)
        print("slept", flush=True)

    t = time.monotonic()
    try:
        gosched.run(main, maxprocs=2)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
    print(f"{time.monotonic() - t:.3f}")
"""


@pytest.mark.parametrize("to", ["m", "process"])
def test_sigint_taken_by_an_m_interrupts_run(tmp_path: Path, to: str) -> None:
    r = runprog(tmp_path, SIGNAL_ON_M, "SIGINT", to, timeout=25)
    lines = r.stdout.split()
    assert lines[0] == "KeyboardInterrupt", r
    assert float(lines[1]) < 5.0, r


@pytest.mark.parametrize("to", ["m", "process"])
def test_dump_signal_taken_by_an_m_dumps_at_once(tmp_path: Path, to: str) -> None:
    r = runprog(tmp_path, SIGNAL_ON_M, "SIGQUIT", to, timeout=25)
    assert r.returncode == 2, r  # GOSCHED_SIGQUIT=exit: the dump, then exit status 2
    assert r.stderr.startswith("SIGQUIT: quit\n\ngoroutine 1 ["), r.stderr
    assert "slept" not in r.stdout


# run() owns the signal wakeup fd while it waits: the one set before (an asyncio loop's)
# still gets the signal numbers, and is set again when run() returns.
WAKEUP_FD = """
    import os, signal, threading, gosched

    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    got = []
    signal.signal(signal.SIGUSR1, lambda *a: got.append(1))

    async def main():
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        while not got:  # the handler ran in the main thread
            await gosched.sleep(0.001)

    gosched.run(main, maxprocs=2)
    print(list(os.read(r, 100)), signal.set_wakeup_fd(-1) == w)
"""


def test_previous_wakeup_fd_gets_signals_and_is_restored(tmp_path: Path) -> None:
    r = runprog(tmp_path, WAKEUP_FD, timeout=25)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"[{int(signal.SIGUSR1)}]", "True"], r.stdout
