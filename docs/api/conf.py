"""Sphinx configuration for gosched's API reference, generated from the docstrings.

Build: ``python -m sphinx -W --keep-going -b html docs/api docs/api/_build`` (CI does, with
warnings as errors).
"""

from __future__ import annotations

project = "gosched"
author = "The gosched developers"
copyright = "2026, The gosched developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
exclude_patterns = ["_build"]
html_theme = "alabaster"

# Members of public classes that are the runtime's, not the API: the scheduler, select,
# checkdead and the blocking API reach them across modules on hot paths, so they keep
# their Go-style names (no leading underscore) and are left out of the reference instead.
RUNTIME_INTERNAL = {
    "Chan.buf",
    "Chan.closed",
    "Chan.dataqsiz",
    "Chan.fusers",
    "Chan.lock",
    "Chan.recvlocked",
    "Chan.recvq",
    "Chan.sendlocked",
    "Chan.sendq",
    "Chan.trysend",
    "Chan.waiters",
    "Chan.waitqs",
    "Mutex.fusers",
    "Mutex.owner",
    "Mutex.waiters",
    "RWMutex.owner",
    "RWMutex.rowners",
    "WaitGroup.fusers",
}


# A __slots__ field reaches the hook as autodoc's SLOTS_ATTR sentinel, without its class:
# those are matched by name (no public class has a public field of these names).
INTERNAL_SLOTS = {q.partition(".")[2] for q in RUNTIME_INTERNAL}


def _skip_runtime_internal(app: object, what: str, name: str, obj: object, skip: bool, options: object) -> bool:
    if repr(obj) == "SLOTS_ATTR":
        return skip or name in INTERNAL_SLOTS
    return skip or getattr(obj, "__qualname__", None) in RUNTIME_INTERNAL


def setup(app: object) -> None:
    app.connect("autodoc-skip-member", _skip_runtime_internal)  # type: ignore[attr-defined]
