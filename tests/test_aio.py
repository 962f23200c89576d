"""gosched.aio: asyncio programs on the gosched loop (issue 12): the loop's API and tasks."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import pytest

import gosched
import gosched.aio as aio


def test_run_gather_sleep_futures_call_later() -> None:
    async def child(i: int) -> int:
        await asyncio.sleep(0.001 * i)
        return i * i

    async def main() -> tuple[list[int], Any, str]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.call_later(0.01, fut.set_result, "late")
        order: list[int] = []
        for i in range(5):
            loop.call_soon(order.append, i)  # FIFO
        got = await asyncio.gather(*(child(i) for i in range(10)))
        return got, (await fut, order), type(loop).__name__

    got, (late, order), name = aio.run(main())
    assert got == [i * i for i in range(10)]
    assert late == "late" and order == [0, 1, 2, 3, 4]
    assert name == "EventLoop"


def test_tasks_are_asyncio_tasks_and_goroutines() -> None:
    async def worker(ready: asyncio.Event) -> None:
        await ready.wait()

    async def main() -> None:
        ready = asyncio.Event()
        before = gosched.num_goroutine()
        t = asyncio.create_task(worker(ready), name="w1")
        assert isinstance(t, asyncio.Task) and isinstance(t, asyncio.Future)
        assert t.get_name() == "w1" and t.get_coro().__qualname__.endswith("worker")
        await asyncio.sleep(0)
        assert gosched.num_goroutine() == before + 1
        assert t in asyncio.all_tasks()
        me = asyncio.current_task()
        assert me is not None and me is not t and me.get_name() != "w1"
        ready.set()
        await t
        assert t.done() and t.result() is None

    aio.run(main())


def test_streams_echo_over_loopback() -> None:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
        w.close()

    async def main() -> int:
        srv = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]

        async def client(i: int) -> bytes:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            msg = f"hello {i} ".encode() * 1000
            w.write(msg)
            await w.drain()
            got = await r.readexactly(len(msg))
            w.close()
            await w.wait_closed()
            assert got == msg
            return got

        res = await asyncio.gather(*(client(i) for i in range(20)))
        srv.close()
        await srv.wait_closed()
        return len(res)

    assert aio.run(main()) == 20


def test_runner_loop_factory_and_policy() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__name__

    with asyncio.Runner(loop_factory=aio.new_event_loop) as r:
        assert r.run(main()) == "EventLoop"
        assert r.run(main()) == "EventLoop"  # the same loop, run twice
    if sys.version_info >= (3, 12):
        assert asyncio.run(main(), loop_factory=aio.new_event_loop) == "EventLoop"
    old = asyncio.get_event_loop_policy()
    try:
        aio.install()
        assert asyncio.run(main()) == "EventLoop"
    finally:
        asyncio.set_event_loop_policy(old)


def test_task_survives_between_run_until_complete_calls() -> None:
    loop = aio.new_event_loop()
    try:
        q: asyncio.Queue[int] = asyncio.Queue()

        async def consumer() -> int:
            total = 0
            while (v := await q.get()) >= 0:
                total += v
            return total

        t = loop.create_task(consumer())
        loop.run_until_complete(q.put(1))
        loop.run_until_complete(asyncio.sleep(0.01))
        loop.run_until_complete(q.put(2))
        loop.run_until_complete(q.put(-1))
        assert loop.run_until_complete(t) == 3
    finally:
        loop.close()


def test_goroutines_await_asyncio_and_tasks_use_channels() -> None:
    async def main() -> int:
        await asyncio.sleep(0.001)  # a goroutine awaits asyncio code
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.call_later(0.001, fut.set_result, 5)
        ch: gosched.Chan[int] = gosched.Chan()

        async def g() -> None:
            await asyncio.sleep(0.001)
            await ch.send(3)

        gosched.go(g)

        async def task() -> int:  # an asyncio task receives from a gosched channel
            return await ch.recv() + await asyncio.create_task(asyncio.sleep(0.001, result=9))

        return await fut + await asyncio.create_task(task())

    assert gosched.run(main) == 17


def test_contextvars_per_task() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def child(name: str) -> tuple[str, str]:
        seen = var.get()
        var.set(name)
        await asyncio.sleep(0.001)
        return seen, var.get()

    async def main() -> list[tuple[str, str]]:
        var.set("parent")
        res = await asyncio.gather(*(child(f"c{i}") for i in range(20)))
        assert var.get() == "parent"
        return res

    res = aio.run(main())
    assert res == [("parent", f"c{i}") for i in range(20)]


def test_goroutine_has_a_task_identity_for_timeouts() -> None:
    async def main() -> bool:
        me = asyncio.current_task()
        assert me is not None and asyncio.current_task() is me
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await asyncio.sleep(10)
        assert me.cancelling() == 0
        assert await asyncio.wait_for(asyncio.sleep(0.001, result=1), 5) == 1
        return me not in asyncio.all_tasks()

    assert gosched.run(main)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is 3.12+")
def test_eager_task_factory_makes_goroutine_tasks() -> None:
    async def child(ch: gosched.Chan[int]) -> int:
        return await ch.recv()  # a gosched trap: only a goroutine task can await it

    async def main() -> int:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        ch: gosched.Chan[int] = gosched.Chan(1)
        t = asyncio.create_task(child(ch))
        assert isinstance(t, aio.Task)
        await ch.send(7)
        return await t

    assert aio.run(main()) == 7
