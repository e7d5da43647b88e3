"""What a workload is: a fixed model, its data, its quality target and recipe.

A workload is the MLPerf notion of a benchmark: everything that must stay the
same for two systems' times to be comparable.  Engines receive the Keras model
a workload builds and train it; they never define models of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class QualityTarget:
    """The metric a run must reach on the evaluation set, and where the value comes from."""

    metric: str
    value: float
    source: str


@dataclass(frozen=True)
class Dataset:
    """Training and evaluation arrays, ready for the model, plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def num_classes(self) -> int:
        return int(self.y_train.max()) + 1


# A function that maps inputs to class scores (probabilities) of one trained member.
Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass
class Workload:
    """Base class of every workload; subclasses fill the fields and `build_model`."""

    name: str
    benchmark: str
    description: str
    target: QualityTarget
    default_recipe: dict[str, Any]
    reference: dict[str, Any] = field(default_factory=dict)
    # Options a config may set under `workload_options`, with their defaults.
    option_defaults: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    # Number of networks trained one after another and summed at evaluation.
    ensemble_size: int = 1

    def configure(self, options: dict[str, Any] | None) -> Workload:
        """Return this workload with `options` applied over its defaults."""
        from workloads.errors import WorkloadError

        options = dict(options or {})
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            allowed = ", ".join(sorted(self.option_defaults)) or "none"
            raise WorkloadError(
                f"workload {self.name!r} has no option {unknown[0]!r}; allowed: {allowed}"
            )
        merged = {**self.option_defaults, **options}
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.options = merged
        return clone

    def option(self, key: str) -> Any:
        return self.options.get(key, self.option_defaults[key])

    def build_model(self, member: int = 0) -> Any:
        """A fresh, uncompiled Keras model (the `member`-th net of an ensemble)."""
        raise NotImplementedError

    def load_data(self, data_dir: str | None = None) -> Dataset:
        raise NotImplementedError

    def member_training_set(
        self,
        member: int,
        data: Dataset,
        trained: list[Predictor],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The training set of ensemble member `member`, given the members trained before it."""
        return data.x_train, data.y_train

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inputs for one epoch of training; the identity unless the workload distorts."""
        return x

    @property
    def augments(self) -> bool:
        """Whether `augment` changes the data (the engine then gets new arrays each epoch)."""
        return False
