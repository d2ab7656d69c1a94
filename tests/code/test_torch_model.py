"""The house-price MLP: shapes, seeding, training reduces the loss, errors name the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlops_course.torch_model import (
    TARGET_UNIT_USD,
    build_mlp,
    predict_usd,
    rmse_usd,
    to_tensor,
    train_mlp,
)


def _toy(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = 200_000 + 50_000 * X[:, 0] - 20_000 * X[:, 1]
    return to_tensor(X), torch.tensor(y, dtype=torch.float32)


def test_build_mlp_is_seeded() -> None:
    a, b = build_mlp(4, 8, seed=1), build_mlp(4, 8, seed=1)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(build_mlp(4, 8, seed=2).parameters()), next(a.parameters()))


def test_build_mlp_rejects_empty_layers() -> None:
    with pytest.raises(ValueError, match="n_features >= 1"):
        build_mlp(0)


def test_training_reduces_loss_and_is_deterministic() -> None:
    torch.set_num_threads(1)
    X, y = _toy()
    runs = []
    for _ in range(2):
        model = build_mlp(4, 16, seed=3)
        history = train_mlp(model, X, y, epochs=5, batch_size=32, seed=3, progress=False)
        runs.append(predict_usd(model, X))
        assert history.loss[-1] < history.loss[0]
        assert not model.training, "train_mlp leaves the model in eval mode"
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].dtype == np.float64 and runs[0].shape == (len(X),)


def test_train_mlp_rejects_mismatched_rows() -> None:
    X, y = _toy()
    with pytest.raises(ValueError, match="same rows"):
        train_mlp(build_mlp(4, 4), X, y[:10], epochs=1, progress=False)


def test_predict_usd_scales_to_dollars() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.fill_(2.5)
    np.testing.assert_allclose(predict_usd(model, torch.zeros(3, 2), batch_size=2),
                               [2.5 * TARGET_UNIT_USD] * 3)


def test_rmse_usd() -> None:
    assert rmse_usd([1.0, 3.0], [1.0, 1.0]) == pytest.approx(2 ** 0.5)
    with pytest.raises(ValueError, match="equally long"):
        rmse_usd([1.0], [])
