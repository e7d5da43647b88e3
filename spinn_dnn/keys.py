"""Multicast keys: one contiguous, aligned key space per (vertex, partition).

Within a vertex's space, tile i owns keys [base + i*B, base + i*B + n) where B
is a power of two covering the largest tile.  For the forward partition B is
the vertex's atoms per tile, so `key - base` is the atom's index in the layer:
a receiving core finds the weight column of a packet by subtraction.  The
keys are fixed on the application vertices (get_fixed_key_and_mask) and their
machine vertices, so the toolchain routes exactly these.  Errors of a Dense
layer have one partition per receiving tile (plan.Route), so a sending tile's
error keys are one small block per partition, each routed to one tile only;
so are a conv or pool tile's, where every tile of the layer holds keys in
every such partition, those it never sends on included.  A tile whose atoms have
different readers sends them in forward run partitions ("fwd.<j>", tiling.fwd_runs),
a block per run, held by every tile of the layer the same way.
"""

from __future__ import annotations

from spinn_dnn.plan import MASK32, Plan, Route, Tile, VertexPlan
from spinn_dnn.tiling import next_pow2


def _n_keys(route: Route, tile: Tile) -> int:
    if route.n_keys:
        return route.n_keys
    if route.span is not None:  # errors: the atoms of the receiving tile; forward runs: the run's
        return route.span[1] - route.span[0]
    if route.pid in ("fwd", "partial", "delta", "dz"):
        return tile.n_atoms
    if route.pid == "bwd":
        return tile.in_hi - tile.in_lo
    return 1  # label, softmax


def allocate_keys(plan: Plan) -> None:
    """Fill VertexPlan.app_keys and Tile.keys for every partition a tile sends in."""
    senders: dict[tuple[str, str], list[Route]] = {}
    for r in plan.routes:
        senders.setdefault((r.src[0], r.partition), []).append(r)
    spaces = []
    for (label, part), routes in senders.items():
        vertex = plan.vertex(label)
        n_max = max(_n_keys(r, vertex.tiles[r.src[1]]) for r in routes)
        block = vertex.atoms_per_tile if part == "fwd" else next_pow2(n_max)
        size = block * next_pow2(len(vertex.tiles))
        spaces.append((size, label, part, block, routes))
    spaces.sort(key=lambda s: (-s[0], s[1], s[2]))
    base = 0
    for size, label, part, block, routes in spaces:
        base = -(-base // size) * size
        if base + size > 1 << 32:
            raise ValueError("the key space of 32 bits is exhausted")
        vertex: VertexPlan = plan.vertex(label)
        vertex.app_keys[part] = (base, MASK32 & ~(size - 1))
        for r in routes:
            tile = vertex.tiles[r.src[1]]
            tile.keys[part] = (base + tile.index * block, MASK32 & ~(block - 1), _n_keys(r, tile))
        if part.startswith(("bwd.", "fwd.")):
            # every tile of the layer is a sender of each per-receiver error partition
            # (tiling._routes says why), and of each forward run partition (tiling.fwd_runs);
            # one that sends nothing there gets a key it never uses
            for tile in vertex.tiles:
                tile.keys.setdefault(part, (base + tile.index * block, MASK32 & ~(block - 1), 1))
        base += size
