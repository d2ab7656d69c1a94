"""Every exercise: generated notebook up to date, solution passes, student version fails,
nothing secret leaks into exercises/, and Run All in the student notebook reaches every Part.

"Up to date" compares what the generator controls (see ``ExerciseFile``): a notebook that
a student opened, ran, filled in and saved in JupyterLab is still up to date, and the fix
any check advises (`make exercises`) keeps the student's answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from mlops_course import config
from mlops_course.course.autograde import grade_answers
from mlops_course.course.exercises import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    RAISES_TAG,
    inspect_exercise_file,
    list_exercises,
    load_exercise,
    render_student_notebook,
    stray_exercise_files,
    student_notebook,
)

NAMES = list_exercises()


def test_every_lesson_has_an_exercise() -> None:
    lessons = sorted(p.stem[:2] for p in config.notebooks_dir().glob("[0-9][0-9]_*.py"))
    assert sorted(name[:2] for name in NAMES) == lessons


@pytest.mark.parametrize("name", NAMES)
def test_exercise_is_up_to_date(name: str) -> None:
    state = inspect_exercise_file(load_exercise(name))
    assert state.up_to_date, state.advice()
    if state.work:  # someone worked in it (fine; the student edition is generated afresh)
        warnings.warn(f"exercises/{name}.ipynb holds work: {', '.join(state.work)}",
                      stacklevel=1)


def test_exercises_folder_has_no_stray_exercise() -> None:
    stray = [f"exercises/{p.name}" for p in stray_exercise_files()]
    assert not stray, (f"{stray}: no solutions/ file makes these any more (renamed or "
                       "removed exercises?). Move them out of exercises/ (keep a copy if they "
                       "hold your work).")


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_or_hidden_test_leaks(name: str) -> None:
    exercise = load_exercise(name)
    text = render_student_notebook(exercise)  # what `make exercises` and the release write
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


def _run_notebook(notebook, tmp_path: Path):  # type: ignore[no-untyped-def]
    from mlops_course.course.outputs import execute_notebook

    return execute_notebook(notebook, cwd=tmp_path, timeout_s=300,
                            env={**os.environ, "MPLBACKEND": "Agg"})


def _test_cells(notebook):  # type: ignore[no-untyped-def]
    return [c for c in notebook.cells if "test" in c.metadata.get("tags", [])]


def _text(cell) -> str:  # type: ignore[no-untyped-def]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.parametrize("name", NAMES)
def test_run_all_reaches_every_part_and_tests_say_when_they_pass(
    name: str, housing_csv: Path, tmp_path: Path
) -> None:
    """As a student sees it in JupyterLab: with the stubs, Run All goes past every failing
    test (``raises-exception``) to the end; with right answers each test prints ✓."""
    exercise = load_exercise(name)
    stub = _run_notebook(student_notebook(exercise), tmp_path)
    tests = _test_cells(stub)
    assert tests and all(RAISES_TAG in c.metadata["tags"] for c in tests)
    failed = [c.metadata["grade_id"] for c in tests
              if any(o.output_type == "error" for o in c.outputs)]
    assert failed == [c.metadata["grade_id"] for c in tests], "every stub test should fail"
    assert stub.cells[-1].cell_type == "markdown" or stub.cells[-1].execution_count, (
        "Run All stopped before the last cell")
    assert not any("✓" in _text(c) for c in tests)

    solved = student_notebook(exercise)
    for cell in solved.cells:
        if cell.metadata.get("grade_id") in exercise.answers and "solution" in cell.metadata.get(
                "tags", []):
            cell.source = exercise.answers[cell.metadata["grade_id"]]
    solved = _run_notebook(solved, tmp_path)
    for cell in _test_cells(solved):
        assert not any(o.output_type == "error" for o in cell.outputs), cell.metadata
        line = _text(cell).strip()
        assert line.startswith("✓ Part ") and line.endswith(
            f"{cell.metadata['grade_id']} passed ({cell.metadata['points']:g} point"
            f"{'' if cell.metadata['points'] == 1 else 's'})"), line
