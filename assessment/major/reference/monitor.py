"""Drift report: python monitor.py --reference data/diabetes.csv --current NEW.csv --out report.json

Exit status 0 either way; the report's "drift" says whether to alert (and retrain)."""

import argparse
import json
from pathlib import Path

import pandas as pd
from diabetes.monitor import drift_report

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report = drift_report(pd.read_csv(args.reference), pd.read_csv(args.current))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    drifted = [name for name, f in report["features"].items() if f["drift"]]
    print(f"drift: {report['drift']} ({', '.join(drifted) or 'no feature'} past the threshold)")
