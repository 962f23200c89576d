"""Build the optional C accelerator (src/gosched/_runtime/_speedups.c).

Everything else is in pyproject.toml. The extension is optional: if it cannot be
built (no compiler, another Python implementation), gosched runs on its
pure-Python path, which is the reference. It is not built for a free-threaded
CPython, whose runtime uses the pure-Python path (see docs/design.md).
"""

import sys
import sysconfig

from setuptools import Extension, setup

ext_modules = []
if sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED"):
    ext_modules.append(
        Extension(
            "gosched._runtime._speedups",
            ["src/gosched/_runtime/_speedups.c"],
            depends=[
                "src/gosched/_runtime/_speedups_chan.h",  # included by _speedups.c
                "src/gosched/_runtime/_speedups_sched.h",
                "src/gosched/_runtime/_speedups_poll.h",
                "src/gosched/_runtime/_speedups_sync.h",
            ],
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
