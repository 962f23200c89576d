"""gosched.run / go / gosched / goexit / num_goroutine / gomaxprocs / syscall (issue 2)."""

from __future__ import annotations

import functools
import threading
import time

import pytest

import gosched
from _core_helpers import current_g, drive, in_thread, run, wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    # GIL contention between Ms shows up as "held its P" reports: not what these tests check
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


# --- run ----------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_run_returns_main_result(procs: int) -> None:
    async def main(a: int, b: int, *, c: int) -> int:
        return a + b + c

    # run() forwards only positional arguments; keywords go in with functools.partial.
    assert run(functools.partial(main, 1, c=3), 2, maxprocs=procs) == 6


def test_run_accepts_coroutine_object() -> None:
    async def main(x: int) -> int:
        return x * 2

    assert gosched.run(main(21), maxprocs=1) == 42


def test_run_default_maxprocs() -> None:
    async def main() -> int:
        return gosched.gomaxprocs()

    assert run(main, maxprocs=None) >= 1


def test_main_is_goroutine_1() -> None:
    async def main() -> int:
        return current_g().id

    assert run(main) == 1


def test_run_can_be_called_again() -> None:
    async def main(i: int) -> int:
        ch = gosched.Chan[int]()
        gosched.go(ch.send, i)
        return await ch.recv()

    for i in range(30):
        assert run(main, i, maxprocs=1 + i % 3) == i


def test_run_again_after_exception() -> None:
    async def bad() -> None:
        raise KeyError("x")

    async def good() -> str:
        return "ok"

    for _ in range(5):
        with pytest.raises(KeyError):
            run(bad)
        assert run(good) == "ok"


def test_goroutines_abandoned_when_main_returns() -> None:
    started = threading.Event()

    async def blocked(ch: gosched.Chan[int]) -> None:
        started.set()
        await ch.recv()

    async def forever() -> None:
        await gosched.select()

    async def main() -> int:
        ch = gosched.Chan[int]()
        for _ in range(5):
            gosched.go(blocked, ch)
        gosched.go(forever)
        await wait_until(lambda: started.is_set())
        await gosched.sleep(0.01)
        return gosched.num_goroutine()

    t0 = time.monotonic()
    assert run(main, maxprocs=2) == 7
    assert time.monotonic() - t0 < 5


def test_uncaught_exception_in_goroutine_ends_run_with_note() -> None:
    ids: list[int] = []

    async def boom() -> None:
        await gosched.gosched()
        raise ValueError("boom")

    async def main() -> None:
        g = gosched.go(boom)
        ids.append(g.id)
        await gosched.Chan[int]().recv()  # would block forever

    with pytest.raises(ValueError, match="boom") as ei:
        run(main, maxprocs=2)
    notes = getattr(ei.value, "__notes__", [])
    assert any(f"goroutine {ids[0]}" in n for n in notes), notes
    assert any("boom" in n for n in notes), notes  # names the function too


def test_uncaught_exception_in_main_has_note() -> None:
    async def main() -> None:
        raise LookupError("in main")

    with pytest.raises(LookupError) as ei:
        run(main)
    assert any("goroutine 1" in n for n in getattr(ei.value, "__notes__", []))


def test_first_exception_wins_and_run_returns() -> None:
    async def boom(i: int) -> None:
        raise RuntimeError(f"boom{i}")

    async def main() -> None:
        for i in range(10):
            gosched.go(boom, i)
        await gosched.sleep(10)

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"):
        run(main, maxprocs=4)
    assert time.monotonic() - t0 < 5


def test_run_inside_run_is_error() -> None:
    async def inner() -> int:
        return 1

    async def main() -> str:
        try:
            gosched.run(inner)
        except RuntimeError as e:
            return str(e)
        return "no error"

    msg = run(main)
    assert "inside a goroutine" in msg or "already running" in msg


def test_run_from_another_thread_while_running_is_error() -> None:
    async def inner() -> int:
        return 1

    def other() -> str:
        try:
            gosched.run(inner)
        except RuntimeError as e:
            return str(e)
        return "no error"

    async def main() -> str:
        return await gosched.syscall(in_thread, other)

    assert "already running" in run(main)


def test_run_bad_input() -> None:
    def plain() -> int:
        return 1

    with pytest.raises(TypeError, match="async"):
        gosched.run(plain)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gosched.run(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gosched.run(None)  # type: ignore[arg-type]

    async def main() -> int:
        return 1

    with pytest.raises(ValueError):
        gosched.run(main, maxprocs=0)
    with pytest.raises(ValueError):
        gosched.run(main, maxprocs=-3)
    with pytest.raises(ValueError):
        gosched.run(main, clock="wall")
    assert run(main) == 1  # a bad call leaves nothing behind


def test_run_maxprocs_wrong_type_is_typeerror() -> None:
    async def main() -> int:
        return 1

    with pytest.raises(TypeError):
        gosched.run(main, maxprocs="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gosched.run(main, maxprocs=2.0)  # type: ignore[arg-type]


# --- go -----------------------------------------------------------------------------------


def test_go_forms() -> None:
    class Obj:
        def __init__(self) -> None:
            self.got: list[str] = []

        async def meth(self, x: str, done: gosched.WaitGroup) -> None:
            self.got.append(x)
            done.done()

    async def fn(x: str, obj: Obj, done: gosched.WaitGroup, *, suffix: str = "") -> None:
        obj.got.append(x + suffix)
        done.done()

    async def main() -> list[str]:
        obj = Obj()
        wg = gosched.WaitGroup()
        wg.add(5)
        gosched.go(fn, "args", obj, wg)
        gosched.go(fn, "kw", obj, wg, suffix="!")
        gosched.go(fn("coro", obj, wg))
        gosched.go(functools.partial(fn, "partial", obj), wg)
        gosched.go(obj.meth, "method", wg)
        await wg.wait()
        # a generator-based coroutine method (the module docstring's example)
        ch = gosched.Chan[int]()
        gosched.go(ch.send, 42)
        obj.got.append(str(await ch.recv()))
        return sorted(obj.got)

    assert run(main, maxprocs=2) == sorted(["args", "kw!", "coro", "partial", "method", "42"])


def test_go_handles_have_distinct_ids() -> None:
    async def nop() -> None:
        pass

    async def main() -> list[int]:
        return [gosched.go(nop).id for _ in range(100)]

    ids = run(main, maxprocs=2)
    assert len(set(ids)) == 100 and 1 not in ids


def test_go_bad_input() -> None:
    def plain(x: int) -> int:
        return x

    async def coro_fn() -> None:
        pass

    async def main() -> list[str]:
        msgs = []
        with pytest.raises(TypeError) as ei:
            gosched.go(plain, 1)  # type: ignore[arg-type]
        msgs.append(str(ei.value))
        assert "async def" in str(ei.value) and "syscall" in str(ei.value)
        with pytest.raises(TypeError):
            gosched.go(lambda: 1)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError):
            gosched.go(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gosched.go(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gosched.go(coro_fn(), 1)
        return msgs

    run(main)


def test_go_accepts_channel_method_awaitables() -> None:
    async def main() -> list[int]:
        a, b, c = gosched.Chan[int](), gosched.Chan[int](), gosched.Chan[int](1)
        gosched.go(a.send(1))
        gosched.go(b.recv)
        await b.send(2)
        gosched.go(c.recv_ok)
        await c.send(3)
        return [await a.recv()]

    assert run(main) == [1]


def test_go_outside_run_is_error() -> None:
    async def f() -> None:
        pass

    with pytest.raises(RuntimeError, match="run"):
        gosched.go(f)


# --- gosched / goexit --------------------------------------------------------------------


def test_gosched_lets_new_goroutine_run() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        async def g() -> None:
            order.append("g")

        gosched.go(g)
        await gosched.gosched()
        order.append("main")
        return order

    assert run(main, maxprocs=1) == ["g", "main"]


def test_goexit_runs_finally_and_ends_only_that_goroutine() -> None:
    async def helper(log: list[str]) -> None:
        log.append("helper")
        gosched.goexit()

    async def g(log: list[str], done: gosched.Chan[None]) -> None:
        try:
            try:
                await helper(log)
                log.append("after goexit")  # never
            except Exception:
                log.append("caught as Exception")  # never: Goexit is not an Exception
        finally:
            log.append("finally")
            await done.send(None)  # finally blocks may still block

    async def main() -> list[str]:
        log: list[str] = []
        done = gosched.Chan[None]()
        gosched.go(g, log, done)
        await done.recv()
        await gosched.sleep(0.01)
        log.append("main")
        return log

    assert run(main, maxprocs=2) == ["helper", "finally", "main"]


def test_goexit_outside_goroutine() -> None:
    with pytest.raises(RuntimeError, match="outside a goroutine"):
        gosched.goexit()


# --- num_goroutine / gomaxprocs --------------------------------------------------------------


def test_num_goroutine() -> None:
    async def main() -> list[int]:
        out = [gosched.num_goroutine()]
        ch = gosched.Chan[None]()

        async def recv() -> None:
            await ch.recv_ok()

        for _ in range(10):
            gosched.go(recv)
        out.append(gosched.num_goroutine())
        ch.close()
        await wait_until(lambda: gosched.num_goroutine() == 1)
        out.append(gosched.num_goroutine())
        return out

    assert run(main, maxprocs=2) == [1, 11, 1]


def test_runtime_queries_outside_run() -> None:
    with pytest.raises(RuntimeError):
        gosched.num_goroutine()
    with pytest.raises(RuntimeError):
        gosched.gomaxprocs()


def test_gomaxprocs_get_set() -> None:
    async def main() -> list[int]:
        out = [gosched.gomaxprocs()]
        out.append(gosched.gomaxprocs(4))
        out.append(gosched.gomaxprocs())
        out.append(gosched.gomaxprocs(1))
        out.append(gosched.gomaxprocs())
        with pytest.raises(TypeError):
            gosched.gomaxprocs("2")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gosched.gomaxprocs(1.5)  # type: ignore[arg-type]
        return out

    assert run(main, maxprocs=2) == [2, 2, 4, 4, 1]


# --- syscall ----------------------------------------------------------------------------------


def test_syscall_returns_and_raises() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    def fail() -> None:
        raise OSError("disk on fire")

    async def main() -> int:
        with pytest.raises(OSError, match="disk on fire"):
            await gosched.syscall(fail)
        with pytest.raises(TypeError):
            await gosched.syscall(42)  # type: ignore[arg-type]
        return await gosched.syscall(add, 40, 2)

    assert run(main) == 42


def test_syscall_lets_other_goroutines_run_on_one_p() -> None:
    """While main blocks in a syscall, its P is handed off and another goroutine runs."""

    async def main() -> bool:
        ev = threading.Event()
        gosched.go(gosched.syscall, lambda: None)  # noise

        async def setter() -> None:
            ev.set()

        gosched.go(setter)
        # main blocks in a syscall until the goroutine above has run: only possible
        # if the P is retaken from the syscall.
        return await gosched.syscall(ev.wait, 10.0)

    assert run(main, maxprocs=1) is True


def test_syscall_outside_goroutine() -> None:
    with pytest.raises(RuntimeError, match="outside a goroutine"):
        drive(gosched.syscall(time.sleep, 0))  # type: ignore[arg-type]


# --- foreign awaitables ----------------------------------------------------------------------------


def test_foreign_awaitable_in_main_is_an_error_not_a_silent_exit() -> None:
    # regression: fixed in 0d21914 (a bare yield ended the goroutine silently)
    import asyncio

    async def main() -> str:
        await asyncio.sleep(0)
        return "after"

    try:
        r = run(main)
    except Exception:
        return  # a clear error is fine
    assert r == "after", f"main ended silently with {r!r}"


def test_foreign_awaitable_in_goroutine_is_an_error_not_a_silent_exit() -> None:
    import asyncio

    async def g(out: list[str]) -> None:
        await asyncio.sleep(0)
        out.append("after")

    async def main() -> list[str]:
        out: list[str] = []
        gosched.go(g, out)
        await gosched.sleep(0.05)
        return out

    try:
        out = run(main, maxprocs=1)
    except Exception:
        return
    assert out == ["after"], "the goroutine vanished without an error"


def test_foreign_future_is_an_error() -> None:
    import asyncio

    async def main() -> None:
        loop = asyncio.new_event_loop()
        try:
            await loop.create_future()
        finally:
            loop.close()

    with pytest.raises(Exception):  # noqa: B017 - any clear error, not a hang
        run(main, timeout=10)
