"""What the recorded LLM calls cost, per model, per run and per task, from the index.

Prices come from ``laptime.pricing.PriceBook`` (config overrides, then genai-prices);
a cost the source reported wins. The index's ``run_llm`` table holds the calls grouped
by (run, model, provider, UTC day, tier bucket, reported?), so pricing reads a few
thousand groups instead of every call, and stays exact (see ``laptime.pricing``).

API::

    costs = CostCalculator(index, book)                      # every run
    costs = CostCalculator(index, book, runs_sql="SELECT run_id FROM temp.sel")  # a selection
    costs.by_model() -> list[ModelCost]        # calls, tokens, cost, sources, latency
    costs.total() -> CostTotal                 # cost, reported part, unpriced calls and models
    costs.by_run() -> dict[str, RunCost]       # cost of each selected run that made calls
    costs.by_task(limit) -> list[TaskCost]     # runs grouped by name (the task), costliest first

    run_costs(index, book, run_ids) -> dict[str, RunCost]   # shortcut for a few runs

A cost is ``None`` when nothing in it could be priced; when only part could, the cost
covers the priced part and ``unpriced_calls`` says how many calls are missing from it.

Over every run (no ``runs_sql``), the groups are read from the index's store-wide
``agg_llm`` instead of ``run_llm``, and task costs come from ``task_cost_cache``: task
costs priced under one price fingerprint (``price_fingerprint``: the config's price rules,
the genai-prices version, this module's cache version). A cached task is used only when
the fingerprint matches; the index drops a task's row whenever an ingest touches one of
its runs, and the missing tasks are priced again (and saved) here. ``run_cost_sql`` keeps
per-run costs the same way in ``run_cost_cache``, for SQL over many runs (budget checks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw
import msgspec

from laptime.definitions import cache_write_1h_sql
from laptime.definitions import ts_us_sql as ts_us
from laptime.price_table import library_stamp as _library_stamp  # a module global: tests swap it
from laptime.pricing import SOURCE_REPORTED, SOURCE_UNPRICED, TIER_THRESHOLDS, PriceBook

if TYPE_CHECKING:
    from laptime.index import Index


# Bump when a change here or in laptime.pricing changes what a cached task cost would be.
# 2: one-hour cache writes at their own rate; 3: calls priced one by one (models that are
# not day-exact) at the compiled price table's rates.
COST_CACHE_VERSION = 3

# The cost engine's caches in the index (created with its schema, dropped with it). Not
# derived: costs priced under one price fingerprint (see price_fingerprint). The index's
# ingest drops the rows of the tasks (and models) whose runs it touches, with
# COST_CACHE_INVALIDATION ({touched}: the SQL of the touched run ids).
COST_CACHE_SCHEMA: tuple[str, ...] = (
    # Task costs: one row per task (run name).
    """CREATE TABLE IF NOT EXISTS task_cost_cache (
        named INTEGER NOT NULL, task TEXT NOT NULL, fingerprint TEXT NOT NULL, runs INTEGER NOT NULL,
        cost_usd REAL, unpriced INTEGER NOT NULL, PRIMARY KEY (named, task)) WITHOUT ROWID""",
    # The same for models: a ModelCost (laptime.analysis.cost) as JSON, per (model, provider).
    """CREATE TABLE IF NOT EXISTS model_cost_cache (
        model TEXT NOT NULL, provider TEXT NOT NULL, fingerprint TEXT NOT NULL, payload TEXT NOT NULL,
        PRIMARY KEY (model, provider)) WITHOUT ROWID""",
    # Run costs, one row per run that made calls: by_run's cost_usd, priced under the
    # fingerprint cost_fingerprints.id (100k runs would repeat a few hundred bytes each).
    """CREATE TABLE IF NOT EXISTS run_cost_cache (
        run_id TEXT PRIMARY KEY, fingerprint INTEGER NOT NULL, cost_usd REAL) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS cost_fingerprints (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE)",
)
COST_CACHE_INVALIDATION: tuple[str, ...] = (
    """DELETE FROM task_cost_cache WHERE (named, task) IN (
           SELECT name IS NOT NULL, COALESCE(name, '') FROM runs WHERE run_id IN {touched})""",
    """DELETE FROM model_cost_cache WHERE (model, provider) IN (
           SELECT model, provider FROM run_llm WHERE run_id IN {touched})""",
    "DELETE FROM run_cost_cache WHERE run_id IN {touched}",
)


@dataclass
class ModelCost:
    """One (model, provider)'s calls, tokens and cost. ``input`` excludes cache tokens."""

    model: str
    provider: str
    calls: int = 0
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0  # every cache write
    cache_write_1h: int = 0  # the part of cache_write kept for an hour (priced at its own rate)
    estimated_tokens: int = 0
    cost_usd: float | None = None
    reported_calls: int = 0
    unpriced_calls: int = 0
    sources: list[str] = field(default_factory=list)  # where its prices came from
    latency_sum_ms: float = 0.0
    latency_n: int = 0

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def avg_latency_ms(self) -> float | None:
        return self.latency_sum_ms / self.latency_n if self.latency_n else None

    def _add_cost(self, cost: float, source: str) -> None:
        self.cost_usd = (self.cost_usd or 0.0) + cost
        if source not in self.sources:
            self.sources.append(source)


@dataclass(frozen=True)
class CostTotal:
    cost_usd: float | None  # None: no call could be priced (and some were made)
    reported_usd: float  # the part the sources reported
    calls: int
    unpriced_calls: int
    unpriced_models: list[str]


@dataclass
class RunCost:
    cost_usd: float | None
    calls: int
    unpriced_calls: int
    reported_calls: int = 0

    @property
    def source(self) -> str:
        return cost_source(self.calls, self.reported_calls, self.unpriced_calls)


@dataclass(frozen=True)
class TaskCost:
    task: str | None  # the run's name
    runs: int
    cost_usd: float | None
    unpriced_calls: int


COST_SOURCES: tuple[str, ...] = ("reported", "priced", "unpriced")


def cost_source(calls: int, reported_calls: int, unpriced_calls: int) -> str:
    """Where a cost came from, in the JSON vocabulary: ``reported`` when the source reported
    every call's cost, ``unpriced`` when no call could be priced (the cost is null), else
    ``priced`` (laptime priced some or all of the calls; ``unpriced_calls`` says how many
    are missing from it). A run without calls costs 0, ``priced``."""
    if calls and reported_calls == calls:
        return "reported"
    if calls and unpriced_calls == calls:
        return "unpriced"
    return "priced"


def price_fingerprint(book: PriceBook) -> str:
    """What cached costs are valid for: every input of pricing but the tokens (the config's
    price rules, which genai-prices is installed, and this module's cache version).

    Plain text, kept whole (a few hundred bytes), not hashed: hashlib's import alone costs
    more than a warm ``report summary`` spends reading its caches."""
    parts = [
        f"laptime cost cache {COST_CACHE_VERSION}",
        f"tiers {TIER_THRESHOLDS!r}",
        f"library {_library_stamp() if book.library else 'off'}",
        *(repr(rule) for rule in book.rules),
    ]
    return "\n".join(parts)


class CostCalculator:
    """Costs over all runs, or over the runs ``runs_sql`` selects (a query of run ids)."""

    _instances = 0

    def __init__(
        self, index: Index, book: PriceBook, *, runs_sql: str | None = None, params: Iterable[Any] = ()
    ) -> None:
        self.index = index
        self.book = book
        self.params = list(params)
        self.runs_sql = runs_sql
        self.where = f"WHERE l.run_id IN ({runs_sql})" if runs_sql else ""
        # Every run: the store-wide sums of run_llm (same groups, far fewer rows).
        self._groups = "run_llm" if runs_sql else "agg_llm"
        self._models: dict[tuple[str, str], ModelCost] | None = None
        self._computed = False  # _group_keys and _slow are filled (by _compute_models)
        self._price_fingerprint: str | None = None
        self._slow: set[tuple[str, str]] = set()  # models priced call by call (not day-exact)
        self._rates_ready = False
        self._group_keys: list[tuple[str, str, str, int]] = []
        CostCalculator._instances += 1  # each calculator has its own temp table of rates
        self._rates_table = f"llm_rates_{CostCalculator._instances}"

    # -- per model -----------------------------------------------------------------------

    def by_model(self) -> list[ModelCost]:
        """Every (model, provider) of the selected runs, by cost then calls."""
        models = self._by_model()
        return sorted(models.values(), key=lambda m: (-(m.cost_usd or 0.0), -m.calls, m.model, m.provider))

    def total(self) -> CostTotal:
        models = self._by_model().values()
        priced = [m.cost_usd for m in models if m.cost_usd is not None]
        calls = sum(m.calls for m in models)
        unpriced_calls = sum(m.unpriced_calls for m in models)
        reported = self._reported_usd()
        cost = sum(priced) if priced else (None if calls else 0.0)
        unpriced = sorted({m.model for m in models if m.unpriced_calls})
        return CostTotal(cost, reported, calls, unpriced_calls, unpriced)

    def _reported_usd(self) -> float:
        row = self.index.query(f"SELECT TOTAL(l.cost_usd) FROM {self._groups} l {self.where}", self.params)
        return float(row[0][0])

    def _by_model(self) -> dict[tuple[str, str], ModelCost]:
        if self._models is None:
            self._models = self._cached_models() if not self.where else self._compute_models()
        return self._models

    def _cached_models(self) -> dict[tuple[str, str], ModelCost]:
        """Every model's ModelCost, from model_cost_cache where it holds the model under the
        current price fingerprint; the other models are priced and saved (best effort)."""
        db = self.index
        fingerprint = self._fingerprint()
        result: dict[tuple[str, str], ModelCost] | None = None
        try:
            with db.transaction():  # one snapshot; see _cached_tasks
                cached: dict[tuple[str, str], ModelCost] = {}
                missing = False
                for model, provider, cached_fp, payload in db.execute(
                    """SELECT a.model, a.provider, c.fingerprint, c.payload
                       FROM (SELECT DISTINCT model, provider FROM agg_llm) a
                       LEFT JOIN model_cost_cache c ON c.model = a.model AND c.provider = a.provider
                       ORDER BY a.model, a.provider"""
                ):
                    if cached_fp == fingerprint:
                        cached[(model, provider)] = ModelCost(model, provider, **msgspec.json.decode(payload))
                    else:
                        missing = True
                if not missing:
                    return cached  # in the order _compute_models gives (agg_llm's primary key)
                result = self._compute_models()
                db.executemany(
                    "INSERT OR REPLACE INTO model_cost_cache VALUES (?, ?, ?, ?)",
                    [
                        (model, provider, fingerprint, msgspec.json.encode(_cached_fields(m)).decode())
                        for (model, provider), m in result.items()
                        if (model, provider) not in cached
                    ],
                )
        except (apsw.BusyError, apsw.ReadOnlyError, apsw.LockedError):  # as in _cached_tasks
            if result is None:
                raise
        assert result is not None
        return result

    def _fingerprint(self) -> str:
        if self._price_fingerprint is None:
            self._price_fingerprint = price_fingerprint(self.book)
        return self._price_fingerprint

    def _compute_models(self) -> dict[tuple[str, str], ModelCost]:
        """Price the groups of the selected runs (fills _group_keys and _slow)."""
        self._group_keys = []
        self._slow = set()
        models: dict[tuple[str, str], ModelCost] = {}
        if self.where:
            sql = f"""SELECT l.model, l.provider, l.day, l.bucket, l.reported, SUM(l.calls), SUM(l.input),
                             SUM(l.output), SUM(l.cache_read), SUM(l.cache_write), SUM(l.cache_write_1h),
                             SUM(l.estimated_tokens),
                             TOTAL(l.cost_usd), TOTAL(l.latency_sum), SUM(l.latency_n)
                      FROM run_llm l {self.where}
                      GROUP BY l.model, l.provider, l.day, l.bucket, l.reported"""
        else:  # the same sums, kept by the index (in the same order: its primary key)
            sql = """SELECT model, provider, day, bucket, reported, calls, input, output, cache_read, cache_write,
                            cache_write_1h, estimated_tokens, cost_usd, latency_sum, latency_n
                     FROM agg_llm ORDER BY model, provider, day, bucket, reported"""
        rows = self.index.query(sql, self.params)
        for model, provider, day, bucket, reported, calls, inp, out, cread, cwrite, c1h, est, cost, lat, lat_n in rows:
            if not reported:
                self._group_keys.append((model, provider, day, bucket))
            m = models.get((model, provider))
            if m is None:
                m = models[(model, provider)] = ModelCost(model, provider)
            m.calls += calls
            m.input += inp
            m.output += out
            m.cache_read += cread
            m.cache_write += cwrite
            m.cache_write_1h += c1h
            m.estimated_tokens += est
            m.latency_sum_ms += lat
            m.latency_n += lat_n
            if reported:
                m.reported_calls += calls
                m._add_cost(cost, SOURCE_REPORTED)  # noqa: SLF001 - same module
                continue
            if not self.book.day_exact(model, provider):
                self._slow.add((model, provider))
                continue
            rates = self.book.rates(model, provider, day, bucket)
            if rates is None:
                m.unpriced_calls += calls
                if SOURCE_UNPRICED not in m.sources:
                    m.sources.append(SOURCE_UNPRICED)
                continue
            m._add_cost(rates.cost(calls, inp, out, cread, cwrite, c1h), rates.source)  # noqa: SLF001
        for (model, provider), per_run in self._slow_costs().items():
            m = models[(model, provider)]
            for cost, source in per_run.values():
                if cost is None:
                    m.unpriced_calls += 1
                    if SOURCE_UNPRICED not in m.sources:
                        m.sources.append(SOURCE_UNPRICED)
                else:
                    m._add_cost(cost, source)  # noqa: SLF001
        self._computed = True
        return models

    def _slow_costs(self) -> dict[tuple[str, str], dict[str, tuple[float | None, str]]]:
        """Models priced call by call: (model, provider) -> call id -> (cost, source)."""
        out: dict[tuple[str, str], dict[str, tuple[float | None, str]]] = {}
        for model, provider in sorted(self._slow):
            where = self.where.replace("l.run_id", "c.run")
            joiner = "AND" if where else "WHERE"
            rows = self.index.query(
                f"""SELECT c.id, c.run, {ts_us("c.ts")}, c.input_tokens, c.output_tokens, c.cache_read_tokens,
                           c.cache_write_tokens, c.input_includes_cache, {cache_write_1h_sql("c")}
                    FROM llm_calls c {where} {joiner} c.model = ? AND c.provider = ? AND c.cost_usd IS NULL""",
                [*self.params, model, provider],
            )
            calls = out.setdefault((model, provider), {})
            for call_id, run, at, inp, out_tokens, cread, cwrite, includes, c1h in rows:
                priced = self.book.price(model, provider, at, inp, out_tokens, cread, cwrite, bool(includes), c1h)
                calls[f"{run}\0{call_id}"] = (priced.cost_usd, priced.source)
        return out

    # -- per run and per task -----------------------------------------------------------------

    def _ensure_rates(self) -> None:
        """temp.llm_rates: the per-1M rates of every (model, provider, day, bucket) group."""
        if self._rates_ready:
            return
        if not self._computed:
            self._compute_models()
        db = self.index
        db.execute(
            f"""CREATE TEMP TABLE IF NOT EXISTS {self._rates_table} (model TEXT, provider TEXT, day TEXT,
               bucket INTEGER, r_in REAL, r_out REAL, r_cr REAL, r_cw REAL, r_c1h REAL, r_call REAL,
               PRIMARY KEY (model, provider, day, bucket))"""
        )
        db.execute(f"DELETE FROM temp.{self._rates_table}")
        keys = self._group_keys  # the unreported groups _by_model saw
        rows = []
        for model, provider, day, bucket in keys:
            if (model, provider) in self._slow:
                continue
            rates = self.book.rates(model, provider, day, bucket)
            if rates is not None:
                rows.append(
                    (model, provider, day, bucket, rates.input, rates.output, rates.cache_read, rates.cache_write,
                     rates.cache_write_1h, rates.per_call)
                )  # fmt: skip
        db.executemany(f"INSERT INTO temp.{self._rates_table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._rates_ready = True

    _RUN_COST_SQL = """SELECT l.run_id AS run_id,
           TOTAL(CASE WHEN l.reported THEN l.cost_usd
                 ELSE (l.input * r.r_in + l.output * r.r_out + l.cache_read * r.r_cr
                       + (l.cache_write - l.cache_write_1h) * r.r_cw + l.cache_write_1h * r.r_c1h) / 1000000.0
                       + l.calls * r.r_call END) AS cost,
           SUM(CASE WHEN NOT l.reported AND r.model IS NULL THEN l.calls ELSE 0 END) AS unpriced,
           SUM(l.calls) AS calls,
           SUM(CASE WHEN l.reported THEN l.calls ELSE 0 END) AS reported
        FROM run_llm l LEFT JOIN temp.{rates} r
             ON r.model = l.model AND r.provider = l.provider AND r.day = l.day AND r.bucket = l.bucket"""

    @property
    def _run_cost_sql(self) -> str:
        return self._RUN_COST_SQL.replace("{rates}", self._rates_table)

    def by_run(self) -> dict[str, RunCost]:
        """The cost of each selected run that made LLM calls."""
        self._ensure_rates()
        out: dict[str, RunCost] = {}
        for run_id, cost, unpriced, calls, reported in self.index.query(
            f"{self._run_cost_sql} {self.where} GROUP BY l.run_id", self.params
        ):
            out[run_id] = RunCost(cost if unpriced < calls else None, calls, unpriced, reported)
        self._apply_slow(out)
        return out

    def run_cost_sql(self) -> str:
        """SQL of ``(run_id, cost_usd)`` with ``by_run``'s cost of every selected run that
        made calls (and perhaps of other runs: join it on the run id), for SQL over many runs
        (the budget checks of ``report summary`` and ``report list --over-budget``).

        The costs are kept in the index's ``run_cost_cache`` under the price fingerprint, so a
        warm check reads one row per run instead of pricing again: the selected runs the
        cache lacks are priced here with ``by_run`` (so the figures are by_run's, call-by-call
        priced models included) and kept. Where the index cannot be written (a read-only
        store, a snapshot an ingest made stale) they go to a temp table the SQL reads too."""
        db = self.index
        selected = f"AND f.run_id IN ({self.runs_sql})" if self.runs_sql else ""
        fingerprint = self._fingerprint_id()
        fallback = f"temp.{self._rates_table}_runs"
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {fallback} (run_id TEXT PRIMARY KEY, cost_usd REAL)")
        db.execute(f"DELETE FROM {fallback}")
        priced: dict[str, RunCost] | None = None
        try:
            with db.transaction():  # one snapshot: a stale one fails the insert (see _cached_tasks)
                missing = [
                    str(run_id)
                    for (run_id,) in db.execute(
                        f"""SELECT f.run_id FROM run_facts f LEFT JOIN run_cost_cache c
                            ON c.run_id = f.run_id AND c.fingerprint = ?
                            WHERE f.calls > 0 AND c.run_id IS NULL {selected}""",
                        [fingerprint, *self.params],
                    )
                ]
                if missing:
                    priced = _by_run_of(self.index, self.book, missing)
                if priced and fingerprint is not None:
                    db.executemany(
                        "INSERT OR REPLACE INTO run_cost_cache VALUES (?, ?, ?)",
                        [(run_id, fingerprint, c.cost_usd) for run_id, c in priced.items()],
                    )
                    priced = None  # kept: the cache holds them now
        except (apsw.BusyError, apsw.ReadOnlyError, apsw.LockedError):
            if priced is None:
                raise
        cached = "SELECT run_id, cost_usd FROM main.run_cost_cache WHERE fingerprint = "
        cached += str(-1 if fingerprint is None else fingerprint)
        if not priced:
            return cached
        db.executemany(f"INSERT INTO {fallback} VALUES (?, ?)", [(k, c.cost_usd) for k, c in priced.items()])
        # Another process may have cached some of them meanwhile: each run once.
        return f"{cached} AND run_id NOT IN (SELECT run_id FROM {fallback}) UNION ALL SELECT * FROM {fallback}"

    def _fingerprint_id(self) -> int | None:
        """cost_fingerprints' id of the price fingerprint, added if new; None when the
        index lacks it and cannot be written."""
        fingerprint = self._fingerprint()
        sql = "SELECT id FROM cost_fingerprints WHERE fingerprint = ?"
        rows = self.index.query(sql, (fingerprint,))
        if not rows:
            try:
                self.index.execute("INSERT OR IGNORE INTO cost_fingerprints(fingerprint) VALUES (?)", (fingerprint,))
            except (apsw.BusyError, apsw.ReadOnlyError, apsw.LockedError):
                return None
            rows = self.index.query(sql, (fingerprint,))
        return int(rows[0][0])

    def _apply_slow(self, out: dict[str, RunCost]) -> None:
        """Add the call-by-call priced models to per-run costs (they were unpriced in SQL)."""
        for per_call in self._slow_costs().values():
            for key, (cost, _source) in per_call.items():
                run_cost = out[key.split("\0", 1)[0]]
                if cost is not None:
                    run_cost.unpriced_calls -= 1
                    run_cost.cost_usd = (run_cost.cost_usd or 0.0) + cost

    def by_task(self, limit: int | None = None) -> list[TaskCost]:
        """Runs grouped by their name (the task), costliest first; unpriced tasks last."""
        result = self._cached_tasks(limit) if not self.where else self._tasks()
        result.sort(key=lambda t: (t.cost_usd is None, -(t.cost_usd or 0.0), t.task or ""))
        return result[:limit] if limit is not None else result

    def _cached_tasks(self, limit: int | None) -> list[TaskCost]:
        """Every task's cost (or the ``limit`` costliest ones), from task_cost_cache where it
        holds the task under the current price fingerprint; the other tasks are priced and
        saved (best effort)."""
        db = self.index
        fingerprint = self._fingerprint()
        cached_sql = """FROM agg_tasks a JOIN task_cost_cache c ON c.named = a.named AND c.task = a.task
                        AND c.fingerprint = ?1 AND c.runs = a.llm_runs"""
        result: list[TaskCost] | None = None
        try:
            # One read transaction: if an ingest commits meanwhile, saving fails (the snapshot
            # is stale) and nothing stale is kept; the answer is still that of the snapshot.
            with db.transaction():
                missing = db.execute(
                    f"SELECT (SELECT COUNT(*) FROM agg_tasks) - (SELECT COUNT(*) {cached_sql})", (fingerprint,)
                ).fetchall()[0][0]
                if not missing:  # by_task's order, in SQL: only `limit` rows reach Python
                    return [
                        TaskCost(task if named else None, runs, cost, unpriced)
                        for named, task, runs, cost, unpriced in db.execute(
                            f"""SELECT a.named, a.task, a.llm_runs, c.cost_usd, c.unpriced {cached_sql}
                                ORDER BY c.cost_usd IS NULL, COALESCE(c.cost_usd, 0.0) DESC,
                                         CASE WHEN a.named THEN a.task ELSE '' END, a.named
                                LIMIT ?2""",
                            (fingerprint, -1 if limit is None else limit),
                        )
                    ]
                cached = [
                    TaskCost(task if named else None, runs, cost, unpriced)
                    for named, task, runs, cost, unpriced in db.execute(
                        f"SELECT a.named, a.task, a.llm_runs, c.cost_usd, c.unpriced {cached_sql}", (fingerprint,)
                    )
                ]
                if cached:
                    missing_keys = [
                        (int(named), str(task))
                        for named, task in db.execute(
                            """SELECT a.named, a.task FROM agg_tasks a LEFT JOIN task_cost_cache c
                               ON c.named = a.named AND c.task = a.task AND c.fingerprint = ?1 AND c.runs = a.llm_runs
                           WHERE c.task IS NULL""",
                            (fingerprint,),
                        )
                    ]
                    priced = self._price_tasks(missing_keys)
                else:
                    priced = self._tasks()
                result = cached + priced
                db.executemany(
                    "INSERT OR REPLACE INTO task_cost_cache VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (t.task is not None, t.task or "", fingerprint, t.runs, t.cost_usd, t.unpriced_calls)
                        for t in priced
                    ],
                )
        except (apsw.BusyError, apsw.ReadOnlyError, apsw.LockedError):  # a stale snapshot, a read-only store
            if result is None:
                raise
        assert result is not None  # returned from the cache, or priced
        return result

    def _price_tasks(self, tasks: Sequence[tuple[int, str]]) -> list[TaskCost]:
        """The costs of the tasks given as (named, task) keys (see the index's agg_tasks)."""
        db = self.index
        db.execute("CREATE TEMP TABLE IF NOT EXISTS cost_tasks (named INTEGER, task TEXT, PRIMARY KEY (named, task))")
        db.execute("DELETE FROM temp.cost_tasks")
        db.executemany("INSERT INTO temp.cost_tasks VALUES (?, ?)", tasks)
        runs_sql = """SELECT run_id FROM runs WHERE name IN (SELECT task FROM temp.cost_tasks WHERE named)
                      UNION ALL SELECT run_id FROM runs WHERE name IS NULL
                                AND EXISTS (SELECT 1 FROM temp.cost_tasks WHERE NOT named)"""
        return CostCalculator(self.index, self.book, runs_sql=runs_sql)._tasks()  # noqa: SLF001

    def _tasks(self) -> list[TaskCost]:
        """Every selected task's cost, computed (unsorted)."""
        self._ensure_rates()
        if self._slow:
            per_run = self.by_run()
            names = dict(self.index.query("SELECT run_id, name FROM runs"))
            tasks: dict[str | None, list[Any]] = {}
            for run_id, rc in per_run.items():
                t = tasks.setdefault(names.get(run_id), [set(), None, 0, 0])
                t[0].add(run_id)
                if rc.cost_usd is not None:
                    t[1] = (t[1] or 0.0) + rc.cost_usd
                t[2] += rc.unpriced_calls
                t[3] += rc.calls
            return [TaskCost(name, len(t[0]), t[1], t[2]) for name, t in tasks.items()]
        rows = self.index.query(
            f"""SELECT u.name, COUNT(*), TOTAL(c.cost), SUM(c.unpriced), SUM(c.calls)
                    FROM ({self._run_cost_sql} {self.where} GROUP BY l.run_id) c JOIN runs u ON u.run_id = c.run_id
                    GROUP BY u.name""",
            self.params,
        )
        return [
            TaskCost(name, runs, cost if unpriced < calls else None, unpriced)
            for name, runs, cost, unpriced, calls in rows
        ]


def _cached_fields(m: ModelCost) -> dict[str, Any]:
    """A ModelCost's fields but its key, for model_cost_cache (floats round-trip in msgspec's JSON)."""
    fields = {name: getattr(m, name) for name in m.__dataclass_fields__}
    del fields["model"], fields["provider"]
    return fields


@dataclass(frozen=True)
class RunCostDetail:
    """One run's cost, as the scoreboard, ``report show`` and ``kpi`` give it.

    ``cost_usd`` and ``by_model`` come from the same token groups as every other view;
    ``by_phase`` and ``estimated_usd`` price the run's calls one by one (same prices)."""

    cost_usd: float | None
    cost_source: str
    reported_usd: float
    calls: int
    unpriced_calls: int
    unpriced_models: list[str]
    estimated_usd: float  # the part of cost_usd priced from estimated token counts
    by_model: dict[str, float | None]
    by_phase: dict[str, float | None]


@dataclass(frozen=True)
class PricedCall:
    """One LLM call of a run, priced as the views price it (``PriceBook.call_cost``)."""

    event_id: str
    parent: str | None
    cost_usd: float | None
    cost_source: str  # reported, or where the price came from; unpriced when none
    estimated: bool


def priced_calls(index: Index, book: PriceBook, run_id: str) -> list[PricedCall]:
    """Every LLM call of ``run_id``, in time order, each with its cost: what a cost by
    phase adds up, and what an export puts on each call."""
    calls = []
    for (
        event_id,
        parent,
        model,
        provider,
        at,
        inp,
        out,
        cread,
        cwrite,
        includes,
        c1h,
        reported,
        is_estimated,
    ) in index.query(
        f"""SELECT id, parent, model, provider, {ts_us("ts")}, input_tokens, output_tokens, cache_read_tokens,
                       cache_write_tokens, input_includes_cache, {cache_write_1h_sql()}, cost_usd, estimated
                FROM llm_calls WHERE run = ? ORDER BY ts, id""",
        (run_id,),
    ):
        priced = book.call_cost(
            model, provider or "", at, inp, out, cread, cwrite, bool(includes), c1h, reported_cost_usd=reported
        )
        calls.append(PricedCall(event_id, parent, priced.cost_usd, priced.source, bool(is_estimated)))
    return calls


def run_cost_detail(index: Index, book: PriceBook, run_id: str, phase_of: Callable[[str | None], str]) -> RunCostDetail:
    """``run_id``'s cost in total, by model and by phase (``phase_of`` maps a call's parent
    span to the phase it counts in)."""
    calc = CostCalculator(index, book, runs_sql="SELECT ?", params=[run_id])
    total = calc.total()
    per_run = calc.by_run().get(run_id)
    reported_calls = per_run.reported_calls if per_run else 0
    by_model: dict[str, float | None] = {}
    for m in calc.by_model():
        known = [c for c in (by_model.get(m.model), m.cost_usd) if c is not None]
        by_model[m.model] = sum(known) if known else None
    by_phase: dict[str, float | None] = {}
    estimated = 0.0
    for call in priced_calls(index, book, run_id):
        phase = phase_of(call.parent)
        if call.cost_usd is None:
            by_phase.setdefault(phase, None)
            continue
        by_phase[phase] = (by_phase.get(phase) or 0.0) + call.cost_usd
        if call.estimated:
            estimated += call.cost_usd
    return RunCostDetail(
        cost_usd=total.cost_usd,
        cost_source=cost_source(total.calls, reported_calls, total.unpriced_calls),
        reported_usd=total.reported_usd,
        calls=total.calls,
        unpriced_calls=total.unpriced_calls,
        unpriced_models=total.unpriced_models,
        estimated_usd=estimated,
        by_model=by_model,
        by_phase=by_phase,
    )


def _by_run_of(index: Index, book: PriceBook, run_ids: Sequence[str]) -> dict[str, RunCost]:
    """``by_run`` of the given runs, selected through a temp table of their ids."""
    index.execute("CREATE TEMP TABLE IF NOT EXISTS cost_priced (run_id TEXT PRIMARY KEY)")
    index.execute("DELETE FROM temp.cost_priced")
    index.executemany("INSERT OR IGNORE INTO temp.cost_priced VALUES (?)", [(r,) for r in run_ids])
    return CostCalculator(index, book, runs_sql="SELECT run_id FROM temp.cost_priced").by_run()


def run_costs(index: Index, book: PriceBook, run_ids: Iterable[str]) -> dict[str, RunCost]:
    """The cost of a few runs (compare, status): run id -> RunCost (runs with calls only)."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    index.execute("CREATE TEMP TABLE IF NOT EXISTS cost_sel (run_id TEXT PRIMARY KEY)")
    index.execute("DELETE FROM temp.cost_sel")
    index.executemany("INSERT OR IGNORE INTO temp.cost_sel VALUES (?)", [(r,) for r in ids])
    return CostCalculator(index, book, runs_sql="SELECT run_id FROM temp.cost_sel").by_run()
