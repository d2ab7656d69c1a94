"""A real Prometheus scrapes the service, answers PromQL and fires an alert on drift.

Needs the `prometheus` binary (Debian package `prometheus`). On a student laptop without
it these tests skip with the install command; in CI (`CI=true`, where `.ci/run` installs
it) a missing binary is a failure, not a skip."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from mlops_course.monitoring import production_traffic, prometheus_binary, run_prometheus, wait_for

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def need_prometheus() -> None:
    if prometheus_binary() is None:
        if IN_CI:
            pytest.fail("CI=true but no `prometheus` on PATH: .ci/run installs the Debian "
                        "package `prometheus`; CI must run the real path")
        pytest.skip("no `prometheus` binary; install it with `sudo apt-get install "
                    "prometheus` (Debian/Ubuntu) or `brew install prometheus` (macOS)")


def test_prometheus_scrapes_queries_and_alerts(need_prometheus: None, bundle: Any,
                                               test_rows: Any, tmp_path: Any) -> None:
    from mlops_course.service.process import group_pids, serve_bundle

    rules = [{"alert": "InputDrift", "for": "1s", "summary": "drift",
              "expr": 'max(house_price_feature_psi{feature!="prediction_usd"}) > 0.25'}]
    drifted = production_traffic(test_rows, 600, seed=1, income_inflation=0.6)
    records = drifted.drop(columns="median_house_value").to_dict(orient="records")
    records = [{k: (None if v != v else (str(v) if k == "ocean_proximity" else v))
                for k, v in r.items()} for r in records]
    with serve_bundle(bundle.path) as server, \
            run_prometheus(server.url, rules, folder=tmp_path / "prom",
                           scrape_interval_s=0.5) as prom, \
            httpx.Client(timeout=30, trust_env=False) as http:
        prom_pid = prom.pid
        wait_for(lambda: any(t["health"] == "up" for t in prom.targets()), 20)
        for record in records[:20]:
            assert http.post(server.url + "/predict", json=record).status_code == 200
        wait_for(lambda: bool(prom.query(
            'house_price_http_requests_total{endpoint="/predict",status="200"}')), 20)
        for record in records[20:]:
            http.post(server.url + "/predict", json=record)
        wait_for(lambda: any(a["labels"]["alertname"] == "InputDrift" and
                             a["state"] == "firing" for a in prom.alerts()), 30)
        rate = prom.query('sum(rate(house_price_http_requests_total{endpoint="/predict"}[30s]))')
        assert float(rate[0]["value"][1]) > 0
        p95 = prom.query("histogram_quantile(0.95, sum by (le) (rate("
                         'house_price_http_request_duration_seconds_bucket[30s])))')
        assert 0 < float(p95[0]["value"][1]) < 1.0
    assert not group_pids(prom_pid), "prometheus was left running"


def test_missing_binary_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_course.monitoring import MonitoringError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MonitoringError, match="apt-get install prometheus"), \
            run_prometheus("http://127.0.0.1:1", []):
        pass
