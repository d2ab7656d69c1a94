"""Benchmark the prediction service against `mlflow models serve` and a Flask app on the
same model, each started for real; print the ratios from one run (lesson 8).

    .venv/bin/python benchmarks/serving.py [--seconds 3] [--rounds 3] [--no-mlflow]

The code lives in the package (:mod:`mlops_course.service.benchmark`), so that
`make bench-serving` works in the student edition too.
"""

import sys

from mlops_course.service.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
