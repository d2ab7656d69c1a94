"""The declared housing schema: real data passes, every kind of bad row is named, nothing lost."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from mlops_course import data, validation
from mlops_course.errors import DataError, MlopsCourseError
from mlops_course.features import build_pipeline
from mlops_course.validation import (
    DataValidationError,
    SchemaCheck,
    check_housing,
    expected_columns,
    housing_schema,
    split_valid_rows,
    validate_housing,
)

FEATURES = [*data.NUMERIC_FEATURES, *data.CATEGORICAL_FEATURES]


@pytest.fixture
def batch() -> pd.DataFrame:
    """20 valid districts, as `pd.read_csv` would give them (text categories)."""
    frame = data.make_synthetic_housing(n_rows=20, seed=5)
    return frame.assign(ocean_proximity=frame["ocean_proximity"].astype(str))


def _problems(err: DataValidationError) -> list[tuple[object, str, str]]:
    return [(r.row, r.column, r.problem) for r in err.report.itertuples()]


def test_the_real_data_passes_its_schema(housing_csv: Path) -> None:
    raw = pd.read_csv(housing_csv)
    typed = validate_housing(raw)
    assert typed.shape == raw.shape == (20_640, 10)
    assert (typed[[*data.NUMERIC_FEATURES, data.TARGET]].dtypes == "float64").all()
    validate_housing(data.load_housing())  # categorical ocean_proximity passes too


def test_synthetic_data_passes_and_integers_are_accepted(batch: pd.DataFrame) -> None:
    as_int = batch.assign(households=batch["households"].astype("int64"))
    typed = validate_housing(as_int)
    assert typed["households"].dtype == "float64"
    assert as_int["households"].dtype == "int64", "the input is not changed"


def test_schema_is_a_pandera_schema_with_the_declared_columns() -> None:
    import pandera.pandas as pa

    schema = housing_schema()
    assert isinstance(schema, pa.DataFrameSchema) and schema.strict is True
    assert list(schema.columns) == expected_columns() == data.COLUMNS[:8] + [
        data.TARGET, "ocean_proximity"]
    nullable = [name for name, column in schema.columns.items() if column.nullable]
    assert nullable == ["total_bedrooms"]
    assert data.TARGET not in housing_schema(target=False).columns


def test_every_kind_of_bad_row_is_reported_at_once(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad["median_income"] = bad["median_income"].astype(object)
    bad.loc[1, "median_income"] = "n/a"
    bad.loc[2, "latitude"] = -122.0
    bad.loc[3, "ocean_proximity"] = "near bay"
    bad.loc[4, "population"] = -1.0
    bad.loc[5, "total_bedrooms"] = bad.loc[5, "total_rooms"] + 10
    bad.loc[6, "households"] = np.nan
    bad.loc[7, "median_income"] = 38_000.0
    bad.loc[8, data.TARGET] = 900_000.0
    bad.loc[9, "total_bedrooms"] = np.nan  # allowed
    before = bad.copy()
    with pytest.raises(DataValidationError) as caught:
        validate_housing(bad)
    err = caught.value
    assert _problems(err) == [
        (1, "median_income", "not a number"),
        (2, "latitude", "must be in [32.4, 42.1] (California lies within these latitudes)"),
        (3, "ocean_proximity",
         "not one of ['<1H OCEAN', 'INLAND', 'ISLAND', 'NEAR BAY', 'NEAR OCEAN']"),
        (4, "population", "must be >= 1 (a district has residents)"),
        (5, "total_bedrooms", f"more than total_rooms ({bad.loc[5, 'total_rooms']:g})"),
        (6, "households", "missing value"),
        (7, "median_income", "must be in [0.4999, 15.0001] "
                             "(in $10,000s, clipped at both ends by the census)"),
        (8, data.TARGET, "must be in [14,999, 500,001] "
                         "(in dollars, clipped at both ends by the census)"),
    ]
    assert err.report["value"].tolist()[:4] == ["n/a", -122.0, "near bay", -1.0]
    assert err.bad_rows == [1, 2, 3, 4, 5, 6, 7, 8] and err.n_rows == 20
    assert err.batch_problems.empty
    pd.testing.assert_frame_equal(bad, before)  # nothing changed or dropped


def test_the_message_says_what_where_and_how_to_fix(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[3, "ocean_proximity"] = "MOON"
    with pytest.raises(DataValidationError) as caught:
        validate_housing(bad)
    message = str(caught.value)
    assert message.startswith("The batch breaks the housing schema: 1 of 20 rows with bad values.")
    assert "'MOON'" in message and "ocean_proximity" in message
    assert "Nothing was changed or dropped" in message and "split_valid_rows(batch)" in message
    assert isinstance(caught.value, DataError) and isinstance(caught.value, MlopsCourseError)


def test_a_long_report_is_shortened_in_the_message_but_complete(batch: pd.DataFrame) -> None:
    bad = batch.assign(population=-1.0)
    with pytest.raises(DataValidationError) as caught:
        validate_housing(bad)
    assert len(caught.value.report) == 20
    assert "… and 0 more" not in str(caught.value)
    with pytest.raises(DataValidationError) as caught:
        validate_housing(pd.concat([bad, bad.set_axis(range(20, 40))]))
    assert len(caught.value.report) == 40 and "… and 20 more" in str(caught.value)


def test_missing_and_unexpected_columns_are_batch_problems(batch: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError) as caught:
        validate_housing(batch.drop(columns="households").assign(colour="red"))
    problems = caught.value.batch_problems
    assert sorted(zip(problems["column"], problems["problem"], strict=True)) == [
        ("colour", "unexpected column"), ("households", "column missing")]
    assert "Fix: send exactly the columns" in str(caught.value)
    with pytest.raises(DataValidationError, match="column missing"):
        split_valid_rows(batch.drop(columns="households"))


def test_lesson_1s_malformed_request_gets_a_readable_report() -> None:
    with pytest.raises(DataValidationError) as caught:
        validate_housing(pd.DataFrame([{"median_income": "high"}]), target=False)
    err = caught.value
    assert sorted(err.batch_problems["column"]) == sorted(
        c for c in FEATURES if c != "median_income")
    assert (0, "median_income", "not a number") in _problems(err)


def test_target_false_is_for_model_inputs(batch: pd.DataFrame) -> None:
    validate_housing(batch[FEATURES], target=False)
    with pytest.raises(DataValidationError, match="unexpected column"):
        validate_housing(batch, target=False)


def test_split_valid_rows_loses_nothing(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad["median_income"] = bad["median_income"].astype(object)
    bad.loc[4, "median_income"] = "n/a"
    bad.loc[11, ["longitude", "latitude"]] = [37.5, -122.1]
    valid, rejected = split_valid_rows(bad)
    assert len(valid) + len(rejected) == len(bad)
    assert sorted([*valid.index, *rejected.index]) == list(bad.index)
    assert list(rejected.index) == [4, 11]
    assert rejected.loc[4, "median_income"] == "n/a", "rejected rows come back as received"
    assert rejected.loc[11, "problems"].startswith("longitude: must be in [-124.6, -114.0]")
    assert "; latitude: must be in" in rejected.loc[11, "problems"]
    assert valid["median_income"].dtype == "float64"
    validate_housing(valid)  # what is kept is valid


def test_check_housing_reports_without_raising(batch: pd.DataFrame) -> None:
    typed, report = check_housing(batch)
    assert report.empty and list(report.columns) == ["row", "column", "value", "problem"]
    _, report = check_housing(batch.assign(housing_median_age=60.0))
    assert len(report) == 20 and set(report["column"]) == {"housing_median_age"}


def test_bad_arguments_say_what_to_do(batch: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="must be a pandas DataFrame, got ndarray"):
        validate_housing(batch.to_numpy())
    twice = pd.concat([batch, batch])  # labels 0..19 twice
    assert validate_housing(twice).index.equals(twice.index), "valid rows pass anyway"
    with pytest.raises(DataValidationError, match=r"(?s)1 of 40 rows.*duplicate.*reset_index"):
        validate_housing(pd.concat([batch, batch.assign(population=[-1.0] + [1e3] * 19)]))


def test_schema_check_follows_the_estimator_contract(batch: pd.DataFrame) -> None:
    step = SchemaCheck()
    assert step.get_params() == {"target": False}
    assert clone(SchemaCheck(target=True)).get_params() == {"target": True}
    with pytest.raises(NotFittedError, match="This SchemaCheck instance is not fitted yet"):
        step.transform(batch[FEATURES])
    assert step.fit(batch[FEATURES]) is step
    assert step.n_features_in_ == len(FEATURES)
    assert list(step.get_feature_names_out()) == FEATURES
    out = step.transform(batch[FEATURES])
    pd.testing.assert_frame_equal(out, batch[FEATURES])


def test_schema_check_in_a_pipeline_guards_predictions(batch: pd.DataFrame) -> None:
    frame = data.make_synthetic_housing(n_rows=200, seed=9)
    pipeline = Pipeline([("validate", SchemaCheck()), *build_pipeline().steps])
    pipeline.fit(frame[FEATURES], frame[data.TARGET])
    assert pipeline.predict(batch[FEATURES]).shape == (20,)
    request = batch[FEATURES].head(1).assign(ocean_proximity="MOON")
    with pytest.raises(DataValidationError, match="'MOON'"):
        pipeline.predict(request)


def test_docstring_examples_run() -> None:
    failures, _ = doctest.testmod(validation, optionflags=doctest.ELLIPSIS)
    assert failures == 0
