"""ImageNet 2012 for ResNet-50: the real data through TFDS, or labelled synthetic batches.

Real data: TFDS's `imagenet2012` builder, prepared once from the two archives
a user downloads from image-net.org (TFDS cannot fetch them: they need a
login).  `data_dir` holds the archives; the prepared TFRecords go to
`<data_dir>/tfds`.  Nothing is ever downloaded (`try_gcs=False`, manual
directory only).

Preprocessing is MLPerf's reference: training takes a random crop of
8%-100% of the image area with aspect ratio 3/4-4/3, resized to the model's
size, and a random horizontal flip; evaluation resizes the shorter side to
256 (for 224; scaled with the size) and takes the central crop.  Both then
subtract the ImageNet channel means and divide by the channel standard
deviations.  The crop is decoded straight from the JPEG (decode_and_crop),
decoding runs in parallel and batches are prefetched, so the accelerator is
not kept waiting on the host.  Batches leave as numpy arrays, which Keras on
any backend (and any engine) accepts; tf.data runs on the CPU only.

Synthetic data (`data: synthetic`) is for throughput runs and harness
tests: generated images, never read from disk, and always labelled
"synthetic" in logs and summaries.  Each class has its own colour, so a
model can learn it; `label_noise` relabels a fixed fraction of the samples so
that a perfect model scores 1 - noise (MLPerf's checker rejects an accuracy
of exactly 1.0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workloads.base import Batch, StreamingDataset
from workloads.errors import DatasetError

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
TRAIN_SIZE = 1_281_167
EVAL_SIZE = 50_000
NUM_CLASSES = 1000
MEAN_RGB = (123.68, 116.78, 103.94)
STDDEV_RGB = (58.393, 57.12, 57.375)
CROP_AREA = (0.08, 1.0)
CROP_ASPECT = (3.0 / 4.0, 4.0 / 3.0)
EVAL_RESIZE_FOR_224 = 256
SHUFFLE_BUFFER = 10_000


# --------------------------------------------------------------------------
# Synthetic


def synthetic_dataset(image_size: int, train_samples: int, eval_samples: int,
                      classes: int = NUM_CLASSES, label_noise: float = 0.0,
                      seed: int = 0) -> StreamingDataset:
    """Generated ImageNet-shaped batches: class colour plus noise, a fixed fraction relabelled.

    A small pool of images per class is generated once and indexed by sample
    number, so making a batch costs a gather, not a generator; the data is
    the same for every run (`seed` is the data's, not the run's).
    """
    rng = np.random.default_rng(seed)
    colours = rng.normal(0.0, 1.0, size=(classes, 1, 1, 3)).astype(np.float32)
    pool_per_class = max(1, min(64 // classes, 8))
    noise = rng.normal(0.0, 0.5, size=(pool_per_class, image_size, image_size, 3)).astype(np.float32)

    def labels(n: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng([seed, salt])
        true = r.integers(0, classes, size=n).astype(np.int32)
        shown = true.copy()
        flip = r.permutation(n)[: int(round(label_noise * n))]
        shown[flip] = (true[flip] + 1 + r.integers(0, NUM_CLASSES - 1, size=len(flip))) % NUM_CLASSES
        return true, shown

    train_true, train_shown = labels(train_samples, 1)
    eval_true, eval_shown = labels(eval_samples, 2)

    def images(ids: np.ndarray, true: np.ndarray) -> np.ndarray:
        return colours[true[ids]] + noise[ids % pool_per_class]

    def train_batches(epoch: int, run_seed: int, batch_size: int) -> Iterator[Batch]:
        order = np.random.default_rng([run_seed, epoch]).permutation(train_samples)
        for step in range(max(train_samples // batch_size, 1)):
            ids = order[step * batch_size:(step + 1) * batch_size]
            if len(ids) < batch_size:  # fewer samples than one batch: wrap around
                ids = np.resize(order, batch_size)
            yield images(ids, train_true), train_shown[ids]

    def eval_batches(batch_size: int) -> Iterator[Batch]:
        for start in range(0, eval_samples, batch_size):
            ids = np.arange(start, min(start + batch_size, eval_samples))
            yield images(ids, eval_true), eval_shown[ids]

    return StreamingDataset(
        train_samples=train_samples, eval_samples=eval_samples,
        train_batches=train_batches, eval_batches=eval_batches,
        input_shape=(image_size, image_size, 3), num_classes=NUM_CLASSES,
        source=(f"synthetic: {classes} class colour(s) + Gaussian noise, label noise {label_noise}, "
                f"{image_size}x{image_size}, not ImageNet"),
        synthetic=True,
    )


# --------------------------------------------------------------------------
# Real ImageNet through TFDS


def missing_data_message(data_dir: str | None) -> str:
    where = Path(data_dir).resolve() if data_dir else Path("<data_dir>")
    return (
        f"ImageNet 2012 is not in {where}: put {TRAIN_TAR} (138 GB) and {VAL_TAR} (6.3 GB), "
        f"downloaded from https://image-net.org (login required), in that directory "
        f"(set data_dir in the config or --set data_dir=DIR); they are prepared once into "
        f"{where / 'tfds'}.  For a throughput run without ImageNet use "
        f"--set workload_options.data=synthetic"
    )


def tfds_builder(data_dir: str | None) -> Any:
    """The `imagenet2012` builder over `<data_dir>/tfds`, prepared from the archives if needed.

    Raises DatasetError (the harness exits 2) naming the files and where they go
    when neither a prepared copy nor both archives are there.
    """
    if not data_dir:
        raise DatasetError(missing_data_message(None))
    import tensorflow_datasets as tfds

    root = Path(data_dir)
    builder = tfds.builder("imagenet2012", data_dir=str(root / "tfds"), try_gcs=False)
    if builder.is_prepared():
        return builder
    missing = [name for name in (TRAIN_TAR, VAL_TAR) if not (root / name).is_file()]
    if missing:
        raise DatasetError(missing_data_message(data_dir) + f" (missing: {', '.join(missing)})")
    config = tfds.download.DownloadConfig(manual_dir=str(root), try_download_gcs=False)
    builder.download_and_prepare(download_config=config)
    return builder


def _normalise(tf: Any, image: Any) -> Any:
    image = tf.cast(image, tf.float32)
    return (image - tf.constant(MEAN_RGB)) / tf.constant(STDDEV_RGB)


def train_transform(tf: Any, image_size: int) -> Any:
    """JPEG bytes and label to a randomly cropped, flipped, normalised image (reference training)."""

    def transform(jpeg: Any, label: Any) -> tuple[Any, Any]:
        shape = tf.io.extract_jpeg_shape(jpeg)
        whole = tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4])
        begin, size, _ = tf.image.sample_distorted_bounding_box(
            shape, bounding_boxes=whole, min_object_covered=0.0, aspect_ratio_range=CROP_ASPECT,
            area_range=CROP_AREA, max_attempts=10, use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        image = tf.io.decode_and_crop_jpeg(jpeg, window, channels=3)
        image = tf.image.resize(image, [image_size, image_size], method="bilinear")
        image = tf.image.random_flip_left_right(image)
        return _normalise(tf, image), tf.cast(label, tf.int32)

    return transform


def eval_transform(tf: Any, image_size: int) -> Any:
    """JPEG bytes and label to a resized, centrally cropped, normalised image (reference evaluation)."""
    resize_to = int(round(image_size * EVAL_RESIZE_FOR_224 / 224))

    def transform(jpeg: Any, label: Any) -> tuple[Any, Any]:
        image = tf.io.decode_jpeg(jpeg, channels=3)
        h, w = tf.shape(image)[0], tf.shape(image)[1]
        scale = resize_to / tf.cast(tf.minimum(h, w), tf.float32)
        new_h = tf.cast(tf.round(tf.cast(h, tf.float32) * scale), tf.int32)
        new_w = tf.cast(tf.round(tf.cast(w, tf.float32) * scale), tf.int32)
        image = tf.image.resize(image, [new_h, new_w], method="bilinear")
        top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
        image = image[top:top + image_size, left:left + image_size, :]
        image = tf.ensure_shape(image, [image_size, image_size, 3])
        return _normalise(tf, image), tf.cast(label, tf.int32)

    return transform


def _split(name: str, samples: int, full: int) -> str:
    return name if samples >= full else f"{name}[:{samples}]"


def imagenet_dataset(data_dir: str | None, image_size: int, train_samples: int | None = None,
                     eval_samples: int | None = None) -> StreamingDataset:
    """ImageNet 2012 (or its first `train_samples` / `eval_samples`) as MLPerf-preprocessed batches."""
    builder = tfds_builder(data_dir)
    import tensorflow as tf
    import tensorflow_datasets as tfds

    tf.config.set_visible_devices([], "GPU")  # the input pipeline stays on the host CPU
    sizes = {"train": TRAIN_SIZE, "validation": EVAL_SIZE,
             **{name: split.num_examples for name, split in builder.info.splits.items()}}
    n_train = min(train_samples or sizes["train"], sizes["train"])
    n_eval = min(eval_samples or sizes["validation"], sizes["validation"])
    raw = {"image": tfds.decode.SkipDecoding()}
    autotune = tf.data.AUTOTUNE

    def pairs(split: str, shuffle_seed: int | None) -> Any:
        read = tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False)
        ds = builder.as_dataset(split=split, decoders=raw, shuffle_files=shuffle_seed is not None,
                                read_config=read)
        return ds.map(lambda ex: (ex["image"], ex["label"]), num_parallel_calls=autotune)

    train_fn, eval_fn = train_transform(tf, image_size), eval_transform(tf, image_size)

    def train_batches(epoch: int, run_seed: int, batch_size: int) -> Iterator[Batch]:
        seed = int(np.random.default_rng([run_seed, epoch]).integers(2**31))
        ds = pairs(_split("train", n_train, sizes["train"]), seed)
        ds = ds.shuffle(min(SHUFFLE_BUFFER, n_train), seed=seed).repeat()
        ds = ds.map(train_fn, num_parallel_calls=autotune, deterministic=False)
        ds = ds.batch(batch_size, drop_remainder=True).take(max(n_train // batch_size, 1))
        return ds.prefetch(autotune).as_numpy_iterator()

    def eval_batches(batch_size: int) -> Iterator[Batch]:
        ds = pairs(_split("validation", n_eval, sizes["validation"]), None)
        ds = ds.take(n_eval).map(eval_fn, num_parallel_calls=autotune).batch(batch_size)
        return ds.prefetch(autotune).as_numpy_iterator()

    return StreamingDataset(
        train_samples=n_train, eval_samples=n_eval,
        train_batches=train_batches, eval_batches=eval_batches,
        input_shape=(image_size, image_size, 3), num_classes=NUM_CLASSES,
        source=f"ImageNet 2012 (TFDS imagenet2012 {builder.version}) from {Path(data_dir).resolve()}",
        synthetic=False,
    )
