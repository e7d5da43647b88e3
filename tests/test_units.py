"""Small pieces of the harness: scoring, schedules, meters, atomic writes, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.energy import RaplMeter, open_meter
from harness.errors import UserInputError
from harness.results import write_json_atomic
from harness.schedule import learning_rate
from harness.scoring import olympic_mean


def test_olympic_mean_drops_fastest_and_slowest():
    s = olympic_mean([10.0, 12.0, 11.0, 50.0, 1.0])
    assert s["score_s"] == pytest.approx(11.0)
    assert s["converged"] == 5


def test_one_unconverged_run_may_be_the_dropped_slowest():
    assert olympic_mean([10.0, None, 12.0, 11.0, 9.0])["score_s"] == pytest.approx(11.0)


def test_two_unconverged_runs_leave_no_score():
    s = olympic_mean([10.0, None, 12.0, None, 9.0])
    assert s["score_s"] is None and "2 of 5" in s["reason"]


def test_fewer_than_three_runs_is_a_plain_mean_and_says_so():
    s = olympic_mean([2.0, 4.0])
    assert s["score_s"] == 3.0 and "plain mean" in s["method"]


def _recipe(schedule, warmup=0):
    return {"optimizer": {"name": "sgd", "learning_rate": 0.1}, "schedule": schedule,
            "warmup_epochs": warmup}


def test_schedules():
    assert learning_rate(_recipe({"kind": "constant"}), 7) == 0.1
    step = _recipe({"kind": "step", "boundaries": [2, 4], "factors": [0.5, 0.1]})
    assert [round(learning_rate(step, e), 6) for e in range(6)] == [0.1, 0.1, 0.05, 0.05,
                                                                     0.005, 0.005]
    cos = _recipe({"kind": "cosine", "decay_epochs": 4, "final_factor": 0.0})
    assert learning_rate(cos, 0) == pytest.approx(0.1)
    assert learning_rate(cos, 2) == pytest.approx(0.05)
    assert learning_rate(cos, 9) == pytest.approx(0.0)
    warm = _recipe({"kind": "constant"}, warmup=4)
    assert learning_rate(warm, 0) == pytest.approx(0.025) and learning_rate(warm, 4) == 0.1


def _fake_rapl(root, energy_uj, max_uj=1000):
    domain = root / "intel-rapl:0"
    domain.mkdir(parents=True, exist_ok=True)
    (domain / "energy_uj").write_text(str(energy_uj))
    (domain / "max_energy_range_uj").write_text(str(max_uj))
    (domain / "name").write_text("package-0\n")
    sub = root / "intel-rapl:0:0"  # a subzone: must not be counted twice
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5")
    return domain


def test_rapl_reads_package_domains_and_undoes_wraparound(tmp_path):
    domain = _fake_rapl(tmp_path, 900)
    meter = RaplMeter(tmp_path)
    assert [d.name for d in meter.domains] == ["intel-rapl:0"]
    meter.start()
    (domain / "energy_uj").write_text("100")  # wrapped past max 1000: used 200 uJ
    reading = meter.stop()
    assert reading.joules == pytest.approx(200e-6)
    assert reading.kind == "measured" and "RAPL" in reading.source


def test_auto_meter_falls_back_to_none_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr("harness.energy.POWERCAP", tmp_path / "absent")
    meter = open_meter("auto", "cpu")
    reading = meter.stop()
    assert reading.joules is None and reading.kind == "none" and "rapl" in reading.source


def test_explicit_unreadable_meter_is_an_input_error(monkeypatch, tmp_path):
    monkeypatch.setattr("harness.energy.POWERCAP", tmp_path / "absent")
    with pytest.raises(UserInputError, match="energy.meter: 'rapl'"):
        open_meter("rapl", "cpu")


def test_atomic_write_keeps_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"ok": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temp file left


def test_harness_and_config_loading_import_no_framework():
    code = (
        "import sys, harness.cli, harness.runner;"
        "from harness.config import load_config;"
        "load_config('configs/mnist_lenet5/keras-cpu.yaml');"
        "bad=[m for m in ('tensorflow','keras','jax','torch') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
