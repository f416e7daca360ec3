"""The index's version (``laptime.index.INDEX_VERSION``).

An index built by another laptime version is emptied and built again from the log when it
is opened. That only works if every change to what an index stores, or to the SQL that
fills it, comes with a new version: an index of the old schema, kept, was read and written
with the new statements (cd1e5af dropped three columns of ``run_cost_cache`` without one,
and the summary's budget check failed on every index built before it).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import apsw

from helpers import T0, invoke_json, record_fixed_run
from laptime.index import INDEX_VERSION, Index
from laptime.store import Store

if TYPE_CHECKING:
    from pathlib import Path

# The digest of the statements that write an index (``_writing_statements``), per version.
# A change to them fails this test until INDEX_VERSION is raised and its digest added.
DIGESTS = {
    12: "342cb0e291acbaa093fc89160c337bac91da7d99570e8ced40f1d659c6f5ec38",
    13: "97e9d5eea0daea1caef667a70c41afe0d521f401dacd9f6b2d7ab12e9d72b018",
    14: "67463d8f9356fc56abb9c183c042baf6b3a513dec8f5a0ec36d21e9ddde59aee",
}

_WRITES = frozenset({"CREATE", "INSERT", "REPLACE", "UPDATE", "DELETE", "DROP", "ALTER"})


def _writing_statements(tmp_path: Path) -> list[str]:
    """Every distinct statement that writes the index (its text, without the values bound)
    while a log is rebuilt, then read incrementally, then loses a segment: the schema, the
    bulk and incremental inserts, the derived tables fresh and by delta."""
    seen: set[str] = set()

    def trace(_cursor: apsw.Cursor, sql: str, _bindings: Any) -> bool:
        words = sql.split(None, 1)
        if words and words[0].upper() in _WRITES:
            seen.add(" ".join(sql.split()))
        return True

    def hook(connection: apsw.Connection) -> None:
        connection.exec_trace = trace

    store = Store(tmp_path / ".laptime")
    apsw.connection_hooks.append(hook)
    try:
        record_fixed_run(store, run_id="0" * 31 + "1")
        with Index(store) as index:
            index.rebuild()
        record_fixed_run(store, run_id="0" * 31 + "2", start=T0 + timedelta(days=1))
        with Index(store) as index:
            index.update()
        for segment in store.segments()[1:]:
            segment.unlink()
        with Index(store) as index:
            index.update()
    finally:
        apsw.connection_hooks.remove(hook)
    return sorted(seen)


def test_the_schema_and_the_sql_that_fills_it_belong_to_the_version(tmp_path: Path) -> None:
    statements = _writing_statements(tmp_path)
    assert any(s.startswith("CREATE TABLE") for s in statements)
    assert any(s.startswith("INSERT INTO runs") for s in statements)
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    assert DIGESTS.get(INDEX_VERSION) == digest, (
        f"The statements that write the index changed (digest {digest}). Indexes built before "
        "would be kept as they are: raise INDEX_VERSION in laptime/index.py (say why beside it), "
        "and add the new version's digest to DIGESTS here."
    )


def test_the_digest_sees_a_column_dropped(tmp_path: Path, monkeypatch: Any) -> None:
    from laptime import index as index_module

    before = _writing_statements(tmp_path / "before")
    schema = [s.replace(", cost_usd REAL", "") if "run_cost_cache (" in s else s for s in index_module._SCHEMA]
    monkeypatch.setattr(index_module, "_SCHEMA", schema)
    assert _writing_statements(tmp_path / "after") != before


def test_an_index_of_an_earlier_version_is_built_again(tmp_path: Path) -> None:
    """An index of version 11 (the one cd1e5af broke: its run_cost_cache with six columns)."""
    home = tmp_path / "home"
    store = Store(home)
    (home / "config.toml").parent.mkdir(parents=True)
    (home / "config.toml").write_text("[budgets]\ncost_usd = 0.0001\n", encoding="utf-8")
    record_fixed_run(store)
    expected = invoke_json(home, "report", "summary")["budgets"]
    with Index(store) as index:
        index.execute("DROP TABLE run_cost_cache")
        index.execute(
            "CREATE TABLE run_cost_cache (run_id TEXT PRIMARY KEY, fingerprint INTEGER NOT NULL, cost_usd REAL,"
            " calls INTEGER NOT NULL, unpriced INTEGER NOT NULL, reported INTEGER NOT NULL) WITHOUT ROWID"
        )
        index.execute("UPDATE meta SET value = '11' WHERE key = 'index_version'")
    record_fixed_run(store, run_id="0" * 31 + "2", start=T0 + timedelta(days=1))
    budgets = invoke_json(home, "report", "summary")["budgets"]
    by_limit = {**expected["by_limit"], "cost_usd": 2}
    assert budgets == {**expected, "runs_with_budget": 2, "runs_over_budget": 2, "by_limit": by_limit}
    with Index(store) as index:
        assert index.query("SELECT value FROM meta WHERE key = 'index_version'") == [(str(INDEX_VERSION),)]
        assert len(index.query("SELECT * FROM run_cost_cache LIMIT 0")) == 0
        columns = [row[1] for row in index.query("PRAGMA table_info(run_cost_cache)")]
    assert columns == ["run_id", "fingerprint", "cost_usd"]
