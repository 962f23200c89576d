"""The ``python -m gosched`` commands, one module each (``main(argv) -> int`` and ``HELP``)."""
