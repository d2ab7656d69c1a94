"""The California Housing data set: one loader, verified, cached, offline-friendly.

``load_housing()`` is the only way the course reads the data. It fetches the CSV
once (from the upstream address, or from a local mirror named by
``MLOPS_COURSE_DATA_MIRROR``), checks its sha256, caches it under the project's
data folder and returns a typed DataFrame. A missing, truncated or altered file
raises one clear error that names the command that fixes it; a bad file is never
used silently and never overwrites a good one.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_course import config
from mlops_course.errors import DataIntegrityError, DataUnavailableError

HOUSING_URL = (
    "https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.csv"
)
HOUSING_SHA256 = "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e"
HOUSING_BYTES = 1_423_529
HOUSING_FILENAME = "housing.csv"
MIRROR_ENV = "MLOPS_COURSE_DATA_MIRROR"

TARGET = "median_house_value"
NUMERIC_FEATURES = [
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
]
CATEGORICAL_FEATURES = ["ocean_proximity"]
OCEAN_CATEGORIES = ["<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"]
COLUMNS = [*NUMERIC_FEATURES, TARGET, *CATEGORICAL_FEATURES]
INCOME_BINS = [0.0, 1.5, 3.0, 4.5, 6.0, np.inf]
FIX_COMMAND = "mlops-course data fetch --force"


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Return the hex digest of a file's bytes (``sha256``, ``md5``, …), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the sha256 hex digest of a file."""
    return file_digest(path, "sha256")


def housing_path() -> Path:
    """Return where the verified housing CSV is cached (it may not exist yet)."""
    return config.data_dir() / "raw" / HOUSING_FILENAME


def _integrity_problem(path: Path) -> str | None:
    """Say what is wrong with ``path`` as the housing CSV, or return None if it is intact."""
    size = path.stat().st_size
    digest = sha256_file(path)
    if digest == HOUSING_SHA256:
        return None
    if size < HOUSING_BYTES:
        kind = f"truncated: {size:,} of {HOUSING_BYTES:,} bytes"
    elif size > HOUSING_BYTES:
        kind = f"too long: {size:,} bytes, expected {HOUSING_BYTES:,}"
    else:
        kind = "altered: the size is right but the content differs"
    return f"{kind} (sha256 {digest[:12]}…, expected {HOUSING_SHA256[:12]}…)"


def _download(url: str, dest: Path, timeout_s: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        raise DataUnavailableError(
            f"Could not download the housing data from {url}: {exc}.\n"
            f"No verified copy is cached at {housing_path()}.\n"
            f"Fix: connect to the internet and run `{FIX_COMMAND}`, or point the loader at a "
            f"folder that holds {HOUSING_FILENAME} (sha256 {HOUSING_SHA256}):\n"
            f"    export {MIRROR_ENV}=/path/to/folder"
        ) from exc


def fetch_housing(*, force: bool = False, timeout_s: float = 30.0) -> Path:
    """Make sure a verified copy of the housing CSV is cached and return its path.

    Parameters
    ----------
    force:
        Fetch again even if a copy is cached. A cached copy that fails
        verification is kept beside the new one as ``housing.csv.bad``.
    timeout_s:
        Network timeout for the download.

    Raises
    ------
    DataIntegrityError
        The cached copy (without ``force``) or the fetched file fails verification.
    DataUnavailableError
        Nothing is cached and the file can be neither downloaded nor copied from the mirror.
    """
    target = housing_path()
    if target.exists() and not force:
        problem = _integrity_problem(target)
        if problem is None:
            return target
        raise DataIntegrityError(
            f"The cached housing data at {target} is {problem}. It will not be used.\n"
            f"Fix: run `{FIX_COMMAND}` (the bad copy is kept as {target.name}.bad)."
        )

    target.parent.mkdir(parents=True, exist_ok=True)
    mirror = os.environ.get(MIRROR_ENV)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        fetched = Path(tmp) / HOUSING_FILENAME
        if mirror:
            source = Path(mirror).expanduser() / HOUSING_FILENAME
            if not source.is_file():
                raise DataUnavailableError(
                    f"{MIRROR_ENV}={mirror} but there is no {HOUSING_FILENAME} in that folder.\n"
                    f"Fix: point {MIRROR_ENV} at the folder that holds {HOUSING_FILENAME}, "
                    f"or unset it to download from {HOUSING_URL}."
                )
            shutil.copyfile(source, fetched)
            origin = str(source)
        else:
            _download(HOUSING_URL, fetched, timeout_s)
            origin = HOUSING_URL
        problem = _integrity_problem(fetched)
        if problem is not None:
            raise DataIntegrityError(
                f"The housing data from {origin} is {problem}. Nothing was cached.\n"
                f"Fix: replace that file with the original (see {HOUSING_URL}) and run "
                f"`{FIX_COMMAND}`."
            )
        # force=True over an existing copy: keep the old one aside if it was bad
        if target.exists() and _integrity_problem(target) is not None:
            os.replace(target, target.with_name(target.name + ".bad"))
        os.replace(fetched, target)
    return target


def read_housing_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV with the housing schema and give every column its proper dtype.

    Raises DataIntegrityError if columns are missing or a value cannot be parsed.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataIntegrityError(f"{path} is not a readable CSV file: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataIntegrityError(
            f"{path} lacks the column(s) {missing}; expected the housing columns {COLUMNS}."
        )
    frame = frame[COLUMNS].copy()
    for column in [*NUMERIC_FEATURES, TARGET]:
        try:
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise DataIntegrityError(f"{path}: column {column!r} is not numeric: {exc}") from exc
    frame["ocean_proximity"] = pd.Categorical(frame["ocean_proximity"], categories=OCEAN_CATEGORIES)
    return frame


def load_housing(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Return the California Housing data as a DataFrame with proper dtypes.

    With no ``path``, the verified cached copy is used (fetched first if needed,
    see :func:`fetch_housing`). Numeric columns are float64 and
    ``ocean_proximity`` is a categorical with the five known categories.

    Examples
    --------
    >>> df = load_housing()  # doctest: +SKIP
    >>> df.shape  # doctest: +SKIP
    (20640, 10)
    """
    return read_housing_csv(fetch_housing() if path is None else path)


def income_category(median_income: pd.Series) -> pd.Series:
    """Bin median income (tens of thousands of dollars) into five strata, 1 to 5."""
    return pd.cut(median_income, bins=INCOME_BINS, labels=[1, 2, 3, 4, 5])


def split_train_test(
    df: pd.DataFrame, test_size: float = 0.2, seed: int = config.DEFAULT_SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test sets, stratified by income category.

    Stratifying keeps the income distribution of both sets close to the whole
    data set, which a purely random split of a few thousand rows does not.
    """
    from sklearn.model_selection import train_test_split

    strata = income_category(df["median_income"])
    train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=strata)
    return train, test


def make_synthetic_housing(n_rows: int = 500, seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """Return a synthetic data set with the housing schema, for fast tests.

    The values are plausible (ranges and rough relations of the real data), the
    target depends on income and location, and about 1% of ``total_bedrooms``
    is missing, as in the real data.
    """
    rng = np.random.default_rng(seed)
    households = rng.integers(50, 2000, n_rows).astype(float)
    rooms_per_household = rng.normal(5.3, 1.2, n_rows).clip(1.5, 12)
    total_rooms = (households * rooms_per_household).round()
    total_bedrooms = (total_rooms * rng.normal(0.21, 0.03, n_rows).clip(0.1, 0.4)).round()
    total_bedrooms[rng.random(n_rows) < 0.01] = np.nan
    median_income = rng.gamma(4.0, 1.0, n_rows).clip(0.5, 15.0).round(4)
    ocean = rng.choice(OCEAN_CATEGORIES, n_rows, p=[0.44, 0.32, 0.002, 0.11, 0.128])
    latitude = rng.uniform(32.5, 42.0, n_rows).round(2)
    coastal = np.isin(ocean, ["<1H OCEAN", "NEAR BAY", "NEAR OCEAN", "ISLAND"])
    value = 40_000 * median_income + 60_000 * coastal - 3_000 * (latitude - 34) + 30_000
    value = (value + rng.normal(0, 30_000, n_rows)).clip(15_000, 500_001).round()
    frame = pd.DataFrame(
        {
            "longitude": rng.uniform(-124.3, -114.3, n_rows).round(2),
            "latitude": latitude,
            "housing_median_age": rng.integers(1, 53, n_rows).astype(float),
            "total_rooms": total_rooms,
            "total_bedrooms": total_bedrooms,
            "population": (households * rng.normal(2.9, 0.6, n_rows).clip(1, 8)).round(),
            "households": households,
            "median_income": median_income,
            TARGET: value,
            "ocean_proximity": pd.Categorical(ocean, categories=OCEAN_CATEGORIES),
        }
    )
    return frame[COLUMNS]


def make_data_update(df: pd.DataFrame, seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """Return a plausible *later release* of the same file, for lessons on change.

    The provider dropped 5% of the districts (a "deduplication"), revised 10% of
    the median incomes by up to ±15%, and re-based inland house values up 8%:
    the kind of silent update that arrives under the same URL and file name.
    """
    rng = np.random.default_rng(seed)
    updated = df.sample(frac=0.95, random_state=seed).sort_index().copy()
    revised = rng.random(len(updated)) < 0.10
    factor = 1 + rng.uniform(-0.15, 0.15, revised.sum())
    updated.loc[revised, "median_income"] = (
        updated.loc[revised, "median_income"] * factor).round(4)
    inland = (updated["ocean_proximity"] == "INLAND").to_numpy()
    updated.loc[inland, TARGET] = (updated.loc[inland, TARGET] * 1.08).clip(upper=500_001).round()
    return updated
