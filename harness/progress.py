"""Progress of a run: a bar on a terminal, one line per epoch elsewhere.

The bar shows samples/s and the latest evaluation accuracy, so a user sees
both that training moves and whether it is getting anywhere.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


class RunProgress:
    """Progress of one network's training within a run."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.bar: tqdm | None = None
        self.accuracy: float | None = None
        self._epoch_samples = 0
        self._epoch_t0 = time.perf_counter()

    def start_epoch(self, epoch: int, max_epochs: int, samples: int) -> None:
        self._epoch_samples = 0
        self._epoch_t0 = time.perf_counter()
        self.epoch, self.max_epochs = epoch, max_epochs
        if self.interactive:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(
                total=samples, unit="samples", unit_scale=True, file=self.stream, leave=False,
                desc=f"{self.label} epoch {epoch}/{max_epochs}", dynamic_ncols=True,
            )
            self._postfix()

    def samples(self, n: int) -> None:
        self._epoch_samples += n
        if self.bar is not None:
            self.bar.update(n)

    def end_epoch(self) -> float:
        """Samples/s of the epoch that just ended (host wall clock)."""
        elapsed = time.perf_counter() - self._epoch_t0
        rate = self._epoch_samples / elapsed if elapsed > 0 else float("nan")
        if not self.interactive:
            print(f"{self.label} epoch {self.epoch}/{self.max_epochs}: "
                  f"{rate:,.0f} samples/s", file=self.stream, flush=True)
        return rate

    def evaluated(self, accuracy: float) -> None:
        self.accuracy = accuracy
        if self.bar is not None:
            self._postfix()
        else:
            print(f"{self.label} epoch {self.epoch}: eval accuracy {accuracy:.4f}",
                  file=self.stream, flush=True)

    def _postfix(self) -> None:
        if self.bar is not None and self.accuracy is not None:
            self.bar.set_postfix_str(f"acc {self.accuracy:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_lines(label: str, stream: TextIO | None = None) -> Callable[[str], None]:
    """A sink for progress lines of work that has no bar (e.g. choosing a member's set)."""
    out = stream or sys.stderr

    def say(line: str) -> None:
        tqdm.write(f"{label} {line}", file=out)
        out.flush()

    return say
