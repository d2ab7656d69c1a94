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
# # Lesson 6 — ML accelerators and compilers
#
# Lesson 1's problem table ends with serving: the notebook's model answered one request
# at a time, at whatever speed the training code happened to have, and nobody measured
# it. This lesson takes one trained model — the course's house-price MLP in PyTorch
# (`mlops_course.torch_model`) — and runs it four ways: PyTorch eager, `torch.compile`
# (Inductor), exported to ONNX and run by ONNX Runtime, and, where a GPU is present, on
# the GPU in 16-bit floats. It also converts lesson 2's scikit-learn model to ONNX. Every
# way is checked to give the same answers before any time is shown, and every time is
# measured properly. Lecture notes: `lectures/06-accelerators-compilers.md`.
#
# **After this lesson you can**
# 1. say what an ML compiler does — graph capture, operator fusion, kernel selection,
#    just-in-time vs ahead-of-time — and point at each in a captured graph and in
#    generated code;
# 2. run one trained model eagerly, compiled, and in ONNX Runtime, and check that the
#    outputs agree within a stated tolerance;
# 3. benchmark inference properly: warm-up, repeats, median and spread, a ratio against
#    a baseline from the same run, the hardware and versions printed;
# 4. explain why a tiny model gains little from a compiler at batch 1, and what helps:
#    batching, fusion, fewer Python round trips;
# 5. decide between a CPU and a GPU for a model from measured batch sizes.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: a sample of the districts, fewer epochs and repeats
SEED = 42

# %% [markdown]
# ## Setup
# The model, its training loop and its evaluation in dollars live in
# `mlops_course.torch_model` (lesson 7 uses the same model); the benchmark helper in
# `mlops_course.bench`; the compile, export and GPU helpers in `mlops_course.accelerate`.
# Every timing in this lesson uses **one CPU thread** for PyTorch and for ONNX Runtime:
# on a shared 2-core laptop that is what gives stable, comparable numbers.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import onnx
import torch
from threadpoolctl import threadpool_limits

from mlops_course import accelerate, bench
from mlops_course.course.results import record_metrics
from mlops_course.torch_model import TARGET_UNIT_USD, predict_usd, rmse_usd, train_house_price_mlp

SEED = config.set_seed(SEED)
torch.set_num_threads(1)
threadpool_limits(1)
WORK = config.work_dir("06_accelerators_compilers")  # emptied at every run
CACHE = accelerate.setup_inductor(WORK / "inductor_cache")  # cold at the start of each run
REPEATS = 7 if FAST else 25  # timing repeats per candidate (the median is reported)
LARGE_BATCH = 4096  # rows per call for throughput
print(f"FAST={FAST}, working in {WORK}, Inductor cache in {CACHE}")
print(bench.format_report(bench.environment_report()))

# %% [markdown]
# ## The model
# A multi-layer perceptron on lesson 2's preprocessing (16 features: scaled numbers,
# derived ratios, one-hot ocean proximity) → 256 → 256 → 1, trained with Adam on
# mean squared error, predicting the price in units of $100,000. The package trains it
# (seeded) with a progress bar; the same call in lesson 7 gives the same model.

# %%
run = train_house_price_mlp(fast=FAST, seed=SEED, with_sklearn=True)
model, X_test, y_test = run.model, run.X_test, run.y_test
n_params = sum(p.numel() for p in model.parameters())
macs_per_row = sum(layer.weight.numel() for layer in model if hasattr(layer, "weight"))
test_rmse = run.test_rmse_usd()
print(f"{n_params:,} parameters, trained on {len(run.X_train):,} districts in "
      f"{run.history.seconds:.1f} s (measured)")
print(f"test RMSE = ${test_rmse:,.0f} on {len(X_test):,} districts; "
      f"{macs_per_row:,} multiply-adds per row")

# %% [markdown]
# ## The problem, shown: one timing lies
# The usual way to "measure" a model is to time one call. Here is one call of the eager
# model and one call of the compiled model, each the very first call.

# %%
x1 = X_test[:1]
with torch.inference_mode():
    start = time.perf_counter()
    model(x1)
    first_eager_s = time.perf_counter() - start
compiled_1, compile_s, code_1 = accelerate.compile_model(model, x1)
print(f"first eager call: {first_eager_s * 1e3:.2f} ms; first compiled call: {compile_s:.1f} s "
      "(measured)")
print(f"one-call verdict: compiled is {compile_s / first_eager_s:,.0f}x slower")

# %% [markdown]
# By that one-call verdict, compiling is a disaster. But the first compiled call did the
# compiling: capturing the graph, generating C++, building it. Later calls reuse it.
# And even the first *eager* call pays for lazy initialisation. A fair benchmark warms up,
# repeats, reports the median and the spread, and compares against a baseline measured
# in the same run. That is `bench.compare`; before it, what did the compiler actually do?
#
# ## 1. What an ML compiler does
# ### Graph capture
# PyTorch normally runs *eagerly*: Python executes `forward` line by line, and each
# operator is dispatched on its own. A compiler first needs the whole computation as a
# graph. `torch.export` traces the model into a graph of ATen operators (the same graph
# `torch.compile` and the ONNX exporter start from):

# %%
exported = accelerate.capture_graph(model, x1)
print(exported.graph_module.code.strip())
captured_ops = accelerate.graph_ops(exported.graph_module)
print("operators:", dict(captured_ops))

# %% [markdown]
# No Python control flow is left: three `linear` and two `relu` calls on named weights.
# That graph is what gets optimised.
#
# ### Operator fusion and kernel selection
# Inductor, `torch.compile`'s default backend, lowers the graph and emits code. Below are
# the calls the generated code makes for one forward pass at batch 1 (the wrapper that
# `compile_model` kept):

# %%
calls_1 = accelerate.generated_calls(code_1)
print("\n".join(calls_1))
n_fused_1 = sum(c.startswith("cpp_fused_") for c in calls_1)
n_library_1 = sum(c.startswith("extern_kernels.") for c in calls_1)
print(f"{len(calls_1)} kernel calls for {sum(captured_ops.values())} graph operators: "
      f"{n_library_1} library calls, {n_fused_1} generated (fused) loops")

# %% [markdown]
# Two decisions show. **Kernel selection**: the matrix multiplies go to a library
# (`extern_kernels.addmm`, a tuned GEMM) rather than generated loops. **Fusion**: the
# element-wise work (a `relu`, a bias add) is done by loops Inductor wrote, with
# several operators in one loop when the data allows (`cpp_fused_<ops>`): one pass over
# memory instead of one per operator.
#
# Fusion pays when memory traffic dominates. A chain of element-wise operations on a
# large tensor shows it best: eagerly, each operator reads and writes the whole tensor;
# fused, one loop does all of them.

# %%
def scale_shift_relu(x):  # four element-wise operators: 4 passes eagerly, 1 fused
    return torch.relu(x * 1.5 + 0.5) * 2.0 - 1.0


big = torch.randn(1 << 21 if FAST else 1 << 22, generator=torch.Generator().manual_seed(SEED))
fused, fuse_compile_s, fused_code = accelerate.compile_model(scale_shift_relu, big)
assert torch.allclose(fused(big), scale_shift_relu(big), atol=1e-6)
fusion = bench.compare({"eager (unfused)": lambda: scale_shift_relu(big),
                        "compiled (fused)": lambda: fused(big)},
                       baseline="eager (unfused)", rows=big.numel(), repeats=REPEATS)
fusion_speedup = fusion.loc["compiled (fused)", "speedup"]
print("generated:", accelerate.generated_calls(fused_code))
print(fusion[["median_ms", "spread_pct", "speedup"]].round(2).to_string())
print(f"fusion: {fusion_speedup:.1f}x faster on {big.numel():,} floats (measured, one run)")

# %% [markdown]
# ### Just in time vs ahead of time
# `torch.compile` is **just in time**: it compiles at the first call, in the serving
# process, for the shapes it sees (we passed `dynamic=False`, so each batch size gets its
# own specialised code). Its results are cached on disk — here in the lesson's working
# folder under `build/work/`, emptied at the start of each run so that the first compile
# above was a cold one — and a new process, or the same one after a reset, compiles much
# faster with a warm cache:

# %%
torch._dynamo.reset()  # forget the compiled code in memory; the disk cache stays
_, recompile_s, _ = accelerate.compile_model(model, x1)
print(f"first compile: {compile_s:.1f} s; again with a warm cache: {recompile_s:.1f} s "
      "(measured)")

# %% [markdown]
# **Ahead of time** means compiling before serving: export once, ship a file, load it
# anywhere. ONNX is the common format: a graph of standard operators with the weights
# inside, which ONNX Runtime (and many other runtimes) optimise and run without
# Python or PyTorch.

# %%
onnx_path = accelerate.export_onnx(model, x1, WORK / "house_price_mlp.onnx")
onnx_ops = [node.op_type for node in onnx.load(str(onnx_path)).graph.node]
session = accelerate.onnx_session(onnx_path)
print(f"{onnx_path.name}: {accelerate.file_size_bytes(onnx_path):,} bytes, nodes {onnx_ops}")

# %% [markdown]
# The exported graph holds `Gemm` (matrix multiply + bias) and `Relu` nodes; ONNX Runtime
# applies its own fusions when it loads the file.
#
# ## 2. Same model, same answers — checked before anything is timed
# A faster model that answers differently is a different model. Each way of running is
# compared with eager PyTorch on the whole test set; fp32 results may differ in the last
# bits (a different order of additions), so the tolerance is stated: **at most $1** per
# prediction.

# %%
TOLERANCE_USD = 1.0
compiled_test, _, _ = accelerate.compile_model(model, X_test)  # specialised to the test set
eager_usd = predict_usd(model, X_test, batch_size=len(X_test))
compiled_usd = predict_usd(compiled_test, X_test, batch_size=len(X_test))
onnx_usd = accelerate.onnx_predict(session, X_test).reshape(-1).astype(np.float64) * TARGET_UNIT_USD
max_diff_usd = {"torch.compile": float(np.max(np.abs(compiled_usd - eager_usd))),
                "ONNX Runtime": float(np.max(np.abs(onnx_usd - eager_usd)))}
for name, diff in max_diff_usd.items():
    print(f"{name:<14} max |difference| vs eager = ${diff:.4f}")
assert max(max_diff_usd.values()) <= TOLERANCE_USD, max_diff_usd

# %% [markdown]
# The scikit-learn model of lesson 2 (gradient-boosted trees, here on the same
# preprocessed features) converts to ONNX too, with `skl2onnx`. Trees compare float32
# features with thresholds, so a feature that sits exactly between a float32 and a
# float64 threshold can fall into another leaf; the check therefore reports how many
# predictions agree within the tolerance as well as the largest difference.

# %%
skl_model = run.sklearn_model
skl_onnx_path = accelerate.sklearn_to_onnx(skl_model, run.n_features, WORK / "hgb.onnx")
skl_session = accelerate.onnx_session(skl_onnx_path)
X_test_np = X_test.numpy()
skl_usd = skl_model.predict(X_test_np)
skl_onnx_usd = accelerate.onnx_predict(skl_session, X_test_np).reshape(-1).astype(np.float64)
skl_diff = np.abs(skl_onnx_usd - skl_usd)
skl_agree_pct = 100.0 * float(np.mean(skl_diff <= TOLERANCE_USD))
skl_rmse = rmse_usd(y_test, skl_usd)
print(f"HistGradientBoosting: test RMSE ${skl_rmse:,.0f}; ONNX {skl_onnx_path.stat().st_size:,} "
      f"bytes; {skl_agree_pct:.2f}% of predictions within ${TOLERANCE_USD:.0f}, "
      f"max |difference| ${skl_diff.max():,.2f}")

# %% [markdown]
# ## 3. Measured properly
# `bench.compare` warms each candidate up, then runs interleaved rounds (eager,
# compiled, ONNX Runtime, eager, ...) so that a busy moment of the machine touches every
# candidate; each round calls a candidate enough times to last about 10 ms; it reports
# the median time per call, the spread (interquartile range as % of the median) and the
# ratio against eager **from the same run**. Batch 1 is the latency a single request
# sees; batch 4,096 is throughput.

# %%
x_large = X_test[torch.arange(LARGE_BATCH) % len(X_test)].contiguous()
compiled_large, compile_large_s, _ = accelerate.compile_model(model, x_large)
x1_np, x_large_np = x1.numpy(), x_large.numpy()


def eager(x):
    with torch.inference_mode():
        return model(x)


def compiled(fn, x):
    with torch.inference_mode():
        return fn(x)


latency = bench.compare({"eager": lambda: eager(x1),
                         "torch.compile": lambda: compiled(compiled_1, x1),
                         "ONNX Runtime": lambda: session.run(None, {"features": x1_np})},
                        baseline="eager", rows=1, repeats=REPEATS)
throughput = bench.compare({"eager": lambda: eager(x_large),
                            "torch.compile": lambda: compiled(compiled_large, x_large),
                            "ONNX Runtime": lambda: session.run(None, {"features": x_large_np})},
                           baseline="eager", rows=LARGE_BATCH, repeats=REPEATS)
print("latency at batch 1 (measured):")
print(latency[["median_ms", "spread_pct", "speedup"]].round(4).to_string())
print(f"\nthroughput at batch {LARGE_BATCH:,} (measured):")
print(throughput[["median_ms", "spread_pct", "rows_per_s", "speedup"]].round(2).to_string())
print(f"\none-off compile time: {compile_s:.1f} s (batch 1, cold cache), "
      f"{compile_large_s:.1f} s (batch {LARGE_BATCH:,})")

# %%
ort_speedup_1 = latency.loc["ONNX Runtime", "speedup"]
compile_speedup_1 = latency.loc["torch.compile", "speedup"]
ort_speedup_large = throughput.loc["ONNX Runtime", "speedup"]
compile_speedup_large = throughput.loc["torch.compile", "speedup"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, table, title in ((axes[0], latency, "batch 1 (latency)"),
                         (axes[1], throughput, f"batch {LARGE_BATCH:,} (throughput)")):
    bars = ax.bar(table.index, table["speedup"], color=["0.6", "tab:orange", "tab:blue"])
    ax.bar_label(bars, fmt="%.2fx")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_title(title)
axes[0].set_ylabel("speed vs eager PyTorch (x, higher is faster)")
fig.suptitle("Same MLP, three ways to run it, 1 CPU thread, measured in one run")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the ratios from the run above (they go to the course summary too). At batch 1,
# ONNX Runtime beats eager PyTorch by the factor printed (the checks assert only that it
# is above 1), while `torch.compile` gains little or loses (asserted: less than 2x). At
# the large batch the ratios are different again: the time goes into the matrix
# multiplies, which every runtime hands to a tuned library, so the differences left come
# from the memory traffic between them and from how each runtime calls the library.
#
# ### Why a tiny model gains little from a compiler
# At batch 1 this model does the multiply-adds printed under *The model* (under 70
# thousand): at most the time a row takes in a batch of 4,096 (printed below). The rest
# of a call at batch 1 is *overhead*: Python calling `forward`, each operator's dispatch
# through PyTorch, allocating outputs, and for a compiled model the guard checks that
# decide whether the cached code still applies. Inductor cannot fuse away the Python
# around the model, and the GEMMs were already library calls. ONNX Runtime runs the
# graph in a C++ loop, with less overhead per call than eager PyTorch (asserted below).
# The time per call across batch sizes shows the overhead directly: nearly flat while
# overhead dominates, then growing with the rows.

# %%
BATCHES = [1, 16, 256, LARGE_BATCH]
per_call_ms = {"eager": [], "ONNX Runtime": []}
for batch in BATCHES:
    xb = X_test[torch.arange(batch) % len(X_test)].contiguous()
    xb_np = xb.numpy()
    t = bench.measure({"eager": lambda xb=xb: eager(xb),
                       "ONNX Runtime": lambda xb_np=xb_np: session.run(None, {"features": xb_np})},
                      repeats=max(3, REPEATS // 2))
    for name in per_call_ms:
        per_call_ms[name].append(t[name].median_s * 1e3)
per_row_us = {name: [1e3 * ms / b for ms, b in zip(values, BATCHES, strict=True)]
              for name, values in per_call_ms.items()}
for name in per_call_ms:
    print(f"{name:<13}" + "  ".join(f"batch {b:>5,}: {ms:7.3f} ms/call {us:8.3f} µs/row"
                                    for b, ms, us in zip(BATCHES, per_call_ms[name],
                                                         per_row_us[name], strict=True)))
batching_gain = per_row_us["eager"][0] / per_row_us["eager"][-1]
print(f"eager: a row costs {batching_gain:,.0f}x less in a batch of {LARGE_BATCH:,} than alone "
      "(measured)")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
for name, marker in (("eager", "o"), ("ONNX Runtime", "s")):
    ax.loglog(BATCHES, per_row_us[name], marker=marker, label=name)
ax.set_xlabel("batch size (rows per call, log scale)")
ax.set_ylabel("time per row (µs, log scale)")
ax.set_title("Batching amortises the per-call overhead (1 CPU thread, measured)")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
plt.show()

# %% [markdown]
# What helps a small model, then, in this order: **batching** (many rows per call — a
# bigger factor than any runtime gave at batch 1; asserted below), **fewer Python round
# trips** (a runtime without Python in the loop, like ONNX Runtime, or one compiled graph
# around the whole request instead of several small calls), and **fusion** (which pays
# on memory-bound element-wise chains, as in section 1, more than on GEMM-bound
# layers).
#
# The scikit-learn model shows the round-trip cost even more (asserted: a larger factor
# than for the MLP): its `predict` validates its input in Python on every call.

# %%
x1_skl = X_test_np[:1]
skl_latency = bench.compare({"scikit-learn predict": lambda: skl_model.predict(x1_skl),
                             "ONNX Runtime": lambda: skl_session.run(None, {"features": x1_skl})},
                            baseline="scikit-learn predict", rows=1, repeats=REPEATS)
skl_ort_speedup = skl_latency.loc["ONNX Runtime", "speedup"]
print(skl_latency[["median_ms", "spread_pct", "speedup"]].round(4).to_string())

# %% [markdown]
# ## 4. Accelerators: CPU or GPU?
# A GPU runs thousands of threads at once and has memory bandwidth a CPU cannot match,
# but every call pays a fixed cost: launching kernels and waiting for them.
# So a GPU wins once a batch is large enough to fill it; at batch 1 a small model is
# usually faster on the CPU. With CUDA present, the cell below runs the GPU path — the
# model cast to bf16 (or fp16) and compiled — over batch sizes and finds the batch size
# where the GPU overtakes one CPU thread.

# %%
gpu_ok, gpu_note = accelerate.cuda_available()
GPU_BATCHES = [1, 16, 256, 4096, 65_536]
crossover_batch = None
if gpu_ok:
    sweep = accelerate.gpu_sweep(model, X_test, GPU_BATCHES, repeats=REPEATS)
    print(f"GPU: {gpu_note}")
    print(sweep.round(3).to_string())
    wins = sweep["gpu_speedup"] > 1.0  # the crossover: from there on, the GPU stays faster
    crossover_batch = next((int(b) for b in sweep.index if wins.loc[b:].all()), None)
    print(f"the GPU overtakes the CPU at batch {crossover_batch} (measured)" if crossover_batch
          else "the GPU did not overtake the CPU at these batch sizes")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.loglog(sweep.index, sweep["cpu_ms"], marker="o", label="CPU, fp32, eager, 1 thread")
    ax.loglog(sweep.index, sweep["gpu_ms"], marker="s", label="GPU, 16-bit, compiled")
    ax.set_xlabel("batch size (rows, log scale)")
    ax.set_ylabel("time per call (ms, log scale)")
    ax.set_title(f"CPU vs GPU ({gpu_note}), measured")
    ax.legend()
    plt.show()
else:
    print(f"GPU path skipped: {gpu_note}.")
    print("Run this notebook on a machine with an NVIDIA GPU and a CUDA build of torch "
          "to see the crossover batch size.")

# %% [markdown]
# If the cell above says *skipped*, this machine has no GPU the pinned torch can use:
# the course pins PyTorch's CPU wheel so that it installs on any laptop. The code path
# is the same on a GPU machine (`accelerate.gpu_sweep`), and lecture 6 describes what
# it typically shows.
#
# ## Checks
# The claims of this lesson, asserted; the key numbers go to the course summary. Speed
# ratios are recorded, not asserted tightly: they depend on the machine and its load.

# %%
assert test_rmse < (80_000 if FAST else 60_000), f"the MLP's test RMSE ${test_rmse:,.0f}"
assert macs_per_row < 70_000, "lecture: 'fewer than 70 thousand multiply-adds per row'"
assert compile_s / first_eager_s > 100, "one timed call makes compiling look 100s x slower"
assert dict(captured_ops) == {"linear.default": 3, "relu.default": 2}, captured_ops
assert n_library_1 >= 2 and n_fused_1 >= 1, "GEMMs go to a library, element-wise ops are fused"
assert len(calls_1) < sum(captured_ops.values()), "fewer kernel calls than graph operators"
assert onnx_ops.count("Gemm") == 3 and onnx_ops.count("Relu") == 2, onnx_ops
assert max(max_diff_usd.values()) <= TOLERANCE_USD, "every way gives the same predictions"
assert skl_agree_pct >= 99.0, f"ONNX trees agree with scikit-learn: {skl_agree_pct:.2f}%"
assert recompile_s < compile_s, "the warm cache compiles faster"
assert fusion_speedup > 1.0, "fusing four element-wise passes into one is faster"
assert batching_gain > 5, "a row costs far less in a large batch (loose: the test suite runs "\
    "multi-process lessons beside this one)"
assert batching_gain > max(ort_speedup_1, compile_speedup_1), "batching beats any runtime"
assert ort_speedup_1 > 1.0, "ONNX Runtime beats eager PyTorch at batch 1 (loose: > 1x)"
assert compile_speedup_1 < 2.0, "torch.compile gains little on a tiny model at batch 1"
assert skl_ort_speedup > max(1.0, ort_speedup_1), "scikit-learn's predict: more overhead"
summary = record_metrics(
    test_rmse_usd=round(test_rmse),
    sklearn_test_rmse_usd=round(skl_rmse),
    n_parameters=n_params,
    graph_operators=sum(captured_ops.values()),
    inductor_kernel_calls=len(calls_1),
    max_diff_compile_usd=round(max_diff_usd["torch.compile"], 4),
    max_diff_onnx_usd=round(max_diff_usd["ONNX Runtime"], 4),
    sklearn_onnx_agree_pct=round(skl_agree_pct, 2),
    speedup_compile_batch1=round(compile_speedup_1, 2),
    speedup_onnx_batch1=round(ort_speedup_1, 2),
    speedup_compile_large=round(compile_speedup_large, 2),
    speedup_onnx_large=round(ort_speedup_large, 2),
    speedup_fusion=round(fusion_speedup, 1),
    speedup_sklearn_onnx_batch1=round(skl_ort_speedup, 1),
    compile_s=round(compile_s, 1),
    gpu_crossover_batch=crossover_batch if crossover_batch else "no GPU",
)

# %% [markdown]
# ## Recap and next
# | question | what this lesson showed |
# | --- | --- |
# | how fast is the model? | only a proper benchmark says: warm-up, repeats, median and spread, a ratio from the same run, hardware printed |
# | what does a compiler do? | captures a graph (`torch.export`), selects kernels (library GEMMs), fuses element-wise operators, emits code — just in time (`torch.compile`) or ahead of time (ONNX) |
# | is the fast version the same model? | checked: every prediction within $1 of eager before any timing |
# | what speeds up a small model? | batching first, then fewer Python round trips (ONNX Runtime), then fusion |
# | CPU or GPU? | measured per batch size where a GPU is present: the batch size at which it overtakes the CPU |
#
# Lesson 7 keeps the model and changes the *numbers*: fp16, bf16 and int8 instead of
# fp32, with what they save in bytes and time and what they cost in accuracy.
#
# **Exercise:** `exercises/06_accelerators_compilers.ipynb` — summarise timings the way
# `bench` does, fold the preprocessing scaler into the first layer (a compiler's constant
# folding, with PyTorch tensors), and count a traced graph's operators.
