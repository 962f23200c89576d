"""Channels (Go's chan_test.go: TestChan, TestMultiConsumer, close semantics, misuse)."""

from __future__ import annotations

import threading

import pytest

import gosched
from _core_helpers import drive, in_thread, run, wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    # GIL contention between Ms shows up as "held its P" reports: not what these tests check
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]

CAPS = [0, 1, 2, 7, 100]


# --- TestChan --------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 3])
def test_unbuffered_send_waits_for_receiver(procs: int) -> None:
    """A send on an unbuffered channel completes only once a receiver takes the value."""

    async def main() -> list[str]:
        log: list[str] = []
        ch = gosched.Chan[int]()
        done = gosched.Chan[None](1)

        async def sender() -> None:
            log.append("sending")
            await ch.send(1)
            log.append("sent")
            await done.send(None)

        gosched.go(sender)
        await wait_until(lambda: bool(ch.waiters()[1]))  # the sender is parked in send
        for _ in range(20):
            await gosched.gosched()
        await gosched.sleep(0.02)
        log.append("receiving")
        assert await ch.recv() == 1
        await done.recv()
        return log

    assert run(main, maxprocs=procs) == ["sending", "receiving", "sent"]


@pytest.mark.parametrize("procs", [1, 3])
def test_unbuffered_recv_waits_for_sender(procs: int) -> None:
    async def main() -> list[str]:
        log: list[str] = []
        ch = gosched.Chan[int]()
        done = gosched.Chan[None](1)

        async def receiver() -> None:
            v = await ch.recv()
            log.append(f"got {v}")
            await done.send(None)

        gosched.go(receiver)
        await wait_until(lambda: bool(ch.waiters()[0]))
        await gosched.sleep(0.01)
        log.append("sending")
        await ch.send(5)
        await done.recv()
        return log

    assert run(main, maxprocs=procs) == ["sending", "got 5"]


@pytest.mark.parametrize("cap", CAPS[1:])
def test_buffered_sends_complete_without_receiver(cap: int) -> None:
    async def main() -> tuple[int, int, bool]:
        ch = gosched.Chan[int](cap)
        for i in range(cap):
            await ch.send(i)
        full = len(ch)
        # the next send must block: a select with default says so
        idx, _, _ = await gosched.select(gosched.send(ch, -1), default=True)
        return full, ch.cap, idx == -1

    assert run(main) == (cap, cap, True)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("procs", [1, 4])
def test_fifo_single_sender(cap: int, procs: int) -> None:
    n = 500

    async def main() -> list[int]:
        ch = gosched.Chan[int](cap)

        async def sender() -> None:
            for i in range(n):
                await ch.send(i)
            ch.close()

        gosched.go(sender)
        return [v async for v in ch]

    assert run(main, maxprocs=procs) == list(range(n))


@pytest.mark.parametrize("cap", [0, 3])
def test_fifo_of_blocked_senders_and_receivers(cap: int) -> None:
    """Parked senders are served in arrival order, and so are parked receivers."""

    async def main() -> tuple[list[int], list[int]]:
        ch = gosched.Chan[int](cap)
        for _ in range(cap):
            await ch.send(-1)
        for i in range(10):  # park 10 senders one at a time, in order
            gosched.go(ch.send, i)
            await wait_until(lambda i=i: len(ch.waiters()[1]) == i + 1)  # type: ignore[misc]
        got = [await ch.recv() for _ in range(cap + 10)]
        # receivers
        out = gosched.Chan[int](100)
        ch2 = gosched.Chan[int]()

        async def receiver(tag: int) -> None:
            v = await ch2.recv()
            await out.send(tag * 1000 + v)

        for i in range(10):
            gosched.go(receiver, i)
            await wait_until(lambda i=i: len(ch2.waiters()[0]) == i + 1)  # type: ignore[misc]
        for v in range(10):
            await ch2.send(v)
        res = sorted([await out.recv() for _ in range(10)])
        return got, res

    got, res = run(main, maxprocs=2)
    assert got == [-1] * cap + list(range(10))
    assert res == [i * 1000 + i for i in range(10)]


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("procs", [1, 4])
def test_close_wakes_all_receivers(cap: int, procs: int) -> None:
    async def main() -> list[tuple[object, bool]]:
        ch = gosched.Chan[int](cap)
        out = gosched.Chan[tuple[object, bool]](50)
        nrecv = 20

        async def receiver(i: int) -> None:
            if i % 2:
                await out.send(await ch.recv_ok())
            else:
                try:
                    await ch.recv()
                except gosched.Closed:
                    await out.send(("Closed", False))

        for i in range(nrecv):
            gosched.go(receiver, i)
        await wait_until(lambda: len(ch.waiters()[0]) == nrecv)
        ch.close()
        return [await out.recv() for _ in range(nrecv)]

    res = run(main, maxprocs=procs)
    assert sorted(map(str, res)) == sorted(["(None, False)"] * 10 + ["('Closed', False)"] * 10)


@pytest.mark.parametrize("cap", CAPS[1:])
def test_buffered_values_readable_after_close(cap: int) -> None:
    async def main() -> tuple[list[int], tuple[object, bool], bool, list[int]]:
        ch = gosched.Chan[int](cap)
        for i in range(cap):
            await ch.send(i)
        ch.close()
        got = [await ch.recv() for _ in range(cap)]
        after = await ch.recv_ok()
        try:
            await ch.recv()
            raised = False
        except gosched.Closed:
            raised = True
        # async for over a closed, refilled-before-close channel
        ch2 = gosched.Chan[int](cap)
        for i in range(cap):
            await ch2.send(i)
        ch2.close()
        return got, after, raised, [v async for v in ch2]

    got, after, raised, it = run(main)
    assert got == list(range(cap)) and it == list(range(cap))
    assert after == (None, False) and raised


def test_recv_ok_on_open_channel() -> None:
    async def main() -> tuple[object, bool]:
        ch = gosched.Chan[str](1)
        await ch.send("x")
        return await ch.recv_ok()

    assert run(main) == ("x", True)


def test_values_pass_by_identity() -> None:
    async def main() -> bool:
        obj = object()
        ch = gosched.Chan[object]()
        gosched.go(ch.send, obj)
        return (await ch.recv()) is obj

    assert run(main)


@pytest.mark.parametrize("cap", [0, 2])
def test_none_is_a_value(cap: int) -> None:
    async def main() -> list[tuple[object, bool]]:
        ch = gosched.Chan[None](cap)
        gosched.go(ch.send, None)
        first = await ch.recv_ok()
        ch.close()
        return [first, await ch.recv_ok()]

    assert run(main) == [(None, True), (None, False)]


# --- misuse ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cap", [0, 1])
def test_send_on_closed_channel(cap: int) -> None:
    async def main() -> str:
        ch = gosched.Chan[int](cap)
        ch.close()
        with pytest.raises(gosched.ClosedChannelError, match=r"^send on closed channel$") as ei:
            await ch.send(1)
        assert isinstance(ei.value, RuntimeError) and isinstance(ei.value, gosched.Panic)
        with pytest.raises(gosched.ClosedChannelError, match=r"^close of closed channel$"):
            ch.close()
        return "ok"

    assert run(main) == "ok"


@pytest.mark.parametrize("cap", [0, 1])
@pytest.mark.parametrize("procs", [1, 3])
def test_close_panics_blocked_senders(cap: int, procs: int) -> None:
    async def main() -> list[str]:
        ch = gosched.Chan[int](cap)
        for _ in range(cap):
            await ch.send(0)
        out = gosched.Chan[str](10)

        async def sender() -> None:
            try:
                await ch.send(1)
                await out.send("sent")
            except gosched.ClosedChannelError as e:
                await out.send(str(e))

        for _ in range(5):
            gosched.go(sender)
        await wait_until(lambda: len(ch.waiters()[1]) == 5)
        ch.close()
        return [await out.recv() for _ in range(5)]

    assert run(main, maxprocs=procs) == ["send on closed channel"] * 5


def test_uncaught_send_on_closed_ends_run() -> None:
    async def main() -> None:
        ch = gosched.Chan[int](1)
        ch.close()
        await ch.send(1)

    with pytest.raises(gosched.ClosedChannelError, match="send on closed channel"):
        run(main)


def test_chan_bad_capacity() -> None:
    for bad in ("1", 1.0, None, True, [1]):
        with pytest.raises(TypeError, match="capacity"):
            gosched.Chan(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        gosched.Chan(-1)
    ch = gosched.Chan[int](3)
    assert ch.cap == 3 and len(ch) == 0
    assert gosched.Chan().cap == 0


def test_blocking_channel_ops_from_plain_thread_raise() -> None:
    """Outside a goroutine a channel op that would block raises a clear RuntimeError."""

    async def main() -> list[str]:
        ch = gosched.Chan[int]()

        def probe() -> list[str]:
            msgs = []
            for c in (ch.recv(), ch.recv_ok(), ch.send(1), ch.__anext__()):
                try:
                    drive(c)  # type: ignore[arg-type]
                    msgs.append("no error")
                except RuntimeError as e:
                    msgs.append(str(e))
            return msgs

        return await gosched.syscall(in_thread, probe)

    msgs = run(main)
    assert all("outside a goroutine" in m for m in msgs), msgs
    assert "recv_blocking" in msgs[0] and "send_blocking" in msgs[2]


def test_blocking_channel_ops_without_runtime_raise() -> None:
    ch = gosched.Chan[int]()
    for c in (ch.recv(), ch.send(1)):
        with pytest.raises(RuntimeError, match="outside a goroutine"):
            drive(c)  # type: ignore[arg-type]


def test_close_from_plain_thread_wakes_goroutines() -> None:
    async def main() -> tuple[object, bool]:
        ch = gosched.Chan[int]()
        started = threading.Event()

        def closer() -> None:
            started.wait(10)
            ch.close()

        # in a plain thread, kept alive by a goroutine in a syscall (so that checkdead
        # knows a wakeup may come)
        gosched.go(gosched.syscall, in_thread, closer)

        async def flag() -> None:
            await wait_until(lambda: bool(ch.waiters()[0]))
            started.set()

        gosched.go(flag)
        return await ch.recv_ok()

    assert run(main, maxprocs=2) == (None, False)


# --- TestMultiConsumer ---------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
@pytest.mark.parametrize("cap", [0, 100])
def test_multi_consumer(procs: int, cap: int) -> None:
    nwork, niter = 23, 6000

    async def main() -> tuple[int, int]:
        q = gosched.Chan[int](cap)
        r = gosched.Chan[int](cap)
        wg = gosched.WaitGroup()

        async def worker(w: int) -> None:
            async for v in q:
                if v % w == 0:  # mess with the fifo-ish nature of range
                    await gosched.gosched()
                await r.send(v)
            wg.done()

        for i in range(nwork):
            wg.add(1)
            gosched.go(worker, i + 1)

        async def closer() -> None:
            await wg.wait()
            r.close()

        gosched.go(closer)

        async def feeder() -> None:
            for i in range(niter):
                await q.send(i)
            q.close()

        gosched.go(feeder)
        n = s = 0
        async for v in r:
            n += 1
            s += v
        return n, s

    assert run(main, maxprocs=procs) == (niter, niter * (niter - 1) // 2)


@pytest.mark.parametrize("cap", [0, 1, 16])
def test_many_senders_many_receivers_exactly_once(cap: int) -> None:
    nsend, per = 8, 400

    async def main() -> list[int]:
        ch = gosched.Chan[int](cap)
        res = gosched.Chan[list[int]](nsend)
        wg = gosched.WaitGroup()

        async def sender(k: int) -> None:
            for i in range(per):
                await ch.send(k * per + i)
            wg.done()

        async def receiver() -> None:
            got = [v async for v in ch]
            await res.send(got)

        for k in range(nsend):
            wg.add(1)
            gosched.go(sender, k)
        for _ in range(nsend):
            gosched.go(receiver)
        await wg.wait()
        ch.close()
        allv: list[int] = []
        for _ in range(nsend):
            got = await res.recv()
            # per-sender order is kept within each receiver's stream
            allv.extend(got)
        return sorted(allv)

    assert run(main, maxprocs=4) == list(range(nsend * per))


def test_waiters_are_read_only_goroutine_handles() -> None:
    """Chan.waiters() gives the Goroutine handles go() returned, never the runtime's Gs, for a
    goroutine parked on the channel itself and for one parked on it in a select."""

    async def main() -> None:
        ch, ch2, other = gosched.Chan[int](), gosched.Chan[int](), gosched.Chan[int]()

        async def recv() -> None:
            await ch.recv()

        async def sel() -> None:
            await gosched.select(gosched.send(ch2, 1), gosched.recv(other))

        r, s = gosched.go(recv), gosched.go(sel)
        await wait_until(lambda: bool(ch.waiters()[0] and ch2.waiters()[1]))
        assert ch.waiters() == ([r], []) and ch2.waiters() == ([], [s])
        (hr,), (hs,) = ch.waiters()[0], ch2.waiters()[1]
        assert type(hr) is gosched.Goroutine and type(hs) is gosched.Goroutine
        assert ch.waiters()[0][0].state == "chan receive" and ch2.waiters()[1][0].state == "select"
        assert await ch2.recv() == 1
        await ch.send(2)
        await wait_until(lambda: ch.waiters() == ch2.waiters() == ([], []) and r.done and s.done)

    run(main)
