"""ResNet-50 v1.5 / ImageNet (issue 7): model, optimizer, schedule, data, rules, logs, package.

Runs are tiny and labelled synthetic (32x32 images, one step per epoch), so the
whole file costs about two minutes on two cores; nothing touches the network.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness import cli
from harness.compliance import OFFICIAL_RULES, check_log
from harness.config import load_config
from harness.errors import ConfigError
from harness.schedule import StepSchedule, step_schedule
from tests.conftest import ROOT

CONFIG = ROOT / "configs" / "resnet" / "keras-cpu.yaml"
MOCK = [
    "workload_options.data=synthetic", "workload_options.image_size=32",
    "workload_options.train_samples=16", "workload_options.eval_samples=20",
    "workload_options.synthetic_classes=1", "workload_options.synthetic_label_noise=0.1",
    "recipe.batch_size=16", "recipe.max_epochs=1", "recipe.eval_every=1", "recipe.warmup_epochs=0",
    "recipe.schedule.decay_epochs=1",
]


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def _lines(log: Path) -> list[dict]:
    return [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines()
            if line.startswith(":::MLLOG")]


def _rewrite(src: Path, dst: Path, edit) -> Path:
    out = []
    for record in _lines(src):
        record = edit(record)
        if record is not None:
            out.append(":::MLLOG " + json.dumps(record))
    dst.write_text("\n".join(out) + "\n")
    return dst


def _official_cli(log: Path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
         "--ruleset", "4.0.0", "--log_output", str(log) + ".cc.log", str(log)],
        capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


# --------------------------------------------------------------------------- model


def test_parameter_count_and_v15_strides() -> None:
    import keras

    from workloads.resnet_model import build_resnet50

    model = build_resnet50()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 25_557_032
    strided = {layer.name: layer.kernel_size for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.strides == (2, 2)}
    # v1.5: downsampling blocks stride their 3x3 (and the 1x1 projection), never the first 1x1
    assert strided == {"stem_conv": (7, 7), "s2b1_conv2": (3, 3), "s2b1_proj": (1, 1),
                       "s3b1_conv2": (3, 3), "s3b1_proj": (1, 1), "s4b1_conv2": (3, 3),
                       "s4b1_proj": (1, 1)}
    assert model.output.shape[-1] == 1000
    assert model.get_layer("s1b1_conv1").strides == (1, 1)
    # the last BN of every residual branch starts at gamma 0; the others at 1
    assert np.all(model.get_layer("s3b4_bn3").gamma.numpy() == 0)
    assert np.all(model.get_layer("s3b4_bn2").gamma.numpy() == 1)


# --------------------------------------------------------------------------- LARS + schedule


def test_lars_step_matches_hand_computation() -> None:
    import keras

    from harness.engines.optimizers import make_lars_class

    w0 = np.array([[3.0, 0.0], [0.0, 4.0]], np.float32)  # |w| = 5
    b0 = np.array([1.0, -1.0], np.float32)
    g_w = np.array([[0.6, 0.0], [0.0, 0.8]], np.float32)  # |g| = 1
    g_b = np.array([0.5, 0.5], np.float32)
    w, b = keras.Variable(w0), keras.Variable(b0)
    lr, mom, wd, eta = 2.0, 0.9, 1e-4, 0.001
    opt = make_lars_class(keras)(learning_rate=lr, momentum=mom, weight_decay=wd, eta=eta, epsilon=0.0)
    opt.apply_gradients([(keras.ops.convert_to_tensor(g_w), w), (keras.ops.convert_to_tensor(g_b), b)])
    trust = eta * 5.0 / (1.0 + wd * 5.0)
    m_w = -(lr * trust) * (g_w + wd * w0)
    np.testing.assert_allclose(w.numpy(), w0 + m_w, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), b0 - lr * g_b, rtol=1e-6)  # bias: no trust, no decay
    # second step: momentum carries the first update
    opt.apply_gradients([(keras.ops.convert_to_tensor(g_w), w), (keras.ops.convert_to_tensor(g_b), b)])
    w1 = w0 + m_w
    n1 = float(np.linalg.norm(w1))
    m_w2 = mom * m_w - lr * (eta * n1 / (1.0 + wd * n1)) * (g_w + wd * w1)
    np.testing.assert_allclose(w.numpy(), w1 + m_w2, rtol=1e-5)


def test_step_schedule_warmup_and_polynomial_decay() -> None:
    recipe = {"optimizer": {"name": "lars", "learning_rate": 10.0}, "warmup_epochs": 2,
              "schedule": {"kind": "polynomial", "power": 2, "end_learning_rate": 1e-4,
                           "decay_epochs": 6}}
    s = step_schedule(recipe, steps_per_epoch=5)
    assert s == StepSchedule(base=10.0, end=1e-4, power=2.0, warmup_steps=10, decay_steps=21)
    assert s(0) == 0.0 and s(5) == pytest.approx(5.0) and s(10) == pytest.approx(10.0)
    assert s(20) == pytest.approx(1e-4 + (10.0 - 1e-4) * (1 - 10 / 21) ** 2)
    assert s(31) == pytest.approx(1e-4) and s(500) == pytest.approx(1e-4)
    import keras

    from harness.engines.optimizers import make_step_schedule_class

    compiled = make_step_schedule_class(keras)(s)
    for step in (0, 3, 10, 11, 20, 31, 40):
        assert float(compiled(step)) == pytest.approx(s(step), rel=1e-5, abs=1e-7)


# --------------------------------------------------------------------------- config / data errors


@pytest.mark.parametrize("override,needle", [
    ("recipe.optimizer.epsilon=0.1", "epsilon must be 0"),
    ("recipe.optimizer.weight_decay=0.0003", "1e-4 times a power of two"),
    ("recipe.schedule.end_learning_rate=0.001", "end_learning_rate must be 0.0001"),
    ("recipe.schedule.power=1", "power must be 2"),
    ("recipe.optimizer={name: adam, learning_rate: 0.001}", "allowed: lars, sgd"),
    ("recipe.optimizer.beta_1=0.5", "beta_1 does not apply to optimizer 'lars'"),
    ("workload_options.data=cifar", "allowed: imagenet, synthetic"),
])
def test_closed_division_refuses_non_fixed_values(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_config(CONFIG, [override])


def test_open_division_may_change_them() -> None:
    config = load_config(CONFIG, ["system.division=open", "recipe.optimizer.epsilon=0.1"])
    assert config.recipe["optimizer"]["epsilon"] == 0.1


def test_missing_imagenet_is_exit_2_naming_the_files(tmp_path, capsys) -> None:
    out = tmp_path / "results"
    code = cli.main([str(CONFIG), "--output", str(out), "--set", f"data_dir={tmp_path / 'imagenet'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ILSVRC2012_img_train.tar" in err and "ILSVRC2012_img_val.tar" in err
    assert str(tmp_path / "imagenet") in err and "data=synthetic" in err
    assert not out.exists()  # nothing written


def test_tfds_pipeline_on_mock_imagenet(tmp_path) -> None:
    import tensorflow_datasets as tfds

    from workloads import imagenet_data

    for name in (imagenet_data.TRAIN_TAR, imagenet_data.VAL_TAR):  # present, never read (mocked)
        (tmp_path / name).write_bytes(b"")
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        data = imagenet_data.imagenet_dataset(str(tmp_path), 32, train_samples=8, eval_samples=6)
        train = list(data.train_batches(1, 1, 4))
        evaluation = list(data.eval_batches(4))
    assert not data.synthetic and data.steps_per_epoch(4) == 2
    assert [x.shape for x, _ in train] == [(4, 32, 32, 3)] * 2
    assert [len(y) for _, y in evaluation] == [4, 2]
    x, y = train[0]
    assert x.dtype == np.float32 and y.dtype == np.int32 and y.min() >= 0 and y.max() < 1000
    assert -3.0 < float(x.mean()) < 3.0  # normalised, not raw 0..255 pixels


def test_synthetic_data_is_labelled_and_has_the_asked_label_noise() -> None:
    from workloads.imagenet_data import synthetic_dataset

    data = synthetic_dataset(32, 48, 40, classes=1, label_noise=0.1)
    assert data.synthetic and "synthetic" in data.source
    labels = np.concatenate([y for _, y in data.eval_batches(16)])
    assert len(labels) == 40 and np.sum(labels != 0) == 4
    batches = list(data.train_batches(1, 7, 16))
    assert len(batches) == 3 and all(x.shape == (16, 32, 32, 3) for x, _ in batches)


# --------------------------------------------------------------------------- runs, logs, package


@pytest.fixture(scope="module")
def mock_runs(tmp_path_factory):
    """Five labelled mock runs of the real config through run-benchmark (in-process)."""
    tmp = tmp_path_factory.mktemp("resnet")
    out = tmp / "results"
    code = cli.main([str(CONFIG), "--output", str(out), "--runs", "5", *_sets(MOCK)])
    assert code == 0
    return out


def test_mock_runs_succeed_and_pass_the_official_rules(mock_runs) -> None:
    bdir = mock_runs / "host-cpu-keras" / "resnet"
    for i in range(5):
        summary = json.loads((bdir / f"run_{i}.json").read_text())
        assert summary["status"] == "success", summary.get("error")
        assert summary["data"] == "synthetic" and "synthetic" in summary["data_source"]
        assert summary["compliance"]["passed"], summary["compliance"]["messages"]
        assert "official" in summary["compliance"]["rules"]
        assert 0.759 <= summary["final_accuracy"] < 1.0
    keys = {ln["key"]: ln["value"] for ln in _lines(bdir / "result_0.txt")}
    assert keys["submission_benchmark"] == "resnet" and keys["opt_name"] == "lars"
    assert keys["lars_epsilon"] == 0.0 and keys["lars_opt_end_learning_rate"] == 1e-4
    assert keys["spinnbench_data"] == "synthetic" and keys["spinnbench_label_smoothing"] == 0.1
    assert not (bdir / "compliance_rules.yaml").exists()  # no derived rules for an MLPerf benchmark
    code, output = _official_cli(bdir / "result_0.txt")
    assert code == 0 and "SUCCESS" in output, output


@pytest.mark.parametrize("edit,what", [
    (lambda r: None if r["key"] == "run_stop" else r, "removed run_stop"),
    (lambda r: {**r, "value": 0.1} if r["key"] == "lars_epsilon" else r, "lars_epsilon 0.1"),
    (lambda r: {**r, "value": 3e-4} if r["key"] == "lars_opt_weight_decay" else r, "weight decay 3e-4"),
    (lambda r: {**r, "value": 1e-3} if r["key"] == "lars_opt_end_learning_rate" else r, "end rate 1e-3"),
    (lambda r: {**r, "value": 0.5} if r["key"] == "eval_accuracy" else r, "below 75.90%"),
])
def test_official_rules_reject_a_broken_log(mock_runs, tmp_path, edit, what) -> None:
    log = mock_runs / "host-cpu-keras" / "resnet" / "result_0.txt"
    bad = _rewrite(log, tmp_path / "bad.txt", edit)
    assert not check_log(bad, OFFICIAL_RULES).passed, what
    code, output = _official_cli(bad)
    assert code == 1 and "FAILED" in output, what


def test_exported_package_passes_package_checker_but_rcp(mock_runs, tmp_path) -> None:
    from harness.export import export_package

    package = export_package(mock_runs, tmp_path / "pkg", "resnet")
    assert sorted(p.name for p in (package / "results" / "host-cpu-keras" / "resnet").iterdir()) == [
        f"result_{i}.txt" for i in range(5)]
    assert (package / "systems" / "host-cpu-keras.json").is_file()
    assert (package / "benchmarks" / "resnet" / "implementations" / "spinnbench" / "workloads"
            / "resnet.py").is_file()
    log = tmp_path / "pkg.log"
    result = subprocess.run(
        [sys.executable, "-m", "mlperf_logging.package_checker", str(package), "training", "4.0.0",
         "--log_output", str(log)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    text = log.read_text()
    errors = [ln for ln in text.splitlines() if ln.startswith(("ERROR", "WARNING"))]
    # The one complaint left is inherent to mock runs: they converge in 1 epoch at batch 16,
    # a batch size MLPerf has no reference convergence point (RCP) for.
    assert errors == ["ERROR - RCP Test Failed: Missing RCP, please submit RCP with BS = 16"], text
    assert "System description checker passed for host-cpu-keras" in text
    assert "Seed checker failed" not in text and result.returncode == 0
    logging.getLogger().handlers.clear()  # the checker's basicConfig must not leak into other tests


def test_export_refuses_a_missing_benchmark(tmp_path) -> None:
    from harness.export import main

    assert main([str(tmp_path), str(tmp_path / "pkg"), "--benchmark", "resnet"]) == 2
    assert not (tmp_path / "pkg").exists()


def test_config_file_is_valid_yaml_with_the_fixed_values() -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    assert raw["recipe"]["schedule"]["end_learning_rate"] == 1e-4 and raw["recipe"]["eval_every"] == 4
    assert math.log2(raw["recipe"]["optimizer"]["weight_decay"] / 1e-4) == -1
