"""Model tests: the pipeline handles missing values and beats the mean."""

import numpy as np
import pandas as pd
from diabetes import FEATURES, RAW, TARGET
from diabetes.train import build_pipeline
from diabetes.validate import clean


def _frame() -> pd.DataFrame:
    return clean(pd.read_csv(RAW))[0]


def test_model_predicts_rows_with_missing_values() -> None:
    frame = _frame()
    model = build_pipeline(1.0).fit(frame[FEATURES], frame[TARGET])
    row = frame[FEATURES].iloc[:1].copy()
    row["bmi"] = np.nan
    assert np.isfinite(model.predict(row)).all()


def test_model_beats_predicting_the_mean() -> None:
    frame = _frame()
    train, test = frame.iloc[:300], frame.iloc[300:]
    model = build_pipeline(1.0).fit(train[FEATURES], train[TARGET])
    rmse = float(np.sqrt(np.mean((model.predict(test[FEATURES]) - test[TARGET]) ** 2)))
    baseline = float(test[TARGET].std())
    assert rmse < 0.9 * baseline
