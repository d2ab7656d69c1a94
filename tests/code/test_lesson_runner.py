"""The lesson runner on tiny notebooks: ok, failing, metrics, summary, selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_course import config
from mlops_course.course import lessons
from mlops_course.errors import LessonError

OK = '''# %% [markdown]
# # A tiny lesson

# %% tags=["parameters"]
FAST = False

# %%
from mlops_course.course.results import record_metrics
record_metrics(answer=42, fast=FAST)
'''

BROKEN = '''# %% [markdown]
# # A broken lesson

# %% tags=["parameters"]
FAST = False

# %%
x = 1

# %%
raise RuntimeError("this lesson is broken on purpose")

# %%
never = True
'''


@pytest.fixture
def tiny_course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "course"
    (home / "notebooks").mkdir(parents=True)
    (home / "notebooks" / "01_ok.py").write_text(OK)
    (home / "notebooks" / "02_broken.py").write_text(BROKEN)
    (home / "notebooks" / "helper.py").write_text("# not a lesson\n")
    monkeypatch.setenv("MLOPS_COURSE_HOME", str(home))
    monkeypatch.setenv("MLOPS_COURSE_BUILD_DIR", str(home / "build"))
    return home


def test_discover_and_select(tiny_course: Path) -> None:
    assert [lesson.name for lesson in lessons.discover()] == ["01_ok", "02_broken"]
    assert [lesson.name for lesson in lessons.discover(["2"])] == ["02_broken"]
    assert [lesson.name for lesson in lessons.discover(["01_ok", "1"])] == ["01_ok"]
    assert lessons.discover()[0].title == "A tiny lesson"
    with pytest.raises(LessonError, match="No lesson matches '7'. Lessons: 01_ok, 02_broken"):
        lessons.discover(["7"])


def test_run_lessons_reports_failure_and_keeps_going(
    tiny_course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = lessons.run_lessons(fast=True, progress=False)
    ok, broken = results
    assert ok.status == "ok" and ok.metrics == {"answer": 42, "fast": True}
    assert broken.status == "failed"
    assert "RuntimeError: this lesson is broken on purpose" in broken.error
    assert "in cell" in broken.error
    summary = json.loads((config.build_dir() / "lessons" / "summary.json").read_text())
    assert summary["mode"] == "fast" and summary["ok"] is False
    assert [(x["name"], x["status"]) for x in summary["lessons"]] == [
        ("01_ok", "ok"), ("02_broken", "failed")]
    out = capsys.readouterr()
    assert "answer=42" in out.out and "FAILED 02_broken" in out.out
    assert "this lesson is broken on purpose" in out.err
    assert (config.build_dir() / "lessons" / "02_broken.ipynb").exists()


def test_format_table_aligns_columns() -> None:
    result = lessons.LessonResult("01_x", "X", "ok", 1.25, True, {"rmse_usd": 48210.4, "k": 3})
    table = lessons.format_table([result])
    assert "01_x" in table and "rmse_usd=48,210" in table and "k=3" in table


def test_running_one_lesson_keeps_the_others_in_the_summary(tiny_course: Path) -> None:
    lessons.run_lessons(fast=True, progress=False)
    lessons.run_lessons(["1"], fast=True, progress=False)
    summary = json.loads((config.build_dir() / "lessons" / "summary.json").read_text())
    assert [x["name"] for x in summary["lessons"]] == ["01_ok", "02_broken"]
    assert summary["ok"] is False  # 02 still failed in the earlier run
    lessons.run_lessons(["1"], fast=False, progress=False)  # another mode starts afresh
    summary = json.loads((config.build_dir() / "lessons" / "summary.json").read_text())
    assert [x["name"] for x in summary["lessons"]] == ["01_ok"] and summary["ok"] is True

