"""The trusted side of grading: run a submission's code in the sandbox, one step at a time,
then check each probe's plain-data result with the test's ``verify`` here.

A submission's code runs as steps: the template's setup cells and the student's answer
cells, in order, then each test's ``probe()``. When a step kills or hangs the worker,
that step is recorded (``timeout``, ``out of memory``, ``crashed``) and a fresh worker
re-runs the cells without it and carries on with the remaining probes, so one endless
loop or ``os._exit`` loses only the tests that depend on it, within the submission's
total time budget.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlops_course.course.autograde.sandbox import (
    STARTUP_TIMEOUT_S,
    Limits,
    Sandbox,
    StepFailure,
)
from mlops_course.course.exercises import Exercise, GradedTest

STATUSES = ("pass", "fail", "error", "timeout", "out of memory", "crashed")
_STEP_STATUS = {"ok": "ok", "error": "error", "timeout": "timeout", "memory": "out of memory",
                "crashed": "crashed"}


class Interrupted(Exception):  # noqa: N818 - like KeyboardInterrupt
    """The batch was stopped while this submission ran (it is graded again next time)."""


@dataclass(frozen=True)
class TestOutcome:
    """The result of one graded test.

    ``status`` is one of pass, fail, error, timeout, out of memory, crashed.
    """

    __test__ = False  # not a pytest class, despite the name

    grade_id: str
    points: float
    max_points: float
    status: str
    message: str
    hidden: bool


@dataclass(frozen=True)
class StepResult:
    """What one cell or probe did in the worker: ``status`` is ok, error, timeout,
    out of memory or crashed; ``value`` is the probe's plain data."""

    label: str
    status: str
    message: str = ""
    value: Any = None
    seconds: float = 0.0


@dataclass
class RunReport:
    """Everything the worker runs of one submission reported, plus timings."""

    cells: list[StepResult] = field(default_factory=list)
    probes: dict[str, StepResult] = field(default_factory=dict)
    launches: int = 0
    startup_s: float = 0.0  # sandbox start until the worker is ready, all launches
    code_s: float = 0.0  # time inside steps (setup and answer cells, probes)
    setup_s: float = 0.0  # of which the template's setup cells (imports, data)
    total_s: float = 0.0
    stray_lines: int = 0  # lines on the result pipe that answered nothing
    sandbox_error: str | None = None


def verify(test: GradedTest, observed: Any) -> tuple[str, str]:
    """Run a test's ``verify`` on the observed value; return (status, message)."""
    scope: dict[str, Any] = {"__name__": "__verify__"}
    try:
        exec(compile(test.verify_source, f"<verify {test.grade_id}>", "exec"), scope)
        scope["verify"](observed)
    except AssertionError as exc:
        return "fail", str(exc) or "assertion failed"
    except Exception as exc:  # noqa: BLE001 - a verify that breaks on odd data fails the test
        return "fail", f"{type(exc).__name__}: {exc}"
    return "pass", ""


def run_submission(exercise: Exercise, answers: dict[str, str], *,
                   sandbox: Sandbox | None = None,
                   stop: threading.Event | None = None) -> RunReport:
    """Run the template's setup cells, ``answers`` and every probe in the sandbox.

    Parameters
    ----------
    exercise:
        The parsed solution file; only its setup cells and probes reach the worker.
    answers:
        grade_id -> source of the student's answer cell (missing ones run as empty).
    sandbox:
        Where to run (default: :meth:`Sandbox.detect` with default limits).
    stop:
        When set (the batch was interrupted), the run ends after the current step and
        raises :class:`Interrupted`.
    """
    sandbox = sandbox or Sandbox.detect()
    limits = sandbox.limits
    cells = exercise.setup_and_answers(answers)
    probes = [(t.grade_id, t.probe_source) for t in exercise.tests]
    report = RunReport()
    cell_results: dict[int, StepResult] = {}
    skipped: set[int] = set()
    started = time.monotonic()
    deadline = started + limits.timeout_s
    while len(report.probes) < len(probes) and time.monotonic() < deadline:
        report.launches += 1
        with sandbox.start() as worker:
            restart = _run_once(worker, cells, probes, skipped, cell_results, limits,
                                deadline, report, stop)
            report.stray_lines += worker.stray_lines
            if restart is None:
                break
            if not restart:
                worker.finish()
    report.cells = [cell_results.get(i, StepResult(label, "timeout", "not run: no time left"))
                    for i, (label, _) in enumerate(cells)]
    for grade_id, _ in probes:
        if grade_id not in report.probes:
            message = (f"not run: the sandbox failed ({report.sandbox_error})"
                       if report.sandbox_error else
                       f"not run: the submission used up its {limits.timeout_s:g} s")
            status = "error" if report.sandbox_error else "timeout"
            report.probes[grade_id] = StepResult(grade_id, status, message)
    report.total_s = time.monotonic() - started
    return report


def _run_once(worker: Any, cells: list[tuple[str, str]], probes: list[tuple[str, str]],
              skipped: set[int], cell_results: dict[int, StepResult], limits: Limits,
              deadline: float, report: RunReport, stop: threading.Event | None
              ) -> bool | None:
    """One worker's life: the cells, then the probes not done yet. Returns True when the
    worker died and a fresh one should go on, False when all is done, None when the
    sandbox did not start."""
    launched = time.monotonic()
    if not worker.wait_ready(min(deadline, launched + STARTUP_TIMEOUT_S)):
        worker.kill()
        if time.monotonic() < deadline:
            tail = worker.output_tail().strip().splitlines()
            report.sandbox_error = (tail[-1] if tail else "the worker did not start")
        return None
    report.startup_s += time.monotonic() - launched
    answers = sum(1 for label, _ in cells if not label.startswith("setup"))
    step_budget = limits.step_budget_s(answers + len(probes))
    for index, (label, source) in enumerate(cells):
        if index in skipped:
            continue
        if stop is not None and stop.is_set():
            raise Interrupted()
        # setup cells are the template's: they get the whole budget, answers one step's
        budget = limits.timeout_s if label.startswith("setup") else step_budget
        result = _step(worker, {"op": "cell", "label": label, "source": source},
                       label, budget, deadline, report)
        cell_results.setdefault(index, result)
        if worker.popen.poll() is not None:
            skipped.add(index)
            return True
    for grade_id, source in probes:
        if grade_id in report.probes:
            continue
        if stop is not None and stop.is_set():
            raise Interrupted()
        message = {"op": "probe", "grade_id": grade_id, "source": source}
        report.probes[grade_id] = _step(worker, message, grade_id, step_budget, deadline,
                                        report)
        if worker.popen.poll() is not None:
            return True
    return False


def _step(worker: Any, message: dict[str, Any], label: str, budget_s: float, deadline: float,
          report: RunReport) -> StepResult:
    began = time.monotonic()
    answer = worker.step(message, budget_s, deadline)
    report.code_s += time.monotonic() - began
    if label.startswith("setup"):
        report.setup_s += time.monotonic() - began
    if isinstance(answer, StepFailure):
        return StepResult(label, _STEP_STATUS[answer.status], answer.message)
    status = _STEP_STATUS.get(answer.get("status"), "error")
    if status == "timeout":
        # stopped by the alarm, but what it started (children, threads) may still run:
        # a fresh worker goes on, exactly as if the grader had killed this one
        worker.kill()
        text = str(answer.get("error") or "took too long")[:200]
        return StepResult(label, status, f"{text} and was stopped")
    text = str(answer.get("error", ""))[:1000] if status != "ok" else ""
    value = answer.get("value") if status == "ok" else None
    seconds = answer.get("seconds", 0.0)
    return StepResult(label, status, text, value,
                      float(seconds) if isinstance(seconds, int | float) else 0.0)


def outcomes_from_report(exercise: Exercise, report: RunReport) -> list[TestOutcome]:
    """Turn the worker's records into one :class:`TestOutcome` per test (verify runs here)."""
    broken = [c for c in report.cells if c.status != "ok" and c.label.startswith("answer ")]
    outcomes = []
    for test in exercise.tests:
        result = report.probes[test.grade_id]
        if result.status == "ok":
            try:
                observed = json.loads(json.dumps(result.value))  # plain data, nothing else
            except (TypeError, ValueError, RecursionError):
                status, message = "error", "the probe's result is not plain data"
            else:
                status, message = verify(test, observed)
        else:
            status, message = result.status, result.message
            if status == "error" and "NameError" in message and broken:
                names = ", ".join(c.label.removeprefix("answer ") for c in broken)
                message += f" (your answer cell {names} did not run through: see above)"
        points = test.points if status == "pass" else 0.0
        outcomes.append(
            TestOutcome(test.grade_id, points, test.points, status, message, test.hidden))
    return outcomes


def grade_answers(
    exercise: Exercise, answers: dict[str, str], *, timeout_s: float = 120.0,
    sandbox: Sandbox | None = None,
) -> list[TestOutcome]:
    """Grade one set of answer cells (grade_id -> source) against every test.

    The code runs in the strongest sandbox this machine allows (see
    :mod:`mlops_course.course.autograde.sandbox`); ``verify`` runs here, on plain data.
    """
    sandbox = (sandbox or Sandbox.detect()).with_limits(
        Limits(timeout_s=timeout_s) if sandbox is None else sandbox.limits)
    return outcomes_from_report(exercise, run_submission(exercise, answers, sandbox=sandbox))
