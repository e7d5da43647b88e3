"""The memory image of one tile: region layout, encoding, decoding and the C header.

This module is the single source of the layout.  The C programs include
c_src/include/spinn_dnn_regions.h, which `c_header()` generates from the
tables below (`python -m spinn_dnn.regions` rewrites it; a test checks the
committed header equals the generated one), so the two sides cannot drift.

Regions (all little-endian 32-bit words):
  PARAMS     params_t: what the tile is (role, layer geometry, atom ranges)
  KEYS       outgoing then incoming key entries (key_entry_t)
  WEIGHTS    weights_header_t, row ids, then float rows (Keras values, exact)
  OPTIMIZER  optimizer_t: learning rate, momentum, batch size
  WORK       reserved, no content: SDRAM working buffers (spinn_dnn.memory)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from spinn_dnn import memory
from spinn_dnn.layers import ACTIVATIONS, Layer
from spinn_dnn.plan import PARTITIONS, Plan, Route, Tile, VertexPlan
from spinn_dnn.tiling import ring_gap_us

MAGIC = 0x5D1A0001  # "spinn_dnn" image, layout version 1
REGIONS = ("PARAMS", "KEYS", "WEIGHTS", "OPTIMIZER", "WORK")
ROLES = ("input", "dense", "conv", "pool", "block", "acc")
# the core program (c_src/programs/<name>.c) each role runs; block and acc have none yet
PROGRAM_OF_ROLE = {"input": "input", "dense": "layer", "conv": "layer", "pool": "layer"}
POOL_KINDS = ("none", "max", "average")
# what the loss layer differentiates: sparse categorical cross-entropy of a softmax output
# (categorical cross-entropy with one-hot targets maps onto it) or mean squared error against
# the one-hot class vector
LOSSES = ("sce", "mse")

PARAM_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("magic", "u32", "MAGIC"),
    ("role", "u32", "ROLE_*"),
    ("layer_index", "u32", "0 = input"),
    ("n_layers", "u32", "layers in the model, input included"),
    ("tile_index", "u32", "index of this tile in its vertex"),
    ("n_tiles", "u32", "tiles of this vertex"),
    ("atom_lo", "u32", "first atom (output value) this tile owns"),
    ("atom_hi", "u32", "one past its last atom"),
    ("n_layer_atoms", "u32", "atoms of the whole layer"),
    ("n_inputs", "u32", "input atoms of the layer"),
    ("in_lo", "u32", "first input atom the tile needs"),
    ("in_hi", "u32", "one past the last"),
    ("n_in_needed", "u32", "inputs its receptive fields cover"),
    ("in_h", "u32", "input shape (H, W, C), channels last"),
    ("in_w", "u32", ""),
    ("in_c", "u32", ""),
    ("out_h", "u32", "output shape"),
    ("out_w", "u32", ""),
    ("out_c", "u32", ""),
    ("kernel_h", "u32", "conv/pool window"),
    ("kernel_w", "u32", ""),
    ("stride_h", "u32", ""),
    ("stride_w", "u32", ""),
    ("pad_top", "u32", "zero padding before the first row ('same')"),
    ("pad_left", "u32", ""),
    ("pool", "u32", "POOL_*"),
    ("activation", "u32", "ACT_*"),
    ("use_bias", "u32", ""),
    ("dropout", "f32", "rate applied to the outputs in training"),
    ("in_flight", "u32", "samples in flight"),
    ("row_block", "u32", "split layers: row block of this block/accumulator"),
    ("col_block", "u32", "split layers: input column block"),
    ("n_col_blocks", "u32", "split layers: blocks reporting to each accumulator"),
    ("is_output", "u32", "1 on the loss layer"),
    ("samples_per_load", "u32", "input tiles: samples buffered in SDRAM"),
    ("work_bytes", "u32", "size of the WORK region"),
    ("unpaced_errors", "u32", "1: errors sent back to back, as the thesis prototype did "
                              "(error_routing thesis)"),
    ("ring_gap_us", "u32", "conv: microseconds between gradient ring values (tiling.ring_gap_us)"),
    ("pool_kernel_h", "u32", "conv with pooling folded on (pool != POOL_NONE): the pooling window over "
                             "the conv outputs (out_h x out_w); the atoms are the pooled values"),
    ("pool_kernel_w", "u32", ""),
    ("pool_stride_h", "u32", ""),
    ("pool_stride_w", "u32", ""),
    ("pool_pad_top", "u32", ""),
    ("pool_pad_left", "u32", ""),
    ("pool_out_h", "u32", "the pooled shape (channels: out_c)"),
    ("pool_out_w", "u32", ""),
    ("ring_first", "u32", "conv in a gradient ring: 1 on the tile that starts the ring"),
    ("ring_filter_lo", "u32", "conv in a gradient ring: the first filter the ring carries"),
    ("ring_filters", "u32", "conv in a gradient ring: how many filters it carries"),
    ("ring_start_us", "u32", "conv, the tile starting a ring: microseconds it waits first "
                             "(tiling.gradient_ring)"),
    ("copy_kind", "u32", "error_routing deltas, a tile holding a copy: 0 the dense kind (copy_rows units "
                         "x its atoms), 1 the kernel kind (the next layer's whole kernel; next_* below)"),
    ("delta_fifo", "u32", "kernel kind: places in the queue of incoming deltas"),
    ("next_out_c", "u32", "kernel kind: the next layer's filters"),
    ("next_taps", "u32", "its keys per atom: the convolution outputs a pooled atom covers (1: none)"),
    ("next_pool_kernel_w", "u32", "its pooling window's width (1: none)"),
    ("next_pool_out_w", "u32", "its atoms' grid width (pooled, or the convolution's)"),
    ("next_pool_stride_h", "u32", ""),
    ("next_pool_stride_w", "u32", ""),
    ("next_pool_pad_top", "u32", ""),
    ("next_pool_pad_left", "u32", ""),
    ("next_kernel_h", "u32", "its convolution"),
    ("next_kernel_w", "u32", ""),
    ("next_stride_h", "u32", ""),
    ("next_stride_w", "u32", ""),
    ("next_pad_top", "u32", ""),
    ("next_pad_left", "u32", ""),
    ("next_in_w", "u32", "its input grid (this layer's atoms): width and channels"),
    ("next_in_c", "u32", ""),
)
KEY_ENTRY_FIELDS = (
    ("partition", "u32", "PART_*"),
    ("key", "u32", "first key"),
    ("mask", "u32", "key & mask == first key for all the entry's keys"),
    ("offset", "u32", "atom index of the first key (fwd: layer atom; bwd: input atom; softmax: tile)"),
    ("count", "u32", "number of keys"),
    ("per_sample", "u32", "packets per sample: the keys, but for the errors of a conv or pool tile "
                          "only the inputs its receptive fields cover"),
)
WEIGHTS_HEADER_FIELDS = (
    ("n_rows", "u32", "rows: neurons (dense, block, acc) or filters (conv)"),
    ("row_length", "u32", "floats per row: fan-in (+1 for the bias, last)"),
    ("copy_rows", "u32", "error_routing deltas: units of the next layer whose weights the tile copies"),
    ("copy_length", "u32", "floats per copied row: the next layer's weights from this tile's atoms"),
)
OPTIMIZER_FIELDS = (
    ("learning_rate", "f32", "set per epoch by the host"),
    ("momentum", "f32", ""),
    ("nesterov", "u32", ""),
    ("batch_size", "u32", "samples per weight update; 0: inference only (no backward pass)"),
    ("epoch_samples", "u32", "samples per epoch: the last batch of an epoch may be short"),
    ("loss", "u32", "LOSS_*: what the loss layer differentiates"),
)


def _struct(fields: tuple[tuple[str, str, str], ...], values: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(fields), dtype="<u4")
    for i, (name, kind, _) in enumerate(fields):
        v = values.get(name, 0)
        out[i] = np.array(v, dtype="<f4").view("<u4") if kind == "f32" else int(v)
    return out


def _unstruct(fields: tuple[tuple[str, str, str], ...], words: np.ndarray) -> dict[str, float]:
    return {name: (float(words[i:i + 1].view("<f4")[0]) if kind == "f32" else int(words[i]))
            for i, (name, kind, _) in enumerate(fields)}


def _pool_kind(layer: Layer) -> str:
    if layer.fused:
        return layer.pool
    return {"maxpool": "max", "avgpool": "average"}.get(layer.kind, "none")


def params(plan: Plan, vertex: VertexPlan, tile: Tile, work_bytes: int) -> np.ndarray:
    layer = plan.layers[vertex.layer]
    n_cols = max((t.col_block for t in vertex.tiles), default=0) + 1 if vertex.role == "block" else 0
    if vertex.role == "acc":
        n_cols = max(t.col_block for t in plan.vertex(f"{layer.name}/blocks").tiles) + 1
    is_output = layer.index == len(plan.layers) - 1 and tile.role != "block"
    out_h, out_w, out_c = layer.conv_out_shape  # a fused layer's pooled shape is pool_out_*
    values = {
        "magic": MAGIC, "role": ROLES.index(tile.role), "layer_index": layer.index,
        "n_layers": len(plan.layers), "tile_index": tile.index, "n_tiles": len(vertex.tiles),
        "atom_lo": tile.lo, "atom_hi": tile.hi, "n_layer_atoms": layer.n_atoms, "n_inputs": layer.n_inputs,
        "in_lo": tile.in_lo, "in_hi": tile.in_hi, "n_in_needed": tile.n_in_needed,
        "in_h": layer.in_shape[0], "in_w": layer.in_shape[1], "in_c": layer.in_shape[2],
        "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "kernel_h": layer.kernel[0], "kernel_w": layer.kernel[1],
        "stride_h": layer.strides[0], "stride_w": layer.strides[1],
        "pad_top": layer.pads[0], "pad_left": layer.pads[1],
        "pool": POOL_KINDS.index(_pool_kind(layer)), "activation": ACTIVATIONS.index(layer.activation),
        "use_bias": int(layer.use_bias), "dropout": layer.dropout, "in_flight": plan.slots(layer.index),
        "row_block": tile.row_block, "col_block": tile.col_block, "n_col_blocks": n_cols,
        "is_output": int(is_output),
        "samples_per_load": memory.SAMPLES_PER_LOAD if tile.role == "input" or is_output else 0,
        "work_bytes": work_bytes,
        "unpaced_errors": int(plan.error_routing == "thesis"),
        "ring_gap_us": ring_gap_us(),
    }
    if tile.ring is not None:
        values.update(zip(("ring_first", "ring_filter_lo", "ring_filters", "ring_start_us", "ring_gap_us"),
                          tile.ring, strict=True))
    sender = kernel_delta_sender(plan, tile)
    if sender is not None:
        values.update(_next_geometry(sender))
        ref = (tile.vertex, tile.index)
        values["delta_fifo"] = memory.delta_fifo(
            sum(r.packets_per_sample for r in plan.routes if r.pid == "dz" and ref in r.dst))
    if layer.fused:
        values.update({
            "pool_kernel_h": layer.pool_kernel[0], "pool_kernel_w": layer.pool_kernel[1],
            "pool_stride_h": layer.pool_strides[0], "pool_stride_w": layer.pool_strides[1],
            "pool_pad_top": layer.pool_pads[0], "pool_pad_left": layer.pool_pads[1],
            "pool_out_h": layer.out_shape[0], "pool_out_w": layer.out_shape[1],
        })
    return _struct(PARAM_FIELDS, values)


def kernel_delta_sender(plan: Plan, tile: Tile) -> Layer | None:
    """The convolution whose deltas (kernel kind) the tile takes, or None."""
    for r in plan.routes:
        if r.pid == "dz" and r.n_keys and (tile.vertex, tile.index) in r.dst:
            return plan.layers[plan.vertex(r.src[0]).layer]
    return None


def _next_geometry(conv: Layer) -> dict[str, int]:
    """The next_* parameters: where a kernel-kind delta's convolution output reads its inputs."""
    fused = conv.fused
    return {
        "copy_kind": 1, "next_out_c": conv.conv_out_shape[2], "next_taps": conv.pool_taps,
        "next_pool_kernel_w": conv.pool_kernel[1] if fused else 1,
        "next_pool_out_w": conv.out_shape[1],
        "next_pool_stride_h": conv.pool_strides[0] if fused else 1,
        "next_pool_stride_w": conv.pool_strides[1] if fused else 1,
        "next_pool_pad_top": conv.pool_pads[0] if fused else 0,
        "next_pool_pad_left": conv.pool_pads[1] if fused else 0,
        "next_kernel_h": conv.kernel[0], "next_kernel_w": conv.kernel[1],
        "next_stride_h": conv.strides[0], "next_stride_w": conv.strides[1],
        "next_pad_top": conv.pads[0], "next_pad_left": conv.pads[1],
        "next_in_w": conv.in_shape[1], "next_in_c": conv.in_shape[2],
    }


def _entry_offset(route: Route, src: Tile) -> int:
    if route.span is not None:
        return route.span[0]
    if route.pid == "bwd":
        return src.in_lo
    if route.pid == "softmax":
        return src.index
    if route.pid in ("label", "gring", "gsum", "csum"):
        return 0
    if route.pid == "dz" and route.n_keys:  # kernel kind: keys per atom, from the tile's first atom's
        return src.lo * (route.n_keys // src.n_atoms)
    return src.lo  # fwd, partial, delta, dz


def _entry(route: Route, src: Tile) -> dict:
    k, m, n = src.keys[route.partition]
    return {"partition": PARTITIONS.index(route.pid), "key": k, "mask": m,
            "offset": _entry_offset(route, src), "count": n,
            "per_sample": route.packets_per_sample if route.pid in ("bwd", "dz") else n}


def key_entries(plan: Plan, tile: Tile) -> tuple[list[dict], list[dict]]:
    """(outgoing, incoming) key entries of a tile, from the plan's fixed keys.

    Outgoing entries are grouped by partition kind and in atom order: a tile's
    error entries (one per receiving tile) follow each other, as its program
    expects (tile_out_count in c_src/programs/tile_common.h).
    """
    ref = (tile.vertex, tile.index)
    out = sorted((_entry(r, tile) for r in plan.routes if r.src == ref),
                 key=lambda e: (e["partition"], e["offset"]))
    inc = [_entry(r, plan.tile(r.src)) for r in plan.routes if ref in r.dst]
    return out, inc


def keys_region(plan: Plan, tile: Tile) -> np.ndarray:
    out, inc = key_entries(plan, tile)
    words = [np.array([len(out)], dtype="<u4")] + [_struct(KEY_ENTRY_FIELDS, e) for e in out]
    words += [np.array([len(inc)], dtype="<u4")] + [_struct(KEY_ENTRY_FIELDS, e) for e in inc]
    return np.concatenate(words)


def weight_rows(layer: Layer, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, rows) the tile holds, taken from the layer's Keras weights."""
    if tile.role in ("input", "pool"):
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    w = layer.kernel_matrix()  # (out channels, fan_in)
    b = layer.bias_vector()[:, None]
    if tile.role == "dense":
        ids = np.arange(tile.lo, tile.hi)
        return ids, np.hstack([w[ids], b[ids]])
    if tile.role == "conv":
        ids = np.array(tile.channels)
        return ids, np.hstack([w[ids], b[ids]])
    ids = np.arange(tile.lo, tile.hi)
    if tile.role == "block":
        return ids, np.ascontiguousarray(w[ids, tile.in_lo:tile.in_hi])
    return ids, np.ascontiguousarray(b[ids])  # acc: the bias


def weight_copy(plan: Plan, tile: Tile) -> np.ndarray | None:
    """error_routing "deltas": the next layer's weights that read the tile's atoms, (units, atoms),
    or for a convolution's deltas its whole kernel (filters, fan-in + bias), or None where the
    tile gets errors rather than deltas (tiling.delta_copies)."""
    senders = {r.src[0] for r in plan.routes if r.pid == "dz" and (tile.vertex, tile.index) in r.dst}
    if not senders:
        return None
    (label,) = senders
    layer = plan.layers[plan.vertex(label).layer]
    if kernel_delta_sender(plan, tile) is not None:  # the whole kernel, rows as the layer's tiles hold them
        return np.ascontiguousarray(np.hstack([layer.kernel_matrix(), layer.bias_vector()[:, None]]))
    return np.ascontiguousarray(layer.kernel_matrix()[:, tile.lo:tile.hi])


def weights_region(layer: Layer, tile: Tile, copy: np.ndarray | None = None) -> np.ndarray:
    ids, rows = weight_rows(layer, tile)
    copy = np.zeros((0, 0), dtype=np.float32) if copy is None else copy
    header = _struct(WEIGHTS_HEADER_FIELDS, {"n_rows": rows.shape[0], "row_length": rows.shape[1],
                                             "copy_rows": copy.shape[0], "copy_length": copy.shape[1]})
    data = np.ascontiguousarray(rows, dtype="<f4").ravel().view("<u4")
    copied = np.ascontiguousarray(copy, dtype="<f4").ravel().view("<u4")
    return np.concatenate([header, ids.astype("<u4"), data, copied])


HEADER_WORDS = len(WEIGHTS_HEADER_FIELDS)


def decode_weights(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, rows) of a WEIGHTS region: the tile's own weights."""
    words = np.frombuffer(bytes(blob), dtype="<u4")
    n_rows, row_length = int(words[0]), int(words[1])
    start = HEADER_WORDS + n_rows
    ids = words[HEADER_WORDS:start].astype(np.int64)
    rows = words[start:start + n_rows * row_length].view("<f4").reshape(n_rows, row_length)
    return ids, rows


def decode_copy(blob: bytes) -> np.ndarray:
    """The copy of the next layer's weights a WEIGHTS region holds (error_routing "deltas")."""
    words = np.frombuffer(bytes(blob), dtype="<u4")
    n_rows, row_length, copy_rows, copy_length = (int(w) for w in words[:HEADER_WORDS])
    start = HEADER_WORDS + n_rows + n_rows * row_length
    return words[start:start + copy_rows * copy_length].view("<f4").reshape(copy_rows, copy_length)


def decode_params(blob: bytes) -> dict[str, float]:
    return _unstruct(PARAM_FIELDS, np.frombuffer(bytes(blob), dtype="<u4"))


def decode_keys(blob: bytes) -> tuple[list[dict], list[dict]]:
    words = np.frombuffer(bytes(blob), dtype="<u4")
    size = len(KEY_ENTRY_FIELDS)
    n_out = int(words[0])
    out = [_unstruct(KEY_ENTRY_FIELDS, words[1 + i * size:1 + (i + 1) * size]) for i in range(n_out)]
    start = 1 + n_out * size
    n_in = int(words[start])
    inc = [_unstruct(KEY_ENTRY_FIELDS, words[start + 1 + i * size:start + 1 + (i + 1) * size])
           for i in range(n_in)]
    return out, inc


def optimizer_region(plan: Plan) -> np.ndarray:
    return _struct(OPTIMIZER_FIELDS, plan.optimizer)


def tile_image(plan: Plan, vertex: VertexPlan, tile: Tile) -> dict[int, np.ndarray | int]:
    """Region id -> words to write, or (WORK) the number of bytes to reserve without content."""
    layer = plan.layers[vertex.layer]
    work = tile.bytes_in("sdram")
    return {
        REGIONS.index("PARAMS"): params(plan, vertex, tile, work),
        REGIONS.index("KEYS"): keys_region(plan, tile),
        REGIONS.index("WEIGHTS"): weights_region(layer, tile, weight_copy(plan, tile)),
        REGIONS.index("OPTIMIZER"): optimizer_region(plan),
        REGIONS.index("WORK"): work,
    }


def image_bytes(image: dict[int, np.ndarray | int]) -> int:
    return sum(v if isinstance(v, int) else v.nbytes for v in image.values())


# ---------------------------------------------------------------------------------------------
# C header

HEADER_PATH = Path(__file__).resolve().parent.parent / "c_src" / "include" / "spinn_dnn_regions.h"


def _c_struct(name: str, fields: tuple[tuple[str, str, str], ...]) -> list[str]:
    lines = ["typedef struct {"]
    for fname, kind, doc in fields:
        ctype = "float   " if kind == "f32" else "uint32_t"
        lines.append(f"    {ctype} {fname};" + (f"  // {doc}" if doc else ""))
    lines.append(f"}} {name};")
    return lines


def c_header() -> str:
    """The C view of this module's layout (generated; do not edit the header by hand)."""
    lines = [
        "// GENERATED by `python -m spinn_dnn.regions` from spinn_dnn/regions.py: do not edit.",
        "// The memory image of one spinn_dnn tile, as the toolchain's data specification writes it.",
        "#ifndef SPINN_DNN_REGIONS_H",
        "#define SPINN_DNN_REGIONS_H",
        "",
        "#include <stdint.h>",
        "",
        f"#define SPINN_DNN_MAGIC 0x{MAGIC:08X}u",
        "",
    ]
    for prefix, names in (("REGION", REGIONS), ("ROLE", ROLES), ("PART", PARTITIONS),
                          ("ACT", ACTIVATIONS), ("POOL", POOL_KINDS), ("LOSS", LOSSES)):
        lines += [f"#define {prefix}_{n.upper()} {i}" for i, n in enumerate(names)]
        plural = "LOSSES" if prefix == "LOSS" else f"{prefix}S"
        lines.append(f"#define N_{plural} {len(names)}")
        lines.append("")
    lines += _c_struct("params_t", PARAM_FIELDS) + [""]
    lines += ["// KEYS region: uint32_t n_out; key_entry_t out[n_out]; uint32_t n_in; key_entry_t in[n_in];"]
    lines += _c_struct("key_entry_t", KEY_ENTRY_FIELDS) + [""]
    lines += ["// WEIGHTS region: weights_header_t; uint32_t row_id[n_rows]; float rows[n_rows][row_length];",
              "//                 float copy[copy_rows][copy_length];"]
    lines += _c_struct("weights_header_t", WEIGHTS_HEADER_FIELDS) + [""]
    lines += _c_struct("optimizer_t", OPTIMIZER_FIELDS) + [""]
    lines += ["#endif  // SPINN_DNN_REGIONS_H", ""]
    return "\n".join(lines)


def write_header(path: Path = HEADER_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(c_header())
    return path


if __name__ == "__main__":
    print(write_header(Path(sys.argv[1]) if len(sys.argv) > 1 else HEADER_PATH))
