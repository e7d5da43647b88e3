"""Training throughput of `run-benchmark` against a bare Keras `fit`, in one process.

Both train the same workload model on the same data with the same optimizer
and batch size.  The bare side is one `model.fit(epochs=N)`; the harness side
is `run-benchmark` itself (per-epoch learning rate, progress callback, MLPerf
logging), with the evaluation cadence set past the run so no evaluation
happens until the last epoch.  Epoch times come from the harness's MLPerf log
(epoch_start to epoch_stop) and from a Keras callback on the bare side; the
first epoch of each (graph tracing) is left out.  The two sides alternate
`--rounds` times so that drifts in the machine's speed hit both alike.

    python benchmarks/harness_overhead.py --workload mnist_lenet5 --epochs 4 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_epoch_times(workload, data, recipe, epochs: int, seed: int) -> list[float]:
    import keras

    keras.utils.set_random_seed(seed)
    model = workload.build_model()
    opt = recipe["optimizer"]
    model.compile(
        optimizer=keras.optimizers.SGD(opt["learning_rate"], momentum=opt.get("momentum", 0.0)),
        loss="sparse_categorical_crossentropy",
    )
    times: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    model.fit(data.x_train, data.y_train, batch_size=recipe["batch_size"], epochs=epochs,
              shuffle=True, verbose=0, callbacks=[EpochTimer()])
    return times


def harness_epoch_times(config: Path, epochs: int, seed: int, out: Path) -> list[float]:
    from harness import cli

    code = cli.main([str(config), "--runs", "1", "--output", str(out),
                     "--set", f"recipe.max_epochs={epochs}", "--set", f"recipe.eval_every={epochs}",
                     "--set", f"runs.base_seed={seed}", "--set", "energy.meter=none"])
    if code != 0:
        raise SystemExit(f"run-benchmark exited {code}")
    log = next(out.glob("*/*/result_0.txt"))
    starts, times = {}, []
    for line in log.read_text().splitlines():
        record = json.loads(line.split(" ", 1)[1])
        if record["key"] == "epoch_start":
            starts[record["metadata"]["epoch_num"]] = record["time_ms"]
        elif record["key"] == "epoch_stop":
            times.append((record["time_ms"] - starts[record["metadata"]["epoch_num"]]) / 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mnist_lenet5/keras-cpu.yaml")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import workloads
    from harness.config import load_config

    config = load_config(args.config)
    workload = workloads.get(config.benchmark, config.workload_options)
    from harness.engines.keras_engine import KerasEngine

    KerasEngine(config.engine_options)  # selects the backend before Keras is imported
    data = workload.load_data(config.data_dir)
    n = len(data.x_train)
    bare, harnessed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            bare += bare_epoch_times(workload, data, config.recipe, args.epochs, seed=r)[1:]
            harnessed += harness_epoch_times(Path(args.config), args.epochs, r,
                                             Path(tmp) / f"r{r}")[1:]
    b, h = statistics.median(bare), statistics.median(harnessed)
    print(f"\n{config.benchmark}, batch {config.recipe['batch_size']}, {n} samples/epoch, "
          f"{args.rounds} rounds x {args.epochs - 1} timed epochs each")
    print(f"bare keras fit : median epoch {b:.3f} s = {n / b:,.0f} samples/s  "
          f"(epochs: {', '.join(f'{t:.2f}' for t in bare)})")
    print(f"run-benchmark  : median epoch {h:.3f} s = {n / h:,.0f} samples/s  "
          f"(epochs: {', '.join(f'{t:.2f}' for t in harnessed)})")
    print(f"harness overhead: {100 * (h - b) / b:+.1f}% (goal: at most +3%)")


if __name__ == "__main__":
    main()
