"""Grade results and the files made of them: ``<student>.json``, ``<student>.md``,
``grades.csv``.

Everything written here is a function of the inputs only (the submission, the
solution file, the limits): no timestamps, no timings, rows sorted by student id,
so the same inputs give the same gradebook. Timings live only in memory, for the
summary the command prints.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_course.course.autograde.core import RunReport, TestOutcome, outcomes_from_report
from mlops_course.course.autograde.sandbox import Limits
from mlops_course.course.autograde.submissions import Submission, safe_student_id
from mlops_course.course.autograde.untrusted import clean_text
from mlops_course.course.exercises import Exercise

GRADER_VERSION = 2
SUBMISSION_STATUSES = ("ok", "timeout", "out of memory", "crashed", "unreadable",
                       "sandbox error", "grader error")
INSTRUCTOR_ONLY = ("instructor's record: holds the hidden tests' messages (expected values); "
                   "give students the .md")
_SEVERITY = ("crashed", "out of memory", "timeout")


@dataclass
class SubmissionResult:
    """The grade of one submission, as stored in ``<student>.json``.

    ``status`` is ``ok`` when every step of the submission ran to an answer (each
    test then passed, failed or raised), else the worst of ``crashed``, ``out of
    memory``, ``timeout``, or ``unreadable`` / ``sandbox error`` when nothing ran.
    """

    student: str
    exercise: str
    submission: str
    submission_sha256: str | None
    fingerprint: str
    status: str
    total: float
    max_points: float
    needs_review: bool
    tests: list[TestOutcome]
    cells: list[dict[str, str]] = field(default_factory=list)
    problem: str | None = None
    review: list[str] = field(default_factory=list)
    sandbox: str = ""
    # in memory only: never written, so that results stay reproducible
    seconds: float = field(default=0.0, compare=False)
    startup_s: float = field(default=0.0, compare=False)
    code_s: float = field(default=0.0, compare=False)
    setup_s: float = field(default=0.0, compare=False)
    launches: int = field(default=0, compare=False)
    resumed: bool = field(default=False, compare=False)

    _SAVED = ("student", "exercise", "submission", "submission_sha256", "fingerprint",
              "status", "total", "max_points", "needs_review", "problem", "review", "cells",
              "sandbox")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the saved fields, then one entry per test."""
        data: dict[str, Any] = {"audience": INSTRUCTOR_ONLY}
        data.update({name: getattr(self, name) for name in self._SAVED})
        data["tests"] = [
            {"name": t.grade_id, "hidden": t.hidden, "points": t.points,
             "max_points": t.max_points, "status": t.status, "message": t.message}
            for t in self.tests]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """Read back :meth:`to_dict` (raises KeyError/TypeError on a foreign file)."""
        tests = [TestOutcome(t["name"], float(t["points"]), float(t["max_points"]),
                             t["status"], t["message"], bool(t["hidden"]))
                 for t in data["tests"]]
        return cls(**{name: data[name] for name in cls._SAVED}, tests=tests, resumed=True)


def fingerprint(exercise: Exercise, limits: Limits) -> str:
    """What a stored result depends on besides the submission: the solution file (tests
    and template), the limits and the grader's version. A change re-grades everything."""
    blob = json.dumps({"grader": GRADER_VERSION, "limits": asdict(limits),
                       "solution": hashlib.sha256(exercise.path.read_bytes()).hexdigest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_result(exercise: Exercise, submission: Submission, report: RunReport | None, *,
                 fingerprint: str, sandbox_mode: str, source_name: str) -> SubmissionResult:
    """Combine a read submission and its run into a :class:`SubmissionResult`."""
    review = [clean_text(note, 500) for note in submission.notes]
    cells: list[dict[str, str]] = []
    if submission.problem or report is None:
        problem = clean_text(submission.problem or "not run", 1000)
        tests = [TestOutcome(t.grade_id, 0.0, t.points, "error", f"not graded: {problem}",
                             t.hidden) for t in exercise.tests]
        status = "unreadable"
    else:
        problem = None
        tests = [TestOutcome(t.grade_id, t.points, t.max_points, t.status,
                             clean_text(t.message, 1500), t.hidden)
                 for t in outcomes_from_report(exercise, report)]
        for cell in report.cells:
            if cell.status == "ok":
                continue
            if cell.label.startswith("answer "):
                cells.append({"cell": cell.label.removeprefix("answer "),
                              "status": cell.status, "message": clean_text(cell.message, 1500)})
            else:
                review.append(f"{cell.label} of the template failed after the student's "
                              f"code ran: {cell.status}: {clean_text(cell.message, 200)}")
        review += [clean_text(text, 400) for text in report.rerun_failures]
        if report.tampered:
            review.append("the submission changed the grader's interpreter ("
                          + ", ".join(sorted(report.tampered)[:8])
                          + "): its results may be forged; grade it by hand")
        if report.stray_lines:
            review.append(f"{report.stray_lines} stray line(s) on the result pipe: the code "
                          "wrote to the grader's channel (tampering?)")
        statuses = {t.status for t in tests} | {c["status"] for c in cells}
        if report.sandbox_error:
            status = "sandbox error"
            review.append(f"the sandbox failed: {report.sandbox_error}")
        else:
            status = next((s for s in _SEVERITY if s in statuses), "ok")
    total = sum(t.points for t in tests)
    return SubmissionResult(
        student=submission.student, exercise=exercise.name,
        submission=clean_text(source_name, 300, newlines=False),
        submission_sha256=submission.sha256, fingerprint=fingerprint, status=status,
        total=total, max_points=exercise.max_points,
        needs_review=status != "ok" or bool(review), tests=tests, cells=cells,
        problem=problem, review=review, sandbox=sandbox_mode,
        seconds=report.total_s if report else 0.0,
        startup_s=report.startup_s if report else 0.0,
        code_s=report.code_s if report else 0.0,
        setup_s=report.setup_s if report else 0.0,
        launches=report.launches if report else 0)


# ------------------------------------------------------------------------ files

def _atomic_write(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".grade-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def result_path(out_dir: Path, student: str) -> Path:
    """``OUT_DIR/<student>.json``."""
    return out_dir / f"{safe_student_id(student)}.json"


def write_result(out_dir: Path, result: SubmissionResult,
                 parts: dict[str, str] | None = None) -> None:
    """Write the feedback, then the JSON (last: its presence marks the work as done)."""
    name = safe_student_id(result.student)
    _atomic_write(out_dir / f"{name}.md", feedback_markdown(result, parts))
    _atomic_write(out_dir / f"{name}.json",
                  json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n")


def load_result(out_dir: Path, student: str) -> SubmissionResult | None:
    """A stored result, or None if there is none or it cannot be read."""
    try:
        data = json.loads(result_path(out_dir, student).read_text(encoding="utf-8"))
        return SubmissionResult.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _points(value: float) -> str:
    return f"{value:g}"


def _csv_safe(text: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(exercise: Exercise, results: list[SubmissionResult]) -> str:
    """The gradebook: one row per submission, points per test, sorted by student."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    grade_ids = [t.grade_id for t in exercise.tests]
    writer.writerow(["student", "total", "max", "status", "needs_review", *grade_ids])
    for result in sorted(results, key=lambda r: r.student):
        points = {t.grade_id: t.points for t in result.tests}
        writer.writerow([_csv_safe(clean_text(result.student, 200, newlines=False)),
                         _points(result.total),
                         _points(result.max_points), result.status,
                         "yes" if result.needs_review else "no",
                         *(_points(points.get(g, 0.0)) for g in grade_ids)])
    return buffer.getvalue()


def write_gradebook(out_dir: Path, exercise: Exercise, results: list[SubmissionResult]) -> Path:
    """Write ``OUT_DIR/grades.csv`` and return its path."""
    path = out_dir / "grades.csv"
    _atomic_write(path, gradebook_csv(exercise, results))
    return path


def _fence(text: str) -> str:
    return "```text\n" + text.replace("```", "'''").strip()[:1500] + "\n```"


def test_parts(exercise: Exercise) -> dict[str, str]:
    """grade_id -> the exercise Part it belongs to (the ``## Part …`` heading above it)."""
    parts: dict[str, str] = {}
    current = ""
    for cell in exercise.cells:
        if cell.kind == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    current = line[3:].split("(")[0].strip()
        elif cell.kind == "test" and cell.grade_id:
            parts[cell.grade_id] = current
    return parts


def feedback_markdown(result: SubmissionResult, parts: dict[str, str] | None = None) -> str:
    """Feedback a student can read: public tests with their messages, hidden tests with
    their name and whether they passed, nothing else about them; each test under the
    Part of the exercise it belongs to."""
    parts = parts or {}
    lines = [f"# {result.exercise}: feedback for {result.student}", ""]
    if result.problem:
        lines += ["Your submission could not be graded:", "", _fence(result.problem), "",
                  f"Score: **0 / {_points(result.max_points)}** points.", ""]
        return "\n".join(lines)
    lines += [f"Score: **{_points(result.total)} / {_points(result.max_points)}** points.", "",
              "| part | test | points | result |", "| --- | --- | ---: | --- |"]
    for test in result.tests:
        if test.hidden:
            verdict = "passed" if test.status == "pass" else "not passed"
            lines.append(f"| {parts.get(test.grade_id, '')} | {test.grade_id} (hidden) | "
                         f"{_points(test.points)} / {_points(test.max_points)} | {verdict} |")
        else:
            lines.append(f"| {parts.get(test.grade_id, '')} | {test.grade_id} | "
                         f"{_points(test.points)} / {_points(test.max_points)} | "
                         f"{test.status} |")
    if result.cells:
        lines += ["", "## Your answer cells that did not run through", ""]
        for cell in result.cells:
            lines += [f"- `{cell['cell']}`: {cell['status']}", "", _fence(cell["message"]), ""]
    public = [t for t in result.tests if not t.hidden and t.status != "pass"]
    if public:
        lines += ["", "## Public tests that did not pass", ""]
        for test in public:
            part = f" ({parts[test.grade_id]})" if parts.get(test.grade_id) else ""
            lines += [f"### {test.grade_id}{part}: {test.status}", "", _fence(test.message), ""]
    hidden = [t for t in result.tests if t.hidden and t.status != "pass"]
    if hidden:
        if lines[-1]:
            lines.append("")
        lines.append(f"{len(hidden)} hidden test(s) did not pass. Hidden tests use other "
                     "inputs than the public ones: check edge cases (empty input, missing "
                     "values, other orders).")
    return "\n".join(lines).rstrip() + "\n"
