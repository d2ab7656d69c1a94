"""Monitoring tests: drift is flagged for a shifted batch, not for a fresh sample."""

import pandas as pd
from diabetes import RAW
from diabetes.monitor import drift_report
from diabetes.validate import clean


def test_drift_flags_a_shifted_batch_only() -> None:
    frame = clean(pd.read_csv(RAW))[0]
    batch = frame.sample(150, random_state=1)
    assert not drift_report(frame, batch)["drift"]
    shifted = batch.assign(bmi=batch["bmi"] + 8)
    assert drift_report(frame, shifted)["features"]["bmi"]["drift"]
