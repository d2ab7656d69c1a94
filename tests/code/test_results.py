from __future__ import annotations

import numpy as np
import pytest

from mlops_course.course.results import METRICS_MIME, read_metrics, record_metrics


def test_record_metrics_plain_values(capsys: pytest.CaptureFixture[str]) -> None:
    values = record_metrics(rmse_usd=np.float64(48_000.5), trees=np.int64(100), note="ok")
    assert values == {"rmse_usd": 48_000.5, "trees": 100, "note": "ok"}
    assert type(values["trees"]) is int


def test_record_metrics_rejects_nan_and_objects() -> None:
    with pytest.raises(ValueError, match="not finite"):
        record_metrics(rmse=float("nan"))
    with pytest.raises(TypeError, match="numbers or strings"):
        record_metrics(model=object())


def test_read_metrics_later_wins() -> None:
    notebook = {"cells": [
        {"outputs": [{"data": {METRICS_MIME: {"a": 1, "b": 2}}}]},
        {"outputs": [{"data": {"text/plain": "x"}}, {"data": {METRICS_MIME: '{"b": 3}'}}]},
        {"cell_type": "markdown"},
    ]}
    assert read_metrics(notebook) == {"a": 1, "b": 3}
