"""ResNet-50 training throughput: the harness's path against a bare Keras loop, in one process.

    .venv/bin/python benchmarks/resnet_throughput.py [--batch 8] [--steps 8] [--image-size 224]
                                                     [--backend tensorflow]

All training data here is SYNTHETIC (generated images, labelled so in the
output); it measures speed, never accuracy.  Three figures, images/s:

1. bare Keras: `model.fit` over one in-memory batch repeated, SGD, sparse
   cross-entropy: the fastest this host trains ResNet-50 with Keras;
2. harness: the workload's model through the Keras engine's session, exactly
   as a run trains it (synthetic StreamingDataset -> numpy batches -> fit on a
   generator, LARS, label smoothing, per-step polynomial schedule);
3. input pipeline alone: MLPerf training preprocessing (JPEG decode and crop,
   resize, flip, normalise) on generated JPEGs through tf.data, no model: it
   must outrun (2) by far, or the accelerator would wait on the host.

Compilation is kept out of the timings (warm-up steps first).
"""

from __future__ import annotations

import argparse
import os
import time


def _bare_keras(keras, build, size: int, batch: int, steps: int, warmup: int) -> float:
    import numpy as np

    model = build((size, size, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 1000, size=batch).astype("int32")
    model.fit(np.repeat(x, warmup, axis=0), np.tile(y, warmup), batch_size=batch, epochs=1,
              shuffle=False, verbose=0)  # compiles the same function the timed fit uses
    xs, ys = np.repeat(x, steps, axis=0), np.tile(y, steps)
    t0 = time.perf_counter()
    model.fit(xs, ys, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return steps * batch / (time.perf_counter() - t0)


def _harness(keras, size: int, batch: int, steps: int, warmup: int) -> float:
    from harness.engines.keras_engine import KerasSession
    from harness.schedule import step_schedule
    from workloads import get
    from workloads.imagenet_data import synthetic_dataset

    workload = get("resnet", {"data": "synthetic", "image_size": size})
    recipe = dict(workload.default_recipe, batch_size=batch)
    data = synthetic_dataset(size, (steps + warmup) * batch, batch)
    session = KerasSession(keras, workload.build_model(), recipe, workload.loss,
                           step_schedule(recipe, data.steps_per_epoch(batch)))
    batches = data.train_batches(1, 0, batch)
    warm = [next(batches) for _ in range(warmup)]
    session.train_stream(iter(warm), warmup, lambda n: None)
    t0 = time.perf_counter()
    session.train_stream(batches, steps, lambda n: None)
    return steps * batch / (time.perf_counter() - t0)


def _pipeline(size: int, images: int) -> float:
    import numpy as np
    import tensorflow as tf

    from workloads.imagenet_data import train_transform

    rng = np.random.default_rng(0)
    jpegs = [tf.io.encode_jpeg(rng.integers(0, 256, size=(375, 500, 3), dtype=np.uint8)).numpy()
             for _ in range(32)]  # ImageNet's typical 500x375
    ds = tf.data.Dataset.from_tensor_slices((jpegs, np.arange(32, dtype=np.int64) % 1000)).repeat()
    ds = ds.map(train_transform(tf, size), num_parallel_calls=tf.data.AUTOTUNE).batch(32)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    it = ds.as_numpy_iterator()
    next(it)
    t0 = time.perf_counter()
    for _ in range(images // 32):
        next(it)
    return (images // 32) * 32 / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--pipeline-images", type=int, default=1024)
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from workloads.resnet_model import build_resnet50

    print(f"ResNet-50 v1.5 training throughput, {args.image_size}x{args.image_size}, batch {args.batch}, "
          f"Keras {keras.__version__} on {args.backend}, {os.cpu_count()} CPU(s); data: SYNTHETIC")
    bare = _bare_keras(keras, build_resnet50, args.image_size, args.batch, args.steps, args.warmup)
    print(f"  bare Keras fit (in-memory batch, SGD):          {bare:8.2f} img/s")
    keras.backend.clear_session()
    harness = _harness(keras, args.image_size, args.batch, args.steps, args.warmup)
    print(f"  harness session (stream, LARS, smoothing, poly): {harness:8.2f} img/s "
          f"({harness / bare:.2f}x bare)")
    try:
        pipe = _pipeline(args.image_size, args.pipeline_images)
        print(f"  input pipeline alone (JPEG decode+crop, tf.data): {pipe:8.1f} img/s "
              f"({pipe / harness:.0f}x what training consumes)")
    except ImportError:
        print("  input pipeline alone: skipped (TensorFlow is not installed; tf.data needs it)")


if __name__ == "__main__":
    main()
