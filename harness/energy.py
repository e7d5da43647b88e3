"""Energy meters: read the joules a run used, and always say where they came from.

`rapl` reads the CPU packages' cumulative counters under /sys/class/powercap,
`nvml` the GPUs' cumulative energy counters through nvidia-ml-py, `none`
reports nothing.  `auto` takes the first that works for the engine's device.
A counter is read at run start and stop; RAPL counters wrap, and the wrap is
undone with the domain's `max_energy_range_uj`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

POWERCAP = Path("/sys/class/powercap")


@dataclass(frozen=True)
class EnergyReading:
    joules: float | None
    source: str  # e.g. "measured: RAPL package-0", "none: no meter readable"
    kind: str  # "measured", "modeled" or "none"

    def as_dict(self) -> dict[str, Any]:
        return {"joules": self.joules, "source": self.source, "kind": self.kind}


class EnergyMeter(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> EnergyReading: ...


class NoMeter:
    name = "none"

    def __init__(self, reason: str = "no meter selected") -> None:
        self.reason = reason

    def start(self) -> None:
        pass

    def stop(self) -> EnergyReading:
        return EnergyReading(None, f"none: {self.reason}", "none")


class RaplMeter:
    """Sum of the package domains' counters (intel-rapl:N, not their subzones)."""

    name = "rapl"

    def __init__(self, root: Path | None = None) -> None:
        root = POWERCAP if root is None else root
        self.domains = sorted(
            d for d in root.glob("intel-rapl:*") if d.name.count(":") == 1
        ) if root.is_dir() else []
        if not self.domains:
            raise OSError(f"no RAPL package domains under {root}")
        for domain in self.domains:  # readable? (often root-only since 2020)
            int((domain / "energy_uj").read_text())
        self._start: list[int] = []

    def _read(self) -> list[int]:
        return [int((d / "energy_uj").read_text()) for d in self.domains]

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> EnergyReading:
        total_uj = 0
        for domain, before, after in zip(self.domains, self._start, self._read(), strict=True):
            if after < before:
                after += int((domain / "max_energy_range_uj").read_text())
            total_uj += after - before
        names = ", ".join((d / "name").read_text().strip() for d in self.domains)
        return EnergyReading(total_uj / 1e6, f"measured: RAPL ({names})", "measured")


class NvmlMeter:
    """Sum over all visible GPUs of nvmlDeviceGetTotalEnergyConsumption (mJ)."""

    name = "nvml"

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            raise OSError("NVML sees no GPU")
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        self.names = [str(pynvml.nvmlDeviceGetName(h)) for h in self.handles]
        self._read()  # raises if the counter is unsupported (pre-Volta)
        self._start: list[int] = []

    def _read(self) -> list[int]:
        return [self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles]

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> EnergyReading:
        total_mj = sum(a - b for a, b in zip(self._read(), self._start, strict=True))
        return EnergyReading(
            total_mj / 1e3, f"measured: NVML energy counter ({', '.join(self.names)})", "measured"
        )


def open_meter(choice: str, device: str) -> EnergyMeter:
    """The meter `choice` names; `auto` takes NVML on a GPU, RAPL on a CPU, else none."""
    if choice == "none":
        return NoMeter("energy.meter is none")
    order = {"rapl": [RaplMeter], "nvml": [NvmlMeter]}.get(choice)
    if order is None:
        order = [NvmlMeter, RaplMeter] if device == "gpu" else [RaplMeter]
    failures = []
    for meter_cls in order:
        try:
            return meter_cls()
        except Exception as exc:  # noqa: BLE001 - any failure means "not readable here"
            failures.append(f"{meter_cls.name}: {exc}")
    if choice != "auto":
        from harness.errors import UserInputError

        raise UserInputError(
            f"energy.meter: {choice!r} is not readable here ({failures[0]}); "
            "use auto or none"
        )
    return NoMeter("no readable meter (" + "; ".join(failures) + ")")
