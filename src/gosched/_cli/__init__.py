"""The subcommands of ``python -m gosched``: one module each, with ``main(argv) -> int`` and ``HELP``."""
