"""The dashboard's score against MLCommons' own result summarizer on the same ResNet logs.

The summarizer (mlperf_logging.result_summarizer) only knows MLPerf's
benchmarks, so the logs are ResNet-50 ones: written by the harness's own MLPerf
writer (harness.mllogging.RunLog) under a fake clock, with the keys the
closed-division 4.0.0 rules require, laid out as a submission
(<org>/results/<system>/resnet/result_<i>.txt, <org>/systems/<system>.json).
Each run's compliance verdict in its summary is the official checker's, as
run-benchmark records it.  The summarizer drops a log that fails compliance
(which a ResNet log that never reaches 75.9% does) and averages the rest
olympic-style; the dashboard must agree on the score and on which runs
converged.
"""

from __future__ import annotations

import json
import math

import pytest
from mlperf_logging.compliance_checker import mlp_compliance
from mlperf_logging.result_summarizer import result_summarizer

from harness.dashboard.collect import collect
from tests.dashboard_support import RESNET_SGD_KEYS, SYSTEM_DESC, write_run

TARGET = 0.759


def _official_verdict(path) -> bool:
    checker = mlp_compliance.make_checker(usage="training", ruleset="4.0.0", quiet=True, werror=False)
    valid, *_ = mlp_compliance.main(str(path), "training_4.0.0/common.yaml", checker)
    return bool(valid)


def _resnet_run(results, system, index, minutes, reached=True, keys=None):
    seconds = minutes * 60.0
    final = 0.7612 if reached else 0.7480
    curve = [(seconds * 0.5, 0.61), (seconds * 0.8, 0.73), (seconds, final)]
    summary = write_run(results, system, "resnet", index, target=TARGET, curve=curve,
                        log_extra=keys if keys is not None else RESNET_SGD_KEYS, samples_per_epoch=1281167)
    bdir = results / system / "resnet"
    summary["compliance"] = {"passed": _official_verdict(bdir / f"result_{index}.txt"), "messages": []}
    (bdir / f"run_{index}.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def submission(tmp_path_factory):
    org = tmp_path_factory.mktemp("submission") / "SpiNNBench"
    results = org / "results"
    # one run that never reaches 75.9%: the dropped slowest
    for i, m in enumerate([50.0, 55.0, 52.0, 60.0]):
        _resnet_run(results, "sys-one-miss", i, m)
    _resnet_run(results, "sys-one-miss", 4, 45.0, reached=False)
    # two that never do: no score
    for i, m in enumerate([30.0, 31.0, 33.0]):
        _resnet_run(results, "sys-two-miss", i, m)
    for i in (3, 4):
        _resnet_run(results, "sys-two-miss", i, 29.0, reached=False)
    # all converge, but one log lacks a hyperparameter the closed rules require: not compliant
    incomplete = {k: v for k, v in RESNET_SGD_KEYS.items() if k != "sgd_opt_momentum"}
    for i, m in enumerate([20.0, 21.0, 22.0, 23.0]):
        _resnet_run(results, "sys-noncompliant", i, m)
    _resnet_run(results, "sys-noncompliant", 4, 10.0, keys=incomplete)
    (org / "systems").mkdir()
    for system in ("sys-one-miss", "sys-two-miss", "sys-noncompliant"):
        (org / "systems" / f"{system}.json").write_text(json.dumps({**SYSTEM_DESC, "system_name": system}))
    return org


def test_generated_logs_are_judged_as_intended(submission):
    results = submission / "results"
    assert _official_verdict(results / "sys-one-miss" / "resnet" / "result_0.txt")
    assert not _official_verdict(results / "sys-one-miss" / "resnet" / "result_4.txt")
    assert not _official_verdict(results / "sys-noncompliant" / "resnet" / "result_4.txt")


def test_score_and_convergence_agree_with_mlperf_result_summarizer(submission, capsys):
    strong, *_ = result_summarizer.summarize_results(str(submission), "training", "4.0.0")
    printed = capsys.readouterr().out
    theirs = {row["system"]: row["resnet"] for _, row in strong.iterrows()}
    assert "CRITICAL ERROR: Too many non-converging runs" in printed and "sys-two-miss" in printed

    c = collect(submission / "results")
    ours = {r.system: r for r in c.scores.itertuples()}
    assert set(ours) == {"sys-one-miss", "sys-two-miss", "sys-noncompliant"}

    # one unconverged run: olympic mean of the other four without the fastest
    assert theirs["sys-one-miss"] == pytest.approx((52.0 + 55.0 + 60.0) / 3, rel=1e-6)
    assert ours["sys-one-miss"].score_s / 60.0 == pytest.approx(theirs["sys-one-miss"], rel=1e-6)
    assert (ours["sys-one-miss"].converged, ours["sys-one-miss"].counted) == (4, 4)

    # two unconverged runs: the summarizer has no valid score (it leaves the cell empty), nor do we
    their_two = theirs.get("sys-two-miss")
    assert their_two is None or (isinstance(their_two, float) and math.isnan(their_two))
    assert ours["sys-two-miss"].score_s is None or math.isnan(ours["sys-two-miss"].score_s)
    assert ours["sys-two-miss"].converged == 3

    # a converged but non-compliant log is dropped by the summarizer, and not counted by us
    assert theirs["sys-noncompliant"] == pytest.approx((21.0 + 22.0 + 23.0) / 3, rel=1e-6)
    assert ours["sys-noncompliant"].score_s / 60.0 == pytest.approx(theirs["sys-noncompliant"], rel=1e-6)
    assert (ours["sys-noncompliant"].converged, ours["sys-noncompliant"].counted) == (5, 4)
