"""The per-tile memory model: what each core's program holds while it trains, in bytes.

Values are float32.  A tile's program keeps in DTCM (64 KiB, single-cycle)
everything it touches for every sample: its weights (W x forward, W^T dz
backward), the gradient sums (dz x^T every sample), the inputs and outputs of
every sample in flight until its backward pass, the error buffers, and its key
table.  What it touches once per batch (the momentum) and the loaded image
live in the chip's SDRAM.  The dense, conv and pool entries are what
c_src/programs/layer.c allocates; block and accumulator entries are
estimates for programs not written yet.

Fixed costs (stack, globals) are estimates, marked as such.
"""

from __future__ import annotations

from spinn_dnn.plan import MemoryItem

F32 = 4
DTCM_BYTES = 64 * 1024
ITCM_BYTES = 32 * 1024
SDRAM_PER_CHIP = 123_469_792  # usable SDRAM per SpiNNaker-1 chip (spinn_machine version_spin1.py)
# Estimates until the C programs exist (c_src/): stack and globals of a core program,
# and its code size in ITCM.
DTCM_FIXED = 6 * 1024
ITCM_CODE_ESTIMATE = 16 * 1024
# per incoming entry, in DTCM: the entry (partition, key, mask, offset, count, packets per
# sample) that layer.c copies from its KEYS region for the lookup every packet makes, and its
# three counters (packets so far, error-buffer index, place in key order); outgoing entries stay
# in SDRAM
KEY_ENTRY_BYTES = 6 * 4 + 3 * 4
KEY_TABLE_RESERVE = 64  # entries reserved at tiling time for sources not known yet (bwd, label)
SAMPLES_PER_LOAD = 1024  # samples an input tile holds in SDRAM between two host writes
DTCM_BUDGET = DTCM_BYTES - DTCM_FIXED


def fixed(n_key_entries: int) -> list[MemoryItem]:
    """Stack and globals (an estimate), and the incoming key entries the program keeps in DTCM."""
    return [
        MemoryItem("stack+globals (estimate)", "dtcm", DTCM_FIXED, "program state, spin1 API, stack"),
        MemoryItem("key table", "dtcm", KEY_ENTRY_BYTES * n_key_entries,
                   "per incoming source tile: its key entry and three counters"),
    ]


def error_buffers(n: int, s: int, senders: int) -> MemoryItem:
    """dE/dy of n atoms for s samples from each tile that sends errors (at least one buffer:
    the loss layer keeps its dL/dz there), summed in a fixed order for Keras's rounding."""
    return MemoryItem("error buffers", "dtcm", max(1, senders) * n * s * F32,
                      f"dE/dy from each of {max(1, senders)} sending tile(s), per sample")


def delta_buffers(n: int, s: int, n_entries: int) -> MemoryItem:
    """error_routing "deltas": the n deltas per sample a tile receives, kept for s samples
    until its backward pass turns them into its errors (in place of the error buffers), and
    where each of its n_entries incoming entries' deltas start."""
    return MemoryItem("delta buffers", "dtcm", max(1, n) * s * F32 + 4 * n_entries,
                      f"{n} deltas per sample, per sample in flight")


def delta_fifo(n: int) -> int:
    """Places in a kernel-delta receiver's queue: two samples' deltas (n per sample)."""
    return 2 * max(1, n)


def kernel_delta_buffers(n: int, atoms: int, s: int) -> MemoryItem:
    """error_routing "deltas", a convolution's deltas (kernel kind): a queue of the n deltas per
    sample a tile receives (a value and its key word each), drained by a task into each sample's
    errors (s samples x its atoms), and the row, column and channel of each atom, which the
    drain compares with each delta's window.  The errors are 64-bit fixed point (layer.c, Kernel
    kind: a sum whose result does not depend on the deltas' order)."""
    return MemoryItem("delta buffers", "dtcm", delta_fifo(n) * 2 * F32 + atoms * s * 8 + 3 * atoms * 2,
                      f"a queue of two samples' {n} deltas, errors per sample in flight")


def _per_sample(n: int, inputs: int, s: int) -> list[MemoryItem]:
    """What every layer tile of layer.c keeps per sample: n outputs from `inputs` input atoms."""
    return [
        MemoryItem("inputs kept", "dtcm", inputs * s * F32,
                   "x of each sample in flight, until its backward pass"),
        MemoryItem("outputs kept", "dtcm", (n + 1) * s * F32,
                   "y (and on the loss layer the loss) per sample, for f'"),
        error_buffers(n, s, 1),
        MemoryItem("dz and dx", "dtcm", (n + inputs) * F32, "the sample being back-propagated"),
    ]


def covered_inputs(span: int) -> MemoryItem:
    """A bit per input atom of a conv or pool tile's span: whether a receptive field covers it."""
    return MemoryItem("inputs covered", "dtcm", -(-span // 32) * 4,
                      "errors go back only for the inputs the receptive fields cover")


def _trained(w: int, what: str) -> tuple[list[MemoryItem], MemoryItem]:
    """(DTCM items, SDRAM momentum) of w bytes of weights: W itself, its gradient sums, momentum.

    The gradient sums sit in DTCM beside W because every sample's backward pass
    adds to all of them; the momentum is touched once per batch, so it lives in SDRAM.
    """
    return ([MemoryItem(what, "dtcm", w, "W x for every sample, W^T dz for every error"),
             MemoryItem("gradient sums", "dtcm", w, "sum over the batch of dz x^T, every sample")],
            MemoryItem("momentum", "sdram", w, "SGD momentum, used once per batch"))


def dense(n: int, m: int, s: int, is_output: bool = False, softmax_tiles: int = 0) -> list[MemoryItem]:
    """A tile of n neurons with m inputs each (plus bias), s samples in flight: what layer.c allocates.

    A loss layer whose softmax is split over `softmax_tiles` tiles keeps every
    tile's (max, sum) pair for 2 s samples, and a count per sample.

    The error buffers are counted for one sending tile (the exact number of
    senders is known only once the routes are: tiling.exact_memory).
    """
    weights, momentum = _trained(n * (m + 1) * F32, "weights+bias")
    items = weights + _per_sample(n, m, s) + [momentum]
    if is_output:
        items.append(MemoryItem("results", "sdram", 12 + SAMPLES_PER_LOAD * (n + 1) * F32,
                                f"y and the loss of the last {SAMPLES_PER_LOAD} samples, for the host"))
    if softmax_tiles:
        items.append(MemoryItem("softmax exchange", "dtcm", 2 * s * (2 * softmax_tiles + 1) * F32,
                                "each tile's largest logit and sum of exponentials, per sample"))
    return items


def conv(n: int, channels: int, fan_in: int, span: int, s: int, out_c: int, pool: str = "none",
         pool_taps: int = 1) -> list[MemoryItem]:
    """A tile of n output atoms covering `channels` of the layer's out_c filters, its receptive
    inputs spanning `span` atoms, s samples in flight: what layer.c allocates for a conv tile.

    With a pooling layer folded on (spinn_dnn.fusion) the atoms are pooled values: max pooling
    keeps which of the window's `pool_taps` outputs won (the winner's activation is the pooled
    value), average pooling keeps every output's activation for f'.
    """
    weights, momentum = _trained(channels * (fan_in + 1) * F32, "kernels+bias")
    pooled = []
    if pool == "max":
        pooled = [MemoryItem("argmax kept", "dtcm", n * s * F32, "which window output won, per sample")]
    elif pool == "average":
        pooled = [MemoryItem("activations kept", "dtcm", n * pool_taps * s * F32,
                             "each window output's activation, per sample, for f'")]
    return weights + _per_sample(n, span, s) + pooled + [
        MemoryItem("filter rows", "dtcm", out_c * F32, "which row holds each filter"),
        covered_inputs(span),
        momentum,
        MemoryItem("gradient ring", "sdram", out_c * (fan_in + 1) * F32,
                   "partial sums of its ring's filters' gradients (at most all of them) from the "
                   "previous tile"),
    ]


def pool(n: int, span: int, s: int, is_max: bool) -> list[MemoryItem]:
    """A pooling tile of n output atoms whose windows span `span` input atoms (layer.c)."""
    items = _per_sample(n, span, s) + [covered_inputs(span)]
    if is_max:
        items.append(MemoryItem("argmax kept", "dtcm", n * s * F32, "which input won, per sample"))
    return items


def weight_copy(units: int, n: int) -> list[MemoryItem]:
    """error_routing "deltas": the copy a tile keeps of the next layer's weights (units x n:
    dense kind, the weights from its n atoms; kernel kind, the whole kernel, n = a filter's row),
    its gradient sums and its momentum (c_src/programs/layer.c, Deltas)."""
    w = units * n * F32
    return [MemoryItem("weight copy", "dtcm", w, "the next layer's weights from these atoms, for W^T dz"),
            MemoryItem("copy's gradient sums", "dtcm", w, "the same sums the next layer's tiles make"),
            MemoryItem("copy's momentum", "sdram", w, "the same SGD step as the original")]


def block(rows: int, cols: int, s: int) -> list[MemoryItem]:
    """A block of W (rows neurons x cols inputs) of a layer split in two dimensions."""
    w = rows * cols * F32
    return [
        MemoryItem("weight block", "dtcm", w, "column k of the block for every input packet"),
        MemoryItem("partial sums", "dtcm", rows * s * F32, "partial z per sample in flight"),
        MemoryItem("deltas", "dtcm", rows * F32, "dE/dz from the accumulator"),
        MemoryItem("momentum", "sdram", w, "SGD momentum"),
        MemoryItem("gradient accumulator", "sdram", w, "sum over the batch of delta x^T"),
        MemoryItem("inputs kept", "sdram", cols * s * F32, "x (this block's columns) per sample"),
    ]


def accumulator(rows: int, n_blocks: int, s: int) -> list[MemoryItem]:
    return [
        MemoryItem("bias", "dtcm", rows * F32, "added once the partial sums are in"),
        MemoryItem("sums", "dtcm", rows * s * F32, "z per sample in flight"),
        MemoryItem("partials counted", "dtcm", rows * s * F32, f"how many of {n_blocks} blocks reported"),
        MemoryItem("error sums", "dtcm", rows * s * F32, "dE/dy from the next layer"),
        MemoryItem("bias momentum+gradient", "sdram", 2 * rows * F32, "SGD state of the bias"),
        MemoryItem("pre-activations kept", "sdram", rows * s * F32, "z, for f'(z)"),
    ]


def input_tile(n: int, with_labels: bool) -> list[MemoryItem]:
    items = [
        MemoryItem("sample being sent", "dtcm", n * F32, "one sample's values, sent as packets"),
        MemoryItem("sample buffer", "sdram", 16 + SAMPLES_PER_LOAD * n * F32,
                   f"{SAMPLES_PER_LOAD} samples written by the host between loads"),
    ]
    if with_labels:
        items.append(MemoryItem("labels", "sdram", SAMPLES_PER_LOAD * F32, "class of each buffered sample"))
    return items


def dtcm_total(items: list[MemoryItem]) -> int:
    return sum(i.bytes for i in items if i.where == "dtcm")
