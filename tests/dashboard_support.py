"""Synthetic results trees for the dashboard tests.

Runs are written the way the harness writes them: the MLPerf log through the
harness's own writer (harness.mllogging.RunLog) driven by a fake clock, the
summary with the fields harness/loop.py puts in it.  That lets the tests make
runs no engine can produce yet (SpiNNaker on the emulator: modeled clock and
joules) and ResNet logs that MLPerf's own result summarizer accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.mllogging import RunLog

# Hyperparameters MLPerf's closed ResNet rules (training_4.0.0/closed_resnet.yaml, which hands SGD
# to training_3.1.0/closed_resnet_sgd.yaml) require, with values its checks accept.
RESNET_SGD_KEYS = {
    "opt_name": "sgd",
    "sgd_opt_base_learning_rate": 8.0,
    "sgd_opt_end_learning_rate": 0.0001,
    "sgd_opt_learning_rate_decay_poly_power": 2,
    "sgd_opt_learning_rate_decay_steps": 36000,
    "sgd_opt_weight_decay": 0.0001,
    "sgd_opt_momentum": 0.9,
    "model_bn_span": 64,
    "opt_learning_rate_warmup_epochs": 5,
}

SYSTEM_DESC = {
    "submitter": "SpiNNBench", "division": "closed", "status": "onprem", "system_name": "",
    "number_of_nodes": "1", "host_processors_per_node": "1", "host_processor_model_name": "test cpu",
    "host_processor_core_count": "2", "accelerators_per_node": "0", "accelerator_model_name": "",
    "framework": "test", "hw_notes": "", "sw_notes": "",
}


class FakeClock:
    """A clock the test advances by hand; `kind` is what the summary and log call it."""

    def __init__(self, kind: str = "wall") -> None:
        self.kind = kind
        self.t = 0.0

    def now_s(self) -> float:
        return self.t


def write_log(path: Path, benchmark: str, seed: int, curve: list[tuple[float, float]], target: float,
              clock_kind: str = "wall", extra: dict[str, Any] | None = None, close: bool = True) -> float:
    """An MLPerf log of one run: evaluate at each (seconds since run_start, accuracy) of `curve`.

    Stops at the first accuracy >= target (status success) or after the last point (aborted).
    Returns run_stop - run_start in seconds, as the log's timestamps give it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    clock = FakeClock(clock_kind)
    log = RunLog(path, clock)
    log.event("cache_clear", True)
    log.start("init_start")
    for key, value in {"submission_org": "SpiNNBench", "submission_platform": path.parent.parent.name,
                       "submission_division": "closed", "submission_status": "onprem",
                       "submission_benchmark": benchmark, "seed": seed, "global_batch_size": 256,
                       "gradient_accumulation_steps": 1, "train_samples": 1281167,
                       "eval_samples": 50000, **(extra or {})}.items():
        log.event(key, value)
    clock.t += 5.0
    log.end("init_stop")
    log.start("run_start")
    start = clock.t
    status = "aborted"
    for epoch, (t, acc) in enumerate(curve, start=1):
        log.start("block_start", metadata={"first_epoch_num": epoch, "epoch_count": 1})
        log.start("epoch_start", metadata={"epoch_num": epoch})
        clock.t = start + t
        log.end("epoch_stop", metadata={"epoch_num": epoch})
        log.end("block_stop", metadata={"first_epoch_num": epoch})
        log.start("eval_start", metadata={"epoch_num": epoch})
        log.event("eval_accuracy", acc, metadata={"epoch_num": epoch})
        log.end("eval_stop", metadata={"epoch_num": epoch})
        if acc >= target:
            status = "success"
            break
    if close:
        log.end("run_stop", metadata={"status": status})
    log.close()
    return clock.t - start


def write_run(root: Path, system: str, benchmark: str, index: int, *, target: float,
              curve: list[tuple[float, float]], engine: str = "keras", clock: str = "wall",
              energy: dict[str, Any] | None = None, spinnaker: dict[str, Any] | None = None,
              compliance_passed: bool = True, samples_per_epoch: int = 60000,
              log_extra: dict[str, Any] | None = None, seed: int | None = None) -> dict[str, Any]:
    """A run as run-benchmark leaves it: result_<i>.txt and run_<i>.json under root/system/benchmark."""
    bdir = root / system / benchmark
    seed = index + 1 if seed is None else seed
    elapsed = write_log(bdir / f"result_{index}.txt", benchmark, seed, curve, target, clock, log_extra)
    reached = [p for p in curve if p[1] >= target]
    points = curve[: curve.index(reached[0]) + 1] if reached else curve
    converged = bool(reached)
    summary = {
        "run": index, "seed": seed, "benchmark": benchmark, "system": system,
        "status": "success" if converged else "aborted", "converged": converged,
        "target": {"metric": "accuracy", "value": target, "source": "test"},
        "clock": clock, "time_to_train_s": elapsed if converged else None, "run_time_s": elapsed,
        "host_wall_s": 1.0, "epochs": len(points),
        "eval_curve": [{"epoch": i + 1, "time_s": t, "samples": (i + 1) * samples_per_epoch, "accuracy": a}
                       for i, (t, a) in enumerate(points)],
        "energy": energy or {"joules": None, "source": "none: test", "kind": "none"},
        "engine": {"engine": engine, "device": "emulator" if engine == "spinnaker" else "cpu"},
        "log": f"result_{index}.txt",
        "compliance": {"passed": compliance_passed, "messages": [] if compliance_passed else ["failed"]},
        "train_samples_seen": len(points) * samples_per_epoch,
        "train_samples_per_s": len(points) * samples_per_epoch / elapsed if elapsed else None,
        "final_accuracy": points[-1][1],
        "error": None,
    }
    if spinnaker is not None:
        summary["spinnaker"] = spinnaker
    (bdir / f"run_{index}.json").write_text(json.dumps(summary, indent=1))
    systems = root / "systems"
    systems.mkdir(parents=True, exist_ok=True)
    (systems / f"{system}.json").write_text(json.dumps({**SYSTEM_DESC, "system_name": system}))
    return summary


def write_score(root: Path, system: str, benchmark: str, score_s: float | None,
                engine: str = "keras") -> None:
    (root / system / benchmark / "score.json").write_text(json.dumps(
        {"score_s": score_s, "benchmark": benchmark, "system": system, "engine": engine}))


def mixed_tree(root: Path) -> Path:
    """Keras (wall, no energy) and SpiNNaker (modeled clock and joules) on one MNIST benchmark."""
    for i, t in enumerate([10.0, 12.0, 11.0, 13.0, 9.0]):
        write_run(root, "host-cpu", "mnist_mlp1", i, target=0.953,
                  curve=[(t / 2, 0.94), (t, 0.955)])
    write_score(root, "host-cpu", "mnist_mlp1", 11.0)
    for i, t in enumerate([300.0, 320.0, 310.0]):
        write_run(root, "spinn5-emulated", "mnist_mlp1", i, target=0.953, engine="spinnaker",
                  clock="modeled", curve=[(t / 3, 0.90), (2 * t / 3, 0.95), (t, 0.96)],
                  energy={"joules": 40.0 * t, "source": "modeled: SpiNNaker power model", "kind": "modeled"},
                  spinnaker={"cores": 700 + i, "chips": 48, "packets_sent": 3.0e6 * (i + 1),
                             "packets_dropped": 0, "routing_entries_max": 120})
    write_score(root, "spinn5-emulated", "mnist_mlp1", 310.0, engine="spinnaker")
    return root
