"""Export a benchmark's results as an MLPerf Training submission package.

`python -m harness.export RESULTS_ROOT OUT --benchmark resnet [--system S] [--submitter ORG]`
writes the layout `mlperf_logging.package_checker` reads:

    OUT/<submitter>/systems/<system>.json
    OUT/<submitter>/results/<system>/<benchmark>/result_<i>.txt    (the MLPerf logs only)
    OUT/<submitter>/benchmarks/<benchmark>/implementations/spinnbench/  (the code that made them)

and prints the command that checks it.  Only MLPerf logs go into results/:
the package checker counts every file there and warns about any other
(run summaries, scores and derived rules stay in the project's own tree).
Nothing in RESULTS_ROOT is modified.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from harness.errors import UserInputError

ROOT = Path(__file__).resolve().parents[1]
# The code a reader needs to reproduce the logs: harness, workloads, configs of the benchmark.
IMPLEMENTATION_DIRS = ("harness", "workloads")


def _system_names(results_root: Path, benchmark: str) -> list[str]:
    return sorted(p.parent.name for p in results_root.glob(f"*/{benchmark}") if p.is_dir()
                  and not p.parent.name.startswith("."))


def export_package(results_root: str | Path, out: str | Path, benchmark: str,
                   system: str | None = None, submitter: str = "SpiNNBench") -> Path:
    """Copy one system's runs of `benchmark` into a submission package; returns the package folder."""
    results_root, out = Path(results_root), Path(out)
    systems = _system_names(results_root, benchmark)
    if system is None:
        if len(systems) != 1:
            raise UserInputError(f"--system: {results_root} holds {benchmark} for systems "
                                 f"{systems or 'none'}; name one")
        system = systems[0]
    bench_dir = results_root / system / benchmark
    logs = sorted(bench_dir.glob("result_*.txt"), key=lambda p: int(p.stem.split("_")[1]))
    if not logs:
        raise UserInputError(f"no MLPerf logs (result_*.txt) in {bench_dir}; allowed systems: "
                             f"{', '.join(systems) or 'none'}")
    description = results_root / "systems" / f"{system}.json"
    if not description.is_file():
        raise UserInputError(f"system description {description} is missing")

    package = out / submitter
    if package.exists():
        raise UserInputError(f"{package} already exists; choose an empty --output")
    target = package / "results" / system / benchmark
    target.mkdir(parents=True)
    for log in logs:
        shutil.copy2(log, target / log.name)
    (package / "systems").mkdir()
    shutil.copy2(description, package / "systems" / description.name)

    code = package / "benchmarks" / benchmark / "implementations" / "spinnbench"
    for folder in IMPLEMENTATION_DIRS:
        for source in sorted((ROOT / folder).rglob("*.py")):
            dest = code / source.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
    configs = ROOT / "configs" / benchmark
    if configs.is_dir():
        shutil.copytree(configs, code / "configs" / benchmark)
    (code / "README.md").write_text(
        f"# SpiNNBench implementation of {benchmark}\n\n"
        f"Logs in results/{system}/{benchmark} were produced by `run-benchmark` "
        f"(configs under configs/{benchmark}); harness/ and workloads/ are the code that ran.\n"
    )
    return package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.export", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results root written by run-benchmark (output_dir)")
    parser.add_argument("output", help="folder to create the package in (must not hold <submitter>)")
    parser.add_argument("--benchmark", required=True, help="benchmark name, e.g. resnet")
    parser.add_argument("--system", help="system name (default: the only one with this benchmark)")
    parser.add_argument("--submitter", default="SpiNNBench", help="submitting organisation folder")
    args = parser.parse_args(argv)
    try:
        package = export_package(args.results, args.output, args.benchmark, args.system, args.submitter)
    except UserInputError as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 2
    print(f"package: {package}\ncheck it with: python -m mlperf_logging.package_checker {package} "
          "training 4.0.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
