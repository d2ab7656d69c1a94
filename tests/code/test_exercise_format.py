"""The exercise format: parsing, stubs, hidden tests, and trusted-side verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_course.course.autograde import grade_answers
from mlops_course.course.exercises import load_exercise, render_student_notebook, stub_solution
from mlops_course.errors import ExerciseFormatError

SOLUTION = '''# %% [markdown]
# # Tiny exercise

# %%
BASE = 10

# %% tags=["solution"] grade_id="add"
def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION

# %% tags=["test"] grade_id="test_add" points=1
def probe():
    return add(2, 3)

def verify(observed):
    assert observed == 5, f"2 + 3 should be 5, got {observed}"

verify(probe())

# %% tags=["test"] grade_id="hidden_add" points=2
### BEGIN HIDDEN TESTS
def probe():
    return add(BASE, -3)

def verify(observed):
    assert observed == 7, "SECRET-EXPECTATION"

verify(probe())
### END HIDDEN TESTS
'''


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "99_tiny.py"
    path.write_text(SOLUTION)
    return path


def test_parse(tiny: Path) -> None:
    exercise = load_exercise(tiny)
    assert [t.grade_id for t in exercise.tests] == ["test_add", "hidden_add"]
    assert [t.hidden for t in exercise.tests] == [False, True]
    assert exercise.max_points == 3
    assert exercise.tests[1].probe_source.startswith("def probe():")
    assert "def probe" not in exercise.tests[1].verify_source
    assert "verify(probe())" not in exercise.tests[1].verify_source


def test_stub_keeps_indentation() -> None:
    stub = stub_solution("def f():\n    x = 1\n    ### BEGIN SOLUTION\n    return x\n"
                         "    ### END SOLUTION\n")
    assert stub.splitlines() == ["def f():", "    x = 1", "    # YOUR CODE HERE",
                                 '    raise NotImplementedError("Replace this line with your '
                                 'solution")']


def test_student_notebook_hides_solution_and_hidden_tests(tiny: Path) -> None:
    text = render_student_notebook(load_exercise(tiny))
    assert "return a + b" not in text
    assert "SECRET-EXPECTATION" not in text and "hidden_add" not in text
    assert "NotImplementedError" in text and "test_add" in text
    assert render_student_notebook(load_exercise(tiny)) == text  # deterministic


def test_grading_solution_stub_and_wrong_answer(tiny: Path) -> None:
    exercise = load_exercise(tiny)
    assert [o.status for o in grade_answers(exercise, exercise.answers)] == ["pass", "pass"]
    stub = grade_answers(exercise, exercise.stub_answers())
    assert [o.status for o in stub] == ["error", "error"]
    assert "NotImplementedError" in stub[0].message
    wrong = grade_answers(exercise, {"add": "def add(a, b):\n    return a - b"})
    assert [(o.status, o.points) for o in wrong] == [("fail", 0.0), ("fail", 0.0)]
    assert "2 + 3 should be 5" in wrong[0].message


def test_an_object_that_equals_everything_cannot_pass(tiny: Path) -> None:
    exercise = load_exercise(tiny)
    cheat = ("class Anything:\n    def __eq__(self, other):\n        return True\n"
             "def add(a, b):\n    return Anything()")
    outcomes = grade_answers(exercise, {"add": cheat})
    assert [o.status for o in outcomes] == ["error", "error"]
    assert "not plain data" in outcomes[0].message


@pytest.mark.parametrize(("broken", "message"), [
    ("# %% tags=[\"solution\"]\ndef f():\n    ### BEGIN SOLUTION\n    pass\n", "grade_id"),
    ("# %% tags=[\"solution\"] grade_id=\"f\"\ndef f():\n    pass\n", "without ### BEGIN"),
    ("# %% tags=[\"test\"] grade_id=\"t\"\ndef probe():\n    return 1\n"
     "def verify(o):\n    pass\n", "needs points"),
    ("# %% tags=[\"test\"] grade_id=\"t\" points=1\ndef verify(o):\n    pass\n", "no probe"),
    ("# %% tags=[\"test\"] grade_id=\"t\" points=1\nx = 1\n### BEGIN HIDDEN TESTS\n"
     "def probe():\n    return 1\ndef verify(o):\n    pass\n### END HIDDEN TESTS\n",
     "hidden whole"),
    ("# %%\nx = 1\n", "no graded test"),
])
def test_format_errors_are_specific(tmp_path: Path, broken: str, message: str) -> None:
    path = tmp_path / "98_broken.py"
    path.write_text(broken)
    with pytest.raises(ExerciseFormatError, match=message):
        load_exercise(path)
