"""The `mlops-course` command: exit codes and messages a user sees."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from mlops_course import cli, config
from mlops_course.course import exercises
from mlops_course.course import local_server as serving


def test_data_fetch_reports_a_bad_mirror_without_traceback(
    isolated_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "housing.csv").write_text("longitude,latitude\n1,2\n")
    monkeypatch.setenv("MLOPS_COURSE_DATA_MIRROR", str(tmp_path))
    assert cli.main(["data", "fetch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The housing data from") and "Traceback" not in err
    assert "Nothing was cached" in err


def test_data_fetch_ok(housing_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "fetch"]) == 0
    assert "20,640 rows x 10 columns, sha256 verified" in capsys.readouterr().out


def test_lessons_list_and_unknown_lesson(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lessons", "list"]) == 0
    assert "01_traditional_workflow" in capsys.readouterr().out
    assert cli.main(["lessons", "run", "99", "--fast"]) == 2
    assert "No lesson matches '99'" in capsys.readouterr().err


def test_exercises_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exercises", "generate", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_unknown_exercise_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exercises", "check", "nope"]) == 2
    assert "Known: 01_traditional_workflow" in capsys.readouterr().err


@pytest.mark.parametrize("module", [config, exercises, serving], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: object) -> None:
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
