"""Walk every key through the toolchain's routing tables and check where it lands.

For each source tile and partition, every one of its keys leaves its core
and is routed chip by chip the way a SpiNNaker router does it: the first
table entry whose (key & mask) matches decides (cores and links); a packet
that matches nothing continues straight through (default routing) if it came
in on a link, and is dropped if it came from a core on the chip.  The set of
cores each key reaches must be exactly the plan's destination tiles: a key
that reaches a core that does not need it, misses one, loops or is dropped is
a KeyWalkError.  What is checked is the toolchain's own output (placements,
keys and per-chip tables), against the plan the toolchain was given.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from spinn_dnn.errors import KeyWalkError
from spinn_dnn.plan import Plan
from spinn_dnn.toolchain_process import ToolchainResult

MAX_HOPS = 1024


@dataclass
class WalkSummary:
    keys: int  # keys walked
    deliveries: int  # (key, core) receptions
    hops: int  # (key, link) traversals
    default_routed: int  # (key, chip) passes with no matching entry


def _tables(raw: dict) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray, list]]:
    out = {}
    for chip, entries in raw.items():
        keys = np.array([e[0] for e in entries], dtype=np.uint64)
        masks = np.array([e[1] for e in entries], dtype=np.uint64)
        out[chip] = (keys, masks, [(e[2], e[3]) for e in entries])
    return out


def walk(plan: Plan, result: ToolchainResult) -> WalkSummary:
    """Check every (source, partition) key reaches exactly its plan's cores; raise KeyWalkError if not.

    The uncompressed tables are walked, and the compressed ones too when a chip
    needed compression (then those are what a board would load).
    """
    summary = _walk_tables(plan, result, result.tables)
    if result.compressed is not None:
        _walk_tables(plan, result, result.compressed)
    return summary


def _walk_tables(plan: Plan, result: ToolchainResult, raw: dict) -> WalkSummary:
    tables = _tables(raw)
    summary = WalkSummary(0, 0, 0, 0)
    problems: list[str] = []
    # routes that share a source and partition (a ring's gsum and csum) share its keys and packets
    targets: dict[tuple[tuple[str, int], str], set] = {}
    for route in plan.routes:
        targets.setdefault((route.src, route.partition), set()).update(route.dst)
    walked = set()
    for route in plan.routes:
        if (route.src, route.partition) in walked:
            continue
        walked.add((route.src, route.partition))
        src = plan.tile(route.src)
        key, _, n = src.keys[route.partition]
        got = result.keys.get((route.src[0], route.src[1], route.partition))
        if got is None or got[0] != key:
            problems.append(f"{src.label} {route.partition}: toolchain key {got} != plan key {key:#x}")
            continue
        expected = {result.placements[d] for d in targets[(route.src, route.partition)]}
        reached = _walk_keys(np.arange(key, key + n, dtype=np.uint64), result.placements[route.src],
                             tables, result.links, summary, problems, f"{src.label} {route.partition}")
        summary.keys += n
        for core in expected | set(reached):
            hit = reached.get(core)
            n_hit = 0 if hit is None else int(hit.sum())
            if core in expected and n_hit != n:
                problems.append(f"{src.label} {route.partition}: {n - n_hit} of {n} keys miss core {core}")
            elif core not in expected and n_hit:
                problems.append(f"{src.label} {route.partition}: {n_hit} keys reach core {core}, "
                                f"which does not need them")
            summary.deliveries += n_hit
        if len(problems) > 20:
            break
    if problems:
        raise KeyWalkError(f"key walk failed ({len(problems)} problems): " + "; ".join(problems[:10]))
    return summary


def first_entries(tables: dict, chip: tuple[int, int], keys: np.ndarray) -> tuple[np.ndarray, list]:
    """For each key, the index of the first entry of `chip`'s table it matches (-1: none, as a
    SpiNNaker router decides), and that table's (cores, links) per entry."""
    t_keys, t_masks, t_routes = tables.get(chip, (np.zeros(0, np.uint64), np.zeros(0, np.uint64), []))
    if not t_keys.size:
        return np.full(keys.size, -1), t_routes
    match = (keys[:, None] & t_masks[None, :]) == t_keys[None, :]
    return np.where(match.any(axis=1), match.argmax(axis=1), -1), t_routes


def _walk_keys(keys: np.ndarray, source: tuple[int, int, int], tables: dict, links: dict,
               summary: WalkSummary, problems: list[str],
               what: str) -> dict[tuple[int, int, int], np.ndarray]:
    """Cores reached, with which of `keys` reached them (boolean over keys)."""
    reached: dict[tuple[int, int, int], np.ndarray] = {}
    # (chip, link the packets travel along or None if from a local core, indices into keys, hops so far)
    queue = deque([((source[0], source[1]), None, np.arange(keys.size), 0)])
    seen: dict[tuple[tuple[int, int], int | None], np.ndarray] = {}
    while queue:
        chip, direction, idx, hops = queue.popleft()
        if hops > MAX_HOPS:
            problems.append(f"{what}: keys loop (more than {MAX_HOPS} hops) near chip {chip}")
            return reached
        done = seen.setdefault((chip, direction), np.zeros(keys.size, dtype=bool))
        fresh = idx[~done[idx]]
        if fresh.size == 0:
            continue
        done[fresh] = True
        first, t_routes = first_entries(tables, chip, keys[fresh])
        for entry in np.unique(first).tolist():
            sel = fresh[first == entry]
            if entry < 0:
                if direction is None:
                    problems.append(f"{what}: {sel.size} keys dropped at their source chip {chip} (no entry)")
                    continue
                summary.default_routed += sel.size
                out_links: tuple[int, ...] = (direction,)
                cores: tuple[int, ...] = ()
            else:
                cores, out_links = t_routes[entry]
            for p in cores:
                mark = reached.setdefault((chip[0], chip[1], p), np.zeros(keys.size, dtype=bool))
                mark[sel] = True
            for link in out_links:
                neighbour = links.get(chip, {}).get(link)
                if neighbour is None:
                    problems.append(f"{what}: {sel.size} keys sent on missing link {link} of chip {chip}")
                    continue
                summary.hops += sel.size
                queue.append((neighbour, link, sel, hops + 1))
    return reached
