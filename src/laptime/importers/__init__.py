"""Importers: events from the files agent runners already write (FORMATS.md).

Each format lives in its own module and is imported only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from laptime.errors import UsageError

if TYPE_CHECKING:
    from laptime.importers.base import Importer

# format name -> (module, class). `auto` tries them in this order.
FORMATS: dict[str, tuple[str, str]] = {
    "runr": ("laptime.importers.runr", "RunrImporter"),
    "aidf": ("laptime.importers.aidf", "AidfImporter"),
    "choragen": ("laptime.importers.choragen", "ChoragenImporter"),
    "choragen-git": ("laptime.importers.choragen_git", "ChoragenGitImporter"),
    "pcc": ("laptime.importers.pcc", "PccImporter"),
    "langgraph-logs": ("laptime.importers.langgraph", "LangGraphLogsImporter"),
    "claude-code": ("laptime.importers.claude_code", "ClaudeCodeImporter"),
    "codex": ("laptime.importers.codex", "CodexImporter"),
    "otlp": ("laptime.importers.otlp", "OtlpImporter"),
}


class UnknownFormatError(UsageError, LookupError):
    """No importer by that name."""


def get_importer(name: str) -> Importer:
    """A fresh importer for a format name."""
    target = FORMATS.get(name)
    if target is None:
        known = ", ".join([*FORMATS, "auto"])
        msg = f"unknown import format {name!r}; known formats: {known}"
        raise UnknownFormatError(msg)
    module = importlib.import_module(target[0])
    importer: Importer = getattr(module, target[1])()
    return importer
