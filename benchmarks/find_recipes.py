"""Check that a workload's recipe reaches its quality target: a bare Keras loop like the harness's.

Why a separate script: recipes must be shown to converge before the harness
(written in parallel) exists, and with nothing between Keras and the numbers.
It mimics the harness contract: `keras.utils.set_random_seed(seed)`, SGD with
momentum compiled with sparse categorical cross-entropy, the learning rate set
once per epoch by the recipe's formula, `fit(..., epochs=1, shuffle=True)`,
then the full 10k test set evaluated on the recipe's cadence, stopping at the
target.  Boosted workloads train their members in turn (fixed epochs for all
but the last, which trains until the summed ensemble reaches the target).

Usage:
    .venv/bin/python benchmarks/find_recipes.py mnist_lenet5 --seeds 1 2 3
    .venv/bin/python benchmarks/find_recipes.py mnist_lenet1 --recipe '{"max_epochs": 40}'
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402
from workloads.base import Dataset, Workload  # noqa: E402


def learning_rate(recipe: dict[str, Any], epoch: int) -> float:
    """The harness's per-epoch learning rate: base x warmup ramp x schedule factor (0-based)."""
    lr = float(recipe["optimizer"]["learning_rate"])
    warm = int(recipe.get("warmup_epochs", 0))
    if epoch < warm:
        lr *= (epoch + 1) / warm
    sched = recipe["schedule"]
    if sched["kind"] == "step":
        for boundary, factor in zip(sched["boundaries"], sched["factors"], strict=True):
            if epoch >= boundary:
                lr *= factor
    elif sched["kind"] == "cosine":
        decay = int(sched["decay_epochs"])
        final = float(sched.get("final_factor", 0.0))
        lr *= final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(epoch, decay) / decay))
    elif sched["kind"] != "constant":
        raise ValueError(f"unknown schedule {sched['kind']!r}")
    return lr


def compiled(workload: Workload, recipe: dict[str, Any], member: int = 0) -> Any:
    import keras

    model = workload.build_model(member)
    opt = recipe["optimizer"]
    model.compile(
        optimizer=keras.optimizers.SGD(
            learning_rate=opt["learning_rate"],
            momentum=opt.get("momentum", 0.0),
            nesterov=opt.get("nesterov", False),
        ),
        loss="sparse_categorical_crossentropy",
    )
    return model


def train_epoch(
    model: Any,
    workload: Workload,
    recipe: dict[str, Any],
    epoch: int,
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
) -> None:
    model.optimizer.learning_rate.assign(learning_rate(recipe, epoch))
    xe = workload.augment(x, rng) if workload.augments else x
    model.fit(xe, y, batch_size=recipe["batch_size"], epochs=1, shuffle=True, verbose=0)


def probs(model: Any, x: np.ndarray) -> np.ndarray:
    return model.predict(x, batch_size=1024, verbose=0)


def due(recipe: dict[str, Any], epoch: int) -> bool:
    """Evaluate after 1-based epoch e when e >= offset and (e - offset) % every == 0."""
    e = epoch + 1
    off, every = int(recipe.get("eval_offset", 0)), int(recipe.get("eval_every", 1))
    return e >= max(off, 1) and (e - off) % every == 0


def run(workload: Workload, recipe: dict[str, Any], seed: int, data: Dataset) -> dict[str, Any]:
    """Train one seed; return epochs to target (None if not reached) and the accuracy curve."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    target = workload.target.value
    curve: list[float] = []
    start = time.time()
    trained: list[Any] = []
    info: dict[str, Any] = {}
    for member in range(workload.ensemble_size):
        last = member == workload.ensemble_size - 1
        x, y = workload.member_training_set(member, data, [m.predict_fn for m in trained], rng)
        info[f"member{member}_size"] = len(x)
        model = compiled(workload, recipe, member)
        model.predict_fn = lambda a, m=model: probs(m, a)
        epochs = recipe["max_epochs"] if last else recipe["member_epochs"][member]
        for epoch in range(epochs):
            train_epoch(model, workload, recipe, epoch, x, y, rng)
            if last and due(recipe, epoch):
                p = sum(probs(m, data.x_test) for m in [*trained, model])
                acc = float(np.mean(np.argmax(p, -1) == data.y_test))
                curve.append(round(acc, 4))
                print(f"  seed {seed} member {member} epoch {epoch + 1}: {acc:.4f}", flush=True)
                if acc >= target:
                    info.update(epochs=epoch + 1, curve=curve, seconds=round(time.time() - start))
                    return info
            elif not last:
                acc = float(np.mean(np.argmax(probs(model, data.x_test), -1) == data.y_test))
                print(f"  seed {seed} member {member} epoch {epoch + 1}: alone {acc:.4f}", flush=True)
        trained.append(model)
    info.update(epochs=None, curve=curve, seconds=round(time.time() - start))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipe", default="{}", help="JSON merged over the default recipe")
    parser.add_argument("--options", default="{}", help="JSON workload options")
    args = parser.parse_args(argv)
    workload = workloads.get(args.workload, json.loads(args.options))
    recipe = {**workload.default_recipe, **json.loads(args.recipe)}
    print(f"{workload.name} target {workload.target.value} options {workload.options}")
    print(f"recipe {json.dumps(recipe)}", flush=True)
    data = workload.load_data()
    results = {}
    for seed in args.seeds:
        results[seed] = run(workload, recipe, seed, data)
        r = results[seed]
        print(f"seed {seed}: epochs to target {r['epochs']} ({r['seconds']} s) {r}", flush=True)
    print("SUMMARY", workload.name, {s: r["epochs"] for s, r in results.items()})
    return 0 if all(r["epochs"] is not None for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
