"""The pytest plugin, tested with pytester in subprocesses (one runtime per process)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

TIMEOUT = 60  # seconds for each inner pytest run: a bug fails instead of hanging


def test_entry_point_is_registered() -> None:
    eps = [e for e in entry_points(group="pytest11") if e.name == "gosched"]
    assert [e.value for e in eps] == ["gosched.pytest_plugin"]


def test_marker_deadlock_timeout_and_fake_clock(pytester: pytest.Pytester) -> None:
    # One inner run for speed: each runpytest_subprocess costs a Python start-up.
    pytester.makepyfile(
        """
        import time, pytest, gosched

        @pytest.fixture
        def n():
            return 21

        @pytest.mark.gosched
        async def test_channel(n):
            c = gosched.Chan()
            gosched.go(c.send, n * 2)
            assert await c.recv() == 42

        @pytest.mark.gosched(maxprocs=3)
        async def test_maxprocs():
            assert gosched.gomaxprocs() == 3

        @pytest.mark.gosched(clock="fake")
        async def test_fake_clock():
            t0 = gosched.now()
            await gosched.sleep(3600)
            assert gosched.now() - t0 == 3600
            assert t0 == 946684800.0

        def test_plain():
            assert True

        @pytest.mark.gosched
        async def test_stuck():
            await gosched.Chan().recv()

        @pytest.mark.gosched(timeout=0.5)
        async def test_hangs():
            await gosched.syscall(time.sleep, 30)   # not a deadlock: a syscall may return

        @pytest.mark.gosched
        async def test_next_one_still_runs():
            assert gosched.num_goroutine() == 1

        @pytest.mark.gosched(clock="fake")
        async def test_leak():
            gosched.go(gosched.select)
        """
    )
    r = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=TIMEOUT)
    r.assert_outcomes(passed=5, failed=3)
    r.stdout.fnmatch_lines(
        [
            "*fatal error: all goroutines are asleep - deadlock!",
            "",
            "goroutine 1 [[]chan receive[]]:",
            "test_marker_deadlock_timeout_and_fake_clock.test_stuck(...)",
        ]
    )
    r.stdout.fnmatch_lines(["*test timed out after 0.5s", "", "goroutine 1 [[]syscall[]]:"])
    r.stdout.fnmatch_lines(
        [
            "*deadlock: main bubble goroutine has exited but blocked goroutines remain",
            "",
            "goroutine 2 [[]select (no cases) (durable), synctest bubble 1[]]:",
        ]
    )
    assert r.duration < 30


def test_all_option_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import gosched

        async def test_unmarked():
            await gosched.sleep(60)
            assert gosched.now() == 946684860.0
        """
    )
    # In-process (fast): these runs cannot hang, and the runtime is gone after each.
    r = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--gosched-all", "--gosched-clock=fake")
    r.assert_outcomes(passed=1)
    pytester.makeini("[pytest]\ngosched_all = true\ngosched_clock = fake\n")
    r = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    r.assert_outcomes(passed=1)


def test_deadlock_dump_is_printed_once(pytester: pytest.Pytester) -> None:
    # The failure used to be raised inside the except clause, so pytest printed
    # the Deadlock, "During handling of the above exception...", then the dump again.
    pytester.makepyfile(
        """
        import pytest, gosched

        @pytest.mark.gosched
        async def test_stuck():
            await gosched.Chan().recv()
        """
    )
    # -rN: no short summary, which repeats the whole message where pytest thinks it runs on CI.
    r = pytester.runpytest_inprocess("-q", "-rN", "-p", "no:cacheprovider")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert out.count("goroutine 1 [chan receive]:") == 1, out
    assert out.count("fatal error: all goroutines are asleep - deadlock!\n") == 1, out
    assert "During handling" not in out, out


def test_unmarked_async_test_names_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        async def test_unmarked():
            pass

        @pytest.mark.gosched
        async def test_marked():
            pass
        """
    )
    r = pytester.runpytest_inprocess("-q", "-rN", "-p", "no:cacheprovider")  # -rN: as above
    r.assert_outcomes(passed=1, failed=1)
    out = r.stdout.str()
    # pytest's own words stay, and the hint follows them.
    assert out.count("async def functions are not natively supported") == 1, out
    assert out.count("mark the test @pytest.mark.gosched") == 1, out
    r.stdout.fnmatch_lines(["*_ test_unmarked _*", "async def functions are not natively supported.",
                            "*", "*", "*", "*", "*", "*",
                            "gosched: mark the test @pytest.mark.gosched *--gosched-all*"])
