"""Run the same trained model several ways: eager, compiled, ONNX Runtime, on a GPU.

An ML compiler captures a model as a graph, rewrites it (fuses operators, folds
constants, picks a kernel per operation) and emits code; just in time (torch.compile,
at the first call) or ahead of time (an ONNX file, loaded by ONNX Runtime). The helpers:

    setup_inductor()       Inductor's caches inside build/, one compile thread
    capture_graph()        torch.export: the model as an ATen graph, printed and counted
    graph_ops()            the operators of a captured graph, counted
    compile_model()        torch.compile with the generated code kept for inspection
    generated_calls()      the kernels that code launches: fused ones and library calls
    export_onnx()          the model as a .onnx file with a dynamic batch dimension
    onnx_session()         an ONNX Runtime session (single-threaded by default)
    sklearn_to_onnx()      a scikit-learn regressor as a .onnx file (skl2onnx)
    gpu_sweep()            CPU vs GPU over batch sizes, in a low-precision format

Nothing happens at import; torch, onnx and onnxruntime are imported when needed.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError


class AcceleratorUnavailableError(MlopsCourseError):
    """A GPU path was asked for on a machine without CUDA."""


def setup_inductor(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Point Inductor's caches at ``build/cache/inductor`` and compile with one thread.

    Inductor writes generated C++ and Python, compiled libraries and an FX-graph cache;
    by default it puts them in the system temp folder and compiles in a pool of worker
    processes. Here the cache lives in the project's ``build/`` (``make clean`` removes
    it), and kernels compile in this process: on a 2-core laptop a worker pool costs
    more than it saves. Inductor also skips building a test program for each SIMD
    instruction set the CPU flags announce (``cpp.vec_isa_ok``), which saves seconds.
    Returns the cache folder.
    """
    import torch._inductor.config as inductor_config

    path = Path(cache_dir) if cache_dir else config.build_dir() / "cache" / "inductor"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    os.environ["TRITON_CACHE_DIR"] = str(path / "triton")
    inductor_config.compile_threads = 1
    inductor_config.cpp.vec_isa_ok = True
    return path


def capture_graph(model: Any, example: Any) -> Any:
    """Capture ``model`` called on ``example`` as a ``torch.export.ExportedProgram``.

    The program's ``graph_module.code`` is the forward pass as Python over ATen
    operators: the graph a compiler works on, with no Python control flow left.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.export.export(model, (example,))


def graph_ops(graph_module: Any) -> Counter[str]:
    """Count the operators (``call_function`` nodes) of an FX graph by name.

    Examples
    --------
    >>> import torch
    >>> gm = torch.fx.symbolic_trace(lambda x: torch.relu(x) + 1)
    >>> sorted(graph_ops(gm).items())
    [('add', 1), ('relu', 1)]
    """
    counts: Counter[str] = Counter()
    for node in graph_module.graph.nodes:
        if node.op == "call_function":
            counts[getattr(node.target, "__name__", str(node.target))] += 1
    return counts


def compile_model(model: Any, example: Any, **compile_kwargs: Any) -> tuple[Any, float, str]:
    """``torch.compile`` a model and run it once on ``example``.

    Returns the compiled callable, the seconds the first call took (capture, Inductor's
    code generation, C++ compilation) and the Python wrapper that Inductor generated.
    Pass ``dynamic=False`` (the default here) for code specialised to the example's shape.
    """
    import time

    import torch
    from torch._inductor.utils import run_and_get_code

    compile_kwargs.setdefault("dynamic", False)
    compiled = torch.compile(model, **compile_kwargs)
    start = time.perf_counter()
    with torch.inference_mode():
        _, code = run_and_get_code(compiled, example)
    return compiled, time.perf_counter() - start, "\n".join(code)


_CALL = re.compile(r"^\s*((?:extern_kernels\.\w+|cpp_fused_\w+|torch\.ops\.\w+\.\w+))\(", re.M)


def generated_calls(code: str) -> list[str]:
    """The kernel calls in Inductor's generated wrapper, in order.

    ``cpp_fused_*`` are kernels Inductor wrote (several operators fused into one loop);
    ``extern_kernels.*`` are library calls it chose (a matrix multiply in oneDNN/BLAS).

    Examples
    --------
    >>> generated_calls("    extern_kernels.addmm(a, b, c)\\n    cpp_fused_relu_0(buf1)\\n")
    ['extern_kernels.addmm', 'cpp_fused_relu_0']
    """
    return _CALL.findall(code)


def export_onnx(model: Any, example: Any, path: str | os.PathLike[str]) -> Path:
    """Export ``model`` to ONNX (torch.export based exporter), batch dimension dynamic.

    One file, weights included (``external_data=False``). The input is named ``features``
    and the output ``price``.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in ("torch.onnx", "torch.onnx._internal.exporter._registration"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), dynamo=True, external_data=False, verbose=False,
            input_names=["features"], output_names=["price"],
            dynamic_shapes=({0: torch.export.Dim("batch")},), optimize=True)
    program.save(str(path))
    return path


def onnx_session(path: str | os.PathLike[str], *, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session for the model at ``path``, with ``threads`` threads."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX model at {path}: export one first "
                                "(accelerate.export_onnx or accelerate.sklearn_to_onnx)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(session: Any, X: Any) -> Any:
    """Run a one-input session on a float32 array (or tensor); return the first output."""
    import numpy as np

    array = X.numpy() if hasattr(X, "numpy") else np.asarray(X, dtype=np.float32)
    return session.run(None, {session.get_inputs()[0].name: array})[0]


def sklearn_to_onnx(estimator: Any, n_features: int, path: str | os.PathLike[str]) -> Path:
    """Convert a fitted scikit-learn regressor on float32 features to a .onnx file."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onx = to_onnx(estimator, initial_types=[("features", FloatTensorType([None, n_features]))],
                  target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return path


def file_size_bytes(path: str | os.PathLike[str]) -> int:
    """Size of a file in bytes."""
    return Path(path).stat().st_size


def cuda_available() -> tuple[bool, str]:
    """Whether a CUDA GPU can be used, and why not when it cannot."""
    import torch

    if not torch.backends.cuda.is_built():
        return False, (f"this torch build ({torch.__version__}) has no CUDA support: the course "
                       "pins the CPU wheel so that it installs on any laptop")
    if not torch.cuda.is_available():
        return False, "torch has CUDA support but finds no GPU (no device or no driver)"
    return True, torch.cuda.get_device_name(0)


def gpu_sweep(
    model: Any,
    X: Any,
    batches: list[int],
    *,
    dtype: Any = None,
    compile_gpu: bool = True,
    repeats: int = 10,
) -> Any:
    """Time the model on the CPU (fp32, eager) and on the GPU (``dtype``, compiled) per batch.

    Returns a DataFrame indexed by batch size with ``cpu_ms``, ``gpu_ms`` and
    ``gpu_speedup`` (cpu / gpu). GPU timings synchronise the device, so they include
    the kernel launches and the wait, not the host-to-device copy of the inputs (the
    batch is put on the GPU once, as a serving system with resident inputs would).
    Raises :class:`AcceleratorUnavailableError` without CUDA.
    """
    import copy

    import pandas as pd
    import torch

    from mlops_course.bench import measure

    ok, why = cuda_available()
    if not ok:
        raise AcceleratorUnavailableError(f"no GPU path on this machine: {why}. Fix: run on a "
                                          "machine with an NVIDIA GPU and a CUDA build of torch")
    dtype = dtype or (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    gpu_model = copy.deepcopy(model).to("cuda", dtype).eval()
    if compile_gpu:
        gpu_model = torch.compile(gpu_model, dynamic=False)
    rows = []
    for batch in batches:
        index = torch.arange(batch) % X.shape[0]
        x_cpu = X[index].contiguous()
        x_gpu = x_cpu.to("cuda", dtype)

        def on_cpu(x: Any = x_cpu) -> Any:
            with torch.inference_mode():
                return model(x)

        def on_gpu(x: Any = x_gpu) -> Any:
            with torch.inference_mode():
                out = gpu_model(x)
            torch.cuda.synchronize()
            return out

        timings = measure({"cpu": on_cpu, "gpu": on_gpu}, warmup=3, repeats=repeats)
        cpu_ms, gpu_ms = timings["cpu"].median_s * 1e3, timings["gpu"].median_s * 1e3
        rows.append({"batch": batch, "cpu_ms": cpu_ms, "gpu_ms": gpu_ms,
                     "gpu_speedup": cpu_ms / gpu_ms})
    return pd.DataFrame(rows).set_index("batch")
