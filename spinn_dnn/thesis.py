"""The thesis prototype's backward pass beside this engine's, on one layer of 300 into 50 neurons.

The MSc thesis (Fassbender 2020) put one neuron per core and multicast every
partial error backwards to every neuron of the layer below: for a layer of
300 into 50 that is 300 x 50 = 15,000 errors per sample, each delivered to
all 300 cores (4,500,000 deliveries), and its routers dropped packets.
`contrast` maps a 16-300-50 MLP (sigmoid output, MSE) one of three ways and
trains a few samples on the emulated machine, counting what was sent,
delivered and dropped.  Drops do not stop the run here: a dropped error stalls
its sample's backward pass, and soon every later sample, as it stalled the
thesis's program.

  thesis     one neuron per core, errors multicast to every core below, sent
             back to back (the prototype's send loop)
  npc+paced  the same routing, paced as this engine paces (tile_send_errors)
  npc+tile   one neuron per core, each error to the core that owns its atom
  project   policy auto (neurons packed per core), errors per tile
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np

DESIGNS = {"thesis": ("neuron_per_core", "thesis"), "npc+paced": ("neuron_per_core", "multicast"),
           "npc+tile": ("neuron_per_core", "per_tile"), "project": ("auto", "per_tile")}


def build_model() -> Any:
    """16 inputs, the thesis's layer pair: 300 hidden neurons into 50 outputs."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(50, activation="sigmoid")], name="thesis_300_50")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def contrast(design: str, samples: int = 16, run_dir: str | None = None) -> dict[str, Any]:
    """Train `samples` random samples under one design (DESIGNS); packets sent, delivered, dropped."""
    from spinn_dnn.emulator.errors import EmulatorError
    from spinn_dnn.emulator.session import MachineSession
    from spinn_dnn.model import from_keras

    policy, routing = DESIGNS[design]
    with tempfile.TemporaryDirectory(prefix=f"thesis_{design}_") as scratch:  # kept only if asked for
        sm = from_keras(build_model(), policy=policy, error_routing=routing, run_dir=run_dir or scratch)
    values = sm.training_spec().region_values(0.01, samples, samples)
    session = MachineSession(sm.plan, sm.toolchain, values, sm.weight_regions(), stop_on_drop=False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 16)).astype(np.float32)
    labels = rng.integers(0, 50, size=samples)
    t0 = time.perf_counter()
    stopped = None
    try:
        session.feed(x, labels)
    except EmulatorError as exc:  # the samples whose errors were dropped never finish
        stopped = str(exc).split(";")[0]
    result = session.em.result()
    errors = [r for r in sm.plan.routes if r.pid == "bwd"]
    return {
        "design": design, "policy": policy, "error_routing": routing, "cores": sm.plan.n_cores,
        "samples": samples, "error_packets_per_sample": sum(r.packets_per_sample for r in errors),
        "error_deliveries_per_sample": sum(r.packets_per_sample * len(r.dst) for r in errors),
        "packets_sent": result.total("sent"), "packets_delivered": result.deliveries,
        "packets_dropped": result.dropped, "dropped_at_routers": sum(result.router_drops.values()),
        "all_results_returned": stopped is None, **({"stopped": stopped} if stopped else {}),
        "modeled_seconds": round(result.cycles / result.clock_hz, 6),
        "host_seconds": round(time.perf_counter() - t0, 2),
    }
