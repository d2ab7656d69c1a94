# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Lesson 7 — Quantized and low-precision ML
#
# Lesson 6 ran the house-price MLP faster by changing *how* it executes. This lesson
# changes *what numbers* it computes with: 16-bit floats (fp16, bf16) and 8-bit integers
# (int8) instead of 32-bit floats. Fewer bits mean smaller models (less memory, less
# bandwidth, cheaper devices) and, on hardware with the right kernels, faster arithmetic —
# at a cost in range and precision that has to be measured, not assumed. Lecture notes:
# `lectures/07-quantization.md`.
#
# **After this lesson you can**
# 1. compare fp32, fp16, bf16 and int8 by range, precision and memory, and say which
#    values each one cannot hold;
# 2. quantize a weight matrix by hand — scale and zero point, symmetric or asymmetric,
#    per tensor or per channel — and check it against PyTorch's own quantizer;
# 3. quantize a trained model after training with the current toolkits (torchao,
#    ONNX Runtime's static int8 quantizer with calibration data);
# 4. build a trade-off table of size, latency and accuracy for every variant, from one
#    run, and say where int8 does not pay on a given CPU.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: a sample of the districts, fewer epochs and repeats
SEED = 42

# %% [markdown]
# ## Setup
# The model is lesson 6's (`mlops_course.torch_model`); the formats, the quantizer written
# from scratch and the wrappers around torchao and ONNX Runtime are in
# `mlops_course.quantize`. Timings use one CPU thread, as in lesson 6.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from mlops_course import accelerate, bench
from mlops_course import quantize as qz
from mlops_course.course.results import record_metrics
from mlops_course.torch_model import train_house_price_mlp

SEED = config.set_seed(SEED)
torch.set_num_threads(1)
threadpool_limits(1)
WORK = config.work_dir("07_quantization")
REPEATS = 5 if FAST else 21  # timing repeats per variant (the median is reported)
LARGE_BATCH = 4096
print(f"FAST={FAST}, working in {WORK}")
print(bench.format_report(bench.environment_report()))

# %% [markdown]
# ## The model, in fp32
# The same call as in lesson 6 gives the same trained model (seed 42, one thread).

# %%
run = train_house_price_mlp(fast=FAST, seed=SEED, progress=True)
model, X_test, y_test = run.model, run.X_test, run.y_test
fp32_rmse = run.test_rmse_usd()
n_params = sum(p.numel() for p in model.parameters())
fp32_weight_bytes = qz.model_bytes(model, weights_only=True)
y_unit_range = (run.y_train.min() / 1e5, run.y_train.max() / 1e5)
print(f"training prices ${run.y_train.min():,.0f} to ${run.y_train.max():,.0f}: the network "
      f"predicts {y_unit_range[0]:.2f} to {y_unit_range[1]:.2f} (units of $100,000)")
print(f"{n_params:,} parameters; weight matrices take {fp32_weight_bytes:,} bytes in fp32")
print(f"fp32 test RMSE = ${fp32_rmse:,.0f} on {len(X_test):,} districts")

# %% [markdown]
# ## The problem, shown: a format that cannot hold the numbers
# Halving the bits sounds harmless. Store a few house prices in dollars in each 16-bit
# format and read them back:

# %%
prices_usd = torch.tensor([14_999.0, 179_700.0, 452_600.0, 500_001.0])
stored = pd.DataFrame({"price_usd": prices_usd.tolist(),
                       "as fp16": prices_usd.half().float().tolist(),
                       "as bf16": prices_usd.bfloat16().float().tolist()})
print(stored.to_string(index=False))
fp16_overflows = int(torch.isinf(prices_usd.half()).sum())
bf16_worst_usd = float((prices_usd.bfloat16().float() - prices_usd).abs().max())
print(f"fp16: {fp16_overflows} of {len(prices_usd)} prices become inf; "
      f"bf16: off by up to ${bf16_worst_usd:,.0f}")

# %% [markdown]
# fp16 cannot hold any price above its largest value (65,504): they become infinity. bf16
# holds them but keeps only 2 to 3 significant digits (`decimal_digits` below), off by the
# amount printed.
# Neither error raises an exception. That is why the model predicts in units of $100,000
# (the range printed under *The model*), and why each format's range and precision come first.
#
# ## 1. Number formats: range, precision, memory

# %%
formats = qz.number_formats()
formats["model_weight_bytes"] = [fp32_weight_bytes * b // 4 for b in formats["bytes"]]
print(formats[["bits", "exponent_bits", "mantissa_bits", "max", "smallest_normal", "eps",
               "decimal_digits", "model_weight_bytes"]].to_string())

# %% [markdown]
# * **fp32**: 8 exponent bits (range to about 3.4e38), 23 mantissa bits (about 7 digits).
# * **fp16**: 5 exponent bits — a range only to 65,504 — and 10 mantissa bits.
# * **bf16** ("brain float"): fp32's 8 exponent bits, so fp32's range, but only 7 mantissa
#   bits: about 2 to 3 digits. Converting fp32 to bf16 is cutting off 16 bits.
# * **int8**: 256 evenly spaced integers. Real values get there through a *scale* (and
#   a zero point); the precision is the scale, the same everywhere in the range.
#
# The last column is what this model's weight matrices take in each format (int8 not
# counting its scales). The plot shows the relative rounding error of each format across
# magnitudes: floats have the *same relative* error everywhere in their range (a
# sawtooth), an int8 grid has the same *absolute* error, so its relative error explodes
# for values much smaller than its scale.

# %%
magnitudes = np.logspace(-8, 6, 4001)
int8_scale = 1.0 / 127.5  # symmetric int8 for values in [-1, 1]
int8_q = np.clip(np.round(magnitudes / int8_scale), -128, 127)
int8_rel = np.abs(int8_q * int8_scale - magnitudes) / magnitudes
fig, ax = plt.subplots(figsize=(8, 4))
for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
    err = qz.rounding_error(magnitudes, dtype)
    ax.loglog(magnitudes, np.clip(err, 1e-9, 1.0), lw=0.8, label=name)
ax.loglog(magnitudes, np.clip(int8_rel, 1e-9, 1.0), lw=0.8, label="int8, scale 1/127.5")
ax.axhline(torch.finfo(torch.float32).eps / 2, color="black", ls=":", lw=0.8,
           label="fp32 (max relative error)")
ax.axvline(65_504, color="tab:blue", ls="--", lw=0.8)
ax.text(65_504, 2e-8, " fp16 max\n (inf above)", color="tab:blue", fontsize=8)
ax.set_xlabel("value stored (log scale)")
ax.set_ylabel("relative rounding error |x - stored| / x (log)")
ax.set_ylim(1e-9, 2)
ax.set_title("Rounding error by format: floats are relative, int8 is absolute")
ax.legend(loc="lower left", fontsize=8)
plt.show()
fp16_rel_1 = float(qz.rounding_error(magnitudes[(magnitudes > 1) & (magnitudes < 1e4)],
                                     torch.float16).max())
bf16_rel_1 = float(qz.rounding_error(magnitudes[(magnitudes > 1) & (magnitudes < 1e4)],
                                     torch.bfloat16).max())
print(f"largest relative error between 1 and 10,000: fp16 {fp16_rel_1:.2e}, "
      f"bf16 {bf16_rel_1:.2e} (half of eps: {torch.finfo(torch.float16).eps / 2:.2e}, "
      f"{torch.finfo(torch.bfloat16).eps / 2:.2e})")

# %% [markdown]
# Below fp16's smallest normal value (about 6e-5) its relative error grows (subnormals,
# then zero); above 65,504 it is infinite (cut off at 1 in the plot). Where fp16 is normal,
# bf16's error is 8x fp16's (the ratio of their `eps`, printed above), but bf16 never
# overflows where fp32 would not.
#
# ## 2. Affine quantization, from scratch
# To store a float tensor in int8, pick a **scale** (how much one integer step is worth)
# and a **zero point** (which integer stands for 0.0):
#
# `q = clamp(round(x / scale) + zero_point, -128, 127)` and back `x̂ = (q - zero_point) * scale`.
#
# `mlops_course.quantize` writes this out in a few lines of PyTorch. The choices:
# **symmetric** (zero point 0, the range ±max|x|) or **asymmetric** (the range [min, max]
# mapped onto all 256 integers), and one scale **per tensor** or one **per channel** (per
# row of a weight matrix: one per output neuron). Here is the 256×256 weight matrix of the
# model's second layer, quantized all four ways:

# %%
W = model[2].weight.detach()
rows = {}
for symmetric in (True, False):
    for axis in (None, 0):
        qp = qz.choose_qparams(W, symmetric=symmetric, axis=axis)
        name = f"{'symmetric' if symmetric else 'asymmetric'}, per {'tensor' if axis is None else 'channel'}"
        rows[name] = {**qz.quantization_error(W, qp), "scales": qp.scale.numel()}
weight_errors = pd.DataFrame(rows).T
print(weight_errors.to_string(float_format=lambda v: f"{v:.3g}"))
row_absmax = W.abs().amax(dim=1)
print(f"max |w| per row ranges from {row_absmax.min():.2g} to {row_absmax.max():.3f}: "
      f"a per-tensor scale is set by the largest row; min {W.min():.3f}, max {W.max():.3f}")

# %% [markdown]
# Per-channel scales cut the error (a row of small weights gets a fine scale of its own,
# instead of the scale the largest row needs) at the price of one scale per row. For
# weights, per-channel scales matter more than asymmetry (asserted: symmetric per channel
# beats asymmetric per tensor); asymmetry helps as far as a matrix's range is lopsided
# (its min and max are printed above). Activations after a ReLU are the extreme case:
# they are never negative, so a symmetric range wastes the 128 negative integers.

# %%
with torch.inference_mode():
    activations = model[1](model[0](X_test))  # after the first Linear + ReLU: all >= 0
act_errors = {}
for symmetric in (True, False):
    qp = qz.choose_qparams(activations, symmetric=symmetric)
    act_errors["symmetric" if symmetric else "asymmetric"] = qz.quantization_error(
        activations, qp)["rms"]
print(f"ReLU activations (min {activations.min():.2f}, max {activations.max():.2f}): "
      f"RMS error symmetric {act_errors['symmetric']:.4f}, "
      f"asymmetric {act_errors['asymmetric']:.4f}")

# %% [markdown]
# **Checked against PyTorch's own quantizer.** torchao (PyTorch's quantization library)
# has the same primitives: `choose_qparams_affine`, `quantize_affine`,
# `dequantize_affine`. Our round trip must agree with theirs within one step of the scale
# (a value exactly halfway between two steps may round either way):

# %%
agreement_steps = {}
for symmetric in (True, False):
    for per_channel in (False, True):
        ours_qp = qz.choose_qparams(W, symmetric=symmetric, axis=0 if per_channel else None)
        ours = qz.dequantize(qz.quantize(W, ours_qp), ours_qp)
        reference, _ = qz.torchao_round_trip(W, symmetric=symmetric, per_channel=per_channel)
        steps = float(((ours - reference).abs() / ours_qp.scale).max())
        agreement_steps[f"{'sym' if symmetric else 'asym'}/{'channel' if per_channel else 'tensor'}"] = steps
print("largest difference from torchao, in steps of the scale:",
      {k: round(v, 3) for k, v in agreement_steps.items()})

# %% [markdown]
# ## 3. Post-training quantization of the model
# Post-training quantization (PTQ) converts a trained model without retraining it. The
# variants, each a copy of the same trained model:
#
# | variant | what changes | toolkit |
# | --- | --- | --- |
# | fp16, bf16 | every weight and activation cast to 16 bits | `model.to(dtype)` |
# | int8 weight-only | weights int8 per channel, dequantized inside the matmul | torchao `Int8WeightOnlyConfig` |
# | int8 dynamic | weights int8; activations quantized per call from each batch's range | torchao `Int8DynamicActivationInt8WeightConfig` |
# | ONNX fp32 | lesson 6's export, run by ONNX Runtime | `torch.onnx.export` |
# | ONNX int8 static | weights and activations int8, activation scales fixed in advance from **calibration** data (training rows) | ONNX Runtime `quantize_static`, percentile calibration |
#
# Static int8 needs calibration: run representative inputs through the model, record
# each activation's range, fix its scale. torchao's static config expects those scales
# to be handed in per layer; ONNX Runtime's quantizer runs the calibration itself, so
# the static variant here is ONNX Runtime's.
#
# **How** the range is taken matters. The simplest rule, min-max, takes every value seen;
# but the scaled features have outliers (a district with a huge population per household
# lies many standard deviations out), and one outlier stretches the scale for every row.
# Clipping the range at the 99.9th percentile gives up the outliers' precision to keep
# everyone else's:

# %%
onnx_fp32_path = accelerate.export_onnx(model, X_test[:1], WORK / "mlp_fp32.onnx")
ort_fp32 = accelerate.onnx_session(onnx_fp32_path)


def ort_runner(session):
    return lambda x: torch.from_numpy(accelerate.onnx_predict(session, x))


print(f"largest |feature| in the training rows: {run.X_train.abs().max():.1f} standard deviations")
calibration_rmse = {}
for method in ("minmax", "percentile"):
    path = qz.onnx_static_int8(onnx_fp32_path, run.X_train, WORK / f"mlp_int8_{method}.onnx",
                               method=method)
    calibration_rmse[method] = run.test_rmse_usd(ort_runner(accelerate.onnx_session(path)))
    print(f"static int8, {method:<10} calibration: test RMSE ${calibration_rmse[method]:,.0f} "
          f"({100 * (calibration_rmse[method] - fp32_rmse) / fp32_rmse:+.2f}% vs fp32)")
onnx_int8_path = WORK / "mlp_int8_percentile.onnx"
ort_int8 = accelerate.onnx_session(onnx_int8_path)

# %% [markdown]
# The percentile-calibrated model is the static int8 variant from here on. Now every
# variant, built from the same trained model:

# %%
variants = {
    "fp32": model,
    "fp16": qz.cast_model(model, torch.float16),
    "bf16": qz.cast_model(model, torch.bfloat16),
    "int8 weight-only": qz.int8_weight_only(model),
    "int8 dynamic": qz.int8_dynamic(model),
    "ONNX fp32": ort_runner(ort_fp32),
    "ONNX int8 static": ort_runner(ort_int8),
}
size_bytes = {name: qz.saved_bytes(v) for name, v in variants.items() if name[:4] != "ONNX"}
size_bytes["ONNX fp32"] = accelerate.file_size_bytes(onnx_fp32_path)
size_bytes["ONNX int8 static"] = accelerate.file_size_bytes(onnx_int8_path)
weight_bytes = {name: qz.model_bytes(v, weights_only=True) for name, v in variants.items()
                if name[:4] != "ONNX"}
test_rmse = {name: run.test_rmse_usd(v) for name, v in variants.items()}
for name in variants:
    print(f"{name:<17} test RMSE ${test_rmse[name]:>9,.2f}  file {size_bytes[name]:>8,} bytes")

# %% [markdown]
# Sizes are what a file of each variant takes (`torch.save` of the state dict; the
# `.onnx` file). Now the speed, all variants in one interleaved run against fp32 eager,
# at batch 1 and at batch 4,096:

# %%
x1 = X_test[:1]
x_large = X_test[torch.arange(LARGE_BATCH) % len(X_test)].contiguous()


def caller(fn, x):
    def call():
        with torch.inference_mode():
            return fn(x)
    return call


timing = {}
for label, x in (("batch 1", x1), (f"batch {LARGE_BATCH:,}", x_large)):
    timing[label] = bench.compare({name: caller(v, x) for name, v in variants.items()},
                                  baseline="fp32", rows=len(x), repeats=REPEATS)
table = pd.DataFrame({
    "size_bytes": size_bytes,
    "size_vs_fp32": {k: size_bytes["fp32"] / v for k, v in size_bytes.items()},
    "latency_b1_ms": timing["batch 1"]["median_ms"],
    "speedup_b1": timing["batch 1"]["speedup"],
    f"ms_b{LARGE_BATCH}": timing[f"batch {LARGE_BATCH:,}"]["median_ms"],
    f"speedup_b{LARGE_BATCH}": timing[f"batch {LARGE_BATCH:,}"]["speedup"],
    "test_rmse_usd": test_rmse,
    "rmse_delta_pct": {k: 100 * (v - fp32_rmse) / fp32_rmse for k, v in test_rmse.items()},
}).loc[list(variants)]
print("trade-offs, measured in this run (speed-ups against fp32 eager PyTorch, 1 thread):")
print(table.to_string(float_format=lambda v: f"{v:,.3f}"))

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), sharey=True)
colors = ["0.5", "tab:cyan", "tab:blue", "tab:orange", "tab:red", "0.75", "tab:purple"]
names = list(table.index)
y = np.arange(len(names))
bars = axes[0].barh(y, table["size_bytes"] / 1e3, color=colors)
axes[0].bar_label(bars, labels=[f"{v / 1e3:,.0f} kB" for v in table["size_bytes"]],
                  fontsize=8, padding=2)
axes[0].set_xlim(0, table["size_bytes"].max() / 1e3 * 1.25)
axes[0].set_xlabel("file size (kB)")
axes[0].set_yticks(y, names)
axes[0].invert_yaxis()
width = 0.4
for offset, col, label, color in ((-width / 2, "speedup_b1", "batch 1", "tab:green"),
                                  (width / 2, f"speedup_b{LARGE_BATCH}",
                                   f"batch {LARGE_BATCH:,}", "tab:olive")):
    bars = axes[1].barh(y + offset, table[col], width, label=label, color=color)
    axes[1].bar_label(bars, labels=[f"{v:.2f}x" for v in table[col]], fontsize=7, padding=2)
axes[1].axvline(1.0, color="black", lw=0.8)
axes[1].set_xscale("log")
axes[1].set_xlim(table[["speedup_b1", f"speedup_b{LARGE_BATCH}"]].min().min() / 1.5,
                 table[["speedup_b1", f"speedup_b{LARGE_BATCH}"]].max().max() * 3)
axes[1].set_xlabel("speed vs fp32 eager (x, log scale; > 1 is faster)")
axes[1].legend(fontsize=8, loc="upper right")
delta = table["rmse_delta_pct"]
bars = axes[2].barh(y, delta, color=colors)
axes[2].bar_label(bars, labels=[f"{v:+.2f}%" for v in delta], fontsize=8, padding=2)
span = max(0.5, float(delta.abs().max())) * 1.6
axes[2].set_xlim(-span, span)
axes[2].axvline(0.0, color="black", lw=0.8)
axes[2].set_xlabel("test RMSE change vs fp32 (%, < 0 is better)")
fig.suptitle("Every variant of the same trained MLP: size, speed (1 CPU thread), accuracy — "
             "measured in one run")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Where int8 does not pay on this CPU
# The cell below lists, from the table, every int8 variant that ran *slower* than fp32
# eager PyTorch.

# %%
int8_names = [n for n in names if "int8" in n]
slower = {label: [n for n in int8_names if table.loc[n, col] < 1.0]
          for label, col in (("batch 1", "speedup_b1"),
                             (f"batch {LARGE_BATCH:,}", f"speedup_b{LARGE_BATCH}"))}
for label, found in slower.items():
    print(f"{label}: int8 slower than fp32 eager -> {', '.join(found) or 'none'}")
onnx_int8_vs_fp32 = {label: t.loc["ONNX fp32", "median_ms"] / t.loc["ONNX int8 static", "median_ms"]
                     for label, t in timing.items()}
for label, ratio in onnx_int8_vs_fp32.items():
    print(f"ONNX Runtime, int8 static vs fp32, {label}: {ratio:.2f}x (> 1: int8 faster)")

# %% [markdown]
# Say it plainly: on this CPU, for this model, int8 makes the model smaller by the
# `size_vs_fp32` factor in the table (asserted: at least 3.5x for the weights) and — in
# the variants listed above — *slower*. The model is tiny: at batch 1
# its time is overhead, and int8 adds work (quantizing the activations, dequantizing or
# rescaling the outputs) without removing any. The arithmetic saving only shows when the
# matrix multiplies dominate — large layers, large batches — and when the kernels use the
# CPU's int8 dot-product instructions (VNNI/AMX on recent x86, dot-product instructions on
# Arm): compare ONNX Runtime's int8 with its fp32 at both batch sizes, printed above.
# torchao's int8 paths are written for GPUs and `torch.compile` first; run eagerly on a
# CPU, they dequantize or quantize in extra steps. The memory saving is always there, and it is what matters for
# a model that would not fit otherwise, or is bound by memory bandwidth (large language
# models). fp16 and bf16 halve the size; whether they are fast depends on the CPU's
# support for 16-bit arithmetic (the table shows this one).
#
# ## Checks
# The claims of this lesson, asserted; the key numbers go to the course summary. Speed is
# recorded, never asserted here: it depends on the machine.

# %%
int8_weight_ratio = fp32_weight_bytes / weight_bytes["int8 weight-only"]
rmse_delta_pct = {k: float(v) for k, v in table["rmse_delta_pct"].items()}
assert fp16_overflows == int((prices_usd > 65_504).sum()) == 3, "fp16 overflows above 65,504"
assert bf16_worst_usd > 0, "bf16 rounds prices"
assert fp16_rel_1 <= torch.finfo(torch.float16).eps / 2, "fp16: relative error <= eps / 2"
assert bf16_rel_1 <= torch.finfo(torch.bfloat16).eps / 2, "bf16: relative error <= eps / 2"
assert max(agreement_steps.values()) <= 1.0 + 1e-3, f"our quantizer vs torchao: {agreement_steps}"
assert weight_errors.loc["symmetric, per channel", "rms"] < \
    weight_errors.loc["symmetric, per tensor", "rms"], "per-channel scales cut the error"
assert act_errors["asymmetric"] < act_errors["symmetric"], "asymmetric suits ReLU outputs"
assert calibration_rmse["percentile"] < calibration_rmse["minmax"], "outliers hurt min-max"
assert int8_weight_ratio < 4, "lecture: the scales keep int8 below 4x"
assert weight_errors.loc["symmetric, per channel", "rms"] < \
    weight_errors.loc["asymmetric, per tensor", "rms"], "per channel matters more than asymmetry"
assert int8_weight_ratio >= 3.5, f"int8 weights only {int8_weight_ratio:.2f}x smaller than fp32"
assert size_bytes["fp32"] / size_bytes["int8 weight-only"] >= 3.5, "the int8 file too"
assert abs(rmse_delta_pct["fp16"]) < 1 and abs(rmse_delta_pct["bf16"]) < 1, rmse_delta_pct
if not FAST:  # the bar: int8 within 2 % of fp32 on the full test set
    assert calibration_rmse["minmax"] > 1.02 * fp32_rmse, "lecture: min-max misses the 2 % budget"
    for name in int8_names:
        assert abs(rmse_delta_pct[name]) <= 2.0, f"{name}: RMSE {rmse_delta_pct[name]:+.2f}%"
summary = record_metrics(
    fp32_test_rmse_usd=round(fp32_rmse),
    rmse_delta_minmax_calibration_pct=round(
        100 * (calibration_rmse["minmax"] - fp32_rmse) / fp32_rmse, 2),
    int8_weight_size_ratio=round(int8_weight_ratio, 2),
    int8_file_size_ratio=round(size_bytes["fp32"] / size_bytes["int8 weight-only"], 2),
    onnx_int8_file_size_ratio=round(size_bytes["ONNX fp32"] / size_bytes["ONNX int8 static"], 2),
    rmse_delta_fp16_pct=round(rmse_delta_pct["fp16"], 3),
    rmse_delta_bf16_pct=round(rmse_delta_pct["bf16"], 3),
    rmse_delta_int8_weight_only_pct=round(rmse_delta_pct["int8 weight-only"], 3),
    rmse_delta_int8_dynamic_pct=round(rmse_delta_pct["int8 dynamic"], 3),
    rmse_delta_onnx_int8_static_pct=round(rmse_delta_pct["ONNX int8 static"], 3),
    speedup_int8_weight_only_b1=round(table.loc["int8 weight-only", "speedup_b1"], 2),
    speedup_int8_dynamic_b1=round(table.loc["int8 dynamic", "speedup_b1"], 2),
    speedup_onnx_int8_b1=round(table.loc["ONNX int8 static", "speedup_b1"], 2),
    speedup_bf16_large=round(table.loc["bf16", f"speedup_b{LARGE_BATCH}"], 2),
    speedup_int8_dynamic_large=round(table.loc["int8 dynamic", f"speedup_b{LARGE_BATCH}"], 2),
    speedup_onnx_int8_large=round(table.loc["ONNX int8 static", f"speedup_b{LARGE_BATCH}"], 2),
    onnx_int8_vs_onnx_fp32_large=round(onnx_int8_vs_fp32[f"batch {LARGE_BATCH:,}"], 2),
    quantizer_vs_torchao_max_steps=round(max(agreement_steps.values()), 3),
)

# %% [markdown]
# ## Recap and next
# | question | what this lesson showed |
# | --- | --- |
# | what do fewer bits cost? | range (fp16 overflows above 65,504) and precision (bf16 keeps 2–3 digits); int8 needs a scale |
# | how does int8 quantization work? | scale and zero point; symmetric for weights, asymmetric for one-sided activations; per-channel scales for rows of different size |
# | how to quantize a trained model? | torchao (weight-only, dynamic) and ONNX Runtime (static, with calibration data); fp16/bf16 casts |
# | is it worth it? | measured in one table: int8 is at least 3.5x smaller with a small RMSE change (asserted within 2 % in full mode); on this CPU it is slower wherever the run lists it |
#
# Lesson 8 serves the model behind an API, where the measured latency of lesson 6 and the
# size and accuracy of this lesson decide which variant ships.
#
# **Exercise:** `exercises/07_quantization.ipynb` — write the scale and zero point of an
# int8 range, quantize a weight matrix per channel in PyTorch, and count a model's bytes
# in each format.
