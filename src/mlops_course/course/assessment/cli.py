"""The assessment's commands (added to ``mlops-course`` by :func:`add_commands`).

    mlops-course assignment starter NAME OUT       a git-initialised starter repository
    mlops-course assignment reference NAME OUT     the reference solution (instructor edition)
    mlops-course assignment viva [LESSONS]         viva question banks with model answers
    mlops-course check-project NAME REPO [--out DIR]          the rubric's automated items
    mlops-course check-project NAME FOLDER --batch --out DIR  every repository in FOLDER
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _starter(args: argparse.Namespace) -> int:
    from mlops_course.course.assessment.starter import write_starter

    out = write_starter(args.name, Path(args.out), reference=args.reference)
    kind = "reference solution" if args.reference else "starter"
    print(f"wrote the {kind} of {args.name} to {out} (a Git repository, one commit)")
    if not args.reference:
        print(f"Next: read assessment/{args.name}/brief.md, then check your work with "
              f"`mlops-course check-project {args.name} {out}`")
    return 0


def _viva(args: argparse.Namespace) -> int:
    from mlops_course.course.assessment.viva import render_bank

    print(render_bank(args.lessons or None))
    return 0


def _check_project(args: argparse.Namespace) -> int:
    from mlops_course.course.assessment.checker import check_project
    from mlops_course.course.assessment.report import check_folder, write_class_csv, write_report
    from mlops_course.course.assessment.runner import Limits

    limits = Limits(command_timeout_s=args.timeout, total_timeout_s=args.total_timeout,
                    memory_mb=args.memory_mb)
    out = Path(args.out) if args.out else None

    def progress(step: str) -> None:
        print(f"  .. {step}", file=sys.stderr, flush=True)

    if args.batch:
        if out is None:
            print("error: --batch needs --out DIR (the reports and class.csv)", file=sys.stderr)
            return 2
        reports = check_folder(args.assignment, Path(args.repo), out, limits, progress)
        for report in reports:
            print(f"{report.student:<24} {report.automated_points:>5g} / "
                  f"{report.automated_max:g}  {report.status()}"
                  f"{'  ' + report.error if report.error else ''}")
        print(f"{len(reports)} repositories; reports and class.csv in {out}")
        return 0
    report = check_project(args.assignment, Path(args.repo), limits,
                           progress=lambda item: progress(f"checking {item}"))
    print(report.markdown())
    if out is not None:
        folder = write_report(report, out)
        write_class_csv([report], out / "class.csv")
        print(f"report: {folder / 'report.md'}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``assignment`` and ``check-project`` subcommands of ``mlops-course``."""
    from mlops_course.course.assessment.checker import ASSIGNMENTS

    assignment = commands.add_parser("assignment", help="the assessment: starters, "
                                     "reference solutions, viva banks").add_subparsers(
        dest="action", required=True)
    for action, reference in (("starter", False), ("reference", True)):
        sub = assignment.add_parser(action, help=(
            "write a starter repository (git-initialised)" if not reference else
            "write the reference solution (instructor edition only)"))
        sub.add_argument("name", choices=ASSIGNMENTS)
        sub.add_argument("out", help="a new or empty folder")
        sub.set_defaults(func=_starter, reference=reference)
    viva = assignment.add_parser("viva", help="viva questions with model answers "
                                 "(instructor edition only)")
    viva.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    viva.set_defaults(func=_viva)

    check = commands.add_parser("check-project", help="run a student's repository through "
                                "the rubric's automated items, in a sandbox")
    check.add_argument("assignment", choices=ASSIGNMENTS)
    check.add_argument("repo", help="the repository (or, with --batch, a folder of them)")
    check.add_argument("--out", default=None, help="write report.md/.json and class.csv here")
    check.add_argument("--batch", action="store_true", help="REPO is a folder of repositories")
    check.add_argument("--timeout", type=float, default=180.0, help="seconds per command")
    check.add_argument("--total-timeout", type=float, default=600.0,
                       help="seconds per repository")
    check.add_argument("--memory-mb", type=int, default=4096, help="address space per process")
    check.set_defaults(func=_check_project)
