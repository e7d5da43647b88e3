"""Where a workload's chip visits come from: chips each packet passes, per layer and kind.

Maps the workload with the real toolchain, then walks every source tile's keys
through the toolchain's routing tables (spinn_dnn.keywalk, as the mapping
checks do) and counts the chips each key visits, its source chip included.
Weighted by the packets each route sends per training sample, this says which
traffic the routers carry: a visit is one router pass in the energy model and
one node of the packet's multicast tree, whose links the emulator books when
the packet is sent (one router event per packet sent, not per visit, since
the emulator times whole trees; benchmarks/emulator_throughput.py counts
events in total).

Usage:
    .venv/bin/python benchmarks/router_hops.py [--workload mnist_lenet5] [--fuse-pooling]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import spinn_dnn  # noqa: E402
import workloads  # noqa: E402
from spinn_dnn import keywalk  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mnist_lenet5")
    ap.add_argument("--fuse-pooling", action="store_true", help="fold pooling layers onto their convolutions")
    args = ap.parse_args()

    import keras

    keras.utils.set_random_seed(1)
    model = workloads.get(args.workload).build_model()
    with tempfile.TemporaryDirectory(prefix="router_hops_") as run_dir:  # nothing reads it after mapping
        sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=run_dir,
                                  fuse_pooling=args.fuse_pooling)
    result, plan = sm.toolchain, sm.plan
    tables = keywalk._tables(result.compressed if result.compressed is not None else result.tables)
    by_kind: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for route in plan.routes:
        key, _, n = plan.tile(route.src).keys[route.partition]
        walked = keywalk.WalkSummary(0, 0, 0, 0)
        problems: list[str] = []
        keywalk._walk_keys(np.arange(key, key + n, dtype=np.uint64), result.placements[route.src], tables,
                           result.links, walked, problems, route.partition)
        if problems:
            raise SystemExit(f"{route.src} {route.partition}: {problems[0]}")
        chips_per_key = (walked.hops + n) / n  # every link crossed, plus the source chip
        row = by_kind[(route.src[0], route.pid)]
        row[0] += route.packets_per_sample
        row[1] += chips_per_key * route.packets_per_sample
    total = sum(events for _, events in by_kind.values())
    print(f"{args.workload}: {plan.n_cores} cores; chip visits per training sample "
          f"(packets x chips visited), by sending layer and kind:")
    print(f"{'layer':>8} {'kind':>6} {'packets':>8} {'chip visits':>14} {'per packet':>10} {'share':>6}")
    for (layer, kind), (packets, events) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print(f"{layer:>8} {kind:>6} {packets:>8} {events:>14.0f} {events / packets:>10.1f} "
              f"{events / total:>6.1%}")
    print(f"{'total':>8} {'':>6} {sum(p for p, _ in by_kind.values()):>8} {total:>14.0f}")
    chips = collections.defaultdict(set)
    for (label, _tile), (x, y, _core) in result.placements.items():
        chips[label].add((x, y))
    print("chips per layer: " + ", ".join(f"{v.label} {len(chips[v.label])}" for v in plan.vertices))


if __name__ == "__main__":
    main()
