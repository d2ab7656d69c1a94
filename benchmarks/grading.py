"""Benchmark the autograder: honest submissions graded per minute, and where the time goes.

    .venv/bin/python benchmarks/grading.py [--submissions 50] [--jobs 2] [--exercise 01]

Writes a batch of honest submissions (full, partial and untouched, as .ipynb and .py)
of one exercise to a temporary folder, grades it like ``mlops-course grade`` does three
times (locally with a fresh sandbox per submission, locally with warm zygotes, the
default, and through a Dask scheduler with ``--jobs`` workers started on 127.0.0.1),
checks the three gradebooks are the same, and prints submissions/minute of each and the
split of each submission's wall time between starting the sandbox (or, warm, forking a
submission's zygote), the exercise's setup cells (imports, data) and the student's
answer cells and probes. For
comparison it grades a few submissions again in the ``limits`` sandbox (plain processes,
no namespaces), so the cost of the isolation layers is measured on the same machine in
the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat

from mlops_course.course.autograde import Limits, Sandbox, grade_folder
from mlops_course.course.autograde.batch import BatchReport
from mlops_course.course.exercises import list_exercises, load_exercise, student_notebook


def write_batch(name: str, folder: Path, count: int, seed: int = 42) -> None:
    """``count`` honest submissions: a third full, a third partial, a third untouched."""
    import random

    rng = random.Random(seed)
    exercise = load_exercise(name)
    ids = list(exercise.answers)
    for number in range(count):
        kind = number % 3
        keep = set(ids) if kind == 0 else set(rng.sample(ids, rng.randint(1, len(ids) - 1))
                                               ) if kind == 1 else set()
        nb = student_notebook(exercise)
        for cell in nb.cells:
            grade_id = cell.metadata.get("grade_id")
            if grade_id in keep and "solution" in cell.metadata.get("tags", []):
                cell.source = exercise.answers[grade_id] + f"\n# submission {number}\n"
        if number % 2:
            (folder / f"student{number:03d}.py").write_text(jupytext.writes(nb, "py:percent"))
        else:
            (folder / f"student{number:03d}.ipynb").write_text(nbformat.writes(nb))


def split(report: BatchReport) -> dict[str, float]:
    """Mean seconds per submission: wall, sandbox start (per launch), student code."""
    graded = [r for r in report.results if r.launches]
    return {
        "wall": statistics.fmean(r.seconds for r in graded),
        "start": statistics.fmean(r.startup_s / r.launches for r in graded),
        "setup": statistics.fmean(r.setup_s for r in graded),
        "code": statistics.fmean(r.code_s - r.setup_s for r in graded),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--exercise", default="01")
    parser.add_argument("--compare", type=int, default=6,
                        help="submissions graded again in the limits-only sandbox (0: skip)")
    parser.add_argument("--no-cluster", action="store_true",
                        help="skip grading through a local Dask cluster")
    args = parser.parse_args(argv)
    name = next(n for n in list_exercises() if n.startswith(args.exercise))
    limits = Limits()
    sandbox = Sandbox.detect(limits)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}")
    print(sandbox.describe())
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        write_batch(name, folder, args.submissions)
        rates, grades = {}, {}
        for label, warm in (("cold", False), ("warm", True)):
            started = time.perf_counter()
            report = grade_folder(name, folder, Path(tmp) / f"out-{label}", jobs=args.jobs,
                                  sandbox=sandbox, warm=warm)
            wall = time.perf_counter() - started
            rates[label] = 60 * len(report.results) / wall
            grades[label] = (Path(tmp) / f"out-{label}" / "grades.csv").read_text()
            parts = split(report)
            what = ("a fresh sandbox per submission (start, setup cells, answers)"
                    if not warm else "warm zygotes: one sandbox per job, setup cells once, "
                                     "a fresh submission zygote forked per submission")
            print(f"\nlocal, {label}: {what}\n  {len(report.results)} honest submissions of "
                  f"{name}, {args.jobs} jobs, mode {sandbox.mode}: {wall:.1f} s -> "
                  f"{rates[label]:.0f} submissions/minute")
            rest = parts["wall"] - parts["start"] - parts["setup"] - parts["code"]
            print(f"  per submission (mean): {parts['wall']:.3f} s wall = sandbox start "
                  f"{parts['start']:.3f} s + exercise setup cells {parts['setup']:.3f} s "
                  f"(imports, data) + student answers and probes {parts['code']:.3f} s + "
                  f"grader {rest:.3f} s (verify, teardown)")
        if not args.no_cluster:
            rates["cluster"], grades["cluster"] = _cluster(name, folder, Path(tmp), args.jobs,
                                                           sandbox)
        print("\nsubmissions/minute: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
              + f" (warm/cold {rates['warm'] / rates['cold']:.1f}x); the same gradebook in "
              f"every run: {len(set(grades.values())) == 1}")
        scores = sorted({r.total for r in report.results})
        print(f"scores seen: {', '.join(f'{s:g}' for s in scores)} (of "
              f"{report.exercise.max_points:g})")
        if args.compare and sandbox.mode != "limits":
            few = Path(tmp) / "few"
            few.mkdir()
            for path in sorted(folder.iterdir())[: args.compare]:
                (few / path.name).write_bytes(path.read_bytes())
            for mode, box in (("limits", Sandbox.detect(limits, modes=("limits",))),
                              (sandbox.mode, sandbox)):
                again = split(grade_folder(name, few, Path(tmp) / f"out-{mode}", jobs=1,
                                           sandbox=box, progress=False, warm=False))
                print(f"  {mode:<10} (1 job, {args.compare} submissions): sandbox start "
                      f"{again['start']:.3f} s, setup {again['setup']:.3f} s, answers and "
                      f"probes {again['code']:.3f} s, wall {again['wall']:.3f} s")
    return 0


def _cluster(name: str, folder: Path, tmp: Path, jobs: int, sandbox: Sandbox
             ) -> tuple[float, str]:
    """Grade the batch through a Dask scheduler and ``jobs`` one-thread workers started
    here on 127.0.0.1; submissions/minute once the workers are ready, and the gradebook."""
    from distributed import Client

    from mlops_course.course.autograde.cluster import local_cluster, prepare
    from mlops_course.course.autograde.gradebook import fingerprint

    began = time.perf_counter()
    with local_cluster(jobs, 1, folder=tmp) as address:
        ready = time.perf_counter() - began
        exercise = load_exercise(name)
        with Client(address, set_as_default=False) as client:  # imports, sandbox choice
            client.run(prepare, name, sandbox.limits, fingerprint(exercise, sandbox.limits))
        warmed = time.perf_counter() - began - ready
        started = time.perf_counter()
        report = grade_folder(name, folder, tmp / "out-cluster", sandbox=sandbox,
                              scheduler=address)
        wall = time.perf_counter() - started
    rate = 60 * len(report.results) / wall
    print(f"\ncluster: a Dask scheduler and {jobs} workers (1 thread each) on 127.0.0.1, "
          f"started in {ready:.1f} s, workers ready to grade after {warmed:.1f} s more\n"
          f"  {len(report.results)} honest submissions of {name}: {wall:.1f} s -> "
          f"{rate:.0f} submissions/minute")
    return rate, (tmp / "out-cluster" / "grades.csv").read_text()


if __name__ == "__main__":
    sys.exit(main())
