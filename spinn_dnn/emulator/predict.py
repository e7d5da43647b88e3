"""Forward pass (predict) of a mapped model on the emulated machine.

The host does what it would do with a board: it stages the samples in the
input tiles' WORK regions, runs the machine, and reads the predictions the
loss layer's tiles wrote to their WORK regions (spinn_dnn.emulator.session).
Everything in between (DMA of samples into DTCM, packets through the
toolchain's tables, W x + b and the activations in float32) is the C core
programs in c_src/programs/, with every tile's OPTIMIZER region saying
"inference" (batch size 0): no backward pass.

The input tile sends one sample per timer tick; with the plan's `in_flight`
samples in flight, every layer works on its own sample at the same time (a
pipeline), so a sample costs the slowest stage's time, not the sum of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinn_dnn.emulator.machine import RunResult
from spinn_dnn.emulator.session import EXIT_CODES, MachineSession, tick_us

__all__ = ["EXIT_CODES", "PredictResult", "predict", "tick_us"]


@dataclass
class PredictResult:
    predictions: np.ndarray  # (samples, outputs), float32
    runs: list[RunResult]  # one per chunk of samples staged at once
    losses: np.ndarray | None = None  # per sample, sparse categorical cross-entropy, when labels were given
    modeled_seconds: float = 0.0  # machine clock plus host I/O


def predict(plan, toolchain, x: np.ndarray, y: np.ndarray | None = None,  # noqa: ANN001
            period_us: int | None = None, weights: dict | None = None,
            chunk: int | None = None) -> PredictResult:
    """Predictions of the mapped model for samples `x` (any shape with samples first), float32.

    With labels `y` (class indices), also each sample's loss (sparse categorical
    cross-entropy of the softmax output, computed by the loss layer's tiles).
    `period_us`: the input tile's timer period (default `tick_us(plan)`);
    `weights`: WEIGHTS regions to load instead of the mapped ones (trained
    weights); `chunk`: samples staged at once (default: what SDRAM holds).
    """
    session = MachineSession(plan, toolchain, None, weights, period_us, chunk)
    labels = np.zeros(len(x), dtype="<u4") if y is None else np.asarray(y)
    got = session.feed(x, labels)
    # cross-entropy: the output's one tile, or a split softmax's label tile, has each sample's loss
    summed = len(session.outputs) == 1 or plan.layers[-1].activation == "softmax"
    return PredictResult(got.outputs, got.runs, got.losses if y is not None and summed else None,
                         session.modeled_seconds)
