"""Modeled energy of a run on emulated SpiNNaker-1 (SpiNN-5 boards), by the toolchain's own power model.

Why the toolchain's model: on a real board spinn_front_end_common's
``compute_energy_used`` turns provenance counters into joules with
spinn_machine's ``Version5.get_active_energy``.  The emulator counts the same
things (run time, boards, chips and cores used, the cores' active time,
multicast packets routed), so feeding them to that very function gives the
number the toolchain's energy report would print for the same counters, with
its constants and its way of combining them rather than a copy of ours.

The terms, for a run of ``t`` seconds (``Version5`` / ``VersionSpin1`` in
spinn_machine/version/version_5.py and version_spin1.py):

* ``"idle chips"`` = ``WATTS_PER_IDLE_CHIP`` x chips x t: the used chips' idle
  power for the whole run (the toolchain's "active chips and cores only"
  figure, ``exec_energy_cores_j``, starts from this).
* ``"active cores"`` = ``WATTS_PER_CORE_ACTIVE_OVERHEAD`` x core_busy_seconds:
  the extra of a core over idle, by the time it was active.  The toolchain
  sums each chip's cores' active times the same way (``_get_core_active_energy``
  ignores the core count; measured with power monitors when
  ``write_energy_report`` is on, else it assumes busy for the whole run).
* ``"packets"`` = ``COST_PER_PACKET_TYPE["Local_Multicast_Packets"]`` (=
  ``JOULES_PER_PACKET`` = ``JOULES_PER_ROUTER_BIT`` x 40 = 1 nJ) x packets.
  The toolchain has ``JOULES_PER_PACKET_WITH_PAYLOAD`` (72 bits) but charges it
  only to P2P and fixed-route packets: every multicast counter, payload or not,
  costs 40 bits, because the router's multicast counters do not split by
  payload.  So ``packets_with_payload`` is checked but not charged extra; a
  per-bit reading would add 32 x 25 pJ per payload packet.
* ``"boards/FPGAs"`` = (``WATTS_FOR_48_CHIP_BOARD_IDLE_COST`` x boards -
  ``WATTS_PER_IDLE_CHIP`` x chips) x t: the rest of the boards' idle power
  (unused chips, FPGAs, regulators).  With boards > 0 the toolchain's idle
  energy is the whole boards' figure, which already holds the used chips'
  idle power; splitting it this way keeps the components summing to its total.

Total = ``Version5.get_active_energy(t, n_frames=0, boards, chips, ...)`` =
the energy report's "Simulation execution energy".  No frame term: the
toolchain counts frames only for machines allocated by spalloc, and an
emulated machine is not.  The result is *modeled*: the toolchain's model fed
with emulated counters, whose times rest on the emulator's cost model.
Only the execution phase is charged (no mapping, loading or extraction).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

_SOURCE_MODULE = "spinn_machine.version.version_5.Version5.get_active_energy"


@dataclass(frozen=True)
class EnergyCounters:
    """What the toolchain's power model needs of a run, as the emulator counts it."""

    seconds: float  # modeled run time of the whole machine
    boards: int  # boards used
    chips: int  # chips with at least one core used
    cores: int  # application cores loaded
    core_busy_seconds: float  # sum over cores of modeled busy time (callbacks running)
    packets: int  # multicast packets routed (router traversals), all sizes
    packets_with_payload: int  # of which carried a payload


@dataclass(frozen=True)
class ModeledEnergy:
    """Joules of a run, by term, labelled modeled so nobody reads them as a meter's."""

    joules: float  # total
    components: dict[str, float] = field(default_factory=dict)  # joules by term
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form, labelled "modeled" (the harness tells modeled from measured by it)."""
        return {"joules": self.joules, "components": dict(self.components), "source": self.source,
                "label": "modeled"}


def _check(c: EnergyCounters, chips_per_board: int, app_cores_per_chip: int) -> None:
    """Refuse counters no run could produce, naming the field, so a bad count never becomes joules."""
    for name in ("seconds", "core_busy_seconds"):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                or value < 0:
            raise ValueError(f"EnergyCounters.{name} must be a finite number >= 0; got {value!r}")
    for name in ("boards", "chips", "cores", "packets", "packets_with_payload"):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"EnergyCounters.{name} must be an integer >= 0; got {value!r}")
    if c.boards < 1:
        # boards=0 would silently switch the toolchain to its chips-only costing
        raise ValueError(f"EnergyCounters.boards must be >= 1 (a run uses at least one board); "
                         f"got {c.boards}")
    if c.chips > c.boards * chips_per_board:
        raise ValueError(f"EnergyCounters.chips ({c.chips}) must be <= {chips_per_board} chips per board "
                         f"x {c.boards} board(s) = {c.boards * chips_per_board}")
    if c.chips > c.cores:
        raise ValueError(f"EnergyCounters.chips ({c.chips}) must be <= cores ({c.cores}): "
                         "a chip counts only with at least one core used")
    if c.cores > c.chips * app_cores_per_chip:
        raise ValueError(f"EnergyCounters.cores ({c.cores}) must be <= {app_cores_per_chip} application "
                         f"cores per chip x {c.chips} chip(s) = {c.chips * app_cores_per_chip}")
    if c.core_busy_seconds > c.cores * c.seconds * (1 + 1e-9):
        raise ValueError(f"EnergyCounters.core_busy_seconds ({c.core_busy_seconds}) must be <= cores x "
                         f"seconds ({c.cores} x {c.seconds}): a core is busy at most the whole run")
    if c.packets_with_payload > c.packets:
        raise ValueError(f"EnergyCounters.packets_with_payload ({c.packets_with_payload}) must be <= "
                         f"packets ({c.packets})")


def _toolchain_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("SpiNNFrontEndCommon")
    except PackageNotFoundError:
        return "(version unknown)"


def modeled_energy(c: EnergyCounters) -> ModeledEnergy:
    """Joules of a run by the toolchain's SpiNN-5 power model, the total and each term on its own.

    The toolchain is imported here, not at module level, so ``import spinn_dnn`` stays light.
    Raises ValueError naming the field when the counters are impossible (see module docstring for terms).
    """
    from spinn_machine.version import version_5
    from spinn_machine.version.version_5 import Version5

    # 48 chips per SpiNN-5 board and 18 cores on the fullest chip (version_5.CHIPS_PER_BOARD), one of
    # which runs SCAMP (VersionSpin1.n_scamp_cores = 1): the most application cores a chip can hold.
    chips_per_board = len(version_5.CHIPS_PER_BOARD)
    app_cores_per_chip = max(version_5.CHIPS_PER_BOARD.values()) - 1
    _check(c, chips_per_board, app_cores_per_chip)

    # Version5() reads the toolchain's global config (machine size, cores per chip), which exists only
    # inside a toolchain run (spinn_dnn keeps that in a child process).  The energy methods read nothing
    # but class constants, so an instance made without __init__ is the same model.
    v5 = Version5.__new__(Version5)
    seconds = float(c.seconds)
    # One entry holding all chips: the toolchain sums over chips, so how counts split between them is moot.
    chip_active = {(0, 0): (float(c.core_busy_seconds), int(c.cores))}
    packets = {(0, 0): {"Local_Multicast_Packets": int(c.packets)}}

    total = v5.get_active_energy(seconds, 0, int(c.boards), int(c.chips), chip_active, packets)
    idle_chips = v5.get_idle_energy(seconds, 0, 0, int(c.chips))  # n_boards=0: chips-only costing
    boards_idle = v5.get_idle_energy(seconds, 0, int(c.boards), int(c.chips))
    components = {
        "idle chips": float(idle_chips),
        "active cores": float(v5._get_core_active_energy(chip_active)),
        "packets": float(v5._get_router_active_energy(packets)),
        "boards/FPGAs": float(boards_idle - idle_chips),
    }
    source = (f"modeled: spinn_front_end_common {_toolchain_version()} power model ({_SOURCE_MODULE}, "
              "as compute_energy_used calls it; n_frames=0) fed with emulator counters")
    return ModeledEnergy(float(total), components, source)
