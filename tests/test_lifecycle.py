"""The end of a run (issue 14, items 4 and 5).

When main returns, the run is over: run() closes every goroutine it leaves
parked or runnable (their finally blocks run inside run(), on its thread), waits
up to SHUTDOWN_TIMEOUT for Ms still running a goroutine, and such an M closes
its goroutine when it next reaches the runtime. Nothing of one run resumes in
the next; a second Ctrl-C during the end does not chain onto the first.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import gosched
from _core_helpers import run
from gosched._runtime.main import SHUTDOWN_TIMEOUT
from gosched._runtime.runtime2 import Gwaiting

pytestmark = pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")

PROCS = [1, 4]
SRC = str(Path(__file__).resolve().parent.parent / "src")


def wait_threads(baseline: int, bound: float = 20.0) -> int:
    """Thread count once it is back to ``baseline`` (or when ``bound`` seconds passed)."""
    deadline = time.monotonic() + bound
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count()


async def until(cond: Callable[[], bool], bound: float = 10.0) -> None:
    deadline = time.monotonic() + bound
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await gosched.sleep(0.001)


# --- parked goroutines: closed inside run(), never readied by the next run ---------------
#
# Each case: make the shared object, set it up in run 1 (so the victim blocks), the
# victim's blocking call, and what run 2 does that would wake a waiter left behind,
# returning True if it found none.


def _chan_recv() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    return gosched.Chan[int](), lambda c: None, lambda c: c.recv(), lambda c: not c.trysend(1)


def _chan_send() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    return gosched.Chan[int](), lambda c: None, lambda c: c.send(1), lambda c: not c.tryrecv()[2]


def _select() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    other = gosched.Chan[int]()
    return (
        gosched.Chan[int](),
        lambda c: None,
        lambda c: gosched.select(gosched.recv(other), gosched.recv(c)),
        lambda c: not c.trysend(1),
    )


def _mutex() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    def poke(mu: gosched.Mutex) -> bool:
        mu.unlock()  # run 1's main returned holding it
        return mu.try_lock()

    return gosched.Mutex(), lambda mu: mu.try_lock(), lambda mu: mu.lock(), poke


def _semaphore() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    def poke(s: gosched.Semaphore) -> bool:
        s.release()
        return s.try_acquire()

    return gosched.Semaphore(1), lambda s: s.try_acquire(), lambda s: s.acquire(), poke


def _waitgroup() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    def poke(wg: gosched.WaitGroup) -> bool:
        wg.done()
        return True

    return gosched.WaitGroup(), lambda wg: wg.add(1), lambda wg: wg.wait(), poke


def _sleep() -> tuple[Any, Callable[[Any], None], Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]:
    return None, lambda _: None, lambda _: gosched.sleep(0.05), lambda _: True


CASES = {
    "chan-recv": _chan_recv,
    "chan-send": _chan_send,
    "select": _select,
    "mutex": _mutex,
    "semaphore": _semaphore,
    "waitgroup": _waitgroup,
    "sleep": _sleep,
}


@pytest.mark.parametrize("procs", PROCS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_parked_goroutine_is_closed_in_its_run_and_never_resumes_in_the_next(case: str, procs: int) -> None:
    obj, setup, block, poke = CASES[case]()
    log: list[Any] = []

    async def victim() -> None:
        try:
            await block(obj)
            log.append("resumed")
        finally:
            log.append(("finally", threading.get_ident()))

    async def main1() -> None:
        setup(obj)
        g = gosched.go(victim)
        await until(lambda: g._g.status == Gwaiting)

    gosched.run(main1, maxprocs=procs)
    assert log == [("finally", threading.get_ident())], "the finally block runs inside run(), on its thread"

    async def main2() -> tuple[bool, int]:
        none_left = poke(obj)
        await gosched.sleep(0.2)  # a stale waiter readied here would run now
        return none_left, gosched.num_goroutine()

    assert gosched.run(main2, maxprocs=procs) == (True, 1)
    assert "resumed" not in log


@pytest.mark.parametrize("procs", PROCS)
def test_a_crowd_parked_on_one_object_is_closed_in_one_pass(procs: int) -> None:
    # The run's end took its goroutines off their objects' wait queues one at a
    # time, a scan of the queue each: 50,000 left on one channel took ~40 s to
    # close. Now each object's queues are passed over once for all of them
    # (runend.unqueue): linear.
    crowd, n = 30_000, 34_000  # the crowd on one channel, then 1,000 on each other kind of wait
    closed: list[int] = []
    ch, out, other = gosched.Chan[int](), gosched.Chan[int](), gosched.Chan[int]()
    mu, wg = gosched.Mutex(), gosched.WaitGroup()

    async def victim(i: int, block: Callable[[], Awaitable[Any]]) -> None:
        try:
            await block()
        finally:
            closed.append(i)

    blocks: list[Callable[[], Awaitable[Any]]] = [
        ch.recv,
        lambda: out.send(1),
        lambda: gosched.select(gosched.recv(other), gosched.recv(ch)),
        mu.lock,
        wg.wait,
    ]

    async def main() -> None:
        mu.try_lock()
        wg.add(1)
        gs = [gosched.go(victim, i, blocks[0 if i < crowd else i % len(blocks)])._g for i in range(n)]
        await until(lambda: all(g.status == Gwaiting for g in gs), 30.0)

    t0 = time.monotonic()
    gosched.run(main, maxprocs=procs)
    took = time.monotonic() - t0
    assert sorted(closed) == list(range(n)), "every goroutine's finally block ran, once"
    assert took < 15, f"run() took {took:.1f} s"  # one at a time: ~28 s for the crowd here

    async def again() -> tuple[bool, bool, bool, bool]:  # no stale waiter left on any object
        mu.unlock()
        wg.done()
        return not ch.trysend(1), not out.tryrecv()[2], not other.trysend(1), mu.try_lock()

    assert gosched.run(again, maxprocs=procs) == (True, True, True, True)


@pytest.mark.parametrize("procs", PROCS)
def test_runnable_goroutines_are_closed_without_running(procs: int) -> None:
    ran: list[int] = []
    coros: list[Any] = []

    async def never(i: int) -> None:
        ran.append(i)

    async def main() -> None:
        coros.extend(gosched.go(never, i)._g.coro for i in range(100))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gosched.run(main, maxprocs=procs)
        assert all(c.cr_frame is None for c in coros), "every coroutine is closed or finished"
        n = len(ran)
        coros.clear()
        gc.collect()
    assert len(ran) == n < 100  # main returned without yielding: most never started, and never will
    assert not [w for w in caught if "never awaited" in str(w.message)]


@pytest.mark.parametrize("procs", PROCS)
def test_runtime_call_in_a_closed_goroutines_finally_says_why(
    procs: int, caplog: pytest.LogCaptureFixture
) -> None:
    ch = gosched.Chan[int]()
    errors: list[BaseException] = []

    async def victim() -> None:
        try:
            await ch.recv()
        finally:
            for call in (lambda: gosched.sleep(1), ch.recv, lambda: gosched.syscall(time.sleep, 0)):
                try:
                    await call()
                except RuntimeError as e:
                    errors.append(e)
            try:
                gosched.go(ch.recv)
            except RuntimeError as e:
                errors.append(e)

    async def main() -> None:
        g = gosched.go(victim)
        await until(lambda: g._g.status == Gwaiting)

    gosched.run(main, maxprocs=procs)
    assert len(errors) == 4
    for e in errors:
        assert "after its run ended" in str(e), e
    assert not caplog.records  # the finally caught them all: nothing to report


@pytest.mark.parametrize("procs", PROCS)
def test_goroutines_in_io_wait_are_closed_and_their_sockets_with_them(procs: int) -> None:
    from gosched import net

    fds = len(os.listdir("/proc/self/fd"))
    log: list[str] = []

    async def serve(ln: net.Listener) -> None:
        async with ln:
            c = await ln.accept()
            async with c:
                try:
                    log.append("reading")
                    await c.read()
                finally:
                    log.append("server")

    async def main() -> None:
        ln = await net.listen("tcp", "127.0.0.1:0")
        gosched.go(serve, ln)
        c = await net.dial("tcp", ln.addr)

        async def client() -> None:
            async with c:
                await c.read()

        g = gosched.go(client)
        await until(lambda: g._g.status == Gwaiting and log == ["reading"])

    gosched.run(main, maxprocs=procs)
    assert log == ["reading", "server"]
    assert len(os.listdir("/proc/self/fd")) == fds  # listener, both ends and the poller closed


# --- goroutines stuck on an M when the run ends ----------------------------------------------


@pytest.mark.parametrize("procs", PROCS)
@pytest.mark.parametrize("wrapped", [False, True], ids=["unwrapped", "syscall"])
def test_goroutine_stuck_in_a_blocking_call_never_resumes_in_the_next_run(procs: int, wrapped: bool) -> None:
    baseline = threading.active_count()
    ch = gosched.Chan[int]()
    inside, release, closed = threading.Event(), threading.Event(), threading.Event()
    log: list[Any] = []

    async def victim() -> None:
        try:
            inside.set()
            if wrapped:
                await gosched.syscall(release.wait, 30)
            else:
                release.wait(30)  # its M is stuck past run()'s end
            log.append("back")
            await ch.recv()
            log.append("resumed")
        finally:
            log.append(("finally", threading.current_thread().name))
            closed.set()

    async def main1() -> None:
        gosched.go(victim)
        await gosched.syscall(inside.wait, 30)

    t0 = time.monotonic()
    gosched.run(main1, maxprocs=procs)
    took = time.monotonic() - t0
    assert SHUTDOWN_TIMEOUT * 0.9 <= took < SHUTDOWN_TIMEOUT + 10, took  # waited, then gave up
    assert log == []

    async def main2() -> tuple[bool, int]:
        release.set()
        await gosched.syscall(closed.wait, 10)
        none_left = not ch.trysend(1)
        await gosched.sleep(0.1)
        return none_left, gosched.num_goroutine()

    assert gosched.run(main2, maxprocs=procs) == (True, 1)
    # Python cannot stop the thread: an unwrapped call's code runs on to its next runtime
    # call; gosched.syscall hands control back to the M, which closes it there.
    assert ("back" in log) is not wrapped
    assert "resumed" not in log
    assert log[-1][0] == "finally" and log[-1][1].startswith("gosched-M"), log  # closed on its own M
    assert wait_threads(baseline) == baseline


@pytest.mark.parametrize("procs", PROCS)
def test_a_late_goroutine_waking_one_of_the_next_run_does_not_lose_it(procs: int) -> None:
    ch = gosched.Chan[int]()
    inside, release = threading.Event(), threading.Event()
    log: list[str] = []

    async def victim() -> None:
        inside.set()
        release.wait(30)  # its M is stuck past run()'s end
        await ch.send(7)  # run 2's main is receiving: the send completes, then the M closes victim
        log.append("resumed")

    async def main1() -> None:
        gosched.go(victim)
        await gosched.syscall(inside.wait, 30)

    gosched.run(main1, maxprocs=procs)

    async def releaser() -> None:
        await until(lambda: bool(ch.waiters()[0]))
        release.set()

    async def main2() -> int:
        ch.foreign = True  # for run 2 the late goroutine is a thread outside it (checkdead)
        gosched.go(releaser)
        return await ch.recv()

    assert run(main2, maxprocs=procs, timeout=20) == 7
    assert log == []


@pytest.mark.parametrize("procs", PROCS)
def test_goroutine_looping_past_the_run_stops_at_its_next_runtime_call(procs: int) -> None:
    baseline = threading.active_count()
    steps: list[int] = []
    inside, stop = threading.Event(), threading.Event()

    async def looper() -> None:
        inside.set()
        time.sleep(0.2)  # unwrapped: main's end finds it on its M
        while not stop.is_set():
            steps.append(1)
            time.sleep(0.001)
            await gosched.sleep(0)  # a runtime call that does not yield

    async def main() -> None:
        gosched.go(looper)
        await gosched.syscall(inside.wait, 10)

    try:
        gosched.run(main, maxprocs=procs)
        assert wait_threads(baseline) == baseline
        n = len(steps)
        time.sleep(0.1)
        assert len(steps) == n, "the goroutine went on running after its run ended"
    finally:
        stop.set()


@pytest.mark.parametrize("procs", PROCS)
def test_ms_stuck_at_thread_exhaustion_exit_once_their_calls_return(procs: int) -> None:
    baseline = threading.active_count()

    async def stuck() -> None:
        time.sleep(0.5)
        while True:
            await gosched.sleep(0)

    async def main() -> None:
        for _ in range(40):
            gosched.go(stuck)
        await gosched.sleep(5)

    old = gosched.debug.set_max_threads(12)
    try:
        with pytest.raises(gosched.Fatal, match="thread exhaustion"):
            gosched.run(main, maxprocs=procs)
    finally:
        gosched.debug.set_max_threads(old)
    assert wait_threads(baseline) == baseline


# --- at interpreter exit: nothing left to GC ----------------------------------------------------

NOISE_PROGRAM = """
import sys, time, gosched

ch, mu, wg = gosched.Chan(), gosched.Mutex(), gosched.WaitGroup()

async def parked(aw):
    try:
        await aw
    finally:
        pass

async def bad_finally():
    try:
        await ch.recv()
    finally:
        await gosched.sleep(1)

async def stuck():
    time.sleep(0.3)
    await ch.recv()

async def never():
    pass

async def main():
    await mu.lock()
    wg.add(1)
    for aw in (ch.recv(), ch.send(1), mu.lock(), wg.wait(), gosched.sleep(60),
               gosched.select(gosched.recv(ch), gosched.recv(gosched.Chan()))):
        gosched.go(parked, aw)
    gosched.go(bad_finally)
    gosched.go(stuck)
    await gosched.sleep(0.1)
    for _ in range(10):
        gosched.go(never)

gosched.run(main)
print("returned", flush=True)
"""


@pytest.mark.parametrize("procs", PROCS)
def test_no_noise_at_interpreter_exit(tmp_path: Path, procs: int) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(NOISE_PROGRAM)
    env = {**os.environ, "PYTHONPATH": SRC, "GOMAXPROCS": str(procs)}
    p = subprocess.run(
        [sys.executable, "-W", "ignore::gosched.BlockingWarning", str(prog)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == "returned\n"
    assert "Exception ignored" not in p.stderr, p.stderr
    assert "never awaited" not in p.stderr, p.stderr
    # The one finally block that calls the runtime is reported once, clearly.
    assert p.stderr.count("raised while its run's end closed it") == 1, p.stderr
    assert "gosched: sleep called by goroutine" in p.stderr and "after its run ended" in p.stderr


# --- a second Ctrl-C during the end (item 5) ----------------------------------------------------

SIGINT_PROGRAM = """
import time, gosched

async def stuck():
    time.sleep(60)  # unwrapped: run()'s end waits SHUTDOWN_TIMEOUT for its M

async def slow_finally():
    try:
        await gosched.Chan().recv()
    finally:
        print("closing", flush=True)
        time.sleep(1.5)  # the end goes on while a second Ctrl-C arrives

async def main():
    gosched.go(stuck)
    gosched.go(slow_finally)
    await gosched.sleep(0.1)
    print("ready", flush=True)
    await gosched.Chan().recv()

gosched.run(main)
"""


@pytest.mark.parametrize("procs", PROCS)
def test_second_ctrl_c_during_the_end_does_not_chain(tmp_path: Path, procs: int) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(SIGINT_PROGRAM)
    env = {**os.environ, "PYTHONPATH": SRC, "GOMAXPROCS": str(procs)}
    p = subprocess.Popen(
        [sys.executable, "-W", "ignore::gosched.BlockingWarning", str(prog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)  # the first: run() ends with KeyboardInterrupt
        time.sleep(SHUTDOWN_TIMEOUT / 4)
        p.send_signal(signal.SIGINT)  # while run() waits for the stuck M
        line = p.stdout.readline()  # the end closes slow_finally
        assert line == "closing\n", line
        p.send_signal(signal.SIGINT)  # while that finally block runs
        _, err = p.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert err.count("KeyboardInterrupt") == 1, err
    assert "During handling" not in err and "Exception ignored" not in err, err
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "wait_done" in err  # the first interrupt's traceback: where run() was waiting
    assert p.returncode in (-signal.SIGINT, 130, 1), p.returncode
    assert took < SHUTDOWN_TIMEOUT + 1.5 + 20, took


def test_ctrl_c_during_a_normal_end_is_raised_after_it(tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(
        textwrap.dedent(
            """
            import time, gosched

            async def stuck():
                time.sleep(60)

            async def main():
                gosched.go(stuck)
                await gosched.sleep(0.1)
                print("returning", flush=True)

            try:
                gosched.run(main)
            except KeyboardInterrupt:
                print("interrupted after the end", flush=True)
            """
        )
    )
    p = subprocess.Popen(
        [sys.executable, "-W", "ignore::gosched.BlockingWarning", str(prog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "returning\n"
        time.sleep(SHUTDOWN_TIMEOUT / 4)  # run() is waiting for the stuck M
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == "interrupted after the end\n", (out, err)
    assert "Traceback" not in err, err


# --- stress: many runs sharing objects, goroutines in every state at the end ----------------


@pytest.mark.parametrize("procs", PROCS)
def test_no_goroutine_resumes_after_its_run_under_stress(
    procs: int, caplog: pytest.LogCaptureFixture
) -> None:
    baseline = threading.active_count()
    chans = [gosched.Chan[int](random.choice([0, 0, 2])) for _ in range(4)]
    mus = [gosched.Mutex() for _ in range(2)]
    alive: dict[int, bool] = {}
    late: list[tuple[int, str]] = []

    def resumed(run: int, where: str) -> None:
        if not alive[run]:
            late.append((run, where))

    async def worker(run: int, rng: random.Random) -> None:
        for _ in range(rng.randrange(1, 30)):
            k = rng.randrange(7)
            c = rng.choice(chans)
            if k == 0:
                await c.send(run)
                resumed(run, "send")
            elif k == 1:
                await c.recv()
                resumed(run, "recv")
            elif k == 2:
                await gosched.select(gosched.recv(c), gosched.send(rng.choice(chans), run))
                resumed(run, "select")
            elif k == 3:
                mu = rng.choice(mus)
                if mu.try_lock():
                    mu.unlock()
            elif k == 4:
                await gosched.sleep(rng.random() / 100)
                resumed(run, "sleep")
            elif k == 5:
                time.sleep(rng.random() / 50)  # unwrapped: its M may be stuck at the end
            else:
                await gosched.gosched()
                resumed(run, "gosched")

    async def main(run: int, seed: int) -> int:
        rng = random.Random(seed)
        for i in range(rng.randrange(20, 80)):
            gosched.go(worker, run, random.Random(seed * 1000 + i))
        await gosched.sleep(rng.random() / 50)
        return run

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for run in range(25):
            alive[run] = True
            assert gosched.run(main, run, run, maxprocs=procs) == run
            alive[run] = False
    finally:
        sys.setswitchinterval(old)
    assert late == []
    assert [r for r in caplog.records if r.name == "gosched"] == []
    assert wait_threads(baseline) == baseline


def test_a_panic_after_main_returned_does_not_replace_the_result(caplog: pytest.LogCaptureFixture) -> None:
    """A goroutine that raises once main has returned is logged; run() still returns main's value."""
    started = threading.Event()

    async def late() -> None:
        started.set()
        time.sleep(0.2)  # unwrapped: still on its M when main returns
        raise ValueError("too late")

    async def main() -> int:
        gosched.go(late)
        await gosched.syscall(started.wait)
        return 42

    with caplog.at_level(logging.ERROR, logger="gosched"):
        assert gosched.run(main, maxprocs=1) == 42
    assert any(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in caplog.records), caplog.text
