"""Experiment tracking with MLflow: a local store, lineage, a registry gate, reproduction.

Nothing happens at import. :func:`setup_tracking` is the one explicit call that turns
tracking on: it points MLflow at a SQLite store and an artifact folder under
``build/mlflow/`` (no server needed), creates the experiment and switches MLflow's
telemetry off. From then on the project's one training path,
:func:`mlops_course.pipeline.train` and :func:`~mlops_course.pipeline.evaluate`, logs
what it does: parameters, metrics, the training data's file digest and source, the git
commit, the environment, plots and the fitted pipeline as an MLflow model with its
signature and an input example. Without the call, nothing is logged and MLflow is not
even imported (the DVC stages stay offline and quick unless ``MLOPS_COURSE_TRACKING`` is
set, see :func:`setup_from_environment`).

The rest of the module uses what was logged:

* the **registry** — :func:`register`, :func:`load_model` (``models:/name@champion``)
  and :func:`promote_if_better`, the gate that moves the ``champion`` alias only to a
  challenger that beats the champion on held-out data;
* **reproduction** — :func:`reproduce_run` re-trains a run from its recorded
  parameters, data digest and seeds and compares the metrics; a changed data file is
  refused before any training (:class:`DataDigestMismatchError`);
* a real **tracking server** — :func:`tracking_server` runs ``mlflow server`` on
  127.0.0.1 over the same store for the length of a ``with`` block and stops its whole
  process group, even when the block fails; :func:`check_server` fails fast, with the
  fix, when no server answers.

Exceptions::

    MlopsCourseError
    └── TrackingError                 tracking is not set up, or a store/run is unusable
        ├── TrackingServerError       no server answers, or one failed to start
        ├── ModelAliasError           no registered model or version under that name/alias
        └── DataDigestError
            ├── MissingDataDigestError   a run was logged without its data's digest
            └── DataDigestMismatchError  the data file changed since the run was logged
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError

if TYPE_CHECKING:  # pandas and mlflow are imported where they are used
    import pandas as pd

TRACKING_ENV = "MLOPS_COURSE_TRACKING"
EXPERIMENT = "house-prices"
MODEL_NAME = "house-prices"
CHAMPION = "champion"
#: What the fitted course pipeline contains beyond what skops trusts by default. MLflow
#: saves scikit-learn models with skops, which refuses to load any type not on an allow
#: list; these are the course's own transformers and what HistGradientBoosting stores.
TRUSTED_TYPES = (
    "mlops_course.features.DerivedFeatures",
    "mlops_course.features.GeoFeatures",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
#: The packages a logged model needs; their installed versions go into its requirements.
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "skops")
_QUIET_LOGGERS = ("alembic", "mlflow.store.db.utils", "mlflow.tracking._model_registry.fluent",
                  "mlflow.models.model", "mlflow.store.model_registry.abstract_store")


class TrackingError(MlopsCourseError):
    """Tracking is not set up, or a store, run or model cannot be used."""


class TrackingServerError(TrackingError):
    """No MLflow tracking server answers at an address, or one failed to start."""


class ModelAliasError(TrackingError):
    """No registered model, version or alias under the requested name."""


class DataDigestError(TrackingError):
    """The data behind a run cannot be checked or has changed."""


class MissingDataDigestError(DataDigestError):
    """A run was logged without the digest of its data: it cannot be checked or reproduced."""


class DataDigestMismatchError(DataDigestError):
    """A data file's digest differs from the one recorded: the file changed."""


# -- setup ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackingSetup:
    """Where tracking goes: the store's URI, the experiment, and (local) the folder."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    artifact_location: str
    store_dir: Path | None = None


_STATE: dict[str, TrackingSetup | None] = {"setup": None}
_MODEL_RUNS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def default_store_dir() -> Path:
    """The course's MLflow store: ``build/mlflow/`` (``mlflow.db`` and ``artifacts/``)."""
    return config.build_dir() / "mlflow"


def sqlite_uri(store_dir: str | os.PathLike[str]) -> str:
    """The tracking URI of the SQLite store in ``store_dir``."""
    return f"sqlite:///{(Path(store_dir) / 'mlflow.db').resolve()}"


def _quiet_mlflow() -> None:
    """Keep MLflow's telemetry off, its download progress bars and chatty loggers quiet
    (called by setup)."""
    import logging

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def setup_tracking(
    store_dir: str | os.PathLike[str] | None = None,
    *,
    tracking_uri: str | None = None,
    experiment: str = EXPERIMENT,
    fresh: bool = False,
) -> TrackingSetup:
    """Turn tracking on: a SQLite store under ``build/mlflow/``, or a server's URI.

    Parameters
    ----------
    store_dir:
        Folder of the local store (default :func:`default_store_dir`): the SQLite
        database ``mlflow.db`` (runs, metrics, the model registry) and ``artifacts/``
        (models, plots). Created if needed.
    tracking_uri:
        An ``http://`` address of a tracking server instead of a local store; it is
        checked with :func:`check_server` first, so an unreachable server fails in
        seconds instead of after MLflow's retries.
    experiment:
        The experiment to log into (created if needed, its artifacts under ``store_dir``).
    fresh:
        Delete ``store_dir`` first (a lesson that must start from an empty store).

    Returns
    -------
    TrackingSetup
        The URI, experiment id and name, and the artifact location.
    """
    _quiet_mlflow()
    import mlflow

    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        check_server(tracking_uri)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        folder, uri, artifacts = None, tracking_uri, None
    elif tracking_uri:
        raise TrackingError(
            f"tracking_uri={tracking_uri!r} is not an http(s) address of a tracking server.\n"
            "Fix: pass store_dir=FOLDER for a local SQLite store, or the server's "
            "http://host:port address.")
    else:
        folder = Path(store_dir) if store_dir is not None else default_store_dir()
        folder = folder.resolve()
        if fresh and folder.exists():
            shutil.rmtree(folder)
        (folder / "artifacts").mkdir(parents=True, exist_ok=True)
        uri, artifacts = sqlite_uri(folder), (folder / "artifacts").as_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        experiment_id = client.create_experiment(experiment, artifact_location=artifacts)
        found = client.get_experiment(experiment_id)
    elif found.lifecycle_stage != "active":
        raise TrackingError(
            f"The experiment {experiment!r} in {uri} is deleted.\n"
            f"Fix: restore it (MlflowClient().restore_experiment({found.experiment_id!r})) "
            "or choose another name.")
    mlflow.set_experiment(experiment_id=found.experiment_id)
    setup = TrackingSetup(tracking_uri=uri, experiment_id=found.experiment_id,
                          experiment_name=experiment, artifact_location=found.artifact_location,
                          store_dir=folder)
    _STATE["setup"] = setup
    return setup


def setup_from_environment() -> TrackingSetup | None:
    """Set up tracking if ``MLOPS_COURSE_TRACKING`` asks for it (the DVC stages call this).

    ``MLOPS_COURSE_TRACKING=1`` logs into the course's store (``build/mlflow/``); an
    ``http://`` value logs to that server; unset, empty or ``0``: tracking stays off and
    MLflow is not imported.
    """
    value = os.environ.get(TRACKING_ENV, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return setup_tracking()
    if value.startswith(("http://", "https://")):
        return setup_tracking(tracking_uri=value)
    return setup_tracking(value)


def is_enabled() -> bool:
    """Whether :func:`setup_tracking` turned tracking on in this process."""
    return _STATE["setup"] is not None


def active_setup() -> TrackingSetup:
    """The current :class:`TrackingSetup`; raises :class:`TrackingError` if there is none."""
    setup = _STATE["setup"]
    if setup is None:
        raise TrackingError("Tracking is not set up in this process.\n"
                            "Fix: call mlops_course.tracking.setup_tracking() first.")
    return setup


def disable_tracking() -> None:
    """Turn tracking off again (the store is kept); ``pipeline.train`` stops logging."""
    _STATE["setup"] = None


# -- data lineage -----------------------------------------------------------------------

def frame_digest(df: pd.DataFrame) -> str:
    """A sha256 of a DataFrame's full content: column names, dtypes, index and values.

    MLflow's own dataset digest hashes at most the first 10,000 rows and keeps 8 hex
    digits; this one sees every value.
    """
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c) for c in df.columns],
                              [str(t) for t in df.dtypes]]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class DataSource:
    """The file a run's rows came from, its sha256, and how the rows were made from it.

    ``split="prepare"``: the file is the raw housing data and
    :func:`mlops_course.pipeline.prepare` with ``prepare`` (test_size, seed, max_rows)
    makes the train and test rows. ``split="none"``: the file *is* the rows (a DVC
    stage's ``train.csv`` or ``test.csv``).
    """

    path: str
    sha256: str
    split: str = "prepare"
    prepare: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def raw(cls, path: str | os.PathLike[str], *, test_size: float = 0.2,
            seed: int | None = config.DEFAULT_SEED, max_rows: int | None = None) -> DataSource:
        """The raw housing CSV at ``path``, to be split by ``pipeline.prepare``."""
        from mlops_course.data import file_digest

        resolved = Path(path).resolve()
        return cls(str(resolved), file_digest(resolved), "prepare",
                   {"test_size": test_size, "seed": seed, "max_rows": max_rows})

    @classmethod
    def rows(cls, path: str | os.PathLike[str]) -> DataSource:
        """A CSV whose rows are used as they are (a DVC stage's prepared split)."""
        from mlops_course.data import file_digest

        resolved = Path(path).resolve()
        return cls(str(resolved), file_digest(resolved), "none", {})

    def verify(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Check that the file (``path``, default the recorded one) still has the recorded
        sha256; return its path. Raises :class:`DataDigestMismatchError` otherwise."""
        from mlops_course.data import file_digest

        target = Path(path if path is not None else self.path)
        if not target.is_file():
            raise DataDigestError(
                f"The data file {target} does not exist; the run was trained on "
                f"{self.path} (sha256 {self.sha256[:12]}…).\n"
                "Fix: restore that file (for a DVC-tracked file: `dvc pull` or "
                "`dvc checkout`), or pass the path where it now lives.")
        actual = file_digest(target)
        if actual != self.sha256:
            raise DataDigestMismatchError(
                f"The data file {target} has sha256 {actual[:12]}…, but the run was "
                f"trained on data with sha256 {self.sha256[:12]}…: the file changed since. "
                "Training on it would not reproduce the run, so nothing was trained.\n"
                "Fix: get the recorded version back (for a DVC-tracked file: `git checkout "
                "<the run's commit> && dvc checkout`), or log a new run on the new data.")
        return target

    def load_split(self, path: str | os.PathLike[str] | None = None,
                   **prepare: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Verify the raw file, then split it as recorded (``prepare`` overrides a setting,
        e.g. ``seed=None`` to show what an unseeded split does)."""
        from mlops_course.data import read_housing_csv
        from mlops_course.pipeline import prepare as prepare_rows

        if self.split != "prepare":
            raise TrackingError(f"{self.path} holds prepared rows (split={self.split!r}); "
                                "read it with read_housing_csv, there is nothing to split.")
        frame = read_housing_csv(self.verify(path))
        return prepare_rows(frame, **{**self.prepare, **prepare})

    def as_params(self, prefix: str = "data") -> dict[str, Any]:
        """The MLflow parameters that record this source (``data.source``, ``data.sha256``,
        ``data.split`` and ``prepare.*``)."""
        params: dict[str, Any] = {f"{prefix}.source": self.path, f"{prefix}.sha256": self.sha256}
        if prefix == "data":
            params["data.split"] = self.split
            params.update({f"prepare.{key}": value for key, value in self.prepare.items()})
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DataSource:
        """The source a run recorded (see :meth:`as_params`)."""
        from mlops_course.pipeline import DEFAULT_PARAMS

        prepare = {key: _parse_value(params[f"prepare.{key}"], default)
                   for key, default in DEFAULT_PARAMS["prepare"].items()
                   if f"prepare.{key}" in params}
        return cls(params["data.source"], params["data.sha256"],
                   params.get("data.split", "prepare"), prepare)


def _parse_value(text: str, default: Any) -> Any:
    """An MLflow parameter (always a string) back to the type of ``default``."""
    if text == "None":
        return None
    if isinstance(default, bool):
        return text == "True"
    if isinstance(default, int):
        return int(float(text))
    if isinstance(default, float):
        return float(text)
    if default is None:  # an optional number (max_rows): the most specific type that fits
        for kind in (int, float):
            with contextlib.suppress(ValueError):
                return kind(text)
    return text


def train_params_from(params: Mapping[str, str]) -> dict[str, Any]:
    """The training hyper-parameters recorded in a run's (string) parameters, typed as
    :data:`mlops_course.pipeline.DEFAULT_PARAMS` types them; others are ignored.

    Examples
    --------
    >>> train_params_from({"learning_rate": "0.05", "max_iter": "300", "data.sha256": "ab"})
    {'learning_rate': 0.05, 'max_iter': 300}
    """
    from mlops_course.pipeline import DEFAULT_PARAMS

    defaults = DEFAULT_PARAMS["train"]
    return {key: _parse_value(params[key], default)
            for key, default in defaults.items() if key in params}


# -- what a training run records ---------------------------------------------------------

def git_state(root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The checkout's commit and whether it has uncommitted changes (``unknown`` outside
    a Git checkout)."""
    cwd = Path(root) if root is not None else config.project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=cwd, capture_output=True, text=True, timeout=10,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    return {"git.commit": commit, "git.dirty": str(bool(status.strip()))}


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages a model depends on."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in (*MODEL_REQUIREMENTS, "optuna", "mlops-course"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": os.cpu_count(), "packages": packages}


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model (given explicitly: MLflow's inference of them
    costs seconds per model)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


@contextlib.contextmanager
def run_scope(name: str, run_id: str | None = None) -> Iterator[Any]:
    """The active run if there is one; else resume ``run_id``, or start a run ``name``."""
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else name) as run:
        yield run


def _params_for_mlflow(params: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in params.items()}


def log_training(
    model: Any,
    train_df: pd.DataFrame,
    hyper_parameters: Mapping[str, Any],
    *,
    source: DataSource | None = None,
) -> str:
    """Record a fitted pipeline in MLflow; return the run id (``pipeline.train`` calls it).

    Logs into the active run, or a new run named ``train``: the hyper-parameters, the
    model family, the training rows as an MLflow dataset (full-content digest), the data
    file's source and sha256 (with ``source``), the git commit, the environment and the
    pipeline as an MLflow model with its signature, an input example and pinned
    requirements.
    """
    import warnings

    import mlflow
    from mlflow.models import infer_signature

    from mlops_course.data import TARGET

    X = train_df.drop(columns=TARGET)
    with run_scope("train") as run:
        mlflow.log_params(_params_for_mlflow(
            {**hyper_parameters, "model_family": type(model[-1]).__name__}))
        if source is not None:
            mlflow.log_params(_params_for_mlflow(source.as_params()))
        with warnings.catch_warnings():  # a local path reads as two kinds of source
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(
                train_df, source=source.path if source else None, targets=TARGET,
                name="housing-train", digest=frame_digest(train_df)[:32])
        mlflow.log_input(dataset, context="training")
        mlflow.set_tags({**git_state(), "python": platform.python_version()})
        mlflow.log_dict(environment(), "environment.json")
        example = X.head(5)
        signature = infer_signature(example, model.predict(example))
        info = mlflow.sklearn.log_model(
            model, name="model", signature=signature, input_example=example,
            pip_requirements=pip_requirements(), skops_trusted_types=list(TRUSTED_TYPES))
        mlflow.set_tag("model.uri", info.model_uri)
        run_id = run.info.run_id
    _MODEL_RUNS[model] = run_id
    return run_id


def log_evaluation(
    model: Any,
    test_df: pd.DataFrame,
    metrics: Mapping[str, float | int],
    y_pred: Any,
    *,
    source: DataSource | None = None,
) -> str:
    """Record a model's metrics on ``test_df``; return the run id (``pipeline.evaluate``
    calls it).

    Logs into the active run; else into the run that trained ``model`` in this process;
    else a new run named ``evaluate``. Adds the evaluation rows as an MLflow dataset, the
    test file's source and sha256 (with ``source``) and a plot of predicted against true
    prices.
    """
    import warnings

    import mlflow

    from mlops_course.data import TARGET

    with run_scope("evaluate", _MODEL_RUNS.get(model)) as run:
        mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
        if source is not None:
            mlflow.log_params(_params_for_mlflow(source.as_params("data.test")))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(
                test_df, source=source.path if source else None, targets=TARGET,
                name="housing-test", digest=frame_digest(test_df)[:32])
        mlflow.log_input(dataset, context="evaluation")
        mlflow.log_figure(evaluation_figure(test_df[TARGET], y_pred, metrics),
                          "plots/predicted_vs_true.png")
        return run.info.run_id


def evaluation_figure(y_true: Any, y_pred: Any, metrics: Mapping[str, float | int]) -> Any:
    """Predicted against true price, and the error's distribution (a matplotlib Figure,
    not shown: it goes into the run's artifacts)."""
    import numpy as np
    from matplotlib.figure import Figure

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig = Figure(figsize=(9, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.scatter(y_true / 1e3, y_pred / 1e3, s=3, alpha=0.4)
    left.axline((0, 0), slope=1, color="black", lw=1)
    left.set(xlabel="true median house value (k$)", ylabel="predicted (k$)",
             title="Predicted vs true (the line: no error)")
    right.hist((y_pred - y_true) / 1e3, bins=60, color="tab:gray")
    rmse = metrics.get("test_rmse_usd", metrics.get("cv_rmse_usd"))
    right.set(xlabel="prediction error (k$)", ylabel="districts",
              title=f"Errors (RMSE ${rmse:,.0f})" if rmse is not None else "Errors")
    return fig


def tag_run(run_id: str, tags: Mapping[str, Any]) -> None:
    """Set tags on a (possibly finished) run."""
    import mlflow

    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def run_id_of(model: Any) -> str | None:
    """The run that trained ``model`` in this process (``None`` if it was not logged)."""
    return _MODEL_RUNS.get(model)


def find_run_by_tag(key: str, value: str) -> str | None:
    """The latest run of the current experiment whose tag ``key`` equals ``value``."""
    import mlflow

    runs = mlflow.search_runs(experiment_ids=[active_setup().experiment_id],
                              filter_string=f"tags.`{key}` = '{value}'",
                              order_by=["attributes.start_time DESC"], max_results=1,
                              output_format="list")
    return runs[0].info.run_id if runs else None


def describe_run(run_id: str) -> dict[str, Any]:
    """What a run recorded, in a few words per aspect: for a table that compares runs.

    Examples
    --------
    >>> describe_run(run_id)  # doctest: +SKIP
    {'run': 'champion', 'params': 12, 'test_rmse_usd': 40211.0, 'data sha256': '8a3727f4cf54…', ...}
    """
    import mlflow

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    params, tags = run.data.params, run.data.tags
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    plots = [a.path for a in client.list_artifacts(run_id, "plots")] if "plots" in artifacts else []
    sha = params.get("data.sha256")
    return {
        "run": run.info.run_name,
        "params": len(params),
        "test_rmse_usd": run.data.metrics.get("test_rmse_usd"),
        "data sha256": f"{sha[:12]}…" if sha else "—",
        "datasets": len(run.inputs.dataset_inputs) if run.inputs else 0,
        "git commit": tags.get("git.commit", "—")[:10],
        "environment": "environment.json" in artifacts,
        "model": "model.uri" in tags,
        "plots": len(plots),
    }


# -- the registry ----------------------------------------------------------------------

@contextlib.contextmanager
def _deserialization_allowed() -> Iterator[None]:
    """MLflow 3.17 refuses to load any model, skops included, unless
    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is true (loading runs code from the model).
    The course loads only models from its own store, so it allows it around the load."""
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def register(run_id: str, name: str = MODEL_NAME) -> str:
    """Register the model that run ``run_id`` logged as a new version of ``name``; return
    the version (a string, as MLflow numbers them: "1", "2", …)."""
    import mlflow

    client = mlflow.MlflowClient()
    uri = client.get_run(run_id).data.tags.get("model.uri")
    if uri is None:
        raise TrackingError(
            f"Run {run_id} logged no model, so there is nothing to register.\n"
            "Fix: train through mlops_course.pipeline.train with tracking set up "
            "(it logs the fitted pipeline), then register that run.")
    with contextlib.redirect_stderr(io.StringIO()):  # "Successfully registered ...": noise
        return str(mlflow.register_model(uri, name).version)


def _aliases(name: str) -> dict[str, str]:
    import mlflow

    return dict(mlflow.MlflowClient().get_registered_model(name).aliases)


def resolve_version(name: str = MODEL_NAME, alias: str = CHAMPION) -> str:
    """The version that carries ``alias``; :class:`ModelAliasError` (with what exists and
    the fix) if the model or the alias does not exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        aliases = _aliases(name)
    except MlflowException as exc:
        known = [m.name for m in client.search_registered_models()]
        raise ModelAliasError(
            f"No registered model named {name!r} in {mlflow.get_tracking_uri()} "
            f"(registered: {', '.join(known) or 'none'}).\n"
            f"Fix: register one first: mlops_course.tracking.register(run_id, {name!r}).") from exc
    if alias not in aliases:
        listed = ", ".join(f"@{a} -> version {v}" for a, v in sorted(aliases.items())) or "none"
        raise ModelAliasError(
            f"Registered model {name!r} has no version with the alias {alias!r} "
            f"(its aliases: {listed}).\n"
            f"Fix: load an existing alias or a version number (models:/{name}/<version>), "
            f"or set the alias: MlflowClient().set_registered_model_alias({name!r}, "
            f"{alias!r}, <version>).")
    return str(aliases[alias])


def load_model(name: str = MODEL_NAME, alias: str | None = CHAMPION,
               version: str | int | None = None) -> Any:
    """Load a registered model by alias (``models:/name@alias``) or by version number.

    Raises :class:`ModelAliasError` for an unknown model or alias, with the fix.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if version is None:
        resolve_version(name, alias or CHAMPION)  # a clear error before MLflow's
        uri = f"models:/{name}@{alias or CHAMPION}"
    else:
        uri = f"models:/{name}/{version}"
    try:
        with _deserialization_allowed():
            return mlflow.sklearn.load_model(uri)
    except MlflowException as exc:
        if version is None:
            raise
        raise ModelAliasError(f"Registered model {name!r} has no version {version} "
                              f"({exc.message}).\nFix: list the versions with "
                              f"MlflowClient().search_model_versions(\"name='{name}'\").") from exc


@dataclass(frozen=True)
class Promotion:
    """What the gate decided: was the challenger promoted, on which held-out RMSEs."""

    promoted: bool
    challenger_version: str
    champion_version: str | None
    challenger_rmse_usd: float
    champion_rmse_usd: float | None
    reason: str


def promote_if_better(
    challenger_version: str | int,
    held_out: pd.DataFrame,
    *,
    name: str = MODEL_NAME,
    alias: str = CHAMPION,
) -> Promotion:
    """The promotion gate: move ``alias`` to the challenger only if it beats the champion.

    Both models are loaded from the registry and scored on the same held-out rows
    (``pipeline.evaluate``, not the numbers their runs logged, which may come from other
    data); the challenger is promoted if its RMSE is strictly lower, or if there is no
    champion yet. The decision and both RMSEs are tagged on the challenger's version.
    The old champion stays registered and loadable by its version number.
    """
    import mlflow

    from mlops_course.pipeline import evaluate

    challenger_version = str(challenger_version)
    client = mlflow.MlflowClient()
    score = {challenger_version: evaluate(load_model(name, version=challenger_version),
                                          held_out, log=False)["test_rmse_usd"]}
    try:
        champion_version: str | None = resolve_version(name, alias)
    except ModelAliasError:
        champion_version = None
    if champion_version is None:
        promoted, reason = True, f"no @{alias} yet"
    elif champion_version == challenger_version:
        promoted, reason = False, f"version {challenger_version} already is @{alias}"
    else:
        score[champion_version] = evaluate(load_model(name, version=champion_version),
                                           held_out, log=False)["test_rmse_usd"]
        promoted = score[challenger_version] < score[champion_version]
        reason = (f"held-out RMSE ${score[challenger_version]:,.0f} "
                  f"{'<' if promoted else '>='} @{alias} (version {champion_version}) "
                  f"${score[champion_version]:,.0f}")
    if promoted:
        client.set_registered_model_alias(name, alias, challenger_version)
    client.set_model_version_tag(name, challenger_version, "gate",
                                 "promoted" if promoted else "rejected")
    client.set_model_version_tag(name, challenger_version, "gate.reason", reason)
    return Promotion(promoted, challenger_version, champion_version, score[challenger_version],
                     score.get(champion_version) if champion_version else None, reason)


# -- reproduction ------------------------------------------------------------------------

@dataclass(frozen=True)
class Reproduction:
    """A run trained again from its record: both sets of metrics and their largest gap."""

    run_id: str
    new_run_id: str | None
    original: dict[str, float]
    reproduced: dict[str, float]

    @property
    def max_abs_diff(self) -> float:
        """The largest absolute difference over the metrics both runs have."""
        shared = set(self.original) & set(self.reproduced)
        return max((abs(self.original[k] - self.reproduced[k]) for k in shared), default=0.0)


def recorded_source(run_id: str) -> DataSource:
    """The data source a run recorded; :class:`MissingDataDigestError` if it has none."""
    import mlflow

    run = mlflow.MlflowClient().get_run(run_id)
    params = run.data.params
    if "data.sha256" not in params or "data.source" not in params:
        raise MissingDataDigestError(
            f"Run {run_id} ({run.info.run_name!r}) was logged without a data digest: "
            "nothing records which data it was trained on, so it can be neither checked "
            "nor reproduced.\nFix: train through mlops_course.pipeline.train(train_df, "
            "source=tracking.DataSource.raw(path, ...)) with tracking set up; it records "
            "data.source and data.sha256 (or log them yourself with mlflow.log_params).")
    return DataSource.from_params(params)


def reproduce_run(
    run_id: str,
    *,
    data_path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    log: bool = True,
) -> Reproduction:
    """Train run ``run_id`` again from its recorded parameters, data and seeds; compare.

    The data file (``data_path``, default the recorded path) is checked against the
    recorded sha256 **before** any training: a changed file raises
    :class:`DataDigestMismatchError`; a run without a digest raises
    :class:`MissingDataDigestError`. ``overrides`` replaces recorded settings (``seed``,
    ``prepare.seed``, …) to show what breaks reproduction. With ``log`` the new run is
    logged too, tagged ``reproduces=<run_id>``.
    """
    import mlflow

    from mlops_course import pipeline
    from mlops_course.data import read_housing_csv

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    source = recorded_source(run_id)
    overrides = dict(overrides or {})
    prepare_overrides = {k.split(".", 1)[1]: overrides.pop(k)
                         for k in list(overrides) if k.startswith("prepare.")}
    params = {**train_params_from(run.data.params), **overrides}
    if source.split == "prepare":
        train_df, test_df = source.load_split(data_path, **prepare_overrides)
    else:
        train_df = read_housing_csv(source.verify(data_path))
        recorded = run.data.params
        if "data.test.sha256" not in recorded:
            raise MissingDataDigestError(
                f"Run {run_id} trained on prepared rows but recorded no test file digest "
                "(its evaluation was not logged).\nFix: evaluate it through "
                "pipeline.evaluate with tracking set up, or reproduce it with `dvc repro`.")
        test_source = DataSource(recorded["data.test.source"], recorded["data.test.sha256"],
                                 "none")
        test_df = read_housing_csv(test_source.verify())
    new_run_id = None
    if log:
        with mlflow.start_run(run_name=f"reproduce {run.info.run_name}",
                              tags={"reproduces": run_id}) as new_run:
            model = pipeline.train(train_df, source=source, **params)
            reproduced = pipeline.evaluate(model, test_df)
            new_run_id = new_run.info.run_id
    else:
        model = pipeline.train(train_df, log=False, **params)
        reproduced = pipeline.evaluate(model, test_df, log=False)
    original = {k: float(v) for k, v in run.data.metrics.items() if k in reproduced}
    return Reproduction(run_id, new_run_id, original,
                        {k: float(v) for k, v in reproduced.items()})


# -- a real tracking server --------------------------------------------------------------

def check_server(url: str, timeout_s: float = 2.0) -> None:
    """Fail fast, with the fix, if no MLflow tracking server answers ``url/health``.

    MLflow's own client retries a dead address for minutes; this asks once, with a short
    timeout.
    """
    if not url.startswith(("http://", "https://")):
        raise TrackingServerError(f"{url!r} is not an http(s) address of a tracking server.")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout_s) as response:
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code} from /health: not an MLflow server?"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        problem = f"{type(reason).__name__}: {reason}"
    raise TrackingServerError(
        f"No MLflow tracking server answers at {url} ({problem}; asked with a "
        f"{timeout_s:g} s timeout).\n"
        "Fix: start one — `make mlflow-ui` serves the course's store on "
        "http://127.0.0.1:5000, or `mlflow server --backend-store-uri "
        "sqlite:///build/mlflow/mlflow.db --host 127.0.0.1 --port 5000` — or log to the "
        "local store instead: mlops_course.tracking.setup_tracking().")


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (Linux: read from /proc;
    elsewhere: ``[pgid]`` while the group can be signalled)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def stop_process_group(process: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """Stop a process started with ``start_new_session=True`` and every process it
    spawned: SIGTERM to the group, then SIGKILL to what is left after ``timeout_s``."""
    pgid = process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
            if process.poll() is not None and not group_members(pgid):
                return
    if group_members(pgid):
        raise TrackingServerError(f"Could not stop process group {pgid}: "
                                  f"{group_members(pgid)} still run. Fix: kill -9 -{pgid}")


@dataclass(frozen=True)
class TrackingServer:
    """A running ``mlflow server``: its address, process group and log file."""

    url: str
    pid: int
    log_path: Path
    startup_s: float


@contextlib.contextmanager
def tracking_server(
    store_dir: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    startup_timeout_s: float = 90.0,
) -> Iterator[TrackingServer]:
    """Run ``mlflow server`` on 127.0.0.1 over the SQLite store in ``store_dir`` for the
    length of a ``with`` block; yield its address.

    The server runs in its own session (process group): when the block ends — normally,
    by an exception, or when the interpreter exits — the whole group is stopped, workers
    included. Its output goes to ``store_dir/server.log``. MLflow's background job runner
    (for GenAI features) is switched off: it would add processes and start-up time.
    """
    folder = Path(store_dir) if store_dir is not None else default_store_dir()
    folder = folder.resolve()
    (folder / "artifacts").mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", sqlite_uri(folder),
               "--default-artifact-root", (folder / "artifacts").as_uri(),
               "--artifacts-destination", (folder / "artifacts").as_uri(),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)

    def stop() -> None:  # also at interpreter exit, should the block never end
        stop_process_group(process)

    atexit.register(stop)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise TrackingServerError(
                    f"mlflow server exited with status {process.returncode} before it "
                    f"answered on {url}. Its log ({log_path}) ends with:\n{tail}")
            try:
                check_server(url, timeout_s=1.0)
                break
            except TrackingServerError:
                if time.monotonic() > deadline:
                    raise TrackingServerError(
                        f"mlflow server did not answer on {url} within {startup_timeout_s:g} s "
                        f"(log: {log_path}).\nFix: look at the log; on a slow machine pass "
                        "a longer startup_timeout_s.") from None
                time.sleep(0.25)
        yield TrackingServer(url, process.pid, log_path, time.perf_counter() - start)
    finally:
        atexit.unregister(stop)
        stop()
