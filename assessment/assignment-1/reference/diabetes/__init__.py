"""Diabetes progression: a reproducible project (assignment 1, reference solution)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "diabetes.csv"
PREPARED = ROOT / "data" / "prepared"
MODEL = ROOT / "models" / "model.joblib"
METRICS = ROOT / "metrics.json"
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
TARGET = "progression"


def load_params() -> dict:
    """params.yaml, the one place for settings (DVC tracks it)."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())
