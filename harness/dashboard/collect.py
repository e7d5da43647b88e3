"""Every run under a results tree in one pandas table, and a score per (benchmark, engine, system).

A results tree is what `run-benchmark` writes (harness/results.py):
`<root>/<system>/<benchmark>/run_<i>.json` (run summary), `result_<i>.txt`
(MLPerf log) and `score.json`.  The dashboard reads trees written by other
people's runs, interrupted runs and hand-copied folders, so nothing here
trusts a file: a run whose summary is unreadable, whose log has no `run_stop`,
or whose log and summary disagree is still a row of the table, with its
problem written beside it, and it is never counted as converged.

A run counts towards the score only when it reached the target (summary
`converged`, status `success`, a time to train, and the log's `run_stop`
status `success` where there is a log) and passed MLPerf compliance: that is
what MLPerf's result summarizer counts, and the score is then the olympic
mean of harness.scoring over the counted runs, the others counting as
infinitely slow.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.scoring import olympic_mean, under_way

RUN_FILE = re.compile(r"^run_(\d+)\.json$")
LOG_FILE = re.compile(r"^result_(\d+)\.txt$")

RUN_COLUMNS = [
    "benchmark", "target_metric", "target", "engine", "engine_detail", "system", "run", "seed",
    "status", "finished", "converged", "counted", "epochs", "time_to_train_s", "run_time_s", "clock",
    "host_wall_s", "resumes", "log_time_s", "energy_j", "energy_kind", "energy_source", "samples_per_s",
    "samples_seen", "final_accuracy", "compliance", "compliance_messages", "problems",
    "summary_path", "log_path", "eval_curve", "benchmark_dir", "code_version",
]

SCORE_COLUMNS = [
    "benchmark", "target_metric", "target", "engine", "engine_detail", "system", "clock", "runs",
    "unfinished", "converged", "counted", "score_s", "method", "reason", "min_s", "max_s", "energy_j",
    "energy_kind", "energy_source", "samples_per_s", "final_accuracy", "recorded_score_s",
    "problems",
]


@dataclass
class Collection:
    """What a results tree holds: runs, scores, and what is missing or broken in it."""

    roots: list[Path]
    runs: pd.DataFrame
    scores: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    @property
    def spinnaker_columns(self) -> list[str]:
        """The `spinnaker_*` columns present (SpiNNaker runs add them to their summaries)."""
        return [c for c in self.runs.columns if c.startswith("spinnaker_")]


@dataclass
class LogFacts:
    """What one MLPerf log says about its run, read without the compliance checker."""

    run_start_ms: float | None = None
    run_stop_ms: float | None = None
    status: str | None = None
    benchmark: str | None = None
    seed: Any = None
    clock: str | None = None
    accuracies: list[float] = field(default_factory=list)
    bad_lines: int = 0

    @property
    def time_s(self) -> float | None:
        if self.run_start_ms is None or self.run_stop_ms is None:
            return None
        return (self.run_stop_ms - self.run_start_ms) / 1000.0


def read_log(path: Path) -> LogFacts:
    """Parse the `:::MLLOG` lines of a log; a truncated or garbled line is counted, not fatal."""
    facts = LogFacts()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith(":::MLLOG"):
                continue
            try:
                rec = json.loads(line[len(":::MLLOG"):])
                key, value, meta = rec["key"], rec.get("value"), rec.get("metadata") or {}
                time_ms = float(rec["time_ms"])
            except (ValueError, KeyError, TypeError):
                facts.bad_lines += 1
                continue
            if key == "run_start":
                facts.run_start_ms = time_ms
            elif key == "run_stop":
                facts.run_stop_ms = time_ms
                facts.status = meta.get("status")
            elif key == "submission_benchmark":
                facts.benchmark = value
            elif key == "seed":
                facts.seed = value
            elif key == "spinnbench_clock":
                facts.clock = value
            elif key == "eval_accuracy" and isinstance(value, int | float):
                facts.accuracies.append(float(value))
    return facts


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON from older or foreign writers may hold strings or NaN)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _load_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path.name} missing"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"{path.name} unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(data, dict):
        return None, f"{path.name} is not a JSON object"
    return data, None


def benchmark_dirs(root: Path, exclude: list[Path] | None = None) -> list[Path]:
    """Folders holding runs (`run_<i>.json` or `result_<i>.txt`), skipping archives and the output."""
    excluded = {p.resolve() for p in (exclude or [])}
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (here / d).resolve() not in excluded)
        if any(RUN_FILE.match(n) or LOG_FILE.match(n) for n in filenames):
            found.append(here)
    return sorted(found)


def _flatten_spinnaker(block: Any) -> dict[str, Any]:
    """The scalar fields of a summary's `spinnaker` block as `spinnaker_<key>` columns."""
    if not isinstance(block, dict):
        return {}
    out = {}
    for key, value in block.items():
        if isinstance(value, bool | int | float | str) or value is None:
            out[f"spinnaker_{key}"] = value
    return out


def _run_row(bdir: Path, index: int, score_file: dict[str, Any] | None) -> dict[str, Any]:
    """One run's row: summary first, log as witness; problems listed, never raised."""
    problems: list[str] = []
    summary_path, log_path = bdir / f"run_{index}.json", bdir / f"result_{index}.txt"
    summary, err = _load_json(summary_path)
    if err:
        problems.append(err)
    facts: LogFacts | None = None
    if log_path.exists():
        try:
            facts = read_log(log_path)
        except OSError as exc:
            problems.append(f"{log_path.name} unreadable ({exc})")
    else:
        problems.append(f"{log_path.name} (MLPerf log) missing")
    s = summary or {}
    if facts is not None:
        if facts.bad_lines:
            problems.append(f"{log_path.name}: {facts.bad_lines} unparsable line(s)")
        if facts.run_start_ms is None:
            problems.append(f"{log_path.name} has no run_start")
        elif facts.run_stop_ms is None:
            problems.append(f"{log_path.name} has no run_stop (run did not finish)")

    engine_info = s.get("engine") if isinstance(s.get("engine"), dict) else {}
    engine = engine_info.get("engine") or (score_file or {}).get("engine") or "unknown"
    detail_keys = ("backend", "device", "device_name", "execution", "mode")
    engine_detail = ", ".join(str(engine_info[k]) for k in detail_keys if engine_info.get(k))
    target = s.get("target") if isinstance(s.get("target"), dict) else {}
    energy = s.get("energy") if isinstance(s.get("energy"), dict) else {}
    compliance = s.get("compliance") if isinstance(s.get("compliance"), dict) else None
    status = s.get("status") or ("no summary" if summary is None else "unknown")
    ttt = _number(s.get("time_to_train_s"))

    converged = bool(s.get("converged") is True and status == "success" and ttt is not None)
    if s.get("converged") is True and not converged:
        problems.append("summary says converged but has no success status or time to train")
    if converged and facts is not None and facts.status != "success":
        converged = False
        problems.append(f"log's run_stop status is {facts.status!r}, not 'success'")
    verdict = "not checked" if compliance is None else ("pass" if compliance.get("passed") else "fail")
    counted = converged and verdict == "pass"
    if converged and not counted:
        problems.append(f"reached the target but compliance {verdict}: not counted in the score")
    if under_way(status):
        problems.append(f"summary says {status}: no outcome yet (still in progress, or stopped before "
                        "it finished; --resume continues it)")
    log_time = facts.time_s if facts else None
    if counted and log_time is not None and abs(log_time - ttt) > max(0.01 * ttt, 0.05):
        problems.append(f"log's run_stop - run_start is {log_time:.3f} s, summary says {ttt:.3f} s")

    row: dict[str, Any] = {
        "benchmark": s.get("workload") or s.get("benchmark") or (facts.benchmark if facts else None)
        or bdir.name,
        "target_metric": target.get("metric"),
        "target": _number(target.get("value")),
        "engine": engine,
        "engine_detail": engine_detail,
        "system": s.get("system") or bdir.parent.name,
        "run": index,
        "seed": s.get("seed", facts.seed if facts else None),
        "status": status,
        "finished": not under_way(status),
        "converged": converged,
        "counted": counted,
        "epochs": s.get("epochs"),
        "time_to_train_s": ttt if converged else None,
        "run_time_s": _number(s.get("run_time_s")) or (log_time if facts else None),
        "clock": s.get("clock") or (facts.clock if facts else None) or (score_file or {}).get("clock")
        or "unknown",
        "host_wall_s": _number(s.get("host_wall_s")),
        "resumes": len(s.get("resumed") or []),  # times the run went on from a checkpoint
        "log_time_s": log_time,
        "energy_j": _number(energy.get("joules")),
        "energy_kind": energy.get("kind") or "none",
        "energy_source": energy.get("source") or "not recorded",
        "samples_per_s": _number(s.get("train_samples_per_s")),
        "samples_seen": _number(s.get("train_samples_seen")),
        "final_accuracy": _number(s.get("final_accuracy")),
        "compliance": verdict,
        "compliance_messages": "; ".join(map(str, (compliance or {}).get("messages") or [])),
        "problems": "; ".join(problems),
        "summary_path": str(summary_path) if summary_path.exists() else None,
        "log_path": str(log_path) if log_path.exists() else None,
        "eval_curve": [p for p in s.get("eval_curve") or [] if isinstance(p, dict)],
        "benchmark_dir": str(bdir),
        "code_version": _code_version(s.get("code")),
    }
    if row["final_accuracy"] is None and facts and facts.accuracies:
        row["final_accuracy"] = facts.accuracies[-1]
    spin = _flatten_spinnaker(s.get("spinnaker"))
    if spin and "spinnaker_packets_per_sample" not in spin:
        sent, seen = _number(spin.get("spinnaker_packets_sent")), row["samples_seen"]
        if sent is not None and seen:
            spin["spinnaker_packets_per_sample"] = sent / seen
    row.update(spin)
    return row


def _code_version(code: Any) -> str | None:
    """The run's code as one label (engine digest / harness digest), None if not recorded."""
    if not isinstance(code, dict):
        return None
    return f"{code.get('engine_code')}/{code.get('harness_code')}"


def _score_rows(runs: pd.DataFrame, score_files: dict[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Olympic mean per (benchmark, target, engine, system) over its finished runs, as harness.scoring does.

    Runs still under way (or killed mid-run, to be resumed) are counted apart as
    `unfinished` rather than as runs that missed the target: a long set is
    watched on the dashboard while it runs.
    """
    rows = []
    keys = ["benchmark", "target_metric", "target", "engine", "engine_detail", "system"]
    for key, every_run in runs.groupby(keys, dropna=False, sort=True):
        group = every_run[every_run["finished"]]
        times = [t if c else None for t, c in zip(group["time_to_train_s"], group["counted"], strict=True)]
        score = olympic_mean(times)
        counted = group[group["counted"]]
        kept = _kept_runs(group)
        energies = kept["energy_j"].dropna()
        kinds = sorted(set(kept["energy_kind"])) if len(kept) else sorted(set(every_run["energy_kind"]))
        problems = []
        dirs = sorted(set(every_run["benchmark_dir"]))
        recorded = None
        for d in dirs:
            sf = score_files.get(d)
            if sf is None:
                problems.append(f"{Path(d).name}/score.json missing or unreadable: "
                                "score recomputed from runs")
            else:
                recorded = _number(sf.get("score_s"))
        if score["score_s"] is not None and recorded is not None \
                and abs(recorded - score["score_s"]) > 1e-6 * max(1.0, recorded):
            problems.append(f"score.json says {recorded:.3f} s; recomputed {score['score_s']:.3f} s "
                            "(runs counted only when compliant)")
        versions = set(every_run["code_version"].dropna())
        if len(versions) > 1:
            problems.append(f"runs from {len(versions)} versions of the code (run JSON: code); "
                            "MLPerf scores runs of one")
        bad = int((every_run["problems"] != "").sum())
        if bad:
            problems.append(f"{bad} run(s) with problems")
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "clock": "/".join(sorted(set(every_run["clock"]))),
            "runs": len(group),
            "unfinished": len(every_run) - len(group),
            "converged": int(group["converged"].sum()),
            "counted": int(group["counted"].sum()),
            "score_s": score["score_s"],
            "method": score["method"],
            "reason": score.get("reason"),
            "min_s": counted["time_to_train_s"].min() if len(counted) else None,
            "max_s": counted["time_to_train_s"].max() if len(counted) else None,
            "energy_j": float(energies.mean()) if len(energies) and score["score_s"] is not None else None,
            "energy_kind": "/".join(kinds),
            "energy_source": "; ".join(sorted(set(kept["energy_source"] if len(kept)
                                                  else every_run["energy_source"]))),
            "samples_per_s": _mean(group["samples_per_s"]),
            "final_accuracy": _mean(group["final_accuracy"]),
            "recorded_score_s": recorded,
            "problems": "; ".join(problems),
        })
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _kept_runs(group: pd.DataFrame) -> pd.DataFrame:
    """The runs the olympic mean keeps; MLPerf's energy score averages over the same runs."""
    times = [t if c else math.inf for t, c in zip(group["time_to_train_s"], group["counted"], strict=True)]
    ordered = group.assign(_t=times).sort_values("_t", kind="stable")
    if len(ordered) >= 3:
        ordered = ordered.iloc[1:-1]
    return ordered[ordered["counted"]].drop(columns="_t")


def _mean(series: pd.Series) -> float | None:
    values = series.dropna()
    return float(values.mean()) if len(values) else None


def collect(roots: list[str | Path] | str | Path, exclude: list[Path] | None = None) -> Collection:
    """Read every run under `roots` (result trees); never raises on a broken file."""
    if isinstance(roots, str | Path):
        roots = [roots]
    roots = [Path(r) for r in roots]
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    score_files: dict[str, dict[str, Any] | None] = {}
    for root in roots:
        dirs = benchmark_dirs(root, exclude)
        if not dirs:
            problems.append(f"{root}: no runs found (expected <system>/<benchmark>/run_<i>.json "
                            "and result_<i>.txt, as run-benchmark writes them)")
        for bdir in dirs:
            score_file, err = _load_json(bdir / "score.json")
            score_files[str(bdir)] = score_file
            indices = sorted({int(m.group(1)) for n in os.listdir(bdir)
                              if (m := RUN_FILE.match(n) or LOG_FILE.match(n))})
            for index in indices:
                rows.append(_run_row(bdir, index, score_file))
            system = bdir.parent.name
            if not (bdir.parent.parent / "systems" / f"{system}.json").exists():
                problems.append(f"{bdir.parent.parent / 'systems' / (system + '.json')}: "
                                "system description missing")
    runs = _fill_from_siblings(pd.DataFrame(rows))
    for col in RUN_COLUMNS:
        if col not in runs.columns:
            runs[col] = pd.Series(dtype=object)
    extra = [c for c in runs.columns if c not in RUN_COLUMNS]
    runs = runs[RUN_COLUMNS + sorted(extra)]
    if len(runs):
        runs = runs.sort_values(["benchmark", "target", "engine", "system", "run"],
                                na_position="last").reset_index(drop=True)
    scores = _score_rows(runs, score_files) if len(runs) else pd.DataFrame(columns=SCORE_COLUMNS)
    for _, r in runs[runs["problems"] != ""].iterrows():
        where = Path(r["benchmark_dir"]).relative_to(_root_of(Path(r["benchmark_dir"]), roots))
        problems.append(f"{where}/run {r['run']}: {r['problems']}")
    return Collection(roots=roots, runs=runs, scores=scores, problems=problems)


def _fill_from_siblings(runs: pd.DataFrame) -> pd.DataFrame:
    """A run whose summary is lost still belongs to its folder's set: take target and engine from it.

    Without this a broken run would form a score group of its own (target unknown) instead of
    counting as a non-converged run of the set it belongs to.
    """
    if runs.empty:
        return runs
    for col, missing in (("target", None), ("target_metric", None), ("engine", "unknown"),
                         ("engine_detail", "")):
        for _, idx in runs.groupby("benchmark_dir").groups.items():
            vals = runs.loc[idx, col]
            known = vals[vals.notna() & (vals != missing)] if missing is not None else vals.dropna()
            if len(known):
                fill = known.mode().iloc[0]
                bad = vals.isna() | (vals == missing) if missing is not None else vals.isna()
                runs.loc[bad[bad].index, col] = fill
    return runs


def _root_of(path: Path, roots: list[Path]) -> Path:
    for root in roots:
        try:
            path.relative_to(root)
            return root
        except ValueError:
            continue
    return path.parent
