"""m0 and lock_os_thread (issue 13, Threads): main starts on run()'s thread, Go's
LockOSThread wires a goroutine to its thread, and the scheduler keeps both right
(startlockedm / stoplockedm, a goroutine that exits locked takes its thread, checkdead).
"""

from __future__ import annotations

import signal
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch
from _proc_helpers import runprog, signal_when_ready
from gosched import debug
from gosched._runtime.lockedm import startlockedm
from gosched._runtime.mgr import acquirep
from gosched._runtime.runtime2 import G, M, P, Sched

pytestmark = pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    with tiny_switch():
        yield


def test_main_starts_on_the_calling_thread_and_signal_signal_works() -> None:
    """Go's m0: before it first blocks, main runs on the thread that called run()."""

    async def main() -> bool:
        assert threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # "signal only works in main thread" before
        signal.signal(signal.SIGUSR1, old)
        await gosched.sleep(0)
        return True

    assert gosched.run(main, maxprocs=2)


def test_locked_main_stays_on_the_main_thread() -> None:
    got: list[int] = []

    async def main() -> None:
        gosched.lock_os_thread()
        ch: gosched.Chan[int] = gosched.Chan()

        async def peer() -> None:
            for i in range(50):
                await ch.send(i)

        gosched.go(peer)
        for _ in range(50):
            got.append(await ch.recv())
            await gosched.sleep(0.0005)
            assert threading.current_thread() is threading.main_thread()
        # after blocking too: handlers can still be installed and run here
        hits: list[int] = []
        old = signal.signal(signal.SIGUSR2, lambda s, f: hits.append(s))
        try:
            signal.raise_signal(signal.SIGUSR2)
            await gosched.sleep(0.001)
            assert hits == [signal.SIGUSR2]
        finally:
            signal.signal(signal.SIGUSR2, old)

    gosched.run(main, maxprocs=2)
    assert got == list(range(50))


def test_unlocked_main_leaves_the_main_thread_after_it_blocks() -> None:
    """Go runs main unlocked after init; m0 here goes back to serving signals."""

    async def main() -> bool:
        for _ in range(20):
            await gosched.sleep(0.001)
        return threading.current_thread() is threading.main_thread()

    assert gosched.run(main, maxprocs=2) is False


def _sqlite_use(con: sqlite3.Connection, i: int) -> None:
    con.execute("insert into t values (?)", (i,))


async def _sqlite_work(ch: gosched.Chan[int]) -> int:
    con = sqlite3.connect(":memory:")  # default settings: check_same_thread=True
    con.execute("create table t (x)")
    for _ in range(20):
        _sqlite_use(con, await ch.recv())  # another thread would raise ProgrammingError
        await gosched.sleep(0.0005)
    n: int = con.execute("select count(*) from t").fetchone()[0]
    con.close()
    return n


async def _feed(ch: gosched.Chan[int]) -> None:
    for i in range(20):
        await ch.send(i)


def test_sqlite3_from_locked_main() -> None:
    async def main() -> int:
        gosched.lock_os_thread()
        ch: gosched.Chan[int] = gosched.Chan()
        gosched.go(_feed, ch)
        return await _sqlite_work(ch)

    assert gosched.run(main, maxprocs=2) == 20


def test_sqlite3_from_a_locked_goroutine() -> None:
    async def worker(ch: gosched.Chan[int], out: gosched.Chan[int]) -> None:
        gosched.lock_os_thread()
        await out.send(await _sqlite_work(ch))

    async def main() -> int:
        ch: gosched.Chan[int] = gosched.Chan()
        out: gosched.Chan[int] = gosched.Chan()
        gosched.go(worker, ch, out)
        gosched.go(_feed, ch)
        return await out.recv()

    assert run(main, maxprocs=2) == 20


def test_thread_local_survives_awaits_while_locked() -> None:
    local = threading.local()

    async def worker(done: gosched.Chan[bool]) -> None:
        gosched.lock_os_thread()
        local.v = "mine"
        ok = True
        for _ in range(30):
            await gosched.sleep(0.0005)
            await gosched.gosched()
            ok = ok and getattr(local, "v", None) == "mine"
        await done.send(ok)

    async def main() -> bool:
        done: gosched.Chan[bool] = gosched.Chan()
        gosched.go(worker, done)
        gosched.go(worker, done)
        return await done.recv() and await done.recv()

    assert run(main, maxprocs=2)


def test_nested_counts_and_extra_unlock_is_a_no_op() -> None:
    async def main() -> list[bool]:
        gosched.unlock_os_thread()  # no lock in effect: nothing happens
        gosched.lock_os_thread()
        gosched.lock_os_thread()
        me = threading.get_ident()
        gosched.unlock_os_thread()  # still locked once
        for _ in range(10):
            await gosched.sleep(0.0005)
        still = threading.get_ident() == me
        gosched.unlock_os_thread()
        gosched.unlock_os_thread()  # extra
        for _ in range(10):
            await gosched.sleep(0.0005)
        return [still, threading.get_ident() == me]

    assert run(main, maxprocs=2) == [True, False]


def test_lock_outside_a_goroutine_raises() -> None:
    with pytest.raises(RuntimeError, match="lock_os_thread called outside a goroutine"):
        gosched.lock_os_thread()
    with pytest.raises(RuntimeError, match="unlock_os_thread called outside a goroutine"):
        gosched.unlock_os_thread()


def test_goroutine_that_exits_locked_takes_its_thread() -> None:
    async def worker(out: gosched.Chan[threading.Thread]) -> None:
        gosched.lock_os_thread()
        await out.send(threading.current_thread())

    async def main() -> tuple[bool, bool]:
        out: gosched.Chan[threading.Thread] = gosched.Chan()
        gosched.go(worker, out)
        t = await out.recv()
        await gosched.syscall(t.join, 20)
        # the goroutines after it run fine on the other Ms
        ch: gosched.Chan[int] = gosched.Chan(1)
        gosched.go(ch.send, 7)
        return t.is_alive(), await ch.recv() == 7

    assert run(main, maxprocs=2) == (False, True)


def test_checkdead_counts_a_parked_locked_m_as_idle() -> None:
    """Go's nmidlelocked: a locked M asleep is not running, so a deadlock is reported."""

    async def worker() -> None:
        gosched.lock_os_thread()
        await gosched.Chan().recv()

    async def main() -> None:
        gosched.go(worker)
        gosched.lock_os_thread()
        await gosched.Chan().recv()

    with pytest.raises(gosched.Deadlock, match="all goroutines are asleep"):
        run(main, maxprocs=2)


def test_locked_goroutine_under_the_fake_clock() -> None:
    async def worker(out: gosched.Chan[float]) -> None:
        gosched.lock_os_thread()
        t0 = gosched.now()
        await gosched.sleep(3600)
        await out.send(gosched.now() - t0)

    async def main() -> float:
        out: gosched.Chan[float] = gosched.Chan()
        gosched.go(worker, out)
        return await out.recv()

    assert run(main, maxprocs=2, clock="fake") == 3600


def test_dump_shows_the_lock() -> None:
    async def main() -> str:
        gosched.lock_os_thread()
        await gosched.sleep(0)
        return gosched.dump()

    assert "goroutine 1 [running, locked to thread]:" in run(main, maxprocs=1)


def test_gomaxprocs_changes_while_locked() -> None:
    async def main() -> bool:
        gosched.lock_os_thread()
        me = threading.get_ident()
        for n in (4, 1, 3, 1):
            gosched.gomaxprocs(n)
            await gosched.sleep(0.001)
            await gosched.gosched()
        return threading.get_ident() == me

    assert run(main, maxprocs=2)


def test_startlockedm_runs_main_here_once_its_lock_ended() -> None:
    """The window CI once hit: an M reads main's lockedm (m0) in schedule, then m0's
    endinit ends the lock (under sched.lock) before startlockedm runs. startlockedm
    works from the one read it is given and, seeing the lock gone, keeps the P and
    answers False (run main here), handing nothing to m0."""
    sched = Sched()
    m0, m = M(0, sched), M(1, sched)
    p = P(0)
    acquirep(m, p)

    async def body() -> None:
        pass

    coro = body()
    gp = G(1, coro)
    gp.lockedm = None  # endinit ran after the caller's read
    assert startlockedm(sched, m, gp, m0) is False
    assert m.p is p and m0.nextp is None
    coro.close()


def test_main_readied_at_once_by_many_ms(tiny_switch_interval: None) -> None:
    """main's first block is answered at once from other Ps, run after run: the M that
    finds main runnable races m0's endinit (the lock ends as main first blocks)."""

    async def main() -> int:
        ch: gosched.Chan[int] = gosched.Chan()
        for k in range(3):
            gosched.go(ch.send, k)
        return sum([await ch.recv() for _ in range(3)])

    for procs in (2, 4):
        for _ in range(150):
            assert gosched.run(main, maxprocs=procs) == 3


async def _pingpong(rounds: int, nlocked: int) -> set[threading.Thread]:
    """Locked goroutines ping-pong with unlocked ones; each checks its thread.

    A locked goroutine marks its thread (a thread-local) once locked: no other
    goroutine may then see the mark, and it must see its own after every wait.
    """
    tl = threading.local()
    lockedthreads: set[threading.Thread] = set()
    wg = gosched.WaitGroup()
    bad: list[str] = []

    async def locked(k: int, inp: gosched.Chan[int], outp: gosched.Chan[int]) -> None:
        try:
            gosched.lock_os_thread()
            me = threading.current_thread()
            tl.owner = k
            lockedthreads.add(me)
            for _ in range(rounds):
                v = await inp.recv()
                if threading.current_thread() is not me or tl.owner != k:
                    bad.append("moved")
                await outp.send(v + 1)
        finally:
            wg.done()

    async def free(inp: gosched.Chan[int], outp: gosched.Chan[int]) -> None:
        try:
            for i in range(rounds):
                await outp.send(i)
                if getattr(tl, "owner", None) is not None:
                    bad.append("ran on a locked M")
                if await inp.recv() != i + 1:
                    bad.append("lost")
                if getattr(tl, "owner", None) is not None:
                    bad.append("ran on a locked M")
                if i % 7 == 0:
                    await gosched.gosched()
        finally:
            wg.done()

    for k in range(nlocked):
        a: gosched.Chan[int] = gosched.Chan()
        b: gosched.Chan[int] = gosched.Chan(k % 2)
        wg.add(2)
        gosched.go(locked, k, a, b)
        gosched.go(free, b, a)
    await wg.wait()
    assert not bad, bad[:5]
    return lockedthreads


def test_pingpong_stress(tiny_switch_interval: None) -> None:
    for procs in (1, 2, 4):
        lockedthreads = run(_pingpong(200, 3), maxprocs=procs, timeout=120)
        assert len(lockedthreads) == 3


OPS = st.sampled_from(["lock", "unlock", "sleep", "recv", "gosched", "syscall", "yield"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(progs=st.lists(st.lists(OPS, min_size=1, max_size=25), min_size=1, max_size=4),
       procs=st.integers(1, 3))
def test_random_lock_sequences(tiny_switch_interval: None, progs: list[list[str]], procs: int) -> None:
    async def g(ops: list[str], feed: gosched.Chan[int], out: gosched.Chan[bool]) -> None:
        depth = 0
        pinned = 0
        ok = True
        for op in ops:
            if op == "lock":
                gosched.lock_os_thread()
                if depth == 0:
                    pinned = threading.get_ident()
                depth += 1
            elif op == "unlock":
                gosched.unlock_os_thread()
                depth = max(0, depth - 1)
            elif op == "sleep":
                await gosched.sleep(0.0002)
            elif op == "recv":
                await feed.recv()
            elif op == "gosched":
                await gosched.gosched()
            elif op == "syscall":
                await gosched.syscall(threading.get_ident)
            if depth and threading.get_ident() != pinned:
                ok = False
        await out.send(ok)

    async def main() -> list[bool]:
        out: gosched.Chan[bool] = gosched.Chan()
        feed: gosched.Chan[int] = gosched.Chan()
        need = sum(p.count("recv") for p in progs)
        for ops in progs:
            gosched.go(g, ops, feed, out)
        for i in range(need):
            await feed.send(i)
        return [await out.recv() for _ in progs]

    assert all(run(main, maxprocs=procs, timeout=60))


# --- signals with main on m0 (subprocesses: real signals to the program) ----------------------

CTRL_C_LOCKED = """
import sys, threading, gosched

async def main():
    if sys.argv[1] == "locked":
        gosched.lock_os_thread()
        await gosched.sleep(0.001)
    try:
        print("ready", flush=True)
        if sys.argv[1] == "spinning":
            while True:  # main's own code, on the main thread: interrupted right here
                pass
        await gosched.sleep(3600)  # asleep: m0 waits in run()'s signal loop
    finally:
        print("main finally", threading.current_thread() is threading.main_thread(), flush=True)

gosched.run(main, maxprocs=2)
"""


@pytest.mark.parametrize("how", ["locked", "spinning"])
def test_ctrl_c_reaches_main_on_m0(tmp_path: Path, how: str) -> None:
    """SIGINT while main is locked and asleep on m0, or runs its own code there before it
    first blocks: one KeyboardInterrupt, main's finally blocks run, never an exception
    inside the scheduler loop."""
    path = tmp_path / "prog.py"
    path.write_text(CTRL_C_LOCKED)
    rc, out, err = signal_when_ready([sys.executable, str(path), how], signal.SIGINT)
    assert rc == -signal.SIGINT, err
    assert out == "main finally True\n", err
    assert err.count("Traceback") == 1 and "\nKeyboardInterrupt\n" in err + "\n", err
    if how == "spinning":  # raised in main's own frame, as a panic of main
        assert 'prog.py", line' in err and err.rstrip().endswith("raised in goroutine 1 (main)"), err


NOTIFY_LOCKED = """
import os, signal, gosched

async def main():
    gosched.lock_os_thread()
    ch = gosched.Chan(1)
    gosched.signal.notify(ch, signal.SIGUSR1)
    async def kill():
        await gosched.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(3):
        gosched.go(kill)
        print(int(await ch.recv()), flush=True)
    gosched.signal.stop(ch)

gosched.run(main, maxprocs=2)
"""


def test_notify_with_main_locked(tmp_path: Path) -> None:
    """gosched.signal delivers while main is locked and asleep on m0 (served from m0's park)."""
    r = runprog(tmp_path, NOTIFY_LOCKED, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(int(signal.SIGUSR1))] * 3


def test_blocking_report_names_the_lock() -> None:
    """The blame report says the stuck goroutine is locked to its thread, as the dump does."""
    async def worker(done: gosched.Chan[None]) -> None:
        gosched.lock_os_thread()
        await gosched.sleep(0)
        time.sleep(0.1)  # unwrapped: sysmon takes the P
        await done.send(None)

    async def main() -> None:
        done: gosched.Chan[None] = gosched.Chan()
        gosched.go(worker, done)
        await done.recv()

    old = debug.set_blocking_report(True, threshold=0)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", gosched.BlockingWarning)
            run(main, maxprocs=2)
    finally:
        debug.set_blocking_report(old, threshold=0.05)
        debug.reset_blocking_profile()
    msgs = [str(x.message) for x in w if issubclass(x.category, gosched.BlockingWarning)]
    assert any(" (locked to thread) held its P" in m_ for m_ in msgs), msgs
