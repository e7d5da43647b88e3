"""`benchmark-dashboard --compare A B`: how many times faster, cheaper, busier A is than B.

A and B each name an engine (`keras`, `spinnaker`) or a system (`host-cpu-keras`);
for every benchmark both have a score set for, the ratios A/B of time to
train, energy to train and training samples/s are printed.  A ratio is only
as good as its two figures, so the clock and energy kinds are printed beside
it: a modeled time against a wall-clock time is a comparison with a model.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.dashboard.collect import Collection


class CompareError(ValueError):
    """A or B names nothing in the results; the message lists what exists."""


def _selector(scores: pd.DataFrame, name: str) -> pd.Series:
    return (scores["engine"] == name) | (scores["system"] == name)


def known_names(collection: Collection) -> list[str]:
    return sorted(set(collection.scores["engine"]) | set(collection.scores["system"]))


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None:
        return None
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return None
    return a / b


def compare(collection: Collection, a: str, b: str) -> pd.DataFrame:
    """One row per (benchmark, A set, B set) sharing a benchmark and target, with A/B ratios."""
    scores = collection.scores
    names = known_names(collection)
    for name in (a, b):
        if name not in names:
            shown = ", ".join(names) if names else "none (no runs found)"
            raise CompareError(f"--compare: {name!r} is neither an engine nor a system in the results; "
                               f"known: {shown}")
    if a == b:
        raise CompareError("--compare: A and B are the same name")
    sa, sb = scores[_selector(scores, a)], scores[_selector(scores, b)]
    rows = []
    for ra in sa.itertuples():
        for rb in sb.itertuples():
            same_target = (ra.target == rb.target) or (ra.target != ra.target and rb.target != rb.target)
            same_set = (ra.engine, ra.system) == (rb.engine, rb.system)
            if ra.benchmark != rb.benchmark or not same_target or same_set:
                continue
            rows.append({
                "benchmark": ra.benchmark, "target": ra.target,
                "A": f"{ra.engine} on {ra.system}", "B": f"{rb.engine} on {rb.system}",
                "time_A_s": ra.score_s, "time_B_s": rb.score_s,
                "time_ratio": _ratio(ra.score_s, rb.score_s),
                "clock": f"{ra.clock} / {rb.clock}",
                "energy_ratio": _ratio(ra.energy_j, rb.energy_j),
                "energy": f"{ra.energy_kind} / {rb.energy_kind}",
                "samples_per_s_ratio": _ratio(ra.samples_per_s, rb.samples_per_s),
            })
    return pd.DataFrame(rows, columns=["benchmark", "target", "A", "B", "time_A_s", "time_B_s", "time_ratio",
                                       "clock", "energy_ratio", "energy", "samples_per_s_ratio"])


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def format_table(table: pd.DataFrame, a: str, b: str) -> str:
    """The ratios as a fixed-width text table; '-' where either side has no figure."""
    if table.empty:
        return (f"{a} and {b} have no benchmark in common (same benchmark and target): "
                "nothing to compare.")
    header = ["benchmark", "target", "A", "B", "time A", "time B", "time A/B", "clocks A/B",
              "energy A/B", "energy kinds A/B", "samples/s A/B"]
    lines = [[r.benchmark, _fmt(r.target, "g"), r.A, r.B, _fmt(r.time_A_s, ".3g") + " s",
              _fmt(r.time_B_s, ".3g") + " s", _fmt(r.time_ratio, ".3g"), r.clock, _fmt(r.energy_ratio, ".3g"),
              r.energy, _fmt(r.samples_per_s_ratio, ".3g")] for r in table.itertuples()]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
           for row in [header, *lines]]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.append("")
    out.append(f"A = {a}, B = {b}. time A/B < 1: A trains faster; energy A/B < 1: A uses less energy; "
               "samples/s A/B > 1: A processes more training samples per second. '-': a side has no "
               "figure (no score, or energy 'none').")
    return "\n".join(out)
