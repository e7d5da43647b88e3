"""The JSON schema every benchmark config is validated against.

Kept as data so that the error messages (key path, allowed keys, allowed
values) come from one place and the README can quote it.
"""

from __future__ import annotations

from typing import Any

_NUMBER = {"type": "number"}
_POS_INT = {"type": "integer", "minimum": 1}
_NONNEG_INT = {"type": "integer", "minimum": 0}

OPTIMIZER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "learning_rate"],
    "properties": {
        "name": {"enum": ["sgd", "adam", "lars"]},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0},
        "momentum": {"type": "number", "minimum": 0, "maximum": 1},
        "nesterov": {"type": "boolean"},
        "beta_1": {"type": "number", "minimum": 0, "maximum": 1},
        "beta_2": {"type": "number", "minimum": 0, "maximum": 1},
        "epsilon": {"type": "number", "minimum": 0},
        "weight_decay": {"type": "number", "minimum": 0},
        "eta": {"type": "number", "exclusiveMinimum": 0},  # LARS trust coefficient
    },
}

# Which optimizer keys each optimizer takes (the schema admits their union).
OPTIMIZER_KEYS = {
    "sgd": {"momentum", "nesterov", "weight_decay"},
    "adam": {"beta_1", "beta_2", "epsilon"},
    "lars": {"momentum", "weight_decay", "epsilon", "eta"},
}

# Which schedule keys each kind needs, and which it may take besides.
SCHEDULE_NEEDS = {
    "constant": set(),
    "step": {"boundaries", "factors"},
    "cosine": {"decay_epochs"},
    "polynomial": {"decay_epochs", "power", "end_learning_rate"},
}
SCHEDULE_OPTIONAL = {"cosine": {"final_factor"}}

SCHEDULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["constant", "step", "cosine", "polynomial"]},
        "boundaries": {"type": "array", "items": _POS_INT},
        "factors": {"type": "array", "items": _NUMBER},
        "decay_epochs": _POS_INT,
        "final_factor": {"type": "number", "minimum": 0},
        "power": {"type": "number", "exclusiveMinimum": 0},
        "end_learning_rate": {"type": "number", "minimum": 0},
    },
}

RECIPE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "optimizer": OPTIMIZER,
        "schedule": SCHEDULE,
        "warmup_epochs": _NONNEG_INT,
        "batch_size": _POS_INT,
        "max_epochs": _POS_INT,
        "eval_every": _POS_INT,
        "eval_offset": _NONNEG_INT,
        "member_epochs": {"type": "array", "items": _POS_INT},
    },
}

ENGINE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},  # checked against the engine registry
        "options": {"type": "object"},  # checked by the engine itself
    },
}

RUNS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "count": _POS_INT,
        "seeds": {"type": "array", "items": _NONNEG_INT, "minItems": 1},
        "base_seed": _NONNEG_INT,
    },
}

# The fields of MLPerf's system description JSON that a config may set; those
# left out are filled from the host (see harness.system).
SYSTEM_FIELDS = [
    "submitter", "division", "status", "system_name", "number_of_nodes",
    "host_processors_per_node", "host_processor_model_name", "host_processor_core_count",
    "host_processor_vcpu_count", "host_processor_frequency", "host_processor_caches",
    "host_processor_interconnect", "host_memory_capacity", "host_storage_type",
    "host_storage_capacity", "host_networking", "host_networking_topology",
    "host_memory_configuration", "accelerators_per_node", "accelerator_model_name",
    "accelerator_host_interconnect", "accelerator_frequency", "accelerator_on-chip_memories",
    "accelerator_memory_configuration", "accelerator_memory_capacity",
    "accelerator_interconnect", "accelerator_interconnect_topology", "cooling", "hw_notes",
    "framework", "other_software_stack", "operating_system", "sw_notes",
]

SYSTEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["system_name"],
    "properties": {
        **{name: {"type": ["string", "integer"]} for name in SYSTEM_FIELDS},
        "system_name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "division": {"enum": ["closed", "open"]},
        "status": {"enum": ["Available on-premise", "Available cloud",
                            "Research, Development, or Internal (RDI)", "Preview"]},
    },
}

ENERGY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"meter": {"enum": ["auto", "rapl", "nvml", "none"]}},
}


def config_schema(workload_names: list[str]) -> dict[str, Any]:
    """The schema of a whole config; `benchmark` must name a registered workload."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["benchmark", "engine", "system"],
        "properties": {
            "benchmark": {"enum": workload_names},
            "workload_options": {"type": "object"},
            "data_dir": {"type": ["string", "null"]},
            "recipe": RECIPE,
            "engine": ENGINE,
            "runs": RUNS,
            "system": SYSTEM,
            "energy": ENERGY,
            "output_dir": {"type": "string"},
        },
    }
