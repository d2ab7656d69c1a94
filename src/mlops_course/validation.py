"""Data validation: the housing data's declared schema, checked on every batch.

Lesson 1 trusted whatever arrived. Here the expectations are written down once, as a
`pandera <https://pandera.readthedocs.io>`_ schema: the columns, their types, the
ranges a value may take, the allowed categories and which columns may be missing.
A batch that breaks the schema is rejected with a report of its failing rows — what
is wrong, where, and the offending value — and nothing is changed or dropped
silently: :func:`split_valid_rows` keeps the good rows and hands back the bad ones,
as received, with their problems attached.

::

    >>> from mlops_course.data import make_synthetic_housing
    >>> batch = make_synthetic_housing(50)
    >>> validate_housing(batch).shape                       # a good batch passes
    (50, 10)
    >>> batch.loc[3, "median_income"] = 38_000.0             # dollars, not $10,000s
    >>> validate_housing(batch)                               # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlops_course.errors.DataValidationError: The batch breaks the housing schema: ...
    >>> valid, rejected = split_valid_rows(batch)              # keep the good rows
    >>> len(valid), list(rejected.index)
    (49, [3])
    >>> print(rejected.loc[3, "problems"])                     # doctest: +ELLIPSIS
    median_income: must be in [0.4999, 15.0001] (in $10,000s, ...)

Importing this module does not import pandera; building a schema does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from mlops_course.data import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    OCEAN_CATEGORIES,
    TARGET,
)
from mlops_course.errors import DataValidationError

if TYPE_CHECKING:
    import pandera.pandas as pa

# (low, high, why): the documented range of every numeric column, both ends included.
RANGES: dict[str, tuple[float, float, str]] = {
    "longitude": (-124.6, -114.0, "California lies within these longitudes"),
    "latitude": (32.4, 42.1, "California lies within these latitudes"),
    "housing_median_age": (0, 52, "the census caps ages at 52 years"),
    "total_rooms": (1, np.inf, "a district has rooms"),
    "total_bedrooms": (0, np.inf, "a count is never negative"),
    "population": (1, np.inf, "a district has residents"),
    "households": (1, np.inf, "a district has households"),
    "median_income": (0.4999, 15.0001, "in $10,000s, clipped at both ends by the census"),
    TARGET: (14_999, 500_001, "in dollars, clipped at both ends by the census"),
}
NULLABLE = {"total_bedrooms"}  # the only column the census leaves blank (207 rows)
REPORT_COLUMNS = ["row", "column", "value", "problem"]
_ROW_RULE = "total_bedrooms > total_rooms"  # the one rule that spans two columns



def expected_columns(*, target: bool = True) -> list[str]:
    """The columns a housing batch must have: features, and the target unless ``target=False``."""
    return [*NUMERIC_FEATURES, *([TARGET] if target else []), *CATEGORICAL_FEATURES]


def housing_schema(*, target: bool = True) -> pa.DataFrameSchema:
    """Return the declared schema of a housing batch, as a pandera ``DataFrameSchema``.

    Every numeric column is a float (integers are accepted and converted) within the
    range in :data:`RANGES`; only ``total_bedrooms`` may be missing; ``ocean_proximity``
    is one of the five known categories (text or categorical); no other column is
    allowed; and a district cannot have more bedrooms than rooms. Pass
    ``target=False`` for model inputs (a serving request has no price).
    """
    import pandera.pandas as pa

    columns = {}
    for name in expected_columns(target=target):
        if name in CATEGORICAL_FEATURES:
            columns[name] = pa.Column(
                None, pa.Check.isin(OCEAN_CATEGORIES, error=f"not one of {OCEAN_CATEGORIES}"),
                nullable=False)
            continue
        low, high, why = RANGES[name]
        rule = f"must be >= {low:,}" if high == np.inf else f"must be in [{low:,}, {high:,}]"
        check = pa.Check.in_range(low, high, error=f"{rule} ({why})")
        columns[name] = pa.Column(float, check, nullable=name in NULLABLE, coerce=True)
    bedrooms_le_rooms = pa.Check(_bedrooms_le_rooms, error=_ROW_RULE)
    return pa.DataFrameSchema(columns, checks=[bedrooms_le_rooms], strict=True,
                              name="housing" if target else "housing features")


def _bedrooms_le_rooms(frame: pd.DataFrame) -> pd.Series | bool:
    if not {"total_bedrooms", "total_rooms"} <= set(frame.columns):
        return True  # a missing column is reported as such
    bedrooms, rooms = frame["total_bedrooms"], frame["total_rooms"]
    return bedrooms.isna() | rooms.isna() | (bedrooms <= rooms)


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value, so that reports print like the data."""
    return value.item() if isinstance(value, np.generic) else value


def _problem_in_words(check: Any) -> str:
    text = str(check)
    return {
        "not_nullable": "missing value",
        "column_in_dataframe": "column missing",
        "column_in_schema": "unexpected column",
    }.get(text, text if not text.startswith(("dtype(", "coerce_dtype(")) else
          f"wrong type ({text})")


def _coerce_numbers(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Turn numeric columns held as text into numbers; report what cannot be read."""
    coerced, problems = frame.copy(), []
    for column in [*NUMERIC_FEATURES, TARGET]:
        if column not in frame or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        for row in frame.index[numbers.isna() & frame[column].notna()]:
            problems.append({"row": row, "column": column, "value": _plain(frame.at[row, column]),
                             "problem": "not a number"})
        coerced[column] = numbers.astype("float64")
    return coerced, problems


def _report(frame: pd.DataFrame, failure_cases: pd.DataFrame | None,
            problems: list[dict[str, Any]]) -> pd.DataFrame:
    """One line per (row, column) problem, from pandera's failure cases plus our own."""
    lines = list(problems)
    if failure_cases is not None:
        spans_rows = failure_cases["check"].astype(str) == _ROW_RULE
        for case in failure_cases[~spans_rows].to_dict("records"):
            row = None if pd.isna(case["index"]) else case["index"]
            column = case["failure_case"] if row is None else case["column"]
            value = None if row is None else _plain(frame.at[row, column])
            lines.append({"row": row, "column": column, "value": value,
                          "problem": _problem_in_words(case["check"])})
        for row in dict.fromkeys(failure_cases.loc[spans_rows, "index"].dropna()):
            rooms = _plain(frame.at[row, "total_rooms"])
            lines.append({"row": row, "column": "total_bedrooms",
                          "value": _plain(frame.at[row, "total_bedrooms"]),
                          "problem": f"more than total_rooms ({rooms:g})"})
    # one line per (row, column): "not a number" also shows up as "missing value"
    unique: dict[tuple[Any, Any], dict[str, Any]] = {}
    for line in lines:
        unique.setdefault((line["row"], line["column"]), line)
    lines = list(unique.values())
    order = {label: i for i, label in enumerate(frame.index)}
    lines.sort(key=lambda line: -1 if line["row"] is None else order[line["row"]])
    return pd.DataFrame(lines, columns=REPORT_COLUMNS, dtype=object)


def _message(report: pd.DataFrame, frame: pd.DataFrame, target: bool, *,
             max_lines: int = 20) -> str:
    whole = report["row"].isna()
    bad_rows = report.loc[~whole, "row"].nunique()
    parts = ([f"{whole.sum()} problem(s) with its columns"] if whole.any() else []) + (
        [f"{bad_rows} of {len(frame):,} rows with bad values"] if bad_rows else [])
    shown = report.head(max_lines).copy()
    shown["value"] = [("" if row is None else repr(value))
                      for row, value in zip(shown["row"], shown["value"], strict=True)]
    shown["row"] = shown["row"].map(lambda row: "(batch)" if row is None else row)
    more = (f"\n… and {len(report) - max_lines} more (all of them in the error's .report)"
            if len(report) > max_lines else "")
    if whole.any():
        fix = f"Fix: send exactly the columns {expected_columns(target=target)}."
    else:
        fix = ("Fix: correct these rows at the source, or keep the valid rows with "
               "`split_valid_rows(batch)`: it returns the rejected rows with their problems.")
    return (f"The batch breaks the housing schema: {' and '.join(parts)}. "
            f"Nothing was changed or dropped.\n{shown.to_string(index=False)}{more}\n{fix}")


def check_housing(frame: pd.DataFrame, *, target: bool = True) -> tuple[pd.DataFrame,
                                                                         pd.DataFrame]:
    """Validate ``frame`` without raising: return (typed frame, report of problems).

    The report is empty when the batch is valid. The typed frame has every numeric
    column as float64 (values that could not be read as numbers become NaN).
    """
    import pandera.errors

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"a housing batch must be a pandas DataFrame, got {type(frame).__name__}")
    if not frame.index.is_unique:
        typed, report = check_housing(frame.reset_index(drop=True), target=target)
        if report["row"].notna().any():
            raise DataValidationError(
                f"{report['row'].nunique()} of {len(frame):,} rows break the housing schema, but "
                "the batch's index has duplicate labels, so they cannot be named.\n"
                "Fix: give every row its own label, e.g. `batch.reset_index(drop=True)`; "
                "`.report` names the rows by position.", report, len(frame))
        return typed.set_axis(frame.index), report
    coerced, problems = _coerce_numbers(frame)
    try:
        typed = housing_schema(target=target).validate(coerced, lazy=True)
        failure_cases = None
    except pandera.errors.SchemaErrors as exc:
        typed, failure_cases = coerced, exc.failure_cases
    return typed, _report(frame, failure_cases, problems)


def validate_housing(frame: pd.DataFrame, *, target: bool = True) -> pd.DataFrame:
    """Return the batch with its declared types, or raise if any row breaks the schema.

    Parameters
    ----------
    frame:
        A batch of districts with the housing columns (see :func:`expected_columns`).
    target:
        Whether the batch must carry ``median_house_value`` (training data) or must not
        (model inputs, serving requests).

    Raises
    ------
    DataValidationError
        With every problem found (not only the first), as a table in the message and
        as a DataFrame in ``.report``. The input is left as it was.
    """
    typed, report = check_housing(frame, target=target)
    if len(report):
        raise DataValidationError(_message(report, frame, target), report, len(frame))
    return typed


def split_valid_rows(frame: pd.DataFrame, *, target: bool = True) -> tuple[pd.DataFrame,
                                                                           pd.DataFrame]:
    """Split a batch into (valid rows, rejected rows); every input row lands in one of them.

    The valid rows come back typed, as :func:`validate_housing` returns them. The
    rejected rows come back as received, plus a ``problems`` column that says what is
    wrong with each. A problem of the whole batch (a missing or unexpected column)
    cannot be split by rows and raises :class:`DataValidationError`.
    """
    typed, report = check_housing(frame, target=target)
    if report["row"].isna().any():
        raise DataValidationError(_message(report, frame, target), report, len(frame))
    bad = list(dict.fromkeys(report["row"]))
    valid = typed.drop(index=bad)
    rejected = frame.loc[bad].copy()
    rejected["problems"] = [
        "; ".join(f"{r.column}: {r.problem}" for r in report[report["row"] == row].itertuples())
        for row in bad
    ]
    return valid, rejected


class SchemaCheck(TransformerMixin, BaseEstimator):
    """A pipeline step that validates its input against the housing schema.

    Put it first in a pipeline, and the saved pipeline carries its own input
    contract: a request with a missing column, a typo'd category or a number out of
    range gets a :class:`DataValidationError` that names the row, the column and the
    value, instead of a silent wrong prediction. Valid rows pass on unchanged (with
    numeric columns as float64).

    Parameters
    ----------
    target:
        Whether the input carries the target column; model inputs do not (default).
    """

    def __init__(self, target: bool = False) -> None:
        self.target = target

    def fit(self, X: pd.DataFrame, y: Any = None) -> SchemaCheck:
        """Check that ``X`` is valid and remember its columns; returns ``self``."""
        validate_housing(X, target=self.target)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return ``X`` typed, or raise DataValidationError listing its failing rows."""
        check_is_fitted(self, "feature_names_in_")
        return validate_housing(X, target=self.target)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return self.feature_names_in_.copy()
