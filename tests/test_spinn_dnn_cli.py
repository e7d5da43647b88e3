"""`spinn-dnn map` and the spinnaker engine's option validation, shared with run-benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError, EngineUnavailableError
from spinn_dnn.harness_engine import SpinnakerEngine

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / f"configs/mnist_{w}/spinnaker-emulated.yaml" for w in
           ("mlp1", "mlp2", "lenet1", "lenet4", "lenet5", "boosted_lenet4")]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name)
def test_spinnaker_configs_load(path):
    config = load_config(path)
    assert config.engine == "spinnaker"
    assert config.engine_options["policy"] == "auto" and config.engine_options["machine"] == {"boards": 1}
    assert config.system["system_name"] == "spinn5-emulated"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"policy": "greedy"}, ["engine.options.policy", "'greedy'", "auto, neuron_per_core"]),
        ({"execution": "board"}, ["engine.options.execution", "emulator, hardware"]),
        ({"machine": {"boards": 0}}, ["engine.options.machine.boards", "positive integer"]),
        ({"machine": {"chips": 3}}, ["engine.options.machine.chips", "allowed here"]),
        ({"machine": {"host": "spinn-4", "spalloc": "http://x"}}, ["host or spalloc"]),
        ({"execution": "hardware"}, ["execution 'hardware'", "host"]),
        ({"execution": "emulator", "machine": {"host": "spinn-4"}}, ["execution 'emulator'"]),
        ({"in_flight": 0}, ["engine.options.in_flight"]),
        ({"colour": "red"}, ["engine.options.colour", "policy"]),
    ],
)
def test_bad_engine_options_name_key_and_allowed_values(options, words):
    with pytest.raises(ConfigError) as err:
        SpinnakerEngine.validate_options(options)
    for word in words:
        assert word in str(err.value)


def test_hardware_execution_with_no_machine_answering_fails_naming_it(tmp_path):
    import keras

    from spinn_dnn.errors import MachineUnavailableError

    opts = SpinnakerEngine.validate_options(
        {"execution": "hardware", "machine": {"spalloc": "http://127.0.0.1:1/", "boards": 4}})
    assert opts["policy"] == "auto" and opts["machine"]["boards"] == 4
    engine = SpinnakerEngine(opts)  # loopback only: no test sends traffic beyond this machine
    assert engine.clock.kind == "modeled"
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    recipe = {"optimizer": {"name": "sgd", "learning_rate": 0.1}, "batch_size": 8}
    with pytest.raises((MachineUnavailableError, EngineUnavailableError), match="127.0.0.1"):
        engine.session(model, recipe)
    with pytest.raises(EngineUnavailableError, match="adam"):
        SpinnakerEngine(SpinnakerEngine.validate_options({})).session(
            model, {"optimizer": {"name": "adam", "learning_rate": 0.1}, "batch_size": 8})


def test_bad_option_through_load_config_is_a_config_error():
    with pytest.raises(ConfigError, match="engine.options.policy"):
        load_config(CONFIGS[-1], overrides=["engine.options.policy=sideways"])


def test_map_command_prints_and_writes_json(tmp_path, capsys):
    pytest.importorskip("spinnaker_graph_front_end")
    from spinn_dnn.cli import main

    out = tmp_path / "report.json"
    assert main(["map", str(CONFIGS[1]), "--json", str(out), "--run-dir", str(tmp_path / "run")]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["model"] and report["boards"] == 1 and report["policy"] == "auto"
    assert f"cores {report['cores']}, chips {report['chips']}" in text
    assert "key walk" in text and "H1" in text
    # the optimizer written into the cores' OPTIMIZER region comes from the config's recipe
    import pickle

    plan = pickle.loads((tmp_path / "run" / "plan.pickle").read_bytes())
    recipe = load_config(CONFIGS[1]).recipe
    assert plan.optimizer["learning_rate"] == recipe["optimizer"]["learning_rate"]
    assert plan.optimizer["batch_size"] == recipe["batch_size"]
    assert main(["map", str(CONFIGS[1]), "--policy", "sideways"]) == 2
    assert "engine.options.policy" in capsys.readouterr().err


def test_map_command_maps_with_the_configs_engine_options(tmp_path, capsys):
    # fusion, error routing and tapering were once left at their defaults by `map`
    pytest.importorskip("spinnaker_graph_front_end")
    import pickle

    from spinn_dnn.cli import main

    sets = ["engine.options.fuse_pooling=true", "engine.options.error_routing=deltas",
            "engine.options.taper_in_flight=false"]
    args = ["map", str(CONFIGS[2]), "--run-dir", str(tmp_path / "run")]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    plan = pickle.loads((tmp_path / "run" / "plan.pickle").read_bytes())
    assert plan.error_routing == "deltas" and plan.layer_in_flight is None
    assert any(layer.fused for layer in plan.layers)
    assert "tapered" not in capsys.readouterr().out
    assert main(["map", str(CONFIGS[2]), "--run-dir", str(tmp_path / "run2")]) == 0
    assert "fewer above (tapered)" in capsys.readouterr().out


def test_map_command_on_saved_keras_models(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    from spinn_dnn.cli import main

    good = tmp_path / "good.keras"
    keras.Sequential([keras.Input((16,)), keras.layers.Dense(4, activation="softmax")]).save(good)
    assert main(["map", str(good), "--boards", "1", "--run-dir", str(tmp_path / "run")]) == 0
    bad = tmp_path / "lstm.keras"
    keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4)]).save(bad)
    assert main(["map", str(bad)]) == 2
    assert "LSTM" in capsys.readouterr().err
    assert main(["map", str(tmp_path / "missing.keras")]) == 2
