"""A run's checkpoint between epochs: what lets a run continue after its process is gone.

An emulated SpiNNaker run of LeNet-5 or of boosted LeNet-4 takes the host
longer than a working session lasts; without checkpoints every stop (a killed
process, a reboot) throws the hours away.  An engine whose sessions can hand
over their state between epochs (`checkpoint()` / `restore()`) gets one
checkpoint per run, rewritten after every epoch; `run-benchmark --resume`
continues from it.  The benchmark's clock must be one that can be set back to
a reading (a modeled clock): a wall clock's time to train cannot be resumed,
so engines timed by the wall (Keras) never checkpoint.

A checkpoint is a directory beside the run's log: `state.json` (the run's
counters, random state, clock reading and log position), one `session_<k>.npz`
per engine session (an ensemble has one per member), and `member_set.npz`
when the member being trained has its own training set.  It is written to a
fresh directory and swapped in, so a process killed while writing leaves the
previous checkpoint whole.  It is removed when the run finishes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not belong to the run asked for (other seed, recipe or code)."""


@dataclass
class SessionState:
    """An engine session's state: JSON-able values and named arrays."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


@dataclass
class CheckpointData:
    state: dict[str, Any]
    sessions: list[SessionState] = field(default_factory=list)
    member_set: tuple[np.ndarray, np.ndarray] | None = None


class RunCheckpoint:
    """The checkpoint directory of one run (`checkpoint_<run>/` beside `result_<run>.txt`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._new = path.with_name(path.name + ".new")
        self._old = path.with_name(path.name + ".old")

    def _readable(self) -> Path | None:
        for candidate in (self.path, self._old):  # .old: killed between the two renames of `write`
            if (candidate / "state.json").exists():
                return candidate
        return None

    def exists(self) -> bool:
        return self._readable() is not None

    def write(self, data: CheckpointData) -> None:
        """Replace the checkpoint with `data`; at every instant one whole checkpoint is on disk."""
        if not (self.path / "state.json").exists() and (self._old / "state.json").exists():
            self._old.rename(self.path)  # a previous write was killed between its renames
        shutil.rmtree(self._new, ignore_errors=True)
        self._new.mkdir(parents=True)
        for k, session in enumerate(data.sessions):
            _write_synced(self._new / f"session_{k}.npz", lambda f, a=session.arrays: np.savez(f, **a))
            _write_synced(self._new / f"session_{k}.json", lambda f, m=session.meta: f.write(
                json.dumps(m).encode()))
        if data.member_set is not None:
            x, y = data.member_set
            _write_synced(self._new / "member_set.npz", lambda f: np.savez(f, x=x, y=y))
        state = {**data.state, "format": FORMAT, "sessions": len(data.sessions)}
        _write_synced(self._new / "state.json",  # last: marks the directory whole
                      lambda f: f.write(json.dumps(state, indent=1).encode()))
        _sync_dir(self._new)
        shutil.rmtree(self._old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(self._old)
        self._new.rename(self.path)
        _sync_dir(self.path.parent)
        shutil.rmtree(self._old, ignore_errors=True)

    def read(self, fingerprint: dict[str, Any]) -> CheckpointData:
        """The checkpoint, if a run with this `fingerprint` wrote it; else CheckpointMismatchError."""
        where = self._readable()
        if where is None:
            raise FileNotFoundError(f"no checkpoint at {self.path}")
        state = json.loads((where / "state.json").read_text())
        if state.get("format") != FORMAT:
            raise CheckpointMismatchError(f"{where}: checkpoint format {state.get('format')!r}, this version "
                                     f"reads {FORMAT}")
        theirs = state.get("fingerprint", {})
        differ = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
        if differ:
            raise CheckpointMismatchError(
                f"{where} was written by a run with other {', '.join(differ)} "
                f"({'; '.join(f'{k}: {theirs.get(k)!r} there, {fingerprint.get(k)!r} here' for k in differ)})"
                "; a run resumes only with the seed, recipe, workload and code it started with")
        sessions = []
        for k in range(state["sessions"]):
            with np.load(where / f"session_{k}.npz") as arrays:
                sessions.append(SessionState(json.loads((where / f"session_{k}.json").read_text()),
                                             {name: arrays[name] for name in arrays.files}))
        member_set = None
        if (where / "member_set.npz").exists():
            with np.load(where / "member_set.npz") as arrays:
                member_set = (arrays["x"], arrays["y"])
        return CheckpointData(state, sessions, member_set)

    def remove(self) -> None:
        """Delete it; renamed aside first, so a kill midway never leaves a half checkpoint to read."""
        gone = self.path.with_name(self.path.name + ".gone")
        for path in (self.path, self._old):
            if path.exists():
                shutil.rmtree(gone, ignore_errors=True)
                path.rename(gone)
                shutil.rmtree(gone, ignore_errors=True)
        shutil.rmtree(self._new, ignore_errors=True)


def _write_synced(path: Path, write: Any) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prefix_digest(path: Path, length: int) -> str | None:
    """sha256 of a file's first `length` bytes (None if it is shorter): ties a checkpoint to its log."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        data = f.read(length)
    if len(data) < length:
        return None
    digest.update(data)
    return digest.hexdigest()
