"""`run-benchmark` with the spinnaker engine: a small MNIST net trained on the emulated machine.

The run's clock is the emulator's modeled clock; the log must pass MLCommons'
checker, and the summary must keep the modeled time, the host's wall time,
the machine's counters and the modeled energy apart and labelled.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from harness import cli
from harness.compliance import check_log
from tests.conftest import write_config

ENGINE = {"name": "spinnaker", "options": {"execution": "emulator", "machine": {"boards": 1}}}


def test_tiny_mnist_trains_to_target_on_emulated_spinnaker(tmp_path, tiny_registry):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "tiny.yaml", "tiny_easy", out, engine=ENGINE, energy={"meter": "none"})
    assert cli.main([str(cfg)]) == 0
    bdir = out / "test-host" / "tiny_easy"
    summary = json.loads((bdir / "run_0.json").read_text())
    assert summary["status"] == "success" and summary["final_accuracy"] >= 0.5
    assert summary["clock"] == "modeled" and summary["engine"]["engine"] == "spinnaker"
    assert summary["compliance"]["passed"], summary["compliance"]["messages"]
    assert check_log(bdir / "result_0.txt", bdir / "compliance_rules.yaml").passed
    spin = summary["spinnaker"]
    assert spin["cores"] > 3 and spin["packets_dropped"] == 0 and spin["packets_per_sample"] > 784
    # the modeled time to train covers the training machine and the evaluations, and no more
    stats = summary["engine_stats"][0]
    mapping = stats["mapping"]  # the mapping report is kept with the results
    assert mapping["cores"] == spin["cores"] and mapping["layers"][-1]["layer"] and "run_dir" not in mapping
    assert mapping["routing_entries_max_per_chip"] <= mapping["routing_entries_limit"]
    assert summary["time_to_train_s"] <= stats["modeled_seconds"] + stats["eval_modeled_seconds"] + 1e-9
    assert summary["time_to_train_s"] >= stats["modeled_seconds"]
    assert summary["host_wall_s"] > 0
    assert summary["energy"]["kind"] == "modeled" and summary["energy"]["joules"] > 0
    assert "modeled" in summary["energy"]["source"]


def test_a_recipe_the_engine_cannot_train_is_bad_input_exit_2(tmp_path, tiny_registry, capsys):
    out = tmp_path / "results"
    recipe = {"optimizer": {"name": "adam", "learning_rate": 0.01}, "schedule": {"kind": "constant"},
              "warmup_epochs": 0, "batch_size": 64, "max_epochs": 1, "eval_every": 1, "eval_offset": 0}
    cfg = write_config(tmp_path / "adam.yaml", "tiny_easy", out, engine=ENGINE, energy={"meter": "none"},
                       recipe=recipe)
    assert cli.main([str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "recipe.optimizer 'adam'" in err and "allowed: sgd" in err
    assert not out.exists()  # nothing written


def test_an_ensemble_trains_every_member_on_emulated_spinnaker(tmp_path, tiny_registry):
    # Boosted LeNet-4's procedure on the engine: the second member's training set comes from
    # the first member's predictions, made on the emulated machine
    out = tmp_path / "results"
    recipe = {"optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": False},
              "schedule": {"kind": "constant"}, "warmup_epochs": 0, "batch_size": 64, "max_epochs": 10,
              "eval_every": 1, "eval_offset": 0, "member_epochs": [2]}
    cfg = write_config(tmp_path / "ens.yaml", "tiny_ensemble", out, engine=ENGINE, energy={"meter": "none"},
                       recipe=recipe)
    folders_before = set(Path(tempfile.gettempdir()).glob("spinnbench_map_*"))
    assert cli.main([str(cfg)]) == 0
    # each member's toolchain folder is removed when the run ends, not left in the temporary directory
    assert set(Path(tempfile.gettempdir()).glob("spinnbench_map_*")) == folders_before
    bdir = out / "test-host" / "tiny_ensemble"
    summary = json.loads((bdir / "run_0.json").read_text())
    assert summary["status"] == "success" and summary["clock"] == "modeled"
    assert summary["compliance"]["passed"], summary["compliance"]["messages"]
    log = (bdir / "result_0.txt").read_text().splitlines()
    lines = [json.loads(ln.split(":::MLLOG ", 1)[1]) for ln in log if ":::MLLOG " in ln]
    assert [ln["value"] for ln in lines if ln["key"] == "spinnbench_member_start"] == [0, 1]
    # both members trained on the machine: their modeled times are both in the time to train
    stats = summary["engine_stats"]
    assert len(stats) == 2 and all(s["modeled_seconds"] > 0 for s in stats)
    assert summary["time_to_train_s"] >= sum(s["modeled_seconds"] for s in stats)
    assert summary["spinnaker"]["packets_dropped"] == 0


def test_a_model_with_tiles_no_program_runs_is_refused_and_leaves_no_folder():
    # Dense(3) on 9,000 inputs: one neuron overflows DTCM, so the layer is split into blocks of W
    # and accumulators, which have no core program yet
    import keras
    import pytest

    from harness.errors import EngineUnavailableError
    from spinn_dnn.harness_engine import SpinnakerEngine

    engine = SpinnakerEngine(ENGINE["options"])
    inputs = keras.Input((9000,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    recipe = {"optimizer": {"name": "sgd", "learning_rate": 0.1}, "batch_size": 32}
    folders_before = set(Path(tempfile.gettempdir()).glob("spinnbench_map_*"))
    with pytest.raises(EngineUnavailableError, match="tiles of role acc, block have no core program"):
        engine.session(model, recipe)
    assert set(Path(tempfile.gettempdir()).glob("spinnbench_map_*")) == folders_before
