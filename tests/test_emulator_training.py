"""Training on the emulated machine against Keras's own training of the same model.

The C programs compute the backward pass, the gradient sums and the SGD
update; Keras (TensorFlow) computes the same 50 minibatch steps from the same
initial weights.  Every weight must agree within 1e-4 relative, and the
predictions within 1e-5 absolute.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import spinn_dnn
from spinn_dnn import UnsupportedModelError

STEPS, BATCH = 50, 32
SCE = "sparse_categorical_crossentropy"


def _mlp(activations: tuple[str, ...], n_in: int = 20, widths: tuple[int, ...] = (16, 12, 10),
         n_out: int = 5, out_activation: str = "softmax", seed: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_in,))
    h = inputs
    for width, act in zip(widths, activations, strict=True):
        h = keras.layers.Dense(width, activation=act)(h)
    model = keras.Model(inputs, keras.layers.Dense(n_out, activation=out_activation)(h))
    rng = np.random.default_rng(seed)
    for layer in model.layers[1:]:  # biases away from zero, so a bias gradient lost would show
        w, b = layer.get_weights()
        layer.set_weights([w, rng.normal(0, 0.2, b.shape).astype(np.float32)])
    return model


def _data(n_in: int, n_out: int, n: int = STEPS * BATCH, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, n_in)).astype(np.float32), rng.integers(0, n_out, n)


def _train_both(model, optimizer, loss, x, y, tmp_path, targets=None, **map_kwargs):
    model.compile(optimizer=optimizer(), loss=loss)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=optimizer(), loss=loss)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              **map_kwargs)
    t = y if targets is None else targets
    history = sm.fit(x, t, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, t, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return sm, reference, history


def _assert_weights_close(sm, reference, initial):
    for got, want, start in zip(sm.get_weights(), reference.get_weights(), initial, strict=True):
        assert not np.allclose(want, start), "Keras did not move this weight: the test would prove nothing"
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("activations", [("tanh", "sigmoid", "relu"), ("relu", "relu", "linear")])
def test_three_hidden_layers_50_momentum_steps_match_keras(activations, tmp_path):
    model = _mlp(activations)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5)
    sm, reference, history = _train_both(model, lambda: keras.optimizers.SGD(0.05, momentum=0.9),
                                         SCE, x, y, tmp_path,
                                         max_atoms_per_core=8)
    assert max(len(v.tiles) for v in sm.plan.vertices) >= 2  # layers split over tiles
    _assert_weights_close(sm, reference, initial)
    probe = _data(20, 5, 64, seed=9)[0]
    np.testing.assert_allclose(sm.predict(probe), reference.predict(probe, verbose=0), rtol=0, atol=1e-5)
    assert history.history["loss"][0] > 0


def test_plain_sgd_nesterov_and_one_hot_categorical_targets_match_keras(tmp_path):
    model = _mlp(("sigmoid",), widths=(12,))
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5)
    one_hot = np.eye(5, dtype=np.float32)[y]
    sm, reference, _ = _train_both(model, lambda: keras.optimizers.SGD(0.1, momentum=0.5, nesterov=True),
                                   "categorical_crossentropy", x, y, tmp_path / "n", targets=one_hot)
    _assert_weights_close(sm, reference, initial)
    model = _mlp(("tanh",), widths=(12,), seed=4)
    initial = [w.copy() for w in model.get_weights()]
    sm, reference, _ = _train_both(model, lambda: keras.optimizers.SGD(0.1), SCE,
                                   x, y, tmp_path / "p")
    _assert_weights_close(sm, reference, initial)


@pytest.mark.parametrize("out_activation", ["sigmoid", "softmax"])
def test_mean_squared_error_against_one_hot_matches_keras(out_activation, tmp_path):
    model = _mlp(("relu",), widths=(12,), out_activation=out_activation, seed=5)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5)
    one_hot = np.eye(5, dtype=np.float32)[y]
    sm, reference, _ = _train_both(model, lambda: keras.optimizers.SGD(0.5, momentum=0.9), "mse", x, y,
                                   tmp_path, targets=one_hot)
    _assert_weights_close(sm, reference, initial)


def test_short_last_batch_and_epochs_continue_like_keras(tmp_path):
    model = _mlp(("tanh",), widths=(12,), seed=6)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5, n=300)  # 9 full batches and one of 12, twice
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path)
    sm.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    _assert_weights_close(sm, reference, initial)


def test_same_seed_gives_the_same_bits_and_write_back_fills_keras(tmp_path):
    x, y = _data(20, 5, n=256)
    results = []
    for run in range(2):
        model = _mlp(("tanh", "sigmoid"), widths=(16, 8), seed=7)
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
        sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1),
                                  run_dir=tmp_path / str(run), max_atoms_per_core=4)
        sm.fit(x, y, batch_size=BATCH, epochs=2, seed=11, verbose=0)
        sm.write_back(model)
        results.append((sm.get_weights(), model.get_weights(), sm.last_run))
    for a, b in zip(results[0][0], results[1][0], strict=True):
        assert a.tobytes() == b.tobytes()
    for mine, kept in zip(results[0][0], results[0][1], strict=True):
        assert mine.tobytes() == kept.tobytes()
    stats = results[0][2]
    assert stats.clock == "modeled" and stats.modeled_seconds > 0 and stats.packets_dropped == 0
    assert stats.samples == 512 and stats.packets_delivered > 0
    assert results[0][2].modeled_seconds == results[1][2].modeled_seconds


def test_one_call_fit_trains_and_writes_back(tmp_path):
    model = _mlp(("relu",), widths=(12,), seed=8)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss=SCE)
    before = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5, n=128)
    history = spinn_dnn.fit(model, x, y, batch_size=BATCH, epochs=1, verbose=0, validation_data=(x, y))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize("compile_kwargs, message", [
    ({"optimizer": "adam", "loss": SCE}, "optimizer Adam is not supported"),
    ({"optimizer": "sgd", "loss": "binary_crossentropy"}, "loss 'binary_crossentropy' is not supported"),
    ({"optimizer": "sgd", "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
     "from_logits=True"),
])
def test_unsupported_optimizer_or_loss_is_named(compile_kwargs, message, tmp_path):
    model = _mlp(("relu",), widths=(8,))
    model.compile(**compile_kwargs)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path)
    x, y = _data(20, 5, n=32)
    with pytest.raises(UnsupportedModelError, match=message):
        sm.fit(x, y, verbose=0)


def test_targets_that_are_not_classes_are_refused(tmp_path):
    model = _mlp(("relu",), widths=(8,))
    model.compile(optimizer="sgd", loss="mse")
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path)
    x, _ = _data(20, 5, n=32)
    with pytest.raises(UnsupportedModelError, match="one-hot"):
        sm.fit(x, np.full((32, 5), 0.2, np.float32), verbose=0)


def test_a_new_batch_size_keeps_weights_and_momentum_like_keras(tmp_path):
    # a second fit with another batch size builds a new training machine: the weights and the
    # SGD momentum must carry over into it, as Keras keeps its optimizer state between fits
    model = _mlp(("tanh",), widths=(12,), seed=9)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5, n=256)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path)
    for batch in (32, 16):
        sm.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        reference.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    _assert_weights_close(sm, reference, initial)


@pytest.mark.parametrize("cap", [2, 4])
def test_a_softmax_split_over_tiles_matches_keras(cap, tmp_path):
    # 5 classes over 3 tiles (2, 2, 1) or 2 (4, 1): each tile sends its largest logit and its sum of
    # exponentials to the others, and normalises once all are in (layer.c, Softmax across tiles)
    model = _mlp(("relu",), widths=(12,), seed=6)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(20, 5)
    xv, yv = _data(20, 5, 96, seed=11)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SCE)
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              max_atoms_per_core=cap)
    assert len(sm.plan.vertices[-1].tiles) == -(-5 // cap)
    before = sm.predict(xv)
    np.testing.assert_allclose(before, reference.predict(xv, verbose=0), rtol=0, atol=1e-5)
    history = sm.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, validation_data=(xv, yv))
    keras_history = reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_weights_close(sm, reference, initial)
    after = sm.predict(xv)
    np.testing.assert_allclose(after, reference.predict(xv, verbose=0), rtol=0, atol=1e-5)
    # the losses: the label's tile computes it, the others add nothing
    np.testing.assert_allclose(history.history["loss"][0], keras_history.history["loss"][0], rtol=1e-4)
    np.testing.assert_allclose(history.history["val_loss"][0], reference.evaluate(xv, yv, verbose=0),
                               rtol=1e-4)


def test_mean_squared_error_through_a_split_softmax_is_refused(tmp_path):
    model = _mlp(("relu",), widths=(12,), seed=6)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path,
                              max_atoms_per_core=2)
    with pytest.raises(UnsupportedModelError, match="mean_squared_error through a softmax split over 3"):
        sm.training_spec()


def test_a_softmax_over_24_tiles_trains_without_drops(tmp_path):
    # every tile sends its pair to every tile: sent at once, they overran the receivers' queues from
    # about 12 tiles up (found by an independent review); paced as activations, they do not
    model = _mlp(("relu",), n_in=6, widths=(4,), n_out=24, seed=7)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(6, 24, 8 * BATCH)
    sm, reference, _ = _train_both(model, lambda: keras.optimizers.SGD(0.1, momentum=0.9), SCE, x, y,
                                   tmp_path, max_atoms_per_core=1)
    assert len(sm.plan.vertices[-1].tiles) == 24 and sm.last_run.packets_dropped == 0
    _assert_weights_close(sm, reference, initial)


def test_validation_loss_of_a_split_mean_squared_error_output_is_keras_s(tmp_path):
    # an inference machine computed cross-entropy whatever the model's loss; summed over 3 tiles
    # (found by an independent review) a sigmoid output's MSE came out as 33.0 against Keras's 0.25
    model = _mlp(("relu",), widths=(12,), out_activation="sigmoid", seed=5)
    x, y = _data(20, 5)
    xv, yv = _data(20, 5, 96, seed=11)
    one_hot, one_hot_v = np.eye(5, dtype=np.float32)[y], np.eye(5, dtype=np.float32)[yv]
    sm, reference, history = _train_both(model, lambda: keras.optimizers.SGD(0.5, momentum=0.9), "mse", x, y,
                                         tmp_path, targets=one_hot, max_atoms_per_core=2)
    assert len(sm.plan.vertices[-1].tiles) == 3
    got = sm.predict_with_losses(xv, yv.astype(np.uint32))[1]
    np.testing.assert_allclose(np.mean(got), reference.evaluate(xv, one_hot_v, verbose=0), rtol=1e-4)
    np.testing.assert_allclose(history.history["loss"][0], reference.history.history["loss"][0], rtol=1e-4)


def test_a_tile_taking_errors_from_300_tiles_matches_keras(tmp_path):
    # each tile of the 2-unit layer keeps one error entry per sending tile of the 300-unit layer:
    # more than one byte's worth, which a01628b's packed counters refused (found by a review)
    model = _mlp(("relu", "relu"), n_in=6, widths=(2, 300), n_out=3, seed=5)
    initial = [w.copy() for w in model.get_weights()]
    x, y = _data(6, 3, 4 * BATCH)
    sm, reference, _ = _train_both(model, lambda: keras.optimizers.SGD(0.1, momentum=0.9), SCE, x, y,
                                   tmp_path, max_atoms_per_core=1)
    senders = sum(1 for r in sm.plan.routes if r.pid == "bwd"
                  for d in r.dst if d == (sm.plan.vertices[1].label, 0))
    assert senders == 300 and sm.last_run.packets_dropped == 0
    _assert_weights_close(sm, reference, initial)
