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


def model_variants_report(*, fast: bool = True, repeats: int | None = None,
                          large_batch: int = 4096, progress: bool = False,
                          include_compile: bool = True) -> Any:
    """Lessons 6 and 7 in one run: the house-price MLP executed and stored every way.

    Trains the course's MLP (seeded; fast: 5,000 districts), then builds its variants —
    eager fp32 (the baseline), ``torch.compile``, ONNX Runtime fp32, fp16 and bf16 casts,
    torchao int8 weight-only and dynamic, ONNX Runtime static int8 — and measures them
    interleaved at batch 1 and at ``large_batch``, with one thread. Returns a DataFrame
    with, per variant, the size in bytes and its ratio to fp32, the speed-ups against
    eager at both batch sizes, the test RMSE and its change against fp32 (in %).
    Writes its ONNX files and Inductor's cache under ``build/``. ``include_compile=False``
    leaves ``torch.compile`` out (its cold compile takes seconds per batch size).
    """
    import tempfile

    import pandas as pd
    import torch

    from mlops_course import accelerate, config
    from mlops_course import quantize as qz
    from mlops_course.torch_model import train_house_price_mlp

    torch.set_num_threads(1)
    repeats = repeats or (5 if fast else 15)
    if include_compile:
        accelerate.setup_inductor()
    run = train_house_price_mlp(fast=fast, progress=progress)
    model, X_test = run.model, run.X_test
    x1 = X_test[:1]
    x_large = X_test[torch.arange(large_batch) % len(X_test)].contiguous()
    config.build_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=config.build_dir(), prefix="bench-") as tmp:
        onnx32 = accelerate.export_onnx(model, x1, f"{tmp}/fp32.onnx")
        onnx8 = qz.onnx_static_int8(onnx32, run.X_train, f"{tmp}/int8.onnx")
        sessions = {"ONNX Runtime fp32": accelerate.onnx_session(onnx32),
                    "ONNX Runtime int8 static": accelerate.onnx_session(onnx8)}
        sizes = {"ONNX Runtime fp32": onnx32.stat().st_size,
                 "ONNX Runtime int8 static": onnx8.stat().st_size}
    modules = {"eager fp32": model, "fp16": qz.cast_model(model, torch.float16),
               "bf16": qz.cast_model(model, torch.bfloat16),
               "int8 weight-only (torchao)": qz.int8_weight_only(model),
               "int8 dynamic (torchao)": qz.int8_dynamic(model)}
    sizes.update({name: qz.saved_bytes(m) for name, m in modules.items()})
    compiled = ({len(x): accelerate.compile_model(model, x)[0] for x in (x1, x_large, X_test)}
                if include_compile else {})

    def runner(name: str) -> Callable[[Any], Any]:
        if name in sessions:
            session = sessions[name]
            return lambda x: torch.from_numpy(session.run(None, {"features": x.numpy()})[0])
        if name == "torch.compile":
            return lambda x: compiled[len(x)](x)
        return modules[name]

    names = ["eager fp32", "torch.compile", "ONNX Runtime fp32", "fp16", "bf16",
             "int8 weight-only (torchao)", "int8 dynamic (torchao)", "ONNX Runtime int8 static"]
    if not include_compile:
        names.remove("torch.compile")
    fns = {name: runner(name) for name in names}
    rmse = {name: run.test_rmse_usd(fn) for name, fn in fns.items()}
    speed = {}
    for label, x in (("batch 1", x1), (f"batch {large_batch:,}", x_large)):
        def call(fn: Callable[[Any], Any], x: Any = x) -> Callable[[], Any]:
            def go() -> Any:
                with torch.inference_mode():
                    return fn(x)
            return go
        table = compare({n: call(fn) for n, fn in fns.items()}, baseline="eager fp32",
                        rows=len(x), repeats=repeats)
        speed[f"speedup {label}"] = table["speedup"]
    base_rmse, base_size = rmse["eager fp32"], sizes["eager fp32"]
    if include_compile:
        sizes["torch.compile"] = base_size
    return pd.DataFrame({
        "size_bytes": sizes,
        "size_vs_fp32": {n: base_size / s for n, s in sizes.items()},
        **speed,
        "test_rmse_usd": rmse,
        "rmse_delta_pct": {n: 100 * (r - base_rmse) / base_rmse for n, r in rmse.items()},
    }).loc[names]
