"""The ``mlops-course`` command: one entry point for students, instructors and CI.

    mlops-course data fetch [--force]          cache and verify the housing data
    mlops-course lessons list                  the lessons, in order
    mlops-course lessons run [NAMES] [--fast]  execute lessons, write build/lessons/summary.json
    mlops-course exercises generate [--check]  write exercises/ from solutions/
    mlops-course exercises check [NAMES]       solutions pass every test, student versions fail
"""

from __future__ import annotations

import argparse
import sys

from mlops_course.errors import MlopsCourseError


def _data_fetch(args: argparse.Namespace) -> int:
    from mlops_course.data import fetch_housing, load_housing

    path = fetch_housing(force=args.force)
    frame = load_housing(path)
    print(f"OK: {path} ({frame.shape[0]:,} rows x {frame.shape[1]} columns, sha256 verified)")
    return 0


def _lessons_list(args: argparse.Namespace) -> int:
    from mlops_course.course.lessons import discover

    for lesson in discover():
        print(f"{lesson.name:<32} {lesson.title}")
    return 0


def _lessons_run(args: argparse.Namespace) -> int:
    from mlops_course import config
    from mlops_course.course.lessons import run_lessons
    from mlops_course.data import fetch_housing

    fast = args.fast or config.fast_default()
    fetch_housing()  # fail early, with the data error, rather than in every lesson
    results = run_lessons(args.names or None, fast=fast, progress=not args.no_progress)
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"\n{len(failed)} lesson(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _exercises_generate(args: argparse.Namespace) -> int:
    from mlops_course.course.exercises import generate_exercises, load_exercise

    names = [load_exercise(name).name for name in args.names] or None
    changed = generate_exercises(names, check=args.check)
    for path in changed:
        print(("out of date: " if args.check else "wrote ") + str(path))
    if args.check and changed:
        print("Fix: run `make exercises` and commit the result.", file=sys.stderr)
        return 1
    if not changed:
        print("exercises/ is up to date")
    return 0


def _exercises_check(args: argparse.Namespace) -> int:
    from mlops_course.course.autograde import grade_answers
    from mlops_course.course.exercises import list_exercises, load_exercise

    status = 0
    for name in args.names or list_exercises():
        exercise = load_exercise(name)
        name = exercise.name
        for label, answers, want in (("solution", exercise.answers, "pass"),
                                     ("student stub", exercise.stub_answers(), "not pass")):
            outcomes = grade_answers(exercise, answers)
            wrong = [o for o in outcomes if (o.status == "pass") != (want == "pass")]
            points = sum(o.points for o in outcomes)
            verdict = "ok" if not wrong else "WRONG"
            print(f"{verdict:<5} {name} {label}: {points:g}/{exercise.max_points:g} points")
            for outcome in wrong:
                print(f"      {outcome.grade_id}: {outcome.status} {outcome.message}")
                status = 1
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops-course", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="the housing data set").add_subparsers(
        dest="action", required=True)
    fetch = data.add_parser("fetch", help="download (or copy from the mirror), verify, cache")
    fetch.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch.set_defaults(func=_data_fetch)

    lessons = commands.add_parser("lessons", help="the lesson notebooks").add_subparsers(
        dest="action", required=True)
    lessons.add_parser("list", help="list the lessons").set_defaults(func=_lessons_list)
    run = lessons.add_parser("run", help="execute lessons through papermill")
    run.add_argument("names", nargs="*", help="lesson names or numbers (default: all)")
    run.add_argument("--fast", action="store_true", help="fast mode (also: FAST=1)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=_lessons_run)

    exercises = commands.add_parser("exercises", help="exercise notebooks").add_subparsers(
        dest="action", required=True)
    gen = exercises.add_parser("generate", help="write exercises/ from solutions/")
    gen.add_argument("names", nargs="*")
    gen.add_argument("--check", action="store_true", help="only report what is out of date")
    gen.set_defaults(func=_exercises_generate)
    chk = exercises.add_parser("check", help="solutions pass, student stubs fail")
    chk.add_argument("names", nargs="*")
    chk.set_defaults(func=_exercises_check)

    from mlops_course.course.autograde.cli import add_commands as add_grade_commands
    from mlops_course.pipeline import add_commands as add_pipeline_commands

    add_grade_commands(commands)  # mlops-course grade ...
    add_pipeline_commands(commands)  # mlops-course pipeline prepare|train|evaluate (dvc.yaml)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MlopsCourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
