"""Where a plan is mapped: a virtual SpiNN-5 machine, a board by address, or spalloc.

All three produce the toolchain's config file; the same mapping code runs
behind each.  Only the virtual machine can be used on a host with no board.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Application cores the toolchain leaves on one virtual SpiNN-5 board (48 chips,
# 18 cores each, less the monitor and the extra monitor per chip and the
# Ethernet gatherers), as 7.4.1 reports it.
CORES_PER_BOARD = 759
CHIPS_PER_BOARD = 48


@dataclass(frozen=True)
class VirtualMachine:
    """Virtual SpiNN-5 boards (version 5); boards=None picks enough for the model."""

    boards: int | None = None

    def cfg(self, boards_needed: int) -> tuple[str, int]:
        return "virtual_board = True\nversion = 5\n", self.boards or boards_needed

    @property
    def virtual(self) -> bool:
        return True


@dataclass(frozen=True)
class BoardMachine:
    """A physical SpiNN-5 board (or a multi-board system) reached at `host`."""

    host: str
    bmp: str | None = None

    def cfg(self, boards_needed: int) -> tuple[str, int]:
        text = f"virtual_board = False\nversion = 5\nmachine_name = {self.host}\n"
        if self.bmp:
            text += f"bmp_names = {self.bmp}\n"
        return text, boards_needed

    @property
    def virtual(self) -> bool:
        return False


@dataclass(frozen=True)
class SpallocMachine:
    """Boards allocated by a spalloc server (e.g. SpiNNaker1M's)."""

    server: str
    boards: int | None = None
    user: str | None = None

    def cfg(self, boards_needed: int) -> tuple[str, int]:
        text = f"virtual_board = False\nversion = 5\nspalloc_server = {self.server}\n"
        if self.user:
            text += f"spalloc_user = {self.user}\n"
        return text, self.boards or boards_needed

    @property
    def virtual(self) -> bool:
        return False


Machine = VirtualMachine | BoardMachine | SpallocMachine


def boards_for(cores: int) -> int:
    return max(1, math.ceil(cores / CORES_PER_BOARD))


def from_options(options: dict) -> Machine:
    """The machine an engine option block names: {boards: N} | {host: H} | {spalloc: URL, boards: N}."""
    if "host" in options:
        return BoardMachine(options["host"], options.get("bmp"))
    if "spalloc" in options:
        return SpallocMachine(options["spalloc"], options.get("boards"), options.get("user"))
    return VirtualMachine(options.get("boards"))
