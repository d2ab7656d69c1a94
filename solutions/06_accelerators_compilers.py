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
# # Exercise 6 — Measure, fold, count: a compiler's view of a model
#
# Lesson 6 benchmarked one model run several ways and looked inside what a compiler does.
# Write three small tools behind that: a timing summary with a ratio against a baseline,
# a compiler optimisation done by hand on PyTorch tensors (folding the input scaler into
# the first layer), and an operator count of a captured graph. Each part has public tests
# you can run here; graders also run hidden tests.

# %%
import statistics

import torch

from mlops_course.course.observe import raised

torch.manual_seed(42)
torch.set_num_threads(1)

# %% [markdown]
# ## Part 1 — A ratio from one run (2 points)
# Write `speedup(baseline_s, candidate_s)`. Both arguments are lists of measured seconds
# per call (one value per repeat) of a baseline and a candidate, timed in the same run.
# Return a dict with
#
# * `"baseline_ms"` and `"candidate_ms"`: the **median** of each list, in milliseconds;
# * `"speedup"`: baseline median / candidate median (above 1: the candidate is faster).
#
# Medians, not means: one slow repeat (the machine was busy) must not move the result.
# Raise `ValueError` with a clear message if either list is empty.

# %% tags=["solution"] grade_id="speedup"
def speedup(baseline_s, candidate_s) -> dict:
    """Median times in ms and the speed-up of a candidate over a baseline."""
    ### BEGIN SOLUTION
    if len(baseline_s) == 0 or len(candidate_s) == 0:
        raise ValueError(f"need timings of both: got {len(baseline_s)} baseline and "
                         f"{len(candidate_s)} candidate values")
    base = statistics.median(baseline_s)
    cand = statistics.median(candidate_s)
    return {"baseline_ms": base * 1e3, "candidate_ms": cand * 1e3, "speedup": base / cand}
    ### END SOLUTION


# %% tags=["test"] grade_id="test_speedup_medians" points=1
def probe():
    return speedup([0.004, 0.002, 0.002], [0.001, 0.001, 0.003])


def verify(observed):
    assert abs(observed["baseline_ms"] - 2.0) < 1e-9, f"baseline median is 2 ms, got {observed}"
    assert abs(observed["candidate_ms"] - 1.0) < 1e-9, f"candidate median is 1 ms, got {observed}"
    assert abs(observed["speedup"] - 2.0) < 1e-9, f"2 ms / 1 ms is a speedup of 2, got {observed}"


verify(probe())

# %% tags=["test"] grade_id="test_speedup_empty" points=0.5
def probe():
    try:
        speedup([], [0.001])
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "an empty list of timings must raise ValueError"
    assert "ValueError" in observed["raised"], f"expected ValueError, got {observed['raised']}"


verify(probe())

# %% tags=["test"] grade_id="hidden_speedup_outlier" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    return speedup([0.010, 0.010, 0.010, 5.0], [0.020, 0.020, 0.020, 0.020])


def verify(observed):
    assert abs(observed["baseline_ms"] - 10.0) < 1e-9, "one slow repeat must not move the median"
    assert abs(observed["speedup"] - 0.5) < 1e-9, "a slower candidate has a speedup below 1"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — Constant folding by hand, with PyTorch tensors (4 points)
# The model's first layer sees *standardized* features: `(x - mean) / std`, then
# `linear`. A compiler folds such constant arithmetic into the weights, so that serving
# does one matrix multiply instead of a subtraction, a division and a multiply. Write
# `fold_scaler(linear, mean, std)`: return a **new** `torch.nn.Linear` with the same
# shape such that, for every input `x`,
#
#     fold_scaler(linear, mean, std)(x)  ≈  linear((x - mean) / std)
#
# (within 1e-4). `mean` and `std` are 1-D tensors with one value per input feature. Do
# not change `linear`. Raise `ValueError` if any `std` is zero (the scaling is undefined).
#
# *Hint:* `linear(z) = z @ W.T + b`; substitute `z = (x - mean) / std`.

# %% tags=["solution"] grade_id="fold_scaler"
def fold_scaler(linear, mean, std):
    """A Linear layer equal to `linear` applied after standardizing its input."""
    ### BEGIN SOLUTION
    if bool((std == 0).any()):
        raise ValueError("std has zeros: standardizing by zero is undefined")
    with torch.no_grad():
        weight = linear.weight / std  # divides column j by std[j]
        bias = linear.bias - weight @ mean
        folded = torch.nn.Linear(linear.in_features, linear.out_features)
        folded.weight.copy_(weight)
        folded.bias.copy_(bias)
    return folded
    ### END SOLUTION


# %% tags=["test"] grade_id="test_fold_scaler_matches" points=2
def probe():
    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 3)
    mean = torch.tensor([1.0, -2.0, 0.5, 10.0])
    std = torch.tensor([2.0, 0.5, 1.0, 4.0])
    x = torch.randn(8, 4) * 3 + 1
    with torch.no_grad():
        expected = linear((x - mean) / std)
        got = fold_scaler(linear, mean, std)(x)
    return {"expected": expected.tolist(), "got": got.tolist(), "shape": list(got.shape)}


def verify(observed):
    assert observed["shape"] == [8, 3], f"8 rows in, 8 rows of 3 out; got {observed['shape']}"
    worst = max(abs(g - e) for grow, erow in zip(observed["got"], observed["expected"], strict=True)
                for g, e in zip(grow, erow, strict=True))
    assert worst < 1e-4, f"folded layer differs from scaler + layer by up to {worst:.3g}"


verify(probe())

# %% tags=["test"] grade_id="test_fold_scaler_new_layer" points=1
def probe():
    torch.manual_seed(1)
    linear = torch.nn.Linear(3, 2)
    before = linear.weight.detach().clone().tolist()
    folded = fold_scaler(linear, torch.zeros(3), torch.full((3,), 2.0))
    return {"type": type(folded).__name__, "ids": [id(folded), id(linear)],
            "before": before, "after": linear.weight.detach().tolist(),
            "in": folded.in_features, "out": folded.out_features}


def verify(observed):
    assert observed["type"] == "Linear", f"return a torch.nn.Linear, got {observed['type']}"
    assert observed["ids"][0] != observed["ids"][1], "return a new layer, not the one passed in"
    assert observed["before"] == observed["after"], "the original layer must not change"
    assert (observed["in"], observed["out"]) == (3, 2), "keep the layer's shape"


verify(probe())

# %% tags=["test"] grade_id="hidden_fold_scaler_identity" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    torch.manual_seed(2)
    linear = torch.nn.Linear(5, 1)
    folded = fold_scaler(linear, torch.zeros(5), torch.ones(5))
    return {"w": folded.weight.detach().tolist(), "b": folded.bias.detach().tolist(),
            "w0": linear.weight.detach().tolist(), "b0": linear.bias.detach().tolist()}


def verify(observed):
    diffs = [abs(a - b) for a, b in zip(observed["w"][0], observed["w0"][0], strict=True)]
    assert max(diffs) < 1e-6, "mean 0 and std 1 leave the weights as they are"
    assert abs(observed["b"][0] - observed["b0"][0]) < 1e-6, "mean 0 leaves the bias as it is"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_fold_scaler_zero_std" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    try:
        fold_scaler(torch.nn.Linear(2, 2), torch.zeros(2), torch.tensor([1.0, 0.0]))
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    assert observed != "no error", "a zero std must raise ValueError"
    assert "ValueError" in observed["raised"], "a zero std must raise ValueError"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — Count a captured graph's operators (2 points)
# `torch.fx.symbolic_trace(module)` captures a module's `forward` as a graph. Each node
# has an `op` (`"placeholder"`, `"call_module"`, `"call_function"`, `"call_method"`,
# `"get_attr"`, `"output"`) and a `target`. Write `count_ops(module)`: trace the module
# and return a dict from operator name to count, over the nodes that compute something:
#
# * `call_module`: the class name of the called submodule (`"Linear"`, `"ReLU"`, …) —
#   find the submodule with `module.get_submodule(node.target)`;
# * `call_function`: the function's `__name__` (`"relu"`, `"add"`, …);
# * `call_method`: the method name, which is the target itself (`"flatten"`, …).

# %%
class SmallNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                          torch.nn.Linear(8, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.layers(x)).flatten()

# %% tags=["solution"] grade_id="count_ops"
def count_ops(module) -> dict:
    """Operator name -> number of calls in the traced graph of `module`."""
    ### BEGIN SOLUTION
    graph_module = torch.fx.symbolic_trace(module)
    counts = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            name = type(graph_module.get_submodule(node.target)).__name__
        elif node.op == "call_function":
            name = getattr(node.target, "__name__", str(node.target))
        elif node.op == "call_method":
            name = node.target
        else:
            continue
        counts[name] = counts.get(name, 0) + 1
    return counts
    ### END SOLUTION


# %% tags=["test"] grade_id="test_count_ops_smallnet" points=1
def probe():
    return count_ops(SmallNet())


def verify(observed):
    expected = {"Linear": 3, "ReLU": 2, "flatten": 1}
    assert observed == expected, f"expected {expected}, got {observed}"


verify(probe())

# %% tags=["test"] grade_id="hidden_count_ops_functions" points=1
### BEGIN HIDDEN TESTS
def probe():
    class Functional(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x * 2.0 + 1.0) + torch.relu(x)

    return count_ops(Functional())


def verify(observed):
    assert observed == {"mul": 1, "add": 2, "relu": 2}, f"got {observed}"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Reflect
# Part 1 is how every speed claim in the course is made: medians of repeats and a ratio
# from one run. Part 2 is one of the rewrites an ML compiler does on its own (constant
# folding): the scaler's arithmetic disappears into the weights. Part 3 is the first step
# of every compiler: the model as a graph whose operators can be counted, fused and
# replaced.
