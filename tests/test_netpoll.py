"""The netpoller itself (Go's runtime netpoll tests: TestNetpollBreak, TestNetpollWaiters,
TestNetpollDeadlock) and its epoll timeout rules."""

from __future__ import annotations

import threading
import time

import gosched
import gosched.net as net
from _core_helpers import run
from gosched._runtime import proc
from gosched._runtime.netpoll_epoll import Poller


def test_netpoll_timeout_rules() -> None:
    p = Poller()
    try:
        t0 = time.monotonic()
        assert p.netpoll(0) == []
        assert time.monotonic() - t0 < 0.05
        t0 = time.monotonic()
        p.netpoll(200_000)  # below 1 ms: waits epoll's 1 ms, as Go on Linux
        assert time.monotonic() - t0 >= 0.0009
        t0 = time.monotonic()
        p.netpoll(1_500_000)  # rounded up, not truncated: a timer's poller wakes once, not early
        assert time.monotonic() - t0 >= 0.0015
    finally:
        p.shutdown()
    assert p.netpoll(-1) == []  # a shut-down poller never blocks


def test_netpoll_break() -> None:
    p = Poller()
    took: list[float] = []

    def poll() -> None:
        t0 = time.monotonic()
        p.netpoll(10_000_000_000)  # 10 s
        took.append(time.monotonic() - t0)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    time.sleep(0.05)
    p.netpoll_break()
    p.netpoll_break()  # coalesced with the first
    th.join(5)
    assert took and took[0] < 5
    # The break was consumed: the next short poll is not woken early by it.
    assert p.netpoll(0) == []
    p.shutdown()


def test_netpoll_waiters_return_to_zero() -> None:
    async def copier(ln: net.Listener, done: gosched.Chan[int]) -> None:
        c = await ln.accept()
        n = 0
        while True:
            d = await c.read(100)
            if not d:
                break
            n += len(d)
        c.close()
        await done.send(n)

    async def main() -> tuple[int, int]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        done: gosched.Chan[int] = gosched.Chan()
        gosched.go(copier, ln, done)
        c = await net.dial("tcp", ln.addr)
        for i in range(10):
            await c.write(b"line %d\n" % i)
            await gosched.sleep(0.001)
        c.close()
        n = await done.recv()
        ln.close()
        sched = proc.current
        assert sched is not None and sched.poller is not None
        return n, sched.poller.nwaiters

    n, waiters = run(main)
    assert n == sum(len(b"line %d\n" % i) for i in range(10))
    assert waiters == 0


def test_failed_dial_is_no_deadlock() -> None:
    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0")
        addr = ln.addr
        ln.close()
        try:
            await net.dial("tcp", addr)
        except ConnectionRefusedError:
            pass
        return "done"

    assert run(main) == "done"


def test_sleeping_poller_wakes_for_new_timer() -> None:
    """An M blocked in netpoll (waiting on a socket) still serves a timer armed later."""

    async def sleeper(out: gosched.Chan[float]) -> None:
        t0 = time.monotonic()
        await gosched.sleep(0.05)
        await out.send(time.monotonic() - t0)

    async def main() -> float:
        ln = await net.listen("tcp", "127.0.0.1:0")
        out: gosched.Chan[float] = gosched.Chan(1)

        async def acceptor() -> None:
            try:
                await ln.accept()
            except net.ClosedError:
                pass

        gosched.go(acceptor)
        gosched.go(sleeper, out)
        took = await out.recv()
        ln.close()
        return took

    took = run(main, maxprocs=1)
    assert 0.045 <= took < 2


def test_network_wakeup_while_the_only_p_is_busy() -> None:
    """With the only P always busy, its findrunnable never reaches netpoll; the
    goroutine whose socket became readable is still readied promptly (by the M
    blocked in netpoll since the P was last idle, or by sysmon's 10 ms check)."""

    async def reader(c: net.Conn, out: gosched.Chan[bytes]) -> None:
        await out.send(await c.read(10))

    async def main() -> tuple[bytes, float]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept()
        out: gosched.Chan[bytes] = gosched.Chan(1)
        gosched.go(reader, c, out)
        while c.pd.rg is None:  # let the reader park in the poller
            await gosched.gosched()
        await s.write(b"wake")
        t0 = time.monotonic()
        got = b""
        while time.monotonic() - t0 < 5:  # busy: the run queue is never empty
            await gosched.gosched()
            v, _ok, received = out.tryrecv()
            if received:
                got = v or b""
                break
        took = time.monotonic() - t0
        for x in (c, s, ln):
            x.close()
        return got, took

    got, took = run(main, maxprocs=1)
    assert got == b"wake"
    assert took < 2
