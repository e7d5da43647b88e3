"""Shared fixtures: small real-MNIST workloads for exercising the harness quickly.

They use the real shipped data (a slice of it) and a real Keras model, so the
harness, the engine and the MLPerf checker all see genuine training; only the
size is cut to keep the suite fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import workloads
from workloads.base import Dataset, QualityTarget, Workload
from workloads.mnist_data import load_mnist, normalise

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class TinyMnist(Workload):
    """784-16-10 on 2,000 training and 1,000 test images; optional injected faults."""

    fail_at_epoch: int | None = None
    fail_with: type[BaseException] = RuntimeError

    def build_model(self, member: int = 0):
        import keras

        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(16, activation="relu")(x)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

    def load_data(self, data_dir=None) -> Dataset:
        m = load_mnist(data_dir)
        return Dataset(
            normalise(m.train.images[:2000]), m.train.labels[:2000].astype(np.int32),
            normalise(m.test.images[:1000]), m.test.labels[:1000].astype(np.int32), m.source,
        )

    @property
    def augments(self) -> bool:
        return self.fail_at_epoch is not None

    def augment(self, x, rng):
        self._epochs_seen = getattr(self, "_epochs_seen", 0) + 1
        if self._epochs_seen >= self.fail_at_epoch:
            raise self.fail_with("injected fault")
        return x


class TinyEnsemble(TinyMnist):
    """Two tiny nets; the second trains on the samples the first gets wrong plus as many right."""

    def member_training_set(self, member, data, trained, rng, report=None):
        if member == 0:
            return data.x_train, data.y_train
        wrong = np.argmax(trained[0](data.x_train), axis=1) != data.y_train
        idx = np.concatenate([np.flatnonzero(wrong), np.flatnonzero(~wrong)[: wrong.sum()]])
        if report is not None:
            report(f"{int(wrong.sum())} wrong")
        return data.x_train[idx], data.y_train[idx]


class TinyRandomEnsemble(TinyEnsemble):
    """As TinyEnsemble, but every epoch's data is perturbed and the second set drawn at random.

    Both draw on the run's random generator, as boosted LeNet-4's distortions and
    candidate sampling do: a resumed run must continue that generator exactly.
    """

    @property
    def augments(self) -> bool:
        return True

    def augment(self, x, rng):
        return (x + rng.normal(0.0, 0.05, x.shape)).astype(x.dtype)

    def member_training_set(self, member, data, trained, rng, report=None):
        if member == 0:
            return data.x_train, data.y_train
        idx = rng.choice(len(data.x_train), size=len(data.x_train) // 2, replace=False)
        wrong = np.argmax(trained[0](data.x_train[idx]), axis=1) != data.y_train[idx]
        keep = np.concatenate([idx[wrong], idx[~wrong][: max(64, int(wrong.sum()))]])
        return data.x_train[keep], data.y_train[keep]


RECIPE = {
    "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": False},
    "schedule": {"kind": "constant"},
    "warmup_epochs": 0,
    "batch_size": 64,
    "max_epochs": 3,
    "eval_every": 1,
    "eval_offset": 0,
}


def tiny(name: str, target: float, cls=TinyMnist, **attrs) -> Workload:
    recipe = dict(RECIPE)
    ensemble = issubclass(cls, TinyEnsemble)
    if ensemble:
        recipe["member_epochs"] = [1]
    w = cls(name=name, benchmark=name, description="test workload",
            target=QualityTarget("accuracy", target, "test"), default_recipe=recipe,
            ensemble_size=2 if ensemble else 1)
    for k, v in attrs.items():
        setattr(w, k, v)
    return w


@pytest.fixture(scope="session", autouse=True)
def temporary_folders_under_pytest(tmp_path_factory):
    """Mapping folders the code under test makes with `tempfile` go under pytest's base folder, which
    pytest prunes (it keeps the last three), rather than piling up in the system's for good."""
    import tempfile

    before = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tempfile"))
    yield
    tempfile.tempdir = before


@pytest.fixture
def tiny_registry(monkeypatch):
    """Registers test workloads beside the real ones."""
    extra = {
        "tiny_easy": tiny("tiny_easy", 0.5),
        "tiny_unreachable": tiny("tiny_unreachable", 0.999),
        "tiny_crash": tiny("tiny_crash", 0.999, fail_at_epoch=2),
        "tiny_interrupt": tiny("tiny_interrupt", 0.999, fail_at_epoch=2,
                               fail_with=KeyboardInterrupt),
        "tiny_ensemble": tiny("tiny_ensemble", 0.8, cls=TinyEnsemble),
        "tiny_random_ensemble": tiny("tiny_random_ensemble", 0.999, cls=TinyRandomEnsemble),
    }
    real = workloads._registry

    def registry():
        fresh = {name: tiny(name, w.target.value, cls=type(w),
                            fail_at_epoch=w.fail_at_epoch, fail_with=w.fail_with)
                 for name, w in extra.items()}
        return {**real(), **fresh}

    monkeypatch.setattr(workloads, "_registry", registry)
    return extra


def write_config(path: Path, benchmark: str, output: Path, **extra) -> Path:
    import yaml

    config = {
        "benchmark": benchmark,
        "engine": {"name": "keras", "options": {"backend": "tensorflow", "device": "cpu"}},
        "runs": {"count": 1, "base_seed": 7},
        "system": {"system_name": "test-host"},
        "energy": {"meter": "auto"},
        "output_dir": str(output),
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`run-benchmark` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
        cwd=cwd or ROOT, timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
