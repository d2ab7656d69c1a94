"""Graph capture, the generated-code parser, ONNX export and run, the GPU path's refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_course import accelerate


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 1)).eval()


def test_capture_graph_counts_aten_ops() -> None:
    program = accelerate.capture_graph(_mlp(), torch.randn(1, 4))
    assert dict(accelerate.graph_ops(program.graph_module)) == {"linear.default": 2,
                                                                "relu.default": 1}


def test_generated_calls_reads_inductor_wrappers() -> None:
    code = ("        extern_kernels.addmm(a, b, c, out=buf0)\n"
            "        cpp_fused_relu_0(buf1)\n"
            "        # extern_kernels.mm in a comment is not a call\n")
    assert accelerate.generated_calls(code) == ["extern_kernels.addmm", "cpp_fused_relu_0"]


def test_onnx_export_matches_eager(tmp_path: Path) -> None:
    model = _mlp()
    path = accelerate.export_onnx(model, torch.randn(1, 4), tmp_path / "m.onnx")
    session = accelerate.onnx_session(path)
    x = torch.randn(7, 4)  # another batch size than the example: the batch is dynamic
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(accelerate.onnx_predict(session, x), expected, atol=1e-5)


def test_onnx_session_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="export one first"):
        accelerate.onnx_session(tmp_path / "missing.onnx")


def test_sklearn_to_onnx_matches_predict(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    model = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5]) + 3.0)
    session = accelerate.onnx_session(accelerate.sklearn_to_onnx(model, 3, tmp_path / "lr.onnx"))
    np.testing.assert_allclose(accelerate.onnx_predict(session, X).reshape(-1),
                               model.predict(X), atol=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_sweep_without_cuda_says_why() -> None:
    ok, why = accelerate.cuda_available()
    assert not ok and why
    with pytest.raises(accelerate.AcceleratorUnavailableError, match="no GPU path"):
        accelerate.gpu_sweep(_mlp(), torch.randn(4, 4), [1])
