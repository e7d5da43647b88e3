"""Tapered samples in flight: layers near the output keep fewer samples, and their tiles grow.

A training pipeline keeps a sample in a layer's buffers from its forward pass
until its error has come back down through every layer above: about 2 stages a
layer.  `default_in_flight` sizes every layer for the first, the deepest.  A
layer k layers from the output (itself included) needs about 2k + 2 slots, as
the first layer's count is 2 x (layers) + 2; a fused convolution counts the
pooling layer it absorbed, so that it keeps the slots the two layers had.

The DTCM the upper layers' input buffers free lets their tiles hold more atoms:
fewer tiles, fewer cores, and fewer packet deliveries (every tile of LeNet-5's
C5 reads all 400 of C3's outputs: 30 tiles of 4 filters take 12,000 deliveries a
sample, 15 of 8 take 6,000).  A larger tile has more work per sample, and the
slowest tile sets the pipeline's pace (emulator.session.tick_us), so a layer
grows only while its slowest tile stays within the slowest tile of the untapered
plan; a layer that would outgrow it keeps its untapered atoms per tile.

Too few slots shows on the machine as a tile stopping with EXIT_OVERRUN
(layer.c: a packet for a sample past its slots), never as wrong results.
"""

from __future__ import annotations

from collections.abc import Callable

from spinn_dnn.errors import DoesNotFitError
from spinn_dnn.layers import Layer
from spinn_dnn.plan import Plan


def layer_slots(layers: list[Layer], in_flight: int) -> list[int]:
    """Per layer index, its samples in flight: 2 x (layers from it to the output) + 2, plus what
    `in_flight` adds above the first layer's such count, and never more than `in_flight`.

    The first layer (and the input) keeps `in_flight`, whether a user raised it
    (for more margin: every layer gets the same extra) or lowered it."""
    def needed(i: int) -> int:
        return 2 * sum(1 + int(layer.fused) for layer in layers[max(i, 1):]) + 2

    extra = max(0, in_flight - needed(1)) if len(layers) > 1 else 0
    return [in_flight if i <= 1 else min(in_flight, needed(i) + extra) for i in range(len(layers))]


def layer_stage_cycles(plan: Plan, training: bool) -> dict[int, float]:
    """Per layer index, the modeled cycles per sample of its slowest tile, training or predicting."""
    from spinn_dnn.emulator.session import tile_stage_cycles

    per_tile, _ = tile_stage_cycles(plan, training)
    layer_of = {v.label: v.layer for v in plan.vertices}
    out: dict[int, float] = {}
    for (label, _), cycles in per_tile.items():
        li = layer_of[label]
        out[li] = max(out.get(li, 0.0), cycles)
    return out


def taper(untapered: Plan | None, build: Callable[[list[int], dict[int, int]], Plan], layers: list[Layer],
          in_flight: int) -> Plan:
    """The tapered plan: `build(slots, caps)` maps with per-layer slots and atoms-per-tile caps.

    Starts with no caps beyond the untapered plan's own fused caps (passed in by
    `build`); each layer whose slowest tile comes out slower than the untapered
    plan's slowest, training or predicting (evaluation runs at its own pace), is
    capped at its untapered atoms per tile, and the mapping is redone.  The
    untapered plan is kept whenever the tapered one would be slower anywhere
    (a capped layer slowed by its re-tiled neighbours; a split Dense layer,
    which caps do not bound) or does not fit (more tiles above can overflow the
    error buffers of a layer below).  With no untapered plan (it does not fit
    DTCM) the tapered one is taken as it comes, or DoesNotFitError raised.
    """
    slots = layer_slots(layers, in_flight)
    if untapered is None:
        return build(slots, {})
    pace = {mode: max(layer_stage_cycles(untapered, mode).values(), default=0.0) for mode in (True, False)}
    atoms = {}
    for v in untapered.vertices:
        atoms[v.layer] = min(atoms.get(v.layer, v.atoms_per_tile), v.atoms_per_tile)
    caps: dict[int, int] = {}
    for _ in range(len(layers) + 1):
        try:
            plan = build(slots, caps)
        except DoesNotFitError:
            return untapered
        slow = {li for mode in (True, False) for li, cycles in layer_stage_cycles(plan, mode).items()
                if cycles > pace[mode]}
        if not slow:
            return plan
        if slow <= set(caps):
            return untapered  # capping again cannot help
        caps.update({li: atoms[li] for li in slow})
    return untapered
