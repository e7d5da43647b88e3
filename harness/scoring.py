"""MLPerf's score over a set of runs: the olympic mean of the times to train.

The fastest and the slowest run are dropped and the rest averaged.  A run
that did not reach the target counts as infinitely slow, so one such run can
be the dropped slowest; two or more make the score undefined, as in MLPerf.
"""

from __future__ import annotations

import math
from typing import Any

# The status a run summary carries from the run's start until it has an outcome.
UNDER_WAY = "running"
# Statuses of runs with no outcome: still going (or killed outright, so the summary
# still says running), or stopped by Ctrl-C / SIGTERM.  `--resume` continues them.
NO_OUTCOME = (UNDER_WAY, "interrupted")


def under_way(status: object) -> bool:
    """Whether a summary is of a run with no outcome yet: still going, killed or interrupted.

    Such a run neither reached the target nor failed to, so scores leave it out
    rather than count it as missing the target: a long set is scored and
    watched while its runs go on in other processes, and a run stopped by the
    end of a working session is continued later with `--resume`.
    """
    return status in NO_OUTCOME


def olympic_mean(times: list[float | None]) -> dict[str, Any]:
    """Score of run times in seconds (None = did not converge)."""
    values = [math.inf if t is None else float(t) for t in times]
    n = len(values)
    converged = sum(math.isfinite(v) for v in values)
    if n == 0:
        return {"score_s": None, "method": "none", "reason": "no runs", "runs": 0, "converged": 0}
    ordered = sorted(values)
    if n >= 3:
        kept, method = ordered[1:-1], "olympic mean (fastest and slowest dropped)"
    else:
        kept, method = ordered, f"plain mean ({n} run(s): too few to drop fastest and slowest)"
    if not all(math.isfinite(v) for v in kept):
        return {
            "score_s": None,
            "method": method,
            "reason": f"{n - converged} of {n} runs did not reach the target",
            "runs": n,
            "converged": converged,
        }
    return {
        "score_s": sum(kept) / len(kept),
        "method": method,
        "reason": None,
        "runs": n,
        "converged": converged,
        "kept_s": kept,
    }
