"""The contract between the harness and a training engine.

The harness owns the benchmark (what to train, when to evaluate, when to stop,
what to log); an engine owns how a Keras model's training runs on its
hardware, and which clock measures it.  Keeping that line lets one loop time
a CPU, a GPU and an emulated SpiNNaker the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

# Called by an engine as training progresses, with the number of samples just done.
SampleCallback = Callable[[int], None]


class Clock(Protocol):
    """The clock a run's time to train is measured on."""

    kind: str  # "wall" (a real clock) or "modeled" (a device model's clock)

    def now_s(self) -> float:
        """Seconds since an arbitrary origin fixed for the run."""
        ...


class TrainingSession(Protocol):
    """One model being trained by an engine."""

    def set_learning_rate(self, lr: float) -> None: ...

    def train_epoch(self, x: np.ndarray, y: np.ndarray, on_samples: SampleCallback) -> None:
        """One pass over (x, y) in shuffled minibatches."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for x."""
        ...

    def close(self) -> None: ...


class Engine(Protocol):
    """A way of training Keras models; one instance serves every run of a benchmark."""

    name: str
    clock: Clock

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Options with defaults filled in; raise ConfigError naming a bad one. No heavy imports."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Versions and device: what a reader needs to reproduce the figures."""
        ...

    def seed(self, seed: int) -> None:
        """Seed every random source the engine uses."""
        ...

    def session(self, model: Any, recipe: dict[str, Any]) -> TrainingSession:
        """A training session for an uncompiled Keras `model` under `recipe`."""
        ...

    def energy_device(self) -> str:
        """Which device's energy a meter should read: "cpu" or "gpu"."""
        ...
