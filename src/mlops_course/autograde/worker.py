"""The student side of grading: ``python -m mlops_course.autograde.worker JOB RESULTS``.

Runs the exercise's setup cells and the student's answer cells in one namespace,
then each test's ``probe()``; writes one JSON line per probe to RESULTS as soon as
it finishes (so a crash later loses nothing already measured). It never sees a
``verify`` function or an expected value.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from typing import Any


def plain(value: Any) -> Any:
    """Convert a probe's value to plain JSON data, or raise TypeError."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if type(value).__module__ == "numpy" or hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    raise TypeError(f"probe() returned a {type(value).__name__}, which is not plain data")


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:500] + "…"


def main(job_path: str, results_path: str) -> int:
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    out = open(results_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose

    def emit(record: dict[str, Any]) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    namespace: dict[str, Any] = {"__name__": "__main__"}
    for label, source in job["cells"]:
        try:
            exec(compile(source, f"<{label}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - a broken cell must not stop grading
            if isinstance(exc, KeyboardInterrupt):
                raise
            emit({"cell": label, "error": _short_error(exc)})
    for grade_id, probe_source in job["probes"]:
        record: dict[str, Any] = {"grade_id": grade_id}
        try:
            scope = dict(namespace)
            exec(compile(probe_source, f"<probe {grade_id}>", "exec"), scope)
            record["value"] = plain(scope["probe"]())
            record["status"] = "ok"
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            record["status"] = "error"
            record["error"] = _short_error(exc)
            record["traceback"] = traceback.format_exc(limit=-3)[-2000:]
        emit(record)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
