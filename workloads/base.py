"""What a workload is: a fixed model, its data, its quality target and recipe.

A workload is the MLPerf notion of a benchmark: everything that must stay the
same for two systems' times to be comparable.  Engines receive the Keras model
a workload builds and train it; they never define models of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

    @property
    def train_samples(self) -> int:
        return len(self.x_train)

    @property
    def eval_samples(self) -> int:
        return len(self.x_test)


# (inputs, integer labels) of one minibatch, as numpy arrays.
Batch = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class StreamingDataset:
    """A data set too big for memory, read as minibatches (ImageNet).

    The harness never holds it whole: each training epoch asks
    `train_batches(epoch, seed, batch_size)` for a fresh shuffled, augmented
    stream of exactly `steps_per_epoch(batch_size)` full batches (a partial last
    batch is dropped, as MLPerf's reference does, so a compiled step never sees
    a new shape), and evaluation walks `eval_batches(batch_size)` once, which
    covers every one of the `eval_samples` (the last batch may be short).
    Batches are numpy arrays so that any engine, and Keras on any backend, can
    take them.  `synthetic` is True when the samples are generated rather
    than read from the real data set; logs and summaries say so.
    """

    train_samples: int
    eval_samples: int
    train_batches: Callable[[int, int, int], Iterator[Batch]]
    eval_batches: Callable[[int], Iterator[Batch]]
    input_shape: tuple[int, ...]
    num_classes: int
    source: str
    synthetic: bool = False

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per training epoch (at least one)."""
        return max(self.train_samples // batch_size, 1)


@dataclass(frozen=True)
class LossSpec:
    """The training loss a workload fixes: cross-entropy, with optional label smoothing.

    Labels always travel as integer classes; an engine that smooths them turns
    them into one-hot vectors itself.
    """

    name: str = "sparse_categorical_crossentropy"
    label_smoothing: float = 0.0


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

    # The loss every engine must train with.
    loss: LossSpec = field(default_factory=LossSpec)

    # Which MLPerf rules judge the logs: "official" (mlperf_logging's own ruleset for
    # an MLPerf benchmark, e.g. resnet) or "derived" (its common rules plus this
    # workload's name and target, for benchmarks MLPerf does not define).
    ruleset: str = "derived"

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
        clone.validate_options()
        return clone

    def validate_options(self) -> None:
        """Raise WorkloadError naming an option whose value is not allowed (none here)."""

    def option(self, key: str) -> Any:
        return self.options.get(key, self.option_defaults[key])

    def build_model(self, member: int = 0) -> Any:
        """A fresh, uncompiled Keras model (the `member`-th net of an ensemble)."""
        raise NotImplementedError

    def load_data(self, data_dir: str | None = None) -> Dataset | StreamingDataset:
        raise NotImplementedError

    def check_recipe(self, recipe: dict[str, Any], division: str) -> None:
        """Raise WorkloadError naming a recipe value this workload's rules forbid in `division`."""

    def mlperf_hyperparameters(self, recipe: dict[str, Any], steps_per_epoch: int) -> dict[str, Any]:
        """Extra MLPerf log keys (name to value) this workload's rules require of a run."""
        return {}

    def data_description(self) -> str:
        """What data the configured workload trains on (e.g. "synthetic"), for logs and summaries."""
        return "real"

    def member_training_set(
        self,
        member: int,
        data: Dataset,
        trained: list[Predictor],
        rng: np.random.Generator,
        report: Callable[[str], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The training set of ensemble member `member`, given the members trained before it.

        `report` takes progress lines, for workloads whose choice takes long.
        """
        return data.x_train, data.y_train

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inputs for one epoch of training; the identity unless the workload distorts."""
        return x

    @property
    def augments(self) -> bool:
        """Whether `augment` changes the data (the engine then gets new arrays each epoch)."""
        return False
