"""Prints spinn_dnn.thesis.contrast for each design: the thesis's dropped packets and this engine's none.

Usage:
    .venv/bin/python benchmarks/thesis_error_drops.py [--samples 16] [--designs thesis,npc+tile,project]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spinn_dnn.thesis import DESIGNS, contrast  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--designs", default=",".join(DESIGNS))
    args = ap.parse_args()
    print(json.dumps([contrast(d, args.samples) for d in args.designs.split(",")], indent=2))


if __name__ == "__main__":
    main()
