"""Settings: ``.laptime/config.toml``, or ``[tool.laptime]`` in the nearest pyproject.toml.

Every key is checked when the file is read; an unknown key or a wrong type is an error
that names the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laptime.store import Store


class ConfigError(Exception):
    """The config file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    """Resolved settings, with their defaults."""

    crashed_after_minutes: float = 30.0
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


_KNOWN_TOP = {"crashed_after_minutes", "pricing", "report", "webhook"}


def _pyproject_section(store: Store) -> tuple[dict[str, Any], str] | None:
    for folder in (store.root.parent, *store.root.parent.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            data = _read_toml(candidate)
            section = data.get("tool", {}).get("laptime")
            if isinstance(section, dict):
                return section, f"{candidate} [tool.laptime]"
            return None
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise ConfigError(msg) from None


def load_config(store: Store) -> Config:
    """Read and validate the store's config; defaults when there is none."""
    data: dict[str, Any]
    if store.config_path.is_file():
        data, source = _read_toml(store.config_path), str(store.config_path)
    else:
        found = _pyproject_section(store)
        if found is None:
            return Config()
        data, source = found
    for key in data:
        if key not in _KNOWN_TOP:
            known = ", ".join(sorted(_KNOWN_TOP))
            msg = f"{source}: unknown key {key!r} (known keys: {known})"
            raise ConfigError(msg)
    crashed = data.get("crashed_after_minutes", 30.0)
    if isinstance(crashed, bool) or not isinstance(crashed, int | float) or crashed <= 0:
        msg = f"{source}: crashed_after_minutes must be a positive number of minutes, got {crashed!r}"
        raise ConfigError(msg)
    return Config(crashed_after_minutes=float(crashed), source=source, raw=data)
