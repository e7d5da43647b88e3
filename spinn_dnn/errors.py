"""Errors of the SpiNNaker engine, each one a user can act on."""

from __future__ import annotations


class SpinnDnnError(Exception):
    """Base of every error spinn_dnn raises on purpose."""


class UnsupportedModelError(SpinnDnnError):
    """A Keras layer or option the engine cannot train exactly (never approximated)."""


class DoesNotFitError(SpinnDnnError):
    """The model needs more cores (or memory) than the machine has."""


class MappingError(SpinnDnnError):
    """The toolchain failed to place, key or route the graph."""


class KeyWalkError(MappingError):
    """The routing tables do not deliver a key exactly where the graph says."""


class MachineUnavailableError(SpinnDnnError):
    """A real SpiNNaker machine (board address or spalloc server) did not answer."""
