"""The learning rate of each epoch, from a recipe.

Set once per epoch so that every engine, including one whose cores hold the
rate in their own memory, applies exactly the same schedule.
"""

from __future__ import annotations

import math
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
    else:  # the schema admits no other kind
        raise ValueError(f"unknown schedule kind {kind!r}")
    return base * ramp * factor
