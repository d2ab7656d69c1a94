"""Reading the service's log and metrics back: parsing, percentiles, windows, traffic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_course.data import make_synthetic_housing
from mlops_course.monitoring import (
    MonitoringError,
    error_by_window,
    histogram_quantile,
    join_labels,
    parse_metrics,
    production_traffic,
    prometheus_config,
    read_prediction_log,
)


def test_parse_metrics_and_histogram_quantile() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    registry = CollectorRegistry()
    h = Histogram("lat_seconds", "latency", buckets=(0.001, 0.002, 0.004, 0.008),
                  registry=registry)
    for value in [0.0005] * 50 + [0.0015] * 40 + [0.003] * 10:
        h.observe(value)
    metrics = parse_metrics(generate_latest(registry).decode())
    assert metrics["lat_seconds_count"] == 100
    buckets = {float(k.split('le="')[1].rstrip('"}')): v for k, v in metrics.items()
               if k.startswith("lat_seconds_bucket")}
    # PromQL's rule: the 95th of 100 lies in (0.002, 0.004], halfway through its 10
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.003)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001)


def test_prediction_log_windows_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = [{"ts": 1_700_000_000 + i, "request_id": i + 1, "model_version": "v1",
              "endpoint": "/predict", "features": {"median_income": 3.0},
              "prediction_usd": 100_000.0 + 1000 * i, "latency_ms": 0.5} for i in range(6)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    log = read_prediction_log(path)
    assert len(log) == 6 and "median_income" in log and str(log["ts"].dt.tz) == "UTC"
    joined = join_labels(log, {1: 100_000.0, 2: 100_000.0, 5: 100_000.0})
    assert list(joined["abs_error_usd"]) == [0.0, 1000.0, 4000.0]
    by_block = error_by_window(joined, 2)
    assert list(by_block["mae_usd"]) == [500.0, 4000.0]
    joined["day"] = [1, 1, 2]
    assert list(error_by_window(joined, "day")["rows"]) == [2, 1]
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(MonitoringError, match="line 7"):
        read_prediction_log(path)
    with pytest.raises(MonitoringError, match="Fix: start the service"):
        read_prediction_log(tmp_path / "missing.jsonl")


def test_production_traffic_drifts_as_asked() -> None:
    rows = make_synthetic_housing(2000, seed=1)
    clean = production_traffic(rows, 1000, seed=2)
    again = production_traffic(rows, 1000, seed=2)
    pd.testing.assert_frame_equal(clean, again)  # seeded
    inflated = production_traffic(rows, 1000, seed=2, income_inflation=0.5, price_inflation=0.2)
    assert inflated["median_income"].max() <= 15.0001
    assert inflated["median_income"].mean() > 1.3 * clean["median_income"].mean()
    inland = production_traffic(rows, 1000, seed=2, inland_weight=5)
    share = lambda f: np.mean(f["ocean_proximity"].astype(str) == "INLAND")  # noqa: E731
    assert share(inland) > 1.5 * share(clean)


def test_prometheus_config_uses_integer_durations() -> None:
    text = prometheus_config("127.0.0.1:8000", scrape_interval_s=0.5, rules_file="r.yml")
    assert "scrape_interval: 500ms" in text and "127.0.0.1:8000" in text
