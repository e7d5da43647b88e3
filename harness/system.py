"""The MLPerf system description of the machine a benchmark ran on.

A config names the system and may set any field of MLPerf's system JSON;
the rest is read off the host, so the file always passes MLPerf's system
description checker and never claims hardware that is not there.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from harness.schema import SYSTEM_FIELDS

# MLPerf's availability categories and the log's submission_status for each.
STATUS_TO_LOG = {
    "Available on-premise": "onprem",
    "Available cloud": "cloud",
    "Research, Development, or Internal (RDI)": "research",
    "Preview": "preview",
}


def _cpuinfo(field: str) -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        return f"{kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def host_description(engine_provenance: dict[str, Any]) -> dict[str, Any]:
    """Every MLPerf system field, filled from this host and the engine's provenance."""
    cpus = os.cpu_count() or 0
    mhz = _cpuinfo("cpu MHz")
    framework = " ".join(
        str(engine_provenance[k]) for k in ("engine", "backend", "backend_version")
        if k in engine_provenance
    )
    on_gpu = engine_provenance.get("device") == "gpu"
    return {
        "submitter": "SpiNNBench",
        "division": "closed",
        "status": "Research, Development, or Internal (RDI)",
        "system_name": "",
        "number_of_nodes": 1,
        "host_processors_per_node": 1,
        "host_processor_model_name": _cpuinfo("model name") or platform.processor() or "unknown",
        "host_processor_core_count": cpus,
        "host_processor_vcpu_count": cpus,
        "host_processor_frequency": f"{float(mhz):.0f} MHz" if mhz else "unknown",
        "host_processor_caches": _cpuinfo("cache size") or "unknown",
        "host_processor_interconnect": "",
        "host_memory_capacity": _memory_gib(),
        "host_storage_type": "unknown",
        "host_storage_capacity": "unknown",
        "host_networking": "",
        "host_networking_topology": "",
        "host_memory_configuration": "",
        "accelerators_per_node": 1 if on_gpu else 0,
        "accelerator_model_name": engine_provenance.get("device_name", "") if on_gpu else "",
        "accelerator_host_interconnect": "",
        "accelerator_frequency": "",
        "accelerator_on-chip_memories": "",
        "accelerator_memory_configuration": "",
        "accelerator_memory_capacity": "",
        "accelerator_interconnect": "",
        "accelerator_interconnect_topology": "",
        "cooling": "",
        "hw_notes": "",
        "framework": framework,
        "other_software_stack": f"Python {platform.python_version()}",
        "operating_system": f"{platform.system()} {platform.release()}",
        "sw_notes": "",
    }


def system_description(config_system: dict[str, Any], engine_provenance: dict[str, Any]) -> dict:
    """The host's description with the config's fields laid over it."""
    description = host_description(engine_provenance)
    description.update({k: v for k, v in config_system.items() if k in SYSTEM_FIELDS})
    # MLPerf's files hold every field as a string (its checker joins them as text).
    return {k: str(v) for k, v in description.items()}


def check_system_description(path: str) -> bool:
    """MLPerf's own system description checker on the written file."""
    from mlperf_logging.system_desc_checker.system_desc_checker import check_system_desc

    valid, *_ = check_system_desc(path, "training", "4.0.0")
    return bool(valid)
