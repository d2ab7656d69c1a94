"""``mlops-course grade EXERCISE SUBMISSIONS_DIR --out OUT_DIR``: grade a folder of
student submissions in the sandbox and write the gradebook."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlops_course.errors import MlopsCourseError


def add_commands(commands: Any) -> None:
    """Register the ``grade`` subcommand on the CLI's subparsers."""
    grade = commands.add_parser(
        "grade", help="grade a folder of student submissions (sandboxed)",
        description="Run each submission's answer cells and the exercise's tests (hidden "
                    "ones included) in a sandbox; write OUT/grades.csv and, per student, "
                    "OUT/<student>.json and OUT/<student>.md. Re-running resumes: results "
                    "of unchanged submissions are reused.")
    grade.add_argument("exercise", help="exercise name as in exercises/, e.g. "
                                        "01_traditional_workflow (or its number, 01)")
    grade.add_argument("submissions", type=Path,
                       help="folder with one .ipynb or .py per student (or one folder each)")
    grade.add_argument("--out", type=Path, required=True, help="output folder (created)")
    grade.add_argument("--jobs", type=_positive(int), default=None,
                       help="submissions graded at once (default: number of CPUs)")
    grade.add_argument("--timeout", type=_positive(float), default=120.0,
                       help="wall-clock seconds per submission (default 120)")
    grade.add_argument("--step-timeout", type=_positive(float), default=None,
                       help="seconds per answer cell or test (default: a fair share of "
                            "--timeout)")
    grade.add_argument("--memory-mb", type=_positive(int), default=2048,
                       help="address space per process in MB (default 2048)")
    grade.add_argument("--max-submission-mb", type=_positive(float), default=20.0,
                       help="larger submission files are not read (default 20)")
    grade.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="grade on a Dask cluster: the scheduler's address, e.g. "
                            "tcp://10.0.0.1:8786 (each worker grades in its own sandbox; "
                            "the gradebook is written here, as in a local run)")
    grade.add_argument("--cold", action="store_true",
                       help="a fresh sandbox for every submission instead of one warm "
                            "sandbox per job (several times slower; see README's grading section)")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.set_defaults(func=_grade)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _resolve_exercise(name: str) -> str:
    from mlops_course.course.exercises import list_exercises

    known = list_exercises()
    if name in known:
        return name
    matches = [n for n in known if n.startswith(name.zfill(2) + "_") or n.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    raise MlopsCourseError(f"No exercise {name!r}. Known: {', '.join(known) or 'none'}. "
                           "Fix: pass a name from exercises/ without .ipynb")


def _grade(args: argparse.Namespace) -> int:
    from mlops_course.course.autograde.batch import grade_folder, summarize
    from mlops_course.course.autograde.sandbox import Limits

    if not args.submissions.is_dir():
        raise MlopsCourseError(
            f"The submissions folder {args.submissions} does not exist. Fix: pass the folder "
            "that holds one .ipynb or .py per student, e.g. `make grade EXERCISE=01 "
            "SUBMISSIONS=path/to/folder OUT=build/grades`")
    try:
        limits = Limits(timeout_s=args.timeout, step_timeout_s=args.step_timeout,
                        memory_mb=args.memory_mb)
    except ValueError as exc:
        raise MlopsCourseError(str(exc)) from exc
    report = grade_folder(_resolve_exercise(args.exercise), args.submissions, args.out,
                          jobs=args.jobs, limits=limits, progress=not args.no_progress,
                          max_submission_bytes=int(args.max_submission_mb * 1e6),
                          scheduler=args.scheduler, warm=not args.cold)
    print(summarize(report))
    return 0
