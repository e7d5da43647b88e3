"""Folding each pooling layer onto the convolution before it: one tile computes both.

A pooling layer of its own costs packets twice per sample: the convolution
sends every output to the pooling tiles, and in training the pooling tiles
send every error back.  In LeNet-5 that is 12,608 of the 34,787 packets of a
training sample (benchmarks/router_hops.py), and on the emulator a packet's
events are most of the host's time.  A fused tile owns pooled atoms: for each
it computes the convolution outputs of its pooling window, applies the
activation, pools them and sends only the pooled value; backward, it routes
the pooled error to the window's winner (max) or shares it (average) and
goes on through the convolution as before.  What reaches the next layer is
computed as by the two layers apart; the kernel gradient is summed window by
window rather than output by output, so its rounding differs
(tests/test_emulator_conv.py compares both with Keras).

Only a convolution whose outputs go nowhere else can absorb a pooling layer:
no dropout on the convolution (it would act before the pooling) and no
activation on the pooling layer (it would act after it).
"""

from __future__ import annotations

import dataclasses

from spinn_dnn.layers import Layer
from spinn_dnn.plan import VertexPlan

_POOL_OF_KIND = {"maxpool": "max", "avgpool": "average"}


def can_fuse(conv: Layer, pool: Layer) -> bool:
    """Whether `pool`, the layer right after `conv`, can be folded onto it."""
    return (conv.kind == "conv" and not conv.fused and conv.dropout == 0.0
            and pool.kind in _POOL_OF_KIND and pool.activation == "identity"
            and conv.activation != "softmax")


def fuse_pooling(layers: list[Layer]) -> list[Layer]:
    """The layer graph with every pooling layer that can be folded onto its convolution folded.

    Layers are re-indexed; the fused layer keeps the convolution's name (its
    weights are the convolution's) and lists both Keras layers.
    """
    out: list[Layer] = []
    for layer in layers:
        prev = out[-1] if out else None
        if prev is not None and can_fuse(prev, layer):
            out[-1] = dataclasses.replace(
                prev, out_shape=layer.out_shape, pool=_POOL_OF_KIND[layer.kind], pool_kernel=layer.kernel,
                pool_strides=layer.strides, pool_pads=layer.pads, conv_shape=prev.out_shape,
                dropout=layer.dropout, keras_layers=prev.keras_layers + layer.keras_layers)
            continue
        out.append(dataclasses.replace(layer, index=len(out), keras_layers=list(layer.keras_layers)))
    return out


def fused_caps(fused: list[Layer], plain_vertices: list[VertexPlan], plain: list[Layer]) -> dict[int, int]:
    """Atoms per tile for each fused layer (index in `fused`): no more convolution outputs per
    core than the plain plan's convolution tiles compute.

    Tiles as large as DTCM allows would take on up to pool_taps times a plain tile's
    arithmetic (LeNet-1's C1 on 3 cores instead of 18), and the slowest stage sets the
    pipeline's pace; at this size the convolution runs on as many cores as before, and the
    pooling layer's cores and packets are what fusion saves.
    """
    per_tile = {plain[v.layer].name: v.atoms_per_tile for v in plain_vertices if v.role == "conv"}
    caps = {}
    for layer in fused:
        if layer.fused and layer.name in per_tile:
            atoms = max(1, per_tile[layer.name] // layer.pool_taps)
            caps[layer.index] = 1 << (atoms.bit_length() - 1)
    return caps
