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
# # Exercise 10 — Behavioural tests that catch planted bugs
#
# Lesson 10 tested what the model *does*: invariance, a directional expectation, slices,
# a quality gate. Write those four tests yourself. Each takes a `predict` function (a
# DataFrame of districts in, prices in dollars out) so that it works on any model. The
# public tests run them on a healthy model and on models with a planted bug; graders run
# them on other hidden models, each with another bug your tests must catch (and healthy
# ones they must pass).

# %%
import numpy as np
import pandas as pd

from mlops_course.course.observe import raised
from mlops_course.data import make_synthetic_housing

DISTRICTS = make_synthetic_housing(600, seed=10)
X = DISTRICTS.drop(columns="median_house_value")
y = DISTRICTS["median_house_value"].to_numpy()


def healthy_model(rows):
    """The rule the synthetic data was made with: more income, coast, south -> dearer."""
    coastal = rows["ocean_proximity"].map({"INLAND": 0.0}).fillna(1.0).astype(float)
    return (40_000 * rows["median_income"] + 60_000 * coastal
            - 3_000 * (rows["latitude"] - 34) + 30_000).to_numpy()


def income_reversed(rows):
    """Planted bug: income enters with the wrong sign (a sign flip in a feature transform)."""
    return healthy_model(rows.assign(median_income=-rows["median_income"]))


# %% [markdown]
# ## Part 1 — Directional expectation (3 points)
# Write `income_drop_share(predict, X, delta=1.0, tolerance_usd=1_000.0)`: raise every
# district's `median_income` by `delta` (all else equal, without changing `X` itself) and
# return the share of districts (a float from 0 to 1) whose prediction *drops* by more
# than `tolerance_usd`.

# %% tags=["solution"] grade_id="income_drop_share"
def income_drop_share(predict, X, delta=1.0, tolerance_usd=1_000.0) -> float:
    """Share of districts predicted cheaper (by > tolerance) when income rises by delta."""
    ### BEGIN SOLUTION
    before = np.asarray(predict(X), dtype=float)
    after = np.asarray(predict(X.assign(median_income=X["median_income"] + delta)), dtype=float)
    return float(np.mean(after - before < -tolerance_usd))
    ### END SOLUTION


# %% tags=["test"] grade_id="test_direction_healthy_and_reversed" points=2
def probe():
    income = X["median_income"].copy()
    return {"healthy": income_drop_share(healthy_model, X),
            "reversed": income_drop_share(income_reversed, X),
            "unchanged": float((X["median_income"] - income).abs().max())}


def verify(observed):
    assert observed["unchanged"] == 0, "do not change X itself: use X.assign(...) or a copy"
    assert observed["healthy"] == 0.0, f"the healthy model never drops, got {observed['healthy']}"
    assert observed["reversed"] == 1.0, (
        f"income with the wrong sign lowers every price, got {observed['reversed']}")


verify(probe())

# %% tags=["test"] grade_id="hidden_direction_rich_only" points=1
### BEGIN HIDDEN TESTS
def probe():
    def rich_reversed(rows):  # planted: the slope turns negative above an income of 6
        income = rows["median_income"]
        return healthy_model(rows) - 90_000 * np.maximum(income - 6.0, 0.0)

    return {"share": income_drop_share(rich_reversed, X),
            "tolerance": income_drop_share(rich_reversed, X, delta=0.01, tolerance_usd=10_000)}


def verify(observed):
    import numpy as np

    from mlops_course.data import make_synthetic_housing

    income = make_synthetic_housing(600, seed=10)["median_income"].to_numpy()
    drop = 90_000 * (np.maximum(income + 1 - 6, 0) - np.maximum(income - 6, 0)) - 40_000
    expected = float(np.mean(drop > 1_000))
    assert abs(observed["share"] - expected) < 1e-9, (
        f"a model that turns down for rich districts: expected share {expected:.3f}, "
        f"got {observed['share']}")
    assert observed["tolerance"] == 0.0, "drops smaller than tolerance_usd do not count"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — Invariance (3 points)
# Write `invariance_gap_usd(predict, X, seed=0)`: the largest absolute change (dollars) of
# any district's prediction under two changes that must not matter:
#
# 1. the rows in another order — shuffle them with
#    `np.random.default_rng(seed).permutation(len(X))` and compare each district with
#    *itself*;
# 2. an extra, unknown column `district_id` (any values) added to the request.
#
# Return one float: the larger of the two gaps.

# %% tags=["solution"] grade_id="invariance_gap_usd"
def invariance_gap_usd(predict, X, seed=0) -> float:
    """Largest prediction change under row order and an unknown extra column."""
    ### BEGIN SOLUTION
    base = np.asarray(predict(X), dtype=float)
    order = np.random.default_rng(seed).permutation(len(X))
    shuffled = np.asarray(predict(X.iloc[order]), dtype=float)
    extra = np.asarray(predict(X.assign(district_id=np.arange(len(X)))), dtype=float)
    return float(max(np.max(np.abs(shuffled - base[order])), np.max(np.abs(extra - base))))
    ### END SOLUTION


# %% tags=["test"] grade_id="test_invariance_healthy_and_positional" points=2
def probe():
    def batch_smoothed(rows):  # planted: a rolling mean over neighbouring rows
        smooth = rows["median_income"].rolling(2, min_periods=1).mean()
        return healthy_model(rows.assign(median_income=smooth))

    return {"healthy": invariance_gap_usd(healthy_model, X),
            "smoothed": invariance_gap_usd(batch_smoothed, X)}


def verify(observed):
    assert observed["healthy"] < 1e-6, f"the healthy model is invariant, got ${observed['healthy']:,.2f}"
    assert observed["smoothed"] > 1_000, (
        "a model that mixes neighbouring rows depends on their order: compare each "
        f"district with itself after shuffling (got ${observed['smoothed']:,.2f})")


verify(probe())

# %% tags=["test"] grade_id="hidden_invariance_extra_column" points=1
### BEGIN HIDDEN TESTS
def probe():
    def last_column(rows):  # planted: the feature read by position -1 (breaks on new columns)
        codes = rows.iloc[:, -1].astype("category").cat.codes.to_numpy(dtype=float)
        return healthy_model(rows) + 1_000 * codes

    return invariance_gap_usd(last_column, X, seed=3)


def verify(observed):
    assert observed > 1_000, (
        "a model that reads a column by position changes when a column is added: "
        f"add district_id and compare (got ${observed:,.2f})")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — The worst slice (4 points)
# Write `worst_slice(predict, X, y, by="ocean_proximity", min_rows=20)`: the RMSE in dollars
# of each group of `X[by]` with at least `min_rows` districts; return `(name, rmse)` of
# the worst one, `name` as a `str` and `rmse` as a `float`. If no group has `min_rows`
# districts, raise a `ValueError` that says so (a test that judges nothing must not pass).

# %% tags=["solution"] grade_id="worst_slice"
def worst_slice(predict, X, y, by="ocean_proximity", min_rows=20) -> tuple[str, float]:
    """Name and RMSE (dollars) of the group with the largest error."""
    ### BEGIN SOLUTION
    errors = np.asarray(predict(X), dtype=float) - np.asarray(y, dtype=float)
    table = (pd.DataFrame({"group": X[by].astype(str).to_numpy(), "sq": errors**2})
             .groupby("group")["sq"].agg(["mean", "size"]))
    table = table[table["size"] >= min_rows]
    if table.empty:
        raise ValueError(f"no group of {by!r} has min_rows={min_rows} districts")
    name = table["mean"].idxmax()
    return str(name), float(np.sqrt(table.loc[name, "mean"]))
    ### END SOLUTION


# %% tags=["test"] grade_id="test_worst_slice_inland_bug" points=2
def probe():
    def inland_off(rows):  # planted: inland prices $80,000 too high
        return healthy_model(rows) + rows["ocean_proximity"].map({"INLAND": 80_000.0}).fillna(
            0.0).astype(float).to_numpy()

    name, rmse = worst_slice(inland_off, X, y)
    return {"name": name, "rmse": rmse, "type": type(rmse).__name__}


def verify(observed):
    assert observed["name"] == "INLAND", f"the planted bug is in INLAND, got {observed['name']}"
    assert observed["type"] == "float", f"return the RMSE as a float, got {observed['type']}"
    assert 80_000 < observed["rmse"] < 90_000, f"RMSE of INLAND about $85,000, got {observed['rmse']}"


verify(probe())

# %% tags=["test"] grade_id="hidden_worst_slice_min_rows" points=1
### BEGIN HIDDEN TESTS
def probe():
    def island_and_bay_off(rows):  # planted: ISLAND far off (too few rows to judge), NEAR BAY off
        shift = rows["ocean_proximity"].map({"ISLAND": 900_000.0, "NEAR BAY": 50_000.0})
        return healthy_model(rows) + shift.fillna(0.0).astype(float).to_numpy()

    return {"default": worst_slice(island_and_bay_off, X, y),
            "all": worst_slice(island_and_bay_off, X, y, min_rows=1)}


def verify(observed):
    from mlops_course.data import make_synthetic_housing

    counts = make_synthetic_housing(600, seed=10)["ocean_proximity"].value_counts()
    assert observed["default"][0] == "NEAR BAY", (
        f"slices under min_rows ({counts['ISLAND']} ISLAND districts) are left out; "
        f"got {observed['default'][0]}")
    if counts["ISLAND"] > 0:
        assert observed["all"][0] == "ISLAND", "with min_rows=1 every group counts"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_worst_slice_none_big_enough" points=1
### BEGIN HIDDEN TESTS
def probe():
    try:
        worst_slice(healthy_model, X, y, min_rows=10_000)
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "no group has 10,000 districts: raise ValueError"
    assert "ValueError" in observed["raised"], f"raise ValueError, got {observed['raised']}"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 4 — The quality gate (2 points)
# Write `passes_gate(predict, X, y, baseline_rmse_usd, min_improvement=0.3)`: `True` when
# the model's RMSE on `(X, y)` is at most `(1 - min_improvement) * baseline_rmse_usd`.

# %% tags=["solution"] grade_id="passes_gate"
def passes_gate(predict, X, y, baseline_rmse_usd, min_improvement=0.3) -> bool:
    """Does the model beat the baseline by at least ``min_improvement`` (a share)?"""
    ### BEGIN SOLUTION
    errors = np.asarray(predict(X), dtype=float) - np.asarray(y, dtype=float)
    return bool(np.sqrt(np.mean(errors**2)) <= (1 - min_improvement) * baseline_rmse_usd)
    ### END SOLUTION


# %% tags=["test"] grade_id="test_gate_shuffled_labels" points=1
def probe():
    baseline = float(np.sqrt(np.mean((y - y.mean()) ** 2)))
    shuffled = np.random.default_rng(1).permutation(len(X))

    def shuffled_labels(rows):  # planted: trained on shuffled labels: prices of others
        return healthy_model(rows)[shuffled[: len(rows)] % len(rows)]

    return {"healthy": passes_gate(healthy_model, X, y, baseline),
            "shuffled": passes_gate(shuffled_labels, X, y, baseline)}


def verify(observed):
    assert observed["healthy"] is True, "the healthy model beats the mean baseline by far"
    assert observed["shuffled"] is False, "a model of shuffled labels is no better than the mean"


verify(probe())

# %% tags=["test"] grade_id="hidden_gate_margin" points=1
### BEGIN HIDDEN TESTS
def probe():
    def off_by(rows):  # RMSE exactly 50,000: a constant error
        return healthy_model(rows) + 50_000.0

    model_rmse = float(np.sqrt(np.mean((healthy_model(X) + 50_000.0 - y) ** 2)))
    return {"loose": passes_gate(off_by, X, y, model_rmse / 0.69),
            "strict": passes_gate(off_by, X, y, model_rmse / 0.71),
            "champion": passes_gate(off_by, X, y, model_rmse, min_improvement=0.0)}


def verify(observed):
    assert observed["loose"] is True, "31% below the baseline passes a 30% gate"
    assert observed["strict"] is False, "29% below the baseline fails a 30% gate"
    assert observed["champion"] is True, "equal to the champion passes with min_improvement=0"


verify(probe())
### END HIDDEN TESTS
