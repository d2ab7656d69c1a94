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
# # Exercise 2 — Data structures, validation and a pipeline step
#
# Lesson 2 fixed the preprocessing row of lesson 1's problem table in three moves: dtypes
# that say what the data is, a schema that rejects bad rows with a report, and processing
# steps that follow scikit-learn's estimator contract so that one pipeline can carry them.
# Write one small tool for each. Each part has public tests you can run here; graders also
# run hidden tests.

# %%
import io

import numpy as np
import pandas as pd

from mlops_course.course.observe import raised
from mlops_course.data import make_synthetic_housing

SAMPLE = make_synthetic_housing(n_rows=200, seed=7)  # 2 of its bedroom counts are missing
RAW = pd.read_csv(io.StringIO(SAMPLE.to_csv(index=False)))  # as `pd.read_csv` gives it
CATEGORIES = ["<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"]

# %% [markdown]
# ## Part 1 — Compact dtypes, without losing a value (3 points)
# `pd.read_csv` reads a column of plain integers (`1`, `2`, `3`) as `int64`, but it reads
# every numeric column of the housing data as a 64-bit float (`float64`): the file writes
# its counts as `41.0`, and a column with a missing value cannot be `int64`. Text becomes
# strings. Write `compact_dtypes(frame)`: return a **new** DataFrame (the input stays as it
# was) with the same index, columns and values, where
#
# * a numeric column whose values are all whole numbers (ignoring missing ones) becomes the
#   smallest signed integer type that holds them: `int8`, `int16`, `int32` or `int64` — or,
#   if some values are missing, the nullable `Int8`, `Int16`, `Int32` or `Int64`;
# * any other numeric column becomes `float32`;
# * any other column (text) becomes `category`.
#
# Hint: `pd.to_numeric(series, downcast="integer")` picks the smallest integer type.

# %% tags=["solution"] grade_id="compact_dtypes"
def compact_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The same data in the smallest lossless dtypes."""
    ### BEGIN SOLUTION
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            present = values.dropna()
            if (present == np.round(present)).all():
                integers = values.astype("Int64") if values.isna().any() else values.astype("int64")
                out[column] = pd.to_numeric(integers, downcast="integer")
            else:
                out[column] = values.astype("float32")
        else:
            out[column] = values.astype("category")
    return out
    ### END SOLUTION


# %% tags=["test"] grade_id="test_compact_dtypes_housing" points=1
def probe():
    return {column: str(dtype) for column, dtype in compact_dtypes(RAW).dtypes.items()}


def verify(observed):
    expected = {"longitude": "float32", "latitude": "float32", "housing_median_age": "int8",
                "total_rooms": "int16", "total_bedrooms": "Int16", "population": "int16",
                "households": "int16", "median_income": "float32",
                "median_house_value": "int32", "ocean_proximity": "category"}
    for column, dtype in expected.items():
        assert observed.get(column) == dtype, (
            f"{column}: expected {dtype}, got {observed.get(column)}")


verify(probe())

# %% tags=["test"] grade_id="test_compact_dtypes_lossless" points=1
def probe():
    def observe(frame):
        return {"columns": [str(c) for c in frame.columns], "index": frame.index.tolist(),
                "dtypes": [str(t) for t in frame.dtypes],
                "values": {str(c): frame[c].tolist() for c in frame.columns}}

    before = RAW.copy()
    after = compact_dtypes(RAW)
    numbers = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
               "population", "households", "median_income", "median_house_value"]
    return {"before": observe(before),
            "raw": observe(RAW),  # RAW after the call
            "numbers": {c: after[c].to_numpy(float, na_value=np.nan).tolist() for c in numbers},
            "text": after["ocean_proximity"].astype(str).tolist(),
            "index": after.index.tolist(),
            "missing": [int(RAW["total_bedrooms"].isna().sum()),
                        int(after["total_bedrooms"].isna().sum())],
            "memory": [int(after.memory_usage(deep=True).sum()),
                       int(RAW.memory_usage(deep=True).sum())]}


def verify(observed):
    import math

    import numpy as np

    def clean(value):  # NaN, as Python gives it or as JSON brings it ('nan'), becomes 'nan'
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        return value

    raw = observed["raw"]
    same_values = all(
        np.allclose(np.array([float(v) for v in raw["values"][c]]),
                    np.array([float(v) for v in values]), rtol=1e-6, equal_nan=True)
        for c, values in observed["numbers"].items())
    assert same_values, "every number must keep its value (floats to 1e-6)"
    assert observed["text"] == raw["values"]["ocean_proximity"], "every text must keep its value"
    assert observed["missing"] == [2, 2], f"missing values must stay missing: {observed['missing']}"
    assert observed["index"] == raw["index"], "keep the index"
    assert clean(raw) == clean(observed["before"]), "return a new frame; do not change the input"
    ratio = observed["memory"][0] / observed["memory"][1]
    assert ratio < 0.5, f"memory should at least halve, got {ratio:.2f} of the original"


verify(probe())

# %% tags=["test"] grade_id="hidden_compact_dtypes_edge_dtypes" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    frame = pd.DataFrame({
        "small": [-5.0, 0.0, 100.0],
        "medium": [0.0, 40_000.0, 1.0],
        "huge": [0.0, 3e9, 1.0],
        "gappy": [1.0, np.nan, 300.0],
        "ints": np.array([1, 2, 3], dtype="int64"),
        "fractions": [0.5, 1.25, 2.0],
        "label": ["a", "b", "a"],
    }, index=["x", "y", "z"])
    return {str(c): str(t) for c, t in compact_dtypes(frame).dtypes.items()}


def verify(observed):
    expected = {"small": "int8", "medium": "int32", "huge": "int64", "gappy": "Int16",
                "ints": "int8", "fractions": "float32", "label": "category"}
    assert observed == expected, f"expected {expected}, got {observed}"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_compact_dtypes_edge_index" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    frame = pd.DataFrame({
        "small": [-5.0, 0.0, 100.0],
        "medium": [0.0, 40_000.0, 1.0],
        "huge": [0.0, 3e9, 1.0],
        "gappy": [1.0, np.nan, 300.0],
        "ints": np.array([1, 2, 3], dtype="int64"),
        "fractions": [0.5, 1.25, 2.0],
        "label": ["a", "b", "a"],
    }, index=["x", "y", "z"])
    return compact_dtypes(frame).index.tolist()


def verify(observed):
    assert observed == ["x", "y", "z"], "keep the index labels"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_compact_dtypes_edge_missing" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    frame = pd.DataFrame({
        "small": [-5.0, 0.0, 100.0],
        "medium": [0.0, 40_000.0, 1.0],
        "huge": [0.0, 3e9, 1.0],
        "gappy": [1.0, np.nan, 300.0],
        "ints": np.array([1, 2, 3], dtype="int64"),
        "fractions": [0.5, 1.25, 2.0],
        "label": ["a", "b", "a"],
    }, index=["x", "y", "z"])
    return [str(v) for v in compact_dtypes(frame)["gappy"]]


def verify(observed):
    missing = ("<NA>", "nan", "NaN", "None", "NaT")  # how pandas and NumPy print a gap
    values = [None if v in missing else int(float(v)) for v in observed]
    assert values == [1, None, 300], "a missing value must stay missing"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_compact_dtypes_edge_huge" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    frame = pd.DataFrame({
        "small": [-5.0, 0.0, 100.0],
        "medium": [0.0, 40_000.0, 1.0],
        "huge": [0.0, 3e9, 1.0],
        "gappy": [1.0, np.nan, 300.0],
        "ints": np.array([1, 2, 3], dtype="int64"),
        "fractions": [0.5, 1.25, 2.0],
        "label": ["a", "b", "a"],
    }, index=["x", "y", "z"])
    return [int(v) for v in compact_dtypes(frame)["huge"]]


def verify(observed):
    assert observed == [0, 3_000_000_000, 1], "large whole numbers need int64"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — A schema check that names the bad rows (3 points)
# Write `find_problems(batch)`: check a batch of districts against the rules below and
# return a dict `{row label: sorted list of the columns with a problem}` with one entry for
# each row that breaks at least one rule (a valid batch gives `{}`). Do not change `batch`.
#
# 1. every column in `RANGES` holds a number within its range (both ends included); a
#    missing value, or a text that is not a number, breaks the rule — except that
#    `total_bedrooms` may be missing;
# 2. `total_bedrooms` is at most `total_rooms` (report it on `total_bedrooms`);
# 3. `ocean_proximity` is one of `CATEGORIES` (exactly: `"near bay"` is not `"NEAR BAY"`).
#
# Other columns are not checked. Use pandera, as the lesson's `mlops_course.validation`
# does, or plain pandas (`pd.to_numeric(..., errors="coerce")` turns text into NaN).

# %%
RANGES = {  # column: (lowest, highest) allowed value
    "longitude": (-124.6, -114.0),
    "latitude": (32.4, 42.1),
    "housing_median_age": (1, 52),
    "total_rooms": (1, np.inf),
    "total_bedrooms": (0, np.inf),
    "population": (1, np.inf),
    "households": (1, np.inf),
    "median_income": (0.4999, 15.0001),
}

# %% tags=["solution"] grade_id="find_problems"
def find_problems(batch: pd.DataFrame) -> dict:
    """{row label: sorted columns that break a rule}, for the rows that break one."""
    ### BEGIN SOLUTION
    problems = {}

    def flag(bad, column):
        for label in batch.index[np.asarray(bad, dtype=bool)]:
            problems.setdefault(label, set()).add(column)

    numbers = {}
    for column, (low, high) in RANGES.items():
        values = pd.to_numeric(batch[column], errors="coerce")
        numbers[column] = values
        unreadable = values.isna() & batch[column].notna()
        missing = values.isna() & (column != "total_bedrooms")
        flag(unreadable | missing | (values < low) | (values > high), column)
    flag(numbers["total_bedrooms"] > numbers["total_rooms"], "total_bedrooms")
    flag(~batch["ocean_proximity"].isin(CATEGORIES), "ocean_proximity")
    order = {label: i for i, label in enumerate(batch.index)}
    return {label: sorted(problems[label]) for label in sorted(problems, key=order.get)}
    ### END SOLUTION


# %% tags=["test"] grade_id="test_find_problems_public" points=1
def probe():
    dirty = SAMPLE.head(10).copy()
    dirty.loc[0, "median_income"] = 38_000.0  # dollars instead of $10,000s
    dirty["ocean_proximity"] = dirty["ocean_proximity"].astype(str)
    dirty.loc[2, "ocean_proximity"] = "near bay"
    dirty.loc[3, ["longitude", "latitude"]] = [37.8, -122.3]  # swapped
    return {"clean": find_problems(SAMPLE), "dirty": find_problems(dirty)}


def verify(observed):
    assert observed["clean"] == {}, f"the clean sample has no problems, got {observed['clean']}"
    dirty = {str(row): columns for row, columns in observed["dirty"].items()}  # JSON keys: text
    expected = {"0": ["median_income"], "2": ["ocean_proximity"], "3": ["latitude", "longitude"]}
    assert dirty == expected, f"expected {expected}, got {dirty}"


verify(probe())

# %% tags=["test"] grade_id="test_find_problems_missing" points=1
def probe():
    batch = SAMPLE.head(5).copy()
    batch.loc[0, "total_bedrooms"] = np.nan  # allowed
    batch.loc[1, "households"] = np.nan  # not allowed
    batch.loc[2, "total_bedrooms"] = batch.loc[2, "total_rooms"] + 1  # more bedrooms than rooms
    return find_problems(batch)


def verify(observed):
    observed = {str(row): columns for row, columns in observed.items()}  # JSON keys: text
    expected = {"1": ["households"], "2": ["total_bedrooms"]}
    assert observed == expected, f"expected {expected}, got {observed}"


verify(probe())

# %% tags=["test"] grade_id="hidden_find_problems_text_not_a_number" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    batch = SAMPLE.head(8).copy()
    batch.index = [f"district-{i}" for i in range(8)]
    batch["median_income"] = batch["median_income"].astype(object)
    batch.loc["district-0", "median_income"] = "n/a"
    batch.loc["district-1", ["housing_median_age", "median_income"]] = [52.0, 15.0001]  # limits
    batch.loc["district-2", "housing_median_age"] = 0.0
    batch.loc["district-3", ["population", "total_rooms"]] = [-1.0, 0.0]
    batch.loc["district-4", "housing_median_age"] = 1.0  # lower limit: fine
    batch.loc["district-5", "total_bedrooms"] = batch.loc["district-5", "total_rooms"]  # equal
    return find_problems(batch)


def verify(observed):
    expected = {"district-0": ["median_income"], "district-2": ["housing_median_age"],
                "district-3": ["population", "total_bedrooms", "total_rooms"]}
    assert observed.get("district-0") == expected["district-0"], (
        f"a text that is not a number breaks its column's rule: expected {expected}, "
        f"got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_find_problems_range_limits" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    batch = SAMPLE.head(8).copy()
    batch.index = [f"district-{i}" for i in range(8)]
    batch["median_income"] = batch["median_income"].astype(object)
    batch.loc["district-0", "median_income"] = "n/a"
    batch.loc["district-1", ["housing_median_age", "median_income"]] = [52.0, 15.0001]  # limits
    batch.loc["district-2", "housing_median_age"] = 0.0
    batch.loc["district-3", ["population", "total_rooms"]] = [-1.0, 0.0]
    batch.loc["district-4", "housing_median_age"] = 1.0  # lower limit: fine
    batch.loc["district-5", "total_bedrooms"] = batch.loc["district-5", "total_rooms"]  # equal
    return find_problems(batch)


def verify(observed):
    expected = {"district-0": ["median_income"], "district-2": ["housing_median_age"],
                "district-3": ["population", "total_bedrooms", "total_rooms"]}
    assert observed.get("district-2") == expected["district-2"], (
        f"a value below its range breaks the rule: expected {expected}, got {observed}")
    for row in ["district-1", "district-4"]:
        assert row not in observed, (
            f"both ends of a range are allowed ({row} sits on them): expected {expected}, "
            f"got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_find_problems_several_columns" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    batch = SAMPLE.head(8).copy()
    batch.index = [f"district-{i}" for i in range(8)]
    batch["median_income"] = batch["median_income"].astype(object)
    batch.loc["district-0", "median_income"] = "n/a"
    batch.loc["district-1", ["housing_median_age", "median_income"]] = [52.0, 15.0001]  # limits
    batch.loc["district-2", "housing_median_age"] = 0.0
    batch.loc["district-3", ["population", "total_rooms"]] = [-1.0, 0.0]
    batch.loc["district-4", "housing_median_age"] = 1.0  # lower limit: fine
    batch.loc["district-5", "total_bedrooms"] = batch.loc["district-5", "total_rooms"]  # equal
    return find_problems(batch)


def verify(observed):
    expected = {"district-0": ["median_income"], "district-2": ["housing_median_age"],
                "district-3": ["population", "total_bedrooms", "total_rooms"]}
    assert observed.get("district-3") == expected["district-3"], (
        f"report every broken column of a row, sorted: expected {expected}, got {observed}")
    extra = sorted(set(observed) - {"district-0", "district-1", "district-2", "district-3",
                                    "district-4"})
    assert not extra, (f"rows {extra} break no rule (district-5 has as many bedrooms as "
                       f"rooms, which is allowed): expected {expected}, got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_find_problems_batch_unchanged" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    def observe(frame):
        return {"split": frame.to_dict(orient="split"), "dtypes": [str(t) for t in frame.dtypes]}

    batch = SAMPLE.head(8).copy()
    batch.index = [f"district-{i}" for i in range(8)]
    batch["median_income"] = batch["median_income"].astype(object)
    batch.loc["district-0", "median_income"] = "n/a"
    batch.loc["district-1", ["housing_median_age", "median_income"]] = [52.0, 15.0001]  # limits
    batch.loc["district-2", "housing_median_age"] = 0.0
    batch.loc["district-3", ["population", "total_rooms"]] = [-1.0, 0.0]
    batch.loc["district-4", "housing_median_age"] = 1.0  # lower limit: fine
    batch.loc["district-5", "total_bedrooms"] = batch.loc["district-5", "total_rooms"]  # equal
    before = observe(batch)
    find_problems(batch)
    return {"before": before, "after": observe(batch)}


def verify(observed):
    import math

    def clean(value):  # NaN, as Python gives it or as JSON brings it ('nan'), becomes 'nan'
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        return value

    assert clean(observed["after"]) == clean(observed["before"]), "do not change the batch"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — A transformer that follows the estimator contract (4 points)
# Extreme values can dominate a scaler or a linear model. Write `QuantileClipper`, a
# scikit-learn transformer that clips each column to the range it saw while fitting:
#
# * `QuantileClipper(lower=0.01, upper=0.99)`: `__init__` only stores its two parameters,
#   under the same names, and checks nothing (that is `fit`'s job);
# * `fit(X, y=None)`: `X` is a 2-D array or DataFrame of numbers (also a NumPy array of
#   dtype `object` that holds numbers). Raise `ValueError` unless `0 <= lower < upper <= 1`.
#   Learn `lower_bounds_` and `upper_bounds_` — the `lower` and `upper` quantiles of each
#   column (`np.quantile`) — and `n_features_in_`; return `self`;
# * `transform(X)`: a NumPy array of floats, each column clipped to its learned bounds;
#   unfitted, it raises scikit-learn's `NotFittedError`; a different number of columns
#   than in `fit` raises `ValueError` (`X has 1 features, but QuantileClipper is expecting
#   4 features as input`).
#
# Both methods must reject bad input with a clear error, as scikit-learn's own estimator
# checks (`check_estimator`, run by a public test) demand:
#
# * NaN or infinite values, in `fit` and in `transform`: `ValueError` whose message
#   contains `NaN` or `inf` (e.g. `Input X contains NaN`);
# * empty input: `ValueError` for 0 rows, and for 0 columns (say a 12 × 0 array) one that
#   says `0 feature(s) (shape=(12, 0)) while a minimum of 1 is required`;
# * complex numbers: `ValueError` with `Complex data not supported`;
# * a SciPy sparse matrix or array: `TypeError` or `ValueError` whose message mentions
#   `sparse`;
# * 1-D input: `ValueError` in `fit`, and in `transform` one that says `Reshape your data`.
#
# Hint: `sklearn.utils.validation.validate_data(self, X, dtype=float, reset=...)` does all
# of this and sets (or checks) `n_features_in_`; `check_is_fitted(self)` raises the right
# error.

# %% tags=["solution"] grade_id="quantile_clipper"
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class QuantileClipper(TransformerMixin, BaseEstimator):
    """Clip every column to quantiles learned in ``fit``."""

    def __init__(self, lower=0.01, upper=0.99):
        ### BEGIN SOLUTION
        self.lower = lower
        self.upper = upper
        ### END SOLUTION

    def fit(self, X, y=None):
        ### BEGIN SOLUTION
        if not 0 <= self.lower < self.upper <= 1:
            raise ValueError(f"QuantileClipper needs 0 <= lower < upper <= 1, got "
                             f"lower={self.lower!r}, upper={self.upper!r}")
        X = validate_data(self, X, dtype=float)
        self.lower_bounds_ = np.quantile(X, self.lower, axis=0)
        self.upper_bounds_ = np.quantile(X, self.upper, axis=0)
        return self
        ### END SOLUTION

    def transform(self, X):
        ### BEGIN SOLUTION
        check_is_fitted(self)
        X = validate_data(self, X, dtype=float, reset=False)
        return np.clip(X, self.lower_bounds_, self.upper_bounds_)
        ### END SOLUTION


# %% tags=["test"] grade_id="test_clipper_contract" points=1
def probe():
    from sklearn.base import clone

    clipper = QuantileClipper(lower=0.05, upper=0.95)
    out = {"params": clipper.get_params(),
           "clone_params": clone(clipper).get_params(),
           "defaults": QuantileClipper().get_params(),
           "init_checks": "no", "unfitted": "no error"}
    try:
        QuantileClipper(lower=0.9, upper=0.1)
    except Exception as exc:
        out["init_checks"] = raised(exc)
    try:
        clipper.transform(np.zeros((2, 1)))
    except Exception as exc:
        out["unfitted"] = raised(exc)
    fitted = clipper.fit(np.arange(10.0).reshape(5, 2))
    out["ids"] = [id(clipper), id(fitted)]
    out["attributes"] = sorted(str(k) for k in vars(clipper))
    return out


def verify(observed):
    assert observed["params"] == {"lower": 0.05, "upper": 0.95}, (
        f"__init__ must store exactly lower and upper, got {observed['params']}")
    assert observed["clone_params"] == observed["params"], "clone() must keep the parameters"
    assert observed["defaults"] == {"lower": 0.01, "upper": 0.99}, "defaults: 0.01 and 0.99"
    assert observed["init_checks"] == "no", "__init__ must not validate (fit does)"
    unfitted = observed["unfitted"]
    names = unfitted.get("raised", []) if isinstance(unfitted, dict) else []
    assert "NotFittedError" in names, (
        f"transform before fit must raise NotFittedError, got {names[0] if names else unfitted}")
    assert observed["ids"][0] == observed["ids"][1], "fit must return self"
    learned = [k for k in observed["attributes"] if k.endswith("_") and not k.startswith("_")]
    for name in ["lower_bounds_", "n_features_in_", "upper_bounds_"]:
        assert name in learned, f"fit must set {name}"


verify(probe())

# %% tags=["test"] grade_id="test_clipper_values" points=1
def probe():
    clipper = QuantileClipper(lower=0.1, upper=0.9).fit(np.arange(101.0).reshape(-1, 1))
    clipped = clipper.transform(np.array([[-5.0], [50.0], [200.0]]))
    return {"bounds": [clipper.lower_bounds_.tolist(), clipper.upper_bounds_.tolist()],
            "clipped": np.asarray(clipped).ravel().tolist(),
            "type": type(clipped).__name__}


def verify(observed):
    assert observed["bounds"] == [[10.0], [90.0]], f"bounds of 0..100: {observed['bounds']}"
    assert observed["clipped"] == [10.0, 50.0, 90.0], f"clipped: {observed['clipped']}"
    assert observed["type"] == "ndarray", "transform returns a NumPy array"


verify(probe())

# %% tags=["test"] grade_id="test_clipper_sklearn_checks" points=1
def probe():
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(QuantileClipper(), on_fail=None)
    # every check as it came back; the error's class and message, whitespace collapsed
    return [{"check": str(r["check_name"]), "status": str(r["status"]),
             "error": f"{type(r['exception']).__name__}: "
                      + " ".join(str(r["exception"]).split())[:300]}
            for r in results]


def verify(observed):
    assert observed, "scikit-learn's estimator checks did not run"
    failed = [f"{r['check']}: {r['error']}" for r in observed if r["status"] == "failed"]
    assert failed == [], "scikit-learn's estimator checks failed:\n" + "\n".join(failed)


verify(probe())

# %% tags=["test"] grade_id="hidden_clipper_clips_new_data" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    train = pd.DataFrame({"a": np.arange(11.0), "b": np.arange(11.0) * 100})
    test = np.array([[-100.0, 5_000.0], [5.0, -3.0]])
    clipper = QuantileClipper(lower=0.0, upper=0.5).fit(train)
    return clipper.transform(test).tolist()


def verify(observed):
    assert observed == [[0.0, 500.0], [5.0, 0.0]], (
        f"clip each column to the bounds learned in fit: {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_clipper_transform_does_not_learn" points=0.125
### BEGIN HIDDEN TESTS
def probe():
    train = pd.DataFrame({"a": np.arange(11.0), "b": np.arange(11.0) * 100})
    test = np.array([[-100.0, 5_000.0], [5.0, -3.0]])
    clipper = QuantileClipper(lower=0.0, upper=0.5).fit(train)
    first = clipper.transform(test).tolist()
    second = clipper.transform(test).tolist()  # transform must not learn
    return [first, second]


def verify(observed):
    assert observed[0] == observed[1], "transform must not change what was learned"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_clipper_input_unchanged" points=0.125
### BEGIN HIDDEN TESTS
def probe():
    train = pd.DataFrame({"a": np.arange(11.0), "b": np.arange(11.0) * 100})
    test = np.array([[-100.0, 5_000.0], [5.0, -3.0]])
    clipper = QuantileClipper(lower=0.0, upper=0.5).fit(train)
    before = test.tolist()
    clipper.transform(test)
    clipper.transform(test)
    return {"before": before, "after": test.tolist()}


def verify(observed):
    assert observed["after"] == observed["before"] == [[-100.0, 5000.0], [5.0, -3.0]], (
        "transform must not change its input")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_clipper_column_count" points=0.125
### BEGIN HIDDEN TESTS
def probe():
    train = pd.DataFrame({"a": np.arange(11.0), "b": np.arange(11.0) * 100})
    clipper = QuantileClipper(lower=0.0, upper=0.5).fit(train)
    try:
        clipper.transform(np.zeros((2, 3)))
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    names = observed.get("raised", []) if isinstance(observed, dict) else []
    assert "ValueError" in names, "a different number of columns: ValueError"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_clipper_bad_params" points=0.125
### BEGIN HIDDEN TESTS
def probe():
    train = pd.DataFrame({"a": np.arange(11.0), "b": np.arange(11.0) * 100})
    try:
        QuantileClipper(lower=0.5, upper=0.5).fit(train)
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    names = observed.get("raised", []) if isinstance(observed, dict) else []
    assert "ValueError" in names, "lower >= upper must raise ValueError in fit"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_clipper_in_pipeline" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = pd.DataFrame({"a": np.arange(11.0), "b": np.arange(11.0) * 100})
    pipe = make_pipeline(QuantileClipper(0.1, 0.9), StandardScaler())
    return list(clone(pipe).fit(train).transform(train).shape)


def verify(observed):
    assert observed[1] == 2, "it must work inside a Pipeline"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Reflect
# Each tool makes a silent failure loud, or a hidden choice explicit: dtypes say what a
# column is, a schema says what a valid row is, and the estimator contract lets a step live
# inside one pipeline that is fitted on training rows only and saved as one object. Where
# in lesson 1's workflow would each have caught a problem?
