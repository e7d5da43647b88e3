"""The dashboard page: one static index.html with tables, figures and links to every run's files.

Static so that it opens from a file system, a cluster's scratch disk or a
paper's supplementary material: no server, no network (no CDN script or font:
the little script it has is inline and only sorts tables and marks images that
failed to load).  Links to logs and summaries are relative, so the results
tree and its dashboard can be moved together.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from harness.dashboard.baselines import Baselines
from harness.dashboard.collect import Collection
from harness.dashboard.plots import Figure

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5em auto;
max-width:1500px;padding:0 1em;color:#1c1c1c;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;white-space:nowrap}td.num{text-align:right;white-space:nowrap}
tr.published td{background:#f4f4f4;font-style:italic}tr.modeled td{background:#fff8ec}
.bad{color:#a00000;font-weight:600}.ok{color:#116611}.muted{color:#666}
.tag{display:inline-block;font-size:.75em;padding:0 .4em;border-radius:.3em;border:1px solid #999;
font-style:normal;margin-left:.3em}.tag.published{background:#e4e4e4}.tag.modeled{background:#ffe3b3}
figure{display:inline-block;margin:.5em 1em 1em 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.8em;color:#444;max-width:760px}
.problems{background:#fff3f3;border:1px solid #e0b0b0;padding:.5em 1.2em}
.problems li{margin:.2em 0;font-size:.9em}.img-failed{outline:3px solid red}
nav a{margin-right:1em}td.notes{min-width:16em;font-size:.92em}.scroll{overflow-x:auto;max-width:100%}
"""

# Sorting by clicking a header, and marking images: every <img> gets data-natural-width once the
# page has loaded (0 means it failed to load, and it is outlined in red for the reader).
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows);
    function key(r){ var c = r.cells[th.cellIndex]; var v = c ? (c.dataset.sort || c.textContent) : '';
      var n = parseFloat(v); return isNaN(n) ? v.toLowerCase() : n; }
    rows.sort(function(a, b){ var x = key(a), y = key(b);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
window.addEventListener('load', function(){
  var failed = 0;
  document.querySelectorAll('img').forEach(function(img){
    var w = img.complete ? img.naturalWidth : 0;
    img.setAttribute('data-natural-width', String(w));
    if (!w) { failed++; img.classList.add('img-failed'); }
  });
  document.body.setAttribute('data-images-checked', String(failed));
});
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def fmt_time(seconds: Any, clock: str | None = None) -> str:
    if not _is_num(seconds):
        return "—"
    text = f"{seconds / 60:.3g} min" if seconds >= 1200 else f"{seconds:.3g} s"
    return f"{text} ({clock})" if clock else text


def fmt_energy(joules: Any, kind: str | None = None) -> str:
    if not _is_num(joules):
        return f"— ({kind})" if kind else "—"
    for factor, unit in ((1e6, "MJ"), (1e3, "kJ")):
        if joules >= factor:
            return f"{joules / factor:.3g} {unit}" + (f" ({kind})" if kind else "")
    return f"{joules:.3g} J" + (f" ({kind})" if kind else "")


def fmt_num(v: Any, digits: int = 3) -> str:
    if not _is_num(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


def _td(text: str, sort: Any = None, cls: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    if _is_num(sort):
        attrs += f' data-sort="{sort!r}"'
    return f"<td{attrs}>{text}</td>"


def _link(path: str | None, out_dir: Path, label: str) -> str:
    if not isinstance(path, str) or not path:
        return '<span class="bad">missing</span>'
    rel = os.path.relpath(path, out_dir)
    return f'<a href="{esc(quote(Path(rel).as_posix()))}">{esc(label)}</a>'


def benchmark_title(benchmark: str, target: Any, baselines: Baselines) -> str:
    """`mnist_lenet5 (LeNet-5), target accuracy 0.9905`: names the model where a published row does."""
    name = baselines.workload_name(benchmark, target if _is_num(target) else None)
    if not name:
        head = benchmark
    elif name.startswith(benchmark):
        head = name
    else:
        head = f"{benchmark}: {name}"
    return f"{head}, target {target:g}" if _is_num(target) else head


def _anchor(benchmark: str, target: Any) -> str:
    return "b-" + "".join(ch if ch.isalnum() else "-" for ch in f"{benchmark}-{target}")


def _scores_table(scores: pd.DataFrame, published: pd.DataFrame) -> str:
    head = ("<tr><th>engine</th><th>system</th><th>kind</th><th>runs</th><th>converged</th>"
            "<th>time to train (olympic mean)</th><th>spread (converged runs)</th><th>energy to train</th>"
            "<th>samples/s</th><th>mean final accuracy</th><th>notes</th></tr>")
    rows = []
    for s in scores.itertuples():
        modeled = "modeled" in str(s.clock)
        kind = ('measured<span class="tag modeled">modeled clock</span>' if modeled else "measured")
        conv_cls = "ok" if s.converged == s.runs else "bad"
        score = fmt_time(s.score_s, s.clock) if _is_num(s.score_s) else (
            f'<span class="bad">no score: {esc(s.reason)}</span>')
        spread = (f"{fmt_time(s.min_s)} – {fmt_time(s.max_s)}" if _is_num(s.min_s) else "—")
        energy = fmt_energy(s.energy_j, s.energy_kind)
        if not _is_num(s.energy_j):
            energy = f'<span class="muted" title="{esc(s.energy_source)}">— ({esc(s.energy_kind)})</span>'
        rows.append(
            f'<tr class="{"modeled" if modeled else "measured"}">'
            + f'<td title="{esc(s.engine_detail)}">{esc(s.engine)}</td>'
            + _td(esc(s.system)) + _td(kind) + _td(str(s.runs), s.runs, "num")
            + _td(f'<span class="{conv_cls}">{s.converged} of {s.runs}</span>'
                  + (f" ({s.counted} counted)" if s.counted != s.converged else "")
                  + (f" (+{s.unfinished} under way or interrupted)" if s.unfinished else ""),
                  s.converged, "num")
            + _td(score, s.score_s, "num") + _td(spread, s.min_s, "num")
            + _td(energy, s.energy_j, "num") + _td(fmt_num(s.samples_per_s), s.samples_per_s, "num")
            + _td(fmt_num(s.final_accuracy, 4), s.final_accuracy, "num")
            + _td(esc(s.problems), cls="notes") + "</tr>")
    for p in published.itertuples():
        value = p.value_canonical
        as_published = f"{p.value:g} {p.unit}"
        time_txt = as_published if p.metric == "time_to_train" else "—"
        energy_txt = as_published if p.metric == "energy_to_train" else "—"
        sps = fmt_num(value) + (f" per {p.per}" if isinstance(p.per, str) else "") \
            if p.metric == "samples_per_s" else "—"
        if isinstance(p.low, float) and p.low == p.low:
            rng = f" (range {p.low:g}–{p.high:g} {p.unit})"
            time_txt += rng if p.metric == "time_to_train" else ""
            energy_txt += rng if p.metric == "energy_to_train" else ""
        rnd = f"MLPerf {p.round}; " if isinstance(p.round, str) else ""
        tgt = f"target {p.target:g}; " if _is_num(p.target) else ""
        rows.append(
            '<tr class="published">' + _td("—") + _td(esc(p.system))
            + _td('<span class="tag published">published</span>') + _td("—") + _td("—")
            + _td(time_txt, value if p.metric == "time_to_train" else None, "num") + _td("—")
            + _td(energy_txt, value if p.metric == "energy_to_train" else None, "num")
            + _td(sps, value if p.metric == "samples_per_s" else None, "num") + _td("—")
            + _td(esc(f"{rnd}{tgt}source: {p.source}"), cls="notes") + "</tr>")
    return _table(head, rows)


def _table(head: str, rows: list[str]) -> str:
    """A sortable table in a box that scrolls sideways rather than pushing the page wider."""
    return (f'<div class="scroll"><table class="sortable"><thead>{head}</thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _paper_table(runs: pd.DataFrame, paper: pd.DataFrame) -> str:
    """MNIST: the paper's test error beside each engine and system's measured final error."""
    err = paper[paper["metric"] == "test_error"]
    if err.empty:
        return ""
    r = err.iloc[0]
    macs = paper[paper["metric"] == "macs_per_sample"]
    macs_txt = f"{macs.iloc[0]['value']:,.0f}" if len(macs) else "—"
    head = ("<tr><th>model</th><th>engine</th><th>system</th><th>test error</th><th>MACs per sample</th>"
            "<th>source</th></tr>")
    rows = [f'<tr class="published"><td>{esc(r["model"])}</td><td>—</td><td>{esc(r["system"])}</td>'
            f'<td class="num">{r["value"]:g}%<span class="tag published">published</span></td>'
            f'<td class="num">{macs_txt}</td><td>{esc(r["source"])}</td></tr>']
    for (engine, system), g in runs.groupby(["engine", "system"], sort=True):
        final = g["final_accuracy"].dropna()
        if not len(final):
            continue
        rows.append(f"<tr><td>{esc(r['model'])}</td><td>{esc(engine)}</td><td>{esc(system)}</td>"
                    f'<td class="num">{100 * (1 - final.mean()):.2f}% (mean of {len(final)} run(s), '
                    f"best {100 * (1 - final.max()):.2f}%; last evaluation of each run)</td>"
                    "<td>—</td><td>measured here</td></tr>")
    return _table(head, rows)


def _resumed(resumes: object) -> str:
    """A note on a run that went on from checkpoints (its modeled time differs by ms per resume)."""
    if not _is_num(resumes) or not resumes:
        return ""
    return (f' <span class="muted" title="continued from a checkpoint {int(resumes)} time(s) '
            f'(run-benchmark --resume)">resumed ×{int(resumes)}</span>')


def _runs_table(runs: pd.DataFrame, out_dir: Path, spin_cols: list[str]) -> str:
    spin_head = "".join(f"<th>{esc(c[len('spinnaker_'):].replace('_', ' '))}</th>" for c in spin_cols)
    head = ("<tr><th>engine</th><th>system</th><th>run</th><th>seed</th><th>status</th><th>converged</th>"
            "<th>epochs</th><th>time to train</th><th>run time</th><th>energy</th><th>samples/s</th>"
            f"<th>final accuracy</th><th>compliance</th>{spin_head}<th>problems</th><th>files</th></tr>")
    rows = []
    for r in runs.itertuples():
        conv = '<span class="ok">yes</span>' if r.converged else '<span class="bad">no</span>'
        comp_cls = {"pass": "ok", "fail": "bad"}.get(r.compliance, "muted")
        comp = f'<span class="{comp_cls}" title="{esc(r.compliance_messages)}">{esc(r.compliance)}</span>'
        energy = fmt_energy(r.energy_j, r.energy_kind) if _is_num(r.energy_j) else (
            f'<span class="muted" title="{esc(r.energy_source)}">— ({esc(r.energy_kind)})</span>')
        spin = "".join(_td(fmt_num(getattr(r, c)), getattr(r, c), "num") for c in spin_cols)
        files = _link(r.log_path, out_dir, "log") + " · " + _link(r.summary_path, out_dir, "summary")
        rows.append(
            f'<tr class="{"modeled" if r.clock == "modeled" else ""}">' + _td(esc(r.engine))
            + _td(esc(r.system)) + _td(str(r.run), r.run, "num") + _td(esc(r.seed))
            + _td(esc(r.status) + _resumed(r.resumes), cls="" if r.status == "success" else "bad")
            + _td(conv)
            + _td(esc(r.epochs)) + _td(fmt_time(r.time_to_train_s, r.clock), r.time_to_train_s, "num")
            + _td(fmt_time(r.run_time_s), r.run_time_s, "num") + _td(energy, r.energy_j, "num")
            + _td(fmt_num(r.samples_per_s), r.samples_per_s, "num")
            + _td(fmt_num(r.final_accuracy, 4), r.final_accuracy, "num") + _td(comp) + spin
            + _td(f'<span class="bad">{esc(r.problems)}</span>' if r.problems else "") + _td(files) + "</tr>")
    return _table(head, rows)


def _figures_html(figures: list[Figure], out_dir: Path) -> str:
    parts = []
    for f in figures:
        png = quote(Path(os.path.relpath(f.png, out_dir)).as_posix())
        svg = quote(Path(os.path.relpath(f.svg, out_dir)).as_posix())
        parts.append(f'<figure><img src="{esc(png)}" alt="{esc(f.title)}"><figcaption>{esc(f.caption)} '
                     f'<a href="{esc(svg)}">SVG</a> · <a href="{esc(png)}">PNG</a></figcaption></figure>')
    return "\n".join(parts)


def render(collection: Collection, baselines: Baselines, figures: dict[tuple[str, Any], list[Figure]],
           out_dir: Path) -> Path:
    """Write out_dir/index.html for `collection`; figures keyed by (benchmark, target)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, scores = collection.runs, collection.scores
    roots = ", ".join(str(r) for r in collection.roots)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    keys = sorted({(r.benchmark, r.target) for r in scores.itertuples()},
                  key=lambda k: (str(k[0]), k[1] if _is_num(k[1]) else -1))
    body = [f"<h1>SpiNNBench results</h1><p class=\"muted\">Built {esc(stamp)} from {esc(roots)}: "
            f"{len(runs)} run(s), {len(keys)} benchmark(s), {len(scores)} engine/system set(s). "
            f"Published baselines: version {esc(baselines.version)} ({esc(Path(baselines.path).name)}).</p>"]
    body.append("<p>Time to train is <code>run_stop − run_start</code> of the MLPerf log with the target "
                "reached; "
                "the score is the olympic mean over runs (fastest and slowest dropped; one run that did not "
                "converge may be the dropped slowest, two or more leave no score). Rows marked "
                '<span class="tag modeled">modeled</span> come from a device model (emulated SpiNNaker), '
                'not a measurement; rows marked <span class="tag published">published</span> were not '
                "measured by this project.</p>")
    if keys:
        links = [f'<a href="#{_anchor(*k)}">{esc(benchmark_title(k[0], k[1], baselines))}</a>' for k in keys]
        body.append("<nav>" + "".join(links) + '<a href="#baselines">published baselines</a></nav>')
    if runs.empty:
        body.append('<div class="problems"><p><strong>No runs found.</strong> Nothing under '
                    f"{esc(roots)} looks like a run: the dashboard expects "
                    "<code>&lt;system&gt;/&lt;benchmark&gt;/run_&lt;i&gt;.json</code> and "
                    "<code>result_&lt;i&gt;.txt</code>, as <code>run-benchmark</code> writes them. "
                    "Run a benchmark first, e.g. "
                    "<code>run-benchmark configs/mnist_lenet5/keras-cpu.yaml</code>."
                    "</p></div>")
    if collection.problems:
        body.append('<h2 id="missing">What is missing or broken</h2><ul class="problems">'
                    + "".join(f"<li>{esc(p)}</li>" for p in collection.problems) + "</ul>")
    for bench, target in keys:
        sel = (scores["benchmark"] == bench) & (
            scores["target"].isna() if not _is_num(target) else (scores["target"] - target).abs() < 1e-12)
        rsel = (runs["benchmark"] == bench) & (
            runs["target"].isna() if not _is_num(target) else (runs["target"] - target).abs() < 1e-12)
        b_runs = runs[rsel]
        t = target if _is_num(target) else None
        published = baselines.for_benchmark(bench, t)
        shown = published[published["metric"].isin(["time_to_train", "energy_to_train", "samples_per_s"])]
        title = esc(benchmark_title(bench, target, baselines))
        body.append(f'<h2 id="{_anchor(bench, target)}">{title}</h2>')
        body.append(_scores_table(scores[sel], shown))
        body.append(_paper_table(b_runs, published))
        figs = figures.get((bench, target), [])
        body.append(_figures_html(figs, out_dir))
        kinds = {f.kind for f in figs}
        missing = []
        if "time" not in kinds:
            missing.append("no time-to-train figure: no run reached the target and no published time exists")
        if "energy" not in kinds:
            sources = sorted(set(b_runs["energy_source"]))
            missing.append("no energy figure: no run recorded energy (" + "; ".join(sources) + ")")
        if missing:
            body.append("<ul>" + "".join(f'<li class="muted">{esc(m)}</li>' for m in missing) + "</ul>")
        spin_cols = [c for c in collection.spinnaker_columns if b_runs[c].notna().any()]
        body.append("<h3>Runs</h3>" + _runs_table(b_runs, out_dir, spin_cols))
    body.append('<h2 id="baselines">Published baselines</h2>'
                f"<p>From <code>{esc(Path(baselines.path).name)}</code>, version {esc(baselines.version)}"
                f"{' (' + esc(baselines.updated) + ')' if baselines.updated else ''}. None of these was "
                "measured by this project.</p>" + _baselines_table(baselines))
    page = ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>SpiNNBench results</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(b for b in body if b) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    path = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _baselines_table(baselines: Baselines) -> str:
    rows = []
    for p in baselines.table.itertuples():
        rows.append("<tr>" + _td(esc(p.benchmark)) + _td(esc(p.model if isinstance(p.model, str) else ""))
                    + _td(esc(p.system)) + _td(esc(p.round if isinstance(p.round, str) else ""))
                    + _td(esc(p.metric.replace("_", " ")))
                    + _td(f"{p.value:g} {esc(p.unit)}" + (f" per {esc(p.per)}" if isinstance(p.per, str)
                                                           else ""), p.value, "num")
                    + _td(f"{p.target:g}" if _is_num(p.target) else "—", p.target, "num")
                    + _td(esc(p.source)) + "</tr>")
    return ('<table class="sortable"><thead><tr><th>benchmark</th><th>model</th><th>system</th><th>round</th>'
            "<th>metric</th><th>value</th><th>target</th><th>source</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
