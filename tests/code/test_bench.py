"""The benchmark helper: medians of repeats, ratios against a baseline, a clear error."""

from __future__ import annotations

import time

import pytest

from mlops_course import bench


def test_measure_reports_each_candidate() -> None:
    timings = bench.measure({"fast": lambda: None, "slow": lambda: time.sleep(0.002)},
                            warmup=1, repeats=3, target_s=0.004)
    assert set(timings) == {"fast", "slow"}
    assert timings["slow"].median_s > timings["fast"].median_s
    assert timings["slow"].samples == 3 and timings["slow"].number >= 1
    assert timings["slow"].q1_s <= timings["slow"].median_s <= timings["slow"].q3_s


def test_compare_gives_ratios_against_the_baseline() -> None:
    table = bench.compare({"base": lambda: time.sleep(0.002), "other": lambda: None},
                          baseline="base", rows=10, warmup=0, repeats=3, target_s=0.004)
    assert table.loc["base", "speedup"] == pytest.approx(1.0)
    assert table.loc["other", "speedup"] > 1.0
    assert table.loc["base", "rows_per_s"] == pytest.approx(10 / (table.loc["base", "median_ms"]
                                                                   / 1e3))


def test_compare_names_a_missing_baseline() -> None:
    with pytest.raises(ValueError, match="baseline 'eager' is not among"):
        bench.compare({"a": lambda: None}, baseline="eager")


def test_environment_report_lists_versions() -> None:
    report = bench.environment_report()
    assert {"cpu", "cores available", "python"} <= set(report)
    assert "cpu" in bench.format_report(report)


def test_bench_command_is_registered() -> None:
    from mlops_course.cli import build_parser

    args = build_parser().parse_args(["bench", "--full"])
    assert args.full and args.func.__name__ == "_bench"


def test_model_variants_report_covers_every_variant(isolated_build_dir, housing_csv) -> None:  # noqa: ANN001
    """`mlops-course bench` in miniature (torch.compile left out: lesson 6 runs it)."""
    table = bench.model_variants_report(fast=True, repeats=1, large_batch=64,
                                        include_compile=False)
    assert list(table.index) == [
        "eager fp32", "ONNX Runtime fp32", "fp16", "bf16",
        "int8 weight-only (torchao)", "int8 dynamic (torchao)", "ONNX Runtime int8 static"]
    assert table.loc["eager fp32", "speedup batch 1"] == pytest.approx(1.0)
    assert table.loc["int8 weight-only (torchao)", "size_vs_fp32"] > 3.5
    assert (table["rmse_delta_pct"].abs() < 3.0).all(), table["rmse_delta_pct"]
    assert table.loc["ONNX Runtime fp32", "rmse_delta_pct"] == pytest.approx(0.0, abs=1e-3)
