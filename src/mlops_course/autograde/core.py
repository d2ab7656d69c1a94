"""The trusted side of grading: run a submission's code in a worker process, then
check each probe's plain-data result with the test's ``verify`` here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_course.exercises import Exercise, GradedTest


@dataclass(frozen=True)
class TestOutcome:
    """The result of one graded test: status is pass, fail, error or timeout."""

    grade_id: str
    points: float
    max_points: float
    status: str
    message: str
    hidden: bool


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


def run_worker(
    exercise: Exercise,
    answers: dict[str, str],
    *,
    timeout_s: float = 120.0,
    workdir: Path | None = None,
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Run setup, answers and probes in a child process; return (probe records, problem).

    ``problem`` is None, or ``"timeout"`` / ``"crashed: …"`` when the worker did not end
    normally (records written before that are kept).
    """
    job = {
        "cells": exercise.setup_and_answers(answers),
        "probes": [(t.grade_id, t.probe_source) for t in exercise.tests],
    }
    with tempfile.TemporaryDirectory(prefix="grade-", dir=workdir) as tmp:
        job_path, results_path = Path(tmp) / "job.json", Path(tmp) / "results.jsonl"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        results_path.touch()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
        problem = None
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "mlops_course.autograde.worker", str(job_path),
                 str(results_path)],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=timeout_s, check=False,
            )
            if proc.returncode != 0:
                tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
                problem = f"crashed (exit {proc.returncode}) {' '.join(tail)}".strip()
        except subprocess.TimeoutExpired:
            problem = "timeout"
        records = {}
        for line in results_path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "grade_id" in record:
                records.setdefault(record["grade_id"], record)
    return records, problem


def grade_answers(
    exercise: Exercise, answers: dict[str, str], *, timeout_s: float = 120.0
) -> list[TestOutcome]:
    """Grade one set of answer cells (grade_id -> source) against every test."""
    records, problem = run_worker(exercise, answers, timeout_s=timeout_s)
    outcomes = []
    for test in exercise.tests:
        record = records.get(test.grade_id)
        if record is None:
            status = "timeout" if problem == "timeout" else "error"
            message = f"the probe did not finish: {problem or 'no result'}"
        elif record["status"] != "ok":
            status, message = "error", record.get("error", "error")
        else:
            status, message = verify(test, record["value"])
        points = test.points if status == "pass" else 0.0
        outcomes.append(
            TestOutcome(test.grade_id, points, test.points, status, message, test.hidden)
        )
    return outcomes
