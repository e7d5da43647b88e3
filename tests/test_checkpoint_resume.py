"""Checkpoints and `run-benchmark --resume`: a run stopped between or inside epochs goes on as if it had not.

Emulated SpiNNaker runs of LeNet-5 and boosted LeNet-4 take the host longer
than a working session; a resumed run must train the same arithmetic as an
uninterrupted one (weights bit for bit, the same packets), keep one MLPerf log
that passes the checker, and say in its log and summary that it was resumed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import cli
from harness.checkpoint import CheckpointData, CheckpointMismatchError, RunCheckpoint, SessionState
from harness.compliance import check_log
from harness.progress import RunProgress
from tests.conftest import write_config

ENGINE = {"name": "spinnaker", "options": {"execution": "emulator", "machine": {"boards": 1}}}
RECIPE = {"optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": False},
          "schedule": {"kind": "step", "boundaries": [2], "factors": [0.5]}, "warmup_epochs": 0,
          "batch_size": 64, "max_epochs": 3, "eval_every": 1, "eval_offset": 0}


def _tiny_model():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def _data(n=640):
    from workloads.mnist_data import load_mnist, normalise

    m = load_mnist()
    return normalise(m.train.images[:n]), m.train.labels[:n].astype(np.int32)


def test_a_restored_session_trains_bit_for_bit_as_an_uninterrupted_one():
    from spinn_dnn.harness_engine import SpinnakerEngine

    x, y = _data()
    engine = SpinnakerEngine(ENGINE["options"])
    engine.seed(3)
    straight = engine.session(_tiny_model(), RECIPE)
    for lr in (0.1, 0.05):
        straight.set_learning_rate(lr)
        straight.train_epoch(x, y, lambda n: None)

    first = SpinnakerEngine(ENGINE["options"])
    first.seed(3)
    before = first.session(_tiny_model(), RECIPE)
    before.set_learning_rate(0.1)
    before.train_epoch(x, y, lambda n: None)
    meta, arrays = before.checkpoint()
    json.dumps(meta)  # the state must be JSON-able as written to state.json

    second = SpinnakerEngine(ENGINE["options"])
    second.seed(3)
    after = second.session(_tiny_model(), RECIPE)
    after.restore(meta, arrays)
    after.set_learning_rate(0.05)
    after.train_epoch(x, y, lambda n: None)

    want, got = straight.trainer.checkpoint(), after.trainer.checkpoint()
    # compared tile by tile in plan order (Keras names each model's layers afresh)
    assert list(got.weights.values()) == list(want.weights.values())
    assert list(got.momentum.values()) == list(want.momentum.values())
    assert want.momentum and any(any(b) for b in want.momentum.values())  # momentum is really carried
    assert np.array_equal(after.predict(x[:64]), straight.predict(x[:64]))
    s, a = straight.run_stats(), after.run_stats()
    for key in ("packets_sent", "packets_delivered", "samples", "cores", "chips"):
        assert a[key] == s[key], key
    assert a["packets_dropped"] == s["packets_dropped"] == 0
    # a fresh machine's timers start in phase: the modeled time may move by a tick, not more
    assert a["modeled_seconds"] == pytest.approx(s["modeled_seconds"], rel=1e-3)
    assert a["energy"]["joules"] == pytest.approx(s["energy"]["joules"], rel=1e-3)


_ORIGINAL_START, _ORIGINAL_SAMPLES = RunProgress.start_epoch, RunProgress.samples


def _stop_in_epoch(monkeypatch, stop_at: list[int], label: str = ""):
    """Ctrl-C in the middle of the first epoch numbered in `stop_at` (each fires once) of `label`'s net."""
    original_start, original_samples = _ORIGINAL_START, _ORIGINAL_SAMPLES

    def start_epoch(self, epoch, epochs, n):
        self._test_epoch = epoch
        return original_start(self, epoch, epochs, n)

    def samples(self, n):
        original_samples(self, n)
        if stop_at and getattr(self, "_test_epoch", None) == stop_at[0] and label in self.label:
            stop_at.pop(0)
            raise KeyboardInterrupt("test: stopped mid-epoch")

    monkeypatch.setattr(RunProgress, "start_epoch", start_epoch)
    monkeypatch.setattr(RunProgress, "samples", samples)


def _records(path):
    text = path.read_text().splitlines()
    lines = [json.loads(ln.split(":::MLLOG ", 1)[1]) for ln in text if ":::MLLOG " in ln]
    return [(r["key"], r["value"], {k: v for k, v in r["metadata"].items() if k not in ("file", "lineno")})
            for r in lines]


def _straight(tmp_path, benchmark, recipe):
    """An uninterrupted run: (summary, results dir)."""
    out = tmp_path / "straight"
    cfg = write_config(tmp_path / "straight.yaml", benchmark, out, engine=ENGINE,
                       energy={"meter": "none"}, recipe=recipe)
    assert cli.main([str(cfg)]) == 0
    bdir = out / "test-host" / benchmark
    return json.loads((bdir / "run_0.json").read_text()), bdir


def _stopped_and_resumed(tmp_path, monkeypatch, benchmark, recipe, stop_at, label=""):
    """A run stopped mid-epoch (Ctrl-C), then `--resume`d in a fresh call: (summary, results dir)."""
    out = tmp_path / "resumed"
    cfg = write_config(tmp_path / "resumed.yaml", benchmark, out, engine=ENGINE,
                       energy={"meter": "none"}, recipe=recipe)
    _stop_in_epoch(monkeypatch, list(stop_at), label)
    assert cli.main([str(cfg)]) == 1
    bdir = out / "test-host" / benchmark
    stopped = json.loads((bdir / "run_0.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["checkpoint"]
    assert _records(bdir / "result_0.txt")[-1][:2] == ("run_stop", None)
    assert (bdir / "checkpoint_0" / "state.json").exists()
    assert cli.main([str(cfg), "--resume"]) == 0
    return json.loads((bdir / "run_0.json").read_text()), bdir


def _run_twice(tmp_path, monkeypatch, benchmark, recipe, stop_at, label=""):
    return (_straight(tmp_path, benchmark, recipe),
            _stopped_and_resumed(tmp_path, monkeypatch, benchmark, recipe, stop_at, label))


def test_a_run_stopped_mid_epoch_resumes_to_the_same_result_and_one_compliant_log(
        tmp_path, tiny_registry, monkeypatch):
    (want, wdir), (got, gdir) = _run_twice(tmp_path, monkeypatch, "tiny_unreachable", RECIPE, [2])
    assert got["status"] == want["status"] == "aborted" and got["epochs"] == want["epochs"] == 3
    assert [e["accuracy"] for e in got["eval_curve"]] == [e["accuracy"] for e in want["eval_curve"]]
    assert got["spinnaker"]["packets_sent"] == want["spinnaker"]["packets_sent"]
    assert got["spinnaker"]["packets_delivered"] == want["spinnaker"]["packets_delivered"]
    assert got["run_time_s"] == pytest.approx(want["run_time_s"], rel=1e-3)
    assert [r["after_epoch"] for r in got["resumed"]] == [1]
    assert got["host_wall_s"] > got["resumed"][0]["host_wall_s_before"] > 0
    assert got["compliance"]["passed"], got["compliance"]["messages"]
    assert check_log(gdir / "result_0.txt", gdir / "compliance_rules.yaml").passed
    # the same log, event for event, but for the line that says where it was resumed
    resumed = [r for r in _records(gdir / "result_0.txt") if r[0] != "spinnbench_resumed"]
    assert resumed == _records(wdir / "result_0.txt")
    assert [r for r in _records(gdir / "result_0.txt") if r[0] == "spinnbench_resumed"] == [
        ("spinnbench_resumed", 1, {"epoch_num": 1})]
    assert not (gdir / "checkpoint_0").exists()  # a finished run leaves none behind


def _same_run(got, gdir, want, wdir):
    """Equal results: log event for event (bar the resume line), packets, modeled time and energy."""
    assert got["status"] == want["status"] and got["epochs"] == want["epochs"]
    assert [r for r in _records(gdir / "result_0.txt") if r[0] != "spinnbench_resumed"] == _records(
        wdir / "result_0.txt")
    assert len(got["engine_stats"]) == len(want["engine_stats"])
    for g, w in zip(got["engine_stats"], want["engine_stats"], strict=True):
        for key in ("packets_sent", "packets_delivered", "samples", "eval_samples", "cores"):
            assert g[key] == w[key], key
        for key in ("modeled_seconds", "eval_modeled_seconds", "eval_energy_joules"):
            assert g[key] == pytest.approx(w[key], rel=1e-3), key
        assert g["energy"]["joules"] == pytest.approx(w["energy"]["joules"], rel=1e-3)
    assert got["run_time_s"] == pytest.approx(want["run_time_s"], rel=1e-3)
    assert got["compliance"]["passed"], got["compliance"]["messages"]


def test_a_resumed_run_keeps_the_code_it_started_on_and_names_each_segments_commit(
        tmp_path, tiny_registry, monkeypatch):
    """A checkpoint resumes only on the same code digests, but the checkout may have moved on
    (docs, results): the run keeps the record it started with, and each resume names its own."""
    import harness.loop

    out = tmp_path / "resumed"
    cfg = write_config(tmp_path / "resumed.yaml", "tiny_unreachable", out, engine=ENGINE,
                       energy={"meter": "none"}, recipe=RECIPE)
    _stop_in_epoch(monkeypatch, [2], "")
    assert cli.main([str(cfg)]) == 1
    bdir = out / "test-host" / "tiny_unreachable"
    started = json.loads((bdir / "run_0.json").read_text())["code"]
    real = harness.loop.code_record
    monkeypatch.setattr(harness.loop, "code_record",
                        lambda engine, harness_code: {**real(engine, harness_code), "git_commit": "f" * 40,
                                                      "git_dirty": True})
    assert cli.main([str(cfg), "--resume"]) == 0
    got = json.loads((bdir / "run_0.json").read_text())
    assert got["code"] == started and started["git_commit"] != "f" * 40
    segments = [(r["after_epoch"], r["git_commit"], r["git_dirty"]) for r in got["resumed"]]
    assert segments == [(1, "f" * 40, True)]


def test_an_ensemble_resumes_inside_either_member_as_if_never_stopped(tmp_path, tiny_registry, monkeypatch):
    # the data are perturbed every epoch and the second member's set is drawn at random, both from
    # the run's generator; stopped inside the first member, in the second member's first epoch
    # (back to the checkpoint written when its set was chosen) and in its second epoch
    recipe = {**RECIPE, "schedule": {"kind": "constant"}, "member_epochs": [2]}
    bench = "tiny_random_ensemble"
    want, wdir = _straight(tmp_path, bench, recipe)
    for label, epoch, after in (("net 1/2", 2, 1), ("net 2/2", 1, 2), ("net 2/2", 2, 3)):
        case = tmp_path / f"{label[4]}_{epoch}"
        case.mkdir()
        got, gdir = _stopped_and_resumed(case, monkeypatch, bench, recipe, [epoch], label)
        assert [r["after_epoch"] for r in got["resumed"]] == [after], (label, epoch)
        _same_run(got, gdir, want, wdir)
        members = [r for r in _records(gdir / "result_0.txt") if r[0] == "spinnbench_member_start"]
        assert [r[1] for r in members] == [0, 1]


def test_resume_refuses_a_checkpoint_of_another_run_naming_what_differs(
        tmp_path, tiny_registry, monkeypatch, capsys):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "a.yaml", "tiny_unreachable", out, engine=ENGINE,
                       energy={"meter": "none"}, recipe=RECIPE)
    _stop_in_epoch(monkeypatch, [2])
    assert cli.main([str(cfg)]) == 1
    log = out / "test-host" / "tiny_unreachable" / "result_0.txt"
    kept = log.read_bytes()
    other_seed = write_config(tmp_path / "b.yaml", "tiny_unreachable", out, engine=ENGINE,
                              energy={"meter": "none"}, recipe=RECIPE, runs={"count": 1, "base_seed": 8})
    assert cli.main([str(other_seed), "--resume"]) == 2
    assert "--resume: " in capsys.readouterr().err
    engine = {**ENGINE, "options": {**ENGINE["options"], "in_flight": 9}}
    other_engine = write_config(tmp_path / "c.yaml", "tiny_unreachable", out, engine=engine,
                                energy={"meter": "none"}, recipe=RECIPE)
    assert cli.main([str(other_engine), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--resume: " in err and "other engine_options" in err and "'in_flight': 9" in err
    # a fresh --only-runs would throw the stopped run away: it asks instead
    assert cli.main([str(cfg), "--only-runs", "0"]) == 2
    assert "add --resume to continue" in capsys.readouterr().err
    # another process on the same run: refused, naming it
    from harness.runlock import RunLocks

    other = RunLocks(out, "test-host", "tiny_unreachable")
    other.acquire([0])
    assert cli.main([str(cfg), "--resume"]) == 2
    assert "being run by another process" in capsys.readouterr().err
    other.release()
    assert log.read_bytes() == kept  # nothing touched by any of them
    # a log changed since the checkpoint is not continued
    log.write_bytes(kept.replace(b"cache_clear", b"cache_cleaR", 1))
    assert cli.main([str(cfg), "--resume"]) == 2
    assert "is not the log" in capsys.readouterr().err


def test_a_checkpoint_killed_while_being_replaced_is_still_read(tmp_path, monkeypatch):
    ckpt = RunCheckpoint(tmp_path / "checkpoint_0")
    state = {"fingerprint": {"seed": 1}, "epochs_done": 1}
    ckpt.write(CheckpointData(state, [SessionState({"a": 1}, {"w": np.arange(3, dtype=np.uint8)})]))
    ckpt.path.rename(tmp_path / "checkpoint_0.old")  # as if killed between write's two renames
    assert ckpt.exists()
    back = ckpt.read({"seed": 1})
    assert back.state["epochs_done"] == 1 and np.array_equal(back.sessions[0].arrays["w"], [0, 1, 2])

    class Unsaveable:  # the next write dies half way (as a kill would)
        def __array__(self, *args, **kwargs):
            raise KeyboardInterrupt("killed while writing")

    with pytest.raises(KeyboardInterrupt):
        ckpt.write(CheckpointData({**state, "epochs_done": 2}, [SessionState({}, {"w": Unsaveable()})]))
    assert ckpt.read({"seed": 1}).state["epochs_done"] == 1  # the last whole one survives

    ckpt.path.rename(tmp_path / "checkpoint_0.old")
    real_rename = Path.rename

    def dies_at_the_swap(self, target):
        if self.name.endswith(".new"):
            raise KeyboardInterrupt("killed at the swap")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", dies_at_the_swap)
    with pytest.raises(KeyboardInterrupt):
        ckpt.write(CheckpointData({**state, "epochs_done": 2}, []))
    monkeypatch.undo()
    assert ckpt.read({"seed": 1}).state["epochs_done"] == 1
    with pytest.raises(CheckpointMismatchError, match="seed: 1 there, 2 here"):
        ckpt.read({"seed": 2})
    ckpt.remove()
    assert not ckpt.exists()
