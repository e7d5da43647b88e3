"""Keras-like training of a mapped model on the emulated machine: fit, predict, run statistics.

One training machine lives as long as the model is trained with the same
batch size and epoch length: weights, momentum and sample counts stay in the
cores between `fit` calls and epochs, as on a board between runs.  The host
sets each epoch's learning rate in the OPTIMIZER regions, stages samples
chunk by chunk, and reads back the loss layer's outputs (training loss and
accuracy come from those, as Keras's running metrics do).  Evaluation and
`predict` load the current weights (which the tiles copy to SDRAM after every
update) into an inference machine of the same mapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from spinn_dnn.emulator.machine import RunResult, _module
from spinn_dnn.emulator.session import MachineSession
from spinn_dnn.training import TrainingSpec, class_labels


@dataclass
class RunStats:
    """What a stretch of machine work did; times and energy are modeled (the clock of cost_model.h)."""

    clock: str = "modeled"
    modeled_seconds: float = 0.0  # machine clock plus host I/O
    host_io_seconds: float = 0.0  # of which: the host staging samples and reading results (modeled)
    wall_seconds: float = 0.0  # host time the emulation took (measured: time.perf_counter)
    samples: int = 0
    packets_sent: int = 0
    packets_delivered: int = 0
    packets_dropped: int = 0
    cores: int = 0
    chips: int = 0
    boards: int = 0
    core_busy_seconds: float = 0.0
    energy: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_stats(session: MachineSession, boards: int, wall_seconds: float, samples: int) -> RunStats:
    """Counters of a session's machine so far, with its modeled energy."""
    result: RunResult = session.em.result()
    clock_hz = _module().CLOCK_HZ
    chips = len({(x, y) for x, y, _ in result.cores})
    busy = sum(c["busy_cycles"] for c in result.cores.values()) / clock_hz
    routed = sum(r.get("routed", 0) + r.get("default_routed", 0) for r in result.routers.values())
    stats = RunStats(modeled_seconds=session.modeled_seconds, host_io_seconds=session.host_io_seconds,
                     wall_seconds=wall_seconds, samples=samples, packets_sent=result.total("sent"),
                     packets_delivered=result.deliveries, packets_dropped=result.dropped,
                     cores=len(result.cores), chips=chips, boards=boards, core_busy_seconds=busy)
    from spinn_dnn.energy_model import EnergyCounters, modeled_energy

    energy = modeled_energy(EnergyCounters(seconds=stats.modeled_seconds, boards=boards, chips=chips,
                                           cores=stats.cores, core_busy_seconds=busy, packets=routed,
                                           packets_with_payload=routed))
    stats.energy = energy.as_dict()
    return stats


@dataclass
class History:
    """Per-epoch metrics, as keras.callbacks.History.history holds them."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)

    def add(self, epoch: int, **metrics: float) -> None:
        self.epoch.append(epoch)
        for k, v in metrics.items():
            self.history.setdefault(k, []).append(float(v))


class Trainer:
    """The training machine of one mapped model, kept between epochs and fit calls."""

    def __init__(self, sm: Any, spec: TrainingSpec) -> None:
        self.sm = sm
        self.spec = spec
        self.session: MachineSession | None = None
        self.key: tuple[int, int] | None = None
        self.steps = 0  # optimizer steps so far (for learning-rate schedules)
        self.wall_seconds = 0.0
        self.samples = 0

    def _session_for(self, batch_size: int, n: int, lr: float) -> MachineSession:
        values = self.spec.region_values(lr, batch_size, n)
        if self.session is not None and self.key == (batch_size, n):
            self.session.set_optimizer(values)
            return self.session
        momentum = None
        if self.session is not None:  # a new batch size or epoch length: a new machine, same state
            self.sm.set_weight_regions(self.session.weights())
            momentum = self.session.momentum()
        self.session = MachineSession(self.sm.plan, self.sm.toolchain, values, self.sm.weight_regions())
        if momentum:
            self.session.load_momentum(momentum)
        self.key = (batch_size, n)
        return self.session

    def epoch(self, x: np.ndarray, labels: np.ndarray, batch_size: int, rng: np.random.Generator | None,
              on_samples: Callable[[int], None] | None = None) -> tuple[float, float]:
        """One epoch over (x, labels), shuffled by `rng` when given; (mean loss, accuracy) of its samples."""
        n = len(x)
        lr = self.spec.learning_rate_at(self.steps)
        session = self._session_for(batch_size, n, lr)
        order = rng.permutation(n) if rng is not None else np.arange(n)
        losses = np.zeros(n, dtype=np.float64)
        correct = 0
        t0 = time.perf_counter()
        for start in range(0, n, session.capacity):
            idx = order[start:start + session.capacity]
            got = session.feed(x[idx], labels[idx])
            losses[start:start + len(idx)] = got.losses
            correct += int(np.sum(got.outputs.argmax(axis=1) == labels[idx]))
            if on_samples:
                on_samples(len(idx))
        self.wall_seconds += time.perf_counter() - t0
        self.samples += n
        self.steps += -(-n // batch_size)
        self.sm.set_weight_regions(session.weights())
        return float(losses.mean()), correct / n

    def stats(self) -> RunStats:
        if self.session is None:
            return RunStats()
        return session_stats(self.session, self.sm.boards, self.wall_seconds, self.samples)


def fit(sm: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 32, epochs: int = 1, shuffle: bool = True,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 1,
        seed: int | None = None) -> History:
    """Train `sm` (a SpiNNakerModel from a compiled Keras model) like keras.Model.fit; a History."""
    spec = sm.training_spec()
    n_out = sm.plan.layers[-1].n_atoms
    labels = class_labels(y, n_out, spec.loss)
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"batch_size must be >= 1 and epochs >= 0; got {batch_size}, {epochs}")
    trainer = sm.trainer(spec)
    rng = np.random.default_rng(seed) if shuffle else None
    history = History()
    for epoch in range(epochs):
        bar = _bar(verbose, len(x), f"epoch {epoch + 1}/{epochs}")
        loss, acc = trainer.epoch(x, labels, batch_size, rng, bar.update if bar else None)
        metrics = {"loss": loss, "accuracy": acc}
        if validation_data is not None:
            vx, vy = validation_data
            vlabels = class_labels(vy, n_out, spec.loss)
            got = sm.predict_with_losses(vx, vlabels)
            metrics["val_loss"] = float(np.mean(got[1]))
            metrics["val_accuracy"] = float(np.mean(got[0].argmax(axis=1) == vlabels))
        history.add(epoch, **metrics)
        if bar:
            bar.set_postfix({k: f"{v:.4f}" for k, v in metrics.items()})
            bar.close()
    sm.last_run = trainer.stats()
    return history


def _bar(verbose: int, total: int, desc: str) -> Any:
    if not verbose:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", leave=True)
