"""Claude Code on generated trees (``cc_trees.py``), against ccusage 20.0.24 and the truth.

Each tree holds several projects and sessions, streamed responses (one over midnight),
1-hour cache writes, subagents, /btw side questions that replay parent responses,
resumed sessions and ``<synthetic>`` records. laptime reads its files in a shuffled
order, in several imports, and its ``report usage --by day`` must equal ccusage's token
totals per day and per model, and the generator's truth.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from importers import import_json
from importers.cc_parity import ccusage_daily, need_ccusage, our_cells, our_days, their_cells, their_days, usage_json
from importers.cc_trees import Tree, generate

if TYPE_CHECKING:
    from laptime.store import Store

SEEDS = range(1, 13)


def _import_shuffled(store: Store, tree: Tree, seed: int) -> None:
    """The tree's files in a random order, in three imports."""
    files = list(tree.files)
    rng = random.Random(seed)
    rng.shuffle(files)
    cut = sorted(rng.sample(range(1, len(files)), 2))
    for batch in (files[: cut[0]], files[cut[0] : cut[1]], files[cut[1] :]):
        import_json(store, "claude-code", *batch)


def _tree(tmp_path: Path, seed: int, *, cross_session_replays: bool = False) -> Tree:
    tree = generate(tmp_path / "config", seed, cross_session_replays=cross_session_replays)
    # What makes the tree worth testing is there.
    assert tree.stats["asides"] > 0
    assert tree.stats["replays"] > 0
    assert tree.stats["subagents"] > 0
    assert tree.stats["straddles"] > 0
    assert any(c.tokens[2] for c in tree.counted)
    return tree


def test_the_trees_hold_every_case(tmp_path: Path) -> None:
    """Across the seeds: resumed sessions, <synthetic> records, a smaller copy after the
    largest and 1h cache writes too."""
    seen = {"resumed": 0, "synthetic": 0, "late_smaller": 0, "one_hour": 0}
    for seed in SEEDS:
        tree = generate(tmp_path / str(seed), seed)
        for key in ("resumed", "synthetic", "late_smaller"):
            seen[key] += tree.stats[key]
        for file in tree.files:
            for line in file.read_text().splitlines():
                usage = json.loads(line).get("message", {}).get("usage", {})
                seen["one_hour"] += usage.get("cache_creation", {}).get("ephemeral_1h_input_tokens", 0) > 0
    assert all(seen.values()), seen


@pytest.mark.parametrize("seed", SEEDS)
def test_tokens_per_day_and_model_equal_ccusage_and_the_truth(tmp_path: Path, store: Store, seed: int) -> None:
    need_ccusage()
    tree = _tree(tmp_path, seed)
    theirs = ccusage_daily(tree.root, "-z", "UTC")
    _import_shuffled(store, tree, seed)
    ours = usage_json(store, "--by", "day", "--timezone", "UTC")
    assert our_days(ours) == their_days(theirs)
    assert our_cells(ours) == their_cells(theirs)
    assert [
        ours["totals"][k] for k in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
    ] == [theirs["totals"][k] for k in ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")]
    # The truth, where ccusage agrees with it: on these trees, everywhere.
    truth = tree.truth()
    agreed = {cell for cell, tokens in truth.items() if their_cells(theirs).get(cell) == tokens}
    assert agreed == set(truth)
    assert {cell: our_cells(ours)[cell] for cell in agreed} == {cell: truth[cell] for cell in agreed}


@pytest.mark.parametrize(("seed", "zone"), [(1, "America/New_York"), (2, "Asia/Kolkata"), (3, "America/New_York")])
def test_in_another_time_zone(tmp_path: Path, store: Store, seed: int, zone: str) -> None:
    need_ccusage()
    tree = _tree(tmp_path, seed)
    theirs = ccusage_daily(tree.root, "-z", zone)
    _import_shuffled(store, tree, seed)
    ours = usage_json(store, "--by", "day", "--timezone", zone)
    assert our_days(ours) == their_days(theirs)
    assert our_cells(ours) == their_cells(theirs) == tree.truth(zone)


@pytest.mark.parametrize("cross", [False, True], ids=["plain", "cross-session-replays"])
@pytest.mark.parametrize("seed", [3, 8])
def test_tokens_equal_the_truth(tmp_path: Path, store: Store, seed: int, cross: bool) -> None:
    """Without ccusage: every response once, with its largest copy, on that copy's day."""
    tree = _tree(tmp_path, seed, cross_session_replays=cross)
    _import_shuffled(store, tree, seed)
    assert our_cells(usage_json(store, "--by", "day", "--timezone", "UTC")) == tree.truth()


@pytest.mark.parametrize("seed", [3, 8, 12])
def test_a_replay_from_an_earlier_session_is_where_ccusage_counts_twice(
    tmp_path: Path, store: Store, seed: int
) -> None:
    """A side question in a resumed session replays a response copied from the earlier
    session: ccusage matches a replay to its parent only within one ``sessionId`` and
    counts it again; laptime counts it once. Everywhere else the two agree."""
    need_ccusage()
    tree = _tree(tmp_path, seed, cross_session_replays=True)
    assert tree.cross_session_cells
    theirs = their_cells(ccusage_daily(tree.root, "-z", "UTC"))
    _import_shuffled(store, tree, seed)
    ours = our_cells(usage_json(store, "--by", "day", "--timezone", "UTC"))
    truth = tree.truth()
    assert ours == truth
    for cell in set(theirs) | set(ours):
        if cell in tree.cross_session_cells:
            assert theirs[cell] != ours.get(cell), cell
        else:
            assert theirs.get(cell) == ours.get(cell), cell


@pytest.mark.parametrize("seed", [3, 8])
def test_ids_spilled_out_of_memory_deduplicate_as_those_kept_in_it(
    tmp_path: Path, store: Store, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import remembers the ids it appended in a dict of at most ``RECENT_IDS``, the
    older ones in a temporary SQLite file (memory stays flat, the index is updated once).
    With every id spilled after each file, the same lines reach the log, with the same
    counts, as with all of them in memory: streamed responses, side-question replays and
    resumed sessions repeat ids across files."""
    from laptime.importers import base

    tree = _tree(tmp_path, seed, cross_session_replays=True)
    files = sorted(tree.files)
    kept = import_json(store, "claude-code", *files)
    spilled_store = type(store)(tmp_path / "spilled")
    spills: list[int] = []
    real_spill = base._AppendedIds.spill_if_full

    def spill(self: base._AppendedIds) -> None:
        spills.append(len(self.recent))
        real_spill(self)

    index_updates: list[int] = []
    real_update = base._Appender.update_index

    def update_index(self: base._Appender) -> None:
        index_updates.append(1)
        real_update(self)

    monkeypatch.setattr(base, "RECENT_IDS", 1)
    monkeypatch.setattr(base, "BATCH_EVENTS", 5)  # flushes to the log every 5 events
    monkeypatch.setattr(base._AppendedIds, "spill_if_full", spill)
    monkeypatch.setattr(base._Appender, "update_index", update_index)
    spilled = import_json(spilled_store, "claude-code", *files)
    assert len(spills) >= len(files) - 1  # once per file at least (a flush each)
    assert index_updates == [1]  # once, at the end, however many ids were spilled
    for key in ("events_new", "events_already_stored", "runs"):
        assert spilled[key] == kept[key], key
    assert kept["events_already_stored"] > 0  # the tree repeats ids across files

    def log_lines(s: Store) -> list[bytes]:
        return sorted(line for p in s.segments() for line in p.read_bytes().splitlines())

    assert log_lines(spilled_store) == log_lines(store)
    assert sum(spills) == len(log_lines(store))  # every line's id went through the file
    assert our_cells(usage_json(spilled_store, "--by", "day", "--timezone", "UTC")) == tree.truth()


def test_spilled_ids_are_all_found_and_new_ones_cost_no_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spilled ids' Bloom filter rules out ids that never spilled without a query, and
    never one that did: every spilled id is found with its latest value, through several
    spills, one of them replacing an id's value."""
    from laptime.importers import base

    monkeypatch.setattr(base, "RECENT_IDS", 1_000)
    ids = base._AppendedIds()
    try:
        spilled = {f"{n:032x}": (True, n) for n in range(5_000)}
        for start in range(0, 5_000, 1_000):
            ids.recent.update((k, spilled[k]) for k in list(spilled)[start : start + 1_000])
            ids.spill_if_full()
        ids.recent["00000000000000000000000000000007"] = (True, 70_000)  # a better copy, spilled again
        ids.recent.update((f"{n:032x}", -1) for n in range(10_000, 10_999))
        ids.spill_if_full()
        spilled["00000000000000000000000000000007"] = (True, 70_000)
        assert ids.older(spilled) == spilled

        queries: list[str] = []
        real = ids._older
        assert real is not None

        class Counting:
            def execute(self, sql: str, params: Any = ()) -> Any:
                queries.append(sql)
                return real.execute(sql, params)

        ids._older = Counting()  # type: ignore[assignment]
        assert ids.older(f"{n:032x}" for n in range(20_000, 25_000)) == {}
        assert queries == []  # 5,000 new ids: no query (a false positive is ~1e-10 each here)
        assert ids.older(["000000000000000000000000000003e8"]) == {"000000000000000000000000000003e8": (True, 1_000)}
        assert len(queries) == 1
        ids._older = real
    finally:
        ids.close()
