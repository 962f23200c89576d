"""Goroutine leaks and partial deadlocks (gosched.debug.leaked_goroutines, deadlocked_goroutines).

True positives: a goroutine blocked on a channel nobody else holds; two goroutines
blocked on each other while main keeps working. No false positives: the channel
held by a global, a runnable goroutine, a timer callback, a listener waiting in
netpoll, a sleeping goroutine, a plain thread.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

import gosched
from gosched import debug

HELD: list[Any] = []  # a module global: whatever it holds is reachable


async def until_state(g: gosched.Goroutine, state: str) -> None:
    """Wait (bounded, on the runtime's clock) until ``g`` is parked with ``state``."""
    deadline = time.monotonic() + 30
    while g.state != state:
        assert time.monotonic() < deadline, f"{g} never reached {state!r}"
        await gosched.sleep(0.001)


def leaked_ids() -> list[int]:
    return [e.goroutine.id for e in debug.leaked_goroutines()]


async def receiver(ch: gosched.Chan[int]) -> None:
    await ch.recv()


def spawn_orphan() -> gosched.Goroutine:
    """A goroutine receiving on a channel that only it references."""
    return gosched.go(receiver, gosched.Chan[int]())


def run(main: Any) -> Any:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # several Ms interleave at every few bytecodes
    try:
        return gosched.run(main, maxprocs=3)
    finally:
        sys.setswitchinterval(old)


def test_orphan_channel_is_leaked_with_its_dump_entry() -> None:
    async def main() -> None:
        g = spawn_orphan()
        await until_state(g, "chan receive")
        found = debug.leaked_goroutines()
        assert [e.goroutine.id for e in found] == [g.id]
        (e,) = found
        assert e.leaked
        assert e.dump.startswith(f"goroutine {g.id} [chan receive (leaked)]:")
        assert "receiver(...)" in e.dump and "created by" in e.dump

    run(main)


def test_two_goroutines_blocked_on_each_other_while_main_works() -> None:
    async def ping(a: gosched.Chan[int], b: gosched.Chan[int]) -> None:
        await a.recv()
        await b.send(1)

    async def main() -> None:
        a, b = gosched.Chan[int](), gosched.Chan[int]()
        g1 = gosched.go(ping, a, b)
        g2 = gosched.go(ping, b, a)
        del a, b
        busy = gosched.Chan[int](1)
        worker = gosched.go(_count, busy)
        await until_state(g1, "chan receive")
        await until_state(g2, "chan receive")
        assert leaked_ids() == [g1.id, g2.id]
        assert not worker.done  # main and the worker kept running all along
        await busy.send(0)

    run(main)


async def _count(stop: gosched.Chan[int]) -> None:
    while True:
        _, _, ok = await gosched.select(gosched.recv(stop), default=True)
        if ok:
            return
        await gosched.sleep(0.0005)


async def _lockboth(first: gosched.Mutex, second: gosched.Mutex, both: gosched.WaitGroup) -> None:
    """Take ``first``, wait until the other goroutine holds its first lock, then take ``second``."""
    await first.lock()
    both.done()
    await both.wait()
    await second.lock()


def test_mutex_cycle_is_a_partial_deadlock() -> None:
    async def main() -> None:
        mu1, mu2 = gosched.Mutex(), gosched.Mutex()
        HELD.extend([mu1, mu2])  # reachable: not leaked, yet deadlocked
        try:
            both = gosched.WaitGroup()
            both.add(2)
            g1 = gosched.go(_lockboth, mu1, mu2, both)
            g2 = gosched.go(_lockboth, mu2, mu1, both)
            await until_state(g1, "sync.Mutex.Lock")
            await until_state(g2, "sync.Mutex.Lock")
            assert leaked_ids() == []
            (cyc,) = debug.deadlocked_goroutines()
            assert sorted(cyc.goroutines) == [g1.id, g2.id]
            assert f"goroutine {g1.id} holds" in cyc.description and "waits for" in cyc.description
            assert f"goroutine {g2.id} [sync.Mutex.Lock]:" in cyc.dump
        finally:
            HELD.clear()

    run(main)  # main returns: the run's end closes the two goroutines


# --- no false positives --------------------------------------------------------------------


def test_channel_held_by_a_global_is_not_leaked() -> None:
    async def main() -> None:
        ch = gosched.Chan[int]()
        HELD.append(ch)
        try:
            g = gosched.go(receiver, ch)
            del ch
            await until_state(g, "chan receive")
            assert leaked_ids() == []
            orphan = spawn_orphan()  # and a real leak beside it is still found
            await until_state(orphan, "chan receive")
            assert leaked_ids() == [orphan.id]
        finally:
            HELD.clear()

    run(main)


def test_channel_held_by_a_runnable_goroutine_is_not_leaked() -> None:
    async def spinner(ch: gosched.Chan[int], stop: list[bool]) -> None:
        while not stop:
            await gosched.gosched()  # always runnable or running
        await ch.send(1)

    async def main() -> None:
        ch = gosched.Chan[int]()
        stop: list[bool] = []
        g = gosched.go(receiver, ch)
        gosched.go(spinner, ch, stop)
        del ch
        await until_state(g, "chan receive")
        for _ in range(5):  # the spinner is caught running, runnable, between the two
            assert leaked_ids() == []
        stop.append(True)

    run(main)


def test_channel_held_by_a_timer_callback_is_not_leaked() -> None:
    async def main() -> None:
        ch = gosched.Chan[int]()
        g = gosched.go(receiver, ch)
        t = gosched.after_func(3600, functools.partial(ch.send, 1))
        del ch
        await until_state(g, "chan receive")
        assert leaked_ids() == []
        t.stop()
        del t  # now only the stopped timer's heap entry may remain; the stop is what counts
        assert leaked_ids() in ([], [g.id])

    run(main)


def test_channel_held_by_a_listener_waiting_in_netpoll_is_not_leaked() -> None:
    async def serve(ln: Any, ch: gosched.Chan[int]) -> None:
        conn = await ln.accept()
        await ch.send(1)
        conn.close()

    async def main() -> None:
        ln = await gosched.net.listen("tcp", "127.0.0.1:0")
        ch = gosched.Chan[int]()
        g = gosched.go(receiver, ch)
        srv = gosched.go(serve, ln, ch)
        del ch
        await until_state(g, "chan receive")
        await until_state(srv, "IO wait")
        assert leaked_ids() == []
        c = await gosched.net.dial("tcp", ln.addr)
        while not g.done:
            await gosched.sleep(0.001)
        c.close()
        ln.close()

    run(main)


def test_channel_held_by_a_sleeping_goroutine_is_not_leaked() -> None:
    async def sleeper(ch: gosched.Chan[int]) -> None:
        await gosched.sleep(3600)
        await ch.send(1)

    async def main() -> None:
        ch = gosched.Chan[int]()
        g = gosched.go(receiver, ch)
        s = gosched.go(sleeper, ch)
        del ch
        await until_state(g, "chan receive")
        await until_state(s, "sleep")
        assert leaked_ids() == []

    run(main)


def test_channel_shared_with_a_plain_thread_is_not_leaked() -> None:
    release = threading.Event()

    def holder(ch: gosched.Chan[int]) -> None:
        release.wait(60)  # holds ch in its frame without touching it yet

    async def main() -> None:
        ch = gosched.Chan[int]()
        t = threading.Thread(target=holder, args=(ch,), daemon=True)
        t.start()
        g = gosched.go(receiver, ch)
        del ch
        await until_state(g, "chan receive")
        assert leaked_ids() == []

    try:
        run(main)
    finally:
        release.set()


def test_leak_revived_through_a_reachable_goroutine_chain() -> None:
    """A waits on a reachable channel; B waits on a channel only A's frame holds: neither leaked."""

    async def relay(inp: gosched.Chan[int], out: gosched.Chan[int]) -> None:
        await out.send(await inp.recv())

    async def main() -> None:
        head = gosched.Chan[int]()
        HELD.append(head)
        try:
            tail = gosched.Chan[int]()
            a = gosched.go(relay, head, tail)
            b = gosched.go(receiver, tail)
            del tail
            await until_state(a, "chan receive")
            await until_state(b, "chan receive")
            assert leaked_ids() == []
            HELD.clear()
            del head  # now nothing live reaches head, so nothing reaches tail either
            assert leaked_ids() == [a.id, b.id]
        finally:
            HELD.clear()

    run(main)


# --- run(leak_check=...) ------------------------------------------------------------------


def test_run_leak_check_warns_with_the_dump() -> None:
    async def main() -> None:
        g = spawn_orphan()
        await until_state(g, "chan receive")

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        gosched.run(main, leak_check=True)
    leaks = [w for w in got if issubclass(w.category, debug.LeakWarning)]
    assert len(leaks) == 1
    text = str(leaks[0].message)
    assert text.startswith("gosched: 1 goroutine leaked")
    assert "[chan receive (leaked)]:" in text and "receiver(...)" in text
    assert leaks[0].filename == __file__


def test_run_leak_check_callable_gets_every_goroutine_left() -> None:
    got: list[debug.Leak] = []

    async def main() -> None:
        g = spawn_orphan()
        s = gosched.go(gosched.sleep, 3600)
        await until_state(g, "chan receive")
        await until_state(s, "sleep")

    gosched.run(main, leak_check=got.extend)
    assert [e.leaked for e in got] == [True, False]
    assert "[sleep]:" in got[1].dump


def test_run_without_leaks_is_silent() -> None:
    async def main() -> None:
        ch = gosched.Chan[int]()
        gosched.go(ch.send, 1)
        await ch.recv()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gosched.run(main, leak_check=True)


def test_sysmon_reports_a_partial_deadlock_once() -> None:
    async def main() -> None:
        mu1, mu2 = gosched.Mutex(), gosched.Mutex()
        both = gosched.WaitGroup()
        both.add(2)
        gosched.go(_lockboth, mu1, mu2, both)
        gosched.go(_lockboth, mu2, mu1, both)
        deadline = time.monotonic() + 30
        while not [w for w in got if issubclass(w.category, debug.LeakWarning)]:
            assert time.monotonic() < deadline, "sysmon never reported the cycle"
            await gosched.sleep(0.005)  # main keeps working meanwhile
        await gosched.sleep(0.1)  # several more checks: still one report

    old = debug.set_deadlock_check(0.01)
    try:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            run(main)
    finally:
        debug.set_deadlock_check(old)
    (w,) = [w for w in got if issubclass(w.category, debug.LeakWarning)]
    text = str(w.message)
    assert text.startswith("gosched: partial deadlock: goroutine ")
    assert "holds" in text and "[sync.Mutex.Lock]:" in text


_ASYNCIO_THEN_WALK = """
import asyncio, resource, gosched
from gosched import debug
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a runaway walk fails here, not the machine

async def awaits_futures():
    loop = asyncio.get_running_loop()
    for _ in range(100):
        f = loop.create_future()
        loop.call_soon(f.set_result, None)
        await f  # fills _asyncio's future-iterator freelist

asyncio.run(awaits_futures())

async def main():
    for _ in range(3):
        assert debug.leaked_goroutines() == []

gosched.run(main)
print("ok")
"""


def test_walk_after_asyncio_futures_terminates() -> None:
    """The walk reads a module's globals, not its C state: on 3.12.1, _asyncio's module
    traversal loops over its future-iterator freelist and get_referents ran out of memory."""
    out = subprocess.run(
        [sys.executable, "-c", _ASYNCIO_THEN_WALK], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
