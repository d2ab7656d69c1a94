"""Grading exercises: student code runs in a sandboxed worker process; the trusted side
checks the plain data it returns.

::

    grade_answers(exercise, answers)        one set of answer cells -> TestOutcome per test
    grade_folder(name, submissions, out)    a folder of notebooks -> grades.csv, json, md

See :mod:`mlops_course.course.exercises` for the exercise format,
:mod:`mlops_course.course.autograde.sandbox` for the sandbox, and ``mlops-course grade --help``.
"""

from mlops_course.course.autograde.batch import BatchReport, grade_folder, summarize
from mlops_course.course.autograde.core import TestOutcome, grade_answers, run_submission
from mlops_course.course.autograde.sandbox import Limits, Sandbox, SandboxError

__all__ = [
    "BatchReport",
    "Limits",
    "Sandbox",
    "SandboxError",
    "TestOutcome",
    "grade_answers",
    "grade_folder",
    "run_submission",
    "summarize",
]
