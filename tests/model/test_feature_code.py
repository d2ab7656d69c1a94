"""Unit tests of the feature code: small hand-made inputs, answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops_course.data import make_synthetic_housing
from mlops_course.features import DERIVED_FEATURES, DerivedFeatures, build_preprocessor


def _two_districts() -> pd.DataFrame:
    return pd.DataFrame({"total_rooms": [600.0, 0.0], "total_bedrooms": [120.0, 0.0],
                         "population": [300.0, 10.0], "households": [100.0, 0.0]})


def test_ratios_worked_out_by_hand() -> None:
    out = DerivedFeatures().fit(_two_districts()).transform(_two_districts())
    assert out.loc[0, "rooms_per_household"] == 6.0
    assert out.loc[0, "bedrooms_ratio"] == 0.2
    assert out.loc[0, "population_per_household"] == 3.0


def test_zero_denominators_become_missing_not_infinite() -> None:
    out = DerivedFeatures().fit(_two_districts()).transform(_two_districts())
    assert all(math.isnan(out.loc[1, c]) for c in DERIVED_FEATURES)


def test_input_is_not_modified_and_names_match_columns() -> None:
    frame = _two_districts()
    step = DerivedFeatures().fit(frame)
    out = step.transform(frame)
    assert list(frame.columns) == list(_two_districts().columns)
    assert list(step.get_feature_names_out()) == list(out.columns)


def test_preprocessor_output_is_finite_and_one_hot_sums_to_one() -> None:
    frame = make_synthetic_housing(200).drop(columns="median_house_value")
    pre = build_preprocessor().fit(frame)
    out = pre.transform(frame)
    names = list(pre.get_feature_names_out())
    assert out.shape == (200, len(names)) and np.isfinite(out).all()
    onehot = [i for i, n in enumerate(names) if n.startswith("ocean_proximity_")]
    assert np.allclose(out[:, onehot].sum(axis=1), 1.0)


def test_unknown_category_is_an_error_not_a_silent_zero() -> None:
    frame = make_synthetic_housing(50).drop(columns="median_house_value")
    pre = build_preprocessor().fit(frame)
    bad = frame.assign(ocean_proximity="ON THE MOON")
    with pytest.raises(ValueError, match="unknown categor"):
        pre.transform(bad)
