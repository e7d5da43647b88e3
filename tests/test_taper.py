"""Tapered samples in flight (spinn_dnn.taper): fewer slots near the output, larger tiles there,
never a slower pipeline.  Training through tapered plans is compared with Keras in
tests/test_deltas.py (LeNet-5 fused, C5 on 8 slots) and every other training test, as tapering is
the default."""

from __future__ import annotations

import keras
import pytest

import workloads
from harness.errors import ConfigError
from spinn_dnn import regions, taper
from spinn_dnn.emulator.session import tick_us
from spinn_dnn.harness_engine import SpinnakerEngine
from spinn_dnn.importer import import_model
from spinn_dnn.memory import DTCM_BYTES
from spinn_dnn.model import plan_model
from spinn_dnn.training import default_in_flight


def _lenet5() -> keras.Model:
    keras.utils.set_random_seed(1)
    return workloads.get("mnist_lenet5").build_model()


def test_each_layer_keeps_two_slots_per_layer_from_it_to_the_output():
    layers = import_model(_lenet5())  # input C1 S2 C3 S4 C5 F6 output
    slots = taper.layer_slots(layers, default_in_flight(len(layers)))
    assert slots == [16, 16, 14, 12, 10, 8, 6, 4]
    assert slots[1] == default_in_flight(len(layers))  # the first layer as untapered
    assert taper.layer_slots(layers, 9) == [9, 9, 9, 9, 9, 8, 6, 4]  # never more than asked for
    fused = plan_model(_lenet5(), fuse_pooling=True, error_routing="deltas")
    # a fused convolution keeps the slots of the two layers it computes: C1+S2 16, C3+S4 12
    assert [fused.slots(i) for i in range(len(fused.layers))] == [16, 16, 12, 8, 6, 4]


def test_tapering_lenet5_frees_cores_without_slowing_the_pipeline():
    untapered = plan_model(_lenet5(), fuse_pooling=True, error_routing="deltas", taper_in_flight=False)
    tapered = plan_model(_lenet5(), fuse_pooling=True, error_routing="deltas")
    assert untapered.layer_in_flight is None and tapered.layer_in_flight == [16, 16, 12, 8, 6, 4]
    for training in (True, False):
        assert tick_us(tapered, training) <= tick_us(untapered, training)
    c5 = (untapered.vertex("C5"), tapered.vertex("C5"))
    assert [(v.atoms_per_tile, len(v.tiles)) for v in c5] == [(4, 30), (8, 15)]
    assert tapered.n_cores == untapered.n_cores - 15
    deliveries = [sum(r.packets_per_sample * len(r.dst) for r in p.routes) for p in (untapered, tapered)]
    assert deliveries[1] < 0.85 * deliveries[0]
    for v in tapered.vertices:
        for t in v.tiles:
            assert t.bytes_in("dtcm") <= DTCM_BYTES
            # what the core program is told: its own layer's slots
            params = regions.decode_params(regions.params(tapered, v, t, 0).tobytes())
            assert params["in_flight"] == tapered.slots(v.layer)


def test_a_layer_that_would_set_a_slower_pace_keeps_its_untapered_tiles(monkeypatch):
    real = taper.layer_stage_cycles

    def c5_slow_when_larger(plan, training):  # noqa: ANN001, ANN202
        cycles = real(plan, training)
        c5 = plan.vertex("C5")
        if c5.atoms_per_tile > 4:
            cycles[c5.layer] *= 10
        return cycles

    monkeypatch.setattr(taper, "layer_stage_cycles", c5_slow_when_larger)
    plan = plan_model(_lenet5(), fuse_pooling=True, error_routing="deltas")
    c5 = plan.vertex("C5")
    assert (c5.atoms_per_tile, len(c5.tiles), plan.slots(c5.layer)) == (4, 30, 8)


def test_the_taper_option_is_a_boolean_on_by_default():
    assert SpinnakerEngine.validate_options({})["taper_in_flight"] is True
    with pytest.raises(ConfigError, match="taper_in_flight: expected true or false, got 'no'"):
        SpinnakerEngine.validate_options({"taper_in_flight": "no"})


def test_a_raised_in_flight_raises_every_layer_by_as_much():
    # the first layer keeps what the user asked for (it used to be cut to the default), and the
    # layers above get the same margin; a lowered in_flight only lowers
    layers = import_model(_lenet5())
    assert taper.layer_slots(layers, 22) == [22, 22, 20, 18, 16, 14, 12, 10]
    fused = plan_model(_lenet5(), fuse_pooling=True, error_routing="deltas", in_flight=22)
    assert [fused.slots(i) for i in range(len(fused.layers))] == [22, 22, 18, 14, 12, 10]
    assert fused.in_flight == 22


def _dense(widths: list[int]) -> keras.Model:
    keras.utils.set_random_seed(2)
    inputs = keras.Input((widths[0],))
    h = inputs
    for n in widths[1:-1]:
        h = keras.layers.Dense(n, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(widths[-1], activation="softmax")(h))


def test_a_tapered_plan_that_does_not_fit_gives_way_to_the_untapered_one():
    # (found in review) tapered, the 1024-wide layer's tiles shrink to 4 atoms and 256 of them send
    # the 64-wide layer per_tile errors it has no room for: the mapping used to stop there
    model = _dense([784, 64, 1024, 512, 10])
    untapered = plan_model(model, error_routing="deltas", taper_in_flight=False)
    plan = plan_model(model, error_routing="deltas")
    assert plan.layer_in_flight is None
    assert [(v.label, v.atoms_per_tile, len(v.tiles)) for v in plan.vertices] == [
        (v.label, v.atoms_per_tile, len(v.tiles)) for v in untapered.vertices]


def test_a_split_layer_that_caps_cannot_bound_keeps_the_untapered_pace():
    # (found in review) a Dense layer split in blocks takes no atom cap: tapered, its blocks doubled
    # and the tick with them
    model = _dense([16, 32, 2048, 2048, 10])
    untapered = plan_model(model, max_atoms_per_core=32, taper_in_flight=False)
    plan = plan_model(model, max_atoms_per_core=32)
    assert any(v.role == "block" for v in plan.vertices)
    for training in (True, False):
        assert tick_us(plan, training) <= tick_us(untapered, training)
