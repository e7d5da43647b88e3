"""One timed run: train to the quality target, evaluating on the cadence.

This is the MLPerf time-to-train contract.  Between `run_start` and
`run_stop` the engine trains; after the epochs the cadence names, the whole
evaluation set is scored and the run stops as soon as the target is reached
(status success) or when the epoch budget is spent (status aborted).  For an
ensemble workload every member's training, and choosing its training set,
is inside the timed region; the ensemble (members' outputs summed) is what is
evaluated, during the last member's training.

Whatever happens, the log is closed with a `run_stop` and the run's summary
is written: an interrupted run stays on disk as `aborted`.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compliance import check_log
from harness.config import BenchmarkConfig
from harness.energy import EnergyMeter
from harness.engines.base import Engine
from harness.mllogging import RunLog
from harness.progress import RunProgress
from harness.results import ResultsTree, write_json_atomic
from harness.schedule import StepSchedule, is_per_step, learning_rate, step_schedule
from harness.system import STATUS_TO_LOG
from workloads import Dataset, LossSpec, StreamingDataset, Workload


@dataclass
class RunSpec:
    index: int
    seed: int
    total_runs: int


def eval_due(epoch: int, recipe: dict[str, Any], last_epoch: int) -> bool:
    """Whether to evaluate after 1-based `epoch` of the last member's training."""
    if epoch == last_epoch:
        return True
    offset, every = recipe["eval_offset"], recipe["eval_every"]
    return epoch > offset and (epoch - offset) % every == 0


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def steps_per_epoch(data: Dataset | StreamingDataset, batch_size: int) -> int:
    """Optimizer steps in one training epoch: full batches of a stream, ceil for arrays (Keras fit)."""
    if isinstance(data, StreamingDataset):
        return data.steps_per_epoch(batch_size)
    return -(-data.train_samples // batch_size)


def stream_accuracy(sessions: list[Any], data: StreamingDataset, batch_size: int) -> float:
    """Top-1 accuracy over every evaluation sample of a stream, batch by batch (never all in memory)."""
    correct = seen = 0
    for x, y in data.eval_batches(batch_size):
        n = len(y)
        if n < batch_size:  # pad the short last batch: a compiled predict never sees a new shape
            x = np.concatenate([x, np.zeros((batch_size - n, *x.shape[1:]), x.dtype)])
        scores = sum(s.predict(x) for s in sessions)[:n]
        correct += int(np.sum(np.argmax(scores, axis=1) == y))
        seen += n
    if seen != data.eval_samples:
        raise RuntimeError(f"evaluation stream gave {seen} samples, expected {data.eval_samples}")
    return correct / seen


class Run:
    """State of one run, kept so that a failure can still be written down."""

    def __init__(
        self,
        spec: RunSpec,
        config: BenchmarkConfig,
        workload: Workload,
        data: Dataset,
        engine: Engine,
        tree: ResultsTree,
        meter: EnergyMeter,
        rules: str | None = None,
    ) -> None:
        self.spec, self.config, self.workload, self.data = spec, config, workload, data
        self.engine, self.tree, self.meter = engine, tree, meter
        self.rules = rules or str(tree.rules_path)
        self.recipe = config.recipe
        self.streaming = isinstance(data, StreamingDataset)
        if self.streaming and workload.ensemble_size > 1:
            raise ValueError("ensembles train from in-memory data sets only")
        self.steps_per_epoch = steps_per_epoch(data, self.recipe["batch_size"])
        self.step_schedule: StepSchedule | None = step_schedule(self.recipe, self.steps_per_epoch)
        self.log = RunLog(tree.log_path(spec.index), engine.clock)
        self.run_start_s: float | None = None
        self.wall_start: float | None = None
        self._sessions: list[Any] = []  # every engine session of the run (ensembles have several)
        self.eval_curve: list[dict[str, Any]] = []
        self.epochs_done = 0
        self.samples_done = 0
        self.train_seconds = 0.0
        self.status = "running"
        self.summary: dict[str, Any] = self._summary_skeleton()

    def _summary_skeleton(self) -> dict[str, Any]:
        w = self.workload
        return {
            "run": self.spec.index,
            "seed": self.spec.seed,
            "benchmark": w.benchmark,
            "workload": w.name,
            "system": self.tree.system,
            "status": "running",
            "converged": False,
            "target": {"metric": w.target.metric, "value": w.target.value, "source": w.target.source},
            "clock": self.engine.clock.kind,
            "time_to_train_s": None,
            "host_wall_s": None,
            "epochs": 0,
            "eval_curve": [],
            "energy": None,
            "recipe": self.recipe,
            "workload_options": w.options,
            "engine": self.engine.provenance(),
            "log": self.tree.log_path(self.spec.index).name,
            "data": w.data_description(),
            "data_source": self.data.source,
            "compliance": None,
        }

    # -- logging helpers -------------------------------------------------
    def _log_header(self) -> None:
        log, w, r, system = self.log, self.workload, self.recipe, self.config.system
        log.event("cache_clear", True)
        log.start("init_start")
        log.event("submission_org", system.get("submitter", "SpiNNBench"))
        log.event("submission_platform", self.tree.system)
        log.event("submission_division", system.get("division", "closed"))
        status = system.get("status", "Research, Development, or Internal (RDI)")
        log.event("submission_status", STATUS_TO_LOG[status])
        log.event("submission_benchmark", w.benchmark)
        log.event("seed", self.spec.seed)
        log.event("global_batch_size", r["batch_size"])
        log.event("gradient_accumulation_steps", 1)
        log.event("train_samples", self.data.train_samples)
        log.event("eval_samples", self.data.eval_samples)
        log.event("opt_name", r["optimizer"]["name"])
        log.event("opt_base_learning_rate", r["optimizer"]["learning_rate"])
        if r["optimizer"]["name"] == "sgd":
            log.event("opt_momentum", r["optimizer"].get("momentum", 0.0))
        log.event("opt_learning_rate_warmup_epochs", r["warmup_epochs"])
        log.event("spinnbench_lr_schedule", r["schedule"])
        log.event("spinnbench_max_epochs", r["max_epochs"])
        log.event("spinnbench_eval_every_epochs", r["eval_every"])
        log.event("spinnbench_eval_offset_epochs", r["eval_offset"])
        log.event("spinnbench_clock", self.engine.clock.kind)
        log.event("spinnbench_ensemble_size", w.ensemble_size)
        log.event("spinnbench_data", w.data_description())
        if w.options:
            log.event("spinnbench_workload_options", w.options)
        if w.loss.label_smoothing:
            log.event("spinnbench_label_smoothing", w.loss.label_smoothing)
        if self.step_schedule is not None:
            log.event("spinnbench_steps_per_epoch", self.steps_per_epoch)
        for key, value in w.mlperf_hyperparameters(r, self.steps_per_epoch).items():
            log.event(key, value)

    def _session(self, model: Any) -> Any:
        """An engine session; only non-default extras are passed, so older engines keep working."""
        extras: dict[str, Any] = {}
        if self.workload.loss != LossSpec():
            extras["loss"] = self.workload.loss
        if self.step_schedule is not None:
            extras["step_schedule"] = self.step_schedule
        session = self.engine.session(model, self.recipe, **extras)
        self._sessions.append(session)
        return session

    def clock_elapsed(self) -> float:
        return self.engine.clock.now_s() - (self.run_start_s or 0.0)

    # -- the run ----------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        write_json_atomic(self.tree.summary_path(self.spec.index), self.summary)
        try:
            self._log_header()
            self.engine.seed(self.spec.seed)
            rng = np.random.default_rng(self.spec.seed)
            first_model = self.workload.build_model(member=0)
            first_session = self._session(first_model)
            self.log.end("init_stop")
            self.meter.start()
            self.wall_start = time.perf_counter()
            self.run_start_s = self.engine.clock.now_s()
            self.log.start("run_start")
            reached = self._train(first_session, rng)
            self.status = "success" if reached else "aborted"
            self.log.end("run_stop", metadata={"status": self.status})
            self._finish(error=None)
        except BaseException as exc:  # KeyboardInterrupt too: record, then re-raise
            interrupted = isinstance(exc, KeyboardInterrupt)
            self.status = "interrupted" if interrupted else "failed"
            if not self.log.closed:
                self.log.end("run_stop", metadata={"status": "aborted"})
            detail = "interrupted by the user (Ctrl-C)" if interrupted else (
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            )
            self._finish(error=detail)
            raise
        return self.summary

    def _train(self, session: Any, rng: np.random.Generator) -> bool:
        w, r = self.workload, self.recipe
        predictors = []
        sessions = []
        label = f"run {self.spec.index + 1}/{self.spec.total_runs}"
        for member in range(w.ensemble_size):
            last = member == w.ensemble_size - 1
            if member > 0:
                session = self._session(w.build_model(member=member))
            sessions.append(session)
            if self.streaming:
                x = y = None
            else:
                x, y = w.member_training_set(member, self.data, predictors, rng)
                self.log.event("spinnbench_member_start", member,
                               metadata={"train_samples": len(x)})
            epochs = r["max_epochs"] if last else r["member_epochs"][member]
            member_label = label + (f" net {member + 1}/{w.ensemble_size}" if not last or member
                                    else "")
            progress = RunProgress(member_label)
            try:
                for epoch in range(1, epochs + 1):
                    if self._epoch(session, x, y, epoch, epochs, rng, progress, last, sessions):
                        return True
            finally:
                progress.close()
            predictors.append(session.predict)
        return False

    def _epoch(self, session, x, y, epoch, epochs, rng, progress, last, sessions) -> bool:
        r = self.recipe
        self.epochs_done += 1
        global_epoch = self.epochs_done
        if last:
            # One evaluation block per cadence interval, as MLPerf's block_start/stop.
            block_first = epoch == 1 or eval_due(epoch - 1, r, epochs)
            if block_first:
                self.log.start("block_start", metadata={
                    "first_epoch_num": global_epoch, "epoch_count": r["eval_every"]})
        if not is_per_step(r):
            session.set_learning_rate(learning_rate(r, epoch - 1))
        if self.streaming:
            # The stream shuffles and augments as it reads; nothing is materialised here.
            batches = self.data.train_batches(global_epoch, self.spec.seed, r["batch_size"])
            epoch_samples = self.steps_per_epoch * r["batch_size"]
        else:
            x_epoch = self.workload.augment(x, rng) if self.workload.augments else x
            epoch_samples = len(x_epoch)
        self.log.start("epoch_start", metadata={"epoch_num": global_epoch})
        progress.start_epoch(epoch, epochs, epoch_samples)
        t0 = self.engine.clock.now_s()

        def on_samples(n: int) -> None:
            self.samples_done += n
            progress.samples(n)

        if self.streaming:
            session.train_stream(batches, self.steps_per_epoch, on_samples)
        else:
            session.train_epoch(x_epoch, y, on_samples)
        self.train_seconds += self.engine.clock.now_s() - t0
        progress.end_epoch()
        self.log.end("epoch_stop", metadata={"epoch_num": global_epoch})
        if not (last and eval_due(epoch, r, epochs)):
            return False
        self.log.end("block_stop", metadata={"first_epoch_num": global_epoch})
        self.log.start("eval_start", metadata={"epoch_num": global_epoch})
        if self.streaming:
            accuracy = stream_accuracy(sessions, self.data, r["batch_size"])
        else:
            scores = sum(s.predict(self.data.x_test) for s in sessions)
            accuracy = _accuracy(scores, self.data.y_test)
        self.log.event("eval_accuracy", accuracy, metadata={"epoch_num": global_epoch})
        self.log.end("eval_stop", metadata={"epoch_num": global_epoch})
        progress.evaluated(accuracy)
        self.eval_curve.append({
            "epoch": global_epoch,
            "time_s": self.clock_elapsed(),
            "samples": self.samples_done,
            "accuracy": accuracy,
        })
        self._write_partial()
        return accuracy >= self.workload.target.value

    def _write_partial(self) -> None:
        self.summary.update({"epochs": self.epochs_done, "eval_curve": self.eval_curve})
        write_json_atomic(self.tree.summary_path(self.spec.index), self.summary)

    def _engine_stats(self) -> None:
        """An engine that models its device (SpiNNaker) reports its counters and its modeled energy.

        Its energy replaces the host meter's: the host running an emulator is not
        the device whose energy the benchmark asks about.
        """
        stats = [s.run_stats() for s in self._sessions if hasattr(s, "run_stats")]
        if not stats:
            return
        self.summary["engine_stats"] = stats
        # the dashboard's `spinnaker_*` columns: the training machine's figures, summed over ensemble members
        keys = ("cores", "chips", "boards", "packets_sent", "packets_delivered", "packets_dropped",
                "modeled_seconds", "host_io_seconds", "wall_seconds", "eval_modeled_seconds")
        block = {k: (max if k in ("cores", "chips", "boards") else sum)(st.get(k, 0) for st in stats)
                 for k in keys}
        block["packets_per_sample"] = (block["packets_sent"] / sum(st.get("samples", 0) for st in stats)
                                       if sum(st.get("samples", 0) for st in stats) else None)
        self.summary["spinnaker"] = block
        if self.engine.clock.kind == "modeled":
            joules = sum(st["energy"].get("joules", 0.0) + st.get("eval_energy_joules", 0.0) for st in stats)
            source = stats[0]["energy"].get("source", "modeled")
            self.summary["energy"] = {"joules": joules, "source": source, "kind": "modeled"}

    def _finish(self, error: str | None) -> None:
        self.log.close()
        run_time = self.clock_elapsed() if self.run_start_s is not None else None
        wall = time.perf_counter() - self.wall_start if self.wall_start is not None else None
        energy = self.meter.stop().as_dict() if self.wall_start is not None else None
        self.summary.update({
            "status": self.status,
            "converged": self.status == "success",
            "time_to_train_s": run_time if self.status == "success" else None,
            "run_time_s": run_time,
            "host_wall_s": wall,
            "epochs": self.epochs_done,
            "train_samples_seen": self.samples_done,
            "train_samples_per_s": (self.samples_done / self.train_seconds
                                    if self.train_seconds > 0 else None),
            "eval_curve": self.eval_curve,
            "final_accuracy": self.eval_curve[-1]["accuracy"] if self.eval_curve else None,
            "energy": energy,
            "error": error,
        })
        self._engine_stats()
        verdict = check_log(self.tree.log_path(self.spec.index), self.rules)
        self.summary["compliance"] = verdict.as_dict()
        write_json_atomic(self.tree.summary_path(self.spec.index), self.summary)
