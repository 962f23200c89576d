"""asyncio on gosched: the event loop (loop.py) and tasks as goroutines (task.py)."""
