"""WaitGroup, Mutex, RWMutex, Once, Semaphore."""

from __future__ import annotations

import pytest

import gosched
from _core_helpers import drive, in_thread, run, wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


# --- WaitGroup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_waitgroup_waits_for_all(procs: int) -> None:
    async def main() -> tuple[int, int]:
        wg = gosched.WaitGroup()
        done: list[int] = []

        async def worker(i: int) -> None:
            for _ in range(i % 5):
                await gosched.gosched()
            done.append(i)
            wg.done()

        for i in range(100):
            wg.add(1)
            gosched.go(worker, i)
        await wg.wait()
        return len(done), wg.count

    assert run(main, maxprocs=procs) == (100, 0)


def test_waitgroup_many_waiters_and_reuse() -> None:
    async def main() -> int:
        wg = gosched.WaitGroup()
        out = gosched.Chan[int](20)
        for _round in range(3):
            wg.add(2)

            async def waiter(i: int) -> None:
                await wg.wait()
                await out.send(i)

            for i in range(10):
                gosched.go(waiter, i)
            await gosched.sleep(0.005)
            assert len(out) == 0
            wg.done()
            wg.done()
            assert sorted([await out.recv() for _ in range(10)]) == list(range(10))
        await wg.wait()  # zero: returns at once
        return wg.count

    assert run(main, maxprocs=2) == 0


def test_waitgroup_negative_counter() -> None:
    async def main() -> str:
        wg = gosched.WaitGroup()
        wg.add(1)
        with pytest.raises(RuntimeError, match="sync: negative WaitGroup counter"):
            wg.add(-2)
        wg.done()
        with pytest.raises(gosched.Panic, match="sync: negative WaitGroup counter"):
            wg.done()
        return "ok"

    assert run(main) == "ok"


def test_waitgroup_add_bad_type() -> None:
    wg = gosched.WaitGroup()
    for bad in ("1", 1.0, None, True):
        with pytest.raises(TypeError, match="int"):
            wg.add(bad)  # type: ignore[arg-type]
    assert wg.count == 0


# --- Mutex ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_mutex_mutual_exclusion(procs: int) -> None:
    async def main() -> tuple[int, int]:
        mu = gosched.Mutex()
        wg = gosched.WaitGroup()
        state = {"inside": 0, "max": 0, "count": 0}

        async def worker() -> None:
            for i in range(200):
                async with mu:
                    state["inside"] += 1
                    state["max"] = max(state["max"], state["inside"])
                    c = state["count"]
                    if i % 7 == 0:
                        await gosched.gosched()
                    state["count"] = c + 1
                    state["inside"] -= 1
            wg.done()

        for _ in range(10):
            wg.add(1)
            gosched.go(worker)
        await wg.wait()
        return state["max"], state["count"]

    assert run(main, maxprocs=procs) == (1, 2000)


def test_mutex_try_lock() -> None:
    async def main() -> str:
        mu = gosched.Mutex()
        assert mu.try_lock() and mu.locked()
        assert not mu.try_lock()
        mu.unlock()
        assert not mu.locked()
        await mu.lock()  # unlock of an unlocked mutex is fatal: test_fatal.py
        mu.unlock()
        return "ok"

    assert run(main) == "ok"


def test_mutex_fifo_handoff() -> None:
    async def main() -> list[int]:
        mu = gosched.Mutex()
        order: list[int] = []
        await mu.lock()
        wg = gosched.WaitGroup()

        async def w(i: int) -> None:
            await mu.lock()
            order.append(i)
            mu.unlock()
            wg.done()

        for i in range(10):
            wg.add(1)
            gosched.go(w, i)
            await wait_until(lambda i=i: len(mu.waiters()) == i + 1)  # type: ignore[misc]
        # a barger that arrives after the waiters must not overtake them
        assert not mu.try_lock()
        mu.unlock()
        await wg.wait()
        return order

    assert run(main, maxprocs=2) == list(range(10))


def test_mutex_unlock_from_other_goroutine() -> None:
    async def main() -> str:
        mu = gosched.Mutex()
        await mu.lock()

        async def unlocker() -> None:
            mu.unlock()

        gosched.go(unlocker)
        await mu.lock()  # Go allows unlocking in another goroutine
        mu.unlock()
        return "ok"

    assert run(main, maxprocs=2) == "ok"


def test_contended_lock_from_plain_thread_raises() -> None:
    async def main() -> str:
        mu = gosched.Mutex()
        await mu.lock()
        wg = gosched.WaitGroup()
        wg.add(1)

        def probe() -> str:
            try:
                drive(mu.lock())
            except RuntimeError as e:
                return str(e)
            return "no error"

        def probe_wg() -> str:
            try:
                drive(wg.wait())
            except RuntimeError as e:
                return str(e)
            return "no error"

        a = await gosched.syscall(in_thread, probe)
        b = await gosched.syscall(in_thread, probe_wg)
        return a + " | " + b

    msg = run(main)
    assert msg.count("outside a goroutine") == 2, msg


# --- RWMutex ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 3])
def test_rwmutex_readers_share_writers_exclusive(procs: int) -> None:
    async def main() -> tuple[int, int, bool]:
        rw = gosched.RWMutex()
        wg = gosched.WaitGroup()
        st = {"readers": 0, "maxreaders": 0, "writers": 0, "bad": False}

        async def reader() -> None:
            for _ in range(50):
                await rw.rlock()
                st["readers"] += 1
                st["maxreaders"] = max(st["maxreaders"], st["readers"])
                if st["writers"]:
                    st["bad"] = True
                await gosched.gosched()
                st["readers"] -= 1
                rw.runlock()
            wg.done()

        async def writer() -> None:
            for _ in range(20):
                async with rw:
                    st["writers"] += 1
                    if st["readers"] or st["writers"] > 1:
                        st["bad"] = True
                    await gosched.gosched()
                    st["writers"] -= 1
            wg.done()

        for _ in range(6):
            wg.add(1)
            gosched.go(reader)
        for _ in range(2):
            wg.add(1)
            gosched.go(writer)
        await wg.wait()
        return st["readers"], st["writers"], st["bad"]

    assert run(main, maxprocs=procs) == (0, 0, False)


def test_rwmutex_many_readers_at_once() -> None:
    async def main() -> int:
        rw = gosched.RWMutex()
        inside = gosched.WaitGroup()
        release = gosched.Chan[None]()
        inside.add(5)

        async def reader() -> None:
            await rw.rlock()
            inside.done()
            await release.recv_ok()
            rw.runlock()

        for _ in range(5):
            gosched.go(reader)
        await inside.wait()  # all 5 hold the read lock together
        assert not rw.try_lock()
        release.close()
        await rw.lock()
        rw.unlock()
        return 5

    assert run(main, maxprocs=2) == 5


def test_rwmutex_waiting_writer_blocks_new_readers() -> None:
    async def main() -> list[str]:
        rw = gosched.RWMutex()
        log: list[str] = []
        await rw.rlock()

        async def writer() -> None:
            await rw.lock()
            log.append("writer")
            rw.unlock()

        async def reader() -> None:
            await rw.rlock()
            log.append("late reader")
            rw.runlock()

        gosched.go(writer)
        await wait_until(lambda: bool(rw._wwait))
        assert not rw.try_rlock()
        gosched.go(reader)
        await gosched.sleep(0.01)
        assert log == []
        rw.runlock()
        await wait_until(lambda: len(log) == 2)
        return log

    assert run(main, maxprocs=2) == ["writer", "late reader"]


def test_rwmutex_try_rlock() -> None:
    async def main() -> str:
        rw = gosched.RWMutex()  # unlock of an unlocked RWMutex is fatal: test_fatal.py
        assert rw.try_rlock()
        rw.runlock()
        return "ok"

    assert run(main) == "ok"


# --- Once ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_once_runs_once_and_callers_wait(procs: int) -> None:
    async def main() -> tuple[int, list[bool]]:
        once = gosched.Once()
        calls = {"n": 0, "finished": False}
        seen: list[bool] = []
        wg = gosched.WaitGroup()

        async def init() -> None:
            calls["n"] += 1
            await gosched.sleep(0.02)
            calls["finished"] = True

        async def user() -> None:
            await once.do(init)
            seen.append(calls["finished"])  # do() returns only after fn completed
            wg.done()

        for _ in range(20):
            wg.add(1)
            gosched.go(user)
        await wg.wait()
        return calls["n"], seen

    n, seen = run(main, maxprocs=procs)
    assert n == 1 and seen == [True] * 20


def test_once_plain_function_and_exception() -> None:
    async def main() -> list[int]:
        calls: list[int] = []
        once = gosched.Once()
        await once.do(lambda: calls.append(1))
        await once.do(lambda: calls.append(2))
        bad = gosched.Once()

        def boom() -> None:
            calls.append(3)
            raise ValueError("x")

        with pytest.raises(ValueError):
            await bad.do(boom)
        await bad.do(boom)  # a panicking f still counts as done
        return calls

    assert run(main) == [1, 3]


# --- Semaphore -------------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_semaphore_bounds_concurrency(procs: int) -> None:
    async def main() -> int:
        sem = gosched.Semaphore(3)
        wg = gosched.WaitGroup()
        st = {"in": 0, "max": 0}

        async def w() -> None:
            for _ in range(20):
                async with sem:
                    st["in"] += 1
                    st["max"] = max(st["max"], st["in"])
                    await gosched.gosched()
                    st["in"] -= 1
            wg.done()

        for _ in range(10):
            wg.add(1)
            gosched.go(w)
        await wg.wait()
        return st["max"]

    assert run(main, maxprocs=procs) == 3


def test_semaphore_weighted_fifo_and_bad_input() -> None:
    async def main() -> list[str]:
        sem = gosched.Semaphore(2)
        log: list[str] = []
        await sem.acquire(2)

        async def big() -> None:
            await sem.acquire(2)
            log.append("big")
            sem.release(2)

        async def small() -> None:
            await sem.acquire(1)
            log.append("small")
            sem.release(1)

        gosched.go(big)
        await wait_until(lambda: bool(sem._waiters))
        gosched.go(small)
        await wait_until(lambda: len(sem._waiters) == 2)
        assert not sem.try_acquire(1)
        sem.release(1)  # 1 free: the small one must not overtake the big one
        await gosched.sleep(0.01)
        assert log == []
        sem.release(1)
        await wait_until(lambda: len(log) == 2)
        return log

    assert run(main, maxprocs=2) == ["big", "small"]
    for bad in ("1", 1.5, None):
        with pytest.raises(TypeError):
            gosched.Semaphore(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        gosched.Semaphore(-1)
