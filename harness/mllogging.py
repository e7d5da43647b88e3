"""One MLPerf log per run, written through `mlperf_logging.mllog`.

Each run gets its own `logging.Logger` and `MLLogger`: the package's shared
logger (`mllog.config(filename=...)`) keeps adding file handlers, so a second
run would write every line twice.  Timestamps come from the engine's clock,
so an emulated device's modeled time lands in the log the checker reads.
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Any

from mlperf_logging.mllog.mllog import MLLogger

from harness.engines.base import Clock

_ids = itertools.count()


class RunLog:
    """The MLPerf log of one run, timestamped by `clock`."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._origin_clock = clock.now_s()
        self._origin_unix_ms = time.time() * 1000.0
        self._logger = logging.getLogger(f"spinnbench.mllog.{next(_ids)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(path, mode="w")
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

    def close(self) -> None:
        if not self.closed:
            self._handler.flush()
            self._handler.close()
            self._logger.removeHandler(self._handler)
            self.closed = True
