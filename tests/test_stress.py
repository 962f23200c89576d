"""Randomised programs of producers and consumers over buffered and unbuffered channels and
selects, gomaxprocs 1..8, under a tiny GIL switch interval (hypothesis).

Invariants: every value received exactly once; no goroutine is resumed while it is already
running (a per-goroutine flag set and cleared around each step, plus the M's curg);
all goroutines finish; run() returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import current_g, run, tiny_switch, wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    with tiny_switch():
        yield


@dataclass(frozen=True)
class Producer:
    count: int
    mode: str  # "send" | "select" | "select_nil" | "select_default"
    chan: int


@dataclass(frozen=True)
class Consumer:
    mode: str  # "recv" | "async_for" | "select"
    chan: int


@dataclass(frozen=True)
class Program:
    procs: int
    caps: tuple[int, ...]
    producers: tuple[Producer, ...]
    consumers: tuple[Consumer, ...]
    yield_every: int


@st.composite
def programs(draw: st.DrawFn) -> Program:
    nchan = draw(st.integers(1, 3))
    caps = tuple(draw(st.lists(st.sampled_from([0, 0, 1, 3]), min_size=nchan, max_size=nchan)))
    producers = tuple(
        draw(
            st.lists(
                st.builds(Producer, st.integers(0, 60),
                          st.sampled_from(["send", "select", "select_nil", "select_default"]),
                          st.integers(0, nchan - 1)),
                min_size=1, max_size=5,
            )
        )
    )
    consumers = list(
        draw(
            st.lists(
                st.builds(Consumer, st.sampled_from(["recv", "async_for", "select"]),
                          st.integers(0, nchan - 1)),
                min_size=1, max_size=5,
            )
        )
    )
    covered = {c.chan for c in consumers if c.mode != "select"}
    if len(covered) < nchan and not any(c.mode == "select" for c in consumers):
        consumers.append(Consumer("select", 0))  # every channel must be drained
    return Program(draw(st.integers(1, 8)), caps, producers, tuple(consumers), draw(st.integers(0, 4)))


class Checker:
    """Per-goroutine 'running' flags: a resumption while the flag is set is a double run."""

    def __init__(self) -> None:
        self.running: dict[int, bool] = {}
        self.errors: list[str] = []

    def enter(self, gid: int) -> None:
        g = current_g()
        if g.id != gid or g.m is None or g.m.curg is not g:
            self.errors.append(f"goroutine {gid}: curg mismatch")
        if self.running.get(gid):
            self.errors.append(f"goroutine {gid} resumed while running")
        self.running[gid] = True

    def leave(self, gid: int) -> None:
        self.running[gid] = False


async def run_program(prog: Program) -> tuple[list[tuple[int, int]], list[str], int]:
    chk = Checker()
    chans = [gosched.Chan[tuple[int, int]](c) for c in prog.caps]
    results = gosched.Chan[list[tuple[int, int]]](len(prog.consumers))
    pwg, cwg = gosched.WaitGroup(), gosched.WaitGroup()
    k = prog.yield_every

    async def producer(pid: int, spec: Producer) -> None:
        me = current_g().id
        chk.enter(me)
        ch = chans[spec.chan]
        for i in range(spec.count):
            v = (pid, i)
            chk.leave(me)
            if spec.mode == "send":
                await ch.send(v)
            elif spec.mode == "select":
                await gosched.select(*(gosched.send(c, v) for c in chans))
            elif spec.mode == "select_nil":
                await gosched.select(gosched.send(None, v), gosched.send(ch, v), gosched.recv(None))
            else:
                while True:
                    idx, _, _ = await gosched.select(gosched.send(ch, v), default=True)
                    if idx == 0:
                        break
                    await gosched.gosched()
            if k and i % k == 0:
                await gosched.gosched()
            chk.enter(me)
        chk.leave(me)
        pwg.done()

    async def consumer(spec: Consumer) -> None:
        me = current_g().id
        chk.enter(me)
        got: list[tuple[int, int]] = []
        n = 0
        if spec.mode == "recv":
            while True:
                chk.leave(me)
                v, ok = await chans[spec.chan].recv_ok()
                chk.enter(me)
                if not ok:
                    break
                got.append(v)  # type: ignore[arg-type]
        elif spec.mode == "async_for":
            chk.leave(me)
            async for v in chans[spec.chan]:
                chk.enter(me)
                got.append(v)
                n += 1
                if k and n % k == 0:
                    chk.leave(me)
                    await gosched.gosched()
                    chk.enter(me)
                chk.leave(me)
            chk.enter(me)
        else:
            live: list[gosched.Chan[tuple[int, int]] | None] = list(chans)
            while any(c is not None for c in live):
                chk.leave(me)
                idx, v, ok = await gosched.select(*(gosched.recv(c) for c in live))
                chk.enter(me)
                if ok:
                    got.append(v)
                else:
                    live[idx] = None
        chk.leave(me)
        await results.send(got)
        cwg.done()

    for pid, p in enumerate(prog.producers):
        pwg.add(1)
        gosched.go(producer, pid, p)
    for c in prog.consumers:
        cwg.add(1)
        gosched.go(consumer, c)
    await pwg.wait()
    for ch in chans:
        ch.close()
    await cwg.wait()
    allv: list[tuple[int, int]] = []
    for _ in prog.consumers:
        allv.extend(await results.recv())
    await wait_until(lambda: gosched.num_goroutine() == 1)
    return allv, chk.errors, gosched.num_goroutine()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prog=programs())
def test_random_programs(tiny_switch_interval: None, prog: Program) -> None:
    got, errors, ngo = run(run_program, prog, maxprocs=prog.procs, timeout=30)
    expected = sorted((pid, i) for pid, p in enumerate(prog.producers) for i in range(p.count))
    assert not errors, errors[:5]
    assert sorted(got) == expected, "values lost or duplicated"
    assert ngo == 1


# --- Go's stress tests under a tiny switch interval, many Ps ---------------------------------------


@pytest.mark.parametrize("procs", [2, 8])
def test_multi_consumer_tiny_switch(tiny_switch_interval: None, procs: int) -> None:
    nwork, niter = 23, 3000

    async def main() -> tuple[int, int]:
        q = gosched.Chan[int](10)
        r = gosched.Chan[int](10)
        wg = gosched.WaitGroup()

        async def worker(w: int) -> None:
            async for v in q:
                if v % w == 0:
                    await gosched.gosched()
                await r.send(v)
            wg.done()

        for i in range(nwork):
            wg.add(1)
            gosched.go(worker, i + 1)

        async def closer() -> None:
            await wg.wait()
            r.close()

        async def feeder() -> None:
            for i in range(niter):
                await q.send(i)
            q.close()

        gosched.go(closer)
        gosched.go(feeder)
        n = s = 0
        async for v in r:
            n += 1
            s += v
        return n, s

    assert run(main, maxprocs=procs, timeout=60) == (niter, niter * (niter - 1) // 2)


def test_select_fairness_many_procs(tiny_switch_interval: None) -> None:
    """TestSelectFairness with readers on several Ps competing: 10 sigma."""
    trials = 4000

    async def main() -> int:
        c1 = gosched.Chan[int](trials + 1)
        c2 = gosched.Chan[int](trials + 1)
        for _ in range(trials + 1):
            await c1.send(1)
            await c2.send(2)
        cnt = [0, 0]
        for _ in range(trials):
            i, _, _ = await gosched.select(gosched.recv(c1), gosched.recv(c2), gosched.recv(None))
            cnt[i] += 1
        return cnt[0]

    cnt1 = run(main, maxprocs=4)
    assert abs(cnt1 - trials / 2) <= 10 * (trials * 0.25) ** 0.5


def test_close_while_selecting_many_procs(tiny_switch_interval: None) -> None:
    """Selects blocked on several channels while others close them concurrently: every
    select wakes exactly once and reports a closed case or a value."""

    async def main() -> int:
        total = 0
        for _ in range(30):
            a, b = gosched.Chan[int](), gosched.Chan[int]()
            out = gosched.Chan[tuple[int, object, bool]](10)

            async def sel(a: gosched.Chan[int] = a, b: gosched.Chan[int] = b,
                          out: gosched.Chan[tuple[int, object, bool]] = out) -> None:
                await out.send(await gosched.select(gosched.recv(a), gosched.recv(b)))

            for _ in range(10):
                gosched.go(sel)
            gosched.go(_close_soon, a)
            gosched.go(_close_soon, b)
            for _ in range(10):
                i, v, ok = await out.recv()
                assert i in (0, 1) and v is None and not ok
                total += 1
        return total

    assert run(main, maxprocs=8, timeout=60) == 300


async def _close_soon(c: gosched.Chan[int]) -> None:
    await gosched.gosched()
    c.close()
