"""Exceptions of the course package, drawn as one tree.

::

    MlopsCourseError
    ├── DataError
    │   ├── DataUnavailableError   the data set cannot be fetched and no cached copy exists
    │   └── DataIntegrityError     a file is missing columns, truncated or altered
    ├── LessonError                 a lesson cannot be found or run
    └── ExerciseFormatError         a solution file or a submission breaks the exercise format

Every message says what is wrong, why, and the command that fixes it.
"""

from __future__ import annotations


class MlopsCourseError(Exception):
    """Base class of every error the course package raises on purpose."""


class DataError(MlopsCourseError):
    """Something is wrong with a data file."""


class DataUnavailableError(DataError):
    """The data set could not be fetched and there is no cached copy."""


class DataIntegrityError(DataError):
    """A data file is truncated, altered or has the wrong columns."""


class LessonError(MlopsCourseError):
    """A lesson cannot be found or run."""


class ExerciseFormatError(MlopsCourseError):
    """A solution file or a student submission breaks the exercise format."""
