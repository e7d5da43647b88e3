"""Runs through `run-benchmark` in-process on small real-MNIST workloads.

Checks the time-to-accuracy contract, the results tree, the MLPerf log as the
official checker sees it, and what a failed or interrupted run leaves behind.
"""

from __future__ import annotations

import json

import pytest

from harness import cli
from harness.compliance import check_log
from harness.system import check_system_description
from tests.conftest import write_config


def _run(tmp_path, benchmark, *extra_args, **config):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / f"{benchmark}.yaml", benchmark, out, **config)
    code = cli.main([str(cfg), *extra_args])
    return code, out / "test-host" / benchmark, out


def _lines(log):
    return [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines()
            if line.startswith(":::MLLOG")]


def test_run_reaches_target_and_writes_the_tree(tmp_path, tiny_registry):
    code, bdir, out = _run(tmp_path, "tiny_easy", "--runs", "3")
    assert code == 0
    for i in range(3):
        summary = json.loads((bdir / f"run_{i}.json").read_text())
        assert summary["status"] == "success" and summary["converged"]
        assert summary["compliance"]["passed"], summary["compliance"]["messages"]
        assert summary["final_accuracy"] >= 0.5
        assert summary["time_to_train_s"] > 0 and summary["clock"] == "wall"
        assert summary["energy"]["source"]  # always says where joules came from (or why none)
        assert summary["engine"]["keras"] and summary["engine"]["backend"] == "tensorflow"
        assert summary["seed"] == 7 + i
        # every batch is counted by the time its epoch ends, though Keras runs the counter off-thread
        assert summary["train_samples_seen"] == summary["epochs"] * 2000
        assert summary["workload"] == "tiny_easy"
        lines = _lines(bdir / f"result_{i}.txt")
        keys = [ln["key"] for ln in lines]
        # one line per event: a second run must not duplicate the first's lines
        assert keys.count("run_start") == 1 and keys.count("run_stop") == 1
        assert lines[keys.index("run_stop")]["metadata"]["status"] == "success"
        assert [ln["value"] for ln in lines if ln["key"] == "seed"] == [7 + i]
    score = json.loads((bdir / "score.json").read_text())
    times = sorted(json.loads((bdir / f"run_{i}.json").read_text())["time_to_train_s"]
                   for i in range(3))
    assert score["score_s"] == pytest.approx(times[1])  # olympic mean of 3 = the median
    assert check_system_description(str(out / "systems" / "test-host.json"))


def test_unreached_target_is_aborted_and_exit_0(tmp_path, tiny_registry):
    code, bdir, _ = _run(tmp_path, "tiny_unreachable", "--set", "recipe.max_epochs=2")
    assert code == 0
    summary = json.loads((bdir / "run_0.json").read_text())
    assert summary["status"] == "aborted" and not summary["converged"]
    assert summary["time_to_train_s"] is None and summary["epochs"] == 2
    assert len(summary["eval_curve"]) == 2
    assert summary["compliance"]["passed"]  # an honest aborted log is compliant
    assert json.loads((bdir / "score.json").read_text())["score_s"] is None


def test_eval_cadence(tmp_path, tiny_registry):
    code, bdir, _ = _run(tmp_path, "tiny_unreachable", "--set", "recipe.max_epochs=5",
                         "--set", "recipe.eval_every=2", "--set", "recipe.eval_offset=1")
    assert code == 0
    evals = [ln["metadata"]["epoch_num"] for ln in _lines(bdir / "result_0.txt")
             if ln["key"] == "eval_accuracy"]
    assert evals == [3, 5]  # offset 1, every 2; the last epoch always evaluates
    assert check_log(bdir / "result_0.txt", bdir / "compliance_rules.yaml").passed


@pytest.mark.parametrize("name,status", [("tiny_crash", "failed"),
                                         ("tiny_interrupt", "interrupted")])
def test_failure_keeps_log_and_partial_results(tmp_path, tiny_registry, name, status):
    code, bdir, _ = _run(tmp_path, name, "--set", "recipe.max_epochs=5")
    assert code == 1
    summary = json.loads((bdir / "run_0.json").read_text())
    assert summary["status"] == status
    assert len(summary["eval_curve"]) == 1  # epoch 1 finished and was evaluated
    assert "injected fault" in summary["error"] or status == "interrupted"
    lines = _lines(bdir / "result_0.txt")
    assert lines[-1]["key"] == "run_stop" and lines[-1]["metadata"]["status"] == "aborted"
    assert summary["compliance"]["passed"], summary["compliance"]["messages"]
    score = json.loads((bdir / "score.json").read_text())
    assert score["complete"] is False and score["statuses"] == [status]


def test_ensemble_trains_every_member_inside_the_timed_region(tmp_path, tiny_registry, capsys):
    code, bdir, _ = _run(tmp_path, "tiny_ensemble")
    assert code == 0
    # choosing the second member's set reports progress, labelled with run and net
    assert "run 1/1 net 2 set: " in capsys.readouterr().err
    lines = _lines(bdir / "result_0.txt")
    keys = [ln["key"] for ln in lines]
    members = [ln for ln in lines if ln["key"] == "spinnbench_member_start"]
    assert [m["value"] for m in members] == [0, 1]
    assert keys.index("run_start") < keys.index("spinnbench_member_start")
    # the first member's epoch is numbered before the second's and is not evaluated
    assert [ln["metadata"]["epoch_num"] for ln in lines if ln["key"] == "epoch_start"][0] == 1
    evals = [ln["metadata"]["epoch_num"] for ln in lines if ln["key"] == "eval_accuracy"]
    assert evals[0] == 2
    summary = json.loads((bdir / "run_0.json").read_text())
    assert summary["compliance"]["passed"], summary["compliance"]["messages"]


def test_previous_set_is_archived_not_lost(tmp_path, tiny_registry):
    _run(tmp_path, "tiny_easy")
    code, bdir, out = _run(tmp_path, "tiny_easy")
    assert code == 0
    archived = list((out / ".archive" / "test-host" / "tiny_easy").glob("*/run_0.json"))
    assert len(archived) == 1


def test_a_set_split_over_two_invocations(tmp_path, tiny_registry):
    code, bdir, out = _run(tmp_path, "tiny_easy", "--runs", "3", "--only-runs", "0,2")
    assert code == 0
    assert sorted(p.name for p in bdir.glob("run_*.json")) == ["run_0.json", "run_2.json"]
    assert json.loads((bdir / "run_2.json").read_text())["seed"] == 7 + 2  # the full set's seed
    partial = json.loads((bdir / "score.json").read_text())
    assert partial["complete"] is False and partial["seeds"] == [7, 9]
    first = (bdir / "result_0.txt").read_text()

    code, bdir, out = _run(tmp_path, "tiny_easy", "--runs", "3", "--only-runs", "1")
    assert code == 0
    assert (bdir / "result_0.txt").read_text() == first  # kept, not archived
    assert not (out / ".archive").exists()
    score = json.loads((bdir / "score.json").read_text())
    times = sorted(json.loads((bdir / f"run_{i}.json").read_text())["time_to_train_s"] for i in range(3))
    assert score["complete"] is True and score["seeds"] == [7, 8, 9]
    assert score["score_s"] == pytest.approx(times[1])


@pytest.mark.parametrize("bad", ["3", "0,0", "x", "-1"])
def test_only_runs_outside_the_set_is_bad_input(tmp_path, tiny_registry, bad, capsys):
    code, bdir, out = _run(tmp_path, "tiny_easy", "--runs", "3", f"--only-runs={bad}")
    assert code == 2 and not out.exists()
    assert "--only-runs" in capsys.readouterr().err


def test_only_runs_refuses_to_score_runs_of_another_set(tmp_path, tiny_registry, capsys):
    code, bdir, _ = _run(tmp_path, "tiny_easy", "--runs", "2", "--only-runs", "0")
    assert code == 0
    code, bdir, _ = _run(tmp_path, "tiny_easy", "--runs", "2", "--only-runs", "1",
                         "--set", "runs.base_seed=100")
    assert code == 2 and not (bdir / "run_1.json").exists()
    assert "run_0.json" in capsys.readouterr().err


@pytest.mark.parametrize("status", ["running", "interrupted"])
def test_a_run_of_the_set_with_no_outcome_is_left_out_of_the_score(tmp_path, tiny_registry, status):
    """Another process's run, still going, killed or interrupted (to resume), has no outcome to score."""
    code, bdir, _ = _run(tmp_path, "tiny_easy", "--runs", "3", "--only-runs", "1")
    assert code == 0
    going = json.loads((bdir / "run_1.json").read_text())
    going.update(status=status, converged=False, time_to_train_s=None)
    (bdir / "run_1.json").write_text(json.dumps(going))

    code, bdir, _ = _run(tmp_path, "tiny_easy", "--runs", "3", "--only-runs", "0,2")
    assert code == 0
    score = json.loads((bdir / "score.json").read_text())
    times = [json.loads((bdir / f"run_{i}.json").read_text())["time_to_train_s"] for i in (0, 2)]
    assert score["unfinished_runs"] == [1] and score["statuses"] == ["success", status, "success"]
    assert score["converged"] == 2 and score["reason"] is None
    assert score["score_s"] == pytest.approx(sum(times) / 2)  # plain mean of the two finished runs
    assert score["complete"] is False


def test_every_run_records_its_code_and_a_set_of_mixed_code_is_flagged(tmp_path, tiny_registry, capsys):
    """MLPerf scores runs of one submission's code; a set run over several sessions may not be."""
    import subprocess

    from harness import provenance
    from harness.dashboard.collect import collect

    code, bdir, out = _run(tmp_path, "tiny_easy", "--runs", "3", "--only-runs", "0,1")
    assert code == 0
    first = json.loads((bdir / "run_0.json").read_text())["code"]
    assert len(first["harness_code"]) == 16
    logged = [ln["value"] for ln in _lines(bdir / "result_0.txt") if ln["key"] == "spinnbench_code"]
    assert logged == [first]
    head = subprocess.run(["git", "-C", str(provenance.PROJECT_ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=False)
    if (provenance.PROJECT_ROOT / ".git").exists() and head.returncode == 0:
        assert first["git_commit"] == head.stdout.strip() and isinstance(first["git_dirty"], bool)
    score = json.loads((bdir / "score.json").read_text())
    assert score["one_code_version"] is True and score["code_versions"][0]["runs"] == [0, 1]

    # run 1 as if an earlier commit had run it; run 2 now: the score says the set mixes code
    older = json.loads((bdir / "run_1.json").read_text())
    older["code"]["harness_code"] = "0" * 16
    (bdir / "run_1.json").write_text(json.dumps(older))
    capsys.readouterr()
    code, bdir, out = _run(tmp_path, "tiny_easy", "--runs", "3", "--only-runs", "2")
    assert code == 0
    score = json.loads((bdir / "score.json").read_text())
    assert score["one_code_version"] is False
    assert sorted(v["runs"] for v in score["code_versions"]) == [[0, 2], [1]]
    assert "2 versions of the code" in capsys.readouterr().out
    problems = collect(out).scores["problems"].tolist()
    assert any("2 versions of the code" in p for p in problems), problems
