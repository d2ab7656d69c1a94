"""Exceptions of the course package, drawn as one tree.

::

    MlopsCourseError
    ├── DataError
    │   ├── DataUnavailableError   the data set cannot be fetched and no cached copy exists
    │   ├── DataIntegrityError     a file is missing columns, truncated or altered
    │   └── DataValidationError    a batch breaks the declared schema (with a report of rows)
    ├── LessonError                 a lesson cannot be found or run
    └── ExerciseFormatError         a solution file or a submission breaks the exercise format

Every message says what is wrong, why, and the command that fixes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class MlopsCourseError(Exception):
    """Base class of every error the course package raises on purpose."""


class DataError(MlopsCourseError):
    """Something is wrong with a data file."""


class DataUnavailableError(DataError):
    """The data set could not be fetched and there is no cached copy."""


class DataIntegrityError(DataError):
    """A data file is truncated, altered or has the wrong columns."""


class DataValidationError(DataError):
    """A batch breaks the declared schema.

    Attributes
    ----------
    report:
        One line per problem, columns ``row`` (the index label, ``None`` for a problem
        of the whole batch such as a missing column), ``column``, ``value`` (as received)
        and ``problem`` (in words).
    n_rows:
        The number of rows in the batch.
    """

    def __init__(self, message: str, report: pd.DataFrame, n_rows: int) -> None:
        super().__init__(message)
        self.report = report
        self.n_rows = n_rows

    @property
    def bad_rows(self) -> list[Any]:
        """Index labels of the rows with at least one problem, in order of the batch."""
        return list(dict.fromkeys(r for r in self.report["row"] if r is not None))

    @property
    def batch_problems(self) -> pd.DataFrame:
        """Problems of the whole batch (missing or unexpected columns), not of single rows."""
        return self.report[self.report["row"].isna()]


class LessonError(MlopsCourseError):
    """A lesson cannot be found or run."""


class ExerciseFormatError(MlopsCourseError):
    """A solution file or a student submission breaks the exercise format."""
