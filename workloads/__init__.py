"""The registry of workloads: `workloads.get(name)`, `workloads.names()`.

Importing this package imports neither TensorFlow nor Keras; a workload's model
builder imports Keras when it is called.
"""

from __future__ import annotations

from workloads.base import Dataset, LossSpec, QualityTarget, StreamingDataset, Workload
from workloads.errors import DatasetError, WorkloadError

__all__ = ["Dataset", "DatasetError", "LossSpec", "QualityTarget", "StreamingDataset", "Workload",
           "WorkloadError", "get", "names"]


def _registry() -> dict[str, Workload]:
    from workloads import mnist, resnet

    return {w.name: w for w in [*mnist.WORKLOADS, *resnet.WORKLOADS]}


def names() -> list[str]:
    """Names of every registered workload, sorted."""
    return sorted(_registry())


def get(name: str, options: dict | None = None) -> Workload:
    """The workload called `name`, configured with `options`."""
    registry = _registry()
    if name not in registry:
        raise WorkloadError(f"unknown workload {name!r}; allowed: {', '.join(sorted(registry))}")
    return registry[name].configure(options)
