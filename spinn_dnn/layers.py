"""The engine's layer graph: what each Keras layer computes, independent of Keras.

A layer's *atoms* are its output values in Keras's own flat order (channels
last), so a Flatten between a convolution and a Dense layer costs nothing:
atom `i` of the convolution is input `i` of the Dense layer, and the key of a
value is `layer base + i` on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh", "softmax")
KINDS = ("input", "dense", "conv", "maxpool", "avgpool")


@dataclass
class Layer:
    """One trainable or fixed stage of the network, on (H, W, C) activations.

    Dense layers use shape (1, 1, units); Conv1D is a convolution with H = 1.
    `weights` are the Keras arrays of the layer, in Keras order (kernel, bias).
    """

    index: int  # position in the engine graph (0 = input)
    name: str  # Keras layer name (names are unique in a Keras model)
    kind: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    activation: str = "identity"
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int] = (0, 0)  # (top, left) zero padding ('same')
    use_bias: bool = False
    dropout: float = 0.0  # rate of a Dropout layer folded onto this layer's outputs
    keras_layers: list[str] = field(default_factory=list)  # Keras layers folded into this one
    weights: list[np.ndarray] = field(default_factory=list)
    conv1d: bool = False  # the Keras kernel is (k, cin, cout), not (kh, kw, cin, cout)
    # A pooling layer folded onto this convolution (spinn_dnn.fusion): "max" or "average", its
    # window, strides and padding over the convolution's outputs, whose shape is conv_shape;
    # out_shape is then the pooled shape, and the atoms are the pooled values.
    pool: str = "none"
    pool_kernel: tuple[int, int] = (1, 1)
    pool_strides: tuple[int, int] = (1, 1)
    pool_pads: tuple[int, int] = (0, 0)
    conv_shape: tuple[int, int, int] | None = None

    @property
    def n_atoms(self) -> int:
        h, w, c = self.out_shape
        return h * w * c

    @property
    def n_inputs(self) -> int:
        h, w, c = self.in_shape
        return h * w * c

    @property
    def fused(self) -> bool:
        """A convolution that pools its own outputs before sending them."""
        return self.kind == "conv" and self.pool != "none"

    @property
    def pool_taps(self) -> int:
        """Convolution outputs computed per atom: the pooling window of a fused layer, else 1."""
        return self.pool_kernel[0] * self.pool_kernel[1] if self.fused else 1

    @property
    def conv_out_shape(self) -> tuple[int, int, int]:
        """The shape the convolution's kernel, strides and padding produce (before any pooling)."""
        return self.conv_shape if self.conv_shape is not None else self.out_shape

    @property
    def trainable(self) -> bool:
        return self.kind in ("dense", "conv")

    @property
    def fan_in(self) -> int:
        """Inputs per output neuron, bias excluded."""
        if self.kind == "dense":
            return self.n_inputs
        if self.kind == "conv":
            return self.kernel[0] * self.kernel[1] * self.in_shape[2]
        if self.kind in ("maxpool", "avgpool"):
            return self.kernel[0] * self.kernel[1]
        return 0

    def kernel_matrix(self) -> np.ndarray:
        """Weights as (output channels, fan_in) rows, in the order a core stores them.

        Dense: row j is kernel[:, j]; conv: row f is kernel[..., f] flattened
        (kh, kw, cin), which is the order of the receptive field's input atoms.
        """
        kernel = self.weights[0]
        return np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]).T)

    def bias_vector(self) -> np.ndarray:
        channels = self.out_shape[2]
        if self.use_bias:
            return np.asarray(self.weights[1], dtype=np.float32)
        return np.zeros(channels, dtype=np.float32)

    def describe(self) -> str:
        h, w, c = self.out_shape
        kind = "conv+" + {"max": "maxpool", "average": "avgpool"}[self.pool] if self.fused else self.kind
        return f"{self.name} ({kind}, {h}x{w}x{c}, {self.activation})"
