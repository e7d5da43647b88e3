"""A benchmark: N runs of one config, their results tree and their score."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import workloads
from harness import engines
from harness.checkpoint import CheckpointData, CheckpointMismatchError, RunCheckpoint, prefix_digest
from harness.compliance import prepare_rules
from harness.config import BenchmarkConfig
from harness.energy import open_meter
from harness.errors import UserInputError
from harness.loop import Run, RunSpec, run_fingerprint, supports_checkpoints
from harness.provenance import code_versions
from harness.results import ResultsTree, write_json_atomic
from harness.runlock import RunLocks
from harness.scoring import olympic_mean, under_way
from harness.system import check_system_description, system_description


@dataclass
class BenchmarkOutcome:
    summaries: list[dict[str, Any]]
    score: dict[str, Any]
    tree: ResultsTree
    failed: bool


def run_benchmark(config: BenchmarkConfig, out: TextIO | None = None,
                  only_runs: list[int] | None = None, resume: bool = False) -> BenchmarkOutcome:
    """Run every seed of `config`; bad input raises before anything is written.

    `out` defaults to the sys.stdout of the call, not of the import (tests swap it).
    `only_runs` runs just those indices of the set and keeps the set's other runs
    (an emulated run takes the host tens of minutes, so a set may be split over
    processes or sessions); the score then covers every run summary present.
    `resume` continues the set instead of starting a new one: a run with a
    checkpoint goes on from it, a run already finished is kept, any other runs.
    """
    out = out or sys.stdout
    indices = _check_only_runs(only_runs, config.run_count)
    workload = workloads.get(config.benchmark, config.workload_options)
    engine = engines.lookup(config.engine)(config.engine_options)
    check_recipe = getattr(engine, "check_recipe", None)  # engines that cannot train every recipe
    if check_recipe is not None:
        check_recipe(config.recipe, workload)
    meter = open_meter(config.energy_meter, engine.energy_device())
    data = workload.load_data(config.data_dir)

    system_name = config.system["system_name"]
    tree = ResultsTree(config.output_dir, system_name, workload.benchmark)
    locks = RunLocks(tree.root, system_name, workload.benchmark)
    whole_set = only_runs is None and not resume  # a new set: the old one is archived, checkpoints too
    locks.acquire(list(range(config.run_count)) if whole_set else indices)
    try:
        return _run_set(config, out, only_runs, resume, indices, workload, engine, meter, data, tree)
    finally:
        locks.release()


def _run_set(config: BenchmarkConfig, out: TextIO, only_runs: list[int] | None, resume: bool,
             indices: list[int], workload: Any, engine: Any, meter: Any, data: Any,
             tree: ResultsTree) -> BenchmarkOutcome:
    system_name = tree.system
    if only_runs is not None or resume:
        _check_kept_runs(tree, config, [] if resume else indices, "--resume" if resume else "--only-runs")
    if resume:
        resumable = _resumable(tree, config, workload, engine, indices)
        indices = [i for i in indices if i in resumable or not _finished(tree.read_summary(i))]
    else:
        resumable = {}
        if only_runs is not None:
            _refuse_to_drop_checkpoints(tree, indices)
    archived = tree.start_new_set() if only_runs is None and not resume else tree.keep_set()
    if archived:
        print(f"previous results moved to {archived}", file=out)
    provenance = engine.provenance()
    description = system_description(config.system, provenance)
    write_json_atomic(tree.system_path, description)
    system_ok = check_system_description(str(tree.system_path))
    rules = prepare_rules(workload.ruleset, tree.rules_path, workload.benchmark, workload.target.value)

    print(f"{workload.benchmark}: target {workload.target.metric} >= {workload.target.value} "
          f"({workload.target.source}); engine {config.engine} {provenance.get('device_name', '')}; "
          f"{config.run_count} run(s), seeds {config.seeds}; energy meter {meter.name}; "
          f"data: {data.source}", file=out)

    summaries: list[dict[str, Any]] = []
    failed = False
    interrupted: BaseException | None = None
    started = time.time()
    for index in indices:
        seed = config.seeds[index]
        checkpoint = RunCheckpoint(tree.checkpoint_path(index)) if supports_checkpoints(engine) else None
        if checkpoint is not None and index not in resumable:
            checkpoint.remove()  # a fresh run: an old checkpoint of this index is stale
        if index in resumable:
            print(f"  result_{index}: resuming after epoch {resumable[index].state['epochs_done']} "
                  f"from {checkpoint.path}", file=out)
        run = Run(RunSpec(index, seed, config.run_count), config, workload, data, engine, tree, meter,
                  rules=rules, checkpoint=checkpoint, resume=resumable.get(index))
        try:
            summaries.append(run.execute())
        except KeyboardInterrupt as exc:
            summaries.append(run.summary)
            interrupted, failed = exc, True
            break
        except Exception:  # noqa: BLE001 - recorded in the run's summary; stop the set
            summaries.append(run.summary)
            failed = True
            break
        _print_run(run.summary, out)

    ran = summaries
    if only_runs is not None or resume:  # the set's other runs, from their summaries
        by_index = {s["run"]: s for s in summaries}
        summaries = [by_index.get(i) or tree.read_summary(i) for i in range(config.run_count)]
        summaries = [s for s in summaries if s is not None]
    score = olympic_mean([s["time_to_train_s"] for s in summaries if not under_way(s["status"])])
    score.update({
        "benchmark": workload.benchmark,
        "system": system_name,
        "engine": config.engine,
        "clock": engine.clock.kind,
        "runs_planned": config.run_count,
        "resumed_runs": [s["run"] for s in summaries if s.get("resumed")],
        "unfinished_runs": [s["run"] for s in summaries if under_way(s["status"])],
        "complete": len(summaries) == config.run_count and not failed
        and all(s["status"] in ("success", "aborted") for s in summaries),
        "seeds": [s["seed"] for s in summaries],
        "statuses": [s["status"] for s in summaries],
        "data": workload.data_description(),
        "compliance_rules": rules,
        "compliance_passed": [bool(s["compliance"] and s["compliance"]["passed"])
                              for s in summaries],
        "system_description_valid": system_ok,
        "config": config.path,
        "elapsed_wall_s": time.time() - started,
        **code_versions(summaries),
    })
    write_json_atomic(tree.score_path, score)
    _print_score(score, tree, out)
    if interrupted is not None:
        raise interrupted
    return BenchmarkOutcome(ran, score, tree, failed)


def _check_only_runs(only_runs: list[int] | None, count: int) -> list[int]:
    if only_runs is None:
        return list(range(count))
    bad = [i for i in only_runs if not 0 <= i < count]
    if bad or not only_runs or len(set(only_runs)) != len(only_runs):
        raise UserInputError(f"--only-runs {','.join(map(str, only_runs))}: give distinct run indices "
                             f"from 0 to {count - 1} (the config's runs.count is {count})")
    return sorted(only_runs)


def _finished(summary: dict[str, Any] | None) -> bool:
    return summary is not None and summary.get("status") in ("success", "aborted")


def _refuse_to_drop_checkpoints(tree: ResultsTree, indices: list[int]) -> None:
    """A fresh --only-runs run would overwrite a stopped run that could go on: ask which is meant."""
    kept = [i for i in indices if RunCheckpoint(tree.checkpoint_path(i)).exists()
            and not _finished(tree.read_summary(i))]
    if kept:
        paths = ", ".join(str(tree.checkpoint_path(i)) for i in kept)
        raise UserInputError(f"--only-runs: run(s) {', '.join(map(str, kept))} stopped with a checkpoint "
                             f"({paths}); add --resume to continue, or delete the checkpoint to start afresh")


def _resumable(tree: ResultsTree, config: BenchmarkConfig, workload: Any, engine: Any,
               indices: list[int]) -> dict[int, CheckpointData]:
    """The checkpoints `--resume` goes on from, each checked against its run (before anything is written)."""
    found: dict[int, CheckpointData] = {}
    for index in indices:
        checkpoint = RunCheckpoint(tree.checkpoint_path(index))
        if not checkpoint.exists():
            continue
        if _finished(tree.read_summary(index)):
            checkpoint.remove()  # the run finished after writing it (killed before removing it)
            continue
        if not supports_checkpoints(engine):
            raise UserInputError(f"--resume: {checkpoint.path} exists but engine {config.engine!r} cannot "
                                 "resume runs (its clock is the wall clock)")
        spec = RunSpec(index, config.seeds[index], config.run_count)
        try:
            found[index] = checkpoint.read(run_fingerprint(spec, config, workload, engine))
        except CheckpointMismatchError as exc:
            raise UserInputError(f"--resume: {exc}") from None
        log = tree.log_path(index)
        state = found[index].state
        if not log.exists() or prefix_digest(log, state["log"]["length"]) != state["log_sha256"]:
            raise UserInputError(f"--resume: {log} is not the log {checkpoint.path} was written with "
                                 f"(missing, shorter, or changed before byte {state['log']['length']}); "
                                 "delete the checkpoint to run it afresh")
    return found


def _check_kept_runs(tree: ResultsTree, config: BenchmarkConfig, indices: list[int],
                     flag: str = "--only-runs") -> None:
    """The runs --only-runs keeps must come from this config: same seed and recipe (nothing written yet)."""
    for i in range(config.run_count):
        if i in indices:
            continue
        kept = tree.read_summary(i)
        if kept is None:
            continue
        if kept.get("seed") != config.seeds[i] or kept.get("recipe") != config.recipe:
            raise UserInputError(
                f"{flag}: {tree.summary_path(i)} was run with seed {kept.get('seed')} and recipe "
                f"{kept.get('recipe')}, this config's run {i} has seed {config.seeds[i]} and recipe "
                f"{config.recipe}: run the whole set (without {flag}) or use another --output")


def _print_run(s: dict[str, Any], out: TextIO) -> None:
    ttt = f"{s['time_to_train_s']:.1f} s ({s['clock']})" if s["time_to_train_s"] else "-"
    acc = f"{s['final_accuracy']:.4f}" if s.get("final_accuracy") is not None else "-"
    ok = "pass" if s["compliance"] and s["compliance"]["passed"] else "FAIL"
    print(f"  result_{s['run']} (seed {s['seed']}): {s['status']}, {s['epochs']} epochs, "
          f"accuracy {acc}, time to train {ttt}, compliance {ok}", file=out)


def _print_score(score: dict[str, Any], tree: ResultsTree, out: TextIO) -> None:
    if score["score_s"] is not None:
        line = f"score: {score['score_s']:.2f} s ({score['clock']} clock), {score['method']}"
    else:
        line = f"score: none ({score['reason']})"
    if len(score["code_versions"]) > 1:
        line += (f"\nwarning: the runs come from {len(score['code_versions'])} versions of the code "
                 "(score.json: code_versions); MLPerf scores runs of one")
    print(f"{line}\nresults: {tree.benchmark_dir}", file=out)
