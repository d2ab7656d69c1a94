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

#: Large Californian cities (latitude, longitude in degrees): prices fall with the distance
#: to the nearest job centre, which a tree finds hard to learn from raw coordinates.
CITIES = {
    "los_angeles": (34.05, -118.24),
    "san_diego": (32.72, -117.16),
    "san_jose": (37.34, -121.89),
    "san_francisco": (37.77, -122.42),
    "sacramento": (38.58, -121.49),
}
#: Angles (degrees) of the rotated coordinate axes: the coast runs diagonally, and a tree
#: splits on one axis at a time.
ROTATION_ANGLES = (15, 30, 45, 60)
GEO_FEATURES = [*(f"km_to_{city}" for city in CITIES), "km_to_nearest_city",
                *(f"coord_rotated_{angle}" for angle in ROTATION_ANGLES)]
FEATURE_SETS = ("base", "geo")
_EARTH_RADIUS_KM = 6371.0


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


class GeoFeatures(TransformerMixin, BaseEstimator):
    """Add geographic features: the distance (km) to each of :data:`CITIES` and to the
    nearest of them, and the coordinates projected on axes rotated by
    :data:`ROTATION_ANGLES`.

    Learns nothing from the data (no target, no statistics), so it cannot leak; ``fit``
    only records the input columns.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> GeoFeatures:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} needs a DataFrame with latitude and "
                            f"longitude columns, got {type(X).__name__}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_in_")
        X = X.copy()
        lat = np.radians(X["latitude"].to_numpy(dtype=float))
        lon = np.radians(X["longitude"].to_numpy(dtype=float))
        distances = []
        for city, (city_lat, city_lon) in CITIES.items():
            c_lat, c_lon = np.radians(city_lat), np.radians(city_lon)
            h = (np.sin((lat - c_lat) / 2) ** 2
                 + np.cos(lat) * np.cos(c_lat) * np.sin((lon - c_lon) / 2) ** 2)
            X[f"km_to_{city}"] = 2 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))
            distances.append(X[f"km_to_{city}"])
        X["km_to_nearest_city"] = np.min(distances, axis=0)
        for angle in ROTATION_ANGLES:
            theta = np.radians(angle)
            X[f"coord_rotated_{angle}"] = (X["longitude"] * np.cos(theta)
                                           + X["latitude"] * np.sin(theta))
        return X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return np.asarray([*self.feature_names_in_, *GEO_FEATURES], dtype=object)


def build_preprocessor(add_bedrooms_ratio: bool = True, *, features: str = "base") -> Pipeline:
    """Derived features, then median imputation + scaling of numbers and one-hot categories.

    ``features="geo"`` also adds :class:`GeoFeatures` (distances to cities, rotated
    coordinates); the default ``"base"`` is the pipeline of lessons 2 and 4.
    """
    if features not in FEATURE_SETS:
        raise ValueError(f"features={features!r} is not a feature set; choose one of "
                         f"{', '.join(FEATURE_SETS)}")
    derived = [f for f in DERIVED_FEATURES if add_bedrooms_ratio or f != "bedrooms_ratio"]
    if features == "geo":
        derived = [*derived, *GEO_FEATURES]
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler())])
    categorical = OneHotEncoder(categories=[OCEAN_CATEGORIES], handle_unknown="error",
                                sparse_output=False)
    columns = ColumnTransformer(
        [("numeric", numeric, [*NUMERIC_FEATURES, *derived]),
         ("categorical", categorical, CATEGORICAL_FEATURES)],
        verbose_feature_names_out=False,
    )
    steps = [("derive", DerivedFeatures(add_bedrooms_ratio))]
    if features == "geo":
        steps.append(("geo", GeoFeatures()))
    return Pipeline([*steps, ("columns", columns)])


def build_pipeline(
    model: Any = None, *, seed: int | None = DEFAULT_SEED, features: str = "base"
) -> Pipeline:
    """The course's model pipeline: :func:`build_preprocessor` then a regressor.

    The default regressor is a ``HistGradientBoostingRegressor`` (fast on a CPU, about
    half a second on the full training set); pass any scikit-learn regressor instead.
    ``features`` chooses the feature set (see :func:`build_preprocessor`).
    """
    if model is None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(random_state=seed)
    return Pipeline([("preprocessor", build_preprocessor(features=features)), ("model", model)])
