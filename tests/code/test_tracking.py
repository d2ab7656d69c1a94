"""Experiment tracking (mlops_course.tracking, .tuning): off by default, what a run records,
the DVC stages' runs, the registry gate, reproduction and its failures, the real server
(always stopped), and the clear errors. Small synthetic data and a store in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_course import pipeline, tracking
from mlops_course.data import TARGET, make_synthetic_housing

FAST_TRAIN = {"learning_rate": 0.2, "max_iter": 20, "max_leaf_nodes": 15, "seed": 42}


@pytest.fixture
def housing_file(tmp_path: Path) -> Path:
    path = tmp_path / "housing.csv"
    make_synthetic_housing(n_rows=600, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    import mlflow

    setup = tracking.setup_tracking(tmp_path / "mlflow", experiment="test")
    yield setup
    while mlflow.active_run():
        mlflow.end_run()
    tracking.disable_tracking()


def _train_logged(source: tracking.DataSource, name: str = "run", **params):  # noqa: ANN202
    import mlflow

    train_df, test_df = source.load_split()
    with mlflow.start_run(run_name=name) as run:
        model = pipeline.train(train_df, source=source, **{**FAST_TRAIN, **params})
        metrics = pipeline.evaluate(model, test_df)
    return run.info.run_id, model, metrics, test_df


def test_nothing_happens_at_import_and_training_logs_nothing_without_setup(
    tmp_path: Path, housing_file: Path
) -> None:
    code = (
        "import sys\n"
        "from mlops_course import pipeline, tracking, tuning\n"
        "from mlops_course.data import read_housing_csv\n"
        f"df = read_housing_csv({str(housing_file)!r})\n"
        "train_df, test_df = pipeline.prepare(df)\n"
        f"model = pipeline.train(train_df, **{FAST_TRAIN!r})\n"
        "pipeline.evaluate(model, test_df)\n"
        "print('mlflow' in sys.modules, 'optuna' in sys.modules, tracking.is_enabled())\n")
    env = {"MLOPS_COURSE_BUILD_DIR": str(tmp_path / "build"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, check=True, timeout=120).stdout.split()
    assert out == ["False", "False", "False"], "no MLflow, no Optuna, no tracking by default"
    assert not (tmp_path / "build").exists() and not (tmp_path / "mlruns").exists()


def test_a_training_run_records_its_lineage(store: tracking.TrackingSetup,
                                            housing_file: Path) -> None:
    import mlflow

    source = tracking.DataSource.raw(housing_file, seed=42)
    run_id, model, metrics, test_df = _train_logged(source)
    run = mlflow.MlflowClient().get_run(run_id)
    params, tags = run.data.params, run.data.tags
    assert params["learning_rate"] == "0.2" and params["features"] == "base"
    assert params["data.sha256"] == source.sha256 and params["data.source"] == source.path
    assert params["prepare.seed"] == "42" and params["model_family"] == (
        "HistGradientBoostingRegressor")
    assert run.data.metrics["test_rmse_usd"] == pytest.approx(metrics["test_rmse_usd"])
    contexts = sorted(d.tags[0].value for d in run.inputs.dataset_inputs)
    assert contexts == ["evaluation", "training"]
    assert {"git.commit", "git.dirty", "python", "model.uri"} <= set(tags)
    described = tracking.describe_run(run_id)
    assert described["environment"] and described["model"] and described["plots"] == 1
    assert store.artifact_location.startswith(store.store_dir.as_uri())
    logged = mlflow.models.get_model_info(tags["model.uri"])
    assert logged.signature is not None and logged.saved_input_example_info is not None


def test_frame_digest_sees_every_value() -> None:
    df = make_synthetic_housing(n_rows=50, seed=1)
    assert tracking.frame_digest(df) == tracking.frame_digest(df.copy())
    changed = df.copy()
    changed.iloc[49, 0] += 0.01
    assert tracking.frame_digest(changed) != tracking.frame_digest(df)


def test_params_parse_back_to_their_types() -> None:
    parsed = tracking.train_params_from({"learning_rate": "0.05", "max_iter": "300",
                                         "features": "geo", "seed": "None", "other": "x"})
    assert parsed == {"learning_rate": 0.05, "max_iter": 300, "features": "geo", "seed": None}
    source = tracking.DataSource.from_params({"data.source": "/x.csv", "data.sha256": "ab",
                                              "prepare.max_rows": "4000",
                                              "prepare.test_size": "0.2"})
    assert source.prepare == {"max_rows": 4000, "test_size": 0.2}


def test_reproduction_is_exact_and_its_failures_are_caught(
    store: tracking.TrackingSetup, housing_file: Path, tmp_path: Path
) -> None:
    import mlflow

    source = tracking.DataSource.raw(housing_file, seed=42)
    run_id, *_ = _train_logged(source, max_features=0.5)
    again = tracking.reproduce_run(run_id)
    assert again.max_abs_diff == 0.0 and again.new_run_id is not None
    assert mlflow.MlflowClient().get_run(again.new_run_id).data.tags["reproduces"] == run_id

    unseeded = tracking.reproduce_run(run_id, overrides={"seed": None, "prepare.seed": None},
                                      log=False)
    assert unseeded.max_abs_diff > 0, "without seeds the split and the model change"

    changed = tmp_path / "changed.csv"
    changed.write_text(housing_file.read_text().replace(",", ", ", 1))  # one byte more
    before = len(mlflow.search_runs(experiment_ids=[store.experiment_id]))
    with pytest.raises(tracking.DataDigestMismatchError, match="nothing was trained"):
        tracking.reproduce_run(run_id, data_path=changed)
    assert len(mlflow.search_runs(experiment_ids=[store.experiment_id])) == before

    with mlflow.start_run(run_name="by hand") as hand:
        mlflow.log_params(FAST_TRAIN)
        mlflow.log_metric("test_rmse_usd", 1.0)
    with pytest.raises(tracking.MissingDataDigestError, match="without a data digest"):
        tracking.reproduce_run(hand.info.run_id)


def test_the_dvc_stages_log_one_run_when_tracking_is_set_up(
    store: tracking.TrackingSetup, housing_file: Path, tmp_path: Path
) -> None:
    import mlflow

    params = pipeline.check_params({"prepare": {"seed": 42}, "train": FAST_TRAIN})
    prepared = tmp_path / "prepared"
    pipeline.run_prepare(params, prepared, housing_file)
    model_path = pipeline.run_train(params, prepared, tmp_path / "model.joblib")
    metrics = pipeline.run_evaluate(prepared, model_path, tmp_path / "metrics.json")
    runs = mlflow.search_runs(experiment_ids=[store.experiment_id], output_format="list")
    assert [r.info.run_name for r in runs] == ["dvc train"], "evaluate joins train's run"
    run = runs[0]
    assert run.data.metrics["test_rmse_usd"] == pytest.approx(metrics["test_rmse_usd"])
    assert run.data.params["data.split"] == "none"
    assert run.data.params["data.source"].endswith("train.csv")
    assert run.data.params["data.test.source"].endswith("test.csv")
    from mlops_course.data import file_digest

    assert run.data.tags["model.sha256"] == file_digest(model_path)
    assert tracking.reproduce_run(run.info.run_id, log=False).max_abs_diff == 0.0


def test_registry_gate_promotes_only_a_better_challenger(
    store: tracking.TrackingSetup, housing_file: Path
) -> None:
    source = tracking.DataSource.raw(housing_file, seed=42)
    weak_id, _, weak, test_df = _train_logged(source, "weak", max_iter=3)
    strong_id, strong_model, strong, _ = _train_logged(source, "strong", max_iter=60)
    assert strong["test_rmse_usd"] < weak["test_rmse_usd"]

    v_weak = tracking.register(weak_id)
    first = tracking.promote_if_better(v_weak, test_df)
    assert first.promoted and first.champion_version is None
    v_strong = tracking.register(strong_id)
    better = tracking.promote_if_better(v_strong, test_df)
    assert better.promoted and better.champion_version == v_weak
    assert better.challenger_rmse_usd == pytest.approx(strong["test_rmse_usd"])
    v_again = tracking.register(weak_id)
    worse = tracking.promote_if_better(v_again, test_df)
    assert not worse.promoted and tracking.resolve_version() == v_strong

    X = test_df.drop(columns=TARGET)
    champion = tracking.load_model()
    assert (champion.predict(X) == strong_model.predict(X)).all()
    old = tracking.load_model(version=v_weak)  # old versions stay loadable
    assert not (old.predict(X) == champion.predict(X)).all()
    with pytest.raises(tracking.ModelAliasError, match=r"@champion -> version"):
        tracking.load_model(alias="challenger")
    with pytest.raises(tracking.ModelAliasError, match="No registered model named 'nope'"):
        tracking.load_model("nope")


def test_tuning_logs_nested_trials_and_repeats(
    store: tracking.TrackingSetup, housing_file: Path
) -> None:
    import mlflow

    from mlops_course import tuning

    source = tracking.DataSource.raw(housing_file, seed=42)
    train_df, _ = source.load_split()
    space = tuning.search_space(max_iter=(10, 30, 10))
    results = []
    for name in ("first", "second"):
        with mlflow.start_run(run_name=name) as parent:
            result = tuning.tune(train_df, n_trials=4, space=space, verbose=False)
        assert result.parent_run_id == parent.info.run_id
        results.append(tuning.trial_runs(parent.info.run_id, complete_only=False))
    first, second = results
    assert len(first) == 4 and set(first["tags.mlflow.parentRunId"]) == {
        first["tags.mlflow.parentRunId"].iloc[0]}
    assert list(first["metrics.cv_rmse_usd"]) == list(second["metrics.cv_rmse_usd"])
    assert first["metrics.cv_rmse_usd"].is_monotonic_increasing, "best first"


def test_the_server_answers_over_http_and_is_always_stopped(
    store: tracking.TrackingSetup
) -> None:
    import mlflow

    with (pytest.raises(RuntimeError, match="a failing cell"),
          tracking.tracking_server(store.store_dir) as server):
        client = mlflow.MlflowClient(server.url)
        run = client.create_run(store.experiment_id, run_name="over http")
        client.log_metric(run.info.run_id, "test_rmse_usd", 1.0)
        client.set_terminated(run.info.run_id)
        found = client.search_runs([store.experiment_id], "metrics.test_rmse_usd = 1")
        assert [r.info.run_name for r in found] == ["over http"]
        assert tracking.group_members(server.pid), "the server runs in its own group"
        raise RuntimeError("a failing cell")
    assert tracking.group_members(server.pid) == [], "nothing of the server is left"
    start = time.perf_counter()
    with pytest.raises(tracking.TrackingServerError, match="Fix: start one"):
        tracking.check_server(server.url, timeout_s=1.0)
    assert time.perf_counter() - start < 5


def test_setup_from_environment_is_off_unless_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(tracking.TRACKING_ENV, raising=False)
    assert tracking.setup_from_environment() is None and not tracking.is_enabled()
    monkeypatch.setenv(tracking.TRACKING_ENV, str(tmp_path / "store"))
    try:
        setup = tracking.setup_from_environment()
        assert setup is not None and (tmp_path / "store" / "mlflow.db").is_file()
    finally:
        tracking.disable_tracking()
    with pytest.raises(tracking.TrackingServerError, match="No MLflow tracking server"):
        tracking.setup_tracking(tracking_uri="http://127.0.0.1:9")


def test_the_environment_is_recorded(store: tracking.TrackingSetup, housing_file: Path) -> None:
    """The environment record is plain JSON; the model's requirements are pinned."""
    import mlflow

    run_id, *_ = _train_logged(tracking.DataSource.raw(housing_file))
    text = mlflow.artifacts.load_text(f"runs:/{run_id}/environment.json")
    env = json.loads(text)
    assert env["packages"]["scikit-learn"] and env["python"]
    assert all("==" in r for r in tracking.pip_requirements())


def test_at_edge_reads_log_ranges_on_a_log_scale() -> None:
    from mlops_course import tuning

    space = tuning.search_space()
    edges = tuning.at_edge({"learning_rate": 0.0564, "max_iter": 600, "max_leaf_nodes": 62,
                            "l2_regularization": 0.0031, "max_features": 0.318,
                            "features": "geo"}, space)
    assert sorted(edges) == ["max_features", "max_iter", "max_leaf_nodes"]
    assert edges["max_iter"] == (600, 100, 600)
