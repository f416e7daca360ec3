"""Shared fixtures: every test runs with its own store and its own home folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from laptime import recorder as recorder_module
from laptime.price_table import CACHE_ENV
from laptime.store import HOME_ENV, Store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="session")
def price_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the compiled genai-prices table for the whole session: it is
    compiled once (about a second), not once per test."""
    return tmp_path_factory.mktemp("price-cache")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, price_cache_dir: Path
) -> Iterator[None]:
    """No test can touch the real home: ``$HOME`` and ``$LAPTIME_HOME`` point at fresh
    temporary folders, the price table's cache at the session's (``$XDG_CACHE_HOME`` is
    dropped), and the process-wide default recorder starts afresh."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(HOME_ENV, str(home / ".laptime"))
    monkeypatch.setenv(CACHE_ENV, str(price_cache_dir))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("LAPTIME_PROFILE", raising=False)
    monkeypatch.delenv("LAPTIME_RUN_ID", raising=False)  # set when the suite runs inside `laptime exec`
    monkeypatch.delenv("LAPTIME_SPAN_ID", raising=False)
    monkeypatch.setattr(recorder_module, "_default", None)
    yield
    default = recorder_module._default
    if default is not None:
        default.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty store in the test's temporary folder (nothing is created on disk)."""
    return Store(tmp_path / ".laptime")
