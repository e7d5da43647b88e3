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


@dataclass
class MachineCounters:
    """The additive counters of machine work: what a machine that is replaced hands to its successor.

    A training machine is replaced when the batch size or epoch length changes, or
    when a run resumes from a checkpoint; its counters carry over so that the
    statistics (and the modeled energy computed from them) are those of the whole
    stretch of work, as if one machine had done it.
    """

    modeled_seconds: float = 0.0
    host_io_seconds: float = 0.0
    packets_sent: int = 0
    packets_delivered: int = 0
    packets_dropped: int = 0
    core_busy_seconds: float = 0.0
    routed: int = 0  # packets through a chip's router (one per chip a packet visits), for the energy model

    def __add__(self, other: MachineCounters) -> MachineCounters:
        return MachineCounters(**{k: getattr(self, k) + getattr(other, k) for k in asdict(self)})

    @classmethod
    def of(cls, session: MachineSession) -> MachineCounters:
        result: RunResult = session.em.result()
        busy_cycles = sum(c["busy_cycles"] for c in result.cores.values())
        routed = sum(r.get("routed", 0) + r.get("default_routed", 0) for r in result.routers.values())
        return cls(modeled_seconds=session.modeled_seconds, host_io_seconds=session.host_io_seconds,
                   packets_sent=result.total("sent"), packets_delivered=result.deliveries,
                   packets_dropped=result.dropped, core_busy_seconds=busy_cycles / _module().CLOCK_HZ,
                   routed=routed)


def session_stats(session: MachineSession, boards: int, wall_seconds: float, samples: int,
                  carried: MachineCounters | None = None) -> RunStats:
    """Counters of a session's machine so far (plus those `carried` from machines before it), with energy."""
    result: RunResult = session.em.result()
    chips = len({(x, y) for x, y, _ in result.cores})
    total = MachineCounters.of(session) + (carried or MachineCounters())
    stats = RunStats(modeled_seconds=total.modeled_seconds, host_io_seconds=total.host_io_seconds,
                     wall_seconds=wall_seconds, samples=samples, packets_sent=total.packets_sent,
                     packets_delivered=total.packets_delivered, packets_dropped=total.packets_dropped,
                     cores=len(result.cores), chips=chips, boards=boards,
                     core_busy_seconds=total.core_busy_seconds)
    from spinn_dnn.energy_model import EnergyCounters, modeled_energy

    energy = modeled_energy(EnergyCounters(seconds=stats.modeled_seconds, boards=boards, chips=chips,
                                           cores=stats.cores, core_busy_seconds=total.core_busy_seconds,
                                           packets=total.routed, packets_with_payload=total.routed))
    stats.energy = energy.as_dict()
    return stats


def carried_stats(counters: MachineCounters, sm: Any, wall_seconds: float, samples: int) -> RunStats:
    """Statistics of work whose machines are gone (a restored checkpoint's): cores from the placements."""
    from spinn_dnn.energy_model import EnergyCounters, modeled_energy

    placed = list(sm.toolchain.placements.values())
    chips = len({(x, y) for x, y, _ in placed})
    stats = RunStats(modeled_seconds=counters.modeled_seconds, host_io_seconds=counters.host_io_seconds,
                     wall_seconds=wall_seconds, samples=samples, packets_sent=counters.packets_sent,
                     packets_delivered=counters.packets_delivered, packets_dropped=counters.packets_dropped,
                     cores=len(placed), chips=chips, boards=sm.boards,
                     core_busy_seconds=counters.core_busy_seconds)
    stats.energy = modeled_energy(EnergyCounters(
        seconds=counters.modeled_seconds, boards=sm.boards, chips=chips, cores=len(placed),
        core_busy_seconds=counters.core_busy_seconds, packets=counters.routed,
        packets_with_payload=counters.routed)).as_dict()
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
        self.carried = MachineCounters()  # counters of the machines this one replaced
        self._resume_momentum: dict[tuple[str, int], bytes] | None = None
        self._resumed = False  # the next machine continues a restored checkpoint

    @property
    def modeled_seconds(self) -> float:
        """Modeled seconds of all this trainer's machines so far (the current one's clock included)."""
        now = self.session.modeled_seconds if self.session is not None else 0.0
        return self.carried.modeled_seconds + now

    def _session_for(self, batch_size: int, n: int, lr: float) -> MachineSession:
        values = self.spec.region_values(lr, batch_size, n)
        if self.session is not None and self.key == (batch_size, n):
            self.session.set_optimizer(values)
            return self.session
        momentum, self._resume_momentum = self._resume_momentum, None
        if self.session is not None:  # a new batch size or epoch length: a new machine, same state
            self.sm.set_weight_regions(self.session.weights())
            momentum = self.session.momentum()
            self.carried = self.carried + MachineCounters.of(self.session)
        self.session = MachineSession(self.sm.plan, self.sm.toolchain, values, self.sm.weight_regions(),
                                      jitter=self.sm.timing_jitter, take_ahead=self.sm.take_ahead_packets)
        if momentum:
            self.session.load_momentum(momentum)
        if self._resumed:  # the machine it stands in for would have been sent this epoch's rate
            self.session.host_io_bytes += self.session.optimizer_write_bytes
            self._resumed = False
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
            if self.carried == MachineCounters():
                return RunStats()
            return carried_stats(self.carried, self.sm, self.wall_seconds, self.samples)
        return session_stats(self.session, self.sm.boards, self.wall_seconds, self.samples, self.carried)

    # -- checkpoints: the state a training machine holds between epochs ----------------------
    def checkpoint(self) -> TrainerCheckpoint:
        """Everything needed to continue training on a fresh machine after the last epoch."""
        if self.session is None:  # nothing trained on this trainer's machines yet: the mapped weights
            weights = {(v.label, t.index): self.sm.region(v.label, t.index, "WEIGHTS")
                       for v in self.sm.plan.vertices for t in v.tiles}
            return TrainerCheckpoint(weights=weights, momentum=self._resume_momentum or {}, steps=self.steps,
                                     samples=self.samples, wall_seconds=self.wall_seconds,
                                     counters=self.carried)
        return TrainerCheckpoint(weights=self.session.weights(), momentum=self.session.momentum(),
                                 steps=self.steps, samples=self.samples, wall_seconds=self.wall_seconds,
                                 counters=self.carried + MachineCounters.of(self.session))

    def restore(self, state: TrainerCheckpoint) -> None:
        """Continue from `state`: the next epoch starts a machine loaded with its weights and momentum.

        The arithmetic is that of an uninterrupted run (tests/test_checkpoint_resume.py checks the
        weights bit for bit); the new machine starts with its cores' timers in phase and its
        pipeline empty, so the modeled time differs from an uninterrupted run's by milliseconds.
        """
        self.sm.set_weight_regions(state.weights)
        self.session, self.key = None, None
        self._resume_momentum = state.momentum or None
        self._resumed = True
        self.steps, self.samples, self.wall_seconds = state.steps, state.samples, state.wall_seconds
        self.carried = state.counters


@dataclass
class TrainerCheckpoint:
    """A trainer's state between epochs (see Trainer.checkpoint)."""

    weights: dict[tuple[str, int], bytes]
    momentum: dict[tuple[str, int], bytes]
    steps: int
    samples: int
    wall_seconds: float
    counters: MachineCounters


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
