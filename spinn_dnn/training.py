"""What a compiled Keras model asks of training, in the terms the core programs understand.

The core programs implement one optimizer (SGD, with or without momentum,
Nesterov or not) and two losses (cross-entropy of a softmax output, mean
squared error).  Anything else a model was compiled with is refused here, by
name, before a machine is built: training something else silently would give
figures that are not the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spinn_dnn.errors import UnsupportedModelError

SUPPORTED_OPTIMIZERS = "keras.optimizers.SGD (momentum >= 0, nesterov or not)"
SUPPORTED_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "mean_squared_error")
_LOSS_ALIASES = {"mse": "mean_squared_error", "MeanSquaredError": "mean_squared_error",
                 "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                 "CategoricalCrossentropy": "categorical_crossentropy"}


@dataclass(frozen=True)
class TrainingSpec:
    """The optimizer and loss of a compiled model, as the OPTIMIZER region holds them."""

    learning_rate: Any  # a float, or a keras LearningRateSchedule (evaluated once per epoch)
    momentum: float
    nesterov: bool
    loss: str  # one of SUPPORTED_LOSSES

    def learning_rate_at(self, step: int) -> float:
        """The rate at an optimizer step: a schedule is evaluated at the first step of each epoch."""
        lr = self.learning_rate
        if callable(lr):
            return float(np.asarray(lr(step)))
        return float(lr)

    def region_values(self, lr: float, batch_size: int, epoch_samples: int) -> dict[str, float]:
        from spinn_dnn import regions

        return {"learning_rate": lr, "momentum": self.momentum, "nesterov": int(self.nesterov),
                "batch_size": batch_size, "epoch_samples": epoch_samples,
                "loss": regions.LOSSES.index("mse" if self.loss == "mean_squared_error" else "sce")}


def _loss_name(loss: Any) -> str:
    if isinstance(loss, str):
        name = _LOSS_ALIASES.get(loss, loss)
    else:
        cls = type(loss).__name__
        name = _LOSS_ALIASES.get(cls, getattr(loss, "__name__", cls))
        if getattr(loss, "from_logits", False) or getattr(loss, "_fn_kwargs", {}).get("from_logits"):
            raise UnsupportedModelError(f"loss {cls} with from_logits=True: the core programs differentiate "
                                        "a softmax output layer; use a softmax output and from_logits=False")
    if name not in SUPPORTED_LOSSES:
        raise UnsupportedModelError(f"loss {name!r} is not supported on SpiNNaker; supported: "
                                    f"{', '.join(SUPPORTED_LOSSES)}")
    return name


def spec_from_model(model: Any) -> TrainingSpec:
    """The optimizer and loss `model.compile` was given; UnsupportedModelError for anything else."""
    optimizer = getattr(model, "optimizer", None)
    loss = getattr(model, "loss", None)
    if optimizer is None or loss is None:
        raise UnsupportedModelError("the model is not compiled: call model.compile(optimizer="
                                    "keras.optimizers.SGD(...), loss=...) first; the optimizer and the "
                                    "loss come from it")
    if type(optimizer).__name__ != "SGD":
        raise UnsupportedModelError(f"optimizer {type(optimizer).__name__} is not supported on SpiNNaker; "
                                    f"supported: {SUPPORTED_OPTIMIZERS}")
    for attr in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        if getattr(optimizer, attr, None):
            raise UnsupportedModelError(f"SGD with {attr}={getattr(optimizer, attr)!r} is not supported on "
                                        f"SpiNNaker; supported: {SUPPORTED_OPTIMIZERS} without it")
    if getattr(optimizer, "use_ema", False):
        raise UnsupportedModelError("SGD with use_ema=True is not supported on SpiNNaker")
    lr = optimizer._learning_rate if hasattr(optimizer, "_learning_rate") else optimizer.learning_rate
    if not callable(lr):
        lr = float(np.asarray(lr))
    return TrainingSpec(lr, float(optimizer.momentum), bool(optimizer.nesterov), _loss_name(loss))


def class_labels(y: np.ndarray, n_classes: int, loss: str) -> np.ndarray:
    """Class indices from Keras-style targets: indices (sparse), or one-hot rows (categorical, MSE).

    The loss layer builds the one-hot target from the class index, so a target
    that is not a class (soft labels, regression values) is refused.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == n_classes:
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise UnsupportedModelError(f"loss {loss}: targets must be one-hot rows (or class indices); "
                                        "soft or real-valued targets are not supported on SpiNNaker")
        return y.argmax(axis=1).astype(np.uint32)
    flat = y.reshape(len(y))
    if flat.size and (flat.min() < 0 or flat.max() >= n_classes or not np.all(flat == np.round(flat))):
        raise UnsupportedModelError(f"targets must be class indices in [0, {n_classes}) or one-hot rows of "
                                    f"{n_classes}; got values in [{flat.min()}, {flat.max()}]")
    return flat.astype(np.uint32)


def default_in_flight(n_layers: int) -> int:
    """Samples in flight a training pipeline needs: a sample holds its slot in the first layer from its
    forward pass until its error comes back through every layer (about 2 x layers stages)."""
    return 2 * max(1, n_layers - 1) + 2
