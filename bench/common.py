"""Helpers shared by the benchmarks: repeat, take medians, write JSON with the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CAL_N = 1_000_000


def machine() -> dict[str, object]:
    """What the figures were measured on (they mean little without it)."""
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def median_of(fn: Callable[[], float], repeats: int) -> tuple[float, list[float]]:
    """Run ``fn`` (which returns one figure) ``repeats`` times; the median and all samples."""
    samples = [fn() for _ in range(repeats)]
    return statistics.median(samples), samples


def write_json(name: str, data: dict[str, object], path: str | None = None) -> Path:
    """Write ``data`` plus the machine description; returns the file written."""
    out = Path(path) if path else RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": name, "machine": machine(), **data}, indent=2))
    return out


def calibration(n: int = CAL_N, repeats: int = 3) -> float:
    """A fixed pure-Python loop (float arithmetic, a list index, a dict lookup, a call): millions
    of iterations per second, the best of ``repeats`` (a neighbour's burst only ever slows a
    repeat down). Only its ratio to the same loop elsewhere means anything."""
    d = {i: float(i) for i in range(64)}
    xs = [0.5] * 64

    def f(x: float) -> float:
        return x * 1.0000001 + 0.5

    best = 0.0
    for _ in range(repeats):
        acc = 0.0
        t0 = time.perf_counter()
        for i in range(n):
            k = i & 63
            acc = f(acc * 0.5 + xs[k] - d[k] * 1e-9)
        dt = time.perf_counter() - t0
        assert acc == acc
        best = max(best, n / dt / 1e6)
    return best
