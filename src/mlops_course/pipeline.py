"""The project's DVC pipeline, stage by stage: prepare -> train -> evaluate.

``dvc.yaml`` at the project root runs each stage as a command of the package
(``mlops-course pipeline prepare|train|evaluate``); ``params.yaml`` holds their
parameters. Each stage is a plain function on data (:func:`prepare`, :func:`train`,
:func:`evaluate`, easy to test) and a ``run_*`` function that reads and writes the
files DVC tracks. Every output is written deterministically: the same data, code and
parameters give the same bytes, so DVC's hashes mean something.

:func:`train` and :func:`evaluate` are the project's one training path. When tracking is
set up (:func:`mlops_course.tracking.setup_tracking`, or ``MLOPS_COURSE_TRACKING=1`` for
the commands below) they also log to MLflow: parameters, data digest, model, metrics
(lesson 5). Otherwise they log nothing and never import MLflow.

    mlops-course pipeline prepare   [--params params.yaml] [--data CSV] [--out-dir DIR]
    mlops-course pipeline train     [--params params.yaml] [--prepared-dir DIR] [--model FILE]
    mlops-course pipeline evaluate  [--prepared-dir DIR] [--model FILE] [--metrics FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_course.config import DEFAULT_SEED
from mlops_course.errors import MlopsCourseError

if TYPE_CHECKING:  # the CLI imports this module for its parser: keep that import light
    import pandas as pd

PARAMS_FILE = "params.yaml"
PREPARED_DIR = "build/dvc/prepared"
MODEL_FILE = "build/dvc/model.joblib"
METRICS_FILE = "build/dvc/metrics.json"
TRAIN_CSV = "train.csv"
TEST_CSV = "test.csv"

#: The parameters every stage needs, with their defaults (``params.yaml`` overrides them).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "prepare": {"test_size": 0.2, "seed": DEFAULT_SEED, "max_rows": None},
    "train": {"learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 31,
              "min_samples_leaf": 20, "l2_regularization": 0.0, "max_features": 1.0,
              "features": "base", "seed": DEFAULT_SEED},
}


class PipelineError(MlopsCourseError):
    """A pipeline stage cannot run: missing inputs or bad parameters."""


# -- parameters ------------------------------------------------------------------------

def load_params(path: str | os.PathLike[str] = PARAMS_FILE) -> dict[str, dict[str, Any]]:
    """Read ``params.yaml`` and check it: every section and key of :data:`DEFAULT_PARAMS`.

    Unknown keys are an error too (a typo such as ``learning_rte`` would otherwise be
    silently ignored while DVC still records it as a parameter).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PipelineError(
            f"No parameters file at {path.resolve()}.\n"
            f"Fix: run the stage from the project root (where {PARAMS_FILE} is), "
            f"e.g. `dvc repro`, or pass --params PATH.")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path} is not valid YAML: {exc}") from exc
    return check_params(params, source=str(path))


def check_params(params: Mapping[str, Any], *, source: str = "params") -> dict[str, dict[str, Any]]:
    """Return ``params`` with every section of :data:`DEFAULT_PARAMS`; reject unknown keys.

    Examples
    --------
    >>> check_params({"prepare": {"test_size": 0.25}})["prepare"]["test_size"]
    0.25
    >>> check_params({"train": {"learning_rte": 0.1}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlops_course.pipeline.PipelineError: params: unknown key train.learning_rte; known keys: ...
    """
    out: dict[str, dict[str, Any]] = {}
    for section, defaults in DEFAULT_PARAMS.items():
        given = dict(params.get(section) or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise PipelineError(
                f"{source}: unknown key {section}.{unknown[0]}; known keys: "
                f"{', '.join(f'{section}.{k}' for k in defaults)}")
        out[section] = {**defaults, **given}
    test_size = out["prepare"]["test_size"]
    if not isinstance(test_size, int | float) or not 0 < test_size < 1:
        raise PipelineError(f"{source}: prepare.test_size must be between 0 and 1, "
                            f"got {test_size!r}")
    max_rows = out["prepare"]["max_rows"]
    if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 100):
        raise PipelineError(f"{source}: prepare.max_rows must be null (every row) or an "
                            f"integer >= 100, got {max_rows!r}")
    from mlops_course.features import FEATURE_SETS

    if out["train"]["features"] not in FEATURE_SETS:
        raise PipelineError(f"{source}: train.features must be one of "
                            f"{', '.join(FEATURE_SETS)}, got {out['train']['features']!r}")
    max_features = out["train"]["max_features"]
    if not isinstance(max_features, int | float) or not 0 < max_features <= 1:
        raise PipelineError(f"{source}: train.max_features is the share of features each "
                            f"split may use, in (0, 1]; got {max_features!r}")
    return out


# -- the stages as functions on data ----------------------------------------------------

def prepare(
    df: pd.DataFrame,
    *,
    test_size: float = 0.2,
    seed: int | None = DEFAULT_SEED,
    max_rows: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the raw data into train and test sets (stratified by income), rows in order.

    ``max_rows`` first samples that many rows (fast runs); ``None`` keeps them all.
    ``seed=None`` draws a different split every call (lesson 5 shows what that breaks).
    """
    from mlops_course.data import split_train_test

    if max_rows is not None and max_rows < len(df):
        df = df.sample(n=max_rows, random_state=seed)
    train_df, test_df = split_train_test(df, test_size=test_size, seed=seed)
    return train_df.sort_index(), test_df.sort_index()


def build_model(
    *,
    learning_rate: float = 0.1,
    max_iter: int = 200,
    max_leaf_nodes: int = 31,
    min_samples_leaf: int = 20,
    l2_regularization: float = 0.0,
    max_features: float = 1.0,
    features: str = "base",
    seed: int | None = DEFAULT_SEED,
) -> Any:
    """The course pipeline (:func:`mlops_course.features.build_pipeline`) with these
    hyper-parameters of its ``HistGradientBoostingRegressor`` (no early stopping, so
    ``max_iter`` is the number of trees) and feature set (``"base"`` or ``"geo"``).
    The defaults are scikit-learn's, except ``max_iter``."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from mlops_course.features import build_pipeline

    model = HistGradientBoostingRegressor(
        learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
        max_features=max_features, early_stopping=False, random_state=seed)
    return build_pipeline(model, seed=seed, features=features)


def _tracking() -> Any:
    """The tracking module if tracking is set up in this process, else None (and MLflow
    is never imported)."""
    from mlops_course import tracking

    return tracking if tracking.is_enabled() else None


def train(
    train_df: pd.DataFrame,
    *,
    source: Any = None,
    log: bool = True,
    **hyper_parameters: Any,
) -> Any:
    """Fit :func:`build_model` on the training rows and return the fitted pipeline.

    Fitting runs on one thread: the fitted model records its thread count, so this keeps
    the saved bytes (and DVC's hash of them) the same on every machine.

    When tracking is set up and ``log`` is true, the run is logged to MLflow
    (:func:`mlops_course.tracking.log_training`): into the active run, or a new one.
    ``source`` (a :class:`mlops_course.tracking.DataSource`) names the data file the rows
    came from, so that the run records its path and sha256 and can be reproduced.
    """
    from threadpoolctl import threadpool_limits

    from mlops_course.data import TARGET

    model = build_model(**hyper_parameters)
    with threadpool_limits(limits=1):
        model.fit(train_df.drop(columns=TARGET), train_df[TARGET])
    tracking = _tracking() if log else None
    if tracking is not None:
        params = {**DEFAULT_PARAMS["train"], **hyper_parameters}
        tracking.log_training(model, train_df, params, source=source)
    return model


def evaluate(
    model: Any,
    test_df: pd.DataFrame,
    *,
    source: Any = None,
    log: bool = True,
    prefix: str = "test",
) -> dict[str, float | int]:
    """Metrics of ``model`` on the test rows: RMSE and MAE in dollars, R², row count.

    The keys start with ``prefix`` (``test_rmse_usd``, …; ``prefix="cv"`` for a
    validation fold). When tracking is set up and ``log`` is true, the metrics and a plot
    go to MLflow (:func:`mlops_course.tracking.log_evaluation`): into the active run, or
    the run that trained ``model``.
    """
    import numpy as np

    from mlops_course.data import TARGET

    y_true = test_df[TARGET].to_numpy(dtype=float)
    y_pred = np.asarray(model.predict(test_df.drop(columns=TARGET)), dtype=float)
    errors = y_pred - y_true
    ss_res = float(np.sum(errors**2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    metrics: dict[str, float | int] = {
        f"{prefix}_rmse_usd": round(math.sqrt(ss_res / len(y_true)), 2),
        f"{prefix}_mae_usd": round(float(np.mean(np.abs(errors))), 2),
        f"{prefix}_r2": round(1.0 - ss_res / ss_tot, 5),
        f"n_{prefix}": len(y_true),
    }
    tracking = _tracking() if log else None
    if tracking is not None:
        tracking.log_evaluation(model, test_df, metrics, y_pred, source=source)
    return metrics


# -- the stages as DVC runs them: files in, files out ----------------------------------

def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename: a crashed stage
    never leaves a half-written output for DVC to hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _read_split(path: Path, stage: str) -> pd.DataFrame:
    from mlops_course.data import read_housing_csv

    if not path.is_file():
        raise PipelineError(
            f"The {stage} stage needs {path}, which does not exist.\n"
            "Fix: run the stages before it, e.g. `dvc repro` (it runs what is missing).")
    return read_housing_csv(path)


def run_prepare(
    params: Mapping[str, Any],
    out_dir: str | os.PathLike[str] = PREPARED_DIR,
    data_path: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Stage ``prepare``: raw data -> ``train.csv`` and ``test.csv`` in ``out_dir``.

    Without ``data_path`` the data comes through the course loader (sha256-verified,
    ``MLOPS_COURSE_DATA_MIRROR`` honoured); with it, that CSV is read and schema-checked
    (a DVC-tracked file, as in lesson 4's workspace).
    """
    from mlops_course.data import load_housing, read_housing_csv

    df = load_housing() if data_path is None else read_housing_csv(data_path)
    p = params["prepare"]
    train_df, test_df = prepare(df, test_size=p["test_size"], seed=p["seed"],
                                max_rows=p["max_rows"])
    out = Path(out_dir)
    paths = out / TRAIN_CSV, out / TEST_CSV
    for frame, path in zip((train_df, test_df), paths, strict=True):
        _atomic_write(path, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
    return paths


def run_train(
    params: Mapping[str, Any],
    prepared_dir: str | os.PathLike[str] = PREPARED_DIR,
    model_path: str | os.PathLike[str] = MODEL_FILE,
) -> Path:
    """Stage ``train``: ``train.csv`` -> a fitted pipeline saved with joblib.

    With tracking set up, the run is logged as ``dvc train`` and tagged with the saved
    model file's sha256, so that the ``evaluate`` stage (another process) can find it.
    """
    import joblib

    train_path = Path(prepared_dir) / TRAIN_CSV
    train_df = _read_split(train_path, "train")
    tracking = _tracking()
    path = Path(model_path)
    if tracking is None:
        model = train(train_df, **params["train"])
        _atomic_write(path, lambda tmp: joblib.dump(model, tmp))
        return path
    import mlflow

    from mlops_course.data import file_digest

    with mlflow.start_run(run_name="dvc train", tags={"dvc.stage": "train"}) as run:
        model = train(train_df, source=tracking.DataSource.rows(train_path), **params["train"])
        _atomic_write(path, lambda tmp: joblib.dump(model, tmp))
        tracking.tag_run(run.info.run_id, {"model.file": str(path),
                                           "model.sha256": file_digest(path)})
    return path


def run_evaluate(
    prepared_dir: str | os.PathLike[str] = PREPARED_DIR,
    model_path: str | os.PathLike[str] = MODEL_FILE,
    metrics_path: str | os.PathLike[str] = METRICS_FILE,
) -> dict[str, float | int]:
    """Stage ``evaluate``: model + ``test.csv`` -> metrics JSON (sorted keys, rounded)."""
    import joblib

    test_df = _read_split(Path(prepared_dir) / TEST_CSV, "evaluate")
    model_file = Path(model_path)
    if not model_file.is_file():
        raise PipelineError(f"The evaluate stage needs the model {model_file}, which does "
                            "not exist.\nFix: run `dvc repro` (it trains the model first).")
    tracking = _tracking()
    if tracking is None:
        metrics = evaluate(joblib.load(model_file), test_df)
    else:  # log into the run that trained this very file (found by its sha256)
        import mlflow

        from mlops_course.data import file_digest

        run_id = tracking.find_run_by_tag("model.sha256", file_digest(model_file))
        scope = (mlflow.start_run(run_id=run_id) if run_id else
                 mlflow.start_run(run_name="dvc evaluate", tags={"dvc.stage": "evaluate"}))
        with scope:
            test_path = Path(prepared_dir) / TEST_CSV
            metrics = evaluate(joblib.load(model_file), test_df,
                               source=tracking.DataSource.rows(test_path))
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    _atomic_write(Path(metrics_path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return metrics


# -- the command line -------------------------------------------------------------------

def _cmd_prepare(args: argparse.Namespace) -> int:
    train_path, test_path = run_prepare(load_params(args.params), args.out_dir, args.data)
    print(f"prepare: wrote {train_path} and {test_path}")
    return 0


def _setup_tracking_from_env() -> None:
    """``MLOPS_COURSE_TRACKING=1 dvc repro``: the stages log to MLflow (off by default)."""
    if os.environ.get("MLOPS_COURSE_TRACKING"):
        from mlops_course import tracking

        setup = tracking.setup_from_environment()
        if setup is not None:
            print(f"tracking to {setup.tracking_uri} (experiment {setup.experiment_name!r})")


def _cmd_train(args: argparse.Namespace) -> int:
    _setup_tracking_from_env()
    path = run_train(load_params(args.params), args.prepared_dir, args.model)
    print(f"train: wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _setup_tracking_from_env()
    metrics = run_evaluate(args.prepared_dir, args.model, args.metrics)
    print(f"evaluate: test RMSE = ${metrics['test_rmse_usd']:,.0f} "
          f"on {metrics['n_test']:,} districts -> {args.metrics}")
    return 0


def add_commands(commands: Any) -> None:
    """Register ``mlops-course pipeline prepare|train|evaluate`` on the CLI's subparsers."""
    pipeline = commands.add_parser(
        "pipeline", help="the DVC pipeline's stages (dvc.yaml runs them; try `dvc repro`)"
    ).add_subparsers(dest="action", required=True)

    prep = pipeline.add_parser("prepare", help="raw data -> train/test CSV files")
    prep.add_argument("--params", default=PARAMS_FILE, help="parameters file (params.yaml)")
    prep.add_argument("--data", default=None,
                      help="a housing CSV to read (default: the verified course data)")
    prep.add_argument("--out-dir", default=PREPARED_DIR, help="where train.csv/test.csv go")
    prep.set_defaults(func=_cmd_prepare)

    fit = pipeline.add_parser("train", help="train.csv -> fitted model (joblib)")
    fit.add_argument("--params", default=PARAMS_FILE, help="parameters file (params.yaml)")
    fit.add_argument("--prepared-dir", default=PREPARED_DIR)
    fit.add_argument("--model", default=MODEL_FILE)
    fit.set_defaults(func=_cmd_train)

    ev = pipeline.add_parser("evaluate", help="model + test.csv -> metrics JSON")
    ev.add_argument("--prepared-dir", default=PREPARED_DIR)
    ev.add_argument("--model", default=MODEL_FILE)
    ev.add_argument("--metrics", default=METRICS_FILE)
    ev.set_defaults(func=_cmd_evaluate)
