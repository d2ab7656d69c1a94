"""Data tests: the real housing data against its declared schema, and the splits."""

from __future__ import annotations

from mlops_course import data
from mlops_course.checks import split_overlap, target_correlations
from mlops_course.validation import RANGES, check_housing


def test_whole_data_set_meets_the_schema(housing_csv) -> None:  # noqa: ANN001
    frame = data.load_housing()
    valid, report = check_housing(frame)
    assert len(report) == 0, report.head()
    assert frame.shape == (20_640, 10)


def test_ranges_are_the_documented_ones(housing_csv) -> None:  # noqa: ANN001
    frame = data.load_housing()
    for column, (low, high, why) in RANGES.items():
        assert frame[column].between(low, high).all() or frame[column].isna().any(), why
    assert frame["total_bedrooms"].isna().sum() == 207, "only the census's 207 blanks"


def test_splits_share_no_rows_and_keep_the_income_mix(housing_csv) -> None:  # noqa: ANN001
    frame = data.load_housing()
    train, test = data.split_train_test(frame)
    overlap = split_overlap(train, test)
    assert overlap["shared_index"] == 0
    assert overlap["shared_feature_rows"] == 0, "the same district in train and test"
    share = data.income_category(test["median_income"]).value_counts(normalize=True)
    whole = data.income_category(frame["median_income"]).value_counts(normalize=True)
    assert (share - whole).abs().max() < 0.005, "stratified split keeps income strata"


def test_no_feature_is_a_disguised_target(housing_csv) -> None:  # noqa: ANN001
    correlations = target_correlations(data.load_housing())
    assert correlations.index[0] == "median_income"
    assert correlations.max() < 0.9, correlations.head(3)
