"""How long spinn_dnn takes to map a model (default LeNet-5) onto one virtual SpiNN-5 board.

Times `spinn_dnn.from_keras` end to end (import, tiling, the toolchain in its
own process, the data-specification check and the key walk), after one
warm-up mapping, and prints the median and the toolchain's share.

    python benchmarks/spinn_dnn_map_time.py [--workload mnist_lenet5] [--repeats 5] [--policy auto]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="mnist_lenet5")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--policy", default="auto")
    parser.add_argument("--boards", type=int, default=1)
    args = parser.parse_args()

    import spinn_dnn
    import workloads

    model = workloads.get(args.workload).build_model()
    machine = spinn_dnn.VirtualMachine(boards=args.boards)
    with tempfile.TemporaryDirectory() as tmp:
        spinn_dnn.from_keras(model, machine=machine, policy=args.policy, run_dir=f"{tmp}/warmup")
        totals, toolchain = [], []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            sm = spinn_dnn.from_keras(model, machine=machine, policy=args.policy, run_dir=f"{tmp}/run{i}")
            totals.append(time.perf_counter() - t0)
            toolchain.append(sm.toolchain.seconds)
    m = sm.mapping
    print(f"{args.workload} ({args.policy}, {m.cores} cores, {m.chips} chips, {m.boards} board(s)): "
          f"mapping takes {statistics.median(totals):.2f} s median over {args.repeats} "
          f"(min {min(totals):.2f}, max {max(totals):.2f}); the toolchain's process "
          f"{statistics.median(toolchain):.2f} s of it (its imports included)")


if __name__ == "__main__":
    main()
