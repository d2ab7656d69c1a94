"""Batch scoring (lesson 8): the other way to deploy a model — a job, not a server.

    mlops-course score districts.parquet --out build/scores/districts.parquet

Reads a CSV or Parquet file of districts, checks every row against the housing schema
of lesson 2 (bad rows go to a ``.rejected`` file with their problems, never silently
dropped), predicts the good rows in chunks with the same ONNX bundle the service loads,
and writes the rows with ``predicted_median_house_value`` and ``model_version``.
Returns what it did and how fast (rows per second, with and without the file I/O).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_course.errors import MlopsCourseError

if TYPE_CHECKING:
    import pandas as pd

PREDICTION_COLUMN = "predicted_median_house_value"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class BatchScoringError(MlopsCourseError):
    """The input or output file of a scoring job cannot be used."""


@dataclass(frozen=True)
class ScoringReport:
    """What a scoring job did: rows in, scored, rejected; seconds; throughput."""

    input_path: Path
    output_path: Path
    rejected_path: Path | None
    rows: int
    scored: int
    rejected: int
    model_version: str
    seconds_total: float
    seconds_predict: float

    @property
    def rows_per_s(self) -> float:
        """End to end: read, check, predict, write."""
        return self.rows / self.seconds_total if self.seconds_total else float("nan")

    @property
    def predict_rows_per_s(self) -> float:
        """The model alone (ONNX Runtime, one thread)."""
        return self.scored / self.seconds_predict if self.seconds_predict else float("nan")

    def summary(self) -> str:
        rejected = (f"; {self.rejected:,} rejected -> {self.rejected_path}" if self.rejected
                    else "")
        return (f"scored {self.scored:,} of {self.rows:,} rows with {self.model_version} in "
                f"{self.seconds_total:.2f} s ({self.rows_per_s:,.0f} rows/s end to end, "
                f"{self.predict_rows_per_s:,.0f} rows/s in the model) -> "
                f"{self.output_path}{rejected}")


def _format(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BatchScoringError(f"{path}: unknown file type {path.suffix!r}.\nFix: use a "
                                f"file ending in one of {', '.join(FORMATS)}.")
    return kind


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame."""
    import pandas as pd

    path = Path(path)
    kind = _format(path)
    if not path.is_file():
        raise BatchScoringError(f"No input file at {path}.\nFix: pass a CSV or Parquet file "
                                "of districts (the columns of housing.csv; the target may "
                                "be there or not).")
    return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if _format(path) == "csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def score_frame(frame: pd.DataFrame, bundle: Any, *, chunk_rows: int = 8192
                ) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Score a DataFrame: (scored rows, rejected rows with ``problems``, predict seconds)."""
    import numpy as np

    from mlops_course.accelerate import onnx_session
    from mlops_course.data import TARGET
    from mlops_course.service.bundle import rows_to_inputs
    from mlops_course.validation import split_valid_rows

    features = frame.drop(columns=[TARGET], errors="ignore")
    valid, rejected = split_valid_rows(features, target=False)
    session = onnx_session(bundle.onnx_path, threads=1)
    start = time.perf_counter()
    parts = [session.run(None, rows_to_inputs(valid.iloc[i:i + chunk_rows],
                                              bundle.categories))[0].ravel()
             for i in range(0, len(valid), chunk_rows)]
    seconds = time.perf_counter() - start
    scored = frame.loc[valid.index].copy()
    scored[PREDICTION_COLUMN] = (np.concatenate(parts) if parts else np.array([])).astype(float)
    scored["model_version"] = bundle.version
    return scored, frame.loc[rejected.index].assign(problems=rejected["problems"]), seconds


def score_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    bundle: Any,
    *,
    chunk_rows: int = 8192,
) -> ScoringReport:
    """Score a file into ``output_path`` (same format rules); bad rows go to
    ``<output>.rejected.<ext>``."""
    start = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    _format(output_path)
    frame = read_table(input_path)
    scored, rejected, predict_s = score_frame(frame, bundle, chunk_rows=chunk_rows)
    write_table(scored, output_path)
    rejected_path = None
    if len(rejected):
        rejected_path = output_path.with_name(
            f"{output_path.stem}.rejected{output_path.suffix}")
        write_table(rejected, rejected_path)
    return ScoringReport(input_path, output_path, rejected_path, len(frame), len(scored),
                         len(rejected), bundle.version, time.perf_counter() - start, predict_s)
