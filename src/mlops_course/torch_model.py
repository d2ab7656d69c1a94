"""The house-price model in PyTorch: a small MLP on the course's preprocessing.

Lessons 6 and 7 compare *one* model across execution strategies (eager, compiled,
ONNX Runtime, GPU) and number formats (fp32, fp16, bf16, int8). This module holds it:

    HousePriceMLP          the network: features -> 256 -> 256 -> price in $100,000
    prepare_features()     the lesson-2 preprocessor, fitted on training rows, as float32 tensors
    train_mlp()            the training loop (Adam, mini-batches, a progress bar), seeded
    predict_usd()          predictions in dollars, in batches, without autograd
    rmse_usd()             root mean squared error in dollars
    train_house_price_mlp()  all of the above on the housing data, in one call

The network predicts prices in units of $100,000 (values 0.15 to 5): numbers that fit
every format lesson 7 tries, fp16 included, whose largest value is 65,504.
Nothing happens at import: torch is imported by the functions that need it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_course.config import DEFAULT_SEED

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from sklearn.pipeline import Pipeline

TARGET_UNIT_USD = 100_000.0  # the network's output unit: one unit is $100,000


def _torch() -> Any:
    import torch

    return torch


def build_mlp(n_features: int, hidden: int = 256, *, seed: int = DEFAULT_SEED) -> torch.nn.Module:
    """Return the house-price MLP: ``Linear -> ReLU -> Linear -> ReLU -> Linear``.

    The weights are initialised from ``seed`` (PyTorch's default initialisation), so
    the same seed gives the same network.

    Examples
    --------
    >>> model = build_mlp(16, hidden=8)
    >>> sum(p.numel() for p in model.parameters())
    217
    """
    torch = _torch()
    if n_features < 1 or hidden < 1:
        raise ValueError(f"build_mlp needs n_features >= 1 and hidden >= 1, got "
                         f"{n_features} and {hidden}")
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
    )


def to_tensor(values: Any, dtype: Any = None) -> torch.Tensor:
    """A float32 (or ``dtype``) 2-D tensor from an array, a DataFrame or a Series."""
    torch = _torch()
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if dtype is None else tensor.to(dtype)


def prepare_features(
    preprocessor: Pipeline, X_train: pd.DataFrame, X_test: pd.DataFrame
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit ``preprocessor`` on the training rows only; return both sets as float32 tensors."""
    preprocessor.fit(X_train)
    return to_tensor(preprocessor.transform(X_train)), to_tensor(preprocessor.transform(X_test))


@dataclass
class TrainingHistory:
    """What :func:`train_mlp` did: the mean training loss per epoch and the time it took."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_mlp(
    model: torch.nn.Module,
    X: torch.Tensor,
    y_usd: torch.Tensor,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
) -> TrainingHistory:
    """Train ``model`` in place with Adam on mean squared error; return the loss history.

    Targets are given in dollars and learned in units of :data:`TARGET_UNIT_USD`.
    Mini-batches are shuffled by a generator seeded with ``seed``; with one thread
    the same seed gives the same weights. A ``tqdm`` bar shows the epochs and the loss.
    """
    torch = _torch()
    if X.shape[0] != y_usd.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y_usd has {y_usd.shape[0]}: pass the "
                         "features and targets of the same rows")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    from tqdm import tqdm

    y = y_usd.reshape(-1, 1).float() / TARGET_UNIT_USD
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.MSELoss()
    history = TrainingHistory()
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=True)
    for _ in bar:
        order = torch.randperm(X.shape[0], generator=generator)
        total = 0.0
        for begin in range(0, X.shape[0], batch_size):
            index = order[begin:begin + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(X[index]), y[index])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        history.loss.append(total / X.shape[0])
        rmse = (history.loss[-1] ** 0.5) * TARGET_UNIT_USD
        bar.set_postfix_str(f"train RMSE ${rmse:,.0f}")
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def predict_usd(model: Any, X: torch.Tensor, *, batch_size: int = 8192) -> np.ndarray:
    """Predicted prices in dollars (float64 NumPy), computed in batches without autograd.

    ``model`` is anything callable on a tensor: a module, a compiled module, a quantized
    one. Its output dtype may be fp16 or bf16; it is converted to float64 for dollars.
    """
    torch = _torch()
    parts = []
    with torch.inference_mode():
        for begin in range(0, X.shape[0], batch_size):
            parts.append(model(X[begin:begin + batch_size]).float().reshape(-1).numpy())
    return np.concatenate(parts).astype(np.float64) * TARGET_UNIT_USD


def rmse_usd(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error in dollars.

    Examples
    --------
    >>> rmse_usd([100_000, 200_000], [100_000, 202_000])
    1414.213562373095
    """
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"rmse_usd needs two equally long, non-empty sequences; got "
                         f"{y_true.size} and {y_pred.size} values")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


@dataclass
class HousePriceMLP:
    """A trained house-price MLP with the data it was trained and tested on.

    ``X_train`` / ``X_test`` are the preprocessed float32 tensors; ``y_train`` / ``y_test``
    the prices in dollars (NumPy). ``preprocessor`` is the fitted lesson-2 pipeline, so
    raw rows can be turned into the model's inputs.
    """

    model: Any
    preprocessor: Any
    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    history: TrainingHistory
    sklearn_model: Any = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def test_rmse_usd(self, model: Any = None) -> float:
        """Test RMSE in dollars of ``model`` (default: the trained fp32 model)."""
        return rmse_usd(self.y_test, predict_usd(model or self.model, self.X_test))


def train_house_price_mlp(
    *,
    fast: bool = False,
    seed: int = DEFAULT_SEED,
    hidden: int = 256,
    epochs: int | None = None,
    progress: bool = True,
    with_sklearn: bool = False,
) -> HousePriceMLP:
    """Load the housing data, split it, preprocess it and train the MLP, all seeded.

    Fast mode trains on 5,000 districts for 8 epochs; the full run on every district
    for 40 epochs. ``with_sklearn=True`` also fits the course's scikit-learn model
    (lesson 2's ``HistGradientBoostingRegressor``) on the same preprocessed rows.
    """
    torch = _torch()
    from mlops_course import data
    from mlops_course.features import build_preprocessor

    df = data.load_housing()
    if fast:  # a Generator, not RandomState(42): see lesson 2 on the missing bedrooms
        df = df.sample(5_000, random_state=np.random.default_rng(seed))
    train, test = data.split_train_test(df, seed=seed)
    features = [*data.NUMERIC_FEATURES, *data.CATEGORICAL_FEATURES]
    preprocessor = build_preprocessor()
    X_train, X_test = prepare_features(preprocessor, train[features], test[features])
    y_train = train[data.TARGET].to_numpy(dtype=np.float64)
    y_test = test[data.TARGET].to_numpy(dtype=np.float64)
    model = build_mlp(X_train.shape[1], hidden, seed=seed)
    history = train_mlp(model, X_train, torch.tensor(y_train, dtype=torch.float32),
                        epochs=epochs or (8 if fast else 40), seed=seed, progress=progress)
    run = HousePriceMLP(model, preprocessor, X_train, y_train, X_test, y_test, history)
    if with_sklearn:
        from sklearn.ensemble import HistGradientBoostingRegressor

        run.sklearn_model = HistGradientBoostingRegressor(random_state=seed).fit(
            X_train.numpy(), y_train)
    return run
