# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # Lesson 10 — Testing and debugging ML systems, and CI/CD for ML
#
# Lesson 1's workflow had *no tests, no CI/CD* and *nobody else could rerun it*. The
# lessons since then built the pieces of a system; this one checks them, every time
# anything changes. We run the project's own test suite for the code, the data and the
# model's behaviour, reproduce five classic failures with the check that catches each,
# score the whole system with the ML Test Score (Breck et al., 2017) — by a command that
# runs real checks — and read the CI/CD workflows that run all of it. Lecture notes:
# `lectures/10-testing-cicd.md`.
#
# **After this lesson you can**
# 1. write tests for ML code, data and model behaviour (invariance, direction, slices,
#    a quality gate) and run them with pytest;
# 2. diagnose five common failures — a network that cannot learn, a leak, a unit error,
#    shuffled labels, a skewed serving path — each with the check that catches it;
# 3. audit a system with the ML Test Score and say which points are automated;
# 4. read and run a CI/CD pipeline for ML: lint, tests, lessons, a scheduled job against
#    new dependencies, and continuous training with a gate;
# 5. place a project on Google's MLOps maturity levels 0, 1 and 2.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: a sample of the districts for the model checks
SEED = 42

# %% [markdown]
# ## Setup

# %%
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mlops_course import audit, data, pipeline
from mlops_course.checks import (
    FEATURES,
    baseline_rmse_usd,
    directional_drops,
    fit_reference_model,
    invariance_gap_usd,
    overfit_tiny_batch,
    prediction_parity_usd,
    quality_gate,
    rmse_usd,
    slice_rmse,
    split_overlap,
    target_correlations,
)
from mlops_course.course.results import record_metrics
from mlops_course.data import TARGET
from mlops_course.torch_model import build_mlp, to_tensor
from mlops_course.validation import split_valid_rows

SEED = config.set_seed(SEED)
torch.set_num_threads(1)
WORK = config.work_dir("10_testing_cicd")
ROOT = config.project_root()
N_ROWS = 6_000 if FAST else None  # districts the model checks use (None: all 20,640)
df = data.load_housing()
ref = fit_reference_model(N_ROWS, seed=SEED)
model, X_test, y_test = ref["model"], ref["X_test"], ref["y_test"]
print(f"FAST={FAST}; model trained on {len(ref['train']):,} districts, "
      f"test RMSE = ${ref['rmse_usd']:,.0f} on {len(X_test):,}")

# %% [markdown]
# ## The problem, shown
# Lesson 1 checked its model by looking at one number in one cell. Nothing stopped a
# change to the feature code, a new data file or a retrained model from breaking the
# system silently. The fix is the same as for any software — tests that run on every
# change — but an ML system has three things to test: **code**, **data** and **model**.
# The project keeps them in `tests/model/`; here is the suite, run by pytest:

# %%
junit = WORK / "model-tests.xml"
proc = subprocess.run(
    [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
     f"--junitxml={junit}", "tests/model"],
    cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    env={**os.environ, "OMP_NUM_THREADS": "1"})
cases = [(c.get("classname").rsplit(".", 1)[-1], c.get("name"),
          "failed" if c.find("failure") is not None or c.find("error") is not None else "passed")
         for c in ET.parse(junit).getroot().iter("testcase")]
suite = pd.DataFrame(cases, columns=["file", "test", "result"])
print(f"pytest exit status {proc.returncode}: {len(suite)} tests, "
      f"{(suite['result'] == 'passed').sum()} passed")
print(suite.groupby("file")["result"].value_counts().unstack(fill_value=0).to_string())

# %% [markdown]
# Three files, three kinds of test:
#
# * `test_feature_code.py` — **code**: the ratio features on two districts worked out by
#   hand, zero denominators becoming missing (not infinite), one-hot columns summing to
#   one, an unknown category raising an error instead of becoming a silent row of zeros;
# * `test_data_contract.py` — **data**: the real file meets its declared schema
#   (lesson 2), ranges hold, train and test share no district, no feature is a disguised
#   target;
# * `test_model_behaviour.py` — **model**: behavioural tests (Ribeiro et al., 2020) that
#   look at what the model *does*, not only at one score.
#
# The same checks, run here so that we can look at their numbers.
#
# ## Data tests: the splits

# %%
overlap = split_overlap(ref["train"], ref["test"])
correlations = target_correlations(df)
print(f"train/test overlap: {overlap}")
print("largest |correlation| with the target:\n" + correlations.head(3).round(3).to_string())

# %% [markdown]
# ## Model tests
# **Minimum functionality** — the model answers plausible prices; **invariance** — the
# order of the rows in a batch, or an unknown extra column in a request, must not change a
# price; **directional expectation** — a district with a higher median income (all else
# equal) must not be predicted cheaper.

# %%
gaps = invariance_gap_usd(model.predict, X_test, seed=SEED)
drops = directional_drops(model.predict, X_test, column="median_income", delta=1.0)
print(f"invariance: largest change ${max(gaps.values()):.2g} (row order, extra column)")
print(f"median income +$10,000: median change ${drops['median_change_usd']:+,.0f}; "
      f"{drops['share_dropped']:.1%} of districts drop by more than $1,000 "
      f"(largest drop ${drops['largest_drop_usd']:,.0f})")

# %% [markdown]
# A gradient-boosted model is not monotone by construction: a few districts fall across
# a tree's split the wrong way. The test therefore bounds the *share* of drops (under
# 10%) and demands a clearly positive median change; a model that ignores income, or
# reverses it, fails both (the exercise plants exactly such models).
#
# **Quality gate** — a model must beat the simplest baseline (predict the training mean)
# by a wide margin before it may ship. **Slices** — the average hides groups: the error
# by `ocean_proximity`, worst first.

# %%
baseline = baseline_rmse_usd(ref["train"][TARGET], y_test)
gate = quality_gate(ref["rmse_usd"], baseline, min_improvement=0.3)
slices = slice_rmse(model.predict, X_test, y_test, by="ocean_proximity", min_rows=30)
worst = slices.iloc[0]
print(f"model ${ref['rmse_usd']:,.0f} vs mean baseline ${baseline:,.0f}: "
      f"{1 - ref['rmse_usd'] / baseline:.0%} lower; gate (>= 30% lower) passes: {gate}")
print(slices.round({"rmse_usd": 0, "vs_overall": 2}).to_string(index=False))
fig, ax = plt.subplots(figsize=(7, 3.2))
bars = ax.barh(slices["ocean_proximity"], slices["rmse_usd"], color="tab:blue")
ax.bar_label(bars, labels=[f"${v:,.0f}" for v in slices["rmse_usd"]], padding=3)
ax.axvline(ref["rmse_usd"], color="black", ls="--", label=f"overall ${ref['rmse_usd']:,.0f}")
ax.set(xlabel="test RMSE ($)", ylabel="ocean_proximity",
       title=f"Error by slice: worst is {worst['ocean_proximity']} "
             f"({worst['vs_overall']:.2f}x overall)", xlim=(0, slices["rmse_usd"].max() * 1.3))
ax.invert_yaxis()
ax.legend(loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# The test allows no slice above 1.5× the overall error (slices under 30 test districts,
# such as `ISLAND`, are too small to judge). The worst slice is named in the plot title
# and in the test's failure message, so a failing run says *where* to look.
#
# ## Debugging: five failures and the check that catches each
# A failing ML system rarely crashes; it quietly answers worse. Each failure below is
# planted on purpose, and each has a check that would have caught it before a user did.
#
# ### 1. A network that cannot overfit a tiny batch
# First check of any training loop: on 32 districts a network with 64×64 hidden units
# can memorise the prices, so its training loss must fall to almost zero. If it cannot,
# the bug is in the loop, not in the data. The classic bug here: the optimizer was built
# for *another* copy of the network (rebuilt after the optimizer), so nothing it steps
# is ever used.

# %%
pre = ref["model"].named_steps["preprocessor"]
tiny = ref["train"].head(32)
X_tiny = to_tensor(pre.transform(tiny[FEATURES]))
y_tiny = tiny[TARGET].to_numpy()
healthy = overfit_tiny_batch(build_mlp(X_tiny.shape[1], 64, seed=SEED), X_tiny, y_tiny,
                             steps=300, lr=1e-2)
stale = build_mlp(X_tiny.shape[1], 64, seed=SEED)
broken = overfit_tiny_batch(build_mlp(X_tiny.shape[1], 64, seed=SEED), X_tiny, y_tiny,
                            steps=300, lr=1e-2, parameters=list(stale.parameters()))
print(f"healthy loop: loss {healthy['loss_first']:.3f} -> {healthy['loss_last']:.1e} "
      f"($100k units²), {healthy['ratio']:.1e} of the start")
print(f"wrong parameters: loss {broken['loss_first']:.3f} -> {broken['loss_last']:.3f}, "
      f"{broken['ratio']:.0%} of the start")

# %% [markdown]
# ### 2. A leaking feature
# Someone adds `appraised_value`, an appraisal that was made *after* the sale: it is the
# price plus a little noise. The model gets spectacularly good — a warning, not a win.
# The data check `target_correlations` flags any feature that predicts the target almost
# perfectly (the best honest feature, median income, is printed above).

# %%
rng = np.random.default_rng(SEED)
leaky = df.assign(appraised_value=df[TARGET] * rng.normal(1.0, 0.05, len(df)))
leak_corr = target_correlations(leaky)
leak_train, leak_test = data.split_train_test(leaky.sample(len(ref["train"]) + len(X_test),
                                                           random_state=rng) if FAST else leaky)
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402

cols = [*data.NUMERIC_FEATURES, "appraised_value"]
leak_model = HistGradientBoostingRegressor(random_state=SEED).fit(leak_train[cols],
                                                                   leak_train[TARGET])
leak_rmse = rmse_usd(leak_test[TARGET], leak_model.predict(leak_test[cols]))
print(f"with the leak: test RMSE ${leak_rmse:,.0f} (honest model ${ref['rmse_usd']:,.0f})")
print(f"check: |r| of {leak_corr.index[0]} with the target = {leak_corr.iloc[0]:.3f} > 0.9 "
      f"-> flagged")

# %% [markdown]
# ### 3. A silent unit error
# A new client sends `median_income` in dollars instead of tens of thousands of dollars.
# Nothing crashes: the model predicts, and every price jumps. The schema of lesson 2
# (the range of `median_income`) rejects every such row, with the reason.

# %%
batch = X_test.head(200)
in_dollars = batch.assign(median_income=batch["median_income"] * 10_000)
shift = model.predict(in_dollars) - model.predict(batch)
valid, rejected = split_valid_rows(in_dollars, target=False)
print(f"predictions moved by ${np.median(shift):+,.0f} (median) without any error")
print(f"schema check: {len(rejected)} of {len(batch)} rows rejected; first reason: "
      f"{rejected['problems'].iloc[0]}")

# %% [markdown]
# ### 4. A shuffled label column
# A join went wrong and the prices no longer belong to their districts. Training runs,
# the loss goes down (trees memorise noise), a number comes out. The quality gate against
# the mean baseline catches it: a model of shuffled labels is no better than the mean.

# %%
shuffled = ref["train"].assign(**{TARGET: rng.permutation(ref["train"][TARGET].to_numpy())})
shuffled_model = pipeline.build_model(seed=SEED).fit(shuffled[FEATURES], shuffled[TARGET])
shuffled_rmse = rmse_usd(y_test, shuffled_model.predict(X_test))
shuffled_gate = quality_gate(shuffled_rmse, baseline, min_improvement=0.3)
print(f"shuffled labels: test RMSE ${shuffled_rmse:,.0f} vs baseline ${baseline:,.0f} "
      f"-> gate passes: {shuffled_gate}")

# %% [markdown]
# ### 5. A skewed serving path
# The service builds its DataFrame from a JSON array in a column order typed by hand —
# with latitude and longitude swapped. Every request answers, with a wrong price. The
# parity check compares the serving path with the pipeline on the same rows: any gap over
# $1 fails (lesson 8 runs this check against the ONNX bundle).

# %%
def serving_path(rows: pd.DataFrame) -> np.ndarray:
    order = ["latitude", "longitude", *FEATURES[2:]]  # typed by hand: two columns swapped
    received = pd.DataFrame(rows[FEATURES].to_numpy(), columns=order)
    received[data.NUMERIC_FEATURES] = received[data.NUMERIC_FEATURES].astype(float)
    return model.predict(received[FEATURES])


skew_usd = prediction_parity_usd(model.predict, serving_path, batch)
print(f"largest gap pipeline vs serving path: ${skew_usd:,.0f} (limit $1)")

# %%
catalogue = pd.DataFrame([
    ("cannot overfit a tiny batch", "overfit_tiny_batch: loss ratio < 1%",
     f"{broken['ratio']:.0%} of start", broken["ratio"] >= 0.01),
    ("leaking feature", "target_correlations: |r| < 0.9",
     f"|r| = {leak_corr.iloc[0]:.3f}", leak_corr.iloc[0] >= 0.9),
    ("silent unit error", "schema: median_income range",
     f"{len(rejected)}/{len(batch)} rejected", len(rejected) == len(batch)),
    ("shuffled label column", "quality gate: 30% below baseline",
     f"${shuffled_rmse:,.0f} vs ${baseline:,.0f}", not shuffled_gate),
    ("skewed serving path", "parity: gap <= $1", f"${skew_usd:,.0f}", skew_usd > 1),
], columns=["failure", "check", "measured", "caught"])
print(catalogue.to_string(index=False))

# %% [markdown]
# ## The ML Test Score of this course's system
# Breck et al. list 28 tests in four sections. A test done by hand (and documented) earns
# half a point, an automated one a full point; the score is the *lowest* section, because
# a system is as ready as its weakest part. `mlops-course audit` scores the course's own
# system: automated items run a real check now (a failing one makes the command exit with
# status 1, so a stub cannot fake the score), manual items earn their half point only if
# the lesson that does the test is on disk and still does it, and items the course does
# not address score 0 and say so.

# %%
report = audit.run_audit(rows=3_000 if FAST else 6_000)
print(report.format())
scores = report.section_scores()
kinds = pd.Series([o.status for o in report.outcomes]).value_counts()

# %% [markdown]
# Reading the rubric: every point names the check that earned it. The 0-point lines are
# the honest to-do list — feature cost, privacy controls, numerical stability in serving
# — and the manual half points show where automation would add the most.
#
# ## CI/CD for ML
# The checks above matter only if they run on every change. The project's workflows in
# `.github/workflows/` are GitHub Actions; each runs commands the README documents, so
# they can be run by hand too.

# %%
workflows = audit.load_workflows()
for name, workflow in workflows.items():
    on = workflow.get("on", workflow.get(True))
    print(f"{name}  (on: {', '.join(on)})")
    for command in audit.workflow_commands(workflow):
        print(f"    $ {command}")

# %% [markdown]
# * `ci.yml` — every push: install from `constraints.txt` into a `.venv` cached by the
#   lock file's hash, lint, the lessons in fast mode, the whole test suite; the executed
#   notebooks are uploaded as artifacts.
# * `nightly.yml` — weekly: `make lock` re-resolves every dependency to its newest version,
#   then the same checks, so a breaking release is seen before students install it.
# * `continuous-training.yml` — when the data's record or the parameters change: new data
#   → retrain (`make repro`) → gate (`mlops-course audit`) → keep the model.
# * `.pre-commit-config.yaml` — before each commit: ruff, the Jupytext pairing of the
#   lessons, exercises without outputs.
#
# ### Continuous training, locally
# The same loop in a few lines: a new release of the data arrives (lesson 4's update:
# revised incomes, inland prices re-based), the pipeline retrains on the same districts'
# new values, the gate compares the candidate with the current champion **on the same new
# test rows, which neither has seen** (the split check from above, again), and only a
# candidate at least as good is registered.

# %%
new_data = data.make_data_update(df, seed=SEED)
max_rows = 6_000 if FAST else None
new_train, new_test = pipeline.prepare(new_data, max_rows=max_rows, seed=SEED)
champion = pipeline.train(df.loc[new_train.index], log=False)  # same districts, old values
ct_overlap = split_overlap(new_train, new_test)["shared_index"]
candidate = pipeline.train(new_train, log=False)
champion_rmse = pipeline.evaluate(champion, new_test, log=False)["test_rmse_usd"]
candidate_rmse = pipeline.evaluate(candidate, new_test, log=False)["test_rmse_usd"]
promoted = quality_gate(candidate_rmse, champion_rmse, min_improvement=0.0)
registry = WORK / "registry"
if promoted:
    import joblib

    registry.mkdir()
    joblib.dump(candidate, registry / "model.joblib")
print(f"train/test districts shared: {ct_overlap}")
print(f"champion on the new test rows ${champion_rmse:,.0f}; retrained candidate "
      f"${candidate_rmse:,.0f} -> {'registered' if promoted else 'rejected'}")

# %% [markdown]
# ## MLOps maturity
# Google's levels: **0** — manual, notebook-driven, one deployment (lesson 1);
# **1** — an automated training pipeline with data and model validation, continuous
# training (lessons 2, 4, 5, 9 and the continuous-training workflow above); **2** — CI/CD
# of the pipeline itself: every change tested, built and deployed automatically
# (`ci.yml`, lesson 8's service with canaries). The lecture maps every lesson onto them.
#
# ## Checks

# %%
assert proc.returncode == 0 and (suite["result"] == "passed").all(), proc.stdout[-2000:]
assert len(suite) >= 14 and suite["file"].nunique() == 3
assert overlap["shared_index"] == 0 and overlap["shared_feature_rows"] == 0
assert correlations.index[0] == "median_income" and correlations.iloc[0] < 0.9
assert max(gaps.values()) < 0.01, "predictions are invariant to row order and extra columns"
assert drops["median_change_usd"] > 0 and drops["share_dropped"] < 0.10
assert gate and ref["rmse_usd"] < 0.7 * baseline
assert worst["vs_overall"] < 1.5 and worst["rmse_usd"] == slices["rmse_usd"].max()
assert healthy["ratio"] < 0.01 <= broken["ratio"], "only the healthy loop memorises 32 rows"
assert leak_rmse < 0.5 * ref["rmse_usd"], "the leak makes the model 'spectacularly good'"
assert leak_corr.index[0] == "appraised_value" and leak_corr.iloc[0] > 0.9
assert abs(np.median(shift)) > 10_000 and len(rejected) == len(batch)
assert not shuffled_gate and shuffled_rmse > 0.95 * baseline
assert skew_usd > 1
assert catalogue["caught"].all()
assert len(report.outcomes) == 28 and set(scores) == set(audit.SECTIONS)
assert not report.failed and report.score == min(scores.values())
assert kinds.get("pass", 0) >= 14 and kinds.get("manual", 0) >= 10
assert set(workflows) >= {"ci.yml", "nightly.yml", "continuous-training.yml"}
assert ct_overlap == 0 and promoted == (candidate_rmse <= champion_rmse)
record_metrics(
    model_tests=len(suite),
    model_tests_passed=int((suite["result"] == "passed").sum()),
    test_rmse_usd=round(ref["rmse_usd"]),
    baseline_rmse_usd=round(baseline),
    income_share_dropped=round(drops["share_dropped"], 4),
    worst_slice=str(worst["ocean_proximity"]),
    failures_caught=int(catalogue["caught"].sum()),
    ml_test_score=report.score,
    score_data=scores["data"],
    score_model=scores["model"],
    score_infrastructure=scores["infrastructure"],
    score_monitoring=scores["monitoring"],
    audit_automated=int(kinds.get("pass", 0)),
    audit_manual=int(kinds.get("manual", 0)),
    retrained_promoted=bool(promoted),
)

# %% [markdown]
# ## Recap and next
# Lesson 1's rows *no tests, no CI/CD* and *nobody else can rerun it* are fixed: the
# code, the data and the model's behaviour are tested in the project's suite; five
# silent failures each have a check that catches them; the ML Test Score is computed by a
# command, not filled in by hand; and the workflows run everything on every change, on a
# schedule against new dependencies, and when new data arrives.
#
# **Exercise:** `exercises/10_testing_cicd.ipynb` — write behavioural tests that catch the
# bugs planted in hidden models.
