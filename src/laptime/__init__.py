"""laptime: where your AI coding-agent runs spend time and money.

The SDK records a run as spans (run, phases, tasks, llm calls, tools) and point events
(validations, file changes, checkpoints, ...) in an append-only log::

    import laptime

    with laptime.run("fix-login-bug", runner="my-pipeline") as run:
        with run.phase("plan"):
            run.llm_call("claude-sonnet-4-5", provider="anthropic", input_tokens=1200, output_tokens=300)

The names below are loaded on first use (PEP 562), so that importing a part of the
package (the CLI, say) does not pay for the whole SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from laptime.clock import SimulatedClock
    from laptime.events import SCHEMA_VERSION
    from laptime.recorder import (
        LlmScope,
        Recorder,
        RecorderWarning,
        RecordFailedWarning,
        Run,
        SpanScope,
        current_run,
        default_recorder,
        join,
        phase,
        run,
    )
    from laptime.store import Store, StoreError, find_store
    from laptime.usage import Usage, estimate, estimate_tokens, from_anthropic, from_openai

__version__ = "0.1.0"

_WHERE: dict[str, str] = {
    "SCHEMA_VERSION": "laptime.events",
    "LlmScope": "laptime.recorder",
    "Recorder": "laptime.recorder",
    "RecordFailedWarning": "laptime.recorder",
    "RecorderWarning": "laptime.recorder",
    "Run": "laptime.recorder",
    "SimulatedClock": "laptime.clock",
    "SpanScope": "laptime.recorder",
    "Store": "laptime.store",
    "StoreError": "laptime.store",
    "Usage": "laptime.usage",
    "current_run": "laptime.recorder",
    "default_recorder": "laptime.recorder",
    "estimate": "laptime.usage",
    "estimate_tokens": "laptime.usage",
    "find_store": "laptime.store",
    "from_anthropic": "laptime.usage",
    "from_openai": "laptime.usage",
    "join": "laptime.recorder",
    "phase": "laptime.recorder",
    "run": "laptime.recorder",
}

__all__ = [
    "SCHEMA_VERSION",
    "LlmScope",
    "RecordFailedWarning",
    "Recorder",
    "RecorderWarning",
    "Run",
    "SimulatedClock",
    "SpanScope",
    "Store",
    "StoreError",
    "Usage",
    "__version__",
    "current_run",
    "default_recorder",
    "estimate",
    "estimate_tokens",
    "find_store",
    "from_anthropic",
    "from_openai",
    "join",
    "phase",
    "run",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'laptime' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
