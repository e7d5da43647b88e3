"""Forward pass (predict) of a mapped model on the emulated machine.

The host does what it would do with a board: it stages the samples in the
input tile's WORK region, runs the machine, and reads the predictions the
loss layer's tiles wrote to their WORK regions.  Everything in between (DMA
of samples into DTCM, packets through the toolchain's tables, W x + b and the
activations in float32) is the C core programs in c_src/programs/.

The input tile sends one sample per timer tick; with the plan's `in_flight`
samples in flight, every layer works on its own sample at the same time (a
pipeline), so a sample costs the slowest stage's time, not the sum of them.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from spinn_dnn import regions as regions_mod
from spinn_dnn.emulator.errors import EmulatorError
from spinn_dnn.emulator.machine import EmulatedMachine, RunResult, _module

WORK = regions_mod.REGIONS.index("WORK")
PROGRAM_OF_ROLE = {"input": "input", "dense": "dense"}
SEND_GAP_US = 1  # c_src/programs/tile_common.h
EXIT_CODES = {1: "its memory image is not a spinn_dnn tile of that role", 2: "DTCM is too small",
              3: "an operation the C programs do not implement yet",
              4: "a source ran more samples ahead than the tile has input slots (pacing too fast)"}


@dataclass
class PredictResult:
    predictions: np.ndarray  # (samples, outputs), float32
    runs: list[RunResult]  # one per batch of samples staged at once
    losses: np.ndarray | None = None  # per sample, sparse categorical cross-entropy, when labels were given

    @property
    def modeled_seconds(self) -> float:
        return sum(r.modeled_seconds for r in self.runs)


def _program(tile) -> str:  # noqa: ANN001
    try:
        return PROGRAM_OF_ROLE[tile.role]
    except KeyError:
        raise EmulatorError(f"tile {tile.label}: role '{tile.role}' has no core program yet "
                            f"(only {', '.join(PROGRAM_OF_ROLE)})") from None


def tick_us(plan, safety: float = 1.1) -> int:  # noqa: ANN001
    """The input tile's timer period: the modeled time of the slowest stage of the pipeline, plus margin.

    A stage is one tile's work per sample: taking its input packets (an
    interrupt each), W x and the activation (software float), and sending its outputs paced
    (SEND_GAP_US per packet times the tiles of its layer).  With several samples
    in flight, a sample per period keeps every tile within its input slots; a
    period too short shows as a tile stopping with EXIT_OVERRUN, never as wrong
    results.
    """
    mod = _module()
    cycles_per_us = mod.CLOCK_HZ / 1e6
    slowest = 0.0
    for v in plan.vertices:
        rows = max(t.n_atoms for t in v.tiles)
        fan_in = max(t.in_hi - t.in_lo for t in v.tiles)
        if v.role == "input":
            fan_in = 0
        act = {"relu": mod.COST_FADD, "sigmoid": mod.COST_FEXP + mod.COST_FDIV, "tanh": 2 * mod.COST_FEXP,
               "softmax": mod.COST_FEXP + 3 * mod.COST_FADD + mod.COST_FDIV}.get(
                   plan.layers[v.layer].activation, 0) if v.role != "input" else 0
        cycles = rows * fan_in * mod.COST_FMAC + rows * act + fan_in * (mod.ISR_CYCLES + 20)
        compute = cycles / cycles_per_us
        send = SEND_GAP_US * len(v.tiles) * rows
        slowest = max(slowest, compute + send)
    return int(math.ceil(safety * slowest)) + 20


def predict(plan, toolchain, x: np.ndarray, y: np.ndarray | None = None,  # noqa: ANN001
            max_cycles: int | None = None, period_us: int | None = None) -> PredictResult:
    """Predictions of the mapped model for samples `x` (any shape with samples first), float32.

    With labels `y` (class indices), also each sample's loss (sparse categorical
    cross-entropy of the softmax output, computed by the loss layer's tile).
    `period_us`: the input tile's timer period (default `tick_us(plan)`).
    """
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    labels = np.zeros(len(x), dtype="<u4") if y is None else np.asarray(y).astype("<u4").reshape(len(x))
    inputs = [(t, toolchain.placements[(v.label, t.index)]) for v in plan.vertices for t in v.tiles
              if t.role == "input"]
    last = len(plan.layers) - 1
    outputs = [(t, toolchain.placements[(v.label, t.index)]) for v in plan.vertices if v.layer == last
               for t in v.tiles]
    n_out = plan.layers[last].n_atoms
    capacity = min([_capacity(toolchain, t, 8, 4 * t.n_atoms + 4 * ("label" in t.keys)) for t, _ in inputs]
                   + [_capacity(toolchain, t, 12, 4 * (t.n_atoms + 1)) for t, _ in outputs])
    if capacity < 1:
        raise EmulatorError("the WORK regions cannot hold one sample")
    period = period_us or tick_us(plan)
    preds = np.zeros((len(x), n_out), dtype=np.float32)
    losses = np.zeros(len(x), dtype=np.float32)
    runs = []
    for start in range(0, len(x), capacity):
        chunk = x[start:start + capacity]
        em = EmulatedMachine.from_mapping(plan, toolchain, _program)
        for t, where in inputs:
            blob = struct.pack("<II", len(chunk), period)
            blob += np.ascontiguousarray(chunk[:, t.lo:t.hi]).tobytes()
            if "label" in t.keys:
                blob += labels[start:start + len(chunk)].tobytes()
            em.write_region(where, WORK, blob)
        limit = max_cycles or (len(chunk) + 2 * len(plan.layers)) * period * (_module().CLOCK_HZ // 10**6)
        result = em.run(limit, exit_codes=EXIT_CODES)
        for t, where in outputs:
            blob = em.read_region(where, WORK)
            n_done, n_rows, record = struct.unpack_from("<III", blob)
            if n_done != len(chunk):
                raise EmulatorError(f"tile {t.label} at {where} produced {n_done} of {len(chunk)} "
                                    f"predictions (run {result.status} at cycle {result.cycles})")
            got = np.frombuffer(blob, dtype="<f4", count=n_done * record, offset=12).reshape(n_done, record)
            preds[start:start + len(chunk), t.lo:t.hi] = got[:, :n_rows]
            if len(outputs) == 1:
                losses[start:start + len(chunk)] = got[:, n_rows]
        runs.append(result)
    return PredictResult(preds, runs, losses if y is not None and len(outputs) == 1 else None)


def _capacity(toolchain, tile, header: int, per_sample: int) -> int:  # noqa: ANN001
    size = toolchain.region_sizes[(tile.vertex, tile.index)].get(WORK, 0)
    return (size - header) // per_sample
