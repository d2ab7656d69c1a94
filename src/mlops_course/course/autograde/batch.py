"""Grade a folder of submissions: in parallel, resumable, one bad submission never
stopping the rest::

    report = grade_folder("01_traditional_workflow", Path("submissions"), Path("out"))
    print(summarize(report))
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course.course.autograde.core import STATUSES, Interrupted, run_submission
from mlops_course.course.autograde.gradebook import (
    SUBMISSION_STATUSES,
    SubmissionResult,
    build_result,
    fingerprint,
    load_result,
    test_parts,
    write_gradebook,
    write_result,
)
from mlops_course.course.autograde.sandbox import Limits, Sandbox
from mlops_course.course.autograde.submissions import (
    MAX_SUBMISSION_BYTES,
    Submission,
    SubmissionFile,
    find_submissions,
    read_submission,
    submission_digest,
)
from mlops_course.course.autograde.untrusted import clean_text
from mlops_course.course.autograde.warm import WarmZygotes
from mlops_course.course.exercises import Exercise, load_exercise


@dataclass
class BatchReport:
    """What :func:`grade_folder` did: the results and how long it took."""

    exercise: Exercise
    results: list[SubmissionResult]
    gradebook: Path
    sandbox: Sandbox
    jobs: int
    seconds: float
    ignored: list[str] = field(default_factory=list)


def grade_folder(
    exercise: str | Exercise,
    submissions_dir: Path,
    out_dir: Path,
    *,
    jobs: int | None = None,
    limits: Limits | None = None,
    sandbox: Sandbox | None = None,
    progress: bool = True,
    max_submission_bytes: int = MAX_SUBMISSION_BYTES,
    warm: bool = True,
    scheduler: str | None = None,
) -> BatchReport:
    """Grade every submission in ``submissions_dir``; write results to ``out_dir``.

    Parameters
    ----------
    exercise:
        The exercise name as in ``exercises/`` (``01_traditional_workflow``), or one
        loaded with :func:`~mlops_course.course.exercises.load_exercise`.
    submissions_dir:
        One ``.ipynb`` / ``.py`` per student, or one folder per student holding one.
    out_dir:
        Where ``<student>.json``, ``<student>.md`` and ``grades.csv`` go (created).
        A result already there for the same submission bytes, solution and limits is
        reused, so an interrupted batch resumes where it stopped.
    jobs:
        Submissions graded at once (default: the number of CPUs).
    limits:
        Resource limits per submission (default :class:`Limits`).
    sandbox:
        The sandbox to run in (default: :meth:`Sandbox.detect`, the strongest that
        works here); its limits are replaced by ``limits`` when both are given.
    progress:
        Show a progress bar on stderr.
    max_submission_bytes:
        A larger submission file is not read (``unreadable``; default 20 MB).
    warm:
        Reuse one warm zygote per job across submissions (see
        :mod:`mlops_course.course.autograde.warm`); False starts a fresh sandbox for
        every submission (slower, the same grades).
    scheduler:
        Address of a Dask scheduler (``tcp://host:8786``): each submission becomes a task
        that its workers grade in their own sandboxes (see
        :mod:`mlops_course.course.autograde.cluster`); ``jobs`` is then ignored.
    """
    from tqdm import tqdm

    started = time.monotonic()
    exercise = exercise if isinstance(exercise, Exercise) else load_exercise(exercise)
    limits = limits or (sandbox.limits if sandbox else Limits())
    sandbox = (sandbox or Sandbox.detect(limits)).with_limits(limits)
    jobs = max(1, jobs or os.cpu_count() or 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    found, ignored = find_submissions(submissions_dir, exclude=(out_dir,))
    key = fingerprint(exercise, limits)
    results: list[SubmissionResult] = []
    bar = tqdm(total=len(found), unit="submission", desc=f"grading {exercise.name}",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)
    stop = threading.Event()
    zygotes = WarmZygotes() if warm and scheduler is None else None
    cluster: Any = contextlib.nullcontext()
    if scheduler is not None:  # the same code path; only run_submission runs remotely
        from mlops_course.course.autograde.cluster import Cluster

        cluster = Cluster(scheduler, exercise, limits, key, warm=warm)
    with cluster as remote, (zygotes or contextlib.nullcontext()):
        if remote is not None:
            jobs = remote.jobs
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")
        futures = {pool.submit(_grade_one, exercise, item, sandbox, key, submissions_dir,
                               out_dir, max_submission_bytes, stop, zygotes,
                               remote.run if remote is not None else None): item
                   for item in found}
        try:
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                bar.update(1)
                bar.set_postfix_str(f"{result.student}: {result.status}", refresh=False)
        except BaseException:  # Ctrl-C: running submissions stop after their current step
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            bar.close()
            pool.shutdown(wait=True)  # before the warm zygotes and the cluster close
    results.sort(key=lambda r: r.student)
    gradebook = write_gradebook(out_dir, exercise, results)
    return BatchReport(exercise, results, gradebook, sandbox, jobs,
                       time.monotonic() - started, ignored)


def _grade_one(exercise: Exercise, item: SubmissionFile, sandbox: Sandbox, key: str,
               submissions_dir: Path, out_dir: Path, max_bytes: int,
               stop: threading.Event, zygotes: WarmZygotes | None = None,
               runner: Any = None) -> SubmissionResult:
    """Grade one submission (or reuse its stored result); never raises for its content:
    the worst a submission can do is get its own row with status ``grader error``."""
    try:
        return _grade_or_reuse(exercise, item, sandbox, key, submissions_dir, out_dir,
                               max_bytes, stop, zygotes, runner)
    except Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 - our failure on odd input: flag it, go on
        result = build_result(exercise, Submission(item.student, item.path), None,
                              fingerprint=key, sandbox_mode=sandbox.mode, source_name="")
        result.status, result.needs_review = "grader error", True
        result.problem = clean_text(f"the grader failed on this submission: "
                                    f"{type(exc).__name__}: {exc}", 500)
        result.review.append(result.problem)
        return result  # not stored: the next run tries again


def _grade_or_reuse(exercise: Exercise, item: SubmissionFile, sandbox: Sandbox, key: str,
                    submissions_dir: Path, out_dir: Path, max_bytes: int,
                    stop: threading.Event, zygotes: WarmZygotes | None = None,
                    runner: Any = None) -> SubmissionResult:
    try:
        source_name = str(item.path.relative_to(submissions_dir))
    except ValueError:
        source_name = item.path.name
    stored = load_result(out_dir, item.student)
    digest = submission_digest(item, max_bytes)
    if (stored is not None and digest is not None and stored.submission_sha256 == digest
            and stored.fingerprint == key and stored.student == item.student):
        return stored  # reused without parsing the file again
    submission = read_submission(item, exercise, max_bytes=max_bytes)
    report = None
    mode = sandbox.mode
    if submission.problem is None:
        try:
            if runner is not None:  # on a cluster: (report, the worker's sandbox mode)
                report, mode = runner(submission.answers)
            else:
                report = run_submission(exercise, submission.answers, sandbox=sandbox,
                                        stop=stop, zygotes=zygotes)
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - our failure: flag it, go on with the batch
            result = build_result(exercise, submission, None, fingerprint=key,
                                  sandbox_mode=mode, source_name=source_name)
            result.status, result.needs_review = "sandbox error", True
            result.problem = f"the grader failed: {type(exc).__name__}: {exc}"
            result.review.append(result.problem)
            return result  # not stored: the next run tries again
    result = build_result(exercise, submission, report, fingerprint=key,
                          sandbox_mode=mode, source_name=source_name)
    if result.status != "sandbox error":
        write_result(out_dir, result, test_parts(exercise))
    return result


def summarize(report: BatchReport, *, slowest: int = 3) -> str:
    """The text printed after a batch: counts per status, mean score, slowest runs."""
    results = report.results
    exercise = report.exercise
    lines = [f"Graded {len(results)} submission(s) of {exercise.name} in "
             f"{report.seconds:.1f} s with {report.jobs} job(s)"
             + (f" ({sum(r.resumed for r in results)} reused from an earlier run)"
                if any(r.resumed for r in results) else "") + ".",
             report.sandbox.describe()]
    if report.ignored:
        names = ", ".join(clean_text(n, 100, newlines=False) for n in report.ignored[:20])
        more = f" and {len(report.ignored) - 20} more" if len(report.ignored) > 20 else ""
        lines.append(f"ignored (not .ipynb/.py): {names}{more}")
    if not results:
        lines.append("No submissions found.")
        return "\n".join(lines)
    def counted(values: list[str], order: tuple[str, ...]) -> str:
        counts = Counter(values)
        ranked = sorted(counts, key=lambda s: (-counts[s], order.index(s) if s in order else 99))
        return ", ".join(f"{status} {counts[status]}" for status in ranked)

    lines.append("submissions: " + counted([r.status for r in results], SUBMISSION_STATUSES))
    lines.append("tests: " + counted([t.status for r in results for t in r.tests], STATUSES))
    mean = statistics.fmean(r.total for r in results)
    lines.append(f"mean score: {mean:.2f} / {exercise.max_points:g} points "
                 f"({100 * mean / exercise.max_points:.0f}%)")
    review = [r.student for r in results if r.needs_review]
    if review:
        lines.append(f"needs review ({len(review)}): {', '.join(review)}")
    graded = sorted((r for r in results if not r.resumed and r.launches),
                    key=lambda r: -r.seconds)
    if graded:
        lines.append("slowest: " + "; ".join(
            f"{r.student} {r.seconds:.1f} s (sandbox start {r.startup_s:.2f} s, student "
            f"code {r.code_s:.2f} s, {r.launches} run(s))" for r in graded[:slowest]))
    lines.append(f"wrote {report.gradebook} and one .json + .md per student in "
                 f"{report.gradebook.parent}")
    return "\n".join(lines)
