"""Stage 2: fit the preprocessing and the model as one scikit-learn Pipeline."""

import joblib
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from diabetes import FEATURES, MODEL, PREPARED, TARGET, load_params


def build_pipeline(alpha: float) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median")),
                     ("scale", StandardScaler()), ("model", Ridge(alpha=alpha))])


def main() -> None:
    params = load_params()["train"]
    train = pd.read_csv(PREPARED / "train.csv")
    pipeline = build_pipeline(params["alpha"]).fit(train[FEATURES], train[TARGET])
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, MODEL)
    print(f"trained Ridge(alpha={params['alpha']}) on {len(train)} rows -> {MODEL.name}")


if __name__ == "__main__":
    main()
