"""One timed run: train to the quality target, evaluating on the cadence.

This is the MLPerf time-to-train contract.  Between `run_start` and
`run_stop` the engine trains; after the epochs the cadence names, the whole
evaluation set is scored and the run stops as soon as the target is reached
(status success) or when the epoch budget is spent (status aborted).  For an
ensemble workload every member's training, and choosing its training set,
is inside the timed region; the ensemble (members' outputs summed) is what is
evaluated, during the last member's training.

Whatever happens, the log is closed with a `run_stop` and the run's summary
is written: an interrupted run stays on disk as `aborted`.  Where the engine
can hand over its state (harness.checkpoint), a checkpoint is written after
every epoch and an interrupted run can be resumed from it: the log is cut back
to the checkpoint and continued, and the modeled clock goes on from its reading.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.checkpoint import CheckpointData, RunCheckpoint, SessionState, prefix_digest
from harness.compliance import check_log
from harness.config import BenchmarkConfig
from harness.energy import EnergyMeter
from harness.engines.base import Engine
from harness.mllogging import LogPosition, RunLog
from harness.progress import RunProgress, progress_lines
from harness.provenance import code_record
from harness.results import ResultsTree, write_json_atomic
from harness.schedule import StepSchedule, is_per_step, learning_rate, step_schedule
from harness.scoring import UNDER_WAY
from harness.system import STATUS_TO_LOG
from workloads import Dataset, LossSpec, StreamingDataset, Workload


@dataclass
class RunSpec:
    index: int
    seed: int
    total_runs: int


def supports_checkpoints(engine: Engine) -> bool:
    """Whether runs on `engine` can be checkpointed: its sessions hand over state, its clock can be set."""
    return bool(getattr(engine, "checkpoints", False)) and hasattr(engine.clock, "restore")


def _harness_code() -> str:
    """A digest of the code that decides a run's data and procedure: the workloads, this loop, schedules."""
    import workloads

    root = Path(__file__).resolve().parent
    files = sorted(Path(workloads.__file__).resolve().parent.glob("*.py"))
    files += [root / "loop.py", root / "schedule.py"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


_HARNESS_CODE = _harness_code()  # at import, as this code is loaded: files edited later do not count


def engine_code(engine: Engine) -> str | None:
    """The engine's digest of its code (None for engines that keep none)."""
    code = getattr(engine, "code_fingerprint", None)
    return code() if code else None


def run_fingerprint(spec: RunSpec, config: BenchmarkConfig, workload: Workload, engine: Engine) -> dict:
    """What a checkpoint must share with the run resuming it: same run, same arithmetic, same code."""
    return {"benchmark": workload.benchmark, "workload_options": workload.options, "seed": spec.seed,
            "recipe": config.recipe, "engine": config.engine, "engine_options": config.engine_options,
            "code": engine_code(engine), "harness_code": _HARNESS_CODE}


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
        checkpoint: RunCheckpoint | None = None,
        resume: CheckpointData | None = None,
    ) -> None:
        """`checkpoint`: where this run keeps its checkpoint (None: none); `resume`: one to go on from."""
        self.spec, self.config, self.workload, self.data = spec, config, workload, data
        self.engine, self.tree, self.meter = engine, tree, meter
        self.rules = rules or str(tree.rules_path)
        self.recipe = config.recipe
        self.streaming = isinstance(data, StreamingDataset)
        if self.streaming and workload.ensemble_size > 1:
            raise ValueError("ensembles train from in-memory data sets only")
        self.steps_per_epoch = steps_per_epoch(data, self.recipe["batch_size"])
        self.step_schedule: StepSchedule | None = step_schedule(self.recipe, self.steps_per_epoch)
        self.checkpoint, self.resume = checkpoint, resume
        position = LogPosition(**resume.state["log"]) if resume else None
        self.log = RunLog(tree.log_path(spec.index), engine.clock, resume=position)
        self.run_start_s: float | None = None
        self.wall_start: float | None = None
        self.wall_before = 0.0  # host seconds spent by the processes before a resume
        self.resumes: list[dict[str, Any]] = []
        self.rng: np.random.Generator | None = None
        self.member_rng: dict[str, Any] | None = None  # the random state the member's set was chosen with
        self._sessions: list[Any] = []  # every engine session of the run (ensembles have several)
        self.eval_curve: list[dict[str, Any]] = []
        self.epochs_done = 0
        self.samples_done = 0
        self.train_seconds = 0.0
        self.status = UNDER_WAY
        self.summary: dict[str, Any] = self._summary_skeleton()

    def _summary_skeleton(self) -> dict[str, Any]:
        w = self.workload
        return {
            "run": self.spec.index,
            "seed": self.spec.seed,
            "benchmark": w.benchmark,
            "workload": w.name,
            "system": self.tree.system,
            "status": UNDER_WAY,
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
            "code": code_record(engine_code(self.engine), _HARNESS_CODE),
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
        log.event("spinnbench_code", self.summary["code"])
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
            if self.resume is None:
                self._log_header()
                self.engine.seed(self.spec.seed)
                self.rng = np.random.default_rng(self.spec.seed)
                self._session(self.workload.build_model(member=0))
                self.log.end("init_stop")
                self.meter.start()
                self.wall_start = time.perf_counter()
                self.run_start_s = self.engine.clock.now_s()
                self.log.start("run_start")
                reached = self._train()
            else:
                reached = self._train(*self._restore(self.resume))
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

    def _restore(self, saved: CheckpointData) -> tuple[int, int, tuple[np.ndarray, np.ndarray] | None]:
        """Rebuild the run from a checkpoint: sessions, random state, clock, counters; where to go on."""
        st = saved.state
        self.engine.seed(self.spec.seed)  # members built later draw their initial weights as before
        self.rng = np.random.default_rng(self.spec.seed)
        self.rng.bit_generator.state = st["rng"]
        for member, session_state in enumerate(saved.sessions):
            self._session(self.workload.build_model(member=member)).restore(
                session_state.meta, session_state.arrays)
        self.engine.clock.restore(st["clock_s"])
        self.run_start_s = st["run_start_s"]
        self.epochs_done, self.samples_done = st["epochs_done"], st["samples_done"]
        self.train_seconds, self.eval_curve = st["train_seconds"], st["eval_curve"]
        self.wall_before, self.resumes = st["host_wall_s"], st["resumes"]
        self.member_rng = st["member_rng"]
        # the digests match (the fingerprint says so); the commit may not: each segment names its own
        here = self.summary["code"]
        self.summary["code"] = st.get("code", here)  # the code the run started on
        self.resumes.append({"after_epoch": self.epochs_done, "host_wall_s_before": self.wall_before,
                             "git_commit": here["git_commit"], "git_dirty": here["git_dirty"]})
        self.summary["resumed"] = self.resumes
        self.meter.start()
        self.wall_start = time.perf_counter()
        self.log.event("spinnbench_resumed", len(self.resumes), metadata={"epoch_num": self.epochs_done})
        self._write_partial()
        return st["member"], st["epoch"], saved.member_set

    def _train(self, start_member: int = 0, start_epoch: int = 0,
               member_set: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
        """Train the members in turn; a resumed run starts after epoch `start_epoch` of `start_member`."""
        w, r, rng = self.workload, self.recipe, self.rng
        sessions = self._sessions[:start_member]
        predictors = [s.predict for s in sessions]
        label = f"run {self.spec.index + 1}/{self.spec.total_runs}"
        for member in range(start_member, w.ensemble_size):
            last = member == w.ensemble_size - 1
            if member < len(self._sessions):  # the first member's (made before run_start) or restored
                session = self._sessions[member]
            else:
                session = self._session(w.build_model(member=member))
            sessions.append(session)
            if self.streaming:
                x = y = None
            elif member == start_member and self.resume is not None:  # chosen before the checkpoint
                if member_set is None:  # member 0's: chosen again, from the random state it had then
                    chooser = np.random.default_rng()
                    chooser.bit_generator.state = self.resume.state["member_rng"]
                    member_set = w.member_training_set(member, self.data, predictors, chooser,
                                                       report=self._set_progress(label, member))
                x, y = member_set
            else:
                self.member_rng = rng.bit_generator.state
                x, y = w.member_training_set(member, self.data, predictors, rng,
                                             report=self._set_progress(label, member))
                self.log.event("spinnbench_member_start", member,
                               metadata={"train_samples": len(x)})
                if member > 0:  # choosing the set took predictions over the data: keep them
                    self._save_checkpoint(member, 0, (x, y))
            own_set = (x, y) if member > 0 and not self.streaming else None
            epochs = r["max_epochs"] if last else r["member_epochs"][member]
            member_label = label + (f" net {member + 1}/{w.ensemble_size}" if not last or member
                                    else "")
            first_epoch = start_epoch + 1 if member == start_member else 1
            progress = RunProgress(member_label)
            try:
                for epoch in range(first_epoch, epochs + 1):
                    if self._epoch(session, x, y, epoch, epochs, rng, progress, last, sessions):
                        return True
                    self._save_checkpoint(member, epoch, own_set)
            finally:
                progress.close()
            predictors.append(session.predict)
        return False

    def _set_progress(self, label: str, member: int) -> Callable[[str], None] | None:
        """Progress lines while a later member's set is chosen (minutes of predictions)."""
        return progress_lines(f"{label} net {member + 1} set:") if member > 0 else None

    def _save_checkpoint(self, member: int, epoch: int,
                         member_set: tuple[np.ndarray, np.ndarray] | None) -> None:
        """After epoch `epoch` of `member` (0: its training set just chosen), if this run keeps one."""
        if self.checkpoint is None:
            return
        sessions = [SessionState(*s.checkpoint()) for s in self._sessions]
        state = {
            "fingerprint": run_fingerprint(self.spec, self.config, self.workload, self.engine),
            "member": member, "epoch": epoch, "epochs_done": self.epochs_done,
            "samples_done": self.samples_done, "train_seconds": self.train_seconds,
            "eval_curve": self.eval_curve, "clock_s": self.engine.clock.now_s(),
            "run_start_s": self.run_start_s, "host_wall_s": self._host_wall(),
            "rng": self.rng.bit_generator.state, "member_rng": self.member_rng, "resumes": self.resumes,
            "code": self.summary["code"],
        }
        position = self.log.position()
        state["log"] = position.__dict__
        state["log_sha256"] = prefix_digest(self.log.path, position.length)
        self.checkpoint.write(CheckpointData(state, sessions, member_set))

    def _host_wall(self) -> float | None:
        if self.wall_start is None:
            return None
        return self.wall_before + time.perf_counter() - self.wall_start

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
        wall = self._host_wall()
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
        finished = self.status in ("success", "aborted")
        if self.checkpoint is not None and not finished and self.checkpoint.exists():
            self.summary["checkpoint"] = str(self.checkpoint.path)
        write_json_atomic(self.tree.summary_path(self.spec.index), self.summary)
        if self.checkpoint is not None and finished:  # after the summary: a kill between keeps both
            self.checkpoint.remove()
        for session in self._sessions:  # their figures are in the summary; free graphs and folders
            session.close()
