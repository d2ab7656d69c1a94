"""What the service is compared with: lesson 1's kind of Flask app and ``mlflow models
serve``, each on the same fitted pipeline, each a real server on 127.0.0.1.

* ``flask`` — ``python -m mlops_course.service.baselines flask --model FILE --port N``:
  the lesson-1 pattern (a DataFrame per request, ``pipeline.predict``, werkzeug's
  threaded server), minus lesson 1's skew: it serves the whole pipeline.
* ``mlflow`` — :func:`save_mlflow_model` writes the pipeline as an MLflow model and
  :func:`serve_mlflow` runs ``mlflow models serve --env-manager local`` on it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_course.service.process import HOST, RunningServer, free_port, run_server


def flask_app(model_path: str | os.PathLike[str]) -> Any:
    """A lesson-1 style Flask app: JSON in, one-row DataFrame, ``predict``, JSON out."""
    import joblib
    import pandas as pd
    from flask import Flask, jsonify, request

    from mlops_course.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    pipeline = joblib.load(model_path)
    columns = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    app = Flask("house-price-flask")

    @app.post("/predict")
    def predict() -> Any:
        row = pd.DataFrame([request.get_json()])[columns]
        row[NUMERIC_FEATURES] = row[NUMERIC_FEATURES].astype(float)
        return jsonify(median_house_value=float(pipeline.predict(row)[0]))

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    return app


@contextlib.contextmanager
def serve_flask(model_path: str | os.PathLike[str], *, port: int | None = None
                ) -> Iterator[RunningServer]:
    """The Flask baseline as a real server (werkzeug, threaded) on 127.0.0.1."""
    port = port or free_port()
    command = [sys.executable, "-m", "mlops_course.service.baselines", "flask", "--model",
               str(model_path), "--port", str(port)]
    with run_server("flask", command, port=port, ready_path="/health") as server:
        yield server


def save_mlflow_model(pipeline: Any, path: str | os.PathLike[str], example: Any) -> Path:
    """Save the fitted pipeline as an MLflow model folder (skops format, trusted types of
    lesson 5, a signature from ``example``), once: an existing folder is reused."""
    import shutil

    path = Path(path)
    if (path / "MLmodel").is_file():
        return path
    import mlflow
    from mlflow.models import infer_signature

    from mlops_course.tracking import TRUSTED_TYPES

    shutil.rmtree(path, ignore_errors=True)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.sklearn.save_model(pipeline, str(path), signature=infer_signature(
        example, pipeline.predict(example)), pip_requirements=["scikit-learn", "pandas"],
        skops_trusted_types=list(TRUSTED_TYPES))
    return path


@contextlib.contextmanager
def serve_mlflow(model_dir: str | os.PathLike[str], *, port: int | None = None,
                 startup_timeout_s: float = 120.0) -> Iterator[RunningServer]:
    """``mlflow models serve`` (local environment) on 127.0.0.1; the venv's ``bin`` goes
    first on PATH, as MLflow starts its scoring server through the shell."""
    port = port or free_port()
    venv_bin = str(Path(sys.executable).parent)
    command = [str(Path(venv_bin) / "mlflow"), "models", "serve", "-m", str(model_dir),
               "--env-manager", "local", "-h", HOST, "-p", str(port)]
    env = {"PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}
    with run_server("mlflow", command, port=port, ready_path="/ping", env=env,
                    startup_timeout_s=startup_timeout_s) as server:
        yield server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops_course.service.baselines")
    parser.add_argument("kind", choices=["flask"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(HOST, args.port, flask_app(args.model), threaded=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
