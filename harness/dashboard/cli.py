"""`benchmark-dashboard`: build the static results page, or compare two engines/systems as text.

    benchmark-dashboard RESULTS [RESULTS ...] [--out DIR]
    benchmark-dashboard RESULTS --compare A B

Exit codes: 0 done; 2 bad input (a results folder that does not exist, an
unknown engine or system in --compare, a malformed baselines file), with a
message saying what was wrong.  A results tree with broken or missing files
is not bad input: the page lists what is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from harness.dashboard.baselines import BaselinesError, load_baselines
from harness.dashboard.collect import collect
from harness.dashboard.compare import CompareError, compare, format_table


def build_dashboard(roots: Sequence[str | Path], out_dir: str | Path,
                    baselines_path: str | Path | None = None) -> Path:
    """Collect, plot and write the page; returns the path of index.html."""
    from harness.dashboard.page import benchmark_title, render
    from harness.dashboard.plots import benchmark_figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    collection = collect(list(roots), exclude=[out])
    baselines = load_baselines(baselines_path)
    figures = {}
    keys = sorted({(r.benchmark, r.target) for r in collection.scores.itertuples()}, key=str)
    for bench, target in keys:
        t = target if target == target else None
        figures[(bench, target)] = benchmark_figures(
            collection, baselines, bench, t, benchmark_title(bench, target, baselines), out / "figures")
    return render(collection, baselines, figures, out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark-dashboard",
        description="Results dashboard: every run under a results tree, per benchmark, each engine and "
                    "system side by side with published baselines (static HTML, no server needed).")
    p.add_argument("results", nargs="+", help="results folder(s) written by run-benchmark")
    p.add_argument("--out",
                   help="output folder for index.html and figures (default: <first results>/dashboard)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="print ratios A/B (time, energy, samples/s) between two engines or systems instead")
    p.add_argument("--baselines", help="published baselines file (default: the one shipped with spinnbench)")
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    for root in args.results:
        if not Path(root).is_dir():
            print(f"benchmark-dashboard: results folder {root!r} does not exist or is not a folder",
                  file=sys.stderr)
            return 2
    try:
        if args.compare:
            a, b = args.compare
            table = compare(collect(args.results), a, b)
            print(format_table(table, a, b), file=out)
            return 0
        index = build_dashboard(args.results, args.out or Path(args.results[0]) / "dashboard", args.baselines)
    except (CompareError, BaselinesError) as exc:
        print(f"benchmark-dashboard: {exc}", file=sys.stderr)
        return 2
    print(f"dashboard: {index}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
