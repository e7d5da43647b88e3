"""Forward pass on the emulated machine against Keras: the C dense tile program, the toolchain's mapping.

Samples are staged in the input tile's SDRAM, cross the machine as packets
along the toolchain's routing tables, and come back as the loss layer's
predictions; they must equal Keras's own predict within 1e-5 (absolute).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import spinn_dnn
from spinn_dnn.emulator import EmulatorError
from spinn_dnn.emulator.predict import predict  # noqa: E402

try:
    from spinn_dnn import _emulator  # noqa: F401
except ImportError:  # pragma: no cover
    pytest.skip("the C emulator is not built (pip install -e .)", allow_module_level=True)


def _small_mlp():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((40,))
    x = keras.layers.Dense(24, activation="tanh")(inputs)
    x = keras.layers.Dense(12, activation="sigmoid")(x)
    x = keras.layers.Dense(20, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(x), name="small_mlp")
    # biases away from zero, so a bias lost on the way would show
    for layer in model.layers[1:]:
        w, b = layer.get_weights()
        layer.set_weights([w, np.random.default_rng(1).normal(0, 0.3, b.shape).astype(np.float32)])
    return model


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    model = _small_mlp()
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), max_atoms_per_core=8,
                              run_dir=tmp_path_factory.mktemp("small"))
    return model, sm


@pytest.fixture(scope="module")
def mlp1(tmp_path_factory):
    import workloads

    model = workloads.get("mnist_mlp1").build_model()
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1),
                              run_dir=tmp_path_factory.mktemp("mlp1"))
    return model, sm


def test_small_mlp_on_several_tiles_per_layer_matches_keras(small):
    model, sm = small
    assert max(len(v.tiles) for v in sm.plan.vertices) >= 3  # 24 neurons on tiles of 8
    x = np.random.default_rng(0).normal(0, 1, (20, 40)).astype(np.float32)
    y = np.arange(20) % 6
    got = predict(sm.plan, sm.toolchain, x, y)
    want = model.predict(x, verbose=0)
    assert got.predictions.shape == want.shape
    np.testing.assert_allclose(got.predictions, want, rtol=0, atol=1e-5)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)(y, want)
    np.testing.assert_allclose(got.losses, np.asarray(keras_loss), rtol=0, atol=1e-5)
    assert all(r.status == "quiescent" and r.dropped == 0 for r in got.runs)
    assert got.modeled_seconds > 0


def test_mnist_mlp1_predict_matches_keras(mlp1):
    import workloads

    model, sm = mlp1
    data = workloads.get("mnist_mlp1").load_data()
    x, y = data.x_test[:24], data.y_test[:24]
    got = predict(sm.plan, sm.toolchain, x, y)
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(got.predictions, want, rtol=0, atol=1e-5)
    assert (got.predictions.argmax(1) == want.argmax(1)).all()
    # the loss tile's cross-entropy, against Keras's own loss of the same labels
    keras_loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)(y, want)
    np.testing.assert_allclose(got.losses, np.asarray(keras_loss), rtol=0, atol=1e-5)
    assert len(set(got.losses.tolist())) > 1  # per-sample losses, not one repeated value
    run = got.runs[0]
    assert run.dropped == 0
    # every pixel reached every hidden tile, every hidden value and every label the output tile
    hidden = len(next(v for v in sm.plan.vertices if v.layer == 1).tiles)
    assert hidden > 1
    assert run.deliveries == 24 * (784 * hidden + 300 + 1)


def test_predict_is_bit_identical_run_after_run(small):
    _, sm = small
    x = np.random.default_rng(5).normal(0, 1, (6, 40)).astype(np.float32)
    a = predict(sm.plan, sm.toolchain, x, np.arange(6))
    b = predict(sm.plan, sm.toolchain, x, np.arange(6))
    assert a.predictions.tobytes() == b.predictions.tobytes()
    assert a.losses.tobytes() == b.losses.tobytes()
    assert [r.cycles for r in a.runs] == [r.cycles for r in b.runs]


def test_roles_without_a_program_are_refused(tmp_path):
    # a Dense layer whose one neuron overflows a core's DTCM is split into blocks of W and
    # accumulators, which have no program yet
    keras.utils.set_random_seed(0)
    inputs = keras.Input((9000,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path)
    assert {v.role for v in sm.plan.vertices} >= {"block", "acc"}
    with pytest.raises(EmulatorError, match="role 'block' has no core program"):
        predict(sm.plan, sm.toolchain, np.zeros((1, 9000), np.float32))


def test_samples_overlap_in_the_pipeline_and_too_fast_a_pace_is_caught(small):
    from spinn_dnn.emulator.predict import tick_us

    _, sm = small
    assert sm.plan.in_flight >= 2
    x = np.random.default_rng(2).normal(0, 1, (10, 40)).astype(np.float32)
    period = tick_us(sm.plan)
    run = predict(sm.plan, sm.toolchain, x).runs[0]
    # one sample per period (plus the first tick and the last sample's way through)
    assert run.cycles < (len(x) + 3) * period * 200
    # a pace faster than the slowest tile: a tile finds a source more samples ahead than it has
    # input slots, and the run stops saying so instead of mixing samples up
    many = np.random.default_rng(3).normal(0, 1, (8 * sm.plan.in_flight, 40)).astype(np.float32)
    with pytest.raises(EmulatorError, match="ahead"):
        predict(sm.plan, sm.toolchain, many, period_us=max(1, period // 4))


def test_more_samples_than_sdram_holds_go_in_several_loads(small):
    model, sm = small
    x = np.random.default_rng(7).normal(0, 1, (300, 40)).astype(np.float32)
    got = predict(sm.plan, sm.toolchain, x, np.arange(300) % 6, chunk=128)
    assert len(got.runs) >= 2  # the input tile's WORK region holds fewer than 300 samples
    np.testing.assert_allclose(got.predictions, model.predict(x, verbose=0), rtol=0, atol=1e-5)


def test_float32_sums_round_as_the_c_says_bit_for_bit(tmp_path):
    # relu and identity only (no library expf): the machine's outputs must equal, bit for bit,
    # a float32 reference that rounds every product and every sum on its own, in input order
    keras.utils.set_random_seed(11)
    inputs = keras.Input((40,))
    h = keras.layers.Dense(24, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(6)(h))
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), max_atoms_per_core=8,
                              run_dir=tmp_path)
    x = np.random.default_rng(4).normal(0, 1, (5, 40)).astype(np.float32)
    got = predict(sm.plan, sm.toolchain, x).predictions

    def dense(v, w, b, relu):
        out = np.zeros(w.shape[1], np.float32)
        for r in range(w.shape[1]):
            acc = np.float32(0)
            for j in range(w.shape[0]):
                acc = np.float32(acc + np.float32(w[j, r] * v[j]))
            out[r] = np.float32(acc + b[r])
        return np.maximum(out, np.float32(0)) if relu else out

    w1, b1, w2, b2 = model.get_weights()
    want = np.stack([dense(dense(s, w1, b1, True), w2, b2, False) for s in x])
    assert got.tobytes() == want.tobytes()
