"""Published reference figures (MLPerf ResNet-50, LeCun et al. 1998) as a table.

The figures live in a versioned data file shipped with the package
(`published_baselines.yaml`) so that a paper quoting the dashboard can name
the version it used, and so that a new figure is a data change, not a code
change.  Every row must carry its source: a published figure without one is
refused rather than shown beside measured results.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

# metric -> (unit as published -> factor to the canonical unit, canonical unit)
UNITS: dict[str, tuple[dict[str, float], str]] = {
    "time_to_train": ({"min": 60.0, "s": 1.0, "h": 3600.0}, "s"),
    "energy_to_train": ({"MJ": 1e6, "kJ": 1e3, "J": 1.0, "kWh": 3.6e6}, "J"),
    "samples_per_s": ({"img/s": 1.0, "samples/s": 1.0}, "samples/s"),
    "test_error": ({"%": 1.0}, "%"),
    "macs_per_sample": ({"MAC": 1.0}, "MAC"),
    "parameters": ({"count": 1.0}, "count"),
}

COLUMNS = ["benchmark", "workload", "model", "target", "system", "round", "metric", "value", "low",
           "high", "unit", "per", "source", "value_canonical", "unit_canonical", "kind"]


class BaselinesError(ValueError):
    """The baselines file is malformed; the message names the row and field."""


@dataclass
class Baselines:
    """The published figures, with the version of the file they came from."""

    version: int | str
    updated: str | None
    path: str
    table: pd.DataFrame

    def for_benchmark(self, benchmark: str, target: float | None = None,
                      metric: str | None = None) -> pd.DataFrame:
        """Rows for `benchmark`; with `target`, MNIST rows only of the same target (same workload)."""
        # MNIST rows name the workload, which is now also the benchmark name the harness logs.
        t = self.table[(self.table["benchmark"] == benchmark) | (self.table["workload"] == benchmark)]
        if metric is not None:
            t = t[t["metric"] == metric]
        if target is not None and benchmark != "resnet":
            t = t[((t["target"] - target).abs() < 1e-9) | t["target"].isna()]
        return t

    def workload_name(self, benchmark: str, target: float | None) -> str | None:
        """The workload and model a (benchmark, target) pair is, where a published row says so."""
        if target is None:
            return None
        rows = self.for_benchmark(benchmark, target)
        rows = rows[rows["workload"].notna()]
        if rows.empty or benchmark == "resnet":
            return None
        r = rows.iloc[0]
        return f"{r['workload']} ({r['model']})" if r.get("model") else str(r["workload"])


def default_path() -> Path:
    return Path(str(resources.files("harness.dashboard").joinpath("published_baselines.yaml")))


def _row(i: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BaselinesError(f"row {i}: not a mapping")
    for key in ("benchmark", "system", "metric", "value", "unit", "source"):
        if raw.get(key) in (None, ""):
            raise BaselinesError(f"row {i}: missing {key!r} (every published figure needs it)")
    metric = raw["metric"]
    if metric not in UNITS:
        raise BaselinesError(f"row {i}: metric {metric!r} unknown; allowed: {', '.join(UNITS)}")
    factors, canonical = UNITS[metric]
    if raw["unit"] not in factors:
        raise BaselinesError(f"row {i}: unit {raw['unit']!r} for {metric}; allowed: {', '.join(factors)}")
    try:
        value = float(raw["value"])
    except (TypeError, ValueError) as exc:
        raise BaselinesError(f"row {i}: value {raw['value']!r} is not a number") from exc
    row = {c: raw.get(c) for c in COLUMNS}
    row.update(value=value, value_canonical=value * factors[raw["unit"]], unit_canonical=canonical,
               kind="published", target=None if raw.get("target") is None else float(raw["target"]))
    return row


def load_baselines(path: str | Path | None = None) -> Baselines:
    """Read and check the baselines file (default: the one shipped with the package)."""
    path = Path(path) if path else default_path()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BaselinesError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(doc, dict) or "version" not in doc or not isinstance(doc.get("rows"), list):
        raise BaselinesError(f"{path}: needs a 'version' and a list of 'rows'")
    rows = [_row(i, r) for i, r in enumerate(doc["rows"])]
    return Baselines(doc["version"], doc.get("updated"), str(path), pd.DataFrame(rows, columns=COLUMNS))
