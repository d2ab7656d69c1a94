"""Service tests: the contract holds and bad requests get a 4xx, never a 5xx."""

import pandas as pd
import pytest
from diabetes import FEATURES, RAW, TARGET
from diabetes.service import create_app
from diabetes.train import build_pipeline
from diabetes.validate import clean
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    import joblib

    frame = clean(pd.read_csv(RAW))[0]
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(build_pipeline(1.0).fit(frame[FEATURES], frame[TARGET]), path)
    return TestClient(create_app(path))


ROW = {"age": 50, "sex": 1, "bmi": 25.0, "bp": 90, "s1": 190, "s2": 115, "s3": 50,
       "s4": 4, "s5": 4.6, "s6": 90}


def test_api_predicts_one_value_per_row(client: TestClient) -> None:
    response = client.post("/predict", json={"rows": [ROW, ROW]})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 2


@pytest.mark.parametrize("body", [{"rows": []}, {"rows": [{**ROW, "bmi": -5}]},
                                  {"rows": [{k: v for k, v in ROW.items() if k != "age"}]},
                                  {"rows": [{**ROW, "bmi": "fat"}]}])
def test_api_rejects_bad_requests(client: TestClient, body: dict) -> None:
    assert client.post("/predict", json=body).status_code == 422
