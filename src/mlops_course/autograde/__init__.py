"""Grading exercises: student code and probes run in a separate process; the trusted
side checks the plain data they return.

See :mod:`mlops_course.exercises` for the format and :func:`grade_answers` for the
entry point.
"""

from mlops_course.autograde.core import TestOutcome, grade_answers

__all__ = ["TestOutcome", "grade_answers"]
