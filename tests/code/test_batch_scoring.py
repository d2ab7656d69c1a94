"""Batch scoring: CSV and Parquet in, predictions equal to the pipeline's, bad rows kept aside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_course.batch_scoring import PREDICTION_COLUMN, BatchScoringError, score_file
from mlops_course.data import TARGET, make_synthetic_housing


@pytest.fixture(scope="module")
def bundle_and_pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    from mlops_course import pipeline
    from mlops_course.service.bundle import ModelSource, export_bundle, load_bundle

    train = make_synthetic_housing(600, seed=1)
    model = pipeline.train(train, log=False, max_iter=20)
    rows = make_synthetic_housing(300, seed=2)
    source = ModelSource(model, "house-prices", "synthetic-v1", "test", "abc")
    folder = export_bundle(source, tmp_path_factory.mktemp("b") / "v1", check_rows=rows,
                           reference_rows=train)
    return load_bundle(folder), model


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_scores_match_the_pipeline_and_reject_bad_rows(tmp_path: Path, suffix: str,
                                                       bundle_and_pipeline: tuple) -> None:
    bundle, model = bundle_and_pipeline
    rows = make_synthetic_housing(250, seed=3)
    rows.loc[[5, 9], "median_income"] = -2.0
    path = tmp_path / f"in{suffix}"
    rows.to_csv(path, index=False) if suffix == ".csv" else rows.to_parquet(path)
    report = score_file(path, tmp_path / f"out{suffix}", bundle)
    assert (report.rows, report.scored, report.rejected) == (250, 248, 2)
    out = pd.read_csv(report.output_path) if suffix == ".csv" else pd.read_parquet(
        report.output_path)
    good = rows.drop(index=[5, 9])
    assert np.max(np.abs(out[PREDICTION_COLUMN].to_numpy() - model.predict(
        good.drop(columns=TARGET)))) < 1.0
    assert (out["model_version"] == "synthetic-v1").all() and report.rows_per_s > 0
    assert report.rejected_path is not None and report.rejected_path.is_file()


def test_unknown_format_says_what_to_use(tmp_path: Path, bundle_and_pipeline: tuple) -> None:
    with pytest.raises(BatchScoringError, match=r"\.csv, \.parquet"):
        score_file(tmp_path / "x.xlsx", tmp_path / "y.csv", bundle_and_pipeline[0])
    with pytest.raises(BatchScoringError, match="No input file"):
        score_file(tmp_path / "x.csv", tmp_path / "y.csv", bundle_and_pipeline[0])


def test_geo_features_export_with_parity(tmp_path: Path) -> None:
    from mlops_course import pipeline
    from mlops_course.service.bundle import ModelSource, export_bundle, load_bundle

    train = make_synthetic_housing(800, seed=4)
    model = pipeline.train(train, log=False, max_iter=30, features="geo")
    rows = make_synthetic_housing(400, seed=5)
    folder = export_bundle(ModelSource(model, "house-prices", "geo", "test", "x"),
                           tmp_path / "geo", check_rows=rows, reference_rows=train)
    assert load_bundle(folder).meta["parity"]["max_abs_diff_usd"] < 1.0
