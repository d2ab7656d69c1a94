"""Drift: each feature of a new batch against the training data (two-sample KS test)."""

from __future__ import annotations

import pandas as pd
from diabetes import FEATURES
from scipy.stats import ks_2samp


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, alpha: float = 0.01) -> dict:
    threshold = alpha / len(FEATURES)  # Bonferroni: ten tests at once
    features = {}
    for column in FEATURES:
        result = ks_2samp(reference[column].dropna(), current[column].dropna())
        features[column] = {"ks": float(result.statistic), "p_value": float(result.pvalue),
                            "drift": bool(result.pvalue < threshold)}
    return {"drift": any(f["drift"] for f in features.values()), "threshold": threshold,
            "rows": len(current), "features": features}
