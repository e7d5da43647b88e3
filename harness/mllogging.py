"""One MLPerf log per run, written through `mlperf_logging.mllog`.

Each run gets its own `logging.Logger` and `MLLogger`: the package's shared
logger (`mllog.config(filename=...)`) keeps adding file handlers, so a second
run would write every line twice.  Timestamps come from the engine's clock,
so an emulated device's modeled time lands in the log the checker reads.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlperf_logging.mllog.mllog import MLLogger

from harness.engines.base import Clock

_ids = itertools.count()


@dataclass(frozen=True)
class LogPosition:
    """A log's length in bytes and its time origin: enough to continue it after a restart."""

    length: int
    origin_clock_s: float
    origin_unix_ms: float


class RunLog:
    """The MLPerf log of one run, timestamped by `clock`."""

    def __init__(self, path: Path, clock: Clock, resume: LogPosition | None = None) -> None:
        """A new log at `path`; or, with `resume`, the log cut back to that position and continued.

        A resumed log keeps its time origin, so timestamps go on from the
        checkpoint's clock reading as if the run had never stopped; what the
        interrupted process wrote after the checkpoint (a partial epoch, its
        `run_stop aborted`) is cut off.
        """
        self.path = path
        self.clock = clock
        if resume is None:
            self._origin_clock = clock.now_s()
            self._origin_unix_ms = time.time() * 1000.0
        else:
            size = path.stat().st_size if path.exists() else -1
            if size < resume.length:
                raise ValueError(f"{path}: {size} bytes, shorter than the checkpoint's {resume.length}; "
                                 "the log does not belong to this checkpoint")
            with open(path, "r+b") as f:
                f.truncate(resume.length)
            self._origin_clock, self._origin_unix_ms = resume.origin_clock_s, resume.origin_unix_ms
        self._logger = logging.getLogger(f"spinnbench.mllog.{next(_ids)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(path, mode="w" if resume is None else "a")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)
        self._mllogger = MLLogger(logger=self._logger, default_stack_offset=2)
        self.closed = False

    def now_ms(self) -> float:
        """The clock's time as Unix milliseconds (anchored when the log was opened)."""
        return self._origin_unix_ms + (self.clock.now_s() - self._origin_clock) * 1000.0

    def event(self, key: str, value: Any = None, metadata: dict | None = None) -> None:
        self._mllogger.event(key, value, metadata=metadata, time_ms=self.now_ms())

    def start(self, key: str, value: Any = None, metadata: dict | None = None) -> None:
        self._mllogger.start(key, value, metadata=metadata, time_ms=self.now_ms())

    def end(self, key: str, value: Any = None, metadata: dict | None = None) -> None:
        self._mllogger.end(key, value, metadata=metadata, time_ms=self.now_ms())

    def position(self) -> LogPosition:
        """Where the log stands now (flushed): what a checkpoint records to resume it."""
        self._handler.flush()
        os.fsync(self._handler.stream.fileno())
        return LogPosition(self.path.stat().st_size, self._origin_clock, self._origin_unix_ms)

    def close(self) -> None:
        if not self.closed:
            self._handler.flush()
            self._handler.close()
            self._logger.removeHandler(self._handler)
            self.closed = True
