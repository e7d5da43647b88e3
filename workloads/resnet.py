"""`resnet`: ResNet-50 v1.5 on ImageNet 2012, MLPerf Training's closed-division benchmark.

Fixed here, as MLPerf's rules fix them (training round 4.0, ResNet's last):
the model (workloads/resnet_model.py), the data and its preprocessing
(workloads/imagenet_data.py), label smoothing 0.1, the quality target
(75.90% top-1 on the 50,000 validation images) and, in the closed division,
the optimizer's fixed hyperparameters: LARS or SGD with momentum, polynomial
decay of power 2 to an end rate of 1e-4 after a linear warm-up, LARS epsilon
0, and weight decay 1e-4 times a power of two.  A config that breaks one of
them is refused before anything runs; the logs carry every hyperparameter key
the rules ask for and are judged by mlperf_logging's own `training_4.0.0`
rules (`ruleset = "official"`), not rules derived by this project.

Options (`workload_options`): `data` (`imagenet`, default, or `synthetic`),
`image_size` (224; smaller only for tests and throughput studies),
`train_samples` / `eval_samples` (a prefix of the data, for tiny runs), and
for synthetic data `synthetic_classes` and `synthetic_label_noise`.
"""

from __future__ import annotations

import math
from typing import Any

from workloads.base import LossSpec, QualityTarget, StreamingDataset, Workload
from workloads.errors import WorkloadError
from workloads.imagenet_data import EVAL_SIZE, NUM_CLASSES, TRAIN_SIZE
from workloads.resnet_model import TRAINABLE_PARAMETERS

TARGET = QualityTarget(
    "top1_accuracy", 0.759,
    "MLPerf Training rules, round 4.0 (closed division, ResNet-50 v1.5 on ImageNet): 75.90% top-1",
)
LABEL_SMOOTHING = 0.1
END_LEARNING_RATE = 1e-4
POLY_POWER = 2
BASE_WEIGHT_DECAY = 1e-4
DATA_MODES = ("imagenet", "synthetic")

# MLPerf's reference convergence point for batch 3264 (mlperf_logging rcps_resnet.json,
# NVIDIA, LARS): base rate 10.5, 2 warm-up epochs, weight decay 5e-5, ~35 epochs.
DEFAULT_RECIPE: dict[str, Any] = {
    "optimizer": {"name": "lars", "learning_rate": 10.5, "momentum": 0.9, "weight_decay": 5e-5,
                  "epsilon": 0.0, "eta": 0.001},
    "schedule": {"kind": "polynomial", "power": POLY_POWER, "end_learning_rate": END_LEARNING_RATE,
                 "decay_epochs": 39},
    "warmup_epochs": 2,
    "batch_size": 3264,
    "max_epochs": 41,
    "eval_every": 4,
    "eval_offset": 0,
}


def _is_power_of_two_multiple(value: float, unit: float) -> bool:
    ratio = math.log2(value / unit) if value > 0 else 0.5
    return abs(ratio - round(ratio)) < 1e-9


class ResNetWorkload(Workload):
    """ResNet-50 v1.5 / ImageNet with MLPerf's closed-division rules."""

    def validate_options(self) -> None:
        o = self.options
        if o["data"] not in DATA_MODES:
            raise WorkloadError(f"workload_options.data: {o['data']!r} is not allowed; "
                                f"allowed: {', '.join(DATA_MODES)}")
        for key, low in (("image_size", 32), ("synthetic_classes", 1)):
            if not isinstance(o[key], int) or isinstance(o[key], bool) or o[key] < low:
                raise WorkloadError(f"workload_options.{key}: expected an integer >= {low}, got {o[key]!r}")
        if o["synthetic_classes"] > NUM_CLASSES:
            raise WorkloadError(f"workload_options.synthetic_classes: at most {NUM_CLASSES}")
        for key in ("train_samples", "eval_samples"):
            value = o[key]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise WorkloadError(f"workload_options.{key}: expected null (all) or an integer >= 1, "
                                    f"got {value!r}")
        noise = o["synthetic_label_noise"]
        if not isinstance(noise, (int, float)) or not 0 <= noise < 1:
            raise WorkloadError(f"workload_options.synthetic_label_noise: expected 0 <= noise < 1, "
                                f"got {noise!r}")
        if o["data"] == "imagenet" and (o["synthetic_classes"] != NUM_CLASSES or noise):
            raise WorkloadError("workload_options.synthetic_classes/synthetic_label_noise apply only to "
                                "data: synthetic")

    def build_model(self, member: int = 0) -> Any:
        from workloads.resnet_model import build_resnet50

        size = self.option("image_size")
        return build_resnet50((size, size, 3), NUM_CLASSES)

    def load_data(self, data_dir: str | None = None) -> StreamingDataset:
        o = self.options
        if o["data"] == "synthetic":
            from workloads.imagenet_data import synthetic_dataset

            return synthetic_dataset(o["image_size"], o["train_samples"] or TRAIN_SIZE,
                                     o["eval_samples"] or EVAL_SIZE, o["synthetic_classes"],
                                     float(o["synthetic_label_noise"]))
        from workloads.imagenet_data import imagenet_dataset

        return imagenet_dataset(data_dir, o["image_size"], o["train_samples"], o["eval_samples"])

    def data_description(self) -> str:
        return "synthetic" if self.options["data"] == "synthetic" else "real"

    def check_recipe(self, recipe: dict[str, Any], division: str) -> None:
        """The closed division's fixed hyperparameters (training_4.0.0/closed_resnet*.yaml)."""
        if division != "closed":
            return
        opt, schedule = recipe["optimizer"], recipe["schedule"]
        where = "closed division (MLPerf ResNet rules)"
        if opt["name"] not in ("lars", "sgd"):
            raise WorkloadError(f"recipe.optimizer.name: {opt['name']!r} is not allowed in the {where}; "
                                "allowed: lars, sgd")
        if schedule["kind"] != "polynomial":
            raise WorkloadError(f"recipe.schedule.kind: {schedule['kind']!r} is not allowed in the {where}; "
                                "allowed: polynomial")
        if schedule["end_learning_rate"] != END_LEARNING_RATE:
            raise WorkloadError(f"recipe.schedule.end_learning_rate must be {END_LEARNING_RATE} in the "
                                f"{where}, got {schedule['end_learning_rate']}")
        if opt["name"] == "lars" and schedule["power"] != POLY_POWER:
            raise WorkloadError(f"recipe.schedule.power must be {POLY_POWER} for LARS in the {where}, "
                                f"got {schedule['power']}")
        if opt["name"] == "lars" and opt.get("epsilon", 0.0) != 0.0:
            raise WorkloadError(f"recipe.optimizer.epsilon must be 0 for LARS in the {where}, "
                                f"got {opt['epsilon']}")
        decay = opt.get("weight_decay", 0.0)
        if not _is_power_of_two_multiple(decay, BASE_WEIGHT_DECAY):
            raise WorkloadError(f"recipe.optimizer.weight_decay must be 1e-4 times a power of two in the "
                                f"{where} (e.g. 2.5e-05, 5e-05, 0.0001, 0.0002), got {decay}")
        if opt["name"] == "sgd":
            ratio = opt["learning_rate"] / 0.001
            if abs(ratio - round(ratio)) > 1e-6:
                raise WorkloadError(f"recipe.optimizer.learning_rate must be a multiple of 0.001 for SGD "
                                    f"in the {where}, got {opt['learning_rate']}")
            if opt.get("nesterov", False):
                raise WorkloadError(f"recipe.optimizer.nesterov is not allowed in the {where}")

    def mlperf_hyperparameters(self, recipe: dict[str, Any], steps_per_epoch: int) -> dict[str, Any]:
        """The `<opt>_*` keys closed_resnet_<opt>.yaml requires, plus model_bn_span."""
        from harness.schedule import step_schedule

        opt, schedule = recipe["optimizer"], recipe["schedule"]
        name = opt["name"]
        steps = step_schedule(recipe, steps_per_epoch)
        keys: dict[str, Any] = {
            f"{name}_opt_base_learning_rate": opt["learning_rate"],
            f"{name}_opt_end_learning_rate": schedule["end_learning_rate"],
            f"{name}_opt_learning_rate_decay_poly_power": schedule["power"],
            f"{name}_opt_learning_rate_decay_steps": steps.decay_steps if steps else None,
            f"{name}_opt_momentum": opt.get("momentum", 0.0),
            f"{name}_opt_weight_decay": opt.get("weight_decay", 0.0),
            # Batch normalisation statistics span the whole (single-device) batch.
            "model_bn_span": recipe["batch_size"],
        }
        if name == "lars":
            keys["lars_epsilon"] = opt.get("epsilon", 0.0)
            keys["lars_opt_learning_rate_warmup_epochs"] = recipe["warmup_epochs"]
        return keys


WORKLOADS = [
    ResNetWorkload(
        name="resnet",
        benchmark="resnet",
        description="ResNet-50 v1.5 on ImageNet 2012 (MLPerf Training closed division)",
        target=TARGET,
        default_recipe=DEFAULT_RECIPE,
        reference={
            "model": "ResNet-50 v1.5 (stride on the 3x3 convolution of downsampling blocks)",
            "parameters": TRAINABLE_PARAMETERS,
            "published": "MLPerf Training v0.5-v4.0 results; see harness/dashboard/published_baselines.yaml",
            "deviations": [],
        },
        option_defaults={"data": "imagenet", "image_size": 224, "train_samples": None,
                         "eval_samples": None, "synthetic_classes": NUM_CLASSES,
                         "synthetic_label_noise": 0.0},
        loss=LossSpec("categorical_crossentropy", LABEL_SMOOTHING),
        ruleset="official",
    )
]
