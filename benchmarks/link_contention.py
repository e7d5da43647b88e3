"""Contention on one link shared by packets that come from different distances.

Three chips in a row, (0,0) - (1,0) - (2,0).  Senders on chip (0,0) send east
twice (two hops to a listener on (2,0)); senders on chip (1,0) send east once.
Both streams share the link (1,0) -> (2,0).  The emulator books a packet's
whole tree when the packet is sent, so that link serves packets in the order
they were sent (filling gaps), not strictly in the order their copies reach
it; the hop-by-hop model before it served first arrivals first.  This prints
the modeled cycles and drops for a few loads, so that builds can be compared:
run it with the build under test first on the path, e.g. from a worktree of an
older commit, `PYTHONPATH=. python /path/to/benchmarks/link_contention.py`.

Usage:
    .venv/bin/python benchmarks/link_contention.py [--loads 2x10,3x20,6x40]
"""

from __future__ import annotations

import argparse
import json
import struct

import spinn_dnn
from spinn_dnn.emulator import CoreSpec, EmulatedMachine

EAST, WEST = 0, 3
MASK = 0xFFFF0000


def _keys_region(outgoing: list[tuple[int, int, int]]) -> bytes:
    """A KEYS region (spinn_dnn/regions.py layout) with outgoing (key, mask, count), no incoming."""
    words = [len(outgoing)]
    for key, mask, count in outgoing:
        words += [0, key, mask, 0, count, count]
    return struct.pack(f"<{len(words) + 1}I", *words, 0)


def run_load(senders_per_chip: int, packets: int) -> dict:
    chips = [(0, 0), (1, 0), (2, 0)]
    links = {(0, 0): {EAST: (1, 0)}, (1, 0): {EAST: (2, 0), WEST: (0, 0)}, (2, 0): {WEST: (1, 0)}}
    far, near = 0x0000_0000, 0x0001_0000  # key blocks of the two-hop and the one-hop senders
    tables = {(0, 0): [(far, MASK, (), (EAST,))],
              (1, 0): [(far, MASK, (), (EAST,)), (near, MASK, (), (EAST,))],
              (2, 0): [(far, MASK, (1,), ()), (near, MASK, (1,), ())]}
    specs = [CoreSpec((x, 0, p), "test_echo", [b"", _keys_region([(base + 0x1000 * p, 0xFFFFFF00, packets)])])
             for x, base in ((0, far), (1, near)) for p in range(1, senders_per_chip + 1)]
    specs.append(CoreSpec((2, 0, 1), "test_echo", [b"", _keys_region([])]))
    r = EmulatedMachine(chips, links, tables, specs, rx_queue=100_000, stop_on_drop=False).run(10**8)
    return {"senders_per_chip": senders_per_chip, "packets_each": packets, "modeled_cycles": r.cycles,
            "received": r.cores[(2, 0, 1)]["received"],
            "dropped_link_busy": sum(v["dropped_link_busy"] for v in r.routers.values())}


def _loads(text: str) -> list[tuple[int, int]]:
    loads = []
    for load in text.split(","):
        parts = load.split("x")
        if not (len(parts) == 2 and all(p.isdigit() for p in parts)
                and 1 <= int(parts[0]) <= 16 and 1 <= int(parts[1]) <= 256):
            raise argparse.ArgumentTypeError(f"{load!r}: give SENDERSxPACKETS, senders 1-16 per chip and "
                                             "packets 1-256 each, e.g. 2x10")
        loads.append((int(parts[0]), int(parts[1])))
    return loads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=_loads, default="2x10,3x20,6x40",
                    help="SENDERSxPACKETS, comma separated (senders per chip 1-16, packets each 1-256)")
    args = ap.parse_args()
    runs = [run_load(s, n) for s, n in args.loads]
    print(json.dumps({"emulator": spinn_dnn.__file__, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
