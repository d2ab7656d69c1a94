# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Exercise 7 — int8 quantization by hand
#
# Lesson 7 quantized the house-price MLP with torchao and ONNX Runtime, and wrote the
# arithmetic out in `mlops_course.quantize`. Write it yourself: the scale and zero point of
# an int8 range, per-channel quantization of a weight matrix with PyTorch tensors, and the
# memory a model takes in each number format. Each part has public tests you can run
# here; graders also run hidden tests.

# %%
import torch

from mlops_course.course.observe import raised

torch.manual_seed(42)
torch.set_num_threads(1)

# %% [markdown]
# ## Part 1 — Scale and zero point (3 points)
# Write `int8_qparams(x_min, x_max, symmetric)` for signed int8 (`qmin = -128`,
# `qmax = 127`). Return `(scale, zero_point)` as a `(float, int)` tuple:
#
# * first widen the range to include 0: `x_min = min(x_min, 0)`, `x_max = max(x_max, 0)`;
# * **symmetric**: `scale = max(-x_min, x_max) / 127.5` and `zero_point = 0`;
# * **asymmetric**: `scale = (x_max - x_min) / 255` and
#   `zero_point = round(-128 - x_min / scale)`, clamped to [-128, 127].
#
# If the range is all zeros, use `scale = 1.0`. Raise `ValueError` if `x_min > x_max`.

# %% tags=["solution"] grade_id="int8_qparams"
def int8_qparams(x_min, x_max, symmetric=True):
    """(scale, zero_point) mapping [x_min, x_max] onto the int8 range."""
    ### BEGIN SOLUTION
    if x_min > x_max:
        raise ValueError(f"x_min ({x_min}) is larger than x_max ({x_max})")
    x_min, x_max = min(x_min, 0.0), max(x_max, 0.0)
    if x_min == x_max == 0.0:
        return 1.0, 0
    if symmetric:
        return max(-x_min, x_max) / 127.5, 0
    scale = (x_max - x_min) / 255
    zero_point = int(round(-128 - x_min / scale))
    return scale, max(-128, min(127, zero_point))
    ### END SOLUTION


# %% tags=["test"] grade_id="test_int8_qparams_symmetric" points=1
def probe():
    return list(int8_qparams(-2.0, 1.0, symmetric=True))


def verify(observed):
    scale, zero_point = observed
    assert abs(scale - 2.0 / 127.5) < 1e-12, f"symmetric scale is max|x| / 127.5, got {scale}"
    assert zero_point == 0, f"symmetric zero point is 0, got {zero_point}"


verify(probe())

# %% tags=["test"] grade_id="test_int8_qparams_asymmetric" points=1
def probe():
    return list(int8_qparams(0.0, 5.1, symmetric=False))


def verify(observed):
    scale, zero_point = observed
    assert abs(scale - 0.02) < 1e-12, f"asymmetric scale is (max - min) / 255, got {scale}"
    assert zero_point == -128, f"a range starting at 0 puts 0 at -128, got {zero_point}"


verify(probe())

# %% tags=["test"] grade_id="hidden_int8_qparams_widen_and_errors" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    return {"positive": list(int8_qparams(2.0, 4.0, symmetric=False)),
            "zeros": list(int8_qparams(0.0, 0.0, symmetric=True))}


def verify(observed):
    scale, zero_point = observed["positive"]
    assert abs(scale - 4.0 / 255) < 1e-12, "the range is widened to include 0: [0, 4]"
    assert zero_point == -128, "widened to [0, 4], zero maps to -128"
    assert observed["zeros"] == [1.0, 0], "an all-zero range uses scale 1.0"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_int8_qparams_bad_range" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    try:
        int8_qparams(3.0, -3.0)
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "x_min > x_max must raise ValueError"
    assert "ValueError" in observed["raised"], "x_min > x_max must raise ValueError"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — Per-channel quantization with PyTorch tensors (4 points)
# A `Linear` layer's weight has one row per output neuron, and rows can differ a lot in
# size. Write two functions:
#
# * `quantize_per_row(weight)`: symmetric int8 with **one scale per row**:
#   `scale[i] = max|weight[i, :]| / 127.5` (use 1.0 for an all-zero row), and
#   `q = clamp(round(weight / scale), -128, 127)` as a `torch.int8` tensor. Return
#   `(q, scale)` with `scale` a float32 tensor of shape `(rows, 1)`.
# * `dequantize_per_row(q, scale)`: back to float32, `q * scale`.
#
# Use tensor operations, no Python loop over rows.

# %% tags=["solution"] grade_id="quantize_per_row"
def quantize_per_row(weight):
    """Symmetric int8 quantization with one scale per row: (q, scale)."""
    ### BEGIN SOLUTION
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1, keepdim=True) / 127.5
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.clamp(torch.round(weight / scale), -128, 127).to(torch.int8)
    return q, scale
    ### END SOLUTION


def dequantize_per_row(q, scale):
    """int8 values and per-row scales back to float32."""
    ### BEGIN SOLUTION
    return q.float() * scale
    ### END SOLUTION


# %% tags=["test"] grade_id="test_quantize_per_row_shapes" points=1
def probe():
    weight = torch.randn(6, 10)
    q, scale = quantize_per_row(weight)
    return {"q_dtype": str(q.dtype), "q_shape": list(q.shape), "scale_shape": list(scale.shape),
            "scale_dtype": str(scale.dtype)}


def verify(observed):
    assert observed["q_dtype"] == "torch.int8", f"q must be torch.int8, got {observed['q_dtype']}"
    assert observed["q_shape"] == [6, 10], "q has the weight's shape"
    assert observed["scale_shape"] == [6, 1], f"one scale per row: (6, 1), got {observed}"
    assert observed["scale_dtype"] == "torch.float32", "scales are float32"


verify(probe())

# %% tags=["test"] grade_id="test_quantize_per_row_round_trip" points=1
def probe():
    torch.manual_seed(3)
    weight = torch.randn(4, 32) * torch.tensor([[0.01], [0.1], [1.0], [10.0]])
    q, scale = quantize_per_row(weight)
    back = dequantize_per_row(q, scale)
    return {"error": (back - weight).abs().amax(dim=1).tolist(),
            "scale": scale.reshape(-1).tolist(),
            "absmax": weight.abs().amax(dim=1).tolist()}


def verify(observed):
    for row, (err, scale, absmax) in enumerate(zip(observed["error"], observed["scale"],
                                                   observed["absmax"], strict=True)):
        assert abs(scale - absmax / 127.5) <= 1e-6 * absmax, f"row {row}: scale = max|w| / 127.5"
        assert err <= scale / 2 + 1e-6 * absmax, (
            f"row {row}: round-trip error {err:.3g} above half a step ({scale / 2:.3g})")


verify(probe())

# %% tags=["test"] grade_id="hidden_quantize_per_row_matches_torch" points=1
### BEGIN HIDDEN TESTS
def probe():
    torch.manual_seed(5)
    weight = torch.randn(8, 16) * 3
    q, scale = quantize_per_row(weight)
    reference = torch.fake_quantize_per_channel_affine(
        weight, scale.reshape(-1).float(), torch.zeros(8, dtype=torch.int32), 0, -128, 127)
    return {"steps": ((dequantize_per_row(q, scale) - reference).abs() / scale).amax().item()}


def verify(observed):
    assert observed["steps"] <= 1.0 + 1e-4, (
        f"differs from PyTorch's quantizer by {observed['steps']:.2f} steps (at most 1)")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_quantize_per_row_zero_row" points=1
### BEGIN HIDDEN TESTS
def probe():
    weight = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    q, scale = quantize_per_row(weight)
    return {"q": q.tolist(), "scale": scale.reshape(-1).tolist(),
            "back": dequantize_per_row(q, scale).tolist()}


def verify(observed):
    assert observed["q"][0] == [0, 0, 0], "an all-zero row quantizes to zeros"
    assert observed["scale"][0] == 1.0, "an all-zero row gets scale 1.0 (no division by 0)"
    assert observed["q"][1][1] in (-128, -127), "the row's largest |value| maps to the range's end"
    assert abs(observed["back"][1][1] + 2.0) < 0.02, "round trip of -2.0"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — What a model weighs in each format (2 points)
# Write `weight_bytes(model, fmt)`: the bytes the model's parameters (every tensor in
# `model.parameters()`) take when stored in `fmt`, one of `"fp32"`, `"fp16"`, `"bf16"`,
# `"int8"`. For int8, count one byte per value **plus** one float32 scale (4 bytes) per
# row of each 2-D parameter (a per-channel weight); 1-D parameters (biases) stay
# float32 in int8 models. Raise `ValueError` naming the format for anything else.

# %% tags=["solution"] grade_id="weight_bytes"
def weight_bytes(model, fmt) -> int:
    """Bytes of the model's parameters in the number format `fmt`."""
    ### BEGIN SOLUTION
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2}
    total = 0
    for param in model.parameters():
        if fmt in sizes:
            total += param.numel() * sizes[fmt]
        elif fmt == "int8":
            total += param.numel() + 4 * param.shape[0] if param.dim() == 2 else param.numel() * 4
        else:
            raise ValueError(f"unknown format {fmt!r}; use fp32, fp16, bf16 or int8")
    return total
    ### END SOLUTION


# %% tags=["test"] grade_id="test_weight_bytes_formats" points=1
def probe():
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    return {fmt: weight_bytes(model, fmt) for fmt in ("fp32", "fp16", "bf16", "int8")}


def verify(observed):
    # 145 values; int8: 136 weight bytes + 9 row scales x 4 bytes + 9 bias values x 4 bytes
    expected = {"fp32": 580, "fp16": 290, "bf16": 290, "int8": 136 + 36 + 36}
    assert observed == expected, f"expected {expected}, got {observed}"


verify(probe())

# %% tags=["test"] grade_id="hidden_weight_bytes_unknown" points=1
### BEGIN HIDDEN TESTS
def probe():
    try:
        weight_bytes(torch.nn.Linear(2, 2), "fp8")
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "an unknown format must raise ValueError"
    assert "ValueError" in observed["raised"], "an unknown format must raise ValueError"
    assert "fp8" in observed["message"], "name the unknown format in the message"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Reflect
# Part 1 is the whole of affine quantization's bookkeeping; Part 2 is what torchao's
# `Int8WeightOnlyConfig` does to every `Linear` weight; Part 3 is why int8 is a little less
# than 4x smaller than fp32: the scales and the biases stay in float.
