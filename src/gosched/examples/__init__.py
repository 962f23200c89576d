"""Runnable examples: ``python -m gosched.examples.<name>``.

* ``workers``  -- a worker pool over buffered channels and a WaitGroup.
* ``pipeline`` -- stages joined by channels, with select, timeouts and a ticker.
* ``deadlock`` -- a deliberate deadlock: gosched stops it and shows why.
* ``blocking`` -- sysmon keeps a ticker alive while a goroutine blocks or spins.
* ``cancel``   -- a pipeline stopped by a deadline and by a first error (context, errgroup).
"""
