"""The `spinnaker` engine as the harness sees it.

Placeholder until training on the emulated machine exists: a config naming
this engine is understood, but running it says plainly that it cannot run yet.
"""

from __future__ import annotations

from typing import Any

from harness.errors import EngineUnavailableError


class SpinnakerEngine:
    name = "spinnaker"

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        return dict(options)

    def __init__(self, options: dict[str, Any]) -> None:
        raise EngineUnavailableError(
            "engine 'spinnaker': training on SpiNNaker (emulated or on a board) is not built "
            "yet in this version; use engine 'keras'"
        )
