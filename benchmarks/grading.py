"""Benchmark the autograder: honest submissions graded per minute, and where the time goes.

    .venv/bin/python benchmarks/grading.py [--submissions 50] [--jobs 2] [--exercise 01]

Writes a batch of honest submissions (full, partial and untouched, as .ipynb and .py)
of one exercise to a temporary folder, grades it like ``mlops-course grade`` does, and
prints the throughput and the split of each submission's wall time between starting the
sandbox (process, namespaces, root file system, interpreter and worker imports), the
exercise's setup cells (imports, data) and the student's answer cells and probes. For
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
    args = parser.parse_args(argv)
    name = next(n for n in list_exercises() if n.startswith(args.exercise))
    limits = Limits()
    sandbox = Sandbox.detect(limits)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}")
    print(sandbox.describe())
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder, out = Path(tmp) / "submissions", Path(tmp) / "out"
        folder.mkdir()
        write_batch(name, folder, args.submissions)
        started = time.perf_counter()
        report = grade_folder(name, folder, out, jobs=args.jobs, sandbox=sandbox)
        wall = time.perf_counter() - started
        parts = split(report)
        print(f"\n{len(report.results)} honest submissions of {name}, {args.jobs} jobs, "
              f"mode {sandbox.mode}: {wall:.1f} s -> "
              f"{60 * len(report.results) / wall:.0f} submissions/minute")
        rest = parts["wall"] - parts["start"] - parts["setup"] - parts["code"]
        print(f"per submission (mean): {parts['wall']:.3f} s wall = sandbox start "
              f"{parts['start']:.3f} s + exercise setup cells {parts['setup']:.3f} s "
              f"(imports, data) + student answers and probes {parts['code']:.3f} s + "
              f"grader {rest:.3f} s (verify, teardown)")
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
                                           sandbox=box, progress=False))
                print(f"  {mode:<10} (1 job, {args.compare} submissions): sandbox start "
                      f"{again['start']:.3f} s, setup {again['setup']:.3f} s, answers and "
                      f"probes {again['code']:.3f} s, wall {again['wall']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
