"""mlops_course: the shared package behind every lesson of the course.

Lessons import what they need from the submodules::

    from mlops_course import config, data
    from mlops_course.course.results import record_metrics

The system the lessons build sits at the top level (``data``, ``features``,
``pipeline``, ``versioning``, ...); the course machinery (lesson runner, results,
exercises, grader) lives in ``mlops_course.course``.

Importing the package does nothing else: no downloads, no folders, no logging.
"""

from mlops_course.errors import (
    DataError,
    DataIntegrityError,
    DataUnavailableError,
    DataValidationError,
    ExerciseFormatError,
    LessonError,
    MlopsCourseError,
)

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DataIntegrityError",
    "DataUnavailableError",
    "DataValidationError",
    "ExerciseFormatError",
    "LessonError",
    "MlopsCourseError",
    "__version__",
]
