"""Which code produced a run: digests of the code that sets its arithmetic and procedure, and
the git commit where the project is a git checkout.

MLPerf scores a set of runs of one submission's code.  Long sets here are run
over several working sessions, sometimes from snapshots of different commits,
so every run records its code: a score over runs of different code says so
(harness.runner, the dashboard) instead of averaging them silently.

The digests are what a checkpoint must match to be resumed (harness.loop's
run fingerprint): the engine's covers its Python and C sources, the harness's
only the code that decides a run's data and procedure (workloads/,
harness/loop.py, harness/schedule.py), not the runner, scoring or logging
around them.  The commit is for people, and is None outside a git checkout
(an installed package), where the digests still hold.  It is read once per
process, as the digests are taken once, when the code loads.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GIT_TIMEOUT_S = 10
# Tracked paths that runs write (the results tree): changes there are not changes to the code.
NOT_CODE = ("results",)


def _git(*args: str) -> str | None:
    try:  # no optional locks: a status must not hold the index lock against a user's commit
        done = subprocess.run(["git", "--no-optional-locks", "-C", str(PROJECT_ROOT), *args],
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def git_state() -> dict[str, Any]:
    """The checkout's commit, and whether tracked files outside the results tree differ from it
    (None where unknown); read at the first call in a process."""
    if not (PROJECT_ROOT / ".git").exists():  # a directory, or a file in a worktree
        return {"git_commit": None, "git_dirty": None}
    commit = _git("rev-parse", "HEAD")
    excluded = [f":(exclude){p}" for p in NOT_CODE]
    changes = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded) if commit else None
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
        if not isinstance(code, dict):
            unrecorded.append(s["run"])
            continue
        versions.setdefault((code.get("engine_code"), code.get("harness_code")), []).append(s["run"])
    return {
        "code_versions": [{"engine_code": e, "harness_code": h, "runs": runs}
                          for (e, h), runs in sorted(versions.items(), key=lambda kv: kv[1])],
        "runs_without_code_record": unrecorded,
        # unknown while some runs say nothing, unless those that do already differ
        "one_code_version": False if len(versions) > 1 else (None if unrecorded else True),
    }
