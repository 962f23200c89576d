"""sysmon at work: a 1 ms ticker keeps ticking while another goroutine blocks or spins.

One goroutine makes a blocking call it forgot to wrap (``time.sleep``), then spins
a CPU loop; a second one ticks every millisecond. With GOMAXPROCS=1 an asyncio
program would stall the ticker for the whole 0.3 s each time; here sysmon hands
the stuck P to another M and the ticker's largest gap stays in the tens of ms.
At the end, the blocking profile names the two call sites.
"""

from __future__ import annotations

import time
import warnings

import gosched
from gosched import debug


async def ticker(stop: gosched.Chan[None], gaps: list[float]) -> None:
    tick = gosched.Ticker(0.001)
    last = time.perf_counter()
    while True:
        idx, _, _ = await gosched.select(gosched.recv(tick.c), gosched.recv(stop))
        if idx == 1:
            tick.stop()
            return
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def slow_io() -> None:
    time.sleep(0.3)  # a blocking call that should have been gosched.syscall(time.sleep, 0.3)


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:  # a CPU loop with no await in it
        pass


async def main() -> None:
    stop: gosched.Chan[None] = gosched.Chan()
    gaps: list[float] = []
    done = gosched.WaitGroup()
    done.add(1)

    async def run_ticker() -> None:
        await ticker(stop, gaps)
        done.done()

    gosched.go(run_ticker)
    await gosched.sleep(0.05)
    for what, work in (("an unwrapped time.sleep(0.3)", slow_io), ("a 0.3 s CPU loop", lambda: busy(0.3))):
        gaps.clear()
        work()
        await gosched.sleep(0.02)
        print(f"during {what}: ticker's largest gap {max(gaps) * 1e3:.1f} ms over {len(gaps)} ticks")
    stop.close()
    await done.wait()
    print("blocking profile (call sites that held a P until sysmon took it):")
    for site in debug.blocking_profile():
        print(f"  {site.filename}:{site.lineno} in {site.function}: "
              f"{site.count}x, {site.total_seconds * 1e3:.0f} ms held")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gosched.BlockingWarning)  # the profile says it all
        gosched.run(main, maxprocs=1)
