"""Blocking APIs for plain threads: Chan.send_blocking/recv_blocking, WaitGroup.wait_blocking,
Mutex.lock_blocking; and the foreign rule they imply for checkdead."""

from __future__ import annotations

import threading
import time

import pytest

import gosched
from gosched._runtime import proc


def test_thread_and_goroutines_talk_both_ways() -> None:
    results: list[int] = []

    async def main() -> list[int]:
        req: gosched.Chan[int] = gosched.Chan()
        resp: gosched.Chan[int] = gosched.Chan()
        req.foreign = resp.foreign = True  # a thread uses them (docs/checkdead.md)

        def client() -> None:
            for i in range(100):
                req.send_blocking(i)
                results.append(resp.recv_blocking())
            req.close()

        async def server() -> None:
            async for v in req:
                await resp.send(v * v)

        gosched.go(server)
        t = threading.Thread(target=client)
        t.start()
        await gosched.syscall(t.join)
        return results

    assert gosched.run(main, maxprocs=2) == [i * i for i in range(100)]


def test_buffered_closed_and_timeouts() -> None:
    async def main() -> list[object]:
        c: gosched.Chan[int] = gosched.Chan(2)
        out: list[object] = []

        def th() -> None:
            c.send_blocking(1)
            c.send_blocking(2)  # buffered: neither blocks
            try:
                c.send_blocking(3, timeout=0.05)
            except TimeoutError:
                out.append("send timeout")
            try:
                gosched.Chan[int]().recv_blocking(timeout=0)
            except TimeoutError:
                out.append("recv timeout")

        t = threading.Thread(target=th)
        t.start()
        await gosched.syscall(t.join)
        out.append(await c.recv())
        out.append(await c.recv())
        assert c.tryrecv() == (None, False, False)  # the timed-out send left nothing behind
        c.close()
        try:
            c.recv_blocking()
        except gosched.Closed:
            out.append("closed")
        return out

    with pytest.raises(RuntimeError, match="would block an M"):
        gosched.run(main)  # recv_blocking from the goroutine itself is refused

    async def main2() -> list[object]:
        c: gosched.Chan[int] = gosched.Chan()
        out: list[object] = []

        def th() -> None:
            try:
                c.recv_blocking()
            except gosched.Closed:
                out.append("closed")
            try:
                c.send_blocking(1)
            except gosched.ClosedChannelError:
                out.append("send on closed")

        c.foreign = True
        t = threading.Thread(target=th)
        t.start()
        while not c.recvq:  # the thread's proxy is queued
            await gosched.syscall(time.sleep, 0.001)
        c.close()
        await gosched.syscall(t.join)
        return out

    assert gosched.run(main2) == ["closed", "send on closed"]


def test_select_in_goroutine_with_thread_sender() -> None:
    async def main() -> tuple[int, object]:
        a: gosched.Chan[str] = gosched.Chan()
        b: gosched.Chan[str] = gosched.Chan()
        b.foreign = True
        threading.Thread(target=b.send_blocking, args=("from thread",)).start()
        i, v, _ = await gosched.select(gosched.recv(a), gosched.recv(b))
        return i, v

    assert gosched.run(main) == (1, "from thread")


def test_blocking_call_inside_syscall_is_allowed() -> None:
    async def main() -> int:
        c: gosched.Chan[int] = gosched.Chan()

        async def sender() -> None:
            await c.send(5)

        gosched.go(sender)
        return await gosched.syscall(c.recv_blocking, 10)

    assert gosched.run(main, maxprocs=2) == 5


def test_waitgroup_wait_blocking() -> None:
    async def main() -> list[bool]:
        wg = gosched.WaitGroup()
        wg.add(3)
        got: list[bool] = []

        def th() -> None:
            got.append(wg.wait_blocking(timeout=0))  # not done yet
            got.append(wg.wait_blocking(timeout=30))

        t = threading.Thread(target=th)
        t.start()

        async def worker() -> None:
            wg.done()

        for _ in range(3):
            gosched.go(worker)
        await gosched.syscall(t.join)
        return got

    assert gosched.run(main) == [False, True]


def test_waitgroup_waited_by_goroutine_done_by_thread_is_no_deadlock() -> None:
    async def main() -> str:
        wg = gosched.WaitGroup()
        wg.foreign = True
        wg.add(1)
        threading.Thread(target=lambda: (time.sleep(0.2), wg.done())).start()
        await wg.wait()
        return "ok"

    assert gosched.run(main) == "ok"


def test_mutex_lock_blocking_and_dump_owner() -> None:
    mu = gosched.Mutex()
    locked = threading.Event()
    release = threading.Event()

    def holder() -> None:
        assert mu.lock_blocking(timeout=5)
        locked.set()
        release.wait(10)
        mu.unlock()

    async def main() -> str:
        t = threading.Thread(target=holder)
        t.start()
        await gosched.syscall(locked.wait, 10)

        async def waiter() -> None:
            await mu.lock()
            mu.unlock()

        g = gosched.go(waiter)
        while g.state != "sync.Mutex.Lock":
            await gosched.gosched()
        text = gosched.dump()
        release.set()
        await gosched.syscall(t.join)
        # The thread now takes the lock while a goroutine holds it: it waits its turn.
        await mu.lock()
        got: list[bool] = []
        t2 = threading.Thread(target=lambda: got.append(mu.lock_blocking(timeout=0.05)))
        t2.start()
        await gosched.syscall(t2.join)
        assert got == [False]
        mu.unlock()
        return text

    text = gosched.run(main, maxprocs=2)
    assert f"goroutine 2 waits for mu (*Mutex {id(mu):#x}), held by a thread outside the runtime" in text


def test_thread_blocked_counts_in_nforeign() -> None:
    seen: list[int] = []

    async def main() -> None:
        c: gosched.Chan[int] = gosched.Chan()
        sched = proc.current
        assert sched is not None
        t = threading.Thread(target=c.recv_blocking)
        t.start()
        while not c.recvq:
            await gosched.syscall(time.sleep, 0.001)
        seen.append(sched.nforeign)
        await c.send(1)
        await gosched.syscall(t.join)
        seen.append(sched.nforeign)

    gosched.run(main)
    assert seen == [1, 0]


def test_thread_released_when_runtime_ends() -> None:
    c: gosched.Chan[int] = gosched.Chan()
    err: list[BaseException] = []

    def th() -> None:
        try:
            c.recv_blocking()
        except RuntimeError as e:
            err.append(e)

    async def main() -> None:
        t = threading.Thread(target=th, daemon=True)
        t.start()
        while not c.recvq:
            await gosched.syscall(time.sleep, 0.001)

    gosched.run(main)
    deadline = time.monotonic() + 10
    while not err and time.monotonic() < deadline:
        time.sleep(0.01)
    assert err and "runtime ended" in str(err[0])


def test_no_runtime() -> None:
    with pytest.raises(RuntimeError, match=r"no gosched\.run"):
        gosched.Chan[int]().recv_blocking()
    c: gosched.Chan[int] = gosched.Chan(1)
    c.send_blocking(1)  # does not block: allowed without a runtime
    assert c.recv_blocking() == 1
