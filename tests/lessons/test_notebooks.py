"""Every lesson runs in fast mode (what CI needs) and in full mode (what students run),
and its key results match the recorded ones.

Fast mode runs through the lesson runner (papermill). Full mode runs once, under nbval
(``check_outputs``): that one run checks the results recorded by ``record_metrics`` and
the outputs stored in the paired ``.ipynb`` (see ``test_outputs.py``).

The expected values live in ``expected/fast/<lesson>.json`` and
``expected/full/<lesson>.json``: per metric a ``value`` and optional ``rel_tol`` /
``abs_tol``. A change that shifts a lesson's numbers beyond the stated tolerance fails
here: update the files on purpose, with the reason in the commit message. For a quick
loop, ``pytest -m "not full"`` leaves out the full-mode runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlops_course.course import lessons
from mlops_course.course.outputs import check_outputs, outputs_advice

EXPECTED_DIR = Path(__file__).with_name("expected")
MODES = ("fast", "full")
EXPECTED = {mode: {p.stem: json.loads(p.read_text())
                   for p in sorted((EXPECTED_DIR / mode).glob("*.json"))} for mode in MODES}
LESSONS = lessons.discover()
CASES = [pytest.param(lesson, mode, id=f"{lesson.name}-{mode}",
                      marks=[pytest.mark.notebook] + ([pytest.mark.full] if mode == "full" else []))
         for mode in ("full", "fast") for lesson in LESSONS]  # slow ones first: better packing


@pytest.mark.parametrize("mode", MODES)
def test_every_lesson_has_expected_metrics(mode: str) -> None:
    missing = sorted({lesson.name for lesson in LESSONS} - set(EXPECTED[mode]))
    assert not missing, f"add {mode}-mode expected metrics for {missing} to {EXPECTED_DIR}/{mode}/"


@pytest.mark.parametrize(("lesson", "mode"), CASES)
def test_lesson_runs_and_matches_expected(
    lesson: lessons.Lesson, mode: str, isolated_build_dir: Path, housing_csv: Path,
    tmp_path: Path,
) -> None:
    stored_outputs = None
    if mode == "fast":
        result = lessons.run_lesson(lesson, fast=True,
                                    output_dir=isolated_build_dir / "lessons", progress=False)
        assert result.ok, f"{lesson.name} (fast mode) failed:\n{result.error}"
        metrics = result.metrics
    else:  # one full-mode run, under nbval: results here, stored outputs below
        stored_outputs = check_outputs(lesson, workdir=tmp_path / "nbval")
        metrics = stored_outputs.metrics
    expected = EXPECTED[mode].get(lesson.name, {})
    problems = []
    for name, spec in expected.items():
        if name not in metrics:
            problems.append(f"{name}: not recorded")
            continue
        got, want = metrics[name], spec["value"]
        if isinstance(want, str | bool):
            ok = got == want
        else:
            ok = math.isclose(got, want, rel_tol=spec.get("rel_tol", 0.0),
                              abs_tol=spec.get("abs_tol", 0.0))
        if not ok:
            problems.append(f"{name}: got {got!r}, expected {want!r} "
                            f"(rel_tol={spec.get('rel_tol', 0)}, abs_tol={spec.get('abs_tol', 0)})")
    if stored_outputs is not None and not stored_outputs.ok:
        problems.append("nbval:\n" + stored_outputs.report[-6000:] + "\n\n"
                        + outputs_advice(stored_outputs))
    assert not problems, f"{lesson.name} ({mode} mode) results moved:\n" + "\n".join(problems)
