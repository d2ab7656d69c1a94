# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Exercise 5 — A tracker's core, on a real MLflow store
#
# Lesson 5 used the course package's tracking functions. Here you write their core
# yourself, with MLflow's own API, against a small MLflow store (SQLite) in a temporary
# folder — nothing needs a server or the network. Four parts: log a run that records its
# data, find the best run by a query, the promotion gate of a model registry, and the
# check that refuses to reproduce a run whose data changed. Each part has public tests you
# can run here; graders also run hidden tests.
#
# `fresh_store()` (below) gives every test an empty store and makes it MLflow's current
# tracking and registry URI, so `mlflow.start_run()`, `mlflow.search_runs()` and
# `MlflowClient()` all use it.

# %%
import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # before MLflow is imported
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
import mlflow
from mlflow import MlflowClient

from mlops_course.course.observe import raised

_FOLDERS = []
atexit.register(lambda: [shutil.rmtree(f, ignore_errors=True) for f in _FOLDERS])


def _new_folder(prefix):
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _FOLDERS.append(folder)
    return folder


# An empty store takes MLflow a second or two to create (it builds its tables); make one
# now and copy its database for every fresh store.
_TEMPLATE = _new_folder("mlflow-template-")
MlflowClient(f"sqlite:///{_TEMPLATE}/mlflow.db").search_experiments()


def fresh_store(name="exercise"):
    """An empty MLflow store in a new temporary folder, made MLflow's current tracking and
    registry URI, with an experiment ``name`` set as the current one; returns its id."""
    while mlflow.active_run():
        mlflow.end_run()
    folder = _new_folder("mlflow-")
    shutil.copyfile(_TEMPLATE / "mlflow.db", folder / "mlflow.db")
    uri = f"sqlite:///{folder}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = mlflow.create_experiment(name, artifact_location=(folder / "a").as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def write_file(text):
    """A small data file in a temporary folder; returns its path."""
    path = _new_folder("data-") / "housing.csv"
    path.write_text(text)
    return path


# %% [markdown]
# ## Part 1 — A run that records its data (3 points)
# Lesson 1's hand-logged forest recorded two parameters and a metric, and nothing about
# its data. Write `log_run(params, metrics, data_path, run_name)`:
#
# * start a run named `run_name` in the current experiment, log every parameter and every
#   metric;
# * also log two parameters that pin the data: `data.source` (the path, as a string) and
#   `data.sha256` (the sha256 hex digest of the file's bytes; read it in chunks);
# * return the run id, and leave no run active (end it even if logging fails).

# %% tags=["solution"] grade_id="log_run"
def log_run(params, metrics, data_path, run_name) -> str:
    """Log one run that records its parameters, metrics and data; return its id."""
    ### BEGIN SOLUTION
    digest = hashlib.sha256()
    with open(data_path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_params({"data.source": str(data_path), "data.sha256": digest.hexdigest()})
    return run.info.run_id
    ### END SOLUTION


# %% tags=["test"] grade_id="test_log_run_records_data" points=1.5
def probe():
    fresh_store()
    path = write_file("median_income,median_house_value\n8.3,452600\n")
    run_id = log_run({"learning_rate": 0.1, "max_iter": 200}, {"test_rmse_usd": 41234.5},
                     path, "first")
    run = MlflowClient().get_run(run_id)
    return {"params": run.data.params, "metrics": run.data.metrics,
            "name": run.info.run_name, "status": run.info.status, "path": str(path),
            "active_after": repr(mlflow.active_run())}


def verify(observed):
    import hashlib

    sha = hashlib.sha256(b"median_income,median_house_value\n8.3,452600\n").hexdigest()
    params = observed["params"]
    assert params.get("learning_rate") == "0.1" and params.get("max_iter") == "200", (
        f"log every parameter (MLflow stores them as strings): {params}")
    assert observed["metrics"] == {"test_rmse_usd": 41234.5}, observed["metrics"]
    assert observed["name"] == "first", f"name the run run_name, got {observed['name']!r}"
    assert params.get("data.sha256") == sha, (
        f"data.sha256 must be the sha256 of the file's bytes ({sha[:12]}…), "
        f"got {params.get('data.sha256')!r}")
    assert params.get("data.source") == observed["path"], "data.source must be the path"
    assert observed["status"] == "FINISHED", f"end the run: its status is {observed['status']}"
    assert observed["active_after"] == "None", "no run may stay active after log_run"


verify(probe())

# %% tags=["test"] grade_id="hidden_log_run_large_file_and_two_runs" points=1.5
### BEGIN HIDDEN TESTS
def probe():
    fresh_store()
    big = "x,y\n" + "1.5,2.5\n" * 400_000  # about 3 MB: several chunks
    path = write_file(big)
    first = log_run({"seed": None}, {"a": 1.0, "b": 2.0}, path, "big")
    other = write_file("x,y\n1.5,2.6\n")
    second = log_run({"seed": 42}, {"a": 3.0}, other, "small")
    client = MlflowClient()
    return {"first": client.get_run(first).data.params,
            "second": client.get_run(second).data.params,
            "metrics": client.get_run(first).data.metrics,
            "ids": [first, second], "names": [client.get_run(r).info.run_name
                                              for r in (first, second)]}


def verify(observed):
    import hashlib

    big = ("x,y\n" + "1.5,2.5\n" * 400_000).encode()
    assert observed["first"].get("data.sha256") == hashlib.sha256(big).hexdigest(), (
        "the digest of a multi-MB file must cover every chunk")
    assert observed["second"].get("data.sha256") == hashlib.sha256(b"x,y\n1.5,2.6\n").hexdigest()
    assert observed["first"].get("seed") == "None" and observed["second"].get("seed") == "42"
    assert observed["metrics"] == {"a": 1.0, "b": 2.0}
    assert observed["ids"][0] != observed["ids"][1] and observed["names"] == ["big", "small"]


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — The best run, by a query (2 points)
# A tuning run's trials are its nested (child) runs; MLflow tags each child with
# `mlflow.parentRunId`. Write `best_run(experiment_id, parent_run_id, metric)`: among the
# **finished** children of `parent_run_id` that have `metric`, the one with the **lowest**
# value. Use `mlflow.search_runs` (a filter and an order, not a loop over every run).
# Return a dict: `{"run_id": ..., "run_name": ..., "value": <the metric, a float>,
# "params": {name: value, ...}}` — or `None` if no child qualifies.

# %% tags=["solution"] grade_id="best_run"
def best_run(experiment_id, parent_run_id, metric):
    """The finished child run of ``parent_run_id`` with the lowest ``metric``, or None."""
    ### BEGIN SOLUTION
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=(f"tags.mlflow.parentRunId = '{parent_run_id}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=[f"metrics.`{metric}` ASC"], output_format="list")
    runs = [r for r in runs if metric in r.data.metrics]
    if not runs:
        return None
    best = min(runs, key=lambda r: r.data.metrics[metric])
    return {"run_id": best.info.run_id, "run_name": best.info.run_name,
            "value": float(best.data.metrics[metric]), "params": dict(best.data.params)}
    ### END SOLUTION


# %% tags=["test"] grade_id="test_best_run_among_children" points=1
def probe():
    experiment_id = fresh_store()
    with mlflow.start_run(run_name="tuning") as parent:
        for name, rmse, lr in [("t0", 45_000.0, 0.3), ("t1", 41_500.0, 0.05),
                               ("t2", 43_000.0, 0.1)]:
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_params({"learning_rate": lr})
                mlflow.log_metric("cv_rmse_usd", rmse)
        with mlflow.start_run(run_name="pruned", nested=True):
            mlflow.log_metric("cv_rmse_partial_usd", 30_000.0)
    return best_run(experiment_id, parent.info.run_id, "cv_rmse_usd")


def verify(observed):
    assert observed is not None, "best_run returned None, but three trials have cv_rmse_usd"
    assert observed["run_name"] == "t1", (
        f"the lowest cv_rmse_usd is trial t1 ($41,500), got {observed['run_name']!r}")
    assert observed["value"] == 41_500.0 and observed["params"] == {"learning_rate": "0.05"}


verify(probe())

# %% tags=["test"] grade_id="hidden_best_run_ignores_others" points=1
### BEGIN HIDDEN TESTS
def probe():
    experiment_id = fresh_store()
    with mlflow.start_run(run_name="other search"), mlflow.start_run(
            run_name="other child", nested=True):
        mlflow.log_metric("val_mae_usd", 1.0)  # better, but another parent's
    with mlflow.start_run(run_name="search") as parent:
        for name, mae in [("a", 30_000.0), ("b", 29_000.0), ("c", 31_000.0)]:
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_metric("val_mae_usd", mae)
        failed = mlflow.start_run(run_name="failed", nested=True)
        mlflow.log_metric("val_mae_usd", 5.0)  # best of all, but the trial failed
        mlflow.end_run(status="FAILED")
    with mlflow.start_run(run_name="empty") as empty:
        pass
    return {"best": best_run(experiment_id, parent.info.run_id, "val_mae_usd"),
            "none": best_run(experiment_id, empty.info.run_id, "val_mae_usd"),
            "failed_id": failed.info.run_id}


def verify(observed):
    best = observed["best"]
    assert best is not None and best["run_name"] == "b", (
        f"only finished children of the given parent count: expected 'b', got {best}")
    assert best["value"] == 29_000.0 and best["run_id"] != observed["failed_id"]
    assert observed["none"] is None, "a parent without children has no best run: None"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — The promotion gate (3 points)
# A registered model has numbered versions; the alias `champion` names the one that
# serves. Write `promote_if_better(name, challenger, rmse_by_version)`:
#
# * `challenger` is a version number (`"2"` or `2`); `rmse_by_version` maps version
#   numbers, as strings, to their RMSE on the same held-out rows (lower is better).
#   Careful: MLflow gives a version's number as an `int` (`.version` of what
#   `get_model_version_by_alias` returns), while the dict's keys are strings.
# * if the model has no `champion` alias yet, or the challenger's RMSE is **strictly**
#   lower than the champion's, point `champion` at the challenger and return `True`;
#   otherwise leave the alias alone and return `False`;
# * either way, tag the challenger's version with `gate` = `"promoted"` or `"rejected"`.
#
# `MlflowClient()` has what you need: `get_model_version_by_alias` (it raises
# `MlflowException` when the alias does not exist), `set_registered_model_alias`,
# `set_model_version_tag`.

# %% tags=["solution"] grade_id="promote_if_better"
def promote_if_better(name, challenger, rmse_by_version) -> bool:
    """Move the ``champion`` alias to ``challenger`` only if it beats the champion."""
    ### BEGIN SOLUTION
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    challenger = str(challenger)
    try:
        champion = str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        champion = None
    promoted = champion is None or (
        champion != challenger and rmse_by_version[challenger] < rmse_by_version[champion])
    if promoted:
        client.set_registered_model_alias(name, "champion", challenger)
    client.set_model_version_tag(name, challenger, "gate", "promoted" if promoted else "rejected")
    return promoted
    ### END SOLUTION


# %% tags=["test"] grade_id="test_gate_promotes_only_better" points=1.5
def probe():
    fresh_store()
    client = MlflowClient()
    client.create_registered_model("house-prices")
    versions = [str(client.create_model_version("house-prices", source=f"/models/{i}").version)
                for i in range(3)]
    rmse = {versions[0]: 43_500.0, versions[1]: 40_100.0, versions[2]: 42_000.0}
    decisions = [promote_if_better("house-prices", v, rmse) for v in versions]
    champion = str(client.get_model_version_by_alias("house-prices", "champion").version)
    tags = [client.get_model_version("house-prices", v).tags.get("gate") for v in versions]
    return {"versions": versions, "decisions": decisions, "champion": champion, "tags": tags}


def verify(observed):
    v1, v2, _ = observed["versions"]
    assert observed["decisions"] == [True, True, False], (
        "first version: promoted (no champion yet); second, better: promoted; third, worse "
        f"than the champion: rejected. Got {observed['decisions']}")
    assert observed["champion"] == v2, f"champion must be version {v2}, is {observed['champion']}"
    assert observed["tags"] == ["promoted", "promoted", "rejected"], (
        f"tag each challenger gate=promoted/rejected: {observed['tags']}")


verify(probe())

# %% tags=["test"] grade_id="hidden_gate_ties_and_strings" points=1.5
### BEGIN HIDDEN TESTS
def probe():
    fresh_store()
    client = MlflowClient()
    client.create_registered_model("m")
    versions = [str(client.create_model_version("m", source=f"/models/{i}").version)
                for i in range(3)]
    rmse = {versions[0]: 40_000.0, versions[1]: 40_000.0, versions[2]: 39_999.5}
    first = promote_if_better("m", versions[0], rmse)
    tie = promote_if_better("m", versions[1], rmse)
    after_tie = str(client.get_model_version_by_alias("m", "champion").version)
    better = promote_if_better("m", int(versions[2]), rmse)  # a number, not a string
    final = str(client.get_model_version_by_alias("m", "champion").version)
    return {"first": first, "tie": tie, "after_tie": after_tie, "better": better,
            "final": final, "versions": versions}


def verify(observed):
    v1, _, v3 = observed["versions"]
    assert observed["first"] is True
    assert observed["tie"] is False and observed["after_tie"] == v1, (
        "an equal RMSE is not better: the champion stays")
    assert observed["better"] is True and observed["final"] == v3, (
        "accept the challenger's version as a number too (MLflow's versions are strings)")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 4 — Refuse to reproduce on changed data (2 points)
# Before re-training a logged run, check that its data is still the data it was trained
# on. Write `check_data(run_id, path)`:
#
# * if the run has no `data.sha256` parameter, raise `ValueError` whose message says the
#   run has no data digest (use the words "no data digest");
# * if the file's sha256 differs from the recorded one, raise `ValueError` whose message
#   contains the first 12 hex digits of **both** digests;
# * otherwise return the digest.

# %% tags=["solution"] grade_id="check_data"
def check_data(run_id, path) -> str:
    """The file's sha256 if it matches what run ``run_id`` recorded; ValueError if not."""
    ### BEGIN SOLUTION
    recorded = MlflowClient().get_run(run_id).data.params.get("data.sha256")
    if recorded is None:
        raise ValueError(f"run {run_id} has no data digest (no data.sha256 parameter): "
                         "it cannot be checked or reproduced")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != recorded:
        raise ValueError(f"{path} has sha256 {actual[:12]}…, but run {run_id} was trained on "
                         f"data with sha256 {recorded[:12]}…: the file changed")
    return actual
    ### END SOLUTION


# %% tags=["test"] grade_id="test_check_data" points=1
def probe():
    fresh_store()
    path = write_file("a,b\n1,2\n")
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    with mlflow.start_run() as run:
        mlflow.log_params({"data.source": str(path), "data.sha256": digest})
    same = check_data(run.info.run_id, path)
    path.write_text("a,b\n1,3\n")
    try:
        check_data(run.info.run_id, path)
        changed = "no error"
    except Exception as exc:
        changed = raised(exc)
    return {"same": same, "changed": changed}


def verify(observed):
    import hashlib

    old = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    new = hashlib.sha256(b"a,b\n1,3\n").hexdigest()
    assert observed["same"] == old, "an unchanged file: return its digest"
    changed = observed["changed"]
    assert changed != "no error", "a changed file must raise ValueError, nothing was raised"
    assert "ValueError" in changed["raised"], f"raise ValueError, got {changed['raised'][0]}"
    assert old[:12] in changed["message"] and new[:12] in changed["message"], (
        f"name both digests (first 12 hex digits) in the message: {changed['message']!r}")


verify(probe())

# %% tags=["test"] grade_id="hidden_check_data_without_digest" points=1
### BEGIN HIDDEN TESTS
def probe():
    fresh_store()
    path = write_file("a,b\n1,2\n")
    with mlflow.start_run() as run:
        mlflow.log_params({"n_estimators": 100})
        mlflow.log_metric("test_rmse_usd", 48_976.0)
    try:
        check_data(run.info.run_id, path)
        missing = "no error"
    except Exception as exc:
        missing = raised(exc)
    return missing


def verify(observed):
    assert observed != "no error", "a run without data.sha256 cannot be checked: raise"
    assert "ValueError" in observed["raised"], f"raise ValueError, got {observed['raised'][0]}"
    assert "no data digest" in observed["message"].lower(), (
        f"say that the run has no data digest: {observed['message']!r}")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## What you built
# `log_run` is what `mlops_course.pipeline.train` does (plus the model, commit and
# environment); `best_run` is lesson 5's query over the tuning trials; `promote_if_better`
# is `mlops_course.tracking.promote_if_better` (which also scores both models itself);
# `check_data` is the first step of `mlops_course.tracking.reproduce_run`.
