"""The README's examples run as documented (each in its own interpreter)."""

from __future__ import annotations

import subprocess
import sys

from _proc_helpers import signal_when_ready


def _run(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"gosched.examples.{name}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_workers_prints_the_sum_of_squares() -> None:
    r = _run("workers")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "328350"


def test_pipeline_times_out_once_and_delivers_every_square() -> None:
    r = _run("pipeline")
    assert r.returncode == 0, r.stderr
    assert "timeout waiting for a value" in r.stdout
    assert f"squares: {[i * i for i in range(20)]}" in r.stdout


def test_deadlock_example_exits_2_with_gos_message_and_dump() -> None:
    r = _run("deadlock")
    assert r.returncode == 2
    assert r.stderr.startswith("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [")
    assert "[chan receive]" in r.stderr and "created by __main__.main in goroutine 1" in r.stderr


def test_blocking_example_keeps_the_ticker_alive_and_names_both_sites() -> None:
    r = _run("blocking")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "largest gap" in line]
    gaps = [float(line.split("largest gap ")[1].split(" ms")[0]) for line in lines]
    assert len(gaps) == 2 and max(gaps) < 250, r.stdout  # asyncio: ~300 ms each
    assert "in slow_io" in r.stdout and "in busy" in r.stdout


def test_tour_shows_liveness_against_asyncio_the_blame_and_a_deadlock() -> None:
    r = _run("tour")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.strip().startswith("during ")]
    assert len(rows) == 2, r.stdout
    for row in rows:
        slow = float(row.split("asyncio")[1].split("ms")[0])
        fast = float(row.split("gosched")[1].split("ms")[0])
        assert slow > 250 and fast < slow, r.stdout  # asyncio's loop freezes for the whole call
    assert "BlockingWarning" in r.stdout and "in load_config at" in r.stdout, r.stdout
    assert "all goroutines are asleep - deadlock!" in r.stdout and "[chan receive]" in r.stdout, r.stdout


def test_cancel_example_stops_its_pipeline_by_deadline_and_by_first_error_leaving_no_goroutine() -> None:
    r = _run("cancel")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    assert lines[0].startswith("deadline: ")
    assert lines[0].endswith("then context deadline exceeded; goroutines left: 1")
    assert lines[1] == "first error: ValueError('cannot square 5'); goroutines left: 1"


def test_cancel_example_pipeline_on_the_fake_clock() -> None:
    import gosched
    from _core_helpers import run
    from gosched import context
    from gosched.examples import cancel

    async def main() -> tuple[list[int], str, int, str, int]:
        ctx, stop = context.with_timeout(context.background(), 0.1)
        got = await cancel.pipeline(ctx)
        stop()
        left = gosched.num_goroutine()
        try:
            await cancel.pipeline(context.background(), bad=5)
            err = "none"
        except ValueError as e:
            err = str(e)
        return got, str(ctx.err()), left, err, gosched.num_goroutine()

    got, why, left, err, left2 = run(main, clock="fake", maxprocs=1)
    assert 10 <= len(got) <= 11 and got == [i * i for i in range(len(got))]  # one every 10 ms for 0.1 s
    assert (why, left, err, left2) == ("context deadline exceeded", 1, "cannot square 5", 1)


def test_cancel_example_stops_its_pipeline_by_ctrl_c_leaving_no_goroutine() -> None:
    import signal

    rc, out, err = signal_when_ready(
        [sys.executable, "-m", "gosched.examples.cancel", "ctrl-c"], signal.SIGINT,
        ready="squaring until Ctrl-C\n", timeout=60,
    )
    assert rc == 0, err
    assert out.startswith("Ctrl-C: "), out
    assert out.endswith(" squares, then context canceled; goroutines left: 1\n"), out
