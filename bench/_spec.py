"""What a workload declares: its metrics, sizes and how many runs it gets."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"
    fmt: str = "{:,.0f}"


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    metrics: tuple[Metric, ...]
    full: dict[str, Any]
    quick: dict[str, Any]
    runs: int = 3
    runtimes: tuple[str, ...] = ("gosched", "asyncio", "uvloop", "trio", "gevent", "go")
    timeout_s: float = 120.0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# In the order the suite runs and the table shows them.
WORKLOAD_MODULES = (
    "spawn",
    "pingpong",
    "fanin",
    "timers",
    "echo_suite",
    "liveness_suite",
    "crowd",
    "idle",
    "memory",
    "aioloop",
)


def load(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")


def all_workloads() -> list[tuple[Workload, ModuleType]]:
    out = []
    for mod_name in WORKLOAD_MODULES:
        mod = load(mod_name)
        for w in mod.WORKLOADS:
            out.append((w, mod))
    return out
