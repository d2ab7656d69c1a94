"""The prediction service: ``create_app(bundle)`` returns a FastAPI app.

Endpoints::

    POST /predict         one district (JSON object) -> price, model_version, request_id
    POST /predict/batch   a JSON list of districts         -> a list of answers, in order
    GET  /health          the process is alive
    GET  /ready           the model is loaded and answers
    GET  /metadata        model name, version, training-data digest, metrics, schema
    GET  /metrics         Prometheus text format (prometheus_client)
    GET  /rollout         which versions serve, and the canary's share of traffic
    PUT  /rollout         {"canary_weight": 0.1} moves traffic; 0 rolls the canary back
    GET  /docs            FastAPI's interactive documentation

Every bad request gets a 4xx JSON answer naming the field and the problem (see
:mod:`mlops_course.service.schema`): 422 for a body that breaks the schema or is not
JSON, 415 for another content type, 413 for a body over the size limit. Every
prediction is written as one JSON line (time, request id, model version, inputs,
prediction) when a log file is given, for lesson 9's monitoring.

This module does not use ``from __future__ import annotations``: FastAPI reads the
endpoints' annotations at runtime, and the request model is built per bundle.
"""

import bisect
import contextlib
import json
import math
import random
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_course.drift import psi_from_counts
from mlops_course.service.bundle import NUMERIC_FIELDS, Bundle, load_bundle
from mlops_course.service.schema import (
    MAX_BATCH_ROWS,
    MAX_BODY_BYTES,
    ErrorBody,
    Prediction,
    district_model,
    field_name,
    safe_value,
)

ENDPOINTS = ("/predict", "/predict/batch", "/health", "/ready", "/metadata", "/metrics",
             "/rollout", "/docs", "/openapi.json")
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
                     0.25, 0.5, 1.0)
PRICE_BUCKETS_USD = tuple(range(50_000, 550_000, 50_000))
DRIFT_WINDOW_ROWS = 500
DRIFT_MIN_ROWS = 100
_JSON = "application/json"


class Route:
    """One model version behind the service: its bundle and ONNX Runtime session."""

    def __init__(self, bundle: Bundle, role: str) -> None:
        from mlops_course.accelerate import onnx_session

        self.bundle, self.role, self.version = bundle, role, bundle.version
        self.session = onnx_session(bundle.onnx_path, threads=1)
        self.category_index = {c: i for i, c in enumerate(bundle.categories)}

    def predict(self, numeric: np.ndarray, category: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {"numeric": numeric, "category": category})[0]
        return out.reshape(-1).astype(float)


class LiveDrift:
    """The last ``window`` inputs and predictions, binned on the training data's deciles;
    :meth:`psi` compares them with the training histograms (the bundle's reference)."""

    def __init__(self, profile: dict[str, Any], window: int = DRIFT_WINDOW_ROWS) -> None:
        self.names = list(profile)
        self.edges = [list(map(float, profile[n]["edges"])) for n in self.names]
        self.reference = [np.asarray(profile[n]["counts"], dtype=float) for n in self.names]
        self.window = window
        self.bins = np.full((window, len(self.names)), -1, dtype=np.int16)
        self.seen = 0
        self.lock = threading.Lock()

    def add(self, values: list[float]) -> None:
        row = [bisect.bisect_right(e, v) if v == v else -1 for e, v in zip(self.edges, values,
                                                                             strict=True)]
        with self.lock:
            self.bins[self.seen % self.window] = row
            self.seen += 1

    def psi(self) -> dict[str, float]:
        with self.lock:
            rows = self.bins[: min(self.seen, self.window)].copy()
        if len(rows) < DRIFT_MIN_ROWS:
            return {}
        out = {}
        for j, name in enumerate(self.names):
            column = rows[:, j]
            counts = np.bincount(column[column >= 0], minlength=len(self.reference[j]))
            if counts.sum():
                out[name] = psi_from_counts(self.reference[j], counts)
        return out


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, routes: dict[str, Route], drift: LiveDrift) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )
        from prometheus_client.core import GaugeMetricFamily

        disable_created_metrics()  # no *_created series: they double the text for nothing

        self.registry = registry = CollectorRegistry()
        self.requests = Counter("house_price_http_requests", "HTTP requests by endpoint and "
                                "status code", ["endpoint", "status"], registry=registry)
        self.latency = Histogram("house_price_http_request_duration_seconds", "Time from "
                                 "request to response, by endpoint", ["endpoint"],
                                 buckets=LATENCY_BUCKETS_S, registry=registry)
        self.predictions = Histogram("house_price_prediction_usd", "Predicted median house "
                                     "values (dollars), by model version", ["model_version"],
                                     buckets=PRICE_BUCKETS_USD, registry=registry)
        self.model_info = Gauge("house_price_model_info", "The model versions loaded (1) and "
                                "their role", ["name", "version", "role"], registry=registry)
        self.canary_weight = Gauge("house_price_canary_weight", "Share of prediction "
                                   "requests sent to the canary", registry=registry)
        for route in routes.values():
            self.model_info.labels(route.bundle.meta["name"], route.version, route.role).set(1)

        class DriftCollector:
            def collect(self) -> Any:
                gauge = GaugeMetricFamily(
                    "house_price_feature_psi", f"PSI of the last {drift.window} inputs (and "
                    "predictions) against the training data, per feature", labels=["feature"])
                for name, value in drift.psi().items():
                    gauge.add_metric([name], value)
                yield gauge
                yield GaugeMetricFamily("house_price_drift_window_rows", "Rows in the drift "
                                        "window", value=min(drift.seen, drift.window))

        registry.register(DriftCollector())

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class PredictionLog:
    """Append one JSON line per prediction to a file (line-buffered: readable at once)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.handle = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.lock = threading.Lock()

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.handle is None:
            return
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        with self.lock:
            self.handle.write(text)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _error(status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
           ) -> bytes:
    body = {"error": error, "message": message, "problems": problems or []}
    return json.dumps(body).encode()


class GuardMiddleware:
    """Pure ASGI middleware: counts and times every request by endpoint and status, and
    refuses a prediction request with the wrong content type (415) or a body over
    :data:`MAX_BODY_BYTES` (413) before FastAPI reads it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        endpoint = path if path in ENDPOINTS else "other"
        status = 500

        async def send_and_see(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = None
            if scope["method"] == "POST" and path.startswith("/predict"):
                refusal, receive = await self._check(scope, receive)
            if refusal is None:
                await self.app(scope, receive, send_and_see)
            else:
                code, body = refusal
                await send_and_see({"type": "http.response.start", "status": code,
                                    "headers": [(b"content-type", _JSON.encode()),
                                                (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)

    async def _check(self, scope: dict[str, Any], receive: Any) -> tuple[Any, Any]:
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if kind != _JSON:
            return (415, _error(415, "unsupported media type", f"content-type: send the "
                                f"district as JSON with 'Content-Type: {_JSON}', not "
                                f"{kind or 'no content type'!r}",
                                [{"field": "content-type", "problem": f"must be {_JSON}",
                                  "received": kind or None}])), receive
        length = headers.get(b"content-length")
        too_big = (413, _error(413, "payload too large", f"body: at most {MAX_BODY_BYTES:,} "
                               f"bytes; split the batch (at most {MAX_BATCH_ROWS:,} rows)",
                               [{"field": "body", "problem": "too large"}]))
        if length is not None:
            ok = length.isdigit() and int(length) <= MAX_BODY_BYTES
            return (None if ok else too_big), receive
        body, more = b"", True  # no length given (chunked): read up to the limit
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                return too_big, receive
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return None, replay


class Rollout(BaseModel):
    """The canary's share of prediction traffic, from 0 (rolled back) to 1."""

    canary_weight: float = Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=True)


def _problems(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        where = field_name(tuple(err.get("loc", ())))
        problem = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            where, problem = "body", f"not valid JSON ({detail}, at character {err['loc'][-1]})"
        elif err.get("type") == "missing" and where == "body":
            problem = "no body: send the district as a JSON object"
        elif problem.startswith("Value error, "):
            problem = problem.removeprefix("Value error, ")
            named = problem.split(" ", 1)[0]  # a rule across fields names its field first
            if named in NUMERIC_FIELDS:
                where = named if where == "body" else f"{where}.{named}"
        out.append({"field": where, "problem": problem,
                    "received": safe_value(err.get("input")) if err.get("type") != "missing"
                    else None})
    return out


def create_app(
    bundle: Bundle | str | Path,
    *,
    log_path: str | Path | None = None,
    canary: Bundle | str | Path | None = None,
    canary_weight: float = 0.0,
    seed: int = 42,
    drift_window: int = DRIFT_WINDOW_ROWS,
) -> FastAPI:
    """Build the service for a bundle (its ONNX session is created here, once).

    ``log_path``: where each prediction goes as a JSON line (``None``: not logged).
    ``canary``: a second bundle that gets ``canary_weight`` of the prediction traffic
    (chosen per request by a random generator seeded with ``seed``).
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    routes = {"stable": Route(bundle, "stable")}
    if canary is not None:
        routes["canary"] = Route(canary if isinstance(canary, Bundle) else load_bundle(canary),
                                 "canary")
    District = district_model(bundle.meta["schema"])
    Batch = Annotated[list[District], Field(min_length=1, max_length=MAX_BATCH_ROWS)]
    drift = LiveDrift(bundle.meta["reference"]["numeric"], drift_window)
    metrics = Metrics(routes, drift)
    log = PredictionLog(log_path)
    state = {"canary_weight": canary_weight if canary is not None else 0.0,
             "next_id": 1, "started": time.time(), "rng": random.Random(seed)}
    metrics.canary_weight.set(state["canary_weight"])
    lock = threading.Lock()

    def answer(districts: list[Any], endpoint: str) -> list[dict[str, Any]]:
        start = time.perf_counter()
        with lock:
            weight = state["canary_weight"]
            route = routes["canary" if weight and state["rng"].random() < weight else "stable"]
            first = state["next_id"]
            state["next_id"] += len(districts)
        n = len(districts)
        numeric = np.empty((n, len(NUMERIC_FIELDS)))
        category = np.empty((n, 1), dtype=np.int64)
        raw = []
        for i, d in enumerate(districts):
            values = d.__dict__
            row = [values[f] for f in NUMERIC_FIELDS]
            raw.append(values)
            numeric[i] = [math.nan if v is None else v for v in row]
            category[i, 0] = route.category_index[values["ocean_proximity"]]
        prices = route.predict(numeric, category)
        now = time.time()
        results, records = [], []
        for i, price in enumerate(prices):
            request_id = first + i
            results.append({"median_house_value": round(float(price), 2),
                            "model_version": route.version, "request_id": request_id})
            records.append({"ts": round(now, 6), "request_id": request_id,
                            "model_version": route.version, "endpoint": endpoint,
                            "features": raw[i], "prediction_usd": round(float(price), 2)})
            metrics.predictions.labels(route.version).observe(float(price))
            drift.add([*numeric[i].tolist(), float(price)])
        for record in records:
            record["latency_ms"] = round((time.perf_counter() - start) * 1e3 / n, 4)
        log.write(records)
        return results

    def json_response(content: Any, status: int = 200) -> Response:
        return Response(json.dumps(content).encode(), status_code=status, media_type=_JSON)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        log.close()

    app = FastAPI(
        lifespan=lifespan,
        title="House-price prediction service",
        version=bundle.version,
        description=(f"Serves {bundle.meta['name']} {bundle.version} (ONNX Runtime, training "
                     "preprocessing inside). Lessons 8 and 9 of the MLOps course."))
    app.state.metrics, app.state.log, app.state.routes, app.state.drift = (
        metrics, log, routes, drift)
    bad = {422: {"model": ErrorBody, "description": "the body breaks the schema or is not JSON"},
           415: {"model": ErrorBody, "description": "the content type is not application/json"},
           413: {"model": ErrorBody, "description": "the body is too large"}}

    @app.post("/predict", response_model=Prediction, responses=bad)
    async def predict(district: District) -> Response:  # type: ignore[valid-type]
        """Predict the median house value of one district."""
        return json_response(answer([district], "/predict")[0])

    @app.post("/predict/batch", response_model=list[Prediction], responses=bad)
    async def predict_batch(districts: Batch) -> Response:  # type: ignore[valid-type]
        """Predict a list of districts (1 to 1,000), answers in the same order."""
        return json_response(answer(districts, "/predict/batch"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """The process is alive."""
        return {"status": "ok", "uptime_s": round(time.time() - state["started"], 1)}

    @app.get("/ready")
    async def ready() -> Response:
        """The model is loaded and answers (a fixed district is predicted)."""
        try:
            example = District.model_json_schema()["examples"][0]
            answer_ok = math.isfinite(routes["stable"].predict(
                np.array([[example[f] for f in NUMERIC_FIELDS]]),
                np.array([[routes["stable"].category_index[example["ocean_proximity"]]]]))[0])
        except Exception as exc:  # noqa: BLE001 - not ready, whatever the reason
            return json_response({"ready": False, "why": repr(exc)}, 503)
        return json_response({"ready": answer_ok, "model_version": bundle.version},
                             200 if answer_ok else 503)

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        """Model name, version, origin, training-data digest, metrics, request schema."""
        meta = bundle.meta
        return {key: meta.get(key) for key in ("name", "version", "origin", "model_sha256",
                                               "training_data_sha256", "metrics", "parity",
                                               "schema")} | {
            "runtime": "onnxruntime, 1 thread", "max_batch_rows": MAX_BATCH_ROWS,
            "rollout": {"stable": routes["stable"].version,
                        "canary": routes["canary"].version if "canary" in routes else None,
                        "canary_weight": state["canary_weight"]}}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text format: requests, latency, predictions, model, drift."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/rollout")
    async def get_rollout() -> dict[str, Any]:
        """Which versions serve and the canary's share of traffic."""
        return {"stable": routes["stable"].version,
                "canary": routes["canary"].version if "canary" in routes else None,
                "canary_weight": state["canary_weight"]}

    @app.put("/rollout", responses={422: {"model": ErrorBody}, 409: {"model": ErrorBody}})
    async def put_rollout(rollout: Rollout) -> Response:
        """Move traffic to or from the canary; ``{"canary_weight": 0}`` rolls it back."""
        if "canary" not in routes and rollout.canary_weight > 0:
            return Response(_error(409, "no canary", "canary_weight: this service runs no "
                                   "canary; start it with --canary BUNDLE"), 409,
                            media_type=_JSON)
        with lock:
            state["canary_weight"] = rollout.canary_weight
        metrics.canary_weight.set(rollout.canary_weight)
        return json_response(await get_rollout())

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = _problems(list(exc.errors()))
        first = problems[0] if problems else {"field": "body", "problem": "invalid"}
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return Response(_error(422, "invalid request", f"{first['field']}: {first['problem']}"
                               f"{more}", problems[:50]), 422, media_type=_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        where = {400: "body", 404: "path", 405: "method"}.get(exc.status_code, "request")
        detail = str(exc.detail)
        if exc.status_code == 400:
            detail = f"could not be read as JSON ({detail}): send UTF-8 JSON, nested sanely"
        error = "unreadable body" if exc.status_code == 400 else str(exc.detail).lower()
        return Response(_error(exc.status_code, error, f"{where}: {detail}",
                               [{"field": where, "problem": detail}]), exc.status_code,
                        media_type=_JSON, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "internal error", "message": f"{type(exc).__name__}: "
                             "the service failed on this request; it keeps serving. Report "
                             "it with the request body.", "problems": []}, 500)

    app.add_middleware(GuardMiddleware, metrics=metrics)
    return app
