"""Codex on generated session trees (``codex_tree.py``): laptime against the tree's own
truth, and against the real ccusage 20.0.24 (``make node_modules/.bin/ccusage``).

ccusage agrees with the truth except in three cases, each measured on its binary and
tested here on its own (docs/importers.md, Codex): it counts the replayed history of a
fork without ``forked_from_id`` a second time, it drops the first call of a fork with
no replayed history when that call's count is emitted twice, and it prices o4-mini at
half the list price.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from importers import import_json, run_cli
from importers.cc_parity import need_ccusage
from importers.codex_tree import (
    Tree,
    generate,
    session_meta,
    token_count,
    turn_context,
    write_session,
)

if TYPE_CHECKING:
    from laptime.store import Store

ROOT = Path(__file__).resolve().parents[2]
CCUSAGE = ROOT / "node_modules" / ".bin" / "ccusage"
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")
Daily = dict[str, dict[str, list[int]]]


def ccusage_codex(home: Path, zone: str) -> dict[str, Any]:
    """``ccusage codex daily --json --offline -z ZONE`` on the Codex home ``home``."""
    own_home = home.parent / "ccusage-home"
    own_home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(own_home), "CODEX_HOME": str(home)}
    out = subprocess.run(
        [str(CCUSAGE), "codex", "daily", "--json", "--offline", "-z", zone],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def ccusage_daily(data: dict[str, Any]) -> Daily:
    """Per day, per model: [input without cache, cached input, output, reasoning]."""
    keys = ("inputTokens", "cacheReadTokens", "outputTokens", "reasoningOutputTokens")
    return {d["date"]: {m: [v[k] for k in keys] for m, v in sorted(d["models"].items())} for d in data["daily"]}


def laptime_usage(store: Store, zone: str, *, cost: bool = False) -> dict[str, Any]:
    args = ["report", "usage", "--json", "--by", "day", "--timezone", zone, *([] if cost else ["--no-cost"])]
    result = run_cli(store, *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def laptime_daily(store: Store, zone: str) -> Daily:
    keys = ("input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens")
    rows = laptime_usage(store, zone)["rows"]
    return {r["period"]: {m["model"]: [m[k] for k in keys] for m in r["by_model"]} for r in rows}


def _total(daily: Daily) -> int:
    return sum(v[0] + v[1] + v[2] for models in daily.values() for v in models.values())


@pytest.fixture(name="tree", scope="module")
def fixture_tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return generate(tmp_path_factory.mktemp("codex") / "home", seed=7)


class TestGenerator:
    def test_the_same_seed_writes_the_same_bytes(self, tmp_path: Path) -> None:
        def files(root: Path) -> dict[str, bytes]:
            return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.jsonl"))}

        one, two, other = (generate(tmp_path / name, seed=seed).root for name, seed in (("a", 3), ("b", 3), ("c", 4)))
        assert files(one) == files(two)
        assert files(one) != files(other)

    def test_the_tree_holds_every_case(self, tree: Tree) -> None:
        for case in (
            "info_null_counts",
            "total_only_counts",
            "re_emitted_counts",
            "model_changes",
            "resumed_continued",
            "resumed_with_reset",
            "forks_with_id",
            "forks_without_id",
            "fresh_forks",
            "fresh_forks_first_count_re_emitted",
            "archived",
            "byte_identical_copies",
        ):
            assert tree.counts.get(case, 0) > 0, case
        assert len({c.model for c in tree.calls}) >= 3
        assert (tree.root / "sessions").is_dir()
        assert (tree.root / "archived_sessions").is_dir()
        assert len(tree.daily()) >= 10


class TestTruth:
    @pytest.mark.parametrize("zone", ZONES)
    def test_tokens_per_day_and_model_equal_the_truth(self, tree: Tree, store: Store, zone: str) -> None:
        import_json(store, "codex", tree.root)
        assert laptime_daily(store, zone) == tree.daily(ZoneInfo(zone))
        totals = laptime_usage(store, zone)["totals"]
        assert totals["calls"] == len(tree.calls)
        assert totals["reasoning_tokens"] == sum(c.reasoning for c in tree.calls)

    def test_codex_home_by_default_and_again_adds_nothing(
        self, tree: Tree, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CODEX_HOME", str(tree.root))
        first = import_json(store, "codex")
        assert first["files_read"] == len(list(tree.root.rglob("*.jsonl")))
        again = import_json(store, "codex")
        assert again["events_new"] == 0
        assert laptime_daily(store, "UTC") == tree.daily()


class TestCcusageParity:
    @pytest.mark.parametrize("zone", ZONES)
    def test_ccusage_equals_the_truth_but_for_its_known_divergences(self, tree: Tree, store: Store, zone: str) -> None:
        need_ccusage()
        theirs = ccusage_daily(ccusage_codex(tree.root, zone))
        assert theirs == tree.daily(ZoneInfo(zone), calls=tree.ccusage_calls)
        assert theirs != tree.daily(ZoneInfo(zone))  # the tree holds the divergences
        import_json(store, "codex", tree.root)
        assert laptime_daily(store, zone) == tree.daily(ZoneInfo(zone))

    @pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
    def test_without_those_cases_ccusage_equals_the_truth(self, tmp_path: Path, store: Store, zone: str) -> None:
        need_ccusage()
        tree = generate(tmp_path / "home", seed=23, fresh_forks=False, forks_without_id=False)
        assert tree.ccusage_calls == tree.calls
        assert tree.counts["resumed_with_reset"] > 0
        assert tree.counts["forks_with_id"] > 0
        truth = tree.daily(ZoneInfo(zone))
        assert ccusage_daily(ccusage_codex(tree.root, zone)) == truth
        import_json(store, "codex", tree.root)
        assert laptime_daily(store, zone) == truth


# -- ccusage's three divergences, each on its own small tree ------------------------------------

PARENT = "0199c0de-0000-7000-8000-00000000000a"
FORK = "0199c0de-0000-7000-8000-00000000000b"
CWD = "/home/dev/src/api"
MODEL = "gpt-5-codex"
DAY1 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
DAY2 = datetime(2025, 10, 7, 15, 0, tzinfo=UTC)
C1, C2, C3 = [1000, 200, 100, 40], [2000, 1000, 200, 60], [500, 300, 50, 0]


def _plus(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _day(*calls: list[int]) -> list[int]:
    """[input without cache, cached, output, reasoning] of these calls."""
    inp, cached, out, reasoning = (sum(c[i] for c in calls) for i in range(4))
    return [inp - cached, cached, out, reasoning]


def _name(at: datetime, session: str) -> str:
    return f"rollout-{at.strftime('%Y-%m-%dT%H-%M-%S')}-{session}.jsonl"


def _parent(home: Path, *, calls: bool = True) -> None:
    """The parent, archived: C1 and C2 on day 1 (none with ``calls`` False)."""
    at = DAY1
    records = [session_meta(at, PARENT, CWD), turn_context(at + timedelta(seconds=1), CWD, MODEL)]
    if calls:
        records += [
            token_count(at + timedelta(seconds=20), C1, C1),
            token_count(at + timedelta(seconds=80), _plus(C1, C2), C2),
        ]
    write_session(home, f"archived_sessions/{_name(at, PARENT)}", records)


def _fork(home: Path, records: list[dict[str, Any]], *, with_id: bool) -> None:
    meta = session_meta(DAY2, FORK, CWD, PARENT if with_id else None)
    write_session(home, f"sessions/{DAY2:%Y/%m/%d}/{_name(DAY2, FORK)}", [meta, *records])


class TestCcusageDivergences:
    def test_a_fork_without_forked_from_id_is_counted_twice_by_ccusage(self, tmp_path: Path, store: Store) -> None:
        need_ccusage()
        home = tmp_path / "home"
        _parent(home)
        burst = [DAY2 + timedelta(milliseconds=n) for n in range(1, 4)]
        _fork(
            home,
            [  # the parent's history, re-stamped to the fork instant, then a call of its own
                turn_context(burst[0], CWD, MODEL),
                token_count(burst[1], C1, C1),
                token_count(burst[2], _plus(C1, C2), C2),
                turn_context(DAY2 + timedelta(seconds=30), CWD, MODEL),
                token_count(DAY2 + timedelta(seconds=45), _plus(_plus(C1, C2), C3), C3),
            ],
            with_id=False,
        )
        theirs = ccusage_daily(ccusage_codex(home, "UTC"))
        assert theirs == {"2025-10-06": {MODEL: _day(C1, C2)}, "2025-10-07": {MODEL: _day(C1, C2, C3)}}
        truth = {"2025-10-06": {MODEL: _day(C1, C2)}, "2025-10-07": {MODEL: _day(C3)}}
        import_json(store, "codex", home)
        assert laptime_daily(store, "UTC") == truth
        # With forked_from_id, ccusage finds the parent and agrees.
        _fork(home, [json.loads(line) for line in _fork_lines(home)[1:]], with_id=True)
        assert ccusage_daily(ccusage_codex(home, "UTC")) == truth

    def test_ccusage_drops_a_fresh_forks_first_call_after_a_same_total_re_emit(
        self, tmp_path: Path, store: Store
    ) -> None:
        need_ccusage()
        home = tmp_path / "home"
        _parent(home, calls=False)  # forked before it made any call: nothing to replay
        first = DAY2 + timedelta(seconds=20)
        again = first + timedelta(milliseconds=250)
        _fork(
            home,
            [
                turn_context(DAY2 + timedelta(seconds=1), CWD, MODEL),
                token_count(DAY2 + timedelta(seconds=1), None, None),  # info: null
                token_count(first, C1, C1),
                token_count(again, C1, C1),  # the same count, emitted again
                token_count(first + timedelta(seconds=70), _plus(C1, C2), C2),
            ],
            with_id=True,
        )
        theirs = ccusage_daily(ccusage_codex(home, "UTC"))
        assert theirs == {"2025-10-07": {MODEL: _day(C2)}}
        truth = {"2025-10-07": {MODEL: _day(C1, C2)}}
        import_json(store, "codex", home)
        assert laptime_daily(store, "UTC") == truth
        # The same session without forked_from_id: ccusage counts both calls.
        _fork(home, [json.loads(line) for line in _fork_lines(home)[1:]], with_id=False)
        assert ccusage_daily(ccusage_codex(home, "UTC")) == truth

    def test_ccusage_loses_a_lone_total_right_after_a_counter_reset(self, tmp_path: Path, store: Store) -> None:
        """Not one of the three: the generated trees avoid it."""
        need_ccusage()
        home = tmp_path / "home"
        records = [
            session_meta(DAY1, PARENT, CWD),
            turn_context(DAY1, CWD, MODEL),
            token_count(DAY1 + timedelta(seconds=20), C1, C1),
            token_count(DAY1 + timedelta(seconds=80), _plus(C1, C2), C2),
            turn_context(DAY2, CWD, MODEL),  # resumed, the counter back at 0
            token_count(DAY2 + timedelta(seconds=20), C3, None),
            token_count(DAY2 + timedelta(seconds=80), _plus(C3, C1), None),
        ]
        write_session(home, f"sessions/{DAY1:%Y/%m/%d}/{_name(DAY1, PARENT)}", records)
        theirs = ccusage_daily(ccusage_codex(home, "UTC"))
        assert theirs == {"2025-10-06": {MODEL: _day(C1, C2)}, "2025-10-07": {MODEL: _day(C1)}}
        import_json(store, "codex", home)
        assert laptime_daily(store, "UTC") == {"2025-10-06": {MODEL: _day(C1, C2)}, "2025-10-07": {MODEL: _day(C3, C1)}}

    def test_ccusage_prices_o4_mini_at_half_the_list_price(self, tmp_path: Path, store: Store) -> None:
        need_ccusage()
        genai_prices = pytest.importorskip("genai_prices")
        home = tmp_path / "home"
        for n, model in enumerate(("o4-mini", "gpt-5")):
            usage = [1_200_000 + n, 400_000, 300_000, 100_000]
            at = DAY1 + timedelta(days=n)
            session = f"0199c0de-0000-7000-8000-00000000010{n}"
            records = [
                session_meta(at, session, CWD),
                turn_context(at, CWD, model),
                token_count(at + timedelta(seconds=9), usage, usage),
            ]
            write_session(home, f"sessions/{at:%Y/%m/%d}/{_name(at, session)}", records)
        theirs = {d["date"]: d["costUSD"] for d in ccusage_codex(home, "UTC")["daily"]}
        import_json(store, "codex", home)
        ours = {r["period"]: r["cost_usd"] for r in laptime_usage(store, "UTC", cost=True)["rows"]}
        for n, model in enumerate(("o4-mini", "gpt-5")):
            usage = [1_200_000 + n, 400_000, 300_000, 100_000]
            day = (DAY1 + timedelta(days=n)).date()
            list_price = genai_prices.calc_price(
                genai_prices.Usage(input_tokens=usage[0], cache_read_tokens=usage[1], output_tokens=usage[2]),
                model_ref=model,
                provider_id="openai",
                genai_request_timestamp=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            ).total_price
            assert ours[day.isoformat()] == pytest.approx(float(list_price), rel=1e-9), model
            share = theirs[day.isoformat()] / float(list_price)
            assert share == pytest.approx(0.5 if model == "o4-mini" else 1.0, rel=1e-6), (model, theirs)


def _fork_lines(home: Path) -> list[str]:
    return (home / "sessions" / f"{DAY2:%Y/%m/%d}" / _name(DAY2, FORK)).read_text(encoding="utf-8").splitlines()
