"""Decompose layers into tiles (machine vertices) that fit one core, and connect them.

Tiles own contiguous, power-of-two aligned ranges of their layer's atoms, so
that a tile's keys are one key/mask pair and `key - layer base` is the atom's
index in the layer (the weight column it multiplies, on the receiving side).

Policies:
* `neuron_per_core`: one atom per core everywhere (the thesis prototype's
  design, spiDNN: every neuron and every input value is a core).
* `auto`: the largest power-of-two number of atoms whose working set fits a
  core's DTCM (spinn_dnn.memory); a Dense layer whose single neuron does not
  fit is split in two dimensions: blocks of W (rows x input columns) that send
  partial sums to one accumulator core per row block.

Routes connect a source tile only to the tiles that need its values: a
convolution or pooling tile receives only the source tiles its receptive
fields overlap, and sends its input errors only to the tiles that own them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinn_dnn import memory
from spinn_dnn.errors import DoesNotFitError
from spinn_dnn.layers import Layer
from spinn_dnn.machine import CORES_PER_BOARD, boards_for
from spinn_dnn.plan import MemoryItem, Plan, Route, Tile, VertexPlan

POLICIES = ("auto", "neuron_per_core")
RING_BATCH = 32  # the batch size the per-sample figures of a per-batch reduction assume
ERROR_ROUTINGS = ("per_tile", "multicast", "thesis", "deltas")
InFlight = int | Sequence[int]  # one count for every layer, or one per layer index


def slots_of(in_flight: InFlight, layer_index: int) -> int:
    """Samples in flight a layer's tiles keep buffers for."""
    return in_flight if isinstance(in_flight, int) else in_flight[layer_index]


def sends_deltas(layer: Layer) -> bool:
    """Whether, under error_routing "deltas", the layer sends dL/dz to the layer below instead
    of dL/dx: where each of its weights reads one input atom once per sample (a Dense layer, or a
    convolution whose kernel covers its whole input with one output position), the tiles below
    can keep an exact copy of the weights that read their atoms by summing the same gradient
    themselves (c_src/programs/layer.c, Deltas).  Other layers send errors as "per_tile".
    """
    if layer.kind == "dense":
        return True
    return (layer.kind == "conv" and not layer.fused and layer.out_shape[:2] == (1, 1)
            and layer.pads == (0, 0) and layer.kernel == layer.in_shape[:2])


def sends_kernel_deltas(layer: Layer, vertex: VertexPlan) -> bool:
    """Whether, under error_routing "deltas", a convolution sends dL/dz of its outputs (the
    "kernel" kind) rather than per_tile errors: where one gradient ring holds every tile and
    carries every filter.  The tiles below then hold a copy of the whole kernel; they cannot sum
    its gradient themselves (it sums over every output position), so they take the ring's final
    sums (partition "csum", the same packets as gsum) and step their copy as the layer's tiles
    step theirs, bit for bit (c_src/programs/layer.c, Deltas).  Elsewhere: per_tile errors.

    The tiles below may be a convolution's (the sender fused with its pooling) or a pooling
    layer's.  Sending to pooling tiles once made the layer below drop its own ring's packets at
    a router: the toolchain also sent every ring hop out on links to chips that route it nowhere,
    and those copies filled the links (route_pruning removes them now).
    """
    if layer.kind != "conv" or sends_deltas(layer):
        return False
    rings = gradient_rings(vertex)
    return (len(rings) == 1 and len(rings[0]) == len(vertex.tiles)
            and ring_filters(rings[0]) == (0, layer.conv_out_shape[2]))


def kernel_delta_keys(layer: Layer) -> int:
    """Keys per atom of a kernel-delta sender: one per convolution output its atom pools (max
    pooling sends only the winner's, average pooling every one), one where nothing is pooled."""
    return layer.pool_taps


def next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def receptive_mask(layer: Layer, lo: int, hi: int) -> np.ndarray:
    """Which of the layer's inputs (flat, channels last) output atoms [lo, hi) read."""
    if layer.kind == "dense":
        return np.ones(layer.n_inputs, dtype=bool)
    h, w, c = layer.in_shape
    mask = np.zeros((h, w, c), dtype=bool)
    oy, ox, oc = np.unravel_index(np.arange(lo, hi), layer.out_shape)
    (kh, kw), (sh, sw), (pt, pl) = layer.kernel, layer.strides, layer.pads
    if layer.kind == "conv":
        positions = set(zip(oy.tolist(), ox.tolist(), strict=True))
        if layer.fused:  # a pooled atom reads the convolution outputs of its pooling window
            positions = {at for y, x in positions for at in pool_window(layer, y, x)}
        for y, x in positions:
            r0, c0 = y * sh - pt, x * sw - pl
            mask[max(r0, 0):max(r0 + kh, 0), max(c0, 0):max(c0 + kw, 0), :] = True
    else:  # pooling: each output reads its own channel only
        for y, x, ch in zip(oy.tolist(), ox.tolist(), oc.tolist(), strict=True):
            r0, c0 = y * sh - pt, x * sw - pl
            mask[max(r0, 0):max(r0 + kh, 0), max(c0, 0):max(c0 + kw, 0), ch] = True
    return mask.ravel()


def pool_window(layer: Layer, y: int, x: int) -> list[tuple[int, int]]:
    """The convolution output positions the pooled position (y, x) of a fused layer pools
    (those inside the convolution's output: 'same' pooling skips the rest)."""
    (kh, kw), (sh, sw), (pt, pl) = layer.pool_kernel, layer.pool_strides, layer.pool_pads
    ch, cw, _ = layer.conv_out_shape
    r0, c0 = y * sh - pt, x * sw - pl
    return [(r, c) for r in range(max(r0, 0), min(r0 + kh, ch)) for c in range(max(c0, 0), min(c0 + kw, cw))]


def _span(mask: np.ndarray) -> tuple[int, int, int]:
    idx = np.flatnonzero(mask)
    return int(idx[0]), int(idx[-1]) + 1, int(idx.size)


def _sources_hit(mask: np.ndarray, sources: list[Tile]) -> list[Tile]:
    return [s for s in sources if mask[s.lo:s.hi].any()]


def _layer_tiles(layer: Layer, label: str, p: int, s: int, prev_out: list[Tile],
                 n_layers: int) -> list[Tile]:
    """Tiles of p atoms for a non-split layer, with their memory (key table estimated)."""
    tiles = []
    for i, lo in enumerate(range(0, layer.n_atoms, p)):
        hi = min(layer.n_atoms, lo + p)
        tile = Tile(label, i, _role(layer), lo, hi)
        if layer.kind == "input":
            tile.memory = memory.input_tile(hi - lo, with_labels=(i == 0))
            n_src = 0
        else:
            mask = receptive_mask(layer, lo, hi)
            tile.in_lo, tile.in_hi, tile.n_in_needed = _span(mask)
            n_src = len(_sources_hit(mask, prev_out))
            span = tile.in_hi - tile.in_lo
            if layer.kind == "dense":
                split_softmax = (layer.activation == "softmax" and layer.n_atoms > p
                                 and layer.index == n_layers - 1)
                tile.memory = memory.dense(hi - lo, layer.n_inputs, s, layer.index == n_layers - 1,
                                           -(-layer.n_atoms // p) if split_softmax else 0)
            else:
                tile.channels = sorted(set((np.arange(lo, hi) % layer.out_shape[2]).tolist()))
                if layer.kind == "conv":
                    tile.memory = memory.conv(hi - lo, len(tile.channels), layer.fan_in, span, s,
                                              layer.out_shape[2], layer.pool, layer.pool_taps)
                else:
                    tile.memory = memory.pool(hi - lo, span, s, layer.kind == "maxpool")
        tile.memory = memory.fixed(n_src + memory.KEY_TABLE_RESERVE) + tile.memory
        tiles.append(tile)
    return tiles


def _role(layer: Layer) -> str:
    return {"input": "input", "dense": "dense", "conv": "conv"}.get(layer.kind, "pool")


def _fits(tiles: list[Tile]) -> bool:
    return all(t.bytes_in("dtcm") <= memory.DTCM_BYTES for t in tiles)


def _split_dense(layer: Layer, s: int, prev_out: list[Tile]) -> tuple[VertexPlan, VertexPlan]:
    """Blocks of W plus accumulators, for a Dense layer whose one neuron overflows DTCM."""
    m, n = layer.n_inputs, layer.n_atoms
    reserve = memory.fixed(len(prev_out) + memory.KEY_TABLE_RESERVE)

    def block_fits(rows: int, cols: int) -> bool:
        return memory.dtcm_total(reserve + memory.block(rows, cols, s)) <= memory.DTCM_BYTES

    # Every power-of-two column width that fits, with the most rows that fit beside it;
    # keep the shape that needs the fewest cores (blocks plus one accumulator per row block).
    best: tuple[int, int, int] | None = None
    cb = next_pow2(m)
    while cb >= 1:
        if block_fits(1, cb):
            rb = 1
            while rb < next_pow2(n) and block_fits(rb * 2, cb):
                rb *= 2
            rows = -(-n // rb)
            cores = rows * -(-m // cb) + rows
            if best is None or cores < best[0]:
                best = (cores, rb, cb)
        cb //= 2
    if best is None:
        raise DoesNotFitError(f"layer '{layer.name}': even a 1x1 block of W does not fit one core's DTCM")
    _, rb, cb = best
    n_rows, n_cols = -(-n // rb), -(-m // cb)
    blocks_label, acc_label = f"{layer.name}/blocks", layer.name
    blocks = []
    for r in range(n_rows):
        for c in range(n_cols):
            lo, hi = r * rb, min(n, (r + 1) * rb)
            clo, chi = c * cb, min(m, (c + 1) * cb)
            t = Tile(blocks_label, len(blocks), "block", lo, hi, clo, chi, chi - clo,
                     row_block=r, col_block=c)
            n_src = sum(1 for p in prev_out if p.lo < chi and p.hi > clo)
            t.memory = memory.fixed(n_src + memory.KEY_TABLE_RESERVE) + memory.block(hi - lo, chi - clo, s)
            blocks.append(t)
    accs = []
    for r in range(n_rows):
        lo, hi = r * rb, min(n, (r + 1) * rb)
        t = Tile(acc_label, r, "acc", lo, hi, 0, m, m, row_block=r)
        t.memory = memory.fixed(n_cols + memory.KEY_TABLE_RESERVE) + memory.accumulator(hi - lo, n_cols, s)
        accs.append(t)
    if not _fits(blocks) or not _fits(accs):
        raise DoesNotFitError(f"layer '{layer.name}': even a 1x1 block of W does not fit one core's DTCM")
    return (VertexPlan(blocks_label, layer.index, "block", n_rows * n_cols * rb, rb, blocks),
            VertexPlan(acc_label, layer.index, "acc", n, rb, accs))


def tile_layers(layers: list[Layer], policy: str, in_flight: InFlight,
                max_atoms_per_core: int | None = None,
                error_routing: str = "per_tile",
                atom_caps: dict[int, int] | None = None) -> tuple[list[VertexPlan], list[Route]]:
    """Vertices (tiles) of every layer and the routes between them.

    `max_atoms_per_core` (auto only, rounded down to a power of two) trades cores
    for parallelism: fewer atoms per core means more cores working at once.
    `error_routing` (ERROR_ROUTINGS): "per_tile" sends each error to the tile that
    owns its atom; "multicast" sends every error to every tile of the layer below,
    paced; "thesis" multicasts them too, sent back to back as the thesis
    prototype did (kept to reproduce its dropped packets).  `in_flight` is one count of samples
    in flight for every layer or one per layer index (training.layer_slots).  `atom_caps` (layer index: atoms)
    bounds a layer's atoms per tile (spinn_dnn.fusion.fused_caps).

    A layer whose tiles do not fit with the key entries of forward runs (fwd_runs) takes its
    inputs in one partition per source tile instead, before its tiles are made smaller.
    Under "deltas", a layer whose tiles do not fit even at one atom each because of the copies
    and delta buffers the next layer's deltas cost them falls back: the next layer sends it
    per_tile errors instead (per_tile_fallbacks lists those senders), and the tiling is redone.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}; allowed: {', '.join(POLICIES)}")
    if error_routing not in ERROR_ROUTINGS:
        raise ValueError(f"error_routing {error_routing!r}; allowed: {', '.join(ERROR_ROUTINGS)}")
    # A tile's error buffers depend on how many tiles of the next layer send it errors, known
    # only once every layer is tiled: halve the tiles of a layer that then overflows, and redo.
    caps: dict[int, int] = dict(atom_caps or {})
    input_sized = policy != "auto" or 0 in caps or len(layers) < 2
    per_tile_layers: set[int] = set()
    whole_fwd: set[int] = set()  # layers that take their inputs in one partition per source tile
    while True:
        vertices, routes = _tile_once(layers, policy, in_flight, max_atoms_per_core, error_routing, caps,
                                      frozenset(per_tile_layers), frozenset(whole_fwd))
        exact = exact_memory(vertices, routes, in_flight, layers)
        over = {}
        for v in vertices:
            if v.role in ("dense", "conv", "pool") and any(
                    sum(m.bytes for m in exact[(v.label, t.index)] if m.where == "dtcm") > memory.DTCM_BYTES
                    for t in v.tiles):
                over[v.layer] = v.atoms_per_tile
        # a layer that would fit without its forward runs' key entries takes whole partitions
        runs_cost = _forward_run_entries(vertices, routes)
        split_in = {li for li in over if all(
            sum(m.bytes for m in exact[(v.label, t.index)] if m.where == "dtcm")
            - memory.KEY_ENTRY_BYTES * runs_cost.get((v.label, t.index), 0) <= memory.DTCM_BYTES
            for v in vertices if v.layer == li for t in v.tiles)}
        if split_in - whole_fwd:  # the forward runs' key entries are what does not fit: drop them first
            whole_fwd |= split_in
            continue
        if over and all(p > 1 for p in over.values()):
            for li, p in over.items():
                caps[li] = p // 2
            continue
        stuck = {li + 1 for li, p in over.items() if p == 1 and _receives_deltas(vertices, routes, li)}
        if stuck - per_tile_layers:  # the copies are what does not fit: those senders send errors
            per_tile_layers |= stuck
            caps = dict(atom_caps or {})
            input_sized = policy != "auto" or 0 in caps or len(layers) < 2
            continue
        if not input_sized:  # once the first layer's tiles are known, size the input's to them
            input_sized = True
            cores = sum(len(v.tiles) for v in vertices)
            spare = boards_for(cores) * CORES_PER_BOARD - cores  # the split never needs another board
            max_tiles = len(vertices[0].tiles) + min(spare, len(vertices[1].tiles))
            p = input_atoms_per_tile(layers[1], vertices[1].tiles, vertices[0].atoms_per_tile, max_tiles)
            if p < vertices[0].atoms_per_tile:
                caps[0] = p
                continue
        return vertices, routes  # fits, or finalise_memory names the tile that cannot


def per_tile_fallbacks(plan: Plan) -> list[int]:
    """Under "deltas", the layers that could send deltas (sends_deltas) but send per_tile errors
    because the copies did not fit the tiles below (tile_layers)."""
    if plan.error_routing != "deltas":
        return []
    senders = {plan.vertex(r.src[0]).layer for r in plan.routes if r.pid == "bwd"}
    split = {v.layer for v in plan.vertices if v.role in ("block", "acc")}  # these never send deltas
    return sorted(li for li in senders if sends_deltas(plan.layers[li]) and not {li, li - 1} & split)


def _forward_run_entries(vertices: list[VertexPlan], routes: list[Route]) -> dict[tuple[str, int], int]:
    """Per tile, the key entries its forward runs (fwd_runs) add: one per run it hears, less one
    per source tile, which whole partitions would have needed anyway."""
    runs: dict[tuple[str, int], int] = {}
    sources: dict[tuple[str, int], set] = {}
    for r in routes:
        if r.partition.startswith("fwd."):
            for d in r.dst:
                runs[d] = runs.get(d, 0) + 1
                sources.setdefault(d, set()).add(r.src)
    return {d: n - len(sources[d]) for d, n in runs.items() if n > len(sources[d])}


def _receives_deltas(vertices: list[VertexPlan], routes: list[Route], layer: int) -> bool:
    labels = {v.label for v in vertices if v.layer == layer}
    return any(r.pid == "dz" and any(d[0] in labels for d in r.dst) for r in routes)


# Halving the input's tiles doubles its cores; it is worth that while it cuts the packets the
# first layer's cores receive by at least this fraction.
INPUT_SPLIT_MIN_SAVING = 0.25


def input_atoms_per_tile(first: Layer, first_tiles: list[Tile], atoms_per_tile: int, max_tiles: int) -> int:
    """Atoms per input tile: fewer than fit a core where that spares the first layer's cores
    packets they would only discard.

    A source tile's packets go to every tile that reads any of its atoms (one key
    range, one route).  With the whole image on one input tile, each of LeNet-5's
    74 C1 tiles received all 784 pixels to use 58 of them on average (72
    without fused pooling): 58,016 deliveries per sample where 4,320 (5,293)
    are needed, half or more of all the deliveries of a training sample.
    Tiles of a few image rows go only to the tiles whose receptive fields reach
    those rows.  A Dense first layer reads every input, so its input stays on
    as few tiles as fit (a Dense layer split into blocks reads column ranges,
    and its input is split along them).  At most `max_tiles` input tiles (the
    caller adds no more than the first layer has, and none that would need
    another board).  Known limit: the halving stops at the first step that
    saves less than a quarter, even where a later step would save more.
    """
    n = first.n_inputs
    reads = [np.flatnonzero(_tile_mask(first, t)) for t in first_tiles]

    def deliveries(p: int) -> int:  # packets x receiving tiles, per sample
        blocks = np.concatenate([np.unique(r // p) for r in reads])  # input tiles each first tile hears
        return int(np.sum(np.minimum(n, (blocks + 1) * p) - blocks * p))

    p, got = atoms_per_tile, deliveries(atoms_per_tile)
    while p > 1 and -(-n // (p // 2)) <= max_tiles:
        half = deliveries(p // 2)
        if half > (1 - INPUT_SPLIT_MIN_SAVING) * got:
            break
        p, got = p // 2, half
    return p


def _tile_once(layers: list[Layer], policy: str, in_flight: InFlight, max_atoms_per_core: int | None,
               error_routing: str, caps: dict[int, int],
               per_tile_layers: frozenset[int] = frozenset(),
               whole_fwd: frozenset[int] = frozenset()) -> tuple[list[VertexPlan], list[Route]]:
    vertices: list[VertexPlan] = []
    ins: list[VertexPlan] = []  # per layer: the vertex receiving its inputs
    outs: list[VertexPlan] = []  # per layer: the vertex emitting its outputs
    for layer in layers:
        prev_out = outs[-1].tiles if outs else []
        label = layer.name
        if policy == "neuron_per_core":
            candidates = [1]
        else:
            top = next_pow2(layer.n_atoms)
            if max_atoms_per_core:
                top = min(top, 1 << (max(1, max_atoms_per_core).bit_length() - 1))
            candidates = [top >> k for k in range(top.bit_length())]
        candidates = [p for p in candidates if p <= caps.get(layer.index, p)]
        chosen = None
        for p in candidates:
            tiles = _layer_tiles(layer, label, p, slots_of(in_flight, layer.index), prev_out, len(layers))
            if _fits(tiles):
                chosen = VertexPlan(label, layer.index, _role(layer), layer.n_atoms, p, tiles)
                break
        if chosen is not None:
            vertices.append(chosen)
            ins.append(chosen)
            outs.append(chosen)
            continue
        if layer.kind == "dense" and policy == "auto":
            blocks, accs = _split_dense(layer, slots_of(in_flight, layer.index), prev_out)
            vertices += [blocks, accs]
            ins.append(blocks)
            outs.append(accs)
            continue
        worst = max(tiles, key=lambda t: t.bytes_in("dtcm"))
        raise DoesNotFitError(
            f"layer {layer.index} '{layer.name}' ({layer.kind}): one atom per core needs "
            f"{worst.bytes_in('dtcm')} bytes of DTCM, more than {memory.DTCM_BYTES}"
            + ("; policy 'auto' splits Dense layers in two dimensions" if layer.kind == "dense" else "")
        )
    routes = _routes(layers, ins, outs, error_routing, per_tile_layers, whole_fwd)
    return vertices, routes


def _routes(layers: list[Layer], ins: list[VertexPlan], outs: list[VertexPlan],
            error_routing: str, per_tile_layers: frozenset[int] = frozenset(),
            whole_fwd: frozenset[int] = frozenset()) -> list[Route]:
    routes: list[Route] = []
    for li in range(1, len(layers)):
        layer, src_v, dst_v = layers[li], outs[li - 1], ins[li]
        masks = {t.index: _tile_mask(layer, t) for t in dst_v.tiles}
        runs = None if li in whole_fwd else fwd_runs(src_v.tiles, dst_v.tiles, masks)
        for s in src_v.tiles:
            if runs is not None:  # a partition per run of atoms with the same readers
                for j, (lo, hi, readers) in enumerate(runs[s.index]):
                    routes.append(Route("fwd", (src_v.label, s.index), [(dst_v.label, i) for i in readers],
                                        hi - lo, partition=f"fwd.{j}", span=(lo, hi)))
                continue
            dst = [(dst_v.label, t.index) for t in dst_v.tiles if masks[t.index][s.lo:s.hi].any()]
            if dst:
                routes.append(Route("fwd", (src_v.label, s.index), dst, s.n_atoms))
        if li >= 2:  # errors go back to every layer but the input
            # One partition per receiving tile, so that each error goes only to the tile that
            # owns its atom.  A tile sends the errors of the inputs its receptive fields cover,
            # not of its whole span (channels-last spans take in positions no window reads:
            # their error is zero).  Where receptive fields are local (convolution, pooling)
            # only the few tiles that overlap a receiver send to it; keys.allocate_keys makes
            # every tile of the layer a sender of every such partition all the same, because
            # the toolchain's router routes a partition only through its senders' chips, and a
            # few scattered senders need not be on chips that connect.
            plain = ins[li] is outs[li] and ins[li - 1] is outs[li - 1] and li not in per_tile_layers
            deltas = error_routing == "deltas" and plain and sends_deltas(layer)
            kernel = (error_routing == "deltas" and plain
                      and sends_kernel_deltas(layer, dst_v))
            for t in dst_v.tiles:
                hit = _sources_hit(masks[t.index], src_v.tiles)
                if deltas:  # the tile's dL/dz to every tile whose atoms it reads
                    routes.append(Route("dz", (dst_v.label, t.index), [(src_v.label, s.index) for s in hit],
                                        t.n_atoms))
                    continue
                if kernel:  # dL/dz of the convolution outputs its atoms pool, keyed by window tap
                    taps = kernel_delta_keys(layer)
                    sent = t.n_atoms * (taps if layer.pool == "average" else 1)
                    routes.append(Route("dz", (dst_v.label, t.index), [(src_v.label, s.index) for s in hit],
                                        sent, n_keys=t.n_atoms * taps))
                    continue
                if error_routing in ("multicast", "thesis"):
                    routes.append(Route("bwd", (dst_v.label, t.index), [(src_v.label, s.index) for s in hit],
                                        t.n_in_needed))
                    continue
                for s in hit:
                    span = (max(s.lo, t.in_lo), min(s.hi, t.in_hi))
                    routes.append(Route("bwd", (dst_v.label, t.index), [(src_v.label, s.index)],
                                        int(masks[t.index][span[0]:span[1]].sum()),
                                        partition=f"bwd.{s.index}", span=span))
        if ins[li] is not outs[li]:  # split layer: blocks <-> accumulators
            acc_v = outs[li]
            for b in dst_v.tiles:
                routes.append(Route("partial", (dst_v.label, b.index), [(acc_v.label, b.row_block)],
                                    b.n_atoms))
            for a in acc_v.tiles:
                dst = [(dst_v.label, b.index) for b in dst_v.tiles if b.row_block == a.index]
                routes.append(Route("delta", (acc_v.label, a.index), dst, a.n_atoms))
    for li, layer in enumerate(layers):
        if layer.kind == "conv":
            receivers = sorted({d for r in routes if r.pid == "dz" and r.n_keys and r.src[0] == ins[li].label
                                for d in r.dst})
            ring = gradient_ring(layer, ins[li])
            for r in list(ring):
                if r.pid == "gsum" and receivers:  # the final sums to the kernel's copies too
                    ring.append(Route("csum", r.src, receivers, r.packets_per_sample, partition="grad",
                                      n_keys=r.n_keys))
            routes += ring
    last = outs[-1]
    routes.append(Route("label", (outs[0].label, 0), [(last.label, t.index) for t in last.tiles], 1))
    if layers[-1].activation == "softmax" and len(last.tiles) > 1:
        everyone = [(last.label, t.index) for t in last.tiles]
        for t in last.tiles:  # each tile's largest logit and its sum of exponentials (layer.c)
            routes.append(Route("softmax", (last.label, t.index), everyone, 2, n_keys=2))
    return routes


# A source tile's activations go, by default, in one partition to every tile that reads any of
# them.  Where the readers of its atoms differ (local receptive fields), it sends them in one
# partition per run of atoms with the same readers instead, when that cuts the layer's deliveries
# by at least this fraction; at most FWD_MAX_RUNS partitions per tile (adjacent runs merged).
FWD_SPLIT_MIN_SAVING = 0.1
FWD_MAX_RUNS = 32


def fwd_runs(sources: list[Tile], readers: list[Tile],
             masks: dict[int, np.ndarray]) -> dict[int, list[tuple[int, int, list[int]]]] | None:
    """Per source tile, its forward partitions: runs [lo, hi) of atoms with the reading tiles of
    each (atoms no tile reads are not sent); None where one partition per source tile is as good.

    One partition per source tile delivered each of LeNet-5's input pixels to 24 C1 tiles where
    5.5 read it (18,960 deliveries per sample where 4,320 are needed), and C1's outputs to 12 C3
    tiles where 9 do (14,384 for 10,800): every tile that reads any of a source's atoms got them
    all.  A partition is routed as one key block, so a finer choice of receivers needs more.
    """
    if not sources or not readers:
        return None
    reads = np.stack([masks[t.index] for t in readers])  # readers x the layer's inputs
    if reads.all():
        return None  # every reader reads everything (a Dense layer)
    out: dict[int, list[tuple[int, int, list[int]]]] = {}
    whole = split = 0
    for s in sources:
        block = reads[:, s.lo:s.hi]
        whole += s.n_atoms * int(block.any(axis=1).sum())
        runs: list[tuple[int, int, frozenset[int]]] = []
        for a in range(s.n_atoms):
            who = frozenset(np.flatnonzero(block[:, a]).tolist())
            if runs and runs[-1][2] == who and runs[-1][1] == s.lo + a:
                runs[-1] = (runs[-1][0], s.lo + a + 1, who)
            elif who:
                runs.append((s.lo + a, s.lo + a + 1, who))
        while len(runs) > FWD_MAX_RUNS:  # merge the neighbours whose union adds the fewest deliveries
            i = min(range(len(runs) - 1), key=lambda i, runs=runs: _merge_cost(runs[i], runs[i + 1]))
            runs[i:i + 2] = [(runs[i][0], runs[i + 1][1], runs[i][2] | runs[i + 1][2])]
        split += sum((hi - lo) * len(who) for lo, hi, who in runs)
        out[s.index] = [(lo, hi, sorted(readers[i].index for i in who)) for lo, hi, who in runs]
    return out if split <= (1 - FWD_SPLIT_MIN_SAVING) * whole else None


def _merge_cost(a: tuple[int, int, frozenset[int]], b: tuple[int, int, frozenset[int]]) -> int:
    """Deliveries per sample that merging two adjacent forward runs adds."""
    (a0, a1, wa), (b0, b1, wb) = a, b
    return (b1 - a0) * len(wa | wb) - (a1 - a0) * len(wa) - (b1 - b0) * len(wb)


def filter_groups(vertex: VertexPlan) -> list[list[Tile]]:
    """The tiles of a convolution that must agree on some filter's update, in groups.

    Two tiles are in one group when they hold a copy of a common filter, and
    groups join through shared tiles, so every copy of a filter is in one
    group.  Groups of one tile (nothing shared) are left out.  The tiles of
    all the groups reduce their gradients in one ring (gradient_ring says
    why not one ring per group).  LeNet-5's fused C3 has 50 tiles, each one
    position's 8 of 16 filters: two groups of 25.
    """
    parent = list(range(len(vertex.tiles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    holder: dict[int, int] = {}  # filter -> first tile holding it
    for i, t in enumerate(vertex.tiles):
        for c in t.channels:
            if c in holder:
                parent[root(i)] = root(holder[c])
            else:
                holder[c] = i
    groups: dict[int, list[Tile]] = {}
    for i, t in enumerate(vertex.tiles):
        groups.setdefault(root(i), []).append(t)
    return [g for g in sorted(groups.values(), key=lambda g: g[0].index) if len(g) > 1]


def ring_filters(group: list[Tile]) -> tuple[int, int]:
    """The filters [lo, hi) a group's ring carries: every filter its tiles hold (and, where
    those are not contiguous, the ones between, as zeros)."""
    held = [c for t in group for c in t.channels]
    return min(held), max(held) + 1


def gradient_rings(vertex: VertexPlan) -> list[list[Tile]]:
    """The rings of a convolution's tiles, each in ring order: one, of every tile sharing a filter
    (gradient_ring says why not one per filter group), or none."""
    groups = filter_groups(vertex)
    return [sorted((t for g in groups for t in g), key=lambda t: t.index)] if groups else []


RING_GAP_US = 4  # between a gradient ring's values (params.ring_gap_us, layer.c)


def ring_gap_us() -> int:
    """Microseconds between a gradient ring's values (params.ring_gap_us, layer.c): enough for a
    tile's packet handler to keep up with a ring value and a final sum per gap.

    It was n_tiles / 2 (twice that on a fused layer): the toolchain sent every ring value across
    every link among the layer's chips, even between two tiles of one chip, so a link carried
    a value from every tile at once and dropped them at 4 us (fused LeNet-5's C1 at n/2 too).
    Those copies reached no core; route_pruning removes them, and at 4 us LeNet-1, LeNet-4 and
    LeNet-5 (plain and fused, per_tile and deltas) train 1,024-2,048 samples without a drop
    (benchmarks/emulator_throughput.py), fused LeNet-5 with deltas 1.32x faster (modeled).
    """
    return RING_GAP_US


def gradient_ring(layer: Layer, vertex: VertexPlan) -> list[Route]:
    """The kernel-gradient reduction of a convolution whose filters have copies on several tiles.

    One ring of the tiles that share filters (filter_groups): tile i sends the
    running sum of the gradient of each filter the ring carries to tile i + 1
    (gring), each adding its own (zero for a filter it does not hold); the last
    sends the complete sums to all the others (gsum), so every copy makes the
    same update from the same sum.  Packets are per batch: `packets_per_sample`
    counts them as if spread over the batch (rounded up).  Sets each ring
    tile's `ring` (its program's parameters: the programs take one ring per
    group, each starting after a delay at its own pace).

    One ring per filter group, each carrying only its group's filters and
    all running at once (half the values for fused LeNet-5's C3), was tried
    and not kept: on a fused layer of 144 one-atom tiles in four rings it
    dropped a ring packet (link busy), started together or interleaved at a
    quarter of the rate, while one ring drops nothing there.  That was before
    route_pruning took out the toolchain's copies of ring values to chips that
    route them nowhere, the likely cause; not tried again since.
    """
    routes = []
    rings = gradient_rings(vertex)
    # (the final sums also go to the `copies` tiles below holding the kernel, sends_kernel_deltas)
    gap = ring_gap_us()
    for k, group in enumerate(rings):
        lo, hi = ring_filters(group)
        values = (hi - lo) * (layer.fan_in + 1)
        per_sample = -(-values // RING_BATCH)
        for t in group:
            t.ring = (int(t is group[0]), lo, hi - lo, k * gap if t is group[0] else 0, gap * len(rings))
        # one toolchain partition ("grad") for both kinds, so that every tile of the group is among
        # its senders (the router needs the senders' chips to connect)
        routes += [Route("gring", (vertex.label, a.index), [(vertex.label, b.index)], per_sample,
                         partition="grad", n_keys=values) for a, b in zip(group, group[1:], strict=False)]
        others = [(vertex.label, t.index) for t in group[:-1]]
        routes.append(Route("gsum", (vertex.label, group[-1].index), others, per_sample, partition="grad",
                            n_keys=values))
    return routes


def _tile_mask(layer: Layer, tile: Tile) -> np.ndarray:
    if tile.role == "block":
        mask = np.zeros(layer.n_inputs, dtype=bool)
        mask[tile.in_lo:tile.in_hi] = True
        return mask
    return receptive_mask(layer, tile.lo, tile.hi)


def exact_memory(vertices: list[VertexPlan], routes: list[Route], in_flight: InFlight,
                 layers: list[Layer]) -> dict[tuple[str, int], list[MemoryItem]]:
    """Every tile's memory items once the routes are known: the exact key table (an entry per
    incoming source) and error buffers (one per tile sending it errors)."""
    entries: dict[tuple[str, int], int] = {}
    err_senders: dict[tuple[str, int], int] = {}
    copy_units = delta_copies(vertices, routes, layers)
    deltas: dict[tuple[str, int], int] = {}  # deltas per sample a tile receives
    kernel: set[tuple[str, int]] = set()  # tiles receiving a convolution's deltas (kernel kind)
    for r in routes:
        for d in r.dst:
            entries[d] = entries.get(d, 0) + 1
            if r.pid == "bwd":
                err_senders[d] = err_senders.get(d, 0) + 1
            if r.pid == "dz":
                deltas[d] = deltas.get(d, 0) + r.packets_per_sample
                if r.n_keys:
                    kernel.add(d)
    out = {}
    for v in vertices:
        slots = slots_of(in_flight, v.layer)
        for t in v.tiles:
            ref = (v.label, t.index)
            items = []
            for m in t.memory:
                if m.where == "dtcm" and m.name in ("stack+globals (estimate)", "key table"):
                    continue
                if m.where == "dtcm" and m.name == "error buffers":
                    if ref in kernel:
                        m = memory.kernel_delta_buffers(deltas[ref], t.n_atoms, slots)
                    elif ref in deltas:
                        m = memory.delta_buffers(deltas[ref], slots, entries.get(ref, 0))
                    else:
                        m = memory.error_buffers(t.n_atoms, slots, err_senders.get(ref, 0))
                items.append(m)
            if ref in copy_units:
                items += memory.weight_copy(*copy_units[ref])
            out[ref] = memory.fixed(entries.get(ref, 0)) + items
    return out


def delta_copies(vertices: list[VertexPlan], routes: list[Route],
                 layers: list[Layer]) -> dict[tuple[str, int], tuple[int, int]]:
    """Tiles that receive deltas (error_routing "deltas"): the shape (rows, row length) of their
    copy of the next layer's weights.  Dense kind: every unit of it (each reads all their atoms)
    x their atoms; kernel kind (a dz route with its own key count): the whole kernel, a row per
    filter with its bias, as the layer's own tiles hold it."""
    by_label = {v.label: v for v in vertices}
    rows = {}
    for v in vertices:
        for t in v.tiles:
            rows[(v.label, t.index)] = t.n_atoms
    out = {}
    for r in routes:
        if r.pid != "dz":
            continue
        sender = by_label[r.src[0]]
        for d in r.dst:
            if r.n_keys:
                layer = layers[sender.layer]
                out[d] = (layer.conv_out_shape[2], layer.fan_in + 1)
            else:
                out[d] = (sender.n_atoms, rows[d])
    return out


def finalise_memory(plan: Plan) -> None:
    """Replace the estimates (key table, error buffers) by the exact figures and check every budget."""
    exact = exact_memory(plan.vertices, plan.routes, plan.layer_in_flight or plan.in_flight, plan.layers)
    for v in plan.vertices:
        for t in v.tiles:
            t.memory = exact[(v.label, t.index)]
            if t.bytes_in("dtcm") > memory.DTCM_BYTES:
                raise DoesNotFitError(f"tile {t.label}: {t.bytes_in('dtcm')} bytes of DTCM > "
                                      f"{memory.DTCM_BYTES} once its key table and error buffers "
                                      f"are known")
            sdram = t.bytes_in("sdram")
            if sdram > memory.SDRAM_PER_CHIP:
                raise DoesNotFitError(
                    f"tile {t.label}: {sdram} bytes of SDRAM > a chip's {memory.SDRAM_PER_CHIP}")
