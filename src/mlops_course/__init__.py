"""mlops_course: the shared package behind every lesson of the course.

Lessons import what they need from the submodules::

    from mlops_course import config, data
    from mlops_course.metrics import record_metrics

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
