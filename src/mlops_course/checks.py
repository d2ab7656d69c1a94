"""Checks of data and models: the functions behind the tests of lesson 10.

A test suite for an ML system tests three things: the *code* (feature functions, like any
code), the *data* (schema, ranges, splits that do not overlap) and the *model*'s
behaviour (minimum functionality, invariance, directional expectations, a quality gate
against a baseline, slices). Each check here returns plain numbers; the tests in
``tests/model/``, the audit (:mod:`mlops_course.audit`) and the lesson decide what is
good enough, so the same check serves all three.

``predict`` is anything that maps a DataFrame of housing features to prices in dollars
(a fitted pipeline's ``predict`` method, a plain function).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops_course.config import DEFAULT_SEED
from mlops_course.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET

Predict = Callable[[pd.DataFrame], Any]
FEATURES = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]


def _predict(predict: Predict, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(predict(X), dtype=float).reshape(-1)


def rmse_usd(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error in dollars."""
    errors = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return float(np.sqrt(np.mean(errors**2)))


# -- data ---------------------------------------------------------------------------------

def split_overlap(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, int]:
    """Rows shared by two splits: by index label and by identical feature values.

    A row in both sets lets a model be scored on what it memorised (leakage); identical
    feature rows with different labels are duplicates worth a look too.
    """
    columns = [c for c in FEATURES if c in train.columns and c in test.columns]
    train_keys = pd.util.hash_pandas_object(train[columns].astype(str), index=False)
    test_keys = pd.util.hash_pandas_object(test[columns].astype(str), index=False)
    return {"shared_index": int(len(train.index.intersection(test.index))),
            "shared_feature_rows": int(test_keys.isin(set(train_keys)).sum()),
            "duplicates_within_train": int(train_keys.duplicated().sum())}


def target_correlations(df: pd.DataFrame, target: str = TARGET) -> pd.Series:
    """|Pearson correlation| of each numeric feature with the target, largest first.

    A feature that predicts the target almost perfectly (above ~0.9 here, where the best
    honest feature, median income, reaches about 0.69) is more often a leak than a gift.
    """
    numeric = df.select_dtypes("number").drop(columns=[target])
    return numeric.corrwith(df[target]).abs().sort_values(ascending=False)


# -- model behaviour ---------------------------------------------------------------------

def invariance_gap_usd(predict: Predict, X: pd.DataFrame, *, seed: int = DEFAULT_SEED,
                       extra_column: str = "district_id") -> dict[str, float]:
    """Largest prediction change (dollars) under changes that must not matter.

    ``row_order``: the same rows shuffled (a row's price must not depend on its
    neighbours in the batch); ``extra_column``: an unknown column added to the request.
    """
    base = _predict(predict, X)
    order = np.random.default_rng(seed).permutation(len(X))
    shuffled = _predict(predict, X.iloc[order])
    with_extra = X.assign(**{extra_column: np.arange(len(X))})
    return {"row_order": float(np.max(np.abs(shuffled - base[order]))),
            "extra_column": float(np.max(np.abs(_predict(predict, with_extra) - base)))}


def directional_drops(predict: Predict, X: pd.DataFrame, *, column: str = "median_income",
                      delta: float = 1.0, tolerance_usd: float = 1_000.0) -> dict[str, float]:
    """What happens when ``column`` rises by ``delta``, all else equal.

    Returns the share of rows whose prediction *drops* by more than ``tolerance_usd``
    (``share_dropped``), the largest drop and the median change, in dollars.
    """
    before = _predict(predict, X)
    after = _predict(predict, X.assign(**{column: X[column] + delta}))
    change = after - before
    return {"share_dropped": float(np.mean(change < -tolerance_usd)),
            "largest_drop_usd": float(max(0.0, -change.min())),
            "median_change_usd": float(np.median(change))}


def slice_rmse(predict: Predict, X: pd.DataFrame, y: Any, *, by: str = "ocean_proximity",
               min_rows: int = 30) -> pd.DataFrame:
    """RMSE (dollars) per slice of ``by``, worst first; slices under ``min_rows`` left out."""
    y = np.asarray(y, dtype=float)
    pred = _predict(predict, X)
    rows = []
    for name, index in X.groupby(by, observed=True).indices.items():
        if len(index) >= min_rows:
            rows.append({by: str(name), "rows": len(index),
                         "rmse_usd": rmse_usd(y[index], pred[index])})
    table = pd.DataFrame(rows).sort_values("rmse_usd", ascending=False, ignore_index=True)
    table["vs_overall"] = table["rmse_usd"] / rmse_usd(y, pred)
    return table


def baseline_rmse_usd(y_train: Any, y_test: Any) -> float:
    """RMSE of the simplest model: predict the training mean for every district."""
    return rmse_usd(y_test, np.full(len(y_test), float(np.mean(y_train))))


def quality_gate(model_rmse_usd: float, reference_rmse_usd: float, *,
                 min_improvement: float = 0.0) -> bool:
    """True when the model beats ``reference`` by at least ``min_improvement`` (a share).

    Against a baseline (the mean) demand a lot (say 0.3: 30% lower RMSE); against the
    current champion, demand only not to be worse (0.0).
    """
    return model_rmse_usd <= (1.0 - min_improvement) * reference_rmse_usd


def prediction_parity_usd(predict_a: Predict, predict_b: Predict, X: pd.DataFrame) -> float:
    """Largest difference (dollars) between two paths that should predict the same."""
    return float(np.max(np.abs(_predict(predict_a, X) - _predict(predict_b, X))))


# -- debugging a network -----------------------------------------------------------------

def overfit_tiny_batch(model: Any, X: Any, y_usd: Any, *, steps: int = 300, lr: float = 1e-2,
                       parameters: Sequence[Any] | None = None) -> dict[str, float]:
    """Train ``model`` on a tiny batch and report the loss (MSE in $100,000², the units of
    :mod:`mlops_course.torch_model`) before and after.

    A healthy network drives the loss on a few dozen rows to nearly zero; one that cannot
    has a bug in the loop, not a lack of data. ``parameters`` are what the optimizer
    steps (default: the model's own) — passing others reproduces a classic bug.
    """
    import torch

    from mlops_course.torch_model import TARGET_UNIT_USD, to_tensor

    X = to_tensor(X)
    y = to_tensor(y_usd) / TARGET_UNIT_USD
    optimizer = torch.optim.Adam(list(parameters or model.parameters()), lr=lr)
    loss_fn = torch.nn.MSELoss()
    model.train()
    with torch.no_grad():
        first = float(loss_fn(model(X), y))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        last = float(loss_fn(model(X), y))
    return {"loss_first": first, "loss_last": last, "ratio": last / first}


def sample_rows(df: pd.DataFrame, n: int | None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """``n`` rows drawn with a NumPy Generator (see lesson 2 on ``RandomState(42)``)."""
    if n is None or n >= len(df):
        return df
    return df.sample(n, random_state=np.random.default_rng(seed))


def fit_reference_model(n_rows: int | None = 6_000, *, seed: int = DEFAULT_SEED
                        ) -> dict[str, Any]:
    """The course's model (lesson 2's pipeline) fitted on a seeded split of the housing data.

    Returns ``model``, ``train``, ``test``, ``X_test``, ``y_test`` and the test RMSE: what
    the behavioural tests, the audit and lesson 10 examine.
    """
    from threadpoolctl import threadpool_limits

    from mlops_course import data
    from mlops_course.features import build_pipeline

    df = sample_rows(data.load_housing(), n_rows, seed)
    train, test = data.split_train_test(df, seed=seed)
    model = build_pipeline(seed=seed)
    with threadpool_limits(limits=1):
        model.fit(train[FEATURES], train[TARGET])
    X_test, y_test = test[FEATURES], test[TARGET].to_numpy(dtype=float)
    return {"model": model, "train": train, "test": test, "X_test": X_test, "y_test": y_test,
            "rmse_usd": rmse_usd(y_test, model.predict(X_test))}
