"""How far float rounding alone moves a run of one seed: an engine's run, perturbed.

Why: the engine and Keras start a seed from the same initial weights, but they shuffle
the data with different generators (tf.data's shuffle against numpy's
default_rng(seed).permutation) and sum in different orders.  When one engine misses the
target on a seed the other reaches, this tells whether that is within what rounding
alone does, and with --numpy-order whether the other engine's data order is the cause.
It reruns a config (the Keras reference, or the emulated engine) on that seed K times,
each time with every initial weight moved by one unit in the last place (a random sign
per weight, from its own generator, so the seed's weights, data order and augmentation
draws are otherwise unchanged; a zero bias moves to a subnormal that the CPU may flush
back to zero), and prints each run's evaluation curve, epochs and whether it converged.
Run 0 is unperturbed.  --numpy-order makes the Keras reference take the SpiNNaker
engine's order (spinn_dnn.trainer: one default_rng(seed).permutation per epoch).

    python benchmarks/seed_sensitivity.py configs/mnist_lenet5/keras-cpu.yaml --seed 5 --repeats 8
    python benchmarks/seed_sensitivity.py configs/mnist_lenet5/spinnaker-emulated.yaml --seed 5 \
        --repeats 2 --set recipe.max_epochs=1 --set engine.options.fuse_pooling=true

Results go to a temporary folder (or --output DIR), never to results/.  Bad input (a
config, an override, --numpy-order with an engine other than Keras) exits with code 2.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.errors import UserInputError  # noqa: E402
from harness.runner import run_benchmark  # noqa: E402
from workloads import WorkloadError  # noqa: E402


def nudge_weights(model: Any, rng: np.random.Generator) -> None:
    """Move every float32 weight of `model` one ulp up or down (sign drawn from `rng`)."""
    for var in model.weights:
        w = np.asarray(var.numpy(), dtype=np.float32)
        up = rng.random(w.shape) < 0.5
        moved = np.where(up, np.nextafter(w, np.float32(np.inf)), np.nextafter(w, np.float32(-np.inf)))
        var.assign(moved.astype(np.float32))


def perturbed_workloads(repeat: int, plain_get: Any = None):
    """A `workloads.get` whose models are nudged by generator `repeat` (0: left as built).

    `plain_get` is the registry's own getter (default: workloads.get as it is now); main
    passes the one it saved before patching, so that nudges never stack across repeats.
    """
    original_get = plain_get or workloads.get

    def get(name: str, options: Any = None) -> Any:
        workload = original_get(name, options)
        if repeat == 0:
            return workload
        build = workload.build_model
        rng = np.random.default_rng(1000 + repeat)

        def build_model(member: int = 0) -> Any:
            model = build(member)
            nudge_weights(model, rng)
            return model

        workload.build_model = build_model
        return workload

    return get


def numpy_ordered_train_epoch(seed: int):
    """A KerasSession.train_epoch that takes the SpiNNaker engine's data order for `seed`."""
    from harness.engines.keras_engine import _SampleCounter

    def train_epoch(self: Any, x: np.ndarray, y: np.ndarray, on_samples: Any) -> None:
        if not hasattr(self, "_numpy_order_rng"):
            self._numpy_order_rng = np.random.default_rng(seed)  # as SpinnakerSession.rng
        order = self._numpy_order_rng.permutation(len(x))  # as Trainer.epoch
        counter = _SampleCounter.make(self._keras, len(x), self.batch_size, on_samples)
        self.model.fit(x[order], y[order], batch_size=self.batch_size, epochs=1, shuffle=False, verbose=0,
                       callbacks=[counter])

    return train_epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a config, e.g. configs/mnist_lenet5/keras-cpu.yaml")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=8, help="runs, the first unperturbed")
    parser.add_argument("--numpy-order", action="store_true",
                        help="Keras takes the SpiNNaker engine's data order instead of tf.data's shuffle")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="config overrides, as run-benchmark's --set")
    parser.add_argument("--output", metavar="DIR",
                        help="keep each repeat's logs and summary under DIR/repeat_<k> (default: a "
                             "temporary folder, removed after each repeat)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")

    from harness.engines.keras_engine import KerasSession

    # patched for each repeat and restored after it: harness.runner looks the workload up in this
    # module, and the Keras engine's sessions train through this method
    plain_get, plain_train_epoch = workloads.get, KerasSession.train_epoch
    converged = 0
    try:
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as scratch:
                out_dir = str(Path(args.output) / f"repeat_{repeat}") if args.output else scratch
                config = load_config(args.config, overrides=[*args.set, f"runs.seeds=[{args.seed}]"], runs=1,
                                     output_dir=out_dir)
                if args.numpy_order and config.engine != "keras":
                    raise UserInputError(
                        f"--numpy-order gives the Keras reference the SpiNNaker engine's data order; "
                        f"{args.config} runs engine {config.engine!r} (allowed: keras)")
                workloads.get = perturbed_workloads(repeat, plain_get)
                if args.numpy_order:
                    KerasSession.train_epoch = numpy_ordered_train_epoch(args.seed)
                try:
                    outcome = run_benchmark(config, out=io.StringIO())
                finally:
                    workloads.get = plain_get
                    KerasSession.train_epoch = plain_train_epoch
            s = outcome.summaries[0]
            curve = " ".join(f"{p['accuracy']:.4f}" for p in s["eval_curve"])
            converged += bool(s["converged"])
            label = "as built" if repeat == 0 else f"nudge {repeat}"
            label += ", numpy order" if args.numpy_order else ""
            verdict = "converged" if s["converged"] else "missed   "
            print(f"{config.engine} seed {args.seed} {label}: {verdict} after "
                  f"{s['epochs']:>2} epochs, final {s['final_accuracy']:.4f}; {curve}", flush=True)
    except (UserInputError, WorkloadError) as exc:
        print(f"seed_sensitivity: error: {exc}", file=sys.stderr)
        return 2
    target = s["target"]["value"] if isinstance(s["target"], dict) else s["target"]
    print(f"{converged} of {args.repeats} converged (target {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
