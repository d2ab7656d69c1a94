"""Behavioural tests of the course's model (Ribeiro et al., 2020, "Beyond accuracy"):
minimum functionality, invariance, a directional expectation, a quality gate and slices."""

from __future__ import annotations

import numpy as np

from mlops_course.checks import (
    baseline_rmse_usd,
    directional_drops,
    invariance_gap_usd,
    quality_gate,
    slice_rmse,
)


def test_minimum_functionality_plausible_prices(reference) -> None:  # noqa: ANN001
    pred = reference["model"].predict(reference["X_test"])
    assert np.isfinite(pred).all()
    assert np.percentile(pred, 1) > 0 and np.percentile(pred, 99) < 600_000, "dollars"
    rich = reference["X_test"].nlargest(50, "median_income")
    poor = reference["X_test"].nsmallest(50, "median_income")
    model = reference["model"]
    assert model.predict(rich).mean() > 2 * model.predict(poor).mean()


def test_invariance_to_row_order_and_unknown_columns(reference) -> None:  # noqa: ANN001
    gaps = invariance_gap_usd(reference["model"].predict, reference["X_test"])
    assert gaps["row_order"] < 0.01 and gaps["extra_column"] < 0.01, gaps


def test_higher_income_does_not_lower_the_price(reference) -> None:  # noqa: ANN001
    result = directional_drops(reference["model"].predict, reference["X_test"])
    assert result["median_change_usd"] > 10_000, result
    assert result["share_dropped"] < 0.10, result


def test_quality_gate_against_the_mean_baseline(reference) -> None:  # noqa: ANN001
    baseline = baseline_rmse_usd(reference["train"]["median_house_value"], reference["y_test"])
    assert quality_gate(reference["rmse_usd"], baseline, min_improvement=0.3), (
        f"model ${reference['rmse_usd']:,.0f} vs baseline ${baseline:,.0f}")


def test_no_slice_is_much_worse_than_the_whole(reference) -> None:  # noqa: ANN001
    table = slice_rmse(reference["model"].predict, reference["X_test"], reference["y_test"])
    worst = table.iloc[0]
    assert worst["vs_overall"] < 1.5, (
        f"worst slice {worst['ocean_proximity']}: ${worst['rmse_usd']:,.0f} "
        f"({worst['vs_overall']:.2f}x overall)")
