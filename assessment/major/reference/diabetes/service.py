"""The prediction API: a validated contract in front of the DVC-built model."""

from __future__ import annotations

import joblib
import pandas as pd
from diabetes import FEATURES, MODEL
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class Patient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    age: float = Field(ge=1, le=120)
    sex: float = Field(ge=1, le=2)
    bmi: float = Field(ge=10, le=70)
    bp: float = Field(ge=40, le=200)
    s1: float = Field(ge=0, le=500)
    s2: float = Field(ge=0, le=500)
    s3: float = Field(ge=0, le=200)
    s4: float = Field(ge=0, le=20)
    s5: float = Field(ge=0, le=10)
    s6: float = Field(ge=0, le=200)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[Patient] = Field(min_length=1, max_length=1000)


class PredictResponse(BaseModel):
    predictions: list[float]


def create_app(model_path=MODEL) -> FastAPI:
    model = joblib.load(model_path)
    app = FastAPI(title="Diabetes progression")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(request: PredictRequest) -> PredictResponse:
        frame = pd.DataFrame([row.model_dump() for row in request.rows], columns=FEATURES)
        return PredictResponse(predictions=[float(v) for v in model.predict(frame)])

    return app
