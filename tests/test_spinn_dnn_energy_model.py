"""Modeled energy against the toolchain's own constants (spinn_machine version_spin1 / version_5)."""

from __future__ import annotations

import pytest
from spinn_machine.version.version_5 import Version5

from spinn_dnn.energy_model import EnergyCounters, modeled_energy


def _c(**kw) -> EnergyCounters:
    base = {"seconds": 10.0, "boards": 1, "chips": 5, "cores": 77, "core_busy_seconds": 300.0,
            "packets": 10**9, "packets_with_payload": 10**9}
    return EnergyCounters(**{**base, **kw})


def test_terms_follow_the_toolchain_constants():
    v = Version5  # class constants: no toolchain config needed
    e = modeled_energy(_c())
    idle = v.WATTS_FOR_48_CHIP_BOARD_IDLE_COST * 1 * 10.0
    cores = v.WATTS_PER_CORE_ACTIVE_OVERHEAD * 300.0
    packets = v.JOULES_PER_PACKET * 10**9
    assert e.components["boards idle"] == pytest.approx(idle)
    assert e.components["cores active"] == pytest.approx(cores)
    assert e.components["packets"] == pytest.approx(packets)
    assert e.joules == pytest.approx(idle + cores + packets)
    assert e.as_dict()["label"] == "modeled" and "SpiNNMachine" in e.source


def test_terms_scale_as_they_should():
    one, two = modeled_energy(_c()), modeled_energy(_c(seconds=20.0))
    assert two.components["boards idle"] == pytest.approx(2 * one.components["boards idle"])
    assert two.components["packets"] == one.components["packets"]
    assert modeled_energy(_c(packets=0, packets_with_payload=0)).components["packets"] == 0
    assert modeled_energy(_c(boards=2)).components["boards idle"] == pytest.approx(
        2 * one.components["boards idle"])


@pytest.mark.parametrize("kw, words", [
    ({"seconds": -1.0}, "seconds must be >= 0"),
    ({"chips": 49}, "48 chips per board"),
    ({"boards": 0}, "boards must be >= 1"),
    ({"packets_with_payload": 2 * 10**9}, "exceeds packets"),
])
def test_bad_counters_are_named(kw, words):
    with pytest.raises(ValueError, match=words):
        modeled_energy(_c(**kw))
