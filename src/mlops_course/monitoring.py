"""Monitoring (lesson 9): the prediction service's own log and metrics, read back.

* :func:`read_prediction_log` — the service's JSON-lines prediction log as a DataFrame
  (one row per prediction: time, request id, model version, inputs, prediction);
* :func:`join_labels` and :func:`error_by_window` — once true values arrive, the model's
  error per time window (performance decay), per model version;
* :func:`parse_metrics` — Prometheus text format (``GET /metrics``) as plain numbers,
  for when no Prometheus server runs;
* :class:`PrometheusServer` / :func:`run_prometheus` — a real Prometheus on 127.0.0.1
  scraping the service, with alerting rules, queried with PromQL over its HTTP API.

Nothing happens at import.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError

if TYPE_CHECKING:
    import pandas as pd


class MonitoringError(MlopsCourseError):
    """A log, a metrics page or a Prometheus server cannot be read or started."""


def read_prediction_log(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The service's prediction log as a DataFrame: ``ts`` (datetime, UTC),
    ``request_id``, ``model_version``, ``endpoint``, ``prediction_usd``, ``latency_ms`` and
    one column per input field. A line that is not JSON raises with its line number."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise MonitoringError(f"No prediction log at {path}.\nFix: start the service with "
                              "a log file (`mlops-course serve --log-file PATH`) and send it "
                              "requests first.")
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MonitoringError(f"{path}, line {number}: not JSON ({exc}).\nFix: the "
                                      "log is written by the service only; was it edited "
                                      "or truncated?") from exc
            features = record.pop("features", {})
            records.append({**record, **features})
    frame = pd.DataFrame(records)
    if len(frame):
        frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    return frame


def join_labels(log: pd.DataFrame, labels: Mapping[int, float]) -> pd.DataFrame:
    """The logged predictions that have a true value (``labels``: request id -> dollars),
    with ``label_usd`` and ``abs_error_usd`` columns."""
    import pandas as pd

    truth = pd.Series(labels, name="label_usd", dtype=float)
    joined = log.join(truth, on="request_id", how="inner")
    joined["abs_error_usd"] = (joined["prediction_usd"] - joined["label_usd"]).abs()
    return joined


def error_by_window(joined: pd.DataFrame, window: str | int, *, by: str | None = None
                    ) -> pd.DataFrame:
    """MAE and RMSE (dollars) and the row count per window: a column of ``joined`` (e.g.
    ``"day"``), a time span (``"1min"``, on ``ts``) or a block of ``window`` consecutive
    requests (an int); optionally per ``by`` column (e.g. ``"model_version"``)."""
    import numpy as np

    frame = joined.sort_values("request_id").copy()
    if isinstance(window, int):
        frame["window"] = np.arange(len(frame)) // window
    elif window in frame.columns:
        frame["window"] = frame[window]
    else:
        frame["window"] = frame["ts"].dt.floor(window)
    keys = ["window", by] if by else ["window"]
    grouped = frame.groupby(keys, observed=True)["abs_error_usd"]
    out = grouped.agg(mae_usd="mean", rows="size")
    out["rmse_usd"] = grouped.apply(lambda e: float(np.sqrt(np.mean(e ** 2))))
    return out


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format as ``{'name{label="v",...}': value}`` (samples only)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return out


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """PromQL's ``histogram_quantile`` on cumulative bucket counts (upper bound -> count),
    interpolating linearly inside the bucket, as Prometheus does."""
    items = sorted(buckets.items())
    total = items[-1][1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in items:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(
                count - lower_count, 1e-12)
        lower_bound, lower_count = bound, count
    return items[-1][0]


def production_traffic(
    rows: pd.DataFrame,
    n: int,
    *,
    seed: int,
    income_inflation: float = 0.0,
    price_inflation: float = 0.0,
    inland_weight: float = 1.0,
) -> pd.DataFrame:
    """Simulated production traffic: ``n`` districts drawn from ``rows`` (with their true
    prices), optionally drifted the way housing data drifts.

    * ``income_inflation``: incomes grow by this share (0.1 = +10%), clipped at the
      census cap; ``price_inflation``: true prices grow by this share (capped at $500,001)
      — prices rising faster than incomes is what makes the model's error grow;
    * ``inland_weight``: inland districts are this many times as likely to be drawn (a
      shift in geography: the service gets popular inland).
    """
    import numpy as np

    from mlops_course.data import TARGET

    rng = np.random.default_rng(seed)
    weights = np.where(rows["ocean_proximity"].astype(str) == "INLAND", inland_weight, 1.0)
    chosen = rng.choice(len(rows), size=n, replace=n > len(rows), p=weights / weights.sum())
    out = rows.iloc[chosen].copy()
    out["median_income"] = (out["median_income"] * (1 + income_inflation)).clip(upper=15.0001)
    out[TARGET] = (out[TARGET] * (1 + price_inflation)).clip(upper=500_001).round()
    return out.reset_index(drop=True)


def send_batches(url: str, rows: pd.DataFrame, *, batch_rows: int = 1000, client: Any = None
                 ) -> list[int]:
    """POST ``rows`` (target dropped) to ``url + /predict/batch`` in batches; return the
    request ids, in order (quote them when the labels arrive)."""
    import math

    import httpx

    from mlops_course.data import TARGET

    records = rows.drop(columns=TARGET, errors="ignore").to_dict(orient="records")
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else
                    (str(v) if k == "ocean_proximity" else v)) for k, v in r.items()}
               for r in records]
    http = client or httpx.Client(timeout=60, trust_env=False)
    ids: list[int] = []
    try:
        for start in range(0, len(records), batch_rows):
            reply = http.post(url + "/predict/batch", json=records[start:start + batch_rows])
            if reply.status_code != 200:
                raise MonitoringError(f"the service refused a batch: {reply.status_code} "
                                      f"{reply.text[:300]}")
            ids += [answer["request_id"] for answer in reply.json()]
    finally:
        if client is None:
            http.close()
    return ids


# -- a real Prometheus ---------------------------------------------------------------------

def prometheus_binary() -> str | None:
    """The ``prometheus`` executable on PATH, or None."""
    return shutil.which("prometheus")


@dataclass(frozen=True)
class PrometheusServer:
    """A running Prometheus: its address, process group, folder and scrape interval."""

    url: str
    pid: int
    folder: Path
    scrape_interval_s: float

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant PromQL query over the HTTP API; returns the result vector."""
        params = {"query": promql, **({"time": f"{at:.3f}"} if at else {})}
        return self._get("/api/v1/query", params)["result"]

    def query_range(self, promql: str, start: float, end: float, step_s: float
                    ) -> list[dict[str, Any]]:
        """A range query: one series of (time, value) per label set."""
        return self._get("/api/v1/query_range", {"query": promql, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step_s}s"}
                         )["result"]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now (state ``pending`` or ``firing``)."""
        return self._get("/api/v1/alerts", {})["alerts"]

    def targets(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/targets", {})["activeTargets"]

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise MonitoringError(f"Prometheus refused {path} {dict(params)}: "
                                  f"{body.get('error')}")
        return body["data"]


def prometheus_config(target: str, *, scrape_interval_s: float, rules_file: str) -> str:
    """A minimal ``prometheus.yml``: one job scraping ``target`` (host:port)."""
    every = f"{round(scrape_interval_s * 1000)}ms"  # Prometheus durations are integers
    return (f"global:\n  scrape_interval: {every}\n"
            f"  evaluation_interval: {every}\n"
            f"rule_files:\n  - {rules_file}\n"
            "scrape_configs:\n  - job_name: house-price-service\n"
            f"    scrape_interval: {every}\n"
            f"    static_configs:\n      - targets: ['{target}']\n")


def alert_rules(rules: Sequence[Mapping[str, Any]]) -> str:
    """Alerting rules as YAML (each: ``alert``, ``expr``, ``for``, ``summary``)."""
    import yaml

    group = {"name": "house-price-service", "rules": [
        {"alert": r["alert"], "expr": r["expr"], "for": r.get("for", "0s"),
         "labels": {"severity": r.get("severity", "warning")},
         "annotations": {"summary": r["summary"]}} for r in rules]}
    return yaml.safe_dump({"groups": [group]}, sort_keys=False)


@contextlib.contextmanager
def run_prometheus(
    target_url: str,
    rules: Sequence[Mapping[str, Any]],
    *,
    folder: str | os.PathLike[str] | None = None,
    scrape_interval_s: float = 1.0,
    startup_timeout_s: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Run Prometheus on a free port of 127.0.0.1, scraping ``target_url`` every
    ``scrape_interval_s`` seconds and evaluating ``rules``; stop its process group when
    the block ends. Its data and config live in ``folder`` (default under ``build/``).

    Raises :class:`MonitoringError` with the install command when there is no binary.
    """
    from mlops_course.service.process import HOST, free_port, run_server

    binary = prometheus_binary()
    if binary is None:
        raise MonitoringError(
            "No `prometheus` executable on PATH.\nFix: install it — Debian/Ubuntu: "
            "`sudo apt-get install prometheus` (then `sudo systemctl disable --now "
            "prometheus` if you do not want the system service), macOS: `brew install "
            "prometheus` — or read the service's /metrics page directly "
            "(mlops_course.monitoring.parse_metrics).")
    folder = Path(folder) if folder else config.build_dir() / "prometheus"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "data").mkdir(parents=True)
    (folder / "rules.yml").write_text(alert_rules(rules))
    target = urllib.parse.urlsplit(target_url).netloc
    (folder / "prometheus.yml").write_text(
        prometheus_config(target, scrape_interval_s=scrape_interval_s,
                          rules_file=str(folder / "rules.yml")))
    port = free_port()
    command = [binary, f"--config.file={folder / 'prometheus.yml'}",
               f"--storage.tsdb.path={folder / 'data'}",
               f"--web.listen-address={HOST}:{port}", "--log.level=warn",
               "--storage.tsdb.retention.time=1h"]
    with run_server("prometheus", command, port=port, ready_path="/-/ready",
                    log_path=folder / "prometheus.log",
                    startup_timeout_s=startup_timeout_s) as server:
        yield PrometheusServer(server.url, server.pid, folder, scrape_interval_s)


def wait_for(predicate: Any, timeout_s: float, interval_s: float = 0.25) -> float:
    """Poll ``predicate()`` until it is true; return the seconds waited, or raise
    :class:`MonitoringError` after ``timeout_s``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise MonitoringError(f"condition not met within {timeout_s:g} s")
        time.sleep(interval_s)
    return time.monotonic() - start
