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
# # Lesson 11 — Scaling out: tuning and batch scoring on a Dask cluster
#
# Lesson 1 named *scaling issues* among the reasons for MLOps: a workflow that runs on one
# laptop fails when the data or the number of experiments grows. Two jobs of this course
# outgrow one machine first: **tuning** (lesson 5: many trials, each independent) and
# **batch scoring** (lesson 8: more rows than one process should hold). This lesson runs
# both on a Dask cluster — first a cluster of processes on this machine, then a scheduler
# and workers started as separate programs, as on real machines — and measures honestly
# what that buys on two cores. Lecture notes: `lectures/11-scaling-out.md`.
#
# **After this lesson you can**
# 1. start a Dask cluster on 127.0.0.1 (scheduler, workers, memory limits, scratch folder)
#    and stop every process it started;
# 2. split a hyper-parameter search into independent tasks and run it on a cluster, with
#    the same result as on one process;
# 3. score a partitioned Parquet data set with `dask.dataframe`, partition by partition,
#    with the same predictions as lesson 8's single-process scorer;
# 4. read a speedup-vs-workers table and a task stream, and say where scaling stops and why;
# 5. move the same code from a laptop to a cluster by changing one address.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: fewer rows, settings and workers (CI)
SEED = 42

# %% [markdown]
# ## Setup
# Everything runs on this machine, on 127.0.0.1. `mlops_course.scaling` holds the
# plumbing: clusters as context managers (every process they start is stopped when the
# `with` block ends, also after an error), the search, the data set and the scorer.

# %%
import contextlib
import os
import platform
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from distributed import Client, get_task_stream

from mlops_course import data, pipeline, scaling
from mlops_course.course.results import record_metrics
from mlops_course.service.bundle import export_bundle, resolve_model

SEED = config.set_seed(SEED)
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: harmless
WORK = config.work_dir("11_scaling_out")
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
TRAIN_ROWS = 1_500 if FAST else 4_000  # training districts for the search
N_CONFIGS = 4 if FAST else 6  # settings to score, 3 folds each
N_FOLDS = 3
MAX_ITER = (20, 60, 20) if FAST else (50, 150, 50)  # boosting iterations: (low, high, step)
WORKER_COUNTS = [1, 2] if FAST else [1, 2, 3]  # the speedup table's cluster sizes
SEARCH_MEMORY = "1GiB"  # per worker of the search's cluster (scoring: scaling.WORKER_MEMORY)
DISTRICTS = 200_000 if FAST else 1_000_000  # rows of the batch-scoring data set
PARTITION_ROWS = 25_000
print(f"FAST={FAST}; {platform.processor() or platform.machine()}, {CORES} cores; "
      f"working in {WORK}")

# %% [markdown]
# ## The problem, shown: one process, one core
# Lesson 5's search scores each setting by 3-fold cross-validation. Here the settings are
# a fixed, seeded sample of lesson 5's search space, so that they can be handed out as
# independent tasks (lesson 5's TPE sampler picks each trial from the previous ones,
# which is sequential by design; see the lecture). Run on one process, as lesson 5 did:

# %% tags=["nbval-check-output"]
housing = data.read_housing_csv(data.fetch_housing())
train_df, _ = pipeline.prepare(housing, seed=SEED)
train_df = train_df.sample(TRAIN_ROWS, random_state=SEED).reset_index(drop=True)
configs = scaling.sample_configs(N_CONFIGS, seed=SEED, max_iter=MAX_ITER)
serial = scaling.search(train_df, configs, n_folds=N_FOLDS, seed=SEED)
print(f"{len(configs)} settings x {N_FOLDS} folds = {serial.n_tasks} fits on "
      f"{len(train_df):,} districts")
print(f"best: setting {serial.table['config'].iloc[0]}, CV RMSE "
      f"${serial.best_cv_rmse_usd:,.0f}")

# %%
print(f"one process: {serial.seconds:.1f} s (measured here, {CORES} cores, one busy)")
serial.table.round(3).head(4)

# %% [markdown]
# The machine has more than one core and the search used one. The fits are independent:
# any process could run any of them.
#
# ## Step 1 — A cluster on this machine
# A Dask cluster is a **scheduler** (hands out tasks, tracks results) and **workers**
# (processes that run tasks), each worker with a number of threads and a memory limit. A
# `LocalCluster` starts them as processes of this machine. By default the scheduler would
# listen on every network interface and start a web dashboard; `scaling.local_cluster`
# binds everything to 127.0.0.1, with no dashboard, one thread per worker, and scratch
# files under `build/`.

# %%
stack = contextlib.ExitStack()  # closed in the last cells, even after errors
local = stack.enter_context(scaling.local_cluster(
    max(WORKER_COUNTS), memory_limit=SEARCH_MEMORY,
    local_directory=WORK / "dask-local"))
client = stack.enter_context(Client(local.address))
info = client.scheduler_info(n_workers=-1)
print(f"{local.kind}: scheduler {local.address}, {len(info['workers'])} workers x "
      f"{sum(w['nthreads'] for w in info['workers'].values()) // len(info['workers'])} "
      f"thread, {local.memory_limit_bytes / 2**20:,.0f} MiB each")
print(f"started in {local.startup_s:.1f} s (measured here)")

# %% [markdown]
# The same search on the cluster: each (setting, fold) pair becomes a *future*
# (`client.submit`), the training rows are sent to each worker once (`client.scatter`),
# and the scores come back with `client.gather`. First with every worker the cluster has:

# %% tags=["nbval-check-output"]
with get_task_stream(client) as stream:
    on_cluster = scaling.search(train_df, configs, n_folds=N_FOLDS, seed=SEED, backend="dask")
streams = [stream.data]
same_table = bool(on_cluster.table.equals(serial.table))
print(f"best on the cluster: setting {on_cluster.table['config'].iloc[0]}, "
      f"CV RMSE ${on_cluster.best_cv_rmse_usd:,.0f}")
print(f"every score identical to the single process: {same_table}")

# %% [markdown]
# Identical, not just close: every task trains with the same seed on the same rows, and
# a task gives the same answer wherever it runs. That is what makes a search easy to
# distribute — and what to check first when someone says "the cluster gives other numbers".
#
# ## Step 2 — How much faster? A speedup table
# The same search with fewer workers (the cluster is rescaled between runs), next to
# the two baselines on one machine: one process, and joblib's process pool with
# `n_jobs=2` (what `n_jobs=2` in scikit-learn does). Speedup = one process's time divided
# by the run's time, all from this one run of the notebook.

# %%
loky = scaling.search(train_df, configs, n_folds=N_FOLDS, seed=SEED, backend="loky", n_jobs=2)
rows = [{"run": "one process", "processes": 1, "seconds": serial.seconds},
        {"run": "joblib, n_jobs=2", "processes": 2, "seconds": loky.seconds}]
results = {max(WORKER_COUNTS): (on_cluster, streams[0])}
for n in sorted(WORKER_COUNTS, reverse=True)[1:]:  # the largest size ran above
    local.scale(n, client)
    with get_task_stream(client) as stream:
        result = scaling.search(train_df, configs, n_folds=N_FOLDS, seed=SEED, backend="dask")
    results[n] = (result, stream.data)
    same_table &= bool(result.table.equals(serial.table))
for n in WORKER_COUNTS:
    rows.append({"run": f"Dask, {n} worker{'s' * (n > 1)}", "processes": n,
                 "seconds": results[n][0].seconds})
speedups = pd.DataFrame(rows).set_index("run")
speedups["speedup"] = serial.seconds / speedups["seconds"]
print(f"same scores on every run: {same_table}")
speedups.round(2)

# %%
dask_rows = speedups[speedups.index.str.startswith("Dask")]
best_workers = int(dask_rows["speedup"].idxmax().split()[1])
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(dask_rows["processes"], dask_rows["speedup"], "o-", label="Dask cluster (measured)")
ax.plot(dask_rows["processes"], np.minimum(dask_rows["processes"], CORES), "k--", lw=1,
        label=f"ideal on {CORES} cores: min(workers, cores)")
ax.axhline(speedups.loc["joblib, n_jobs=2", "speedup"], color="tab:orange", lw=1,
           label="joblib n_jobs=2 (measured)")
ax.axhline(1.0, color="grey", lw=0.8)
for x, y in zip(dask_rows["processes"], dask_rows["speedup"], strict=True):
    ax.annotate(f"{y:.2f}x", (x, y), textcoords="offset points", xytext=(4, -12))
ax.set_xlabel("workers (one thread each)")
ax.set_ylabel("speedup over one process (x)")
ax.set_xticks(dask_rows["processes"])
ax.set_title(f"The search, {serial.n_tasks} fits, on {CORES} cores")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"Caption: the curve can only follow the dashed line up to {CORES} workers (one per "
      "core); beyond it, workers share cores and only add overhead.")

# %% [markdown]
# Read the table, not a promise. The curve must bend where the workers outnumber the
# cores: one process per core is all the hardware offers, and a further worker only takes
# turns with the others (the full run adds a third worker to show it; the checks assert
# that no run beat the number of cores). Below that, each task pays for sending its
# inputs and result through the scheduler, and the first tasks on a fresh worker pay for
# its imports — costs that joblib's pool, on the same machine, mostly avoids: compare
# their rows above. On a real cluster the dashed line goes on rising — 100 workers on 100
# cores — as long as there are more tasks than workers and each task is long compared
# with its overhead.
#
# What the workers did, as the dashboard's *task stream* shows it (drawn here with
# matplotlib from the scheduler's records): one row per worker, one bar per task.

# %%
fig = scaling.plot_task_stream(
    results[max(WORKER_COUNTS)][1],
    title=f"The search on {max(WORKER_COUNTS)} workers: one bar per (setting, fold) fit")
fig.savefig(WORK / "task_stream_search.png", dpi=100)
plt.show()
print("Caption: bars of different lengths are settings with more or fewer trees; a gap is "
      "a worker waiting for the scheduler or for its inputs.")

# %% [markdown]
# ## Step 3 — The same code, pointed at a cluster's address
# On real machines nobody calls `LocalCluster`: an operator starts `dask scheduler` on one
# machine and `dask worker tcp://scheduler:8786` on each of the others (by hand, over SSH,
# as Kubernetes pods, or as jobs of an HPC queue through dask-jobqueue), and the notebook
# connects to the scheduler's address. `scaling.cli_cluster` does exactly that with the
# two commands, on 127.0.0.1, as separate processes in their own process groups. The
# only line of *our* code that changes is the `Client(...)` call.

# %%
stack.close()  # the LocalCluster and its client: stopped
local_left = scaling.leftover_processes()
remote = stack.enter_context(scaling.cli_cluster(
    2, memory_limit=scaling.WORKER_MEMORY, local_directory=WORK / "dask-cli"))
client = stack.enter_context(Client(remote.address))  # <- the one line that changes
print(f"LocalCluster processes left: {local_left}")
print(f"{remote.kind}: {remote.address}, {remote.n_workers} workers, "
      f"{remote.memory_limit_bytes / 2**20:,.0f} MiB each; ready in {remote.startup_s:.1f} s")

# %% [markdown]
# ## Step 4 — Batch scoring, partition by partition
# Lesson 8 scored a file in one process: read it all, check it, predict, write it. That
# stops working when the file outgrows a machine's memory. The data set here is made by
# resampling the housing districts with noise (each district moved by about a kilometre,
# its size and income changed a little), written as Parquet files of 25,000 rows — one
# partition at a time, so even writing it never holds it all.

# %% tags=["nbval-check-output"]
districts = scaling.make_districts(WORK / "districts", DISTRICTS,
                                   rows_per_partition=PARTITION_ROWS, seed=SEED, source=housing)
print(f"{districts.rows:,} districts in {districts.partitions} Parquet files of up to "
      f"{PARTITION_ROWS:,} rows: "
      f"{districts.disk_bytes / 2**20:,.0f} MiB on disk, "
      f"{districts.memory_bytes / 2**20:,.0f} MiB as pandas DataFrames")

# %% [markdown]
# The model is lesson 8's: the DVC pipeline's gradient-boosted trees exported with their
# preprocessing into one ONNX bundle. Each worker loads the bundle once and scores each of
# its partitions with lesson 8's `score_frame` — the same schema checks (bad rows are
# kept, with their problems, not dropped), the same ONNX Runtime session on one thread.
# `dask.dataframe` reads the files, applies the function to each partition, and writes
# the results as Parquet files again: no process ever holds more than a few partitions.

# %%
bundle_dir = export_bundle(resolve_model(None), WORK / "bundle", force=True)
with get_task_stream(client) as stream:
    scoring = scaling.score_dataset(districts, bundle_dir, WORK / "scored")
scoring_stream = stream.data
worker_peak_mib = scaling.worker_peak_rss_mib(client)
print(f"scored {scoring.scored:,} of {scoring.rows:,} rows ({scoring.rejected:,} rejected, "
      f"with their problems) in {scoring.seconds:.1f} s on {remote.n_workers} workers: "
      f"{scoring.rows_per_s:,.0f} rows/s (measured here)")
print("peak memory of each worker process: " + ", ".join(
    f"{v:,.0f} MiB" for v in worker_peak_mib.values()) +
    f" (limit {remote.memory_limit_bytes / 2**20:,.0f} MiB)")

# %%
fig = scaling.plot_task_stream(scoring_stream, title=f"Scoring {districts.partitions} "
                               "partitions: read, score, write, one task each")
fig.savefig(WORK / "task_stream_scoring.png", dpi=100)
plt.show()
print("Caption: each worker reads a partition, scores it and writes it, then takes the next; "
      "a gap in a row is a worker waiting for the scheduler or for the disk.")

# %% [markdown]
# And lesson 5's search, through the same address (after the scoring, so that the
# workers' peak memory above is the scoring's alone):

# %% tags=["nbval-check-output"]
over_address = scaling.search(train_df, configs, n_folds=N_FOLDS, seed=SEED, backend="dask")
same_table &= bool(over_address.table.equals(serial.table))
print(f"the search through the address: best setting {over_address.table['config'].iloc[0]}, "
      f"CV RMSE ${over_address.best_cv_rmse_usd:,.0f}; identical scores: "
      f"{over_address.table.equals(serial.table)}")

# %% [markdown]
# ## Step 5 — Against the single-process scorer
# Lesson 8's way for comparison: one fresh Python process reads the whole data set into
# one DataFrame, scores it with the same function and writes one file. Its peak memory is
# what one machine must have for this job; the cluster's workers never needed more than
# their partitions. (In the full run the one-process job needs more memory than a worker
# of this cluster is allowed: the checks assert it. Fast mode's data set is too small
# for that.)

# %%
single = scaling.score_single_process(districts, bundle_dir, WORK / "single" / "scored.parquet")
one = pd.read_parquet(single.output_path)
many = pd.read_parquet(scoring.output_path).loc[one.index]
both = one[scaling.PREDICTION_COLUMN].notna() & many[scaling.PREDICTION_COLUMN].notna()
scores_max_diff_usd = float(np.max(np.abs(one.loc[both, scaling.PREDICTION_COLUMN]
                                          - many.loc[both, scaling.PREDICTION_COLUMN])))
same_rejected = bool((one[scaling.PROBLEMS_COLUMN] == many[scaling.PROBLEMS_COLUMN]).all())
print(f"single process: {single.rows:,} rows in {single.seconds:.1f} s "
      f"({single.rows_per_s:,.0f} rows/s), peak memory {single.peak_rss_mib:,.0f} MiB")
print(f"cluster: {scoring.rows_per_s:,.0f} rows/s, workers' peak "
      f"{max(worker_peak_mib.values()):,.0f} MiB each")
print(f"{int(both.sum()):,} rows scored by both: largest difference ${scores_max_diff_usd:.2f}; "
      f"same rows rejected with the same problems: {same_rejected}")
scoring_speedup = scoring.rows_per_s / single.rows_per_s
memory_ratio = single.peak_rss_mib / max(worker_peak_mib.values())
pd.DataFrame({"rows/s": [single.rows_per_s, scoring.rows_per_s],
              "peak MiB per process": [single.peak_rss_mib, max(worker_peak_mib.values())]},
             index=["one process, whole DataFrame", f"Dask, {remote.n_workers} workers"]).round(0)

# %% [markdown]
# The predictions are identical: the same function on the same rows, whichever process
# runs it (asserted below). Do not expect much speed from this on a small machine: on two
# cores, two workers can at best double one process (the checks assert no more), and each
# partition pays for a Parquet read and write and a trip through the scheduler that a
# single in-memory frame does not; the table shows what this run got. What the cluster
# buys is **memory**: the one-process job's peak grows with the data set, each worker's
# stays at a few partitions. Add rows and the single process runs out of memory first;
# add machines and the cluster's throughput grows with them.

# %% [markdown]
# ## Stopping everything
# The `with` blocks (here one `ExitStack`) stop the client and the cluster's process
# groups; then look for anything left: this kernel's child processes that run Dask, and
# the scheduler's and workers' process groups.

# %% tags=["nbval-check-output"]
stack.close()
cli_left = scaling.leftover_processes(remote.pids)
print(f"processes left running: {len(local_left) + len(cli_left)}")

# %% [markdown]
# ## Checks
# The claims of this lesson, asserted; the key numbers go to the course summary.

# %%
assert same_table, "every backend and every cluster size gives the same scores"
assert over_address.best_params == serial.best_params, "same best setting over the address"
assert local_left == [] and cli_left == [], "no scheduler or worker left running"
assert scaling.leftover_processes() == [], "nothing Dask-related left under this kernel"
assert scores_max_diff_usd == 0.0 and same_rejected, "cluster = single-process scorer"
assert scoring.rows == single.rows == districts.rows, "every row scored or rejected"
assert max(worker_peak_mib.values()) < remote.memory_limit_bytes / 2**20
if not FAST:  # fast mode's data set is too small to make the point
    assert single.peak_rss_mib > remote.memory_limit_bytes / 2**20 > max(
        worker_peak_mib.values()), "one process needs more than a worker may use"
assert dask_rows["speedup"].max() <= 1.15 * CORES, "no more speedup than cores"
assert scoring_speedup <= 1.15 * min(CORES, remote.n_workers), "at best one worker per core"
record_metrics(
    n_fits=serial.n_tasks,
    best_cv_rmse_usd=round(serial.best_cv_rmse_usd),
    best_config=int(serial.table["config"].iloc[0]),
    same_scores_everywhere=same_table,
    speedup_loky_2=round(float(speedups.loc["joblib, n_jobs=2", "speedup"]), 2),
    **{f"speedup_dask_{n}": round(float(dask_rows["speedup"].iloc[i]), 2)
       for i, n in enumerate(WORKER_COUNTS)},
    best_workers=best_workers,
    districts=districts.rows,
    districts_memory_mib=round(districts.memory_bytes / 2**20),
    scored=scoring.scored,
    rejected=scoring.rejected,
    scoring_speedup=round(scoring_speedup, 2),
    scores_max_diff_usd=scores_max_diff_usd,
    single_peak_mib=round(single.peak_rss_mib),
    worker_peak_mib=round(max(worker_peak_mib.values())),
    memory_ratio=round(memory_ratio, 2),
    local_cluster_start_s=round(local.startup_s, 1),
    cli_cluster_start_s=round(remote.startup_s, 1),
    processes_left=len(local_left) + len(cli_left),
)

# %% [markdown]
# ## Recap and next
# | lesson 1's problem | what fixed it here |
# | --- | --- |
# | scaling issues: a search that uses one core | the search as independent tasks on a Dask cluster: same scores, a speedup measured per worker count |
# | batch scoring bounded by one process's memory | `dask.dataframe` over Parquet partitions: each worker holds a few partitions; predictions identical to lesson 8's scorer |
# | infrastructure tied to the laptop | the same code with a scheduler's address: `Client("tcp://scheduler:8786")` |
#
# The honest summary for a small machine: a cluster cannot beat its cores (this run's
# tables show how close it came, next to `n_jobs=2` and one pandas process); its gain is
# memory, and speed once there are more cores than one machine has. Instructors can grade on the same kind of cluster
# (`mlops-course grade --scheduler ADDRESS`, see the README).
#
# **Exercise:** `exercises/11_scaling_out.ipynb` — split a search into tasks, read a
# speedup table, and score partitions so that the result matches one process.
