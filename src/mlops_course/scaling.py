"""Scaling out on Dask (lesson 11): the same tuning and batch scoring, on many processes.

    with local_cluster(n_workers=2) as cluster:          # a laptop: processes on 127.0.0.1
        client = Client(cluster.address)
    with cli_cluster(n_workers=2) as cluster:            # `dask scheduler` + `dask worker`
        client = Client(cluster.address)                 # the only line that changes

Both start every process on 127.0.0.1 (no dashboard: bokeh is not installed, and a
dashboard would listen on every interface by default), give each worker one thread and a
memory limit, keep every scratch file under a folder of the caller's choosing (no
spilling to the home folder) and stop every process they started when the ``with`` block
ends, normally or by an error. A real cluster (Kubernetes, SSH, an HPC queue through
dask-jobqueue) is one more scheduler address.

The work:

* :func:`sample_configs` and :func:`search` — lesson 5's search space, a fixed sample of
  settings, each scored by k-fold cross-validation on the training rows with
  :func:`mlops_course.pipeline.train` / :func:`~mlops_course.pipeline.evaluate`; one task
  per (setting, fold), run on one process, on joblib's process pool, or as futures on a
  Dask cluster. Every task is seeded, so every backend finds
  the same best setting with the same scores.
* :func:`make_districts` and :func:`score_dataset` — a partitioned Parquet data set made by
  resampling the housing data with noise, one partition at a time (it never has to fit
  in memory), scored partition by partition with ``dask.dataframe`` and lesson 8's
  :func:`mlops_course.batch_scoring.score_frame` (the same ONNX bundle, the same checks).
* :func:`plot_task_stream` — the dashboard's task stream as a matplotlib figure.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_course.config import DEFAULT_SEED
from mlops_course.errors import MlopsCourseError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

HOST = "127.0.0.1"
#: Each worker's memory limit: the nanny restarts a worker whose process grows past 95 %
#: of it. A worker with pandas, scikit-learn and ONNX Runtime loaded takes ~220 MiB before
#: any data; scoring a 25,000-row partition adds ~150 MiB.
WORKER_MEMORY = "512MiB"
#: A safety net for a kernel killed before its ``with`` block could stop the processes: a
#: scheduler with no client and no task for this long exits, and its workers follow.
IDLE_TIMEOUT_S = 900
PREDICTION_COLUMN = "predicted_median_house_value"
PROBLEMS_COLUMN = "problems"
INDEX = "district_id"


class ScalingError(MlopsCourseError):
    """A cluster could not be started, or a job cannot run on it."""


# -- clusters -----------------------------------------------------------------------------

def dask_settings(local_directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The Dask settings every cluster here uses: scratch files in ``local_directory``;
    no spilling to disk and no pausing (the nanny's hard limit, 95 % of a worker's
    memory limit, stays on: a worker that grows past it is restarted)."""
    return {
        "temporary-directory": str(local_directory),
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": 0.95,
        "distributed.scheduler.work-stealing": True,
        "distributed.admin.system-monitor.gil.enabled": False,
    }


def _env_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """Dask settings as ``DASK_…`` environment variables, for CLI processes."""
    env = {}
    for key, value in settings.items():
        name = "DASK_" + key.upper().replace(".", "__").replace("-", "_")
        env[name] = json.dumps(value) if isinstance(value, bool) else str(value)
    return env


@dataclass
class Cluster:
    """A running cluster: its scheduler's address, its workers, the processes behind it."""

    address: str
    kind: str
    n_workers: int
    memory_limit_bytes: int
    startup_s: float
    local_directory: Path
    pids: list[int] = field(default_factory=list)
    _local: Any = None

    def scale(self, n_workers: int, client: Any) -> None:
        """Change the number of workers (a :func:`local_cluster` only); wait for them."""
        if self._local is None:
            raise ScalingError("Only a local_cluster can be rescaled from here.\nFix: start "
                               "cli_cluster(n_workers=...) with the number you need.")
        self._local.scale(n_workers)
        deadline = time.monotonic() + 60
        while len(client.scheduler_info(n_workers=-1)["workers"]) != n_workers:
            if time.monotonic() > deadline:
                raise ScalingError(f"the cluster did not reach {n_workers} workers in 60 s")
            time.sleep(0.05)
        self.n_workers = n_workers


def _bytes(memory: str) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(memory))


@contextlib.contextmanager
def local_cluster(
    n_workers: int = 2,
    *,
    threads_per_worker: int = 1,
    memory_limit: str = WORKER_MEMORY,
    local_directory: str | os.PathLike[str] | None = None,
) -> Iterator[Cluster]:
    """A ``distributed.LocalCluster`` of worker processes on 127.0.0.1, closed on exit.

    The scheduler, the nannies and the workers listen on 127.0.0.1 only, with no
    dashboard. Scratch files go to ``local_directory`` (a temporary folder by default,
    removed on exit).
    """
    import dask
    from distributed import LocalCluster

    with _scratch(local_directory) as scratch, dask.config.set(dask_settings(scratch)):
        start = time.perf_counter()
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
            host=HOST, dashboard_address=f"{HOST}:0", worker_dashboard_address=None,
            memory_limit=memory_limit, local_directory=str(scratch),
            silence_logs=logging.ERROR)  # not the nanny's notes when workers are scaled down
        try:
            yield Cluster(cluster.scheduler_address, "LocalCluster", n_workers,
                          _bytes(memory_limit), time.perf_counter() - start, scratch,
                          _local=cluster)
        finally:
            cluster.close(timeout=30)


@contextlib.contextmanager
def cli_cluster(
    n_workers: int = 2,
    *,
    threads_per_worker: int = 1,
    memory_limit: str = WORKER_MEMORY,
    local_directory: str | os.PathLike[str] | None = None,
    timeout_s: float = 60.0,
) -> Iterator[Cluster]:
    """A scheduler and workers as separate processes, started with Dask's command-line
    tools, ``dask scheduler`` and ``dask worker``, as one would on the machines of a
    cluster; here all on 127.0.0.1. Each runs in its own process group, stopped (SIGTERM,
    then SIGKILL) on exit. If this process is killed before it can stop them, the
    scheduler exits after :data:`IDLE_TIMEOUT_S` idle seconds and the workers 30 s later.
    """
    from distributed import Client

    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        raise ScalingError(f"No `dask` command next to {sys.executable}.\nFix: install "
                           "the course's environment: make data (pip install dask[distributed]).")
    with _scratch(local_directory) as scratch:
        env = {**os.environ, **_env_settings(dask_settings(scratch)), "OMP_NUM_THREADS": "1"}
        scheduler_file = scratch / "scheduler.json"
        logs = scratch / "logs"
        logs.mkdir(exist_ok=True)
        procs: list[subprocess.Popen[bytes]] = []
        start = time.perf_counter()
        try:
            procs.append(_spawn([str(dask_cli), "scheduler", "--host", HOST, "--port", "0",
                                 "--no-dashboard", "--dashboard-address", f"{HOST}:0",
                                 "--idle-timeout", f"{IDLE_TIMEOUT_S}s",
                                 "--scheduler-file", str(scheduler_file)],
                                env, logs / "scheduler.log"))
            address = _wait_for_scheduler(scheduler_file, procs[0], logs / "scheduler.log",
                                          timeout_s)
            procs.append(_spawn([str(dask_cli), "worker", address, "--host", HOST,
                                 "--nworkers", str(n_workers), "--nthreads",
                                 str(threads_per_worker), "--memory-limit", memory_limit,
                                 "--local-directory", str(scratch), "--no-dashboard",
                                 "--dashboard-address", f"{HOST}:0",
                                 "--death-timeout", "30"],
                                env, logs / "workers.log"))
            with Client(address, timeout=timeout_s) as client:
                client.wait_for_workers(n_workers, timeout=timeout_s)
            yield Cluster(address, "dask scheduler + dask worker", n_workers,
                          _bytes(memory_limit), time.perf_counter() - start, scratch,
                          pids=[p.pid for p in procs])
        finally:
            for proc in reversed(procs):
                _stop_group(proc)


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_for_scheduler(path: Path, proc: subprocess.Popen[bytes], log: Path,
                        timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ScalingError(f"`dask scheduler` exited with status {proc.returncode}:\n"
                               f"{log.read_text()[-2000:]}")
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            return str(json.loads(path.read_text())["address"])
        time.sleep(0.05)
    raise ScalingError(f"`dask scheduler` wrote no address to {path} in {timeout_s:.0f} s:\n"
                       f"{log.read_text()[-2000:]}")


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(proc.pid):
            proc.poll()
            time.sleep(0.05)
        if not _group_alive(proc.pid):
            break
    proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    import psutil

    for p in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error):
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                return True
    return False


@contextlib.contextmanager
def _scratch(path: str | os.PathLike[str] | None) -> Iterator[Path]:
    if path is not None:
        folder = Path(path).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="mlops-course-dask-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def leftover_processes(pids: Sequence[int] = ()) -> list[str]:
    """Dask processes still running: this process's children that run Dask or
    multiprocessing (a LocalCluster's nannies and workers), and any process of ``pids``
    (a :func:`cli_cluster`'s) or of their groups. ``[]`` when everything was stopped."""
    import psutil

    found = {}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                line = " ".join(child.cmdline())
                if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in line and (
                        "dask" in line or "distributed" in line or "multiprocessing" in line):
                    found[child.pid] = line
    for p in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if p.info["status"] != psutil.STATUS_ZOMBIE and (
                    p.pid in pids or os.getpgid(p.pid) in pids):
                found[p.pid] = " ".join(p.cmdline())
    return [f"pid {pid}: {line[:120]}" for pid, line in sorted(found.items())]


def worker_peak_rss_mib(client: Any) -> dict[str, float]:
    """Each worker process's peak resident memory so far, in MiB (``ru_maxrss``)."""
    return {address: value / 1024 for address, value in client.run(_peak_rss_kib).items()}


def _peak_rss_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak / 1024) if sys.platform == "darwin" else int(peak)


# -- tuning -------------------------------------------------------------------------------

def sample_configs(n: int, *, seed: int = DEFAULT_SEED,
                   max_iter: tuple[int, int, int] = (100, 600, 50)) -> list[dict[str, Any]]:
    """``n`` settings drawn at random (seeded) from lesson 5's search space
    (:func:`mlops_course.tuning.search_space`): the same list on every run, so the search
    can be split into independent tasks.

    Examples
    --------
    >>> sample_configs(2, seed=1) == sample_configs(2, seed=1)
    True
    """
    import optuna

    from mlops_course import tuning

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = tuning.search_space(max_iter=max_iter)
    return [dict(study.ask(space).params) for _ in range(n)]


def _fit_fold(train_df: pd.DataFrame, params: Mapping[str, Any], fit_rows: Any,
              val_rows: Any) -> float:
    """One task: train on ``fit_rows``, return the RMSE on ``val_rows`` (in dollars)."""
    from threadpoolctl import threadpool_limits

    from mlops_course import pipeline

    with threadpool_limits(1):
        model = pipeline.train(train_df.iloc[fit_rows], log=False, **params)
        return float(pipeline.evaluate(model, train_df.iloc[val_rows], log=False,
                                       prefix="cv")["cv_rmse_usd"])


def warm_up() -> None:
    """Import what a search task needs (pandas, scikit-learn, the course's pipeline), so
    that a timed run measures the work, not a fresh process's first imports."""
    import sklearn.ensemble  # noqa: F401

    from mlops_course import features, pipeline  # noqa: F401


@dataclass(frozen=True)
class SearchResult:
    """A search: one row per setting (parameters, fold RMSEs, their mean), best first."""

    table: pd.DataFrame
    backend: str
    seconds: float
    n_tasks: int

    @property
    def best_params(self) -> dict[str, Any]:
        row = self.table.iloc[0]
        return {k: _plain(row[k]) for k in self.table.attrs["params"]}

    @property
    def best_cv_rmse_usd(self) -> float:
        return float(self.table["cv_rmse_usd"].iloc[0])


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def search(
    train_df: pd.DataFrame,
    configs: Sequence[Mapping[str, Any]],
    *,
    n_folds: int = 3,
    seed: int = DEFAULT_SEED,
    backend: str = "serial",
    n_jobs: int = 2,
) -> SearchResult:
    """Score every setting of ``configs`` by ``n_folds``-fold cross-validation on
    ``train_df``: one task per (setting, fold).

    ``backend``: ``"serial"`` (one process), ``"loky"`` (joblib's process pool,
    ``n_jobs`` processes on this machine) or ``"dask"`` (the Dask cluster of the current
    ``distributed.Client``: one future per task, spread over every worker it has;
    ``train_df`` is sent to each worker once). The model's seed is ``seed`` in every
    task, so every backend gives the same table. ``seconds`` times the tasks only, on
    warm processes: each process has imported the libraries first (:func:`warm_up`).
    """
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import KFold

    if backend not in ("serial", "loky", "dask"):
        raise ScalingError(f"unknown backend {backend!r}.\nFix: use 'serial', 'loky' or "
                           "'dask' (with a distributed.Client connected).")
    folds = list(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(train_df))
    tasks = [(i, k) for i in range(len(configs)) for k in range(n_folds)]
    jobs = (joblib.delayed(_fit_fold)(train_df, {"seed": seed, **configs[i]}, *folds[k])
            for i, k in tasks)
    warm_up()
    start = time.perf_counter()
    if backend == "serial":
        scores = joblib.Parallel(n_jobs=1)(jobs)
    elif backend == "loky":
        from joblib.externals.loky import get_reusable_executor

        with joblib.parallel_config(backend="loky", n_jobs=n_jobs, inner_max_num_threads=1):
            joblib.Parallel()(joblib.delayed(warm_up)() for _ in range(n_jobs))
            start = time.perf_counter()  # the pool is up and its processes are warm
            scores = joblib.Parallel()(jobs)
        get_reusable_executor().shutdown(wait=True)  # leave no worker process behind
    else:
        client = _current_client()  # a clear error if there is none
        client.run(warm_up)
        start = time.perf_counter()  # every worker is warm
        data = client.scatter(train_df, broadcast=True)  # sent to every worker once
        futures = [client.submit(_fit_fold, data, {"seed": seed, **configs[i]}, *folds[k],
                                 key=f"fit_fold-{i}-{k}-{start}", pure=False)
                   for i, k in tasks]
        scores = client.gather(futures)
        client.cancel([data, *futures])
    seconds = time.perf_counter() - start
    by_config = np.array(scores, dtype=float).reshape(len(configs), n_folds)
    table = pd.DataFrame(list(configs))
    params = list(table.columns)
    for k in range(n_folds):
        table[f"fold_{k}_rmse_usd"] = by_config[:, k]
    table["cv_rmse_usd"] = by_config.mean(axis=1)
    table.insert(0, "config", range(len(configs)))
    table = table.sort_values(["cv_rmse_usd", "config"], kind="stable").reset_index(drop=True)
    table.attrs["params"] = params
    return SearchResult(table, backend, seconds, len(tasks))


def _current_client() -> Any:
    from distributed import get_client

    try:
        return get_client()
    except ValueError as exc:
        raise ScalingError("No Dask client is connected.\nFix: start one first, e.g. "
                           "`client = Client(cluster.address)` inside "
                           "`with scaling.local_cluster() as cluster:`.") from exc


# -- batch scoring ------------------------------------------------------------------------

def _resample(source: pd.DataFrame, n_rows: int, rng: Any) -> pd.DataFrame:
    """``n_rows`` districts drawn with replacement from ``source``, with noise that keeps
    them plausible: the position moves by ~1 km, the district's size (rooms, bedrooms,
    people, households, together) changes by ~10 %, incomes by ~5 %."""
    import numpy as np

    rows = source.iloc[rng.integers(0, len(source), n_rows)].reset_index(drop=True)
    rows["longitude"] += rng.normal(0, 0.01, n_rows)
    rows["latitude"] += rng.normal(0, 0.01, n_rows)
    size = np.exp(rng.normal(0, 0.1, n_rows))
    for column in ("total_rooms", "total_bedrooms", "population", "households"):
        rows[column] = np.maximum(1.0, np.round(rows[column] * size))
    rows["total_bedrooms"] = np.minimum(rows["total_bedrooms"], rows["total_rooms"])
    rows["median_income"] = rows["median_income"] * np.exp(rng.normal(0, 0.05, n_rows))
    return rows


@dataclass(frozen=True)
class Districts:
    """A partitioned Parquet data set of districts: its folder, rows, partitions and size
    (on disk, and in memory as pandas DataFrames)."""

    path: Path
    rows: int
    partitions: int
    disk_bytes: int
    memory_bytes: int

    def partition_paths(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))


def make_districts(
    out_dir: str | os.PathLike[str],
    n_rows: int,
    *,
    rows_per_partition: int = 25_000,
    seed: int = DEFAULT_SEED,
    source: pd.DataFrame | None = None,
    progress: bool = True,
) -> Districts:
    """Write ``n_rows`` resampled, noisy districts (no target column; a unique
    ``district_id``) as Parquet files of ``rows_per_partition`` rows into ``out_dir``
    (emptied first). Made one partition at a time, each from its own seed: the data set
    never has to fit in memory, and the same arguments give the same files."""
    import numpy as np

    from mlops_course.data import TARGET, fetch_housing, read_housing_csv

    if n_rows < 1 or rows_per_partition < 1:
        raise ScalingError(f"n_rows={n_rows}, rows_per_partition={rows_per_partition}: "
                           "both must be at least 1.")
    source = (read_housing_csv(fetch_housing()) if source is None else source)
    source = source.drop(columns=[TARGET], errors="ignore")
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    starts = range(0, n_rows, rows_per_partition)
    memory = 0
    for number, first in enumerate(_progress(starts, progress, "writing partitions")):
        rng = np.random.default_rng([seed, number])
        part = _resample(source, min(rows_per_partition, n_rows - first), rng)
        part.index = np.arange(first, first + len(part), dtype="int64")
        part.index.name = INDEX
        memory += int(part.memory_usage(deep=True, index=True).sum())
        part.to_parquet(out / f"part-{number:05d}.parquet")
    disk = sum(p.stat().st_size for p in out.glob("*.parquet"))
    return Districts(out, n_rows, len(starts), disk, memory)


def _progress(items: Any, show: bool, desc: str) -> Any:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="part", leave=False)


@functools.lru_cache(maxsize=4)
def _bundle(bundle_dir: str) -> Any:
    from mlops_course.service.bundle import load_bundle

    return load_bundle(bundle_dir)


def score_partition(part: pd.DataFrame, bundle_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Score one partition with lesson 8's :func:`~mlops_course.batch_scoring.score_frame`:
    every row back, in order, with ``predicted_median_house_value`` (NaN for a rejected
    row), ``model_version`` and ``problems`` (empty for a scored row)."""
    import numpy as np

    from mlops_course.batch_scoring import score_frame

    bundle = _bundle(str(bundle_dir))
    out = part.copy()
    out[PREDICTION_COLUMN] = np.nan
    out["model_version"] = bundle.version
    out[PROBLEMS_COLUMN] = ""
    if len(part) == 0:
        return out
    scored, rejected, _ = score_frame(part, bundle)
    out.loc[scored.index, PREDICTION_COLUMN] = scored[PREDICTION_COLUMN].to_numpy()
    out.loc[rejected.index, PROBLEMS_COLUMN] = rejected[PROBLEMS_COLUMN].astype(str).to_numpy()
    return out


@dataclass(frozen=True)
class ScoringRun:
    """What a distributed scoring job did."""

    output_path: Path
    rows: int
    scored: int
    rejected: int
    seconds: float
    partitions: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def score_dataset(
    districts: Districts | str | os.PathLike[str],
    bundle_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    partitions: int | None = None,
) -> ScoringRun:
    """Score a partitioned Parquet data set on the current Dask cluster with
    ``dask.dataframe``: read, score (:func:`score_partition`) and write back, partition by
    partition, so no process ever holds the whole data set. ``partitions`` limits the job
    to the first partitions. The output is Parquet in ``out_dir`` (emptied first)."""
    import dask.dataframe as dd
    import pandas as pd

    _current_client()
    path = Path(districts.path if isinstance(districts, Districts) else districts)
    files = sorted(path.glob("part-*.parquet"))
    if not files:
        raise ScalingError(f"No part-*.parquet files in {path}.\nFix: write the data set "
                           "first with scaling.make_districts(...).")
    files = files[:partitions] if partitions else files
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    frame = dd.read_parquet([str(f) for f in files], index=INDEX)
    meta = frame._meta.assign(**{PREDICTION_COLUMN: pd.Series(dtype="float64"),
                                 "model_version": pd.Series(dtype="str"),
                                 PROBLEMS_COLUMN: pd.Series(dtype="str")})
    scored = frame.map_partitions(score_partition, str(bundle_dir), meta=meta)
    scored.to_parquet(str(out), write_index=True)
    seconds = time.perf_counter() - start
    summary = dd.read_parquet(str(out), columns=[PROBLEMS_COLUMN])
    counts = summary[PROBLEMS_COLUMN].map_partitions(
        lambda s: pd.Series({"rows": len(s), "rejected": int((s != "").sum())}),
        meta=pd.Series(dtype="int64")).compute()
    rows = int(counts["rows"].sum())
    rejected = int(counts["rejected"].sum())
    return ScoringRun(out, rows, rows - rejected, rejected, seconds, len(files))


@dataclass(frozen=True)
class SingleProcessRun:
    """The single-process scorer on a whole data set: time and peak memory of its process."""

    output_path: Path
    rows: int
    scored: int
    rejected: int
    seconds: float
    peak_rss_mib: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def score_single_process(
    districts: Districts | str | os.PathLike[str],
    bundle_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    timeout_s: float = 600.0,
) -> SingleProcessRun:
    """Lesson 8's way, for comparison: one fresh Python process reads the whole data set
    into one pandas DataFrame, scores it with :func:`score_partition` (the same code the
    cluster runs per partition) and writes one Parquet file. Returns its time (reading,
    scoring, writing) and its peak resident memory, which is what a machine would need."""
    path = Path(districts.path if isinstance(districts, Districts) else districts)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys, time\n"
        "start = time.perf_counter()\n"
        "import pandas as pd\n"
        "from mlops_course import scaling\n"
        "frame = pd.read_parquet(sys.argv[1])\n"
        "scored = scaling.score_partition(frame, sys.argv[2])\n"
        "scored.to_parquet(sys.argv[3])\n"
        "rejected = int((scored[scaling.PROBLEMS_COLUMN] != '').sum())\n"
        "print(json.dumps({'rows': len(scored), 'rejected': rejected,\n"
        "                  'seconds': time.perf_counter() - start,\n"
        "                  'peak_rss_mib': scaling._peak_rss_kib() / 1024}))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(bundle_dir), str(out)],
                          capture_output=True, text=True, env=env, timeout=timeout_s,
                          check=False)
    if proc.returncode != 0:
        raise ScalingError(f"the single-process scorer failed (status {proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return SingleProcessRun(out, result["rows"], result["rows"] - result["rejected"],
                            result["rejected"], result["seconds"], result["peak_rss_mib"])


# -- the task stream ----------------------------------------------------------------------

def plot_task_stream(records: Sequence[Mapping[str, Any]], *, title: str = "",
                     ax: Any = None) -> Figure:
    """The dashboard's task-stream view from ``distributed.get_task_stream`` records:
    one row per worker, one bar per task from its start to its end (seconds since the
    first task began), coloured by task prefix (the function's name); transfers of data
    between workers in grey."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not records:
        raise ScalingError("No task-stream records to plot.\nFix: run the work inside "
                           "`with distributed.get_task_stream() as stream:`, then pass "
                           "stream.data.")
    workers = sorted({r["worker"] for r in records})
    t0 = min(s["start"] for r in records for s in r["startstops"])
    prefixes: dict[str, Any] = {}
    palette = plt.get_cmap("tab10").colors
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 0.6 + 0.55 * len(workers)))
    else:
        fig = ax.figure
    for record in records:
        row = workers.index(record["worker"])
        prefix = _prefix(record["key"])
        for span in record["startstops"]:
            if span["action"] == "compute":
                color = prefixes.setdefault(prefix, palette[len(prefixes) % len(palette)])
            else:
                color = "lightgrey"
            ax.broken_barh([(span["start"] - t0, span["stop"] - span["start"])],
                           (row - 0.4, 0.8), facecolors=color, edgecolor="white",
                           linewidth=0.3)
    ax.set_yticks(range(len(workers)), [f"worker {i + 1}\n{w.split('//')[-1]}"
                                        for i, w in enumerate(workers)])
    ax.set_xlabel("time since the first task started (s)")
    ax.set_ylabel("worker")
    handles = [Patch(color=c, label=p) for p, c in prefixes.items()]
    handles.append(Patch(color="lightgrey", label="transfer / disk"))
    ax.legend(handles=handles, title="task prefix", loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _prefix(key: Any) -> str:
    from dask.utils import key_split

    return str(key_split(key))
