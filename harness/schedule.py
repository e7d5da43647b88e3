"""The learning rate of each epoch, or of each step, from a recipe.

Epoch kinds (constant, step, cosine) are set once per epoch by the loop, so
that every engine, including one whose cores hold the rate in their own
memory, applies exactly the same schedule.  Per-step kinds (polynomial, as
MLPerf's ResNet rules fix it) change every optimizer step; the loop hands the
engine a `StepSchedule` once and the engine applies it on its step counter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def learning_rate(recipe: dict[str, Any], epoch: int) -> float:
    """Learning rate for 0-based `epoch` of one network's training."""
    base = float(recipe["optimizer"]["learning_rate"])
    warmup = int(recipe.get("warmup_epochs", 0))
    ramp = (epoch + 1) / warmup if epoch < warmup else 1.0
    schedule = recipe["schedule"]
    kind = schedule["kind"]
    if kind == "constant":
        factor = 1.0
    elif kind == "step":
        factor = 1.0
        for boundary, step_factor in zip(schedule["boundaries"], schedule["factors"], strict=True):
            if epoch >= boundary:
                factor *= step_factor
    elif kind == "cosine":
        decay = int(schedule["decay_epochs"])
        final = float(schedule.get("final_factor", 0.0))
        progress = min(epoch, decay) / decay
        factor = final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    elif kind in PER_STEP_KINDS:
        raise ValueError(f"schedule kind {kind!r} is per step: use step_schedule()")
    else:  # the schema admits no other kind
        raise ValueError(f"unknown schedule kind {kind!r}")
    return base * ramp * factor


# Schedule kinds whose rate changes every optimizer step rather than every epoch.
PER_STEP_KINDS = ("polynomial",)


def is_per_step(recipe: dict[str, Any]) -> bool:
    """Whether the recipe's schedule is applied per step (by the engine) rather than per epoch."""
    return recipe["schedule"]["kind"] in PER_STEP_KINDS


@dataclass(frozen=True)
class StepSchedule:
    """Linear warm-up then polynomial decay, a rate for every optimizer step.

    This is the schedule MLPerf's ResNet rules fix (LARS and SGD alike): the rate
    climbs linearly from 0 to `base` over `warmup_steps`, then decays as
    `end + (base - end) * (1 - t / decay_steps) ** power` for the `t` steps
    after warm-up, and stays at `end` once `decay_steps` have passed.  Engines
    receive this object and apply it on their own step counter (a Keras
    session compiles it into its optimizer), so every engine follows the same
    numbers; `__call__` is the reference they are tested against.
    """

    base: float
    end: float
    power: float
    warmup_steps: int
    decay_steps: int

    def __call__(self, step: int) -> float:
        """Learning rate of 0-based optimizer `step`."""
        if self.warmup_steps > 0 and step <= self.warmup_steps:
            return self.base * step / self.warmup_steps
        t = min(step - self.warmup_steps, self.decay_steps)
        return self.end + (self.base - self.end) * (1.0 - t / self.decay_steps) ** self.power

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def step_schedule(recipe: dict[str, Any], steps_per_epoch: int) -> StepSchedule | None:
    """The per-step schedule of `recipe` for an epoch of `steps_per_epoch` steps; None if per-epoch.

    As in MLPerf's reference, the decay horizon is `decay_epochs` minus the warm-up,
    plus one step, so the last planned step still has a rate above `end`.
    """
    if not is_per_step(recipe):
        return None
    schedule = recipe["schedule"]
    warmup_steps = int(recipe.get("warmup_epochs", 0)) * steps_per_epoch
    train_steps = int(schedule["decay_epochs"]) * steps_per_epoch
    return StepSchedule(
        base=float(recipe["optimizer"]["learning_rate"]),
        end=float(schedule["end_learning_rate"]),
        power=float(schedule["power"]),
        warmup_steps=warmup_steps,
        decay_steps=max(train_steps - warmup_steps, 0) + 1,
    )
