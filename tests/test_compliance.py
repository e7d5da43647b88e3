"""The MLPerf compliance checker, as MLCommons ships it, judges our logs.

A log from a real run must pass; the same log with its run_stop removed, or
claiming success below the target, must fail, both through the checker's
Python API and its command line.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import cli
from harness.compliance import build_rules, check_log, write_rules
from tests.conftest import write_config


@pytest.fixture(scope="module")
def real_log(tmp_path_factory):
    """A log from a converged run of the tiny workload (target 0.5)."""
    tmp = tmp_path_factory.mktemp("log")
    mp = pytest.MonkeyPatch()
    import workloads
    from tests.conftest import tiny

    real = workloads._registry
    mp.setattr(workloads, "_registry", lambda: {**real(), "tiny_easy": tiny("tiny_easy", 0.5)})
    try:
        cfg = write_config(tmp / "c.yaml", "tiny_easy", tmp / "results")
        assert cli.main([str(cfg)]) == 0
    finally:
        mp.undo()
    bdir = tmp / "results" / "test-host" / "tiny_easy"
    return bdir / "result_0.txt", bdir / "compliance_rules.yaml"


def _cli_checker(log, rules):
    result = subprocess.run(
        [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
         "--ruleset", "4.0.0", "--config", str(rules), "--log_output", str(log) + ".cc.log",
         str(log)], capture_output=True, text=True, timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def _rewrite(src, dst, edit):
    lines = src.read_text().splitlines()
    out = []
    for line in lines:
        record = json.loads(line.split(" ", 1)[1])
        record = edit(record)
        if record is not None:
            out.append(":::MLLOG " + json.dumps(record))
    dst.write_text("\n".join(out) + "\n")
    return dst


def test_real_log_passes(real_log):
    log, rules = real_log
    assert check_log(log, rules).passed
    code, output = _cli_checker(log, rules)
    assert code == 0 and "SUCCESS" in output, output


def test_removed_run_stop_fails(real_log, tmp_path):
    log, rules = real_log
    bad = _rewrite(log, tmp_path / "no_stop.txt", lambda r: None if r["key"] == "run_stop" else r)
    verdict = check_log(bad, rules)
    assert not verdict.passed and any("run_stop" in m for m in verdict.messages)
    code, output = _cli_checker(bad, rules)
    assert code == 1 and "FAILED" in output


def test_success_below_target_fails(real_log, tmp_path):
    log, rules = real_log

    def lower(record):
        if record["key"] == "eval_accuracy":
            record["value"] = 0.1
        return record

    bad = _rewrite(log, tmp_path / "low.txt", lower)
    assert not check_log(bad, rules).passed
    assert _cli_checker(bad, rules)[0] == 1


def test_aborted_above_target_fails(real_log, tmp_path):
    log, rules = real_log

    def abort(record):
        if record["key"] == "run_stop":
            record["metadata"]["status"] = "aborted"
        return record

    assert not check_log(_rewrite(log, tmp_path / "ab.txt", abort), rules).passed


def test_wrong_benchmark_name_fails(real_log, tmp_path):
    log, _ = real_log
    other_rules = write_rules(tmp_path / "r.yaml", "mnist_lenet5", 0.5)
    assert not check_log(log, other_rules).passed


def test_rules_come_from_the_installed_package():
    rules = build_rules("mnist_mlp1", 0.953)
    names = [r["KEY"]["NAME"] for r in rules if "KEY" in r]
    for key in ("run_start", "run_stop", "init_stop", "submission_org", "eval_accuracy"):
        assert key in names
    division = next(r["KEY"] for r in rules if "KEY" in r
                    and r["KEY"]["NAME"] == "submission_division")
    assert "enqueue_config" not in division["POST"]
