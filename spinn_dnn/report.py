"""The mapping report: per layer and in total, as a table for people and JSON for tools."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from spinn_dnn import memory
from spinn_dnn.keywalk import WalkSummary
from spinn_dnn.plan import PARTITIONS, Plan
from spinn_dnn.route_pruning import PruneSummary
from spinn_dnn.tiling import per_tile_fallbacks
from spinn_dnn.toolchain_process import ToolchainResult

ROUTER_ENTRIES = 1023  # usable multicast entries per SpiNNaker-1 router


@dataclass
class LayerReport:
    layer: str
    kind: str
    shape: str
    activation: str
    vertices: list[str]
    tiles: int
    atoms_per_tile: int
    cores: int
    chips: int
    dtcm_max_bytes: int
    sdram_bytes: int
    in_flight: int = 0  # samples in flight its tiles hold (fewer near the output when tapered)


@dataclass
class Mapping:
    model: str
    policy: str
    machine: str
    in_flight: int
    layers: list[LayerReport]
    cores: int
    chips: int
    boards: int
    routing_entries_total: int
    routing_entries_max_per_chip: int
    routing_entries_limit: int
    routing_entries_max_compressed: int | None  # after the pair compressor, when a chip needed it
    dtcm_max_per_core: int
    dtcm_budget: int
    sdram_max_per_chip: int
    sdram_budget_per_chip: int
    itcm_code_estimate: int
    itcm_budget: int
    packets_per_sample: dict[str, int]  # partition -> packets sent per training sample
    deliveries_per_sample: dict[str, int]  # partition -> core receptions per training sample
    key_walk: dict[str, int]
    toolchain_seconds: float
    mapping_seconds: float
    run_dir: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def __str__(self) -> str:
        head = ("layer", "kind", "shape", "act", "tiles", "atoms/tile", "cores", "chips", "in flight",
                "DTCM max", "SDRAM")
        rows = [head] + [(r.layer, r.kind, r.shape, r.activation, str(r.tiles), str(r.atoms_per_tile),
                          str(r.cores), str(r.chips), str(r.in_flight), f"{r.dtcm_max_bytes:,}",
                          f"{r.sdram_bytes:,}")
                         for r in self.layers]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        tapered = any(r.in_flight != self.in_flight for r in self.layers if r.kind != "input")
        lines = [f"{self.model}: policy {self.policy}, {self.machine}, {self.in_flight} samples in flight"
                 + (" in the first layer, fewer above (tapered)" if tapered else "")]
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) if j < 4 else c.rjust(w) for j, (c, w) in
                                   enumerate(zip(row, widths, strict=True))))
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        pk = ", ".join(f"{p} {n:,}" for p, n in self.packets_per_sample.items())
        dl = ", ".join(f"{p} {n:,}" for p, n in self.deliveries_per_sample.items())
        lines += [
            "",
            f"cores {self.cores}, chips {self.chips}, boards {self.boards}",
            f"routing entries: {self.routing_entries_total} in all, max {self.routing_entries_max_per_chip} "
            f"per chip (limit {self.routing_entries_limit})"
            + ("" if self.routing_entries_max_compressed is None else
               f", max {self.routing_entries_max_compressed} after the toolchain's pair compressor"),
            f"DTCM: max {self.dtcm_max_per_core:,} of {self.dtcm_budget:,} bytes per core; "
            f"SDRAM: max {self.sdram_max_per_chip:,} of {self.sdram_budget_per_chip:,} bytes per chip; "
            f"ITCM code (estimate) {self.itcm_code_estimate:,} of {self.itcm_budget:,}",
            f"packets per training sample: {pk} (total {sum(self.packets_per_sample.values()):,})",
            f"core receptions per training sample: {dl}",
            f"key walk: {self.key_walk['keys']:,} keys reached exactly their cores "
            f"({self.key_walk['deliveries']:,} deliveries, {self.key_walk['hops']:,} link hops, "
            f"{self.key_walk['default_routed']:,} default-routed)",
            f"toolchain {self.toolchain_seconds:.2f} s, mapping in all {self.mapping_seconds:.2f} s; "
            f"toolchain files in {self.run_dir}",
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def build(plan: Plan, result: ToolchainResult, walk: WalkSummary, machine: str, seconds: float,
          run_dir: str, pruned: PruneSummary | None = None) -> Mapping:
    layers = []
    for layer in plan.layers:
        vs = [v for v in plan.vertices if v.layer == layer.index]
        tiles = [t for v in vs for t in v.tiles]
        chips = {result.placements[(t.vertex, t.index)][:2] for t in tiles}
        h, w, c = layer.out_shape
        layers.append(LayerReport(
            layer.name, layer.kind, f"{h}x{w}x{c}", layer.activation, [v.label for v in vs], len(tiles),
            max(v.atoms_per_tile for v in vs), len(tiles), len(chips),
            max(t.bytes_in("dtcm") for t in tiles),
            sum(sum(result.region_sizes[(t.vertex, t.index)].values()) for t in tiles),
            plan.slots(layer.index)))
    packets = {p: 0 for p in PARTITIONS}
    deliveries = {p: 0 for p in PARTITIONS}
    for r in plan.routes:
        packets[r.pid] += r.packets_per_sample
        deliveries[r.pid] += r.packets_per_sample * len(r.dst)
    packets = {p: n for p, n in packets.items() if n}
    deliveries = {p: n for p, n in deliveries.items() if n}
    entries = [len(t) for t in result.tables.values()] or [0]
    chips_used = {xyp[:2] for xyp in result.placements.values()}
    return Mapping(
        model=plan.model_name, policy=plan.policy, machine=machine, in_flight=plan.in_flight, layers=layers,
        cores=len(result.placements), chips=len(chips_used), boards=result.n_boards,
        routing_entries_total=sum(entries), routing_entries_max_per_chip=max(entries),
        routing_entries_limit=ROUTER_ENTRIES,
        routing_entries_max_compressed=(None if result.compressed is None else
                                        max(len(t) for t in result.compressed.values())),
        dtcm_max_per_core=max(t.bytes_in("dtcm") for v in plan.vertices for t in v.tiles),
        dtcm_budget=memory.DTCM_BYTES,
        sdram_max_per_chip=max(result.sdram_per_chip.values()),
        sdram_budget_per_chip=memory.SDRAM_PER_CHIP,
        itcm_code_estimate=memory.ITCM_CODE_ESTIMATE, itcm_budget=memory.ITCM_BYTES,
        packets_per_sample=packets, deliveries_per_sample=deliveries, key_walk=asdict(walk),
        toolchain_seconds=round(result.seconds, 3), mapping_seconds=round(seconds, 3), run_dir=run_dir,
        notes=["DTCM includes an estimated 6 KiB of stack and globals per core, and ITCM an estimated "
               "code size, until the C programs (c_src/) exist to measure them",
               "SDRAM per chip is what the toolchain's placer counted: each core's loaded image "
               "(parameters, keys, weights) plus its working buffers (momentum, gradients, kept "
               "activations)"] + _fallback_notes(plan) + _pruning_notes(pruned),
    )


def _pruning_notes(pruned: PruneSummary | None) -> list[str]:
    if pruned is None or not pruned.links_removed:
        return []
    return [f"routing: {pruned.links_removed} of the toolchain's {pruned.links_before} entry links carried "
            "copies to no core that takes them and were removed (spinn_dnn.route_pruning)"]


def _fallback_notes(plan: Plan) -> list[str]:
    """Under error_routing "deltas", the layers that send per_tile errors because the copies of
    their weights did not fit the tiles below (tiling.tile_layers)."""
    if plan.error_routing != "deltas":
        return []
    fell_back = [plan.layers[li].name for li in per_tile_fallbacks(plan)]
    if not fell_back:
        return []
    return [f"error_routing deltas: {', '.join(fell_back)} send per_tile errors: the copies of their "
            "weights and the delta buffers do not fit the tiles below, even at one atom a tile"]
