"""`run-benchmark CONFIG [--runs N] [--only-runs I,J] [--resume] [--output DIR] [--set K=V ...]`.

Exit codes: 0 every run finished (reached the target or spent its epochs),
1 a run failed or was interrupted, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import signal
import sys

from harness.errors import UserInputError
from workloads.errors import WorkloadError

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run-benchmark",
        description="Train a workload to its quality target, MLPerf style, and record the results.",
    )
    parser.add_argument("config", help="benchmark config (YAML), e.g. configs/mnist_lenet5/keras-cpu.yaml")
    parser.add_argument("--runs", type=int, help="number of runs (overrides runs.count)")
    parser.add_argument("--only-runs", metavar="I,J",
                        help="run only these 0-based run indices of the set (seeds as in the full set), "
                             "keep its other runs, and score every run present: a long set split "
                             "over processes")
    parser.add_argument("--resume", action="store_true",
                        help="continue the set in the results directory: runs with a checkpoint (engines "
                             "with a modeled clock write one after every epoch) go on from it, finished "
                             "runs are kept, the others run")
    parser.add_argument("--output", help="results root directory (overrides output_dir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                        help="override a config field, e.g. --set recipe.batch_size=64 (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from harness.config import load_config
    from harness.runner import run_benchmark

    try:
        if args.runs is not None and args.runs < 1:
            raise UserInputError(f"--runs must be at least 1, got {args.runs}")
        config = load_config(args.config, args.overrides, runs=args.runs, output_dir=args.output)
        signal.signal(signal.SIGTERM, _interrupt)  # `kill`, a session's end: close the log as Ctrl-C does
        outcome = run_benchmark(config, only_runs=_indices(args.only_runs), resume=args.resume)
    except (UserInputError, WorkloadError) as exc:
        print(f"run-benchmark: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("run-benchmark: interrupted; the run's log ends with run_stop aborted and its "
              "partial summary is kept (where it has a checkpoint, --resume continues it)", file=sys.stderr)
        return EXIT_RUN_FAILED
    if outcome.failed:
        bad = [s for s in outcome.summaries if s["status"] in ("failed", "interrupted")]
        for s in bad:
            first_line = (s.get("error") or "").splitlines()[:1]
            print(f"run-benchmark: run {s['run']} {s['status']}: {' '.join(first_line)}",
                  file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _indices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UserInputError(f"--only-runs {text!r}: give run indices as integers, e.g. 3,4") from None


if __name__ == "__main__":
    sys.exit(main())
