"""gosched.context: Go's context_test.go, x_test.go and afterfunc_test.go, ported.

Each Go test becomes a goroutine 1 (``run``); those involving time run on the fake
clock, so ``veryLongDuration`` costs nothing and deadlines fire at exact virtual times.
Tests that read a context's children use the internal ``_children`` map, as Go's
in-package tests read ``cancelCtx.children``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable
from typing import Any

import pytest

import gosched
from _core_helpers import run
from gosched import context
from gosched.context import Canceled, Context, DeadlineExceeded

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]

SHORT = 0.001  # shortDuration
VERY_LONG = 1000 * 3600.0  # veryLongDuration


async def call(f: Callable[..., Any], *args: Any) -> None:
    """``go f(args)`` for a plain function."""
    f(*args)


def gotest(main: Callable[[], Coroutine[Any, Any, Any]], clock: str = "fake", maxprocs: int = 1) -> Any:
    return run(main, clock=clock, maxprocs=maxprocs)


async def ready(ctx: Context) -> bool:
    """``select { case <-ctx.Done(): true; default: false }``"""
    i, _, _ = await gosched.select(gosched.recv(ctx.done()), default=True)
    return i == 0


class OtherContext(Context):
    """A Context that is not one of the package's types (Go's otherContext embedding one)."""

    def __init__(self, parent: Context) -> None:
        self.parent = parent

    def deadline(self) -> float | None:
        return self.parent.deadline()

    def done(self) -> gosched.Chan[None] | None:
        return self.parent.done()

    def err(self) -> Exception | None:
        return self.parent.err()

    def value(self, key: Hashable) -> Any:
        return self.parent.value(key)


class CustomDoneContext(OtherContext):
    """Delegates everything but done() (Go's customDoneContext / myDoneCtx)."""

    def __init__(self, parent: Context, donec: gosched.Chan[None]) -> None:
        super().__init__(parent)
        self.donec = donec

    def done(self) -> gosched.Chan[None] | None:
        return self.donec


def test_background_and_todo() -> None:
    async def main() -> None:
        for c, name in ((context.background(), "context.Background"), (context.todo(), "context.TODO")):
            assert c.done() is None and c.err() is None and c.deadline() is None
            assert not await ready(c)
            assert str(c) == name

    gotest(main)


def test_with_cancel() -> None:
    async def main() -> None:
        c1, cancel = context.with_cancel(context.background())
        assert str(c1) == "context.Background.WithCancel"
        o = OtherContext(c1)
        c2, _ = context.with_cancel(o)
        contexts = [c1, o, c2]
        for c in contexts:
            assert c.done() is not None and c.err() is None
            assert not await ready(c)
        cancel()  # propagates synchronously
        for c in contexts:
            assert await ready(c)
            assert isinstance(c.err(), Canceled)

    gotest(main)


def test_parent_finishes_child() -> None:
    async def main() -> None:
        # parent -> cancel_child; parent -> value_child -> timer_child; parent -> after_func
        parent, cancel = context.with_cancel(context.background())
        cancel_child, stop1 = context.with_cancel(parent)
        value_child = context.with_value(parent, "key", "value")
        timer_child, stop2 = context.with_timeout(value_child, VERY_LONG)
        after_stop = context.after_func(parent, lambda: None)
        for c in (parent, cancel_child, value_child, timer_child):
            assert not await ready(c)
        pc = parent
        assert isinstance(pc, context._CancelCtx)
        kids = pc._children
        assert kids is not None and len(kids) == 3
        assert cancel_child in kids and timer_child in kids
        assert any(isinstance(k, context._AfterFuncCtx) for k in kids)
        for c in (cancel_child, timer_child):
            assert isinstance(c, context._CancelCtx)
            assert context._parent_cancel_ctx(c.parent) is pc

        cancel()
        assert not pc._children, "cancel didn't clear the children"
        for c in (parent, cancel_child, value_child, timer_child):
            assert await ready(c)
            assert isinstance(c.err(), Canceled)
        # a child of a cancelled parent is born cancelled
        pre = context.with_value(parent, "key", "value")
        assert await ready(pre) and isinstance(pre.err(), Canceled)
        stop1()
        stop2()
        after_stop()

    gotest(main)


def test_child_finishes_first() -> None:
    async def main() -> None:
        cancelable, stop = context.with_cancel(context.background())
        for parent in (context.background(), cancelable):
            child, cancel = context.with_cancel(parent)
            assert not await ready(child)
            if parent is not context.background():
                assert parent.done() is not None and not await ready(parent)
            assert isinstance(child, context._CancelCtx)
            pc = parent if isinstance(parent, context._CancelCtx) else None
            assert context._parent_cancel_ctx(child.parent) is pc
            if pc is not None:
                assert pc._children == {child: None}
            cancel()
            if pc is not None:
                assert pc._children == {}, "child's cancel didn't remove it from its parent"
            assert await ready(child) and isinstance(child.err(), Canceled)
            assert parent.err() is None
            if parent.done() is not None:
                assert not await ready(parent)
        stop()

    gotest(main)


def test_cancel_removes() -> None:
    async def main() -> None:
        def children(c: Context) -> int:
            assert isinstance(c, context._CancelCtx) and c._children is not None
            return len(c._children)

        ctx, _ = context.with_cancel(context.background())
        assert children(ctx) == 0
        _, cancel = context.with_cancel(ctx)
        assert children(ctx) == 1
        cancel()
        assert children(ctx) == 0

        ctx, _ = context.with_cancel(context.background())
        _, cancel = context.with_timeout(ctx, 3600)
        assert children(ctx) == 1
        cancel()
        assert children(ctx) == 0

        ctx, _ = context.with_cancel(context.background())
        stop = context.after_func(ctx, lambda: None)
        assert children(ctx) == 1
        stop()
        assert children(ctx) == 0

    gotest(main)


async def check_deadline(c: Context, name: str) -> None:
    """Go's testDeadline: done within the test's time, with DeadlineExceeded."""
    timer = gosched.Timer(5.0)
    i, _, _ = await gosched.select(gosched.recv(timer.c), gosched.recv(c.done()))
    timer.stop()
    assert i == 1, f"{name}: context not timed out after 5 s"
    assert isinstance(c.err(), DeadlineExceeded), name


def test_deadline() -> None:
    async def main() -> None:
        now = gosched.now
        c, _ = context.with_deadline(context.background(), now() + SHORT)
        assert str(c).startswith("context.Background.WithDeadline(")
        await check_deadline(c, "WithDeadline")

        c, _ = context.with_deadline(context.background(), now() + SHORT)
        await check_deadline(OtherContext(c), "WithDeadline+otherContext")

        c, _ = context.with_deadline(context.background(), now() + SHORT)
        c, _ = context.with_deadline(OtherContext(c), now() + VERY_LONG)
        await check_deadline(c, "WithDeadline+otherContext+WithDeadline")

        c, _ = context.with_deadline(context.background(), now() - SHORT)
        await check_deadline(c, "WithDeadline+inthepast")

        c, _ = context.with_deadline(context.background(), now())
        await check_deadline(c, "WithDeadline+now")

    gotest(main)


def test_timeout() -> None:
    async def main() -> None:
        c, _ = context.with_timeout(context.background(), SHORT)
        assert str(c).startswith("context.Background.WithDeadline(")
        await check_deadline(c, "WithTimeout")

        c, _ = context.with_timeout(context.background(), SHORT)
        await check_deadline(OtherContext(c), "WithTimeout+otherContext")

        c, _ = context.with_timeout(context.background(), SHORT)
        c, _ = context.with_timeout(OtherContext(c), VERY_LONG)
        await check_deadline(c, "WithTimeout+otherContext+WithTimeout")

    gotest(main)


def test_timeout_fires_at_the_exact_fake_time_and_reports_the_deadline() -> None:
    async def main() -> tuple[float, float | None, float]:
        t0 = gosched.now()
        c, cancel = context.with_timeout(context.background(), 3600)
        await c.wait_done()
        cancel()
        return t0, c.deadline(), gosched.now()

    t0, dl, t1 = gotest(main)
    assert dl == t0 + 3600 and t1 == t0 + 3600


def test_timeout_on_the_real_clock() -> None:
    async def main() -> None:
        c, cancel = context.with_timeout(context.background(), 0.02)
        await check_deadline(c, "real clock")
        cancel()

    gotest(main, clock="real")


def test_canceled_timeout() -> None:
    async def main() -> None:
        c, _ = context.with_timeout(context.background(), 1.0)
        o = OtherContext(c)
        c, cancel = context.with_timeout(o, VERY_LONG)
        cancel()  # propagates synchronously
        assert await ready(c)
        assert isinstance(c.err(), Canceled)

    gotest(main)


class Key1(int):
    pass


class Key2(int):
    def __str__(self) -> str:
        return f"test_context.Key2({int(self)})"


K1, K2, K3 = Key1(1), Key2(1), Key2(3)  # K2: same int as K1, another type; K3: same type as K2


def test_values() -> None:
    def check(c: Context, nm: str, v1: str, v2: str, v3: str) -> None:
        for k, want in ((K1, v1), (K2, v2), (K3, v3)):
            got = c.value(k)
            assert got == (want or None), f"{nm}.value({k!r}) = {got!r}, want {want!r}"

    async def main() -> None:
        bg = context.background()
        check(bg, "c0", "", "", "")
        c1 = context.with_value(bg, K1, "c1k1")
        check(c1, "c1", "c1k1", "", "")
        assert str(c1) == "context.Background.WithValue(test_context.Key1, c1k1)"
        c2 = context.with_value(c1, K2, "c2k2")
        check(c2, "c2", "c1k1", "c2k2", "")
        assert str(c2) == (
            "context.Background.WithValue(test_context.Key1, c1k1).WithValue(test_context.Key2(1), c2k2)"
        )
        c3 = context.with_value(c2, K3, "c3k3")
        check(c3, "c3", "c1k1", "c2k2", "c3k3")
        c4 = context.with_value(c3, K1, None)
        check(c4, "c4", "", "c2k2", "c3k3")
        assert str(c4) == (
            "context.Background.WithValue(test_context.Key1, c1k1).WithValue(test_context.Key2(1), c2k2)"
            ".WithValue(test_context.Key2(3), c3k3).WithValue(test_context.Key1, <nil>)"
        )
        check(OtherContext(bg), "o0", "", "", "")
        o1 = OtherContext(context.with_value(bg, K1, "c1k1"))
        check(o1, "o1", "c1k1", "", "")
        check(context.with_value(o1, K2, "o2k2"), "o2", "c1k1", "o2k2", "")
        o3 = OtherContext(c4)
        check(o3, "o3", "", "c2k2", "c3k3")
        check(context.with_value(o3, K3, None), "o4", "", "c2k2", "")
        # Go compares keys as interface values: 1, 1.0 and True are three keys
        c = context.with_value(context.with_value(bg, 1, "int"), True, "bool")
        assert (c.value(1), c.value(True), c.value(1.0)) == ("int", "bool", None)

    gotest(main)


def test_values_through_a_deep_chain_do_not_recurse() -> None:
    c = context.background()
    for i in range(5000):
        c = context.with_value(c, i, i)
        if i % 2:
            c, _ = context.with_cancel(c)
    assert c.value(0) == 0 and c.value(4999) == 4999 and c.value("missing") is None


def test_simultaneous_cancels() -> None:
    async def main() -> None:
        root, cancel = context.with_cancel(context.background())
        m: dict[Context, Callable[[], None]] = {root: cancel}
        q = [root]
        while q and len(m) < 100:
            parent = q.pop(0)
            for _ in range(4):
                ctx, c = context.with_cancel(parent)
                m[ctx] = c
                q.append(ctx)
        wg = gosched.WaitGroup()
        wg.add(len(m))

        async def do(c: Callable[[], None]) -> None:
            c()
            wg.done()

        for c in m.values():
            gosched.go(do, c)
        for ctx in m:
            await ctx.wait_done()
        await wg.wait()

    gotest(main, clock="real", maxprocs=4)


def test_interlocked_cancels() -> None:
    async def main() -> None:
        parent, cancel_parent = context.with_cancel(context.background())
        child, cancel_child = context.with_cancel(parent)

        async def watcher() -> None:
            await parent.wait_done()
            cancel_child()

        gosched.go(watcher)
        cancel_parent()
        await child.wait_done()

    gotest(main)


@pytest.mark.parametrize("timeout", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_layers(seed: int, timeout: bool) -> None:
    import random

    r = random.Random(seed)

    async def main() -> None:
        vals: list[object] = []
        cancels: list[Callable[[], None]] = []
        ntimers = 0
        ctx = context.background()
        i = 0
        while i < 30 or ntimers == 0 or not cancels or not vals:
            k = r.randrange(3)
            if k == 0:
                v = object()
                ctx = context.with_value(ctx, v, v)
                vals.append(v)
            elif k == 1:
                ctx, c = context.with_cancel(ctx)
                cancels.append(c)
            else:
                ctx, c = context.with_timeout(ctx, SHORT if timeout else VERY_LONG)
                cancels.append(c)
                ntimers += 1
            i += 1

        def check_values() -> None:
            for v in vals:
                assert ctx.value(v) is v

        if not timeout:
            assert not await ready(ctx)
        assert str(ctx).startswith("context.Background.")
        check_values()
        if timeout:
            await check_deadline(ctx, "layers")
        else:
            r.choice(cancels)()
            assert await ready(ctx)
        check_values()

    gotest(main)


def test_with_cancel_canceled_parent() -> None:
    async def main() -> None:
        parent, pcancel = context.with_cancel_cause(context.background())
        why = ValueError("Because!")
        pcancel(why)
        c, _ = context.with_cancel(parent)
        assert await ready(c), "child not done immediately upon construction"
        assert isinstance(c.err(), Canceled)
        assert context.cause(c) is why

    gotest(main)


def test_with_cancel_simultaneously_canceled_parent() -> None:
    async def main() -> None:
        for _ in range(100):
            parent, pcancel = context.with_cancel_cause(context.background())
            why = ValueError("Because!")
            gosched.go(call, pcancel, why)  # on another M, concurrently
            c, _ = context.with_cancel(parent)
            await c.wait_done()
            assert isinstance(c.err(), Canceled)
            assert context.cause(c) is why

    gotest(main, clock="real", maxprocs=2)


def test_bad_input_in_gos_words() -> None:
    with pytest.raises(TypeError, match=r"^key is not comparable$"):
        context.with_value(context.background(), [b"foo"], "bar")
    with pytest.raises(TypeError, match=r"^nil key$"):
        context.with_value(context.background(), None, "bar")
    for make in (
        lambda: context.with_cancel(None),  # type: ignore[arg-type]
        lambda: context.with_cancel_cause(None),  # type: ignore[arg-type]
        lambda: context.with_deadline(None, 0.0),  # type: ignore[arg-type]
        lambda: context.with_timeout(None, 1.0),  # type: ignore[arg-type]
        lambda: context.with_value(None, "foo", "bar"),  # type: ignore[arg-type]
        lambda: context.without_cancel(None),  # type: ignore[arg-type]
        lambda: context.after_func(None, lambda: None),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=r"^cannot create context from nil parent$"):
            make()
    with pytest.raises(TypeError, match=r"must be a gosched\.context\.Context, not str"):
        context.with_cancel("ctx")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="with_timeout takes seconds"):
        context.with_timeout(context.background(), "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        context.with_deadline(context.background(), float("nan"))
    with pytest.raises(TypeError, match="a cancel cause is an exception"):
        context.with_cancel_cause(context.background())[1]("why")  # type: ignore[arg-type]


def test_cancel_twice_is_a_no_op_and_negative_timeouts_are_already_expired() -> None:
    async def main() -> None:
        ctx, cancel = context.with_cancel_cause(context.background())
        cancel(KeyError("first"))
        cancel(KeyError("second"))
        assert repr(context.cause(ctx)) == "KeyError('first')"
        for t in (-1.0, 0, -1e300, float("-inf")):
            c, cancel2 = context.with_timeout(context.background(), t)
            assert await ready(c) and isinstance(c.err(), DeadlineExceeded)
            cancel2()
            cancel2()
            assert isinstance(c.err(), DeadlineExceeded)

    gotest(main)


def test_errors_in_gos_words() -> None:
    assert str(Canceled()) == "context canceled"
    assert str(DeadlineExceeded()) == "context deadline exceeded"
    assert isinstance(DeadlineExceeded(), TimeoutError)  # Go's DeadlineExceeded.Timeout() == true
    assert not isinstance(Canceled(), TimeoutError)


def test_cause() -> None:
    parent_cause, child_cause = ValueError("parentCause"), ValueError("childCause")
    too_slow, finished_early = ValueError("tooSlow"), ValueError("finishedEarly")
    forever = 1e6
    bg = context.background

    def cancelled(c: tuple[Context, Callable[[], None]]) -> Context:
        c[1]()
        return c[0]

    def cc(parent: Context, why: Exception | None) -> Context:
        ctx, cancel = context.with_cancel_cause(parent)
        cancel(why)
        return ctx

    def parent_before_child(child_with_cause: bool, parent_with_cause: bool, child_first: bool) -> Context:
        p, pcancel = (context.with_cancel_cause if parent_with_cause else context.with_cancel)(bg())
        c, ccancel = (context.with_cancel_cause if child_with_cause else context.with_cancel)(p)
        steps = [
            lambda: ccancel(child_cause) if child_with_cause else ccancel(),  # type: ignore[call-arg]
            lambda: pcancel(parent_cause) if parent_with_cause else pcancel(),  # type: ignore[call-arg]
        ]
        if not child_first:
            steps.reverse()
        for s in steps:
            s()
        return c

    def stacked(d: float) -> Context:
        ctx, cancel = context.with_cancel_cause(bg())
        ctx, _ = context.with_timeout(ctx, d, too_slow)
        cancel(finished_early)
        return ctx

    def without(c: Context, cancel: Callable[[], None]) -> Context:
        w = context.without_cancel(c)
        cancel()
        return w

    def custom(parent_first: bool | None) -> Context:
        ctx, cancel1 = context.with_cancel_cause(bg())
        c, cancel2 = new_custom_context(ctx)
        if parent_first is None:
            cancel2()
        elif parent_first:
            cancel1(parent_cause)
            cancel2()
        else:
            cancel2()
            cancel1(parent_cause)
        return c

    cases: list[tuple[str, Callable[[], Context], type[Exception] | None, Any]] = [
        ("Background", bg, None, None),
        ("TODO", context.todo, None, None),
        ("WithCancel", lambda: cancelled(context.with_cancel(bg())), Canceled, Canceled),
        ("WithCancelCause", lambda: cc(bg(), parent_cause), Canceled, parent_cause),
        ("WithCancelCause nil", lambda: cc(bg(), None), Canceled, Canceled),
        ("parent cause before child", lambda: parent_before_child(True, True, False), Canceled, parent_cause),
        ("parent cause after child", lambda: parent_before_child(True, True, True), Canceled, child_cause),
        ("parent cause before nil", lambda: parent_before_child(False, True, False), Canceled, parent_cause),
        ("parent cause after nil", lambda: parent_before_child(False, True, True), Canceled, Canceled),
        ("child cause after nil", lambda: parent_before_child(True, False, False), Canceled, Canceled),
        ("child cause before nil", lambda: parent_before_child(True, False, True), Canceled, child_cause),
        ("WithTimeout", lambda: cancelled(context.with_timeout(bg(), 0)), DeadlineExceeded, DeadlineExceeded),
        ("WithTimeout canceled", lambda: cancelled(context.with_timeout(bg(), forever)), Canceled, Canceled),
        (
            "WithTimeoutCause",
            lambda: cancelled(context.with_timeout(bg(), 0, too_slow)),
            DeadlineExceeded,
            too_slow,
        ),
        (
            "WithTimeoutCause canceled",
            lambda: cancelled(context.with_timeout(bg(), forever, too_slow)),
            Canceled,
            Canceled,
        ),
        ("WithTimeoutCause stacked", lambda: stacked(0), DeadlineExceeded, too_slow),
        ("WithTimeoutCause stacked canceled", lambda: stacked(forever), Canceled, finished_early),
        ("WithoutCancel", lambda: context.without_cancel(bg()), None, None),
        ("WithoutCancel canceled", lambda: without(*context.with_cancel(bg())), None, None),
        ("WithoutCancel timeout", lambda: without(*context.with_timeout(bg(), 0, too_slow)), None, None),
        ("parent of custom context not canceled", lambda: custom(None), Canceled, Canceled),
        ("parent of custom context is canceled before", lambda: custom(True), Canceled, parent_cause),
        # Go: "This isn't really right" -- a custom context cannot tell which came first.
        ("parent of custom context is canceled after", lambda: custom(False), Canceled, parent_cause),
    ]

    async def main() -> None:
        for name, make, err, why in cases:
            ctx = make()
            got = ctx.err()
            if err is None:
                assert got is None, name
            else:
                assert type(got) is err, f"{name}: err() = {got!r}"
            c = context.cause(ctx)
            if isinstance(why, type):
                assert type(c) is why, f"{name}: cause() = {c!r}"
            else:
                assert c is why, f"{name}: cause() = {c!r}, want {why!r}"

    gotest(main)


def test_cause_race() -> None:
    async def main() -> None:
        why = ValueError("TestCauseRace")
        ctx, cancel = context.with_cancel_cause(context.background())
        gosched.go(call, cancel, why)
        while True:
            c = context.cause(ctx)
            if c is not None:
                assert c is why
                break
            await gosched.gosched()

    gotest(main, clock="real", maxprocs=2)


def test_without_cancel() -> None:
    ctx = context.without_cancel(context.with_value(context.background(), "key", "value"))
    assert ctx.deadline() is None and ctx.done() is None and ctx.err() is None
    assert ctx.value("key") == "value"
    assert str(ctx) == "context.Background.WithValue(key, value).WithoutCancel"


def test_custom_context_propagation() -> None:
    async def main() -> None:
        why = ValueError("TestCustomContextPropagation")
        donec: gosched.Chan[None] = gosched.Chan()
        ctx1, cancel1 = context.with_cancel_cause(context.background())
        ctx2 = CustomDoneContext(ctx1, donec)
        ctx3, cancel3 = context.with_cancel(ctx2)
        cancel1(why)
        donec.close()
        await ctx3.wait_done()
        assert isinstance(ctx3.err(), Canceled)
        assert context.cause(ctx3) is why
        cancel3()

    gotest(main)


class CustomCauseContext(Context):
    """Go's customCauseContext: a custom root that cancels one registered child."""

    def __init__(self) -> None:
        self.mu = gosched.Mutex()
        self.donec: gosched.Chan[None] = gosched.Chan()
        self.error: Exception | None = None
        self.cancel_child: Callable[[], None] | None = None

    def deadline(self) -> float | None:
        return None

    def done(self) -> gosched.Chan[None] | None:
        return self.donec

    def err(self) -> Exception | None:
        return self.error

    def value(self, key: Hashable) -> Any:
        return None

    def cancel(self) -> None:
        self.error = Canceled()
        self.donec.close()
        if self.cancel_child is not None:
            self.cancel_child()


def test_custom_context_cause() -> None:
    async def main() -> None:
        ccc = CustomCauseContext()
        ccc.cancel()
        assert isinstance(ccc.err(), Canceled) and isinstance(context.cause(ccc), Canceled)

        ccc = CustomCauseContext()
        ctx, cause_func = context.with_cancel_cause(ccc)
        why = ValueError("TestCustomContextCause")
        cause_func(why)
        assert isinstance(ctx.err(), Canceled) and context.cause(ctx) is why
        assert ccc.err() is None and context.cause(ccc) is None
        ccc.cancel()
        assert isinstance(ctx.err(), Canceled) and context.cause(ctx) is why
        assert isinstance(ccc.err(), Canceled) and isinstance(context.cause(ccc), Canceled)

        ccc = CustomCauseContext()
        ctx, cancel_func = context.with_cancel(ccc)
        ccc.cancel_child = cancel_func
        ccc.cancel()
        assert isinstance(ctx.err(), Canceled) and isinstance(context.cause(ctx), Canceled)
        assert isinstance(ccc.err(), Canceled) and isinstance(context.cause(ccc), Canceled)

    gotest(main)


def test_custom_context_goroutines() -> None:
    """Go's TestCustomContextGoroutines, counted with num_goroutine: only a custom done()
    channel costs a goroutine, and it ends with the child."""

    async def main() -> None:
        base = gosched.num_goroutine()
        ctx1, cancel1 = context.with_cancel(context.background())
        ctx3, cancel3 = context.with_cancel(OtherContext(ctx1))
        ctx4, cancel4 = context.with_timeout(ctx3, VERY_LONG)
        ctx5, cancel5 = context.with_cancel(ctx4)
        assert gosched.num_goroutine() == base
        _, cancel3b = context.with_cancel(CustomDoneContext(OtherContext(ctx1), gosched.Chan()))
        assert gosched.num_goroutine() == base + 1
        cancel3b()
        for _ in range(10):
            await gosched.gosched()
        assert gosched.num_goroutine() == base
        cancel5()
        _, cancel6 = context.with_timeout(ctx5, VERY_LONG)
        cancel6()
        cancel1()
        _, cancel7 = context.with_cancel(ctx5)
        assert gosched.num_goroutine() == base
        for c in (cancel3, cancel4, cancel7):
            c()

    gotest(main)


def test_context_err_done_race() -> None:
    async def main() -> None:
        for _ in range(10):
            ctx, cancel = context.with_cancel(context.background())
            donec = ctx.done()
            gosched.go(call, cancel)
            while ctx.err() is None:
                await gosched.gosched()
            assert donec is not None and donec.closed, "ctx.err() is not None, but done() is not closed"

    gotest(main, clock="real", maxprocs=2)


# --- after_func (x_test.go) -------------------------------------------------------------


def test_after_func_called_after_cancel() -> None:
    async def main() -> None:
        ctx, cancel = context.with_cancel(context.background())
        donec: gosched.Chan[None] = gosched.Chan()
        stop = context.after_func(ctx, donec.close)
        i, _, _ = await gosched.select(gosched.recv(donec), gosched.recv(gosched.after(SHORT)))
        assert i == 1, "after_func called before context is done"
        cancel()
        i, _, _ = await gosched.select(gosched.recv(donec), gosched.recv(gosched.after(VERY_LONG)))
        assert i == 0, "after_func not called after context is canceled"
        assert stop() is False

    gotest(main)


def test_after_func_called_after_timeout() -> None:
    async def main() -> None:
        ctx, cancel = context.with_timeout(context.background(), SHORT)
        donec: gosched.Chan[None] = gosched.Chan()
        context.after_func(ctx, donec.close)
        i, _, _ = await gosched.select(gosched.recv(donec), gosched.recv(gosched.after(VERY_LONG)))
        assert i == 0
        cancel()

    gotest(main)


def test_after_func_called_immediately() -> None:
    async def main() -> None:
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        donec: gosched.Chan[None] = gosched.Chan()
        context.after_func(ctx, donec.close)
        i, _, _ = await gosched.select(gosched.recv(donec), gosched.recv(gosched.after(VERY_LONG)))
        assert i == 0

    gotest(main)


def test_after_func_not_called_after_stop() -> None:
    async def main() -> None:
        ctx, cancel = context.with_cancel(context.background())
        donec: gosched.Chan[None] = gosched.Chan()
        stop = context.after_func(ctx, donec.close)
        assert stop() is True
        cancel()
        i, _, _ = await gosched.select(gosched.recv(donec), gosched.recv(gosched.after(SHORT)))
        assert i == 1, "after_func called for a stopped registration"
        assert stop() is False

    gotest(main)


def test_after_func_called_asynchronously() -> None:
    async def main() -> None:
        ctx, cancel = context.with_cancel(context.background())
        donec: gosched.Chan[None] = gosched.Chan()

        async def f() -> None:
            await donec.send(None)  # blocks until read: cancel() must not wait for it

        stop = context.after_func(ctx, f)
        cancel()
        i, _, _ = await gosched.select(gosched.recv(donec), gosched.recv(gosched.after(VERY_LONG)))
        assert i == 0
        stop()

    gotest(main)


def new_custom_context(parent: Context) -> tuple[Context, Callable[[], None]]:
    """Go's customContext: its own done channel, closed through after_func on its parent."""
    donec: gosched.Chan[None] = gosched.Chan()
    box: dict[str, Exception] = {}
    once = [1]

    def finish(err: Exception) -> None:
        if once and once.pop():
            box["err"] = err
            donec.close()

    class Custom(Context):
        def deadline(self) -> float | None:
            return parent.deadline()

        def done(self) -> gosched.Chan[None] | None:
            return donec

        def err(self) -> Exception | None:
            return box["err"] if donec.closed else None

        def value(self, key: Hashable) -> Any:
            return parent.value(key)

    context.after_func(parent, lambda: finish(parent.err() or Canceled()))
    return Custom(), lambda: finish(Canceled())


# --- afterfunc_test.go: a custom context with an after_func method ------------------------


class AfterFuncContext(Context):
    """Go's afterFuncContext: a custom context that registers functions to run when cancelled."""

    def __init__(self) -> None:
        self.after_funcs: dict[object, Callable[[], Any]] = {}
        self.donec: gosched.Chan[None] = gosched.Chan()
        self.error: Exception | None = None

    def deadline(self) -> float | None:
        return None

    def done(self) -> gosched.Chan[None] | None:
        return self.donec

    def err(self) -> Exception | None:
        return self.error

    def value(self, key: Hashable) -> Any:
        return None

    def after_func(self, f: Callable[[], Any]) -> Callable[[], bool]:
        k = object()
        self.after_funcs[k] = f

        def stop() -> bool:
            return self.after_funcs.pop(k, None) is not None

        return stop

    def cancel(self, err: Exception) -> None:
        if self.error is not None:
            return
        self.error = err
        for f in self.after_funcs.values():
            gosched.go(call, f)
        self.after_funcs = {}


def test_custom_context_after_func_cancel_and_timeout() -> None:
    async def main() -> None:
        for make in (context.with_cancel, lambda c: context.with_timeout(c, VERY_LONG)):
            ctx0 = AfterFuncContext()
            n = gosched.num_goroutine()
            ctx1, cancel = make(ctx0)
            assert gosched.num_goroutine() == n  # registered with after_func: no watcher goroutine
            ctx0.cancel(Canceled())
            await ctx1.wait_done()
            cancel()

    gotest(main)


def test_custom_context_after_func_after_func() -> None:
    async def main() -> None:
        ctx0 = AfterFuncContext()
        donec: gosched.Chan[None] = gosched.Chan()
        stop = context.after_func(ctx0, donec.close)
        ctx0.cancel(Canceled())
        await donec.wait_closed()
        stop()

    gotest(main)


def test_custom_context_after_func_unregister() -> None:
    async def main() -> None:
        ctx0 = AfterFuncContext()
        _, cancel1 = context.with_cancel(ctx0)
        _, cancel2 = context.with_cancel(ctx0)
        assert len(ctx0.after_funcs) == 2
        cancel1()
        cancel2()
        assert len(ctx0.after_funcs) == 0

        _, cancel = context.with_timeout(ctx0, VERY_LONG)
        assert len(ctx0.after_funcs) == 1
        cancel()
        assert len(ctx0.after_funcs) == 0

        stop = context.after_func(ctx0, lambda: None)
        assert len(ctx0.after_funcs) == 1
        stop()
        assert len(ctx0.after_funcs) == 0

    gotest(main)


# --- gosched additions ------------------------------------------------------------------


def test_wait_done_blocks_forever_on_background_and_checkdead_says_so() -> None:
    async def main() -> None:
        await context.background().wait_done()

    with pytest.raises(gosched.Deadlock, match="all goroutines are asleep - deadlock!"):
        gotest(main, clock="real")


def test_cancel_detaches_the_child_and_leaves_no_goroutine_behind() -> None:
    async def main() -> tuple[int, int, bool]:
        parent, cancel_parent = context.with_cancel(context.background())
        assert isinstance(parent, context._CancelCtx) and parent._children is not None
        for _ in range(1000):
            _, cancel = context.with_timeout(parent, 60)
            cancel()
        kids = len(parent._children)
        cancel_parent()
        await gosched.sleep(120)  # past every deadline: the stopped timers never fire
        return kids, gosched.num_goroutine(), parent._children is None

    assert gotest(main) == (0, 1, True)


def test_a_blocked_select_on_done_wakes_on_the_deadline_and_the_timer_is_released() -> None:
    async def main() -> list[str]:
        out: gosched.Chan[str] = gosched.Chan()
        ctx, cancel = context.with_timeout(context.background(), 10)

        async def worker(name: str) -> None:
            while True:
                i, _, _ = await gosched.select(gosched.recv(ctx.done()), gosched.recv(gosched.after(3)))
                if i == 0:
                    await out.send(f"{name}: {ctx.err()}")
                    return

        for n in ("a", "b", "c"):
            gosched.go(worker, n)
        got = sorted([await out.recv() for _ in range(3)])
        cancel()
        return got

    assert gotest(main) == [f"{n}: context deadline exceeded" for n in "abc"]
