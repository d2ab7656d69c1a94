"""Automated hyper-parameter tuning: Optuna's TPE search, cross-validated on the training
rows only, every trial a nested MLflow run.

Lesson 1 tuned by hand and judged on the test set. Here a sampler proposes settings, each
is scored by k-fold cross-validation on the **training** rows (the test rows are never
seen), and every trial is logged as a child run of one ``tuning`` run, so the best is
found by a query (``mlflow.search_runs``) rather than by reading cell outputs. A
trial whose first folds are already worse than the median of earlier trials is pruned
(stopped early) and tagged so.

The training and scoring are :func:`mlops_course.pipeline.train` and
:func:`~mlops_course.pipeline.evaluate`, the same code that trains the final model.

Everything is seeded: the sampler, the folds and the models, so the same data and seed
give the same trials, in the same order, with the same scores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_course.config import DEFAULT_SEED

if TYPE_CHECKING:
    import optuna
    import pandas as pd

METRIC = "cv_rmse_usd"
STATE_TAG = "trial.state"


def search_space(*, max_iter: tuple[int, int, int] = (100, 600, 50)) -> dict[str, Any]:
    """The hyper-parameters to tune and their ranges, as Optuna distributions.

    ``max_iter`` is ``(low, high, step)``: fast mode shrinks it. Learning rate,
    regularisation and leaf sizes are searched on a log scale (their effect is
    multiplicative); ``features`` chooses between lesson 2's features and those plus the
    geographic ones (:class:`mlops_course.features.GeoFeatures`).
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    low, high, step = max_iter
    return {
        "features": CategoricalDistribution(["base", "geo"]),
        "learning_rate": FloatDistribution(0.05, 0.3, log=True),
        "max_iter": IntDistribution(low, high, step=step),
        "max_leaf_nodes": IntDistribution(15, 63, log=True),
        "min_samples_leaf": IntDistribution(5, 50, log=True),
        "l2_regularization": FloatDistribution(1e-3, 10.0, log=True),
        "max_features": FloatDistribution(0.3, 1.0),
    }


def _suggest(trial: optuna.Trial, name: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high,
                                 step=distribution.step, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high,
                               step=distribution.step, log=distribution.log)


def at_edge(params: Mapping[str, Any], space: Mapping[str, Any],
            margin: float = 0.05) -> dict[str, tuple[Any, Any, Any]]:
    """The numeric parameters whose value lies within ``margin`` (a share of the range,
    measured on a log scale for log-scaled ranges) of a bound of ``space``: a hint that
    the range should grow. Returns ``{name: (value, low, high)}``.

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution, IntDistribution
    >>> space = {"max_iter": IntDistribution(100, 600, step=50),
    ...          "learning_rate": FloatDistribution(0.01, 1.0, log=True)}
    >>> at_edge({"max_iter": 600, "learning_rate": 0.1}, space)
    {'max_iter': (600, 100, 600)}
    """
    import math

    found = {}
    for name, dist in space.items():
        if not hasattr(dist, "low") or name not in params:
            continue
        scale = math.log if dist.log else float
        low, high, value = scale(dist.low), scale(dist.high), scale(params[name])
        if min(value - low, high - value) <= margin * (high - low):
            found[name] = (params[name], dist.low, dist.high)
    return found


@dataclass(frozen=True)
class TuningResult:
    """The search: the parent run that holds the trials, the Optuna study, the time."""

    parent_run_id: str
    study: optuna.Study
    seconds: float

    @property
    def n_pruned(self) -> int:
        import optuna

        return sum(t.state == optuna.trial.TrialState.PRUNED for t in self.study.trials)


def tune(
    train_df: pd.DataFrame,
    *,
    n_trials: int = 30,
    n_folds: int = 3,
    seed: int = DEFAULT_SEED,
    space: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    verbose: bool = True,
) -> TuningResult:
    """Search hyper-parameters by ``n_folds``-fold cross-validation on ``train_df`` only.

    Runs inside the active MLflow run (or a new run ``tuning``); each trial is a nested
    run with its parameters, the RMSE of every fold (``cv_fold_rmse_usd``, one step per
    fold; the first also as ``cv_first_fold_rmse_usd``), their mean ``cv_rmse_usd`` and
    standard deviation (``cv_rmse_partial_usd`` for a pruned trial: the folds it ran), and
    the tag ``trial.state`` (COMPLETE or PRUNED). The sampler is Optuna's TPE, seeded; a median
    pruner stops a trial after a fold if its mean so far is worse than the median of
    earlier trials at that fold (from the sixth trial on). ``fixed`` parameters (the seed
    by default) are passed to every trial unchanged.

    Requires tracking to be set up (:func:`mlops_course.tracking.setup_tracking`).
    """
    import mlflow
    import numpy as np
    import optuna
    from sklearn.model_selection import KFold

    from mlops_course import pipeline, tracking

    tracking.active_setup()  # a clear error if tracking is off
    space = dict(space or search_space())
    fixed = {"seed": seed, **(fixed or {})}
    folds = list(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(train_df))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", study_name="house-prices",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0))

    def objective(trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in space.items()}
        hyper_parameters = {**fixed, **params}
        scores: list[float] = []
        pruned = False
        with mlflow.start_run(run_name=f"trial-{trial.number:02d}", nested=True):
            mlflow.log_params({k: str(v) for k, v in hyper_parameters.items()})
            for k, (fit_rows, val_rows) in enumerate(folds):
                model = pipeline.train(train_df.iloc[fit_rows], log=False, **hyper_parameters)
                metrics = pipeline.evaluate(model, train_df.iloc[val_rows], log=False,
                                            prefix="cv")
                scores.append(float(metrics["cv_rmse_usd"]))
                mlflow.log_metric("cv_fold_rmse_usd", scores[-1], step=k)
                trial.report(float(np.mean(scores)), step=k)
                if k < n_folds - 1 and trial.should_prune():
                    pruned = True
                    break
            mean = float(np.mean(scores))
            state = "PRUNED" if pruned else "COMPLETE"
            mlflow.set_tags({STATE_TAG: state, "trial.number": str(trial.number)})
            mlflow.log_metrics({"cv_rmse_usd" if not pruned else "cv_rmse_partial_usd": mean,
                                "cv_first_fold_rmse_usd": scores[0],
                                "cv_folds_done": len(scores)})
            if not pruned:
                mlflow.log_metric("cv_rmse_std_usd", float(np.std(scores)))
        if verbose:
            shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in params.items())
            done = f"pruned after {len(scores)} fold(s)" if pruned else "complete"
            print(f"trial {trial.number:>2}: CV RMSE ${mean:,.0f} ({done})  {shown}",
                  flush=True)
        if pruned:
            raise optuna.TrialPruned()
        return mean

    start = time.perf_counter()
    with tracking.run_scope("tuning") as parent:
        mlflow.log_params({"tuning.sampler": "TPESampler", "tuning.pruner": "MedianPruner",
                           "tuning.n_trials": n_trials, "tuning.n_folds": n_folds,
                           "tuning.seed": seed, "tuning.rows": len(train_df)})
        mlflow.log_dict({name: repr(dist) for name, dist in space.items()},
                        "search_space.json")
        study.optimize(objective, n_trials=n_trials)
        mlflow.log_metric("best_cv_rmse_usd", study.best_value)
        mlflow.set_tag("tuning.best_params", json.dumps(study.best_params, sort_keys=True))
        parent_run_id = parent.info.run_id
    return TuningResult(parent_run_id, study, time.perf_counter() - start)


def trial_runs(parent_run_id: str, *, complete_only: bool = True) -> pd.DataFrame:
    """The trials of a search as MLflow has them, best (lowest ``cv_rmse_usd``) first.

    One query, ``mlflow.search_runs`` filtered on the parent run id (and on
    ``trial.state = 'COMPLETE'`` unless ``complete_only`` is false).
    """
    import mlflow

    from mlops_course import tracking

    query = f"tags.mlflow.parentRunId = '{parent_run_id}'"
    if complete_only:
        query += f" and tags.`{STATE_TAG}` = 'COMPLETE'"
    return mlflow.search_runs(experiment_ids=[tracking.active_setup().experiment_id],
                              filter_string=query, order_by=[f"metrics.{METRIC} ASC"])
