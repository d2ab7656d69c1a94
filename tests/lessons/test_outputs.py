"""The stored outputs of the lessons (``notebooks/*.ipynb``) against a fresh run, with nbval.

The paired notebooks carry the outputs of a full-mode run (``make outputs`` stores them).
nbval runs each notebook again in lax mode: every cell must run, and the cells tagged
``nbval-check-output`` in the lesson source must print what is stored, once times, paths,
addresses and dates are sanitized. That run is the full-mode case of
``test_notebooks.py`` (one full run per lesson checks its results and its outputs);
here: the stored outputs exist, the sanitizers, and nbval on a tiny notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mlops_course.course import lessons
from mlops_course.course.outputs import (
    CHECK_TAG,
    SANITIZERS,
    check_outputs,
    checked_cells,
    execute_notebook,
    outputs_advice,
    paired_notebook,
)

LESSONS = lessons.discover()
IDS = [lesson.name for lesson in LESSONS]


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_checked_cells_have_stored_outputs(lesson: lessons.Lesson) -> None:
    notebook = nbformat.read(paired_notebook(lesson), as_version=4)
    empty = [i for i in checked_cells(notebook) if not notebook.cells[i].get("outputs")]
    assert not empty, (f"{lesson.name}.ipynb: cells {empty} are tagged {CHECK_TAG} but store "
                       "no outputs. Fix: run `make outputs` and commit the .ipynb")


@pytest.mark.parametrize(("text", "expected"), [
    ("measured load time: CSV 6.6 ms, Parquet 2.8 ms", "CSV DURATION, Parquet DURATION"),
    ("median time of a DVC command: 0.56 s", "command: DURATION"),
    ("working in /tmp/mlops-course-04-qocvowk6/remote", "working in PATH"),
    ("<Model object at 0x7f63ac944550>", "<Model object at 0xADDRESS>"),
    ("finished 2026-11-29T22:08:44.269731Z", "finished DATE"),
    ("20,640 districts, 10 columns; POST /predict -> 200; 5 files pushed",
     "20,640 districts, 10 columns; POST /predict -> 200; 5 files pushed"),
    ("test RMSE = $48,976 on 4,128 districts", "test RMSE = $48,976 on 4,128 districts"),
])
def test_sanitizers_hide_what_changes_and_keep_results(text: str, expected: str) -> None:
    for pattern, replacement in SANITIZERS.values():
        text = re.sub(pattern, replacement, text)
    assert expected in text


TINY = [
    ("markdown", "# Lesson 99 — tiny", []),
    ("code", "import os, time\nRESULT = 6 * 7", []),
    ("code", "print(f'the answer: {RESULT}')", [CHECK_TAG]),
    ("code", "print(f'took {time.perf_counter() % 1:.3f} s in {os.getcwd()}', object())",
     [CHECK_TAG]),
    ("code", "print(time.time())  # not checked: changes every run", []),
]


def _tiny_notebook(tmp_path: Path) -> Path:
    cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else
             nbformat.v4.new_code_cell(src, metadata={"tags": tags} if tags else {})
             for kind, src, tags in TINY]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "mlops-course", "language": "python",
                                       "display_name": "Python (mlops-course)"}
    tmp_path.mkdir(parents=True, exist_ok=True)
    execute_notebook(notebook, cwd=tmp_path)  # outputs as a run in JupyterLab stores them
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.notebook
def test_nbval_passes_a_fresh_run_and_catches_a_changed_result(tmp_path: Path) -> None:
    stored = _tiny_notebook(tmp_path / "lesson")
    first = check_outputs(stored, workdir=tmp_path / "run1")
    assert first.ok, first.report  # other times, folders and addresses: sanitized

    notebook = nbformat.read(stored, as_version=4)
    cell = notebook.cells[2]
    cell.outputs[0]["text"] = cell.outputs[0]["text"].replace("42", "41")
    nbformat.write(notebook, stored)
    second = check_outputs(stored, workdir=tmp_path / "run2")
    assert not second.ok
    assert "the answer: 41" in second.report and "the answer: 42" in second.report
    advice = outputs_advice(second)
    assert "make outputs" in advice and "kept" in advice
    assert first.metrics == {} and second.metrics == {}  # this notebook records none
