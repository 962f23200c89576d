"""A worker pool: 4 goroutines square 100 jobs from a channel (prints 328350)."""

from __future__ import annotations

import gosched


async def worker(jobs: gosched.Chan[int], results: gosched.Chan[int], wg: gosched.WaitGroup) -> None:
    async for j in jobs:  # ends when jobs is closed and drained
        await results.send(j * j)
    wg.done()


async def main() -> int:
    jobs, results = gosched.Chan[int](100), gosched.Chan[int](100)
    wg = gosched.WaitGroup()
    for _ in range(4):
        wg.add(1)
        gosched.go(worker, jobs, results, wg)
    for j in range(100):
        await jobs.send(j)
    jobs.close()
    await wg.wait()
    results.close()
    return sum([v async for v in results])


if __name__ == "__main__":
    print(gosched.run(main))  # 328350
