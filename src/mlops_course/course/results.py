"""Key results of a lesson, recorded in the notebook and read back by the runner.

A lesson's closing cell calls :func:`record_metrics`. The values travel inside
the executed notebook as a display output with their own MIME type, so the
runner (and the regression tests) read them from the notebook itself: no side
files, nothing left behind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

METRICS_MIME = "application/vnd.mlops-course.metrics+json"


def _plain(value: Any) -> float | int | str | bool:
    """Turn numpy scalars into plain JSON values; reject what JSON cannot hold."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"metric value {value!r} is not finite")
        return value
    raise TypeError(f"metric values must be numbers or strings, got {type(value).__name__}")


def record_metrics(**metrics: Any) -> dict[str, Any]:
    """Show the lesson's key metrics as a table and record them for the course summary.

    Examples
    --------
    >>> record_metrics(test_rmse_usd=48210.5)  # doctest: +SKIP
    """
    values = {name: _plain(value) for name, value in metrics.items()}
    width = max((len(name) for name in values), default=0)
    lines = [f"{name:<{width}}  {value:,.4g}" if isinstance(value, float) else
             f"{name:<{width}}  {value}" for name, value in values.items()]
    try:
        from IPython.display import display
    except ImportError:  # outside IPython: just print
        print("\n".join(lines))
        return values
    display({METRICS_MIME: values, "text/plain": "\n".join(lines)}, raw=True)
    return values


def read_metrics(notebook: Mapping[str, Any]) -> dict[str, Any]:
    """Collect every metric recorded in an executed notebook (later calls win)."""
    found: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if METRICS_MIME in data:
                payload = data[METRICS_MIME]
                found.update(json.loads(payload) if isinstance(payload, str) else payload)
    return found
