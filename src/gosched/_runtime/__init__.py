"""gosched's runtime internals. The public API is the ``gosched`` package."""
