"""gosched.errgroup: golang.org/x/sync/errgroup's errgroup_test.go, ported, and what
gosched adds (how later errors are kept, Go's words for misuse)."""

from __future__ import annotations

import traceback

import pytest

import gosched
from _core_helpers import run
from gosched import context, errgroup

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]


async def returns(err: Exception | None) -> None:
    """``func() error { return err }``"""
    if err is not None:
        raise err


def test_zero_group() -> None:
    err1, err2 = ValueError("errgroup_test: 1"), ValueError("errgroup_test: 2")
    cases: list[list[Exception | None]] = [[], [None], [err1], [err1, None], [err1, None, err2]]

    async def main() -> None:
        for errs in cases:
            g = errgroup.Group()
            first: Exception | None = None
            for err in errs:
                await g.go(returns, err)
                if first is None and err is not None:
                    first = err
                try:
                    await g.wait()
                    got = None
                except Exception as e:
                    got = e
                assert got is first, f"after go() for err in {errs}: wait() raised {got!r}, want {first!r}"

    run(main)


def test_with_context() -> None:
    doom = ValueError("group_test: doomed")
    cases: list[tuple[list[Exception | None], Exception | None]] = [
        ([], None),
        ([None], None),
        ([doom], doom),
        ([doom, None], doom),
    ]

    async def main() -> None:
        for errs, want in cases:
            g, ctx = errgroup.with_context(context.background())
            for err in errs:
                await g.go(returns, err)
            try:
                await g.wait()
                got = None
            except Exception as e:
                got = e
            assert got is want
            i, _, _ = await gosched.select(gosched.recv(ctx.done()), default=True)
            assert i == 0, f"after go() for err in {errs}: ctx.done() was not closed"

    run(main)


def test_cancel_cause() -> None:
    doom = ValueError("group_test: doomed")
    cases: list[tuple[list[Exception | None], Exception | None]] = [
        ([], None),
        ([None], None),
        ([doom], doom),
        ([doom, None], doom),
    ]

    async def main() -> None:
        for errs, want in cases:
            g, ctx = errgroup.with_context(context.background())
            for err in errs:
                assert g.try_go(returns, err)
            try:
                await g.wait()
                got = None
            except Exception as e:
                got = e
            assert got is want
            why = context.cause(ctx)
            if want is None:
                assert isinstance(why, context.Canceled)
            else:
                assert why is want

    run(main)


def test_try_go() -> None:
    async def main() -> None:
        g = errgroup.Group()
        n = 42
        g.set_limit(42)
        ch: gosched.Chan[None] = gosched.Chan()

        async def fn() -> None:
            await ch.send(None)

        async def drain(k: int) -> None:
            for _ in range(k):
                await ch.recv()

        for i in range(n):
            assert g.try_go(fn), f"try_go should succeed but failed at call {i}"
        assert not g.try_go(fn), "try_go is expected to fail but succeeded"
        gosched.go(drain, n)
        await g.wait()

        assert g.try_go(fn), "try_go should succeed after all goroutines"
        gosched.go(drain, 1)
        await g.wait()

        g.set_limit(1)  # switch limit
        assert g.try_go(fn)
        assert not g.try_go(fn)
        gosched.go(drain, 1)
        await g.wait()

        g.set_limit(0)  # block all calls
        for _ in range(1 << 10):
            assert not g.try_go(fn)
        await g.wait()

    run(main)


@pytest.mark.parametrize("procs", [1, 4])
def test_go_limit(procs: int) -> None:
    limit = 10

    async def main() -> int:
        g = errgroup.Group()
        g.set_limit(limit)
        active = [0]
        lk = gosched.Mutex()
        peak = [0]

        async def work() -> None:
            async with lk:
                active[0] += 1
                n = active[0]
                peak[0] = max(peak[0], n)
            if n > limit:
                raise AssertionError(f"saw {n} active goroutines; want <= {limit}")
            await gosched.sleep(1e-6)  # give other goroutines a chance to increment active
            async with lk:
                active[0] -= 1

        for _ in range((1 << 10) + 1):
            await g.go(work)  # blocks while 10 are active
        await g.wait()
        return peak[0]

    assert run(main, maxprocs=procs, clock="fake") == limit  # fake: every slot fills before time moves


def test_set_limit_while_active_raises_gos_words() -> None:
    async def main() -> str:
        g = errgroup.Group()
        g.set_limit(2)
        release: gosched.Chan[None] = gosched.Chan()
        await g.go(release.wait_closed)
        await g.go(release.wait_closed)
        with pytest.raises(gosched.Panic) as e:
            g.set_limit(5)
        release.close()
        await g.wait()
        g.set_limit(5)  # fine once none is active
        g.set_limit(-1)  # no limit
        with pytest.raises(TypeError):
            g.set_limit(1.5)  # type: ignore[arg-type]
        return str(e.value)

    assert run(main) == "errgroup: modify limit while 2 goroutines in the group are still active"


def test_first_error_cancels_the_context_and_later_errors_become_notes() -> None:
    async def main() -> BaseException:
        g, ctx = errgroup.with_context(context.background())

        async def worker(i: int) -> None:
            if i == 0:
                raise KeyError("first")
            await ctx.wait_done()
            if i == 1:
                raise OSError("also broken")
            raise ctx.err()  # type: ignore[misc]  # Canceled: not noted

        for i in range(5):
            await g.go(worker, i)
        with pytest.raises(KeyError) as e:
            await g.wait()
        assert context.cause(ctx) is e.value
        return e.value

    err = run(main)
    assert err.__notes__ == ["errgroup: another goroutine of the group also failed: OSError('also broken')"]


def test_wait_raises_the_same_error_each_time_without_piling_up_tracebacks() -> None:
    async def boom() -> None:
        raise ValueError("boom")

    async def main() -> list[int]:
        g = errgroup.Group()
        await g.go(boom)
        sizes = []
        for _ in range(3):
            try:
                await g.wait()
            except ValueError as e:
                sizes.append(len(traceback.extract_tb(e.__traceback__)))
        return sizes

    sizes = run(main)
    assert len(sizes) == 3 and sizes[0] == sizes[1] == sizes[2]


def test_go_validates_at_the_call_site_and_base_exceptions_are_not_errors() -> None:
    def plain() -> None:
        pass

    async def main() -> None:
        g = errgroup.Group()
        with pytest.raises(TypeError, match="plain function"):
            await g.go(plain)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="plain function"):
            g.try_go(plain)  # type: ignore[arg-type]

        async def exits() -> None:
            gosched.goexit()  # runs finally blocks: the group still counts it done

        await g.go(exits)
        await g.wait()

    run(main)


def test_a_goroutine_count_back_to_one_after_wait() -> None:
    async def main() -> int:
        g = errgroup.Group()
        g.set_limit(3)
        for i in range(20):
            await g.go(gosched.sleep, 0.001 * (i % 4))
        await g.wait()
        return gosched.num_goroutine()

    assert run(main, clock="fake") == 1
