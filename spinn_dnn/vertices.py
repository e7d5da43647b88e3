"""The plan as toolchain objects: application vertices, splitters, machine vertices.

Imported only inside the toolchain's own process (toolchain_process.py): it
pulls in pacman and spinn_front_end_common, which the host side never needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from pacman.model.graphs.application import ApplicationVertex
from pacman.model.graphs.common import Slice
from pacman.model.graphs.machine import MachineVertex
from pacman.model.partitioner_splitters import AbstractSplitterCommon
from pacman.model.resources import ConstantSDRAM
from pacman.model.routing_info import BaseKeyAndMask
from spinn_front_end_common.abstract_models import (
    AbstractGeneratesDataSpecification,
    AbstractHasAssociatedBinary,
)
from spinn_front_end_common.data import FecDataView
from spinn_front_end_common.utilities.constants import APP_PTR_TABLE_BYTE_SIZE
from spinnman.model.enums import ExecutableType

from spinn_dnn import regions
from spinn_dnn.errors import MappingError
from spinn_dnn.plan import Plan, Tile, VertexPlan


def binary_name(role: str) -> str:
    """The .aplx a tile of this role runs, as `make -C c_src aplx` names it (c_src/programs/<name>.c).

    Block and accumulator tiles have no program yet: their name says so, and the
    engine refuses to run them before anything is loaded.
    """
    return f"{regions.PROGRAM_OF_ROLE.get(role, 'missing_' + role)}.aplx"


class TileVertex(MachineVertex, AbstractHasAssociatedBinary, AbstractGeneratesDataSpecification):
    """One tile on one core; its memory image comes from spinn_dnn.regions."""

    __slots__ = ("plan", "vplan", "tile", "image")

    def __init__(self, plan: Plan, vplan: VertexPlan, tile: Tile, app_vertex: ApplicationVertex) -> None:
        # Blocks of a split layer share rows; their slice is their index instead.
        lo, hi = (tile.index, tile.index) if tile.role == "block" else (tile.lo, tile.hi - 1)
        super().__init__(tile.label, app_vertex, Slice(lo, hi))
        self.plan, self.vplan, self.tile = plan, vplan, tile
        self.image = regions.tile_image(plan, vplan, tile)

    @property
    def sdram_required(self) -> ConstantSDRAM:
        return ConstantSDRAM(APP_PTR_TABLE_BYTE_SIZE + regions.image_bytes(self.image))

    def get_n_keys_for_partition(self, partition_id: str) -> int:
        return self.tile.keys[partition_id][2]

    def get_binary_file_name(self) -> str:
        return binary_name(self.tile.role)

    def get_binary_start_type(self) -> ExecutableType:
        return ExecutableType.SYNC

    def generate_data_specification(self, spec, placement) -> None:  # noqa: ANN001 (toolchain types)
        infos = FecDataView.get_routing_infos()
        for pid, (key, mask, _) in self.tile.keys.items():
            info = infos.get_info_from(self.app_vertex, pid)
            mine = infos.get_info_from(self, pid) if info is not None else None
            got = (mine.key, mine.mask) if mine is not None else None
            if got != (key, mask):
                raise MappingError(
                    f"{self.tile.label} partition {pid}: toolchain key {got} != plan {(key, mask)}")
        for region, content in sorted(self.image.items()):
            name = regions.REGIONS[region]
            if isinstance(content, int):
                spec.reserve_memory_region(region, content, label=name)
            else:
                spec.reserve_memory_region(region, content.nbytes, label=name)
        for region, content in sorted(self.image.items()):
            if not isinstance(content, int) and content.size:
                spec.switch_write_focus(region)
                spec.write_array(content)
        spec.end_specification()


class TileSplitter(AbstractSplitterCommon):
    """Makes exactly the plan's tiles, and connects exactly the plan's routes."""

    def __init__(self, plan: Plan, vplan: VertexPlan) -> None:
        super().__init__()
        self.plan, self.vplan = plan, vplan
        self._by_index: dict[int, TileVertex] = {}
        self.sources: dict[tuple[str, int], list[TileVertex]] = {}  # filled by build_graph

    def create_machine_vertices(self, chip_counter) -> None:  # noqa: ANN001
        app = self.governed_app_vertex
        for tile in self.vplan.tiles:
            mv = TileVertex(self.plan, self.vplan, tile, app)
            chip_counter.add_core(mv.sdram_required)
            app.remember_machine_vertex(mv)
            self._by_index[tile.index] = mv

    def tile_vertex(self, index: int) -> TileVertex:
        return self._by_index[index]

    def get_out_going_slices(self) -> Sequence[Slice]:
        return [mv.vertex_slice for mv in self._by_index.values()]

    def get_in_coming_slices(self) -> Sequence[Slice]:
        return self.get_out_going_slices()

    def get_out_going_vertices(self, partition_id: str) -> Sequence[MachineVertex]:
        return [mv for mv in self._by_index.values() if partition_id in mv.tile.keys]

    def get_in_coming_vertices(self, partition_id: str) -> Sequence[MachineVertex]:
        label = self.vplan.label
        wanted = {i for r in self.plan.routes if r.partition == partition_id
                  for (v, i) in r.dst if v == label}
        return [self._by_index[i] for i in sorted(wanted)]

    def get_source_specific_in_coming_vertices(self, source_vertex, partition_id: str):  # noqa: ANN001
        label = self.vplan.label
        src_label = source_vertex.label
        targets: dict[int, list[MachineVertex]] = {}
        src_splitter = source_vertex.splitter
        for r in self.plan.routes:
            if r.partition != partition_id or r.src[0] != src_label:
                continue
            for v, i in r.dst:
                if v == label:
                    targets.setdefault(i, []).append(src_splitter.tile_vertex(r.src[1]))
        return [(self._by_index[i], srcs) for i, srcs in sorted(targets.items())]

    def machine_vertices_for_recording(self, variable_to_record: str) -> list[MachineVertex]:
        return []

    def reset_called(self) -> None:
        self._by_index = {}


class LayerVertex(ApplicationVertex):
    """One VertexPlan: a layer, or the blocks or accumulators of a split layer."""

    def __init__(self, plan: Plan, vplan: VertexPlan) -> None:
        super().__init__(vplan.label, splitter=TileSplitter(plan, vplan))
        self.vplan = vplan

    @property
    def n_atoms(self) -> int:
        if self.vplan.role == "block":
            return len(self.vplan.tiles)
        return max(t.hi for t in self.vplan.tiles)

    def get_fixed_key_and_mask(self, partition_id: str) -> BaseKeyAndMask | None:
        key, mask = self.vplan.app_keys[partition_id]
        return BaseKeyAndMask(key, mask)

    def get_machine_fixed_key_and_mask(self, machine_vertex: MachineVertex,
                                       partition_id: str) -> BaseKeyAndMask | None:
        key, mask, _ = machine_vertex.tile.keys[partition_id]
        return BaseKeyAndMask(key, mask)
