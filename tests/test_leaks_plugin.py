"""The pytest plugin's goleak: ``--gosched-leaks`` and the ``gosched_leaks`` marker (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TIMEOUT = 60

TESTS = """
import pytest
import gosched

async def waiter(ch):
    await ch.recv()

@pytest.mark.gosched
async def test_leaks_a_receiver():
    g = gosched.go(waiter, gosched.Chan())
    while g.state != "chan receive":
        await gosched.sleep(0.001)

@pytest.mark.gosched
async def test_leaves_a_sleeper():
    g = gosched.go(gosched.sleep, 3600)
    while g.state != "sleep":
        await gosched.sleep(0.001)

@pytest.mark.gosched
async def test_clean():
    ch = gosched.Chan()
    gosched.go(ch.send, 1)
    await ch.recv()

@pytest.mark.gosched
@pytest.mark.gosched_leaks
async def test_marked():
    g = gosched.go(waiter, gosched.Chan())
    while g.state != "chan receive":
        await gosched.sleep(0.001)
"""


def test_leaks_option_fails_tests_that_leave_goroutines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    r = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--gosched-leaks", timeout=TIMEOUT)
    r.assert_outcomes(passed=1, failed=3)
    r.stdout.fnmatch_lines(
        [
            "*gosched: found unexpected goroutines when the test returned (1 left, 1 leaked):",
            "",
            "goroutine 2 [[]chan receive (leaked)[]]:",
            "test_leaks_option_fails_tests_that_leave_goroutines.waiter(...)",
        ]
    )
    r.stdout.fnmatch_lines(["*(1 left, 0 leaked):", "", "goroutine 2 [[]sleep[]]:"])


def test_without_the_option_only_the_marked_test_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    r = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=TIMEOUT)
    r.assert_outcomes(passed=3, failed=1)
    r.stdout.fnmatch_lines(["*test_marked*"])
