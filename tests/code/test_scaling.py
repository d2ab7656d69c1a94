"""Scaling out (lesson 11): clusters on 127.0.0.1 that stop every process they start, a
distributed search equal to the serial one, partitioned scoring equal to one process."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from mlops_course import scaling
from mlops_course.data import make_synthetic_housing

CONFIGS = [{"features": "base", "learning_rate": 0.1, "max_iter": 10, "max_leaf_nodes": 15,
            "min_samples_leaf": 10, "l2_regularization": 0.1, "max_features": 1.0},
           {"features": "base", "learning_rate": 0.2, "max_iter": 15, "max_leaf_nodes": 20,
            "min_samples_leaf": 5, "l2_regularization": 1.0, "max_features": 0.5}]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlops_course import pipeline
    from mlops_course.service.bundle import ModelSource, export_bundle

    train = make_synthetic_housing(600, seed=1)
    model = pipeline.train(train, log=False, max_iter=20)
    source = ModelSource(model, "house-prices", "synthetic-v1", "test", "abc")
    return export_bundle(source, tmp_path_factory.mktemp("b") / "v1",
                         check_rows=make_synthetic_housing(300, seed=2), reference_rows=train)


def _listening(pids: list[int]) -> set[str]:
    """The addresses that the processes of these process groups listen on."""
    found = set()
    for proc in psutil.process_iter():
        try:
            if proc.pid in pids or os.getpgid(proc.pid) in pids:
                found |= {c.laddr.ip for c in proc.net_connections("tcp")
                          if c.status == psutil.CONN_LISTEN}
        except (psutil.Error, OSError):
            continue
    return found


def test_configs_are_seeded_and_in_lesson_5s_space() -> None:
    from mlops_course import tuning

    configs = scaling.sample_configs(5, seed=3, max_iter=(30, 90, 30))
    assert configs == scaling.sample_configs(5, seed=3, max_iter=(30, 90, 30))
    assert configs != scaling.sample_configs(5, seed=4, max_iter=(30, 90, 30))
    space = tuning.search_space(max_iter=(30, 90, 30))
    assert all(set(c) == set(space) and c["max_iter"] in (30, 60, 90) for c in configs)


def test_districts_are_partitioned_deterministic_and_plausible(tmp_path: Path) -> None:
    source = make_synthetic_housing(500, seed=5)
    a = scaling.make_districts(tmp_path / "a", 2_500, rows_per_partition=1_000, seed=1,
                               source=source, progress=False)
    b = scaling.make_districts(tmp_path / "b", 2_500, rows_per_partition=1_000, seed=1,
                               source=source, progress=False)
    assert (a.rows, a.partitions, len(a.partition_paths())) == (2_500, 3, 3)
    frames = [pd.read_parquet(p) for p in a.partition_paths()]
    whole = pd.concat(frames)
    assert whole.index.name == scaling.INDEX and whole.index.is_unique
    assert list(whole.index) == list(range(2_500)) and "median_house_value" not in whole
    assert whole.equals(pd.concat(pd.read_parquet(p) for p in b.partition_paths()))
    assert (whole["total_bedrooms"].dropna() <= whole.loc[
        whole["total_bedrooms"].notna(), "total_rooms"]).all()
    assert a.memory_bytes > 0 and a.disk_bytes > 0
    with pytest.raises(scaling.ScalingError, match="at least 1"):
        scaling.make_districts(tmp_path / "c", 0, source=source)


def test_score_partition_keeps_every_row_and_the_problems(bundle_dir: Path) -> None:
    from mlops_course.batch_scoring import score_frame
    from mlops_course.service.bundle import load_bundle

    rows = make_synthetic_housing(200, seed=3).drop(columns="median_house_value")
    rows.index = rows.index + 1_000
    rows.loc[[1_005, 1_009], "median_income"] = -2.0
    out = scaling.score_partition(rows, bundle_dir)
    assert list(out.index) == list(rows.index)
    scored, rejected, _ = score_frame(rows, load_bundle(bundle_dir))
    assert out.loc[scored.index, scaling.PREDICTION_COLUMN].equals(
        scored[scaling.PREDICTION_COLUMN])
    assert out[scaling.PREDICTION_COLUMN].isna().sum() == 2
    assert (out.loc[[1_005, 1_009], scaling.PROBLEMS_COLUMN].str.contains("median_income")).all()
    assert len(scaling.score_partition(rows.iloc[:0], bundle_dir)) == 0


def test_errors_say_what_to_do(tmp_path: Path) -> None:
    frame = make_synthetic_housing(60, seed=1)
    with pytest.raises(scaling.ScalingError, match="'serial', 'loky' or 'dask'"):
        scaling.search(frame, CONFIGS, backend="ray")
    with pytest.raises(scaling.ScalingError, match="No Dask client"):
        scaling.search(frame, CONFIGS, backend="dask")
    with pytest.raises(scaling.ScalingError, match="get_task_stream"):
        scaling.plot_task_stream([])


def test_local_cluster_listens_on_loopback_and_stops_after_an_error(tmp_path: Path) -> None:
    from distributed import Client

    with pytest.raises(RuntimeError, match="boom"), scaling.local_cluster(  # noqa: PT012
            1, memory_limit="1GiB", local_directory=tmp_path / "scratch") as cluster:
        assert cluster.address.startswith("tcp://127.0.0.1:")
        with Client(cluster.address) as client:
            worker = next(iter(client.scheduler_info()["workers"]))
            assert worker.startswith("tcp://127.0.0.1:")
            pids = list(client.run(os.getpid).values())
            assert pids and all(psutil.pid_exists(p) for p in pids)
            listening = {c.laddr.ip for p in [psutil.Process(), *psutil.Process().children(
                recursive=True)] for c in p.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN}
            assert listening == {"127.0.0.1"}, f"listening on {listening}"
        raise RuntimeError("boom")
    assert scaling.leftover_processes() == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)


def test_the_same_jobs_over_a_scheduler_address(tmp_path: Path, bundle_dir: Path) -> None:
    """`dask scheduler` + `dask worker` processes: the search equals the serial one, the
    partitioned scoring equals one process, and nothing is left running afterwards."""
    from distributed import Client

    train = make_synthetic_housing(300, seed=4)
    serial = scaling.search(train, CONFIGS, n_folds=2, seed=0)
    districts = scaling.make_districts(tmp_path / "d", 3_000, rows_per_partition=1_000, seed=2,
                                       source=make_synthetic_housing(400, seed=6),
                                       progress=False)
    with scaling.cli_cluster(2, memory_limit="1GiB", local_directory=tmp_path / "s") as cluster:
        assert len(cluster.pids) == 2 and _listening(cluster.pids) == {"127.0.0.1"}
        with Client(cluster.address) as client:
            distributed = scaling.search(train, CONFIGS, n_folds=2, seed=0, backend="dask")
            run = scaling.score_dataset(districts, bundle_dir, tmp_path / "out")
            peaks = scaling.worker_peak_rss_mib(client)
    assert distributed.table.equals(serial.table)
    assert distributed.best_params == serial.best_params
    assert len(peaks) == 2 and all(v > 0 for v in peaks.values())
    assert scaling.leftover_processes(cluster.pids) == []
    single = scaling.score_single_process(districts, bundle_dir, tmp_path / "one.parquet")
    assert (run.rows, run.partitions) == (single.rows, 3) == (3_000, 3)
    one = pd.read_parquet(single.output_path)
    many = pd.read_parquet(run.output_path).loc[one.index]
    assert np.array_equal(one[scaling.PREDICTION_COLUMN].to_numpy(),
                          many[scaling.PREDICTION_COLUMN].to_numpy(), equal_nan=True)
    assert single.peak_rss_mib > 0 and run.scored + run.rejected == 3_000
