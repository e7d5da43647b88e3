"""The contract between the harness and a training engine.

The harness owns the benchmark (what to train, when to evaluate, when to stop,
what to log); an engine owns how a Keras model's training runs on its
hardware, and which clock measures it.  Keeping that line lets one loop time
a CPU, a GPU and an emulated SpiNNaker the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from harness.schedule import StepSchedule

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

    def set_learning_rate(self, lr: float) -> None:
        """The rate for the next epoch (per-epoch schedules only)."""
        ...

    def train_epoch(self, x: np.ndarray, y: np.ndarray, on_samples: SampleCallback) -> None:
        """One pass over in-memory (x, y) in shuffled minibatches."""
        ...

    def train_stream(self, batches: Iterator[tuple[np.ndarray, np.ndarray]], steps: int,
                     on_samples: SampleCallback) -> None:
        """One epoch of exactly `steps` full minibatches from a streaming data set.

        The batches are already shuffled and augmented (numpy arrays); a data set
        that does not fit in memory (ImageNet) is trained this way.
        """
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

    def session(self, model: Any, recipe: dict[str, Any], loss: Any = None,
                step_schedule: StepSchedule | None = None) -> TrainingSession:
        """A training session for an uncompiled Keras `model` under `recipe`.

        `loss` is the workload's `LossSpec` (None: sparse categorical cross-entropy).
        `step_schedule`, when given, is a per-step learning-rate schedule the
        engine applies on its own optimizer step counter (starting at 0 with
        this session); the loop then never calls `set_learning_rate`.
        """
        ...

    def energy_device(self) -> str:
        """Which device's energy a meter should read: "cpu" or "gpu"."""
        ...
