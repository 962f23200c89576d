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
