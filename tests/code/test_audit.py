"""The ML Test Score audit (lesson 10) runs real checks; a broken one fails the command."""

from __future__ import annotations

import pytest

from mlops_course import audit, cli


@pytest.fixture(scope="module")
def report(housing_csv):  # noqa: ANN001, ANN201
    return audit.run_audit(rows=3_000)


def test_every_section_scores_and_automated_points_name_their_check(report) -> None:  # noqa: ANN001
    scores = report.section_scores()
    assert set(scores) == set(audit.SECTIONS) and all(s > 0 for s in scores.values())
    assert not report.failed, report.format()
    assert len(report.outcomes) == 28
    for outcome in report.outcomes:
        assert outcome.item.check, outcome.item.test
        assert outcome.points == {"pass": 1.0, "manual": 0.5, "missing": 0.0}[outcome.status]
    assert report.score == min(scores.values())
    text = report.format()
    assert "DATA" in text and "MONITORING" in text and "ML Test Score" in text


def test_a_check_broken_on_purpose_fails_the_command(
    housing_csv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    from mlops_course import features

    real = features.DerivedFeatures.transform

    def swapped(self, X):  # noqa: ANN001, ANN202  -- a planted bug: rooms/bedrooms inverted
        out = real(self, X)
        out["bedrooms_ratio"] = 1 / out["bedrooms_ratio"]
        return out

    monkeypatch.setattr(features.DerivedFeatures, "transform", swapped)
    status = cli.main(["audit", "--rows", "2000"])
    captured = capsys.readouterr()
    assert status == 1
    assert "FAILED" in captured.out and "DerivedFeatures" in captured.err
