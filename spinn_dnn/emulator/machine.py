"""Build an emulated machine from a mapping, run it, and read its counters.

A machine is described by plain data (chips, links, per-chip routing tables
as the toolchain produced them, and cores with a program and region images),
so tests can also build small machines by hand.  `from_mapping` takes that
data from spinn_dnn's plan and the toolchain's result: placements, uncompressed
routing tables (or the compressed ones when a chip needed them: those are what
a board loads), the machine's links, and each core's data-specification regions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from spinn_dnn.emulator.errors import EmulatorError, PacketDroppedError

try:
    from spinn_dnn import _emulator
except ImportError as exc:  # pragma: no cover - only without a build of the extension
    _emulator = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

N_LINKS = 6  # route word bits 0-5: E, NE, N, W, SW, S; cores from bit 6
Chip = tuple[int, int]
Core = tuple[int, int, int]
TableEntry = tuple[int, int, tuple[int, ...], tuple[int, ...]]  # key, mask, cores, links


def _module():  # noqa: ANN202 (the extension module)
    if _emulator is None:
        raise EmulatorError(f"the C emulator (spinn_dnn._emulator) is not built: {_IMPORT_ERROR}; "
                            "run `pip install -e .` in the project")
    return _emulator


def available_programs() -> list[str]:
    """Names of the core programs built into the emulator."""
    return list(_module().programs())


def route_word(cores: Iterable[int], links: Iterable[int]) -> int:
    """The router's route word: link bits 0-5, then one bit per virtual core."""
    word = 0
    for link in links:
        word |= 1 << link
    for p in cores:
        word |= 1 << (N_LINKS + p)
    return word


@dataclass
class CoreSpec:
    """One core to emulate: where, which program, its regions (bytes, or an int = bytes to reserve)."""

    where: Core
    program: str
    regions: list[bytes | int | None]
    label: str = ""


@dataclass
class RunResult:
    """What a run did, from the emulator's counters; cycles and times are modeled."""

    status: str  # "quiescent" | "cycle_limit" | "stopped"
    cycles: int
    clock_hz: int
    deliveries: int
    events: int
    cores: dict[Core, dict[str, int]]
    keys: dict[Core, list[tuple[int, int, int, int]]]  # core -> [(key, sent, received, dropped)]
    routers: dict[Chip, dict[str, int]]
    router_drops: dict[int, int]  # key -> packets routers dropped
    labels: dict[Core, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def modeled_seconds(self) -> float:
        return self.cycles / self.clock_hz

    def total(self, counter: str) -> int:
        """A core counter summed over the cores (e.g. 'sent', 'received', 'dropped_rx')."""
        return sum(c[counter] for c in self.cores.values())

    @property
    def dropped(self) -> int:
        return (self.total("dropped_rx") + self.total("dropped_task_queue") + sum(self.router_drops.values()))

    def deliveries_by_key(self) -> dict[int, dict[Core, int]]:
        """key -> {core: packets of that key it received}."""
        out: dict[int, dict[Core, int]] = {}
        for core, rows in self.keys.items():
            for key, _, received, _ in rows:
                if received:
                    out.setdefault(key, {})[core] = received
        return out

    def drops_by_core(self) -> dict[Core, dict[int, int]]:
        """core -> {key: packets dropped at its input}."""
        return {core: {k: d for k, _, _, d in rows if d} for core, rows in self.keys.items()
                if any(r[3] for r in rows)}


class EmulatedMachine:
    """A machine in the C emulator, built from plain data."""

    def __init__(self, chips: Iterable[Chip], links: Mapping[Chip, Mapping[int, Chip]],
                 tables: Mapping[Chip, Iterable[TableEntry]], cores: Iterable[CoreSpec],
                 rx_queue: int | None = None, stop_on_drop: bool = True,
                 partition_of_key: Callable[[int], str | None] | None = None, key_stats: bool = True,
                 jitter: tuple[int, int] | None = None, take_ahead: bool = True) -> None:
        mod = _module()
        cycles, seed = jitter or (0, 1)
        # take_ahead=False: a WAKE event for every queued packet, as the emulator did before it
        # took them ahead (core.c); only for tests that the two runs are the same
        self._m = mod.Machine(rx_queue=rx_queue or mod.RX_QUEUE_DEFAULT, stop_on_drop=stop_on_drop,
                              key_stats=key_stats, jitter_cycles=cycles, jitter_seed=seed,
                              take_ahead=take_ahead)
        self.chip_index: dict[Chip, int] = {}
        for chip in sorted(chips):
            self.chip_index[chip] = self._m.add_chip(*chip)
        for chip, out in links.items():
            if chip not in self.chip_index:
                continue
            for link, neighbour in sorted(out.items()):
                if neighbour in self.chip_index:
                    self._m.add_link(self.chip_index[chip], link, self.chip_index[neighbour])
        for chip, entries in tables.items():
            for key, mask, procs, links_out in entries:
                self._m.add_route(self.chip_index[chip], key, mask, route_word(procs, links_out))
        self.core_id: dict[Core, int] = {}
        self.labels: dict[Core, str] = {}
        for spec in sorted(cores, key=lambda s: s.where):
            x, y, p = spec.where
            self.core_id[spec.where] = self._m.add_core(self.chip_index[(x, y)], p, spec.program,
                                                       list(spec.regions))
            self.labels[spec.where] = spec.label or f"core {spec.where}"
        self._partition_of_key = partition_of_key or (lambda key: None)

    @classmethod
    def from_mapping(cls, plan, toolchain, programs: Callable[[object], str],  # noqa: ANN001
                     rx_queue: int | None = None, stop_on_drop: bool = True,
                     key_stats: bool = True, jitter: tuple[int, int] | None = None,
                     take_ahead: bool = True) -> EmulatedMachine:
        """The machine a spinn_dnn mapping describes; `programs(tile)` names each tile's program.

        `plan` is a spinn_dnn.plan.Plan and `toolchain` the ToolchainResult of the
        same mapping (`SpiNNakerModel.plan`, `.toolchain`).  `jitter` (cycles, seed) delays
        every callback by a random 0..cycles-1 cycles: a timing fuzz for tests, so that a
        program's result can be checked under many event orders.
        """
        from spinn_dnn import regions as regions_mod

        tables_raw = toolchain.compressed if toolchain.compressed is not None else toolchain.tables
        tables = {chip: [(e[0], e[1], e[2], e[3]) for e in entries] for chip, entries in tables_raw.items()}
        cores = []
        for v in plan.vertices:
            for t in v.tiles:
                ref = (v.label, t.index)
                content = toolchain.regions[ref]
                sizes = toolchain.region_sizes.get(ref, {})
                regs: list[bytes | int | None] = []
                for r in range(len(regions_mod.REGIONS)):
                    if r in content and content[r]:
                        data = bytes(content[r])
                        reserve = sizes.get(r, len(data))
                        regs.append(data + bytes(max(0, reserve - len(data))))
                    else:
                        regs.append(int(sizes.get(r, 0)) or None)
                cores.append(CoreSpec(toolchain.placements[ref], programs(t), regs, t.label))
        owner = _key_owners(plan)
        return cls(toolchain.chips, toolchain.links, tables, cores, rx_queue, stop_on_drop,
                   lambda key: _find_owner(owner, key), key_stats, jitter, take_ahead)

    def run(self, max_cycles: int = 10**9, raise_on_drop: bool = True,
            exit_codes: Mapping[int, str] | None = None) -> RunResult:
        """Run until nothing is left to do, `max_cycles`, or a stop; raise if the run stopped on an error.

        A dropped packet (with stop_on_drop, the default) raises PacketDroppedError
        naming the core and the partition; other faults raise EmulatorError.  With
        `exit_codes` (code -> meaning), a core that called spin1_exit with a code
        other than 0 raises EmulatorError naming its tile and the meaning.
        """
        status = {1: "quiescent", 0: "cycle_limit", -1: "stopped"}[self._m.run(int(max_cycles))]
        result = self.result(status)
        if status == "stopped" and raise_on_drop:
            drop = self._m.first_drop
            if drop is not None:
                raise self._drop_error(drop, result.error or "")
            raise EmulatorError(f"the emulated machine stopped: {result.error}")
        if exit_codes is not None:
            # a core that refused to run makes others wait and overrun: report the refusal first
            exited = sorted(result.cores.items(), key=lambda item: (item[1]["exit_code"] == 4, item[0]))
            for where, c in exited:
                if c["exited"] and c["exit_code"]:
                    why = exit_codes.get(c["exit_code"], "no meaning recorded for this code")
                    raise EmulatorError(f"{self.labels[where]} at {where} stopped with code "
                                        f"{c['exit_code']}: {why}")
        return result

    def _drop_error(self, drop: tuple[int, int, int], detail: str) -> PacketDroppedError:
        core_id, key, cycle = drop
        if core_id >= 0:
            where = next(c for c, i in self.core_id.items() if i == core_id)
            core = f"{self.labels[where]} at {where}"
        else:
            core = "a router"
        partition = self._partition_of_key(key)
        what = f"partition {partition}" if partition else "a key no partition owns"
        return PacketDroppedError(f"packet dropped at cycle {cycle}: {core} did not take key {key:#010x} "
                                  f"({what}); {detail}", core, key, partition, cycle)

    def result(self, status: str = "") -> RunResult:
        """The counters now."""
        state = self._m.state
        cores = {c: self._m.core_counters(i) for c, i in self.core_id.items()}
        keys = {c: self._m.core_keys(i) for c, i in self.core_id.items()}
        routers = {chip: self._m.router_counters(i) for chip, i in self.chip_index.items()}
        drops = {k: d for k, _, _, d in self._m.router_drops()}
        return RunResult(status, state["cycles"], state["clock_hz"], state["deliveries"], state["events"],
                         cores, keys, routers, drops, dict(self.labels), self._m.error)

    @property
    def state(self) -> dict[str, int]:
        """Machine-wide counters and the clock ('cycles': when the last thing happened)."""
        return self._m.state

    def signal(self, core: Core, at_cycle: int, arg0: int = 1, arg1: int = 0) -> None:
        """The host's message to a core (an SDP packet on a board): a USER_EVENT callback at `at_cycle`."""
        self._m.host_signal(self.core_id[core], int(at_cycle), arg0, arg1)

    def write_region(self, core: Core, region: int, data: bytes, offset: int = 0) -> None:
        """Stage bytes in a core's region before a run (as the host would over the network)."""
        self._m.write_region(self.core_id[core], region, offset, data)

    def read_state(self, core: Core) -> bytes:
        """The bytes of a core's program state struct (SPINN_STATE), as its DTCM holds them now."""
        return self._m.read_state(self.core_id[core])

    def read_region(self, core: Core, region: int) -> bytes:
        """A region of a core as its chip's SDRAM holds it now."""
        return self._m.read_region(self.core_id[core], region)


def _key_owners(plan) -> list[tuple[int, int, str]]:  # noqa: ANN001
    """(first key, count, 'tile partition') for every outgoing key range of the plan."""
    out = []
    for v in plan.vertices:
        for t in v.tiles:
            for pid, (key, _, n) in t.keys.items():
                out.append((key, n, f"{t.label} {pid}"))
    return sorted(out)


def _find_owner(owners: list[tuple[int, int, str]], key: int) -> str | None:
    for first, n, name in owners:
        if first <= key < first + n:
            return name
    return None
