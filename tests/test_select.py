"""select (Go's select tests: fairness, pseudo-random send, self-select, stress, nil cases)."""

from __future__ import annotations

import math

import pytest

import gosched
from _core_helpers import drive, in_thread, run, wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    # GIL contention between Ms shows up as "held its P" reports: not what these tests check
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


def test_ready_recv_and_send() -> None:
    async def main() -> list[tuple[int, object, bool]]:
        a = gosched.Chan[int](1)
        b = gosched.Chan[int](1)
        await a.send(7)
        r1 = await gosched.select(gosched.recv(a), gosched.recv(b))
        r2 = await gosched.select(gosched.recv(b), gosched.send(a, 8))
        r3 = await gosched.select(gosched.recv(b), gosched.recv(a))
        return [r1, r2, r3]

    assert run(main) == [(0, 7, True), (1, None, True), (1, 8, True)]


def test_default_when_nothing_ready() -> None:
    async def main() -> list[tuple[int, object, bool]]:
        a = gosched.Chan[int]()
        b = gosched.Chan[int](1)
        await b.send(0)
        return [
            await gosched.select(gosched.recv(a), gosched.send(b, 1), default=True),
            await gosched.select(default=True),
            await gosched.select(gosched.recv(None), gosched.send(None, 1), default=True),
        ]

    assert run(main) == [(-1, None, False)] * 3


def test_default_not_taken_when_ready() -> None:
    async def main() -> tuple[int, object, bool]:
        a = gosched.Chan[int](1)
        await a.send(3)
        return await gosched.select(gosched.recv(a), default=True)

    assert run(main) == (0, 3, True)


def test_recv_from_closed_in_select() -> None:
    async def main() -> tuple[int, object, bool]:
        a, b = gosched.Chan[int](), gosched.Chan[int]()
        b.close()
        return await gosched.select(gosched.recv(a), gosched.recv(b))

    assert run(main) == (1, None, False)


def test_send_to_closed_in_select_panics() -> None:
    async def main() -> str:
        a = gosched.Chan[int]()
        a.close()
        with pytest.raises(gosched.ClosedChannelError, match="send on closed channel"):
            await gosched.select(gosched.send(a, 1), gosched.recv(None))
        return "ok"

    assert run(main) == "ok"


@pytest.mark.parametrize("procs", [1, 3])
def test_blocked_select_woken_by_each_kind(procs: int) -> None:
    async def main() -> list[tuple[int, object, bool]]:
        out = []
        for kind in ("send", "recv", "close", "close-send"):
            a, b = gosched.Chan[int](), gosched.Chan[int]()
            res = gosched.Chan[object](1)

            async def sel(a: gosched.Chan[int] = a, b: gosched.Chan[int] = b,
                          res: gosched.Chan[object] = res, kind: str = kind) -> None:
                try:
                    if kind == "close-send":
                        r: object = await gosched.select(gosched.recv(None), gosched.send(b, 5))
                    else:
                        r = await gosched.select(gosched.recv(a), gosched.send(b, 5))
                except gosched.ClosedChannelError as e:
                    r = str(e)
                await res.send(r)

            gosched.go(sel)
            await wait_until(lambda b=b: bool(b.waiters()[1]))  # type: ignore[misc]
            if kind == "send":
                await a.send(9)
            elif kind == "recv":
                assert await b.recv() == 5
            elif kind == "close":
                a.close()
            else:
                b.close()
            out.append(await res.recv())
            # losers leave no sudog behind
            await wait_until(lambda a=a, b=b: a.waiters() == ([], []) and b.waiters() == ([], []))  # type: ignore[misc]
        return out  # type: ignore[return-value]

    assert run(main, maxprocs=procs) == [(0, 9, True), (1, None, True), (0, None, False),
                                         "send on closed channel"]


def test_nil_channels_never_ready() -> None:
    async def main() -> tuple[int, object, bool]:
        a = gosched.Chan[int]()
        gosched.go(a.send, 4)
        return await gosched.select(gosched.recv(None), gosched.send(None, 1), gosched.recv(a))

    assert run(main, maxprocs=2) == (2, 4, True)


def test_empty_select_blocks_forever() -> None:
    async def main() -> list[bool]:
        reached = []

        async def block(nil_only: bool) -> None:
            if nil_only:
                await gosched.select(gosched.recv(None), gosched.send(None, 0))
            else:
                await gosched.select()
            reached.append(True)

        gosched.go(block, False)
        gosched.go(block, True)
        await gosched.sleep(0.05)
        return reached

    assert run(main, maxprocs=2) == []


def test_select_bad_input() -> None:
    async def main() -> str:
        ch = gosched.Chan[int]()
        for bad in (ch, 1, None, "x", (ch,)):
            with pytest.raises(TypeError):
                await gosched.select(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gosched.recv(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gosched.send([], 1)  # type: ignore[arg-type]
        return "ok"

    assert run(main) == "ok"


def test_blocking_select_from_plain_thread_raises() -> None:
    async def main() -> list[str]:
        ch = gosched.Chan[int]()

        def probe() -> list[str]:
            out = []
            for c in (gosched.select(gosched.recv(ch)), gosched.select()):
                try:
                    drive(c)
                    out.append("no error")
                except RuntimeError as e:
                    out.append(str(e))
            return out

        return await gosched.syscall(in_thread, probe)

    msgs = run(main)
    assert all("outside a goroutine" in m for m in msgs), msgs


def test_duplicate_channel_cases() -> None:
    async def main() -> set[int]:
        ch = gosched.Chan[int](1)
        seen = set()
        for _ in range(200):
            await ch.send(1)
            i, v, ok = await gosched.select(gosched.recv(ch), gosched.recv(ch), gosched.recv(ch))
            assert v == 1 and ok
            seen.add(i)
        return seen

    assert run(main) == {0, 1, 2}


# --- Go's chan_test.go ports ----------------------------------------------------------------


def test_select_fairness() -> None:
    """TestSelectFairness: two always-ready cases are chosen uniformly (10 sigma)."""
    trials = 10000

    async def main() -> tuple[int, int]:
        c1 = gosched.Chan[int](trials + 1)
        c2 = gosched.Chan[int](trials + 1)
        for _ in range(trials + 1):
            await c1.send(1)
            await c2.send(2)
        c3, c4 = gosched.Chan[int](), gosched.Chan[int]()
        cnt1 = cnt2 = 0
        for _ in range(trials):
            i, _, _ = await gosched.select(gosched.recv(c3), gosched.recv(c4),
                                           gosched.recv(c1), gosched.recv(c2))
            if i == 2:
                cnt1 += 1
            elif i == 3:
                cnt2 += 1
            else:
                raise AssertionError(f"unready case {i} chosen")
        return cnt1, cnt2

    cnt1, cnt2 = run(main)
    assert cnt1 + cnt2 == trials
    sigma = math.sqrt(trials * 0.25)
    assert abs(cnt1 - trials / 2) <= 10 * sigma, (cnt1, cnt2)


@pytest.mark.parametrize("cap", [0, 100])
def test_pseudo_random_send(cap: int) -> None:
    """TestPseudoRandomSend: both send cases of a select get chosen."""
    n = 100

    async def main() -> list[int]:
        c = gosched.Chan[int](cap)
        got = gosched.Chan[list[int]](1)

        async def reader() -> None:
            vals = []
            for _ in range(n):
                await gosched.gosched()
                vals.append(await c.recv())
            await got.send(vals)

        gosched.go(reader)
        for _ in range(n):
            await gosched.select(gosched.send(c, 1), gosched.send(c, 0))
        return await got.recv()

    vals = run(main, maxprocs=2)
    assert vals.count(0) > n // 10 and vals.count(1) > n // 10, vals


@pytest.mark.parametrize("cap", [0, 10])
@pytest.mark.parametrize("procs", [1, 2])
def test_self_select(cap: int, procs: int) -> None:
    """TestSelfSelect: selects that send and receive on the same channel; with cap 0 a
    goroutine never receives its own value."""

    async def main() -> list[str]:
        c = gosched.Chan[int](cap)
        wg = gosched.WaitGroup()
        errors: list[str] = []

        async def worker(p: int) -> None:
            for i in range(1000):
                if p == 0 or i % 2 == 0:
                    idx, v, _ = await gosched.select(gosched.send(c, p), gosched.recv(c))
                    recvd = idx == 1
                else:
                    idx, v, _ = await gosched.select(gosched.recv(c), gosched.send(c, p))
                    recvd = idx == 0
                if recvd and cap == 0 and v == p:
                    errors.append(f"self receive {p} at {i}")
            wg.done()

        wg.add(2)
        gosched.go(worker, 0)
        gosched.go(worker, 1)
        await wg.wait()
        return errors

    assert run(main, maxprocs=procs) == []


@pytest.mark.parametrize("procs", [1, 4])
def test_select_stress(procs: int) -> None:
    """TestSelectStress: plain and select senders/receivers on unbuffered and buffered
    channels, cases turned off (nil) once each channel has had its n values."""
    n = 1500

    async def main() -> str:
        c: list[gosched.Chan[int]] = [gosched.Chan[int](), gosched.Chan[int](), gosched.Chan[int](2),
                                      gosched.Chan[int](3)]
        wg = gosched.WaitGroup()

        async def sender(k: int) -> None:
            for _ in range(n):
                await c[k].send(0)
            wg.done()

        async def receiver(k: int) -> None:
            for _ in range(n):
                await c[k].recv()
            wg.done()

        async def selsender() -> None:
            cs: list[gosched.Chan[int] | None] = list(c)
            cnt = [0] * 4
            for _ in range(4 * n):
                i, _, _ = await gosched.select(*(gosched.send(x, 0) for x in cs))
                cnt[i] += 1
                if cnt[i] == n:
                    cs[i] = None
            wg.done()

        async def selrecv() -> None:
            cs: list[gosched.Chan[int] | None] = list(c)
            cnt = [0] * 4
            for _ in range(4 * n):
                i, _, ok = await gosched.select(*(gosched.recv(x) for x in cs))
                assert ok
                cnt[i] += 1
                if cnt[i] == n:
                    cs[i] = None
            wg.done()

        for k in range(4):
            wg.add(2)
            gosched.go(sender, k)
            gosched.go(receiver, k)
        wg.add(2)
        gosched.go(selsender)
        gosched.go(selrecv)
        await wg.wait()
        return "ok"

    assert run(main, maxprocs=procs, timeout=60) == "ok"


@pytest.mark.parametrize("procs", [1, 3])
def test_select_send_recv_pairs_exactly_once(procs: int) -> None:
    """Many goroutines selecting over the same unbuffered channels: every value once."""
    nprod, per = 6, 300

    async def main() -> list[int]:
        chans = [gosched.Chan[int]() for _ in range(3)]
        out = gosched.Chan[int](nprod * per)
        wg = gosched.WaitGroup()

        async def prod(k: int) -> None:
            for i in range(per):
                await gosched.select(*(gosched.send(ch, k * per + i) for ch in chans))
            wg.done()

        async def cons() -> None:
            while True:
                _, v, ok = await gosched.select(*(gosched.recv(ch) for ch in chans))
                if not ok:
                    return
                await out.send(v)

        for k in range(nprod):
            wg.add(1)
            gosched.go(prod, k)
        for _ in range(4):
            gosched.go(cons)
        await wg.wait()
        for ch in chans:
            ch.close()
        return sorted([await out.recv() for _ in range(nprod * per)])

    assert run(main, maxprocs=procs) == list(range(nprod * per))


def test_public_docstrings_are_real() -> None:
    # help(gosched.select) used to say only "see gosched.select" (issue 14, item 10).
    import inspect

    import gosched.debug
    import gosched.net
    import gosched.testing

    for mod in (gosched, gosched.net, gosched.debug, gosched.testing):
        for name in mod.__all__:
            doc = inspect.getdoc(getattr(mod, name)) or ""
            assert len(doc) > 30, f"{mod.__name__}.{name}"
            assert "see gosched." not in doc.lower(), f"{mod.__name__}.{name}: {doc!r}"
    doc = inspect.getdoc(gosched.select) or ""
    for words in ("(index, value, ok)", "at random", "default=True", "(-1, None, False)", "nil channel",
                  "Example::", "ClosedChannelError"):
        assert words in doc, words
