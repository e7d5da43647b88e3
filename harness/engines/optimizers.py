"""Optimizers and learning-rate schedules the Keras engine needs beyond Keras's own.

Written with `keras.ops` only, so they run unchanged on the TensorFlow, JAX
and PyTorch backends.  Keras is imported by the caller (the engine chooses
the backend first), so the classes are built by `make_lars_class(keras)` and
`make_step_schedule_class(keras)` rather than at import time.

LARS follows MLPerf's ResNet reference (You, Gitman, Ginsburg 2017, "Large
Batch Training of Convolutional Networks"): for each weight tensor w with
gradient g,

    trust = eta * |w| / (|g| + wd * |w| + eps)   (1 where |w| or |g| is 0)
    m     = momentum * m - lr * trust * (g + wd * w)
    w     = w + m

Tensors of one dimension or less (batch-norm scale and offset, biases) are
updated by plain momentum with neither the trust ratio nor weight decay, as
the reference skips them by name; for ResNet-50 the two rules pick the same
tensors.  With `adaptive=False` the trust ratio is 1 everywhere: momentum SGD
with L2 weight decay on the same tensors, MLPerf's other allowed optimizer.
"""

from __future__ import annotations

from typing import Any

from harness.schedule import StepSchedule


def skips_adaptation(shape: tuple[int, ...]) -> bool:
    """Whether a variable of `shape` is exempt from LARS scaling and weight decay."""
    return len(shape) <= 1


def make_lars_class(keras: Any) -> type:
    """The LARS optimizer class for the already-imported `keras`."""
    ops = keras.ops

    class LARS(keras.optimizers.Optimizer):
        """Layer-wise adaptive rate scaling with momentum; see the module docstring."""

        def __init__(
            self,
            learning_rate: Any = 0.1,
            momentum: float = 0.9,
            weight_decay: float = 1e-4,
            eta: float = 0.001,
            epsilon: float = 0.0,
            adaptive: bool = True,
            name: str = "lars",
            **kwargs: Any,
        ) -> None:
            # Keras's own `weight_decay` is decoupled and would touch every variable:
            # keep it off and apply the reference's coupled decay in update_step.
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
            self.momentum = float(momentum)
            self.decay = float(weight_decay)
            self.eta = float(eta)
            self.lars_epsilon = float(epsilon)
            self.adaptive = bool(adaptive)

        def build(self, variables: list[Any]) -> None:
            if self.built:
                return
            super().build(variables)
            self.momenta = [self.add_variable_from_reference(v, "momentum") for v in variables]

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            lr = ops.cast(learning_rate, variable.dtype)
            grad = ops.cast(gradient, variable.dtype)
            m = self.momenta[self._get_variable_index(variable)]
            scaled_lr = lr
            if not skips_adaptation(tuple(variable.shape)):
                if self.adaptive:
                    w_norm = ops.sqrt(ops.sum(ops.square(variable)))
                    g_norm = ops.sqrt(ops.sum(ops.square(grad)))
                    denom = g_norm + self.decay * w_norm + self.lars_epsilon
                    ratio = self.eta * w_norm / ops.where(denom > 0, denom, ops.ones_like(denom))
                    trust = ops.where(
                        ops.logical_and(w_norm > 0, g_norm > 0), ratio, ops.ones_like(ratio))
                    scaled_lr = lr * trust
                grad = grad + self.decay * variable
            self.assign(m, ops.subtract(ops.multiply(m, self.momentum), ops.multiply(grad, scaled_lr)))
            self.assign_add(variable, m)

        def get_config(self) -> dict[str, Any]:
            config = super().get_config()
            config.update({"momentum": self.momentum, "weight_decay": self.decay, "eta": self.eta,
                           "epsilon": self.lars_epsilon, "adaptive": self.adaptive})
            return config

    return LARS


def make_step_schedule_class(keras: Any) -> type:
    """A Keras LearningRateSchedule computing a harness `StepSchedule` on the optimizer's step."""
    ops = keras.ops

    class KerasStepSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """The same numbers as `StepSchedule.__call__`, in backend ops (compiled into the step)."""

        def __init__(self, schedule: StepSchedule) -> None:
            self.schedule = schedule

        def __call__(self, step: Any) -> Any:
            s = self.schedule
            step = ops.cast(step, "float32")
            warm = float(max(s.warmup_steps, 1))
            warmup_rate = s.base * step / warm
            t = ops.minimum(ops.maximum(step - s.warmup_steps, 0.0), float(s.decay_steps))
            decayed = s.end + (s.base - s.end) * ops.power(1.0 - t / s.decay_steps, s.power)
            if s.warmup_steps == 0:
                return decayed
            return ops.where(step <= s.warmup_steps, warmup_rate, decayed)

        def get_config(self) -> dict[str, Any]:
            return self.schedule.as_dict()

    return KerasStepSchedule
