"""The prediction service against a server started for real on 127.0.0.1: the API
contract, a table of bad requests (each a 4xx with a message, the server alive after),
no skew against the pipeline on the whole test set, the prediction log, the metrics, and
nothing left running."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import numpy as np
import pytest

from mlops_course.data import TARGET

GOOD = {"longitude": -122.23, "latitude": 37.88, "housing_median_age": 41.0,
        "total_rooms": 880.0, "total_bedrooms": 129.0, "population": 322.0,
        "households": 126.0, "median_income": 8.3252, "ocean_proximity": "NEAR BAY"}
JSON = {"content-type": "application/json"}
_good = json.dumps(GOOD)
BAD_REQUESTS = [
    # (case, path, body, headers, status, field named first in the message)
    ("missing field", "/predict", json.dumps({k: v for k, v in GOOD.items() if k != "households"}),
     JSON, 422, "households"),
    ("extra field", "/predict", json.dumps({**GOOD, "price": 1}), JSON, 422, "price"),
    ("text for a number", "/predict", json.dumps({**GOOD, "median_income": "high"}), JSON,
     422, "median_income"),
    ("numeric text", "/predict", json.dumps({**GOOD, "median_income": "8.3"}), JSON, 422,
     "median_income"),
    ("boolean", "/predict", json.dumps({**GOOD, "total_rooms": True}), JSON, 422, "total_rooms"),
    ("null where not allowed", "/predict", json.dumps({**GOOD, "population": None}), JSON, 422,
     "population"),
    ("NaN", "/predict", _good.replace("8.3252", "NaN"), JSON, 422, "median_income"),
    ("Infinity", "/predict", _good.replace("322.0", "Infinity"), JSON, 422, "population"),
    ("-Infinity", "/predict", _good.replace("-122.23", "-Infinity"), JSON, 422, "longitude"),
    ("huge number", "/predict", _good.replace("880.0", "1e400"), JSON, 422, "total_rooms"),
    ("out of range", "/predict", json.dumps({**GOOD, "latitude": 48.9}), JSON, 422, "latitude"),
    ("negative count", "/predict", json.dumps({**GOOD, "households": -3}), JSON, 422,
     "households"),
    ("unknown category", "/predict", json.dumps({**GOOD, "ocean_proximity": "NEAR LAKE"}), JSON,
     422, "ocean_proximity"),
    ("category of another type", "/predict", json.dumps({**GOOD, "ocean_proximity": 3}), JSON,
     422, "ocean_proximity"),
    ("more bedrooms than rooms", "/predict", json.dumps({**GOOD, "total_bedrooms": 900.0}), JSON,
     422, "total_bedrooms"),
    ("malformed JSON", "/predict", _good[:-5], JSON, 422, "body"),
    ("not JSON", "/predict", "median_income=8.3", JSON, 422, "body"),
    ("empty body", "/predict", "", JSON, 422, "body"),
    ("a list", "/predict", json.dumps([GOOD]), JSON, 422, "body"),
    ("a number", "/predict", "42", JSON, 422, "body"),
    ("invalid UTF-8", "/predict", b'{"median_income": "\xff"}', JSON, 400, "body"),
    ("deeply nested", "/predict", "[" * 5000 + "]" * 5000, JSON, 400, "body"),
    ("wrong content type", "/predict", _good, {"content-type": "text/plain"}, 415, "content-type"),
    ("no content type", "/predict", _good, {}, 415, "content-type"),
    ("form data", "/predict", "a=1", {"content-type": "application/x-www-form-urlencoded"}, 415,
     "content-type"),
    ("empty batch", "/predict/batch", "[]", JSON, 422, "body"),
    ("batch of 1,001", "/predict/batch", json.dumps([GOOD] * 1001), JSON, 422, "body"),
    ("object for a batch", "/predict/batch", _good, JSON, 422, "body"),
    ("bad row in a batch", "/predict/batch", json.dumps([GOOD, {**GOOD, "latitude": "x"}]), JSON,
     422, "[1].latitude"),
    ("body over the limit", "/predict/batch", json.dumps([GOOD] * 3000), JSON, 413, "body"),
    ("bad canary weight", "/rollout", json.dumps({"canary_weight": 2}), JSON, 422,
     "canary_weight"),
]


def _client() -> httpx.Client:
    return httpx.Client(timeout=30, trust_env=False)


def test_predict_contract(service: Any, bundle: Any) -> None:
    server, _ = service
    with _client() as http:
        answer = http.post(server.url + "/predict", json=GOOD)
        batch = http.post(server.url + "/predict/batch",
                          json=[GOOD, {**GOOD, "median_income": 2.0}])
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert set(body) == {"median_house_value", "model_version", "request_id"}
        assert body["model_version"] == bundle.version and body["median_house_value"] > 14_999
        answers = batch.json()
        assert len(answers) == 2 and answers[0]["median_house_value"] == body["median_house_value"]
        assert answers[1]["median_house_value"] < answers[0]["median_house_value"]
        assert answers[1]["request_id"] == answers[0]["request_id"] + 1


def test_health_ready_metadata_docs(service: Any, bundle: Any) -> None:
    server, _ = service
    with _client() as http:
        assert http.get(server.url + "/health").json()["status"] == "ok"
        assert http.get(server.url + "/ready").json() == {"ready": True,
                                                          "model_version": bundle.version}
        meta = http.get(server.url + "/metadata").json()
        assert meta["version"] == bundle.version and meta["name"] == "house-prices"
        assert len(meta["training_data_sha256"]) == 64 and "test_rmse_usd" in meta["metrics"]
        assert http.get(server.url + "/docs").status_code == 200
        schema = http.get(server.url + "/openapi.json").json()
        assert "/predict" in schema["paths"] and "/predict/batch" in schema["paths"]


@pytest.mark.parametrize(("case", "path", "body", "headers", "status", "field"), BAD_REQUESTS,
                         ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_gets_4xx_naming_the_field(service: Any, case: str, path: str, body: Any,
                                               headers: dict[str, str], status: int,
                                               field: str) -> None:
    server, _ = service
    with _client() as http:
        reply = http.post(server.url + path, content=body, headers=headers) if path != "/rollout" \
            else http.put(server.url + path, content=body, headers=headers)
        assert reply.status_code == status, f"{case}: {reply.status_code} {reply.text[:300]}"
        payload = reply.json()
        assert payload["message"].startswith(field), f"{case}: {payload['message']}"
        assert payload["problems"] and payload["problems"][0]["field"] == field
        after = http.post(server.url + "/predict", json=GOOD)
        assert after.status_code == 200, f"after {case} the service stopped answering"


def test_many_bad_requests_leave_the_server_alive(service: Any) -> None:
    server, _ = service
    with _client() as http:
        for case, path, body, headers, status, _field in BAD_REQUESTS * 3:
            if path != "/rollout":
                assert http.post(server.url + path, content=body, headers=headers
                                 ).status_code == status, case
        assert http.get(server.url + "/health").status_code == 200
        assert http.get(server.url + "/ready").status_code == 200


def test_no_skew_on_the_test_set(service: Any, model_source: Any, test_rows: Any) -> None:
    server, _ = service
    X = test_rows.drop(columns=TARGET)
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in X.to_dict(orient="records")]
    served = []
    with _client() as http:
        for start in range(0, len(records), 1000):
            reply = http.post(server.url + "/predict/batch", json=records[start:start + 1000])
            assert reply.status_code == 200, reply.text[:300]
            served += [a["median_house_value"] for a in reply.json()]
    expected = model_source.pipeline.predict(X)
    assert len(served) == len(X) == 4128
    assert np.max(np.abs(np.array(served) - expected)) < 1.0, "service and pipeline differ"


def test_prediction_log_and_metrics(service: Any, bundle: Any) -> None:
    from mlops_course.monitoring import parse_metrics, read_prediction_log

    server, log_path = service
    with _client() as http:
        before = len(read_prediction_log(log_path)) if log_path.exists() else 0
        ids = [a["request_id"] for a in
               http.post(server.url + "/predict/batch", json=[GOOD] * 3).json()]
        http.post(server.url + "/predict", json={**GOOD, "latitude": 99})
        metrics = parse_metrics(http.get(server.url + "/metrics").text)
    log = read_prediction_log(log_path)
    assert len(log) == before + 3 and list(log["request_id"].tail(3)) == ids
    assert (log["model_version"] == bundle.version).all()
    assert {"median_income", "prediction_usd", "latency_ms", "ts"} <= set(log.columns)
    assert metrics['house_price_http_requests_total{endpoint="/predict",status="422"}'] >= 1
    count = 'house_price_http_request_duration_seconds_count{endpoint="/predict/batch"}'
    assert metrics[count] >= 1
    assert metrics[f'house_price_model_info{{name="house-prices",role="stable",'
                   f'version="{bundle.version}"}}'] == 1
    assert metrics[f'house_price_prediction_usd_count{{model_version="{bundle.version}"}}'] >= 3


def test_canary_split_and_rollback(bundle: Any) -> None:
    from mlops_course.service.process import serve_bundle

    with serve_bundle(bundle.path, canary=bundle.path, canary_weight=0.5) as server, \
            _client() as http:
        roles = [http.post(server.url + "/predict", json=GOOD).json() for _ in range(40)]
        assert len({r["median_house_value"] for r in roles}) == 1
        assert http.get(server.url + "/rollout").json()["canary_weight"] == 0.5
        assert http.put(server.url + "/rollout", json={"canary_weight": 0}).json()[
            "canary_weight"] == 0
        metrics = http.get(server.url + "/metrics").text
        assert "house_price_canary_weight 0.0" in metrics


def test_servers_are_stopped_even_when_the_block_fails(bundle: Any) -> None:
    from mlops_course.service.process import group_pids, leftover_servers, serve_bundle

    pid = None
    with pytest.raises(RuntimeError, match="boom"), serve_bundle(bundle.path) as server:
        pid = server.pid
        assert group_pids(pid)
        raise RuntimeError("boom")
    assert pid is not None and not group_pids(pid)
    assert pid not in leftover_servers()


def test_startup_error_names_the_fix(tmp_path: Any) -> None:
    from mlops_course.service.bundle import ServingError, load_bundle, resolve_model

    with pytest.raises(ServingError, match="Fix: export one"):
        load_bundle(tmp_path)
    with pytest.raises(ServingError, match="No model file"):
        resolve_model(tmp_path / "missing.joblib")
    with pytest.raises(ServingError, match="models:/NAME@ALIAS"):
        resolve_model("models:/only-a-name")
