"""Measure speed properly: warm-up, repeats, median and spread, ratios from one run.

A single timing of a fast function says little: the first calls pay for caches, lazy
initialisation and compilation, and a shared machine adds noise. This module times
several candidates the same way and reports ratios against a baseline measured in the
same run (interleaved, so that a busy moment hurts every candidate alike)::

    table = compare({"eager": f, "onnxruntime": g}, baseline="eager", rows=1)
    print(environment_report())

Nothing happens at import.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate: median, quartiles and the number of samples.

    ``samples`` repeats were taken, each the mean of ``number`` back-to-back calls.
    """

    name: str
    median_s: float
    q1_s: float
    q3_s: float
    samples: int
    number: int

    @property
    def spread_pct(self) -> float:
        """The interquartile range as a percentage of the median."""
        return 100.0 * (self.q3_s - self.q1_s) / self.median_s if self.median_s else 0.0


def _calibrate(fn: Callable[[], Any], target_s: float) -> int:
    """How many calls make one repeat last about ``target_s`` (at least one)."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, min(10_000, int(target_s / once)))


def measure(
    candidates: Mapping[str, Callable[[], Any]],
    *,
    warmup: int = 3,
    repeats: int = 15,
    target_s: float = 0.01,
) -> dict[str, Timing]:
    """Time each zero-argument callable: ``warmup`` calls, then ``repeats`` rounds.

    Rounds are interleaved (a, b, c, a, b, c, ...), so a slow moment of a shared machine
    touches every candidate. Each repeat calls a candidate ``number`` times in a row,
    with ``number`` chosen so that a repeat lasts about ``target_s``: timer resolution
    and loop overhead then stay negligible even for calls of microseconds.

    Examples
    --------
    >>> timings = measure({"sum": lambda: sum(range(100))}, warmup=1, repeats=3)
    >>> timings["sum"].samples
    3
    """
    if not candidates:
        raise ValueError("measure() needs at least one candidate, e.g. {'eager': fn}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    numbers = {name: _calibrate(fn, target_s) for name, fn in candidates.items()}
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            number = numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    timings = {}
    for name, values in samples.items():
        values.sort()
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        timings[name] = Timing(name, statistics.median(values), quartiles[0], quartiles[2],
                               len(values), numbers[name])
    return timings


def compare(
    candidates: Mapping[str, Callable[[], Any]],
    *,
    baseline: str,
    rows: int = 1,
    warmup: int = 3,
    repeats: int = 15,
    target_s: float = 0.01,
) -> Any:
    """A table of the candidates' speed, with ratios against ``baseline`` from the same run.

    Columns: ``median_ms`` (per call), ``spread_pct`` (interquartile range / median),
    ``rows_per_s`` (``rows`` per call / median), ``speedup`` (baseline median / median:
    above 1 is faster than the baseline). Returns a pandas DataFrame indexed by name.
    """
    import pandas as pd

    if baseline not in candidates:
        raise ValueError(f"baseline {baseline!r} is not among the candidates "
                         f"{sorted(candidates)}; name one of them")
    timings = measure(candidates, warmup=warmup, repeats=repeats, target_s=target_s)
    base = timings[baseline].median_s
    return pd.DataFrame(
        {name: {"median_ms": t.median_s * 1e3, "spread_pct": t.spread_pct,
                "rows_per_s": rows / t.median_s, "speedup": base / t.median_s,
                "calls_per_repeat": t.number}
         for name, t in timings.items()}).T.rename_axis(f"batch of {rows:,}")


def time_once(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Call ``fn`` once; return its result and the seconds it took (for one-off costs such
    as a compilation, which repeats would hide)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_report() -> dict[str, str]:
    """Hardware and versions a timing depends on, as printable strings.

    Lists the CPU, the cores this process may use, the thread settings, Python and the
    versions of torch, onnxruntime and NumPy when they are installed, and the GPU if
    CUDA sees one.
    """
    from importlib import metadata

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report = {"cpu": _cpu_name(), "cores available": str(cores),
              "python": platform.python_version(), "platform": platform.platform(terse=True)}
    for package in ("torch", "torchao", "onnxruntime", "numpy", "scikit-learn"):
        try:
            report[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        report["torch threads"] = str(torch.get_num_threads())
        report["gpu"] = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                         else "none (CUDA not available)")
    report["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "unset")
    return report


def format_report(report: Mapping[str, str]) -> str:
    """The environment report as aligned ``key: value`` lines."""
    width = max(len(key) for key in report)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in report.items())
