"""Fixtures for the prediction service: one bundle of the DVC pipeline's model, and the
service started for real on 127.0.0.1 (one per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def model_source(housing_csv: Path) -> Any:
    from mlops_course.service.bundle import resolve_model

    return resolve_model(None)  # build/dvc/model.joblib, built if missing


@pytest.fixture(scope="session")
def bundle(model_source: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlops_course.service.bundle import export_bundle, load_bundle

    return load_bundle(export_bundle(model_source, tmp_path_factory.mktemp("bundle") / "v1"))


@pytest.fixture(scope="session")
def test_rows(model_source: Any) -> Any:
    from mlops_course import pipeline
    from mlops_course.data import read_housing_csv
    from mlops_course.service.bundle import default_model_path

    return read_housing_csv(default_model_path().parent / "prepared" / pipeline.TEST_CSV)


@pytest.fixture(scope="module")
def service(bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from mlops_course.service.process import serve_bundle

    log = tmp_path_factory.mktemp("log") / "predictions.jsonl"
    with serve_bundle(bundle.path, log_file=log) as server:
        yield server, log
