"""The engine's results do not depend on the order its events come in.

The emulator's timing fuzz (EmulatedMachine.from_mapping's `jitter`) delays every task
on every core by a random number of cycles, so one training run plays out under
another interleaving of packets, tasks and DMA.  Each routing of the errors must give
the same weights bit for bit under every seed: a program whose sums depend on the
order of arrival (as the kernel kind's float sums once did, layer.c) fails here.
The modeled clock must differ between seeds, or the fuzz did nothing and the check
would prove nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_deltas import _compiled_pair, _convnet, _mlp

import spinn_dnn

STEPS, BATCH = 16, 32
JITTER_CYCLES = 2000  # 10 us at the modeled 200 MHz: more than a packet's handling, less than a pass
SEEDS = (1, 2, 3)


def _train(model, x, y, run_dir, jitter, **mapping) -> tuple[list[np.ndarray], float]:  # noqa: ANN001
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=run_dir, **mapping)
    sm.timing_jitter = jitter
    sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert sm.last_run.packets_dropped == 0
    return sm.get_weights(), sm.last_run.modeled_seconds


def _check_same_under_fuzz(model, x, y, tmp_path, **mapping) -> None:  # noqa: ANN001
    _compiled_pair(model, 0.05)  # the optimizer the engine takes from the model
    initial = model.get_weights()
    want, clock = _train(model, x, y, tmp_path / "plain", None, **mapping)
    clocks = {clock}
    for seed in SEEDS:
        model.set_weights(initial)
        got, clock = _train(model, x, y, tmp_path / f"seed{seed}", (JITTER_CYCLES, seed), **mapping)
        clocks.add(clock)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w), f"seed {seed}: max difference {np.max(np.abs(g - w))}"
    assert len(clocks) == len(SEEDS) + 1, "the fuzz did not change the run's timing"


@pytest.mark.parametrize(("routing", "fuse"), [("per_tile", True), ("deltas", True), ("deltas", False)])
def test_a_convnet_trains_the_same_under_any_timing(tmp_path, routing, fuse):
    # deltas: the second convolution sends kernel deltas, which the tiles below (the first
    # convolution's, fused, or the pooling layer's) sum as they come
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (STEPS * BATCH, 12, 12, 2)).astype(np.float32)
    y = rng.integers(0, 5, STEPS * BATCH)
    _check_same_under_fuzz(_convnet(7, "average"), x, y, tmp_path, max_atoms_per_core=8, fuse_pooling=fuse,
                           error_routing=routing)


def test_an_mlp_with_deltas_trains_the_same_under_any_timing(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (STEPS * BATCH, 20)).astype(np.float32)
    y = rng.integers(0, 5, STEPS * BATCH)
    _check_same_under_fuzz(_mlp(3), x, y, tmp_path, max_atoms_per_core=4, error_routing="deltas")


@pytest.mark.parametrize("jitter", [None, (JITTER_CYCLES, 1)])
def test_packets_taken_ahead_train_the_same_convnet_in_the_same_modeled_time(tmp_path, jitter):
    # The emulator takes a busy core's queued packets ahead of its clock instead of a WAKE event
    # each (core.c, take_ahead): the same weights bit for bit, the same modeled clock, no drop;
    # under the timing fuzz too, whose delays are drawn per core (a machine-wide generator drew
    # them in the host's order of same-cycle tasks, which taking ahead changes).
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (8 * BATCH, 12, 12, 2)).astype(np.float32)
    y = rng.integers(0, 5, 8 * BATCH)
    model = _convnet(7, "max")
    _compiled_pair(model, 0.05)
    initial = model.get_weights()
    runs = {}
    for take in (True, False):
        model.set_weights(initial)
        sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1),
                                  run_dir=tmp_path / str(take), max_atoms_per_core=8, fuse_pooling=True,
                                  error_routing="deltas")
        sm.take_ahead_packets = take
        sm.timing_jitter = jitter
        sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        assert sm.last_run.packets_dropped == 0
        runs[take] = (sm.get_weights(), sm.last_run.modeled_seconds, sm._trainer.session.em.state["events"])
    (ahead, ahead_s, ahead_events), (plain, plain_s, plain_events) = runs[True], runs[False]
    assert ahead_s == plain_s
    for a, p in zip(ahead, plain, strict=True):
        assert np.array_equal(a, p)
    assert ahead_events < plain_events  # the packets were taken ahead
