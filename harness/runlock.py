"""One process per run: a lock file per run index, held while the process lives.

A set can be split over processes (`--only-runs`) and continued (`--resume`);
two processes on the same run would write the same log and checkpoint.  The
locks live outside the benchmark's directory (`<results>/.locks/...`), so
archiving a set does not move them; the OS drops them when a process dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from harness.errors import UserInputError


class RunLocks:
    """Locks on some runs of one benchmark, held until `release` (or the process's end)."""

    def __init__(self, root: Path, system: str, benchmark: str) -> None:
        self.dir = Path(root) / ".locks" / system / benchmark
        self._fds: dict[int, int] = {}

    def acquire(self, indices: list[int]) -> None:
        """Lock each run or raise UserInputError naming the runs another process holds (locking none)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        busy = []
        for index in indices:
            fd = os.open(self.dir / f"run_{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                busy.append(index)
                continue
            self._fds[index] = fd
        if busy:
            self.release()
            raise UserInputError(f"run(s) {', '.join(map(str, busy))} of {self.dir.name} are being run by "
                                 f"another process (locks in {self.dir}); wait for it, or run other indices "
                                 "with --only-runs")

    def release(self) -> None:
        for fd in self._fds.values():
            os.close(fd)  # closing the descriptor drops its lock
        self._fds.clear()
