"""The data contract: which rows a model may learn from, and why the others are dropped."""

from __future__ import annotations

import pandas as pd

from diabetes import FEATURES, TARGET

RANGES = {"age": (1, 120), "sex": (1, 2), "bmi": (10, 70), "bp": (40, 200),
          TARGET: (0, 400)}


class DataContractError(ValueError):
    """The file breaks the contract in a way cleaning cannot fix."""


def check_columns(frame: pd.DataFrame) -> None:
    missing = [c for c in [*FEATURES, TARGET] if c not in frame.columns]
    if missing:
        raise DataContractError(f"columns missing: {missing}; expected {FEATURES + [TARGET]}")


def clean(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop duplicated rows and out-of-range values; keep missing features (the
    pipeline imputes them). Returns the clean frame and how many rows each rule dropped."""
    check_columns(frame)
    report = {"duplicates": int(frame.duplicated().sum())}
    frame = frame.drop_duplicates()
    for column, (low, high) in RANGES.items():
        bad = frame[column].notna() & ~frame[column].between(low, high)
        report[f"{column}_out_of_range"] = int(bad.sum())
        frame = frame[~bad]
    report["target_missing"] = int(frame[TARGET].isna().sum())
    frame = frame[frame[TARGET].notna()]
    return frame.reset_index(drop=True), report
