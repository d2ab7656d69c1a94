"""Every lesson runs in fast mode, and its key results match the recorded ones.

The expected values live in ``expected/<lesson>.json`` (fast mode): per metric a
``value`` and optional ``rel_tol`` / ``abs_tol``. A change that shifts a lesson's numbers
beyond the stated tolerance fails here: update the file on purpose, with the reason in
the commit message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlops_course import lessons

EXPECTED_DIR = Path(__file__).with_name("expected")
EXPECTED = {p.stem: json.loads(p.read_text()) for p in sorted(EXPECTED_DIR.glob("*.json"))}
LESSONS = lessons.discover()


def test_every_lesson_has_expected_metrics() -> None:
    missing = sorted({lesson.name for lesson in LESSONS} - set(EXPECTED))
    assert not missing, f"add fast-mode expected metrics for {missing} to {EXPECTED_DIR}/"


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.name for lesson in LESSONS])
def test_lesson_runs_fast_and_matches_expected(
    lesson: lessons.Lesson, isolated_build_dir: Path, housing_csv: Path
) -> None:
    result = lessons.run_lesson(lesson, fast=True, output_dir=isolated_build_dir / "lessons",
                                progress=False)
    assert result.ok, f"{lesson.name} failed:\n{result.error}"
    expected = EXPECTED.get(lesson.name, {})
    problems = []
    for name, spec in expected.items():
        if name not in result.metrics:
            problems.append(f"{name}: not recorded")
            continue
        got, want = result.metrics[name], spec["value"]
        if isinstance(want, str | bool):
            ok = got == want
        else:
            ok = math.isclose(got, want, rel_tol=spec.get("rel_tol", 0.0),
                              abs_tol=spec.get("abs_tol", 0.0))
        if not ok:
            problems.append(f"{name}: got {got!r}, expected {want!r} "
                            f"(rel_tol={spec.get('rel_tol', 0)}, abs_tol={spec.get('abs_tol', 0)})")
    assert not problems, f"{lesson.name} results moved:\n" + "\n".join(problems)
