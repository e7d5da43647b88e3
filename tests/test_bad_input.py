"""Bad input: a clear message naming what is wrong and what is allowed, exit 2, nothing written."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT, run_cli, write_config

LENET5 = ROOT / "configs" / "mnist_lenet5" / "keras-cpu.yaml"


def _expect_bad(tmp_path, *args, must_mention=()):
    out = tmp_path / "results"
    result = run_cli(*args, "--output", str(out))
    assert result.returncode == 2, result.stderr
    message = result.stderr
    assert "run-benchmark: error:" in message
    for text in must_mention:
        assert text in message, message
    assert not out.exists(), "bad input must leave nothing behind"
    assert "Traceback" not in message
    return message


def test_missing_config_file(tmp_path):
    _expect_bad(tmp_path, str(tmp_path / "nope.yaml"), must_mention=["config file not found",
                                                                    "nope.yaml"])


def test_unknown_key_names_key_and_allowed_keys(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "recipe.batchsize=64",
                must_mention=["unknown key recipe.batchsize", "batch_size", "max_epochs"])


def test_unknown_top_level_key(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", "mnist_lenet5", tmp_path / "results", epochs=3)
    _expect_bad(tmp_path, str(cfg), must_mention=["unknown key epochs", "benchmark", "recipe"])


def test_wrong_type(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "recipe.batch_size=large",
                must_mention=["recipe.batch_size", "expected integer", "'large'"])


def test_unknown_workload(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "benchmark=mnist_lenet6",
                must_mention=["benchmark", "'mnist_lenet6'", "mnist_lenet5", "mnist_mlp1"])


def test_unknown_engine(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "engine.name=tpu",
                must_mention=["engine.name", "'tpu'", "keras"])


def test_unknown_engine_option_value(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "engine.options.device=fpga",
                must_mention=["engine.options.device", "cpu, gpu"])


def test_bad_schedule(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "recipe.schedule={kind: step, boundaries: [2]}",
                must_mention=["recipe.schedule", "factors"])


def test_bad_override_syntax(tmp_path):
    _expect_bad(tmp_path, str(LENET5), "--set", "recipe.batch_size", must_mention=["KEY.PATH=VALUE"])


def test_not_a_mapping(tmp_path):
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- a\n- b\n")
    _expect_bad(tmp_path, str(cfg), must_mention=["mapping"])


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_corrupt_or_missing_dataset(tmp_path, damage):
    data = tmp_path / "mnist"
    shutil.copytree(ROOT / "workloads" / "data" / "mnist", data)
    victim = data / "t10k-labels-idx1-ubyte.gz"
    if damage == "corrupt":
        raw = bytearray(victim.read_bytes())
        raw[100] ^= 0xFF
        victim.write_bytes(bytes(raw))
    else:
        victim.unlink()
    message = _expect_bad(
        tmp_path, str(LENET5), "--set", f"data_dir={data}",
        must_mention=[str(victim), "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
                      "corrupt" if damage == "corrupt" else "missing"],
    )
    assert "sha256" in message
