"""Where the store lives: ``.laptime/`` found the way git finds ``.git``.

Layout inside the store::

    .laptime/
      log/YYYY-MM-DD.jsonl   append-only event segments, one per UTC day
      index.sqlite           derived; ``laptime refresh`` rebuilds it from the log
      config.toml            optional settings
      quarantine/            lines ``compact`` set aside (torn or garbage), never deleted
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from laptime.errors import StoreFaultError, UsageError

STORE_DIRNAME = ".laptime"
HOME_ENV = "LAPTIME_HOME"


class StoreError(UsageError):
    """The store cannot be found or used; the message says what to do."""


class StoreReadOnlyError(StoreFaultError):
    """The store cannot be written (a read-only mount, or no write permission); nothing was changed."""


class StoreWriteError(StoreFaultError):
    """A write to the store failed part way (a full disk, say); the log keeps only whole lines."""


@dataclass(frozen=True)
class SegmentFault:
    """A segment (or the log folder) that cannot be read, and why."""

    path: Path
    reason: str


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
        """Every segment file, oldest day first (readable or not: ``segment_faults`` says
        which cannot be read; an unlistable or missing log folder has none)."""
        try:
            entries = list(self.log_dir.iterdir())
        except OSError:  # missing, a plain file, or not listable: segment_faults says which
            return []
        return sorted(p for p in entries if p.suffix == ".jsonl" and p.is_file())

    def segment_faults(self) -> list[SegmentFault]:
        """Segments (or the log folder itself) that exist but cannot be read, and why.

        One unreadable segment must not break every command: readers skip what is listed
        here, with a warning, and ``doctor`` names it."""
        if not self.log_dir.exists() and not self.log_dir.is_symlink():
            return []
        try:
            entries = sorted(self.log_dir.iterdir())
        except NotADirectoryError:
            return [SegmentFault(self.log_dir, "the log folder is a file, not a folder; move it aside")]
        except OSError as exc:
            return [SegmentFault(self.log_dir, f"the log folder cannot be listed: {exc.strerror or exc}")]
        faults = []
        for path in entries:
            if path.suffix != ".jsonl":
                continue
            if path.is_dir():
                faults.append(SegmentFault(path, "a folder, not a segment file"))
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # NONBLOCK: a FIFO must not hang this
            except OSError as exc:
                faults.append(SegmentFault(path, f"cannot be read: {exc.strerror or exc}"))
                continue
            os.close(fd)
        return faults

    def exists(self) -> bool:
        return self.root.is_dir()

    def read_only_reason(self, *paths: Path) -> str | None:
        """Why the store (its folder, its log folder, or one of ``paths``) cannot be
        written, or None when it can. Asked before writing, so a read-only store is one
        clear error instead of a failure half way."""
        for path in (self.root, self.log_dir, *paths):
            if not path.exists() or os.access(path, os.W_OK):
                continue
            try:
                on_ro_mount = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
            except OSError:
                on_ro_mount = False
            return f"{path} is on a read-only file system" if on_ro_mount else f"{path} is not writable by this user"
        return None

    def check_writable(self, doing: str, *paths: Path) -> None:
        """Raise ``StoreReadOnlyError`` when ``doing`` (a command) could not write the store."""
        reason = self.read_only_reason(*paths)
        if reason is not None:
            msg = f"the store {self.root} is read-only ({reason}); {doing} needs to write it, nothing was changed"
            raise StoreReadOnlyError(msg)

    def disk_full(self, exc: BaseException) -> bool:
        """Whether ``exc`` (an OSError, or SQLite's error) comes from the store's disk being full.

        SQLite says "disk is full" for its own writes, but a WAL index whose shared-memory
        file cannot grow fails with a mere "disk I/O error": the free space tells."""
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "disk is full" in text:
            return True
        if "disk I/O error" not in text:
            return False
        for path in (self.root, *self.root.parents):
            try:
                st = os.statvfs(path)
            except OSError:
                continue
            return st.f_bavail == 0 or st.f_bfree == 0
        return False

    def full_disk_error(self, doing: str) -> StoreWriteError:
        """The error for ``doing`` stopped by a full disk."""
        msg = (
            f"the disk holding the store {self.root} is full; {doing} stopped and the log keeps only whole lines "
            "(the index catches up later); free some space and run it again"
        )
        return StoreWriteError(msg)

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
        try:
            if path.exists() and not path.is_dir():
                msg = f"store path {path} is a file, not a folder; point --home or {HOME_ENV} at a folder"
                raise StoreError(msg)
            return Store(path.resolve())
        except RuntimeError as exc:  # a symlink loop (RuntimeError before Python 3.13; OSError then, said as such)
            msg = f"store path {path} cannot be resolved ({exc}); point --home or {HOME_ENV} at a folder"
            raise StoreError(msg) from None
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / STORE_DIRNAME
        if candidate.is_dir():
            return Store(candidate)
    return Store(start / STORE_DIRNAME)
