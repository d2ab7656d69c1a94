"""Affine quantization from scratch against torch's own quantizer; sizes; PTQ wrappers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_course import quantize as qz


@pytest.fixture
def weight() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(32, 16) * torch.linspace(0.01, 1.0, 32).reshape(-1, 1)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("axis", [None, 0])
def test_round_trip_within_half_a_step(weight: torch.Tensor, symmetric: bool,
                                       axis: int | None) -> None:
    qp = qz.choose_qparams(weight, symmetric=symmetric, axis=axis)
    q = qz.quantize(weight, qp)
    assert q.dtype == torch.int8 and q.shape == weight.shape
    error = (qz.dequantize(q, qp) - weight).abs()
    assert bool((error <= qp.scale / 2 + 1e-6).all())


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("per_channel", [False, True])
def test_matches_torchao_within_one_step(weight: torch.Tensor, symmetric: bool,
                                         per_channel: bool) -> None:
    qp = qz.choose_qparams(weight, symmetric=symmetric, axis=0 if per_channel else None)
    ours = qz.dequantize(qz.quantize(weight, qp), qp)
    reference, _ = qz.torchao_round_trip(weight, symmetric=symmetric, per_channel=per_channel)
    assert float(((ours - reference).abs() / qp.scale).max()) <= 1.0 + 1e-3


def test_matches_torch_fake_quantize_per_channel(weight: torch.Tensor) -> None:
    qp = qz.choose_qparams(weight, symmetric=True, axis=0)
    reference = torch.fake_quantize_per_channel_affine(
        weight, qp.scale.reshape(-1), qp.zero_point.reshape(-1), 0, qp.qmin, qp.qmax)
    ours = qz.dequantize(qz.quantize(weight, qp), qp)
    assert float(((ours - reference).abs() / qp.scale).max()) <= 1.0 + 1e-3


def test_per_channel_beats_per_tensor(weight: torch.Tensor) -> None:
    per_tensor = qz.quantization_error(weight, qz.choose_qparams(weight))["rms"]
    per_channel = qz.quantization_error(weight, qz.choose_qparams(weight, axis=0))["rms"]
    assert per_channel < per_tensor


def test_asymmetric_zero_is_exact_and_uses_the_range() -> None:
    x = torch.tensor([0.0, 1.0, 2.0, 5.1])
    qp = qz.choose_qparams(x, symmetric=False)
    assert int(qp.zero_point) == -128
    assert float(qz.dequantize(qz.quantize(torch.zeros(1), qp), qp)) == 0.0


def test_choose_qparams_errors_say_what() -> None:
    with pytest.raises(ValueError, match="empty tensor"):
        qz.choose_qparams(torch.empty(0))
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        qz.choose_qparams(torch.ones(2, 2), axis=3)


def test_number_formats_table() -> None:
    table = qz.number_formats()
    assert list(table.index) == ["fp32", "fp16", "bf16", "int8"]
    assert table.loc["fp16", "max"] == 65504.0
    assert table.loc["bf16", "bytes"] == 2


def test_rounding_error_is_relative() -> None:
    err = qz.rounding_error(np.array([1.0 + 2 ** -12, 1e4 + 3.0]), torch.float16)
    assert bool((err <= torch.finfo(torch.float16).eps / 2).all())


def test_int8_weight_only_is_smaller_and_close() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 1)).eval()
    quantized = qz.int8_weight_only(model)
    ratio = qz.model_bytes(model, weights_only=True) / qz.model_bytes(quantized,
                                                                       weights_only=True)
    assert 3.5 < ratio < 4.0
    x = torch.randn(8, 64)
    with torch.no_grad():
        assert torch.allclose(quantized(x), model(x), atol=0.05)
    assert isinstance(model[0].weight, torch.nn.Parameter), "the original is untouched"


def test_cast_model_takes_and_returns_float32() -> None:
    model = torch.nn.Linear(4, 2)
    half = qz.cast_model(model, torch.bfloat16)
    out = half(torch.randn(3, 4))
    assert out.dtype == torch.float32 and model.weight.dtype == torch.float32


def test_onnx_static_int8(tmp_path: Path) -> None:
    from mlops_course import accelerate

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 1)).eval()
    path = accelerate.export_onnx(model, torch.randn(1, 4), tmp_path / "m.onnx")
    calibration = torch.randn(512, 4)
    quantized = qz.onnx_static_int8(path, calibration, tmp_path / "q.onnx")
    session = accelerate.onnx_session(quantized)
    x = torch.randn(16, 4)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(accelerate.onnx_predict(session, x), expected, atol=0.1)
    with pytest.raises(ValueError, match="calibration rows"):
        qz.onnx_static_int8(path, calibration[:10], tmp_path / "q2.onnx")
