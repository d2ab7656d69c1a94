"""Drift metrics (lesson 9): how far production inputs and predictions moved from training.

Three per-feature measures, each with a threshold and a plain reading:

* **PSI** (population stability index): bin the reference into deciles, compare the share
  of rows per bin, ``sum((cur - ref) * ln(cur / ref))``. Rule of thumb: < 0.1 stable,
  0.1-0.25 moderate, > 0.25 a major shift. Works for categories too (one bin each).
* **KS** (Kolmogorov-Smirnov): the largest gap between the two empirical CDFs, in [0, 1],
  with a p-value; on thousands of rows tiny, harmless shifts get tiny p-values, so the
  course alarms on the statistic, not on the p-value.
* **Wasserstein-1** (earth mover's distance): the area between the CDFs, in the feature's
  own unit; divided by the reference's standard deviation it is comparable across features.

The core functions take NumPy arrays only (the prediction service imports this module and
never imports pandas); :func:`drift_report` builds a readable table with pandas. Each
metric is cross-checked against ``scipy.stats`` in the tests and in lesson 9.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

EPS = 1e-4  # floor for an empty bin's share: ln(0) is undefined


@dataclass(frozen=True)
class Thresholds:
    """When a feature counts as drifted: any one metric at or above its threshold.

    ``psi`` is the classic 0.25 ("major shift"); ``ks`` is a KS statistic (not a p-value);
    ``wasserstein_sd`` is the Wasserstein distance in reference standard deviations.
    """

    psi: float = 0.25
    ks: float = 0.15
    wasserstein_sd: float = 0.25


def quantile_edges(reference: Any, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (``bins - 1`` unique edges at most).

    Values below the first edge fall in bin 0, above the last in the last bin, so the bins
    cover the whole real line and new extremes still land somewhere.

    Examples
    --------
    >>> quantile_edges(np.arange(100.0), bins=4)
    array([24.75, 49.5 , 74.25])
    """
    values = np.asarray(reference, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("quantile_edges needs at least one finite reference value")
    edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(edges)


def bin_counts(values: Any, edges: Any) -> np.ndarray:
    """Rows per bin (``len(edges) + 1`` bins); non-finite values are left out."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    edges = np.asarray(edges, dtype=float)
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)


def psi_from_counts(reference_counts: Any, current_counts: Any, eps: float = EPS) -> float:
    """PSI between two histograms over the same bins (counts or shares).

    Examples
    --------
    >>> psi_from_counts([50, 50], [50, 50])
    0.0
    >>> round(psi_from_counts([50, 50], [90, 10]), 3)
    0.879
    """
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    if ref.shape != cur.shape or ref.sum() <= 0 or cur.sum() <= 0:
        raise ValueError(f"PSI needs two non-empty histograms over the same bins, got "
                         f"shapes {ref.shape} and {cur.shape}")
    p = np.clip(ref / ref.sum(), eps, None)
    q = np.clip(cur / cur.sum(), eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    """PSI of a numeric feature, on the reference's quantile bins."""
    edges = quantile_edges(reference, bins)
    return psi_from_counts(bin_counts(reference, edges), bin_counts(current, edges))


def psi_categorical(reference: Sequence[Any], current: Sequence[Any]) -> float:
    """PSI of a categorical feature: one bin per category seen in either sample."""
    categories = sorted(set(map(str, reference)) | set(map(str, current)))
    index = {c: i for i, c in enumerate(categories)}
    ref = np.bincount([index[str(v)] for v in reference], minlength=len(categories))
    cur = np.bincount([index[str(v)] for v in current], minlength=len(categories))
    return psi_from_counts(ref, cur)


def ks_statistic(reference: Any, current: Any) -> float:
    """The largest gap between the two empirical CDFs (two-sample Kolmogorov-Smirnov).

    Examples
    --------
    >>> ks_statistic([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    0.0
    >>> ks_statistic([1.0, 2.0], [3.0, 4.0])
    1.0
    """
    a = np.sort(np.asarray(reference, dtype=float))
    b = np.sort(np.asarray(current, dtype=float))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("the KS statistic needs two non-empty samples")
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Asymptotic p-value of a two-sample KS statistic: the one-sample KS distribution at
    the effective sample size ``n*m/(n+m)`` (what ``scipy.stats.ks_2samp`` does for
    ``method="asymp"``)."""
    from scipy.stats import kstwo

    return float(kstwo.sf(statistic, np.round(n * m / (n + m))))


def wasserstein(reference: Any, current: Any) -> float:
    """Wasserstein-1 distance (area between the empirical CDFs), in the feature's unit.

    Examples
    --------
    >>> wasserstein([0.0, 1.0], [5.0, 6.0])
    5.0
    """
    a = np.sort(np.asarray(reference, dtype=float))
    b = np.sort(np.asarray(current, dtype=float))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("the Wasserstein distance needs two non-empty samples")
    grid = np.sort(np.concatenate([a, b]))
    widths = np.diff(grid)
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * widths))


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    thresholds: Thresholds | None = None,
    categorical: Sequence[str] = ("ocean_proximity",),
    bins: int = 10,
) -> pd.DataFrame:
    """One row per shared column: PSI, KS (statistic, p-value), Wasserstein (raw and in
    reference SDs), and ``drifted`` with the metrics that crossed their threshold.

    Categorical columns get PSI only (KS and Wasserstein need an order).
    """
    import pandas as pd

    thresholds = thresholds or Thresholds()
    rows = []
    for column in [c for c in reference.columns if c in current.columns]:
        ref, cur = reference[column].dropna(), current[column].dropna()
        if column in categorical:
            row = {"psi": psi_categorical(list(ref), list(cur)), "ks": np.nan,
                   "ks_pvalue": np.nan, "wasserstein": np.nan, "wasserstein_sd": np.nan}
        else:
            ref_v, cur_v = ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)
            ks = ks_statistic(ref_v, cur_v)
            w = wasserstein(ref_v, cur_v)
            sd = float(np.std(ref_v)) or 1.0
            row = {"psi": psi(ref_v, cur_v, bins), "ks": ks,
                   "ks_pvalue": ks_pvalue(ks, ref_v.size, cur_v.size),
                   "wasserstein": w, "wasserstein_sd": w / sd}
        crossed = [name for name, limit in (("psi", thresholds.psi), ("ks", thresholds.ks),
                                            ("wasserstein_sd", thresholds.wasserstein_sd))
                   if np.isfinite(row[name]) and row[name] >= limit]
        rows.append({"feature": column, **row, "drifted": bool(crossed),
                     "why": ", ".join(crossed)})
    return pd.DataFrame(rows).set_index("feature")


def reference_profile(columns: Mapping[str, Any], bins: int = 10) -> dict[str, Any]:
    """Bin edges and counts of each numeric reference column, as plain JSON data (the
    prediction service keeps it in its bundle and computes live PSI against it)."""
    profile = {}
    for name, values in columns.items():
        edges = quantile_edges(values, bins)
        profile[name] = {"edges": edges.tolist(),
                         "counts": bin_counts(values, edges).tolist()}
    return profile
