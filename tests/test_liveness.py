"""Liveness and idle cost: a syscall's P handed off when others need it, no wasted wakeups.

sysmon's ordinary sleep between ticks backs off to ``maxdelayUS``; these tests
stretch it (to 0.5 s) so that "sysmon came because the syscall asked" and
"sysmon came on its own" are hundreds of ms apart, not 10 ms: the bounds hold
on a loaded 2-core machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import gosched
import gosched.net
from _core_helpers import quiet_hang_guard
from gosched._runtime import mgr, sysmon

LONGNAP_US = 500_000


_guard = pytest.fixture(autouse=True)(quiet_hang_guard)  # a hung runtime fails the run


@pytest.fixture
def longnaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """sysmon backs off at once to 0.5 s naps; no slice expires (no preemption ticks)."""
    monkeypatch.setattr(sysmon, "maxdelayUS", LONGNAP_US)
    monkeypatch.setattr(sysmon, "idleBackoff", 0)
    monkeypatch.setattr(sysmon, "forcePreemptNS", 60 * 1_000_000_000)


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count sysmon's ticks (its retake pass) and Ms started, as they happen."""
    counts = {"retake": 0, "startm": 0}

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(sysmon, "retake", counted("retake", sysmon.retake))
    monkeypatch.setattr(mgr, "startm", counted("startm", mgr.startm))
    return counts


async def _busy(seconds: float) -> None:
    """Keep the only P busy (sysmon cannot deep-sleep) while its naps grow to LONGNAP_US."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await gosched.gosched()


def _syscall_latency(make_waiter: Callable[[threading.Event], Any]) -> float:
    """Seconds from entering a syscall to ``make_waiter``'s goroutine running (maxprocs=1)."""

    async def main() -> float:
        await _busy(1.0)
        ran = threading.Event()
        gosched.go(make_waiter, ran)
        t0 = time.monotonic()
        await gosched.syscall(ran.wait, 10)
        assert ran.is_set()
        return time.monotonic() - t0

    return gosched.run(main, maxprocs=1)


async def _runnable(ran: threading.Event) -> None:
    ran.set()


def test_syscall_hands_off_p_to_a_runnable_goroutine(longnaps: None) -> None:
    # Before: the goroutine queued behind the syscall waited for sysmon's next two
    # naps (>= 0.5 s); now the syscall wakes sysmon, which retakes the P a tick later.
    took = _syscall_latency(_runnable)
    assert took < 0.25, f"the queued goroutine ran {took * 1e3:.0f} ms into the syscall"


def test_syscall_hands_off_p_for_its_timer(longnaps: None) -> None:
    async def sleeper(ran: threading.Event) -> None:
        await gosched.sleep(0.05)
        ran.set()

    async def start(ran: threading.Event) -> None:
        gosched.go(sleeper, ran)  # it parks on its timer before main's syscall runs

    took = _syscall_latency(start)
    assert 0.05 <= took < 0.30, f"a 50 ms timer fired {took * 1e3:.0f} ms into the syscall"


def test_short_syscalls_do_not_wake_sysmon(longnaps: None, ticks: dict[str, int]) -> None:
    """With nothing else to run and no timer, entering a syscall costs sysmon nothing."""

    async def main() -> int:
        await _busy(0.8)
        n0 = ticks["retake"]
        for _ in range(2000):
            await gosched.syscall(time.sleep, 0)
        return ticks["retake"] - n0

    woke = gosched.run(main, maxprocs=1)
    assert woke <= 3, f"sysmon ticked {woke} times during 2,000 short syscalls"


def test_timer_expiries_wake_no_extra_m(ticks: dict[str, int]) -> None:
    """A timer on an idle P is the polling M's to run: sysmon starts no M for it.

    Before, sysmon (asleep until the same deadline) found it overdue and started an
    M too, which woke only to find it gone: a thread wake per expiry, for nothing.
    """

    async def main() -> int:
        await gosched.sleep(0.05)
        n0 = ticks["startm"]
        for _ in range(60):
            await gosched.sleep(0.003)
        return ticks["startm"] - n0

    started = gosched.run(main, maxprocs=1)
    assert started <= 2, f"{started} Ms started for 60 timer expiries on an idle P"


def test_idle_second_has_no_periodic_wakeups(ticks: dict[str, int]) -> None:
    """Every goroutine asleep on a timer, a channel or the network: sysmon sleeps through.

    A plain thread reads the counters well inside main's 1 s sleep, so falling
    asleep and waking (a few ticks each, more on a loaded machine) are not counted.
    """
    inside: list[tuple[int, int]] = []

    def sample() -> None:
        time.sleep(0.2)
        inside.append((ticks["retake"], ticks["startm"]))
        time.sleep(0.6)
        inside.append((ticks["retake"], ticks["startm"]))

    async def main() -> None:
        ln = await gosched.net.listen("tcp", "127.0.0.1:0")
        client = await gosched.net.dial("tcp", ln.addr)
        server = await ln.accept()
        ch = gosched.Chan[None]()
        got = gosched.Chan[bytes](1)

        async def reader() -> None:
            await got.send(await server.read(1))  # parked on the network

        for _ in range(100):
            gosched.go(ch.recv)
        gosched.go(reader)
        await gosched.sleep(0.1)  # everything parks
        sampler = threading.Thread(target=sample)
        sampler.start()
        await gosched.sleep(1.0)
        await gosched.syscall(sampler.join)
        await client.write(b"x")
        assert await got.recv() == b"x"  # read before the close (a read pending at a close fails)
        for c in (client, server, ln):
            c.close()

    gosched.run(main, maxprocs=2)
    (r0, s0), (r1, s1) = inside
    # sysmon deep-sleeps until main's timer: not one tick per maxdelayUS (10 ms: 60 in 0.6 s).
    assert r1 - r0 <= 1, f"sysmon ticked {r1 - r0} times in 0.6 s of idle"
    assert s1 == s0, f"{s1 - s0} Ms started in 0.6 s of idle"
