"""The asyncio hot path's shortcuts keep asyncio's and gosched's behaviour.

A task's goroutine state lives in slots (no instance dict is made for it), the C
step reads a C Future's state through its getsets, module globals read at every
step are cached on their dict's version (a rebinding is seen at the next read),
latency samples are stamped and recorded in C, and the C read takes a socket's
descriptor from the socket object. The pure-Python suite runs the
same checks on the definitions.
"""

from __future__ import annotations

import asyncio
import asyncio.futures
import errno
import gc
import socket
from typing import Any

import pytest

import gosched.aio
from gosched import metrics
from gosched._runtime import speedups


def test_a_task_parked_on_futures_has_no_instance_dict() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        futs = [loop.create_future() for _ in range(5)]
        seen: list[Any] = []

        async def waiter() -> int:
            for f in futs:
                seen.append(await f)
            return len(seen)

        t = asyncio.create_task(waiter())
        waiters = []
        for i, f in enumerate(futs):
            while t._fut_waiter is not f:  # parked on it (Task._fut_waiter, anyio reads it)
                await asyncio.sleep(0)
            waiters.append(t._fut_waiter)
            f.set_result(i)
        assert await t == 5
        assert t._fut_waiter is None
        assert waiters == futs
        return [r for r in gc.get_referents(t) if type(r) is dict and r is not t._gpglobals]  # not its site's

    assert gosched.aio.run(main()) == [], "the task's goroutine state went to an instance dict"


def test_a_parked_task_is_cancelled_through_its_waiter() -> None:
    async def main() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        t = asyncio.create_task(asyncio.wait_for(fut, None))
        while not t._fut_waiter:
            await asyncio.sleep(0)
        t.cancel("stop")
        with pytest.raises(asyncio.CancelledError, match="stop"):
            await t
        return fut.cancelled(), t.cancelled()

    assert gosched.aio.run(main()) == (True, True)


def test_a_bare_yield_of_a_future_is_asyncio_s_error() -> None:
    # The C step reads _asyncio_future_blocking through the C Future's getset: a future
    # yielded without its __await__ (blocking False) is the error asyncio raises.
    class Bare:
        def __init__(self, fut: asyncio.Future[None]) -> None:
            self.fut = fut

        def __await__(self) -> Any:
            yield self.fut

    async def main() -> str:
        fut = asyncio.get_running_loop().create_future()

        async def bad() -> None:
            await Bare(fut)

        with pytest.raises(RuntimeError) as e:
            await asyncio.create_task(bad())
        return str(e.value)

    assert "yield was used instead of yield from" in gosched.aio.run(main())


def test_create_future_follows_a_rebound_futures_future() -> None:
    class MyFuture(asyncio.Future):  # type: ignore[type-arg]
        pass

    async def main() -> list[type]:
        loop = asyncio.get_running_loop()
        kinds = [type(loop.create_future())]
        old = asyncio.futures.Future
        asyncio.futures.Future = MyFuture  # type: ignore[misc]
        try:
            kinds.append(type(loop.create_future()))
        finally:
            asyncio.futures.Future = old  # type: ignore[misc]
        kinds.append(type(loop.create_future()))
        return kinds

    assert gosched.aio.run(main()) == [asyncio.Future, MyFuture, asyncio.Future]


def test_latency_samples_of_asyncio_tasks() -> None:
    # One switch in 8 is sampled; a woken task is stamped runnable (in C: goready,
    # goreadytail) and its wait recorded when it runs (in C: trackrunning).
    rounds = 800

    async def main() -> int:
        before = metrics.read()["/sched/latencies:seconds"]
        assert isinstance(before, metrics.Histogram)
        ping: asyncio.Queue[int] = asyncio.Queue(1)
        pong: asyncio.Queue[int] = asyncio.Queue(1)

        async def ponger() -> None:
            while True:
                await pong.put(await ping.get())

        t = asyncio.create_task(ponger())
        for i in range(rounds):
            await ping.put(i)
            assert await pong.get() == i
        t.cancel()
        after = metrics.read()["/sched/latencies:seconds"]
        assert isinstance(after, metrics.Histogram)
        return sum(after.counts) - sum(before.counts)

    n = gosched.aio.run(main())
    assert rounds // 8 <= n <= rounds * 8


@pytest.mark.skipif(speedups.recvbytes is None, reason="no C accelerator")
def test_the_c_read_takes_a_sockets_descriptor_from_the_socket() -> None:
    # recvbytes reads a socket.socket's descriptor from the socket object itself (the probed
    # layout); a subclass of it may override fileno(), which it then calls.
    calls = []

    class Counted(socket.socket):
        def fileno(self) -> int:
            calls.append(1)
            return super().fileno()

    a, b = socket.socketpair()
    c = Counted(fileno=a.detach())
    c.setblocking(False)
    assert speedups.recvbytes is not None
    with b, c:
        b.sendall(b"one")
        assert speedups.recvbytes(c, 64) == b"one"
        assert calls == [1]
        d, e = socket.socketpair()
        with d, e:
            d.setblocking(False)
            e.sendall(b"two")
            assert speedups.recvbytes(d, 64) == b"two"
            d.close()
            with pytest.raises(OSError) as err:
                speedups.recvbytes(d, 64)  # closed: its descriptor reads -1
            assert err.value.errno == errno.EBADF
