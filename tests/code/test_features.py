"""The preprocessing pipeline: the estimator contract, train-only fitting, no skew on reload."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from mlops_course import data
from mlops_course.features import (
    DERIVED_FEATURES,
    DerivedFeatures,
    build_pipeline,
    build_preprocessor,
)

FEATURES = [*data.NUMERIC_FEATURES, *data.CATEGORICAL_FEATURES]


@pytest.fixture(scope="module")
def housing() -> pd.DataFrame:
    return data.make_synthetic_housing(n_rows=400, seed=3)


@pytest.fixture(scope="module")
def X(housing: pd.DataFrame) -> pd.DataFrame:
    return housing[FEATURES]


@pytest.fixture(scope="module")
def y(housing: pd.DataFrame) -> pd.Series:
    return housing[data.TARGET]


# --- DerivedFeatures: the estimator contract -------------------------------------------

@pytest.mark.parametrize("check", [check_parameters_default_constructible,
                                   check_no_attributes_set_in_init,
                                   check_get_params_invariance, check_set_params],
                         ids=lambda check: check.__name__)
def test_derived_features_passes_sklearn_parameter_checks(check) -> None:  # noqa: ANN001
    # The data-driven estimator checks feed unnamed arrays, which a step that needs the
    # housing columns rejects by design; these checks need no data.
    check("DerivedFeatures", DerivedFeatures())


def test_derived_features_params_clone_and_fit_returns_self(X: pd.DataFrame) -> None:
    step = DerivedFeatures(add_bedrooms_ratio=False)
    assert step.get_params() == {"add_bedrooms_ratio": False}
    twin = clone(step)
    assert twin is not step and twin.get_params() == step.get_params()
    assert step.fit(X) is step
    assert step.n_features_in_ == len(FEATURES)
    assert list(step.feature_names_in_) == FEATURES
    assert not hasattr(twin, "feature_names_in_"), "clone must not copy fitted state"


def test_derived_features_unfitted_error_names_the_class_and_the_fix(X: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError, match=r"This DerivedFeatures instance is not fitted.*fit"):
        DerivedFeatures().transform(X)
    with pytest.raises(NotFittedError):
        DerivedFeatures().get_feature_names_out()


def test_derived_features_rejects_arrays_with_a_clear_message(X: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="DerivedFeatures needs a DataFrame.*got ndarray"):
        DerivedFeatures().fit(X.to_numpy())


def test_derived_features_values_and_names(X: pd.DataFrame) -> None:
    step = DerivedFeatures().fit(X)
    out = step.transform(X)
    assert list(out.columns) == [*FEATURES, *DERIVED_FEATURES]
    assert list(step.get_feature_names_out()) == list(out.columns)
    np.testing.assert_allclose(out["rooms_per_household"], X["total_rooms"] / X["households"])
    np.testing.assert_allclose(out["bedrooms_ratio"], X["total_bedrooms"] / X["total_rooms"])
    np.testing.assert_allclose(out["population_per_household"],
                               X["population"] / X["households"])
    without = DerivedFeatures(add_bedrooms_ratio=False).fit(X)
    assert "bedrooms_ratio" not in without.transform(X).columns
    assert "bedrooms_ratio" not in without.get_feature_names_out()


def test_derived_features_leave_the_input_alone_and_zero_becomes_nan(X: pd.DataFrame) -> None:
    frame = X.head(3).copy()
    frame.loc[frame.index[0], ["households", "total_rooms"]] = 0.0
    before = frame.copy()
    out = DerivedFeatures().fit(frame).transform(frame)
    pd.testing.assert_frame_equal(frame, before)
    first = out.iloc[0]
    assert np.isnan(first["rooms_per_household"]) and np.isnan(first["bedrooms_ratio"])
    assert np.isnan(first["population_per_household"])


def test_derived_features_pickle_round_trip(X: pd.DataFrame) -> None:
    step = DerivedFeatures().fit(X)
    again = pickle.loads(pickle.dumps(step))
    pd.testing.assert_frame_equal(again.transform(X), step.transform(X))


# --- build_preprocessor: imputation, scaling, one-hot, fitted on what it is given ------

def test_preprocessor_output_is_a_complete_float_matrix(X: pd.DataFrame) -> None:
    assert X["total_bedrooms"].isna().any(), "the fixture should have missing bedrooms"
    preprocessor = build_preprocessor().fit(X)
    matrix = preprocessor.transform(X)
    names = list(preprocessor.get_feature_names_out())
    assert names == [*data.NUMERIC_FEATURES, *DERIVED_FEATURES,
                     *[f"ocean_proximity_{c}" for c in data.OCEAN_CATEGORIES]]
    assert isinstance(matrix, np.ndarray) and matrix.dtype == np.float64
    assert matrix.shape == (len(X), len(names)) and not np.isnan(matrix).any()
    numeric = matrix[:, : len(data.NUMERIC_FEATURES) + len(DERIVED_FEATURES)]
    np.testing.assert_allclose(numeric.mean(axis=0), 0.0, atol=1e-9)  # scaled on these rows
    one_hot = matrix[:, -len(data.OCEAN_CATEGORIES):]
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)


def test_preprocessor_learns_from_the_rows_it_is_fitted_on_only(X: pd.DataFrame) -> None:
    train, test = X.iloc[:300], X.iloc[300:].copy()
    test["total_bedrooms"] = test["total_bedrooms"] * 100  # very different rows
    preprocessor = build_preprocessor().fit(train)
    columns = preprocessor.named_steps["columns"]
    imputer = columns.named_transformers_["numeric"].named_steps["impute"]
    derived = DerivedFeatures().fit(train).transform(train)
    expected = derived[[*data.NUMERIC_FEATURES, *DERIVED_FEATURES]].median().to_numpy()
    np.testing.assert_allclose(imputer.statistics_, expected)
    before = imputer.statistics_.copy()
    preprocessor.transform(test)  # transforming must not learn
    np.testing.assert_array_equal(imputer.statistics_, before)


def test_preprocessor_rejects_an_unknown_category(X: pd.DataFrame) -> None:
    preprocessor = build_preprocessor().fit(X)
    bad = X.head(2).copy()
    bad["ocean_proximity"] = bad["ocean_proximity"].astype(str)
    bad.iloc[0, bad.columns.get_loc("ocean_proximity")] = "MOON"
    with pytest.raises(ValueError, match="unknown categor"):
        preprocessor.transform(bad)


def test_text_or_categorical_ocean_proximity_give_the_same_features(X: pd.DataFrame) -> None:
    preprocessor = build_preprocessor().fit(X)
    as_text = X.assign(ocean_proximity=X["ocean_proximity"].astype(str))
    np.testing.assert_array_equal(preprocessor.transform(X), preprocessor.transform(as_text))


# --- build_pipeline: one object from training to serving -------------------------------

def test_pipeline_defaults_and_a_custom_model(X: pd.DataFrame, y: pd.Series) -> None:
    from sklearn.linear_model import Ridge

    pipeline = build_pipeline(seed=7)
    assert list(pipeline.named_steps) == ["preprocessor", "model"]
    assert pipeline.named_steps["model"].random_state == 7
    ridge = build_pipeline(Ridge()).fit(X, y)
    assert ridge.predict(X.head(5)).shape == (5,)


def test_pipeline_predicts_identically_after_joblib_in_a_fresh_process(
    X: pd.DataFrame, y: pd.Series, tmp_path: Path
) -> None:
    pipeline = build_pipeline().fit(X.iloc[:300], y.iloc[:300])
    requests = X.iloc[300:]
    expected = pipeline.predict(requests)
    model_path, rows_path, out_path = (tmp_path / "pipeline.joblib", tmp_path / "rows.pkl",
                                       tmp_path / "out.npy")
    joblib.dump(pipeline, model_path)
    requests.to_pickle(rows_path)
    script = ("import sys, joblib, numpy as np, pandas as pd; "
              "np.save(sys.argv[3], joblib.load(sys.argv[1]).predict(pd.read_pickle(sys.argv[2])))")
    proc = subprocess.run([sys.executable, "-c", script, str(model_path), str(rows_path),
                           str(out_path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out_path), expected)


def test_pipeline_is_deterministic_for_a_seed(X: pd.DataFrame, y: pd.Series) -> None:
    first = build_pipeline(seed=1).fit(X, y).predict(X)
    second = build_pipeline(seed=1).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, second)
