"""ResNet-50 v1.5, as MLPerf's image-classification benchmark defines it.

v1.5 differs from the original ResNet-50 (v1, and `keras.applications.ResNet50`)
in one place: a downsampling bottleneck block strides its 3x3 convolution, not
its first 1x1, so no input pixel is skipped before the 3x3 sees it.  Beyond
the architecture, the initialisation follows the MLPerf reference
implementations (mlcommons/training image_classification, NVIDIA's
DeepLearningExamples ResNet-50 v1.5):

* convolutions have no bias; kernels are He-initialised (normal, variance
  2 / fan_out, as NVIDIA's implementation does);
* batch normalisation uses momentum 0.9 and epsilon 1e-5; the last batch
  normalisation of every residual branch starts with gamma = 0, so each block
  starts as the identity (its branch adds nothing until it learns);
* the classifier is a 1000-way dense layer initialised N(0, 0.01), bias 0,
  with a softmax output (the engines' `predict` returns probabilities).

A strided convolution pads symmetrically by (k - 1) / 2 before a 'valid'
convolution, as the reference's fixed padding does (Keras's 'same' would
pad only after on an even input).  Trainable parameters: 25,557,032.

Keras is imported inside `build_resnet50`, never at import time.
"""

from __future__ import annotations

from typing import Any

NUM_CLASSES = 1000
# (bottleneck width, blocks) of the four stages; the first block of stages 2-4 strides by 2.
STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
EXPANSION = 4
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
TRAINABLE_PARAMETERS = 25_557_032


def build_resnet50(input_shape: tuple[int, int, int] = (224, 224, 3), num_classes: int = NUM_CLASSES,
                   name: str = "resnet50_v1_5") -> Any:
    """A fresh, uncompiled ResNet-50 v1.5 Keras model taking NHWC float images."""
    import keras

    layers = keras.layers
    he = keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")

    def conv(x: Any, filters: int, kernel: int, stride: int, label: str) -> Any:
        if stride > 1:
            pad = (kernel - 1) // 2
            x = layers.ZeroPadding2D(pad, name=f"{label}_pad")(x)
        return layers.Conv2D(filters, kernel, strides=stride, padding="same" if stride == 1 else "valid",
                             use_bias=False, kernel_initializer=he, name=label)(x)

    def bn(x: Any, label: str, zero_gamma: bool = False) -> Any:
        return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                         gamma_initializer="zeros" if zero_gamma else "ones",
                                         name=label)(x)

    def bottleneck(x: Any, width: int, stride: int, project: bool, label: str) -> Any:
        shortcut = x
        if project:  # 1x1 with the block's stride: needs no padding
            shortcut = layers.Conv2D(width * EXPANSION, 1, strides=stride, use_bias=False,
                                     kernel_initializer=he, name=f"{label}_proj")(x)
            shortcut = bn(shortcut, f"{label}_proj_bn")
        y = conv(x, width, 1, 1, f"{label}_conv1")
        y = layers.ReLU(name=f"{label}_relu1")(bn(y, f"{label}_bn1"))
        y = conv(y, width, 3, stride, f"{label}_conv2")  # v1.5: the stride is here
        y = layers.ReLU(name=f"{label}_relu2")(bn(y, f"{label}_bn2"))
        y = conv(y, width * EXPANSION, 1, 1, f"{label}_conv3")
        y = bn(y, f"{label}_bn3", zero_gamma=True)
        return layers.ReLU(name=f"{label}_out")(layers.Add(name=f"{label}_add")([shortcut, y]))

    inputs = keras.Input(input_shape, name="image")
    x = conv(inputs, 64, 7, 2, "stem_conv")
    x = layers.ReLU(name="stem_relu")(bn(x, "stem_bn"))
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, (width, blocks) in enumerate(STAGES, start=1):
        for block in range(blocks):
            stride = 2 if (block == 0 and stage > 1) else 1
            x = bottleneck(x, width, stride, project=block == 0, label=f"s{stage}b{block + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                           bias_initializer="zeros", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)
