"""Data tests: the contract catches every planted defect."""

import pandas as pd
import pytest
from diabetes import RAW
from diabetes.validate import DataContractError, clean


def test_validation_drops_duplicates_and_impossible_values() -> None:
    frame, report = clean(pd.read_csv(RAW))
    assert not frame.duplicated().any()
    assert frame["age"].between(1, 120).all()
    assert report["duplicates"] > 0 and report["age_out_of_range"] > 0


def test_validation_rejects_a_file_without_the_target() -> None:
    with pytest.raises(DataContractError, match="progression"):
        clean(pd.read_csv(RAW).drop(columns=["progression"]))
