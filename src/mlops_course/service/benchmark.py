"""Benchmark the prediction service against `mlflow models serve` and a Flask app, on the
same model, each started for real on 127.0.0.1; print the ratios from one run.

    python -m mlops_course.service.benchmark [--seconds 3] [--rounds 3] [--no-mlflow]
    (make bench-serving; benchmarks/serving.py runs the same)

The model is the DVC pipeline's (`build/dvc/model.joblib`, built if missing). Each server
gets the same single-district requests from one keep-alive client, then from 8 clients,
round by round and interleaved (a busy moment of a shared machine hurts every server
alike). Printed: requests/s, latency percentiles, resident memory of each server's process
group, the ratios against `mlflow models serve`, and the lesson-8 targets met or not
(>= 5x mlflow's requests/s, p50 <= 2 ms, >= 800 requests/s with 8 clients, < 150 MB).
Every server is stopped at the end, also on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # before numpy and scikit-learn load
    parser = argparse.ArgumentParser(prog="mlops_course.service.benchmark",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per server, per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-mlflow", action="store_true", help="leave mlflow serve out")
    args = parser.parse_args(argv)

    import pandas as pd

    from mlops_course import config, pipeline
    from mlops_course.bench import environment_report, format_report
    from mlops_course.data import TARGET, read_housing_csv
    from mlops_course.service import baselines
    from mlops_course.service.bundle import default_model_path, export_bundle, resolve_model
    from mlops_course.service.loadtest import compare_servers, district_bodies, mlflow_wrap
    from mlops_course.service.process import leftover_servers, serve_bundle

    start = time.perf_counter()
    source = resolve_model(None, quiet=False)
    test = read_housing_csv(default_model_path().parent / "prepared" / pipeline.TEST_CSV)
    X = test.drop(columns=TARGET)
    bodies = district_bodies(X, 200)
    config.build_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=config.build_dir(), prefix="bench-serving-") as tmp, \
            contextlib.ExitStack() as servers:
        bundle = export_bundle(source, f"{tmp}/bundle")
        contenders = {
            "fastapi-onnx": (servers.enter_context(serve_bundle(bundle)), "/predict", bodies),
            "flask-sklearn": (servers.enter_context(baselines.serve_flask(default_model_path())),
                              "/predict", bodies)}
        if not args.no_mlflow:
            model_dir = baselines.save_mlflow_model(source.pipeline, f"{tmp}/mlflow", X.head(5))
            contenders["mlflow-serve"] = (servers.enter_context(baselines.serve_mlflow(
                model_dir)), "/invocations", district_bodies(X, 200, wrap=mlflow_wrap))
        baseline = "flask-sklearn" if args.no_mlflow else "mlflow-serve"
        table = compare_servers(contenders, clients=(1, 8), duration_s=args.seconds,
                                rounds=args.rounds, baseline=baseline)
    assert not leftover_servers(), "a server was left running"
    print(format_report(environment_report()))
    print(f"\nServing the same model ({source.version}); {args.rounds} rounds of "
          f"{args.seconds:g} s per server and client count, interleaved "
          f"({time.perf_counter() - start:.0f} s in all); ratios against {baseline}:")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.round(2).T.to_string())
    ours = table.loc["fastapi-onnx"]
    checks = [("requests/s vs mlflow serve, 1 client", ours["speedup_1c"], ">=", 5.0,
               not args.no_mlflow),
              ("p50 latency (ms), 1 client", ours["p50_ms_1c"], "<=", 2.0, True),
              ("requests/s, 8 clients", ours["req_per_s_8c"], ">=", 800.0, True),
              ("resident memory (MB)", ours["rss_mb"], "<", 150.0, True)]
    print("\nLesson 8's targets for the service (fastapi-onnx):")
    for name, value, op, target, measured in checks:
        if not measured:
            print(f"  {name:<40} not measured (--no-mlflow)")
            continue
        met = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
        print(f"  {name:<40} {value:>10,.2f}  target {op} {target:g}: "
              f"{'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
