"""Stage 3: test metrics, written where DVC expects them."""

import json

import joblib
import pandas as pd
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from diabetes import FEATURES, METRICS, MODEL, PREPARED, TARGET


def main() -> None:
    test = pd.read_csv(PREPARED / "test.csv")
    predictions = joblib.load(MODEL).predict(test[FEATURES])
    metrics = {"rmse": float(root_mean_squared_error(test[TARGET], predictions)),
               "mae": float(mean_absolute_error(test[TARGET], predictions)),
               "test_rows": len(test)}
    METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"test RMSE = {metrics['rmse']:.1f} progression units")


if __name__ == "__main__":
    main()
