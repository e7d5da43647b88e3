"""Remove the links of routing entries whose copies reach no core.

The toolchain routes some keys out of their chip although every core that
needs them is on it: each middle tile of a convolution's gradient ring sends
its running sums to the next tile, on the same chip as a rule, and the
toolchain's entry for its keys also sent them out on two or three links, to
neighbours whose entries route them nowhere (114 of LeNet-5's 122 ring hops).
Such copies change no result; they take link time from the packets that do
matter, and where links are busy they are what a router drops: a convolution
sending kernel deltas to pooling tiles lost its own ring's packets that way.

`prune` walks every key the plan sends, as keywalk does, marks each (chip,
entry, link) that carries some key on its way to a core that receives it, and
drops the others from the tables.  The entries stay (an entry that now routes
nowhere still keeps its keys from being default-routed on); keywalk.walk on
the pruned tables must then find every key delivered exactly as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spinn_dnn.keywalk import _tables, first_entries
from spinn_dnn.plan import Plan
from spinn_dnn.toolchain_process import ToolchainResult

# hops a key may take before the walk gives up on it (a loop: keywalk.walk, which runs next,
# reports it); below Python's recursion limit, far above any machine's diameter
MAX_HOPS = 256

Table = dict[tuple[int, int], list[tuple[int, int, tuple[int, ...], tuple[int, ...], bool]]]


@dataclass
class PruneSummary:
    links_before: int  # (entry, link) pairs in the tables
    links_removed: int  # of which carried no key to a core that takes it


def _useful_links(plan: Plan, result: ToolchainResult, raw: Table) -> set[tuple[tuple[int, int], int, int]]:
    tables = _tables(raw)
    useful: set[tuple[tuple[int, int], int, int]] = set()

    def visit(chip: tuple[int, int], direction: int | None, keys: np.ndarray, hops: int) -> np.ndarray:
        """Which of `keys` reach a core from here (arriving at `chip` along `direction`)."""
        reached = np.zeros(keys.size, dtype=bool)
        if hops > MAX_HOPS:
            return reached
        first, t_routes = first_entries(tables, chip, keys)
        for entry in np.unique(first).tolist():
            sel = first == entry
            if entry < 0:
                if direction is None:
                    continue  # dropped at its source chip (keywalk reports it)
                cores, out_links = (), (direction,)
            else:
                cores, out_links = t_routes[entry]
            if cores:
                reached |= sel
            for link in out_links:
                neighbour = result.links.get(chip, {}).get(link)
                if neighbour is None:
                    continue
                below = visit(neighbour, link, keys[sel], hops + 1)
                if below.any():
                    if entry >= 0:
                        useful.add((chip, entry, link))
                    idx = np.flatnonzero(sel)
                    reached[idx[below]] = True
        return reached

    walked = set()
    for route in plan.routes:
        if (route.src, route.partition) in walked:
            continue
        walked.add((route.src, route.partition))
        key, _, n = plan.tile(route.src).keys[route.partition]
        x, y, _ = result.placements[route.src]
        visit((x, y), None, np.arange(key, key + n, dtype=np.uint64), 0)
    return useful


def _pruned(plan: Plan, result: ToolchainResult, raw: Table) -> tuple[Table, int, int]:
    useful = _useful_links(plan, result, raw)
    out: Table = {}
    before = removed = 0
    for chip, entries in raw.items():
        kept = []
        for i, (key, mask, cores, links, defaultable) in enumerate(entries):
            keep = tuple(link for link in links if (chip, i, link) in useful)
            before += len(links)
            removed += len(links) - len(keep)
            kept.append((key, mask, cores, keep, defaultable and keep == links))
        out[chip] = kept
    return out, before, removed


def prune(plan: Plan, result: ToolchainResult) -> tuple[ToolchainResult, PruneSummary]:
    """The toolchain's result with dead links taken out of its tables (and out of the compressed
    tables, when a chip needed them); how many there were."""
    tables, before, removed = _pruned(plan, result, result.tables)
    compressed = None
    if result.compressed is not None:
        compressed, before, removed = _pruned(plan, result, result.compressed)
    return (dataclasses.replace(result, tables=tables, compressed=compressed),
            PruneSummary(links_before=before, links_removed=removed))
