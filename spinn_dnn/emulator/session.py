"""One emulated machine loaded with a mapped model, fed samples chunk by chunk.

The host does what it does with a board: it writes each tile's OPTIMIZER
region (inference, or training with its learning rate, momentum and batch
size), stages a chunk of samples in the input tiles' SDRAM, lets the machine
run until it is quiet, and reads the loss layer's results; for the next chunk
it stages again and sends the input tiles a message to go on.  The cores keep
their state between chunks (weights, momentum, sample counts), so a whole
epoch is one stream of samples, and minibatch boundaries fall where the
samples' numbers put them, not where chunks end.

Modeled time is the machine's clock plus the host's I/O (staging and reading
back, at cost_model.h's EMU_HOST_BYTES_PER_S); both are `modeled`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from spinn_dnn import memory
from spinn_dnn import regions as regions_mod
from spinn_dnn.emulator.errors import EmulatorError
from spinn_dnn.emulator.machine import EmulatedMachine, RunResult, _module
from spinn_dnn.tiling import gradient_rings

WORK = regions_mod.REGIONS.index("WORK")
WEIGHTS = regions_mod.REGIONS.index("WEIGHTS")
OPTIMIZER = regions_mod.REGIONS.index("OPTIMIZER")
INPUT_HEADER_WORDS = 4  # c_src/programs/input.c
RESULT_HEADER_WORDS = 3  # c_src/programs/layer.c
PROGRAM_OF_ROLE = regions_mod.PROGRAM_OF_ROLE
SEND_GAP_US = 2  # c_src/programs/tile_common.h
ERROR_LINK_SHARE = 4  # c_src/programs/tile_common.h
EXIT_CODES = {1: "its memory image is not a spinn_dnn tile of that role", 2: "DTCM is too small",
              3: "an operation the C programs do not implement yet (mean squared error through a "
                 "softmax split across tiles, cross-entropy without a softmax output, over 65,535 "
                 "packets per sample from one source tile or samples in flight)",
              4: "a source ran more samples ahead than the tile has input slots (pacing too fast)",
              5: "a convolution's delta times a weight left the fixed-point range of the errors' sums "
                 "(training diverged: a NaN or a product too large, layer.c, Kernel kind)"}
INFERENCE = {"learning_rate": 0.0, "momentum": 0.0, "nesterov": 0, "batch_size": 0, "epoch_samples": 0,
             "loss": 0}


def program_of(tile) -> str:  # noqa: ANN001
    """The core program a tile runs."""
    try:
        return PROGRAM_OF_ROLE[tile.role]
    except KeyError:
        raise EmulatorError(f"tile {tile.label}: role '{tile.role}' has no core program yet "
                            f"(only {', '.join(PROGRAM_OF_ROLE)})") from None


def error_interleave(n_entries: int, n_tiles: int) -> int:
    """k of tile_send_errors (c_src/programs/tile_common.h): a tile sends an error every k gaps."""
    return max(-(-n_tiles // max(1, n_entries)), -(-n_tiles // ERROR_LINK_SHARE))


def _stage_cycles(plan, training: bool) -> tuple[float, float]:  # noqa: ANN001
    """(per-sample cycles of the slowest tile, cycles of the slowest weight update), modeled."""
    per_tile, update = tile_stage_cycles(plan, training)
    return max(per_tile.values(), default=0.0), update


def delta_window_hits(conv, sender, receiver) -> float:  # noqa: ANN001
    """Kernel-kind deltas (layer.c dz_drain): of the receiver's atoms, how many the window of a
    delta from `sender` (a tile of the fused convolution `conv`) reads, averaged over the taps of
    each of its atoms' pooling windows (max pooling sends the winner's, which the model cannot know)."""
    in_h, in_w, in_c = conv.in_shape
    atoms = np.arange(receiver.lo, receiver.hi)
    ry, rx = (atoms // in_c) // in_w, (atoms // in_c) % in_w
    _, out_w, out_c = conv.out_shape
    kh, kw = conv.kernel
    total = 0
    for atom in range(sender.lo, sender.hi):
        position = atom // out_c
        top = (position // out_w) * conv.pool_strides[0] - conv.pool_pads[0]
        left = (position % out_w) * conv.pool_strides[1] - conv.pool_pads[1]
        for ty in range(conv.pool_kernel[0]):
            for tx in range(conv.pool_kernel[1]):
                y0 = (top + ty) * conv.strides[0] - conv.pads[0]
                x0 = (left + tx) * conv.strides[1] - conv.pads[1]
                total += int(np.sum((ry >= y0) & (ry < y0 + kh) & (rx >= x0) & (rx < x0 + kw)))
    return total / max(1, sender.n_atoms * conv.pool_taps)


def tile_stage_cycles(plan, training: bool) -> tuple[dict[tuple[str, int], float], float]:  # noqa: ANN001
    """Per tile (vertex label, index), its modeled cycles of work per sample; and the cycles of the
    slowest weight update (rings included).

    The input's timer period is set from the slowest tile, so a tile's figure
    must cover what its program does (too low: the run stops with
    EXIT_OVERRUN), and should not overstate it (too high: every tile waits,
    and the modeled machine is slower than it need be).
    tests/test_stage_model.py compares it with the cores' busy time.

    A stage is one tile's work per sample: taking its input packets (an
    interrupt each), W x and the activation, and, training, the errors it takes,
    W^T dz and dz x^T; plus its paced sends (activations: SEND_GAP_US per
    packet times the tiles of its layer; errors: SEND_GAP_US per packet times
    the senders sharing a receiver, tile_send_errors; none for the thesis's
    unpaced errors).  Under error_routing "deltas" a layer that sends deltas
    computes no W^T dz and sends one packet per atom, paced as errors to one
    receiving entry; the tiles below take every delta of the tiles they hear
    and, in their backward pass, make 2 multiply-adds per delta and atom (their
    errors, their copy's gradient), and step their copy with their own weights.
    A loss layer's softmax split over tiles costs each tile a second exponential
    per atom, one per tile of the layer, and the (max, sum) packets of every tile.
    """
    mod = _module()
    per_us = mod.CLOCK_HZ / 1e6
    per_tile: dict[tuple[str, int], float] = {}
    update = 0.0
    bwd_in: dict[tuple[str, int], int] = {}
    bwd_out: dict[tuple[str, int], int] = {}  # error entries (receivers) per sending tile
    bwd_sent: dict[tuple[str, int], int] = {}  # error packets per sample per sending tile
    bwd_entries: dict[tuple[str, int], int] = {}  # error sources per receiving tile (summed per atom)
    fwd_in: dict[tuple[str, int], int] = {}  # packets per sample in: the atoms of each source heard
    fwd_sent: dict[tuple[str, int], int] = {}  # activations per sample out (all atoms, or the runs read)
    entries: dict[tuple[str, int], int] = {}  # incoming key entries, searched per packet (entry_of)
    dz_sent: dict[tuple[str, int], int] = {}  # deltas per sample per sending tile
    dz_in: dict[tuple[str, int], int] = {}  # deltas per sample per receiving tile
    copy_step: dict[tuple[str, int], float] = {}  # cycles of a tile's copy's SGD step (deltas)
    kernel_copy: dict[tuple[str, int], tuple[str, int]] = {}  # kernel kind: receiver -> (sender, copy size)
    kernel_hits: dict[tuple[str, int], float] = {}  # kernel kind: multiply-adds per sample
    smx_in: dict[tuple[str, int], int] = {}  # a split softmax: (max, sum) packets in per sample
    for r in plan.routes:
        if r.pid == "softmax":
            for d in r.dst:
                smx_in[d] = smx_in.get(d, 0) + r.packets_per_sample
        if r.pid == "dz":
            dz_sent[r.src] = r.packets_per_sample
            for d in r.dst:
                dz_in[d] = dz_in.get(d, 0) + r.packets_per_sample
                if r.n_keys:
                    sender = plan.layers[plan.vertex(r.src[0]).layer]
                    kernel_copy[d] = (r.src[0], sender.conv_out_shape[2] * (sender.fan_in + 1))
                    kernel_hits[d] = kernel_hits.get(d, 0.0) + delta_window_hits(
                        sender, plan.tile(r.src), plan.tile(d)) * r.packets_per_sample
        if r.pid == "fwd":
            fwd_sent[r.src] = fwd_sent.get(r.src, 0) + r.packets_per_sample
        for d in r.dst:
            entries[d] = entries.get(d, 0) + 1
            if r.pid in ("fwd", "label"):
                fwd_in[d] = fwd_in.get(d, 0) + r.packets_per_sample
        if r.pid == "bwd":
            bwd_out[r.src] = bwd_out.get(r.src, 0) + 1
            bwd_sent[r.src] = bwd_sent.get(r.src, 0) + r.packets_per_sample
            for d in r.dst:
                bwd_in[d] = bwd_in.get(d, 0) + r.packets_per_sample
                bwd_entries[d] = bwd_entries.get(d, 0) + 1
    for v in plan.vertices:
        layer = plan.layers[v.layer]
        for t in v.tiles:
            rows = t.n_atoms
            span = 0 if v.role == "input" else t.in_hi - t.in_lo  # inputs used per sample
            key = (v.label, t.index)
            # a packet: the interrupt, entry_of's binary search (8 words a step) and the handler's words,
            # and two divisions (its sample, and that sample's slot)
            steps = math.ceil(math.log2(entries.get(key, 0) + 1)) + 1
            per_packet = mod.ISR_CYCLES + (8 * steps + 8) * mod.COST_WORD + 2 * mod.COST_UDIV
            # multiply-adds per output: a receptive field (conv, pool) or every input (dense)
            fan_in = layer.fan_in if v.role in ("conv", "pool") else span
            weights = len(t.channels) * (fan_in + 1) if v.role == "conv" else (
                0 if v.role in ("pool", "input") else rows * (fan_in + 1))
            outputs = layer.pool_taps if v.role == "conv" else 1  # fused: a window of conv outputs per atom
            # backward, fused max pooling goes through the winner's output only (conv_pool_backward)
            back_outputs = 1 if layer.fused and layer.pool == "max" else outputs
            back_fan_in = fan_in * back_outputs
            fan_in *= outputs
            act = {"relu": mod.COST_FADD, "sigmoid": mod.COST_FEXP + mod.COST_FDIV, "tanh": 2 * mod.COST_FEXP,
                   "softmax": mod.COST_FEXP + 3 * mod.COST_FADD + mod.COST_FDIV}.get(layer.activation, 0)
            act = act * outputs if v.role != "input" else 0
            smx_cycles = 0.0
            if key in smx_in:  # split softmax: exp(z - own max) summed and sent; then p = exp(z - M) / S
                n_tiles = smx_in[key] // 2
                act = 2 * mod.COST_FEXP + 2 * mod.COST_FADD + mod.COST_FDIV
                smx_cycles = (n_tiles * (mod.COST_FEXP + 2 * mod.COST_FMAC) + 2 * mod.SEND_CYCLES
                              + smx_in[key] * per_packet + 2 * mod.TASK_DISPATCH_CYCLES)
            taken = 0 if v.role == "input" else fwd_in.get(key, span)  # forward runs: only what it reads
            cycles = rows * fan_in * mod.COST_FMAC + rows * act + taken * per_packet + smx_cycles
            # (a tile that sends nothing forward, the loss layer's, is charged as if it sent its atoms:
            # a margin the tick has always had)
            sent = fwd_sent.get(key, rows)
            cycles += sent * mod.SEND_CYCLES + 2 * mod.TASK_DISPATCH_CYCLES  # its sends; forward and pump
            # training, pump's batch_of (three divisions) before each forward pass
            cycles += (3 if training else 0) * mod.COST_UDIV
            if v.role in ("conv", "pool"):  # each atom's window: its position and channel, row and column
                cycles += rows * 2 * mod.COST_UDIV * (2 if training else 1)
                if training and layer.fused:  # the winner's row and column, the delta's window corner
                    cycles += rows * 3 * mod.COST_UDIV
            kernel = layer.kernel[0] * layer.kernel[1] if v.role == "conv" else 0
            if kernel:  # the windows' bookkeeping and the bias adds and pooling compares (conv_ops.h)
                cycles += rows * outputs * (2 * mod.COST_FADD + (16 + 4 * kernel) * mod.COST_WORD)
            send = SEND_GAP_US * len(v.tiles) * sent
            if key in smx_in:  # its (max, sum) pair, paced as activations (tile_send_fwd)
                send = max(send, SEND_GAP_US * (t.index + 2 * len(v.tiles)))
            if training and v.role != "input":
                sends_back = v.layer >= 2 and key not in dz_sent  # W^T dz: errors, not deltas
                cycles += rows * (back_fan_in + 1) * mod.COST_FMAC * (2 if sends_back else 1)
                if kernel:
                    cycles += rows * back_outputs * (mod.COST_FMAC + (16 + 4 * kernel) * mod.COST_WORD) + span
                cycles += bwd_in.get(key, 0) * per_packet + rows * 4 * mod.COST_FMUL
                cycles += rows * bwd_entries.get(key, 0) * mod.COST_FADD  # the errors summed per atom
                cycles += bwd_sent.get(key, 0) * mod.SEND_CYCLES + 2 * mod.TASK_DISPATCH_CYCLES
                if sends_back and plan.error_routing != "thesis":  # tile_send_errors' pacing
                    share = error_interleave(bwd_out.get((v.label, t.index), 1), len(v.tiles))
                    send += SEND_GAP_US * share * bwd_sent.get((v.label, t.index), 0)
                if key in dz_sent:
                    cycles += dz_sent[key] * mod.SEND_CYCLES
                    send += SEND_GAP_US * error_interleave(1, len(v.tiles)) * dz_sent[key]
                deltas = dz_in.get(key, 0)
                step = weights * (3 * mod.COST_FMAC + 2 * mod.COST_SDRAM_WORD)
                if key in kernel_copy:  # queued, then its window compared with every atom (dz_drain)
                    hits = kernel_hits.get(key, 0.0)  # multiply-adds: the atoms inside the windows
                    cycles += deltas * (per_packet + (54 + 12 * rows) * mod.COST_WORD) + hits * mod.COST_FMAC
                    cycles += deltas * 9 * mod.COST_UDIV  # the queue's index twice, batch_of, the window
                    # the copy steps when the next layer's ring ends (below), not before this tile's ring
                    update = max(update, step)
                else:
                    cycles += deltas * (per_packet + rows * (2 * mod.COST_FMAC + 4 * mod.COST_WORD))
                    copy = deltas * rows  # the copy's weights: a unit per delta, a column per atom
                    copy_step[key] = copy * (3 * mod.COST_FMAC + 2 * mod.COST_SDRAM_WORD)
                    update = max(update, step + copy_step[key])
            per_tile[(v.label, t.index)] = cycles + send * per_us
        if training and v.role == "conv":  # the gradient rings, at once, then the update
            for ring in gradient_rings(v):
                _, lo, n, start_us, gap_us = ring[0].ring
                values = n * (layer.fan_in + 1)
                ring_us = start_us + (values + len(ring)) * gap_us
                first = max(copy_step.get((v.label, t.index), 0.0) for t in ring)  # before the ring
                # kernel kind: the tiles below step their copies once the ring's final sums are in
                copies = max((size for sender, size in kernel_copy.values() if sender == v.label), default=0)
                copy_cycles = copies * (3 * mod.COST_FMAC + 2 * mod.COST_SDRAM_WORD)
                after = max(values * (3 * mod.COST_FMAC + mod.COST_UDIV), copy_cycles)
                update = max(update, first + ring_us * per_us + after)
    return per_tile, update


def tick_us(plan, training: bool = False, safety: float = 1.1) -> int:  # noqa: ANN001
    """The input tiles' timer period: the modeled time of the slowest stage of the pipeline, plus margin.

    With several samples in flight, a sample per period keeps every tile within
    its input slots; a period too short shows as a tile stopping with
    EXIT_OVERRUN, never as wrong results.
    """
    slowest, _ = _stage_cycles(plan, training)
    return int(math.ceil(safety * slowest / (_module().CLOCK_HZ / 1e6))) + 20


def batch_gap_ticks(plan, period_us: int) -> int:  # noqa: ANN001
    """Ticks the input tiles wait after a batch: the last sample's way back, then the weight update."""
    _, update = _stage_cycles(plan, True)
    depth = len(plan.layers)
    return 2 * depth + int(math.ceil(update / (_module().CLOCK_HZ / 1e6) / period_us)) + 1


@dataclass
class FeedResult:
    """What the loss layer reported for the samples fed, and the runs that computed them."""

    outputs: np.ndarray  # (samples, n_out) float32
    losses: np.ndarray  # (samples,) float32, per sample
    runs: list[RunResult] = field(default_factory=list)


class MachineSession:
    """A machine loaded with a mapped model; `feed` streams samples through it, chunk by chunk."""

    def __init__(self, plan, toolchain, optimizer: dict | None = None,  # noqa: ANN001
                 weights: dict[tuple[str, int], bytes] | None = None, period_us: int | None = None,
                 chunk: int | None = None, stop_on_drop: bool = True,
                 jitter: tuple[int, int] | None = None, take_ahead: bool = True) -> None:
        self.plan = plan
        self.toolchain = toolchain
        self.training = bool(optimizer and optimizer.get("batch_size"))
        # no per-key counters: a hash lookup per delivery, a fifth of the host's time (perf)
        # (stop_on_drop=False only to count the drops of a design that makes them: a dropped packet
        # stalls the program, so the chunk then ends with results missing)
        self.em = EmulatedMachine.from_mapping(plan, toolchain, program_of, key_stats=False,
                                               stop_on_drop=stop_on_drop, jitter=jitter,
                                               take_ahead=take_ahead)
        self.stop_on_drop = stop_on_drop
        self.where = {(v.label, t.index): toolchain.placements[(v.label, t.index)]
                      for v in plan.vertices for t in v.tiles}
        self.inputs = [t for v in plan.vertices for t in v.tiles if t.role == "input"]
        last = len(plan.layers) - 1
        self.outputs = [t for v in plan.vertices if v.layer == last for t in v.tiles]
        self.n_out = plan.layers[last].n_atoms
        self.period_us = period_us or tick_us(plan, self.training)
        self.gap_ticks = batch_gap_ticks(plan, self.period_us) if self.training else 0
        self.samples_fed = 0
        self.started = False
        self.host_io_bytes = 0
        self.last_cycles = 0
        self.set_optimizer(optimizer or INFERENCE)
        if weights:
            for ref, blob in weights.items():
                self.em.write_region(self.where[ref], WEIGHTS, blob)
        self.capacity = min([self._input_capacity(t) for t in self.inputs]
                            + [memory.SAMPLES_PER_LOAD] + ([chunk] if chunk else []))
        if self.capacity < 1:
            raise EmulatorError("the input tiles' WORK regions cannot hold one sample")

    # -- host writes -------------------------------------------------------------------------
    def set_optimizer(self, values: dict) -> None:
        """Write every tile's OPTIMIZER region (between chunks: the learning rate of the next epoch)."""
        full = {**INFERENCE, **values}
        blob = regions_mod._struct(regions_mod.OPTIMIZER_FIELDS, full).tobytes()
        for where in self.where.values():
            self.em.write_region(where, OPTIMIZER, blob)
        self.optimizer_write_bytes = len(blob) * len(self.where)
        self.host_io_bytes += self.optimizer_write_bytes if self.started else 0

    def _input_capacity(self, tile) -> int:  # noqa: ANN001
        size = self.toolchain.region_sizes[(tile.vertex, tile.index)].get(WORK, 0)
        per = 4 * tile.n_atoms + 4 * ("label" in tile.keys)
        return (size - 4 * INPUT_HEADER_WORDS) // per

    def _results_offset(self, tile) -> int:  # noqa: ANN001
        """Bytes of a tile's momentum, and its weight copy's, which come first in its WORK region
        (layer.c)."""
        image = self.toolchain.regions[(tile.vertex, tile.index)][WEIGHTS]
        n_rows, row_length, copy_rows, copy_length = struct.unpack_from("<IIII", image)
        return (n_rows * row_length + copy_rows * copy_length) * 4

    # -- running -----------------------------------------------------------------------------
    def feed(self, x: np.ndarray, labels: np.ndarray) -> FeedResult:
        """Stream samples (flattened float32) with their class labels; the loss layer's outputs and losses."""
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
        labels = np.asarray(labels).astype("<u4").reshape(len(x))
        outs = np.zeros((len(x), self.n_out), dtype=np.float32)
        losses = np.zeros(len(x), dtype=np.float32)
        runs = []
        for start in range(0, len(x), self.capacity):
            chunk = slice(start, min(len(x), start + self.capacity))
            runs.append(self._run_chunk(x[chunk], labels[chunk], outs[chunk], losses[chunk]))
        return FeedResult(outs, losses, runs)

    def _run_chunk(self, x: np.ndarray, labels: np.ndarray, outs: np.ndarray,
                   losses: np.ndarray) -> RunResult:
        n = len(x)
        for t in self.inputs:
            blob = struct.pack("<IIII", n, self.period_us, self.gap_ticks, 0)
            blob += np.ascontiguousarray(x[:, t.lo:t.hi]).tobytes()
            if "label" in t.keys:
                blob += labels.tobytes()
            self.em.write_region(self.where[(t.vertex, t.index)], WORK, blob)
            self.host_io_bytes += len(blob)
        mod = _module()
        state = self.em.state
        now = max(state["cycles"], state["clock"])
        if self.started:
            for t in self.inputs:
                self.em.signal(self.where[(t.vertex, t.index)], now)
        self.started = True
        self._start_momentum(now)
        n_batches = n if self.training else 0  # at most one gap per sample
        ticks = n + n_batches * self.gap_ticks + 4 * len(self.plan.layers) + 4
        limit = now + 3 * ticks * self.period_us * (mod.CLOCK_HZ // 10**6) + 10**6
        result = self.em.run(limit, raise_on_drop=self.stop_on_drop, exit_codes=EXIT_CODES)
        self.last_cycles = result.cycles
        first = self.samples_fed
        self.samples_fed += n
        for t in self.outputs:
            blob = self.em.read_region(self.where[(t.vertex, t.index)], WORK)
            base = self._results_offset(t)
            n_done, n_rows, record = struct.unpack_from("<III", blob, base)
            if n_done != self.samples_fed:
                why = result.error or "no error"
                raise EmulatorError(f"tile {t.label} produced {n_done - first} of {n} results (run "
                                    f"{result.status} at cycle {result.cycles}; {why})")
            slots = memory.SAMPLES_PER_LOAD
            ring = np.frombuffer(blob, dtype="<f4", count=slots * record,
                                 offset=base + 4 * RESULT_HEADER_WORDS).reshape(slots, record)
            got = ring[np.arange(first, first + n) % slots]
            outs[:, t.lo:t.hi] = got[:, :n_rows]
            # each loss tile holds its share: cross-entropy on the label's tile, zero elsewhere;
            # mean squared error each tile's own terms
            losses += got[:, n_rows]
            self.host_io_bytes += n * record * 4
        return result

    def _start_momentum(self, now: int) -> None:
        momentum = getattr(self, "_pending_momentum", None)
        if not momentum or now:
            return
        # the cores zero their momentum in c_main, at cycle 0: run to just after it, then restore
        self.em.run(1, exit_codes=EXIT_CODES)
        for ref, blob in momentum.items():
            self.em.write_region(self.where[ref], WORK, blob)
        self._pending_momentum = None

    def weights(self) -> dict[tuple[str, int], bytes]:
        """Every tile's WEIGHTS region as SDRAM holds it now (tiles copy W there after each update)."""
        return {ref: self.em.read_region(where, WEIGHTS) for ref, where in self.where.items()}

    def momentum(self) -> dict[tuple[str, int], bytes]:
        """The tiles' SGD momentum, their weight copies' included (the start of their WORK regions)."""
        out = {}
        for v in self.plan.vertices:
            for t in v.tiles:
                size = self._results_offset(t)
                if t.role in ("dense", "conv", "pool") and size:
                    out[(v.label, t.index)] = self.em.read_region(self.where[(v.label, t.index)], WORK)[:size]
        return out

    def load_momentum(self, momentum: dict[tuple[str, int], bytes]) -> None:
        """Continue from another session's momentum: the tiles zero it at start, so this goes in after."""
        self._pending_momentum = momentum

    @property
    def host_io_seconds(self) -> float:
        return self.host_io_bytes / _module().HOST_BYTES_PER_S

    @property
    def modeled_seconds(self) -> float:
        """The machine's clock so far plus the host's staging and reading (modeled)."""
        return self.em.state["cycles"] / _module().CLOCK_HZ + self.host_io_seconds
