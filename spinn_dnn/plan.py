"""The mapping plan: tiles, partitions and keys as plain data.

Built on the host from the layer graph (tiling.py, keys.py) before the
toolchain runs, pickled to the toolchain's own process, which turns it into
application and machine vertices and must reproduce its keys exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spinn_dnn.layers import Layer

# Multicast partitions.  fwd: activations; bwd: errors (partial sums of dE/dx per
# input atom); label: the sample's class to the loss layer; partial/delta: between
# the weight blocks and accumulators of a layer split in two dimensions; softmax:
# each output tile's sum of exponentials to the others, when the output layer spans tiles;
# gring/gsum: a convolution's kernel gradient passed from tile to tile and summed, then the
# sum from the last tile to the others, when several tiles hold copies of a filter; dz: a layer's
# dL/dz to the tiles of the layer below, which hold copies of the weights that read them and
# compute their own errors (error_routing "deltas", tiling.sends_deltas); csum: a convolution's final
# kernel-gradient sums (the gsum packets) to the tiles below that hold its kernel (its deltas' kernel
# kind, tiling.sends_kernel_deltas).
PARTITIONS = ("fwd", "bwd", "label", "softmax", "partial", "delta", "gring", "gsum", "dz", "csum")

MASK32 = 0xFFFFFFFF


@dataclass
class MemoryItem:
    """One buffer a tile's program holds during training."""

    name: str
    where: str  # "dtcm" | "sdram"
    bytes: int
    why: str


@dataclass
class Tile:
    """One machine vertex: a contiguous range of a vertex's atoms on one core."""

    vertex: str
    index: int
    role: str  # input | dense | conv | pool | block | acc
    lo: int  # first atom owned (output of the layer; rows for a block)
    hi: int
    in_lo: int = 0  # bounding range of the input atoms the tile needs
    in_hi: int = 0
    n_in_needed: int = 0  # how many inputs in [in_lo, in_hi) its receptive fields cover
    channels: list[int] = field(default_factory=list)  # conv/pool: output channels it covers
    row_block: int = 0  # block/acc: which rows
    col_block: int = 0  # block: which input columns
    memory: list[MemoryItem] = field(default_factory=list)
    keys: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # partition -> (key, mask, n_keys)
    # conv in a gradient ring (tiling.gradient_ring): (starts the ring, first filter, filters carried,
    # microseconds the starting tile waits first, microseconds between the ring's values)
    ring: tuple[int, int, int, int, int] | None = None

    @property
    def n_atoms(self) -> int:
        return self.hi - self.lo

    @property
    def label(self) -> str:
        return f"{self.vertex}[{self.index}]"

    def bytes_in(self, where: str) -> int:
        return sum(m.bytes for m in self.memory if m.where == where)


@dataclass
class VertexPlan:
    """One application vertex (a layer, or one half of a layer split in two dimensions)."""

    label: str
    layer: int  # index into Plan.layers
    role: str
    n_atoms: int
    atoms_per_tile: int
    tiles: list[Tile]
    app_keys: dict[str, tuple[int, int]] = field(default_factory=dict)  # partition -> (base key, mask)


@dataclass
class Route:
    """Packets of one source tile in one partition, and the tiles that must receive them.

    `pid` is the kind of traffic (one of PARTITIONS); `partition` is the
    toolchain's partition id, the same as `pid` except for errors, which go in
    one partition per receiving tile ("bwd.<tile>") so that each error packet
    is delivered only to the tile that owns its atom, not to every tile of the
    layer below.  `span` is then the atoms [lo, hi) of the layer below that the
    partition's keys stand for.  (The thesis's and the "multicast" error
    routings use one "bwd" partition per layer instead.)
    """

    pid: str
    src: tuple[str, int]  # (vertex label, tile index)
    dst: list[tuple[str, int]]
    packets_per_sample: int  # packets the source sends per training sample
    partition: str = ""
    span: tuple[int, int] | None = None
    n_keys: int = 0  # keys of the partition when neither atoms nor a span set them (gring, gsum)

    def __post_init__(self) -> None:
        if not self.partition:
            self.partition = self.pid


@dataclass
class Plan:
    """Everything the toolchain needs, and everything the report is built from."""

    model_name: str
    policy: str
    in_flight: int
    layers: list[Layer]
    vertices: list[VertexPlan]
    routes: list[Route]
    optimizer: dict[str, float]
    error_routing: str = "per_tile"  # tiling.ERROR_ROUTINGS
    layer_in_flight: list[int] | None = None  # per layer index, when they taper (training.layer_slots)

    def slots(self, layer_index: int) -> int:
        """Samples in flight the tiles of a layer hold (their input and error buffers)."""
        return self.in_flight if self.layer_in_flight is None else self.layer_in_flight[layer_index]

    def vertex(self, label: str) -> VertexPlan:
        for v in self.vertices:
            if v.label == label:
                return v
        raise KeyError(label)

    def tile(self, ref: tuple[str, int]) -> Tile:
        return self.vertex(ref[0]).tiles[ref[1]]

    @property
    def n_cores(self) -> int:
        return sum(len(v.tiles) for v in self.vertices)
