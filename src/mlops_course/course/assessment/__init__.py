"""The course's assessment: two assignments, each defended in a viva (50 % each).

Content lives in the top-level ``assessment/`` folder (briefs, rubrics, starters, reference
solutions, viva banks); this package is the machinery:

* :mod:`.dataset` — the assignments' data, generated offline from scikit-learn's diabetes set;
* :mod:`.starter` — ``mlops-course assignment starter|reference NAME OUT``;
* :mod:`.runner` — the sandbox a student's repository runs in;
* :mod:`.checker` — ``mlops-course check-project``: the rubric's automated items;
* :mod:`.report` — per-student reports and the class CSV;
* :mod:`.viva` — the viva guide's student part and the question banks.
"""

from mlops_course.course.assessment.checker import (
    ASSIGNMENTS,
    ProjectReport,
    check_project,
    load_rubric,
)
from mlops_course.course.assessment.report import check_folder, write_class_csv, write_report
from mlops_course.course.assessment.runner import CheckError, Limits
from mlops_course.course.assessment.starter import write_starter

__all__ = ["ASSIGNMENTS", "CheckError", "Limits", "ProjectReport", "check_folder",
           "check_project", "load_rubric", "write_class_csv", "write_report", "write_starter"]
