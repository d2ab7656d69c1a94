"""Preprocessing as code: one scikit-learn pipeline shared by training and serving.

Lesson 1's app re-typed the preprocessing and skewed every prediction. Here the
derived features, imputation, scaling and one-hot encoding live in one
:class:`~sklearn.pipeline.Pipeline` together with the model, so the object that was
evaluated is the object that serves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from mlops_course.config import DEFAULT_SEED
from mlops_course.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, OCEAN_CATEGORIES

DERIVED_FEATURES = ["rooms_per_household", "bedrooms_ratio", "population_per_household"]


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Add ratio features: rooms per household, bedrooms per room, people per household.

    Follows the scikit-learn estimator contract: ``__init__`` only stores
    parameters, ``fit`` learns nothing but the input columns and returns ``self``.
    Ratios with a zero denominator become NaN, which the imputer then fills.
    """

    def __init__(self, add_bedrooms_ratio: bool = True) -> None:
        self.add_bedrooms_ratio = add_bedrooms_ratio

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeatures:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} needs a DataFrame with the housing columns, "
                            f"got {type(X).__name__}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_in_")
        X = X.copy()
        households = X["households"].replace(0, np.nan)
        X["rooms_per_household"] = X["total_rooms"] / households
        if self.add_bedrooms_ratio:
            X["bedrooms_ratio"] = X["total_bedrooms"] / X["total_rooms"].replace(0, np.nan)
        X["population_per_household"] = X["population"] / households
        return X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        extra = [f for f in DERIVED_FEATURES if self.add_bedrooms_ratio or f != "bedrooms_ratio"]
        return np.asarray([*self.feature_names_in_, *extra], dtype=object)


def build_preprocessor(add_bedrooms_ratio: bool = True) -> Pipeline:
    """Derived features, then median imputation + scaling of numbers and one-hot categories."""
    derived = [f for f in DERIVED_FEATURES if add_bedrooms_ratio or f != "bedrooms_ratio"]
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler())])
    categorical = OneHotEncoder(categories=[OCEAN_CATEGORIES], handle_unknown="error",
                                sparse_output=False)
    columns = ColumnTransformer(
        [("numeric", numeric, [*NUMERIC_FEATURES, *derived]),
         ("categorical", categorical, CATEGORICAL_FEATURES)],
        verbose_feature_names_out=False,
    )
    return Pipeline([("derive", DerivedFeatures(add_bedrooms_ratio)), ("columns", columns)])


def build_pipeline(model: Any = None, *, seed: int = DEFAULT_SEED) -> Pipeline:
    """The course's model pipeline: :func:`build_preprocessor` then a regressor.

    The default regressor is a ``HistGradientBoostingRegressor`` (fast on a CPU, about
    half a second on the full training set); pass any scikit-learn regressor instead.
    """
    if model is None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(random_state=seed)
    return Pipeline([("preprocessor", build_preprocessor()), ("model", model)])
