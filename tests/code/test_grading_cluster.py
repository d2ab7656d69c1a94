"""Grading on a Dask cluster (issue #14): the hostile corpus graded through a scheduler on
127.0.0.1 with two separate worker processes gives exactly the committed gradebook, and
no scheduler, worker or sandbox is left running afterwards."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_course.course.autograde import grade_folder
from mlops_course.course.autograde.sandbox import Sandbox

HERE = Path(__file__).resolve().parents[1] / "grading"
DASK = Path(sys.executable).with_name("dask")


def _corpus_module():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("grading_corpus", HERE / "test_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen([str(DASK), *args], stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"})


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (a worker closes its warm sandboxes), then SIGKILL to the whole group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry)) == pgid:
                    return True
    return False


def test_a_cluster_grades_the_corpus_exactly_like_a_local_run(tmp_path: Path) -> None:
    corpus = _corpus_module()
    sandbox = Sandbox.detect(corpus.LIMITS)
    if sandbox.mode != "namespaces":
        reason = f"the corpus's gradebook assumes the full sandbox; here: {sandbox.describe()}"
        if os.environ.get("CI") == "true" or (
                os.geteuid() == 0 and shutil.which("unshare") and not os.environ.get(
                    "MLOPS_COURSE_ALLOW_WEAK_SANDBOX")):
            pytest.fail(reason)
        pytest.skip(reason)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    shutil.copytree(corpus.CORPUS, submissions)
    corpus._add_runtime_submissions(submissions)
    started: list[subprocess.Popen] = []
    try:
        scheduler_file = tmp_path / "scheduler.json"
        started.append(_start(["scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                               "--scheduler-file", str(scheduler_file)],
                              tmp_path / "scheduler.log"))
        for _ in range(600):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            assert started[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for number in range(2):  # two separate worker processes, one job each
            started.append(_start(["worker", address, "--nthreads", "1", "--no-nanny",
                                   "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                                   "--host", "127.0.0.1",
                                   "--name", f"grader-{number}",
                                   "--local-directory", str(tmp_path / f"w{number}")],
                                  tmp_path / f"worker-{number}.log"))
        from distributed import Client

        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        report = grade_folder(corpus.EXERCISE, submissions, out, limits=corpus.LIMITS,
                              sandbox=sandbox, progress=False, scheduler=address)
    finally:
        for process in reversed(started):
            _stop(process)
    assert report.jobs == 2
    assert (out / "grades.csv").read_text() == (corpus.EXPECTED / "grades.csv").read_text()
    assert corpus._statuses(out) == (corpus.EXPECTED / "statuses.csv").read_text()
    assert {r.sandbox for r in report.results if r.launches} == {"namespaces"}
    assert not [p.pid for p in started if _group_alive(p.pid)], "a scheduler or worker lives"
    slots = Path("/tmp") / f"mlops-course-grading-{os.getuid()}"
    assert not any(corpus._processes_of(corpus.SANDBOX_UID_BASE + n) for n in range(8)
                   if (slots / f"slot-{n}.lock").exists() and _free(slots / f"slot-{n}.lock"))


def _free(lock: Path) -> bool:
    import fcntl

    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True
