"""The results tree, written so that a crash never leaves half a file.

    <output>/<system>/<benchmark>/result_<i>.txt   MLPerf log of run i
    <output>/<system>/<benchmark>/run_<i>.json     run summary
    <output>/<system>/<benchmark>/score.json       olympic mean over the runs
    <output>/systems/<system>.json                 MLPerf system description

A benchmark directory holds one set of runs.  Starting a new set moves the
previous one to <output>/.archive/<system>/<benchmark>/<time>/ rather than
deleting or mixing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file in the same directory, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=_jsonable)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class ResultsTree:
    """Paths of one benchmark's results for one system."""

    def __init__(self, root: str | Path, system: str, benchmark: str) -> None:
        self.root = Path(root)
        self.system = system
        self.benchmark = benchmark
        self.benchmark_dir = self.root / system / benchmark

    def log_path(self, run: int) -> Path:
        return self.benchmark_dir / f"result_{run}.txt"

    def summary_path(self, run: int) -> Path:
        return self.benchmark_dir / f"run_{run}.json"

    def checkpoint_path(self, run: int) -> Path:
        return self.benchmark_dir / f"checkpoint_{run}"

    @property
    def score_path(self) -> Path:
        return self.benchmark_dir / "score.json"

    @property
    def rules_path(self) -> Path:
        return self.benchmark_dir / "compliance_rules.yaml"

    @property
    def system_path(self) -> Path:
        return self.root / "systems" / f"{self.system}.json"

    def keep_set(self) -> None:
        """Create the benchmark directory if needed, keeping the runs already in it."""
        self.benchmark_dir.mkdir(parents=True, exist_ok=True)

    def read_summary(self, run: int) -> dict[str, Any] | None:
        """A run's summary (run_<i>.json), or None if that run has none."""
        path = self.summary_path(run)
        return json.loads(path.read_text()) if path.exists() else None

    def start_new_set(self) -> Path | None:
        """Create the benchmark directory; archive a previous set. Returns the archive, if any."""
        archived = None
        if self.benchmark_dir.exists() and any(self.benchmark_dir.iterdir()):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            archived = self.root / ".archive" / self.system / self.benchmark / stamp
            archived.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.benchmark_dir), str(archived))
        self.benchmark_dir.mkdir(parents=True, exist_ok=True)
        return archived
