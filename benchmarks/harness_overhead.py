"""Training throughput of `run-benchmark` against a bare Keras `fit`, in one process.

Both train the same workload model on the same data with the same optimizer
and batch size.  There are two bare sides, each one `model.fit(epochs=N)`: on
the arrays (what a user would write) and on the harness's own tf.data pipeline
(which leaves only the harness's bookkeeping as the difference).  The harness side
is `run-benchmark` itself (per-epoch learning rate, progress callback, MLPerf
logging), with the evaluation cadence set past the run so no evaluation
happens until the last epoch.  Epoch times come from the harness's MLPerf log
(epoch_start to epoch_stop) and from a Keras callback on the bare side; the
first epoch of each (graph tracing) is left out.  The sides take
turns `--rounds` times, each round starting with the next side, so that drifts
in the machine's speed hit all alike.  A fourth side drives Keras one `fit`
per epoch with a per-batch callback, without the harness; that callback is not
`async_safe`, as the harness's sample counter was not before it became so, so
this side still pays Keras's synchronous per-batch dispatch.

Each epoch is also timed in process CPU seconds (all threads), taken at the
same two points.  On a shared 2-core VM single epochs vary by tens of percent
in wall time; CPU time shows whether the harness makes more work, wall time
also shows time it spends waiting.

    python benchmarks/harness_overhead.py --epochs 4 --rounds 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_epoch_times(workload, data, recipe, epochs: int, seed: int,
                     pipeline: bool, per_epoch_fit: bool = False) -> list[tuple[float, float]]:
    """(wall, cpu) seconds of each epoch of one `fit(epochs=N)`.

    `pipeline` feeds it the harness's own tf.data pipeline instead of the
    arrays, which separates the harness's bookkeeping from its input pipeline.
    `per_epoch_fit` calls `fit(epochs=1)` N times with a synchronous per-batch
    callback, timing each call whole.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = workload.build_model()
    opt = recipe["optimizer"]
    model.compile(
        optimizer=keras.optimizers.SGD(opt["learning_rate"], momentum=opt.get("momentum", 0.0)),
        loss="sparse_categorical_crossentropy",
    )
    times: list[tuple[float, float]] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            times.append((time.perf_counter() - self.t0[0], time.process_time() - self.t0[1]))

    if pipeline:
        from harness.engines.keras_engine import tf_epoch_dataset

        ops = keras.ops
        dataset = tf_epoch_dataset(ops.convert_to_tensor(data.x_train),
                                   ops.convert_to_tensor(data.y_train), recipe["batch_size"])
        if per_epoch_fit:
            class BatchCallback(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    self.batches = batch

            for _ in range(epochs):
                t0 = (time.perf_counter(), time.process_time())
                model.fit(dataset, epochs=1, shuffle=False, verbose=0, callbacks=[BatchCallback()])
                times.append((time.perf_counter() - t0[0], time.process_time() - t0[1]))
        else:
            model.fit(dataset, epochs=epochs, shuffle=False, verbose=0, callbacks=[EpochTimer()])
    else:
        model.fit(data.x_train, data.y_train, batch_size=recipe["batch_size"], epochs=epochs,
                  shuffle=True, verbose=0, callbacks=[EpochTimer()])
    return times


def harness_epoch_times(config: Path, epochs: int, seed: int, out: Path) -> list[tuple[float, float]]:
    """(wall, cpu) seconds of each epoch, between the log's epoch_start and epoch_stop."""
    from harness import cli
    from harness.mllogging import RunLog

    marks: dict[tuple[str, int], tuple[float, float]] = {}
    original_start, original_end = RunLog.start, RunLog.end

    def mark(key: str, metadata: dict | None) -> None:
        if key in ("epoch_start", "epoch_stop"):
            marks[key, metadata["epoch_num"]] = (time.perf_counter(), time.process_time())

    def start(self, key, value=None, metadata=None):
        original_start(self, key, value, metadata)
        mark(key, metadata)

    def end(self, key, value=None, metadata=None):
        mark(key, metadata)
        original_end(self, key, value, metadata)

    RunLog.start, RunLog.end = start, end
    try:
        code = cli.main([str(config), "--runs", "1", "--output", str(out),
                         "--set", f"recipe.max_epochs={epochs}", "--set", f"recipe.eval_every={epochs}",
                         "--set", f"runs.base_seed={seed}", "--set", "energy.meter=none"])
    finally:
        RunLog.start, RunLog.end = original_start, original_end
    if code != 0:
        raise SystemExit(f"run-benchmark exited {code}")
    times = []
    for epoch in range(1, epochs + 1):
        (w0, c0), (w1, c1) = marks["epoch_start", epoch], marks["epoch_stop", epoch]
        times.append((w1 - w0, c1 - c0))
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
    runners = {
        "bare fit, arrays": lambda r, tmp: bare_epoch_times(
            workload, data, config.recipe, args.epochs, r, pipeline=False),
        "bare fit, harness pipeline": lambda r, tmp: bare_epoch_times(
            workload, data, config.recipe, args.epochs, r, pipeline=True),
        "bare fit per epoch": lambda r, tmp: bare_epoch_times(
            workload, data, config.recipe, args.epochs, r, pipeline=True, per_epoch_fit=True),
        "run-benchmark": lambda r, tmp: harness_epoch_times(
            Path(args.config), args.epochs, r, Path(tmp) / f"r{r}"),
    }
    sides: dict[str, list[tuple[float, float]]] = {side: [] for side in runners}
    per_round: dict[str, list[float]] = {side: [] for side in runners}  # median wall epoch per round
    order = list(runners)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for side in order[r % len(order):] + order[:r % len(order)]:  # a new first side each round
                timed = runners[side](r, tmp)[1:]
                sides[side] += timed
                per_round[side].append(statistics.median(t[0] for t in timed))
    print(f"\n{config.benchmark}, batch {config.recipe['batch_size']}, {n} samples/epoch, "
          f"{args.rounds} rounds x {args.epochs - 1} timed epochs each")
    for i, clock in enumerate(("wall", "cpu")):
        medians = {side: statistics.median(t[i] for t in times) for side, times in sides.items()}
        for side, times in sides.items():
            print(f"[{clock}] {side:<27}: median epoch {medians[side]:.3f} s = "
                  f"{n / medians[side]:,.0f} samples/s  "
                  f"(epochs: {', '.join(f'{t[i]:.2f}' for t in times)})")
        h = medians["run-benchmark"]
        for side in ("bare fit, arrays", "bare fit, harness pipeline", "bare fit per epoch"):
            print(f"[{clock}] harness overhead against {side}: "
                  f"{100 * (h - medians[side]) / medians[side]:+.1f}% (goal: at most +3%)")
    # Paired by round: the sides of one round ran minutes apart, so a slow spell of the
    # machine tends to hit them together; the median of the per-round ratios discounts it.
    for side in ("bare fit, arrays", "bare fit, harness pipeline", "bare fit per epoch"):
        ratios = [h / b for h, b in zip(per_round["run-benchmark"], per_round[side], strict=True)]
        print(f"[wall, paired by round] harness overhead against {side}: "
              f"{100 * (statistics.median(ratios) - 1):+.1f}% median of "
              f"{', '.join(f'{100 * (q - 1):+.1f}%' for q in ratios)}")

if __name__ == "__main__":
    main()
