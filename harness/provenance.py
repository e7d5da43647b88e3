"""Which code produced a run: digests of the code that sets its arithmetic and procedure, and
the git commit where the project is a git checkout.

MLPerf scores a set of runs of one submission's code.  Long sets here are run
over several working sessions, sometimes from snapshots of different commits,
so every run records its code: a score over runs of different code says so
(harness.runner, the dashboard) instead of averaging them silently.

The digests are what a checkpoint must match to be resumed (harness.loop's
run fingerprint); the commit is for people, and is None outside a git checkout
(an installed package), where the digests still hold.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GIT_TIMEOUT_S = 10


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The checkout's commit, and whether tracked files differ from it (None where unknown)."""
    if not (PROJECT_ROOT / ".git").exists():
        return {"git_commit": None, "git_dirty": None}
    commit = _git("rev-parse", "HEAD")
    changes = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if changes is None else bool(changes)}


def code_record(engine_code: str | None, harness_code: str) -> dict[str, Any]:
    """What a run summary and its log record of the code that ran it."""
    return {"engine_code": engine_code, "harness_code": harness_code, **git_state()}


def code_versions(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the runs of a set share their code: the distinct (engine, harness) digests among
    the runs that record them, and the runs that do not (written before runs recorded it)."""
    versions: dict[tuple[Any, Any], list[int]] = {}
    unrecorded = []
    for s in summaries:
        code = s.get("code")
        if not code:
            unrecorded.append(s["run"])
            continue
        versions.setdefault((code.get("engine_code"), code.get("harness_code")), []).append(s["run"])
    return {
        "code_versions": [{"engine_code": e, "harness_code": h, "runs": runs}
                          for (e, h), runs in sorted(versions.items(), key=lambda kv: kv[1])],
        "runs_without_code_record": unrecorded,
        "one_code_version": len(versions) <= 1 if not unrecorded else None,
    }
