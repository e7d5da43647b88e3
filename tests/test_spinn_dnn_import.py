"""spinn_dnn's Keras import: exact weights, every unsupported option refused by name.

No toolchain here: these check the importer, the tiling geometry against
TensorFlow's own gradients, and the region images against Keras's weights.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spinn_dnn import regions  # noqa: E402
from spinn_dnn.errors import UnsupportedModelError  # noqa: E402
from spinn_dnn.importer import import_model  # noqa: E402
from spinn_dnn.model import plan_model  # noqa: E402
from spinn_dnn.tiling import receptive_mask  # noqa: E402

L = keras.layers


def _seq(*layers, shape=(12, 12, 2)):
    return keras.Sequential([keras.Input(shape), *layers])


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (lambda: _seq(L.LSTM(4), shape=(5, 3)), ["LSTM", "layer 1"]),
        (lambda: _seq(L.Conv2D(3, 3, dilation_rate=2)), ["dilation_rate", "'conv2d"]),
        (lambda: _seq(L.Conv2D(4, 3, groups=2)), ["groups=2"]),
        (lambda: _seq(L.Conv2D(3, 3), L.BatchNormalization()), ["BatchNormalization", "layer 2"]),
        (lambda: _seq(L.Conv1D(3, 3, padding="causal"), shape=(10, 2)), ["causal"]),
        (lambda: _seq(L.Dense(4)), ["rank > 2"]),
        (lambda: _seq(L.Flatten(), L.Dense(4, activation="gelu")), ["gelu"]),
        (lambda: _seq(L.Flatten(), L.Dense(4, activation="softmax"), L.Dense(2)), ["softmax", "last layer"]),
        (lambda: _seq(L.Flatten(), L.Dense(4, kernel_regularizer="l2")), ["kernel_regularizer"]),
        (lambda: _seq(L.MaxPooling1D(2), shape=(8, 2)), ["MaxPooling1D"]),
        (lambda: _seq(L.Flatten(), L.Dense(3), L.ReLU()), ["ReLU"]),
    ],
)
def test_unsupported_layers_are_named(model, words):
    with pytest.raises(UnsupportedModelError) as err:
        import_model(model())
    text = str(err.value)
    for word in words:
        assert word in text
    assert "supported:" in text


def test_channels_first_and_branches_refused():
    inp = keras.Input((8,))
    a, b = L.Dense(4)(inp), L.Dense(4)(inp)
    with pytest.raises(UnsupportedModelError, match="branches|inputs and"):
        import_model(keras.Model(inp, L.Add()([a, b])))
    layer = L.Conv2D(2, 3, data_format="channels_first")
    with pytest.raises(UnsupportedModelError, match="channels_first"):
        import_model(keras.Sequential([keras.Input((2, 8, 8)), layer]))


def _weights_from_images(model, policy="auto", **kw):
    """Keras-ordered weights rebuilt from the plan's region images (no toolchain)."""
    plan = plan_model(model, policy, **kw)
    out = []
    for layer in plan.layers:
        if not layer.trainable:
            continue
        kshape = layer.weights[0].shape
        kmat = np.full((kshape[-1], int(np.prod(kshape[:-1]))), np.nan, np.float32)
        bias = np.full(kshape[-1], np.nan, np.float32)
        for v in plan.vertices:
            if v.layer != layer.index:
                continue
            for t in v.tiles:
                ids, rows = regions.decode_weights(regions.weights_region(layer, t).tobytes())
                if t.role == "block":
                    kmat[np.ix_(ids, np.arange(t.in_lo, t.in_hi))] = rows
                elif t.role == "acc":
                    bias[ids] = rows[:, 0]
                else:
                    kmat[ids] = rows[:, :-1]
                    bias[ids] = rows[:, -1]
        out.append(kmat.T.reshape(kshape))
        if layer.use_bias:
            out.append(bias)
    return out


def test_sequential_and_functional_weights_exact_in_keras_order():
    seq = _seq(L.Conv2D(3, (3, 2), strides=(2, 1), padding="same", use_bias=False), L.Activation("tanh"),
               L.AveragePooling2D(2), L.Flatten(), L.Dropout(0.25), L.Dense(7, activation="sigmoid"),
               L.Dense(3, activation="softmax"))
    inp = keras.Input((20, 3))
    x = L.Conv1D(4, 5, strides=2, activation="relu")(inp)
    x = L.Flatten()(x)
    fun = keras.Model(inp, L.Dense(5)(x))
    for model in (seq, fun):
        want = model.get_weights()
        for policy in ("auto", "neuron_per_core"):
            got = _weights_from_images(model, policy)
            assert len(got) == len(want)
            for g, w in zip(got, want, strict=True):
                assert g.shape == w.shape and np.array_equal(g, w)


def test_import_folds_and_shapes():
    layers = import_model(_seq(L.Conv2D(3, 3, padding="same", strides=2), L.Activation("relu"),
                               L.MaxPooling2D(2, padding="same"), L.Flatten(), L.Dropout(0.5), L.Dense(4)))
    assert [x.kind for x in layers] == ["input", "conv", "maxpool", "dense"]
    assert layers[1].activation == "relu" and layers[1].out_shape == (6, 6, 3)
    assert layers[2].out_shape == (3, 3, 3) and layers[2].dropout == 0.5


@pytest.mark.parametrize("layer", [L.Conv2D(3, (3, 2), strides=(2, 1), padding="same"),
                                   L.Conv2D(2, 4, strides=3),
                                   L.AveragePooling2D(3, strides=2, padding="same"), L.AveragePooling2D(2)])
def test_receptive_fields_match_tensorflow_gradients(layer):
    """The inputs a tile is routed equal the inputs TensorFlow says its outputs depend on."""
    import tensorflow as tf

    model = _seq(layer, shape=(9, 8, 2))
    if layer.weights:
        model.set_weights([np.ones_like(w) for w in model.get_weights()])
    (ours,) = import_model(model)[1:]
    x = tf.constant(np.random.default_rng(0).uniform(1, 2, (1, 9, 8, 2)).astype(np.float32))
    n = ours.n_atoms
    for lo, hi in ((0, 1), (min(5, n - 1), min(13, n)), (max(0, n - 7), n), (0, n)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reshape(model(x), (-1,))[lo:hi]
            total = tf.reduce_sum(y)
        depends = tape.gradient(total, x).numpy().ravel() != 0
        assert np.array_equal(receptive_mask(ours, lo, hi), depends), (lo, hi)


def test_memory_model_within_budgets_and_counts_training_state():
    from workloads import mnist

    model = {w.name: w for w in mnist.WORKLOADS}["mnist_lenet5"].configure(None).build_model()
    plan = plan_model(model, in_flight=4)
    for v in plan.vertices:
        for t in v.tiles:
            assert t.bytes_in("dtcm") <= 64 * 1024
            names = {m.name for m in t.memory}
            if t.role == "dense":  # what c_src/programs/layer.c allocates for training
                assert {"momentum", "gradient sums", "inputs kept"} <= names
                assert next(m for m in t.memory if m.name == "gradient sums").where == "dtcm"
            if t.role == "conv":
                assert {"momentum", "gradient sums", "gradient ring", "inputs kept"} <= names
    f6 = plan.vertex("F6").tiles[0]
    w = next(m for m in f6.memory if m.name == "weights+bias")
    assert w.bytes == f6.n_atoms * (120 + 1) * 4
    kept = next(m for m in f6.memory if m.name == "inputs kept")
    assert kept.bytes == 120 * 4 * 4  # 120 inputs, 4 samples in flight


def test_header_is_generated_from_regions():
    assert regions.HEADER_PATH.read_text() == regions.c_header(), (
        "c_src/include/spinn_dnn_regions.h is stale: run `python -m spinn_dnn.regions`")
