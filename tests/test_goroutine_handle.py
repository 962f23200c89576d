"""gosched.Goroutine: the read-only handle go() returns (C and Python go() alike)."""

from __future__ import annotations

import pytest

import gosched
from gosched._runtime import main

IMPLS = {"python": main.pygo}
if main.cgo is not None:
    IMPLS["c"] = main.cgo


async def worker(c: gosched.Chan[int]) -> None:
    await c.recv()


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_handle_identity_state_and_repr(impl: str) -> None:
    go = IMPLS[impl]

    async def main_() -> None:
        c = gosched.Chan[int]()
        g = go(worker, c)
        line = main_.__code__.co_firstlineno + 2  # the go() call above
        assert type(g) is gosched.Goroutine
        assert g.id > 1 and g.name == "worker" and not g.done
        assert g.state == "runnable"
        assert repr(g) == f"<Goroutine {g.id} worker [runnable]>"
        assert g.created_by == (__file__, line, f"{__name__}.{main_.__qualname__}")
        while g.state != "chan receive":
            await gosched.gosched()
        assert repr(g) == f"<Goroutine {g.id} worker [chan receive]>"
        await c.send(1)
        while not g.done:
            await gosched.gosched()
        # Identity outlives the goroutine: the G drops its coroutine when it ends.
        assert (g.name, g.state, repr(g)) == ("worker", "dead", f"<Goroutine {g.id} worker [dead]>")
        assert g.created_by is not None and g.created_by[1] == line

    gosched.run(main_)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_handle_is_read_only_and_hashable(impl: str) -> None:
    go = IMPLS[impl]

    async def main_() -> None:
        g = go(gosched.sleep, 0)
        for attr in ("id", "name", "state", "done", "created_by"):
            with pytest.raises(AttributeError):
                setattr(g, attr, 1)
        with pytest.raises(AttributeError):
            g.status = 1  # type: ignore[attr-defined]  # the G's fields are not on the handle
        for internal in ("status", "coro", "waitreason", "m", "preempt", "goid"):
            assert not hasattr(g, internal)
        assert g == g and g != go(gosched.sleep, 0) and len({g, g}) == 1

    gosched.run(main_)


def test_goroutine_is_not_the_runtimes_g() -> None:
    from gosched._runtime.runtime2 import G

    assert gosched.Goroutine is not G and not issubclass(gosched.Goroutine, G)


def test_run_forwards_only_positional_arguments() -> None:
    """run()'s keywords are its own options (as trio's): a keyword for main is a TypeError,
    not forwarded where it could collide with maxprocs/clock; functools.partial passes them."""
    import functools

    async def main_(a: int, *, clock: str = "", **kw: int) -> tuple[int, str]:
        return a, clock

    with pytest.raises(TypeError, match=r"^run\(\) got an unexpected keyword argument 'b'"):
        gosched.run(main_, 1, b=2)  # type: ignore[call-arg]
    assert gosched.run(main_, 1) == (1, "")
    assert gosched.run(functools.partial(main_, 1, clock="mine"), clock="fake") == (1, "mine")
