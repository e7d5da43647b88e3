"""spinn_dnn.fusion: which pooling layers fold onto their convolutions, and how the fused layers are tiled.

The arithmetic of fused tiles is compared with Keras in tests/test_emulator_conv.py.
"""

from __future__ import annotations

import keras
import pytest

import workloads
from harness.errors import ConfigError
from spinn_dnn.fusion import fuse_pooling
from spinn_dnn.harness_engine import SpinnakerEngine
from spinn_dnn.importer import import_model
from spinn_dnn.model import plan_model


def _layers(*stages: keras.layers.Layer) -> list:
    inputs = keras.Input((8, 8, 1))
    h = inputs
    for stage in stages:
        h = stage(h)
    h = keras.layers.Flatten()(h)
    return import_model(keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="d")(h)))


def test_a_pooling_layer_folds_onto_the_convolution_before_it():
    layers = fuse_pooling(_layers(keras.layers.Conv2D(2, 3, activation="relu", name="c"),
                                  keras.layers.MaxPooling2D(2, name="p")))
    assert [layer.name for layer in layers] == ["input", "c", "d"]
    c = layers[1]
    assert c.fused and c.pool == "max" and c.pool_taps == 4
    assert c.conv_out_shape == (6, 6, 2) and c.out_shape == (3, 3, 2)
    assert c.keras_layers[:2] == ["c", "p"] and [layer.index for layer in layers] == [0, 1, 2]


@pytest.mark.parametrize("stages", [
    # an activation after the pooling acts on pooled values: not the convolution's arithmetic
    (keras.layers.Conv2D(2, 3, name="c"), keras.layers.MaxPooling2D(2, name="p"),
     keras.layers.Activation("tanh")),
    # dropout on the convolution acts before the pooling
    (keras.layers.Conv2D(2, 3, name="c"), keras.layers.Dropout(0.5), keras.layers.MaxPooling2D(2, name="p")),
    # pooling the input: no convolution to fold onto
    (keras.layers.MaxPooling2D(2, name="p"), keras.layers.Conv2D(2, 3, name="c")),
])
def test_pooling_that_the_convolution_cannot_absorb_stays_a_layer(stages):
    layers = fuse_pooling(_layers(*stages))
    assert "maxpool" in [layer.kind for layer in layers]
    assert not any(layer.fused for layer in layers)


def test_a_fused_layer_computes_no_more_convolution_outputs_per_core_than_the_plain_one():
    keras.utils.set_random_seed(1)
    model = workloads.get("mnist_lenet5").build_model()
    plain, fused = plan_model(model), plan_model(model, fuse_pooling=True)
    per_core = {v.label: v.atoms_per_tile for v in plain.vertices}
    for v in fused.vertices:
        layer = fused.layers[v.layer]
        if layer.fused:
            assert v.atoms_per_tile * layer.pool_taps <= per_core[v.label]
    assert fused.in_flight == plain.in_flight
    assert fused.n_cores < plain.n_cores  # the pooling layers' tiles are gone
    assert {v.label for v in fused.vertices} == {v.label for v in plain.vertices} - {"S2", "S4"}


def test_fuse_pooling_option_must_be_a_boolean():
    with pytest.raises(ConfigError, match="fuse_pooling: expected true or false, got 'yes'"):
        SpinnakerEngine.validate_options({"fuse_pooling": "yes"})
    assert SpinnakerEngine.validate_options({})["fuse_pooling"] is False
