"""Modeled energy of a run on SpiNNaker-1 (SpiNN-5 boards), by the toolchain's own power model.

The emulator counts what the toolchain's energy report needs (run time,
boards, chips, cores' active time, multicast packets routed) and this module
hands them to spinn_machine's `Version5.get_active_energy`, the function
spinn_front_end_common's `compute_energy_used` calls on a real board.  So the
formula and the constants are the toolchain's (version_spin1.py and
version_5.py), not ours:

* boards idle: WATTS_FOR_48_CHIP_BOARD_IDLE_COST x boards x time;
* cores active: WATTS_PER_CORE_ACTIVE_OVERHEAD x the cores' summed active time
  (the toolchain's per-chip "active time" is the sum over its cores);
* packets: COST_PER_PACKET_TYPE["Local_Multicast_Packets"] per multicast
  packet routed (the toolchain charges a multicast packet 40 router bits
  whether or not it carries a payload: JOULES_PER_PACKET).

A single board outside a frame: no frame terms (n_frames = 0).  The result is
`modeled`: it is the toolchain's model fed with emulated counters, and the
emulated times rest on cost_model.h's ASSUMED constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHIPS_PER_BOARD = 48


@dataclass(frozen=True)
class EnergyCounters:
    seconds: float  # modeled run time of the whole machine
    boards: int  # boards used
    chips: int  # chips with at least one core used
    cores: int  # application cores loaded
    core_busy_seconds: float  # sum over cores of modeled busy time (callbacks running)
    packets: int  # multicast packets routed (router traversals), all sizes
    packets_with_payload: int  # of which carried a payload


@dataclass(frozen=True)
class ModeledEnergy:
    joules: float
    components: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"joules": self.joules, "components": dict(self.components), "source": self.source,
                "label": "modeled"}


def _check(c: EnergyCounters) -> None:
    for name in ("seconds", "core_busy_seconds"):
        if getattr(c, name) < 0:
            raise ValueError(f"EnergyCounters.{name} must be >= 0; got {getattr(c, name)}")
    for name in ("boards", "chips", "cores", "packets", "packets_with_payload"):
        value = getattr(c, name)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"EnergyCounters.{name} must be an integer >= 0; got {value!r}")
    if c.boards < 1:
        raise ValueError(f"EnergyCounters.boards must be >= 1; got {c.boards}")
    if c.chips > c.boards * CHIPS_PER_BOARD:
        raise ValueError(f"EnergyCounters.chips ({c.chips}) exceeds {CHIPS_PER_BOARD} chips per board "
                         f"x {c.boards} board(s)")
    if c.packets_with_payload > c.packets:
        raise ValueError(f"EnergyCounters.packets_with_payload ({c.packets_with_payload}) exceeds packets "
                         f"({c.packets})")


def modeled_energy(c: EnergyCounters) -> ModeledEnergy:
    """Joules of a run by the toolchain's SpiNN-5 power model, with each term on its own."""
    _check(c)
    from importlib.metadata import version

    from spinn_machine.version.version_5 import Version5

    # Version5() reads the toolchain's global config (machine width, cores per chip), which is only set
    # up inside a toolchain run (spinn_dnn keeps that in a child process); the energy methods use
    # nothing but the class's constants, so an instance without __init__ is the same model.
    v5 = Version5.__new__(Version5)
    chip_active = {(0, 0): (c.core_busy_seconds, c.cores)}
    packets = {(0, 0): {"Local_Multicast_Packets": c.packets}}
    total = v5.get_active_energy(c.seconds, 0, c.boards, c.chips, chip_active, packets)
    components = {
        "boards idle": v5.get_idle_energy(c.seconds, 0, c.boards, c.chips),
        "cores active": v5._get_core_active_energy(chip_active),
        "packets": v5._get_router_active_energy(packets),
    }
    source = (f"modeled: SpiNNMachine {version('SpiNNMachine')} Version5.get_active_energy "
              "(toolchain power model) fed with emulator counters")
    return ModeledEnergy(float(total), components, source)
