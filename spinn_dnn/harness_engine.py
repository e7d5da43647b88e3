"""The `spinnaker` engine as the harness sees it: training on emulated SpiNNaker.

`execution: emulator` (the default) maps the workload's Keras model with the
SpiNNaker toolchain onto virtual SpiNN-5 boards and trains it with the C core
programs on the host emulator (spinn_dnn.trainer).  Its clock is the
emulator's modeled clock (cost_model.h), so MLPerf logs and times to train
are `modeled`; the run summary also keeps the host's wall time and the
engine's counters (packets, cores, modeled energy).

`execution: hardware` maps onto a real machine through the toolchain; with no
machine answering it fails saying so, and loading the ARM builds onto a board
is not done by this version (it says that too): nothing pretends to have run.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from harness.errors import ConfigError, EngineUnavailableError

POLICIES = ("auto", "neuron_per_core")  # spinn_dnn.tiling.POLICIES (not imported: keep this light)
EXECUTIONS = ("emulator", "hardware")
MACHINE_FORMS = "{boards: N} | {host: ADDRESS} | {spalloc: URL, boards: N}"
OPTION_KEYS = ("execution", "policy", "machine", "in_flight", "max_atoms_per_core", "fuse_pooling",
               "error_routing", "taper_in_flight")
# how errors go back (spinn_dnn.tiling.ERROR_ROUTINGS): the thesis's designs are for the contrast
# benchmark, not for runs
ERROR_ROUTINGS = ("per_tile", "deltas")
DEFAULTS: dict[str, Any] = {"execution": "emulator", "policy": "auto", "machine": {"boards": 1},
                            "in_flight": None, "max_atoms_per_core": None, "fuse_pooling": False,
                            "error_routing": "per_tile", "taper_in_flight": True}


def _positive_int(value: Any, where: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: expected a positive integer, got {value!r}")


def _machine(machine: Any, execution: str) -> dict[str, Any]:
    where = "engine.options.machine"
    if not isinstance(machine, dict):
        raise ConfigError(f"{where}: expected a mapping, one of {MACHINE_FORMS}; got {machine!r}")
    allowed = {"boards", "host", "bmp", "spalloc", "user"}
    unknown = sorted(set(machine) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed here: {', '.join(sorted(allowed))}")
    if "host" in machine and "spalloc" in machine:
        raise ConfigError(f"{where}: give host or spalloc, not both; allowed: {MACHINE_FORMS}")
    for key in ("host", "spalloc", "bmp", "user"):
        if key in machine and (not isinstance(machine[key], str) or not machine[key]):
            raise ConfigError(f"{where}.{key}: expected a non-empty string, got {machine[key]!r}")
    if "host" in machine and "boards" in machine:
        raise ConfigError(f"{where}.boards: a board at a host address has its own size; allowed: "
                          f"{MACHINE_FORMS}")
    if "boards" in machine:
        _positive_int(machine["boards"], f"{where}.boards", allow_none=True)
    real = "host" in machine or "spalloc" in machine
    if execution == "hardware" and not real:
        raise ConfigError(f"{where}: execution 'hardware' needs a real machine ({{host: ADDRESS}} or "
                          f"{{spalloc: URL, boards: N}}); got {machine!r}")
    if execution == "emulator" and real:
        raise ConfigError(f"{where}: execution 'emulator' maps on virtual boards ({{boards: N}}); "
                          f"got {machine!r}")
    return dict(machine)


class SpinnakerEngine:
    name = "spinnaker"
    checkpoints = True  # sessions hand over their state between epochs; the clock is modeled

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Options with defaults filled in; a bad one is a ConfigError naming it and what is allowed."""
        if not isinstance(options, dict):
            raise ConfigError(f"engine.options: expected a mapping, got {options!r}")
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key engine.options.{unknown[0]}; allowed here: {', '.join(OPTION_KEYS)}")
        merged = {**DEFAULTS, **options}
        if merged["execution"] not in EXECUTIONS:
            raise ConfigError(f"engine.options.execution: {merged['execution']!r} is not allowed; "
                              f"allowed: {', '.join(EXECUTIONS)}")
        if merged["policy"] not in POLICIES:
            raise ConfigError(f"engine.options.policy: {merged['policy']!r} is not allowed; "
                              f"allowed: {', '.join(POLICIES)}")
        _positive_int(merged["in_flight"], "engine.options.in_flight", allow_none=True)
        _positive_int(merged["max_atoms_per_core"], "engine.options.max_atoms_per_core", allow_none=True)
        for flag in ("fuse_pooling", "taper_in_flight"):
            if not isinstance(merged[flag], bool):
                raise ConfigError(f"engine.options.{flag}: expected true or false, got {merged[flag]!r}")
        if merged["error_routing"] not in ERROR_ROUTINGS:
            raise ConfigError(f"engine.options.error_routing: {merged['error_routing']!r} is not allowed; "
                              f"allowed: {', '.join(ERROR_ROUTINGS)}")
        if "machine" not in options and merged["execution"] == "hardware":
            raise ConfigError(f"engine.options.machine: execution 'hardware' needs one of {MACHINE_FORMS}")
        merged["machine"] = _machine(merged["machine"], merged["execution"])
        return merged

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = self.validate_options(options)
        self.clock = ModeledClock()
        self._seed = 0
        import spinn_dnn  # noqa: F401  (the toolchain and the emulator load with it, not at config time)

        self._code = _code_digest()  # now, as the code is loaded: files edited later do not count

    def provenance(self) -> dict[str, Any]:
        import platform
        from importlib.metadata import version

        import numpy as np

        return {"engine": self.name, "execution": self.options["execution"], "policy": self.options["policy"],
                "machine": self.options["machine"], "in_flight": self.options["in_flight"],
                "fuse_pooling": self.options["fuse_pooling"], "error_routing": self.options["error_routing"],
                "taper_in_flight": self.options["taper_in_flight"],
                "device": "SpiNNaker-1 (SpiNN-5 boards), emulated on the host" if
                self.options["execution"] == "emulator" else "SpiNNaker-1 hardware",
                "clock": "modeled: c_src/emulator/cost_model.h (ARM968 at 200 MHz; constants ASSUMED)",
                "spinnakergraphfrontend": version("spinnakergraphfrontend"), "numpy": np.__version__,
                "python": platform.python_version(), "host": platform.node()}

    def code_fingerprint(self) -> str:
        """A digest of the code that sets a run's arithmetic and modeled time, for checkpoints.

        Taken when the engine is made, as the code is loaded (see _code_digest): a
        run resumes only on the code it started with.
        """
        return self._code

    def seed(self, seed: int) -> None:
        import keras

        keras.utils.set_random_seed(seed)
        self._seed = seed

    def energy_device(self) -> str:
        return "spinnaker"

    def check_recipe(self, recipe: dict[str, Any], workload: Any) -> None:
        """Refuse, before any run starts, a recipe or workload the core programs cannot train."""
        _check_recipe(recipe, getattr(workload, "loss", None))

    def session(self, model: Any, recipe: dict[str, Any], loss: Any = None,
                step_schedule: Any = None) -> SpinnakerSession:
        if step_schedule is not None:
            raise EngineUnavailableError("engine 'spinnaker': per-step learning-rate schedules are not "
                                         "supported (the host sets the rate between epochs); use a per-epoch "
                                         "schedule (constant, step, cosine)")
        return SpinnakerSession(self, model, recipe, loss)


def _code_digest() -> str:
    """sha256 over spinn_dnn's Python and the core programs and emulator (c_src, or the built
    extension where the sources are not beside the package)."""
    import hashlib
    from pathlib import Path

    import spinn_dnn

    package = Path(spinn_dnn.__file__).parent
    sources = package.parent / "c_src"
    files = sorted(package.rglob("*.py"))
    files += sorted(p for p in sources.rglob("*") if p.suffix in (".c", ".h")) if sources.is_dir() \
        else sorted(package.glob("_emulator*"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(package.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class ModeledClock:
    """The emulated machine's clock: seconds of modeled device time (cost model), advanced by the sessions."""

    kind = "modeled"

    def __init__(self) -> None:
        self._seconds = 0.0

    def now_s(self) -> float:
        return self._seconds

    def advance(self, seconds: float) -> None:
        self._seconds += seconds

    def restore(self, seconds: float) -> None:
        """Set the clock to a checkpoint's reading: a resumed run continues the modeled timeline."""
        self._seconds = float(seconds)


def _check_recipe(recipe: dict[str, Any], loss: Any) -> None:
    """What the core programs cannot train, refused before anything runs (exit 2 from run-benchmark)."""
    from harness.schedule import is_per_step

    opt = recipe["optimizer"]
    if opt["name"] != "sgd" or opt.get("weight_decay"):
        raise EngineUnavailableError(f"engine 'spinnaker': recipe.optimizer {opt['name']!r}"
                                     f"{' with weight_decay' if opt.get('weight_decay') else ''} is not "
                                     "supported; allowed: sgd (momentum, nesterov) without weight decay")
    if "schedule" in recipe and is_per_step(recipe):
        raise EngineUnavailableError(f"engine 'spinnaker': recipe.schedule {recipe['schedule']['kind']!r} "
                                     "is per step; the host sets the rate between epochs, so allowed: "
                                     "per-epoch schedules (constant, step, cosine)")
    if loss is not None and (loss.name != "sparse_categorical_crossentropy" or loss.label_smoothing):
        raise EngineUnavailableError(f"engine 'spinnaker': the workload's loss {loss.name!r} (label "
                                     f"smoothing {loss.label_smoothing}) is not supported; allowed: "
                                     "sparse_categorical_crossentropy without smoothing")


def _compile(model: Any, recipe: dict[str, Any], loss: Any) -> None:
    import keras

    _check_recipe(recipe, loss)
    opt = recipe["optimizer"]
    model.compile(optimizer=keras.optimizers.SGD(opt["learning_rate"], momentum=opt.get("momentum", 0.0),
                                                 nesterov=opt.get("nesterov", False)),
                  loss="sparse_categorical_crossentropy")


class SpinnakerSession:
    """One model mapped onto the (emulated) machine and trained there."""

    def __init__(self, engine: SpinnakerEngine, model: Any, recipe: dict[str, Any], loss: Any) -> None:
        import numpy as np

        import spinn_dnn
        from spinn_dnn.machine import from_options

        self.engine = engine
        self.batch_size = int(recipe["batch_size"])
        _compile(model, recipe, loss)
        opts = engine.options
        self.run_dir = tempfile.mkdtemp(prefix="spinnbench_map_")
        self.sm = spinn_dnn.from_keras(model, machine=from_options(opts["machine"]), policy=opts["policy"],
                                       in_flight=opts["in_flight"], run_dir=self.run_dir,
                                       max_atoms_per_core=opts["max_atoms_per_core"],
                                       fuse_pooling=opts["fuse_pooling"], error_routing=opts["error_routing"],
                                       taper_in_flight=opts["taper_in_flight"])
        from spinn_dnn.emulator.session import PROGRAM_OF_ROLE

        missing = sorted({t.role for v in self.sm.plan.vertices for t in v.tiles} - set(PROGRAM_OF_ROLE))
        if missing:
            shutil.rmtree(self.run_dir, ignore_errors=True)  # no session to close it
            raise EngineUnavailableError(f"engine 'spinnaker': tiles of role {', '.join(missing)} have no "
                                         f"core program yet (built: {', '.join(PROGRAM_OF_ROLE)}); this "
                                         "model cannot train on SpiNNaker in this version")
        if opts["execution"] == "hardware":
            raise EngineUnavailableError(
                "engine 'spinnaker', execution 'hardware': the machine answered and the model was mapped "
                f"(reports in {self.run_dir}), but loading the ARM builds of c_src/programs onto a board "
                "(needs SPINN_DIRS) is not driven by this version; use execution 'emulator'")
        self.spec = self.sm.training_spec()
        self.trainer = self.sm.trainer(self.spec)
        self.rng = np.random.default_rng(engine._seed)
        self.n_classes = self.sm.plan.layers[-1].n_atoms
        self.predict_stats: list[Any] = []

    def set_learning_rate(self, lr: float) -> None:
        import dataclasses

        self.spec = dataclasses.replace(self.spec, learning_rate=float(lr))
        self.trainer.spec = self.spec

    def train_epoch(self, x: Any, y: Any, on_samples: Any) -> None:
        from spinn_dnn.training import class_labels

        before = self.trainer.modeled_seconds
        labels = class_labels(y, self.n_classes, self.spec.loss)
        flat = x.reshape(len(x), -1).astype("float32", copy=False)
        self.trainer.epoch(flat, labels, self.batch_size, self.rng, on_samples)
        self.engine.clock.advance(self.trainer.modeled_seconds - before)

    def train_stream(self, batches: Any, steps: int, on_samples: Any) -> None:
        raise EngineUnavailableError("engine 'spinnaker': streaming data sets (ImageNet) are not supported; "
                                     "allowed: in-memory workloads (MNIST)")

    def predict(self, x: Any) -> Any:
        out, _ = self.sm.predict_with_losses(x.reshape(len(x), -1))
        self.engine.clock.advance(self.sm.last_predict.modeled_seconds)
        self.predict_stats.append(self.sm.last_predict)
        return out

    def run_stats(self) -> dict[str, Any]:
        """Training counters (packets, cores, modeled energy), the evaluations' modeled time and the
        mapping report."""
        stats = self.trainer.stats().as_dict()
        stats["eval_modeled_seconds"] = sum(p.modeled_seconds for p in self.predict_stats)
        stats["eval_wall_seconds"] = sum(p.wall_seconds for p in self.predict_stats)
        stats["eval_samples"] = sum(p.samples for p in self.predict_stats)
        stats["eval_energy_joules"] = sum(p.energy.get("joules", 0.0) for p in self.predict_stats)
        # the mapping report (tiles, routing entries, memory, deliveries per sample) stays with the
        # results: its toolchain folder goes when the session closes
        stats["mapping"] = {k: v for k, v in self.sm.mapping.to_json().items() if k != "run_dir"}
        return stats

    def checkpoint(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON-able state, named byte arrays): the session between epochs, for a resumed run."""
        import dataclasses

        import numpy as np

        state = self.trainer.checkpoint()
        meta = {"steps": state.steps, "samples": state.samples, "wall_seconds": state.wall_seconds,
                "counters": dataclasses.asdict(state.counters), "rng": self.rng.bit_generator.state,
                "predict_stats": [p.as_dict() for p in self.predict_stats]}
        # tiles named by position (vertex, tile): Keras names layers by a per-process counter
        ordinal = {v.label: k for k, v in enumerate(self.sm.plan.vertices)}
        arrays = {f"{kind}:{ordinal[label]}:{index}": np.frombuffer(blob, dtype=np.uint8)
                  for kind, blobs in (("weights", state.weights), ("momentum", state.momentum))
                  for (label, index), blob in blobs.items()}
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Continue from `checkpoint`'s output; the next epoch runs on a fresh machine with that state."""
        from spinn_dnn.trainer import MachineCounters, RunStats, TrainerCheckpoint

        vertices = self.sm.plan.vertices
        changed = "the model or the mapping changed since it was written"
        blobs: dict[str, dict[tuple[str, int], bytes]] = {"weights": {}, "momentum": {}}
        for name, array in arrays.items():
            kind, vertex, tile = (int(p) if p.isdigit() else p for p in name.split(":"))
            if not (vertex < len(vertices) and tile < len(vertices[vertex].tiles)):
                raise EngineUnavailableError(f"engine 'spinnaker': the checkpoint holds tile {tile} of "
                                             f"vertex {vertex}, which this mapping lacks ({changed})")
            blobs[kind][(vertices[vertex].label, tile)] = bytes(array.tobytes())
        mapped = {(v.label, t.index): len(self.sm.region(v.label, t.index, "WEIGHTS"))
                  for v in vertices for t in v.tiles}
        if {ref: len(b) for ref, b in blobs["weights"].items()} != mapped:
            raise EngineUnavailableError("engine 'spinnaker': the checkpoint's weights do not fit this "
                                         f"mapping's tiles ({changed})")
        self.trainer.restore(TrainerCheckpoint(
            weights=blobs["weights"], momentum=blobs["momentum"], steps=int(meta["steps"]),
            samples=int(meta["samples"]), wall_seconds=float(meta["wall_seconds"]),
            counters=MachineCounters(**meta["counters"])))
        self.rng.bit_generator.state = meta["rng"]
        self.predict_stats = [RunStats(**p) for p in meta["predict_stats"]]

    def close(self) -> None:
        """Free Keras's graph and the toolchain's folder: a long run maps several models (boosting,
        resumes), and each folder left behind in the temporary directory stays there for good."""
        import keras

        keras.backend.clear_session()
        shutil.rmtree(self.run_dir, ignore_errors=True)
