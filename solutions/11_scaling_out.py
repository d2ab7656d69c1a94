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
# # Exercise 11 — Tasks, speedups and partitions
#
# Lesson 11 split a search into independent (setting, fold) tasks, measured a speedup per
# number of workers, and scored a data set partition by partition. Write the three small
# pieces that make that work — no cluster needed: the same functions run on one process
# or on a thousand. Each part has public tests you can run here; graders also run hidden
# tests.

# %%
import numpy as np
import pandas as pd

from mlops_course.course.observe import raised

# %% [markdown]
# ## Part 1 — Collect the tasks of a search (3 points)
# A cluster returns the scores of a search as a dict `{(setting, fold): rmse}`, in any
# order. Write `best_setting(task_scores)`: the setting with the lowest mean RMSE over its
# folds, as a tuple `(setting, mean_rmse)` with the mean as a Python `float`; on a tie,
# the smaller setting number. Raise `ValueError` if the settings do not all have the same
# number of folds (a task was lost), or if there are no scores.

# %% tags=["solution"] grade_id="best_setting"
def best_setting(task_scores) -> tuple:
    """(setting, mean RMSE) of the best setting."""
    ### BEGIN SOLUTION
    by_setting = {}
    for (setting, _fold), rmse in task_scores.items():
        by_setting.setdefault(setting, []).append(float(rmse))
    if not by_setting:
        raise ValueError("no scores")
    if len({len(v) for v in by_setting.values()}) != 1:
        raise ValueError("settings have different numbers of folds: a task was lost")
    means = sorted((float(np.mean(v)), setting) for setting, v in by_setting.items())
    return means[0][1], means[0][0]
    ### END SOLUTION


# %% tags=["test"] grade_id="test_best_setting" points=2
def probe():
    scores = {(2, 0): 50_000.0, (0, 1): 48_000.0, (1, 0): 47_000.0, (0, 0): 46_000.0,
              (1, 1): 49_000.0, (2, 1): 40_000.0}
    best = best_setting(scores)
    return {"best": best, "type": type(best[1]).__name__}


def verify(observed):
    assert observed["type"] == "float", f"the mean is a Python float, got {observed['type']}"
    assert tuple(observed["best"]) == (2, 45_000.0), (
        f"setting 2 has the lowest mean (45,000), whatever the task order; got {observed['best']}")


verify(probe())

# %% tags=["test"] grade_id="hidden_best_setting_edges" points=1
### BEGIN HIDDEN TESTS
def probe():
    out = {"tie": best_setting({(3, 0): 1.0, (1, 0): 1.0, (2, 0): 2.0})}
    for name, scores in {"lost": {(0, 0): 1.0, (0, 1): 1.0, (1, 0): 1.0}, "empty": {}}.items():
        try:
            best_setting(scores)
            out[name] = "no error"
        except Exception as exc:
            out[name] = raised(exc)
    return out


def verify(observed):
    assert tuple(observed["tie"]) == (1, 1.0), "on a tie, the smaller setting number"
    assert observed["lost"] != "no error" and "ValueError" in observed["lost"]["raised"], (
        "a setting with fewer folds means a lost task: raise ValueError")
    assert observed["empty"] != "no error" and "ValueError" in observed["empty"]["raised"], (
        "no scores: raise ValueError")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — Where does the curve bend? (3 points)
# `seconds` maps a number of workers to the measured time of the same job (`{1: 30.0,
# 2: 16.0, 3: 15.5}`); `baseline_s` is the time on one plain process. Write
# `speedups(seconds, baseline_s)`: a dict with the same keys and `baseline_s / seconds`,
# and `bend(seconds, baseline_s, gain=0.1)`: the smallest number of workers after which
# one more step (the next larger key) raises the speedup by less than `gain` (10 %); the
# largest key if every step gains enough.

# %% tags=["solution"] grade_id="bend"
def speedups(seconds, baseline_s) -> dict:
    """Speedup over the baseline, per number of workers."""
    ### BEGIN SOLUTION
    return {n: baseline_s / s for n, s in seconds.items()}
    ### END SOLUTION


def bend(seconds, baseline_s, gain=0.1) -> int:
    """The number of workers where adding more stops paying."""
    ### BEGIN SOLUTION
    sp = speedups(seconds, baseline_s)
    workers = sorted(sp)
    for here, there in zip(workers, workers[1:], strict=False):
        if sp[there] < sp[here] * (1 + gain):
            return here
    return workers[-1]
    ### END SOLUTION


# %% tags=["test"] grade_id="test_bend" points=2
def probe():
    seconds = {1: 30.0, 2: 16.0, 3: 15.5, 4: 17.0}
    return {"speedups": speedups(seconds, 28.0), "bend": bend(seconds, 28.0)}


def verify(observed):
    import math

    expected = {1: 28 / 30, 2: 28 / 16, 3: 28 / 15.5, 4: 28 / 17}
    got = {int(k): v for k, v in observed["speedups"].items()}
    assert set(got) == set(expected) and all(
        math.isclose(got[k], expected[k]) for k in expected), (
        f"speedup = baseline_s / seconds per worker count; got {got}")
    assert observed["bend"] == 2, (
        f"from 2 to 3 workers the speedup grows by 3 % only: the curve bends at 2, "
        f"got {observed['bend']}")


verify(probe())

# %% tags=["test"] grade_id="hidden_bend_edges" points=1
### BEGIN HIDDEN TESTS
def probe():
    return {"linear": bend({4: 2.5, 1: 10.0, 2: 5.0}, 10.0),
            "strict": bend({1: 10.0, 2: 6.0}, 10.0, gain=0.7),
            "one": bend({8: 3.0}, 10.0)}


def verify(observed):
    assert observed["linear"] == 4, "every step gains: the largest worker count (keys sorted)"
    assert observed["strict"] == 1, "use `gain`: 1.67x is less than 1.7x the speedup of 1"
    assert observed["one"] == 8, "one measurement: that worker count"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — Score in partitions (2 points)
# Write `score_in_partitions(frame, score, rows)`: cut `frame` into consecutive pieces of
# at most `rows` rows, call `score(piece)` on each (it returns a pandas Series with the
# piece's index), and return one Series equal to `score(frame)`: same values, same index,
# same order. An empty frame gives `score(frame)` of the empty frame. Raise `ValueError`
# if `rows` is less than 1.

# %% tags=["solution"] grade_id="score_in_partitions"
def score_in_partitions(frame, score, rows):
    """``score(frame)``, computed piece by piece."""
    ### BEGIN SOLUTION
    if rows < 1:
        raise ValueError("rows must be at least 1")
    if len(frame) == 0:
        return score(frame)
    return pd.concat([score(frame.iloc[i:i + rows]) for i in range(0, len(frame), rows)])
    ### END SOLUTION


# %% tags=["test"] grade_id="test_score_in_partitions" points=1
def probe():
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"median_income": rng.gamma(4.0, 1.0, 1_003)},
                         index=rng.permutation(5_000)[:1_003])

    def score(piece):
        return 40_000.0 * piece["median_income"] + 20_000.0

    whole = score(frame)
    parts = score_in_partitions(frame, score, 100)
    return {"values": parts.to_numpy().tolist(), "index": parts.index.tolist(),
            "whole_values": whole.to_numpy().tolist(), "whole_index": whole.index.tolist()}


def verify(observed):
    assert observed["index"] == observed["whole_index"], "same index, same order as score(frame)"
    assert observed["values"] == observed["whole_values"], "same values as score(frame)"


verify(probe())

# %% tags=["test"] grade_id="hidden_score_in_partitions_edges" points=1
### BEGIN HIDDEN TESTS
def probe():
    calls = []

    def score(piece):
        calls.append(len(piece))
        return piece["x"] * 2.0

    frame = pd.DataFrame({"x": np.arange(10.0)})
    out = {"values": score_in_partitions(frame, score, 4).tolist(), "calls": list(calls),
           "empty": len(score_in_partitions(frame.iloc[:0], score, 4))}
    try:
        score_in_partitions(frame, score, 0)
        out["zero"] = "no error"
    except Exception as exc:
        out["zero"] = raised(exc)
    return out


def verify(observed):
    assert observed["values"] == [2.0 * i for i in range(10)], "every row scored, in order"
    assert observed["calls"] == [4, 4, 2], "pieces of at most `rows` rows, consecutive"
    assert observed["empty"] == 0, "an empty frame scores to an empty Series"
    assert observed["zero"] != "no error" and "ValueError" in observed["zero"]["raised"], (
        "rows < 1: raise ValueError")


verify(probe())
### END HIDDEN TESTS
