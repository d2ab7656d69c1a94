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
# # Lesson 1 — The traditional ML workflow and its problems
#
# We build a house-price model the way many first projects are built: data fetched by
# hand, preprocessing typed into notebook cells, hyper-parameters tuned by trial and
# error, a `.pkl` file on disk and a bare Flask app in front of it. It works — and then
# we **measure** how it breaks. Every later lesson fixes one of these breakages on the
# same task. Lecture notes: `lectures/01-ml-systems.md`.
#
# **After this lesson you can**
# 1. name the stages of an ML system, from data collection to serving;
# 2. build and serve a model the traditional way, end to end;
# 3. show, with numbers, how this workflow loses track of data, skews predictions between
#    training and serving, and overwrites models;
# 4. map each problem to the practice (and the lesson of this course) that fixes it.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: fewer rows and trees (CI); papermill sets it
SEED = 42

# %% [markdown]
# ## Setup
# The course package does the plumbing (paths, seeds, serving a WSGI app on 127.0.0.1);
# everything the traditional workflow itself does is written out in this notebook.

# %%
import hashlib
import json
import pickle
import shutil
import urllib.error
import urllib.request

import matplotlib.pyplot as plt
import pandas as pd
from flask import Flask, jsonify, request
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mlops_course import data
from mlops_course.course.local_server import wsgi_server
from mlops_course.course.results import record_metrics

SEED = config.set_seed(SEED)
N_ROWS = 4_000 if FAST else None  # fast mode trains on a sample
TREE_SCALE = 0.2 if FAST else 1.0  # and on fewer trees
WORK = config.work_dir("01_traditional_workflow")  # our "laptop folder": build/work/...
print(f"FAST={FAST}, working in {WORK}")

# %% [markdown]
# ## Stage 1 — Data collection, by hand
# The traditional way: someone downloads a CSV into their own folder, once.
#
# ```python
# urllib.request.urlretrieve(
#     "https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.csv",
#     "housing.csv")
# ```
#
# This course runs offline, so we copy the file from the course's data cache instead
# (`mlops-course data fetch` filled it). Either way, note what is *not* written down:
# where the file came from, when, and what was in it.

# %%
raw_path = WORK / "housing.csv"
shutil.copyfile(data.fetch_housing(), raw_path)
df_raw = pd.read_csv(raw_path)
print(f"{len(df_raw):,} districts, {df_raw.shape[1]} columns")
df_raw.head()

# %% [markdown]
# Each row is a census block group ("district") in California, 1990. The target,
# `median_house_value`, is in dollars. A quick look shows two traps: `total_bedrooms` has
# missing values, and the target is **capped at $500,001** (the spike on the right).

# %%
print(df_raw.isna().sum()[lambda s: s > 0].to_string())
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
df_raw["median_house_value"].plot.hist(bins=50, ax=axes[0], color="tab:blue")
axes[0].set(title="Median house value (capped at $500,001)", xlabel="dollars")
sc = axes[1].scatter(df_raw["longitude"], df_raw["latitude"], c=df_raw["median_house_value"],
                     s=2, cmap="viridis")
axes[1].set(title="Where the houses are", xlabel="longitude", ylabel="latitude")
fig.colorbar(sc, ax=axes[1], label="median house value ($)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Stage 2 — Preprocessing, typed into the notebook
# The usual cell: fill the missing bedrooms with the median, one-hot encode the ocean
# proximity, scale everything, then split. It lives in this notebook and nowhere else.
# (Spot the leak: the median and the scaler see the test rows too. Lesson 2 measures it.)

# %%
def prepare(raw):
    df = raw.sample(N_ROWS, random_state=SEED) if N_ROWS else raw.copy()
    df["total_bedrooms"] = df["total_bedrooms"].fillna(df["total_bedrooms"].median())
    df = pd.get_dummies(df, columns=["ocean_proximity"], dtype=float)
    X = df.drop(columns="median_house_value")
    y = df["median_house_value"]
    scaler = StandardScaler()
    X_scaled = scaler.fit_transform(X)  # the scaler is never saved anywhere
    X_train, X_test, y_train, y_test = train_test_split(
        X_scaled, y, test_size=0.2, random_state=SEED)
    return X_train, X_test, y_train, y_test, list(X.columns)


X_train, X_test, y_train, y_test, columns = prepare(df_raw)
print(f"train {X_train.shape}, test {X_test.shape}; columns: {columns}")

# %% [markdown]
# ## Stage 3 — Training and tuning by trial and error
# Try a few forests, look at the test RMSE, keep the best. The record of what was tried
# is this cell's output — until someone re-runs it.

# %%
trials = []
for n_estimators, max_depth in [(10, 6), (10, None), (50, 12), (50, None), (100, None)]:
    n_trees = max(2, round(n_estimators * TREE_SCALE))
    forest = RandomForestRegressor(n_estimators=n_trees, max_depth=max_depth,
                                   random_state=SEED, n_jobs=-1)
    forest.fit(X_train, y_train)
    rmse = root_mean_squared_error(y_test, forest.predict(X_test))
    trials.append({"n_estimators": n_trees, "max_depth": max_depth, "test_rmse_usd": rmse})
    print(f"n_estimators={n_trees:>3}, max_depth={max_depth!s:>4}: test RMSE = ${rmse:,.0f}")

tuning = pd.DataFrame(trials)
best = tuning.loc[tuning["test_rmse_usd"].idxmin()]
labels = [f"{t['n_estimators']} trees\ndepth {t['max_depth']}" for t in trials]
ax = tuning["test_rmse_usd"].plot.bar(figsize=(8, 3), color="tab:gray", rot=0)
ax.set_xticklabels(labels)
ax.set(ylabel="test RMSE ($)", title="Manual tuning, judged on the test set")
plt.show()

# %% [markdown]
# The "best" settings were chosen **on the test set**, so its RMSE is optimistic, and
# the only record of the search is the plot above. Train the final model with them:

# %%
model = RandomForestRegressor(n_estimators=int(best["n_estimators"]),
                              max_depth=None if pd.isna(best["max_depth"]) else int(best["max_depth"]),
                              random_state=SEED, n_jobs=-1)
model.fit(X_train, y_train)
test_rmse_usd = root_mean_squared_error(y_test, model.predict(X_test))
print(f"final model: test RMSE = ${test_rmse_usd:,.0f}")

# %% [markdown]
# ## Stage 4 — "Deployment": a pickle and a Flask app
# The model goes to `model.pkl` in the working folder. The file says nothing about the
# data, code or settings that made it.

# %%
MODEL_PATH = WORK / "model.pkl"
with open(MODEL_PATH, "wb") as handle:
    pickle.dump(model, handle)


def file_sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


model_sha_v1 = file_sha256(MODEL_PATH)
print(f"{MODEL_PATH.name}: {MODEL_PATH.stat().st_size / 1e6:.1f} MB, sha256 {model_sha_v1[:12]}…")

# %% [markdown]
# A colleague writes the web app. They have the pickle and the list of columns from a
# chat message; the scaler was never saved, so the app does without it, and a missing
# bedroom count "can just be zero".

# %%
app = Flask("house-price-app")
with open(MODEL_PATH, "rb") as handle:
    served_model = pickle.load(handle)
COLUMNS = columns  # pasted from the notebook


@app.post("/predict")
def predict():
    payload = request.get_json()
    row = pd.DataFrame([payload])
    row["total_bedrooms"] = row["total_bedrooms"].fillna(0)
    row = pd.get_dummies(row, columns=["ocean_proximity"], dtype=float)
    row = row.reindex(columns=COLUMNS, fill_value=0.0)
    price = served_model.predict(row.to_numpy())[0]
    return jsonify(median_house_value=float(price))


# %% [markdown]
# Start the app on a real server on 127.0.0.1 and ask it about one district:

# %%
def post_json(url, payload):
    """POST JSON; return (status code, decoded body) — also for error responses."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


test_rows = df_raw.loc[y_test.index].drop(columns="median_house_value")
first = test_rows.iloc[0].to_dict()
with wsgi_server(app) as url:
    status, body = post_json(url + "/predict", first)
print(f"POST /predict -> {status} {body.strip()}")
print(f"true value: ${y_test.iloc[0]:,.0f}")

# %% [markdown]
# ## The problems, measured
# ### 1. Train/serve skew
# The app re-implements preprocessing from memory. Send it the test districts and compare
# with what the notebook's model predicts for the very same rows.

# %%
n_requests = 50 if FAST else 200
payloads = [
    {k: (None if pd.isna(v) else v) for k, v in row.items()}
    for row in test_rows.iloc[:n_requests].to_dict(orient="records")
]
with wsgi_server(app) as url:
    app_predictions = [json.loads(post_json(url + "/predict", p)[1])["median_house_value"]
                       for p in payloads]
notebook_predictions = model.predict(X_test[:n_requests])
y_sample = y_test.iloc[:n_requests]
app_rmse_usd = root_mean_squared_error(y_sample, app_predictions)
notebook_rmse_usd = root_mean_squared_error(y_sample, notebook_predictions)
skew_mean_abs_usd = float(abs(pd.Series(app_predictions) - notebook_predictions).mean())
print(f"same {n_requests} districts: notebook RMSE = ${notebook_rmse_usd:,.0f}, "
      f"app RMSE = ${app_rmse_usd:,.0f}")
print(f"mean |app - notebook| prediction = ${skew_mean_abs_usd:,.0f}")

# %%
fig, ax = plt.subplots(figsize=(5, 5))
ax.scatter(notebook_predictions, app_predictions, s=10, alpha=0.6)
ax.axline((0, 0), slope=1, color="black", lw=1, label="no skew")
ax.set(xlabel="notebook prediction ($)", ylabel="app prediction ($)",
       title="Same houses, two predictions")
ax.legend()
plt.show()

# %% [markdown]
# Every point should sit on the diagonal. The app feeds unscaled features to a model
# trained on scaled ones, so it answers high, almost flat prices whatever the house.
# Nothing crashed and nothing warned: **skew is silent**. (Lesson 2 puts preprocessing and
# model into one pipeline object that training and serving share.)
#
# ### 2. A malformed request
# A client sends a typo'd field. What does the app answer?

# %%
app.logger.disabled = True  # keep the traceback out of this notebook (it goes to a log)
with wsgi_server(app) as url:
    bad_status, bad_body = post_json(url + "/predict", {"median_income": "high"})
print(f"-> HTTP {bad_status}, {len(bad_body)} characters of HTML:")
print(bad_body[:120].strip(), "…")

# %% [markdown]
# An HTTP 500 with an HTML page: the client learns nothing about what was wrong, and there
# is no test, no schema and no monitoring that would catch it (lessons 8, 9 and 10).
#
# ### 3. The data changes under the same name
# A month later the file at the same address is a new release (we simulate it: some
# districts dropped, incomes revised, inland prices re-based). Re-running the same cells
# gives a different model — and nothing records which data made which number.

# %%
df_raw.pipe(data.make_data_update, seed=SEED).to_csv(raw_path, index=False)  # same file name
df_raw_v2 = pd.read_csv(raw_path)
X_train2, X_test2, y_train2, y_test2, _ = prepare(df_raw_v2)
model_v2 = RandomForestRegressor(**model.get_params()).fit(X_train2, y_train2)
rmse_v2_usd = root_mean_squared_error(y_test2, model_v2.predict(X_test2))
print(f"rows: {len(df_raw):,} -> {len(df_raw_v2):,}")
print(f"same code, same settings: test RMSE ${test_rmse_usd:,.0f} -> ${rmse_v2_usd:,.0f}")

# %% [markdown]
# ### 4. The new model overwrites the old one
# Saving the retrained model to the same path replaces the file that the app was
# serving. Which model produced last week's predictions? It is gone.

# %%
with open(MODEL_PATH, "wb") as handle:
    pickle.dump(model_v2, handle)
model_sha_v2 = file_sha256(MODEL_PATH)
with open(MODEL_PATH, "rb") as handle:
    reloaded = pickle.load(handle)
pickles = sorted(p.name for p in WORK.glob("*.pkl"))
print(f"model files on disk: {pickles}; sha256 {model_sha_v1[:12]}… -> {model_sha_v2[:12]}…")
print(f"the file now holds the new model: {(reloaded.predict(X_test2) == model_v2.predict(X_test2)).all()}")
print("last week's model survives only in this kernel's memory; restart it and it is gone")

# %% [markdown]
# ## Checks
# The claims of this lesson, asserted; the key numbers go to the course summary.

# %%
rmse_limit_usd = 70_000 if FAST else 55_000
assert test_rmse_usd < rmse_limit_usd, f"forest RMSE ${test_rmse_usd:,.0f} >= ${rmse_limit_usd:,}"
assert app_rmse_usd > 1.5 * notebook_rmse_usd, "the app's skew should at least add 50% error"
assert skew_mean_abs_usd > 10_000, "app and notebook should disagree by > $10k on average"
assert bad_status == 500, "a malformed request should crash the bare app"
assert abs(rmse_v2_usd - test_rmse_usd) > 100, "new data should change the RMSE"
assert model_sha_v1 != model_sha_v2 and pickles == ["model.pkl"], "the old model is gone"
record_metrics(
    test_rmse_usd=round(test_rmse_usd),
    best_n_estimators=int(best["n_estimators"]),
    app_rmse_usd=round(app_rmse_usd),
    skew_mean_abs_usd=round(skew_mean_abs_usd),
    rmse_after_data_update_usd=round(rmse_v2_usd),
    bad_request_status=bad_status,
)

# %% [markdown]
# ## Recap and next
# The model works, and the workflow around it does not. The problem table — the map of
# this course:
#
# | stage | problem (measured above) | consequence | fixed in |
# | --- | --- | --- | --- |
# | data collection | no data versioning; the file changed under the same name | results can't be reproduced or explained | Lesson 4 (Git + DVC) |
# | preprocessing | typed into cells, leaky, re-implemented by the app | train/serve skew: silent wrong prices | Lesson 2 (pipelines, validation) |
# | training | tuned by hand on the test set, results only in cell outputs | optimistic metrics, lost experiments | Lesson 5 (MLflow) |
# | model management | one `model.pkl`, overwritten | no rollback, no lineage | Lessons 4, 5 |
# | environment | "works on my laptop" | breaks elsewhere | Lesson 3 (environments, containers) |
# | deployment | bare Flask app, HTML 500 on bad input | fragile serving | Lesson 8 (FastAPI, serving) |
# | operations | no tests, no CI/CD, no monitoring | bugs and drift found by users | Lessons 9, 10 |
# | collaboration | files in one person's folder | nobody else can rerun it | Lessons 3–5, 10 |
#
# Speed and size (lessons 6 and 7) come once the model is under control.
#
# **Exercise:** `exercises/01_traditional_workflow.ipynb` — write the small tools that start
# fixing these rows: an RMSE in dollars, a data fingerprint, and request preprocessing
# that matches training.
