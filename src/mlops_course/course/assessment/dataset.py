"""The assignments' data: scikit-learn's bundled diabetes set, written as a CSV, offline.

The 442 patients of ``sklearn.datasets.load_diabetes(scaled=False)`` (age, sex, body mass
index, blood pressure, six blood serum measurements) and the disease progression one year
later, with a few defects planted on purpose (seeded, so every student gets the same file):
missing body mass indices, impossible ages and duplicated rows. Cleaning and validating
them is part of assignment 1.
"""

from __future__ import annotations

from pathlib import Path

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
TARGET = "progression"
DEFECTS = {"missing_bmi": 6, "impossible_age": 3, "duplicates": 4}


def diabetes_frame(seed: int = 42):  # -> pd.DataFrame
    """The diabetes table with its planted defects (``len == 442 + DEFECTS["duplicates"]``).

    Examples
    --------
    >>> frame = diabetes_frame()
    >>> frame.shape, int(frame["bmi"].isna().sum()), int((frame["age"] < 0).sum())
    ((446, 11), 6, 3)
    """
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False, as_frame=True)
    frame = bunch.frame.rename(columns={"target": TARGET})
    frame = frame[[*FEATURES, TARGET]].astype(float).copy()
    rng = np.random.RandomState(seed)
    rows = rng.permutation(len(frame))
    first, second = DEFECTS["missing_bmi"], DEFECTS["missing_bmi"] + DEFECTS["impossible_age"]
    frame.loc[frame.index[rows[:first]], "bmi"] = np.nan
    frame.loc[frame.index[rows[first:second]], "age"] = -1.0
    duplicates = frame.iloc[rows[second:second + DEFECTS["duplicates"]]]
    return pd.concat([frame, duplicates], ignore_index=True)


def write_diabetes_csv(path: Path, seed: int = 42) -> Path:
    """Write :func:`diabetes_frame` to ``path`` (a CSV, the same bytes every time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    diabetes_frame(seed).to_csv(path, index=False, float_format="%.4f")
    return path


def drift_samples(rows: int = 200, seed: int = 0):  # -> tuple[pd.DataFrame, pd.DataFrame]
    """Two batches of patients for the drift check: a fresh sample of the clean data
    (no drift) and the same sample with body mass index and blood pressure shifted up
    by one and a half standard deviations (drift)."""
    frame = diabetes_frame().dropna().drop_duplicates()
    frame = frame[frame["age"] > 0]
    same = frame.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    shifted = same.copy()
    for column in ("bmi", "bp"):
        shifted[column] = shifted[column] + 1.5 * frame[column].std()
    return same[list(FEATURES)], shifted[list(FEATURES)]
