"""Channel operations in C (_speedups_chan.h) against chan.py's generators.

With the accelerator, Chan.send, recv, recv_ok and __anext__ return a C
awaitable that finishes an operation needing no park without a coroutine
frame, and runs chan.py's generator for everything else. These tests hold on
both paths (the suite runs again with GOSCHED_PURE_PYTHON=1): laziness (nothing
happens until the await), results and Go's errors, a select case another case
already won, and no value lost or duplicated under many Ms and a tiny switch
interval.
"""

from __future__ import annotations

import collections
import os
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch
from gosched._runtime import speedups
from gosched._runtime.chan import Chan


def test_chan_methods_are_the_c_ones_with_the_accelerator() -> None:
    if speedups.c is None:
        assert isinstance(vars(Chan)["send"], types.FunctionType)
        pytest.skip("pure-Python path: the generators are the methods")
    for name in ("send", "recv_ok", "recv", "__anext__"):
        assert type(vars(Chan)[name]).__name__ == "method_descriptor", name
        assert vars(Chan)[name].__doc__  # the generators' docstrings, for the API reference
    assert "GOSCHED_PURE_PYTHON" not in os.environ or not os.environ["GOSCHED_PURE_PYTHON"]


def test_an_operation_runs_when_awaited_not_when_called() -> None:
    async def main() -> tuple[int, int, Any]:
        ch = gosched.Chan[Any](1)
        op = ch.send("x")  # not awaited: sends nothing, like a coroutine never awaited
        before = len(ch)
        op.close()
        await ch.send("y")
        # go(ch.recv()): the receive happens in the new goroutine, not in go()'s caller
        got = gosched.Chan[Any](1)

        async def take(aw: Any) -> None:
            await got.send(await aw)

        pending = ch.recv()
        after_call = len(ch)
        gosched.go(take, pending)
        return before, after_call, await got.recv()

    assert run(main) == (0, 1, "y")


@pytest.mark.parametrize("cap", [0, 1, 4])
def test_values_and_ok_pass_unchanged(cap: int) -> None:
    """Tuples, None and exceptions are values like any other (none becomes StopIteration's args)."""
    values: list[Any] = [(1, 2), None, (), ValueError("v"), 0, "s"]

    async def main() -> list[Any]:
        ch = gosched.Chan[Any](cap)

        async def producer() -> None:
            for v in values:
                await ch.send(v)
            ch.close()

        gosched.go(producer)
        out: list[Any] = [await ch.recv(), await ch.recv_ok()]
        async for v in ch:
            out.append(v)
        out.append(await ch.recv_ok())
        return out

    out = run(main)
    assert out[0] == (1, 2) and out[1] == (None, True)
    assert out[2] == () and type(out[3]) is ValueError and out[4:6] == [0, "s"]
    assert out[6] == (None, False)


def test_closed_channel_errors_are_gos() -> None:
    async def main() -> list[str]:
        ch = gosched.Chan[int](2)
        await ch.send(1)
        ch.close()
        seen = [str(await ch.recv())]  # a closed channel still drains its buffer
        for op in (lambda: ch.send(2), ch.recv):
            try:
                await op()
            except (gosched.ClosedChannelError, gosched.Closed) as e:
                seen.append(f"{type(e).__name__}: {e}")
        seen.append(repr(await ch.recv_ok()))
        return seen

    seen = run(main)
    assert seen[0] == "1"
    assert seen[1] == "ClosedChannelError: send on closed channel"
    assert seen[2].startswith("Closed: receive from closed channel")
    assert seen[3] == "(None, False)"


@pytest.mark.parametrize("op", ["send", "recv", "recv_ok", "__anext__"])
@pytest.mark.parametrize("cap", [0, 1])
def test_a_parked_operation_finishes_as_the_generator_after_its_yield(op: str, cap: int) -> None:
    """A goroutine parks in the operation (in C with the accelerator: cpark), is seen
    waiting on the channel, and finishes as chan.py's generator does after its yield:
    with the value a partner handed it, or Go's outcome when the close woke it."""

    async def main() -> tuple[list[Any], list[Any]]:
        outcomes: list[Any] = []
        waits: list[Any] = []
        for closing in (False, True):
            ch = gosched.Chan[Any](cap)
            if op == "send" and cap:
                await ch.send("fill")  # full: the next send parks
            done = gosched.Chan[Any](1)

            async def waiter(ch: gosched.Chan[Any], done: gosched.Chan[Any]) -> None:
                try:
                    if op == "send":
                        r: Any = await ch.send("v")
                    elif op == "__anext__":
                        r = await ch.__anext__()
                    else:
                        r = await getattr(ch, op)()
                except (gosched.Closed, gosched.ClosedChannelError, StopAsyncIteration) as e:
                    r = type(e).__name__
                await done.send(r)

            g = gosched.go(waiter, ch, done)
            while ch.waitqs() == ([], []):
                await gosched.gosched()  # until it parks
            recvq, sendq = ch.waitqs()
            waits.append((len(recvq), len(sendq), g.state))
            if closing:
                ch.close()
            elif op == "send":
                await ch.recv()
                if cap:
                    await ch.recv()
            else:
                await ch.send(7)
            outcomes.append(await done.recv())
        return outcomes, waits

    outcomes, waits = run(main)
    parked_in = (0, 1) if op == "send" else (1, 0)
    assert [w[:2] for w in waits] == [parked_in, parked_in]
    assert {w[2] for w in waits} == {"chan send" if op == "send" else "chan receive"}
    closed = {
        "send": "ClosedChannelError",
        "recv": "Closed",
        "recv_ok": (None, False),
        "__anext__": "StopAsyncIteration",
    }
    handed = {"send": None, "recv": 7, "recv_ok": (7, True), "__anext__": 7}
    assert outcomes == [handed[op], closed[op]]


def test_an_operation_awaited_twice_is_refused() -> None:
    async def main() -> str:
        ch = gosched.Chan[int](1)
        op = ch.send(1)
        await op
        try:
            await op
        except RuntimeError as e:
            return str(e)
        return "no error"

    out = run(main)
    if speedups.c is not None:
        assert out == "cannot reuse already awaited coroutine"


def test_operations_made_after_others_were_freed_start_fresh() -> None:
    """The C awaitables are reused once freed (a free list): each new one is a new
    operation, whatever the freed ones were (kind, value, parked, never awaited),
    and one still held is still finished."""

    async def main() -> tuple[list[Any], str]:
        ch = gosched.Chan[Any](1)
        held = ch.send("h")
        await held
        out: list[Any] = [await ch.recv_ok()]
        for i in range(40):
            ch.send(("dropped", i)).close()  # never awaited: sends nothing
            ch.recv()  # never awaited, not even closed
            await ch.send(i)
            out.append(await ch.recv() if i % 2 else await ch.recv_ok())
        try:
            await held
        except RuntimeError as e:
            return out, str(e)
        return out, "no error"

    out, err = run(main)
    assert out == [("h", True)] + [i if i % 2 else (i, True) for i in range(40)]
    if speedups.c is not None:
        assert err == "cannot reuse already awaited coroutine"


def test_throw_into_an_unstarted_operation_raises_it() -> None:
    async def main() -> None:
        op = gosched.Chan[int](1).recv()
        with pytest.raises(KeyError):
            op.throw(KeyError("k"))  # type: ignore[attr-defined]

    run(main)


def test_close_of_a_finished_or_unstarted_operation_does_nothing() -> None:
    async def main() -> tuple[Any, Any, int]:
        ch = gosched.Chan[int](2)
        op = ch.send(1)
        await op
        done = op.close()  # type: ignore[attr-defined]
        fresh = ch.recv().close()  # type: ignore[attr-defined]
        return done, fresh, len(ch)

    assert run(main) == (None, None, 1)


def test_a_send_skips_a_select_case_another_case_won() -> None:
    """The selecting goroutine won on a, but has not yet run to take its case off b's
    queue: a send on b must not hand its value to that case (it would be lost)."""

    async def main() -> tuple[Any, Any]:
        a, b = gosched.Chan[int](), gosched.Chan[int](1)
        res = gosched.Chan[Any](1)

        async def selector() -> None:
            await res.send(await gosched.select(gosched.recv(a), gosched.recv(b)))

        gosched.go(selector)
        while not (a.recvq and b.recvq):  # both cases enqueued: the selector parked
            await gosched.sleep(0.001)
        await a.send(1)  # wins case 0; the selector is runnable, not yet run
        await b.send(2)  # must skip the stale case on b and fill the buffer
        return await res.recv(), await b.recv()

    (index, value, ok), buffered = run(main)
    assert (index, value, ok) == (0, 1, True)
    assert buffered == 2


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cap=st.sampled_from([0, 1, 3, 64]),
    senders=st.integers(1, 6),
    receivers=st.integers(1, 6),
    maxprocs=st.sampled_from([1, 2, 4]),
)
def test_no_value_lost_or_duplicated_under_many_ms(
    cap: int, senders: int, receivers: int, maxprocs: int
) -> None:
    per = 300

    async def main() -> collections.Counter[int]:
        ch = gosched.Chan[int](cap)
        out = gosched.Chan[list[int]](receivers)
        wg = gosched.WaitGroup()

        async def send(k: int) -> None:
            for i in range(per):
                await ch.send(k * per + i)
            wg.done()

        async def recv(k: int) -> None:
            got = []
            if k % 2:
                async for v in ch:
                    got.append(v)
            else:
                while True:
                    v, ok = await ch.recv_ok()
                    if not ok:
                        break
                    got.append(v)
            await out.send(got)

        for k in range(senders):
            wg.add(1)
            gosched.go(send, k)
        for k in range(receivers):
            gosched.go(recv, k)
        await wg.wait()
        ch.close()
        total: collections.Counter[int] = collections.Counter()
        for _ in range(receivers):
            total.update(await out.recv())
        return total

    with tiny_switch():
        total = run(main, maxprocs=maxprocs, timeout=60)
    assert total == collections.Counter(range(senders * per))


def test_async_for_follows_a_subclasss_and_a_reassigned_anext(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the accelerator ``async for`` asks Chan's am_anext slot for each item (set to
    the C __anext__ itself): a subclass's __anext__, and one assigned to Chan later,
    must still be what runs, as with the generic slot."""

    class Countdown(Chan[int]):
        async def __anext__(self) -> int:
            v = await self.recv()
            if v == 0:
                raise StopAsyncIteration
            return v

    calls: list[int] = []
    c_anext = vars(Chan)["__anext__"]

    def spy(self: Chan[int]) -> Any:
        calls.append(1)
        return c_anext(self)

    async def drain(ch: Chan[int], items: list[int]) -> list[int]:
        for v in items:
            await ch.send(v)
        ch.close()
        return [v async for v in ch]

    async def main() -> tuple[list[int], list[int], list[int]]:
        plain = await drain(gosched.Chan[int](4), [1, 2, 3])
        sub = await drain(Countdown(4), [3, 2, 0, 9])
        monkeypatch.setattr(Chan, "__anext__", spy)
        spied = await drain(gosched.Chan[int](4), [5, 6])
        return plain, sub, spied

    assert run(main) == ([1, 2, 3], [3, 2], [5, 6])
    assert len(calls) == 3  # two items and the end
