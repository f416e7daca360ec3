"""Shared fixtures: every test runs with its own store and its own home folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from laptime import recorder as recorder_module
from laptime.store import HOME_ENV, Store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can touch the real home: ``$HOME`` and ``$LAPTIME_HOME`` point at fresh
    temporary folders, and the process-wide default recorder starts afresh."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(HOME_ENV, str(home / ".laptime"))
    monkeypatch.delenv("LAPTIME_PROFILE", raising=False)
    monkeypatch.setattr(recorder_module, "_default", None)
    yield
    default = recorder_module._default
    if default is not None:
        default.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty store in the test's temporary folder (nothing is created on disk)."""
    return Store(tmp_path / ".laptime")
