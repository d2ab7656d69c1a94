"""Fixtures of the behavioural tests: the course's model, fitted once per session."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def reference(housing_csv) -> dict[str, Any]:  # noqa: ANN001
    """Lesson 2's pipeline fitted on a seeded sample of 6,000 districts (about a second)."""
    from mlops_course.checks import fit_reference_model

    return fit_reference_model(6_000)
