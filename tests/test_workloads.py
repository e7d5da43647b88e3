"""Tests of the MNIST workloads: registry, models, options, data, distortions, boosting.

Fast by design (no training): they pin what every engine relies on, i.e. the
exact architectures (parameter counts computed here by hand from the layer
shapes, not read back from Keras), the data contract and the boosting filters.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import workloads
from workloads import Dataset, WorkloadError
from workloads.mnist import BACKGROUND, distort

ROOT = Path(__file__).resolve().parents[1]
NAMES = [
    "mnist_boosted_lenet4",
    "mnist_lenet1",
    "mnist_lenet4",
    "mnist_lenet5",
    "mnist_mlp1",
    "mnist_mlp2",
]


def conv(out_hw: int, out_c: int, k: int, in_c: int) -> tuple[int, int]:
    """(params, MACs) of a k x k convolution with bias."""
    return (k * k * in_c + 1) * out_c, out_hw * out_hw * out_c * k * k * in_c


def dense(n_in: int, n_out: int) -> tuple[int, int]:
    return (n_in + 1) * n_out, n_in * n_out


def total(*layers: tuple[int, int]) -> tuple[int, int]:
    return sum(p for p, _ in layers), sum(m for _, m in layers)


# Computed from the documented layer shapes, independently of the module.
EXPECTED = {
    "mnist_mlp1": total(dense(784, 300), dense(300, 10)),
    "mnist_mlp2": total(dense(784, 300), dense(300, 100), dense(100, 10)),
    # 28 -> C1 24 -> S2 12 -> C3 8 -> S4 4
    "mnist_lenet1": total(conv(24, 4, 5, 1), conv(8, 12, 5, 4), dense(4 * 4 * 12, 10)),
    # 32 (28 'same') -> C1 28 -> S2 14 -> C3 10 -> S4 5 -> C5 1x1x120
    "mnist_lenet4": total(conv(28, 4, 5, 1), conv(10, 16, 5, 4), conv(1, 120, 5, 16), dense(120, 10)),
    "mnist_lenet5": total(
        conv(28, 6, 5, 1),
        conv(10, 16, 5, 6),
        conv(1, 120, 5, 16),
        dense(120, 84),
        dense(84, 10),
    ),
}
EXPECTED["mnist_boosted_lenet4"] = EXPECTED["mnist_lenet4"]

ALLOWED_LAYERS = {
    "InputLayer",
    "Dense",
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "Flatten",
    "Activation",
    "Dropout",
}


def test_registry_names_and_get() -> None:
    assert workloads.names() == sorted([*NAMES, "resnet"])  # MNIST family + ImageNet (issue 7)
    for name in NAMES:
        w = workloads.get(name)
        assert w.name == name
        assert w.benchmark == name  # one results directory per network
        assert w.target.metric == "accuracy"
        assert "LeCun" in w.target.source


def test_targets_are_the_papers() -> None:
    targets = {n: workloads.get(n).target.value for n in NAMES}
    assert targets == {
        "mnist_mlp1": 0.953,
        "mnist_mlp2": 0.9695,
        "mnist_lenet1": 0.983,
        "mnist_lenet4": 0.989,
        "mnist_lenet5": 0.9905,
        "mnist_boosted_lenet4": 0.993,
    }


def test_unknown_workload_names_the_allowed_ones() -> None:
    with pytest.raises(WorkloadError, match="unknown workload 'mnist_lenet9'.*mnist_lenet5"):
        workloads.get("mnist_lenet9")


def test_import_does_not_import_tensorflow_or_keras() -> None:
    code = (
        "import sys, workloads\n"
        "for n in workloads.names():\n"
        "    w = workloads.get(n)\n"
        "    w.reference, w.default_recipe, w.target\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_build_model_architecture(name: str) -> None:
    w = workloads.get(name)
    model = w.build_model()
    params, macs = EXPECTED[name]
    assert model.count_params() == params
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == params
    assert model.output_shape == (None, 10)
    assert model.input_shape == (None, 28, 28, 1)
    assert getattr(model, "optimizer", None) is None, "the engine compiles, not the workload"
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds <= ALLOWED_LAYERS, kinds - ALLOWED_LAYERS
    assert model.layers[-1].get_config()["activation"] == "softmax"
    ensemble = w.ensemble_size
    assert w.reference["params"] == params * ensemble
    assert w.reference["macs"] == macs * ensemble
    assert w.reference["deviations"] and all(isinstance(d, str) for d in w.reference["deviations"])
    assert w.reference["paper_error_percent"] == pytest.approx(100 * (1 - w.target.value))


def test_lenet_layer_names_and_options_change_layers() -> None:
    w = workloads.get("mnist_lenet5", {"activation": "tanh", "pooling": "average"})
    model = w.build_model()
    names = [layer.name for layer in model.layers]
    assert names[1:] == ["C1", "S2", "C3", "S4", "C5", "flatten", "F6", "output"]
    assert type(model.get_layer("S2")).__name__ == "AveragePooling2D"
    assert model.get_layer("C1").get_config()["activation"] == "tanh"
    default = workloads.get("mnist_lenet5").build_model()
    assert type(default.get_layer("S2")).__name__ == "MaxPooling2D"
    assert default.get_layer("C1").get_config()["activation"] == "relu"


def test_boosted_members() -> None:
    w = workloads.get("mnist_boosted_lenet4")
    assert w.ensemble_size == 3
    a, b = w.build_model(0), w.build_model(2)
    assert a.name != b.name
    with pytest.raises(WorkloadError, match="member"):
        w.build_model(3)
    recipe = w.default_recipe
    assert len(recipe["member_epochs"]) == 2


@pytest.mark.parametrize(
    ("name", "options", "pattern"),
    [
        ("mnist_lenet5", {"activation": "gelu"}, "'activation'.*'relu', 'tanh'"),
        ("mnist_lenet1", {"pooling": "min"}, "'pooling'.*'max', 'average'"),
        ("mnist_boosted_lenet4", {"distortions": "yes"}, "'distortions'.*True, False"),
        ("mnist_mlp1", {"activation": "relu"}, "no option 'activation'"),
        ("mnist_lenet4", {"distortions": True}, "no option 'distortions'"),
    ],
)
def test_option_validation(name: str, options: dict, pattern: str) -> None:
    with pytest.raises(WorkloadError, match=pattern):
        workloads.get(name, options)


def test_recipes_have_the_harness_format() -> None:
    for name in NAMES:
        r = workloads.get(name).default_recipe
        assert r["optimizer"]["name"] == "sgd"
        assert set(r["optimizer"]) == {"name", "learning_rate", "momentum", "nesterov"}
        assert r["schedule"]["kind"] in {"constant", "step", "cosine"}
        if r["schedule"]["kind"] == "step":
            assert len(r["schedule"]["boundaries"]) == len(r["schedule"]["factors"])
        for key in ("warmup_epochs", "batch_size", "max_epochs", "eval_every", "eval_offset"):
            assert isinstance(r[key], int)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return workloads.get("mnist_lenet5").load_data()


def test_load_data(data: Dataset) -> None:
    assert data.x_train.shape == (60000, 28, 28, 1)
    assert data.x_test.shape == (10000, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and data.x_test.dtype == np.float32
    assert data.y_train.dtype == np.int32 and data.y_test.dtype == np.int32
    assert data.y_train.shape == (60000,) and data.y_test.shape == (10000,)
    assert data.num_classes == 10
    assert abs(float(data.x_train.mean())) < 1e-3
    assert float(data.x_train.std()) == pytest.approx(1.0, abs=1e-3)
    assert float(data.x_train.min()) == pytest.approx(BACKGROUND, abs=1e-5)
    assert list(data.y_train[:5]) == [5, 0, 4, 1, 9]
    assert Path(data.source).is_dir()
    # Cached: a second load (any workload) is the same object.
    assert workloads.get("mnist_mlp1").load_data() is data


def test_distortions(data: Dataset) -> None:
    w = workloads.get("mnist_boosted_lenet4")
    assert w.augments
    x = data.x_train[:500]
    a = w.augment(x, np.random.default_rng(7))
    assert a.shape == x.shape and a.dtype == np.float32
    assert not np.allclose(a, x)
    corr = [np.corrcoef(a[i].ravel(), x[i].ravel())[0, 1] for i in range(len(x))]
    assert np.mean(corr) > 0.5
    assert np.all(np.isfinite(a))
    assert a.min() >= BACKGROUND - 1e-4 and a.max() <= x.max() + 1e-4
    again = w.augment(x, np.random.default_rng(7))
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, w.augment(x, np.random.default_rng(8)))
    off = workloads.get("mnist_boosted_lenet4", {"distortions": False})
    assert not off.augments
    assert off.augment(x, np.random.default_rng(7)) is x
    assert not workloads.get("mnist_lenet5").augments


def test_distort_geometry(data: Dataset) -> None:
    x = data.x_train[:20]
    same = distort(x, np.random.default_rng(0), 0.0, (1.0, 1.0), 0.0, 0.0, 0.0)
    np.testing.assert_allclose(same, x, atol=1e-5)

    class MaxDraw:
        """An rng whose every uniform draw is the upper bound: a shift of +1 px in x and y."""

        def uniform(self, low: float, high: float, size: object) -> np.ndarray:
            return np.full(size, high, dtype=float)

    shifted = distort(x, MaxDraw(), 0.0, (1.0, 1.0), 0.0, 0.0, 1.0)  # type: ignore[arg-type]
    np.testing.assert_allclose(shifted[:, 1:, 1:], x[:, :-1, :-1], atol=1e-5)
    np.testing.assert_allclose(shifted[:, 0, :], BACKGROUND, atol=1e-5)


def _indexed_data(n: int) -> Dataset:
    """Images whose first pixel holds their index, so a fake predictor knows which it sees."""
    x = np.zeros((n, 28, 28, 1), np.float32)
    x[:, 0, 0, 0] = np.arange(n)
    y = (np.arange(n) % 10).astype(np.int32)
    return Dataset(x, y, x[:10], y[:10], source="fake")


def _predictor(right: np.ndarray):
    """Scores that put the true class first where `right[index]`, else class (true+1)%10."""

    def predict(x: np.ndarray) -> np.ndarray:
        idx = x[:, 0, 0, 0].astype(int)
        y = idx % 10
        cls = np.where(right[idx], y, (y + 1) % 10)
        out = np.full((len(x), 10), 0.01, np.float32)
        out[np.arange(len(x)), cls] = 0.91
        return out

    return predict


def test_member_training_sets() -> None:
    w = workloads.get("mnist_boosted_lenet4", {"distortions": False})
    n = 1000
    d = _indexed_data(n)
    rng = np.random.default_rng(0)

    x0, y0 = w.member_training_set(0, d, [], rng)
    assert x0 is d.x_train and y0 is d.y_train

    # Member 0 right on even indices only (and on a few odd ones: 0..99 all right).
    right0 = np.arange(n) % 2 == 0
    right0[:100] = True
    x1, y1 = w.member_training_set(1, d, [_predictor(right0)], rng)
    idx1 = x1[:, 0, 0, 0].astype(int)
    assert len(idx1) == len(set(idx1.tolist()))
    wrong = ~right0[idx1]
    assert wrong.sum() == (~right0).sum() == 450  # every wrong pattern ...
    assert (~wrong).sum() == 450  # ... and as many right ones
    np.testing.assert_array_equal(y1, idx1 % 10)

    # Member 1 right where index % 3 == 0: disagreement wherever exactly one is right.
    right1 = np.arange(n) % 3 == 0
    lines: list[str] = []
    x2, y2 = w.member_training_set(2, d, [_predictor(right0), _predictor(right1)], rng,
                                   report=lines.append)
    # without distortions one pass, reported with what it found
    assert lines == [f"candidate pass 1/1: {(right0 != right1).sum():,} disagreements found (up to {n:,})"]
    idx2 = np.sort(x2[:, 0, 0, 0].astype(int))
    np.testing.assert_array_equal(idx2, np.flatnonzero(right0 != right1))
    np.testing.assert_array_equal(np.sort(y2), np.sort(np.flatnonzero(right0 != right1) % 10))

    with pytest.raises(WorkloadError, match="needs"):
        w.member_training_set(2, d, [_predictor(right0)], rng)


def test_member_training_set_with_distortions_is_bounded() -> None:
    w = workloads.get("mnist_boosted_lenet4")
    d = Dataset(
        np.random.default_rng(0).normal(size=(200, 28, 28, 1)).astype(np.float32),
        np.zeros(200, np.int32),
        np.zeros((1, 28, 28, 1), np.float32),
        np.zeros(1, np.int32),
        source="fake",
    )
    calls: list[int] = []

    def rarely_wrong(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        out = np.zeros((len(x), 10), np.float32)
        out[:, 0] = 1.0
        out[:3, 0], out[:3, 1] = 0.0, 1.0  # 3 wrong per pass
        return out

    lines: list[str] = []
    x1, y1 = w.member_training_set(1, d, [rarely_wrong], np.random.default_rng(1), report=lines.append)
    assert sum(calls) == 200 * w.max_passes
    # One progress line per pass, with what has been found so far.
    assert len(lines) == w.max_passes
    assert lines[0] == f"candidate pass 1/{w.max_passes}: 3 wrong and 100 right found (up to 100 of each)"
    assert lines[-1].startswith(f"candidate pass {w.max_passes}/{w.max_passes}: {3 * w.max_passes} wrong")
    assert len(x1) == 2 * 3 * w.max_passes
    assert x1.shape[1:] == (28, 28, 1) and x1.dtype == np.float32 and y1.dtype == np.int32
