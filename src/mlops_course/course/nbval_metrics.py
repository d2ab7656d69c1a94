"""A pytest plugin for the nbval run of :func:`mlops_course.course.outputs.check_outputs`.

It keeps the metrics a lesson records (:func:`mlops_course.course.results.record_metrics`)
from the fresh outputs and writes them, at the end of the session, to the JSON file named
by ``MLOPS_COURSE_METRICS_OUT``: one full-mode run then checks both the stored outputs
and the lesson's results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlops_course.course.results import METRICS_MIME

_FOUND: dict[str, Any] = {}


def pytest_runtest_teardown(item: Any) -> None:
    for output in getattr(item, "test_outputs", None) or []:
        data = output.get("data", {}) if isinstance(output, dict) else {}
        payload = data.get(METRICS_MIME)
        if payload is not None:
            _FOUND.update(json.loads(payload) if isinstance(payload, str) else payload)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if target := os.environ.get("MLOPS_COURSE_METRICS_OUT"):
        Path(target).write_text(json.dumps(_FOUND), encoding="utf-8")
