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

from mlops_course.course.autograde import untrusted
from mlops_course.course.autograde.sandbox import (
    STARTUP_TIMEOUT_S,
    Limits,
    Sandbox,
    StepFailure,
)
from mlops_course.course.autograde.warm import SPAWN_TIMEOUT_S, Warm, WarmZygotes
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
    launches: int = 0  # sandboxes started (a zygote each)
    children: int = 0  # children forked from them (one per attempt and phase)
    startup_s: float = 0.0  # sandbox start until the worker is ready, all launches
    code_s: float = 0.0  # time inside steps (setup and answer cells, probes)
    setup_s: float = 0.0  # of which the template's setup cells (imports, data)
    total_s: float = 0.0
    stray_lines: int = 0  # lines on the result pipe that answered nothing
    sandbox_error: str | None = None
    tampered: set[str] = field(default_factory=set)  # what the worker found changed
    rerun_failures: list[str] = field(default_factory=list)  # cells that failed only later


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
                   stop: threading.Event | None = None,
                   zygotes: WarmZygotes | None = None) -> RunReport:
    """Run the template's setup cells, ``answers`` and every probe in the sandbox.

    Public tests run first; the hidden tests' probes are sent to the sandbox only when
    every public result is in, so that no message a student reads can carry hidden
    test code. Each phase runs in children forked from one zygote (see
    :mod:`mlops_course.course.autograde.worker`); a child that dies or hangs is
    replaced by a fresh one, a zygote that dies by a fresh sandbox.

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
    zygotes:
        Warm zygotes to reuse (see :mod:`mlops_course.course.autograde.warm`): the run
        takes this thread's one if it ran the same setup, and gives it back when the
        submission ended cleanly; None starts a fresh sandbox for this submission.
    """
    sandbox = sandbox or Sandbox.detect()
    limits = sandbox.limits
    cells = exercise.setup_and_answers(answers)
    first_answer = next((i for i, (label, _) in enumerate(cells)
                         if label.startswith("answer ")), len(cells))
    report = RunReport()
    run = _Run(sandbox, cells, first_answer, report, stop,
               time.monotonic() + limits.timeout_s)
    run.tests = len(exercise.tests)
    if zygotes is not None and WarmZygotes.reusable(sandbox):
        run.zygotes = zygotes
        run.key = (exercise.name, tuple(cells[:first_answer]), sandbox.mode, limits)
    started = time.monotonic()
    ended = False
    try:
        for hidden in (False, True):
            probes = [(t.grade_id, t.probe_source) for t in exercise.tests
                      if t.hidden == hidden]
            if probes:
                run.phase(probes, record_cells=not hidden)
        ended = True
    finally:
        run.close(reuse=ended)
    report.cells = [run.cell_results.get(i, StepResult(label, "timeout",
                                                       "not run: no time left"))
                    for i, (label, _) in enumerate(cells)]
    for test in exercise.tests:
        if test.grade_id not in report.probes:
            message = (f"not run: the sandbox failed ({report.sandbox_error})"
                       if report.sandbox_error else
                       f"not run: the submission used up its {limits.timeout_s:g} s")
            status = "error" if report.sandbox_error else "timeout"
            report.probes[test.grade_id] = StepResult(test.grade_id, status, message)
    report.total_s = time.monotonic() - started
    return report


class _Run:
    """One submission's run: a zygote (restarted when it dies) and its children."""

    def __init__(self, sandbox: Sandbox, cells: list[tuple[str, str]], first_answer: int,
                 report: RunReport, stop: threading.Event | None, deadline: float) -> None:
        self.sandbox, self.limits = sandbox, sandbox.limits
        self.cells, self.first_answer = cells, first_answer
        self.report, self.stop, self.deadline = report, stop, deadline
        self.context: Any = None
        self.worker: Any = None
        self.cell_results: dict[int, StepResult] = {}
        self.skipped: set[int] = set()
        self.tests = 0
        self.zygotes: WarmZygotes | None = None
        self.key: Any = None
        self.warm: Warm | None = None

    # -- the zygote
    def _start(self) -> bool:
        """A fresh sandbox whose zygote ran the template's leading setup cells (with warm
        zygotes: this thread's warm one, else a fresh one; then the submission's zygote
        forked from it)."""
        if (self.warm is not None and self.worker is not None
                and self.worker.popen.poll() is None and self.worker.spawn_token is None):
            # a step overran and its submission zygote was killed: the next one from the
            # same warm zygote, which first kills and cleans whatever is left
            self.report.launches += 1
            self.report.stray_lines += self.worker.stray_lines
            self.worker.stray_lines = 0
            began = time.monotonic()
            if self.worker.spawn(min(self.deadline, began + SPAWN_TIMEOUT_S)) is None:
                self.zygotes.count()
                self.report.startup_s += time.monotonic() - began
                return True
            self.report.launches -= 1
        self.close()
        self.report.launches += 1
        if self.zygotes is not None:
            warm = self.zygotes.take(self.key)
            if warm is not None:
                began = time.monotonic()
                self.context, self.worker, self.warm = warm.context, warm.worker, warm
                if self.worker.spawn(min(self.deadline, began + SPAWN_TIMEOUT_S)) is None:
                    self.zygotes.count()
                    self.report.startup_s += time.monotonic() - began
                    for index, result in warm.setup.items():
                        self.cell_results.setdefault(index, result)
                    return True
                self.zygotes.replaced += 1
                self.close()  # dead or not clean: a fresh sandbox, nothing was run in it
                self.deadline += time.monotonic() - began  # not this submission's time
        self.context = self.sandbox.start()
        self.worker = self.context.__enter__()
        launched = time.monotonic()
        if not self.worker.wait_ready(min(self.deadline, launched + STARTUP_TIMEOUT_S)):
            self.worker.kill()
            if time.monotonic() < self.deadline:
                tail = self.worker.output_tail().strip().splitlines()
                self.report.sandbox_error = tail[-1] if tail else "the worker did not start"
            self.close()
            return False
        self.report.startup_s += time.monotonic() - launched
        setup = {}
        for index in range(self.first_answer):
            label, source = self.cells[index]
            result = self._step({"op": "cell", "label": label, "source": source}, label,
                                self.limits.timeout_s)
            self.cell_results.setdefault(index, result)
            setup[index] = result
            if self.worker.popen.poll() is not None:
                self.close()
                return False
        if self.zygotes is not None:
            self.warm = Warm(self.key, self.context, self.worker, setup)
            problem = self.worker.spawn(min(self.deadline, time.monotonic() + SPAWN_TIMEOUT_S))
            if problem is not None:
                self.report.sandbox_error = f"no submission zygote: {problem}"
                self.close()
                return False
            self.zygotes.count()
        return True

    def close(self, reuse: bool = False) -> None:
        """Kill the sandbox, or (``reuse``: the submission is done) end the submission's
        zygote and give the warm one back for the next submission."""
        if (reuse and self.warm is not None and self.zygotes is not None
                and self.worker is not None and self.worker.popen.poll() is None):
            clean = (self.worker.spawn_token is None  # killed after an overrun: waiting
                     or self.worker.end_spawn(time.monotonic() + 5.0))
            self.report.stray_lines += self.worker.stray_lines
            if clean:
                self.warm.uses += 1
                self.zygotes.give_back(self.warm)
                self.context = self.worker = self.warm = None
                return
            self.worker.stray_lines = 0
        self.warm = None
        if self.context is not None:
            if self.worker is not None:
                if self.worker.popen.poll() is None:  # every result is in: no goodbyes
                    self.worker.kill()
                self.report.stray_lines += self.worker.stray_lines
            self.context.__exit__(None, None, None)
        self.context = self.worker = None

    def _alive(self) -> bool:
        return (self.worker is not None and self.worker.popen.poll() is None
                and (self.warm is None or self.worker.spawn_token is not None))

    # -- a phase: public tests, then hidden tests
    def phase(self, probes: list[tuple[str, str]], *, record_cells: bool) -> None:
        report = self.report
        sent_to: Any = None
        answers = sum(1 for label, _ in self.cells if label.startswith("answer "))
        # one budget for both phases: a cell that fits in one fits in the other
        step_budget = self.limits.step_budget_s(answers + self.tests)
        while (any(g not in report.probes for g, _ in probes)
               and time.monotonic() < self.deadline):
            if not self._alive() and not self._start():
                if report.sandbox_error or time.monotonic() >= self.deadline:
                    return
                continue
            zygote = (self.worker, self.worker.spawn_token)
            if sent_to is None or sent_to[0] is not zygote[0] or sent_to[1] != zygote[1]:
                # compiled in the (submission's) zygote, before student code
                answer = self.worker.step({"op": "probes", "sources": dict(probes)},
                                          STARTUP_TIMEOUT_S, self.deadline)
                if isinstance(answer, StepFailure) or answer.get("status") != "ok":
                    self.worker.kill()
                    continue
                sent_to = zygote
            if not self.worker.fork(min(self.deadline, time.monotonic() + STARTUP_TIMEOUT_S)):
                self.worker.kill()
                continue
            self.report.children += 1
            self._child(probes, step_budget, record_cells)
            if self._alive() and not self.worker.end_child(time.monotonic() + 5.0):
                self.worker.kill()

    def _child(self, probes: list[tuple[str, str]], step_budget: float,
               record_cells: bool) -> None:
        """One child's life: the answer cells, then the probes not done yet."""
        for index in range(self.first_answer, len(self.cells)):
            if index in self.skipped:
                continue
            if self.stop is not None and self.stop.is_set():
                raise Interrupted()
            label, source = self.cells[index]
            # setup cells are the template's: they get the whole budget, answers one step's
            budget = self.limits.timeout_s if label.startswith("setup") else step_budget
            result = self._step({"op": "cell", "label": label, "source": source}, label,
                                budget)
            if record_cells:
                self.cell_results.setdefault(index, result)
            elif result.status != "ok" and self.cell_results.get(index, result).status == "ok":
                report = self.report  # ran through for the public tests, not this time
                report.rerun_failures.append(f"{label} ran through for the public tests but "
                                             f"not when run again for the hidden tests "
                                             f"({result.status}: {result.message[:200]})")
            if self.worker.child_token is None or not self._alive():  # the child died
                self.skipped.add(index)
                return
            if result.status == "timeout":  # what it started may still run: next child
                self.skipped.add(index)
                return
        for grade_id, _ in probes:
            if grade_id in self.report.probes:
                continue
            if self.stop is not None and self.stop.is_set():
                raise Interrupted()
            result = self._step({"op": "probe", "grade_id": grade_id}, grade_id, step_budget)
            self.report.probes[grade_id] = result
            if (self.worker.child_token is None or not self._alive()
                    or result.status == "timeout"):
                return

    def _step(self, message: dict[str, Any], label: str, budget_s: float) -> StepResult:
        began = time.monotonic()
        answer = self.worker.step(message, budget_s, self.deadline)
        spent = time.monotonic() - began
        self.report.code_s += spent
        if label.startswith("setup"):
            self.report.setup_s += spent
        if isinstance(answer, StepFailure):
            return StepResult(label, _STEP_STATUS[answer.status], answer.message)
        answer = untrusted.check_reply(answer)
        if answer.get("tampered"):
            self.report.tampered.update(answer["tampered"])
        status = _STEP_STATUS.get(answer.get("status"), "error")
        if status == "timeout":
            text = str(answer.get("error") or "took too long")[:200]
            return StepResult(label, status, f"{text} and was stopped")
        text = str(answer.get("error", ""))[:1000] if status != "ok" else ""
        value = answer.get("value") if status == "ok" else None
        return StepResult(label, status, text, value, answer.get("seconds", 0.0))


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
