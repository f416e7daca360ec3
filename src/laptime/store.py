"""Where the store lives: ``.laptime/`` found the way git finds ``.git``.

Layout inside the store::

    .laptime/
      log/YYYY-MM-DD.jsonl   append-only event segments, one per UTC day
      index.sqlite           derived; ``laptime refresh`` rebuilds it from the log
      config.toml            optional settings
      quarantine/            lines ``compact`` set aside (torn or garbage), never deleted
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from laptime.errors import UsageError

STORE_DIRNAME = ".laptime"
HOME_ENV = "LAPTIME_HOME"


class StoreError(UsageError):
    """The store cannot be found or used; the message says what to do."""


@dataclass(frozen=True)
class Store:
    """Paths of one store. Creating the object touches nothing on disk."""

    root: Path

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def segment_path(self, day: str) -> Path:
        """The segment file for a UTC day given as ``YYYY-MM-DD``."""
        return self.log_dir / f"{day}.jsonl"

    def segments(self) -> list[Path]:
        """Every segment, oldest day first."""
        if not self.log_dir.is_dir():
            return []
        return sorted(p for p in self.log_dir.iterdir() if p.suffix == ".jsonl" and p.is_file())

    def exists(self) -> bool:
        return self.root.is_dir()

    def ensure(self) -> None:
        """Create the store's folders if they are missing."""
        self.log_dir.mkdir(parents=True, exist_ok=True)


def find_store(home: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Store:
    """Resolve the store: ``home`` argument, then ``$LAPTIME_HOME``, then the nearest
    ``.laptime/`` in the working directory or its parents, else ``./.laptime``.

    An explicit ``home`` may name either the ``.laptime`` folder itself or any folder,
    which is then used as the store directly.
    """
    explicit = home if home is not None else os.environ.get(HOME_ENV) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.exists() and not path.is_dir():
            msg = f"store path {path} is a file, not a folder; point --home or {HOME_ENV} at a folder"
            raise StoreError(msg)
        return Store(path.resolve())
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / STORE_DIRNAME
        if candidate.is_dir():
            return Store(candidate)
    return Store(start / STORE_DIRNAME)
