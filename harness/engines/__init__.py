"""The engine registry: engine name to the class that implements it.

Classes are imported when looked up, so that naming an engine in a config does
not import its framework until a run needs it.
"""

from __future__ import annotations

import importlib

from harness.errors import ConfigError

_ENGINES = {
    "keras": "harness.engines.keras_engine:KerasEngine",
    "spinnaker": "spinn_dnn.harness_engine:SpinnakerEngine",
}


def names() -> list[str]:
    return sorted(_ENGINES)


def lookup(name: str) -> type:
    """The engine class registered as `name`."""
    if name not in _ENGINES:
        raise ConfigError(f"engine.name: {name!r} is not an engine; allowed: {', '.join(names())}")
    module, _, cls = _ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)
