"""Run the SpiNNaker toolchain on a plan, in a child process of its own.

The toolchain keeps global state (FecDataView), reads its config from the
home directory and writes `reports/` where it runs.  Running it in a child
whose HOME and working directory are the mapping's own folder keeps all of
that there: the user's home and current directory stay untouched, two
mappings in one process and two processes at once cannot collide.  The plan
goes in as a pickle; placements, keys, routing tables, the machine's links
and every core's data-specification regions come back as a pickle.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from spinn_dnn.errors import DoesNotFitError, MachineUnavailableError, MappingError
from spinn_dnn.machine import Machine
from spinn_dnn.plan import Plan

CFG_NAME = "spiNNakerGraphFrontEnd.cfg"
# The child imports this module by name, so the pickled result's classes are spinn_dnn's own.
_CHILD_ENTRY = ("import sys; from spinn_dnn.toolchain_process import _child; "
                "_child(*sys.argv[1:3], int(sys.argv[3]))")


@dataclass
class ToolchainResult:
    """What the toolchain decided, in plain data."""

    placements: dict[tuple[str, int], tuple[int, int, int]]  # tile -> (x, y, p)
    keys: dict[tuple[str, int, str], tuple[int, int]]  # (vertex, tile, pid) -> toolchain (key, mask)
    tables: dict[tuple[int, int], list[tuple[int, int, tuple[int, ...], tuple[int, ...], bool]]]
    links: dict[tuple[int, int], dict[int, tuple[int, int]]]  # chip -> link id -> neighbour chip
    chips: list[tuple[int, int]]
    n_boards: int
    system_cores: dict[tuple[int, int], int]  # chip -> cores the toolchain's own vertices use
    regions: dict[tuple[str, int], dict[int, bytes]]  # tile -> region id -> content
    region_sizes: dict[tuple[str, int], dict[int, int]]
    sdram_per_chip: dict[tuple[int, int], int]  # bytes the toolchain's placer counted per chip
    # Tables as the pair compressor leaves them, when some chip needs more than 1023 entries
    # (the toolchain loads the uncompressed tables as they are otherwise).
    compressed: dict[tuple[int, int], list[tuple[int, int, tuple[int, ...], tuple[int, ...], bool]]] | None
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def write_cfg(run_dir: Path, machine: Machine, boards_needed: int) -> int:
    """The toolchain's config, as its user file in the run folder's own HOME; returns boards asked."""
    machine_cfg, boards = machine.cfg(boards_needed)
    text = (
        "# Written by spinn_dnn for this mapping only.\n"
        f"[Machine]\n{machine_cfg}"
        "[Reports]\n"
        f"default_report_file_path = {run_dir / 'reports'}\n"
        "max_reports_kept = 2\n"
        "display_algorithm_timings = False\n"
        "write_sdram_usage_report_per_chip = False\n"
        "write_partitioner_reports = False\n"
        "write_application_graph_placer_report = False\n"
        "write_router_info_report = False\n"
        "write_network_specification_report = False\n"
        "[Mode]\nmode = Production\n"
        "[Logging]\ninstantiate = True\ndefault = warning\n"
        "[Database]\ncreate_database = False\n"
    )
    (run_dir / f".{CFG_NAME}").write_text(text)
    return boards


def run_toolchain(plan: Plan, machine: Machine, run_dir: Path, boards_needed: int,
                  timeout_s: float = 600) -> ToolchainResult:
    """Map `plan` on `machine` in a child process rooted at `run_dir`."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "binaries").mkdir(exist_ok=True)
    boards = write_cfg(run_dir, machine, boards_needed)
    plan_path, out_path = run_dir / "plan.pickle", run_dir / "toolchain.pickle"
    plan_path.write_bytes(pickle.dumps(plan))
    out_path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SPALLOC_"))}
    env.update(HOME=str(run_dir), XDG_CONFIG_HOME=str(run_dir / ".config"),
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    if not machine.virtual:
        env.update({k: v for k, v in os.environ.items() if k.startswith("SPALLOC_")})
    cmd = [sys.executable, "-c", _CHILD_ENTRY, str(plan_path), str(out_path), str(boards)]
    try:
        proc = subprocess.run(cmd, cwd=run_dir, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        kind = MappingError if machine.virtual else MachineUnavailableError
        raise kind(f"the toolchain did not finish within {timeout_s} s on {machine} "
                   f"(files in {run_dir})") from exc
    (run_dir / "toolchain.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out_path.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        _raise_for(tail, plan, machine, run_dir)
    return pickle.loads(out_path.read_bytes())


def _raise_for(tail: str, plan: Plan, machine: Machine, run_dir: Path) -> None:
    if "PacmanPlaceException" in tail or "PacmanTooBigToPlace" in tail or "Not enough" in tail:
        raise DoesNotFitError(f"the toolchain could not place {plan.n_cores} cores on {machine}: "
                              f"{tail.splitlines()[-1]}")
    if not machine.virtual:
        raise MachineUnavailableError(
            f"no SpiNNaker machine answered for {machine} (toolchain log: {run_dir / 'toolchain.log'}): "
            f"{tail.splitlines()[-1] if tail else 'no output'}")
    raise MappingError(f"the toolchain failed (log: {run_dir / 'toolchain.log'}):\n{tail}")


# ---------------------------------------------------------------------------------------------
# The child side

ROUTER_ENTRIES = 1023


def _tables(tables) -> dict:  # noqa: ANN001 (a toolchain MulticastRoutingTables)
    return {(t.x, t.y): [(e.key, e.mask, tuple(sorted(e.processor_ids)), tuple(sorted(e.link_ids)),
                          bool(e.defaultable)) for e in t.multicast_routing_entries]
            for t in tables.routing_tables}


def _child(plan_path: str, out_path: str, boards: int) -> None:
    t0 = time.perf_counter()
    import spinnaker_graph_front_end as gfe
    from pacman.model.graphs.application import ApplicationEdge
    from spinn_front_end_common.data import FecDataView
    from spinn_front_end_common.interface.ds import DsSqlliteDatabase

    from spinn_dnn.vertices import LayerVertex, TileVertex

    plan: Plan = pickle.loads(Path(plan_path).read_bytes())
    run_dir = Path(plan_path).parent
    gfe.setup(model_binary_folder=str(run_dir / "binaries"), n_boards_required=boards)
    t_setup = time.perf_counter()
    vertices = {v.label: LayerVertex(plan, v) for v in plan.vertices}
    for v in vertices.values():
        gfe.add_vertex_instance(v)
    edges = sorted({(r.src[0], d[0], r.partition) for r in plan.routes for d in r.dst})
    for src, dst, pid in edges:
        gfe.add_edge_instance(ApplicationEdge(vertices[src], vertices[dst]), pid)
    gfe.run(1)
    t_run = time.perf_counter()

    placements, system_cores = {}, {}
    sdram: dict[tuple[int, int], int] = {}
    tile_vertices = []
    for p in FecDataView.iterate_placemements():
        used = p.vertex.sdram_required.get_total_sdram(FecDataView.get_max_run_time_steps())
        sdram[(p.x, p.y)] = sdram.get((p.x, p.y), 0) + used
        if isinstance(p.vertex, TileVertex):
            placements[(p.vertex.tile.vertex, p.vertex.tile.index)] = (p.x, p.y, p.p)
            tile_vertices.append(p)
        else:
            system_cores[(p.x, p.y)] = system_cores.get((p.x, p.y), 0) + 1
    infos = FecDataView.get_routing_infos()
    keys = {}
    for p in tile_vertices:
        for pid in p.vertex.tile.keys:
            info = infos.get_info_from(p.vertex, pid)
            keys[(p.vertex.tile.vertex, p.vertex.tile.index, pid)] = (info.key, info.mask)
    tables = _tables(FecDataView.get_uncompressed())
    compressed = None
    if FecDataView.get_uncompressed().get_max_number_of_entries() > ROUTER_ENTRIES:
        from pacman.operations.router_compressors.pair_compressor import pair_compressor

        compressed = _tables(pair_compressor(accept_overflow=True))
    machine = FecDataView.get_machine()
    links = {(c.x, c.y): {link.source_link_id: (link.destination_x, link.destination_y)
                          for link in c.router.links} for c in machine.chips}
    regions, sizes = {}, {}
    with DsSqlliteDatabase(FecDataView.get_ds_database_path()) as db:
        for p in tile_vertices:
            ref = (p.vertex.tile.vertex, p.vertex.tile.index)
            regions[ref] = {num: bytes(content) for num, _, content in db.get_regions_content(p.x, p.y, p.p)}
            sizes[ref] = dict(db.get_region_sizes(p.x, p.y, p.p))
    result = ToolchainResult(
        placements=placements, keys=keys, tables=tables, links=links,
        chips=sorted(links), n_boards=len(list(machine.ethernet_connected_chips)),
        system_cores=system_cores, regions=regions, region_sizes=sizes, sdram_per_chip=sdram,
        compressed=compressed,
        seconds=time.perf_counter() - t0,
        timings={"import+setup": t_setup - t0, "map+generate": t_run - t_setup},
    )
    gfe.stop()
    Path(out_path).write_bytes(pickle.dumps(result))


