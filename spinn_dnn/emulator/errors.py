"""Errors of the emulated execution."""

from __future__ import annotations

from spinn_dnn.errors import SpinnDnnError


class EmulatorError(SpinnDnnError):
    """The emulated machine stopped: a program fault, a bad memory access, or a dropped packet."""


class PacketDroppedError(EmulatorError):
    """A packet was dropped (a core's input was full, or a router had nowhere to send it).

    `core` names the receiving core (its tile label and (x, y, p)), or the router
    whose chip dropped it; `partition` names the sender's tile and partition the
    key belongs to, when the mapping knows it.
    """

    def __init__(self, message: str, core: str, key: int, partition: str | None, cycle: int) -> None:
        super().__init__(message)
        self.core = core
        self.key = key
        self.partition = partition
        self.cycle = cycle
