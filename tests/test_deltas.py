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
from spinn_dnn.emulator import EmulatorError
from spinn_dnn.harness_engine import SpinnakerEngine
from spinn_dnn.tiling import per_tile_fallbacks, sends_deltas, sends_kernel_deltas

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
            if regions.kernel_delta_sender(sm.plan, t) is not None:  # the whole kernel, a row per filter
                want = np.hstack([kernel.T, weights[at + 1][:, None]])
            else:
                want = kernel[t.lo:t.hi].T
            assert np.array_equal(copy, want), f"{t.label}'s copy differs from {nxt.name}"
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
    # no errors left to send; the 5-way softmax on two tiles exchanges its sums
    assert {r.pid for r in sm.plan.routes} == {"fwd", "dz", "label", "softmax"}
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


def _lenet5_with_deltas(tmp_path, fuse: bool):  # noqa: ANN202
    """LeNet-5 mapped with deltas, its Keras twin, its initial weights and 50 batches of MNIST."""
    keras.utils.set_random_seed(5)
    w = workloads.get("mnist_lenet5")
    model = w.build_model()
    initial = [a.copy() for a in model.get_weights()]
    reference = _compiled_pair(model, 0.01)
    data = w.load_data(None)
    x, y = data.x_train[:STEPS * BATCH], data.y_train[:STEPS * BATCH]
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              fuse_pooling=fuse, error_routing="deltas")
    return sm, reference, initial, x, y


def _train_both_and_compare(sm, reference, initial, x, y) -> None:  # noqa: ANN001
    sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_close_to_keras(sm, reference, initial)
    probe = x[:64]
    np.testing.assert_allclose(sm.predict(probe), reference.predict(probe, verbose=0), rtol=0, atol=1e-5)
    assert sm.last_run.packets_dropped == 0


def test_lenet5_fused_with_deltas_matches_keras(tmp_path):
    # C5 (a 5x5 convolution over its 5x5 input), F6 and the output send deltas; so does C3, whose
    # kernel is shared across positions: C1's tiles hold all of it and take its ring's sums
    sm, reference, initial, x, y = _lenet5_with_deltas(tmp_path, fuse=True)
    senders = {sm.plan.vertex(r.src[0]).layer for r in sm.plan.routes if r.pid == "dz"}
    assert {sm.plan.layers[i].name for i in senders} == {"C3", "C5", "F6", "output"}
    c3 = sm.plan.vertex("C3")
    assert sends_kernel_deltas(sm.plan.layers[c3.layer], c3)
    assert all(sends_deltas(sm.plan.layers[i]) for i in senders if i != c3.layer)
    assert {r.pid for r in sm.plan.routes if r.src[0] == "C3"} >= {"dz", "csum"}
    assert not any(r.pid == "bwd" for r in sm.plan.routes)
    # tapered (spinn_dnn.taper, the default): C5 keeps 8 samples in flight, not 16, on tiles of 8 filters
    assert (sm.plan.slots(sm.plan.vertex("C5").layer), sm.plan.vertex("C5").atoms_per_tile) == (8, 8)
    _train_both_and_compare(sm, reference, initial, x, y)
    c1 = sm.plan.vertex("C1").tiles
    kernel_copies = sum(regions.kernel_delta_sender(sm.plan, t) is not None for t in c1)
    assert kernel_copies == len(c1)
    assert _assert_copies_exact(sm) >= kernel_copies


def test_lenet5_plain_with_deltas_matches_keras(tmp_path):
    # not fused: C3 sends kernel deltas to S2's pooling tiles, C5, F6 and the output dense deltas;
    # the pooling layers, which have no weights, send per_tile errors
    sm, reference, initial, x, y = _lenet5_with_deltas(tmp_path, fuse=False)
    assert {r.src[0] for r in sm.plan.routes if r.pid == "dz" and r.n_keys} == {"C3"}
    assert {r.src[0] for r in sm.plan.routes if r.pid == "bwd"} == {"S2", "S4"}
    _train_both_and_compare(sm, reference, initial, x, y)
    assert _assert_copies_exact(sm) >= len(sm.plan.vertex("S2").tiles)


def test_the_error_routing_option_names_what_is_allowed():
    assert SpinnakerEngine.validate_options({})["error_routing"] == "per_tile"
    assert SpinnakerEngine.validate_options({"error_routing": "deltas"})["error_routing"] == "deltas"
    with pytest.raises(ConfigError, match="'thesis' is not allowed; allowed: per_tile, deltas"):
        SpinnakerEngine.validate_options({"error_routing": "thesis"})


def _convnet(seed: int, pool: str, first_pool: str = "average") -> keras.Model:
    keras.utils.set_random_seed(seed)
    pooling = keras.layers.MaxPooling2D if pool == "max" else keras.layers.AveragePooling2D
    inputs = keras.Input((12, 12, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = (keras.layers.MaxPooling2D if first_pool == "max" else keras.layers.AveragePooling2D)(2)(h)
    h = keras.layers.Conv2D(6, 3, strides=1, padding="same", activation="tanh")(h)
    h = pooling(2)(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))


@pytest.mark.parametrize(("pool", "fuse", "first_pool"), [
    ("max", True, "average"), ("average", True, "average"),
    ("max", False, "average"), ("average", False, "average"), ("average", False, "max")])
def test_a_convolution_sending_deltas_matches_keras(tmp_path, pool, fuse, first_pool):
    # the second convolution's kernel is shared by its tiles' positions: the tiles below (the first
    # convolution's, fused, or the pooling layer's) hold all of it, add each delta into the errors of
    # the atoms its window reads, and step their copy with the ring's final sums
    model = _convnet(7, pool, first_pool)
    initial = [w.copy() for w in model.get_weights()]
    reference = _compiled_pair(model, 0.05)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (STEPS * BATCH, 12, 12, 2)).astype(np.float32)
    y = rng.integers(0, 5, STEPS * BATCH)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              max_atoms_per_core=8, fuse_pooling=fuse, error_routing="deltas")
    conv = next(v for v in sm.plan.vertices if sm.plan.layers[v.layer].kind == "conv" and v.layer >= 2)
    assert len(conv.tiles) > 1 and sends_kernel_deltas(sm.plan.layers[conv.layer], conv)
    below = sm.plan.vertices[sm.plan.vertices.index(conv) - 1]
    assert all(regions.kernel_delta_sender(sm.plan, t) is not None for t in below.tiles)
    sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_close_to_keras(sm, reference, initial)
    probe = x[:64]
    np.testing.assert_allclose(sm.predict(probe), reference.predict(probe, verbose=0), rtol=0, atol=1e-5)
    assert _assert_copies_exact(sm) >= len(below.tiles)
    assert sm.last_run.packets_dropped == 0


def test_a_delta_beyond_the_fixed_point_range_stops_the_run_with_its_reason(tmp_path):
    # the first convolution's tiles sum the second's deltas in fixed point (layer.c, Kernel kind):
    # a product out of its range must stop the run and say why, not wrap into a wrong error
    model = _convnet(7, "max")
    weights = model.get_weights()
    weights[4] = weights[4] * 1e8  # the dense layer's errors into the second convolution, and its deltas
    model.set_weights(weights)
    _compiled_pair(model, 0.01)
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, (64, 12, 12, 2)).astype(np.float32), rng.integers(0, 5, 64)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              max_atoms_per_core=8, fuse_pooling=True, error_routing="deltas")
    with pytest.raises(EmulatorError, match="code 5: a convolution.s delta times a weight left"):
        sm.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)


def test_a_layer_whose_copies_do_not_fit_sends_per_tile_errors_and_trains_as_keras(tmp_path):
    # 784-512-512-10: the first hidden layer's tiles cannot hold the second's 512 deltas per sample in
    # flight and a copy of its columns even at one atom a tile, so the second sends per_tile errors;
    # the output still sends deltas (before the fallback the mapping stopped with DoesNotFitError).
    # Its 10-way softmax takes two tiles, which share their sums (layer.c, Softmax across tiles); untapered,
    # as with the output's 4 slots in flight (spinn_dnn.taper) the softmax fits one tile
    keras.utils.set_random_seed(4)
    inputs = keras.Input((784,))
    h = keras.layers.Dense(512, activation="relu")(inputs)
    h = keras.layers.Dense(512, activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    initial = [w.copy() for w in model.get_weights()]
    reference = _compiled_pair(model, 0.05)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              error_routing="deltas", taper_in_flight=False)
    assert per_tile_fallbacks(sm.plan) == [2]
    assert len(sm.plan.vertices[-1].tiles) == 2
    assert {(sm.plan.vertex(r.src[0]).layer, r.pid) for r in sm.plan.routes if r.pid in ("bwd", "dz")} == {
        (2, "bwd"), (3, "dz")}
    assert any(f"{sm.plan.layers[2].name} send per_tile errors" in note for note in sm.mapping.notes)
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (8 * BATCH, 784)).astype(np.float32), rng.integers(0, 10, 8 * BATCH)
    sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_close_to_keras(sm, reference, initial)
    assert _assert_copies_exact(sm) == len(sm.plan.vertex(sm.plan.layers[2].name).tiles)
