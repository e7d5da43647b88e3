"""The SpiNNaker training engine: Keras model in, trained Keras weights out.

Part 1 (this package so far): import a Keras model, split its layers into
tiles that fit one core, and place, key and route them with the SpiNNaker
toolchain on a virtual (or real) machine, with every core's memory image
generated through the toolchain's data specification:

    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1))
    print(sm.mapping)          # cores, chips, routing entries, memory, packets per layer
    sm.get_weights()           # Keras order, read back from the cores' images

Importing this package imports neither Keras nor the toolchain.
"""

from spinn_dnn.errors import (
    DoesNotFitError,
    KeyWalkError,
    MachineUnavailableError,
    MappingError,
    SpinnDnnError,
    UnsupportedModelError,
)
from spinn_dnn.machine import BoardMachine, SpallocMachine, VirtualMachine
from spinn_dnn.model import SpiNNakerModel, fit, from_keras, plan_model

__all__ = [
    "BoardMachine", "DoesNotFitError", "KeyWalkError", "MachineUnavailableError", "MappingError",
    "SpallocMachine", "SpiNNakerModel", "SpinnDnnError", "UnsupportedModelError", "VirtualMachine",
    "fit", "from_keras", "plan_model",
]
