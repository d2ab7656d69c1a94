"""Through the whole grading pipeline (files in a folder, the sandbox, the gradebook):
every exercise's solution file gets full marks and its released student notebook none.

New exercises are picked up by themselves (``list_exercises()``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mlops_course.course.autograde import grade_folder
from mlops_course.course.exercises import list_exercises, load_exercise, render_student_notebook


@pytest.mark.parametrize("name", list_exercises())
def test_solution_gets_full_marks_and_student_notebook_none(
        name: str, tmp_path: Path, housing_csv: Path) -> None:
    exercise = load_exercise(name)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "solution.py").write_bytes(exercise.path.read_bytes())
    # the notebook as released (not the file in exercises/, which a student may have filled)
    (submissions / "student.ipynb").write_text(render_student_notebook(exercise))
    report = grade_folder(exercise, submissions, tmp_path / "out", jobs=2, progress=False)

    results = {r.student: r for r in report.results}
    solution, student = results["solution"], results["student"]
    assert solution.status == "ok" and student.status == "ok", (solution.status, student.status)
    assert solution.total == exercise.max_points, [
        (t.grade_id, t.status, t.message) for t in solution.tests if t.status != "pass"]
    assert student.total == 0, [t.grade_id for t in student.tests if t.status == "pass"]
    assert not solution.cells, f"answer cells of the solution failed: {solution.cells}"
    rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert [(r["student"], float(r["total"])) for r in rows] == [
        ("solution", exercise.max_points), ("student", 0.0)]
