"""Low-precision numbers: formats, affine quantization from scratch, post-training quantization.

Lesson 7 stores and runs the house-price MLP with fewer bits. The pieces:

    number_formats()        fp32, fp16, bf16, int8: bits, range, precision, bytes per value
    rounding_error()        the relative error of storing values in a format, over magnitudes
    choose_qparams()        scale and zero point: symmetric or asymmetric, per tensor or channel
    quantize(), dequantize()  affine int8 quantization and back, written out in PyTorch
    tensor_bytes(), model_bytes()  what a tensor or a model's weights take in memory
    cast_model()            the model in fp16 or bf16 (inputs cast in, outputs cast out)
    int8_weight_only(), int8_dynamic()  torchao's post-training int8 quantization
    onnx_static_int8()      ONNX Runtime's static int8 quantization with calibration data

Affine quantization maps a real value ``x`` to an integer ``q``::

    q = clamp(round(x / scale) + zero_point, qmin, qmax)        x ≈ (q - zero_point) * scale

Nothing happens at import; torch, torchao and onnxruntime are imported when needed.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _torch() -> Any:
    import torch

    return torch


def _import_torchao() -> None:
    """Import torchao without its import-time warnings (optional CUDA extensions that a CPU
    build cannot load, a deprecation inside torch, no Triton): noise, not problems."""
    import sys

    if "torchao" in sys.modules:
        return
    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        import torchao.quantization  # noqa: F401
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def number_formats() -> Any:
    """A table of fp32, fp16, bf16 and int8: bits, bytes, range and precision.

    ``max`` is the largest finite value; ``smallest_normal`` the smallest positive value
    at full precision; ``eps`` the gap between 1 and the next value (the relative
    precision); ``decimal_digits`` about ``-log10(eps)``. For int8, the range is the
    integers -128..127, and the precision is whatever ``scale`` one step stands for.
    """
    import pandas as pd

    torch = _torch()
    rows = {}
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16),
                        ("bf16", torch.bfloat16)):
        info = torch.finfo(dtype)
        rows[name] = {"bits": info.bits, "bytes": info.bits // 8, "exponent_bits": {
            "fp32": 8, "fp16": 5, "bf16": 8}[name], "mantissa_bits": {
            "fp32": 23, "fp16": 10, "bf16": 7}[name], "max": info.max,
            "smallest_normal": info.smallest_normal, "eps": info.eps,
            "decimal_digits": round(-np.log10(info.eps), 1)}
    info8 = torch.iinfo(torch.int8)
    rows["int8"] = {"bits": info8.bits, "bytes": 1, "exponent_bits": 0, "mantissa_bits": 7,
                    "max": float(info8.max), "smallest_normal": 1.0, "eps": 1.0,
                    "decimal_digits": round(float(np.log10(256)), 1)}
    return pd.DataFrame(rows).T


def rounding_error(values: Any, dtype: Any) -> np.ndarray:
    """Relative error ``|x - fl(x)| / |x|`` of storing each value in ``dtype``.

    Examples
    --------
    >>> import torch
    >>> float(rounding_error([1.0, 2.0], torch.bfloat16).max())
    0.0
    """
    torch = _torch()
    x = torch.as_tensor(np.asarray(values, dtype=np.float64))
    stored = x.to(dtype).to(torch.float64)
    return (torch.abs(x - stored) / torch.abs(x)).numpy()


@dataclass(frozen=True)
class QParams:
    """Quantization parameters: ``scale`` and ``zero_point`` (tensors), the integer range,
    and the axis they vary along (``None``: one pair for the whole tensor)."""

    scale: Any
    zero_point: Any
    qmin: int
    qmax: int
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


def _reduce(x: Any, axis: int | None, fn: str) -> Any:
    """``amin``/``amax`` over everything (``axis=None``) or over every dim but ``axis``."""
    torch = _torch()
    if axis is None:
        return getattr(torch, fn)(x)
    dims = tuple(d for d in range(x.dim()) if d != axis % x.dim())
    return getattr(torch, fn)(x, dim=dims, keepdim=True)


def choose_qparams(
    x: Any, *, bits: int = 8, symmetric: bool = True, axis: int | None = None
) -> QParams:
    """Scale and zero point that map the range of ``x`` onto signed ``bits``-bit integers.

    * symmetric: ``zero_point = 0``, ``scale = max|x| / ((qmax - qmin) / 2)`` — zero maps to
      zero exactly and the kernels stay simple (weights are usually quantized this way);
    * asymmetric: ``scale = (max - min) / (qmax - qmin)`` and a zero point that shifts the
      range, so a one-sided range such as ReLU outputs uses every integer;
    * ``axis=None``: one scale for the tensor; ``axis=0``: one per row (per output channel
      of a ``Linear`` weight), which follows rows of very different magnitudes.

    The range always includes 0 (so that zero, e.g. padding or a ReLU's output, is exact).
    These are the conventions of PyTorch's and torchao's int8 quantizers.
    """
    torch = _torch()
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be between 2 and 16, got {bits}")
    x = torch.as_tensor(x).detach().float()
    if x.numel() == 0:
        raise ValueError("cannot choose quantization parameters for an empty tensor")
    if axis is not None and not -x.dim() <= axis < x.dim():
        raise ValueError(f"axis {axis} is out of range for a tensor of shape {tuple(x.shape)}")
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo = torch.clamp(_reduce(x, axis, "amin"), max=0.0)
    hi = torch.clamp(_reduce(x, axis, "amax"), min=0.0)
    eps = torch.finfo(torch.float32).eps
    if symmetric:
        scale = torch.clamp(torch.maximum(-lo, hi) / ((qmax - qmin) / 2), min=eps)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=eps)
        zero_point = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int32)
    return QParams(scale, zero_point, qmin, qmax, axis)


def quantize(x: Any, qparams: QParams) -> Any:
    """``clamp(round(x / scale) + zero_point, qmin, qmax)`` as an int8 (or int16) tensor."""
    torch = _torch()
    dtype = torch.int8 if qparams.qmax <= 127 else torch.int16
    q = torch.round(torch.as_tensor(x).float() / qparams.scale) + qparams.zero_point
    return torch.clamp(q, qparams.qmin, qparams.qmax).to(dtype)


def dequantize(q: Any, qparams: QParams) -> Any:
    """``(q - zero_point) * scale`` as float32."""
    return (q.float() - qparams.zero_point.float()) * qparams.scale


def quantization_error(x: Any, qparams: QParams) -> dict[str, float]:
    """Round-trip error of ``x``: max and RMS absolute error, and the RMS error relative to
    the RMS of ``x`` (in %)."""
    torch = _torch()
    x = torch.as_tensor(x).float()
    err = dequantize(quantize(x, qparams), qparams) - x
    rms = float(torch.sqrt(torch.mean(err ** 2)))
    return {"max_abs": float(err.abs().max()), "rms": rms,
            "relative_rms_pct": 100.0 * rms / float(torch.sqrt(torch.mean(x ** 2)))}


def torchao_round_trip(x: Any, *, symmetric: bool = True, per_channel: bool = False) -> Any:
    """The same round trip with torchao's quantization primitives (the reference).

    Returns ``(dequantized, scale)`` from ``choose_qparams_affine``, ``quantize_affine``
    and ``dequantize_affine`` with int8 and a block size of one row (per channel) or the
    whole tensor.
    """
    torch = _torch()
    _import_torchao()
    from torchao.quantization.quant_primitives import (
        MappingType,
        choose_qparams_affine,
        dequantize_affine,
        quantize_affine,
    )

    x = torch.as_tensor(x).float()
    block = (1, *x.shape[1:]) if per_channel else tuple(x.shape)
    mapping = MappingType.SYMMETRIC if symmetric else MappingType.ASYMMETRIC
    scale, zero_point = choose_qparams_affine(x, mapping, block, torch.int8)
    q = quantize_affine(x, block, scale, zero_point, torch.int8)
    return dequantize_affine(q, block, scale, zero_point, torch.int8,
                             output_dtype=torch.float32), scale


def tensor_bytes(tensor: Any) -> int:
    """Bytes a tensor holds, counting the inner tensors of a quantized tensor subclass
    (torchao's int8 weights keep ``qdata``, ``scale`` and ``zero_point``)."""
    torch = _torch()
    if type(tensor) is not torch.Tensor and hasattr(tensor, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def model_bytes(model: Any, *, weights_only: bool = False) -> int:
    """Bytes of a model's parameters and buffers (``weights_only``: the 2-D weights only)."""
    total = 0
    for name, tensor in model.state_dict().items():
        if weights_only and not (name.endswith("weight") and tensor.dim() == 2):
            continue
        total += tensor_bytes(tensor)
    return total


def saved_bytes(model: Any) -> int:
    """Size of ``torch.save(model.state_dict())``: what a file of the model takes on disk."""
    import io

    torch = _torch()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def cast_model(model: Any, dtype: Any) -> Any:
    """A copy of ``model`` with weights in ``dtype`` that takes and returns float32.

    Inputs are cast to ``dtype`` on the way in, outputs back to float32 on the way out,
    so the cast model is a drop-in replacement.
    """
    torch = _torch()

    class CastModel(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x.to(dtype)).float()

    return CastModel(copy.deepcopy(model).to(dtype)).eval()


def int8_weight_only(model: Any) -> Any:
    """A copy of ``model`` with int8 weights (one scale per output channel), via torchao.

    Activations stay in float; weights are dequantized on the fly inside the matrix
    multiply. Memory shrinks about 4x; speed depends on the kernels of the CPU.
    """
    _import_torchao()
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantized = copy.deepcopy(model).eval()
    quantize_(quantized, Int8WeightOnlyConfig())
    return quantized


def int8_dynamic(model: Any) -> Any:
    """A copy of ``model`` with int8 weights and activations quantized per call (torchao).

    "Dynamic": the activations' scale is computed from each batch at run time, so no
    calibration data is needed, and the matrix multiply runs on integers.
    """
    _import_torchao()
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    quantized = copy.deepcopy(model).eval()
    quantize_(quantized, Int8DynamicActivationInt8WeightConfig())
    return quantized


def onnx_static_int8(
    onnx_path: str | os.PathLike[str],
    calibration: Any,
    out_path: str | os.PathLike[str],
    *,
    method: str = "percentile",
    percentile: float = 99.9,
    batch_size: int = 256,
) -> Path:
    """Static int8 quantization of an ONNX model with ONNX Runtime, calibrated on data.

    "Static": the activations' scales are fixed ahead of time from the values seen on
    ``calibration`` rows (a float32 array or tensor; training rows, never test rows), so
    no scale is computed at run time. ``method="minmax"`` takes each activation's full
    range, so one outlier row stretches the scale for all; ``"percentile"`` clips the
    range at the ``percentile``-th percentile of the absolute values. Weights are int8 per
    channel; the format is QDQ (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime
    fuses into int8 kernels). Calibration uses whole batches of ``batch_size`` rows (ONNX
    Runtime's histogram calibrators need equal batches): a remainder is left out.
    """
    import contextlib
    import io

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    methods = {"minmax": {}, "percentile": {
        "calibrate_method": CalibrationMethod.Percentile,
        "extra_options": {"CalibPercentile": percentile}}}
    if method not in methods:
        raise ValueError(f"calibration method {method!r} is not one of {sorted(methods)}")
    array = calibration.numpy() if hasattr(calibration, "numpy") else np.asarray(calibration)
    array = np.ascontiguousarray(array, dtype=np.float32)
    n_rows = len(array) // batch_size * batch_size
    if n_rows == 0:
        raise ValueError(f"onnx_static_int8 needs at least {batch_size} calibration rows "
                         f"(e.g. the training features), got {len(array)}")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{"features": array[i:i + batch_size]}
                                  for i in range(0, n_rows, batch_size)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    out_path = Path(out_path)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static logs advice on pre-processing for CNNs
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # and prints calibration progress
            quantize_static(str(onnx_path), str(out_path), Reader(),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            **methods[method])
    finally:
        root.setLevel(level)
    return out_path
