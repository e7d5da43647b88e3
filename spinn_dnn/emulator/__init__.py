"""The host emulator of a SpiNNaker machine that runs spinn_dnn's C core programs.

The C side (c_src/emulator, built by `pip install` as `spinn_dnn._emulator`)
models chips with routers driven by the toolchain's routing tables, links
with latency, cores with the spin1 API's callback priorities and queues, a
bounded packet input per core, DTCM budgets, SDRAM and DMA, in modeled cycles
of a 200 MHz ARM968.  This package builds such a machine from a mapping and
reads its counters back:

    from spinn_dnn.emulator import EmulatedMachine
    em = EmulatedMachine.from_mapping(sm.plan, sm.toolchain, programs=lambda tile: "test_echo")
    result = em.run(max_cycles=10**7)
    result.deliveries_by_key()     # key -> cores that received it

Times and counts it reports are modeled, not measured.
"""

from spinn_dnn.emulator.errors import EmulatorError, PacketDroppedError
from spinn_dnn.emulator.machine import CoreSpec, EmulatedMachine, RunResult, available_programs

__all__ = ["CoreSpec", "EmulatedMachine", "EmulatorError", "PacketDroppedError", "RunResult",
           "available_programs"]
