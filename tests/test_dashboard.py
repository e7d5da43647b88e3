"""The results dashboard on synthetic trees: collection, scores, broken files, page, --compare, CLI.

Trees are written with tests/dashboard_support.py the way run-benchmark writes
them (logs through the harness's own MLPerf writer), including runs no engine
makes yet: SpiNNaker on the emulator, with a modeled clock and modeled joules.
"""

from __future__ import annotations

import io
import json

import pytest

from harness.dashboard import cli
from harness.dashboard.baselines import BaselinesError, load_baselines
from harness.dashboard.collect import collect
from harness.dashboard.compare import CompareError, compare
from tests.dashboard_support import mixed_tree, write_log, write_run


def _score(collection, engine):
    return collection.scores[collection.scores["engine"] == engine].iloc[0]


def test_collect_mixed_tree_scores_and_modeled_fields(tmp_path):
    c = collect(mixed_tree(tmp_path / "results"))
    assert len(c.runs) == 8 and len(c.scores) == 2
    assert c.problems == []
    keras = _score(c, "keras")
    # times 10, 12, 11, 13, 9: drop 9 and 13, mean of 10, 11, 12
    assert keras["score_s"] == pytest.approx(11.0, abs=1e-3)
    assert keras["clock"] == "wall" and keras["energy_kind"] == "none" and keras["converged"] == 5
    spin = _score(c, "spinnaker")
    assert spin["clock"] == "modeled" and spin["energy_kind"] == "modeled"
    assert spin["score_s"] == pytest.approx(310.0, abs=1e-3)  # median of 3
    assert spin["energy_j"] == pytest.approx(40.0 * 310.0, rel=1e-6)  # the kept run's joules
    runs = c.runs[c.runs["engine"] == "spinnaker"].sort_values("run")
    assert list(runs["spinnaker_cores"]) == [700, 701, 702]
    # packets per sample derived from packets_sent and the samples the run trained on (3 epochs of 60,000)
    assert runs["spinnaker_packets_per_sample"].iloc[1] == pytest.approx(6.0e6 / 180000)
    assert c.runs[c.runs["engine"] == "keras"]["spinnaker_cores"].isna().all()


def test_one_unconverged_run_is_the_dropped_slowest_two_leave_no_score(tmp_path):
    root = tmp_path / "r"
    for i, t in enumerate([5.0, 6.0, 7.0, 8.0]):
        write_run(root, "a", "mnist_mlp1", i, target=0.95, curve=[(t, 0.96)])
    write_run(root, "a", "mnist_mlp1", 4, target=0.95, curve=[(3.0, 0.90)])  # fastest, but never converged
    for i, t in enumerate([5.0, 6.0, 7.0]):
        write_run(root, "b", "mnist_mlp1", i, target=0.95, curve=[(t, 0.96)])
    for i in (3, 4):
        write_run(root, "b", "mnist_mlp1", i, target=0.95, curve=[(1.0, 0.90)])
    c = collect(root)
    a = c.scores[c.scores["system"] == "a"].iloc[0]
    b = c.scores[c.scores["system"] == "b"].iloc[0]
    assert a["converged"] == 4 and a["score_s"] == pytest.approx(7.0, abs=1e-3)  # drop 5 and the failure
    assert b["converged"] == 3 and b["score_s"] is None or b["score_s"] != b["score_s"]
    assert "2 of 5 runs did not reach the target" in b["reason"]
    assert not c.runs[(c.runs["system"] == "a") & (c.runs["run"] == 4)]["converged"].iloc[0]


def _broken_tree(root):
    for i, t in enumerate([10.0, 11.0, 12.0]):
        write_run(root, "host", "mnist_lenet5", i, target=0.99, curve=[(t, 0.991)])
    bdir = root / "host" / "mnist_lenet5"
    # run 1: summary truncated mid-write
    text = (bdir / "run_1.json").read_text()
    (bdir / "run_1.json").write_text(text[: len(text) // 2])
    # run 2: log cut before run_stop, though the summary claims success
    log = (bdir / "result_2.txt").read_text().splitlines()
    (bdir / "result_2.txt").write_text("\n".join(ln for ln in log if '"run_stop"' not in ln) + "\n")
    # run 3: only a log, no summary
    write_run(root, "host", "mnist_lenet5", 3, target=0.99, curve=[(9.0, 0.992)])
    (bdir / "run_3.json").unlink()
    # run 4: converged but failed compliance
    write_run(root, "host", "mnist_lenet5", 4, target=0.99, curve=[(8.0, 0.995)], compliance_passed=False)
    # no score.json was written at all
    return root


def test_broken_tree_lists_every_problem_and_counts_nothing_broken(tmp_path):
    c = collect(_broken_tree(tmp_path / "results"))
    runs = c.runs.set_index("run").sort_index()
    assert list(runs.index) == [0, 1, 2, 3, 4]  # nothing dropped
    assert runs.loc[0, "converged"] and runs.loc[0, "counted"]
    for i in (1, 2, 3):
        assert not runs.loc[i, "converged"], runs.loc[i, "problems"]
    assert runs.loc[4, "converged"] and not runs.loc[4, "counted"]
    assert "run_1.json unreadable" in runs.loc[1, "problems"]
    assert "no run_stop" in runs.loc[2, "problems"]
    assert "run_3.json missing" in runs.loc[3, "problems"]
    assert "compliance fail" in runs.loc[4, "problems"]
    score = c.scores.iloc[0]
    assert score["counted"] == 1 and score["score_s"] != score["score_s"] or score["score_s"] is None
    assert "score.json missing" in score["problems"]
    joined = "\n".join(c.problems)
    for i in (1, 2, 3, 4):
        assert f"run {i}:" in joined


def test_page_for_broken_and_empty_trees_says_what_is_missing(tmp_path):
    index = cli.build_dashboard([_broken_tree(tmp_path / "results")], tmp_path / "out")
    page = index.read_text()
    assert "What is missing or broken" in page and "has no run_stop" in page and "run_3.json missing" in page
    assert 'href="../results/host/mnist_lenet5/result_0.txt"' in page  # relative links to logs
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    empty = tmp_path / "empty"
    empty.mkdir()
    out = io.StringIO()
    assert cli.main([str(empty), "--out", str(tmp_path / "out2")], out=out) == 0
    page = (tmp_path / "out2" / "index.html").read_text()
    assert "No runs found" in page and "Published baselines" in page


def test_figures_png_and_svg_mark_modeled_and_published(tmp_path):
    root = mixed_tree(tmp_path / "results")
    for i, minutes in enumerate([900.0, 950.0, 1000.0]):  # an emulated ResNet, hours of modeled time
        write_run(root, "spinn-emu", "resnet", i, target=0.759, engine="spinnaker", clock="modeled",
                  curve=[(minutes * 30, 0.70), (minutes * 60, 0.76)],
                  energy={"joules": 2e6 * (i + 1), "source": "modeled", "kind": "modeled"})
    index = cli.build_dashboard([root], tmp_path / "out")
    figs = tmp_path / "out" / "figures"
    names = sorted(p.name for p in figs.iterdir())
    for kind in ("accuracy", "time", "energy", "spinnaker"):
        assert f"mnist-mlp1-0.953_{kind}.png" in names and f"mnist-mlp1-0.953_{kind}.svg" in names
    assert (figs / "mnist-mlp1-0.953_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    time_svg = (figs / "mnist-mlp1-0.953_time.svg").read_text()
    assert "modeled" in time_svg and "keras on host-cpu" in time_svg and "time to train (s" in time_svg
    resnet_svg = (figs / "resnet-0.759_time.svg").read_text()
    assert "published: NVIDIA, 8x H200, MLPerf v4.0" in resnet_svg and "(min" in resnet_svg
    assert "published: Supermicro" in (figs / "resnet-0.759_energy.svg").read_text()
    page = index.read_text()
    assert page.count('<img src="figures/') == len([n for n in names if n.endswith(".png")])
    assert 'class="tag published"' in page and "12.03 min" in page  # 12.03 min published beside measured


def test_compare_ratios_and_bad_names(tmp_path):
    c = collect(mixed_tree(tmp_path / "results"))
    table = compare(c, "spinnaker", "keras")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["time_ratio"] == pytest.approx(310.0 / 11.0, rel=1e-3)
    assert row["clock"] == "modeled / wall" and row["energy_ratio"] is None
    by_system = compare(c, "spinn5-emulated", "host-cpu").iloc[0]
    assert by_system["time_ratio"] == pytest.approx(310 / 11, rel=1e-3)
    with pytest.raises(CompareError, match="known: host-cpu, keras"):
        compare(c, "spinnaker", "gpu")


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    root = mixed_tree(tmp_path / "results")
    out = io.StringIO()
    assert cli.main([str(root), "--compare", "spinnaker", "keras"], out=out) == 0
    text = out.getvalue()
    assert "mnist_mlp1" in text and "28.2" in text and "modeled / wall" in text
    assert cli.main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main([str(root), "--compare", "keras", "tpu"]) == 2
    assert "'tpu' is neither an engine nor a system" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrows:\n  - {benchmark: resnet, system: x, metric: time_to_train, value: 1, "
                   "unit: min}\n")
    assert cli.main([str(root), "--baselines", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "missing 'source'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: no results folder at all
        cli.main([])
    assert exc.value.code == 2


def test_shipped_baselines_are_versioned_and_sourced():
    b = load_baselines()
    assert b.version == 1 and len(b.table) >= 30
    assert b.table["source"].map(bool).all() and (b.table["kind"] == "published").all()
    h200 = b.table[(b.table["system"] == "NVIDIA, 8x H200") & (b.table["metric"] == "time_to_train")]
    assert h200["value_canonical"].iloc[0] == pytest.approx(12.03 * 60)
    lenet5 = b.for_benchmark("mnist_lenet5", 0.9905, "test_error")
    assert lenet5["value"].iloc[0] == 0.95
    assert b.workload_name("mnist_mlp1", 0.953) == "mnist_mlp1 (784-300-10)"
    with pytest.raises(BaselinesError):
        b2 = json.dumps({"version": 1, "rows": [{"benchmark": "x"}]})
        path = __import__("pathlib").Path(__import__("tempfile").mkdtemp()) / "b.yaml"
        path.write_text(b2)
        load_baselines(path)


def test_a_resumed_run_is_marked_in_the_runs_table(tmp_path):
    root = tmp_path / "results"
    write_run(root, "spinn5-emulated", "mnist_lenet5", 0, target=0.99, curve=[(100.0, 0.98), (200.0, 0.991)],
              engine="spinnaker", clock="modeled")
    summary_path = root / "spinn5-emulated" / "mnist_lenet5" / "run_0.json"
    plain = cli.build_dashboard([root], tmp_path / "out0").read_text()
    assert "resumed ×" not in plain
    summary = json.loads(summary_path.read_text())
    summary["resumed"] = [{"after_epoch": 1, "host_wall_s_before": 5.0}]
    summary_path.write_text(json.dumps(summary))
    assert collect(root).runs["resumes"].tolist() == [1]
    assert "resumed ×1" in cli.build_dashboard([root], tmp_path / "out1").read_text()


def test_a_run_under_way_is_left_out_of_the_score_not_counted_as_missing_the_target(tmp_path):
    """A long set is watched while it runs: its summary says `running` and its log has no run_stop."""
    root = tmp_path / "results"
    write_run(root, "spinn5-emulated", "mnist_lenet5", 0, target=0.99, curve=[(100.0, 0.98), (200.0, 0.991)],
              engine="spinnaker", clock="modeled")
    bdir = root / "spinn5-emulated" / "mnist_lenet5"
    write_log(bdir / "result_1.txt", "mnist_lenet5", 2, [(100.0, 0.97)], 0.99, "modeled", close=False)
    (bdir / "run_1.json").write_text(json.dumps({
        "run": 1, "seed": 2, "benchmark": "mnist_lenet5", "system": "spinn5-emulated", "status": "running",
        "converged": False, "clock": "modeled", "time_to_train_s": None, "epochs": 1,
        "engine": {"engine": "spinnaker"}, "target": {"metric": "accuracy", "value": 0.99}}))
    c = collect(root)
    assert c.runs.sort_values("run")["finished"].tolist() == [True, False]
    score = _score(c, "spinnaker")
    assert score["runs"] == 1 and score["unfinished"] == 1 and score["converged"] == 1
    assert score["score_s"] == pytest.approx(200.0, abs=1e-3) and score["reason"] is None
    assert any("run 1:" in p and "summary says running: no outcome yet" in p for p in c.problems)
    page = cli.build_dashboard([root], tmp_path / "out").read_text()
    assert "1 of 1</span> (+1 under way or interrupted)" in page
    assert "did not reach the target" not in page
