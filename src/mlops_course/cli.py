"""The ``mlops-course`` command: one entry point for students, instructors and CI.

    mlops-course data fetch [--force]          cache and verify the housing data
    mlops-course lessons list                  the lessons, in order
    mlops-course lessons run [NAMES] [--fast]  execute lessons, write build/lessons/summary.json
    mlops-course lessons outputs [NAMES]       run lessons in full mode, store their outputs
    mlops-course lessons check-outputs [NAMES] nbval: stored outputs against a fresh run
    mlops-course exercises generate [--check]  write exercises/ from solutions/ (keeps answers)
    mlops-course exercises check [NAMES]       solutions pass every test, student versions fail
    mlops-course bench [--full]                the MLP every way (lessons 6, 7): speed, size, RMSE
    mlops-course serve [--model M] [--port N]  the prediction service (lesson 8) on 127.0.0.1
    mlops-course score IN --out OUT [--model M]  batch scoring of a CSV/Parquet file (lesson 8)
    mlops-course lab [--setup-only] [ARGS]     JupyterLab on the course
    mlops-course release OUT                   write the student edition (no solutions)
    mlops-course audit [--rows N] [--full]     the ML Test Score of the system (lesson 10)
    mlops-course image base|build              the service's container image (lesson 3)
    mlops-course assignment starter NAME OUT   an assignment's starter repository
    mlops-course check-project NAME REPO       an assignment's automated rubric items
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


def _lessons_outputs(args: argparse.Namespace) -> int:
    from mlops_course.course.outputs import refresh_outputs
    from mlops_course.data import fetch_housing

    fetch_housing()
    written = refresh_outputs(args.names or None)
    print(f"stored full-mode outputs in {len(written)} notebook(s); review and commit them")
    return 0


def _lessons_check_outputs(args: argparse.Namespace) -> int:
    from mlops_course.course.lessons import discover
    from mlops_course.course.outputs import check_outputs, outputs_advice

    status = 0
    for lesson in discover(args.names or None):
        result = check_outputs(lesson)
        print(f"{'ok' if result.ok else 'FAILED':<6} {lesson.name} ({result.seconds:.0f} s)")
        if not result.ok:
            print(result.report + "\n\n" + outputs_advice(result), file=sys.stderr)
            status = 1
    return status


def _bench(args: argparse.Namespace) -> int:
    import time

    from mlops_course.bench import environment_report, format_report, model_variants_report
    from mlops_course.data import fetch_housing

    fetch_housing()
    start = time.perf_counter()
    table = model_variants_report(fast=not args.full, progress=not args.no_progress)
    print(format_report(environment_report()))
    print(f"\nThe house-price MLP, every way (lessons 6 and 7), measured in one run "
          f"({time.perf_counter() - start:.0f} s, {'full' if args.full else 'fast'} mode); "
          "speed-ups against eager fp32, 1 thread:")
    print(table.to_string(float_format=lambda v: f"{v:,.3f}"))
    return 0


def _serve(args: argparse.Namespace) -> int:
    import os

    from mlops_course import config
    from mlops_course.service.bundle import export_bundle, resolve_model

    bundles = [export_bundle(resolve_model(args.model, quiet=False)),
               export_bundle(resolve_model(args.canary, quiet=False)) if args.canary else None]
    log_file = args.log_file or str(config.build_dir() / "serving" / "predictions.jsonl")
    command = [sys.executable, "-m", "mlops_course.service.server", "--bundle", str(bundles[0]),
               "--host", args.host, "--port", str(args.port), "--log-file", log_file]
    if bundles[1] is not None:
        command += ["--canary", str(bundles[1]), "--canary-weight", str(args.canary_weight)]
    print(f"bundle {bundles[0]}; predictions logged to {log_file}", flush=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.execv(sys.executable, command)  # a fresh interpreter: no scikit-learn in the server
    return 0  # not reached


def _score(args: argparse.Namespace) -> int:
    from mlops_course.batch_scoring import score_file
    from mlops_course.service.bundle import export_bundle, load_bundle, resolve_model

    bundle = load_bundle(export_bundle(resolve_model(args.model, quiet=False)))
    print(score_file(args.input, args.out, bundle, chunk_rows=args.chunk_rows).summary())
    return 0


def _lab(args: argparse.Namespace) -> int:
    from mlops_course.course.lab import configure_lab, run_lab

    if args.setup_only:
        for path in configure_lab():
            print(f"wrote {path}")
        return 0
    return run_lab([a for a in args.jupyter_args if a != "--"])


def _release(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_course.course.release import build_student_edition

    edition = build_student_edition(Path(args.out))
    print(edition.summary())
    print("Next: make it a repository of its own (`git init`, commit) or update one "
          "(`git add -A && git commit` in it).")
    return 0


def _book(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_course.course.book import build_book

    report = build_book(Path(args.out) if args.out else None,
                        prefer="stored" if args.stored else "run")
    print(report.format())
    print(f"Open {report.out_dir / 'index.html'} in a browser (no server needed).")
    return 0


def _exercises_generate(args: argparse.Namespace) -> int:
    from mlops_course.course.exercises import (
        generate_exercises,
        inspect_exercise_file,
        load_exercise,
        stray_exercise_files,
    )

    names = [load_exercise(name).name for name in args.names] or None
    notes: list[str] = []
    changed = generate_exercises(names, check=args.check, pristine=args.pristine, notes=notes)
    for path in changed:
        if args.check:
            print(inspect_exercise_file(load_exercise(path.stem), path).advice())
        else:
            print(f"wrote {path}")
    for note in notes:
        print(note)
    for path in stray_exercise_files():
        print(f"note: {path} has no solution any more (an old exercise?)")
    if args.check and changed:
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


def _audit(args: argparse.Namespace) -> int:
    from mlops_course.audit import run_audit
    from mlops_course.data import fetch_housing

    fetch_housing()
    report = run_audit(rows=None if args.full else args.rows)
    print(report.format())
    print(f"({report.seconds:.0f} s)")
    if report.failed:
        print(f"error: {len(report.failed)} automated check(s) failed: "
              f"{', '.join(o.item.check for o in report.failed)}. The score above counts them "
              "as 0; fix the system (or the check), then run `mlops-course audit` again.",
              file=sys.stderr)
        return 1
    return 0


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
    outputs = lessons.add_parser("outputs", help="run lessons in full mode and store their "
                                 "outputs in notebooks/*.ipynb")
    outputs.add_argument("names", nargs="*", help="lesson names or numbers (default: all)")
    outputs.set_defaults(func=_lessons_outputs)
    check_outputs = lessons.add_parser("check-outputs", help="nbval: the stored outputs "
                                       "against a fresh full-mode run")
    check_outputs.add_argument("names", nargs="*", help="lesson names or numbers (default: all)")
    check_outputs.set_defaults(func=_lessons_check_outputs)

    exercises = commands.add_parser("exercises", help="exercise notebooks").add_subparsers(
        dest="action", required=True)
    gen = exercises.add_parser("generate", help="write exercises/ from solutions/")
    gen.add_argument("names", nargs="*")
    gen.add_argument("--check", action="store_true", help="only report what is out of date")
    gen.add_argument("--pristine", action="store_true",
                     help="do not carry edited answers over (the old file is still copied)")
    gen.set_defaults(func=_exercises_generate)
    chk = exercises.add_parser("check", help="solutions pass, student stubs fail")
    chk.add_argument("names", nargs="*")
    chk.set_defaults(func=_exercises_check)

    bench = commands.add_parser("bench", help="lessons 6 and 7 in one run: the MLP eager, "
                                "compiled, in ONNX Runtime, in fp16/bf16/int8 (speed, size, RMSE)")
    bench.add_argument("--full", action="store_true", help="all districts, more repeats")
    bench.add_argument("--no-progress", action="store_true", help="no training progress bar")
    bench.set_defaults(func=_bench)

    serve = commands.add_parser("serve", help="the prediction service (FastAPI, ONNX Runtime) "
                                "on 127.0.0.1; /docs lists its endpoints")
    serve.add_argument("--model", default=None, help="a joblib file or models:/NAME@ALIAS "
                       "(default: the DVC pipeline's build/dvc/model.joblib, built if missing)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-file", default=None, help="prediction log, JSON lines "
                       "(default: build/serving/predictions.jsonl)")
    serve.add_argument("--canary", default=None, help="a second model for a canary")
    serve.add_argument("--canary-weight", type=float, default=0.1,
                       help="its share of traffic (default 0.1)")
    serve.set_defaults(func=_serve)

    score = commands.add_parser("score", help="batch scoring: predict every district of a "
                                "CSV or Parquet file")
    score.add_argument("input", help="a .csv or .parquet file of districts")
    score.add_argument("--out", required=True, help="the scored file (.csv or .parquet)")
    score.add_argument("--model", default=None, help="as for serve")
    score.add_argument("--chunk-rows", type=int, default=8192)
    score.set_defaults(func=_score)

    lab = commands.add_parser("lab", help="JupyterLab on the course (IPC kernels, idle kernels "
                              "shut down, .py lessons open as notebooks)")
    lab.add_argument("--setup-only", action="store_true",
                     help="write the settings into this environment, do not start JupyterLab")
    lab.set_defaults(func=_lab, jupyter_args=[])  # other arguments go to `jupyter lab`

    audit = commands.add_parser("audit", help="the ML Test Score of the course's system "
                                "(lesson 10): real checks, the rubric by section")
    audit.add_argument("--rows", type=int, default=6_000, help="districts the model checks use")
    audit.add_argument("--full", action="store_true", help="every district")
    audit.set_defaults(func=_audit)

    release = commands.add_parser("release", help="write the student edition: no solutions, "
                                  "no hidden tests, no grading corpus")
    release.add_argument("out", help="the folder to write (new, empty, or an earlier edition)")
    release.set_defaults(func=_release)

    book = commands.add_parser("book", help="the course book: lectures, executed lessons, "
                               "exercises and results as one offline website (Jupyter Book)")
    book.add_argument("--out", default=None, help="the website's folder (default build/book)")
    book.add_argument("--stored", action="store_true", help="show the outputs stored in "
                      "notebooks/*.ipynb before those of the last `make lessons` run")
    book.set_defaults(func=_book)

    from mlops_course.containers import add_commands as add_image_commands
    from mlops_course.course.assessment.cli import add_commands as add_assessment_commands
    from mlops_course.course.autograde.cli import add_commands as add_grade_commands
    from mlops_course.pipeline import add_commands as add_pipeline_commands

    add_grade_commands(commands)  # mlops-course grade ...
    add_assessment_commands(commands)  # mlops-course assignment ..., check-project
    add_pipeline_commands(commands)  # mlops-course pipeline prepare|train|evaluate (dvc.yaml)
    add_image_commands(commands)  # mlops-course image base|build (lesson 3)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:  # `mlops-course lab --no-browser --port 8899`: for JupyterLab
        args.jupyter_args = extra
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
