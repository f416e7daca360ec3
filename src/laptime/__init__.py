"""laptime: where your AI coding-agent runs spend time and money.

The SDK records a run as spans (run, phases, tasks, llm calls, tools) and point events
(validations, file changes, checkpoints, ...) in an append-only log::

    import laptime

    with laptime.run("fix-login-bug", runner="my-pipeline") as run:
        with run.phase("plan"):
            run.llm_call("claude-sonnet-4-5", provider="anthropic", input_tokens=1200, output_tokens=300)
"""

from laptime.clock import SimulatedClock
from laptime.events import SCHEMA_VERSION
from laptime.recorder import (
    LlmScope,
    Recorder,
    RecorderWarning,
    Run,
    SpanScope,
    current_run,
    default_recorder,
    phase,
    run,
)
from laptime.store import Store, StoreError, find_store
from laptime.usage import Usage, estimate, estimate_tokens, from_anthropic, from_openai

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "LlmScope",
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
    "phase",
    "run",
]
