"""The answers ``laptime usage`` keeps (``<store>/usage-cache/``), and when one still holds.

One small file per set of options, holding the answer (the ``--json`` text) and a stamp:
the stat (size, mtime, inode) of everything the answer depends on (see
``laptime.cli.usage``'s docstring for the list). When every stat matches, the answer is
printed as it is. Nothing here imports click or the CLI: ``laptime.console`` serves a
kept answer before the CLI is loaded.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import TYPE_CHECKING, Any, Final

from laptime.when import RELATIVE_WHEN

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from laptime.store import Store

CACHE_DIRNAME: Final = "usage-cache"
_CACHE_KEEP: Final = 16  # answers kept (one per set of options), the least recently written go
_CACHE_VERSION: Final = 2  # 2: the installation's folder in the key
_ENV_KEYS: Final = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "HOME", "TZ")

Stamp = list[list[Any]]  # [path, stat values or None when missing]


def _stat(path: str) -> list[int] | None:
    """What a change of ``path`` changes: size, mtime and inode (None when missing)."""
    try:
        st = os.stat(path)  # noqa: PTH116 - thousands of calls on str paths; Path objects cost more
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _tree(root: str, stamp: Stamp, suffix: str) -> None:
    """The stat of ``root``, of every folder below it and of every file ending in ``suffix``."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        stamp.append([folder, _stat(folder)])
        stamp.extend([f, _stat(f)] for f in (os.path.join(folder, n) for n in sorted(files) if n.endswith(suffix)))  # noqa: PTH118 - str paths, see _stat


def source_stamp(sources: Sequence[tuple[str, Sequence[Path]]], absent: Sequence[Path]) -> Stamp:
    """The stamp of the sources read: (importer name, paths), and the default locations missing."""
    from laptime.importers import get_importer

    stamp: Stamp = []
    for path in absent:
        # Recorded missing; its parent too, so that a sibling folder appearing there is seen.
        place = os.path.abspath(path)  # noqa: PTH100 - str paths, see _stat
        parent = os.path.dirname(place)  # noqa: PTH120 - str paths
        stamp.extend([[place, None], [parent, _stat(parent)]])
    for name, paths in sources:
        importer = get_importer(name)
        for path in paths:
            # Absolute: the answer is looked up from any working directory (the key has
            # the absolute paths too).
            place = os.path.abspath(path)  # noqa: PTH100 - str paths, see _stat
            stamp.append([place, _stat(place)])
            if path.is_dir():
                for root in importer.walk_roots(path):
                    _tree(os.path.abspath(root), stamp, ".jsonl")  # noqa: PTH100 - str paths
    return stamp


def store_stamp(store: Store, *, no_cost: bool) -> Stamp:
    """The store's log and config, laptime's own code, the price library and the local zone."""
    stamp: Stamp = []
    log = str(store.log_dir)
    stamp.append([log, _stat(log)])
    try:
        names = sorted(os.listdir(log))  # noqa: PTH208 - names only, joined as str below
    except OSError:
        names = []
    stamp.extend([p, _stat(p)] for p in (os.path.join(log, n) for n in names))  # noqa: PTH118 - str paths
    stamp.append([str(store.config_path), _stat(str(store.config_path))])
    for folder in (store.root.parent, *store.root.parent.parents):  # as config's pyproject.toml lookup
        candidate = str(folder / "pyproject.toml")
        found = _stat(candidate)
        stamp.append([candidate, found])
        if found is not None:
            break
    stamp.append(["/etc/localtime", _stat("/etc/localtime")])
    package = os.path.dirname(os.path.abspath(__file__))  # noqa: PTH100, PTH120 - str paths
    _tree(package, stamp, ".py")
    if not no_cost:
        import importlib.util

        spec = importlib.util.find_spec("genai_prices")
        origin = spec.origin if spec is not None and spec.origin else "genai_prices"
        stamp.append([origin, _stat(origin)])
    return stamp


def cache_key(
    store: Store,
    given: Mapping[str, Sequence[Path]],
    *,
    by: str,
    since: str | None,
    until: str | None,
    project: str | None,
    timezone: str | None,
    no_cost: bool,
) -> str | None:
    """The options and environment an answer depends on (``given``: ``--claude-code`` and
    ``--codex`` -> the paths given); None when it depends on the clock (an age like ``7d``)."""
    for value in (since, until):
        if value is not None and RELATIVE_WHEN.match(value.strip()):
            return None
    paths = {option: [os.path.abspath(p) for p in found] for option, found in given.items()}  # noqa: PTH100 - str
    env = {name: os.environ.get(name) for name in _ENV_KEYS}
    # The installation that computes the answer: two of them on one store (pipx and a
    # project's venv, say) each keep their own, since each stamp names only its own code.
    code = os.path.dirname(os.path.abspath(__file__))  # noqa: PTH100, PTH120 - str paths
    return json.dumps(
        [_CACHE_VERSION, sys.version, code, str(store.root), paths, env, by, since, until, project, timezone, no_cost]
    )


def _cache_file(store: Store, key: str) -> str:
    import zlib

    return os.path.join(store.root, CACHE_DIRNAME, f"{zlib.crc32(key.encode()):08x}.json")  # noqa: PTH118 - str


def _read_regular(path: str) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (never blocks on a FIFO put in its place)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def cached(store: Store, key: str) -> str | None:
    """The answer kept for ``key`` if nothing it depends on changed since; else None (also
    for a file that is not one this module wrote: any other content is a miss)."""
    entry = _json(_read_regular(_cache_file(store, key)))
    if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("stamp"), list):
        return None
    for item in entry["stamp"]:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
            return None
        if _stat(item[0]) != item[1]:
            return None
    output = entry.get("output")
    answer = _json(output) if isinstance(output, str) else None
    # (the shape of a usage report, so that an answer kept in another shape is a miss too)
    return output if isinstance(answer, dict) and isinstance(answer.get("rows"), list) else None


def _json(text: str | bytes | None) -> Any:
    """``text`` parsed, or None when it is not JSON (or nests deeper than the parser goes)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def save(store: Store, key: str, stamp: Stamp, output: str) -> None:
    """Keep an answer; best effort (a read-only store simply keeps none)."""
    path = _cache_file(store, key)
    folder = os.path.dirname(path)  # noqa: PTH120 - str path
    try:
        os.makedirs(folder, exist_ok=True)  # noqa: PTH103 - str path
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:  # noqa: PTH123 - str path
            json.dump({"key": key, "stamp": stamp, "output": output}, handle)
        os.replace(temp, path)  # noqa: PTH105 - str paths
        kept = sorted(
            (entry for entry in os.scandir(folder) if entry.name.endswith(".json")),
            key=lambda entry: entry.stat().st_mtime_ns,
        )
        for old in kept[:-_CACHE_KEEP]:
            os.unlink(old.path)  # noqa: PTH108 - str path
    except OSError:
        return
