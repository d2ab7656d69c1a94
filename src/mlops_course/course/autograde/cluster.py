"""Grade on a Dask cluster: ``mlops-course grade 01 DIR --out OUT --scheduler ADDRESS``.

The batch runs as it does locally (reading, resuming, feedback and the gradebook stay
on this machine, in :func:`~mlops_course.course.autograde.batch.grade_folder`); only
:func:`~mlops_course.course.autograde.core.run_submission` moves: one Dask task per
submission carries the exercise's name, the limits and the answer cells read from the
submission, and the worker that takes it runs them in its own machine's strongest
sandbox, with its warm zygotes, and returns the run's report. A worker checks that its
copy of the exercise is the one this machine grades (the same fingerprint as the
gradebook's), else the task fails and the submission is marked ``sandbox error``.

Start a cluster on the grading machines (as root for the full sandbox), e.g.::

    dask scheduler --host 10.0.0.1                       # on one machine
    dask worker tcp://10.0.0.1:8786 --nthreads 2 --no-nanny   # on each grading machine

Each worker thread is one job: it holds one warm sandbox at a time.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mlops_course.course.autograde.core import RunReport, run_submission
from mlops_course.course.autograde.gradebook import fingerprint
from mlops_course.course.autograde.sandbox import Limits, Sandbox
from mlops_course.course.autograde.warm import WarmZygotes
from mlops_course.course.exercises import Exercise, load_exercise
from mlops_course.errors import MlopsCourseError

CONNECT_TIMEOUT_S = 30


class Cluster:
    """A connection to a Dask scheduler that grades one exercise's submissions."""

    def __init__(self, address: str, exercise: Exercise, limits: Limits, key: str, *,
                 warm: bool = True) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - installed with the course
            raise MlopsCourseError("--scheduler needs dask.distributed: pip install "
                                   "'dask[distributed]'") from exc
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except OSError as exc:
            raise MlopsCourseError(
                f"Could not reach the Dask scheduler at {address} within "
                f"{CONNECT_TIMEOUT_S} s ({exc}). Fix: start one with `dask scheduler` and "
                "pass the address it prints (tcp://HOST:8786)") from exc
        nthreads = self.client.nthreads()
        threads = sum(nthreads.values())
        if not threads:
            self.client.close()
            raise MlopsCourseError(f"The Dask scheduler at {address} has no workers. Fix: "
                                   f"start some with `dask worker {address} --no-nanny`")
        self.jobs = threads
        self.exercise, self.limits, self.key, self.warm = exercise.name, limits, key, warm
        # one task in flight per worker thread, each grading thread bound to one worker: no
        # task waits behind another on a busy worker while one is idle, and a worker's
        # warm zygotes see the same stream of submissions
        self._slots: queue.SimpleQueue[str] = queue.SimpleQueue()
        for address, count in sorted(nthreads.items()):
            for _ in range(count):
                self._slots.put(address)
        self._local = threading.local()
        # every worker loads the exercise and picks its sandbox now, all at once, rather
        # than in its first task; a worker with another copy of the course fails here
        started = time.monotonic()
        self.client.run(prepare, self.exercise, limits, key)
        self.prepare_s = time.monotonic() - started

    def run(self, answers: dict[str, str]) -> tuple[RunReport, str]:
        """Grade one submission's answers on a worker: (its run's report, sandbox mode)."""
        if getattr(self._local, "worker", None) is None:
            self._local.worker = self._slots.get_nowait()
        # a loose restriction: should that worker leave, another one takes the task
        future = self.client.submit(grade_task, self.exercise, answers, self.limits,
                                    self.key, self.warm, pure=False,
                                    workers=[self._local.worker], allow_other_workers=True)
        try:
            return future.result()
        finally:
            future.release()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


# ------------------------------------------------------------------- on the worker

_LOCK = threading.Lock()
_ZYGOTES: list[WarmZygotes] = []
_EXERCISES: dict[str, Exercise] = {}


def _zygotes() -> WarmZygotes:
    with _LOCK:
        if not _ZYGOTES:
            _ZYGOTES.append(WarmZygotes())
            atexit.register(_ZYGOTES[0].close)
        return _ZYGOTES[0]


def prepare(name: str, limits: Limits, key: str) -> str:
    """On a worker: load the exercise, check it is the grader's, pick the sandbox; its
    mode."""
    with _LOCK:
        if name not in _EXERCISES:
            _EXERCISES[name] = load_exercise(name)
        exercise = _EXERCISES[name]
    if fingerprint(exercise, limits) != key:
        raise MlopsCourseError(f"this worker's copy of {name} differs from the grader's "
                               "(another version of the course?): update it and grade again")
    return Sandbox.detect(limits).mode


def grade_task(name: str, answers: dict[str, str], limits: Limits, key: str,
               warm: bool = True) -> tuple[RunReport, str]:
    """The Dask task: run one submission in this machine's sandbox."""
    prepare(name, limits, key)
    exercise = _EXERCISES[name]
    sandbox = Sandbox.detect(limits).with_limits(limits)
    report = run_submission(exercise, answers, sandbox=sandbox,
                            zygotes=_zygotes() if warm else None)
    return report, sandbox.mode


def close_worker_sandboxes() -> None:
    """Kill this process's warm sandboxes (also done at exit)."""
    with _LOCK:
        held = list(_ZYGOTES)
    for zygotes in held:
        zygotes.close()




@contextlib.contextmanager
def local_cluster(workers: int = 2, threads: int = 1, *, folder: Path | None = None,
                  timeout_s: float = 60.0) -> Iterator[str]:
    """A Dask scheduler and ``workers`` worker processes on 127.0.0.1 (for benchmarks and
    tests); yields the scheduler's address; every process is stopped on exit."""
    import json
    import signal
    import subprocess
    import sys
    import tempfile

    dask = str(Path(sys.executable).with_name("dask"))
    started: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="mlops-dask-", dir=folder) as tmp:
        def start(args: list[str], name: str) -> None:
            with open(Path(tmp) / f"{name}.log", "wb") as log:
                started.append(subprocess.Popen(
                    [dask, *args], stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True))

        try:
            info = Path(tmp) / "scheduler.json"
            # --no-dashboard still serves /health and /metrics: on loopback, not 0.0.0.0:8787
            start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(info)],
                  "scheduler")
            deadline = time.monotonic() + timeout_s
            while not (info.exists() and info.stat().st_size):
                if started[0].poll() is not None or time.monotonic() > deadline:
                    raise MlopsCourseError("the Dask scheduler did not start: "
                                           + (Path(tmp) / "scheduler.log").read_text()[-500:])
                time.sleep(0.05)
            address = json.loads(info.read_text())["address"]
            for number in range(workers):
                start(["worker", address, "--nthreads", str(threads), "--no-nanny",
                       "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                       "--host", "127.0.0.1", "--local-directory",
                       str(Path(tmp) / f"worker-{number}")], f"worker-{number}")
            from distributed import Client

            with Client(address, timeout=timeout_s, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=timeout_s)
            yield address
        finally:
            for process in reversed(started):  # workers first: they close their sandboxes
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)


__all__ = ["Cluster", "close_worker_sandboxes", "grade_task", "local_cluster", "prepare"]
