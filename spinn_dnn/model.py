"""`from_keras`: a Keras model placed and routed on a SpiNNaker machine, ready to load."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from spinn_dnn import keywalk, regions, report, route_pruning
from spinn_dnn.errors import DoesNotFitError, MappingError, UnsupportedModelError
from spinn_dnn.fusion import fuse_pooling as fold_pooling
from spinn_dnn.fusion import fused_caps
from spinn_dnn.importer import import_model
from spinn_dnn.keys import allocate_keys
from spinn_dnn.layers import Layer
from spinn_dnn.machine import CORES_PER_BOARD, Machine, VirtualMachine, boards_for
from spinn_dnn.plan import Plan
from spinn_dnn.taper import taper
from spinn_dnn.tiling import finalise_memory, tile_layers
from spinn_dnn.toolchain_process import ToolchainResult, run_toolchain

DEFAULT_OPTIMIZER = {"learning_rate": 0.05, "momentum": 0.9, "nesterov": 0, "batch_size": 128}


class SpiNNakerModel:
    """A mapped model: the plan, what the toolchain made of it, and the report."""

    def __init__(self, plan: Plan, result: ToolchainResult, mapping: report.Mapping,
                 keras_model: Any = None, boards: int = 1) -> None:
        self.plan = plan
        self.toolchain = result
        self.mapping = mapping
        self.keras_model = keras_model
        self.boards = boards
        self.last_run: Any = None  # RunStats of the last fit (spinn_dnn.trainer)
        self.last_predict: Any = None  # RunStats of the last predict
        self._weights: dict[tuple[str, int], bytes] | None = None  # trained WEIGHTS regions
        self._trainer: Any = None
        # (cycles, seed): train under the emulator's timing fuzz (EmulatedMachine.from_mapping),
        # for tests that a program's result does not hang on the order its events come in
        self.timing_jitter: tuple[int, int] | None = None
        # False: the emulator makes a WAKE event for every queued packet instead of taking it
        # ahead (core.c); for the test that both give the same run
        self.take_ahead_packets = True

    def region(self, vertex: str, tile: int, name: str) -> bytes:
        """A tile's region: WEIGHTS as trained so far, the rest as the toolchain's data spec holds it."""
        if name == "WEIGHTS" and self._weights is not None:
            return self._weights[(vertex, tile)]
        return self.toolchain.regions[(vertex, tile)].get(regions.REGIONS.index(name), b"")

    # -- training (spinn_dnn.trainer) ---------------------------------------------------------
    def weight_regions(self) -> dict[tuple[str, int], bytes] | None:
        """The trained WEIGHTS regions, or None while the mapped (initial) ones stand."""
        return self._weights

    def set_weight_regions(self, blobs: dict[tuple[str, int], bytes]) -> None:
        self._weights = dict(blobs)

    def training_spec(self) -> Any:
        from spinn_dnn.training import spec_from_model

        if self.keras_model is None:
            raise MappingError("this mapping has no Keras model to take the optimizer and loss from; "
                               "map it with spinn_dnn.from_keras(model)")
        spec = spec_from_model(self.keras_model)
        last = self.plan.vertices[-1]
        if (spec.loss == "mean_squared_error" and self.plan.layers[-1].activation == "softmax"
                and len(last.tiles) > 1):
            raise UnsupportedModelError(
                f"loss mean_squared_error through a softmax split over {len(last.tiles)} tiles (layer "
                f"'{self.plan.layers[-1].name}'): the tiles share only the softmax's sums, not the "
                "gradient's; use sparse categorical cross-entropy, or an output small enough for one tile")
        return spec

    def trainer(self, spec: Any) -> Any:
        from spinn_dnn.trainer import Trainer

        if self._trainer is None or self._trainer.spec != spec:
            old = self._trainer
            self._trainer = Trainer(self, spec)
            if old is not None:
                self._trainer.steps = old.steps
        return self._trainer

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 32, epochs: int = 1, shuffle: bool = True,
            validation_data: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 1,
            seed: int | None = None) -> Any:
        """Train on the emulated machine with the compiled model's optimizer and loss; a History."""
        from spinn_dnn.trainer import fit

        return fit(self, x, y, batch_size, epochs, shuffle, validation_data, verbose, seed)

    def predict_with_losses(self, x: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        """(outputs, per-sample losses or None) of the current weights, on an inference machine."""
        import time

        from spinn_dnn.emulator.session import MachineSession
        from spinn_dnn.trainer import session_stats

        t0 = time.perf_counter()
        # with labels, the loss the model was compiled with (an inference machine's default is
        # cross-entropy); batch size 0: nothing trains
        values = None if labels is None else self.training_spec().region_values(0.0, 0, 0)
        session = MachineSession(self.plan, self.toolchain, values, self._weights)
        got = session.feed(x, np.zeros(len(x), np.uint32) if labels is None else labels)
        self.last_predict = session_stats(session, self.boards, time.perf_counter() - t0, len(x))
        return got.outputs, (got.losses if labels is not None else None)  # summed over the loss tiles

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's outputs for x with the current weights (float32), computed on the emulated machine."""
        return self.predict_with_losses(x)[0]

    def write_back(self, model: Any = None) -> None:
        """Put the current weights into a Keras model (default: the one this was mapped from)."""
        model = model if model is not None else self.keras_model
        if model is None:
            raise MappingError("write_back needs a Keras model to write into")
        weights = self.get_weights()
        trainable = [layer for layer in self.plan.layers if layer.trainable]
        at = 0
        for layer in trainable:
            keras_layer = model.get_layer(layer.name)
            n = len(keras_layer.get_weights())
            keras_layer.set_weights(weights[at:at + n])
            at += n

    def get_weights(self) -> list[np.ndarray]:
        """The weights in Keras order, read back from the tiles' loaded memory images."""
        out: list[np.ndarray] = []
        for layer in self.plan.layers:
            if layer.trainable:
                out += self._layer_weights(layer)
        return out

    def _layer_weights(self, layer: Layer) -> list[np.ndarray]:
        kernel_shape = layer.weights[0].shape
        channels = kernel_shape[-1]
        fan_in = int(np.prod(kernel_shape[:-1]))
        kmat = np.full((channels, fan_in), np.nan, dtype=np.float32)
        bias = np.full(channels, np.nan, dtype=np.float32)
        for v in self.plan.vertices:
            if v.layer != layer.index:
                continue
            for t in v.tiles:
                ids, rows = regions.decode_weights(self.region(v.label, t.index, "WEIGHTS"))
                p = regions.decode_params(self.region(v.label, t.index, "PARAMS"))
                if t.role == "block":
                    _put(kmat, (ids, slice(p["in_lo"], p["in_hi"])), rows, layer, t.label)
                elif t.role == "acc":
                    _put(bias, (ids,), rows[:, 0], layer, t.label)
                else:
                    _put(kmat, (ids,), rows[:, :fan_in], layer, t.label)
                    _put(bias, (ids,), rows[:, fan_in], layer, t.label)
        if np.isnan(kmat).any():
            raise MappingError(f"layer '{layer.name}': some weights are on no core")
        weights = [np.ascontiguousarray(kmat.T).reshape(kernel_shape)]
        if layer.use_bias:
            weights.append(bias)
        return weights


def _put(target: np.ndarray, where: tuple, values: np.ndarray, layer: Layer, tile: str) -> None:
    """Place values read from a tile; copies held by several tiles must agree exactly."""
    if len(where) == 2:
        where = np.ix_(where[0], np.arange(target.shape[1])[where[1]])
    current = target[where]
    known = ~np.isnan(current)
    if known.any() and not np.array_equal(current[known], values[known]):
        raise MappingError(f"layer '{layer.name}': tile {tile} holds weights that differ from another copy")
    target[where] = values


def plan_model(model: Any, policy: str = "auto", in_flight: int | None = None,
               optimizer: dict[str, float] | None = None, max_atoms_per_core: int | None = None,
               error_routing: str = "per_tile", fuse_pooling: bool = False,
               taper_in_flight: bool = True) -> Plan:
    """The mapping plan of a Keras model (no toolchain yet): tiles, routes, keys, memory.

    `fuse_pooling` folds each pooling layer onto the convolution before it
    (spinn_dnn.fusion): fewer packets and cores, the same forward values.
    `taper_in_flight` gives layers near the output fewer samples in flight and
    lets their tiles grow where the pipeline's pace allows (spinn_dnn.taper).
    """
    layers = import_model(model)
    if in_flight is None:  # as without fusion, so that a fused tile's convolution gets the same DTCM
        from spinn_dnn.training import default_in_flight

        in_flight = default_in_flight(len(layers))
    caps = None
    if fuse_pooling:
        plain, layers = layers, fold_pooling(layers)
        if policy == "auto":
            plain_vertices, _ = tile_layers(plain, policy, in_flight, max_atoms_per_core, error_routing)
            caps = fused_caps(layers, plain_vertices, plain)

    def build(slots: int | list[int], more_caps: dict[int, int]) -> Plan:
        all_caps = {**(caps or {}), **more_caps}
        vertices, routes = tile_layers(layers, policy, slots, max_atoms_per_core, error_routing, all_caps)
        plan = Plan(model.name, policy, in_flight, layers, vertices, routes,
                    dict(optimizer or DEFAULT_OPTIMIZER), error_routing,
                    None if isinstance(slots, int) else list(slots))
        finalise_memory(plan)
        allocate_keys(plan)
        return plan

    if not (taper_in_flight and policy == "auto"):
        return build(in_flight, {})
    try:
        untapered = build(in_flight, {})
    except DoesNotFitError:
        try:
            return taper(None, build, layers, in_flight)  # fewer slots above may make it fit
        except DoesNotFitError:
            pass
        raise
    return taper(untapered, build, layers, in_flight)


def from_keras(model: Any, machine: Machine | None = None, policy: str = "auto", in_flight: int | None = None,
               optimizer: dict[str, float] | None = None, run_dir: str | Path | None = None,
               verify: bool = True, max_atoms_per_core: int | None = None,
               timeout_s: float = 600, error_routing: str = "per_tile",
               fuse_pooling: bool = False, taper_in_flight: bool = True) -> SpiNNakerModel:
    """Import, tile, place, key and route a Keras model on `machine` (default: virtual SpiNN-5 boards).

    The toolchain runs in its own process rooted at `run_dir` (a fresh temporary
    folder by default), where its config and reports stay.  With `verify`, every
    key is walked through the toolchain's routing tables (keywalk.walk) and every
    core's data-specification regions are compared with the images asked for.
    `error_routing` (tiling.ERROR_ROUTINGS) "thesis" is the thesis prototype's
    backward pass (every error to every tile of the layer below, sent back to
    back), kept to reproduce its drops; "multicast" the same routing, paced.
    `fuse_pooling` computes each pooling layer on the tiles of the convolution
    before it (spinn_dnn.fusion).  `taper_in_flight` gives layers near the output
    fewer samples in flight (spinn_dnn.taper).
    """
    t0 = time.perf_counter()
    machine = machine or VirtualMachine()
    plan = plan_model(model, policy, in_flight, optimizer, max_atoms_per_core, error_routing, fuse_pooling,
                      taper_in_flight)
    needed = boards_for(plan.n_cores)
    boards = getattr(machine, "boards", None)
    if boards is not None and needed > boards:
        raise DoesNotFitError(
            f"model '{plan.model_name}' under policy '{policy}' needs {plan.n_cores} cores, that is "
            f"{needed} boards of {CORES_PER_BOARD} application cores; the machine has {boards}")
    run_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="spinn_dnn_map_"))
    result = run_toolchain(plan, machine, run_dir, needed, timeout_s)
    result, pruned = route_pruning.prune(plan, result)  # links whose copies reach no core
    summary = keywalk.WalkSummary(0, 0, 0, 0)
    if verify:
        check_images(plan, result)
        summary = keywalk.walk(plan, result)  # on the pruned tables: every key still lands as planned
    mapping = report.build(plan, result, summary, repr(machine), time.perf_counter() - t0, str(run_dir),
                           pruned)
    return SpiNNakerModel(plan, result, mapping, model, needed)


def check_images(plan: Plan, result: ToolchainResult) -> None:
    """Every region the toolchain's data specification holds equals the image the plan asked for."""
    for v in plan.vertices:
        for t in v.tiles:
            want = regions.tile_image(plan, v, t)
            got = result.regions[(v.label, t.index)]
            for region, content in want.items():
                if isinstance(content, int):
                    if result.region_sizes[(v.label, t.index)].get(region, 0) < content:
                        raise MappingError(f"{t.label}: region {regions.REGIONS[region]} reserved too small")
                elif content.size and got.get(region) != content.tobytes():
                    raise MappingError(f"{t.label}: region {regions.REGIONS[region]} differs from the plan")


def fit(model: Any, x: np.ndarray, y: np.ndarray, machine: Machine | None = None, policy: str = "auto",
        **fit_kwargs: Any) -> Any:
    """The one-call form: map a compiled Keras model, train it on the emulated machine, write the
    trained weights back into it.  Returns the History; `fit_kwargs` are SpiNNakerModel.fit's."""
    sm = from_keras(model, machine=machine, policy=policy)
    history = sm.fit(x, y, **fit_kwargs)
    sm.write_back(model)
    history.model = sm
    return history
