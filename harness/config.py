"""Loading a benchmark config: YAML, command-line overrides, schema, defaults.

Everything a user can get wrong is caught here, before any directory is
created or any framework is imported, so that bad input costs nothing and
leaves nothing behind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

import workloads
from harness import engines
from harness.errors import ConfigError
from harness.schema import OPTIMIZER_KEYS, SCHEDULE_NEEDS, SCHEDULE_OPTIONAL, config_schema


@dataclass(frozen=True)
class BenchmarkConfig:
    """A validated config with the workload's recipe defaults filled in."""

    path: str
    benchmark: str
    workload_options: dict[str, Any]
    data_dir: str | None
    recipe: dict[str, Any]
    engine: str
    engine_options: dict[str, Any]
    seeds: list[int]
    system: dict[str, Any]
    energy_meter: str
    output_dir: str
    raw: dict[str, Any]

    @property
    def run_count(self) -> int:
        return len(self.seeds)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` to (["a", "b", "c"], value); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. recipe.batch_size=64")
    key, _, value = text.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {text!r}: empty component in key path {key!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {exc}") from exc
    return parts, parsed


def apply_override(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {'.'.join(parts)}: {where!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the key at fault and what is allowed there."""
    where = _key_path(error.absolute_path)
    schema, instance = error.schema, error.instance
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(instance) - set(allowed))
        keys = ", ".join(f"{where}.{k}" if error.absolute_path else k for k in unknown)
        return f"unknown key {keys}; allowed here: {', '.join(allowed)}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, schema["enum"]))
        return f"{where}: {instance!r} is not allowed; allowed: {allowed}"
    if error.validator == "type":
        wanted = schema["type"]
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return f"{where}: expected {wanted}, got {type(instance).__name__} {instance!r}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        # A schedule, or an optimizer of another name, replaces the default whole.
        replaced = key == "schedule" or (
            key == "optimizer" and isinstance(value, dict) and isinstance(merged.get(key), dict)
            and value.get("name", merged[key].get("name")) != merged[key].get("name"))
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not replaced:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _check_recipe(recipe: dict[str, Any], ensemble_size: int) -> None:
    schedule = recipe["schedule"]
    kind = schedule["kind"]
    allowed = {"kind"} | SCHEDULE_NEEDS[kind] | SCHEDULE_OPTIONAL.get(kind, set())
    missing = sorted(SCHEDULE_NEEDS[kind] - set(schedule))
    if missing:
        raise ConfigError(f"recipe.schedule: kind {kind!r} needs {', '.join(missing)}")
    extra = sorted(set(schedule) - allowed)
    if extra:
        raise ConfigError(
            f"recipe.schedule.{extra[0]} does not apply to kind {kind!r}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    if kind == "step":
        if len(schedule["boundaries"]) != len(schedule["factors"]):
            raise ConfigError("recipe.schedule: boundaries and factors must have the same length")
        if schedule["boundaries"] != sorted(schedule["boundaries"]):
            raise ConfigError("recipe.schedule.boundaries must be increasing epochs")
    optimizer = recipe["optimizer"]
    own = OPTIMIZER_KEYS[optimizer["name"]]
    foreign = sorted(set(optimizer) - own - {"name", "learning_rate"})
    if foreign:
        raise ConfigError(
            f"recipe.optimizer.{foreign[0]} does not apply to optimizer {optimizer['name']!r}; "
            f"allowed: {', '.join(sorted(own | {'name', 'learning_rate'}))}"
        )
    if ensemble_size > 1:
        member_epochs = recipe.get("member_epochs")
        if member_epochs is None or len(member_epochs) != ensemble_size - 1:
            raise ConfigError(
                f"recipe.member_epochs: this workload trains {ensemble_size} nets; give the "
                f"fixed epochs of the first {ensemble_size - 1} as a list"
            )
    elif "member_epochs" in recipe:
        raise ConfigError("recipe.member_epochs applies only to ensemble workloads")
    for key in ("batch_size", "max_epochs", "eval_every", "eval_offset", "warmup_epochs"):
        if key not in recipe:
            raise ConfigError(f"recipe.{key} is required (neither the config nor the workload sets it)")


def load_config(
    path: str | Path,
    overrides: list[str] | None = None,
    runs: int | None = None,
    output_dir: str | None = None,
) -> BenchmarkConfig:
    """Read, override, validate and complete the config at `path`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys (benchmark, engine, ...)")
    for text in overrides or []:
        apply_override(raw, *parse_override(text))
    if runs is not None:
        apply_override(raw, ["runs", "count"], runs)
    if output_dir is not None:
        apply_override(raw, ["output_dir"], output_dir)

    validator = jsonschema.Draft202012Validator(config_schema(workloads.names()))
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError(f"{path}: " + "; ".join(_describe(e) for e in errors))

    try:
        workload = workloads.get(raw["benchmark"], raw.get("workload_options"))
    except workloads.WorkloadError as exc:
        raise ConfigError(f"{path}: workload_options: {exc}") from exc

    engine_cls = engines.lookup(raw["engine"]["name"])
    engine_options = engine_cls.validate_options(raw["engine"].get("options") or {})

    recipe = _merge(workload.default_recipe, raw.get("recipe") or {})
    _check_recipe(recipe, workload.ensemble_size)
    division = (raw.get("system") or {}).get("division", "closed")
    try:
        workload.check_recipe(recipe, division)
    except workloads.WorkloadError as exc:
        raise ConfigError(f"{path}: {exc}") from exc

    run_spec = raw.get("runs") or {}
    if "seeds" in run_spec:
        seeds = list(run_spec["seeds"])
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"{path}: runs.seeds must be distinct, got {seeds}")
    else:
        seeds = [run_spec.get("base_seed", 0)]
    count = run_spec.get("count", 5 if "seeds" not in run_spec else len(seeds))
    if count <= len(seeds):
        seeds = seeds[:count]
    else:  # extend with fresh distinct seeds
        start = max(seeds) + 1
        seeds += list(range(start, start + count - len(seeds)))

    return BenchmarkConfig(
        path=str(path.resolve()),
        benchmark=raw["benchmark"],
        workload_options=workload.options,
        data_dir=raw.get("data_dir"),
        recipe=recipe,
        engine=raw["engine"]["name"],
        engine_options=engine_options,
        seeds=seeds,
        system=raw["system"],
        energy_meter=(raw.get("energy") or {}).get("meter", "auto"),
        output_dir=raw.get("output_dir", "results"),
        raw=raw,
    )
