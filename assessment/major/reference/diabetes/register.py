"""Stage 4: log the run to MLflow and register the model; the new version becomes @champion."""

import json
import os

import joblib
from diabetes import METRICS, MODEL, ROOT, load_params

TRACKING_URI = f"sqlite:///{ROOT / 'mlflow.db'}"
MODEL_NAME = "diabetes-model"


def main() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(TRACKING_URI)
    mlflow.set_experiment("diabetes")
    metrics = json.loads(METRICS.read_text())
    with mlflow.start_run() as run:
        mlflow.log_params(load_params()["train"])
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        info = mlflow.sklearn.log_model(
            joblib.load(MODEL), name="model", registered_model_name=MODEL_NAME,
            serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
    version = info.registered_model_version
    MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", version)
    (ROOT / "registered.json").write_text(json.dumps(
        {"model": MODEL_NAME, "version": int(version), "alias": "champion"}, indent=2) + "\n")
    print(f"run {run.info.run_id}: registered {MODEL_NAME} v{version} as @champion")


if __name__ == "__main__":
    main()
