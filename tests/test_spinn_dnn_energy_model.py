"""Modeled energy against the toolchain's own constants and its own energy computation.

The constants are read here from the installed spinn_machine (version_spin1.py, version_5.py), and a
whole case goes through spinn_front_end_common's ``compute_energy_over_time``, the function behind the
toolchain's energy report, so a change in the toolchain's model shows up as a failure here.
"""

from __future__ import annotations

from typing import Any

import pytest
from spinn_machine.version.version_5 import Version5
from spinn_machine.version.version_spin1 import VersionSpin1

from spinn_dnn.energy_model import EnergyCounters, ModeledEnergy, modeled_energy

BASE: dict[str, Any] = {"seconds": 10.0, "boards": 2, "chips": 60, "cores": 700, "core_busy_seconds": 3000.0,
                        "packets": 10**9, "packets_with_payload": 4 * 10**8}


def _c(**kw: Any) -> EnergyCounters:
    return EnergyCounters(**{**BASE, **kw})


def test_terms_recomputed_by_hand_from_the_toolchain_constants() -> None:
    e = modeled_energy(_c())
    idle_chips = VersionSpin1.WATTS_PER_IDLE_CHIP * 60 * 10.0
    cores = VersionSpin1.WATTS_PER_CORE_ACTIVE_OVERHEAD * 3000.0
    packets = VersionSpin1.JOULES_PER_ROUTER_BIT * 40 * 10**9  # 40-bit multicast packet, 25 pJ a bit
    boards = (Version5.WATTS_FOR_48_CHIP_BOARD_IDLE_COST * 2 - VersionSpin1.WATTS_PER_IDLE_CHIP * 60) * 10.0
    assert e.components == pytest.approx(
        {"idle chips": idle_chips, "active cores": cores, "packets": packets, "boards/FPGAs": boards})
    assert e.joules == pytest.approx(idle_chips + cores + packets + boards)
    assert e.joules == pytest.approx(sum(e.components.values()), rel=1e-12)
    # whole boards idle for the run, plus the active overheads
    assert e.joules == pytest.approx(Version5.WATTS_FOR_48_CHIP_BOARD_IDLE_COST * 2 * 10.0 + cores + packets)


def test_matches_the_toolchains_energy_computation() -> None:
    """The same run through compute_energy_over_time, the counts spread over chips as provenance has them."""
    from spinn_front_end_common.interface.interface_functions.compute_energy_used import (
        compute_energy_over_time,
    )

    c = _c()
    v5 = Version5.__new__(Version5)  # Version5() needs a toolchain config; the energy methods do not
    # 60 chips: 40 with 12 cores and 20 with 11 (700 cores), busy time and packets shared out unevenly
    active = {(i % 8, i // 8): ((60.0 if i < 40 else 30.0), (12 if i < 40 else 11)) for i in range(60)}
    routed = {(i % 8, i // 8): {"Local_Multicast_Packets": 10**7,
                                "External_Multicast_Packets": 10**7 * 2 // 3} for i in range(60)}
    assert sum(t for t, _ in active.values()) == pytest.approx(c.core_busy_seconds)
    assert sum(n for _, n in active.values()) == c.cores
    c = _c(packets=sum(sum(p.values()) for p in routed.values()), packets_with_payload=0)
    zero: dict = {}
    power = compute_energy_over_time(
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, c.seconds * 1000.0, 0, 0, v5,
        n_chips=48 * c.boards, n_active_chips=c.chips, n_boards=c.boards, n_frames=0, n_cores=c.cores,
        n_active_cores=c.cores, load_chip_active_time=zero, extraction_chip_active_time=zero,
        run_chip_active_time=active, load_router_packets=zero, extraction_router_packets=zero,
        run_router_packets=routed)
    e = modeled_energy(c)
    assert e.joules == pytest.approx(power.exec_energy_j, rel=1e-12)
    assert e.joules == pytest.approx(power.exec_energy_boards_j, rel=1e-12)
    assert e.joules == pytest.approx(power.total_energy_j, rel=1e-12)
    # the report's "active chips and cores only" figure is our three chip-level terms
    chip_level = e.components["idle chips"] + e.components["active cores"] + e.components["packets"]
    assert chip_level == pytest.approx(power.exec_energy_cores_j, rel=1e-12)


def test_idle_and_board_terms_scale_with_time_and_boards() -> None:
    one, two = modeled_energy(_c()), modeled_energy(_c(seconds=20.0))
    for term in ("idle chips", "boards/FPGAs"):
        assert two.components[term] == pytest.approx(2 * one.components[term])
    for term in ("active cores", "packets"):
        assert two.components[term] == one.components[term]
    more_boards = modeled_energy(_c(boards=4))
    assert more_boards.components["boards/FPGAs"] - one.components["boards/FPGAs"] == pytest.approx(
        Version5.WATTS_FOR_48_CHIP_BOARD_IDLE_COST * 2 * 10.0)
    assert more_boards.components["idle chips"] == one.components["idle chips"]
    assert modeled_energy(_c(boards=3, chips=120, cores=1400)).components["idle chips"] == pytest.approx(
        2 * one.components["idle chips"])


def test_core_and_packet_terms_are_linear() -> None:
    one = modeled_energy(_c())
    assert modeled_energy(_c(core_busy_seconds=6000.0)).components["active cores"] == pytest.approx(
        2 * one.components["active cores"])
    assert modeled_energy(_c(packets=3 * 10**9)).components["packets"] == pytest.approx(
        3 * one.components["packets"])
    none = modeled_energy(_c(packets=0, packets_with_payload=0))
    assert none.components["packets"] == 0.0
    assert none.joules == pytest.approx(one.joules - one.components["packets"])
    # multicast payloads are charged like any multicast packet, as the toolchain does
    assert modeled_energy(_c(packets_with_payload=10**9)).components == one.components


def test_empty_run_and_labels() -> None:
    e = modeled_energy(EnergyCounters(0.0, 1, 0, 0, 0.0, 0, 0))
    assert e.joules == 0.0 and set(e.components.values()) == {0.0}
    d = modeled_energy(_c()).as_dict()
    assert d["label"] == "modeled" and isinstance(d["components"], dict)
    assert d["source"].startswith("modeled: spinn_front_end_common 1!7.4.1 power model (")
    assert "Version5.get_active_energy" in d["source"]
    assert isinstance(modeled_energy(_c()), ModeledEnergy)


@pytest.mark.parametrize("kw, words", [
    ({"seconds": -1.0}, r"EnergyCounters\.seconds must be a finite number >= 0"),
    ({"seconds": float("nan")}, r"EnergyCounters\.seconds must be a finite number >= 0"),
    ({"core_busy_seconds": -0.5}, r"EnergyCounters\.core_busy_seconds must be a finite number >= 0"),
    ({"packets": -1}, r"EnergyCounters\.packets must be an integer >= 0"),
    ({"cores": 7.5}, r"EnergyCounters\.cores must be an integer >= 0"),
    ({"boards": True}, r"EnergyCounters\.boards must be an integer >= 0"),
    ({"boards": 0}, r"EnergyCounters\.boards must be >= 1"),
    ({"chips": 97}, r"chips \(97\) must be <= 48 chips per board x 2 board\(s\) = 96"),
    ({"chips": 80, "cores": 70}, r"chips \(80\) must be <= cores \(70\)"),
    ({"cores": 1021}, r"cores \(1021\) must be <= 17 application cores per chip x 60 chip\(s\) = 1020"),
    ({"core_busy_seconds": 7001.0}, r"core_busy_seconds \(7001.0\) must be <= cores x seconds"),
    ({"packets_with_payload": 2 * 10**9}, r"packets_with_payload \(2000000000\) must be <= packets"),
])
def test_bad_counters_are_named(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        modeled_energy(_c(**kw))
