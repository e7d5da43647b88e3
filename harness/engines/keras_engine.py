"""The reference engine: Keras 3 on TensorFlow (default), JAX or PyTorch, CPU or GPU.

Nothing here is imported at config time beyond the standard library: the
backend must be chosen through KERAS_BACKEND before Keras is first imported,
and `harness` must not pay for TensorFlow until a run needs it.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness.errors import ConfigError, EngineUnavailableError
from harness.schedule import StepSchedule

BACKENDS = ("tensorflow", "jax", "torch")
DEVICES = ("cpu", "gpu")


class WallClock:
    """Host wall time (monotonic): what a user waits for."""

    kind = "wall"

    def now_s(self) -> float:
        return time.perf_counter()


def _host_cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class _SampleCounter:
    """Keras callback factory: reports samples done after every batch.

    The callback is marked `async_safe`.  A per-batch callback that is not
    makes Keras run every callback's batch hook on the training thread, and
    that hook first converts the step's loss to a Python float: the thread
    then waits for each step to finish before it dispatches the next.  An
    async-safe one runs on Keras's callback threads, as a bare `fit` with no
    callbacks does; Keras waits for them all before the epoch ends, so every
    batch is counted when `fit` returns.  Those threads may run two batches'
    hooks at once, hence the lock.
    """

    @staticmethod
    def make(keras: Any, n: int, batch_size: int, on_samples: Any) -> Any:
        steps = math.ceil(n / batch_size)
        last = n - (steps - 1) * batch_size
        lock = threading.Lock()

        class SampleCounter(keras.callbacks.Callback):
            async_safe = True

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                with lock:
                    on_samples(last if batch == steps - 1 else batch_size)

        return SampleCounter()


def _loss(keras: Any, spec: Any) -> Any:
    """The workload's loss; integer labels are one-hot encoded inside it when smoothing."""
    if spec is None or spec.name == "sparse_categorical_crossentropy":
        return "sparse_categorical_crossentropy"
    ops, smoothing = keras.ops, float(spec.label_smoothing)

    def smoothed_crossentropy(y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=smoothing)

    return smoothed_crossentropy


def _optimizer(keras: Any, opt: dict[str, Any], learning_rate: Any) -> Any:
    """The recipe's optimizer; SGD without weight decay is Keras's own, as it always was."""
    if opt["name"] == "adam":
        return keras.optimizers.Adam(
            learning_rate=learning_rate,
            beta_1=opt.get("beta_1", 0.9),
            beta_2=opt.get("beta_2", 0.999),
            epsilon=opt.get("epsilon", 1e-7),
        )
    if opt["name"] == "sgd" and not opt.get("weight_decay"):
        return keras.optimizers.SGD(
            learning_rate=learning_rate,
            momentum=opt.get("momentum", 0.0),
            nesterov=opt.get("nesterov", False),
        )
    from harness.engines.optimizers import make_lars_class

    if opt.get("nesterov"):
        raise EngineUnavailableError("recipe.optimizer: nesterov with weight_decay is not supported "
                                     "by the keras engine; drop one of them")
    return make_lars_class(keras)(
        learning_rate=learning_rate,
        momentum=opt.get("momentum", 0.0),
        weight_decay=opt.get("weight_decay", 0.0),
        eta=opt.get("eta", 0.001),
        epsilon=opt.get("epsilon", 0.0),
        adaptive=opt["name"] == "lars",  # SGD + weight decay: the same update with trust 1
    )


def tf_epoch_dataset(x: Any, y: Any, batch_size: int) -> Any:
    """A tf.data pipeline that reshuffles (x, y) on every pass over it.

    Keras's own pipeline for arrays prefetches with tf.data autotuning, and an
    autotuned iterator can take seconds to shut down on a 2-core host.  One
    `fit` per epoch shuts one down every epoch, where a single multi-epoch
    `fit` does so once: measured on LeNet-5, up to 4 s of idle wait after
    7 s epochs.  This is the same pipeline (a fresh permutation each pass,
    batches gathered from it) without autotuning.
    """
    import tensorflow as tf

    n = int(x.shape[0])
    dataset = (
        tf.data.Dataset.range(n)
        .shuffle(n, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
        .prefetch(1)
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


class KerasSession:
    """One compiled Keras model being trained."""

    def __init__(self, keras: Any, model: Any, recipe: dict[str, Any], loss: Any = None,
                 step_schedule: StepSchedule | None = None) -> None:
        self._keras = keras
        self.model = model
        self.batch_size = int(recipe["batch_size"])
        opt = recipe["optimizer"]
        learning_rate: Any = opt["learning_rate"]
        if step_schedule is not None:
            from harness.engines.optimizers import make_step_schedule_class

            learning_rate = make_step_schedule_class(keras)(step_schedule)
        self.per_step = step_schedule is not None
        model.compile(optimizer=_optimizer(keras, opt, learning_rate), loss=_loss(keras, loss))

    def set_learning_rate(self, lr: float) -> None:
        if self.per_step:
            raise RuntimeError("this session follows a per-step schedule; set_learning_rate does not apply")
        self.model.optimizer.learning_rate = lr

    def current_learning_rate(self) -> float:
        return float(np.asarray(self._keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def train_epoch(self, x: np.ndarray, y: np.ndarray, on_samples: Any) -> None:
        counter = _SampleCounter.make(self._keras, len(x), self.batch_size, on_samples)
        if self._keras.backend.backend() == "tensorflow":
            self.model.fit(self._tf_epochs(x, y), epochs=1, shuffle=False, verbose=0, callbacks=[counter])
            return
        x_dev, y_dev = self._on_device(x, y)
        self.model.fit(
            x_dev, y_dev, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0,
            callbacks=[counter],
        )

    def _on_device(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        """Backend tensors of (x, y), converted once while the same arrays come back each epoch.

        One `fit` call per epoch would otherwise copy the whole training set into
        the backend every epoch, a cost a single multi-epoch `fit` pays once.
        """
        cached = getattr(self, "_device_cache", None)
        if cached is None or cached[0] is not x or cached[1] is not y:
            ops = self._keras.ops
            cached = (x, y, ops.convert_to_tensor(x), ops.convert_to_tensor(y))
            self._device_cache = cached
        return cached[2], cached[3]

    def _tf_epochs(self, x: np.ndarray, y: np.ndarray) -> Any:
        """The tf.data pipeline of (x, y), built once while the same arrays come back each epoch."""
        cached = getattr(self, "_tf_cache", None)
        if cached is None or cached[0] is not x or cached[1] is not y:
            x_dev, y_dev = self._on_device(x, y)
            cached = (x, y, tf_epoch_dataset(x_dev, y_dev, self.batch_size))
            self._tf_cache = cached
        return cached[2]

    def train_stream(self, batches: Iterator[tuple[np.ndarray, np.ndarray]], steps: int,
                     on_samples: Any) -> None:
        """One epoch of `steps` full batches from a stream (any backend takes a Python generator)."""
        counter = _SampleCounter.make(self._keras, steps * self.batch_size, self.batch_size, on_samples)

        def generator() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            yield from batches

        self.model.fit(generator(), steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0,
                       callbacks=[counter])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=2048, verbose=0))

    def close(self) -> None:
        self._keras.backend.clear_session()


class KerasEngine:
    """Trains the workload's Keras model with Keras itself."""

    name = "keras"

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = self.validate_options(options)
        self.clock = WallClock()
        self._keras = self._import_keras()

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        allowed = {"backend": BACKENDS, "device": DEVICES}
        for key in options:
            if key not in allowed:
                raise ConfigError(
                    f"engine.options.{key} is not an option of engine 'keras'; "
                    f"allowed: {', '.join(allowed)}"
                )
        merged = {"backend": "tensorflow", "device": "cpu", **options}
        for key, values in allowed.items():
            if merged[key] not in values:
                raise ConfigError(
                    f"engine.options.{key}: {merged[key]!r} is not allowed; "
                    f"allowed: {', '.join(values)}"
                )
        return merged

    def _import_keras(self) -> Any:
        backend, device = self.options["backend"], self.options["device"]
        module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
        if importlib.util.find_spec(module) is None:
            raise EngineUnavailableError(
                f"engine.options.backend: {backend!r} is not installed here "
                f"(pip install {module}); installed: "
                + ", ".join(b for b in BACKENDS if importlib.util.find_spec(b)),
            )
        already = os.environ.get("KERAS_BACKEND")
        import sys

        if "keras" in sys.modules and already not in (None, backend):
            raise EngineUnavailableError(
                f"Keras was already imported with backend {already!r} in this process; "
                f"run {backend!r} in a fresh process"
            )
        os.environ["KERAS_BACKEND"] = backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if device == "cpu" and backend == "tensorflow":
            os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        import keras

        if device == "gpu" and not self._gpu_names(backend):
            raise EngineUnavailableError(f"engine.options.device: no GPU is visible to {backend!r}")
        return keras

    @staticmethod
    def _gpu_names(backend: str) -> list[str]:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices() if d.platform == "gpu"]
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]

    def provenance(self) -> dict[str, Any]:
        backend = self.options["backend"]
        backend_module = __import__(backend)
        device = self.options["device"]
        return {
            "engine": self.name,
            "keras": self._keras.__version__,
            "backend": backend,
            "backend_version": getattr(backend_module, "__version__", "unknown"),
            "numpy": np.__version__,
            "python": platform.python_version(),
            "device": device,
            "device_name": ", ".join(self._gpu_names(backend)) if device == "gpu"
            else _host_cpu_name(),
            "host_cpus": os.cpu_count(),
        }

    def seed(self, seed: int) -> None:
        self._keras.utils.set_random_seed(seed)

    def session(self, model: Any, recipe: dict[str, Any], loss: Any = None,
                step_schedule: StepSchedule | None = None) -> KerasSession:
        return KerasSession(self._keras, model, recipe, loss, step_schedule)

    def energy_device(self) -> str:
        return self.options["device"]
