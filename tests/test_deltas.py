"""error_routing "deltas": a layer sends dL/dz, the tiles below hold copies of its weights.

The tiles below compute their own errors from the deltas with their copy of the
weights that read their atoms, and keep the copy exact by summing the same
gradient and taking the same SGD step (c_src/programs/layer.c, Deltas).  Checked
against Keras's own training (predictions within 1e-5, weights within 1e-4
after 50 steps), and every copy against the weights its layer's own tiles hold,
bit for bit: a copy that drifted by one rounding would fail.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import spinn_dnn
import workloads
from harness.errors import ConfigError
from spinn_dnn import regions
from spinn_dnn.harness_engine import SpinnakerEngine
from spinn_dnn.tiling import sends_deltas

STEPS, BATCH = 50, 32
SCE = "sparse_categorical_crossentropy"


def _mlp(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((20,))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    h = keras.layers.Dense(12, activation="tanh")(h)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))
    rng = np.random.default_rng(seed)
    for layer in model.layers[1:]:  # biases away from zero, so a bias gradient lost would show
        w, b = layer.get_weights()
        layer.set_weights([w, rng.normal(0, 0.2, b.shape).astype(np.float32)])
    return model


def _compiled_pair(model: keras.Model, lr: float) -> keras.Model:
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9), loss=SCE)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9), loss=SCE)
    return reference


def _assert_close_to_keras(sm, reference, initial) -> None:
    for got, want, start in zip(sm.get_weights(), reference.get_weights(), initial, strict=True):
        assert not np.allclose(want, start), "Keras did not move this weight: the test would prove nothing"
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def _assert_copies_exact(sm) -> int:
    """Every tile's copy equals the weights the next layer's own tiles hold; how many copies."""
    trainable = [layer for layer in sm.plan.layers if layer.trainable]
    weights = sm.get_weights()
    n = 0
    for v in sm.plan.vertices:
        for t in v.tiles:
            copy = regions.decode_copy(sm.region(v.label, t.index, "WEIGHTS"))
            if not copy.size:
                continue
            nxt = sm.plan.layers[v.layer + 1]
            at = sum(len(layer.weights) for layer in trainable[:trainable.index(nxt)])
            kernel = weights[at].reshape(-1, weights[at].shape[-1])  # (fan_in, units)
            assert np.array_equal(copy, kernel[t.lo:t.hi].T), f"{t.label}'s copy differs from {nxt.name}"
            n += 1
    return n


def test_an_mlp_with_deltas_matches_keras_and_its_copies_stay_exact(tmp_path):
    model = _mlp(3)
    initial = [w.copy() for w in model.get_weights()]
    reference = _compiled_pair(model, 0.05)
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (STEPS * BATCH, 20)).astype(np.float32), rng.integers(0, 5, STEPS * BATCH)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              max_atoms_per_core=4, error_routing="deltas")
    assert {r.pid for r in sm.plan.routes} == {"fwd", "dz", "label"}  # no errors left to send
    sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_close_to_keras(sm, reference, initial)
    probe = x[:64]
    np.testing.assert_allclose(sm.predict(probe), reference.predict(probe, verbose=0), rtol=0, atol=1e-5)
    assert _assert_copies_exact(sm) == 7  # 4 tiles of 16 hold 12 units' weights, 3 of 12 hold 5's
    assert sm.last_run.packets_dropped == 0


def test_a_new_machine_carries_the_copies_and_their_momentum(tmp_path):
    # another batch size builds a new training machine from the weights and momentum read back:
    # the copies and the copies' momentum must come with them, or the errors would use stale weights
    model = _mlp(9)
    initial = [w.copy() for w in model.get_weights()]
    reference = _compiled_pair(model, 0.05)
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, (256, 20)).astype(np.float32), rng.integers(0, 5, 256)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              max_atoms_per_core=4, error_routing="deltas")
    for batch in (32, 16):
        sm.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        reference.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    _assert_close_to_keras(sm, reference, initial)
    assert _assert_copies_exact(sm) == 7


def test_lenet5_fused_with_deltas_matches_keras(tmp_path):
    # C5 (a 5x5 convolution over its 5x5 input), F6 and the output send deltas; C3, whose kernel
    # is shared across positions, still sends errors
    keras.utils.set_random_seed(5)
    w = workloads.get("mnist_lenet5")
    model = w.build_model()
    initial = [a.copy() for a in model.get_weights()]
    reference = _compiled_pair(model, 0.01)
    data = w.load_data(None)
    x, y = data.x_train[:STEPS * BATCH], data.y_train[:STEPS * BATCH]
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              fuse_pooling=True, error_routing="deltas")
    senders = {sm.plan.vertex(r.src[0]).layer for r in sm.plan.routes if r.pid == "dz"}
    assert {sm.plan.layers[i].name for i in senders} == {"C5", "F6", "output"}
    assert all(sends_deltas(sm.plan.layers[i]) for i in senders)
    sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_close_to_keras(sm, reference, initial)
    probe = x[:64]
    np.testing.assert_allclose(sm.predict(probe), reference.predict(probe, verbose=0), rtol=0, atol=1e-5)
    assert _assert_copies_exact(sm) > 0
    assert sm.last_run.packets_dropped == 0


def test_the_error_routing_option_names_what_is_allowed():
    assert SpinnakerEngine.validate_options({})["error_routing"] == "per_tile"
    assert SpinnakerEngine.validate_options({"error_routing": "deltas"})["error_routing"] == "deltas"
    with pytest.raises(ConfigError, match="'thesis' is not allowed; allowed: per_tile, deltas"):
        SpinnakerEngine.validate_options({"error_routing": "thesis"})
