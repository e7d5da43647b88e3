"""The `spinnaker` engine as the harness sees it.

Training on the emulated machine is not built yet (the next issue): a config
naming this engine is validated here, and running it says plainly that it
cannot run yet.  The option checks are the same the `spinn-dnn map` command
uses, so a config that maps is a config the engine will accept.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError, EngineUnavailableError

POLICIES = ("auto", "neuron_per_core")  # spinn_dnn.tiling.POLICIES (not imported: keep this light)
EXECUTIONS = ("emulator", "hardware")
MACHINE_FORMS = "{boards: N} | {host: ADDRESS} | {spalloc: URL, boards: N}"
OPTION_KEYS = ("execution", "policy", "machine", "in_flight", "max_atoms_per_core")
DEFAULTS: dict[str, Any] = {"execution": "emulator", "policy": "auto", "machine": {"boards": 1},
                            "in_flight": 2, "max_atoms_per_core": None}


def _positive_int(value: Any, where: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: expected a positive integer, got {value!r}")


def _machine(machine: Any, execution: str) -> dict[str, Any]:
    where = "engine.options.machine"
    if not isinstance(machine, dict):
        raise ConfigError(f"{where}: expected a mapping, one of {MACHINE_FORMS}; got {machine!r}")
    allowed = {"boards", "host", "bmp", "spalloc", "user"}
    unknown = sorted(set(machine) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed here: {', '.join(sorted(allowed))}")
    if "host" in machine and "spalloc" in machine:
        raise ConfigError(f"{where}: give host or spalloc, not both; allowed: {MACHINE_FORMS}")
    for key in ("host", "spalloc", "bmp", "user"):
        if key in machine and (not isinstance(machine[key], str) or not machine[key]):
            raise ConfigError(f"{where}.{key}: expected a non-empty string, got {machine[key]!r}")
    if "host" in machine and "boards" in machine:
        raise ConfigError(f"{where}.boards: a board at a host address has its own size; allowed: "
                          f"{MACHINE_FORMS}")
    if "boards" in machine:
        _positive_int(machine["boards"], f"{where}.boards", allow_none=True)
    real = "host" in machine or "spalloc" in machine
    if execution == "hardware" and not real:
        raise ConfigError(f"{where}: execution 'hardware' needs a real machine ({{host: ADDRESS}} or "
                          f"{{spalloc: URL, boards: N}}); got {machine!r}")
    if execution == "emulator" and real:
        raise ConfigError(f"{where}: execution 'emulator' maps on virtual boards ({{boards: N}}); "
                          f"got {machine!r}")
    return dict(machine)


class SpinnakerEngine:
    name = "spinnaker"

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Options with defaults filled in; a bad one is a ConfigError naming it and what is allowed."""
        if not isinstance(options, dict):
            raise ConfigError(f"engine.options: expected a mapping, got {options!r}")
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key engine.options.{unknown[0]}; allowed here: {', '.join(OPTION_KEYS)}")
        merged = {**DEFAULTS, **options}
        if merged["execution"] not in EXECUTIONS:
            raise ConfigError(f"engine.options.execution: {merged['execution']!r} is not allowed; "
                              f"allowed: {', '.join(EXECUTIONS)}")
        if merged["policy"] not in POLICIES:
            raise ConfigError(f"engine.options.policy: {merged['policy']!r} is not allowed; "
                              f"allowed: {', '.join(POLICIES)}")
        _positive_int(merged["in_flight"], "engine.options.in_flight")
        _positive_int(merged["max_atoms_per_core"], "engine.options.max_atoms_per_core", allow_none=True)
        if "machine" not in options and merged["execution"] == "hardware":
            raise ConfigError(f"engine.options.machine: execution 'hardware' needs one of {MACHINE_FORMS}")
        merged["machine"] = _machine(merged["machine"], merged["execution"])
        return merged

    def __init__(self, options: dict[str, Any]) -> None:
        raise EngineUnavailableError(
            "engine 'spinnaker': training on SpiNNaker (emulated or on a board) is not built "
            "yet in this version; use engine 'keras' (`spinn-dnn map CONFIG` maps the model already)"
        )
