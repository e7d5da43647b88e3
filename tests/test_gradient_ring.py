"""The gradient ring of convolutions whose filters have copies on several tiles (tiling.gradient_ring).

Read from the plan's routes, what the machine is given: every copy of a filter
is summed by one ring, which takes every tile sharing a filter and no other.
That the sums are right is checked against Keras in tests/test_emulator_conv.py.
"""

from __future__ import annotations

import keras
import pytest

import workloads
from spinn_dnn.emulator.session import tile_stage_cycles
from spinn_dnn.model import plan_model
from spinn_dnn.plan import Tile, VertexPlan
from spinn_dnn.tiling import filter_groups


def _rings(plan, vertex):  # noqa: ANN001, ANN202
    """The rings of a vertex as the routes lay them: [(tiles in ring order, keys per ring route)]."""
    nxt = {r.src[1]: r.dst[0][1] for r in plan.routes if r.pid == "gring" and r.src[0] == vertex.label}
    sums = {r.src[1]: r for r in plan.routes if r.pid == "gsum" and r.src[0] == vertex.label}
    heads = set(nxt) - set(nxt.values())
    rings = []
    for head in sorted(heads):
        order = [head]
        while order[-1] in nxt:
            order.append(nxt[order[-1]])
        last = sums[order[-1]]
        assert sorted(i for _, i in last.dst) == sorted(order[:-1])  # the sums reach every other copy
        keys = {r.n_keys for r in plan.routes if r.pid in ("gring", "gsum") and r.src[0] == vertex.label
                and r.src[1] in order}
        rings.append(([vertex.tiles[i] for i in order], keys))
    assert len(sums) == len(rings)
    return rings


@pytest.mark.parametrize("fuse_pooling", [False, True])
@pytest.mark.parametrize("name", ["mnist_lenet1", "mnist_lenet4", "mnist_lenet5"])
def test_each_filter_is_summed_by_one_ring_of_the_tiles_that_share_filters(name, fuse_pooling):
    keras.utils.set_random_seed(1)
    plan = plan_model(workloads.get(name).build_model(), fuse_pooling=fuse_pooling)
    for v in plan.vertices:
        if v.role != "conv":
            continue
        layer = plan.layers[v.layer]
        rings = _rings(plan, v)
        ring_of = {t.index: k for k, (tiles, _) in enumerate(rings) for t in tiles}
        assert len(ring_of) == sum(len(tiles) for tiles, _ in rings)  # a tile is in one ring at most
        for c in range(layer.out_shape[2]):
            holders = [t for t in v.tiles if c in t.channels]
            if len(holders) > 1:
                assert len({ring_of.get(t.index) for t in holders}) == 1 and holders[0].index in ring_of
        for tiles, keys in rings:
            first, lo, n, _, gap = tiles[0].ring
            assert first == 1 and all(t.ring == (0, lo, n, 0, gap) for t in tiles[1:])
            assert keys == {n * (layer.fan_in + 1)}
            assert all(lo <= c < lo + n for t in tiles for c in t.channels)
        sharing = {t.index for t in v.tiles if any(c in u.channels for u in v.tiles if u is not t
                                                   for c in t.channels)}
        assert set(ring_of) == sharing and len(rings) == (1 if sharing else 0)


def test_lenet5_fused_c3_reduces_its_filters_in_one_ring_of_all_its_tiles():
    # each fused C3 tile holds one position's 8 of the 16 filters, in two groups of 25 tiles; one
    # ring per group (each carrying 8 filters) was tried and dropped a ring packet on another
    # layer (tiling.gradient_ring), so the layer keeps one ring carrying all 16
    keras.utils.set_random_seed(1)
    plan = plan_model(workloads.get("mnist_lenet5").build_model(), fuse_pooling=True)
    c3 = next(v for v in plan.vertices if v.label == "C3")
    rings = _rings(plan, c3)
    assert [(len(tiles), tiles[0].ring[1:4], keys) for tiles, keys in rings] == [(50, (0, 16, 0), {16 * 151})]
    assert len(filter_groups(c3)) == 2
    # the batch's update (C3's is the longest) waits for the whole ring: every value, then a hop
    # per tile of the ring (all 50, not a group's 25), at its pace; then the update's arithmetic
    _, update = tile_stage_cycles(plan, True)
    gap_us = rings[0][0][0].ring[4]
    # (cycles at 200 MHz; a multiply-add 90, and each value's row found by a division, 40)
    assert update == (16 * 151 + 50) * gap_us * 200 + 16 * 151 * (3 * 90 + 40)


@pytest.mark.parametrize("out_c", [1, 2, 3, 5, 6, 8, 16])
@pytest.mark.parametrize("atoms_per_tile", [1, 2, 3, 4, 7, 8, 16, 32])
def test_filter_groups_are_the_tiles_linked_through_shared_filters(out_c, atoms_per_tile):
    # tiles own contiguous atoms, channels last, as tiling lays them; a group must hold every tile
    # that shares a filter with it, directly or through others (a union-find that is not
    # transitive splits such chains), and no tile that does not
    n_atoms = 9 * out_c
    tiles = [Tile("conv", i, "conv", lo, min(n_atoms, lo + atoms_per_tile),
                  channels=sorted({a % out_c for a in range(lo, min(n_atoms, lo + atoms_per_tile))}))
             for i, lo in enumerate(range(0, n_atoms, atoms_per_tile))]
    vertex = VertexPlan("conv", 1, "conv", n_atoms, atoms_per_tile, tiles)
    reach = {}
    for t in tiles:  # the reference: a search over "shares a filter with"
        seen, todo = {t.index}, [t]
        while todo:
            u = todo.pop()
            for w in tiles:
                if w.index not in seen and set(w.channels) & set(u.channels):
                    seen.add(w.index)
                    todo.append(w)
        reach[t.index] = frozenset(seen)
    want = sorted({s for s in reach.values() if len(s) > 1}, key=min)
    got = [frozenset(t.index for t in g) for g in filter_groups(vertex)]
    assert got == want
