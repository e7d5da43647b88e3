"""Keras 3 model -> the engine's layer graph (spinn_dnn.layers), exactly or not at all.

Every option that changes what a layer computes is checked; anything the
engine cannot reproduce exactly is an UnsupportedModelError naming the layer,
its position and what is supported, never a silent approximation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinn_dnn.errors import UnsupportedModelError
from spinn_dnn.layers import Layer

SUPPORTED = (
    "Dense, Conv1D, Conv2D (strides, padding valid|same, bias or not; dilation 1, groups 1, "
    "channels_last), MaxPooling2D, AveragePooling2D (channels_last), Flatten, Dropout, Activation; "
    "activations identity|linear, relu, sigmoid, tanh, softmax (softmax on the last layer only); "
    "a single chain of layers (Sequential, or functional without branches)"
)
_ACTIVATION_NAMES = {"linear": "identity", "identity": "identity", "relu": "relu",
                     "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax"}


def _fail(position: int, layer: Any, reason: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"layer {position} '{layer.name}' ({type(layer).__name__}): {reason}; supported: {SUPPORTED}"
    )


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    values = tuple(int(v) for v in value)
    return values if len(values) == 2 else (1, values[0])


def _activation(position: int, layer: Any, fn: Any) -> str:
    name = getattr(fn, "__name__", str(fn))
    if name not in _ACTIVATION_NAMES:
        raise _fail(position, layer, f"activation {name!r} is not supported")
    return _ACTIVATION_NAMES[name]


def _check_common(position: int, layer: Any) -> None:
    for attr in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                 "kernel_constraint", "bias_constraint"):
        if getattr(layer, attr, None) is not None:
            raise _fail(position, layer, f"{attr} is set (the engine trains without it)")
    if getattr(layer, "lora_rank", None):
        raise _fail(position, layer, "LoRA is not supported")
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _fail(position, layer, f"data_format {layer.data_format!r} (only channels_last)")
    if hasattr(layer, "trainable") and not layer.trainable and layer.weights:
        raise _fail(position, layer, "frozen (trainable=False) layers are not supported")


def _grid_out(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(output size, padding before) for one spatial axis, as TensorFlow/Keras compute them."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def _chain(model: Any) -> list[Any]:
    """The model's layers in order, after checking they form a single chain."""
    import keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(
            f"model '{model.name}' has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            f"supported: {SUPPORTED}"
        )
    layers = [lyr for lyr in model.layers if not isinstance(lyr, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    previous = model.inputs[0]
    for position, layer in enumerate(layers, start=1):
        if len(layer._inbound_nodes) != 1:
            raise _fail(position, layer, "a layer used more than once (shared) is not supported")
        inputs = layer._inbound_nodes[0].input_tensors
        if len(inputs) != 1 or inputs[0] is not previous:
            raise _fail(position, layer, "the model branches or merges here (not a single chain)")
        previous = layer.output
    if previous is not model.outputs[0]:
        raise UnsupportedModelError(f"model '{model.name}': its output is not the last layer's")
    return layers


def _shape3(shape: tuple) -> tuple[int, int, int]:
    dims = tuple(int(d) for d in shape[1:])
    if len(dims) == 1:
        return (1, 1, dims[0])
    if len(dims) == 2:
        return (1, dims[0], dims[1])
    if len(dims) == 3:
        return dims  # type: ignore[return-value]
    raise UnsupportedModelError(f"input of rank {len(dims) + 1} (shape {shape}); supported: rank 2-4")


def import_model(model: Any) -> list[Layer]:
    """The engine's layer list for a built Keras model: input layer first, Keras weights attached."""
    import keras

    if not model.built or not model.inputs:
        raise UnsupportedModelError("the Keras model is not built (give it an Input or call build())")
    in_shape = _shape3(tuple(model.inputs[0].shape))
    graph = [Layer(0, "input", "input", in_shape, in_shape)]
    shape = in_shape
    flat = len(model.inputs[0].shape) == 2

    for position, layer in enumerate(_chain(model), start=1):
        _check_common(position, layer)
        last = graph[-1]
        if isinstance(layer, keras.layers.Dense):
            if not flat:
                raise _fail(position, layer, "Dense on a tensor of rank > 2 (add a Flatten first)")
            act = _activation(position, layer, layer.activation)
            out = (1, 1, int(layer.units))
            graph.append(Layer(len(graph), layer.name, "dense", shape, out, act, use_bias=layer.use_bias,
                               keras_layers=[layer.name], weights=_weights(layer)))
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            conv1d = isinstance(layer, keras.layers.Conv1D)
            if type(layer).__name__ not in ("Conv1D", "Conv2D"):
                raise _fail(position, layer, "this convolution variant is not supported")
            if flat:
                raise _fail(position, layer, "convolution on a flat tensor")
            if any(d != 1 for d in np.ravel(layer.dilation_rate)):
                raise _fail(position, layer, f"dilation_rate {layer.dilation_rate} (only 1)")
            if getattr(layer, "groups", 1) != 1:
                raise _fail(position, layer, f"groups={layer.groups} (only 1)")
            if layer.padding not in ("valid", "same"):
                raise _fail(position, layer, f"padding {layer.padding!r} (only valid or same)")
            kernel, strides = _pair(layer.kernel_size), _pair(layer.strides)
            oh, pt = _grid_out(shape[0], kernel[0], strides[0], layer.padding)
            ow, pl = _grid_out(shape[1], kernel[1], strides[1], layer.padding)
            if oh < 1 or ow < 1:
                raise _fail(position, layer, f"kernel {kernel} larger than its input {shape}")
            act = _activation(position, layer, layer.activation)
            graph.append(Layer(len(graph), layer.name, "conv", shape, (oh, ow, int(layer.filters)), act,
                               kernel, strides, (pt, pl), layer.use_bias, keras_layers=[layer.name],
                               weights=_weights(layer), conv1d=conv1d))
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            if flat:
                raise _fail(position, layer, "pooling on a flat tensor")
            kernel, strides = _pair(layer.pool_size), _pair(layer.strides or layer.pool_size)
            oh, pt = _grid_out(shape[0], kernel[0], strides[0], layer.padding)
            ow, pl = _grid_out(shape[1], kernel[1], strides[1], layer.padding)
            kind = "maxpool" if isinstance(layer, keras.layers.MaxPooling2D) else "avgpool"
            graph.append(Layer(len(graph), layer.name, kind, shape, (oh, ow, shape[2]), "identity",
                               kernel, strides, (pt, pl), keras_layers=[layer.name]))
        elif isinstance(layer, keras.layers.Flatten):
            flat = True
            last.keras_layers.append(layer.name)
            continue
        elif isinstance(layer, keras.layers.Dropout):
            if getattr(layer, "noise_shape", None) is not None:
                raise _fail(position, layer, "Dropout with a noise_shape is not supported")
            if last.dropout:
                raise _fail(position, layer, "two Dropout layers in a row")
            last.dropout = float(layer.rate)
            last.keras_layers.append(layer.name)
            continue
        elif isinstance(layer, keras.layers.Activation):
            act = _activation(position, layer, layer.activation)
            if last.kind == "input":
                raise _fail(position, layer, "an activation applied to the input")
            if last.activation != "identity" and act != "identity":
                raise _fail(position, layer, f"second activation after {last.activation!r}")
            if last.dropout:
                raise _fail(position, layer, "an activation after a Dropout")
            if act != "identity":
                last.activation = act
            last.keras_layers.append(layer.name)
            continue
        else:
            raise _fail(position, layer, "this layer type is not supported")
        shape = graph[-1].out_shape
        if graph[-1].kind != "dense":
            flat = False

    for layer in graph[:-1]:
        if layer.activation == "softmax":
            raise UnsupportedModelError(
                f"layer '{layer.name}': softmax is supported on the last layer only (it is the "
                f"loss's output); supported: {SUPPORTED}")
    if len(graph) < 2:
        raise UnsupportedModelError("the model has no layers to train")
    return graph


def _weights(layer: Any) -> list[np.ndarray]:
    return [np.array(w, dtype=np.float32, copy=True) for w in layer.get_weights()]
