"""Lesson sources follow the course conventions; paired files are in sync.

"In sync" compares inputs only (cells, sources, tags): the paired ``.ipynb`` carries the
outputs of a full run (``make outputs``; ``test_outputs.py`` checks them), and a save in
JupyterLab rewrites outputs and metadata, which is fine.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from mlops_course import config
from mlops_course.course import lessons
from mlops_course.course.outputs import check_pair

LESSONS = lessons.discover()
IDS = [lesson.name for lesson in LESSONS]
LECTURES = sorted((config.project_root() / "lectures").glob("*.md"))


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_py_and_ipynb_are_in_sync(lesson: lessons.Lesson) -> None:
    problems = check_pair(lesson)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_lesson_shape(lesson: lessons.Lesson) -> None:
    notebook = jupytext.read(lesson.path)
    assert notebook.metadata["kernelspec"]["name"] == config.KERNEL_NAME
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith(
        "# Lesson "), "the first cell is the title and learning goals"
    params = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and re.search(r"^FAST = ", params[0].source, re.M), (
        "one papermill `parameters` cell that sets FAST")
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "from mlops_course" in code and "record_metrics(" in code
    assert "assert " in code, "a closing cell asserts the lesson's claims"
    number = lesson.name[:2]
    assert any(p.name.startswith(f"{number}-") for p in LECTURES), f"lectures/{number}-*.md"
    assert (config.solutions_dir() / f"{lesson.name}.py").exists() or any(
        config.solutions_dir().glob(f"{number}_*.py")), f"solutions/{number}_*.py"


def test_lectures_are_numbered_like_lessons() -> None:
    assert LECTURES, "no lectures"
    for lecture in LECTURES:
        assert re.match(r"^\d{2}-[a-z0-9-]+\.md$", lecture.name), lecture.name
        assert lecture.read_text().startswith("# "), f"{lecture.name} starts with a title"


def test_jupytext_config_pairs_notebooks() -> None:
    text = (config.project_root() / "jupytext.toml").read_text()
    assert 'formats = "notebooks///ipynb,notebooks///py:percent"' in text


def test_ruff_clean() -> None:
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    root = config.project_root()
    proc = subprocess.run([ruff, "check", "src", "tests", "notebooks", "solutions"], cwd=root,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
