"""Host speed of the C emulator: packet deliveries and samples per host second, training and predicting.

Maps a workload (MNIST MLP-1 by default) with the real toolchain, then on the
emulated machine (1) trains on N real training samples (forward, backward,
SGD updates: spinn_dnn.trainer) and (2) predicts N test samples, and reports
deliveries (packets taken by a core's callback), events and samples per second
of host wall time (one host core: the emulator is single-threaded), beside the
modeled device time.  Goals (issue 4): 20M deliveries per second per host
core; one MLP-1 training epoch (60,000 samples) in at most 60 s.

For where the time goes, run it under `perf record -g` and read `perf report
--no-children` (the README quotes one such profile).

`--fuse-pooling` maps with each pooling layer folded onto its convolution
(spinn_dnn.fusion, the engine option fuse_pooling).

Usage:
    .venv/bin/python benchmarks/emulator_throughput.py [--workload mnist_mlp1] [--samples 4096]
        [--fuse-pooling] [--error-routing deltas] [--in-flight N] [--untapered]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import spinn_dnn  # noqa: E402
import workloads  # noqa: E402
from spinn_dnn.emulator.session import MachineSession  # noqa: E402


def _figures(session: MachineSession, wall: float, samples: int) -> dict:
    state = session.em.state
    return {"samples": samples, "host_seconds": round(wall, 3), "deliveries": state["deliveries"],
            "events": state["events"], "deliveries_per_host_second": round(state["deliveries"] / wall),
            "events_per_host_second": round(state["events"] / wall),
            "samples_per_host_second": round(samples / wall, 1),
            "modeled_device_seconds": round(session.modeled_seconds, 4),
            "modeled_samples_per_second": round(samples / session.modeled_seconds, 1),
            "deliveries_per_sample": round(state["deliveries"] / samples),
            # events beyond the queue's timing wheel (event_queue.h): the slow path
            "events_to_heap": state["queue_heap_pushes"],
            "events_by_kind": {k[len("events_"):]: v for k, v in state.items()
                               if k.startswith("events_") and v}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mnist_mlp1")
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--fuse-pooling", action="store_true", help="fold pooling layers onto their convolutions")
    ap.add_argument("--error-routing", default="per_tile",
                    help="how errors go back (tiling.ERROR_ROUTINGS; deltas: dL/dz to weight copies)")
    ap.add_argument("--untapered", action="store_true",
                    help="every layer keeps the first layer's samples in flight (default: fewer near the "
                         "output, larger tiles there: spinn_dnn.taper)")
    ap.add_argument("--in-flight", type=int, default=None,
                    help="samples in flight per core (default: what training needs, 2 x layers + 2)")
    args = ap.parse_args()

    import keras

    w = workloads.get(args.workload)
    keras.utils.set_random_seed(1)
    model = w.build_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="emu_bench_") as run_dir:  # nothing reads it after mapping
        sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=run_dir,
                                  fuse_pooling=args.fuse_pooling, in_flight=args.in_flight,
                                  error_routing=args.error_routing, taper_in_flight=not args.untapered)
    map_s = time.perf_counter() - t0
    data = w.load_data()
    n = min(args.samples, len(data.x_train))
    x = data.x_train[:n].reshape(n, -1).astype(np.float32)
    y = data.y_train[:n].astype(np.uint32)

    trainer = sm.trainer(sm.training_spec())
    t0 = time.perf_counter()
    loss, acc = trainer.epoch(x, y, args.batch_size, np.random.default_rng(0))
    train = _figures(trainer.session, time.perf_counter() - t0, n)
    train["training_loss"], train["training_accuracy"] = round(loss, 4), round(acc, 4)
    train["host_seconds_per_60000_sample_epoch"] = round(60000 / train["samples_per_host_second"], 1)

    session = MachineSession(sm.plan, sm.toolchain, None, sm.weight_regions())
    xt = data.x_test[:n].reshape(-1, x.shape[1]).astype(np.float32)
    t0 = time.perf_counter()
    session.feed(xt, np.zeros(len(xt), np.uint32))
    predict = _figures(session, time.perf_counter() - t0, len(xt))

    print(json.dumps({"workload": args.workload, "fuse_pooling": args.fuse_pooling,
                      "error_routing": args.error_routing, "cores": sm.plan.n_cores,
                      "in_flight": sm.plan.in_flight, "layer_in_flight": sm.plan.layer_in_flight,
                      "input_tiles": len(sm.plan.vertices[0].tiles),
                      "batch_size": args.batch_size, "mapping_seconds": round(map_s, 2),
                      "training": train, "predict": predict,
                      "clock": "host wall time: time.perf_counter; device time: modeled (cost_model.h)"},
                     indent=2))


if __name__ == "__main__":
    main()
