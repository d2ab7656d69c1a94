"""Every exercise: generated notebook up to date, solution passes, student version fails,
nothing secret leaks into exercises/."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from mlops_course import config
from mlops_course.course.autograde import grade_answers
from mlops_course.course.exercises import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    list_exercises,
    load_exercise,
    render_student_notebook,
)

NAMES = list_exercises()


def test_every_lesson_has_an_exercise() -> None:
    lessons = sorted(p.stem[:2] for p in config.notebooks_dir().glob("[0-9][0-9]_*.py"))
    assert sorted(name[:2] for name in NAMES) == lessons


@pytest.mark.parametrize("name", NAMES)
def test_committed_exercise_matches_generator(name: str) -> None:
    path = config.exercises_dir() / f"{name}.ipynb"
    assert path.exists(), f"{path} missing: run `make exercises`"
    assert path.read_text() == render_student_notebook(load_exercise(name)), (
        f"{path.name} is out of date: run `make exercises` and commit it")
    assert sorted(p.name for p in config.exercises_dir().iterdir()) == sorted(
        f"{n}.ipynb" for n in NAMES), "exercises/ holds only generated notebooks"


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_or_hidden_test_leaks(name: str) -> None:
    exercise = load_exercise(name)
    text = (config.exercises_dir() / f"{name}.ipynb").read_text()
    notebook = nbformat.reads(text, as_version=4)
    assert not any(c.get("outputs") for c in notebook.cells), "outputs must be empty"
    assert BEGIN_SOLUTION not in text and BEGIN_HIDDEN not in text
    released = "\n".join(c.source for c in exercise.cells
                          if c.kind in ("markdown", "setup")
                          or (c.kind == "test" and BEGIN_HIDDEN not in c.source))
    released += "\n".join(exercise.stub_answers().values())

    def distinctive(lines: str) -> list[str]:  # lines that only secret code contains
        return [line.strip() for line in lines.splitlines()
                if len(line.strip()) > 20 and line.strip() not in released]

    for test in exercise.tests:
        if test.hidden:
            assert test.grade_id not in text
            for line in distinctive(test.source):
                assert line not in text, f"hidden test line leaked: {line}"
    for source in exercise.answers.values():
        body = source.split(BEGIN_SOLUTION, 1)[1].split("### END SOLUTION", 1)[0]
        for line in distinctive(body):
            assert line not in text, f"solution line leaked: {line}"


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes_and_student_version_fails(name: str, housing_csv) -> None:  # noqa: ANN001
    exercise = load_exercise(name)
    solution = grade_answers(exercise, exercise.answers)
    assert [o.status for o in solution] == ["pass"] * len(solution), [
        (o.grade_id, o.message) for o in solution if o.status != "pass"]
    student = grade_answers(exercise, exercise.stub_answers())
    passed = [o.grade_id for o in student if o.status == "pass"]
    assert not passed, f"the student stub passes {passed}: those tests test nothing"


@pytest.mark.parametrize("name", NAMES)
def test_solution_runs_top_to_bottom_like_a_notebook(
    name: str, housing_csv, tmp_path  # noqa: ANN001
) -> None:
    """Every `verify(probe())` line passes when the solution runs as one script, as it does
    for an instructor who opens it in Jupyter and runs all cells."""
    proc = subprocess.run([sys.executable, str(config.solutions_dir() / f"{name}.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"}, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_path.iterdir()) == [], "the solution left files behind"
