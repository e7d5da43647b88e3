"""The dashboard's figures, drawn with matplotlib (Agg) and saved as PNG and SVG.

One set of figures per benchmark (a benchmark and its quality target): the
accuracy curve of every run, time to train and energy to train per engine and
system, and for SpiNNaker runs cores and packets per sample.  Whatever was
modeled (an emulated device's clock or joules) is drawn hatched or dashed and
says "modeled" in its label, published figures are grey and hatched and say
"published", so a figure copied into a paper cannot pass one for the other.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
# SVG text as <text>, not glyph outlines: editable in a paper's figure, searchable, and smaller.
matplotlib.rcParams["svg.fonttype"] = "none"
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from harness.dashboard.baselines import Baselines  # noqa: E402
from harness.dashboard.collect import Collection  # noqa: E402

PUBLISHED_COLOR = "#9a9a9a"
MODELED_HATCH = "///"
PUBLISHED_HATCH = "xx"
LOG_SPREAD = 20.0  # use a log axis when the largest value is this many times the smallest


@dataclass
class Figure:
    """One saved figure: what it shows and where its files are."""

    kind: str  # accuracy | time | energy | spinnaker | overview
    benchmark: str
    target: float | None
    title: str
    png: Path
    svg: Path
    caption: str


def slug(*parts: Any) -> str:
    text = "_".join(str(p) for p in parts if p is not None and p == p)
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "benchmark"


def group_label(engine: str, system: str) -> str:
    """How a (engine, system) pair is named in every legend."""
    return f"{engine} on {system}"


def colors_for(collection: Collection) -> dict[tuple[str, str], Any]:
    """A fixed colour per (engine, system) across every figure of the page."""
    pairs = sorted({(r.engine, r.system) for r in collection.runs.itertuples()})
    cmap = plt.get_cmap("tab10")
    return {pair: cmap(i % 10) for i, pair in enumerate(pairs)}


def _time_unit(values: list[float]) -> tuple[float, str]:
    finite = [v for v in values if v and math.isfinite(v)]
    if finite and sorted(finite)[len(finite) // 2] > 1200:
        return 60.0, "min"
    return 1.0, "s"


def _energy_unit(values: list[float]) -> tuple[float, str]:
    finite = [v for v in values if v and math.isfinite(v)]
    top = max(finite) if finite else 0.0
    for factor, unit in ((1e6, "MJ"), (1e3, "kJ")):
        if top >= 10 * factor:
            return factor, unit
    return 1.0, "J"


def _wants_log(values: list[float]) -> bool:
    finite = [v for v in values if v and v > 0 and math.isfinite(v)]
    return len(finite) >= 2 and max(finite) / min(finite) > LOG_SPREAD


def _save(fig: Any, out_dir: Path, name: str) -> tuple[Path, Path]:
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return png, svg


def accuracy_figure(runs: pd.DataFrame, title: str, target: float | None, colors: dict,
                    out_dir: Path, name: str) -> Figure | None:
    """Evaluation accuracy against time since run_start, one line per run; time to target marked."""
    with_curve = runs[runs["eval_curve"].map(len) > 0]
    if with_curve.empty:
        return None
    all_t = [p["time_s"] for c in with_curve["eval_curve"] for p in c if p.get("time_s") is not None]
    factor, unit = _time_unit(all_t)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    modeled_any = False
    for r in with_curve.itertuples():
        pts = [(p["time_s"] / factor, p["accuracy"]) for p in r.eval_curve
               if p.get("time_s") is not None and p.get("accuracy") is not None]
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        modeled = r.clock == "modeled"
        modeled_any |= modeled
        ax.plot(xs, ys, marker="o", ms=3.5, lw=1.3, alpha=0.85, color=colors[(r.engine, r.system)],
                ls="--" if modeled else "-")
        if r.converged and r.time_to_train_s is not None:
            ax.plot(r.time_to_train_s / factor, ys[-1], marker="*", ms=13, color=colors[(r.engine, r.system)],
                    mec="black", mew=0.6, ls="none", zorder=5)
        elif not r.converged and r.finished:
            ax.plot(xs[-1], ys[-1], marker="X", ms=9, color=colors[(r.engine, r.system)], mec="black",
                    mew=0.6, ls="none", zorder=5)
    if target is not None:
        ax.axhline(target, color="black", ls=":", lw=1.2)
    if _wants_log(all_t):
        ax.set_xscale("log")
    clock_note = "wall clock; dashed = modeled device clock" if modeled_any else "wall clock"
    ax.set_xlabel(f"time since run_start ({unit}, {clock_note})")
    ax.set_ylabel("evaluation accuracy (top-1, fraction)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colors[p], lw=2, label=group_label(*p))
               for p in sorted({(r.engine, r.system) for r in with_curve.itertuples()})]
    if target is not None:
        handles.append(Line2D([], [], color="black", ls=":", label=f"target {target:g}"))
    handles.append(Line2D([], [], marker="*", ms=11, color="white", mec="black", ls="none",
                          label="time to target (converged)"))
    handles.append(Line2D([], [], marker="X", ms=8, color="white", mec="black", ls="none",
                          label="last evaluation, not converged"))
    if modeled_any:
        handles.append(Line2D([], [], color="grey", ls="--", label="modeled clock"))
    ax.legend(handles=handles, fontsize=8, loc="best")
    png, svg = _save(fig, out_dir, name)
    return Figure("accuracy", "", target, title, png, svg,
                  "Evaluation accuracy after each evaluation, per run. Stars mark the time the target "
                  "was reached (the run's time to train); crosses mark runs that stopped without "
                  "reaching it.")


def _bar_figure(kind: str, scores: pd.DataFrame, runs: pd.DataFrame, published: pd.DataFrame,
                title: str, colors: dict, out_dir: Path, name: str) -> Figure | None:
    """Time or energy to train: a bar per (engine, system) at its score, runs as dots, spread as a line."""
    is_time = kind == "time"
    run_col = "time_to_train_s" if is_time else "energy_j"
    score_col = "score_s" if is_time else "energy_j"
    kind_col = "clock" if is_time else "energy_kind"
    groups = list(scores.itertuples())
    values = [v for v in list(runs.loc[runs["converged"], run_col].dropna())
              + list(scores[score_col].dropna()) + list(published["value_canonical"])]
    if not values:
        return None
    factor, unit = (_time_unit if is_time else _energy_unit)(values)
    labels, notes = [], []
    n = len(groups) + len(published)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * n))
    y = 0
    for g in groups:
        pair = (g.engine, g.system)
        modeled = "modeled" in str(getattr(g, kind_col))
        label = group_label(*pair) + (" (modeled)" if modeled else "")
        grp_runs = runs[(runs["engine"] == g.engine) & (runs["system"] == g.system)]
        value = getattr(g, score_col)
        pts = grp_runs.loc[grp_runs["converged"], run_col].dropna() / factor
        if value is not None and value == value:
            ax.barh(y, value / factor, color=colors[pair], alpha=0.55 if modeled else 0.85,
                    hatch=MODELED_HATCH if modeled else None, edgecolor="black", lw=0.6)
            right = max([value / factor, *pts])
            ax.text(right, y, f"  {value / factor:.3g} {unit}", va="center", fontsize=8)
        else:
            reason = g.reason if is_time else (
                "no energy recorded (meter: none)" if g.energy_kind in ("none", "") else
                "no energy score (no time score)")
            notes.append((y, f"no score: {reason}" if is_time else reason))
        if len(pts):
            ax.plot(pts, [y] * len(pts), "o", color="black", ms=4, zorder=4)
            if len(pts) > 1:
                ax.plot([pts.min(), pts.max()], [y, y], color="black", lw=1, zorder=3)
        done = grp_runs[grp_runs["finished"].astype(bool)]
        failed = int((~done["converged"]).sum())
        if failed:
            label += f"\n{failed} of {len(done)} run(s) not converged"
        unfinished = len(grp_runs) - len(done)
        if unfinished:
            label += f"\n{unfinished} run(s) under way or interrupted"
        labels.append(label)
        y += 1
    for p in published.itertuples():
        v = p.value_canonical / factor
        ax.barh(y, v, color=PUBLISHED_COLOR, hatch=PUBLISHED_HATCH, edgecolor="black", lw=0.6, alpha=0.7)
        if isinstance(p.low, float) and isinstance(p.high, float) and p.low == p.low:
            scale = p.value_canonical / p.value / factor
            ax.plot([p.low * scale, p.high * scale], [y, y], color="black", lw=1)
        ax.text(v, y, f"  {v:.3g} {unit}", va="center", fontsize=8)
        rnd = f", MLPerf {p.round}" if isinstance(p.round, str) else ""
        labels.append(f"published: {p.system}{rnd}")
        y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # every row visible, bar or not, first at the top
    if _wants_log(values):
        ax.set_xscale("log")
    xmin, xmax = ax.get_xlim()
    for yy, text in notes:
        x_text = xmin * 1.05 if ax.get_xscale() == "log" else xmin + 0.01 * (xmax - xmin)
        ax.text(x_text, yy, text, va="center", fontsize=8, color="#b00000")
    what = "time to train" if is_time else "energy to train"
    ax.set_xlabel(f"{what} ({unit}{', log scale' if ax.get_xscale() == 'log' else ''})")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(facecolor="white", edgecolor="black", label="measured: olympic mean over runs"),
               Line2D([], [], marker="o", color="black", ls="-", ms=4,
                      label="converged runs and their spread")]
    if any("modeled" in str(getattr(g, kind_col)) for g in groups):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch=MODELED_HATCH, label="modeled"))
    if len(published):
        handles.append(Patch(facecolor=PUBLISHED_COLOR, edgecolor="black", hatch=PUBLISHED_HATCH,
                             label="published (not measured here)"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    png, svg = _save(fig, out_dir, name)
    caption = ("Bars: olympic mean (fastest and slowest run dropped) of the converged runs; dots: each "
               "converged run; line: their spread." if is_time else
               "Bars: mean energy of the runs the time score keeps; dots: each converged run.")
    return Figure(kind, "", None, title, png, svg, caption)


def spinnaker_figure(runs: pd.DataFrame, title: str, colors: dict, out_dir: Path,
                     name: str) -> Figure | None:
    """Cores used and packets per training sample of each SpiNNaker run (modeled or measured)."""
    cols = [c for c in ("spinnaker_cores", "spinnaker_packets_per_sample") if c in runs.columns]
    spin = runs.dropna(subset=cols, how="all") if cols else runs.iloc[0:0]
    if spin.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    names = [f"run {r.run}" for r in spin.itertuples()]
    for ax, col, label in zip(axes, ("spinnaker_cores", "spinnaker_packets_per_sample"),
                              ("cores used (count)", "packets per training sample (count)"), strict=True):
        if col not in spin.columns or spin[col].isna().all():
            ax.text(0.5, 0.5, f"{col[len('spinnaker_'):]} not recorded", ha="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        bars = ax.bar(range(len(spin)), spin[col].fillna(0),
                      color=[colors[(r.engine, r.system)] for r in spin.itertuples()], edgecolor="black",
                      hatch=[MODELED_HATCH if r.clock == "modeled" else None for r in spin.itertuples()])
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(spin)), names, fontsize=7)
        ax.set_ylabel(label)
        if _wants_log(list(spin[col].dropna())):
            ax.set_yscale("log")
    fig.suptitle(title)
    pairs = sorted({(r.engine, r.system) for r in spin.itertuples()})
    handles = [Patch(facecolor=colors[p], edgecolor="black", label=group_label(*p)) for p in pairs]
    if (spin["clock"] == "modeled").any():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch=MODELED_HATCH,
                             label="modeled (emulated run)"))
    fig.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 0.9))
    png, svg = _save(fig, out_dir, name)
    return Figure("spinnaker", "", None, title, png, svg,
                  "SpiNNaker resources per run: application cores placed, and multicast packets sent per "
                  "training sample.")


def benchmark_figures(collection: Collection, baselines: Baselines, benchmark: str, target: float | None,
                      title: str, out_dir: Path) -> list[Figure]:
    """Every figure of one benchmark, files written under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = colors_for(collection)
    runs = collection.runs
    sel = (runs["benchmark"] == benchmark) & (
        runs["target"].isna() if target is None else (runs["target"] - target).abs() < 1e-12)
    b_runs = runs[sel]
    s = collection.scores
    ssel = (s["benchmark"] == benchmark) & (
        s["target"].isna() if target is None else (s["target"] - target).abs() < 1e-12)
    b_scores = s[ssel]
    base = slug(benchmark, target)
    published_time = baselines.for_benchmark(benchmark, target, "time_to_train")
    published_energy = baselines.for_benchmark(benchmark, target, "energy_to_train")
    made = [
        accuracy_figure(b_runs, f"{title}: accuracy during training", target, colors, out_dir,
                        f"{base}_accuracy"),
        _bar_figure("time", b_scores, b_runs, published_time, f"{title}: time to train", colors, out_dir,
                    f"{base}_time"),
        _bar_figure("energy", b_scores, b_runs, published_energy, f"{title}: energy to train", colors,
                    out_dir, f"{base}_energy")
        if b_runs["energy_j"].notna().any() or len(published_energy) else None,
        spinnaker_figure(b_runs, f"{title}: SpiNNaker resources", colors, out_dir, f"{base}_spinnaker"),
    ]
    figures = [f for f in made if f is not None]
    for f in figures:
        f.benchmark, f.target = benchmark, target
    return figures
