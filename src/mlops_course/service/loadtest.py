"""Load tests against real servers: keep-alive HTTP clients, latency percentiles, req/s.

    result = load_test(server.url + "/predict", bodies, clients=1, duration_s=3)
    result.requests_per_s, result.p50_ms

Each client is a thread with one keep-alive connection (``http.client``, the lightest
client in the standard library) that sends the next body as soon as the last answer
arrived. :func:`compare_servers` starts the course's service, the Flask baseline and
``mlflow models serve`` on the same model, runs the same load against each, interleaved
round by round, and reports ratios from that one run.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlops_course.service.process import group_pids

JSON_HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}


@dataclass(frozen=True)
class LoadResult:
    """What one load test measured (latencies in ms, from request sent to body read)."""

    clients: int
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def load_test(
    url: str,
    bodies: Sequence[bytes],
    *,
    clients: int = 1,
    duration_s: float = 2.0,
    max_requests: int | None = None,
    warmup: int = 24,
) -> LoadResult:
    """POST ``bodies`` (cycled) to ``url`` from ``clients`` threads for ``duration_s``
    seconds (or until ``max_requests`` in all); a non-2xx answer counts as an error."""
    parts = urllib.parse.urlsplit(url)
    host, port, path = parts.hostname, parts.port, parts.path or "/"
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = threading.Event()
    start_line = threading.Barrier(clients + 1)
    budget = [max_requests or 10**12]
    budget_lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        for i in range(max(1, warmup // clients)):  # connect; let the server warm up
            conn.request("POST", path, bodies[(k + i) % len(bodies)], JSON_HEADERS)
            conn.getresponse().read()
        start_line.wait()
        i = k
        mine = latencies[k]
        while not stop.is_set():
            with budget_lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            body = bodies[i % len(bodies)]
            i += clients
            t0 = time.perf_counter()
            conn.request("POST", path, body, JSON_HEADERS)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            if response.status >= 300:
                errors[k] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    t_start = time.perf_counter()
    deadline = t_start + duration_s
    while any(t.is_alive() for t in threads) and time.perf_counter() < deadline:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    seconds = time.perf_counter() - t_start
    flat = sorted(x * 1e3 for mine in latencies for x in mine)
    n = len(flat)
    return LoadResult(clients, n, sum(errors), seconds, n / seconds,
                      _percentile(flat, 50), _percentile(flat, 95), _percentile(flat, 99))


def district_bodies(rows: Any, n: int = 200, wrap: Callable[[dict], Any] | None = None
                    ) -> list[bytes]:
    """JSON bodies of the first ``n`` rows of a housing frame (target dropped); ``wrap``
    reshapes each district for a server with another format (MLflow's
    ``{"dataframe_records": [...]}``)."""
    import math

    from mlops_course.data import TARGET

    records = rows.drop(columns=TARGET, errors="ignore").head(n).to_dict(orient="records")
    out = []
    for record in records:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else
                     (str(v) if k == "ocean_proximity" else float(v))) for k, v in record.items()}
        out.append(json.dumps(wrap(clean) if wrap else clean).encode())
    return out


def mlflow_wrap(district: dict[str, Any]) -> dict[str, Any]:
    """One district in MLflow's scoring format."""
    return {"dataframe_records": [district]}


def compare_servers(
    servers: dict[str, tuple[Any, str, list[bytes]]],
    *,
    clients: Sequence[int] = (1, 8),
    duration_s: float = 2.0,
    rounds: int = 3,
    baseline: str | None = None,
) -> Any:
    """Measure running servers round by round, interleaved; return a DataFrame.

    ``servers`` maps a name to ``(RunningServer, path, bodies)``. Per server and client
    count: the median over ``rounds`` of requests/s and of p50/p95/p99 latency; then the
    resident memory of its process group (MB) and, with ``baseline``, the req/s ratios.
    """
    import pandas as pd

    samples: dict[tuple[str, int], list[LoadResult]] = {}
    for _ in range(rounds):
        for n_clients in clients:
            for name, (server, path, bodies) in servers.items():
                result = load_test(server.url + path, bodies, clients=n_clients,
                                   duration_s=duration_s)
                samples.setdefault((name, n_clients), []).append(result)
    rows = {}
    for name, (server, _, _) in servers.items():
        row: dict[str, Any] = {}
        for n_clients in clients:
            runs = samples[(name, n_clients)]
            tag = f"{n_clients}c"
            row[f"req_per_s_{tag}"] = statistics.median(r.requests_per_s for r in runs)
            for q in ("p50", "p95", "p99"):
                row[f"{q}_ms_{tag}"] = statistics.median(getattr(r, f"{q}_ms") for r in runs)
            row[f"errors_{tag}"] = sum(r.errors for r in runs)
        row["rss_mb"] = server.rss_mb()
        row["processes"] = len(group_pids(server.pid))
        row["startup_s"] = server.startup_s
        rows[name] = row
    table = pd.DataFrame(rows).T
    if baseline is not None:
        for n_clients in clients:
            col = f"req_per_s_{n_clients}c"
            table[f"speedup_{n_clients}c"] = table[col] / table.loc[baseline, col]
    return table
