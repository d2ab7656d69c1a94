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
# # Exercise 9 — A drift detector and a decay alert
#
# Lesson 9 watched the prediction service: drift per feature against the training data,
# and the error per day once the true prices arrived. Write the three pieces of such a
# monitor yourself. Each part has public tests you can run here; graders also run hidden
# tests.

# %%
import math

import numpy as np

from mlops_course.course.observe import raised

rng = np.random.default_rng(9)
REFERENCE = rng.gamma(4.0, 1.0, 5_000)  # incomes of the training data, in $10,000s

# %% [markdown]
# ## Part 1 — PSI from scratch (4 points)
# Write `psi(reference, current, bins=10)`, the population stability index of a numeric
# feature:
#
# 1. bin edges at the reference's quantiles `1/bins, 2/bins, …, (bins-1)/bins`
#    (`np.quantile`), so that each bin holds about the same share of the reference; values
#    below the first edge go to the first bin, above the last edge to the last bin
#    (`np.searchsorted(edges, values, side="right")` gives each value's bin);
# 2. the share of each sample in each bin; a share below `1e-4` counts as `1e-4` (an
#    empty bin would make the logarithm infinite);
# 3. `sum((current_share - reference_share) * ln(current_share / reference_share))`.
#
# Return a Python `float`. Raise `ValueError` if either sample is empty.

# %% tags=["solution"] grade_id="psi"
def psi(reference, current, bins=10) -> float:
    """Population stability index of ``current`` against ``reference``."""
    ### BEGIN SOLUTION
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    if reference.size == 0 or current.size == 0:
        raise ValueError("psi needs two non-empty samples")
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins)
    p = np.clip(ref / ref.sum(), 1e-4, None)
    q = np.clip(cur / cur.sum(), 1e-4, None)
    return float(np.sum((q - p) * np.log(q / p)))
    ### END SOLUTION


# %% tags=["test"] grade_id="test_psi_same_and_shifted" points=2
def probe():
    return {"same": psi(REFERENCE, REFERENCE), "inflated": psi(REFERENCE, REFERENCE * 1.5),
            "type": type(psi(REFERENCE, REFERENCE[:100])).__name__}


def verify(observed):
    assert observed["type"] == "float", f"return a Python float, got {observed['type']}"
    assert abs(observed["same"]) < 1e-12, f"a sample against itself has PSI 0, got {observed['same']}"
    assert observed["inflated"] > 0.25, (
        f"incomes inflated by 50% are a major shift (PSI > 0.25), got {observed['inflated']:.3f}")


verify(probe())

# %% tags=["test"] grade_id="test_psi_by_hand" points=1
def probe():
    reference = np.arange(1.0, 101.0)  # quartile edges 25.75, 50.5, 75.25
    current = np.array([10.0] * 10 + [60.0] * 30)  # shares 0.25, 0, 0.75, 0 of 40
    return psi(reference, current, bins=4)


def verify(observed):
    import math

    p, q = [0.25] * 4, [0.25, 1e-4, 0.75, 1e-4]
    expected = sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))
    assert abs(observed - expected) < 1e-9, f"expected {expected:.6f}, got {observed}"


verify(probe())

# %% tags=["test"] grade_id="hidden_psi_empty" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    try:
        psi(REFERENCE, [])
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "an empty sample must raise ValueError"
    assert "ValueError" in observed["raised"], "an empty sample must raise ValueError"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_psi_matches_course" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    other = np.random.default_rng(3).gamma(4.2, 1.1, 700)
    return {"ten": psi(REFERENCE, other), "five": psi(REFERENCE, other, bins=5),
            "extremes": psi(REFERENCE, np.array([-1e9, 1e9] * 50))}


def verify(observed):
    import math

    import numpy as np

    from mlops_course import drift

    reference = np.random.default_rng(9).gamma(4.0, 1.0, 5_000)
    other = np.random.default_rng(3).gamma(4.2, 1.1, 700)
    assert abs(observed["ten"] - drift.psi(reference, other, 10)) < 1e-9, "10 quantile bins"
    assert abs(observed["five"] - drift.psi(reference, other, 5)) < 1e-9, "use `bins`"
    assert math.isfinite(observed["extremes"]) and observed["extremes"] > 1, (
        "values beyond the reference's range land in the first and last bins")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — Which features drifted? (2 points)
# A drift report holds, per feature, some metrics (`{"psi": 0.31, "ks": 0.2}`; a metric
# may be `nan` when it does not apply, e.g. KS for a category). Write
# `drifted_features(report, thresholds)`: the names of the features for which at least one
# metric is at or above its threshold (`thresholds` maps metric names to limits; a metric
# without a threshold or with a `nan` value is ignored), sorted alphabetically.

# %% tags=["solution"] grade_id="drifted_features"
def drifted_features(report, thresholds) -> list:
    """Features with a metric at or above its threshold, sorted by name."""
    ### BEGIN SOLUTION
    flagged = []
    for feature, metrics in report.items():
        for name, value in metrics.items():
            limit = thresholds.get(name)
            if limit is not None and not math.isnan(value) and value >= limit:
                flagged.append(feature)
                break
    return sorted(flagged)
    ### END SOLUTION


# %% tags=["test"] grade_id="test_drifted_features" points=1
def probe():
    report = {"median_income": {"psi": 0.39, "ks": 0.26},
              "housing_median_age": {"psi": 0.02, "ks": 0.04},
              "ocean_proximity": {"psi": 0.31, "ks": math.nan},
              "latitude": {"psi": 0.07, "ks": 0.15}}
    return drifted_features(report, {"psi": 0.25, "ks": 0.15})


def verify(observed):
    assert observed == ["latitude", "median_income", "ocean_proximity"], (
        "expected latitude (KS at the threshold counts), median_income and ocean_proximity, "
        f"sorted; got {observed}")


verify(probe())

# %% tags=["test"] grade_id="hidden_drifted_features_edges" points=1
### BEGIN HIDDEN TESTS
def probe():
    report = {"b": {"psi": math.nan, "wasserstein_sd": 0.9}, "a": {"psi": 0.1},
              "c": {"ks": math.nan}}
    return {"some": drifted_features(report, {"psi": 0.25}),
            "none": drifted_features({}, {"psi": 0.25}),
            "extra": drifted_features(report, {"psi": 0.05, "wasserstein_sd": 0.5})}


def verify(observed):
    assert observed["some"] == [], "metrics without a threshold and NaN values are ignored"
    assert observed["none"] == [], "an empty report flags nothing"
    assert observed["extra"] == ["a", "b"], "each metric against its own threshold, sorted"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — The decay alert (2 points)
# Labels arrived and the error per day is known: `daily_mae` maps a day (an int) to the
# mean absolute error of that day's predictions, in dollars. Write
# `decay_alert(daily_mae, baseline_mae, ratio=1.25, consecutive=1)`: the first day on which
# the MAE has been above `ratio * baseline_mae` for `consecutive` days in a row (that day
# included), looking at the days in increasing order; `None` if that never happens.

# %% tags=["solution"] grade_id="decay_alert"
def decay_alert(daily_mae, baseline_mae, ratio=1.25, consecutive=1):
    """The day the decay alert fires, or None."""
    ### BEGIN SOLUTION
    run = 0
    for day in sorted(daily_mae):
        run = run + 1 if daily_mae[day] > ratio * baseline_mae else 0
        if run >= consecutive:
            return day
    return None
    ### END SOLUTION


# %% tags=["test"] grade_id="test_decay_alert" points=1
def probe():
    mae = {1: 28_000.0, 2: 29_000.0, 3: 37_000.0, 4: 35_000.0, 5: 38_000.0, 6: 40_000.0}
    return {"first": decay_alert(mae, 29_000.0),
            "two in a row": decay_alert(mae, 29_000.0, consecutive=2),
            "never": decay_alert(mae, 29_000.0, ratio=2.0)}


def verify(observed):
    assert observed["first"] == 3, f"37,000 > 1.25 x 29,000 on day 3, got {observed['first']}"
    assert observed["two in a row"] == 6, (
        f"days 5 and 6 are the first two in a row above the limit, got {observed['two in a row']}")
    assert observed["never"] is None, "no day is above 2 x the baseline: None"


verify(probe())

# %% tags=["test"] grade_id="hidden_decay_alert_order" points=1
### BEGIN HIDDEN TESTS
def probe():
    mae = {9: 50.0, 2: 50.0, 5: 10.0, 3: 50.0}
    return {"sorted": decay_alert(mae, 10.0), "run": decay_alert(mae, 10.0, consecutive=2),
            "equal": decay_alert({1: 12.5}, 10.0), "empty": decay_alert({}, 10.0)}


def verify(observed):
    assert observed["sorted"] == 2, "look at the days in increasing order"
    assert observed["run"] == 3, "days 2 and 3 are two in a row"
    assert observed["equal"] is None, "exactly 1.25x is not above the limit"
    assert observed["empty"] is None, "no days: no alert"


verify(probe())
### END HIDDEN TESTS
