"""Stage 1: validate, clean and split the raw data (seeded)."""

import json

import pandas as pd
from sklearn.model_selection import train_test_split

from diabetes import PREPARED, RAW, load_params
from diabetes.validate import clean


def main() -> None:
    params = load_params()["prepare"]
    frame, report = clean(pd.read_csv(RAW))
    train, test = train_test_split(frame, test_size=params["test_size"],
                                   random_state=params["seed"])
    PREPARED.mkdir(parents=True, exist_ok=True)
    train.to_csv(PREPARED / "train.csv", index=False)
    test.to_csv(PREPARED / "test.csv", index=False)
    (PREPARED / "report.json").write_text(json.dumps(report, indent=2))
    print(f"prepared {len(train)} train / {len(test)} test rows; dropped {report}")


if __name__ == "__main__":
    main()
