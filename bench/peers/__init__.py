"""The same workloads written the idiomatic way for each peer runtime.

``aio``: asyncio (``create_task`` + ``gather``, ``asyncio.Queue``), also run on uvloop;
``trio_``: nurseries and memory channels; ``gevent_``: ``spawn``/``joinall`` and
``gevent.queue``. Each function returns the workload's metrics as a dict.
"""
