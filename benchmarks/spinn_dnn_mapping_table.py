"""The MNIST workloads mapped by spinn_dnn: cores, chips, routing entries, packets per sample.

Maps each workload under `auto` on one virtual SpiNN-5 board, and 784-300-10
under the thesis prototype's `neuron_per_core` (on one board, where it fails,
then on as many boards as it needs), and prints one row per mapping.

    python benchmarks/spinn_dnn_mapping_table.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MNIST = ("mnist_mlp1", "mnist_mlp2", "mnist_lenet1", "mnist_lenet4", "mnist_lenet5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--npc-all", action="store_true", help="neuron_per_core for every workload")
    args = parser.parse_args()

    import spinn_dnn
    import workloads

    jobs = [(w, "auto", 1) for w in MNIST] + [("mnist_mlp1", "neuron_per_core", 1),
                                               ("mnist_mlp1", "neuron_per_core", None)]
    if args.npc_all:
        jobs += [(w, "neuron_per_core", None) for w in MNIST[1:]]
    rows = []
    head = f"{'workload':14} {'policy':16} {'boards':>6} {'cores':>6} {'chips':>5} {'max rt':>6} " \
           f"{'rt all':>6} {'fwd/smp':>8} {'bwd/smp':>8} {'all/smp':>8} {'recv/smp':>9} {'map s':>6}"
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, policy, boards) in enumerate(jobs):
            model = workloads.get(name).build_model()
            try:
                sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=boards),
                                          policy=policy, run_dir=f"{tmp}/{i}")
            except spinn_dnn.DoesNotFitError as exc:
                print(f"{name:14} {policy:16} {boards!s:>6} does not fit: {exc}")
                rows.append({"workload": name, "policy": policy, "boards": boards, "error": str(exc)})
                continue
            m = sm.mapping
            pk = m.packets_per_sample
            print(f"{name:14} {policy:16} {m.boards:>6} {m.cores:>6} {m.chips:>5} "
                  f"{m.routing_entries_max_per_chip:>6} {m.routing_entries_total:>6} {pk.get('fwd', 0):>8,} "
                  f"{pk.get('bwd', 0):>8,} {sum(pk.values()):>8,} "
                  f"{sum(m.deliveries_per_sample.values()):>9,} "
                  f"{m.mapping_seconds:>6.2f}")
            rows.append({"workload": name, **m.to_json()})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
