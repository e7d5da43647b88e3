"""`spinn-dnn map CONFIG|MODEL.keras`: map a model and print (and write) the mapping report.

A benchmark config is loaded with the harness's own `load_config`, so it is
validated exactly as `run-benchmark` validates it; its workload builds the
model.  A saved `.keras` model is mapped with the engine options given on the
command line, checked by the same validation.

Exit codes: 0 mapped (and the key walk passed); 1 the toolchain or the key
walk failed, or a real machine did not answer; 2 bad input (config, option,
unsupported layer, a model that does not fit the machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spinn_dnn.errors import DoesNotFitError, SpinnDnnError, UnsupportedModelError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spinn-dnn", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("map", help="map a model onto a SpiNNaker machine and report cores, chips, routes")
    m.add_argument("source", help="a benchmark config (.yaml) or a saved Keras model (.keras)")
    m.add_argument("--policy", help="auto | neuron_per_core")
    m.add_argument("--boards", type=int, help="virtual SpiNN-5 boards (default: the config's, or enough)")
    m.add_argument("--max-atoms-per-core", type=int, help="auto: cap on atoms per core (power of two)")
    m.add_argument("--in-flight", type=int, help="samples in flight per core")
    m.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="config override, as for run-benchmark")
    m.add_argument("--json", type=Path, help="write the report as JSON here")
    m.add_argument("--run-dir", type=Path, help="folder for the toolchain's config and reports")
    return parser


def _cli_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.policy is not None:
        options["policy"] = args.policy
    if args.boards is not None:
        options["machine"] = {"boards": args.boards}
    if args.max_atoms_per_core is not None:
        options["max_atoms_per_core"] = args.max_atoms_per_core
    if args.in_flight is not None:
        options["in_flight"] = args.in_flight
    return options


def _from_config(args: argparse.Namespace) -> tuple[Any, dict[str, Any], dict[str, float]]:
    import workloads
    from harness.config import load_config

    overrides = list(args.set)
    for key, value in _cli_options(args).items():
        overrides.append(f"engine.options.{key}={json.dumps(value)}")
    config = load_config(args.source, overrides=overrides)
    if config.engine != "spinnaker":
        from spinn_dnn.harness_engine import SpinnakerEngine

        options = SpinnakerEngine.validate_options(_cli_options(args))
    else:
        options = config.engine_options
    model = workloads.get(config.benchmark, config.workload_options).build_model()
    opt = config.recipe["optimizer"]
    optimizer = {"learning_rate": float(opt["learning_rate"]), "momentum": float(opt.get("momentum", 0.0)),
                 "nesterov": int(bool(opt.get("nesterov", False))),
                 "batch_size": int(config.recipe["batch_size"])}
    return model, options, optimizer


def _from_keras_file(args: argparse.Namespace) -> tuple[Any, dict[str, Any], None]:
    import keras

    from spinn_dnn.harness_engine import SpinnakerEngine

    options = SpinnakerEngine.validate_options(_cli_options(args))
    if not Path(args.source).is_file():
        raise FileNotFoundError(f"model file not found: {args.source}")
    return keras.saving.load_model(args.source, compile=False), options, None


def map_command(args: argparse.Namespace) -> int:
    from spinn_dnn.machine import from_options
    from spinn_dnn.model import from_keras

    source = str(args.source)
    loader = _from_keras_file if source.endswith((".keras", ".h5")) else _from_config
    model, options, optimizer = loader(args)
    sm = from_keras(model, machine=from_options(options["machine"]), policy=options["policy"],
                    in_flight=options["in_flight"], optimizer=optimizer, run_dir=args.run_dir,
                    max_atoms_per_core=options.get("max_atoms_per_core"),
                    fuse_pooling=options.get("fuse_pooling", False),
                    error_routing=options.get("error_routing", "per_tile"),
                    taper_in_flight=options.get("taper_in_flight", True))
    print(sm.mapping)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(sm.mapping.dumps() + "\n")
        print(f"report written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.errors import UserInputError

    args = _parser().parse_args(argv)
    try:
        return map_command(args)
    except (UserInputError, UnsupportedModelError, DoesNotFitError, FileNotFoundError) as exc:
        print(f"spinn-dnn: error: {exc}", file=sys.stderr)
        return 2
    except SpinnDnnError as exc:
        print(f"spinn-dnn: mapping failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
