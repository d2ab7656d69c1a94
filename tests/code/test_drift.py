"""Drift metrics against known distributions and against scipy.stats on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_course import drift


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, 700), rng.normal(0.2, 1.3, 500)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert drift.ks_statistic(a, b) == pytest.approx(ref.statistic, abs=1e-12)
    assert drift.ks_pvalue(ref.statistic, a.size, b.size) == pytest.approx(ref.pvalue, rel=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(1, 0.5, 600), rng.lognormal(1.1, 0.6, 450)
    assert drift.wasserstein(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_known_shifts() -> None:
    rng = np.random.default_rng(42)
    a = rng.normal(0, 1, 50_000)
    assert drift.wasserstein(a, a + 3.0) == pytest.approx(3.0, rel=1e-9)  # a shift moves all mass
    assert drift.ks_statistic(a, a) == 0.0 and drift.psi(a, a) == pytest.approx(0.0, abs=1e-12)
    b = rng.normal(1, 1, 50_000)  # KS of N(0,1) vs N(1,1) = 2*Phi(0.5) - 1
    assert drift.ks_statistic(a, b) == pytest.approx(2 * stats.norm.cdf(0.5) - 1, abs=0.01)
    assert drift.psi(a, rng.normal(0, 1, 50_000)) < 0.01  # same distribution: tiny PSI
    assert drift.psi(a, b) > 0.25  # a one-SD shift: a major shift


def test_psi_by_hand() -> None:
    ref, cur = np.array([25, 25, 25, 25]), np.array([10, 20, 30, 40])
    p, q = ref / ref.sum(), cur / cur.sum()
    assert drift.psi_from_counts(ref, cur) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert drift.psi_from_counts([10, 0], [5, 5]) > 0  # an empty bin is floored, not infinite
    with pytest.raises(ValueError, match="same bins"):
        drift.psi_from_counts([1, 2], [1, 2, 3])


def test_report_flags_drifted_features_only() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"income": rng.gamma(4, 1, 5000), "age": rng.integers(1, 52, 5000) * 1.0,
                        "ocean_proximity": rng.choice(["INLAND", "NEAR BAY"], 5000)})
    cur = pd.DataFrame({"income": rng.gamma(4, 1, 2000) * 1.3,
                        "age": rng.integers(1, 52, 2000) * 1.0,
                        "ocean_proximity": rng.choice(["INLAND", "NEAR BAY"], 2000, p=[0.9, 0.1])})
    report = drift.drift_report(ref, cur)
    assert report.loc["income", "drifted"] and report.loc["ocean_proximity", "drifted"]
    assert not report.loc["age", "drifted"]
    assert np.isnan(report.loc["ocean_proximity", "ks"])


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        drift.ks_statistic([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        drift.quantile_edges([np.nan])
