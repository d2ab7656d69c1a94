"""The DVC pipeline's stages (mlops_course.pipeline) on small synthetic data: splits,
parameters, deterministic outputs, the CLI and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_course import pipeline
from mlops_course.cli import main
from mlops_course.data import TARGET, make_synthetic_housing
from mlops_course.pipeline import PipelineError
from mlops_course.versioning import md5_file

FAST_TRAIN = {"learning_rate": 0.2, "max_iter": 20, "max_leaf_nodes": 15, "seed": 42}


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    path = tmp_path / "housing.csv"
    make_synthetic_housing(n_rows=600, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"prepare": {"test_size": 0.25, "seed": 42},
                                    "train": FAST_TRAIN}))
    return path


def test_prepare_splits_all_rows_in_order_and_repeats() -> None:
    df = make_synthetic_housing(n_rows=500, seed=1)
    train_df, test_df = pipeline.prepare(df, test_size=0.2, seed=42)
    assert len(train_df) == 400 and len(test_df) == 100
    assert set(train_df.index).isdisjoint(test_df.index)
    assert set(train_df.index) | set(test_df.index) == set(df.index)
    assert train_df.index.is_monotonic_increasing and test_df.index.is_monotonic_increasing
    again_train, _ = pipeline.prepare(df, test_size=0.2, seed=42)
    assert again_train.equals(train_df), "same seed, same split"
    other_train, _ = pipeline.prepare(df, test_size=0.2, seed=7)
    assert not other_train.index.equals(train_df.index), "another seed, another split"


def test_prepare_max_rows_samples_first() -> None:
    df = make_synthetic_housing(n_rows=500, seed=1)
    train_df, test_df = pipeline.prepare(df, test_size=0.2, seed=42, max_rows=200)
    assert len(train_df) + len(test_df) == 200
    train_all, test_all = pipeline.prepare(df, test_size=0.2, seed=42, max_rows=10_000)
    assert len(train_all) + len(test_all) == 500, "max_rows above the row count keeps all"


def test_check_params_fills_defaults() -> None:
    params = pipeline.check_params({"train": {"max_iter": 50}})
    assert params["train"]["max_iter"] == 50
    assert params["train"]["learning_rate"] == pipeline.DEFAULT_PARAMS["train"]["learning_rate"]
    assert params["prepare"] == pipeline.DEFAULT_PARAMS["prepare"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"train": {"learning_rte": 0.1}}, "unknown key train.learning_rte"),
        ({"prepare": {"test_size": 1.5}}, "prepare.test_size must be between 0 and 1"),
        ({"prepare": {"max_rows": 10}}, "prepare.max_rows must be null"),
    ],
)
def test_check_params_rejects_mistakes(params: dict, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        pipeline.check_params(params)


def test_load_params_names_the_fix_when_missing(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="No parameters file") as info:
        pipeline.load_params(tmp_path / "params.yaml")
    assert "dvc repro" in str(info.value)


def test_project_params_yaml_is_valid() -> None:
    from mlops_course import config

    params = pipeline.load_params(config.project_root() / "params.yaml")
    assert params == pipeline.check_params(params)


def test_train_and_evaluate_give_sane_metrics() -> None:
    df = make_synthetic_housing(n_rows=600, seed=2)
    train_df, test_df = pipeline.prepare(df, test_size=0.25, seed=42)
    model = pipeline.train(train_df, **FAST_TRAIN)
    metrics = pipeline.evaluate(model, test_df)
    assert set(metrics) == {"test_rmse_usd", "test_mae_usd", "test_r2", "n_test"}
    assert metrics["n_test"] == len(test_df)
    baseline = float(((test_df[TARGET] - train_df[TARGET].mean()) ** 2).mean() ** 0.5)
    assert 0 < metrics["test_mae_usd"] <= metrics["test_rmse_usd"] < baseline, (
        "the model must beat predicting the mean")
    assert 0 < metrics["test_r2"] < 1


def test_stage_files_are_byte_identical_when_rerun(
    tmp_path: Path, synthetic_csv: Path, params_file: Path
) -> None:
    """DVC compares hashes: the same inputs must give the same bytes."""
    params = pipeline.load_params(params_file)
    hashes = []
    for run in ("a", "b"):
        out = tmp_path / run
        train_csv, test_csv = pipeline.run_prepare(params, out / "prepared", synthetic_csv)
        model = pipeline.run_train(params, out / "prepared", out / "model.joblib")
        metrics = pipeline.run_evaluate(out / "prepared", model, out / "metrics.json")
        hashes.append([md5_file(p) for p in (train_csv, test_csv, model,
                                              out / "metrics.json")])
        assert json.loads((out / "metrics.json").read_text()) == metrics
        assert not list(out.rglob(".*.tmp")), "no temporary files left behind"
    assert hashes[0] == hashes[1]


def test_cli_runs_the_three_stages(tmp_path: Path, synthetic_csv: Path, params_file: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    prepared, model, metrics = tmp_path / "prep", tmp_path / "m.joblib", tmp_path / "m.json"
    assert main(["pipeline", "prepare", "--params", str(params_file), "--data",
                 str(synthetic_csv), "--out-dir", str(prepared)]) == 0
    assert main(["pipeline", "train", "--params", str(params_file), "--prepared-dir",
                 str(prepared), "--model", str(model)]) == 0
    assert main(["pipeline", "evaluate", "--prepared-dir", str(prepared), "--model",
                 str(model), "--metrics", str(metrics)]) == 0
    out = capsys.readouterr().out
    assert "test RMSE = $" in out
    assert json.loads(metrics.read_text())["n_test"] == 150


def test_cli_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["pipeline", "evaluate", "--prepared-dir", str(tmp_path), "--model",
                   str(tmp_path / "none.joblib"), "--metrics", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert status == 2
    assert "test.csv" in err and "dvc repro" in err
    assert not (tmp_path / "m.json").exists()


def test_prepare_rejects_a_file_without_the_housing_columns(tmp_path: Path) -> None:
    from mlops_course.errors import DataIntegrityError

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataIntegrityError, match="lacks the column"):
        pipeline.run_prepare(pipeline.check_params({}), tmp_path / "out", bad)


def test_dvc_yaml_stages_call_this_module() -> None:
    """dvc.yaml and the CLI agree: every stage runs `mlops-course pipeline <stage>`, and
    the outputs it declares are the CLI's defaults (all under build/, ignored by git)."""
    from mlops_course import config

    stages = yaml.safe_load((config.project_root() / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["prepare", "train", "evaluate"]
    for name, stage in stages.items():
        assert stage["cmd"].startswith(f"mlops-course pipeline {name}")
        for out in stage.get("outs", []) + stage.get("metrics", []):
            assert out.startswith("build/dvc/"), out
    assert stages["train"]["outs"] == [pipeline.MODEL_FILE]
    assert stages["evaluate"]["metrics"] == [pipeline.METRICS_FILE]
    assert pipeline.MODEL_FILE in stages["evaluate"]["deps"]
