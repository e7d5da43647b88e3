"""The shipped MLP-1 config, run as a user runs it, trains to its target on real MNIST.

One real run (about a minute on 2 cores with TensorFlow's start-up): the
command-line tool in a fresh process, the shipped data, the shipped config,
and the log judged by MLCommons' checker through its own command line.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, run_cli


def test_mlp1_config_reaches_target_and_log_passes_checker(tmp_path):
    out = tmp_path / "results"
    result = run_cli("configs/mnist_mlp1/keras-cpu.yaml", "--runs", "1", "--output", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "score:" in result.stdout
    bdir = out / "host-cpu-keras" / "mnist_mlp1"
    summary = json.loads((bdir / "run_0.json").read_text())
    assert summary["status"] == "success"
    assert summary["final_accuracy"] >= 0.953
    assert summary["eval_curve"][-1]["accuracy"] == summary["final_accuracy"]
    check = subprocess.run(
        [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
         "--ruleset", "4.0.0", "--config", str((bdir / "compliance_rules.yaml").resolve()),
         "--log_output", str(tmp_path / "cc.log"), str(bdir / "result_0.txt")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert check.returncode == 0 and "SUCCESS" in check.stdout + check.stderr
    score = json.loads((bdir / "score.json").read_text())
    assert score["score_s"] == summary["time_to_train_s"]
    assert (out / "systems" / "host-cpu-keras.json").is_file()
